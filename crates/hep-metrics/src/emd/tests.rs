//! Unit tests of the EMD solver and coverage/MMD.

use super::*;

fn p(pt: f64, eta: f64, phi: f64) -> EmdParticle {
    EmdParticle { pt, eta, phi }
}

/// Spec §2.10 jets in JetNet order (η, φ, pT), zero-padded.
const A: [f32; 12] = [
    0.10, -0.05, 0.60, -0.02, 0.08, 0.30, 0.20, 0.15, 0.10, 0.0, 0.0, 0.0,
];
const B: [f32; 12] = [
    0.00, 0.00, 0.50, 0.12, -0.10, 0.25, -0.15, 0.05, 0.15, 0.05, 0.30, 0.05,
];

#[test]
fn spec_values() {
    // energyflow 1.4.0 / wasserstein 1.1.0 (spec §2.10): EMD(A, B) = 0.1455825163149231
    // (float64 inputs; ours are the float32 roundings, hence 1e-6).
    let got = emd(&A, &B, 3).unwrap();
    assert!(
        (got - 0.1455825163149231).abs() < 1e-6 * 0.1455825163149231,
        "{got}"
    );
    assert_eq!(emd(&A, &A, 3).unwrap(), 0.0);
    // Hand checks from the spec: unit vs unit at distance 0.5; 1.0 vs 0.5 at 0.5.
    let mut s = EmdSolver::new();
    assert!((s.emd(&[p(1.0, 0.0, 0.0)], &[p(1.0, 0.5, 0.0)]).unwrap() - 0.5).abs() < 1e-15);
    assert!((s.emd(&[p(1.0, 0.0, 0.0)], &[p(0.5, 0.0, 0.5)]).unwrap() - 0.75).abs() < 1e-15);
    // An empty side: only the pT imbalance remains.
    assert_eq!(s.emd(&[], &[p(0.25, 1.0, 1.0)]).unwrap(), 0.25);
}

/// Brute force for integer weights: split into unit atoms and try every injection of the
/// lighter side's atoms into the heavier side's (the transportation polytope is integral).
fn brute_force(a: &[EmdParticle], b: &[EmdParticle]) -> f64 {
    let atoms = |ev: &[EmdParticle]| -> Vec<(f64, f64)> {
        ev.iter()
            .flat_map(|q| std::iter::repeat_n((q.eta, q.phi), q.pt as usize))
            .collect()
    };
    let (mut big, mut small) = (atoms(a), atoms(b));
    if big.len() < small.len() {
        std::mem::swap(&mut big, &mut small);
    }
    let extra = (big.len() - small.len()) as f64;
    let mut idx: Vec<usize> = (0..big.len()).collect();
    let mut best = f64::INFINITY;
    permute(&mut idx, 0, &mut |perm| {
        let c: f64 = small
            .iter()
            .zip(perm)
            .map(|(s, &k)| ((s.0 - big[k].0).powi(2) + (s.1 - big[k].1).powi(2)).sqrt())
            .sum();
        best = best.min(c);
    });
    best + extra
}

fn permute(v: &mut Vec<usize>, k: usize, f: &mut dyn FnMut(&[usize])) {
    if k == v.len() {
        f(v);
        return;
    }
    for i in k..v.len() {
        v.swap(k, i);
        permute(v, k + 1, f);
        v.swap(k, i);
    }
}

#[test]
fn exact_against_brute_force_on_small_integer_problems() {
    let mut rng = NumpyRng::new(2024);
    let mut solver = EmdSolver::new();
    for case in 0..60 {
        let ev = |rng: &mut NumpyRng, max_atoms: u64| -> Vec<EmdParticle> {
            let mut left = 1 + rng.integers(max_atoms);
            let mut out = Vec::new();
            while left > 0 {
                let w = 1 + rng.integers(left);
                left -= w;
                out.push(p(w as f64, rng.random() - 0.5, rng.random() - 0.5));
            }
            out
        };
        let a = ev(&mut rng, 7);
        let b = ev(&mut rng, 6);
        let got = solver.emd(&a, &b).unwrap();
        let want = brute_force(&a, &b);
        assert!((got - want).abs() < 1e-12, "case {case}: {got} vs {want}");
        // symmetric in its arguments
        let back = solver.emd(&b, &a).unwrap();
        assert!((back - got).abs() < 1e-12);
    }
}

#[test]
fn large_problems_converge_and_satisfy_the_triangle_inequality() {
    let mut rng = NumpyRng::new(5);
    let mut ev = |n: usize| -> Vec<EmdParticle> {
        (0..n)
            .map(|_| p(rng.random(), rng.random() - 0.5, rng.random() - 0.5))
            .collect()
    };
    let (a, b, c) = (ev(150), ev(150), ev(120));
    let mut s = EmdSolver::new();
    let ab = s.emd(&a, &b).unwrap();
    let bc = s.emd(&b, &c).unwrap();
    let ac = s.emd(&a, &c).unwrap();
    assert!(ab > 0.0 && ac <= ab + bc + 1e-12);
}

#[test]
fn negative_pt_and_nan_are_rejected() {
    let mut s = EmdSolver::new();
    assert!(matches!(
        s.emd(&[p(-1.0, 0.0, 0.0)], &[p(1.0, 0.0, 0.0)]),
        Err(Error::NegativeWeight {
            argument: "a",
            index: 0,
            ..
        })
    ));
    assert!(matches!(
        s.emd(&[p(1.0, 0.0, 0.0)], &[p(1.0, f64::NAN, 0.0)]),
        Err(Error::NonFinite { argument: "b", .. })
    ));
}

#[test]
fn cov_mmd_of_a_set_with_itself_and_draw_order() {
    let mut jets: Vec<f32> = A.to_vec();
    jets.extend(B);
    let v = JetsView::new(&jets, [2, 4, 3]).unwrap();
    let cfg = CovMmdConfig::default()
        .with_num_eval_samples(4)
        .with_num_batches(3);
    let got = cov_mmd(v, v, &cfg, &mut NumpyRng::new(1)).unwrap();
    // Reference: replay the draws (real first, then gen) and evaluate by hand.
    let mut rng = NumpyRng::new(1);
    let ab = emd(&A, &B, 3).unwrap();
    let (mut covs, mut mmds) = (Vec::new(), Vec::new());
    for _ in 0..3 {
        let r = rng.choice(2, 4);
        let g = rng.choice(2, 4);
        let d = |gi: usize, ri: usize| if g[gi] == r[ri] { 0.0 } else { ab };
        let mins: Vec<f64> = (0..4)
            .map(|ri| (0..4).map(|gi| d(gi, ri)).fold(f64::INFINITY, f64::min))
            .collect();
        mmds.push(crate::numpy::mean(&mins));
        let mut covered = [false; 4];
        for gi in 0..4 {
            let mut best = 0;
            for ri in 0..4 {
                if d(gi, ri) < d(gi, best) {
                    best = ri;
                }
            }
            covered[best] = true;
        }
        covs.push(covered.iter().filter(|&&c| c).count() as f64 / 4.0);
    }
    assert_eq!(got.cov, crate::numpy::mean(&covs));
    assert_eq!(got.mmd, crate::numpy::mean(&mmds));
    let mut neg = jets.clone();
    neg[2] = -0.1;
    let nv = JetsView::new(&neg, [2, 4, 3]).unwrap();
    assert!(matches!(
        cov_mmd(nv, v, &cfg, &mut NumpyRng::new(1)),
        Err(Error::NegativeWeight {
            argument: "real",
            index: 2,
            ..
        })
    ));
}

/// The first `n` shipped jets of one type.
fn shipped(kind: &str, n: usize) -> Vec<f32> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(format!("../../datasets/jetnet30_{kind}_20k.parquet"));
    let ds = hep_data::parquet::read_jets(&path).unwrap();
    ds.particles()[..n * 90].to_vec()
}

#[test]
fn pruned_matrix_keeps_every_row_and_column_minimum_of_the_full_one() {
    let n = 60;
    for (x, y) in [
        (shipped("g", n), shipped("t", n)),
        (shipped("g", n), shipped("g", 2 * n)),
    ] {
        let y = &y[y.len() - n * 90..];
        let (a, b) = (
            JetsView::new(&x, [n, 30, 3]).unwrap(),
            JetsView::new(y, [n, 30, 3]).unwrap(),
        );
        let full = emds(a, b).unwrap();
        let idx: Vec<usize> = (0..n).collect();
        let pruned = nearest_emds(&a, &idx, &b, &idx).unwrap();
        let skipped = pruned.iter().filter(|v| v.is_infinite()).count();
        assert!(
            skipped > n * n / 2,
            "only {skipped} of {} pairs skipped",
            n * n
        );
        let argmin = |row: &[f64]| {
            let mut best = 0;
            for (r, &v) in row.iter().enumerate() {
                if v < row[best] {
                    best = r;
                }
            }
            best
        };
        for g in 0..n {
            let (f, p) = (&full[g * n..(g + 1) * n], &pruned[g * n..(g + 1) * n]);
            assert_eq!(argmin(f), argmin(p), "row {g}");
            assert_eq!(f[argmin(f)].to_bits(), p[argmin(p)].to_bits());
        }
        for r in 0..n {
            let col = |m: &[f64]| (0..n).map(|g| m[g * n + r]).fold(f64::INFINITY, f64::min);
            assert_eq!(col(&full).to_bits(), col(&pruned).to_bits(), "column {r}");
        }
        // the bound is a bound, and every evaluated entry is the exact EMD
        let mut pa = Vec::new();
        let mut pb = Vec::new();
        for g in 0..n {
            jet_particles(a.jet(g), 3, &mut pa);
            for r in 0..n {
                jet_particles(b.jet(r), 3, &mut pb);
                let e = full[g * n + r];
                assert!(
                    emd_lower_bound(&pa, &pb, &mut Vec::new()) <= e * (1.0 + 1e-12),
                    "pair {g} {r}"
                );
                let v = pruned[g * n + r];
                assert!(v.is_infinite() || v.to_bits() == e.to_bits());
            }
        }
    }
}

/// Relative agreement of the new solver (both kernel sets) with the previous one.
fn check_against_oracle(
    solver: &mut EmdSolver,
    oracle: &mut oracle::OracleSolver,
    a: &[EmdParticle],
    b: &[EmdParticle],
    what: &str,
) -> f64 {
    let got = solver.emd(a, b).unwrap();
    let portable = solver.emd_portable(a, b).unwrap();
    let want = oracle.emd_unchecked(a, b).unwrap();
    assert_eq!(got, portable, "{what}: AVX2 and portable kernels differ");
    let scale = want.abs().max(1e-300);
    assert!(
        (got - want).abs() <= 1e-12 * scale,
        "{what}: {got} vs reference {want} (rel {:e})",
        (got - want).abs() / scale
    );
    // symmetric in its arguments (the transposed problem takes another path)
    let back = solver.emd(b, a).unwrap();
    assert!(
        (back - got).abs() <= 1e-12 * scale,
        "{what}: {back} vs {got}"
    );
    got
}

fn particles_of(jets: &[f32], j: usize) -> Vec<EmdParticle> {
    let mut v = Vec::new();
    jet_particles(&jets[j * 90..(j + 1) * 90], 3, &mut v);
    v
}

#[test]
fn matches_the_previous_solver_on_shipped_jets() {
    // 700 pairs of real jets: gluon vs top (as in the bench), and within each class, where the
    // transport is short and ties between nearby particles are common.
    let n = 20;
    let (g, t, q) = (shipped("g", 2 * n), shipped("t", 2 * n), shipped("q", n));
    let mut solver = EmdSolver::new();
    let mut oracle = oracle::OracleSolver::new();
    let mut count = 0;
    for i in 0..n {
        for j in 0..n {
            let pairs = [
                (particles_of(&g, i), particles_of(&t, j), "g-t"),
                (particles_of(&g, i), particles_of(&g, n + j), "g-g"),
                (particles_of(&t, i), particles_of(&t, n + j), "t-t"),
            ];
            for (a, b, kind) in pairs {
                let e = check_against_oracle(&mut solver, &mut oracle, &a, &b, kind);
                assert!(e > 0.0);
                count += 1;
            }
            if j < 5 {
                let (a, b) = (particles_of(&q, i), particles_of(&g, j));
                check_against_oracle(&mut solver, &mut oracle, &a, &b, "q-g");
                count += 1;
            }
        }
    }
    assert_eq!(count, 3 * n * n + 5 * n);
}

/// Random events of `len` particles: pT in (0, 1) (some zero if `zeros`), coordinates in a
/// box of half-width `spread`, rounded to a grid of `1 / grid` when `grid > 0` (ties).
fn random_event(
    rng: &mut NumpyRng,
    len: usize,
    spread: f64,
    grid: f64,
    zeros: bool,
) -> Vec<EmdParticle> {
    let snap = |x: f64| {
        if grid > 0.0 {
            (x * grid).round() / grid
        } else {
            x
        }
    };
    (0..len)
        .map(|_| {
            let pt = if zeros && rng.random() < 0.2 {
                0.0
            } else {
                rng.random()
            };
            let (eta, phi) = (
                snap(spread * (2.0 * rng.random() - 1.0)),
                snap(spread * (2.0 * rng.random() - 1.0)),
            );
            p(pt, eta, phi)
        })
        .collect()
}

#[test]
fn matches_the_previous_solver_on_random_and_degenerate_events() {
    let mut rng = NumpyRng::new(77);
    let mut solver = EmdSolver::new();
    let mut oracle = oracle::OracleSolver::new();
    for case in 0..400 {
        // sizes on both sides of the 64-node tree limit, 1 to 90 particles
        let (la, lb) = (1 + rng.integers(45) as usize, 1 + rng.integers(45) as usize);
        let (la, lb) = if case % 10 == 0 {
            (2 * la, 2 * lb)
        } else {
            (la, lb)
        };
        let grid = if case % 3 == 0 { 8.0 } else { 0.0 };
        let zeros = case % 4 == 1;
        let a = random_event(&mut rng, la, 0.5, grid, zeros);
        let b = random_event(&mut rng, lb, 0.5, grid, zeros);
        check_against_oracle(&mut solver, &mut oracle, &a, &b, &format!("case {case}"));
    }
}

#[test]
fn degenerate_events() {
    let mut solver = EmdSolver::new();
    let mut oracle = oracle::OracleSolver::new();
    let mut rng = NumpyRng::new(3);
    let jet = random_event(&mut rng, 30, 0.4, 0.0, false);
    // identical events: exactly zero (every row and column closes at once in the start)
    assert_eq!(solver.emd(&jet, &jet).unwrap(), 0.0);
    assert_eq!(solver.emd_portable(&jet, &jet).unwrap(), 0.0);
    // the same particles in another order, and with zero-pT particles mixed in: only the
    // rounding of the pT sums remains
    let mut shuffled: Vec<EmdParticle> = jet.iter().rev().copied().collect();
    shuffled.insert(7, p(0.0, 3.0, -3.0));
    shuffled.push(p(0.0, -1.0, 1.0));
    let e = solver.emd(&jet, &shuffled).unwrap();
    assert!(e < 1e-14, "{e}");
    let other = random_event(&mut rng, 25, 0.4, 0.0, false);
    let mut other_zeros = other.clone();
    other_zeros.insert(0, p(0.0, 0.0, 0.0));
    assert_eq!(
        solver.emd(&jet, &other).unwrap(),
        solver.emd(&jet, &other_zeros).unwrap()
    );
    check_against_oracle(&mut solver, &mut oracle, &jet, &other_zeros, "zeros");
    // one particle on a side, and one on each
    let one = [p(0.7, 0.1, -0.2)];
    check_against_oracle(&mut solver, &mut oracle, &one, &jet, "one vs many");
    let e = solver.emd(&one, &[p(0.3, 0.1, 0.2)]).unwrap();
    assert!((e - (0.3 * 0.4 + 0.4)).abs() < 1e-15, "{e}");
    // only zero-pT particles on one side: the pT difference only
    let total: f64 = jet.iter().map(|q| q.pt).sum();
    assert_eq!(solver.emd(&jet, &[p(0.0, 0.0, 0.0)]).unwrap(), total);
    // equal totals (no dummy), heavier a (dummy column), heavier b (dummy row)
    let scale = |ev: &[EmdParticle], s: f64| -> Vec<EmdParticle> {
        ev.iter().map(|q| p(q.pt * s, q.eta, q.phi)).collect()
    };
    let to = |ev: &[EmdParticle]| -> f64 { ev.iter().map(|q| q.pt).sum() };
    let balanced = scale(&other, to(&jet) / to(&other));
    for (b, what) in [
        (balanced, "balanced"),
        (scale(&other, 0.5), "dummy column"),
        (scale(&other, 3.0), "dummy row"),
    ] {
        check_against_oracle(&mut solver, &mut oracle, &jet, &b, what);
    }
    // all particles at one point: every cost ties at 0
    let point_a: Vec<EmdParticle> = (0..12).map(|i| p(1.0 + i as f64, 0.2, 0.2)).collect();
    let point_b: Vec<EmdParticle> = (0..9).map(|i| p(2.0 + i as f64, 0.2, 0.2)).collect();
    let e = solver.emd(&point_a, &point_b).unwrap();
    assert_eq!(e, (to(&point_a) - to(&point_b)).abs());
    // equal weights on a grid: ties in costs and in supplies vs demands
    let grid = |dx: f64| -> Vec<EmdParticle> {
        (0..36)
            .map(|k| p(1.0, (k % 6) as f64 * 0.1 + dx, (k / 6) as f64 * 0.1))
            .collect()
    };
    check_against_oracle(&mut solver, &mut oracle, &grid(0.0), &grid(0.1), "grid");
    check_against_oracle(
        &mut solver,
        &mut oracle,
        &grid(0.0),
        &grid(0.05),
        "grid half",
    );
    // many coincident particles on both sides
    let stack = |n: usize, at: f64| -> Vec<EmdParticle> {
        (0..n)
            .map(|k| p(0.1 * (1 + k % 3) as f64, at, -at))
            .collect()
    };
    let mut mixed = stack(10, 0.0);
    mixed.extend(stack(10, 0.3));
    check_against_oracle(&mut solver, &mut oracle, &mixed, &stack(15, 0.1), "stacks");
}

#[test]
fn large_events_take_the_multi_word_tree() {
    // 150 vs 140 particles: 290 nodes, five mask words per node
    let mut rng = NumpyRng::new(11);
    let mut solver = EmdSolver::new();
    let mut oracle = oracle::OracleSolver::new();
    for case in 0..3 {
        let a = random_event(&mut rng, 150, 0.8, 0.0, case == 1);
        let b = random_event(
            &mut rng,
            140,
            0.8,
            if case == 2 { 16.0 } else { 0.0 },
            false,
        );
        check_against_oracle(&mut solver, &mut oracle, &a, &b, &format!("large {case}"));
    }
}

/// Per-pair time of this solver and of the previous one on 10,000 pairs (100 gluon × 100 top
/// jets, as the `emd_timing` example), one thread, interleaved, best of 3 rounds:
/// `cargo test --release -p hep-metrics emd_timing -- --ignored --nocapture`.
#[test]
#[ignore = "timing, not a check"]
fn emd_timing_on_the_bench_pairs() {
    let (g, t) = (shipped("g", 100), shipped("t", 100));
    let (pg, pt): (Vec<_>, Vec<_>) = (
        (0..100).map(|j| particles_of(&g, j)).collect(),
        (0..100).map(|j| particles_of(&t, j)).collect(),
    );
    let mut solver = EmdSolver::new();
    let mut oracle = oracle::OracleSolver::new();
    let (mut best_new, mut best_old) = (f64::INFINITY, f64::INFINITY);
    let mut sum = 0.0;
    for _ in 0..3 {
        let t0 = std::time::Instant::now();
        for a in &pg {
            for b in &pt {
                sum += solver.emd_unchecked(a, b).unwrap();
            }
        }
        best_new = best_new.min(t0.elapsed().as_secs_f64() / 10_000.0);
        let t0 = std::time::Instant::now();
        for a in &pg {
            for b in &pt {
                sum -= oracle.emd_unchecked(a, b).unwrap();
            }
        }
        best_old = best_old.min(t0.elapsed().as_secs_f64() / 10_000.0);
    }
    println!(
        "per pair: {:.2} us (previous solver {:.2} us); sum of differences {sum:e}",
        best_new * 1e6,
        best_old * 1e6
    );
}
