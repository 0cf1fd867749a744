//! Reductions with numpy's exact floating-point order (pairwise sums, mean/std, percentiles),
//! so that results can match the Python reference bit for bit.

/// numpy's pairwise summation of a contiguous f64 array (`np.sum` / `np.add.reduce`):
/// a plain loop below 8 elements, eight interleaved accumulators up to 128, and a recursive
/// split (at a multiple of 8 below the half) above.
pub(crate) fn pairwise_sum(a: &[f64]) -> f64 {
    let n = a.len();
    if n < 8 {
        let mut res = 0.0;
        for &x in a {
            res += x;
        }
        res
    } else if n <= 128 {
        let mut r = [0.0f64; 8];
        r.copy_from_slice(&a[..8]);
        let full = n - n % 8;
        let mut i = 8;
        while i < full {
            for k in 0..8 {
                r[k] += a[i + k];
            }
            i += 8;
        }
        let mut res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
        for &x in &a[full..] {
            res += x;
        }
        res
    } else {
        let mut n2 = n / 2;
        n2 -= n2 % 8;
        pairwise_sum(&a[..n2]) + pairwise_sum(&a[n2..])
    }
}

/// [`pairwise_sum`] of a length-`len` array that is zero except where entries are pushed,
/// accumulated as they arrive, without the array.
///
/// Entries come in non-decreasing position order (several at one position add up) and must
/// be non-negative, so that every skipped zero is an exact no-op (`x + 0.0 == x`): the
/// result is then bit-identical to `pairwise_sum` of the dense array. numpy's recursion is
/// fixed by `len` alone: blocks of ≤ 128 entries (leaves) summed with eight strided
/// accumulators (sequentially below 8 entries), then added up pairwise. Each leaf is
/// finished when a push passes its end; the tree of leaves is added up at the end.
#[derive(Debug, Default)]
pub(crate) struct SparsePairwise {
    /// `(start, len)` of each leaf, in order
    leaves: Vec<(usize, usize)>,
    /// the `len` `leaves` was built for
    built_for: Option<usize>,
    /// finished leaf sums
    sums: Vec<f64>,
    /// index of the next leaf to open
    next: usize,
    start: usize,
    /// end of the strided part of the open leaf (its start when it has < 8 entries)
    full_end: usize,
    end: usize,
    r: [f64; 8],
    res: f64,
    in_tail: bool,
}

impl SparsePairwise {
    /// Start a sum over `len` positions (`len ≥ 1`).
    pub(crate) fn reset(&mut self, len: usize) {
        debug_assert!(len > 0);
        if self.built_for != Some(len) {
            self.leaves.clear();
            split_leaves(0, len, &mut self.leaves);
            self.built_for = Some(len);
        }
        self.sums.clear();
        self.next = 0;
        self.open_next();
    }

    fn open_next(&mut self) {
        let (s, n) = self.leaves[self.next];
        self.next += 1;
        self.start = s;
        self.end = s + n;
        self.r = [0.0; 8];
        self.res = 0.0;
        // below 8 entries numpy sums sequentially from 0.0: all of it is "tail"
        self.in_tail = n < 8;
        self.full_end = if n < 8 { s } else { s + n - n % 8 };
    }

    fn close(&mut self) {
        if !self.in_tail {
            self.res = combine8(&self.r);
        }
        self.sums.push(self.res);
    }

    #[cold]
    #[inline(never)]
    fn advance(&mut self, pos: usize) {
        while pos >= self.end {
            self.close();
            self.open_next();
        }
    }

    /// Add `v ≥ 0` at `pos` (`pos` < `len`, not below the previous push).
    #[inline(always)]
    pub(crate) fn push(&mut self, pos: usize, v: f64) {
        if pos >= self.end {
            self.advance(pos);
        }
        if pos < self.full_end {
            self.r[(pos - self.start) & 7] += v;
        } else {
            if !self.in_tail {
                self.res = combine8(&self.r);
                self.in_tail = true;
            }
            self.res += v;
        }
    }

    /// The sum.
    pub(crate) fn finish(&mut self) -> f64 {
        loop {
            self.close();
            if self.next == self.leaves.len() {
                break;
            }
            self.open_next();
        }
        let len = self.built_for.unwrap_or(0);
        let mut it = self.sums.iter().copied();
        combine_leaves(len, &mut it)
    }
}

#[inline(always)]
fn combine8(r: &[f64; 8]) -> f64 {
    ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]))
}

/// numpy's split of `n` entries at `start` into leaves of ≤ 128.
fn split_leaves(start: usize, n: usize, out: &mut Vec<(usize, usize)>) {
    if n <= 128 {
        out.push((start, n));
    } else {
        let mut n2 = n / 2;
        n2 -= n2 % 8;
        split_leaves(start, n2, out);
        split_leaves(start + n2, n - n2, out);
    }
}

/// numpy's pairwise additions of the leaf sums of an `n`-entry array, in leaf order.
fn combine_leaves(n: usize, sums: &mut impl Iterator<Item = f64>) -> f64 {
    if n <= 128 {
        sums.next().unwrap_or(0.0)
    } else {
        let mut n2 = n / 2;
        n2 -= n2 % 8;
        let a = combine_leaves(n2, sums);
        a + combine_leaves(n - n2, sums)
    }
}

/// `np.mean(a)` of a 1-D array.
pub(crate) fn mean(a: &[f64]) -> f64 {
    pairwise_sum(a) / a.len() as f64
}

/// `(np.mean(a), np.std(a))` of a 1-D array (ddof 0).
pub(crate) fn mean_std(a: &[f64]) -> (f64, f64) {
    let m = mean(a);
    let sq: Vec<f64> = a.iter().map(|&x| (x - m) * (x - m)).collect();
    (m, (pairwise_sum(&sq) / a.len() as f64).sqrt())
}

/// `(np.mean(a, axis=0), np.std(a, axis=0))` of a row-major `[rows, cols]` array: numpy
/// reduces along the outer axis row by row, i.e. a plain sequential sum per column.
pub(crate) fn mean_std_axis0(a: &[f64], cols: usize) -> (Vec<f64>, Vec<f64>) {
    let rows = a.len() / cols;
    let mut mean = vec![0.0; cols];
    for row in a.chunks_exact(cols) {
        for (m, &x) in mean.iter_mut().zip(row) {
            *m += x;
        }
    }
    for m in &mut mean {
        *m /= rows as f64;
    }
    let mut var = vec![0.0; cols];
    for row in a.chunks_exact(cols) {
        for ((v, &x), &m) in var.iter_mut().zip(row).zip(&mean) {
            *v += (x - m) * (x - m);
        }
    }
    let std = var.iter().map(|v| (v / rows as f64).sqrt()).collect();
    (mean, std)
}

/// `np.median(a)` (NaN-free input).
pub(crate) fn median(a: &[f64]) -> f64 {
    let mut s = a.to_vec();
    s.sort_by(f64::total_cmp);
    let n = s.len();
    if n % 2 == 1 {
        s[n / 2]
    } else {
        (s[n / 2 - 1] + s[n / 2]) / 2.0
    }
}

/// `np.percentile(a, q)` with the default `'linear'` method, including numpy's
/// two-sided lerp (`b - (b - a)(1 - t)` for `t >= 0.5`).
pub(crate) fn percentile_linear(a: &[f64], q: f64) -> f64 {
    let mut s = a.to_vec();
    s.sort_by(f64::total_cmp);
    let n = s.len() as f64;
    let q = q / 100.0;
    // numpy: n * q + (alpha + q * (1 - alpha - beta)) - 1 with alpha = beta = 1
    let virtual_index = n * q + (1.0 - q) - 1.0;
    let prev = virtual_index.floor();
    let gamma = virtual_index - prev;
    let last = s.len() - 1;
    let lo = (prev.max(0.0) as usize).min(last);
    let hi = ((prev + 1.0).max(0.0) as usize).min(last);
    let (a, b) = (s[lo], s[hi]);
    let diff = b - a;
    if gamma >= 0.5 {
        b - diff * (1.0 - gamma)
    } else {
        a + diff * gamma
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairwise_matches_exact_sum_of_integers() {
        for n in [0usize, 1, 7, 8, 9, 127, 128, 129, 1000, 4099] {
            let a: Vec<f64> = (0..n).map(|i| i as f64).collect();
            assert_eq!(pairwise_sum(&a), (n * n.saturating_sub(1) / 2) as f64);
        }
    }

    #[test]
    fn sparse_pairwise_is_bit_identical_to_the_dense_sum() {
        let mut rng = crate::NumpyRng::new(5);
        let mut acc = SparsePairwise::default();
        for len in (1..300).chain([1000, 1024, 1031, 4099, 65_537, 300_001]) {
            for density in [0.0, 0.05, 0.6, 1.0] {
                let mut dense = vec![0.0; len];
                acc.reset(len);
                for (pos, d) in dense.iter_mut().enumerate() {
                    // at most one value per position, with zero pushes around it (as the
                    // W1 pass makes them), magnitudes over 30 decades
                    for _ in 0..rng.integers(3) {
                        acc.push(pos, 0.0);
                    }
                    if rng.random() < density {
                        *d = rng.random() * 10f64.powi(rng.integers(30) as i32 - 15);
                        acc.push(pos, *d);
                    }
                    for _ in 0..rng.integers(3) {
                        acc.push(pos, 0.0);
                    }
                }
                let want = pairwise_sum(&dense);
                assert_eq!(acc.finish().to_bits(), want.to_bits(), "len {len}");
            }
        }
    }

    #[test]
    fn pairwise_differs_from_sequential_like_numpy() {
        // 1e16 + 1 + 1 + ... : sequential summation loses every 1, numpy's blocked sum keeps
        // the eight partial sums separate and recovers some of them.
        let mut a = vec![1.0; 16];
        a[0] = 1e16;
        let seq: f64 = a.iter().sum();
        assert_eq!(seq, 1e16);
        assert_eq!(pairwise_sum(&a), 1e16 + 14.0);
    }

    #[test]
    fn percentile_and_median_follow_numpy() {
        let a = [3.0, 1.0, 4.0, 1.0, 5.0, 9.0, 2.0, 6.0, 5.0, 3.0];
        assert_eq!(median(&a), 3.5);
        // np.percentile(a, [16.275, 83.725]) = [1.46475, 5.53525]
        assert!((percentile_linear(&a, 16.275) - 1.46475).abs() < 1e-12);
        assert!((percentile_linear(&a, 83.725) - 5.53525).abs() < 1e-12);
        assert_eq!(percentile_linear(&a, 0.0), 1.0);
        assert_eq!(percentile_linear(&a, 100.0), 9.0);
    }

    #[test]
    fn mean_std_ddof0() {
        let (m, s) = mean_std(&[1.0, 2.0, 3.0, 4.0]);
        assert_eq!(m, 2.5);
        assert!((s - 1.25f64.sqrt()).abs() < 1e-15);
        let (m, s) = mean_std_axis0(&[1.0, 10.0, 3.0, 30.0], 2);
        assert_eq!(m, vec![2.0, 20.0]);
        assert_eq!(s, vec![1.0, 10.0]);
    }
}
