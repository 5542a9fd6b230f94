//! `stylefarm-proto`: the `stylefarm.v1` gRPC API shared by the CLI, the
//! coordinator and the workers.
//!
//! Layout:
//! - [`pb`]: the tonic/prost generated code, kept apart from domain types.
//! - [`settings`]: validation of a wire [`pb::JobSpec`] shared by the
//!   coordinator (at submit) and workers (before rendering): [`validate_spec`],
//!   [`InvalidSpec`], [`VGG19_LAYERS`].
//! - [`kinds`]: the shape rules of the multi-task job kinds (grid, gallery,
//!   texture) and the blend weights of grid cells.
//! - [`cache`]: where shared style targets live in object storage (the one
//!   place the coordinator and the workers derive the key from).

pub mod pb {
    #![allow(
        clippy::all,
        missing_docs,
        rustdoc::invalid_html_tags,
        rustdoc::bare_urls
    )]
    tonic::include_proto!("stylefarm.v1");
}

pub mod cache;
pub mod kinds;
pub mod settings;

pub use settings::{InvalidSpec, VGG19_LAYERS, validate_spec};
