//! `encode`: the stylised frames, in order, into `<name>.mp4` (H.264 with
//! the source's audio), each extra format, and `<name>-preview.mp4` (source
//! and result side by side); and the warping error of every pair of
//! neighbouring frames into `warping-error.json`. Frames stream through one
//! at a time.

use serde::Serialize;
use stylefarm_engine::Image;
use stylefarm_engine::video::warping_errors;
use stylefarm_spec::video::{AUDIO_NAME, REPORT_NAME, VideoTask, keyframes};
use stylefarm_video::{Encoder, Format, side_by_side};

use super::{Io, frame_of, temp_dir};
use crate::error::WorkerError;

/// The warping-error report: what `stylefarm` prints after a video job.
#[derive(Debug, Serialize)]
struct Report {
    /// Mean over all pairs, 0..255 (`engine::video::warping_errors`).
    warping_error: f64,
    /// Mean over the pairs that touch an inner keyframe (where two segments
    /// meet); `null` without inner keyframes.
    at_keyframes: Option<f64>,
    /// Per pair `(t − 1, t)`, for t = 1…frames − 1.
    pairs: Vec<f64>,
    frames: u32,
    keyframes: Vec<u32>,
}

pub(super) fn run(io: &Io, task: &VideoTask) -> Result<Vec<String>, WorkerError> {
    let v = &task.video;
    let keys = keyframes(v.frames, v.keyframe_every);
    let segment_of = |t: u32| keys.partition_point(|&k| k <= t).saturating_sub(1);
    // Where frame t's stylised picture is.
    let stylised_at = |t: u32| -> Result<&str, WorkerError> {
        if keys.binary_search(&t).is_ok() {
            return Ok(&task.keyframes);
        }
        task.segments
            .get(segment_of(t))
            .filter(|p| !p.is_empty())
            .map(String::as_str)
            .ok_or_else(|| WorkerError::BadTask(format!("no segment holds frame {t}")))
    };

    let dir = temp_dir()?;
    let audio = if v.audio {
        let path = dir.path().join(AUDIO_NAME);
        let bytes = io.get(&format!("{}{AUDIO_NAME}", task.frames))?;
        std::fs::write(&path, &bytes).map_err(|e| WorkerError::local(&path, e))?;
        Some(path)
    } else {
        None
    };
    let names = task.result_names();
    let (w, h) = (v.frame_size.0 as usize, v.frame_size.1 as usize);
    let path = |name: &str| dir.path().join(name);
    let mut main = Encoder::create(
        &path(&names[0]),
        Format::Mp4,
        w,
        h,
        v.rate,
        audio.as_deref(),
    )?;
    let mut preview = Encoder::create(&path(&names[1]), Format::Mp4, 2 * w, h, v.rate, None)?;
    let mut extras = v
        .formats
        .iter()
        .zip(&names[2..])
        .map(|(f, name)| {
            let format = match f {
                stylefarm_spec::VideoFormat::Gif => Format::Gif,
                stylefarm_spec::VideoFormat::Webp => Format::Webp,
            };
            Encoder::create(&path(name), format, w, h, v.rate, None)
        })
        .collect::<Result<Vec<_>, _>>()?;

    let mut pairs = Vec::with_capacity(v.frames.saturating_sub(1) as usize);
    let mut prev: Option<Image> = None;
    for t in 0..v.frames {
        let out = io.frame(stylised_at(t)?, t)?;
        let source = io.frame(&task.frames, t)?;
        let frame = frame_of(&out);
        main.push(&frame)?;
        preview.push(&side_by_side(&frame_of(&source), &frame)?)?;
        for e in &mut extras {
            e.push(&frame)?;
        }
        if let Some(p) = prev.take() {
            let flows = task.flows.get(segment_of(t - 1)).ok_or_else(|| {
                WorkerError::BadTask(format!("no flow task holds the pair {}–{t}", t - 1))
            })?;
            let motion = io.motion(flows, t, t - 1)?;
            pairs.extend(warping_errors(&[p, out.clone()], &[motion])?);
        }
        prev = Some(out);
    }
    main.finish()?;
    preview.finish()?;
    for e in extras {
        e.finish()?;
    }

    let mut written = Vec::new();
    for name in &names {
        let p = path(name);
        let bytes = std::fs::read(&p).map_err(|e| WorkerError::local(&p, e))?;
        written.push(io.put(name, bytes)?);
    }
    let report = report(pairs, v.frames, keys);
    let json = serde_json::to_vec_pretty(&report).expect("a report serialises");
    written.push(io.put(REPORT_NAME, json)?);
    Ok(written)
}

fn mean(v: impl Iterator<Item = f64>) -> Option<f64> {
    let (sum, n) = v.fold((0.0, 0usize), |(s, n), x| (s + x, n + 1));
    (n > 0).then(|| sum / n as f64)
}

fn report(pairs: Vec<f64>, frames: u32, keyframes: Vec<u32>) -> Report {
    // Pair i joins frames i and i + 1; an inner keyframe k touches pairs
    // k − 1 and k.
    let inner = keyframes
        .iter()
        .filter(|&&k| k > 0 && k + 1 < frames)
        .flat_map(|&k| [k as usize - 1, k as usize]);
    Report {
        warping_error: mean(pairs.iter().copied()).unwrap_or(0.0),
        at_keyframes: mean(inner.filter_map(|i| pairs.get(i).copied())),
        pairs,
        frames,
        keyframes,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_report_averages_all_pairs_and_those_at_inner_keyframes() {
        // 5 frames, keyframes 0, 2, 4: pairs 1 and 2 touch keyframe 2.
        let r = report(vec![1.0, 2.0, 4.0, 1.0], 5, vec![0, 2, 4]);
        assert_eq!(r.warping_error, 2.0);
        assert_eq!(r.at_keyframes, Some(3.0));
        assert_eq!(report(vec![1.0], 2, vec![0, 1]).at_keyframes, None);
        assert_eq!(report(vec![], 1, vec![0]).warping_error, 0.0);
    }
}
