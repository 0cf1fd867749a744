//! FPND, the Fréchet ParticleNet Distance: the Fréchet distance between the 256 `fc1`
//! activations of jetnet's ParticleNet on the generated jets and the same statistics measured
//! on real JetNet30 jets, which ship inside the `jetnet` 0.2.5 wheel (g, q, t).
//!
//! ```text
//! x = fpnd_norm(jets[:50000, :, :3])      η/1.6212, φ/0.5207, pT/0.8935 − 0.5, padding included
//! a = ParticleNet.fc1(x)                  [n, 256]
//! FPND = ‖μ_real − μ_a‖² + tr(Σ_real + Σ_a − 2 (Σ_real Σ_a)^{1/2})     Σ_a with ddof 1
//! ```
//! The weights and statistics are compiled in (`resources/fpnd/`, produced by
//! `cargo xtask fixtures fpnd` from the hash-checked wheel), so FPND needs no files at run time.
//!
//! ## References
//! `jetnet` 0.2.5, `jetnet/evaluation/gen_metrics.py::fpnd` and `particlenet.py`;
//! R. Kansal et al., arXiv:2106.11535.

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use hep_data::JetType;
use hep_models::particlenet::ParticleNet;
use rayon::prelude::*;

use crate::frechet::{frechet_distance, weighted_mean_cov};
use crate::{Error, JetsView, Result};

static PARTICLENET: &[u8] = include_bytes!("../resources/fpnd/particlenet_jetnet30.safetensors");
static STATS_G: &[u8] = include_bytes!("../resources/fpnd/fpnd_g.safetensors");
static STATS_Q: &[u8] = include_bytes!("../resources/fpnd/fpnd_q.safetensors");
static STATS_T: &[u8] = include_bytes!("../resources/fpnd/fpnd_t.safetensors");

/// Jets used at most (jetnet's `NUM_SAMPLES`).
pub const FPND_MAX_JETS: usize = 50_000;
/// Particles per jet the network was trained on.
pub const FPND_PARTICLES: usize = 30;
const SUPPORTED: &[&str] = &["g", "q", "t"];
const BATCH: usize = 64;

fn model_err(e: impl std::fmt::Display) -> Error {
    Error::Model {
        reason: e.to_string(),
    }
}

/// The real-JetNet activation mean `[256]` and covariance `[256·256]` for `jet_type`.
///
/// # Errors
/// [`Error::UnsupportedJetType`] for w and z (no shipped statistics).
pub fn real_statistics(jet_type: JetType) -> Result<(Vec<f64>, Vec<f64>)> {
    let bytes = match jet_type {
        JetType::G => STATS_G,
        JetType::Q => STATS_Q,
        JetType::T => STATS_T,
        other => {
            return Err(Error::UnsupportedJetType {
                jet_type: other.label().to_string(),
                supported: SUPPORTED,
            });
        }
    };
    let t = candle_core::safetensors::load_buffer(bytes, &Device::Cpu).map_err(model_err)?;
    let get = |k: &str| -> Result<Vec<f64>> {
        t.get(k)
            .ok_or_else(|| model_err(format!("FPND statistics lack `{k}`")))?
            .flatten_all()
            .and_then(|x| x.to_vec1::<f64>())
            .map_err(model_err)
    };
    Ok((get("mu")?, get("sigma")?))
}

/// ParticleNet `fc1` activations `[n, 256]` of the first `n = min(N, 50 000)` jets.
///
/// # Shapes
/// `jets`: `[N, 30, F ≥ 3]` in JetNet order (η_rel, φ_rel, pT_rel, …); only the first 3
/// features are used, padded particles must be zero (as jetnet expects after
/// `gen_jet_corrections`).
///
/// # Errors
/// [`Error::DimensionMismatch`] unless there are 30 particles per jet; [`Error::EmptyInput`];
/// [`Error::NonFinite`]; [`Error::Model`] if the network fails.
pub fn fpnd_activations(jets: JetsView<'_>) -> Result<Vec<f64>> {
    let [n_all, p, f] = jets.shape();
    if p != FPND_PARTICLES {
        return Err(Error::DimensionMismatch {
            what: "particles per jet (FPND's ParticleNet was trained on 30)",
            lhs: p,
            rhs: FPND_PARTICLES,
        });
    }
    if n_all == 0 {
        return Err(Error::EmptyInput { argument: "jets" });
    }
    let n = n_all.min(FPND_MAX_JETS);
    let data = jets.data();
    if let Some((index, value)) = data[..n * p * f]
        .iter()
        .enumerate()
        .find(|(_, v)| !v.is_finite())
    {
        return Err(Error::NonFinite {
            argument: "jets",
            index,
            value: f64::from(*value),
        });
    }
    let dev = Device::Cpu;
    let weights = candle_core::safetensors::load_buffer(PARTICLENET, &dev).map_err(model_err)?;
    let net = ParticleNet::new(p, VarBuilder::from_tensors(weights, DType::F32, &dev))
        .map_err(model_err)?;
    let norm = hep_data::normalise::fpnd_norm();
    // Batches run in parallel; small ones keep the [jets·30·16, 256] edge tensors in cache.
    let batches: Vec<Vec<f32>> = (0..n)
        .step_by(BATCH)
        .collect::<Vec<_>>()
        .into_par_iter()
        .map(|start| -> Result<Vec<f32>> {
            let end = (start + BATCH).min(n);
            let mut x: Vec<f32> = Vec::with_capacity((end - start) * p * 3);
            for row in data[start * p * f..end * p * f].chunks_exact(f) {
                x.extend_from_slice(&row[..3]);
            }
            norm.forward(&mut x).map_err(model_err)?;
            let t = Tensor::from_vec(x, (end - start, p, 3), &dev).map_err(model_err)?;
            net.activations(&t)
                .and_then(|a| Ok(a.flatten_all()?.to_vec1()?))
                .map_err(model_err)
        })
        .collect::<Result<_>>()?;
    let out: Vec<f64> = batches.into_iter().flatten().map(f64::from).collect();
    Ok(out)
}

/// FPND of `jets` against the real-JetNet statistics of `jet_type`.
///
/// # Errors
/// As [`fpnd_activations`] and [`real_statistics`]; [`Error::TooFewSamples`] for fewer than 2
/// jets (no covariance).
pub fn fpnd(jets: JetsView<'_>, jet_type: JetType) -> Result<f64> {
    let (mu_r, sigma_r) = real_statistics(jet_type)?;
    let act = fpnd_activations(jets)?;
    let d = mu_r.len();
    let n = act.len() / d;
    if n < 2 {
        return Err(Error::TooFewSamples {
            argument: "jets",
            needed: 2,
            found: n,
        });
    }
    let (mu, sigma) = weighted_mean_cov(&act, d, &vec![1; n], n);
    frechet_distance(&mu_r, &sigma_r, &mu, &sigma)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn root() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
    }

    #[test]
    fn matches_reference_on_real_gluon_jets() {
        // Reference: the same weights in a PyTorch ParticleNet, jetnet 0.2.5's Fréchet code,
        // first 2000 jets of the shipped gluon sample (`cargo xtask fixtures fpnd`).
        let ds =
            hep_data::parquet::read_jets(&root().join("datasets/jetnet30_g_20k.parquet")).unwrap();
        let sub = ds.select(&(0..2000).collect::<Vec<_>>()).unwrap();
        let jets = JetsView::new(sub.particles(), [2000, 30, 3]).unwrap();
        let got = fpnd(jets, JetType::G).unwrap();
        let fx = candle_core::safetensors::load(
            root().join("crates/hep-models/tests/fixtures/fpnd_reference.safetensors"),
            &Device::Cpu,
        )
        .unwrap();
        let want: f64 = fx["fpnd_2000_g"].to_vec1::<f64>().unwrap()[0];
        assert!(
            (got - want).abs() <= 1e-4 * want,
            "fpnd {got} vs reference {want}"
        );
    }

    #[test]
    fn bad_inputs_are_typed_errors() {
        let zeros = vec![0f32; 2 * 30 * 3];
        let v = JetsView::new(&zeros, [2, 30, 3]).unwrap();
        assert!(matches!(
            fpnd(v, JetType::W),
            Err(Error::UnsupportedJetType { .. })
        ));
        let short = vec![0f32; 2 * 10 * 3];
        let v = JetsView::new(&short, [2, 10, 3]).unwrap();
        assert!(matches!(
            fpnd(v, JetType::G),
            Err(Error::DimensionMismatch { .. })
        ));
        let mut nan = zeros.clone();
        nan[5] = f32::NAN;
        let v = JetsView::new(&nan, [2, 30, 3]).unwrap();
        assert!(matches!(
            fpnd(v, JetType::G),
            Err(Error::NonFinite { index: 5, .. })
        ));
        let one = vec![0f32; 30 * 3];
        let v = JetsView::new(&one, [1, 30, 3]).unwrap();
        assert!(matches!(
            fpnd(v, JetType::G),
            Err(Error::TooFewSamples { .. })
        ));
        let (mu, sigma) = real_statistics(JetType::T).unwrap();
        assert_eq!((mu.len(), sigma.len()), (256, 256 * 256));
    }
}
