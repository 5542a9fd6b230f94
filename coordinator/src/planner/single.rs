//! Single pictures and untiled textures: one stylize task.

use std::collections::HashSet;

use stylefarm_spec::cache::style_sides;
use stylefarm_spec::task::{SharedTargets, StylizeTask};
use stylefarm_spec::{JobSpec, Picture, RenderSettings, StyleInput, TaskPlan};

use super::targets::{Targets, wanted_targets};
use super::{Plan, PlannedTask};

/// single: one stylize task. Its style targets are computed inside the task
/// (a separate `targets` task only pays off when several tasks share them),
/// unless all of them are in the cache already: then the task reads them.
pub(super) fn plan_single(spec: &JobSpec, cached: &HashSet<String>) -> Plan {
    let keys = wanted_targets(spec);
    let all_cached = !keys.is_empty() && keys.iter().all(|k| cached.contains(k));
    let note = if all_cached {
        format!("style targets: cached {} (read from the cache)", keys.len())
    } else {
        String::new()
    };
    let targets = all_cached.then(|| SharedTargets {
        keys,
        sides: style_sides(&spec.settings),
    });
    let task = guided(
        TaskPlan::Stylize(stylize(
            spec.content.as_ref(),
            spec.styles.clone(),
            spec.settings.clone(),
            "result.png".into(),
            targets,
        )),
        spec,
    );
    Plan {
        tasks: vec![PlannedTask::new(task, Vec::new(), true)],
        note,
    }
}

/// texture: targets per style → one stylize with no content (its
/// `result.png` is the texture). Tiled textures are planned like highres.
pub(super) fn plan_texture(spec: &JobSpec, cached: &HashSet<String>) -> Plan {
    let mut tasks = Vec::new();
    let targets = Targets::plan(spec, &mut tasks, cached);
    let (shared, deps) = targets.for_styles(&spec.styles);
    let task = guided(
        TaskPlan::Stylize(stylize(
            None,
            spec.styles.clone(),
            spec.settings.clone(),
            "result.png".into(),
            shared,
        )),
        spec,
    );
    tasks.push(PlannedTask::new(task, deps, true));
    Plan {
        tasks,
        note: targets.note(),
    }
}

/// A stylize task of a whole picture (no tile, no previous scale).
pub(super) fn stylize(
    content: Option<&Picture>,
    styles: Vec<StyleInput>,
    settings: RenderSettings,
    output_name: String,
    targets: Option<SharedTargets>,
) -> StylizeTask {
    StylizeTask {
        content_key: content.map(|c| c.key.clone()),
        content_size: content.and_then(|c| c.size),
        styles,
        settings,
        output_name,
        targets,
        previous_scale: None,
        tile: None,
        content_mask: None,
    }
}

/// A stylize plan guided by the job's content mask, if it has one (its
/// styles carry their own masks already).
pub(super) fn guided(mut plan: TaskPlan, spec: &JobSpec) -> TaskPlan {
    if let TaskPlan::Stylize(s) = &mut plan {
        s.content_mask = spec.content_mask.as_ref().map(|m| m.key.clone());
    }
    plan
}

#[cfg(test)]
mod tests {
    use stylefarm_spec::{JobKind, OriginalColors, Scales};

    use super::*;
    use crate::planner::tests::spec;

    fn stylize_of(p: &Plan, i: usize) -> &StylizeTask {
        match &p.tasks[i].plan {
            Some(TaskPlan::Stylize(s)) => s,
            other => panic!("task {i} is not a stylize: {other:?}"),
        }
    }

    #[test]
    fn a_single_job_reads_its_targets_only_when_all_are_cached() {
        let mut s = spec(JobKind::Single, &["inputs/a.png", "inputs/b.png"]);
        s.settings.scales = Scales::Auto;
        s.settings.size = 256;
        let keys = wanted_targets(&s);
        // Two styles × the scales 128 (rounded from 181/√2), 181, 256.
        assert_eq!(keys.len(), 2 * 3);
        let some: HashSet<String> = keys[..5].iter().cloned().collect();
        let p = plan_single(&s, &some);
        assert!(stylize_of(&p, 0).targets.is_none() && p.note.is_empty());
        let all: HashSet<String> = keys.iter().cloned().collect();
        let p = plan_single(&s, &all);
        assert_eq!(p.tasks.len(), 1);
        let task = stylize_of(&p, 0);
        assert_eq!(task.targets.as_ref().map(|t| &t.keys), Some(&keys));
        assert_eq!(task.targets.as_ref().unwrap().sides, vec![128, 181, 256]);
        assert_eq!(task.settings, s.settings);
        assert_eq!(task.content_key.as_deref(), Some("inputs/c.png"));
        assert!(p.note.contains("cached 6"), "{}", p.note);
    }

    #[test]
    fn each_style_under_its_mask_has_its_own_targets_and_the_render_its_content_mask() {
        let mut s = spec(JobKind::Single, &["inputs/a.png", "inputs/a.png"]);
        s.content_mask = Some(Picture {
            key: "inputs/cm.png".into(),
            name: String::new(),
            size: Some((32, 24)),
        });
        s.styles[0].mask = Some("inputs/m1.png".into());
        s.styles[1].mask = Some("inputs/m2.png".into());
        assert_eq!(s.validate(), Ok(()));
        let keys = wanted_targets(&s);
        // One scale, the same image under two masks: two targets.
        assert_eq!(keys.len(), 2);
        assert_ne!(keys[0], keys[1]);
        let mut plain = s.clone();
        plain.content_mask = None;
        plain.styles.iter_mut().for_each(|st| st.mask = None);
        assert!(!wanted_targets(&plain).contains(&keys[0]));
        let all: HashSet<String> = keys.iter().cloned().collect();
        let p = plan_single(&s, &all);
        let task = stylize_of(&p, 0);
        assert_eq!(task.content_mask.as_deref(), Some("inputs/cm.png"));
        assert_eq!(task.targets.as_ref().map(|t| &t.keys), Some(&keys));
        assert_eq!(task.styles, s.styles);
    }

    #[test]
    fn match_colours_bypass_the_cache() {
        let mut s = spec(JobKind::Texture, &["inputs/a.png"]);
        s.content = None;
        s.settings.texture = Some((64, 64));
        s.settings.original_colors = OriginalColors::Match;
        assert!(wanted_targets(&s).is_empty());
        let p = plan_texture(&s, &HashSet::new());
        assert_eq!(p.tasks.len(), 1);
        assert!(stylize_of(&p, 0).targets.is_none());
        assert!(stylize_of(&p, 0).content_key.is_none());
    }
}
