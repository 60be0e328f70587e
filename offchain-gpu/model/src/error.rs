//! Named errors of the compute path. Config, data and checkpoint errors live next to their
//! modules and convert into [`ModelError`] where a training call can hit them.

use crate::checkpoint::CheckpointError;
use crate::config::ConfigError;
use crate::data::DataError;

/// Why a forward, backward or optimizer call was refused.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
	#[error("invalid model config: {0}")]
	Config(#[from] ConfigError),
	#[error("data error: {0}")]
	Data(#[from] DataError),
	#[error("checkpoint error: {0}")]
	Checkpoint(#[from] CheckpointError),
	#[error("parameter buffer has {got} values, the config needs {expected}")]
	ParamLength { expected: usize, got: usize },
	#[error("batch is malformed: {0}")]
	BadBatch(String),
	#[error("batch sequence length {got} exceeds the model context of {max}")]
	SequenceTooLong { max: usize, got: usize },
	#[error("token id {token} is outside the vocabulary of {vocab}")]
	TokenOutOfRange { token: u32, vocab: usize },
	#[error("loss is not finite ({0})")]
	NonFiniteLoss(f32),
	#[error("gradient norm is not finite")]
	NonFiniteGradient,
}
