//! Store round-trips against a real embedded S3 server.

mod util;

use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use sha2::{Digest, Sha256};
use stylefarm_storage::{PART_BYTES, StorageError, Store, Uploaded};
use util::{BUCKET, any_server, server, store};

#[tokio::test]
async fn put_get_head_list_delete_round_trip() {
    let s3 = any_server().await;
    let st = s3.store("").await;

    let data = Bytes::from_static(b"hello style");
    st.put("jobs/j1/out.png", data.clone()).await.unwrap();
    st.put("jobs/j1/preview.jpg", Bytes::from_static(b"p"))
        .await
        .unwrap();
    st.put("jobs/j2/out.png", Bytes::new()).await.unwrap();

    assert_eq!(st.get("jobs/j1/out.png").await.unwrap(), data);
    assert_eq!(st.head("jobs/j1/out.png").await.unwrap(), Some(11));
    assert_eq!(st.head("jobs/j2/out.png").await.unwrap(), Some(0));
    assert_eq!(st.get("jobs/j2/out.png").await.unwrap(), Bytes::new());
    assert_eq!(st.head("jobs/j1/nope.png").await.unwrap(), None);

    assert_eq!(
        st.list("").await.unwrap(),
        ["jobs/j1/out.png", "jobs/j1/preview.jpg", "jobs/j2/out.png"]
    );
    assert_eq!(
        st.list("jobs/j1/").await.unwrap(),
        ["jobs/j1/out.png", "jobs/j1/preview.jpg"]
    );
    assert_eq!(st.list("jobs/j1/out").await.unwrap(), ["jobs/j1/out.png"]);
    assert!(st.list("nothing/").await.unwrap().is_empty());

    // Overwrite replaces.
    st.put("jobs/j1/out.png", Bytes::from_static(b"v2"))
        .await
        .unwrap();
    assert_eq!(st.get("jobs/j1/out.png").await.unwrap(), "v2");

    st.delete("jobs/j1/out.png").await.unwrap();
    assert_eq!(st.head("jobs/j1/out.png").await.unwrap(), None);
    assert_eq!(
        st.list("jobs/").await.unwrap(),
        ["jobs/j1/preview.jpg", "jobs/j2/out.png"]
    );
    // Deleting a missing key is fine (S3 semantics).
    st.delete("jobs/j1/out.png").await.unwrap();
}

#[tokio::test]
async fn missing_key_is_not_found_with_helpful_message() {
    let s3 = any_server().await;
    let st = s3.store("").await;
    let err = st.get("inputs/ab.png").await.unwrap_err();
    let StorageError::NotFound { key, bucket, .. } = &err else {
        panic!("expected NotFound, got {err:?}");
    };
    assert_eq!(key, "inputs/ab.png");
    assert_eq!(*bucket, s3.bucket());
    let msg = err.to_string();
    assert!(msg.contains(&s3.endpoint()), "{msg}");
    assert!(msg.contains("upload it first"), "{msg}");
}

#[tokio::test]
async fn bad_keys_never_reach_the_server() {
    let s3 = any_server().await;
    let st = s3.store("").await;
    for key in ["../escape", "/abs", "a//b", "a b", "caf\u{e9}", ""] {
        assert!(
            matches!(
                st.put(key, Bytes::new()).await,
                Err(StorageError::BadKey { .. })
            ),
            "put {key:?}"
        );
        assert!(matches!(
            st.get(key).await,
            Err(StorageError::BadKey { .. })
        ));
        assert!(matches!(
            st.head(key).await,
            Err(StorageError::BadKey { .. })
        ));
        assert!(matches!(
            st.delete(key).await,
            Err(StorageError::BadKey { .. })
        ));
    }
    assert!(matches!(
        st.list("../").await,
        Err(StorageError::BadKey { .. })
    ));
    // Nothing escaped the bucket directory.
    if let Some(s3) = s3.embedded() {
        assert!(!s3.root().parent().unwrap().join("escape").exists());
    }
}

#[tokio::test]
async fn put_input_is_content_addressed_and_uploaded_once() {
    let s3 = any_server().await;
    let st = s3.store("").await;
    let img = Bytes::from_static(b"\x89PNG fake image bytes");

    let (key, existed) = st.put_input(img.clone(), "PNG").await.unwrap();
    assert!(!existed);
    assert!(key.starts_with("inputs/"), "{key}");
    assert!(key.ends_with(".png"), "{key}");
    let hash = key.trim_start_matches("inputs/").trim_end_matches(".png");
    assert_eq!(hash.len(), 64);
    assert!(hash.bytes().all(|b| b.is_ascii_hexdigit()));

    let (again, existed) = st.put_input(img.clone(), "png").await.unwrap();
    assert!(existed);
    assert_eq!(again, key);
    assert_eq!(st.get(&key).await.unwrap(), img);

    // Different bytes, different key; jpeg normalised to jpg.
    let (other, existed) = st
        .put_input(Bytes::from_static(b"other"), ".jpeg")
        .await
        .unwrap();
    assert!(!existed);
    assert!(other.ends_with(".jpg"));
    assert_ne!(other, key);

    assert!(matches!(
        st.put_input(img, "exe").await,
        Err(StorageError::BadExtension { .. })
    ));
}

#[tokio::test]
async fn prefix_is_applied_on_disk_and_hidden_from_callers() {
    let (_dir, s3) = server().await;
    let farm1 = store(&s3, "farm1").await;
    let farm10 = store(&s3, "farm10/").await;
    let bare = store(&s3, "").await;

    farm1
        .put("a/b.txt", Bytes::from_static(b"one"))
        .await
        .unwrap();
    farm10
        .put("a/b.txt", Bytes::from_static(b"ten"))
        .await
        .unwrap();

    let on_disk = s3.root().join(BUCKET).join("farm1").join("a").join("b.txt");
    assert_eq!(std::fs::read(&on_disk).unwrap(), b"one");

    assert_eq!(farm1.list("").await.unwrap(), ["a/b.txt"]);
    assert_eq!(farm10.list("").await.unwrap(), ["a/b.txt"]);
    assert_eq!(farm1.get("a/b.txt").await.unwrap(), "one");
    assert_eq!(
        bare.list("").await.unwrap(),
        ["farm1/a/b.txt", "farm10/a/b.txt"]
    );

    let (key, _) = farm1
        .put_input(Bytes::from_static(b"x"), "gif")
        .await
        .unwrap();
    assert!(s3.root().join(BUCKET).join("farm1").join(&key).is_file());
    assert!(farm10.head(&key).await.unwrap().is_none());
}

#[tokio::test]
async fn connect_is_idempotent_and_concurrent_safe() {
    let (_dir, s3) = server().await;
    let cfg = s3.storage_config("fresh-bucket", "");
    let stores = futures::future::try_join_all((0..4).map(|_| Store::connect(cfg.clone())))
        .await
        .unwrap();
    stores[0].put("k", Bytes::from_static(b"v")).await.unwrap();
    let later = Store::connect(cfg.clone()).await.unwrap();
    assert_eq!(later.get("k").await.unwrap(), "v");
    assert_eq!(later.config(), &cfg);
    assert!(s3.root().join("fresh-bucket").is_dir());
}

#[tokio::test]
async fn list_follows_pagination_past_one_page() {
    let s3 = any_server().await;
    let st = s3.store("p").await;
    // Servers return at most 1000 keys per page.
    let n = 1010;
    futures::stream::iter(0..n)
        .map(|i| {
            let st = st.clone();
            async move { st.put(&format!("many/{i:05}"), Bytes::new()).await }
        })
        .buffer_unordered(16)
        .try_collect::<Vec<()>>()
        .await
        .unwrap();
    let keys = st.list("many/").await.unwrap();
    assert_eq!(keys.len(), n);
    assert_eq!(keys.first().map(String::as_str), Some("many/00000"));
    assert_eq!(keys.last().map(String::as_str), Some("many/01009"));
    assert!(keys.windows(2).all(|w| w[0] < w[1]), "sorted and unique");
}

#[tokio::test]
async fn large_object_round_trips() {
    let s3 = any_server().await;
    let st = s3.store("").await;
    let data: Bytes = (0..8 * 1024 * 1024u32)
        .map(|i| (i % 251) as u8)
        .collect::<Vec<u8>>()
        .into();
    st.put("big.bin", data.clone()).await.unwrap();
    assert_eq!(st.head("big.bin").await.unwrap(), Some(data.len() as u64));
    assert!(st.get("big.bin").await.unwrap() == data);
}

/// `len` bytes that are not one repeated pattern (parts must not be mixed up).
fn varied(len: usize) -> Vec<u8> {
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

#[tokio::test]
async fn an_upload_in_parts_round_trips_and_reads_in_chunks() {
    let s3 = any_server().await;
    let st = s3.store("farm").await;
    let data = varied(2 * PART_BYTES + 12_345);
    let mut upload = st.upload("big/object.bin").unwrap();
    for chunk in data.chunks(1_000_003) {
        upload.write(chunk).await.unwrap();
    }
    assert_eq!(upload.size(), data.len() as u64);
    let stored = upload.finish().await.unwrap();
    assert_eq!(
        stored,
        Uploaded {
            key: "big/object.bin".into(),
            size: data.len() as u64,
            existed: false
        }
    );
    assert_eq!(
        st.head("big/object.bin").await.unwrap(),
        Some(data.len() as u64)
    );

    let mut reader = st.read("big/object.bin").await.unwrap();
    assert_eq!(reader.size(), Some(data.len() as u64));
    let mut back = Vec::new();
    while let Some(chunk) = reader.next_chunk(1 << 20).await.unwrap() {
        assert!(
            !chunk.is_empty() && chunk.len() <= 1 << 20,
            "{}",
            chunk.len()
        );
        back.extend_from_slice(&chunk);
    }
    assert!(back == data, "the parts came back in order");
    assert!(st.get("big/object.bin").await.unwrap() == data);
    assert_eq!(st.list("").await.unwrap(), ["big/object.bin"]);
}

#[tokio::test]
async fn a_large_input_gets_its_content_address_and_leaves_no_temporary_object() {
    let s3 = any_server().await;
    let st = s3.store("").await;
    let data = varied(PART_BYTES + PART_BYTES / 2);
    let expected = format!("inputs/{}.png", hex::encode(Sha256::digest(&data)));

    let mut upload = st.upload_input("PNG").unwrap();
    for chunk in data.chunks(1 << 20) {
        upload.write(chunk).await.unwrap();
    }
    let stored = upload.finish().await.unwrap();
    assert_eq!(stored.key, expected);
    assert!(!stored.existed);
    assert_eq!(st.list("").await.unwrap(), std::slice::from_ref(&expected));
    assert!(st.get(&expected).await.unwrap() == data);

    // The same bytes again, whole: the same key, already there.
    let (again, existed) = st.put_input(data.into(), "png").await.unwrap();
    assert_eq!(again, expected);
    assert!(existed);
    assert_eq!(st.list("").await.unwrap(), [expected]);

    // A small input takes the one-request path to the same kind of key.
    let (small, _) = st
        .put_input(Bytes::from_static(b"abc"), "png")
        .await
        .unwrap();
    assert_eq!(
        small,
        "inputs/ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad.png"
    );
}

#[tokio::test]
async fn an_aborted_upload_stores_nothing() {
    let s3 = any_server().await;
    let st = s3.store("").await;
    let mut upload = st.upload("jobs/j1/out.png").unwrap();
    upload.write(&varied(PART_BYTES + 1)).await.unwrap();
    upload.abort().await;
    assert_eq!(st.head("jobs/j1/out.png").await.unwrap(), None);
    assert!(st.list("").await.unwrap().is_empty());
    assert!(matches!(
        st.upload("../escape"),
        Err(StorageError::BadKey { .. })
    ));
    assert!(matches!(
        st.upload_input("exe"),
        Err(StorageError::BadExtension { .. })
    ));
}
