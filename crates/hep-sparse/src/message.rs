//! Masked all-pairs message passing (the MPGAN edge network) as one fused candle custom op with
//! a recomputing backward, plus the naive concatenation formulation used as its oracle.
//!
//! ```text
//! m[b, i] = Σ_j mask[b, j] · f_e([h[b, i] ; h[b, j]])        (fully connected, self-loops)
//! f_e     = act ∘ L_K ∘ … ∘ act ∘ L_1,   act = LeakyReLU(slope), L_k(x) = W_k x + b_k
//! L_1([h_i ; h_j]) = W_a h_i + W_b h_j + b_1,  W_1 = [W_a | W_b]   (PyTorch Linear(2F, F1))
//! ```
//!
//! The fused op never builds the `[B, N, N, 2F]` concatenation. It projects each particle once
//! (`W_a h`, `W_b h`, `[B, N, F1]`), forms the first-layer activations of the edges whose sender
//! is real (masked senders contribute exactly 0, so they are skipped — this is exact), runs the
//! remaining layers on the compacted `[E, F']` rows, and sums each receiver's rows. Work is done in
//! chunks of jets, so the peak intermediate memory is bounded by the chunk, not by `B · N²`.
//! The backward recomputes each chunk's activations instead of storing them (activation
//! checkpointing) and back-propagates by hand; it returns gradients for `h` and for every weight
//! and bias.
//!
//! ## Paper
//! R. Kansal et al., "Particle Cloud Generation with Message Passing Generative Adversarial
//! Networks", NeurIPS 2021, arXiv:2106.11535.
//!
//! ## References
//! `rkansal47/MPGAN` branch `neurips21`, `mpgan/model.py` (`MPLayer`: edge MLP widths
//! [96, 160, 192], LeakyReLU(0.2) after every layer, sum aggregation, sender masking).

use std::ops::Range;

use candle_core::{
    CpuStorage, CustomOp2, CustomOp3, DType, Device, Layout, Shape, Storage, Tensor,
};
use rand::{Rng, SeedableRng};
use rayon::prelude::*;

use crate::util::{Real, check_float, check_mask, cpu_slice};
use crate::{Error, Result};

/// Configuration of [`MaskedMessagePassing`], checked by [`MessagePassingConfig::validate`].
#[derive(Debug, Clone, PartialEq)]
pub struct MessagePassingConfig {
    /// Node feature width `F` (the edge net's input is `2F`).
    pub in_features: usize,
    /// Output widths of the edge-net layers, e.g. MPGAN's `[96, 160, 192]`.
    pub widths: Vec<usize>,
    /// LeakyReLU negative slope (MPGAN: 0.2); must be in `[0, 1]`.
    pub negative_slope: f64,
    /// Whether the activation follows the last layer too (MPGAN: yes).
    pub activate_last: bool,
    /// Upper bound on the number of edges processed at once (at least one jet's edges are
    /// always processed together); bounds the op's intermediate memory.
    pub chunk_edges: usize,
}

impl Default for MessagePassingConfig {
    /// MPGAN's edge network: `F = 32`, widths `[96, 160, 192]`, LeakyReLU(0.2) after every layer.
    fn default() -> Self {
        Self {
            in_features: 32,
            widths: vec![96, 160, 192],
            negative_slope: 0.2,
            activate_last: true,
            chunk_edges: 16384,
        }
    }
}

impl MessagePassingConfig {
    /// Checks the configuration before any work starts.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] for a zero width, no layers, a slope outside `[0, 1]` or
    /// `chunk_edges = 0`.
    pub fn validate(&self) -> Result<()> {
        let bad = |field, value: String, reason| Error::InvalidConfig {
            component: "MessagePassingConfig",
            field,
            value,
            reason,
        };
        if self.in_features == 0 {
            return Err(bad("in_features", "0".into(), "must be positive"));
        }
        if self.widths.is_empty() || self.widths.contains(&0) {
            return Err(bad(
                "widths",
                format!("{:?}", self.widths),
                "needs at least one layer and positive widths",
            ));
        }
        if !(0.0..=1.0).contains(&self.negative_slope) {
            return Err(bad(
                "negative_slope",
                self.negative_slope.to_string(),
                "must lie in [0, 1] (the backward reads the activation's sign)",
            ));
        }
        if self.chunk_edges == 0 {
            return Err(bad("chunk_edges", "0".into(), "must be positive"));
        }
        Ok(())
    }

    /// `(rows, cols)` of each layer's weight, PyTorch layout `[out, in]`.
    fn weight_dims(&self) -> Vec<(usize, usize)> {
        let mut prev = 2 * self.in_features;
        self.widths
            .iter()
            .map(|&w| {
                let d = (w, prev);
                prev = w;
                d
            })
            .collect()
    }

    /// Number of scalars in the packed parameter vector.
    pub fn num_params(&self) -> usize {
        self.weight_dims().iter().map(|(r, c)| r * c + r).sum()
    }
}

/// Inverted dropout after every edge-net layer (MPGAN's discriminator: p = 0.5), with masks
/// that are a pure function of `(seed, layer, edge, feature)`.
///
/// ```text
/// r        = hash(seed, k, e)                     e = (b · N + i) · N + j   (edge), k (layer)
/// u(c)     = 16-bit quarter (c mod 4) of hash(r, ⌊c / 4⌋)                     c (feature)
/// keep     = u(c) < round((1 − p) · 2¹⁶)
/// X_k      = act(Z_k) ⊙ keep / (1 − p)
/// ```
///
/// Because a mask element is computed from its index rather than drawn from a stream, the
/// fused op recomputes the masks in its backward instead of storing them, skips masked senders
/// without shifting anyone's draws, and every formulation (fused, split, naive) applies the
/// same masks — so they agree value for value, which is what the tests check.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EdgeDropout {
    /// Drop probability, in `[0, 1)`.
    pub p: f64,
    /// Seed of the masks (draw a fresh one per forward pass).
    pub seed: u64,
}

impl EdgeDropout {
    fn check(&self) -> Result<()> {
        if !(0.0..1.0).contains(&self.p) {
            return Err(Error::InvalidConfig {
                component: "EdgeDropout",
                field: "p",
                value: self.p.to_string(),
                reason: "must be in [0, 1)",
            });
        }
        Ok(())
    }

    /// Keep threshold for 16-bit uniforms: `p` is applied to a resolution of 2⁻¹⁶.
    fn threshold(&self) -> u32 {
        ((1.0 - self.p) * 65_536.0).round() as u32
    }

    /// Calls `f(c, kept)` for every feature `c < width` of edge `edge` in layer `layer`.
    #[inline]
    fn for_row(
        seed: u64,
        threshold: u32,
        layer: usize,
        edge: usize,
        width: usize,
        mut f: impl FnMut(usize, bool),
    ) {
        let key = splitmix(seed ^ splitmix(((layer as u64) << 56) ^ edge as u64));
        for quad in 0..width.div_ceil(4) {
            let h = splitmix(key ^ quad as u64);
            for q in 0..4.min(width - 4 * quad) {
                f(
                    4 * quad + q,
                    ((h >> (16 * q)) & 0xFFFF) < u64::from(threshold),
                );
            }
        }
    }

    /// The mask of layer `layer` as a tensor `[B·N·N, width]` of `1/(1−p)` (kept) and `0`,
    /// for the unfused formulations.
    ///
    /// # Errors
    /// Tensor errors.
    pub fn mask(
        &self,
        layer: usize,
        rows: usize,
        width: usize,
        dtype: DType,
        device: &Device,
    ) -> Result<Tensor> {
        let (t, scale) = (self.threshold(), (1.0 / (1.0 - self.p)) as f32);
        let mut v = vec![0f32; rows * width];
        for (edge, row) in v.chunks_exact_mut(width.max(1)).enumerate() {
            Self::for_row(self.seed, t, layer, edge, width, |c, kept| {
                row[c] = [0.0, scale][usize::from(kept)];
            });
        }
        Ok(Tensor::from_vec(v, (rows, width), device)?.to_dtype(dtype)?)
    }
}

#[inline]
fn splitmix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Masked all-pairs message passing with an MLP edge network (MPGAN's `MPLayer` edge part).
///
/// Holds the edge-net weights as tensors (they may be `Var`s: gradients flow to them).
#[derive(Debug, Clone)]
pub struct MaskedMessagePassing {
    cfg: MessagePassingConfig,
    weights: Vec<Tensor>,
    biases: Vec<Tensor>,
}

impl MaskedMessagePassing {
    /// Wraps existing weights. `layers[k] = (W_k [out, in], b_k [out])` in PyTorch `Linear`
    /// layout; the first layer's input is `[h_i ; h_j]` (`2F` wide).
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] for a bad config, [`Error::ShapeMismatch`] when the layer count
    /// or a weight/bias shape disagrees with the config, [`Error::DTypeMismatch`] when the
    /// tensors are not all `f32` or all `f64`.
    pub fn new(cfg: &MessagePassingConfig, layers: Vec<(Tensor, Tensor)>) -> Result<Self> {
        const OP: &str = "MaskedMessagePassing::new";
        cfg.validate()?;
        let dims = cfg.weight_dims();
        if layers.len() != dims.len() {
            return Err(Error::InvalidConfig {
                component: "MaskedMessagePassing",
                field: "layers",
                value: layers.len().to_string(),
                reason: "must have one (weight, bias) pair per configured width",
            });
        }
        let dtype = check_float(&layers[0].0, OP, "weight")?;
        let mut weights = Vec::with_capacity(layers.len());
        let mut biases = Vec::with_capacity(layers.len());
        for ((w, b), &(rows, cols)) in layers.into_iter().zip(&dims) {
            if w.dims() != [rows, cols] {
                return Err(Error::ShapeMismatch {
                    op: OP,
                    arg: "weight",
                    expected: format!("[{rows}, {cols}]"),
                    found: w.shape().clone(),
                });
            }
            if b.dims() != [rows] {
                return Err(Error::ShapeMismatch {
                    op: OP,
                    arg: "bias",
                    expected: format!("[{rows}]"),
                    found: b.shape().clone(),
                });
            }
            for (t, arg) in [(&w, "weight"), (&b, "bias")] {
                if t.dtype() != dtype {
                    return Err(Error::DTypeMismatch {
                        op: OP,
                        arg,
                        expected: "the dtype of the first weight",
                        found: t.dtype(),
                    });
                }
            }
            weights.push(w);
            biases.push(b);
        }
        Ok(Self {
            cfg: cfg.clone(),
            weights,
            biases,
        })
    }

    /// Fresh weights drawn like PyTorch's `Linear` default, `U(−1/√fan_in, 1/√fan_in)`,
    /// from a seeded generator (reproducible).
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] for a bad config, [`Error::DTypeMismatch`] for a non-float
    /// dtype, or a candle error when allocation on `device` fails.
    pub fn init(
        cfg: &MessagePassingConfig,
        dtype: DType,
        device: &Device,
        seed: u64,
    ) -> Result<Self> {
        cfg.validate()?;
        if !matches!(dtype, DType::F32 | DType::F64) {
            return Err(Error::DTypeMismatch {
                op: "MaskedMessagePassing::init",
                arg: "dtype",
                expected: "f32 or f64",
                found: dtype,
            });
        }
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let mut layers = Vec::new();
        for (rows, cols) in cfg.weight_dims() {
            let bound = 1.0 / (cols as f64).sqrt();
            let mut draw = |len: usize| -> Vec<f64> {
                (0..len).map(|_| rng.random_range(-bound..bound)).collect()
            };
            let w = Tensor::from_vec(draw(rows * cols), (rows, cols), device)?.to_dtype(dtype)?;
            let b = Tensor::from_vec(draw(rows), rows, device)?.to_dtype(dtype)?;
            layers.push((w, b));
        }
        Self::new(cfg, layers)
    }

    /// The configuration.
    pub fn config(&self) -> &MessagePassingConfig {
        &self.cfg
    }

    /// The edge-net weights `W_k`, `[out, in]` each.
    pub fn weights(&self) -> &[Tensor] {
        &self.weights
    }

    /// The edge-net biases `b_k`, `[out]` each.
    pub fn biases(&self) -> &[Tensor] {
        &self.biases
    }

    fn check_inputs(
        &self,
        h: &Tensor,
        mask: &Tensor,
        op: &'static str,
    ) -> Result<(Tensor, Tensor)> {
        let dtype = self.weights[0].dtype();
        let (b, n) = match *h.dims() {
            [b, n, f] if f == self.cfg.in_features => (b, n),
            _ => {
                return Err(Error::ShapeMismatch {
                    op,
                    arg: "h",
                    expected: format!("[B, N, {}]", self.cfg.in_features),
                    found: h.shape().clone(),
                });
            }
        };
        if h.dtype() != dtype {
            return Err(Error::DTypeMismatch {
                op,
                arg: "h",
                expected: "the dtype of the weights",
                found: h.dtype(),
            });
        }
        let mask = check_mask(mask, b, n, dtype, op)?;
        Ok((h.contiguous()?, mask))
    }

    /// Fused forward (differentiable with respect to `h` and all weights and biases).
    ///
    /// ```text
    /// m[b, i, :] = Σ_j mask[b, j] · f_e([h[b, i] ; h[b, j]])
    /// ```
    ///
    /// Receivers are not masked (as in MPGAN: padded particles still receive messages; mask
    /// them downstream if needed). On the CPU this is the fused custom op; on other devices it
    /// currently runs [`MaskedMessagePassing::forward_split`].
    ///
    /// # Shapes
    /// `h`: `[B, N, F]`, `mask`: `[B, N]` (`u8` or the dtype of `h`) → `[B, N, F_K]`
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`] / [`Error::DTypeMismatch`] for bad inputs; candle errors from
    /// the op (e.g. a device without an implementation).
    pub fn forward(&self, h: &Tensor, mask: &Tensor) -> Result<Tensor> {
        self.forward_with_dropout(h, mask, None)
    }

    /// [`forward`](Self::forward) with [`EdgeDropout`] after every edge-net layer (training a
    /// discriminator); `None` or `p = 0` is the plain forward.
    ///
    /// # Shapes
    /// `h`: `[B, N, F]`, `mask`: `[B, N]` → `[B, N, F_K]`
    ///
    /// # Errors
    /// As [`forward`](Self::forward); [`Error::InvalidConfig`] for `p` outside `[0, 1)`.
    pub fn forward_with_dropout(
        &self,
        h: &Tensor,
        mask: &Tensor,
        dropout: Option<EdgeDropout>,
    ) -> Result<Tensor> {
        if let Some(d) = &dropout {
            d.check()?;
        }
        let dropout = dropout.filter(|d| d.p > 0.0);
        if !h.device().is_cpu() {
            return self.split_impl(h, mask, dropout);
        }
        let (h, mask) = self.check_inputs(h, mask, "MaskedMessagePassing::forward")?;
        let mut flat = Vec::with_capacity(2 * self.weights.len());
        for (w, b) in self.weights.iter().zip(&self.biases) {
            flat.push(w.flatten_all()?);
            flat.push(b.clone());
        }
        let params = Tensor::cat(&flat, 0)?;
        let op = FusedMessagePassing::new(&self.cfg)?.with_dropout(dropout);
        Ok(h.apply_op3(&mask, &params, op)?)
    }

    /// The split-first-layer formulation, differentiable through candle's autograd on any
    /// device: per-particle projections `W_a h + b_1` and `W_b h`, the fused broadcast sum +
    /// activation [`PairLeaky`] to `[B, N, N, F1]`, the remaining layers with candle ops on
    /// `[B·N·N, F']`, and the fused sender-masked sum over `j` [`MaskedAggregate`].
    /// No `[B, N, N, 2F]` concatenation, but all edges (masked senders included) are computed
    /// and autograd stores every activation. [`MaskedMessagePassing::forward`] uses it on
    /// devices other than the CPU until a fused CUDA kernel exists.
    ///
    /// # Shapes
    /// `h`: `[B, N, F]`, `mask`: `[B, N]` → `[B, N, F_K]`
    ///
    /// # Errors
    /// As [`MaskedMessagePassing::forward`].
    pub fn forward_split(&self, h: &Tensor, mask: &Tensor) -> Result<Tensor> {
        self.split_impl(h, mask, None)
    }

    fn split_impl(
        &self,
        h: &Tensor,
        mask: &Tensor,
        dropout: Option<EdgeDropout>,
    ) -> Result<Tensor> {
        let (h, mask) = self.check_inputs(h, mask, "MaskedMessagePassing::forward_split")?;
        let (b, n, f) = h.dims3()?;
        let w0 = &self.weights[0];
        let f1 = self.cfg.widths[0];
        let flat = h.reshape((b * n, f))?;
        let recv = flat
            .matmul(&w0.narrow(1, 0, f)?.t()?)?
            .broadcast_add(&self.biases[0])?
            .reshape((b, n, f1))?;
        let send = flat
            .matmul(&w0.narrow(1, f, f)?.t()?)?
            .reshape((b, n, f1))?;
        let last = self.weights.len() - 1;
        let act = |k: usize| k < last || self.cfg.activate_last;
        let pair = PairLeaky {
            slope: self.cfg.negative_slope,
            activate: act(0),
        };
        let mut x = recv.apply_op2(&send, pair)?.reshape((b * n * n, f1))?;
        x = drop_layer(x, dropout.as_ref(), 0)?;
        for k in 1..self.weights.len() {
            x = x
                .matmul(&self.weights[k].t()?)?
                .broadcast_add(&self.biases[k])?;
            if act(k) {
                x = leaky_relu(&x, self.cfg.negative_slope)?;
            }
            x = drop_layer(x, dropout.as_ref(), k)?;
        }
        let out = *self.cfg.widths.last().expect("validated non-empty");
        let x = x.reshape((b, n, n, out))?.contiguous()?;
        Ok(x.apply_op2(&mask, MaskedAggregate)?)
    }

    /// The naive reference formulation: materialises `[B, N, N, 2F]`, runs the MLP on all
    /// `B·N²` edges with plain candle ops, masks and sums. Differentiable through candle's
    /// autograd; meant as the test oracle and the benchmark baseline.
    ///
    /// # Shapes
    /// `h`: `[B, N, F]`, `mask`: `[B, N]` → `[B, N, F_K]`
    ///
    /// # Errors
    /// As [`MaskedMessagePassing::forward`].
    pub fn forward_naive(&self, h: &Tensor, mask: &Tensor) -> Result<Tensor> {
        self.forward_naive_with_dropout(h, mask, None)
    }

    /// [`forward_naive`](Self::forward_naive) with the same [`EdgeDropout`] masks as
    /// [`forward_with_dropout`](Self::forward_with_dropout): the oracle of the fused dropout.
    ///
    /// # Errors
    /// As [`forward_with_dropout`](Self::forward_with_dropout).
    pub fn forward_naive_with_dropout(
        &self,
        h: &Tensor,
        mask: &Tensor,
        dropout: Option<EdgeDropout>,
    ) -> Result<Tensor> {
        if let Some(d) = &dropout {
            d.check()?;
        }
        let (h, mask) = self.check_inputs(h, mask, "MaskedMessagePassing::forward_naive")?;
        let (b, n, f) = h.dims3()?;
        let hi = h.unsqueeze(2)?.broadcast_as((b, n, n, f))?;
        let hj = h.unsqueeze(1)?.broadcast_as((b, n, n, f))?;
        let mut x = Tensor::cat(&[hi, hj], 3)?.reshape((b * n * n, 2 * f))?;
        let last = self.weights.len() - 1;
        for (k, (w, bias)) in self.weights.iter().zip(&self.biases).enumerate() {
            x = x.matmul(&w.t()?)?.broadcast_add(bias)?;
            if k < last || self.cfg.activate_last {
                x = leaky_relu(&x, self.cfg.negative_slope)?;
            }
            x = drop_layer(x, dropout.as_ref(), k)?;
        }
        let out = *self.cfg.widths.last().expect("validated non-empty");
        let x = x.reshape((b, n, n, out))?;
        Ok(x.broadcast_mul(&mask.reshape((b, 1, n, 1))?)?.sum(2)?)
    }
}

/// `x [E, w]` times layer `k`'s dropout mask (identity without dropout).
fn drop_layer(x: Tensor, dropout: Option<&EdgeDropout>, k: usize) -> Result<Tensor> {
    match dropout {
        Some(d) if d.p > 0.0 => {
            let (rows, w) = x.dims2()?;
            let m = d.mask(k, rows, w, x.dtype(), x.device())?;
            Ok((x * m)?)
        }
        _ => Ok(x),
    }
}

/// Fused broadcast sum + LeakyReLU of the split first edge layer, a candle [`CustomOp2`] on
/// `(recv [B, N, F1], send [B, N, F1])`.
///
/// ```text
/// out[b, i, j, f] = act(recv[b, i, f] + send[b, j, f])     → [B, N, N, F1]
/// ```
#[derive(Debug, Clone, Copy)]
pub struct PairLeaky {
    /// LeakyReLU negative slope, in `[0, 1]`.
    pub slope: f64,
    /// Whether to apply the activation (identity otherwise).
    pub activate: bool,
}

fn pair_kernel<T: Real>(
    r: &[T],
    s: &[T],
    (b, n, f): (usize, usize, usize),
    slope: T,
    act: bool,
) -> Vec<T> {
    let mut out = Vec::with_capacity(b * n * n * f);
    for jet in 0..b {
        for i in 0..n {
            let ri = &r[(jet * n + i) * f..(jet * n + i + 1) * f];
            for j in 0..n {
                let sj = &s[(jet * n + j) * f..(jet * n + j + 1) * f];
                if act {
                    out.extend(ri.iter().zip(sj).map(|(&x, &y)| (x + y).leaky(slope)));
                } else {
                    out.extend(ri.iter().zip(sj).map(|(&x, &y)| x + y));
                }
            }
        }
    }
    out
}

impl CustomOp2 for PairLeaky {
    fn name(&self) -> &'static str {
        "pair_leaky"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let dims = l1.shape().dims3()?;
        let (b, n, f) = dims;
        let st = match s1 {
            CpuStorage::F32(_) => CpuStorage::F32(pair_kernel(
                cpu_slice::<f32>(s1, l1, self.name())?,
                cpu_slice::<f32>(s2, l2, self.name())?,
                dims,
                self.slope as f32,
                self.activate,
            )),
            CpuStorage::F64(_) => CpuStorage::F64(pair_kernel(
                cpu_slice::<f64>(s1, l1, self.name())?,
                cpu_slice::<f64>(s2, l2, self.name())?,
                dims,
                self.slope,
                self.activate,
            )),
            _ => candle_core::bail!("pair_leaky: only f32/f64 are supported"),
        };
        Ok((st, Shape::from((b, n, n, f))))
    }

    #[cfg(feature = "cuda")]
    fn cuda_fwd(
        &self,
        s1: &candle_core::CudaStorage,
        l1: &Layout,
        s2: &candle_core::CudaStorage,
        l2: &Layout,
    ) -> candle_core::Result<(candle_core::CudaStorage, Shape)> {
        crate::cuda::pair_leaky_fwd(self.slope, self.activate, s1, l1, s2, l2)
    }

    fn bwd(
        &self,
        _recv: &Tensor,
        _send: &Tensor,
        out: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>)> {
        let g = if self.activate {
            // d act / d v = 1 where out > 0, else slope (out keeps the sign of v for slope >= 0).
            let pos = out.gt(0f64)?.to_dtype(out.dtype())?;
            (grad * pos.affine(1.0 - self.slope, self.slope)?)?
        } else {
            grad.clone()
        };
        Ok((Some(g.sum(2)?), Some(g.sum(1)?)))
    }
}

/// Sender-masked sum over `j`, a candle [`CustomOp2`] on `(e [B, N, N, F], mask [B, N])`
/// (mask 0/1 in the dtype of `e`).
///
/// ```text
/// out[b, i, f] = Σ_j mask[b, j] · e[b, i, j, f]     → [B, N, F]
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct MaskedAggregate;

fn aggregate_kernel<T: Real>(e: &[T], m: &[T], (b, n, f): (usize, usize, usize)) -> Vec<T> {
    let zero = T::c(0.0);
    let mut out = vec![zero; b * n * f];
    for jet in 0..b {
        for i in 0..n {
            let o = &mut out[(jet * n + i) * f..(jet * n + i + 1) * f];
            for j in (0..n).filter(|&j| m[jet * n + j] != zero) {
                let base = ((jet * n + i) * n + j) * f;
                o.iter_mut()
                    .zip(&e[base..base + f])
                    .for_each(|(a, &v)| *a += v);
            }
        }
    }
    out
}

impl CustomOp2 for MaskedAggregate {
    fn name(&self) -> &'static str {
        "masked_aggregate"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let (b, n, _, f) = l1.shape().dims4()?;
        let st = match s1 {
            CpuStorage::F32(_) => CpuStorage::F32(aggregate_kernel(
                cpu_slice::<f32>(s1, l1, self.name())?,
                cpu_slice::<f32>(s2, l2, self.name())?,
                (b, n, f),
            )),
            CpuStorage::F64(_) => CpuStorage::F64(aggregate_kernel(
                cpu_slice::<f64>(s1, l1, self.name())?,
                cpu_slice::<f64>(s2, l2, self.name())?,
                (b, n, f),
            )),
            _ => candle_core::bail!("masked_aggregate: only f32/f64 are supported"),
        };
        Ok((st, Shape::from((b, n, f))))
    }

    #[cfg(feature = "cuda")]
    fn cuda_fwd(
        &self,
        s1: &candle_core::CudaStorage,
        l1: &Layout,
        s2: &candle_core::CudaStorage,
        l2: &Layout,
    ) -> candle_core::Result<(candle_core::CudaStorage, Shape)> {
        crate::cuda::masked_aggregate_fwd(s1, l1, s2, l2)
    }

    fn bwd(
        &self,
        e: &Tensor,
        mask: &Tensor,
        _out: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>)> {
        let (b, n, _, _) = e.dims4()?;
        let ge = grad
            .unsqueeze(2)?
            .broadcast_mul(&mask.reshape((b, 1, n, 1))?)?
            .broadcast_as(e.shape())?
            .contiguous()?;
        Ok((Some(ge), None))
    }
}

/// `max(x, 0) + slope · min(x, 0)` with plain candle ops.
fn leaky_relu(x: &Tensor, slope: f64) -> candle_core::Result<Tensor> {
    let zeros = x.zeros_like()?;
    x.maximum(&zeros)? + (x.minimum(&zeros)? * slope)?
}

/// The fused message-passing forward as a candle [`CustomOp3`] on
/// `(h [B, N, F], mask [B, N], params [P])`, `params` being `W_1, b_1, W_2, b_2, …` flattened
/// row-major and concatenated. Prefer [`MaskedMessagePassing::forward`].
#[derive(Debug, Clone)]
pub struct FusedMessagePassing {
    cfg: MessagePassingConfig,
    dropout: Option<EdgeDropout>,
}

impl FusedMessagePassing {
    /// Op for the given configuration.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] when the configuration does not validate.
    pub fn new(cfg: &MessagePassingConfig) -> Result<Self> {
        cfg.validate()?;
        Ok(Self {
            cfg: cfg.clone(),
            dropout: None,
        })
    }

    /// Apply [`EdgeDropout`] after every edge-net layer (the backward recomputes the masks).
    pub fn with_dropout(mut self, dropout: Option<EdgeDropout>) -> Self {
        self.dropout = dropout.filter(|d| d.p > 0.0);
        self
    }
}

/// The hand-written backward of [`FusedMessagePassing`] as a [`CustomOp3`] on
/// `(h, mask, [params ; grad_out])`, returning `[grad_h ; grad_params]` flattened.
#[derive(Debug, Clone)]
struct FusedMessagePassingBackward {
    cfg: MessagePassingConfig,
    dropout: Option<EdgeDropout>,
}

/// Per-jet lists of real senders.
fn senders<T: Real>(mask: &[T], b: usize, n: usize) -> Vec<Vec<usize>> {
    (0..b)
        .map(|jet| (0..n).filter(|&j| mask[jet * n + j] != T::c(0.0)).collect())
        .collect()
}

/// Splits jets into consecutive chunks of at most `max_edges` edges (at least one jet each).
fn jet_chunks(senders: &[Vec<usize>], n: usize, max_edges: usize) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut edges = 0;
    for (jet, s) in senders.iter().enumerate() {
        let e = n * s.len();
        if jet > start && edges + e > max_edges {
            out.push(start..jet);
            start = jet;
            edges = 0;
        }
        edges += e;
    }
    if start < senders.len() {
        out.push(start..senders.len());
    }
    out
}

/// Runs `f` on the contiguous CPU data of `t`.
fn with_slice<T: Real, R>(t: &Tensor, f: impl FnOnce(&[T]) -> R) -> candle_core::Result<R> {
    let (storage, layout) = t.storage_and_layout();
    match &*storage {
        Storage::Cpu(s) => Ok(f(cpu_slice::<T>(s, layout, "message passing")?)),
        _ => candle_core::bail!("message passing: expected a cpu tensor"),
    }
}

fn cpu_tensor<T: Real>(v: Vec<T>, shape: (usize, usize)) -> candle_core::Result<Tensor> {
    Tensor::from_vec(v, shape, &Device::Cpu)
}

/// `x` if `positive` else `x · slope`, branch-free and exact (one of the two terms is 0):
/// the LeakyReLU and its derivative in the fused op's hot loops.
#[inline]
fn leaky_side<T: Real>(positive: bool, x: T, slope: T) -> T {
    x * T::one_if(positive) + x * slope * T::one_if(!positive)
}

/// Everything the CPU forward and backward share: dims, weights as CPU tensors, projections.
struct Plan<T: Real> {
    b: usize,
    n: usize,
    f: usize,
    widths: Vec<usize>,
    slope: T,
    activate_last: bool,
    /// `W_k` as `[out, in]` CPU tensors (contiguous).
    w: Vec<Tensor>,
    /// `b_k`.
    bias: Vec<Vec<T>>,
    /// `W_a h + b_1`, `[B·N, F1]`.
    proj_recv: Vec<T>,
    /// `W_b h`, `[B·N, F1]`.
    proj_send: Vec<T>,
    senders: Vec<Vec<usize>>,
    chunks: Vec<Range<usize>>,
    /// `(seed, keep threshold, 1/(1−p))` when dropout is on.
    dropout: Option<(u64, u32, T)>,
}

impl<T: Real> Plan<T> {
    fn new(
        cfg: &MessagePassingConfig,
        dropout: Option<&EdgeDropout>,
        h: &[T],
        (b, n, f): (usize, usize, usize),
        mask: &[T],
        params: &[T],
    ) -> candle_core::Result<Self> {
        let dims = cfg.weight_dims();
        let mut w = Vec::with_capacity(dims.len());
        let mut bias = Vec::with_capacity(dims.len());
        let mut off = 0;
        for &(rows, cols) in &dims {
            w.push(cpu_tensor(
                params[off..off + rows * cols].to_vec(),
                (rows, cols),
            )?);
            off += rows * cols;
            bias.push(params[off..off + rows].to_vec());
            off += rows;
        }
        let ht = cpu_tensor(h.to_vec(), (b * n, f))?;
        let wa = w[0].narrow(1, 0, f)?;
        let wb = w[0].narrow(1, f, f)?;
        let f1 = dims[0].0;
        let mut proj_recv: Vec<T> = ht.matmul(&wa.t()?)?.flatten_all()?.to_vec1()?;
        for row in proj_recv.chunks_exact_mut(f1) {
            row.iter_mut().zip(&bias[0]).for_each(|(a, &c)| *a += c);
        }
        let proj_send: Vec<T> = ht.matmul(&wb.t()?)?.flatten_all()?.to_vec1()?;
        let senders = senders(mask, b, n);
        let chunks = jet_chunks(&senders, n, cfg.chunk_edges);
        Ok(Self {
            b,
            n,
            f,
            widths: cfg.widths.clone(),
            slope: T::c(cfg.negative_slope),
            activate_last: cfg.activate_last,
            w,
            bias,
            proj_recv,
            proj_send,
            senders,
            chunks,
            dropout: dropout.map(|d| (d.seed, d.threshold(), T::c(1.0 / (1.0 - d.p)))),
        })
    }

    /// Multiplies row `x` (edge `edge`, layer `k`) by its dropout mask.
    fn drop_row(&self, k: usize, edge: usize, x: &mut [T]) {
        if let Some((seed, threshold, scale)) = self.dropout {
            // indexed, not branched on: the keep decisions are coin flips, which a branch
            // predictor gets wrong half of the time
            EdgeDropout::for_row(seed, threshold, k, edge, x.len(), |c, kept| {
                x[c] = x[c] * scale * T::one_if(kept);
            });
        }
    }

    /// Global edge ids `(jet · N + i) · N + j` of the chunk's rows.
    fn edge_ids(&self, jets: &Range<usize>) -> Vec<usize> {
        let n = self.n;
        let mut ids = Vec::new();
        for jet in jets.clone() {
            for i in 0..n {
                ids.extend(self.senders[jet].iter().map(|&j| (jet * n + i) * n + j));
            }
        }
        ids
    }

    fn activated(&self, k: usize) -> bool {
        k + 1 < self.widths.len() || self.activate_last
    }

    /// First-layer activations of the chunk's edges with a real sender, rows ordered
    /// `(jet, receiver i, sender j)`: `act(W_a h_i + b_1 + W_b h_j)`, `[E, F1]`.
    fn first_layer(&self, jets: &Range<usize>) -> (Vec<T>, usize) {
        let (n, f1) = (self.n, self.widths[0]);
        let act = self.activated(0);
        let e: usize = jets.clone().map(|jet| n * self.senders[jet].len()).sum();
        let mut out = vec![T::c(0.0); e * f1];
        // one disjoint slice of rows per jet, filled in parallel
        let mut parts = Vec::with_capacity(jets.len());
        let mut rest = out.as_mut_slice();
        for jet in jets.clone() {
            let (head, tail) = rest.split_at_mut(n * self.senders[jet].len() * f1);
            parts.push((jet, head));
            rest = tail;
        }
        parts.into_par_iter().for_each(|(jet, rows)| {
            let mut rows = rows.chunks_exact_mut(f1);
            for i in 0..n {
                let r = &self.proj_recv[(jet * n + i) * f1..(jet * n + i + 1) * f1];
                for &j in &self.senders[jet] {
                    let s = &self.proj_send[(jet * n + j) * f1..(jet * n + j + 1) * f1];
                    let o = rows.next().expect("rows sized by the sender count");
                    for ((o, &x), &y) in o.iter_mut().zip(r).zip(s) {
                        let v = x + y;
                        *o = if act {
                            leaky_side(v > T::c(0.0), v, self.slope)
                        } else {
                            v
                        };
                    }
                    self.drop_row(0, (jet * n + i) * n + j, o);
                }
            }
        });
        (out, e)
    }

    /// Layer outputs `X_0 … X_{K-1}` of one chunk, `[E, w_k]` each (post-activation), and the
    /// chunk's global edge ids (empty without dropout, which is their only use).
    fn chunk_activations(
        &self,
        jets: &Range<usize>,
    ) -> candle_core::Result<(Vec<Tensor>, usize, Vec<usize>)> {
        let (x0, e) = self.first_layer(jets);
        let ids = if self.dropout.is_some() {
            self.edge_ids(jets)
        } else {
            Vec::new()
        };
        let mut outs = vec![cpu_tensor(x0, (e, self.widths[0]))?];
        for k in 1..self.widths.len() {
            let z = outs[k - 1].matmul(&self.w[k].t()?)?;
            let act = self.activated(k);
            let bias = &self.bias[k];
            let slope = self.slope;
            let y = with_slice::<T, _>(&z, |zs| {
                let w = bias.len();
                let mut y = vec![T::c(0.0); zs.len()];
                y.par_chunks_mut(w)
                    .zip(zs.par_chunks(w))
                    .enumerate()
                    .for_each(|(r, (yr, zr))| {
                        for ((o, &a), &c) in yr.iter_mut().zip(zr).zip(bias) {
                            let v = a + c;
                            *o = if act {
                                leaky_side(v > T::c(0.0), v, slope)
                            } else {
                                v
                            };
                        }
                        if let Some(&edge) = ids.get(r) {
                            self.drop_row(k, edge, yr);
                        }
                    });
                y
            })?;
            outs.push(cpu_tensor(y, (e, self.widths[k]))?);
        }
        Ok((outs, e, ids))
    }

    fn forward(&self) -> candle_core::Result<Vec<T>> {
        let (n, fo) = (self.n, *self.widths.last().expect("non-empty"));
        let mut out = vec![T::c(0.0); self.b * n * fo];
        for jets in &self.chunks {
            let (outs, e, _) = self.chunk_activations(jets)?;
            if e == 0 {
                continue;
            }
            with_slice::<T, _>(outs.last().expect("non-empty"), |x| {
                let mut row = 0;
                for jet in jets.clone() {
                    let ns = self.senders[jet].len();
                    for i in 0..n {
                        let o = &mut out[(jet * n + i) * fo..(jet * n + i + 1) * fo];
                        for _ in 0..ns {
                            let src = &x[row * fo..(row + 1) * fo];
                            o.iter_mut().zip(src).for_each(|(a, &v)| *a += v);
                            row += 1;
                        }
                    }
                }
            })?;
        }
        Ok(out)
    }

    /// Back-propagates `g` (rows = edges `ids`) through layer `k`'s dropout and activation,
    /// in one parallel pass. Dropped outputs are 0 and kept ones keep their sign, so the
    /// LeakyReLU derivative is read off the stored (dropped-out) activations `out`.
    fn local_grad(
        &self,
        k: usize,
        ids: &[usize],
        g: &mut [T],
        out: &Tensor,
    ) -> candle_core::Result<()> {
        let (w, slope, act) = (self.widths[k], self.slope, self.activated(k));
        if self.dropout.is_none() && !act {
            return Ok(());
        }
        with_slice::<T, _>(out, |o| {
            g.par_chunks_mut(w)
                .zip(o.par_chunks(w))
                .enumerate()
                .for_each(|(r, (gr, or))| {
                    if let Some(&edge) = ids.get(r) {
                        self.drop_row(k, edge, gr);
                    }
                    if act {
                        for (gv, &ov) in gr.iter_mut().zip(or) {
                            *gv = leaky_side(ov > T::c(0.0), *gv, slope);
                        }
                    }
                })
        })
    }

    /// Returns `[grad_h ; grad W_1 ; grad b_1 ; …]` given `grad_out` `[B·N·F_K]`.
    fn backward(&self, h: &[T], grad_out: &[T]) -> candle_core::Result<Vec<T>> {
        let (n, f, kk) = (self.n, self.f, self.widths.len());
        let f1 = self.widths[0];
        let fo = self.widths[kk - 1];
        let zero = T::c(0.0);
        let mut g_recv = vec![zero; self.b * n * f1];
        let mut g_send = vec![zero; self.b * n * f1];
        let mut g_w: Vec<Option<Tensor>> = vec![None; kk];
        let mut g_b: Vec<Vec<T>> = self.widths.iter().map(|&w| vec![zero; w]).collect();
        for jets in &self.chunks {
            let (outs, e, ids) = self.chunk_activations(jets)?;
            if e == 0 {
                continue;
            }
            // dL/dX_{K-1}: every edge row gets its receiver's output gradient.
            let mut g = Vec::with_capacity(e * fo);
            for jet in jets.clone() {
                for i in 0..n {
                    let src = &grad_out[(jet * n + i) * fo..(jet * n + i + 1) * fo];
                    for _ in 0..self.senders[jet].len() {
                        g.extend_from_slice(src);
                    }
                }
            }
            for k in (1..kk).rev() {
                self.local_grad(k, &ids, &mut g, &outs[k])?;
                for row in g.chunks_exact(self.widths[k]) {
                    g_b[k].iter_mut().zip(row).for_each(|(a, &v)| *a += v);
                }
                let gt = cpu_tensor(g, (e, self.widths[k]))?;
                let gw = gt.t()?.matmul(&outs[k - 1])?;
                g_w[k] = Some(match g_w[k].take() {
                    Some(acc) => (acc + gw)?,
                    None => gw,
                });
                g = gt.matmul(&self.w[k])?.flatten_all()?.to_vec1()?;
            }
            self.local_grad(0, &ids, &mut g, &outs[0])?;
            let mut row = 0;
            for jet in jets.clone() {
                for i in 0..n {
                    let ri = (jet * n + i) * f1;
                    for &j in &self.senders[jet] {
                        let sj = (jet * n + j) * f1;
                        let gr = &g[row * f1..(row + 1) * f1];
                        g_recv[ri..ri + f1]
                            .iter_mut()
                            .zip(gr)
                            .for_each(|(a, &v)| *a += v);
                        g_send[sj..sj + f1]
                            .iter_mut()
                            .zip(gr)
                            .for_each(|(a, &v)| *a += v);
                        row += 1;
                    }
                }
            }
        }
        for row in g_recv.chunks_exact(f1) {
            g_b[0].iter_mut().zip(row).for_each(|(a, &v)| *a += v);
        }
        let rows = self.b * n;
        let ht = cpu_tensor(h.to_vec(), (rows, f))?;
        let gr = cpu_tensor(g_recv, (rows, f1))?;
        let gs = cpu_tensor(g_send, (rows, f1))?;
        let wa = self.w[0].narrow(1, 0, f)?.contiguous()?;
        let wb = self.w[0].narrow(1, f, f)?.contiguous()?;
        let g_h = (gr.matmul(&wa)? + gs.matmul(&wb)?)?;
        let g_w0 = Tensor::cat(&[gr.t()?.matmul(&ht)?, gs.t()?.matmul(&ht)?], 1)?;
        g_w[0] = Some(g_w0);
        let mut out: Vec<T> = g_h.flatten_all()?.to_vec1()?;
        for (k, gb) in g_b.into_iter().enumerate() {
            match &g_w[k] {
                Some(gw) => out.extend(gw.flatten_all()?.to_vec1::<T>()?),
                None => {
                    let (r, c) = (
                        self.widths[k],
                        if k == 0 { 2 * f } else { self.widths[k - 1] },
                    );
                    out.extend(std::iter::repeat_n(zero, r * c));
                }
            }
            out.extend(gb);
        }
        Ok(out)
    }
}

fn fused_forward_cpu<T: Real>(
    cfg: &MessagePassingConfig,
    dropout: Option<&EdgeDropout>,
    (s1, l1): (&CpuStorage, &Layout),
    (s2, l2): (&CpuStorage, &Layout),
    (s3, l3): (&CpuStorage, &Layout),
) -> candle_core::Result<Vec<T>> {
    let dims = l1.shape().dims3()?;
    let plan = Plan::<T>::new(
        cfg,
        dropout,
        cpu_slice(s1, l1, "fused_message_passing")?,
        dims,
        cpu_slice(s2, l2, "fused_message_passing")?,
        cpu_slice(s3, l3, "fused_message_passing")?,
    )?;
    plan.forward()
}

fn fused_backward_cpu<T: Real>(
    cfg: &MessagePassingConfig,
    dropout: Option<&EdgeDropout>,
    (s1, l1): (&CpuStorage, &Layout),
    (s2, l2): (&CpuStorage, &Layout),
    (s3, l3): (&CpuStorage, &Layout),
) -> candle_core::Result<Vec<T>> {
    let dims = l1.shape().dims3()?;
    let h = cpu_slice::<T>(s1, l1, "fused_message_passing_bwd")?;
    let packed = cpu_slice::<T>(s3, l3, "fused_message_passing_bwd")?;
    let np = cfg.num_params();
    let plan = Plan::<T>::new(
        cfg,
        dropout,
        h,
        dims,
        cpu_slice(s2, l2, "fused_message_passing_bwd")?,
        &packed[..np],
    )?;
    plan.backward(h, &packed[np..])
}

macro_rules! dispatch_float {
    ($name:expr, $s1:expr, $f:ident, $($args:expr),*) => {
        match $s1 {
            CpuStorage::F32(_) => CpuStorage::F32($f::<f32>($($args),*)?),
            CpuStorage::F64(_) => CpuStorage::F64($f::<f64>($($args),*)?),
            _ => candle_core::bail!("{}: only f32/f64 are supported", $name),
        }
    };
}

impl CustomOp3 for FusedMessagePassing {
    fn name(&self) -> &'static str {
        "fused_message_passing"
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
        let (b, n, _) = l1.shape().dims3()?;
        let fo = *self.cfg.widths.last().expect("validated non-empty");
        let storage = dispatch_float!(
            self.name(),
            s1,
            fused_forward_cpu,
            &self.cfg,
            self.dropout.as_ref(),
            (s1, l1),
            (s2, l2),
            (s3, l3)
        );
        Ok((storage, Shape::from((b, n, fo))))
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
        crate::cuda::via_cpu3(self, s1, l1, s2, l2, s3, l3)
    }

    fn bwd(
        &self,
        h: &Tensor,
        mask: &Tensor,
        params: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let packed = Tensor::cat(
            &[params.detach(), grad.detach().contiguous()?.flatten_all()?],
            0,
        )?;
        let op = FusedMessagePassingBackward {
            cfg: self.cfg.clone(),
            dropout: self.dropout,
        };
        let flat = h.detach().apply_op3_no_bwd(&mask.detach(), &packed, &op)?;
        let nh = h.elem_count();
        let g_h = flat.narrow(0, 0, nh)?.reshape(h.shape())?;
        let g_p = flat.narrow(0, nh, params.elem_count())?;
        Ok((Some(g_h), None, Some(g_p)))
    }
}

impl CustomOp3 for FusedMessagePassingBackward {
    fn name(&self) -> &'static str {
        "fused_message_passing_bwd"
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
        let len = l1.shape().elem_count() + self.cfg.num_params();
        let storage = dispatch_float!(
            self.name(),
            s1,
            fused_backward_cpu,
            &self.cfg,
            self.dropout.as_ref(),
            (s1, l1),
            (s2, l2),
            (s3, l3)
        );
        Ok((storage, Shape::from(len)))
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
        crate::cuda::via_cpu3(self, s1, l1, s2, l2, s3, l3)
    }
}

#[cfg(test)]
mod tests;
