//! `cargo xtask bench …`: side-by-side benchmarks against the reference implementations,
//! run in one command on the same inputs and reported as ratios.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Subcommand;

use crate::python::{Venv, output};

/// Benchmarks that can be run.
#[derive(Subcommand)]
pub enum BenchCmd {
    /// hep-metrics vs jetnet 0.2.5 on 50k vs 50k jets: per-metric seconds and ratios.
    Metrics(crate::bench_metrics::MetricsArgs),
    /// MPGAN generation jets/s and training-step time vs PyTorch (same weights, same CPU) and
    /// vs Pythia 8 + FastJet's CPU time per jet.
    Mpgan {
        /// Jets to generate.
        #[arg(long, default_value_t = 4096)]
        n: usize,
        /// Generation batch size.
        #[arg(long, default_value_t = 1024)]
        batch: usize,
        /// Training batch size.
        #[arg(long, default_value_t = 64)]
        train_batch: usize,
        /// Timed training steps.
        #[arg(long, default_value_t = 3)]
        steps: usize,
    },
    /// ZDC generation throughput (responses/s) of every model trained under `--models`
    /// (directories written by `hepgen zdc train`), release build, CPU.
    Zdc {
        /// Directory holding one trained model per subdirectory.
        #[arg(long, default_value = "out/zdc")]
        models: PathBuf,
        /// The response file the models were trained on.
        #[arg(long, default_value = "datasets/zdc_neutron_50k.parquet")]
        data: PathBuf,
    },
    /// Sparse-image generators: training throughput (images/s, from the epoch times of
    /// `hepgen image train`) and sampling throughput (images/s, `hepgen image generate`),
    /// release build, CPU.
    Images {
        /// Image files (images-v1 Parquet).
        #[arg(long, num_args = 1.., default_values = ["datasets/muon_iso_3k.parquet"])]
        data: Vec<PathBuf>,
        /// Class label to train on.
        #[arg(long, default_value_t = 1)]
        class: u8,
        /// Models.
        #[arg(
            long,
            value_delimiter = ',',
            default_value = "decoupled,decoupled-deconv,sarm"
        )]
        models: Vec<String>,
        /// Timed training epochs (the first is included).
        #[arg(long, default_value_t = 2)]
        epochs: usize,
        /// Images to sample.
        #[arg(long, default_value_t = 1000)]
        n: usize,
    },
    /// Parquet read throughput (jets/s): hep-data vs pyarrow → numpy, same file.
    Data {
        /// Jet file to read.
        #[arg(default_value = "datasets/jetnet30_g_20k.parquet")]
        file: PathBuf,
        /// Timed repetitions of each reader (best and median are reported).
        #[arg(long, default_value_t = 7)]
        repeats: usize,
    },
}

pub fn run(cmd: BenchCmd) -> Result<()> {
    match cmd {
        BenchCmd::Metrics(a) => crate::bench_metrics::run(a),
        BenchCmd::Data { file, repeats } => data(&file, repeats),
        BenchCmd::Zdc { models, data } => zdc(&models, &data),
        BenchCmd::Images {
            data,
            class,
            models,
            epochs,
            n,
        } => images(&data, class, &models, epochs, n),
        BenchCmd::Mpgan {
            n,
            batch,
            train_batch,
            steps,
        } => crate::bench_mpgan::run(n, batch, train_batch, steps),
    }
}

fn data(file: &std::path::Path, repeats: usize) -> Result<()> {
    let root = crate::workspace_root();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    eprintln!("building the hep-data reader (release)…");
    crate::python::run(
        std::process::Command::new(&cargo)
            .args([
                "build",
                "--release",
                "-q",
                "-p",
                "hep-data",
                "--example",
                "read_throughput",
            ])
            .current_dir(&root),
    )?;
    let file = root.join(file);
    let ours = output(
        std::process::Command::new(root.join("target/release/examples/read_throughput"))
            .arg(&file)
            .arg(repeats.to_string()),
    )?;
    let venv = Venv::ensure("interop", "requirements-interop.txt")?;
    let theirs = output(
        venv.script("bench_data.py")
            .arg(&file)
            .arg(repeats.to_string()),
    )?;
    let o: serde_json::Value = serde_json::from_str(ours.trim()).context("hep-data output")?;
    let t: serde_json::Value = serde_json::from_str(theirs.trim()).context("pyarrow output")?;
    let rate = |v: &serde_json::Value, k: &str| {
        v["jets"].as_f64().unwrap_or(0.0) / v[k].as_f64().unwrap_or(f64::NAN)
    };
    println!(
        "file: {} ({} jets); pyarrow memory pool: {}, threads {}; hep-data with mimalloc, {} decoding threads",
        file.display(),
        o["jets"],
        t["memory_pool"].as_str().unwrap_or("?"),
        t["threads"],
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    println!(
        "{:<34} {:>14} {:>14}",
        "reader", "best jets/s", "median jets/s"
    );
    for v in [&o, &t] {
        println!(
            "{:<34} {:>14.0} {:>14.0}",
            v["impl"].as_str().unwrap_or("?"),
            rate(v, "best_s"),
            rate(v, "median_s")
        );
    }
    println!(
        "ratio hep-data / pyarrow: {:.2}x (best), {:.2}x (median)",
        rate(&o, "best_s") / rate(&t, "best_s"),
        rate(&o, "median_s") / rate(&t, "median_s")
    );
    Ok(())
}

/// Builds `hepgen` in release mode and returns its path.
fn release_hepgen() -> Result<PathBuf> {
    let root = crate::workspace_root();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    eprintln!("building hepgen (release)…");
    crate::python::run(
        std::process::Command::new(&cargo)
            .args(["build", "--release", "-q", "-p", "hep-cli"])
            .current_dir(&root),
    )?;
    Ok(root.join("target/release/hepgen"))
}

fn images(data: &[PathBuf], class: u8, models: &[String], epochs: usize, n: usize) -> Result<()> {
    let root = crate::workspace_root();
    let bin = release_hepgen()?;
    let tmp = root.join("target/xtask-tmp/bench_images");
    std::fs::create_dir_all(&tmp)?;
    println!(
        "sparse-image generators, CPU, class {class} of {} (release build):",
        data.iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(" ")
    );
    println!(
        "  {:<18} {:>22} {:>22}",
        "model", "training images/s", "sampling images/s"
    );
    for m in models {
        let dir = tmp.join(m);
        let train = output(
            std::process::Command::new(&bin)
                .args([
                    "image",
                    "train",
                    "--model",
                    m,
                    "--class",
                    &class.to_string(),
                ])
                .args(["--epochs", &epochs.to_string(), "--data"])
                .args(data.iter().map(|p| root.join(p)))
                .arg("--out")
                .arg(&dir),
        )?;
        // "training M on N CLASS images (H×W)" then "epoch e: loss … (S s)"
        let n_train: f64 = train
            .split(" on ")
            .nth(1)
            .and_then(|r| r.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .context("parsing the training image count")?;
        let secs: Vec<f64> = train
            .lines()
            .filter(|l| l.starts_with("epoch "))
            .filter_map(|l| {
                l.rsplit('(')
                    .next()?
                    .split_whitespace()
                    .next()?
                    .parse()
                    .ok()
            })
            .collect();
        let train_rate = if secs.is_empty() {
            "no epochs".to_string()
        } else {
            format!(
                "{:.0}",
                n_train * secs.len() as f64 / secs.iter().sum::<f64>()
            )
        };
        let sampled = output(
            std::process::Command::new(&bin)
                .args(["image", "generate", "--model-dir"])
                .arg(&dir)
                .args(["--n", &n.to_string(), "--out"])
                .arg(tmp.join("bench_images.parquet")),
        )?;
        let rate = sampled
            .split("s (")
            .nth(1)
            .and_then(|r| r.split_whitespace().next())
            .unwrap_or("?");
        println!("  {m:<18} {train_rate:>22} {rate:>22}");
    }
    Ok(())
}

fn zdc(models: &std::path::Path, data: &std::path::Path) -> Result<()> {
    let root = crate::workspace_root();
    let bin = release_hepgen()?;
    let tmp = root.join("target/xtask-tmp");
    std::fs::create_dir_all(&tmp)?;
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(root.join(models))
        .with_context(|| format!("reading {}", models.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("model.json").exists())
        .collect();
    dirs.sort();
    anyhow::ensure!(
        !dirs.is_empty(),
        "no trained models under {}",
        models.display()
    );
    println!(
        "ZDC generation, CPU, test split of {} (release build):",
        data.display()
    );
    for d in dirs {
        let out = output(
            std::process::Command::new(&bin)
                .args(["zdc", "generate", "--model"])
                .arg(&d)
                .arg("--data")
                .arg(root.join(data))
                .arg("--out")
                .arg(tmp.join("bench_zdc.parquet")),
        )?;
        let rate = out
            .split("s (")
            .nth(1)
            .and_then(|r| r.split_whitespace().next())
            .unwrap_or("?");
        println!(
            "  {:<8} {rate:>10} responses/s",
            d.file_name().unwrap_or_default().to_string_lossy()
        );
    }
    Ok(())
}
