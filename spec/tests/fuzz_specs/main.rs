//! Fuzzing of job specs (issue 16, "Nobody gets in who does not belong").
//!
//! A job spec is the first thing a stranger's request becomes: the CLI reads
//! it from a job file or flags, the coordinator from `SubmitJob`, and both
//! call [`JobSpec::validate`] before anything is planned, stored or rendered.
//! So validation must hold against any value of any field, not only the
//! ones a well-behaved client sends. Here proptest generates 10 000 specs of
//! every kind whose fields are mostly plausible and sometimes hostile:
//! 0, negative, NaN and infinite numbers, `u32::MAX` sizes, empty, huge,
//! non-ASCII and path-traversal strings (`../`, `/`, `\0`, `%2e%2e`) in keys
//! and labels. The properties:
//!
//! - validation never panics and answers in well under a second, whatever
//!   the sizes claim (no work proportional to a claimed size);
//! - every refusal names a field by its path in the wire message (the
//!   documented contract of [`InvalidSpec`]), with an index inside the list
//!   it points into, and says what is wrong and what to do, in a message
//!   short enough to show however big the offending value was;
//! - whatever passes gives storage names that stay where they belong: input
//!   keys below `inputs/` with no empty, `.` or `..` segment, no leading `/`,
//!   no `%`, `\` or control character; cache keys that are hashes; video
//!   result names with no path in them.
//!
//! Cases proptest finds are kept in `main.proptest-regressions` and as plain
//! tests in `regressions.rs`.

mod accepted;
mod grafts;
mod regressions;
mod sane;
mod wild;

use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use proptest::prelude::*;
use proptest::sample::select;
use proptest::strategy::ValueTree;
use proptest::test_runner::TestRunner;
use stylefarm_fuzzing::{
    CASES, FAST, WireLens, check_input_key, check_refusal, config, hostile_text, key_problem,
    wild_f64, wild_u32,
};
use stylefarm_spec::cache::{guided_targets_key, style_sides};
use stylefarm_spec::geometry::grid_cells;
use stylefarm_spec::limits::MAX_SIDE;
use stylefarm_spec::video::{VideoJob, flow_names, frame_name, keyframes, result_stem};
use stylefarm_spec::{
    FarmTiles, Grid, GridAxis, Init, JobKind, JobSpec, LayerWeight, Optimizer, OriginalColors,
    Picture, Pooling, Precision, RenderSettings, Scales, StyleInput, VGG19_LAYERS, VideoFormat,
};

use accepted::check_accepted;
use grafts::job_spec;
use sane::sane_spec;
use wild::{valid_key, wild_spec};

/// Validates `spec` and checks the answer, and that it came fast.
fn check_spec(spec: &JobSpec) -> Result<(), TestCaseError> {
    let started = Instant::now();
    let verdict = spec.validate();
    let took = started.elapsed();
    prop_assert!(took < FAST, "validation took {took:?}");
    match verdict {
        Ok(()) => check_accepted(spec),
        Err(e) => check_refusal(&e, &WireLens::from(spec)),
    }
}

proptest! {
    #![proptest_config(config(CASES))]

    /// Any spec is refused with a clear message naming its field, or
    /// accepted with storage names that stay where they belong.
    #[test]
    fn any_spec_is_refused_clearly_or_accepted_safely(spec in job_spec()) {
        check_spec(&spec)?;
    }

    /// A plausible spec with one hostile string put in one of its keys
    /// (content, contents, styles, style masks, init picture, video) is
    /// refused, naming that key, unless the string is a well-formed key.
    #[test]
    fn a_hostile_key_is_refused_by_name(
        spec in sane_spec(),
        bad in hostile_text(),
        at in 0usize..6,
    ) {
        let mut spec = spec;
        let last = spec.styles.len() - 1;
        let field: Option<String> = match at {
            0 => spec.content.as_mut().map(|c| {
                c.key = bad.clone();
                "content_key".into()
            }),
            1 => spec.contents.first_mut().map(|c| {
                c.key = bad.clone();
                "contents[0].input_key".into()
            }),
            2 => {
                spec.styles[0].key = bad.clone();
                Some("styles[0].input_key".into())
            }
            3 => {
                spec.styles[last].mask = Some(bad.clone());
                Some(format!("styles[{last}].mask_key"))
            }
            4 => {
                spec.settings.init_key = Some(bad.clone());
                Some("settings.init_input_key".into())
            }
            _ => spec.video.as_mut().map(|v| {
                v.key = bad.clone();
                "video.input_key".into()
            }),
        };
        check_spec(&spec)?;
        // Not every kind has every key (a texture has no content).
        if let Some(field) = field
            && key_problem(&bad).is_some()
        {
            let verdict = spec.validate();
            prop_assert!(verdict.is_err(), "{:?} accepted as {}", bad, field);
            prop_assert_eq!(verdict.unwrap_err().field, field);
        }
    }
}

/// The fuzzer is no walk through refusals only: with a fixed seed, every
/// kind of job is accepted now and then, so the properties of accepted
/// specs are exercised too.
#[test]
fn the_generator_reaches_accepted_specs_of_every_kind() {
    let mut runner = TestRunner::deterministic();
    let strategy = job_spec();
    let mut accepted = std::collections::HashMap::new();
    for _ in 0..3_000 {
        let spec = strategy.new_tree(&mut runner).unwrap().current();
        if spec.validate().is_ok() {
            *accepted.entry(spec.kind).or_insert(0) += 1;
        }
    }
    for kind in JobKind::ALL {
        assert!(
            accepted.get(kind).copied().unwrap_or(0) >= 5,
            "{kind:?}: accepted {accepted:?} of 3 000"
        );
    }
}
