//! `hepgen`: the user-facing command line — summarise and plot datasets, generate jets (and,
//! as the issues land, train, evaluate and report).

mod demo;
mod evaluate;
mod generate;
mod images;
mod plot;
mod report;
mod train;
mod zdc;

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use hep_data::npy::{JetArrayOptions, read_jets_npy};
use hep_data::{JetDataset, JetType};

// candle allocates and frees large tensors at every op; a pooled allocator avoids faulting in
// fresh pages from the OS each time (measured: see docs/benchmarks.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "hepgen",
    version,
    about = "fast, validated generative simulation of sparse particle-physics data"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Load and validate jet files (hep-data Parquet or JetNet .npy), print a per-feature
    /// summary and write a jet-mass histogram.
    Summary {
        /// Jet files (`.parquet`, or `.npy` `[N, P, 3|4]`).
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Jet type of `.npy` inputs (they do not record it).
        #[arg(long, default_value = "g")]
        jet_type: String,
        /// Where to write the jet-mass histogram (PNG).
        #[arg(long, default_value = "out/jet_mass.png")]
        plot: PathBuf,
    },
    /// Generate jets with an MPGAN generator (published `.pt` weights or our checkpoints).
    Generate(generate::GenerateArgs),
    /// The JetNet metric suite (W1M, W1P, W1EFP, FPD, KPD, COV/MMD, precision/recall,
    /// density/coverage) between real and generated jets.
    Evaluate(evaluate::EvaluateArgs),
    /// Train MPGAN on a jet file (W1M-selected best epoch, checkpoints, --resume).
    Train(train::TrainArgs),
    /// Markdown + HTML report with plots and metrics, real vs generated and real vs real.
    Report(report::ReportArgs),
    /// The main job on the shipped sample: summary, a small MPGAN trained for a few CPU
    /// minutes, generation, evaluation and the report.
    Demo(demo::DemoArgs),
    /// ALICE ZDC conditional generators (cVAE, cWAE, cGAN, e2e-SAE): train, generate,
    /// evaluate (channel-sum W1, MAE) and report.
    #[command(subcommand)]
    Zdc(zdc::ZdcCmd),
    /// Sparse muon calorimeter and jet images: independent pixels, decoupled Dirac-mixture
    /// generators (FC, deconvolutional), SARM — train, generate, evaluate, compare.
    #[command(subcommand)]
    Image(images::ImageCmd),
}

fn main() -> Result<()> {
    match Cli::parse().cmd {
        Cmd::Summary {
            files,
            jet_type,
            plot,
        } => summary(&files, jet_type.parse()?, &plot),
        Cmd::Generate(a) => generate::run(a),
        Cmd::Evaluate(a) => evaluate::run(a),
        Cmd::Train(a) => train::run(a),
        Cmd::Report(a) => report::run(a),
        Cmd::Demo(a) => demo::run(a),
        Cmd::Zdc(c) => zdc::run(c),
        Cmd::Image(c) => images::run(c),
    }
}

/// Load a Parquet or `.npy` jet file.
fn load(path: &Path, jet_type: JetType) -> Result<JetDataset> {
    let ds = if path.extension().is_some_and(|e| e == "npy") {
        read_jets_npy(path, JetArrayOptions::new(jet_type))?
    } else {
        hep_data::parquet::read_jets(path)?
    };
    Ok(ds)
}

/// Load, validate and summarise jet files; plot their jet masses.
pub(crate) fn summary(files: &[PathBuf], jet_type: JetType, plot_path: &Path) -> Result<()> {
    let mut series = Vec::new();
    for path in files {
        let t0 = std::time::Instant::now();
        let ds = load(path, jet_type).with_context(|| format!("loading {}", path.display()))?;
        let secs = t0.elapsed().as_secs_f64();
        let types: std::collections::BTreeSet<&str> =
            ds.jets().jet_type.iter().map(|t| t.label()).collect();
        println!(
            "{}: {} jets, P = {}, jet types {:?}, validated in {:.2} s",
            path.display(),
            ds.len(),
            ds.num_slots(),
            types,
            secs
        );
        if let Some(p) = ds.provenance()
            && let Ok(v) = serde_json::from_str::<serde_json::Value>(p)
            && !v["generator"].is_null()
        {
            let g = &v["generator"];
            println!(
                "  provenance: {} + {}, seed {}, {} events",
                g["generator"].as_str().unwrap_or("?"),
                g["fastjet"].as_str().unwrap_or("?"),
                g["seed"],
                g["n_events"]
            );
        }
        print!(
            "{}",
            hep_data::summary::format_table(&hep_data::summary::describe(&ds))
        );
        let label = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        series.push((
            label,
            ds.jets()
                .mass
                .iter()
                .map(|&m| f64::from(m))
                .collect::<Vec<_>>(),
        ));
    }
    if let Some(dir) = plot_path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    plot::histograms(plot_path, "Jet mass", "jet mass [GeV]", &series, 60)?;
    println!("wrote {}", plot_path.display());
    Ok(())
}
