//! Video jobs (docs/video.md): the source video and the controls a job adds
//! to its render settings ([`VideoJob`]), its shape rules, which frames are
//! keyframes, and the names its tasks give their files in storage.
//!
//! A video job is planned as frames → flow (one task per segment) →
//! keyframes → segments (one task per pair of neighbouring keyframes) →
//! encode. Every task writes below its own prefix `jobs/<job>/<task>/`;
//! the names below are relative to it, and a task finds its inputs from the
//! prefixes its plan carries.

use crate::error::{Check, InvalidSpec};
use crate::job::{JobSpec, label};
use crate::limits::{
    MAX_FPS, MAX_ITERATIONS, MAX_KEYFRAME_EVERY, MAX_SIDE, MAX_VIDEO_FRAMES, MIN_SIDE,
};
use crate::names::VideoFormat;
use crate::render::{check_input_key, non_negative};

/// The source of a video job and how it is cut, sampled and rendered.
#[derive(Debug, Clone, PartialEq)]
pub struct VideoJob {
    /// `inputs/<sha256>.<ext>` of the uploaded video file.
    pub key: String,
    /// Label for listings and file names (free text).
    pub name: String,
    /// Resample to this many frames per second (ffmpeg's `fps` filter);
    /// `None` = the source's own (constant) rate.
    pub fps: Option<f64>,
    /// Seconds from the start of the source.
    pub start: Option<f64>,
    /// Seconds from `start`; `None` = to the end.
    pub duration: Option<f64>,
    /// Every this many frames a keyframe (the last frame is one too); 1 = one
    /// sequential chain on one worker.
    pub keyframe_every: u32,
    /// γ of the temporal loss (Ruder et al. 2016, eq. 7); 0 = every frame on
    /// its own (the per-frame mode that flickers, for comparison).
    pub temporal_weight: f64,
    /// Iterations of a frame that starts from its warped neighbour; `None` =
    /// a quarter of the render settings' iterations, rounded up (the engine's
    /// `KEYFRAME_ITERATION_RATIO`). Keyframes always run the full count.
    pub frame_iterations: Option<u32>,
    /// Extra animated versions of the result, beside the MP4.
    pub formats: Vec<VideoFormat>,
    /// Frames the cut yields, as the client counted them by decoding with
    /// the same range and rate; the frames task checks it.
    pub frames: u32,
    /// `(width, height)` of the decoded frames in pixels: the source fitted
    /// to the render size, both sides even.
    pub frame_size: (u32, u32),
    /// Frames per second of the decoded frames and of the result.
    pub rate: f64,
    /// The source has an audio track (carried into the result).
    pub audio: bool,
}

/// artistic-videos' controls in stylefarm's terms; the source's fields
/// (frames, size, rate, audio) empty until a client has probed it.
impl Default for VideoJob {
    fn default() -> Self {
        VideoJob {
            key: String::new(),
            name: String::new(),
            fps: None,
            start: None,
            duration: None,
            keyframe_every: DEFAULT_KEYFRAME_EVERY,
            temporal_weight: DEFAULT_TEMPORAL_WEIGHT,
            frame_iterations: None,
            formats: Vec::new(),
            frames: 0,
            frame_size: (0, 0),
            rate: 0.0,
            audio: false,
        }
    }
}

/// Default keyframe interval, frames (half a second at 24 fps).
pub const DEFAULT_KEYFRAME_EVERY: u32 = 12;
/// Default γ: artistic-videos' `-temporal_weight 1e3`.
pub const DEFAULT_TEMPORAL_WEIGHT: f64 = 1e3;

/// The frames of a video of `frames` frames that are keyframes, in order:
/// every `every`-th from 0, and the last. Empty for no frames.
pub fn keyframes(frames: u32, every: u32) -> Vec<u32> {
    if frames == 0 {
        return Vec::new();
    }
    let mut keys: Vec<u32> = (0..frames).step_by(every.max(1) as usize).collect();
    if keys.last() != Some(&(frames - 1)) {
        keys.push(frames - 1);
    }
    keys
}

/// A frame's file, as the frames task writes the source's and the
/// keyframes and segment tasks the stylised ones: `frames/<t>.png`, `t`
/// counted from 0 in six digits.
pub fn frame_name(t: u32) -> String {
    format!("frames/{t:06}.png")
}

/// The source's audio track as the frames task writes it (AAC in MP4).
pub const AUDIO_NAME: &str = "audio.m4a";

/// The report of an encode task: the warping error per frame pair and its
/// mean (JSON).
pub const REPORT_NAME: &str = "warping-error.json";

/// The files of one flow `from → to` between frames `from` and `to`, as
/// artistic-videos names them: the Middlebury `.flo` flow
/// (`forward_<a>_<b>.flo` when `to > from`, else `backward_…`) and the
/// consistency weights as an 8-bit PGM (`reliable_<from>_<to>.pgm`). Pixel
/// `(x, y)` of frame `from` shows what frame `to` shows at `(x + u, y + v)`.
pub fn flow_names(from: u32, to: u32) -> (String, String) {
    let way = if to > from { "forward" } else { "backward" };
    (
        format!("flow/{way}_{from}_{to}.flo"),
        format!("flow/reliable_{from}_{to}.pgm"),
    )
}

/// What one task of a video job does: a step, the job's video, the render
/// settings of every frame, and the output prefixes (`jobs/<job>/<task>/`)
/// of the tasks whose files it reads.
#[derive(Debug, Clone, PartialEq)]
pub struct VideoTask {
    pub step: VideoStep,
    pub video: VideoJob,
    pub styles: Vec<crate::StyleInput>,
    /// Complete: `size` is the frames' long side.
    pub settings: crate::RenderSettings,
    /// The frames task's prefix (source frames and audio).
    pub frames: String,
    /// The flow tasks' prefixes, one per segment (keyframes, encode); a flow
    /// or segment task's own segment's only.
    pub flows: Vec<String>,
    /// The keyframes task's prefix (segment, encode; else empty).
    pub keyframes: String,
    /// Each segment task's prefix, `""` for a segment without frames
    /// between its keyframes (encode; else empty).
    pub segments: Vec<String>,
}

/// The steps of a video job, in the order they run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VideoStep {
    /// Decode the cut at the frame size and rate; the audio alongside.
    Frames,
    /// The flows of segment `n` (between keyframes `n` and `n + 1`): every
    /// pair of neighbouring frames both ways, and keyframe `n + 1` back to
    /// keyframe `n`.
    Flow(u32),
    /// The keyframe chain.
    Keyframes,
    /// The frames strictly between keyframes `n` and `n + 1`.
    Segment(u32),
    /// The result: MP4 (and the extra formats), a side-by-side preview, and
    /// the warping error.
    Encode,
}

impl VideoTask {
    /// The frames `(first, last)` of segment `n`: neighbouring keyframes.
    pub fn segment_range(&self, n: u32) -> Option<(u32, u32)> {
        let keys = keyframes(self.video.frames, self.video.keyframe_every);
        let i = n as usize;
        Some((*keys.get(i)?, *keys.get(i + 1)?))
    }

    /// The file names of the result: `<stem>.mp4`, `<stem>-preview.mp4`
    /// and one per extra format.
    pub fn result_names(&self) -> Vec<String> {
        let stem = result_stem(&self.video.name);
        let mut names = vec![format!("{stem}.mp4"), format!("{stem}-preview.mp4")];
        names.extend(
            self.video
                .formats
                .iter()
                .map(|f| format!("{stem}.{}", f.as_str())),
        );
        names
    }
}

/// The stem of a video's result files: its label in `[A-Za-z0-9._-]`
/// (others become `_`), `video` when empty.
pub fn result_stem(name: &str) -> String {
    let stem: String = name
        .chars()
        .take(100)
        .map(|c| {
            if c.is_ascii_alphanumeric() || "_-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    if stem.is_empty() || stem.starts_with('.') {
        "video".into()
    } else {
        stem
    }
}

impl JobSpec {
    /// A video job's shape: the video and its controls, no pictures besides
    /// the styles, no masks, tiles or texture; the frames' long side is the
    /// render size (rounded down to even).
    pub(crate) fn validate_video(&self) -> Check {
        let Some(v) = &self.video else {
            return Err(InvalidSpec::new(
                "video",
                "empty in a video job",
                "upload the video and send its key, frame count, frame size and rate (the CLI does)",
            ));
        };
        if self.content.is_some() || !self.contents.is_empty() {
            return Err(InvalidSpec::new(
                "content_key",
                "a content picture in a video job",
                "a video job's contents are its frames: send only the video and the styles",
            ));
        }
        if self.content_mask.is_some() || self.tiles.is_some() || self.settings.texture.is_some() {
            return Err(InvalidSpec::new(
                "video",
                "region maps, farm tiles or a texture size in a video job",
                "a video job renders whole frames: drop the masks, the farm tile and the texture size",
            ));
        }
        check_input_key("video.input_key", &v.key)?;
        label("video.name", &v.name)?;
        let rate = |field: &str, value: f64| -> Check {
            if value.is_finite() && value > 0.0 && value <= MAX_FPS {
                Ok(())
            } else {
                Err(InvalidSpec::new(
                    field,
                    format!("{value} frames per second"),
                    format!("use a rate in (0, {MAX_FPS}]"),
                ))
            }
        };
        if let Some(f) = v.fps {
            rate("video.fps", f)?;
        }
        rate("video.rate", v.rate)?;
        if let Some(s) = v.start {
            non_negative("video.start", s)?;
        }
        if let Some(d) = v.duration
            && !(d.is_finite() && d > 0.0)
        {
            return Err(InvalidSpec::new(
                "video.duration",
                format!("{d} s"),
                "give a positive number of seconds, or none for the rest of the video",
            ));
        }
        if !(1..=MAX_KEYFRAME_EVERY).contains(&v.keyframe_every) {
            return Err(InvalidSpec::new(
                "video.keyframe_every",
                format!("{} is out of range", v.keyframe_every),
                format!(
                    "use 1..={MAX_KEYFRAME_EVERY} frames (1: one sequential chain on one worker)"
                ),
            ));
        }
        non_negative("video.temporal_weight", v.temporal_weight)?;
        if let Some(n) = v.frame_iterations
            && !(1..=MAX_ITERATIONS).contains(&n)
        {
            return Err(InvalidSpec::new(
                "video.frame_iterations",
                format!("{n} is out of range"),
                format!(
                    "give each frame 1..={MAX_ITERATIONS} iterations, or none for the render's iterations"
                ),
            ));
        }
        if !(1..=MAX_VIDEO_FRAMES).contains(&v.frames) {
            return Err(InvalidSpec::new(
                "video.frames",
                format!("{} frames", v.frames),
                format!(
                    "a video job renders 1..={MAX_VIDEO_FRAMES} frames: cut the video shorter (--start, --duration) or lower its rate (--fps)"
                ),
            ));
        }
        let (w, h) = v.frame_size;
        if w.min(h) < MIN_SIDE || w.max(h) > MAX_SIDE {
            return Err(InvalidSpec::new(
                "video.frame_size",
                format!("frames of {w}×{h}"),
                format!(
                    "each side must be in {MIN_SIDE}..={MAX_SIDE} px: raise --size, or crop the video"
                ),
            ));
        }
        if w.max(h) != self.settings.size & !1 {
            return Err(InvalidSpec::new(
                "video.frame_size",
                format!("frames of {w}×{h} at size {}", self.settings.size),
                "decode the frames with the render size as their long side (rounded down to even)",
            ));
        }
        self.validate_styles()?;
        self.settings.validate(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{JobKind, StyleInput};

    pub(crate) fn video_job() -> JobSpec {
        let mut s = JobSpec::new(JobKind::Video);
        s.styles = vec![StyleInput {
            key: "inputs/s.png".into(),
            weight: 1.0,
            name: String::new(),
            mask: None,
        }];
        s.settings.size = 64;
        s.video = Some(VideoJob {
            key: "inputs/v.mp4".into(),
            frames: 25,
            frame_size: (64, 48),
            rate: 10.0,
            ..VideoJob::default()
        });
        s
    }

    #[test]
    fn keyframes_every_k_and_the_last() {
        assert_eq!(keyframes(25, 12), vec![0, 12, 24]);
        assert_eq!(keyframes(26, 12), vec![0, 12, 24, 25]);
        assert_eq!(keyframes(5, 12), vec![0, 4]);
        assert_eq!(keyframes(1, 12), vec![0]);
        assert_eq!(keyframes(3, 1), vec![0, 1, 2]);
        assert!(keyframes(0, 12).is_empty());
    }

    #[test]
    fn a_valid_video_job_passes_and_each_bad_field_is_named() {
        assert_eq!(video_job().validate(), Ok(()));
        let bad = |f: fn(&mut JobSpec), field: &str| {
            let mut s = video_job();
            f(&mut s);
            let e = s.validate().unwrap_err();
            assert_eq!(e.field, field, "{e}");
        };
        bad(|s| s.video = None, "video");
        bad(|s| s.video.as_mut().unwrap().frames = 0, "video.frames");
        bad(
            |s| s.video.as_mut().unwrap().frames = MAX_VIDEO_FRAMES + 1,
            "video.frames",
        );
        bad(
            |s| s.video.as_mut().unwrap().keyframe_every = 0,
            "video.keyframe_every",
        );
        bad(|s| s.video.as_mut().unwrap().rate = 0.0, "video.rate");
        bad(
            |s| s.video.as_mut().unwrap().frame_iterations = Some(0),
            "video.frame_iterations",
        );
        bad(
            |s| s.video.as_mut().unwrap().frame_iterations = Some(MAX_ITERATIONS + 1),
            "video.frame_iterations",
        );
        bad(|s| s.video.as_mut().unwrap().fps = Some(1e9), "video.fps");
        bad(
            |s| s.video.as_mut().unwrap().temporal_weight = f64::NAN,
            "video.temporal_weight",
        );
        bad(
            |s| s.video.as_mut().unwrap().frame_size = (64, 8),
            "video.frame_size",
        );
        bad(|s| s.settings.size = 128, "video.frame_size");
        bad(
            |s| s.video.as_mut().unwrap().key = "../etc/passwd".into(),
            "video.input_key",
        );
        bad(|s| s.styles.clear(), "styles");
    }

    #[test]
    fn names_follow_artistic_videos() {
        assert_eq!(frame_name(7), "frames/000007.png");
        assert_eq!(
            flow_names(3, 4),
            (
                "flow/forward_3_4.flo".to_string(),
                "flow/reliable_3_4.pgm".to_string()
            )
        );
        assert_eq!(flow_names(4, 3).0, "flow/backward_4_3.flo");
        assert_eq!(result_stem("clip × starry night"), "clip___starry_night");
        assert_eq!(result_stem(""), "video");
    }
}
