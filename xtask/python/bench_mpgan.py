"""PyTorch implementation of the MPGAN generator and discriminator (the published
architecture), written for `cargo xtask bench mpgan`: it loads the same published weights,
checks itself against the golden reference output, and times generation and a training step
on the CPU. Prints one JSON line."""
import json
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


class Mlp(nn.Module):
    def __init__(self, sizes, final_linear, dropout=0.0):
        super().__init__()
        self.net = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:]))
        self.final_linear = final_linear
        self.dropout = nn.Dropout(dropout)

    def forward(self, x):
        last = len(self.net) - 1
        for k, layer in enumerate(self.net):
            x = layer(x)
            if k < last or not self.final_linear:
                x = F.leaky_relu(x, 0.2)
            x = self.dropout(x)
        return x


class Layer(nn.Module):
    def __init__(self, fin, fout, dropout=0.0):
        super().__init__()
        self.fe = Mlp([2 * fin, 96, 160, 192], False, dropout)
        self.fn = Mlp([192 + fin, 256, 256, fout], True, dropout)

    def forward(self, x, mask):
        b, n, f = x.shape
        pairs = torch.cat([x.unsqueeze(2).expand(b, n, n, f), x.unsqueeze(1).expand(b, n, n, f)], -1)
        msg = self.fe(pairs.reshape(b * n * n, 2 * f)).view(b, n, n, -1) * mask[:, None, :, None]
        h = torch.cat([msg.sum(2), x], -1).view(b * n, -1)
        return self.fn(h).view(b, n, -1)


class Generator(nn.Module):
    def __init__(self):
        super().__init__()
        self.mp_layers = nn.ModuleList([Layer(32, 32), Layer(32, 3)])

    def forward(self, noise, num):
        rank = noise[:, :, 0].argsort(1).argsort(1)
        mask = (rank < num[:, None]).float()
        x = noise
        for layer in self.mp_layers:
            x = layer(x, mask)
        return torch.cat([torch.tanh(x), (mask - 0.5).unsqueeze(2)], -1)


class Discriminator(nn.Module):
    def __init__(self):
        super().__init__()
        self.mp_layers = nn.ModuleList([Layer(3, 32, 0.5), Layer(32, 32, 0.5)])
        self.fnd_layer = Mlp([32, 1], True, 0.5)

    def forward(self, x):
        mask = x[..., 3] + 0.5
        h = x[..., :3]
        for layer in self.mp_layers:
            h = layer(h, mask)
        return torch.sigmoid(self.fnd_layer((h * mask[..., None]).sum(1))).squeeze(1)


def main():
    weights, golden, n_jets, batch, train_batch, steps = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6])
    torch.set_num_threads(int(sys.argv[7]) if len(sys.argv) > 7 else 2)
    torch.manual_seed(0)
    g = Generator()
    g.load_state_dict(torch.load(weights, map_location="cpu"))
    g.eval()
    z = np.load(golden)
    with torch.no_grad():
        out = g(torch.tensor(z["noise"]), torch.tensor(z["num_particles"]).long())
    golden_err = float((out.numpy() - z["output"]).__abs__().max())
    counts = torch.full((batch,), 30, dtype=torch.long)
    with torch.no_grad():
        g(torch.randn(batch, 30, 32) * 0.2, counts)  # warm-up
        t0 = time.perf_counter()
        done = 0
        while done < n_jets:
            b = min(batch, n_jets - done)
            g(torch.randn(b, 30, 32) * 0.2, counts[:b])
            done += b
        gen_s = time.perf_counter() - t0
    # one LSGAN training step: D step + G step, RMSprop, dropout 0.5 in D
    d = Discriminator()
    g.train()
    opt_g = torch.optim.RMSprop(g.parameters(), lr=1e-5)
    opt_d = torch.optim.RMSprop(d.parameters(), lr=3e-5)
    real = torch.cat([torch.rand(train_batch, 30, 3) - 0.5, torch.full((train_batch, 30, 1), 0.5)], -1)
    num = torch.full((train_batch,), 30, dtype=torch.long)
    times = []
    for _ in range(steps + 1):
        t0 = time.perf_counter()
        fake = g(torch.randn(train_batch, 30, 32) * 0.2, num).detach()
        loss_d = ((d(real) - 1) ** 2).mean() + (d(fake) ** 2).mean()
        opt_d.zero_grad()
        loss_d.backward()
        opt_d.step()
        fake = g(torch.randn(train_batch, 30, 32) * 0.2, num)
        loss_g = ((d(fake) - 1) ** 2).mean()
        opt_g.zero_grad()
        loss_g.backward()
        opt_g.step()
        times.append(time.perf_counter() - t0)
    times = sorted(times[1:])  # drop the warm-up step
    print(json.dumps({
        "impl": f"PyTorch {torch.__version__} ({torch.get_num_threads()} threads)",
        "golden_max_abs_err": golden_err,
        "gen_jets": n_jets, "gen_batch": batch, "gen_seconds": gen_s, "gen_jets_per_s": n_jets / gen_s,
        "train_batch": train_batch, "train_step_s_median": times[len(times) // 2],
    }))


if __name__ == "__main__":
    main()
