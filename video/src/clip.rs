//! A short clip made from a still picture with a slow pan and zoom (ffmpeg's
//! `zoompan`), with a tone as its audio track: real camera-like motion for
//! tests and benchmarks, from pictures the repository already has.

use std::path::Path;

use crate::error::{Result, VideoError};
use crate::tool;

/// The shape of a [`pan_zoom_clip`].
#[derive(Clone, Debug, PartialEq)]
pub struct ClipOptions {
    /// Frame size in pixels; both even (yuv420p).
    pub width: usize,
    pub height: usize,
    pub frames: usize,
    pub fps: f64,
    /// A 440 Hz tone as AAC audio for the clip's whole length.
    pub audio: bool,
}

/// Writes an H.264 MP4 of `options.frames` frames that zooms from 1.2× to
/// 1.35× into `image` while panning right by 12 % of its width. The picture
/// is first scaled to 8× the frame size, so the motion is smooth to a
/// fraction of a pixel.
pub fn pan_zoom_clip(image: &Path, out: &Path, options: &ClipOptions) -> Result<()> {
    let ClipOptions {
        width: w,
        height: h,
        frames,
        fps,
        audio,
    } = *options;
    if w < 2 || h < 2 || w % 2 == 1 || h % 2 == 1 || frames == 0 || !(fps > 0.0 && fps <= 240.0) {
        return Err(VideoError::invalid(
            "clip",
            format!(
                "{w}×{h}, {frames} frames at {fps} fps: sides must be even, frames ≥ 1, fps in (0, 240]"
            ),
        ));
    }
    std::fs::metadata(image).map_err(|e| VideoError::io(image, e))?;
    let n = frames.max(2) - 1;
    let (bw, bh) = (8 * w, 8 * h);
    let zoom = format!("1.2+0.15*on/{n}");
    let pan = format!("(iw-iw/zoom)/2-0.06*iw+0.12*iw*on/{n}");
    let filter = format!(
        "[0:v]scale={bw}:{bh}:force_original_aspect_ratio=increase,crop={bw}:{bh},\
         zoompan=z='{zoom}':x='{pan}':y='(ih-ih/zoom)/2':d=1:s={w}x{h}:fps={fps},format=yuv420p[v]"
    );
    let seconds = frames as f64 / fps;
    let mut cmd = tool::command("ffmpeg");
    // The still is looped for exactly the clip's length (one zoompan frame
    // per input frame): limiting the output with -frames:v instead would
    // end it before the audio is written.
    cmd.args(["-y", "-loop", "1", "-framerate"])
        .arg(format!("{fps}"))
        .arg("-t")
        .arg(tool::seconds(seconds))
        .arg("-i")
        .arg(image);
    if audio {
        cmd.args(["-f", "lavfi", "-i"]).arg(format!(
            "sine=frequency=440:sample_rate=44100:duration={}",
            tool::seconds(seconds)
        ));
    }
    cmd.args(["-filter_complex", &filter, "-map", "[v]"]);
    if audio {
        cmd.args(["-map", "1:a", "-c:a", "aac"]);
    }
    cmd.args(["-c:v", "libx264", "-crf", "12", "-f", "mp4"])
        .arg(out);
    tool::run("ffmpeg", out, cmd)?;
    Ok(())
}
