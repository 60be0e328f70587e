//! The worker's blob store against a real S3-compatible server on loopback (SeaweedFS):
//! write and read back under a prefix, absent keys, the size bound, and an outage (a named
//! error, then the same object again once the server is back).

use offchain_gpu::store::{gradient_key, BlobStore, StoreError};
use system_tests::S3Server;

#[tokio::test(flavor = "multi_thread")]
async fn s3_store_roundtrip_bounds_and_outage() {
	let mut server = S3Server::start("blobs");
	let url = format!("s3://{}/miner-a?endpoint=http://127.0.0.1:{}", server.bucket, server.port);
	let store = BlobStore::from_url(&url).expect("a valid store URL");
	assert_eq!(store.url(), url);

	let key = gradient_key(3, 7, &[1; 32], &[2; 32]);
	assert!(store.get(&key, 1 << 20).await.expect("a read").is_none(), "nothing there yet");
	let blob: Vec<u8> = (0..100_000u32).map(|i| (i * 31 % 251) as u8).collect();
	store.put(&key, &blob).await.expect("an upload");
	assert_eq!(
		store.get(&key, blob.len() as u64).await.expect("a read").as_deref(),
		Some(&blob[..])
	);
	// The same key under another prefix is another object.
	let other = BlobStore::from_url(&url.replace("miner-a", "miner-b")).unwrap();
	assert!(other.get(&key, 1 << 20).await.unwrap().is_none());
	// More than the committed length is refused without reading it.
	match store.get(&key, 10).await {
		Err(StoreError::TooLarge { len, max: 10, .. }) => assert_eq!(len, blob.len() as u64),
		other => panic!("expected TooLarge, got {other:?}"),
	}

	server.stop();
	let err = store.get(&key, 1 << 20).await.expect_err("the server is down");
	assert!(matches!(err, StoreError::Io { .. }), "{err}");
	println!("during the outage: {err}");
	server.restart();
	assert_eq!(
		store.get(&key, blob.len() as u64).await.expect("a read").as_deref(),
		Some(&blob[..])
	);
}
