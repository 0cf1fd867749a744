//! The published MPGAN gluon generator (PyTorch state dict) reproduces the reference PyTorch
//! output of `golden_g.npz` (noise [64,30,32], num_particles [64], output [64,30,4]).
//!
//! The reference files live in the project's `shared/reference/mpgan/` (beside the
//! repository); `HEP_MPGAN_REFERENCE` may point elsewhere.

use std::path::PathBuf;

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use hep_data::JetType;
use hep_models::mpgan::{MpGanConfig, MpGenerator, to_physical};

fn reference_dir() -> PathBuf {
    let dir = std::env::var_os("HEP_MPGAN_REFERENCE")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/reference/mpgan")
        });
    assert!(
        dir.join("golden_g.npz").exists(),
        "published MPGAN reference not found at {} (set HEP_MPGAN_REFERENCE)",
        dir.display()
    );
    dir
}

#[test]
fn published_gluon_generator_reproduces_pytorch_output() {
    let dir = reference_dir();
    let dev = Device::Cpu;
    let vb = VarBuilder::from_pth(dir.join("mp_g/G_best_epoch.pt"), DType::F32, &dev).unwrap();
    let g = MpGenerator::new(&MpGanConfig::default(), vb).unwrap();
    let golden = Tensor::read_npz(dir.join("golden_g.npz")).unwrap();
    let get = |name: &str| golden.iter().find(|(k, _)| k == name).unwrap().1.clone();
    let (noise, n, want) = (get("noise"), get("num_particles"), get("output"));
    let got = g.forward(&noise, &n).unwrap();
    assert_eq!(got.dims(), want.dims());
    let err: f32 = (got - &want)
        .unwrap()
        .abs()
        .unwrap()
        .max_all()
        .unwrap()
        .to_scalar()
        .unwrap();
    eprintln!("max abs error vs the PyTorch reference: {err:e}");
    assert!(err <= 1e-5, "max abs error {err}");

    // physical features: masked particles zeroed, pT_rel ≥ 0, multiplicities as requested
    let out: Vec<f32> = want.flatten_all().unwrap().to_vec1().unwrap();
    let (feats, mask) = to_physical(&out, JetType::G).unwrap();
    let counts: Vec<f32> = mask.chunks(30).map(|m| m.iter().sum()).collect();
    let n: Vec<f32> = n.to_vec1().unwrap();
    assert_eq!(counts, n);
    assert!(feats.chunks(3).all(|p| p[2] >= 0.0));
}

#[test]
fn published_quark_and_top_generators_load_and_run() {
    let dir = reference_dir();
    for t in ["q", "t"] {
        let vb = VarBuilder::from_pth(
            dir.join(format!("mp_{t}/G_best_epoch.pt")),
            DType::F32,
            &Device::Cpu,
        )
        .unwrap();
        let g = MpGenerator::new(&MpGanConfig::default(), vb).unwrap();
        let mut rng = <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(1);
        let noise = g.noise(8, &mut rng, &Device::Cpu).unwrap();
        let n = Tensor::new(&[30u32, 25, 20, 15, 10, 5, 2, 1], &Device::Cpu).unwrap();
        let out = g.forward(&noise, &n).unwrap();
        assert_eq!(out.dims(), &[8, 30, 4]);
        let v: Vec<f32> = out.flatten_all().unwrap().to_vec1().unwrap();
        assert!(v.iter().all(|x| x.is_finite()), "{t}");
    }
}
