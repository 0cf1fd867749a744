//! Test-only reference: the solver this crate used before the current one (same problem,
//! a different start, pricing and tree bookkeeping), kept unchanged but for its name to check
//! the new solver against on many events.

use super::{EmdParticle, MAX_PIVOTS};
use crate::{Error, Result};

/// The previous solver (bucketed matrix-minimum start, adjacency-list tree re-hung by
/// breadth-first search after every pivot).
#[derive(Debug, Default, Clone)]
pub(super) struct OracleSolver {
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

impl OracleSolver {
    /// A solver with empty buffers.
    pub(super) fn new() -> Self {
        Self::default()
    }

    pub(super) fn emd_unchecked(&mut self, a: &[EmdParticle], b: &[EmdParticle]) -> Result<f64> {
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
