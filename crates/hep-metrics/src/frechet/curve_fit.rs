//! A port of `scipy.optimize.curve_fit(lambda x, a, b: a + b * x, x, y,
//! bounds=([0, 0], [inf, inf]))` as scipy 1.17 runs it: `least_squares` with the Trust Region
//! Reflective method (Coleman–Li scaling, exact trust-region subproblem via an SVD,
//! reflective steps), a forward-difference ('2-point') Jacobian, `x0 = [1, 1]`, and
//! `ftol = xtol = gtol = 1e-8`, then `pcov` from the final Jacobian.
//!
//! For jetnet's FPD fit the problem is badly scaled (1/N ≈ 2e-5), and TRF stops at its
//! tolerance well before the least-squares optimum, so reproducing its iterations (rather than
//! solving the problem exactly) is what gives jetnet's numbers.

const EPS: f64 = f64::EPSILON;
const TOL: f64 = 1e-8;

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn norm(a: &[f64]) -> f64 {
    dot(a, a).sqrt()
}

/// Residuals `a + b x − y` (curve_fit's `func(xdata, *p) - ydata`).
fn residuals(p: [f64; 2], x: &[f64], y: &[f64]) -> Vec<f64> {
    x.iter()
        .zip(y)
        .map(|(&xi, &yi)| (p[0] + p[1] * xi) - yi)
        .collect()
}

/// `approx_derivative(..., method='2-point')` with bounds `[0, inf)` (no step flips needed
/// for x ≥ 0): column k is `(f(x + h_k e_k) − f(x)) / ((x_k + h_k) − x_k)`.
fn jacobian(p: [f64; 2], f0: &[f64], x: &[f64], y: &[f64]) -> Vec<[f64; 2]> {
    let rstep = EPS.sqrt();
    let mut jac = vec![[0.0; 2]; f0.len()];
    for k in 0..2 {
        let sign = if p[k] >= 0.0 { 1.0 } else { -1.0 };
        let h = rstep * sign * p[k].abs().max(1.0);
        let mut q = p;
        q[k] = p[k] + h;
        let dx = q[k] - p[k];
        let f1 = residuals(q, x, y);
        for (row, (a, b)) in jac.iter_mut().zip(f1.iter().zip(f0)) {
            row[k] = (a - b) / dx;
        }
    }
    jac
}

/// Coleman–Li scaling for bounds `[0, inf)`: `v = x` where `g > 0`, else 1.
fn cl_scaling(p: [f64; 2], g: [f64; 2]) -> ([f64; 2], [f64; 2]) {
    let mut v = [1.0; 2];
    let mut dv = [0.0; 2];
    for k in 0..2 {
        if g[k] > 0.0 {
            v[k] = p[k];
            dv[k] = 1.0;
        }
    }
    (v, dv)
}

/// Thin SVD of an `r × 2` matrix by one-sided Jacobi: `(U columns, s, V)` with
/// `A = U diag(s) Vᵀ`, `s` descending.
fn svd2(a: &[[f64; 2]]) -> (Vec<[f64; 2]>, [f64; 2], [[f64; 2]; 2]) {
    let mut u: Vec<[f64; 2]> = a.to_vec();
    let mut v = [[1.0, 0.0], [0.0, 1.0]];
    for _ in 0..30 {
        let (mut al, mut be, mut ga) = (0.0, 0.0, 0.0);
        for r in &u {
            al += r[0] * r[0];
            be += r[1] * r[1];
            ga += r[0] * r[1];
        }
        if ga == 0.0 || ga.abs() <= EPS * (al * be).sqrt() {
            break;
        }
        let zeta = (be - al) / (2.0 * ga);
        let t = zeta.signum() / (zeta.abs() + (1.0 + zeta * zeta).sqrt());
        let c = 1.0 / (1.0 + t * t).sqrt();
        let s = c * t;
        for r in &mut u {
            let (x0, x1) = (r[0], r[1]);
            r[0] = c * x0 - s * x1;
            r[1] = s * x0 + c * x1;
        }
        for r in &mut v {
            let (x0, x1) = (r[0], r[1]);
            r[0] = c * x0 - s * x1;
            r[1] = s * x0 + c * x1;
        }
    }
    let mut s = [0.0; 2];
    for k in 0..2 {
        s[k] = u.iter().map(|r| r[k] * r[k]).sum::<f64>().sqrt();
    }
    let order = if s[0] >= s[1] { [0, 1] } else { [1, 0] };
    let s_sorted = [s[order[0]], s[order[1]]];
    let uu: Vec<[f64; 2]> = u
        .iter()
        .map(|r| {
            let c0 = if s[order[0]] > 0.0 {
                r[order[0]] / s[order[0]]
            } else {
                0.0
            };
            let c1 = if s[order[1]] > 0.0 {
                r[order[1]] / s[order[1]]
            } else {
                0.0
            };
            [c0, c1]
        })
        .collect();
    let vv = [
        [v[0][order[0]], v[0][order[1]]],
        [v[1][order[0]], v[1][order[1]]],
    ];
    (uu, s_sorted, vv)
}

/// scipy's `solve_lsq_trust_region` (Moré's algorithm on one SVD).
fn solve_trust_region(
    m: usize,
    uf: [f64; 2],
    s: [f64; 2],
    v: [[f64; 2]; 2],
    delta: f64,
    initial_alpha: f64,
) -> ([f64; 2], f64) {
    let suf = [s[0] * uf[0], s[1] * uf[1]];
    let phi_and_derivative = |alpha: f64| {
        let denom = [s[0] * s[0] + alpha, s[1] * s[1] + alpha];
        let p_norm = norm(&[suf[0] / denom[0], suf[1] / denom[1]]);
        let phi = p_norm - delta;
        let phi_prime =
            -(suf[0] * suf[0] / denom[0].powi(3) + suf[1] * suf[1] / denom[1].powi(3)) / p_norm;
        (phi, phi_prime)
    };
    let vdot = |w: [f64; 2]| {
        [
            v[0][0] * w[0] + v[0][1] * w[1],
            v[1][0] * w[0] + v[1][1] * w[1],
        ]
    };
    let threshold = EPS * m as f64 * s[0];
    let full_rank = s[1] > threshold;
    if full_rank {
        let p = vdot([uf[0] / s[0], uf[1] / s[1]]);
        let p = [-p[0], -p[1]];
        if norm(&p) <= delta {
            return (p, 0.0);
        }
    }
    let mut alpha_upper = norm(&suf) / delta;
    let mut alpha_lower = if full_rank {
        let (phi, phi_prime) = phi_and_derivative(0.0);
        -phi / phi_prime
    } else {
        0.0
    };
    let mut alpha = if !full_rank && initial_alpha == 0.0 {
        (0.001 * alpha_upper).max((alpha_lower * alpha_upper).sqrt())
    } else {
        initial_alpha
    };
    for _ in 0..10 {
        if alpha < alpha_lower || alpha > alpha_upper {
            alpha = (0.001 * alpha_upper).max((alpha_lower * alpha_upper).sqrt());
        }
        let (phi, phi_prime) = phi_and_derivative(alpha);
        if phi < 0.0 {
            alpha_upper = alpha;
        }
        let ratio = phi / phi_prime;
        alpha_lower = alpha_lower.max(alpha - ratio);
        alpha -= (phi + delta) * ratio / delta;
        if phi.abs() < 0.01 * delta {
            break;
        }
    }
    let w = [
        suf[0] / (s[0] * s[0] + alpha),
        suf[1] / (s[1] * s[1] + alpha),
    ];
    let p = vdot(w);
    let mut p = [-p[0], -p[1]];
    let scale = delta / norm(&p);
    p[0] *= scale;
    p[1] *= scale;
    (p, alpha)
}

/// The scaled problem's pieces that `select_step` evaluates quadratics with.
struct Quadratic<'a> {
    j_h: &'a [[f64; 2]],
    g_h: [f64; 2],
    diag_h: [f64; 2],
}

impl Quadratic<'_> {
    fn jdot(&self, s: [f64; 2]) -> Vec<f64> {
        self.j_h.iter().map(|r| r[0] * s[0] + r[1] * s[1]).collect()
    }

    /// `evaluate_quadratic`: ½ sᵀ(JᵀJ + diag)s + gᵀs.
    fn value(&self, s: [f64; 2]) -> f64 {
        let js = self.jdot(s);
        let mut q = dot(&js, &js);
        q += s[0] * self.diag_h[0] * s[0] + s[1] * self.diag_h[1] * s[1];
        0.5 * q + dot(&s, &self.g_h)
    }

    /// `build_quadratic_1d` along `s` from `s0` (a t² + b t + c).
    fn line(&self, s: [f64; 2], s0: Option<[f64; 2]>) -> (f64, f64, f64) {
        let v = self.jdot(s);
        let mut a = dot(&v, &v);
        a += s[0] * self.diag_h[0] * s[0] + s[1] * self.diag_h[1] * s[1];
        a *= 0.5;
        let mut b = dot(&self.g_h, &s);
        let mut c = 0.0;
        if let Some(s0) = s0 {
            let u = self.jdot(s0);
            b += dot(&u, &v);
            c = 0.5 * dot(&u, &u) + dot(&self.g_h, &s0);
            b += s0[0] * self.diag_h[0] * s[0] + s0[1] * self.diag_h[1] * s[1];
            c += 0.5 * (s0[0] * self.diag_h[0] * s0[0] + s0[1] * self.diag_h[1] * s0[1]);
        }
        (a, b, c)
    }
}

/// `minimize_quadratic_1d` on `[lb, ub]`.
fn minimize_1d(a: f64, b: f64, lb: f64, ub: f64, c: f64) -> (f64, f64) {
    let mut ts = vec![lb, ub];
    if a != 0.0 {
        let extremum = -0.5 * b / a;
        if lb < extremum && extremum < ub {
            ts.push(extremum);
        }
    }
    let mut best = (ts[0], ts[0] * (a * ts[0] + b) + c);
    for &t in &ts[1..] {
        let y = t * (a * t + b) + c;
        if y < best.1 {
            best = (t, y);
        }
    }
    best
}

/// `step_size_to_bound` for bounds `[0, inf)`: the smallest step to a bound and which
/// components hit it (sign of the step).
fn step_to_bound(x: [f64; 2], s: [f64; 2]) -> (f64, [f64; 2]) {
    let mut steps = [f64::INFINITY; 2];
    for k in 0..2 {
        if s[k] != 0.0 {
            steps[k] = ((0.0 - x[k]) / s[k]).max((f64::INFINITY - x[k]) / s[k]);
        }
    }
    let min = steps[0].min(steps[1]);
    let mut hits = [0.0; 2];
    for k in 0..2 {
        if steps[k] == min {
            hits[k] = s[k].signum() * f64::from(u8::from(s[k] != 0.0));
        }
    }
    (min, hits)
}

/// `intersect_trust_region`: the roots t of ‖x + s t‖ = Δ (negative, positive).
fn intersect_trust_region(x: [f64; 2], s: [f64; 2], delta: f64) -> (f64, f64) {
    let a = dot(&s, &s);
    let b = dot(&x, &s);
    let c = dot(&x, &x) - delta * delta;
    let d = (b * b - a * c).sqrt();
    let q = -(b + d.copysign(b));
    let (t1, t2) = (q / a, c / q);
    if t1 < t2 { (t1, t2) } else { (t2, t1) }
}

/// scipy's TRF `select_step`: the best of the (interior-corrected) trust-region step, its
/// reflection at the bound, and the scaled anti-gradient step.
fn select_step(
    x: [f64; 2],
    q: &Quadratic<'_>,
    mut p: [f64; 2],
    mut p_h: [f64; 2],
    d: [f64; 2],
    delta: f64,
    theta: f64,
) -> ([f64; 2], [f64; 2], f64) {
    let xp = [x[0] + p[0], x[1] + p[1]];
    if xp[0] >= 0.0 && xp[1] >= 0.0 {
        let v = q.value(p_h);
        return (p, p_h, -v);
    }
    let (p_stride, hits) = step_to_bound(x, p);
    let mut r_h = p_h;
    for k in 0..2 {
        if hits[k] != 0.0 {
            r_h[k] *= -1.0;
        }
    }
    let r = [d[0] * r_h[0], d[1] * r_h[1]];
    for k in 0..2 {
        p[k] *= p_stride;
        p_h[k] *= p_stride;
    }
    let x_on_bound = [x[0] + p[0], x[1] + p[1]];
    let (_, to_tr) = intersect_trust_region(p_h, r_h, delta);
    let (to_bound, _) = step_to_bound(x_on_bound, r);
    let mut r_stride = to_bound.min(to_tr);
    let (r_stride_l, r_stride_u) = if r_stride > 0.0 {
        let l = (1.0 - theta) * p_stride / r_stride;
        let u = if r_stride == to_bound {
            theta * to_bound
        } else {
            to_tr
        };
        (l, u)
    } else {
        (0.0, -1.0)
    };
    let (r_out, r_h_out, r_value) = if r_stride_l <= r_stride_u {
        let (a, b, c) = q.line(r_h, Some(p_h));
        let (t, val) = minimize_1d(a, b, r_stride_l, r_stride_u, c);
        r_stride = t;
        let rh = [r_h[0] * r_stride + p_h[0], r_h[1] * r_stride + p_h[1]];
        ([rh[0] * d[0], rh[1] * d[1]], rh, val)
    } else {
        (r, r_h, f64::INFINITY)
    };
    for k in 0..2 {
        p[k] *= theta;
        p_h[k] *= theta;
    }
    let p_value = q.value(p_h);
    let mut ag_h = [-q.g_h[0], -q.g_h[1]];
    let mut ag = [d[0] * ag_h[0], d[1] * ag_h[1]];
    let to_tr = delta / norm(&ag_h);
    let (to_bound, _) = step_to_bound(x, ag);
    let ag_stride = if to_bound < to_tr {
        theta * to_bound
    } else {
        to_tr
    };
    let (a, b, _) = q.line(ag_h, None);
    let (ag_stride, ag_value) = minimize_1d(a, b, 0.0, ag_stride, 0.0);
    for k in 0..2 {
        ag_h[k] *= ag_stride;
        ag[k] *= ag_stride;
    }
    if p_value < r_value && p_value < ag_value {
        (p, p_h, -p_value)
    } else if r_value < p_value && r_value < ag_value {
        (r_out, r_h_out, -r_value)
    } else {
        (ag, ag_h, -ag_value)
    }
}

/// `make_strictly_feasible(x, [0, 0], [inf, inf], rstep=0)`.
fn strictly_feasible(x: [f64; 2]) -> [f64; 2] {
    x.map(|v| if v <= 0.0 { f64::from_bits(1) } else { v })
}

/// The fitted `[a, b]` and `pcov[0][0]` of scipy's bounded `curve_fit` of `a + b x`.
pub(crate) fn curve_fit_line_nonneg(xs: &[f64], ys: &[f64]) -> ([f64; 2], f64) {
    let m = xs.len();
    let mut x = [1.0, 1.0];
    let mut f = residuals(x, xs, ys);
    let mut jac = jacobian(x, &f, xs, ys);
    let mut cost = 0.5 * dot(&f, &f);
    let grad = |jac: &[[f64; 2]], f: &[f64]| {
        let mut g = [0.0; 2];
        for (r, fi) in jac.iter().zip(f) {
            g[0] += r[0] * fi;
            g[1] += r[1] * fi;
        }
        g
    };
    let mut g = grad(&jac, &f);
    let (v, _) = cl_scaling(x, g);
    let mut delta = norm(&[x[0] / v[0].sqrt(), x[1] / v[1].sqrt()]);
    if delta == 0.0 {
        delta = 1.0;
    }
    let max_nfev = 200;
    let mut nfev = 1;
    let mut alpha = 0.0;
    loop {
        let (v, dv) = cl_scaling(x, g);
        let g_norm = (g[0] * v[0]).abs().max((g[1] * v[1]).abs());
        if g_norm < TOL || nfev == max_nfev {
            break;
        }
        let d = [v[0].sqrt(), v[1].sqrt()];
        let diag_h = [g[0] * dv[0], g[1] * dv[1]];
        let g_h = [d[0] * g[0], d[1] * g[1]];
        let j_h: Vec<[f64; 2]> = jac.iter().map(|r| [r[0] * d[0], r[1] * d[1]]).collect();
        let mut aug = j_h.clone();
        aug.push([diag_h[0].sqrt(), 0.0]);
        aug.push([0.0, diag_h[1].sqrt()]);
        let (u, s, vv) = svd2(&aug);
        let mut uf = [0.0; 2];
        for (row, fi) in u.iter().zip(&f) {
            uf[0] += row[0] * fi;
            uf[1] += row[1] * fi;
        }
        let theta = 0.995f64.max(1.0 - g_norm);
        let q = Quadratic {
            j_h: &j_h,
            g_h,
            diag_h,
        };
        let mut actual_reduction = -1.0;
        let mut done = false;
        let (mut x_new, mut f_new, mut cost_new) = (x, f.clone(), cost);
        while actual_reduction <= 0.0 && nfev < max_nfev {
            let (p_h, a) = solve_trust_region(m, uf, s, vv, delta, alpha);
            alpha = a;
            let p = [d[0] * p_h[0], d[1] * p_h[1]];
            let (step, step_h, predicted) = select_step(x, &q, p, p_h, d, delta, theta);
            x_new = strictly_feasible([x[0] + step[0], x[1] + step[1]]);
            f_new = residuals(x_new, xs, ys);
            nfev += 1;
            let step_h_norm = norm(&step_h);
            cost_new = 0.5 * dot(&f_new, &f_new);
            actual_reduction = cost - cost_new;
            // update_tr_radius
            let ratio = if predicted > 0.0 {
                actual_reduction / predicted
            } else if predicted == 0.0 && actual_reduction == 0.0 {
                1.0
            } else {
                0.0
            };
            let delta_new = if ratio < 0.25 {
                0.25 * step_h_norm
            } else if ratio > 0.75 && step_h_norm > 0.95 * delta {
                delta * 2.0
            } else {
                delta
            };
            // check_termination
            let step_norm = norm(&step);
            let ftol_ok = actual_reduction < TOL * cost && ratio > 0.25;
            let xtol_ok = step_norm < TOL * (TOL + norm(&x));
            if ftol_ok || xtol_ok {
                done = true;
                break;
            }
            alpha *= delta / delta_new;
            delta = delta_new;
        }
        if actual_reduction > 0.0 {
            x = x_new;
            f = f_new;
            cost = cost_new;
            jac = jacobian(x, &f, xs, ys);
            g = grad(&jac, &f);
        }
        if done || nfev >= max_nfev {
            break;
        }
    }
    // pcov = (JᵀJ)⁺ · 2 cost / (m − 2), the pseudo-inverse from the SVD of the final J.
    let (_, s, vv) = svd2(&jac);
    let threshold = EPS * m as f64 * s[0];
    let mut pcov00 = 0.0;
    for k in 0..2 {
        if s[k] > threshold {
            pcov00 += vv[0][k] * vv[0][k] / (s[k] * s[k]);
        }
    }
    (x, pcov00 * (2.0 * cost / (m as f64 - 2.0)))
}
