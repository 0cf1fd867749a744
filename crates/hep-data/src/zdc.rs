//! ALICE Zero Degree Calorimeter (ZDC) responses with the particles that caused them.
//!
//! A response is the photon count of every quartz fibre of one calorimeter, a grid of
//! `H × W` pixels: the neutron calorimeter ZN is `44 × 44`, the proton calorimeter ZP
//! `56 × 30`. Each response comes with the 9 attributes of the particle that caused it
//! (energy, vertex vx/vy/vz, momentum px/py/pz, mass, charge, in that order) and its PDG id.
//!
//! Stored as Parquet (schema `zdc-responses-v1`, `docs/data-formats.md`): the 9 conditions as
//! `f32` columns, `pdg` as `i32`, and the response sparsely — `pixel` (`list<u16>`, the
//! row-major indices of the non-zero fibres, increasing) and `count` (`list<f32>`, their
//! counts) — because most fibres of a response are dark.
//!
//! Transforms used by the models: `log(x + 1)` of the counts and standardised conditions
//! ([`ConditionScaler`], scikit-learn's `StandardScaler` semantics).

use std::fs::File;
use std::path::Path;
use std::sync::Arc;

use arrow_array::{Array, ArrayRef, Float32Array, Int32Array, ListArray, RecordBatch};
use arrow_schema::{DataType, Field, Schema};

use crate::sparse_pixels::{FileMeta, check_no_nulls, open_sparse, require_column};
use crate::{Error, Result, Source};

/// Number of conditioning attributes per particle.
pub const NUM_CONDITIONS: usize = 9;

/// The conditioning attributes, in storage order.
pub const CONDITION_NAMES: [&str; NUM_CONDITIONS] = [
    "energy", "vx", "vy", "vz", "px", "py", "pz", "mass", "charge",
];

/// The format name written to (and required in) the Parquet metadata.
pub const FORMAT: &str = "zdc-responses-v1";

/// Which calorimeter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ZdcDetector {
    /// The neutron calorimeter ZN, `44 × 44` fibres.
    Neutron,
    /// The proton calorimeter ZP, `56 × 30` fibres.
    Proton,
}

impl ZdcDetector {
    /// `(H, W)`.
    pub fn shape(self) -> (usize, usize) {
        match self {
            Self::Neutron => (44, 44),
            Self::Proton => (56, 30),
        }
    }

    /// `neutron` or `proton`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Neutron => "neutron",
            Self::Proton => "proton",
        }
    }
}

impl std::fmt::Display for ZdcDetector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for ZdcDetector {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "neutron" | "zn" | "ZN" => Ok(Self::Neutron),
            "proton" | "zp" | "ZP" => Ok(Self::Proton),
            other => Err(Error::Param {
                name: "detector",
                reason: format!("`{other}`: expected neutron or proton"),
            }),
        }
    }
}

/// `N` ZDC responses `[N, H, W]` (photon counts) with their particles' conditions `[N, 9]`
/// and PDG ids `[N]`.
#[derive(Debug, Clone, PartialEq)]
pub struct ZdcDataset {
    detector: ZdcDetector,
    responses: Vec<f32>,
    conditions: Vec<f32>,
    pdg: Vec<i32>,
    provenance: Option<String>,
}

impl ZdcDataset {
    /// Validate and wrap arrays built in memory.
    ///
    /// # Errors
    /// [`Error::Shape`] when the lengths disagree with the detector and `N`;
    /// [`Error::NonFinite`] for NaN/Inf; [`Error::Param`] for a negative count.
    pub fn new(
        detector: ZdcDetector,
        responses: Vec<f32>,
        conditions: Vec<f32>,
        pdg: Vec<i32>,
    ) -> Result<Self> {
        Self::validated(&Source::Memory, detector, responses, conditions, pdg)
    }

    fn validated(
        source: &Source,
        detector: ZdcDetector,
        responses: Vec<f32>,
        conditions: Vec<f32>,
        pdg: Vec<i32>,
    ) -> Result<Self> {
        let (h, w) = detector.shape();
        let n = pdg.len();
        let shape = |what: &str, expected: String, found: Vec<usize>| Error::Shape {
            file: source.clone(),
            what: what.to_string(),
            expected,
            found,
        };
        if responses.len() != n * h * w {
            return Err(shape(
                "responses",
                format!("[{n}, {h}, {w}] ({} values)", n * h * w),
                vec![responses.len()],
            ));
        }
        if conditions.len() != n * NUM_CONDITIONS {
            return Err(shape(
                "conditions",
                format!("[{n}, {NUM_CONDITIONS}]"),
                vec![conditions.len()],
            ));
        }
        for (i, &v) in responses.iter().enumerate() {
            if !v.is_finite() {
                return Err(Error::NonFinite {
                    file: source.clone(),
                    column: "count".into(),
                    row: i / (h * w),
                    particle: Some(i % (h * w)),
                    value: f64::from(v),
                });
            }
            if v < 0.0 {
                return Err(Error::Param {
                    name: "responses",
                    reason: format!(
                        "{source}: row {} pixel {}: negative count {v}",
                        i / (h * w),
                        i % (h * w)
                    ),
                });
            }
        }
        if let Some(i) = conditions.iter().position(|v| !v.is_finite()) {
            return Err(Error::NonFinite {
                file: source.clone(),
                column: CONDITION_NAMES[i % NUM_CONDITIONS].into(),
                row: i / NUM_CONDITIONS,
                particle: None,
                value: f64::from(conditions[i]),
            });
        }
        Ok(Self {
            detector,
            responses,
            conditions,
            pdg,
            provenance: None,
        })
    }

    /// Attach a provenance record (stored in the Parquet metadata).
    pub fn with_provenance(mut self, provenance: String) -> Self {
        self.provenance = Some(provenance);
        self
    }

    /// The provenance record, if any.
    pub fn provenance(&self) -> Option<&str> {
        self.provenance.as_deref()
    }

    /// The calorimeter.
    pub fn detector(&self) -> ZdcDetector {
        self.detector
    }

    /// Number of responses `N`.
    pub fn len(&self) -> usize {
        self.pdg.len()
    }

    /// Whether there are no responses.
    pub fn is_empty(&self) -> bool {
        self.pdg.is_empty()
    }

    /// Fibre rows `H`.
    pub fn height(&self) -> usize {
        self.detector.shape().0
    }

    /// Fibre columns `W`.
    pub fn width(&self) -> usize {
        self.detector.shape().1
    }

    /// Photon counts `[N, H, W]`, row-major.
    pub fn responses(&self) -> &[f32] {
        &self.responses
    }

    /// Particle conditions `[N, 9]` in [`CONDITION_NAMES`] order.
    pub fn conditions(&self) -> &[f32] {
        &self.conditions
    }

    /// PDG ids `[N]`.
    pub fn pdg(&self) -> &[i32] {
        &self.pdg
    }

    /// The responses at `idx`, in that order.
    ///
    /// # Panics
    /// When an index is out of range (a programmer error).
    pub fn select(&self, idx: &[usize]) -> Self {
        let px = self.height() * self.width();
        let mut r = Vec::with_capacity(idx.len() * px);
        let mut c = Vec::with_capacity(idx.len() * NUM_CONDITIONS);
        for &i in idx {
            r.extend_from_slice(&self.responses[i * px..(i + 1) * px]);
            c.extend_from_slice(&self.conditions[i * NUM_CONDITIONS..(i + 1) * NUM_CONDITIONS]);
        }
        Self {
            detector: self.detector,
            responses: r,
            conditions: c,
            pdg: idx.iter().map(|&i| self.pdg[i]).collect(),
            provenance: self.provenance.clone(),
        }
    }

    /// Train / validation / test indices: a permutation by numpy's `default_rng(seed)`, split
    /// 70 / 10 / 20 (the fractions of the reference ZDC code).
    pub fn split_indices(&self, seed: u64) -> [Vec<usize>; 3] {
        let perm = crate::rng::NumpyRng::new(seed).permutation(self.len());
        let n_train = self.len() * 7 / 10;
        let n_valid = self.len() / 10;
        [
            perm[..n_train].to_vec(),
            perm[n_train..n_train + n_valid].to_vec(),
            perm[n_train + n_valid..].to_vec(),
        ]
    }
}

/// `log(x + 1)` elementwise.
pub fn log1p_transform(x: &[f32]) -> Vec<f32> {
    x.iter().map(|v| v.ln_1p()).collect()
}

/// `exp(x) − 1` elementwise (the inverse of [`log1p_transform`]).
pub fn expm1_transform(x: &[f32]) -> Vec<f32> {
    x.iter().map(|v| v.exp_m1()).collect()
}

/// Per-attribute standardisation `(c − mean) / std` with the population standard deviation
/// (a constant attribute gets `std = 1`), as scikit-learn's `StandardScaler`.
#[derive(Debug, Clone, PartialEq)]
pub struct ConditionScaler {
    /// Means.
    pub mean: [f32; NUM_CONDITIONS],
    /// Standard deviations.
    pub std: [f32; NUM_CONDITIONS],
}

impl ConditionScaler {
    /// Fit on conditions `[N, 9]`.
    pub fn fit(conditions: &[f32]) -> Self {
        let n = (conditions.len() / NUM_CONDITIONS).max(1) as f64;
        let mut mean = [0f32; NUM_CONDITIONS];
        let mut std = [1f32; NUM_CONDITIONS];
        for k in 0..NUM_CONDITIONS {
            let col = conditions.iter().skip(k).step_by(NUM_CONDITIONS);
            let m = col.clone().map(|&v| f64::from(v)).sum::<f64>() / n;
            let var = col.map(|&v| (f64::from(v) - m).powi(2)).sum::<f64>() / n;
            mean[k] = m as f32;
            std[k] = if var > 0.0 { var.sqrt() as f32 } else { 1.0 };
        }
        Self { mean, std }
    }

    /// Standardise conditions `[N, 9]`.
    pub fn transform(&self, conditions: &[f32]) -> Vec<f32> {
        conditions
            .iter()
            .enumerate()
            .map(|(i, &v)| (v - self.mean[i % NUM_CONDITIONS]) / self.std[i % NUM_CONDITIONS])
            .collect()
    }

    /// Undo [`transform`](Self::transform).
    pub fn inverse_transform(&self, z: &[f32]) -> Vec<f32> {
        z.iter()
            .enumerate()
            .map(|(i, &v)| v * self.std[i % NUM_CONDITIONS] + self.mean[i % NUM_CONDITIONS])
            .collect()
    }
}

fn schema(ds: &ZdcDataset) -> Schema {
    let mut fields: Vec<Field> = CONDITION_NAMES
        .iter()
        .map(|n| Field::new(*n, DataType::Float32, false))
        .collect();
    fields.push(Field::new("pdg", DataType::Int32, false));
    fields.push(Field::new(
        "pixel",
        crate::sparse_pixels::index_type(),
        false,
    ));
    fields.push(Field::new(
        "count",
        crate::sparse_pixels::value_type(),
        false,
    ));
    let mut meta = std::collections::HashMap::new();
    meta.insert("hep-data.format".to_string(), FORMAT.to_string());
    meta.insert("zdc.detector".to_string(), ds.detector.name().to_string());
    if let Some(p) = &ds.provenance {
        meta.insert("hep-data.provenance".to_string(), p.clone());
    }
    Schema::new(fields).with_metadata(meta)
}

/// Write `ds` to `path` (zstd; written to a temporary file and renamed into place).
///
/// # Errors
/// [`Error::Io`], [`Error::ParquetWrite`].
pub fn write_zdc(path: &Path, ds: &ZdcDataset) -> Result<()> {
    let source = Source::from(path);
    let werr = |e: &dyn std::fmt::Display| Error::ParquetWrite {
        file: source.clone(),
        reason: e.to_string(),
    };
    let schema = Arc::new(schema(ds));
    let px = ds.height() * ds.width();
    let mut columns: Vec<ArrayRef> = (0..NUM_CONDITIONS)
        .map(|k| {
            Arc::new(Float32Array::from_iter_values(
                ds.conditions
                    .iter()
                    .skip(k)
                    .step_by(NUM_CONDITIONS)
                    .copied(),
            )) as ArrayRef
        })
        .collect();
    columns.push(Arc::new(Int32Array::from(ds.pdg.clone())));
    let (pix, cnt) = crate::sparse_pixels::encode(&ds.responses, px);
    columns.push(pix);
    columns.push(cnt);
    let batch = RecordBatch::try_new(schema.clone(), columns).map_err(|e| werr(&e))?;
    crate::sparse_pixels::write_batch_atomic(path, schema, &batch)
}

/// Read and validate a `zdc-responses-v1` Parquet file.
///
/// # Errors
/// [`Error::Io`], [`Error::EmptyFile`], [`Error::NotParquet`], [`Error::Metadata`] (not this
/// format, unknown detector), [`Error::MissingColumn`], [`Error::ColumnType`], [`Error::Null`],
/// [`Error::ListLength`] (pixel and count lists of different lengths), [`Error::Shape`] (a
/// pixel index outside the grid or not increasing), [`Error::NonFinite`], and a
/// [`Error::Param`] for a negative count; [`Error::NoJets`] for a file without rows.
pub fn read_zdc(path: &Path) -> Result<ZdcDataset> {
    let (source, builder, schema) = open_sparse(path, FORMAT, "count")?;
    let meta = FileMeta::new(&source, &schema);
    let detector: ZdcDetector = meta.parse("zdc.detector")?;
    for n in CONDITION_NAMES {
        require_column(&schema, &source, n, &DataType::Float32)?;
    }
    require_column(&schema, &source, "pdg", &DataType::Int32)?;
    let reader = builder.build().map_err(|e| Error::NotParquet {
        file: source.clone(),
        reason: e.to_string(),
    })?;
    let (h, w) = detector.shape();
    let px = h * w;
    let mut responses = Vec::new();
    let mut conditions = Vec::new();
    let mut pdg = Vec::new();
    let mut row0 = 0;
    for batch in reader {
        let batch = batch.map_err(|e| Error::NotParquet {
            file: source.clone(),
            reason: e.to_string(),
        })?;
        let rows = batch.num_rows();
        let col = |name: &str| batch.column(batch.schema().index_of(name).expect("checked"));
        for n in CONDITION_NAMES {
            check_no_nulls(col(n), &source, n, row0)?;
        }
        check_no_nulls(col("pdg"), &source, "pdg", row0)?;
        let conds: Vec<&Float32Array> = CONDITION_NAMES
            .iter()
            .map(|n| {
                col(n)
                    .as_any()
                    .downcast_ref::<Float32Array>()
                    .expect("checked")
            })
            .collect();
        let ids = col("pdg")
            .as_any()
            .downcast_ref::<Int32Array>()
            .expect("checked");
        let pix = col("pixel")
            .as_any()
            .downcast_ref::<ListArray>()
            .expect("checked");
        let cnt = col("count")
            .as_any()
            .downcast_ref::<ListArray>()
            .expect("checked");
        for r in 0..rows {
            for c in &conds {
                conditions.push(c.value(r));
            }
            pdg.push(ids.value(r));
        }
        crate::sparse_pixels::decode(
            &source,
            ("pixel", "count"),
            (pix, cnt),
            px,
            row0,
            &mut responses,
        )?;
        row0 += rows;
    }
    if pdg.is_empty() {
        return Err(Error::NoJets { file: source });
    }
    let ds = ZdcDataset::validated(&source, detector, responses, conditions, pdg)?;
    Ok(match meta.provenance() {
        Some(p) => ds.with_provenance(p),
        None => ds,
    })
}

/// Read the arrays as the ALICE ZDC groups distribute them: two numpy `.npz` archives
/// (`numpy.savez` / `savez_compressed`), one holding the responses `[N, H, W]` and one the
/// particles, each as the archive's only array (any key, e.g. `arr_0`).
///
/// The particle array is `[N, 10]` — PDG id first, then the 9 conditions in
/// [`CONDITION_NAMES`] order (energy, vx, vy, vz, px, py, pz, mass, charge) — or `[N, 9]`
/// without the PDG id (then 0). This column order follows the reference code's description
/// (`../shared/spec/models-reference.md` §4: "a PDG-id column is split off"); it could not be
/// checked against a real file, which is not public.
///
/// # Errors
/// [`Error::Io`]; [`Error::Npy`] for a file that is not a zip of `.npy` members, an archive
/// with other than one array, or a malformed member; [`Error::Shape`] for shapes that do not
/// match the detector or each other; the validation errors of [`ZdcDataset::new`].
pub fn read_zdc_npz(
    responses: &Path,
    particles: &Path,
    detector: ZdcDetector,
) -> Result<ZdcDataset> {
    let r = read_single_npz(responses)?;
    let p = read_single_npz(particles)?;
    let (h, w) = detector.shape();
    let rs = Source::from(responses);
    if r.shape.len() != 3 || r.shape[1..] != [h, w] {
        return Err(Error::Shape {
            file: rs,
            what: "responses".into(),
            expected: format!("[N, {h}, {w}] ({detector})"),
            found: r.shape.clone(),
        });
    }
    let n = r.shape[0];
    let ps = Source::from(particles);
    let cols = match p.shape.as_slice() {
        [m, c] if *m == n && (*c == NUM_CONDITIONS || *c == NUM_CONDITIONS + 1) => *c,
        _ => {
            return Err(Error::Shape {
                file: ps,
                what: "particles".into(),
                expected: format!("[{n}, 10] (pdg + 9 conditions) or [{n}, 9]"),
                found: p.shape.clone(),
            });
        }
    };
    let values = p.to_f64();
    let mut conditions = Vec::with_capacity(n * NUM_CONDITIONS);
    let mut pdg = Vec::with_capacity(n);
    for row in values.chunks_exact(cols) {
        let (id, c) = if cols == NUM_CONDITIONS + 1 {
            (row[0], &row[1..])
        } else {
            (0.0, row)
        };
        pdg.push(id as i32);
        conditions.extend(c.iter().map(|&v| v as f32));
    }
    ZdcDataset::validated(&rs, detector, r.to_f32(), conditions, pdg)
}

fn read_single_npz(path: &Path) -> Result<crate::npy::NpyArray> {
    use std::io::Read;
    let source = Source::from(path);
    let npz_err = |reason: String| Error::Npy {
        file: source.clone(),
        reason,
    };
    let file = File::open(path).map_err(|err| Error::Io {
        file: source.clone(),
        op: "open",
        err,
    })?;
    let mut zip = zip::ZipArchive::new(file)
        .map_err(|e| npz_err(format!("not an .npz (zip) archive: {e}")))?;
    let names: Vec<String> = zip
        .file_names()
        .filter(|n| n.ends_with(".npy"))
        .map(String::from)
        .collect();
    if names.len() != 1 {
        return Err(npz_err(format!(
            "expected exactly one array in the archive, found {names:?}"
        )));
    }
    let mut member = zip
        .by_name(&names[0])
        .map_err(|e| npz_err(format!("{}: {e}", names[0])))?;
    let mut bytes = Vec::new();
    member
        .read_to_end(&mut bytes)
        .map_err(|e| npz_err(format!("{}: {e}", names[0])))?;
    crate::npy::parse_npy(&source, &bytes)
}

#[cfg(test)]
mod tests;
