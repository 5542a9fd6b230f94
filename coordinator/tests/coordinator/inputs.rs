//! Uploads and downloads through the coordinator.

use stylefarm_proto::pb;
use tonic::Code;

use crate::common::{TestFarm, assert_status};

#[tokio::test]
async fn uploads_are_content_addressed_and_deduplicated() {
    let farm = TestFarm::start().await;
    let data = vec![42u8; 300_000];
    let first = farm
        .try_upload("Photo.JPG", &data, 100_000)
        .await
        .expect("upload");
    assert!(
        first.input_key.starts_with("inputs/") && first.input_key.ends_with(".jpg"),
        "{}",
        first.input_key
    );
    assert_eq!(first.size, 300_000);
    assert!(!first.existed);
    let again = farm
        .try_upload("other-name.jpg", &data, 7_000)
        .await
        .expect("upload");
    assert_eq!(again.input_key, first.input_key);
    assert!(again.existed);
    assert_eq!(
        farm.store.head(&first.input_key).await.expect("head"),
        Some(300_000)
    );
}

#[tokio::test]
async fn upload_refusals() {
    let farm = TestFarm::start_with(|c| c.max_upload_bytes = 1000).await;
    assert_status(
        farm.try_upload("notes.txt", b"hello", 10).await,
        Code::InvalidArgument,
        "png",
    );
    assert_status(
        farm.try_upload("a.png", &[1u8; 1001], 100).await,
        Code::ResourceExhausted,
        "1000 bytes",
    );
    assert_status(
        farm.try_upload("a.png", &[1u8; 1001], 5000).await,
        Code::ResourceExhausted,
        "1000 bytes",
    );
    assert_status(
        farm.try_upload("a.png", b"", 10).await,
        Code::InvalidArgument,
        "empty",
    );
    let none = farm
        .farm
        .clone()
        .upload_input(tokio_stream::iter(Vec::<pb::UploadChunk>::new()))
        .await;
    assert_status(none, Code::InvalidArgument, "empty");
    farm.try_upload("a.png", &[1u8; 1000], 300)
        .await
        .expect("exactly the limit is fine");
}

#[tokio::test]
async fn downloads_stream_in_1_mib_chunks() {
    let farm = TestFarm::start().await;
    let data: Vec<u8> = (0..(2 * 1024 * 1024 + 10))
        .map(|i| (i % 251) as u8)
        .collect();
    let key = farm
        .try_upload("big.png", &data, 1 << 20)
        .await
        .expect("upload")
        .input_key;
    let (sizes, got) = farm.download(&key).await.expect("download");
    assert_eq!(sizes, vec![1 << 20, 1 << 20, 10]);
    assert_eq!(got, data);
}

#[tokio::test]
async fn download_refusals() {
    let farm = TestFarm::start().await;
    assert_status(
        farm.download("secrets/key").await,
        Code::InvalidArgument,
        "is no job output (jobs/…), input (inputs/…), file",
    );
    assert_status(
        farm.download("jobs/../inputs/x").await,
        Code::InvalidArgument,
        "..",
    );
    assert_status(
        farm.download("jobs/none/none/out.png").await,
        Code::NotFound,
        "jobs/none/none/out.png",
    );
    assert_status(farm.download("").await, Code::InvalidArgument, "key");
}
