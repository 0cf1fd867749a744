"""Interoperability check driven by `cargo xtask data interop`.

Step 1 (`read DIR`): read DIR/ours.parquet (written by hep-data) with pyarrow, pandas and
polars and compare every value bit for bit with the reference arrays DIR/ref_*.npy that
hep-data wrote from the same dataset. Step 2 (`write DIR`): write DIR/theirs_pyarrow.parquet
(pyarrow defaults: snappy, dictionary, fixed_size_list) and DIR/theirs_pandas.parquet
(pandas: variable-length lists, int64) from the reference arrays, for hep-data to read back.
Prints one JSON line of results.
"""
import json
import os
import sys

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

FLOAT_LISTS = ("etarel", "phirel", "ptrel")


def ref(d, name):
    return np.load(os.path.join(d, f"ref_{name}.npy"))


def same(a, b):
    a = np.asarray(a)
    b = np.asarray(b)
    if a.shape != b.shape:
        return False
    if a.dtype.kind == "f":
        return bool(np.array_equal(a.view(np.uint32 if a.itemsize == 4 else np.uint64),
                                   b.astype(a.dtype).view(np.uint32 if a.itemsize == 4 else np.uint64)))
    return bool(np.array_equal(a, b))


def read(d):
    path = os.path.join(d, "ours.parquet")
    t = pq.read_table(path)
    n = t.num_rows
    p = int(t.schema.metadata[b"hep-data.num_particles"])
    out = {"rows": n, "P": p, "metadata_keys": sorted(k.decode() for k in t.schema.metadata)}
    checks = {}
    for c in FLOAT_LISTS:
        arr = np.asarray(t[c].combine_chunks().flatten()).reshape(n, p)
        checks[f"pyarrow:{c}"] = same(arr, ref(d, c))
    checks["pyarrow:mask"] = same(np.asarray(t["mask"].combine_chunks().flatten()).reshape(n, p), ref(d, "mask"))
    for c in ("jet_pt", "jet_eta", "jet_mass", "num_particles"):
        checks[f"pyarrow:{c}"] = same(t[c].to_numpy(), ref(d, c))
    checks["pyarrow:jet_type"] = t["jet_type"].to_pylist() == ["gqtwz"[int(x)] for x in ref(d, "jet_type_codes")]
    df = pd.read_parquet(path)
    checks["pandas:ptrel"] = same(np.stack(df["ptrel"].to_numpy()), ref(d, "ptrel"))
    checks["pandas:jet_mass"] = same(df["jet_mass"].to_numpy(), ref(d, "jet_mass"))
    pf = pl.read_parquet(path)
    checks["polars:etarel"] = same(pf["etarel"].to_numpy(), ref(d, "etarel"))
    checks["polars:num_particles"] = same(pf["num_particles"].to_numpy(), ref(d, "num_particles"))
    out["checks"] = checks
    out["ok"] = all(checks.values())
    return out


def write(d):
    n, p = ref(d, "etarel").shape
    cols = {}
    for c in FLOAT_LISTS:
        cols[c] = pa.FixedSizeListArray.from_arrays(pa.array(ref(d, c).reshape(-1), pa.float32()), p)
    cols["mask"] = pa.FixedSizeListArray.from_arrays(pa.array(ref(d, "mask").reshape(-1), pa.uint8()), p)
    table = pa.table({
        "jet_type": pa.array(["gqtwz"[int(x)] for x in ref(d, "jet_type_codes")]),
        "jet_pt": pa.array(ref(d, "jet_pt"), pa.float32()),
        "jet_eta": pa.array(ref(d, "jet_eta"), pa.float32()),
        "jet_mass": pa.array(ref(d, "jet_mass"), pa.float32()),
        "num_particles": pa.array(ref(d, "num_particles"), pa.int32()),
        **cols,
    })
    pq.write_table(table, os.path.join(d, "theirs_pyarrow.parquet"))
    df = pd.DataFrame({
        "jet_type": ["gqtwz"[int(x)] for x in ref(d, "jet_type_codes")],
        "jet_pt": ref(d, "jet_pt"),
        "jet_eta": ref(d, "jet_eta"),
        "jet_mass": ref(d, "jet_mass"),
        "num_particles": ref(d, "num_particles").astype(np.int64),
        **{c: list(ref(d, c)) for c in FLOAT_LISTS},
        "mask": list(ref(d, "mask")),
    })
    df.to_parquet(os.path.join(d, "theirs_pandas.parquet"), index=False)
    return {"written": ["theirs_pyarrow.parquet", "theirs_pandas.parquet"], "rows": int(n)}


if __name__ == "__main__":
    mode, d = sys.argv[1], sys.argv[2]
    print(json.dumps(read(d) if mode == "read" else write(d)))
