//! RMSprop with PyTorch's defaults (MPGAN's optimiser), with named state for checkpoints.
//!
//! ```text
//! v ← α·v + (1 − α)·g²          θ ← θ − lr · g / (sqrt(v) + ε)       (α = 0.99, ε = 1e-8)
//! ```
//! Matches `torch.optim.RMSprop` without momentum, centring or weight decay.

use std::collections::HashMap;

use candle_core::{Tensor, Var, backprop::GradStore};

use crate::{Error, Result};

/// RMSprop hyper-parameters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RmsPropConfig {
    /// Learning rate.
    pub lr: f64,
    /// Smoothing constant α.
    pub alpha: f64,
    /// ε added to the denominator.
    pub eps: f64,
}

impl Default for RmsPropConfig {
    fn default() -> Self {
        Self {
            lr: 1e-2,
            alpha: 0.99,
            eps: 1e-8,
        }
    }
}

/// RMSprop over named variables.
#[derive(Debug)]
pub struct RmsProp {
    cfg: RmsPropConfig,
    vars: Vec<(String, Var, Tensor)>,
}

impl RmsProp {
    /// Optimise `vars` (name, variable), with zero initial square averages.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] for a non-positive learning rate, α outside [0, 1) or ε < 0.
    pub fn new(mut vars: Vec<(String, Var)>, cfg: RmsPropConfig) -> Result<Self> {
        if !(cfg.lr > 0.0 && (0.0..1.0).contains(&cfg.alpha) && cfg.eps >= 0.0) {
            return Err(Error::InvalidConfig {
                component: "RmsPropConfig",
                field: "lr/alpha/eps",
                value: format!("{cfg:?}"),
                reason: "needs lr > 0, 0 <= alpha < 1, eps >= 0",
            });
        }
        vars.sort_by(|a, b| a.0.cmp(&b.0));
        let vars = vars
            .into_iter()
            .map(|(n, v)| {
                let z = v.as_tensor().zeros_like()?;
                Ok((n, v, z))
            })
            .collect::<Result<_>>()?;
        Ok(Self { cfg, vars })
    }

    /// One update from `grads`; variables without a gradient are left alone.
    ///
    /// # Errors
    /// Tensor errors.
    pub fn step(&mut self, grads: &GradStore) -> Result<()> {
        let RmsPropConfig { lr, alpha, eps } = self.cfg;
        for (_, var, sq) in &mut self.vars {
            if let Some(g) = grads.get(var.as_tensor()) {
                *sq = ((&*sq * alpha)? + (g.sqr()? * (1.0 - alpha))?)?;
                let update = (g / (sq.sqrt()? + eps)?)?;
                var.set(&(var.as_tensor() - (update * lr)?)?)?;
            }
        }
        Ok(())
    }

    /// Backward pass of `loss` and one update.
    ///
    /// # Errors
    /// Tensor errors.
    pub fn backward_step(&mut self, loss: &Tensor) -> Result<()> {
        let grads = loss.backward()?;
        self.step(&grads)
    }

    /// The square averages, keyed `"{prefix}{name}"`.
    pub fn state(&self, prefix: &str) -> HashMap<String, Tensor> {
        self.vars
            .iter()
            .map(|(n, _, s)| (format!("{prefix}{n}"), s.clone()))
            .collect()
    }

    /// Restore square averages saved by [`state`](Self::state).
    ///
    /// # Errors
    /// [`Error::Shape`] when an entry is missing or has the wrong shape.
    pub fn load_state(&mut self, prefix: &str, state: &HashMap<String, Tensor>) -> Result<()> {
        for (n, v, s) in &mut self.vars {
            let t = state
                .get(&format!("{prefix}{n}"))
                .ok_or_else(|| Error::Shape {
                    op: "RmsProp::load_state",
                    arg: "state",
                    expected: format!("an entry {prefix}{n}"),
                    found: vec![],
                })?;
            if t.dims() != v.dims() {
                return Err(Error::Shape {
                    op: "RmsProp::load_state",
                    arg: "state",
                    expected: format!("{prefix}{n} of shape {:?}", v.dims()),
                    found: t.dims().to_vec(),
                });
            }
            *s = t.clone();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{DType, Device};

    #[test]
    fn matches_hand_computed_rmsprop_steps() {
        let v = Var::new(&[1.0f64, -2.0], &Device::Cpu).unwrap();
        let cfg = RmsPropConfig {
            lr: 0.1,
            ..Default::default()
        };
        let mut opt = RmsProp::new(vec![("w".into(), v.clone())], cfg).unwrap();
        // loss = Σ w² → g = 2w
        let (mut w, mut sq) = ([1.0f64, -2.0], [0.0f64; 2]);
        for _ in 0..3 {
            let loss = v.as_tensor().sqr().unwrap().sum_all().unwrap();
            opt.backward_step(&loss).unwrap();
            for k in 0..2 {
                let g = 2.0 * w[k];
                sq[k] = 0.99 * sq[k] + 0.01 * g * g;
                w[k] -= 0.1 * g / (sq[k].sqrt() + 1e-8);
            }
        }
        let got: Vec<f64> = v.as_tensor().to_vec1().unwrap();
        for k in 0..2 {
            assert!((got[k] - w[k]).abs() < 1e-12, "{got:?} vs {w:?}");
        }
        let st = opt.state("opt.");
        let mut fresh = RmsProp::new(
            vec![("w".into(), Var::zeros(2, DType::F64, &Device::Cpu).unwrap())],
            cfg,
        )
        .unwrap();
        fresh.load_state("opt.", &st).unwrap();
        assert!(fresh.load_state("x.", &st).is_err());
        assert!(RmsProp::new(vec![], RmsPropConfig { lr: 0.0, ..cfg }).is_err());
    }
}
