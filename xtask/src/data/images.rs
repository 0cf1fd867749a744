//! `cargo xtask data muon-images`: muon calorimeter images with Pythia 8 (isolated muons from
//! Z' → μμ, non-isolated from b b̄; pile-up Poisson(50) from a min-bias pool; a crude
//! calorimeter), written as hep-data `images-v1` Parquet.
//!
//! The generator is `xtask/python/gen_muon_images.py` (written for this project, see
//! `../shared/spec/data-generation.md` §3); `xtask/python/images_to_parquet.py` converts its
//! `.npz` output. Both run in the pinned `data` venv.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::Args;

use crate::python::{Venv, run as run_cmd};
use hep_data::images::ImageDataset;

/// Most chunks per set: the generators give chunk i > 0 the Pythia seed seed·1000 + 100 + i,
/// which must stay below seed·1000 + 1000 (`MAX_CHUNKS` in `xtask/python/pythia_common.py`,
/// which checks the same; checked here too so that a bad size fails before any set-up).
const MAX_CHUNKS: usize = 900;

/// What the two image generators (`muon-images`, `jet-images`) are both asked for.
#[derive(Args)]
pub struct ImageSetArgs {
    /// Number of images.
    #[arg(long)]
    pub n: usize,
    /// Seed; Pythia's seeds (and the pile-up draws) are derived from it.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Output Parquet file.
    #[arg(long)]
    pub out: PathBuf,
    /// Images per Pythia instance (each chunk has its own seeds; the output depends on
    /// `--seed` and `--chunk`, not on `--workers`; a set of one chunk is what the generators
    /// made before chunking).
    #[arg(long, default_value_t = 5000)]
    pub chunk: usize,
    /// Processes generating chunks in parallel [default: the available cores].
    #[arg(long)]
    pub workers: Option<usize>,
}

impl ImageSetArgs {
    /// Checks the sizes; returns the worker count.
    pub fn check(&self) -> Result<usize> {
        if self.n == 0 || self.chunk == 0 {
            bail!("--n and --chunk must be positive");
        }
        let chunks = self.n.div_ceil(self.chunk);
        if chunks > MAX_CHUNKS {
            bail!(
                "--n {} / --chunk {} makes {chunks} chunks; at most {MAX_CHUNKS} (raise --chunk)",
                self.n,
                self.chunk
            );
        }
        match self.workers {
            Some(0) => bail!("--workers must be positive"),
            Some(w) => Ok(w),
            None => Ok(std::thread::available_parallelism().map_or(1, |n| n.get())),
        }
    }

    /// The generator-script arguments `--chunk C --workers W`.
    pub fn script_args(&self, workers: usize) -> [String; 4] {
        [
            "--chunk".into(),
            self.chunk.to_string(),
            "--workers".into(),
            workers.to_string(),
        ]
    }
}

/// Converts a generator's `.npz` to `images-v1` Parquet at `out` with the provenance
/// `record` (`kind` is `images_to_parquet.py --kind`), removes the `.npz`, reads the file
/// back through hep-data (validation) and prints its size and zero-pixel fraction.
pub(super) fn write_images(
    venv: &Venv,
    npz: &Path,
    out: &Path,
    record: &serde_json::Value,
    kind: &str,
) -> Result<ImageDataset> {
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    run_cmd(
        venv.script("images_to_parquet.py")
            .arg(npz)
            .arg(out)
            .arg(record.to_string())
            .args(["--kind", kind]),
    )
    .context("converting to Parquet")?;
    std::fs::remove_file(npz).ok();
    let ds = hep_data::images::read_images(out)
        .with_context(|| format!("validating {}", out.display()))?;
    let zeros = ds.pixels().iter().filter(|&&v| v == 0.0).count() as f64 / ds.pixels().len() as f64;
    println!(
        "wrote {} ({} images {}×{}, pixel {}, zero pixels {:.2}%, {:.2} MB)",
        out.display(),
        ds.len(),
        ds.height(),
        ds.width(),
        ds.pixel_size(),
        100.0 * zeros,
        std::fs::metadata(out)?.len() as f64 / 1e6
    );
    Ok(ds)
}

/// Arguments of `data muon-images`.
#[derive(Args)]
pub struct MuonImagesArgs {
    /// `iso` (Z' → μμ, label 1) or `noniso` (b b̄, label 0).
    #[arg(long)]
    class: String,
    #[command(flatten)]
    set: ImageSetArgs,
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
    let (n, seed, out) = (a.set.n, a.set.seed, &a.set.out);
    let workers = a.set.check()?;
    let venv = Venv::ensure("data", "requirements-data.txt")?;
    let tmp = crate::workspace_root().join("target/xtask-tmp");
    std::fs::create_dir_all(&tmp)?;
    let npz = tmp.join(format!("muon_{cls}_{seed}_{}.npz", std::process::id()));
    eprintln!(
        "generating {n} {} muon images with Pythia 8 (seed {seed}, chunks of {}, {workers} workers)",
        a.class, a.set.chunk
    );
    // the calorimeter settings that reproduce the paper's ~98.8% zero pixels (spec §3)
    run_cmd(
        venv.script("gen_muon_images.py")
            .args(["--class", cls, "--n", &n.to_string()])
            .args(["--seed", &seed.to_string(), "--pool", &a.pool.to_string()])
            .args(["--calo", "--charged-ptmin", "0.9"])
            .args(["--pixel-threshold", "0.5"])
            .args(a.set.script_args(workers))
            .arg("--out")
            .arg(&npz),
    )
    .context("generating muon images")?;
    let record = serde_json::json!({
        "command": format!(
            "cargo xtask data muon-images --class {} --n {n} --seed {seed} --chunk {} --pool {} --out {}",
            a.class,
            a.set.chunk,
            a.pool,
            out.display()
        ),
        "class": a.class,
        "calorimeter": "charged pT > 0.9 GeV, EM 10%/sqrt(E), HAD 50%/sqrt(E) smearing, pixel threshold 0.5 GeV",
    });
    write_images(&venv, &npz, out, &record, "muon-calo")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(n: usize, chunk: usize, workers: Option<usize>) -> ImageSetArgs {
        ImageSetArgs {
            n,
            seed: 1,
            out: PathBuf::from("x.parquet"),
            chunk,
            workers,
        }
    }

    #[test]
    fn chunk_options_are_checked_before_generating() {
        assert_eq!(set(50_000, 5000, Some(3)).check().unwrap(), 3);
        assert!(set(50_000, 5000, None).check().unwrap() >= 1);
        // 900 chunks is the most the seed scheme allows (seed·1000 + 100 + i < seed·1000 + 1000)
        assert_eq!(MAX_CHUNKS, 900);
        assert!(set(900, 1, Some(1)).check().is_ok());
        let too_many = set(901, 1, Some(1)).check().unwrap_err().to_string();
        assert!(too_many.contains("901 chunks"), "{too_many}");
        for bad in [set(0, 10, None), set(10, 0, None), set(10, 10, Some(0))] {
            assert!(bad.check().is_err());
        }
        assert_eq!(
            set(10, 4, None).script_args(2),
            ["--chunk", "4", "--workers", "2"].map(String::from)
        );
    }
}
