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

use std::ops::{Deref, DerefMut};
use std::str::FromStr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sqlx::pool::PoolConnection;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous,
    SqliteTransactionManager,
};
use sqlx::{ConnectOptions, Sqlite, SqliteConnection, SqlitePool, TransactionManager};
use tokio::sync::{Mutex, MutexGuard};

use crate::error::Result;

/// Reader connections for a database file.
const READERS: u32 = 8;

#[derive(Debug)]
pub(crate) struct Db {
    /// `None` for an in-memory database: reads go through the writer.
    readers: Option<SqlitePool>,
    writer: Mutex<SqliteConnection>,
}

/// A connection to read with.
pub(crate) enum ReadConn<'a> {
    Pooled(PoolConnection<Sqlite>),
    Shared(MutexGuard<'a, SqliteConnection>),
}

/// The write transaction, holding the writer until commit or drop (which
/// rolls back).
pub(crate) struct WriteTx<'a> {
    conn: MutexGuard<'a, SqliteConnection>,
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
    pub(crate) async fn open(url: &str) -> Result<Db> {
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // WAL + NORMAL: a commit survives a process crash; only an OS
            // crash can lose the last transactions. Fine for a queue whose
            // workers retry.
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true)
            .statement_cache_capacity(256);
        let mut writer = options.connect().await?;
        sqlx::migrate!("./migrations").run(&mut writer).await?;
        let in_memory = url.contains(":memory:") || url.contains("mode=memory");
        let readers = if in_memory {
            None
        } else {
            // No ping before each use: the connections are local files.
            let pool = SqlitePoolOptions::new()
                .max_connections(READERS)
                .test_before_acquire(false)
                .connect_with(options)
                .await?;
            Some(pool)
        };
        Ok(Db {
            readers,
            writer: Mutex::new(writer),
        })
    }

    /// A connection for reads.
    pub(crate) async fn read(&self) -> Result<ReadConn<'_>> {
        Ok(match &self.readers {
            Some(pool) => ReadConn::Pooled(pool.acquire().await?),
            None => ReadConn::Shared(self.writer.lock().await),
        })
    }

    /// Starts the (only) write transaction.
    pub(crate) async fn write(&self) -> Result<WriteTx<'_>> {
        let mut conn = self.writer.lock().await;
        SqliteTransactionManager::begin(&mut conn, Some("BEGIN IMMEDIATE".into())).await?;
        Ok(WriteTx { conn, open: true })
    }
}

impl<'a> WriteTx<'a> {
    /// The connection to run statements on.
    pub(crate) fn conn(&mut self) -> &mut SqliteConnection {
        &mut self.conn
    }

    /// Commits; see [`Committed`].
    pub(crate) async fn commit(mut self) -> Result<Committed<'a>> {
        SqliteTransactionManager::commit(&mut self.conn).await?;
        self.open = false;
        Ok(Committed { _writer: self })
    }
}

impl Drop for WriteTx<'_> {
    fn drop(&mut self) {
        if self.open {
            // Queued on the connection ahead of anything the next holder
            // sends, so nobody sees this transaction's writes.
            SqliteTransactionManager::start_rollback(&mut self.conn);
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
