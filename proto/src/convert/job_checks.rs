//! The wire checks: every refusal of a `pb::JobSpec` names the wire field.

use stylefarm_spec::limits::{MAX_KEY_LEN, MAX_NAME_LEN};
use stylefarm_spec::render::check_input_key;
use stylefarm_spec::{InvalidSpec, JobSpec as Spec, VGG19_LAYERS};

use crate::pb::{JobSpec, LayerWeight, RenderSettings, StyleInput};

fn validate_spec(spec: &JobSpec) -> Result<(), InvalidSpec> {
    Spec::try_from(spec).map(|_| ())
}

fn referenced_inputs(spec: &JobSpec) -> Vec<String> {
    let spec = Spec::try_from(spec).expect("valid spec");
    spec.input_keys().into_iter().map(str::to_owned).collect()
}

fn is_texture(spec: &JobSpec) -> bool {
    Spec::try_from(spec)
        .expect("valid spec")
        .settings
        .texture
        .is_some()
}

const CONTENT: &str = "inputs/0123abcd.png";
const STYLE: &str = "inputs/4567ef01.jpg";

fn layer(name: &str, weight: f64) -> LayerWeight {
    LayerWeight {
        layer: name.into(),
        weight,
    }
}

fn valid() -> JobSpec {
    JobSpec {
        name: "test".into(),
        kind: "single".into(),
        content_key: CONTENT.into(),
        styles: vec![StyleInput {
            input_key: STYLE.into(),
            weight: 1.0,
            ..Default::default()
        }],
        settings: Some(RenderSettings {
            size: 512,
            iterations: 500,
            seed: 1,
            optimizer: "lbfgs".into(),
            learning_rate: 1.0,
            lbfgs_history: 100,
            content_weight: 5.0,
            style_weight: 100.0,
            tv_weight: 1e-3,
            content_layers: vec![layer("relu4_2", 1.0)],
            style_layers: ["relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"]
                .iter()
                .map(|l| layer(l, 1.0))
                .collect(),
            init: "noise".into(),
            init_input_key: String::new(),
            pooling: "max".into(),
            style_scale: 1.0,
            original_colors: "none".into(),
            scales: vec![],
            multiscale: false,
            save_every: 0,
            animation: false,
            texture_width: 0,
            texture_height: 0,
            normalize_gradients: false,
            model: String::new(),
            ..Default::default()
        }),
        priority: 0,
        ..Default::default()
    }
}

fn texture() -> JobSpec {
    let mut spec = valid();
    spec.content_key.clear();
    let s = settings(&mut spec);
    s.texture_width = 256;
    s.texture_height = 128;
    s.content_layers.clear();
    spec
}

fn settings(spec: &mut JobSpec) -> &mut RenderSettings {
    spec.settings.as_mut().expect("test spec has settings")
}

/// Asserts that `spec` is refused for `field` and the message says `needle`.
#[track_caller]
fn refused(spec: &JobSpec, field: &str, needle: &str) {
    match validate_spec(spec) {
        Ok(()) => panic!("expected {field} to be refused"),
        Err(e) => {
            assert_eq!(e.field, field, "{e}");
            assert!(e.to_string().contains(needle), "{e:?} lacks {needle:?}");
        }
    }
}

fn with(f: impl FnOnce(&mut JobSpec)) -> JobSpec {
    let mut spec = valid();
    f(&mut spec);
    spec
}

fn with_settings(f: impl FnOnce(&mut RenderSettings)) -> JobSpec {
    with(|spec| f(settings(spec)))
}

#[test]
fn valid_specs_pass() {
    assert_eq!(validate_spec(&valid()), Ok(()));
    assert_eq!(validate_spec(&texture()), Ok(()));
}

#[test]
fn kind_must_be_known() {
    refused(
        &with(|s| s.kind = "movie".into()),
        "kind",
        "unknown job kind \"movie\"",
    );
    refused(&with(|s| s.kind.clear()), "kind", "single");
}

#[test]
fn name_is_bounded() {
    refused(
        &with(|s| s.name = "x".repeat(MAX_NAME_LEN + 1)),
        "name",
        "at most 256",
    );
    refused(&with(|s| s.name = "a\nb".into()), "name", "control");
}

#[test]
fn settings_are_required() {
    refused(&with(|s| s.settings = None), "settings", "missing");
}

#[test]
fn content_or_texture_exactly_one() {
    refused(&with(|s| s.content_key.clear()), "content_key", "texture");
    let mut both = texture();
    both.content_key = CONTENT.into();
    refused(&both, "content_key", "not both");
    let mut half = texture();
    settings(&mut half).texture_height = 0;
    refused(&half, "settings.texture_height", "16..=16384");
}

#[test]
fn texture_dims_in_range() {
    let mut t = texture();
    settings(&mut t).texture_width = 8;
    refused(&t, "settings.texture_width", "8 is out of range");
    let mut t = texture();
    settings(&mut t).texture_height = 20_000;
    refused(&t, "settings.texture_height", "20000");
}

#[test]
fn styles_need_positive_weight() {
    refused(&with(|s| s.styles.clear()), "styles", "at least one style");
    refused(&with(|s| s.styles[0].weight = 0.0), "styles", "sum to 0");
    refused(
        &with(|s| s.styles[0].weight = -1.0),
        "styles[0].weight",
        "-1",
    );
    refused(
        &with(|s| s.styles[0].weight = f64::NAN),
        "styles[0].weight",
        "NaN",
    );
    let two_zero_one = with(|s| {
        s.styles.push(StyleInput {
            input_key: STYLE.into(),
            weight: 0.0,
            ..Default::default()
        });
        s.styles[0].weight = 2.0;
    });
    assert_eq!(validate_spec(&two_zero_one), Ok(()));
    let overflow = with(|s| {
        s.styles[0].weight = f64::MAX;
        s.styles.push(StyleInput {
            input_key: STYLE.into(),
            weight: f64::MAX,
            ..Default::default()
        });
    });
    refused(&overflow, "styles", "sum to inf");
}

#[test]
fn keys_are_checked() {
    refused(
        &with(|s| s.content_key = "jobs/x.png".into()),
        "content_key",
        "inputs/",
    );
    refused(
        &with(|s| s.content_key = "inputs/a b.png".into()),
        "content_key",
        "' '",
    );
    refused(
        &with(|s| s.content_key = "inputs/../secret".into()),
        "content_key",
        "..",
    );
    refused(
        &with(|s| s.content_key = "inputs//a.png".into()),
        "content_key",
        "empty",
    );
    refused(
        &with(|s| s.styles[0].input_key = "s3://x".into()),
        "styles[0].input_key",
        "UploadInput",
    );
    let long = format!("inputs/{}", "a".repeat(MAX_KEY_LEN));
    refused(&with(|s| s.content_key = long), "content_key", "bytes long");
    assert_eq!(check_input_key("k", "inputs/ab-c_d.e/f.png"), Ok(()));
}

#[test]
fn size_iterations_history_in_range() {
    refused(
        &with_settings(|s| s.size = 15),
        "settings.size",
        "16..=16384",
    );
    refused(
        &with_settings(|s| s.size = 16_385),
        "settings.size",
        "16385",
    );
    refused(
        &with_settings(|s| s.iterations = 0),
        "settings.iterations",
        "1..=100000",
    );
    refused(
        &with_settings(|s| s.iterations = 100_001),
        "settings.iterations",
        "100001",
    );
    refused(
        &with_settings(|s| s.lbfgs_history = 0),
        "settings.lbfgs_history",
        "1..=1000",
    );
    refused(
        &with_settings(|s| s.lbfgs_history = 1001),
        "settings.lbfgs_history",
        "1001",
    );
}

#[test]
fn optimizer_and_learning_rate() {
    refused(
        &with_settings(|s| s.optimizer = "sgd".into()),
        "settings.optimizer",
        "lbfgs, adam",
    );
    refused(
        &with_settings(|s| s.learning_rate = 0.0),
        "settings.learning_rate",
        "> 0",
    );
    refused(
        &with_settings(|s| s.learning_rate = f64::INFINITY),
        "settings.learning_rate",
        "inf",
    );
    assert_eq!(
        validate_spec(&with_settings(|s| s.optimizer = "adam".into())),
        Ok(())
    );
}

#[test]
fn loss_weights_finite_non_negative() {
    refused(
        &with_settings(|s| s.content_weight = -0.5),
        "settings.content_weight",
        "≥ 0",
    );
    refused(
        &with_settings(|s| s.style_weight = f64::NAN),
        "settings.style_weight",
        "NaN",
    );
    refused(
        &with_settings(|s| s.tv_weight = f64::NEG_INFINITY),
        "settings.tv_weight",
        "-inf",
    );
    assert_eq!(validate_spec(&with_settings(|s| s.tv_weight = 0.0)), Ok(()));
}

#[test]
fn layers_are_vgg19_names() {
    refused(
        &with_settings(|s| s.style_layers[2].layer = "relu9_1".into()),
        "settings.style_layers[2]",
        "unknown layer \"relu9_1\"; VGG-19 layers are conv1_1",
    );
    refused(
        &with_settings(|s| s.content_layers[0].layer = "conv2_3".into()),
        "settings.content_layers[0]",
        "conv2_3",
    );
    refused(
        &with_settings(|s| s.style_layers[0].weight = -1.0),
        "settings.style_layers[0].weight",
        "-1",
    );
    refused(
        &with_settings(|s| s.style_layers.clear()),
        "settings.style_layers",
        "at least one",
    );
    refused(
        &with_settings(|s| s.content_layers.clear()),
        "settings.content_layers",
        "texture",
    );
    for name in [
        "conv1_2", "relu2_2", "conv3_4", "relu4_4", "conv5_4", "pool1", "pool5",
    ] {
        assert!(VGG19_LAYERS.contains(&name), "{name}");
    }
    for name in ["conv1_3", "relu2_3", "conv3_5", "pool6", "pool0", "relu0_1"] {
        assert!(!VGG19_LAYERS.contains(&name), "{name}");
    }
    assert_eq!(VGG19_LAYERS.len(), 16 * 2 + 5);
}

#[test]
fn init_modes() {
    refused(
        &with_settings(|s| s.init = "random".into()),
        "settings.init",
        "noise, content, image",
    );
    refused(
        &with_settings(|s| s.init = "image".into()),
        "settings.init_input_key",
        "empty",
    );
    refused(
        &with_settings(|s| {
            s.init = "image".into();
            s.init_input_key = "/etc/passwd".into();
        }),
        "settings.init_input_key",
        "inputs/",
    );
    refused(
        &with_settings(|s| s.init_input_key = STYLE.into()),
        "settings.init_input_key",
        "init = \"image\"",
    );
    let mut t = texture();
    settings(&mut t).init = "content".into();
    refused(&t, "settings.init", "without a content image");
    assert_eq!(
        validate_spec(&with_settings(|s| s.init = "content".into())),
        Ok(())
    );
    let image = with_settings(|s| {
        s.init = "image".into();
        s.init_input_key = STYLE.into();
    });
    assert_eq!(validate_spec(&image), Ok(()));
    assert_eq!(referenced_inputs(&image), vec![CONTENT, STYLE, STYLE]);
}

#[test]
fn pooling_style_scale_colors() {
    refused(
        &with_settings(|s| s.pooling = "min".into()),
        "settings.pooling",
        "max, avg",
    );
    refused(
        &with_settings(|s| s.precision = "fp16".into()),
        "settings.precision",
        "fp32, tf32, bf16",
    );
    refused(
        &with_settings(|s| s.style_scale = 0.0),
        "settings.style_scale",
        "(0, 8]",
    );
    refused(
        &with_settings(|s| s.style_scale = 8.5),
        "settings.style_scale",
        "8.5",
    );
    refused(
        &with_settings(|s| s.style_scale = f64::NAN),
        "settings.style_scale",
        "NaN",
    );
    assert_eq!(
        validate_spec(&with_settings(|s| s.style_scale = 8.0)),
        Ok(())
    );
    refused(
        &with_settings(|s| s.original_colors = "yes".into()),
        "settings.original_colors",
        "luminance",
    );
    let mut t = texture();
    settings(&mut t).original_colors = "luminance".into();
    refused(&t, "settings.original_colors", "texture mode");
    assert_eq!(
        validate_spec(&with_settings(|s| s.original_colors = "match".into())),
        Ok(())
    );
}

#[test]
fn scales_increase_to_size() {
    assert_eq!(
        validate_spec(&with_settings(|s| s.scales = vec![128, 256, 512])),
        Ok(())
    );
    refused(
        &with_settings(|s| s.scales = vec![256, 128, 512]),
        "settings.scales[1]",
        "strictly increasing",
    );
    refused(
        &with_settings(|s| s.scales = vec![128, 128, 512]),
        "settings.scales[1]",
        "128",
    );
    refused(
        &with_settings(|s| s.scales = vec![8, 512]),
        "settings.scales[0]",
        "16..=16384",
    );
    refused(
        &with_settings(|s| s.scales = vec![128, 256]),
        "settings.scales[1]",
        "size 512",
    );
    refused(
        &with_settings(|s| {
            s.scales = vec![256, 512];
            s.multiscale = true;
        }),
        "settings.multiscale",
        "not both",
    );
}

#[test]
fn snapshots_and_animation() {
    refused(
        &with_settings(|s| s.save_every = 501),
        "settings.save_every",
        "iterations (500)",
    );
    refused(
        &with_settings(|s| s.animation = true),
        "settings.animation",
        "save_every > 0",
    );
    let ok = with_settings(|s| {
        s.save_every = 50;
        s.animation = true;
    });
    assert_eq!(validate_spec(&ok), Ok(()));
}

#[test]
fn model_id_charset() {
    refused(
        &with_settings(|s| s.model = "../vgg".into()),
        "settings.model",
        "model id",
    );
    assert_eq!(
        validate_spec(&with_settings(|s| s.model = "vgg19-caffe.v1".into())),
        Ok(())
    );
}

#[test]
fn huge_strings_are_truncated_in_messages() {
    let err = validate_spec(&with(|s| s.kind = "k".repeat(10_000))).expect_err("refused");
    assert!(err.to_string().len() < 300, "{}", err.to_string().len());
}

#[test]
fn referenced_inputs_skip_empties() {
    assert_eq!(referenced_inputs(&valid()), vec![CONTENT, STYLE]);
    assert_eq!(referenced_inputs(&texture()), vec![STYLE]);
    assert!(is_texture(&texture()));
    assert!(!is_texture(&valid()));
}

#[test]
fn tiling_settings_are_checked() {
    assert_eq!(
        validate_spec(&with_settings(|s| {
            s.tile = 256;
            s.max_memory = 2 << 30;
            s.tileable = true;
        })),
        Ok(())
    );
    refused(&with_settings(|s| s.tile = 100), "settings.tile", "100");
    refused(
        &with_settings(|s| s.max_memory = 1000),
        "settings.max_memory",
        "1000",
    );
}

#[test]
fn multi_task_kinds_are_checked() {
    let grid = with(|s| {
        s.kind = "grid".into();
        s.steps = 3;
        s.styles.push(s.styles[0].clone());
    });
    assert_eq!(validate_spec(&grid), Ok(()));
    let mut three = grid.clone();
    three.styles.push(three.styles[0].clone());
    refused(&three, "styles", "3 styles");
    let mut one_step = grid.clone();
    one_step.steps = 1;
    refused(&one_step, "steps", "1");
    let gallery = with(|s| {
        s.kind = "gallery".into();
        s.contents = vec![crate::pb::ContentInput {
            input_key: s.content_key.clone(),
            name: "a".into(),
            ..Default::default()
        }];
        s.content_key.clear();
    });
    assert_eq!(validate_spec(&gallery), Ok(()));
    let mut empty = gallery.clone();
    empty.contents.clear();
    refused(&empty, "contents", "empty");
    let mut tex = texture();
    tex.kind = "texture".into();
    assert_eq!(validate_spec(&tex), Ok(()));
    refused(
        &with(|s| s.kind = "texture".into()),
        "settings.texture_width",
        "0",
    );
    assert_eq!(
        referenced_inputs(&gallery),
        vec![CONTENT, STYLE],
        "gallery contents are inputs"
    );
}
