//! `pb::VideoInput` / `pb::VideoParams` ↔ `stylefarm_spec::video`.

use stylefarm_spec::video::{VideoStep, VideoTask};
use stylefarm_spec::{InvalidSpec, RenderSettings, TaskKind, UnknownName, VideoFormat, VideoJob};

use super::job::{style_in, style_out};
use super::{nonzero, required};
use crate::pb;

/// Parses the names of a video's controls; their ranges are checked by
/// `JobSpec::validate`.
pub(super) fn video_in(v: &pb::VideoInput) -> Result<VideoJob, InvalidSpec> {
    let formats = v
        .formats
        .iter()
        .enumerate()
        .map(|(i, f)| {
            f.parse::<VideoFormat>()
                .map_err(|e: UnknownName| e.at(format!("video.formats[{i}]")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(VideoJob {
        key: v.input_key.clone(),
        name: v.name.clone(),
        fps: nonzero(v.fps),
        start: nonzero(v.start),
        duration: nonzero(v.duration),
        keyframe_every: v.keyframe_every,
        temporal_weight: v.temporal_weight,
        frame_iterations: nonzero(v.frame_iterations),
        formats,
        frames: v.frames,
        frame_size: (v.frame_width, v.frame_height),
        rate: v.rate,
        audio: v.audio,
    })
}

pub(super) fn video_out(v: &VideoJob) -> pb::VideoInput {
    pb::VideoInput {
        input_key: v.key.clone(),
        name: v.name.clone(),
        fps: v.fps.unwrap_or(0.0),
        start: v.start.unwrap_or(0.0),
        duration: v.duration.unwrap_or(0.0),
        keyframe_every: v.keyframe_every,
        temporal_weight: v.temporal_weight,
        frame_iterations: v.frame_iterations.unwrap_or(0),
        formats: v.formats.iter().map(|f| f.as_str().into()).collect(),
        frames: v.frames,
        frame_width: v.frame_size.0,
        frame_height: v.frame_size.1,
        rate: v.rate,
        audio: v.audio,
    }
}

pub(super) fn video_task_in(p: &pb::VideoParams) -> Result<VideoTask, InvalidSpec> {
    let kind: TaskKind = p
        .step
        .parse()
        .map_err(|e: UnknownName| e.at("params.video.step"))?;
    let step = match kind {
        TaskKind::Frames => VideoStep::Frames,
        TaskKind::Flow => VideoStep::Flow(p.segment),
        TaskKind::Keyframes => VideoStep::Keyframes,
        TaskKind::Segment => VideoStep::Segment(p.segment),
        TaskKind::Encode => VideoStep::Encode,
        other => {
            return Err(InvalidSpec::new(
                "params.video.step",
                format!("{other:?} is not a step of a video job"),
                "use frames, flow, keyframes, segment or encode",
            ));
        }
    };
    // The conversions a task shares with a job name fields as in a job
    // (`settings.size`): here they lie below `params.video`.
    let video = video_in(required("params.video.video", p.video.as_ref())?)
        .map_err(|e| e.within("params.video"))?;
    let settings = required("params.video.settings", p.settings.as_ref())?;
    let task = VideoTask {
        step,
        video,
        styles: p.styles.iter().map(style_in).collect(),
        settings: RenderSettings::try_from(settings).map_err(|e| e.within("params.video"))?,
        frames: p.frames_prefix.clone(),
        flows: p.flow_prefixes.clone(),
        keyframes: p.keyframes_prefix.clone(),
        segments: p.segment_prefixes.clone(),
    };
    if let VideoStep::Flow(n) | VideoStep::Segment(n) = step
        && task.segment_range(n).is_none()
    {
        return Err(InvalidSpec::new(
            "params.video.segment",
            format!("segment {n} of a video of {} frames", task.video.frames),
            "a segment lies between two neighbouring keyframes",
        ));
    }
    Ok(task)
}

pub(super) fn video_task_out(t: &VideoTask) -> pb::VideoParams {
    let (kind, segment) = match t.step {
        VideoStep::Frames => (TaskKind::Frames, 0),
        VideoStep::Flow(n) => (TaskKind::Flow, n),
        VideoStep::Keyframes => (TaskKind::Keyframes, 0),
        VideoStep::Segment(n) => (TaskKind::Segment, n),
        VideoStep::Encode => (TaskKind::Encode, 0),
    };
    pb::VideoParams {
        step: kind.as_str().into(),
        segment,
        video: Some(video_out(&t.video)),
        styles: t.styles.iter().map(style_out).collect(),
        settings: Some(pb::RenderSettings::from(&t.settings)),
        frames_prefix: t.frames.clone(),
        flow_prefixes: t.flows.clone(),
        keyframes_prefix: t.keyframes.clone(),
        segment_prefixes: t.segments.clone(),
    }
}
