//! The kernel physics distance (KPD): an unbiased MMD² with a polynomial kernel, over
//! independently seeded batches.
//!
//! ## Definition
//! `jetnet.evaluation.kpd` 0.2.5 (serial path, `num_threads=None`):
//!
//! ```text
//! k(x, y) = (x·y / d + 1)^4
//! MMD²_u  = Σ_{i≠j} k(x_i, x_j) / (m(m−1)) + Σ_{i≠j} k(y_i, y_j) / (n(n−1)) − 2 Σ_ij k(x_i, y_j) / (mn)
//! batch b: rng = default_rng(seed + 1000 b); x = choice(N_real, m); y = choice(N_gen, n)
//! KPD = median_b MMD²_u ± (P83.725 − P16.275) / 2      (numpy 'linear' percentiles)
//! ```
//!
//! With `normalise`, both sets are divided by the real set's per-feature max |x| (0 → 1).
//! jetnet's `num_threads` path draws with numba's MT19937 instead and is not reproduced.
//!
//! ## References
//! R. Kansal et al., *Evaluating generative models in high energy physics*, PRD 107 (2023)
//! 076017, arXiv:2211.10295; M. Bińkowski et al., *Demystifying MMD GANs*, ICLR 2018,
//! arXiv:1801.01401.

use crate::frechet::normalise_pair;
use crate::numpy::{median, percentile_linear};
use crate::tiles::{LANES, block4x8, four_rows, interleave, with_avx2};
use crate::view::{FeaturesView, check_feature_pair};
use crate::{Error, Estimate, NumpyRng, Result};
use rayon::prelude::*;

/// Parameters of [`kpd`]; defaults are jetnet's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KpdConfig {
    /// Number of batches (10).
    pub num_batches: usize,
    /// Samples drawn from each set per batch (5 000).
    pub batch_size: usize,
    /// Divide both sets by the real set's per-feature max |x| (true).
    pub normalise: bool,
    /// Base seed; batch `b` uses `default_rng(seed + 1000 b)` (42).
    pub seed: u64,
}

impl Default for KpdConfig {
    fn default() -> Self {
        Self {
            num_batches: 10,
            batch_size: 5_000,
            normalise: true,
            seed: 42,
        }
    }
}

with_setters!(KpdConfig {
    /// Set the number of batches.
    with_num_batches(num_batches: usize),
    /// Set the batch size.
    with_batch_size(batch_size: usize),
    /// Set `normalise`.
    with_normalise(normalise: bool),
    /// Set the base seed.
    with_seed(seed: u64),
});

/// KPD with the per-batch MMD² values.
#[derive(Debug, Clone, PartialEq)]
pub struct KpdResult {
    /// Median and half the 16.275–83.725 % inter-quantile range.
    pub estimate: Estimate,
    /// MMD² of each batch.
    pub values: Vec<f64>,
}

#[inline]
fn poly4(dot: f64, gamma: f64) -> f64 {
    let k = dot * gamma + 1.0;
    let k2 = k * k;
    k2 * k2
}

/// Σ_{j ≥ first_r} k(x_r, y_j) for up to four rows `xs` (`[R, d]`, R ≤ 4) against the
/// interleaved `yt`; each block of `yt` is loaded once for all rows. Per pair the dot product
/// is accumulated in the same order as a one-row loop would.
#[inline(always)]
fn rows_sum(xs: &[f64], yt: &[f64], d: usize, first: [usize; 4], ny: usize, gamma: f64) -> f64 {
    let rows = xs.len() / d;
    let x4 = four_rows(xs, d);
    let start = first[..rows].iter().copied().min().unwrap_or(0);
    let mut s = [0.0f64; 4];
    for b in start / LANES..ny.div_ceil(LANES) {
        let acc = block4x8::<false>(x4, &yt[b * d * LANES..(b + 1) * d * LANES]);
        let j0 = b * LANES;
        for r in 0..rows {
            for (l, &dot) in acc[r].iter().enumerate() {
                let j = j0 + l;
                if j >= first[r] && j < ny {
                    s[r] += poly4(dot, gamma);
                }
            }
        }
    }
    // rows are summed in order, as a row-by-row loop would
    s[..rows].iter().sum()
}

/// Σ_{i<j} k(x_i, x_j) (`upper`, with `y == x`) or Σ_{i,j} k(x_i, y_j); rows `[*, d]`.
/// The same for any number of threads (partial sums per 16 rows, added in order).
fn kernel_sum(x: &[f64], y: &[f64], d: usize, upper: bool) -> f64 {
    let gamma = 1.0 / d as f64;
    let ny = y.len() / d;
    let yt = interleave(y, d);
    x.par_chunks(d * 16)
        .enumerate()
        .map(|(chunk, xs)| {
            let mut total = 0.0;
            for (g, group) in xs.chunks(d * 4).enumerate() {
                let i0 = chunk * 16 + g * 4;
                let first = if upper {
                    [i0 + 1, i0 + 2, i0 + 3, i0 + 4]
                } else {
                    [0; 4]
                };
                total += with_avx2(
                    #[inline(always)]
                    || rows_sum(group, &yt, d, first, ny, gamma),
                );
            }
            total
        })
        .collect::<Vec<f64>>()
        // in chunk order: rayon's own `sum` groups by how the work was split and stolen, so
        // its last bits could change from run to run
        .iter()
        .sum()
}

/// The unbiased MMD² with the degree-4 polynomial kernel (`_mmd_poly_quadratic_unbiased`).
fn mmd2_poly4(x: &[f64], y: &[f64], d: usize) -> f64 {
    let m = (x.len() / d) as f64;
    let n = (y.len() / d) as f64;
    let xx = 2.0 * kernel_sum(x, x, d, true);
    let yy = 2.0 * kernel_sum(y, y, d, true);
    let xy = kernel_sum(x, y, d, false);
    xx / (m * (m - 1.0)) + yy / (n * (n - 1.0)) - 2.0 * (xy / (m * n))
}

fn gather(data: &[f64], d: usize, idx: &[usize]) -> Vec<f64> {
    idx.iter()
        .flat_map(|&i| data[i * d..(i + 1) * d].iter().copied())
        .collect()
}

/// `jetnet.evaluation.kpd`: median and error of the kernel physics distance.
///
/// # Shapes
/// `real`: `[N1, D]`, `gen_features`: `[N2, D]`.
///
/// # Errors
/// Empty, non-finite or mismatched inputs; `num_batches == 0` or `batch_size < 2`.
pub fn kpd(
    real: FeaturesView<'_>,
    gen_features: FeaturesView<'_>,
    cfg: &KpdConfig,
) -> Result<Estimate> {
    Ok(kpd_detailed(real, gen_features, cfg)?.estimate)
}

/// [`kpd`] with the per-batch values.
///
/// # Errors
/// As [`kpd`].
pub fn kpd_detailed(
    real: FeaturesView<'_>,
    gen_features: FeaturesView<'_>,
    cfg: &KpdConfig,
) -> Result<KpdResult> {
    if cfg.num_batches == 0 {
        return Err(Error::InvalidParameter {
            name: "num_batches",
            requirement: "must be positive",
        });
    }
    if cfg.batch_size < 2 {
        return Err(Error::InvalidParameter {
            name: "batch_size",
            requirement: "must be at least 2",
        });
    }
    check_feature_pair(&real, &gen_features)?;
    let d = real.num_cols();
    let (xs, ys) = if cfg.normalise {
        normalise_pair(&real, &gen_features)
    } else {
        (real.data().to_vec(), gen_features.data().to_vec())
    };
    let (n1, n2) = (real.num_rows(), gen_features.num_rows());
    let values: Vec<f64> = (0..cfg.num_batches)
        .into_par_iter()
        .map(|b| {
            let mut rng = NumpyRng::new(cfg.seed + 1000 * b as u64);
            let i1 = rng.choice(n1, cfg.batch_size);
            let i2 = rng.choice(n2, cfg.batch_size);
            mmd2_poly4(&gather(&xs, d, &i1), &gather(&ys, d, &i2), d)
        })
        .collect();
    let half_iqr = (percentile_linear(&values, 83.725) - percentile_linear(&values, 16.275)) / 2.0;
    Ok(KpdResult {
        estimate: Estimate {
            value: median(&values),
            error: half_iqr,
        },
        values,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn constant(n: usize, d: usize, v: f64) -> Vec<f64> {
        vec![v; n * d]
    }

    #[test]
    fn jetnet_test_fixtures() {
        // tests/evaluation/test_gen_metrics.py: kpd(0, 0) = (0, 0); kpd(2, 0) = (15, 0);
        // kpd(2, 0, normalise=False) = (624, 0) (on [50000, 2] arrays; smaller here).
        let (n, d) = (300, 2);
        let zeros = constant(n, d, 0.0);
        let twos = constant(n, d, 2.0);
        let z = FeaturesView::new(&zeros, [n, d]).unwrap();
        let t = FeaturesView::new(&twos, [n, d]).unwrap();
        let cfg = KpdConfig::default()
            .with_batch_size(100)
            .with_num_batches(4);
        let e = kpd(z, z, &cfg).unwrap();
        assert_eq!((e.value, e.error), (0.0, 0.0));
        let e = kpd(t, z, &cfg).unwrap();
        assert!((e.value - 15.0).abs() < 1e-12 && e.error.abs() < 1e-12);
        let e = kpd(t, z, &cfg.with_normalise(false)).unwrap();
        assert!((e.value - 624.0).abs() < 1e-9 && e.error.abs() < 1e-9);
    }

    #[test]
    fn kernel_sums_equal_the_naive_double_loop() {
        let mut rng = NumpyRng::new(1);
        let (m, d) = (13, 3);
        let x: Vec<f64> = (0..m * d).map(|_| rng.random()).collect();
        let y: Vec<f64> = (0..(m + 2) * d).map(|_| rng.random()).collect();
        let k = |a: &[f64], b: &[f64]| poly4(a.iter().zip(b).map(|(p, q)| p * q).sum(), 1.0 / 3.0);
        let mut xx = 0.0;
        for i in 0..m {
            for j in 0..m {
                if i != j {
                    xx += k(&x[i * d..][..d], &x[j * d..][..d]);
                }
            }
        }
        assert!((2.0 * kernel_sum(&x, &x, d, true) - xx).abs() < 1e-12 * xx);
        let mut xy = 0.0;
        for i in 0..m {
            for j in 0..m + 2 {
                xy += k(&x[i * d..][..d], &y[j * d..][..d]);
            }
        }
        assert!((kernel_sum(&x, &y, d, false) - xy).abs() < 1e-12 * xy);
    }

    #[test]
    fn kernel_sums_do_not_depend_on_the_thread_count() {
        let mut rng = NumpyRng::new(4);
        let d = 36;
        let x: Vec<f64> = (0..301 * d).map(|_| rng.random() * 2.0 - 1.0).collect();
        let sums = |threads: usize| {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            pool.install(|| {
                (
                    kernel_sum(&x, &x, d, true).to_bits(),
                    kernel_sum(&x, &x[..97 * d], d, false).to_bits(),
                )
            })
        };
        let one = sums(1);
        for threads in [2, 3, 7] {
            assert_eq!(sums(threads), one, "{threads} threads");
        }
    }

    #[test]
    fn rejects_bad_parameters_and_mismatched_features() {
        let a = vec![1.0; 10];
        let x = FeaturesView::new(&a, [5, 2]).unwrap();
        let y = FeaturesView::new(&a, [2, 5]).unwrap();
        assert!(matches!(
            kpd(x, y, &KpdConfig::default()),
            Err(Error::DimensionMismatch { .. })
        ));
        assert!(matches!(
            kpd(x, x, &KpdConfig::default().with_batch_size(1)),
            Err(Error::InvalidParameter {
                name: "batch_size",
                ..
            })
        ));
    }
}
