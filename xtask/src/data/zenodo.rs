//! `cargo xtask data jetnet-zenodo`: the real JetNet HDF5 files from Zenodo, md5-checked,
//! converted to hep-data Parquet.

use anyhow::Result;
use clap::Args;

/// Arguments of `data jetnet-zenodo`.
#[derive(Args)]
pub struct ZenodoArgs {}

pub fn run(_a: ZenodoArgs) -> Result<()> {
    anyhow::bail!("not yet")
}
