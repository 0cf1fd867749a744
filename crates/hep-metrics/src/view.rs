//! Borrowed, shape-checked views of the inputs: `[N, P, F]` jets and `[N, D]` features.

use crate::{Error, Result};

/// A borrowed `[N, P, F]` array of jets, row-major, features in JetNet order
/// `(η_rel, φ_rel, pT_rel, …)`; zero-padded particles have all features 0.
///
/// # Shapes
/// `data.len() == num_jets * num_particles * num_features`, `num_features >= 3`.
#[derive(Debug, Clone, Copy)]
pub struct JetsView<'a> {
    data: &'a [f32],
    num_jets: usize,
    num_particles: usize,
    num_features: usize,
}

impl<'a> JetsView<'a> {
    /// Wrap `data` of shape `[num_jets, num_particles, num_features]`.
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`] when the length does not match the shape,
    /// [`Error::DimensionMismatch`] when `num_features < 3`.
    pub fn new(data: &'a [f32], shape: [usize; 3]) -> Result<Self> {
        let [num_jets, num_particles, num_features] = shape;
        let expected = num_jets * num_particles * num_features;
        if data.len() != expected {
            return Err(Error::ShapeMismatch {
                argument: "jets",
                shape: shape.to_vec(),
                expected,
                found: data.len(),
            });
        }
        if num_features < 3 {
            return Err(Error::DimensionMismatch {
                what: "num_features (at least eta, phi, pt)",
                lhs: num_features,
                rhs: 3,
            });
        }
        Ok(Self {
            data,
            num_jets,
            num_particles,
            num_features,
        })
    }

    /// The flat data.
    pub fn data(&self) -> &'a [f32] {
        self.data
    }

    /// `[N, P, F]`.
    pub fn shape(&self) -> [usize; 3] {
        [self.num_jets, self.num_particles, self.num_features]
    }

    /// N.
    pub fn num_jets(&self) -> usize {
        self.num_jets
    }

    /// P.
    pub fn num_particles(&self) -> usize {
        self.num_particles
    }

    /// F.
    pub fn num_features(&self) -> usize {
        self.num_features
    }

    /// Jet `i` as a `[P, F]` slice.
    ///
    /// # Panics
    /// If `i >= num_jets`.
    pub fn jet(&self, i: usize) -> &'a [f32] {
        let len = self.num_particles * self.num_features;
        &self.data[i * len..(i + 1) * len]
    }

    pub(crate) fn check_finite(&self, argument: &'static str) -> Result<()> {
        check_finite_f32(self.data, argument)
    }

    pub(crate) fn check_nonempty(&self, argument: &'static str) -> Result<()> {
        if self.num_jets == 0 {
            return Err(Error::EmptyInput { argument });
        }
        Ok(())
    }
}

/// A borrowed `[N, D]` row-major matrix of per-jet features (e.g. EFPs), in f64.
///
/// # Shapes
/// `data.len() == num_rows * num_cols`.
#[derive(Debug, Clone, Copy)]
pub struct FeaturesView<'a> {
    data: &'a [f64],
    num_rows: usize,
    num_cols: usize,
}

impl<'a> FeaturesView<'a> {
    /// Wrap `data` of shape `[num_rows, num_cols]`.
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`] when the length does not match the shape.
    pub fn new(data: &'a [f64], shape: [usize; 2]) -> Result<Self> {
        let [num_rows, num_cols] = shape;
        if data.len() != num_rows * num_cols {
            return Err(Error::ShapeMismatch {
                argument: "features",
                shape: shape.to_vec(),
                expected: num_rows * num_cols,
                found: data.len(),
            });
        }
        Ok(Self {
            data,
            num_rows,
            num_cols,
        })
    }

    /// The flat data.
    pub fn data(&self) -> &'a [f64] {
        self.data
    }

    /// N.
    pub fn num_rows(&self) -> usize {
        self.num_rows
    }

    /// D.
    pub fn num_cols(&self) -> usize {
        self.num_cols
    }

    /// Row `i`.
    ///
    /// # Panics
    /// If `i >= num_rows`.
    pub fn row(&self, i: usize) -> &'a [f64] {
        &self.data[i * self.num_cols..(i + 1) * self.num_cols]
    }

    pub(crate) fn check(&self, argument: &'static str) -> Result<()> {
        if self.num_rows == 0 || self.num_cols == 0 {
            return Err(Error::EmptyInput { argument });
        }
        check_finite_f64(self.data, argument)
    }
}

/// Both inputs non-empty, finite, with the same number of columns.
pub(crate) fn check_feature_pair(x: &FeaturesView<'_>, y: &FeaturesView<'_>) -> Result<()> {
    x.check("real_features")?;
    y.check("gen_features")?;
    if x.num_cols != y.num_cols {
        return Err(Error::DimensionMismatch {
            what: "num_features",
            lhs: x.num_cols,
            rhs: y.num_cols,
        });
    }
    Ok(())
}

/// Checks images `[N, H, W]`: length, non-empty, finite.
pub(crate) fn check_images(x: &[f32], shape: [usize; 3], argument: &'static str) -> Result<()> {
    let [n, h, w] = shape;
    if x.len() != n * h * w {
        return Err(Error::ShapeMismatch {
            argument,
            shape: shape.to_vec(),
            expected: n * h * w,
            found: x.len(),
        });
    }
    if n * h * w == 0 {
        return Err(Error::EmptyInput { argument });
    }
    check_finite_f32(x, argument)
}

pub(crate) fn check_finite_f32(data: &[f32], argument: &'static str) -> Result<()> {
    match data.iter().position(|v| !v.is_finite()) {
        Some(index) => Err(Error::NonFinite {
            argument,
            index,
            value: f64::from(data[index]),
        }),
        None => Ok(()),
    }
}

pub(crate) fn check_finite_f64(data: &[f64], argument: &'static str) -> Result<()> {
    match data.iter().position(|v| !v.is_finite()) {
        Some(index) => Err(Error::NonFinite {
            argument,
            index,
            value: data[index],
        }),
        None => Ok(()),
    }
}
