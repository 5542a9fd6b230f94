//! The database handle: SQLite (one file, the embedded default) or
//! PostgreSQL (a server several coordinators share), the migrations, and the
//! writer.
//!
//! SQLite allows one writer at a time. Rather than letting pool connections
//! race for the write lock (SQLite's busy handler sleeps, which shows up as
//! tail latency, and a deferred transaction that upgrades can fail outright),
//! all writes go through one dedicated connection behind an async mutex, in
//! `BEGIN IMMEDIATE` transactions. Readers use a pool: WAL mode lets them
//! read a consistent snapshot while a write is in flight. An in-memory
//! database exists only inside its one connection, so there the readers
//! share the writer's.
//!
//! PostgreSQL keeps the same model, so that the domain code is written once
//! for a single writer: a write transaction is a pool connection, taken
//! under an in-process mutex (events are published in commit order) and
//! holding a transaction-scoped advisory lock, which serialises writers of
//! every coordinator on the database (`BEGIN IMMEDIATE` becomes `BEGIN` and
//! that lock, see [`query`]). Only the claim, the hot path, does without
//! the lock: it locks its one row with `FOR UPDATE SKIP LOCKED`, so
//! coordinators claim side by side.
//!
//! Every statement is a round trip to the connection's thread, and the
//! writer is the farm's bottleneck, so the hot paths send `BEGIN IMMEDIATE`
//! and `COMMIT` together with their statements ([`Db::write_manual`]) instead
//! of as round trips of their own. Transactions are therefore managed here
//! with plain statements; one left open (an error halfway, a caller that went
//! away) is rolled back before the writer's next use (SQLite) or its
//! connection closed (PostgreSQL).

mod postgres;
pub(crate) mod query;
mod sqlite;

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sqlx::pool::PoolConnection;
use sqlx::{PgPool, Postgres, Sqlite, SqliteConnection, SqlitePool};
use tokio::sync::{Mutex, MutexGuard, oneshot};

pub(crate) use query::{Conn, query};

use crate::error::{CoordinatorError, Result};

#[derive(Debug)]
pub(crate) struct Db {
    backend: Backend,
    /// A transaction was left open on the SQLite writer: roll it back first.
    rollback_pending: AtomicBool,
}

#[derive(Debug)]
enum Backend {
    Sqlite {
        /// `None` for an in-memory database: reads go through the writer.
        readers: Option<SqlitePool>,
        writer: Mutex<SqliteConnection>,
        /// Dropping it stops the checkpointer.
        _checkpointer: Option<oneshot::Sender<()>>,
    },
    Postgres {
        pool: PgPool,
        /// This coordinator's writers, one at a time (see the module doc).
        writer: Mutex<()>,
    },
}

/// A connection to read with.
pub(crate) enum ReadConn<'a> {
    Pooled(PoolConnection<Sqlite>),
    Shared(MutexGuard<'a, SqliteConnection>),
    Postgres(PoolConnection<Postgres>),
}

/// The write transaction, holding the writer until commit or drop (which
/// rolls back).
pub(crate) struct WriteTx<'a> {
    db: &'a Db,
    conn: Writer<'a>,
    /// A transaction may be open on the connection.
    open: bool,
}

enum Writer<'a> {
    Sqlite(MutexGuard<'a, SqliteConnection>),
    Postgres {
        /// None for a claim, which needs no turn (see [`Db::claim_writer`]).
        _turn: Option<MutexGuard<'a, ()>>,
        conn: PoolConnection<Postgres>,
    },
}

/// The writer after a commit: keep it while publishing the transaction's
/// events so that watchers see changes in commit order, then drop it.
pub(crate) struct Committed<'a> {
    _writer: WriteTx<'a>,
}

/// Which database a `--db` URL names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Sqlite,
    Postgres,
}

impl Db {
    /// Opens the database at `url` (`sqlite://PATH`, created if missing,
    /// or `postgres://…`, which must exist) and brings its schema up to
    /// date.
    ///
    /// Errors: a URL of another database (`mysql://…`) is refused as such
    /// rather than read as the name of a SQLite file.
    pub(crate) async fn open(url: &str) -> Result<Db> {
        let backend = match kind(url)? {
            Kind::Sqlite => sqlite::open(url).await?,
            Kind::Postgres => postgres::open(url).await?,
        };
        Ok(Db {
            backend,
            rollback_pending: AtomicBool::new(false),
        })
    }

    /// The PostgreSQL pool (for LISTEN), if this is PostgreSQL.
    pub(crate) fn postgres_pool(&self) -> Option<&PgPool> {
        match &self.backend {
            Backend::Postgres { pool, .. } => Some(pool),
            Backend::Sqlite { .. } => None,
        }
    }

    /// A connection for reads.
    pub(crate) async fn read(&self) -> Result<ReadConn<'_>> {
        Ok(match &self.backend {
            Backend::Sqlite {
                readers: Some(pool),
                ..
            } => ReadConn::Pooled(pool.acquire().await?),
            Backend::Sqlite { readers: None, .. } => ReadConn::Shared(self.sqlite_writer().await?),
            Backend::Postgres { pool, .. } => ReadConn::Postgres(pool.acquire().await?),
        })
    }

    /// Starts the (only) write transaction.
    pub(crate) async fn write(&self) -> Result<WriteTx<'_>> {
        let mut tx = self.write_manual().await?;
        query("BEGIN IMMEDIATE").execute(tx.conn()).await?;
        Ok(tx)
    }

    /// The writer, for statement lists that begin the transaction themselves
    /// (`BEGIN IMMEDIATE; …`) and may commit it themselves (`…; COMMIT`,
    /// then [`WriteTx::ended`]); until then it counts as open.
    pub(crate) async fn write_manual(&self) -> Result<WriteTx<'_>> {
        let conn = match &self.backend {
            Backend::Sqlite { .. } => Writer::Sqlite(self.sqlite_writer().await?),
            Backend::Postgres { pool, writer } => {
                let turn = writer.lock().await;
                Writer::Postgres {
                    conn: pool.acquire().await?,
                    _turn: Some(turn),
                }
            }
        };
        Ok(WriteTx {
            db: self,
            conn,
            open: true,
        })
    }

    /// The writer for a claim that is one statement and publishes nothing:
    /// on PostgreSQL a pool connection of its own, so that claims do not
    /// wait for this coordinator's other writes (the row lock of `FOR
    /// UPDATE SKIP LOCKED` keeps them apart); on SQLite the one writer.
    pub(crate) async fn claim_writer(&self) -> Result<WriteTx<'_>> {
        match &self.backend {
            Backend::Postgres { pool, .. } => Ok(WriteTx {
                db: self,
                conn: Writer::Postgres {
                    conn: pool.acquire().await?,
                    _turn: None,
                },
                open: true,
            }),
            Backend::Sqlite { .. } => self.write_manual().await,
        }
    }

    async fn sqlite_writer(&self) -> Result<MutexGuard<'_, SqliteConnection>> {
        let Backend::Sqlite { writer, .. } = &self.backend else {
            unreachable!("the SQLite writer of a PostgreSQL database");
        };
        let mut conn = writer.lock().await;
        if self.rollback_pending.swap(false, Ordering::AcqRel) {
            // Fails harmlessly ("no transaction is active") when the
            // transaction did end after all.
            let _ = sqlx::query("ROLLBACK").execute(&mut *conn).await;
        }
        Ok(conn)
    }
}

impl<'a> WriteTx<'a> {
    /// The connection to run statements on.
    pub(crate) fn conn(&mut self) -> Conn<'_> {
        match &mut self.conn {
            Writer::Sqlite(c) => Conn::Sqlite(c),
            Writer::Postgres { conn, .. } => Conn::Postgres(conn),
        }
    }

    /// Commits; see [`Committed`].
    pub(crate) async fn commit(mut self) -> Result<Committed<'a>> {
        query("COMMIT").execute(self.conn()).await?;
        Ok(self.ended())
    }

    /// The transaction was committed by the last statement list run.
    pub(crate) fn ended(mut self) -> Committed<'a> {
        self.open = false;
        Committed { _writer: self }
    }
}

impl Drop for WriteTx<'_> {
    fn drop(&mut self) {
        if self.open {
            match &mut self.conn {
                // Done by the next holder before anything else (Drop cannot
                // wait).
                Writer::Sqlite(_) => self.db.rollback_pending.store(true, Ordering::Release),
                // Closing the connection ends the transaction on the server;
                // the pool opens a fresh one when needed.
                Writer::Postgres { conn, .. } => conn.close_on_drop(),
            }
        }
    }
}

impl ReadConn<'_> {
    /// The connection to run statements on.
    pub(crate) fn conn(&mut self) -> Conn<'_> {
        match self {
            ReadConn::Pooled(c) => Conn::Sqlite(c),
            ReadConn::Shared(c) => Conn::Sqlite(c),
            ReadConn::Postgres(c) => Conn::Postgres(c),
        }
    }
}

/// Now, in unix milliseconds (the unit of every timestamp in the database).
pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// A duration in milliseconds, as the database adds it to timestamps.
pub(crate) fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// The database a URL names: `postgres://` or `postgresql://` is
/// PostgreSQL, `sqlite:` or a plain path is SQLite, any other scheme is a
/// mistake to name, not a file.
pub(crate) fn kind(url: &str) -> Result<Kind> {
    match url.split_once(':') {
        Some(("postgres" | "postgresql", _)) => Ok(Kind::Postgres),
        Some((scheme, _)) if scheme != "sqlite" && url.contains("://") => {
            Err(CoordinatorError::InvalidArgument {
                field: "db",
                problem: format!(
                    "{scheme}:// databases are not supported; the coordinator stores its state in SQLite \
                     (sqlite://PATH, the default under --data-dir) or PostgreSQL (postgres://USER@HOST/DB, \
                     docs/deploy.md)"
                ),
            })
        }
        _ => Ok(Kind::Sqlite),
    }
}

#[cfg(test)]
mod url_tests {
    use super::{Kind, kind};

    #[test]
    fn urls_name_their_database_and_others_are_refused() {
        for url in ["mysql://db/farm", "mssql://db/farm"] {
            let e = kind(url).unwrap_err().to_string();
            assert!(
                e.starts_with("db: ") && e.contains("not supported") && e.contains("sqlite://PATH"),
                "{e}"
            );
        }
        for url in ["postgres://farm@db/farm", "postgresql://db/farm"] {
            assert_eq!(kind(url).unwrap(), Kind::Postgres);
        }
        for url in [
            "sqlite://farm.db",
            "sqlite::memory:",
            "sqlite:farm.db",
            "farm.db",
        ] {
            assert_eq!(kind(url).unwrap(), Kind::Sqlite);
        }
    }
}
