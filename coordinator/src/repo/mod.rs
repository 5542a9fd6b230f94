//! The repository: every SQL statement of the coordinator, one module per
//! table family, each statement a named constant. Functions take any
//! executor (the pool for reads, a write transaction's connection for
//! writes) and return plain row structs; the domain modules turn rows into
//! views and decide what the state changes mean.
//!
//! The SQL is written once for SQLite and PostgreSQL (`$n` binds,
//! `RETURNING`, `ON CONFLICT … DO UPDATE`, `EXISTS` subqueries) and run
//! through `db::query`, which hides what differs; the claim alone has a
//! PostgreSQL form of its own (`FOR UPDATE SKIP LOCKED`).

pub(crate) mod jobs;
pub(crate) mod schedules;
pub(crate) mod stats;
pub(crate) mod tasks;
pub(crate) mod tokens;
pub(crate) mod workers;

/// Encodes a list of keys for a JSON `TEXT` column.
pub(crate) fn encode_keys(keys: &[String]) -> String {
    serde_json::to_string(keys).unwrap_or_else(|_| "[]".to_owned())
}

/// Decodes a JSON `TEXT` column of keys.
pub(crate) fn decode_keys(text: &str) -> crate::Result<Vec<String>> {
    serde_json::from_str(text)
        .map_err(|e| crate::CoordinatorError::Corrupt(format!("output key list {text:?}: {e}")))
}
