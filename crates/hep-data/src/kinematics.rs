//! Jet kinematics (mass, pT, η) from particle features in JetNet's relative coordinates.
//!
//! Each particle is a massless four-vector built from (η_rel, φ_rel, pT_rel); the jet is
//! their sum, in f64:
//!
//! ```text
//! px = Σ pT cos φ    py = Σ pT sin φ    pz = Σ pT sinh η    E = Σ pT cosh η
//! pT_jet = hypot(px, py)    η_jet = asinh(pz / pT_jet)    (0 when pT_jet = 0)
//! m² = E² − px² − py² − pz²    m = sign(m²) · sqrt(|m²|)
//! ```
//!
//! The signed square root is the convention of `jetnet.utils.jet_features` 0.2.5 with a
//! current coffea/vector backend: numerically space-like sums (single-particle jets) give
//! tiny negative masses instead of NaN. With relative inputs, "mass" is m_jet / pT_jet and
//! "pt" is ≈ Σ pT_rel. Zero-padded particles contribute nothing.

use crate::error::{Error, Result, Source};

/// Kinematics of one jet.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct JetKinematics {
    /// Invariant mass (signed square root of m²).
    pub mass: f64,
    /// Transverse momentum.
    pub pt: f64,
    /// Pseudorapidity.
    pub eta: f64,
}

/// Kinematics of one jet from its `[P, 3]` particle features (η_rel, φ_rel, pT_rel).
pub fn jet_kinematics_one(particles: &[f32]) -> JetKinematics {
    let (mut px, mut py, mut pz, mut e) = (0f64, 0f64, 0f64, 0f64);
    for f in particles.chunks_exact(3) {
        let (eta, phi, pt) = (f64::from(f[0]), f64::from(f[1]), f64::from(f[2]));
        px += pt * phi.cos();
        py += pt * phi.sin();
        pz += pt * eta.sinh();
        e += pt * eta.cosh();
    }
    let pt = px.hypot(py);
    let eta = if pt > 0.0 { (pz / pt).asinh() } else { 0.0 };
    let m2 = e * e - px * px - py * py - pz * pz;
    let mass = m2.abs().sqrt().copysign(m2);
    JetKinematics {
        mass: if mass.is_finite() { mass } else { 0.0 },
        pt,
        eta: if eta.is_finite() { eta } else { 0.0 },
    }
}

/// Kinematics of every jet of a contiguous `[N, P, 3]` array.
///
/// # Shapes
/// `particles`: `[num_jets, num_slots, 3]`, features (η_rel, φ_rel, pT_rel).
///
/// # Errors
/// [`Error::Shape`] when `particles.len() != num_jets * num_slots * 3`.
pub fn jet_kinematics(
    particles: &[f32],
    num_jets: usize,
    num_slots: usize,
) -> Result<Vec<JetKinematics>> {
    if particles.len() != num_jets * num_slots * 3 {
        return Err(Error::Shape {
            file: Source::Memory,
            what: "particles".into(),
            expected: format!("[{num_jets}, {num_slots}, 3]"),
            found: vec![particles.len()],
        });
    }
    if num_slots == 0 {
        return Ok(vec![JetKinematics::default(); num_jets]);
    }
    Ok(particles
        .chunks_exact(num_slots * 3)
        .map(jet_kinematics_one)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_jetnet_reference_values() {
        // jetnet-reference.md §2.10 (jetnet 0.2.5, float64).
        let a: [f32; 12] = [
            0.10, -0.05, 0.60, -0.02, 0.08, 0.30, 0.20, 0.15, 0.10, 0.0, 0.0, 0.0,
        ];
        let b: [f32; 12] = [
            0.00, 0.00, 0.50, 0.12, -0.10, 0.25, -0.15, 0.05, 0.15, 0.05, 0.30, 0.05,
        ];
        // The reference used float64 inputs; our f32 inputs differ in the 8th digit.
        let k = jet_kinematics(&[a, b].concat(), 2, 4).unwrap();
        let want = [
            (0.101144188281377, 0.9972077672649113, 0.07437252573775979),
            (0.11670290454155703, 0.9463342151988201, 0.01055487380624698),
        ];
        for (got, (m, pt, eta)) in k.iter().zip(want) {
            assert!((got.mass - m).abs() / m < 2e-6, "{got:?}");
            assert!((got.pt - pt).abs() / pt < 2e-7, "{got:?}");
            assert!((got.eta - eta).abs() / eta < 2e-6, "{got:?}");
        }
    }

    #[test]
    fn single_particle_is_massless_and_empty_jet_is_zero() {
        let k = jet_kinematics(&[0.3, -0.2, 1.0, 0.0, 0.0, 0.0], 1, 2).unwrap();
        assert!(k[0].mass.abs() < 1e-7);
        assert!((k[0].pt - 1.0).abs() < 1e-12);
        assert!((k[0].eta - 0.3f32 as f64).abs() < 1e-12);
        let z = jet_kinematics(&[0.0; 6], 1, 2).unwrap();
        assert_eq!(z[0], JetKinematics::default());
    }

    #[test]
    fn wrong_shape_is_an_error() {
        assert!(matches!(
            jet_kinematics(&[0.0; 5], 1, 2),
            Err(Error::Shape { .. })
        ));
    }
}
