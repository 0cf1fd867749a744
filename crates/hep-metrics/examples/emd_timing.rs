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
    let start = Instant::now();
    let mut sum = 0.0;
    for x in &a {
        for y in &b {
            sum += solver.emd(x, y).expect("emd");
        }
    }
    let per = start.elapsed().as_secs_f64() / (a.len() * b.len()) as f64;
    println!("{:.2} us per EMD (sum {sum})", per * 1e6);
}
