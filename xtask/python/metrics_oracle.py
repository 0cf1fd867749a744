"""Reference values for hep-metrics from jetnet 0.2.5 (the Python oracle).

Run through `cargo xtask fixtures metrics`, which provides the pinned venv
(xtask/python/requirements-oracle.txt). Writes one JSON file of fixtures for
crates/hep-metrics/tests/it/main.rs:

* per-jet values on a small subset of the shipped real samples (jets stored in the file):
  the 36 d<=4 EFPs, the 5 w1efp EFPs, jet masses, pairwise EMDs;
* W1 on given arrays, the Frechet distance on given moments (no randomness);
* seeded bootstrapped metrics (w1m, w1p, w1efp, fpd, kpd, cov_mmd) on the subset with
  small bootstrap sizes, and on the full samples (gluon vs gluon halves, gluon vs top) with
  jetnet's defaults.

All jetnet calls get float64 copies of the float32 data (an exact conversion): jetnet,
coffea and energyflow compute in the input dtype, and hep-metrics computes in float64.
The module-level generator of jetnet.evaluation.gen_metrics is reseeded with
default_rng(SEED) before every w1m/w1p/w1efp/cov_mmd call; fpd and kpd take their seed.
"""

import argparse
import hashlib
import json
import platform
import sys
import time
import warnings

import numpy as np
import pyarrow.parquet as pq

warnings.filterwarnings("ignore")

import energyflow  # noqa: E402
import jetnet  # noqa: E402
import jetnet.evaluation as ev  # noqa: E402
import jetnet.evaluation.gen_metrics as gm  # noqa: E402
import scipy  # noqa: E402
import wasserstein  # noqa: E402
from jetnet import utils  # noqa: E402
from scipy.stats import wasserstein_distance  # noqa: E402

SUBSET = 48  # jets of each type stored in the fixture
EMD_JETS = 16  # EMD matrix between the first EMD_JETS gluon and top jets of the subset


def load(path):
    t = pq.read_table(path)
    arr = np.stack(
        [np.asarray(t[c].combine_chunks().flatten()).reshape(-1, 30) for c in ("etarel", "phirel", "ptrel")],
        -1,
    )
    return arr.astype(np.float32)


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def flat(a):
    return [float(x) for x in np.asarray(a, dtype=np.float64).reshape(-1)]


def pair(x):
    return [float(x[0]), float(x[1])]


def bootstrapped(j1, j2, seed, w1_samples, w1_batches, cov_samples, cov_batches, fpd_kw, kpd_kw, log):
    out = {}
    t0 = time.time()
    gm.rng = np.random.default_rng(seed)
    m, s = ev.w1m(j1, j2, num_eval_samples=w1_samples, num_batches=w1_batches)
    out["w1m"] = [float(m), float(s)]
    gm.rng = np.random.default_rng(seed)
    m, s = ev.w1p(j1, j2, num_eval_samples=w1_samples, num_batches=w1_batches)
    out["w1p"] = {"mean": flat(m), "std": flat(s)}
    gm.rng = np.random.default_rng(seed)
    m, s = ev.w1efp(j1, j2, num_eval_samples=w1_samples, num_batches=w1_batches)
    out["w1efp"] = {"mean": flat(m), "std": flat(s)}
    log(f"  w1*: {time.time() - t0:.1f} s")
    t0 = time.time()
    f1 = ev.get_fpd_kpd_jet_features(j1)
    f2 = ev.get_fpd_kpd_jet_features(j2)
    log(f"  efps: {time.time() - t0:.1f} s")
    t0 = time.time()
    out["fpd"] = pair(ev.fpd(f1, f2, **fpd_kw))
    # the per-batch-size means, recomputed exactly as jetnet does, to test them separately
    X, Y = gm._normalise_features(f1, f2) if fpd_kw.get("normalise", True) else (f1, f2)
    kw = dict(min_samples=20_000, max_samples=50_000, num_batches=20, num_points=10, seed=42)
    kw.update({k: v for k, v in fpd_kw.items() if k != "normalise"})
    batches = (1 / np.linspace(1.0 / kw["min_samples"], 1.0 / kw["max_samples"], kw["num_points"])).astype("int32")
    rng = np.random.default_rng(kw["seed"])
    vals = []
    for bs in batches:
        pts = []
        for _ in range(kw["num_batches"]):
            r1 = rng.choice(len(X), size=bs)
            r2 = rng.choice(len(Y), size=bs)
            a, b = X[r1], Y[r2]
            pts.append(
                gm._calculate_frechet_distance(
                    np.mean(a, axis=0), np.cov(a, rowvar=False), np.mean(b, axis=0), np.cov(b, rowvar=False)
                )
            )
        vals.append(np.mean(pts))
    out["fpd_values"] = flat(vals)
    out["fpd_config"] = {**kw, "normalise": fpd_kw.get("normalise", True)}
    log(f"  fpd: {time.time() - t0:.1f} s")
    t0 = time.time()
    out["kpd"] = pair(ev.kpd(f1, f2, **kpd_kw))
    out["kpd_config"] = {"num_batches": 10, "batch_size": 5000, "normalise": True, "seed": 42, **kpd_kw}
    log(f"  kpd: {time.time() - t0:.1f} s")
    t0 = time.time()
    gm.rng = np.random.default_rng(seed)
    c, d = ev.cov_mmd(j1, j2, num_eval_samples=cov_samples, num_batches=cov_batches, use_tqdm=False)
    out["cov_mmd"] = [float(c), float(d)]
    log(f"  cov_mmd: {time.time() - t0:.1f} s")
    out["seed"] = seed
    out["w1_bootstrap"] = {"num_eval_samples": w1_samples, "num_batches": w1_batches}
    out["cov_mmd_config"] = {"num_eval_samples": cov_samples, "num_batches": cov_batches}
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--datasets", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--seed", type=int, default=12345)
    ap.add_argument("--skip-full", action="store_true", help="only the small-subset fixtures")
    args = ap.parse_args()

    def log(msg):
        print(msg, file=sys.stderr, flush=True)

    files = {k: f"{args.datasets}/jetnet30_{k}_20k.parquet" for k in ("g", "t")}
    g32, t32 = load(files["g"]), load(files["t"])
    g, t = g32.astype(np.float64), t32.astype(np.float64)
    fx = {
        "provenance": {
            "command": "cargo xtask fixtures metrics",
            "script": "xtask/python/metrics_oracle.py",
            "python": platform.python_version(),
            "versions": {
                "jetnet": jetnet.__version__ if hasattr(jetnet, "__version__") else "0.2.5",
                "energyflow": energyflow.__version__,
                "wasserstein": getattr(wasserstein, "__version__", "1.1.0"),
                "numpy": np.__version__,
                "scipy": scipy.__version__,
            },
            "inputs": {k: {"path": f"datasets/jetnet30_{k}_20k.parquet", "sha256": sha256(p)} for k, p in files.items()},
            "note": "jetnet called on float64 copies of the float32 data; module rng reseeded with "
            "default_rng(seed) before each w1m/w1p/w1efp/cov_mmd call",
        },
        "checksums": {
            k: {"num_jets": int(a.shape[0]), "sum_ptrel": float(a[..., 2].astype(np.float64).sum())}
            for k, a in (("g", g32), ("t", t32))
        },
    }

    # --- per-jet values on the subset -------------------------------------------------------
    sg, st = g[:SUBSET], t[:SUBSET]
    fx["subset"] = {"shape": [SUBSET, 30, 3], "g": flat(sg), "t": flat(st)}
    fx["efps_d4"] = {k: flat(ev.get_fpd_kpd_jet_features(a, efp_jobs=1)) for k, a in (("g", sg), ("t", st))}
    fx["efps_w1"] = {k: flat(utils.efps(a, efp_jobs=1)) for k, a in (("g", sg), ("t", st))}
    fx["mass"] = {k: flat(utils.jet_features(a)["mass"]) for k, a in (("g", sg), ("t", st))}
    fx["emds_g_t"] = {
        "n": EMD_JETS,
        "values": flat(energyflow.emd.emds(sg[:EMD_JETS][:, :, [2, 0, 1]], st[:EMD_JETS][:, :, [2, 0, 1]])),
    }
    log("per-jet values done")

    # --- deterministic functions on given arrays -------------------------------------------
    r = np.random.default_rng(7)
    u = np.round(r.normal(0, 1, 300), 1)
    v = np.round(r.normal(0.3, 1.2, 200), 1)
    mg, mt = np.array(fx["mass"]["g"]), np.array(fx["mass"]["t"])
    fx["w1_arrays"] = [
        {"u": flat(u), "v": flat(v), "w1": float(wasserstein_distance(u, v))},
        {"u": flat(mg), "v": flat(mt), "w1": float(wasserstein_distance(mg, mt))},
    ]
    fg = ev.get_fpd_kpd_jet_features(g[:2000])
    ft = ev.get_fpd_kpd_jet_features(t[:2000])
    fg, ft = gm._normalise_features(fg, ft)
    mu1, s1 = np.mean(fg, axis=0), np.cov(fg, rowvar=False)
    mu2, s2 = np.mean(ft, axis=0), np.cov(ft, rowvar=False)
    fx["frechet"] = {
        "mu1": flat(mu1),
        "sigma1": flat(s1),
        "mu2": flat(mu2),
        "sigma2": flat(s2),
        "fd": float(gm._calculate_frechet_distance(mu1, s1, mu2, s2)),
        "fd_self": float(gm._calculate_frechet_distance(mu1, s1, mu1, s1)),
    }
    log("arrays done")

    # --- bootstrapped metrics on the subset (small sizes) ----------------------------------
    fx["bootstrap_subset"] = bootstrapped(
        sg, st, args.seed, 500, 5, 16, 3,
        dict(min_samples=100, max_samples=300, num_batches=5),
        dict(batch_size=64, num_batches=10),
        log,
    )
    log("subset bootstrap done")

    # --- full samples ----------------------------------------------------------------------
    if not args.skip_full:
        half = len(g) // 2
        fx["full"] = {}
        for name, (a, b) in {"g_vs_g": (g[:half], g[half:]), "g_vs_t": (g, t)}.items():
            log(f"full {name}")
            fx["full"][name] = bootstrapped(
                a, b, args.seed, 50_000, 5, 100, 10,
                dict(min_samples=2_000, max_samples=5_000),
                dict(batch_size=1_000),
                log,
            )
            fx["full"][name]["sets"] = {"real": "g[:10000]" if name == "g_vs_g" else "g",
                                        "gen": "g[10000:]" if name == "g_vs_g" else "t"}
    with open(args.out, "w") as f:
        json.dump(fx, f, separators=(",", ":"))
        f.write("\n")
    log(f"wrote {args.out}")


if __name__ == "__main__":
    main()
