//! Criterion benchmarks of the metric kernels on the shipped real gluon/top samples.
//!
//! `cargo bench -p hep-metrics`; per-element times are the per-jet (EFPs) and per-pair (EMD)
//! costs that the targets refer to.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use hep_metrics::efp::{self, EfpSet};
use hep_metrics::emd;
use hep_metrics::frechet;
use hep_metrics::kpd::{self, KpdConfig};
use hep_metrics::wasserstein;
use hep_metrics::{FeaturesView, JetsView};
use std::hint::black_box;
use std::path::PathBuf;

fn sample(kind: &str, n: usize) -> Vec<f32> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../datasets")
        .join(format!("jetnet30_{kind}_20k.parquet"));
    let ds = hep_data::parquet::read_jets(&path).expect("shipped sample");
    ds.particles()[..n * 90].to_vec()
}

fn benches(c: &mut Criterion) {
    let g = sample("g", 2000);
    let t = sample("t", 2000);
    let gv = JetsView::new(&g, [2000, 30, 3]).unwrap();
    let tv = JetsView::new(&t, [2000, 30, 3]).unwrap();

    let mut grp = c.benchmark_group("efp");
    grp.throughput(Throughput::Elements(2000));
    grp.bench_function("d4_36_per_jet_x2000", |b| {
        b.iter(|| efp::efps(black_box(gv), EfpSet::D4).unwrap())
    });
    grp.bench_function("w1efp_5_per_jet_x2000", |b| {
        b.iter(|| efp::efps(black_box(gv), EfpSet::W1Efp).unwrap())
    });
    grp.finish();

    let mut grp = c.benchmark_group("emd");
    let (a, bb) = (
        JetsView::new(&g[..20 * 90], [20, 30, 3]).unwrap(),
        JetsView::new(&t[..20 * 90], [20, 30, 3]).unwrap(),
    );
    grp.throughput(Throughput::Elements(400));
    grp.bench_function("pair_30x30_x400", |b| {
        b.iter(|| emd::emds(black_box(a), black_box(bb)).unwrap())
    });
    grp.finish();

    let m1 = wasserstein::jet_masses(gv);
    let m2 = wasserstein::jet_masses(tv);
    c.bench_function("w1_distance_2000_vs_2000", |b| {
        b.iter(|| wasserstein::w1_distance(black_box(&m1), black_box(&m2)).unwrap())
    });

    let f1 = efp::efps(gv, EfpSet::D4).unwrap();
    let f2 = efp::efps(tv, EfpSet::D4).unwrap();
    let x = FeaturesView::new(&f1, [2000, 36]).unwrap();
    let y = FeaturesView::new(&f2, [2000, 36]).unwrap();
    let cov = |f: &[f64]| {
        let n = f.len() / 36;
        let mu: Vec<f64> = (0..36)
            .map(|k| f.iter().skip(k).step_by(36).sum::<f64>() / n as f64)
            .collect();
        let mut s = vec![0.0; 36 * 36];
        for row in f.chunks_exact(36) {
            for i in 0..36 {
                for j in 0..36 {
                    s[i * 36 + j] += (row[i] - mu[i]) * (row[j] - mu[j]) / (n - 1) as f64;
                }
            }
        }
        (mu, s)
    };
    let ((mu1, s1), (mu2, s2)) = (cov(&f1), cov(&f2));
    c.bench_function("frechet_distance_36d", |b| {
        b.iter(|| frechet::frechet_distance(&mu1, &s1, &mu2, &s2).unwrap())
    });
    let cfg = KpdConfig::default()
        .with_batch_size(1000)
        .with_num_batches(2);
    c.bench_function("kpd_2x1000", |b| {
        b.iter(|| kpd::kpd(black_box(x), black_box(y), &cfg).unwrap())
    });
}

criterion_group! {
    name = metric_benches;
    config = Criterion::default().sample_size(10);
    targets = benches
}
criterion_main!(metric_benches);
