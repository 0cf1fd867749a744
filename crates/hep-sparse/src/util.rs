//! Internal helpers: the float trait used by the CPU kernels, storage access and input checks.

use candle_core::{CpuStorage, DType, Layout, Tensor, WithDType};

use crate::{Error, Result};

/// Float element types the CPU kernels are written for (`f32`, `f64`).
pub(crate) trait Real: WithDType + std::fmt::Debug + std::ops::Neg<Output = Self> {
    fn exp(self) -> Self;
    fn ln(self) -> Self;
    fn ln_1p(self) -> Self;
    fn abs(self) -> Self;
    fn tanh(self) -> Self;
    fn erfc(self) -> Self;
    fn fmax(self, o: Self) -> Self;
    fn is_nan(self) -> bool;
    fn neg_infinity() -> Self;
    /// `1` if `cond` else `0`, as a float, computed without a branch: multiplying by it is how
    /// the hot loops apply data-dependent choices (dropout coin flips, LeakyReLU sides) that a
    /// branch predictor cannot learn. `x · one_if(c) + y · one_if(!c)` is exact.
    fn one_if(cond: bool) -> Self;

    #[inline]
    fn c(v: f64) -> Self {
        Self::from_f64(v)
    }

    /// `log(1 + exp(x))`, stable for all `x`.
    #[inline]
    fn softplus(self) -> Self {
        let zero = Self::c(0.0);
        self.fmax(zero) + (-(self.abs())).exp().ln_1p()
    }

    /// The logistic function `1 / (1 + exp(-x))`, stable for all `x`.
    #[inline]
    fn sigmoid(self) -> Self {
        let one = Self::c(1.0);
        if self >= Self::c(0.0) {
            one / (one + (-self).exp())
        } else {
            let e = self.exp();
            e / (one + e)
        }
    }

    /// LeakyReLU with the given negative slope.
    #[inline]
    fn leaky(self, slope: Self) -> Self {
        if self > Self::c(0.0) {
            self
        } else {
            self * slope
        }
    }
}

macro_rules! impl_real {
    ($t:ty, $bits:ty, $erfc:path) => {
        impl Real for $t {
            #[inline]
            fn exp(self) -> Self {
                <$t>::exp(self)
            }
            #[inline]
            fn ln(self) -> Self {
                <$t>::ln(self)
            }
            #[inline]
            fn ln_1p(self) -> Self {
                <$t>::ln_1p(self)
            }
            #[inline]
            fn abs(self) -> Self {
                <$t>::abs(self)
            }
            #[inline]
            fn tanh(self) -> Self {
                <$t>::tanh(self)
            }
            #[inline]
            fn erfc(self) -> Self {
                $erfc(self)
            }
            #[inline]
            fn fmax(self, o: Self) -> Self {
                <$t>::max(self, o)
            }
            #[inline]
            fn is_nan(self) -> bool {
                <$t>::is_nan(self)
            }
            #[inline]
            fn neg_infinity() -> Self {
                <$t>::NEG_INFINITY
            }
            #[inline]
            fn one_if(cond: bool) -> Self {
                <$bits>::from(cond) as $t
            }
        }
    };
}
impl_real!(f32, u32, candle_core::cpu::erf::erfc_f32);
impl_real!(f64, u64, candle_core::cpu::erf::erfc_f64);

/// The contiguous data of a CPU storage as a slice of `T`.
///
/// Every public op makes its inputs contiguous before applying a custom op, so a
/// non-contiguous layout here is a programmer error that is reported, not a panic.
pub(crate) fn cpu_slice<'a, T: WithDType>(
    s: &'a CpuStorage,
    l: &Layout,
    op: &'static str,
) -> candle_core::Result<&'a [T]> {
    let data = s.as_slice::<T>()?;
    match l.contiguous_offsets() {
        Some((start, end)) => Ok(&data[start..end]),
        None => Err(candle_core::Error::Msg(format!(
            "{op}: internal error, non-contiguous input layout"
        ))),
    }
}

/// Checks that `t` is `f32` or `f64`.
pub(crate) fn check_float(t: &Tensor, op: &'static str, arg: &'static str) -> Result<DType> {
    match t.dtype() {
        DType::F32 | DType::F64 => Ok(t.dtype()),
        found => Err(Error::DTypeMismatch {
            op,
            arg,
            expected: "f32 or f64",
            found,
        }),
    }
}

/// Checks `x` is `[B, N, F]` float and `mask` is `[B, N]` (same float dtype or `u8`, any
/// non-zero value meaning "real"); returns `(x, mask)` contiguous with the mask as 0/1 in
/// the dtype of `x`.
pub(crate) fn check_points_and_mask(
    x: &Tensor,
    mask: &Tensor,
    op: &'static str,
) -> Result<(Tensor, Tensor)> {
    let dtype = check_float(x, op, "x")?;
    let (b, n, _f) = match *x.dims() {
        [b, n, f] => (b, n, f),
        _ => {
            return Err(Error::ShapeMismatch {
                op,
                arg: "x",
                expected: "[B, N, F]".to_string(),
                found: x.shape().clone(),
            });
        }
    };
    let mask = check_mask(mask, b, n, dtype, op)?;
    Ok((x.contiguous()?, mask))
}

/// Checks a `[B, N]` mask and returns it contiguous, as 0/1 in `dtype`.
pub(crate) fn check_mask(
    mask: &Tensor,
    b: usize,
    n: usize,
    dtype: DType,
    op: &'static str,
) -> Result<Tensor> {
    if mask.dims() != [b, n] {
        return Err(Error::ShapeMismatch {
            op,
            arg: "mask",
            expected: format!("[B, N] = [{b}, {n}]"),
            found: mask.shape().clone(),
        });
    }
    if mask.dtype() != DType::U8 && mask.dtype() != dtype {
        return Err(Error::DTypeMismatch {
            op,
            arg: "mask",
            expected: "u8 or the dtype of x",
            found: mask.dtype(),
        });
    }
    Ok(mask.ne(0u8)?.to_dtype(dtype)?.contiguous()?.detach())
}

/// Returns the flat index of the first NaN in `t`, if any (`t` must be float).
pub(crate) fn first_nan(t: &Tensor) -> Result<Option<usize>> {
    let v = t.flatten_all()?.to_dtype(DType::F64)?.to_vec1::<f64>()?;
    Ok(v.iter().position(|x| x.is_nan()))
}

/// Fails with [`Error::NotANumber`] when `t` holds a NaN.
pub(crate) fn check_no_nan(t: &Tensor, op: &'static str, arg: &'static str) -> Result<()> {
    match first_nan(t)? {
        Some(index) => Err(Error::NotANumber { op, arg, index }),
        None => Ok(()),
    }
}
