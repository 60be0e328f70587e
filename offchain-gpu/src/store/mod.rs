//! Object store for gradient blobs: a local directory (the embedded default).
//!
//! Keys are `run/<run>/round/<round>/<account-hex>/<blob-hash-hex>`; a peer's store is named
//! on chain by its URL, `file:///absolute/dir` (or a plain absolute path). Writes go to a
//! temporary file in the same directory and are renamed into place, so a reader sees either
//! nothing or the whole blob.
//!
//! Simplification: `object_store` (and with it S3-compatible stores) is not wired in yet —
//! its crate is not in this workspace's offline registry cache; std::fs with atomic rename
//! gives the same semantics for a local directory. The [`BlobStore`] API is what an S3
//! backend would implement.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

/// The key of a gradient blob.
pub fn gradient_key(run: u32, round: u64, account: &[u8; 32], hash: &[u8; 32]) -> String {
	format!("run/{run}/round/{round}/{}/{}", hex::encode(account), hex::encode(hash))
}

/// A local-directory blob store.
#[derive(Clone, Debug)]
pub struct BlobStore {
	root: PathBuf,
}

impl BlobStore {
	pub fn new(root: impl Into<PathBuf>) -> Self {
		Self { root: root.into() }
	}

	/// The store a peer's on-chain URL names (`file:///dir` or `/dir`).
	pub fn from_url(url: &str) -> Result<Self> {
		let path = url.strip_prefix("file://").unwrap_or(url);
		if !Path::new(path).is_absolute() {
			bail!("unsupported store URL {url:?}: only file:///absolute/dir is supported");
		}
		Ok(Self::new(path))
	}

	/// The URL to publish on chain.
	pub fn url(&self) -> String {
		format!("file://{}", self.root.display())
	}

	pub fn root(&self) -> &Path {
		&self.root
	}

	fn path(&self, key: &str) -> Result<PathBuf> {
		if key.split('/').any(|c| c.is_empty() || c == "." || c == "..") {
			bail!("invalid store key {key:?}");
		}
		Ok(self.root.join(key))
	}

	/// Writes `bytes` under `key` atomically.
	pub fn put(&self, key: &str, bytes: &[u8]) -> Result<()> {
		let path = self.path(key)?;
		let dir = path.parent().context("key without a directory")?;
		std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
		let tmp = dir.join(format!(".tmp-{}-{:?}", std::process::id(), std::thread::current().id()));
		std::fs::write(&tmp, bytes).with_context(|| format!("writing {}", tmp.display()))?;
		std::fs::rename(&tmp, &path).with_context(|| format!("renaming into {}", path.display()))?;
		Ok(())
	}

	/// Reads `key`; `None` if absent. Refuses objects larger than `max_len` without reading them.
	pub fn get(&self, key: &str, max_len: u64) -> Result<Option<Vec<u8>>> {
		let path = self.path(key)?;
		match std::fs::metadata(&path) {
			Ok(m) if m.len() > max_len => bail!("object {key} is {} bytes, more than {max_len}", m.len()),
			Ok(_) => Ok(Some(std::fs::read(&path)?)),
			Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
			Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
		}
	}
}

#[cfg(test)]
mod tests {
	use super::*;

	#[test]
	fn put_get_roundtrip_and_bad_keys() {
		let dir = std::env::temp_dir().join(format!("blobstore-test-{}", std::process::id()));
		let store = BlobStore::new(&dir);
		let key = gradient_key(1, 2, &[3; 32], &[4; 32]);
		assert!(store.get(&key, 10).unwrap().is_none());
		store.put(&key, b"hello").unwrap();
		assert_eq!(store.get(&key, 10).unwrap().unwrap(), b"hello");
		assert!(store.get(&key, 2).is_err());
		assert!(store.put("run/../x", b"").is_err());
		assert_eq!(BlobStore::from_url(&store.url()).unwrap().root(), dir.as_path());
		let _ = std::fs::remove_dir_all(&dir);
	}
}
