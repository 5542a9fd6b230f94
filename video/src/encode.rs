//! Frames into a video file with the `ffmpeg` program: H.264 MP4 (yuv420p,
//! even sides) with an audio track, an animated GIF, or an animated WebP.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Stdio};

use crate::decode::MAX_FPS;
use crate::error::{Result, VideoError};
use crate::frame::Frame;
use crate::tool::{self, StderrTail};

/// The container and codec of an encode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// H.264 (libx264, CRF 18, yuv420p) in MP4 with `+faststart`, plus the
    /// audio track if one is given. Odd sides are padded by one pixel.
    Mp4,
    /// Animated GIF with one palette for the clip (`palettegen` +
    /// `paletteuse`), looping.
    Gif,
    /// Animated lossy WebP (libwebp, quality 80), looping.
    Webp,
}

impl Format {
    /// From a file name's extension: `.mp4`, `.gif`, `.webp`.
    pub fn from_path(path: &Path) -> Result<Format> {
        match path
            .extension()
            .and_then(|e| e.to_str())
            .map(|e| e.to_ascii_lowercase())
            .as_deref()
        {
            Some("mp4") => Ok(Format::Mp4),
            Some("gif") => Ok(Format::Gif),
            Some("webp") => Ok(Format::Webp),
            _ => Err(VideoError::invalid(
                "output",
                format!("{}: name the output .mp4, .gif or .webp", path.display()),
            )),
        }
    }

    fn args(self, has_audio: bool) -> Vec<&'static str> {
        match self {
            Format::Mp4 => {
                let mut a = vec![
                    "-vf",
                    "pad=ceil(iw/2)*2:ceil(ih/2)*2",
                    "-c:v",
                    "libx264",
                    "-preset",
                    "medium",
                    "-crf",
                    "18",
                    "-pix_fmt",
                    "yuv420p",
                    "-movflags",
                    "+faststart",
                ];
                if has_audio {
                    // The track is AAC already (see `extract_audio`); a
                    // longer one is cut at the last frame.
                    a.extend(["-c:a", "copy", "-shortest"]);
                }
                a.extend(["-f", "mp4"]);
                a
            }
            Format::Gif => vec![
                "-vf",
                "split[a][b];[a]palettegen=stats_mode=diff[p];[b][p]paletteuse=dither=bayer:bayer_scale=4",
                "-loop",
                "0",
                "-f",
                "gif",
            ],
            Format::Webp => vec![
                "-c:v",
                "libwebp_anim",
                "-lossless",
                "0",
                "-quality",
                "80",
                "-loop",
                "0",
                "-f",
                "webp",
            ],
        }
    }
}

/// An encode in progress: frames go to ffmpeg's standard input as they come.
pub struct Encoder {
    /// None once finished.
    child: Option<Child>,
    stdin: Option<ChildStdin>,
    stderr: Option<StderrTail>,
    path: PathBuf,
    width: usize,
    height: usize,
    frames: usize,
}

impl Encoder {
    /// Starts encoding `width × height` frames at `fps` into `path` (written
    /// over). `audio` (MP4 only): a file whose first audio track is muxed in,
    /// e.g. from [`crate::extract_audio`].
    pub fn create(
        path: &Path,
        format: Format,
        width: usize,
        height: usize,
        fps: f64,
        audio: Option<&Path>,
    ) -> Result<Encoder> {
        if width == 0 || height == 0 {
            return Err(VideoError::invalid(
                "size",
                format!("{width}×{height} frames"),
            ));
        }
        if !(fps.is_finite() && fps > 0.0 && fps <= MAX_FPS) {
            return Err(VideoError::invalid(
                "fps",
                format!("{fps} must be in (0, {MAX_FPS}]"),
            ));
        }
        if audio.is_some() && format != Format::Mp4 {
            return Err(VideoError::invalid(
                "audio",
                "only MP4 output carries audio; GIF and WebP have none",
            ));
        }
        let mut cmd = tool::command("ffmpeg");
        cmd.args(["-y", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s"])
            .arg(format!("{width}x{height}"))
            .arg("-framerate")
            .arg(format!("{fps}"))
            .args(["-i", "pipe:0"]);
        if let Some(a) = audio {
            cmd.arg("-i")
                .arg(a)
                .args(["-map", "0:v:0", "-map", "1:a:0"]);
        }
        cmd.args(format.args(audio.is_some()))
            .arg(path)
            .stdin(Stdio::piped())
            .stdout(Stdio::null());
        let (mut child, stderr) = tool::spawn(cmd, "ffmpeg")?;
        let stdin = child.stdin.take();
        Ok(Encoder {
            child: Some(child),
            stdin,
            stderr: Some(stderr),
            path: path.to_owned(),
            width,
            height,
            frames: 0,
        })
    }

    /// Appends one frame of the encoder's size.
    pub fn push(&mut self, frame: &Frame) -> Result<()> {
        frame.check()?;
        if (frame.width, frame.height) != (self.width, self.height) {
            return Err(VideoError::invalid(
                "frame",
                format!(
                    "{}×{} in a {}×{} video: every frame must have one size",
                    frame.width, frame.height, self.width, self.height
                ),
            ));
        }
        let Some(stdin) = self.stdin.as_mut() else {
            return Err(VideoError::invalid("encoder", "ffmpeg has already stopped"));
        };
        if let Err(e) = stdin.write_all(&frame.to_rgb24()) {
            // ffmpeg quit early: its stderr says why.
            self.stdin = None;
            if let Some(mut c) = self.child.take() {
                let _ = c.wait();
            }
            let err = self.stderr.take().map(StderrTail::join).unwrap_or_default();
            return Err(VideoError::Tool {
                program: "ffmpeg",
                path: self.path.clone(),
                status: format!("stopped reading frames ({e})"),
                stderr: tool::tail(&err),
            });
        }
        self.frames += 1;
        Ok(())
    }

    /// Closes the stream and waits for the file to be written.
    pub fn finish(mut self) -> Result<()> {
        if self.frames == 0 {
            return Err(VideoError::invalid("frames", "no frames to encode"));
        }
        drop(self.stdin.take());
        let (Some(child), Some(stderr)) = (self.child.take(), self.stderr.take()) else {
            return Err(VideoError::invalid("encoder", "ffmpeg has already stopped"));
        };
        tool::finish("ffmpeg", &self.path, child, stderr).map(|_| ())
    }
}

impl Drop for Encoder {
    /// An encode abandoned before [`Encoder::finish`] stops ffmpeg.
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Encodes `frames` into `path` in one call (the format from its extension).
pub fn encode(path: &Path, frames: &[Frame], fps: f64, audio: Option<&Path>) -> Result<()> {
    let first = frames
        .first()
        .ok_or_else(|| VideoError::invalid("frames", "no frames to encode"))?;
    let mut enc = Encoder::create(
        path,
        Format::from_path(path)?,
        first.width,
        first.height,
        fps,
        audio,
    )?;
    for f in frames {
        enc.push(f)?;
    }
    enc.finish()
}
