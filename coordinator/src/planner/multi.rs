//! Plans of the multi-task kinds (single, grid, gallery, texture) and the
//! shared style targets they start with; highres is in `highres`.
//!
//! Each distinct style gets one `targets` task that computes its Gram
//! matrices at every style side the job needs and stores them in the shared
//! cache (`stylefarm_proto::cache`); a style whose targets are all cached
//! already gets none. Stylize tasks depend on the targets tasks of their
//! styles, read the cached Grams, blend them by their weights (Grams are
//! linear in the weights: no network pass per cell) and render. With
//! `original_colors = match` the targets depend on the content: there are no
//! targets tasks and each stylize computes its own.

use std::collections::{HashMap, HashSet};

use stylefarm_proto::cache::style_side;
use stylefarm_proto::cache::{cacheable, style_sides, targets_key};
use stylefarm_proto::kinds::{grid_cells, highres_sides, is_tiled};
use stylefarm_proto::pb;

use super::{Plan, PlannedTask};
use crate::model::TaskKind;

/// Every cache key the plan of `spec` would read (to be looked up in
/// storage before planning); empty when the kind uses no shared targets.
pub(crate) fn wanted_targets(spec: &pb::JobSpec) -> Vec<String> {
    if !matches!(
        spec.kind.as_str(),
        "single" | "grid" | "gallery" | "texture" | "highres"
    ) {
        return Vec::new();
    }
    let Some(s) = spec.settings.as_ref().filter(|s| cacheable(s)) else {
        return Vec::new();
    };
    let sides = sides_of(spec, s);
    spec.styles
        .iter()
        .flat_map(|st| keys_of(s, &st.input_key, &sides))
        .collect()
}

/// The style side of every scale of the job.
pub(super) fn sides_of(spec: &pb::JobSpec, s: &pb::RenderSettings) -> Vec<u32> {
    if is_tiled(spec) {
        highres_sides(spec)
            .into_iter()
            .map(|l| style_side(l, s.style_scale))
            .collect()
    } else {
        style_sides(s)
    }
}

fn keys_of(s: &pb::RenderSettings, style_key: &str, sides: &[u32]) -> Vec<String> {
    sides
        .iter()
        .map(|&side| targets_key(&s.model, style_key, side, &s.pooling, &s.style_layers))
        .collect()
}

/// The targets part of a plan: which task (if any) computes each style's
/// targets, and where they are.
pub(super) struct Targets {
    /// Style input key → (cache keys per scale, index of its targets task).
    by_style: HashMap<String, (Vec<String>, Option<usize>)>,
    computed: usize,
    cached: usize,
    enabled: bool,
}

impl Targets {
    /// Adds a targets task for every distinct style of `spec` whose targets
    /// are not all in `cached`.
    pub(super) fn plan(
        spec: &pb::JobSpec,
        tasks: &mut Vec<PlannedTask>,
        cached: &HashSet<String>,
    ) -> Self {
        let mut t = Targets {
            by_style: HashMap::new(),
            computed: 0,
            cached: 0,
            enabled: false,
        };
        let Some(s) = spec.settings.as_ref().filter(|s| cacheable(s)) else {
            return t;
        };
        t.enabled = true;
        let sides = sides_of(spec, s);
        for style in &spec.styles {
            if t.by_style.contains_key(&style.input_key) {
                continue;
            }
            let keys = keys_of(s, &style.input_key, &sides);
            let task = if keys.iter().all(|k| cached.contains(k)) {
                t.cached += 1;
                None
            } else {
                t.computed += 1;
                let mut task = PlannedTask::new(TaskKind::Targets, Vec::new(), false);
                task.params = Some(pb::TaskParams {
                    style_key: style.input_key.clone(),
                    style_sides: sides.clone(),
                    cache_keys: keys.clone(),
                    ..Default::default()
                });
                tasks.push(task);
                Some(tasks.len() - 1)
            };
            t.by_style.insert(style.input_key.clone(), (keys, task));
        }
        t
    }

    /// The cache keys (style-major) and dependencies of a stylize task
    /// blending `styles`.
    fn for_styles(&self, styles: &[pb::StyleInput]) -> (Vec<String>, Vec<usize>) {
        self.for_styles_at(styles, None)
    }

    /// [`Self::for_styles`] at one scale only (`Some(k)`) or at all.
    pub(super) fn for_styles_at(
        &self,
        styles: &[pb::StyleInput],
        scale: Option<usize>,
    ) -> (Vec<String>, Vec<usize>) {
        if !self.enabled {
            return (Vec::new(), Vec::new());
        }
        let mut keys = Vec::new();
        let mut deps = Vec::new();
        for s in styles {
            if let Some((k, task)) = self.by_style.get(&s.input_key) {
                match scale {
                    Some(j) => keys.extend(k.get(j).cloned()),
                    None => keys.extend(k.iter().cloned()),
                }
                if let Some(t) = task
                    && !deps.contains(t)
                {
                    deps.push(*t);
                }
            }
        }
        (keys, deps)
    }

    pub(super) fn note(&self) -> String {
        if self.enabled {
            format!(
                "style targets: computed {}, cached {}",
                self.computed, self.cached
            )
        } else {
            "style targets: computed per task (original_colors = match depends on the content)"
                .into()
        }
    }
}

/// A stylize task of a multi-task job.
fn stylize(
    targets: &Targets,
    content_key: &str,
    styles: Vec<pb::StyleInput>,
    style_weight: f64,
    output_name: String,
    is_final: bool,
) -> PlannedTask {
    let (cache_keys, deps) = targets.for_styles(&styles);
    let mut task = PlannedTask::new(TaskKind::Stylize, deps, is_final);
    task.params = Some(pb::TaskParams {
        content_key: content_key.to_owned(),
        styles,
        cache_keys,
        style_weight,
        output_name,
        ..Default::default()
    });
    task
}

pub(super) fn output_key(job_id: &str, task: &PlannedTask) -> String {
    let name = task
        .params
        .as_ref()
        .map(|p| p.output_name.as_str())
        .filter(|n| !n.is_empty())
        .unwrap_or("result.png");
    format!("jobs/{job_id}/{}/{name}", task.task_id)
}

fn style_label(s: &pb::StyleInput, i: usize) -> String {
    if s.name.is_empty() {
        format!("style {}", i + 1)
    } else {
        s.name.clone()
    }
}

/// single: one stylize task. Its style targets are computed inside the task
/// (a separate `targets` task only pays off when several tasks share them),
/// unless all of them are in the cache already: then the task reads them.
pub(super) fn plan_single(spec: &pb::JobSpec, cached: &HashSet<String>) -> Plan {
    let mut task = PlannedTask::new(TaskKind::Stylize, Vec::new(), true);
    let keys = wanted_targets(spec);
    let note = if !keys.is_empty() && keys.iter().all(|k| cached.contains(k)) {
        let note = format!("style targets: cached {} (read from the cache)", keys.len());
        task.params = Some(pb::TaskParams {
            cache_keys: keys,
            ..Default::default()
        });
        note
    } else {
        String::new()
    };
    Plan {
        tasks: vec![task],
        note,
    }
}

/// grid: targets per style → one stylize per cell → contact sheet. The
/// sheet task copies each cell into its own outputs, so the job's outputs are
/// `sheet.png` and `cells/rR-cC.png`.
pub(super) fn plan_grid(spec: &pb::JobSpec, job_id: &str, cached: &HashSet<String>) -> Plan {
    let mut tasks = Vec::new();
    let targets = Targets::plan(spec, &mut tasks, cached);
    let base_weight = spec.settings.as_ref().map_or(0.0, |s| s.style_weight);
    let (rows, cols, cells) = grid_cells(spec);
    let mut sheet_cells = Vec::with_capacity(cells.len());
    let mut deps = Vec::with_capacity(cells.len());
    for cell in &cells {
        // Styles of weight 0 add nothing to the blend: left out, so a corner
        // cell is exactly a single-style render.
        let styles: Vec<pb::StyleInput> = spec
            .styles
            .iter()
            .zip(&cell.weights)
            .filter(|(_, w)| **w > 0.0)
            .map(|(s, w)| pb::StyleInput {
                weight: *w,
                ..s.clone()
            })
            .collect();
        let caption = if spec.axis == "weights" {
            format!("style weight {:.3}", base_weight * cell.style_weight_factor)
        } else {
            let ws: Vec<String> = cell.weights.iter().map(|w| format!("{w:.2}")).collect();
            format!("weights {}", ws.join("/"))
        };
        let style_weight = if spec.axis == "weights" {
            base_weight * cell.style_weight_factor
        } else {
            0.0
        };
        let task = stylize(
            &targets,
            &spec.content_key,
            styles,
            style_weight,
            format!("r{}-c{}.png", cell.row, cell.col),
            false,
        );
        sheet_cells.push(pb::Cell {
            key: output_key(job_id, &task),
            row: cell.row,
            col: cell.col,
            caption,
            ..Default::default()
        });
        tasks.push(task);
        deps.push(tasks.len() - 1);
    }
    let t = |i: u32, n: u32| f64::from(i) / f64::from(n.max(2) - 1);
    let (row_labels, col_labels) = if spec.axis == "weights" {
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
    let mut sheet = PlannedTask::new(TaskKind::Assemble, deps, true);
    sheet.params = Some(pb::TaskParams {
        layout: "sheet".into(),
        cells: sheet_cells,
        rows,
        cols,
        row_labels,
        col_labels,
        ..Default::default()
    });
    tasks.push(sheet);
    let note = format!(
        "grid {rows}×{cols}: {} cells; {}",
        cells.len(),
        targets.note()
    );
    Plan { tasks, note }
}

/// gallery: targets per style → one stylize per (content, style) → sheet
/// and HTML page (`gallery/index.html` with `images/` and `thumbs/`).
pub(super) fn plan_gallery(spec: &pb::JobSpec, job_id: &str, cached: &HashSet<String>) -> Plan {
    let mut tasks = Vec::new();
    let targets = Targets::plan(spec, &mut tasks, cached);
    let settings = spec.settings.clone().unwrap_or_default();
    let mut cells = Vec::new();
    let mut deps = Vec::new();
    for (ci, content) in spec.contents.iter().enumerate() {
        for (si, style) in spec.styles.iter().enumerate() {
            let task = stylize(
                &targets,
                &content.input_key,
                vec![pb::StyleInput {
                    weight: 1.0,
                    ..style.clone()
                }],
                0.0,
                format!("c{ci}-s{si}.png"),
                false,
            );
            cells.push(pb::Cell {
                key: output_key(job_id, &task),
                row: ci as u32,
                col: si as u32,
                caption: format!(
                    "size {}, iterations {}, seed {}, optimizer {}, content weight {}, style weight {}, tv weight {}, style scale {}",
                    settings.size,
                    settings.iterations,
                    settings.seed,
                    settings.optimizer,
                    settings.content_weight,
                    settings.style_weight,
                    settings.tv_weight,
                    settings.style_scale
                ),
                ..Default::default()
            });
            tasks.push(task);
            deps.push(tasks.len() - 1);
        }
    }
    let mut page = PlannedTask::new(TaskKind::Assemble, deps, true);
    page.params = Some(pb::TaskParams {
        layout: "gallery".into(),
        cells,
        rows: spec.contents.len() as u32,
        cols: spec.styles.len() as u32,
        row_labels: spec
            .contents
            .iter()
            .enumerate()
            .map(|(i, c)| {
                if c.name.is_empty() {
                    format!("content {}", i + 1)
                } else {
                    c.name.clone()
                }
            })
            .collect(),
        col_labels: spec
            .styles
            .iter()
            .enumerate()
            .map(|(i, s)| style_label(s, i))
            .collect(),
        ..Default::default()
    });
    tasks.push(page);
    let note = format!(
        "gallery {}×{}; {}",
        spec.contents.len(),
        spec.styles.len(),
        targets.note()
    );
    Plan { tasks, note }
}

/// texture: targets per style → one stylize with no content (its
/// `result.png` is the texture); with a tile size, planned like highres.
pub(super) fn plan_texture(spec: &pb::JobSpec, job_id: &str, cached: &HashSet<String>) -> Plan {
    if is_tiled(spec) {
        return super::highres::plan_highres(spec, job_id, cached);
    }
    let mut tasks = Vec::new();
    let targets = Targets::plan(spec, &mut tasks, cached);
    tasks.push(stylize(
        &targets,
        "",
        spec.styles.clone(),
        0.0,
        String::new(),
        true,
    ));
    let note = targets.note();
    Plan { tasks, note }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(kind: &str, styles: &[&str]) -> pb::JobSpec {
        pb::JobSpec {
            kind: kind.into(),
            content_key: "inputs/c.png".into(),
            styles: styles
                .iter()
                .map(|k| pb::StyleInput {
                    input_key: (*k).into(),
                    weight: 1.0,
                    ..Default::default()
                })
                .collect(),
            steps: 3,
            settings: Some(pb::RenderSettings {
                size: 64,
                style_scale: 1.0,
                style_weight: 100.0,
                pooling: "max".into(),
                original_colors: "none".into(),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn grid_shares_targets_and_skips_cached_ones() {
        let s = spec("grid", &["inputs/a.png", "inputs/b.png"]);
        let p = plan_grid(&s, "j", &HashSet::new());
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
        let corner = p.tasks[2].params.as_ref().unwrap();
        assert_eq!(corner.styles.len(), 1);
        assert_eq!(p.tasks[2].deps, vec![0]);
        assert_eq!(p.tasks[3].deps, vec![0, 1]);
        assert!(p.note.contains("computed 2, cached 0"), "{}", p.note);

        let cached: HashSet<String> = wanted_targets(&s).into_iter().collect();
        assert_eq!(cached.len(), 2);
        let p = plan_grid(&s, "j", &cached);
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
    fn gallery_is_every_pair_then_a_page() {
        let mut s = spec("gallery", &["inputs/a.png", "inputs/b.png"]);
        s.content_key.clear();
        s.contents = ["inputs/x.png", "inputs/y.png", "inputs/z.png"]
            .iter()
            .map(|k| pb::ContentInput {
                input_key: (*k).into(),
                name: String::new(),
            })
            .collect();
        let p = plan_gallery(&s, "j", &HashSet::new());
        assert_eq!(p.check(), Ok(()));
        assert_eq!(p.tasks.len(), 2 + 6 + 1);
        let page = p.tasks.last().unwrap();
        assert!(page.is_final && page.deps.len() == 6);
        let params = page.params.as_ref().unwrap();
        assert_eq!((params.rows, params.cols, params.cells.len()), (3, 2, 6));
        assert!(params.cells[0].key.starts_with("jobs/j/"));
        assert!(params.cells[5].key.ends_with("/c2-s1.png"));
    }

    #[test]
    fn match_colours_bypass_the_cache() {
        let mut s = spec("texture", &["inputs/a.png"]);
        s.settings.as_mut().unwrap().original_colors = "match".into();
        assert!(wanted_targets(&s).is_empty());
        let p = plan_texture(&s, "j", &HashSet::new());
        assert_eq!(p.tasks.len(), 1);
        assert!(p.tasks[0].params.as_ref().unwrap().cache_keys.is_empty());
    }

    #[test]
    fn a_single_job_reads_its_targets_only_when_all_are_cached() {
        let mut s = spec("single", &["inputs/a.png", "inputs/b.png"]);
        s.settings.as_mut().unwrap().multiscale = true;
        s.settings.as_mut().unwrap().size = 256;
        let keys = wanted_targets(&s);
        // Two styles × the scales 128 (rounded from 181/√2), 181, 256.
        assert_eq!(keys.len(), 2 * 3);
        let some: HashSet<String> = keys[..5].iter().cloned().collect();
        let p = plan_single(&s, &some);
        assert!(p.tasks[0].params.is_none() && p.note.is_empty());
        let all: HashSet<String> = keys.iter().cloned().collect();
        let p = plan_single(&s, &all);
        assert_eq!(p.tasks.len(), 1);
        assert_eq!(p.tasks[0].params.as_ref().unwrap().cache_keys, keys);
        assert!(p.note.contains("cached 6"), "{}", p.note);
    }
}
