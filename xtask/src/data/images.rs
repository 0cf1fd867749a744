//! `cargo xtask data muon-images`: muon calorimeter images with Pythia 8 (isolated muons from
//! Z' → μμ, non-isolated from b b̄; pile-up Poisson(50) from a min-bias pool; a crude
//! calorimeter), written as hep-data `images-v1` Parquet.
//!
//! The generator is `xtask/python/gen_muon_images.py` (written for this project, see
//! `../shared/spec/data-generation.md` §3); `xtask/python/images_to_parquet.py` converts its
//! `.npz` output. Both run in the pinned `data` venv.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::Args;

use crate::python::{Venv, run as run_cmd};

/// Arguments of `data muon-images`.
#[derive(Args)]
pub struct MuonImagesArgs {
    /// `iso` (Z' → μμ, label 1) or `noniso` (b b̄, label 0).
    #[arg(long)]
    class: String,
    /// Number of images.
    #[arg(long)]
    n: usize,
    /// Seed of Pythia and of the pile-up draws.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Output Parquet file.
    #[arg(long)]
    out: PathBuf,
    /// Size of the pre-generated min-bias pile-up pool.
    #[arg(long, default_value_t = 3000)]
    pool: usize,
}

pub fn run(a: MuonImagesArgs) -> Result<()> {
    let cls = match a.class.as_str() {
        "iso" => "sig",
        "noniso" => "bkg",
        other => bail!("--class {other}: expected iso or noniso"),
    };
    let venv = Venv::ensure("data", "requirements-data.txt")?;
    let root = crate::workspace_root();
    let tmp = root.join("target/xtask-tmp");
    std::fs::create_dir_all(&tmp)?;
    let npz = tmp.join(format!("muon_{cls}_{}.npz", a.seed));
    // the calorimeter settings that reproduce the paper's ~98.8% zero pixels (spec §3)
    run_cmd(
        venv.script("gen_muon_images.py")
            .args([
                "--class",
                cls,
                "--n",
                &a.n.to_string(),
                "--seed",
                &a.seed.to_string(),
            ])
            .args([
                "--pool",
                &a.pool.to_string(),
                "--calo",
                "--charged-ptmin",
                "0.9",
            ])
            .args(["--pixel-threshold", "0.5", "--out"])
            .arg(&npz),
    )
    .context("generating muon images")?;
    let record = serde_json::json!({
        "command": format!("cargo xtask data muon-images --class {} --n {} --seed {} --out {}", a.class, a.n, a.seed, a.out.display()),
        "class": a.class,
        "calorimeter": "charged pT > 0.9 GeV, EM 10%/sqrt(E), HAD 50%/sqrt(E) smearing, pixel threshold 0.5 GeV",
    });
    run_cmd(
        venv.script("images_to_parquet.py")
            .arg(&npz)
            .arg(&a.out)
            .arg(record.to_string()),
    )
    .context("converting to Parquet")?;
    let ds = hep_data::images::read_images(&a.out)
        .with_context(|| format!("validating {}", a.out.display()))?;
    let zeros = ds.pixels().iter().filter(|&&v| v == 0.0).count() as f64 / ds.pixels().len() as f64;
    println!(
        "wrote {} ({} images, zero pixels {:.2}%)",
        a.out.display(),
        ds.len(),
        100.0 * zeros
    );
    Ok(())
}
