//! MPGAN training: LSGAN losses, RMSprop with the two-time-scale learning rates, one
//! discriminator and one generator step per batch, seeded and resumable.
//!
//! ```text
//! L_D = mean((D(x) − 1)²) + mean(D(G(z))²)        L_G = mean((D(G(z)) − 1)²)
//! ```
//! Every random draw of step `s` (noise, dropout) comes from a generator seeded with
//! `(seed, s)`, and weights are initialised from `seed`, so a run is bit-reproducible on the
//! CPU and a run resumed from [`MpGanTrainer::state`] continues exactly as if never stopped.
//! Epoch-level choices (data order, validation) belong to the caller.

use std::collections::HashMap;

use candle_core::{DType, Device, Tensor, Var};
use candle_nn::{VarBuilder, VarMap};
use hep_data::JetType;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::{Discriminator, DiscriminatorKind, Generator, GeneratorKind, MpGanConfig};
use crate::optim::{RmsProp, RmsPropConfig};
use crate::{Error, Result};

/// Training hyper-parameters (defaults: the published gluon run).
#[derive(Debug, Clone, PartialEq)]
pub struct TrainConfig {
    /// Generator learning rate.
    pub lr_g: f64,
    /// Discriminator learning rate.
    pub lr_d: f64,
    /// Discriminator dropout.
    pub disc_dropout: f64,
    /// Seed of the initial weights and of every step's random draws.
    pub seed: u64,
    /// The generator (MP for MPGAN; MP-LFC and FC for the paper's other rows).
    pub generator: GeneratorKind,
    /// The discriminator (MP for MPGAN; PointNet-Mix for the paper's other rows).
    pub discriminator: DiscriminatorKind,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self::for_jet_type(JetType::G)
    }
}

impl TrainConfig {
    /// The published learning rates: g 1e-5 / 3e-5, t 2e-5 / 6e-5, q 0.5e-5 / 1.5e-5
    /// (w and z, not published, use the gluon rates).
    pub fn for_jet_type(t: JetType) -> Self {
        let (lr_g, lr_d) = match t {
            JetType::T => (2e-5, 6e-5),
            JetType::Q => (0.5e-5, 1.5e-5),
            _ => (1e-5, 3e-5),
        };
        Self {
            lr_g,
            lr_d,
            disc_dropout: 0.5,
            seed: 4,
            generator: GeneratorKind::Mp,
            discriminator: DiscriminatorKind::Mp,
        }
    }
}

/// Losses of one training step.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StepLosses {
    /// Discriminator loss.
    pub d: f64,
    /// Generator loss.
    pub g: f64,
}

/// Generator, discriminator and their optimisers.
pub struct MpGanTrainer {
    cfg: MpGanConfig,
    tcfg: TrainConfig,
    g_vars: VarMap,
    d_vars: VarMap,
    g: Generator,
    d: Discriminator,
    opt_g: RmsProp,
    opt_d: RmsProp,
    step: u64,
    device: Device,
}

pub(crate) fn named_vars(vm: &VarMap) -> Vec<(String, Var)> {
    let data = vm.data().lock().expect("var map lock");
    let mut v: Vec<(String, Var)> = data.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

/// PyTorch's default `Linear`/`Conv` initialisation, U(−1/√fan_in, 1/√fan_in) for weights and biases
/// (fan_in from the weight of the same layer), drawn in name order from `rng`.
pub(crate) fn init_vars(vm: &VarMap, rng: &mut StdRng) -> Result<()> {
    let vars = named_vars(vm);
    let fan_in: HashMap<String, usize> = vars
        .iter()
        .filter(|(k, v)| k.ends_with(".weight") && v.dims().len() >= 2)
        // Linear [out, in]: in; Conv [out, in, k, k] and ConvTranspose [in, out, k, k]:
        // dims[1]·k·k (PyTorch's fan_in for both)
        .map(|(k, v)| {
            (
                k.trim_end_matches(".weight").to_string(),
                v.dims()[1..].iter().product(),
            )
        })
        .collect();
    for (name, var) in vars {
        let layer = name.rsplit_once('.').map_or(name.as_str(), |(l, _)| l);
        let bound = 1.0 / (fan_in.get(layer).copied().unwrap_or(1) as f64).sqrt();
        let vals: Vec<f32> = (0..var.elem_count())
            .map(|_| rng.random_range(-bound..bound) as f32)
            .collect();
        var.set(&Tensor::from_vec(vals, var.shape(), var.device())?)?;
    }
    Ok(())
}

pub(crate) fn step_rng(seed: u64, step: u64) -> StdRng {
    // SplitMix64 of (seed, step): independent streams per step.
    let mut z = seed ^ step.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    StdRng::seed_from_u64(z ^ (z >> 31))
}

impl MpGanTrainer {
    /// Fresh networks initialised from `tcfg.seed`.
    ///
    /// # Errors
    /// Invalid configurations; tensor errors.
    pub fn new(cfg: &MpGanConfig, tcfg: &TrainConfig, device: &Device) -> Result<Self> {
        let g_vars = VarMap::new();
        let d_vars = VarMap::new();
        let g = Generator::new(
            tcfg.generator,
            cfg,
            VarBuilder::from_varmap(&g_vars, DType::F32, device),
        )?;
        let d = Discriminator::new(
            tcfg.discriminator,
            cfg,
            tcfg.disc_dropout,
            VarBuilder::from_varmap(&d_vars, DType::F32, device),
        )?;
        let mut rng = StdRng::seed_from_u64(tcfg.seed);
        init_vars(&g_vars, &mut rng)?;
        init_vars(&d_vars, &mut rng)?;
        let opt = |vm: &VarMap, lr: f64| {
            RmsProp::new(
                named_vars(vm),
                RmsPropConfig {
                    lr,
                    ..Default::default()
                },
            )
        };
        let opt_g = opt(&g_vars, tcfg.lr_g)?;
        let opt_d = opt(&d_vars, tcfg.lr_d)?;
        Ok(Self {
            cfg: cfg.clone(),
            tcfg: tcfg.clone(),
            g_vars,
            d_vars,
            g,
            d,
            opt_g,
            opt_d,
            step: 0,
            device: device.clone(),
        })
    }

    /// Networks and optimiser state restored from [`state`](Self::state).
    ///
    /// # Errors
    /// [`Error::Shape`] for missing or mis-shaped entries.
    pub fn from_state(
        cfg: &MpGanConfig,
        tcfg: &TrainConfig,
        state: &HashMap<String, Tensor>,
        device: &Device,
    ) -> Result<Self> {
        let mut t = Self::new(cfg, tcfg, device)?;
        for (prefix, vm) in [("G.", &t.g_vars), ("D.", &t.d_vars)] {
            for (name, var) in named_vars(vm) {
                let v = state
                    .get(&format!("{prefix}{name}"))
                    .ok_or_else(|| Error::Shape {
                        op: "MpGanTrainer::from_state",
                        arg: "state",
                        expected: format!("an entry {prefix}{name}"),
                        found: vec![],
                    })?;
                var.set(&v.to_device(device)?.to_dtype(var.dtype())?)?;
            }
        }
        t.opt_g.load_state("optG.", state)?;
        t.opt_d.load_state("optD.", state)?;
        let step = state.get("step").ok_or_else(|| Error::Shape {
            op: "MpGanTrainer::from_state",
            arg: "state",
            expected: "an entry `step`".into(),
            found: vec![],
        })?;
        t.step = step.to_dtype(DType::F64)?.to_scalar::<f64>()? as u64;
        Ok(t)
    }

    /// Everything needed to resume: `G.*`, `D.*` (weights under the reference names),
    /// `optG.*`, `optD.*` (RMSprop square averages) and `step`.
    ///
    /// # Errors
    /// Tensor errors.
    pub fn state(&self) -> Result<HashMap<String, Tensor>> {
        let mut s = HashMap::new();
        for (prefix, vm) in [("G.", &self.g_vars), ("D.", &self.d_vars)] {
            for (name, var) in named_vars(vm) {
                s.insert(format!("{prefix}{name}"), var.as_tensor().copy()?);
            }
        }
        s.extend(self.opt_g.state("optG."));
        s.extend(self.opt_d.state("optD."));
        s.insert("step".into(), Tensor::new(self.step as f64, &self.device)?);
        Ok(s)
    }

    /// The generator's weights alone, under the reference names (a generator checkpoint).
    pub fn generator_state(&self) -> HashMap<String, Tensor> {
        named_vars(&self.g_vars)
            .into_iter()
            .map(|(n, v)| (n, v.as_tensor().clone()))
            .collect()
    }

    /// The generator being trained.
    pub fn generator(&self) -> &Generator {
        &self.g
    }

    /// Steps taken so far.
    pub fn steps(&self) -> u64 {
        self.step
    }

    /// One discriminator step and one generator step on a real batch.
    ///
    /// # Shapes
    /// `real`: `[B, N, 4]` normalised (features, mask − 0.5); `num_particles`: `[B]`, the
    /// real multiplicities, which the generator reproduces.
    ///
    /// # Errors
    /// [`Error::Shape`] for mismatched inputs; tensor errors.
    pub fn step(&mut self, real: &Tensor, num_particles: &Tensor) -> Result<StepLosses> {
        let b = real.dim(0)?;
        if num_particles.dims() != [b] {
            return Err(Error::Shape {
                op: "MpGanTrainer::step",
                arg: "num_particles",
                expected: format!("[{b}]"),
                found: num_particles.dims().to_vec(),
            });
        }
        let mut rng = step_rng(self.tcfg.seed, self.step);
        // discriminator
        let noise = self.g.noise(b, &mut rng, &self.device)?;
        let fake = self.g.forward(&noise, num_particles)?.detach();
        let d_real = self.d.forward(real, Some(&mut rng))?;
        let d_fake = self.d.forward(&fake, Some(&mut rng))?;
        let loss_d = ((d_real - 1.0)?.sqr()?.mean_all()? + d_fake.sqr()?.mean_all()?)?;
        self.opt_d.backward_step(&loss_d)?;
        // generator
        let noise = self.g.noise(b, &mut rng, &self.device)?;
        let fake = self.g.forward(&noise, num_particles)?;
        let d_out = self.d.forward(&fake, Some(&mut rng))?;
        let loss_g = (d_out - 1.0)?.sqr()?.mean_all()?;
        let grads = loss_g.backward()?;
        self.opt_g.step(&grads)?;
        self.step += 1;
        Ok(StepLosses {
            d: loss_d.to_dtype(DType::F64)?.to_scalar()?,
            g: loss_g.to_dtype(DType::F64)?.to_scalar()?,
        })
    }

    /// The configuration.
    pub fn config(&self) -> (&MpGanConfig, &TrainConfig) {
        (&self.cfg, &self.tcfg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiny() -> MpGanConfig {
        MpGanConfig {
            num_particles: 6,
            hidden_node_size: 8,
            fe: vec![8, 8],
            fn_: vec![8],
            ..Default::default()
        }
    }

    fn batch() -> (Tensor, Tensor) {
        // 4 jets with 6, 3, 1, 5 particles; features in (−1, 1), mask − 0.5 last
        let counts = [6u32, 3, 1, 5];
        let mut v = Vec::new();
        for (j, &n) in counts.iter().enumerate() {
            for p in 0..6u32 {
                let real = p < n;
                let x = |k: u32| {
                    if real {
                        ((j as u32 * 7 + p * 3 + k) % 11) as f32 / 11.0 - 0.5
                    } else {
                        0.0
                    }
                };
                v.extend_from_slice(&[
                    x(0),
                    x(1),
                    x(2) - 0.5 * f32::from(u8::from(!real)),
                    if real { 0.5 } else { -0.5 },
                ]);
            }
        }
        (
            Tensor::from_vec(v, (4, 6, 4), &Device::Cpu).unwrap(),
            Tensor::new(&counts, &Device::Cpu).unwrap(),
        )
    }

    fn tcfg() -> TrainConfig {
        TrainConfig {
            lr_g: 1e-3,
            lr_d: 3e-3,
            disc_dropout: 0.5,
            seed: 11,
            ..Default::default()
        }
    }

    fn weights(t: &MpGanTrainer) -> Vec<(String, Vec<f32>)> {
        let mut s: Vec<_> = t
            .state()
            .unwrap()
            .into_iter()
            .map(|(k, v)| {
                (
                    k,
                    v.flatten_all()
                        .unwrap()
                        .to_dtype(DType::F32)
                        .unwrap()
                        .to_vec1()
                        .unwrap(),
                )
            })
            .collect();
        s.sort_by(|a, b| a.0.cmp(&b.0));
        s
    }

    #[test]
    fn training_is_bit_reproducible_and_resumable() {
        let (real, n) = batch();
        let dev = Device::Cpu;
        let mut a = MpGanTrainer::new(&tiny(), &tcfg(), &dev).unwrap();
        let mut b = MpGanTrainer::new(&tiny(), &tcfg(), &dev).unwrap();
        let mut la = Vec::new();
        for _ in 0..3 {
            la.push(a.step(&real, &n).unwrap());
        }
        for _ in 0..2 {
            b.step(&real, &n).unwrap();
        }
        // "interrupt" b: rebuild from its saved state, then finish
        let saved = b.state().unwrap();
        drop(b);
        let mut c = MpGanTrainer::from_state(&tiny(), &tcfg(), &saved, &dev).unwrap();
        assert_eq!(c.steps(), 2);
        let last = c.step(&real, &n).unwrap();
        assert_eq!(last, la[2]);
        assert_eq!(weights(&a), weights(&c));
        // and the weights did move
        let fresh = MpGanTrainer::new(&tiny(), &tcfg(), &dev).unwrap();
        assert_ne!(weights(&a), weights(&fresh));
        assert!(la.iter().all(|l| l.d.is_finite() && l.g.is_finite()));
    }

    #[test]
    fn every_pairing_of_the_paper_trains_reproducibly() {
        let (real, n) = batch();
        let pairs = [
            (GeneratorKind::MpLfc { latent: 10 }, DiscriminatorKind::Mp),
            (
                GeneratorKind::Fc { latent: 10 },
                DiscriminatorKind::PointNetMix,
            ),
            (GeneratorKind::Mp, DiscriminatorKind::PointNetMix),
        ];
        for (generator, discriminator) in pairs {
            let cfg = TrainConfig {
                generator,
                discriminator,
                ..tcfg()
            };
            let run = || {
                let mut t = MpGanTrainer::new(&tiny(), &cfg, &Device::Cpu).unwrap();
                let l: Vec<StepLosses> = (0..2).map(|_| t.step(&real, &n).unwrap()).collect();
                (l, weights(&t))
            };
            let (la, wa) = run();
            let (lb, wb) = run();
            assert_eq!(la, lb, "{generator}/{discriminator}");
            assert_eq!(wa, wb, "{generator}/{discriminator}");
            assert!(la.iter().all(|l| l.d.is_finite() && l.g.is_finite()));
            assert_eq!(t_kind(&cfg), generator);
        }
    }

    fn t_kind(cfg: &TrainConfig) -> GeneratorKind {
        MpGanTrainer::new(&tiny(), cfg, &Device::Cpu)
            .unwrap()
            .generator()
            .kind()
    }

    #[test]
    fn learning_rates_follow_the_published_runs() {
        assert_eq!(TrainConfig::for_jet_type(JetType::G).lr_d, 3e-5);
        assert_eq!(TrainConfig::for_jet_type(JetType::T).lr_g, 2e-5);
        assert_eq!(TrainConfig::for_jet_type(JetType::Q).lr_d, 1.5e-5);
    }

    #[test]
    fn discriminator_learns_to_separate_real_from_noise() {
        // With the generator frozen (lr_g tiny) the discriminator must push D(real) above
        // D(fake) within a few steps.
        let (real, n) = batch();
        let cfg = TrainConfig {
            lr_g: 1e-12,
            lr_d: 1e-2,
            disc_dropout: 0.0,
            seed: 3,
            ..Default::default()
        };
        let mut t = MpGanTrainer::new(&tiny(), &cfg, &Device::Cpu).unwrap();
        for _ in 0..30 {
            t.step(&real, &n).unwrap();
        }
        let mut rng = step_rng(99, 0);
        let noise = t.g.noise(4, &mut rng, &Device::Cpu).unwrap();
        let fake = t.g.forward(&noise, &n).unwrap();
        let dr: f32 =
            t.d.forward(&real, None)
                .unwrap()
                .mean_all()
                .unwrap()
                .to_scalar()
                .unwrap();
        let df: f32 =
            t.d.forward(&fake, None)
                .unwrap()
                .mean_all()
                .unwrap()
                .to_scalar()
                .unwrap();
        assert!(dr > df + 0.2, "D(real) {dr} vs D(fake) {df}");
    }
}
