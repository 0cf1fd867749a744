//! Unit tests of the EFPs: brute-force graph sums and energyflow's published values.

// The spec's reference values are quoted digit for digit.
#![allow(clippy::excessive_precision)]

use super::*;

/// Naive `Σ_{i_1..i_n} Π z Π θ` over all index tuples, for checking the elimination.
fn brute_force(jet: &[[f64; 3]], edges: &[(u8, u8)]) -> f64 {
    let n_vertices = edges
        .iter()
        .map(|&(a, b)| a.max(b) as usize + 1)
        .max()
        .unwrap_or(1);
    let z: Vec<f64> = jet.iter().map(|p| p[2]).collect();
    let m = z.len();
    let theta = |i: usize, j: usize| {
        let dy = jet[i][0] - jet[j][0];
        let dphi = PI - ((jet[i][1] - jet[j][1]).abs() - PI).abs();
        (dy * dy + dphi * dphi).sqrt()
    };
    let mut idx = vec![0usize; n_vertices];
    let mut total = 0.0;
    loop {
        let mut term: f64 = idx.iter().map(|&i| z[i]).product();
        for &(a, b) in edges {
            term *= theta(idx[a as usize], idx[b as usize]);
        }
        total += term;
        let mut k = 0;
        loop {
            if k == n_vertices {
                return total;
            }
            idx[k] += 1;
            if idx[k] < m {
                break;
            }
            idx[k] = 0;
            k += 1;
        }
    }
}

fn to_f32(jet: &[[f64; 3]]) -> Vec<f32> {
    jet.iter()
        .flat_map(|p| [p[0] as f32, p[1] as f32, p[2] as f32])
        .collect()
}

fn f32_round(jet: &[[f64; 3]]) -> Vec<[f64; 3]> {
    jet.iter().map(|p| p.map(|v| f64::from(v as f32))).collect()
}

#[test]
fn elimination_equals_brute_force_on_all_36_graphs() {
    // Includes a φ difference beyond π to exercise the wrapping.
    let jet = [
        [0.1, -0.05, 0.6],
        [-0.02, 3.0, 0.3],
        [0.2, -3.0, 0.1],
        [-0.3, 0.4, 0.25],
    ];
    let exact = f32_round(&jet);
    let mut out = [0.0; 36];
    efps_jet(&to_f32(&jet), 3, EfpSet::D4, &mut out);
    for (g, edges) in D4_GRAPHS.iter().enumerate() {
        let want = brute_force(&exact, edges);
        let rel = (out[g] - want).abs() / want.abs();
        assert!(rel < 1e-12, "graph {g}: {} vs {want} (rel {rel:e})", out[g]);
    }
}

/// Spec §2.10 jets A and B (energyflow 1.4.0 values published in the spec; inputs exact in
/// float32 up to rounding, so compare at 1e-6).
const A: [[f64; 3]; 4] = [
    [0.10, -0.05, 0.60],
    [-0.02, 0.08, 0.30],
    [0.20, 0.15, 0.10],
    [0.0, 0.0, 0.0],
];
const B: [[f64; 3]; 4] = [
    [0.00, 0.00, 0.50],
    [0.12, -0.10, 0.25],
    [-0.15, 0.05, 0.15],
    [0.05, 0.30, 0.05],
];

fn assert_rel(got: &[f64], want: &[f64], tol: f64) {
    assert_eq!(got.len(), want.len());
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!((g - w).abs() <= tol * w.abs(), "{i}: {g} vs {w}");
    }
}

#[test]
fn spec_w1efp_values() {
    let want_a = [
        3.6025444924908e-4,
        2.7809679735784e-4,
        2.860027928748e-4,
        1.3418004648265e-4,
        2.09428578e-4,
    ];
    let want_b = [
        8.7848952431913e-4,
        5.9615662437649e-4,
        6.6626347495691e-4,
        3.9631517044154e-4,
        4.1899473057572e-4,
    ];
    let mut jets = to_f32(&A);
    jets.extend(to_f32(&B));
    let view = JetsView::new(&jets, [2, 4, 3]).unwrap();
    let out = efps(view, EfpSet::W1Efp).unwrap();
    assert_rel(&out[..5], &want_a, 1e-6);
    assert_rel(&out[5..], &want_b, 1e-6);
    // The same values through the exact-f64 brute force agree far tighter.
    for (k, edges) in EfpSet::W1Efp.graphs().iter().enumerate() {
        let bf = brute_force(&f32_round(&A), edges);
        assert!((out[k] - bf).abs() < 1e-13 * bf);
    }
}

#[test]
fn spec_d4_values_first_twelve() {
    let want = [
        1.0,
        0.10437539303337059,
        0.020466,
        0.0040734691205436928,
        0.00082314180000000016,
        0.012563223292280245,
        0.0025216401153550206,
        0.00051387999300824851,
        0.00051013890000000002,
        0.00098638062024757989,
        0.00020759786912442424,
        0.0017469395312099943,
    ];
    let mut out = [0.0; 36];
    efps_jet(&to_f32(&A), 3, EfpSet::D4, &mut out);
    assert_rel(&out[..12], &want, 1e-6);
}

#[test]
fn zero_padding_and_extra_features_do_not_change_values() {
    let mut with_mask: Vec<f32> = Vec::new();
    for p in &B {
        with_mask.extend([p[0] as f32, p[1] as f32, p[2] as f32, 1.0]);
    }
    with_mask.extend([0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]);
    let mut a = [0.0; 36];
    let mut b = [0.0; 36];
    efps_jet(&to_f32(&B), 3, EfpSet::D4, &mut a);
    efps_jet(&with_mask, 4, EfpSet::D4, &mut b);
    assert_eq!(a, b);
}

#[test]
fn empty_jet_gives_zeros_and_nan_is_rejected() {
    let jets = vec![0f32; 2 * 5 * 3];
    let view = JetsView::new(&jets, [2, 5, 3]).unwrap();
    assert!(efps(view, EfpSet::D4).unwrap().iter().all(|&v| v == 0.0));
    let mut bad = jets.clone();
    bad[7] = f32::NAN;
    let view = JetsView::new(&bad, [2, 5, 3]).unwrap();
    assert!(matches!(
        efps(view, EfpSet::D4),
        Err(crate::Error::NonFinite { index: 7, .. })
    ));
}
