//! MPGAN's generator variant and the baselines of its paper: the MP-LFC generator, the r-GAN
//! fully connected (FC) generator and the PointNet-Mix discriminator, plus [`Generator`] /
//! [`Discriminator`], which let one trainer run any pairing (the paper's Table 1 rows).
//!
//! ```text
//! MP-LFC:       z [B, Z] ~ N(0, σ²) → Linear(Z → N·H) → reshape [B, N, H] → MP generator
//! FC (r-GAN):   z [B, Z] ~ N(0, σ²) → Linear 64 → LReLU → Linear 128 → LReLU → Linear N·3 → tanh
//!               mask: the n particles with the highest generated pT_rel are real
//! PointNet-Mix: per particle 3 → 64 → 128 → 1024 (LReLU), [masked max ; masked mean] = 2048
//!               → Linear 512 → LReLU → Linear 1 → sigmoid
//! ```
//!
//! Deviations from the reference, all deliberate: the FC generator chooses its mask from the
//! requested multiplicity by ranking its own pT_rel output (the reference trained FC without
//! masks and zero-padded afterwards), so every generator here takes the real multiplicities
//! and outputs `[B, N, 4]` with `mask − 0.5` last; PointNet-Mix pools over the real particles
//! only (hep-sparse's masked max/mean). The paper trained the FC/PointNet baselines with
//! WGAN-GP; the trainer here uses the LSGAN + RMSprop recipe of the MP runs for every pairing
//! (the reference's MP + PointNet runs used exactly that), because a gradient penalty needs
//! second derivatives, which candle does not provide.
//!
//! Parameter counts at the published sizes (tested): FC generator 28,186, PointNet-Mix
//! 1,190,273, MP-LFC = MP generator (361,123) + 123,840 for Z = 128.
//!
//! ## Paper
//! Kansal et al., NeurIPS 2021, arXiv:2106.11535, Sec. 4 and Table 1; the FC generator and
//! PointNet-Mix discriminator are r-GAN's (Achlioptas et al., ICML 2018, arXiv:1707.02392).
//!
//! ## References
//! `rkansal47/MPGAN` branch `neurips21`: `mpgan/model.py` (`lfc`, `lfc_latent_size`),
//! `ext_models/ext_models.py` (`rGANG`, `PointNetMixD`), `trained_models/{mplfc,fc,fcpnet}_*`.

use std::fmt;
use std::str::FromStr;

use candle_core::{D, Device, Tensor};
use candle_nn::{Linear, Module, VarBuilder};
use hep_sparse::{mask_from_multiplicity, masked_max, masked_mean};
use rand::rngs::StdRng;

use super::{LinearNet, MpDiscriminator, MpGanConfig, MpGenerator};
use crate::{Error, Result};

/// Which generator to build.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GeneratorKind {
    /// The MP generator: per-particle noise (the published MPGAN).
    Mp,
    /// MP-LFC: one latent vector of this size, expanded to the particles by a linear layer.
    MpLfc {
        /// Latent size `Z` (reference: 128).
        latent: usize,
    },
    /// r-GAN's fully connected generator with this latent size (reference: 128).
    Fc {
        /// Latent size `Z`.
        latent: usize,
    },
}

/// Which discriminator to build.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DiscriminatorKind {
    /// The MP discriminator (the published MPGAN).
    Mp,
    /// r-GAN's PointNet-Mix discriminator.
    PointNetMix,
}

impl GeneratorKind {
    /// The name used on the command line and in checkpoint metadata.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Mp => "mp",
            Self::MpLfc { .. } => "mp-lfc",
            Self::Fc { .. } => "fc",
        }
    }
}

impl DiscriminatorKind {
    /// The name used on the command line and in checkpoint metadata.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Mp => "mp",
            Self::PointNetMix => "pointnet",
        }
    }
}

impl fmt::Display for GeneratorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl fmt::Display for DiscriminatorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The reference latent size of MP-LFC and FC.
pub const DEFAULT_LATENT: usize = 128;

impl FromStr for GeneratorKind {
    type Err = Error;
    /// `mp`, `mp-lfc` or `fc` (latent 128).
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "mp" => Ok(Self::Mp),
            "mp-lfc" => Ok(Self::MpLfc {
                latent: DEFAULT_LATENT,
            }),
            "fc" => Ok(Self::Fc {
                latent: DEFAULT_LATENT,
            }),
            other => Err(Error::InvalidConfig {
                component: "GeneratorKind",
                field: "name",
                value: other.to_string(),
                reason: "expected mp, mp-lfc or fc",
            }),
        }
    }
}

impl FromStr for DiscriminatorKind {
    type Err = Error;
    /// `mp` or `pointnet`.
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "mp" => Ok(Self::Mp),
            "pointnet" | "pointnet-mix" => Ok(Self::PointNetMix),
            other => Err(Error::InvalidConfig {
                component: "DiscriminatorKind",
                field: "name",
                value: other.to_string(),
                reason: "expected mp or pointnet",
            }),
        }
    }
}

fn check_latent(latent: usize, component: &'static str) -> Result<()> {
    if latent == 0 {
        return Err(Error::InvalidConfig {
            component,
            field: "latent",
            value: "0".into(),
            reason: "must be positive",
        });
    }
    Ok(())
}

/// Gaussian noise of `shape` with standard deviation `sd`, drawn from `rng` (row-major).
pub(crate) fn gaussian(
    shape: &[usize],
    sd: f64,
    rng: &mut impl rand::Rng,
    dev: &Device,
) -> Result<Tensor> {
    let normal = rand_distr::Normal::new(0f32, sd as f32).map_err(|_| Error::InvalidConfig {
        component: "MpGanConfig",
        field: "noise_sd",
        value: sd.to_string(),
        reason: "must be finite and non-negative",
    })?;
    let n = shape.iter().product();
    let v: Vec<f32> = (0..n)
        .map(|_| rand_distr::Distribution::sample(&normal, rng))
        .collect();
    Ok(Tensor::from_vec(v, shape, dev)?)
}

fn check_latent_input(z: &Tensor, latent: usize, op: &'static str) -> Result<usize> {
    match *z.dims() {
        [b, l] if l == latent => Ok(b),
        _ => Err(Error::Shape {
            op,
            arg: "z",
            expected: format!("[B, {latent}]"),
            found: z.dims().to_vec(),
        }),
    }
}

/// The MP-LFC generator: a global latent vector, a linear layer to the initial particle cloud,
/// then the MP generator's layers, mask rule and output.
#[derive(Debug, Clone)]
pub struct MpLfcGenerator {
    lfc: Linear,
    mp: MpGenerator,
    latent: usize,
}

impl MpLfcGenerator {
    /// Parameters `lfc.{weight,bias}` (`[N·H, Z]`) and the MP generator's `mp_layers.*`.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`]; missing or mis-shaped parameters.
    pub fn new(cfg: &MpGanConfig, latent: usize, vb: VarBuilder) -> Result<Self> {
        check_latent(latent, "MpLfcGenerator")?;
        let mp = MpGenerator::new(cfg, vb.clone())?;
        let lfc = candle_nn::linear(
            latent,
            cfg.num_particles * cfg.hidden_node_size,
            vb.pp("lfc"),
        )?;
        Ok(Self { lfc, mp, latent })
    }

    /// `z [B, Z]` (σ applied), `num_particles [B]` → `[B, N, output_features + 1]`.
    ///
    /// # Errors
    /// [`Error::Shape`] for a wrong `z`; the MP generator's errors.
    pub fn forward(&self, z: &Tensor, num_particles: &Tensor) -> Result<Tensor> {
        let b = check_latent_input(z, self.latent, "MpLfcGenerator::forward")?;
        let c = self.mp.config();
        let cloud = self
            .lfc
            .forward(z)?
            .reshape((b, c.num_particles, c.hidden_node_size))?;
        self.mp.forward(&cloud, num_particles)
    }
}

/// Sizes of r-GAN's FC generator (defaults: the reference `fc_*` runs).
#[derive(Debug, Clone, PartialEq)]
pub struct FcGeneratorConfig {
    /// Latent size.
    pub latent: usize,
    /// Hidden widths.
    pub hidden: Vec<usize>,
    /// Particle slots.
    pub num_particles: usize,
    /// Output features per particle; the last one is pT_rel, used to rank particles.
    pub output_features: usize,
    /// LeakyReLU slope.
    pub leaky_relu_alpha: f64,
}

impl Default for FcGeneratorConfig {
    fn default() -> Self {
        Self {
            latent: DEFAULT_LATENT,
            hidden: vec![64, 128],
            num_particles: 30,
            output_features: 3,
            leaky_relu_alpha: 0.2,
        }
    }
}

/// r-GAN's fully connected generator, with the mask taken from the requested multiplicity
/// (the `n` highest-pT_rel particles are real).
#[derive(Debug, Clone)]
pub struct FcGenerator {
    cfg: FcGeneratorConfig,
    net: LinearNet,
}

impl FcGenerator {
    /// Parameters `net.net.{k}.{weight,bias}`.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] for zero sizes; missing or mis-shaped parameters.
    pub fn new(cfg: &FcGeneratorConfig, vb: VarBuilder) -> Result<Self> {
        check_latent(cfg.latent, "FcGenerator")?;
        if cfg.num_particles == 0 || cfg.output_features == 0 || cfg.hidden.contains(&0) {
            return Err(Error::InvalidConfig {
                component: "FcGeneratorConfig",
                field: "sizes",
                value: format!("{cfg:?}"),
                reason: "particle count and widths must be positive",
            });
        }
        let mut sizes = vec![cfg.latent];
        sizes.extend_from_slice(&cfg.hidden);
        sizes.push(cfg.num_particles * cfg.output_features);
        let net = LinearNet::new(&sizes, true, cfg.leaky_relu_alpha, vb.pp("net"))?;
        Ok(Self {
            cfg: cfg.clone(),
            net,
        })
    }

    /// `z [B, Z]`, `num_particles [B]` → `[B, N, output_features + 1]` (tanh features, then
    /// `mask − 0.5`).
    ///
    /// # Errors
    /// [`Error::Shape`] for a wrong `z`; [`Error::Sparse`] for invalid multiplicities.
    pub fn forward(&self, z: &Tensor, num_particles: &Tensor) -> Result<Tensor> {
        let b = check_latent_input(z, self.cfg.latent, "FcGenerator::forward")?;
        let f = self.cfg.output_features;
        let x = self
            .net
            .forward(z)?
            .tanh()?
            .reshape((b, self.cfg.num_particles, f))?;
        // rank by −pT_rel: the n lowest keys (highest pT) are real
        let key = x.narrow(2, f - 1, 1)?.squeeze(2)?.neg()?.detach();
        let mask = mask_from_multiplicity(&key, num_particles)?;
        let m = (mask.unsqueeze(2)? - 0.5)?.to_dtype(x.dtype())?;
        Ok(Tensor::cat(&[&x, &m], 2)?)
    }
}

/// Sizes of r-GAN's PointNet-Mix discriminator (defaults: the reference `fcpnet_*` runs).
#[derive(Debug, Clone, PartialEq)]
pub struct PointNetMixConfig {
    /// Input features per particle (without the mask).
    pub input_features: usize,
    /// Per-particle widths.
    pub point: Vec<usize>,
    /// Widths after pooling (before the final logit).
    pub head: Vec<usize>,
    /// LeakyReLU slope.
    pub leaky_relu_alpha: f64,
}

impl Default for PointNetMixConfig {
    fn default() -> Self {
        Self {
            input_features: 3,
            point: vec![64, 128, 1024],
            head: vec![512],
            leaky_relu_alpha: 0.2,
        }
    }
}

/// r-GAN's PointNet-Mix discriminator: a per-particle MLP, masked max and mean pooling
/// concatenated, an MLP to one logit, sigmoid.
#[derive(Debug, Clone)]
pub struct PointNetMixDiscriminator {
    cfg: PointNetMixConfig,
    point: LinearNet,
    head: LinearNet,
}

impl PointNetMixDiscriminator {
    /// Parameters `point.net.{k}.*` and `head.net.{k}.*`.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] for empty or zero widths; missing or mis-shaped parameters.
    pub fn new(cfg: &PointNetMixConfig, vb: VarBuilder) -> Result<Self> {
        if cfg.input_features == 0 || cfg.point.is_empty() || cfg.point.contains(&0) {
            return Err(Error::InvalidConfig {
                component: "PointNetMixConfig",
                field: "point",
                value: format!("{:?}", cfg.point),
                reason: "needs at least one positive width and input features",
            });
        }
        if cfg.head.contains(&0) {
            return Err(Error::InvalidConfig {
                component: "PointNetMixConfig",
                field: "head",
                value: format!("{:?}", cfg.head),
                reason: "widths must be positive",
            });
        }
        let mut sizes = vec![cfg.input_features];
        sizes.extend_from_slice(&cfg.point);
        let point = LinearNet::new(&sizes, false, cfg.leaky_relu_alpha, vb.pp("point"))?;
        let mut sizes = vec![2 * cfg.point[cfg.point.len() - 1]];
        sizes.extend_from_slice(&cfg.head);
        sizes.push(1);
        let head = LinearNet::new(&sizes, true, cfg.leaky_relu_alpha, vb.pp("head"))?;
        Ok(Self {
            cfg: cfg.clone(),
            point,
            head,
        })
    }

    /// Probability that each jet is real.
    ///
    /// # Shapes
    /// `x`: `[B, N, F + 1]` (features, then mask − 0.5) → `[B]`.
    ///
    /// # Errors
    /// [`Error::Shape`] for a wrong input shape; tensor errors.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let f = self.cfg.input_features;
        let (b, n) = match *x.dims() {
            [b, n, g] if g == f + 1 => (b, n),
            _ => {
                return Err(Error::Shape {
                    op: "PointNetMixDiscriminator::forward",
                    arg: "x",
                    expected: format!("[B, N, {}]", f + 1),
                    found: x.dims().to_vec(),
                });
            }
        };
        let mask = (x.narrow(2, f, 1)?.squeeze(2)? + 0.5)?;
        let h = x.narrow(2, 0, f)?.reshape((b * n, f))?;
        let h = self.point.forward(&h)?;
        let w = h.dim(D::Minus1)?;
        let h = h.reshape((b, n, w))?;
        let pooled = Tensor::cat(&[masked_max(&h, &mask)?, masked_mean(&h, &mask)?], 1)?;
        let logit = self.head.forward(&pooled)?;
        Ok(candle_nn::ops::sigmoid(&logit.squeeze(1)?)?)
    }
}

/// Any generator of the paper's table, behind one interface.
#[derive(Debug, Clone)]
pub enum Generator {
    /// The MP generator.
    Mp(MpGenerator),
    /// The MP-LFC generator.
    MpLfc(MpLfcGenerator),
    /// r-GAN's FC generator.
    Fc(FcGenerator),
}

impl Generator {
    /// Build `kind`; `cfg` gives the particle count, widths and noise σ (the FC generator uses
    /// its reference widths with `cfg`'s particle count and slope).
    ///
    /// # Errors
    /// Invalid configurations; missing or mis-shaped parameters.
    pub fn new(kind: GeneratorKind, cfg: &MpGanConfig, vb: VarBuilder) -> Result<Self> {
        Ok(match kind {
            GeneratorKind::Mp => Self::Mp(MpGenerator::new(cfg, vb)?),
            GeneratorKind::MpLfc { latent } => Self::MpLfc(MpLfcGenerator::new(cfg, latent, vb)?),
            GeneratorKind::Fc { latent } => Self::Fc(FcGenerator::new(
                &FcGeneratorConfig {
                    latent,
                    num_particles: cfg.num_particles,
                    output_features: cfg.output_features,
                    leaky_relu_alpha: cfg.leaky_relu_alpha,
                    ..Default::default()
                },
                vb,
            )?),
        })
    }

    /// Which generator this is.
    pub fn kind(&self) -> GeneratorKind {
        match self {
            Self::Mp(_) => GeneratorKind::Mp,
            Self::MpLfc(g) => GeneratorKind::MpLfc { latent: g.latent },
            Self::Fc(g) => GeneratorKind::Fc {
                latent: g.cfg.latent,
            },
        }
    }

    /// The shape of one jet's noise: `[N, H]` for MP, `[Z]` otherwise.
    pub fn noise_shape(&self) -> Vec<usize> {
        match self {
            Self::Mp(g) => vec![g.config().num_particles, g.config().hidden_node_size],
            Self::MpLfc(g) => vec![g.latent],
            Self::Fc(g) => vec![g.cfg.latent],
        }
    }

    /// Gaussian noise for `batch` jets with standard deviation σ (`noise_sd` of the
    /// configuration the generator was built with; the FC generator uses 0.2 as well).
    ///
    /// # Errors
    /// Tensor errors.
    pub fn noise(&self, batch: usize, rng: &mut impl rand::Rng, device: &Device) -> Result<Tensor> {
        let sd = match self {
            Self::Mp(g) => return g.noise(batch, rng, device),
            Self::MpLfc(g) => g.mp.config().noise_sd,
            Self::Fc(_) => MpGanConfig::default().noise_sd,
        };
        let mut shape = vec![batch];
        shape.extend(self.noise_shape());
        gaussian(&shape, sd, rng, device)
    }

    /// `noise` (from [`noise`](Self::noise)), `num_particles [B]` → `[B, N, 4]` in the
    /// normalised space (tanh features, then mask − 0.5).
    ///
    /// # Errors
    /// The wrapped generator's errors.
    pub fn forward(&self, noise: &Tensor, num_particles: &Tensor) -> Result<Tensor> {
        match self {
            Self::Mp(g) => g.forward(noise, num_particles),
            Self::MpLfc(g) => g.forward(noise, num_particles),
            Self::Fc(g) => g.forward(noise, num_particles),
        }
    }

    /// Particle slots per jet.
    pub fn num_particles(&self) -> usize {
        match self {
            Self::Mp(g) => g.config().num_particles,
            Self::MpLfc(g) => g.mp.config().num_particles,
            Self::Fc(g) => g.cfg.num_particles,
        }
    }
}

/// Any discriminator of the paper's table, behind one interface.
#[derive(Debug, Clone)]
pub enum Discriminator {
    /// The MP discriminator.
    Mp(MpDiscriminator),
    /// r-GAN's PointNet-Mix.
    PointNetMix(PointNetMixDiscriminator),
}

impl Discriminator {
    /// Build `kind`; `dropout_p` applies to the MP discriminator (PointNet-Mix has none).
    ///
    /// # Errors
    /// Invalid configurations; missing or mis-shaped parameters.
    pub fn new(
        kind: DiscriminatorKind,
        cfg: &MpGanConfig,
        dropout_p: f64,
        vb: VarBuilder,
    ) -> Result<Self> {
        Ok(match kind {
            DiscriminatorKind::Mp => Self::Mp(MpDiscriminator::new(cfg, dropout_p, vb)?),
            DiscriminatorKind::PointNetMix => Self::PointNetMix(PointNetMixDiscriminator::new(
                &PointNetMixConfig {
                    input_features: cfg.output_features,
                    leaky_relu_alpha: cfg.leaky_relu_alpha,
                    ..Default::default()
                },
                vb,
            )?),
        })
    }

    /// Probability that each jet `[B, N, 4]` is real, `[B]`; `rng` drives dropout.
    ///
    /// # Errors
    /// The wrapped discriminator's errors.
    pub fn forward(&self, x: &Tensor, rng: Option<&mut StdRng>) -> Result<Tensor> {
        match self {
            Self::Mp(d) => d.forward(x, rng),
            Self::PointNetMix(d) => d.forward(x),
        }
    }
}

#[cfg(test)]
mod tests;
