//! Unit tests of the MPGAN generator on random weights.

use super::*;
use candle_core::DType;
use candle_nn::VarMap;
use rand::SeedableRng;

fn rng() -> rand::rngs::StdRng {
    rand::rngs::StdRng::seed_from_u64(7)
}

fn generator(cfg: &MpGanConfig) -> (VarMap, MpGenerator) {
    let vm = VarMap::new();
    let vb = VarBuilder::from_varmap(&vm, DType::F32, &Device::Cpu);
    let g = MpGenerator::new(cfg, vb).unwrap();
    (vm, g)
}

#[test]
fn output_shape_and_mask_column() {
    let (_vm, g) = generator(&MpGanConfig::default());
    let noise = g.noise(4, &mut rng(), &Device::Cpu).unwrap();
    let n = Tensor::new(&[30u32, 1, 0, 17], &Device::Cpu).unwrap();
    let out = g.forward(&noise, &n).unwrap();
    assert_eq!(out.dims(), &[4, 30, 4]);
    let m = out.narrow(2, 3, 1).unwrap().squeeze(2).unwrap();
    let real: Vec<f32> = (m + 0.5).unwrap().sum(1).unwrap().to_vec1().unwrap();
    assert_eq!(real, vec![30.0, 1.0, 0.0, 17.0]);
    let feats: Vec<f32> = out
        .narrow(2, 0, 3)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1()
        .unwrap();
    assert!(feats.iter().all(|v| v.abs() <= 1.0 && v.is_finite()));
}

#[test]
fn masked_senders_do_not_influence_real_particles() {
    // Changing the noise of padded particles (other than their rank key) must not change the
    // output of real particles: they never send messages.
    let (_vm, g) = generator(&MpGanConfig::default());
    let noise = g.noise(1, &mut rng(), &Device::Cpu).unwrap();
    let n = Tensor::new(&[5u32], &Device::Cpu).unwrap();
    let a = g.forward(&noise, &n).unwrap();
    let mask = hep_sparse::mask_from_multiplicity(&noise, &n).unwrap();
    // perturb features 1.. of padded particles only
    let pad = (1.0 - &mask).unwrap().unsqueeze(2).unwrap();
    let keep_rank = Tensor::cat(
        &[
            Tensor::zeros((1, 30, 1), DType::F32, &Device::Cpu).unwrap(),
            Tensor::ones((1, 30, 31), DType::F32, &Device::Cpu).unwrap(),
        ],
        2,
    )
    .unwrap();
    let noise2 = (&noise + pad.broadcast_mul(&keep_rank).unwrap()).unwrap();
    let b = g.forward(&noise2, &n).unwrap();
    let real = mask.unsqueeze(2).unwrap();
    let diff = (a - b)
        .unwrap()
        .broadcast_mul(&real)
        .unwrap()
        .abs()
        .unwrap()
        .max_all()
        .unwrap();
    assert!(diff.to_scalar::<f32>().unwrap() < 1e-6);
}

#[test]
fn bad_inputs_are_errors() {
    let (_vm, g) = generator(&MpGanConfig::default());
    let noise = Tensor::zeros((2, 30, 16), DType::F32, &Device::Cpu).unwrap();
    let n = Tensor::new(&[3u32, 4], &Device::Cpu).unwrap();
    assert!(matches!(g.forward(&noise, &n), Err(Error::Shape { .. })));
    let noise = g.noise(2, &mut rng(), &Device::Cpu).unwrap();
    let n = Tensor::new(&[31u32, 4], &Device::Cpu).unwrap();
    assert!(g.forward(&noise, &n).is_err());
    let cfg = MpGanConfig {
        mp_iters: 0,
        ..Default::default()
    };
    assert!(matches!(cfg.validate(), Err(Error::InvalidConfig { .. })));
}

#[test]
fn physical_features_are_unnormalised_masked_and_clipped() {
    // one particle real with pT below zero after un-normalisation, one padded
    let out = [0.5f32, -0.5, -0.6, 0.5, 0.3, 0.2, 0.1, -0.5];
    let (f, m) = to_physical(&out, JetType::G).unwrap();
    assert_eq!(m, vec![1.0, 0.0]);
    assert!((f[0] - 0.5 * 1.4532885551452637f64 as f32).abs() < 1e-6);
    assert!((f[1] + 0.5 * 0.520724892616272f64 as f32).abs() < 1e-6);
    assert_eq!(f[2], 0.0);
    assert_eq!(&f[3..], &[0.0, 0.0, 0.0]);
    assert!(to_physical(&out, JetType::W).is_err());
}

#[test]
fn seeded_noise_is_reproducible() {
    let (_vm, g) = generator(&MpGanConfig::default());
    let a: Vec<f32> = g
        .noise(3, &mut rng(), &Device::Cpu)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1()
        .unwrap();
    let b: Vec<f32> = g
        .noise(3, &mut rng(), &Device::Cpu)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1()
        .unwrap();
    assert_eq!(a, b);
    let sd = (a.iter().map(|x| x * x).sum::<f32>() / a.len() as f32).sqrt();
    assert!((sd - 0.2).abs() < 0.01, "{sd}");
}
