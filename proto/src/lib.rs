//! `stylefarm-proto`: the `stylefarm.v1` gRPC API shared by the CLI, the
//! coordinator and the workers.
//!
//! Layout:
//! - [`pb`]: the tonic/prost generated code, kept apart from domain types.
//! - `convert`: the one mapping between `pb` messages and the domain types
//!   of `stylefarm_spec` (`TryFrom` in, `From` out), with its round-trip
//!   tests, and [`LeasedTask`], a task as a worker receives it.
//! - [`connect`]: the channel to a coordinator (plain or TLS) and the
//!   bearer token every call carries.

pub mod pb {
    #![allow(
        clippy::all,
        missing_docs,
        rustdoc::invalid_html_tags,
        rustdoc::bare_urls
    )]
    tonic::include_proto!("stylefarm.v1");
}

pub mod connect;
mod convert;

pub use convert::LeasedTask;
