//! The crate's error type: typed input-validation failures plus wrapped candle errors.

use candle_core::{DType, Shape};

/// Everything that can go wrong in `hep-sparse`.
///
/// Validation variants carry the operation name and the offending shape, dtype, value or
/// flat element index, so callers can report them without parsing strings.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A tensor has the wrong rank or dimensions for the operation.
    #[error("{op}: {arg} has shape {found:?}, expected {expected}")]
    ShapeMismatch {
        /// Operation that rejected the input.
        op: &'static str,
        /// Name of the offending argument.
        arg: &'static str,
        /// Human-readable description of the expected shape, e.g. `[B, N] = [4, 30]`.
        expected: String,
        /// The shape that was passed.
        found: Shape,
    },
    /// A tensor has a dtype the operation does not support.
    #[error("{op}: {arg} has dtype {found:?}, expected {expected}")]
    DTypeMismatch {
        /// Operation that rejected the input.
        op: &'static str,
        /// Name of the offending argument.
        arg: &'static str,
        /// Description of the accepted dtypes.
        expected: &'static str,
        /// The dtype that was passed.
        found: DType,
    },
    /// A probability lies outside `[0, 1]`.
    #[error("{op}: probability {value} at flat index {index} lies outside [0, 1]")]
    ProbabilityOutOfRange {
        /// Operation that rejected the input.
        op: &'static str,
        /// Flat (row-major) index of the first bad element.
        index: usize,
        /// The bad value.
        value: f64,
    },
    /// A NaN was found in an input.
    #[error("{op}: {arg} holds NaN at flat index {index}")]
    NotANumber {
        /// Operation that rejected the input.
        op: &'static str,
        /// Name of the offending argument.
        arg: &'static str,
        /// Flat (row-major) index of the first NaN.
        index: usize,
    },
    /// A per-jet multiplicity is negative, non-finite or larger than the number of slots.
    #[error("{op}: multiplicity {value} of jet {jet} is outside [0, {max}]")]
    InvalidMultiplicity {
        /// Operation that rejected the input.
        op: &'static str,
        /// Jet (batch row) index.
        jet: usize,
        /// The bad value.
        value: f64,
        /// Number of particle slots `N`.
        max: usize,
    },
    /// A value lies outside the support of the chosen density (e.g. `x < 0` for an exponential).
    #[error(
        "{op}: non-zero value {value} at flat index {index} lies outside the support {support}"
    )]
    OutOfSupport {
        /// Operation that rejected the input.
        op: &'static str,
        /// Flat (row-major) index of the first bad element.
        index: usize,
        /// The bad value.
        value: f64,
        /// Description of the support.
        support: &'static str,
    },
    /// An invalid configuration (checked before any work starts).
    #[error("invalid {component} configuration: {field} = {value}: {reason}")]
    InvalidConfig {
        /// Configured component, e.g. `MessagePassingConfig`.
        component: &'static str,
        /// Offending field.
        field: &'static str,
        /// The offending value, rendered.
        value: String,
        /// Why it is rejected.
        reason: &'static str,
    },
    /// An error raised by candle.
    #[error(transparent)]
    Candle(#[from] candle_core::Error),
}

/// `Result` with this crate's [`Error`] as the default error type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// Converts into a `candle_core::Error`, for code that implements candle traits.
    pub fn into_candle(self) -> candle_core::Error {
        match self {
            Error::Candle(e) => e,
            other => candle_core::Error::wrap(other),
        }
    }
}

#[cfg(test)]
mod tests;
