//! The `.npy` array format (numpy's `np.save`), read and written, and JetNet particle
//! arrays `[N, P, 3|4]` (η_rel, φ_rel, pT_rel[, mask]) in it — the interchange format of
//! the field's Python tools.
//!
//! Supported: format versions 1.0–3.0, C order, little-endian `f4`, `f8`, signed and
//! unsigned integers of 1–8 bytes and `b1`. Fortran order and big-endian data are
//! rejected with [`Error::Npy`].

use std::io::Write;
use std::path::Path;

use crate::error::{Error, Result, Source};
use crate::jets::{JetDataset, JetFeatures, JetType};
use crate::kinematics::jet_kinematics_one;

const MAGIC: &[u8] = b"\x93NUMPY";

/// Element data of an `.npy` array, widened to one of four types.
#[derive(Debug, Clone, PartialEq)]
pub enum NpyData {
    /// `<f4`.
    F32(Vec<f32>),
    /// `<f8`.
    F64(Vec<f64>),
    /// Any integer dtype, widened.
    I64(Vec<i64>),
    /// `|b1`.
    Bool(Vec<bool>),
}

/// An `.npy` array: its shape and its elements in C order.
#[derive(Debug, Clone, PartialEq)]
pub struct NpyArray {
    /// Shape (empty for a scalar).
    pub shape: Vec<usize>,
    /// Elements.
    pub data: NpyData,
}

impl NpyArray {
    /// Elements as f32 (`f8` is rounded, integers and booleans converted).
    pub fn to_f32(&self) -> Vec<f32> {
        match &self.data {
            NpyData::F32(v) => v.clone(),
            NpyData::F64(v) => v.iter().map(|&x| x as f32).collect(),
            NpyData::I64(v) => v.iter().map(|&x| x as f32).collect(),
            NpyData::Bool(v) => v.iter().map(|&x| f32::from(u8::from(x))).collect(),
        }
    }

    /// Elements as f64.
    pub fn to_f64(&self) -> Vec<f64> {
        match &self.data {
            NpyData::F32(v) => v.iter().map(|&x| f64::from(x)).collect(),
            NpyData::F64(v) => v.clone(),
            NpyData::I64(v) => v.iter().map(|&x| x as f64).collect(),
            NpyData::Bool(v) => v.iter().map(|&x| f64::from(u8::from(x))).collect(),
        }
    }

    /// Integer elements; `None` for float or boolean arrays.
    pub fn as_i64(&self) -> Option<&[i64]> {
        match &self.data {
            NpyData::I64(v) => Some(v),
            _ => None,
        }
    }
}

fn npy_err(source: &Source, reason: impl Into<String>) -> Error {
    Error::Npy {
        file: source.clone(),
        reason: reason.into(),
    }
}

/// Read an `.npy` file.
///
/// # Errors
/// [`Error::Io`], [`Error::EmptyFile`], [`Error::Npy`] for a bad magic, header, dtype,
/// Fortran order or a data section of the wrong length.
pub fn read_npy(path: &Path) -> Result<NpyArray> {
    let source = Source::from(path);
    let bytes = std::fs::read(path).map_err(|err| Error::Io {
        file: source.clone(),
        op: "read",
        err,
    })?;
    if bytes.is_empty() {
        return Err(Error::EmptyFile { file: source });
    }
    parse_npy(&source, &bytes)
}

/// Parse `.npy` bytes; errors are reported against `source`.
///
/// # Errors
/// As [`read_npy`].
pub fn parse_npy(source: &Source, bytes: &[u8]) -> Result<NpyArray> {
    if bytes.len() < 10 || &bytes[..6] != MAGIC {
        return Err(npy_err(source, "missing \\x93NUMPY magic"));
    }
    let major = bytes[6];
    let (header_len, start) = match major {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        2 | 3 => {
            if bytes.len() < 12 {
                return Err(npy_err(source, "truncated header"));
            }
            (
                u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
                12,
            )
        }
        v => return Err(npy_err(source, format!("unsupported format version {v}"))),
    };
    let header = bytes
        .get(start..start + header_len)
        .ok_or_else(|| npy_err(source, "truncated header"))?;
    let header = std::str::from_utf8(header).map_err(|_| npy_err(source, "header is not text"))?;
    let descr = dict_value(header, "descr")
        .and_then(|v| v.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')))
        .ok_or_else(|| npy_err(source, format!("no 'descr' in header {header:?}")))?;
    let fortran = dict_value(header, "fortran_order")
        .ok_or_else(|| npy_err(source, "no 'fortran_order' in header"))?;
    if fortran != "False" {
        return Err(npy_err(source, "Fortran-ordered arrays are not supported"));
    }
    let shape_txt =
        dict_value(header, "shape").ok_or_else(|| npy_err(source, "no 'shape' in header"))?;
    let shape: Vec<usize> = shape_txt
        .trim_start_matches('(')
        .trim_end_matches(')')
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.parse::<usize>())
        .collect::<std::result::Result<_, _>>()
        .map_err(|_| npy_err(source, format!("bad shape {shape_txt}")))?;
    let count: usize = shape.iter().product();
    let body = &bytes[start + header_len..];
    let (endian, kind) = descr.split_at(1);
    if endian == ">" {
        return Err(npy_err(
            source,
            format!("big-endian dtype {descr} is not supported"),
        ));
    }
    if !matches!(endian, "<" | "|" | "=") {
        return Err(npy_err(source, format!("unsupported dtype {descr}")));
    }
    let width: usize = kind
        .get(1..)
        .and_then(|w| w.parse().ok())
        .ok_or_else(|| npy_err(source, format!("unsupported dtype {descr}")))?;
    if body.len() != count * width {
        return Err(npy_err(
            source,
            format!(
                "data section has {} bytes, shape {shape:?} of {descr} needs {}",
                body.len(),
                count * width
            ),
        ));
    }
    let chunks = body.chunks_exact(width.max(1));
    let data = match (kind.as_bytes()[0], width) {
        (b'f', 4) => NpyData::F32(
            chunks
                .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
                .collect(),
        ),
        (b'f', 8) => NpyData::F64(
            chunks
                .map(|c| f64::from_le_bytes(c.try_into().unwrap()))
                .collect(),
        ),
        (b'i', 1 | 2 | 4 | 8) => NpyData::I64(
            chunks
                .map(|c| {
                    let mut b = [if c[width - 1] & 0x80 != 0 { 0xff } else { 0 }; 8];
                    b[..width].copy_from_slice(c);
                    i64::from_le_bytes(b)
                })
                .collect(),
        ),
        (b'u', 1 | 2 | 4) => NpyData::I64(
            chunks
                .map(|c| {
                    let mut b = [0u8; 8];
                    b[..width].copy_from_slice(c);
                    i64::from_le_bytes(b)
                })
                .collect(),
        ),
        (b'b', 1) => NpyData::Bool(chunks.map(|c| c[0] != 0).collect()),
        _ => return Err(npy_err(source, format!("unsupported dtype {descr}"))),
    };
    Ok(NpyArray { shape, data })
}

/// The raw text of `'key': value` in a numpy header dict.
fn dict_value<'a>(header: &'a str, key: &str) -> Option<&'a str> {
    let pat = format!("'{key}':");
    let rest = header[header.find(&pat)? + pat.len()..].trim_start();
    let end = if rest.starts_with('(') {
        rest.find(')')? + 1
    } else {
        rest.find([',', '}'])?
    };
    Some(rest[..end].trim())
}

/// An element type that can be written to `.npy`.
pub trait NpyElement: Copy {
    /// numpy dtype string, e.g. `<f4`.
    const DESCR: &'static str;
    /// Append the little-endian bytes.
    fn put(self, out: &mut Vec<u8>);
}

macro_rules! npy_element {
    ($t:ty, $d:literal) => {
        impl NpyElement for $t {
            const DESCR: &'static str = $d;
            fn put(self, out: &mut Vec<u8>) {
                out.extend_from_slice(&self.to_le_bytes());
            }
        }
    };
}
npy_element!(f32, "<f4");
npy_element!(f64, "<f8");
npy_element!(i32, "<i4");
npy_element!(i64, "<i8");
npy_element!(u8, "|u1");

/// Encode an array as `.npy` (format 1.0, C order).
///
/// # Panics
/// If `data.len()` differs from the product of `shape` (a programmer error).
pub fn encode_npy<T: NpyElement>(shape: &[usize], data: &[T]) -> Vec<u8> {
    assert_eq!(
        shape.iter().product::<usize>(),
        data.len(),
        "shape does not match data"
    );
    let shape_txt = match shape {
        [n] => format!("({n},)"),
        _ => format!(
            "({})",
            shape
                .iter()
                .map(usize::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    let mut header = format!(
        "{{'descr': '{}', 'fortran_order': False, 'shape': {shape_txt}, }}",
        T::DESCR
    );
    // Pad so that magic + version + length + header (+ '\n') is a multiple of 64.
    let total = 10 + header.len() + 1;
    header.push_str(&" ".repeat((64 - total % 64) % 64));
    header.push('\n');
    let mut out = Vec::with_capacity(10 + header.len() + data.len() * 8);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&[1, 0]);
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    for &v in data {
        v.put(&mut out);
    }
    out
}

/// Write an array as `.npy`, atomically (temp file + rename).
///
/// # Errors
/// [`Error::Io`]; [`Error::Shape`] when `data.len()` differs from the product of `shape`.
pub fn write_npy<T: NpyElement>(path: &Path, shape: &[usize], data: &[T]) -> Result<()> {
    let source = Source::from(path);
    if shape.iter().product::<usize>() != data.len() {
        return Err(Error::Shape {
            file: source,
            what: "array to write".into(),
            expected: format!("{} values", data.len()),
            found: shape.to_vec(),
        });
    }
    write_atomic(path, &encode_npy(shape, data))
}

/// Write bytes to `path` via a temporary file in the same directory and a rename.
///
/// # Errors
/// [`Error::Io`].
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let source = Source::from(path);
    let name = path
        .file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.tmp-{}", std::process::id()));
    let io = |op: &'static str| {
        let source = source.clone();
        move |err| Error::Io {
            file: source,
            op,
            err,
        }
    };
    let mut f = std::fs::File::create(&tmp).map_err(io("create temporary file"))?;
    f.write_all(bytes).map_err(io("write"))?;
    f.sync_all().map_err(io("sync"))?;
    drop(f);
    std::fs::rename(&tmp, path).map_err(io("rename temporary file into place"))
}

/// How to turn a JetNet particle array into a [`JetDataset`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JetArrayOptions {
    /// Jet class of every jet (the array does not say).
    pub jet_type: JetType,
    /// Move real particles to the front of each jet, keeping their order, when padding is
    /// interleaved (as in raw generator output). When false, interleaved padding is an
    /// [`Error::PaddingNotTrailing`].
    pub compact_padding: bool,
}

impl JetArrayOptions {
    /// Options for jets of `jet_type`, strict padding.
    pub fn new(jet_type: JetType) -> Self {
        Self {
            jet_type,
            compact_padding: false,
        }
    }

    /// Set [`compact_padding`](Self::compact_padding).
    pub fn with_compact_padding(mut self, compact: bool) -> Self {
        self.compact_padding = compact;
        self
    }
}

/// Build a dataset from a JetNet particle array `[N, P, 3|4]`.
///
/// With 4 features the 4th is the mask; with 3, a particle is real when any feature is
/// non-zero. Jet features are computed from the particles ([`crate::kinematics`]), so
/// they are in relative units (pT ≈ Σ pT_rel, mass = m_jet / pT_jet).
///
/// # Errors
/// [`Error::Shape`] unless the shape is `[N, P, 3]` or `[N, P, 4]`; every validation
/// error of [`JetDataset`], reported against `source`.
pub fn jets_from_array(
    source: &Source,
    shape: &[usize],
    data: &[f32],
    opts: JetArrayOptions,
) -> Result<JetDataset> {
    let (n, p, f) = match *shape {
        [n, p, f] if (f == 3 || f == 4) && p > 0 => (n, p, f),
        _ => {
            return Err(Error::Shape {
                file: source.clone(),
                what: "particle array".into(),
                expected: "[N, P, 3] or [N, P, 4] (etarel, phirel, ptrel[, mask])".into(),
                found: shape.to_vec(),
            });
        }
    };
    if data.len() != n * p * f {
        return Err(Error::Shape {
            file: source.clone(),
            what: "particle array data".into(),
            expected: format!("{} values", n * p * f),
            found: vec![data.len()],
        });
    }
    let mut particles = vec![0f32; n * p * 3];
    let mut mask = vec![0f32; n * p];
    for j in 0..n {
        let mut dst = 0usize;
        for slot in 0..p {
            let row = &data[(j * p + slot) * f..(j * p + slot + 1) * f];
            let m = if f == 4 {
                row[3]
            } else {
                f32::from(u8::from(row[..3].iter().any(|&v| v != 0.0)))
            };
            let target = if opts.compact_padding {
                if m == 0.0 && row[..3].iter().all(|&v| v == 0.0) {
                    continue;
                }
                dst += 1;
                dst - 1
            } else {
                slot
            };
            particles[(j * p + target) * 3..(j * p + target + 1) * 3].copy_from_slice(&row[..3]);
            mask[j * p + target] = m;
        }
    }
    let mut jets = JetFeatures {
        jet_type: vec![opts.jet_type; n],
        ..Default::default()
    };
    for j in 0..n {
        let m = &mask[j * p..(j + 1) * p];
        // Count the entries that claim to be real; validation checks they are 0/1.
        jets.num_particles
            .push(m.iter().filter(|&&v| v == 1.0).count() as u32);
        let k = jet_kinematics_one(&particles[j * p * 3..(j + 1) * p * 3]);
        jets.pt.push(k.pt as f32);
        jets.eta.push(k.eta as f32);
        jets.mass.push(k.mass as f32);
    }
    JetDataset::try_new_at(source.clone(), 0, p, particles, mask, jets)
}

/// Read a JetNet particle array `.npy` `[N, P, 3|4]` (f4 or f8).
///
/// # Errors
/// As [`read_npy`] and [`jets_from_array`]; [`Error::Npy`] for integer/boolean dtypes.
pub fn read_jets_npy(path: &Path, opts: JetArrayOptions) -> Result<JetDataset> {
    let source = Source::from(path);
    let arr = read_npy(path)?;
    if !matches!(arr.data, NpyData::F32(_) | NpyData::F64(_)) {
        return Err(npy_err(
            &source,
            "particle arrays must be float32 or float64",
        ));
    }
    jets_from_array(&source, &arr.shape, &arr.to_f32(), opts)
}

/// Write `ds` as a JetNet particle array `[N, P, 4]` (with mask) or `[N, P, 3]`.
///
/// # Errors
/// [`Error::Io`].
pub fn write_jets_npy(path: &Path, ds: &JetDataset, with_mask: bool) -> Result<()> {
    let (n, p) = (ds.len(), ds.num_slots());
    if with_mask {
        write_npy(path, &[n, p, 4], &ds.to_jetnet_array())
    } else {
        write_npy(path, &[n, p, 3], ds.particles())
    }
}

#[cfg(test)]
mod tests;
