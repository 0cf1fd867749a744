//! The row scans of the EMD solver: a portable version and an AVX2 one. Both compute every
//! element as `row_j − w_j` (one IEEE subtraction) and compare exactly, so they return the same
//! minimum and the same first position of it.

/// Row-scan kernels, chosen once per solve (see `EmdSolver::emd_unchecked`).
pub(super) trait Kernels: Copy {
    /// `min_j (row_j − w_j)`; `row` and `w` have equal lengths, multiples of 4.
    fn row_min(self, row: &[f64], w: &[f64]) -> f64;
    /// The first `j` with `row_j − w_j == target` (0 if there is none).
    fn row_find(self, row: &[f64], w: &[f64], target: f64) -> usize;
    /// `(min_j (row_j − w_j), the first j attaining it)`.
    #[inline(always)]
    fn row_argmin(self, row: &[f64], w: &[f64]) -> (f64, usize) {
        let mn = self.row_min(row, w);
        (mn, self.row_find(row, w, mn))
    }
    /// For the four rows `block[b·ns..(b + 1)·ns]`: `r_b = min_j (row_j − w_j)` and the first
    /// `b` minimising `r_b − u_b`; returns `(r_b − u_b, b, r_b)`.
    #[inline(always)]
    fn block4(self, block: &[f64], ns: usize, w: &[f64], u: &[f64]) -> (f64, usize, f64) {
        let raw = [
            self.row_min(&block[..ns], w),
            self.row_min(&block[ns..2 * ns], w),
            self.row_min(&block[2 * ns..3 * ns], w),
            self.row_min(&block[3 * ns..4 * ns], w),
        ];
        let red = [raw[0] - u[0], raw[1] - u[1], raw[2] - u[2], raw[3] - u[3]];
        let (best, b) = self.row_argmin(&red, &[0.0; 4]);
        (best, b, raw[b])
    }
}

/// Plain Rust (vectorised by the compiler where it can).
#[derive(Debug, Clone, Copy)]
pub(super) struct Portable;

impl Kernels for Portable {
    #[inline(always)]
    fn row_min(self, row: &[f64], w: &[f64]) -> f64 {
        let mut acc = [f64::INFINITY; 4];
        for (r4, w4) in row.chunks_exact(4).zip(w.chunks_exact(4)) {
            for l in 0..4 {
                let x = r4[l] - w4[l];
                acc[l] = if x < acc[l] { x } else { acc[l] };
            }
        }
        let a = if acc[2] < acc[0] { acc[2] } else { acc[0] };
        let b = if acc[3] < acc[1] { acc[3] } else { acc[1] };
        if b < a { b } else { a }
    }

    #[inline(always)]
    fn row_find(self, row: &[f64], w: &[f64], target: f64) -> usize {
        row.iter()
            .zip(w)
            .position(|(&r, &c)| r - c == target)
            .unwrap_or(0)
    }
}

#[cfg(target_arch = "x86_64")]
pub(super) use x86::Avx2;

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::Kernels;
    use std::arch::x86_64::*;

    /// AVX2 kernels. A value exists only where the CPU supports AVX2 ([`Avx2::detect`]),
    /// which is what makes the `unsafe` calls below sound.
    #[derive(Debug, Clone, Copy)]
    pub(in crate::emd) struct Avx2(());

    impl Avx2 {
        pub(in crate::emd) fn detect() -> Option<Self> {
            std::is_x86_feature_detected!("avx2").then_some(Self(()))
        }
    }

    /// `min_j (row_j − w_j)` over the first `4·⌊min(len)/4⌋` elements.
    ///
    /// # Safety
    /// The CPU must support AVX2 (as for every function in this module).
    #[inline(always)]
    unsafe fn row_min(row: &[f64], w: &[f64]) -> f64 {
        let quads = row.len().min(w.len()) / 4;
        let (r, c) = (row.as_ptr(), w.as_ptr());
        // SAFETY: AVX2 (caller); every load reads lanes 4q..4q + 4 with q < quads, inside
        // both slices. (Plain pointer loops: iterator adaptors are not always inlined into
        // the large solve function.)
        unsafe {
            let inf = _mm256_set1_pd(f64::INFINITY);
            let (mut a, mut b) = (inf, inf);
            let mut q = 0;
            while q + 2 <= quads {
                let x = _mm256_sub_pd(_mm256_loadu_pd(r.add(4 * q)), _mm256_loadu_pd(c.add(4 * q)));
                let y = _mm256_sub_pd(
                    _mm256_loadu_pd(r.add(4 * q + 4)),
                    _mm256_loadu_pd(c.add(4 * q + 4)),
                );
                a = _mm256_min_pd(x, a);
                b = _mm256_min_pd(y, b);
                q += 2;
            }
            if q < quads {
                let x = _mm256_sub_pd(_mm256_loadu_pd(r.add(4 * q)), _mm256_loadu_pd(c.add(4 * q)));
                a = _mm256_min_pd(x, a);
            }
            let v = _mm256_min_pd(a, b);
            let h = _mm_min_pd(_mm256_castpd256_pd128(v), _mm256_extractf128_pd::<1>(v));
            _mm_cvtsd_f64(_mm_min_sd(h, _mm_unpackhi_pd(h, h)))
        }
    }

    /// The first `j` with `row_j − w_j == target` (0 if none).
    ///
    /// # Safety
    /// As [`row_min`].
    #[inline(always)]
    unsafe fn row_find(row: &[f64], w: &[f64], target: f64) -> usize {
        let quads = row.len().min(w.len()) / 4;
        let (r, c) = (row.as_ptr(), w.as_ptr());
        // SAFETY: AVX2 (caller); loads as in `row_min`.
        unsafe {
            let t = _mm256_set1_pd(target);
            let mut g = 0;
            while g < quads {
                // one bit per column of a group of 64, without branches
                let end = (g + 16).min(quads);
                let mut hit = 0u64;
                for q in g..end {
                    let x =
                        _mm256_sub_pd(_mm256_loadu_pd(r.add(4 * q)), _mm256_loadu_pd(c.add(4 * q)));
                    let e = _mm256_movemask_pd(_mm256_cmp_pd::<_CMP_EQ_OQ>(x, t)) as u64;
                    hit |= e << (4 * (q - g));
                }
                if hit != 0 {
                    return 4 * g + hit.trailing_zeros() as usize;
                }
                g = end;
            }
            0
        }
    }

    /// As `Kernels::block4`, the four rows in one pass.
    ///
    /// # Safety
    /// As [`row_min`]; `block` holds 4·`ns` elements, `w` at least `ns` (a multiple of 4) and
    /// `u` at least 4.
    #[inline(always)]
    unsafe fn block4(block: &[f64], ns: usize, w: &[f64], u: &[f64]) -> (f64, usize, f64) {
        assert!(block.len() >= 4 * ns && w.len() >= ns && u.len() >= 4);
        let quads = ns / 4;
        let (r, c) = (block.as_ptr(), w.as_ptr());
        let mut raw = [0.0f64; 4];
        // SAFETY: AVX2 (caller); row b's loads read 4q..4q + 4 < ns of row b (asserted sizes).
        let (best, mask) = unsafe {
            let inf = _mm256_set1_pd(f64::INFINITY);
            let (mut a0, mut a1, mut a2, mut a3) = (inf, inf, inf, inf);
            for q in 0..quads {
                let wv = _mm256_loadu_pd(c.add(4 * q));
                let row = |b: usize| r.add(b * ns + 4 * q);
                a0 = _mm256_min_pd(_mm256_sub_pd(_mm256_loadu_pd(row(0)), wv), a0);
                a1 = _mm256_min_pd(_mm256_sub_pd(_mm256_loadu_pd(row(1)), wv), a1);
                a2 = _mm256_min_pd(_mm256_sub_pd(_mm256_loadu_pd(row(2)), wv), a2);
                a3 = _mm256_min_pd(_mm256_sub_pd(_mm256_loadu_pd(row(3)), wv), a3);
            }
            // transpose-reduce: lane b of `mins` is the minimum of row b
            let t01 = _mm256_min_pd(_mm256_unpacklo_pd(a0, a1), _mm256_unpackhi_pd(a0, a1));
            let t23 = _mm256_min_pd(_mm256_unpacklo_pd(a2, a3), _mm256_unpackhi_pd(a2, a3));
            let mins = _mm256_min_pd(
                _mm256_permute2f128_pd::<0x20>(t01, t23),
                _mm256_permute2f128_pd::<0x31>(t01, t23),
            );
            _mm256_storeu_pd(raw.as_mut_ptr(), mins);
            let red = _mm256_sub_pd(mins, _mm256_loadu_pd(u.as_ptr()));
            let h = _mm_min_pd(_mm256_castpd256_pd128(red), _mm256_extractf128_pd::<1>(red));
            let best = _mm_min_sd(h, _mm_unpackhi_pd(h, h));
            let eq = _mm256_cmp_pd::<_CMP_EQ_OQ>(red, _mm256_broadcastsd_pd(best));
            (_mm_cvtsd_f64(best), _mm256_movemask_pd(eq) as u32)
        };
        let b = (mask | 16).trailing_zeros() as usize & 3;
        (best, b, raw[b])
    }

    impl Kernels for Avx2 {
        #[inline(always)]
        fn row_min(self, row: &[f64], w: &[f64]) -> f64 {
            // SAFETY: `self` exists, so the CPU supports AVX2.
            unsafe { row_min(row, w) }
        }

        #[inline(always)]
        fn row_find(self, row: &[f64], w: &[f64], target: f64) -> usize {
            // SAFETY: as above.
            unsafe { row_find(row, w, target) }
        }

        #[inline(always)]
        fn block4(self, block: &[f64], ns: usize, w: &[f64], u: &[f64]) -> (f64, usize, f64) {
            // SAFETY: as above.
            unsafe { block4(block, ns, w, u) }
        }
    }
}
