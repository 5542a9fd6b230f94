//! Opening PostgreSQL: a pool shared by reads and writes, and the
//! migrations of `migrations/postgres`.

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions, Connection};
use tokio::sync::Mutex;

use super::Backend;
use super::query::WRITE_LOCK_KEY;
use crate::error::{CoordinatorError, Result};

/// Connections per coordinator: reads, the writer, claims and LISTEN.
const CONNECTIONS: u32 = 16;

/// How long the first connection may take before the server counts as
/// unreachable (the caller retries).
const FIRST_CONNECT: Duration = Duration::from_secs(10);

/// Connects to the (existing) database at `url` and migrates it.
pub(super) async fn open(url: &str) -> Result<Backend> {
    let options = PgConnectOptions::from_str(url)?
        .application_name("stylefarm-coordinator")
        .statement_cache_capacity(256);
    // One connection first, with a short timeout: an unreachable server is
    // reported at once and with its cause (the pool would only say, after
    // its acquire timeout, that it timed out).
    match tokio::time::timeout(FIRST_CONNECT, options.connect()).await {
        Ok(Ok(first)) => first.close().await?,
        Ok(Err(e)) if is_tls(&e) => return Err(CoordinatorError::DatabaseTls(e)),
        Ok(Err(e)) => return Err(e.into()),
        Err(_) => return Err(sqlx::Error::PoolTimedOut.into()),
    }
    let pool = PgPoolOptions::new()
        .max_connections(CONNECTIONS)
        .acquire_timeout(Duration::from_secs(30))
        .connect_with(options)
        .await?;
    let mut conn = pool.acquire().await?;
    // The farm's write lock, held by the session around the migrations
    // (each runs in a transaction of its own): running coordinators do not
    // write mid-migration, and coordinators starting together migrate one
    // after the other.
    sqlx::query(&format!("SELECT pg_advisory_lock({WRITE_LOCK_KEY})"))
        .execute(&mut *conn)
        .await?;
    let migrated = sqlx::migrate!("./migrations/postgres")
        .run(&mut *conn)
        .await;
    sqlx::query(&format!("SELECT pg_advisory_unlock({WRITE_LOCK_KEY})"))
        .execute(&mut *conn)
        .await?;
    migrated?;
    Ok(Backend::Postgres {
        pool,
        writer: Mutex::new(()),
    })
}

/// Whether `e` is a failed TLS set-up: sqlx's own TLS error, or rustls's
/// (a certificate it does not trust) as the cause of an I/O error.
fn is_tls(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Tls(_) => true,
        sqlx::Error::Io(io) => io
            .get_ref()
            .is_some_and(|cause| cause.downcast_ref::<rustls::Error>().is_some()),
        _ => false,
    }
}
