//! Unit tests of the Fréchet distance and FPD.

use super::*;

#[test]
fn batch_sizes_truncate_like_numpy() {
    // spec §2.6, checked against numpy 1.26.4
    assert_eq!(
        FpdConfig::default().batch_sizes(),
        [
            20000, 21428, 23076, 24999, 27272, 30000, 33333, 37499, 42857, 49999
        ]
    );
}

#[test]
fn frechet_of_commuting_gaussians() {
    // Diagonal covariances: FD = ‖Δμ‖² + Σ (√a − √b)².
    let mu1 = [0.0, 1.0, 2.0];
    let mu2 = [1.0, 1.0, 0.0];
    let s1 = [4.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 9.0];
    let s2 = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 4.0];
    let fd = frechet_distance(&mu1, &s1, &mu2, &s2).unwrap();
    assert!((fd - (5.0 + 1.0 + 0.0 + 1.0)).abs() < 1e-12, "{fd}");
    assert!(matches!(
        frechet_distance(&mu1, &s1[..8], &mu2, &s2),
        Err(Error::ShapeMismatch {
            argument: "sigma1",
            ..
        })
    ));
}

#[test]
fn frechet_is_symmetric_and_zero_on_equal_inputs() {
    let s1 = [2.0, 0.5, 0.5, 1.0];
    let s2 = [1.0, -0.3, -0.3, 3.0];
    let mu = [0.1, 0.2];
    let ab = frechet_distance(&mu, &s1, &mu, &s2).unwrap();
    let ba = frechet_distance(&mu, &s2, &mu, &s1).unwrap();
    assert!((ab - ba).abs() < 1e-13 && ab > 0.0);
    assert!(frechet_distance(&mu, &s1, &mu, &s1).unwrap().abs() < 1e-13);
}

#[test]
fn jetnet_constant_fixtures() {
    // tests/evaluation/test_gen_metrics.py: fpd(2s, 0s) ≈ 2 (normalised), 8 (not); fpd(0,0) ≈ 0.
    let (n, d) = (400, 2);
    let twos = vec![2.0; n * d];
    let zeros = vec![0.0; n * d];
    let t = FeaturesView::new(&twos, [n, d]).unwrap();
    let z = FeaturesView::new(&zeros, [n, d]).unwrap();
    let cfg = FpdConfig::default()
        .with_samples(100, 300)
        .with_num_batches(3);
    // jetnet's own tolerances: rel 1e-2 on the value, error < 1e-3 (TRF stops at 1e-8).
    let e = fpd(t, z, &cfg).unwrap();
    assert!((e.value - 2.0).abs() < 2e-2 && e.error < 1e-3, "{e:?}");
    let e = fpd(t, z, &cfg.with_normalise(false)).unwrap();
    assert!((e.value - 8.0).abs() < 8e-2, "{e:?}");
    let e = fpd(z, z, &cfg).unwrap();
    assert!(e.value.abs() < 1e-2 && e.error < 1e-3, "{e:?}");
}

#[test]
fn curve_fit_port_reaches_ols_on_a_well_scaled_problem_and_respects_bounds() {
    let x = [1.0, 2.0, 3.0, 4.0];
    let y = [3.1, 4.9, 7.2, 8.8];
    let ([a, b], pcov00) = curve_fit::curve_fit_line_nonneg(&x, &y);
    // numpy.polyfit(x, y, 1) = [1.94, 1.15]; TRF stops within its 1e-8 tolerances.
    assert!(
        (a - 1.15).abs() < 1e-5 && (b - 1.94).abs() < 1e-5,
        "{a} {b}"
    );
    // s² (JᵀJ)⁻¹₀₀ = (0.082 / 2) · 1.5
    assert!((pcov00 - 0.082 / 2.0 * 1.5).abs() < 1e-6, "{pcov00}");
    // Decreasing data: the slope stays at its bound, the intercept near the mean.
    let ([a, b], _) = curve_fit::curve_fit_line_nonneg(&x, &[4.0, 3.0, 2.0, 1.0]);
    assert!(
        (0.0..1e-3).contains(&b) && (a - 2.5).abs() < 1e-2,
        "{a} {b}"
    );
}

#[test]
fn one_pass_weighted_covariances_equal_the_two_pass_definition() {
    // Several count vectors over the same rows (odd d and row counts to exercise the
    // padding and the partial last chunk), against mean-then-centred-sum in plain loops.
    let (n, d) = (403, 7);
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let x: Vec<f64> = (0..n * d)
        .map(|i| 50.0 + (next() % 10_000) as f64 / 997.0 + (i % d) as f64)
        .collect();
    let counts: Vec<Vec<u32>> = (0..5)
        .map(|b| (0..n).map(|_| (next() % (b + 2)) as u32).collect())
        .collect();
    let totals: Vec<usize> = counts
        .iter()
        .map(|c| c.iter().map(|&v| v as usize).sum())
        .collect();
    let refs: Vec<&[u32]> = counts.iter().map(Vec::as_slice).collect();
    let got = weighted_mean_covs(&x, d, &column_means(&x, d), &refs, &totals);
    for ((c, &total), (mu, cov)) in counts.iter().zip(&totals).zip(&got) {
        let mut m = vec![0.0; d];
        for (row, &w) in x.chunks_exact(d).zip(c) {
            for k in 0..d {
                m[k] += f64::from(w) * row[k];
            }
        }
        m.iter_mut().for_each(|v| *v /= total as f64);
        for k in 0..d {
            assert!((mu[k] - m[k]).abs() <= 1e-12 * m[k].abs(), "mean {k}");
        }
        for i in 0..d {
            for j in 0..d {
                let s: f64 = x
                    .chunks_exact(d)
                    .zip(c)
                    .map(|(row, &w)| f64::from(w) * (row[i] - m[i]) * (row[j] - m[j]))
                    .sum::<f64>()
                    / (total - 1) as f64;
                let g = cov[i * d + j];
                assert!(
                    (g - s).abs() <= 1e-10 * s.abs().max(1e-3),
                    "cov {i} {j}: {g} vs {s}"
                );
                assert_eq!(g, cov[j * d + i]);
            }
        }
    }
}
