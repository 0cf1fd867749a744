//! `hepgen image compare`: the sparse-image generators on muon calorimeter images — the
//! independent-pixel baseline and the decoupled Dirac-mixture generator, one model per class —
//! judged by the W1 of the isolation distribution against held-out real images, next to the
//! real-vs-real floor; plus sparsity, mean images and isolation histograms.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result, ensure};
use candle_core::{Device, Tensor};
use clap::{Args, Subcommand};
use hep_data::images::{ImageDataset, read_images};
use hep_metrics::images::{isolation, sparsity};
use hep_metrics::wasserstein::w1_distance;
use hep_models::images::{DecoupledGenerator, IndependentPixels};
use serde_json::json;

/// `hepgen image` subcommands.
#[derive(Subcommand)]
pub enum ImageCmd {
    /// Train the baselines per class and compare isolation W1 / sparsity with real images.
    Compare(CompareArgs),
}

/// Arguments of `hepgen image compare`.
#[derive(Args)]
pub struct CompareArgs {
    /// Muon image files (images-v1 Parquet; labels 1 = isolated, 0 = non-isolated).
    #[arg(long, required = true, num_args = 1..)]
    data: Vec<PathBuf>,
    /// Training epochs of the decoupled generator.
    #[arg(long, default_value_t = 30)]
    epochs: usize,
    /// Batch size.
    #[arg(long, default_value_t = 128)]
    batch: usize,
    /// Seed.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Output directory (report.md, metrics.json, PNGs).
    #[arg(long, default_value = "out/images")]
    out: PathBuf,
}

pub fn run(cmd: ImageCmd) -> Result<()> {
    match cmd {
        ImageCmd::Compare(a) => compare(a),
    }
}

fn compare(a: CompareArgs) -> Result<()> {
    ensure!(
        a.epochs > 0 && a.batch > 0,
        "--epochs and --batch must be positive"
    );
    let mut parts = Vec::new();
    for p in &a.data {
        parts.push(read_images(p).with_context(|| format!("loading {}", p.display()))?);
    }
    std::fs::create_dir_all(&a.out)?;
    let mut md = String::from(
        "# Sparse muon calorimeter images\n\n| class | images (train/test) | zero pixels (real) | isolation W1: real vs real | independent pixels | decoupled (FC) | ratio indep/decoupled |\n|---|---|---|---|---|---|---|\n",
    );
    let mut results = serde_json::Map::new();
    let mut mean_panels = Vec::new();
    for (label, name) in [(1u8, "isolated"), (0u8, "non-isolated")] {
        let ds: Vec<ImageDataset> = parts
            .iter()
            .map(|p| p.with_label(label))
            .filter(|d| !d.is_empty())
            .collect();
        let Some(first) = ds.first() else { continue };
        let (h, w, pix) = (first.height(), first.width(), f64::from(first.pixel_size()));
        let px = h * w;
        let mut all = Vec::new();
        let mut pts = Vec::new();
        for d in &ds {
            ensure!(
                d.height() == h && d.width() == w,
                "image sizes differ between files"
            );
            all.extend_from_slice(d.pixels());
            pts.extend_from_slice(d.muon_pt().context("muon images need muon_pt")?);
        }
        let n = pts.len();
        ensure!(n >= 20, "only {n} {name} images");
        // first half trains, second half is the held-out reference
        let n_train = n / 2;
        let n_test = n - n_train;
        let (train, test) = all.split_at(n_train * px);
        let (pt_train, pt_test) = pts.split_at(n_train);
        let iso = |imgs: &[f32], pt: &[f32]| isolation(imgs, [pt.len(), h, w], pix, pt, 0.2);
        let iso_test = iso(test, pt_test)?;
        let floor = w1_distance(&iso(train, pt_train)?, &iso_test)?;
        let t0 = Instant::now();
        let indep = IndependentPixels::fit(train, px)?.sample(n_test, a.seed);
        let w_ind = w1_distance(&iso(&indep, pt_test)?, &iso_test)?;
        let nz: Vec<f64> = train
            .iter()
            .filter(|&&v| v > 0.0)
            .map(|&v| f64::from(v))
            .collect();
        let mean = nz.iter().sum::<f64>() / nz.len().max(1) as f64;
        let sigma = (nz.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / nz.len().max(1) as f64)
            .sqrt()
            .max(1e-3);
        let mut g =
            DecoupledGenerator::new(px, 32, &[256, 512], sigma, 1e-3, a.seed, &Device::Cpu)?;
        let steps = (n_train / a.batch).max(1);
        let mut loss = 0.0;
        let order_seed = a.seed;
        for e in 0..a.epochs {
            let order = hep_data::rng::NumpyRng::new(order_seed + e as u64).permutation(n_train);
            for s in 0..steps {
                let idx = &order[s * a.batch.min(n_train)..((s + 1) * a.batch).min(n_train)];
                let mut x = Vec::with_capacity(idx.len() * px);
                for &i in idx {
                    x.extend_from_slice(&train[i * px..(i + 1) * px]);
                }
                loss = g.step(&Tensor::from_vec(x, (idx.len(), px), &Device::Cpu)?)?;
            }
        }
        let train_secs = t0.elapsed().as_secs_f64();
        let t1 = Instant::now();
        let dec = g.sample(n_test, a.seed ^ 0xdec)?;
        let sample_secs = t1.elapsed().as_secs_f64();
        let w_dec = w1_distance(&iso(&dec, pt_test)?, &iso_test)?;
        let zeros = |x: &[f32]| -> Result<f64> {
            let s = sparsity(x, [x.len() / px, h, w])?;
            Ok(s.iter().sum::<f64>() / s.len() as f64)
        };
        let (z_real, z_ind, z_dec) = (zeros(test)?, zeros(&indep)?, zeros(&dec)?);
        md.push_str(&format!(
            "| {name} | {n_train}/{n_test} | {:.2}% | {floor:.4} | {w_ind:.4} | {w_dec:.4} | {:.2} |\n",
            100.0 * z_real,
            w_ind / w_dec
        ));
        results.insert(
            name.to_string(),
            json!({"n_train": n_train, "n_test": n_test, "iso_w1_real_vs_real": floor,
                   "iso_w1_independent": w_ind, "iso_w1_decoupled": w_dec,
                   "zero_fraction": {"real": z_real, "independent": z_ind, "decoupled": z_dec},
                   "decoupled_final_loss_nats": loss, "decoupled_train_s": train_secs,
                   "decoupled_sampling_images_per_s": n_test as f64 / sample_secs,
                   "sigma": sigma, "epochs": a.epochs}),
        );
        mean_panels.push(vec![
            (
                format!("{name}: real"),
                crate::plot::mean_image(test, px),
                h,
                w,
            ),
            (
                "independent".to_string(),
                crate::plot::mean_image(&indep, px),
                h,
                w,
            ),
            (
                "decoupled".to_string(),
                crate::plot::mean_image(&dec, px),
                h,
                w,
            ),
        ]);
        crate::plot::histograms(
            &a.out.join(format!("isolation_{label}.png")),
            &format!("isolation, {name} muons"),
            "Iso (ΔR < 0.2) / pT",
            &[
                ("real".to_string(), iso_test.clone()),
                ("independent pixels".to_string(), iso(&indep, pt_test)?),
                ("decoupled".to_string(), iso(&dec, pt_test)?),
            ],
            40,
        )?;
        println!(
            "{name}: isolation W1 real-vs-real {floor:.4}, independent {w_ind:.4}, decoupled {w_dec:.4} (decoupled: {train_secs:.1} s training, {:.0} images/s sampling)",
            n_test as f64 / sample_secs
        );
    }
    md.push('\n');
    for (k, panels) in mean_panels.iter().enumerate() {
        let f = format!("mean_images_{k}.png");
        crate::plot::heatmaps(&a.out.join(&f), "mean images (log colour scale)", panels)?;
        md.push_str(&format!("![mean images]({f})\n\n"));
    }
    md.push_str("![isolation](isolation_1.png)\n\n![isolation](isolation_0.png)\n");
    std::fs::write(a.out.join("report.md"), &md)?;
    hep_data::npy::write_atomic(
        &a.out.join("metrics.json"),
        serde_json::to_string_pretty(&serde_json::Value::Object(results))?.as_bytes(),
    )?;
    println!("{md}\nwritten to {}", a.out.display());
    Ok(())
}
