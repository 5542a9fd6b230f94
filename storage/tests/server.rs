//! The embedded server itself: signatures checked, restarts keep data and keys, errors are clear.

mod util;

use bytes::Bytes;
use stylefarm_storage::{CREDENTIALS_FILE, EmbeddedS3, StorageError, Store};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use util::{BUCKET, loopback, server, store};

#[tokio::test]
async fn wrong_secret_key_is_refused_with_clear_error() {
    let (_dir, s3) = server().await;
    // The bucket exists, so the refusal can only come from the signature check.
    store(&s3, "").await;

    let mut cfg = s3.storage_config(BUCKET, "");
    cfg.secret_key = "not-the-secret".into();
    let err = Store::connect(cfg).await.unwrap_err();
    let StorageError::Auth {
        endpoint,
        access_key,
        ..
    } = &err
    else {
        panic!("expected Auth, got {err:?}");
    };
    assert_eq!(endpoint, &s3.endpoint());
    assert_eq!(access_key, &s3.storage_config(BUCKET, "").access_key);
    let msg = err.to_string();
    assert!(msg.contains("secret key"), "{msg}");
    assert!(!msg.contains("not-the-secret"), "secret leaked: {msg}");
}

#[tokio::test]
async fn wrong_access_key_is_refused() {
    let (_dir, s3) = server().await;
    let mut cfg = s3.storage_config(BUCKET, "");
    cfg.access_key = "SFUNKNOWN".into();
    let err = Store::connect(cfg).await.unwrap_err();
    assert!(matches!(err, StorageError::Auth { .. }), "{err:?}");
}

#[tokio::test]
async fn unsigned_requests_are_refused() {
    let (_dir, s3) = server().await;
    let st = store(&s3, "").await;
    st.put("secret.txt", Bytes::from_static(b"private"))
        .await
        .unwrap();

    let mut conn = tokio::net::TcpStream::connect(s3.local_addr())
        .await
        .unwrap();
    let req = format!(
        "GET /{BUCKET}/secret.txt HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
        s3.local_addr()
    );
    conn.write_all(req.as_bytes()).await.unwrap();
    let mut resp = String::new();
    conn.read_to_string(&mut resp).await.unwrap();
    assert!(resp.starts_with("HTTP/1.1 403"), "{resp}");
    assert!(!resp.contains("private"), "{resp}");
}

#[tokio::test]
async fn restart_keeps_objects_and_credentials() {
    let dir = tempfile::tempdir().unwrap();
    let first = EmbeddedS3::start(dir.path(), loopback()).await.unwrap();
    let cfg1 = first.storage_config(BUCKET, "farm");
    let st = Store::connect(cfg1.clone()).await.unwrap();
    st.put("kept.txt", Bytes::from_static(b"still here"))
        .await
        .unwrap();
    let (input_key, _) = st
        .put_input(Bytes::from_static(b"img"), "png")
        .await
        .unwrap();
    first.shutdown().await;

    // The old server is gone: the old endpoint no longer answers.
    assert!(matches!(
        st.head("kept.txt").await,
        Err(StorageError::Unreachable { .. })
    ));

    let second = EmbeddedS3::start(dir.path(), loopback()).await.unwrap();
    let cfg2 = second.storage_config(BUCKET, "farm");
    assert_eq!(cfg2.access_key, cfg1.access_key);
    assert_eq!(cfg2.secret_key, cfg1.secret_key);

    let st = Store::connect(cfg2).await.unwrap();
    assert_eq!(st.get("kept.txt").await.unwrap(), "still here");
    assert_eq!(
        st.put_input(Bytes::from_static(b"img"), "png")
            .await
            .unwrap(),
        (input_key, true)
    );
}

#[tokio::test]
async fn credentials_file_is_persisted_privately() {
    let (dir, s3) = server().await;
    let text = std::fs::read_to_string(dir.path().join(CREDENTIALS_FILE)).unwrap();
    let cfg = s3.storage_config(BUCKET, "");
    assert!(text.contains(&cfg.access_key));
    assert!(text.contains(&cfg.secret_key));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join(CREDENTIALS_FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}

#[tokio::test]
async fn start_creates_missing_root() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("deep").join("data");
    let s3 = EmbeddedS3::start(&root, loopback()).await.unwrap();
    assert!(root.is_dir());
    assert!(s3.endpoint().starts_with("http://127.0.0.1:"));
    assert_ne!(s3.local_addr().port(), 0);
    let st = store(&s3, "").await;
    st.put("x", Bytes::from_static(b"1")).await.unwrap();
    assert!(root.join(BUCKET).join("x").is_file());
}

#[tokio::test]
async fn busy_port_is_a_clear_server_error() {
    let (_dir, s3) = server().await;
    let other = tempfile::tempdir().unwrap();
    let err = EmbeddedS3::start(other.path(), s3.local_addr())
        .await
        .unwrap_err();
    assert!(matches!(err, StorageError::Server(_)), "{err:?}");
    assert!(
        err.to_string().contains(&s3.local_addr().to_string()),
        "{err}"
    );
}

#[tokio::test]
async fn unreachable_endpoint_names_it_and_suggests_checking() {
    // Bind then release a port so nothing listens there.
    let port = {
        let l = std::net::TcpListener::bind(loopback()).unwrap();
        l.local_addr().unwrap().port()
    };
    let (_dir, s3) = server().await;
    let mut cfg = s3.storage_config(BUCKET, "");
    cfg.endpoint = format!("http://127.0.0.1:{port}");
    let err = Store::connect(cfg).await.unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, StorageError::Unreachable { .. }), "{err:?}");
    assert!(msg.contains(&format!("127.0.0.1:{port}")), "{msg}");
    assert!(msg.contains("running"), "{msg}");
}

#[tokio::test]
async fn bad_config_is_refused_before_any_request() {
    let (_dir, s3) = server().await;
    let mut cfg = s3.storage_config("Bad_Bucket", "");
    let err = Store::connect(cfg.clone()).await.unwrap_err();
    assert!(
        matches!(&err, StorageError::BadConfig { field, .. } if field == "bucket"),
        "{err:?}"
    );
    cfg.bucket = BUCKET.into();
    cfg.endpoint = "ftp://x".into();
    let err = Store::connect(cfg).await.unwrap_err();
    assert!(
        matches!(&err, StorageError::BadConfig { field, .. } if field == "endpoint"),
        "{err:?}"
    );
}
