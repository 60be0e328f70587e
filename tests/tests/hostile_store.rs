//! The workers' reads of OTHER peers' stores, against hostile S3 endpoints on loopback
//! (`system_tests::hostile_http`), through the peer reader the roles use:
//!
//! - a body larger than the cap (announced, or chunked without end) is refused at once, a
//!   body that drips is cut off at the deadline, and neither grows the process's memory;
//! - peer reads carry no credentials even with `AWS_*` set, while the worker's own store
//!   still signs with them; refused endpoints see no request, redirects are not followed;
//! - stalling stores cost a round's fetch one deadline in all, not one each.

use std::{
	sync::Once,
	time::{Duration, Instant},
};

use offchain_gpu::{
	roles::{fetch_blobs, BlobFault, BlobRequest, FetchLimits},
	store::{BlobStore, EndpointPolicy, PeerStores, StoreError},
};
use system_tests::hostile_http::{HostileServer, Mode};

/// The most a read accepts: a gradient blob's length.
const CAP: u64 = 4096;
const DEADLINE: Duration = Duration::from_secs(3);
const KEY: &str = "run/0/round/1/aa/bb";
const ACCESS_KEY: &str = "AKIAHOSTILETESTKEY01";
const SECRET_KEY: &str = "hostile-test-secret-9f8e7d6c5b4a";
const SESSION_TOKEN: &str = "hostile-test-session-token-1a2b3c";

/// First thing in every test of this binary: the worker's credentials in the environment,
/// set once before any test starts threads of its own, so that every read here happens with
/// them present.
fn setup() {
	static ONCE: Once = Once::new();
	ONCE.call_once(|| {
		std::env::set_var("AWS_ACCESS_KEY_ID", ACCESS_KEY);
		std::env::set_var("AWS_SECRET_ACCESS_KEY", SECRET_KEY);
		std::env::set_var("AWS_SESSION_TOKEN", SESSION_TOKEN);
	});
}

async fn peer(server: &HostileServer) -> BlobStore {
	let url = format!("{}/grads/miner-a", server.endpoint());
	BlobStore::peer(&url, &EndpointPolicy::ALLOW_LOCAL)
		.await
		.unwrap_or_else(|e| panic!("{url}: {e}"))
}

/// The process's peak resident set (VmHWM), in KiB.
fn peak_rss_kib() -> u64 {
	let status = std::fs::read_to_string("/proc/self/status").expect("read /proc/self/status");
	let line = status.lines().find(|l| l.starts_with("VmHWM:")).expect("a VmHWM line");
	line.split_whitespace().nth(1).and_then(|v| v.parse().ok()).expect("VmHWM in kB")
}

/// Bodies that are too large end the read as soon as that is known, without the deadline;
/// a dripping body ends at the deadline; memory stays flat through all of them. (The other
/// tests of this binary allocate a few KiB, so running in parallel does not blur this.)
#[tokio::test(flavor = "multi_thread")]
async fn hostile_bodies_are_cut_off_without_allocating() {
	setup();
	let before = peak_rss_kib();
	// Far longer than any of these reads may take: the guard of a broken reader.
	let guard = Duration::from_secs(30);

	// (a) HEAD says 2 kB, GET announces 10^12 bytes and sends them.
	let huge = HostileServer::start(Mode::Huge);
	let store = peer(&huge).await;
	let t = Instant::now();
	let read =
		tokio::time::timeout(guard, store.get(KEY, CAP)).await.expect("the read ends by itself");
	let took_huge = t.elapsed();
	match read {
		Err(StoreError::TooLarge { len, max, .. }) => {
			assert_eq!((len, max), (1_000_000_000_000, CAP))
		}
		other => panic!("announced 10^12 bytes: expected TooLarge, got {other:?}"),
	}
	assert!(took_huge < Duration::from_secs(2), "{took_huge:?}");

	// (c) chunked without end, with a small Content-Length that HTTP/1.1 says to ignore.
	let chunks = HostileServer::start(Mode::EndlessChunks { declared: Some(2000) });
	let store = peer(&chunks).await;
	let t = Instant::now();
	let read =
		tokio::time::timeout(guard, store.get(KEY, CAP)).await.expect("the read ends by itself");
	let took_chunks = t.elapsed();
	match read {
		Err(StoreError::TooLarge { len, max, .. }) => {
			assert!(len > CAP && max == CAP, "{len} {max}")
		}
		other => panic!("endless chunks: expected TooLarge, got {other:?}"),
	}
	assert!(took_chunks < Duration::from_secs(2), "{took_chunks:?}");

	// (c') chunked without end and without a length: refused at once (S3 always announces it).
	let bare = HostileServer::start(Mode::EndlessChunks { declared: None });
	let store = peer(&bare).await;
	let t = Instant::now();
	let read =
		tokio::time::timeout(guard, store.get(KEY, CAP)).await.expect("the read ends by itself");
	let took_bare = t.elapsed();
	let err = read.expect_err("a body of unknown length is not a blob");
	assert!(took_bare < Duration::from_secs(2), "{took_bare:?}");
	println!("endless chunks without a length: {err}");

	// (b) a byte a second: cut off at the deadline.
	let drip = HostileServer::start(Mode::Drip { len: CAP });
	let store = peer(&drip).await;
	let t = Instant::now();
	let read = tokio::time::timeout(guard, store.get_within(KEY, CAP, DEADLINE))
		.await
		.expect("the deadline holds");
	let took_drip = t.elapsed();
	match read {
		Err(e @ StoreError::TimedOut { .. }) => println!("drip: {e}"),
		other => panic!("a dripping body: expected TimedOut, got {other:?}"),
	}
	assert!(
		took_drip >= DEADLINE && took_drip < DEADLINE + Duration::from_secs(1),
		"{took_drip:?}"
	);

	// The same through the fetch of a round: Invalid for the oversized ones, Missing for the
	// drip, all within one deadline.
	let requests: Vec<BlobRequest> = [&huge, &chunks, &drip]
		.iter()
		.map(|s| BlobRequest {
			url: format!("{}/grads/miner-a", s.endpoint()),
			key: KEY.into(),
			cap: CAP,
		})
		.collect();
	let limits = FetchLimits {
		patience: Duration::ZERO,
		transfer: DEADLINE,
		concurrency: offchain_gpu::roles::FETCH_CONCURRENCY,
	};
	let t = Instant::now();
	let got =
		fetch_blobs(&PeerStores::default(), EndpointPolicy::ALLOW_LOCAL, &requests, limits).await;
	let took_round = t.elapsed();
	assert!(matches!(&got[0], Err(BlobFault::Invalid(_))), "{:?}", got[0]);
	assert!(matches!(&got[1], Err(BlobFault::Invalid(_))), "{:?}", got[1]);
	assert_eq!(got[2], Err(BlobFault::Missing));
	assert!(took_round < DEADLINE + Duration::from_secs(1), "{took_round:?}");

	let after = peak_rss_kib();
	let growth = after.saturating_sub(before);
	println!(
		"peak RSS {before} KiB -> {after} KiB (+{growth} KiB); huge {took_huge:?}, endless chunks {took_chunks:?}, \
		 chunks without length {took_bare:?}, drip {took_drip:?}, round of the three {took_round:?}"
	);
	assert!(growth < 64 * 1024, "peak RSS grew by {growth} KiB reading hostile bodies");
}

/// Peer reads never carry the worker's credentials; the worker's own store does sign, so
/// the capture would see them if a peer read did.
#[tokio::test(flavor = "multi_thread")]
async fn peer_reads_carry_no_credentials() {
	setup();
	let server = HostileServer::start(Mode::Capture);
	let endpoint = server.endpoint();
	for url in
		[format!("{endpoint}/grads/miner-a"), format!("s3://grads/miner-a?endpoint={endpoint}")]
	{
		let store =
			BlobStore::peer(&url, &EndpointPolicy::ALLOW_LOCAL).await.expect("a peer store");
		let read = store.get_within(KEY, CAP, DEADLINE).await;
		assert!(matches!(read, Ok(None)), "{url}: a 404 is an absent blob, got {read:?}");
	}
	let request =
		BlobRequest { url: format!("{endpoint}/grads/miner-a"), key: KEY.into(), cap: CAP };
	let limits = FetchLimits {
		patience: Duration::ZERO,
		transfer: DEADLINE,
		concurrency: offchain_gpu::roles::FETCH_CONCURRENCY,
	};
	let got =
		fetch_blobs(&PeerStores::default(), EndpointPolicy::ALLOW_LOCAL, &[request], limits).await;
	assert_eq!(got, vec![Err(BlobFault::Missing)]);

	let peer_requests = server.requests();
	assert!(peer_requests.len() >= 3, "{peer_requests:?}");
	for r in &peer_requests {
		assert_eq!(r.method, "GET", "peer reads are one GET: {r:?}");
		assert_eq!(r.path, format!("/grads/miner-a/{KEY}"));
		assert!(r.header("authorization").is_none(), "a peer read was signed: {r:?}");
		for (name, value) in &r.headers {
			for secret in [ACCESS_KEY, SECRET_KEY, SESSION_TOKEN] {
				assert!(!value.contains(secret), "a peer read sent {name}: {value}");
			}
		}
	}

	let own =
		BlobStore::from_url(&format!("s3://grads/me?endpoint={endpoint}")).expect("the own store");
	assert!(matches!(own.get(KEY, CAP).await, Ok(None)));
	let own_requests = server.requests().split_off(peer_requests.len());
	assert!(!own_requests.is_empty());
	for r in &own_requests {
		let auth = r
			.header("authorization")
			.unwrap_or_else(|| panic!("the own store did not sign: {r:?}"));
		assert!(auth.contains(ACCESS_KEY), "{auth}");
		assert_eq!(r.header("x-amz-security-token"), Some(SESSION_TOKEN));
	}
	println!(
		"{} peer requests unsigned, {} own-store requests signed",
		peer_requests.len(),
		own_requests.len()
	);
}

/// A loopback store is refused without a request unless local stores are allowed, and a
/// redirect (to anywhere) is not followed.
#[tokio::test(flavor = "multi_thread")]
async fn refused_stores_and_redirects_see_no_request() {
	setup();
	let target = HostileServer::start(Mode::Capture);
	let url = format!("{}/grads/miner-a", target.endpoint());
	let err = BlobStore::peer(&url, &EndpointPolicy::PUBLIC).await.expect_err("a loopback store");
	assert!(matches!(err, StoreError::NonPublicEndpoint { kind: "loopback", .. }), "{err}");
	println!("{err}");
	let request = BlobRequest { url, key: KEY.into(), cap: CAP };
	let limits = FetchLimits {
		patience: Duration::from_secs(1),
		transfer: DEADLINE,
		concurrency: offchain_gpu::roles::FETCH_CONCURRENCY,
	};
	let t = Instant::now();
	let got = fetch_blobs(&PeerStores::default(), EndpointPolicy::PUBLIC, &[request], limits).await;
	assert_eq!(got, vec![Err(BlobFault::Missing)]);
	assert!(
		t.elapsed() < Duration::from_millis(500),
		"a refusal is not retried: {:?}",
		t.elapsed()
	);

	let redirect = HostileServer::start(Mode::Redirect {
		location: format!("{}/grads/miner-a/{KEY}", target.endpoint()),
	});
	let read = peer(&redirect).await.get_within(KEY, CAP, DEADLINE).await;
	assert!(read.is_err(), "a redirect is not a blob: {read:?}");
	assert_eq!(redirect.requests().len(), 1);
	assert!(target.requests().is_empty(), "a request reached the target: {:?}", target.requests());
}

/// Four stores that drip and one honest store: the round's fetch takes one deadline, not
/// five, and returns the honest blob in its place.
#[tokio::test(flavor = "multi_thread")]
async fn stalling_stores_cost_a_round_one_deadline() {
	setup();
	let blob: Vec<u8> = (0..CAP as u32).map(|i| (i * 31 % 251) as u8).collect();
	let honest = HostileServer::start(Mode::Serve {
		path: format!("/grads/miner-e/{KEY}"),
		body: blob.clone(),
	});
	let drips: Vec<HostileServer> =
		(0..4).map(|_| HostileServer::start(Mode::Drip { len: CAP })).collect();
	let mut requests: Vec<BlobRequest> = drips
		.iter()
		.map(|s| BlobRequest {
			url: format!("{}/grads/miner-d", s.endpoint()),
			key: KEY.into(),
			cap: CAP,
		})
		.collect();
	requests.insert(
		2,
		BlobRequest {
			url: format!("{}/grads/miner-e", honest.endpoint()),
			key: KEY.into(),
			cap: CAP,
		},
	);

	let limits = FetchLimits {
		patience: Duration::ZERO,
		transfer: DEADLINE,
		concurrency: offchain_gpu::roles::FETCH_CONCURRENCY,
	};
	let t = Instant::now();
	let got =
		fetch_blobs(&PeerStores::default(), EndpointPolicy::ALLOW_LOCAL, &requests, limits).await;
	let took = t.elapsed();
	assert_eq!(got.len(), 5);
	assert_eq!(got[2].as_deref(), Ok(&blob[..]), "the honest blob, in its place");
	for i in [0, 1, 3, 4] {
		assert_eq!(got[i], Err(BlobFault::Missing), "store {i} drips");
	}
	println!("5 stores, 4 dripping: {took:?} (one deadline is {DEADLINE:?})");
	assert!(took >= DEADLINE && took < DEADLINE + Duration::from_secs(1), "{took:?}");

	// With patience, an absent blob is polled for until the patience ends; the drips still
	// end at patience + transfer.
	let patience = Duration::from_secs(1);
	let t = Instant::now();
	let limits = FetchLimits {
		patience,
		transfer: DEADLINE,
		concurrency: offchain_gpu::roles::FETCH_CONCURRENCY,
	};
	let got =
		fetch_blobs(&PeerStores::default(), EndpointPolicy::ALLOW_LOCAL, &requests, limits).await;
	let took = t.elapsed();
	assert_eq!(got[2].as_deref(), Ok(&blob[..]));
	println!("with {patience:?} patience: {took:?}");
	assert!(took < patience + DEADLINE + Duration::from_secs(1), "{took:?}");
}
