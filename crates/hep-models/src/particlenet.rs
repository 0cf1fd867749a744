//! ParticleNet as used by `jetnet`'s FPND: three EdgeConv blocks on k-nearest-neighbour graphs,
//! a global mean pool and `fc1`, whose 256 pre-ReLU activations define the Fréchet ParticleNet
//! Distance.
//!
//! ```text
//! block b (k = 16, kNN in (η, φ) for b = 0, in all current features after):
//!   m_i = mean_{j ∈ kNN(i)} f_b([x_i ; x_j − x_i]),  f_b = (Linear → BatchNorm → ReLU) × 3
//!   x_i ← [m_i ; x_i]                         widths 3 → 67 → 195 → 451
//! a = fc1(mean_i x_i)                         451 → 256 (the FPND activations)
//! ```
//! Inference only (batch norm with running statistics, folded into the linear layers; no
//! dropout). The kNN excludes the node
//! itself; distance ties are broken by index. Padded particles are ordinary nodes, as in jetnet.
//!
//! ## Paper
//! H. Qu, L. Gouskos, "ParticleNet: Jet Tagging via Particle Clouds", PRD 101 (2020) 056019,
//! arXiv:1902.08570; FPND: R. Kansal et al., arXiv:2106.11535.
//!
//! ## References
//! `jetnet` 0.2.5, `jetnet/evaluation/particlenet.py` (`_ParticleNet`, k = 16, kernel sizes
//! [64, 128, 256], `EdgeConv(aggr="mean")`, `knn_graph(loop=False)`); parameter names equal its
//! state dict's (`edge_nets.{b}.model.{0,3,6}` linear, `.{1,4,7}` batch norm, `fc1.0`, `fc2`).

use candle_core::{D, Device, Tensor};
use candle_nn::{BatchNorm, Linear, Module, VarBuilder};

use crate::{Error, Result};

/// Nearest neighbours per node.
pub const K: usize = 16;
const KERNELS: [usize; 3] = [64, 128, 256];

/// One EdgeConv MLP with each batch norm folded into the linear layer before it (inference:
/// `γ (W x + b − μ) / sqrt(σ² + ε) + β` is the linear map `W' x + b'`), so an edge layer is one
/// matrix product, one bias add and the ReLU.
#[derive(Debug, Clone)]
struct EdgeBlock {
    /// `(W'ᵀ [in, c], b' [c])` per layer; the first layer's `W'ᵀ` is split below.
    layers: Vec<(Tensor, Tensor)>,
    /// The first layer as `(W'_a − W'_b)ᵀ` and `W'_bᵀ` (`[fin, c]` each).
    first: (Tensor, Tensor),
}

/// `(W'ᵀ, b')` of `Linear(inp → c)` followed by `BatchNorm(c)` in inference mode.
fn fold_batch_norm(lin: &Linear, bn: &BatchNorm) -> Result<(Tensor, Tensor)> {
    let (gamma, beta) = bn.weight_and_bias().ok_or_else(|| Error::InvalidConfig {
        component: "ParticleNet",
        field: "batch norm",
        value: "no affine parameters".into(),
        reason: "jetnet's ParticleNet batch norms are affine",
    })?;
    let scale = (gamma / (bn.running_var() + bn.eps())?.sqrt()?)?;
    let w = lin.weight().broadcast_mul(&scale.unsqueeze(1)?)?;
    let b = match lin.bias() {
        Some(b) => (b - bn.running_mean())?,
        None => bn.running_mean().neg()?,
    };
    let b = (b * &scale)?.add(beta)?;
    Ok((w.t()?.contiguous()?, b))
}

impl EdgeBlock {
    fn new(fin: usize, c: usize, vb: VarBuilder) -> Result<Self> {
        let vb = vb.pp("model");
        let layers = (0..3)
            .map(|l| {
                let inp = if l == 0 { 2 * fin } else { c };
                let lin = candle_nn::linear(inp, c, vb.pp(3 * l))?;
                let bn = candle_nn::batch_norm(c, 1e-5, vb.pp(3 * l + 1))?;
                fold_batch_norm(&lin, &bn)
            })
            .collect::<Result<Vec<_>>>()?;
        // W [x_i ; x_j − x_i] = (W_a − W_b) x_i + W_b x_j
        let wt = &layers[0].0;
        let (wa, wb) = (wt.narrow(0, 0, fin)?, wt.narrow(0, fin, fin)?);
        let first = ((wa - &wb)?.contiguous()?, wb.contiguous()?);
        Ok(Self { layers, first })
    }

    /// Edge features for edges `centre[e] ← nb[e]` of nodes `x [M, F]`: the first layer runs
    /// once per node and the edges only gather its two projections.
    fn forward(&self, x: &Tensor, centre: &Tensor, nb: &Tensor) -> Result<Tensor> {
        let p = x.matmul(&self.first.0)?;
        let q = x.matmul(&self.first.1)?;
        let e = (p.index_select(centre, 0)? + q.index_select(nb, 0)?)?;
        let mut e = e.broadcast_add(&self.layers[0].1)?.relu()?;
        for (wt, b) in &self.layers[1..] {
            e = e.matmul(wt)?.broadcast_add(b)?.relu()?;
        }
        Ok(e)
    }
}

/// The jetnet ParticleNet (inference).
#[derive(Debug, Clone)]
pub struct ParticleNet {
    blocks: Vec<EdgeBlock>,
    fc1: Linear,
    num_particles: usize,
}

/// Indices `[B·N·k]` (global node numbers) of each node's `k` nearest other nodes in the same
/// jet, by Euclidean distance over the first `dims` features of `x [B, N, F]`.
fn knn(x: &[f32], b: usize, n: usize, f: usize, dims: usize, k: usize) -> Vec<u32> {
    let mut out = Vec::with_capacity(b * n * k);
    let mut d: Vec<(f32, usize)> = Vec::with_capacity(n);
    for jet in 0..b {
        let base = jet * n;
        for i in 0..n {
            d.clear();
            let xi = &x[(base + i) * f..(base + i) * f + dims];
            for j in (0..n).filter(|&j| j != i) {
                let xj = &x[(base + j) * f..(base + j) * f + dims];
                let s: f32 = xi.iter().zip(xj).map(|(a, c)| (a - c) * (a - c)).sum();
                d.push((s, j));
            }
            d.sort_by(|a, c| a.0.total_cmp(&c.0).then(a.1.cmp(&c.1)));
            out.extend(d.iter().take(k).map(|&(_, j)| (base + j) as u32));
        }
    }
    out
}

impl ParticleNet {
    /// Build for jets of `num_particles` particles with 3 features, from the jetnet state dict
    /// names under `vb`.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] for `num_particles ≤ K`; missing or mis-shaped parameters.
    pub fn new(num_particles: usize, vb: VarBuilder) -> Result<Self> {
        if num_particles <= K {
            return Err(Error::InvalidConfig {
                component: "ParticleNet",
                field: "num_particles",
                value: num_particles.to_string(),
                reason: "needs more particles per jet than neighbours (16)",
            });
        }
        let mut fin = 3;
        let mut blocks = Vec::new();
        for (i, &c) in KERNELS.iter().enumerate() {
            blocks.push(EdgeBlock::new(fin, c, vb.pp("edge_nets").pp(i))?);
            fin += c;
        }
        let fc1 = candle_nn::linear(fin, 256, vb.pp("fc1").pp(0))?;
        Ok(Self {
            blocks,
            fc1,
            num_particles,
        })
    }

    /// The 256 `fc1` activations (pre-ReLU) of each jet.
    ///
    /// # Shapes
    /// `x`: `[B, N, 3]`, already normalised with `JetNet.fpnd_norm` → `[B, 256]`.
    ///
    /// # Errors
    /// [`Error::Shape`] for a wrong input shape; tensor errors.
    pub fn activations(&self, x: &Tensor) -> Result<Tensor> {
        let dims = x.dims().to_vec();
        if dims.len() != 3 || dims[1] != self.num_particles || dims[2] != 3 {
            return Err(Error::Shape {
                op: "ParticleNet::activations",
                arg: "x",
                expected: format!("[B, {}, 3]", self.num_particles),
                found: dims,
            });
        }
        let (b, n) = (dims[0], dims[1]);
        let dev: Device = x.device().clone();
        let mut x = x.contiguous()?;
        for (i, block) in self.blocks.iter().enumerate() {
            let f = x.dim(D::Minus1)?;
            let host: Vec<f32> = x.flatten_all()?.to_vec1()?;
            let nb = knn(&host, b, n, f, if i == 0 { 2 } else { f }, K);
            let centre: Vec<u32> = (0..(b * n) as u32)
                .flat_map(|c| std::iter::repeat_n(c, K))
                .collect();
            let nb = Tensor::from_vec(nb, b * n * K, &dev)?;
            let centre = Tensor::from_vec(centre, b * n * K, &dev)?;
            let m = block.forward(&x.reshape((b * n, f))?, &centre, &nb)?;
            let c = m.dim(1)?;
            let m = m.reshape((b, n, K, c))?.mean(2)?;
            x = Tensor::cat(&[&m, &x], 2)?;
        }
        Ok(self.fc1.forward(&x.mean(1)?)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn knn_excludes_self_and_breaks_ties_by_index() {
        // one jet, 4 nodes on a line at 0, 1, 1, 3 (2 features, the second zero)
        let x = [0.0f32, 0.0, 1.0, 0.0, 1.0, 0.0, 3.0, 0.0];
        let nb = knn(&x, 1, 4, 2, 2, 2);
        assert_eq!(&nb[0..2], &[1, 2]); // node 0: the two nodes at 1
        assert_eq!(&nb[2..4], &[2, 0]); // node 1: its duplicate (distance 0), then node 0
        assert_eq!(&nb[6..8], &[1, 2]); // node 3: the two at 1 (tie by index)
    }
}
