//! The JetNet evaluation suite in Rust, in numerical parity with `jetnet` 0.2.5.
//!
//! Every metric takes plain slices with explicit shapes ([`JetsView`] for `[N, P, F]`
//! particle clouds in JetNet feature order `(η_rel, φ_rel, pT_rel, …)`, [`FeaturesView`]
//! for `[N, D]` feature matrices), so samples can come from anywhere: files, a model,
//! or Python.
//!
//! | metric | function | reference |
//! |---|---|---|
//! | 1-D Wasserstein-1 | [`wasserstein::w1_distance`] | `scipy.stats.wasserstein_distance` |
//! | W1 of jet mass / particle features / EFPs | [`wasserstein::w1m`], [`wasserstein::w1p`], [`wasserstein::w1efp`] | `jetnet.evaluation.w1m/w1p/w1efp` |
//! | energy-flow polynomials | [`efp::efps`] | `energyflow.EFPSet` (hadr, β = 1, κ = 1, unnormalised) |
//! | Fréchet ParticleNet distance | [`fpnd::fpnd`] | `jetnet.evaluation.fpnd` (weights and real statistics from the 0.2.5 wheel) |
//! | Fréchet physics distance | [`frechet::fpd`] | `jetnet.evaluation.fpd` |
//! | kernel physics distance | [`kpd::kpd`] | `jetnet.evaluation.kpd` |
//! | energy mover's distance, coverage, MMD | [`emd::emd`], [`emd::cov_mmd`] | `energyflow.emd.emds` / `wasserstein.PairwiseEMD`, `jetnet.evaluation.cov_mmd` |
//! | muon isolation, sparsity | [`images::isolation`], [`images::sparsity`] | Eq. 3 of the decoupled-model paper |
//! | jet-image pT, mass, τ21 | [`jet_images::jet_image_observables`], [`jet_images::jet_image_w1`] | LAGAN's image observables |
//! | ZDC channel sums | [`zdc::channel_sums`], [`zdc::channel_w1`] | the ZDC slides |
//! | precision/recall, density/coverage | [`prdc::prdc`] | Kynkäänniemi et al. 2019; Naeem et al. 2020 |
//!
//! Bootstrap sampling uses [`hep_data::rng::NumpyRng`], a bit-exact port of numpy's
//! `default_rng(seed)`, and draws indices in exactly jetnet's order, so that given the same
//! seed the numbers equal jetnet's up to floating-point summation order.
//!
//! ## Parity with jetnet
//! `tests/it/main.rs` compares against fixtures produced by `cargo xtask fixtures metrics`
//! (jetnet 0.2.5, energyflow 1.4.0, scipy 1.17.1 on the shipped gluon/top samples): per-jet
//! EFPs, jet masses, EMDs, W1 and the Fréchet distance agree to ≤ 2e-8 relative (most to
//! ~1e-15), and the seeded w1m, w1p, w1efp, fpd, kpd and cov/mmd to ≤ 1e-6 relative (FPD's
//! standard error to ≤ 1e-5, because curve_fit's finite-difference Jacobian amplifies
//! rounding). jetnet computes in the input dtype; the fixtures call it on float64 copies of
//! the float32 data, which is what these f64 implementations match.
//!
//! ## References
//! * R. Kansal et al., *Particle Cloud Generation with Message Passing Generative Adversarial
//!   Networks*, NeurIPS 2021, arXiv:2106.11535 (W1M, W1P, W1EFP, COV, MMD).
//! * R. Kansal et al., *Evaluating generative models in high energy physics*, PRD 107 (2023)
//!   076017, arXiv:2211.10295 (FPD, KPD).
//! * P. T. Komiske, E. M. Metodiev, J. Thaler, *Energy flow polynomials*, JHEP 04 (2018) 013,
//!   arXiv:1712.07124; *The metric space of collider events*, PRL 123 (2019) 041801,
//!   arXiv:1902.02346.
#![warn(missing_docs)]

/// `with_*` setters of a config struct: `with_setters!(Config { /// doc\n with_x(x: T) })`
/// expands to `pub fn with_x(mut self, x: T) -> Self { self.x = x; self }`.
macro_rules! with_setters {
    ($ty:ty { $( $(#[$doc:meta])* $setter:ident($field:ident: $t:ty) ),* $(,)? }) => {
        impl $ty {
            $(
                $(#[$doc])*
                pub fn $setter(mut self, $field: $t) -> Self {
                    self.$field = $field;
                    self
                }
            )*
        }
    };
}

mod error;
mod linalg;
mod numpy;
mod view;

pub mod efp;
pub mod emd;
pub mod fpnd;
pub mod frechet;
pub mod images;
pub mod jet_images;
pub mod kpd;
pub mod prdc;
mod tiles;
pub mod wasserstein;
pub mod zdc;

pub use error::{Error, Result};
pub use hep_data::rng::NumpyRng;
pub use view::{FeaturesView, JetsView};

/// A metric value with its uncertainty, as jetnet reports it.
///
/// What `error` means depends on the metric: the standard deviation (ddof 0) over bootstrap
/// batches for the W1 metrics, the standard error of the fitted intercept for FPD, half the
/// 16.275–83.725 % inter-quantile range for KPD.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Estimate {
    /// The central value.
    pub value: f64,
    /// Its uncertainty.
    pub error: f64,
}
