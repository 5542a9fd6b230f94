//! Why a job or a setting was refused.

use std::fmt;

/// Why a [`JobSpec`](crate::JobSpec) (or one of its settings) was refused:
/// the field, the problem (quoting the bad value) and what to do instead.
///
/// Fields are named by their path in the wire message (`settings.style_layers[2]`),
/// since that is what a client sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {problem}; {hint}")]
pub struct InvalidSpec {
    /// Path of the offending field, e.g. `settings.style_layers[2]`.
    pub field: String,
    /// What is wrong, quoting the bad value.
    pub problem: String,
    /// What to do instead.
    pub hint: String,
}

impl InvalidSpec {
    /// An error for `field`.
    pub fn new(
        field: impl Into<String>,
        problem: impl Into<String>,
        hint: impl Into<String>,
    ) -> Self {
        Self {
            field: field.into(),
            problem: problem.into(),
            hint: hint.into(),
        }
    }

    /// The same refusal of a message that lies at `prefix` in the one
    /// refused: `settings.size` within `params.stylize` is
    /// `params.stylize.settings.size`.
    pub fn within(mut self, prefix: &str) -> Self {
        self.field = format!("{prefix}.{}", self.field);
        self
    }
}

/// The result of a check.
pub type Check = Result<(), InvalidSpec>;

/// A name that is not one of a [`names`](crate::names) enum's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what} {given:?}; use one of: {}", .expected.join(", "))]
pub struct UnknownName {
    /// What was being named ("optimizer", "job kind", …).
    pub what: &'static str,
    /// The name given (shortened when huge).
    pub given: String,
    /// Every accepted name.
    pub expected: &'static [&'static str],
}

impl UnknownName {
    /// The same refusal as an [`InvalidSpec`] of `field`.
    pub fn at(self, field: impl Into<String>) -> InvalidSpec {
        InvalidSpec::new(
            field,
            format!("unknown {} {:?}", self.what, truncate(&self.given)),
            format!("use one of: {}", self.expected.join(", ")),
        )
    }
}

/// Keeps error messages short when a client sends a huge string: the first
/// 80 characters, quoted, then `…`.
pub fn truncate(s: &str) -> Truncated<'_> {
    Truncated(s)
}

/// See [`truncate`].
pub struct Truncated<'a>(&'a str);

impl fmt::Debug for Truncated<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const MAX: usize = 80;
        match self.0.char_indices().nth(MAX) {
            None => write!(f, "{:?}", self.0),
            Some((at, _)) => write!(f, "{:?}…", &self.0[..at]),
        }
    }
}
