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
