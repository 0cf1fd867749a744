//! Tests of the numpy `default_rng` port against draws recorded from numpy.

use super::*;
use serde_json::Value;

fn fixture() -> Value {
    let text = include_str!("../../tests/fixtures/numpy_rng.json");
    serde_json::from_str(text).expect("fixture parses")
}

fn as_usizes(v: &Value) -> Vec<usize> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as usize)
        .collect()
}

fn as_u64_strings(v: &Value) -> Vec<u64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_str().unwrap().parse().unwrap())
        .collect()
}

#[test]
fn matches_numpy_draws() {
    let fx = fixture();
    for case in fx["cases"].as_array().unwrap() {
        let seed = case["seed"].as_u64().unwrap();
        let mut r = NumpyRng::new(seed);
        let raw: Vec<u64> = (0..4).map(|_| r.next_u64()).collect();
        assert_eq!(raw, as_u64_strings(&case["raw_u64"]), "raw, seed {seed}");

        assert_eq!(
            NumpyRng::new(seed).permutation(10),
            as_usizes(&case["permutation_10"])
        );
        let p = NumpyRng::new(seed).permutation(1000);
        assert_eq!(p[..20].to_vec(), as_usizes(&case["permutation_1000_head"]));

        let mut r = NumpyRng::new(seed);
        assert_eq!(
            r.choice(50000, 8),
            as_usizes(&case["choice_50000_8"]),
            "seed {seed}"
        );
        assert_eq!(r.choice(7, 5), as_usizes(&case["choice_7_5"]));
        let big: Vec<u64> = (0..3).map(|_| r.integers(1 << 40)).collect();
        assert_eq!(big, as_u64_strings(&case["integers_2p40_3"]));
        assert_eq!(r.choice(3, 4), as_usizes(&case["choice_3_4"]));
        let want: Vec<f64> = case["random_3"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap())
            .collect();
        let got: Vec<f64> = (0..3).map(|_| r.random()).collect();
        assert_eq!(got, want);
    }
}

#[test]
fn jetnet_split_permutation() {
    // Reference values from the jetnet 0.2.5 spec (`default_rng(42).permutation`).
    let p = NumpyRng::new(42).permutation(880_000);
    assert_eq!(
        p[..10],
        [
            869567, 717537, 708148, 337789, 756488, 455720, 712889, 500720, 747563, 47636
        ]
    );
    assert_eq!(p[p.len() - 3..], [131009, 129997, 599688]);
    let g = NumpyRng::new(42).permutation(177_252);
    assert_eq!(
        g[..10],
        [
            85104, 163737, 88987, 69274, 48896, 57044, 30237, 163215, 63790, 83651
        ]
    );
}

#[test]
fn permutation_is_a_permutation() {
    for n in [0usize, 1, 2, 17, 1000] {
        let mut p = NumpyRng::new(3).permutation(n);
        p.sort_unstable();
        assert_eq!(p, (0..n).collect::<Vec<_>>());
    }
}

#[test]
fn integers_stay_in_range() {
    let mut r = NumpyRng::new(9);
    for high in [
        1u64,
        2,
        3,
        1000,
        u32::MAX as u64,
        u32::MAX as u64 + 1,
        1 << 50,
    ] {
        for _ in 0..100 {
            assert!(r.integers(high) < high);
        }
    }
}
