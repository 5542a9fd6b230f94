//! Fuzzing of the wire messages the coordinator accepts (issue 16, "Nobody
//! gets in who does not belong").
//!
//! Whatever reaches the coordinator's port is decoded by prost and, for a
//! job, converted and checked by `JobSpec::try_from(&pb::JobSpec)` before
//! anything is stored. Neither may panic or hang on any input, and every
//! refusal must say clearly which field is wrong. Three ways in:
//!
//! - arbitrary bytes decoded as every request message of the `Farm` and
//!   `Work` services (and as the `Task` a worker leases), converted when
//!   they decode;
//! - the encodings of valid requests of every job kind with bytes flipped,
//!   overwritten, inserted, removed, cut off or replaced by huge varints:
//!   they mostly still decode, so the conversion sees odd but well-typed
//!   messages;
//! - 10 000 `pb::JobSpec`s generated field by field: a valid spec of each
//!   kind with a few fields set to wild values (unknown names, empty, huge
//!   and path-traversal strings, 0, NaN, infinities, `u32::MAX` sizes,
//!   long style lists, odd video parameters).
//!
//! The properties: decoding and conversion never panic and take well under
//! a second; a refusal names a wire field of the message (with an index
//! inside its list) and says what is wrong and what to do, in a message
//! short enough to show; an accepted spec's input keys stay below
//! `inputs/`, and it converts back to the wire and in again unchanged (what
//! the coordinator stores reads back as the same job).
//!
//! Cases proptest finds are kept in `proptest-regressions/` and as plain
//! tests at the end of this file.

use std::time::{Duration, Instant};

use proptest::prelude::*;
use proptest::sample::{Index, select};
use proptest::test_runner::FileFailurePersistence;
use prost::Message;
use stylefarm_proto::LeasedTask;
use stylefarm_proto::pb;
use stylefarm_spec::limits::MAX_KEY_LEN;
use stylefarm_spec::video::VideoJob;
use stylefarm_spec::{FarmTiles, InvalidSpec, JobKind, JobSpec, Picture, StyleInput, VGG19_LAYERS};

/// Generated cases of the structured property (the issue asks for 10 000).
const CASES: u32 = 10_000;

/// Far above what decoding and converting one message takes.
const FAST: Duration = Duration::from_millis(500);

/// The longest refusal message (quoted values are cut at 80 characters).
const MAX_MESSAGE_LEN: usize = 2_048;

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        max_shrink_iters: 2_000,
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource(
            "proptest-regressions",
        ))),
        // The same cases on every run, so that CI is repeatable; a new
        // seed explores further (PROPTEST_RNG_SEED has no effect here).
        rng_seed: proptest::test_runner::RngSeed::Fixed(20_261_201),
        ..ProptestConfig::default()
    }
}

// ------------------------------------------------------------ valid seeds

fn picture(key: &str, size: Option<(u32, u32)>) -> Picture {
    Picture {
        key: key.into(),
        name: "photo".into(),
        size,
    }
}

fn style(key: &str, mask: Option<&str>) -> StyleInput {
    StyleInput {
        key: key.into(),
        weight: 1.0,
        name: "painting".into(),
        mask: mask.map(Into::into),
    }
}

/// A valid job of every kind (and the guided variants), as a client sends it.
fn seeds() -> Vec<pb::JobSpec> {
    let base = |kind| {
        let mut s = JobSpec::new(kind);
        s.name = "fuzz".into();
        s.styles = vec![style("inputs/s1.png", None)];
        s.settings.size = 64;
        s
    };
    let mut single = base(JobKind::Single);
    single.content = Some(picture("inputs/c.png", Some((64, 48))));

    let mut grid = single.clone();
    grid.kind = JobKind::Grid;
    grid.styles.push(style("inputs/s2.png", None));
    grid.grid.steps = 3;

    let mut gallery = base(JobKind::Gallery);
    gallery.contents = vec![
        picture("inputs/c1.png", None),
        picture("inputs/c2.jpg", None),
    ];

    let mut texture = base(JobKind::Texture);
    texture.settings.texture = Some((64, 48));
    texture.tiles = Some(FarmTiles {
        tile: 32,
        overlap: 8,
    });

    let mut highres = single.clone();
    highres.kind = JobKind::Highres;
    highres.tiles = Some(FarmTiles {
        tile: 32,
        overlap: 8,
    });

    let mut video = base(JobKind::Video);
    video.video = Some(VideoJob {
        key: "inputs/v.mp4".into(),
        name: "clip".into(),
        frames: 25,
        frame_size: (64, 48),
        rate: 10.0,
        fps: Some(10.0),
        ..VideoJob::default()
    });

    let mut semantic = single.clone();
    semantic.content_mask = Some(picture("inputs/cm.png", Some((32, 24))));
    semantic.styles = vec![style("inputs/s1.png", Some("inputs/sm.png"))];

    let mut doodle = semantic.clone();
    doodle.content = None;

    [
        single, grid, gallery, texture, highres, video, semantic, doodle,
    ]
    .iter()
    .map(pb::JobSpec::from)
    .collect()
}

/// A stylize task and a video task as the coordinator leases them.
fn task_seeds() -> Vec<pb::Task> {
    let specs = seeds();
    let settings = specs[0].settings.clone();
    let stylize = pb::TaskParams {
        kind: Some(pb::task_params::Kind::Stylize(pb::StylizeParams {
            content_key: "inputs/c.png".into(),
            content_width: 64,
            content_height: 48,
            styles: specs[0].styles.clone(),
            settings: settings.clone(),
            output_name: "out.png".into(),
            tile: Some(pb::TileCrop {
                full_width: 64,
                full_height: 48,
                x: 0,
                y: 0,
                width: 32,
                height: 32,
            }),
            ..Default::default()
        })),
    };
    let video = pb::TaskParams {
        kind: Some(pb::task_params::Kind::Video(pb::VideoParams {
            step: "segment".into(),
            segment: 1,
            video: specs[5].video.clone(),
            styles: specs[5].styles.clone(),
            settings,
            frames_prefix: "jobs/j/t1/".into(),
            flow_prefixes: vec!["jobs/j/t2/".into()],
            keyframes_prefix: "jobs/j/t3/".into(),
            segment_prefixes: vec![],
        })),
    };
    [stylize, video]
        .into_iter()
        .map(|params| pb::Task {
            task_id: "t".into(),
            job_id: "j".into(),
            attempt: 1,
            output_prefix: "jobs/j/t/".into(),
            deadline_unix_ms: 1,
            params: Some(params),
        })
        .collect()
}

// ------------------------------------------------------------ properties

/// The wire names of each message's fields (proto/proto/stylefarm.proto).
const JOB_FIELDS: &[&str] = &[
    "name",
    "kind",
    "content_key",
    "styles",
    "settings",
    "priority",
    "contents",
    "steps",
    "axis",
    "content_name",
    "tile",
    "overlap",
    "content_width",
    "content_height",
    "content_mask_key",
    "content_mask_name",
    "content_mask_width",
    "content_mask_height",
    "video",
];
const SETTINGS_FIELDS: &[&str] = &[
    "size",
    "iterations",
    "seed",
    "optimizer",
    "learning_rate",
    "lbfgs_history",
    "content_weight",
    "style_weight",
    "tv_weight",
    "content_layers",
    "style_layers",
    "init",
    "init_input_key",
    "pooling",
    "style_scale",
    "original_colors",
    "scales",
    "multiscale",
    "save_every",
    "animation",
    "texture_width",
    "texture_height",
    "normalize_gradients",
    "model",
    "tileable",
    "tile",
    "max_memory",
    "tol_loss_relative",
    "tol_window",
];
const STYLE_FIELDS: &[&str] = &["input_key", "weight", "name", "mask_key"];
const CONTENT_FIELDS: &[&str] = &["input_key", "name"];
const LAYER_FIELDS: &[&str] = &["layer", "weight"];
const VIDEO_FIELDS: &[&str] = &[
    "input_key",
    "name",
    "fps",
    "start",
    "duration",
    "keyframe_every",
    "temporal_weight",
    "frame_iterations",
    "formats",
    "frames",
    "frame_width",
    "frame_height",
    "frame_size",
    "rate",
    "audio",
];

/// `name` or `name[index]`.
fn segment(s: &str) -> Result<(&str, Option<usize>), String> {
    match s.split_once('[') {
        None => Ok((s, None)),
        Some((name, rest)) => rest
            .strip_suffix(']')
            .and_then(|i| i.parse().ok())
            .map(|i| (name, Some(i)))
            .ok_or_else(|| format!("bad index in {s:?}")),
    }
}

/// Checks that `field` is a path into `p` (`styles[1].weight`,
/// `settings.scales[0]`), every index inside the list it points into.
fn check_field_path(field: &str, p: &pb::JobSpec) -> Result<(), String> {
    let parts: Vec<&str> = field.split('.').collect();
    let (top, index) = segment(parts[0])?;
    if !JOB_FIELDS.contains(&top) {
        return Err(format!("{top:?} is not a field of JobSpec"));
    }
    let len = match top {
        "styles" => Some(p.styles.len()),
        "contents" => Some(p.contents.len()),
        _ => None,
    };
    if let Some(i) = index
        && len.is_none_or(|n| i >= n)
    {
        return Err(format!("index {i} outside {top} (length {len:?})"));
    }
    let Some(second) = parts.get(1) else {
        return Ok(());
    };
    let (sub, sub_index) = segment(second)?;
    let known: &[&str] = match top {
        "settings" => SETTINGS_FIELDS,
        "styles" => STYLE_FIELDS,
        "contents" => CONTENT_FIELDS,
        "video" => VIDEO_FIELDS,
        _ => return Err(format!("{top:?} has no fields")),
    };
    if !known.contains(&sub) {
        return Err(format!("{sub:?} is not a field of {top}"));
    }
    let settings = p.settings.as_ref();
    let sub_len = match (top, sub) {
        ("settings", "content_layers") => settings.map(|s| s.content_layers.len()),
        ("settings", "style_layers") => settings.map(|s| s.style_layers.len()),
        ("settings", "scales") => settings.map(|s| s.scales.len()),
        ("video", "formats") => p.video.as_ref().map(|v| v.formats.len()),
        _ => None,
    };
    if let Some(i) = sub_index
        && sub_len.is_none_or(|n| i >= n)
    {
        return Err(format!(
            "index {i} outside {top}.{sub} (length {sub_len:?})"
        ));
    }
    match parts.get(2) {
        None => Ok(()),
        Some(leaf) if sub.ends_with("_layers") && LAYER_FIELDS.contains(leaf) => Ok(()),
        Some(leaf) => Err(format!("{leaf:?} is not a field of {top}.{sub}")),
    }
}

/// A refusal says what is wrong and what to do, leads with its field, and
/// stays short.
fn check_message(e: &InvalidSpec) -> Result<(), TestCaseError> {
    let message = e.to_string();
    prop_assert!(!e.field.is_empty(), "no field: {message}");
    prop_assert!(!e.problem.trim().is_empty(), "no problem: {message}");
    prop_assert!(!e.hint.trim().is_empty(), "no hint: {message}");
    prop_assert!(
        message.starts_with(&format!("{}: ", e.field)),
        "the message does not lead with the field: {message}"
    );
    prop_assert!(
        message.len() <= MAX_MESSAGE_LEN,
        "a refusal of {} bytes",
        message.len()
    );
    Ok(())
}

/// What is wrong with `key` as an input key, if anything.
fn key_problem(key: &str) -> Option<String> {
    if !key.starts_with("inputs/") {
        return Some("is not below inputs/".into());
    }
    if key.len() > MAX_KEY_LEN {
        return Some("is too long".into());
    }
    if let Some(c) = key
        .chars()
        .find(|&c| !(c.is_ascii_alphanumeric() || "._/-".contains(c)))
    {
        return Some(format!("holds {c:?}"));
    }
    key["inputs/".len()..]
        .split('/')
        .find(|seg| seg.is_empty() || *seg == "." || *seg == "..")
        .map(|seg| format!("has the segment {seg:?}"))
}

/// Converts `p` as the coordinator does at `SubmitJob` and checks the
/// answer: fast; a clear refusal naming a wire field of `p`; or a job whose
/// input keys stay below `inputs/` and that reads back unchanged.
fn check_job(p: &pb::JobSpec) -> Result<(), TestCaseError> {
    let started = Instant::now();
    let verdict = JobSpec::try_from(p);
    let took = started.elapsed();
    prop_assert!(took < FAST, "conversion took {took:?}");
    match verdict {
        Err(e) => {
            check_message(&e)?;
            if let Err(why) = check_field_path(&e.field, p) {
                return Err(TestCaseError::fail(format!(
                    "{why}: the refusal names {:?}: {e}",
                    e.field
                )));
            }
        }
        Ok(spec) => {
            for key in spec.input_keys() {
                if let Some(problem) = key_problem(key) {
                    return Err(TestCaseError::fail(format!(
                        "the accepted key {key:?} {problem}"
                    )));
                }
            }
            let wire = pb::JobSpec::from(&spec);
            let again = JobSpec::try_from(&wire);
            prop_assert_eq!(again.as_ref(), Ok(&spec), "the job does not read back");
            // And through bytes, as the coordinator stores it.
            let decoded = pb::JobSpec::decode(wire.encode_to_vec().as_slice());
            prop_assert_eq!(decoded.as_ref(), Ok(&wire));
        }
    }
    Ok(())
}

/// Converts a leased task as a worker does.
fn check_task(t: &pb::Task) -> Result<(), TestCaseError> {
    let started = Instant::now();
    let verdict = LeasedTask::try_from(t);
    prop_assert!(started.elapsed() < FAST);
    if let Err(e) = verdict {
        check_message(&e)?;
        // Fields of a task's parameters; the render settings and a video's
        // source are named as in a job (`settings.size`, `video.rate`), by
        // the conversions tasks share with jobs.
        prop_assert!(
            ["params", "settings", "video"]
                .iter()
                .any(|p| e.field.starts_with(p)),
            "{e}"
        );
    }
    Ok(())
}

/// Decodes `bytes` as every request message the coordinator accepts (and
/// as a leased task), and converts what decodes.
fn check_bytes(bytes: &[u8]) -> Result<(), TestCaseError> {
    let started = Instant::now();
    if let Ok(r) = pb::SubmitJobRequest::decode(bytes)
        && let Some(spec) = &r.spec
    {
        check_job(spec)?;
    }
    if let Ok(spec) = pb::JobSpec::decode(bytes) {
        check_job(&spec)?;
    }
    if let Ok(task) = pb::Task::decode(bytes) {
        check_task(&task)?;
    }
    // The other requests are not converted: decoding them is all the
    // coordinator does before it reads their fields.
    let _ = pb::UploadChunk::decode(bytes);
    let _ = pb::GetJobRequest::decode(bytes);
    let _ = pb::ListJobsRequest::decode(bytes);
    let _ = pb::WatchJobRequest::decode(bytes);
    let _ = pb::CancelJobRequest::decode(bytes);
    let _ = pb::ListWorkersRequest::decode(bytes);
    let _ = pb::DownloadRequest::decode(bytes);
    let _ = pb::RegisterRequest::decode(bytes);
    let _ = pb::LeaseRequest::decode(bytes);
    let _ = pb::HeartbeatRequest::decode(bytes);
    let _ = pb::CompleteRequest::decode(bytes);
    let _ = pb::FailRequest::decode(bytes);
    let _ = pb::ReleaseRequest::decode(bytes);
    let took = started.elapsed();
    prop_assert!(took < FAST, "decoding {} bytes took {took:?}", bytes.len());
    Ok(())
}

// ------------------------------------------------------------ strategies

/// One change to an encoded message.
#[derive(Debug, Clone)]
enum Mutation {
    Flip(Index, u8),
    Overwrite(Index, u8),
    Insert(Index, Vec<u8>),
    Remove(Index, usize),
    Truncate(Index),
    /// A varint of up to 10 bytes (a length or size claiming up to 2^64).
    Varint(Index, u64),
    /// A slice of the message copied elsewhere in it.
    Splice(Index, Index, usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        3 => (any::<Index>(), 0u8..8).prop_map(|(i, b)| Mutation::Flip(i, b)),
        3 => (any::<Index>(), any::<u8>()).prop_map(|(i, b)| Mutation::Overwrite(i, b)),
        2 => (any::<Index>(), prop::collection::vec(any::<u8>(), 1..16))
            .prop_map(|(i, b)| Mutation::Insert(i, b)),
        2 => (any::<Index>(), 1usize..16).prop_map(|(i, n)| Mutation::Remove(i, n)),
        1 => any::<Index>().prop_map(Mutation::Truncate),
        2 => (
            any::<Index>(),
            prop_oneof![Just(u64::MAX), Just(u32::MAX as u64), Just(1 << 31), any::<u64>()],
        )
            .prop_map(|(i, v)| Mutation::Varint(i, v)),
        1 => (any::<Index>(), any::<Index>(), 1usize..64)
            .prop_map(|(a, b, n)| Mutation::Splice(a, b, n)),
    ]
}

fn mutate(bytes: &mut Vec<u8>, m: &Mutation) {
    let at = |i: &Index, len: usize| if len == 0 { 0 } else { i.index(len) };
    match m {
        Mutation::Flip(i, bit) => {
            if !bytes.is_empty() {
                let i = at(i, bytes.len());
                bytes[i] ^= 1 << bit;
            }
        }
        Mutation::Overwrite(i, b) => {
            if !bytes.is_empty() {
                let i = at(i, bytes.len());
                bytes[i] = *b;
            }
        }
        Mutation::Insert(i, b) => {
            let i = at(i, bytes.len() + 1);
            bytes.splice(i..i, b.iter().copied());
        }
        Mutation::Remove(i, n) => {
            if !bytes.is_empty() {
                let i = at(i, bytes.len());
                let end = (i + n).min(bytes.len());
                bytes.drain(i..end);
            }
        }
        Mutation::Truncate(i) => bytes.truncate(at(i, bytes.len() + 1)),
        Mutation::Varint(i, v) => {
            let mut varint = Vec::new();
            prost::encoding::encode_varint(*v, &mut varint);
            if !bytes.is_empty() {
                let i = at(i, bytes.len());
                let end = (i + varint.len()).min(bytes.len());
                bytes.splice(i..end, varint);
            }
        }
        Mutation::Splice(from, to, n) => {
            if !bytes.is_empty() {
                let from = at(from, bytes.len());
                let piece: Vec<u8> = bytes[from..(from + n).min(bytes.len())].to_vec();
                let to = at(to, bytes.len() + 1);
                bytes.splice(to..to, piece);
            }
        }
    }
}

/// Numbers at and around the bounds, and anything.
fn wild_u32() -> impl Strategy<Value = u32> {
    prop_oneof![
        Just(0),
        Just(1),
        Just(15),
        Just(16),
        Just(16_384),
        Just(16_385),
        Just(1 << 31),
        Just(u32::MAX),
        0u32..2_048,
        any::<u32>(),
    ]
}

fn wild_f64() -> impl Strategy<Value = f64> {
    prop_oneof![
        Just(f64::NAN),
        Just(f64::INFINITY),
        Just(f64::NEG_INFINITY),
        Just(0.0),
        Just(-0.0),
        Just(-1.0),
        Just(f64::MAX),
        Just(f64::MIN_POSITIVE),
        Just(f64::from_bits(1)),
        0.0f64..100.0,
        any::<f64>(),
    ]
}

/// Strings a hostile client would send: traversal, absolute paths, NUL,
/// other prefixes, lookalike Unicode, sizes past every limit, anything.
fn wild_text() -> BoxedStrategy<String> {
    let fixed: Vec<String> = [
        "",
        "../",
        "..",
        "/",
        "\0",
        "%2e%2e",
        "../../etc/passwd",
        "/etc/passwd",
        "inputs/../jobs/j/t/out.png",
        "inputs/..",
        "inputs/",
        "inputs//a.png",
        "inputs/./a.png",
        "/inputs/a.png",
        "inputs\\..\\a.png",
        "inputs/%2e%2e/a.png",
        "inputs/a.png\0",
        "inputs/a\n.png",
        "inputs/\u{202e}gnp.exe",
        "inputs/\u{ff0e}\u{ff0e}/a.png",
        "jobs/j/t/out.png",
        "cache/targets/x.safetensors",
        "inputs/ok.png",
        "single",
        "SINGLE",
        "video",
        "relu4_2",
        "relu9_9",
        "lbfgs",
        "image",
        "avg",
        "match",
        "gif",
        "weights",
        "\u{1b}[31m",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    prop_oneof![
        6 => select(fixed),
        1 => Just(format!("inputs/{}", "a".repeat(MAX_KEY_LEN))),
        1 => Just("x".repeat(100_000)),
        1 => Just("\u{1F600}".repeat(300)),
        2 => "(?s).{0,24}",
        2 => "inputs/[a-z0-9./%-]{0,16}",
    ]
    .boxed()
}

fn wild_layers() -> impl Strategy<Value = Vec<pb::LayerWeight>> {
    prop::collection::vec(
        (
            prop_oneof![3 => select(&VGG19_LAYERS[..]).prop_map(String::from), 1 => wild_text()],
            wild_f64(),
        )
            .prop_map(|(layer, weight)| pb::LayerWeight { layer, weight }),
        0..6,
    )
}

fn wild_style() -> impl Strategy<Value = pb::StyleInput> {
    (wild_text(), wild_f64(), wild_text(), wild_text()).prop_map(
        |(input_key, weight, name, mask_key)| pb::StyleInput {
            input_key,
            weight,
            name,
            mask_key,
        },
    )
}

/// One field of a `pb::JobSpec` set to a wild value.
#[derive(Debug, Clone)]
enum Edit {
    Name(String),
    Kind(String),
    Priority(i32),
    Content(String, u32, u32),
    ContentName(String),
    Contents(Vec<(String, String)>),
    /// Many copies of one content (galleries past their cell limit).
    ManyContents(usize),
    Styles(Vec<pb::StyleInput>),
    ManyStyles(usize),
    StyleKey(Index, String),
    StyleWeight(Index, f64),
    StyleMask(Index, String),
    Steps(u32),
    Axis(String),
    Tile(u32, u32),
    ContentMask(String, u32, u32),
    NoSettings,
    Size(u32),
    Iterations(u32),
    Names(Index, String),
    Rates(f64, u32),
    Weights(f64, f64, f64),
    ContentLayers(Vec<pb::LayerWeight>),
    StyleLayers(Vec<pb::LayerWeight>),
    InitKey(String),
    StyleScale(f64),
    Scales(Vec<u32>, bool),
    Snapshots(u32, bool),
    Texture(u32, u32),
    Model(String),
    Tiling(bool, u32, u64),
    Stopping(f64, u32),
    NoVideo,
    VideoKey(String, String),
    VideoCut(f64, f64, f64),
    VideoFrames(u32, u32, u32, f64),
    VideoControls(u32, f64, u32),
    VideoFormats(Vec<String>),
}

fn edit() -> impl Strategy<Value = Edit> {
    let text = wild_text;
    prop_oneof![
        text().prop_map(Edit::Name),
        text().prop_map(Edit::Kind),
        any::<i32>().prop_map(Edit::Priority),
        (text(), wild_u32(), wild_u32()).prop_map(|(k, w, h)| Edit::Content(k, w, h)),
        text().prop_map(Edit::ContentName),
        prop::collection::vec((text(), text()), 0..4).prop_map(Edit::Contents),
        (0usize..2_000).prop_map(Edit::ManyContents),
        prop::collection::vec(wild_style(), 0..5).prop_map(Edit::Styles),
        (0usize..2_000).prop_map(Edit::ManyStyles),
        (any::<Index>(), text()).prop_map(|(i, k)| Edit::StyleKey(i, k)),
        (any::<Index>(), wild_f64()).prop_map(|(i, w)| Edit::StyleWeight(i, w)),
        (any::<Index>(), text()).prop_map(|(i, k)| Edit::StyleMask(i, k)),
        wild_u32().prop_map(Edit::Steps),
        text().prop_map(Edit::Axis),
        (wild_u32(), wild_u32()).prop_map(|(t, o)| Edit::Tile(t, o)),
        (text(), wild_u32(), wild_u32()).prop_map(|(k, w, h)| Edit::ContentMask(k, w, h)),
        Just(Edit::NoSettings),
        wild_u32().prop_map(Edit::Size),
        wild_u32().prop_map(Edit::Iterations),
        (any::<Index>(), text()).prop_map(|(i, n)| Edit::Names(i, n)),
        (wild_f64(), wild_u32()).prop_map(|(r, h)| Edit::Rates(r, h)),
        (wild_f64(), wild_f64(), wild_f64()).prop_map(|(a, b, c)| Edit::Weights(a, b, c)),
        wild_layers().prop_map(Edit::ContentLayers),
        wild_layers().prop_map(Edit::StyleLayers),
        text().prop_map(Edit::InitKey),
        wild_f64().prop_map(Edit::StyleScale),
        (prop::collection::vec(wild_u32(), 0..6), any::<bool>())
            .prop_map(|(s, m)| Edit::Scales(s, m)),
        (wild_u32(), any::<bool>()).prop_map(|(e, a)| Edit::Snapshots(e, a)),
        (wild_u32(), wild_u32()).prop_map(|(w, h)| Edit::Texture(w, h)),
        text().prop_map(Edit::Model),
        (
            any::<bool>(),
            wild_u32(),
            prop_oneof![Just(0u64), Just(u64::MAX), any::<u64>()]
        )
            .prop_map(|(t, s, m)| Edit::Tiling(t, s, m)),
        (wild_f64(), wild_u32()).prop_map(|(r, w)| Edit::Stopping(r, w)),
        Just(Edit::NoVideo),
        (text(), text()).prop_map(|(k, n)| Edit::VideoKey(k, n)),
        (wild_f64(), wild_f64(), wild_f64()).prop_map(|(f, s, d)| Edit::VideoCut(f, s, d)),
        (wild_u32(), wild_u32(), wild_u32(), wild_f64())
            .prop_map(|(n, w, h, r)| Edit::VideoFrames(n, w, h, r)),
        (wild_u32(), wild_f64(), wild_u32()).prop_map(|(k, t, i)| Edit::VideoControls(k, t, i)),
        prop::collection::vec(text(), 0..4).prop_map(Edit::VideoFormats),
    ]
}

/// The name fields of the settings, picked by index.
const NAME_FIELDS: [&str; 5] = ["optimizer", "init", "pooling", "original_colors", "axis"];

fn settings(p: &mut pb::JobSpec) -> &mut pb::RenderSettings {
    p.settings.get_or_insert_with(Default::default)
}

fn video(p: &mut pb::JobSpec) -> &mut pb::VideoInput {
    p.video.get_or_insert_with(Default::default)
}

fn apply(p: &mut pb::JobSpec, e: &Edit) {
    let styles = p.styles.len().max(1);
    match e.clone() {
        Edit::Name(n) => p.name = n,
        Edit::Kind(k) => p.kind = k,
        Edit::Priority(x) => p.priority = x,
        Edit::Content(k, w, h) => (p.content_key, p.content_width, p.content_height) = (k, w, h),
        Edit::ContentName(n) => p.content_name = n,
        Edit::Contents(c) => {
            p.contents = c
                .into_iter()
                .map(|(input_key, name)| pb::ContentInput { input_key, name })
                .collect()
        }
        Edit::ManyContents(n) => {
            let one = pb::ContentInput {
                input_key: "inputs/c.png".into(),
                name: String::new(),
            };
            p.contents = vec![one; n];
        }
        Edit::Styles(x) => p.styles = x,
        Edit::ManyStyles(n) => {
            let one = p.styles.first().cloned().unwrap_or_default();
            p.styles = vec![one; n];
        }
        Edit::StyleKey(i, k) => {
            if let Some(st) = p.styles.get_mut(i.index(styles)) {
                st.input_key = k;
            }
        }
        Edit::StyleWeight(i, w) => {
            if let Some(st) = p.styles.get_mut(i.index(styles)) {
                st.weight = w;
            }
        }
        Edit::StyleMask(i, k) => {
            if let Some(st) = p.styles.get_mut(i.index(styles)) {
                st.mask_key = k;
            }
        }
        Edit::Steps(n) => p.steps = n,
        Edit::Axis(a) => p.axis = a,
        Edit::Tile(t, o) => (p.tile, p.overlap) = (t, o),
        Edit::ContentMask(k, w, h) => {
            (
                p.content_mask_key,
                p.content_mask_width,
                p.content_mask_height,
            ) = (k, w, h)
        }
        Edit::NoSettings => p.settings = None,
        Edit::Size(x) => settings(p).size = x,
        Edit::Iterations(x) => settings(p).iterations = x,
        Edit::Names(i, n) => match NAME_FIELDS[i.index(NAME_FIELDS.len())] {
            "optimizer" => settings(p).optimizer = n,
            "init" => settings(p).init = n,
            "pooling" => settings(p).pooling = n,
            "original_colors" => settings(p).original_colors = n,
            _ => p.axis = n,
        },
        Edit::Rates(r, h) => {
            settings(p).learning_rate = r;
            settings(p).lbfgs_history = h;
        }
        Edit::Weights(a, b, c) => {
            settings(p).content_weight = a;
            settings(p).style_weight = b;
            settings(p).tv_weight = c;
        }
        Edit::ContentLayers(l) => settings(p).content_layers = l,
        Edit::StyleLayers(l) => settings(p).style_layers = l,
        Edit::InitKey(k) => settings(p).init_input_key = k,
        Edit::StyleScale(x) => settings(p).style_scale = x,
        Edit::Scales(x, m) => {
            settings(p).scales = x;
            settings(p).multiscale = m;
        }
        Edit::Snapshots(e, a) => {
            settings(p).save_every = e;
            settings(p).animation = a;
        }
        Edit::Texture(w, h) => {
            settings(p).texture_width = w;
            settings(p).texture_height = h;
        }
        Edit::Model(m) => settings(p).model = m,
        Edit::Tiling(t, tile, m) => {
            settings(p).tileable = t;
            settings(p).tile = tile;
            settings(p).max_memory = m;
        }
        Edit::Stopping(r, w) => {
            settings(p).tol_loss_relative = r;
            settings(p).tol_window = w;
        }
        Edit::NoVideo => p.video = None,
        Edit::VideoKey(k, n) => {
            video(p).input_key = k;
            video(p).name = n;
        }
        Edit::VideoCut(f, st, d) => {
            video(p).fps = f;
            video(p).start = st;
            video(p).duration = d;
        }
        Edit::VideoFrames(n, w, h, r) => {
            video(p).frames = n;
            video(p).frame_width = w;
            video(p).frame_height = h;
            video(p).rate = r;
        }
        Edit::VideoControls(k, t, i) => {
            video(p).keyframe_every = k;
            video(p).temporal_weight = t;
            video(p).frame_iterations = i;
        }
        Edit::VideoFormats(f) => video(p).formats = f,
    }
}

/// A valid spec of a random kind with 0 to 3 fields set to wild values.
fn job_spec() -> impl Strategy<Value = pb::JobSpec> {
    (select(seeds()), prop::collection::vec(edit(), 0..=3)).prop_map(|(mut p, edits)| {
        for e in &edits {
            apply(&mut p, e);
        }
        p
    })
}

proptest! {
    #![proptest_config(config(CASES))]

    /// Any job spec a client may send is refused clearly or accepted as a
    /// job that stays where it belongs and reads back unchanged.
    #[test]
    fn any_job_spec_is_refused_clearly_or_read_back_unchanged(p in job_spec()) {
        check_job(&p)?;
    }
}

proptest! {
    #![proptest_config(config(3_000))]

    /// Bytes that are no message at all.
    #[test]
    fn arbitrary_bytes_decode_or_fail_cleanly(
        bytes in prop::collection::vec(any::<u8>(), 0..512),
    ) {
        check_bytes(&bytes)?;
    }

    /// A valid `SubmitJob` request of every kind, damaged.
    #[test]
    fn damaged_submit_requests_decode_or_fail_cleanly(
        seed in select(seeds()),
        mutations in prop::collection::vec(mutation(), 1..6),
    ) {
        let mut bytes = pb::SubmitJobRequest { spec: Some(seed) }.encode_to_vec();
        for m in &mutations {
            mutate(&mut bytes, m);
        }
        check_bytes(&bytes)?;
    }

    /// A leased task, damaged.
    #[test]
    fn damaged_tasks_decode_or_fail_cleanly(
        seed in select(task_seeds()),
        mutations in prop::collection::vec(mutation(), 1..6),
    ) {
        let mut bytes = seed.encode_to_vec();
        for m in &mutations {
            mutate(&mut bytes, m);
        }
        check_bytes(&bytes)?;
    }
}

/// The seeds are valid, so the properties start from messages the
/// coordinator accepts and reach every check behind the first.
#[test]
fn every_seed_is_accepted() {
    for p in seeds() {
        assert_eq!(JobSpec::try_from(&p).err(), None, "{p:?}");
    }
    for t in task_seeds() {
        assert_eq!(LeasedTask::try_from(&t).err(), None, "{t:?}");
    }
}

// ------------------------------------------------------------ regressions

/// Found by `any_job_spec_is_refused_clearly_or_read_back_unchanged` (and
/// by the spec crate's fuzzing): a job carried the keyed fields of another
/// kind, a single job a `video`, a grid or highres job `contents`, whose
/// keys went unchecked into the job's input keys. Now refused by name.
#[test]
fn a_video_or_contents_outside_their_kind_are_refused() {
    let specs = seeds();
    let (single, grid, highres) = (&specs[0], &specs[1], &specs[4]);
    for key in ["", "../../etc/passwd", "inputs/../jobs/j/t/out.png"] {
        let mut p = single.clone();
        p.video = Some(pb::VideoInput {
            input_key: key.into(),
            ..Default::default()
        });
        let e = JobSpec::try_from(&p).unwrap_err();
        assert_eq!(e.field, "video", "{key:?}: {e}");
        for seed in [grid, highres] {
            let mut p = seed.clone();
            p.contents = vec![pb::ContentInput {
                input_key: key.into(),
                name: String::new(),
            }];
            let e = JobSpec::try_from(&p).unwrap_err();
            assert_eq!(e.field, "contents", "{} {key:?}: {e}", p.kind);
        }
    }
}
