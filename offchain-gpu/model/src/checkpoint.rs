//! Parameter checkpoints: a fixed header followed by the raw little-endian f32 values.
//!
//! ```text
//! offset  size  field
//!      0     8  magic "TMODELCK"
//!      8     4  format version, u32 le (currently 1)
//!     12    32  config hash (ModelConfig::config_hash)
//!     44     8  number of parameters, u64 le
//!     52    32  content hash: blake2b-256 of the parameter bytes below
//!     84  4*n  parameters, f32 le, in ParamLayout order
//! ```
//!
//! Loading is bounded: the expected length comes from the caller's config, never from the
//! file, so a hostile checkpoint can only produce a [`CheckpointError`].

use std::io::{Read, Write};
use std::path::Path;

use blake2::digest::consts::U32;
use blake2::{Blake2b, Digest};

use crate::config::ModelConfig;

pub const MAGIC: [u8; 8] = *b"TMODELCK";
pub const VERSION: u32 = 1;
pub const HEADER_LEN: usize = 84;

/// Why a checkpoint was refused.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
	#[error("checkpoint I/O failed: {0}")]
	Io(#[from] std::io::Error),
	#[error("not a checkpoint (bad magic)")]
	BadMagic,
	#[error("unsupported checkpoint version {0} (this build reads {VERSION})")]
	UnsupportedVersion(u32),
	#[error("checkpoint is for another model config")]
	ConfigMismatch,
	#[error("checkpoint holds {found} parameters, the config needs {expected}")]
	ParamCount { expected: u64, found: u64 },
	#[error("checkpoint is {found} bytes, expected {expected}")]
	Size { expected: u64, found: u64 },
	#[error("checkpoint content hash does not match its parameters")]
	HashMismatch,
	#[error("parameter {index} is not finite")]
	NonFinite { index: usize },
	#[error("invalid config: {0}")]
	Config(#[from] crate::config::ConfigError),
}

/// blake2b-256 of the parameters as little-endian f32 bytes: the model fingerprint that
/// peers compare.
pub fn params_hash(params: &[f32]) -> [u8; 32] {
	let mut h = Blake2b::<U32>::new();
	for chunk in params.chunks(4096) {
		let bytes: Vec<u8> = chunk.iter().flat_map(|v| v.to_le_bytes()).collect();
		h.update(&bytes);
	}
	h.finalize().into()
}

fn expected_size(cfg: &ModelConfig) -> Result<(usize, u64), CheckpointError> {
	cfg.validate()?;
	let n = cfg.num_params();
	Ok((n, HEADER_LEN as u64 + 4 * n as u64))
}

/// Serializes `params` for `cfg`.
pub fn encode(cfg: &ModelConfig, params: &[f32]) -> Result<Vec<u8>, CheckpointError> {
	let (n, size) = expected_size(cfg)?;
	if params.len() != n {
		return Err(CheckpointError::ParamCount { expected: n as u64, found: params.len() as u64 });
	}
	let mut out = Vec::with_capacity(size as usize);
	out.extend_from_slice(&MAGIC);
	out.extend_from_slice(&VERSION.to_le_bytes());
	out.extend_from_slice(&cfg.config_hash());
	out.extend_from_slice(&(n as u64).to_le_bytes());
	out.extend_from_slice(&params_hash(params));
	for v in params {
		out.extend_from_slice(&v.to_le_bytes());
	}
	Ok(out)
}

/// Parses and verifies a checkpoint for `cfg`.
pub fn decode(cfg: &ModelConfig, bytes: &[u8]) -> Result<Vec<f32>, CheckpointError> {
	let (n, size) = expected_size(cfg)?;
	if bytes.len() < HEADER_LEN {
		return Err(CheckpointError::Size { expected: size, found: bytes.len() as u64 });
	}
	let (header, body) = bytes.split_at(HEADER_LEN);
	if header[..8] != MAGIC {
		return Err(CheckpointError::BadMagic);
	}
	let field = |at: usize, len: usize| &header[at..at + len];
	let version =
		u32::from_le_bytes(field(8, 4).try_into().map_err(|_| CheckpointError::BadMagic)?);
	if version != VERSION {
		return Err(CheckpointError::UnsupportedVersion(version));
	}
	if field(12, 32) != cfg.config_hash() {
		return Err(CheckpointError::ConfigMismatch);
	}
	let count = u64::from_le_bytes(field(44, 8).try_into().map_err(|_| CheckpointError::BadMagic)?);
	if count != n as u64 {
		return Err(CheckpointError::ParamCount { expected: n as u64, found: count });
	}
	if bytes.len() as u64 != size {
		return Err(CheckpointError::Size { expected: size, found: bytes.len() as u64 });
	}
	let params: Vec<f32> =
		body.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
	if params_hash(&params) != field(52, 32) {
		return Err(CheckpointError::HashMismatch);
	}
	if let Some(index) = params.iter().position(|v| !v.is_finite()) {
		return Err(CheckpointError::NonFinite { index });
	}
	Ok(params)
}

/// Writes a checkpoint atomically (temporary file, then rename).
pub fn save(path: &Path, cfg: &ModelConfig, params: &[f32]) -> Result<(), CheckpointError> {
	let bytes = encode(cfg, params)?;
	let tmp = path.with_extension("tmp");
	{
		let mut f = std::fs::File::create(&tmp)?;
		f.write_all(&bytes)?;
		f.sync_all()?;
	}
	std::fs::rename(&tmp, path)?;
	Ok(())
}

/// Reads and verifies a checkpoint, reading at most the size `cfg` implies (plus one byte
/// to detect trailing data).
pub fn load(path: &Path, cfg: &ModelConfig) -> Result<Vec<f32>, CheckpointError> {
	let (_, size) = expected_size(cfg)?;
	let mut bytes = Vec::new();
	std::fs::File::open(path)?.take(size + 1).read_to_end(&mut bytes)?;
	decode(cfg, &bytes)
}

#[cfg(test)]
mod tests {
	use super::*;
	use crate::init::init_params;

	fn sample() -> (ModelConfig, Vec<f32>, Vec<u8>) {
		let cfg = ModelConfig::tiny();
		let params = init_params(&cfg, 9);
		let bytes = encode(&cfg, &params).unwrap();
		(cfg, params, bytes)
	}

	#[test]
	fn round_trips_through_bytes_and_files() {
		let (cfg, params, bytes) = sample();
		assert_eq!(bytes.len(), HEADER_LEN + 4 * params.len());
		assert_eq!(decode(&cfg, &bytes).unwrap(), params);
		let path = std::env::temp_dir().join(format!("ckpt-{}.bin", std::process::id()));
		save(&path, &cfg, &params).unwrap();
		assert_eq!(load(&path, &cfg).unwrap(), params);
		let _ = std::fs::remove_file(&path);
	}

	#[test]
	fn rejects_every_kind_of_damage() {
		let (cfg, _, bytes) = sample();
		let mut b = bytes.clone();
		b[0] ^= 1;
		assert!(matches!(decode(&cfg, &b), Err(CheckpointError::BadMagic)));
		let mut b = bytes.clone();
		b[8] = 2;
		assert!(matches!(decode(&cfg, &b), Err(CheckpointError::UnsupportedVersion(2))));
		let other = ModelConfig { d_ff: 24, ..cfg.clone() };
		assert!(matches!(decode(&other, &bytes), Err(CheckpointError::ConfigMismatch)));
		let mut b = bytes.clone();
		b[44] ^= 1;
		assert!(matches!(decode(&cfg, &b), Err(CheckpointError::ParamCount { .. })));
		assert!(matches!(
			decode(&cfg, &bytes[..bytes.len() - 4]),
			Err(CheckpointError::Size { .. })
		));
		assert!(matches!(decode(&cfg, &bytes[..10]), Err(CheckpointError::Size { .. })));
		let mut b = bytes.clone();
		b.push(0);
		assert!(matches!(decode(&cfg, &b), Err(CheckpointError::Size { .. })));
		let mut b = bytes.clone();
		let last = b.len() - 1;
		b[last] ^= 0x40;
		assert!(matches!(decode(&cfg, &b), Err(CheckpointError::HashMismatch)));
		// A consistent file holding a NaN is still refused.
		let mut params = init_params(&cfg, 9);
		params[3] = f32::NAN;
		let nan = encode(&cfg, &params).unwrap();
		assert!(matches!(decode(&cfg, &nan), Err(CheckpointError::NonFinite { index: 3 })));
	}
}
