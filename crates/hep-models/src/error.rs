//! The crate's error type.

/// Errors of `hep-models`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A configuration value is invalid (checked before any work starts).
    #[error("invalid {component} parameter `{field}` = {value}: {reason}")]
    InvalidConfig {
        /// The component whose configuration is wrong.
        component: &'static str,
        /// The field.
        field: &'static str,
        /// The value given.
        value: String,
        /// Why it is invalid.
        reason: &'static str,
    },
    /// An input tensor has the wrong shape.
    #[error("{op}: `{arg}` has shape {found:?}, expected {expected}")]
    Shape {
        /// The operation.
        op: &'static str,
        /// The argument.
        arg: &'static str,
        /// Expected shape, described.
        expected: String,
        /// Shape found.
        found: Vec<usize>,
    },
    /// A sparse op failed.
    #[error(transparent)]
    Sparse(#[from] hep_sparse::Error),
    /// A tensor operation failed (including missing or mis-shaped checkpoint entries).
    #[error(transparent)]
    Candle(#[from] candle_core::Error),
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
