//! Bearer tokens and roles: who may call what.
//!
//! Every gRPC call carries `authorization: Bearer <token>`. A token is
//! `sf_` and 64 hex digits (256 random bits from the operating system's
//! generator through `rand`'s `ThreadRng`), stored only as its SHA-256, so
//! a copy of the database yields no usable token. Looked up on every call,
//! so that a revoked or expired token stops working at once, with no
//! restart and on every coordinator sharing the database.
//!
//! The admin token of the configuration ([`CoordinatorConfig::admin_token`](crate::CoordinatorConfig))
//! lives only in memory: it bootstraps a farm (creating the first tokens)
//! and is how the embedded farm of `stylefarm render` authenticates its own
//! client and workers.

use rand::RngCore;
use sha2::{Digest, Sha256};
use tracing::info;

use crate::db::now_ms;
use crate::error::{CoordinatorError, Result};
use crate::repo::tokens::{self, TokenRow};
use crate::server::Coordinator;

/// What a token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Submit, watch, get, cancel and download its own jobs; list workers.
    Client,
    /// Register, lease, heartbeat, complete, fail, release.
    Worker,
    /// Everything, every job, and token management.
    Admin,
    /// Read the HTTP `/metrics` endpoint, nothing else: what a Prometheus
    /// server or an autoscaler is given.
    Metrics,
}

impl Role {
    /// The lower-case name, as stored and as `--role` takes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Client => "client",
            Role::Worker => "worker",
            Role::Admin => "admin",
            Role::Metrics => "metrics",
        }
    }

    /// "a client", "a worker", "an admin".
    fn with_article(self) -> &'static str {
        match self {
            Role::Client => "a client",
            Role::Worker => "a worker",
            Role::Admin => "an admin",
            Role::Metrics => "a metrics",
        }
    }

    fn parse(s: &str) -> Result<Role> {
        match s {
            "client" => Ok(Role::Client),
            "worker" => Ok(Role::Worker),
            "admin" => Ok(Role::Admin),
            "metrics" => Ok(Role::Metrics),
            other => Err(CoordinatorError::Corrupt(format!("token role {other:?}"))),
        }
    }

    /// Whether a token of this role may make a call that needs `need`.
    fn allows(self, need: Role) -> bool {
        self == Role::Admin || self == need
    }
}

/// Who made a call: the token's principal and role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Caller {
    /// The token's name; a client's jobs are owned by it.
    pub(crate) name: String,
    pub(crate) role: Role,
}

impl Caller {
    /// Whether this caller may see and act on a job owned by `owner`.
    pub(crate) fn owns(&self, owner: &str) -> bool {
        self.role == Role::Admin || self.name == owner
    }
}

/// A token as `ListTokens` shows it (never its secret).
#[derive(Debug, Clone)]
pub(crate) struct TokenView {
    pub(crate) token_id: String,
    pub(crate) name: String,
    pub(crate) role: Role,
    pub(crate) created_ms: i64,
    /// 0 = never.
    pub(crate) expires_ms: i64,
    /// 0 = not revoked.
    pub(crate) revoked_ms: i64,
}

/// Name of the configuration's admin token.
pub(crate) const CONFIG_ADMIN: &str = "admin";

/// Calls per second per token name ([`CoordinatorConfig::max_requests_per_second`](crate::CoordinatorConfig)),
/// a generic cell rate algorithm from `governor`.
pub(crate) type RateLimiter = governor::DefaultKeyedRateLimiter<String>;

/// The limiter of `per_second` calls per second with bursts of twice
/// that; `None` for no limit.
pub(crate) fn rate_limiter(per_second: u32) -> Option<RateLimiter> {
    let rate = std::num::NonZeroU32::new(per_second)?;
    let burst = rate.saturating_mul(std::num::NonZeroU32::MIN.saturating_add(1));
    Some(governor::RateLimiter::keyed(
        governor::Quota::per_second(rate).allow_burst(burst),
    ))
}

/// Longest token name, in bytes.
const MAX_NAME_BYTES: usize = 64;

/// A new secret: `sf_` and 64 hex digits.
pub fn new_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!("sf_{}", hex::encode(bytes))
}

/// SHA-256 of a token, hex.
pub(crate) fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Names are shown in listings, logs and job owners: letters, digits and
/// `-_.@`, at most 64 bytes.
pub(crate) fn check_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= MAX_NAME_BYTES
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.@".contains(c));
    if ok {
        Ok(())
    } else {
        Err(CoordinatorError::InvalidArgument {
            field: "name",
            problem: format!(
                "{name:?}: use 1 to {MAX_NAME_BYTES} letters, digits or -_.@ (e.g. alice or render-node-3)"
            ),
        })
    }
}

impl TokenView {
    fn from_row(row: TokenRow) -> Result<TokenView> {
        Ok(TokenView {
            role: Role::parse(&row.role)?,
            token_id: row.token_id,
            name: row.name,
            created_ms: row.created_ms,
            expires_ms: row.expires_ms,
            revoked_ms: row.revoked_ms,
        })
    }
}

impl Coordinator {
    /// The caller behind `token` (the value after `Bearer `), if it may make
    /// a call that needs `need`. The errors say which token the call needs.
    pub(crate) async fn authorize(
        &self,
        token: Option<&str>,
        need: Role,
        call: &str,
    ) -> Result<Caller> {
        let token = token.ok_or_else(|| CoordinatorError::Unauthenticated {
            problem: format!(
                "{call} needs {} token: pass --token or set STYLEFARM_TOKEN (an admin creates one with `stylefarm token create --role {}`)",
                need.with_article(),
                need.as_str()
            ),
        })?;
        let hash = token_hash(token);
        let caller = if self.inner.admin_token_hash.as_deref() == Some(hash.as_str()) {
            Caller {
                name: CONFIG_ADMIN.into(),
                role: Role::Admin,
            }
        } else {
            let row = tokens::by_hash(self.db().read().await?.conn(), &hash).await?;
            let unknown = || CoordinatorError::Unauthenticated {
                problem: format!(
                    "{call}: the token is not known to this farm; check --token / STYLEFARM_TOKEN"
                ),
            };
            let view = TokenView::from_row(row.ok_or_else(unknown)?)?;
            if view.revoked_ms != 0 {
                return Err(CoordinatorError::Unauthenticated {
                    problem: format!(
                        "{call}: token {} ({}) was revoked; ask an admin for a new one",
                        view.token_id, view.name
                    ),
                });
            }
            if view.expires_ms != 0 && now_ms() >= view.expires_ms {
                return Err(CoordinatorError::Unauthenticated {
                    problem: format!(
                        "{call}: token {} ({}) has expired; ask an admin for a new one",
                        view.token_id, view.name
                    ),
                });
            }
            Caller {
                name: view.name,
                role: view.role,
            }
        };
        if caller.role != Role::Admin
            && let Some(limiter) = &self.inner.rate_limiter
            && limiter.check_key(&caller.name).is_err()
        {
            return Err(CoordinatorError::LimitExceeded {
                problem: format!(
                    "{call}: too many calls with {}'s tokens: at most {} per second (max_requests_per_second); slow down and retry",
                    caller.name,
                    self.config().max_requests_per_second
                ),
            });
        }
        if !caller.role.allows(need) {
            let needed = match need {
                Role::Admin => "an admin token".to_owned(),
                other => format!("{} or admin token", other.with_article()),
            };
            return Err(CoordinatorError::PermissionDenied {
                problem: format!(
                    "{call} needs {needed}; the token given is {} token ({})",
                    caller.role.with_article(),
                    caller.name
                ),
            });
        }
        Ok(caller)
    }

    /// Creates a token; returns its secret (shown this once) and its view.
    /// An empty `name` becomes `<role>-<token id>`.
    pub(crate) async fn create_token(
        &self,
        name: &str,
        role: Role,
        expires_in_s: u64,
    ) -> Result<(String, TokenView)> {
        let secret = new_token();
        let hash = token_hash(&secret);
        let token_id = hash[..12].to_owned();
        let name = if name.is_empty() {
            format!("{}-{token_id}", role.as_str())
        } else {
            check_name(name)?;
            name.to_owned()
        };
        let now = now_ms();
        let expires_ms = if expires_in_s == 0 {
            0
        } else {
            let ms = i64::try_from(expires_in_s.saturating_mul(1000)).unwrap_or(i64::MAX);
            now.saturating_add(ms)
        };
        let row = TokenRow {
            token_id,
            name,
            role: role.as_str().into(),
            created_ms: now,
            expires_ms,
            revoked_ms: 0,
        };
        let mut tx = self.db().write().await?;
        tokens::insert(tx.conn(), &hash, &row).await?;
        tx.commit().await?;
        info!(token = %row.token_id, name = %row.name, role = %row.role, "token created");
        Ok((secret, TokenView::from_row(row)?))
    }

    /// Every token, oldest first.
    pub(crate) async fn list_tokens(&self) -> Result<Vec<TokenView>> {
        let rows = tokens::list(self.db().read().await?.conn()).await?;
        rows.into_iter().map(TokenView::from_row).collect()
    }

    /// Revokes a token by its id; its next call is refused.
    pub(crate) async fn revoke_token(&self, token_id: &str) -> Result<TokenView> {
        let mut tx = self.db().write().await?;
        let row = tokens::revoke(tx.conn(), token_id, now_ms()).await?;
        tx.commit().await?;
        let row = row.ok_or_else(|| CoordinatorError::InvalidArgument {
            field: "token_id",
            problem: format!("no token {token_id:?}; `stylefarm token list` shows the ids"),
        })?;
        info!(token = %row.token_id, name = %row.name, "token revoked");
        TokenView::from_row(row)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_long_random_and_hashed() {
        let (a, b) = (new_token(), new_token());
        assert_ne!(a, b);
        assert_eq!(a.len(), 3 + 64);
        assert!(a.starts_with("sf_"));
        assert_eq!(token_hash(&a).len(), 64);
        assert_ne!(token_hash(&a), token_hash(&b));
    }

    #[test]
    fn admin_may_do_everything_others_only_their_part() {
        assert!(Role::Admin.allows(Role::Worker));
        assert!(Role::Admin.allows(Role::Client));
        assert!(Role::Client.allows(Role::Client));
        assert!(!Role::Client.allows(Role::Worker));
        assert!(!Role::Worker.allows(Role::Client));
        assert!(!Role::Client.allows(Role::Admin));
    }

    #[test]
    fn names_are_plain() {
        assert!(check_name("render-node_3.eu@studio").is_ok());
        for bad in ["", "a b", "../x", "é", &"x".repeat(65)] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
    }
}
