//! The specs the properties run on: plausible ones with a few fields
//! grafted from wild ones.

use super::*;

/// Which fields of a plausible spec are replaced by a wild one's.
pub(crate) type Graft = (&'static str, fn(&mut JobSpec, &JobSpec));

macro_rules! graft {
    ($($name:literal => |$s:ident, $w:ident| $body:expr),+ $(,)?) => {
        &[$(($name, |$s: &mut JobSpec, $w: &JobSpec| { $body; })),+]
    };
}

/// Every field a client sends, each one a place to put a wild value.
pub(crate) const GRAFTS: &[Graft] = graft![
    "name" => |s, w| s.name = w.name.clone(),
    "kind" => |s, w| s.kind = w.kind,
    "priority" => |s, w| s.priority = w.priority,
    "content" => |s, w| s.content = w.content.clone(),
    "content.key" => |s, w| if let (Some(s), Some(w)) = (&mut s.content, &w.content) { s.key = w.key.clone() },
    "content.name" => |s, w| if let (Some(s), Some(w)) = (&mut s.content, &w.content) { s.name = w.name.clone() },
    "content.size" => |s, w| if let (Some(s), Some(w)) = (&mut s.content, &w.content) { s.size = w.size },
    "contents" => |s, w| s.contents = w.contents.clone(),
    "contents[0]" => |s, w| if let (Some(s), Some(w)) = (s.contents.first_mut(), w.contents.first()) { *s = w.clone() },
    "styles" => |s, w| s.styles = w.styles.clone(),
    "styles[0].key" => |s, w| if let (Some(s), Some(w)) = (s.styles.first_mut(), w.styles.first()) { s.key = w.key.clone() },
    "styles[0].weight" => |s, w| if let (Some(s), Some(w)) = (s.styles.first_mut(), w.styles.first()) { s.weight = w.weight },
    "styles[0].name" => |s, w| if let (Some(s), Some(w)) = (s.styles.first_mut(), w.styles.first()) { s.name = w.name.clone() },
    "styles[-1].mask" => |s, w| if let (Some(s), Some(w)) = (s.styles.last_mut(), w.styles.last()) { s.mask = w.mask.clone() },
    "settings" => |s, w| s.settings = w.settings.clone(),
    "settings.size" => |s, w| s.settings.size = w.settings.size,
    "settings.iterations" => |s, w| s.settings.iterations = w.settings.iterations,
    "settings.learning_rate" => |s, w| s.settings.learning_rate = w.settings.learning_rate,
    "settings.lbfgs_history" => |s, w| s.settings.lbfgs_history = w.settings.lbfgs_history,
    "settings.content_weight" => |s, w| s.settings.content_weight = w.settings.content_weight,
    "settings.style_weight" => |s, w| s.settings.style_weight = w.settings.style_weight,
    "settings.tv_weight" => |s, w| s.settings.tv_weight = w.settings.tv_weight,
    "settings.content_layers" => |s, w| s.settings.content_layers = w.settings.content_layers.clone(),
    "settings.style_layers" => |s, w| s.settings.style_layers = w.settings.style_layers.clone(),
    "settings.init" => |s, w| s.settings.init = w.settings.init,
    "settings.init_key" => |s, w| s.settings.init_key = w.settings.init_key.clone(),
    "settings.style_scale" => |s, w| s.settings.style_scale = w.settings.style_scale,
    "settings.original_colors" => |s, w| s.settings.original_colors = w.settings.original_colors,
    "settings.scales" => |s, w| s.settings.scales = w.settings.scales.clone(),
    "settings.save_every" => |s, w| s.settings.save_every = w.settings.save_every,
    "settings.animation" => |s, w| s.settings.animation = w.settings.animation,
    "settings.texture" => |s, w| s.settings.texture = w.settings.texture,
    "settings.model" => |s, w| s.settings.model = w.settings.model.clone(),
    "settings.tileable" => |s, w| s.settings.tileable = w.settings.tileable,
    "settings.tile" => |s, w| s.settings.tile = w.settings.tile,
    "settings.max_memory" => |s, w| s.settings.max_memory = w.settings.max_memory,
    "settings.tol_loss_relative" => |s, w| s.settings.tol_loss_relative = w.settings.tol_loss_relative,
    "settings.tol_window" => |s, w| s.settings.tol_window = w.settings.tol_window,
    "grid" => |s, w| s.grid = w.grid,
    "tiles" => |s, w| s.tiles = w.tiles,
    "batch" => |s, w| s.batch = w.batch,
    "content_mask" => |s, w| s.content_mask = w.content_mask.clone(),
    "video" => |s, w| s.video = w.video.clone(),
    "video.key" => |s, w| if let (Some(s), Some(w)) = (&mut s.video, &w.video) { s.key = w.key.clone() },
    "video.name" => |s, w| if let (Some(s), Some(w)) = (&mut s.video, &w.video) { s.name = w.name.clone() },
    "video.fps" => |s, w| if let (Some(s), Some(w)) = (&mut s.video, &w.video) { s.fps = w.fps },
    "video.start" => |s, w| if let (Some(s), Some(w)) = (&mut s.video, &w.video) { s.start = w.start },
    "video.duration" => |s, w| if let (Some(s), Some(w)) = (&mut s.video, &w.video) { s.duration = w.duration },
    "video.keyframe_every" => |s, w| if let (Some(s), Some(w)) = (&mut s.video, &w.video) { s.keyframe_every = w.keyframe_every },
    "video.temporal_weight" => |s, w| if let (Some(s), Some(w)) = (&mut s.video, &w.video) { s.temporal_weight = w.temporal_weight },
    "video.frame_iterations" => |s, w| if let (Some(s), Some(w)) = (&mut s.video, &w.video) { s.frame_iterations = w.frame_iterations },
    "video.frames" => |s, w| if let (Some(s), Some(w)) = (&mut s.video, &w.video) { s.frames = w.frames },
    "video.frame_size" => |s, w| if let (Some(s), Some(w)) = (&mut s.video, &w.video) { s.frame_size = w.frame_size },
    "video.rate" => |s, w| if let (Some(s), Some(w)) = (&mut s.video, &w.video) { s.rate = w.rate },
];

/// The specs the properties run on: a plausible spec of a random kind with
/// a few of its fields (each with a chance of 1 in 30) taken from a wild
/// one; about a sixth of them keep every field plausible, and one in ten
/// is wild through and through.
pub(crate) fn job_spec() -> BoxedStrategy<JobSpec> {
    let grafted = (
        sane_spec(),
        wild_spec(),
        prop::collection::vec(prop::bool::weighted(1.0 / 30.0), GRAFTS.len()),
    )
        .prop_map(|(mut spec, wild, which)| {
            for ((_, graft), take) in GRAFTS.iter().zip(which) {
                if take {
                    graft(&mut spec, &wild);
                }
            }
            spec
        });
    prop_oneof![9 => grafted, 1 => wild_spec()].boxed()
}
