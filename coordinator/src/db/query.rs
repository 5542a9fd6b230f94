//! One statement API over both databases: a [`Conn`] is a SQLite or a
//! PostgreSQL connection, and a [`Query`] is SQL text with its binds, run on
//! whichever it is given.
//!
//! The repository's SQL is written once, in the dialect both accept (`$n`
//! binds, `RETURNING`, `ON CONFLICT`, partial indexes). What differs is
//! handled here rather than in every statement:
//! - A statement list (`BEGIN IMMEDIATE; UPDATE …; UPDATE …; COMMIT`) is one
//!   round trip to SQLite; PostgreSQL cannot prepare several statements with
//!   binds, so there each statement is sent in turn with the same binds
//!   (PostgreSQL allows a declared parameter a statement does not use).
//! - `BEGIN IMMEDIATE` (SQLite: take the write lock now) becomes `BEGIN` and
//!   the farm's transaction-scoped advisory lock, which serialises writers
//!   across coordinators the way SQLite's lock does across connections
//!   (docs/deploy.md). Claims do not take it: they lock their row with
//!   `FOR UPDATE SKIP LOCKED` (repo/tasks.rs).
//!
//! sqlx's own `Any` driver was not used: it cannot read SQLite booleans,
//! and it converts every row twice on the lease hot path.

use sqlx::postgres::{PgArguments, PgRow};
use sqlx::sqlite::{SqliteArguments, SqliteRow};
use sqlx::{Arguments, Decode, FromRow, PgConnection, Postgres, Sqlite, SqliteConnection, Type};

use crate::error::Result;

/// The key of the transaction-scoped advisory lock every PostgreSQL write
/// transaction but a claim takes: "stylefarm" in ASCII, folded to 63 bits.
pub(crate) const WRITE_LOCK_KEY: i64 = 0x7374_796c_6566_6172;

/// A borrowed connection to either database.
pub(crate) enum Conn<'c> {
    Sqlite(&'c mut SqliteConnection),
    Postgres(&'c mut PgConnection),
}

impl Conn<'_> {
    /// The same connection, borrowed again (for a second statement).
    pub(crate) fn re(&mut self) -> Conn<'_> {
        match self {
            Conn::Sqlite(c) => Conn::Sqlite(c),
            Conn::Postgres(c) => Conn::Postgres(c),
        }
    }

    pub(crate) fn is_postgres(&self) -> bool {
        matches!(self, Conn::Postgres(_))
    }
}

/// A bound value: the types the repository stores.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Arg<'q> {
    I64(i64),
    I32(i32),
    Bool(bool),
    Text(&'q str),
    Bytes(&'q [u8]),
    NullText,
}

impl From<i64> for Arg<'_> {
    fn from(v: i64) -> Self {
        Arg::I64(v)
    }
}
impl From<i32> for Arg<'_> {
    fn from(v: i32) -> Self {
        Arg::I32(v)
    }
}
impl From<bool> for Arg<'_> {
    fn from(v: bool) -> Self {
        Arg::Bool(v)
    }
}
impl<'q> From<&'q str> for Arg<'q> {
    fn from(v: &'q str) -> Self {
        Arg::Text(v)
    }
}
impl<'q> From<&'q String> for Arg<'q> {
    fn from(v: &'q String) -> Self {
        Arg::Text(v)
    }
}
impl<'q> From<&'q [u8]> for Arg<'q> {
    fn from(v: &'q [u8]) -> Self {
        Arg::Bytes(v)
    }
}
impl<'q> From<&'q Vec<u8>> for Arg<'q> {
    fn from(v: &'q Vec<u8>) -> Self {
        Arg::Bytes(v)
    }
}
impl<'q> From<Option<&'q str>> for Arg<'q> {
    fn from(v: Option<&'q str>) -> Self {
        v.map_or(Arg::NullText, Arg::Text)
    }
}

/// SQL text (or a `;`-separated statement list) and its binds.
#[derive(Debug, Clone)]
pub(crate) struct Query<'q> {
    sql: &'q str,
    args: Vec<Arg<'q>>,
}

/// Starts a statement.
pub(crate) fn query(sql: &str) -> Query<'_> {
    Query {
        sql,
        args: Vec::new(),
    }
}

/// Rows both databases can decode into `R` (`#[derive(FromRow)]` gives both).
pub(crate) trait Row:
    for<'r> FromRow<'r, SqliteRow> + for<'r> FromRow<'r, PgRow> + Send + Unpin
{
}
impl<R> Row for R where R: for<'r> FromRow<'r, SqliteRow> + for<'r> FromRow<'r, PgRow> + Send + Unpin
{}

/// Single values both databases can decode.
pub(crate) trait Scalar:
    for<'r> Decode<'r, Sqlite>
    + Type<Sqlite>
    + for<'r> Decode<'r, Postgres>
    + Type<Postgres>
    + Send
    + Unpin
{
}
impl<T> Scalar for T where
    T: for<'r> Decode<'r, Sqlite>
        + Type<Sqlite>
        + for<'r> Decode<'r, Postgres>
        + Type<Postgres>
        + Send
        + Unpin
{
}

impl<'q> Query<'q> {
    pub(crate) fn bind(mut self, value: impl Into<Arg<'q>>) -> Self {
        self.args.push(value.into());
        self
    }

    /// Runs it; returns the rows changed (by the last statement of a list).
    pub(crate) async fn execute(self, conn: Conn<'_>) -> Result<u64> {
        match conn {
            Conn::Sqlite(c) => Ok(sqlx::query_with(self.sql, self.sqlite_args()?)
                .execute(c)
                .await?
                .rows_affected()),
            Conn::Postgres(c) => {
                let mut changed = 0;
                for sql in postgres_statements(self.sql) {
                    changed = sqlx::query_with(sql, self.postgres_args(sql)?)
                        .execute(&mut *c)
                        .await?
                        .rows_affected();
                }
                Ok(changed)
            }
        }
    }

    /// Every row every statement of it returns.
    pub(crate) async fn fetch_all<R: Row>(self, conn: Conn<'_>) -> Result<Vec<R>> {
        match conn {
            Conn::Sqlite(c) => Ok(sqlx::query_as_with(self.sql, self.sqlite_args()?)
                .fetch_all(c)
                .await?),
            Conn::Postgres(c) => {
                let mut rows = Vec::new();
                for sql in postgres_statements(self.sql) {
                    let args = self.postgres_args(sql)?;
                    if is_control(sql) {
                        // Its row (the lock's void) is not the caller's.
                        sqlx::query_with(sql, args).execute(&mut *c).await?;
                    } else {
                        rows.extend(sqlx::query_as_with(sql, args).fetch_all(&mut *c).await?);
                    }
                }
                Ok(rows)
            }
        }
    }

    /// The first row, if any (of a single statement).
    pub(crate) async fn fetch_optional<R: Row>(self, conn: Conn<'_>) -> Result<Option<R>> {
        match conn {
            Conn::Sqlite(c) => Ok(sqlx::query_as_with(self.sql, self.sqlite_args()?)
                .fetch_optional(c)
                .await?),
            Conn::Postgres(c) => Ok(sqlx::query_as_with(self.sql, self.postgres_args(self.sql)?)
                .fetch_optional(c)
                .await?),
        }
    }

    /// The first column of every row (of a single statement).
    pub(crate) async fn scalars<T: Scalar>(self, conn: Conn<'_>) -> Result<Vec<T>> {
        match conn {
            Conn::Sqlite(c) => Ok(sqlx::query_scalar_with(self.sql, self.sqlite_args()?)
                .fetch_all(c)
                .await?),
            Conn::Postgres(c) => Ok(sqlx::query_scalar_with(
                self.sql,
                self.postgres_args(self.sql)?,
            )
            .fetch_all(c)
            .await?),
        }
    }

    /// The first column of the first row, if any.
    pub(crate) async fn scalar_optional<T: Scalar>(self, conn: Conn<'_>) -> Result<Option<T>> {
        match conn {
            Conn::Sqlite(c) => Ok(sqlx::query_scalar_with(self.sql, self.sqlite_args()?)
                .fetch_optional(c)
                .await?),
            Conn::Postgres(c) => Ok(sqlx::query_scalar_with(
                self.sql,
                self.postgres_args(self.sql)?,
            )
            .fetch_optional(c)
            .await?),
        }
    }

    /// The first column of the one row; none is an error.
    pub(crate) async fn scalar<T: Scalar>(self, conn: Conn<'_>) -> Result<T> {
        match conn {
            Conn::Sqlite(c) => Ok(sqlx::query_scalar_with(self.sql, self.sqlite_args()?)
                .fetch_one(c)
                .await?),
            Conn::Postgres(c) => Ok(sqlx::query_scalar_with(
                self.sql,
                self.postgres_args(self.sql)?,
            )
            .fetch_one(c)
            .await?),
        }
    }

    fn sqlite_args(&self) -> Result<SqliteArguments<'q>> {
        let mut out = SqliteArguments::default();
        for arg in &self.args {
            match *arg {
                Arg::I64(v) => out.add(v),
                Arg::I32(v) => out.add(v),
                Arg::Bool(v) => out.add(v),
                Arg::Text(v) => out.add(v),
                Arg::Bytes(v) => out.add(v),
                Arg::NullText => out.add(None::<&str>),
            }
            .map_err(sqlx::Error::Encode)?;
        }
        Ok(out)
    }

    /// The binds up to the highest `$n` that `sql` names: PostgreSQL
    /// refuses more binds than the statement declares.
    fn postgres_args(&self, sql: &str) -> Result<PgArguments> {
        let mut out = PgArguments::default();
        let used = highest_bind(sql).min(self.args.len());
        for arg in &self.args[..used] {
            match *arg {
                Arg::I64(v) => out.add(v),
                Arg::I32(v) => out.add(v),
                Arg::Bool(v) => out.add(v),
                Arg::Text(v) => out.add(v),
                Arg::Bytes(v) => out.add(v),
                Arg::NullText => out.add(None::<&str>),
            }
            .map_err(sqlx::Error::Encode)?;
        }
        Ok(out)
    }
}

/// The statements of a list as PostgreSQL runs them: `BEGIN IMMEDIATE`
/// becomes `BEGIN` and the write lock. (The repository's SQL holds no `;`
/// inside a string literal.)
fn postgres_statements(sql: &str) -> impl Iterator<Item = &str> {
    sql.split(';')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .flat_map(|s| {
            if s.eq_ignore_ascii_case("BEGIN IMMEDIATE") {
                vec!["BEGIN", WRITE_LOCK_SQL]
            } else {
                vec![s]
            }
        })
}

/// Whether a statement of a list only manages the transaction.
fn is_control(sql: &str) -> bool {
    sql == WRITE_LOCK_SQL || sql.eq_ignore_ascii_case("BEGIN") || sql.eq_ignore_ascii_case("COMMIT")
}

/// Takes the farm's write lock until the transaction ends.
pub(crate) const WRITE_LOCK_SQL: &str = "SELECT pg_advisory_xact_lock(8319407918124786034)";

/// The highest `$n` in `sql` (0 without binds).
fn highest_bind(sql: &str) -> usize {
    let bytes = sql.as_bytes();
    let mut highest = 0;
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'$' {
            let digits = bytes[i + 1..]
                .iter()
                .take_while(|b| b.is_ascii_digit())
                .count();
            if let Ok(n) = sql[i + 1..i + 1 + digits].parse::<usize>() {
                highest = highest.max(n);
            }
            i += digits;
        }
        i += 1;
    }
    highest
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_write_lock_statement_names_the_key() {
        assert!(WRITE_LOCK_SQL.contains(&WRITE_LOCK_KEY.to_string()));
    }

    #[test]
    fn statement_lists_split_for_postgres() {
        let sql = "BEGIN IMMEDIATE; UPDATE t SET a = $1 WHERE b = $3; SELECT $2; COMMIT";
        let got: Vec<_> = postgres_statements(sql).collect();
        assert_eq!(
            got,
            [
                "BEGIN",
                WRITE_LOCK_SQL,
                "UPDATE t SET a = $1 WHERE b = $3",
                "SELECT $2",
                "COMMIT"
            ]
        );
        assert_eq!(highest_bind(got[2]), 3);
        assert_eq!(highest_bind(got[3]), 2);
        assert_eq!(highest_bind("SELECT 1"), 0);
        assert_eq!(highest_bind("x = $12 AND y = $3"), 12);
    }
}
