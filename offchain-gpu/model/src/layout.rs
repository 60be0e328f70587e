//! The named parameter layout: every tensor of the model at a fixed offset in one flat
//! buffer. Gradients and AdamW moments use the same layout, so a compressor can chunk any of
//! them by tensor with [`ParamLayout::tensors`].

use std::ops::Range;

use blake2::digest::consts::U32;
use blake2::{Blake2b, Digest};

use crate::config::ModelConfig;

/// One named tensor inside the flat buffer (row-major).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TensorSpec {
	pub name: String,
	pub shape: Vec<usize>,
	pub offset: usize,
}

impl TensorSpec {
	pub fn len(&self) -> usize {
		self.shape.iter().product()
	}

	pub fn is_empty(&self) -> bool {
		self.len() == 0
	}

	pub fn range(&self) -> Range<usize> {
		self.offset..self.offset + self.len()
	}

	/// Matrices (embedding and projections) get weight decay; norm gains do not.
	pub fn is_matrix(&self) -> bool {
		self.shape.len() == 2
	}
}

/// Ranges of one decoder layer's tensors. Linear weights are `[out, in]` (`y = x W^T`).
#[derive(Clone, Debug)]
pub struct LayerRanges {
	pub attn_norm: Range<usize>,
	pub wq: Range<usize>,
	pub wk: Range<usize>,
	pub wv: Range<usize>,
	pub wo: Range<usize>,
	pub ffn_norm: Range<usize>,
	pub w_gate: Range<usize>,
	pub w_up: Range<usize>,
	pub w_down: Range<usize>,
}

/// The full layout, in order: `tok_embedding [vocab, d]`, then per layer `attn_norm [d]`,
/// `wq`, `wk`, `wv`, `wo [d, d]`, `ffn_norm [d]`, `w_gate`, `w_up [d_ff, d]`,
/// `w_down [d, d_ff]`, and finally `final_norm [d]`. The output head is tied to
/// `tok_embedding`.
#[derive(Clone, Debug)]
pub struct ParamLayout {
	specs: Vec<TensorSpec>,
	layers: Vec<LayerRanges>,
	embedding: Range<usize>,
	final_norm: Range<usize>,
	len: usize,
}

impl ParamLayout {
	/// Builds the layout of a (validated) config.
	pub fn new(cfg: &ModelConfig) -> Self {
		let (d, f) = (cfg.d_model, cfg.d_ff);
		let mut specs = Vec::new();
		let mut offset = 0;
		let mut push = |name: String, shape: Vec<usize>| {
			let spec = TensorSpec { name, shape, offset };
			offset += spec.len();
			let range = spec.range();
			specs.push(spec);
			range
		};
		let embedding = push("tok_embedding".into(), vec![cfg.vocab_size, d]);
		let layers = (0..cfg.n_layers)
			.map(|l| LayerRanges {
				attn_norm: push(format!("layers.{l}.attn_norm"), vec![d]),
				wq: push(format!("layers.{l}.wq"), vec![d, d]),
				wk: push(format!("layers.{l}.wk"), vec![d, d]),
				wv: push(format!("layers.{l}.wv"), vec![d, d]),
				wo: push(format!("layers.{l}.wo"), vec![d, d]),
				ffn_norm: push(format!("layers.{l}.ffn_norm"), vec![d]),
				w_gate: push(format!("layers.{l}.w_gate"), vec![f, d]),
				w_up: push(format!("layers.{l}.w_up"), vec![f, d]),
				w_down: push(format!("layers.{l}.w_down"), vec![d, f]),
			})
			.collect();
		let final_norm = push("final_norm".into(), vec![d]);
		let len = final_norm.end;
		Self { specs, layers, embedding, final_norm, len }
	}

	/// Total number of values in the flat buffer.
	pub fn len(&self) -> usize {
		self.len
	}

	pub fn is_empty(&self) -> bool {
		self.len == 0
	}

	pub fn specs(&self) -> &[TensorSpec] {
		&self.specs
	}

	/// `(name, shape)` of every tensor in buffer order.
	pub fn tensors(&self) -> Vec<(String, Vec<usize>)> {
		self.specs.iter().map(|s| (s.name.clone(), s.shape.clone())).collect()
	}

	pub fn get(&self, name: &str) -> Option<&TensorSpec> {
		self.specs.iter().find(|s| s.name == name)
	}

	pub fn embedding(&self) -> Range<usize> {
		self.embedding.clone()
	}

	pub fn final_norm(&self) -> Range<usize> {
		self.final_norm.clone()
	}

	pub fn layer(&self, l: usize) -> &LayerRanges {
		&self.layers[l]
	}

	/// blake2b-256 over the names and shapes in order: two peers agree on how to cut a flat
	/// buffer into tensors iff their layout hashes agree.
	pub fn layout_hash(&self) -> [u8; 32] {
		let mut h = Blake2b::<U32>::new();
		h.update(b"training-model/layout/v1");
		h.update((self.specs.len() as u64).to_le_bytes());
		for s in &self.specs {
			h.update((s.name.len() as u64).to_le_bytes());
			h.update(s.name.as_bytes());
			h.update((s.shape.len() as u64).to_le_bytes());
			for &dim in &s.shape {
				h.update((dim as u64).to_le_bytes());
			}
		}
		h.finalize().into()
	}
}

#[cfg(test)]
mod tests {
	use super::*;

	#[test]
	fn layout_is_contiguous_and_matches_param_count() {
		for cfg in [ModelConfig::tiny(), ModelConfig::small()] {
			let layout = ParamLayout::new(&cfg);
			assert_eq!(layout.len(), cfg.num_params());
			let mut next = 0;
			for s in layout.specs() {
				assert_eq!(s.offset, next, "{}", s.name);
				next = s.range().end;
			}
			assert_eq!(next, layout.len());
			assert_eq!(layout.specs().len(), 2 + 9 * cfg.n_layers);
		}
	}

	#[test]
	fn names_and_order_are_fixed() {
		let layout = ParamLayout::new(&ModelConfig::tiny());
		let names: Vec<String> = layout.tensors().into_iter().map(|(n, _)| n).collect();
		assert_eq!(names[0], "tok_embedding");
		assert_eq!(
			&names[1..10],
			&[
				"layers.0.attn_norm",
				"layers.0.wq",
				"layers.0.wk",
				"layers.0.wv",
				"layers.0.wo",
				"layers.0.ffn_norm",
				"layers.0.w_gate",
				"layers.0.w_up",
				"layers.0.w_down"
			]
		);
		assert_eq!(names.last().map(String::as_str), Some("final_norm"));
		assert_eq!(layout.get("layers.1.w_down").map(|s| s.shape.clone()), Some(vec![8, 16]));
		assert_eq!(
			layout.layer(1).w_down,
			layout.get("layers.1.w_down").map(|s| s.range()).unwrap()
		);
	}

	#[test]
	fn layout_hash_tracks_shapes() {
		let a = ParamLayout::new(&ModelConfig::tiny()).layout_hash();
		let b = ParamLayout::new(&ModelConfig { d_ff: 24, ..ModelConfig::tiny() }).layout_hash();
		assert_ne!(a, b);
		assert_eq!(a, ParamLayout::new(&ModelConfig::tiny()).layout_hash());
	}
}
