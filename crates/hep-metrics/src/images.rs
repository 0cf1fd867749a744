//! Metrics of sparse calorimeter images: isolation around a muon, sparsity, and their W1
//! between real and generated samples.
//!
//! ```text
//! Iso(x)   = Σ_{pixels with ΔR(centre, image centre) < R} x / pT_μ      (R = 0.2; Eq. 3 of the
//!                                                                          decoupled-model paper)
//! sparsity = fraction of zero pixels of an image
//! spectrum = the non-zero pixel intensities, compared by W1
//! ```
//!
//! Pixel `(r, c)` of an `H × W` image of pixel size `s` has centre
//! `(Δη, Δφ) = ((r + ½ − H/2)·s, (c + ½ − W/2)·s)` relative to the muon.
//!
//! ## References
//! Y. Lu, J. Collado, K. Bauer, D. Whiteson, P. Baldi, *Sparse Image Generation with
//! Decoupled Generative Models* (isolation, Eq. 3); J. Collado et al., *Learning to Isolate
//! Muons*, JHEP 10 (2021) 200.

use crate::wasserstein::w1_distance;
use crate::{Error, Result};

/// Isolation `Σ_{ΔR < radius} x / pT_μ` of each image `[N, H, W]` (pixel size `pixel`).
///
/// # Errors
/// [`Error::ShapeMismatch`] (also when `muon_pt` is not `[N]`), [`Error::EmptyInput`],
/// [`Error::NonFinite`], [`Error::InvalidParameter`] for a non-positive muon pT.
pub fn isolation(
    images: &[f32],
    shape: [usize; 3],
    pixel: f64,
    muon_pt: &[f32],
    radius: f64,
) -> Result<Vec<f64>> {
    crate::view::check_images(images, shape, "images")?;
    let [n, h, w] = shape;
    if muon_pt.len() != n {
        return Err(Error::ShapeMismatch {
            argument: "muon_pt",
            shape: vec![n],
            expected: n,
            found: muon_pt.len(),
        });
    }
    if muon_pt.iter().any(|&p| p.is_nan() || p <= 0.0) {
        return Err(Error::InvalidParameter {
            name: "muon_pt",
            requirement: "every muon pT must be positive",
        });
    }
    let inside: Vec<bool> = (0..h * w)
        .map(|i| {
            let de = ((i / w) as f64 + 0.5 - h as f64 / 2.0) * pixel;
            let dp = ((i % w) as f64 + 0.5 - w as f64 / 2.0) * pixel;
            de.hypot(dp) < radius
        })
        .collect();
    Ok(images
        .chunks_exact(h * w)
        .zip(muon_pt)
        .map(|(img, &pt)| {
            img.iter()
                .zip(&inside)
                .filter(|(_, in_)| **in_)
                .map(|(&v, _)| f64::from(v))
                .sum::<f64>()
                / f64::from(pt)
        })
        .collect())
}

/// Fraction of zero pixels of each image `[N, H, W]`.
///
/// # Errors
/// As [`isolation`] for the image argument.
pub fn sparsity(images: &[f32], shape: [usize; 3]) -> Result<Vec<f64>> {
    crate::view::check_images(images, shape, "images")?;
    let px = shape[1] * shape[2];
    Ok(images
        .chunks_exact(px)
        .map(|img| img.iter().filter(|&&v| v == 0.0).count() as f64 / px as f64)
        .collect())
}

/// The non-zero pixel intensities of all images `[N, H, W]` (the pixel-intensity spectrum),
/// in image order.
///
/// # Errors
/// As [`sparsity`].
pub fn intensities(images: &[f32], shape: [usize; 3]) -> Result<Vec<f64>> {
    crate::view::check_images(images, shape, "images")?;
    Ok(images
        .iter()
        .filter(|&&v| v != 0.0)
        .map(|&v| f64::from(v))
        .collect())
}

/// W1 between the pixel-intensity spectra (non-zero pixels) of real and generated images.
///
/// # Errors
/// As [`sparsity`]; [`Error::EmptyInput`] when either sample has no non-zero pixel.
pub fn intensity_w1(
    (real, real_shape): (&[f32], [usize; 3]),
    (generated, gen_shape): (&[f32], [usize; 3]),
) -> Result<f64> {
    let a = intensities(real, real_shape)?;
    let b = intensities(generated, gen_shape)?;
    if a.is_empty() {
        return Err(Error::EmptyInput {
            argument: "real non-zero pixels",
        });
    }
    if b.is_empty() {
        return Err(Error::EmptyInput {
            argument: "generated non-zero pixels",
        });
    }
    w1_distance(&a, &b)
}

/// W1 between the isolation distributions of real and generated muon images.
///
/// # Errors
/// As [`isolation`].
pub fn isolation_w1(
    (real, real_shape, real_pt): (&[f32], [usize; 3], &[f32]),
    (generated, gen_shape, gen_pt): (&[f32], [usize; 3], &[f32]),
    pixel: f64,
) -> Result<f64> {
    let a = isolation(real, real_shape, pixel, real_pt, 0.2)?;
    let b = isolation(generated, gen_shape, pixel, gen_pt, 0.2)?;
    w1_distance(&a, &b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn isolation_counts_the_cone_and_divides_by_pt() {
        // 32 × 32, pixel 0.025: the cone R < 0.2 has 8-pixel radius around the centre
        let mut img = vec![0f32; 2 * 32 * 32];
        img[16 * 32 + 16] = 3.0; // centre: inside
        img[16 * 32 + 31] = 5.0; // Δφ = 0.3875: outside
        img[32 * 32 + 16 * 32 + 22] = 2.0; // second image, Δφ = 0.1625: inside
        let iso = isolation(&img, [2, 32, 32], 0.025, &[10.0, 4.0], 0.2).unwrap();
        assert_eq!(iso, vec![0.3, 0.5]);
        let sp = sparsity(&img, [2, 32, 32]).unwrap();
        assert_eq!(sp[0], 1.0 - 2.0 / 1024.0);
        let w = isolation_w1(
            (&img, [2, 32, 32], &[10.0, 4.0]),
            (&img, [2, 32, 32], &[10.0, 4.0]),
            0.025,
        )
        .unwrap();
        assert_eq!(w, 0.0);
        assert!(isolation(&img, [2, 32, 32], 0.025, &[1.0], 0.2).is_err());
        assert!(isolation(&img, [2, 32, 32], 0.025, &[1.0, 0.0], 0.2).is_err());
        assert!(sparsity(&img[..10], [2, 32, 32]).is_err());
        assert_eq!(intensities(&img, [2, 32, 32]).unwrap(), vec![3.0, 5.0, 2.0]);
        let shifted: Vec<f32> = img
            .iter()
            .map(|&v| if v > 0.0 { v + 1.0 } else { 0.0 })
            .collect();
        let w = intensity_w1((&img, [2, 32, 32]), (&shifted, [2, 32, 32])).unwrap();
        assert!((w - 1.0).abs() < 1e-12, "{w}");
        let zeros = vec![0f32; 32 * 32];
        assert!(intensity_w1((&img, [2, 32, 32]), (&zeros, [1, 32, 32])).is_err());
    }
}
