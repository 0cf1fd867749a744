//! Tests of the Sinkhorn divergence against exact 1-D transport and by optimisation.

use candle_core::{DType, Device, Tensor, Var};

use super::*;

fn t(v: &[f64], n: usize, d: usize) -> Tensor {
    Tensor::from_slice(v, (n, d), &Device::Cpu).unwrap()
}

fn scalar(x: &Tensor) -> f64 {
    x.to_dtype(DType::F64).unwrap().to_scalar().unwrap()
}

#[test]
fn small_epsilon_approaches_exact_transport() {
    // 1-D: optimal matching is sorted to sorted; OT cost = mean ½ (x_(i) − y_(i))²
    let x = [0.3, -1.2, 0.9, 2.0, -0.4];
    let y = [1.1, 0.2, -0.7, 2.4, 0.0];
    let (mut xs, mut ys) = (x.to_vec(), y.to_vec());
    xs.sort_by(f64::total_cmp);
    ys.sort_by(f64::total_cmp);
    let exact: f64 = xs
        .iter()
        .zip(&ys)
        .map(|(a, b)| 0.5 * (a - b).powi(2))
        .sum::<f64>()
        / 5.0;
    let cfg = SinkhornConfig {
        epsilon: 1e-3,
        iterations: 2000,
    };
    let s = scalar(&sinkhorn_divergence(&t(&x, 5, 1), &t(&y, 5, 1), &cfg).unwrap());
    assert!(
        (s - exact).abs() < 5e-3 * exact.max(1e-3) + 2e-3,
        "{s} vs {exact}"
    );
}

#[test]
fn divergence_is_zero_on_itself_symmetric_and_positive() {
    let x = t(&[0.0, 1.0, 2.0, 0.5, -1.0, 0.3], 3, 2);
    let y = t(&[1.0, 1.0, 0.0, 2.5, -0.5, 0.0, 0.2, 0.2], 4, 2);
    let cfg = SinkhornConfig::default();
    assert!(scalar(&sinkhorn_divergence(&x, &x, &cfg).unwrap()).abs() < 1e-9);
    let a = scalar(&sinkhorn_divergence(&x, &y, &cfg).unwrap());
    let b = scalar(&sinkhorn_divergence(&y, &x, &cfg).unwrap());
    // symmetric up to the residual of 50 unrolled iterations
    assert!(a > 0.0 && (a - b).abs() < 2e-3 * a, "{a} {b}");
    assert!(sinkhorn_divergence(&x, &t(&[1.0, 2.0, 3.0], 1, 3), &cfg).is_err());
    let bad = SinkhornConfig {
        epsilon: 0.0,
        iterations: 5,
    };
    assert!(entropic_ot(&x, &y, &bad).is_err());
}

#[test]
fn gradient_descent_moves_a_cloud_onto_another() {
    let target = t(&[2.0, 2.0, 2.5, 1.5, 1.5, 2.5, 2.0, 3.0], 4, 2);
    let x = Var::from_tensor(&t(&[0.0, 0.0, 0.1, -0.1, -0.2, 0.1, 0.0, 0.3], 4, 2)).unwrap();
    let cfg = SinkhornConfig {
        epsilon: 0.05,
        iterations: 30,
    };
    let first = scalar(&sinkhorn_divergence(x.as_tensor(), &target, &cfg).unwrap());
    for _ in 0..200 {
        let s = sinkhorn_divergence(x.as_tensor(), &target, &cfg).unwrap();
        let g = s.backward().unwrap();
        let gx = g.get(x.as_tensor()).unwrap();
        assert!(
            gx.flatten_all()
                .unwrap()
                .to_vec1::<f64>()
                .unwrap()
                .iter()
                .all(|v| v.is_finite())
        );
        x.set(&(x.as_tensor() - (gx * 2.0).unwrap()).unwrap())
            .unwrap();
    }
    let last = scalar(&sinkhorn_divergence(x.as_tensor(), &target, &cfg).unwrap());
    assert!(last < 0.01 * first, "{first} -> {last}");
}
