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

impl FpdConfig {
    /// Set the smallest and largest batch sizes.
    pub fn with_samples(mut self, min_samples: usize, max_samples: usize) -> Self {
        self.min_samples = min_samples;
        self.max_samples = max_samples;
        self
    }

    /// Set the batches per batch size.
    pub fn with_num_batches(mut self, n: usize) -> Self {
        self.num_batches = n;
        self
    }

    /// Set the number of batch sizes.
    pub fn with_num_points(mut self, n: usize) -> Self {
        self.num_points = n;
        self
    }

    /// Set `normalise`.
    pub fn with_normalise(mut self, on: bool) -> Self {
        self.normalise = on;
        self
    }

    /// Set the seed.
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.seed = seed;
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
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU supports AVX2 (checked above).
        return unsafe { weighted_mean_cov_avx2(x, d, counts, total) };
    }
    weighted_mean_cov_generic(x, d, counts, total)
}

/// [`weighted_mean_cov_generic`] compiled for AVX2; identical arithmetic.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn weighted_mean_cov_avx2(
    x: &[f64],
    d: usize,
    counts: &[u32],
    total: usize,
) -> (Vec<f64>, Vec<f64>) {
    weighted_mean_cov_generic(x, d, counts, total)
}

#[inline(always)]
fn weighted_mean_cov_generic(
    x: &[f64],
    d: usize,
    counts: &[u32],
    total: usize,
) -> (Vec<f64>, Vec<f64>) {
    let mut mu = vec![0.0; d];
    for (row, &c) in x.chunks_exact(d).zip(counts) {
        if c != 0 {
            let c = f64::from(c);
            for (m, &v) in mu.iter_mut().zip(row) {
                *m += c * v;
            }
        }
    }
    for m in &mut mu {
        *m /= total as f64;
    }
    // Centred rows in groups of four (z, and c·z), so that each pass over the accumulator
    // adds four rank-one terms.
    let mut cov = vec![0.0; d * d];
    let mut z = vec![0.0; 4 * d];
    let mut cz = vec![0.0; 4 * d];
    let mut k = 0;
    for (row, &c) in x.chunks_exact(d).zip(counts) {
        if c == 0 {
            continue;
        }
        let c = f64::from(c);
        for ((zz, czz), (&v, &m)) in z[k * d..(k + 1) * d]
            .iter_mut()
            .zip(&mut cz[k * d..(k + 1) * d])
            .zip(row.iter().zip(&mu))
        {
            *zz = v - m;
            *czz = c * *zz;
        }
        k += 1;
        if k == 4 {
            rank_four_update(&mut cov, &z, &cz, d);
            k = 0;
        }
    }
    // The remainder: pad with zero rows.
    if k > 0 {
        z[k * d..].fill(0.0);
        cz[k * d..].fill(0.0);
        rank_four_update(&mut cov, &z, &cz, d);
    }
    let denom = (total - 1) as f64;
    for i in 0..d {
        for j in i..d {
            let v = cov[i * d + j] / denom;
            cov[i * d + j] = v;
            cov[j * d + i] = v;
        }
    }
    (mu, cov)
}

/// `cov[i, j] += Σ_r (c_r z_r,i) z_r,j` over four rows, on the upper triangle.
#[inline(always)]
fn rank_four_generic(cov: &mut [f64], z: &[f64], cz: &[f64], d: usize) {
    let (z0, z1, z2, z3) = (&z[..d], &z[d..2 * d], &z[2 * d..3 * d], &z[3 * d..4 * d]);
    for i in 0..d {
        let (a0, a1, a2, a3) = (cz[i], cz[d + i], cz[2 * d + i], cz[3 * d + i]);
        let out = &mut cov[i * d + i..(i + 1) * d];
        for (j, o) in (i..d).zip(out.iter_mut()) {
            *o += a0 * z0[j] + a1 * z1[j] + a2 * z2[j] + a3 * z3[j];
        }
    }
}

/// The same loop compiled for AVX2; identical arithmetic per element.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn rank_four_avx2(cov: &mut [f64], z: &[f64], cz: &[f64], d: usize) {
    rank_four_generic(cov, z, cz, d)
}

fn rank_four_update(cov: &mut [f64], z: &[f64], cz: &[f64], d: usize) {
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU supports AVX2 (checked above).
        return unsafe { rank_four_avx2(cov, z, cz, d) };
    }
    rank_four_generic(cov, z, cz, d)
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
    let mut rng = NumpyRng::new(cfg.seed);
    let mut values = Vec::with_capacity(batch_sizes.len());
    for &bs in &batch_sizes {
        // Draw in jetnet's order, then evaluate the batches in parallel.
        let draws: Vec<(Vec<u32>, Vec<u32>)> = (0..cfg.num_batches)
            .map(|_| (counts(&mut rng, n1, bs), counts(&mut rng, n2, bs)))
            .collect();
        let fds: Vec<f64> = draws
            .par_iter()
            .map(|(c1, c2)| {
                let (mu1, s1) = weighted_mean_cov(&xs, d, c1, bs);
                let (mu2, s2) = weighted_mean_cov(&ys, d, c2, bs);
                frechet_unchecked(&mu1, &s1, &mu2, &s2)
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
