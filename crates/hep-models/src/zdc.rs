//! Conditional generators of ALICE ZDC responses: conditional VAE, conditional WAE-MMD, a
//! conditional GAN and the end-to-end Sinkhorn autoencoder (e2e-SAE).
//!
//! All work on flattened responses in `log(x + 1)` space, `[B, P]` with `P = H·W`, conditioned
//! on the 9 standardised particle attributes `[B, 9]`:
//!
//! ```text
//! encoder  E([x ; c]) → z (VAE: μ, log σ²)          decoder  G([z ; c]) → x̂
//! cVAE     L = Σ_p (x − x̂)² + KL(N(μ, σ²) ‖ N(0, I))                 sample z ~ N(0, I)
//! cWAE     L = Σ_p (x − x̂)² + λ MMD_IMQ(E(x, c), z ~ N(0, I))        sample z ~ N(0, I)
//! e2e-SAE  L = Σ_p (x − x̂)² + λ S_ε([E(x, c) ; c], [N(u, c) ; c])     sample z = N(u, c)
//! cGAN     G([u ; c]) vs D([x ; c]), non-saturating logistic loss (fully connected)
//! cDCGAN   the same loss with convolutional networks:
//!          G: [u ; c] → Linear → 64 × ⌈H/4⌉ × ⌈W/4⌉ → ConvT(64→32, 4, s2) → LReLU
//!             → ConvT(32→1, 4, s2) → crop to H × W → ReLU
//!          D: x → Conv(1→32, 4, s2) → LReLU → Conv(32→64, 4, s2) → LReLU → [flatten ; c] → Linear → 1
//! ```
//!
//! with `u ~ N(0, I)` the noise of the e2e-SAE's noise generator `N` and of the GAN's generator.
//! The e2e-SAE trains the autoencoder and the noise generator jointly: the Sinkhorn term
//! ([`crate::sinkhorn`]) pulls the encoded latents of real responses and the generated latents
//! together, jointly with their conditions, so that at generation time `N(u, c)` lands where the
//! encoder put responses of such particles.
//!
//! The autoencoders and `gan` are fully connected (LeakyReLU 0.2); `dcgan` is convolutional
//! and needs the image shape ([`ZdcConfig::with_shape`]).
//!
//! ## References
//! K. Deja, J. Dubiński, P. Nowak, S. Wenzel, T. Trzciński, *End-to-end Sinkhorn Autoencoder
//! with Noise Generator*, arXiv:2006.06704; I. Tolstikhin et al., *Wasserstein Auto-Encoders*,
//! ICLR 2018 (MMD with the inverse multiquadratic kernel); D. P. Kingma, M. Welling,
//! *Auto-Encoding Variational Bayes*, arXiv:1312.6114.

use candle_core::{DType, Device, Tensor};
use candle_nn::{AdamW, Optimizer, ParamsAdamW, VarBuilder, VarMap};
use rand::SeedableRng;
use rand::rngs::StdRng;

use crate::mpgan::LinearNet;
use crate::mpgan::train::{init_vars, named_vars, step_rng};
use crate::sinkhorn::{SinkhornConfig, sinkhorn_divergence};
use crate::{Error, Result};

/// Number of conditioning attributes.
pub const NUM_CONDITIONS: usize = 9;

/// Which model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ZdcModelKind {
    /// Conditional variational autoencoder.
    Vae,
    /// Conditional Wasserstein autoencoder with an MMD penalty.
    Wae,
    /// Conditional GAN (fully connected).
    Gan,
    /// End-to-end Sinkhorn autoencoder with a noise generator.
    Sae,
    /// Conditional deep convolutional GAN.
    Dcgan,
}

impl ZdcModelKind {
    /// `vae`, `wae`, `gan` or `sae`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Vae => "vae",
            Self::Wae => "wae",
            Self::Gan => "gan",
            Self::Sae => "sae",
            Self::Dcgan => "dcgan",
        }
    }
}

impl std::fmt::Display for ZdcModelKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for ZdcModelKind {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "vae" => Ok(Self::Vae),
            "wae" => Ok(Self::Wae),
            "gan" => Ok(Self::Gan),
            "sae" | "e2e-sae" => Ok(Self::Sae),
            "dcgan" => Ok(Self::Dcgan),
            other => Err(Error::InvalidConfig {
                component: "ZdcModelKind",
                field: "name",
                value: other.to_string(),
                reason: "expected vae, wae, gan, dcgan or sae",
            }),
        }
    }
}

/// Sizes and loss weights.
#[derive(Debug, Clone, PartialEq)]
pub struct ZdcConfig {
    /// Pixels per response `P = H·W`.
    pub pixels: usize,
    /// Latent size.
    pub latent: usize,
    /// Hidden widths of the encoder (the decoder uses them reversed).
    pub hidden: Vec<usize>,
    /// Hidden widths of the e2e-SAE noise generator.
    pub noise_hidden: Vec<usize>,
    /// β of the VAE's KL term.
    pub beta: f64,
    /// λ of the WAE's MMD term.
    pub mmd_weight: f64,
    /// λ of the e2e-SAE's Sinkhorn term.
    pub sinkhorn_weight: f64,
    /// Sinkhorn regularisation and iterations.
    pub sinkhorn: SinkhornConfig,
    /// Adam learning rate.
    pub lr: f64,
    /// Image shape `(H, W)` (needed by the convolutional GAN).
    pub shape: Option<(usize, usize)>,
}

impl ZdcConfig {
    /// Defaults for `pixels` per response.
    pub fn new(pixels: usize) -> Self {
        Self {
            pixels,
            latent: 10,
            hidden: vec![256, 64],
            noise_hidden: vec![64, 64],
            beta: 1.0,
            mmd_weight: 100.0,
            sinkhorn_weight: 100.0,
            sinkhorn: SinkhornConfig {
                epsilon: 0.05,
                iterations: 40,
            },
            lr: 1e-3,
            shape: None,
        }
    }

    /// Defaults for `H × W` images (enables the convolutional GAN).
    pub fn with_shape(h: usize, w: usize) -> Self {
        Self {
            shape: Some((h, w)),
            ..Self::new(h * w)
        }
    }
}

/// The convolutional generator.
struct ConvGen {
    fc: candle_nn::Linear,
    up1: candle_nn::ConvTranspose2d,
    up2: candle_nn::ConvTranspose2d,
    h0: usize,
    w0: usize,
    h: usize,
    w: usize,
}

impl ConvGen {
    fn new(inputs: usize, (h, w): (usize, usize), vb: VarBuilder) -> Result<Self> {
        let (h0, w0) = (h.div_ceil(4), w.div_ceil(4));
        let t = candle_nn::ConvTranspose2dConfig {
            padding: 1,
            stride: 2,
            ..Default::default()
        };
        Ok(Self {
            fc: candle_nn::linear(inputs, 64 * h0 * w0, vb.pp("fc"))?,
            up1: candle_nn::conv_transpose2d(64, 32, 4, t, vb.pp("up1"))?,
            up2: candle_nn::conv_transpose2d(32, 1, 4, t, vb.pp("up2"))?,
            h0,
            w0,
            h,
            w,
        })
    }

    /// `[B, inputs]` → `[B, H·W]`.
    fn forward(&self, z: &Tensor) -> Result<Tensor> {
        use candle_core::Module;
        let b = z.dim(0)?;
        let x = crate::mpgan::leaky_relu(&self.fc.forward(z)?, 0.2)?
            .reshape((b, 64, self.h0, self.w0))?;
        let x = crate::mpgan::leaky_relu(&self.up1.forward(&x)?, 0.2)?;
        let x = self.up2.forward(&x)?;
        let x = x.narrow(2, 0, self.h)?.narrow(3, 0, self.w)?;
        Ok(x.reshape((b, self.h * self.w))?.relu()?)
    }
}

/// The convolutional discriminator.
struct ConvDisc {
    c1: candle_nn::Conv2d,
    c2: candle_nn::Conv2d,
    fc: candle_nn::Linear,
    h: usize,
    w: usize,
}

impl ConvDisc {
    fn new((h, w): (usize, usize), vb: VarBuilder) -> Result<Self> {
        let c = candle_nn::Conv2dConfig {
            padding: 1,
            stride: 2,
            ..Default::default()
        };
        let (h2, w2) = (h / 2 / 2, w / 2 / 2);
        Ok(Self {
            c1: candle_nn::conv2d(1, 32, 4, c, vb.pp("c1"))?,
            c2: candle_nn::conv2d(32, 64, 4, c, vb.pp("c2"))?,
            fc: candle_nn::linear(64 * h2 * w2 + NUM_CONDITIONS, 1, vb.pp("fc"))?,
            h,
            w,
        })
    }

    /// `x [B, H·W]`, `c [B, 9]` → logits `[B, 1]`.
    fn forward(&self, x: &Tensor, c: &Tensor) -> Result<Tensor> {
        use candle_core::Module;
        let b = x.dim(0)?;
        let x = x.reshape((b, 1, self.h, self.w))?;
        let x = crate::mpgan::leaky_relu(&self.c1.forward(&x)?, 0.2)?;
        let x = crate::mpgan::leaky_relu(&self.c2.forward(&x)?, 0.2)?;
        let x = Tensor::cat(&[&x.flatten_from(1)?, c], 1)?;
        Ok(self.fc.forward(&x)?)
    }
}

fn mlp(sizes: &[usize], vb: VarBuilder) -> Result<LinearNet> {
    LinearNet::new(sizes, true, 0.2, vb)
}

/// Standard-normal noise `[r, c]`.
fn randn((r, c): (usize, usize), rng: &mut StdRng, dev: &Device) -> Result<Tensor> {
    crate::mpgan::gaussian(&[r, c], 1.0, rng, dev)
}

/// MMD² with the inverse multiquadratic kernel `C / (C + |a − b|²)`, `C = 2·d` (WAE).
fn mmd_imq(a: &Tensor, b: &Tensor) -> Result<Tensor> {
    let (n, d) = a.dims2()?;
    let c = 2.0 * d as f64;
    let k = |x: &Tensor, y: &Tensor| -> Result<Tensor> {
        let d2 = crate::sinkhorn::squared_distances(x, y)?;
        Ok((d2 + c)?.recip()?.affine(c, 0.0)?)
    };
    let off = |m: Tensor| -> Result<Tensor> {
        // mean over i ≠ j: (sum − trace) / (n(n − 1)); the diagonal of a kernel matrix is 1
        Ok(((m.sum_all()? - n as f64)? / (n * (n - 1)) as f64)?)
    };
    let kaa = off(k(a, a)?)?;
    let kbb = off(k(b, b)?)?;
    let kab = k(a, b)?.mean_all()?;
    Ok(((kaa + kbb)? - (kab * 2.0)?)?)
}

/// One ZDC model with its optimiser(s), trained step by step.
pub struct ZdcTrainer {
    kind: ZdcModelKind,
    cfg: ZdcConfig,
    vars: VarMap,
    disc_vars: VarMap,
    enc: Option<LinearNet>,
    dec: Option<LinearNet>,
    noise_gen: Option<LinearNet>,
    disc: Option<LinearNet>,
    cgen: Option<ConvGen>,
    cdisc: Option<ConvDisc>,
    opt: AdamW,
    opt_d: Option<AdamW>,
    seed: u64,
    step: u64,
    device: Device,
}

impl ZdcTrainer {
    /// Fresh networks, weights drawn from `seed` (PyTorch's default `Linear` initialisation).
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] for zero sizes; tensor errors.
    pub fn new(kind: ZdcModelKind, cfg: &ZdcConfig, seed: u64, device: &Device) -> Result<Self> {
        if cfg.pixels == 0 || cfg.latent == 0 || cfg.hidden.contains(&0) {
            return Err(Error::InvalidConfig {
                component: "ZdcConfig",
                field: "sizes",
                value: format!("{cfg:?}"),
                reason: "pixels, latent and widths must be positive",
            });
        }
        let vars = VarMap::new();
        let disc_vars = VarMap::new();
        let vb = VarBuilder::from_varmap(&vars, DType::F32, device);
        let (p, l, c) = (cfg.pixels, cfg.latent, NUM_CONDITIONS);
        let chain = |first: usize, mid: &[usize], last: usize| {
            let mut s = vec![first];
            s.extend_from_slice(mid);
            s.push(last);
            s
        };
        let rev: Vec<usize> = cfg.hidden.iter().rev().copied().collect();
        let enc = match kind {
            ZdcModelKind::Vae => Some(mlp(&chain(p + c, &cfg.hidden, 2 * l), vb.pp("encoder"))?),
            ZdcModelKind::Wae | ZdcModelKind::Sae => {
                Some(mlp(&chain(p + c, &cfg.hidden, l), vb.pp("encoder"))?)
            }
            ZdcModelKind::Gan | ZdcModelKind::Dcgan => None,
        };
        let dcgan = kind == ZdcModelKind::Dcgan;
        let shape = match (dcgan, cfg.shape) {
            (true, Some((h, w))) if h * w == p && h >= 4 && w >= 4 => Some((h, w)),
            (true, _) => {
                return Err(Error::InvalidConfig {
                    component: "ZdcConfig",
                    field: "shape",
                    value: format!("{:?} for {p} pixels", cfg.shape),
                    reason: "the convolutional GAN needs the image shape (H, W ≥ 4)",
                });
            }
            (false, s) => s,
        };
        let dec = if dcgan {
            None
        } else {
            Some(mlp(&chain(l + c, &rev, p), vb.pp("decoder"))?)
        };
        let cgen = match (dcgan, shape) {
            (true, Some(hw)) => Some(ConvGen::new(l + c, hw, vb.pp("generator"))?),
            _ => None,
        };
        let cdisc = match (dcgan, shape) {
            (true, Some(hw)) => Some(ConvDisc::new(
                hw,
                VarBuilder::from_varmap(&disc_vars, DType::F32, device).pp("discriminator"),
            )?),
            _ => None,
        };
        let noise_gen = match kind {
            ZdcModelKind::Sae => Some(mlp(
                &chain(l + c, &cfg.noise_hidden, l),
                vb.pp("noise_generator"),
            )?),
            _ => None,
        };
        let disc = match kind {
            ZdcModelKind::Gan => Some(mlp(
                &chain(p + c, &cfg.hidden, 1),
                VarBuilder::from_varmap(&disc_vars, DType::F32, device).pp("discriminator"),
            )?),
            _ => None,
        };
        let mut rng = StdRng::seed_from_u64(seed);
        init_vars(&vars, &mut rng)?;
        init_vars(&disc_vars, &mut rng)?;
        let adam = |vm: &VarMap, beta1: f64| {
            AdamW::new(
                named_vars(vm).into_iter().map(|(_, v)| v).collect(),
                ParamsAdamW {
                    lr: cfg.lr,
                    beta1,
                    weight_decay: 0.0,
                    ..Default::default()
                },
            )
        };
        let gan = matches!(kind, ZdcModelKind::Gan | ZdcModelKind::Dcgan);
        let opt = adam(&vars, if gan { 0.5 } else { 0.9 })?;
        let opt_d = if gan {
            Some(adam(&disc_vars, 0.5)?)
        } else {
            None
        };
        Ok(Self {
            kind,
            cfg: cfg.clone(),
            vars,
            disc_vars,
            enc,
            dec,
            noise_gen,
            disc,
            cgen,
            cdisc,
            opt,
            opt_d,
            seed,
            step: 0,
            device: device.clone(),
        })
    }

    /// The model kind.
    pub fn kind(&self) -> ZdcModelKind {
        self.kind
    }

    /// The configuration.
    pub fn config(&self) -> &ZdcConfig {
        &self.cfg
    }

    /// The generator-side weights (encoder, decoder, noise generator), for checkpoints.
    pub fn vars(&self) -> &VarMap {
        &self.vars
    }

    /// The GAN discriminator's weights (empty for the autoencoders).
    pub fn discriminator_vars(&self) -> &VarMap {
        &self.disc_vars
    }

    /// Steps taken.
    pub fn steps(&self) -> u64 {
        self.step
    }

    fn check(&self, x: Option<&Tensor>, c: &Tensor) -> Result<usize> {
        let b = match *c.dims() {
            [b, NUM_CONDITIONS] => b,
            _ => {
                return Err(Error::Shape {
                    op: "ZdcTrainer",
                    arg: "conditions",
                    expected: format!("[B, {NUM_CONDITIONS}]"),
                    found: c.dims().to_vec(),
                });
            }
        };
        if let Some(x) = x
            && x.dims() != [b, self.cfg.pixels]
        {
            return Err(Error::Shape {
                op: "ZdcTrainer",
                arg: "responses",
                expected: format!("[{b}, {}] (log1p counts, flattened)", self.cfg.pixels),
                found: x.dims().to_vec(),
            });
        }
        if b < 2 {
            return Err(Error::Shape {
                op: "ZdcTrainer",
                arg: "conditions",
                expected: "a batch of at least 2".into(),
                found: c.dims().to_vec(),
            });
        }
        Ok(b)
    }

    /// One optimisation step on a batch; returns the (generator-side) loss.
    ///
    /// # Shapes
    /// `x`: `[B, P]` log1p counts; `c`: `[B, 9]` standardised conditions.
    ///
    /// # Errors
    /// [`Error::Shape`] for wrong inputs; tensor errors.
    pub fn step(&mut self, x: &Tensor, c: &Tensor) -> Result<f64> {
        let b = self.check(Some(x), c)?;
        let mut rng = step_rng(self.seed, self.step);
        let l = self.cfg.latent;
        let recon = |xh: &Tensor| -> Result<Tensor> { Ok((xh - x)?.sqr()?.sum(1)?.mean_all()?) };
        let loss = match self.kind {
            ZdcModelKind::Vae => {
                let enc = self.enc.as_ref().expect("vae has an encoder");
                let h = enc.forward_train(&Tensor::cat(&[x, c], 1)?, None)?;
                let mu = h.narrow(1, 0, l)?;
                let logvar = h.narrow(1, l, l)?.clamp(-10.0, 10.0)?;
                let eps = randn((b, l), &mut rng, &self.device)?;
                let z = (&mu + (eps * (&logvar * 0.5)?.exp()?)?)?;
                let xh = self
                    .decoder()?
                    .forward_train(&Tensor::cat(&[&z, c], 1)?, None)?;
                let kl = ((mu.sqr()? + logvar.exp()?)? - (&logvar + 1.0)?)?
                    .sum(1)?
                    .mean_all()?
                    * 0.5;
                (recon(&xh)? + (kl? * self.cfg.beta)?)?
            }
            ZdcModelKind::Wae => {
                let enc = self.enc.as_ref().expect("wae has an encoder");
                let z = enc.forward_train(&Tensor::cat(&[x, c], 1)?, None)?;
                let xh = self
                    .decoder()?
                    .forward_train(&Tensor::cat(&[&z, c], 1)?, None)?;
                let prior = randn((b, l), &mut rng, &self.device)?;
                (recon(&xh)? + (mmd_imq(&z, &prior)? * self.cfg.mmd_weight)?)?
            }
            ZdcModelKind::Sae => {
                let enc = self.enc.as_ref().expect("sae has an encoder");
                let ng = self.noise_gen.as_ref().expect("sae has a noise generator");
                let z = enc.forward_train(&Tensor::cat(&[x, c], 1)?, None)?;
                let xh = self
                    .decoder()?
                    .forward_train(&Tensor::cat(&[&z, c], 1)?, None)?;
                let u = randn((b, l), &mut rng, &self.device)?;
                let zg = ng.forward_train(&Tensor::cat(&[&u, c], 1)?, None)?;
                let s = sinkhorn_divergence(
                    &Tensor::cat(&[&z, c], 1)?,
                    &Tensor::cat(&[&zg, c], 1)?,
                    &self.cfg.sinkhorn,
                )?;
                (recon(&xh)? + (s * self.cfg.sinkhorn_weight)?)?
            }
            ZdcModelKind::Dcgan => {
                let g = self.cgen.as_ref().expect("dcgan has a generator");
                let d = self.cdisc.as_ref().expect("dcgan has a discriminator");
                let u = randn((b, l), &mut rng, &self.device)?;
                let fake = g.forward(&Tensor::cat(&[&u, c], 1)?)?;
                let dr = d.forward(x, c)?;
                let df = d.forward(&fake.detach(), c)?;
                let loss_d = (softplus(&dr.neg()?)?.mean_all()? + softplus(&df)?.mean_all()?)?;
                self.opt_d
                    .as_mut()
                    .expect("dcgan has a discriminator optimiser")
                    .backward_step(&loss_d)?;
                softplus(&d.forward(&fake, c)?.neg()?)?.mean_all()?
            }
            ZdcModelKind::Gan => {
                let d = self.disc.as_ref().expect("gan has a discriminator");
                let u = randn((b, l), &mut rng, &self.device)?;
                let fake = self
                    .decoder()?
                    .forward_train(&Tensor::cat(&[&u, c], 1)?, None)?
                    .relu()?;
                // discriminator: softplus(−D(real)) + softplus(D(fake))
                let dr = d.forward_train(&Tensor::cat(&[x, c], 1)?, None)?;
                let df = d.forward_train(&Tensor::cat(&[&fake.detach(), c], 1)?, None)?;
                let loss_d = (softplus(&dr.neg()?)?.mean_all()? + softplus(&df)?.mean_all()?)?;
                self.opt_d
                    .as_mut()
                    .expect("gan has a discriminator optimiser")
                    .backward_step(&loss_d)?;
                let df = d.forward_train(&Tensor::cat(&[&fake, c], 1)?, None)?;
                softplus(&df.neg()?)?.mean_all()?
            }
        };
        // the generator step must not update the discriminator (its grads are discarded)
        self.opt.backward_step(&loss)?;
        self.step += 1;
        Ok(loss.to_dtype(DType::F64)?.to_scalar()?)
    }

    /// Generate responses (log1p counts, clamped at 0) for conditions `c [B, 9]`, seeded.
    ///
    /// # Errors
    /// [`Error::Shape`] for wrong conditions; tensor errors.
    pub fn generate(&self, c: &Tensor, seed: u64) -> Result<Tensor> {
        let b = match *c.dims() {
            [b, NUM_CONDITIONS] => b,
            _ => {
                return Err(Error::Shape {
                    op: "ZdcTrainer::generate",
                    arg: "conditions",
                    expected: format!("[B, {NUM_CONDITIONS}]"),
                    found: c.dims().to_vec(),
                });
            }
        };
        let mut rng = StdRng::seed_from_u64(seed);
        let u = randn((b, self.cfg.latent), &mut rng, &self.device)?;
        if let Some(g) = &self.cgen {
            return g.forward(&Tensor::cat(&[&u, c], 1)?);
        }
        let z = match &self.noise_gen {
            Some(ng) => ng.forward_train(&Tensor::cat(&[&u, c], 1)?, None)?,
            None => u,
        };
        Ok(self
            .decoder()?
            .forward_train(&Tensor::cat(&[&z, c], 1)?, None)?
            .relu()?)
    }

    /// Reconstruct responses through the autoencoder (the encoder's mean for the VAE);
    /// `None` for the GAN.
    ///
    /// # Errors
    /// As [`step`](Self::step).
    pub fn reconstruct(&self, x: &Tensor, c: &Tensor) -> Result<Option<Tensor>> {
        self.check(Some(x), c)?;
        let Some(enc) = &self.enc else {
            return Ok(None);
        };
        let h = enc.forward_train(&Tensor::cat(&[x, c], 1)?, None)?;
        let z = h.narrow(1, 0, self.cfg.latent)?;
        Ok(Some(
            self.decoder()?
                .forward_train(&Tensor::cat(&[&z, c], 1)?, None)?
                .relu()?,
        ))
    }
}

impl ZdcTrainer {
    fn decoder(&self) -> Result<&LinearNet> {
        self.dec.as_ref().ok_or(Error::InvalidConfig {
            component: "ZdcTrainer",
            field: "model",
            value: self.kind.name().to_string(),
            reason: "this model has no fully connected decoder",
        })
    }
}

fn softplus(x: &Tensor) -> Result<Tensor> {
    // log(1 + e^x) = max(x, 0) + log(1 + e^−|x|)
    Ok((x.relu()? + (x.abs()?.neg()?.exp()? + 1.0)?.log()?)?)
}

#[cfg(test)]
mod tests;
