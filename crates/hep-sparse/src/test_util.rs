//! Shared helpers for the unit tests: the device macro, closeness checks, seeded inputs and
//! finite differences.

use candle_core::{DType, Device, Tensor};
use rand::{Rng, SeedableRng};

/// Emits `<name>_cpu` running `name(&Device::Cpu)` and, with the `cuda` feature,
/// `<name>_cuda` running `name` on CUDA device 0 (the bodies compare against a reference
/// computed on the CPU, so the CUDA variant is a CPU-parity test). As candle's `test_device!`.
macro_rules! test_device {
    ($fn_name:ident, $test_cpu:ident, $test_cuda:ident) => {
        #[test]
        fn $test_cpu() -> anyhow::Result<()> {
            $fn_name(&candle_core::Device::Cpu)
        }

        #[cfg(feature = "cuda")]
        #[test]
        fn $test_cuda() -> anyhow::Result<()> {
            $fn_name(&candle_core::Device::new_cuda(0)?)
        }
    };
}
pub(crate) use test_device;

/// Largest `|a − b| / max(|b|, floor)` over all elements (both tensors converted to f64 on the
/// CPU); `floor` keeps near-zero reference values from dominating.
pub(crate) fn max_rel_diff(a: &Tensor, b: &Tensor, floor: f64) -> anyhow::Result<f64> {
    assert_eq!(a.dims(), b.dims(), "shape mismatch");
    let a: Vec<f64> = a
        .flatten_all()?
        .to_dtype(DType::F64)?
        .to_device(&Device::Cpu)?
        .to_vec1()?;
    let b: Vec<f64> = b
        .flatten_all()?
        .to_dtype(DType::F64)?
        .to_device(&Device::Cpu)?
        .to_vec1()?;
    let mut worst = 0f64;
    for (x, y) in a.iter().zip(&b) {
        assert!(!x.is_nan() && !y.is_nan(), "NaN: {x} vs {y}");
        if x == y {
            continue;
        }
        worst = worst.max((x - y).abs() / y.abs().max(floor));
    }
    Ok(worst)
}

/// Asserts `max_rel_diff(a, b, floor) <= tol`.
pub(crate) fn assert_close(a: &Tensor, b: &Tensor, tol: f64, floor: f64) -> anyhow::Result<()> {
    let d = max_rel_diff(a, b, floor)?;
    assert!(d <= tol, "max relative difference {d:e} > {tol:e}");
    Ok(())
}

/// Seeded standard-normal tensor (scaled by `scale`).
pub(crate) fn randn(
    shape: &[usize],
    scale: f64,
    dtype: DType,
    dev: &Device,
    seed: u64,
) -> anyhow::Result<Tensor> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let n: usize = shape.iter().product();
    let v: Vec<f64> = (0..n)
        .map(|_| scale * rng.sample::<f64, _>(rand_distr::StandardNormal))
        .collect();
    Ok(Tensor::from_vec(v, shape, dev)?.to_dtype(dtype)?)
}

/// Seeded 0/1 mask `[B, N]` with real-fraction `p`; jet 0 is all-masked and jet 1 (if any)
/// has a single real particle, so every test sees the edge cases.
pub(crate) fn random_mask(
    b: usize,
    n: usize,
    p: f64,
    dtype: DType,
    dev: &Device,
    seed: u64,
) -> anyhow::Result<Tensor> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut v: Vec<f64> = (0..b * n)
        .map(|_| if rng.random::<f64>() < p { 1.0 } else { 0.0 })
        .collect();
    v[..n].iter_mut().for_each(|x| *x = 0.0);
    if b > 1 {
        v[n..2 * n].iter_mut().for_each(|x| *x = 0.0);
        v[n + n / 2] = 1.0;
    }
    Ok(Tensor::from_vec(v, (b, n), dev)?.to_dtype(dtype)?)
}

/// Central finite-difference gradient of the scalar function `f` at `x` (f64, CPU).
pub(crate) fn fd_grad(
    x: &Tensor,
    eps: f64,
    f: impl Fn(&Tensor) -> anyhow::Result<f64>,
) -> anyhow::Result<Tensor> {
    let base: Vec<f64> = x.flatten_all()?.to_vec1()?;
    let mut g = Vec::with_capacity(base.len());
    for i in 0..base.len() {
        let mut v = base.clone();
        v[i] = base[i] + eps;
        let up = f(&Tensor::from_vec(v.clone(), x.shape(), x.device())?)?;
        v[i] = base[i] - eps;
        let down = f(&Tensor::from_vec(v, x.shape(), x.device())?)?;
        g.push((up - down) / (2.0 * eps));
    }
    Ok(Tensor::from_vec(g, x.shape(), x.device())?)
}
