"""pyarrow -> numpy read throughput of a jet Parquet file (the reference for
`cargo xtask bench data`): read the table and materialise every column as numpy arrays
shaped like hep-data's (particle features [N, P, 3], mask [N, P], jet columns [N])."""
import json
import sys
import time

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

path, repeats = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 7
times = []
for _ in range(repeats):
    t0 = time.perf_counter()
    t = pq.read_table(path)
    n = t.num_rows
    p = int(t.schema.metadata[b"hep-data.num_particles"])
    feats = np.stack([np.asarray(t[c].combine_chunks().flatten()).reshape(n, p)
                      for c in ("etarel", "phirel", "ptrel")], -1)
    mask = np.asarray(t["mask"].combine_chunks().flatten()).reshape(n, p).astype(np.float32)
    jets = {c: t[c].to_numpy() for c in ("jet_pt", "jet_eta", "jet_mass", "num_particles")}
    types = t["jet_type"].to_pylist()
    times.append(time.perf_counter() - t0)
times.sort()
print(json.dumps({"impl": f"pyarrow {pa.__version__} + numpy {np.__version__}", "jets": n,
                  "best_s": times[0], "median_s": times[repeats // 2], "repeats": repeats,
                  "threads": pa.cpu_count(), "memory_pool": pa.default_memory_pool().backend_name}))
