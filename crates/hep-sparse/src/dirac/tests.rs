//! Unit tests for `dirac`: the fused NLL against the plain-candle reference, analytic and
//! autograd gradients against finite differences, sampling statistics and validation.

use candle_core::{DType, Device, Tensor, Var};
use proptest::prelude::*;
use rand::{Rng, SeedableRng};

use super::*;
use crate::test_util::{assert_close, fd_grad, randn, test_device};

fn densities() -> Vec<Density> {
    vec![
        Density::GaussianFixed { sigma: 0.7 },
        Density::Gaussian,
        Density::Logistic,
        Density::Exponential,
        Density::TruncatedGaussian,
        Density::Categorical {
            levels: vec![0.1, 0.25, 0.5, 1.0, 2.0],
        },
    ]
}

/// Sparse data `[2, 4, 5]`: about 60 % zeros, non-zeros positive (valid for every density).
fn inputs(
    d: &DiracMixture,
    dtype: DType,
    dev: &Device,
    seed: u64,
) -> anyhow::Result<(Tensor, Tensor, Tensor)> {
    let shape = [2usize, 4, 5];
    let n: usize = shape.iter().product();
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let x: Vec<f64> = (0..n)
        .map(|_| {
            if rng.random::<f64>() < 0.6 {
                0.0
            } else {
                rng.random_range(0.05..2.5)
            }
        })
        .collect();
    let x = Tensor::from_vec(x, &shape[..], dev)?.to_dtype(dtype)?;
    let logits = randn(&shape, 2.0, dtype, dev, seed + 1)?;
    let mut pshape = shape.to_vec();
    pshape.push(d.num_params());
    let params = randn(&pshape, 0.5, dtype, dev, seed + 2)?;
    Ok((x, logits, params))
}

fn nll_matches_reference(dev: &Device) -> anyhow::Result<()> {
    for density in densities() {
        let d = DiracMixture::new(density.clone())?;
        // f64 against the f64 reference; f32 against the f64 reference of the same inputs.
        let (x, l, p) = inputs(&d, DType::F64, dev, 3)?;
        let cpu = |t: &Tensor| t.to_device(&Device::Cpu);
        let want = d.nll_reference(&cpu(&x)?, &cpu(&l)?, &cpu(&p)?)?;
        assert_close(&d.nll(&x, &l, &p)?, &want, 1e-13, 1e-3)?;
        let f = |t: &Tensor| t.to_dtype(DType::F32);
        let got32 = d.nll(&f(&x)?, &f(&l)?, &f(&p)?)?;
        let want32 = d.nll_reference(
            &cpu(&f(&x)?.to_dtype(DType::F64)?)?,
            &cpu(&f(&l)?.to_dtype(DType::F64)?)?,
            &cpu(&f(&p)?.to_dtype(DType::F64)?)?,
        )?;
        assert_close(&got32, &want32, 1e-6, 1e-3)?;
    }
    Ok(())
}
test_device!(
    nll_matches_reference,
    nll_matches_reference_cpu,
    nll_matches_reference_cuda
);

#[test]
fn gradients_match_finite_differences_and_autograd() -> anyhow::Result<()> {
    let dev = Device::Cpu;
    for density in densities() {
        let d = DiracMixture::new(density.clone())?;
        let (x, l, p) = inputs(&d, DType::F64, &dev, 5)?;
        let w = randn(x.dims(), 1.0, DType::F64, &dev, 6)?;
        let (gl, gp) = d.nll_grads(&x, &l, &p)?;
        let fd_l = fd_grad(&l, 1e-6, |l| {
            Ok(d.nll(&x, l, &p)?.mul(&w)?.sum_all()?.to_scalar::<f64>()?)
        })?;
        let fd_p = fd_grad(&p, 1e-6, |p| {
            Ok(d.nll(&x, &l, p)?.mul(&w)?.sum_all()?.to_scalar::<f64>()?)
        })?;
        assert_close(&gl.mul(&w)?, &fd_l, 1e-6, 1.0)?;
        assert_close(&gp.broadcast_mul(&w.unsqueeze(3)?)?, &fd_p, 1e-6, 1.0)?;
        // The custom op's backward equals autograd through the plain-candle reference.
        let (lv, pv) = (Var::from_tensor(&l)?, Var::from_tensor(&p)?);
        let g1 = d.nll(&x, &lv, &pv)?.mul(&w)?.sum_all()?.backward()?;
        let g2 = d
            .nll_reference(&x, &lv, &pv)?
            .mul(&w)?
            .sum_all()?
            .backward()?;
        assert_close(g1.get(&lv).unwrap(), g2.get(&lv).unwrap(), 1e-12, 1.0)?;
        assert_close(g1.get(&pv).unwrap(), g2.get(&pv).unwrap(), 1e-12, 1.0)?;
    }
    Ok(())
}

#[test]
fn extreme_logits_are_stable() -> anyhow::Result<()> {
    let dev = Device::Cpu;
    let d = DiracMixture::new(Density::Gaussian)?;
    let x = Tensor::new(&[0f32, 0.0, 1.0, 1.0], &dev)?;
    let l = Tensor::new(&[-1000f32, 1000.0, -1000.0, 1000.0], &dev)?;
    let p = Tensor::zeros((4, 2), DType::F32, &dev)?;
    let nll: Vec<f32> = d.nll(&x, &l, &p)?.to_vec1()?;
    let g = 0.5 + 0.918_938_5f32; // Gaussian −log p at u = 1, σ = 1
    assert_eq!(nll[0], 0.0);
    assert_eq!(nll[1], 1000.0);
    assert!((nll[2] - (1000.0 + g)).abs() < 1e-3);
    assert!((nll[3] - g).abs() < 1e-6);
    let (gl, gp) = d.nll_grads(&x, &l, &p)?;
    let gl: Vec<f32> = gl.to_vec1()?;
    assert_eq!(gl, vec![0.0, 1.0, -1.0, 0.0]);
    assert!(
        gp.flatten_all()?
            .to_vec1::<f32>()?
            .iter()
            .all(|v| v.is_finite())
    );
    Ok(())
}

#[test]
fn sampling_is_seeded_and_has_the_right_statistics() -> anyhow::Result<()> {
    let dev = Device::Cpu;
    let n = 20_000;
    let pi = 0.3f64;
    let logit = (pi / (1.0 - pi)).ln();
    let l = Tensor::full(logit, n, &dev)?;
    let d = DiracMixture::new(Density::Gaussian)?;
    let p = Tensor::from_vec([2.0f64, 0.5f64.ln()].repeat(n), (n, 2), &dev)?;
    let a: Vec<f64> = d.sample(&l, &p, 42)?.to_vec1()?;
    let b: Vec<f64> = d.sample(&l, &p, 42)?.to_vec1()?;
    let c: Vec<f64> = d.sample(&l, &p, 43)?.to_vec1()?;
    assert_eq!(a, b);
    assert_ne!(a, c);
    let nz: Vec<f64> = a.iter().cloned().filter(|&v| v != 0.0).collect();
    let frac = nz.len() as f64 / n as f64;
    let se = (pi * (1.0 - pi) / n as f64).sqrt();
    assert!((frac - pi).abs() < 5.0 * se, "non-zero fraction {frac}");
    let mean = nz.iter().sum::<f64>() / nz.len() as f64;
    assert!(
        (mean - 2.0).abs() < 5.0 * 0.5 / (nz.len() as f64).sqrt(),
        "mean {mean}"
    );
    // Categorical samples take only the configured levels; exponential samples are positive.
    let levels = vec![0.5, 1.5, 4.0];
    let d = DiracMixture::new(Density::Categorical {
        levels: levels.clone(),
    })?;
    let p = Tensor::from_vec([0.0f64, 1.0, -1.0].repeat(n), (n, 3), &dev)?;
    let s: Vec<f64> = d.sample(&l, &p, 1)?.to_vec1()?;
    assert!(s.iter().all(|v| *v == 0.0 || levels.contains(v)));
    let c1 = s.iter().filter(|&&v| v == 1.5).count() as f64
        / s.iter().filter(|&&v| v != 0.0).count() as f64;
    let want = 1f64.exp() / (1.0 + 1f64.exp() + (-1f64).exp());
    assert!((c1 - want).abs() < 0.03, "level frequency {c1} vs {want}");
    let d = DiracMixture::new(Density::Exponential)?;
    let p = Tensor::zeros((n, 1), DType::F64, &dev)?;
    let s: Vec<f64> = d.sample(&l, &p, 2)?.to_vec1()?;
    assert!(s.iter().all(|&v| v >= 0.0));
    let nz: Vec<f64> = s.into_iter().filter(|&v| v != 0.0).collect();
    let mean = nz.iter().sum::<f64>() / nz.len() as f64; // Exp(1): mean 1, sd 1
    assert!(
        (mean - 1.0).abs() < 5.0 / (nz.len() as f64).sqrt(),
        "exp mean {mean}"
    );
    // Truncated N(μ = 0, σ = 1) on x > 0 is the half-normal: mean √(2/π).
    let d = DiracMixture::new(Density::TruncatedGaussian)?;
    let p = Tensor::zeros((n, 2), DType::F64, &dev)?;
    let s: Vec<f64> = d.sample(&l, &p, 3)?.to_vec1()?;
    assert!(s.iter().all(|&v| v >= 0.0));
    let nz: Vec<f64> = s.into_iter().filter(|&v| v != 0.0).collect();
    let mean = nz.iter().sum::<f64>() / nz.len() as f64;
    let want = (2.0 / std::f64::consts::PI).sqrt();
    assert!(
        (mean - want).abs() < 5.0 * 0.61 / (nz.len() as f64).sqrt(),
        "half-normal mean {mean}"
    );
    Ok(())
}

#[test]
fn bad_inputs_give_typed_errors() -> anyhow::Result<()> {
    let dev = Device::Cpu;
    let pi = Tensor::new(&[0.2f32, 1.3, 0.5], &dev)?;
    assert!(matches!(
        logits_from_probs(&pi),
        Err(Error::ProbabilityOutOfRange { index: 1, .. })
    ));
    let pi = Tensor::new(&[0.2f64, 0.5, f64::NAN], &dev)?;
    assert!(matches!(
        logits_from_probs(&pi),
        Err(Error::NotANumber { index: 2, .. })
    ));
    let l = logits_from_probs(&Tensor::new(&[0.5f64, 0.0, 1.0], &dev)?)?.to_vec1::<f64>()?;
    assert_eq!(l, vec![0.0, f64::NEG_INFINITY, f64::INFINITY]);

    let d = DiracMixture::new(Density::Gaussian)?;
    let x = Tensor::new(&[0f32, f32::NAN], &dev)?;
    let l = Tensor::zeros(2, DType::F32, &dev)?;
    let p = Tensor::zeros((2, 2), DType::F32, &dev)?;
    assert!(matches!(
        d.nll(&x, &l, &p),
        Err(Error::NotANumber {
            arg: "x",
            index: 1,
            ..
        })
    ));
    let x = Tensor::zeros(2, DType::F32, &dev)?;
    let p1 = Tensor::zeros((2, 1), DType::F32, &dev)?;
    assert!(matches!(
        d.nll(&x, &l, &p1),
        Err(Error::ShapeMismatch { arg: "params", .. })
    ));
    let l3 = Tensor::zeros(3, DType::F32, &dev)?;
    assert!(matches!(
        d.nll(&x, &l3, &p),
        Err(Error::ShapeMismatch { arg: "logits", .. })
    ));
    let l64 = Tensor::zeros(2, DType::F64, &dev)?;
    assert!(matches!(
        d.nll(&x, &l64, &p),
        Err(Error::DTypeMismatch { arg: "logits", .. })
    ));
    let e = DiracMixture::new(Density::Exponential)?;
    let xn = Tensor::new(&[0f32, -1.0], &dev)?;
    assert!(matches!(
        e.nll(&xn, &l, &p1),
        Err(Error::OutOfSupport { index: 1, .. })
    ));
    assert!(matches!(
        DiracMixture::new(Density::GaussianFixed { sigma: 0.0 }),
        Err(Error::InvalidConfig { field: "sigma", .. })
    ));
    assert!(matches!(
        DiracMixture::new(Density::Categorical {
            levels: vec![1.0, 0.5]
        }),
        Err(Error::InvalidConfig {
            field: "levels",
            ..
        })
    ));
    Ok(())
}

/// Where the plain-candle reference keeps full f64 precision: everywhere, except for the
/// truncated Gaussian with `a = μ/σ < −5`, whose `log((1 + erf(a/√2))/2)` cancels (at
/// `a = −7.4` only about 8 of 16 digits survive). `log_ndtr_matches_mpmath` covers that tail.
fn reference_is_accurate(d: &DiracMixture, p: &Tensor) -> anyhow::Result<Tensor> {
    let last = p.rank() - 1;
    let ones = p.narrow(last, 0, 1)?.squeeze(last)?.ones_like()?;
    Ok(match d.density {
        Density::TruncatedGaussian => {
            let mu = p.narrow(last, 0, 1)?.squeeze(last)?;
            let sigma = p.narrow(last, 1, 1)?.squeeze(last)?.exp()?;
            (mu / sigma)?.ge(-5.0)?
        }
        _ => ones.ne(0.0)?,
    })
}

#[test]
#[allow(clippy::excessive_precision)] // the mpmath values as printed, 20 digits
fn log_ndtr_matches_mpmath() {
    // mpmath 1.3, 40 digits: `mpmath.log(mpmath.ncdf(a))`, on both sides of each type's cut.
    let f64_cases = [
        (3.0, -0.0013508099647481937988),
        (-1.0, -1.8410216450092635058),
        (-5.0, -15.064998393988725736),
        (-7.361906553689484, -30.03176010447487347),
        (-15.0, -116.13138484571169524),
        (-29.9, -451.32291245852863447),
        (-30.1, -457.32956441638225788),
        (-45.0, -1017.2260942419523707),
        (-200.0, -20006.217280898190402),
    ];
    for (a, want) in f64_cases {
        let got = log_ndtr(a);
        assert!(
            ((got - want) / want).abs() < 1e-14,
            "f64 log_ndtr({a}) = {got}, mpmath {want}"
        );
    }
    let f32_cases = [
        (-1.5f32, -2.70594440082f64),
        (-9.875, -51.9767616176),
        (-10.125, -54.5012860892),
        (-13.5, -94.6520418813),
        (-20.0, -203.917155371),
        (-35.25, -625.763457238),
    ];
    for (a, want) in f32_cases {
        let got = f64::from(log_ndtr(a));
        assert!(
            ((got - want) / want).abs() < 1e-6,
            "f32 log_ndtr({a}) = {got}, mpmath {want}"
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]
    #[test]
    fn random_inputs_match_reference(which in 0usize..6, seed in 0u64..10_000, scale in 0.1f64..20.0) {
        let dev = Device::Cpu;
        let d = DiracMixture::new(densities()[which].clone()).unwrap();
        let (x, l, p) = inputs(&d, DType::F64, &dev, seed).unwrap();
        let l = (l * scale).unwrap();
        let got = d.nll(&x, &l, &p).unwrap();
        let want = d.nll_reference(&x, &l, &p).unwrap();
        let keep = reference_is_accurate(&d, &p).unwrap();
        let (got, want) = (
            keep.where_cond(&got, &got.zeros_like().unwrap()).unwrap(),
            keep.where_cond(&want, &want.zeros_like().unwrap()).unwrap(),
        );
        // The reference's log(1 + e^{-|ℓ|}) loses digits for large |ℓ|; compare absolutely there.
        assert_close(&got, &want, 1e-12, 1.0).unwrap();
    }
}
