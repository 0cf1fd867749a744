//! `.npy` encoding/decoding and JetNet particle arrays.

use super::*;
use crate::jets::tests::sample;

#[test]
fn encode_decode_round_trip() {
    let data: Vec<f32> = (0..24).map(|i| i as f32 * 0.5).collect();
    let bytes = encode_npy(&[2, 3, 4], &data);
    assert_eq!(bytes.len() % 16, 0, "header aligned");
    assert_eq!(
        (10 + u16::from_le_bytes([bytes[8], bytes[9]]) as usize) % 64,
        0
    );
    let arr = parse_npy(&Source::Memory, &bytes).unwrap();
    assert_eq!(arr.shape, vec![2, 3, 4]);
    assert_eq!(arr.data, NpyData::F32(data));
    let ints = parse_npy(&Source::Memory, &encode_npy(&[3], &[-1i32, 0, 7])).unwrap();
    assert_eq!(ints.as_i64(), Some(&[-1i64, 0, 7][..]));
    assert_eq!(ints.shape, vec![3]);
}

#[test]
fn malformed_files_are_typed_errors() {
    let good = encode_npy(&[2], &[1.0f64, 2.0]);
    let edit = |from: &[u8], to: &[u8]| -> Vec<u8> {
        let at = good.windows(from.len()).position(|w| w == from).unwrap();
        let mut b = good.clone();
        b[at..at + to.len()].copy_from_slice(to);
        b
    };
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (b"NOTNUMPY".to_vec(), "magic"),
        (good[..good.len() - 3].to_vec(), "data section"),
        (edit(b"<f8", b">f8"), "big-endian"),
        (edit(b"False", b"True "), "Fortran"),
        (edit(b"<f8", b"<c8"), "dtype"),
    ];
    for (bytes, what) in cases {
        let e = parse_npy(&Source::Memory, &bytes).unwrap_err();
        assert!(
            matches!(&e, Error::Npy { reason, .. } if reason.contains(what)),
            "{what}: {e}"
        );
    }
}

#[test]
fn jetnet_arrays_round_trip_with_and_without_mask() {
    let (p, m, j) = sample();
    let ds = JetDataset::try_new(3, p, m, j).unwrap();
    let dir = tempfile::tempdir().unwrap();
    for with_mask in [true, false] {
        let path = dir.path().join(format!("jets{with_mask}.npy"));
        write_jets_npy(&path, &ds, with_mask).unwrap();
        let back = read_jets_npy(&path, JetArrayOptions::new(JetType::G)).unwrap();
        assert_eq!(back.particles(), ds.particles());
        assert_eq!(back.mask(), ds.mask());
        assert_eq!(back.jets().num_particles, vec![2, 1]);
        assert!(back.jets().jet_type.iter().all(|&t| t == JetType::G));
    }
}

#[test]
fn jetnet_array_validation_and_compaction() {
    // one jet, P = 3, 4 features: padding in the middle
    let data = [
        0.1f32, 0.2, 0.5, 1.0, 0.0, 0.0, 0.0, 0.0, 0.3, 0.1, 0.2, 1.0,
    ];
    let strict = jets_from_array(
        &Source::Memory,
        &[1, 3, 4],
        &data,
        JetArrayOptions::new(JetType::T),
    );
    assert!(matches!(
        strict,
        Err(Error::PaddingNotTrailing {
            row: 0,
            particle: 2,
            ..
        })
    ));
    let ds = jets_from_array(
        &Source::Memory,
        &[1, 3, 4],
        &data,
        JetArrayOptions::new(JetType::T).with_compact_padding(true),
    )
    .unwrap();
    assert_eq!(
        ds.particles(),
        &[0.1, 0.2, 0.5, 0.3, 0.1, 0.2, 0.0, 0.0, 0.0]
    );
    assert_eq!(ds.mask(), &[1.0, 1.0, 0.0]);

    let bad_mask = [0.1f32, 0.2, 0.5, 0.7, 0.0, 0.0, 0.0, 0.0];
    let e = jets_from_array(
        &Source::Memory,
        &[1, 2, 4],
        &bad_mask,
        JetArrayOptions::new(JetType::G),
    )
    .unwrap_err();
    assert!(
        matches!(
            e,
            Error::MaskValue {
                row: 0,
                particle: 0,
                ..
            }
        ),
        "{e}"
    );
    let e = jets_from_array(
        &Source::Memory,
        &[1, 2, 5],
        &[0.0; 10],
        JetArrayOptions::new(JetType::G),
    )
    .unwrap_err();
    assert!(matches!(e, Error::Shape { .. }));
    let nan = [f32::NAN, 0.0, 0.1];
    let e = jets_from_array(
        &Source::Memory,
        &[1, 1, 3],
        &nan,
        JetArrayOptions::new(JetType::G),
    )
    .unwrap_err();
    assert!(matches!(e, Error::NonFinite { .. }), "{e}");
}
