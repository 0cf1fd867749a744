//! `cargo xtask data zdc`: synthetic, physically motivated ALICE ZDC responses.
//!
//! The real ZDC training data (Geant4 simulations of the ALICE groups) is not public, and
//! Geant4's data files cannot be downloaded here, so this is a parametric simulation. Every
//! choice is documented in `docs/zdc-generation.md`; in short, per particle:
//!
//! 1. A spectator nucleon of a Pb beam (√s_NN = 5.36 TeV, 2.68 TeV per nucleon): 75% carry the
//!    beam energy smeared by Fermi motion; 25% come from a softer component (uniform in
//!    0.3–2.68 TeV) so that the energy condition matters. Neutrons (PDG 2112, charge 0) go to
//!    ZN, protons (2212, charge +1) to ZP.
//! 2. Transverse momentum per component: Gaussian, σ = 0.18 GeV (Fermi motion), plus a 20%
//!    tail with σ = 0.9 GeV; vertex vx, vy ~ N(0, 0.01 cm), vz ~ N(0, 6 cm).
//! 3. Straight-line propagation to the calorimeter face at z = 112.5 m; protons are bent
//!    horizontally by the machine magnets, modelled as a deflection D·(2.68 TeV / E − 1) added
//!    to a fixed offset, so that beam-energy protons land on the ZP centre.
//! 4. Grids: ZN 44 × 44 fibres at 1.6 mm pitch (7.04 × 7.04 cm); ZP 56 × 30 fibres at 4 mm
//!    (22.4 × 12 cm), centred on the particles' mean impact point.
//! 5. Hadronic shower, transverse profile = core Gaussian + halo Gaussian (separable, so each
//!    fibre's share is a product of 1-D Gaussian integrals), with energy-dependent core width
//!    and core fraction; visible energy fluctuates with 100%/√E ⊕ 12%.
//! 6. Cherenkov light: 0.6 photo-electrons per visible GeV; each fibre's count is Poisson.
//! 7. Readout: fibres alternate between the four tower PMTs (even `row + col`, one tower per
//!    quadrant) and the common PMT (odd) — a checkerboard; the grid itself is stored.
//!
//! Chunks of 1000 particles, chunk `i` seeded with `seed·1000 + i`; chunks run in parallel
//! and the output does not depend on the number of threads.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result};
use clap::Args;
use hep_data::zdc::{NUM_CONDITIONS, ZdcDataset, ZdcDetector, write_zdc};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, Normal, Poisson};

/// Arguments of `data zdc`.
#[derive(Args)]
pub struct ZdcArgs {
    /// `neutron` (ZN, 44 × 44) or `proton` (ZP, 56 × 30).
    #[arg(long, default_value = "neutron")]
    detector: String,
    /// Number of responses.
    #[arg(long)]
    n: usize,
    /// Seed.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Output Parquet file.
    #[arg(long)]
    out: PathBuf,
}

/// Beam energy per nucleon, GeV.
const E_BEAM: f64 = 2680.0;
/// Distance from the interaction point to the calorimeter faces, cm.
const Z_FACE: f64 = 11_250.0;
/// Photo-electrons per visible GeV.
const YIELD: f64 = 0.6;
const NEUTRON_MASS: f64 = 0.939_565;
const PROTON_MASS: f64 = 0.938_272;

/// Geometry of one calorimeter: fibre pitch and the face centre, cm.
struct Grid {
    rows: usize,
    cols: usize,
    pitch: f64,
    x0: f64,
    y0: f64,
}

fn grid(det: ZdcDetector) -> Grid {
    let (rows, cols) = det.shape();
    match det {
        ZdcDetector::Neutron => Grid {
            rows,
            cols,
            pitch: 0.16,
            x0: 0.0,
            y0: 0.0,
        },
        ZdcDetector::Proton => Grid {
            rows,
            cols,
            pitch: 0.4,
            x0: PROTON_OFFSET,
            y0: 0.0,
        },
    }
}

/// Horizontal position of beam-energy protons at the ZP face (cm) and the magnetic
/// deflection scale D (cm).
const PROTON_OFFSET: f64 = 19.0;
const PROTON_DEFLECTION: f64 = 6.0;

fn erf(x: f64) -> f64 {
    // the Chebyshev-fitted erfc of Press et al., Numerical Recipes §6.2 (|relative error| < 1.2e-7)
    let t = 1.0 / (1.0 + 0.5 * x.abs());
    let y = 1.0
        - t * (-x * x - 1.265_512_23
            + t * (1.000_023_68
                + t * (0.374_091_96
                    + t * (0.096_784_18
                        + t * (-0.186_288_06
                            + t * (0.278_868_07
                                + t * (-1.135_203_98
                                    + t * (1.488_515_87
                                        + t * (-0.822_152_23 + t * 0.170_872_77)))))))))
            .exp();
    if x >= 0.0 { y } else { -y }
}

/// Fraction of a unit Gaussian (centre `mu`, width `sigma`) inside each of `n` bins of
/// width `pitch` starting at `lo`.
fn bin_fractions(n: usize, lo: f64, pitch: f64, mu: f64, sigma: f64) -> Vec<f64> {
    let cdf = |x: f64| 0.5 * (1.0 + erf((x - mu) / (sigma * std::f64::consts::SQRT_2)));
    (0..n)
        .map(|i| {
            let a = lo + i as f64 * pitch;
            (cdf(a + pitch) - cdf(a)).max(0.0)
        })
        .collect()
}

/// One particle and its response.
fn simulate(
    det: ZdcDetector,
    g: &Grid,
    rng: &mut StdRng,
    out: &mut [f32],
) -> [f32; NUM_CONDITIONS] {
    let neutron = det == ZdcDetector::Neutron;
    let mass = if neutron { NEUTRON_MASS } else { PROTON_MASS };
    let charge = if neutron { 0.0 } else { 1.0 };
    let energy = if rng.random::<f64>() < 0.75 {
        Normal::new(E_BEAM, 25.0).expect("valid").sample(rng)
    } else {
        rng.random_range(300.0..E_BEAM)
    };
    let sigma_pt = if rng.random::<f64>() < 0.8 { 0.18 } else { 0.9 };
    let npt = Normal::new(0.0, sigma_pt).expect("valid");
    let (px, py) = (npt.sample(rng), npt.sample(rng));
    let p = (energy * energy - mass * mass).max(0.0).sqrt();
    let pz = (p * p - px * px - py * py).max(1.0).sqrt();
    let vx = Normal::new(0.0, 0.01).expect("valid").sample(rng);
    let vy = Normal::new(0.0, 0.01).expect("valid").sample(rng);
    let vz = Normal::new(0.0, 6.0).expect("valid").sample(rng);
    let mut x = vx + px / pz * (Z_FACE - vz);
    let y = vy + py / pz * (Z_FACE - vz);
    if !neutron {
        x += PROTON_OFFSET + PROTON_DEFLECTION * (E_BEAM / p - 1.0);
    }
    // shower: visible energy, core + halo widths (cm), core fraction
    let res = (1.0 / energy.sqrt()).hypot(0.12);
    let visible = (energy * Normal::new(1.0, res).expect("valid").sample(rng)).max(0.0);
    let lne = (energy / 1000.0).ln();
    let core_w = 0.35 * (1.0 - 0.08 * lne);
    let halo_w = 0.8;
    let core_f = (0.88 + 0.03 * lne).clamp(0.5, 0.97);
    let lo_x = g.x0 - g.cols as f64 * g.pitch / 2.0;
    let lo_y = g.y0 - g.rows as f64 * g.pitch / 2.0;
    let cx = bin_fractions(g.cols, lo_x, g.pitch, x, core_w);
    let cy = bin_fractions(g.rows, lo_y, g.pitch, y, core_w);
    let hx = bin_fractions(g.cols, lo_x, g.pitch, x, halo_w);
    let hy = bin_fractions(g.rows, lo_y, g.pitch, y, halo_w);
    let photons = visible * YIELD;
    for r in 0..g.rows {
        for c in 0..g.cols {
            let share = core_f * cy[r] * cx[c] + (1.0 - core_f) * hy[r] * hx[c];
            let mu = photons * share;
            out[r * g.cols + c] = if mu < 1e-9 {
                0.0
            } else {
                Poisson::new(mu).expect("positive mean").sample(rng) as f32
            };
        }
    }
    [
        energy as f32,
        vx as f32,
        vy as f32,
        vz as f32,
        px as f32,
        py as f32,
        pz as f32,
        mass as f32,
        charge,
    ]
}

pub fn run(a: ZdcArgs) -> Result<()> {
    let det: ZdcDetector = a.detector.parse()?;
    anyhow::ensure!(a.n > 0, "--n must be positive");
    let g = grid(det);
    let px = g.rows * g.cols;
    let chunk = 1000;
    let chunks = a.n.div_ceil(chunk);
    let t0 = Instant::now();
    let parts: Vec<(Vec<f32>, Vec<f32>)> = std::thread::scope(|s| {
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let g = &g;
                s.spawn(move || {
                    (t..chunks)
                        .step_by(threads)
                        .map(|i| {
                            let n = chunk.min(a.n - i * chunk);
                            let mut rng = StdRng::seed_from_u64(a.seed * 1000 + i as u64);
                            let mut resp = vec![0f32; n * px];
                            let mut cond = Vec::with_capacity(n * NUM_CONDITIONS);
                            for k in 0..n {
                                cond.extend(simulate(
                                    det,
                                    g,
                                    &mut rng,
                                    &mut resp[k * px..(k + 1) * px],
                                ));
                            }
                            (i, resp, cond)
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let mut all: Vec<_> = handles
            .into_iter()
            .flat_map(|h| h.join().expect("generator thread"))
            .collect();
        all.sort_by_key(|p| p.0);
        all.into_iter().map(|(_, r, c)| (r, c)).collect()
    });
    let secs = t0.elapsed().as_secs_f64();
    let (mut responses, mut conditions) = (Vec::with_capacity(a.n * px), Vec::new());
    for (r, c) in parts {
        responses.extend(r);
        conditions.extend(c);
    }
    let pdg = vec![
        if det == ZdcDetector::Neutron {
            2112
        } else {
            2212
        };
        a.n
    ];
    let zeros = responses.iter().filter(|&&v| v == 0.0).count() as f64 / responses.len() as f64;
    let mean = responses.iter().map(|&v| f64::from(v)).sum::<f64>() / responses.len() as f64;
    let max = responses.iter().copied().fold(0f32, f32::max);
    let empty = responses
        .chunks_exact(px)
        .filter(|r| r.iter().all(|&v| v == 0.0))
        .count();
    let provenance = serde_json::json!({
        "kind": "SYNTHETIC ZDC-like responses (parametric simulation, not Geant4, not ALICE data)",
        "command": format!("cargo xtask data zdc --detector {det} --n {} --seed {} --out {}", a.n, a.seed, a.out.display()),
        "generator": "xtask/src/data/zdc.rs (see docs/zdc-generation.md)",
        "seed": a.seed, "n": a.n, "detector": det.name(),
        "zero_fraction": zeros, "mean_count": mean, "max_count": max, "empty_responses": empty,
    });
    let ds =
        ZdcDataset::new(det, responses, conditions, pdg)?.with_provenance(provenance.to_string());
    write_zdc(&a.out, &ds).with_context(|| format!("writing {}", a.out.display()))?;
    let size = std::fs::metadata(&a.out)?.len();
    println!(
        "wrote {} ({} {det} responses, {:.1} MB) in {secs:.2} s ({:.0} responses/s): zero pixels {:.2}%, mean count {mean:.3}, max {max}, empty responses {empty}",
        a.out.display(),
        a.n,
        size as f64 / 1e6,
        a.n as f64 / secs,
        100.0 * zeros
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gaussian_bins_sum_to_the_covered_probability() {
        let f = bin_fractions(44, -3.52, 0.16, 0.3, 0.35);
        let s: f64 = f.iter().sum();
        assert!((s - 1.0).abs() < 1e-6, "{s}");
        // a shower centred outside the face leaves little light
        let f = bin_fractions(44, -3.52, 0.16, 10.0, 0.35);
        assert!(f.iter().sum::<f64>() < 1e-6);
        assert!((erf(0.5) - 0.520_499_877_8).abs() < 2e-7);
    }

    #[test]
    fn same_seed_same_response_and_conditions_are_physical() {
        let g = grid(ZdcDetector::Neutron);
        let (mut a, mut b) = (vec![0f32; 44 * 44], vec![0f32; 44 * 44]);
        let ca = simulate(
            ZdcDetector::Neutron,
            &g,
            &mut StdRng::seed_from_u64(5),
            &mut a,
        );
        let cb = simulate(
            ZdcDetector::Neutron,
            &g,
            &mut StdRng::seed_from_u64(5),
            &mut b,
        );
        assert_eq!(a, b);
        assert_eq!(ca, cb);
        assert!(ca[0] >= 300.0 && ca[8] == 0.0 && (ca[7] - 0.9396).abs() < 1e-3);
        let p2 = ca[4].powi(2) + ca[5].powi(2) + ca[6].powi(2);
        assert!((p2 + ca[7].powi(2) - ca[0].powi(2)).abs() / ca[0].powi(2) < 1e-3);
    }
}
