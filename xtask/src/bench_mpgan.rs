//! `cargo xtask bench mpgan`: MPGAN generation and training-step speed of our implementation
//! vs a PyTorch implementation of the same architecture with the same published weights, on
//! the same CPU in one run, and vs the Pythia 8 + FastJet CPU time per jet.

use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result};

use crate::python::{Venv, output};

fn number_after(text: &str, key: &str) -> Option<f64> {
    let i = text.find(key)? + key.len();
    let rest = text[i..].trim_start_matches([' ', '(', ':']);
    let end = rest
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == 'e' || c == '-'))
        .unwrap_or(rest.len());
    rest[..end].parse().ok()
}

fn pythia_cpu_per_jet(root: &Path) -> Result<f64> {
    let ds = hep_data::parquet::read_jets(&root.join("datasets/jetnet30_g_20k.parquet"))?;
    let p: serde_json::Value = serde_json::from_str(ds.provenance().context("no provenance")?)?;
    let g = &p["generator"];
    Ok(g["cpu_seconds"].as_f64().context("cpu_seconds")?
        / g["n_jets"].as_f64().context("n_jets")?)
}

pub fn run(n: usize, batch: usize, train_batch: usize, steps: usize) -> Result<()> {
    let root = crate::workspace_root();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let weights = root.join("../shared/reference/mpgan/mp_g/G_best_epoch.pt");
    let golden = root.join("../shared/reference/mpgan/golden_g.npz");
    anyhow::ensure!(
        weights.exists(),
        "published weights not found at {}",
        weights.display()
    );
    eprintln!("building hepgen (release)…");
    crate::python::run(
        Command::new(&cargo)
            .args(["build", "--release", "-q", "-p", "hep-cli"])
            .current_dir(&root),
    )?;
    let bin = root.join("target/release/hepgen");
    let tmp = root.join("target/xtask-tmp");
    std::fs::create_dir_all(&tmp)?;
    let ours_gen = output(
        Command::new(&bin)
            .args(["generate", "--jet-type", "g", "--multiplicities-from"])
            .arg(root.join("datasets/jetnet30_g_20k.parquet"))
            .arg("--checkpoint")
            .arg(&weights)
            .args([
                "--n",
                &n.to_string(),
                "--batch",
                &batch.to_string(),
                "--out",
            ])
            .arg(tmp.join("bench_mpgan.parquet")),
    )?;
    let ours_jps = number_after(&ours_gen, "s (").context("parsing hepgen generate output")?;
    let ours_train = output(
        Command::new(&bin)
            .args([
                "train",
                "--model",
                "paper",
                "--epochs",
                "1",
                "--eval-jets",
                "64",
            ])
            .args([
                "--batch",
                &train_batch.to_string(),
                "--max-batches",
                &(steps + 1).to_string(),
            ])
            .arg("--data")
            .arg(root.join("datasets/jetnet30_g_20k.parquet"))
            .arg("--out")
            .arg(tmp.join("bench_mpgan_train")),
    )?;
    let ours_step = number_after(&ours_train, "epoch 1:").context("parsing hepgen train output")?;
    let venv = Venv::ensure("oracle", "requirements-oracle.txt")?;
    let torch = output(
        venv.script("bench_mpgan.py")
            .arg(&weights)
            .arg(&golden)
            .args([
                n.to_string(),
                batch.to_string(),
                train_batch.to_string(),
                steps.to_string(),
            ]),
    )?;
    let t: serde_json::Value = serde_json::from_str(torch.trim()).context("PyTorch output")?;
    let torch_jps = t["gen_jets_per_s"].as_f64().unwrap_or(f64::NAN);
    let torch_step = t["train_step_s_median"].as_f64().unwrap_or(f64::NAN);
    let pythia = pythia_cpu_per_jet(&root)?;
    println!("MPGAN (published gluon weights), CPU, {n} jets in batches of {batch}:");
    println!(
        "  {:<38} {:>12} {:>14}",
        "implementation", "jets/s", "µs per jet"
    );
    println!(
        "  {:<38} {:>12.0} {:>14.0}",
        "hep-models (candle, fused MP)",
        ours_jps,
        1e6 / ours_jps
    );
    println!(
        "  {:<38} {:>12.0} {:>14.0}",
        t["impl"].as_str().unwrap_or("PyTorch"),
        torch_jps,
        1e6 / torch_jps
    );
    println!(
        "  generation speed-up vs PyTorch: {:.2}x (PyTorch reproduces the golden output to {:.1e})",
        ours_jps / torch_jps,
        t["golden_max_abs_err"].as_f64().unwrap_or(f64::NAN)
    );
    println!(
        "  Pythia 8 + FastJet: {:.0} µs CPU per jet -> generation is {:.1}x faster per jet",
        pythia * 1e6,
        pythia * ours_jps
    );
    println!(
        "training step (batch {train_batch}, D + G, paper model): hep-models {ours_step:.3} s, PyTorch {torch_step:.3} s -> {:.2}x",
        torch_step / ours_step
    );
    Ok(())
}
