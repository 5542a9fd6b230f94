//! Semantic style transfer and neural doodles: regions of the output take
//! their style from the regions of the same colour in the style images.
//!
//! Layout:
//! - `mask`: reading region maps, colour clustering, area resampling.

mod mask;

pub use mask::{COLOUR_TOLERANCE, MAX_REGIONS, MIN_REGION_FRACTION, Mask, hex, nearest_colour};
