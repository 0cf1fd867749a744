//! JetNet's train/valid/test split, reproducing `jetnet` 0.2.5 bit for bit.
//!
//! jetnet concatenates the requested jet types, draws one
//! `numpy.random.default_rng(seed).permutation(N)` and cuts it at
//! `(cumsum([0, f_train, f_valid, f_test]) * N).astype(int)`:
//!
//! ```text
//! cuts = trunc([0, f0, f0+f1, f0+f1+f2] · N)      (float64 cumulative sum, truncation)
//! split i = perm[cuts[i] .. cuts[i+1]]            "all" = perm[0 .. N]
//! ```
//! Default: fractions 0.7 / 0.15 / 0.15, seed 42. With all five JetNet30 types (880,000
//! jets) the train split is perm[0..616000].

use crate::error::{Error, Result};
use crate::jets::JetDataset;
use crate::rng::NumpyRng;

/// Which part of the split.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Split {
    /// First part (70 % by default).
    Train,
    /// Second part (15 %).
    Valid,
    /// Third part (15 %).
    Test,
    /// Everything, permuted.
    All,
}

impl std::str::FromStr for Split {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "train" => Ok(Split::Train),
            "valid" => Ok(Split::Valid),
            "test" => Ok(Split::Test),
            "all" => Ok(Split::All),
            _ => Err(Error::Param {
                name: "split",
                reason: format!("unknown split {s:?}, expected train, valid, test or all"),
            }),
        }
    }
}

/// Split fractions and seed (jetnet's `split_fraction` and `seed`).
#[derive(Debug, Clone, PartialEq)]
pub struct SplitSpec {
    /// Fractions of train, valid, test.
    pub fractions: [f64; 3],
    /// Seed of `default_rng`.
    pub seed: u64,
}

impl Default for SplitSpec {
    fn default() -> Self {
        Self {
            fractions: [0.7, 0.15, 0.15],
            seed: 42,
        }
    }
}

impl SplitSpec {
    /// Check the fractions: each in `[0, 1]`, summing to at most 1.
    ///
    /// # Errors
    /// [`Error::Param`].
    pub fn check(&self) -> Result<()> {
        let sum: f64 = self.fractions.iter().sum();
        if self.fractions.iter().any(|f| !(0.0..=1.0).contains(f)) || sum > 1.0 + 1e-9 {
            return Err(Error::Param {
                name: "split_fraction",
                reason: format!(
                    "{:?}: each must be in [0, 1] and the sum at most 1",
                    self.fractions
                ),
            });
        }
        Ok(())
    }

    /// The cut points `[0, c1, c2, c3]` for `len` jets, as numpy computes them.
    pub fn cuts(&self, len: usize) -> [usize; 4] {
        let mut acc = 0f64;
        let mut cuts = [0usize; 4];
        for (i, f) in self.fractions.iter().enumerate() {
            acc += f;
            cuts[i + 1] = (acc * len as f64) as usize;
        }
        cuts
    }

    /// The jet indices of `split` for a dataset of `len` jets.
    ///
    /// # Errors
    /// [`Error::Param`] for invalid fractions.
    pub fn indices(&self, len: usize, split: Split) -> Result<Vec<usize>> {
        self.check()?;
        let perm = NumpyRng::new(self.seed).permutation(len);
        let cuts = self.cuts(len);
        let (l, r) = match split {
            Split::Train => (cuts[0], cuts[1]),
            Split::Valid => (cuts[1], cuts[2]),
            Split::Test => (cuts[2], cuts[3]),
            Split::All => (0, len),
        };
        Ok(perm[l..r].to_vec())
    }
}

impl JetDataset {
    /// The jets of `split`, in permuted order, exactly as `jetnet.datasets.JetNet` selects
    /// them for the same concatenated input.
    ///
    /// # Errors
    /// [`Error::Param`] for invalid fractions.
    pub fn split(&self, split: Split, spec: &SplitSpec) -> Result<JetDataset> {
        self.select(&spec.indices(self.len(), split)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cuts_match_jetnet() {
        let s = SplitSpec::default();
        assert_eq!(s.cuts(880_000), [0, 616_000, 748_000, 880_000]);
        // jetnet tests: g+q train = int(0.7 * 347931)
        assert_eq!(s.cuts(177_252 + 170_679)[1], (0.7f64 * 347_931.0) as usize);
        // tutorial: g+t train has 248637 jets
        assert_eq!(s.cuts(177_252 + 177_945)[1], 248_637);
    }

    #[test]
    fn splits_partition_the_permutation() {
        let s = SplitSpec::default();
        let mut all: Vec<usize> = [Split::Train, Split::Valid, Split::Test]
            .iter()
            .flat_map(|&sp| s.indices(1000, sp).unwrap())
            .collect();
        assert_eq!(s.indices(1000, Split::Train).unwrap().len(), 700);
        assert_eq!(all.len(), 1000);
        all.sort_unstable();
        assert_eq!(all, (0..1000).collect::<Vec<_>>());
        assert_eq!(
            s.indices(1000, Split::All).unwrap()[..700],
            s.indices(1000, Split::Train).unwrap()[..]
        );
    }

    #[test]
    fn bad_fractions_are_rejected() {
        let s = SplitSpec {
            fractions: [0.8, 0.3, 0.1],
            seed: 1,
        };
        assert!(matches!(
            s.indices(10, Split::Train),
            Err(Error::Param { .. })
        ));
        assert!("bogus".parse::<Split>().is_err());
    }
}
