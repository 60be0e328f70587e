//! Model layout: an ordered list of named 1-D or 2-D tensors stored back to back in one flat
//! `f32` buffer. Every node must agree on it, so it is identified by [`Layout::layout_hash`].

use blake2::digest::consts::U32;
use blake2::{Blake2b, Digest};

use crate::error::LayoutError;

/// blake2b with a 32-byte output (the chain's hash).
pub(crate) type Blake2b256 = Blake2b<U32>;

/// Domain separator of the canonical layout encoding; bump it if the encoding changes.
const LAYOUT_DOMAIN: &[u8] = b"sparseloco/layout/v1";

/// Longest tensor name accepted (bytes of UTF-8).
pub const MAX_NAME_LEN: usize = 256;

/// One parameter tensor: a name and a 1-D `[len]` or 2-D `[rows, cols]` row-major shape.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TensorSpec {
	pub name: String,
	pub shape: Vec<usize>,
}

impl TensorSpec {
	pub fn new(name: impl Into<String>, shape: &[usize]) -> Self {
		Self { name: name.into(), shape: shape.to_vec() }
	}

	/// Number of elements.
	pub fn len(&self) -> usize {
		self.shape.iter().product()
	}

	/// True when the tensor holds no element (never the case in a valid [`Layout`]).
	pub fn is_empty(&self) -> bool {
		self.len() == 0
	}
}

/// A validated model layout with precomputed offsets into the flat parameter buffer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Layout {
	tensors: Vec<TensorSpec>,
	offsets: Vec<usize>,
	total: usize,
}

impl Layout {
	/// Validates the tensors: at least one; unique, non-empty names of at most
	/// [`MAX_NAME_LEN`] bytes; 1-D or 2-D shapes with non-zero dimensions; each tensor below
	/// 2^32 elements (indices travel as `u32`).
	pub fn new(tensors: Vec<TensorSpec>) -> Result<Self, LayoutError> {
		if tensors.is_empty() {
			return Err(LayoutError::Empty);
		}
		let mut offsets = Vec::with_capacity(tensors.len());
		let mut total = 0usize;
		let mut names = std::collections::HashSet::with_capacity(tensors.len());
		for t in &tensors {
			if t.name.is_empty() || t.name.len() > MAX_NAME_LEN {
				return Err(LayoutError::BadName(t.name.clone()));
			}
			if !names.insert(t.name.as_str()) {
				return Err(LayoutError::DuplicateName(t.name.clone()));
			}
			if !(1..=2).contains(&t.shape.len()) || t.shape.contains(&0) {
				return Err(LayoutError::BadShape { name: t.name.clone(), shape: t.shape.clone() });
			}
			let len = t
				.shape
				.iter()
				.try_fold(1usize, |acc, &d| acc.checked_mul(d))
				.filter(|&n| u32::try_from(n).is_ok())
				.ok_or_else(|| LayoutError::TooLarge(t.name.clone()))?;
			offsets.push(total);
			total = total.checked_add(len).ok_or_else(|| LayoutError::TooLarge(t.name.clone()))?;
		}
		Ok(Self { tensors, offsets, total })
	}

	pub fn tensors(&self) -> &[TensorSpec] {
		&self.tensors
	}

	/// Start of tensor `i` in the flat buffer.
	pub fn offset(&self, i: usize) -> usize {
		self.offsets[i]
	}

	/// Flat range of tensor `i`.
	pub fn range(&self, i: usize) -> std::ops::Range<usize> {
		let start = self.offsets[i];
		start..start + self.tensors[i].len()
	}

	/// Total number of parameters (length of the flat buffer).
	pub fn total_len(&self) -> usize {
		self.total
	}

	/// blake2b-256 over the canonical encoding: the domain string, then the tensor count
	/// (u32 LE), then per tensor the name length (u32 LE), the UTF-8 name, the rank (u8) and
	/// each dimension (u64 LE).
	pub fn layout_hash(&self) -> [u8; 32] {
		let mut h = Blake2b256::new();
		h.update(LAYOUT_DOMAIN);
		h.update((self.tensors.len() as u32).to_le_bytes());
		for t in &self.tensors {
			h.update((t.name.len() as u32).to_le_bytes());
			h.update(t.name.as_bytes());
			h.update([t.shape.len() as u8]);
			for &d in &t.shape {
				h.update((d as u64).to_le_bytes());
			}
		}
		h.finalize().into()
	}
}

#[cfg(test)]
mod tests {
	use super::*;

	fn layout() -> Layout {
		Layout::new(vec![TensorSpec::new("w", &[3, 4]), TensorSpec::new("b", &[5])]).unwrap()
	}

	#[test]
	fn offsets_and_total() {
		let l = layout();
		assert_eq!(l.offset(0), 0);
		assert_eq!(l.offset(1), 12);
		assert_eq!(l.range(1), 12..17);
		assert_eq!(l.total_len(), 17);
	}

	#[test]
	fn hash_depends_on_names_and_shapes() {
		let base = layout().layout_hash();
		let renamed =
			Layout::new(vec![TensorSpec::new("w", &[3, 4]), TensorSpec::new("c", &[5])]).unwrap();
		let reshaped =
			Layout::new(vec![TensorSpec::new("w", &[4, 3]), TensorSpec::new("b", &[5])]).unwrap();
		assert_eq!(base, layout().layout_hash());
		assert_ne!(base, renamed.layout_hash());
		assert_ne!(base, reshaped.layout_hash());
	}

	#[test]
	fn rejects_bad_layouts() {
		assert_eq!(Layout::new(vec![]), Err(LayoutError::Empty));
		assert!(matches!(
			Layout::new(vec![TensorSpec::new("x", &[2, 0])]),
			Err(LayoutError::BadShape { .. })
		));
		assert!(matches!(
			Layout::new(vec![TensorSpec::new("x", &[2, 2, 2])]),
			Err(LayoutError::BadShape { .. })
		));
		assert!(matches!(
			Layout::new(vec![TensorSpec::new("x", &[2]), TensorSpec::new("x", &[3])]),
			Err(LayoutError::DuplicateName(_))
		));
		assert!(matches!(
			Layout::new(vec![TensorSpec::new("x", &[1 << 20, 1 << 20])]),
			Err(LayoutError::TooLarge(_))
		));
	}
}
