//! Each operation's gradient against central finite differences in f64, and
//! the CPU kernels against candle's own operations.

use candle_core::{DType, Device, Tensor};

use super::*;

fn rand(dims: &[usize], seed: u64) -> Tensor {
    // A small LCG keeps tests independent of any RNG crate's stream.
    let n: usize = dims.iter().product();
    let mut s = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    let v: Vec<f64> = (0..n)
        .map(|_| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((s >> 11) as f64 / (1u64 << 53) as f64) * 2.0 - 1.0
        })
        .collect();
    Tensor::from_vec(v, dims, &Device::Cpu).unwrap()
}

fn sum_prod(a: &Tensor, b: &Tensor) -> f64 {
    (a * b)
        .unwrap()
        .sum_all()
        .unwrap()
        .to_scalar::<f64>()
        .unwrap()
}

/// Checks `grad` = d/dx Σ r ⊙ f(x) by central differences at every element.
fn check(x: &Tensor, r: &Tensor, f: impl Fn(&Tensor) -> Tensor, grad: &Tensor) {
    let xv = x.flatten_all().unwrap().to_vec1::<f64>().unwrap();
    let gv = grad.flatten_all().unwrap().to_vec1::<f64>().unwrap();
    let eps = 1e-6;
    for i in 0..xv.len() {
        let mut p = xv.clone();
        p[i] += eps;
        let mut m = xv.clone();
        m[i] -= eps;
        let fp = sum_prod(&f(&Tensor::from_vec(p, x.dims(), &Device::Cpu).unwrap()), r);
        let fm = sum_prod(&f(&Tensor::from_vec(m, x.dims(), &Device::Cpu).unwrap()), r);
        let fd = (fp - fm) / (2.0 * eps);
        assert!(
            (fd - gv[i]).abs() <= 1e-6 * (1.0 + fd.abs()),
            "element {i}: finite difference {fd}, gradient {}",
            gv[i]
        );
    }
}

#[test]
fn conv_matches_candle_conv2d() {
    for (c_in, c_out, h, w) in [(3, 5, 7, 9), (4, 2, 1, 1), (2, 3, 1, 6), (6, 4, 33, 17)] {
        let x = rand(&[c_in, h, w], 1);
        let wt = rand(&[c_out, c_in, 3, 3], 2);
        let b = rand(&[c_out], 3);
        let ours = conv3x3(&x, &Kernel3x3::new(wt.clone()), Some(&b), false).unwrap();
        let theirs = x
            .unsqueeze(0)
            .unwrap()
            .conv2d(&wt, 1, 1, 1, 1)
            .unwrap()
            .squeeze(0)
            .unwrap();
        let theirs = theirs
            .broadcast_add(&b.reshape((c_out, 1, 1)).unwrap())
            .unwrap();
        let diff = (ours - theirs)
            .unwrap()
            .abs()
            .unwrap()
            .max_all()
            .unwrap()
            .to_scalar::<f64>()
            .unwrap();
        assert!(diff < 1e-12, "{c_in}->{c_out} {h}x{w}: max diff {diff}");
    }
}

#[test]
fn conv_f32_matches_f64() {
    let x = rand(&[8, 20, 13], 4);
    let wt = rand(&[6, 8, 3, 3], 5);
    let y64 = conv3x3(&x, &Kernel3x3::new(wt.clone()), None, true).unwrap();
    let y32 = conv3x3(
        &x.to_dtype(DType::F32).unwrap(),
        &Kernel3x3::new(wt.to_dtype(DType::F32).unwrap()),
        None,
        true,
    )
    .unwrap();
    let diff = (y64 - y32.to_dtype(DType::F64).unwrap())
        .unwrap()
        .abs()
        .unwrap()
        .max_all()
        .unwrap();
    assert!(diff.to_scalar::<f64>().unwrap() < 1e-4);
}

#[test]
fn conv_relu_gradient_matches_finite_differences() {
    let (c_in, c_out, h, w) = (3, 4, 5, 6);
    let x = rand(&[c_in, h, w], 6);
    let wt = rand(&[c_out, c_in, 3, 3], 7);
    let b = rand(&[c_out], 8);
    let r = rand(&[c_out, h, w], 9);
    let w_back = wt
        .flip(&[2, 3])
        .unwrap()
        .transpose(0, 1)
        .unwrap()
        .contiguous()
        .unwrap();
    let k = Kernel3x3::new(wt);
    let out = conv3x3(&x, &k, Some(&b), true).unwrap();
    let grad =
        conv3x3_backward(&relu_backward(&r, &out).unwrap(), &Kernel3x3::new(w_back)).unwrap();
    check(&x, &r, |x| conv3x3(x, &k, Some(&b), true).unwrap(), &grad);
}

#[test]
fn max_pool_gradient_matches_finite_differences() {
    for (h, w) in [(6, 8), (7, 5)] {
        let x = rand(&[3, h, w], 10);
        let r = rand(&[3, h / 2, w / 2], 11);
        let grad = max_pool2_backward(&r, &x, None).unwrap();
        check(&x, &r, |x| pool::max_pool2(x).unwrap(), &grad);
        let theirs = x
            .unsqueeze(0)
            .unwrap()
            .max_pool2d(2)
            .unwrap()
            .squeeze(0)
            .unwrap();
        let diff = (pool::max_pool2(&x).unwrap() - theirs)
            .unwrap()
            .abs()
            .unwrap()
            .max_all()
            .unwrap();
        assert_eq!(diff.to_scalar::<f64>().unwrap(), 0.0);
    }
}

#[test]
fn avg_pool_gradient_matches_finite_differences() {
    for (h, w) in [(6, 8), (7, 5)] {
        let x = rand(&[2, h, w], 12);
        let r = rand(&[2, h / 2, w / 2], 13);
        let grad = avg_pool2_backward(&r, &x).unwrap();
        check(&x, &r, |x| avg_pool2(x).unwrap(), &grad);
    }
}

#[test]
fn vector_ops_agree_with_candle() {
    let a = rand(&[100_003], 14);
    let b = rand(&[100_003], 15);
    let d = vector::dot(&a, &b).unwrap();
    assert!((d - sum_prod(&a, &b)).abs() < 1e-9);
    let y = vector::axpy(0.5, &a, &b).unwrap();
    let expect = ((&a * 0.5).unwrap() + &b).unwrap();
    let diff = (y - expect)
        .unwrap()
        .abs()
        .unwrap()
        .max_all()
        .unwrap()
        .to_scalar::<f64>()
        .unwrap();
    assert_eq!(diff, 0.0);
    let s = vector::sum_abs(&a).unwrap();
    assert!(
        (s - a
            .abs()
            .unwrap()
            .sum_all()
            .unwrap()
            .to_scalar::<f64>()
            .unwrap())
        .abs()
            < 1e-9
    );
}

#[test]
fn winograd_matches_im2col() {
    for (c_in, c_out, h, w) in [
        (16, 16, 7, 9),
        (17, 24, 1, 1),
        (16, 18, 2, 5),
        (20, 16, 33, 17),
        (32, 64, 40, 56),
    ] {
        let x = rand(&[c_in, h, w], 21);
        let wt = rand(&[c_out, c_in, 3, 3], 22);
        let b = rand(&[c_out], 23);
        for relu in [false, true] {
            let xs = x.flatten_all().unwrap().to_vec1::<f64>().unwrap();
            let ws = wt.flatten_all().unwrap().to_vec1::<f64>().unwrap();
            let bs = b.to_vec1::<f64>().unwrap();
            let u = winograd::transform_weights(&ws, c_out, c_in);
            let ours = winograd::conv_winograd(&xs, c_in, h, w, &u, c_out, Some(&bs), relu);
            let theirs = x
                .unsqueeze(0)
                .unwrap()
                .conv2d(&wt, 1, 1, 1, 1)
                .unwrap()
                .squeeze(0)
                .unwrap();
            let theirs = theirs
                .broadcast_add(&b.reshape((c_out, 1, 1)).unwrap())
                .unwrap();
            let theirs = if relu { theirs.relu().unwrap() } else { theirs };
            let theirs = theirs.flatten_all().unwrap().to_vec1::<f64>().unwrap();
            let diff = ours
                .iter()
                .zip(&theirs)
                .fold(0f64, |m, (a, b)| m.max((a - b).abs()));
            assert!(
                diff < 1e-12,
                "{c_in}->{c_out} {h}x{w} relu={relu}: max diff {diff}"
            );
        }
    }
}

#[test]
fn winograd_f32_matches_f64() {
    let (c_in, c_out, h, w) = (32, 24, 20, 13);
    let x: Vec<f64> = rand(&[c_in, h, w], 24)
        .flatten_all()
        .unwrap()
        .to_vec1()
        .unwrap();
    let wt: Vec<f64> = rand(&[c_out, c_in, 3, 3], 25)
        .flatten_all()
        .unwrap()
        .to_vec1()
        .unwrap();
    let u64 = winograd::transform_weights(&wt, c_out, c_in);
    let y64 = winograd::conv_winograd(&x, c_in, h, w, &u64, c_out, None, true);
    let x32: Vec<f32> = x.iter().map(|&v| v as f32).collect();
    let w32: Vec<f32> = wt.iter().map(|&v| v as f32).collect();
    let u32 = winograd::transform_weights(&w32, c_out, c_in);
    let y32 = winograd::conv_winograd(&x32, c_in, h, w, &u32, c_out, None, true);
    let diff = y64
        .iter()
        .zip(&y32)
        .fold(0f64, |m, (a, &b)| m.max((a - b as f64).abs()));
    assert!(diff < 1e-4, "max diff {diff}");
}

/// Per-layer kernel speeds at 256 px (192×256), im2col against Winograd: a
/// measuring aid, not a check. Run with
/// `cargo test --release -p stylefarm-engine --lib conv_layer_timings -- --ignored --nocapture`.
#[test]
#[ignore = "prints timings; run by hand"]
fn conv_layer_timings() {
    let shapes = [
        (3, 64, 192, 256),
        (64, 64, 192, 256),
        (64, 128, 96, 128),
        (128, 128, 96, 128),
        (128, 256, 48, 64),
        (256, 256, 48, 64),
        (256, 512, 24, 32),
        (512, 512, 24, 32),
        (512, 512, 12, 16),
        (64, 3, 192, 256),
        (128, 64, 96, 128),
        (256, 128, 48, 64),
        (512, 256, 24, 32),
    ];
    for (c_in, c_out, h, w) in shapes {
        let x: Vec<f32> = (0..c_in * h * w)
            .map(|i| ((i * 7919) % 1000) as f32 / 1000.0 - 0.5)
            .collect();
        let wt: Vec<f32> = (0..c_out * c_in * 9)
            .map(|i| ((i * 104729) % 1000) as f32 / 1e5 - 0.005)
            .collect();
        let flops = 2.0 * (c_in * c_out * 9 * h * w) as f64;
        let mut line = format!("{c_in:>3}->{c_out:<3} {h:>3}x{w:<3}");
        let u = winograd::transform_weights(&wt, c_out, c_in);
        for name in ["im2col", "winograd"] {
            let run = || {
                if name == "im2col" {
                    conv::conv_im2col(&x, c_in, h, w, &wt, c_out, None, true)
                } else {
                    winograd::conv_winograd(&x, c_in, h, w, &u, c_out, None, true)
                }
            };
            run();
            let mut best = f64::MAX;
            for _ in 0..5 {
                let t = std::time::Instant::now();
                std::hint::black_box(run());
                best = best.min(t.elapsed().as_secs_f64());
            }
            line += &format!(
                "  {name} {:7.2} ms {:6.1} GF/s",
                best * 1e3,
                flops / best / 1e9
            );
        }
        println!("{line}");
    }
}

/// The device's network kernels equal the CPU's exactly, ties included: on
/// CUDA (`STYLEFARM_TEST_DEVICE=cuda:0`) the engine's own kernels
/// (`ops/cuda/network.rs`) in f32 and bf16, max-pool forward with its
/// argmax and the backward both from the argmax and from the input, on one
/// picture and on a batch; on the CPU the CPU kernels themselves.
#[test]
fn device_relu_and_max_pool_equal_the_cpus() {
    let device = test_device();
    let dtypes = network_dtypes(&device);
    // Quarter steps make ties in many 2×2 windows; odd sides leave a last
    // row and column outside every window.
    let quarters = |t: Tensor| {
        ((t * 4.0).unwrap().round().unwrap() / 4.0)
            .unwrap()
            .to_dtype(DType::F32)
            .unwrap()
    };
    let x = quarters(rand(&[5, 9, 11], 3));
    let act = quarters(rand(&[5, 9, 11], 4));
    let g = rand(&[5, 9, 11], 5).to_dtype(DType::F32).unwrap();
    let gp = rand(&[5, 4, 5], 6).to_dtype(DType::F32).unwrap();
    let xs = quarters(rand(&[2, 5, 9, 11], 7));
    let gps = rand(&[2, 5, 4, 5], 8).to_dtype(DType::F32).unwrap();
    for &dt in dtypes {
        // The inputs as the device's dtype holds them, back in f32 for the CPU.
        let held = |t: &Tensor| t.to_dtype(dt).unwrap().to_dtype(DType::F32).unwrap();
        let (x, act, g, gp) = (held(&x), held(&act), held(&g), held(&gp));
        let (xs, gps) = (held(&xs), held(&gps));
        let on = |t: &Tensor| t.to_device(&device).unwrap().to_dtype(dt).unwrap();
        let back = |t: Tensor| {
            t.to_dtype(DType::F32)
                .unwrap()
                .to_device(&Device::Cpu)
                .unwrap()
                .flatten_all()
                .unwrap()
                .to_vec1::<f32>()
                .unwrap()
        };
        let want = back(relu_backward(&g, &act).unwrap());
        let got = back(relu_backward(&on(&g), &on(&act)).unwrap());
        assert_eq!(got, want, "relu backward, {dt:?}");
        assert!(want.contains(&0.0) && want.iter().any(|&v| v != 0.0));
        for (x, gp) in [(&x, &gp), (&xs, &gps)] {
            let rank = x.rank();
            let want = back(max_pool2_backward(gp, x, None).unwrap());
            let got = back(max_pool2_backward(&on(gp), &on(x), None).unwrap());
            assert_eq!(got, want, "max-pool backward, rank {rank}, {dt:?}");
            assert_eq!(want.iter().filter(|&&v| v != 0.0).count(), gp.elem_count());
            let (pooled, argmax) = max_pool2_indexed(&on(x)).unwrap();
            assert_eq!(
                argmax.is_some(),
                device.is_cuda(),
                "the kernel keeps an argmax"
            );
            let want_pooled = back(pool::max_pool2(x).unwrap());
            assert_eq!(pooled.dims(), gp.dims());
            assert_eq!(back(pooled), want_pooled, "max-pool, rank {rank}, {dt:?}");
            let got = back(max_pool2_backward(&on(gp), &on(x), argmax.as_ref()).unwrap());
            assert_eq!(
                got, want,
                "max-pool backward by argmax, rank {rank}, {dt:?}"
            );
        }
    }
}

/// The network dtypes the engine's kernels serve on `device`: f32 and bf16
/// on CUDA; on the CPU f32 (its bf16 path is the precision tests').
fn network_dtypes(device: &Device) -> &'static [DType] {
    if device.is_cuda() {
        &[DType::F32, DType::BF16]
    } else {
        &[DType::F32]
    }
}

/// The largest absolute value of an f32 tensor.
fn max_abs(t: &Tensor) -> f32 {
    t.abs()
        .unwrap()
        .max_all()
        .unwrap()
        .to_scalar::<f32>()
        .unwrap()
}

/// The device named by `STYLEFARM_TEST_DEVICE`, else the CPU.
fn test_device() -> Device {
    match std::env::var("STYLEFARM_TEST_DEVICE") {
        Ok(d) => crate::parse_device(&d).unwrap(),
        Err(_) => Device::Cpu,
    }
}

/// The loss terms on `STYLEFARM_TEST_DEVICE` (the own CUDA kernels there:
/// `ops/cuda/losses.rs`) against the CPU's compositions: loss and gradient
/// of the content, style, temporal and total-variation terms.
#[test]
fn device_losses_equal_the_cpus() {
    let device = test_device();
    let f32_rand = |dims: &[usize], seed: u64, k: f64| {
        (rand(dims, seed) * k)
            .unwrap()
            .to_dtype(DType::F32)
            .unwrap()
    };
    let x = f32_rand(&[3, 7, 10], 8, 50.0);
    let warped = f32_rand(&[3, 7, 10], 9, 50.0);
    let consistency = f32_rand(&[1, 7, 10], 10, 1.0).abs().unwrap();
    let f = f32_rand(&[6, 5, 4], 11, 3.0).relu().unwrap();
    let p = f32_rand(&[6, 5, 4], 12, 3.0).relu().unwrap();
    let a = crate::loss::gram(&f32_rand(&[6, 5, 4], 13, 3.0).relu().unwrap()).unwrap();
    type Term<'a> = Box<dyn Fn(&Device) -> (f64, Tensor) + 'a>;
    let on = |t: &Tensor, d: &Device| t.to_device(d).unwrap();
    let terms: Vec<(&str, f64, Term)> = vec![
        (
            "total variation",
            1e-5,
            Box::new(|d| crate::loss::total_variation(&on(&x, d), 0.3).unwrap()),
        ),
        (
            "content",
            1e-5,
            Box::new(|d| crate::loss::content(&on(&f, d), &on(&p, d), 2.0).unwrap()),
        ),
        (
            "temporal",
            1e-5,
            Box::new(|d| {
                let (x, w, c) = (on(&x, d), on(&warped, d), on(&consistency, d));
                crate::loss::temporal(&x, &w, &c, 0.7).unwrap()
            }),
        ),
        // cuBLAS sums the Gram products in another order than the CPU's
        // gemm, and G − A cancels most of their digits.
        (
            "style",
            3e-3,
            Box::new(|d| crate::loss::style(&on(&f, d), &on(&a, d), 5.0).unwrap()),
        ),
    ];
    for (name, tol, term) in &terms {
        let (want_loss, want) = term(&Device::Cpu);
        let (loss, got) = term(&device);
        let got = got.to_device(&Device::Cpu).unwrap();
        assert_eq!(got.dims(), want.dims(), "{name}");
        assert!(
            (loss - want_loss).abs() <= tol * want_loss,
            "{name}: {loss} vs {want_loss}"
        );
        let (diff, scale) = (max_abs(&(&got - &want).unwrap()), max_abs(&want));
        assert!(
            f64::from(diff) <= tol * f64::from(scale),
            "{name}: {diff} against {scale}"
        );
        assert!(want_loss > 0.0 && scale > 0.0, "{name}");
    }
}

/// A convolution with its bias and ReLU on `STYLEFARM_TEST_DEVICE` (on CUDA:
/// cuDNN, then the engine's in-place bias-and-ReLU kernel, f32 and bf16)
/// against the CPU's, for one picture and a batch. The biases are far apart
/// so that a channel given another's bias shows; the tolerance is TF32's and
/// bf16's rounding, which cuDNN's default math may apply to f32.
#[test]
fn device_conv_bias_relu_equals_the_cpus() {
    let device = test_device();
    let dtypes = network_dtypes(&device);
    let wt = rand(&[4, 3, 3, 3], 20).to_dtype(DType::F32).unwrap();
    let b = Tensor::new(&[-3.0f32, 0.0, 3.0, 6.0], &Device::Cpu).unwrap();
    for &dt in dtypes {
        let tol = if dt == DType::BF16 { 5e-2 } else { 2e-2 };
        let on = |t: &Tensor| t.to_device(&device).unwrap().to_dtype(dt).unwrap();
        let held = |t: &Tensor| t.to_dtype(dt).unwrap().to_dtype(DType::F32).unwrap();
        for dims in [&[3, 9, 11][..], &[2, 3, 9, 11]] {
            let x = held(
                &(rand(dims, 21) * 2.0)
                    .unwrap()
                    .to_dtype(DType::F32)
                    .unwrap(),
            );
            for relu in [false, true] {
                let k = Kernel3x3::new(held(&wt));
                let want = conv3x3(&x, &k, Some(&held(&b)), relu).unwrap();
                let kd = Kernel3x3::new(on(&wt));
                let got = conv3x3(&on(&x), &kd, Some(&on(&b)), relu).unwrap();
                let got = got
                    .to_dtype(DType::F32)
                    .unwrap()
                    .to_device(&Device::Cpu)
                    .unwrap();
                assert_eq!(got.dims(), want.dims());
                let (diff, scale) = (max_abs(&(&got - &want).unwrap()), max_abs(&want));
                assert!(
                    diff <= tol * scale,
                    "{dt:?} {dims:?} relu {relu}: {diff} against {scale}"
                );
                if relu {
                    let min = |t: &Tensor| t.min_all().unwrap().to_scalar::<f32>().unwrap();
                    assert!(min(&got) >= 0.0 && min(&want) >= 0.0, "{dt:?} {dims:?}");
                }
            }
        }
    }
}
