//! `hepgen report`: real vs generated jets as Markdown + HTML with PNG plots (particle η_rel,
//! φ_rel, pT_rel, leading-particle pT_rel, jet mass, an EFP — the MPGAN paper's Fig. 3) and the
//! metric table next to a real-vs-real baseline computed by the same code.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::Args;
use hep_data::{JetDataset, JetType};
use hep_metrics::efp::{EfpSet, efps};
use hep_metrics::{JetsView, NumpyRng};
use serde_json::Value;

use crate::evaluate::{compute, fpnd_metric, load, parse_metrics};
use crate::plot;

/// Arguments of `hepgen report`.
#[derive(Args)]
pub struct ReportArgs {
    /// Real jets (Parquet or `.npy`).
    #[arg(long)]
    pub(crate) real: PathBuf,
    /// Generated jets (Parquet or `.npy`).
    #[arg(long = "gen")]
    pub(crate) generated: PathBuf,
    /// Output directory.
    #[arg(long, default_value = "out/report")]
    pub(crate) out: PathBuf,
    /// Jet type of `.npy` inputs.
    #[arg(long, default_value = "g")]
    pub(crate) jet_type: String,
    /// Metrics (as for `evaluate`).
    #[arg(long)]
    pub(crate) metrics: Option<String>,
    /// Seed of the bootstraps and of the real/real split.
    #[arg(long, default_value_t = 42)]
    pub(crate) seed: u64,
}

/// A histogram to draw: file name, title, x label, real values, generated values.
type Plot = (&'static str, &'static str, &'static str, Vec<f64>, Vec<f64>);

fn particle_feature(ds: &JetDataset, k: usize) -> Vec<f64> {
    ds.particles()
        .chunks_exact(3)
        .zip(ds.mask())
        .filter(|(_, m)| **m == 1.0)
        .map(|(f, _)| f64::from(f[k]))
        .collect()
}

fn leading_pt(ds: &JetDataset) -> Vec<f64> {
    let p = ds.num_slots();
    ds.particles()
        .chunks_exact(p * 3)
        .map(|j| {
            j.chunks_exact(3)
                .map(|f| f64::from(f[2]))
                .fold(0.0, f64::max)
        })
        .collect()
}

fn rel_mass(ds: &JetDataset) -> Result<Vec<f64>> {
    Ok(
        hep_data::kinematics::jet_kinematics(ds.particles(), ds.len(), ds.num_slots())?
            .into_iter()
            .map(|k| k.mass)
            .collect(),
    )
}

fn first_efp(ds: &JetDataset) -> Result<Vec<f64>> {
    let v = JetsView::new(ds.particles(), [ds.len(), ds.num_slots(), 3])?;
    let e = efps(v, EfpSet::W1Efp)?;
    let d = e.len() / ds.len().max(1);
    Ok(e.iter().step_by(d.max(1)).copied().collect())
}

fn cell(v: Option<&Value>) -> String {
    match v.and_then(Value::as_array) {
        Some(a) => match (
            a.first().and_then(Value::as_f64),
            a.get(1).and_then(Value::as_f64),
        ) {
            (Some(x), Some(e)) => format!("{x:.4e} ± {e:.1e}"),
            (Some(x), None) => format!("{x:.4}"),
            _ => "–".into(),
        },
        None => "–".into(),
    }
}

pub fn run(a: ReportArgs) -> Result<()> {
    let jet_type: JetType = a.jet_type.parse()?;
    let wanted = parse_metrics(a.metrics.as_deref(), jet_type)?;
    let real = load(&a.real, jet_type).with_context(|| format!("loading {}", a.real.display()))?;
    let generated = load(&a.generated, jet_type)
        .with_context(|| format!("loading {}", a.generated.display()))?;
    std::fs::create_dir_all(&a.out)?;

    // Real-vs-real baseline: two disjoint halves of the real sample; the generated sample is
    // compared with the first half, so both columns use the same reference.
    let perm = NumpyRng::new(a.seed).permutation(real.len());
    let half = real.len() / 2;
    let real_a = real.select(&perm[..half])?;
    let real_b = real.select(&perm[half..2 * half])?;
    eprintln!("computing metrics: real vs real ({half} vs {half} jets) …");
    let (base, _) = compute(&real_a, &real_b, &wanted, a.seed)?;
    eprintln!(
        "computing metrics: real vs generated ({half} vs {} jets) …",
        generated.len()
    );
    let (mut ours, _) = compute(&real_a, &generated, &wanted, a.seed)?;
    let mut base = base;
    if wanted.iter().any(|m| m == "fpnd") {
        eprintln!("computing FPND of the real half and of the generated jets …");
        base.insert("fpnd".into(), fpnd_metric(&real_b, jet_type)?.0);
        ours.insert("fpnd".into(), fpnd_metric(&generated, jet_type)?.0);
    }

    let plots: Vec<Plot> = vec![
        (
            "etarel.png",
            "Particle η_rel",
            "η_rel",
            particle_feature(&real, 0),
            particle_feature(&generated, 0),
        ),
        (
            "phirel.png",
            "Particle φ_rel",
            "φ_rel",
            particle_feature(&real, 1),
            particle_feature(&generated, 1),
        ),
        (
            "ptrel.png",
            "Particle pT_rel",
            "pT_rel",
            particle_feature(&real, 2),
            particle_feature(&generated, 2),
        ),
        (
            "leading_ptrel.png",
            "Leading-particle pT_rel",
            "pT_rel of the leading particle",
            leading_pt(&real),
            leading_pt(&generated),
        ),
        (
            "jet_mass.png",
            "Jet mass (relative)",
            "m_jet / pT_jet",
            rel_mass(&real)?,
            rel_mass(&generated)?,
        ),
        (
            "efp.png",
            "EFP (n = 4, d = 4, first prime)",
            "EFP value",
            first_efp(&real)?,
            first_efp(&generated)?,
        ),
    ];
    for (file, title, xlabel, r, g) in &plots {
        plot::histograms(
            &a.out.join(file),
            title,
            xlabel,
            &[
                ("real".to_string(), r.clone()),
                ("generated".to_string(), g.clone()),
            ],
            60,
        )?;
    }

    let mut keys: Vec<&str> = vec![
        "w1m",
        "w1p",
        "w1efp",
        "fpd",
        "kpd",
        "cov",
        "mmd",
        "precision",
        "recall",
        "density",
        "coverage",
    ];
    keys.retain(|k| base.contains_key(*k));
    let mut md = String::new();
    md.push_str("# Generated vs real jets\n\n");
    md.push_str(&format!(
        "- real: `{}` ({} jets)\n- generated: `{}` ({} jets)\n- seed {}; real-vs-real uses two disjoint halves of the real sample ({half} jets each); \
         the generated sample is compared with the first half. Same code for both columns.\n\n",
        a.real.display(), real.len(), a.generated.display(), generated.len(), a.seed
    ));
    if let Some(p) = generated.provenance() {
        md.push_str(&format!("Generated sample provenance: `{p}`\n\n"));
    }
    if keys.contains(&"fpnd") {
        md.push_str("FPND compares each sample (the second real half, the generated jets) with the real-JetNet statistics shipped with jetnet.\n\n");
    }
    md.push_str("| metric | real vs real | real vs generated |\n|---|---|---|\n");
    for k in &keys {
        md.push_str(&format!(
            "| {k} | {} | {} |\n",
            cell(base.get(*k)),
            cell(ours.get(*k))
        ));
    }
    md.push('\n');
    for (file, title, ..) in &plots {
        md.push_str(&format!("![{title}]({file})\n\n"));
    }
    let mut html = String::from(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>Generated vs real jets</title>\
        <style>body{font-family:sans-serif;max-width:1000px;margin:auto}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 8px}img{width:48%}</style></head><body>",
    );
    html.push_str("<h1>Generated vs real jets</h1>");
    html.push_str(&format!(
        "<p>real: <code>{}</code> ({} jets); generated: <code>{}</code> ({} jets); seed {}. Real vs real: two disjoint halves of the real sample.</p>",
        a.real.display(), real.len(), a.generated.display(), generated.len(), a.seed
    ));
    html.push_str("<table><tr><th>metric</th><th>real vs real</th><th>real vs generated</th></tr>");
    for k in &keys {
        html.push_str(&format!(
            "<tr><td>{k}</td><td>{}</td><td>{}</td></tr>",
            cell(base.get(*k)),
            cell(ours.get(*k))
        ));
    }
    html.push_str("</table>");
    for (file, title, ..) in &plots {
        html.push_str(&format!("<img src=\"{file}\" alt=\"{title}\">"));
    }
    html.push_str("</body></html>\n");
    write(&a.out.join("report.md"), &md)?;
    write(&a.out.join("report.html"), &html)?;
    let metrics = serde_json::json!({"real_vs_real": base, "real_vs_generated": ours});
    write(
        &a.out.join("metrics.json"),
        &serde_json::to_string_pretty(&metrics)?,
    )?;
    print!("{md}");
    println!(
        "report written to {}/report.md and report.html",
        a.out.display()
    );
    Ok(())
}

fn write(path: &Path, text: &str) -> Result<()> {
    hep_data::npy::write_atomic(path, text.as_bytes())?;
    Ok(())
}
