//! Opening SQLite the way a busy coordinator needs it.

use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{ConnectOptions, SqlitePool};
use tokio::sync::{Mutex, oneshot};

use super::Backend;
use crate::error::Result;

/// Reader connections for a database file.
const READERS: u32 = 8;

/// How often the WAL is copied back into the database file.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(500);

/// Opens (creating if missing) the database at `url` and runs the
/// migrations of `migrations/sqlite`.
pub(super) async fn open(url: &str) -> Result<Backend> {
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
    sqlx::migrate!("./migrations/sqlite")
        .run(&mut writer)
        .await?;
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
    Ok(Backend::Sqlite {
        readers,
        writer: Mutex::new(writer),
        _checkpointer: checkpointer,
    })
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
