//! gallery: targets per style → one stylize per (content, style) → sheet
//! and HTML page (`gallery/index.html` with `images/` and `thumbs/`).

use std::collections::HashSet;

use stylefarm_spec::task::{AssembleTask, Sheet, SheetCell};
use stylefarm_spec::{JobSpec, StyleInput, TaskPlan};

use super::batch::{Capacity, Picture, push_pictures};
use super::single::stylize;
use super::targets::Targets;
use super::{Plan, PlannedTask};

pub(super) fn plan_gallery(
    spec: &JobSpec,
    job_id: &str,
    cached: &HashSet<String>,
    capacity: Capacity,
) -> Plan {
    let mut tasks = Vec::new();
    let targets = Targets::plan(spec, &mut tasks, cached);
    let s = &spec.settings;
    let caption = format!(
        "size {}, iterations {}, seed {}, optimizer {}, content weight {}, style weight {}, tv weight {}, style scale {}",
        s.size,
        s.iterations,
        s.seed,
        s.optimizer,
        s.content_weight,
        s.style_weight,
        s.tv_weight,
        s.style_scale
    );
    let mut cells = Vec::new();
    let mut pictures = Vec::new();
    for (ci, content) in spec.contents.iter().enumerate() {
        for (si, style) in spec.styles.iter().enumerate() {
            let styles = vec![StyleInput {
                weight: 1.0,
                ..style.clone()
            }];
            let (shared, style_deps) = targets.for_styles(&styles);
            let name = format!("c{ci}-s{si}.png");
            pictures.push(Picture {
                task: stylize(Some(content), styles, s.clone(), name, shared),
                deps: style_deps,
            });
            cells.push(SheetCell {
                key: String::new(),
                row: ci as u32,
                col: si as u32,
                caption: caption.clone(),
            });
        }
    }
    let (keys, deps) = push_pictures(&mut tasks, pictures, spec, capacity, job_id);
    for (cell, key) in cells.iter_mut().zip(keys) {
        cell.key = key;
    }
    let label = |name: &str, what: &str, i: usize| {
        if name.is_empty() {
            format!("{what} {}", i + 1)
        } else {
            name.to_owned()
        }
    };
    let page = TaskPlan::Assemble(AssembleTask::Gallery(Sheet {
        cells,
        rows: spec.contents.len() as u32,
        cols: spec.styles.len() as u32,
        row_labels: spec
            .contents
            .iter()
            .enumerate()
            .map(|(i, c)| label(&c.name, "content", i))
            .collect(),
        col_labels: spec
            .styles
            .iter()
            .enumerate()
            .map(|(i, s)| label(&s.name, "style", i))
            .collect(),
    }));
    tasks.push(PlannedTask::new(page, deps, true));
    let note = format!(
        "gallery {}×{}; {}",
        spec.contents.len(),
        spec.styles.len(),
        targets.note()
    );
    Plan { tasks, note }
}

#[cfg(test)]
mod tests {
    use stylefarm_spec::{JobKind, Picture};

    use super::*;
    use crate::planner::tests::spec;

    #[test]
    fn gallery_is_every_pair_then_a_page() {
        let mut s = spec(JobKind::Gallery, &["inputs/a.png", "inputs/b.png"]);
        s.content = None;
        s.contents = ["inputs/x.png", "inputs/y.png", "inputs/z.png"]
            .iter()
            .map(|k| Picture {
                key: (*k).into(),
                ..Default::default()
            })
            .collect();
        let p = plan_gallery(&s, "j", &HashSet::new(), Capacity::default());
        assert_eq!(p.check(), Ok(()));
        assert_eq!(p.tasks.len(), 2 + 6 + 1);
        let page = p.tasks.last().unwrap();
        assert!(page.is_final && page.deps.len() == 6);
        let Some(TaskPlan::Assemble(AssembleTask::Gallery(sheet))) = &page.plan else {
            panic!("not a gallery page: {:?}", page.plan)
        };
        assert_eq!((sheet.rows, sheet.cols, sheet.cells.len()), (3, 2, 6));
        assert!(sheet.cells[0].key.starts_with("jobs/j/"));
        assert!(sheet.cells[5].key.ends_with("/c2-s1.png"));
        assert_eq!(sheet.row_labels[0], "content 1");
    }
}
