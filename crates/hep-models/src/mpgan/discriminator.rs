//! The MPGAN discriminator: 2 message-passing layers (3 → 32 → 32) on the real particles,
//! masked sum-pool, a linear layer to one logit and a sigmoid, with dropout after every linear
//! layer (as the reference, including the final logit).
//!
//! ```text
//! mask = x[..., 3] + 0.5;  h = x[..., :3]
//! h ← MP(h) twice;  y = sigmoid(drop(W · Σ_i mask_i h_i + b))
//! ```
//! Dropout masks come from a caller-provided seeded RNG, so training runs are reproducible.
//! The edge network runs as hep-sparse's fused masked message passing with
//! [`EdgeDropout`] (the masks are a hash of a seed drawn from the RNG and the element's
//! index, so the op recomputes them in its backward instead of storing `[B·N·N, w]` masks).
//!
//! ## References
//! `rkansal47/MPGAN` branch `neurips21`, `mpgan/model.py` (`MPDiscriminator`, `dea=True`,
//! `dea_sum=True`, `fnd=[]`, `disc_dropout=0.5`).

use candle_core::{D, Tensor};
use candle_nn::VarBuilder;
use hep_sparse::{EdgeDropout, MaskedMessagePassing, MessagePassingConfig};
use rand::RngCore;
use rand::rngs::StdRng;

use super::{LinearNet, MpGanConfig};
use crate::{Error, Result};

/// One discriminator message-passing layer.
#[derive(Debug, Clone)]
struct DiscLayer {
    edge: MaskedMessagePassing,
    fn_: LinearNet,
    p: f64,
    in_size: usize,
    out: usize,
}

impl DiscLayer {
    fn new(cfg: &MpGanConfig, in_size: usize, out: usize, p: f64, vb: VarBuilder) -> Result<Self> {
        let mut fe_sizes = vec![2 * in_size];
        fe_sizes.extend_from_slice(&cfg.fe);
        let fe = LinearNet::new(&fe_sizes, false, cfg.leaky_relu_alpha, vb.pp("fe"))?;
        let layers = fe
            .layers()
            .iter()
            .map(|l| {
                let b = l.bias().cloned().ok_or_else(|| Error::InvalidConfig {
                    component: "MpDiscriminator",
                    field: "fe",
                    value: "a layer without bias".into(),
                    reason: "edge layers need biases",
                })?;
                Ok((l.weight().clone(), b))
            })
            .collect::<Result<Vec<_>>>()?;
        let edge = MaskedMessagePassing::new(
            &MessagePassingConfig {
                in_features: in_size,
                widths: cfg.fe.clone(),
                negative_slope: cfg.leaky_relu_alpha,
                activate_last: true,
                ..Default::default()
            },
            layers,
        )?;
        let mut fn_sizes = vec![cfg.fe.last().copied().unwrap_or(0) + in_size];
        fn_sizes.extend_from_slice(&cfg.fn_);
        fn_sizes.push(out);
        let fn_ =
            LinearNet::new(&fn_sizes, true, cfg.leaky_relu_alpha, vb.pp("fn"))?.with_dropout(p);
        Ok(Self {
            edge,
            fn_,
            p,
            in_size,
            out,
        })
    }

    fn forward(&self, h: &Tensor, mask: &Tensor, mut rng: Option<&mut StdRng>) -> Result<Tensor> {
        let (b, n, f) = h.dims3()?;
        debug_assert_eq!(f, self.in_size);
        let dropout = rng.as_deref_mut().map(|r| EdgeDropout {
            p: self.p,
            seed: r.next_u64(),
        });
        let m = self.edge.forward_with_dropout(h, mask, dropout)?;
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
