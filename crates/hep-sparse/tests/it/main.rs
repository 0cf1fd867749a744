//! Integration tests for hep-sparse: the public API composed the way the models use it.

use candle_core::{DType, Device, Tensor, Var};
use hep_sparse::{
    Density, DiracMixture, MaskedMessagePassing, MessagePassingConfig, mask_from_multiplicity,
    masked_fill, masked_sum,
};

/// Emits a `cpu` test and, with the `cuda` feature, a CUDA test of the same body.
macro_rules! test_device {
    ($fn_name:ident, $test_cpu:ident, $test_cuda:ident) => {
        #[test]
        fn $test_cpu() -> anyhow::Result<()> {
            $fn_name(&Device::Cpu)
        }

        #[cfg(feature = "cuda")]
        #[test]
        fn $test_cuda() -> anyhow::Result<()> {
            $fn_name(&Device::new_cuda(0)?)
        }
    };
}

fn ramp(shape: &[usize], scale: f64, dev: &Device) -> anyhow::Result<Tensor> {
    let n: usize = shape.iter().product();
    let v: Vec<f32> = (0..n)
        .map(|i| ((i * 7919 % 1000) as f64 / 1000.0 - 0.5) as f32 * scale as f32)
        .collect();
    Ok(Tensor::from_vec(v, shape, dev)?)
}

/// An MPGAN-style discriminator pass: rank mask from the multiplicities, one message-passing
/// layer, masked sum pool, scalar loss; every weight gets a finite, non-zero gradient and the
/// output ignores padded particles.
fn mpgan_like_pass(dev: &Device) -> anyhow::Result<()> {
    let (b, n, f) = (4, 30, 8);
    let noise = ramp(&[b, n, f], 0.4, dev)?;
    let counts = Tensor::new(&[30f32, 12.0, 1.0, 0.0], dev)?;
    let mask = mask_from_multiplicity(&noise, &counts)?;
    let cfg = MessagePassingConfig {
        in_features: f,
        widths: vec![16, 12],
        ..Default::default()
    };
    let init = MaskedMessagePassing::init(&cfg, DType::F32, dev, 3)?;
    let vars: Vec<(Var, Var)> = init
        .weights()
        .iter()
        .zip(init.biases())
        .map(|(w, b)| Ok((Var::from_tensor(w)?, Var::from_tensor(b)?)))
        .collect::<anyhow::Result<_>>()?;
    let layers = vars
        .iter()
        .map(|(w, b)| (w.as_tensor().clone(), b.as_tensor().clone()))
        .collect();
    let mp = MaskedMessagePassing::new(&cfg, layers)?;
    let h = masked_fill(&noise, &mask, 0.0)?;
    let msg = mp.forward(&h, &mask)?;
    let pooled = masked_sum(&msg, &mask)?; // [B, 12]
    let loss = pooled.sqr()?.mean_all()?;
    let grads = loss.backward()?;
    for (w, bias) in &vars {
        for v in [w, bias] {
            let g: Vec<f32> = grads.get(v).expect("grad").flatten_all()?.to_vec1()?;
            assert!(g.iter().all(|x| x.is_finite()));
            assert!(g.iter().any(|&x| x != 0.0));
        }
    }
    let pooled: Vec<Vec<f32>> = pooled.to_vec2()?;
    assert!(pooled[3].iter().all(|&v| v == 0.0), "empty jet pools to 0");
    // Changing a padded particle's features changes nothing for the real ones' pooled output.
    let mut h2: Vec<f32> = noise.flatten_all()?.to_vec1()?;
    let m: Vec<Vec<f32>> = mask.to_vec2()?;
    let pad = (0..n).find(|&i| m[1][i] == 0.0).expect("jet 1 has padding");
    h2[(n + pad) * f] += 10.0;
    let h2 = masked_fill(&Tensor::from_vec(h2, (b, n, f), dev)?, &mask, 0.0)?;
    let pooled2: Vec<Vec<f32>> = masked_sum(&mp.forward(&h2, &mask)?, &mask)?.to_vec2()?;
    assert_eq!(pooled, pooled2);
    Ok(())
}
test_device!(mpgan_like_pass, mpgan_like_pass_cpu, mpgan_like_pass_cuda);

/// Gradient descent on the sparse cross-entropy of a tiny sparse "image" set recovers the
/// empirical non-zero fraction and mean.
#[test]
fn sparse_cross_entropy_fits_sparsity_and_intensity() -> anyhow::Result<()> {
    let dev = Device::Cpu;
    let d = DiracMixture::new(Density::GaussianFixed { sigma: 1.0 })?;
    // 8 images of 4 pixels; pixel k is non-zero in (k + 1) of 8 images with value 2.
    let mut x = vec![0f64; 32];
    for k in 0..4 {
        for img in 0..=k {
            x[img * 4 + k] = 2.0;
        }
    }
    let x = Tensor::from_vec(x, (8, 4), &dev)?;
    let logits = Var::zeros(4, DType::F64, &dev)?;
    let mu = Var::zeros((4, 1), DType::F64, &dev)?;
    let mut first = None;
    let mut last = 0.0;
    for _ in 0..400 {
        let l = logits.as_tensor().unsqueeze(0)?.broadcast_as((8, 4))?;
        let p = mu.as_tensor().unsqueeze(0)?.broadcast_as((8, 4, 1))?;
        let loss = d.sparse_cross_entropy(&x, &l, &p)?;
        last = loss.to_scalar::<f64>()?;
        first.get_or_insert(last);
        let g = loss.backward()?;
        logits.set(&(logits.as_tensor() - (g.get(&logits).unwrap() * 0.5)?)?)?;
        mu.set(&(mu.as_tensor() - (g.get(&mu).unwrap() * 0.5)?)?)?;
    }
    assert!(last < first.unwrap());
    let pi: Vec<f64> = candle_core::Tensor::new(logits.as_tensor().to_vec1::<f64>()?, &dev)?
        .neg()?
        .exp()?
        .affine(1.0, 1.0)?
        .recip()?
        .to_vec1()?;
    for (k, p) in pi.iter().enumerate() {
        assert!((p - (k + 1) as f64 / 8.0).abs() < 1e-2, "pixel {k}: pi {p}");
    }
    for m in mu.as_tensor().flatten_all()?.to_vec1::<f64>()? {
        assert!((m - 2.0).abs() < 1e-2, "mu {m}");
    }
    Ok(())
}
