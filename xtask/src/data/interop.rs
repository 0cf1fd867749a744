//! `cargo xtask data interop`: hep-data ⇄ pyarrow/pandas/polars, value for value.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail, ensure};
use hep_data::JetDataset;
use hep_data::npy::write_npy;

use crate::python::{Venv, output};

/// Write `ds` with hep-data and the reference arrays; pyarrow, pandas and polars must read
/// identical values. Then pyarrow and pandas write the same data and hep-data must read
/// it back identically.
pub fn run(file: &Path) -> Result<()> {
    let ds = super::load_any(file)?;
    let dir: PathBuf = crate::workspace_root()
        .join("target/xtask-tmp")
        .join(format!("interop-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    hep_data::parquet::write_jets(&dir.join("ours.parquet"), &ds)?;
    write_reference(&dir, &ds)?;
    let venv = Venv::ensure("interop", "requirements-interop.txt")?;
    let read = output(venv.script("interop.py").arg("read").arg(&dir))
        .context("python side of the interop check")?;
    println!("python reads hep-data: {}", read.trim());
    let v: serde_json::Value = serde_json::from_str(&read)?;
    ensure!(
        v["ok"] == true,
        "pyarrow/pandas/polars read different values: {read}"
    );

    output(venv.script("interop.py").arg("write").arg(&dir))?;
    for name in ["theirs_pyarrow.parquet", "theirs_pandas.parquet"] {
        let back = hep_data::parquet::read_jets(&dir.join(name))
            .with_context(|| format!("hep-data reading {name}"))?;
        compare(&ds, &back).with_context(|| format!("hep-data reading {name}"))?;
        println!("hep-data reads {name}: {} jets, identical", back.len());
    }
    std::fs::remove_dir_all(&dir).ok();
    println!("interop: OK ({} jets of {})", ds.len(), file.display());
    Ok(())
}

fn write_reference(dir: &Path, ds: &JetDataset) -> Result<()> {
    let (n, p) = (ds.len(), ds.num_slots());
    for (k, name) in hep_data::PARTICLE_FEATURES.iter().enumerate() {
        let v: Vec<f32> = ds.particles().iter().skip(k).step_by(3).copied().collect();
        write_npy(&dir.join(format!("ref_{name}.npy")), &[n, p], &v)?;
    }
    let mask: Vec<u8> = ds.mask().iter().map(|&m| m as u8).collect();
    write_npy(&dir.join("ref_mask.npy"), &[n, p], &mask)?;
    let j = ds.jets();
    write_npy(&dir.join("ref_jet_pt.npy"), &[n], &j.pt)?;
    write_npy(&dir.join("ref_jet_eta.npy"), &[n], &j.eta)?;
    write_npy(&dir.join("ref_jet_mass.npy"), &[n], &j.mass)?;
    let np: Vec<i32> = j.num_particles.iter().map(|&x| x as i32).collect();
    write_npy(&dir.join("ref_num_particles.npy"), &[n], &np)?;
    let codes: Vec<u8> = j.jet_type.iter().map(|t| t.index() as u8).collect();
    write_npy(&dir.join("ref_jet_type_codes.npy"), &[n], &codes)?;
    Ok(())
}

fn compare(a: &JetDataset, b: &JetDataset) -> Result<()> {
    let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    if bits(a.particles()) != bits(b.particles()) {
        bail!("particle features differ");
    }
    if a.mask() != b.mask() {
        bail!("masks differ");
    }
    let (ja, jb) = (a.jets(), b.jets());
    if bits(&ja.pt) != bits(&jb.pt)
        || bits(&ja.eta) != bits(&jb.eta)
        || bits(&ja.mass) != bits(&jb.mass)
    {
        bail!("jet features differ");
    }
    if ja.num_particles != jb.num_particles || ja.jet_type != jb.jet_type {
        bail!("num_particles or jet types differ");
    }
    Ok(())
}
