//! Particle-physics datasets as typed, validated, contiguous arrays.
//!
//! The central type is [`JetDataset`]: `N` jets of up to `P` particles in JetNet's
//! layout — particle features `[N, P, 3]` (η_rel, φ_rel, pT_rel), a mask `[N, P]` and
//! per-jet features (type, pT, η, mass, number of particles). It is read and written as
//! Parquet through arrow record batches ([`parquet`]), and as the field's `.npy`
//! interchange arrays ([`npy`]). Every reader validates what it reads and reports bad
//! input as an [`Error`] naming the file, column, row and the expected/found value.
//!
//! Alongside: JetNet's train/valid/test split ([`split`]) reproducing numpy's
//! `default_rng` bit for bit ([`rng`]), the JetNet normalisations ([`normalise`]) and jet
//! kinematics from particle features ([`kinematics`]).
//!
//! The on-disk formats are specified in `docs/data-formats.md`.
#![warn(missing_docs)]

mod error;
pub mod images;
mod jets;
pub mod kinematics;
pub mod normalise;
pub mod npy;
pub mod parquet;
pub mod rng;
mod sparse_pixels;
pub mod split;
pub mod summary;
pub mod zdc;

pub use error::{Error, Result, Source};
pub use jets::{JetBatch, JetDataset, JetFeatures, JetType, PARTICLE_FEATURES};
