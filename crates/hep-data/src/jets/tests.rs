//! Validation tests of [`JetDataset`]: one test per invariant.

use super::*;

/// Two jets of P = 3: the first with 2 real particles, the second with 1.
pub(crate) fn sample() -> (Vec<f32>, Vec<f32>, JetFeatures) {
    let particles = vec![
        0.1, -0.05, 0.6, /**/ -0.02, 0.08, 0.3, /**/ 0.0, 0.0, 0.0, //
        0.0, 0.01, 0.9, /**/ 0.0, 0.0, 0.0, /**/ 0.0, 0.0, 0.0,
    ];
    let mask = vec![1.0, 1.0, 0.0, 1.0, 0.0, 0.0];
    let jets = JetFeatures {
        jet_type: vec![JetType::G, JetType::T],
        pt: vec![1000.0, 950.0],
        eta: vec![0.3, -1.2],
        mass: vec![120.0, 170.0],
        num_particles: vec![2, 1],
        phi: Some(vec![0.1, 2.0]),
        n_constituents: Some(vec![40, 55]),
        parton_pdgid: Some(vec![21, 6]),
    };
    (particles, mask, jets)
}

fn build(edit: impl FnOnce(&mut Vec<f32>, &mut Vec<f32>, &mut JetFeatures)) -> Result<JetDataset> {
    let (mut p, mut m, mut j) = sample();
    edit(&mut p, &mut m, &mut j);
    JetDataset::try_new(3, p, m, j)
}

#[test]
fn valid_sample_builds() {
    let ds = build(|_, _, _| {}).unwrap();
    assert_eq!(ds.len(), 2);
    assert_eq!(ds.num_slots(), 3);
    assert_eq!(ds.particles().len(), 18);
    assert_eq!(ds.to_jetnet_array()[..4], [0.1, -0.05, 0.6, 1.0]);
}

#[test]
fn nan_is_rejected_with_location() {
    let e = build(|p, _, _| p[4] = f32::NAN).unwrap_err();
    assert!(
        matches!(&e, Error::NonFinite { column, row: 0, particle: Some(1), .. } if column == "phirel"),
        "{e}"
    );
    let e = build(|_, _, j| j.mass[1] = f32::INFINITY).unwrap_err();
    assert!(
        matches!(&e, Error::NonFinite { column, row: 1, particle: None, .. } if column == "jet_mass")
    );
}

#[test]
fn mask_must_be_binary() {
    let e = build(|_, m, _| m[1] = 0.5).unwrap_err();
    assert!(
        matches!(
            e,
            Error::MaskValue {
                row: 0,
                particle: 1,
                ..
            }
        ),
        "{e}"
    );
}

#[test]
fn masked_particles_must_be_zero() {
    let e = build(|p, _, _| p[3 * 4 + 2] = 0.01).unwrap_err();
    assert!(
        matches!(&e, Error::MaskedNonZero { column, row: 1, particle: 1, .. } if column == "ptrel"),
        "{e}"
    );
}

#[test]
fn padding_must_be_trailing() {
    // jet 1: slot 0 padding, slot 1 real
    let e = build(|p, m, _| {
        p.splice(9..15, [0.0, 0.0, 0.0, 0.0, 0.01, 0.9]);
        m[3] = 0.0;
        m[4] = 1.0;
    })
    .unwrap_err();
    assert!(
        matches!(
            e,
            Error::PaddingNotTrailing {
                row: 1,
                first_padding: 0,
                particle: 1,
                ..
            }
        ),
        "{e}"
    );
}

#[test]
fn negative_pt_is_rejected() {
    let e = build(|p, _, _| p[5] = -0.3).unwrap_err();
    assert!(
        matches!(
            e,
            Error::NegativePt {
                row: 0,
                particle: 1,
                ..
            }
        ),
        "{e}"
    );
}

#[test]
fn num_particles_must_match_mask() {
    let e = build(|_, _, j| j.num_particles[1] = 2).unwrap_err();
    assert!(
        matches!(
            e,
            Error::NumParticlesMismatch {
                row: 1,
                expected: 1,
                found: 2,
                ..
            }
        ),
        "{e}"
    );
}

#[test]
fn shapes_are_checked() {
    let e = build(|p, _, _| {
        p.pop();
    })
    .unwrap_err();
    assert!(matches!(e, Error::Shape { .. }), "{e}");
    let e = build(|_, _, j| {
        j.pt.pop();
    })
    .unwrap_err();
    assert!(
        matches!(&e, Error::Shape { what, .. } if what == "jet_pt"),
        "{e}"
    );
}

#[test]
fn batches_select_extend_truncate() {
    let ds = build(|_, _, _| {}).unwrap();
    let b: Vec<_> = ds.batches(1).collect();
    assert_eq!(b.len(), 2);
    assert_eq!(b[1].start, 1);
    assert_eq!(b[1].particles, &ds.particles()[9..]);
    assert_eq!(b[1].mask, &[1.0, 0.0, 0.0]);
    let rev = ds.select(&[1, 0]).unwrap();
    assert_eq!(rev.jets().jet_type, vec![JetType::T, JetType::G]);
    assert!(ds.select(&[2]).is_err());
    let mut two = ds.clone();
    two.extend(&rev).unwrap();
    assert_eq!(two.len(), 4);
    let t = ds.truncate_particles(1).unwrap();
    assert_eq!(t.num_slots(), 1);
    assert_eq!(t.jets().num_particles, vec![1, 1]);
    assert_eq!(t.mask(), &[1.0, 1.0]);
}

#[test]
fn jet_type_labels() {
    for t in JetType::ALL {
        assert_eq!(JetType::from_label(t.label()), Some(t));
        assert_eq!(t.label().parse::<JetType>().unwrap(), t);
    }
    assert_eq!(JetType::T.index(), 2);
    assert!("x".parse::<JetType>().is_err());
}

#[test]
fn concat_joins_parts_in_order() {
    let ds = build(|_, _, _| {}).unwrap();
    let rev = ds.select(&[1, 0]).unwrap();
    let all = JetDataset::concat(&[ds.clone(), rev]).unwrap();
    assert_eq!(all.len(), 4);
    assert_eq!(
        all.jets().jet_type,
        vec![JetType::G, JetType::T, JetType::T, JetType::G]
    );
    assert_eq!(&all.particles()[..18], ds.particles());
    assert!(JetDataset::concat(&[]).is_err());
}
