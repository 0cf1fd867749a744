#!/usr/bin/env python3
"""LAGAN-format jet images (de Oliveira, Paganini, Nachman, arXiv:1701.05927) generated
locally with Pythia 8 + FastJet. Driven by `cargo xtask data jet-images`, which converts the
.npz written here to hep-data `images-v1` Parquet (images_to_parquet.py --kind jet-image).

signal (label 1)     : pp -> W'(800 GeV) -> W Z, W -> q q', Z -> nu nu      (13 TeV)
background (label 0) : pp -> jets, HardQCD:all, pTHat window (--pthat-min/--pthat-max)

Jets: visible final-state particles (no neutrinos) with |eta| < 5 are clustered with anti-kT
R = 1.0; the leading jet is trimmed (its constituents reclustered with kT R_sub = 0.3, subjets
with pT < 5% of the untrimmed jet pT dropped). Kept: |eta| < 2, 250 < pT < 300 GeV and
60 < m < 100 GeV, all of the trimmed jet.

Image: 25 x 25 pixels of 0.1 x 0.1 in (eta, phi), pixel = summed pT (GeV) of the trimmed
constituents. Preprocessing, done on the constituent coordinates before pixelisation (so no
interpolation: every pixel is a plain sum of particle pT, exactly >= 0):
  1. translate: eta' = eta - eta(s1), phi' = dphi(phi, phi(s1)), s1 = leading subjet;
  2. rotate in the (phi', eta') plane about s1 so that the second subjet s2 points straight
     down: phi' = 0, eta' < 0 (angle -pi/2). A jet with one subjet is rotated so that its
     pT-weighted principal axis, oriented towards the pT-weighted centroid, points down;
  3. pixelise: row r = floor((eta' + 1.25)/0.1), column c = floor((phi' + 1.25)/0.1);
     constituents outside +-1.25 are dropped (their pT fraction is recorded);
  4. flip phi' -> -phi' (mirror the columns) when the left half (c < 12) holds more pT than
     the right half (c > 12).
Pixel (r, c) has centre ((r + 1/2 - 12.5)*0.1, (c + 1/2 - 12.5)*0.1): s1 sits in pixel (12, 12).

Output .npz: images [N,25,25] float32, label [N] int8, jet_pt, jet_eta, jet_mass (trimmed
jet), n_subjets, dr12 (s1-s2 distance, 0 for one subjet), pt_outside (pT fraction outside the
window), pthat (of the hard process), pixel_size, meta (JSON: settings, cuts, preprocessing, counts, CPU time, versions).
A JSON summary goes to stdout.

Example: python gen_jet_images.py --class wprime --n 1000 --seed 1 --out wprime.npz
"""
import argparse
import json
import os
import platform
import sys
import time

import numpy as np

from pythia_common import kin, make_pythia, wrap

NPIX, PIX = 25, 0.1
HALF = NPIX * PIX / 2  # 1.25
R_JET, R_SUB, F_CUT = 1.0, 0.3, 0.05
PT_RANGE, M_RANGE, ETA_MAX = (250.0, 300.0), (60.0, 100.0), 2.0
PARTICLE_ETA_MAX = 5.0  # LAGAN's idealised calorimeter also stopped at |eta| = 5

WPRIME = ["NewGaugeBoson:ffbar2Wprime = on", "34:m0 = 800.",
          # Pythia's default W'WZ coupling is 0, which closes W' -> W Z
          "Wprime:coup2WZ = 1.",
          "34:onMode = off", "34:onIfAll = 24 23",
          "24:onMode = off", "24:onIfAny = 1 2 3 4 5",
          "23:onMode = off", "23:onIfAny = 12 14 16"]
QCD = ["HardQCD:all = on"]


def p4(rec):
    """awkward record list (px, py, pz, E) -> numpy arrays."""
    import awkward as ak
    return tuple(ak.to_numpy(rec[k]).astype(np.float64) for k in ("px", "py", "pz", "E"))


def down_angle(x, y, w):
    """Angle (in the phi'-eta' plane) of the direction to rotate onto -pi/2 for a jet with a
    single subjet: the pT-weighted principal axis, oriented towards the weighted centroid."""
    sw = w.sum()
    mx, my = (w * x).sum() / sw, (w * y).sum() / sw
    dx, dy = x - mx, y - my
    cov = np.array([[(w * dx * dx).sum(), (w * dx * dy).sum()],
                    [(w * dx * dy).sum(), (w * dy * dy).sum()]]) / sw
    vals, vecs = np.linalg.eigh(cov)
    ax, ay = vecs[:, np.argmax(vals)]
    if ax * mx + ay * my < 0:
        ax, ay = -ax, -ay
    return np.arctan2(ay, ax)


def make_image(cpt, ceta, cphi, subs):
    """Preprocess and pixelise one trimmed jet. `subs`: subjet (pt, eta, phi) sorted by pT."""
    y = ceta - subs[0][1]               # eta'
    x = wrap(cphi - subs[0][2])         # phi'
    if len(subs) > 1:
        theta = np.arctan2(subs[1][1] - subs[0][1], wrap(subs[1][2] - subs[0][2]))
    else:
        theta = down_angle(x, y, cpt)
    a = -np.pi / 2 - theta
    ca, sa = np.cos(a), np.sin(a)
    x, y = x * ca - y * sa, x * sa + y * ca
    r = np.floor((y + HALF) / PIX).astype(np.int64)
    c = np.floor((x + HALF) / PIX).astype(np.int64)
    inside = (r >= 0) & (r < NPIX) & (c >= 0) & (c < NPIX)
    img = np.zeros((NPIX, NPIX), np.float64)
    np.add.at(img, (r[inside], c[inside]), cpt[inside])
    mid = NPIX // 2
    if img[:, :mid].sum() > img[:, mid + 1:].sum():
        img = img[:, ::-1]
    return img.astype(np.float32), float(cpt[~inside].sum() / cpt.sum())


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--class", dest="cls", choices=["wprime", "qcd"], required=True)
    ap.add_argument("--n", type=int, required=True, help="number of images")
    ap.add_argument("--out", required=True, help=".npz output")
    ap.add_argument("--seed", type=int, default=1, help="Pythia seed is seed*1000 + 1")
    ap.add_argument("--pthat-min", type=float, default=150.0, help="qcd only")
    ap.add_argument("--pthat-max", type=float, default=400.0, help="qcd only")
    ap.add_argument("--batch", type=int, default=200, help="events per Pythia batch")
    a = ap.parse_args()
    if a.n <= 0:
        sys.exit("--n must be positive")
    if not 0 < a.seed * 1000 + 1 < 900_000_000:
        sys.exit("--seed out of range: Pythia seeds (seed*1000 + 1) must stay below 900000000")
    import awkward as ak
    import fastjet

    c_start = time.process_time()
    t_start = time.time()
    hard = WPRIME if a.cls == "wprime" else QCD + [f"PhaseSpace:pTHatMin = {a.pthat_min}",
                                                    f"PhaseSpace:pTHatMax = {a.pthat_max}"]
    pythia_seed = a.seed * 1000 + 1
    p, settings = make_pythia(hard, pythia_seed)
    jd = fastjet.JetDefinition(fastjet.antikt_algorithm, R_JET)
    jd_sub = fastjet.JetDefinition(fastjet.kt_algorithm, R_SUB)
    out = {k: [] for k in ("images", "jet_pt", "jet_eta", "jet_mass", "n_subjets", "dr12",
                           "pt_outside", "pthat")}
    n_gen = n_used = n_presel = 0
    fails = dict(eta=0, pt=0, mass=0)
    while len(out["images"]) < a.n:
        nb = a.batch
        k = len(out["images"])
        if k:  # shrink the last batches so few events are generated and not used
            nb = min(nb, max(10, int((a.n - k) * n_used / k * 1.2) + 5))
        ev = p.nextBatch(nb)
        n_gen += len(ev)
        prt = ev.prt
        pthat = np.sqrt(ak.to_numpy(ev.info.pT2Hat))
        aid = abs(prt.id)
        pt_ = np.hypot(prt.p.px, prt.p.py)
        eta_ = np.arcsinh(prt.p.pz / (pt_ + 1e-12))
        sel = (prt.status > 0) & (aid != 12) & (aid != 14) & (aid != 16) \
            & (abs(eta_) < PARTICLE_ETA_MAX)
        fs = prt[sel]
        vec = ak.zip({"px": fs.p.px, "py": fs.p.py, "pz": fs.p.pz, "E": fs.p.e})
        cs = fastjet.ClusterSequence(vec, jd)
        jets = cs.inclusive_jets(10.0)
        cons = cs.constituents(10.0)
        # leading (untrimmed) jet per event; a loose preselection before trimming
        jpt = np.hypot(jets.px, jets.py)
        jeta = np.arcsinh(jets.pz / np.maximum(jpt, 1e-12))
        lead = ak.argmax(jpt, axis=1, keepdims=True)
        lpt = ak.to_numpy(ak.fill_none(ak.firsts(jpt[lead]), 0.0))
        leta = ak.to_numpy(ak.fill_none(ak.firsts(jeta[lead]), 0.0))
        cand = np.nonzero((lpt > 0.95 * PT_RANGE[0]) & (np.abs(leta) < ETA_MAX + 0.3))[0]
        n_presel += len(cand)
        # trimming, vectorised over the candidate jets: kT R_sub reclustering of each jet's
        # constituents, subjets with pT >= F_CUT * (untrimmed jet pT) kept
        trimmed = {}
        if len(cand):
            cvec = ak.firsts(cons[lead])[cand]
            cs_sub = fastjet.ClusterSequence(cvec, jd_sub)
            subj = cs_sub.inclusive_jets()
            subc = cs_sub.constituents()
            nsub = ak.to_numpy(ak.num(subj, axis=1))
            soff = np.concatenate([[0], np.cumsum(nsub)])
            spx, spy, spz, se = p4(ak.flatten(subj, axis=1))
            spt, seta, sphi, _ = kin(spx, spy, spz, se)
            pflat = ak.flatten(subc, axis=1)  # [subjet][particle], subjets in subj's order
            poff = np.concatenate([[0], np.cumsum(ak.to_numpy(ak.num(pflat, axis=1)))])
            ppx, ppy, ppz, pe = p4(ak.flatten(pflat, axis=1))
            for q, i in enumerate(cand):
                rows = np.arange(soff[q], soff[q + 1])
                keep = rows[spt[rows] >= F_CUT * lpt[i]]
                keep = keep[np.argsort(-spt[keep])]
                tot = [np.array([v[keep].sum()]) for v in (spx, spy, spz, se)]
                tpt, teta, _, tm = kin(*tot)
                idx = np.concatenate([np.arange(poff[s], poff[s + 1]) for s in keep])
                cp = (ppx[idx], ppy[idx], ppz[idx], pe[idx])
                subs = [(spt[s], seta[s], sphi[s]) for s in keep]
                trimmed[int(i)] = (float(tpt[0]), float(teta[0]), float(tm[0]), cp, subs)
        for i in range(len(ev)):
            if len(out["images"]) >= a.n:
                break
            n_used += 1
            if i not in trimmed:
                continue
            tpt, teta, tm, cp, subs = trimmed[i]
            if abs(teta) >= ETA_MAX:
                fails["eta"] += 1
                continue
            if not PT_RANGE[0] < tpt < PT_RANGE[1]:
                fails["pt"] += 1
                continue
            if not M_RANGE[0] < tm < M_RANGE[1]:
                fails["mass"] += 1
                continue
            cpt, ceta, cphi, _ = kin(*cp)
            img, outside = make_image(cpt, ceta, cphi, subs)
            dr12 = float(np.hypot(subs[1][1] - subs[0][1], wrap(subs[1][2] - subs[0][2]))) \
                if len(subs) > 1 else 0.0
            for key, v in (("images", img), ("jet_pt", tpt), ("jet_eta", teta),
                           ("jet_mass", tm), ("n_subjets", len(subs)), ("dr12", dr12),
                           ("pt_outside", outside), ("pthat", pthat[i])):
                out[key].append(v)
        print(f"progress: {len(out['images'])}/{a.n} images from {n_used} events "
              f"({time.process_time() - c_start:.0f} CPU-s)", file=sys.stderr, flush=True)
    cpu = time.process_time() - c_start
    imgs = np.stack(out["images"])
    n = len(imgs)
    from importlib.metadata import version
    meta = dict(
        cls=a.cls, label=int(a.cls == "wprime"), n=n, seed=a.seed, pythia_seed=pythia_seed,
        settings=settings,
        process=("pp -> W'(800 GeV) -> W Z, W -> q q', Z -> nu nu" if a.cls == "wprime"
                 else f"HardQCD:all, pTHat in [{a.pthat_min}, {a.pthat_max}] GeV"),
        jets=dict(input=f"visible final-state particles (no neutrinos), |eta| < {PARTICLE_ETA_MAX}",
                  algorithm=f"anti-kT R = {R_JET}, leading jet",
                  trimming=f"kT R_sub = {R_SUB}, keep subjets with pT >= {F_CUT} x untrimmed jet pT"),
        cuts=dict(abs_eta_max=ETA_MAX, pt_gev=list(PT_RANGE), mass_gev=list(M_RANGE),
                  on="trimmed leading jet"),
        image=dict(height=NPIX, width=NPIX, pixel_size=PIX, half_width=HALF,
                   pixel="summed pT (GeV) of the trimmed constituents"),
        preprocessing=[
            "translate: leading subjet at (0, 0), i.e. in pixel (12, 12)",
            "rotate the constituent coordinates (before pixelisation, no interpolation) so the "
            "second subjet lies straight down: phi' = 0, eta' < 0; one-subjet jets: the "
            "pT-weighted principal axis, oriented towards the centroid, points down",
            "pixelise; constituents outside +-1.25 dropped",
            "flip phi' -> -phi' when columns c < 12 hold more pT than columns c > 12",
        ],
        sigma_gen_mb=p.infoPython().sigmaGen(), events_generated=n_gen, events_used=n_used, preselected=n_presel,
        rejected=fails, efficiency=round(n / n_used, 5),
        cpu_seconds=round(cpu, 1), wall_seconds=round(time.time() - t_start, 1),
        cpu_seconds_per_image=round(cpu / n, 4),
        versions=dict(pythia8mc=version("pythia8mc"), fastjet=version("fastjet"),
                      numpy=np.__version__, awkward=ak.__version__,
                      python=platform.python_version()))
    arr = {k: np.array(v, np.float32) for k, v in out.items() if k != "images"}
    np.savez_compressed(a.out, images=imgs, label=np.full(n, meta["label"], np.int8),
                        jet_pt=arr["jet_pt"], jet_eta=arr["jet_eta"], jet_mass=arr["jet_mass"],
                        n_subjets=arr["n_subjets"].astype(np.int8), dr12=arr["dr12"],
                        pt_outside=arr["pt_outside"], pthat=arr["pthat"], pixel_size=np.float32(PIX),
                        meta=json.dumps(meta))
    print(json.dumps(dict(
        cls=a.cls, n=n, events_used=n_used, efficiency=meta["efficiency"],
        cpu_seconds=meta["cpu_seconds"], cpu_seconds_per_image=meta["cpu_seconds_per_image"],
        zero_pixel_frac=round(float((imgs == 0).mean()), 4),
        mean_nonzero_pixels=round(float((imgs > 0).sum(axis=(1, 2)).mean()), 1),
        jet_mass_mean=round(float(arr["jet_mass"].mean()), 2),
        one_subjet_frac=round(float((arr["n_subjets"] == 1).mean()), 4),
        pt_outside_mean=round(float(arr["pt_outside"].mean()), 5),
        bytes=os.path.getsize(a.out))), flush=True)


if __name__ == "__main__":
    main()
