//! k-nearest-neighbour fidelity/diversity metrics: precision and recall (Kynkäänniemi et
//! al. 2019) and density and coverage (Naeem et al. 2020), on per-jet features such as the
//! 36 EFPs.
//!
//! ## Definition
//! With `B_k(x)` the ball around `x` whose radius is the distance to the k-th nearest
//! neighbour of `x` in its own set (itself excluded), real samples `r_1..r_N` and
//! generated samples `g_1..g_M`:
//!
//! ```text
//! precision = 1/M Σ_j 1[∃ i: g_j ∈ B_k(r_i)]        recall   = 1/N Σ_i 1[∃ j: r_i ∈ B_k(g_j)]
//! density   = 1/(kM) Σ_j Σ_i 1[g_j ∈ B_k(r_i)]      coverage = 1/N Σ_i 1[∃ j: g_j ∈ B_k(r_i)]
//! ```
//!
//! Distances are Euclidean; "∈" is the strict `<` of the reference implementation
//! (clovaai/generative-evaluation-prdc). The cost is `O((N + M)² D)`, so at most
//! `num_samples` points of each set are used, drawn without replacement as the first
//! `num_samples` entries of `NumpyRng::new(seed).permutation(n)` (real first, then
//! generated). With `normalise`, both sets are divided by the real set's per-feature
//! max |x| (as FPD/KPD do), so that no feature dominates the distances.
//!
//! ## References
//! T. Kynkäänniemi et al., *Improved precision and recall metric for assessing generative
//! models*, NeurIPS 2019, arXiv:1904.06991; M. F. Naeem et al., *Reliable fidelity and
//! diversity metrics for generative models*, ICML 2020, arXiv:2002.09797.

use crate::frechet::normalise_pair;
use crate::view::{FeaturesView, check_feature_pair};
use crate::{Error, NumpyRng, Result};
use rayon::prelude::*;

/// Parameters of [`prdc`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PrdcConfig {
    /// Neighbour rank defining the radii (5).
    pub nearest_k: usize,
    /// At most this many points of each set are used (10 000).
    pub num_samples: usize,
    /// Divide both sets by the real set's per-feature max |x| (true).
    pub normalise: bool,
    /// Seed of the subsampling permutation (42).
    pub seed: u64,
}

impl Default for PrdcConfig {
    fn default() -> Self {
        Self {
            nearest_k: 5,
            num_samples: 10_000,
            normalise: true,
            seed: 42,
        }
    }
}

with_setters!(PrdcConfig {
    /// Set `nearest_k`.
    with_nearest_k(nearest_k: usize),
    /// Set `num_samples`.
    with_num_samples(num_samples: usize),
    /// Set `normalise`.
    with_normalise(normalise: bool),
    /// Set the seed.
    with_seed(seed: u64),
});

/// The four metrics, each in `[0, 1]` except density (unbounded, 1 for matching
/// distributions).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Prdc {
    /// Fraction of generated samples inside the real manifold.
    pub precision: f64,
    /// Fraction of real samples inside the generated manifold.
    pub recall: f64,
    /// Mean number of real balls containing a generated sample, over k.
    pub density: f64,
    /// Fraction of real balls containing at least one generated sample.
    pub coverage: f64,
}

fn dist2(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum()
}

/// Squared distance to the k-th nearest neighbour (itself excluded) of each row.
fn knn_radii2(x: &[f64], d: usize, k: usize) -> Vec<f64> {
    let rows: Vec<&[f64]> = x.chunks_exact(d).collect();
    rows.par_iter()
        .enumerate()
        .map_init(Vec::new, |best: &mut Vec<f64>, (i, xi)| {
            best.clear();
            for (j, xj) in rows.iter().enumerate() {
                if i == j {
                    continue;
                }
                let v = dist2(xi, xj);
                if best.len() < k {
                    let at = best.partition_point(|&b| b <= v);
                    best.insert(at, v);
                } else if v < best[k - 1] {
                    best.pop();
                    let at = best.partition_point(|&b| b <= v);
                    best.insert(at, v);
                }
            }
            best[k - 1]
        })
        .collect()
}

fn subsample(data: &[f64], d: usize, n: usize, take: usize, rng: &mut NumpyRng) -> Vec<f64> {
    if take >= n {
        return data.to_vec();
    }
    let perm = rng.permutation(n);
    perm[..take]
        .iter()
        .flat_map(|&i| data[i * d..(i + 1) * d].iter().copied())
        .collect()
}

/// Precision, recall, density and coverage of generated features against real ones.
///
/// # Shapes
/// `real`: `[N, D]`, `gen_features`: `[M, D]`.
///
/// # Errors
/// Empty, non-finite or mismatched inputs; `nearest_k == 0`; fewer than `nearest_k + 1`
/// samples in a set (after subsampling).
pub fn prdc(
    real: FeaturesView<'_>,
    gen_features: FeaturesView<'_>,
    cfg: &PrdcConfig,
) -> Result<Prdc> {
    if cfg.nearest_k == 0 {
        return Err(Error::InvalidParameter {
            name: "nearest_k",
            requirement: "must be positive",
        });
    }
    if cfg.num_samples == 0 {
        return Err(Error::InvalidParameter {
            name: "num_samples",
            requirement: "must be positive",
        });
    }
    check_feature_pair(&real, &gen_features)?;
    let d = real.num_cols();
    let (xs, ys) = if cfg.normalise {
        normalise_pair(&real, &gen_features)
    } else {
        (real.data().to_vec(), gen_features.data().to_vec())
    };
    let mut rng = NumpyRng::new(cfg.seed);
    let xs = subsample(&xs, d, real.num_rows(), cfg.num_samples, &mut rng);
    let ys = subsample(&ys, d, gen_features.num_rows(), cfg.num_samples, &mut rng);
    let (n, m) = (xs.len() / d, ys.len() / d);
    let k = cfg.nearest_k;
    for (argument, found) in [("real_features", n), ("gen_features", m)] {
        if found <= k {
            return Err(Error::TooFewSamples {
                argument,
                needed: k + 1,
                found,
            });
        }
    }
    let (rr, rg) = rayon::join(|| knn_radii2(&xs, d, k), || knn_radii2(&ys, d, k));
    let real_rows: Vec<&[f64]> = xs.chunks_exact(d).collect();
    // One pass over generated samples: per generated sample, the number of real balls it
    // lies in; per real sample, whether some generated sample lies in its ball (coverage)
    // and whether it lies in some generated ball (recall).
    let (in_balls, covered, recalled) = ys
        .par_chunks_exact(d)
        .zip(&rg)
        .fold(
            || (0usize, 0usize, vec![false; n], vec![false; n]),
            |(mut hits, mut any, mut cov, mut rec), (g, &rad_g)| {
                let mut count = 0;
                for (i, r) in real_rows.iter().enumerate() {
                    let v = dist2(g, r);
                    if v < rr[i] {
                        count += 1;
                        cov[i] = true;
                    }
                    if v < rad_g {
                        rec[i] = true;
                    }
                }
                hits += count;
                any += usize::from(count > 0);
                (hits, any, cov, rec)
            },
        )
        .map(|(hits, any, cov, rec)| ((hits, any), cov, rec))
        .reduce(
            || ((0, 0), vec![false; n], vec![false; n]),
            |(a, mut ca, mut ra), (b, cb, rb)| {
                for (x, y) in ca.iter_mut().zip(cb) {
                    *x |= y;
                }
                for (x, y) in ra.iter_mut().zip(rb) {
                    *x |= y;
                }
                ((a.0 + b.0, a.1 + b.1), ca, ra)
            },
        );
    let frac = |v: &[bool]| v.iter().filter(|&&b| b).count() as f64 / v.len() as f64;
    Ok(Prdc {
        precision: in_balls.1 as f64 / m as f64,
        recall: frac(&recalled),
        density: in_balls.0 as f64 / (k * m) as f64,
        coverage: frac(&covered),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grid(n: usize, offset: f64) -> Vec<f64> {
        (0..n * n)
            .flat_map(|i| [(i / n) as f64 + offset, (i % n) as f64])
            .collect()
    }

    #[test]
    fn identical_sets_score_perfectly_and_disjoint_sets_score_zero() {
        let mut rng = NumpyRng::new(3);
        let a: Vec<f64> = (0..128).map(|_| rng.random() * 7.0).collect();
        let x = FeaturesView::new(&a, [64, 2]).unwrap();
        let cfg = PrdcConfig::default()
            .with_nearest_k(3)
            .with_normalise(false);
        let p = prdc(x, x, &cfg).unwrap();
        // identical points: distance 0 < every positive radius
        assert_eq!((p.precision, p.recall, p.coverage), (1.0, 1.0, 1.0));
        // each ball holds its centre and k - 1 neighbours (the k-th lies on the boundary)
        assert_eq!(p.density, 1.0);
        let far = grid(8, 100.0);
        let y = FeaturesView::new(&far, [64, 2]).unwrap();
        let p = prdc(x, y, &cfg).unwrap();
        assert_eq!(
            (p.precision, p.recall, p.density, p.coverage),
            (0.0, 0.0, 0.0, 0.0)
        );
    }

    #[test]
    fn a_collapsed_generator_has_precision_but_no_recall() {
        let a = grid(10, 0.0);
        let x = FeaturesView::new(&a, [100, 2]).unwrap();
        // all generated samples at one real point's location (plus tiny jitter)
        let g: Vec<f64> = (0..50).flat_map(|i| [4.0 + 1e-3 * i as f64, 4.0]).collect();
        let y = FeaturesView::new(&g, [50, 2]).unwrap();
        let p = prdc(x, y, &PrdcConfig::default().with_normalise(false)).unwrap();
        assert_eq!(p.precision, 1.0);
        assert!(p.recall < 0.1, "{p:?}");
        assert!(p.coverage < 0.1, "{p:?}");
    }

    #[test]
    fn too_few_samples_is_an_error() {
        let a = grid(2, 0.0);
        let x = FeaturesView::new(&a, [4, 2]).unwrap();
        assert!(matches!(
            prdc(x, x, &PrdcConfig::default()),
            Err(Error::TooFewSamples {
                needed: 6,
                found: 4,
                ..
            })
        ));
    }
}
