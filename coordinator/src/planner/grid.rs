//! grid (style interpolation): targets per style → one stylize per cell →
//! contact sheet.

use std::collections::HashSet;

use stylefarm_spec::geometry::grid_cells;
use stylefarm_spec::task::{AssembleTask, Sheet, SheetCell};
use stylefarm_spec::{GridAxis, JobSpec, StyleInput, TaskPlan};

use super::batch::{Capacity, Picture, push_pictures};
use super::single::stylize;
use super::targets::Targets;
use super::{Plan, PlannedTask};

/// The sheet task copies each cell into its own outputs, so the job's
/// outputs are `sheet.png` and `cells/rR-cC.png`.
pub(super) fn plan_grid(
    spec: &JobSpec,
    job_id: &str,
    cached: &HashSet<String>,
    capacity: Capacity,
) -> Plan {
    let mut tasks = Vec::new();
    let targets = Targets::plan(spec, &mut tasks, cached);
    let base_weight = spec.settings.style_weight;
    let weights_axis = spec.grid.axis == GridAxis::Weights;
    let (rows, cols, cells) = grid_cells(spec);
    let mut sheet_cells = Vec::with_capacity(cells.len());
    let mut pictures = Vec::with_capacity(cells.len());
    for cell in &cells {
        // Styles of weight 0 add nothing to the blend: left out, so a corner
        // cell is exactly a single-style render.
        let styles: Vec<StyleInput> = spec
            .styles
            .iter()
            .zip(&cell.weights)
            .filter(|(_, w)| **w > 0.0)
            .map(|(s, w)| StyleInput {
                weight: *w,
                ..s.clone()
            })
            .collect();
        let mut settings = spec.settings.clone();
        let caption = if weights_axis {
            settings.style_weight = base_weight * cell.style_weight_factor;
            format!("style weight {:.3}", settings.style_weight)
        } else {
            let ws: Vec<String> = cell.weights.iter().map(|w| format!("{w:.2}")).collect();
            format!("weights {}", ws.join("/"))
        };
        let (shared, cell_deps) = targets.for_styles(&styles);
        let name = format!("r{}-c{}.png", cell.row, cell.col);
        pictures.push(Picture {
            task: stylize(spec.content.as_ref(), styles, settings, name, shared),
            deps: cell_deps,
        });
        sheet_cells.push(SheetCell {
            key: String::new(),
            row: cell.row,
            col: cell.col,
            caption,
        });
    }
    let (keys, deps) = push_pictures(&mut tasks, pictures, spec, capacity, job_id);
    for (cell, key) in sheet_cells.iter_mut().zip(keys) {
        cell.key = key;
    }
    let t = |i: u32, n: u32| f64::from(i) / f64::from(n.max(2) - 1);
    let (row_labels, col_labels) = if weights_axis {
        (
            vec![String::new()],
            cells
                .iter()
                .map(|c| format!("x{:.2}", c.style_weight_factor))
                .collect(),
        )
    } else if spec.styles.len() == 2 {
        (
            vec![String::new()],
            (0..cols).map(|c| format!("{:.2}", t(c, cols))).collect(),
        )
    } else {
        (
            (0..rows).map(|r| format!("{:.2}", t(r, rows))).collect(),
            (0..cols).map(|c| format!("{:.2}", t(c, cols))).collect(),
        )
    };
    let sheet = TaskPlan::Assemble(AssembleTask::Sheet(Sheet {
        cells: sheet_cells,
        rows,
        cols,
        row_labels,
        col_labels,
    }));
    tasks.push(PlannedTask::new(sheet, deps, true));
    let note = format!(
        "grid {rows}×{cols}: {} cells; {}",
        cells.len(),
        targets.note()
    );
    Plan { tasks, note }
}

#[cfg(test)]
mod tests {
    use stylefarm_spec::{JobKind, TaskKind};

    use super::*;
    use crate::planner::targets::wanted_targets;
    use crate::planner::tests::spec;

    #[test]
    fn grid_shares_targets_and_skips_cached_ones() {
        let s = spec(JobKind::Grid, &["inputs/a.png", "inputs/b.png"]);
        let p = plan_grid(&s, "j", &HashSet::new(), Capacity::default());
        assert_eq!(p.check(), Ok(()));
        let kinds: Vec<TaskKind> = p.tasks.iter().map(|t| t.kind).collect();
        assert_eq!(
            kinds,
            [
                TaskKind::Targets,
                TaskKind::Targets,
                TaskKind::Stylize,
                TaskKind::Stylize,
                TaskKind::Stylize,
                TaskKind::Assemble
            ]
        );
        // The corner cell blends style a alone, and depends only on its targets.
        let Some(TaskPlan::Stylize(corner)) = &p.tasks[2].plan else {
            panic!("not a stylize task")
        };
        assert_eq!(corner.styles.len(), 1);
        assert_eq!(p.tasks[2].deps, vec![0]);
        assert_eq!(p.tasks[3].deps, vec![0, 1]);
        assert!(p.note.contains("computed 2, cached 0"), "{}", p.note);

        let cached: HashSet<String> = wanted_targets(&s).into_iter().collect();
        assert_eq!(cached.len(), 2);
        let p = plan_grid(&s, "j", &cached, Capacity::default());
        assert!(p.tasks.iter().all(|t| t.kind != TaskKind::Targets));
        assert!(
            p.tasks
                .iter()
                .all(|t| t.deps.iter().all(|&d| d < p.tasks.len()))
        );
        assert_eq!(p.check(), Ok(()));
        assert!(p.note.contains("computed 0, cached 2"), "{}", p.note);
    }

    #[test]
    fn a_weights_grid_sets_each_cells_style_weight() {
        let mut s = spec(JobKind::Grid, &["inputs/a.png"]);
        s.grid.axis = GridAxis::Weights;
        let p = plan_grid(&s, "j", &HashSet::new(), Capacity::default());
        let weights: Vec<f64> = p
            .tasks
            .iter()
            .filter_map(|t| match &t.plan {
                Some(TaskPlan::Stylize(s)) => Some(s.settings.style_weight),
                _ => None,
            })
            .collect();
        assert_eq!(weights.len(), 3);
        assert!((weights[0] - 10.0).abs() < 1e-9 && (weights[2] - 1000.0).abs() < 1e-6);
    }
}
