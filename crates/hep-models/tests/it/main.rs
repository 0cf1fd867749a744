//! Integration tests of hep-models against the published reference models.

mod mpgan_golden;
mod particlenet_reference;
