// hep-sparse: masked pooling and masked softmax over the particle axis.
//
// Compiled at run time with NVRTC by crates/hep-sparse/src/cuda.rs. Inputs are contiguous:
// x [B, N, F], mask [B, N] (0/1 in the dtype of x). One thread per (jet, feature) column.
// Semantics match the CPU oracle in crates/hep-sparse/src/pool.rs: all-masked jets give 0
// (sum, mean, max) and an all-zero softmax; NaN among real particles propagates in max.

// NVRTC has no <math.h> INFINITY; build -inf from its bit pattern.
#define HS_NEG_INF __longlong_as_double(0xfff0000000000000ULL)

template <typename T>
__device__ void masked_pool(const T* x, const T* mask, T* out, int B, int N, int F, int kind) {
    const int idx = blockIdx.x * blockDim.x + threadIdx.x;
    if (idx >= B * F) return;
    const int b = idx / F;
    const int f = idx % F;
    T acc = kind == 2 ? T(HS_NEG_INF) : T(0);
    int count = 0;
    for (int i = 0; i < N; ++i) {
        if (mask[b * N + i] == T(0)) continue;
        const T v = x[(b * N + i) * F + f];
        ++count;
        if (kind == 2) {
            if (v > acc || isnan(v)) acc = v;
        } else {
            acc += v;
        }
    }
    if (kind == 1 && count > 0) acc /= T(count);
    if (kind == 2 && count == 0) acc = T(0);
    out[idx] = acc;
}

template <typename T>
__device__ void masked_softmax(const T* x, const T* mask, T* out, int B, int N, int F) {
    const int idx = blockIdx.x * blockDim.x + threadIdx.x;
    if (idx >= B * F) return;
    const int b = idx / F;
    const int f = idx % F;
    T mx = T(HS_NEG_INF);
    for (int i = 0; i < N; ++i) {
        if (mask[b * N + i] != T(0)) mx = fmax(mx, x[(b * N + i) * F + f]);
    }
    T den = T(0);
    for (int i = 0; i < N; ++i) {
        const int o = (b * N + i) * F + f;
        if (mask[b * N + i] != T(0)) {
            const T e = exp(x[o] - mx);
            out[o] = e;
            den += e;
        } else {
            out[o] = T(0);
        }
    }
    for (int i = 0; i < N; ++i) {
        if (mask[b * N + i] != T(0)) out[(b * N + i) * F + f] /= den;
    }
}

extern "C" __global__ void masked_pool_f32(const float* x, const float* mask, float* out, int B, int N, int F, int kind) {
    masked_pool<float>(x, mask, out, B, N, F, kind);
}
extern "C" __global__ void masked_pool_f64(const double* x, const double* mask, double* out, int B, int N, int F, int kind) {
    masked_pool<double>(x, mask, out, B, N, F, kind);
}
extern "C" __global__ void masked_softmax_f32(const float* x, const float* mask, float* out, int B, int N, int F) {
    masked_softmax<float>(x, mask, out, B, N, F);
}
extern "C" __global__ void masked_softmax_f64(const double* x, const double* mask, double* out, int B, int N, int F) {
    masked_softmax<double>(x, mask, out, B, N, F);
}
