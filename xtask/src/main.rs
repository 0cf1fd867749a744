//! `cargo xtask`: developer tasks — data generation and conversion, fixtures, benchmarks, tidy checks.
//!
//! Each subcommand lives in its own module. Python is only ever reached through
//! [`python::Venv`], a pinned virtual environment under `target/`.

mod bench;
mod bench_metrics;
mod bench_mpgan;
mod cuda;
mod data;
mod fixtures;
mod fixtures_data;
mod python;
mod tidy;

use anyhow::Result;
use clap::{Parser, Subcommand};
use std::path::PathBuf;

#[derive(Parser)]
#[command(name = "cargo xtask", about = "developer tasks for the hep workspace")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Generate, download or convert datasets.
    #[command(subcommand)]
    Data(data::DataCmd),
    /// Regenerate committed test fixtures from the Python reference implementations.
    #[command(subcommand)]
    Fixtures(fixtures::FixturesCmd),
    /// Benchmarks against the reference implementations, reported as ratios.
    #[command(subcommand)]
    Bench(bench::BenchCmd),
    /// Build `hepgen` (and optionally the GPU test binaries) with `--features cuda` on a
    /// machine without CUDA, from pinned PyPI CUDA 13.0 wheels; binaries land in `target/cuda/`.
    Cuda(cuda::CudaArgs),
    /// Check architecture invariants (crate layering, file headers).
    Tidy,
}

fn main() -> Result<()> {
    match Cli::parse().cmd {
        Cmd::Data(c) => data::run(c),
        Cmd::Fixtures(c) => fixtures::run(c),
        Cmd::Bench(c) => bench::run(c),
        Cmd::Cuda(a) => cuda::run(a),
        Cmd::Tidy => tidy::run(),
    }
}

/// The workspace root (the parent of this crate's manifest directory).
pub fn workspace_root() -> PathBuf {
    let here = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    here.parent().map(PathBuf::from).unwrap_or(here)
}
