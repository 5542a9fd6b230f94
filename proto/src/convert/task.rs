//! `pb::TaskParams` / `pb::Task` ↔ `stylefarm_spec::task` plans.

use stylefarm_spec::task::{
    AssembleTask, BatchTask, CachedTarget, Mosaic, PlacedTile, SharedTargets, Sheet, SheetCell,
    StylizeTask, TargetsTask, TileCrop, check_output_name,
};
use stylefarm_spec::{InvalidSpec, RenderSettings, TaskPlan, UnknownName};

use super::job::{layer_in, layer_out, style_in, style_out};
use super::video::{video_task_in, video_task_out};
use super::{nonempty, required};
use crate::pb;
use crate::pb::task_params::Kind;

/// A task as a worker receives it from `Lease`, with its plan parsed.
#[derive(Debug, Clone, PartialEq)]
pub struct LeasedTask {
    pub task_id: String,
    pub job_id: String,
    /// The fencing epoch, echoed in every later call about the task.
    pub attempt: u32,
    /// `jobs/<job>/<task>/`: every output goes below it.
    pub output_prefix: String,
    pub plan: TaskPlan,
}

impl TryFrom<&pb::Task> for LeasedTask {
    type Error = InvalidSpec;

    fn try_from(t: &pb::Task) -> Result<Self, InvalidSpec> {
        Ok(LeasedTask {
            task_id: t.task_id.clone(),
            job_id: t.job_id.clone(),
            attempt: t.attempt,
            output_prefix: t.output_prefix.clone(),
            plan: TaskPlan::try_from(required("params", t.params.as_ref())?)?,
        })
    }
}

impl TryFrom<&pb::TaskParams> for TaskPlan {
    type Error = InvalidSpec;

    fn try_from(p: &pb::TaskParams) -> Result<Self, InvalidSpec> {
        Ok(match required("params.kind", p.kind.as_ref())? {
            Kind::Targets(t) => TaskPlan::Targets(targets_in(t)?),
            Kind::Stylize(s) => TaskPlan::Stylize(stylize_in(s)?),
            Kind::Sheet(s) => TaskPlan::Assemble(AssembleTask::Sheet(sheet_in(s))),
            Kind::Gallery(s) => TaskPlan::Assemble(AssembleTask::Gallery(sheet_in(s))),
            Kind::Tiles(t) => TaskPlan::Assemble(AssembleTask::Tiles(mosaic_in(t)?)),
            Kind::Video(v) => TaskPlan::Video(video_task_in(v)?),
            Kind::Batch(b) => TaskPlan::Batch(BatchTask {
                pictures: b
                    .pictures
                    .iter()
                    .map(stylize_in)
                    .collect::<Result<_, _>>()?,
            }),
        })
    }
}

impl From<&TaskPlan> for pb::TaskParams {
    fn from(plan: &TaskPlan) -> Self {
        let kind = match plan {
            TaskPlan::Targets(t) => Kind::Targets(targets_out(t)),
            TaskPlan::Stylize(s) => Kind::Stylize(stylize_out(s)),
            TaskPlan::Assemble(AssembleTask::Sheet(s)) => Kind::Sheet(sheet_out(s)),
            TaskPlan::Assemble(AssembleTask::Gallery(s)) => Kind::Gallery(sheet_out(s)),
            TaskPlan::Assemble(AssembleTask::Tiles(m)) => Kind::Tiles(mosaic_out(m)),
            TaskPlan::Video(v) => Kind::Video(video_task_out(v)),
            TaskPlan::Batch(b) => Kind::Batch(pb::BatchParams {
                pictures: b.pictures.iter().map(stylize_out).collect(),
            }),
        };
        pb::TaskParams { kind: Some(kind) }
    }
}

fn targets_in(t: &pb::TargetsParams) -> Result<TargetsTask, InvalidSpec> {
    if t.style_key.is_empty() || t.targets.is_empty() {
        return Err(InvalidSpec::new(
            "params.targets",
            "no style or no cache keys",
            "a targets task needs a style and one cache key per style side",
        ));
    }
    Ok(TargetsTask {
        style_key: t.style_key.clone(),
        targets: t
            .targets
            .iter()
            .map(|c| CachedTarget {
                side: c.side,
                key: c.key.clone(),
            })
            .collect(),
        style_layers: t.style_layers.iter().map(layer_in).collect(),
        pooling: t
            .pooling
            .parse()
            .map_err(|e: UnknownName| e.at("params.targets.pooling"))?,
        model: t.model.clone(),
        mask_key: nonempty(&t.style_mask_key),
    })
}

fn targets_out(t: &TargetsTask) -> pb::TargetsParams {
    pb::TargetsParams {
        style_key: t.style_key.clone(),
        targets: t
            .targets
            .iter()
            .map(|c| pb::CachedTarget {
                side: c.side,
                key: c.key.clone(),
            })
            .collect(),
        style_layers: t.style_layers.iter().map(layer_out).collect(),
        pooling: t.pooling.as_str().into(),
        model: t.model.clone(),
        style_mask_key: t.mask_key.clone().unwrap_or_default(),
    }
}

fn stylize_in(s: &pb::StylizeParams) -> Result<StylizeTask, InvalidSpec> {
    check_output_name("params.stylize.output_name", &s.output_name)?;
    let settings = required("params.stylize.settings", s.settings.as_ref())?;
    let targets = if s.cache_keys.is_empty() {
        None
    } else {
        Some(SharedTargets {
            keys: s.cache_keys.clone(),
            sides: s.style_sides.clone(),
        })
    };
    Ok(StylizeTask {
        content_key: nonempty(&s.content_key),
        content_size: (s.content_width > 0 && s.content_height > 0)
            .then_some((s.content_width, s.content_height)),
        styles: s.styles.iter().map(style_in).collect(),
        // Named as in a job (`settings.size`), below `params.stylize`.
        settings: RenderSettings::try_from(settings).map_err(|e| e.within("params.stylize"))?,
        output_name: s.output_name.clone(),
        targets,
        previous_scale: nonempty(&s.previous_scale_key),
        tile: s.tile.as_ref().map(|t| TileCrop {
            full: (t.full_width, t.full_height),
            at: (t.x, t.y),
            size: (t.width, t.height),
        }),
        content_mask: nonempty(&s.content_mask_key),
    })
}

fn stylize_out(s: &StylizeTask) -> pb::StylizeParams {
    let (content_width, content_height) = s.content_size.unwrap_or((0, 0));
    let (cache_keys, style_sides) = s
        .targets
        .as_ref()
        .map(|t| (t.keys.clone(), t.sides.clone()))
        .unwrap_or_default();
    pb::StylizeParams {
        content_key: s.content_key.clone().unwrap_or_default(),
        content_width,
        content_height,
        styles: s.styles.iter().map(style_out).collect(),
        settings: Some(pb::RenderSettings::from(&s.settings)),
        output_name: s.output_name.clone(),
        cache_keys,
        style_sides,
        previous_scale_key: s.previous_scale.clone().unwrap_or_default(),
        tile: s.tile.map(|t| pb::TileCrop {
            full_width: t.full.0,
            full_height: t.full.1,
            x: t.at.0,
            y: t.at.1,
            width: t.size.0,
            height: t.size.1,
        }),
        content_mask_key: s.content_mask.clone().unwrap_or_default(),
    }
}

fn sheet_in(s: &pb::SheetParams) -> Sheet {
    Sheet {
        cells: s
            .cells
            .iter()
            .map(|c| SheetCell {
                key: c.key.clone(),
                row: c.row,
                col: c.col,
                caption: c.caption.clone(),
            })
            .collect(),
        rows: s.rows,
        cols: s.cols,
        row_labels: s.row_labels.clone(),
        col_labels: s.col_labels.clone(),
    }
}

fn sheet_out(s: &Sheet) -> pb::SheetParams {
    pb::SheetParams {
        cells: s
            .cells
            .iter()
            .map(|c| pb::Cell {
                key: c.key.clone(),
                row: c.row,
                col: c.col,
                caption: c.caption.clone(),
            })
            .collect(),
        rows: s.rows,
        cols: s.cols,
        row_labels: s.row_labels.clone(),
        col_labels: s.col_labels.clone(),
    }
}

fn mosaic_in(t: &pb::TilesParams) -> Result<Mosaic, InvalidSpec> {
    check_output_name("params.tiles.output_name", &t.output_name)?;
    Ok(Mosaic {
        tiles: t
            .tiles
            .iter()
            .map(|p| PlacedTile {
                key: p.key.clone(),
                x: p.x,
                y: p.y,
            })
            .collect(),
        full: (t.full_width, t.full_height),
        overlap: t.overlap,
        output_name: t.output_name.clone(),
    })
}

fn mosaic_out(m: &Mosaic) -> pb::TilesParams {
    pb::TilesParams {
        tiles: m
            .tiles
            .iter()
            .map(|p| pb::PlacedTile {
                key: p.key.clone(),
                x: p.x,
                y: p.y,
            })
            .collect(),
        full_width: m.full.0,
        full_height: m.full.1,
        overlap: m.overlap,
        output_name: m.output_name.clone(),
    }
}
