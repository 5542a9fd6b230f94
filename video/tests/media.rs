//! Probing, decoding and encoding with the real ffmpeg programs on a tiny
//! clip (64×48, 12 frames), and a clear error for each kind of bad video.

mod common;

use std::path::Path;

use stylefarm_video::{
    DecodeOptions, Encoder, Format, Frame, VideoError, decode, decode_all, encode, extract_audio,
    probe, side_by_side,
};

fn tmp() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

#[test]
fn the_test_clip_probes_with_its_size_rate_frames_and_audio() {
    let dir = tmp();
    let info = probe(&common::clip(dir.path())).unwrap();
    assert_eq!((info.width, info.height), (64, 48));
    assert_eq!(info.frames, 12);
    assert!((info.fps - 10.0).abs() < 1e-9);
    assert!((info.duration - 1.2).abs() < 0.05, "{}", info.duration);
    assert!(info.has_audio);
    assert_eq!(info.codec, "h264");
    assert_eq!(info.variable_frame_rate, None);
}

#[test]
fn decoding_follows_size_rate_and_range() {
    let dir = tmp();
    let clip = common::clip(dir.path());
    let (d, all) = decode_all(&clip, &DecodeOptions::default()).unwrap();
    assert_eq!((d.width, d.height, d.frames), (64, 48, 12));
    assert_eq!(all.len(), 12);
    assert!(all[0] != all[11], "the clip moves");

    let (d, small) = decode_all(
        &clip,
        &DecodeOptions {
            long_side: Some(32),
            fps: Some(5.0),
            ..DecodeOptions::default()
        },
    )
    .unwrap();
    assert_eq!((d.width, d.height, d.frames), (32, 24, 6));
    assert_eq!(small[0].data.len(), 3 * 32 * 24);

    let (d, part) = decode_all(
        &clip,
        &DecodeOptions {
            start: Some(0.5),
            duration: Some(0.4),
            ..DecodeOptions::default()
        },
    )
    .unwrap();
    assert_eq!(d.frames, 4);
    // The range starts at frame 5 exactly (frames are 0.1 s apart).
    let diff = |a: &Frame, b: &Frame| {
        a.data
            .iter()
            .zip(&b.data)
            .map(|(x, y)| (x - y).abs())
            .sum::<f32>()
            / a.data.len() as f32
    };
    assert!(
        diff(&part[0], &all[5]) < 1e-6,
        "{}",
        diff(&part[0], &all[5])
    );

    // A frame callback's error stops the decode and comes back as is.
    let err = decode(&clip, &DecodeOptions::default(), |i, _| {
        if i == 3 {
            Err(VideoError::Invalid {
                field: "test",
                reason: "stop".into(),
            })
        } else {
            Ok(())
        }
    })
    .unwrap_err();
    assert!(err.to_string().contains("stop"), "{err}");
}

#[test]
fn mp4_output_is_h264_yuv420p_with_the_source_audio() {
    let dir = tmp();
    let clip = common::clip(dir.path());
    let (d, frames) = decode_all(&clip, &DecodeOptions::default()).unwrap();
    let audio = dir.path().join("audio.m4a");
    assert!(extract_audio(&clip, &DecodeOptions::default(), &audio).unwrap());
    let out = dir.path().join("out.mp4");
    encode(&out, &frames, d.fps, Some(&audio)).unwrap();
    let info = probe(&out).unwrap();
    assert_eq!(
        (info.codec.as_str(), info.width, info.height),
        ("h264", 64, 48)
    );
    assert_eq!(info.frames, 12);
    assert!(info.has_audio, "the audio track is carried over");
    assert!((info.duration - 1.2).abs() < 0.1, "{}", info.duration);
    assert_eq!(pix_fmt(&out), "yuv420p");

    // A range carries the matching piece of audio.
    let range = DecodeOptions {
        start: Some(0.4),
        duration: Some(0.5),
        ..DecodeOptions::default()
    };
    let part_audio = dir.path().join("part.m4a");
    assert!(extract_audio(&clip, &range, &part_audio).unwrap());
    let a = probe_audio_seconds(&part_audio);
    assert!((a - 0.5).abs() < 0.06, "{a}");
}

#[test]
fn odd_sides_are_padded_to_even_and_previews_stand_side_by_side() {
    let dir = tmp();
    let frame = |v: f32| Frame {
        width: 33,
        height: 25,
        data: vec![v; 3 * 33 * 25],
    };
    let out = dir.path().join("odd.mp4");
    encode(&out, &[frame(0.2), frame(0.8)], 10.0, None).unwrap();
    let info = probe(&out).unwrap();
    assert_eq!((info.width, info.height, info.frames), (34, 26, 2));
    assert!(!info.has_audio);

    let preview = side_by_side(&frame(0.0), &frame(1.0)).unwrap();
    let out = dir.path().join("preview.mp4");
    let mut enc = Encoder::create(&out, Format::Mp4, 66, 25, 10.0, None).unwrap();
    enc.push(&preview).unwrap();
    let err = enc.push(&frame(0.5)).unwrap_err();
    assert!(
        err.to_string().contains("every frame must have one size"),
        "{err}"
    );
    enc.finish().unwrap();
    assert_eq!(probe(&out).unwrap().width, 66);
}

#[test]
fn gif_and_webp_animations() {
    let dir = tmp();
    let clip = common::clip(dir.path());
    let (d, frames) = decode_all(&clip, &DecodeOptions::default()).unwrap();
    let gif = dir.path().join("out.gif");
    encode(&gif, &frames, d.fps, None).unwrap();
    let info = probe(&gif).unwrap();
    assert_eq!((info.codec.as_str(), info.frames), ("gif", 12));
    let webp = dir.path().join("out.webp");
    encode(&webp, &frames, d.fps, None).unwrap();
    // ffmpeg cannot read animated WebP back: check the RIFF container and
    // its animation chunk.
    let bytes = std::fs::read(&webp).unwrap();
    assert_eq!((&bytes[0..4], &bytes[8..12]), (&b"RIFF"[..], &b"WEBP"[..]));
    assert!(bytes.windows(4).any(|w| w == b"ANIM"), "an animated WebP");
    let err = encode(&dir.path().join("out.avi"), &frames, d.fps, None).unwrap_err();
    assert!(err.to_string().contains(".mp4, .gif or .webp"), "{err}");
    let audio = dir.path().join("a.m4a");
    extract_audio(&clip, &DecodeOptions::default(), &audio).unwrap();
    let err = Encoder::create(&gif, Format::Gif, 64, 48, 10.0, Some(&audio))
        .err()
        .unwrap();
    assert!(err.to_string().contains("only MP4"), "{err}");
}

#[test]
fn not_a_video_is_a_clear_error() {
    let dir = tmp();
    let text = dir.path().join("notes.mp4");
    std::fs::write(&text, "this is not a video\n").unwrap();
    let e = probe(&text).unwrap_err();
    assert!(matches!(e, VideoError::NotAVideo { .. }), "{e}");
    assert!(e.to_string().contains("is not a video"), "{e}");

    let e = probe(&common::example_image("tubingen.jpg")).unwrap_err();
    assert!(e.to_string().contains("still image"), "{e}");

    let clip = common::clip(dir.path());
    let audio = dir.path().join("a.m4a");
    extract_audio(&clip, &DecodeOptions::default(), &audio).unwrap();
    let e = probe(&audio).unwrap_err();
    assert!(e.to_string().contains("no video stream"), "{e}");

    let e = probe(&dir.path().join("missing.mp4")).unwrap_err();
    assert!(matches!(e, VideoError::Io { .. }), "{e}");
}

#[test]
fn zero_frames_is_a_clear_error() {
    let dir = tmp();
    let y4m = dir.path().join("empty.y4m");
    std::fs::write(&y4m, "YUV4MPEG2 W32 H32 F10:1 Ip A1:1 C420jpeg\n").unwrap();
    let e = probe(&y4m).unwrap_err();
    assert!(matches!(e, VideoError::NoFrames { .. }), "{e}");
    assert!(e.to_string().contains("no frames"), "{e}");
}

#[test]
fn truncated_files_are_clear_errors() {
    let dir = tmp();
    let clip = common::clip(dir.path());
    // x264 output with the index at the end (cut: no index at all) and with
    // the index first (`+faststart`; cut: frames missing).
    let fast = dir.path().join("fast.mp4");
    common::ffmpeg(&[
        "-i",
        clip.to_str().unwrap(),
        "-c",
        "copy",
        "-movflags",
        "+faststart",
        fast.to_str().unwrap(),
    ]);
    for (name, src) in [("end", &clip), ("fast", &fast)] {
        let bytes = std::fs::read(src).unwrap();
        let cut = dir.path().join(format!("cut-{name}.mp4"));
        std::fs::write(&cut, &bytes[..bytes.len() * 6 / 10]).unwrap();
        let e = probe(&cut).unwrap_err();
        assert!(matches!(e, VideoError::Truncated { .. }), "{name}: {e}");
        assert!(e.to_string().contains("truncated"), "{e}");
    }
}

#[test]
fn absurd_resolution_headers_are_refused() {
    let dir = tmp();
    // Beyond what ffmpeg itself accepts, and beyond our own limit.
    for (w, h) in [(100_000, 100_000), (20_000, 100)] {
        let y4m = dir.path().join(format!("huge-{w}.y4m"));
        std::fs::write(
            &y4m,
            format!("YUV4MPEG2 W{w} H{h} F10:1 Ip A1:1 C420jpeg\nFRAME\nabc"),
        )
        .unwrap();
        let e = probe(&y4m).unwrap_err();
        assert!(
            matches!(e, VideoError::ResolutionTooLarge { width, height, .. } if (width, height) == (w, h)),
            "{e}"
        );
        assert!(e.to_string().contains("16384 pixels a side"), "{e}");
    }
}

#[test]
fn variable_frame_rate_needs_a_target_rate() {
    let dir = tmp();
    let vfr = dir.path().join("vfr.mkv");
    common::ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc=size=32x32:rate=10",
        "-frames:v",
        "12",
        "-vf",
        "setpts='(N+N*N/8)/10/TB'",
        "-fps_mode",
        "passthrough",
        "-c:v",
        "libx264",
        vfr.to_str().unwrap(),
    ]);
    let info = probe(&vfr).unwrap();
    let (min, max) = info.variable_frame_rate.unwrap();
    assert!(max > 2.0 * min, "{min} {max}");
    let e = decode_all(&vfr, &DecodeOptions::default()).unwrap_err();
    assert!(matches!(e, VideoError::VariableFrameRate { .. }), "{e}");
    assert!(e.to_string().contains("--fps"), "{e}");
    let (d, frames) = decode_all(
        &vfr,
        &DecodeOptions {
            fps: Some(10.0),
            ..DecodeOptions::default()
        },
    )
    .unwrap();
    assert_eq!(d.fps, 10.0);
    // The last frame is shown at 2.6 s: 27 frames at a constant 10 fps.
    assert!((26..=28).contains(&frames.len()), "{}", frames.len());
}

#[test]
fn a_start_past_the_end_is_a_clear_error() {
    let dir = tmp();
    let clip = common::clip(dir.path());
    let e = decode_all(
        &clip,
        &DecodeOptions {
            start: Some(5.0),
            ..DecodeOptions::default()
        },
    )
    .unwrap_err();
    assert!(e.to_string().contains("before the end of the video"), "{e}");
}

fn ffprobe_entry(path: &Path, stream: &str, entry: &str) -> String {
    let out = std::process::Command::new("ffprobe")
        .args(["-v", "error", "-select_streams", stream, "-show_entries"])
        .arg(format!("stream={entry}"))
        .args(["-of", "csv=p=0"])
        .arg(path)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn pix_fmt(path: &Path) -> String {
    ffprobe_entry(path, "v:0", "pix_fmt")
}

fn probe_audio_seconds(path: &Path) -> f64 {
    ffprobe_entry(path, "a:0", "duration").parse().unwrap()
}
