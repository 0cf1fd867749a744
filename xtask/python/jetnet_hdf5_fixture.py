"""Write the first 64 jets of a hep-data Parquet file as JetNet-layout HDF5 (h5py).

`particle_features [N, 30, 4]` (etarel, phirel, ptrel, mask) and `jet_features [N, 4]`
(pt, eta, mass, multiplicity before truncation), as on Zenodo records 6975118/6975117.
Two variants: float32 contiguous, and float64 chunked + gzip (exercising the reader's
filters). Used by `cargo xtask fixtures jetnet-hdf5`.
"""
import os
import sys

import h5py
import numpy as np
import pyarrow.parquet as pq

src, out = sys.argv[1], sys.argv[2]
t = pq.read_table(src).slice(0, 64)
n = t.num_rows
p = int(t.schema.metadata[b"hep-data.num_particles"])
cols = [np.asarray(t[c].combine_chunks().flatten()).reshape(n, p).astype(np.float32)
        for c in ("etarel", "phirel", "ptrel", "mask")]
pf = np.stack(cols, -1)
jf = np.stack([t["jet_pt"].to_numpy(), t["jet_eta"].to_numpy(), t["jet_mass"].to_numpy(),
               t["n_constituents"].to_numpy().astype(np.float32)], -1).astype(np.float32)
with h5py.File(os.path.join(out, "jetnet_g64_f32_contiguous.hdf5"), "w") as f:
    f.create_dataset("particle_features", data=pf)
    f.create_dataset("jet_features", data=jf)
with h5py.File(os.path.join(out, "jetnet_g64_f64_gzip.hdf5"), "w") as f:
    f.create_dataset("particle_features", data=pf.astype(np.float64), chunks=(16, p, 4),
                     compression="gzip", compression_opts=4)
    f.create_dataset("jet_features", data=jf.astype(np.float64), chunks=(16, 4), compression="gzip")
print(f"wrote 2 JetNet-layout HDF5 fixtures ({n} jets, h5py {h5py.__version__}) to {out}")
