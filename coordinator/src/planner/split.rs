//! Jobs too big for the workers: a single picture or a texture with more
//! pixels than every live worker renders in one piece is rewritten, before
//! planning, into a tiled job (highres for a picture, a tiled texture), with
//! tiles that fit the smallest worker.
//!
//! Left alone: jobs that ask for exact tiling on one machine
//! (`settings.tile`), tileable textures (tiles would not wrap around), jobs
//! whose content size the client did not send, and farms whose workers have
//! not said what they can render.

use stylefarm_proto::kinds::{default_overlap, fit_long_side, tile_for_pixels};
use stylefarm_proto::pb;

/// Rewrites `spec` in place when its picture exceeds `untiled_pixels` (the
/// smallest live worker's); returns what was done, for the job's first event.
pub(crate) fn split_if_too_big(spec: &mut pb::JobSpec, untiled_pixels: u64) -> Option<String> {
    if untiled_pixels == 0 {
        return None;
    }
    let s = spec.settings.as_ref()?;
    if s.tile > 0 {
        return None;
    }
    let texture = s.texture_width > 0 && s.texture_height > 0;
    let (w, h) = match spec.kind.as_str() {
        "single" | "texture" if texture => (s.texture_width, s.texture_height),
        "single" if spec.content_width > 0 && spec.content_height > 0 => {
            fit_long_side(spec.content_width, spec.content_height, s.size)
        }
        _ => return None,
    };
    if u64::from(w) * u64::from(h) <= untiled_pixels || (texture && s.tileable) {
        return None;
    }
    let tile = tile_for_pixels(untiled_pixels)?;
    spec.kind = if texture { "texture" } else { "highres" }.into();
    spec.tile = tile;
    spec.overlap = default_overlap(tile);
    if let Some(s) = spec.settings.as_mut() {
        // Tiled jobs choose their own scales: the whole at the tile size, then doubling.
        s.scales.clear();
        s.multiscale = false;
    }
    Some(format!(
        "{w}×{h} is more than the workers render in one piece ({untiled_pixels} px): split into tiles of {tile} px (overlap {})",
        spec.overlap
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn single(size: u32) -> pb::JobSpec {
        pb::JobSpec {
            kind: "single".into(),
            content_key: "inputs/c.png".into(),
            content_width: 400,
            content_height: 300,
            settings: Some(pb::RenderSettings {
                size,
                multiscale: true,
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn a_picture_larger_than_the_workers_becomes_highres() {
        let mut s = single(400);
        let note = split_if_too_big(&mut s, 200 * 200).expect("split");
        assert_eq!(s.kind, "highres");
        assert_eq!((s.tile, s.overlap), (192, 48));
        assert!(!s.settings.as_ref().unwrap().multiscale);
        assert!(note.contains("400×300"), "{note}");
    }

    #[test]
    fn pictures_that_fit_or_ask_for_exact_tiling_stay_single() {
        let mut s = single(400);
        assert_eq!(split_if_too_big(&mut s, 400 * 300), None);
        assert_eq!(split_if_too_big(&mut s, 0), None);
        s.settings.as_mut().unwrap().tile = 64;
        assert_eq!(split_if_too_big(&mut s, 100), None);
        let mut unknown = single(400);
        unknown.content_width = 0;
        assert_eq!(split_if_too_big(&mut unknown, 100 * 100), None);
        assert_eq!(unknown.kind, "single");
    }

    #[test]
    fn a_large_texture_is_tiled_unless_tileable() {
        let tex = |tileable| pb::JobSpec {
            kind: "texture".into(),
            settings: Some(pb::RenderSettings {
                texture_width: 512,
                texture_height: 256,
                tileable,
                ..Default::default()
            }),
            ..Default::default()
        };
        let mut t = tex(false);
        assert!(split_if_too_big(&mut t, 300 * 300).is_some());
        assert_eq!((t.kind.as_str(), t.tile, t.overlap), ("texture", 288, 72));
        let mut t = tex(true);
        assert_eq!(split_if_too_big(&mut t, 300 * 300), None);
        assert_eq!(t.tile, 0);
    }

    #[test]
    fn no_split_when_not_even_a_small_tile_fits() {
        let mut s = single(400);
        assert_eq!(split_if_too_big(&mut s, 31 * 31), None);
    }
}
