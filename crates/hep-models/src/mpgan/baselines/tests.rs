//! Tests of the MPGAN baselines: published parameter counts, masks, pooling invariances.

use candle_core::{DType, Device, IndexOp, Tensor};
use candle_nn::{VarBuilder, VarMap};
use rand::SeedableRng;
use rand::rngs::StdRng;

use super::*;

fn vb(vm: &VarMap) -> VarBuilder<'_> {
    VarBuilder::from_varmap(vm, DType::F32, &Device::Cpu)
}

fn param_count(vm: &VarMap) -> usize {
    vm.all_vars().iter().map(|v| v.elem_count()).sum()
}

#[test]
fn parameter_counts_match_the_published_models() {
    let cfg = MpGanConfig::default();
    let vm = VarMap::new();
    Generator::new(GeneratorKind::Fc { latent: 128 }, &cfg, vb(&vm)).unwrap();
    assert_eq!(param_count(&vm), 28_186);
    let vm = VarMap::new();
    Discriminator::new(DiscriminatorKind::PointNetMix, &cfg, 0.5, vb(&vm)).unwrap();
    assert_eq!(param_count(&vm), 1_190_273);
    let vm = VarMap::new();
    Generator::new(GeneratorKind::Mp, &cfg, vb(&vm)).unwrap();
    assert_eq!(param_count(&vm), 361_123);
    let vm = VarMap::new();
    Generator::new(GeneratorKind::MpLfc { latent: 128 }, &cfg, vb(&vm)).unwrap();
    assert_eq!(param_count(&vm), 361_123 + 128 * 960 + 960);
}

fn small() -> MpGanConfig {
    MpGanConfig {
        num_particles: 8,
        hidden_node_size: 6,
        fe: vec![8, 8],
        fn_: vec![8],
        ..Default::default()
    }
}

#[test]
fn every_generator_gives_the_requested_multiplicities() {
    let counts = Tensor::new(&[8u32, 3, 0, 5], &Device::Cpu).unwrap();
    for kind in [
        GeneratorKind::Mp,
        GeneratorKind::MpLfc { latent: 10 },
        GeneratorKind::Fc { latent: 10 },
    ] {
        let vm = VarMap::new();
        let g = Generator::new(kind, &small(), vb(&vm)).unwrap();
        assert_eq!(g.kind(), kind);
        let z = g
            .noise(4, &mut StdRng::seed_from_u64(1), &Device::Cpu)
            .unwrap();
        let out = g.forward(&z, &counts).unwrap();
        assert_eq!(out.dims(), [4, 8, 4], "{kind}");
        let mask: Vec<Vec<f32>> = (out.i((.., .., 3)).unwrap() + 0.5)
            .unwrap()
            .to_vec2()
            .unwrap();
        let real: Vec<f32> = mask.iter().map(|m| m.iter().sum()).collect();
        assert_eq!(real, [8.0, 3.0, 0.0, 5.0], "{kind}");
        let feats: Vec<f32> = out
            .i((.., .., 0..3))
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap();
        assert!(
            feats.iter().all(|v| v.abs() <= 1.0 && v.is_finite()),
            "{kind}"
        );
    }
}

#[test]
fn fc_generator_keeps_the_highest_pt_particles() {
    let vm = VarMap::new();
    let g = Generator::new(GeneratorKind::Fc { latent: 12 }, &small(), vb(&vm)).unwrap();
    let z = g
        .noise(3, &mut StdRng::seed_from_u64(5), &Device::Cpu)
        .unwrap();
    let out = g
        .forward(&z, &Tensor::new(&[2u32, 4, 7], &Device::Cpu).unwrap())
        .unwrap();
    let pt: Vec<Vec<f32>> = out.i((.., .., 2)).unwrap().to_vec2().unwrap();
    let mask: Vec<Vec<f32>> = out.i((.., .., 3)).unwrap().to_vec2().unwrap();
    for (p, m) in pt.iter().zip(&mask) {
        let min_real = p
            .iter()
            .zip(m)
            .filter(|(_, m)| **m > 0.0)
            .map(|(p, _)| *p)
            .fold(f32::INFINITY, f32::min);
        let max_fake = p
            .iter()
            .zip(m)
            .filter(|(_, m)| **m < 0.0)
            .map(|(p, _)| *p)
            .fold(f32::NEG_INFINITY, f32::max);
        assert!(min_real >= max_fake, "{p:?} {m:?}");
    }
}

#[test]
fn pointnet_mix_ignores_padding_and_particle_order() {
    let vm = VarMap::new();
    let d = Discriminator::new(DiscriminatorKind::PointNetMix, &small(), 0.0, vb(&vm)).unwrap();
    // one jet of 8 slots, 5 real
    let mut x: Vec<f32> = (0..8)
        .flat_map(|i| {
            let real = i < 5;
            let v = i as f32 * 0.1 - 0.3;
            [v, -v * 0.5, 0.2 + v * 0.3, if real { 0.5 } else { -0.5 }]
        })
        .collect();
    let p0: f32 = d
        .forward(
            &Tensor::from_slice(&x, (1, 8, 4), &Device::Cpu).unwrap(),
            None,
        )
        .unwrap()
        .i(0)
        .unwrap()
        .to_scalar()
        .unwrap();
    // change a padded particle's features: no effect
    x[6 * 4] = 0.9;
    x[6 * 4 + 2] = -0.7;
    // swap two real particles: no effect
    for k in 0..4 {
        x.swap(k, 3 * 4 + k);
    }
    let p1: f32 = d
        .forward(
            &Tensor::from_slice(&x, (1, 8, 4), &Device::Cpu).unwrap(),
            None,
        )
        .unwrap()
        .i(0)
        .unwrap()
        .to_scalar()
        .unwrap();
    assert!((p0 - p1).abs() < 1e-6, "{p0} vs {p1}");
    // change a real particle: an effect
    x[0] += 0.5;
    let p2: f32 = d
        .forward(
            &Tensor::from_slice(&x, (1, 8, 4), &Device::Cpu).unwrap(),
            None,
        )
        .unwrap()
        .i(0)
        .unwrap()
        .to_scalar()
        .unwrap();
    assert!((p0 - p2).abs() > 1e-7, "{p0} vs {p2}");
    assert!(
        d.forward(
            &Tensor::zeros((1, 8, 3), DType::F32, &Device::Cpu).unwrap(),
            None
        )
        .is_err()
    );
}

#[test]
fn kinds_parse_and_reject_unknown_names() {
    for name in ["mp", "mp-lfc", "fc"] {
        assert_eq!(name.parse::<GeneratorKind>().unwrap().name(), name);
    }
    for name in ["mp", "pointnet"] {
        assert_eq!(name.parse::<DiscriminatorKind>().unwrap().name(), name);
    }
    assert!("treegan".parse::<GeneratorKind>().is_err());
    assert!("fc".parse::<DiscriminatorKind>().is_err());
    let vm = VarMap::new();
    assert!(Generator::new(GeneratorKind::Fc { latent: 0 }, &small(), vb(&vm)).is_err());
}

#[test]
fn wrong_latent_shapes_are_typed_errors() {
    let vm = VarMap::new();
    let g = Generator::new(GeneratorKind::MpLfc { latent: 10 }, &small(), vb(&vm)).unwrap();
    let z = Tensor::zeros((2, 9), DType::F32, &Device::Cpu).unwrap();
    let n = Tensor::new(&[1u32, 2], &Device::Cpu).unwrap();
    assert!(matches!(
        g.forward(&z, &n),
        Err(Error::Shape { arg: "z", .. })
    ));
}
