"""Extract and convert the FPND resources shipped in the jetnet 0.2.5 wheel, and write a
reference fixture (driven by `cargo xtask fixtures fpnd`).

Inputs: the wheel (its sha256 is checked by xtask), the shipped gluon Parquet sample.
Outputs:
  RES/particlenet_jetnet30.safetensors   ParticleNet weights (edge_nets.*, fc1.0.*, fc2.*), f32
  RES/fpnd_{g,q,t}.safetensors           real-JetNet activation statistics: mu [256], sigma [256,256], f64
  FIX/fpnd_reference.safetensors         64 normalised gluon jets, their fc1 activations from a
                                         PyTorch ParticleNet (same weights), and FPND of the first
                                         2000 jets computed with jetnet's own Frechet code
"""
import io
import json
import struct
import sys
import zipfile

import numpy as np
import pyarrow.parquet as pq
import torch
import torch.nn as nn

DT = {np.dtype("float32"): "F32", np.dtype("float64"): "F64"}


def save_safetensors(path, tensors, meta):
    header, blobs, off = {"__metadata__": meta}, [], 0
    for k in sorted(tensors):
        a = np.ascontiguousarray(tensors[k])
        b = a.tobytes()
        header[k] = {"dtype": DT[a.dtype], "shape": list(a.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


class EdgeNet(nn.Module):
    def __init__(self, fin, c):
        super().__init__()
        self.model = nn.Sequential(nn.Linear(2 * fin, c), nn.BatchNorm1d(c), nn.ReLU(),
                                   nn.Linear(c, c), nn.BatchNorm1d(c), nn.ReLU(),
                                   nn.Linear(c, c), nn.BatchNorm1d(c), nn.ReLU())


class PNet(nn.Module):
    """ParticleNet as in jetnet 0.2.5, with kNN by cdist/topk instead of torch_cluster."""

    def __init__(self):
        super().__init__()
        self.edge_nets = nn.ModuleList([EdgeNet(3, 64), EdgeNet(67, 128), EdgeNet(195, 256)])
        self.fc1 = nn.Sequential(nn.Linear(451, 256))
        self.fc2 = nn.Linear(256, 5)

    def forward(self, x):
        b, n, _ = x.shape
        for i, net in enumerate(self.edge_nets):
            pos = x[..., :2] if i == 0 else x
            d = torch.cdist(pos, pos)
            d = d + torch.diag(torch.full((n,), float("inf")))
            idx = d.topk(16, dim=2, largest=False).indices  # [B, N, 16]
            xj = torch.gather(x.unsqueeze(1).expand(b, n, n, x.shape[2]), 2,
                              idx.unsqueeze(3).expand(b, n, 16, x.shape[2]))
            xi = x.unsqueeze(2).expand_as(xj)
            e = torch.cat([xi, xj - xi], 3).reshape(b * n * 16, -1)
            m = net.model(e).view(b, n, 16, -1).mean(2)
            x = torch.cat([m, x], 2)
        return self.fc1(x.mean(1))


def main():
    wheel, sample, res, fix = sys.argv[1:5]
    z = zipfile.ZipFile(wheel)
    base = "jetnet/evaluation/fpnd_resources/jetnet/30_particles/"
    sd = torch.load(io.BytesIO(z.read(base + "pnet_state_dict.pt")), map_location="cpu")
    keep = {k: v.numpy() for k, v in sd.items()
            if (k.startswith("edge_nets.") or k.startswith("fc")) and not k.endswith("num_batches_tracked")}
    meta = {"source": "jetnet 0.2.5 wheel, " + base + "pnet_state_dict.pt", "made_by": "cargo xtask fixtures fpnd"}
    save_safetensors(f"{res}/particlenet_jetnet30.safetensors", keep, meta)
    stats = {}
    for t in "gqt":
        mu = np.loadtxt(io.BytesIO(z.read(base + f"{t}_mu.txt")))
        sigma = np.loadtxt(io.BytesIO(z.read(base + f"{t}_sigma.txt")))
        stats[t] = (mu, sigma)
        save_safetensors(f"{res}/fpnd_{t}.safetensors", {"mu": mu, "sigma": sigma},
                         {"source": f"jetnet 0.2.5 wheel, {base}{t}_mu.txt / {t}_sigma.txt"})
    net = PNet()
    net.load_state_dict({k: v for k, v in sd.items() if k.startswith("edge_nets.") or k.startswith("fc")})
    net.eval()
    t = pq.read_table(sample).slice(0, 2000)
    n = t.num_rows
    jets = np.stack([np.asarray(t[c].combine_chunks().flatten()).reshape(n, 30)
                     for c in ("etarel", "phirel", "ptrel")], -1).astype(np.float32)
    # JetNet.fpnd_norm: eta/1.6212, phi/0.5207, pt/0.8935 - 0.5 (padding included)
    maxes = np.array([1.6211985349655151, 0.520724892616272, 0.8934717178344727], np.float32)
    normed = jets / maxes
    normed[..., 2] -= 0.5
    with torch.no_grad():
        act = torch.cat([net(torch.tensor(normed[i:i + 250])) for i in range(0, n, 250)]).numpy()
    from jetnet.evaluation.gen_metrics import _calculate_frechet_distance
    mu2, sigma2 = act.mean(0), np.cov(act, rowvar=False)
    value = float(_calculate_frechet_distance(stats["g"][0], stats["g"][1], mu2, sigma2))
    save_safetensors(f"{fix}/fpnd_reference.safetensors",
                     {"jets": normed[:64], "activations": act[:64].astype(np.float32),
                      "fpnd_2000_g": np.array([value])},
                     {"made_by": "cargo xtask fixtures fpnd", "torch": torch.__version__,
                      "jets": "first 2000 of datasets/jetnet30_g_20k.parquet (first 64 stored), fpnd_norm applied"})
    print(json.dumps({"fpnd_2000_g": value, "weights": len(keep)}))


if __name__ == "__main__":
    main()
