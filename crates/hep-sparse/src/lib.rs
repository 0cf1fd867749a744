//! Sparse particle-physics ops for candle: particle masks, masked pooling and softmax, fused
//! masked all-pairs message passing (MPGAN), and Dirac-delta mixtures for sparse images.
//!
//! Every op has a CPU implementation, which is also the test oracle; under the `cuda` feature
//! some ops gain CUDA forwards compiled at run time with NVRTC (see `kernels/`).
//!
//! # Modules
//! - [`mask`]: masks from per-jet multiplicities (MPGAN's rank-of-noise rule) and thresholds,
//!   masked fill.
//! - [`pool`]: masked sum / mean / max pooling and masked softmax over particles.
//! - [`message`]: [`MaskedMessagePassing`], the fused edge network with a recomputing backward.
//! - [`dirac`]: [`DiracMixture`], the per-element Dirac-delta-at-zero mixture: sparse
//!   cross-entropy, its gradients, and sampling.
//! - [`device`]: [`select_device`], CUDA when usable, else the CPU with the reason.
#![warn(missing_docs)]

pub mod activation;
pub mod device;
pub mod dirac;
mod error;
pub mod mask;
pub mod message;
pub mod pool;
mod util;

#[cfg(test)]
mod test_util;

#[cfg(feature = "cuda")]
mod cuda;

pub use activation::leaky_relu;
pub use device::{DeviceChoice, select_device};
pub use dirac::{Density, DiracMixture, logits_from_probs, nearest_level};
pub use error::{Error, Result};
pub use mask::{mask_from_multiplicity, mask_from_threshold, masked_fill};
pub use message::{EdgeDropout, MaskedMessagePassing, MessagePassingConfig};
pub use pool::{masked_max, masked_mean, masked_softmax, masked_sum};
