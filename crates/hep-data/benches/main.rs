//! Criterion benchmarks of hep-data on the shipped gluon sample: Parquet read, in-memory
//! validation, the JetNet split and jet kinematics.

use std::hint::black_box;
use std::path::PathBuf;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use hep_data::JetDataset;
use hep_data::split::{Split, SplitSpec};

fn sample() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../datasets/jetnet30_g_20k.parquet")
}

fn benches(c: &mut Criterion) {
    let path = sample();
    let ds = hep_data::parquet::read_jets(&path).expect("shipped sample");
    let mut g = c.benchmark_group("jetnet30_g_20k");
    g.throughput(Throughput::Elements(ds.len() as u64));
    g.sample_size(20);
    g.bench_function("read_parquet", |b| {
        b.iter(|| hep_data::parquet::read_jets(black_box(&path)).unwrap())
    });
    g.bench_function("validate", |b| {
        b.iter(|| {
            let (p, parts, mask, jets) = ds.clone().into_parts();
            JetDataset::try_new(p, parts, mask, jets).unwrap()
        })
    });
    g.bench_function("split_train", |b| {
        b.iter(|| ds.split(Split::Train, &SplitSpec::default()).unwrap())
    });
    g.bench_function("jet_kinematics", |b| {
        b.iter(|| {
            hep_data::kinematics::jet_kinematics(ds.particles(), ds.len(), ds.num_slots()).unwrap()
        })
    });
    g.finish();
}

criterion_group!(data, benches);
criterion_main!(data);
