//! The five steps of a video job (docs/video.md), each a task on any
//! worker: `frames` decodes the cut into PNGs and the audio track; `flow`
//! computes one segment's optical flows both ways with their consistency
//! weights; `keyframes` stylises the keyframe chain; `segment` the frames
//! between two keyframes; `encode` makes the MP4 (and GIF/WebP), a
//! side-by-side preview and the warping-error report.
//!
//! Each step runs on a blocking thread and reaches storage through the
//! runtime's handle, one file at a time, so that a long video never sits
//! in memory whole: a step holds a segment's frames at most.
//!
//! Layout: this file (dispatch, the files every step shares); `frames`;
//! `flows`; `render` (keyframes and segments); `encode`.

mod encode;
mod flows;
mod frames;
mod render;

use std::path::Path;

use crate::objects::Objects;
use bytes::Bytes;
use stylefarm_engine::video::Motion;
use stylefarm_engine::{CancelToken, Image};
use stylefarm_spec::VideoJob;
use stylefarm_spec::video::{VideoStep, VideoTask, flow_names, frame_name};
use stylefarm_video::{DecodeOptions, Flow, Frame, weights_from_pgm};
use tokio::runtime::Handle;

use crate::error::WorkerError;
use crate::task::{Context, ProgressSender};

/// Runs one video step; returns the keys it wrote.
pub(crate) async fn run(
    ctx: &Context,
    prefix: &str,
    task: &VideoTask,
    cancel: CancelToken,
    progress: ProgressSender,
) -> Result<Vec<String>, WorkerError> {
    let io = Io {
        store: ctx.objects.clone(),
        handle: Handle::current(),
        prefix: prefix.to_owned(),
        max_pixels: ctx.limits.max_pixels,
    };
    let model = ctx.model.clone();
    let task = task.clone();
    let max_memory = ctx.limits.max_memory;
    tokio::task::spawn_blocking(move || match task.step {
        VideoStep::Frames => frames::run(&io, &task),
        VideoStep::Flow(n) => flows::run(&io, &task, n),
        VideoStep::Keyframes => {
            render::keyframes(&io, &model, &task, max_memory, cancel, &progress)
        }
        VideoStep::Segment(n) => {
            render::segment(&io, &model, &task, n, max_memory, cancel, &progress)
        }
        VideoStep::Encode => encode::run(&io, &task),
    })
    .await
    .map_err(|e| WorkerError::Join(e.to_string()))?
}

/// Storage as a blocking step sees it: every call waits on the runtime.
struct Io {
    store: Objects,
    handle: Handle,
    /// This task's output prefix, `jobs/<job>/<task>/`.
    prefix: String,
    max_pixels: u64,
}

impl Io {
    fn get(&self, key: &str) -> Result<Bytes, WorkerError> {
        Ok(self.handle.block_on(self.store.get(key))?)
    }

    /// Writes `name` below this task's prefix; returns its key.
    fn put(&self, name: &str, bytes: Vec<u8>) -> Result<String, WorkerError> {
        let key = format!("{}{name}", self.prefix);
        self.handle
            .block_on(self.store.put(&key, Bytes::from(bytes)))?;
        Ok(key)
    }

    /// Frame `t` as the task with output prefix `at` wrote it.
    fn frame(&self, at: &str, t: u32) -> Result<Image, WorkerError> {
        let key = format!("{at}{}", frame_name(t));
        let bytes = self.get(&key)?;
        Ok(Image::decode(&bytes, Path::new(&key), self.max_pixels)?)
    }

    /// The motion `from → to` with its consistency weights, as the flow task
    /// with output prefix `at` wrote it.
    fn motion(&self, at: &str, from: u32, to: u32) -> Result<Motion, WorkerError> {
        let (flo, pgm) = flow_names(from, to);
        let (flo, pgm) = (format!("{at}{flo}"), format!("{at}{pgm}"));
        let flow = Flow::from_flo(&self.get(&flo)?, &flo)?;
        let (w, h, weights) = weights_from_pgm(&self.get(&pgm)?, &pgm)?;
        if (w, h) != (flow.width, flow.height) {
            return Err(WorkerError::BadTask(format!(
                "{pgm} is {w}×{h} but its flow {flo} is {}×{}",
                flow.width, flow.height
            )));
        }
        Ok(Motion {
            width: w,
            height: h,
            flow: flow.data,
            weights,
        })
    }
}

/// The decode that gives the job's frames: the cut, the rate, and the
/// frames' long side.
fn decode_options(v: &VideoJob) -> DecodeOptions {
    DecodeOptions {
        long_side: Some(v.frame_size.0.max(v.frame_size.1) as usize),
        fps: v.fps,
        start: v.start,
        duration: v.duration,
    }
}

fn image_of(f: Frame) -> Image {
    Image {
        width: f.width,
        height: f.height,
        data: f.data,
    }
}

fn frame_of(i: &Image) -> Frame {
    Frame {
        width: i.width,
        height: i.height,
        data: i.data.clone(),
    }
}

/// A temporary folder of this worker's, removed when dropped.
fn temp_dir() -> Result<tempfile::TempDir, WorkerError> {
    tempfile::Builder::new()
        .prefix("stylefarm-video-")
        .tempdir()
        .map_err(|e| WorkerError::local(&std::env::temp_dir(), e))
}
