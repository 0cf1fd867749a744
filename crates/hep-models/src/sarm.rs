//! SARM, the sparse autoregressive model of sparse images: an exact-likelihood model whose
//! every pixel is a Dirac delta at zero mixed with a categorical over discretised intensity
//! levels, factorised autoregressively in a two-scale order.
//!
//! ```text
//! order:   the w × w window at the image centre in raster order, then the other pixels in
//!          raster order
//! p(x)   = Π_{inner i} p(x_i | x_inner,<i) · Π_{outer o} p(x_o | x_inner, x_outer,<o)
//!          inner AR: a MADE over the window pixels
//!          outer AR: a MADE over the other pixels with the whole window as an unmasked input
//! pixel:   p(x = 0) = 1 − σ(ℓ),  p(x = v_k) = σ(ℓ) · softmax(θ)_k      (hep-sparse's
//!          DiracMixture with Density::Categorical; v_1 < … < v_K the levels)
//! MADE:    inputs [cond ; (1[x_j ≠ 0], log(1+x_j)/log(1+v_K)) per AR pixel j]
//!          → masked linear → ReLU → masked linear → ReLU → masked linear → (ℓ_j, θ_j) per pixel
//!          degrees: conditioning inputs 0, AR pixel j (0-based) j+1; hidden units: with
//!          conditioning inputs the first H/4 have degree 0 (they see only the window), the
//!          others u' = 0.. get ⌊u'·D/H'⌋; weight kept iff deg(out) ≥ deg(in) (hidden) or
//!          deg(in) ≤ j (output of pixel j)
//! ```
//!
//! pT budget (optional, [`Budget`]): SARM has no notion of an image's total intensity, which
//! its per-pixel heads must build up as a sum of ~20 sampled pixels; on jet images its pT and
//! mass spreads come out far too wide. With a budget the model becomes `p(c) · p(x | c)`:
//! `c` is the bin of the image's total quantised intensity `T = Σ x` among `B` bins at
//! training-set quantiles, `p(c)` their training frequencies and `T_c` the mean total of the
//! training images in bin `c`. Both MADEs get `[one-hot(c), T_c / T_max]` as conditioning
//! inputs (degree 0), and pixel `j`'s gate and level logits get
//! `Σ_r f_r · a_{j,r}` with `a_{j,r} ∈ R^{1+K}` learned (zero at the start) and the running
//! features `f = ((T_c − S_<j) / T_max, (T_c − S_<j) / T_c, N_<j / P)` (`S_<j`, `N_<j`: summed
//! quantised intensity and number of non-zero pixels before `j` in the order). Sampling draws
//! `c` first, then the pixels. The reported likelihood is `p(c(x)) · p(x | c(x))`, a lower
//! bound on the model's `p(x) = Σ_c p(c) p(x | c)` (the conditional does not force `Σ x` into
//! bin `c`), so its NLL is an upper bound.
//!
//! Factored total (optional, [`Totals`], [`Sarm::factored`]): the budget still leaves the
//! total to ~20 sampled pixels, and on jet images the heads do not learn to spend it. With a
//! factored total the model becomes `p(T) · p(s | T)`: `T = Σx` is drawn from the training
//! images' totals (their empirical quantile function, linearly interpolated), SARM models
//! the image's *shape* `s = x / T` (levels fitted to the shapes; an empty image has the empty
//! shape) with both MADEs conditioned on `z(T) = (T − μ) / σ` (a degree-0 input; μ, σ of the
//! quantiles), and a sample is `x = T · q / Σq` for the sampled quantised shape `q`. The
//! image's total then follows the training totals exactly, and any observable linear in the
//! intensities (jet pT, jet mass, an isolation sum) is `T` times the shape's value, with the
//! shape free to depend on `T` (a W' jet's prongs are closer at higher pT). The likelihood
//! reported is the exact likelihood of the quantised shape given `T`; `p(T)` adds no learned
//! term. Exclusive with the budget (a shape's total is 1).
//!
//! The levels are geometrically spaced between the 1% quantile and the largest non-zero
//! training intensity (see [`fit_levels`]), so the likelihood is the exact likelihood of the
//! images quantised to the levels (each non-zero pixel replaced by its nearest level); it is
//! reported in bits per image.
//!
//! Sampling is ancestral, pixel by pixel, and exploits the sparsity: the first-layer
//! pre-activations are updated with one column per *non-zero* sampled pixel, the second
//! hidden layer is recomputed only after a non-zero pixel, and a pixel's categorical head is
//! evaluated only when its gate fires. The dense network forward is the oracle for these
//! incremental conditionals (tested).
//!
//! Deviations from the paper's setup (SARM used 277 levels and other density options): the
//! number of levels is a parameter (default 32) chosen for CPU training; only the categorical
//! density is implemented here.
//!
//! ## Reference
//! Y. Lu, J. Collado, D. Whiteson, P. Baldi, *SARM: Sparse Autoregressive Model for Scalable
//! Generation of Sparse Images in Particle Physics*, Phys. Rev. D 103 (2021) 036012,
//! arXiv:2009.14017 (`../shared/papers/sarm-sparse-autoregressive-summary.txt`).

use candle_core::{DType, Device, Tensor};
use candle_nn::{AdamW, Optimizer, ParamsAdamW, VarBuilder, VarMap};
use hep_sparse::{Density, DiracMixture, nearest_level};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rayon::prelude::*;

use crate::mpgan::train::{init_vars, named_vars, step_rng};
use crate::{Error, Result};

/// Sizes and optimiser settings of a [`Sarm`].
#[derive(Debug, Clone, PartialEq)]
pub struct SarmConfig {
    /// Image height.
    pub height: usize,
    /// Image width.
    pub width: usize,
    /// Side of the inner window modelled first (centred).
    pub window: usize,
    /// Number of intensity levels `K`.
    pub levels: usize,
    /// Width of both hidden layers of each MADE.
    pub hidden: usize,
    /// Adam learning rate.
    pub lr: f64,
}

impl SarmConfig {
    /// Defaults for an `height × width` image: a window of 0.28 of the smaller side (7 for the
    /// 25 × 25 jet images, as SARM), 32 levels, 512 hidden units, learning rate 1e-3.
    pub fn new(height: usize, width: usize) -> Self {
        Self {
            height,
            width,
            window: ((height.min(width) as f64 * 0.28).round() as usize).max(1),
            levels: 32,
            hidden: 512,
            lr: 1e-3,
        }
    }

    fn validate(&self) -> Result<()> {
        let bad = |field: &'static str, value: String, reason: &'static str| {
            Err(Error::InvalidConfig {
                component: "SarmConfig",
                field,
                value,
                reason,
            })
        };
        if self.height == 0 || self.width == 0 || self.height * self.width > 65_536 {
            return bad(
                "height/width",
                format!("{}x{}", self.height, self.width),
                "must be positive with at most 65536 pixels",
            );
        }
        if self.window == 0 || self.window >= self.height.min(self.width) {
            return bad(
                "window",
                self.window.to_string(),
                "must be positive and smaller than the image",
            );
        }
        if self.levels == 0 || self.hidden == 0 {
            return bad(
                "levels/hidden",
                format!("{}/{}", self.levels, self.hidden),
                "must be positive",
            );
        }
        if !(self.lr.is_finite() && self.lr > 0.0) {
            return bad("lr", self.lr.to_string(), "must be positive and finite");
        }
        Ok(())
    }

    /// The pixel order: the centred window in raster order, then the rest in raster order.
    pub fn order(&self) -> Vec<usize> {
        let (r0, c0) = (
            (self.height - self.window) / 2,
            (self.width - self.window) / 2,
        );
        let inside = |p: usize| {
            let (r, c) = (p / self.width, p % self.width);
            (r0..r0 + self.window).contains(&r) && (c0..c0 + self.window).contains(&c)
        };
        let all = 0..self.height * self.width;
        all.clone()
            .filter(|&p| inside(p))
            .chain(all.filter(|&p| !inside(p)))
            .collect()
    }
}

/// The quantile of the non-zero training intensities where [`fit_levels`] puts the lowest
/// level (lower nearest rank).
pub const LEVELS_LOW_QUANTILE: f64 = 0.01;

/// [`Error::InvalidConfig`] unless `n > 0`.
fn positive_count(component: &'static str, field: &'static str, n: usize) -> Result<()> {
    if n == 0 {
        return Err(Error::InvalidConfig {
            component,
            field,
            value: "0".into(),
            reason: "must be positive",
        });
    }
    Ok(())
}

/// `k` geometrically spaced levels from the [`LEVELS_LOW_QUANTILE`] quantile to the largest
/// non-zero value of `images` (`k = 1`: the median non-zero value). Geometric spacing keeps
/// the relative quantisation error below `½ (max/lo)^{1/(k−1)}` above the lowest level, tails
/// included, so sums of many pixels (isolation, jet mass) are not biased by a coarse top level.
/// Values below the lowest level are quantised to it.
///
/// The low end is a quantile, not the minimum, because a single near-zero deposit sets the
/// spacing for the whole range: our W' jet images hold a few near-zero pixels (shower photons,
/// the smallest 2.4e-13 GeV in the training half), which with the minimum made 32 levels 3.1×
/// apart, and quantising the real images alone then moved the
/// jet pT by 52 GeV and the mass by 11 GeV (W1, real vs quantised); from the 1% quantile
/// (0.028 GeV) the levels are 1.35× apart and those shifts are 5.9 and 1.0 GeV.
///
/// # Errors
/// [`Error::Shape`] when there is no positive finite value; [`Error::InvalidConfig`] for
/// `k = 0`.
pub fn fit_levels(images: &[f32], k: usize) -> Result<Vec<f64>> {
    positive_count("fit_levels", "k", k)?;
    let mut nz: Vec<f64> = images
        .iter()
        .filter(|v| v.is_finite() && **v > 0.0)
        .map(|&v| f64::from(v))
        .collect();
    if nz.is_empty() {
        return Err(Error::Shape {
            op: "fit_levels",
            arg: "images",
            expected: "at least one positive pixel".into(),
            found: vec![images.len()],
        });
    }
    nz.sort_by(f64::total_cmp);
    let low = ((nz.len() - 1) as f64 * LEVELS_LOW_QUANTILE).floor() as usize;
    let (lo, hi) = (nz[low], nz[nz.len() - 1]);
    if k == 1 || lo == hi {
        return Ok(vec![nz[nz.len() / 2]]);
    }
    let ratio = (hi / lo).ln() / (k - 1) as f64;
    let mut levels: Vec<f64> = (0..k).map(|j| lo * (ratio * j as f64).exp()).collect();
    levels[k - 1] = hi;
    levels.dedup();
    Ok(levels)
}

/// Quantises a positive value to its nearest level; zero (and below) stays zero.
fn quantise_to(levels: &[f64], v: f64) -> f64 {
    if v > 0.0 {
        levels[nearest_level(levels, v)]
    } else {
        0.0
    }
}

/// The summed quantised intensity of one image.
fn quantised_total(levels: &[f64], img: &[f32]) -> f64 {
    img.iter().map(|&v| quantise_to(levels, f64::from(v))).sum()
}

/// SARM's optional pT budget (module docs, "pT budget"): bins of the images' total quantised
/// intensity `T`.
#[derive(Debug, Clone, PartialEq)]
pub struct Budget {
    /// The lower edges of bins `1..B` (`B − 1` values, strictly increasing); bin 0 is
    /// `T < edges[0]`, the last bin is open above.
    pub edges: Vec<f64>,
    /// The mean total `T_c` of the training images in each bin.
    pub centres: Vec<f64>,
    /// The fraction `p(c)` of the training images in each bin.
    pub probs: Vec<f64>,
}

impl Budget {
    /// `bins` bins at the quantiles of the totals of `images [N, pixels]` quantised to
    /// `levels`; ties between quantiles merge bins, so there may be fewer, none of them empty.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] for `bins = 0`; [`Error::Shape`] for fewer images than bins
    /// or no image with a positive total.
    pub fn fit(images: &[f32], pixels: usize, levels: &[f64], bins: usize) -> Result<Self> {
        positive_count("Budget", "bins", bins)?;
        let mut totals: Vec<f64> = if pixels == 0 || !images.len().is_multiple_of(pixels) {
            Vec::new()
        } else {
            images
                .chunks_exact(pixels)
                .map(|img| quantised_total(levels, img))
                .collect()
        };
        if totals.len() < bins || !totals.iter().any(|&t| t > 0.0) {
            return Err(Error::Shape {
                op: "Budget::fit",
                arg: "images",
                expected: format!("[N ≥ {bins}, {pixels}] with a positive total"),
                found: vec![images.len()],
            });
        }
        totals.sort_by(f64::total_cmp);
        let n = totals.len();
        let mut edges: Vec<f64> = (1..bins)
            .map(|b| totals[b * n / bins])
            .filter(|&e| e > totals[0])
            .collect();
        edges.dedup();
        let mut sums = vec![0f64; edges.len() + 1];
        let mut counts = vec![0usize; edges.len() + 1];
        let b = Self {
            edges,
            centres: Vec::new(),
            probs: Vec::new(),
        };
        for &t in &totals {
            let c = b.bin(t);
            sums[c] += t;
            counts[c] += 1;
        }
        Ok(Self {
            centres: sums
                .iter()
                .zip(&counts)
                .map(|(s, &c)| s / c as f64)
                .collect(),
            probs: counts.iter().map(|&c| c as f64 / n as f64).collect(),
            ..b
        })
    }

    /// The bin of a total.
    pub fn bin(&self, total: f64) -> usize {
        self.edges.partition_point(|&e| e <= total)
    }

    /// Number of bins.
    pub fn bins(&self) -> usize {
        self.probs.len()
    }

    fn validate(&self) -> Result<()> {
        let b = self.probs.len();
        let ok = b > 0
            && self.centres.len() == b
            && self.edges.len() + 1 == b
            && self.edges.windows(2).all(|w| w[0] < w[1])
            && self.edges.iter().all(|e| e.is_finite())
            && self.centres.iter().all(|c| c.is_finite() && *c >= 0.0)
            && self.centres[b - 1] > 0.0
            && self.probs.iter().all(|p| p.is_finite() && *p > 0.0)
            && (self.probs.iter().sum::<f64>() - 1.0).abs() < 1e-9;
        if ok {
            Ok(())
        } else {
            Err(Error::InvalidConfig {
                component: "Sarm",
                field: "budget",
                value: format!(
                    "{} edges, {} centres, {} probabilities",
                    self.edges.len(),
                    self.centres.len(),
                    self.probs.len()
                ),
                reason: "needs B − 1 increasing edges, B finite centres (the last positive) and B positive probabilities summing to 1",
            })
        }
    }

    /// The conditioning inputs `[one-hot(c), T_c / T_max]` of bin `c`.
    fn inputs(&self, c: usize) -> Vec<f32> {
        let mut v = vec![0f32; self.bins() + 1];
        v[c] = 1.0;
        v[self.bins()] = (self.centres[c] / self.t_max()) as f32;
        v
    }

    fn t_max(&self) -> f64 {
        self.centres[self.bins() - 1]
    }

    /// `−ln p(c)`.
    fn prior_nll(&self, c: usize) -> f64 {
        -self.probs[c].ln()
    }

    /// Draws a bin from `p(c)`.
    fn draw(&self, rng: &mut StdRng) -> usize {
        let mut u: f64 = rng.random();
        for (c, &p) in self.probs.iter().enumerate() {
            if u < p {
                return c;
            }
            u -= p;
        }
        self.bins() - 1
    }
}

/// At most this many quantiles (plus one) describe the training totals in [`Totals::fit`].
pub const TOTALS_QUANTILES: usize = 1000;

/// SARM's optional factored total (module docs, "Factored total"): the empirical distribution
/// of the training images' totals, as its quantile function.
#[derive(Debug, Clone, PartialEq)]
pub struct Totals {
    /// The totals at probabilities `0, 1/Q, …, 1` (`Q + 1` values, non-decreasing,
    /// non-negative, the last positive); a draw interpolates linearly between neighbours.
    pub quantiles: Vec<f64>,
}

impl Totals {
    /// The quantile function of the totals `Σx` of `images [N, pixels]` (empty images
    /// included, so that they are drawn as often), at `Q + 1` points with
    /// `Q = min(N − 1, TOTALS_QUANTILES)` (each a linear interpolation between order
    /// statistics, numpy's default `quantile`).
    ///
    /// # Errors
    /// [`Error::Shape`] for a length that is not a multiple of `pixels`, negative or
    /// non-finite pixels, or no image with a positive total.
    pub fn fit(images: &[f32], pixels: usize) -> Result<Self> {
        let err = || Error::Shape {
            op: "Totals::fit",
            arg: "images",
            expected: format!("[N ≥ 1, {pixels}] finite, non-negative, one with a positive total"),
            found: vec![images.len()],
        };
        if pixels == 0
            || !images.len().is_multiple_of(pixels)
            || images.iter().any(|v| !v.is_finite() || *v < 0.0)
        {
            return Err(err());
        }
        let mut t: Vec<f64> = images.chunks_exact(pixels).map(image_total).collect();
        if !t.iter().any(|&t| t > 0.0) {
            return Err(err());
        }
        t.sort_by(f64::total_cmp);
        let q = (t.len() - 1).min(TOTALS_QUANTILES);
        let quantiles = (0..=q)
            .map(|k| {
                if q == 0 {
                    return t[0];
                }
                let pos = k as f64 / q as f64 * (t.len() - 1) as f64;
                let lo = (pos.floor() as usize).min(t.len() - 1);
                let hi = (lo + 1).min(t.len() - 1);
                t[lo] + (pos - lo as f64) * (t[hi] - t[lo])
            })
            .collect();
        Ok(Self { quantiles })
    }

    /// The total at probability `u ∈ [0, 1)`. Empty images are a point mass: between a zero
    /// quantile and the next the total stays zero (no totals between zero and the smallest
    /// positive one are made up).
    pub fn at(&self, u: f64) -> f64 {
        let q = self.quantiles.len() - 1;
        if q == 0 {
            return self.quantiles[0];
        }
        let pos = u.clamp(0.0, 1.0) * q as f64;
        let lo = (pos.floor() as usize).min(q - 1);
        let (a, b) = (self.quantiles[lo], self.quantiles[lo + 1]);
        if a == 0.0 {
            return 0.0;
        }
        a + (pos - lo as f64) * (b - a)
    }

    /// The conditioning input `z(T) = (T − μ) / σ`, with μ and σ the mean and standard
    /// deviation of the quantiles (σ at least 1e-6 of the largest total).
    fn input(&self, t: f64) -> f32 {
        let q = &self.quantiles;
        let n = q.len() as f64;
        let mu = q.iter().sum::<f64>() / n;
        let var = q.iter().map(|v| (v - mu).powi(2)).sum::<f64>() / n;
        let sigma = var.sqrt().max(1e-6 * q[q.len() - 1]);
        ((t - mu) / sigma) as f32
    }

    fn validate(&self) -> Result<()> {
        let q = &self.quantiles;
        if !q.is_empty()
            && q.iter().all(|v| v.is_finite() && *v >= 0.0)
            && q[q.len() - 1] > 0.0
            && q.windows(2).all(|w| w[0] <= w[1])
        {
            Ok(())
        } else {
            Err(Error::InvalidConfig {
                component: "Sarm",
                field: "totals",
                value: format!("{} quantiles", q.len()),
                reason: "needs non-negative, finite, non-decreasing quantiles, the last positive",
            })
        }
    }
}

/// The summed intensity of one image, in f64.
fn image_total(img: &[f32]) -> f64 {
    img.iter().map(|&v| f64::from(v)).sum()
}

/// Each image of `images [N, pixels]` divided by its total (module docs, "Factored total");
/// an image with a zero total stays zero. `pixels` must divide the length (checked by the
/// callers).
pub fn shapes(images: &[f32], pixels: usize) -> Vec<f32> {
    let mut out = images.to_vec();
    for img in out.chunks_exact_mut(pixels.max(1)) {
        let t = image_total(img);
        if t > 0.0 {
            for v in img {
                *v = (f64::from(*v) / t) as f32;
            }
        }
    }
    out
}

/// A quantised shape `q` scaled to the total `t`: `t · q / Σq` (all zero when `Σq = 0`).
fn scale_shape(q: &[f64], t: f64) -> Vec<f32> {
    let s: f64 = q.iter().sum();
    let f = if s > 0.0 { t / s } else { 0.0 };
    q.iter().map(|&v| (v * f) as f32).collect()
}

/// The running budget features of one image as its pixels go by, accumulated in f32 in the
/// pixel order (the same way in training and sampling).
struct Remaining {
    left: f32,
    count: f32,
    t_c: f32,
    t_max: f32,
    pixels: f32,
}

/// Number of running budget features per pixel.
const RUNNING: usize = 3;

impl Remaining {
    fn new(budget: &Budget, c: usize, pixels: usize) -> Self {
        Self {
            left: budget.centres[c] as f32,
            count: 0.0,
            t_c: budget.centres[c].max(1e-6 * budget.t_max()) as f32,
            t_max: budget.t_max() as f32,
            pixels: pixels as f32,
        }
    }

    fn add(&mut self, x: f32) {
        if x > 0.0 {
            self.left -= x;
            self.count += 1.0;
        }
    }

    /// `[(T_c − S) / T_max, (T_c − S) / T_c, N / P]`.
    fn features(&self) -> [f32; RUNNING] {
        [
            self.left / self.t_max,
            self.left / self.t_c,
            self.count / self.pixels,
        ]
    }
}

/// One MADE: masked weights as candle variables plus the masks.
struct Made {
    w: [Tensor; 3],
    b: [Tensor; 3],
    mask: [Tensor; 3],
    /// Running budget coefficients `[D, RUNNING, 1 + K]` (module docs, "pT budget").
    run: Option<Tensor>,
    /// Number of conditioning input columns.
    cond: usize,
    d: usize,
    k: usize,
}

impl Made {
    /// A MADE over `d` pixels with `cond` conditioning input columns (degree 0) and, with
    /// `running`, the per-pixel budget coefficients.
    fn new(
        cond: usize,
        d: usize,
        k: usize,
        hidden: usize,
        running: bool,
        vb: VarBuilder,
    ) -> Result<Self> {
        let inputs = cond + 2 * d;
        let outputs = d * (1 + k);
        // with conditioning inputs a quarter of the units see only them (degree 0), so that
        // the first pixels of the outer AR get a rich function of the inner window
        let h0 = if cond > 0 { hidden / 4 } else { 0 };
        let hid_deg: Vec<usize> = (0..hidden)
            .map(|u| {
                if u < h0 {
                    0
                } else {
                    (u - h0) * d / (hidden - h0)
                }
            })
            .collect();
        let in_deg: Vec<usize> = (0..inputs)
            .map(|i| if i < cond { 0 } else { (i - cond) / 2 + 1 })
            .collect();
        let dev = vb.device().clone();
        let m = |rows: usize, cols: usize, keep: &dyn Fn(usize, usize) -> bool| {
            let v: Vec<f32> = (0..rows * cols)
                .map(|i| f32::from(u8::from(keep(i / cols, i % cols))))
                .collect();
            Tensor::from_vec(v, (rows, cols), &dev)
        };
        let mask = [
            m(hidden, inputs, &|u, i| hid_deg[u] >= in_deg[i])?,
            m(hidden, hidden, &|u, v| hid_deg[u] >= hid_deg[v])?,
            m(outputs, hidden, &|o, u| hid_deg[u] <= o / (1 + k))?,
        ];
        let shapes = [(hidden, inputs), (hidden, hidden), (outputs, hidden)];
        let mut w = Vec::new();
        let mut b = Vec::new();
        for (l, &(rows, cols)) in shapes.iter().enumerate() {
            let vb = vb.pp(format!("l{l}"));
            w.push(vb.get((rows, cols), "weight")?);
            b.push(vb.get(rows, "bias")?);
        }
        let run = if running {
            Some(vb.pp("run").get((d, RUNNING, 1 + k), "coef")?)
        } else {
            None
        };
        let arr = |v: Vec<Tensor>| -> [Tensor; 3] { [v[0].clone(), v[1].clone(), v[2].clone()] };
        Ok(Self {
            w: arr(w),
            b: arr(b),
            mask,
            run,
            cond,
            d,
            k,
        })
    }

    /// `(logits [B, D], params [B, D, K])` for inputs `[B, C + 2D]` and, with the budget,
    /// the running features `[B, D, RUNNING]`.
    fn forward(&self, input: &Tensor, running: Option<&Tensor>) -> Result<(Tensor, Tensor)> {
        let mut h = input.clone();
        for l in 0..3 {
            let w = (&self.w[l] * &self.mask[l])?;
            h = h.matmul(&w.t()?)?.broadcast_add(&self.b[l])?;
            if l < 2 {
                h = h.relu()?;
            }
        }
        let mut o = h.reshape((input.dim(0)?, self.d, 1 + self.k))?;
        if let (Some(run), Some(f)) = (&self.run, running) {
            // o[b, j, t] += Σ_r f[b, j, r] · run[j, r, t]
            let add = f.unsqueeze(3)?.broadcast_mul(&run.unsqueeze(0)?)?.sum(2)?;
            o = (o + add)?;
        }
        Ok((
            o.narrow(2, 0, 1)?.squeeze(2)?,
            o.narrow(2, 1, self.k)?.contiguous()?,
        ))
    }

    fn dense(&self) -> Result<DenseMade> {
        let host = |t: Tensor| -> Result<Vec<f32>> { Ok(t.flatten_all()?.to_vec1()?) };
        let w = |l: usize| host((&self.w[l] * &self.mask[l])?);
        Ok(DenseMade {
            w1: w(0)?,
            w2: w(1)?,
            wo: w(2)?,
            b1: host(self.b[0].clone())?,
            b2: host(self.b[1].clone())?,
            bo: host(self.b[2].clone())?,
            run: self.run.clone().map(host).transpose()?,
            inputs: self.cond + 2 * self.d,
            hidden: self.b[0].dim(0)?,
            cond: self.cond,
            d: self.d,
            k: self.k,
        })
    }
}

/// A MADE's masked weights on the host, for incremental ancestral sampling.
struct DenseMade {
    w1: Vec<f32>,
    w2: Vec<f32>,
    wo: Vec<f32>,
    b1: Vec<f32>,
    b2: Vec<f32>,
    bo: Vec<f32>,
    run: Option<Vec<f32>>,
    inputs: usize,
    hidden: usize,
    cond: usize,
    d: usize,
    k: usize,
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

impl DenseMade {
    /// Samples the `D` pixels given the conditioning inputs `cond [C]`; with `record`, also
    /// pushes every pixel's `(ℓ, θ_1..θ_K)` (all heads evaluated). With the budget, `left`
    /// holds the running features before the first pixel and is advanced past the sampled
    /// ones.
    fn sample(
        &self,
        cond: &[f32],
        levels: &[f64],
        encode: impl Fn(f64) -> f32,
        mut left: Option<&mut Remaining>,
        rng: &mut StdRng,
        mut record: Option<&mut Vec<f32>>,
    ) -> Vec<f64> {
        let (h, k) = (self.hidden, self.k);
        let mut pre1: Vec<f32> = (0..h)
            .map(|u| {
                self.b1[u]
                    + dot(
                        &self.w1[u * self.inputs..u * self.inputs + cond.len()],
                        cond,
                    )
            })
            .collect();
        let mut h1 = vec![0f32; h];
        let mut h2 = vec![0f32; h];
        let mut dirty = true;
        let mut theta = vec![0f32; k];
        let mut out = vec![0f64; self.d];
        for (j, x) in out.iter_mut().enumerate() {
            if dirty {
                for (a, &p) in h1.iter_mut().zip(&pre1) {
                    *a = p.max(0.0);
                }
                for (u, a) in h2.iter_mut().enumerate() {
                    *a = (self.b2[u] + dot(&self.w2[u * h..(u + 1) * h], &h1)).max(0.0);
                }
                dirty = false;
            }
            let row = j * (1 + k);
            let feats = left.as_deref().map(Remaining::features);
            // output `t` of pixel j (0: gate, 1..=K: levels)
            let head = |t: usize| {
                let r = row + t;
                let mut v = self.bo[r] + dot(&self.wo[r * h..(r + 1) * h], &h2);
                if let (Some(run), Some(f)) = (&self.run, &feats) {
                    for (q, fq) in f.iter().enumerate() {
                        v += run[(j * RUNNING + q) * (1 + k) + t] * fq;
                    }
                }
                v
            };
            let gate = head(0);
            let fill = |t: &mut [f32]| {
                for (i, v) in t.iter_mut().enumerate() {
                    *v = head(1 + i);
                }
            };
            if let Some(rec) = record.as_deref_mut() {
                fill(&mut theta);
                rec.push(gate);
                rec.extend_from_slice(&theta);
            }
            let u: f64 = rng.random();
            if u >= 1.0 / (1.0 + (-f64::from(gate)).exp()) {
                continue;
            }
            if record.is_none() {
                fill(&mut theta);
            }
            let m = theta.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let w: Vec<f64> = theta.iter().map(|&t| f64::from(t - m).exp()).collect();
            let mut v = rng.random::<f64>() * w.iter().sum::<f64>();
            let mut pick = k - 1;
            for (i, wi) in w.iter().enumerate() {
                if v < *wi {
                    pick = i;
                    break;
                }
                v -= wi;
            }
            *x = levels[pick];
            if let Some(l) = left.as_deref_mut() {
                l.add(*x as f32);
            }
            let col = self.cond + 2 * j;
            let enc = encode(*x);
            for (u, p) in pre1.iter_mut().enumerate() {
                let r = u * self.inputs + col;
                *p += self.w1[r] + self.w1[r + 1] * enc;
            }
            dirty = true;
        }
        out
    }
}

/// A batch as the MADEs see it.
struct Inputs {
    /// Quantised window pixels `[B, Di]`.
    x_inner: Tensor,
    /// Quantised other pixels `[B, Do]`.
    x_outer: Tensor,
    /// Inner MADE inputs `[B, G + 2Di]` (`G`: the budget's conditioning columns, 1 with a
    /// factored total, or 0).
    inner: Tensor,
    /// Outer MADE inputs `[B, G + 2Di + 2Do]`.
    outer: Tensor,
    /// With the budget: running features `[B, Di, RUNNING]`, `[B, Do, RUNNING]` and
    /// `−ln p(c)` per image `[B]`.
    running_inner: Option<Tensor>,
    running_outer: Option<Tensor>,
    prior: Option<Tensor>,
}

/// What [`Sarm::sample_recorded`] returns.
struct Sampled {
    images: Vec<f32>,
    /// Per image, every pixel's `(ℓ, θ_1..θ_K)` when recorded.
    records: Vec<Vec<f32>>,
    /// Per image, the budget bin drawn (0 without a budget).
    bins: Vec<usize>,
    /// When recorded: the sampled levels (with a factored total, of the shape) `[count, P]`
    /// in raster order, and each image's total (drawn, or the levels' sum).
    quantised: Vec<f64>,
    totals: Vec<f64>,
}

/// One sampled image with what [`Sampled`] keeps of it.
struct Draw {
    image: Vec<f32>,
    record: Vec<f32>,
    bin: usize,
    quantised: Vec<f64>,
    total: f64,
}

/// The two-scale sparse autoregressive model with its optimiser.
pub struct Sarm {
    cfg: SarmConfig,
    levels: Vec<f64>,
    budget: Option<Budget>,
    totals: Option<Totals>,
    order: Vec<usize>,
    inner: Made,
    outer: Made,
    mixture: DiracMixture,
    vars: VarMap,
    opt: AdamW,
    device: Device,
}

impl Sarm {
    /// A fresh model over the given intensity `levels` (from [`fit_levels`]), with an
    /// optional pT `budget` (from [`Budget::fit`] with the same levels), initialised from
    /// `seed`.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] for a bad configuration, levels that are not positive,
    /// finite and strictly increasing, or an inconsistent budget; tensor errors.
    pub fn new(
        cfg: SarmConfig,
        levels: Vec<f64>,
        budget: Option<Budget>,
        seed: u64,
        device: &Device,
    ) -> Result<Self> {
        Self::build(cfg, levels, budget, None, seed, device)
    }

    /// A fresh model with its total factored out (module docs, "Factored total"): it trains
    /// on and scores the images' shapes given their totals, and samples a total from `totals`
    /// first. Its `levels` should come from [`fit_levels`] on the [`shapes`] of the training
    /// images.
    ///
    /// # Errors
    /// As [`Sarm::new`]; [`Error::InvalidConfig`] for inconsistent totals.
    pub fn factored(
        cfg: SarmConfig,
        levels: Vec<f64>,
        totals: Totals,
        seed: u64,
        device: &Device,
    ) -> Result<Self> {
        Self::build(cfg, levels, None, Some(totals), seed, device)
    }

    fn build(
        cfg: SarmConfig,
        levels: Vec<f64>,
        budget: Option<Budget>,
        totals: Option<Totals>,
        seed: u64,
        device: &Device,
    ) -> Result<Self> {
        cfg.validate()?;
        if let Some(b) = &budget {
            b.validate()?;
        }
        if let Some(t) = &totals {
            t.validate()?;
        }
        if levels.is_empty()
            || levels.iter().any(|l| !(l.is_finite() && *l > 0.0))
            || levels.windows(2).any(|w| w[0] >= w[1])
        {
            return Err(Error::InvalidConfig {
                component: "Sarm",
                field: "levels",
                value: format!("{} levels", levels.len()),
                reason: "must be positive, finite and strictly increasing",
            });
        }
        let k = levels.len();
        let order = cfg.order();
        let di = cfg.window * cfg.window;
        let dout = order.len() - di;
        let vars = VarMap::new();
        let vb = VarBuilder::from_varmap(&vars, DType::F32, device);
        let g = budget.as_ref().map_or(0, |b| b.bins() + 1) + usize::from(totals.is_some());
        let run = budget.is_some();
        let inner = Made::new(g, di, k, cfg.hidden, run, vb.pp("inner"))?;
        let outer = Made::new(g + 2 * di, dout, k, cfg.hidden, run, vb.pp("outer"))?;
        init_vars(&vars, &mut StdRng::seed_from_u64(seed))?;
        // the running budget terms start at zero
        for r in [&inner.run, &outer.run].into_iter().flatten() {
            r.zero_set()?;
        }
        let opt = AdamW::new(
            named_vars(&vars).into_iter().map(|(_, v)| v).collect(),
            ParamsAdamW {
                lr: cfg.lr,
                weight_decay: 0.0,
                ..Default::default()
            },
        )?;
        let mixture = DiracMixture::new(Density::Categorical {
            levels: levels.clone(),
        })?;
        Ok(Self {
            cfg,
            levels,
            budget,
            totals,
            order,
            inner,
            outer,
            mixture,
            vars,
            opt,
            device: device.clone(),
        })
    }

    /// The factored total, if the model has one.
    pub fn totals(&self) -> Option<&Totals> {
        self.totals.as_ref()
    }

    /// The weights (for checkpoints).
    pub fn vars(&self) -> &VarMap {
        &self.vars
    }

    /// The intensity levels.
    pub fn levels(&self) -> &[f64] {
        &self.levels
    }

    /// The pT budget, if the model has one.
    pub fn budget(&self) -> Option<&Budget> {
        self.budget.as_ref()
    }

    /// Number of trainable parameters.
    pub fn num_params(&self) -> usize {
        named_vars(&self.vars)
            .iter()
            .map(|(_, v)| v.elem_count())
            .sum()
    }

    fn encode(&self, x: f64) -> f32 {
        let top = self.levels[self.levels.len() - 1].ln_1p();
        (x.ln_1p() / top) as f32
    }

    /// A pixel value as the model sees it: zero stays zero, a positive value becomes its
    /// nearest level.
    pub fn quantise(&self, v: f64) -> f64 {
        quantise_to(&self.levels, v)
    }

    /// `images [B, P]` as the closest the model can generate them: each pixel quantised to
    /// the levels, or with a factored total, each image's shape quantised and scaled back to
    /// the image's total (`T · q / Σq`).
    ///
    /// # Errors
    /// As [`Sarm::step`].
    pub fn quantise_images(&self, images: &[f32]) -> Result<Vec<f32>> {
        self.check(images, "Sarm::quantise_images")?;
        let p = self.order.len();
        let mut out = Vec::with_capacity(images.len());
        let mut q = vec![0f64; p];
        for img in images.chunks_exact(p) {
            let t = self.quantise_raster(img, &mut q);
            match &self.totals {
                None => out.extend(q.iter().map(|&v| v as f32)),
                Some(_) => out.extend(scale_shape(&q, t)),
            }
        }
        Ok(out)
    }

    /// Quantises one image (with a factored total: its shape) into `raster`, each pixel once;
    /// returns the image's total.
    fn quantise_raster(&self, img: &[f32], raster: &mut [f64]) -> f64 {
        let t = image_total(img);
        let scale = match &self.totals {
            Some(_) if t > 0.0 => 1.0 / t,
            Some(_) => 0.0,
            None => 1.0,
        };
        for (r, &v) in raster.iter_mut().zip(img) {
            *r = self.quantise(f64::from(v) * scale);
        }
        t
    }

    /// Quantises `images [B, P]` to the levels and builds the network inputs. With the
    /// budget, `bins` gives each image's bin (`None`: the bins of their totals).
    fn inputs(&self, images: &[f32], b: usize, bins: Option<&[usize]>) -> Result<Inputs> {
        let p = self.order.len();
        let mut raster = vec![0f64; b * p];
        let mut totals = Vec::with_capacity(b);
        for (img, r) in images.chunks_exact(p).zip(raster.chunks_exact_mut(p)) {
            // each pixel quantised once
            totals.push(self.quantise_raster(img, r));
        }
        self.inputs_quantised(&raster, &totals, bins)
    }

    /// The network inputs of quantised images (with a factored total: quantised shapes)
    /// `raster [B, P]` in raster order, with the images' totals.
    fn inputs_quantised(
        &self,
        rasters: &[f64],
        totals: &[f64],
        bins: Option<&[usize]>,
    ) -> Result<Inputs> {
        let p = self.order.len();
        let b = totals.len();
        let di = self.inner.d;
        let g = self.inner.cond;
        let mut q = Vec::with_capacity(b * p);
        let mut enc = Vec::with_capacity(b * (g + 2 * p));
        let mut feats = Vec::new();
        let mut prior = Vec::new();
        for (i, (raster, &total)) in rasters.chunks_exact(p).zip(totals).enumerate() {
            if let Some(t) = &self.totals {
                enc.push(t.input(total));
            }
            let mut left = self.budget.as_ref().map(|bud| {
                // the quantised total summed in raster order, as Budget::fit does
                let c = bins.map_or_else(|| bud.bin(raster.iter().sum()), |v| v[i]);
                enc.extend(bud.inputs(c));
                prior.push(bud.prior_nll(c) as f32);
                Remaining::new(bud, c, p)
            });
            for &pix in &self.order {
                let x = raster[pix];
                q.push(x as f32);
                enc.push(f32::from(u8::from(x > 0.0)));
                enc.push(self.encode(x));
                if let Some(l) = left.as_mut() {
                    feats.extend(l.features());
                    l.add(x as f32);
                }
            }
        }
        let q = Tensor::from_vec(q, (b, p), &self.device)?;
        let enc = Tensor::from_vec(enc, (b, g + 2 * p), &self.device)?;
        let (running_inner, running_outer, prior) = if self.budget.is_some() {
            let f = Tensor::from_vec(feats, (b, p, RUNNING), &self.device)?;
            (
                Some(f.narrow(1, 0, di)?),
                Some(f.narrow(1, di, p - di)?),
                Some(Tensor::from_vec(prior, b, &self.device)?),
            )
        } else {
            (None, None, None)
        };
        Ok(Inputs {
            x_inner: q.narrow(1, 0, di)?,
            x_outer: q.narrow(1, di, p - di)?,
            inner: enc.narrow(1, 0, g + 2 * di)?,
            outer: enc,
            running_inner,
            running_outer,
            prior,
        })
    }

    fn check(&self, images: &[f32], op: &'static str) -> Result<usize> {
        let p = self.order.len();
        if images.is_empty()
            || !images.len().is_multiple_of(p)
            || images.iter().any(|v| !v.is_finite() || *v < 0.0)
        {
            return Err(Error::Shape {
                op,
                arg: "images",
                expected: format!("[B ≥ 1, {p}] finite, non-negative"),
                found: vec![images.len()],
            });
        }
        Ok(images.len() / p)
    }

    /// Per-image negative log-likelihood in nats of the quantised images, as a `[B]` tensor
    /// (differentiable); with the budget, `−ln p(c(x)) − ln p(x | c(x))`; with a factored
    /// total, that of the quantised shapes.
    fn nll_tensor(&self, images: &[f32], op: &'static str) -> Result<Tensor> {
        let b = self.check(images, op)?;
        let t = self.inputs(images, b, None)?;
        let (li, pi) = self.inner.forward(&t.inner, t.running_inner.as_ref())?;
        let (lo, po) = self.outer.forward(&t.outer, t.running_outer.as_ref())?;
        let a = self.mixture.nll(&t.x_inner, &li, &pi)?.sum(1)?;
        let c = self.mixture.nll(&t.x_outer, &lo, &po)?.sum(1)?;
        let n = (a + c)?;
        Ok(match &t.prior {
            Some(prior) => (n + prior)?,
            None => n,
        })
    }

    /// One Adam step on images `[B, H·W]` (row-major, flattened); returns the mean negative
    /// log-likelihood in nats per image.
    ///
    /// # Errors
    /// [`Error::Shape`] for a wrong length or negative / non-finite pixels; tensor errors.
    pub fn step(&mut self, images: &[f32]) -> Result<f64> {
        let loss = self.nll_tensor(images, "Sarm::step")?.mean_all()?;
        self.opt.backward_step(&loss)?;
        Ok(loss.to_dtype(DType::F64)?.to_scalar()?)
    }

    /// Exact negative log-likelihood of each quantised image, in bits (with the budget, an
    /// upper bound: module docs, "pT budget"; with a factored total, of the quantised shape).
    ///
    /// # Errors
    /// As [`Sarm::step`].
    pub fn nll_bits(&self, images: &[f32]) -> Result<Vec<f64>> {
        self.check(images, "Sarm::nll_bits")?;
        let mut out = Vec::new();
        for chunk in images.chunks(256 * self.order.len()) {
            let t = self.nll_tensor(chunk, "Sarm::nll_bits")?.detach();
            let v: Vec<f32> = t.to_vec1()?;
            out.extend(v.iter().map(|&n| f64::from(n) / std::f64::consts::LN_2));
        }
        Ok(out)
    }

    /// `count` images `[count, H·W]` by ancestral sampling, seeded (image `i` uses its own
    /// stream, so the result does not depend on the thread count); with a factored total,
    /// each image's total is drawn first and its sampled shape scaled to it.
    ///
    /// # Errors
    /// Tensor errors.
    pub fn sample(&self, count: usize, seed: u64) -> Result<Vec<f32>> {
        Ok(self.sample_recorded(count, seed, false)?.images)
    }

    fn sample_recorded(&self, count: usize, seed: u64, record: bool) -> Result<Sampled> {
        let inner = self.inner.dense()?;
        let outer = self.outer.dense()?;
        let p = self.order.len();
        let enc = |x: f64| self.encode(x);
        let per: Vec<Draw> = (0..count)
            .into_par_iter()
            .map(|i| {
                let mut rng = step_rng(seed, i as u64);
                let mut rec = Vec::new();
                let mut cond = Vec::new();
                let mut bin = 0;
                let total = self.totals.as_ref().map(|t| {
                    let total = t.at(rng.random());
                    cond.push(t.input(total));
                    total
                });
                let mut left = self.budget.as_ref().map(|b| {
                    bin = b.draw(&mut rng);
                    cond.extend(b.inputs(bin));
                    Remaining::new(b, bin, p)
                });
                let mut run = |made: &DenseMade, cond: &[f32]| {
                    made.sample(
                        cond,
                        &self.levels,
                        enc,
                        left.as_mut(),
                        &mut rng,
                        record.then_some(&mut rec),
                    )
                };
                let xi = run(&inner, &cond);
                cond.extend(
                    xi.iter()
                        .flat_map(|&x| [f32::from(u8::from(x > 0.0)), enc(x)]),
                );
                let xo = run(&outer, &cond);
                let mut img = vec![0f64; p];
                for (&pix, &x) in self.order.iter().zip(xi.iter().chain(&xo)) {
                    img[pix] = x;
                }
                let total = total.unwrap_or_else(|| img.iter().sum());
                let scaled = match self.totals {
                    Some(_) => scale_shape(&img, total),
                    None => img.iter().map(|&x| x as f32).collect(),
                };
                let quantised = if record { img } else { Vec::new() };
                Draw {
                    image: scaled,
                    record: rec,
                    bin,
                    quantised,
                    total,
                }
            })
            .collect();
        let mut out = Sampled {
            images: Vec::with_capacity(count * p),
            records: Vec::new(),
            bins: Vec::new(),
            quantised: Vec::new(),
            totals: Vec::new(),
        };
        for d in per {
            out.images.extend(d.image);
            out.records.push(d.record);
            out.bins.push(d.bin);
            out.quantised.extend(d.quantised);
            out.totals.push(d.total);
        }
        Ok(out)
    }

    /// The configuration.
    pub fn config(&self) -> &SarmConfig {
        &self.cfg
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toy(n: usize, seed: u64) -> Vec<f32> {
        // 6 × 6 images: pixel 14 (inside the 2 × 2 window) is on in half the images; when it
        // is, pixel 0 (outside) is on too with a value twice as large
        let mut rng = StdRng::seed_from_u64(seed);
        let mut x = vec![0f32; n * 36];
        for img in x.chunks_exact_mut(36) {
            if rng.random::<f64>() < 0.5 {
                let v = rng.random_range(1.0..4.0f32);
                img[14] = v;
                img[0] = 2.0 * v;
            }
        }
        x
    }

    fn small() -> SarmConfig {
        SarmConfig {
            window: 2,
            levels: 8,
            hidden: 48,
            lr: 3e-3,
            ..SarmConfig::new(6, 6)
        }
    }

    #[test]
    fn order_puts_the_window_first() {
        let o = SarmConfig {
            window: 2,
            ..SarmConfig::new(6, 6)
        }
        .order();
        assert_eq!(&o[..4], &[14, 15, 20, 21]);
        let mut s = o.clone();
        s.sort_unstable();
        assert_eq!(s, (0..36).collect::<Vec<_>>());
        assert_eq!(SarmConfig::new(25, 25).window, 7);
    }

    #[test]
    fn autoregressive_dependencies_only() {
        let x = toy(4, 1);
        let m = Sarm::new(small(), fit_levels(&x, 8).unwrap(), None, 2, &Device::Cpu).unwrap();
        let io = m.inputs(&x, 4, None).unwrap().outer;
        let (lo, _) = m.outer.forward(&io, None).unwrap();
        // perturb outer pixel j = 5 (input columns 2·4 + 10, 11): outputs ≤ 5 unchanged
        let mut v: Vec<f32> = io.flatten_all().unwrap().to_vec1().unwrap();
        let cols = io.dim(1).unwrap();
        for b in 0..4 {
            v[b * cols + 18] = 1.0;
            v[b * cols + 19] = 0.7;
        }
        let io2 = Tensor::from_vec(v, io.shape(), &Device::Cpu).unwrap();
        let (lo2, _) = m.outer.forward(&io2, None).unwrap();
        let d = (lo - lo2).unwrap().abs().unwrap().to_vec2::<f32>().unwrap();
        for row in &d {
            assert!(row[..=5].iter().all(|&e| e == 0.0), "{row:?}");
            assert!(row[6..].iter().any(|&e| e > 0.0));
        }
    }

    #[test]
    fn incremental_sampler_matches_the_dense_forward() {
        let x = toy(64, 3);
        let lv = fit_levels(&x, 8).unwrap();
        let budget = Budget::fit(&x, 36, &lv, 3).unwrap();
        for b in [None, Some(budget)] {
            sampler_matches_dense(
                Sarm::new(small(), lv.clone(), b, 4, &Device::Cpu).unwrap(),
                &x,
            );
        }
        let totals = Totals::fit(&x, 36).unwrap();
        let shape_levels = fit_levels(&shapes(&x, 36), 8).unwrap();
        let m = Sarm::factored(small(), shape_levels, totals, 4, &Device::Cpu).unwrap();
        sampler_matches_dense(m, &x);
    }

    fn sampler_matches_dense(mut m: Sarm, x: &[f32]) {
        for _ in 0..20 {
            m.step(x).unwrap();
        }
        if let Some(run) = &m.outer.run {
            // trained away from zero, so the check covers the running terms
            let a: Vec<f32> = run.abs().unwrap().flatten_all().unwrap().to_vec1().unwrap();
            assert!(a.iter().any(|&v| v > 1e-3));
        }
        let s = m.sample_recorded(5, 9, true).unwrap();
        let k = m.levels.len();
        let t = m
            .inputs_quantised(&s.quantised, &s.totals, Some(&s.bins))
            .unwrap();
        let (li, pi) = m.inner.forward(&t.inner, t.running_inner.as_ref()).unwrap();
        let (lo, po) = m.outer.forward(&t.outer, t.running_outer.as_ref()).unwrap();
        let flat = |l: Tensor, p: Tensor| -> Vec<Vec<f32>> {
            Tensor::cat(&[l.unsqueeze(2).unwrap(), p], 2)
                .unwrap()
                .flatten_from(1)
                .unwrap()
                .to_vec2()
                .unwrap()
        };
        let (a, b) = (flat(li, pi), flat(lo, po));
        for (i, rec) in s.records.iter().enumerate() {
            let dense: Vec<f32> = a[i].iter().chain(&b[i]).copied().collect();
            assert_eq!(rec.len(), 36 * (1 + k));
            let err = rec
                .iter()
                .zip(&dense)
                .map(|(r, d)| (r - d).abs())
                .fold(0f32, f32::max);
            assert!(err < 1e-4, "image {i}: {err}");
        }
        // same seed, same images
        assert_eq!(m.sample(5, 9).unwrap(), s.images);
    }

    #[test]
    fn budget_bins_follow_the_totals() {
        // totals 1, 2, …, 12 (one pixel each, levels at the integers)
        let x: Vec<f32> = (1..=12)
            .flat_map(|t| {
                let mut img = vec![0f32; 4];
                img[t % 4] = t as f32;
                img
            })
            .collect();
        let lv: Vec<f64> = (1..=12).map(f64::from).collect();
        let b = Budget::fit(&x, 4, &lv, 4).unwrap();
        assert_eq!(b.edges, vec![4.0, 7.0, 10.0]);
        assert_eq!(b.centres, vec![2.0, 5.0, 8.0, 11.0]);
        assert!(b.probs.iter().all(|&p| (p - 0.25).abs() < 1e-12));
        assert_eq!(
            (b.bin(0.0), b.bin(4.0), b.bin(9.9), b.bin(1e9)),
            (0, 1, 2, 3)
        );
        // ties merge bins: eight images of total 1 and four of 12
        let y: Vec<f32> = (0..12)
            .flat_map(|i| [if i < 8 { 1.0 } else { 12.0 }, 0.0, 0.0, 0.0])
            .collect();
        let b = Budget::fit(&y, 4, &lv, 4).unwrap();
        assert_eq!(b.edges, vec![12.0]);
        assert_eq!(b.centres, vec![1.0, 12.0]);
        assert!(Budget::fit(&x, 4, &lv, 0).is_err());
        assert!(Budget::fit(&x, 4, &lv, 13).is_err());
        assert!(Budget::fit(&x[..7], 4, &lv, 2).is_err());
        assert!(Budget::fit(&[0.0; 8], 4, &lv, 2).is_err());
        let bad = Budget {
            probs: vec![0.5, 0.6],
            ..Budget::fit(&x, 4, &lv, 2).unwrap()
        };
        assert!(matches!(
            Sarm::new(small(), lv.clone(), Some(bad), 1, &Device::Cpu),
            Err(Error::InvalidConfig { .. })
        ));
    }

    #[test]
    fn budget_steers_the_sampled_totals() {
        // two pixels inside the window, one outside; the outside pixel's value is whatever
        // makes the total 4 or 12 (half the images each)
        let mut rng = StdRng::seed_from_u64(8);
        let mut x = vec![0f32; 256 * 36];
        for (i, img) in x.chunks_exact_mut(36).enumerate() {
            let total = if i % 2 == 0 { 4.0 } else { 12.0 };
            let a = f32::from(rng.random_range(1u8..=3));
            img[14] = a;
            img[0] = total - a;
        }
        let lv: Vec<f64> = (1..=11).map(f64::from).collect();
        let budget = Budget::fit(&x, 36, &lv, 2).unwrap();
        assert_eq!(budget.centres, vec![4.0, 12.0]);
        let mut m = Sarm::new(small(), lv, Some(budget), 6, &Device::Cpu).unwrap();
        for _ in 0..400 {
            m.step(&x).unwrap();
        }
        let s = m.sample_recorded(400, 3, false).unwrap();
        let (mut sum, mut n, mut near) = ([0f32; 2], [0usize; 2], 0);
        for (img, &c) in s.images.chunks_exact(36).zip(&s.bins) {
            let total: f32 = img.iter().sum();
            sum[c] += total;
            n[c] += 1;
            near += usize::from((total - [4.0, 12.0][c]).abs() <= 2.0);
        }
        // the drawn bin sets the total: a model that ignored it would give both bins a mean
        // of 8 and put only half the images within 2 of the bin's total
        assert!(n[0] > 150 && n[1] > 150, "{n:?}");
        for c in 0..2 {
            let mean = sum[c] / n[c] as f32;
            assert!((mean - [4.0, 12.0][c]).abs() < 0.5, "bin {c}: mean {mean}");
        }
        assert!(near > 360, "{near} of 400");
        // the reported likelihood includes −log2 p(c) = 1 bit on top of the ≥ log2 3 bits of
        // the window pixel
        let bits = m.nll_bits(&x[..36]).unwrap()[0];
        assert!(bits > 2.0, "{bits}");
    }

    #[test]
    fn totals_are_the_training_quantile_function() {
        // six 4-pixel images with totals 5, 1, 0, 3, 2, 4 (the empty one counts)
        let x: Vec<f32> = [5.0, 1.0, 0.0, 3.0, 2.0, 4.0]
            .iter()
            .flat_map(|&t: &f32| [t * 0.5, 0.0, t * 0.25, t * 0.25])
            .collect();
        let t = Totals::fit(&x, 4).unwrap();
        assert_eq!(t.quantiles, vec![0.0, 1.0, 2.0, 3.0, 4.0, 5.0]);
        // (no totals made up between the empty image and the smallest positive total)
        for (u, want) in [
            (0.0, 0.0),
            (0.1, 0.0),
            (0.3, 1.5),
            (0.5, 2.5),
            (0.9, 4.5),
            (1.0, 5.0),
        ] {
            assert!((t.at(u) - want).abs() < 1e-12, "at({u}) = {}", t.at(u));
        }
        // more totals than quantiles: numpy's linear quantiles at k / 1000
        let many: Vec<f32> = (0..2001).map(|i| (i as f32 * 0.5) + 1.0).collect();
        let t = Totals::fit(&many, 1).unwrap();
        assert_eq!(t.quantiles.len(), TOTALS_QUANTILES + 1);
        assert_eq!(t.quantiles[1], 2.0);
        assert_eq!(t.quantiles[1000], 1001.0);
        let s = shapes(&x, 4);
        for (img, raw) in s.chunks_exact(4).zip(x.chunks_exact(4)) {
            let total: f32 = img.iter().sum();
            if raw.iter().any(|&v| v > 0.0) {
                assert!((total - 1.0).abs() < 1e-6, "{total}");
                assert_eq!(img[0], 0.5);
            } else {
                assert_eq!(total, 0.0);
            }
        }
        for bad in [vec![0f32; 8], vec![1.0, -1.0, 0.5, 0.5], vec![1.0; 7]] {
            assert!(
                matches!(Totals::fit(&bad, 4), Err(Error::Shape { .. })),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn factored_total_draws_the_totals_and_conditions_the_shape() {
        // 6 × 6 images, a quarter empty, the others with totals uniform in [3, 12): below 7.5
        // pixel 0 holds 2/3 of the total and pixel 14 (in the window) 1/3, above the reverse
        let mut rng = StdRng::seed_from_u64(5);
        let mut x = vec![0f32; 256 * 36];
        for img in x.chunks_exact_mut(36) {
            if rng.random::<f64>() < 0.25 {
                continue;
            }
            let t = rng.random_range(3.0..12.0f32);
            let big = if t < 7.5 { 0 } else { 14 };
            img[big] = t * 2.0 / 3.0;
            img[14 - big] = t - img[big];
        }
        let totals = Totals::fit(&x, 36).unwrap();
        let positive = &totals.quantiles[totals.quantiles.partition_point(|&t| t == 0.0)..];
        let (lo, hi) = (positive[0], positive[positive.len() - 1]);
        let lv = fit_levels(&shapes(&x, 36), 8).unwrap();
        let bad = Totals {
            quantiles: vec![2.0, 1.0],
        };
        assert!(matches!(
            Sarm::factored(small(), lv.clone(), bad, 6, &Device::Cpu),
            Err(Error::InvalidConfig {
                field: "totals",
                ..
            })
        ));
        let mut m = Sarm::factored(small(), lv, totals, 6, &Device::Cpu).unwrap();
        for _ in 0..600 {
            m.step(&x).unwrap();
        }
        // quantising keeps each image's total
        let q = m.quantise_images(&x).unwrap();
        for (qi, xi) in q.chunks_exact(36).zip(x.chunks_exact(36)) {
            let (tq, tx): (f32, f32) = (qi.iter().sum(), xi.iter().sum());
            assert!((tq - tx).abs() <= 1e-5 * tx.max(1.0), "{tq} vs {tx}");
        }
        let s = m.sample(400, 7).unwrap();
        let (mut empty, mut totals, mut right) = (0, Vec::new(), 0);
        for img in s.chunks_exact(36) {
            let total = f64::from(img.iter().sum::<f32>());
            if total == 0.0 {
                empty += 1;
                continue;
            }
            assert!(
                total >= lo * (1.0 - 1e-6) && total <= hi * (1.0 + 1e-6),
                "total {total} outside [{lo}, {hi}]"
            );
            totals.push(total);
            // the split follows the drawn total (a shape model blind to it would get half
            // of them wrong)
            let want = if total < 7.5 { 2.0 } else { 0.5 };
            right +=
                usize::from(img[14] > 0.0 && (f64::from(img[0] / img[14]) - want).abs() < 1e-3);
        }
        assert!((60..140).contains(&empty), "{empty} empty");
        assert!(
            right as f64 > 0.85 * totals.len() as f64,
            "{right} of {}",
            totals.len()
        );
        let mean = totals.iter().sum::<f64>() / totals.len() as f64;
        assert!((mean - 7.5).abs() < 0.6, "{mean}");
    }

    #[test]
    fn learns_the_pixel_correlation() {
        let x = toy(256, 5);
        let mut m = Sarm::new(small(), fit_levels(&x, 8).unwrap(), None, 6, &Device::Cpu).unwrap();
        let before = m.nll_bits(&x).unwrap().iter().sum::<f64>() / 256.0;
        for _ in 0..600 {
            m.step(&x).unwrap();
        }
        let after = m.nll_bits(&x).unwrap().iter().sum::<f64>() / 256.0;
        assert!(after < 0.3 * before, "{before} -> {after} bits");
        let s = m.sample(400, 7).unwrap();
        let (mut both, mut on14, mut on0) = (0, 0, 0);
        for img in s.chunks_exact(36) {
            on14 += usize::from(img[14] > 0.0);
            on0 += usize::from(img[0] > 0.0);
            both += usize::from(img[14] > 0.0 && img[0] > 0.0);
        }
        // pixel 14 on in ~half, pixel 0 on exactly when 14 is (learned correlation)
        assert!((120..280).contains(&on14), "{on14}");
        assert!(
            both as f64 > 0.85 * on14.max(on0) as f64,
            "{both} {on14} {on0}"
        );
    }

    #[test]
    fn bad_inputs_are_typed_errors() {
        let x = toy(4, 1);
        let lv = fit_levels(&x, 8).unwrap();
        let mut m = Sarm::new(small(), lv.clone(), None, 1, &Device::Cpu).unwrap();
        assert!(matches!(m.step(&x[..35]), Err(Error::Shape { .. })));
        let mut neg = x.clone();
        neg[3] = -1.0;
        assert!(matches!(m.step(&neg), Err(Error::Shape { .. })));
        assert!(matches!(
            Sarm::new(
                SarmConfig {
                    window: 6,
                    ..small()
                },
                lv.clone(),
                None,
                1,
                &Device::Cpu
            ),
            Err(Error::InvalidConfig { .. })
        ));
        assert!(matches!(
            Sarm::new(small(), vec![2.0, 1.0], None, 1, &Device::Cpu),
            Err(Error::InvalidConfig { .. })
        ));
        assert!(fit_levels(&[0.0; 10], 4).is_err());
        let lv = fit_levels(&[1.0, 0.0, 100.0, 3.0], 3).unwrap();
        assert!(lv.len() == 3 && lv[0] == 1.0 && (lv[1] - 10.0).abs() < 1e-9 && lv[2] == 100.0);
    }

    #[test]
    fn quantise_keeps_zeros_and_picks_the_nearest_level() {
        let m = Sarm::new(small(), vec![1.0, 2.0, 4.0], None, 1, &Device::Cpu).unwrap();
        let q: Vec<f64> = [0.0, 0.2, 1.4, 1.6, 2.9, 3.1, 9.0]
            .iter()
            .map(|&v| m.quantise(v))
            .collect();
        assert_eq!(q, vec![0.0, 1.0, 1.0, 2.0, 2.0, 4.0, 4.0]);
    }

    #[test]
    fn one_tiny_deposit_does_not_coarsen_the_levels() {
        // 10,000 log-uniform intensities in [0.05, 200] GeV and one of 1e-13 GeV (as in our W'
        // jet images): the quantised sum stays within 1% of the true one
        let mut x: Vec<f32> = (0..10_000)
            .map(|i| {
                let u = (f64::from(i) * 0.618_033_988_749_895).fract();
                (0.05 * (4000f64.ln() * u).exp()) as f32
            })
            .collect();
        x.push(1e-13);
        let lv = fit_levels(&x, 32).unwrap();
        assert!(lv[0] > 0.05 && lv[0] < 0.06, "lowest level {}", lv[0]);
        let exact: f64 = x.iter().map(|&v| f64::from(v)).sum();
        let quantised: f64 = x
            .iter()
            .map(|&v| lv[nearest_level(&lv, f64::from(v))])
            .sum();
        assert!(
            (quantised / exact - 1.0).abs() < 0.01,
            "{quantised} vs {exact}"
        );
    }
}
