//! Dirac-delta-at-zero mixtures per pixel or feature: the sparse cross-entropy, its gradients
//! and seeded sampling, for sparse images (jet and calorimeter images) and sparse features.
//!
//! Each element `x_i` is zero with probability `1 − π_i` and otherwise drawn from a density
//! `p_η_i`; `π` is handled as a logit `ℓ = log(π / (1 − π))`:
//!
//! ```text
//! z_i = 1[x_i ≠ 0]
//! −log p(x_i, z_i) = z_i · (softplus(−ℓ_i) − log p_η_i(x_i)) + (1 − z_i) · softplus(ℓ_i)
//! sampling:  x = z ⊙ β,  z ~ Bernoulli(σ(ℓ)),  β ~ p_η
//! ```
//!
//! This is Eq. (1) of the decoupled paper with the density term weighted by `z_i` (the printed
//! equation adds `log p_η_i(x_i)` for every pixel, but its derivation `p(x, z) = p(x | z) p(z)`
//! with `p(x | z = 0) = δ_0(x)` only charges the density for non-zero pixels, which is what the
//! text below the equation describes and what the SARM code does).
//!
//! Densities ([`Density`]): Gaussian with fixed or learned σ, logistic, exponential and a
//! categorical over discretised intensity levels (SARM's "masked softmax" output).
//!
//! ## Paper
//! - Y. Lu, J. Collado, K. Bauer, D. Whiteson, P. Baldi, "Sparse Image Generation with
//!   Decoupled Generative Models", NeurIPS 2019 ML4PS workshop, Eq. (1)–(2).
//! - Y. Lu, J. Collado, D. Whiteson, P. Baldi, "SARM: Sparse Autoregressive Model for Scalable
//!   Generation of Sparse Images in Particle Physics", PRD 2021, arXiv:2009.14017.

use candle_core::{CpuStorage, CustomOp3, DType, Layout, Shape, Tensor};
use rand::{Rng, SeedableRng};
use rand_distr::StandardNormal;

use crate::util::{Real, check_float, check_no_nan, cpu_slice};
use crate::{Error, Result};

const LN_SQRT_2PI: f64 = 0.918_938_533_204_672_8;

/// The density of the non-zero part, and the layout of its per-element parameters.
#[derive(Debug, Clone, PartialEq)]
pub enum Density {
    /// Gaussian with a fixed standard deviation (the decoupled paper uses the empirical σ of
    /// the image). Parameters `[μ]`.
    GaussianFixed {
        /// Standard deviation, positive.
        sigma: f64,
    },
    /// Gaussian with learned scale. Parameters `[μ, log σ]`.
    Gaussian,
    /// Logistic `p(x) = e^{−u} / (s (1 + e^{−u})²)`, `u = (x − μ)/s`. Parameters `[μ, log s]`.
    Logistic,
    /// Exponential on `x > 0`, `p(x) = λ e^{−λx}`. Parameters `[log λ]`.
    Exponential,
    /// Gaussian truncated to `x > 0` (SARM's truncated normal for positive intensities),
    /// `p(x) = N(x; μ, σ) / Φ(μ/σ)`. Parameters `[μ, log σ]`.
    TruncatedGaussian,
    /// Categorical over discretised intensity levels (SARM). Parameters: `K` logits, one per
    /// level; a non-zero `x` is assigned to the nearest level.
    Categorical {
        /// The `K` non-zero levels, strictly increasing.
        levels: Vec<f64>,
    },
}

impl Density {
    /// Number of parameters per element (`P`).
    pub fn num_params(&self) -> usize {
        match self {
            Density::GaussianFixed { .. } | Density::Exponential => 1,
            Density::Gaussian | Density::Logistic | Density::TruncatedGaussian => 2,
            Density::Categorical { levels } => levels.len(),
        }
    }
}

/// A per-element Dirac-delta-at-zero mixture with density [`Density`].
#[derive(Debug, Clone, PartialEq)]
pub struct DiracMixture {
    density: Density,
}

/// Index of the level nearest to `x` (`levels` strictly increasing and non-empty; ties go to
/// the lower level) — how [`Density::Categorical`] assigns a non-zero value to a level. 0 for
/// empty `levels`.
pub fn nearest_level(levels: &[f64], x: f64) -> usize {
    let p = levels.partition_point(|&l| l < x);
    if p == 0 {
        0
    } else if p == levels.len() {
        levels.len() - 1
    } else if x - levels[p - 1] <= levels[p] - x {
        p - 1
    } else {
        p
    }
}

/// `log Φ(a)` for the standard normal CDF: `log(erfc(−a/√2) / 2)`, and below a per-type cut
/// the asymptotic series `Φ(a) ≈ φ(a)/(−a) · (1 − a⁻² + 3a⁻⁴ − 15a⁻⁶ + 105a⁻⁸)`.
///
/// The cut sits where `erfc` is still a normal float and the series' first dropped term
/// (945 a⁻¹⁰, absolute in the log) is negligible: `a = −30` in f64 (`erfc` underflows near
/// `a = −38`; the term costs < 1e-14 relative), `a = −10` in f32 (`erfcf` leaves the normal
/// range near `a = −13` and returns 0, so −∞, below `a ≈ −20`; the term is under f32 rounding).
#[inline]
fn log_ndtr<T: Real>(a: T) -> T {
    let cut = if T::DTYPE == DType::F32 { -10.0 } else { -30.0 };
    if a < T::c(cut) {
        let r = T::c(1.0) / (a * a);
        let series =
            T::c(1.0) - r * (T::c(1.0) - r * (T::c(3.0) - r * (T::c(15.0) - r * T::c(105.0))));
        T::c(-0.5) / r - (-a).ln() - T::c(LN_SQRT_2PI) + series.ln()
    } else {
        (T::c(0.5) * (-a * T::c(std::f64::consts::FRAC_1_SQRT_2)).erfc()).ln()
    }
}

/// Per-element negative log-likelihood and its gradient with respect to the logit and the
/// density parameters (written into `grad[0]` and `grad[1..]`).
#[inline]
fn element<T: Real>(density: &Density, x: T, l: T, p: &[T], grad: Option<&mut [T]>) -> T {
    let zero = T::c(0.0);
    let one = T::c(1.0);
    if x == zero {
        if let Some(g) = grad {
            g[0] = l.sigmoid();
            g[1..].iter_mut().for_each(|v| *v = zero);
        }
        return l.softplus();
    }
    let gate = (-l).softplus();
    let mut grad = grad;
    if let Some(g) = grad.as_deref_mut() {
        g[0] = l.sigmoid() - one;
    }
    let (nlp, _) = match density {
        Density::GaussianFixed { sigma } => {
            let s = T::c(*sigma);
            let u = (x - p[0]) / s;
            let nlp = T::c(0.5) * u * u + T::c(sigma.ln() + LN_SQRT_2PI);
            (nlp, grad.map(|g| g[1] = -u / s))
        }
        Density::Gaussian => {
            let s = p[1].exp();
            let u = (x - p[0]) / s;
            let nlp = T::c(0.5) * u * u + p[1] + T::c(LN_SQRT_2PI);
            (
                nlp,
                grad.map(|g| {
                    g[1] = -u / s;
                    g[2] = one - u * u;
                }),
            )
        }
        Density::Logistic => {
            let s = p[1].exp();
            let u = (x - p[0]) / s;
            let nlp = u + p[1] + T::c(2.0) * (-u).softplus();
            let t = (u * T::c(0.5)).tanh();
            (
                nlp,
                grad.map(|g| {
                    g[1] = -t / s;
                    g[2] = one - u * t;
                }),
            )
        }
        Density::TruncatedGaussian => {
            let s = p[1].exp();
            let u = (x - p[0]) / s;
            let a = p[0] / s;
            let lz = log_ndtr(a);
            let nlp = T::c(0.5) * u * u + p[1] + T::c(LN_SQRT_2PI) + lz;
            // Inverse Mills ratio φ(a) / Φ(a), in log space for a ≪ 0.
            let mills = (T::c(-0.5) * a * a - T::c(LN_SQRT_2PI) - lz).exp();
            (
                nlp,
                grad.map(|g| {
                    g[1] = (mills - u) / s;
                    g[2] = one - u * u - a * mills;
                }),
            )
        }
        Density::Exponential => {
            let lam = p[0].exp();
            (lam * x - p[0], grad.map(|g| g[1] = lam * x - one))
        }
        Density::Categorical { levels } => {
            let k = nearest_level(levels, x.to_f64());
            let m = p.iter().fold(T::neg_infinity(), |a, &v| a.fmax(v));
            let den = p.iter().fold(zero, |a, &v| a + (v - m).exp());
            let lse = m + den.ln();
            (
                lse - p[k],
                grad.map(|g| {
                    for (j, (gj, &pj)) in g[1..].iter_mut().zip(p).enumerate() {
                        *gj = (pj - m).exp() / den - if j == k { one } else { zero };
                    }
                }),
            )
        }
    };
    gate + nlp
}

impl DiracMixture {
    /// A mixture with the given density.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] for a non-positive or non-finite fixed σ, or categorical levels
    /// that are empty, non-finite, zero or not strictly increasing.
    pub fn new(density: Density) -> Result<Self> {
        let bad = |field, value: String, reason| Error::InvalidConfig {
            component: "Density",
            field,
            value,
            reason,
        };
        match &density {
            Density::GaussianFixed { sigma } if !(sigma.is_finite() && *sigma > 0.0) => {
                return Err(bad(
                    "sigma",
                    sigma.to_string(),
                    "must be finite and positive",
                ));
            }
            Density::Categorical { levels } => {
                let ok = !levels.is_empty()
                    && levels.iter().all(|l| l.is_finite() && *l != 0.0)
                    && levels.windows(2).all(|w| w[0] < w[1]);
                if !ok {
                    return Err(bad(
                        "levels",
                        format!("{levels:?}"),
                        "must be non-empty, finite, non-zero and strictly increasing",
                    ));
                }
            }
            _ => {}
        }
        Ok(Self { density })
    }

    /// The density of the non-zero part.
    pub fn density(&self) -> &Density {
        &self.density
    }

    /// Number of density parameters per element (`P`).
    pub fn num_params(&self) -> usize {
        self.density.num_params()
    }

    fn check(&self, x: &Tensor, logits: &Tensor, params: &Tensor, op: &'static str) -> Result<()> {
        let dtype = check_float(x, op, "x")?;
        for (t, arg) in [(logits, "logits"), (params, "params")] {
            if t.dtype() != dtype {
                return Err(Error::DTypeMismatch {
                    op,
                    arg,
                    expected: "the dtype of x",
                    found: t.dtype(),
                });
            }
        }
        if logits.shape() != x.shape() {
            return Err(Error::ShapeMismatch {
                op,
                arg: "logits",
                expected: format!("the shape of x, {:?}", x.dims()),
                found: logits.shape().clone(),
            });
        }
        let mut pdims = x.dims().to_vec();
        pdims.push(self.num_params());
        if params.dims() != pdims.as_slice() {
            return Err(Error::ShapeMismatch {
                op,
                arg: "params",
                expected: format!("[..x.shape, P] = {pdims:?}"),
                found: params.shape().clone(),
            });
        }
        check_no_nan(x, op, "x")?;
        check_no_nan(logits, op, "logits")?;
        check_no_nan(params, op, "params")?;
        let support = match self.density {
            Density::Exponential => Some("x >= 0 (exponential)"),
            Density::TruncatedGaussian => Some("x >= 0 (truncated gaussian)"),
            _ => None,
        };
        if let Some(support) = support {
            let v = x.flatten_all()?.to_dtype(DType::F64)?.to_vec1::<f64>()?;
            if let Some(index) = v.iter().position(|&x| x < 0.0) {
                return Err(Error::OutOfSupport {
                    op,
                    index,
                    value: v[index],
                    support,
                });
            }
        }
        Ok(())
    }

    /// Per-element sparse negative log-likelihood, differentiable with respect to `logits` and
    /// `params` (hand-written gradients, see [`DiracMixture::nll_grads`]).
    ///
    /// ```text
    /// nll_i = z_i · (softplus(−ℓ_i) − log p_η_i(x_i)) + (1 − z_i) · softplus(ℓ_i),  z_i = 1[x_i ≠ 0]
    /// ```
    ///
    /// # Shapes
    /// `x`, `logits`: any shape `S` (e.g. `[B, H, W]`), `params`: `[..S, P]` → `S`
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`], [`Error::DTypeMismatch`], [`Error::NotANumber`] for NaN in any
    /// input, [`Error::OutOfSupport`] for negative `x` with [`Density::Exponential`] or
    /// [`Density::TruncatedGaussian`].
    pub fn nll(&self, x: &Tensor, logits: &Tensor, params: &Tensor) -> Result<Tensor> {
        self.check(x, logits, params, "DiracMixture::nll")?;
        Ok(x.contiguous()?.detach().apply_op3(
            &logits.contiguous()?,
            &params.contiguous()?,
            DiracNll {
                density: self.density.clone(),
            },
        )?)
    }

    /// The sparse cross-entropy of Eq. (1)–(2): the per-element NLL summed over all elements
    /// and averaged over the leading (batch) dimension.
    ///
    /// # Shapes
    /// `x`, `logits`: `[B, ..]`, `params`: `[B, .., P]` → scalar
    ///
    /// # Errors
    /// As [`DiracMixture::nll`]; [`Error::ShapeMismatch`] for a rank-0 `x`.
    pub fn sparse_cross_entropy(
        &self,
        x: &Tensor,
        logits: &Tensor,
        params: &Tensor,
    ) -> Result<Tensor> {
        let b = match x.dims().first() {
            Some(&b) if b > 0 => b,
            _ => {
                return Err(Error::ShapeMismatch {
                    op: "DiracMixture::sparse_cross_entropy",
                    arg: "x",
                    expected: "[B, ..] with B >= 1".to_string(),
                    found: x.shape().clone(),
                });
            }
        };
        Ok((self.nll(x, logits, params)?.sum_all()? / b as f64)?)
    }

    /// Analytic per-element gradients of [`DiracMixture::nll`]: `(d nll / d ℓ, d nll / d η)`.
    ///
    /// ```text
    /// d/dℓ = σ(ℓ) − z
    /// Gaussian:    d/dμ = −u/σ,          d/dlog σ = 1 − u²,        u = (x − μ)/σ
    /// Logistic:    d/dμ = −tanh(u/2)/s,  d/dlog s = 1 − u tanh(u/2), u = (x − μ)/s
    /// Exponential: d/dlog λ = λx − 1
    /// Categorical: d/dθ_j = softmax(θ)_j − 1[j = k(x)]
    /// ```
    /// (density gradients are zero where `x = 0`).
    ///
    /// # Shapes
    /// `x`, `logits`: `S`, `params`: `[..S, P]` → (`S`, `[..S, P]`)
    ///
    /// # Errors
    /// As [`DiracMixture::nll`].
    pub fn nll_grads(
        &self,
        x: &Tensor,
        logits: &Tensor,
        params: &Tensor,
    ) -> Result<(Tensor, Tensor)> {
        self.check(x, logits, params, "DiracMixture::nll_grads")?;
        let g = DiracNll {
            density: self.density.clone(),
        }
        .grads(
            &x.contiguous()?,
            &logits.contiguous()?,
            &params.contiguous()?,
        )?;
        let p = self.num_params();
        let gl = g.narrow(1, 0, 1)?.reshape(x.shape())?;
        let gp = g.narrow(1, 1, p)?.reshape(params.shape())?;
        Ok((gl, gp))
    }

    /// The same NLL built from plain candle ops (autograd-differentiable); the test oracle.
    ///
    /// # Shapes
    /// As [`DiracMixture::nll`].
    ///
    /// # Errors
    /// As [`DiracMixture::nll`].
    pub fn nll_reference(&self, x: &Tensor, logits: &Tensor, params: &Tensor) -> Result<Tensor> {
        self.check(x, logits, params, "DiracMixture::nll_reference")?;
        let softplus = |t: &Tensor| -> candle_core::Result<Tensor> {
            t.relu()? + (t.abs()?.neg()?.exp()? + 1.0)?.log()?
        };
        let z = x.ne(0f64)?.to_dtype(x.dtype())?;
        let param = |k: usize| -> candle_core::Result<Tensor> {
            params.narrow(x.rank(), k, 1)?.squeeze(x.rank())
        };
        let nlp = match &self.density {
            Density::GaussianFixed { sigma } => {
                let u = ((x - param(0)?)? / *sigma)?;
                ((u.sqr()? * 0.5)? + (sigma.ln() + LN_SQRT_2PI))?
            }
            Density::Gaussian => {
                let ls = param(1)?;
                let u = ((x - param(0)?)? / ls.exp()?)?;
                (((u.sqr()? * 0.5)? + ls)? + LN_SQRT_2PI)?
            }
            Density::Logistic => {
                let ls = param(1)?;
                let u = ((x - param(0)?)? / ls.exp()?)?;
                ((&u + ls)? + (softplus(&u.neg()?)? * 2.0)?)?
            }
            Density::TruncatedGaussian => {
                let ls = param(1)?;
                let s = ls.exp()?;
                let mu = param(0)?;
                let u = ((x - &mu)? / &s)?;
                let a = (mu / s)?;
                let log_z =
                    (((a * std::f64::consts::FRAC_1_SQRT_2)?.erf()? + 1.0)? * 0.5)?.log()?;
                ((((u.sqr()? * 0.5)? + ls)? + LN_SQRT_2PI)? + log_z)?
            }
            Density::Exponential => {
                let lr = param(0)?;
                ((lr.exp()? * x)? - lr)?
            }
            Density::Categorical { levels } => {
                let flat: Vec<f64> = x.flatten_all()?.to_dtype(DType::F64)?.to_vec1()?;
                let idx: Vec<u32> = flat
                    .iter()
                    .map(|&v| nearest_level(levels, v) as u32)
                    .collect();
                let idx = Tensor::from_vec(idx, x.shape(), x.device())?.unsqueeze(x.rank())?;
                let m = params.max_keepdim(x.rank())?.detach();
                let lse = (params
                    .broadcast_sub(&m)?
                    .exp()?
                    .sum_keepdim(x.rank())?
                    .log()?
                    + &m)?;
                (lse - params.gather(&idx, x.rank())?)?.squeeze(x.rank())?
            }
        };
        // z = 0 elements must not see the density (it may be infinite there, e.g. log λ·0).
        let nlp = z.ne(0f64)?.where_cond(&nlp, &nlp.zeros_like()?)?;
        let on = ((softplus(&logits.neg()?)? + nlp)? * &z)?;
        let off = (softplus(logits)? * (1.0 - &z)?)?;
        Ok((on + off)?)
    }

    /// Draws `x = z ⊙ β` with `z ~ Bernoulli(σ(ℓ))` and `β ~ p_η`, from a generator seeded by
    /// `seed` (same seed, same inputs → same output, on any device; drawn on the host).
    ///
    /// # Shapes
    /// `logits`: `S`, `params`: `[..S, P]` → `S`, in the dtype and on the device of `logits`
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`], [`Error::DTypeMismatch`], [`Error::NotANumber`].
    pub fn sample(&self, logits: &Tensor, params: &Tensor, seed: u64) -> Result<Tensor> {
        const OP: &str = "DiracMixture::sample";
        // Validate with a dummy all-zero x of the right shape.
        let x = logits.zeros_like()?;
        self.check(&x, logits, params, OP)?;
        let l: Vec<f64> = logits.flatten_all()?.to_dtype(DType::F64)?.to_vec1()?;
        let p: Vec<f64> = params.flatten_all()?.to_dtype(DType::F64)?.to_vec1()?;
        let np = self.num_params();
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let mut out = Vec::with_capacity(l.len());
        for (i, &li) in l.iter().enumerate() {
            let pi = &p[i * np..(i + 1) * np];
            let u: f64 = rng.random();
            // Always draw β too, so element i's stream does not depend on earlier z's.
            let beta = match &self.density {
                Density::GaussianFixed { sigma } => {
                    pi[0] + sigma * rng.sample::<f64, _>(StandardNormal)
                }
                Density::Gaussian => pi[0] + pi[1].exp() * rng.sample::<f64, _>(StandardNormal),
                Density::Logistic => {
                    let v: f64 = rng.random_range(f64::EPSILON..1.0);
                    pi[0] + pi[1].exp() * (v.ln() - (-v).ln_1p())
                }
                Density::Exponential => {
                    let v: f64 = rng.random();
                    -(-v).ln_1p() / pi[0].exp()
                }
                Density::TruncatedGaussian => {
                    // Inverse CDF on the upper tail: z = Φ⁻¹(1 − v·Φ(a)) = −Φ⁻¹(v·Φ(a)).
                    let (mu, sigma) = (pi[0], pi[1].exp());
                    let v: f64 = rng.random_range(f64::MIN_POSITIVE..1.0);
                    let q = v * log_ndtr(mu / sigma).exp(); // P(Z > -a) mass, scaled
                    let z = std::f64::consts::SQRT_2 * candle_core::cpu::erf::erfc_inv(2.0 * q);
                    (mu + sigma * z).max(f64::MIN_POSITIVE)
                }
                Density::Categorical { levels } => {
                    let m = pi.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                    let w: Vec<f64> = pi.iter().map(|&t| (t - m).exp()).collect();
                    let mut v: f64 = rng.random::<f64>() * w.iter().sum::<f64>();
                    let mut k = w.len() - 1;
                    for (j, wj) in w.iter().enumerate() {
                        if v < *wj {
                            k = j;
                            break;
                        }
                        v -= wj;
                    }
                    levels[k]
                }
            };
            out.push(if u < f64::sigmoid(li) { beta } else { 0.0 });
        }
        Ok(Tensor::from_vec(out, logits.shape(), logits.device())?.to_dtype(logits.dtype())?)
    }
}

/// Converts probabilities `π ∈ [0, 1]` to logits `log(π / (1 − π))` (±∞ at the ends).
///
/// # Errors
/// [`Error::DTypeMismatch`] for non-float input, [`Error::NotANumber`] for NaN,
/// [`Error::ProbabilityOutOfRange`] for a value outside `[0, 1]` (first offending index).
pub fn logits_from_probs(pi: &Tensor) -> Result<Tensor> {
    const OP: &str = "logits_from_probs";
    check_float(pi, OP, "pi")?;
    check_no_nan(pi, OP, "pi")?;
    let v: Vec<f64> = pi.flatten_all()?.to_dtype(DType::F64)?.to_vec1()?;
    if let Some(index) = v.iter().position(|p| !(0.0..=1.0).contains(p)) {
        return Err(Error::ProbabilityOutOfRange {
            op: OP,
            index,
            value: v[index],
        });
    }
    Ok((pi.log()? - (1.0 - pi)?.log()?)?)
}

/// The sparse NLL as a candle [`CustomOp3`] on `(x S, logits S, params [..S, P])`; use
/// [`DiracMixture::nll`], which validates inputs.
#[derive(Debug, Clone)]
pub(crate) struct DiracNll {
    density: Density,
}

/// Per-element gradients `[numel, 1 + P]` as a no-backward op.
#[derive(Debug, Clone)]
struct DiracNllGrad {
    density: Density,
}

fn nll_kernel<T: Real>(d: &Density, x: &[T], l: &[T], p: &[T]) -> Vec<T> {
    let np = d.num_params();
    x.iter()
        .zip(l)
        .enumerate()
        .map(|(i, (&xi, &li))| element(d, xi, li, &p[i * np..(i + 1) * np], None))
        .collect()
}

fn grad_kernel<T: Real>(d: &Density, x: &[T], l: &[T], p: &[T]) -> Vec<T> {
    let np = d.num_params();
    let mut out = vec![T::c(0.0); x.len() * (np + 1)];
    for (i, (&xi, &li)) in x.iter().zip(l).enumerate() {
        let g = &mut out[i * (np + 1)..(i + 1) * (np + 1)];
        element(d, xi, li, &p[i * np..(i + 1) * np], Some(g));
    }
    out
}

macro_rules! dirac_cpu {
    ($self:ident, $kernel:ident, $s1:ident, $l1:ident, $s2:ident, $l2:ident, $s3:ident, $l3:ident) => {
        match $s1 {
            CpuStorage::F32(_) => CpuStorage::F32($kernel(
                &$self.density,
                cpu_slice::<f32>($s1, $l1, $self.name())?,
                cpu_slice::<f32>($s2, $l2, $self.name())?,
                cpu_slice::<f32>($s3, $l3, $self.name())?,
            )),
            CpuStorage::F64(_) => CpuStorage::F64($kernel(
                &$self.density,
                cpu_slice::<f64>($s1, $l1, $self.name())?,
                cpu_slice::<f64>($s2, $l2, $self.name())?,
                cpu_slice::<f64>($s3, $l3, $self.name())?,
            )),
            _ => candle_core::bail!("{}: only f32/f64 are supported", $self.name()),
        }
    };
}

impl DiracNll {
    fn grads(&self, x: &Tensor, logits: &Tensor, params: &Tensor) -> candle_core::Result<Tensor> {
        x.detach().apply_op3_no_bwd(
            &logits.detach(),
            &params.detach(),
            &DiracNllGrad {
                density: self.density.clone(),
            },
        )
    }
}

impl CustomOp3 for DiracNll {
    fn name(&self) -> &'static str {
        "dirac_nll"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let st = dirac_cpu!(self, nll_kernel, s1, l1, s2, l2, s3, l3);
        Ok((st, l1.shape().clone()))
    }

    #[cfg(feature = "cuda")]
    fn cuda_fwd(
        &self,
        s1: &candle_core::CudaStorage,
        l1: &Layout,
        s2: &candle_core::CudaStorage,
        l2: &Layout,
        s3: &candle_core::CudaStorage,
        l3: &Layout,
    ) -> candle_core::Result<(candle_core::CudaStorage, Shape)> {
        crate::cuda::dirac_fwd(&self.density, false, s1, l1, s2, l2, s3, l3)
    }

    fn bwd(
        &self,
        x: &Tensor,
        logits: &Tensor,
        params: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let p = self.density.num_params();
        let g = self.grads(x, logits, params)?; // [numel, 1 + P]
        let gres = grad.flatten_all()?.unsqueeze(1)?;
        let g = g.broadcast_mul(&gres)?;
        let gl = g.narrow(1, 0, 1)?.reshape(x.shape())?;
        let gp = g.narrow(1, 1, p)?.reshape(params.shape())?;
        Ok((None, Some(gl), Some(gp)))
    }
}

impl CustomOp3 for DiracNllGrad {
    fn name(&self) -> &'static str {
        "dirac_nll_grad"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let st = dirac_cpu!(self, grad_kernel, s1, l1, s2, l2, s3, l3);
        let n = l1.shape().elem_count();
        Ok((st, Shape::from((n, self.density.num_params() + 1))))
    }

    #[cfg(feature = "cuda")]
    fn cuda_fwd(
        &self,
        s1: &candle_core::CudaStorage,
        l1: &Layout,
        s2: &candle_core::CudaStorage,
        l2: &Layout,
        s3: &candle_core::CudaStorage,
        l3: &Layout,
    ) -> candle_core::Result<(candle_core::CudaStorage, Shape)> {
        crate::cuda::dirac_fwd(&self.density, true, s1, l1, s2, l2, s3, l3)
    }
}

#[cfg(test)]
mod tests;
