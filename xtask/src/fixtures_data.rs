//! hep-data's fixtures: numpy `default_rng` draws and JetNet-layout HDF5 files.

use anyhow::{Context, Result};
use clap::Subcommand;

use crate::python::{Venv, output};

/// hep-data fixture sets (subcommands of `cargo xtask fixtures`).
#[derive(Subcommand)]
pub enum DataFixtures {
    /// numpy `default_rng` draws (permutation, choice, integers, raw outputs) for `hep_data::rng`.
    Rng,
    /// Small HDF5 files in the JetNet (Zenodo) layout, written by h5py from the shipped
    /// gluon sample, for the `data jetnet-zenodo` conversion test.
    JetnetHdf5,
    /// FPND resources from the jetnet 0.2.5 wheel (downloaded from PyPI, sha256-checked):
    /// ParticleNet weights and real-JetNet statistics for g, q, t → `crates/hep-metrics/resources/fpnd/`,
    /// plus a PyTorch reference fixture → `crates/hep-models/tests/fixtures/`.
    Fpnd,
}

pub fn run(cmd: DataFixtures) -> Result<()> {
    match cmd {
        DataFixtures::Rng => rng(),
        DataFixtures::JetnetHdf5 => jetnet_hdf5(),
        DataFixtures::Fpnd => fpnd(),
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

fn jetnet_hdf5() -> Result<()> {
    let root = crate::workspace_root();
    let venv = Venv::ensure("interop", "requirements-interop.txt")?;
    let out = root.join("xtask/tests/fixtures");
    std::fs::create_dir_all(&out)?;
    let msg = output(
        venv.script("jetnet_hdf5_fixture.py")
            .arg(root.join("datasets/jetnet30_g_20k.parquet"))
            .arg(&out),
    )?;
    eprint!("{msg}");
    Ok(())
}

fn fpnd() -> Result<()> {
    let root = crate::workspace_root();
    let oracle = Venv::ensure("oracle", "requirements-oracle.txt")?;
    let wheels = root.join("target/xtask-cache/wheels");
    std::fs::create_dir_all(&wheels)?;
    crate::python::run(
        std::process::Command::new(oracle.python())
            .args([
                "-m",
                "pip",
                "download",
                "--no-deps",
                "--only-binary=:all:",
                "--require-hashes",
                "-q",
                "-d",
            ])
            .arg(&wheels)
            .arg("-r")
            .arg(root.join("xtask/python/requirements-jetnet-wheel.txt")),
    )
    .context("downloading the jetnet 0.2.5 wheel (hash-checked)")?;
    let wheel = wheels.join("jetnet-0.2.5-py3-none-any.whl");
    let res = root.join("crates/hep-metrics/resources/fpnd");
    let fix = root.join("crates/hep-models/tests/fixtures");
    std::fs::create_dir_all(&res)?;
    std::fs::create_dir_all(&fix)?;
    let msg = output(
        oracle
            .script("fpnd_resources.py")
            .arg(&wheel)
            .arg(root.join("datasets/jetnet30_g_20k.parquet"))
            .arg(&res)
            .arg(&fix),
    )?;
    eprint!("{msg}");
    Ok(())
}
