"""Times the jetnet 0.2.5 metric suite for `cargo xtask bench metrics` and prints JSON.

Same inputs as hep-metrics' `suite` example: both Parquet samples cycled to N jets
(jet i = input jet i mod len), float64 copies of the float32 data, module rng reseeded
with default_rng(SEED) before each w1m/w1p/w1efp/cov_mmd call. Wall times exclude imports.
"""

import argparse
import json
import sys
import time
import warnings

import numpy as np
import pyarrow.parquet as pq

warnings.filterwarnings("ignore")

import jetnet.evaluation as ev  # noqa: E402
import jetnet.evaluation.gen_metrics as gm  # noqa: E402


def load(path, n):
    t = pq.read_table(path)
    a = np.stack(
        [np.asarray(t[c].combine_chunks().flatten()).reshape(-1, 30) for c in ("etarel", "phirel", "ptrel")], -1
    ).astype(np.float32)
    return a[np.arange(n) % len(a)].astype(np.float64)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("real")
    ap.add_argument("gen")
    ap.add_argument("--n", type=int, default=50_000)
    ap.add_argument("--seed", type=int, default=12345)
    args = ap.parse_args()
    r, g = load(args.real, args.n), load(args.gen, args.n)
    out = {}

    def timed(name, f):
        t0 = time.perf_counter()
        v = f()
        s = time.perf_counter() - t0
        print(f"{name:>10}: {s:8.2f} s", file=sys.stderr, flush=True)
        out[name] = {"seconds": s, "value": v}
        return v

    def reseed():
        gm.rng = np.random.default_rng(args.seed)

    reseed()
    timed("w1m", lambda: [float(x) for x in ev.w1m(r, g)])
    reseed()
    timed("w1p", lambda: [float(x) for x in ev.w1p(r, g)[0]])
    reseed()
    timed("w1efp", lambda: [float(x) for x in ev.w1efp(r, g)[0]])
    feats = {}
    timed("efps36", lambda: feats.update(r=ev.get_fpd_kpd_jet_features(r), g=ev.get_fpd_kpd_jet_features(g)))
    timed("fpd", lambda: [float(x) for x in ev.fpd(feats["r"], feats["g"])])
    timed("kpd", lambda: [float(x) for x in ev.kpd(feats["r"], feats["g"])])
    reseed()
    timed("cov_mmd", lambda: [float(x) for x in ev.cov_mmd(r, g, use_tqdm=False)])
    print(json.dumps(out))


if __name__ == "__main__":
    main()
