//! Particle masks for padded clouds: MPGAN's rank-of-noise rule, thresholds and masked fill.
//!
//! ## References
//! - R. Kansal et al., "Particle Cloud Generation with Message Passing Generative Adversarial
//!   Networks", NeurIPS 2021, arXiv:2106.11535; reference code `rkansal47/MPGAN` (branch
//!   `neurips21`, `mpgan/model.py`, `mask_c=True`).

use candle_core::{DType, Tensor};

use crate::util::{check_float, check_mask};
use crate::{Error, Result};

const OP_RANK: &str = "mask_from_multiplicity";

/// The MPGAN masking rule: in each jet the `n` particles with the lowest first noise feature
/// are real.
///
/// ```text
/// rank[b, i] = position of noise[b, i, 0] in ascending order (ties: lower index first)
/// mask[b, i] = 1 if rank[b, i] < round(n[b]) else 0
/// ```
///
/// The reference computes `argsort(argsort(noise[..., 0]))` and keeps `rank <= int(n) - 1`
/// (float truncation); here `n` is rounded to the nearest integer, which is what the
/// truncation was meant to do for `n = label · N`.
///
/// # Shapes
/// - `noise`: `[B, N, F]` (feature 0 is used) or `[B, N]`, `f32`/`f64`
/// - `n`: `[B]`, any float or integer dtype (real multiplicities, rounded)
/// - returns `[B, N]` in the dtype of `noise`, values 0 or 1, exactly `round(n[b])` ones per jet
///
/// # Errors
/// [`Error::ShapeMismatch`] for bad ranks/dims, [`Error::DTypeMismatch`] for a non-float
/// `noise`, [`Error::NotANumber`] for NaN noise, [`Error::InvalidMultiplicity`] when a rounded
/// `n[b]` is not in `[0, N]` or is not finite.
pub fn mask_from_multiplicity(noise: &Tensor, n: &Tensor) -> Result<Tensor> {
    let dtype = check_float(noise, OP_RANK, "noise")?;
    let key = match *noise.dims() {
        [_, _, f] if f > 0 => noise.narrow(2, 0, 1)?.squeeze(2)?,
        [_, _] => noise.clone(),
        _ => {
            return Err(Error::ShapeMismatch {
                op: OP_RANK,
                arg: "noise",
                expected: "[B, N, F] with F >= 1, or [B, N]".to_string(),
                found: noise.shape().clone(),
            });
        }
    };
    let (b, n_slots) = key.dims2()?;
    if n.dims() != [b] {
        return Err(Error::ShapeMismatch {
            op: OP_RANK,
            arg: "n",
            expected: format!("[B] = [{b}]"),
            found: n.shape().clone(),
        });
    }
    let key = key.to_dtype(DType::F64)?.to_vec2::<f64>()?;
    let counts = n.to_dtype(DType::F64)?.to_vec1::<f64>()?;
    let mut out = vec![0f64; b * n_slots];
    let mut order: Vec<usize> = Vec::with_capacity(n_slots);
    for (jet, (row, &count)) in key.iter().zip(&counts).enumerate() {
        let k = count.round();
        if !k.is_finite() || k < 0.0 || k > n_slots as f64 {
            return Err(Error::InvalidMultiplicity {
                op: OP_RANK,
                jet,
                value: count,
                max: n_slots,
            });
        }
        if let Some(i) = row.iter().position(|v| v.is_nan()) {
            return Err(Error::NotANumber {
                op: OP_RANK,
                arg: "noise",
                index: jet * n_slots + i,
            });
        }
        order.clear();
        order.extend(0..n_slots);
        // Stable sort: equal keys keep index order, so ties go to the lower index.
        order.sort_by(|&i, &j| row[i].total_cmp(&row[j]));
        for &i in order.iter().take(k as usize) {
            out[jet * n_slots + i] = 1.0;
        }
    }
    Ok(Tensor::from_vec(out, (b, n_slots), noise.device())?.to_dtype(dtype)?)
}

/// Mask from a threshold on one feature: a particle is real when `x[b, i, feature] > threshold`
/// (MPGAN's `mask_manual` option uses a pT cut-off).
///
/// # Shapes
/// - `x`: `[B, N, F]`, `f32`/`f64`; returns `[B, N]` in the dtype of `x`, values 0 or 1
///
/// # Errors
/// [`Error::ShapeMismatch`] when `x` is not rank 3 or `feature >= F`,
/// [`Error::DTypeMismatch`] for a non-float `x`.
pub fn mask_from_threshold(x: &Tensor, feature: usize, threshold: f64) -> Result<Tensor> {
    const OP: &str = "mask_from_threshold";
    let dtype = check_float(x, OP, "x")?;
    match *x.dims() {
        [_, _, f] if feature < f => {}
        _ => {
            return Err(Error::ShapeMismatch {
                op: OP,
                arg: "x",
                expected: format!("[B, N, F] with F > {feature}"),
                found: x.shape().clone(),
            });
        }
    }
    let col = x.narrow(2, feature, 1)?.squeeze(2)?;
    Ok(col.gt(threshold)?.to_dtype(dtype)?)
}

/// Replaces the features of masked (padding) particles by `value`; real particles pass
/// through, and so do their gradients.
///
/// ```text
/// y[b, i, f] = x[b, i, f] if mask[b, i] != 0 else value
/// ```
///
/// # Shapes
/// - `x`: `[B, N, F]`, `mask`: `[B, N]` (`u8` or the dtype of `x`) → `[B, N, F]`
///
/// # Errors
/// [`Error::ShapeMismatch`] / [`Error::DTypeMismatch`] for bad inputs.
pub fn masked_fill(x: &Tensor, mask: &Tensor, value: f64) -> Result<Tensor> {
    const OP: &str = "masked_fill";
    let dtype = check_float(x, OP, "x")?;
    let (b, n, f) = match *x.dims() {
        [b, n, f] => (b, n, f),
        _ => {
            return Err(Error::ShapeMismatch {
                op: OP,
                arg: "x",
                expected: "[B, N, F]".to_string(),
                found: x.shape().clone(),
            });
        }
    };
    let m = check_mask(mask, b, n, dtype, OP)?;
    let cond = m
        .ne(0f64)?
        .unsqueeze(2)?
        .broadcast_as((b, n, f))?
        .contiguous()?;
    let fill = Tensor::full(value, (b, n, f), x.device())?.to_dtype(dtype)?;
    Ok(cond.where_cond(x, &fill)?)
}

#[cfg(test)]
mod tests;
