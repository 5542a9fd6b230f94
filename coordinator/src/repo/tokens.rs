//! The `tokens` table.

use sqlx::FromRow;

use crate::db::{Conn, query};

use crate::error::Result;

/// A row of `tokens`.
#[derive(Debug, Clone, FromRow)]
pub(crate) struct TokenRow {
    pub(crate) token_id: String,
    pub(crate) name: String,
    pub(crate) role: String,
    pub(crate) created_ms: i64,
    pub(crate) expires_ms: i64,
    pub(crate) revoked_ms: i64,
}

macro_rules! token_columns {
    () => {
        "token_id, name, role, created_ms, expires_ms, revoked_ms"
    };
}

const INSERT: &str = "INSERT INTO tokens (token_hash, token_id, name, role, created_ms, expires_ms) \
     VALUES ($1, $2, $3, $4, $5, $6)";

/// Stores a new token by its hash.
pub(crate) async fn insert(ex: Conn<'_>, token_hash: &str, row: &TokenRow) -> Result<()> {
    query(INSERT)
        .bind(token_hash)
        .bind(&row.token_id)
        .bind(&row.name)
        .bind(&row.role)
        .bind(row.created_ms)
        .bind(row.expires_ms)
        .execute(ex)
        .await?;
    Ok(())
}

const BY_HASH: &str = concat!(
    "SELECT ",
    token_columns!(),
    " FROM tokens WHERE token_hash = $1"
);

/// The token whose secret hashes to `token_hash`.
pub(crate) async fn by_hash(ex: Conn<'_>, token_hash: &str) -> Result<Option<TokenRow>> {
    query(BY_HASH).bind(token_hash).fetch_optional(ex).await
}

const LIST: &str = concat!(
    "SELECT ",
    token_columns!(),
    " FROM tokens ORDER BY created_ms, token_id"
);

/// Every token, oldest first, revoked ones included.
pub(crate) async fn list(ex: Conn<'_>) -> Result<Vec<TokenRow>> {
    query(LIST).fetch_all(ex).await
}

const REVOKE: &str = concat!(
    "UPDATE tokens SET revoked_ms = CASE WHEN revoked_ms = 0 THEN $2 ELSE revoked_ms END \
     WHERE token_id = $1 RETURNING ",
    token_columns!()
);

/// Marks a token revoked (a second revoke keeps the first time); `None` if
/// no token has this id.
pub(crate) async fn revoke(ex: Conn<'_>, token_id: &str, now_ms: i64) -> Result<Option<TokenRow>> {
    query(REVOKE)
        .bind(token_id)
        .bind(now_ms)
        .fetch_optional(ex)
        .await
}
