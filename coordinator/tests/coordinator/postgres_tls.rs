//! PostgreSQL over TLS: a coordinator whose database URL asks for a
//! verified TLS connection (`sslmode=verify-full`) gets one on every
//! connection it opens, and one that trusts another CA is refused with the
//! reason. Needs the server and CA of `scripts/with-postgres`; without them
//! these tests say so and pass.

use sqlx::Connection as _;
use stylefarm_coordinator::Coordinator;

use crate::common::{POSTGRES_ENV, TestFarm};

/// The PEM file of the CA that signed the test server's certificate.
const CA_ENV: &str = "STYLEFARM_TEST_POSTGRES_CA";

fn server_ca() -> Option<String> {
    let set = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let ca = set(POSTGRES_ENV).and(set(CA_ENV));
    if ca.is_none() {
        eprintln!(
            "PostgreSQL over TLS needs {POSTGRES_ENV} and {CA_ENV} (scripts/with-postgres): nothing to test"
        );
    }
    ca
}

fn verified(db_url: &str, ca: &str) -> String {
    format!("{db_url}?sslmode=verify-full&sslrootcert={ca}")
}

#[tokio::test]
async fn a_coordinator_reaches_postgres_over_verified_tls() {
    let Some(ca) = server_ca() else { return };
    let farm = TestFarm::start_with(|c| c.db_url = verified(&c.db_url, &ca)).await;
    let job = farm.submit(farm.valid_spec().await).await;
    assert!(!job.is_empty());
    let mut look = sqlx::PgConnection::connect(&farm.config.db_url)
        .await
        .expect("connect as the coordinator does");
    let (tls, plain): (i64, i64) = sqlx::query_as(
        "SELECT count(*) FILTER (WHERE s.ssl), count(*) FILTER (WHERE NOT s.ssl) \
         FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid) \
         WHERE a.application_name = 'stylefarm-coordinator' AND a.datname = current_database()",
    )
    .fetch_one(&mut look)
    .await
    .expect("read pg_stat_ssl");
    assert!(tls >= 1, "the coordinator has no TLS connection");
    assert_eq!(plain, 0, "the coordinator has connections without TLS");
}

#[tokio::test]
async fn a_coordinator_that_trusts_another_ca_is_refused_with_the_reason() {
    let Some(_) = server_ca() else { return };
    let farm = TestFarm::start().await;
    let dir = tempfile::tempdir().unwrap();
    let other = dir.path().join("other-ca.pem");
    let made = std::process::Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
        ])
        .args(["-subj", "/CN=another CA", "-keyout"])
        .arg(dir.path().join("other-ca.key"))
        .arg("-out")
        .arg(&other)
        .output()
        .expect("run openssl");
    assert!(made.status.success(), "{made:?}");
    let mut config = farm.config.clone();
    config.db_url = verified(&config.db_url, other.to_str().unwrap());
    let Err(e) = Coordinator::open(config).await else {
        panic!("a server whose certificate the CA did not sign was trusted");
    };
    let message = e.to_string();
    assert!(
        message.contains("TLS") && message.contains("UnknownIssuer"),
        "{message}"
    );
    assert!(
        message.contains("sslrootcert"),
        "says what to check: {message}"
    );
}
