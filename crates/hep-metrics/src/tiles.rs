//! Register tiles for all-pairs sums over feature rows (KPD's kernel sums, the k-NN
//! distances of precision/recall): one set is stored lane-interleaved, and four rows of the
//! other are combined with a block of eight of its rows at a time, so that the inner loop
//! vectorises while every pair's sum over features keeps the order of a plain one-pair loop
//! (results are bit-identical to it).

/// Rows per interleaved block.
pub(crate) const LANES: usize = 8;

/// `y` (`[n, d]`) as `[ceil(n / 8), d, 8]` (lane-interleaved, zero-padded).
pub(crate) fn interleave(y: &[f64], d: usize) -> Vec<f64> {
    let n = y.len() / d;
    let blocks = n.div_ceil(LANES);
    let mut out = vec![0.0; blocks * d * LANES];
    for (j, row) in y.chunks_exact(d).enumerate() {
        let (b, l) = (j / LANES, j % LANES);
        for (k, &v) in row.iter().enumerate() {
            out[(b * d + k) * LANES + l] = v;
        }
    }
    out
}

/// For the four rows `x` and one interleaved block `blk` (`[d, 8]`): `out[r][l]` is
/// `Σ_k x_r[k]·y_l[k]` (`SQDIST = false`) or `Σ_k (x_r[k] − y_l[k])²` (`SQDIST = true`),
/// summed over `k` in order from 0.0.
#[inline(always)]
pub(crate) fn block4x8<const SQDIST: bool>(x: [&[f64]; 4], blk: &[f64]) -> [[f64; LANES]; 4] {
    let mut acc = [[0.0f64; LANES]; 4];
    for (k, yk) in blk.chunks_exact(LANES).enumerate() {
        let xk = [x[0][k], x[1][k], x[2][k], x[3][k]];
        for r in 0..4 {
            for l in 0..LANES {
                acc[r][l] += if SQDIST {
                    let t = xk[r] - yk[l];
                    t * t
                } else {
                    xk[r] * yk[l]
                };
            }
        }
    }
    acc
}

/// Up to four rows of `xs` (`[R, d]`, R ≤ 4) as four slices, the last row repeated.
#[inline(always)]
pub(crate) fn four_rows(xs: &[f64], d: usize) -> [&[f64]; 4] {
    let rows = xs.len() / d;
    let x = |r: usize| &xs[r.min(rows - 1) * d..(r.min(rows - 1) + 1) * d];
    [x(0), x(1), x(2), x(3)]
}

/// Runs `f` compiled for AVX2 when the CPU has it, else as it is. Mark the closure
/// `#[inline(always)]` (as the code it calls): inlined into the AVX2 function, the tiles
/// above vectorise 4-wide (KPD ran 2.7× slower when LLVM kept the closure out of line); the
/// arithmetic, and so every result, is the same either way.
#[inline(always)]
pub(crate) fn with_avx2<R>(f: impl FnOnce() -> R) -> R {
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU supports AVX2 (checked above).
        return unsafe { avx2(f) };
    }
    f()
}

/// # Safety
/// The CPU must support AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn avx2<R>(f: impl FnOnce() -> R) -> R {
    f()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::NumpyRng;

    #[test]
    fn tiles_equal_one_pair_loops() {
        let mut rng = NumpyRng::new(9);
        let d = 7;
        let x: Vec<f64> = (0..3 * d).map(|_| rng.random() * 4.0 - 2.0).collect();
        let y: Vec<f64> = (0..13 * d).map(|_| rng.random() * 4.0 - 2.0).collect();
        let yt = interleave(&y, d);
        let rows = four_rows(&x, d);
        for b in 0..2 {
            let dot = block4x8::<false>(rows, &yt[b * d * LANES..(b + 1) * d * LANES]);
            let sq = block4x8::<true>(rows, &yt[b * d * LANES..(b + 1) * d * LANES]);
            for r in 0..4 {
                let xr = &x[r.min(2) * d..(r.min(2) + 1) * d];
                for l in 0..LANES {
                    let j = b * LANES + l;
                    if j >= 13 {
                        // zero padding
                        assert_eq!(dot[r][l], 0.0);
                        continue;
                    }
                    let yj = &y[j * d..(j + 1) * d];
                    let (mut want_dot, mut want_sq) = (0.0f64, 0.0f64);
                    for k in 0..d {
                        want_dot += xr[k] * yj[k];
                        want_sq += (xr[k] - yj[k]) * (xr[k] - yj[k]);
                    }
                    assert_eq!(dot[r][l].to_bits(), want_dot.to_bits());
                    assert_eq!(sq[r][l].to_bits(), want_sq.to_bits());
                }
            }
        }
    }
}
