//! `hepgen evaluate`: the JetNet metric suite on a real and a generated sample, as a table
//! and as JSON with stable keys.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail, ensure};
use clap::Args;
use hep_data::npy::{JetArrayOptions, read_jets_npy};
use hep_data::{JetDataset, JetType};
use hep_metrics::efp::{EfpSet, efps};
use hep_metrics::emd::{CovMmdConfig, cov_mmd};
use hep_metrics::frechet::{FpdConfig, fpd};
use hep_metrics::kpd::{KpdConfig, kpd};
use hep_metrics::prdc::{PrdcConfig, prdc};
use hep_metrics::wasserstein::{Bootstrap, W1pConfig, w1efp_from_d4, w1m, w1p};
use hep_metrics::{Estimate, FeaturesView, JetsView, NumpyRng};
use serde_json::{Value, json};

/// Every metric `evaluate` knows, in report order.
pub const METRICS: [&str; 7] = ["w1m", "w1p", "w1efp", "fpd", "kpd", "cov_mmd", "prdc"];

/// Arguments of `hepgen evaluate`.
#[derive(Args)]
pub struct EvaluateArgs {
    /// Real jets: hep-data Parquet or `.npy` `[N, P, 3|4]` (η_rel, φ_rel, pT_rel[, mask]).
    #[arg(long)]
    real: Option<PathBuf>,
    /// Generated jets, same formats.
    #[arg(long = "gen")]
    generated: PathBuf,
    /// Jet type of `.npy` inputs (and of FPND's reference statistics).
    #[arg(long, default_value = "g")]
    jet_type: String,
    /// Comma-separated subset of: w1m, w1p, w1efp, fpd, kpd, cov_mmd, prdc, fpnd.
    #[arg(long)]
    metrics: Option<String>,
    /// Seed of every bootstrap (jetnet's `default_rng(seed)`, reseeded per metric).
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Write the results as JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
}

/// Load real or generated jets (`.npy` padding is compacted).
pub fn load(path: &Path, jet_type: JetType) -> Result<JetDataset> {
    let ds = if path.extension().is_some_and(|e| e == "npy") {
        // Generator output may interleave padding; metrics do not depend on particle order.
        read_jets_npy(
            path,
            JetArrayOptions::new(jet_type).with_compact_padding(true),
        )?
    } else {
        hep_data::parquet::read_jets(path)?
    };
    ensure!(!ds.is_empty(), "{}: no jets", path.display());
    Ok(ds)
}

fn pair(e: &Estimate) -> Value {
    json!([e.value, e.error])
}

fn mean_estimate(v: &[Estimate]) -> Estimate {
    let n = v.len().max(1) as f64;
    Estimate {
        value: v.iter().map(|e| e.value).sum::<f64>() / n,
        error: v.iter().map(|e| e.error).sum::<f64>() / n,
    }
}

/// One printed row: metric name, formatted value, seconds spent.
pub type Row = (String, String, f64);

/// Parse a `--metrics` list. The default is every metric of [`METRICS`], plus `fpnd` when
/// `jet_type` has real-JetNet statistics (g, q, t).
///
/// # Errors
/// Unknown names; `fpnd` for a jet type without statistics.
pub fn parse_metrics(list: Option<&str>, jet_type: JetType) -> Result<Vec<String>> {
    let has_fpnd = matches!(jet_type, JetType::G | JetType::Q | JetType::T);
    let wanted: Vec<String> = match list {
        Some(list) => list
            .split(',')
            .map(|s| s.trim().to_lowercase())
            .filter(|s| !s.is_empty())
            .collect(),
        None => METRICS
            .iter()
            .map(|s| s.to_string())
            .chain(has_fpnd.then(|| "fpnd".to_string()))
            .collect(),
    };
    for m in &wanted {
        ensure!(
            METRICS.contains(&m.as_str()) || m == "fpnd",
            "unknown metric {m:?}; known: {}, fpnd",
            METRICS.join(", ")
        );
    }
    if wanted.iter().any(|m| m == "fpnd") && !has_fpnd {
        bail!(
            "fpnd needs real-JetNet statistics, which exist for g, q and t jets only (got {jet_type})"
        );
    }
    Ok(wanted)
}

/// FPND of `ds` against the real-JetNet statistics of `jet_type`: JSON value and table row.
///
/// # Errors
/// As [`hep_metrics::fpnd::fpnd`].
pub fn fpnd_metric(ds: &JetDataset, jet_type: JetType) -> Result<(Value, Row)> {
    let t = Instant::now();
    let v = JetsView::new(ds.particles(), [ds.len(), ds.num_slots(), 3])?;
    let x = hep_metrics::fpnd::fpnd(v, jet_type)?;
    let n = ds.len().min(hep_metrics::fpnd::FPND_MAX_JETS);
    Ok((
        json!([x, Value::Null]),
        (
            format!("fpnd ({n} jets vs real JetNet {jet_type})"),
            format!("{x:.4}"),
            t.elapsed().as_secs_f64(),
        ),
    ))
}

/// Compute the `wanted` metrics of `generated` against `real`: the JSON values (stable keys,
/// `[value, error]`) and the rows of the printed table.
///
/// # Errors
/// Metric errors (shapes, empty inputs, non-finite values).
pub fn compute(
    real: &JetDataset,
    generated: &JetDataset,
    wanted: &[String],
    seed: u64,
) -> Result<(serde_json::Map<String, Value>, Vec<Row>)> {
    let rv = JetsView::new(real.particles(), [real.len(), real.num_slots(), 3])?;
    let gv = JetsView::new(
        generated.particles(),
        [generated.len(), generated.num_slots(), 3],
    )?;
    let rmask: Vec<bool> = real.mask().iter().map(|&m| m == 1.0).collect();
    let gmask: Vec<bool> = generated.mask().iter().map(|&m| m == 1.0).collect();
    let mut out = serde_json::Map::new();
    let mut rows: Vec<Row> = Vec::new();
    let has = |m: &str| wanted.iter().any(|w| w == m);
    let fmt = |e: &Estimate| format!("{:.6e} ± {:.2e}", e.value, e.error);

    if has("w1m") {
        let t = Instant::now();
        let e = w1m(rv, gv, &Bootstrap::default(), &mut NumpyRng::new(seed))?;
        out.insert("w1m".into(), pair(&e));
        rows.push(("w1m".into(), fmt(&e), t.elapsed().as_secs_f64()));
    }
    if has("w1p") {
        let t = Instant::now();
        let v = w1p(
            rv,
            Some(&rmask),
            gv,
            Some(&gmask),
            &W1pConfig::default(),
            &mut NumpyRng::new(seed),
        )?;
        let m = mean_estimate(&v);
        out.insert("w1p".into(), pair(&m));
        out.insert(
            "w1p_per_feature".into(),
            Value::Array(v.iter().map(pair).collect()),
        );
        rows.push((
            "w1p (mean of η, φ, pT)".into(),
            fmt(&m),
            t.elapsed().as_secs_f64(),
        ));
        for (name, e) in ["etarel", "phirel", "ptrel"].iter().zip(&v) {
            rows.push((format!("  w1p {name}"), fmt(e), 0.0));
        }
    }
    // The 36 EFPs are computed once and serve w1efp (5 of them), FPD, KPD and PRDC.
    if has("w1efp") || has("fpd") || has("kpd") || has("prdc") {
        let t = Instant::now();
        let (fr, fg) = (efps(rv, EfpSet::D4)?, efps(gv, EfpSet::D4)?);
        rows.push((
            "36 EFPs of both samples".into(),
            String::new(),
            t.elapsed().as_secs_f64(),
        ));
        let d = fr.len() / real.len();
        let frv = FeaturesView::new(&fr, [real.len(), d])?;
        let fgv = FeaturesView::new(&fg, [generated.len(), d])?;
        if has("w1efp") {
            let t = Instant::now();
            let v = w1efp_from_d4(frv, fgv, &Bootstrap::default(), &mut NumpyRng::new(seed))?;
            let m = mean_estimate(&v);
            out.insert("w1efp".into(), pair(&m));
            out.insert(
                "w1efp_per_feature".into(),
                Value::Array(v.iter().map(pair).collect()),
            );
            rows.push((
                "w1efp (mean of 5 EFPs)".into(),
                fmt(&m),
                t.elapsed().as_secs_f64(),
            ));
        }
        if has("fpd") {
            let t = Instant::now();
            let e = fpd(
                frv,
                fgv,
                &FpdConfig {
                    seed,
                    ..Default::default()
                },
            )?;
            out.insert("fpd".into(), pair(&e));
            rows.push(("fpd".into(), fmt(&e), t.elapsed().as_secs_f64()));
        }
        if has("kpd") {
            let t = Instant::now();
            let e = kpd(
                frv,
                fgv,
                &KpdConfig {
                    seed,
                    ..Default::default()
                },
            )?;
            out.insert("kpd".into(), pair(&e));
            rows.push(("kpd".into(), fmt(&e), t.elapsed().as_secs_f64()));
        }
        if has("prdc") {
            let t = Instant::now();
            let p = prdc(
                frv,
                fgv,
                &PrdcConfig {
                    seed,
                    ..Default::default()
                },
            )?;
            let secs = t.elapsed().as_secs_f64();
            for (k, v) in [
                ("precision", p.precision),
                ("recall", p.recall),
                ("density", p.density),
                ("coverage", p.coverage),
            ] {
                out.insert(k.into(), json!([v, Value::Null]));
                rows.push((k.into(), format!("{v:.4}"), secs));
            }
        }
    }
    if has("cov_mmd") {
        let t = Instant::now();
        let c = cov_mmd(rv, gv, &CovMmdConfig::default(), &mut NumpyRng::new(seed))?;
        out.insert("cov".into(), json!([c.cov, Value::Null]));
        out.insert("mmd".into(), json!([c.mmd, Value::Null]));
        rows.push((
            "cov".into(),
            format!("{:.4}", c.cov),
            t.elapsed().as_secs_f64(),
        ));
        rows.push(("mmd".into(), format!("{:.6}", c.mmd), 0.0));
    }
    Ok((out, rows))
}

pub fn run(a: EvaluateArgs) -> Result<()> {
    let jet_type: JetType = a.jet_type.parse()?;
    let wanted = parse_metrics(a.metrics.as_deref(), jet_type)?;
    let generated = load(&a.generated, jet_type)
        .with_context(|| format!("loading {}", a.generated.display()))?;
    let needs_real = wanted.iter().any(|m| m != "fpnd");
    let (mut out, mut rows) = (serde_json::Map::new(), Vec::new());
    if needs_real {
        let real_path = a
            .real
            .as_ref()
            .context("--real is required for every metric but fpnd")?;
        let real = load(real_path, jet_type)
            .with_context(|| format!("loading {}", real_path.display()))?;
        println!(
            "real: {} ({} jets)   generated: {} ({} jets)   seed {}",
            real_path.display(),
            real.len(),
            a.generated.display(),
            generated.len(),
            a.seed
        );
        (out, rows) = compute(&real, &generated, &wanted, a.seed)?;
    }
    if wanted.iter().any(|m| m == "fpnd") {
        let (v, row) = fpnd_metric(&generated, jet_type)?;
        out.insert("fpnd".into(), v);
        rows.push(row);
    }
    println!("{:<28} {:>28} {:>9}", "metric", "value ± error", "seconds");
    for (name, val, secs) in &rows {
        let s = if *secs > 0.0 {
            format!("{secs:.2}")
        } else {
            String::new()
        };
        println!("{name:<28} {val:>28} {s:>9}");
    }
    if let Some(path) = &a.json {
        let doc = json!({
            "real": a.real.as_ref().map(|p| p.display().to_string()),
            "gen": a.generated.display().to_string(),
            "seed": a.seed,
            "metrics": Value::Object(out),
        });
        hep_data::npy::write_atomic(path, serde_json::to_string_pretty(&doc)?.as_bytes())?;
        println!("wrote {}", path.display());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subset(src: &str, n: usize, dir: &Path) -> PathBuf {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
        let ds = hep_data::parquet::read_jets(&root.join(src)).unwrap();
        let sub = ds.select(&(0..n).collect::<Vec<_>>()).unwrap();
        let out = dir.join(format!("{n}_{}", src.replace('/', "_")));
        hep_data::parquet::write_jets(&out, &sub).unwrap();
        out
    }

    fn metrics(real: &Path, generated: &Path, json: &Path) -> Value {
        run(EvaluateArgs {
            real: Some(real.to_path_buf()),
            generated: generated.to_path_buf(),
            jet_type: "g".into(),
            metrics: Some("w1m,w1p,w1efp,cov_mmd".into()),
            seed: 7,
            json: Some(json.to_path_buf()),
        })
        .unwrap();
        let doc: Value = serde_json::from_slice(&std::fs::read(json).unwrap()).unwrap();
        doc["metrics"].clone()
    }

    #[test]
    fn gluon_vs_top_is_farther_than_gluon_vs_gluon() {
        let dir = tempfile::tempdir().unwrap();
        let g = subset("datasets/jetnet30_g_20k.parquet", 1000, dir.path());
        let t = subset("datasets/jetnet30_t_20k.parquet", 1000, dir.path());
        let gg = metrics(&g, &g, &dir.path().join("gg.json"));
        let gt = metrics(&g, &t, &dir.path().join("gt.json"));
        for key in ["w1m", "w1p", "w1efp", "cov", "mmd"] {
            assert!(gg[key].is_array() && gt[key].is_array(), "{key} missing");
        }
        assert_eq!(gt["w1p_per_feature"].as_array().unwrap().len(), 3);
        assert_eq!(gt["w1efp_per_feature"].as_array().unwrap().len(), 5);
        let v = |d: &Value, k: &str| d[k][0].as_f64().unwrap();
        // same sample on both sides: bootstrap noise only
        assert!(v(&gt, "w1m") > 5.0 * v(&gg, "w1m"), "{gt} vs {gg}");
        assert!(v(&gt, "w1efp") > v(&gg, "w1efp"));
        assert!(v(&gt, "mmd") > v(&gg, "mmd"));
    }

    #[test]
    fn unknown_and_unavailable_metrics_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let g = subset("datasets/jetnet30_g_20k.parquet", 10, dir.path());
        for m in ["w2m", "fpnd"] {
            let jet_type = if m == "fpnd" { "w" } else { "g" };
            let e = run(EvaluateArgs {
                real: Some(g.clone()),
                generated: g.clone(),
                jet_type: jet_type.into(),
                metrics: Some(m.into()),
                seed: 1,
                json: None,
            });
            assert!(e.is_err(), "{m}");
        }
    }
}
