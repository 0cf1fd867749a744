//! `cargo xtask fixtures …`: regenerate committed test fixtures from the Python reference implementations.

use crate::python::{self, Venv};
use anyhow::{Context, Result};
use clap::Subcommand;

/// Fixture sets that can be regenerated.
#[derive(Subcommand)]
pub enum FixturesCmd {
    /// hep-data fixtures (numpy RNG draws, JetNet-layout HDF5), see `fixtures_data.rs`.
    #[command(flatten)]
    Data(crate::fixtures_data::DataFixtures),
    /// Reference values of jetnet 0.2.5 / energyflow 1.4.0 / scipy for `hep-metrics`
    /// (`crates/hep-metrics/tests/fixtures/jetnet_oracle.json`), computed on the shipped
    /// real samples `datasets/jetnet30_{g,t}_20k.parquet`. Takes a few minutes; the first run
    /// also builds the pinned venv `target/xtask-venv-oracle` (~6 GB, PyPI's CUDA torch).
    Metrics {
        /// Seed of the generator jetnet's bootstrapped metrics draw from.
        #[arg(long, default_value_t = 12345)]
        seed: u64,
        /// Only the small-subset fixtures (skips the full-sample bootstrap, ~1 min instead of ~5).
        #[arg(long)]
        skip_full: bool,
    },
}

pub fn run(cmd: FixturesCmd) -> Result<()> {
    match cmd {
        FixturesCmd::Data(c) => crate::fixtures_data::run(c),
        FixturesCmd::Metrics { seed, skip_full } => metrics(seed, skip_full),
    }
}

fn metrics(seed: u64, skip_full: bool) -> Result<()> {
    let root = crate::workspace_root();
    let datasets = root.join("datasets");
    for kind in ["g", "t"] {
        let p = datasets.join(format!("jetnet30_{kind}_20k.parquet"));
        anyhow::ensure!(p.exists(), "missing shipped sample {}", p.display());
    }
    let out = root.join("crates/hep-metrics/tests/fixtures/jetnet_oracle.json");
    std::fs::create_dir_all(out.parent().context("fixture path has a parent")?)?;
    let venv = Venv::ensure("oracle", "requirements-oracle.txt")?;
    let mut cmd = venv.script("metrics_oracle.py");
    cmd.arg("--datasets")
        .arg(&datasets)
        .arg("--out")
        .arg(&out)
        .arg("--seed")
        .arg(seed.to_string());
    if skip_full {
        cmd.arg("--skip-full");
    }
    python::run(&mut cmd).context("running the jetnet oracle")?;
    eprintln!("xtask: wrote {}", out.display());
    Ok(())
}
