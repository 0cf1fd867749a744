//! Sparse pixel tables in Parquet: a row's non-zero pixels as increasing `list<uint16>` indices
//! plus a `list<float32>` of values, and the single-batch atomic write / checked open that the
//! ZDC and image formats share.

use std::sync::Arc;

use arrow_array::builder::{Float32Builder, ListBuilder, UInt16Builder};
use arrow_array::{Array, ArrayRef, Float32Array, ListArray, UInt16Array};
use arrow_schema::{DataType, Field};

use crate::{Error, Result, Source};

/// The two list types.
pub(crate) fn index_type() -> DataType {
    DataType::List(Arc::new(Field::new("item", DataType::UInt16, true)))
}

/// See [`index_type`].
pub(crate) fn value_type() -> DataType {
    DataType::List(Arc::new(Field::new("item", DataType::Float32, true)))
}

/// Encode dense rows of `px` pixels (`px ≤ 65536`) as (indices, values) list arrays.
pub(crate) fn encode(dense: &[f32], px: usize) -> (ArrayRef, ArrayRef) {
    let mut pix = ListBuilder::new(UInt16Builder::new());
    let mut val = ListBuilder::new(Float32Builder::new());
    for r in dense.chunks_exact(px) {
        for (i, &v) in r.iter().enumerate() {
            if v != 0.0 {
                pix.values().append_value(i as u16);
                val.values().append_value(v);
            }
        }
        pix.append(true);
        val.append(true);
    }
    (Arc::new(pix.finish()), Arc::new(val.finish()))
}

/// Decode rows `0..n` of the list arrays into `out` (`n · px` values appended), checking
/// nulls, equal lengths, and increasing in-range indices. `row0` numbers rows in messages;
/// `names` are the two column names.
pub(crate) fn decode(
    source: &Source,
    names: (&str, &str),
    (pix, val): (&ListArray, &ListArray),
    px: usize,
    row0: usize,
    out: &mut Vec<f32>,
) -> Result<()> {
    for r in 0..pix.len() {
        for (list, name) in [(pix, names.0), (val, names.1)] {
            if list.is_null(r) {
                return Err(Error::Null {
                    file: source.clone(),
                    column: name.to_string(),
                    row: row0 + r,
                });
            }
        }
        let p = pix.value(r);
        let v = val.value(r);
        let p = p
            .as_any()
            .downcast_ref::<UInt16Array>()
            .expect("type checked");
        let v = v
            .as_any()
            .downcast_ref::<Float32Array>()
            .expect("type checked");
        if p.len() != v.len() {
            return Err(Error::ListLength {
                file: source.clone(),
                column: names.1.to_string(),
                row: row0 + r,
                expected: p.len(),
                found: v.len(),
            });
        }
        let start = out.len();
        out.resize(start + px, 0.0);
        let mut last: Option<usize> = None;
        for (i, x) in p.values().iter().zip(v.values().iter()) {
            let i = usize::from(*i);
            if i >= px || last.is_some_and(|l| i <= l) {
                return Err(Error::Shape {
                    file: source.clone(),
                    what: format!("column `{}` row {}", names.0, row0 + r),
                    expected: format!("increasing indices below {px}"),
                    found: vec![i],
                });
            }
            last = Some(i);
            out[start + i] = *x;
        }
    }
    Ok(())
}

/// Write one record batch to `path` as zstd Parquet, through a temporary file renamed into
/// place (removed on failure).
pub(crate) fn write_batch_atomic(
    path: &std::path::Path,
    schema: Arc<arrow_schema::Schema>,
    batch: &arrow_array::RecordBatch,
) -> Result<()> {
    use parquet::basic::{Compression, ZstdLevel};
    let source = Source::from(path);
    let werr = |e: &dyn std::fmt::Display| Error::ParquetWrite {
        file: source.clone(),
        reason: e.to_string(),
    };
    let name = path
        .file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.tmp-{}", std::process::id()));
    let file = std::fs::File::create(&tmp).map_err(|err| Error::Io {
        file: source.clone(),
        op: "create temporary file",
        err,
    })?;
    let props = parquet::file::properties::WriterProperties::builder()
        .set_compression(Compression::ZSTD(
            ZstdLevel::try_new(9).expect("valid level"),
        ))
        .set_created_by(format!("hep-data {}", env!("CARGO_PKG_VERSION")))
        .build();
    let result = (|| {
        let mut w = parquet::arrow::ArrowWriter::try_new(file, schema, Some(props))
            .map_err(|e| werr(&e))?;
        w.write(batch).map_err(|e| werr(&e))?;
        w.close().map_err(|e| werr(&e))?;
        std::fs::rename(&tmp, path).map_err(|err| Error::Io {
            file: source.clone(),
            op: "rename temporary file into place",
            err,
        })
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Open `path` as Parquet: [`Error::Io`], [`Error::EmptyFile`] or [`Error::NotParquet`].
pub(crate) fn open_parquet(
    path: &std::path::Path,
) -> Result<parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder<std::fs::File>> {
    let source = Source::from(path);
    let file = std::fs::File::open(path).map_err(|err| Error::Io {
        file: source.clone(),
        op: "open",
        err,
    })?;
    if file.metadata().map(|m| m.len()).unwrap_or(1) == 0 {
        return Err(Error::EmptyFile { file: source });
    }
    parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| {
        Error::NotParquet {
            file: source,
            reason: e.to_string(),
        }
    })
}

/// A reader of a sparse-pixel Parquet file whose `hep-data.format` is `format` and whose
/// `pixel` index column and `value_column` (the non-zero values) have the sparse-pixel
/// types; the caller checks its own metadata and columns on the returned schema.
pub(crate) type SparseOpen = (
    Source,
    parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder<std::fs::File>,
    arrow_schema::SchemaRef,
);

/// Opens `path` (see [`SparseOpen`]): the errors of [`open_parquet`], [`Error::Metadata`]
/// for another format, [`Error::MissingColumn`] / [`Error::ColumnType`] for the two columns.
pub(crate) fn open_sparse(
    path: &std::path::Path,
    format: &str,
    value_column: &str,
) -> Result<SparseOpen> {
    let source = Source::from(path);
    let builder = open_parquet(path)?;
    let schema = builder.schema().clone();
    FileMeta::new(&source, &schema).require_format(format)?;
    require_column(&schema, &source, "pixel", &index_type())?;
    require_column(&schema, &source, value_column, &value_type())?;
    Ok((source, builder, schema))
}

/// The key–value metadata of a sparse-pixel Parquet file, with typed errors naming the file
/// and the key.
pub(crate) struct FileMeta<'a> {
    pub(crate) source: &'a Source,
    pub(crate) meta: &'a arrow_schema::Metadata,
}

impl<'a> FileMeta<'a> {
    pub(crate) fn new(source: &'a Source, schema: &'a arrow_schema::Schema) -> Self {
        Self {
            source,
            meta: schema.metadata(),
        }
    }

    fn error(&self, key: &str, reason: String) -> Error {
        Error::Metadata {
            file: self.source.clone(),
            key: key.to_string(),
            reason,
        }
    }

    /// The value of `key`; [`Error::Metadata`] when it is missing.
    pub(crate) fn get(&self, key: &str) -> Result<&str> {
        self.meta
            .get(key)
            .map(String::as_str)
            .ok_or_else(|| self.error(key, "missing".into()))
    }

    /// `key` parsed as `T` ([`std::str::FromStr`]); [`Error::Metadata`] with the parse error.
    pub(crate) fn parse<T>(&self, key: &str) -> Result<T>
    where
        T: std::str::FromStr,
        T::Err: std::fmt::Display,
    {
        self.get(key)?
            .parse()
            .map_err(|e: T::Err| self.error(key, format!("{e}")))
    }

    /// Requires `hep-data.format` to be `format`.
    pub(crate) fn require_format(&self, format: &str) -> Result<()> {
        match self.meta.get("hep-data.format") {
            Some(f) if f == format => Ok(()),
            other => Err(self.error(
                "hep-data.format",
                format!("expected {format}, found {other:?}"),
            )),
        }
    }

    /// The provenance record, if the file has one.
    pub(crate) fn provenance(&self) -> Option<String> {
        self.meta.get("hep-data.provenance").cloned()
    }
}

/// Whether column `name` exists with type `dt` (list item names are ignored: arrow-rs writes
/// "item", pyarrow "element"): `Ok(false)` when absent, [`Error::ColumnType`] when present
/// with another type.
pub(crate) fn has_column(
    schema: &arrow_schema::Schema,
    source: &Source,
    name: &str,
    dt: &DataType,
) -> Result<bool> {
    let Ok(f) = schema.field_with_name(name) else {
        return Ok(false);
    };
    let same = match (f.data_type(), dt) {
        (DataType::List(a), DataType::List(b)) => a.data_type() == b.data_type(),
        (a, b) => a == b,
    };
    if same {
        Ok(true)
    } else {
        Err(Error::ColumnType {
            file: source.clone(),
            column: name.to_string(),
            expected: format!("{dt:?}"),
            found: format!("{:?}", f.data_type()),
        })
    }
}

/// [`has_column`] for a required column: [`Error::MissingColumn`] when absent.
pub(crate) fn require_column(
    schema: &arrow_schema::Schema,
    source: &Source,
    name: &str,
    dt: &DataType,
) -> Result<()> {
    if has_column(schema, source, name, dt)? {
        Ok(())
    } else {
        Err(Error::MissingColumn {
            file: source.clone(),
            column: name.to_string(),
        })
    }
}

/// [`Error::Null`] for the first null of `array` (column `name`, rows numbered from
/// `row0`), if any.
pub(crate) fn check_no_nulls(
    array: &dyn Array,
    source: &Source,
    name: &str,
    row0: usize,
) -> Result<()> {
    if array.null_count() == 0 {
        return Ok(());
    }
    let r = (0..array.len()).find(|&r| array.is_null(r)).unwrap_or(0);
    Err(Error::Null {
        file: source.clone(),
        column: name.to_string(),
        row: row0 + r,
    })
}
