//! LeakyReLU as one custom op with a one-pass backward (MPGAN's activation).
//!
//! ```text
//! y = x if x > 0 else slope · x          dy/dx = 1 if x > 0 else slope
//! ```
//! Composing it from `maximum`/`minimum` (candle-nn's `leaky_relu`) costs four element-wise
//! passes forward and their masks backward; this op makes one pass each way. CPU only; on
//! other devices it falls back to the composed form.

use candle_core::{CpuStorage, CustomOp1, CustomOp2, Layout, Shape, Tensor};

use crate::util::cpu_slice;
use crate::{Error, Result};

struct LeakyRelu {
    slope: f64,
}

struct LeakyReluGrad {
    slope: f64,
}

fn map<T: candle_core::WithDType>(x: &[T], slope: f64) -> Vec<T> {
    let (s, zero) = (T::from_f64(slope), T::from_f64(0.0));
    x.iter()
        .map(|&v| if v > zero { v } else { v * s })
        .collect()
}

impl CustomOp1 for LeakyRelu {
    fn name(&self) -> &'static str {
        "leaky_relu"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let out = match s {
            CpuStorage::F32(_) => {
                CpuStorage::F32(map(cpu_slice::<f32>(s, l, "leaky_relu")?, self.slope))
            }
            CpuStorage::F64(_) => {
                CpuStorage::F64(map(cpu_slice::<f64>(s, l, "leaky_relu")?, self.slope))
            }
            _ => candle_core::bail!("leaky_relu: only f32 and f64 are supported"),
        };
        Ok((out, l.shape().clone()))
    }

    fn bwd(
        &self,
        arg: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<Option<Tensor>> {
        let g = arg.apply_op2_no_bwd(&grad.contiguous()?, &LeakyReluGrad { slope: self.slope })?;
        Ok(Some(g))
    }
}

fn grad_map<T: candle_core::WithDType>(x: &[T], g: &[T], slope: f64) -> Vec<T> {
    let (s, zero, one) = (T::from_f64(slope), T::from_f64(0.0), T::from_f64(1.0));
    x.iter()
        .zip(g)
        .map(|(&v, &d)| d * if v > zero { one } else { s })
        .collect()
}

impl CustomOp2 for LeakyReluGrad {
    fn name(&self) -> &'static str {
        "leaky_relu_grad"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let out = match (s1, s2) {
            (CpuStorage::F32(_), CpuStorage::F32(_)) => CpuStorage::F32(grad_map(
                cpu_slice::<f32>(s1, l1, "leaky_relu_grad")?,
                cpu_slice::<f32>(s2, l2, "leaky_relu_grad")?,
                self.slope,
            )),
            (CpuStorage::F64(_), CpuStorage::F64(_)) => CpuStorage::F64(grad_map(
                cpu_slice::<f64>(s1, l1, "leaky_relu_grad")?,
                cpu_slice::<f64>(s2, l2, "leaky_relu_grad")?,
                self.slope,
            )),
            _ => candle_core::bail!("leaky_relu_grad: unsupported dtypes"),
        };
        Ok((out, l1.shape().clone()))
    }
}

/// LeakyReLU with negative slope `slope`, differentiable.
///
/// # Shapes
/// Any shape; `f32` or `f64`.
///
/// # Errors
/// [`Error::InvalidConfig`] for a slope outside `[0, 1]`; tensor errors.
pub fn leaky_relu(x: &Tensor, slope: f64) -> Result<Tensor> {
    if !(0.0..=1.0).contains(&slope) {
        return Err(Error::InvalidConfig {
            component: "leaky_relu",
            field: "slope",
            value: slope.to_string(),
            reason: "must lie in [0, 1]",
        });
    }
    if !x.device().is_cpu() {
        let zeros = x.zeros_like()?;
        return Ok((x.maximum(&zeros)? + (x.minimum(&zeros)? * slope)?)?);
    }
    Ok(x.contiguous()?.apply_op1(LeakyRelu { slope })?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Var};

    #[test]
    fn matches_composed_form_in_values_and_gradients() {
        let x = Var::new(&[[-2.0f64, -0.5, 0.0], [0.3, 1.5, -1e-3]], &Device::Cpu).unwrap();
        let y = leaky_relu(x.as_tensor(), 0.2).unwrap();
        let zeros = x.as_tensor().zeros_like().unwrap();
        let want = (x.as_tensor().maximum(&zeros).unwrap()
            + (x.as_tensor().minimum(&zeros).unwrap() * 0.2).unwrap())
        .unwrap();
        assert_eq!(y.to_vec2::<f64>().unwrap(), want.to_vec2::<f64>().unwrap());
        let w = Tensor::new(&[[1.0f64, 2.0, 3.0], [4.0, 5.0, 6.0]], &Device::Cpu).unwrap();
        let g = (y * &w).unwrap().sum_all().unwrap().backward().unwrap();
        let gx = g.get(x.as_tensor()).unwrap().to_vec2::<f64>().unwrap();
        let want = [[0.2, 0.4, 0.6], [4.0, 5.0, 1.2]];
        for (r, w) in gx.iter().zip(want) {
            for (a, b) in r.iter().zip(w) {
                assert!((a - b).abs() < 1e-12, "{gx:?}");
            }
        }
        // finite differences away from the kink
        let f = |v: f64| if v > 0.0 { v } else { 0.2 * v };
        for (i, &v) in [-2.0f64, 0.3, 1.5].iter().enumerate() {
            let h = 1e-6;
            let fd = (f(v + h) - f(v - h)) / (2.0 * h);
            let an = if v > 0.0 { 1.0 } else { 0.2 };
            assert!((fd - an).abs() < 1e-8, "{i}");
        }
        let y32 = leaky_relu(&Tensor::new(&[-1.0f32, 2.0], &Device::Cpu).unwrap(), 0.5).unwrap();
        assert_eq!(y32.to_vec1::<f32>().unwrap(), vec![-0.5, 2.0]);
        assert!(leaky_relu(&w, 1.5).is_err());
    }
}
