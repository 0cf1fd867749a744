//! Histogram plots (PNG) with plotters and an embedded DejaVu Sans font.

use std::path::Path;

use anyhow::{Result, anyhow};
use plotters::prelude::*;
use plotters::style::{FontStyle, register_font};

static FONT: &[u8] = include_bytes!("../assets/DejaVuSans.ttf");

fn ensure_font() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // The font is compiled in, so registration cannot fail at run time.
        let _ = register_font("sans-serif", FontStyle::Normal, FONT);
    });
}

const COLORS: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(214, 39, 40),
    RGBColor(44, 160, 44),
    RGBColor(148, 103, 189),
    RGBColor(255, 127, 14),
    RGBColor(23, 190, 207),
];

/// Normalised step histograms of several samples on common bins (1st–99.9th percentile
/// of the pooled values), written as a PNG.
pub fn histograms(
    path: &Path,
    title: &str,
    x_label: &str,
    series: &[(String, Vec<f64>)],
    bins: usize,
) -> Result<()> {
    ensure_font();
    let mut pooled: Vec<f64> = series.iter().flat_map(|(_, v)| v.iter().copied()).collect();
    if pooled.is_empty() {
        return Err(anyhow!("nothing to plot"));
    }
    pooled.sort_by(f64::total_cmp);
    let lo = pooled[(pooled.len() as f64 * 0.001) as usize];
    let hi = pooled[((pooled.len() as f64 * 0.999) as usize).min(pooled.len() - 1)];
    let (lo, hi) = if hi > lo {
        (lo, hi)
    } else {
        (lo - 0.5, lo + 0.5)
    };
    let width = (hi - lo) / bins as f64;
    let hists: Vec<Vec<f64>> = series
        .iter()
        .map(|(_, v)| {
            let mut h = vec![0f64; bins];
            for &x in v {
                if (lo..=hi).contains(&x) {
                    h[(((x - lo) / width) as usize).min(bins - 1)] += 1.0;
                }
            }
            let n = v.len().max(1) as f64;
            h.iter_mut().for_each(|c| *c /= n);
            h
        })
        .collect();
    let ymax = hists.iter().flatten().fold(0f64, |a, &b| a.max(b)) * 1.15;
    let root = BitMapBackend::new(path, (900, 600)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| anyhow!("{e}"))?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 28))
        .margin(15)
        .x_label_area_size(50)
        .y_label_area_size(70)
        .build_cartesian_2d(lo..hi, 0f64..ymax.max(1e-9))
        .map_err(|e| anyhow!("{e}"))?;
    chart
        .configure_mesh()
        .x_desc(x_label)
        .y_desc("fraction of jets per bin")
        .label_style(("sans-serif", 16))
        .draw()
        .map_err(|e| anyhow!("{e}"))?;
    for (i, ((name, _), h)) in series.iter().zip(&hists).enumerate() {
        let color = COLORS[i % COLORS.len()];
        let steps = h.iter().enumerate().flat_map(|(b, &c)| {
            let x0 = lo + b as f64 * width;
            [(x0, c), (x0 + width, c)]
        });
        chart
            .draw_series(LineSeries::new(steps, color.stroke_width(2)))
            .map_err(|e| anyhow!("{e}"))?
            .label(name.as_str())
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
            });
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .label_font(("sans-serif", 16))
        .draw()
        .map_err(|e| anyhow!("{e}"))?;
    root.present().map_err(|e| anyhow!("{e}"))?;
    Ok(())
}

/// The mean of images `[N, px]`, one pass over the data.
pub fn mean_image(images: &[f32], px: usize) -> Vec<f32> {
    let mut m = vec![0f32; px];
    for img in images.chunks_exact(px) {
        m.iter_mut().zip(img).for_each(|(a, &v)| *a += v);
    }
    let n = (images.len() / px).max(1) as f32;
    m.iter_mut().for_each(|a| *a /= n);
    m
}

/// One image panel: title, values `[H·W]`, `H`, `W`.
pub type Panel = (String, Vec<f32>, usize, usize);

/// Images side by side (e.g. calorimeter responses) on a shared `log(1 + x)` colour scale
/// (white = 0), written as a PNG.
pub fn heatmaps(path: &Path, title: &str, panels: &[Panel]) -> Result<()> {
    ensure_font();
    if panels.is_empty() {
        return Err(anyhow!("nothing to plot"));
    }
    let cell = 6u32;
    let (h, w) = (panels[0].2, panels[0].3);
    let pw = w as u32 * cell + 20;
    let width = pw * panels.len() as u32 + 20;
    let height = h as u32 * cell + 90;
    let root = BitMapBackend::new(path, (width, height)).into_drawing_area();
    root.fill(&WHITE)?;
    root.draw(&Text::new(
        title.to_string(),
        (10, 8),
        ("sans-serif", 18).into_font(),
    ))?;
    let vmax = panels
        .iter()
        .flat_map(|p| p.1.iter())
        .fold(0f32, |m, &v| m.max(v.max(0.0).ln_1p()))
        .max(1e-6);
    for (k, (name, v, ph, pwid)) in panels.iter().enumerate() {
        if (*ph, *pwid) != (h, w) || v.len() != h * w {
            return Err(anyhow!("panel {name}: shape differs from the first panel"));
        }
        let x0 = 10 + k as i32 * pw as i32;
        let y0 = 60;
        root.draw(&Text::new(
            name.clone(),
            (x0, 36),
            ("sans-serif", 14).into_font(),
        ))?;
        for r in 0..h {
            for c in 0..w {
                let t = v[r * w + c].max(0.0).ln_1p() / vmax;
                let shade = (255.0 * (1.0 - t)) as u8;
                let color = RGBColor(shade, shade, 255u8.saturating_sub((t * 80.0) as u8));
                let (x, y) = (x0 + (c as u32 * cell) as i32, y0 + (r as u32 * cell) as i32);
                root.draw(&Rectangle::new(
                    [(x, y), (x + cell as i32, y + cell as i32)],
                    color.filled(),
                ))?;
            }
        }
    }
    root.present()?;
    Ok(())
}
