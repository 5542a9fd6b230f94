//! `stylefarm token create|list|revoke`: the farm's bearer tokens, managed
//! over the `Admin` service with an admin token.

use std::time::{Duration, UNIX_EPOCH};

use stylefarm_client::Farm;
use stylefarm_proto::pb;

use crate::args::{TokenCommand, TokenRole};
use crate::settings::Settings;

pub async fn run(command: TokenCommand, settings: &Settings) -> anyhow::Result<()> {
    let mut farm = Farm::connect(&settings.connection()?).await?;
    match command {
        TokenCommand::Create {
            role,
            name,
            expires,
            ..
        } => {
            let role = match role {
                TokenRole::Client => pb::Role::Client,
                TokenRole::Worker => pb::Role::Worker,
                TokenRole::Admin => pb::Role::Admin,
                TokenRole::Metrics => pb::Role::Metrics,
            };
            let expires = expires.map_or(0, |d| Duration::from(d).as_secs().max(1));
            let created = farm
                .create_token(name.as_deref().unwrap_or(""), role, expires)
                .await?;
            let info = created.info.unwrap_or_default();
            eprintln!(
                "token {} created: {} role, name {}, {} (the secret below is shown only now)",
                info.token_id,
                role_name(info.role()),
                info.name,
                expiry(info.expires_unix_ms)
            );
            println!("{}", created.token);
        }
        TokenCommand::List { .. } => {
            println!(
                "{:<12}  {:<6}  {:<24}  {:<20}  {:<20}  state",
                "id", "role", "name", "created", "expires"
            );
            for t in farm.list_tokens().await? {
                let state = if t.revoked_unix_ms != 0 {
                    format!("revoked {}", time(t.revoked_unix_ms))
                } else if t.expires_unix_ms != 0 && t.expires_unix_ms <= now_ms() {
                    "expired".into()
                } else {
                    "active".into()
                };
                println!(
                    "{:<12}  {:<6}  {:<24}  {:<20}  {:<20}  {state}",
                    t.token_id,
                    role_name(t.role()),
                    t.name,
                    time(t.created_unix_ms),
                    if t.expires_unix_ms == 0 {
                        "never".into()
                    } else {
                        time(t.expires_unix_ms)
                    },
                );
            }
        }
        TokenCommand::Revoke { token_id, .. } => {
            let t = farm.revoke_token(&token_id).await?;
            println!("token {} ({}) revoked", t.token_id, t.name);
        }
    }
    Ok(())
}

fn role_name(role: pb::Role) -> &'static str {
    match role {
        pb::Role::Client => "client",
        pb::Role::Worker => "worker",
        pb::Role::Admin => "admin",
        pb::Role::Metrics => "metrics",
        pb::Role::Unspecified => "?",
    }
}

fn expiry(ms: i64) -> String {
    if ms == 0 {
        "never expires".into()
    } else {
        format!("expires {}", time(ms))
    }
}

/// Unix milliseconds as RFC 3339 UTC, to the second.
fn time(ms: i64) -> String {
    let t = UNIX_EPOCH + Duration::from_millis(u64::try_from(ms).unwrap_or(0));
    humantime::format_rfc3339_seconds(t).to_string()
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}
