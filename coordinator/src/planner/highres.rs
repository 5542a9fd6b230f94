//! The highres plan: one big picture (or a tiled texture) as a coarse whole
//! on one worker, then overlapping tiles per finer scale on any workers.

use std::collections::HashSet;

use stylefarm_spec::geometry::{fit_long_side, tiles};
use stylefarm_spec::task::{AssembleTask, Mosaic, PlacedTile, StylizeTask, TileCrop};
use stylefarm_spec::{JobSpec, RenderSettings, Scales, TaskPlan};

use super::targets::Targets;
use super::{Plan, PlannedTask};

/// highres: targets per style (at every scale) → the whole picture at the
/// first scale on one worker → per finer scale, overlapping tiles on any
/// workers, each initialised from the previous scale upsampled and all
/// optimising against the same global targets of that scale → an assemble
/// task feathering the tiles together. The last assemble's `result.png` is
/// the job's output. A tiled texture is planned the same way, without
/// content: each task renders its scale's (or its tile's) texture size.
pub(super) fn plan_highres(spec: &JobSpec, job_id: &str, cached: &HashSet<String>) -> Plan {
    let mut tasks = Vec::new();
    let targets = Targets::plan(spec, &mut tasks, cached);
    let farm = spec.tiles.expect("a checked tiled job has tiles");
    let sides = spec.highres_sides();
    let n = sides.len();
    let name = |k: usize| {
        if k + 1 == n {
            "result.png".to_string()
        } else {
            format!("scale-{k}.png")
        }
    };
    let texture = spec.settings.texture;
    let dims = |side: u32| {
        let (w, h) = texture
            .or(spec.content.as_ref().and_then(|c| c.size))
            .unwrap_or((side, side));
        fit_long_side(w, h, side)
    };
    // One render: the scale's size (or the tile's), one scale only.
    let settings_at = |size: (u32, u32)| RenderSettings {
        size: size.0.max(size.1),
        scales: Scales::Single,
        texture: texture.map(|_| size),
        ..spec.settings.clone()
    };
    let stylize = |scale: usize, size, tile: Option<TileCrop>, previous_scale| {
        let (shared, deps) = targets.for_styles_at(&spec.styles, Some(scale));
        let plan = TaskPlan::Stylize(StylizeTask {
            content_key: spec.content.as_ref().map(|c| c.key.clone()),
            content_size: spec.content.as_ref().and_then(|c| c.size),
            styles: spec.styles.clone(),
            settings: settings_at(size),
            output_name: if tile.is_some() {
                "tile.png".into()
            } else {
                name(scale)
            },
            targets: shared,
            previous_scale,
            tile,
            // A tile crops it like the content (worker: `Mask::crop`).
            content_mask: spec.content_mask.as_ref().map(|m| m.key.clone()),
        });
        (plan, deps)
    };
    let (base, deps) = stylize(0, dims(sides[0]), None, None);
    let base = PlannedTask::new(base, deps, n == 1);
    let mut prev_key = base.output_key(job_id);
    tasks.push(base);
    let mut prev = tasks.len() - 1;
    let mut tile_count = 0;
    for (k, &side) in sides.iter().enumerate().skip(1) {
        let (w, h) = dims(side);
        let mut placed = Vec::new();
        let mut tile_tasks = Vec::new();
        for (x, y, tw, th) in tiles(w, h, farm.tile, farm.overlap) {
            let crop = TileCrop {
                full: (w, h),
                at: (x, y),
                size: (tw, th),
            };
            let (plan, mut deps) = stylize(k, (tw, th), Some(crop), Some(prev_key.clone()));
            deps.push(prev);
            let task = PlannedTask::new(plan, deps, false);
            placed.push(PlacedTile {
                key: task.output_key(job_id),
                x,
                y,
            });
            tasks.push(task);
            tile_tasks.push(tasks.len() - 1);
        }
        tile_count += tile_tasks.len();
        let mosaic = TaskPlan::Assemble(AssembleTask::Tiles(Mosaic {
            tiles: placed,
            full: (w, h),
            overlap: farm.overlap,
            output_name: name(k),
        }));
        let assemble = PlannedTask::new(mosaic, tile_tasks, k + 1 == n);
        prev_key = assemble.output_key(job_id);
        tasks.push(assemble);
        prev = tasks.len() - 1;
    }
    let note = format!(
        "{} scales {sides:?}: {tile_count} tiles of {} px (overlap {}); {}",
        if texture.is_some() {
            "tiled texture"
        } else {
            "highres"
        },
        farm.tile,
        farm.overlap,
        targets.note()
    );
    Plan { tasks, note }
}

#[cfg(test)]
mod tests {
    use stylefarm_spec::{FarmTiles, JobKind, TaskKind};

    use super::*;
    use crate::planner::tests::spec;

    fn stylize_tasks(p: &Plan) -> Vec<&StylizeTask> {
        p.tasks
            .iter()
            .filter_map(|t| match &t.plan {
                Some(TaskPlan::Stylize(s)) => Some(s),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn a_tiled_texture_is_planned_like_highres_without_content() {
        let mut s = spec(JobKind::Texture, &["inputs/a.png"]);
        s.content = None;
        s.settings.texture = Some((256, 128));
        s.tiles = Some(FarmTiles {
            tile: 64,
            overlap: 16,
        });
        let p = plan_highres(&s, "j", &HashSet::new());
        assert_eq!(p.check(), Ok(()));
        // targets, the whole at 64×32, then 128×64 and 256×128 in tiles.
        let stylize = stylize_tasks(&p);
        let base = stylize[0];
        assert_eq!(base.settings.texture, Some((64, 32)));
        assert!(base.tile.is_none() && base.content_key.is_none());
        let tiles: Vec<_> = stylize.iter().filter(|t| t.tile.is_some()).collect();
        // 128×64: 3×1 tiles; 256×128: 5×3.
        assert_eq!(tiles.len(), 3 + 15);
        assert!(tiles.iter().all(|t| t.previous_scale.is_some()));
        assert!(
            tiles
                .iter()
                .all(|t| t.settings.texture == Some(t.tile.unwrap().size))
        );
        let last = p.tasks.last().unwrap();
        assert!(last.is_final && last.kind == TaskKind::Assemble);
        let Some(TaskPlan::Assemble(AssembleTask::Tiles(m))) = &last.plan else {
            panic!("not a mosaic")
        };
        assert_eq!(m.full, (256, 128));
        assert!(
            p.note.starts_with("tiled texture scales [64, 128, 256]"),
            "{}",
            p.note
        );
    }

    #[test]
    fn highres_tiles_crop_the_content_and_start_from_the_previous_scale() {
        let mut s = spec(JobKind::Highres, &["inputs/a.png"]);
        s.settings.size = 128;
        s.tiles = Some(FarmTiles {
            tile: 64,
            overlap: 16,
        });
        let p = plan_highres(&s, "j", &HashSet::new());
        assert_eq!(p.check(), Ok(()));
        let stylize = stylize_tasks(&p);
        // The whole at 64 px, then 128×96 in 3×2 tiles of 64.
        assert_eq!(stylize[0].settings.size, 64);
        assert_eq!(stylize[0].output_name, "scale-0.png");
        let tiles = &stylize[1..];
        assert_eq!(tiles.len(), 6);
        for t in tiles {
            let crop = t.tile.expect("a tile");
            assert_eq!(crop.full, (128, 96));
            assert_eq!(t.settings.size, 64);
            assert_eq!(t.content_size, Some((64, 48)));
            assert!(
                t.previous_scale
                    .as_deref()
                    .unwrap()
                    .ends_with("/scale-0.png")
            );
            assert_eq!(t.targets.as_ref().unwrap().sides, vec![128]);
        }
    }

    #[test]
    fn a_doodle_too_big_for_the_workers_is_a_tiled_texture_guided_by_its_mask() {
        let mut s = spec(JobKind::Single, &["inputs/a.png"]);
        s.content = None;
        s.content_mask = Some(stylefarm_spec::Picture {
            key: "inputs/doodle.png".into(),
            name: String::new(),
            size: Some((128, 80)),
        });
        s.styles[0].mask = Some("inputs/a-regions.png".into());
        assert_eq!(s.validate(), Ok(()));
        // As the coordinator does at submission: sized, then split.
        assert!(s.size_doodle());
        assert_eq!(s.settings.texture, Some((64, 40)));
        crate::planner::split_if_too_big(&mut s, 1500).expect("split");
        assert_eq!(s.validate(), Ok(()));
        let p = crate::planner::plan(&s, "j", &HashSet::new(), Default::default());
        assert_eq!(p.check(), Ok(()));
        // One targets task: the style under its mask, keyed with the mask.
        let targets: Vec<_> = p
            .tasks
            .iter()
            .filter_map(|t| match &t.plan {
                Some(TaskPlan::Targets(t)) => Some(t),
                _ => None,
            })
            .collect();
        assert_eq!(targets.len(), 1);
        assert_eq!(targets[0].mask_key.as_deref(), Some("inputs/a-regions.png"));
        let stylize = stylize_tasks(&p);
        assert!(stylize.len() > 2);
        for t in &stylize {
            assert_eq!(t.content_mask.as_deref(), Some("inputs/doodle.png"));
            assert_eq!(t.styles[0].mask.as_deref(), Some("inputs/a-regions.png"));
            assert!(t.content_key.is_none());
        }
        assert!(stylize[1..].iter().all(|t| t.tile.is_some()));
    }
}
