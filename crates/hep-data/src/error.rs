//! The crate's error type: every variant names where the bad input is.

use std::fmt;
use std::path::PathBuf;

/// Where data came from: a file, or an in-memory array (e.g. built by a program).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A file on disk.
    File(PathBuf),
    /// Data built in memory.
    Memory,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::File(p) => write!(f, "{}", p.display()),
            Source::Memory => f.write_str("<memory>"),
        }
    }
}

impl From<&std::path::Path> for Source {
    fn from(p: &std::path::Path) -> Self {
        Source::File(p.to_path_buf())
    }
}

/// Errors of `hep-data`. Row and particle indices are 0-based; rows count jets from the
/// start of the file (not of the current batch).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The operating system refused an I/O operation.
    #[error("{file}: {op}: {err}")]
    Io {
        /// The file.
        file: Source,
        /// What was being done (e.g. "open", "rename").
        op: &'static str,
        /// The underlying error.
        #[source]
        err: std::io::Error,
    },
    /// The file has zero bytes.
    #[error("{file}: empty file (0 bytes)")]
    EmptyFile {
        /// The file.
        file: Source,
    },
    /// The file holds no jets.
    #[error("{file}: no jets in the file")]
    NoJets {
        /// The file.
        file: Source,
    },
    /// The file is not valid Parquet (wrong magic, truncated, corrupt footer or pages).
    #[error("{file}: not a readable Parquet file: {reason}")]
    NotParquet {
        /// The file.
        file: Source,
        /// What the Parquet decoder reported.
        reason: String,
    },
    /// Writing Parquet failed inside the encoder.
    #[error("{file}: Parquet write failed: {reason}")]
    ParquetWrite {
        /// The file.
        file: Source,
        /// What the encoder reported.
        reason: String,
    },
    /// A required column is absent.
    #[error("{file}: missing column `{column}`")]
    MissingColumn {
        /// The file.
        file: Source,
        /// The column name.
        column: String,
    },
    /// A column that the format does not define is present.
    #[error("{file}: unexpected column `{column}` (known columns: {known})")]
    UnexpectedColumn {
        /// The file.
        file: Source,
        /// The column name.
        column: String,
        /// The columns the format defines, comma-separated.
        known: String,
    },
    /// A column has the wrong Arrow data type.
    #[error("{file}: column `{column}` has type {found}, expected {expected}")]
    ColumnType {
        /// The file.
        file: Source,
        /// The column name.
        column: String,
        /// The expected type.
        expected: String,
        /// The type found.
        found: String,
    },
    /// A list column has the wrong number of entries in a row.
    #[error("{file}: column `{column}` row {row}: list length {found}, expected {expected}")]
    ListLength {
        /// The file.
        file: Source,
        /// The column name.
        column: String,
        /// The jet.
        row: usize,
        /// The expected length (the number of particle slots P).
        expected: usize,
        /// The length found.
        found: usize,
    },
    /// A null where a value is required.
    #[error("{file}: column `{column}` row {row}: null value")]
    Null {
        /// The file.
        file: Source,
        /// The column name.
        column: String,
        /// The jet.
        row: usize,
    },
    /// NaN or ±Inf.
    #[error("{file}: column `{column}` row {row}{}: non-finite value {value}", particle_suffix(*.particle))]
    NonFinite {
        /// The file.
        file: Source,
        /// The column name.
        column: String,
        /// The jet.
        row: usize,
        /// The particle slot, for particle columns.
        particle: Option<usize>,
        /// The value found.
        value: f64,
    },
    /// A mask entry other than 0 or 1.
    #[error("{file}: column `mask` row {row} particle {particle}: value {value}, expected 0 or 1")]
    MaskValue {
        /// The file.
        file: Source,
        /// The jet.
        row: usize,
        /// The particle slot.
        particle: usize,
        /// The value found.
        value: f64,
    },
    /// A masked (padding) particle carries a non-zero feature.
    #[error(
        "{file}: column `{column}` row {row} particle {particle}: masked particle has non-zero value {value}"
    )]
    MaskedNonZero {
        /// The file.
        file: Source,
        /// The feature column.
        column: String,
        /// The jet.
        row: usize,
        /// The particle slot.
        particle: usize,
        /// The value found.
        value: f64,
    },
    /// A real particle follows a padding slot: padding must be trailing.
    #[error(
        "{file}: column `mask` row {row}: real particle at slot {particle} after padding at slot {first_padding}"
    )]
    PaddingNotTrailing {
        /// The file.
        file: Source,
        /// The jet.
        row: usize,
        /// The first padding slot.
        first_padding: usize,
        /// The real particle found after it.
        particle: usize,
    },
    /// A particle with negative relative transverse momentum.
    #[error("{file}: column `ptrel` row {row} particle {particle}: negative value {value}")]
    NegativePt {
        /// The file.
        file: Source,
        /// The jet.
        row: usize,
        /// The particle slot.
        particle: usize,
        /// The value found.
        value: f64,
    },
    /// `num_particles` disagrees with the number of unmasked particles.
    #[error(
        "{file}: column `num_particles` row {row}: {found}, but the mask has {expected} real particles"
    )]
    NumParticlesMismatch {
        /// The file.
        file: Source,
        /// The jet.
        row: usize,
        /// Σ mask.
        expected: usize,
        /// The stored value.
        found: i64,
    },
    /// A jet-type label outside g, q, t, w, z.
    #[error(
        "{file}: column `jet_type` row {row}: unknown jet type {found:?}, expected one of g, q, t, w, z"
    )]
    JetTypeValue {
        /// The file.
        file: Source,
        /// The jet.
        row: usize,
        /// The label found.
        found: String,
    },
    /// An array has the wrong shape.
    #[error("{file}: {what}: shape {found:?}, expected {expected}")]
    Shape {
        /// The file.
        file: Source,
        /// Which array.
        what: String,
        /// The expected shape, described.
        expected: String,
        /// The shape found.
        found: Vec<usize>,
    },
    /// A malformed `.npy` file (bad magic, header or dtype).
    #[error("{file}: invalid .npy file: {reason}")]
    Npy {
        /// The file.
        file: Source,
        /// What is wrong.
        reason: String,
    },
    /// The schema metadata is not what the format defines.
    #[error("{file}: metadata key `{key}`: {reason}")]
    Metadata {
        /// The file.
        file: Source,
        /// The metadata key.
        key: String,
        /// What is wrong.
        reason: String,
    },
    /// Invalid parameters given by the caller (split fractions, normalisation sizes, ...).
    #[error("invalid parameter `{name}`: {reason}")]
    Param {
        /// The parameter.
        name: &'static str,
        /// What is wrong.
        reason: String,
    },
}

fn particle_suffix(p: Option<usize>) -> String {
    p.map(|p| format!(" particle {p}")).unwrap_or_default()
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
