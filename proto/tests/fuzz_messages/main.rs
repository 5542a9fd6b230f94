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
//! Cases proptest finds are kept in `main.proptest-regressions` and as plain
//! tests at the end of this file.

mod edits;
mod mutations;
mod seeds;

use std::time::Instant;

use proptest::prelude::*;
use proptest::sample::{Index, select};
use prost::Message;
use stylefarm_fuzzing::{
    CASES, FAST, WireLens, check_input_key, check_message, check_refusal, config, hostile_text,
    wild_f64, wild_u32,
};
use stylefarm_proto::LeasedTask;
use stylefarm_proto::pb;
use stylefarm_spec::video::VideoJob;
use stylefarm_spec::{FarmTiles, JobKind, JobSpec, Picture, StyleInput, VGG19_LAYERS};

use edits::job_spec;
use mutations::{mutate, mutation};
use seeds::{seeds, task_seeds};

/// The lists of `p` a refusal may index into.
fn wire_lens(p: &pb::JobSpec) -> WireLens {
    let settings = p.settings.as_ref();
    WireLens {
        styles: p.styles.len(),
        contents: p.contents.len(),
        content_layers: settings.map(|s| s.content_layers.len()),
        style_layers: settings.map(|s| s.style_layers.len()),
        scales: settings.map(|s| s.scales.len()),
        formats: p.video.as_ref().map(|v| v.formats.len()),
    }
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
            check_refusal(&e, &wire_lens(p))?;
        }
        Ok(spec) => {
            for key in spec.input_keys() {
                check_input_key(key)?;
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
        // Every field of a task lies below its parameters, those its
        // conversions share with a job too (`params.video.settings.size`).
        prop_assert!(e.field.starts_with("params"), "{e}");
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
                ..Default::default()
            }];
            let e = JobSpec::try_from(&p).unwrap_err();
            assert_eq!(e.field, "contents", "{} {key:?}: {e}", p.kind);
        }
    }
}

/// Found by `damaged_tasks_decode_or_fail_cleanly`: a leased task's render
/// settings and video source were refused under their names in a job
/// (`video.formats[0]`), not where they lie in the task. Now the path
/// leads from the task's parameters.
#[test]
fn a_task_refusal_names_the_field_where_it_lies_in_the_task() {
    let tasks = task_seeds();
    let (mut stylize, mut video) = (tasks[0].clone(), tasks[1].clone());
    let Some(pb::task_params::Kind::Stylize(s)) = stylize.params.as_mut().unwrap().kind.as_mut()
    else {
        panic!("the first seed is a stylize task")
    };
    s.settings.as_mut().unwrap().optimizer = "sgd".into();
    let e = LeasedTask::try_from(&stylize).unwrap_err();
    assert_eq!(e.field, "params.stylize.settings.optimizer", "{e}");
    let Some(pb::task_params::Kind::Video(v)) = video.params.as_mut().unwrap().kind.as_mut() else {
        panic!("the second seed is a video task")
    };
    v.video.as_mut().unwrap().formats = vec!["avi".into()];
    let e = LeasedTask::try_from(&video).unwrap_err();
    assert_eq!(e.field, "params.video.video.formats[0]", "{e}");
}
