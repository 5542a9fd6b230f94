//! `keyframes` and `segment`: the rendering steps. Both compute the style
//! targets from the first frame (as `engine::video::video_targets` does for
//! a whole video), so that every task of a job aims at the same Grams.

use std::path::Path;

use stylefarm_engine::video::{
    FrameHooks, VideoSettings, stylize_chain, stylize_segment, video_targets,
};
use stylefarm_engine::{CancelToken, Image, Progress, Settings, Style, StyleTargets, Vgg19};
use stylefarm_spec::video::{VideoTask, frame_name, keyframes as keyframes_of};

use super::Io;
use crate::error::WorkerError;
use crate::settings::engine_settings;
use crate::task::{ProgressSender, TaskProgress};

/// The keyframe chain, one keyframe at a time: keyframe 0 from the render
/// settings' init, each later one from its predecessor warped (the flow
/// task of their segment wrote that motion), with the full iterations.
pub(super) fn keyframes(
    io: &Io,
    model: &Vgg19,
    task: &VideoTask,
    max_memory: Option<u64>,
    cancel: CancelToken,
    progress: &ProgressSender,
) -> Result<Vec<String>, WorkerError> {
    let (settings, targets) = prepare(io, model, task, max_memory)?;
    let video = VideoSettings {
        temporal_weight: task.video.temporal_weight,
        frame_iterations: Some(settings.iterations),
    };
    let keys = keyframes_of(task.video.frames, task.video.keyframe_every);
    let mut counter = Counter::new(keys.len(), progress);
    let mut written = Vec::new();
    let mut prev: Option<(Image, Image)> = None;
    for (i, &k) in keys.iter().enumerate() {
        let content = io.frame(&task.frames, k)?;
        let mut report = |_: usize, p: &Progress| counter.report(i, p);
        let mut hooks = FrameHooks {
            progress: Some(&mut report),
            cancel: Some(cancel.clone()),
        };
        let stylised = match prev.take() {
            None => stylize_chain(
                model,
                &targets,
                &settings,
                &video,
                std::slice::from_ref(&content),
                &[],
                None,
                &mut hooks,
            )?,
            Some((prev_content, prev_out)) => {
                let motion = io.motion(&task.flows[i - 1], k, keys[i - 1])?;
                stylize_chain(
                    model,
                    &targets,
                    &settings,
                    &video,
                    &[prev_content, content.clone()],
                    &[motion],
                    Some(&prev_out),
                    &mut hooks,
                )?
            }
        };
        let out = stylised
            .into_iter()
            .last()
            .expect("a chain returns its frames");
        written.push(io.put(&frame_name(k), out.encode_png()?)?);
        prev = Some((content, out));
    }
    Ok(written)
}

/// Segment `n`: the frames strictly between its keyframes, stylised forward
/// from the first and backward from the last and blended
/// (`engine::video::stylize_segment`); with temporal weight 0, each on its
/// own (the per-frame mode).
pub(super) fn segment(
    io: &Io,
    model: &Vgg19,
    task: &VideoTask,
    n: u32,
    max_memory: Option<u64>,
    cancel: CancelToken,
    progress: &ProgressSender,
) -> Result<Vec<String>, WorkerError> {
    let (s, e) = task
        .segment_range(n)
        .ok_or_else(|| WorkerError::BadTask(format!("segment {n} has no keyframes")))?;
    let flows = task
        .flows
        .first()
        .ok_or_else(|| WorkerError::BadTask("a segment without its flow task".into()))?;
    let (settings, targets) = prepare(io, model, task, max_memory)?;
    let video = VideoSettings {
        temporal_weight: task.video.temporal_weight,
        frame_iterations: task.video.frame_iterations.map(|i| i as usize),
    };
    let frames = (s..=e)
        .map(|t| io.frame(&task.frames, t))
        .collect::<Result<Vec<_>, _>>()?;
    let to_prev = (s..e)
        .map(|t| io.motion(flows, t + 1, t))
        .collect::<Result<Vec<_>, _>>()?;
    let inner = frames.len() - 2;
    let out = if video.temporal_weight == 0.0 {
        let mut counter = Counter::new(inner, progress);
        let mut report = |at: usize, p: &Progress| counter.report(at, p);
        let mut hooks = FrameHooks {
            progress: Some(&mut report),
            cancel: Some(cancel),
        };
        let mut out = stylize_chain(
            model,
            &targets,
            &settings,
            &video,
            &frames[1..=inner],
            &to_prev[1..inner],
            None,
            &mut hooks,
        )?;
        out.insert(0, frames[0].clone());
        out
    } else {
        let to_next = (s..e)
            .map(|t| io.motion(flows, t, t + 1))
            .collect::<Result<Vec<_>, _>>()?;
        let first = io.frame(&task.keyframes, s)?;
        let last = io.frame(&task.keyframes, e)?;
        // Each inner frame renders twice: forward, then backward.
        let mut counter = Counter::new(2 * inner, progress);
        let mut report = |at: usize, p: &Progress| counter.report(at, p);
        let mut hooks = FrameHooks {
            progress: Some(&mut report),
            cancel: Some(cancel),
        };
        stylize_segment(
            model, &targets, &settings, &video, &frames, &first, &last, &to_prev, &to_next,
            &mut hooks,
        )?
    };
    let mut written = Vec::with_capacity(inner);
    for (i, img) in out.iter().enumerate().take(inner + 1).skip(1) {
        written.push(io.put(&frame_name(s + i as u32), img.encode_png()?)?);
    }
    Ok(written)
}

/// The engine settings of every frame and the style targets, from the
/// first frame of the video.
fn prepare(
    io: &Io,
    model: &Vgg19,
    task: &VideoTask,
    max_memory: Option<u64>,
) -> Result<(Settings, Vec<StyleTargets>), WorkerError> {
    let mut settings = engine_settings(&task.settings);
    settings.max_memory = settings.max_memory.or(max_memory);
    let styles = task
        .styles
        .iter()
        .map(|s| {
            let bytes = io.get(&s.key)?;
            Ok(Style {
                image: Image::decode(&bytes, Path::new(&s.key), io.max_pixels)?,
                weight: s.weight,
            })
        })
        .collect::<Result<Vec<_>, WorkerError>>()?;
    let first = io.frame(&task.frames, 0)?;
    let targets = video_targets(model, &styles, &first, &settings)?;
    Ok((settings, targets))
}

/// Turns the engine's per-frame progress into the task's: how many of its
/// renders are done. A new frame index, or the same frame starting over (a
/// segment's backward pass meets its forward pass's last frame), means the
/// previous render finished: within one render (scale, iteration) only grows.
struct Counter<'a> {
    total: usize,
    done: usize,
    current: Option<(usize, usize, usize)>,
    sender: &'a ProgressSender,
}

impl<'a> Counter<'a> {
    fn new(total: usize, sender: &'a ProgressSender) -> Self {
        Counter {
            total,
            done: 0,
            current: None,
            sender,
        }
    }

    fn report(&mut self, index: usize, p: &Progress) {
        if let Some((i, scale, iteration)) = self.current
            && (i != index || (p.scale, p.iteration) < (scale, iteration))
        {
            self.done += 1;
        }
        self.current = Some((index, p.scale, p.iteration));
        let _ = self.sender.send(Some(TaskProgress {
            render: *p,
            frames: Some((self.done.min(self.total) as u32, self.total as u32)),
        }));
    }
}
