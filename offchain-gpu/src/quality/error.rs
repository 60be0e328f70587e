//! Why the training-quality benchmark stopped.

use std::path::PathBuf;

use super::config::ConfigError;
use super::curve::Method;

#[derive(Debug, thiserror::Error)]
pub enum QualityError {
	#[error("invalid benchmark configuration: {0}")]
	Config(#[from] ConfigError),
	#[error("training or evaluation failed: {0}")]
	Model(#[from] training_model::ModelError),
	#[error("device: {0:#}")]
	Device(#[from] anyhow::Error),
	#[error("data: {0}")]
	Data(#[from] training_model::DataError),
	#[error("the model's tensors do not form a compression layout: {0}")]
	Layout(#[from] sparseloco::LayoutError),
	#[error("invalid compression parameters: {0}")]
	Params(#[from] sparseloco::ParamsError),
	#[error("compression failed: {0}")]
	Compress(#[from] sparseloco::CompressError),
	#[error("wire format: {0}")]
	Wire(#[from] sparseloco::WireError),
	#[error("aggregation failed: {0}")]
	Aggregate(#[from] sparseloco::AggregateError),
	#[error("{method}, round {round}")]
	InMethod {
		method: Method,
		round: u64,
		#[source]
		source: Box<QualityError>,
	},
	#[error("cannot write {path}")]
	Write {
		path: PathBuf,
		#[source]
		source: std::io::Error,
	},
}
