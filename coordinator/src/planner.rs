//! The planners: each job kind turns into a DAG of tasks, one function per
//! kind. A plan lists tasks in an order where every dependency comes before
//! its dependents (the database keeps that order, and the lease claims in
//! it), and marks the final tasks whose outputs are the job's outputs.
//!
//! Task ids are chosen here, so that a task's parameters can name the
//! output keys of the tasks it depends on (`jobs/<job>/<task>/<name>`).
//!
//! Adding a kind: a `JobKind` variant, its arm in [`plan`], and its rules in
//! `stylefarm_proto::settings` / `stylefarm_proto::kinds`.
//!
//! Layout: this file (kinds, plan types, single, bench, checks); `multi`
//! (single, grid, gallery, texture and the shared style targets they
//! depend on); `highres` (big pictures and tiled textures as tiles across
//! workers); `split` (jobs too big for the workers → tiles).

mod highres;
mod multi;
mod split;

use std::collections::HashSet;

use prost::Message;
use stylefarm_proto::pb;
use uuid::Uuid;

use crate::model::TaskKind;

pub(crate) use multi::wanted_targets;
pub(crate) use split::split_if_too_big;

/// The job kinds the coordinator can plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum JobKind {
    /// One picture (or texture): one stylize task.
    Single,
    /// Style interpolation: targets → one stylize per cell → contact sheet.
    Grid,
    /// Every content × style: targets → one stylize per pair → sheet + page.
    Gallery,
    /// Texture synthesis: targets → one stylize with no content.
    Texture,
    /// One big picture: whole at low resolution → tiles per finer scale → assemble.
    Highres,
}

impl JobKind {
    pub(crate) fn parse(s: &str) -> Option<Self> {
        match s {
            "single" => Some(Self::Single),
            "grid" => Some(Self::Grid),
            "gallery" => Some(Self::Gallery),
            "texture" => Some(Self::Texture),
            "highres" => Some(Self::Highres),
            _ => None,
        }
    }
}

/// One task of a plan.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct PlannedTask {
    pub(crate) task_id: String,
    pub(crate) kind: TaskKind,
    /// Indices of earlier tasks of the same plan that must succeed first.
    pub(crate) deps: Vec<usize>,
    /// Its outputs are (part of) the job's outputs.
    pub(crate) is_final: bool,
    /// What the task does; `None` = the whole spec (single jobs).
    pub(crate) params: Option<pb::TaskParams>,
}

impl PlannedTask {
    pub(crate) fn new(kind: TaskKind, deps: Vec<usize>, is_final: bool) -> Self {
        Self {
            task_id: Uuid::new_v4().to_string(),
            kind,
            deps,
            is_final,
            params: None,
        }
    }

    /// The params as stored (protobuf; empty for none).
    pub(crate) fn params_bytes(&self) -> Vec<u8> {
        self.params
            .as_ref()
            .map(Message::encode_to_vec)
            .unwrap_or_default()
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

/// Plans a job of `kind` with id `job_id`; `cached` holds the cache keys of
/// style targets already in storage (see [`wanted_targets`]).
pub(crate) fn plan(
    kind: JobKind,
    spec: &pb::JobSpec,
    job_id: &str,
    cached: &HashSet<String>,
) -> Plan {
    match kind {
        JobKind::Single => multi::plan_single(spec, cached),
        JobKind::Grid => multi::plan_grid(spec, job_id, cached),
        JobKind::Gallery => multi::plan_gallery(spec, job_id, cached),
        JobKind::Texture => multi::plan_texture(spec, job_id, cached),
        JobKind::Highres => highres::plan_highres(spec, job_id, cached),
    }
}

/// The lease benchmark's plan: `n` independent tasks without outputs.
pub(crate) fn plan_bench(n: usize) -> Plan {
    Plan {
        tasks: (0..n)
            .map(|_| PlannedTask::new(TaskKind::Bench, Vec::new(), true))
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
mod tests {
    use super::*;

    #[test]
    fn single_is_one_final_stylize() {
        let p = plan(
            JobKind::Single,
            &pb::JobSpec::default(),
            "j",
            &HashSet::new(),
        );
        assert_eq!(p.tasks.len(), 1);
        assert_eq!(p.tasks[0].kind, TaskKind::Stylize);
        assert!(p.tasks[0].is_final);
        assert!(p.tasks[0].deps.is_empty());
        assert!(p.tasks[0].params.is_none());
        assert_eq!(p.check(), Ok(()));
    }

    #[test]
    fn kinds_parse() {
        assert_eq!(JobKind::parse("single"), Some(JobKind::Single));
        assert_eq!(JobKind::parse("bench"), None);
        assert_eq!(JobKind::parse("Single"), None);
    }

    #[test]
    fn check_rejects_forward_and_self_dependencies() {
        let t = |deps: Vec<usize>, is_final| PlannedTask::new(TaskKind::Stylize, deps, is_final);
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
        assert_eq!(p.check(), Ok(()));
    }
}
