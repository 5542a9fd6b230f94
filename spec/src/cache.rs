//! Shared style targets: the Gram matrices of one style image at one style
//! side, cached in object storage as safetensors under a key derived from
//! everything they depend on, so that tasks and jobs reuse them.
//!
//! The key is `cache/targets/<sha256>.safetensors`, the hash over a format
//! version, the model id, the style input key (itself the sha256 of the
//! file), the style side in pixels, the pooling and the style layer names,
//! and for guided targets the style mask's input key (the targets of a style
//! differ with its region map).
//! Layer weights, the content and the content's aspect ratio do not enter:
//! Grams do not depend on them (with `original_colors = match` they depend on
//! the content, and the planner does not use the cache at all).

use sha2::{Digest, Sha256};

use crate::names::{OriginalColors, Pooling};
use crate::render::{LayerWeight, RenderSettings};

/// Version of the cached format and key derivation; bump to invalidate.
pub const TARGETS_FORMAT: &str = "stylefarm-targets-v1";

/// The cache key of one style's targets at `side` pixels.
pub fn targets_key(
    model: &str,
    style_key: &str,
    side: u32,
    pooling: Pooling,
    layers: &[LayerWeight],
) -> String {
    guided_targets_key(model, style_key, None, side, pooling, layers)
}

/// [`targets_key`] of a style with its region map `mask_key` (an input
/// key): guided targets. `None` gives exactly [`targets_key`].
pub fn guided_targets_key(
    model: &str,
    style_key: &str,
    mask_key: Option<&str>,
    side: u32,
    pooling: Pooling,
    layers: &[LayerWeight],
) -> String {
    let names: Vec<&str> = layers.iter().map(|l| l.layer.as_str()).collect();
    let mut text = format!(
        "{TARGETS_FORMAT}\nmodel {model}\nstyle {style_key}\nside {side}\npooling {pooling}\nlayers {}\n",
        names.join(",")
    );
    if let Some(mask) = mask_key {
        text.push_str(&format!("mask {mask}\n"));
    }
    let digest = Sha256::digest(text.as_bytes());
    format!("cache/targets/{}.safetensors", hex::encode(digest))
}

/// The style image side at a scale of long side `long`, as
/// `StyleTargets::for_scale` computes it.
pub fn style_side(long: u32, style_scale: f64) -> u32 {
    (f64::from(long) * style_scale).round().max(16.0) as u32
}

/// The style side of every scale of `s`.
pub fn style_sides(s: &RenderSettings) -> Vec<u32> {
    s.scale_sides()
        .into_iter()
        .map(|l| style_side(l, s.style_scale))
        .collect()
}

/// Whether the targets of `s` can be cached (they do not depend on the
/// content).
pub fn cacheable(s: &RenderSettings) -> bool {
    s.original_colors != OriginalColors::Match
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::Scales;

    fn layers(names: &[&str]) -> Vec<LayerWeight> {
        names.iter().map(|n| LayerWeight::new(n)).collect()
    }

    #[test]
    fn keys_change_with_every_input_and_not_with_weights() {
        let l = layers(&["relu1_1", "relu2_1"]);
        let max = Pooling::Max;
        let k = targets_key("", "inputs/a.png", 64, max, &l);
        assert!(k.starts_with("cache/targets/") && k.ends_with(".safetensors"));
        assert_eq!(k, targets_key("", "inputs/a.png", 64, max, &l));
        assert_ne!(k, targets_key("m", "inputs/a.png", 64, max, &l));
        assert_ne!(k, targets_key("", "inputs/b.png", 64, max, &l));
        assert_ne!(k, targets_key("", "inputs/a.png", 65, max, &l));
        assert_ne!(k, targets_key("", "inputs/a.png", 64, Pooling::Avg, &l));
        assert_ne!(
            k,
            targets_key("", "inputs/a.png", 64, max, &layers(&["relu1_1"]))
        );
        let mut heavier = l.clone();
        heavier[0].weight = 3.0;
        assert_eq!(k, targets_key("", "inputs/a.png", 64, max, &heavier));
        // A style mask is part of the key; no mask is the plain key.
        let guided = |m| guided_targets_key("", "inputs/a.png", m, 64, max, &l);
        assert_eq!(guided(None), k);
        assert_ne!(guided(Some("inputs/m.png")), k);
        assert_ne!(guided(Some("inputs/m.png")), guided(Some("inputs/n.png")));
    }

    #[test]
    fn keys_are_stable_across_versions() {
        // A cache written by an earlier build must still be found: the key
        // of these inputs may only change together with TARGETS_FORMAT.
        let k = targets_key("", "inputs/a.png", 64, Pooling::Max, &layers(&["relu1_1"]));
        let text = "stylefarm-targets-v1\nmodel \nstyle inputs/a.png\nside 64\npooling max\nlayers relu1_1\n";
        let want = format!(
            "cache/targets/{}.safetensors",
            hex::encode(Sha256::digest(text.as_bytes()))
        );
        assert_eq!(k, want);
    }

    #[test]
    fn sides_follow_the_engine() {
        let mut s = RenderSettings {
            size: 512,
            ..Default::default()
        };
        assert_eq!(s.scale_sides(), vec![512]);
        s.scales = Scales::Auto;
        assert_eq!(s.scale_sides(), vec![128, 181, 256, 362, 512]);
        s.scales = Scales::Explicit(vec![100, 200]);
        assert_eq!(s.scale_sides(), vec![100, 200]);
        s.scales = Scales::Single;
        s.texture = Some((40, 64));
        s.style_scale = 0.5;
        assert_eq!(style_sides(&s), vec![32]);
        assert_eq!(style_side(20, 0.5), 16);
    }
}
