//! The particle-cloud dataset type: JetNet-layout particle features, mask and jet features.

use crate::error::{Error, Result, Source};

/// Particle features in JetNet order, as stored in [`JetDataset::particles`].
pub const PARTICLE_FEATURES: [&str; 3] = ["etarel", "phirel", "ptrel"];

/// JetNet jet classes. The discriminant is JetNet's class index (`type` jet feature).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum JetType {
    /// Gluon.
    G = 0,
    /// Light quark (u, d, s).
    Q = 1,
    /// Top quark.
    T = 2,
    /// W boson.
    W = 3,
    /// Z boson.
    Z = 4,
}

impl JetType {
    /// All types in JetNet's order (`JET_TYPES`).
    pub const ALL: [JetType; 5] = [JetType::G, JetType::Q, JetType::T, JetType::W, JetType::Z];

    /// The one-letter label used by JetNet (`"g"`, `"q"`, ...).
    pub fn label(self) -> &'static str {
        match self {
            JetType::G => "g",
            JetType::Q => "q",
            JetType::T => "t",
            JetType::W => "w",
            JetType::Z => "z",
        }
    }

    /// Parse a one-letter label.
    pub fn from_label(s: &str) -> Option<JetType> {
        JetType::ALL.into_iter().find(|t| t.label() == s)
    }

    /// JetNet's class index (0..=4).
    pub fn index(self) -> usize {
        self as usize
    }
}

impl std::fmt::Display for JetType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.label())
    }
}

impl std::str::FromStr for JetType {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        JetType::from_label(s).ok_or_else(|| Error::Param {
            name: "jet_type",
            reason: format!("unknown jet type {s:?}, expected one of g, q, t, w, z"),
        })
    }
}

/// Per-jet features. All vectors have one entry per jet.
///
/// `pt` and `mass` are in GeV for generated/JetNet data. `num_particles` is the number of
/// stored (unmasked) particles, at most `P`; `n_constituents`, when present, is the full
/// constituent multiplicity before truncation to `P`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct JetFeatures {
    /// Jet class.
    pub jet_type: Vec<JetType>,
    /// Jet transverse momentum.
    pub pt: Vec<f32>,
    /// Jet pseudorapidity.
    pub eta: Vec<f32>,
    /// Jet mass.
    pub mass: Vec<f32>,
    /// Number of stored particles (= Σ mask).
    pub num_particles: Vec<u32>,
    /// Jet azimuth (optional extra).
    pub phi: Option<Vec<f32>>,
    /// Full constituent multiplicity (optional extra).
    pub n_constituents: Option<Vec<u32>>,
    /// PDG id of the matched hard parton (optional extra).
    pub parton_pdgid: Option<Vec<i32>>,
}

impl JetFeatures {
    fn len(&self) -> usize {
        self.jet_type.len()
    }

    fn select(&self, idx: &[usize]) -> JetFeatures {
        fn pick<T: Copy>(v: &[T], idx: &[usize]) -> Vec<T> {
            idx.iter().map(|&i| v[i]).collect()
        }
        JetFeatures {
            jet_type: pick(&self.jet_type, idx),
            pt: pick(&self.pt, idx),
            eta: pick(&self.eta, idx),
            mass: pick(&self.mass, idx),
            num_particles: pick(&self.num_particles, idx),
            phi: self.phi.as_deref().map(|v| pick(v, idx)),
            n_constituents: self.n_constituents.as_deref().map(|v| pick(v, idx)),
            parton_pdgid: self.parton_pdgid.as_deref().map(|v| pick(v, idx)),
        }
    }

    fn extend(&mut self, other: &JetFeatures) {
        fn ext<T: Copy>(a: &mut Option<Vec<T>>, b: &Option<Vec<T>>) {
            match (a.as_mut(), b) {
                (Some(a), Some(b)) => a.extend_from_slice(b),
                _ => *a = None,
            }
        }
        self.jet_type.extend_from_slice(&other.jet_type);
        self.pt.extend_from_slice(&other.pt);
        self.eta.extend_from_slice(&other.eta);
        self.mass.extend_from_slice(&other.mass);
        self.num_particles.extend_from_slice(&other.num_particles);
        ext(&mut self.phi, &other.phi);
        ext(&mut self.n_constituents, &other.n_constituents);
        ext(&mut self.parton_pdgid, &other.parton_pdgid);
    }
}

/// `N` jets of `P` particle slots in JetNet layout, validated.
///
/// # Shapes
/// - [`particles`](Self::particles): `[N, P, 3]` f32, features (η_rel, φ_rel, pT_rel),
///   row-major and contiguous;
/// - [`mask`](Self::mask): `[N, P]` f32, 1 for a real particle and 0 for padding;
/// - [`jets`](Self::jets): one entry per jet.
///
/// # Invariants (checked by [`JetDataset::try_new`] and every reader)
/// All values finite; mask ∈ {0, 1}; padding trailing (real particles first);
/// padded slots all-zero; pT_rel ≥ 0; `num_particles` = Σ mask.
#[derive(Debug, Clone, PartialEq)]
pub struct JetDataset {
    num_slots: usize,
    particles: Vec<f32>,
    mask: Vec<f32>,
    jets: JetFeatures,
    provenance: Option<String>,
}

impl JetDataset {
    /// Build a dataset from contiguous arrays, validating every invariant.
    ///
    /// # Errors
    /// [`Error::Shape`] when the arrays disagree with `N`/`P`, and the validation errors
    /// listed on the type (with [`Source::Memory`]).
    pub fn try_new(
        num_slots: usize,
        particles: Vec<f32>,
        mask: Vec<f32>,
        jets: JetFeatures,
    ) -> Result<Self> {
        Self::try_new_at(Source::Memory, 0, num_slots, particles, mask, jets)
    }

    /// As [`try_new`](Self::try_new), reporting errors against `source` with rows
    /// numbered from `row_offset`.
    pub(crate) fn try_new_at(
        source: Source,
        row_offset: usize,
        num_slots: usize,
        particles: Vec<f32>,
        mask: Vec<f32>,
        jets: JetFeatures,
    ) -> Result<Self> {
        let n = jets.len();
        let shape_err = |what: &str, expected: String, found: Vec<usize>| Error::Shape {
            file: source.clone(),
            what: what.to_string(),
            expected,
            found,
        };
        if num_slots == 0 {
            return Err(shape_err("particle slots", "P >= 1".into(), vec![0]));
        }
        if particles.len() != n * num_slots * 3 {
            return Err(shape_err(
                "particles",
                format!("[{n}, {num_slots}, 3] ({} values)", n * num_slots * 3),
                vec![particles.len()],
            ));
        }
        if mask.len() != n * num_slots {
            return Err(shape_err(
                "mask",
                format!("[{n}, {num_slots}] ({} values)", n * num_slots),
                vec![mask.len()],
            ));
        }
        let lens = [
            ("jet_pt", jets.pt.len()),
            ("jet_eta", jets.eta.len()),
            ("jet_mass", jets.mass.len()),
            ("num_particles", jets.num_particles.len()),
            ("jet_phi", jets.phi.as_ref().map_or(n, Vec::len)),
            (
                "n_constituents",
                jets.n_constituents.as_ref().map_or(n, Vec::len),
            ),
            (
                "parton_pdgid",
                jets.parton_pdgid.as_ref().map_or(n, Vec::len),
            ),
        ];
        for (what, len) in lens {
            if len != n {
                return Err(shape_err(what, format!("[{n}]"), vec![len]));
            }
        }
        let ds = Self {
            num_slots,
            particles,
            mask,
            jets,
            provenance: None,
        };
        ds.validate(&source, row_offset)?;
        Ok(ds)
    }

    fn validate(&self, source: &Source, row_offset: usize) -> Result<()> {
        let p = self.num_slots;
        let non_finite =
            |column: &str, row: usize, particle: Option<usize>, value: f32| Error::NonFinite {
                file: source.clone(),
                column: column.to_string(),
                row,
                particle,
                value: f64::from(value),
            };
        for jet in 0..self.len() {
            let row = row_offset + jet;
            for (column, v) in [
                ("jet_pt", self.jets.pt[jet]),
                ("jet_eta", self.jets.eta[jet]),
                ("jet_mass", self.jets.mass[jet]),
            ] {
                if !v.is_finite() {
                    return Err(non_finite(column, row, None, v));
                }
            }
            if let Some(phi) = &self.jets.phi
                && !phi[jet].is_finite()
            {
                return Err(non_finite("jet_phi", row, None, phi[jet]));
            }
            let mask = &self.mask[jet * p..(jet + 1) * p];
            let feats = &self.particles[jet * p * 3..(jet + 1) * p * 3];
            // Fast path (branch-light, vectorisable): a well-formed jet is `real` ones then
            // zeros in the mask, finite features with pT ≥ 0 for real particles, zeros after.
            // Anything else falls through to the slot-by-slot check that names the problem.
            let real = mask.iter().take_while(|&&m| m == 1.0).count();
            if self.jets.num_particles[jet] as usize == real
                && mask[real..].iter().all(|&m| m == 0.0)
                && feats[real * 3..].iter().all(|&v| v == 0.0)
                && feats[..real * 3].iter().all(|v| v.is_finite())
                && feats[..real * 3].chunks_exact(3).all(|f| f[2] >= 0.0)
            {
                continue;
            }
            let mut first_padding = None;
            let mut real = 0usize;
            for (slot, &m) in mask.iter().enumerate() {
                if !m.is_finite() {
                    return Err(non_finite("mask", row, Some(slot), m));
                }
                if m != 0.0 && m != 1.0 {
                    return Err(Error::MaskValue {
                        file: source.clone(),
                        row,
                        particle: slot,
                        value: f64::from(m),
                    });
                }
                for (k, column) in PARTICLE_FEATURES.iter().enumerate() {
                    let v = feats[slot * 3 + k];
                    if !v.is_finite() {
                        return Err(non_finite(column, row, Some(slot), v));
                    }
                    if m == 0.0 && v != 0.0 {
                        return Err(Error::MaskedNonZero {
                            file: source.clone(),
                            column: column.to_string(),
                            row,
                            particle: slot,
                            value: f64::from(v),
                        });
                    }
                }
                if m == 1.0 {
                    if let Some(first_padding) = first_padding {
                        return Err(Error::PaddingNotTrailing {
                            file: source.clone(),
                            row,
                            first_padding,
                            particle: slot,
                        });
                    }
                    let pt = feats[slot * 3 + 2];
                    if pt < 0.0 {
                        return Err(Error::NegativePt {
                            file: source.clone(),
                            row,
                            particle: slot,
                            value: f64::from(pt),
                        });
                    }
                    real += 1;
                } else if first_padding.is_none() {
                    first_padding = Some(slot);
                }
            }
            let stored = self.jets.num_particles[jet];
            if stored as usize != real {
                return Err(Error::NumParticlesMismatch {
                    file: source.clone(),
                    row,
                    expected: real,
                    found: i64::from(stored),
                });
            }
        }
        Ok(())
    }

    /// Number of jets `N`.
    pub fn len(&self) -> usize {
        self.jets.len()
    }

    /// `true` when there are no jets.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Number of particle slots per jet `P` (30 or 150 for JetNet).
    pub fn num_slots(&self) -> usize {
        self.num_slots
    }

    /// Particle features `[N, P, 3]` (η_rel, φ_rel, pT_rel), contiguous.
    pub fn particles(&self) -> &[f32] {
        &self.particles
    }

    /// Mask `[N, P]`, contiguous.
    pub fn mask(&self) -> &[f32] {
        &self.mask
    }

    /// Per-jet features.
    pub fn jets(&self) -> &JetFeatures {
        &self.jets
    }

    /// Provenance record (JSON text) carried with the data, if any.
    pub fn provenance(&self) -> Option<&str> {
        self.provenance.as_deref()
    }

    /// Attach a provenance record (JSON text: generator versions, seeds, settings).
    pub fn with_provenance(mut self, provenance: impl Into<String>) -> Self {
        self.provenance = Some(provenance.into());
        self
    }

    /// JetNet's 4-feature layout `[N, P, 4]` (η_rel, φ_rel, pT_rel, mask), as in the
    /// JetNet HDF5 files and the `.npy` interchange format.
    pub fn to_jetnet_array(&self) -> Vec<f32> {
        let mut out = Vec::with_capacity(self.len() * self.num_slots * 4);
        for (f, m) in self.particles.chunks_exact(3).zip(&self.mask) {
            out.extend_from_slice(f);
            out.push(*m);
        }
        out
    }

    /// Jets `[start, end)` as borrowed contiguous slices.
    ///
    /// # Panics
    /// If `start > end` or `end > N` (a programmer error, like slice indexing).
    pub fn batch(&self, start: usize, end: usize) -> JetBatch<'_> {
        assert!(
            start <= end && end <= self.len(),
            "batch {start}..{end} out of 0..{}",
            self.len()
        );
        let p = self.num_slots;
        JetBatch {
            start,
            num_slots: p,
            particles: &self.particles[start * p * 3..end * p * 3],
            mask: &self.mask[start * p..end * p],
            num_particles: &self.jets.num_particles[start..end],
            jet_type: &self.jets.jet_type[start..end],
        }
    }

    /// Iterate over consecutive batches of `batch_size` jets (the last may be shorter),
    /// without copying.
    ///
    /// # Panics
    /// If `batch_size == 0`.
    pub fn batches(&self, batch_size: usize) -> impl Iterator<Item = JetBatch<'_>> + '_ {
        assert!(batch_size > 0, "batch_size must be positive");
        (0..self.len())
            .step_by(batch_size)
            .map(move |s| self.batch(s, (s + batch_size).min(self.len())))
    }

    /// A new dataset with the jets at `indices`, in that order (one copy).
    ///
    /// # Errors
    /// [`Error::Param`] when an index is out of range.
    pub fn select(&self, indices: &[usize]) -> Result<JetDataset> {
        if let Some(&bad) = indices.iter().find(|&&i| i >= self.len()) {
            return Err(Error::Param {
                name: "indices",
                reason: format!("index {bad} out of range for {} jets", self.len()),
            });
        }
        let p = self.num_slots;
        let mut particles = Vec::with_capacity(indices.len() * p * 3);
        let mut mask = Vec::with_capacity(indices.len() * p);
        for &i in indices {
            particles.extend_from_slice(&self.particles[i * p * 3..(i + 1) * p * 3]);
            mask.extend_from_slice(&self.mask[i * p..(i + 1) * p]);
        }
        Ok(JetDataset {
            num_slots: p,
            particles,
            mask,
            jets: self.jets.select(indices),
            provenance: self.provenance.clone(),
        })
    }

    /// Append the jets of `other` (used to concatenate streamed batches or jet types).
    ///
    /// Optional jet features survive only if both sides have them.
    ///
    /// # Errors
    /// [`Error::Shape`] when the two datasets have different `P`.
    pub fn extend(&mut self, other: &JetDataset) -> Result<()> {
        if other.num_slots != self.num_slots {
            return Err(Error::Shape {
                file: Source::Memory,
                what: "particle slots of the appended dataset".into(),
                expected: format!("P = {}", self.num_slots),
                found: vec![other.num_slots],
            });
        }
        self.particles.extend_from_slice(&other.particles);
        self.mask.extend_from_slice(&other.mask);
        self.jets.extend(&other.jets);
        Ok(())
    }

    /// Concatenate datasets (e.g. several jet types before a JetNet split, in JetNet's
    /// type order), with one allocation. Provenance is taken from the first part.
    ///
    /// # Errors
    /// [`Error::Shape`] when the parts have different `P`; [`Error::Param`] for no parts.
    pub fn concat(parts: &[JetDataset]) -> Result<JetDataset> {
        let first = parts.first().ok_or(Error::Param {
            name: "parts",
            reason: "nothing to concatenate".into(),
        })?;
        let p = first.num_slots;
        let n: usize = parts.iter().map(JetDataset::len).sum();
        let mut out = JetDataset {
            num_slots: p,
            particles: Vec::with_capacity(n * p * 3),
            mask: Vec::with_capacity(n * p),
            jets: JetFeatures {
                phi: first.jets.phi.as_ref().map(|_| Vec::new()),
                n_constituents: first.jets.n_constituents.as_ref().map(|_| Vec::new()),
                parton_pdgid: first.jets.parton_pdgid.as_ref().map(|_| Vec::new()),
                ..Default::default()
            },
            provenance: first.provenance.clone(),
        };
        for part in parts {
            out.extend(part)?;
        }
        Ok(out)
    }

    /// Keep only the first `p` particle slots of every jet (JetNet150 → JetNet30), with
    /// `num_particles` clipped to `p` as jetnet's loader does.
    ///
    /// # Errors
    /// [`Error::Param`] when `p` is 0 or larger than the current number of slots.
    pub fn truncate_particles(&self, p: usize) -> Result<JetDataset> {
        if p == 0 || p > self.num_slots {
            return Err(Error::Param {
                name: "num_particles",
                reason: format!("cannot keep {p} of {} particle slots", self.num_slots),
            });
        }
        let old = self.num_slots;
        let mut particles = Vec::with_capacity(self.len() * p * 3);
        let mut mask = Vec::with_capacity(self.len() * p);
        for j in 0..self.len() {
            particles.extend_from_slice(&self.particles[j * old * 3..(j * old + p) * 3]);
            mask.extend_from_slice(&self.mask[j * old..j * old + p]);
        }
        let mut jets = self.jets.clone();
        for n in &mut jets.num_particles {
            *n = (*n).min(p as u32);
        }
        Ok(JetDataset {
            num_slots: p,
            particles,
            mask,
            jets,
            provenance: self.provenance.clone(),
        })
    }

    /// Consume into the raw parts `(P, particles, mask, jets)`.
    pub fn into_parts(self) -> (usize, Vec<f32>, Vec<f32>, JetFeatures) {
        (self.num_slots, self.particles, self.mask, self.jets)
    }
}

/// A borrowed, contiguous batch of jets from a [`JetDataset`].
///
/// # Shapes
/// `particles` `[B, P, 3]`, `mask` `[B, P]`, `num_particles` and `jet_type` `[B]`.
#[derive(Debug, Clone, Copy)]
pub struct JetBatch<'a> {
    /// Index of the batch's first jet in the dataset.
    pub start: usize,
    /// Particle slots per jet `P`.
    pub num_slots: usize,
    /// Particle features `[B, P, 3]`.
    pub particles: &'a [f32],
    /// Mask `[B, P]`.
    pub mask: &'a [f32],
    /// Stored particles per jet.
    pub num_particles: &'a [u32],
    /// Jet classes.
    pub jet_type: &'a [JetType],
}

impl JetBatch<'_> {
    /// Number of jets in the batch `B`.
    pub fn len(&self) -> usize {
        self.num_particles.len()
    }

    /// `true` for an empty batch.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
pub(crate) mod tests;
