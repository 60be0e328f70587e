//! Model hyper-parameters: presets, JSON file form and the canonical hash every participant
//! compares before exchanging parameters or gradients.

use std::path::Path;

use blake2::digest::consts::U32;
use blake2::{Blake2b, Digest};
use serde::{Deserialize, Serialize};

/// Upper bounds checked on every config, so a hostile file cannot ask for absurd buffers.
pub mod limits {
	pub const MAX_VOCAB: usize = 1 << 20;
	pub const MAX_D_MODEL: usize = 1 << 14;
	pub const MAX_LAYERS: usize = 256;
	pub const MAX_D_FF: usize = 1 << 16;
	pub const MAX_SEQ_LEN: usize = 1 << 16;
	/// At most 2^33 parameters (32 GiB of f32).
	pub const MAX_PARAMS: usize = 1 << 33;
}

/// Why a config was rejected.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
	#[error("{field} must be in 1..={max}, got {got}")]
	OutOfRange { field: &'static str, max: usize, got: usize },
	#[error("d_model {d_model} is not divisible by n_heads {n_heads}")]
	HeadsDontDivide { d_model: usize, n_heads: usize },
	#[error("head dimension {0} must be even for rotary embeddings")]
	OddHeadDim(usize),
	#[error("{field} must be finite and positive, got {got}")]
	BadFloat { field: &'static str, got: f64 },
	#[error("the model would have more than {} parameters", limits::MAX_PARAMS)]
	TooManyParams,
	#[error("unknown preset {0:?} (known: tiny, small, medium, gpt2-124m)")]
	UnknownPreset(String),
	#[error("cannot read or write config file: {0}")]
	Io(#[from] std::io::Error),
	#[error("config file is not valid JSON for a model config: {0}")]
	Json(#[from] serde_json::Error),
}

/// What training a model holds in memory, by part (see [`ModelConfig::training_memory`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TrainingMemory {
	/// Parameters, gradients and AdamW's first and second moments.
	pub state_bytes: usize,
	/// The CPU backend's forward/backward buffers.
	pub cpu_workspace_bytes: usize,
	/// The CUDA backend's.
	pub gpu_workspace_bytes: usize,
}

impl TrainingMemory {
	/// Everything a GPU holds for training (without the CUDA context and cuBLAS workspace).
	pub fn gpu_total(&self) -> usize {
		self.state_bytes + self.gpu_workspace_bytes
	}
}

/// Shape of a LLaMA-style decoder. Two configs with the same [`ModelConfig::config_hash`]
/// produce identical parameter layouts and identical math.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelConfig {
	/// Number of token ids (embedding rows; the output head is tied to the embedding).
	pub vocab_size: usize,
	/// Width of the residual stream.
	pub d_model: usize,
	pub n_layers: usize,
	pub n_heads: usize,
	/// Hidden width of the SwiGLU feed-forward block.
	pub d_ff: usize,
	/// Longest context the model is trained and evaluated on.
	pub seq_len: usize,
	/// Base of the rotary embedding frequencies.
	pub rope_theta: f64,
	/// Epsilon added to the mean square inside RMSNorm.
	pub norm_eps: f64,
}

impl ModelConfig {
	/// A few thousand parameters: for unit tests and gradient checks.
	pub fn tiny() -> Self {
		Self {
			vocab_size: crate::data::tokenizer::VOCAB_SIZE,
			d_model: 8,
			n_layers: 2,
			n_heads: 2,
			d_ff: 16,
			seq_len: 16,
			rope_theta: 10_000.0,
			norm_eps: 1e-5,
		}
	}

	/// The default devnet model (about 1.8M parameters): small enough to train at a useful
	/// rate on a 2-core CPU, large enough for compression and scoring to be meaningful.
	pub fn small() -> Self {
		Self {
			vocab_size: crate::data::tokenizer::VOCAB_SIZE,
			d_model: 192,
			n_layers: 4,
			n_heads: 6,
			d_ff: 512,
			seq_len: 128,
			rope_theta: 10_000.0,
			norm_eps: 1e-5,
		}
	}

	/// About 25M parameters, 512 tokens of context, the byte vocabulary: a model one
	/// consumer GPU trains at a useful rate.
	pub fn medium() -> Self {
		Self {
			vocab_size: crate::data::tokenizer::VOCAB_SIZE,
			d_model: 512,
			n_layers: 8,
			n_heads: 8,
			d_ff: 1376,
			seq_len: 512,
			rope_theta: 10_000.0,
			norm_eps: 1e-5,
		}
	}

	/// The GPT-2-small scale (123,587,328 parameters): 12 layers of width 768 with 12 heads, 1024
	/// tokens of context, a SwiGLU block of 2048 (the parameters of GPT-2's 3072-wide MLP)
	/// and GPT-2's 50,257-token vocabulary padded to 50,304 (a multiple of 128), so that
	/// shards tokenized with GPT-2's tokenizer train it as they are.
	pub fn gpt2_124m() -> Self {
		Self {
			vocab_size: 50_304,
			d_model: 768,
			n_layers: 12,
			n_heads: 12,
			d_ff: 2048,
			seq_len: 1024,
			rope_theta: 10_000.0,
			norm_eps: 1e-5,
		}
	}

	/// The presets' names, smallest first.
	pub const PRESETS: [&'static str; 4] = ["tiny", "small", "medium", "gpt2-124m"];

	/// Looks a preset up by name (one of [`Self::PRESETS`]).
	pub fn preset(name: &str) -> Result<Self, ConfigError> {
		match name {
			"tiny" => Ok(Self::tiny()),
			"small" => Ok(Self::small()),
			"medium" => Ok(Self::medium()),
			"gpt2-124m" => Ok(Self::gpt2_124m()),
			other => Err(ConfigError::UnknownPreset(other.to_owned())),
		}
	}

	pub fn head_dim(&self) -> usize {
		self.d_model / self.n_heads
	}

	/// Checks every field against [`limits`] and the structural constraints.
	pub fn validate(&self) -> Result<(), ConfigError> {
		let ranges = [
			("vocab_size", self.vocab_size, limits::MAX_VOCAB),
			("d_model", self.d_model, limits::MAX_D_MODEL),
			("n_layers", self.n_layers, limits::MAX_LAYERS),
			("n_heads", self.n_heads, limits::MAX_D_MODEL),
			("d_ff", self.d_ff, limits::MAX_D_FF),
			("seq_len", self.seq_len, limits::MAX_SEQ_LEN),
		];
		for (field, got, max) in ranges {
			if got == 0 || got > max {
				return Err(ConfigError::OutOfRange { field, max, got });
			}
		}
		if !self.d_model.is_multiple_of(self.n_heads) {
			return Err(ConfigError::HeadsDontDivide {
				d_model: self.d_model,
				n_heads: self.n_heads,
			});
		}
		if !self.head_dim().is_multiple_of(2) {
			return Err(ConfigError::OddHeadDim(self.head_dim()));
		}
		for (field, got) in [("rope_theta", self.rope_theta), ("norm_eps", self.norm_eps)] {
			if !(got.is_finite() && got > 0.0) {
				return Err(ConfigError::BadFloat { field, got });
			}
		}
		self.checked_num_params().ok_or(ConfigError::TooManyParams).map(|_| ())
	}

	/// Total parameter count, `None` on overflow or above [`limits::MAX_PARAMS`].
	pub(crate) fn checked_num_params(&self) -> Option<usize> {
		let d = self.d_model;
		let per_layer = d
			.checked_mul(d)?
			.checked_mul(4)?
			.checked_add(d.checked_mul(self.d_ff)?.checked_mul(3)?)?
			.checked_add(d.checked_mul(2)?)?;
		let total = self
			.vocab_size
			.checked_mul(d)?
			.checked_add(per_layer.checked_mul(self.n_layers)?)?
			.checked_add(d)?;
		(total <= limits::MAX_PARAMS).then_some(total)
	}

	/// Number of f32 parameters. Call on a validated config.
	pub fn num_params(&self) -> usize {
		self.checked_num_params().unwrap_or(usize::MAX)
	}

	/// Bytes a training step of `batch` sequences of `seq` tokens holds (f32 everywhere):
	/// parameters, gradients and AdamW's two moments, plus the forward/backward workspace of
	/// each backend. Counted from the buffers the backends allocate (a test checks the CPU
	/// count against the workspace itself); the CUDA backend's workspace adds the attention
	/// probabilities' gradient, per-token losses and the token ids.
	pub fn training_memory(&self, batch: usize, seq: usize) -> TrainingMemory {
		let (l, d, f, v) = (self.n_layers, self.d_model, self.d_ff, self.vocab_size);
		let n = batch * seq;
		let probs = batch * self.n_heads * seq * seq;
		let per_layer = 7 * n * d + 2 * n + probs + 3 * n * f;
		let gradients = 6 * n * d + 3 * n * f;
		let cpu = (l + 1) * n * d + l * per_layer + n * d + n + n * v + gradients;
		let gpu = cpu + probs + n + 2 * n;
		TrainingMemory {
			state_bytes: 4 * 4 * self.num_params(),
			cpu_workspace_bytes: 4 * cpu,
			gpu_workspace_bytes: 4 * gpu,
		}
	}

	/// blake2b-256 over a canonical binary encoding: a domain tag, then every field in
	/// declaration order, integers as u64 little-endian and floats as their IEEE-754 bits.
	/// Independent of JSON formatting, so it is stable across serializers.
	pub fn config_hash(&self) -> [u8; 32] {
		let mut h = Blake2b::<U32>::new();
		h.update(b"training-model/config/v1");
		for v in
			[self.vocab_size, self.d_model, self.n_layers, self.n_heads, self.d_ff, self.seq_len]
		{
			h.update((v as u64).to_le_bytes());
		}
		h.update(self.rope_theta.to_bits().to_le_bytes());
		h.update(self.norm_eps.to_bits().to_le_bytes());
		h.finalize().into()
	}

	/// Parses and validates a JSON config.
	pub fn from_json(text: &str) -> Result<Self, ConfigError> {
		let cfg: Self = serde_json::from_str(text)?;
		cfg.validate()?;
		Ok(cfg)
	}

	pub fn to_json(&self) -> String {
		// A struct of plain numbers always serializes.
		serde_json::to_string_pretty(self).unwrap_or_default()
	}

	/// Reads a JSON config file (at most 64 KiB) and validates it.
	pub fn load(path: &Path) -> Result<Self, ConfigError> {
		use std::io::Read;
		let mut text = String::new();
		std::fs::File::open(path)?.take(64 * 1024).read_to_string(&mut text)?;
		Self::from_json(&text)
	}

	pub fn save(&self, path: &Path) -> Result<(), ConfigError> {
		std::fs::write(path, self.to_json())?;
		Ok(())
	}
}

impl Default for ModelConfig {
	fn default() -> Self {
		Self::small()
	}
}

#[cfg(test)]
mod tests {
	use super::*;

	#[test]
	fn presets_are_valid_and_sized_as_documented() {
		let tiny = ModelConfig::tiny();
		tiny.validate().unwrap();
		assert!((2_000..10_000).contains(&tiny.num_params()), "{}", tiny.num_params());
		let small = ModelConfig::small();
		small.validate().unwrap();
		assert!((1_000_000..3_000_000).contains(&small.num_params()), "{}", small.num_params());
		let medium = ModelConfig::medium();
		medium.validate().unwrap();
		assert!((20_000_000..30_000_000).contains(&medium.num_params()), "{}", medium.num_params());
		let gpt2 = ModelConfig::gpt2_124m();
		gpt2.validate().unwrap();
		assert_eq!(gpt2.num_params(), 123_587_328);
		let mut hashes: Vec<_> = ModelConfig::PRESETS
			.iter()
			.map(|name| ModelConfig::preset(name).unwrap().config_hash())
			.collect();
		hashes.sort();
		hashes.dedup();
		assert_eq!(hashes.len(), ModelConfig::PRESETS.len(), "every preset has its own hash");
	}

	#[test]
	fn json_round_trip_keeps_hash() {
		let cfg = ModelConfig::small();
		let back = ModelConfig::from_json(&cfg.to_json()).unwrap();
		assert_eq!(cfg, back);
		assert_eq!(cfg.config_hash(), back.config_hash());
		let dir = std::env::temp_dir().join(format!("model-config-{}.json", std::process::id()));
		cfg.save(&dir).unwrap();
		assert_eq!(ModelConfig::load(&dir).unwrap(), cfg);
		let _ = std::fs::remove_file(&dir);
	}

	#[test]
	fn tiny_hash_is_pinned() {
		// Computed independently with Python's hashlib.blake2b(digest_size=32) from the
		// encoding documented on `config_hash`.
		let hex: String =
			ModelConfig::tiny().config_hash().iter().map(|b| format!("{b:02x}")).collect();
		assert_eq!(hex, "6d47bdd66a5636d38d17e95347adaf6cbf8519d0bd14082c3d2d29af863c172e");
	}

	#[test]
	fn hash_changes_with_every_field() {
		let base = ModelConfig::tiny();
		let variants = [
			ModelConfig { vocab_size: 300, ..base.clone() },
			ModelConfig { d_model: 16, ..base.clone() },
			ModelConfig { n_layers: 3, ..base.clone() },
			ModelConfig { n_heads: 4, ..base.clone() },
			ModelConfig { d_ff: 32, ..base.clone() },
			ModelConfig { seq_len: 32, ..base.clone() },
			ModelConfig { rope_theta: 500.0, ..base.clone() },
			ModelConfig { norm_eps: 1e-6, ..base.clone() },
		];
		for v in variants {
			assert_ne!(v.config_hash(), base.config_hash(), "{v:?}");
		}
	}

	#[test]
	fn rejects_bad_configs() {
		let base = ModelConfig::tiny();
		assert!(matches!(
			ModelConfig { n_heads: 3, ..base.clone() }.validate(),
			Err(ConfigError::HeadsDontDivide { .. })
		));
		assert!(matches!(
			ModelConfig { d_model: 6, n_heads: 2, ..base.clone() }.validate(),
			Err(ConfigError::OddHeadDim(3))
		));
		assert!(matches!(
			ModelConfig { vocab_size: 0, ..base.clone() }.validate(),
			Err(ConfigError::OutOfRange { field: "vocab_size", .. })
		));
		assert!(matches!(
			ModelConfig { norm_eps: f64::NAN, ..base.clone() }.validate(),
			Err(ConfigError::BadFloat { .. })
		));
		let huge = ModelConfig { d_model: 16384, n_heads: 1, d_ff: 65536, n_layers: 256, ..base };
		assert!(matches!(huge.validate(), Err(ConfigError::TooManyParams)));
		assert!(ModelConfig::from_json("{\"vocab_size\": 1}").is_err());
		assert!(matches!(ModelConfig::preset("huge"), Err(ConfigError::UnknownPreset(_))));
	}
}
