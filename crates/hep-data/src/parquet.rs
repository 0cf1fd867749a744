//! JetNet particle clouds in Parquet, read and written column-wise through arrow record
//! batches, streaming.
//!
//! The schema (specified in `docs/data-formats.md`):
//!
//! ```text
//! jet_type       utf8                          "g" | "q" | "t" | "w" | "z"
//! jet_pt         float32                       GeV
//! jet_eta        float32
//! jet_mass       float32                       GeV
//! num_particles  int32                         = Σ mask (≤ P)
//! etarel         fixed_size_list<float32>[P]   η_p − η_jet, zero-padded
//! phirel         fixed_size_list<float32>[P]   φ_p − φ_jet (wrapped), zero-padded
//! ptrel          fixed_size_list<float32>[P]   pT_p / pT_jet, zero-padded
//! mask           fixed_size_list<uint8>[P]     1 real, 0 padding (trailing)
//! jet_phi        float32   (optional)
//! n_constituents int32     (optional)          multiplicity before truncation to P
//! parton_pdgid   int32     (optional)          matched hard parton
//! ```
//! Schema metadata: `hep-data.format = jetnet-particles-v1`, `hep-data.num_particles = P`,
//! and `hep-data.provenance` (JSON) when known. Readers also accept variable-length
//! `list<…>` columns (as pandas writes them) provided every row has `P` entries, and
//! integer columns of any integer width.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{Float32Type, UInt8Type};
use arrow_array::{
    Array, ArrayRef, ArrowPrimitiveType, FixedSizeListArray, Float32Array, Int32Array, RecordBatch,
    StringArray, UInt8Array,
};
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::{ParquetRecordBatchReader, ParquetRecordBatchReaderBuilder};
use parquet::basic::{Compression, Encoding, ZstdLevel};
use parquet::file::properties::WriterProperties;
use parquet::schema::types::ColumnPath;

use crate::error::{Error, Result, Source};
use crate::jets::{JetDataset, JetFeatures, JetType};

/// Value of the `hep-data.format` metadata key.
pub const FORMAT: &str = "jetnet-particles-v1";
/// Metadata key naming the format.
pub const KEY_FORMAT: &str = "hep-data.format";
/// Metadata key holding `P`.
pub const KEY_NUM_PARTICLES: &str = "hep-data.num_particles";
/// Metadata key holding the provenance JSON.
pub const KEY_PROVENANCE: &str = "hep-data.provenance";

/// Required columns, in file order.
pub const REQUIRED_COLUMNS: [&str; 9] = [
    "jet_type",
    "jet_pt",
    "jet_eta",
    "jet_mass",
    "num_particles",
    "etarel",
    "phirel",
    "ptrel",
    "mask",
];
/// Optional columns.
pub const OPTIONAL_COLUMNS: [&str; 3] = ["jet_phi", "n_constituents", "parton_pdgid"];

/// Default number of jets per record batch when streaming.
pub const DEFAULT_BATCH_SIZE: usize = 8192;

/// The Arrow schema written for `P` particle slots.
pub fn schema(num_slots: usize, extras: &[&str], provenance: Option<&str>) -> Schema {
    let list = |item: DataType| {
        DataType::FixedSizeList(Arc::new(Field::new("item", item, false)), num_slots as i32)
    };
    let mut fields = vec![
        Field::new("jet_type", DataType::Utf8, false),
        Field::new("jet_pt", DataType::Float32, false),
        Field::new("jet_eta", DataType::Float32, false),
        Field::new("jet_mass", DataType::Float32, false),
        Field::new("num_particles", DataType::Int32, false),
        Field::new("etarel", list(DataType::Float32), false),
        Field::new("phirel", list(DataType::Float32), false),
        Field::new("ptrel", list(DataType::Float32), false),
        Field::new("mask", list(DataType::UInt8), false),
    ];
    for &e in extras {
        let dt = if e == "jet_phi" {
            DataType::Float32
        } else {
            DataType::Int32
        };
        fields.push(Field::new(e, dt, false));
    }
    let mut meta = std::collections::HashMap::from([
        (KEY_FORMAT.to_string(), FORMAT.to_string()),
        (KEY_NUM_PARTICLES.to_string(), num_slots.to_string()),
    ]);
    if let Some(p) = provenance {
        meta.insert(KEY_PROVENANCE.to_string(), p.to_string());
    }
    Schema::new(fields).with_metadata(meta)
}

fn extras_of(ds: &JetDataset) -> Vec<&'static str> {
    let j = ds.jets();
    let mut v = Vec::new();
    if j.phi.is_some() {
        v.push("jet_phi");
    }
    if j.n_constituents.is_some() {
        v.push("n_constituents");
    }
    if j.parton_pdgid.is_some() {
        v.push("parton_pdgid");
    }
    v
}

/// Writes validated [`JetDataset`]s to a Parquet file, one or more record batches at a
/// time. The file appears atomically at [`finish`](Self::finish) (temp file + rename).
pub struct JetParquetWriter {
    path: PathBuf,
    tmp: PathBuf,
    schema: SchemaRef,
    num_slots: usize,
    extras: Vec<&'static str>,
    writer: Option<ArrowWriter<File>>,
}

impl JetParquetWriter {
    /// Start writing `P = num_slots` jets with the optional columns of `like` (pass the
    /// first dataset you will write) to `path`.
    ///
    /// # Errors
    /// [`Error::Io`] when the temporary file cannot be created.
    pub fn try_new(path: &Path, like: &JetDataset, provenance: Option<&str>) -> Result<Self> {
        let extras = extras_of(like);
        let num_slots = like.num_slots();
        let schema = Arc::new(schema(num_slots, &extras, provenance));
        let file_name = path
            .file_name()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let tmp = path.with_file_name(format!(".{file_name}.tmp-{}", std::process::id()));
        let source = Source::from(path);
        let file = File::create(&tmp).map_err(|err| Error::Io {
            file: source.clone(),
            op: "create temporary file",
            err,
        })?;
        let mut props = WriterProperties::builder()
            .set_compression(Compression::ZSTD(
                ZstdLevel::try_new(9).expect("valid level"),
            ))
            .set_dictionary_enabled(false)
            .set_created_by(format!("hep-data {}", env!("CARGO_PKG_VERSION")));
        // Jet-level floats compress better with BYTE_STREAM_SPLIT. The particle lists stay
        // PLAIN: BYTE_STREAM_SPLIT would shrink them by ~10 % but costs ~40 % more decode time
        // in arrow-rs (measured on the shipped samples), and reading speed matters more.
        for name in ["jet_pt", "jet_eta", "jet_mass", "jet_phi"] {
            props = props.set_column_encoding(ColumnPath::from(name), Encoding::BYTE_STREAM_SPLIT);
        }
        let writer =
            ArrowWriter::try_new(file, schema.clone(), Some(props.build())).map_err(|e| {
                Error::ParquetWrite {
                    file: source,
                    reason: e.to_string(),
                }
            })?;
        Ok(Self {
            path: path.to_path_buf(),
            tmp,
            schema,
            num_slots,
            extras,
            writer: Some(writer),
        })
    }

    /// Append a dataset as one record batch.
    ///
    /// # Errors
    /// [`Error::Shape`] when `P` or the optional columns differ from the first dataset;
    /// [`Error::ParquetWrite`] when encoding fails.
    pub fn write(&mut self, ds: &JetDataset) -> Result<()> {
        let source = Source::from(self.path.as_path());
        if ds.num_slots() != self.num_slots || extras_of(ds) != self.extras {
            return Err(Error::Shape {
                file: source,
                what: "dataset appended to the writer".into(),
                expected: format!("P = {} with extras {:?}", self.num_slots, self.extras),
                found: vec![ds.num_slots()],
            });
        }
        let batch = to_record_batch(ds, self.schema.clone()).map_err(|e| Error::ParquetWrite {
            file: source.clone(),
            reason: e.to_string(),
        })?;
        let w = self.writer.as_mut().expect("writer present until finish");
        w.write(&batch).map_err(|e| Error::ParquetWrite {
            file: source,
            reason: e.to_string(),
        })
    }

    /// Finish the file and move it into place.
    ///
    /// # Errors
    /// [`Error::ParquetWrite`] or [`Error::Io`].
    pub fn finish(mut self) -> Result<()> {
        let source = Source::from(self.path.as_path());
        let w = self.writer.take().expect("writer present until finish");
        w.close().map_err(|e| Error::ParquetWrite {
            file: source.clone(),
            reason: e.to_string(),
        })?;
        std::fs::rename(&self.tmp, &self.path).map_err(|err| Error::Io {
            file: source,
            op: "rename temporary file into place",
            err,
        })
    }
}

impl Drop for JetParquetWriter {
    fn drop(&mut self) {
        if self.writer.is_some() {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

fn to_record_batch(
    ds: &JetDataset,
    schema: SchemaRef,
) -> std::result::Result<RecordBatch, arrow_schema::ArrowError> {
    let p = ds.num_slots() as i32;
    let n = ds.len();
    let j = ds.jets();
    let feature = |k: usize| -> ArrayRef {
        let values: Vec<f32> = ds.particles().iter().skip(k).step_by(3).copied().collect();
        let item = Arc::new(Field::new("item", DataType::Float32, false));
        Arc::new(FixedSizeListArray::new(
            item,
            p,
            Arc::new(Float32Array::from(values)),
            None,
        ))
    };
    let mask: Vec<u8> = ds.mask().iter().map(|&m| m as u8).collect();
    let item = Arc::new(Field::new("item", DataType::UInt8, false));
    let mut cols: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from_iter_values(
            j.jet_type.iter().map(|t| t.label()),
        )),
        Arc::new(Float32Array::from(j.pt.clone())),
        Arc::new(Float32Array::from(j.eta.clone())),
        Arc::new(Float32Array::from(j.mass.clone())),
        Arc::new(Int32Array::from_iter_values(
            j.num_particles.iter().map(|&x| x as i32),
        )),
        feature(0),
        feature(1),
        feature(2),
        Arc::new(FixedSizeListArray::new(
            item,
            p,
            Arc::new(UInt8Array::from(mask)),
            None,
        )),
    ];
    if let Some(phi) = &j.phi {
        cols.push(Arc::new(Float32Array::from(phi.clone())));
    }
    if let Some(nc) = &j.n_constituents {
        cols.push(Arc::new(Int32Array::from_iter_values(
            nc.iter().map(|&x| x as i32),
        )));
    }
    if let Some(pid) = &j.parton_pdgid {
        cols.push(Arc::new(Int32Array::from(pid.clone())));
    }
    debug_assert_eq!(cols[0].len(), n);
    RecordBatch::try_new(schema, cols)
}

/// Write `ds` to `path` (zstd, atomically), with its provenance in the schema metadata.
///
/// # Errors
/// As [`JetParquetWriter`].
pub fn write_jets(path: &Path, ds: &JetDataset) -> Result<()> {
    let mut w = JetParquetWriter::try_new(path, ds, ds.provenance())?;
    w.write(ds)?;
    w.finish()
}

/// Read a whole file into one [`JetDataset`].
///
/// Columns are decoded in parallel, split over the available cores by compressed size (each
/// worker decodes a column subset of the same rows), then validated.
///
/// # Errors
/// Every error of [`JetParquetReader`], and [`Error::NoJets`] for a file without rows.
pub fn read_jets(path: &Path) -> Result<JetDataset> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    read_jets_with_threads(path, threads)
}

/// As [`read_jets`] with at most `threads` decoding threads (1 = sequential).
///
/// # Errors
/// As [`read_jets`].
pub fn read_jets_with_threads(path: &Path, threads: usize) -> Result<JetDataset> {
    let source = Source::from(path);
    let (builder, num_slots) = open_checked(path)?;
    let schema = builder.schema().clone();
    let provenance = schema.metadata().get(KEY_PROVENANCE).cloned();
    let num_rows = builder.metadata().file_metadata().num_rows().max(0) as usize;
    if num_rows == 0 {
        return Err(Error::NoJets { file: source });
    }
    // Compressed bytes per root column, to balance the workers.
    let descr = builder.parquet_schema();
    let mut bytes = vec![0i64; schema.fields().len()];
    for rg in builder.metadata().row_groups() {
        for (leaf, col) in rg.columns().iter().enumerate() {
            bytes[descr.get_column_root_idx(leaf)] += col.compressed_size();
        }
    }
    let threads = threads.clamp(1, schema.fields().len());
    let mut order: Vec<usize> = (0..bytes.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(bytes[i]));
    let mut groups: Vec<(i64, Vec<usize>)> = vec![(0, Vec::new()); threads];
    for i in order {
        let g = groups
            .iter_mut()
            .min_by_key(|g| g.0)
            .expect("at least one group");
        g.0 += bytes[i];
        g.1.push(i);
    }
    groups.retain(|g| !g.1.is_empty());
    drop(builder);
    let batch_size = num_rows.min(1 << 16);
    let decoded: Vec<Result<Vec<RecordBatch>>> = std::thread::scope(|scope| {
        let handles: Vec<_> = groups
            .iter()
            .map(|(_, cols)| {
                let source = source.clone();
                scope.spawn(move || decode_columns(path, &source, cols, batch_size))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("decoder thread panicked"))
            .collect()
    });
    let decoded = decoded.into_iter().collect::<Result<Vec<_>>>()?;
    let num_batches = decoded[0].len();
    let mut parts: Vec<JetDataset> = Vec::new();
    let mut offset = 0;
    for k in 0..num_batches {
        let mut cols: Vec<Option<ArrayRef>> = vec![None; schema.fields().len()];
        for (group, batches) in groups.iter().zip(&decoded) {
            let b = batches.get(k).ok_or_else(|| Error::NotParquet {
                file: source.clone(),
                reason: "column readers returned different numbers of batches".into(),
            })?;
            for (pos, &root) in group.1.iter().enumerate() {
                cols[root] = Some(b.column(pos).clone());
            }
        }
        let cols: Vec<ArrayRef> = cols
            .into_iter()
            .map(|c| c.expect("every column decoded"))
            .collect();
        let batch = RecordBatch::try_new(schema.clone(), cols).map_err(|e| Error::NotParquet {
            file: source.clone(),
            reason: e.to_string(),
        })?;
        parts.push(decode_batch(&source, &batch, num_slots, offset)?);
        offset += batch.num_rows();
    }
    if parts.is_empty() {
        return Err(Error::NoJets { file: source });
    }
    let ds = if parts.len() == 1 {
        parts.pop().expect("one part")
    } else {
        JetDataset::concat(&parts)?
    };
    Ok(match provenance {
        Some(p) => ds.with_provenance(p),
        None => ds,
    })
}

/// Decode the root columns `cols` (in that order) of every row.
fn decode_columns(
    path: &Path,
    source: &Source,
    cols: &[usize],
    batch_size: usize,
) -> Result<Vec<RecordBatch>> {
    let not_parquet = |e: parquet::errors::ParquetError| Error::NotParquet {
        file: source.clone(),
        reason: e.to_string(),
    };
    let file = File::open(path).map_err(|err| Error::Io {
        file: source.clone(),
        op: "open",
        err,
    })?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(not_parquet)?;
    let mask =
        parquet::arrow::ProjectionMask::roots(builder.parquet_schema(), cols.iter().copied());
    let reader = builder
        .with_projection(mask)
        .with_batch_size(batch_size)
        .build()
        .map_err(not_parquet)?;
    let mut out = Vec::new();
    for b in reader {
        let b = b.map_err(|e| Error::NotParquet {
            file: source.clone(),
            reason: e.to_string(),
        })?;
        // The projection keeps schema order; reorder to `cols`.
        let mut sorted = cols.to_vec();
        sorted.sort_unstable();
        let arrays = cols
            .iter()
            .map(|c| {
                b.column(sorted.binary_search(c).expect("projected"))
                    .clone()
            })
            .collect::<Vec<_>>();
        let fields: Vec<_> = cols
            .iter()
            .map(|c| {
                b.schema()
                    .field(sorted.binary_search(c).expect("projected"))
                    .clone()
            })
            .collect();
        let schema = Arc::new(Schema::new(fields));
        out.push(
            RecordBatch::try_new(schema, arrays).map_err(|e| Error::NotParquet {
                file: source.clone(),
                reason: e.to_string(),
            })?,
        );
    }
    Ok(out)
}

/// Open `path`, check the file is non-empty Parquet with our schema; returns the builder and `P`.
fn open_checked(path: &Path) -> Result<(ParquetRecordBatchReaderBuilder<File>, usize)> {
    let source = Source::from(path);
    let file = File::open(path).map_err(|err| Error::Io {
        file: source.clone(),
        op: "open",
        err,
    })?;
    let len = file
        .metadata()
        .map_err(|err| Error::Io {
            file: source.clone(),
            op: "stat",
            err,
        })?
        .len();
    if len == 0 {
        return Err(Error::EmptyFile { file: source });
    }
    let builder =
        ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| Error::NotParquet {
            file: source.clone(),
            reason: e.to_string(),
        })?;
    let num_slots = check_schema(&source, builder.schema())?;
    Ok((builder, num_slots))
}

/// Streams validated [`JetDataset`] batches from a Parquet file.
///
/// The schema (column names and types, `P`) is checked when the reader is created,
/// before any row is decoded; every batch is then validated as it is read, with rows
/// numbered from the start of the file.
pub struct JetParquetReader {
    source: Source,
    reader: ParquetRecordBatchReader,
    num_slots: usize,
    num_rows: usize,
    rows_read: usize,
    provenance: Option<String>,
    failed: bool,
}

impl JetParquetReader {
    /// Open `path` with [`DEFAULT_BATCH_SIZE`] jets per batch.
    ///
    /// # Errors
    /// [`Error::Io`], [`Error::EmptyFile`], [`Error::NotParquet`] (truncated or foreign
    /// files), [`Error::MissingColumn`], [`Error::UnexpectedColumn`], [`Error::ColumnType`],
    /// [`Error::Metadata`].
    pub fn try_new(path: &Path) -> Result<Self> {
        Self::try_with_batch_size(path, DEFAULT_BATCH_SIZE)
    }

    /// Open `path` with `batch_size` jets per batch.
    ///
    /// # Errors
    /// As [`try_new`](Self::try_new); [`Error::Param`] for a zero batch size.
    pub fn try_with_batch_size(path: &Path, batch_size: usize) -> Result<Self> {
        if batch_size == 0 {
            return Err(Error::Param {
                name: "batch_size",
                reason: "must be positive".into(),
            });
        }
        let source = Source::from(path);
        let (builder, num_slots) = open_checked(path)?;
        let num_rows = builder.metadata().file_metadata().num_rows().max(0) as usize;
        let schema = builder.schema().clone();
        let provenance = schema.metadata().get(KEY_PROVENANCE).cloned();
        let reader =
            builder
                .with_batch_size(batch_size)
                .build()
                .map_err(|e| Error::NotParquet {
                    file: source.clone(),
                    reason: e.to_string(),
                })?;
        Ok(Self {
            source,
            reader,
            num_slots,
            num_rows,
            rows_read: 0,
            provenance,
            failed: false,
        })
    }

    /// Number of jets in the file (from the footer).
    pub fn num_rows(&self) -> usize {
        self.num_rows
    }

    /// Particle slots per jet `P`.
    pub fn num_slots(&self) -> usize {
        self.num_slots
    }

    /// The provenance JSON stored in the file, if any.
    pub fn provenance(&self) -> Option<&str> {
        self.provenance.as_deref()
    }
}

impl Iterator for JetParquetReader {
    type Item = Result<JetDataset>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        let batch = match self.reader.next()? {
            Ok(b) => b,
            Err(e) => {
                self.failed = true;
                return Some(Err(Error::NotParquet {
                    file: self.source.clone(),
                    reason: e.to_string(),
                }));
            }
        };
        let offset = self.rows_read;
        self.rows_read += batch.num_rows();
        let out = decode_batch(&self.source, &batch, self.num_slots, offset);
        if out.is_err() {
            self.failed = true;
        }
        Some(out)
    }
}

fn type_err(source: &Source, column: &str, expected: &str, found: &DataType) -> Error {
    Error::ColumnType {
        file: source.clone(),
        column: column.to_string(),
        expected: expected.to_string(),
        found: found.to_string(),
    }
}

fn is_int(dt: &DataType) -> bool {
    dt.is_integer()
}

fn is_string(dt: &DataType) -> bool {
    matches!(
        dt,
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
    )
}

/// Checks names and types; returns `P`.
fn check_schema(source: &Source, schema: &Schema) -> Result<usize> {
    let known: Vec<&str> = REQUIRED_COLUMNS
        .iter()
        .chain(&OPTIONAL_COLUMNS)
        .copied()
        .collect();
    for f in schema.fields() {
        if !known.contains(&f.name().as_str()) {
            return Err(Error::UnexpectedColumn {
                file: source.clone(),
                column: f.name().clone(),
                known: known.join(", "),
            });
        }
    }
    let mut num_slots: Option<usize> = None;
    for name in REQUIRED_COLUMNS {
        let field = schema
            .field_with_name(name)
            .map_err(|_| Error::MissingColumn {
                file: source.clone(),
                column: name.to_string(),
            })?;
        let dt = field.data_type();
        match name {
            "jet_type" if !is_string(dt) => return Err(type_err(source, name, "utf8", dt)),
            "jet_pt" | "jet_eta" | "jet_mass" if dt != &DataType::Float32 => {
                return Err(type_err(source, name, "float32", dt));
            }
            "num_particles" if !is_int(dt) => return Err(type_err(source, name, "int32", dt)),
            "etarel" | "phirel" | "ptrel" | "mask" => {
                let (item, expected) = if name == "mask" {
                    (DataType::UInt8, "fixed_size_list<uint8>[P]")
                } else {
                    (DataType::Float32, "fixed_size_list<float32>[P]")
                };
                match dt {
                    DataType::FixedSizeList(f, size) if f.data_type() == &item => {
                        let size = *size as usize;
                        if let Some(p) = num_slots
                            && p != size
                        {
                            return Err(Error::ListLength {
                                file: source.clone(),
                                column: name.to_string(),
                                row: 0,
                                expected: p,
                                found: size,
                            });
                        }
                        num_slots = Some(size);
                    }
                    DataType::List(f) | DataType::LargeList(f) if f.data_type() == &item => {}
                    _ => return Err(type_err(source, name, expected, dt)),
                }
            }
            _ => {}
        }
    }
    for name in OPTIONAL_COLUMNS {
        if let Ok(f) = schema.field_with_name(name) {
            let dt = f.data_type();
            if name == "jet_phi" && dt != &DataType::Float32 {
                return Err(type_err(source, name, "float32", dt));
            }
            if name != "jet_phi" && !is_int(dt) {
                return Err(type_err(source, name, "int32", dt));
            }
        }
    }
    let meta_p = match schema.metadata().get(KEY_NUM_PARTICLES) {
        Some(s) => Some(s.parse::<usize>().map_err(|_| Error::Metadata {
            file: source.clone(),
            key: KEY_NUM_PARTICLES.into(),
            reason: format!("not a positive integer: {s:?}"),
        })?),
        None => None,
    };
    if let Some(f) = schema.metadata().get(KEY_FORMAT)
        && f != FORMAT
    {
        return Err(Error::Metadata {
            file: source.clone(),
            key: KEY_FORMAT.into(),
            reason: format!("unsupported format {f:?}, expected {FORMAT:?}"),
        });
    }
    match (num_slots, meta_p) {
        (Some(a), Some(b)) if a != b => Err(Error::Metadata {
            file: source.clone(),
            key: KEY_NUM_PARTICLES.into(),
            reason: format!("says P = {b} but the list columns hold {a} entries"),
        }),
        (Some(a), _) => Ok(a),
        (None, Some(b)) => Ok(b),
        // Variable-length lists without metadata: P is taken from the first row.
        (None, None) => Ok(0),
    }
}

/// Every row of a variable-length list column must hold `p` entries; returns the first offset.
fn check_offsets<O: arrow_array::OffsetSizeTrait>(
    source: &Source,
    column: &str,
    offs: &[O],
    p: usize,
    offset: usize,
) -> Result<usize> {
    for (r, w) in offs.windows(2).enumerate() {
        let len = (w[1] - w[0]).as_usize();
        if len != p {
            return Err(Error::ListLength {
                file: source.clone(),
                column: column.to_string(),
                row: offset + r,
                expected: p,
                found: len,
            });
        }
    }
    Ok(offs.first().map_or(0, |o| o.as_usize()))
}

/// Contiguous `[rows, P]` values of a list column, checking lengths and nulls.
fn list_values<'a, T: ArrowPrimitiveType>(
    source: &Source,
    column: &str,
    arr: &'a ArrayRef,
    p: usize,
    offset: usize,
) -> Result<&'a [T::Native]> {
    let rows = arr.len();
    if let Some(row) = (0..rows).find(|&r| arr.is_null(r)) {
        return Err(Error::Null {
            file: source.clone(),
            column: column.to_string(),
            row: offset + row,
        });
    }
    let (values, start): (&dyn Array, usize) = match arr.data_type() {
        DataType::FixedSizeList(_, _) => {
            let a = arr.as_fixed_size_list();
            (a.values().as_ref(), 0)
        }
        DataType::List(_) => {
            let a = arr.as_list::<i32>();
            let start = check_offsets(source, column, a.value_offsets(), p, offset)?;
            (a.values().as_ref(), start)
        }
        DataType::LargeList(_) => {
            let a = arr.as_list::<i64>();
            let start = check_offsets(source, column, a.value_offsets(), p, offset)?;
            (a.values().as_ref(), start)
        }
        other => unreachable!("schema checked: {other}"),
    };
    let prim = values.as_primitive::<T>();
    let slice = &prim.values()[start..start + rows * p];
    if prim.null_count() > 0
        && let Some(i) = (start..start + rows * p).find(|&i| prim.is_null(i))
    {
        return Err(Error::Null {
            file: source.clone(),
            column: column.to_string(),
            row: offset + (i - start) / p.max(1),
        });
    }
    Ok(slice)
}

fn f32_column(source: &Source, batch: &RecordBatch, name: &str, offset: usize) -> Result<Vec<f32>> {
    let arr = batch.column_by_name(name).expect("schema checked");
    if let Some(row) = (0..arr.len()).find(|&r| arr.is_null(r)) {
        return Err(Error::Null {
            file: source.clone(),
            column: name.into(),
            row: offset + row,
        });
    }
    Ok(arr.as_primitive::<Float32Type>().values().to_vec())
}

fn int_column(source: &Source, batch: &RecordBatch, name: &str, offset: usize) -> Result<Vec<i64>> {
    use arrow_array::types::*;
    let arr = batch.column_by_name(name).expect("schema checked");
    if let Some(row) = (0..arr.len()).find(|&r| arr.is_null(r)) {
        return Err(Error::Null {
            file: source.clone(),
            column: name.into(),
            row: offset + row,
        });
    }
    fn conv<T: ArrowPrimitiveType>(a: &ArrayRef) -> Vec<i64>
    where
        T::Native: Into<i128>,
    {
        a.as_primitive::<T>()
            .values()
            .iter()
            .map(|&v| {
                let w: i128 = v.into();
                w.clamp(i64::MIN as i128, i64::MAX as i128) as i64
            })
            .collect()
    }
    Ok(match arr.data_type() {
        DataType::Int8 => conv::<Int8Type>(arr),
        DataType::Int16 => conv::<Int16Type>(arr),
        DataType::Int32 => conv::<Int32Type>(arr),
        DataType::Int64 => conv::<Int64Type>(arr),
        DataType::UInt8 => conv::<UInt8Type>(arr),
        DataType::UInt16 => conv::<UInt16Type>(arr),
        DataType::UInt32 => conv::<UInt32Type>(arr),
        DataType::UInt64 => conv::<UInt64Type>(arr),
        other => unreachable!("schema checked: {other}"),
    })
}

fn count_column(
    source: &Source,
    batch: &RecordBatch,
    name: &str,
    offset: usize,
    max: Option<usize>,
) -> Result<Vec<u32>> {
    let vals = int_column(source, batch, name, offset)?;
    vals.iter()
        .enumerate()
        .map(|(r, &v)| {
            let hi = max.map_or(u32::MAX as i64, |m| m as i64);
            if v < 0 || v > hi {
                if name == "num_particles" {
                    return Err(Error::NumParticlesMismatch {
                        file: source.clone(),
                        row: offset + r,
                        expected: max.unwrap_or(0),
                        found: v,
                    });
                }
                return Err(Error::Shape {
                    file: source.clone(),
                    what: format!("column `{name}` row {}", offset + r),
                    expected: format!("a count in 0..={hi}"),
                    found: vec![],
                });
            }
            Ok(v as u32)
        })
        .collect()
}

fn decode_batch(
    source: &Source,
    batch: &RecordBatch,
    p_hint: usize,
    offset: usize,
) -> Result<JetDataset> {
    let n = batch.num_rows();
    let col = |name: &str| batch.column_by_name(name).expect("schema checked");
    // P from the schema, or (variable lists without metadata) from the first row.
    let p = if p_hint > 0 {
        p_hint
    } else {
        let arr = col("etarel");
        match arr.data_type() {
            DataType::List(_) => arr.as_list::<i32>().value_length(0).max(0) as usize,
            DataType::LargeList(_) => arr.as_list::<i64>().value_length(0).max(0) as usize,
            _ => 0,
        }
    };
    let eta = list_values::<Float32Type>(source, "etarel", col("etarel"), p, offset)?;
    let phi = list_values::<Float32Type>(source, "phirel", col("phirel"), p, offset)?;
    let pt = list_values::<Float32Type>(source, "ptrel", col("ptrel"), p, offset)?;
    // One interleaving pass over the three columns (no zero-fill of the output).
    let mut particles = Vec::with_capacity(n * p * 3);
    for ((&e, &f), &t) in eta.iter().zip(phi).zip(pt) {
        particles.extend_from_slice(&[e, f, t]);
    }
    let mask_u8 = list_values::<UInt8Type>(source, "mask", col("mask"), p, offset)?;
    let mask: Vec<f32> = mask_u8.iter().map(|&m| f32::from(m)).collect();

    let types_arr = col("jet_type");
    let mut jet_type = Vec::with_capacity(n);
    for r in 0..n {
        if types_arr.is_null(r) {
            return Err(Error::Null {
                file: source.clone(),
                column: "jet_type".into(),
                row: offset + r,
            });
        }
        let s = match types_arr.data_type() {
            DataType::Utf8 => types_arr.as_string::<i32>().value(r),
            DataType::LargeUtf8 => types_arr.as_string::<i64>().value(r),
            _ => types_arr.as_string_view().value(r),
        };
        jet_type.push(JetType::from_label(s).ok_or_else(|| Error::JetTypeValue {
            file: source.clone(),
            row: offset + r,
            found: s.to_string(),
        })?);
    }
    let has = |name: &str| batch.column_by_name(name).is_some();
    let jets = JetFeatures {
        jet_type,
        pt: f32_column(source, batch, "jet_pt", offset)?,
        eta: f32_column(source, batch, "jet_eta", offset)?,
        mass: f32_column(source, batch, "jet_mass", offset)?,
        num_particles: count_column(source, batch, "num_particles", offset, Some(p))?,
        phi: if has("jet_phi") {
            Some(f32_column(source, batch, "jet_phi", offset)?)
        } else {
            None
        },
        n_constituents: if has("n_constituents") {
            Some(count_column(source, batch, "n_constituents", offset, None)?)
        } else {
            None
        },
        parton_pdgid: if has("parton_pdgid") {
            Some(
                int_column(source, batch, "parton_pdgid", offset)?
                    .into_iter()
                    .map(|v| v as i32)
                    .collect(),
            )
        } else {
            None
        },
    };
    JetDataset::try_new_at(source.clone(), offset, p, particles, mask, jets)
}

#[cfg(test)]
mod tests;
