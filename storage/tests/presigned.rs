//! Presigned URLs against a real embedded S3 server (s3s checks the
//! signature and the expiry): what a worker can and cannot do with the URLs
//! the coordinator gives it.

mod util;

use std::time::{Duration, SystemTime};

use bytes::Bytes;
use stylefarm_storage::{Access, PresignedClient, StorageError};
use util::{server, store};

const MINUTE: Duration = Duration::from_secs(60);

#[tokio::test]
async fn urls_allow_exactly_their_key_and_access() {
    let (_dir, s3) = server().await;
    let st = store(&s3, "farm").await;
    let http = PresignedClient::new().unwrap();
    let key = "jobs/j1/t1/out.png";

    let put = st.presign(Access::Put, key, MINUTE).await.unwrap();
    assert!(
        put.contains("X-Amz-Signature=") && !put.contains(&st.config().secret_key),
        "{put}"
    );
    http.put(&put, key, Bytes::from_static(b"pixels"))
        .await
        .unwrap();
    assert_eq!(st.get(key).await.unwrap(), Bytes::from_static(b"pixels"));

    let get = st.presign(Access::Get, key, MINUTE).await.unwrap();
    assert_eq!(
        http.get(&get, key).await.unwrap(),
        Bytes::from_static(b"pixels")
    );
    let head = st.presign(Access::Head, key, MINUTE).await.unwrap();
    assert_eq!(http.head(&head, key).await.unwrap(), Some(6));
    let missing = st
        .presign(Access::Head, "jobs/j1/t1/none.png", MINUTE)
        .await
        .unwrap();
    assert_eq!(http.head(&missing, "none").await.unwrap(), None);

    // A GET URL does not write, and a URL moved to another key is refused.
    let e = http
        .put(&get, key, Bytes::from_static(b"overwrite"))
        .await
        .unwrap_err();
    assert!(matches!(e, StorageError::Denied { .. }), "{e}");
    let other = put.replace("t1/out.png", "t2/out.png");
    let e = http
        .put(&other, "jobs/j1/t2/out.png", Bytes::from_static(b"x"))
        .await
        .unwrap_err();
    assert!(matches!(e, StorageError::Denied { .. }), "{e}");
    assert_eq!(st.head("jobs/j1/t2/out.png").await.unwrap(), None);
    assert_eq!(st.get(key).await.unwrap(), Bytes::from_static(b"pixels"));
}

#[tokio::test]
async fn an_expired_url_is_refused_by_the_server() {
    let (_dir, s3) = server().await;
    let st = store(&s3, "").await;
    let http = PresignedClient::new().unwrap();
    let key = "jobs/j1/t1/out.png";
    st.put(key, Bytes::from_static(b"v1")).await.unwrap();
    // Signed an hour ago for one minute: expired 59 minutes ago.
    let an_hour_ago = SystemTime::now() - Duration::from_secs(3600);
    let put = st
        .presign_at(Access::Put, key, an_hour_ago, MINUTE)
        .await
        .unwrap();
    let e = http
        .put(&put, key, Bytes::from_static(b"late write"))
        .await
        .unwrap_err();
    assert!(matches!(e, StorageError::Denied { .. }), "{e}");
    assert!(e.to_string().contains("expired"), "{e}");
    let get = st
        .presign_at(Access::Get, key, an_hour_ago, MINUTE)
        .await
        .unwrap();
    assert!(matches!(
        http.get(&get, key).await.unwrap_err(),
        StorageError::Denied { .. }
    ));
    assert_eq!(st.get(key).await.unwrap(), Bytes::from_static(b"v1"));
}

/// A CA and a server certificate for 127.0.0.1 made for the test: (CA PEM,
/// certificate PEM, key PEM).
fn certificates() -> (String, String, String) {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca = rcgen::CertifiedIssuer::self_signed(ca_params, ca_key).unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["localhost".into(), "127.0.0.1".into()])
        .unwrap()
        .signed_by(&key, &ca)
        .unwrap();
    (ca.pem(), cert.pem(), key.serialize_pem())
}

/// With TLS the embedded S3 server serves workers over https (presigned
/// URLs name it) and the coordinator's store over a loopback port of its
/// own: a client with the farm's CA moves bytes, one without it or over
/// plain HTTP cannot, and bad PEM data is refused at start.
#[tokio::test]
async fn over_tls_urls_are_https_and_need_the_farms_ca() {
    let dir = tempfile::tempdir().unwrap();
    let (ca, cert, key) = certificates();
    let s3 = stylefarm_storage::EmbeddedS3::start_tls(
        dir.path(),
        util::loopback(),
        cert.as_bytes(),
        key.as_bytes(),
    )
    .await
    .unwrap();
    let public = s3.public_endpoint().expect("an https endpoint");
    assert!(public.starts_with("https://127.0.0.1:"), "{public}");
    assert!(s3.endpoint().starts_with("http://127.0.0.1:"));
    assert_ne!(public.replace("https", "http"), s3.endpoint());
    let st = store(&s3, "farm").await;
    let key_name = "jobs/j1/t1/out.png";
    st.put(key_name, Bytes::from_static(b"pixels"))
        .await
        .unwrap();

    let get = st.presign(Access::Get, key_name, MINUTE).await.unwrap();
    assert!(get.starts_with(&format!("{public}/")), "{get}");
    let trusted = PresignedClient::with_ca(Some(ca.as_bytes())).unwrap();
    assert_eq!(
        trusted.get(&get, key_name).await.unwrap(),
        Bytes::from_static(b"pixels")
    );
    let put = st.presign(Access::Put, key_name, MINUTE).await.unwrap();
    trusted
        .put(&put, key_name, Bytes::from_static(b"v2"))
        .await
        .unwrap();
    assert_eq!(st.get(key_name).await.unwrap(), Bytes::from_static(b"v2"));

    // Without the CA the certificate is not trusted; plain HTTP to the TLS
    // port gets no answer.
    let untrusted = PresignedClient::new().unwrap();
    assert!(untrusted.get(&get, key_name).await.is_err());
    let plain = get.replacen("https://", "http://", 1);
    assert!(trusted.get(&plain, key_name).await.is_err());

    let e = PresignedClient::with_ca(Some(b"not a certificate")).unwrap_err();
    assert!(e.to_string().contains("CA"), "{e}");
    let e = stylefarm_storage::EmbeddedS3::start_tls(
        dir.path(),
        util::loopback(),
        b"no certificate here",
        key.as_bytes(),
    )
    .await
    .unwrap_err();
    assert!(e.to_string().contains("certificate"), "{e}");
    s3.shutdown().await;
}
