//! The meter (`score`): zero where the picture is its own target, the
//! render's own objective where a render would evaluate it, and clear errors.

mod common;

use stylefarm_engine::{
    DType, EngineError, Hooks, Image, Init, Progress, Settings, Style, render, score,
};

fn settings() -> Settings {
    Settings {
        size: 40,
        iterations: 1,
        init: Init::Content,
        ..Settings::default()
    }
}

fn style_of(image: &Image) -> Vec<Style> {
    vec![Style {
        image: image.clone(),
        weight: 1.0,
    }]
}

#[test]
fn a_picture_measured_against_itself_is_at_zero() {
    let model = common::random_model(DType::F32, 11);
    let picture = common::picture(40, 32, 1);
    let s = score(
        &model,
        &picture,
        Some(&picture),
        &style_of(&picture),
        &settings(),
    )
    .unwrap();
    assert_eq!((s.width, s.height), (40, 32));
    assert_eq!(s.content_layers.len(), 1);
    assert_eq!(s.style_layers.len(), 5);
    assert_eq!(s.content_relative, 0.0);
    assert_eq!(s.style_relative, 0.0);
    assert_eq!(s.losses.content + s.losses.style, 0.0);
    assert!(s.tv > 0.0 && s.losses.tv > 0.0);

    // Another picture is some way off on every layer; content and style are
    // measured apart: the picture against another content and its own style.
    let other = common::picture(40, 32, 2);
    let far = score(
        &model,
        &other,
        Some(&picture),
        &style_of(&picture),
        &settings(),
    )
    .unwrap();
    assert!(far.content_relative > 0.01, "{far:?}");
    assert!(
        far.style_layers.iter().all(|l| l.relative > 0.01),
        "{far:?}"
    );
    let apart = score(
        &model,
        &picture,
        Some(&other),
        &style_of(&picture),
        &settings(),
    )
    .unwrap();
    assert!(apart.content_relative > 0.01, "{apart:?}");
    assert_eq!(apart.style_relative, 0.0);
}

#[test]
fn losses_are_the_renders_own_objective() {
    let model = common::random_model(DType::F32, 11);
    let content = common::picture(40, 32, 1);
    let styles = style_of(&common::picture(48, 40, 3));
    let settings = Settings {
        tv_weight: 0.5,
        ..settings()
    };
    // A render's first evaluation is at the init, here the content itself.
    let mut first: Option<Progress> = None;
    let mut on_progress = |p: &Progress| {
        first.get_or_insert(*p);
    };
    render(
        &model,
        Some(&content),
        &styles,
        &settings,
        Hooks {
            progress: Some(&mut on_progress),
            ..Hooks::default()
        },
    )
    .unwrap();
    let want = first.unwrap().losses;
    let got = score(&model, &content, Some(&content), &styles, &settings)
        .unwrap()
        .losses;
    let close = |a: f64, b: f64| (a - b).abs() <= 1e-6 * a.abs().max(b.abs()).max(1e-12);
    assert!(close(got.content, want.content), "{got:?} vs {want:?}");
    assert!(close(got.style, want.style), "{got:?} vs {want:?}");
    assert!(close(got.tv, want.tv), "{got:?} vs {want:?}");
    assert!(close(got.total, want.total), "{got:?} vs {want:?}");
    assert!(want.style > 0.0 && want.tv > 0.0);
}

#[test]
fn textures_have_no_content_terms_and_tiny_pictures_are_refused() {
    let model = common::random_model(DType::F32, 11);
    let texture = Settings {
        texture: Some((40, 32)),
        init: Init::Noise,
        ..settings()
    };
    let picture = common::picture(40, 32, 1);
    let s = score(&model, &picture, None, &style_of(&picture), &texture).unwrap();
    assert!(s.content_layers.is_empty() && s.losses.content == 0.0);

    let tiny = common::picture(40, 8, 1);
    let err = score(
        &model,
        &tiny,
        Some(&picture),
        &style_of(&picture),
        &settings(),
    )
    .unwrap_err();
    assert!(matches!(err, EngineError::InvalidSetting { .. }), "{err}");
    assert!(err.to_string().contains("40×8"), "{err}");
}
