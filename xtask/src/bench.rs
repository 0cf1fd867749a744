//! `cargo xtask bench …`: side-by-side benchmarks against the reference implementations, as ratios.

use anyhow::Result;
use clap::Subcommand;

/// Benchmarks that can be run.
#[derive(Subcommand)]
pub enum BenchCmd {}

pub fn run(cmd: BenchCmd) -> Result<()> {
    match cmd {}
}
