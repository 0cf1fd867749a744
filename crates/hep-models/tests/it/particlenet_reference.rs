//! jetnet's ParticleNet (weights from the jetnet 0.2.5 wheel) reproduces the fc1 activations of
//! a PyTorch implementation with the same weights (`tests/fixtures/fpnd_reference.safetensors`,
//! written by `cargo xtask fixtures fpnd`).

use std::path::PathBuf;

use candle_core::{DType, Device};
use candle_nn::VarBuilder;
use hep_models::particlenet::ParticleNet;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn activations_match_pytorch() {
    let dev = Device::Cpu;
    let w = candle_core::safetensors::load(
        root().join("../hep-metrics/resources/fpnd/particlenet_jetnet30.safetensors"),
        &dev,
    )
    .unwrap();
    let net = ParticleNet::new(30, VarBuilder::from_tensors(w, DType::F32, &dev)).unwrap();
    let fx = candle_core::safetensors::load(
        root().join("tests/fixtures/fpnd_reference.safetensors"),
        &dev,
    )
    .unwrap();
    let got = net.activations(&fx["jets"]).unwrap();
    let want = &fx["activations"];
    assert_eq!(got.dims(), &[64, 256]);
    let err: f32 = (&got - want)
        .unwrap()
        .abs()
        .unwrap()
        .max_all()
        .unwrap()
        .to_scalar()
        .unwrap();
    let scale: f32 = want.abs().unwrap().max_all().unwrap().to_scalar().unwrap();
    eprintln!("max abs error {err:e} (activation scale {scale})");
    assert!(err <= 1e-4 * scale, "max abs error {err} vs scale {scale}");
}
