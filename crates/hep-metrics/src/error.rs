//! The crate's error type: one `#[non_exhaustive]` enum with typed fields.

/// Errors returned by the metrics in this crate.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A flat buffer does not hold as many values as its declared shape needs.
    #[error("{argument}: shape {shape:?} needs {expected} values, found {found}")]
    ShapeMismatch {
        /// Which argument was wrong.
        argument: &'static str,
        /// The declared shape.
        shape: Vec<usize>,
        /// The number of values the shape needs.
        expected: usize,
        /// The number of values given.
        found: usize,
    },
    /// Two inputs that must share a dimension (features, particles) do not.
    #[error("{what} differs between the inputs: {lhs} vs {rhs}")]
    DimensionMismatch {
        /// Which dimension differs (e.g. `"num_features"`).
        what: &'static str,
        /// The first input's size.
        lhs: usize,
        /// The second input's size.
        rhs: usize,
    },
    /// An input has no rows (jets or samples) or no columns where some are needed.
    #[error("{argument} is empty")]
    EmptyInput {
        /// Which argument was empty.
        argument: &'static str,
    },
    /// An input holds NaN or an infinity.
    #[error("{argument} holds a non-finite value {value} at flat index {index}")]
    NonFinite {
        /// Which argument.
        argument: &'static str,
        /// Flat (row-major) index of the first offending value.
        index: usize,
        /// The offending value.
        value: f64,
    },
    /// A particle has a negative transverse momentum where weights must be non-negative (EMD).
    #[error("{argument} holds a negative pt {value} at flat index {index}")]
    NegativeWeight {
        /// Which argument.
        argument: &'static str,
        /// Flat (row-major) index of the first offending value.
        index: usize,
        /// The offending value.
        value: f64,
    },
    /// Too few samples for the statistic (e.g. a covariance needs two).
    #[error("{argument}: needs at least {needed} samples, found {found}")]
    TooFewSamples {
        /// Which argument.
        argument: &'static str,
        /// The minimum number of samples.
        needed: usize,
        /// The number given.
        found: usize,
    },
    /// A configuration parameter is out of its valid range; checked before any work starts.
    #[error("invalid parameter {name}: {requirement}")]
    InvalidParameter {
        /// The parameter's name.
        name: &'static str,
        /// What the parameter must satisfy.
        requirement: &'static str,
    },
    /// The FPND network or its resources failed.
    #[error("fpnd network: {reason}")]
    Model {
        /// What failed.
        reason: String,
    },
    /// A jet type has no reference resources (FPND exists only for g, q and t).
    #[error("unsupported jet type {jet_type:?} (supported: {supported:?})")]
    UnsupportedJetType {
        /// The requested jet type.
        jet_type: String,
        /// The supported jet types.
        supported: &'static [&'static str],
    },
    /// The EMD network simplex did not reach optimality within its iteration budget.
    #[error("emd solver did not converge within {iterations} pivots")]
    EmdNotConverged {
        /// The iteration budget that was exhausted.
        iterations: usize,
    },
}

/// `Result` with this crate's [`Error`] as the default error type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
