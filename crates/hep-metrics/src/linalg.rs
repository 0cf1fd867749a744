//! Small dense symmetric linear algebra for the Fréchet distance: Cholesky and a cyclic
//! Jacobi eigenvalue solver (for `d ≈ 36` these beat a general-purpose dependency).

/// Cholesky factor `L` (row-major, lower) of a symmetric positive-definite `a` (`d × d`),
/// or `None` when a pivot is not positive.
pub(crate) fn cholesky(a: &[f64], d: usize) -> Option<Vec<f64>> {
    let mut l = vec![0.0; d * d];
    for i in 0..d {
        for j in 0..=i {
            let mut s = a[i * d + j];
            for k in 0..j {
                s -= l[i * d + k] * l[j * d + k];
            }
            if i == j {
                if s <= 0.0 || !s.is_finite() {
                    return None;
                }
                l[i * d + i] = s.sqrt();
            } else {
                l[i * d + j] = s / l[j * d + j];
            }
        }
    }
    Some(l)
}

/// Eigenvalues (and, if `vectors`, eigenvectors as the columns of a row-major `d × d`
/// matrix) of a symmetric matrix, by cyclic Jacobi rotations.
pub(crate) fn symmetric_eigen(a: &[f64], d: usize, vectors: bool) -> (Vec<f64>, Vec<f64>) {
    let mut m = a.to_vec();
    let mut v = if vectors {
        let mut v = vec![0.0; d * d];
        for i in 0..d {
            v[i * d + i] = 1.0;
        }
        v
    } else {
        Vec::new()
    };
    for _sweep in 0..100 {
        let mut off = 0.0;
        let mut diag = 0.0;
        for i in 0..d {
            diag += m[i * d + i] * m[i * d + i];
            for j in i + 1..d {
                off += m[i * d + j] * m[i * d + j];
            }
        }
        if off <= 1e-30 * diag || off == 0.0 {
            break;
        }
        for p in 0..d {
            for q in p + 1..d {
                let apq = m[p * d + q];
                if apq == 0.0 {
                    continue;
                }
                let (app, aqq) = (m[p * d + p], m[q * d + q]);
                let theta = (aqq - app) / (2.0 * apq);
                let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
                let t = if theta == 0.0 { 1.0 } else { t };
                let c = 1.0 / (t * t + 1.0).sqrt();
                let s = t * c;
                // A' = Jᵀ A J on rows/cols p, q.
                for k in 0..d {
                    let (akp, akq) = (m[k * d + p], m[k * d + q]);
                    m[k * d + p] = c * akp - s * akq;
                    m[k * d + q] = s * akp + c * akq;
                }
                for k in 0..d {
                    let (apk, aqk) = (m[p * d + k], m[q * d + k]);
                    m[p * d + k] = c * apk - s * aqk;
                    m[q * d + k] = s * apk + c * aqk;
                }
                m[p * d + q] = 0.0;
                m[q * d + p] = 0.0;
                if vectors {
                    for k in 0..d {
                        let (vkp, vkq) = (v[k * d + p], v[k * d + q]);
                        v[k * d + p] = c * vkp - s * vkq;
                        v[k * d + q] = s * vkp + c * vkq;
                    }
                }
            }
        }
    }
    ((0..d).map(|i| m[i * d + i]).collect(), v)
}

/// `tr sqrt(S1 S2)` for symmetric positive semi-definite `S1`, `S2`: the sum of the square
/// roots of the (real, non-negative) eigenvalues of `S1 S2`, computed from the similar
/// symmetric matrix `Lᵀ S2 L` (`S1 = L Lᵀ`, Cholesky) or `√S1 S2 √S1` when `S1` is singular.
/// Eigenvalues below zero from rounding count as zero.
pub(crate) fn trace_sqrt_product(s1: &[f64], s2: &[f64], d: usize) -> f64 {
    // F such that S1 = F Fᵀ; then eig(S1 S2) = eig(Fᵀ S2 F).
    let f = cholesky(s1, d).unwrap_or_else(|| {
        let (w, v) = symmetric_eigen(s1, d, true);
        let mut f = vec![0.0; d * d];
        for i in 0..d {
            for j in 0..d {
                f[i * d + j] = v[i * d + j] * w[j].max(0.0).sqrt();
            }
        }
        f
    });
    // M = Fᵀ S2 F
    let mut t = vec![0.0; d * d]; // S2 F
    for i in 0..d {
        for k in 0..d {
            let s = s2[i * d + k];
            if s == 0.0 {
                continue;
            }
            for j in 0..d {
                t[i * d + j] += s * f[k * d + j];
            }
        }
    }
    let mut m = vec![0.0; d * d];
    for i in 0..d {
        for j in i..d {
            let mut s = 0.0;
            for k in 0..d {
                s += f[k * d + i] * t[k * d + j];
            }
            m[i * d + j] = s;
            m[j * d + i] = s;
        }
    }
    let (w, _) = symmetric_eigen(&m, d, false);
    w.iter().map(|&x| x.max(0.0).sqrt()).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jacobi_reconstructs_a_symmetric_matrix() {
        let d = 5;
        let a: Vec<f64> = (0..d * d)
            .map(|k| {
                let (i, j) = (k / d, k % d);
                1.0 / (1.0 + i as f64 + j as f64) + if i == j { 1.0 } else { 0.0 }
            })
            .collect();
        let (w, v) = symmetric_eigen(&a, d, true);
        for i in 0..d {
            for j in 0..d {
                let r: f64 = (0..d).map(|k| v[i * d + k] * w[k] * v[j * d + k]).sum();
                assert!((r - a[i * d + j]).abs() < 1e-13);
            }
        }
    }

    #[test]
    fn trace_sqrt_of_diagonal_and_singular_products() {
        let s1 = [4.0, 0.0, 0.0, 9.0];
        let s2 = [1.0, 0.0, 0.0, 4.0];
        // sqrt(4) + sqrt(36)
        assert!((trace_sqrt_product(&s1, &s2, 2) - 8.0).abs() < 1e-14);
        // singular S1 takes the eigen route: S1 = [[1,1],[1,1]], S2 = I → eig(S1) = {2, 0}
        let s1 = [1.0, 1.0, 1.0, 1.0];
        let s2 = [1.0, 0.0, 0.0, 1.0];
        assert!((trace_sqrt_product(&s1, &s2, 2) - 2f64.sqrt()).abs() < 1e-14);
    }
}
