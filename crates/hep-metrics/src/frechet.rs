//! The Fréchet physics distance (FPD): the Fréchet distance between Gaussian fits of two
//! feature sets, extrapolated to infinite sample size.
//!
//! ## Definition
//! `jetnet.evaluation.fpd` 0.2.5 (after Chong & Forsyth's FID∞):
//!
//! ```text
//! FD(μ1, Σ1, μ2, Σ2) = ‖μ1 − μ2‖² + tr Σ1 + tr Σ2 − 2 tr sqrt(Σ1 Σ2)
//! batch sizes  N_p = int32(1 / linspace(1/min_samples, 1/max_samples, num_points))
//! FD_p = mean over num_batches of FD(sample N_p of real, sample N_p of gen)
//! fit FD_p = a + b / N_p with a, b ≥ 0;  FPD = a ± sqrt(pcov_aa)
//! ```
//!
//! `Σ` is the unbiased covariance (ddof 1). With `normalise`, both sets are divided by the
//! real set's per-feature max |x| (0 → 1). All draws come from one `default_rng(seed)`:
//! for each batch size, for each batch, `choice(N_real, N_p)` then `choice(N_gen, N_p)`.
//! The fit is `scipy.optimize.curve_fit(..., bounds=([0, 0], [inf, inf]))`, reproduced step
//! by step (Trust Region Reflective, forward-difference Jacobian, tolerances 1e-8; see
//! `curve_fit.rs`): on this badly scaled problem TRF stops well before the least-squares
//! optimum (by up to about one standard error), so only its own iterations give jetnet's
//! numbers. The error is `sqrt(pcov[0][0])` as curve_fit computes it.
//!
//! `tr sqrt(Σ1 Σ2)` is computed from the eigenvalues of a symmetric matrix similar to
//! `Σ1 Σ2` rather than scipy's Schur `sqrtm`; both are exact up to rounding.
//!
//! ## References
//! R. Kansal et al., *Evaluating generative models in high energy physics*, PRD 107 (2023)
//! 076017, arXiv:2211.10295; M. J. Chong, D. Forsyth, *Effectively unbiased FID and
//! Inception Score and where to find them*, CVPR 2020, arXiv:1911.07023.

use crate::linalg::trace_sqrt_product;
use crate::numpy::mean;
use crate::view::{FeaturesView, check_feature_pair};
use crate::{Error, Estimate, NumpyRng, Result};
use rayon::prelude::*;

/// Parameters of [`fpd`]; defaults are jetnet's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FpdConfig {
    /// Smallest batch size (20 000).
    pub min_samples: usize,
    /// Largest batch size (50 000).
    pub max_samples: usize,
    /// Batches per batch size (20).
    pub num_batches: usize,
    /// Number of batch sizes (10).
    pub num_points: usize,
    /// Divide both sets by the real set's per-feature max |x| (true).
    pub normalise: bool,
    /// Seed of the single `default_rng` (42).
    pub seed: u64,
}

impl Default for FpdConfig {
    fn default() -> Self {
        Self {
            min_samples: 20_000,
            max_samples: 50_000,
            num_batches: 20,
            num_points: 10,
            normalise: true,
            seed: 42,
        }
    }
}

with_setters!(FpdConfig {
    /// Set the batches per batch size.
    with_num_batches(num_batches: usize),
    /// Set the number of batch sizes.
    with_num_points(num_points: usize),
    /// Set `normalise`.
    with_normalise(normalise: bool),
    /// Set the seed.
    with_seed(seed: u64),
});

impl FpdConfig {
    /// Set the smallest and largest batch sizes.
    pub fn with_samples(mut self, min_samples: usize, max_samples: usize) -> Self {
        self.min_samples = min_samples;
        self.max_samples = max_samples;
        self
    }

    fn check(&self) -> Result<()> {
        let bad = |name, requirement| Err(Error::InvalidParameter { name, requirement });
        if self.min_samples < 2 {
            return bad("min_samples", "must be at least 2");
        }
        if self.max_samples < 2 {
            return bad("max_samples", "must be at least 2");
        }
        if self.num_batches == 0 {
            return bad("num_batches", "must be positive");
        }
        if self.num_points < 3 {
            return bad(
                "num_points",
                "must be at least 3 for a two-parameter fit with error",
            );
        }
        Ok(())
    }

    /// The batch sizes, exactly as numpy:
    /// `(1 / np.linspace(1/min, 1/max, num_points)).astype(int32)` (truncation).
    pub fn batch_sizes(&self) -> Vec<usize> {
        let (start, stop) = (1.0 / self.min_samples as f64, 1.0 / self.max_samples as f64);
        let n = self.num_points;
        let step = (stop - start) / (n - 1) as f64;
        (0..n)
            .map(|k| {
                let y = if k == n - 1 {
                    stop
                } else {
                    k as f64 * step + start
                };
                (1.0 / y) as i32 as usize
            })
            .collect()
    }
}

/// FPD with its intermediate values.
#[derive(Debug, Clone, PartialEq)]
pub struct FpdResult {
    /// The extrapolated intercept and its standard error.
    pub estimate: Estimate,
    /// The fitted slope.
    pub slope: f64,
    /// Batch sizes `N_p`.
    pub batch_sizes: Vec<usize>,
    /// Mean Fréchet distance at each batch size.
    pub values: Vec<f64>,
}

/// Divide both sets by the real set's per-feature max |x| (`_normalise_features`).
pub(crate) fn normalise_pair(x: &FeaturesView<'_>, y: &FeaturesView<'_>) -> (Vec<f64>, Vec<f64>) {
    let d = x.num_cols();
    let mut maxes = vec![0.0f64; d];
    for row in x.data().chunks_exact(d) {
        for (m, &v) in maxes.iter_mut().zip(row) {
            *m = m.max(v.abs());
        }
    }
    for m in &mut maxes {
        if *m == 0.0 {
            *m = 1.0;
        }
    }
    let scale = |data: &[f64]| -> Vec<f64> {
        data.chunks_exact(d)
            .flat_map(|row| row.iter().zip(&maxes).map(|(v, m)| v / m))
            .collect()
    };
    (scale(x.data()), scale(y.data()))
}

/// Mean and unbiased covariance (ddof 1) of the rows of `x` (`[n, d]`) weighted by integer
/// draw counts (`counts[r]` copies of row `r`, `total` rows in all).
pub(crate) fn weighted_mean_cov(
    x: &[f64],
    d: usize,
    counts: &[u32],
    total: usize,
) -> (Vec<f64>, Vec<f64>) {
    let shift = column_means(x, d);
    let mut out = weighted_mean_covs(x, d, &shift, &[counts], &[total]);
    out.pop().expect("one batch in, one out")
}

/// Plain per-column means of `x` (`[n, d]`), the shift used by [`weighted_mean_covs`].
pub(crate) fn column_means(x: &[f64], d: usize) -> Vec<f64> {
    let n = x.len() / d;
    let mut m = vec![0.0; d];
    for row in x.chunks_exact(d) {
        for (a, &v) in m.iter_mut().zip(row) {
            *a += v;
        }
    }
    for a in &mut m {
        *a /= n.max(1) as f64;
    }
    m
}

/// [`weighted_mean_cov`] for many draw-count vectors over the same rows, in one pass over
/// `x` (the pass is memory-bound: reading the 50k × 36 features once per batch cost more
/// than the arithmetic).
///
/// Rows are taken relative to `shift` (any fixed vector near the mean, e.g. the
/// [`column_means`]): per batch `b`, with `x̃ = x − shift`,
/// `δ_b = Σ c x̃ / n_b`, `μ_b = shift + δ_b` and
/// `Σ_b = (Σ c x̃ x̃ᵀ − n_b δ_b δ_bᵀ) / (n_b − 1)`; since `δ_b` is of the order of the
/// sampling error of a mean, the subtraction loses no significant digits. Each batch's rows
/// with a non-zero count are packed in chunks of [`CHUNK`] rows (`x̃` and `c·x̃`, padded to a
/// multiple of 8 values) and each chunk adds `(c·x̃)ᵀ x̃` to the upper triangle through
/// register-blocked 4 × 8 tiles; the triangle is mirrored, so the result is exactly
/// symmetric.
pub(crate) fn weighted_mean_covs(
    x: &[f64],
    d: usize,
    shift: &[f64],
    counts: &[&[u32]],
    totals: &[usize],
) -> Vec<(Vec<f64>, Vec<f64>)> {
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU supports AVX2 (checked above).
        return unsafe { weighted_mean_covs_avx2(x, d, shift, counts, totals) };
    }
    weighted_mean_covs_generic(x, d, shift, counts, totals)
}

/// [`weighted_mean_covs_generic`] compiled for AVX2; identical arithmetic.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn weighted_mean_covs_avx2(
    x: &[f64],
    d: usize,
    shift: &[f64],
    counts: &[&[u32]],
    totals: &[usize],
) -> Vec<(Vec<f64>, Vec<f64>)> {
    weighted_mean_covs_generic(x, d, shift, counts, totals)
}

/// Rows per packed chunk: a batch's two chunks of 36 (padded to 40) features take 40 KiB.
const CHUNK: usize = 64;

/// One batch's packing buffers and accumulators.
struct CovAccumulator {
    acc: Vec<f64>,
    sum: Vec<f64>,
    z: Vec<f64>,
    cz: Vec<f64>,
    k: usize,
}

#[inline(always)]
fn weighted_mean_covs_generic(
    x: &[f64],
    d: usize,
    shift: &[f64],
    counts: &[&[u32]],
    totals: &[usize],
) -> Vec<(Vec<f64>, Vec<f64>)> {
    let dp = d.div_ceil(8) * 8;
    let mut accs: Vec<CovAccumulator> = counts
        .iter()
        .map(|_| CovAccumulator {
            acc: vec![0.0; dp * dp],
            sum: vec![0.0; dp],
            z: vec![0.0; CHUNK * dp],
            cz: vec![0.0; CHUNK * dp],
            k: 0,
        })
        .collect();
    let mut xt = vec![0.0; d];
    for (r, row) in x.chunks_exact(d).enumerate() {
        if counts.iter().all(|c| c[r] == 0) {
            continue;
        }
        for ((t, &v), &s) in xt.iter_mut().zip(row).zip(shift) {
            *t = v - s;
        }
        for (a, c) in accs.iter_mut().zip(counts) {
            let c = c[r];
            if c == 0 {
                continue;
            }
            let c = f64::from(c);
            let k = a.k;
            let (zr, czr) = (&mut a.z[k * dp..k * dp + d], &mut a.cz[k * dp..k * dp + d]);
            for ((zz, czz), &t) in zr.iter_mut().zip(czr).zip(&xt) {
                *zz = t;
                *czz = c * t;
            }
            a.k += 1;
            if a.k == CHUNK {
                flush_chunk(a, dp);
            }
        }
    }
    accs.into_iter()
        .zip(totals)
        .map(|(mut a, &total)| {
            flush_chunk(&mut a, dp);
            let n = total as f64;
            let delta: Vec<f64> = a.sum[..d].iter().map(|s| s / n).collect();
            let mu = shift.iter().zip(&delta).map(|(s, e)| s + e).collect();
            let denom = (total - 1) as f64;
            let mut cov = vec![0.0; d * d];
            for i in 0..d {
                for j in i..d {
                    let v = (a.acc[i * dp + j] - n * delta[i] * delta[j]) / denom;
                    cov[i * d + j] = v;
                    cov[j * d + i] = v;
                }
            }
            (mu, cov)
        })
        .collect()
}

/// Adds the packed rows of `a` to its sums and tiles, then empties the chunk.
#[inline(always)]
fn flush_chunk(a: &mut CovAccumulator, dp: usize) {
    let rows = a.k;
    for r in 0..rows {
        for (s, &v) in a.sum.iter_mut().zip(&a.cz[r * dp..(r + 1) * dp]) {
            *s += v;
        }
    }
    syrk_tiles(&mut a.acc, &a.z, &a.cz, dp, rows);
    a.k = 0;
}

/// `acc[i, j] += Σ_r cz[r, i] · z[r, j]` over the first `rows` packed rows, for the 4 × 8
/// tiles that touch the upper triangle (`dp` a multiple of 8; padding columns are zero).
#[inline(always)]
fn syrk_tiles(acc: &mut [f64], z: &[f64], cz: &[f64], dp: usize, rows: usize) {
    for ib in (0..dp).step_by(4) {
        for jb in ((ib / 8) * 8..dp).step_by(8) {
            let mut t = [[0.0f64; 8]; 4];
            for r in 0..rows {
                let zr: &[f64; 8] = z[r * dp + jb..r * dp + jb + 8].try_into().unwrap();
                let cr: &[f64; 4] = cz[r * dp + ib..r * dp + ib + 4].try_into().unwrap();
                for (ti, &a) in t.iter_mut().zip(cr) {
                    for (o, &b) in ti.iter_mut().zip(zr) {
                        *o += a * b;
                    }
                }
            }
            for (ii, ti) in t.iter().enumerate() {
                let out = &mut acc[(ib + ii) * dp + jb..(ib + ii) * dp + jb + 8];
                for (o, &v) in out.iter_mut().zip(ti) {
                    *o += v;
                }
            }
        }
    }
}

/// The Fréchet distance between two Gaussians (`_calculate_frechet_distance`).
///
/// # Shapes
/// `mu1`, `mu2`: `[d]`; `sigma1`, `sigma2`: `[d, d]` row-major, symmetric PSD.
///
/// # Errors
/// [`Error::ShapeMismatch`] when the lengths disagree with `d = mu1.len()`,
/// [`Error::NonFinite`] on NaN/inf inputs.
pub fn frechet_distance(mu1: &[f64], sigma1: &[f64], mu2: &[f64], sigma2: &[f64]) -> Result<f64> {
    let d = mu1.len();
    for (argument, v, len) in [
        ("mu2", mu2, d),
        ("sigma1", sigma1, d * d),
        ("sigma2", sigma2, d * d),
    ] {
        if v.len() != len {
            return Err(Error::ShapeMismatch {
                argument,
                shape: if len == d { vec![d] } else { vec![d, d] },
                expected: len,
                found: v.len(),
            });
        }
    }
    for (argument, v) in [
        ("mu1", mu1),
        ("sigma1", sigma1),
        ("mu2", mu2),
        ("sigma2", sigma2),
    ] {
        crate::view::check_finite_f64(v, argument)?;
    }
    Ok(frechet_unchecked(mu1, sigma1, mu2, sigma2))
}

fn frechet_unchecked(mu1: &[f64], s1: &[f64], mu2: &[f64], s2: &[f64]) -> f64 {
    let d = mu1.len();
    let diff: f64 = mu1.iter().zip(mu2).map(|(a, b)| (a - b) * (a - b)).sum();
    let tr1: f64 = (0..d).map(|i| s1[i * d + i]).sum();
    let tr2: f64 = (0..d).map(|i| s2[i * d + i]).sum();
    diff + tr1 + tr2 - 2.0 * trace_sqrt_product(s1, s2, d)
}

/// `jetnet.evaluation.fpd`: the Fréchet physics distance between real and generated
/// features, with the standard error of the extrapolated intercept.
///
/// # Shapes
/// `real`: `[N1, D]`, `gen_features`: `[N2, D]` (typically the 36 EFPs of
/// [`crate::efp::EfpSet::D4`]).
///
/// # Errors
/// Empty, non-finite or mismatched inputs, or an invalid `cfg`.
pub fn fpd(
    real: FeaturesView<'_>,
    gen_features: FeaturesView<'_>,
    cfg: &FpdConfig,
) -> Result<Estimate> {
    Ok(fpd_detailed(real, gen_features, cfg)?.estimate)
}

/// [`fpd`] with the per-batch-size values and the slope.
///
/// # Errors
/// As [`fpd`].
pub fn fpd_detailed(
    real: FeaturesView<'_>,
    gen_features: FeaturesView<'_>,
    cfg: &FpdConfig,
) -> Result<FpdResult> {
    cfg.check()?;
    check_feature_pair(&real, &gen_features)?;
    let d = real.num_cols();
    let (xs, ys) = if cfg.normalise {
        normalise_pair(&real, &gen_features)
    } else {
        (real.data().to_vec(), gen_features.data().to_vec())
    };
    let (n1, n2) = (real.num_rows(), gen_features.num_rows());
    let batch_sizes = cfg.batch_sizes();
    let (shift1, shift2) = (column_means(&xs, d), column_means(&ys, d));
    let mut rng = NumpyRng::new(cfg.seed);
    let mut values = Vec::with_capacity(batch_sizes.len());
    for &bs in &batch_sizes {
        // Draw in jetnet's order, then evaluate the batches in parallel.
        let draws: Vec<(Vec<u32>, Vec<u32>)> = (0..cfg.num_batches)
            .map(|_| (counts(&mut rng, n1, bs), counts(&mut rng, n2, bs)))
            .collect();
        // Each worker takes a group of batches and reads each feature set once for all
        // of them (see `weighted_mean_covs`).
        let group = cfg
            .num_batches
            .div_ceil(rayon::current_num_threads())
            .max(1);
        let fds: Vec<f64> = draws
            .par_chunks(group)
            .flat_map_iter(|chunk| {
                let c1: Vec<&[u32]> = chunk.iter().map(|(c, _)| c.as_slice()).collect();
                let c2: Vec<&[u32]> = chunk.iter().map(|(_, c)| c.as_slice()).collect();
                let totals = vec![bs; chunk.len()];
                let g1 = weighted_mean_covs(&xs, d, &shift1, &c1, &totals);
                let g2 = weighted_mean_covs(&ys, d, &shift2, &c2, &totals);
                g1.into_iter()
                    .zip(g2)
                    .map(|((mu1, s1), (mu2, s2))| frechet_unchecked(&mu1, &s1, &mu2, &s2))
            })
            .collect();
        values.push(mean(&fds));
    }
    let inv: Vec<f64> = batch_sizes.iter().map(|&b| 1.0 / b as f64).collect();
    let ([a, slope], pcov00) = curve_fit::curve_fit_line_nonneg(&inv, &values);
    let err = pcov00.sqrt();
    Ok(FpdResult {
        estimate: Estimate {
            value: a,
            error: err,
        },
        slope,
        batch_sizes,
        values,
    })
}

fn counts(rng: &mut NumpyRng, n: usize, k: usize) -> Vec<u32> {
    let mut c = vec![0u32; n];
    for i in rng.choice(n, k) {
        c[i] += 1;
    }
    c
}

mod curve_fit;

#[cfg(test)]
mod tests;
