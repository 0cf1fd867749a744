//! Unit tests of the 1-D W1 and the bootstrapped W1 metrics.

use super::*;
use crate::numpy::pairwise_sum;

/// scipy's algorithm written the obvious way: sort the union, searchsorted 'right',
/// numpy pairwise sum of the terms.
fn scipy_reference(u: &[f64], v: &[f64]) -> f64 {
    let mut us = u.to_vec();
    let mut vs = v.to_vec();
    us.sort_by(f64::total_cmp);
    vs.sort_by(f64::total_cmp);
    let mut all: Vec<f64> = us.iter().chain(&vs).copied().collect();
    all.sort_by(f64::total_cmp);
    let terms: Vec<f64> = all
        .windows(2)
        .map(|w| {
            let cu = us.partition_point(|&x| x <= w[0]) as f64 / us.len() as f64;
            let cv = vs.partition_point(|&x| x <= w[0]) as f64 / vs.len() as f64;
            (cu - cv).abs() * (w[1] - w[0])
        })
        .collect();
    pairwise_sum(&terms)
}

#[test]
fn w1_simple_cases() {
    // scipy docs: wasserstein_distance([0, 1, 3], [5, 6, 8]) = 5.0
    assert_eq!(
        w1_distance(&[0.0, 1.0, 3.0], &[5.0, 6.0, 8.0]).unwrap(),
        5.0
    );
    // scipy docs: wasserstein_distance([0, 1], [0, 1]) = 0
    assert_eq!(w1_distance(&[0.0, 1.0], &[1.0, 0.0]).unwrap(), 0.0);
    assert_eq!(w1_distance(&[0.0], &[2.5]).unwrap(), 2.5);
    assert!(matches!(
        w1_distance(&[], &[1.0]),
        Err(Error::EmptyInput { argument: "u" })
    ));
    assert!(matches!(
        w1_distance(&[1.0], &[f64::NAN]),
        Err(Error::NonFinite {
            argument: "v",
            index: 0,
            ..
        })
    ));
}

#[test]
fn w1_is_bit_identical_to_the_direct_algorithm_with_ties() {
    let mut rng = NumpyRng::new(7);
    // Values on a coarse grid so that ties within and across samples are common.
    let u: Vec<f64> = (0..1000)
        .map(|_| rng.integers(50) as f64 * 0.1 - 2.0)
        .collect();
    let v: Vec<f64> = (0..700)
        .map(|_| rng.integers(60) as f64 * 0.1 - 2.5)
        .collect();
    let got = w1_distance(&u, &v).unwrap();
    assert_eq!(got.to_bits(), scipy_reference(&u, &v).to_bits());
    let mut signed_zero = u.clone();
    signed_zero[0] = -0.0;
    signed_zero[1] = 0.0;
    assert_eq!(
        w1_distance(&signed_zero, &v).unwrap().to_bits(),
        scipy_reference(&signed_zero, &v).to_bits()
    );
}

#[test]
fn weighted_merge_equals_w1_of_the_resampled_arrays() {
    let mut rng = NumpyRng::new(3);
    let x: Vec<f64> = (0..300).map(|_| rng.integers(40) as f64 / 7.0).collect();
    let y: Vec<f64> = (0..200).map(|_| rng.integers(40) as f64 / 5.0).collect();
    let a = SortedSample::new(x.iter().enumerate().map(|(i, &v)| (v, i as u32)));
    let b = SortedSample::new(y.iter().enumerate().map(|(i, &v)| (v, i as u32)));
    let mut draw = NumpyRng::new(11);
    let i1 = draw.choice(x.len(), 500);
    let i2 = draw.choice(y.len(), 400);
    let mut c1 = vec![0u32; x.len()];
    let mut c2 = vec![0u32; y.len()];
    i1.iter().for_each(|&i| c1[i] += 1);
    i2.iter().for_each(|&i| c2[i] += 1);
    let s1: Vec<f64> = i1.iter().map(|&i| x[i]).collect();
    let s2: Vec<f64> = i2.iter().map(|&i| y[i]).collect();
    let got = a.w1(&c1, &b, &c2);
    assert_eq!(got.to_bits(), w1_distance(&s1, &s2).unwrap().to_bits());
}

#[test]
fn w1m_bootstrap_draws_in_jetnet_order() {
    let m1: Vec<f64> = (0..50).map(|i| (i as f64 * 0.37).sin()).collect();
    let m2: Vec<f64> = (0..40).map(|i| (i as f64 * 0.11).cos()).collect();
    let cfg = Bootstrap::default()
        .with_num_eval_samples(30)
        .with_num_batches(4);
    let got = w1m_from_masses(&m1, &m2, &cfg, &mut NumpyRng::new(5)).unwrap();
    // The same thing spelled out with explicit draws.
    let mut rng = NumpyRng::new(5);
    let w: Vec<f64> = (0..4)
        .map(|_| {
            let i1 = rng.choice(50, 30);
            let i2 = rng.choice(40, 30);
            let s1: Vec<f64> = i1.iter().map(|&i| m1[i]).collect();
            let s2: Vec<f64> = i2.iter().map(|&i| m2[i]).collect();
            w1_distance(&s1, &s2).unwrap()
        })
        .collect();
    let (mean, std) = mean_std(&w);
    assert_eq!(got.value, mean);
    assert_eq!(got.error, std);
    assert!(got.value > 0.0 && got.error > 0.0);
}

fn toy_jets(n: usize, p: usize, seed: u64) -> Vec<f32> {
    let mut rng = NumpyRng::new(seed);
    let mut out = Vec::with_capacity(n * p * 3);
    for _ in 0..n {
        let k = 1 + rng.integers(p as u64) as usize;
        for j in 0..p {
            if j < k {
                out.push(rng.random() as f32 - 0.5);
                out.push(rng.random() as f32 - 0.5);
                out.push(rng.random() as f32);
            } else {
                out.extend([0.0, 0.0, 0.0]);
            }
        }
    }
    out
}

#[test]
fn w1p_pools_valid_particles_and_respects_masks() {
    let (n, p) = (40, 6);
    let j1 = toy_jets(n, p, 1);
    let j2 = toy_jets(n, p, 2);
    let v1 = JetsView::new(&j1, [n, p, 3]).unwrap();
    let v2 = JetsView::new(&j2, [n, p, 3]).unwrap();
    let cfg = W1pConfig::default().with_bootstrap(
        Bootstrap::default()
            .with_num_eval_samples(25)
            .with_num_batches(3),
    );
    let got = w1p(v1, None, v2, None, &cfg, &mut NumpyRng::new(9)).unwrap();
    // Explicit reference: gather the non-zero particles of the drawn jets.
    let mut rng = NumpyRng::new(9);
    let mut w1s = Vec::new();
    for _ in 0..3 {
        let i1 = rng.choice(n, 25);
        let i2 = rng.choice(n, 25);
        for f in 0..3 {
            let gather = |jets: &[f32], idx: &[usize]| -> Vec<f64> {
                idx.iter()
                    .flat_map(|&j| (0..p).map(move |k| &jets[(j * p + k) * 3..(j * p + k + 1) * 3]))
                    .filter(|x| x.iter().any(|&v| v != 0.0))
                    .map(|x| f64::from(x[f]))
                    .collect()
            };
            w1s.push(w1_distance(&gather(&j1, &i1), &gather(&j2, &i2)).unwrap());
        }
    }
    let (means, stds) = mean_std_axis0(&w1s, 3);
    for f in 0..3 {
        assert_eq!(got[f].value, means[f]);
        assert_eq!(got[f].error, stds[f]);
    }
    // A mask equal to "non-zero" changes nothing; an all-false mask gives inf.
    let mask1: Vec<bool> = j1.chunks(3).map(|x| x.iter().any(|&v| v != 0.0)).collect();
    let masked = w1p(v1, Some(&mask1), v2, None, &cfg, &mut NumpyRng::new(9)).unwrap();
    assert_eq!(masked, got);
    let none = vec![false; n * p];
    let inf = w1p(v1, Some(&none), v2, None, &cfg, &mut NumpyRng::new(9)).unwrap();
    assert!(inf.iter().all(|e| e.value == f64::INFINITY));
    assert!(matches!(
        w1p(v1, Some(&none[1..]), v2, None, &cfg, &mut NumpyRng::new(9)),
        Err(Error::ShapeMismatch {
            argument: "mask1",
            ..
        })
    ));
}

#[test]
fn invalid_bootstrap_is_rejected_before_work() {
    let cfg = Bootstrap::default().with_num_batches(0);
    assert!(matches!(
        w1m_from_masses(&[1.0], &[2.0], &cfg, &mut NumpyRng::new(0)),
        Err(Error::InvalidParameter {
            name: "num_batches",
            ..
        })
    ));
}

#[test]
fn spec_jet_masses() {
    // spec §2.10 (jetnet 0.2.5 jet_features on float64 A, B): [0.101144188281377,
    // 0.11670290454155703]; our inputs are the float32 roundings, hence 1e-6.
    let jets: Vec<f32> = [
        [0.10, -0.05, 0.60],
        [-0.02, 0.08, 0.30],
        [0.20, 0.15, 0.10],
        [0.0, 0.0, 0.0],
        [0.00, 0.00, 0.50],
        [0.12, -0.10, 0.25],
        [-0.15, 0.05, 0.15],
        [0.05, 0.30, 0.05],
    ]
    .iter()
    .flat_map(|p: &[f64; 3]| p.map(|v| v as f32))
    .collect();
    let m = jet_masses(JetsView::new(&jets, [2, 4, 3]).unwrap());
    for (got, want) in m.iter().zip([0.101144188281377, 0.11670290454155703]) {
        assert!((got - want).abs() < 1e-6 * want, "{got} vs {want}");
    }
}

#[test]
fn radix_sort_orders_like_total_cmp() {
    let mut rng = NumpyRng::new(17);
    let xs: Vec<f64> = (0..10_000)
        .map(|i| match i % 5 {
            0 => (rng.random() - 0.5) * 1e-300,
            1 => -(rng.random() * 1e6),
            2 => 0.0,
            _ => rng.random() - 0.5,
        })
        .collect();
    let s = SortedSample::new(xs.iter().enumerate().map(|(i, &x)| (x, i as u32)));
    let mut want = xs.clone();
    want.sort_by(f64::total_cmp);
    assert_eq!(s.values, want);
    assert!(
        s.owners
            .iter()
            .zip(&s.values)
            .all(|(&o, &v)| xs[o as usize] == v)
    );
}

#[test]
fn packed_f32_merge_equals_the_f64_merge() {
    // > 4096 values so that the radix path runs; a coarse grid for ties within and across
    // the samples, signed zeros, several values per owner (particles of one jet)
    let mut rng = NumpyRng::new(23);
    let value = |rng: &mut NumpyRng| match rng.integers(10) {
        0 => -0.0f32,
        1 => 0.0,
        _ => (rng.integers(300) as f32 - 150.0) * 0.037,
    };
    let (n1, n2) = (1500usize, 1100usize);
    let x: Vec<(f32, u32)> = (0..n1 * 3)
        .map(|i| (value(&mut rng), (i / 3) as u32))
        .collect();
    let y: Vec<(f32, u32)> = (0..n2 * 2)
        .map(|i| (value(&mut rng), (i / 2) as u32))
        .collect();
    let packed = MergedSamples::from_f32(
        x.iter()
            .copied()
            .chain(y.iter().map(|&(v, o)| (v, o + n1 as u32))),
        n1,
    );
    let a = SortedSample::new(x.iter().map(|&(v, o)| (f64::from(v), o)));
    let b = SortedSample::new(y.iter().map(|&(v, o)| (f64::from(v), o)));
    let wide = MergedSamples::new(&a, &b, n1);
    let mut sum = SparsePairwise::default();
    let mut draw = NumpyRng::new(29);
    for _ in 0..5 {
        let mut counts = draw_counts(&mut draw, n1, 2000);
        counts.extend(draw_counts(&mut draw, n2, 900));
        let (p, w) = (packed.w1(&counts, &mut sum), wide.w1(&counts, &mut sum));
        assert!(p.is_finite() && p > 0.0);
        assert_eq!(p.to_bits(), w.to_bits());
    }
    // and the resampled arrays, written out, give the same number through scipy's algorithm
    let counts: Vec<u32> = vec![1; n1 + n2];
    let (u, v): (Vec<f64>, Vec<f64>) = (
        x.iter().map(|&(v, _)| f64::from(v)).collect(),
        y.iter().map(|&(v, _)| f64::from(v)).collect(),
    );
    assert_eq!(
        packed.w1(&counts, &mut sum).to_bits(),
        scipy_reference(&u, &v).to_bits()
    );
}

#[test]
fn w1efp_from_d4_equals_w1efp() {
    let mut rng = NumpyRng::new(31);
    let mut jets = |n: usize| -> Vec<f32> {
        (0..n * 10 * 3)
            .map(|i| match i % 3 {
                2 => rng.random() as f32,
                _ => (rng.random() - 0.5) as f32 * 0.8,
            })
            .collect()
    };
    let (a, b) = (jets(300), jets(200));
    let (va, vb) = (
        JetsView::new(&a, [300, 10, 3]).unwrap(),
        JetsView::new(&b, [200, 10, 3]).unwrap(),
    );
    let cfg = Bootstrap::default()
        .with_num_eval_samples(250)
        .with_num_batches(3);
    let direct = w1efp(va, vb, &cfg, &mut NumpyRng::new(5)).unwrap();
    let (da, db) = (
        efp::efps(va, efp::EfpSet::D4).unwrap(),
        efp::efps(vb, efp::EfpSet::D4).unwrap(),
    );
    let (fa, fb) = (
        FeaturesView::new(&da, [300, 36]).unwrap(),
        FeaturesView::new(&db, [200, 36]).unwrap(),
    );
    let shared = w1efp_from_d4(fa, fb, &cfg, &mut NumpyRng::new(5)).unwrap();
    assert_eq!(direct.len(), 5);
    for (d, s) in direct.iter().zip(&shared) {
        assert!(d.value > 0.0);
        assert_eq!(d.value.to_bits(), s.value.to_bits());
        assert_eq!(d.error.to_bits(), s.error.to_bits());
    }
    let five = FeaturesView::new(&da[..300 * 5], [300, 5]).unwrap();
    assert!(matches!(
        w1efp_from_d4(five, fb, &cfg, &mut NumpyRng::new(5)),
        Err(Error::DimensionMismatch {
            lhs: 5,
            rhs: 36,
            ..
        })
    ));
}
