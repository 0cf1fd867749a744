//! Unit tests for `message`: the fused op against the naive concatenation formulation (values
//! and autograd gradients of `h` and every weight), finite differences, chunking, edge cases.

use candle_core::{DType, Device, Tensor, Var};
use proptest::prelude::*;

use super::*;
use crate::test_util::{assert_close, fd_grad, randn, random_mask, test_device};

fn small_cfg(f: usize, widths: Vec<usize>) -> MessagePassingConfig {
    MessagePassingConfig {
        in_features: f,
        widths,
        ..Default::default()
    }
}

/// Builds the module with every weight and bias as a `Var`.
fn with_vars(
    cfg: &MessagePassingConfig,
    dtype: DType,
    dev: &Device,
    seed: u64,
) -> anyhow::Result<(MaskedMessagePassing, Vec<Var>)> {
    let init = MaskedMessagePassing::init(cfg, dtype, dev, seed)?;
    let mut vars = Vec::new();
    let mut layers = Vec::new();
    for (w, b) in init.weights().iter().zip(init.biases()) {
        let (wv, bv) = (Var::from_tensor(w)?, Var::from_tensor(b)?);
        layers.push((wv.as_tensor().clone(), bv.as_tensor().clone()));
        vars.push(wv);
        vars.push(bv);
    }
    Ok((MaskedMessagePassing::new(cfg, layers)?, vars))
}

/// Compares fused and naive values and the gradients of `Σ w ⊙ m` w.r.t. `h` and all params.
fn compare(
    cfg: &MessagePassingConfig,
    dims: (usize, usize),
    dtype: DType,
    dev: &Device,
    seed: u64,
    tol: (f64, f64),
) -> anyhow::Result<()> {
    compare_with(cfg, dims, dtype, dev, seed, tol, None)
}

/// [`compare`] with edge dropout in every formulation.
fn compare_with(
    cfg: &MessagePassingConfig,
    (b, n): (usize, usize),
    dtype: DType,
    dev: &Device,
    seed: u64,
    tol: (f64, f64),
    dropout: Option<EdgeDropout>,
) -> anyhow::Result<()> {
    let (mp, vars) = with_vars(cfg, dtype, dev, seed)?;
    let h = Var::from_tensor(&randn(&[b, n, cfg.in_features], 1.0, dtype, dev, seed + 1)?)?;
    let mask = random_mask(b, n, 0.6, dtype, dev, seed + 2)?;
    let fo = *cfg.widths.last().unwrap();
    let w = randn(&[b, n, fo], 1.0, dtype, dev, seed + 3)?;
    let naive = mp.forward_naive_with_dropout(&h, &mask, dropout)?;
    let gn = naive.mul(&w)?.sum_all()?.backward()?;
    for other in [
        mp.forward_with_dropout(&h, &mask, dropout)?,
        mp.split_impl(&h, &mask, dropout)?,
    ] {
        assert_close(&other, &naive, tol.0, 1.0)?;
        let go = other.mul(&w)?.sum_all()?.backward()?;
        assert_close(go.get(&h).unwrap(), gn.get(&h).unwrap(), tol.1, 1.0)?;
        for v in &vars {
            assert_close(go.get(v).unwrap(), gn.get(v).unwrap(), tol.1, 1.0)?;
        }
    }
    Ok(())
}

fn fused_equals_naive(dev: &Device) -> anyhow::Result<()> {
    // MPGAN's edge net at a reduced batch.
    let cfg = MessagePassingConfig::default();
    compare(&cfg, (3, 30), DType::F64, dev, 1, (1e-12, 1e-11))?;
    // f32 weight gradients sum ~2,700 edge terms; gemm's threaded blocking orders those sums
    // differently under load (seen: 2.95e-5 on a busy 2-core machine, < 2e-5 when quiet), so
    // the gradient tolerance is 1e-4 — a wrong term would be off by O(1).
    compare(&cfg, (3, 30), DType::F32, dev, 2, (1e-6, 1e-4))?;
    Ok(())
}
test_device!(
    fused_equals_naive,
    fused_equals_naive_cpu,
    fused_equals_naive_cuda
);

#[test]
fn variants_equal_naive() -> anyhow::Result<()> {
    let dev = Device::Cpu;
    // No activation after the last layer; one-layer net; tiny chunks (one jet per chunk).
    let mut cfg = small_cfg(3, vec![5, 4]);
    cfg.activate_last = false;
    compare(&cfg, (4, 7), DType::F64, &dev, 3, (1e-12, 1e-11))?;
    let cfg = small_cfg(2, vec![6]);
    compare(&cfg, (4, 5), DType::F64, &dev, 4, (1e-12, 1e-11))?;
    let mut cfg = small_cfg(3, vec![4, 5, 3]);
    cfg.chunk_edges = 1;
    compare(&cfg, (5, 6), DType::F64, &dev, 5, (1e-12, 1e-11))?;
    // ReLU (slope 0) and N = 1, N = 150.
    let mut cfg = small_cfg(2, vec![4, 3]);
    cfg.negative_slope = 0.0;
    compare(&cfg, (3, 1), DType::F64, &dev, 6, (1e-12, 1e-11))?;
    compare(
        &small_cfg(2, vec![4, 3]),
        (2, 150),
        DType::F64,
        &dev,
        7,
        (1e-12, 1e-11),
    )?;
    Ok(())
}

#[test]
fn fused_dropout_equals_naive_dropout() -> anyhow::Result<()> {
    let dev = Device::Cpu;
    let d = EdgeDropout { p: 0.5, seed: 77 };
    compare_with(
        &MessagePassingConfig::default(),
        (3, 30),
        DType::F64,
        &dev,
        21,
        (1e-12, 1e-11),
        Some(d),
    )?;
    // tiny chunks (masks are indexed globally, not per chunk) and no final activation
    let mut cfg = small_cfg(3, vec![4, 5, 3]);
    cfg.chunk_edges = 1;
    cfg.activate_last = false;
    compare_with(&cfg, (5, 6), DType::F64, &dev, 22, (1e-12, 1e-11), Some(d))?;
    // the masks drop about p of the elements, scale the rest, and change with the seed
    let m = d.mask(1, 1000, 50, DType::F64, &dev)?;
    let v: Vec<f64> = m.flatten_all()?.to_vec1()?;
    let kept = v.iter().filter(|&&x| x > 0.0).count() as f64 / v.len() as f64;
    assert!((kept - 0.5).abs() < 0.01, "kept fraction {kept}");
    assert!(v.iter().all(|&x| x == 0.0 || x == 2.0));
    let other = EdgeDropout { p: 0.5, seed: 78 }.mask(1, 1000, 50, DType::F64, &dev)?;
    assert_ne!(v, other.flatten_all()?.to_vec1::<f64>()?);
    // dropout changes the output; p outside [0, 1) is an error
    let mp = MaskedMessagePassing::init(&cfg, DType::F64, &dev, 3)?;
    let h = randn(&[2, 6, 3], 1.0, DType::F64, &dev, 4)?;
    let mask = random_mask(2, 6, 0.8, DType::F64, &dev, 5)?;
    let plain: Vec<f64> = mp.forward(&h, &mask)?.flatten_all()?.to_vec1()?;
    let dropped: Vec<f64> = mp
        .forward_with_dropout(&h, &mask, Some(d))?
        .flatten_all()?
        .to_vec1()?;
    assert_ne!(plain, dropped);
    let p0: Vec<f64> = mp
        .forward_with_dropout(&h, &mask, Some(EdgeDropout { p: 0.0, seed: 1 }))?
        .flatten_all()?
        .to_vec1()?;
    assert_eq!(plain, p0);
    assert!(
        mp.forward_with_dropout(&h, &mask, Some(EdgeDropout { p: 1.0, seed: 1 }))
            .is_err()
    );
    Ok(())
}

#[test]
fn gradients_match_finite_differences() -> anyhow::Result<()> {
    let dev = Device::Cpu;
    let cfg = small_cfg(2, vec![3, 2]);
    let (b, n) = (3, 4);
    let mp = MaskedMessagePassing::init(&cfg, DType::F64, &dev, 9)?;
    let h0 = randn(&[b, n, 2], 1.0, DType::F64, &dev, 10)?;
    let mask = random_mask(b, n, 0.7, DType::F64, &dev, 11)?;
    let w = randn(&[b, n, 2], 1.0, DType::F64, &dev, 12)?;
    let loss = |h: &Tensor| -> anyhow::Result<f64> {
        Ok(mp
            .forward(h, &mask)?
            .mul(&w)?
            .sum_all()?
            .to_scalar::<f64>()?)
    };
    let fd = fd_grad(&h0, 1e-6, loss)?;
    let hv = Var::from_tensor(&h0)?;
    let g = mp.forward(&hv, &mask)?.mul(&w)?.sum_all()?.backward()?;
    assert_close(g.get(&hv).unwrap(), &fd, 1e-6, 1.0)?;
    // And the first weight matrix.
    let w0 = mp.weights()[0].clone();
    let loss_w = |w0: &Tensor| -> anyhow::Result<f64> {
        let layers = vec![
            (w0.clone(), mp.biases()[0].clone()),
            (mp.weights()[1].clone(), mp.biases()[1].clone()),
        ];
        let m = MaskedMessagePassing::new(&cfg, layers)?;
        Ok(m.forward(&h0, &mask)?
            .mul(&w)?
            .sum_all()?
            .to_scalar::<f64>()?)
    };
    let fd_w = fd_grad(&w0, 1e-6, loss_w)?;
    let wv = Var::from_tensor(&w0)?;
    let m = MaskedMessagePassing::new(
        &cfg,
        vec![
            (wv.as_tensor().clone(), mp.biases()[0].clone()),
            (mp.weights()[1].clone(), mp.biases()[1].clone()),
        ],
    )?;
    let g = m.forward(&h0, &mask)?.mul(&w)?.sum_all()?.backward()?;
    assert_close(g.get(&wv).unwrap(), &fd_w, 1e-6, 1.0)?;
    Ok(())
}

#[test]
fn all_masked_jet_gets_no_messages() -> anyhow::Result<()> {
    let dev = Device::Cpu;
    let cfg = small_cfg(3, vec![4, 4]);
    let mp = MaskedMessagePassing::init(&cfg, DType::F32, &dev, 1)?;
    let h = Var::from_tensor(&randn(&[2, 5, 3], 1.0, DType::F32, &dev, 2)?)?;
    let mask = Tensor::new(&[[0u8; 5], [1, 0, 1, 0, 0]], &dev)?;
    let m = mp.forward(&h, &mask)?;
    let jet0: Vec<f32> = m.get(0)?.flatten_all()?.to_vec1()?;
    assert!(jet0.iter().all(|&v| v == 0.0));
    let g = m.sum_all()?.backward()?;
    let g0: Vec<f32> = g.get(&h).unwrap().get(0)?.flatten_all()?.to_vec1()?;
    assert!(g0.iter().all(|&v| v == 0.0));
    let jet1: Vec<f32> = m.get(1)?.flatten_all()?.to_vec1()?;
    assert!(jet1.iter().any(|&v| v != 0.0));
    Ok(())
}

#[test]
fn bad_config_and_inputs_give_typed_errors() -> anyhow::Result<()> {
    let dev = Device::Cpu;
    let mut cfg = small_cfg(3, vec![]);
    assert!(matches!(
        cfg.validate(),
        Err(Error::InvalidConfig {
            field: "widths",
            ..
        })
    ));
    cfg.widths = vec![4];
    cfg.negative_slope = -0.1;
    assert!(matches!(
        cfg.validate(),
        Err(Error::InvalidConfig {
            field: "negative_slope",
            ..
        })
    ));
    cfg.negative_slope = 0.2;
    let w = Tensor::zeros((4, 5), DType::F32, &dev)?;
    let b = Tensor::zeros(4, DType::F32, &dev)?;
    assert!(matches!(
        MaskedMessagePassing::new(&cfg, vec![(w, b.clone())]),
        Err(Error::ShapeMismatch { arg: "weight", .. })
    ));
    let mp = MaskedMessagePassing::init(&cfg, DType::F32, &dev, 0)?;
    let h = Tensor::zeros((2, 5, 4), DType::F32, &dev)?;
    let mask = Tensor::ones((2, 5), DType::U8, &dev)?;
    assert!(matches!(
        mp.forward(&h, &mask),
        Err(Error::ShapeMismatch { arg: "h", .. })
    ));
    let h = Tensor::zeros((2, 5, 3), DType::F64, &dev)?;
    assert!(matches!(
        mp.forward(&h, &mask),
        Err(Error::DTypeMismatch { arg: "h", .. })
    ));
    let h = Tensor::zeros((2, 5, 3), DType::F32, &dev)?;
    let mask = Tensor::ones((2, 4), DType::U8, &dev)?;
    assert!(matches!(
        mp.forward(&h, &mask),
        Err(Error::ShapeMismatch { arg: "mask", .. })
    ));
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]
    #[test]
    fn random_shapes_match_naive(
        b in 1usize..4,
        n in prop_oneof![Just(1usize), 2usize..12],
        f in 1usize..4,
        widths in prop::collection::vec(1usize..6, 1..4),
        chunk in prop_oneof![Just(1usize), Just(16usize), Just(1 << 20)],
        seed in 0u64..10_000,
    ) {
        let cfg = MessagePassingConfig { in_features: f, widths, chunk_edges: chunk, ..Default::default() };
        compare(&cfg, (b, n), DType::F64, &Device::Cpu, seed, (1e-12, 1e-11)).unwrap();
    }
}
