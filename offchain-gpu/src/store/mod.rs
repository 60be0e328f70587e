//! Object stores for gradient blobs: a local directory (the embedded default) or any
//! S3-compatible store (S3, R2, MinIO, SeaweedFS) through `object_store`.
//!
//! A peer's store is named on chain by its URL, which is also how every reader opens it:
//!
//! - `file:///absolute/dir` (or a plain absolute path): a directory. Writes go to a temporary
//!   file in the same directory and are renamed into place, so a reader sees either nothing
//!   or the whole blob.
//! - `s3://bucket[/prefix][?endpoint=http://host:port&region=name]`: a bucket. Without
//!   `endpoint` it is AWS S3 itself. Credentials never go on chain: a writer takes them from
//!   `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY` (and `AWS_SESSION_TOKEN`); without them
//!   requests are unsigned, which is how readers fetch from a public-read bucket. No other
//!   credential source (instance metadata, config files) is consulted.
//!
//! Keys are `run/<run>/round/<round>/<account-hex>/<blob-hash-hex>` for gradients and
//! `run/<run>/checkpoint/<round>/<params-hash-hex>` for checkpoints, below the URL's prefix.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use object_store::{aws::AmazonS3Builder, path::Path as ObjectPath, ObjectStore, PutPayload};

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
	#[error("unsupported store URL {0:?}: use file:///absolute/dir or s3://bucket[/prefix][?endpoint=URL&region=NAME]")]
	UnsupportedUrl(String),
	#[error("invalid store URL {url:?}: {reason}")]
	InvalidUrl { url: String, reason: String },
	#[error("invalid store key {0:?}")]
	InvalidKey(String),
	#[error("object {key} is {len} bytes, more than the {max} committed")]
	TooLarge { key: String, len: u64, max: u64 },
	#[error("store {url}: {action} {key}: {source}")]
	Io {
		url: String,
		action: &'static str,
		key: String,
		#[source]
		source: Box<dyn std::error::Error + Send + Sync>,
	},
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

	/// The store a URL names (see the module docs).
	pub fn from_url(url: &str) -> Result<Self, StoreError> {
		if let Some(rest) = url.strip_prefix("s3://") {
			return Self::s3(url, rest);
		}
		let path = url.strip_prefix("file://").unwrap_or(url);
		if !Path::new(path).is_absolute() {
			return Err(StoreError::UnsupportedUrl(url.into()));
		}
		Ok(Self::new(path))
	}

	fn s3(url: &str, rest: &str) -> Result<Self, StoreError> {
		let invalid = |reason: &str| StoreError::InvalidUrl { url: url.into(), reason: reason.into() };
		let (location, query) = rest.split_once('?').unwrap_or((rest, ""));
		let (bucket, prefix) = location.split_once('/').unwrap_or((location, ""));
		if bucket.is_empty() {
			return Err(invalid("no bucket name"));
		}
		let prefix = prefix.trim_matches('/').to_string();
		if prefix.split('/').any(|c| c == "." || c == "..") {
			return Err(invalid("the prefix may not contain . or .."));
		}
		let mut builder = AmazonS3Builder::new()
			.with_bucket_name(bucket)
			.with_region("us-east-1")
			.with_retry(object_store::RetryConfig {
				max_retries: 3,
				retry_timeout: Duration::from_secs(20),
				..Default::default()
			})
			.with_client_options(
				object_store::ClientOptions::new()
					.with_connect_timeout(Duration::from_secs(5))
					.with_timeout(Duration::from_secs(60)),
			);
		for pair in query.split('&').filter(|p| !p.is_empty()) {
			let (k, v) = pair.split_once('=').ok_or_else(|| invalid("query parameters are key=value"))?;
			match k {
				"endpoint" => {
					if !(v.starts_with("http://") || v.starts_with("https://")) {
						return Err(invalid("endpoint must be an http:// or https:// URL"));
					}
					builder = builder.with_endpoint(v).with_allow_http(v.starts_with("http://"));
				}
				"region" => builder = builder.with_region(v),
				other => return Err(invalid(&format!("unknown parameter {other:?} (endpoint, region)"))),
			}
		}
		let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
		builder = match (env("AWS_ACCESS_KEY_ID"), env("AWS_SECRET_ACCESS_KEY")) {
			(Some(id), Some(secret)) => {
				let b = builder.with_access_key_id(id).with_secret_access_key(secret);
				match env("AWS_SESSION_TOKEN") {
					Some(token) => b.with_token(token),
					None => b,
				}
			}
			_ => builder.with_skip_signature(true),
		};
		let store = builder.build().map_err(|e| invalid(&e.to_string()))?;
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

	fn io(&self, action: &'static str, key: &str, e: impl std::error::Error + Send + Sync + 'static) -> StoreError {
		StoreError::Io { url: self.url.clone(), action, key: key.into(), source: Box::new(e) }
	}

	/// Writes `bytes` under `key`; a reader sees either nothing or the whole object.
	pub async fn put(&self, key: &str, bytes: &[u8]) -> Result<(), StoreError> {
		Self::check_key(key)?;
		match &self.backend {
			Backend::Local(root) => {
				let path = root.join(key);
				let dir = path.parent().unwrap_or(root);
				std::fs::create_dir_all(dir).map_err(|e| self.io("creating the directory of", key, e))?;
				let tmp = dir.join(format!(".tmp-{}-{:?}", std::process::id(), std::thread::current().id()));
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

	/// Reads `key`; `None` if absent. Refuses an object larger than `max_len` without
	/// reading its body.
	pub async fn get(&self, key: &str, max_len: u64) -> Result<Option<Vec<u8>>, StoreError> {
		Self::check_key(key)?;
		let too_large = |len| StoreError::TooLarge { key: key.into(), len, max: max_len };
		match &self.backend {
			Backend::Local(root) => {
				let path = root.join(key);
				match std::fs::metadata(&path) {
					Ok(m) if m.len() > max_len => Err(too_large(m.len())),
					Ok(_) => std::fs::read(&path).map(Some).map_err(|e| self.io("reading", key, e)),
					Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
					Err(e) => Err(self.io("reading", key, e)),
				}
			}
			Backend::S3 { store, prefix } => {
				let path = Self::object_path(prefix, key)?;
				let meta = match store.head(&path).await {
					Ok(m) => m,
					Err(object_store::Error::NotFound { .. }) => return Ok(None),
					Err(e) => return Err(self.io("looking up", key, e)),
				};
				if meta.size > max_len {
					return Err(too_large(meta.size));
				}
				let got = match store.get(&path).await {
					Ok(g) => g,
					Err(object_store::Error::NotFound { .. }) => return Ok(None),
					Err(e) => return Err(self.io("downloading", key, e)),
				};
				let bytes = got.bytes().await.map_err(|e| self.io("downloading", key, e))?;
				if bytes.len() as u64 > max_len {
					return Err(too_large(bytes.len() as u64));
				}
				Ok(Some(bytes.to_vec()))
			}
		}
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
		assert!(matches!(store.get(&key, 2).await, Err(StoreError::TooLarge { len: 5, max: 2, .. })));
		assert!(matches!(store.put("run/../x", b"").await, Err(StoreError::InvalidKey(_))));
		assert_eq!(BlobStore::from_url(store.url()).unwrap().local_root(), Some(dir.as_path()));
		let _ = std::fs::remove_dir_all(&dir);
	}

	#[test]
	fn urls_are_checked() {
		assert!(matches!(BlobStore::from_url("relative/dir"), Err(StoreError::UnsupportedUrl(_))));
		assert!(matches!(BlobStore::from_url("ftp://x"), Err(StoreError::UnsupportedUrl(_))));
		assert!(matches!(BlobStore::from_url("s3://"), Err(StoreError::InvalidUrl { .. })));
		assert!(matches!(BlobStore::from_url("s3://b?endpoint=127.0.0.1:1"), Err(StoreError::InvalidUrl { .. })));
		assert!(matches!(BlobStore::from_url("s3://b?colour=red"), Err(StoreError::InvalidUrl { .. })));
		assert!(matches!(BlobStore::from_url("s3://b/../x"), Err(StoreError::InvalidUrl { .. })));
		let s = BlobStore::from_url("s3://grads/team-a?endpoint=http://127.0.0.1:1&region=eu").unwrap();
		assert_eq!(s.url(), "s3://grads/team-a?endpoint=http://127.0.0.1:1&region=eu");
		assert!(s.local_root().is_none());
	}

	/// A store that is down is an error naming the URL, not a hang or a panic.
	#[tokio::test]
	async fn unreachable_s3_is_a_named_error() {
		let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
		let s = BlobStore::from_url(&format!("s3://grads?endpoint=http://127.0.0.1:{port}")).unwrap();
		let err = s.get("run/0/x", 10).await.unwrap_err();
		assert!(matches!(err, StoreError::Io { .. }), "{err}");
		assert!(err.to_string().contains(&format!("127.0.0.1:{port}")), "{err}");
	}
}
