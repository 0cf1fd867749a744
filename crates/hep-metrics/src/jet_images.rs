//! Observables of jet images computed from the pixels, and their W1 between real and generated
//! images: the jet transverse momentum, the jet mass and the n-subjettiness ratio τ21.
//!
//! ```text
//! pixel k of an H × W image, pixel size s:  pT_k = x_k,  η_k = (r + ½ − H/2)·s,  φ_k = (c + ½ − W/2)·s
//!                                           (a massless particle per non-zero pixel)
//! p_jet = Σ_k (pT_k cos φ_k, pT_k sin φ_k, pT_k sinh η_k, pT_k cosh η_k)
//! pT    = |(p_x, p_y)|,   m = √max(E² − |p|², 0)
//! τ_N   = Σ_k pT_k · min_a ΔR(k, a) / (R₀ Σ_k pT_k)          (β = 1, R₀ = 1)
//! τ21   = τ_2 / τ_1       (0 for an image with fewer than two non-zero pixels)
//! ```
//!
//! The τ_N axes are exclusive-kT axes as Nsubjettiness's `KT_Axes` defines them: the non-zero
//! pixels are clustered pairwise with d_ij = min(pT_i², pT_j²)·ΔR_ij² (R → ∞, so the beam
//! never wins) and E-scheme recombination until N pseudo-jets remain; their rapidity and
//! azimuth are the axes. The mass and pT are invariant under the translation in η and the
//! rotation in φ that jet-image preprocessing applies, so they equal the (trimmed) jet's up to
//! the pixelisation.
//!
//! ## References
//! J. Thaler, K. Van Tilburg, *Identifying boosted objects with N-subjettiness*, JHEP 03 (2011)
//! 015, arXiv:1011.2268; L. de Oliveira, M. Paganini, B. Nachman, *Learning particle physics
//! by example: location-aware generative adversarial networks*, arXiv:1701.05927 (the image
//! observables LAGAN is judged on).

use crate::Result;
use crate::wasserstein::w1_distance;

/// The observables of one jet image.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct JetImageObservables {
    /// Transverse momentum (the image's units, GeV).
    pub pt: f64,
    /// Invariant mass.
    pub mass: f64,
    /// τ_2 / τ_1 (0 when undefined).
    pub tau21: f64,
}

/// W1 between real and generated distributions of each observable.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct JetImageW1 {
    /// W1 of the jet pT.
    pub pt: f64,
    /// W1 of the jet mass.
    pub mass: f64,
    /// W1 of τ21.
    pub tau21: f64,
}

#[derive(Clone, Copy)]
struct FourVector {
    px: f64,
    py: f64,
    pz: f64,
    e: f64,
}

impl FourVector {
    fn massless(pt: f64, eta: f64, phi: f64) -> Self {
        Self {
            px: pt * phi.cos(),
            py: pt * phi.sin(),
            pz: pt * eta.sinh(),
            e: pt * eta.cosh(),
        }
    }

    fn add(self, o: Self) -> Self {
        Self {
            px: self.px + o.px,
            py: self.py + o.py,
            pz: self.pz + o.pz,
            e: self.e + o.e,
        }
    }

    fn pt2(self) -> f64 {
        self.px * self.px + self.py * self.py
    }

    fn rapidity(self) -> f64 {
        if self.e <= self.pz.abs() {
            // a light-like vector along the beam cannot occur from pixels of finite η
            return self.pz.signum() * f64::MAX.ln();
        }
        0.5 * ((self.e + self.pz) / (self.e - self.pz)).ln()
    }

    fn phi(self) -> f64 {
        self.py.atan2(self.px)
    }
}

fn delta_r2((y1, p1): (f64, f64), (y2, p2): (f64, f64)) -> f64 {
    let mut dp = (p1 - p2).abs();
    if dp > std::f64::consts::PI {
        dp = 2.0 * std::f64::consts::PI - dp;
    }
    (y1 - y2).powi(2) + dp * dp
}

/// Exclusive-kT axes (R → ∞, E-scheme) of `particles`, `n` of them (fewer if there are fewer
/// particles). O(M²) per merge with M the number of particles.
fn kt_axes(particles: &[FourVector], n: usize) -> Vec<(f64, f64)> {
    let mut jets: Vec<FourVector> = particles.to_vec();
    let mut coords: Vec<(f64, f64)> = jets.iter().map(|p| (p.rapidity(), p.phi())).collect();
    while jets.len() > n {
        let (mut bi, mut bj, mut best) = (0, 1, f64::INFINITY);
        for i in 0..jets.len() {
            let pi = jets[i].pt2();
            for j in i + 1..jets.len() {
                let d = pi.min(jets[j].pt2()) * delta_r2(coords[i], coords[j]);
                if d < best {
                    (bi, bj, best) = (i, j, d);
                }
            }
        }
        let merged = jets[bi].add(jets[bj]);
        jets[bi] = merged;
        coords[bi] = (merged.rapidity(), merged.phi());
        jets.swap_remove(bj);
        coords.swap_remove(bj);
    }
    coords
}

/// The observables of each image `[N, H, W]` of pixel size `pixel` (η and φ units).
///
/// # Errors
/// [`crate::Error::ShapeMismatch`], [`crate::Error::EmptyInput`], [`crate::Error::NonFinite`].
pub fn jet_image_observables(
    images: &[f32],
    shape: [usize; 3],
    pixel: f64,
) -> Result<Vec<JetImageObservables>> {
    crate::view::check_images(images, shape, "images")?;
    let [_, h, w] = shape;
    let centre = |i: usize, n: usize| (i as f64 + 0.5 - n as f64 / 2.0) * pixel;
    use rayon::prelude::*;
    Ok(images
        .par_chunks_exact(h * w)
        .map(|img| {
            let mut parts = Vec::new();
            let mut pts = Vec::new();
            let mut at = Vec::new();
            for (k, &x) in img.iter().enumerate() {
                if x != 0.0 {
                    let (eta, phi) = (centre(k / w, h), centre(k % w, w));
                    parts.push(FourVector::massless(f64::from(x), eta, phi));
                    pts.push(f64::from(x));
                    at.push((eta, phi));
                }
            }
            let jet = parts.iter().fold(
                FourVector {
                    px: 0.0,
                    py: 0.0,
                    pz: 0.0,
                    e: 0.0,
                },
                |a, &p| a.add(p),
            );
            let mass = (jet.e * jet.e - jet.pt2() - jet.pz * jet.pz)
                .max(0.0)
                .sqrt();
            let tau = |axes: &[(f64, f64)]| -> f64 {
                let num: f64 = pts
                    .iter()
                    .zip(&at)
                    .map(|(&pt, &c)| {
                        pt * axes
                            .iter()
                            .map(|&a| delta_r2(c, a))
                            .fold(f64::INFINITY, f64::min)
                            .sqrt()
                    })
                    .sum();
                num / pts.iter().sum::<f64>()
            };
            let tau21 = if parts.len() < 2 {
                0.0
            } else {
                let t1 = tau(&kt_axes(&parts, 1));
                let t2 = tau(&kt_axes(&parts, 2));
                if t1 > 0.0 { t2 / t1 } else { 0.0 }
            };
            JetImageObservables {
                pt: jet.pt2().sqrt(),
                mass,
                tau21,
            }
        })
        .collect())
}

/// W1 of the jet pT, mass and τ21 between real and generated images (same pixel size).
///
/// # Errors
/// As [`jet_image_observables`].
pub fn jet_image_w1(
    (real, real_shape): (&[f32], [usize; 3]),
    (generated, gen_shape): (&[f32], [usize; 3]),
    pixel: f64,
) -> Result<JetImageW1> {
    let a = jet_image_observables(real, real_shape, pixel)?;
    let b = jet_image_observables(generated, gen_shape, pixel)?;
    let w1 = |f: fn(&JetImageObservables) -> f64| {
        w1_distance(
            &a.iter().map(f).collect::<Vec<_>>(),
            &b.iter().map(f).collect::<Vec<_>>(),
        )
    };
    Ok(JetImageW1 {
        pt: w1(|o| o.pt)?,
        mass: w1(|o| o.mass)?,
        tau21: w1(|o| o.tau21)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image_with(pixels: &[(usize, usize, f32)]) -> Vec<f32> {
        let mut img = vec![0f32; 25 * 25];
        for &(r, c, v) in pixels {
            img[r * 25 + c] = v;
        }
        img
    }

    #[test]
    fn two_prong_mass_and_tau21() {
        // two pixels of 100 GeV separated by ΔR = 0.8 in η: m² = 2·100·100·(cosh 0.8 − 1)
        let img = image_with(&[(8, 12, 100.0), (16, 12, 100.0)]);
        let o = jet_image_observables(&img, [1, 25, 25], 0.1).unwrap()[0];
        let expected = (2.0 * 100.0 * 100.0 * (0.8f64.cosh() - 1.0)).sqrt();
        assert!((o.mass - expected).abs() < 1e-3, "{} {expected}", o.mass);
        assert!((o.pt - 200.0).abs() < 1e-3, "{}", o.pt);
        // two prongs: τ2 = 0 up to rounding (each pixel is its own axis)
        assert!(o.tau21.abs() < 1e-9, "{}", o.tau21);
        // a third soft pixel near the first prong makes τ2 > 0 but still ≪ τ1
        let img3 = image_with(&[(8, 12, 100.0), (16, 12, 100.0), (9, 12, 5.0)]);
        let o3 = jet_image_observables(&img3, [1, 25, 25], 0.1).unwrap()[0];
        assert!(o3.tau21 > 0.0 && o3.tau21 < 0.1, "{}", o3.tau21);
        // a one-prong diffuse blob has a large τ21
        let blob: Vec<(usize, usize, f32)> = (10..15)
            .flat_map(|r| (10..15).map(move |c| (r, c, 10.0)))
            .collect();
        let ob = jet_image_observables(&image_with(&blob), [1, 25, 25], 0.1).unwrap()[0];
        assert!(ob.tau21 > 0.5, "{}", ob.tau21);
        // single pixel: massless, τ21 undefined → 0
        let o1 = jet_image_observables(&image_with(&[(12, 12, 50.0)]), [1, 25, 25], 0.1).unwrap();
        assert!(o1[0].mass.abs() < 1e-6 && o1[0].tau21 == 0.0);
    }

    #[test]
    fn w1_is_zero_on_itself_and_errors_are_typed() {
        let mut imgs = image_with(&[(8, 12, 100.0), (16, 12, 100.0)]);
        imgs.extend(image_with(&[(10, 10, 120.0), (14, 14, 60.0)]));
        let w = jet_image_w1((&imgs, [2, 25, 25]), (&imgs, [2, 25, 25]), 0.1).unwrap();
        assert_eq!((w.pt, w.mass, w.tau21), (0.0, 0.0, 0.0));
        let w = jet_image_w1((&imgs, [2, 25, 25]), (&imgs[..625], [1, 25, 25]), 0.1).unwrap();
        assert!(w.mass > 0.0);
        assert!(jet_image_observables(&imgs[..10], [1, 25, 25], 0.1).is_err());
        let mut bad = imgs.clone();
        bad[3] = f32::NAN;
        assert!(jet_image_observables(&bad, [2, 25, 25], 0.1).is_err());
        assert!(jet_image_observables(&[], [0, 25, 25], 0.1).is_err());
    }
}
