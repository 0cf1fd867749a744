//! `cargo xtask data …`: generate real jets with Pythia 8 + FastJet, download/convert JetNet.

mod images;
mod interop;
mod jet_images;
mod zdc;
mod zenodo;

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use hep_data::npy::{NpyArray, read_npy};
use hep_data::{JetDataset, JetFeatures, JetType};

use crate::python::{self, Venv};

/// Dataset commands.
#[derive(Subcommand)]
pub enum DataCmd {
    /// Generate JetNet-format jets with Pythia 8 + FastJet (13 TeV pp, pT ≈ 1 TeV,
    /// anti-kT R = 0.8, |η| < 2.5, leading constituents, parton-matched).
    Jetnet(JetnetArgs),
    /// Download a real JetNet HDF5 file from Zenodo (md5-checked) and convert it to Parquet;
    /// or convert an HDF5 file already on disk with `--hdf5`.
    JetnetZenodo(zenodo::ZenodoArgs),
    /// Check that pyarrow, pandas and polars read hep-data Parquet identically, and the reverse.
    Interop {
        /// Jet file to round-trip.
        #[arg(default_value = "datasets/jetnet30_g_20k.parquet")]
        file: PathBuf,
    },
    /// Synthetic, physically motivated ALICE ZDC responses (neutron ZN or proton ZP) with
    /// their particles (see docs/zdc-generation.md).
    Zdc(zdc::ZdcArgs),
    /// Muon calorimeter images (Pythia 8, pile-up 50, crude calorimeter) as images-v1 Parquet.
    MuonImages(images::MuonImagesArgs),
    /// LAGAN-format jet images (W' → WZ signal or QCD; Pythia 8 + FastJet, trimmed anti-kT
    /// R = 1.0, 25 × 25 of 0.1 in (η, φ)) as images-v1 Parquet.
    JetImages(jet_images::JetImagesArgs),
    /// Validate a Parquet/.npy jet file and print a per-feature summary.
    Check {
        /// The file.
        file: PathBuf,
    },
}

/// Arguments of `data jetnet`.
#[derive(Args)]
pub struct JetnetArgs {
    /// Jet type: g, q, t, w or z.
    #[arg(long = "type")]
    jet_type: String,
    /// Number of jets.
    #[arg(long)]
    n: usize,
    /// Seed; Pythia instance i gets seed·1000 + i + 1.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Output Parquet file.
    #[arg(long)]
    out: PathBuf,
    /// Particles kept per jet (30 or 150).
    #[arg(long, default_value_t = 30)]
    particles: usize,
    /// Parallel worker processes (the output does not depend on it).
    #[arg(long)]
    workers: Option<usize>,
    /// Jets per Pythia instance (the output depends on it).
    #[arg(long, default_value_t = 1000)]
    chunk: usize,
    /// Extra Pythia settings, e.g. --set "PartonLevel:MPI = off".
    #[arg(long = "set")]
    settings: Vec<String>,
}

pub fn run(cmd: DataCmd) -> Result<()> {
    match cmd {
        DataCmd::Jetnet(a) => jetnet(a),
        DataCmd::Zdc(a) => zdc::run(a),
        DataCmd::MuonImages(a) => images::run(a),
        DataCmd::JetImages(a) => jet_images::run(a),
        DataCmd::JetnetZenodo(a) => zenodo::run(a),
        DataCmd::Interop { file } => interop::run(&file),
        DataCmd::Check { file } => {
            let ds = load_any(&file)?;
            print_summary(&file, &ds);
            Ok(())
        }
    }
}

fn jetnet(a: JetnetArgs) -> Result<()> {
    let jet_type: JetType = a.jet_type.parse()?;
    if a.n == 0 {
        bail!("--n must be positive");
    }
    if a.particles != 30 && a.particles != 150 {
        bail!(
            "--particles must be 30 or 150 (JetNet30 / JetNet150), got {}",
            a.particles
        );
    }
    let venv = Venv::ensure("data", "requirements-data.txt")?;
    let tmp = crate::workspace_root()
        .join("target/xtask-tmp")
        .join(format!("jetnet-{}-{}", jet_type, std::process::id()));
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp)?;
    }
    let workers = a
        .workers
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let mut cmd = venv.script("gen_jetnet.py");
    cmd.args(["--type", jet_type.label()])
        .args(["--n", &a.n.to_string()])
        .args(["--seed", &a.seed.to_string()])
        .args(["--chunk", &a.chunk.to_string()])
        .args(["--npart", &a.particles.to_string()])
        .args(["--workers", &workers.to_string()])
        .arg("--out-dir")
        .arg(&tmp);
    for s in &a.settings {
        cmd.args(["--set", s]);
    }
    eprintln!(
        "generating {} {} jets with Pythia 8 + FastJet ({} workers, seed {})",
        a.n, jet_type, workers, a.seed
    );
    let t0 = Instant::now();
    python::run(&mut cmd).context("Pythia/FastJet generation failed")?;
    let wall = t0.elapsed().as_secs_f64();
    let mut ds = from_generator_dir(&tmp, jet_type)?;
    let meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(tmp.join("meta.json"))?)?;
    let argv: Vec<String> = std::env::args().collect();
    let provenance = serde_json::json!({
        "command": format!("cargo xtask {}", argv.get(1..).unwrap_or_default().join(" ")),
        "producer": format!("xtask {} / hep-data {}", env!("CARGO_PKG_VERSION"), env!("CARGO_PKG_VERSION")),
        "kind": "real jets: Pythia 8 + FastJet, particle level (no detector simulation)",
        "generator": meta,
    });
    ds = ds.with_provenance(serde_json::to_string(&provenance)?);
    if let Some(dir) = a.out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    hep_data::parquet::write_jets(&a.out, &ds)?;
    std::fs::remove_dir_all(&tmp).ok();
    let cpu = meta["cpu_seconds"].as_f64().unwrap_or(f64::NAN);
    eprintln!(
        "wrote {} ({} jets, {:.1} MB): {:.1} s wall, {:.4} CPU-s per jet (Pythia + FastJet workers)",
        a.out.display(),
        ds.len(),
        std::fs::metadata(&a.out)?.len() as f64 / 1e6,
        wall,
        cpu / ds.len() as f64
    );
    print_summary(&a.out, &ds);
    Ok(())
}

fn npy_in(dir: &Path, name: &str) -> Result<NpyArray> {
    Ok(read_npy(&dir.join(name))?)
}

/// Build a dataset from the generator's arrays: `particle_features [N, P, 4]`,
/// `jet_features [N, 4]` (pt, eta, mass, num_particles), and the extras.
fn from_generator_dir(dir: &Path, jet_type: JetType) -> Result<JetDataset> {
    let pf = npy_in(dir, "particle_features.npy")?;
    let jf = npy_in(dir, "jet_features.npy")?;
    let phi = npy_in(dir, "jet_phi.npy")?.to_f32();
    let ncon = npy_in(dir, "n_constituents.npy")?;
    let pid = npy_in(dir, "parton_pdgid.npy")?;
    let [n, p, 4] = pf.shape[..] else {
        bail!(
            "particle_features.npy has shape {:?}, expected [N, P, 4]",
            pf.shape
        );
    };
    if jf.shape != [n, 4] {
        bail!(
            "jet_features.npy has shape {:?}, expected [{n}, 4]",
            jf.shape
        );
    }
    let to_u32 = |a: &NpyArray| -> Vec<u32> { a.to_f64().iter().map(|&v| v as u32).collect() };
    let jfv = jf.to_f32();
    let features = JetFeatures {
        jet_type: vec![jet_type; n],
        pt: jfv.iter().step_by(4).copied().collect(),
        eta: jfv.iter().skip(1).step_by(4).copied().collect(),
        mass: jfv.iter().skip(2).step_by(4).copied().collect(),
        num_particles: jfv.iter().skip(3).step_by(4).map(|&v| v as u32).collect(),
        phi: Some(phi),
        n_constituents: Some(to_u32(&ncon)),
        parton_pdgid: Some(pid.to_f64().iter().map(|&v| v as i32).collect()),
    };
    split_particle_array(&pf.to_f32(), n, p, features)
}

/// `[N, P, 4]` (features + mask) → dataset with the given jet features (validated).
pub fn split_particle_array(
    pf: &[f32],
    n: usize,
    p: usize,
    jets: JetFeatures,
) -> Result<JetDataset> {
    let mut particles = Vec::with_capacity(n * p * 3);
    let mut mask = Vec::with_capacity(n * p);
    for row in pf.chunks_exact(4) {
        particles.extend_from_slice(&row[..3]);
        mask.push(row[3]);
    }
    Ok(JetDataset::try_new(p, particles, mask, jets)?)
}

/// Load a Parquet file, or a `.npy` particle array (as gluon jets).
pub fn load_any(path: &Path) -> Result<JetDataset> {
    let ds = if path.extension().is_some_and(|e| e == "npy") {
        hep_data::npy::read_jets_npy(path, hep_data::npy::JetArrayOptions::new(JetType::G))?
    } else {
        hep_data::parquet::read_jets(path)?
    };
    Ok(ds)
}

/// Print the per-feature summary table.
pub fn print_summary(path: &Path, ds: &JetDataset) {
    println!(
        "{}: {} jets, P = {}",
        path.display(),
        ds.len(),
        ds.num_slots()
    );
    print!(
        "{}",
        hep_data::summary::format_table(&hep_data::summary::describe(ds))
    );
}
