//! Criterion benchmarks for hep-sparse on the CPU: masks, pooling, softmax, fused vs naive
//! message passing (with measured peak heap use) and the Dirac-mixture NLL and sampling.
//!
//! Run: `cargo bench -p hep-sparse -- --quick`. Before the timings, the peak heap bytes of one
//! fused and one naive message-passing forward+backward are measured with a counting allocator
//! and printed.

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use candle_core::{DType, Device, Tensor, Var};
use criterion::{Criterion, criterion_group};
use hep_sparse::{
    Density, DiracMixture, MaskedMessagePassing, MessagePassingConfig, mask_from_multiplicity,
    masked_max, masked_mean, masked_softmax, masked_sum,
};
use rand::{Rng, SeedableRng};

/// Counts live heap bytes and their high-water mark.
struct PeakAlloc;
static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards every call to `System` unchanged and only updates counters.
unsafe impl GlobalAlloc for PeakAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: same contract as the caller's.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            let now = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }
}

#[global_allocator]
static GLOBAL: PeakAlloc = PeakAlloc;

fn randn(shape: &[usize], seed: u64) -> Tensor {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let n: usize = shape.iter().product();
    let v: Vec<f32> = (0..n)
        .map(|_| rng.sample::<f32, _>(rand_distr::StandardNormal))
        .collect();
    Tensor::from_vec(v, shape, &Device::Cpu).unwrap()
}

/// `[B, N]` mask with `n ~ U{lo..=hi}` real particles per jet (MPGAN's rank rule).
fn mask(b: usize, n: usize, lo: usize, hi: usize, seed: u64) -> Tensor {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let counts: Vec<f32> = (0..b).map(|_| rng.random_range(lo..=hi) as f32).collect();
    let noise = randn(&[b, n, 1], seed + 1);
    let counts = Tensor::new(counts, &Device::Cpu).unwrap();
    mask_from_multiplicity(&noise, &counts).unwrap()
}

#[derive(Clone, Copy)]
enum Variant {
    Fused,
    Split,
    Naive,
}

fn mp_step(mp: &MaskedMessagePassing, h: &Var, m: &Tensor, v: Variant) -> f32 {
    let out = match v {
        Variant::Fused => mp.forward(h, m).unwrap(),
        Variant::Split => mp.forward_split(h, m).unwrap(),
        Variant::Naive => mp.forward_naive(h, m).unwrap(),
    };
    let loss = out.sum_all().unwrap();
    let grads = loss.backward().unwrap();
    black_box(grads.get(h).unwrap());
    loss.to_scalar::<f32>().unwrap()
}

/// Peak heap bytes above the baseline during one forward+backward.
fn peak_bytes(f: impl FnOnce()) -> usize {
    let base = LIVE.load(Ordering::Relaxed);
    PEAK.store(base, Ordering::Relaxed);
    f();
    PEAK.load(Ordering::Relaxed) - base
}

fn report_memory() {
    let cfg = MessagePassingConfig::default();
    let (b, n) = (256, 30);
    let mp = MaskedMessagePassing::init(&cfg, DType::F32, &Device::Cpu, 0).unwrap();
    let h = Var::from_tensor(&randn(&[b, n, 32], 1)).unwrap();
    for (label, m) in [
        ("all real", mask(b, n, n, n, 2)),
        ("n ~ U{10..30}", mask(b, n, 10, 30, 3)),
    ] {
        let fused = peak_bytes(|| {
            mp_step(&mp, &h, &m, Variant::Fused);
        });
        let split = peak_bytes(|| {
            mp_step(&mp, &h, &m, Variant::Split);
        });
        let naive = peak_bytes(|| {
            mp_step(&mp, &h, &m, Variant::Naive);
        });
        let mib = |x: usize| x as f64 / 1048576.0;
        println!(
            "message passing fwd+bwd B={b} N={n} F=32 widths {:?}, mask {label}: peak heap fused {:.1} MiB, split {:.1} MiB, naive {:.1} MiB; naive/fused {:.1}x",
            cfg.widths,
            mib(fused),
            mib(split),
            mib(naive),
            naive as f64 / fused as f64
        );
    }
}

fn bench_pool(c: &mut Criterion) {
    let mut g = c.benchmark_group("pool");
    for n in [30, 150] {
        let x = randn(&[256, n, 32], 1);
        let m = mask(256, n, n / 3, n, 2);
        g.bench_function(format!("mask_from_multiplicity/B256_N{n}"), |bch| {
            let noise = randn(&[256, n, 32], 3);
            let counts = Tensor::full(n as f32 / 2.0, 256, &Device::Cpu).unwrap();
            bch.iter(|| black_box(mask_from_multiplicity(&noise, &counts).unwrap()))
        });
        g.bench_function(format!("masked_sum/B256_N{n}_F32"), |bch| {
            bch.iter(|| black_box(masked_sum(&x, &m).unwrap()))
        });
        g.bench_function(format!("masked_mean/B256_N{n}_F32"), |bch| {
            bch.iter(|| black_box(masked_mean(&x, &m).unwrap()))
        });
        g.bench_function(format!("masked_max/B256_N{n}_F32"), |bch| {
            bch.iter(|| black_box(masked_max(&x, &m).unwrap()))
        });
        g.bench_function(format!("masked_softmax/B256_N{n}_F32"), |bch| {
            bch.iter(|| black_box(masked_softmax(&x, &m).unwrap()))
        });
    }
    g.finish();
}

fn bench_message_passing(c: &mut Criterion) {
    let mut g = c.benchmark_group("message_passing");
    g.sample_size(10).warm_up_time(Duration::from_millis(500));
    let cfg = MessagePassingConfig::default();
    let mp = MaskedMessagePassing::init(&cfg, DType::F32, &Device::Cpu, 0).unwrap();
    for (b, n, lo) in [(256, 30, 30), (256, 30, 10), (16, 150, 50)] {
        let h = Var::from_tensor(&randn(&[b, n, 32], 1)).unwrap();
        let m = mask(b, n, lo, n, 2);
        let tag = format!("B{b}_N{n}_real{lo}-{n}");
        g.bench_function(format!("fused_fwd/{tag}"), |bch| {
            bch.iter(|| black_box(mp.forward(&h, &m).unwrap()))
        });
        g.bench_function(format!("naive_fwd/{tag}"), |bch| {
            bch.iter(|| black_box(mp.forward_naive(&h, &m).unwrap()))
        });
        g.bench_function(format!("split_fwd/{tag}"), |bch| {
            bch.iter(|| black_box(mp.forward_split(&h, &m).unwrap()))
        });
        g.bench_function(format!("fused_fwd_bwd/{tag}"), |bch| {
            bch.iter(|| mp_step(&mp, &h, &m, Variant::Fused))
        });
        g.bench_function(format!("split_fwd_bwd/{tag}"), |bch| {
            bch.iter(|| mp_step(&mp, &h, &m, Variant::Split))
        });
        g.bench_function(format!("naive_fwd_bwd/{tag}"), |bch| {
            bch.iter(|| mp_step(&mp, &h, &m, Variant::Naive))
        });
    }
    g.finish();
}

fn bench_dirac(c: &mut Criterion) {
    let mut g = c.benchmark_group("dirac");
    let (b, hw) = (256, 25 * 25);
    let mut rng = rand::rngs::StdRng::seed_from_u64(5);
    let x: Vec<f32> = (0..b * hw)
        .map(|_| {
            if rng.random::<f32>() < 0.9 {
                0.0
            } else {
                rng.random_range(0.01..2.0)
            }
        })
        .collect();
    let x = Tensor::from_vec(x, (b, 25, 25), &Device::Cpu).unwrap();
    let l = Var::from_tensor(&randn(&[b, 25, 25], 6)).unwrap();
    for (name, density) in [
        ("gaussian", Density::Gaussian),
        ("logistic", Density::Logistic),
        ("exponential", Density::Exponential),
        ("truncated_gaussian", Density::TruncatedGaussian),
        (
            "categorical16",
            Density::Categorical {
                levels: (1..=16).map(|k| k as f64 * 0.125).collect(),
            },
        ),
    ] {
        let d = DiracMixture::new(density).unwrap();
        let p = Var::from_tensor(&(randn(&[b, 25, 25, d.num_params()], 7) * 0.3).unwrap()).unwrap();
        g.bench_function(format!("nll_fwd/{name}/B256_25x25"), |bch| {
            bch.iter(|| black_box(d.nll(&x, &l, &p).unwrap()))
        });
        g.bench_function(format!("nll_fwd_bwd/{name}/B256_25x25"), |bch| {
            bch.iter(|| {
                let loss = d.sparse_cross_entropy(&x, &l, &p).unwrap();
                black_box(loss.backward().unwrap());
            })
        });
        g.bench_function(format!("sample/{name}/B256_25x25"), |bch| {
            bch.iter(|| black_box(d.sample(&l, &p, 1).unwrap()))
        });
    }
    g.finish();
}

criterion_group!(benches, bench_pool, bench_message_passing, bench_dirac);

fn main() {
    // The memory report runs with the message-passing benches (or with no filter at all).
    let args: Vec<String> = std::env::args().skip(1).collect();
    let filters: Vec<&String> = args.iter().filter(|a| !a.starts_with("--")).collect();
    let listing = args.iter().any(|a| a == "--list");
    if !listing && (filters.is_empty() || filters.iter().any(|f| f.contains("message"))) {
        report_memory();
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
