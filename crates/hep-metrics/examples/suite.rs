//! Runs the whole metric suite on two JetNet Parquet samples and prints per-metric wall
//! times and values as JSON (used by `cargo xtask bench metrics`).
//!
//! ```text
//! cargo run --release -p hep-metrics --example suite -- REAL.parquet GEN.parquet [N] [SEED] [ONLY]
//! ```
//!
//! `ONLY` (comma-separated metric names, e.g. `fpd,kpd`) runs a subset, for profiling.
//!
//! Both samples are cycled to `N` jets (default 50 000): jet `i` is input jet `i mod len`.
//! The 36 EFPs (`efps36`) are computed once and serve w1efp, fpd and kpd, as in
//! `hepgen evaluate`; the `w1efp` time is its bootstrap on 5 of those columns.

use hep_metrics::efp::{self, EfpSet};
use hep_metrics::emd::{self, CovMmdConfig};
use hep_metrics::frechet::{self, FpdConfig};
use hep_metrics::kpd::{self, KpdConfig};
use hep_metrics::wasserstein::{self, Bootstrap, W1pConfig};
use hep_metrics::{FeaturesView, JetsView, NumpyRng};
use std::path::Path;
use std::time::Instant;

// The allocator `hepgen` uses: the suite allocates and frees large buffers per metric.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn load(path: &str, n: usize) -> Vec<f32> {
    let ds = hep_data::parquet::read_jets(Path::new(path)).expect("readable JetNet parquet");
    let per_jet = ds.num_slots() * 3;
    let p = ds.particles();
    let len = p.len() / per_jet;
    (0..n)
        .flat_map(|i| {
            p[(i % len) * per_jet..(i % len + 1) * per_jet]
                .iter()
                .copied()
        })
        .collect()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 3 {
        eprintln!("usage: suite REAL.parquet GEN.parquet [N] [SEED]");
        std::process::exit(2);
    }
    let n: usize = args.get(3).map_or(50_000, |s| s.parse().expect("N"));
    let seed: u64 = args.get(4).map_or(12345, |s| s.parse().expect("SEED"));
    let (r, g) = (load(&args[1], n), load(&args[2], n));
    let rv = JetsView::new(&r, [n, r.len() / n / 3, 3]).unwrap();
    let gv = JetsView::new(&g, [n, g.len() / n / 3, 3]).unwrap();
    let mut rows = Vec::new();
    let only: Option<Vec<String>> = args
        .get(5)
        .map(|s| s.split(',').map(str::to_owned).collect());
    let wanted = |name: &str| only.as_ref().is_none_or(|o| o.iter().any(|m| m == name));
    let mut time = |name: &str, f: &mut dyn FnMut() -> String| {
        if !wanted(name) {
            return;
        }
        let t = Instant::now();
        let value = f();
        let s = t.elapsed().as_secs_f64();
        eprintln!("{name:>10}: {s:8.3} s  {value}");
        rows.push(format!("\"{name}\":{{\"seconds\":{s},\"value\":{value}}}"));
    };
    let boot = Bootstrap::default();
    time("w1m", &mut || {
        let e = wasserstein::w1m(rv, gv, &boot, &mut NumpyRng::new(seed)).unwrap();
        format!("[{},{}]", e.value, e.error)
    });
    time("w1p", &mut || {
        let cfg = W1pConfig::default();
        let e = wasserstein::w1p(rv, None, gv, None, &cfg, &mut NumpyRng::new(seed)).unwrap();
        format!("{:?}", e.iter().map(|e| e.value).collect::<Vec<_>>())
    });
    // As `hepgen evaluate` does it: the 36 EFPs once, w1efp from 5 of their columns.
    let mut feats = (Vec::new(), Vec::new());
    let mut efps36 = || {
        feats = (
            efp::efps(rv, EfpSet::D4).unwrap(),
            efp::efps(gv, EfpSet::D4).unwrap(),
        );
        "null".into()
    };
    if wanted("efps36") {
        time("efps36", &mut efps36);
    } else {
        efps36();
    }
    let x = FeaturesView::new(&feats.0, [n, 36]).unwrap();
    let y = FeaturesView::new(&feats.1, [n, 36]).unwrap();
    time("w1efp", &mut || {
        let e = wasserstein::w1efp_from_d4(x, y, &boot, &mut NumpyRng::new(seed)).unwrap();
        format!("{:?}", e.iter().map(|e| e.value).collect::<Vec<_>>())
    });
    time("fpd", &mut || {
        let r = frechet::fpd_detailed(x, y, &FpdConfig::default()).unwrap();
        eprintln!("fpd values per batch size: {:?}", r.values);
        format!("[{},{}]", r.estimate.value, r.estimate.error)
    });
    time("kpd", &mut || {
        let e = kpd::kpd(x, y, &KpdConfig::default()).unwrap();
        format!("[{},{}]", e.value, e.error)
    });
    time("cov_mmd", &mut || {
        let c = emd::cov_mmd(rv, gv, &CovMmdConfig::default(), &mut NumpyRng::new(seed)).unwrap();
        format!("[{},{}]", c.cov, c.mmd)
    });
    println!("{{{}}}", rows.join(","));
}
