//! Object stores for gradient blobs: a local directory (the embedded default) or any
//! S3-compatible store (S3, R2, MinIO, SeaweedFS) through `object_store`.
//!
//! A worker's store is named on chain by its URL, which is also how every reader opens it:
//!
//! - `file:///absolute/dir` (or a plain absolute path): a directory. Writes go to a temporary
//!   file in the same directory and are renamed into place, so a reader sees either nothing
//!   or the whole blob.
//! - `s3://bucket[/prefix][?endpoint=http(s)://host[:port]&region=NAME]`: a bucket. Without
//!   `endpoint` it is AWS S3 itself.
//! - `http(s)://host[:port]/bucket[/prefix][?region=NAME]`: the same bucket as
//!   `s3://bucket/prefix?endpoint=http(s)://host:port` (path-style requests), the form a
//!   chain that only accepts `s3://`, `https://` and `http://` store URLs takes.
//!
//! There are two ways to open a store, because a store URL read from chain data is chosen by
//! a peer who may be hostile:
//!
//! - [`BlobStore::from_url`]: the worker's OWN store, from its command line. Writes to a
//!   bucket are signed with `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY` (and
//!   `AWS_SESSION_TOKEN`); without them requests are unsigned. No other credential source
//!   (instance metadata, config files) is consulted.
//! - [`BlobStore::peer`] (or [`PeerStores::open`], which keeps one client per URL): a PEER's
//!   store, named on chain. Requests are never signed and the `AWS_*` variables are never
//!   read, so a peer that points its URL at its own server learns nothing about the reader's
//!   credentials. Local directories and hosts at loopback, private, link-local and similar
//!   addresses are refused unless the [`EndpointPolicy`] allows them (`--allow-local-stores`;
//!   see [`policy`] for the checks and what they leave open).
//!
//! Reads never trust a size the store announces: [`BlobStore::get`] takes the most bytes the
//! caller will accept, refuses a larger announced length without reading the body, streams
//! the body into a buffer of at most that size and stops as soon as more arrives.
//! [`BlobStore::get_within`] also bounds the whole request in time.
//!
//! Keys are `run/<run>/round/<round>/<account-hex>/<blob-hash-hex>` for gradients and
//! `run/<run>/checkpoint/<round>/<params-hash-hex>` for checkpoints, below the URL's prefix.

mod location;
pub mod policy;

use std::collections::HashMap;
use std::io::Read;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use object_store::aws::{AmazonS3Builder, AwsCredential};
use object_store::{path::Path as ObjectPath, ObjectStore, PutPayload, StaticCredentialProvider};

use location::{Location, S3Location};
pub use policy::EndpointPolicy;

/// The key of a gradient blob.
pub fn gradient_key(run: u32, round: u64, account: &[u8; 32], hash: &[u8; 32]) -> String {
	format!("run/{run}/round/{round}/{}/{}", hex::encode(account), hex::encode(hash))
}

/// The key of a model checkpoint: `theta_round` with the given parameter hash.
pub fn checkpoint_key(run: u32, round: u64, hash: &[u8; 32]) -> String {
	format!("run/{run}/checkpoint/{round}/{}", hex::encode(hash))
}

/// What can go wrong with a store; each names the URL or key involved.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
	#[error(
		"unsupported store URL {0:?}: use file:///absolute/dir, s3://bucket[/prefix][?endpoint=URL&region=NAME] or http(s)://host[:port]/bucket[/prefix]"
	)]
	UnsupportedUrl(String),
	#[error("invalid store URL {url:?}: {reason}")]
	InvalidUrl { url: String, reason: String },
	#[error("invalid store key {0:?}")]
	InvalidKey(String),
	#[error("object {key} is larger than the {max} bytes expected (at least {len} bytes)")]
	TooLarge { key: String, len: u64, max: u64 },
	#[error("store {url}: reading {key} did not finish within {after:?}; the store is stalled or too slow")]
	TimedOut { url: String, key: String, after: Duration },
	#[error(
		"peer store {url} is a local directory; peers' stores must be public buckets (pass --allow-local-stores on a devnet or private network)"
	)]
	LocalStoreRefused { url: String },
	#[error(
		"peer store {url} is at {addr}, a {kind} address, which a peer may not point readers at (pass --allow-local-stores on a devnet or private network)"
	)]
	NonPublicEndpoint { url: String, host: String, addr: IpAddr, kind: &'static str },
	#[error("peer store {url}: cannot resolve {host}: {source}")]
	Resolve {
		url: String,
		host: String,
		#[source]
		source: std::io::Error,
	},
	#[error("store {url}: {action} {key}: {source}")]
	Io {
		url: String,
		action: &'static str,
		key: String,
		#[source]
		source: Box<dyn std::error::Error + Send + Sync>,
	},
}

impl StoreError {
	/// The store URL itself is refused (malformed, or not allowed for a peer): asking again
	/// gives the same answer.
	pub fn is_refusal(&self) -> bool {
		matches!(
			self,
			StoreError::UnsupportedUrl(_)
				| StoreError::InvalidUrl { .. }
				| StoreError::InvalidKey(_)
				| StoreError::LocalStoreRefused { .. }
				| StoreError::NonPublicEndpoint { .. }
		)
	}
}

/// A blob store, cheap to clone.
#[derive(Clone)]
pub struct BlobStore {
	url: String,
	backend: Backend,
}

#[derive(Clone)]
enum Backend {
	Local(PathBuf),
	S3 { store: Arc<dyn ObjectStore>, prefix: String },
}

impl std::fmt::Debug for BlobStore {
	fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
		f.debug_struct("BlobStore").field("url", &self.url).finish()
	}
}

impl BlobStore {
	/// A local directory (absolute, or relative to the working directory at call time).
	pub fn new(root: impl Into<PathBuf>) -> Self {
		let root = root.into();
		Self { url: format!("file://{}", root.display()), backend: Backend::Local(root) }
	}

	/// The worker's OWN store, named by its operator (see the module docs): a bucket is
	/// written with the `AWS_*` credentials of the environment, if set. Never use it for a
	/// URL read from chain data: that is [`Self::peer`].
	pub fn from_url(url: &str) -> Result<Self, StoreError> {
		let s3 = match location::parse(url)? {
			Location::Local(path) => return Ok(Self::new(path)),
			Location::S3(s3) => s3,
		};
		let endpoint = s3.effective_endpoint();
		let mut builder = Self::s3_builder(&s3)
			.with_retry(object_store::RetryConfig {
				max_retries: 3,
				retry_timeout: Duration::from_secs(20),
				..Default::default()
			})
			.with_client_options(
				object_store::ClientOptions::new()
					.with_allow_http(!endpoint.https)
					.with_connect_timeout(Duration::from_secs(5))
					.with_timeout(Duration::from_secs(60)),
			);
		let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
		builder = match (env("AWS_ACCESS_KEY_ID"), env("AWS_SECRET_ACCESS_KEY")) {
			(Some(id), Some(secret)) => {
				let b = builder.with_access_key_id(id).with_secret_access_key(secret);
				match env("AWS_SESSION_TOKEN") {
					Some(token) => b.with_token(token),
					None => b,
				}
			}
			_ => Self::unsigned(builder),
		};
		Self::build(url, builder, s3.prefix)
	}

	/// A PEER's store, named on chain (see the module docs): never signed, refused if it is
	/// a local directory or at a non-public address unless `policy` allows it. A name is
	/// resolved here (`tokio::net::lookup_host`) and again, with the same check, whenever the
	/// client connects. Prefer [`PeerStores::open`], which reuses one client per URL.
	pub async fn peer(url: &str, policy: &EndpointPolicy) -> Result<Self, StoreError> {
		let s3 = match location::parse(url)? {
			Location::Local(path) if policy.allow_local => return Ok(Self::new(path)),
			Location::Local(_) => return Err(StoreError::LocalStoreRefused { url: url.into() }),
			Location::S3(s3) => s3,
		};
		let endpoint = s3.effective_endpoint();
		policy::check_host(url, &endpoint.host, endpoint.port, policy).await?;
		let builder = Self::s3_builder(&s3)
			.with_allow_http(!endpoint.https)
			.with_http_connector(policy::PeerConnector { policy: *policy, https: endpoint.https })
			// The readers poll and bound every request in time themselves.
			.with_retry(object_store::RetryConfig { max_retries: 0, ..Default::default() });
		Self::build(url, Self::unsigned(builder), s3.prefix)
	}

	/// A builder for the bucket with nothing taken from the environment.
	fn s3_builder(s3: &S3Location) -> AmazonS3Builder {
		let mut builder =
			AmazonS3Builder::new().with_bucket_name(&s3.bucket).with_region(&s3.region);
		if let Some(endpoint) = &s3.endpoint {
			builder = builder.with_endpoint(endpoint.to_string());
		}
		builder
	}

	/// No signature, and an empty static credential so that no credential provider (instance
	/// metadata, web identity, container credentials) is even set up.
	fn unsigned(builder: AmazonS3Builder) -> AmazonS3Builder {
		let none = AwsCredential { key_id: String::new(), secret_key: String::new(), token: None };
		builder
			.with_skip_signature(true)
			.with_credentials(Arc::new(StaticCredentialProvider::new(none)))
	}

	fn build(url: &str, builder: AmazonS3Builder, prefix: String) -> Result<Self, StoreError> {
		let store = builder
			.build()
			.map_err(|e| StoreError::InvalidUrl { url: url.into(), reason: e.to_string() })?;
		Ok(Self { url: url.into(), backend: Backend::S3 { store: Arc::new(store), prefix } })
	}

	/// The URL to publish on chain.
	pub fn url(&self) -> &str {
		&self.url
	}

	/// The directory of a local store.
	pub fn local_root(&self) -> Option<&Path> {
		match &self.backend {
			Backend::Local(root) => Some(root),
			Backend::S3 { .. } => None,
		}
	}

	fn check_key(key: &str) -> Result<(), StoreError> {
		if key.split('/').any(|c| c.is_empty() || c == "." || c == "..") {
			return Err(StoreError::InvalidKey(key.into()));
		}
		Ok(())
	}

	fn object_path(prefix: &str, key: &str) -> Result<ObjectPath, StoreError> {
		let full = if prefix.is_empty() { key.to_string() } else { format!("{prefix}/{key}") };
		ObjectPath::parse(full).map_err(|_| StoreError::InvalidKey(key.into()))
	}

	fn io(
		&self,
		action: &'static str,
		key: &str,
		e: impl std::error::Error + Send + Sync + 'static,
	) -> StoreError {
		StoreError::Io { url: self.url.clone(), action, key: key.into(), source: Box::new(e) }
	}

	/// Writes `bytes` under `key`; a reader sees either nothing or the whole object.
	pub async fn put(&self, key: &str, bytes: &[u8]) -> Result<(), StoreError> {
		Self::check_key(key)?;
		match &self.backend {
			Backend::Local(root) => {
				let path = root.join(key);
				let dir = path.parent().unwrap_or(root);
				std::fs::create_dir_all(dir)
					.map_err(|e| self.io("creating the directory of", key, e))?;
				let tmp = dir.join(format!(
					".tmp-{}-{:?}",
					std::process::id(),
					std::thread::current().id()
				));
				std::fs::write(&tmp, bytes).map_err(|e| self.io("writing", key, e))?;
				std::fs::rename(&tmp, &path).map_err(|e| self.io("renaming into place", key, e))
			}
			Backend::S3 { store, prefix } => {
				let path = Self::object_path(prefix, key)?;
				store
					.put(&path, PutPayload::from(bytes.to_vec()))
					.await
					.map(drop)
					.map_err(|e| self.io("uploading", key, e))
			}
		}
	}

	/// Reads `key` (one GET); `None` if absent. At most `max_len` bytes: a larger announced
	/// length is refused without reading the body, the body is streamed into a buffer of at
	/// most `max_len` bytes and the read stops as soon as more arrives ([`StoreError::TooLarge`]).
	/// Not bounded in time: readers of peer stores use [`Self::get_within`].
	pub async fn get(&self, key: &str, max_len: u64) -> Result<Option<Vec<u8>>, StoreError> {
		Self::check_key(key)?;
		let too_large = |len| StoreError::TooLarge { key: key.into(), len, max: max_len };
		let capacity = |announced: u64| usize::try_from(announced.min(max_len)).unwrap_or(0);
		match &self.backend {
			Backend::Local(root) => {
				let file = match std::fs::File::open(root.join(key)) {
					Ok(f) => f,
					Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
					Err(e) => return Err(self.io("reading", key, e)),
				};
				let len = file.metadata().map_err(|e| self.io("reading", key, e))?.len();
				if len > max_len {
					return Err(too_large(len));
				}
				let mut bytes = Vec::with_capacity(capacity(len));
				// One byte more than allowed tells a file that grew since from one that fits.
				file.take(max_len.saturating_add(1))
					.read_to_end(&mut bytes)
					.map_err(|e| self.io("reading", key, e))?;
				if bytes.len() as u64 > max_len {
					return Err(too_large(bytes.len() as u64));
				}
				Ok(Some(bytes))
			}
			Backend::S3 { store, prefix } => {
				let path = Self::object_path(prefix, key)?;
				let got = match store.get(&path).await {
					Ok(g) => g,
					Err(object_store::Error::NotFound { .. }) => return Ok(None),
					Err(e) => return Err(self.io("downloading", key, e)),
				};
				if got.meta.size > max_len {
					return Err(too_large(got.meta.size));
				}
				let mut bytes = Vec::with_capacity(capacity(got.meta.size));
				let mut body = got.into_stream();
				while let Some(chunk) = body.next().await {
					let chunk = chunk.map_err(|e| self.io("downloading", key, e))?;
					let len = bytes.len() as u64 + chunk.len() as u64;
					if len > max_len {
						return Err(too_large(len));
					}
					bytes.extend_from_slice(&chunk);
				}
				Ok(Some(bytes))
			}
		}
	}

	/// [`Self::get`] cut off after `limit` with [`StoreError::TimedOut`]: a store that
	/// answers slowly, drips its body or never ends it costs a reader at most `limit`.
	pub async fn get_within(
		&self,
		key: &str,
		max_len: u64,
		limit: Duration,
	) -> Result<Option<Vec<u8>>, StoreError> {
		match tokio::time::timeout(limit, self.get(key, max_len)).await {
			Ok(read) => read,
			Err(_) => {
				Err(StoreError::TimedOut { url: self.url.clone(), key: key.into(), after: limit })
			}
		}
	}
}

/// Peer stores opened so far, one client (and its connection pool) per URL and policy,
/// shared by clones. Opening a URL for the first time checks it against the policy
/// ([`BlobStore::peer`]); later opens reuse the client, whose connections are checked again
/// as they are made.
#[derive(Clone, Default)]
pub struct PeerStores(Arc<Mutex<HashMap<(String, EndpointPolicy), BlobStore>>>);

/// More peer stores than this and the cache starts over (peers can change URLs every round).
const MAX_PEER_STORES: usize = 1024;

impl PeerStores {
	/// The peer store at `url` (see [`BlobStore::peer`]); failures are not remembered.
	pub async fn open(&self, url: &str, policy: &EndpointPolicy) -> Result<BlobStore, StoreError> {
		let key = (url.to_string(), *policy);
		if let Some(store) = self.lock().get(&key) {
			return Ok(store.clone());
		}
		let store = BlobStore::peer(url, policy).await?;
		let mut stores = self.lock();
		if stores.len() >= MAX_PEER_STORES {
			stores.clear();
		}
		Ok(stores.entry(key).or_insert(store).clone())
	}

	/// How many clients are kept.
	pub fn len(&self) -> usize {
		self.lock().len()
	}

	pub fn is_empty(&self) -> bool {
		self.len() == 0
	}

	fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(String, EndpointPolicy), BlobStore>> {
		self.0.lock().unwrap_or_else(|e| e.into_inner())
	}
}

#[cfg(test)]
mod tests {
	use super::*;

	#[tokio::test]
	async fn local_put_get_roundtrip_and_bad_keys() {
		let dir = std::env::temp_dir().join(format!("blobstore-test-{}", std::process::id()));
		let store = BlobStore::new(&dir);
		let key = gradient_key(1, 2, &[3; 32], &[4; 32]);
		assert!(store.get(&key, 10).await.unwrap().is_none());
		store.put(&key, b"hello").await.unwrap();
		assert_eq!(store.get(&key, 10).await.unwrap().unwrap(), b"hello");
		assert!(matches!(
			store.get(&key, 2).await,
			Err(StoreError::TooLarge { len: 5, max: 2, .. })
		));
		assert!(matches!(store.put("run/../x", b"").await, Err(StoreError::InvalidKey(_))));
		assert_eq!(BlobStore::from_url(store.url()).unwrap().local_root(), Some(dir.as_path()));
		let _ = std::fs::remove_dir_all(&dir);
	}

	#[test]
	fn urls_are_checked() {
		assert!(matches!(BlobStore::from_url("relative/dir"), Err(StoreError::UnsupportedUrl(_))));
		assert!(matches!(BlobStore::from_url("ftp://x"), Err(StoreError::UnsupportedUrl(_))));
		assert!(matches!(BlobStore::from_url("s3://"), Err(StoreError::InvalidUrl { .. })));
		assert!(matches!(
			BlobStore::from_url("s3://b?endpoint=127.0.0.1:1"),
			Err(StoreError::InvalidUrl { .. })
		));
		assert!(matches!(
			BlobStore::from_url("s3://b?colour=red"),
			Err(StoreError::InvalidUrl { .. })
		));
		assert!(matches!(BlobStore::from_url("s3://b/../x"), Err(StoreError::InvalidUrl { .. })));
		assert!(matches!(
			BlobStore::from_url("http://127.0.0.1:1"),
			Err(StoreError::InvalidUrl { .. })
		));
		let s =
			BlobStore::from_url("s3://grads/team-a?endpoint=http://127.0.0.1:1&region=eu").unwrap();
		assert_eq!(s.url(), "s3://grads/team-a?endpoint=http://127.0.0.1:1&region=eu");
		assert!(s.local_root().is_none());
		let s = BlobStore::from_url("http://127.0.0.1:1/grads/team-a").unwrap();
		assert_eq!(s.url(), "http://127.0.0.1:1/grads/team-a");
		assert!(s.local_root().is_none());
		assert!(BlobStore::from_url("https://s3.example.com/grads").is_ok());
	}

	/// Peer stores at local addresses are refused before any connection, by name.
	#[tokio::test]
	async fn store_peer_local_endpoints_are_refused() {
		let public = EndpointPolicy::PUBLIC;
		let err = BlobStore::peer("file:///tmp/peer", &public).await.unwrap_err();
		assert!(matches!(err, StoreError::LocalStoreRefused { .. }), "{err}");
		assert!(err.to_string().contains("--allow-local-stores"), "{err}");
		assert!(matches!(
			BlobStore::peer("/tmp/peer", &public).await,
			Err(StoreError::LocalStoreRefused { .. })
		));
		for (url, kind) in [
			("s3://grads?endpoint=http://127.0.0.1:8333", "loopback"),
			("http://127.0.0.1:8333/grads/a", "loopback"),
			("https://10.1.2.3/grads", "private"),
			("http://192.168.0.10:9000/grads", "private"),
			("http://100.100.100.100/grads", "shared (CGNAT)"),
			("http://169.254.169.254/latest", "link-local"),
			("http://[::1]:9000/grads", "loopback"),
			("http://[fe80::1]/grads", "link-local"),
			("http://[fd00::1]/grads", "unique-local"),
			("http://0.0.0.0:8333/grads", "unspecified"),
			// A name, through the system resolver (`/etc/hosts`).
			("http://localhost:8333/grads", "loopback"),
		] {
			match BlobStore::peer(url, &public).await {
				Err(StoreError::NonPublicEndpoint { kind: k, .. }) => assert_eq!(k, kind, "{url}"),
				other => panic!("{url}: expected a refusal, got {other:?}"),
			}
		}
		let err = BlobStore::peer("http://169.254.169.254/latest", &public)
			.await
			.unwrap_err()
			.to_string();
		assert!(err.contains("169.254.169.254") && err.contains("--allow-local-stores"), "{err}");
	}

	/// Public-looking literals are accepted (opening connects nowhere); with
	/// `allow_local` everything is.
	#[tokio::test]
	async fn store_peer_public_and_allowed_endpoints_open() {
		for url in [
			"http://8.8.8.8/grads/a",
			"https://[2001:4860:4860::8888]:8443/grads",
			"s3://grads?endpoint=https://1.1.1.1",
		] {
			let s = BlobStore::peer(url, &EndpointPolicy::PUBLIC)
				.await
				.unwrap_or_else(|e| panic!("{url}: {e}"));
			assert_eq!(s.url(), url);
		}
		let allow = EndpointPolicy::ALLOW_LOCAL;
		assert!(BlobStore::peer("http://127.0.0.1:1/grads", &allow).await.is_ok());
		let dir = BlobStore::peer("file:///tmp/peer", &allow).await.unwrap();
		assert_eq!(dir.local_root(), Some(Path::new("/tmp/peer")));
		assert!(matches!(
			BlobStore::peer("ftp://x/b", &allow).await,
			Err(StoreError::UnsupportedUrl(_))
		));
	}

	#[tokio::test]
	async fn store_peer_clients_are_reused_per_url_and_policy() {
		let stores = PeerStores::default();
		let url = "http://127.0.0.1:1/grads";
		stores.open(url, &EndpointPolicy::ALLOW_LOCAL).await.unwrap();
		stores.open(url, &EndpointPolicy::ALLOW_LOCAL).await.unwrap();
		assert_eq!(stores.len(), 1);
		assert!(stores.open(url, &EndpointPolicy::PUBLIC).await.unwrap_err().is_refusal());
		assert_eq!(stores.len(), 1, "a refusal is not kept");
	}

	/// A store that is down is an error naming the URL, not a hang or a panic.
	#[tokio::test]
	async fn unreachable_s3_is_a_named_error() {
		let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
		let s =
			BlobStore::from_url(&format!("s3://grads?endpoint=http://127.0.0.1:{port}")).unwrap();
		let err = s.get("run/0/x", 10).await.unwrap_err();
		assert!(matches!(err, StoreError::Io { .. }), "{err}");
		assert!(err.to_string().contains(&format!("127.0.0.1:{port}")), "{err}");
		let p = BlobStore::peer(
			&format!("http://127.0.0.1:{port}/grads"),
			&EndpointPolicy::ALLOW_LOCAL,
		)
		.await
		.unwrap();
		let err = p.get_within("run/0/x", 10, Duration::from_secs(10)).await.unwrap_err();
		assert!(matches!(err, StoreError::Io { .. }), "{err}");
	}
}
