//! `cargo xtask data jet-images`: LAGAN-format jet images (25 × 25, 0.1 × 0.1 in (η, φ),
//! pixel = ΣpT in GeV) with Pythia 8 + FastJet: W' → W Z (W → q q̄', Z → ν ν̄) as signal and
//! QCD multijets as background, written as hep-data `images-v1` Parquet (`image.kind =
//! jet-image`, no `muon_pt` column).
//!
//! Recipe (after `lukedeo/jet-generation`, the LAGAN data code; see `docs/data-formats.md`):
//! 13 TeV, visible final-state particles with |η| < 5, anti-kT R = 1.0, the leading jet trimmed
//! (kT R_sub = 0.3, f_cut = 5%), kept when |η| < 2, 250 < pT < 300 GeV and 60 < m < 100 GeV.
//! Preprocessing: the leading subjet at the centre, the *constituents* rotated (before
//! pixelisation, so no spline interpolation and no negative pixels) so that the second subjet
//! points straight down (φ' = 0, η' < 0), then the columns mirrored so that the φ' > 0 half
//! holds more pT.
//!
//! The generator is `xtask/python/gen_jet_images.py`; `xtask/python/images_to_parquet.py
//! --kind jet-image` converts its `.npz` output. Both run in the pinned `data` venv.

use anyhow::{Context, Result, bail};
use clap::Args;

use super::images::{ImageSetArgs, write_images};
use crate::python::{Venv, run as run_cmd};

/// Arguments of `data jet-images`.
#[derive(Args)]
pub struct JetImagesArgs {
    /// `wprime` (W' → W Z, label 1) or `qcd` (HardQCD:all, label 0).
    #[arg(long)]
    class: String,
    #[command(flatten)]
    set: ImageSetArgs,
    /// Lower edge of the QCD p̂T window (GeV); LAGAN used 100.
    #[arg(long, default_value_t = 150.0)]
    pthat_min: f64,
    /// Upper edge of the QCD p̂T window (GeV); LAGAN used 500.
    #[arg(long, default_value_t = 400.0)]
    pthat_max: f64,
}

pub fn run(a: JetImagesArgs) -> Result<()> {
    let (n, seed, out) = (a.set.n, a.set.seed, &a.set.out);
    let label = match a.class.as_str() {
        "wprime" => 1,
        "qcd" => 0,
        other => bail!("--class {other}: expected wprime or qcd"),
    };
    let workers = a.set.check()?;
    if !(a.pthat_min >= 0.0 && a.pthat_min < a.pthat_max) {
        bail!(
            "--pthat-min {} / --pthat-max {}: need 0 ≤ min < max",
            a.pthat_min,
            a.pthat_max
        );
    }
    let venv = Venv::ensure("data", "requirements-data.txt")?;
    let tmp = crate::workspace_root().join("target/xtask-tmp");
    std::fs::create_dir_all(&tmp)?;
    let npz = tmp.join(format!(
        "jetimg_{}_{}_{}.npz",
        a.class,
        seed,
        std::process::id()
    ));
    let mut gen_cmd = venv.script("gen_jet_images.py");
    gen_cmd
        .args(["--class", &a.class])
        .args(["--n", &n.to_string()])
        .args(["--seed", &seed.to_string()])
        .args(["--pthat-min", &a.pthat_min.to_string()])
        .args(["--pthat-max", &a.pthat_max.to_string()])
        .args(a.set.script_args(workers))
        .arg("--out")
        .arg(&npz);
    eprintln!(
        "generating {} {} jet images with Pythia 8 + FastJet (seed {}, chunks of {}, {} workers)",
        n, a.class, seed, a.set.chunk, workers
    );
    run_cmd(&mut gen_cmd).context("generating jet images")?;
    let qcd_window = (label == 0).then_some([a.pthat_min, a.pthat_max]);
    let mut command = format!(
        "cargo xtask data jet-images --class {} --n {n} --seed {seed} --chunk {}",
        a.class, a.set.chunk
    );
    if label == 0 {
        command += &format!(" --pthat-min {} --pthat-max {}", a.pthat_min, a.pthat_max);
    }
    command += &format!(" --out {}", out.display());
    let record = serde_json::json!({
        "command": command,
        "producer": format!("xtask {}", env!("CARGO_PKG_VERSION")),
        "kind": "LAGAN-format jet images: Pythia 8 + FastJet, particle level (no detector simulation)",
        "class": a.class,
        "label": label,
        "qcd_pthat_window_gev": qcd_window,
        "reference": "de Oliveira, Paganini, Nachman, arXiv:1701.05927; data recipe of lukedeo/jet-generation",
    });
    let ds = write_images(&venv, &npz, out, &record, "jet-image")?;
    if ds.kind() != hep_data::images::ImageKind::JetImage || ds.muon_pt().is_some() {
        bail!("{}: not a jet-image file", out.display());
    }
    Ok(())
}
