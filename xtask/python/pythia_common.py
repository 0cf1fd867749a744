"""Helpers shared by the Pythia 8 generators (gen_jetnet.py, gen_jet_images.py,
gen_muon_images.py): Pythia set-up and four-vector kinematics."""

import os
import sys

import numpy as np

# Settings every generator starts from; the seed lines follow them.
BASE_SETTINGS = ["Beams:eCM = 13000.", "Print:quiet = on", "Random:setSeed = on"]


def make_pythia(settings, seed):
    """An initialised `pythia8mc.Pythia` for 13 TeV pp with `settings` and `seed`.

    Returns the generator and the full list of settings it read (for provenance).
    Raises RuntimeError naming the setting Pythia rejects, or when init fails."""
    import pythia8mc
    p = pythia8mc.Pythia("", False)
    full = BASE_SETTINGS + [f"Random:seed = {seed}"] + list(settings)
    for s in full:
        if not p.readString(s):
            raise RuntimeError(f"Pythia rejected setting: {s}")
    if not p.init():
        raise RuntimeError("Pythia init failed")
    return p, full


def kin(px, py, pz, e):
    """(pT, η, φ, m) of four-vectors given as arrays; η = 0 where pT = 0."""
    pt = np.hypot(px, py)
    eta = np.arcsinh(np.divide(pz, pt, out=np.zeros_like(pz), where=pt > 0))
    phi = np.arctan2(py, px)
    m = np.sqrt(np.maximum(e * e - px * px - py * py - pz * pz, 0.0))
    return pt, eta, phi, m


def wrap(dphi):
    """Δφ wrapped into [−π, π)."""
    return (dphi + np.pi) % (2 * np.pi) - np.pi


def chunk_shares(n, chunk):
    """Sizes of the chunks that make `n` items, `chunk` per chunk (the last one smaller)."""
    if n <= 0 or chunk <= 0:
        raise ValueError(f"need n > 0 and chunk > 0, got n = {n}, chunk = {chunk}")
    return [min(chunk, n - i * chunk) for i in range((n + chunk - 1) // chunk)]


def map_chunks(fn, jobs, workers):
    """`[fn(job) for job in jobs]`, on up to `workers` forked processes (in order).

    Each job must carry everything its result depends on (its seeds), so that the result does
    not depend on `workers`. Forking shares module globals set before the call (e.g. a
    pile-up pool) with the workers without pickling them."""
    w = max(1, min(workers, len(jobs)))
    if w == 1:
        return [fn(j) for j in jobs]
    import multiprocessing as mp
    with mp.get_context("fork").Pool(w) as pool:
        return pool.map(fn, jobs, chunksize=1)


# Chunked image sets (gen_muon_images.py, gen_jet_images.py): chunk 0 draws its hard events
# from Pythia seed seed*1000 + 1, chunk i > 0 from seed*1000 + CHUNK_SEED_OFFSET + i, so a set
# of one chunk is the same as before chunking existed (seed*1000 + 2..99 stay free for other
# streams, e.g. the muon pile-up pool at seed*1000 + 7).
CHUNK_SEED_OFFSET = 100
MAX_CHUNKS = 1000 - CHUNK_SEED_OFFSET


def chunk_pythia_seed(seed, i):
    """The Pythia seed of chunk `i` of a set made with `seed`."""
    return seed * 1000 + 1 if i == 0 else seed * 1000 + CHUNK_SEED_OFFSET + i


def add_chunk_args(ap):
    """The --chunk and --workers options of the image generators."""
    ap.add_argument("--chunk", type=int, default=5000,
                    help="images per Pythia instance; the output depends on seed and chunk, not on --workers")
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                    help="processes generating chunks in parallel")


def checked_chunks(a):
    """The chunk sizes for parsed arguments `a` (n, chunk, workers, seed); exits with a
    message naming the option when they are out of range."""
    if a.n <= 0 or a.chunk <= 0 or a.workers <= 0:
        sys.exit("--n, --chunk and --workers must be positive")
    shares = chunk_shares(a.n, a.chunk)
    if len(shares) > MAX_CHUNKS:
        sys.exit(f"--n {a.n} / --chunk {a.chunk} gives {len(shares)} chunks; at most {MAX_CHUNKS}")
    if not 0 < a.seed * 1000 + 1000 < 900_000_000:
        sys.exit("--seed out of range: Pythia seeds (seed*1000 + 1..999) must stay below 900000000")
    return shares
