//! Read throughput of a jet Parquet file through hep-data (full validated read into
//! contiguous arrays), printed as one JSON line. Driven by `cargo xtask bench data`.
//!
//! Usage: `read_throughput FILE [REPEATS]`

use std::time::Instant;

// pyarrow reads through its own pooled allocator (mimalloc/jemalloc); the comparison uses one
// here too, so that both sides reuse memory between repetitions instead of faulting in fresh
// pages from the OS each time.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let path =
        std::path::PathBuf::from(args.next().ok_or("usage: read_throughput FILE [REPEATS]")?);
    let repeats: usize = args.next().map(|s| s.parse()).transpose()?.unwrap_or(7);
    let mut times = Vec::with_capacity(repeats);
    let mut jets = 0;
    for _ in 0..repeats {
        let t0 = Instant::now();
        let ds = hep_data::parquet::read_jets(&path)?;
        times.push(t0.elapsed().as_secs_f64());
        jets = ds.len();
        std::hint::black_box(ds.particles().len());
    }
    times.sort_by(f64::total_cmp);
    println!(
        "{{\"impl\": \"hep-data\", \"jets\": {jets}, \"best_s\": {}, \"median_s\": {}, \"repeats\": {repeats}}}",
        times[0],
        times[repeats / 2]
    );
    Ok(())
}
