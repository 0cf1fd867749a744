//! `hepgen generate`: jets from an MPGAN generator checkpoint (ours in safetensors, or a
//! published PyTorch `.pt` state dict), batched, seeded, to Parquet or `.npy`.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail, ensure};
use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use clap::Args;
use hep_data::npy::{JetArrayOptions, jets_from_array, read_npy, write_npy};
use hep_data::{JetType, Source};
use hep_models::mpgan::{Generator, GeneratorKind, MpGanConfig, to_physical_with};
use rand::SeedableRng;

/// Arguments of `hepgen generate`.
#[derive(Args)]
pub struct GenerateArgs {
    /// Generator weights: `.safetensors` (ours) or `.pt` (a PyTorch MPGAN state dict).
    #[arg(long)]
    pub(crate) checkpoint: PathBuf,
    /// Jet type, for the output normalisation (g, q or t).
    #[arg(long)]
    pub(crate) jet_type: String,
    /// Number of jets (default: all of `--noise`, else 50000).
    #[arg(long)]
    pub(crate) n: Option<usize>,
    /// Output file: `.parquet` or `.npy` (`[N, 30, 4]` with mask).
    #[arg(long)]
    pub(crate) out: PathBuf,
    /// Jets per generator call.
    #[arg(long, default_value_t = 1024)]
    pub(crate) batch: usize,
    /// Seed of the noise and multiplicity draws.
    #[arg(long, default_value_t = 0)]
    pub(crate) seed: u64,
    /// Draw multiplicities from this jet file (default: the shipped sample of the jet type).
    #[arg(long)]
    pub(crate) multiplicities_from: Option<PathBuf>,
    /// Use this noise `[N, 30, 32]` (σ already applied) instead of drawing it.
    #[arg(long)]
    pub(crate) noise: Option<PathBuf>,
    /// Use these multiplicities `[N]` instead of drawing them.
    #[arg(long)]
    pub(crate) num_particles: Option<PathBuf>,
    /// Write the network's normalised output `[N, 30, 4]` (`.npy` only), for comparisons
    /// with a reference implementation.
    #[arg(long)]
    pub(crate) raw: bool,
    /// `cpu`, or `cuda` (GPU 0; needs a binary built with the `cuda` feature, e.g. by
    /// `cargo xtask cuda`; falls back to the CPU with the reason when CUDA is unusable).
    #[arg(long, default_value = "cpu")]
    pub(crate) device: String,
}

/// The device named by `--device`, announcing a fallback to the CPU.
pub fn device_from_arg(name: &str) -> Result<Device> {
    let prefer_cuda = match name {
        "cpu" => false,
        "cuda" | "gpu" => true,
        other => bail!("--device {other}: expected cpu or cuda"),
    };
    let choice = hep_sparse::select_device(prefer_cuda, 0);
    if let Some(reason) = &choice.fallback_reason {
        eprintln!("{reason}");
    }
    Ok(choice.device)
}

/// Load generator weights of `kind` from `.pt` or `.safetensors`.
pub fn load_generator(
    path: &Path,
    kind: GeneratorKind,
    cfg: &MpGanConfig,
    dev: &Device,
) -> Result<Generator> {
    let vb = match path.extension().and_then(|e| e.to_str()) {
        Some("pt") | Some("pth") => VarBuilder::from_pth(path, DType::F32, dev)?,
        Some("safetensors") => {
            let tensors = candle_core::safetensors::load(path, dev)?;
            VarBuilder::from_tensors(tensors, DType::F32, dev)
        }
        _ => bail!(
            "{}: expected a .pt or .safetensors checkpoint",
            path.display()
        ),
    };
    Generator::new(kind, cfg, vb)
        .with_context(|| format!("{}: not a {kind} generator checkpoint", path.display()))
}

fn multiplicities(
    a: &GenerateArgs,
    jet_type: JetType,
    n: usize,
    rng: &mut impl rand::Rng,
) -> Result<Vec<u32>> {
    if let Some(p) = &a.num_particles {
        let arr = read_npy(p)?;
        ensure!(
            arr.shape == [n],
            "{}: shape {:?}, expected [{n}]",
            p.display(),
            arr.shape
        );
        return Ok(arr.to_f64().iter().map(|&v| v.round() as u32).collect());
    }
    let from = a
        .multiplicities_from
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("datasets/jetnet30_{jet_type}_20k.parquet")));
    ensure!(
        from.exists(),
        "no multiplicity source: {} does not exist; pass --multiplicities-from FILE or --num-particles FILE.npy",
        from.display()
    );
    let real = hep_data::parquet::read_jets(&from)?;
    let pool = &real.jets().num_particles;
    Ok((0..n)
        .map(|_| pool[rng.random_range(0..pool.len())])
        .collect())
}

/// Order each jet's real particles by decreasing pT_rel (JetNet's order), padding last.
fn sort_by_pt(feats: &mut [f32], mask: &mut [f32], slots: usize) {
    for (f, m) in feats
        .chunks_exact_mut(slots * 3)
        .zip(mask.chunks_exact_mut(slots))
    {
        let mut idx: Vec<usize> = (0..slots).collect();
        idx.sort_by(|&a, &b| {
            m[b].total_cmp(&m[a])
                .then(f[b * 3 + 2].total_cmp(&f[a * 3 + 2]))
        });
        let (f0, m0) = (f.to_vec(), m.to_vec());
        for (dst, &src) in idx.iter().enumerate() {
            f[dst * 3..dst * 3 + 3].copy_from_slice(&f0[src * 3..src * 3 + 3]);
            m[dst] = m0[src];
        }
    }
}

pub fn run(a: GenerateArgs) -> Result<()> {
    let jet_type: JetType = a.jet_type.parse()?;
    ensure!(a.batch > 0, "--batch must be positive");
    let dev = device_from_arg(&a.device)?;
    // Our checkpoints carry their architecture and normalisation in a JSON beside them;
    // published weights use the paper architecture and the published constants.
    let saved = crate::train::saved_generator(&a.checkpoint)?;
    let model_cfg = saved.as_ref().map(|s| s.size.config()).unwrap_or_default();
    let kind = saved.as_ref().map_or(GeneratorKind::Mp, |s| s.kind);
    let norm = match &saved {
        Some(s) => s.norm.clone(),
        None => hep_data::normalise::mpgan_particle_norm(jet_type).with_context(|| {
            format!(
                "no normalisation for {jet_type} jets: published MPGAN constants exist for g, q, t"
            )
        })?,
    };
    let g = load_generator(&a.checkpoint, kind, &model_cfg, &dev)?;
    let slots = g.num_particles();
    let noise_shape = g.noise_shape();
    let hidden: usize = noise_shape.iter().product();
    let given_noise = match &a.noise {
        Some(p) => {
            let arr = read_npy(p)?;
            ensure!(
                arr.shape.len() == noise_shape.len() + 1 && arr.shape[1..] == noise_shape[..],
                "{}: shape {:?}, expected [N, {}] for a {kind} generator",
                p.display(),
                arr.shape,
                noise_shape
                    .iter()
                    .map(|d| d.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            Some((arr.shape[0], arr.to_f32()))
        }
        None => None,
    };
    let n = a.n.or(given_noise.as_ref().map(|g| g.0)).unwrap_or(50_000);
    if let Some((m, _)) = &given_noise {
        ensure!(n <= *m, "--n {n} exceeds the {m} jets of --noise");
    }
    let mut rng = rand::rngs::StdRng::seed_from_u64(a.seed);
    let counts = multiplicities(&a, jet_type, n, &mut rng)?;
    let t0 = Instant::now();
    let mut out = Vec::with_capacity(n * slots * 4);
    let mut done = 0;
    while done < n {
        let b = a.batch.min(n - done);
        let noise = match &given_noise {
            Some((_, v)) => {
                let mut shape = vec![b];
                shape.extend_from_slice(&noise_shape);
                Tensor::from_slice(&v[done * hidden..(done + b) * hidden], shape, &dev)?
            }
            None => g.noise(b, &mut rng, &dev)?,
        };
        let np = Tensor::from_slice(&counts[done..done + b], b, &dev)?;
        let o: Vec<f32> = g.forward(&noise, &np)?.flatten_all()?.to_vec1()?;
        out.extend_from_slice(&o);
        done += b;
        if n >= 10 * a.batch && (done / a.batch).is_multiple_of((n / a.batch / 10).max(1)) {
            eprintln!(
                "  {done}/{n} jets ({:.0} jets/s)",
                done as f64 / t0.elapsed().as_secs_f64()
            );
        }
    }
    let secs = t0.elapsed().as_secs_f64();
    if a.raw {
        ensure!(
            a.out.extension().is_some_and(|e| e == "npy"),
            "--raw writes .npy only"
        );
        write_npy(&a.out, &[n, slots, model_cfg.output_features + 1], &out)?;
    } else {
        let (mut feats, mut mask) = to_physical_with(&out, &norm)?;
        sort_by_pt(&mut feats, &mut mask, slots);
        let mut arr = Vec::with_capacity(n * slots * 4);
        for (f, m) in feats.chunks_exact(3).zip(&mask) {
            arr.extend_from_slice(f);
            arr.push(*m);
        }
        let ds = jets_from_array(
            &Source::Memory,
            &[n, slots, 4],
            &arr,
            JetArrayOptions::new(jet_type),
        )?;
        if a.out.extension().is_some_and(|e| e == "npy") {
            hep_data::npy::write_jets_npy(&a.out, &ds, true)?;
        } else {
            let provenance = serde_json::json!({
                "kind": format!("generated: {kind} generator"),
                "checkpoint": a.checkpoint.display().to_string(),
                "jet_type": jet_type.label(),
                "seed": a.seed,
                "n_jets": n,
                "note": "jet_pt/jet_eta/jet_mass are computed from the particles (relative units)",
                "producer": format!("hepgen {}", env!("CARGO_PKG_VERSION")),
            });
            hep_data::parquet::write_jets(&a.out, &ds.with_provenance(provenance.to_string()))?;
        }
    }
    println!(
        "generated {n} {jet_type} jets in {secs:.2} s ({:.0} jets/s, {:.1} µs/jet, batch {}, {}) -> {}",
        n as f64 / secs,
        secs / n as f64 * 1e6,
        a.batch,
        if dev.is_cuda() { "CUDA" } else { "CPU" },
        a.out.display()
    );
    Ok(())
}
