//! ZDC evaluation: the five channel sums of a response, their W1 between real and generated
//! responses (averaged over channels), and the MAE of channel sums against the original
//! response of the same particle.
//!
//! ```text
//! quadrant q(r, c) = 2·[r ≥ H/2] + [c ≥ W/2]            (0 = top-left … 3 = bottom-right)
//! channel_q        = Σ_{(r + c) even, quadrant q} x[r, c]     q = 0…3   (tower PMTs)
//! channel_4        = Σ_{(r + c) odd} x[r, c]                           (common PMT)
//! W1_ZDC           = (1/5) Σ_k W1(channel_k(real), channel_k(generated))
//! MAE              = (1/5N) Σ_i Σ_k |channel_k(gen_i) − channel_k(orig_i)|
//! ```
//!
//! `x` are photon counts (the un-transformed responses). The fibres alternate between the
//! tower PMTs and the common PMT in a checkerboard, which is why the parities split this way.
//!
//! ## References
//! K. Deja, J. Dubiński, P. Nowak, S. Wenzel, T. Trzciński, *End-to-end Sinkhorn Autoencoder
//! with Noise Generator*, arXiv:2006.06704 (channel-sum evaluation, the "MAE (distance from
//! original)" column); the channel masks follow the ALICE groups' public evaluation code.

use crate::wasserstein::w1_distance;
use crate::{Error, Result};

/// Number of channels.
pub const NUM_CHANNELS: usize = 5;

/// The channel of pixel `(r, c)` in an `h × w` grid.
pub fn channel_of(r: usize, c: usize, h: usize, w: usize) -> usize {
    if (r + c) % 2 == 1 {
        4
    } else {
        2 * usize::from(r >= h / 2) + usize::from(c >= w / 2)
    }
}

/// Channel sums `[N, 5]` of responses `[N, H, W]`.
///
/// # Errors
/// [`Error::ShapeMismatch`], [`Error::EmptyInput`], [`Error::NonFinite`].
pub fn channel_sums(x: &[f32], shape: [usize; 3]) -> Result<Vec<[f64; NUM_CHANNELS]>> {
    crate::view::check_images(x, shape, "responses")?;
    let [_, h, w] = shape;
    let map: Vec<usize> = (0..h * w).map(|i| channel_of(i / w, i % w, h, w)).collect();
    Ok(x.chunks_exact(h * w)
        .map(|r| {
            let mut s = [0f64; NUM_CHANNELS];
            for (&v, &k) in r.iter().zip(&map) {
                s[k] += f64::from(v);
            }
            s
        })
        .collect())
}

/// Channel-sum W1 per channel and its mean over channels.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ChannelW1 {
    /// W1 of each channel.
    pub per_channel: [f64; NUM_CHANNELS],
    /// The mean over the channels (the reported number).
    pub mean: f64,
}

/// W1 of the channel sums between real `[N, H, W]` and generated `[M, H, W]` responses.
///
/// # Errors
/// As [`channel_sums`]; [`Error::DimensionMismatch`] when the grids differ.
pub fn channel_w1(
    real: &[f32],
    real_shape: [usize; 3],
    generated: &[f32],
    gen_shape: [usize; 3],
) -> Result<ChannelW1> {
    if real_shape[1..] != gen_shape[1..] {
        return Err(Error::DimensionMismatch {
            what: "grid size (H·W)",
            lhs: real_shape[1] * real_shape[2],
            rhs: gen_shape[1] * gen_shape[2],
        });
    }
    let a = channel_sums(real, real_shape)?;
    let b = channel_sums(generated, gen_shape)?;
    let mut per_channel = [0.0; NUM_CHANNELS];
    for (k, pc) in per_channel.iter_mut().enumerate() {
        let u: Vec<f64> = a.iter().map(|s| s[k]).collect();
        let v: Vec<f64> = b.iter().map(|s| s[k]).collect();
        *pc = w1_distance(&u, &v)?;
    }
    Ok(ChannelW1 {
        per_channel,
        mean: per_channel.iter().sum::<f64>() / NUM_CHANNELS as f64,
    })
}

/// Mean absolute error of the channel sums of generated responses against the original
/// response of the same particle (both `[N, H, W]`, same order).
///
/// # Errors
/// As [`channel_sums`]; [`Error::DimensionMismatch`] when the shapes differ.
pub fn channel_mae(original: &[f32], generated: &[f32], shape: [usize; 3]) -> Result<f64> {
    if original.len() != generated.len() {
        return Err(Error::DimensionMismatch {
            what: "number of values",
            lhs: original.len(),
            rhs: generated.len(),
        });
    }
    let a = channel_sums(original, shape)?;
    let b = channel_sums(generated, shape)?;
    let total: f64 = a
        .iter()
        .zip(&b)
        .map(|(x, y)| x.iter().zip(y).map(|(p, q)| (p - q).abs()).sum::<f64>())
        .sum();
    Ok(total / (a.len() * NUM_CHANNELS) as f64)
}

#[cfg(test)]
mod tests;
