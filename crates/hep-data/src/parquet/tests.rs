//! Parquet round trips and one test per validation error, on real files in a temp dir.

use super::*;
use crate::jets::tests::sample;
use arrow_array::{ListArray, UInt16Array};
use arrow_buffer::OffsetBuffer;
use std::sync::Arc;

fn dataset() -> JetDataset {
    let (p, m, j) = sample();
    JetDataset::try_new(3, p, m, j).unwrap()
}

fn tmp() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

/// Write `batch` with a plain ArrowWriter (no validation), to craft bad files.
fn write_raw(path: &Path, batch: RecordBatch) {
    let f = File::create(path).unwrap();
    let mut w = ArrowWriter::try_new(f, batch.schema(), None).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
}

/// The valid sample as a record batch, with `edit` applied to (name, column) pairs.
fn batch_with(edit: impl FnOnce(&mut Vec<(String, ArrayRef)>)) -> RecordBatch {
    let ds = dataset();
    let good = to_record_batch(
        &ds,
        Arc::new(schema(
            3,
            &["jet_phi", "n_constituents", "parton_pdgid"],
            None,
        )),
    )
    .unwrap();
    let mut cols: Vec<(String, ArrayRef)> = good
        .schema()
        .fields()
        .iter()
        .zip(good.columns())
        .map(|(f, c)| (f.name().clone(), c.clone()))
        .collect();
    edit(&mut cols);
    RecordBatch::try_from_iter(cols).unwrap()
}

fn read_err(batch: RecordBatch) -> Error {
    let dir = tmp();
    let path = dir.path().join("bad.parquet");
    write_raw(&path, batch);
    read_jets(&path).unwrap_err()
}

fn replace(cols: &mut [(String, ArrayRef)], name: &str, arr: ArrayRef) {
    cols.iter_mut().find(|(n, _)| n == name).unwrap().1 = arr;
}

fn f32_list(size: i32, values: Vec<f32>) -> ArrayRef {
    let item = Arc::new(Field::new("item", DataType::Float32, false));
    Arc::new(FixedSizeListArray::new(
        item,
        size,
        Arc::new(Float32Array::from(values)),
        None,
    ))
}

#[test]
fn round_trip_keeps_everything() {
    let dir = tmp();
    let path = dir.path().join("jets.parquet");
    let ds = dataset().with_provenance(r#"{"generator":"test"}"#);
    write_jets(&path, &ds).unwrap();
    let back = read_jets(&path).unwrap();
    assert_eq!(back, ds);
    assert_eq!(back.provenance(), Some(r#"{"generator":"test"}"#));
    // no temporary file left behind
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
}

#[test]
fn streaming_numbers_rows_from_file_start() {
    let dir = tmp();
    let path = dir.path().join("jets.parquet");
    let mut big = dataset();
    for _ in 0..4 {
        let again = big.clone();
        big.extend(&again).unwrap();
    }
    assert_eq!(big.len(), 32);
    write_jets(&path, &big).unwrap();
    let reader = JetParquetReader::try_with_batch_size(&path, 5).unwrap();
    assert_eq!(reader.num_rows(), 32);
    let batches: Vec<JetDataset> = reader.map(|b| b.unwrap()).collect();
    assert_eq!(batches.len(), 7);
    assert_eq!(batches[6].len(), 2);
    assert_eq!(batches[1].jets().jet_type[0], big.jets().jet_type[5]);

    // corrupt row 23 (batch 4, jet 3): the error names the absolute row
    let batch = batch_with(|_| {});
    let mut rows: Vec<RecordBatch> = (0..16).map(|_| batch.clone()).collect();
    rows[11] = batch_with(|c| {
        replace(
            c,
            "jet_eta",
            Arc::new(Float32Array::from(vec![0.3, f32::NAN])),
        );
    });
    let schema = batch.schema();
    let all = arrow_select_concat(&schema, &rows);
    let bad = dir.path().join("bad.parquet");
    write_raw(&bad, all);
    let reader = JetParquetReader::try_with_batch_size(&bad, 5).unwrap();
    let errs: Vec<Error> = reader.filter_map(|b| b.err()).collect();
    assert_eq!(errs.len(), 1, "reader stops after the first error");
    assert!(
        matches!(&errs[0], Error::NonFinite { column, row: 23, .. } if column == "jet_eta"),
        "{}",
        errs[0]
    );
}

/// Concatenate batches by writing them one after another (no arrow-select dependency).
fn arrow_select_concat(schema: &SchemaRef, batches: &[RecordBatch]) -> RecordBatch {
    let dir = tmp();
    let path = dir.path().join("concat.parquet");
    let f = File::create(&path).unwrap();
    let mut w = ArrowWriter::try_new(f, schema.clone(), None).unwrap();
    for b in batches {
        w.write(b).unwrap();
    }
    w.close().unwrap();
    let r = ParquetRecordBatchReaderBuilder::try_new(File::open(&path).unwrap())
        .unwrap()
        .with_batch_size(1 << 20)
        .build()
        .unwrap();
    r.map(|b| b.unwrap()).next().unwrap()
}

#[test]
fn missing_column() {
    let e = read_err(batch_with(|c| c.retain(|(n, _)| n != "phirel")));
    assert!(
        matches!(&e, Error::MissingColumn { column, .. } if column == "phirel"),
        "{e}"
    );
}

#[test]
fn extra_column() {
    let e = read_err(batch_with(|c| {
        c.push((
            "energy".into(),
            Arc::new(Float32Array::from(vec![1.0, 2.0])),
        ));
    }));
    assert!(
        matches!(&e, Error::UnexpectedColumn { column, .. } if column == "energy"),
        "{e}"
    );
}

#[test]
fn wrong_column_type() {
    let e = read_err(batch_with(|c| {
        replace(
            c,
            "jet_pt",
            Arc::new(arrow_array::Float64Array::from(vec![1.0, 2.0])),
        );
    }));
    assert!(
        matches!(&e, Error::ColumnType { column, .. } if column == "jet_pt"),
        "{e}"
    );
}

#[test]
fn wrong_fixed_list_length() {
    let e = read_err(batch_with(|c| {
        replace(c, "ptrel", f32_list(2, vec![0.6, 0.3, 0.9, 0.0]))
    }));
    assert!(
        matches!(&e, Error::ListLength { column, expected: 3, found: 2, .. } if column == "ptrel"),
        "{e}"
    );
}

#[test]
fn wrong_variable_list_length_names_the_row() {
    let item = Arc::new(Field::new("item", DataType::Float32, false));
    // row 0 has 3 entries, row 1 has 2
    let list = ListArray::new(
        item,
        OffsetBuffer::new(vec![0i32, 3, 5].into()),
        Arc::new(Float32Array::from(vec![0.1, -0.02, 0.0, 0.0, 0.0])),
        None,
    );
    let e = read_err(batch_with(|c| replace(c, "etarel", Arc::new(list))));
    assert!(
        matches!(&e, Error::ListLength { column, row: 1, expected: 3, found: 2, .. } if column == "etarel"),
        "{e}"
    );
}

#[test]
fn pandas_style_variable_lists_are_accepted() {
    let ds = dataset();
    let item = Arc::new(Field::new("item", DataType::Float32, true));
    let vals: Vec<f32> = ds.particles().iter().step_by(3).copied().collect();
    let list = ListArray::new(
        item,
        OffsetBuffer::from_lengths([3, 3]),
        Arc::new(Float32Array::from(vals)),
        None,
    );
    let batch = batch_with(|c| {
        replace(c, "etarel", Arc::new(list));
        replace(
            c,
            "num_particles",
            Arc::new(arrow_array::Int64Array::from(vec![2i64, 1])),
        );
        replace(
            c,
            "n_constituents",
            Arc::new(UInt16Array::from(vec![40u16, 55])),
        );
    });
    let dir = tmp();
    let path = dir.path().join("pandas.parquet");
    write_raw(&path, batch);
    let back = read_jets(&path).unwrap();
    assert_eq!(back.particles(), ds.particles());
    assert_eq!(back.jets().n_constituents, Some(vec![40, 55]));
}

#[test]
fn nan_in_particles() {
    let e = read_err(batch_with(|c| {
        replace(
            c,
            "etarel",
            f32_list(3, vec![0.1, f32::NAN, 0.0, 0.0, 0.0, 0.0]),
        )
    }));
    assert!(
        matches!(&e, Error::NonFinite { column, row: 0, particle: Some(1), .. } if column == "etarel"),
        "{e}"
    );
}

#[test]
fn mask_not_binary() {
    let item = Arc::new(Field::new("item", DataType::UInt8, false));
    let mask = FixedSizeListArray::new(
        item,
        3,
        Arc::new(UInt8Array::from(vec![1u8, 1, 0, 2, 0, 0])),
        None,
    );
    let e = read_err(batch_with(|c| replace(c, "mask", Arc::new(mask))));
    assert!(
        matches!(
            e,
            Error::MaskValue {
                row: 1,
                particle: 0,
                ..
            }
        ),
        "{e}"
    );
}

#[test]
fn masked_particle_nonzero() {
    let e = read_err(batch_with(|c| {
        replace(
            c,
            "phirel",
            f32_list(3, vec![-0.05, 0.08, 0.2, 0.01, 0.0, 0.0]),
        )
    }));
    assert!(
        matches!(&e, Error::MaskedNonZero { column, row: 0, particle: 2, .. } if column == "phirel"),
        "{e}"
    );
}

#[test]
fn padding_not_trailing() {
    let item = Arc::new(Field::new("item", DataType::UInt8, false));
    let mask = FixedSizeListArray::new(
        item,
        3,
        Arc::new(UInt8Array::from(vec![1u8, 0, 1, 1, 0, 0])),
        None,
    );
    let e = read_err(batch_with(|c| {
        replace(c, "mask", Arc::new(mask));
        replace(c, "etarel", f32_list(3, vec![0.1, 0.0, 0.2, 0.0, 0.0, 0.0]));
        replace(
            c,
            "phirel",
            f32_list(3, vec![-0.05, 0.0, 0.1, 0.01, 0.0, 0.0]),
        );
        replace(c, "ptrel", f32_list(3, vec![0.6, 0.0, 0.3, 0.9, 0.0, 0.0]));
    }));
    assert!(
        matches!(
            e,
            Error::PaddingNotTrailing {
                row: 0,
                first_padding: 1,
                particle: 2,
                ..
            }
        ),
        "{e}"
    );
}

#[test]
fn negative_ptrel() {
    let e = read_err(batch_with(|c| {
        replace(c, "ptrel", f32_list(3, vec![0.6, 0.3, 0.0, -0.9, 0.0, 0.0]))
    }));
    assert!(
        matches!(
            e,
            Error::NegativePt {
                row: 1,
                particle: 0,
                ..
            }
        ),
        "{e}"
    );
}

#[test]
fn num_particles_disagrees_with_mask() {
    let e = read_err(batch_with(|c| {
        replace(c, "num_particles", Arc::new(Int32Array::from(vec![2, 3])))
    }));
    assert!(
        matches!(
            e,
            Error::NumParticlesMismatch {
                row: 1,
                expected: 1,
                found: 3,
                ..
            }
        ),
        "{e}"
    );
    let e = read_err(batch_with(|c| {
        replace(c, "num_particles", Arc::new(Int32Array::from(vec![2, 7])))
    }));
    assert!(
        matches!(
            e,
            Error::NumParticlesMismatch {
                row: 1,
                found: 7,
                ..
            }
        ),
        "{e}"
    );
}

#[test]
fn unknown_jet_type() {
    let e = read_err(batch_with(|c| {
        replace(c, "jet_type", Arc::new(StringArray::from(vec!["g", "b"])))
    }));
    assert!(
        matches!(&e, Error::JetTypeValue { row: 1, found, .. } if found == "b"),
        "{e}"
    );
}

#[test]
fn null_value() {
    let e = read_err(batch_with(|c| {
        replace(
            c,
            "jet_mass",
            Arc::new(Float32Array::from(vec![Some(1.0), None])),
        )
    }));
    assert!(
        matches!(&e, Error::Null { column, row: 1, .. } if column == "jet_mass"),
        "{e}"
    );
}

#[test]
fn truncated_file() {
    let dir = tmp();
    let path = dir.path().join("jets.parquet");
    write_jets(&path, &dataset()).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    for cut in [bytes.len() - 1, bytes.len() / 2, 7] {
        std::fs::write(&path, &bytes[..cut]).unwrap();
        let e = read_jets(&path).unwrap_err();
        assert!(matches!(e, Error::NotParquet { .. }), "cut {cut}: {e}");
        assert!(e.to_string().contains("jets.parquet"));
    }
}

#[test]
fn not_a_parquet_file() {
    let dir = tmp();
    let path = dir.path().join("jets.parquet");
    std::fs::write(&path, b"etarel,phirel,ptrel\n0.1,0.2,0.3\n").unwrap();
    assert!(matches!(read_jets(&path), Err(Error::NotParquet { .. })));
}

#[test]
fn empty_file_and_file_without_rows() {
    let dir = tmp();
    let path = dir.path().join("empty.parquet");
    std::fs::write(&path, b"").unwrap();
    assert!(matches!(read_jets(&path), Err(Error::EmptyFile { .. })));
    let zero = batch_with(|c| {
        for (_, a) in c.iter_mut() {
            *a = a.slice(0, 0);
        }
    });
    let e = read_err(zero);
    assert!(matches!(e, Error::NoJets { .. }), "{e}");
    let missing = dir.path().join("nope.parquet");
    assert!(matches!(read_jets(&missing), Err(Error::Io { .. })));
}

#[test]
fn metadata_disagreeing_with_lists() {
    let batch = batch_with(|_| {});
    let mut meta = batch.schema().metadata().clone();
    meta.insert(KEY_NUM_PARTICLES.to_string(), "30".to_string());
    let schema = Arc::new(batch.schema().as_ref().clone().with_metadata(meta));
    let e = read_err(batch.with_schema(schema).unwrap());
    assert!(
        matches!(&e, Error::Metadata { key, .. } if key == KEY_NUM_PARTICLES),
        "{e}"
    );
}
