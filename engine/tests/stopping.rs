//! Early stopping: a scale ends once the total loss improved by less than
//! `tol_loss_relative` over the last `tol_window` iterations, and the
//! iteration it stopped at is reported (random-weight VGG-19, ≤ 40 px).

mod common;

use stylefarm_engine::{
    DType, EngineError, Hooks, Image, Init, Progress, Scales, Settings, Style, render,
};

fn run(settings: &Settings) -> (Vec<Progress>, Vec<usize>) {
    let model = common::random_model(DType::F32, 11);
    let content = common::picture(40, 32, 1);
    let styles = [Style {
        image: common::picture(40, 40, 2),
        weight: 1.0,
    }];
    let mut seen = Vec::new();
    let mut snapshots = Vec::new();
    let mut on_progress = |p: &Progress| seen.push(*p);
    let mut on_snapshot = |p: &Progress, _: &Image| snapshots.push(p.iteration);
    render(
        &model,
        Some(&content),
        &styles,
        settings,
        Hooks {
            progress: Some(&mut on_progress),
            snapshot: Some(&mut on_snapshot),
            ..Hooks::default()
        },
    )
    .unwrap();
    (seen, snapshots)
}

fn settings(tol: Option<f64>, window: usize) -> Settings {
    Settings {
        size: 40,
        iterations: 150,
        seed: 3,
        init: Init::Content,
        tol_loss_relative: tol,
        tol_window: window,
        ..Settings::default()
    }
}

#[test]
fn stops_where_the_window_rule_first_holds() {
    let (r, k) = (0.02, 5);
    let (seen, snapshots) = run(&settings(Some(r), k));
    let stop = seen.len();
    assert!(
        stop > k && stop < 150,
        "expected an early stop, ran {stop} iterations"
    );
    let last = seen[stop - 1];
    assert!(last.converged && last.iteration == stop && last.iterations == 150);
    assert!(seen[..stop - 1].iter().all(|p| !p.converged));
    // The rule, recomputed from the reported losses: first i with
    // B[i−K] − B[i] < R·B[i−K], B the running minimum of the totals.
    let best: Vec<f64> = seen
        .iter()
        .scan(f64::INFINITY, |m, p| {
            *m = m.min(p.losses.total);
            Some(*m)
        })
        .collect();
    let holds = |i: usize| best[i - k] - best[i] < r * best[i - k].abs();
    assert!(holds(stop - 1));
    assert!((k..stop - 1).all(|i| !holds(i)));
    // The final picture of the scale is handed to the snapshot hook.
    assert_eq!(snapshots, vec![stop]);
}

#[test]
fn without_a_tolerance_every_iteration_runs() {
    let (seen, _) = run(&Settings {
        iterations: 30,
        ..settings(None, 5)
    });
    assert_eq!(seen.len(), 30);
    assert!(seen.iter().all(|p| !p.converged));
}

#[test]
fn each_scale_stops_on_its_own() {
    let (seen, _) = run(&Settings {
        scales: Scales::Explicit(vec![24, 40]),
        ..settings(Some(0.02), 5)
    });
    for scale in 0..2 {
        let of_scale: Vec<_> = seen.iter().filter(|p| p.scale == scale).collect();
        let last = of_scale.last().unwrap();
        assert!(
            last.converged,
            "scale {scale} ran all {} iterations",
            of_scale.len()
        );
        assert_eq!(last.iteration, of_scale.len());
    }
}

#[test]
fn bad_tolerances_are_refused() {
    let model = common::random_model(DType::F32, 11);
    let content = common::picture(40, 32, 1);
    let styles = [Style {
        image: common::picture(40, 40, 2),
        weight: 1.0,
    }];
    for (tol, window, field) in [
        (Some(0.0), 5, "tol_loss_relative"),
        (Some(1.0), 5, "tol_loss_relative"),
        (Some(f64::NAN), 5, "tol_loss_relative"),
        (Some(0.01), 0, "tol_window"),
    ] {
        let err = render(
            &model,
            Some(&content),
            &styles,
            &settings(tol, window),
            Hooks::default(),
        )
        .unwrap_err();
        assert!(
            matches!(err, EngineError::InvalidSetting { field: f, .. } if f == field),
            "{tol:?} {window}: {err}"
        );
    }
}
