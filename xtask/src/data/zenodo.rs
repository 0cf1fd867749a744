//! `cargo xtask data jetnet-zenodo`: the real JetNet HDF5 files from Zenodo, md5-checked,
//! converted to hep-data Parquet.
//!
//! JetNet30 is Zenodo record 6975118 (`{g,q,t,w,z}.hdf5`), JetNet150 record 6975117
//! (`{g,q,t,w,z}150.hdf5`). Each file holds `particle_features [N, P, 4]` (η_rel, φ_rel,
//! pT_rel, mask) and `jet_features [N, 4]` (pT, η, mass, multiplicity). The multiplicity is
//! the full constituent count (it can exceed P): it becomes `n_constituents`, while
//! `num_particles` is the number of stored particles (Σ mask), as jetnet's loader clips it.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail, ensure};
use clap::Args;
use hep_data::{JetDataset, JetFeatures, JetType};

/// md5 of the JetNet30 files, as published with the Zenodo record (and mirrored in the
/// GenBench metadata). JetNet150 sums are looked up from the Zenodo API at download time.
const MD5_JETNET30: [(&str, &str); 5] = [
    ("g", "4f537329da897a22a59762c9fd8b74da"),
    ("q", "0ede789774bb74d4795c5d19d7ef66c6"),
    ("t", "6c9d0663b352c85f74fcd2553e6872bf"),
    ("w", "16cc265cb039f76bba43bab408916e3e"),
    ("z", "90ffacd034dc87c802bc43385af9fea3"),
];

/// Arguments of `data jetnet-zenodo`.
#[derive(Args)]
pub struct ZenodoArgs {
    /// Jet type: g, q, t, w or z.
    #[arg(long = "type")]
    jet_type: String,
    /// 30 (JetNet30) or 150 (JetNet150).
    #[arg(long, default_value_t = 30)]
    particles: usize,
    /// Output Parquet file.
    #[arg(long)]
    out: PathBuf,
    /// Convert this local HDF5 file instead of downloading.
    #[arg(long)]
    hdf5: Option<PathBuf>,
    /// Where downloads are kept.
    #[arg(long, default_value = "target/jetnet-zenodo")]
    cache_dir: PathBuf,
    /// Zenodo base address (tests point it at an unreachable host).
    #[arg(long, default_value = "https://zenodo.org", hide = true)]
    base_url: String,
}

pub fn run(a: ZenodoArgs) -> Result<()> {
    let jet_type: JetType = a.jet_type.parse()?;
    ensure!(
        a.particles == 30 || a.particles == 150,
        "--particles must be 30 or 150, got {}",
        a.particles
    );
    let hdf5 = match &a.hdf5 {
        Some(p) => p.clone(),
        None => download(&a.base_url, jet_type, a.particles, &a.cache_dir)?,
    };
    let ds = convert(&hdf5, jet_type, a.particles)?;
    let provenance = serde_json::json!({
        "kind": "real JetNet (Zenodo), converted",
        "source": hdf5.file_name().map(|s| s.to_string_lossy().into_owned()),
        "zenodo_record": record_id(a.particles),
        "producer": format!("cargo xtask data jetnet-zenodo (xtask {})", env!("CARGO_PKG_VERSION")),
    });
    let ds = ds.with_provenance(provenance.to_string());
    hep_data::parquet::write_jets(&a.out, &ds)?;
    eprintln!("wrote {} ({} jets)", a.out.display(), ds.len());
    super::print_summary(&a.out, &ds);
    Ok(())
}

fn record_id(particles: usize) -> u32 {
    if particles > 30 { 6975117 } else { 6975118 }
}

fn file_name(jet_type: JetType, particles: usize) -> String {
    if particles > 30 {
        format!("{jet_type}150.hdf5")
    } else {
        format!("{jet_type}.hdf5")
    }
}

fn curl(args: &[&str]) -> Result<Vec<u8>> {
    let out = Command::new("curl")
        .args([
            "--fail",
            "--silent",
            "--show-error",
            "--location",
            "--connect-timeout",
            "10",
        ])
        .args(args)
        .output()
        .context("running curl (is it installed?)")?;
    if !out.status.success() {
        bail!("{}", String::from_utf8_lossy(&out.stderr).trim());
    }
    Ok(out.stdout)
}

fn expected_md5(base: &str, jet_type: JetType, particles: usize) -> Result<String> {
    if particles == 30 {
        let (_, sum) = MD5_JETNET30
            .iter()
            .find(|(t, _)| *t == jet_type.label())
            .expect("all five types listed");
        return Ok((*sum).to_string());
    }
    let url = format!("{base}/api/records/{}", record_id(particles));
    let body = curl(&["--max-time", "30", &url]).map_err(offline_hint(&url))?;
    let v: serde_json::Value =
        serde_json::from_slice(&body).context("parsing the Zenodo record")?;
    let name = file_name(jet_type, particles);
    let files = v["files"]
        .as_array()
        .context("Zenodo record has no file list")?;
    let f = files
        .iter()
        .find(|f| f["key"] == name.as_str() || f["filename"] == name.as_str())
        .with_context(|| format!("{name} not in Zenodo record"))?;
    let sum = f["checksum"]
        .as_str()
        .context("no checksum in Zenodo record")?;
    Ok(sum.trim_start_matches("md5:").to_string())
}

fn offline_hint(url: &str) -> impl FnOnce(anyhow::Error) -> anyhow::Error + '_ {
    move |e| {
        anyhow::anyhow!(
            "cannot download {url}: {e}\nThis machine cannot reach Zenodo. Download the file on a \
             machine that can, verify its md5, and convert it here with --hdf5 PATH"
        )
    }
}

fn md5_file(path: &Path) -> Result<String> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    Ok(format!("{:x}", md5::compute(bytes)))
}

fn download(base: &str, jet_type: JetType, particles: usize, cache: &Path) -> Result<PathBuf> {
    let name = file_name(jet_type, particles);
    let md5 = expected_md5(base, jet_type, particles)?;
    std::fs::create_dir_all(cache)?;
    let path = cache.join(&name);
    if path.exists() && md5_file(&path)? == md5 {
        eprintln!("{} already downloaded, md5 {md5} OK", path.display());
        return Ok(path);
    }
    let url = format!(
        "{base}/records/{}/files/{name}?download=1",
        record_id(particles)
    );
    let part = cache.join(format!("{name}.part"));
    eprintln!("downloading {url}");
    let part_s = part.to_string_lossy().into_owned();
    curl(&["--max-time", "3600", "--output", &part_s, &url]).map_err(offline_hint(&url))?;
    let got = md5_file(&part)?;
    if got != md5 {
        std::fs::remove_file(&part).ok();
        bail!("md5 mismatch for {name}: expected {md5}, got {got} (download removed)");
    }
    std::fs::rename(&part, &path)?;
    Ok(path)
}

/// Read a JetNet-layout HDF5 file into a validated dataset of `particles` slots.
pub fn convert(path: &Path, jet_type: JetType, particles: usize) -> Result<JetDataset> {
    let file = hdf5_pure::File::open(path)
        .map_err(|e| anyhow::anyhow!("{}: not a readable HDF5 file: {e}", path.display()))?;
    let read = |name: &str| -> Result<(Vec<usize>, Vec<f32>)> {
        let ds = file
            .dataset(name)
            .map_err(|e| anyhow::anyhow!("{}: dataset `{name}`: {e}", path.display()))?;
        let shape: Vec<usize> = ds
            .shape()
            .map_err(|e| anyhow::anyhow!("{}: `{name}` shape: {e}", path.display()))?
            .into_iter()
            .map(|d| d as usize)
            .collect();
        let data = match ds.dtype().map_err(|e| anyhow::anyhow!("{e}"))? {
            hdf5_pure::DType::F64 => ds
                .read_f64()
                .map_err(|e| anyhow::anyhow!("{}: `{name}`: {e}", path.display()))?
                .into_iter()
                .map(|v| v as f32)
                .collect(),
            _ => ds
                .read_f32()
                .map_err(|e| anyhow::anyhow!("{}: `{name}`: {e}", path.display()))?,
        };
        Ok((shape, data))
    };
    let (ps, pf) = read("particle_features")?;
    let (js, jf) = read("jet_features")?;
    let [n, p, 4] = ps[..] else {
        bail!(
            "{}: particle_features has shape {ps:?}, expected [N, P, 4]",
            path.display()
        );
    };
    ensure!(
        js == [n, 4],
        "{}: jet_features has shape {js:?}, expected [{n}, 4]",
        path.display()
    );
    ensure!(
        particles <= p,
        "{}: holds {p} particles per jet, cannot provide {particles}",
        path.display()
    );
    let mut num = Vec::with_capacity(n);
    for j in 0..n {
        let real = (0..p).filter(|&s| pf[(j * p + s) * 4 + 3] == 1.0).count();
        num.push(real as u32);
    }
    let col = |k: usize| -> Vec<f32> { jf.iter().skip(k).step_by(4).copied().collect() };
    let jets = JetFeatures {
        jet_type: vec![jet_type; n],
        pt: col(0),
        eta: col(1),
        mass: col(2),
        num_particles: num,
        phi: None,
        n_constituents: Some(col(3).iter().map(|&v| v.max(0.0) as u32).collect()),
        parton_pdgid: None,
    };
    let ds = super::split_particle_array(&pf, n, p, jets)
        .with_context(|| format!("validating {}", path.display()))?;
    Ok(if particles < p {
        ds.truncate_particles(particles)?
    } else {
        ds
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> PathBuf {
        crate::workspace_root()
            .join("xtask/tests/fixtures")
            .join(name)
    }

    #[test]
    fn converts_jetnet_layout_hdf5_like_the_parquet_sample() {
        // Both fixtures hold the first 64 jets of datasets/jetnet30_g_20k.parquet, written
        // by h5py in JetNet's layout (see xtask/tests/fixtures/README.md).
        let sample = hep_data::parquet::read_jets(
            &crate::workspace_root().join("datasets/jetnet30_g_20k.parquet"),
        )
        .unwrap();
        let want = sample.select(&(0..64).collect::<Vec<_>>()).unwrap();
        for name in ["jetnet_g64_f32_contiguous.hdf5", "jetnet_g64_f64_gzip.hdf5"] {
            let ds = convert(&fixture(name), JetType::G, 30).unwrap();
            assert_eq!(ds.len(), 64, "{name}");
            assert_eq!(ds.particles(), want.particles(), "{name}");
            assert_eq!(ds.mask(), want.mask(), "{name}");
            assert_eq!(ds.jets().pt, want.jets().pt, "{name}");
            assert_eq!(ds.jets().num_particles, want.jets().num_particles, "{name}");
            assert_eq!(
                ds.jets().n_constituents,
                want.jets().n_constituents,
                "{name}"
            );
            let ten = convert(&fixture(name), JetType::G, 10).unwrap();
            assert_eq!(ten.num_slots(), 10);
            assert!(ten.jets().num_particles.iter().all(|&n| n <= 10));
        }
    }

    #[test]
    fn bad_hdf5_inputs_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let junk = dir.path().join("junk.hdf5");
        std::fs::write(&junk, b"not hdf5 at all").unwrap();
        let e = convert(&junk, JetType::G, 30).unwrap_err().to_string();
        assert!(e.contains("not a readable HDF5 file"), "{e}");
        let e = convert(&fixture("jetnet_g64_f32_contiguous.hdf5"), JetType::G, 150)
            .unwrap_err()
            .to_string();
        assert!(e.contains("cannot provide 150"), "{e}");
    }

    #[test]
    fn unreachable_zenodo_fails_fast_with_advice() {
        let dir = tempfile::tempdir().unwrap();
        // Port 9 on loopback refuses at once: the same path as an offline machine.
        let e = download("http://127.0.0.1:9", JetType::G, 30, dir.path()).unwrap_err();
        let msg = e.to_string();
        assert!(
            msg.contains("cannot reach Zenodo") && msg.contains("--hdf5"),
            "{msg}"
        );
        let e = expected_md5("http://127.0.0.1:9", JetType::Q, 150).unwrap_err();
        assert!(e.to_string().contains("cannot download"), "{e}");
    }
}
