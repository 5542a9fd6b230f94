//! The highres plan: one big picture (or a tiled texture) as a coarse whole
//! on one worker, then overlapping tiles per finer scale on any workers.

use std::collections::HashSet;

use stylefarm_proto::cache::style_side;
use stylefarm_proto::kinds::{fit_long_side, highres_sides, tiles};
use stylefarm_proto::pb;

use super::multi::{Targets, output_key};
use super::{Plan, PlannedTask};
use crate::model::TaskKind;

/// highres: targets per style (at every scale) → the whole picture at the
/// first scale on one worker → per finer scale, overlapping tiles on any
/// workers, each initialised from the previous scale upsampled and all
/// optimising against the same global targets of that scale → an assemble
/// task feathering the tiles together. The last assemble's `result.png` is
/// the job's output. A tiled texture is planned the same way, without
/// content: each task is told its scale's texture size (`full_width`,
/// `full_height`).
pub(super) fn plan_highres(spec: &pb::JobSpec, job_id: &str, cached: &HashSet<String>) -> Plan {
    let mut tasks = Vec::new();
    let targets = Targets::plan(spec, &mut tasks, cached);
    let s = spec.settings.clone().unwrap_or_default();
    let sides = highres_sides(spec);
    let style_sides: Vec<u32> = sides
        .iter()
        .map(|&l| style_side(l, s.style_scale))
        .collect();
    let n = sides.len();
    let name = |k: usize| {
        if k + 1 == n {
            "result.png".to_string()
        } else {
            format!("scale-{k}.png")
        }
    };
    let texture = spec.content_key.is_empty();
    let dims = |side: u32| {
        if texture {
            fit_long_side(s.texture_width, s.texture_height, side)
        } else {
            fit_long_side(spec.content_width, spec.content_height, side)
        }
    };
    let (keys, deps) = targets.for_styles_at(&spec.styles, Some(0));
    let mut base = PlannedTask::new(TaskKind::Stylize, deps, n == 1);
    let (w0, h0) = if texture { dims(sides[0]) } else { (0, 0) };
    base.params = Some(pb::TaskParams {
        content_key: spec.content_key.clone(),
        styles: spec.styles.clone(),
        cache_keys: keys,
        style_sides: vec![style_sides[0]],
        size: sides[0],
        full_width: w0,
        full_height: h0,
        output_name: name(0),
        ..Default::default()
    });
    let mut prev_key = output_key(job_id, &base);
    tasks.push(base);
    let mut prev = tasks.len() - 1;
    let mut tile_count = 0;
    for k in 1..n {
        let (w, h) = dims(sides[k]);
        let (keys, target_deps) = targets.for_styles_at(&spec.styles, Some(k));
        let mut cells = Vec::new();
        let mut tile_tasks = Vec::new();
        for (x, y, tw, th) in tiles(w, h, spec.tile, spec.overlap) {
            let mut deps = target_deps.clone();
            deps.push(prev);
            let mut task = PlannedTask::new(TaskKind::Stylize, deps, false);
            task.params = Some(pb::TaskParams {
                content_key: spec.content_key.clone(),
                styles: spec.styles.clone(),
                cache_keys: keys.clone(),
                style_sides: vec![style_sides[k]],
                init_key: prev_key.clone(),
                full_width: w,
                full_height: h,
                crop_x: x,
                crop_y: y,
                crop_width: tw,
                crop_height: th,
                output_name: "tile.png".into(),
                ..Default::default()
            });
            cells.push(pb::Cell {
                key: output_key(job_id, &task),
                x,
                y,
                ..Default::default()
            });
            tasks.push(task);
            tile_tasks.push(tasks.len() - 1);
        }
        tile_count += tile_tasks.len();
        let mut assemble = PlannedTask::new(TaskKind::Assemble, tile_tasks, k + 1 == n);
        assemble.params = Some(pb::TaskParams {
            layout: "tiles".into(),
            cells,
            full_width: w,
            full_height: h,
            overlap: spec.overlap,
            output_name: name(k),
            ..Default::default()
        });
        prev_key = output_key(job_id, &assemble);
        tasks.push(assemble);
        prev = tasks.len() - 1;
    }
    let note = format!(
        "{} scales {sides:?}: {tile_count} tiles of {} px (overlap {}); {}",
        if texture { "tiled texture" } else { "highres" },
        spec.tile,
        spec.overlap,
        targets.note()
    );
    Plan { tasks, note }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tiled_texture_is_planned_like_highres_without_content() {
        let mut s = pb::JobSpec {
            kind: "texture".into(),
            styles: vec![pb::StyleInput {
                input_key: "inputs/a.png".into(),
                weight: 1.0,
                ..Default::default()
            }],
            settings: Some(pb::RenderSettings {
                style_scale: 1.0,
                pooling: "max".into(),
                original_colors: "none".into(),
                ..Default::default()
            }),
            ..Default::default()
        };
        s.tile = 64;
        s.overlap = 16;
        let st = s.settings.as_mut().unwrap();
        (st.texture_width, st.texture_height) = (256, 128);
        let p = super::super::multi::plan_texture(&s, "j", &HashSet::new());
        assert_eq!(p.check(), Ok(()));
        // targets, the whole at 64×32, then 128×64 and 256×128 in tiles.
        let base = &p.tasks[1];
        let bp = base.params.as_ref().unwrap();
        assert_eq!((bp.full_width, bp.full_height, bp.crop_width), (64, 32, 0));
        assert!(bp.content_key.is_empty());
        let tiles: Vec<_> = p
            .tasks
            .iter()
            .filter_map(|t| t.params.as_ref().filter(|p| p.crop_width > 0))
            .collect();
        // 128×64: 3×1 tiles; 256×128: 5×3.
        assert_eq!(tiles.len(), 3 + 15);
        assert!(tiles.iter().all(|t| !t.init_key.is_empty()));
        let last = p.tasks.last().unwrap();
        assert!(last.is_final && last.kind == TaskKind::Assemble);
        assert_eq!(last.params.as_ref().unwrap().full_width, 256);
        assert!(
            p.note.starts_with("tiled texture scales [64, 128, 256]"),
            "{}",
            p.note
        );
    }
}
