//! Splits bytes into the chunks that BPE merges never cross.
//!
//! Every byte has a class: *letter* (ASCII letters and every byte >= 0x80, so the bytes of
//! a non-ASCII UTF-8 character stay with the word around them), *digit*, *space* (space,
//! tab, LF, VT, FF, CR) or *other* (punctuation and control bytes). A chunk is a maximal
//! run of one class, with two refinements:
//!
//! - a single space right before a non-space run belongs to that run (`" word"`), so a
//!   frequent word and its leading space can become one token;
//! - no chunk is longer than [`MAX_CHUNK`] bytes (a longer run is cut), which bounds both
//!   the cost of encoding a chunk and the length of any token.
//!
//! Chunks tile the input: concatenated, they give back the input exactly.

/// Longest chunk, and therefore longest token, in bytes.
pub const MAX_CHUNK: usize = 64;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Class {
	Letter,
	Digit,
	Space,
	Other,
}

fn class(b: u8) -> Class {
	match b {
		b'a'..=b'z' | b'A'..=b'Z' | 0x80..=0xff => Class::Letter,
		b'0'..=b'9' => Class::Digit,
		b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r' => Class::Space,
		_ => Class::Other,
	}
}

/// Whether `bytes[i]` is a space that starts the chunk of the non-space run after it.
fn is_glued_space(bytes: &[u8], i: usize) -> bool {
	bytes[i] == b' ' && bytes.get(i + 1).is_some_and(|&n| class(n) != Class::Space)
}

/// The chunks of `bytes`, in order (see the module docs).
pub fn chunks(bytes: &[u8]) -> impl Iterator<Item = &[u8]> {
	Chunks { rest: bytes }
}

struct Chunks<'a> {
	rest: &'a [u8],
}

impl<'a> Iterator for Chunks<'a> {
	type Item = &'a [u8];

	fn next(&mut self) -> Option<&'a [u8]> {
		let rest = self.rest;
		if rest.is_empty() {
			return None;
		}
		let (run_class, mut end) =
			if is_glued_space(rest, 0) { (class(rest[1]), 2) } else { (class(rest[0]), 1) };
		let limit = rest.len().min(MAX_CHUNK);
		while end < limit && class(rest[end]) == run_class && !is_glued_space(rest, end) {
			end += 1;
		}
		let (chunk, tail) = rest.split_at(end);
		self.rest = tail;
		Some(chunk)
	}
}

#[cfg(test)]
mod tests {
	use super::*;

	fn split(text: &str) -> Vec<&str> {
		chunks(text.as_bytes()).map(|c| std::str::from_utf8(c).unwrap()).collect()
	}

	#[test]
	fn splits_words_spaces_and_punctuation() {
		assert_eq!(
			split("To be, or  not--to be?\n\nAy 42x café"),
			[
				"To", " be", ",", " or", " ", " not", "--", "to", " be", "?", "\n\n", "Ay", " 42",
				"x", " café"
			]
		);
		assert_eq!(split(" \t a"), [" \t", " a"]);
		assert!(split("").is_empty());
	}

	#[test]
	fn long_runs_are_cut() {
		let text = "a".repeat(MAX_CHUNK * 2 + 3);
		let lens: Vec<usize> = chunks(text.as_bytes()).map(<[u8]>::len).collect();
		assert_eq!(lens, [MAX_CHUNK, MAX_CHUNK, 3]);
	}
}
