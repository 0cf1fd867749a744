// hep-sparse: per-element Dirac-delta-at-zero mixture NLL and its gradients.
//
// Compiled at run time with NVRTC by crates/hep-sparse/src/cuda.rs; mirrors the CPU oracle
// `element` in crates/hep-sparse/src/dirac.rs. Inputs are contiguous: x [M], logits [M],
// params [M, P]. `family`: 0 Gaussian (fixed sigma = `sigma`), 1 Gaussian (mu, log sigma),
// 2 logistic (mu, log s), 3 exponential (log lambda), 4 categorical (P logits over `levels`),
// 5 Gaussian truncated to x > 0 (mu, log sigma).
// `with_grad == 0`: out [M] = NLL. `with_grad == 1`: out [M, 1 + P] = (dNLL/dlogit, dNLL/dparams).

#define LN_SQRT_2PI 0.91893853320467274178

// NVRTC has no <math.h> INFINITY; build -inf from its bit pattern.
#define HS_NEG_INF __longlong_as_double(0xfff0000000000000ULL)

template <typename T>
__device__ T softplus(T x) {
    return fmax(x, T(0)) + log1p(exp(-fabs(x)));
}

template <typename T>
__device__ T sigmoid(T x) {
    if (x >= T(0)) return T(1) / (T(1) + exp(-x));
    const T e = exp(x);
    return e / (T(1) + e);
}

// log Phi(a): log(erfc(-a/sqrt 2) / 2), and below a per-type cut the asymptotic series
// phi(a)/(-a) * (1 - a^-2 + 3a^-4 - 15a^-6 + 105a^-8); the cut (-30 in double, -10 in float)
// keeps erfc a normal number and the first dropped term below rounding, as on the CPU.
template <typename T>
__device__ T log_ndtr(T a) {
    const T cut = sizeof(T) == 4 ? T(-10) : T(-30);
    if (a < cut) {
        const T r = T(1) / (a * a);
        const T series = T(1) - r * (T(1) - r * (T(3) - r * (T(15) - r * T(105))));
        return T(-0.5) / r - log(-a) - T(LN_SQRT_2PI) + log(series);
    }
    return log(T(0.5) * erfc(-a * T(0.70710678118654752440)));
}

template <typename T>
__device__ int nearest_level(const double* levels, int k, T xv) {
    const double x = (double)xv;
    int lo = 0;
    int hi = k;  // first index with levels[i] >= x
    while (lo < hi) {
        const int mid = (lo + hi) / 2;
        if (levels[mid] < x) lo = mid + 1; else hi = mid;
    }
    if (lo == 0) return 0;
    if (lo == k) return k - 1;
    return (x - levels[lo - 1] <= levels[lo] - x) ? lo - 1 : lo;
}

template <typename T>
__device__ void dirac(const T* x, const T* logits, const T* params, const double* levels, T* out,
                      int M, int P, int family, double sigma, int with_grad) {
    const int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= M) return;
    const T xv = x[i];
    const T l = logits[i];
    const T* p = params + (long)i * P;
    T* g = out + (long)i * (P + 1);
    if (xv == T(0)) {
        if (with_grad) {
            g[0] = sigmoid(l);
            for (int j = 0; j < P; ++j) g[1 + j] = T(0);
        } else {
            out[i] = softplus(l);
        }
        return;
    }
    T nlp = T(0);
    if (with_grad) g[0] = sigmoid(l) - T(1);
    if (family == 0) {
        const T s = T(sigma);
        const T u = (xv - p[0]) / s;
        nlp = T(0.5) * u * u + T(log(sigma) + LN_SQRT_2PI);
        if (with_grad) g[1] = -u / s;
    } else if (family == 1) {
        const T s = exp(p[1]);
        const T u = (xv - p[0]) / s;
        nlp = T(0.5) * u * u + p[1] + T(LN_SQRT_2PI);
        if (with_grad) { g[1] = -u / s; g[2] = T(1) - u * u; }
    } else if (family == 2) {
        const T s = exp(p[1]);
        const T u = (xv - p[0]) / s;
        nlp = u + p[1] + T(2) * softplus(-u);
        const T t = tanh(u * T(0.5));
        if (with_grad) { g[1] = -t / s; g[2] = T(1) - u * t; }
    } else if (family == 3) {
        const T lam = exp(p[0]);
        nlp = lam * xv - p[0];
        if (with_grad) g[1] = lam * xv - T(1);
    } else if (family == 5) {
        const T s = exp(p[1]);
        const T u = (xv - p[0]) / s;
        const T a = p[0] / s;
        const T lz = log_ndtr(a);
        nlp = T(0.5) * u * u + p[1] + T(LN_SQRT_2PI) + lz;
        const T mills = exp(T(-0.5) * a * a - T(LN_SQRT_2PI) - lz);
        if (with_grad) { g[1] = (mills - u) / s; g[2] = T(1) - u * u - a * mills; }
    } else {
        const int k = nearest_level(levels, P, xv);
        T m = T(HS_NEG_INF);
        for (int j = 0; j < P; ++j) m = fmax(m, p[j]);
        T den = T(0);
        for (int j = 0; j < P; ++j) den += exp(p[j] - m);
        nlp = m + log(den) - p[k];
        if (with_grad) {
            for (int j = 0; j < P; ++j) g[1 + j] = exp(p[j] - m) / den - (j == k ? T(1) : T(0));
        }
    }
    if (!with_grad) out[i] = softplus(-l) + nlp;
}

extern "C" __global__ void dirac_f32(const float* x, const float* logits, const float* params, const double* levels,
                                     float* out, int M, int P, int family, double sigma, int with_grad) {
    dirac<float>(x, logits, params, levels, out, M, P, family, sigma, with_grad);
}
extern "C" __global__ void dirac_f64(const double* x, const double* logits, const double* params, const double* levels,
                                     double* out, int M, int P, int family, double sigma, int with_grad) {
    dirac<double>(x, logits, params, levels, out, M, P, family, sigma, with_grad);
}
