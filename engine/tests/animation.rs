//! The animated GIF of an optimisation: one frame per snapshot, all at the
//! output size, readable by a GIF decoder.

mod common;

use image::AnimationDecoder;
use stylefarm_engine::animation::Animation;
use stylefarm_engine::{DType, Hooks, Image, Progress, Settings, Style, render};

#[test]
fn snapshots_become_gif_frames_at_the_output_size() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("opt.gif");
    let model = common::random_model(DType::F32, 5);
    let content = common::picture(48, 32, 6);
    let settings = Settings {
        size: 48,
        iterations: 6,
        save_every: 2,
        scales: stylefarm_engine::Scales::Explicit(vec![24, 48]),
        ..Settings::default()
    };
    let (w, h) = settings.output_dims(Some(&content));
    let mut anim = Animation::create(&path, w, h, 80).unwrap();
    let mut snap = |p: &Progress, img: &Image| {
        if p.iteration.is_multiple_of(2) {
            anim.push(img).unwrap();
        }
    };
    let hooks = Hooks {
        snapshot: Some(&mut snap),
        ..Hooks::default()
    };
    render(
        &model,
        Some(&content),
        &[Style {
            image: common::picture(40, 40, 7),
            weight: 1.0,
        }],
        &settings,
        hooks,
    )
    .unwrap();
    assert_eq!(anim.frames(), 6); // 3 per scale × 2 scales
    drop(anim);
    let decoder = image::codecs::gif::GifDecoder::new(std::io::BufReader::new(
        std::fs::File::open(&path).unwrap(),
    ))
    .unwrap();
    let frames = decoder.into_frames().collect_frames().unwrap();
    assert_eq!(frames.len(), 6);
    assert!(frames.iter().all(|f| f.buffer().dimensions() == (48, 32)));
}
