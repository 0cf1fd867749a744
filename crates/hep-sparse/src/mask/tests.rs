//! Unit tests for `mask`: the MPGAN rank rule against an argsort-of-argsort reference,
//! thresholds, masked fill and input validation.

use candle_core::{DType, Device, Tensor, Var};
use proptest::prelude::*;

use super::*;
use crate::test_util::{randn, test_device};

/// MPGAN's reference rule with plain candle ops: `rank = argsort(argsort(noise[..., 0]))`,
/// `mask = rank < n`.
fn rank_reference(noise: &Tensor, n: &[u32]) -> anyhow::Result<Tensor> {
    let key = noise
        .narrow(2, 0, 1)?
        .squeeze(2)?
        .to_dtype(DType::F32)?
        .contiguous()?;
    let rank = key.arg_sort_last_dim(true)?.arg_sort_last_dim(true)?;
    let n = Tensor::new(n, noise.device())?.unsqueeze(1)?;
    Ok(rank.broadcast_lt(&n)?.to_dtype(noise.dtype())?)
}

fn rank_matches_reference(dev: &Device) -> anyhow::Result<()> {
    let (b, n) = (6, 30);
    let noise = randn(&[b, n, 4], 0.2, DType::F32, dev, 1)?;
    let counts: Vec<u32> = vec![0, 1, 7, 15, 29, 30];
    let nf = Tensor::new(counts.iter().map(|&c| c as f32).collect::<Vec<_>>(), dev)?;
    let got = mask_from_multiplicity(&noise, &nf)?;
    let want = rank_reference(&noise.to_device(&Device::Cpu)?, &counts)?;
    let got_cpu: Vec<Vec<f32>> = got.to_device(&Device::Cpu)?.to_vec2()?;
    assert_eq!(got_cpu, want.to_vec2::<f32>()?);
    for (row, &c) in got_cpu.iter().zip(&counts) {
        assert_eq!(row.iter().sum::<f32>() as u32, c);
    }
    Ok(())
}
test_device!(
    rank_matches_reference,
    rank_matches_reference_cpu,
    rank_matches_reference_cuda
);

#[test]
fn rank_rounds_and_breaks_ties_by_index() -> anyhow::Result<()> {
    let dev = Device::Cpu;
    // Jet 0: all keys equal -> the lowest indices win. Jet 1: distinct keys.
    let noise = Tensor::new(&[[0.5f64, 0.5, 0.5, 0.5], [0.4, -1.0, 0.3, 2.0]], &dev)?;
    let n = Tensor::new(&[1.6f64, 2.4], &dev)?; // rounds to 2 and 2
    let m = mask_from_multiplicity(&noise, &n)?.to_vec2::<f64>()?;
    assert_eq!(m, vec![vec![1.0, 1.0, 0.0, 0.0], vec![0.0, 1.0, 1.0, 0.0]]);
    // Integer multiplicities work as well.
    let n = Tensor::new(&[3u32, 0], &dev)?;
    let m = mask_from_multiplicity(&noise, &n)?.to_vec2::<f64>()?;
    assert_eq!(m, vec![vec![1.0, 1.0, 1.0, 0.0], vec![0.0; 4]]);
    Ok(())
}

#[test]
fn rank_rejects_bad_inputs() -> anyhow::Result<()> {
    let dev = Device::Cpu;
    let noise = Tensor::new(&[[0.1f32, f32::NAN], [0.0, 1.0]], &dev)?;
    let n = Tensor::new(&[1f32, 1.0], &dev)?;
    assert!(matches!(
        mask_from_multiplicity(&noise, &n),
        Err(Error::NotANumber { index: 1, .. })
    ));
    let noise = Tensor::zeros((2, 3), DType::F32, &dev)?;
    let n = Tensor::new(&[1f32, 3.6], &dev)?;
    assert!(matches!(
        mask_from_multiplicity(&noise, &n),
        Err(Error::InvalidMultiplicity { jet: 1, max: 3, .. })
    ));
    let n = Tensor::new(&[-0.7f32, 1.0], &dev)?;
    assert!(matches!(
        mask_from_multiplicity(&noise, &n),
        Err(Error::InvalidMultiplicity { jet: 0, .. })
    ));
    let n = Tensor::new(&[1f32, 1.0, 1.0], &dev)?;
    assert!(matches!(
        mask_from_multiplicity(&noise, &n),
        Err(Error::ShapeMismatch { arg: "n", .. })
    ));
    let n = Tensor::new(&[1u32, 1], &dev)?;
    assert!(matches!(
        mask_from_multiplicity(&n, &n),
        Err(Error::DTypeMismatch { arg: "noise", .. })
    ));
    Ok(())
}

#[test]
fn threshold_and_fill() -> anyhow::Result<()> {
    let dev = Device::Cpu;
    let x = Tensor::new(&[[[0.0f64, 0.5], [1.0, -0.2], [2.0, 0.3]]], &dev)?; // [1, 3, 2]
    let m = mask_from_threshold(&x, 1, 0.0)?;
    assert_eq!(m.to_vec2::<f64>()?, vec![vec![1.0, 0.0, 1.0]]);
    assert!(matches!(
        mask_from_threshold(&x, 2, 0.0),
        Err(Error::ShapeMismatch { .. })
    ));

    let xv = Var::from_tensor(&x)?;
    let y = masked_fill(&xv, &m, -7.0)?;
    assert_eq!(
        y.to_vec3::<f64>()?,
        vec![vec![vec![0.0, 0.5], vec![-7.0, -7.0], vec![2.0, 0.3]]]
    );
    let grads = (y.sum_all()?).backward()?;
    let g = grads.get(&xv).expect("gradient of x");
    assert_eq!(
        g.to_vec3::<f64>()?,
        vec![vec![vec![1.0, 1.0], vec![0.0, 0.0], vec![1.0, 1.0]]]
    );
    // u8 masks are accepted; masks of another float dtype are not.
    let m8 = Tensor::new(&[[1u8, 0, 1]], &dev)?;
    assert_eq!(
        masked_fill(&x, &m8, -7.0)?.to_vec3::<f64>()?,
        y.to_vec3::<f64>()?
    );
    let m32 = m.to_dtype(DType::F32)?;
    assert!(matches!(
        masked_fill(&x, &m32, 0.0),
        Err(Error::DTypeMismatch { arg: "mask", .. })
    ));
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]
    #[test]
    fn rank_rule_properties(
        b in 1usize..5,
        n in prop_oneof![Just(1usize), 2usize..40, Just(150usize)],
        seed in 0u64..1000,
        frac in prop::collection::vec(0.0f64..=1.0, 5),
    ) {
        let dev = Device::Cpu;
        let noise = randn(&[b, n, 2], 1.0, DType::F64, &dev, seed).unwrap();
        let counts: Vec<f64> = (0..b).map(|i| frac[i] * n as f64).collect();
        let nt = Tensor::new(counts.as_slice(), &dev).unwrap();
        let m = mask_from_multiplicity(&noise, &nt).unwrap().to_vec2::<f64>().unwrap();
        let key = noise.narrow(2, 0, 1).unwrap().squeeze(2).unwrap().to_vec2::<f64>().unwrap();
        for jet in 0..b {
            let real: Vec<f64> = (0..n).filter(|&i| m[jet][i] == 1.0).map(|i| key[jet][i]).collect();
            let pad: Vec<f64> = (0..n).filter(|&i| m[jet][i] == 0.0).map(|i| key[jet][i]).collect();
            prop_assert_eq!(real.len(), counts[jet].round() as usize);
            let max_real = real.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            let min_pad = pad.iter().cloned().fold(f64::INFINITY, f64::min);
            prop_assert!(max_real <= min_pad);
        }
    }
}
