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
