//! `cargo xtask bench metrics`: the JetNet metric suite in Rust (`hep-metrics`) and in
//! jetnet 0.2.5 on the same inputs, per-metric wall seconds and speed-up ratios.
//!
//! The Rust side runs `cargo run --release -p hep-metrics --example suite`, the Python side
//! `xtask/python/metrics_oracle_bench.py` in the pinned oracle venv; both print JSON. Our
//! w1efp row reuses the efps36 row's EFPs, as `hepgen evaluate` does.

use crate::python::{Venv, output};
use anyhow::{Context, Result};
use std::process::Command;

/// Arguments of `cargo xtask bench metrics`.
#[derive(clap::Args)]
pub struct MetricsArgs {
    /// "Real" sample (JetNet Parquet).
    #[arg(long, default_value = "datasets/jetnet30_g_20k.parquet")]
    pub real: String,
    /// "Generated" sample (JetNet Parquet).
    #[arg(long, default_value = "datasets/jetnet30_t_20k.parquet")]
    pub gen_sample: String,
    /// Jets per sample (inputs are cycled to this many).
    #[arg(long, default_value_t = 50_000)]
    pub n: usize,
    /// Seed of the bootstrap generator (both sides).
    #[arg(long, default_value_t = 12345)]
    pub seed: u64,
    /// Only run the Rust side.
    #[arg(long)]
    pub rust_only: bool,
}

const METRICS: [&str; 7] = ["w1m", "w1p", "w1efp", "efps36", "fpd", "kpd", "cov_mmd"];

pub fn run(args: MetricsArgs) -> Result<()> {
    let root = crate::workspace_root();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let (n, seed) = (args.n.to_string(), args.seed.to_string());
    eprintln!(
        "xtask: Rust suite ({} vs {}, N = {})",
        args.real, args.gen_sample, args.n
    );
    let rust = output(
        Command::new(&cargo)
            .current_dir(&root)
            .args([
                "run",
                "--release",
                "-q",
                "-p",
                "hep-metrics",
                "--example",
                "suite",
                "--",
            ])
            .args([&args.real, &args.gen_sample, &n, &seed]),
    )?;
    let rust: serde_json::Value = serde_json::from_str(rust.trim()).context("suite output")?;
    let py = if args.rust_only {
        None
    } else {
        eprintln!("xtask: jetnet suite (minutes)");
        let venv = Venv::ensure("oracle", "requirements-oracle.txt")?;
        let mut cmd = venv.script("metrics_oracle_bench.py");
        cmd.current_dir(&root)
            .args([&args.real, &args.gen_sample, "--n", &n, "--seed", &seed]);
        let text = output(&mut cmd)?;
        let last = text.lines().last().unwrap_or_default();
        Some(serde_json::from_str::<serde_json::Value>(last).context("jetnet bench output")?)
    };
    println!("| metric | hep-metrics (s) | jetnet 0.2.5 (s) | speed-up |");
    println!("|---|---:|---:|---:|");
    let (mut tr, mut tp) = (0.0, 0.0);
    for m in METRICS {
        let r = rust[m]["seconds"].as_f64().unwrap_or(f64::NAN);
        tr += r;
        // our w1efp reuses the efps36 row's EFPs (as `hepgen evaluate` does); jetnet's
        // w1efp computes its own
        let label = if m == "w1efp" { "w1efp ¹" } else { m };
        match &py {
            Some(p) => {
                let s = p[m]["seconds"].as_f64().unwrap_or(f64::NAN);
                tp += s;
                println!("| {label} | {r:.3} | {s:.2} | {:.0}× |", s / r);
            }
            None => println!("| {label} | {r:.3} | – | – |"),
        }
    }
    if py.is_some() {
        println!("| **total** | {tr:.3} | {tp:.2} | {:.0}× |", tp / tr);
    } else {
        println!("| **total** | {tr:.3} | – | – |");
    }
    println!(
        "\n¹ hep-metrics: the bootstrap on 5 of the efps36 row's EFPs (computed once, as \
         `hepgen evaluate` does); jetnet 0.2.5: its own EFPs plus the bootstrap."
    );
    for m in METRICS {
        let p = py
            .as_ref()
            .map(|p| p[m]["value"].to_string())
            .unwrap_or_default();
        eprintln!("{m}: rust {} | jetnet {p}", rust[m]["value"]);
    }
    Ok(())
}
