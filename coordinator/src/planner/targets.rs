//! The shared style targets a plan starts with. Each distinct style gets one
//! `targets` task that computes its Gram matrices at every style side the
//! job needs and stores them in the shared cache (`stylefarm_spec::cache`);
//! a style whose targets are all cached already gets none. Stylize tasks
//! depend on the targets tasks of their styles, read the cached Grams, blend
//! them by their weights (Grams are linear in the weights: no network pass
//! per cell) and render. With `original_colors = match` the targets depend
//! on the content: there are no targets tasks and each stylize computes its
//! own. A style with a region map has guided targets (one set of Grams per
//! region), cached under a key that includes the mask's: the same style image
//! with two masks is two targets tasks.

use std::collections::{HashMap, HashSet};

use stylefarm_spec::cache::{cacheable, guided_targets_key, style_side, style_sides};
use stylefarm_spec::task::{CachedTarget, SharedTargets, TargetsTask};
use stylefarm_spec::{JobSpec, RenderSettings, StyleInput, TaskPlan};

use super::PlannedTask;

/// Every cache key the plan of `spec` would read (to be looked up in
/// storage before planning); empty when its targets cannot be cached.
pub(crate) fn wanted_targets(spec: &JobSpec) -> Vec<String> {
    let s = &spec.settings;
    // A video's tasks compute their targets from its first frame.
    if !cacheable(s) || spec.kind == stylefarm_spec::JobKind::Video {
        return Vec::new();
    }
    let sides = sides_of(spec);
    spec.styles
        .iter()
        .flat_map(|st| keys_of(s, st, &sides))
        .collect()
}

/// The style side of every scale of the job, pixels.
pub(super) fn sides_of(spec: &JobSpec) -> Vec<u32> {
    if spec.is_tiled() {
        spec.highres_sides()
            .into_iter()
            .map(|l| style_side(l, spec.settings.style_scale))
            .collect()
    } else {
        style_sides(&spec.settings)
    }
}

fn keys_of(s: &RenderSettings, style: &StyleInput, sides: &[u32]) -> Vec<String> {
    let mask = style.mask.as_deref();
    sides
        .iter()
        .map(|&side| {
            guided_targets_key(&s.model, &style.key, mask, side, s.pooling, &s.style_layers)
        })
        .collect()
}

/// A style's targets are those of its image under its mask.
type StyleId = (String, Option<String>);

fn id_of(style: &StyleInput) -> StyleId {
    (style.key.clone(), style.mask.clone())
}

/// The targets part of a plan: which task (if any) computes each style's
/// targets, and where they are.
pub(super) struct Targets {
    /// Style (input key, mask key) → (cache keys per scale, index of its
    /// targets task).
    by_style: HashMap<StyleId, (Vec<String>, Option<usize>)>,
    /// The style side of each scale, pixels.
    sides: Vec<u32>,
    computed: usize,
    cached: usize,
    enabled: bool,
}

impl Targets {
    /// Adds a targets task for every distinct style of `spec` whose targets
    /// are not all in `cached`.
    pub(super) fn plan(
        spec: &JobSpec,
        tasks: &mut Vec<PlannedTask>,
        cached: &HashSet<String>,
    ) -> Self {
        let s = &spec.settings;
        let mut t = Targets {
            by_style: HashMap::new(),
            sides: sides_of(spec),
            computed: 0,
            cached: 0,
            enabled: cacheable(s),
        };
        if !t.enabled {
            return t;
        }
        for style in &spec.styles {
            if t.by_style.contains_key(&id_of(style)) {
                continue;
            }
            let keys = keys_of(s, style, &t.sides);
            let task = if keys.iter().all(|k| cached.contains(k)) {
                t.cached += 1;
                None
            } else {
                t.computed += 1;
                let plan = TaskPlan::Targets(TargetsTask {
                    style_key: style.key.clone(),
                    targets: t
                        .sides
                        .iter()
                        .zip(&keys)
                        .map(|(&side, key)| CachedTarget {
                            side,
                            key: key.clone(),
                        })
                        .collect(),
                    style_layers: s.style_layers.clone(),
                    pooling: s.pooling,
                    model: s.model.clone(),
                    mask_key: style.mask.clone(),
                });
                tasks.push(PlannedTask::new(plan, Vec::new(), false));
                Some(tasks.len() - 1)
            };
            t.by_style.insert(id_of(style), (keys, task));
        }
        t
    }

    /// The cached targets (every scale) and dependencies of a stylize task
    /// blending `styles`.
    pub(super) fn for_styles(&self, styles: &[StyleInput]) -> (Option<SharedTargets>, Vec<usize>) {
        self.for_styles_at(styles, None)
    }

    /// [`Self::for_styles`] at one scale only (`Some(k)`) or at all.
    pub(super) fn for_styles_at(
        &self,
        styles: &[StyleInput],
        scale: Option<usize>,
    ) -> (Option<SharedTargets>, Vec<usize>) {
        if !self.enabled {
            return (None, Vec::new());
        }
        let mut keys = Vec::new();
        let mut deps = Vec::new();
        for s in styles {
            if let Some((k, task)) = self.by_style.get(&id_of(s)) {
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
        let sides = match scale {
            Some(j) => self.sides.get(j).copied().into_iter().collect(),
            None => self.sides.clone(),
        };
        let shared = (!keys.is_empty()).then_some(SharedTargets { keys, sides });
        (shared, deps)
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
