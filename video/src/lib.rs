//! `stylefarm-video`: everything a video needs that is not style transfer.
//! Decoding, probing and encoding run the `ffmpeg` and `ffprobe` programs
//! (Debian package `ffmpeg`); dense optical flow is OpenCV's DIS through the
//! `opencv` crate (core and video modules only); the flow consistency
//! weights follow artistic-videos (Ruder, Dosovitskiy & Brox 2016) exactly.
//! Frames and flows are plain `(C, H, W)` f32 buffers, so this crate depends
//! on no other crate of the workspace; the engine's `video` module takes
//! them as they are.
//!
//! Layout:
//! - [`frame`]: [`Frame`] (planar RGB 0..1), rgb24 conversion, [`side_by_side`].
//! - `probe`: [`probe`] → [`VideoInfo`], with a clear error for each kind of bad file.
//! - `decode`: [`decode`] frames at a size, frame rate and time range; [`extract_audio`].
//! - `encode`: [`Encoder`] / [`encode`] to H.264 MP4 with audio, GIF or WebP.
//! - `flow`: [`optical_flow`] (DIS) and [`flow_pair`] with consistency weights.
//! - `files`: flows as Middlebury `.flo`, consistency weights as 8-bit PGM.
//! - `consistency`: [`consistency()`], artistic-videos' `consistencyChecker`.
//! - `clip`: [`pan_zoom_clip`], a test clip made from a still picture.

mod clip;
mod consistency;
mod decode;
mod encode;
mod error;
mod files;
mod flow;
pub mod frame;
mod probe;
mod tool;

pub use clip::{ClipOptions, pan_zoom_clip};
pub use consistency::consistency;
pub use decode::{
    DecodeOptions, Decoded, MAX_FPS, count_frames, decode, decode_all, extract_audio, frame_size,
};
pub use encode::{Encoder, Format, encode};
pub use error::{Result, VideoError};
pub use files::{weights_from_pgm, weights_to_pgm};
pub use flow::{Flow, FlowPair, flow_pair, optical_flow};
pub use frame::{Frame, side_by_side};
pub use probe::{MAX_SIDE, VideoInfo, probe};
pub use tool::PACKAGE;
