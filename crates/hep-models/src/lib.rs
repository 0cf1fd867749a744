//! Generative models for sparse particle-physics data on candle.
//!
//! - [`mpgan`]: the message-passing GAN generator of Kansal et al. (NeurIPS 2021), loading the
//!   published PyTorch weights and reproducing their output, and its discriminator.
//! - [`particlenet`]: jetnet's ParticleNet, whose activations define FPND.
//! - [`optim`]: RMSprop (MPGAN's optimiser) with checkpointable state.
//!
//! Models take a [`candle_nn::VarBuilder`] whose parameter names are the checkpoint keys of the
//! reference implementation, so published state dicts load without renaming. File I/O
//! (checkpoints, PyTorch pickles) is done by the binaries; this crate works on tensors.
#![warn(missing_docs)]

mod error;
pub mod images;
pub mod lagan;
pub mod mpgan;
pub mod optim;
pub mod particlenet;
pub mod sarm;
pub mod sinkhorn;
pub mod zdc;

pub use error::{Error, Result};
