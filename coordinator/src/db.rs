//! The database handle: opening SQLite the way a busy coordinator needs it,
//! running the migrations, and the single writer.
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
//! Every statement is a round trip to the connection's thread, and the
//! writer is the farm's bottleneck, so the hot paths send `BEGIN IMMEDIATE`
//! and `COMMIT` together with their statements ([`Db::write_manual`]) instead
//! of as round trips of their own. Transactions are therefore managed here
//! with plain statements; one left open (an error halfway, a caller that went
//! away) is rolled back before the writer's next use.

use std::ops::{Deref, DerefMut};
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sqlx::pool::PoolConnection;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{ConnectOptions, Sqlite, SqliteConnection, SqlitePool};
use tokio::sync::{Mutex, MutexGuard, oneshot};

use crate::error::Result;

/// Reader connections for a database file.
const READERS: u32 = 8;

/// How often the WAL is copied back into the database file.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(500);

#[derive(Debug)]
pub(crate) struct Db {
    /// `None` for an in-memory database: reads go through the writer.
    readers: Option<SqlitePool>,
    writer: Mutex<SqliteConnection>,
    /// A transaction was left open on the writer: roll it back first.
    rollback_pending: AtomicBool,
    /// Dropping it stops the checkpointer.
    _checkpointer: Option<oneshot::Sender<()>>,
}

/// A connection to read with.
pub(crate) enum ReadConn<'a> {
    Pooled(PoolConnection<Sqlite>),
    Shared(MutexGuard<'a, SqliteConnection>),
}

/// The write transaction, holding the writer until commit or drop (which
/// rolls back).
pub(crate) struct WriteTx<'a> {
    db: &'a Db,
    conn: MutexGuard<'a, SqliteConnection>,
    /// A transaction may be open on the connection.
    open: bool,
}

/// The writer after a commit: keep it while publishing the transaction's
/// events so that watchers see changes in commit order, then drop it.
pub(crate) struct Committed<'a> {
    _writer: WriteTx<'a>,
}

impl Db {
    /// Opens (creating if missing) the database at `url` and brings its
    /// schema up to date.
    ///
    /// Errors: a URL of another database (`postgres://…`) is refused as such
    /// rather than read as the name of a SQLite file.
    pub(crate) async fn open(url: &str) -> Result<Db> {
        check_url(url)?;
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // WAL + NORMAL: a commit survives a process crash; only an OS
            // crash can lose the last transactions. Fine for a queue whose
            // workers retry.
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true)
            .statement_cache_capacity(256)
            // Checkpoints (copying the WAL into the database file, with an
            // fsync) would otherwise run inside whichever commit crosses
            // 1000 pages, stalling the writer: a background task does them.
            .pragma("wal_autocheckpoint", "0")
            .pragma("journal_size_limit", (64 << 20).to_string())
            // Statement journals (multi-statement transactions) stay in memory.
            .pragma("temp_store", "memory");
        let mut writer = options.connect().await?;
        sqlx::migrate!("./migrations").run(&mut writer).await?;
        let in_memory = url.contains(":memory:") || url.contains("mode=memory");
        let (readers, checkpointer) = if in_memory {
            (None, None)
        } else {
            // No ping before each use: the connections are local files.
            let pool = SqlitePoolOptions::new()
                .max_connections(READERS)
                .test_before_acquire(false)
                .connect_with(options)
                .await?;
            let (stop, stopped) = oneshot::channel();
            tokio::spawn(checkpoint_forever(pool.clone(), stopped));
            (Some(pool), Some(stop))
        };
        Ok(Db {
            readers,
            writer: Mutex::new(writer),
            rollback_pending: AtomicBool::new(false),
            _checkpointer: checkpointer,
        })
    }

    /// A connection for reads.
    pub(crate) async fn read(&self) -> Result<ReadConn<'_>> {
        Ok(match &self.readers {
            Some(pool) => ReadConn::Pooled(pool.acquire().await?),
            None => ReadConn::Shared(self.writer().await?),
        })
    }

    /// Starts the (only) write transaction.
    pub(crate) async fn write(&self) -> Result<WriteTx<'_>> {
        let mut tx = self.write_manual().await?;
        sqlx::query("BEGIN IMMEDIATE").execute(tx.conn()).await?;
        Ok(tx)
    }

    /// The writer, for statement lists that begin the transaction themselves
    /// (`BEGIN IMMEDIATE; …`) and may commit it themselves (`…; COMMIT`,
    /// then [`WriteTx::ended`]); until then it counts as open.
    pub(crate) async fn write_manual(&self) -> Result<WriteTx<'_>> {
        Ok(WriteTx {
            db: self,
            conn: self.writer().await?,
            open: true,
        })
    }

    async fn writer(&self) -> Result<MutexGuard<'_, SqliteConnection>> {
        let mut conn = self.writer.lock().await;
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
    pub(crate) fn conn(&mut self) -> &mut SqliteConnection {
        &mut self.conn
    }

    /// Commits; see [`Committed`].
    pub(crate) async fn commit(mut self) -> Result<Committed<'a>> {
        sqlx::query("COMMIT").execute(&mut *self.conn).await?;
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
            // Done by the next holder before anything else (Drop cannot wait).
            self.db.rollback_pending.store(true, Ordering::Release);
        }
    }
}

impl Deref for ReadConn<'_> {
    type Target = SqliteConnection;

    fn deref(&self) -> &SqliteConnection {
        match self {
            ReadConn::Pooled(c) => c,
            ReadConn::Shared(c) => c,
        }
    }
}

impl DerefMut for ReadConn<'_> {
    fn deref_mut(&mut self) -> &mut SqliteConnection {
        match self {
            ReadConn::Pooled(c) => c,
            ReadConn::Shared(c) => c,
        }
    }
}

/// Checkpoints the WAL from a reader connection until `stop` fires or is
/// dropped. PASSIVE: it copies what it can without blocking the writer.
async fn checkpoint_forever(pool: SqlitePool, mut stop: oneshot::Receiver<()>) {
    loop {
        tokio::select! {
            _ = &mut stop => return,
            () = tokio::time::sleep(CHECKPOINT_EVERY) => {}
        }
        if let Err(e) = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
            .execute(&pool)
            .await
        {
            tracing::warn!(error = %e, "WAL checkpoint failed; retrying");
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

/// Only SQLite is built: another scheme is a mistake to name, not a file.
fn check_url(url: &str) -> Result<()> {
    match url.split_once(':') {
        Some((scheme, _)) if scheme != "sqlite" && url.contains("://") => {
            Err(crate::error::CoordinatorError::InvalidArgument {
                field: "db",
                problem: format!(
                    "{scheme}:// databases are not supported by this coordinator, which stores its state in SQLite \
                     (sqlite://PATH, the default under --data-dir); PostgreSQL is planned (docs/deploy.md)"
                ),
            })
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod url_tests {
    use super::check_url;

    #[test]
    fn other_databases_are_named_not_read_as_file_names() {
        for url in [
            "postgres://farm@db/farm",
            "postgresql://db/farm",
            "mysql://db/farm",
        ] {
            let e = check_url(url).unwrap_err().to_string();
            assert!(
                e.starts_with("db: ") && e.contains("not supported") && e.contains("sqlite://PATH"),
                "{e}"
            );
        }
        for url in [
            "sqlite://farm.db",
            "sqlite::memory:",
            "sqlite:farm.db",
            "farm.db",
        ] {
            check_url(url).unwrap();
        }
    }
}
