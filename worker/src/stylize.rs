//! `stylize` tasks in three steps: `inputs::fetch_inputs` from storage, a
//! synchronous [`render`] (no network: testable on its own), and
//! [`upload_outputs`].

use std::collections::HashMap;
use std::path::Path;

use bytes::Bytes;
use stylefarm_engine::animation::Animation;
use stylefarm_engine::{
    CancelToken, EngineError, Hooks, Image, Init, Progress, Settings, Style, StyleTargets, Vgg19,
    render as engine_render, render_with_targets,
};
use stylefarm_spec::cache::style_side;
use stylefarm_spec::task::{StylizeTask, TileCrop};
use tracing::warn;

use crate::error::WorkerError;
use crate::guided;
use crate::inputs::{Decoded, Inputs, decode};
use crate::objects::Objects;
use crate::settings::engine_settings;

/// What a render produced: the picture as PNG, and the animation as GIF.
#[derive(Debug)]
pub(crate) struct Rendered {
    pub(crate) png: Vec<u8>,
    pub(crate) gif: Option<Vec<u8>>,
}

/// What the render reports while it runs.
pub(crate) struct Reporting<'a> {
    pub(crate) progress: &'a mut dyn FnMut(&Progress),
    /// A snapshot's file name (`snapshots/<scale>-<iteration>.png`) and PNG.
    pub(crate) snapshot: &'a mut dyn FnMut(String, Vec<u8>),
    pub(crate) cancel: CancelToken,
}

/// The worker's own limits, for every render.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    /// Inputs above this many pixels are refused before decoding.
    pub(crate) max_pixels: u64,
    /// The memory budget of a render whose job sets none, bytes.
    pub(crate) max_memory: Option<u64>,
}

/// How many times a render that ran out of GPU memory starts again in
/// tiles of half the memory before the task fails (and is retried elsewhere).
const MAX_TILE_FALLBACKS: u32 = 3;

/// Decodes the inputs and renders the task's picture; blocking (run it off
/// the async runtime). `dir` holds the animation while it is written. A
/// render out of GPU memory starts again in exact tiles (see
/// [`MAX_TILE_FALLBACKS`]).
pub(crate) fn render(
    model: &Vgg19,
    task: &StylizeTask,
    inputs: Inputs,
    limits: Limits,
    dir: &Path,
    report: Reporting<'_>,
) -> Result<Rendered, WorkerError> {
    let mut settings = settings_under(task, limits);
    let Decoded {
        mut content,
        styles,
        mut init,
    } = decode(&inputs, limits.max_pixels, &mut HashMap::new())?;
    if let Some(tile) = &task.tile {
        // A texture's tile has no content: only its init is cropped.
        if let Some(c) = content.take() {
            let stated = task.content_size.unwrap_or((0, 0));
            if (c.width as u32, c.height as u32) != stated {
                return Err(WorkerError::BadTask(format!(
                    "the content is {}×{}, the job says {}×{}",
                    c.width, c.height, stated.0, stated.1
                )));
            }
            content = Some(crop(tile, &c)?);
        } else if settings.texture.is_none() {
            return Err(WorkerError::BadTask("a tile without content".into()));
        }
        let whole = init.take().ok_or_else(|| {
            WorkerError::BadTask("a tile without the previous scale to start from".into())
        })?;
        init = Some(crop(tile, &whole)?);
    }
    if let Some(img) = init {
        settings.init = Init::Image(img);
    }
    let masks = match &inputs.masks {
        Some(m) => Some(guided::decode(m, task, limits.max_pixels)?),
        None => None,
    };
    if let Some(m) = &masks {
        settings = guided::settings_for(settings, content.as_ref(), m);
    }
    let (w, h) = settings.output_dims(content.as_ref());
    let anim_path = dir.join("animation.gif");
    let mut anim = if task.settings.animation {
        Some(Animation::create(&anim_path, w, h, 100)?)
    } else {
        None
    };
    let save_every = settings.save_every;
    let Reporting {
        progress,
        snapshot,
        cancel,
    } = report;
    let mut on_snapshot = |p: &Progress, img: &Image| {
        if save_every == 0 || !p.iteration.is_multiple_of(save_every) {
            return;
        }
        if let Some(a) = anim.as_mut() {
            let _ = a.push(img);
        }
        if let Ok(png) = img.encode_png() {
            snapshot(
                format!("snapshots/{}-{:06}.png", p.scale + 1, p.iteration),
                png,
            );
        }
    };
    let shared = match &inputs.targets {
        Some(bytes) => shared_targets(model, task, &styles, content.as_ref(), &settings, bytes)?,
        None => None,
    };
    let mut fallbacks = 0;
    let out = loop {
        let hooks = Hooks {
            progress: Some(&mut *progress),
            snapshot: Some(&mut on_snapshot),
            cancel: Some(cancel.clone()),
        };
        let rendered = match (shared.clone(), &masks) {
            (shared, Some(m)) => guided::render(
                model,
                content.as_ref(),
                &styles,
                m,
                shared,
                &settings,
                hooks,
            ),
            (Some(targets), None) => {
                render_with_targets(model, content.as_ref(), &targets, &settings, hooks)
            }
            (None, None) => engine_render(model, content.as_ref(), &styles, &settings, hooks),
        };
        match rendered {
            Err(EngineError::OutOfMemory { needed, .. }) if fallbacks < MAX_TILE_FALLBACKS => {
                // The task falls back to exact tiles in half the memory the
                // engine estimated rather than failing the job.
                fallbacks += 1;
                let budget = (needed / 2).max(stylefarm_engine::settings::MIN_MEMORY);
                warn!(
                    needed_mib = needed >> 20,
                    budget_mib = budget >> 20,
                    "out of GPU memory: rendering again in exact tiles"
                );
                settings.tile = None;
                settings.max_memory = Some(budget);
            }
            other => break other?,
        }
    };
    let gif = match anim {
        Some(mut a) => {
            a.push(&out)?;
            drop(a);
            Some(std::fs::read(&anim_path).map_err(|e| WorkerError::local(&anim_path, e))?)
        }
        None => None,
    };
    Ok(Rendered {
        png: out.encode_png()?,
        gif,
    })
}

/// The task's engine settings, with the worker's memory budget where the
/// job sets none.
pub(crate) fn settings_under(task: &StylizeTask, limits: Limits) -> Settings {
    let mut settings = engine_settings(&task.settings);
    settings.max_memory = settings.max_memory.or(limits.max_memory);
    settings
}

/// Uploads the picture as `<prefix><output_name>` (and the animation as
/// `<prefix>animation.gif`); returns their keys.
pub(crate) async fn upload_outputs(
    store: &Objects,
    prefix: &str,
    task: &StylizeTask,
    rendered: Rendered,
) -> Result<Vec<String>, WorkerError> {
    let mut keys = Vec::new();
    let key = format!("{prefix}{}", task.output_name);
    store.put(&key, Bytes::from(rendered.png)).await?;
    keys.push(key);
    if let Some(gif) = rendered.gif {
        let key = format!("{prefix}animation.gif");
        store.put(&key, Bytes::from(gif)).await?;
        keys.push(key);
    }
    Ok(keys)
}

/// `img` resized to the tile's whole picture, cropped to the tile.
fn crop(tile: &TileCrop, img: &Image) -> Result<Image, WorkerError> {
    let (fw, fh) = (tile.full.0 as usize, tile.full.1 as usize);
    let full = img.resize(fw, fh);
    let (x0, y0) = (tile.at.0 as usize, tile.at.1 as usize);
    let (w, h) = (tile.size.0 as usize, tile.size.1 as usize);
    if x0 + w > fw || y0 + h > fh {
        return Err(WorkerError::BadTask(format!(
            "tile {w}×{h} at ({x0}, {y0}) outside {fw}×{fh}"
        )));
    }
    let n = fw * fh;
    let mut data = Vec::with_capacity(3 * w * h);
    for c in 0..3 {
        for y in 0..h {
            let row = c * n + (y0 + y) * fw + x0;
            data.extend_from_slice(&full.data[row..row + w]);
        }
    }
    Ok(Image {
        width: w,
        height: h,
        data,
    })
}

/// The per-scale targets of this render, blended from the cached per-style
/// targets (`bytes`: styles × scales, style-major); `None` when they do not
/// fit this render (then the render computes its own).
pub(crate) fn shared_targets(
    model: &Vgg19,
    task: &StylizeTask,
    styles: &[Style],
    content: Option<&Image>,
    settings: &Settings,
    bytes: &[Bytes],
) -> Result<Option<Vec<StyleTargets>>, WorkerError> {
    let expected = task.targets.as_ref().map_or(&[][..], |t| &t.sides[..]);
    let dims = settings.scale_dims(content)?;
    // A tile aims at the whole picture's targets (`expected`), not its own.
    let sides: Vec<u32> = if task.tile.is_some() {
        expected.to_vec()
    } else {
        dims.iter()
            .map(|&(w, h)| style_side(w.max(h) as u32, settings.style_scale))
            .collect()
    };
    let n = dims.len();
    if sides != expected || bytes.len() != n * styles.len() {
        warn!(
            ?sides,
            ?expected,
            "cached style targets do not match this render: computing them here"
        );
        return Ok(None);
    }
    let per_style = bytes
        .iter()
        .map(|b| StyleTargets::from_safetensors(b, model.device(), model.dtype()))
        .collect::<Result<Vec<_>, _>>()?;
    let mut out = Vec::with_capacity(n);
    for j in 0..n {
        let parts: Vec<(&StyleTargets, f64)> = styles
            .iter()
            .enumerate()
            .map(|(i, s)| (&per_style[i * n + j], s.weight))
            .collect();
        out.push(StyleTargets::blend(&parts)?);
    }
    Ok(Some(out))
}

#[cfg(test)]
pub(crate) mod tests {
    //! The render alone, without a coordinator or storage: real VGG-19
    //! (`stylefarm model fetch`), tiny pictures, a few iterations.

    use std::sync::OnceLock;

    use stylefarm_engine::model::default_model_path;
    use stylefarm_engine::{DType, Device};
    use stylefarm_spec::{RenderSettings, StyleInput};

    use super::*;

    pub(crate) fn model() -> &'static Vgg19 {
        static MODEL: OnceLock<Vgg19> = OnceLock::new();
        MODEL.get_or_init(|| {
            Vgg19::load(&default_model_path(), &Device::Cpu, DType::F32)
                .expect("the real VGG-19: run `stylefarm model fetch`")
        })
    }

    /// A PNG of a smooth `w × h` picture.
    pub(crate) fn png(w: usize, h: usize, phase: f32) -> Bytes {
        let n = w * h;
        let mut data = vec![0f32; 3 * n];
        for (i, v) in data.iter_mut().enumerate() {
            let (c, p) = (i / n, i % n);
            let (x, y) = ((p % w) as f32, (p / w) as f32);
            *v = 0.5 + 0.4 * (phase + 0.3 * x + 0.2 * y + c as f32).sin();
        }
        let img = Image {
            width: w,
            height: h,
            data,
        };
        Bytes::from(img.encode_png().unwrap())
    }

    pub(crate) fn task(settings: RenderSettings) -> StylizeTask {
        StylizeTask {
            content_key: Some("inputs/c.png".into()),
            content_size: Some((40, 30)),
            styles: vec![StyleInput {
                key: "inputs/s.png".into(),
                weight: 1.0,
                name: String::new(),
                mask: None,
            }],
            settings,
            output_name: "result.png".into(),
            targets: None,
            previous_scale: None,
            tile: None,
            content_mask: None,
        }
    }

    pub(crate) fn inputs(init: Option<Bytes>) -> Inputs {
        Inputs {
            content: Some(("inputs/c.png".into(), png(40, 30, 0.0))),
            styles: vec![(("inputs/s.png".into(), png(32, 32, 1.0)), 1.0)],
            init: init.map(|b| ("jobs/j/t/scale-0.png".into(), b)),
            targets: None,
            masks: None,
        }
    }

    fn run(task: &StylizeTask, inputs: Inputs) -> Result<(Rendered, usize), WorkerError> {
        let dir = tempfile::tempdir().unwrap();
        let mut beats = 0;
        let mut progress = |_: &Progress| beats += 1;
        let mut snapshot = |_: String, _: Vec<u8>| {};
        let report = Reporting {
            progress: &mut progress,
            snapshot: &mut snapshot,
            cancel: CancelToken::new(),
        };
        let limits = Limits {
            max_pixels: 1 << 20,
            max_memory: None,
        };
        let rendered = render(model(), task, inputs, limits, dir.path(), report)?;
        Ok((rendered, beats))
    }

    pub(crate) fn dims(png: &[u8]) -> (usize, usize) {
        let img = Image::decode(png, Path::new("out.png"), 1 << 20).unwrap();
        (img.width, img.height)
    }

    #[test]
    fn a_whole_picture_renders_with_its_animation() {
        let settings = RenderSettings {
            size: 32,
            iterations: 2,
            save_every: 1,
            animation: true,
            ..Default::default()
        };
        let (out, beats) = run(&task(settings), inputs(None)).unwrap();
        assert_eq!(dims(&out.png), (32, 24));
        assert!(beats >= 2, "{beats} progress reports");
        let gif = out.gif.expect("an animation");
        assert!(gif.starts_with(b"GIF8"), "not a GIF");
    }

    #[test]
    fn a_tile_crops_content_and_previous_scale_and_checks_the_content_size() {
        let settings = RenderSettings {
            size: 24,
            iterations: 1,
            ..Default::default()
        };
        let mut tile = task(settings);
        tile.tile = Some(TileCrop {
            full: (48, 36),
            at: (24, 12),
            size: (24, 24),
        });
        tile.output_name = "tile.png".into();
        let (out, _) = run(&tile, inputs(Some(png(24, 18, 2.0)))).unwrap();
        assert_eq!(dims(&out.png), (24, 24));
        assert!(out.gif.is_none());

        let e = run(&tile, inputs(None)).unwrap_err();
        assert!(e.to_string().contains("previous scale"), "{e}");
        tile.content_size = Some((41, 30));
        let e = run(&tile, inputs(Some(png(24, 18, 2.0)))).unwrap_err();
        assert!(e.to_string().contains("the job says 41×30"), "{e}");
        assert!(e.is_permanent());
    }

    /// A PNG region map `w × h`: left half red, right half blue.
    fn halves(w: usize, h: usize) -> Bytes {
        let labels = (0..w * h).map(|i| u8::from(i % w >= w / 2)).collect();
        let m = stylefarm_engine::Mask::from_labels(w, h, vec![[255, 0, 0], [0, 0, 255]], labels);
        Bytes::from(m.unwrap().to_image().encode_png().unwrap())
    }

    fn guided_inputs(init: Option<Bytes>, content_mask: Bytes) -> Inputs {
        Inputs {
            masks: Some(guided::FetchedMasks {
                content: ("inputs/cm.png".into(), content_mask),
                styles: vec![("inputs/sm.png".into(), halves(16, 16))],
            }),
            ..inputs(init)
        }
    }

    #[test]
    fn guided_renders_doodles_and_tiles_crop_the_content_mask() {
        let settings = RenderSettings {
            size: 32,
            iterations: 1,
            ..Default::default()
        };
        let mut t = task(settings);
        t.styles[0].mask = Some("inputs/sm.png".into());
        t.content_mask = Some("inputs/cm.png".into());
        let (out, _) = run(&t, guided_inputs(None, halves(40, 30))).unwrap();
        assert_eq!(dims(&out.png), (32, 24));

        // A doodle: no content, the doodle's aspect ratio at `size`.
        let mut doodle = t.clone();
        doodle.content_key = None;
        doodle.content_size = None;
        let mut i = guided_inputs(None, halves(40, 20));
        i.content = None;
        let (out, _) = run(&doodle, i).unwrap();
        assert_eq!(dims(&out.png), (32, 16));

        // A tile of the right half: its cropped mask holds only blue, which
        // the style mask has; a content region no style has is refused.
        let mut tile = t.clone();
        tile.settings.size = 24;
        tile.tile = Some(TileCrop {
            full: (48, 36),
            at: (24, 12),
            size: (24, 24),
        });
        let (out, _) = run(&tile, guided_inputs(Some(png(24, 18, 2.0)), halves(40, 30))).unwrap();
        assert_eq!(dims(&out.png), (24, 24));
        let green = {
            let m = stylefarm_engine::Mask::uniform(8, 8, [0, 255, 0]);
            Bytes::from(m.to_image().encode_png().unwrap())
        };
        let e = run(&t, guided_inputs(None, green)).unwrap_err();
        assert!(e.to_string().contains("#00ff00"), "{e}");
        assert!(e.is_permanent());
    }
}
