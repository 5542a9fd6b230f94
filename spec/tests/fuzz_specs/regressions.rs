//! Cases the fuzzer found, kept as plain tests.

use super::*;

// ------------------------------------------------------------ regressions

/// Runs `f` on another thread and fails after `limit` instead of hanging:
/// a regression of a hang fails its test instead of stalling the suite.
fn within<T: Send + 'static>(limit: Duration, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(limit)
        .unwrap_or_else(|_| panic!("no answer within {limit:?}"))
}

fn one_style() -> Vec<StyleInput> {
    vec![StyleInput {
        key: "inputs/s.png".into(),
        weight: 1.0,
        name: String::new(),
        mask: None,
    }]
}

/// Found by `the_generator_reaches_accepted_specs_of_every_kind`: a tiled
/// texture claiming `u32::MAX × u32::MAX` pixels had its farm tiles counted
/// before its size was checked: `geometry::tiles` overflowed (a panic in
/// debug builds) or enumerated billions of tile positions until it ran out
/// of memory. Now the texture size is refused first.
#[test]
fn a_tiled_texture_of_u32_max_pixels_is_refused_at_once() {
    let mut spec = JobSpec::new(JobKind::Texture);
    spec.styles = one_style();
    spec.settings.texture = Some((u32::MAX, u32::MAX));
    spec.tiles = Some(FarmTiles {
        tile: 32,
        overlap: 0,
    });
    let e = within(Duration::from_secs(5), move || spec.validate()).unwrap_err();
    assert_eq!(e.field, "settings.texture_width", "{e}");
    assert!(e.problem.contains(&u32::MAX.to_string()), "{e}");
}

/// The same through a highres job's `size`: the content fitted to a long
/// side of `u32::MAX` pixels was cut into tiles before the size was checked.
#[test]
fn a_highres_job_of_size_u32_max_is_refused_at_once() {
    let mut spec = JobSpec::new(JobKind::Highres);
    spec.content = Some(Picture {
        key: "inputs/c.png".into(),
        name: String::new(),
        size: Some((64, 48)),
    });
    spec.styles = one_style();
    spec.settings.size = u32::MAX;
    spec.tiles = Some(FarmTiles {
        tile: 32,
        overlap: 8,
    });
    let e = within(Duration::from_secs(5), move || spec.validate()).unwrap_err();
    assert_eq!(e.field, "settings.size", "{e}");
    assert!(e.hint.contains(&MAX_SIDE.to_string()), "{e}");
}

fn content() -> Option<Picture> {
    Some(Picture {
        key: "inputs/c.png".into(),
        name: String::new(),
        size: Some((64, 48)),
    })
}

/// Found by `any_spec_is_refused_clearly_or_accepted_safely`: a grid (or
/// highres) job carrying gallery `contents` passed, its contents' keys
/// unchecked (`""`, `../…`), and `input_keys` handed them to the
/// coordinator's existence check in storage. Now every kind but gallery
/// refuses `contents`.
#[test]
fn contents_outside_a_gallery_are_refused() {
    for kind in [JobKind::Grid, JobKind::Highres] {
        let mut spec = JobSpec::new(kind);
        spec.content = content();
        spec.styles = one_style();
        spec.styles.push(spec.styles[0].clone());
        spec.settings.size = 64;
        spec.grid.steps = 2;
        spec.tiles = Some(FarmTiles {
            tile: 32,
            overlap: 8,
        });
        assert_eq!(spec.validate(), Ok(()), "{kind:?}");
        for key in ["", "../../etc/passwd", "inputs/../jobs/j/t/out.png"] {
            spec.contents = vec![Picture {
                key: key.into(),
                name: String::new(),
                size: None,
            }];
            let e = spec.validate().unwrap_err();
            assert_eq!(e.field, "contents", "{kind:?} {key:?}: {e}");
            assert!(e.problem.contains(kind.as_str()), "{e}");
        }
    }
}

/// Found by `any_spec_is_refused_clearly_or_accepted_safely`: a single job
/// carrying a `video` passed with the video's key unchecked (`""`), which
/// `input_keys` lists. Now only video jobs take a video.
#[test]
fn a_video_outside_a_video_job_is_refused() {
    let mut spec = JobSpec::new(JobKind::Single);
    spec.content = content();
    spec.styles = one_style();
    spec.settings.size = 64;
    assert_eq!(spec.validate(), Ok(()));
    spec.video = Some(VideoJob {
        key: String::new(),
        frames: 1,
        frame_size: (16, 16),
        rate: 1.0,
        ..VideoJob::default()
    });
    let e = spec.validate().unwrap_err();
    assert_eq!(e.field, "video", "{e}");
    assert!(e.problem.contains("single"), "{e}");
}
