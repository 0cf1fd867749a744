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
use crate::tiles::{LANES, block4x8, four_rows, interleave, with_avx2};
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

/// Insert `v` into the ascending `best` (at most `k` entries, duplicates kept).
#[inline(always)]
fn push_best(best: &mut Vec<f64>, v: f64, k: usize) {
    if best.len() == k {
        if v >= best[k - 1] {
            return;
        }
        best.pop();
    }
    let at = best.partition_point(|&b| b <= v);
    best.insert(at, v);
}

/// The `k` smallest squared distances from each of up to four rows `xs` (rows `i0..` of the
/// set) to the other rows of the interleaved set `xt` (`n` rows).
#[inline(always)]
fn nearest4(
    xs: &[f64],
    xt: &[f64],
    d: usize,
    n: usize,
    i0: usize,
    k: usize,
    best: &mut [Vec<f64>; 4],
) {
    let rows = xs.len() / d;
    let x4 = four_rows(xs, d);
    for b in best.iter_mut() {
        b.clear();
    }
    for blk in 0..n.div_ceil(LANES) {
        let acc = block4x8::<true>(x4, &xt[blk * d * LANES..(blk + 1) * d * LANES]);
        for (r, best) in best.iter_mut().enumerate().take(rows) {
            for (l, &v) in acc[r].iter().enumerate() {
                let j = blk * LANES + l;
                if j < n && j != i0 + r {
                    push_best(best, v, k);
                }
            }
        }
    }
}

/// For up to four generated rows `gs` with ball radii² `rad_g` against the interleaved real
/// set `rt` (`n` rows, radii² `rr`): mark the real balls they lie in (`cov`) and the real
/// points inside their balls (`rec`); returns, per generated row, the number of real balls
/// holding it.
#[inline(always)]
fn gen4(
    gs: &[f64],
    rad_g: &[f64],
    rt: &[f64],
    d: usize,
    rr: &[f64],
    cov: &mut [bool],
    rec: &mut [bool],
) -> [usize; 4] {
    let n = rr.len();
    let rows = gs.len() / d;
    let g4 = four_rows(gs, d);
    let mut count = [0usize; 4];
    for blk in 0..n.div_ceil(LANES) {
        let acc = block4x8::<true>(g4, &rt[blk * d * LANES..(blk + 1) * d * LANES]);
        for r in 0..rows {
            for (l, &v) in acc[r].iter().enumerate() {
                let i = blk * LANES + l;
                if i >= n {
                    break;
                }
                if v < rr[i] {
                    count[r] += 1;
                    cov[i] = true;
                }
                if v < rad_g[r] {
                    rec[i] = true;
                }
            }
        }
    }
    count
}

/// Squared distance to the k-th nearest neighbour (itself excluded) of each row.
fn knn_radii2(x: &[f64], d: usize, k: usize) -> Vec<f64> {
    let n = x.len() / d;
    let xt = interleave(x, d);
    x.par_chunks(4 * d)
        .enumerate()
        .map_init(
            || std::array::from_fn(|_| Vec::with_capacity(k + 1)),
            |best: &mut [Vec<f64>; 4], (g, xs)| {
                with_avx2(
                    #[inline(always)]
                    || nearest4(xs, &xt, d, n, 4 * g, k, best),
                );
                best[..xs.len() / d]
                    .iter()
                    .map(|b| b[k - 1])
                    .collect::<Vec<_>>()
            },
        )
        .flatten_iter()
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
    let rt = interleave(&xs, d);
    // One pass over generated samples: per generated sample, the number of real balls it
    // lies in; per real sample, whether some generated sample lies in its ball (coverage)
    // and whether it lies in some generated ball (recall).
    let (in_balls, covered, recalled) = ys
        .par_chunks(4 * d)
        .zip(rg.par_chunks(4))
        .fold(
            || (0usize, 0usize, vec![false; n], vec![false; n]),
            |(mut hits, mut any, mut cov, mut rec), (gs, rad_g)| {
                let counts = with_avx2(
                    #[inline(always)]
                    || gen4(gs, rad_g, &rt, d, &rr, &mut cov, &mut rec),
                );
                for &c in &counts[..rad_g.len()] {
                    hits += c;
                    any += usize::from(c > 0);
                }
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

    /// The definitions written out pair by pair (the previous implementation).
    fn naive(x: &[f64], y: &[f64], d: usize, k: usize) -> Prdc {
        let dist2 = |a: &[f64], b: &[f64]| -> f64 {
            let mut s = 0.0;
            for (p, q) in a.iter().zip(b) {
                s += (p - q) * (p - q);
            }
            s
        };
        let radii = |z: &[f64]| -> Vec<f64> {
            let rows: Vec<&[f64]> = z.chunks_exact(d).collect();
            rows.iter()
                .enumerate()
                .map(|(i, a)| {
                    let mut v: Vec<f64> = rows
                        .iter()
                        .enumerate()
                        .filter(|&(j, _)| j != i)
                        .map(|(_, b)| dist2(a, b))
                        .collect();
                    v.sort_by(f64::total_cmp);
                    v[k - 1]
                })
                .collect()
        };
        let (rr, rg) = (radii(x), radii(y));
        let (n, m) = (rr.len(), rg.len());
        let (mut hits, mut any, mut cov, mut rec) = (0, 0, vec![false; n], vec![false; n]);
        for (g, &rad) in y.chunks_exact(d).zip(&rg) {
            let mut c = 0;
            for (i, r) in x.chunks_exact(d).enumerate() {
                let v = dist2(g, r);
                if v < rr[i] {
                    c += 1;
                    cov[i] = true;
                }
                if v < rad {
                    rec[i] = true;
                }
            }
            hits += c;
            any += usize::from(c > 0);
        }
        let frac = |v: &[bool]| v.iter().filter(|&&b| b).count() as f64 / v.len() as f64;
        Prdc {
            precision: any as f64 / m as f64,
            recall: frac(&rec),
            density: hits as f64 / (k * m) as f64,
            coverage: frac(&cov),
        }
    }

    #[test]
    fn tiled_passes_equal_the_pairwise_definitions() {
        let mut rng = NumpyRng::new(13);
        for (n, m, d, k) in [
            (37, 29, 5, 3),
            (64, 64, 36, 5),
            (9, 70, 2, 1),
            (101, 33, 11, 7),
        ] {
            // a coarse grid makes distance ties (on the ball boundaries) common
            let mut draw = |len: usize| -> Vec<f64> {
                (0..len).map(|_| rng.integers(7) as f64 * 0.5).collect()
            };
            let (a, b) = (draw(n * d), draw(m * d));
            let x = FeaturesView::new(&a, [n, d]).unwrap();
            let y = FeaturesView::new(&b, [m, d]).unwrap();
            let cfg = PrdcConfig::default()
                .with_nearest_k(k)
                .with_normalise(false);
            let got = prdc(x, y, &cfg).unwrap();
            assert_eq!(got, naive(&a, &b, d, k), "n {n} m {m} d {d} k {k}");
            assert!(got.precision > 0.0 && got.recall > 0.0);
        }
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
