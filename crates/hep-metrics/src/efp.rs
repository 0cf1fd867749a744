//! Energy-flow polynomials (EFPs) with energyflow 1.4.0's conventions, by variable
//! elimination instead of the naive `N^n` sums.
//!
//! ## Definition
//! For a multigraph `G` with vertices `1..n` and edges `E`, measure `hadr`, β = 1, κ = 1,
//! unnormalised (as `jetnet.utils.efps` configures `energyflow.EFPSet`):
//!
//! ```text
//! EFP_G = Σ_{i_1..i_n} z_{i_1} … z_{i_n} Π_{(k,l) ∈ E} θ_{i_k i_l}
//! z_i    = pT_i                                   (ptrel as given, not divided by Σ pT)
//! θ_ij   = sqrt(Δy_ij² + Δφ_ij²),  Δφ_ij wrapped as π − ||φ_i − φ_j| − π|
//! ```
//!
//! (y is the `etarel` column). Disconnected graphs are products of their connected
//! components, as in energyflow.
//!
//! ## Evaluation
//! With `a_k = θ^{∘k} z` (element-wise powers), `w = z ∘ a_1`, `c_k = θ^{∘k} w` and
//! `B = θ Z θ` (only its upper triangle is formed), every connected graph with d ≤ 4 is a
//! dot product of these: chains and stars need `O(N²)` matrix–vector products, the
//! graphs with a cycle (triangle, triangle with a doubled or pendant edge, 4-cycle) one
//! `O(N³/2)` contraction through `B`.
//!
//! ## References
//! P. T. Komiske, E. M. Metodiev, J. Thaler, *Energy flow polynomials: a complete linear
//! basis for jet substructure*, JHEP 04 (2018) 013, arXiv:1712.07124; `energyflow` 1.4.0
//! (`EFPSet`, `measure.py`); `jetnet.utils.efps` 0.2.5.

use crate::Result;
use crate::view::JetsView;
use rayon::prelude::*;
use std::f64::consts::PI;

/// Which EFPs to compute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EfpSet {
    /// The 5 prime EFPs with n = 4, d = 4, in EFPSet order: `jetnet.utils.efps`' default
    /// (`[("n==", 4), ("d==", 4), ("p==", 1)]`), used by `w1efp`.
    W1Efp,
    /// All 36 EFPs with d ≤ 4 (prime and composite), in EFPSet order:
    /// `jetnet.evaluation.get_fpd_kpd_jet_features`, used by FPD and KPD.
    D4,
}

/// Indices of the [`EfpSet::W1Efp`] graphs within the [`EfpSet::D4`] set.
pub(crate) const W1EFP_IN_D4: [usize; 5] = [12, 14, 15, 16, 17];

/// Edge lists of the 36 d ≤ 4 graphs in energyflow's EFPSet order (vertex pairs;
/// a repeated pair is a multi-edge; graph 0 is the single vertex).
pub const D4_GRAPHS: [&[(u8, u8)]; 36] = [
    &[],
    &[(0, 1)],
    &[(0, 1), (0, 1)],
    &[(0, 1), (0, 1), (0, 1)],
    &[(0, 1), (0, 1), (0, 1), (0, 1)],
    &[(0, 1), (0, 2)],
    &[(0, 1), (0, 2), (0, 2)],
    &[(0, 1), (0, 2), (0, 2), (0, 2)],
    &[(0, 1), (0, 1), (0, 2), (0, 2)],
    &[(0, 1), (0, 2), (1, 2)],
    &[(0, 1), (0, 2), (0, 2), (1, 2)],
    &[(0, 1), (0, 2), (0, 3)],
    &[(0, 1), (0, 2), (0, 2), (0, 3)],
    &[(0, 1), (0, 2), (1, 3)],
    &[(0, 1), (0, 2), (0, 2), (1, 3)],
    &[(0, 1), (0, 1), (0, 2), (1, 3)],
    &[(0, 1), (0, 2), (1, 2), (0, 3)],
    &[(0, 1), (0, 2), (1, 3), (2, 3)],
    &[(0, 1), (0, 2), (0, 3), (0, 4)],
    &[(0, 1), (0, 2), (0, 3), (1, 4)],
    &[(0, 1), (0, 2), (1, 3), (2, 4)],
    &[(0, 1), (2, 3)],
    &[(0, 1), (2, 3), (2, 3)],
    &[(0, 1), (2, 3), (2, 3), (2, 3)],
    &[(0, 1), (0, 1), (2, 3), (2, 3)],
    &[(0, 1), (2, 3), (2, 4)],
    &[(0, 1), (0, 1), (2, 3), (2, 4)],
    &[(0, 1), (2, 3), (2, 4), (2, 4)],
    &[(0, 1), (2, 3), (2, 4), (3, 4)],
    &[(0, 1), (2, 3), (4, 5)],
    &[(0, 1), (2, 3), (2, 4), (2, 5)],
    &[(0, 1), (2, 3), (2, 4), (3, 5)],
    &[(0, 1), (0, 2), (3, 4), (3, 5)],
    &[(0, 1), (2, 3), (4, 5), (4, 5)],
    &[(0, 1), (2, 3), (4, 5), (4, 6)],
    &[(0, 1), (2, 3), (4, 5), (6, 7)],
];

impl EfpSet {
    /// Number of EFPs in the set.
    pub fn len(self) -> usize {
        match self {
            Self::W1Efp => W1EFP_IN_D4.len(),
            Self::D4 => 36,
        }
    }

    /// Always false: no set is empty.
    pub fn is_empty(self) -> bool {
        false
    }

    /// The edge lists of the set's graphs, in order.
    pub fn graphs(self) -> Vec<&'static [(u8, u8)]> {
        match self {
            Self::W1Efp => W1EFP_IN_D4.iter().map(|&i| D4_GRAPHS[i]).collect(),
            Self::D4 => D4_GRAPHS.to_vec(),
        }
    }
}

/// Per-thread work buffers for one jet.
#[derive(Default)]
pub(crate) struct EfpScratch {
    z: Vec<f64>,
    y: Vec<f64>,
    phi: Vec<f64>,
    theta: Vec<f64>,
    rz: Vec<f64>,
    a1: Vec<f64>,
    a2: Vec<f64>,
    a3: Vec<f64>,
    w: Vec<f64>,
}

impl EfpScratch {
    /// Load one `[P, F]` jet (η, φ, pT first), keeping particles with pT ≠ 0.
    fn load(&mut self, jet: &[f32], num_features: usize) {
        self.z.clear();
        self.y.clear();
        self.phi.clear();
        for p in jet.chunks_exact(num_features) {
            if p[2] != 0.0 {
                self.y.push(f64::from(p[0]));
                self.phi.push(f64::from(p[1]));
                self.z.push(f64::from(p[2]));
            }
        }
    }
}

/// Dot product with four interleaved partial sums (vectorisable, unlike a single chain).
#[inline]
fn dot(a: &[f64], b: &[f64]) -> f64 {
    let mut acc = [0.0f64; 4];
    let (ca, cb) = (a.chunks_exact(4), b.chunks_exact(4));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for l in 0..4 {
            acc[l] += x[l] * y[l];
        }
    }
    let mut s = (acc[0] + acc[1]) + (acc[2] + acc[3]);
    for (x, y) in ra.iter().zip(rb) {
        s += x * y;
    }
    s
}

/// All 36 d ≤ 4 EFPs of the particles loaded in `s` (AVX2 code path when available; the
/// arithmetic is the same).
fn d4_from_scratch(s: &mut EfpScratch, out: &mut [f64; 36]) {
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU supports AVX2 (checked above).
        return unsafe { d4_avx2(s, out) };
    }
    d4_generic(s, out)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn d4_avx2(s: &mut EfpScratch, out: &mut [f64; 36]) {
    d4_generic(s, out)
}

#[inline(always)]
fn d4_generic(s: &mut EfpScratch, out: &mut [f64; 36]) {
    let n = s.z.len();
    let (z, y, phi) = (&s.z, &s.y, &s.phi);
    // θ_ij, exactly energyflow's `_thetas2_from_yphis(...) ** 0.5`.
    s.theta.clear();
    s.theta.resize(n * n, 0.0);
    let th = &mut s.theta;
    for i in 0..n {
        for j in i + 1..n {
            let dy = y[i] - y[j];
            let dphi = PI - ((phi[i] - phi[j]).abs() - PI).abs();
            let t = (dy * dy + dphi * dphi).sqrt();
            th[i * n + j] = t;
            th[j * n + i] = t;
        }
    }
    let th = &s.theta;
    // a_k = θ^k z and the two-vertex graphs.
    s.a1.clear();
    s.a2.clear();
    s.a3.clear();
    let mut e4 = 0.0;
    for i in 0..n {
        let row = &th[i * n..(i + 1) * n];
        let (mut a1, mut a2, mut a3, mut a4) = (0.0, 0.0, 0.0, 0.0);
        for (&t, &zj) in row.iter().zip(z) {
            let t2 = t * t;
            a1 += t * zj;
            a2 += t2 * zj;
            a3 += t2 * t * zj;
            a4 += t2 * t2 * zj;
        }
        s.a1.push(a1);
        s.a2.push(a2);
        s.a3.push(a3);
        e4 += z[i] * a4;
    }
    let (a1, a2, a3) = (&s.a1, &s.a2, &s.a3);
    // w = z ∘ a1, c1 = θ w, c2 = θ² w.
    s.w.clear();
    s.w.extend(z.iter().zip(a1).map(|(zi, ai)| zi * ai));
    let w = &s.w;
    let (mut e13, mut e14, mut e15, mut e19, mut e20) = (0.0, 0.0, 0.0, 0.0, 0.0);
    let (mut e0, mut e1, mut e2, mut e3) = (0.0, 0.0, 0.0, 0.0);
    let (mut e5, mut e6, mut e7, mut e8, mut e11, mut e12, mut e18) =
        (0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0);
    for i in 0..n {
        let row = &th[i * n..(i + 1) * n];
        let (mut c1, mut c2) = (0.0, 0.0);
        for (&t, &wj) in row.iter().zip(w) {
            c1 += t * wj;
            c2 += t * t * wj;
        }
        let (zi, p1, p2, p3) = (z[i], a1[i], a2[i], a3[i]);
        e0 += zi;
        e1 += zi * p1;
        e2 += zi * p2;
        e3 += zi * p3;
        e5 += zi * p1 * p1;
        e6 += zi * p1 * p2;
        e7 += zi * p1 * p3;
        e8 += zi * p2 * p2;
        e11 += zi * p1 * p1 * p1;
        e12 += zi * p1 * p1 * p2;
        e18 += zi * p1 * p1 * p1 * p1;
        e13 += w[i] * c1;
        e14 += zi * p2 * c1;
        e15 += w[i] * c2;
        e19 += zi * p1 * p1 * c1;
        e20 += zi * c1 * c1;
    }
    // Graphs with a cycle, through B_ij = Σ_k θ_ik z_k θ_kj (i < j; B_ii = a2_i).
    s.rz.resize(n, 0.0);
    let (mut e9, mut e10, mut e16, mut e17) = (0.0, 0.0, 0.0, 0.0);
    for i in 0..n {
        let row_i = &th[i * n..(i + 1) * n];
        for ((r, &t), &zk) in s.rz.iter_mut().zip(row_i).zip(z) {
            *r = t * zk;
        }
        let (mut s9, mut s10, mut s16, mut s17) = (0.0, 0.0, 0.0, 0.0);
        for j in i + 1..n {
            let b = dot(&s.rz, &th[j * n..(j + 1) * n]);
            let t = row_i[j];
            let zb = z[j] * b;
            s9 += zb * t;
            s10 += zb * t * t;
            s16 += zb * t * a1[j];
            s17 += zb * b;
        }
        let zi = z[i];
        e9 += zi * s9;
        e10 += zi * s10;
        e16 += zi * (s16 + a1[i] * s9);
        e17 += zi * s17;
    }
    let mut diag17 = 0.0;
    for i in 0..n {
        diag17 += z[i] * z[i] * a2[i] * a2[i];
    }
    // e16 already sums both orientations of each pair through (a1_i + a1_j).
    let (e9, e10) = (2.0 * e9, 2.0 * e10);
    let e17 = 2.0 * e17 + diag17;
    *out = [
        e0,
        e1,
        e2,
        e3,
        e4,
        e5,
        e6,
        e7,
        e8,
        e9,
        e10,
        e11,
        e12,
        e13,
        e14,
        e15,
        e16,
        e17,
        e18,
        e19,
        e20,
        e1 * e1,
        e1 * e2,
        e1 * e3,
        e2 * e2,
        e1 * e5,
        e2 * e5,
        e1 * e6,
        e1 * e9,
        e1 * e1 * e1,
        e1 * e11,
        e1 * e13,
        e5 * e5,
        e1 * e1 * e2,
        e1 * e1 * e5,
        e1 * e1 * e1 * e1,
    ];
}

/// The EFPs of one jet.
///
/// # Shapes
/// `jet`: `[P, F]` (η, φ, pT first), `out`: `[set.len()]`.
///
/// # Panics
/// If `num_features < 3`, `jet.len()` is not a multiple of it, or `out` has the wrong length.
pub fn efps_jet(jet: &[f32], num_features: usize, set: EfpSet, out: &mut [f64]) {
    assert!(num_features >= 3 && jet.len().is_multiple_of(num_features));
    assert_eq!(out.len(), set.len());
    let mut s = EfpScratch::default();
    efps_jet_with(&mut s, jet, num_features, set, out);
}

fn efps_jet_with(s: &mut EfpScratch, jet: &[f32], nf: usize, set: EfpSet, out: &mut [f64]) {
    s.load(jet, nf);
    let mut all = [0.0; 36];
    d4_from_scratch(s, &mut all);
    match set {
        EfpSet::D4 => out.copy_from_slice(&all),
        EfpSet::W1Efp => {
            for (o, &i) in out.iter_mut().zip(&W1EFP_IN_D4) {
                *o = all[i];
            }
        }
    }
}

/// The EFPs of every jet, in parallel over jets: `jetnet.utils.efps(jets, efpset_args)` for
/// [`EfpSet::W1Efp`], `jetnet.evaluation.get_fpd_kpd_jet_features(jets)` for [`EfpSet::D4`].
///
/// Computed in f64. jetnet/energyflow compute in the input dtype, so this matches them on
/// float64 input (to ~1e-13 relative); on float32 input energyflow's own float32 rounding
/// (~1e-6) dominates the difference.
///
/// # Shapes
/// `jets`: `[N, P, F]`; returns `[N, set.len()]` row-major.
///
/// # Errors
/// [`crate::Error::NonFinite`] when the jets hold NaN/±inf.
pub fn efps(jets: JetsView<'_>, set: EfpSet) -> Result<Vec<f64>> {
    jets.check_finite("jets")?;
    let k = set.len();
    let nf = jets.num_features();
    let mut out = vec![0.0; jets.num_jets() * k];
    out.par_chunks_mut(k)
        .enumerate()
        .with_min_len(64)
        .for_each_init(EfpScratch::default, |s, (i, o)| {
            efps_jet_with(s, jets.jet(i), nf, set, o)
        });
    Ok(out)
}

#[cfg(test)]
mod tests;
