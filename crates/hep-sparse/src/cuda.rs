//! CUDA forwards of the custom ops (feature `cuda`): the `kernels/*.cu` sources are compiled at
//! run time with NVRTC through candle's re-exported cudarc and launched on candle's stream.
//!
//! Status: written against candle 0.11.1 / cudarc 0.19.10 but **not yet compiled or run** (no
//! CUDA toolchain build and no GPU in the session that wrote it; the `.cu` files were checked
//! with NVRTC 13.0 only). On CUDA, `MaskedMessagePassing::forward` runs the split formulation
//! (cuBLAS matmuls plus the `pair_leaky` and `masked_aggregate` kernels); the sender-compacted,
//! recomputing fused op has no kernel yet, and if called on CUDA directly it copies to the host,
//! runs the CPU implementation and copies back (correct, slow; a one-time message says so).

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use candle_core::backend::{BackendDevice, BackendStorage};
use candle_core::cuda_backend::cudarc::driver::{
    DeviceRepr, LaunchConfig, PushKernelArg, ValidAsZeroBits,
};
use candle_core::cuda_backend::cudarc::nvrtc;
use candle_core::cuda_backend::{CudaDType, WrapErr};
use candle_core::{CpuStorage, CudaDevice, CudaStorage, CustomOp3, DType, Layout, Shape};

use crate::dirac::Density;
use crate::pool::PoolKind;

const POOL_SRC: &str = include_str!("../../../kernels/masked_pool.cu");
const DIRAC_SRC: &str = include_str!("../../../kernels/dirac.cu");
const MP_SRC: &str = include_str!("../../../kernels/message_passing.cu");

/// Element types the kernels are instantiated for.
trait Elem: CudaDType + DeviceRepr + ValidAsZeroBits {}
impl Elem for f32 {}
impl Elem for f64 {}

/// PTX per module name, compiled once per process.
fn ptx(module: &'static str, src: &'static str) -> candle_core::Result<String> {
    static CACHE: OnceLock<Mutex<HashMap<&'static str, String>>> = OnceLock::new();
    let cache = CACHE.get_or_init(|| Mutex::new(HashMap::new()));
    let mut guard = cache
        .lock()
        .map_err(|_| candle_core::Error::Msg("hep-sparse: PTX cache poisoned".into()))?;
    if let Some(p) = guard.get(module) {
        return Ok(p.clone());
    }
    let compiled = nvrtc::compile_ptx(src).map_err(|e| {
        candle_core::Error::Msg(format!("hep-sparse: NVRTC failed on {module}: {e:?}"))
    })?;
    let text = compiled.to_src();
    guard.insert(module, text.clone());
    Ok(text)
}

fn contiguous_range(l: &Layout, op: &str) -> candle_core::Result<(usize, usize)> {
    l.contiguous_offsets().ok_or_else(|| {
        candle_core::Error::Msg(format!("{op}: internal error, non-contiguous cuda input"))
    })
}

fn as_i32(v: usize, op: &str) -> candle_core::Result<i32> {
    i32::try_from(v).map_err(|_| candle_core::Error::Msg(format!("{op}: size {v} exceeds i32")))
}

/// Masked sum / mean / max over particles on CUDA (`kernels/masked_pool.cu`).
pub(crate) fn pool_fwd(
    kind: PoolKind,
    s1: &CudaStorage,
    l1: &Layout,
    s2: &CudaStorage,
    l2: &Layout,
) -> candle_core::Result<(CudaStorage, Shape)> {
    fn run<T: Elem>(
        suffix: &str,
        kind: i32,
        s1: &CudaStorage,
        l1: &Layout,
        s2: &CudaStorage,
        l2: &Layout,
    ) -> candle_core::Result<CudaStorage> {
        let dev = s1.device().clone();
        let (b, n, f) = l1.shape().dims3()?;
        let (x0, x1) = contiguous_range(l1, "masked_pool")?;
        let (m0, m1) = contiguous_range(l2, "masked_pool")?;
        let x = s1.as_cuda_slice::<T>()?.slice(x0..x1);
        let m = s2.as_cuda_slice::<T>()?.slice(m0..m1);
        let out = dev.alloc_zeros::<T>(b * f)?;
        let func = dev.get_or_load_custom_func(
            &format!("masked_pool_{suffix}"),
            "hep_sparse_masked_pool",
            &ptx("hep_sparse_masked_pool", POOL_SRC)?,
        )?;
        let (bi, ni, fi) = (
            as_i32(b, "masked_pool")?,
            as_i32(n, "masked_pool")?,
            as_i32(f, "masked_pool")?,
        );
        let cfg = LaunchConfig::for_num_elems((b * f) as u32);
        let mut builder = func.builder();
        builder.arg(&x);
        builder.arg(&m);
        builder.arg(&out);
        builder.arg(&bi);
        builder.arg(&ni);
        builder.arg(&fi);
        builder.arg(&kind);
        // SAFETY: argument types and count match the kernel signature in masked_pool.cu; `out`
        // holds B·F elements and the kernel writes only indices < B·F.
        unsafe { builder.launch(cfg) }.w()?;
        Ok(CudaStorage::wrap_cuda_slice(out, dev))
    }
    let k = match kind {
        PoolKind::Sum => 0,
        PoolKind::Mean => 1,
        PoolKind::Max => 2,
    };
    let (b, _, f) = l1.shape().dims3()?;
    let st = match s1.dtype() {
        DType::F32 => run::<f32>("f32", k, s1, l1, s2, l2)?,
        DType::F64 => run::<f64>("f64", k, s1, l1, s2, l2)?,
        dt => candle_core::bail!("masked_pool: unsupported dtype {dt:?}"),
    };
    Ok((st, Shape::from((b, f))))
}

/// Masked softmax over particles on CUDA (`kernels/masked_pool.cu`).
pub(crate) fn softmax_fwd(
    s1: &CudaStorage,
    l1: &Layout,
    s2: &CudaStorage,
    l2: &Layout,
) -> candle_core::Result<(CudaStorage, Shape)> {
    fn run<T: Elem>(
        suffix: &str,
        s1: &CudaStorage,
        l1: &Layout,
        s2: &CudaStorage,
        l2: &Layout,
    ) -> candle_core::Result<CudaStorage> {
        let dev = s1.device().clone();
        let (b, n, f) = l1.shape().dims3()?;
        let (x0, x1) = contiguous_range(l1, "masked_softmax")?;
        let (m0, m1) = contiguous_range(l2, "masked_softmax")?;
        let x = s1.as_cuda_slice::<T>()?.slice(x0..x1);
        let m = s2.as_cuda_slice::<T>()?.slice(m0..m1);
        let out = dev.alloc_zeros::<T>(b * n * f)?;
        let func = dev.get_or_load_custom_func(
            &format!("masked_softmax_{suffix}"),
            "hep_sparse_masked_pool",
            &ptx("hep_sparse_masked_pool", POOL_SRC)?,
        )?;
        let (bi, ni, fi) = (
            as_i32(b, "masked_softmax")?,
            as_i32(n, "masked_softmax")?,
            as_i32(f, "masked_softmax")?,
        );
        let cfg = LaunchConfig::for_num_elems((b * f) as u32);
        let mut builder = func.builder();
        builder.arg(&x);
        builder.arg(&m);
        builder.arg(&out);
        builder.arg(&bi);
        builder.arg(&ni);
        builder.arg(&fi);
        // SAFETY: argument types and count match masked_softmax_* in masked_pool.cu; `out`
        // holds B·N·F elements, the kernel indexes within that range.
        unsafe { builder.launch(cfg) }.w()?;
        Ok(CudaStorage::wrap_cuda_slice(out, dev))
    }
    let st = match s1.dtype() {
        DType::F32 => run::<f32>("f32", s1, l1, s2, l2)?,
        DType::F64 => run::<f64>("f64", s1, l1, s2, l2)?,
        dt => candle_core::bail!("masked_softmax: unsupported dtype {dt:?}"),
    };
    Ok((st, l1.shape().clone()))
}

/// Dirac-mixture NLL (`with_grad = false`, output `[M]`) or its gradients (`with_grad = true`,
/// output `[M, 1 + P]`) on CUDA (`kernels/dirac.cu`).
#[allow(clippy::too_many_arguments)]
pub(crate) fn dirac_fwd(
    density: &Density,
    with_grad: bool,
    s1: &CudaStorage,
    l1: &Layout,
    s2: &CudaStorage,
    l2: &Layout,
    s3: &CudaStorage,
    l3: &Layout,
) -> candle_core::Result<(CudaStorage, Shape)> {
    let p = density.num_params();
    let (family, sigma, levels): (i32, f64, Vec<f64>) = match density {
        Density::GaussianFixed { sigma } => (0, *sigma, vec![0.0]),
        Density::Gaussian => (1, 1.0, vec![0.0]),
        Density::Logistic => (2, 1.0, vec![0.0]),
        Density::Exponential => (3, 1.0, vec![0.0]),
        Density::Categorical { levels } => (4, 1.0, levels.clone()),
        Density::TruncatedGaussian => (5, 1.0, vec![0.0]),
    };
    let m = l1.shape().elem_count();
    #[allow(clippy::too_many_arguments)]
    fn run<T: Elem>(
        suffix: &str,
        (m, p, family, sigma, with_grad): (usize, usize, i32, f64, bool),
        levels: &[f64],
        s1: &CudaStorage,
        l1: &Layout,
        s2: &CudaStorage,
        l2: &Layout,
        s3: &CudaStorage,
        l3: &Layout,
    ) -> candle_core::Result<CudaStorage> {
        let dev = s1.device().clone();
        let (x0, x1) = contiguous_range(l1, "dirac_nll")?;
        let (a0, a1) = contiguous_range(l2, "dirac_nll")?;
        let (p0, p1) = contiguous_range(l3, "dirac_nll")?;
        let x = s1.as_cuda_slice::<T>()?.slice(x0..x1);
        let lg = s2.as_cuda_slice::<T>()?.slice(a0..a1);
        let pr = s3.as_cuda_slice::<T>()?.slice(p0..p1);
        let lv = dev.clone_htod(levels)?;
        let len = if with_grad { m * (p + 1) } else { m };
        let out = dev.alloc_zeros::<T>(len)?;
        let func = dev.get_or_load_custom_func(
            &format!("dirac_{suffix}"),
            "hep_sparse_dirac",
            &ptx("hep_sparse_dirac", DIRAC_SRC)?,
        )?;
        let (mi, pi) = (as_i32(m, "dirac_nll")?, as_i32(p, "dirac_nll")?);
        let wg: i32 = with_grad.into();
        let cfg = LaunchConfig::for_num_elems(m as u32);
        let mut builder = func.builder();
        builder.arg(&x);
        builder.arg(&lg);
        builder.arg(&pr);
        builder.arg(&lv);
        builder.arg(&out);
        builder.arg(&mi);
        builder.arg(&pi);
        builder.arg(&family);
        builder.arg(&sigma);
        builder.arg(&wg);
        // SAFETY: argument types and count match dirac_* in dirac.cu; `out` holds M or
        // M·(1 + P) elements as the kernel expects for `with_grad`.
        unsafe { builder.launch(cfg) }.w()?;
        Ok(CudaStorage::wrap_cuda_slice(out, dev))
    }
    let dims = (m, p, family, sigma, with_grad);
    let st = match s1.dtype() {
        DType::F32 => run::<f32>("f32", dims, &levels, s1, l1, s2, l2, s3, l3)?,
        DType::F64 => run::<f64>("f64", dims, &levels, s1, l1, s2, l2, s3, l3)?,
        dt => candle_core::bail!("dirac_nll: unsupported dtype {dt:?}"),
    };
    let shape = if with_grad {
        Shape::from((m, p + 1))
    } else {
        l1.shape().clone()
    };
    Ok((st, shape))
}

/// `out[b, i, j, f] = act(recv[b, i, f] + send[b, j, f])` on CUDA (`kernels/message_passing.cu`).
pub(crate) fn pair_leaky_fwd(
    slope: f64,
    activate: bool,
    s1: &CudaStorage,
    l1: &Layout,
    s2: &CudaStorage,
    l2: &Layout,
) -> candle_core::Result<(CudaStorage, Shape)> {
    fn run<T: Elem>(
        suffix: &str,
        slope: T,
        activate: bool,
        s1: &CudaStorage,
        l1: &Layout,
        s2: &CudaStorage,
        l2: &Layout,
    ) -> candle_core::Result<CudaStorage> {
        let dev = s1.device().clone();
        let (b, n, f) = l1.shape().dims3()?;
        let (r0, r1) = contiguous_range(l1, "pair_leaky")?;
        let (q0, q1) = contiguous_range(l2, "pair_leaky")?;
        let recv = s1.as_cuda_slice::<T>()?.slice(r0..r1);
        let send = s2.as_cuda_slice::<T>()?.slice(q0..q1);
        let total = b * n * n * f;
        let out = dev.alloc_zeros::<T>(total)?;
        let func = dev.get_or_load_custom_func(
            &format!("pair_leaky_{suffix}"),
            "hep_sparse_message_passing",
            &ptx("hep_sparse_message_passing", MP_SRC)?,
        )?;
        let (bi, ni, fi) = (
            as_i32(b, "pair_leaky")?,
            as_i32(n, "pair_leaky")?,
            as_i32(f, "pair_leaky")?,
        );
        let act: i32 = activate.into();
        let cfg = LaunchConfig::for_num_elems(u32::try_from(total).map_err(|_| {
            candle_core::Error::Msg(format!("pair_leaky: {total} elements exceed u32"))
        })?);
        let mut builder = func.builder();
        builder.arg(&recv);
        builder.arg(&send);
        builder.arg(&out);
        builder.arg(&bi);
        builder.arg(&ni);
        builder.arg(&fi);
        builder.arg(&slope);
        builder.arg(&act);
        // SAFETY: argument types and count match pair_leaky_* in message_passing.cu; `out`
        // holds B·N·N·F elements and the kernel writes only indices below that.
        unsafe { builder.launch(cfg) }.w()?;
        Ok(CudaStorage::wrap_cuda_slice(out, dev))
    }
    let (b, n, f) = l1.shape().dims3()?;
    let st = match s1.dtype() {
        DType::F32 => run::<f32>("f32", slope as f32, activate, s1, l1, s2, l2)?,
        DType::F64 => run::<f64>("f64", slope, activate, s1, l1, s2, l2)?,
        dt => candle_core::bail!("pair_leaky: unsupported dtype {dt:?}"),
    };
    Ok((st, Shape::from((b, n, n, f))))
}

/// `out[b, i, f] = Σ_j mask[b, j] · e[b, i, j, f]` on CUDA (`kernels/message_passing.cu`).
pub(crate) fn masked_aggregate_fwd(
    s1: &CudaStorage,
    l1: &Layout,
    s2: &CudaStorage,
    l2: &Layout,
) -> candle_core::Result<(CudaStorage, Shape)> {
    fn run<T: Elem>(
        suffix: &str,
        s1: &CudaStorage,
        l1: &Layout,
        s2: &CudaStorage,
        l2: &Layout,
    ) -> candle_core::Result<CudaStorage> {
        let dev = s1.device().clone();
        let (b, n, _, f) = l1.shape().dims4()?;
        let (e0, e1) = contiguous_range(l1, "masked_aggregate")?;
        let (m0, m1) = contiguous_range(l2, "masked_aggregate")?;
        let e = s1.as_cuda_slice::<T>()?.slice(e0..e1);
        let m = s2.as_cuda_slice::<T>()?.slice(m0..m1);
        let out = dev.alloc_zeros::<T>(b * n * f)?;
        let func = dev.get_or_load_custom_func(
            &format!("masked_aggregate_{suffix}"),
            "hep_sparse_message_passing",
            &ptx("hep_sparse_message_passing", MP_SRC)?,
        )?;
        let (bi, ni, fi) = (
            as_i32(b, "masked_aggregate")?,
            as_i32(n, "masked_aggregate")?,
            as_i32(f, "masked_aggregate")?,
        );
        let cfg = LaunchConfig::for_num_elems((b * n * f) as u32);
        let mut builder = func.builder();
        builder.arg(&e);
        builder.arg(&m);
        builder.arg(&out);
        builder.arg(&bi);
        builder.arg(&ni);
        builder.arg(&fi);
        // SAFETY: argument types and count match masked_aggregate_* in message_passing.cu;
        // `out` holds B·N·F elements and the kernel writes only indices below that.
        unsafe { builder.launch(cfg) }.w()?;
        Ok(CudaStorage::wrap_cuda_slice(out, dev))
    }
    let (b, n, _, f) = l1.shape().dims4()?;
    let st = match s1.dtype() {
        DType::F32 => run::<f32>("f32", s1, l1, s2, l2)?,
        DType::F64 => run::<f64>("f64", s1, l1, s2, l2)?,
        dt => candle_core::bail!("masked_aggregate: unsupported dtype {dt:?}"),
    };
    Ok((st, Shape::from((b, n, f))))
}

/// Runs a [`CustomOp3`]'s CPU forward on host copies of CUDA inputs and uploads the result:
/// the fallback for ops without a CUDA kernel yet (prints a one-time notice per op).
pub(crate) fn via_cpu3<C: CustomOp3>(
    op: &C,
    s1: &CudaStorage,
    l1: &Layout,
    s2: &CudaStorage,
    l2: &Layout,
    s3: &CudaStorage,
    l3: &Layout,
) -> candle_core::Result<(CudaStorage, Shape)> {
    static NOTICED: OnceLock<Mutex<Vec<&'static str>>> = OnceLock::new();
    let noticed = NOTICED.get_or_init(|| Mutex::new(Vec::new()));
    if let Ok(mut seen) = noticed.lock()
        && !seen.contains(&op.name())
    {
        seen.push(op.name());
        eprintln!(
            "hep-sparse: {} has no CUDA kernel yet; running it on the CPU (host copies)",
            op.name()
        );
    }
    let host = |s: &CudaStorage, l: &Layout| -> candle_core::Result<(CpuStorage, Layout)> {
        // to_cpu_storage copies the whole buffer; keep the layout's offsets valid for it.
        Ok((s.to_cpu_storage()?, l.clone()))
    };
    let (c1, k1) = host(s1, l1)?;
    let (c2, k2) = host(s2, l2)?;
    let (c3, k3) = host(s3, l3)?;
    let (out, shape) = op.cpu_fwd(&c1, &k1, &c2, &k2, &c3, &k3)?;
    let dev: &CudaDevice = s1.device();
    Ok((dev.storage_from_cpu_storage_owned(out)?, shape))
}
