//! The planners: each job kind turns into a DAG of tasks, one function per
//! kind. A plan lists tasks in an order where every dependency comes before
//! its dependents (the database keeps that order, and the lease claims in
//! it), and marks the final tasks whose outputs are the job's outputs.
//!
//! Adding a kind: a `JobKind` variant, its arm in [`plan`], and its rules in
//! `stylefarm_proto::settings`.

use crate::model::TaskKind;

/// The job kinds the coordinator can plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum JobKind {
    /// One picture (or texture): one stylize task.
    Single,
}

impl JobKind {
    pub(crate) fn parse(s: &str) -> Option<Self> {
        match s {
            "single" => Some(Self::Single),
            _ => None,
        }
    }
}

/// One task of a plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PlannedTask {
    pub(crate) kind: TaskKind,
    /// Indices of earlier tasks of the same plan that must succeed first.
    pub(crate) deps: Vec<usize>,
    /// Its outputs are (part of) the job's outputs.
    pub(crate) is_final: bool,
}

/// A job's task graph, in dependency order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Plan {
    pub(crate) tasks: Vec<PlannedTask>,
}

/// Plans a job of `kind`.
pub(crate) fn plan(kind: JobKind) -> Plan {
    match kind {
        JobKind::Single => plan_single(),
    }
}

/// single: the style targets are computed inside the one stylize task (a
/// separate `targets` task only pays off when several tasks share them).
fn plan_single() -> Plan {
    Plan {
        tasks: vec![PlannedTask {
            kind: TaskKind::Stylize,
            deps: Vec::new(),
            is_final: true,
        }],
    }
}

/// The lease benchmark's plan: `n` independent tasks without outputs.
pub(crate) fn plan_bench(n: usize) -> Plan {
    let task = PlannedTask {
        kind: TaskKind::Bench,
        deps: Vec::new(),
        is_final: true,
    };
    Plan {
        tasks: vec![task; n],
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
        let p = plan(JobKind::Single);
        assert_eq!(p.tasks.len(), 1);
        assert_eq!(p.tasks[0].kind, TaskKind::Stylize);
        assert!(p.tasks[0].is_final);
        assert!(p.tasks[0].deps.is_empty());
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
        let t = |deps: Vec<usize>, is_final| PlannedTask {
            kind: TaskKind::Stylize,
            deps,
            is_final,
        };
        let ok = Plan {
            tasks: vec![t(vec![], false), t(vec![0], true)],
        };
        assert_eq!(ok.check(), Ok(()));
        let forward = Plan {
            tasks: vec![t(vec![1], false), t(vec![], true)],
        };
        assert!(forward.check().is_err());
        let own = Plan {
            tasks: vec![t(vec![0], true)],
        };
        assert!(own.check().is_err());
        let no_final = Plan {
            tasks: vec![t(vec![], false)],
        };
        assert!(no_final.check().is_err());
        assert!(Plan { tasks: vec![] }.check().is_err());
    }

    #[test]
    fn bench_plan_has_n_tasks() {
        let p = plan_bench(3);
        assert_eq!(p.tasks.len(), 3);
        assert_eq!(p.check(), Ok(()));
    }
}
