//! `hepgen demo`: the end-to-end main job on the shipped sample — summarise the real jets,
//! train a small MPGAN for a few CPU minutes, generate, evaluate and write the report.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;

use crate::{generate, report, train};

/// Arguments of `hepgen demo`.
#[derive(Args)]
pub struct DemoArgs {
    /// Real gluon jets to train on and compare with.
    #[arg(long, default_value = "datasets/jetnet30_g_20k.parquet")]
    data: PathBuf,
    /// Output directory.
    #[arg(long, default_value = "out/demo")]
    out: PathBuf,
    /// Training batches (of 64 jets) per epoch; 2 epochs.
    #[arg(long, default_value_t = 8)]
    batches: usize,
    /// Jets to generate for the evaluation.
    #[arg(long, default_value_t = 2000)]
    jets: usize,
    /// Seed.
    #[arg(long, default_value_t = 4)]
    seed: u64,
}

pub fn run(a: DemoArgs) -> Result<()> {
    let model_dir = a.out.join("mpgan");
    println!("== 1/4 real data");
    crate::summary(
        std::slice::from_ref(&a.data),
        hep_data::JetType::G,
        &a.out.join("real_jet_mass.png"),
    )?;
    println!(
        "== 2/4 training a small MPGAN (2 epochs of {} batches of 64 jets)",
        a.batches
    );
    train::run(train::TrainArgs {
        data: a.data.clone(),
        out: model_dir.clone(),
        model: train::ModelSize::Small,
        epochs: 2,
        batch: 64,
        max_batches: a.batches,
        eval_every: 1,
        eval_jets: 1000,
        seed: a.seed,
        resume: false,
        generator: hep_models::mpgan::GeneratorKind::Mp,
        discriminator: hep_models::mpgan::DiscriminatorKind::Mp,
    })?;
    println!("== 3/4 generating {} jets with the best epoch", a.jets);
    let generated = a.out.join("generated.parquet");
    generate::run(generate::GenerateArgs {
        checkpoint: model_dir.join("G_best.safetensors"),
        jet_type: "g".into(),
        n: Some(a.jets),
        out: generated.clone(),
        batch: 1024,
        seed: a.seed,
        multiplicities_from: Some(a.data.clone()),
        noise: None,
        num_particles: None,
        raw: false,
        device: "cpu".into(),
    })?;
    println!("== 4/4 evaluating and writing the report");
    let report_dir = a.out.join("report");
    report::run(report::ReportArgs {
        real: a.data.clone(),
        generated,
        out: report_dir.clone(),
        jet_type: "g".into(),
        metrics: Some("w1m,w1p,w1efp,fpd,kpd,cov_mmd".into()),
        seed: 42,
    })?;
    println!(
        "demo done: report at {}/report.html (and report.md), model in {}",
        report_dir.display(),
        model_dir.display()
    );
    Ok(())
}
