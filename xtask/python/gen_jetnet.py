#!/usr/bin/env python3
"""Generate JetNet-format jets (g, q, t, w, z) locally with Pythia 8 + FastJet.

Driven by `cargo xtask data jetnet`, which owns the venv, converts the arrays
written here (.npy + meta.json in --out-dir) to hep-data Parquet and validates them.

Particle-level (no detector simulation), 13 TeV pp, hard-process pT window
around 1 TeV, anti-kT R=0.8, up to 30 highest-pT constituents, zero padded.

Output layout (mirrors the JetNet HDF5 arrays):
  particle_features [N, 30, 4] float32 : etarel, phirel, ptrel, mask
  jet_features      [N, 4]     float32 : pt, eta, mass, num_particles (<=30)
plus extras: jet_phi, n_constituents (uncapped), parton_pdgid.

Parquet layout: particle_features = fixed_size_list<float32>[120] (row-major
30x4), jet_features = fixed_size_list<float32>[4], extras as scalar columns.

Requires: pip install "pythia8mc==8.317.2" fastjet numpy awkward pyarrow
  (pythia8mc 8.318.0 is sdist-only on PyPI at time of writing: pin 8.317.2.)

Example: python gen_jetnet.py --type g --n 10000 --out g.parquet --workers 2
"""
import argparse
import json
import os
import sys
import time

import numpy as np

from pythia_common import chunk_shares, kin, make_pythia, map_chunks, wrap

# Hard processes per jet type, and which 2->2 outgoing partons (event record
# entries 5 and 6) count as the "parton of interest" for matching.
QUARK_DECAYS = "1 2 3 4 5"
PROCESSES = {
    "g": dict(settings=["HardQCD:gg2gg = on", "HardQCD:qqbar2gg = on"],
              target_ids={21}),
    "q": dict(settings=["HardQCD:qq2qq = on", "HardQCD:qqbar2qqbarNew = on",
                        "HardQCD:qg2qg = on"],
              target_ids={1, 2, 3}),  # light quarks u, d, s (+antiquarks)
    "t": dict(settings=["Top:gg2ttbar = on", "Top:qqbar2ttbar = on",
                        "24:onMode = off", f"24:onIfAny = {QUARK_DECAYS}"],
              target_ids={6}),
    "w": dict(settings=["WeakDoubleBoson:ffbar2WW = on",
                        "24:onMode = off", f"24:onIfAny = {QUARK_DECAYS}"],
              target_ids={24}),
    "z": dict(settings=["WeakDoubleBoson:ffbar2gmZgmZ = on", "WeakZ0:gmZmode = 2",
                        "23:onMode = off", f"23:onIfAny = {QUARK_DECAYS}"],
              target_ids={23}),
}
NEUTRINOS = (12, 14, 16)


def worker(args):
    (jet_type, n_jets, seed, cfg, chunk) = args
    import awkward as ak
    import fastjet

    t_start = time.time()
    p, settings = make_pythia(
        [f"PhaseSpace:pTHatMin = {cfg['pthat_min']}", f"PhaseSpace:pTHatMax = {cfg['pthat_max']}"]
        + PROCESSES[jet_type]["settings"] + list(cfg.get("extra", ())), seed)
    jd = fastjet.JetDefinition(fastjet.antikt_algorithm, cfg["R"])
    npart = cfg["npart"]
    tids = PROCESSES[jet_type]["target_ids"]
    pf = np.zeros((n_jets, npart, 4), np.float32)
    jf = np.zeros((n_jets, 4), np.float32)
    jphi = np.zeros(n_jets, np.float32)
    ncon = np.zeros(n_jets, np.int16)
    pid = np.zeros(n_jets, np.int16)
    k = 0
    n_events = 0  # generated
    n_used = 0    # examined (excludes the unused tail of the last batch)
    t_init = time.time() - t_start
    t0 = time.time()
    c0 = time.process_time()
    while k < n_jets:
        nb = cfg["batch"]
        if n_used > 0:  # shrink the last batches to avoid generating unused events
            eff = max(k / n_used, 0.05)
            nb = min(nb, max(5, int((n_jets - k) / eff * 1.15) + 2))
        ev = p.nextBatch(nb)
        n_events += len(ev)
        prt = ev.prt
        aid = abs(prt.id)
        sel = (prt.status > 0) & (aid != 12) & (aid != 14) & (aid != 16)
        if cfg["max_abs_eta_particles"] > 0:  # pure speed cut; keeps all jet constituents
            pt_ = np.hypot(prt.p.px, prt.p.py)
            sel = sel & (abs(np.arcsinh(prt.p.pz / (pt_ + 1e-12))) < cfg["max_abs_eta_particles"])
        if cfg["min_particle_pt"] > 0:  # optional crude detector threshold
            sel = sel & (np.hypot(prt.p.px, prt.p.py) > cfg["min_particle_pt"])
        fs = prt[sel]
        vec = ak.zip({"px": fs.p.px, "py": fs.p.py, "pz": fs.p.pz, "E": fs.p.e})
        cs = fastjet.ClusterSequence(vec, jd)
        jets = cs.inclusive_jets(cfg["jet_ptmin_cluster"])
        cons = cs.constituents(cfg["jet_ptmin_cluster"])
        hard = prt[:, 5:7]  # 2->2 outgoing partons / resonances
        hid = ak.to_numpy(hard.id)
        hpx, hpy, hpz, he = (ak.to_numpy(hard.p.px), ak.to_numpy(hard.p.py),
                             ak.to_numpy(hard.p.pz), ak.to_numpy(hard.p.e))
        _, heta, hphi, _ = kin(hpx, hpy, hpz, he)
        for i in range(len(ev)):
            if k >= n_jets:
                break
            n_used += 1
            J = jets[i]
            if len(J) == 0:
                continue
            jpx, jpy, jpz, je = (ak.to_numpy(J.px), ak.to_numpy(J.py),
                                 ak.to_numpy(J.pz), ak.to_numpy(J.E))
            jpt, jeta, jph, jm = kin(jpx, jpy, jpz, je)
            order = np.argsort(-jpt)[: cfg["consider_leading"]]
            taken = 0
            for j in order:
                if taken >= cfg["jets_per_event"] or k >= n_jets:
                    break
                if not (cfg["ptmin"] <= jpt[j] <= cfg["ptmax"] and abs(jeta[j]) < cfg["etamax"]):
                    continue
                dr = np.hypot(heta[i] - jeta[j], wrap(hphi[i] - jph[j]))
                b = int(np.argmin(dr))
                if dr[b] > cfg["R"] or abs(int(hid[i, b])) not in tids:
                    continue
                C = cons[i][j]
                cpx, cpy, cpz, ce = (ak.to_numpy(C.px), ak.to_numpy(C.py),
                                     ak.to_numpy(C.pz), ak.to_numpy(C.E))
                cpt, ceta, cph, _ = kin(cpx, cpy, cpz, ce)
                o = np.argsort(-cpt)[:npart]
                n = len(o)
                pf[k, :n, 0] = ceta[o] - jeta[j]
                pf[k, :n, 1] = wrap(cph[o] - jph[j])
                pf[k, :n, 2] = cpt[o] / jpt[j]
                pf[k, :n, 3] = 1.0
                jf[k] = (jpt[j], jeta[j], jm[j], n)
                jphi[k] = jph[j]
                ncon[k] = len(cpt)
                pid[k] = int(hid[i, b])
                k += 1
                taken += 1
                if k % max(1, n_jets // 4) == 0 or k == n_jets:
                    print(f"[chunk {chunk}] {k}/{n_jets} jets, {n_events} events, "
                          f"{time.process_time() - c0:.1f} CPU-s", file=sys.stderr, flush=True)
    return dict(pf=pf, jf=jf, jet_phi=jphi, n_constituents=ncon, parton_pdgid=pid,
                n_events=n_events, n_used=n_used, seconds=time.time() - t0,
                cpu_seconds=time.process_time() - c0,
                init_seconds=t_init, settings=settings)



def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--type", required=True, choices=sorted(PROCESSES))
    ap.add_argument("--n", type=int, default=1000, help="number of jets")
    ap.add_argument("--out-dir", required=True, help="directory for the .npy arrays and meta.json")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--chunk", type=int, default=1000,
                    help="jets per Pythia instance; the output depends on seed and chunk, not on --workers")
    ap.add_argument("--npart", type=int, default=30)
    ap.add_argument("--R", type=float, default=0.8)
    ap.add_argument("--pthat-min", type=float, default=995.0)
    ap.add_argument("--pthat-max", type=float, default=1005.0)
    ap.add_argument("--ptmin", type=float, default=800.0)
    ap.add_argument("--ptmax", type=float, default=1600.0)
    ap.add_argument("--etamax", type=float, default=2.5)
    ap.add_argument("--jets-per-event", type=int, default=1,
                    help="1 = JetNet-like (one jet per event); 2 doubles yield for g/t/w/z")
    ap.add_argument("--consider-leading", type=int, default=2,
                    help="look at this many leading jets for a matched one")
    ap.add_argument("--batch", type=int, default=100)
    ap.add_argument("--max-abs-eta-particles", type=float, default=4.0,
                    help="drop |eta| above this before clustering (0 = keep all)")
    ap.add_argument("--min-particle-pt", type=float, default=0.0,
                    help="drop final-state particles below this pT [GeV] (0 = particle level)")
    ap.add_argument("--set", action="append", default=[],
                    help="extra Pythia setting, e.g. --set '111:mayDecay = off'")
    a = ap.parse_args()

    cfg = dict(pthat_min=a.pthat_min, pthat_max=a.pthat_max, R=a.R, npart=a.npart,
               ptmin=a.ptmin, ptmax=a.ptmax, etamax=a.etamax, jets_per_event=a.jets_per_event,
               consider_leading=a.consider_leading, batch=a.batch, jet_ptmin_cluster=100.0,
               max_abs_eta_particles=a.max_abs_eta_particles, min_particle_pt=a.min_particle_pt,
               extra=a.set)
    shares = chunk_shares(a.n, a.chunk)
    n_chunks = len(shares)
    if a.seed * 1000 + n_chunks >= 900_000_000:
        sys.exit("seed too large: Pythia seeds must stay below 900000000 (seed*1000 + chunk)")
    # Pythia seed of chunk i is seed*1000 + i + 1: independent of the number of workers.
    jobs = [(a.type, s, a.seed * 1000 + i + 1, cfg, i) for i, s in enumerate(shares)]
    w = max(1, min(a.workers, n_chunks))
    t0 = time.time()
    results = map_chunks(worker, jobs, w)
    wall = time.time() - t0
    res = {key: np.concatenate([r[key] for r in results])
           for key in ("pf", "jf", "jet_phi", "n_constituents", "parton_pdgid")}
    n_events = sum(r["n_events"] for r in results)
    n_used = sum(r["n_used"] for r in results)
    cpu = sum(r["cpu_seconds"] for r in results)
    from importlib.metadata import version
    import fastjet
    import platform
    meta = dict(jet_type=a.type, n_jets=int(a.n), seed=a.seed, chunk=a.chunk,
                pythia_seeds=[j[2] for j in jobs],
                generator="pythia8mc " + version("pythia8mc"),
                fastjet="fastjet " + version("fastjet") + " (FastJet " + str(fastjet.__version__) + ")",
                numpy=np.__version__, python=platform.python_version(),
                settings=results[0]["settings"],
                cfg={k: v for k, v in cfg.items() if k != "extra"}, n_events=n_events,
                cpu_seconds=round(cpu, 1), wall_seconds=round(wall, 1), workers=w)
    os.makedirs(a.out_dir, exist_ok=True)
    np.save(os.path.join(a.out_dir, "particle_features.npy"), res["pf"])
    np.save(os.path.join(a.out_dir, "jet_features.npy"), res["jf"])
    np.save(os.path.join(a.out_dir, "jet_phi.npy"), res["jet_phi"])
    np.save(os.path.join(a.out_dir, "n_constituents.npy"), res["n_constituents"].astype(np.int32))
    np.save(os.path.join(a.out_dir, "parton_pdgid.npy"), res["parton_pdgid"].astype(np.int32))
    with open(os.path.join(a.out_dir, "meta.json"), "w") as f:
        json.dump(meta, f, indent=1)
    nper = res["jf"][:, 3]
    print(json.dumps(dict(
        type=a.type, n_jets=a.n, n_events_generated=n_events, n_events_used=n_used,
        eff=round(a.n / n_used, 3), wall_s=round(wall, 1), s_per_jet_wall=round(wall / a.n, 4),
        cpu_s_per_jet=round(cpu / a.n, 4), cpu_s_per_event=round(cpu / n_events, 4),
        mean_num_particles_capped=round(float(nper.mean()), 2),
        frac_30=round(float((nper == a.npart).mean()), 3),
        mean_n_constituents=round(float(res["n_constituents"].mean()), 1),
        median_mass=round(float(np.median(res["jf"][:, 2])), 1))), flush=True)


if __name__ == "__main__":
    main()
