//! `frames`: the cut decoded at the frames' size and rate into
//! `frames/<t>.png`, and the audio track into `audio.m4a`.

use std::path::Path;

use stylefarm_spec::video::{AUDIO_NAME, VideoTask, frame_name};
use stylefarm_video::{VideoError, decode, extract_audio};

use super::{Io, decode_options, image_of, temp_dir};
use crate::error::WorkerError;

pub(super) fn run(io: &Io, task: &VideoTask) -> Result<Vec<String>, WorkerError> {
    let v = &task.video;
    let dir = temp_dir()?;
    // ffmpeg reads a file: its container may keep its index at the end.
    let ext = Path::new(&v.key)
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("video");
    let source = dir.path().join(format!("source.{ext}"));
    let bytes = io.get(&v.key)?;
    std::fs::write(&source, &bytes).map_err(|e| WorkerError::local(&source, e))?;
    drop(bytes);

    let options = decode_options(v);
    let mut keys = Vec::new();
    let mut upload_error = None;
    let decoded = decode(&source, &options, |t, frame| {
        let stored = image_of(frame)
            .encode_png()
            .map_err(WorkerError::from)
            .and_then(|png| io.put(&frame_name(t as u32), png));
        match stored {
            Ok(key) => {
                keys.push(key);
                Ok(())
            }
            Err(e) => {
                upload_error = Some(e);
                Err(VideoError::Invalid {
                    field: "frame",
                    reason: "stopped: a frame could not be stored".into(),
                })
            }
        }
    });
    if let Some(e) = upload_error {
        return Err(e);
    }
    let decoded = decoded?;
    if decoded.frames != v.frames as usize
        || (decoded.width as u32, decoded.height as u32) != v.frame_size
    {
        return Err(WorkerError::BadTask(format!(
            "the video decodes here to {} frames of {}×{}; the job was planned for {} of {}×{} (a different ffmpeg on the client?): submit it again from this farm's ffmpeg version",
            decoded.frames, decoded.width, decoded.height, v.frames, v.frame_size.0, v.frame_size.1
        )));
    }
    let audio = dir.path().join(AUDIO_NAME);
    let has_audio = extract_audio(&source, &options, &audio)?;
    if has_audio != v.audio {
        return Err(WorkerError::BadTask(format!(
            "the video has {} audio track here, the job says it has {}",
            if has_audio { "an" } else { "no" },
            if v.audio { "one" } else { "none" }
        )));
    }
    if has_audio {
        let bytes = std::fs::read(&audio).map_err(|e| WorkerError::local(&audio, e))?;
        keys.push(io.put(AUDIO_NAME, bytes)?);
    }
    Ok(keys)
}
