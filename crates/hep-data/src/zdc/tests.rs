//! Tests of the ZDC dataset: Parquet round trip, typed errors on real files, transforms.

use super::*;

fn sample(n: usize) -> ZdcDataset {
    let (h, w) = ZdcDetector::Neutron.shape();
    let mut r = vec![0f32; n * h * w];
    for (i, v) in r.iter_mut().enumerate() {
        if i % 7 == 0 {
            *v = (i % 13) as f32;
        }
    }
    let c: Vec<f32> = (0..n * NUM_CONDITIONS)
        .map(|i| i as f32 * 0.5 - 3.0)
        .collect();
    let pdg = (0..n)
        .map(|i| if i % 2 == 0 { 2112 } else { 2212 })
        .collect();
    ZdcDataset::new(ZdcDetector::Neutron, r, c, pdg).unwrap()
}

#[test]
fn parquet_round_trip_is_exact() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("z.parquet");
    let ds = sample(17).with_provenance("{\"synthetic\":true}".into());
    write_zdc(&p, &ds).unwrap();
    let back = read_zdc(&p).unwrap();
    assert_eq!(back, ds);
    assert_eq!(back.provenance(), Some("{\"synthetic\":true}"));
    let sel = back.select(&[3, 0]);
    assert_eq!(sel.pdg(), &[2212, 2112]);
    assert_eq!(
        sel.responses()[..44 * 44],
        ds.responses()[3 * 44 * 44..4 * 44 * 44]
    );
}

#[test]
fn bad_inputs_are_typed_errors() {
    let (h, w) = ZdcDetector::Proton.shape();
    assert!(matches!(
        ZdcDataset::new(
            ZdcDetector::Proton,
            vec![0.0; h * w - 1],
            vec![0.0; 9],
            vec![1]
        ),
        Err(Error::Shape { .. })
    ));
    assert!(matches!(
        ZdcDataset::new(ZdcDetector::Proton, vec![0.0; h * w], vec![0.0; 8], vec![1]),
        Err(Error::Shape { .. })
    ));
    let mut r = vec![0.0; h * w];
    r[5] = -1.0;
    assert!(ZdcDataset::new(ZdcDetector::Proton, r.clone(), vec![0.0; 9], vec![1]).is_err());
    r[5] = f32::NAN;
    assert!(matches!(
        ZdcDataset::new(ZdcDetector::Proton, r, vec![0.0; 9], vec![1]),
        Err(Error::NonFinite {
            row: 0,
            particle: Some(5),
            ..
        })
    ));
    let mut c = vec![0.0; 9];
    c[2] = f32::INFINITY;
    assert!(matches!(
        ZdcDataset::new(ZdcDetector::Proton, vec![0.0; h * w], c, vec![1]),
        Err(Error::NonFinite { ref column, .. }) if column == "vy"
    ));
    assert!("calorimeter".parse::<ZdcDetector>().is_err());
}

#[test]
fn foreign_truncated_and_empty_files_are_rejected() {
    let dir = tempfile::tempdir().unwrap();
    // a jet file is valid Parquet but not this format
    let jets = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../datasets/jetnet30_g_20k.parquet");
    assert!(matches!(read_zdc(&jets), Err(Error::Metadata { .. })));
    let p = dir.path().join("z.parquet");
    write_zdc(&p, &sample(4)).unwrap();
    let bytes = std::fs::read(&p).unwrap();
    let cut = dir.path().join("cut.parquet");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    assert!(matches!(read_zdc(&cut), Err(Error::NotParquet { .. })));
    let empty = dir.path().join("empty.parquet");
    std::fs::write(&empty, b"").unwrap();
    assert!(matches!(read_zdc(&empty), Err(Error::EmptyFile { .. })));
    assert!(matches!(
        read_zdc(&dir.path().join("missing.parquet")),
        Err(Error::Io { .. })
    ));
}

#[test]
fn transforms_invert_and_standardise() {
    let x = [0.0f32, 1.0, 999.0];
    let y = expm1_transform(&log1p_transform(&x));
    for (a, b) in x.iter().zip(&y) {
        assert!((a - b).abs() <= 1e-3 * (1.0 + a), "{a} {b}");
    }
    let ds = sample(50);
    let s = ConditionScaler::fit(ds.conditions());
    let z = s.transform(ds.conditions());
    for k in 0..NUM_CONDITIONS {
        let col: Vec<f64> = z.iter().skip(k).step_by(9).map(|&v| f64::from(v)).collect();
        let m = col.iter().sum::<f64>() / col.len() as f64;
        let v = col.iter().map(|x| (x - m).powi(2)).sum::<f64>() / col.len() as f64;
        assert!(m.abs() < 1e-4 && (v - 1.0).abs() < 1e-3, "{k}: {m} {v}");
    }
    let back = s.inverse_transform(&z);
    for (a, b) in back.iter().zip(ds.conditions()) {
        assert!((a - b).abs() < 1e-3);
    }
    let [tr, va, te] = ds.split_indices(42);
    assert_eq!((tr.len(), va.len(), te.len()), (35, 5, 10));
    let mut all: Vec<usize> = tr.into_iter().chain(va).chain(te).collect();
    all.sort();
    assert_eq!(all, (0..50).collect::<Vec<_>>());
}

/// A numpy `.npz`: a zip whose member `name.npy` holds the array (what `numpy.savez` writes).
fn write_npz(path: &std::path::Path, members: &[(&str, Vec<u8>)], deflate: bool) {
    use std::io::Write;
    let mut z = zip::ZipWriter::new(std::fs::File::create(path).unwrap());
    let method = if deflate {
        zip::CompressionMethod::Deflated
    } else {
        zip::CompressionMethod::Stored
    };
    let opts = zip::write::SimpleFileOptions::default().compression_method(method);
    for (name, bytes) in members {
        z.start_file(format!("{name}.npy"), opts).unwrap();
        z.write_all(bytes).unwrap();
    }
    z.finish().unwrap();
}

#[test]
fn npz_arrays_as_distributed_load_and_bad_ones_are_rejected() {
    use crate::npy::encode_npy;
    let dir = tempfile::tempdir().unwrap();
    let ds = sample(3);
    let resp = dir.path().join("responses.npz");
    write_npz(
        &resp,
        &[("arr_0", encode_npy(&[3, 44, 44], ds.responses()))],
        true,
    );
    let mut parts = Vec::new();
    for (i, c) in ds.conditions().chunks(9).enumerate() {
        parts.push(ds.pdg()[i] as f64);
        parts.extend(c.iter().map(|&v| f64::from(v)));
    }
    let part = dir.path().join("particles.npz");
    write_npz(&part, &[("arr_0", encode_npy(&[3, 10], &parts))], false);
    let back = read_zdc_npz(&resp, &part, ZdcDetector::Neutron).unwrap();
    assert_eq!(back.responses(), ds.responses());
    assert_eq!(back.conditions(), ds.conditions());
    assert_eq!(back.pdg(), ds.pdg());
    // wrong detector, wrong particle count, two arrays, not a zip
    assert!(matches!(
        read_zdc_npz(&resp, &part, ZdcDetector::Proton),
        Err(Error::Shape { .. })
    ));
    let short = dir.path().join("short.npz");
    write_npz(&short, &[("p", encode_npy(&[2, 10], &parts[..20]))], true);
    assert!(matches!(
        read_zdc_npz(&resp, &short, ZdcDetector::Neutron),
        Err(Error::Shape { .. })
    ));
    let two = dir.path().join("two.npz");
    write_npz(
        &two,
        &[
            ("a", encode_npy(&[3, 10], &parts)),
            ("b", encode_npy(&[3, 10], &parts)),
        ],
        true,
    );
    assert!(matches!(
        read_zdc_npz(&resp, &two, ZdcDetector::Neutron),
        Err(Error::Npy { .. })
    ));
    let jets = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../datasets/jetnet30_g_20k.parquet");
    assert!(matches!(
        read_zdc_npz(&jets, &part, ZdcDetector::Neutron),
        Err(Error::Npy { .. })
    ));
}
