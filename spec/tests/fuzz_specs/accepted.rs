//! What an accepted spec derives must be sane: storage names below their
//! prefixes, planner helpers that answer.

use super::*;

/// A file name a task writes below its prefix: no path, no hidden file.
pub(crate) fn check_file_name(name: &str) -> Result<(), TestCaseError> {
    prop_assert!(
        !name.is_empty()
            && !name.starts_with('.')
            && !name.contains("..")
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c)),
        "{name:?} is no plain file name"
    );
    Ok(())
}

/// What an accepted spec derives is sane: storage names stay below their
/// prefixes and the planner's helpers answer without panicking.
pub(crate) fn check_accepted(spec: &JobSpec) -> Result<(), TestCaseError> {
    prop_assert!(spec.name.chars().count() <= 256 && !spec.name.chars().any(char::is_control));
    for key in spec.input_keys() {
        check_input_key(key)?;
    }
    for style in &spec.styles {
        for side in style_sides(&spec.settings) {
            let key = guided_targets_key(
                &spec.settings.model,
                &style.key,
                style.mask.as_deref(),
                side,
                spec.settings.pooling,
                &spec.settings.style_layers,
            );
            let hash = key
                .strip_prefix("cache/targets/")
                .and_then(|k| k.strip_suffix(".safetensors"));
            prop_assert!(
                hash.is_some_and(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit())),
                "cache key {key:?}"
            );
        }
    }
    if let Some(v) = &spec.video {
        let stem = result_stem(&v.name);
        check_file_name(&stem)?;
        check_file_name(&format!("{stem}.mp4"))?;
        let keys = keyframes(v.frames, v.keyframe_every);
        prop_assert_eq!(keys.first(), Some(&0));
        prop_assert_eq!(keys.last(), Some(&(v.frames - 1)));
        for pair in keys.windows(2) {
            prop_assert!(pair[0] < pair[1]);
            let (flow, weights) = flow_names(pair[0], pair[1]);
            prop_assert!(flow.starts_with("flow/") && weights.starts_with("flow/"));
            check_file_name(&flow["flow/".len()..])?;
            check_file_name(&weights["flow/".len()..])?;
        }
        check_file_name(&frame_name(v.frames - 1)["frames/".len()..])?;
    }
    // The planner's helpers on an accepted spec.
    let sides = spec.settings.scale_sides();
    prop_assert!(!sides.is_empty());
    prop_assert!(sides.iter().all(|&s| s <= MAX_SIDE));
    if spec.is_tiled() {
        let sides = spec.highres_sides();
        prop_assert!(sides.windows(2).all(|w| w[0] < w[1]), "{sides:?}");
        let (w, h) = spec.tiled_dims();
        prop_assert!(w.max(h) <= MAX_SIDE && w.min(h) >= 1, "{w}×{h}");
    }
    if spec.kind == JobKind::Grid {
        let (rows, cols, cells) = grid_cells(spec);
        prop_assert_eq!(cells.len(), (rows * cols) as usize);
    }
    let _ = spec.doodle_texture();
    for style in &spec.styles {
        if let Err(e) = spec.check_style_size(&style.name, (u32::MAX, 1)) {
            prop_assert!(e.field == "styles" && !e.problem.is_empty());
        }
    }
    Ok(())
}
