//! The transportation simplex behind [`EmdSolver`] (see "Solver" in the module docs).
//!
//! Nodes: rows `0..m` (the particles of `a`, then the dummy if `b` is heavier) and columns
//! `m..m + n` (the particles of `b`, then the dummy if `a` is heavier). The basis is a spanning
//! tree of cells; node `x` stores its parent node, the flow on the cell joining it to its parent
//! and, as a bit set over nodes, its subtree (`sub`, `words` u64 per node).

use super::kernels::{Kernels, Portable};
use super::{EmdParticle, EmdSolver, MAX_PIVOTS};
use crate::{Error, Result};

const NONE: u32 = u32::MAX;

impl EmdSolver {
    /// [`EmdSolver::emd`] without the input checks (finite, pT ≥ 0).
    pub(super) fn emd_unchecked(&mut self, a: &[EmdParticle], b: &[EmdParticle]) -> Result<f64> {
        #[cfg(target_arch = "x86_64")]
        if let Some(k) = super::kernels::Avx2::detect() {
            // SAFETY: `k` exists, so the CPU supports AVX2.
            return unsafe { self.solve_avx2(k, a, b) };
        }
        self.solve(Portable, a, b)
    }

    /// The whole solve compiled for AVX2 (the arithmetic is the same as the portable one).
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    fn solve_avx2(
        &mut self,
        k: super::kernels::Avx2,
        a: &[EmdParticle],
        b: &[EmdParticle],
    ) -> Result<f64> {
        self.solve(k, a, b)
    }

    /// The portable solve, for tests on machines with AVX2.
    #[cfg(test)]
    pub(super) fn emd_portable(&mut self, a: &[EmdParticle], b: &[EmdParticle]) -> Result<f64> {
        self.solve(Portable, a, b)
    }

    #[inline(always)]
    fn solve<K: Kernels>(&mut self, k: K, a: &[EmdParticle], b: &[EmdParticle]) -> Result<f64> {
        let (sa, sb) = (self.load(a, false), self.load(b, true));
        let extra = (sa - sb).abs();
        let (na, nb) = (self.supply.len(), self.demand.len());
        if na == 0 || nb == 0 {
            return Ok(extra);
        }
        if na >= 0xffff || nb >= 0xffff {
            return Err(Error::InvalidParameter {
                name: "particles per event",
                requirement: "fewer than 65535 with non-zero pt",
            });
        }
        // Balance with a dummy on the lighter side.
        let (dummy_col, dummy_row) = (sa > sb, sb > sa);
        let m = na + usize::from(dummy_row);
        let n = nb + usize::from(dummy_col);
        let (mp, ns) = (m.next_multiple_of(4), n.next_multiple_of(4));
        (self.m, self.n, self.mp, self.ns, self.na, self.nb) = (m, n, mp, ns, na, nb);
        self.words = (m + n).div_ceil(64);
        let max_cost = self.costs();
        // The dummy's cost is any constant (its total flow is fixed); max_cost keeps the start
        // from using it before the real cells. It is left out of the objective.
        if dummy_col {
            for row in self.cost.chunks_exact_mut(ns).take(na) {
                row[nb] = max_cost;
            }
            self.demand.push(sa - sb);
        }
        if dummy_row {
            self.cost[na * ns..na * ns + nb].fill(max_cost);
            self.supply.push(sb - sa);
        }
        let single_tree = self.start(k);
        match (self.words == 1, single_tree) {
            (true, true) => self.tree_from_start::<1>(),
            (true, false) => self.tree_from_cells::<1>(),
            (false, true) => self.tree_from_start_wide(),
            (false, false) => self.tree_from_cells::<0>(),
        }
        let tol = 1e-13 * max_cost.max(f64::MIN_POSITIVE);
        self.next_block = 0;
        let mut pivots = 0;
        if self.words == 1 {
            // fixed-size views of the tree for the ≤ 64-node pivot
            self.parent.resize(64, NONE);
            self.flow.resize(64, 0.0);
            self.sub.resize(64, 0);
        }
        while let Some((i, j, rc)) = self.price(k, tol) {
            if self.words == 1 {
                self.pivot64(i, j, rc);
            } else {
                self.pivot::<0>(i, j, rc);
            }
            pivots += 1;
            if pivots > MAX_PIVOTS {
                return Err(Error::EmdNotConverged {
                    iterations: MAX_PIVOTS,
                });
            }
        }
        let mut total = 0.0;
        for (x, (&p, &f)) in self.parent.iter().zip(&self.flow).take(m + n).enumerate() {
            if p == NONE {
                continue;
            }
            let (i, j) = if x < m {
                (x, p as usize - m)
            } else {
                (p as usize, x - m)
            };
            if i < na && j < nb {
                total += f * self.cost[i * ns + j];
            }
        }
        Ok(total + extra)
    }

    /// The non-zero particles of one event into the row (`a`) or column (`b`) arrays;
    /// returns the event's total pT.
    #[inline(always)]
    fn load(&mut self, ev: &[EmdParticle], cols: bool) -> f64 {
        let (eta, phi, pt) = if cols {
            (&mut self.b_eta, &mut self.b_phi, &mut self.demand)
        } else {
            (&mut self.a_eta, &mut self.a_phi, &mut self.supply)
        };
        eta.clear();
        phi.clear();
        pt.clear();
        let mut total = 0.0;
        for p in ev {
            total += p.pt;
            if p.pt > 0.0 {
                eta.push(p.eta);
                phi.push(p.phi);
                pt.push(p.pt);
            }
        }
        total
    }

    /// The ground distances into `cost` (`mp × ns`, padding cells `+inf` so that no scan
    /// picks them); returns the largest.
    #[inline(always)]
    fn costs(&mut self) -> f64 {
        let (na, nb, mp, ns) = (self.na, self.nb, self.mp, self.ns);
        self.b_eta.resize(ns, 0.0);
        self.b_phi.resize(ns, 0.0);
        self.cost.clear();
        self.cost.resize(mp * ns, f64::INFINITY);
        let mut mx = [0.0f64; 4];
        for (row, (&pe, &pp)) in self
            .cost
            .chunks_exact_mut(ns)
            .zip(self.a_eta.iter().zip(&self.a_phi))
        {
            let cols = self.b_eta.chunks_exact(4).zip(self.b_phi.chunks_exact(4));
            for (c4, (e4, f4)) in row.chunks_exact_mut(4).zip(cols) {
                for l in 0..4 {
                    let (de, dp) = (pe - e4[l], pp - f4[l]);
                    c4[l] = (de * de + dp * dp).sqrt();
                }
            }
            row[nb..].fill(f64::INFINITY);
            for c4 in row.chunks_exact(4) {
                for l in 0..4 {
                    let c = if c4[l] < f64::INFINITY { c4[l] } else { 0.0 };
                    mx[l] = if c > mx[l] { c } else { mx[l] };
                }
            }
        }
        debug_assert!(na <= mp);
        mx[0].max(mx[1]).max(mx[2].max(mx[3]))
    }

    /// Matrix-minimum start over the real cells: repeatedly ship as much as possible through
    /// the cheapest cell whose row and column are both open. Every open row keeps its cheapest
    /// open column (`best`, `best_col`); when a column closes, the rows that pointed at it keep
    /// their old minimum as a lower bound and are rescanned only when picked (the cell picked is
    /// the same as with eager rescans, ties included: 136 instead of 199 rescans per gluon-top
    /// pair). Then the leftovers go to the dummy.
    ///
    /// Each cell closes its row or its column, and that line becomes the cell's child in the
    /// basis tree (`parent`, `flow`; `closed` lists them in closing order, children before
    /// parents). Returns whether this is one spanning tree rooted at the dummy, which is the
    /// case unless a cell closed its row and column at once (ties) or rounding left a line
    /// open; otherwise `cells` is made into a tree by [`Self::tree_from_cells`].
    #[inline(always)]
    fn start<K: Kernels>(&mut self, k: K) -> bool {
        let (m, na, nb, ns) = (self.m, self.na, self.nb, self.ns);
        let nn = m + self.n;
        let nap = na.next_multiple_of(4);
        self.cells.clear();
        self.closed.clear();
        self.parent.clear();
        self.parent.resize(nn, NONE);
        self.flow.clear();
        self.flow.resize(nn, 0.0);
        self.rs.clear();
        self.rs.extend_from_slice(&self.supply[..na]);
        self.rd.clear();
        self.rd.extend_from_slice(&self.demand[..nb]);
        // 0 for an open real column, −inf (so that row − w = +inf) for closed, dummy, padding
        self.negpen.clear();
        self.negpen.resize(ns, f64::NEG_INFINITY);
        self.negpen[..nb].fill(0.0);
        self.zeros.clear();
        self.zeros.resize(nap, 0.0);
        self.best.clear();
        self.best.resize(nap, f64::INFINITY);
        self.best_col.clear();
        self.best_col.resize(na, 0);
        self.stale.clear();
        self.stale.resize(na, false);
        // rows by best column, as bit sets (when the rows fit in a u64)
        let masks = na <= 64;
        self.col_rows.clear();
        self.col_rows.resize(ns, 0);
        for i in 0..na {
            self.rescan(k, i);
            if masks {
                self.col_rows[self.best_col[i] as usize] |= 1 << i;
            }
        }
        let mut single_tree = true;
        let (mut open_rows, mut open_cols) = (na, nb);
        loop {
            let (_, i) = k.row_argmin(&self.best, &self.zeros);
            if self.stale[i] {
                // its `best` was a lower bound only; the true minimum is at least as large
                self.stale[i] = false;
                self.rescan(k, i);
                if masks {
                    self.col_rows[self.best_col[i] as usize] |= 1 << i;
                }
                continue;
            }
            let j = self.best_col[i] as usize;
            let (si, dj) = (self.rs[i], self.rd[j]);
            if si < dj {
                // row i closes: child row, parent column j
                self.close(i, m + j, si);
                self.rs[i] = 0.0;
                self.rd[j] = dj - si;
                self.best[i] = f64::INFINITY;
                if masks {
                    self.col_rows[j] &= !(1 << i);
                }
                open_rows -= 1;
                if open_rows == 0 {
                    break;
                }
                continue;
            }
            // column j closes: child column, parent row i (a tie closes row i as well)
            self.close(m + j, i, dj);
            self.rd[j] = 0.0;
            self.rs[i] = si - dj;
            self.negpen[j] = f64::NEG_INFINITY;
            open_cols -= 1;
            if si == dj {
                single_tree = false;
                self.best[i] = f64::INFINITY;
                if masks {
                    self.col_rows[j] &= !(1 << i);
                }
                open_rows -= 1;
            }
            if open_cols == 0 || open_rows == 0 {
                break;
            }
            // The rows whose cheapest open column was j keep their old minimum as a lower
            // bound and are rescanned only when one of them is picked (lazily).
            if masks {
                let mut hits = std::mem::take(&mut self.col_rows[j]);
                while hits != 0 {
                    let r = hits.trailing_zeros() as usize;
                    hits &= hits - 1;
                    self.stale[r] = true;
                }
            } else {
                for r in 0..na {
                    if self.best_col[r] as usize == j && self.best[r] < f64::INFINITY {
                        self.stale[r] = true;
                    }
                }
            }
        }
        let mut leftovers = false;
        if m > na {
            // the dummy row covers the columns' leftovers
            for j in 0..nb {
                let d = self.rd[j];
                if d > 0.0 {
                    self.close(m + j, na, d);
                    leftovers = true;
                }
            }
            single_tree &= open_rows == 0;
        } else if self.n > nb {
            for i in 0..na {
                let s = self.rs[i];
                if s > 0.0 {
                    self.close(i, m + nb, s);
                    leftovers = true;
                }
            }
            single_tree &= open_cols == 0;
        }
        single_tree && leftovers && self.closed.len() == nn - 1
    }

    /// Row `r`'s cheapest open column.
    #[inline(always)]
    fn rescan<K: Kernels>(&mut self, k: K, r: usize) {
        let ns = self.ns;
        let (c, j) = k.row_argmin(&self.cost[r * ns..(r + 1) * ns], &self.negpen);
        self.best[r] = c;
        self.best_col[r] = j as u32;
    }

    /// Record the start's cell joining `child` (the line it closes) to `parent`.
    #[inline(always)]
    fn close(&mut self, child: usize, parent: usize, f: f64) {
        let m = self.m;
        let (i, j) = if child < m {
            (child, parent - m)
        } else {
            (parent, child - m)
        };
        self.cells.push((i as u32, j as u32, f));
        self.parent[child] = parent as u32;
        self.flow[child] = f;
        self.closed.push(child as u32);
    }

    /// Potentials and subtree sets of the tree recorded by `start`.
    #[inline(always)]
    fn tree_from_start<const W: usize>(&mut self) {
        let w = if W == 0 { self.words } else { W };
        let nn = self.m + self.n;
        self.u.clear();
        self.u.resize(self.mp, 0.0);
        self.v.clear();
        self.v.resize(self.ns, 0.0);
        // parents close after their children: the reverse closing order is top-down
        for t in (0..self.closed.len()).rev() {
            let x = self.closed[t] as usize;
            self.set_potential(x, self.parent[x] as usize);
        }
        self.sub.clear();
        self.sub.resize(nn * w, 0);
        for x in 0..nn {
            self.sub[x * w + x / 64] = 1 << (x % 64);
        }
        for &x in &self.closed {
            let (x, p) = (x as usize, self.parent[x as usize] as usize);
            for q in 0..w {
                self.sub[p * w + q] |= self.sub[x * w + q];
            }
        }
        self.smask.clear();
        self.smask.resize(w, 0);
    }

    /// [`Self::tree_from_start`] for more than 64 nodes, outside the hot function.
    #[inline(never)]
    fn tree_from_start_wide(&mut self) {
        self.tree_from_start::<0>();
    }

    /// Potential of node `x` from its tree neighbour `p` (the cell's reduced cost is 0).
    #[inline(always)]
    fn set_potential(&mut self, x: usize, p: usize) {
        let (m, ns) = (self.m, self.ns);
        if x < m {
            let j = p - m;
            self.u[x] = self.cost[x * ns + j] - self.v[j];
        } else {
            let j = x - m;
            self.v[j] = self.cost[p * ns + j] - self.u[p];
        }
    }

    /// The tree from the start's `cells` when they are not one tree (ties, rounding): a
    /// breadth-first search from a column; every other component hangs below it through a
    /// zero-flow cell with the row as the child. Zero-flow cells then all point towards the
    /// root, so the tree is strongly feasible (except for a column without any cell, which
    /// only rounding can produce and which hangs below row 0).
    #[cold]
    fn tree_from_cells<const W: usize>(&mut self) {
        let w = if W == 0 { self.words } else { W };
        let (m, nn) = (self.m, self.m + self.n);
        self.adj_head.clear();
        self.adj_head.resize(nn, NONE);
        self.adj_next.clear();
        self.adj_next.resize(2 * self.cells.len(), NONE);
        for (e, &(i, j, _)) in self.cells.iter().enumerate() {
            let (x, y) = (i as usize, m + j as usize);
            self.adj_next[2 * e] = self.adj_head[x];
            self.adj_head[x] = 2 * e as u32;
            self.adj_next[2 * e + 1] = self.adj_head[y];
            self.adj_head[y] = 2 * e as u32 + 1;
        }
        self.parent.clear();
        self.parent.resize(nn, NONE);
        self.flow.clear();
        self.flow.resize(nn, 0.0);
        self.u.clear();
        self.u.resize(self.mp, 0.0);
        self.v.clear();
        self.v.resize(self.ns, 0.0);
        self.seen.clear();
        self.seen.resize(nn, false);
        self.order.clear();
        // The root: a column without cells if there is one (it has to be the root for the
        // tree to be strongly feasible), else the last column.
        let root = (m..nn)
            .find(|&y| self.adj_head[y] == NONE)
            .unwrap_or(nn - 1);
        self.seen[root] = true;
        self.order.push(root as u32);
        let (mut head, mut next_row, mut next_col) = (0, 0, m);
        loop {
            while head < self.order.len() {
                let x = self.order[head] as usize;
                head += 1;
                let mut h = self.adj_head[x];
                while h != NONE {
                    let (i, j, f) = self.cells[(h >> 1) as usize];
                    let y = if h & 1 == 0 {
                        m + j as usize
                    } else {
                        i as usize
                    };
                    h = self.adj_next[h as usize];
                    if !self.seen[y] {
                        self.seen[y] = true;
                        self.parent[y] = x as u32;
                        self.flow[y] = f;
                        self.set_potential(y, x);
                        self.order.push(y as u32);
                    }
                }
            }
            while next_row < m && self.seen[next_row] {
                next_row += 1;
            }
            let (x, p) = if next_row < m {
                (next_row, root)
            } else {
                while next_col < nn && self.seen[next_col] {
                    next_col += 1;
                }
                if next_col == nn {
                    break;
                }
                (next_col, 0)
            };
            self.seen[x] = true;
            self.parent[x] = p as u32;
            self.set_potential(x, p);
            self.order.push(x as u32);
        }
        self.sub.clear();
        self.sub.resize(nn * w, 0);
        for &x in self.order.iter().rev() {
            let x = x as usize;
            self.sub[x * w + x / 64] |= 1 << (x % 64);
            let p = self.parent[x];
            if p != NONE {
                let p = p as usize;
                for q in 0..w {
                    self.sub[p * w + q] |= self.sub[x * w + q];
                }
            }
        }
        self.smask.clear();
        self.smask.resize(w, 0);
    }

    /// Block pricing: rows in blocks of 4 (rows are padded with `+inf` to a multiple of 4),
    /// starting after the block of the previous entering cell; the first block with a reduced
    /// cost below `−tol` gives its most negative one.
    #[inline(always)]
    fn price<K: Kernels>(&mut self, k: K, tol: f64) -> Option<(usize, usize, f64)> {
        let (mp, ns) = (self.mp, self.ns);
        let mut i0 = self.next_block;
        let mut scanned = 0;
        while scanned < mp {
            let i1 = if i0 + 4 == mp { 0 } else { i0 + 4 };
            let (b0, r0, raw0) = k.block4(
                &self.cost[i0 * ns..(i0 + 4) * ns],
                ns,
                &self.v,
                &self.u[i0..i0 + 4],
            );
            let (b1, r1, raw1) = k.block4(
                &self.cost[i1 * ns..(i1 + 4) * ns],
                ns,
                &self.v,
                &self.u[i1..i1 + 4],
            );
            let second = b1 < b0;
            let (best, i, raw) = if second {
                (b1, i1 + r1, raw1)
            } else {
                (b0, i0 + r0, raw0)
            };
            i0 = if i1 + 4 == mp { 0 } else { i1 + 4 };
            scanned += 8;
            if best < -tol {
                self.next_block = i0;
                let j = k.row_find(&self.cost[i * ns..(i + 1) * ns], &self.v, raw);
                return Some((i, j, best));
            }
        }
        None
    }

    /// One pivot for trees of at most 64 nodes (one mask word per node): the entering cell
    /// `(ei, ej)` with reduced cost `rc < 0`.
    #[inline(always)]
    fn pivot64(&mut self, ei: usize, ej: usize, rc: f64) {
        let m = self.m;
        let parent: &mut [u32; 64] = (&mut self.parent[..64]).try_into().unwrap();
        let flow: &mut [f64; 64] = (&mut self.flow[..64]).try_into().unwrap();
        let sub: &mut [u64; 64] = (&mut self.sub[..64]).try_into().unwrap();
        let (first, second) = (ei, m + ej);
        let (bf, bs) = (1u64 << first, 1u64 << second);
        // The cycle: the entering cell, the tree path from `second` up to the join (the first
        // common ancestor), and from there down to `first`. The flow goes parent → child on
        // the first side (row children lose θ) and child → parent on the second side (column
        // children lose θ). The leaving cell is the last blocking one of the cycle counted
        // from the join: on the first side the one nearest `first` (strict <), on the second
        // the one nearest the join (<=), the second side winning ties. This keeps the tree
        // strongly feasible, so degenerate pivots cannot cycle.
        let mut p1 = [0u8; 64];
        let mut p2 = [0u8; 64];
        let mut theta = f64::INFINITY;
        let (mut out, mut k_out, mut out_second) = (first, 0, false);
        let mut n1 = 0;
        let mut x = first;
        while sub[x & 63] & bs == 0 {
            p1[n1 & 63] = x as u8;
            let f = if x < m { flow[x & 63] } else { f64::INFINITY };
            let lt = f < theta;
            theta = if lt { f } else { theta };
            out = if lt { x } else { out };
            k_out = if lt { n1 } else { k_out };
            n1 += 1;
            x = parent[x & 63] as usize;
        }
        let mut n2 = 0;
        let mut y = second;
        while sub[y & 63] & bf == 0 {
            p2[n2 & 63] = y as u8;
            let f = if y >= m { flow[y & 63] } else { f64::INFINITY };
            let le = f <= theta;
            theta = if le { f } else { theta };
            out = if le { y } else { out };
            k_out = if le { n2 } else { k_out };
            out_second |= le;
            n2 += 1;
            y = parent[y & 63] as usize;
        }
        // S: the subtree below the leaving cell. It is re-hung below v_in through the entering
        // cell and re-rooted at u_in along its path u_in = p_0, …, p_k = out. The nodes of the
        // other side gain S; those above `out` on its own side lose it.
        let s = sub[out & 63];
        let (gain1, gain2) = if out_second { (s, 0) } else { (0, s) };
        for (t, &x) in p1[..n1 & 63].iter().enumerate() {
            let x = x as usize & 63;
            flow[x] += if x < m { -theta } else { theta };
            let above = out_second || t > k_out;
            sub[x] = if above {
                (sub[x] & !gain2) | gain1
            } else {
                sub[x]
            };
        }
        for (t, &y) in p2[..n2 & 63].iter().enumerate() {
            let y = y as usize & 63;
            flow[y] += if y >= m { -theta } else { theta };
            let above = !out_second || t > k_out;
            sub[y] = if above {
                (sub[y] & !gain1) | gain2
            } else {
                sub[y]
            };
        }
        let (own, u_in, v_in) = if out_second {
            (&p2, second, first)
        } else {
            (&p1, first, second)
        };
        for t in (1..=k_out).rev() {
            let (pt, pp) = (own[t & 63] as usize & 63, own[(t - 1) & 63] as usize & 63);
            sub[pt] = s & !sub[pp];
            parent[pt] = pp as u32;
            flow[pt] = flow[pp];
        }
        sub[u_in & 63] = s;
        parent[u_in & 63] = v_in as u32;
        flow[u_in & 63] = theta;
        // Potentials: S's nodes of u_in's kind move by rc, the others by −rc (so the entering
        // cell's reduced cost becomes 0 and those inside S or outside it do not change).
        let row_shift = if u_in < m { rc } else { -rc };
        let (rows, cols) = (s & ((1u64 << m) - 1), s >> m);
        for (i, u) in self.u.iter_mut().enumerate() {
            *u += if rows >> (i & 63) & 1 != 0 {
                row_shift
            } else {
                0.0
            };
        }
        for (j, v) in self.v.iter_mut().enumerate() {
            *v -= if cols >> (j & 63) & 1 != 0 {
                row_shift
            } else {
                0.0
            };
        }
    }

    /// [`Self::pivot64`] for any tree size (`W` mask words per node, 0: `self.words`).
    #[inline(never)]
    fn pivot<const W: usize>(&mut self, ei: usize, ej: usize, rc: f64) {
        let w = if W == 0 { self.words } else { W };
        let m = self.m;
        let (first, second) = (ei, m + ej);
        let has = |sub: &[u64], x: usize, y: usize| sub[x * w + y / 64] >> (y % 64) & 1 != 0;
        self.path1.clear();
        self.path2.clear();
        let mut theta = f64::INFINITY;
        let (mut out, mut out_second) = (first, false);
        let mut x = first;
        while !has(&self.sub, x, second) {
            self.path1.push(x as u32);
            let f = if x < m { self.flow[x] } else { f64::INFINITY };
            if f < theta {
                theta = f;
                out = x;
            }
            x = self.parent[x] as usize;
        }
        let mut y = second;
        while !has(&self.sub, y, first) {
            self.path2.push(y as u32);
            let f = if y >= m { self.flow[y] } else { f64::INFINITY };
            if f <= theta {
                theta = f;
                out = y;
                out_second = true;
            }
            y = self.parent[y] as usize;
        }
        for &x in &self.path1 {
            let x = x as usize;
            self.flow[x] += if x < m { -theta } else { theta };
        }
        for &y in &self.path2 {
            let y = y as usize;
            self.flow[y] += if y >= m { -theta } else { theta };
        }
        let (u_in, v_in, own, other) = if out_second {
            (second, first, &self.path2, &self.path1)
        } else {
            (first, second, &self.path1, &self.path2)
        };
        self.smask.copy_from_slice(&self.sub[out * w..out * w + w]);
        let s = &self.smask;
        let k_out = own.iter().position(|&p| p as usize == out).unwrap_or(0);
        for &p in &own[k_out + 1..] {
            let p = p as usize;
            for (q, &sq) in s.iter().enumerate() {
                self.sub[p * w + q] &= !sq;
            }
        }
        for &p in other {
            let p = p as usize;
            for (q, &sq) in s.iter().enumerate() {
                self.sub[p * w + q] |= sq;
            }
        }
        for t in (1..=k_out).rev() {
            let (pt, pp) = (own[t] as usize, own[t - 1] as usize);
            for (q, &sq) in s.iter().enumerate() {
                self.sub[pt * w + q] = sq & !self.sub[pp * w + q];
            }
            self.parent[pt] = pp as u32;
            self.flow[pt] = self.flow[pp];
        }
        self.sub[u_in * w..u_in * w + w].copy_from_slice(s);
        self.parent[u_in] = v_in as u32;
        self.flow[u_in] = theta;
        let row_shift = if u_in < m { rc } else { -rc };
        for (q, &word) in s.iter().enumerate() {
            let mut bits = word;
            while bits != 0 {
                let x = 64 * q + bits.trailing_zeros() as usize;
                bits &= bits - 1;
                if x < m {
                    self.u[x] += row_shift;
                } else {
                    self.v[x - m] -= row_shift;
                }
            }
        }
    }
}
