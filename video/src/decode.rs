//! Frames and the audio track out of a video, with the `ffmpeg` program, at
//! a requested size, frame rate and time range.

use std::io::Read;
use std::path::Path;
use std::process::Stdio;

use crate::error::{Result, VideoError};
use crate::frame::Frame;
use crate::probe::{MAX_SIDE, VideoInfo, probe};
use crate::tool;

/// Highest frame rate a decode may ask for.
pub const MAX_FPS: f64 = 240.0;

/// What part of a video to decode, and how.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DecodeOptions {
    /// Long side of the frames in pixels; `None` = the video's own size. Both
    /// sides are rounded down to even numbers, as H.264 in yuv420p needs.
    pub long_side: Option<usize>,
    /// Frames per second to resample to (ffmpeg's `fps` filter); `None` =
    /// the video's own rate, which must then be constant.
    pub fps: Option<f64>,
    /// Seconds from the start of the video.
    pub start: Option<f64>,
    /// Seconds to decode from `start`; `None` = to the end.
    pub duration: Option<f64>,
}

/// What a decode produced.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Decoded {
    pub width: usize,
    pub height: usize,
    /// Frames per second of the decoded frames.
    pub fps: f64,
    pub frames: usize,
}

/// `(width, height)` of frames decoded at `long_side` (or the source size):
/// the aspect ratio kept, each side rounded down to an even number ≥ 2.
pub fn frame_size(info: &VideoInfo, long_side: Option<usize>) -> (usize, usize) {
    let (w, h) = (info.width as f64, info.height as f64);
    let scale = long_side.map_or(1.0, |l| l as f64 / w.max(h));
    let even = |v: f64| ((v / 2.0 + 1e-9).floor() as usize * 2).max(2);
    (even(w * scale), even(h * scale))
}

impl DecodeOptions {
    fn check(&self, info: &VideoInfo, path: &Path) -> Result<()> {
        if let Some(l) = self.long_side
            && !(2..=MAX_SIDE as usize).contains(&l)
        {
            return Err(VideoError::invalid(
                "size",
                format!("{l} must be between 2 and {MAX_SIDE} pixels"),
            ));
        }
        if let Some(f) = self.fps
            && !(f.is_finite() && f > 0.0 && f <= MAX_FPS)
        {
            return Err(VideoError::invalid(
                "fps",
                format!("{f} must be a number of frames per second in (0, {MAX_FPS}]"),
            ));
        }
        if let Some(s) = self.start
            && !(s.is_finite() && s >= 0.0 && s < info.duration)
        {
            return Err(VideoError::invalid(
                "start",
                format!(
                    "{s} s must be ≥ 0 and before the end of the video ({:.3} s)",
                    info.duration
                ),
            ));
        }
        if let Some(d) = self.duration
            && !(d.is_finite() && d > 0.0)
        {
            return Err(VideoError::invalid(
                "duration",
                format!("{d} s must be a positive number of seconds"),
            ));
        }
        if self.fps.is_none()
            && let Some((min, max)) = info.variable_frame_rate
        {
            return Err(VideoError::VariableFrameRate {
                path: path.to_owned(),
                min_interval: min,
                max_interval: max,
            });
        }
        Ok(())
    }

    /// `-ss`/`-t` around the input, as ffmpeg expects them.
    fn range_args(&self, path: &Path) -> Vec<std::ffi::OsString> {
        let mut a: Vec<std::ffi::OsString> = Vec::new();
        if let Some(s) = self.start {
            a.extend(["-ss".into(), tool::seconds(s).into()]);
        }
        a.extend(["-i".into(), path.as_os_str().to_owned()]);
        if let Some(d) = self.duration {
            a.extend(["-t".into(), tool::seconds(d).into()]);
        }
        a
    }
}

/// Decodes the frames of `path` in order and hands each to `on_frame` with
/// its index, so that a long video never sits in memory whole. Probes the
/// file first: every bad file is refused before decoding starts.
pub fn decode(
    path: &Path,
    options: &DecodeOptions,
    on_frame: impl FnMut(usize, Frame) -> Result<()>,
) -> Result<Decoded> {
    decode_probed(path, &probe(path)?, options, on_frame)
}

/// [`decode`] of a file already probed (`info`): each probe demuxes the
/// whole file once.
fn decode_probed(
    path: &Path,
    info: &VideoInfo,
    options: &DecodeOptions,
    mut on_frame: impl FnMut(usize, Frame) -> Result<()>,
) -> Result<Decoded> {
    options.check(info, path)?;
    let (w, h) = frame_size(info, options.long_side);
    let fps = options.fps.unwrap_or(info.fps);
    let mut filters = Vec::new();
    if let Some(f) = options.fps {
        filters.push(format!("fps={f}"));
    }
    let shrink = w * h <= info.width * info.height;
    filters.push(format!(
        "scale={w}:{h}:flags={}",
        if shrink { "area" } else { "bicubic" }
    ));
    filters.push("setsar=1".into());
    let mut cmd = tool::command("ffmpeg");
    cmd.args(options.range_args(path))
        .args(["-map", "0:v:0", "-an", "-sn", "-dn", "-vf"])
        .arg(filters.join(","));
    if options.fps.is_none() {
        cmd.args(["-fps_mode", "passthrough"]);
    }
    cmd.args(["-f", "rawvideo", "-pix_fmt", "rgb24", "pipe:1"])
        .stdout(Stdio::piped());
    let (mut child, stderr) = tool::spawn(cmd, "ffmpeg")?;
    let mut stdout = child.stdout.take().expect("stdout is piped");
    let mut buf = vec![0u8; 3 * w * h];
    let mut frames = 0;
    let result = loop {
        match read_frame(&mut stdout, &mut buf) {
            Ok(false) => break Ok(()),
            Ok(true) => {}
            Err(e) => break Err(VideoError::io(path, e)),
        }
        let frame = Frame::from_rgb24(w, h, &buf)?;
        if let Err(e) = on_frame(frames, frame) {
            break Err(e);
        }
        frames += 1;
    };
    if let Err(e) = result {
        let _ = child.kill();
        let _ = child.wait();
        return Err(e);
    }
    drop(stdout);
    tool::finish("ffmpeg", path, child, stderr)?;
    if frames == 0 {
        return Err(match (options.start, options.duration) {
            (None, None) => VideoError::NoFrames {
                path: path.to_owned(),
            },
            _ => VideoError::invalid(
                "start/duration",
                format!(
                    "no frames of {} fall in the requested range; the video lasts {:.3} s",
                    path.display(),
                    info.duration
                ),
            ),
        });
    }
    Ok(Decoded {
        width: w,
        height: h,
        fps,
        frames,
    })
}

/// The file's [`probe`], and how many frames [`decode`] with `options`
/// yields with their size and rate, found by decoding at a small size (the
/// count does not depend on it): what a client sends with a video job, so
/// that the farm can plan every frame's task before any worker has decoded
/// it. Probes once.
pub fn count_frames(path: &Path, options: &DecodeOptions) -> Result<(VideoInfo, Decoded)> {
    let info = probe(path)?;
    let small = DecodeOptions {
        long_side: Some(32),
        ..options.clone()
    };
    let d = decode_probed(path, &info, &small, |_, _| Ok(()))?;
    let (width, height) = frame_size(&info, options.long_side);
    Ok((info, Decoded { width, height, ..d }))
}

/// [`decode`] into memory: for short clips and tests.
pub fn decode_all(path: &Path, options: &DecodeOptions) -> Result<(Decoded, Vec<Frame>)> {
    let mut frames = Vec::new();
    let d = decode(path, options, |_, f| {
        frames.push(f);
        Ok(())
    })?;
    Ok((d, frames))
}

/// One whole frame into `buf`; `Ok(false)` at a clean end of stream, an
/// error when the stream ends inside a frame.
fn read_frame(r: &mut impl Read, buf: &mut [u8]) -> std::io::Result<bool> {
    let mut filled = 0;
    while filled < buf.len() {
        match r.read(&mut buf[filled..]) {
            Ok(0) if filled == 0 => return Ok(false),
            Ok(0) => {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    format!(
                        "ffmpeg's output ended inside a frame ({filled} of {} bytes)",
                        buf.len()
                    ),
                ));
            }
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(true)
}

/// Copies the first audio track of `path` in the range of `options`
/// (`start`, `duration`) to `out` as AAC in an MP4 audio file (`.m4a`),
/// ready for [`crate::encode`] to mux. Returns false, writing nothing, when
/// the video has no audio.
pub fn extract_audio(path: &Path, options: &DecodeOptions, out: &Path) -> Result<bool> {
    let info = probe(path)?;
    if !info.has_audio {
        return Ok(false);
    }
    options.check(&info, path)?;
    let mut cmd = tool::command("ffmpeg");
    cmd.arg("-y")
        .args(options.range_args(path))
        .args([
            "-map", "0:a:0", "-vn", "-sn", "-dn", "-c:a", "aac", "-b:a", "192k", "-f", "mp4",
        ])
        .arg(out);
    tool::run("ffmpeg", path, cmd)?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(w: usize, h: usize) -> VideoInfo {
        VideoInfo {
            width: w,
            height: h,
            fps: 25.0,
            frames: 10,
            duration: 0.4,
            has_audio: false,
            codec: "h264".into(),
            variable_frame_rate: None,
        }
    }

    #[test]
    fn frame_sizes_keep_the_aspect_and_are_even() {
        assert_eq!(frame_size(&info(1920, 1080), Some(64)), (64, 36));
        assert_eq!(frame_size(&info(1920, 1080), Some(100)), (100, 56));
        assert_eq!(frame_size(&info(1080, 1920), Some(50)), (28, 50));
        assert_eq!(frame_size(&info(63, 47), None), (62, 46));
        assert_eq!(frame_size(&info(3000, 1), Some(64)), (64, 2));
    }

    #[test]
    fn bad_options_are_named() {
        let i = info(64, 48);
        let p = Path::new("x.mp4");
        let bad = |o: DecodeOptions| o.check(&i, p).unwrap_err().to_string();
        assert!(
            bad(DecodeOptions {
                fps: Some(0.0),
                ..Default::default()
            })
            .contains("fps")
        );
        assert!(
            bad(DecodeOptions {
                start: Some(0.5),
                ..Default::default()
            })
            .contains("before the end")
        );
        assert!(
            bad(DecodeOptions {
                duration: Some(-1.0),
                ..Default::default()
            })
            .contains("duration")
        );
        assert!(
            bad(DecodeOptions {
                long_side: Some(1),
                ..Default::default()
            })
            .contains("size")
        );
        let vfr = VideoInfo {
            variable_frame_rate: Some((0.1, 0.3)),
            ..i.clone()
        };
        let e = DecodeOptions::default()
            .check(&vfr, p)
            .unwrap_err()
            .to_string();
        assert!(e.contains("--fps"), "{e}");
        let ok = DecodeOptions {
            fps: Some(10.0),
            ..Default::default()
        };
        assert!(ok.check(&vfr, p).is_ok());
    }

    #[test]
    fn a_stream_ending_inside_a_frame_is_an_error() {
        let mut buf = [0u8; 4];
        assert!(!read_frame(&mut &[][..], &mut buf).unwrap());
        assert!(read_frame(&mut &[1u8, 2, 3, 4][..], &mut buf).unwrap());
        assert!(read_frame(&mut &[1u8, 2][..], &mut buf).is_err());
    }
}
