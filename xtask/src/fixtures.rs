//! `cargo xtask fixtures …`: regenerate committed test fixtures from the Python reference implementations.

use anyhow::{Context, Result};
use clap::Subcommand;

use crate::python::{Venv, output};

/// Fixture sets that can be regenerated.
#[derive(Subcommand)]
pub enum FixturesCmd {
    /// numpy `default_rng` draws (permutation, choice, integers, raw outputs) for `hep_data::rng`.
    Rng,
}

pub fn run(cmd: FixturesCmd) -> Result<()> {
    match cmd {
        FixturesCmd::Rng => rng(),
    }
}

fn rng() -> Result<()> {
    let venv = Venv::ensure("data", "requirements-data.txt")?;
    let json = output(&mut venv.script("rng_oracle.py")).context("running the numpy oracle")?;
    let path = crate::workspace_root().join("crates/hep-data/tests/fixtures/numpy_rng.json");
    std::fs::create_dir_all(path.parent().expect("fixture path has a parent"))?;
    std::fs::write(&path, json)?;
    eprintln!("wrote {}", path.display());
    Ok(())
}
