//! Jobs too big for the workers: a single picture or a texture with more
//! pixels than every live worker renders in one piece is rewritten, before
//! planning, into a tiled job (highres for a picture, a tiled texture), with
//! tiles that fit the smallest worker.
//!
//! Left alone: jobs that ask for exact tiling on one machine
//! (`settings.tile`), tileable textures (tiles would not wrap around), jobs
//! whose content size the client did not send, and farms whose workers have
//! not said what they can render.

use stylefarm_spec::geometry::{default_overlap, fit_long_side, tile_for_pixels};
use stylefarm_spec::{FarmTiles, JobKind, JobSpec, Scales};

/// Rewrites `spec` in place when its picture exceeds `untiled_pixels` (the
/// smallest live worker's); returns what was done, for the job's first event.
pub(crate) fn split_if_too_big(spec: &mut JobSpec, untiled_pixels: u64) -> Option<String> {
    if untiled_pixels == 0 || spec.settings.tile.is_some() {
        return None;
    }
    let texture = spec.settings.texture;
    let (w, h) = match (spec.kind, texture) {
        (JobKind::Single | JobKind::Texture, Some(t)) => t,
        (JobKind::Single, None) => {
            let (cw, ch) = spec.content.as_ref()?.size?;
            fit_long_side(cw, ch, spec.settings.size)
        }
        _ => return None,
    };
    if u64::from(w) * u64::from(h) <= untiled_pixels
        || (texture.is_some() && spec.settings.tileable)
    {
        return None;
    }
    let tile = tile_for_pixels(untiled_pixels)?;
    spec.kind = if texture.is_some() {
        JobKind::Texture
    } else {
        JobKind::Highres
    };
    let overlap = default_overlap(tile);
    spec.tiles = Some(FarmTiles { tile, overlap });
    // Tiled jobs choose their own scales: the whole at the tile size, then doubling.
    spec.settings.scales = Scales::Single;
    Some(format!(
        "{w}×{h} is more than the workers render in one piece ({untiled_pixels} px): split into tiles of {tile} px (overlap {overlap})"
    ))
}

#[cfg(test)]
mod tests {
    use stylefarm_spec::Picture;

    use super::*;

    fn single(size: u32) -> JobSpec {
        let mut s = JobSpec::new(JobKind::Single);
        s.content = Some(Picture {
            key: "inputs/c.png".into(),
            name: String::new(),
            size: Some((400, 300)),
        });
        s.settings.size = size;
        s.settings.scales = Scales::Auto;
        s
    }

    #[test]
    fn a_picture_larger_than_the_workers_becomes_highres() {
        let mut s = single(400);
        let note = split_if_too_big(&mut s, 200 * 200).expect("split");
        assert_eq!(s.kind, JobKind::Highres);
        assert_eq!(
            s.tiles,
            Some(FarmTiles {
                tile: 192,
                overlap: 48
            })
        );
        assert_eq!(s.settings.scales, Scales::Single);
        assert!(note.contains("400×300"), "{note}");
    }

    #[test]
    fn pictures_that_fit_or_ask_for_exact_tiling_stay_single() {
        let mut s = single(400);
        assert_eq!(split_if_too_big(&mut s, 400 * 300), None);
        assert_eq!(split_if_too_big(&mut s, 0), None);
        s.settings.tile = Some(64);
        assert_eq!(split_if_too_big(&mut s, 100), None);
        let mut unknown = single(400);
        unknown.content.as_mut().unwrap().size = None;
        assert_eq!(split_if_too_big(&mut unknown, 100 * 100), None);
        assert_eq!(unknown.kind, JobKind::Single);
    }

    #[test]
    fn a_large_texture_is_tiled_unless_tileable() {
        let tex = |tileable| {
            let mut s = JobSpec::new(JobKind::Texture);
            s.settings.texture = Some((512, 256));
            s.settings.tileable = tileable;
            s
        };
        let mut t = tex(false);
        assert!(split_if_too_big(&mut t, 300 * 300).is_some());
        assert_eq!(
            (t.kind, t.tiles),
            (
                JobKind::Texture,
                Some(FarmTiles {
                    tile: 288,
                    overlap: 72
                })
            )
        );
        let mut t = tex(true);
        assert_eq!(split_if_too_big(&mut t, 300 * 300), None);
        assert_eq!(t.tiles, None);
    }

    #[test]
    fn no_split_when_not_even_a_small_tile_fits() {
        let mut s = single(400);
        assert_eq!(split_if_too_big(&mut s, 31 * 31), None);
    }
}
