//! The MPGAN discriminator: 2 message-passing layers (3 → 32 → 32) on the real particles,
//! masked sum-pool, a linear layer to one logit and a sigmoid, with dropout after every linear
//! layer (as the reference, including the final logit).
//!
//! ```text
//! mask = x[..., 3] + 0.5;  h = x[..., :3]
//! h ← MP(h) twice;  y = sigmoid(drop(W · Σ_i mask_i h_i + b))
//! ```
//! Dropout masks come from a caller-provided seeded RNG, so training runs are reproducible.
//! The edge network runs with candle ops in split-first-layer form (`W_a h_i + W_b h_j + b`,
//! never concatenating `[h_i ; h_j]`), because dropout sits between its layers.
//!
//! ## References
//! `rkansal47/MPGAN` branch `neurips21`, `mpgan/model.py` (`MPDiscriminator`, `dea=True`,
//! `dea_sum=True`, `fnd=[]`, `disc_dropout=0.5`).

use candle_core::{D, Tensor};
use candle_nn::{Linear, Module, VarBuilder};
use rand::Rng;
use rand::rngs::StdRng;

use super::{MpGanConfig, leaky_relu};
use crate::{Error, Result};

/// Inverted dropout with a mask drawn from `rng` (identity when `p == 0` or `rng` is `None`).
fn dropout(x: &Tensor, p: f64, rng: Option<&mut StdRng>) -> Result<Tensor> {
    let Some(rng) = rng else { return Ok(x.clone()) };
    if p <= 0.0 {
        return Ok(x.clone());
    }
    let keep = 1.0 - p;
    let scale = (1.0 / keep) as f32;
    let m: Vec<f32> = (0..x.elem_count())
        .map(|_| {
            if rng.random::<f64>() < keep {
                scale
            } else {
                0.0
            }
        })
        .collect();
    let m = Tensor::from_vec(m, x.shape(), x.device())?.to_dtype(x.dtype())?;
    Ok((x * m)?)
}

/// Linear layers with LeakyReLU (not after the last when `final_linear`) and dropout after
/// every layer: the reference `LinearNet` with `dropout_p`.
#[derive(Debug, Clone)]
struct DropoutNet {
    layers: Vec<Linear>,
    final_linear: bool,
    slope: f64,
    p: f64,
}

impl DropoutNet {
    fn new(
        sizes: &[usize],
        final_linear: bool,
        slope: f64,
        p: f64,
        vb: VarBuilder,
    ) -> Result<Self> {
        let layers = sizes
            .windows(2)
            .enumerate()
            .map(|(k, w)| candle_nn::linear(w[0], w[1], vb.pp("net").pp(k)))
            .collect::<candle_core::Result<_>>()?;
        Ok(Self {
            layers,
            final_linear,
            slope,
            p,
        })
    }

    fn forward(&self, x: &Tensor, mut rng: Option<&mut StdRng>) -> Result<Tensor> {
        let last = self.layers.len() - 1;
        let mut x = x.clone();
        for (k, l) in self.layers.iter().enumerate() {
            x = l.forward(&x)?;
            if k < last || !self.final_linear {
                x = leaky_relu(&x, self.slope)?;
            }
            x = dropout(&x, self.p, rng.as_deref_mut())?;
        }
        Ok(x)
    }
}

/// One discriminator message-passing layer.
#[derive(Debug, Clone)]
struct DiscLayer {
    fe: DropoutNet,
    fn_: DropoutNet,
    in_size: usize,
    out: usize,
}

impl DiscLayer {
    fn new(cfg: &MpGanConfig, in_size: usize, out: usize, p: f64, vb: VarBuilder) -> Result<Self> {
        let mut fe_sizes = vec![2 * in_size];
        fe_sizes.extend_from_slice(&cfg.fe);
        let fe = DropoutNet::new(&fe_sizes, false, cfg.leaky_relu_alpha, p, vb.pp("fe"))?;
        let mut fn_sizes = vec![cfg.fe.last().copied().unwrap_or(0) + in_size];
        fn_sizes.extend_from_slice(&cfg.fn_);
        fn_sizes.push(out);
        let fn_ = DropoutNet::new(&fn_sizes, true, cfg.leaky_relu_alpha, p, vb.pp("fn"))?;
        Ok(Self {
            fe,
            fn_,
            in_size,
            out,
        })
    }

    fn forward(&self, h: &Tensor, mask: &Tensor, mut rng: Option<&mut StdRng>) -> Result<Tensor> {
        let (b, n, f) = h.dims3()?;
        debug_assert_eq!(f, self.in_size);
        let first = &self.fe.layers[0];
        let w = first.weight();
        let wa = w.narrow(1, 0, f)?;
        let wb = w.narrow(1, f, f)?;
        let hf = h.reshape((b * n, f))?;
        let a = hf.matmul(&wa.t()?)?.reshape((b, n, 1, ()))?;
        let c = hf.matmul(&wb.t()?)?.reshape((b, 1, n, ()))?;
        let mut x = a.broadcast_add(&c)?;
        if let Some(bias) = first.bias() {
            x = x.broadcast_add(bias)?;
        }
        let width = x.dim(D::Minus1)?;
        let mut x = leaky_relu(&x.reshape((b * n * n, width))?, self.fe.slope)?;
        x = dropout(&x, self.fe.p, rng.as_deref_mut())?;
        for l in &self.fe.layers[1..] {
            x = leaky_relu(&l.forward(&x)?, self.fe.slope)?;
            x = dropout(&x, self.fe.p, rng.as_deref_mut())?;
        }
        let width = x.dim(D::Minus1)?;
        let x = x.reshape((b, n, n, width))?;
        let m = x
            .broadcast_mul(&mask.reshape((b, 1, n, 1))?.to_dtype(x.dtype())?)?
            .sum(2)?;
        let x = Tensor::cat(&[&m, h], D::Minus1)?;
        let fw = x.dim(D::Minus1)?;
        let x = self.fn_.forward(&x.reshape((b * n, fw))?, rng)?;
        Ok(x.reshape((b, n, self.out))?)
    }
}

/// The MPGAN discriminator.
#[derive(Debug, Clone)]
pub struct MpDiscriminator {
    cfg: MpGanConfig,
    layers: Vec<DiscLayer>,
    fnd: DropoutNet,
}

impl MpDiscriminator {
    /// Build with dropout probability `dropout_p` (reference: 0.5); parameter names
    /// `mp_layers.{k}.{fe,fn}.net.{l}` and `fnd_layer.net.0` as in the reference state dicts.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`]; missing or mis-shaped parameters.
    pub fn new(cfg: &MpGanConfig, dropout_p: f64, vb: VarBuilder) -> Result<Self> {
        cfg.validate()?;
        if !(0.0..1.0).contains(&dropout_p) {
            return Err(Error::InvalidConfig {
                component: "MpDiscriminator",
                field: "dropout_p",
                value: dropout_p.to_string(),
                reason: "must be in [0, 1)",
            });
        }
        let h = cfg.hidden_node_size;
        let layers = (0..cfg.mp_iters)
            .map(|k| {
                let in_size = if k == 0 { cfg.output_features } else { h };
                DiscLayer::new(cfg, in_size, h, dropout_p, vb.pp("mp_layers").pp(k))
            })
            .collect::<Result<_>>()?;
        let fnd = DropoutNet::new(
            &[h, 1],
            true,
            cfg.leaky_relu_alpha,
            dropout_p,
            vb.pp("fnd_layer"),
        )?;
        Ok(Self {
            cfg: cfg.clone(),
            layers,
            fnd,
        })
    }

    /// Probability that each jet is real.
    ///
    /// # Shapes
    /// `x`: `[B, N, 4]` in the generator's normalised space (features, then mask − 0.5) →
    /// `[B]`.
    ///
    /// `rng` drives dropout (training); `None` evaluates without dropout.
    ///
    /// # Errors
    /// [`Error::Shape`] for a wrong input shape; tensor errors.
    pub fn forward(&self, x: &Tensor, mut rng: Option<&mut StdRng>) -> Result<Tensor> {
        let f = self.cfg.output_features;
        let dims = x.dims().to_vec();
        if dims.len() != 3 || dims[1] != self.cfg.num_particles || dims[2] != f + 1 {
            return Err(Error::Shape {
                op: "MpDiscriminator::forward",
                arg: "x",
                expected: format!("[B, {}, {}]", self.cfg.num_particles, f + 1),
                found: dims,
            });
        }
        let mask = (x.narrow(2, f, 1)?.squeeze(2)? + 0.5)?;
        let mut h = x.narrow(2, 0, f)?;
        for l in &self.layers {
            h = l.forward(&h, &mask, rng.as_deref_mut())?;
        }
        let pooled = h.broadcast_mul(&mask.unsqueeze(2)?)?.sum(1)?;
        let logit = self.fnd.forward(&pooled, rng)?;
        Ok(candle_nn::ops::sigmoid(&logit.squeeze(1)?)?)
    }
}
