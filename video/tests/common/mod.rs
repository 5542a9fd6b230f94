//! Helpers shared by the video crate's integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use stylefarm_video::{ClipOptions, pan_zoom_clip};

/// A picture of the repository's example set (examples/images).
pub fn example_image(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../examples/images")
        .join(name)
}

/// The test clip: 64×48, 12 frames at 10 fps, a slow pan and zoom over
/// tubingen.jpg, with a tone as audio.
pub fn clip(dir: &Path) -> PathBuf {
    let out = dir.join("clip.mp4");
    pan_zoom_clip(
        &example_image("tubingen.jpg"),
        &out,
        &ClipOptions {
            width: 64,
            height: 48,
            frames: 12,
            fps: 10.0,
            audio: true,
        },
    )
    .unwrap();
    out
}

/// Runs ffmpeg with these arguments (to make bad files); panics on failure.
pub fn ffmpeg(args: &[&str]) {
    let out = std::process::Command::new("ffmpeg")
        .args(["-hide_banner", "-v", "error", "-nostdin", "-y"])
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "ffmpeg {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}
