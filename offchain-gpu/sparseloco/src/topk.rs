//! Exact top-k by magnitude within one chunk, with a deterministic tie-break.
//!
//! Ranking: larger `|x|` first; among equal `|x|` the lower chunk-relative index wins. The
//! magnitude of a finite `f32` orders exactly like its bit pattern with the sign bit cleared,
//! so the selection runs on `u32` keys: a most-significant-digit radix select (digits: the 8
//! exponent bits, then 8, 8 and 7 mantissa bits) finds the k-th largest key in a few linear
//! passes over at most 4096 keys, and one last in-order scan emits the winners already sorted
//! by index. No sort, no comparison-based selection.

/// Largest chunk length supported (64 x 64).
pub const MAX_CHUNK: usize = 4096;

/// Reusable scratch for [`TopK::select`].
pub struct TopK {
    keys: Vec<u32>,
    candidates: Vec<u32>,
}

impl Default for TopK {
    fn default() -> Self {
        Self::new()
    }
}

/// (shift, mask) of each radix digit, most significant first.
const DIGITS: [(u32, u32); 4] = [(23, 0xFF), (15, 0xFF), (7, 0xFF), (0, 0x7F)];

impl TopK {
    pub fn new() -> Self {
        Self { keys: Vec::with_capacity(MAX_CHUNK), candidates: Vec::with_capacity(MAX_CHUNK) }
    }

    /// Loads the chunk's values; returns the buffer to fill with magnitude keys.
    /// Use [`key`] to turn a value into its key.
    pub fn keys_mut(&mut self, len: usize) -> &mut [u32] {
        self.keys.clear();
        self.keys.resize(len, 0);
        &mut self.keys
    }

    /// Appends to `out` the chunk-relative indices of the `k` keys loaded by [`Self::keys_mut`]
    /// that rank highest, in increasing index order (`1 <= k <= len`).
    pub fn select(&mut self, k: usize, out: &mut Vec<u16>) {
        let keys = &self.keys;
        debug_assert!(k >= 1 && k <= keys.len() && keys.len() <= MAX_CHUNK);
        if k == keys.len() {
            out.extend((0..keys.len()).map(|i| i as u16));
            return;
        }
        // Invariant: the k-th largest key has bits `prefix` under `mask`; `need` more keys
        // are still to be taken from those matching the prefix (`above` strictly beat it).
        let mut need = k;
        let mut prefix = 0u32;
        let mut mask = 0u32;
        self.candidates.clear();
        self.candidates.extend_from_slice(keys);
        for (level, &(shift, digit_mask)) in DIGITS.iter().enumerate() {
            let mut hist = [[0u32; 256]; 4];
            let cands = &self.candidates;
            let mut quads = cands.chunks_exact(4);
            for q in &mut quads {
                for lane in 0..4 {
                    hist[lane][((q[lane] >> shift) & digit_mask) as usize] += 1;
                }
            }
            for &c in quads.remainder() {
                hist[0][((c >> shift) & digit_mask) as usize] += 1;
            }
            let mut bucket = 0usize;
            for b in (0..=digit_mask as usize).rev() {
                let count = (hist[0][b] + hist[1][b] + hist[2][b] + hist[3][b]) as usize;
                if count >= need {
                    bucket = b;
                    break;
                }
                need -= count;
            }
            prefix |= (bucket as u32) << shift;
            mask |= digit_mask << shift;
            if level + 1 < DIGITS.len() {
                self.candidates.retain(|&c| c & mask == prefix);
            }
        }
        // `prefix` is now the k-th largest key; `need` of the keys equal to it are taken,
        // lowest indices first.
        let threshold = prefix;
        let mut ties = need;
        for (i, &key) in keys.iter().enumerate() {
            if key > threshold {
                out.push(i as u16);
            } else if key == threshold && ties > 0 {
                ties -= 1;
                out.push(i as u16);
            }
        }
    }
}

/// Magnitude key of a value: its bits without the sign.
#[inline(always)]
pub fn key(x: f32) -> u32 {
    x.to_bits() & 0x7FFF_FFFF
}

/// Straightforward reference: sort all indices by (|x| descending, index ascending).
pub fn top_k_by_sort(values: &[f32], k: usize) -> Vec<u16> {
    let mut idx: Vec<usize> = (0..values.len()).collect();
    idx.sort_by(|&a, &b| values[b].abs().total_cmp(&values[a].abs()).then(a.cmp(&b)));
    let mut kept: Vec<u16> = idx[..k].iter().map(|&i| i as u16).collect();
    kept.sort_unstable();
    kept
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn select(values: &[f32], k: usize) -> Vec<u16> {
        let mut t = TopK::new();
        for (slot, &v) in t.keys_mut(values.len()).iter_mut().zip(values) {
            *slot = key(v);
        }
        let mut out = Vec::new();
        t.select(k, &mut out);
        out
    }

    #[test]
    fn ties_go_to_lowest_index() {
        let v = [1.0, -2.0, 2.0, 0.5, -2.0, 2.0];
        assert_eq!(select(&v, 2), vec![1, 2]);
        assert_eq!(select(&v, 3), vec![1, 2, 4]);
        assert_eq!(select(&[0.0; 10], 3), vec![0, 1, 2]);
        assert_eq!(select(&[-0.0, 0.0, -0.0], 2), vec![0, 1]);
    }

    #[test]
    fn keeps_all_when_k_is_len() {
        assert_eq!(select(&[3.0, 1.0, 2.0], 3), vec![0, 1, 2]);
    }

    proptest! {
        #[test]
        fn matches_full_sort(
            values in prop::collection::vec(
                prop_oneof![
                    (-4i32..4).prop_map(|x| x as f32 * 0.25),
                    -1e3f32..1e3,
                    prop::num::f32::NORMAL | prop::num::f32::SUBNORMAL | prop::num::f32::ZERO
                ],
                1..600,
            ),
            k_frac in 0.0f64..1.0,
        ) {
            let k = 1 + ((values.len() - 1) as f64 * k_frac) as usize;
            prop_assert_eq!(select(&values, k), top_k_by_sort(&values, k));
        }
    }
}
