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
use candle_nn::{Module, VarBuilder};
use rand::rngs::StdRng;

use super::{LinearNet, MpGanConfig, dropout, leaky_relu};
use crate::{Error, Result};

/// One discriminator message-passing layer.
#[derive(Debug, Clone)]
struct DiscLayer {
    fe: LinearNet,
    fn_: LinearNet,
    slope: f64,
    p: f64,
    in_size: usize,
    out: usize,
}

impl DiscLayer {
    fn new(cfg: &MpGanConfig, in_size: usize, out: usize, p: f64, vb: VarBuilder) -> Result<Self> {
        let mut fe_sizes = vec![2 * in_size];
        fe_sizes.extend_from_slice(&cfg.fe);
        let fe =
            LinearNet::new(&fe_sizes, false, cfg.leaky_relu_alpha, vb.pp("fe"))?.with_dropout(p);
        let mut fn_sizes = vec![cfg.fe.last().copied().unwrap_or(0) + in_size];
        fn_sizes.extend_from_slice(&cfg.fn_);
        fn_sizes.push(out);
        let fn_ =
            LinearNet::new(&fn_sizes, true, cfg.leaky_relu_alpha, vb.pp("fn"))?.with_dropout(p);
        Ok(Self {
            fe,
            fn_,
            slope: cfg.leaky_relu_alpha,
            p,
            in_size,
            out,
        })
    }

    fn forward(&self, h: &Tensor, mask: &Tensor, mut rng: Option<&mut StdRng>) -> Result<Tensor> {
        let (b, n, f) = h.dims3()?;
        debug_assert_eq!(f, self.in_size);
        let first = &self.fe.layers()[0];
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
        let mut x = leaky_relu(&x.reshape((b * n * n, width))?, self.slope)?;
        x = dropout(&x, self.p, rng.as_deref_mut())?;
        for l in &self.fe.layers()[1..] {
            x = leaky_relu(&l.forward(&x)?, self.slope)?;
            x = dropout(&x, self.p, rng.as_deref_mut())?;
        }
        let width = x.dim(D::Minus1)?;
        let x = x.reshape((b, n, n, width))?;
        let m = x
            .broadcast_mul(&mask.reshape((b, 1, n, 1))?.to_dtype(x.dtype())?)?
            .sum(2)?;
        let x = Tensor::cat(&[&m, h], D::Minus1)?;
        let fw = x.dim(D::Minus1)?;
        let x = self.fn_.forward_train(&x.reshape((b * n, fw))?, rng)?;
        Ok(x.reshape((b, n, self.out))?)
    }
}

/// The MPGAN discriminator.
#[derive(Debug, Clone)]
pub struct MpDiscriminator {
    cfg: MpGanConfig,
    layers: Vec<DiscLayer>,
    fnd: LinearNet,
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
        let fnd = LinearNet::new(&[h, 1], true, cfg.leaky_relu_alpha, vb.pp("fnd_layer"))?
            .with_dropout(dropout_p);
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
        let logit = self.fnd.forward_train(&pooled, rng)?;
        Ok(candle_nn::ops::sigmoid(&logit.squeeze(1)?)?)
    }
}
