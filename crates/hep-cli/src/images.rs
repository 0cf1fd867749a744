//! `hepgen image`: the sparse-image generators — the independent-pixel baseline, the decoupled
//! Dirac-mixture generator (fully connected and deconvolutional), SARM and LAGAN — on muon
//! calorimeter images and jet images.
//!
//! * `train` one model on one class of an images-v1 file set (checkpoint + `model.json`,
//!   written atomically);
//! * `generate` images from a trained model into an images-v1 Parquet file;
//! * `evaluate` generated images against real ones (the held-out half of the class);
//! * `compare` trains every requested model per class and writes the report: the metric table
//!   next to the real-vs-real floor, mean images real vs generated side by side, isolation or
//!   jet-observable histograms, sparsity, SARM's likelihood in bits per image.
//!
//! LAGAN is class-conditional: one model is trained on both classes (`train --model lagan
//! --class C` trains on both and generates class `C`).
//!
//! Split: the images of a class (files in the order given) are split in half, the first half
//! trains, the second half is the held-out reference of every metric.
//!
//! Metrics: muon images — W1 of the isolation `Σ_{ΔR<0.2} I / pT_μ` (the generated images take
//! the held-out muons' pT in order); jet images — W1 of the jet mass, pT and τ21 from the
//! pixels; both — the mean fraction of zero pixels and the W1 of the non-zero pixel-intensity
//! spectrum.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail, ensure};
use candle_core::{Device, Tensor};
use clap::{Args, Subcommand};
use hep_data::images::{ImageDataset, ImageKind, read_images, write_images};
use hep_metrics::images::{intensities, isolation, sparsity};
use hep_metrics::jet_images::jet_image_observables;
use hep_metrics::wasserstein::w1_distance;
use hep_models::images::{DecoupledGenerator, DecoupledNet, IndependentPixels};
use hep_models::lagan::{Lagan, LaganConfig};
use hep_models::sarm::{Budget, Sarm, SarmConfig, Totals, fit_levels, shapes};
use serde_json::{Value, json};

/// `hepgen image` subcommands.
#[derive(Subcommand)]
pub enum ImageCmd {
    /// Train one model on one class.
    Train(TrainArgs),
    /// Generate images with a trained model.
    Generate(GenerateArgs),
    /// Compare generated images with the held-out real images of their class.
    Evaluate(EvaluateArgs),
    /// Train the requested models per class, evaluate them and write the report.
    Compare(CompareArgs),
}

/// The image generators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModelKind {
    /// Each pixel from its empirical distribution.
    Independent,
    /// Decoupled generator, fully connected.
    Decoupled,
    /// Decoupled generator, deconvolutional.
    Deconv,
    /// Sparse autoregressive model.
    Sarm,
    /// Location-aware GAN (25 × 25 jet images; one class-conditional model for both classes).
    Lagan,
}

impl ModelKind {
    fn name(self) -> &'static str {
        match self {
            Self::Independent => "independent",
            Self::Decoupled => "decoupled",
            Self::Deconv => "decoupled-deconv",
            Self::Sarm => "sarm",
            Self::Lagan => "lagan",
        }
    }
}

impl std::str::FromStr for ModelKind {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> Result<Self> {
        Ok(match s {
            "independent" | "indep" => Self::Independent,
            "decoupled" | "decoupled-fc" => Self::Decoupled,
            "decoupled-deconv" | "deconv" => Self::Deconv,
            "sarm" => Self::Sarm,
            "lagan" => Self::Lagan,
            other => bail!(
                "unknown image model `{other}`: expected independent, decoupled, decoupled-deconv, sarm or lagan"
            ),
        })
    }
}

/// Training options shared by `train` and `compare`.
#[derive(Args, Clone)]
pub struct TrainOpts {
    /// Training epochs (decoupled generators and SARM).
    #[arg(long, default_value_t = 30)]
    epochs: usize,
    /// Batch size.
    #[arg(long, default_value_t = 128)]
    batch: usize,
    /// Intensity levels of SARM.
    #[arg(long, default_value_t = 32)]
    levels: usize,
    /// Hidden width of SARM's MADEs.
    #[arg(long, default_value_t = 512)]
    sarm_hidden: usize,
    /// Side of SARM's centred inner window, modelled first [default: 0.28 of the smaller
    /// image side, 7 for 25 × 25 and 9 for 32 × 32].
    #[arg(long)]
    sarm_window: Option<usize>,
    /// Give SARM a pT budget of this many bins of the image's total intensity (drawn first,
    /// then the pixels conditioned on it; 0: none). See `hep_models::sarm`, "pT budget".
    #[arg(long, default_value_t = 0)]
    sarm_budget: usize,
    /// Factor SARM's total out: model each image's shape (x / Σx) and draw its total from
    /// the training totals. See `hep_models::sarm`, "Factored total".
    #[arg(long, conflicts_with = "sarm_budget")]
    sarm_shape: bool,
    /// Hold the last N training images out of SARM's training as a validation set: after
    /// every epoch their NLL is measured, and the weights of the epoch with the lowest one are
    /// kept (early stopping without stopping; 0: train on all, keep the last epoch).
    #[arg(long, default_value_t = 0)]
    sarm_valid: usize,
    /// LAGAN size: `paper` or `small` (the paper's structure, narrower; for CPU runs).
    #[arg(long, default_value = "small")]
    lagan_size: String,
    /// Seed (initialisation, batch order, sampling).
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

/// Arguments of `hepgen image train`.
#[derive(Args)]
pub struct TrainArgs {
    /// Image files (images-v1 Parquet).
    #[arg(long, required = true, num_args = 1..)]
    data: Vec<PathBuf>,
    /// Class label to train on (1 = isolated muon / W', 0 = non-isolated / QCD).
    #[arg(long)]
    class: u8,
    /// Model: independent, decoupled, decoupled-deconv, sarm.
    #[arg(long)]
    model: ModelKind,
    #[command(flatten)]
    opts: TrainOpts,
    /// Output directory (model.safetensors, model.json, log.csv).
    #[arg(long)]
    out: PathBuf,
}

/// Arguments of `hepgen image generate`.
#[derive(Args)]
pub struct GenerateArgs {
    /// A `hepgen image train` output directory.
    #[arg(long)]
    model_dir: PathBuf,
    /// Number of images (default: the size of the held-out half).
    #[arg(long)]
    n: Option<usize>,
    /// Sampling seed.
    #[arg(long, default_value_t = 7)]
    seed: u64,
    /// Output images-v1 Parquet file.
    #[arg(long)]
    out: PathBuf,
}

/// Arguments of `hepgen image evaluate`.
#[derive(Args)]
pub struct EvaluateArgs {
    /// Real image files (the class's held-out half is the reference).
    #[arg(long, required = true, num_args = 1..)]
    real: Vec<PathBuf>,
    /// Generated images (images-v1 Parquet; its label picks the class).
    #[arg(long)]
    generated: PathBuf,
    /// Write the metrics as JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
}

/// Arguments of `hepgen image compare`.
#[derive(Args)]
pub struct CompareArgs {
    /// Image files (images-v1 Parquet, both classes; all muon or all jet images).
    #[arg(long, required = true, num_args = 1..)]
    data: Vec<PathBuf>,
    /// Models, comma separated.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "independent,decoupled,decoupled-deconv,sarm"
    )]
    models: Vec<ModelKind>,
    #[command(flatten)]
    opts: TrainOpts,
    /// Output directory (report.md, metrics.json, PNGs).
    #[arg(long, default_value = "out/images")]
    out: PathBuf,
}

pub fn run(cmd: ImageCmd) -> Result<()> {
    match cmd {
        ImageCmd::Train(a) => train_cmd(a),
        ImageCmd::Generate(a) => generate_cmd(a),
        ImageCmd::Evaluate(a) => evaluate_cmd(a),
        ImageCmd::Compare(a) => compare(a),
    }
}

/// The images of one class, split in half.
struct ClassData {
    kind: ImageKind,
    h: usize,
    w: usize,
    pixel: f64,
    train: Vec<f32>,
    test: Vec<f32>,
    /// Muon pT of the held-out half (muon images).
    pt_test: Vec<f32>,
    pt_train: Vec<f32>,
}

impl ClassData {
    fn px(&self) -> usize {
        self.h * self.w
    }
    fn n_train(&self) -> usize {
        self.train.len() / self.px()
    }
    fn n_test(&self) -> usize {
        self.test.len() / self.px()
    }
}

fn load_files(paths: &[PathBuf]) -> Result<Vec<ImageDataset>> {
    paths
        .iter()
        .map(|p| read_images(p).with_context(|| format!("loading {}", p.display())))
        .collect()
}

fn class_data(parts: &[ImageDataset], label: u8) -> Result<Option<ClassData>> {
    let ds: Vec<ImageDataset> = parts
        .iter()
        .map(|p| p.with_label(label))
        .filter(|d| !d.is_empty())
        .collect();
    let Some(first) = ds.first() else {
        return Ok(None);
    };
    let (kind, h, w) = (first.kind(), first.height(), first.width());
    let mut all = Vec::new();
    let mut pts = Vec::new();
    for d in &ds {
        ensure!(
            d.height() == h && d.width() == w && d.kind() == kind,
            "image kinds or sizes differ between files"
        );
        ensure!(
            d.pixel_size() == first.pixel_size(),
            "pixel sizes differ between files"
        );
        all.extend_from_slice(d.pixels());
        if kind == ImageKind::MuonCalo {
            pts.extend_from_slice(d.muon_pt().context("muon images need muon_pt")?);
        }
    }
    let n = all.len() / (h * w);
    ensure!(n >= 20, "only {n} images of class {label}");
    let n_train = n / 2;
    let test = all.split_off(n_train * h * w);
    let pt_test = if pts.is_empty() {
        Vec::new()
    } else {
        pts.split_off(n_train)
    };
    Ok(Some(ClassData {
        kind,
        h,
        w,
        pixel: f64::from(first.pixel_size()),
        train: all,
        test,
        pt_test,
        pt_train: pts,
    }))
}

fn class_name(kind: ImageKind, label: u8) -> &'static str {
    match (kind, label) {
        (ImageKind::MuonCalo, 1) => "isolated",
        (ImageKind::MuonCalo, _) => "non-isolated",
        (ImageKind::JetImage, 1) => "W'",
        (ImageKind::JetImage, _) => "QCD",
    }
}

/// A trained generator (LAGAN with the class it generates).
enum Trained {
    Independent(IndependentPixels),
    Decoupled(Box<DecoupledGenerator>),
    Sarm(Box<Sarm>),
    Lagan(std::rc::Rc<Lagan>, u8),
}

impl Trained {
    fn sample(&self, n: usize, seed: u64) -> Result<Vec<f32>> {
        Ok(match self {
            Self::Independent(m) => m.sample(n, seed),
            Self::Decoupled(m) => m.sample(n, seed)?,
            Self::Sarm(m) => m.sample(n, seed)?,
            Self::Lagan(m, class) => m.sample(n, &[u32::from(*class)], seed)?,
        })
    }

    fn vars(&self) -> Option<&candle_nn::VarMap> {
        match self {
            Self::Independent(_) => None,
            Self::Decoupled(m) => Some(m.vars()),
            Self::Sarm(m) => Some(m.vars()),
            Self::Lagan(m, _) => Some(m.vars()),
        }
    }
}

fn lagan_config(size: &str) -> Result<LaganConfig> {
    Ok(match size {
        "paper" => LaganConfig::paper(),
        "small" => LaganConfig::small(),
        other => bail!("--lagan-size {other}: expected paper or small"),
    })
}

/// Trains one class-conditional LAGAN on the training halves of both classes (`d[label]`);
/// `log` receives `epoch, mean D loss, mean G loss, seconds`.
fn train_lagan(
    d: [&ClassData; 2],
    opts: &TrainOpts,
    mut log: impl FnMut(usize, f64, f64, f64),
) -> Result<(Lagan, f64)> {
    ensure!(
        d[0].kind == ImageKind::JetImage && d[0].h == 25 && d[0].w == 25,
        "LAGAN models 25 × 25 jet images"
    );
    ensure!(
        opts.epochs > 0 && opts.batch > 1,
        "--epochs must be positive and --batch at least 2"
    );
    let t0 = Instant::now();
    let cfg = lagan_config(&opts.lagan_size)?;
    let mut g = Lagan::new(&cfg, opts.seed, &Device::Cpu)?;
    let px = 625;
    let items: Vec<(u8, usize)> = (0..2u8)
        .flat_map(|l| (0..d[usize::from(l)].n_train()).map(move |i| (l, i)))
        .collect();
    let batch = opts.batch.min(items.len());
    for e in 1..=opts.epochs {
        let te = Instant::now();
        let order = hep_data::rng::NumpyRng::new(opts.seed + e as u64).permutation(items.len());
        let (mut dl, mut gl) = (0.0, 0.0);
        let steps = items.len() / batch;
        for s in 0..steps {
            let mut x = Vec::with_capacity(batch * px);
            let mut y = Vec::with_capacity(batch);
            for &k in &order[s * batch..(s + 1) * batch] {
                let (l, i) = items[k];
                x.extend_from_slice(&d[usize::from(l)].train[i * px..(i + 1) * px]);
                y.push(u32::from(l));
            }
            let losses = g.train_step(
                &Tensor::from_vec(x, (batch, px), &Device::Cpu)?,
                &Tensor::new(y.as_slice(), &Device::Cpu)?,
            )?;
            dl += losses.d_loss;
            gl += losses.g_loss;
        }
        log(
            e,
            dl / steps as f64,
            gl / steps as f64,
            te.elapsed().as_secs_f64(),
        );
    }
    Ok((g, t0.elapsed().as_secs_f64()))
}

/// σ of the decoupled generator's Gaussian: the standard deviation of the non-zero training
/// pixels (the paper's choice).
fn nonzero_sigma(train: &[f32]) -> f64 {
    let nz: Vec<f64> = train
        .iter()
        .filter(|&&v| v > 0.0)
        .map(|&v| f64::from(v))
        .collect();
    let mean = nz.iter().sum::<f64>() / nz.len().max(1) as f64;
    (nz.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / nz.len().max(1) as f64)
        .sqrt()
        .max(1e-3)
}

/// Builds an untrained model from its description (`model.json` or fresh).
fn build(kind: ModelKind, d: &ClassData, meta: &Value, seed: u64) -> Result<Trained> {
    let dev = Device::Cpu;
    Ok(match kind {
        ModelKind::Independent => Trained::Independent(IndependentPixels::fit(&d.train, d.px())?),
        ModelKind::Decoupled | ModelKind::Deconv => {
            let net = if kind == ModelKind::Decoupled {
                DecoupledNet::Fc {
                    hidden: vec![256, 512],
                }
            } else {
                DecoupledNet::Deconv { channels: 64 }
            };
            let sigma = meta["sigma"].as_f64().context("model.json: sigma")?;
            Trained::Decoupled(Box::new(DecoupledGenerator::with_net(
                (d.h, d.w),
                32,
                &net,
                sigma,
                1e-3,
                seed,
                &dev,
            )?))
        }
        ModelKind::Sarm => {
            let defaults = SarmConfig::new(d.h, d.w);
            let cfg = SarmConfig {
                levels: meta["levels"]
                    .as_array()
                    .context("model.json: levels")?
                    .len(),
                hidden: meta["hidden"].as_u64().context("model.json: hidden")? as usize,
                // models saved before the window was an option used the default
                window: match meta.get("window") {
                    Some(w) => w.as_u64().context("model.json: window")? as usize,
                    None => defaults.window,
                },
                ..defaults
            };
            let levels: Vec<f64> = serde_json::from_value(meta["levels"].clone())?;
            // models saved before the budget existed have none
            let budget = match meta.get("budget") {
                Some(b) => {
                    let field = |name: &str| -> Result<Vec<f64>> {
                        serde_json::from_value(b[name].clone())
                            .with_context(|| format!("model.json: budget.{name}"))
                    };
                    Some(Budget {
                        edges: field("edges")?,
                        centres: field("centres")?,
                        probs: field("probs")?,
                    })
                }
                None => None,
            };
            // models saved before the factored total existed have none
            Trained::Sarm(Box::new(match meta.get("totals") {
                Some(t) => {
                    let totals = Totals {
                        quantiles: serde_json::from_value(t["quantiles"].clone())
                            .context("model.json: totals.quantiles")?,
                    };
                    ensure!(budget.is_none(), "model.json: both a budget and totals");
                    Sarm::factored(cfg, levels, totals, seed, &dev)?
                }
                None => Sarm::new(cfg, levels, budget, seed, &dev)?,
            }))
        }
        ModelKind::Lagan => {
            let cfg = lagan_config(meta["size"].as_str().context("model.json: size")?)?;
            let class = meta["class"].as_u64().context("model.json: class")? as u8;
            Trained::Lagan(std::rc::Rc::new(Lagan::new(&cfg, seed, &dev)?), class)
        }
    })
}

/// The model description that [`build`] reads back.
fn describe(kind: ModelKind, d: &ClassData, opts: &TrainOpts) -> Result<Value> {
    Ok(match kind {
        ModelKind::Independent => json!({}),
        ModelKind::Decoupled | ModelKind::Deconv => json!({"sigma": nonzero_sigma(&d.train)}),
        ModelKind::Sarm => {
            let levels = if opts.sarm_shape {
                fit_levels(&shapes(&d.train, d.px()), opts.levels)?
            } else {
                fit_levels(&d.train, opts.levels)?
            };
            let mut meta = json!({
                "levels": levels,
                "hidden": opts.sarm_hidden,
                "window": opts.sarm_window.unwrap_or_else(|| SarmConfig::new(d.h, d.w).window),
            });
            if opts.sarm_budget > 0 {
                let b = Budget::fit(&d.train, d.px(), &levels, opts.sarm_budget)?;
                meta["budget"] = json!({"edges": b.edges, "centres": b.centres, "probs": b.probs});
            }
            if opts.sarm_shape {
                let t = Totals::fit(&d.train, d.px())?;
                meta["totals"] = json!({"quantiles": t.quantiles});
            }
            meta
        }
        ModelKind::Lagan => json!({"size": opts.lagan_size}),
    })
}

struct TrainOutcome {
    model: Trained,
    meta: Value,
    seconds: f64,
    final_loss: Option<f64>,
    /// With `--sarm-valid`: the kept epoch and its validation NLL (bits per image).
    best: Option<(usize, f64)>,
}

/// The first `n` training images of `d` (test half unchanged), for a validation hold-out.
fn first_train_images(d: &ClassData, n: usize) -> ClassData {
    ClassData {
        kind: d.kind,
        h: d.h,
        w: d.w,
        pixel: d.pixel,
        train: d.train[..n * d.px()].to_vec(),
        test: d.test.clone(),
        pt_test: d.pt_test.clone(),
        pt_train: d.pt_train[..n.min(d.pt_train.len())].to_vec(),
    }
}

/// Mean NLL in bits per image of SARM on `images`.
fn mean_bits(m: &Sarm, images: &[f32]) -> Result<f64> {
    let b = m.nll_bits(images)?;
    Ok(b.iter().sum::<f64>() / b.len() as f64)
}

/// Trains `kind` on the training half; `log` receives each epoch's number, mean loss, seconds
/// and (with `--sarm-valid`) validation NLL in bits per image.
fn train_model(
    kind: ModelKind,
    d: &ClassData,
    opts: &TrainOpts,
    mut log: impl FnMut(usize, f64, f64, Option<f64>) -> Result<()>,
) -> Result<TrainOutcome> {
    ensure!(
        opts.epochs > 0 && opts.batch > 0,
        "--epochs and --batch must be positive"
    );
    ensure!(
        kind != ModelKind::Lagan,
        "LAGAN trains on both classes at once (train_lagan)"
    );
    let nv = if kind == ModelKind::Sarm {
        opts.sarm_valid
    } else {
        0
    };
    ensure!(
        nv < d.n_train(),
        "--sarm-valid {nv} leaves no training images (the training half has {})",
        d.n_train()
    );
    // levels, totals and the weights see only the images that are not held out
    let held;
    let (d, valid) = if nv > 0 {
        let n_fit = d.n_train() - nv;
        held = first_train_images(d, n_fit);
        (&held, &d.train[n_fit * d.px()..])
    } else {
        (d, &[][..])
    };
    let meta = describe(kind, d, opts)?;
    let t0 = Instant::now();
    let mut model = build(kind, d, &meta, opts.seed)?;
    let px = d.px();
    let n = d.n_train();
    let mut final_loss = None;
    let mut best: Option<(usize, f64, Weights)> = None;
    if !matches!(model, Trained::Independent(_)) {
        let batch = opts.batch.min(n);
        let steps = n / batch;
        for e in 1..=opts.epochs {
            let te = Instant::now();
            let order = hep_data::rng::NumpyRng::new(opts.seed + e as u64).permutation(n);
            let mut sum = 0.0;
            for s in 0..steps {
                let mut x = Vec::with_capacity(batch * px);
                for &i in &order[s * batch..(s + 1) * batch] {
                    x.extend_from_slice(&d.train[i * px..(i + 1) * px]);
                }
                sum += match &mut model {
                    Trained::Decoupled(g) => {
                        g.step(&Tensor::from_vec(x, (batch, px), &Device::Cpu)?)?
                    }
                    Trained::Sarm(m) => m.step(&x)?,
                    Trained::Independent(_) | Trained::Lagan(..) => {
                        unreachable!("no training loop here")
                    }
                };
            }
            let loss = sum / steps as f64;
            final_loss = Some(loss);
            let secs = te.elapsed().as_secs_f64();
            let v = match &model {
                Trained::Sarm(m) if nv > 0 => {
                    let v = mean_bits(m, valid)?;
                    if best.as_ref().is_none_or(|b| v < b.1) {
                        best = Some((e, v, snapshot(m.vars())?));
                    }
                    Some(v)
                }
                _ => None,
            };
            log(e, loss, secs, v)?;
        }
    }
    if let (Some((_, _, weights)), Some(vars)) = (&best, model.vars()) {
        restore(vars, weights)?;
    }
    Ok(TrainOutcome {
        model,
        meta,
        seconds: t0.elapsed().as_secs_f64(),
        final_loss,
        best: best.map(|(e, v, _)| (e, v)),
    })
}

/// Copies of a model's weights, by name.
type Weights = Vec<(String, Tensor)>;

/// A copy of every weight in `vars`, by name.
fn snapshot(vars: &candle_nn::VarMap) -> Result<Weights> {
    let live = vars.data().lock().expect("VarMap lock poisoned");
    live.iter()
        .map(|(k, v)| Ok((k.clone(), v.as_tensor().copy()?)))
        .collect()
}

/// Sets every weight in `vars` back to its copy in `weights`.
fn restore(vars: &candle_nn::VarMap, weights: &Weights) -> Result<()> {
    let live = vars.data().lock().expect("VarMap lock poisoned");
    for (name, t) in weights {
        live.get(name)
            .with_context(|| format!("no weight {name} to restore"))?
            .set(t)?;
    }
    Ok(())
}

fn save_model(dir: &Path, out: &TrainOutcome, meta: Value) -> Result<()> {
    std::fs::create_dir_all(dir)?;
    if let Some(vars) = out.model.vars() {
        let tmp = dir.join(format!("model.safetensors.tmp-{}", std::process::id()));
        vars.save(&tmp)?;
        std::fs::rename(&tmp, dir.join("model.safetensors"))?;
    }
    hep_data::npy::write_atomic(
        &dir.join("model.json"),
        serde_json::to_string_pretty(&meta)?.as_bytes(),
    )?;
    Ok(())
}

fn train_cmd(a: TrainArgs) -> Result<()> {
    let parts = load_files(&a.data)?;
    let d =
        class_data(&parts, a.class)?.with_context(|| format!("no images of class {}", a.class))?;
    std::fs::create_dir_all(&a.out)?;
    let (out, log) = if a.model == ModelKind::Lagan {
        let mut log = String::from("epoch,d_loss,seconds\n");
        let other = class_data(&parts, 1 - a.class.min(1))?
            .context("LAGAN needs images of both classes")?;
        let both = if a.class == 1 {
            [&other, &d]
        } else {
            [&d, &other]
        };
        println!(
            "training lagan on {} images of both classes",
            d.n_train() + other.n_train()
        );
        let (g, secs) = train_lagan(both, &a.opts, |e, dl, gl, s| {
            println!("epoch {e}: loss D {dl:.4} G {gl:.4} ({s:.1} s)");
            log.push_str(&format!("{e},{dl},{s:.3}\n"));
        })?;
        let out = TrainOutcome {
            model: Trained::Lagan(std::rc::Rc::new(g), a.class),
            meta: describe(a.model, &d, &a.opts)?,
            seconds: secs,
            final_loss: None,
            best: None,
        };
        (out, log)
    } else {
        let mut log = String::from("epoch,loss_nats_per_image,seconds\n");
        println!(
            "training {} on {} {} images ({}×{})",
            a.model.name(),
            d.n_train(),
            class_name(d.kind, a.class),
            d.h,
            d.w
        );
        let out = train_model(a.model, &d, &a.opts, |e, loss, s, v| {
            let valid = v.map_or(String::new(), |v| format!(", validation {v:.2} bits/image"));
            println!("epoch {e}: loss {loss:.3} nats/image{valid} ({s:.1} s)");
            log.push_str(&format!("{e},{loss},{s:.3}\n"));
            Ok(())
        })?;
        (out, log)
    };
    std::fs::write(a.out.join("log.csv"), &log)?;
    let mut meta = out.meta.clone();
    meta["model"] = json!(a.model.name());
    meta["class"] = json!(a.class);
    meta["data"] = json!(
        a.data
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
    );
    meta["seed"] = json!(a.opts.seed);
    meta["epochs"] = json!(a.opts.epochs);
    meta["train_seconds"] = json!(out.seconds);
    meta["final_loss_nats"] = json!(out.final_loss);
    if let Some((e, v)) = out.best {
        meta["kept_epoch"] = json!(e);
        meta["validation_nll_bits_per_image"] = json!(v);
        println!("kept epoch {e} (validation NLL {v:.2} bits/image)");
    }
    save_model(&a.out, &out, meta)?;
    println!("done in {:.1} s; model in {}", out.seconds, a.out.display());
    Ok(())
}

fn load_trained(dir: &Path) -> Result<(Trained, ClassData, u8, Value)> {
    let meta: Value =
        serde_json::from_slice(&std::fs::read(dir.join("model.json")).with_context(|| {
            format!(
                "{}: no model.json (not a `hepgen image train` output)",
                dir.display()
            )
        })?)?;
    let kind: ModelKind = meta["model"].as_str().unwrap_or_default().parse()?;
    let class = meta["class"].as_u64().context("model.json: class")? as u8;
    let data: Vec<PathBuf> = serde_json::from_value(meta["data"].clone())?;
    let parts = load_files(&data)?;
    let d = class_data(&parts, class)?.context("the training data has no images of the class")?;
    let seed = meta["seed"].as_u64().unwrap_or(1);
    let model = build(kind, &d, &meta, seed)?;
    if let Some(vars) = model.vars() {
        // a VarMap clone shares the variables, so loading into it loads the model
        let file = dir.join("model.safetensors");
        vars.clone()
            .load(&file)
            .with_context(|| format!("loading {}", file.display()))?;
    }
    Ok((model, d, class, meta))
}

fn generate_cmd(a: GenerateArgs) -> Result<()> {
    let (model, d, class, _) = load_trained(&a.model_dir)?;
    let n = a.n.unwrap_or(d.n_test());
    ensure!(n > 0, "--n must be positive");
    let t0 = Instant::now();
    let images = model.sample(n, a.seed)?;
    let secs = t0.elapsed().as_secs_f64();
    let muon_pt = (d.kind == ImageKind::MuonCalo)
        .then(|| (0..n).map(|i| d.pt_test[i % d.pt_test.len()]).collect());
    let ds = ImageDataset::new(
        d.kind,
        (d.h, d.w),
        d.pixel as f32,
        images,
        vec![class; n],
        muon_pt,
    )?
    .with_provenance(
        json!({"generator": a.model_dir.display().to_string(), "seed": a.seed,
               "muon_pt": "the held-out muons' pT, in order"})
        .to_string(),
    );
    write_images(&a.out, &ds)?;
    println!(
        "{n} images in {secs:.2} s ({:.0} images/s) → {}",
        n as f64 / secs,
        a.out.display()
    );
    Ok(())
}

/// What the metrics compare, computed once per sample of one class.
struct Observables {
    zero_fraction: f64,
    intensities: Vec<f64>,
    /// Isolation (muon images) or jet mass, pT, τ21 (jet images) per image.
    per_image: Vec<Vec<f64>>,
}

impl Observables {
    /// `images` of the class's shape; `pt` the muon pT per image (muon images).
    fn of(d: &ClassData, images: &[f32], pt: &[f32]) -> Result<Self> {
        let shape = [images.len() / d.px(), d.h, d.w];
        let s = sparsity(images, shape)?;
        let per_image = match d.kind {
            ImageKind::MuonCalo => vec![isolation(images, shape, d.pixel, pt, 0.2)?],
            ImageKind::JetImage => {
                let o = jet_image_observables(images, shape, d.pixel)?;
                vec![
                    o.iter().map(|o| o.mass).collect(),
                    o.iter().map(|o| o.pt).collect(),
                    o.iter().map(|o| o.tau21).collect(),
                ]
            }
        };
        Ok(Self {
            zero_fraction: s.iter().sum::<f64>() / s.len() as f64,
            intensities: intensities(images, shape)?,
            per_image,
        })
    }

    /// The histogrammed observable: isolation or jet mass.
    fn headline(&self) -> &[f64] {
        &self.per_image[0]
    }

    /// Metric names of `kind`, in table order.
    fn keys(kind: ImageKind) -> &'static [&'static str] {
        match kind {
            ImageKind::MuonCalo => &["isolation_w1", "zero_fraction", "intensity_w1"],
            ImageKind::JetImage => &[
                "mass_w1",
                "pt_w1",
                "tau21_w1",
                "zero_fraction",
                "intensity_w1",
            ],
        }
    }

    /// The metrics of `self` (generated) against `real`.
    fn metrics(&self, real: &Self, kind: ImageKind) -> Result<Value> {
        ensure!(
            !self.intensities.is_empty(),
            "the generated images are all zero"
        );
        let mut m = json!({
            "zero_fraction": self.zero_fraction,
            "intensity_w1": w1_distance(&real.intensities, &self.intensities)?,
        });
        let names: &[&str] = match kind {
            ImageKind::MuonCalo => &["isolation_w1"],
            ImageKind::JetImage => &["mass_w1", "pt_w1", "tau21_w1"],
        };
        for ((name, r), g) in names.iter().zip(&real.per_image).zip(&self.per_image) {
            m[*name] = json!(w1_distance(r, g)?);
        }
        Ok(m)
    }
}

fn evaluate_cmd(a: EvaluateArgs) -> Result<()> {
    let parts = load_files(&a.real)?;
    let g =
        read_images(&a.generated).with_context(|| format!("loading {}", a.generated.display()))?;
    let class = *g.labels().first().context("no generated images")?;
    let d =
        class_data(&parts, class)?.with_context(|| format!("no real images of class {class}"))?;
    ensure!(
        g.kind() == d.kind && g.height() == d.h && g.width() == d.w,
        "generated images ({} {}×{}) do not match the real ones ({} {}×{})",
        g.kind().name(),
        g.height(),
        g.width(),
        d.kind.name(),
        d.h,
        d.w
    );
    let pt = g.muon_pt().unwrap_or(&[]).to_vec();
    if d.kind == ImageKind::MuonCalo {
        ensure!(!pt.is_empty(), "generated muon images need muon_pt");
    }
    let real = Observables::of(&d, &d.test, &d.pt_test)?;
    let m = Observables::of(&d, g.pixels(), &pt)?.metrics(&real, d.kind)?;
    let floor = Observables::of(&d, &d.train, &d.pt_train)?.metrics(&real, d.kind)?;
    println!(
        "{:<16} {:>12} {:>14}",
        "metric", "generated", "real vs real"
    );
    for (k, v) in m.as_object().expect("object") {
        println!(
            "{k:<16} {:>12.5} {:>14.5}",
            v.as_f64().unwrap_or(f64::NAN),
            floor[k].as_f64().unwrap_or(f64::NAN)
        );
    }
    if let Some(p) = &a.json {
        hep_data::npy::write_atomic(
            p,
            serde_json::to_string_pretty(&json!({"generated": m, "real_vs_real": floor}))?
                .as_bytes(),
        )?;
    }
    Ok(())
}

fn compare(a: CompareArgs) -> Result<()> {
    ensure!(!a.models.is_empty(), "--models is empty");
    let parts = load_files(&a.data)?;
    std::fs::create_dir_all(&a.out)?;
    let mut results = serde_json::Map::new();
    let mut md = String::new();
    let classes = [class_data(&parts, 0)?, class_data(&parts, 1)?];
    let lagan = if a.models.contains(&ModelKind::Lagan) {
        let [Some(d0), Some(d1)] = &classes else {
            bail!("LAGAN needs images of both classes");
        };
        println!("training lagan on both classes …");
        let (g, secs) = train_lagan([d0, d1], &a.opts, |e, dl, gl, s| {
            if e == 1 || e % 5 == 0 || e == a.opts.epochs {
                println!("  epoch {e}: loss D {dl:.4} G {gl:.4} ({s:.1} s)");
            }
        })?;
        Some((std::rc::Rc::new(g), secs))
    } else {
        None
    };
    for label in [1u8, 0u8] {
        let Some(d) = &classes[usize::from(label)] else {
            continue;
        };
        let (h, w, px) = (d.h, d.w, d.px());
        let name = class_name(d.kind, label);
        let n_test = d.n_test();
        let metric_keys = Observables::keys(d.kind);
        let real = Observables::of(d, &d.test, &d.pt_test)?;
        let floor = Observables::of(d, &d.train, &d.pt_train)?.metrics(&real, d.kind)?;
        let real_zero = real.zero_fraction;
        md.push_str(&format!(
            "## {name} ({}, {}×{}; {} train / {n_test} held-out images)\n\n| model | {} | train s | sampling images/s | NLL (bits/image) |\n|---|{}---|---|---|\n",
            d.kind.name(),
            h,
            w,
            d.n_train(),
            metric_keys.join(" | "),
            "---|".repeat(metric_keys.len())
        ));
        let row = |model: &str, m: &Value, extra: &str| -> String {
            let cells: Vec<String> = metric_keys
                .iter()
                .map(|k| format!("{:.4}", m[*k].as_f64().unwrap_or(f64::NAN)))
                .collect();
            format!("| {model} | {} | {extra} |\n", cells.join(" | "))
        };
        let mut floor_row = floor.clone();
        floor_row["zero_fraction"] = json!(real_zero);
        md.push_str(&row("real (train half) vs held-out", &floor_row, " | | "));
        let mut class_res = json!({"n_train": d.n_train(), "n_test": n_test, "real_vs_real": floor,
                                   "real_zero_fraction": real_zero});
        let mut panels = vec![(
            format!("{name}: real"),
            crate::plot::mean_image(&d.test, px),
            h,
            w,
        )];
        let mut hist_series = vec![("real".to_string(), real.headline().to_vec())];
        for &kind in &a.models {
            let out = match (&lagan, kind) {
                (Some((g, secs)), ModelKind::Lagan) => TrainOutcome {
                    model: Trained::Lagan(g.clone(), label),
                    meta: json!({}),
                    seconds: *secs,
                    final_loss: None,
                    best: None,
                },
                _ => {
                    println!("{name}: training {} …", kind.name());
                    train_model(kind, d, &a.opts, |e, loss, s, v| {
                        if e == 1 || e % 5 == 0 || e == a.opts.epochs || v.is_some() {
                            let valid = v.map_or(String::new(), |v| {
                                format!(", validation {v:.2} bits/image")
                            });
                            println!("  epoch {e}: loss {loss:.3} nats/image{valid} ({s:.1} s)");
                        }
                        Ok(())
                    })?
                }
            };
            let t1 = Instant::now();
            let g = out.model.sample(n_test, a.opts.seed ^ 0x5a3)?;
            let rate = n_test as f64 / t1.elapsed().as_secs_f64();
            let obs = Observables::of(d, &g, &d.pt_test)?;
            let mut m = obs.metrics(&real, d.kind)?;
            // SARM generates only its levels: the held-out images quantised to them, against
            // the held-out images, is the floor its metrics can reach.
            let (bits, quantised_floor) = match &out.model {
                Trained::Sarm(s) => {
                    let b = s.nll_bits(&d.test)?;
                    let q = s.quantise_images(&d.test)?;
                    let floor = Observables::of(d, &q, &d.pt_test)?.metrics(&real, d.kind)?;
                    (Some(b.iter().sum::<f64>() / b.len() as f64), Some(floor))
                }
                _ => (None, None),
            };
            m["train_seconds"] = json!(out.seconds);
            m["sampling_images_per_s"] = json!(rate);
            m["final_loss_nats"] = json!(out.final_loss);
            m["test_nll_bits_per_image"] = json!(bits);
            if let Some((e, v)) = out.best {
                m["kept_epoch"] = json!(e);
                m["validation_nll_bits_per_image"] = json!(v);
                println!("  kept epoch {e} (validation NLL {v:.2} bits/image)");
            }
            md.push_str(&row(
                kind.name(),
                &m,
                &format!(
                    "{:.1} | {rate:.0} | {}",
                    out.seconds,
                    bits.map_or(String::new(), |b| format!("{b:.1}"))
                ),
            ));
            if let Some(f) = quantised_floor {
                md.push_str(&row("held-out quantised to SARM's levels", &f, " | | "));
                m["quantised_real_vs_real"] = f;
            }
            println!(
                "{name} {}: {}",
                kind.name(),
                metric_keys
                    .iter()
                    .map(|k| format!("{k} {:.4}", m[*k].as_f64().unwrap_or(f64::NAN)))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            panels.push((
                kind.name().to_string(),
                crate::plot::mean_image(&g, px),
                h,
                w,
            ));
            hist_series.push((kind.name().to_string(), obs.headline().to_vec()));
            class_res[kind.name()] = m;
        }
        let (hist_file, x_label) = match d.kind {
            ImageKind::MuonCalo => (format!("isolation_{label}.png"), "Iso (ΔR < 0.2) / pT"),
            ImageKind::JetImage => (format!("mass_{label}.png"), "jet mass from pixels (GeV)"),
        };
        crate::plot::histograms(&a.out.join(&hist_file), name, x_label, &hist_series, 40)?;
        let mean_file = format!("mean_images_{label}.png");
        crate::plot::heatmaps(
            &a.out.join(&mean_file),
            "mean images (log colour scale)",
            &panels,
        )?;
        md.push_str(&format!(
            "\n![mean images]({mean_file})\n\n![histogram]({hist_file})\n\n"
        ));
        results.insert(name.to_string(), class_res);
    }
    ensure!(!results.is_empty(), "no images with label 0 or 1");
    let header = format!(
        "# Sparse images: {}\n\nCommand: `hepgen image compare --data {} --models {} --epochs {} --batch {} --levels {} --sarm-hidden {}{}{}{}{} --lagan-size {} --seed {}`\n\n(LAGAN: one class-conditional model trained on both classes; its training time is shared.)\n\n",
        a.data
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", "),
        a.data
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(" "),
        a.models
            .iter()
            .map(|m| m.name())
            .collect::<Vec<_>>()
            .join(","),
        a.opts.epochs,
        a.opts.batch,
        a.opts.levels,
        a.opts.sarm_hidden,
        a.opts
            .sarm_window
            .map(|w| format!(" --sarm-window {w}"))
            .unwrap_or_default(),
        if a.opts.sarm_budget > 0 {
            format!(" --sarm-budget {}", a.opts.sarm_budget)
        } else {
            String::new()
        },
        if a.opts.sarm_shape {
            " --sarm-shape"
        } else {
            ""
        },
        if a.opts.sarm_valid > 0 {
            format!(" --sarm-valid {}", a.opts.sarm_valid)
        } else {
            String::new()
        },
        a.opts.lagan_size,
        a.opts.seed
    );
    std::fs::write(a.out.join("report.md"), format!("{header}{md}"))?;
    hep_data::npy::write_atomic(
        &a.out.join("metrics.json"),
        serde_json::to_string_pretty(&Value::Object(results))?.as_bytes(),
    )?;
    println!("{header}{md}\nwritten to {}", a.out.display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        opts: TrainOpts,
    }

    /// A SARM description with a budget (fitted on the shipped W' images) comes back from
    /// `model.json` as the same budget; without `--sarm-budget` there is none.
    #[test]
    fn sarm_budget_survives_the_model_description() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../datasets");
        let parts = load_files(&[root.join("jetimg_wprime_3k.parquet")]).unwrap();
        let d = class_data(&parts, 1).unwrap().unwrap();
        let plain = Cli::parse_from(["x"]).opts;
        assert!(
            describe(ModelKind::Sarm, &d, &plain)
                .unwrap()
                .get("budget")
                .is_none()
        );
        let opts = Cli::parse_from(["x", "--sarm-budget", "8"]).opts;
        let meta = describe(ModelKind::Sarm, &d, &opts).unwrap();
        let back: Value = serde_json::from_str(&serde_json::to_string(&meta).unwrap()).unwrap();
        let Trained::Sarm(m) = build(ModelKind::Sarm, &d, &back, 1).unwrap() else {
            panic!("not a SARM");
        };
        let b = m.budget().expect("a budget");
        assert_eq!(b, &Budget::fit(&d.train, d.px(), m.levels(), 8).unwrap());
        // W' jets: totals of a few hundred GeV, increasing bin means
        assert!(b.centres.windows(2).all(|w| w[0] < w[1]));
        assert!(
            b.centres[0] > 100.0 && b.centres[7] < 1000.0,
            "{:?}",
            b.centres
        );
    }

    /// `--sarm-shape` comes back from `model.json` as the same totals and shape levels, and
    /// the model's quantised held-out images keep their summed pT.
    #[test]
    fn sarm_shape_survives_the_model_description() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../datasets");
        let parts = load_files(&[root.join("jetimg_wprime_3k.parquet")]).unwrap();
        let d = class_data(&parts, 1).unwrap().unwrap();
        let opts = Cli::parse_from(["x", "--sarm-shape"]).opts;
        assert!(Cli::try_parse_from(["x", "--sarm-shape", "--sarm-budget", "8"]).is_err());
        let meta = describe(ModelKind::Sarm, &d, &opts).unwrap();
        let back: Value = serde_json::from_str(&serde_json::to_string(&meta).unwrap()).unwrap();
        let Trained::Sarm(m) = build(ModelKind::Sarm, &d, &back, 1).unwrap() else {
            panic!("not a SARM");
        };
        assert_eq!(m.totals(), Some(&Totals::fit(&d.train, d.px()).unwrap()));
        // shape levels are fractions of the jet's pT; W' totals a few hundred GeV
        assert!(*m.levels().last().unwrap() <= 1.0, "{:?}", m.levels());
        let q = m.totals().unwrap().quantiles.clone();
        assert!(q[0] > 100.0 && q[q.len() - 1] < 1000.0, "{q:?}");
        // quantised held-out shapes keep each image's summed pT
        let quantised = m.quantise_images(&d.test).unwrap();
        for (x, y) in d
            .test
            .chunks_exact(d.px())
            .zip(quantised.chunks_exact(d.px()))
        {
            let (x, y): (f32, f32) = (x.iter().sum(), y.iter().sum());
            assert!((x - y).abs() < 1e-5 * x, "{x} vs {y}");
        }
    }

    /// `--sarm-valid`: the held-out images never reach training, every epoch reports their
    /// NLL, and the model that comes back is the lowest-NLL epoch's (its NLL, recomputed after
    /// the weights are restored, is the one recorded); too large a hold-out is an error.
    #[test]
    fn sarm_validation_keeps_the_best_epoch() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../datasets");
        let parts = load_files(&[root.join("muon_noniso_1500.parquet")]).unwrap();
        let d = class_data(&parts, 0).unwrap().unwrap();
        let args = [
            "x",
            "--sarm-shape",
            "--sarm-valid",
            "150",
            "--epochs",
            "3",
            "--sarm-hidden",
            "32",
            "--levels",
            "8",
            "--batch",
            "100",
        ];
        let opts = Cli::parse_from(args).opts;
        let mut seen = Vec::new();
        let out = train_model(ModelKind::Sarm, &d, &opts, |e, _, _, v| {
            seen.push((e, v.expect("a validation NLL every epoch")));
            Ok(())
        })
        .unwrap();
        assert_eq!(seen.len(), 3);
        let (e, v) = out.best.expect("a kept epoch");
        let min = seen.iter().map(|s| s.1).fold(f64::INFINITY, f64::min);
        assert_eq!((e, v), *seen.iter().find(|s| s.1 == min).unwrap());
        let Trained::Sarm(m) = &out.model else {
            panic!("not a SARM");
        };
        let valid = &d.train[(d.n_train() - 150) * d.px()..];
        assert_eq!(mean_bits(m, valid).unwrap(), v);
        // a snapshot survives a further training step and brings the NLL back exactly
        let Trained::Sarm(mut m) = out.model else {
            panic!("not a SARM");
        };
        let kept = snapshot(m.vars()).unwrap();
        m.step(&d.train[..100 * d.px()]).unwrap();
        assert_ne!(mean_bits(&m, valid).unwrap(), v);
        restore(m.vars(), &kept).unwrap();
        assert_eq!(mean_bits(&m, valid).unwrap(), v);
        // the levels were fitted without the held-out images
        let fit = first_train_images(&d, d.n_train() - 150);
        assert_eq!(
            out.meta["levels"],
            json!(fit_levels(&shapes(&fit.train, fit.px()), 8).unwrap())
        );
        let mut too_many = Cli::parse_from(args).opts;
        too_many.sarm_valid = d.n_train();
        let err = train_model(ModelKind::Sarm, &d, &too_many, |_, _, _, _| Ok(()))
            .err()
            .expect("an error");
        assert!(err.to_string().contains("--sarm-valid"), "{err}");
    }
}
