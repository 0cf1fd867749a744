//! MPGAN: the message-passing generator for particle clouds.
//!
//! Each message-passing layer updates every particle from the messages of all real particles
//! (fully connected graph with self-loops):
//!
//! ```text
//! m_i  = Σ_j mask_j · f_e([h_i ; h_j])          f_e: Linear+LeakyReLU(0.2) ×3, widths [96, 160, 192]
//! h_i' = f_n([m_i ; h_i])                        f_n: Linear+LeakyReLU ×2 (256, 256), then Linear
//! ```
//!
//! The generator starts from per-particle Gaussian noise `[B, 30, 32]` (σ = 0.2), chooses each
//! jet's mask from its requested multiplicity by ranking the first noise feature (the `n`
//! lowest are real), runs 2 layers (32 → 32 → 3), applies tanh and appends `mask − 0.5`.
//! Padded particles still receive messages; only senders are masked.
//!
//! ## Paper
//! R. Kansal, J. Duarte, H. Su, B. Orzari, T. Tomei, M. Pierini, M. Touranakou, J.-R. Vlimant,
//! D. Gunopulos, "Particle Cloud Generation with Message Passing Generative Adversarial
//! Networks", NeurIPS 2021, arXiv:2106.11535.
//!
//! ## References
//! `rkansal47/MPGAN`, branch `neurips21`: `mpgan/model.py` (`LinearNet`, `MPLayer`, `MPNet`,
//! `MPGenerator`) and `trained_models/mp_{g,q,t}/args.txt`. Parameter names here equal that
//! state dict's keys (`mp_layers.{k}.fe.net.{l}.weight`, …).

use candle_core::{D, Device, Tensor};
use candle_nn::{Linear, Module, VarBuilder};
use hep_data::JetType;
use hep_sparse::{MaskedMessagePassing, MessagePassingConfig, mask_from_multiplicity};
use rand::RngCore;
use rand::rngs::StdRng;

use crate::{Error, Result};

mod baselines;
pub(crate) use baselines::gaussian;
mod discriminator;
pub mod train;
pub use baselines::{
    DEFAULT_LATENT, Discriminator, DiscriminatorKind, FcGenerator, FcGeneratorConfig, Generator,
    GeneratorKind, MpLfcGenerator, PointNetMixConfig, PointNetMixDiscriminator,
};
pub use discriminator::MpDiscriminator;

/// Architecture of an MPGAN generator (defaults: the published `mp_{g,q,t}` models).
#[derive(Debug, Clone, PartialEq)]
pub struct MpGanConfig {
    /// Particle slots per jet `N`.
    pub num_particles: usize,
    /// Output features per particle (η_rel, φ_rel, pT_rel).
    pub output_features: usize,
    /// Noise and hidden node width.
    pub hidden_node_size: usize,
    /// Edge-network widths.
    pub fe: Vec<usize>,
    /// Node-network hidden widths.
    pub fn_: Vec<usize>,
    /// Message-passing iterations.
    pub mp_iters: usize,
    /// LeakyReLU negative slope.
    pub leaky_relu_alpha: f64,
    /// Standard deviation of the input noise.
    pub noise_sd: f64,
}

impl Default for MpGanConfig {
    fn default() -> Self {
        Self {
            num_particles: 30,
            output_features: 3,
            hidden_node_size: 32,
            fe: vec![96, 160, 192],
            fn_: vec![256, 256],
            mp_iters: 2,
            leaky_relu_alpha: 0.2,
            noise_sd: 0.2,
        }
    }
}

impl MpGanConfig {
    /// Check the configuration.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] for zero sizes, fewer than 1 iteration, or a slope outside [0, 1].
    pub fn validate(&self) -> Result<()> {
        let bad = |field, value: String, reason| Error::InvalidConfig {
            component: "MpGanConfig",
            field,
            value,
            reason,
        };
        if self.num_particles == 0 || self.output_features == 0 || self.hidden_node_size == 0 {
            return Err(bad(
                "sizes",
                format!("{self:?}"),
                "particle count and widths must be positive",
            ));
        }
        if self.fe.is_empty() || self.fe.contains(&0) || self.fn_.contains(&0) {
            return Err(bad(
                "fe/fn",
                format!("{:?}/{:?}", self.fe, self.fn_),
                "widths must be positive",
            ));
        }
        if self.mp_iters == 0 {
            return Err(bad("mp_iters", "0".into(), "needs at least one iteration"));
        }
        if !(0.0..=1.0).contains(&self.leaky_relu_alpha) {
            return Err(bad(
                "leaky_relu_alpha",
                self.leaky_relu_alpha.to_string(),
                "must be in [0, 1]",
            ));
        }
        Ok(())
    }
}

pub(crate) fn leaky_relu(x: &Tensor, slope: f64) -> Result<Tensor> {
    Ok(hep_sparse::leaky_relu(x, slope)?)
}

/// Inverted dropout with a mask drawn from `rng` (identity when `p == 0` or `rng` is `None`).
pub(crate) fn dropout(x: &Tensor, p: f64, rng: Option<&mut StdRng>) -> Result<Tensor> {
    let Some(rng) = rng else { return Ok(x.clone()) };
    if p <= 0.0 {
        return Ok(x.clone());
    }
    let keep = 1.0 - p;
    let scale = (1.0 / keep) as f32;
    // keep an element when a 32-bit draw falls below keep · 2³²
    let threshold = (keep * 4_294_967_296.0).min(f64::from(u32::MAX)) as u32;
    let m: Vec<f32> = (0..x.elem_count())
        .map(|_| {
            if rng.next_u32() < threshold {
                scale
            } else {
                0.0
            }
        })
        .collect();
    let m = Tensor::from_vec(m, x.shape(), x.device())?.to_dtype(x.dtype())?;
    Ok((x * m)?)
}

/// A stack of linear layers with LeakyReLU after each (optionally not after the last) and
/// optional dropout after every layer: MPGAN's `LinearNet`.
#[derive(Debug, Clone)]
pub struct LinearNet {
    layers: Vec<Linear>,
    final_linear: bool,
    slope: f64,
    dropout: f64,
}

impl LinearNet {
    /// Layers `sizes[0] → sizes[1] → …`, named `net.{k}` under `vb`, without dropout.
    ///
    /// # Errors
    /// Missing or mis-shaped parameters.
    pub fn new(sizes: &[usize], final_linear: bool, slope: f64, vb: VarBuilder) -> Result<Self> {
        let layers = sizes
            .windows(2)
            .enumerate()
            .map(|(k, w)| candle_nn::linear(w[0], w[1], vb.pp("net").pp(k)))
            .collect::<candle_core::Result<_>>()?;
        Ok(Self {
            layers,
            final_linear,
            slope,
            dropout: 0.0,
        })
    }

    /// Apply dropout with probability `p` after every layer in
    /// [`forward_train`](Self::forward_train).
    pub fn with_dropout(mut self, p: f64) -> Self {
        self.dropout = p;
        self
    }

    /// The layers.
    pub fn layers(&self) -> &[Linear] {
        &self.layers
    }

    /// Forward pass; dropout is active when `rng` is given.
    ///
    /// # Errors
    /// Tensor errors.
    pub fn forward_train(&self, x: &Tensor, mut rng: Option<&mut StdRng>) -> Result<Tensor> {
        let last = self.layers.len() - 1;
        let mut x = x.clone();
        for (k, l) in self.layers.iter().enumerate() {
            x = l.forward(&x)?;
            if k < last || !self.final_linear {
                x = leaky_relu(&x, self.slope)?;
            }
            x = dropout(&x, self.dropout, rng.as_deref_mut())?;
        }
        Ok(x)
    }
}

impl Module for LinearNet {
    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        self.forward_train(x, None).map_err(|e| match e {
            Error::Candle(c) => c,
            other => candle_core::Error::Msg(other.to_string()),
        })
    }
}

/// One fully connected message-passing layer (MPGAN's `MPLayer` with `sum=True`).
#[derive(Debug, Clone)]
pub struct MpLayer {
    edge: MaskedMessagePassing,
    node: LinearNet,
    out: usize,
}

impl MpLayer {
    /// A layer `in_size → out_size`, parameters `fe.net.*` and `fn.net.*` under `vb`.
    ///
    /// # Errors
    /// Missing or mis-shaped parameters.
    pub fn new(cfg: &MpGanConfig, in_size: usize, out_size: usize, vb: VarBuilder) -> Result<Self> {
        let mp_cfg = MessagePassingConfig {
            in_features: in_size,
            widths: cfg.fe.clone(),
            negative_slope: cfg.leaky_relu_alpha,
            activate_last: true,
            ..Default::default()
        };
        let mut layers = Vec::with_capacity(cfg.fe.len());
        let mut prev = 2 * in_size;
        for (k, &w) in cfg.fe.iter().enumerate() {
            let v = vb.pp("fe").pp("net").pp(k);
            layers.push((v.get((w, prev), "weight")?, v.get(w, "bias")?));
            prev = w;
        }
        let edge = MaskedMessagePassing::new(&mp_cfg, layers)?;
        let fe_out = *cfg.fe.last().expect("validated non-empty");
        let mut sizes = vec![fe_out + in_size];
        sizes.extend_from_slice(&cfg.fn_);
        sizes.push(out_size);
        let node = LinearNet::new(&sizes, true, cfg.leaky_relu_alpha, vb.pp("fn"))?;
        Ok(Self {
            edge,
            node,
            out: out_size,
        })
    }

    /// `h [B, N, F]`, `mask [B, N]` → `[B, N, out]`.
    ///
    /// # Errors
    /// Shape mismatches and tensor errors.
    pub fn forward(&self, h: &Tensor, mask: &Tensor) -> Result<Tensor> {
        let (b, n, _) = h.dims3()?;
        let m = self.edge.forward(h, mask)?;
        let x = Tensor::cat(&[&m, h], D::Minus1)?;
        let f = x.dim(D::Minus1)?;
        let x = self.node.forward(&x.reshape((b * n, f))?)?;
        Ok(x.reshape((b, n, self.out))?)
    }
}

/// The MPGAN generator.
#[derive(Debug, Clone)]
pub struct MpGenerator {
    cfg: MpGanConfig,
    layers: Vec<MpLayer>,
}

impl MpGenerator {
    /// Build from `vb` (parameters `mp_layers.{k}.fe.net.{l}.{weight,bias}` and
    /// `mp_layers.{k}.fn.net.{l}.{weight,bias}`, as in the published state dicts).
    ///
    /// # Errors
    /// [`Error::InvalidConfig`]; missing or mis-shaped parameters.
    pub fn new(cfg: &MpGanConfig, vb: VarBuilder) -> Result<Self> {
        cfg.validate()?;
        let h = cfg.hidden_node_size;
        let layers = (0..cfg.mp_iters)
            .map(|k| {
                let out = if k + 1 == cfg.mp_iters {
                    cfg.output_features
                } else {
                    h
                };
                MpLayer::new(cfg, h, out, vb.pp("mp_layers").pp(k))
            })
            .collect::<Result<_>>()?;
        Ok(Self {
            cfg: cfg.clone(),
            layers,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &MpGanConfig {
        &self.cfg
    }

    /// Generate from given noise and multiplicities, in the network's normalised space.
    ///
    /// # Shapes
    /// - `noise`: `[B, N, hidden]`, already scaled by σ;
    /// - `num_particles`: `[B]` (any numeric dtype), real particles per jet, in `[0, N]`;
    /// - returns `[B, N, output_features + 1]`: tanh features, then `mask − 0.5`.
    ///
    /// # Errors
    /// [`Error::Shape`] for wrong shapes; [`Error::Sparse`] for invalid multiplicities.
    pub fn forward(&self, noise: &Tensor, num_particles: &Tensor) -> Result<Tensor> {
        let dims = noise.dims().to_vec();
        if dims.len() != 3
            || dims[1] != self.cfg.num_particles
            || dims[2] != self.cfg.hidden_node_size
        {
            return Err(Error::Shape {
                op: "MpGenerator::forward",
                arg: "noise",
                expected: format!(
                    "[B, {}, {}]",
                    self.cfg.num_particles, self.cfg.hidden_node_size
                ),
                found: dims,
            });
        }
        let mask = mask_from_multiplicity(noise, num_particles)?;
        let mut x = noise.clone();
        for layer in &self.layers {
            x = layer.forward(&x, &mask)?;
        }
        let x = x.tanh()?;
        let m = (mask.unsqueeze(2)? - 0.5)?.to_dtype(x.dtype())?;
        Ok(Tensor::cat(&[&x, &m], 2)?)
    }

    /// Per-particle Gaussian noise `[B, N, hidden]` with standard deviation σ, drawn from
    /// `rng` (seed it for reproducible generation).
    ///
    /// # Errors
    /// Tensor errors.
    pub fn noise(&self, batch: usize, rng: &mut impl rand::Rng, device: &Device) -> Result<Tensor> {
        let normal = rand_distr::Normal::new(0f32, self.cfg.noise_sd as f32).map_err(|_| {
            Error::InvalidConfig {
                component: "MpGanConfig",
                field: "noise_sd",
                value: self.cfg.noise_sd.to_string(),
                reason: "must be finite and non-negative",
            }
        })?;
        let shape = (batch, self.cfg.num_particles, self.cfg.hidden_node_size);
        let v: Vec<f32> = (0..batch * self.cfg.num_particles * self.cfg.hidden_node_size)
            .map(|_| rand_distr::Distribution::sample(&normal, rng))
            .collect();
        Ok(Tensor::from_vec(v, shape, device)?)
    }
}

/// Map generator output `[B, N, 4]` (normalised space, mask − 0.5 last) to physical particle
/// features `[B, N, 3]` (η_rel, φ_rel, pT_rel) and a mask `[B, N]`, with the published
/// normalisation of `jet_type`: `x = (out − shift) · max`, masked particles zeroed, negative
/// pT_rel clipped to 0.
///
/// # Errors
/// [`Error::InvalidConfig`] for jet types without published constants (w, z);
/// [`Error::Shape`] when the last dimension is not 4.
pub fn to_physical(output: &[f32], jet_type: JetType) -> Result<(Vec<f32>, Vec<f32>)> {
    let norm = hep_data::normalise::mpgan_particle_norm(jet_type).ok_or(Error::InvalidConfig {
        component: "to_physical",
        field: "jet_type",
        value: jet_type.to_string(),
        reason: "the published MPGAN normalisation exists for g, q and t only",
    })?;
    to_physical_with(output, &norm)
}

/// [`to_physical`] with an explicit 4-feature normalisation (e.g. one derived from the
/// training data of our own runs).
///
/// # Errors
/// [`Error::Shape`] when the last dimension is not 4 or `norm` has another width.
pub fn to_physical_with(
    output: &[f32],
    norm: &hep_data::normalise::FeaturewiseLinearBounded,
) -> Result<(Vec<f32>, Vec<f32>)> {
    if norm.num_features() != 4 {
        return Err(Error::Shape {
            op: "to_physical_with",
            arg: "norm",
            expected: "4 features (η, φ, pT, mask)".into(),
            found: vec![norm.num_features()],
        });
    }
    if !output.len().is_multiple_of(4) {
        return Err(Error::Shape {
            op: "to_physical",
            arg: "output",
            expected: "[B, N, 4]".into(),
            found: vec![output.len()],
        });
    }
    let mut x = output.to_vec();
    norm.inverse(&mut x).map_err(|_| Error::Shape {
        op: "to_physical",
        arg: "output",
        expected: "[B, N, 4]".into(),
        found: vec![output.len()],
    })?;
    let mut feats = Vec::with_capacity(x.len() / 4 * 3);
    let mut mask = Vec::with_capacity(x.len() / 4);
    for p in x.chunks_exact(4) {
        let real = p[3] >= 0.5;
        if real {
            feats.extend_from_slice(&[p[0], p[1], p[2].max(0.0)]);
        } else {
            feats.extend_from_slice(&[0.0, 0.0, 0.0]);
        }
        mask.push(if real { 1.0 } else { 0.0 });
    }
    Ok((feats, mask))
}

#[cfg(test)]
mod tests;
