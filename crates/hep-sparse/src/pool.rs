//! Masked pooling (sum, mean, max) and masked softmax over the particle axis, as candle custom
//! ops with a CPU forward and a tensor-op backward.
//!
//! All-masked jets give defined results: sum 0, mean 0, max 0 and a softmax of all zeros, with
//! zero gradients; no NaN is produced.
//!
//! ## References
//! - MPGAN's discriminator pools with a masked **sum** ("dea", `dea_sum=True`), arXiv:2106.11535,
//!   `rkansal47/MPGAN` `mpgan/model.py`.

use candle_core::{CpuStorage, CustomOp2, Layout, Shape, Tensor};

use crate::Result;
use crate::util::{Real, check_points_and_mask, cpu_slice};

/// Which reduction [`MaskedPool`] performs over the particle axis.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PoolKind {
    /// `Σ_i mask_i · x_i`.
    Sum,
    /// `Σ_i mask_i · x_i / max(Σ_i mask_i, 1)`.
    Mean,
    /// `max_{i: mask_i = 1} x_i`, or 0 when the jet has no real particle.
    Max,
}

/// Masked pooling over particles as a candle [`CustomOp2`] on `(x [B, N, F], mask [B, N])`.
///
/// Use the wrappers [`masked_sum`], [`masked_mean`], [`masked_max`]; they validate inputs.
#[derive(Debug, Clone, Copy)]
pub struct MaskedPool {
    /// The reduction.
    pub kind: PoolKind,
}

fn pool_kernel<T: Real>(x: &[T], m: &[T], b: usize, n: usize, f: usize, kind: PoolKind) -> Vec<T> {
    let zero = T::c(0.0);
    let mut out = vec![zero; b * f];
    for jet in 0..b {
        let o = &mut out[jet * f..(jet + 1) * f];
        let mut count = 0usize;
        if kind == PoolKind::Max {
            o.iter_mut().for_each(|v| *v = T::neg_infinity());
        }
        for i in 0..n {
            if m[jet * n + i] == zero {
                continue;
            }
            count += 1;
            let row = &x[(jet * n + i) * f..(jet * n + i + 1) * f];
            match kind {
                PoolKind::Sum | PoolKind::Mean => o.iter_mut().zip(row).for_each(|(a, &v)| *a += v),
                PoolKind::Max => o.iter_mut().zip(row).for_each(|(a, &v)| {
                    // NaN propagates like torch.amax.
                    if v > *a || v.is_nan() {
                        *a = v
                    }
                }),
            }
        }
        match kind {
            PoolKind::Sum => {}
            PoolKind::Mean => {
                if count > 0 {
                    let c = T::c(count as f64);
                    o.iter_mut().for_each(|v| *v /= c);
                }
            }
            PoolKind::Max => {
                if count == 0 {
                    o.iter_mut().for_each(|v| *v = zero);
                }
            }
        }
    }
    out
}

impl CustomOp2 for MaskedPool {
    fn name(&self) -> &'static str {
        match self.kind {
            PoolKind::Sum => "masked_sum",
            PoolKind::Mean => "masked_mean",
            PoolKind::Max => "masked_max",
        }
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let (b, n, f) = l1.shape().dims3()?;
        let shape = Shape::from((b, f));
        let storage = match s1 {
            CpuStorage::F32(_) => CpuStorage::F32(pool_kernel(
                cpu_slice::<f32>(s1, l1, self.name())?,
                cpu_slice::<f32>(s2, l2, self.name())?,
                b,
                n,
                f,
                self.kind,
            )),
            CpuStorage::F64(_) => CpuStorage::F64(pool_kernel(
                cpu_slice::<f64>(s1, l1, self.name())?,
                cpu_slice::<f64>(s2, l2, self.name())?,
                b,
                n,
                f,
                self.kind,
            )),
            _ => candle_core::bail!("{}: only f32/f64 are supported", self.name()),
        };
        Ok((storage, shape))
    }

    #[cfg(feature = "cuda")]
    fn cuda_fwd(
        &self,
        s1: &candle_core::CudaStorage,
        l1: &Layout,
        s2: &candle_core::CudaStorage,
        l2: &Layout,
    ) -> candle_core::Result<(candle_core::CudaStorage, Shape)> {
        crate::cuda::pool_fwd(self.kind, s1, l1, s2, l2)
    }

    fn bwd(
        &self,
        x: &Tensor,
        mask: &Tensor,
        res: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>)> {
        let (b, n, f) = x.dims3()?;
        let m3 = mask.unsqueeze(2)?; // [B, N, 1]
        let g3 = grad.unsqueeze(1)?; // [B, 1, F]
        let gx = match self.kind {
            PoolKind::Sum => g3.broadcast_mul(&m3)?,
            PoolKind::Mean => {
                let count = mask.sum_keepdim(1)?.clamp(1f64, f64::INFINITY)?; // [B, 1]
                g3.broadcast_div(&count.unsqueeze(2)?)?.broadcast_mul(&m3)?
            }
            PoolKind::Max => {
                let hit = x
                    .broadcast_eq(&res.unsqueeze(1)?)?
                    .to_dtype(x.dtype())?
                    .broadcast_mul(&m3)?; // [B, N, F]
                let ties = hit.sum_keepdim(1)?.clamp(1f64, f64::INFINITY)?; // [B, 1, F]
                hit.broadcast_mul(&g3.broadcast_div(&ties)?)?
            }
        };
        debug_assert_eq!(gx.dims(), &[b, n, f]);
        Ok((Some(gx), None))
    }
}

fn pool(x: &Tensor, mask: &Tensor, kind: PoolKind, op: &'static str) -> Result<Tensor> {
    let (x, mask) = check_points_and_mask(x, mask, op)?;
    Ok(x.apply_op2(&mask, MaskedPool { kind })?)
}

/// Masked sum over particles.
///
/// ```text
/// y[b, f] = Σ_i mask[b, i] · x[b, i, f]
/// ```
///
/// # Shapes
/// `x`: `[B, N, F]` (`f32`/`f64`), `mask`: `[B, N]` (`u8` or the dtype of `x`; non-zero = real)
/// → `[B, F]`. All-masked jets give 0.
///
/// # Errors
/// [`crate::Error::ShapeMismatch`] / [`crate::Error::DTypeMismatch`] for bad inputs.
pub fn masked_sum(x: &Tensor, mask: &Tensor) -> Result<Tensor> {
    pool(x, mask, PoolKind::Sum, "masked_sum")
}

/// Masked mean over particles; all-masked jets give 0.
///
/// ```text
/// y[b, f] = Σ_i mask[b, i] · x[b, i, f] / max(Σ_i mask[b, i], 1)
/// ```
///
/// # Shapes
/// `x`: `[B, N, F]`, `mask`: `[B, N]` → `[B, F]`
///
/// # Errors
/// [`crate::Error::ShapeMismatch`] / [`crate::Error::DTypeMismatch`] for bad inputs.
pub fn masked_mean(x: &Tensor, mask: &Tensor) -> Result<Tensor> {
    pool(x, mask, PoolKind::Mean, "masked_mean")
}

/// Masked max over particles; all-masked jets give 0.
///
/// The gradient goes to the real particles that attain the maximum, split evenly among ties
/// (as `torch.amax`). A NaN among the real particles propagates to the output.
///
/// ```text
/// y[b, f] = max_{i : mask[b, i] = 1} x[b, i, f]   (0 if no particle is real)
/// ```
///
/// # Shapes
/// `x`: `[B, N, F]`, `mask`: `[B, N]` → `[B, F]`
///
/// # Errors
/// [`crate::Error::ShapeMismatch`] / [`crate::Error::DTypeMismatch`] for bad inputs.
pub fn masked_max(x: &Tensor, mask: &Tensor) -> Result<Tensor> {
    pool(x, mask, PoolKind::Max, "masked_max")
}

/// Masked softmax over the particle axis as a candle [`CustomOp2`] on
/// `(x [B, N, F], mask [B, N])`; use [`masked_softmax`].
#[derive(Debug, Clone, Copy, Default)]
pub struct MaskedSoftmax;

fn softmax_kernel<T: Real>(x: &[T], m: &[T], b: usize, n: usize, f: usize) -> Vec<T> {
    let zero = T::c(0.0);
    let mut out = vec![zero; b * n * f];
    let mut mx = vec![zero; f];
    let mut den = vec![zero; f];
    for jet in 0..b {
        mx.iter_mut().for_each(|v| *v = T::neg_infinity());
        den.iter_mut().for_each(|v| *v = zero);
        let real = |i: usize| m[jet * n + i] != zero;
        for i in (0..n).filter(|&i| real(i)) {
            let row = &x[(jet * n + i) * f..(jet * n + i + 1) * f];
            mx.iter_mut().zip(row).for_each(|(a, &v)| *a = a.fmax(v));
        }
        for i in (0..n).filter(|&i| real(i)) {
            let base = (jet * n + i) * f;
            for k in 0..f {
                let e = (x[base + k] - mx[k]).exp();
                out[base + k] = e;
                den[k] += e;
            }
        }
        for i in (0..n).filter(|&i| real(i)) {
            let base = (jet * n + i) * f;
            for k in 0..f {
                out[base + k] /= den[k];
            }
        }
    }
    out
}

impl CustomOp2 for MaskedSoftmax {
    fn name(&self) -> &'static str {
        "masked_softmax"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let (b, n, f) = l1.shape().dims3()?;
        let storage = match s1 {
            CpuStorage::F32(_) => CpuStorage::F32(softmax_kernel(
                cpu_slice::<f32>(s1, l1, self.name())?,
                cpu_slice::<f32>(s2, l2, self.name())?,
                b,
                n,
                f,
            )),
            CpuStorage::F64(_) => CpuStorage::F64(softmax_kernel(
                cpu_slice::<f64>(s1, l1, self.name())?,
                cpu_slice::<f64>(s2, l2, self.name())?,
                b,
                n,
                f,
            )),
            _ => candle_core::bail!("masked_softmax: only f32/f64 are supported"),
        };
        Ok((storage, l1.shape().clone()))
    }

    #[cfg(feature = "cuda")]
    fn cuda_fwd(
        &self,
        s1: &candle_core::CudaStorage,
        l1: &Layout,
        s2: &candle_core::CudaStorage,
        l2: &Layout,
    ) -> candle_core::Result<(candle_core::CudaStorage, Shape)> {
        crate::cuda::softmax_fwd(s1, l1, s2, l2)
    }

    fn bwd(
        &self,
        _x: &Tensor,
        _mask: &Tensor,
        y: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>)> {
        // dL/dx = y ⊙ (g − Σ_i g ⊙ y); masked slots have y = 0 and get 0.
        let dot = (grad * y)?.sum_keepdim(1)?;
        let gx = (y * grad.broadcast_sub(&dot)?)?;
        Ok((Some(gx), None))
    }
}

/// Softmax over the particle axis restricted to real particles; padded slots get exactly 0 and
/// all-masked jets give all zeros.
///
/// ```text
/// y[b, i, f] = mask[b, i] · exp(x[b, i, f]) / Σ_j mask[b, j] · exp(x[b, j, f])
/// ```
///
/// # Shapes
/// `x`: `[B, N, F]` (use `F = 1` for per-particle scores), `mask`: `[B, N]` → `[B, N, F]`
///
/// # Errors
/// [`crate::Error::ShapeMismatch`] / [`crate::Error::DTypeMismatch`] for bad inputs.
pub fn masked_softmax(x: &Tensor, mask: &Tensor) -> Result<Tensor> {
    let (x, mask) = check_points_and_mask(x, mask, "masked_softmax")?;
    Ok(x.apply_op2(&mask, MaskedSoftmax)?)
}

#[cfg(test)]
mod tests;
