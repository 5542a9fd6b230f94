//! The one mapping between the wire and the domain: every `pb` message that
//! carries a job or a task converts to its `stylefarm_spec` type with
//! `TryFrom` (parsing names, checking shape; errors name the wire field) and
//! back with `From`. The coordinator converts at its service edge, the CLI
//! before it submits, the worker when it leases.
//!
//! Layout: `job` (job specs and render settings), `task` (task plans),
//! `video` (a video job's source and its tasks' plans).

mod job;
mod task;
mod video;

#[cfg(test)]
mod job_checks;
#[cfg(test)]
mod tests;

pub use task::LeasedTask;

use stylefarm_spec::InvalidSpec;

/// A required sub-message, or an error naming it.
fn required<'a, T>(field: &str, value: Option<&'a T>) -> Result<&'a T, InvalidSpec> {
    value.ok_or_else(|| {
        InvalidSpec::new(
            field,
            "missing",
            "send every field of the message explicitly",
        )
    })
}

/// `0` → `None`: the wire's "not set" for sizes.
fn nonzero<T: Default + PartialEq>(v: T) -> Option<T> {
    (v != T::default()).then_some(v)
}

/// `""` → `None`.
fn nonempty(s: &str) -> Option<String> {
    (!s.is_empty()).then(|| s.to_owned())
}
