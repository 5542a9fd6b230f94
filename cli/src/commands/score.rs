//! `stylefarm score`: the meter (`stylefarm_engine::score`, docs/calibration.md)
//! for any finished picture, stylefarm's or another tool's. One line per
//! picture, so that two tools' outputs can be compared side by side.

use std::path::Path;

use anyhow::Context;
use stylefarm_engine::{DType, Image, Score, Style, Vgg19, parse_device, score};
use stylefarm_worker::engine_settings;

use crate::args::ScoreArgs;
use crate::job::inputs;
use crate::settings::Settings;

pub fn run(args: &ScoreArgs, settings: &Settings) -> anyhow::Result<()> {
    // The meter is fixed: the defaults and this command's flags, never the
    // config's [render] table, so that two machines read a picture alike.
    let (render, _) = args.render.resolve()?;
    let mut engine = engine_settings(&render);
    let load = |p: &Path| {
        Image::load(p, settings.max_input_pixels).with_context(|| format!("{}", p.display()))
    };
    let content = args.content.as_deref().map(load).transpose()?;
    let styles = inputs::styles(&args.styles, false)?
        .into_iter()
        .map(|(path, weight)| {
            Ok(Style {
                image: load(&path)?,
                weight,
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let device = parse_device(&settings.device)?;
    let model = Vgg19::load(&settings.model, &device, DType::F32)?;
    let mut sizes = Vec::new();
    for path in &args.pictures {
        let mut picture = load(path)?;
        if let Some(size) = args.render.size {
            picture = picture.resize_long_side(size as usize);
        }
        engine.size = picture.width.max(picture.height);
        sizes.push(engine.size);
        if content.is_none() {
            // Without a content photo only the style terms are measured, as
            // for a texture of the picture's own size.
            engine.texture = Some((picture.width, picture.height));
        }
        let s = score(&model, &picture, content.as_ref(), &styles, &engine)
            .with_context(|| format!("cannot measure {}", path.display()))?;
        println!("{}", score_line(&path.display().to_string(), &s));
    }
    if sizes.iter().any(|&s| s != sizes[0]) {
        eprintln!(
            "note: the pictures were measured at their own sizes ({}); a picture reads differently at \
             another size, so pass --size N to compare them at one size",
            sizes
                .iter()
                .map(|s| format!("{s} px"))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    Ok(())
}

/// `PATH WxH content 0.41 (relu4_2 0.41) style 0.062 (relu1_1 0.010 …) tv 969.8
/// loss 3.28e6 (content 1.88e6, style 1.33e6, tv 7.09e4)`.
fn score_line(name: &str, s: &Score) -> String {
    let layers = |ls: &[stylefarm_engine::LayerScore]| {
        ls.iter()
            .map(|l| format!("{} {:.4}", l.layer, l.relative))
            .collect::<Vec<_>>()
            .join(", ")
    };
    format!(
        "{name} {}x{} content {:.4} ({}) style {:.4} ({}) tv {:.1} loss {:.4e} (content {:.4e}, style {:.4e}, tv {:.4e})",
        s.width,
        s.height,
        s.content_relative,
        layers(&s.content_layers),
        s.style_relative,
        layers(&s.style_layers),
        s.tv,
        s.losses.total,
        s.losses.content,
        s.losses.style,
        s.losses.tv
    )
}
