//! Times the exact EMD on 30-particle gluon vs top jet pairs (single thread, in-process).
//!
//! ```text
//! cargo run --release -p hep-metrics --example emd_timing
//! ```
use hep_metrics::emd::{EmdParticle, EmdSolver};
use std::time::Instant;

fn main() {
    let load = |k: &str| {
        hep_data::parquet::read_jets(std::path::Path::new(&format!(
            "datasets/jetnet30_{k}_20k.parquet"
        )))
        .expect("shipped sample")
    };
    let (g, t) = (load("g"), load("t"));
    let jets = |p: &[f32], n: usize| -> Vec<Vec<EmdParticle>> {
        p.chunks_exact(90)
            .take(n)
            .map(|j| {
                j.chunks_exact(3)
                    .filter(|q| q[2] > 0.0)
                    .map(|q| EmdParticle {
                        pt: f64::from(q[2]),
                        eta: f64::from(q[0]),
                        phi: f64::from(q[1]),
                    })
                    .collect()
            })
            .collect()
    };
    let (a, b) = (jets(g.particles(), 100), jets(t.particles(), 100));
    let mut solver = EmdSolver::new();
    let mut best = f64::INFINITY;
    let mut sum = 0.0;
    // the best of three passes over all pairs (the first one also warms the caches)
    for _ in 0..3 {
        let start = Instant::now();
        sum = 0.0;
        for x in &a {
            for y in &b {
                sum += solver.emd(x, y).expect("emd");
            }
        }
        best = best.min(start.elapsed().as_secs_f64());
    }
    let per = best / (a.len() * b.len()) as f64;
    println!(
        "{:.2} us per EMD, best of 3 passes over {} gluon x {} top pairs (sum {sum})",
        per * 1e6,
        a.len(),
        b.len()
    );
}
