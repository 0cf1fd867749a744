//! `hepgen train`: train MPGAN on a jet Parquet file, with periodic W1M validation, best-epoch
//! selection, atomic checkpoints, a CSV log and exact `--resume`.
//!
//! The epoch-selection metric (W1M from hep-metrics) is wired here, in the binary, so that
//! hep-models never depends on hep-metrics.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, ensure};
use candle_core::{Device, Tensor};
use clap::{Args, ValueEnum};
use hep_data::JetDataset;
use hep_data::normalise::FeaturewiseLinearBounded;
use hep_data::split::{Split, SplitSpec};
use hep_metrics::wasserstein::{Bootstrap, w1m};
use hep_metrics::{JetsView, NumpyRng};
use hep_models::mpgan::train::{MpGanTrainer, TrainConfig};
use hep_models::mpgan::{
    DiscriminatorKind, Generator, GeneratorKind, MpGanConfig, to_physical_with,
};
use rand::SeedableRng;
use serde_json::{Value, json};

/// Model sizes.
#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
pub enum ModelSize {
    /// The published architecture (edge widths 96/160/192, node widths 256/256, 32 hidden).
    Paper,
    /// A small variant for CPU demonstrations and tests (16 hidden, edges 32/32, node 32).
    Small,
}

impl ModelSize {
    /// The architecture.
    pub fn config(self) -> MpGanConfig {
        match self {
            ModelSize::Paper => MpGanConfig::default(),
            ModelSize::Small => MpGanConfig {
                hidden_node_size: 16,
                fe: vec![32, 32],
                fn_: vec![32],
                ..Default::default()
            },
        }
    }

    fn name(self) -> &'static str {
        match self {
            ModelSize::Paper => "paper",
            ModelSize::Small => "small",
        }
    }
}

/// Arguments of `hepgen train`.
#[derive(Args)]
pub struct TrainArgs {
    /// Training jets (hep-data Parquet, JetNet30); split 70/15/15 like JetNet (seed 42).
    #[arg(long, default_value = "datasets/jetnet30_g_20k.parquet")]
    pub(crate) data: PathBuf,
    /// Output directory (checkpoints, best generator, log).
    #[arg(long, default_value = "out/mpgan")]
    pub(crate) out: PathBuf,
    /// Model size.
    #[arg(long, value_enum, default_value = "paper")]
    pub(crate) model: ModelSize,
    /// Epochs to train (in total, counting those of a resumed run).
    #[arg(long, default_value_t = 1)]
    pub(crate) epochs: usize,
    /// Jets per batch.
    #[arg(long, default_value_t = 256)]
    pub(crate) batch: usize,
    /// Stop each epoch after this many batches (0 = all); for quick CPU runs.
    #[arg(long, default_value_t = 0)]
    pub(crate) max_batches: usize,
    /// Validate (generate and compute W1M) every this many epochs.
    #[arg(long, default_value_t = 5)]
    pub(crate) eval_every: usize,
    /// Jets generated for each validation.
    #[arg(long, default_value_t = 5000)]
    pub(crate) eval_jets: usize,
    /// Seed of the weights, the data order and every random draw.
    #[arg(long, default_value_t = 4)]
    pub(crate) seed: u64,
    /// Continue the run in `--out` from its last checkpoint.
    #[arg(long)]
    pub(crate) resume: bool,
    /// Generator: `mp` (MPGAN), `mp-lfc` (one latent vector, 128) or `fc` (r-GAN).
    #[arg(long, default_value = "mp", value_parser = parse_generator)]
    pub(crate) generator: GeneratorKind,
    /// Discriminator: `mp` (MPGAN) or `pointnet` (r-GAN's PointNet-Mix).
    #[arg(long, default_value = "mp", value_parser = parse_discriminator)]
    pub(crate) discriminator: DiscriminatorKind,
}

fn parse_generator(s: &str) -> Result<GeneratorKind, String> {
    s.parse().map_err(|e: hep_models::Error| e.to_string())
}

fn parse_discriminator(s: &str) -> Result<DiscriminatorKind, String> {
    s.parse().map_err(|e: hep_models::Error| e.to_string())
}

fn write_atomic_json(path: &Path, v: &Value) -> Result<()> {
    hep_data::npy::write_atomic(path, serde_json::to_string_pretty(v)?.as_bytes())?;
    Ok(())
}

fn save_tensors(path: &Path, t: &HashMap<String, Tensor>) -> Result<()> {
    let tmp = path.with_extension(format!("tmp-{}", std::process::id()));
    candle_core::safetensors::save(t, &tmp)?;
    std::fs::rename(&tmp, path).with_context(|| format!("renaming into {}", path.display()))?;
    Ok(())
}

/// The MPGAN particle normalisation derived from training jets: maxima of |x| for η, φ, pT
/// (mask max 1), shifts [0, 0, −0.5, −0.5].
pub fn derive_norm(ds: &JetDataset) -> Result<FeaturewiseLinearBounded> {
    let base = FeaturewiseLinearBounded::from_data(ds.particles(), 3)?;
    let mut maxes = base.maxes.clone();
    maxes.push(1.0);
    Ok(FeaturewiseLinearBounded::try_new(
        maxes,
        vec![Some(1.0); 4],
        vec![Some(0.0), Some(0.0), Some(-0.5), Some(-0.5)],
    )?)
}

fn normalised_batch(
    ds: &JetDataset,
    idx: &[usize],
    norm: &FeaturewiseLinearBounded,
    dev: &Device,
) -> Result<(Tensor, Tensor)> {
    let p = ds.num_slots();
    let mut x = Vec::with_capacity(idx.len() * p * 4);
    let mut n = Vec::with_capacity(idx.len());
    for &j in idx {
        let b = ds.batch(j, j + 1);
        for (f, m) in b.particles.chunks_exact(3).zip(b.mask) {
            x.extend_from_slice(f);
            x.push(*m);
        }
        n.push(b.num_particles[0]);
    }
    norm.forward(&mut x)?;
    Ok((
        Tensor::from_vec(x, (idx.len(), p, 4), dev)?,
        Tensor::from_vec(n, idx.len(), dev)?,
    ))
}

/// Generate `n` jets in physical units (for validation), multiplicities drawn from `pool`.
fn generate_physical(
    g: &Generator,
    n: usize,
    pool: &[u32],
    norm: &FeaturewiseLinearBounded,
    seed: u64,
    dev: &Device,
) -> Result<Vec<f32>> {
    use rand::Rng;
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut feats = Vec::with_capacity(n * g.num_particles() * 3);
    let mut done = 0;
    while done < n {
        let b = 512.min(n - done);
        let counts: Vec<u32> = (0..b)
            .map(|_| pool[rng.random_range(0..pool.len())])
            .collect();
        let noise = g.noise(b, &mut rng, dev)?;
        let out: Vec<f32> = g
            .forward(&noise, &Tensor::from_vec(counts, b, dev)?)?
            .flatten_all()?
            .to_vec1()?;
        feats.extend(to_physical_with(&out, norm)?.0);
        done += b;
    }
    Ok(feats)
}

pub fn run(a: TrainArgs) -> Result<()> {
    ensure!(
        a.batch > 0 && a.epochs > 0 && a.eval_every > 0 && a.eval_jets > 0,
        "sizes must be positive"
    );
    let dev = Device::Cpu;
    let data = hep_data::parquet::read_jets(&a.data)
        .with_context(|| format!("loading {}", a.data.display()))?;
    let jet_type = data.jets().jet_type[0];
    ensure!(
        data.jets().jet_type.iter().all(|&t| t == jet_type),
        "{}: train on one jet type at a time",
        a.data.display()
    );
    let spec = SplitSpec::default();
    let train = data.split(Split::Train, &spec)?;
    let valid = data.split(Split::Valid, &spec)?;
    std::fs::create_dir_all(&a.out)?;
    let cfg = a.model.config();
    let tcfg = TrainConfig {
        seed: a.seed,
        generator: a.generator,
        discriminator: a.discriminator,
        ..TrainConfig::for_jet_type(jet_type)
    };
    let ckpt = a.out.join("checkpoint.safetensors");
    let run_json = a.out.join("run.json");
    let (mut trainer, norm, mut start_epoch, mut best) = if a.resume {
        let meta: Value = serde_json::from_slice(
            &std::fs::read(&run_json)
                .with_context(|| format!("--resume: reading {}", run_json.display()))?,
        )?;
        ensure!(
            meta["model"] == a.model.name()
                && meta["seed"] == a.seed
                && meta["generator"] == a.generator.name()
                && meta["discriminator"] == a.discriminator.name(),
            "--resume: model/generator/discriminator/seed differ from the saved run {meta}"
        );
        let maxes: Vec<f64> = serde_json::from_value(meta["norm_maxes"].clone())?;
        let norm = FeaturewiseLinearBounded::try_new(
            maxes,
            vec![Some(1.0); 4],
            vec![Some(0.0), Some(0.0), Some(-0.5), Some(-0.5)],
        )?;
        let state = candle_core::safetensors::load(&ckpt, &dev)?;
        let t = MpGanTrainer::from_state(&cfg, &tcfg, &state, &dev)?;
        let epoch = meta["epochs_done"].as_u64().unwrap_or(0) as usize;
        let best = meta["best_w1m"].as_f64();
        eprintln!(
            "resuming {} after epoch {epoch} (step {})",
            a.out.display(),
            t.steps()
        );
        (t, norm, epoch, best)
    } else {
        (
            MpGanTrainer::new(&cfg, &tcfg, &dev)?,
            derive_norm(&train)?,
            0,
            None,
        )
    };
    let log_path = a.out.join("log.csv");
    let mut log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)?;
    if start_epoch == 0 {
        log.set_len(0)?;
        writeln!(log, "epoch,step,d_loss,g_loss,w1m,w1m_err,seconds")?;
    }
    let valid_view_data = valid.particles().to_vec();
    let pool = train.jets().num_particles.clone();
    let batches_per_epoch = {
        let full = train.len() / a.batch;
        if a.max_batches > 0 {
            full.min(a.max_batches)
        } else {
            full
        }
    };
    ensure!(
        batches_per_epoch > 0,
        "fewer training jets ({}) than one batch ({})",
        train.len(),
        a.batch
    );
    println!(
        "training {}/{} GAN ({} size) on {} {} jets ({} batches of {} per epoch), validating on {}; lr G {:e} D {:e}",
        a.generator,
        a.discriminator,
        a.model.name(),
        train.len(),
        jet_type,
        batches_per_epoch,
        a.batch,
        valid.len(),
        tcfg.lr_g,
        tcfg.lr_d
    );
    let t_run = Instant::now();
    while start_epoch < a.epochs {
        let epoch = start_epoch + 1;
        let t0 = Instant::now();
        let order = NumpyRng::new(a.seed.wrapping_add(epoch as u64)).permutation(train.len());
        let (mut sd, mut sg) = (0.0, 0.0);
        for b in 0..batches_per_epoch {
            let (x, n) =
                normalised_batch(&train, &order[b * a.batch..(b + 1) * a.batch], &norm, &dev)?;
            let l = trainer.step(&x, &n)?;
            sd += l.d;
            sg += l.g;
            eprint!(
                "\repoch {epoch} batch {}/{batches_per_epoch}  D {:.4}  G {:.4}   ",
                b + 1,
                l.d,
                l.g
            );
        }
        eprintln!();
        let step_secs = t0.elapsed().as_secs_f64() / batches_per_epoch as f64;
        println!(
            "epoch {epoch}: {step_secs:.3} s per training step (batch {})",
            a.batch
        );
        let (md, mg) = (sd / batches_per_epoch as f64, sg / batches_per_epoch as f64);
        let mut w = (f64::NAN, f64::NAN);
        if epoch % a.eval_every == 0 || epoch == a.epochs {
            let generated = generate_physical(
                trainer.generator(),
                a.eval_jets,
                &pool,
                &norm,
                a.seed ^ 0xE7A1,
                &dev,
            )?;
            let p = valid.num_slots();
            let rv = JetsView::new(&valid_view_data, [valid.len(), p, 3])?;
            let gv = JetsView::new(&generated, [a.eval_jets, p, 3])?;
            let boot = Bootstrap {
                num_eval_samples: a.eval_jets.min(10_000),
                num_batches: 5,
            };
            let e = w1m(rv, gv, &boot, &mut NumpyRng::new(a.seed))?;
            w = (e.value, e.error);
            if best.is_none_or(|b| e.value < b) {
                best = Some(e.value);
                save_tensors(
                    &a.out.join("G_best.safetensors"),
                    &trainer.generator_state(),
                )?;
                write_atomic_json(
                    &a.out.join("G_best.json"),
                    &json!({
                        "epoch": epoch, "w1m": e.value, "w1m_err": e.error, "model": a.model.name(),
                        "generator": a.generator.name(), "discriminator": a.discriminator.name(),
                        "jet_type": jet_type.label(), "norm_maxes": norm.maxes,
                    }),
                )?;
            }
            println!(
                "epoch {epoch}: D {md:.4} G {mg:.4}  W1M {:.5} ± {:.5}  (best {:.5})",
                e.value,
                e.error,
                best.unwrap_or(f64::NAN)
            );
        } else {
            println!("epoch {epoch}: D {md:.4} G {mg:.4}");
        }
        let secs = t0.elapsed().as_secs_f64();
        writeln!(
            log,
            "{epoch},{},{md},{mg},{},{},{secs:.2}",
            trainer.steps(),
            w.0,
            w.1
        )?;
        save_tensors(&ckpt, &trainer.state()?)?;
        write_atomic_json(
            &run_json,
            &json!({
                "data": a.data.display().to_string(), "jet_type": jet_type.label(), "model": a.model.name(),
                "generator": a.generator.name(), "discriminator": a.discriminator.name(),
                "seed": a.seed, "batch": a.batch, "max_batches": a.max_batches, "epochs_done": epoch,
                "steps": trainer.steps(), "norm_maxes": norm.maxes, "best_w1m": best,
                "lr_g": tcfg.lr_g, "lr_d": tcfg.lr_d,
            }),
        )?;
        start_epoch = epoch;
    }
    println!(
        "done in {:.1} s: checkpoints and log in {} (best generator: G_best.safetensors)",
        t_run.elapsed().as_secs_f64(),
        a.out.display()
    );
    Ok(())
}

/// What `G_best.json` records next to a generator we trained.
pub struct SavedGenerator {
    /// The particle normalisation of the training data.
    pub norm: FeaturewiseLinearBounded,
    /// The MP architecture size.
    pub size: ModelSize,
    /// The generator kind (runs before the baselines existed are `mp`).
    pub kind: GeneratorKind,
}

/// The metadata saved with a generator we trained (`G_best.json` next to it), if any.
pub fn saved_generator(checkpoint: &Path) -> Result<Option<SavedGenerator>> {
    let meta = checkpoint.with_extension("json");
    if !meta.exists() {
        return Ok(None);
    }
    let v: Value = serde_json::from_slice(&std::fs::read(&meta)?)
        .with_context(|| format!("{}: not JSON", meta.display()))?;
    let maxes: Vec<f64> = serde_json::from_value(v["norm_maxes"].clone())
        .with_context(|| format!("{}: `norm_maxes` missing or malformed", meta.display()))?;
    let size = if v["model"] == "small" {
        ModelSize::Small
    } else {
        ModelSize::Paper
    };
    let kind = v["generator"].as_str().unwrap_or("mp").parse()?;
    let norm = FeaturewiseLinearBounded::try_new(
        maxes,
        vec![Some(1.0); 4],
        vec![Some(0.0), Some(0.0), Some(-0.5), Some(-0.5)],
    )?;
    Ok(Some(SavedGenerator { norm, size, kind }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(data: &Path, out: &Path, epochs: usize, resume: bool) -> TrainArgs {
        TrainArgs {
            data: data.to_path_buf(),
            out: out.to_path_buf(),
            model: ModelSize::Small,
            epochs,
            batch: 16,
            max_batches: 2,
            eval_every: 1,
            eval_jets: 64,
            seed: 9,
            resume,
            generator: GeneratorKind::Mp,
            discriminator: DiscriminatorKind::Mp,
        }
    }

    #[test]
    fn interrupted_and_resumed_run_equals_uninterrupted_run() {
        let dir = tempfile::tempdir().unwrap();
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
        let ds =
            hep_data::parquet::read_jets(&root.join("datasets/jetnet30_g_20k.parquet")).unwrap();
        let data = dir.path().join("g300.parquet");
        hep_data::parquet::write_jets(&data, &ds.select(&(0..300).collect::<Vec<_>>()).unwrap())
            .unwrap();
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        run(args(&data, &a, 2, false)).unwrap();
        run(args(&data, &b, 1, false)).unwrap();
        run(args(&data, &b, 2, true)).unwrap();
        let read = |d: &Path, f: &str| std::fs::read(d.join(f)).unwrap();
        assert_eq!(
            read(&a, "checkpoint.safetensors"),
            read(&b, "checkpoint.safetensors")
        );
        assert_eq!(
            read(&a, "G_best.safetensors"),
            read(&b, "G_best.safetensors")
        );
        let log = String::from_utf8(read(&b, "log.csv")).unwrap();
        assert_eq!(log.lines().count(), 3, "{log}");
        // the best generator loads with its saved architecture and normalisation
        let saved = saved_generator(&b.join("G_best.safetensors"))
            .unwrap()
            .unwrap();
        assert_eq!(saved.size, ModelSize::Small);
        assert_eq!(saved.kind, GeneratorKind::Mp);
        assert_eq!(saved.norm.num_features(), 4);
        // a resume with another seed is refused
        let mut bad = args(&data, &b, 3, true);
        bad.seed = 10;
        assert!(run(bad).is_err());
    }
}
