// hep-sparse: the two fused pieces of the split message-passing formulation on CUDA.
//
// Compiled at run time with NVRTC by crates/hep-sparse/src/cuda.rs; CPU oracles are
// `PairLeaky` and `MaskedAggregate` in crates/hep-sparse/src/message.rs. Inputs are contiguous.
//
// pair_leaky:       out[b, i, j, f] = act(recv[b, i, f] + send[b, j, f]),  act = LeakyReLU(slope)
//                   (or identity when `activate == 0`); one thread per output element.
// masked_aggregate: out[b, i, f] = sum_j mask[b, j] * e[b, i, j, f]; one thread per (b, i, f).

template <typename T>
__device__ void pair_leaky(const T* recv, const T* send, T* out, int B, int N, int F, T slope, int activate) {
    const long idx = (long)blockIdx.x * blockDim.x + threadIdx.x;
    const long total = (long)B * N * N * F;
    if (idx >= total) return;
    const int f = idx % F;
    const long e = idx / F;        // (b, i, j)
    const int j = e % N;
    const long bi = e / N;         // (b, i)
    const long b = bi / N;
    const T v = recv[bi * F + f] + send[(b * N + j) * F + f];
    out[idx] = (activate && !(v > T(0))) ? v * slope : v;
}

template <typename T>
__device__ void masked_aggregate(const T* e, const T* mask, T* out, int B, int N, int F) {
    const long idx = (long)blockIdx.x * blockDim.x + threadIdx.x;
    if (idx >= (long)B * N * F) return;
    const int f = idx % F;
    const long bi = idx / F;       // (b, i)
    const long b = bi / N;
    T acc = T(0);
    for (int j = 0; j < N; ++j) {
        if (mask[b * N + j] != T(0)) acc += e[(bi * N + j) * F + f];
    }
    out[idx] = acc;
}

extern "C" __global__ void pair_leaky_f32(const float* recv, const float* send, float* out, int B, int N, int F, float slope, int activate) {
    pair_leaky<float>(recv, send, out, B, N, F, slope, activate);
}
extern "C" __global__ void pair_leaky_f64(const double* recv, const double* send, double* out, int B, int N, int F, double slope, int activate) {
    pair_leaky<double>(recv, send, out, B, N, F, slope, activate);
}
extern "C" __global__ void masked_aggregate_f32(const float* e, const float* mask, float* out, int B, int N, int F) {
    masked_aggregate<float>(e, mask, out, B, N, F);
}
extern "C" __global__ void masked_aggregate_f64(const double* e, const double* mask, double* out, int B, int N, int F) {
    masked_aggregate<double>(e, mask, out, B, N, F);
}
