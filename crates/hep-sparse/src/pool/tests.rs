//! Unit tests for `pool`: each op against a plain-candle reference (values and autograd
//! gradients), gradients against finite differences, edge cases and validation.

use candle_core::{DType, Device, Tensor, Var};
use proptest::prelude::*;

use super::*;
use crate::Error;
use crate::test_util::{assert_close, fd_grad, randn, random_mask, test_device};

/// Plain-candle references; `mask` is 0/1 in the dtype of `x`.
fn reference(kind: Option<PoolKind>, x: &Tensor, mask: &Tensor) -> candle_core::Result<Tensor> {
    let m3 = mask.unsqueeze(2)?;
    let count = mask.sum_keepdim(1)?; // [B, 1]
    match kind {
        Some(PoolKind::Sum) => x.broadcast_mul(&m3)?.sum(1),
        Some(PoolKind::Mean) => x
            .broadcast_mul(&m3)?
            .sum(1)?
            .broadcast_div(&count.clamp(1f64, f64::INFINITY)?),
        Some(PoolKind::Max) => {
            let neg = x.ones_like()?.affine(0.0, -1e30)?;
            let cond = m3.broadcast_as(x.shape())?.ne(0f64)?;
            let mx = cond.where_cond(x, &neg)?.max(1)?;
            let any = count.ne(0f64)?.broadcast_as(mx.shape())?;
            any.where_cond(&mx, &mx.zeros_like()?)
        }
        None => {
            let neg = x.ones_like()?.affine(0.0, -1e30)?;
            let cond = m3.broadcast_as(x.shape())?.ne(0f64)?;
            let shifted = cond.where_cond(x, &neg)?;
            let mx = shifted.max_keepdim(1)?.detach();
            let any = count.ne(0f64)?.unsqueeze(2)?.broadcast_as(mx.shape())?;
            let mx = any.where_cond(&mx, &mx.zeros_like()?)?;
            let e = x.broadcast_sub(&mx)?.exp()?.broadcast_mul(&m3)?;
            let den = e.sum_keepdim(1)?;
            let den = (&den + den.eq(0f64)?.to_dtype(x.dtype())?)?; // avoid 0/0
            e.broadcast_div(&den)
        }
    }
}

fn ours(kind: Option<PoolKind>, x: &Tensor, mask: &Tensor) -> crate::Result<Tensor> {
    match kind {
        Some(PoolKind::Sum) => masked_sum(x, mask),
        Some(PoolKind::Mean) => masked_mean(x, mask),
        Some(PoolKind::Max) => masked_max(x, mask),
        None => masked_softmax(x, mask),
    }
}

const KINDS: [Option<PoolKind>; 4] = [
    Some(PoolKind::Sum),
    Some(PoolKind::Mean),
    Some(PoolKind::Max),
    None,
];

fn values_match_reference(dev: &Device) -> anyhow::Result<()> {
    for (dtype, tol) in [(DType::F32, 1e-6), (DType::F64, 1e-13)] {
        for (n, f) in [(30, 32), (1, 3), (150, 4)] {
            let b = 5;
            let x = randn(&[b, n, f], 1.0, dtype, dev, 7)?;
            let mask = random_mask(b, n, 0.6, dtype, dev, 8)?;
            for kind in KINDS {
                let got = ours(kind, &x, &mask)?;
                let want = reference(
                    kind,
                    &x.to_device(&Device::Cpu)?,
                    &mask.to_device(&Device::Cpu)?,
                )?;
                // Relative to max(|ref|, 1): sums of O(1) terms.
                assert_close(&got, &want, tol, 1.0)?;
            }
        }
    }
    Ok(())
}
test_device!(
    values_match_reference,
    values_match_reference_cpu,
    values_match_reference_cuda
);

#[test]
fn all_masked_jets_are_zero_without_nan() -> anyhow::Result<()> {
    let dev = Device::Cpu;
    let x = Var::from_tensor(&randn(&[2, 4, 3], 1.0, DType::F64, &dev, 3)?)?;
    let mask = Tensor::zeros((2, 4), DType::U8, &dev)?;
    for kind in KINDS {
        let y = ours(kind, &x, &mask)?;
        let v: Vec<f64> = y.flatten_all()?.to_vec1()?;
        assert!(v.iter().all(|&v| v == 0.0), "{kind:?}: {v:?}");
        let g = (y.sqr()? + y)?.sum_all()?.backward()?;
        let gv: Vec<f64> = g.get(&x).expect("grad").flatten_all()?.to_vec1()?;
        assert!(gv.iter().all(|&v| v == 0.0), "{kind:?}: {gv:?}");
    }
    Ok(())
}

#[test]
fn gradients_match_finite_differences_and_reference_autograd() -> anyhow::Result<()> {
    let dev = Device::Cpu;
    let (b, n, f) = (4, 6, 3);
    let x0 = randn(&[b, n, f], 1.0, DType::F64, &dev, 11)?;
    let mask = random_mask(b, n, 0.7, DType::F64, &dev, 12)?;
    // A fixed random projection makes the scalar loss depend on every output element.
    for kind in KINDS {
        let out_shape: Vec<usize> = if kind.is_some() {
            vec![b, f]
        } else {
            vec![b, n, f]
        };
        let w = randn(&out_shape, 1.0, DType::F64, &dev, 13)?;
        let loss = |x: &Tensor| -> anyhow::Result<f64> {
            Ok(ours(kind, x, &mask)?
                .mul(&w)?
                .sum_all()?
                .to_scalar::<f64>()?)
        };
        let fd = fd_grad(&x0, 1e-6, loss)?;
        let xv = Var::from_tensor(&x0)?;
        let g_ours = ours(kind, &xv, &mask)?.mul(&w)?.sum_all()?.backward()?;
        let g_ours = g_ours.get(&xv).expect("grad").clone();
        assert_close(&g_ours, &fd, 1e-7, 1.0)?;
        let g_ref = reference(kind, &xv, &mask)?
            .mul(&w)?
            .sum_all()?
            .backward()?;
        let g_ref = g_ref.get(&xv).expect("grad").clone();
        assert_close(&g_ours, &g_ref, 1e-12, 1.0)?;
    }
    Ok(())
}

#[test]
fn max_splits_gradient_among_ties() -> anyhow::Result<()> {
    let dev = Device::Cpu;
    let x = Var::from_tensor(&Tensor::new(&[[[1f64], [3.0], [3.0], [5.0]]], &dev)?)?;
    let mask = Tensor::new(&[[1u8, 1, 1, 0]], &dev)?; // the 5 is padding
    let y = masked_max(&x, &mask)?;
    assert_eq!(y.to_vec2::<f64>()?, vec![vec![3.0]]);
    let g = y.sum_all()?.backward()?;
    let g = g.get(&x).expect("grad").flatten_all()?.to_vec1::<f64>()?;
    assert_eq!(g, vec![0.0, 0.5, 0.5, 0.0]);
    Ok(())
}

#[test]
fn bad_inputs_give_typed_errors() -> anyhow::Result<()> {
    let dev = Device::Cpu;
    let x = Tensor::zeros((2, 3, 4), DType::F32, &dev)?;
    let bad_shape = Tensor::zeros((2, 4), DType::F32, &dev)?;
    assert!(matches!(
        masked_sum(&x, &bad_shape),
        Err(Error::ShapeMismatch { arg: "mask", .. })
    ));
    let bad_dtype = Tensor::zeros((2, 3), DType::F64, &dev)?;
    assert!(matches!(
        masked_mean(&x, &bad_dtype),
        Err(Error::DTypeMismatch { arg: "mask", .. })
    ));
    let x2 = Tensor::zeros((2, 3), DType::F32, &dev)?;
    assert!(matches!(
        masked_max(&x2, &bad_dtype),
        Err(Error::ShapeMismatch { arg: "x", .. })
    ));
    let xi = Tensor::zeros((2, 3, 4), DType::U32, &dev)?;
    assert!(matches!(
        masked_softmax(&xi, &bad_dtype),
        Err(Error::DTypeMismatch { arg: "x", .. })
    ));
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(40))]
    #[test]
    fn random_shapes_and_masks(
        b in 1usize..5,
        n in prop_oneof![Just(1usize), 2usize..40, Just(150usize)],
        f in 1usize..6,
        p in 0.0f64..=1.0,
        seed in 0u64..10_000,
    ) {
        let dev = Device::Cpu;
        let x = randn(&[b, n, f], 2.0, DType::F64, &dev, seed).unwrap();
        let mask = random_mask(b, n, p, DType::F64, &dev, seed + 1).unwrap();
        for kind in KINDS {
            let got = ours(kind, &x, &mask).unwrap();
            let want = reference(kind, &x, &mask).unwrap();
            assert_close(&got, &want, 1e-12, 1.0).unwrap();
        }
    }
}
