//! JetNet's feature normalisations and their inverses, with the constants of FPND and of
//! the published MPGAN generators.
//!
//! Both act on the last axis of a contiguous `[..., F]` f32 array, feature by feature,
//! in place, computing in f64 and rounding once.
//!
//! ```text
//! FeaturewiseLinear         forward: x ← (x + shift) · scale     inverse: x ← x / scale − shift
//! FeaturewiseLinearBounded  forward: x ← x / max · norm + shift  inverse: x ← (x − shift) / norm · max
//! ```
//! A feature whose `normalise` flag is false is left alone; a `None` norm or shift of the
//! bounded variant is skipped, as in `jetnet.datasets.normalisations` (0.2.5).

use crate::error::{Error, Result};
use crate::jets::JetType;

fn check_width(name: &'static str, len: usize, f: usize) -> Result<()> {
    if f == 0 || !len.is_multiple_of(f) {
        return Err(Error::Param {
            name,
            reason: format!("array of {len} values is not a multiple of {f} features"),
        });
    }
    Ok(())
}

/// Apply `op(value, feature)` in f64 to the flagged features of `[..., F]`, rounding once.
fn apply_featurewise(
    x: &mut [f32],
    normalise: &[bool],
    f: usize,
    op: impl Fn(f64, usize) -> f64,
) -> Result<()> {
    check_width("x", x.len(), f)?;
    for row in x.chunks_exact_mut(f) {
        for (i, v) in row.iter_mut().enumerate() {
            if normalise.get(i).copied().unwrap_or(false) {
                *v = op(f64::from(*v), i) as f32;
            }
        }
    }
    Ok(())
}

/// `x ← (x + shift) · scale` per feature (jetnet `FeaturewiseLinear`).
#[derive(Debug, Clone, PartialEq)]
pub struct FeaturewiseLinear {
    /// Added first.
    pub shifts: Vec<f64>,
    /// Multiplied second.
    pub scales: Vec<f64>,
    /// Which features are transformed.
    pub normalise: Vec<bool>,
}

impl FeaturewiseLinear {
    /// Shifts and scales for every feature.
    ///
    /// # Errors
    /// [`Error::Param`] when the lengths differ or a scale is zero or non-finite.
    pub fn try_new(shifts: Vec<f64>, scales: Vec<f64>) -> Result<Self> {
        if shifts.len() != scales.len() {
            return Err(Error::Param {
                name: "feature_scales",
                reason: format!("{} shifts but {} scales", shifts.len(), scales.len()),
            });
        }
        if scales.iter().chain(&shifts).any(|s| !s.is_finite()) || scales.contains(&0.0) {
            return Err(Error::Param {
                name: "feature_scales",
                reason: "shifts and scales must be finite and scales non-zero".into(),
            });
        }
        let normalise = vec![true; shifts.len()];
        Ok(Self {
            shifts,
            scales,
            normalise,
        })
    }

    /// Standardisation derived from data (jetnet `normal=True`): shift = −mean,
    /// scale = 1/std (ddof 0) over all rows of `[..., F]`, padding included.
    ///
    /// # Errors
    /// [`Error::Param`] for an empty array, a width mismatch, or a constant feature.
    pub fn standardise_from(x: &[f32], f: usize) -> Result<Self> {
        check_width("x", x.len(), f)?;
        let rows = x.len() / f;
        if rows == 0 {
            return Err(Error::Param {
                name: "x",
                reason: "cannot derive statistics from an empty array".into(),
            });
        }
        let mut mean = vec![0f64; f];
        for r in x.chunks_exact(f) {
            for (m, &v) in mean.iter_mut().zip(r) {
                *m += f64::from(v);
            }
        }
        mean.iter_mut().for_each(|m| *m /= rows as f64);
        let mut var = vec![0f64; f];
        for r in x.chunks_exact(f) {
            for ((s, &v), m) in var.iter_mut().zip(r).zip(&mean) {
                *s += (f64::from(v) - m).powi(2);
            }
        }
        let scales: Vec<f64> = var.iter().map(|v| 1.0 / (v / rows as f64).sqrt()).collect();
        let shifts = mean.iter().map(|m| -m).collect();
        Self::try_new(shifts, scales)
    }

    /// Restrict the transform to the features flagged `true`.
    pub fn with_features(mut self, normalise: Vec<bool>) -> Self {
        self.normalise = normalise;
        self
    }

    /// Apply in place to `[..., F]`.
    ///
    /// # Errors
    /// [`Error::Param`] when the array is not a multiple of `F`.
    pub fn forward(&self, x: &mut [f32]) -> Result<()> {
        self.apply(x, |v, i| (v + self.shifts[i]) * self.scales[i])
    }

    /// Undo [`forward`](Self::forward) in place.
    ///
    /// # Errors
    /// As [`forward`](Self::forward).
    pub fn inverse(&self, x: &mut [f32]) -> Result<()> {
        self.apply(x, |v, i| v / self.scales[i] - self.shifts[i])
    }

    fn apply(&self, x: &mut [f32], op: impl Fn(f64, usize) -> f64) -> Result<()> {
        apply_featurewise(x, &self.normalise, self.shifts.len(), op)
    }
}

/// `x ← x / max · norm + shift` per feature (jetnet `FeaturewiseLinearBounded`).
#[derive(Debug, Clone, PartialEq)]
pub struct FeaturewiseLinearBounded {
    /// Divisors (feature maxima of |x|).
    pub maxes: Vec<f64>,
    /// Multipliers after the division; `None` skips.
    pub norms: Vec<Option<f64>>,
    /// Added last; `None` skips.
    pub shifts: Vec<Option<f64>>,
    /// Which features are transformed.
    pub normalise: Vec<bool>,
}

impl FeaturewiseLinearBounded {
    /// A transform with the given maxima, norms and shifts.
    ///
    /// # Errors
    /// [`Error::Param`] when lengths differ, or a max/norm is zero or non-finite.
    pub fn try_new(
        maxes: Vec<f64>,
        norms: Vec<Option<f64>>,
        shifts: Vec<Option<f64>>,
    ) -> Result<Self> {
        let f = maxes.len();
        if norms.len() != f || shifts.len() != f {
            return Err(Error::Param {
                name: "feature_maxes",
                reason: format!("{f} maxes, {} norms, {} shifts", norms.len(), shifts.len()),
            });
        }
        let bad = maxes.iter().any(|m| !m.is_finite() || *m == 0.0)
            || norms.iter().flatten().any(|n| !n.is_finite() || *n == 0.0)
            || shifts.iter().flatten().any(|s| !s.is_finite());
        if bad {
            return Err(Error::Param {
                name: "feature_maxes",
                reason: "maxes and norms must be finite and non-zero, shifts finite".into(),
            });
        }
        Ok(Self {
            maxes,
            norms,
            shifts,
            normalise: vec![true; f],
        })
    }

    /// Maxima derived from data (jetnet `derive_dataset_features`): max |x| per feature;
    /// norm 1, shift 0. A feature that is zero everywhere gets max 1.
    ///
    /// # Errors
    /// [`Error::Param`] for an empty array or a width mismatch.
    pub fn from_data(x: &[f32], f: usize) -> Result<Self> {
        check_width("x", x.len(), f)?;
        if x.is_empty() {
            return Err(Error::Param {
                name: "x",
                reason: "cannot derive maxima from an empty array".into(),
            });
        }
        let mut maxes = vec![0f64; f];
        for r in x.chunks_exact(f) {
            for (m, &v) in maxes.iter_mut().zip(r) {
                *m = m.max(f64::from(v).abs());
            }
        }
        maxes
            .iter_mut()
            .filter(|m| **m == 0.0)
            .for_each(|m| *m = 1.0);
        Self::try_new(maxes, vec![Some(1.0); f], vec![Some(0.0); f])
    }

    /// Restrict the transform to the features flagged `true`.
    pub fn with_features(mut self, normalise: Vec<bool>) -> Self {
        self.normalise = normalise;
        self
    }

    /// Number of features `F`.
    pub fn num_features(&self) -> usize {
        self.maxes.len()
    }

    /// Apply in place to `[..., F]`.
    ///
    /// # Errors
    /// [`Error::Param`] when the array is not a multiple of `F`.
    pub fn forward(&self, x: &mut [f32]) -> Result<()> {
        self.apply(x, |mut v, i| {
            v /= self.maxes[i];
            if let Some(n) = self.norms[i] {
                v *= n;
            }
            if let Some(s) = self.shifts[i] {
                v += s;
            }
            v
        })
    }

    /// Undo [`forward`](Self::forward) in place.
    ///
    /// # Errors
    /// As [`forward`](Self::forward).
    pub fn inverse(&self, x: &mut [f32]) -> Result<()> {
        self.apply(x, |mut v, i| {
            if let Some(s) = self.shifts[i] {
                v -= s;
            }
            if let Some(n) = self.norms[i] {
                v /= n;
            }
            v * self.maxes[i]
        })
    }

    fn apply(&self, x: &mut [f32], op: impl Fn(f64, usize) -> f64) -> Result<()> {
        apply_featurewise(x, &self.normalise, self.maxes.len(), op)
    }
}

/// Feature maxima of `JetNet.fpnd_norm` (η_rel, φ_rel, pT_rel), jetnet 0.2.5.
pub const FPND_MAXES: [f64; 3] = [1.6211985349655151, 0.520724892616272, 0.8934717178344727];

/// `JetNet.fpnd_norm`: η/1.6212, φ/0.5207, pT/0.8935 − 0.5. Used inside FPND.
pub fn fpnd_norm() -> FeaturewiseLinearBounded {
    FeaturewiseLinearBounded::try_new(
        FPND_MAXES.to_vec(),
        vec![Some(1.0); 3],
        vec![Some(0.0), Some(0.0), Some(-0.5)],
    )
    .expect("constants are valid")
}

/// Feature maxima (η_rel, φ_rel, pT_rel, mask) of the published MPGAN generators, per
/// jet type (from their training configuration).
pub fn mpgan_maxes(jet_type: JetType) -> Option<[f64; 4]> {
    match jet_type {
        JetType::G => Some([
            1.4532885551452637,
            0.520724892616272,
            0.8537549376487732,
            1.0,
        ]),
        JetType::Q => Some([
            1.6211985349655151,
            0.4568111002445221,
            0.8896132111549377,
            1.0,
        ]),
        JetType::T => Some([
            1.4242753982543945,
            0.4949831962585449,
            0.8774275183677673,
            1.0,
        ]),
        JetType::W | JetType::Z => None,
    }
}

/// The particle normalisation of the published MPGAN generators for `jet_type`
/// (η, φ, pT, mask): x / max, shifts [0, 0, −0.5, −0.5]. Its inverse maps generator output
/// to physical (η_rel, φ_rel, pT_rel, mask). `None` for w and z (no published weights).
pub fn mpgan_particle_norm(jet_type: JetType) -> Option<FeaturewiseLinearBounded> {
    let maxes = mpgan_maxes(jet_type)?;
    Some(
        FeaturewiseLinearBounded::try_new(
            maxes.to_vec(),
            vec![Some(1.0); 4],
            vec![Some(0.0), Some(0.0), Some(-0.5), Some(-0.5)],
        )
        .expect("constants are valid"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fpnd_norm_matches_jetnet_reference() {
        // jetnet-reference.md §2.10: fpnd_norm(A), float64 reference.
        let mut a: Vec<f32> = vec![
            0.10, -0.05, 0.60, -0.02, 0.08, 0.30, 0.20, 0.15, 0.10, 0.0, 0.0, 0.0,
        ];
        fpnd_norm().forward(&mut a).unwrap();
        let want = [
            0.06168275991078855,
            -0.09601999195541736,
            0.17153776445686875,
            -0.01233655198215771,
            0.15363198712866777,
            -0.16423111777156563,
            0.1233655198215771,
            0.28805997586625204,
            -0.3880770392571885,
            0.0,
            0.0,
            -0.5,
        ];
        for (g, w) in a.iter().zip(want) {
            assert!((f64::from(*g) - w).abs() < 1e-7, "{g} vs {w}");
        }
    }

    #[test]
    fn round_trips() {
        let x: Vec<f32> = (0..60)
            .map(|i| ((i * 37 % 23) as f32 - 11.0) * 0.07)
            .collect();
        let b = FeaturewiseLinearBounded::from_data(&x, 3).unwrap();
        let mut y = x.clone();
        b.forward(&mut y).unwrap();
        assert!(y.iter().all(|v| v.abs() <= 1.0 + 1e-6));
        b.inverse(&mut y).unwrap();
        for (a, b) in x.iter().zip(&y) {
            assert!((a - b).abs() < 1e-6);
        }
        let l = FeaturewiseLinear::standardise_from(&x, 3).unwrap();
        let mut z = x.clone();
        l.forward(&mut z).unwrap();
        let mean: f32 = z.iter().step_by(3).sum::<f32>() / 20.0;
        assert!(mean.abs() < 1e-5);
        l.inverse(&mut z).unwrap();
        for (a, b) in x.iter().zip(&z) {
            assert!((a - b).abs() < 1e-5);
        }
    }

    #[test]
    fn skips_unflagged_features_and_rejects_bad_params() {
        let n = mpgan_particle_norm(JetType::G)
            .unwrap()
            .with_features(vec![true, false, true, false]);
        let mut x = vec![1.4532885551452637f64 as f32, 0.3, 0.0, 1.0];
        n.forward(&mut x).unwrap();
        assert_eq!(x, vec![1.0, 0.3, -0.5, 1.0]);
        assert!(mpgan_particle_norm(JetType::W).is_none());
        assert!(FeaturewiseLinear::try_new(vec![0.0], vec![0.0]).is_err());
        assert!(fpnd_norm().forward(&mut [0.0; 4]).is_err());
    }
}
