//! 1-D Wasserstein-1 distances and jetnet's bootstrapped W1 metrics: `w1m`, `w1p`, `w1efp`.
//!
//! ## Definition
//! [`w1_distance`] is `scipy.stats.wasserstein_distance(u, v)` for unweighted samples:
//!
//! ```text
//! x_0 ≤ x_1 ≤ … ≤ x_{n_u+n_v−1}     the sorted union of both samples
//! W1 = Σ_k |F_u(x_k) − F_v(x_k)| · (x_{k+1} − x_k)
//! F_u(x) = #{u_i ≤ x} / n_u          (right-continuous empirical CDF)
//! ```
//!
//! summed with numpy's pairwise summation over all `n_u + n_v − 1` terms, zero terms of tied
//! values included, so the result is bit-identical to scipy's.
//!
//! The bootstrapped metrics follow `jetnet.evaluation.gen_metrics` 0.2.5: for each of
//! `num_batches` batches, draw `num_eval_samples` jets with replacement from the first set
//! (`rng.choice(len(jets1), num_eval_samples)`), then from the second set, compute the W1
//! of each quantity, and report the mean and standard deviation (ddof 0) over batches.
//! Pass the same [`NumpyRng`] to consecutive calls to reproduce jetnet's module-level `rng`.
//!
//! ## Implementation
//! Each quantity is sorted once for the whole input, both sets merged into one sequence
//! (particle features: `f32` keys packed with their jet into a `u64`, one radix sort); a
//! batch is then a vector of draw counts per jet, and the W1 of the resampled sets is a
//! single pass over that sequence with multiplicities (no per-batch sorting), emitting
//! exactly scipy's term sequence into a streaming copy of numpy's pairwise summation
//! ([`crate::numpy`]'s `SparsePairwise`) instead of a zero-filled array of all terms.

use crate::numpy::{SparsePairwise, mean_std, mean_std_axis0};
use crate::view::{FeaturesView, JetsView, check_finite_f64};
use crate::{Error, Estimate, NumpyRng, Result, efp};
use rayon::prelude::*;

/// Bootstrap parameters shared by the W1 metrics (jetnet's `num_eval_samples`,
/// `num_batches`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bootstrap {
    /// Jets drawn (with replacement) from each set per batch. jetnet default: 50 000.
    pub num_eval_samples: usize,
    /// Number of batches. jetnet default: 5.
    pub num_batches: usize,
}

impl Default for Bootstrap {
    fn default() -> Self {
        Self {
            num_eval_samples: 50_000,
            num_batches: 5,
        }
    }
}

with_setters!(Bootstrap {
    /// Set `num_eval_samples`.
    with_num_eval_samples(num_eval_samples: usize),
    /// Set `num_batches`.
    with_num_batches(num_batches: usize),
});

impl Bootstrap {
    /// # Errors
    /// [`Error::InvalidParameter`] when either count is zero.
    pub fn check(&self) -> Result<()> {
        if self.num_eval_samples == 0 {
            return Err(Error::InvalidParameter {
                name: "num_eval_samples",
                requirement: "must be positive",
            });
        }
        if self.num_batches == 0 {
            return Err(Error::InvalidParameter {
                name: "num_batches",
                requirement: "must be positive",
            });
        }
        Ok(())
    }
}

/// `scipy.stats.wasserstein_distance(u, v)`: the 1-D Wasserstein-1 distance between two
/// unweighted samples.
///
/// # Errors
/// [`Error::EmptyInput`] when a sample is empty, [`Error::NonFinite`] on NaN/±inf.
pub fn w1_distance(u: &[f64], v: &[f64]) -> Result<f64> {
    if u.is_empty() {
        return Err(Error::EmptyInput { argument: "u" });
    }
    if v.is_empty() {
        return Err(Error::EmptyInput { argument: "v" });
    }
    check_finite_f64(u, "u")?;
    check_finite_f64(v, "v")?;
    let a = SortedSample::new(u.iter().enumerate().map(|(i, &x)| (x, i as u32)));
    let b = SortedSample::new(v.iter().enumerate().map(|(i, &x)| (x, i as u32)));
    let merged = MergedSamples::new(&a, &b, u.len());
    Ok(merged.w1(&vec![1; u.len() + v.len()], &mut SparsePairwise::default()))
}

/// Values sorted ascending, each tagged with the row (jet) it belongs to.
pub(crate) struct SortedSample {
    values: Vec<f64>,
    owners: Vec<u32>,
}

impl SortedSample {
    pub(crate) fn new(items: impl Iterator<Item = (f64, u32)>) -> Self {
        // `+ 0.0` maps -0.0 to +0.0: numpy compares them equal, total_cmp does not.
        let mut pairs: Vec<(u64, u32)> = items.map(|(x, o)| (order_key(x + 0.0), o)).collect();
        radix_sort(&mut pairs, |p| p.0, 0, 64);
        let (values, owners) = pairs
            .into_iter()
            .map(|(k, o)| (from_order_key(k), o))
            .unzip();
        Self { values, owners }
    }

    /// W1 between this sample and `other`, each value repeated `counts[owner]` times.
    #[cfg(test)]
    fn w1(&self, counts: &[u32], other: &Self, other_counts: &[u32]) -> f64 {
        let merged = MergedSamples::new(self, other, counts.len());
        let all: Vec<u32> = counts.iter().chain(other_counts).copied().collect();
        merged.w1(&all, &mut SparsePairwise::default())
    }
}

/// Two samples merged once into one ascending sequence (ties: the first sample's values
/// first, as scipy's stable sort of the concatenation), each value tagged with its owner:
/// `id < n1` is row `id` of the first sample, `id ≥ n1` row `id − n1` of the second. A
/// bootstrap batch is then one branch-free pass over this sequence.
pub(crate) struct MergedSamples {
    entries: Entries,
    /// values per owner (a jet owns one value per valid particle)
    mult: Vec<u32>,
    n1: u32,
}

enum Entries {
    /// `f64` values and their owners
    Wide { values: Vec<f64>, ids: Vec<u32> },
    /// `f32` values packed with their owner: `order_key_f32(x) << 32 | id`, half the bytes
    /// per pass
    Packed(Vec<u64>),
}

impl MergedSamples {
    /// Merges the presorted `a` (owners `< n1`) and `b`.
    pub(crate) fn new(a: &SortedSample, b: &SortedSample, n1: usize) -> Self {
        let len = a.values.len() + b.values.len();
        let (mut values, mut ids) = (Vec::with_capacity(len), Vec::with_capacity(len));
        let (mut i, mut j) = (0, 0);
        while i < a.values.len() || j < b.values.len() {
            if j == b.values.len() || (i < a.values.len() && a.values[i] <= b.values[j]) {
                values.push(a.values[i]);
                ids.push(a.owners[i]);
                i += 1;
            } else {
                values.push(b.values[j]);
                ids.push(n1 as u32 + b.owners[j]);
                j += 1;
            }
        }
        let mult = multiplicities(ids.iter().copied());
        Self {
            entries: Entries::Wide { values, ids },
            mult,
            n1: n1 as u32,
        }
    }

    /// Sorts `f32` values of the first sample (owners `< n1`) and of the second (owners
    /// `≥ n1`, already offset) into one sequence. `items` must list the first sample before
    /// the second: the radix sort is stable, which puts the first sample's values first
    /// among ties (and keeps each sample's input order), as [`Self::new`] does.
    pub(crate) fn from_f32(items: impl Iterator<Item = (f32, u32)>, n1: usize) -> Self {
        // `+ 0.0` maps -0.0 to +0.0: numpy compares them equal, total_cmp does not.
        let mut packed: Vec<u64> = items
            .map(|(x, o)| u64::from(order_key_f32(x + 0.0)) << 32 | u64::from(o))
            .collect();
        radix_sort(&mut packed, |&p| p, 32, 64);
        let mult = multiplicities(packed.iter().map(|&p| p as u32));
        Self {
            entries: Entries::Packed(packed),
            mult,
            n1: n1 as u32,
        }
    }

    /// `scipy.stats.wasserstein_distance` of the two samples with each value repeated
    /// `counts[id]` times (`counts`: the first sample's rows, then the second's); +inf when
    /// either side has no value (jetnet's convention). `sum` is a reusable accumulator.
    pub(crate) fn w1(&self, counts: &[u32], sum: &mut SparsePairwise) -> f64 {
        match &self.entries {
            Entries::Wide { values, ids } => {
                self.w1_pass(values.iter().copied().zip(ids.iter().copied()), counts, sum)
            }
            Entries::Packed(p) => self.w1_pass(
                p.iter()
                    .map(|&p| (f64::from(from_order_key_f32((p >> 32) as u32)), p as u32)),
                counts,
                sum,
            ),
        }
    }

    /// scipy sums `|F_u(x_k) − F_v(x_k)| (x_{k+1} − x_k)` over the sorted union of the
    /// resampled values with numpy's pairwise summation. An entry of weight `w` stands for
    /// `w` equal values: one term that needs the next value, then `w − 1` zero terms, so the
    /// term that follows `c` resampled values sits at position `c − 1`. Every entry pushes
    /// its term there (0.0 for weight 0) into a [`SparsePairwise`], which adds them up with
    /// numpy's blocks without the zero-filled array: the result is bit-identical.
    #[inline(always)]
    fn w1_pass(
        &self,
        entries: impl Iterator<Item = (f64, u32)>,
        counts: &[u32],
        sum: &mut SparsePairwise,
    ) -> f64 {
        let (mut nu, mut nv) = (0u64, 0u64);
        for (id, (&m, &c)) in self.mult.iter().zip(counts).enumerate() {
            let w = u64::from(m) * u64::from(c);
            if (id as u32) < self.n1 {
                nu += w;
            } else {
                nv += w;
            }
        }
        if nu == 0 || nv == 0 {
            return f64::INFINITY;
        }
        let (fu, fv) = (nu as f64, nv as f64);
        let last = (nu + nv - 2) as usize;
        sum.reset(last + 1);
        let (mut cu, mut cv) = (0u64, 0u64);
        // the last weighted entry's value and |F_u − F_v| after it
        let (mut xp, mut dp) = (0.0f64, 0.0f64);
        for (x, id) in entries {
            let w = u64::from(counts[id as usize]);
            let in_u = id < self.n1;
            let c = cu + cv;
            // weight 0, or nothing before: a zero term (positions never go back)
            let term = if w > 0 && c > 0 { dp * (x - xp) } else { 0.0 };
            sum.push((c.max(1) as usize - 1).min(last), term);
            cu += if in_u { w } else { 0 };
            cv += if in_u { 0 } else { w };
            let d = (cu as f64 / fu - cv as f64 / fv).abs();
            xp = if w > 0 { x } else { xp };
            dp = if w > 0 { d } else { dp };
        }
        sum.finish()
    }
}

/// How many entries each owner has.
fn multiplicities(ids: impl Iterator<Item = u32>) -> Vec<u32> {
    let mut mult = Vec::new();
    for id in ids {
        let id = id as usize;
        if id >= mult.len() {
            mult.resize(id + 1, 0);
        }
        mult[id] += 1;
    }
    mult
}

/// A `u32` whose unsigned order is the numeric order of the (non-NaN) `f32`.
fn order_key_f32(x: f32) -> u32 {
    let b = x.to_bits();
    if b >> 31 == 1 { !b } else { b | (1 << 31) }
}

fn from_order_key_f32(k: u32) -> f32 {
    f32::from_bits(if k >> 31 == 1 { k & !(1 << 31) } else { !k })
}

/// A `u64` whose unsigned order is the numeric order of the (non-NaN) `f64`.
fn order_key(x: f64) -> u64 {
    let b = x.to_bits();
    if b >> 63 == 1 { !b } else { b | (1 << 63) }
}

fn from_order_key(k: u64) -> f64 {
    f64::from_bits(if k >> 63 == 1 { k & !(1 << 63) } else { !k })
}

/// Stable sort by bits `lo..hi` of `key(item)`: LSD radix (11-bit digits, passes over
/// constant digits skipped) for large inputs, a comparison sort for small ones.
fn radix_sort<T: Copy + Default>(v: &mut Vec<T>, key: impl Fn(&T) -> u64, lo: u32, hi: u32) {
    const BITS: u32 = 11;
    const BUCKETS: usize = 1 << BITS;
    let digits = |x: &T| {
        let k = key(x) >> lo;
        if hi - lo == 64 {
            k
        } else {
            k & ((1 << (hi - lo)) - 1)
        }
    };
    if v.len() < 4096 {
        v.sort_by_key(|x| digits(x));
        return;
    }
    let mut tmp = vec![T::default(); v.len()];
    let mut shift = lo;
    while shift < hi {
        let mask = (1usize << BITS.min(hi - shift)) - 1;
        let mut count = vec![0usize; BUCKETS];
        for p in v.iter() {
            count[((key(p) >> shift) as usize) & mask] += 1;
        }
        if count.contains(&v.len()) {
            shift += BITS;
            continue;
        }
        let mut sum = 0;
        for c in &mut count {
            let here = *c;
            *c = sum;
            sum += here;
        }
        for p in v.iter() {
            let d = ((key(p) >> shift) as usize) & mask;
            tmp[count[d]] = *p;
            count[d] += 1;
        }
        std::mem::swap(v, &mut tmp);
        shift += BITS;
    }
}

/// Draw counts per row for one side of one batch: `rng.choice(n, k)` as a histogram.
fn draw_counts(rng: &mut NumpyRng, n: usize, k: usize) -> Vec<u32> {
    let mut counts = vec![0u32; n];
    for i in rng.choice(n, k) {
        counts[i] += 1;
    }
    counts
}

/// Bootstrapped W1 of each merged column (first set: `n1` rows, second: `n2`): the raw
/// `[num_batches, num_cols]` values.
fn bootstrap_w1(
    merged: &[MergedSamples],
    n1: usize,
    n2: usize,
    cfg: &Bootstrap,
    rng: &mut NumpyRng,
) -> Vec<f64> {
    let ncols = merged.len();
    // Draw every batch first (the generator is sequential), then evaluate all
    // (batch, column) pairs in parallel.
    let counts: Vec<Vec<u32>> = (0..cfg.num_batches)
        .map(|_| {
            let mut c = draw_counts(rng, n1, cfg.num_eval_samples);
            c.extend(draw_counts(rng, n2, cfg.num_eval_samples));
            c
        })
        .collect();
    (0..cfg.num_batches * ncols)
        .into_par_iter()
        .map_init(SparsePairwise::default, |sum, k| {
            let (b, c) = (k / ncols, k % ncols);
            merged[c].w1(&counts[b], sum)
        })
        .collect()
}

/// The columns of two sets merged pairwise.
fn merge_columns(cols1: &[SortedSample], cols2: &[SortedSample], n1: usize) -> Vec<MergedSamples> {
    cols1
        .par_iter()
        .zip(cols2)
        .map(|(a, b)| MergedSamples::new(a, b, n1))
        .collect()
}

/// `np.mean(w1s, axis=0)`, `np.std(w1s, axis=0)` of `[num_batches, ncols]` values.
fn reduce_batches(w1s: &[f64], ncols: usize) -> Vec<Estimate> {
    let (means, stds) = mean_std_axis0(w1s, ncols);
    means
        .into_iter()
        .zip(stds)
        .map(|(value, error)| Estimate { value, error })
        .collect()
}

fn sorted_columns(x: &FeaturesView<'_>) -> Vec<SortedSample> {
    (0..x.num_cols())
        .into_par_iter()
        .map(|c| {
            SortedSample::new((0..x.num_rows()).map(|r| (x.data()[r * x.num_cols() + c], r as u32)))
        })
        .collect()
}

/// Bootstrapped W1 of every column of two `[N, D]` feature sets (the core of `w1m` and
/// `w1efp`): per batch, `rng.choice(N1, k)` then `rng.choice(N2, k)`, one W1 per column.
///
/// # Shapes
/// `x`: `[N1, D]`, `y`: `[N2, D]`; returns `D` estimates (mean ± std over batches).
///
/// # Errors
/// Empty or non-finite inputs, different `D`, or an invalid `cfg`.
pub fn w1_features(
    x: FeaturesView<'_>,
    y: FeaturesView<'_>,
    cfg: &Bootstrap,
    rng: &mut NumpyRng,
) -> Result<Vec<Estimate>> {
    cfg.check()?;
    crate::view::check_feature_pair(&x, &y)?;
    check_rows_fit_u32(x.num_rows())?;
    check_rows_fit_u32(y.num_rows())?;
    let (a, b) = rayon::join(|| sorted_columns(&x), || sorted_columns(&y));
    let merged = merge_columns(&a, &b, x.num_rows());
    let w1s = bootstrap_w1(&merged, x.num_rows(), y.num_rows(), cfg, rng);
    Ok(reduce_batches(&w1s, x.num_cols()))
}

fn check_rows_fit_u32(n: usize) -> Result<()> {
    if n > u32::MAX as usize {
        return Err(Error::InvalidParameter {
            name: "num_jets",
            requirement: "at most 2^32 - 1 rows",
        });
    }
    Ok(())
}

/// Jet masses of `[N, P, F]` jets (first three features), as `jetnet.utils.jet_features`
/// computes them: massless particles, f64 sums, signed square root of m².
///
/// jetnet reads a 4th feature as the particle mass; here only `(η, φ, pT)` are used.
/// jetnet computes in the input dtype; this matches it on float64 input (to ~1e-14).
pub fn jet_masses(jets: JetsView<'_>) -> Vec<f64> {
    let p = jets.num_particles();
    let f = jets.num_features();
    (0..jets.num_jets())
        .into_par_iter()
        .map_init(
            || vec![0f32; p * 3],
            |buf, i| {
                let jet = jets.jet(i);
                for (dst, src) in buf.chunks_exact_mut(3).zip(jet.chunks_exact(f)) {
                    dst.copy_from_slice(&src[..3]);
                }
                hep_data::kinematics::jet_kinematics_one(buf).mass
            },
        )
        .collect()
}

fn check_jets_pair(jets1: &JetsView<'_>, jets2: &JetsView<'_>) -> Result<()> {
    jets1.check_nonempty("jets1")?;
    jets2.check_nonempty("jets2")?;
    jets1.check_finite("jets1")?;
    jets2.check_finite("jets2")?;
    check_rows_fit_u32(jets1.num_jets())?;
    check_rows_fit_u32(jets2.num_jets())
}

/// `jetnet.evaluation.w1m`: bootstrapped W1 between the jet-mass distributions.
///
/// # Shapes
/// `jets1`: `[N1, P1, F]`, `jets2`: `[N2, P2, F]`, features `(η_rel, φ_rel, pT_rel, …)`.
///
/// # Errors
/// Empty or non-finite jets, or an invalid `cfg`.
pub fn w1m(
    jets1: JetsView<'_>,
    jets2: JetsView<'_>,
    cfg: &Bootstrap,
    rng: &mut NumpyRng,
) -> Result<Estimate> {
    cfg.check()?;
    check_jets_pair(&jets1, &jets2)?;
    let (m1, m2) = rayon::join(|| jet_masses(jets1), || jet_masses(jets2));
    w1m_from_masses(&m1, &m2, cfg, rng)
}

/// The bootstrap of [`w1m`] on precomputed jet masses (jetnet keeps `w1s` as a 1-D list,
/// so mean and std use numpy's 1-D pairwise order).
///
/// # Errors
/// Empty or non-finite masses, or an invalid `cfg`.
pub fn w1m_from_masses(
    masses1: &[f64],
    masses2: &[f64],
    cfg: &Bootstrap,
    rng: &mut NumpyRng,
) -> Result<Estimate> {
    cfg.check()?;
    let x = FeaturesView::new(masses1, [masses1.len(), 1])?;
    let y = FeaturesView::new(masses2, [masses2.len(), 1])?;
    crate::view::check_feature_pair(&x, &y)?;
    check_rows_fit_u32(x.num_rows())?;
    check_rows_fit_u32(y.num_rows())?;
    let (a, b) = rayon::join(|| sorted_columns(&x), || sorted_columns(&y));
    let merged = merge_columns(&a, &b, x.num_rows());
    let w1s = bootstrap_w1(&merged, x.num_rows(), y.num_rows(), cfg, rng);
    let (value, error) = mean_std(&w1s);
    Ok(Estimate { value, error })
}

/// Options of [`w1p`] besides the bootstrap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct W1pConfig {
    /// The bootstrap sizes.
    pub bootstrap: Bootstrap,
    /// Drop particles whose first `num_particle_features` features are all zero (jetnet
    /// default: true).
    pub exclude_zeros: bool,
    /// How many leading features get a W1; 0 means all `F` (jetnet default: 0).
    pub num_particle_features: usize,
}

impl Default for W1pConfig {
    fn default() -> Self {
        Self {
            bootstrap: Bootstrap::default(),
            exclude_zeros: true,
            num_particle_features: 0,
        }
    }
}

with_setters!(W1pConfig {
    /// Set the bootstrap sizes.
    with_bootstrap(bootstrap: Bootstrap),
    /// Set `exclude_zeros`.
    with_exclude_zeros(exclude_zeros: bool),
    /// Set `num_particle_features` (0 = all).
    with_num_particle_features(num_particle_features: usize),
});

/// The valid particles of both sets, one merged sample per feature (owners: jets of the
/// first set, then those of the second offset by its `N1`).
fn particle_columns(
    sets: [(&JetsView<'_>, Option<&[bool]>); 2],
    exclude_zeros: bool,
    nf: usize,
) -> Vec<MergedSamples> {
    let n1 = sets[0].0.num_jets();
    (0..nf)
        .into_par_iter()
        .map(|c| {
            let items = sets
                .iter()
                .enumerate()
                .flat_map(move |(side, &(jets, mask))| {
                    let [n, p, f] = jets.shape();
                    let data = jets.data();
                    let offset = if side == 0 { 0 } else { n1 as u32 };
                    (0..n).flat_map(move |j| {
                        (0..p)
                            .filter(move |&k| {
                                let base = (j * p + k) * f;
                                let m = mask.is_none_or(|m| m[j * p + k]);
                                // jetnet: `np.linalg.norm(x[..., :nf]) == 0`, in float32: zero
                                // iff every square is 0
                                m && !(exclude_zeros
                                    && data[base..base + nf].iter().all(|&v| v * v == 0.0))
                            })
                            .map(move |k| (data[(j * p + k) * f + c], offset + j as u32))
                    })
                });
            MergedSamples::from_f32(items, n1)
        })
        .collect()
}

/// `jetnet.evaluation.w1p`: bootstrapped W1 between the particle-feature distributions,
/// pooled over all valid particles of the sampled jets.
///
/// Valid particles: those with `mask` true (when given) and, with `exclude_zeros`, a
/// non-zero first `num_particle_features` features. A batch in which either side has no
/// valid particle gets W1 = +inf for every feature (jetnet returns `[inf, inf, inf]`).
///
/// # Shapes
/// `jets1`: `[N1, P1, F]`, `mask1`: `[N1, P1]`; `jets2`: `[N2, P2, F]`, `mask2`: `[N2, P2]`.
/// Returns one estimate per feature (`num_particle_features`, or `F` when that is 0).
///
/// # Errors
/// Empty or non-finite jets, different `F`, a mask of the wrong length, too many requested
/// features, or an invalid bootstrap.
pub fn w1p(
    jets1: JetsView<'_>,
    mask1: Option<&[bool]>,
    jets2: JetsView<'_>,
    mask2: Option<&[bool]>,
    cfg: &W1pConfig,
    rng: &mut NumpyRng,
) -> Result<Vec<Estimate>> {
    cfg.bootstrap.check()?;
    check_jets_pair(&jets1, &jets2)?;
    if jets1.num_features() != jets2.num_features() {
        return Err(Error::DimensionMismatch {
            what: "num_features",
            lhs: jets1.num_features(),
            rhs: jets2.num_features(),
        });
    }
    let nf = match cfg.num_particle_features {
        0 => jets1.num_features(),
        n if n <= jets1.num_features() => n,
        _ => {
            return Err(Error::InvalidParameter {
                name: "num_particle_features",
                requirement: "at most the number of particle features",
            });
        }
    };
    for (mask, jets, argument) in [(mask1, &jets1, "mask1"), (mask2, &jets2, "mask2")] {
        if let Some(m) = mask {
            let expected = jets.num_jets() * jets.num_particles();
            if m.len() != expected {
                return Err(Error::ShapeMismatch {
                    argument,
                    shape: vec![jets.num_jets(), jets.num_particles()],
                    expected,
                    found: m.len(),
                });
            }
        }
    }
    check_rows_fit_u32(jets1.num_jets() + jets2.num_jets())?;
    let merged = particle_columns([(&jets1, mask1), (&jets2, mask2)], cfg.exclude_zeros, nf);
    let w1s = bootstrap_w1(
        &merged,
        jets1.num_jets(),
        jets2.num_jets(),
        &cfg.bootstrap,
        rng,
    );
    Ok(reduce_batches(&w1s, nf))
}

/// `jetnet.evaluation.w1efp` with its defaults: the 5 prime n = 4, d = 4 EFPs of every jet
/// ([`efp::EfpSet::W1Efp`]), then a bootstrapped W1 per EFP.
///
/// # Shapes
/// `jets1`: `[N1, P1, F]`, `jets2`: `[N2, P2, F]`; returns 5 estimates.
///
/// # Errors
/// Empty or non-finite jets, or an invalid `cfg`.
pub fn w1efp(
    jets1: JetsView<'_>,
    jets2: JetsView<'_>,
    cfg: &Bootstrap,
    rng: &mut NumpyRng,
) -> Result<Vec<Estimate>> {
    cfg.check()?;
    check_jets_pair(&jets1, &jets2)?;
    let set = efp::EfpSet::W1Efp;
    let (e1, e2) = rayon::join(|| efp::efps(jets1, set), || efp::efps(jets2, set));
    let (e1, e2) = (e1?, e2?);
    let k = set.len();
    w1_features(
        FeaturesView::new(&e1, [jets1.num_jets(), k])?,
        FeaturesView::new(&e2, [jets2.num_jets(), k])?,
        cfg,
        rng,
    )
}

/// [`w1efp`] on EFPs already computed with [`efp::EfpSet::D4`] (`[N, 36]`, as FPD, KPD and
/// precision/recall use them): the same 5 columns, the same numbers, without computing the
/// EFPs a second time.
///
/// # Shapes
/// `efps1`: `[N1, 36]`, `efps2`: `[N2, 36]`; returns 5 estimates.
///
/// # Errors
/// Not 36 columns, empty or non-finite inputs, or an invalid `cfg`.
pub fn w1efp_from_d4(
    efps1: FeaturesView<'_>,
    efps2: FeaturesView<'_>,
    cfg: &Bootstrap,
    rng: &mut NumpyRng,
) -> Result<Vec<Estimate>> {
    let d4 = efp::EfpSet::D4.len();
    for v in [&efps1, &efps2] {
        if v.num_cols() != d4 {
            return Err(Error::DimensionMismatch {
                what: "EFP columns (EfpSet::D4)",
                lhs: v.num_cols(),
                rhs: d4,
            });
        }
    }
    let pick = |v: &FeaturesView<'_>| -> Vec<f64> {
        v.data()
            .chunks_exact(d4)
            .flat_map(|row| efp::W1EFP_IN_D4.iter().map(move |&i| row[i]))
            .collect()
    };
    let (a, b) = (pick(&efps1), pick(&efps2));
    let k = efp::W1EFP_IN_D4.len();
    w1_features(
        FeaturesView::new(&a, [efps1.num_rows(), k])?,
        FeaturesView::new(&b, [efps2.num_rows(), k])?,
        cfg,
        rng,
    )
}

#[cfg(test)]
mod tests;
