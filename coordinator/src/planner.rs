//! The planners: each job kind turns into a DAG of typed task plans
//! (`stylefarm_spec::task`), one file per kind. A plan lists tasks in an
//! order where every dependency comes before its dependents (the database
//! keeps that order, and the lease claims in it), and marks the final tasks
//! whose outputs are the job's outputs.
//!
//! Task ids are chosen here, so that a task's plan can name the output keys
//! of the tasks it depends on (`jobs/<job>/<task>/<name>`).
//!
//! Adding a kind: a `stylefarm_spec::JobKind` variant, its shape rules in
//! `JobSpec::validate`, its arm in [`plan`] and a file here.
//!
//! Layout: this file (plan types, dispatch, bench, checks); `targets` (the
//! shared style targets every kind starts with); `single` (single pictures
//! and textures); `grid`; `gallery`; `batch` (their pictures grouped into
//! batch tasks); `highres` (big pictures and tiled
//! textures as tiles across workers); `split` (jobs too big for the workers
//! → tiles); `video` (frames, flows, keyframes, segments, encode).

mod batch;
mod gallery;
mod grid;
mod highres;
mod single;
mod split;
mod targets;
mod video;

use std::collections::HashSet;

use prost::Message;
use stylefarm_proto::pb;
use stylefarm_spec::task::{AssembleTask, Mosaic, StylizeTask};
use stylefarm_spec::{JobKind, JobSpec, TaskKind, TaskPlan};
use uuid::Uuid;

pub(crate) use batch::Capacity;
pub(crate) use split::split_if_too_big;
pub(crate) use targets::wanted_targets;

/// One task of a plan.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct PlannedTask {
    pub(crate) task_id: String,
    pub(crate) kind: TaskKind,
    /// Indices of earlier tasks of the same plan that must succeed first.
    pub(crate) deps: Vec<usize>,
    /// Its outputs are (part of) the job's outputs.
    pub(crate) is_final: bool,
    /// What the task does; `None` only for the lease benchmark's tasks.
    pub(crate) plan: Option<TaskPlan>,
}

impl PlannedTask {
    pub(crate) fn new(plan: TaskPlan, deps: Vec<usize>, is_final: bool) -> Self {
        Self {
            task_id: Uuid::new_v4().to_string(),
            kind: plan.kind(),
            deps,
            is_final,
            plan: Some(plan),
        }
    }

    /// The plan as stored: its wire encoding, which leases forward as is
    /// (empty for bench tasks).
    pub(crate) fn plan_bytes(&self) -> Vec<u8> {
        self.plan
            .as_ref()
            .map(|p| pb::TaskParams::from(p).encode_to_vec())
            .unwrap_or_default()
    }

    /// The key of the picture this task writes: a stylize task's picture or a
    /// mosaic's (`jobs/<job>/<task>/<output_name>`).
    pub(crate) fn output_key(&self, job_id: &str) -> String {
        let name = match &self.plan {
            Some(TaskPlan::Stylize(StylizeTask { output_name, .. }))
            | Some(TaskPlan::Assemble(AssembleTask::Tiles(Mosaic { output_name, .. }))) => {
                output_name.as_str()
            }
            _ => "result.png",
        };
        format!("jobs/{job_id}/{}/{name}", self.task_id)
    }
}

/// A job's task graph, in dependency order.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Plan {
    pub(crate) tasks: Vec<PlannedTask>,
    /// What planning decided that a user wants to know (shown in the
    /// job's first event), e.g. how many style targets were cached.
    pub(crate) note: String,
}

/// Plans `spec` (a checked job) with id `job_id`; `cached` holds the cache
/// keys of style targets already in storage (see [`wanted_targets`]);
/// `capacity` (the live GPU workers) sizes batches of pictures.
pub(crate) fn plan(
    spec: &JobSpec,
    job_id: &str,
    cached: &HashSet<String>,
    capacity: Capacity,
) -> Plan {
    match spec.kind {
        JobKind::Single => single::plan_single(spec, cached),
        JobKind::Grid => grid::plan_grid(spec, job_id, cached, capacity),
        JobKind::Gallery => gallery::plan_gallery(spec, job_id, cached, capacity),
        JobKind::Texture if spec.is_tiled() => highres::plan_highres(spec, job_id, cached),
        JobKind::Texture => single::plan_texture(spec, cached),
        JobKind::Highres => highres::plan_highres(spec, job_id, cached),
        JobKind::Video => video::plan_video(spec, job_id),
    }
}

/// The lease benchmark's plan: `n` independent tasks without outputs.
pub(crate) fn plan_bench(n: usize) -> Plan {
    Plan {
        tasks: (0..n)
            .map(|_| PlannedTask {
                task_id: Uuid::new_v4().to_string(),
                kind: TaskKind::Bench,
                deps: Vec::new(),
                is_final: true,
                plan: None,
            })
            .collect(),
        note: String::new(),
    }
}

impl Plan {
    /// Checks the invariants the scheduler relies on: at least one task, at
    /// least one final task, and every dependency pointing backwards (which
    /// also rules out cycles).
    pub(crate) fn check(&self) -> Result<(), String> {
        if self.tasks.is_empty() {
            return Err("the plan has no tasks".into());
        }
        if !self.tasks.iter().any(|t| t.is_final) {
            return Err("the plan has no final task".into());
        }
        for (i, task) in self.tasks.iter().enumerate() {
            if let Some(&d) = task.deps.iter().find(|&&d| d >= i) {
                return Err(format!(
                    "task {i} depends on task {d}, which does not come before it"
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use stylefarm_spec::{Picture, StyleInput};

    use super::*;

    /// A valid job of `kind` on a 64×48 `inputs/c.png` with these styles, 64 px.
    pub(crate) fn spec(kind: JobKind, styles: &[&str]) -> JobSpec {
        let mut s = JobSpec::new(kind);
        s.content = Some(Picture {
            key: "inputs/c.png".into(),
            name: String::new(),
            size: Some((64, 48)),
        });
        s.styles = styles
            .iter()
            .map(|k| StyleInput {
                key: (*k).into(),
                weight: 1.0,
                name: String::new(),
                mask: None,
            })
            .collect();
        s.grid.steps = 3;
        s.settings.size = 64;
        s
    }

    #[test]
    fn single_is_one_final_stylize() {
        let p = plan(
            &spec(JobKind::Single, &["inputs/a.png"]),
            "j",
            &HashSet::new(),
            Capacity::default(),
        );
        assert_eq!(p.tasks.len(), 1);
        assert_eq!(p.tasks[0].kind, TaskKind::Stylize);
        assert!(p.tasks[0].is_final);
        assert!(p.tasks[0].deps.is_empty());
        assert!(matches!(p.tasks[0].plan, Some(TaskPlan::Stylize(_))));
        assert_eq!(p.check(), Ok(()));
    }

    #[test]
    fn check_rejects_forward_and_self_dependencies() {
        let bench = plan_bench(1).tasks.remove(0);
        let t = |deps: Vec<usize>, is_final| PlannedTask {
            deps,
            is_final,
            ..bench.clone()
        };
        let p = |tasks| Plan {
            tasks,
            note: String::new(),
        };
        assert_eq!(p(vec![t(vec![], false), t(vec![0], true)]).check(), Ok(()));
        assert!(p(vec![t(vec![1], false), t(vec![], true)]).check().is_err());
        assert!(p(vec![t(vec![0], true)]).check().is_err());
        assert!(p(vec![t(vec![], false)]).check().is_err());
        assert!(p(vec![]).check().is_err());
    }

    #[test]
    fn bench_plan_has_n_tasks() {
        let p = plan_bench(3);
        assert_eq!(p.tasks.len(), 3);
        assert!(
            p.tasks
                .iter()
                .all(|t| t.plan.is_none() && t.plan_bytes().is_empty())
        );
        assert_eq!(p.check(), Ok(()));
    }
}
