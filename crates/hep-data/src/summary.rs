//! Per-feature summaries of a [`JetDataset`]: counts, mean, standard deviation, quantiles.

use crate::jets::{JetDataset, PARTICLE_FEATURES};

/// Summary statistics of one feature.
#[derive(Debug, Clone, PartialEq)]
pub struct FeatureSummary {
    /// Feature name (`etarel`, …, `jet_mass`, `num_particles`).
    pub name: &'static str,
    /// Number of values (real particles for particle features, jets otherwise).
    pub count: usize,
    /// Mean.
    pub mean: f64,
    /// Standard deviation (ddof 0).
    pub std: f64,
    /// Minimum.
    pub min: f64,
    /// Median (lower middle value).
    pub median: f64,
    /// Maximum.
    pub max: f64,
}

impl FeatureSummary {
    /// Summarise `values` (all finite, as a validated dataset guarantees).
    pub fn of(name: &'static str, mut values: Vec<f64>) -> Self {
        let count = values.len();
        if count == 0 {
            return Self {
                name,
                count,
                mean: f64::NAN,
                std: f64::NAN,
                min: f64::NAN,
                median: f64::NAN,
                max: f64::NAN,
            };
        }
        let mean = values.iter().sum::<f64>() / count as f64;
        let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / count as f64;
        values.sort_by(f64::total_cmp);
        Self {
            name,
            count,
            mean,
            std: var.sqrt(),
            min: values[0],
            median: values[(count - 1) / 2],
            max: values[count - 1],
        }
    }
}

/// Summaries of the particle features (real particles only), the jet features and the
/// multiplicity.
pub fn describe(ds: &JetDataset) -> Vec<FeatureSummary> {
    let mut out = Vec::new();
    for (k, name) in PARTICLE_FEATURES.iter().enumerate() {
        let vals = ds
            .particles()
            .chunks_exact(3)
            .zip(ds.mask())
            .filter(|(_, m)| **m == 1.0)
            .map(|(f, _)| f64::from(f[k]))
            .collect();
        out.push(FeatureSummary::of(name, vals));
    }
    let j = ds.jets();
    let f = |v: &[f32]| v.iter().map(|&x| f64::from(x)).collect::<Vec<_>>();
    out.push(FeatureSummary::of("jet_pt", f(&j.pt)));
    out.push(FeatureSummary::of("jet_eta", f(&j.eta)));
    out.push(FeatureSummary::of("jet_mass", f(&j.mass)));
    out.push(FeatureSummary::of(
        "num_particles",
        j.num_particles.iter().map(|&n| f64::from(n)).collect(),
    ));
    out
}

/// The summaries as an aligned text table.
pub fn format_table(rows: &[FeatureSummary]) -> String {
    let mut s = format!(
        "{:<14} {:>9} {:>12} {:>12} {:>12} {:>12} {:>12}\n",
        "feature", "count", "mean", "std", "min", "median", "max"
    );
    for r in rows {
        s.push_str(&format!(
            "{:<14} {:>9} {:>12.5} {:>12.5} {:>12.5} {:>12.5} {:>12.5}\n",
            r.name, r.count, r.mean, r.std, r.min, r.median, r.max
        ));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_of_known_values() {
        let s = FeatureSummary::of("x", vec![3.0, 1.0, 2.0, 6.0]);
        assert_eq!(
            (s.count, s.mean, s.min, s.median, s.max),
            (4, 3.0, 1.0, 2.0, 6.0)
        );
        assert!((s.std - 1.8708286933869707).abs() < 1e-12);
        assert!(FeatureSummary::of("e", vec![]).mean.is_nan());
    }

    #[test]
    fn describe_counts_real_particles_only() {
        let (p, m, j) = crate::jets::tests::sample();
        let ds = JetDataset::try_new(3, p, m, j).unwrap();
        let d = describe(&ds);
        assert_eq!(d[0].name, "etarel");
        assert_eq!(d[0].count, 3);
        assert!((d[2].mean - 0.6).abs() < 1e-7); // ptrel of 0.6, 0.3, 0.9
        assert_eq!(d.last().unwrap().mean, 1.5);
        assert!(format_table(&d).contains("jet_mass"));
    }
}
