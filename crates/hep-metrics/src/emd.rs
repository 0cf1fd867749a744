//! The energy mover's distance (exact, by a transportation simplex) and jetnet's
//! coverage/MMD built on it.
//!
//! ## Definition
//! As `energyflow.emd.emds(..., R=1, beta=1, norm=False)` (wasserstein 1.1.0
//! `PairwiseEMD`), for events `a`, `b` with weights `pT ≥ 0` at `(η, φ)`:
//!
//! ```text
//! EMD(a, b) = min_f Σ_ij f_ij d_ij + |Σ_i pT_i − Σ_j pT_j|
//! d_ij      = sqrt((η_i − η_j)² + (φ_i − φ_j)²)          (no φ wrapping; R = 1, β = 1)
//! f_ij ≥ 0,  Σ_j f_ij ≤ pT_i,  Σ_i f_ij ≤ pT_j,  Σ_ij f_ij = min(Σ pT_a, Σ pT_b)
//! ```
//!
//! ## Solver
//! The partial transport is balanced with a dummy particle on the lighter side (its cost is
//! a constant, so it does not change the optimal flows, and it is left out of the objective)
//! and solved exactly by the transportation (network) simplex: an approximate
//! matrix-minimum start (cells bucketed by cost), completed to a spanning tree, then u–v
//! potentials on the tree, block-search pricing over whole rows (4 rows per block, each
//! row's minimum by a vectorisable scan) and cycle pivots that re-hang only the detached
//! subtree, until no reduced cost is below `-1e-13 · max d`. The optimum's
//! value is unique, so it matches energyflow's network simplex to rounding.
//!
//! ## Coverage and MMD
//! `jetnet.evaluation.cov_mmd` 0.2.5: per batch draw `k` real then `k` generated jets with
//! replacement, form the `[k gen, k real]` EMD matrix `D`, and take
//!
//! ```text
//! MMD_b = mean_r min_g D[g, r]            (each real jet's closest generated jet)
//! COV_b = |{argmin_r D[g, r] : g}| / k    (real jets that are some generated jet's nearest)
//! ```
//!
//! and return the means over batches (no error). Only the entries that can be a row or column
//! minimum are solved: a cheap lower bound on the EMD (the lighter event's pT moved to the
//! nearest particles, plus the pT difference) rules the others out exactly; see
//! `nearest_emds`.
//!
//! ## References
//! P. T. Komiske, E. M. Metodiev, J. Thaler, *The metric space of collider events*,
//! PRL 123 (2019) 041801, arXiv:1902.02346; energyflow 1.4.0 `emd.emds`; wasserstein 1.1.0;
//! R. Kansal et al., arXiv:2106.11535 (COV, MMD).

use crate::numpy::mean;
use crate::view::JetsView;
use crate::{Error, NumpyRng, Result};
use rayon::prelude::*;

/// One particle as the EMD sees it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EmdParticle {
    /// Weight (transverse momentum), ≥ 0.
    pub pt: f64,
    /// Rapidity / pseudorapidity coordinate.
    pub eta: f64,
    /// Azimuth (not wrapped).
    pub phi: f64,
}

/// Pivot budget, as energyflow's `n_iter_max`.
const MAX_PIVOTS: usize = 100_000;

/// A reusable exact EMD solver: holds its work buffers so that many EMDs (one per pair of
/// jets) allocate nothing after the first.
#[derive(Debug, Default, Clone)]
pub struct EmdSolver {
    m: usize,
    n: usize,
    cost: Vec<f64>,
    supply: Vec<f64>,
    demand: Vec<f64>,
    rd: Vec<f64>,
    rs: Vec<f64>,
    b_eta: Vec<f64>,
    b_phi: Vec<f64>,
    uf: Vec<u32>,
    bucket_start: Vec<u32>,
    sorted_cells: Vec<u32>,
    /// Basic cells `(row, col)` and their flows; always `m + n - 1` of them.
    cells: Vec<(u32, u32)>,
    flow: Vec<f64>,
    /// Basis-tree adjacency: node `k`'s incident cells are `adj[k * cap..k * cap + deg[k]]`.
    adj: Vec<u32>,
    deg: Vec<u32>,
    cap: usize,
    /// Cost of each basic cell (a copy, to avoid the strided lookup).
    cell_cost: Vec<f64>,
    pot: Vec<f64>,
    parent: Vec<u32>,
    depth: Vec<u32>,
    queue: Vec<u32>,
    cycle: Vec<(u32, bool)>,
    tail: Vec<(u32, bool)>,
    next_cell: usize,
    block: usize,
}

const NONE: u32 = u32::MAX;

fn find(uf: &mut [u32], mut x: usize) -> usize {
    while uf[x] as usize != x {
        let up = uf[uf[x] as usize];
        uf[x] = up;
        x = up as usize;
    }
    x
}

fn union(uf: &mut [u32], a: usize, b: usize) {
    let (ra, rb) = (find(uf, a), find(uf, b));
    if ra != rb {
        uf[ra] = rb as u32;
    }
}

/// `min_j (row_j − v_j)` with four independent lanes (so that it vectorises).
#[inline]
fn row_min(row: &[f64], v: &[f64]) -> f64 {
    let mut acc = [f64::INFINITY; 4];
    let mut rc = row.chunks_exact(4);
    let mut vc = v.chunks_exact(4);
    for (r4, v4) in (&mut rc).zip(&mut vc) {
        for l in 0..4 {
            let x = r4[l] - v4[l];
            acc[l] = if x < acc[l] { x } else { acc[l] };
        }
    }
    let mut m = acc[0].min(acc[1]).min(acc[2].min(acc[3]));
    for (&r, &vv) in rc.remainder().iter().zip(vc.remainder()) {
        let x = r - vv;
        if x < m {
            m = x;
        }
    }
    m
}

impl EmdSolver {
    /// A solver with empty buffers.
    pub fn new() -> Self {
        Self::default()
    }

    /// EMD between two events (zero-weight particles are ignored).
    ///
    /// # Errors
    /// [`Error::NegativeWeight`] for a negative pT, [`Error::NonFinite`] for NaN/inf
    /// inputs, [`Error::EmdNotConverged`] if the pivot budget runs out.
    pub fn emd(&mut self, a: &[EmdParticle], b: &[EmdParticle]) -> Result<f64> {
        for (argument, ev) in [("a", a), ("b", b)] {
            for (index, p) in ev.iter().enumerate() {
                for value in [p.pt, p.eta, p.phi] {
                    if !value.is_finite() {
                        return Err(Error::NonFinite {
                            argument,
                            index,
                            value,
                        });
                    }
                }
                if p.pt < 0.0 {
                    return Err(Error::NegativeWeight {
                        argument,
                        index,
                        value: p.pt,
                    });
                }
            }
        }
        self.emd_unchecked(a, b)
    }

    fn emd_unchecked(&mut self, a: &[EmdParticle], b: &[EmdParticle]) -> Result<f64> {
        let sa: f64 = a.iter().map(|p| p.pt).sum();
        let sb: f64 = b.iter().map(|p| p.pt).sum();
        let extra = (sa - sb).abs();
        let pa: Vec<&EmdParticle> = a.iter().filter(|p| p.pt > 0.0).collect();
        let pb: Vec<&EmdParticle> = b.iter().filter(|p| p.pt > 0.0).collect();
        if pa.is_empty() || pb.is_empty() {
            return Ok(extra);
        }
        if pa.len() >= 0xffff || pb.len() >= 0xffff {
            return Err(Error::InvalidParameter {
                name: "particles per event",
                requirement: "fewer than 65535 with non-zero pt",
            });
        }
        // Balance with a zero-cost dummy on the lighter side.
        let dummy_col = sa > sb;
        let dummy_row = sb > sa;
        self.m = pa.len() + usize::from(dummy_row);
        self.n = pb.len() + usize::from(dummy_col);
        let (m, n) = (self.m, self.n);
        self.cost.clear();
        self.cost.resize(m * n, 0.0);
        // Ground distances, with b's coordinates as separate arrays so the loop vectorises.
        self.b_eta.clear();
        self.b_eta.extend(pb.iter().map(|q| q.eta));
        self.b_phi.clear();
        self.b_phi.extend(pb.iter().map(|q| q.phi));
        for (i, p) in pa.iter().enumerate() {
            let row = &mut self.cost[i * n..i * n + pb.len()];
            for ((c, &e), &f) in row.iter_mut().zip(&self.b_eta).zip(&self.b_phi) {
                let (de, dp) = (p.eta - e, p.phi - f);
                *c = (de * de + dp * dp).sqrt();
            }
        }
        let max_cost = self.cost.iter().fold(0.0f64, |a, &c| a.max(c));
        // The dummy's cost is any constant (its total flow is fixed); max_cost keeps the
        // start heuristic from filling it first. It is excluded from the objective below.
        if dummy_col {
            for i in 0..pa.len() {
                self.cost[i * n + n - 1] = max_cost;
            }
        }
        if dummy_row {
            self.cost[(m - 1) * n..].fill(max_cost);
        }
        self.supply.clear();
        self.supply.extend(pa.iter().map(|p| p.pt));
        if dummy_row {
            self.supply.push(sb - sa);
        }
        self.demand.clear();
        self.demand.extend(pb.iter().map(|p| p.pt));
        if dummy_col {
            self.demand.push(sa - sb);
        }
        self.greedy_start(max_cost);
        self.tree();
        self.next_cell = 0;
        self.block = 4;
        let tol = 1e-13 * max_cost.max(f64::MIN_POSITIVE);
        let mut pivots = 0;
        while self.pivot(tol) {
            pivots += 1;
            if pivots > MAX_PIVOTS {
                return Err(Error::EmdNotConverged {
                    iterations: MAX_PIVOTS,
                });
            }
        }
        let (real_rows, real_cols) = (pa.len() as u32, pb.len() as u32);
        let mut total = 0.0;
        for (&(i, j), &f) in self.cells.iter().zip(&self.flow) {
            if i < real_rows && j < real_cols {
                total += f * self.cost[i as usize * n + j as usize];
            }
        }
        Ok(total + extra)
    }

    /// Initial basis: an approximate matrix-minimum rule — cells are visited in order of
    /// increasing cost (bucketed by cost, so only roughly sorted) and each ships as much as
    /// its row and column have left. This gives a forest, because every allocation exhausts a
    /// row or a column; it is completed to a spanning tree with zero-flow cells (union–find).
    fn greedy_start(&mut self, max_cost: f64) {
        let (m, n) = (self.m, self.n);
        self.cells.clear();
        self.flow.clear();
        self.cap = m.max(n);
        self.adj.clear();
        self.adj.resize((m + n) * self.cap, 0);
        self.deg.clear();
        self.deg.resize(m + n, 0);
        self.cell_cost.clear();
        self.rd.clear();
        self.rd.extend_from_slice(&self.demand);
        self.rs.clear();
        self.rs.extend_from_slice(&self.supply);
        self.uf.clear();
        self.uf.extend(0..(m + n) as u32);
        // Counting sort of the cells into buckets of equal cost width.
        let nb = (m * n / 4).max(1);
        let scale = if max_cost > 0.0 {
            (nb - 1) as f64 / max_cost
        } else {
            0.0
        };
        self.bucket_start.clear();
        self.bucket_start.resize(nb + 1, 0);
        let bucket = |c: f64| ((c * scale) as usize).min(nb - 1);
        for &c in &self.cost[..m * n] {
            self.bucket_start[bucket(c) + 1] += 1;
        }
        for k in 0..nb {
            self.bucket_start[k + 1] += self.bucket_start[k];
        }
        self.sorted_cells.clear();
        self.sorted_cells.resize(m * n, 0);
        // Cells stored as (row << 16) | column: no division when they are read back.
        for i in 0..m {
            for (j, &c) in self.cost[i * n..(i + 1) * n].iter().enumerate() {
                let b = bucket(c);
                self.sorted_cells[self.bucket_start[b] as usize] = ((i << 16) | j) as u32;
                self.bucket_start[b] += 1;
            }
        }
        let mut open_rows = m;
        let mut open_cols = n;
        for idx in 0..m * n {
            if open_rows == 0 || open_cols == 0 {
                break;
            }
            let k = self.sorted_cells[idx] as usize;
            let (i, j) = (k >> 16, k & 0xffff);
            let (si, dj) = (self.rs[i], self.rd[j]);
            if si <= 0.0 || dj <= 0.0 {
                continue;
            }
            let x = si.min(dj);
            self.add_cell(i, j, x);
            union(&mut self.uf, i, m + j);
            if si <= dj {
                self.rs[i] = 0.0;
                open_rows -= 1;
                self.rd[j] = dj - x;
                if self.rd[j] <= 0.0 {
                    open_cols -= 1;
                }
            } else {
                self.rd[j] = 0.0;
                open_cols -= 1;
                self.rs[i] = si - x;
            }
        }
        // Connect the forest into a spanning tree with degenerate (zero-flow) cells.
        if self.cells.len() < m + n - 1 {
            // First bring every column into row 0's component through (0, j), then every
            // row through (i, 0); each added cell joins two components, so no cycle forms.
            for j in 0..n {
                if find(&mut self.uf, m + j) != find(&mut self.uf, 0) {
                    union(&mut self.uf, m + j, 0);
                    self.add_cell(0, j, 0.0);
                }
            }
            for i in 1..m {
                if find(&mut self.uf, i) != find(&mut self.uf, 0) {
                    union(&mut self.uf, i, 0);
                    self.add_cell(i, 0, 0.0);
                }
            }
        }
        debug_assert_eq!(self.cells.len(), m + n - 1);
    }

    fn add_cell(&mut self, r: usize, c: usize, x: f64) {
        let e = self.cells.len() as u32;
        self.cells.push((r as u32, c as u32));
        self.flow.push(x);
        self.cell_cost.push(self.cost[r * self.n + c]);
        self.adj_push(r, e);
        self.adj_push(self.m + c, e);
    }

    fn adj_push(&mut self, node: usize, e: u32) {
        let d = self.deg[node] as usize;
        self.adj[node * self.cap + d] = e;
        self.deg[node] += 1;
    }

    fn adj_remove(&mut self, node: usize, e: u32) {
        let base = node * self.cap;
        let d = self.deg[node] as usize;
        let list = &mut self.adj[base..base + d];
        if let Some(k) = list.iter().position(|&x| x == e) {
            list[k] = list[d - 1];
            self.deg[node] -= 1;
        }
    }

    /// Set the tree data (parent edge, depth, potential) of every node below `from`, whose
    /// own entries are already correct, by walking the basis tree away from it.
    fn hang_below(&mut self, from: usize) {
        let m = self.m;
        self.queue.clear();
        self.queue.push(from as u32);
        let mut head = 0;
        while head < self.queue.len() {
            let node = self.queue[head] as usize;
            head += 1;
            let base = node * self.cap;
            for k in base..base + self.deg[node] as usize {
                let e = self.adj[k];
                if e == self.parent[node] {
                    continue;
                }
                let (r, c) = self.cells[e as usize];
                let cost = self.cell_cost[e as usize];
                let other = if node < m {
                    // row → column: v_c = cost − u_r
                    m + c as usize
                } else {
                    r as usize
                };
                self.pot[other] = cost - self.pot[node];
                self.parent[other] = e;
                self.depth[other] = self.depth[node] + 1;
                self.queue.push(other as u32);
            }
        }
    }

    /// Potentials, parents and depths of the whole basis tree, rooted at row 0.
    fn tree(&mut self) {
        let (m, n) = (self.m, self.n);
        self.pot.clear();
        self.pot.resize(m + n, 0.0);
        self.parent.clear();
        self.parent.resize(m + n, NONE);
        self.depth.clear();
        self.depth.resize(m + n, 0);
        self.hang_below(0);
    }

    fn other_end(&self, e: u32, node: usize) -> usize {
        let (r, c) = self.cells[e as usize];
        if node < self.m {
            self.m + c as usize
        } else {
            r as usize
        }
    }

    /// Row-block pricing (a variant of LEMON's block search): scan whole rows, starting
    /// after the row of the previous entering cell, in blocks of `block` rows, and return the
    /// most negative reduced cost of the first block that has one below `-tol`. The minimum
    /// of a row is found with a lane-parallel (vectorisable) scan, its column only for the
    /// winning row.
    fn price(&mut self, tol: f64) -> Option<(usize, usize)> {
        let (m, n) = (self.m, self.n);
        let (u, v) = self.pot.split_at(m);
        let mut best = -tol;
        let mut best_row = usize::MAX;
        let mut i = self.next_cell;
        let mut in_block = 0;
        for _ in 0..m {
            let row = &self.cost[i * n..(i + 1) * n];
            let r = row_min(row, &v[..n]) - u[i];
            if r < best {
                best = r;
                best_row = i;
            }
            i += 1;
            if i == m {
                i = 0;
            }
            in_block += 1;
            if in_block == self.block {
                in_block = 0;
                if best_row != usize::MAX {
                    break;
                }
            }
        }
        if best_row == usize::MAX {
            return None;
        }
        self.next_cell = i;
        let row = &self.cost[best_row * n..(best_row + 1) * n];
        let ui = u[best_row];
        let mut j_best = 0;
        let mut r_best = f64::INFINITY;
        for (j, (&c, &vj)) in row.iter().zip(&v[..n]).enumerate() {
            let r = c - ui - vj;
            if r < r_best {
                r_best = r;
                j_best = j;
            }
        }
        Some((best_row, j_best))
    }

    /// One simplex pivot; false when the basis is optimal.
    fn pivot(&mut self, tol: f64) -> bool {
        let m = self.m;
        let Some((ei, ej)) = self.price(tol) else {
            return false;
        };
        // Cycle: entering edge (+), then the tree path from column ej back to row ei.
        // Walking up from a child node x: the edge is traversed column→row (sign −) when x is
        // a column on the column side, or when x is a row on the row side. The bool in
        // `cycle` is the sign, `side` tells which endpoint's path the edge lies on.
        self.cycle.clear();
        self.tail.clear();
        let (mut x, mut y) = (m + ej, ei);
        while x != y {
            if self.depth[x] >= self.depth[y] {
                let e = self.parent[x];
                self.cycle.push((e, x < m));
                x = self.other_end(e, x);
            } else {
                let e = self.parent[y];
                self.tail.push((e, y >= m));
                y = self.other_end(e, y);
            }
        }
        let col_side = self.cycle.len();
        self.cycle.extend(self.tail.iter().rev());
        let mut theta = f64::INFINITY;
        let mut leave = usize::MAX;
        for (k, &(e, plus)) in self.cycle.iter().enumerate() {
            if !plus && self.flow[e as usize] < theta {
                theta = self.flow[e as usize];
                leave = k;
            }
        }
        for &(e, plus) in &self.cycle {
            let f = &mut self.flow[e as usize];
            *f = if plus {
                *f + theta
            } else {
                (*f - theta).max(0.0)
            };
        }
        let (out, _) = self.cycle[leave];
        // The endpoint of the entering edge that loses its path to the root through `out`.
        let (u, v) = if leave < col_side {
            (m + ej, ei)
        } else {
            (ei, m + ej)
        };
        // Replace the leaving cell by the entering one.
        let l = out as usize;
        let (lr, lc) = self.cells[l];
        self.adj_remove(lr as usize, out);
        self.adj_remove(m + lc as usize, out);
        self.cells[l] = (ei as u32, ej as u32);
        self.flow[l] = theta;
        self.cell_cost[l] = self.cost[ei * self.n + ej];
        self.adj_push(ei, out);
        self.adj_push(m + ej, out);
        // Re-hang the detached subtree below u.
        self.parent[u] = out;
        self.depth[u] = self.depth[v] + 1;
        self.pot[u] = self.cost[ei * self.n + ej] - self.pot[v];
        self.hang_below(u);
        true
    }
}

/// Non-zero particles of a `[P, F]` JetNet-order jet (η, φ, pT first) as EMD particles.
fn jet_particles(jet: &[f32], num_features: usize, out: &mut Vec<EmdParticle>) {
    out.clear();
    out.extend(
        jet.chunks_exact(num_features)
            .filter(|p| p[2] != 0.0)
            .map(|p| EmdParticle {
                pt: f64::from(p[2]),
                eta: f64::from(p[0]),
                phi: f64::from(p[1]),
            }),
    );
}

/// EMD between two jets in JetNet feature order (`energyflow.emd.emd` with `R=1`,
/// `beta=1`, `norm=False` on `[pt, eta, phi]`).
///
/// # Shapes
/// `jet_a`: `[Pa, F]`, `jet_b`: `[Pb, F]`, features `(η, φ, pT, …)`.
///
/// # Errors
/// Negative pT, non-finite values, or a non-converged solver.
///
/// # Panics
/// If `num_features < 3` or a slice length is not a multiple of it.
pub fn emd(jet_a: &[f32], jet_b: &[f32], num_features: usize) -> Result<f64> {
    assert!(num_features >= 3 && jet_a.len().is_multiple_of(num_features));
    assert!(jet_b.len().is_multiple_of(num_features));
    let (mut a, mut b) = (Vec::new(), Vec::new());
    jet_particles(jet_a, num_features, &mut a);
    jet_particles(jet_b, num_features, &mut b);
    EmdSolver::new().emd(&a, &b)
}

fn check_emd_jets(jets: &JetsView<'_>, argument: &'static str) -> Result<()> {
    jets.check_nonempty(argument)?;
    jets.check_finite(argument)?;
    let f = jets.num_features();
    match jets.data().chunks_exact(f).position(|p| p[2] < 0.0) {
        Some(i) => Err(Error::NegativeWeight {
            argument,
            index: i * f + 2,
            value: f64::from(jets.data()[i * f + 2]),
        }),
        None => Ok(()),
    }
}

/// Pairwise EMDs between the jets of two sets (`energyflow.emd.emds(a, b)`), in parallel.
///
/// # Shapes
/// `a`: `[Na, Pa, F]`, `b`: `[Nb, Pb, F]`; returns `[Na, Nb]` row-major.
///
/// # Errors
/// Empty, non-finite or negative-pT inputs, or a non-converged solver.
pub fn emds(a: JetsView<'_>, b: JetsView<'_>) -> Result<Vec<f64>> {
    check_emd_jets(&a, "a")?;
    check_emd_jets(&b, "b")?;
    let ia: Vec<usize> = (0..a.num_jets()).collect();
    let ib: Vec<usize> = (0..b.num_jets()).collect();
    pairwise(&a, &ia, &b, &ib)
}

/// `[|ia|, |ib|]` EMDs between the selected jets of `a` and `b`.
fn pairwise(a: &JetsView<'_>, ia: &[usize], b: &JetsView<'_>, ib: &[usize]) -> Result<Vec<f64>> {
    let (fa, fb) = (a.num_features(), b.num_features());
    let pb: Vec<Vec<EmdParticle>> = ib
        .iter()
        .map(|&j| {
            let mut v = Vec::new();
            jet_particles(b.jet(j), fb, &mut v);
            v
        })
        .collect();
    let rows: Vec<Result<Vec<f64>>> = ia
        .par_iter()
        .map_init(
            || (EmdSolver::new(), Vec::new()),
            |(solver, pa), &i| {
                jet_particles(a.jet(i), fa, pa);
                pb.iter().map(|q| solver.emd_unchecked(pa, q)).collect()
            },
        )
        .collect();
    let mut out = Vec::with_capacity(ia.len() * ib.len());
    for r in rows {
        out.extend(r?);
    }
    Ok(out)
}

/// A lower bound on the EMD: every unit of the lighter event's pT moves at least to the
/// nearest particle of the other event, and the pT difference is paid in full:
/// `|Σa − Σb| + Σ_{i ∈ lighter} pT_i · min_j d_ij ≤ EMD(a, b)`.
fn emd_lower_bound(a: &[EmdParticle], b: &[EmdParticle]) -> f64 {
    let sa: f64 = a.iter().map(|p| p.pt).sum();
    let sb: f64 = b.iter().map(|p| p.pt).sum();
    let (light, heavy) = if sa <= sb { (a, b) } else { (b, a) };
    let mut moved = 0.0;
    if !heavy.is_empty() {
        for p in light {
            let nearest = heavy
                .iter()
                .map(|q| {
                    let (de, dp) = (p.eta - q.eta, p.phi - q.phi);
                    de * de + dp * dp
                })
                .fold(f64::INFINITY, f64::min);
            moved += p.pt * nearest.sqrt();
        }
    }
    moved + (sa - sb).abs()
}

/// The `[|ia|, |ib|]` EMD matrix as far as coverage and MMD need it: every entry that can be
/// the minimum of its row or of its column holds the exact EMD, the others `+inf`.
///
/// An entry is skipped only when its lower bound ([`emd_lower_bound`], shrunk by 1e-9 against
/// rounding) exceeds both the smallest EMD found so far in its row and in its column; the true
/// minimum of a row or column (and every entry tied with it) is never above those, so the row
/// minima, their first argmin and the column minima are those of the full matrix. Entries are
/// evaluated in parallel chunks in increasing order of their bounds, which finds small EMDs
/// first. On the shipped jets (batches of 100 × 100) 21–25% of the pairs are evaluated for
/// gluon vs top and 12–17% for gluon vs gluon.
fn nearest_emds(
    a: &JetsView<'_>,
    ia: &[usize],
    b: &JetsView<'_>,
    ib: &[usize],
) -> Result<Vec<f64>> {
    let particles = |v: &JetsView<'_>, idx: &[usize]| -> Vec<Vec<EmdParticle>> {
        idx.iter()
            .map(|&j| {
                let mut p = Vec::new();
                jet_particles(v.jet(j), v.num_features(), &mut p);
                p
            })
            .collect()
    };
    let (pa, pb) = (particles(a, ia), particles(b, ib));
    let (na, nb) = (pa.len(), pb.len());
    let bound: Vec<f64> = (0..na * nb)
        .into_par_iter()
        .map(|e| emd_lower_bound(&pa[e / nb], &pb[e % nb]) * (1.0 - 1e-9))
        .collect();
    let mut d = vec![f64::INFINITY; na * nb];
    let mut done = vec![false; na * nb];
    let (mut row_best, mut col_best) = (vec![f64::INFINITY; na], vec![f64::INFINITY; nb]);
    let mut order: Vec<usize> = (0..na * nb).collect();
    order.sort_by(|&x, &y| bound[x].total_cmp(&bound[y]));
    let chunk = 4 * rayon::current_num_threads().max(1);
    let mut pos = 0;
    while pos < order.len() {
        let mut batch = Vec::with_capacity(chunk);
        while pos < order.len() && batch.len() < chunk {
            let e = order[pos];
            pos += 1;
            let (i, j) = (e / nb, e % nb);
            if !done[e] && (bound[e] <= row_best[i] || bound[e] <= col_best[j]) {
                batch.push(e);
            }
        }
        let values: Vec<Result<f64>> = batch
            .par_iter()
            .map_init(EmdSolver::new, |solver, &e| {
                solver.emd_unchecked(&pa[e / nb], &pb[e % nb])
            })
            .collect();
        for (&e, v) in batch.iter().zip(values) {
            let v = v?;
            let (i, j) = (e / nb, e % nb);
            d[e] = v;
            done[e] = true;
            row_best[i] = row_best[i].min(v);
            col_best[j] = col_best[j].min(v);
        }
    }
    Ok(d)
}

/// Parameters of [`cov_mmd`] (jetnet's `num_eval_samples`, `num_batches`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CovMmdConfig {
    /// Real and generated jets drawn per batch. jetnet default: 100.
    pub num_eval_samples: usize,
    /// Number of batches. jetnet default: 10.
    pub num_batches: usize,
}

impl Default for CovMmdConfig {
    fn default() -> Self {
        Self {
            num_eval_samples: 100,
            num_batches: 10,
        }
    }
}

impl CovMmdConfig {
    /// Set `num_eval_samples`.
    pub fn with_num_eval_samples(mut self, n: usize) -> Self {
        self.num_eval_samples = n;
        self
    }

    /// Set `num_batches`.
    pub fn with_num_batches(mut self, n: usize) -> Self {
        self.num_batches = n;
        self
    }
}

/// Coverage and minimum matching distance.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CovMmd {
    /// Coverage, in `[0, 1]`; higher is better.
    pub cov: f64,
    /// Minimum matching distance (an EMD, in pT_rel units); lower is better.
    pub mmd: f64,
}

/// `jetnet.evaluation.cov_mmd`: coverage and MMD between real and generated jets with the
/// EMD as distance. Draws `rng.choice(N_real, k)` then `rng.choice(N_gen, k)` per batch.
///
/// # Shapes
/// `real`: `[Nr, Pr, F]`, `gen`: `[Ng, Pg, F]`, features `(η, φ, pT, …)`.
///
/// # Errors
/// Empty, non-finite or negative-pT jets (jetnet asserts pT ≥ 0), zero-sized `cfg`, or a
/// non-converged EMD.
pub fn cov_mmd(
    real: JetsView<'_>,
    gen_jets: JetsView<'_>,
    cfg: &CovMmdConfig,
    rng: &mut NumpyRng,
) -> Result<CovMmd> {
    if cfg.num_eval_samples == 0 || cfg.num_batches == 0 {
        return Err(Error::InvalidParameter {
            name: "num_eval_samples/num_batches",
            requirement: "must be positive",
        });
    }
    check_emd_jets(&real, "real")?;
    check_emd_jets(&gen_jets, "gen")?;
    let k = cfg.num_eval_samples;
    let mut covs = Vec::with_capacity(cfg.num_batches);
    let mut mmds = Vec::with_capacity(cfg.num_batches);
    for _ in 0..cfg.num_batches {
        let real_idx = rng.choice(real.num_jets(), k);
        let gen_idx = rng.choice(gen_jets.num_jets(), k);
        let d = nearest_emds(&gen_jets, &gen_idx, &real, &real_idx)?; // [gen, real]
        let col_min: Vec<f64> = (0..k)
            .map(|r| (0..k).map(|g| d[g * k + r]).fold(f64::INFINITY, f64::min))
            .collect();
        mmds.push(mean(&col_min));
        let mut covered = vec![false; k];
        for row in d.chunks_exact(k) {
            // np.argmin: the first minimum
            let mut best = 0;
            for (r, &v) in row.iter().enumerate() {
                if v < row[best] {
                    best = r;
                }
            }
            covered[best] = true;
        }
        covs.push(covered.iter().filter(|&&c| c).count() as f64 / k as f64);
    }
    Ok(CovMmd {
        cov: mean(&covs),
        mmd: mean(&mmds),
    })
}

#[cfg(test)]
mod tests;
