//! What a video file holds, read with `ffprobe`, and every way it can be
//! unfit for rendering turned into a clear error.

use std::path::Path;

use serde::Deserialize;

use crate::error::{Result, VideoError};
use crate::tool;

/// Largest width or height a video may claim. H.264's largest level is
/// 8192×4320 and HEVC's 16384 wide; anything beyond is a corrupt or hostile header.
pub const MAX_SIDE: u64 = 16_384;

/// How many packets the frame-rate check reads.
const RATE_PACKETS: usize = 600;

/// The facts about a video that rendering needs.
#[derive(Clone, Debug, PartialEq)]
pub struct VideoInfo {
    /// Displayed size in pixels (a rotation tag of ±90° swaps the coded sides).
    pub width: usize,
    pub height: usize,
    /// Average frame rate in frames per second.
    pub fps: f64,
    /// Frames (packets) in the video stream.
    pub frames: u64,
    /// Duration in seconds (the container's, else the stream's).
    pub duration: f64,
    pub has_audio: bool,
    /// The video codec's short name (`h264`, `vp9`, …).
    pub codec: String,
    /// The shortest and longest interval between frames in seconds when they
    /// differ (more than half the median either way): a variable frame rate.
    pub variable_frame_rate: Option<(f64, f64)>,
}

#[derive(Deserialize, Default)]
struct Probe {
    #[serde(default)]
    streams: Vec<Stream>,
    #[serde(default)]
    format: Option<Format>,
}

#[derive(Deserialize, Default)]
struct Stream {
    codec_type: Option<String>,
    codec_name: Option<String>,
    width: Option<u64>,
    height: Option<u64>,
    avg_frame_rate: Option<String>,
    r_frame_rate: Option<String>,
    nb_frames: Option<String>,
    nb_read_packets: Option<String>,
    duration: Option<String>,
    #[serde(default)]
    side_data_list: Vec<SideData>,
    #[serde(default)]
    tags: std::collections::HashMap<String, String>,
}

#[derive(Deserialize, Default)]
struct SideData {
    rotation: Option<f64>,
}

#[derive(Deserialize, Default)]
struct Format {
    format_name: Option<String>,
    duration: Option<String>,
}

/// Reads `path` with `ffprobe` (demuxing every packet once, decoding none).
/// Errors: no such file, not a video (no video stream, a still image,
/// unreadable data), a resolution beyond [`MAX_SIDE`], no frames, a
/// truncated file. A variable frame rate is reported, not refused: decoding
/// it needs a target frame rate.
pub fn probe(path: &Path) -> Result<VideoInfo> {
    std::fs::metadata(path).map_err(|e| VideoError::io(path, e))?;
    let mut cmd = tool::command("ffprobe");
    cmd.args([
        "-print_format",
        "json",
        "-show_format",
        "-show_streams",
        "-count_packets",
    ])
    .arg(path);
    let out = cmd
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .output()
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => VideoError::ToolMissing {
                program: "ffprobe",
                package: tool::PACKAGE,
            },
            _ => VideoError::io(path, e),
        })?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        return Err(classify_failure(path, &stderr)
            .unwrap_or_else(|| tool::failure("ffprobe", path, &out.status, &out.stderr)));
    }
    let parsed: Probe = serde_json::from_slice(&out.stdout).map_err(|e| VideoError::NotAVideo {
        path: path.to_owned(),
        reason: format!("ffprobe's report is unreadable ({e})"),
    })?;
    let mut info = interpret(path, &parsed, &stderr)?;
    info.variable_frame_rate = frame_intervals(path)?;
    Ok(info)
}

/// An ffprobe failure that means a bad file rather than a broken tool.
fn classify_failure(path: &Path, stderr: &str) -> Option<VideoError> {
    let reason = tool::tail(stderr.as_bytes());
    if let Some((w, h)) = invalid_picture_size(stderr) {
        return Some(VideoError::ResolutionTooLarge {
            path: path.to_owned(),
            width: w,
            height: h,
            limit: MAX_SIDE,
        });
    }
    // An MP4 cut before its index (written last by default) has no `moov`;
    // so has any file named .mp4 that is not one. Only a file that opens
    // with an MP4 `ftyp` box was a video.
    let cut_mp4 = stderr.contains("moov atom not found") && starts_like_mp4(path);
    if cut_mp4 || stderr.contains("End of file") {
        return Some(VideoError::Truncated {
            path: path.to_owned(),
            reason,
        });
    }
    if stderr.contains("Invalid data found")
        || stderr.contains("could not find codec parameters")
        || stderr.contains("moov atom not found")
    {
        return Some(VideoError::NotAVideo {
            path: path.to_owned(),
            reason: format!("ffprobe cannot read it ({reason})"),
        });
    }
    None
}

/// Whether `path` begins with an ISO-BMFF `ftyp` box (MP4, MOV, M4A…).
fn starts_like_mp4(path: &Path) -> bool {
    let mut head = [0u8; 8];
    std::fs::File::open(path)
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut head))
        .is_ok_and(|_| &head[4..8] == b"ftyp")
}

/// `W×H` from ffmpeg's "Picture size WxH is invalid".
fn invalid_picture_size(stderr: &str) -> Option<(u64, u64)> {
    let rest = &stderr[stderr.find("Picture size ")? + "Picture size ".len()..];
    let dims = rest.split_whitespace().next()?;
    let (w, h) = dims.split_once('x')?;
    Some((w.parse().ok()?, h.parse().ok()?))
}

fn interpret(path: &Path, p: &Probe, stderr: &str) -> Result<VideoInfo> {
    let not_video = |reason: &str| VideoError::NotAVideo {
        path: path.to_owned(),
        reason: reason.into(),
    };
    let format = p
        .format
        .as_ref()
        .and_then(|f| f.format_name.clone())
        .unwrap_or_default();
    let v = p
        .streams
        .iter()
        .find(|s| s.codec_type.as_deref() == Some("video"))
        .ok_or_else(|| not_video("it has no video stream"))?;
    if format == "image2"
        || format == "image2pipe"
        || (format.ends_with("_pipe") && format != "yuv4mpegpipe")
    {
        return Err(not_video(&format!(
            "it is a still image ({format}); render it as a picture instead"
        )));
    }
    let (cw, ch) = (v.width.unwrap_or(0), v.height.unwrap_or(0));
    if cw > MAX_SIDE || ch > MAX_SIDE {
        return Err(VideoError::ResolutionTooLarge {
            path: path.to_owned(),
            width: cw,
            height: ch,
            limit: MAX_SIDE,
        });
    }
    if cw == 0 || ch == 0 {
        return Err(not_video(&format!(
            "its video stream claims a size of {cw}×{ch}"
        )));
    }
    let read: u64 = v
        .nb_read_packets
        .as_deref()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    if read == 0 {
        return Err(VideoError::NoFrames {
            path: path.to_owned(),
        });
    }
    let claimed: Option<u64> = v.nb_frames.as_deref().and_then(|s| s.parse().ok());
    if stderr.contains("partial file") || claimed.is_some_and(|c| read < c) {
        return Err(VideoError::Truncated {
            path: path.to_owned(),
            reason: match claimed {
                Some(c) if read < c => format!("its header lists {c} frames, {read} are there"),
                _ => tool::tail(stderr.as_bytes()),
            },
        });
    }
    let fps = rate(v.avg_frame_rate.as_deref())
        .or_else(|| rate(v.r_frame_rate.as_deref()))
        .ok_or_else(|| not_video("its video stream has no frame rate"))?;
    let rotation = v
        .side_data_list
        .iter()
        .find_map(|s| s.rotation)
        .or_else(|| v.tags.get("rotate").and_then(|r| r.parse().ok()))
        .unwrap_or(0.0);
    let quarter_turn = (rotation.abs().round() as i64) % 180 == 90;
    let (width, height) = if quarter_turn { (ch, cw) } else { (cw, ch) };
    let seconds = |s: Option<&String>| s.and_then(|d| d.parse::<f64>().ok()).filter(|d| *d > 0.0);
    let duration = seconds(p.format.as_ref().and_then(|f| f.duration.as_ref()))
        .or_else(|| seconds(v.duration.as_ref()))
        .unwrap_or(read as f64 / fps);
    Ok(VideoInfo {
        width: width as usize,
        height: height as usize,
        fps,
        frames: read,
        duration,
        has_audio: p
            .streams
            .iter()
            .any(|s| s.codec_type.as_deref() == Some("audio")),
        codec: v.codec_name.clone().unwrap_or_default(),
        variable_frame_rate: None,
    })
}

/// `num/den` → frames per second; `0/0` and garbage → None.
fn rate(s: Option<&str>) -> Option<f64> {
    let (n, d) = s?.split_once('/')?;
    let (n, d): (f64, f64) = (n.parse().ok()?, d.parse().ok()?);
    (n > 0.0 && d > 0.0).then_some(n / d)
}

/// The shortest and longest frame interval among the first packets when
/// they differ from the median by more than half of it.
fn frame_intervals(path: &Path) -> Result<Option<(f64, f64)>> {
    let mut cmd = tool::command("ffprobe");
    cmd.args([
        "-select_streams",
        "v:0",
        "-show_entries",
        "packet=pts_time",
        "-read_intervals",
        &format!("%+#{RATE_PACKETS}"),
        "-of",
        "csv=p=0",
    ])
    .arg(path);
    let out = tool::run("ffprobe", path, cmd)?;
    let mut pts: Vec<f64> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.trim().trim_end_matches(',').parse().ok())
        .collect();
    pts.sort_by(f64::total_cmp);
    Ok(variable_intervals(&pts))
}

/// See [`frame_intervals`]; `pts` sorted, in seconds.
fn variable_intervals(pts: &[f64]) -> Option<(f64, f64)> {
    let mut d: Vec<f64> = pts
        .windows(2)
        .map(|w| w[1] - w[0])
        .filter(|d| *d > 1e-9)
        .collect();
    if d.len() < 3 {
        return None;
    }
    d.sort_by(f64::total_cmp);
    let (min, max, median) = (d[0], d[d.len() - 1], d[d.len() / 2]);
    (max > 1.5 * median || min < median / 1.5).then_some((min, max))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_parse_and_refuse_zero() {
        assert_eq!(rate(Some("30000/1001")), Some(30000.0 / 1001.0));
        assert_eq!(rate(Some("0/0")), None);
        assert_eq!(rate(Some("x")), None);
    }

    #[test]
    fn steady_intervals_with_rounding_jitter_are_constant() {
        // 30 fps in a 1 ms time base: 33 and 34 ms alternate.
        let pts: Vec<f64> = (0..40)
            .map(|i| (i as f64 / 30.0 * 1000.0).round() / 1000.0)
            .collect();
        assert_eq!(variable_intervals(&pts), None);
    }

    #[test]
    fn uneven_intervals_are_variable() {
        let pts = [0.0, 0.1, 0.2, 0.4, 0.5, 0.8, 1.0, 1.3];
        let (min, max) = variable_intervals(&pts).unwrap();
        assert!((min - 0.1).abs() < 1e-9 && (max - 0.3).abs() < 1e-9);
    }

    #[test]
    fn picture_size_message_is_parsed() {
        let msg = "[IMGUTILS @ 0x1] Picture size 100000x90000 is invalid\nfoo";
        assert_eq!(invalid_picture_size(msg), Some((100000, 90000)));
    }
}
