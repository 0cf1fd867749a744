//! Sparse calorimeter and jet images `[N, H, W]` with a class label per image.
//!
//! Rows are η (increasing), columns φ; pixel values are transverse energies in GeV, ≥ 0.
//! Muon calorimeter images (32 × 32, 0.025 × 0.025 in (η, φ), centred on the muon) carry the
//! muon pT; labels are 1 for isolated (Z' → μμ) and 0 for non-isolated (b b̄) muons.
//!
//! Parquet schema `images-v1` (`docs/data-formats.md`): `label` (`uint8`), `muon_pt`
//! (`float32`, muon images only), and the image as sparse lists `pixel` (`list<uint16>`,
//! increasing row-major indices of non-zero pixels) and `value` (`list<float32>`); metadata
//! `image.kind`, `image.height`, `image.width`, `image.pixel_size`.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use arrow_array::{Array, ArrayRef, Float32Array, ListArray, RecordBatch, UInt8Array};
use arrow_schema::{DataType, Field, Schema};

use crate::sparse_pixels::{FileMeta, check_no_nulls, has_column, open_sparse, require_column};
use crate::{Error, Result, Source};

/// The format name in the Parquet metadata.
pub const FORMAT: &str = "images-v1";

/// What the images show.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageKind {
    /// Calorimeter deposits around a muon.
    MuonCalo,
    /// A jet image.
    JetImage,
}

impl ImageKind {
    /// `muon-calo` or `jet-image`.
    pub fn name(self) -> &'static str {
        match self {
            Self::MuonCalo => "muon-calo",
            Self::JetImage => "jet-image",
        }
    }
}

impl std::str::FromStr for ImageKind {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "muon-calo" => Ok(Self::MuonCalo),
            "jet-image" => Ok(Self::JetImage),
            other => Err(Error::Param {
                name: "image kind",
                reason: format!("`{other}`: expected muon-calo or jet-image"),
            }),
        }
    }
}

/// `N` images `[N, H, W]` with labels `[N]` and, for muon images, the muon pT `[N]`.
#[derive(Debug, Clone, PartialEq)]
pub struct ImageDataset {
    kind: ImageKind,
    height: usize,
    width: usize,
    pixel_size: f32,
    pixels: Vec<f32>,
    labels: Vec<u8>,
    muon_pt: Option<Vec<f32>>,
    provenance: Option<String>,
}

impl ImageDataset {
    /// Validate and wrap images built in memory (`pixel_size` in η and φ units).
    ///
    /// # Errors
    /// [`Error::Shape`] for inconsistent lengths; [`Error::NonFinite`] for NaN/Inf;
    /// [`Error::Param`] for negative pixels, labels other than 0/1 or a non-positive pixel size.
    pub fn new(
        kind: ImageKind,
        (height, width): (usize, usize),
        pixel_size: f32,
        pixels: Vec<f32>,
        labels: Vec<u8>,
        muon_pt: Option<Vec<f32>>,
    ) -> Result<Self> {
        Self::validated(
            &Source::Memory,
            kind,
            (height, width),
            pixel_size,
            pixels,
            labels,
            muon_pt,
        )
    }

    fn validated(
        source: &Source,
        kind: ImageKind,
        (height, width): (usize, usize),
        pixel_size: f32,
        pixels: Vec<f32>,
        labels: Vec<u8>,
        muon_pt: Option<Vec<f32>>,
    ) -> Result<Self> {
        let n = labels.len();
        let px = height * width;
        let shape_err = |what: &str, expected: String, found: usize| Error::Shape {
            file: source.clone(),
            what: what.into(),
            expected,
            found: vec![found],
        };
        if px == 0 || px > 65_536 {
            return Err(shape_err("image", "1 ≤ H·W ≤ 65536".into(), px));
        }
        if pixels.len() != n * px {
            return Err(shape_err(
                "pixels",
                format!("[{n}, {height}, {width}]"),
                pixels.len(),
            ));
        }
        if let Some(m) = &muon_pt
            && m.len() != n
        {
            return Err(shape_err("muon_pt", format!("[{n}]"), m.len()));
        }
        if !(pixel_size > 0.0 && pixel_size.is_finite()) {
            return Err(Error::Param {
                name: "pixel_size",
                reason: format!("{pixel_size}: must be positive"),
            });
        }
        if let Some(i) = labels.iter().position(|&l| l > 1) {
            return Err(Error::Param {
                name: "label",
                reason: format!("{source}: row {i}: label {} (expected 0 or 1)", labels[i]),
            });
        }
        for (i, &v) in pixels.iter().enumerate() {
            if !v.is_finite() {
                return Err(Error::NonFinite {
                    file: source.clone(),
                    column: "value".into(),
                    row: i / px,
                    particle: Some(i % px),
                    value: f64::from(v),
                });
            }
            if v < 0.0 {
                return Err(Error::Param {
                    name: "pixels",
                    reason: format!(
                        "{source}: row {} pixel {}: negative value {v}",
                        i / px,
                        i % px
                    ),
                });
            }
        }
        if let Some(i) = muon_pt
            .as_ref()
            .and_then(|m| m.iter().position(|v| !v.is_finite()))
        {
            return Err(Error::NonFinite {
                file: source.clone(),
                column: "muon_pt".into(),
                row: i,
                particle: None,
                value: f64::from(muon_pt.as_ref().expect("checked")[i]),
            });
        }
        Ok(Self {
            kind,
            height,
            width,
            pixel_size,
            pixels,
            labels,
            muon_pt,
            provenance: None,
        })
    }

    /// Attach a provenance record.
    pub fn with_provenance(mut self, p: String) -> Self {
        self.provenance = Some(p);
        self
    }

    /// The provenance record.
    pub fn provenance(&self) -> Option<&str> {
        self.provenance.as_deref()
    }

    /// What the images show.
    pub fn kind(&self) -> ImageKind {
        self.kind
    }

    /// Number of images.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether there are no images.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Rows `H` (η).
    pub fn height(&self) -> usize {
        self.height
    }

    /// Columns `W` (φ).
    pub fn width(&self) -> usize {
        self.width
    }

    /// Pixel size in η and φ.
    pub fn pixel_size(&self) -> f32 {
        self.pixel_size
    }

    /// Pixels `[N, H, W]`, GeV.
    pub fn pixels(&self) -> &[f32] {
        &self.pixels
    }

    /// Image `i`, `[H, W]`.
    ///
    /// # Panics
    /// When `i ≥ N`.
    pub fn image(&self, i: usize) -> &[f32] {
        let px = self.height * self.width;
        &self.pixels[i * px..(i + 1) * px]
    }

    /// Labels `[N]`.
    pub fn labels(&self) -> &[u8] {
        &self.labels
    }

    /// Muon pT `[N]` (muon images).
    pub fn muon_pt(&self) -> Option<&[f32]> {
        self.muon_pt.as_deref()
    }

    /// The images at `idx`, in that order.
    ///
    /// # Panics
    /// When an index is out of range.
    pub fn select(&self, idx: &[usize]) -> Self {
        let mut pixels = Vec::with_capacity(idx.len() * self.height * self.width);
        for &i in idx {
            pixels.extend_from_slice(self.image(i));
        }
        Self {
            pixels,
            labels: idx.iter().map(|&i| self.labels[i]).collect(),
            muon_pt: self
                .muon_pt
                .as_ref()
                .map(|m| idx.iter().map(|&i| m[i]).collect()),
            ..self.clone_meta()
        }
    }

    /// The images with label `label`.
    pub fn with_label(&self, label: u8) -> Self {
        let idx: Vec<usize> = (0..self.len())
            .filter(|&i| self.labels[i] == label)
            .collect();
        self.select(&idx)
    }

    fn clone_meta(&self) -> Self {
        Self {
            kind: self.kind,
            height: self.height,
            width: self.width,
            pixel_size: self.pixel_size,
            pixels: Vec::new(),
            labels: Vec::new(),
            muon_pt: None,
            provenance: self.provenance.clone(),
        }
    }
}

/// Write `ds` to `path` (zstd, temporary file + rename).
///
/// # Errors
/// [`Error::Io`], [`Error::ParquetWrite`].
pub fn write_images(path: &Path, ds: &ImageDataset) -> Result<()> {
    let source = Source::from(path);
    let werr = |e: &dyn std::fmt::Display| Error::ParquetWrite {
        file: source.clone(),
        reason: e.to_string(),
    };
    let mut fields = vec![Field::new("label", DataType::UInt8, false)];
    let mut columns: Vec<ArrayRef> = vec![Arc::new(UInt8Array::from(ds.labels.clone()))];
    if let Some(m) = &ds.muon_pt {
        fields.push(Field::new("muon_pt", DataType::Float32, false));
        columns.push(Arc::new(Float32Array::from(m.clone())));
    }
    fields.push(Field::new(
        "pixel",
        crate::sparse_pixels::index_type(),
        false,
    ));
    fields.push(Field::new(
        "value",
        crate::sparse_pixels::value_type(),
        false,
    ));
    let (pix, val) = crate::sparse_pixels::encode(&ds.pixels, ds.height * ds.width);
    columns.push(pix);
    columns.push(val);
    let mut meta = HashMap::new();
    meta.insert("hep-data.format".to_string(), FORMAT.to_string());
    meta.insert("image.kind".to_string(), ds.kind.name().to_string());
    meta.insert("image.height".to_string(), ds.height.to_string());
    meta.insert("image.width".to_string(), ds.width.to_string());
    meta.insert("image.pixel_size".to_string(), ds.pixel_size.to_string());
    if let Some(p) = &ds.provenance {
        meta.insert("hep-data.provenance".to_string(), p.clone());
    }
    let schema = Arc::new(Schema::new(fields).with_metadata(meta));
    let batch = RecordBatch::try_new(schema.clone(), columns).map_err(|e| werr(&e))?;
    crate::sparse_pixels::write_batch_atomic(path, schema, &batch)
}

/// Read and validate an `images-v1` Parquet file.
///
/// # Errors
/// [`Error::Io`], [`Error::EmptyFile`], [`Error::NotParquet`], [`Error::Metadata`],
/// [`Error::MissingColumn`], [`Error::ColumnType`], [`Error::Null`], [`Error::ListLength`],
/// [`Error::Shape`], [`Error::NonFinite`], [`Error::Param`], [`Error::NoJets`] (no rows).
pub fn read_images(path: &Path) -> Result<ImageDataset> {
    let (source, builder, schema) = open_sparse(path, FORMAT, "value")?;
    let meta = FileMeta::new(&source, &schema);
    let kind: ImageKind = meta.parse("image.kind")?;
    let (h, w): (usize, usize) = (meta.parse("image.height")?, meta.parse("image.width")?);
    let pixel_size: f32 = meta.parse("image.pixel_size")?;
    require_column(&schema, &source, "label", &DataType::UInt8)?;
    let has_pt = has_column(&schema, &source, "muon_pt", &DataType::Float32)?;
    let reader = builder.build().map_err(|e| Error::NotParquet {
        file: source.clone(),
        reason: e.to_string(),
    })?;
    let (mut pixels, mut labels, mut pts) = (Vec::new(), Vec::new(), Vec::new());
    let mut row0 = 0;
    for batch in reader {
        let batch = batch.map_err(|e| Error::NotParquet {
            file: source.clone(),
            reason: e.to_string(),
        })?;
        let col = |name: &str| {
            batch
                .column(batch.schema().index_of(name).expect("checked"))
                .clone()
        };
        let l = col("label");
        check_no_nulls(&l, &source, "label", row0)?;
        let l = l.as_any().downcast_ref::<UInt8Array>().expect("checked");
        labels.extend(l.values().iter().copied());
        if has_pt {
            let p = col("muon_pt");
            check_no_nulls(&p, &source, "muon_pt", row0)?;
            let p = p.as_any().downcast_ref::<Float32Array>().expect("checked");
            pts.extend(p.values().iter().copied());
        }
        let (pix, val) = (col("pixel"), col("value"));
        let pix = pix.as_any().downcast_ref::<ListArray>().expect("checked");
        let val = val.as_any().downcast_ref::<ListArray>().expect("checked");
        crate::sparse_pixels::decode(
            &source,
            ("pixel", "value"),
            (pix, val),
            h * w,
            row0,
            &mut pixels,
        )?;
        row0 += batch.num_rows();
    }
    if labels.is_empty() {
        return Err(Error::NoJets { file: source });
    }
    let ds = ImageDataset::validated(
        &source,
        kind,
        (h, w),
        pixel_size,
        pixels,
        labels,
        has_pt.then_some(pts),
    )?;
    Ok(match meta.provenance() {
        Some(p) => ds.with_provenance(p),
        None => ds,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> ImageDataset {
        let mut px = vec![0f32; 3 * 16];
        px[1] = 2.5;
        px[16 + 15] = 0.7;
        px[32] = 1.0;
        px[33] = 3.0;
        ImageDataset::new(
            ImageKind::MuonCalo,
            (4, 4),
            0.025,
            px,
            vec![1, 0, 1],
            Some(vec![11.0, 12.0, 14.5]),
        )
        .unwrap()
    }

    #[test]
    fn round_trip_and_selection() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("m.parquet");
        let ds = sample().with_provenance("{}".into());
        write_images(&p, &ds).unwrap();
        let back = read_images(&p).unwrap();
        assert_eq!(back, ds);
        let iso = back.with_label(1);
        assert_eq!(iso.len(), 2);
        assert_eq!(iso.muon_pt().unwrap(), &[11.0, 14.5]);
        assert_eq!(iso.image(1)[..2], [1.0, 3.0]);
    }

    #[test]
    fn bad_inputs_are_typed_errors() {
        let new = |px: Vec<f32>, labels: Vec<u8>| {
            ImageDataset::new(ImageKind::JetImage, (2, 2), 0.1, px, labels, None)
        };
        assert!(matches!(
            new(vec![0.0; 7], vec![0, 1]),
            Err(Error::Shape { .. })
        ));
        assert!(matches!(
            new(vec![0.0; 8], vec![0, 2]),
            Err(Error::Param { .. })
        ));
        assert!(matches!(
            new(vec![-1.0, 0.0, 0.0, 0.0], vec![0]),
            Err(Error::Param { .. })
        ));
        assert!(matches!(
            new(vec![0.0, f32::NAN, 0.0, 0.0], vec![0]),
            Err(Error::NonFinite {
                particle: Some(1),
                ..
            })
        ));
        let dir = tempfile::tempdir().unwrap();
        let zdc = dir.path().join("z.parquet");
        let z = crate::zdc::ZdcDataset::new(
            crate::zdc::ZdcDetector::Neutron,
            vec![0.0; 44 * 44],
            vec![0.0; 9],
            vec![2112],
        )
        .unwrap();
        crate::zdc::write_zdc(&zdc, &z).unwrap();
        assert!(matches!(read_images(&zdc), Err(Error::Metadata { .. })));
        let empty = dir.path().join("e.parquet");
        std::fs::write(&empty, b"").unwrap();
        assert!(matches!(read_images(&empty), Err(Error::EmptyFile { .. })));
        assert!("pixels".parse::<ImageKind>().is_err());
    }
}
