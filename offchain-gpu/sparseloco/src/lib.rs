//! SparseLoCo compression: error feedback, chunked top-k, 2-bit quantization, wire format,
//! aggregation.
//!
//! The pipeline, as run by miners (compress) and by every node (decode, aggregate):
//!
//! ```text
//! Layout + ChunkParams --> Plan               (tiling, kept counts, wire sizes; identical everywhere)
//! delta --ErrorFeedback::compress--> SparseTensor per tensor   (ef, topk, quant)
//!       --codec::encode--> blob --blake2b-256--> hash committed on chain
//! blobs --codec::decode--> SparseGradient --aggregate--> theta -= outer_lr * g
//! ```
//!
//! Modules: [`layout`] (tensors, layout hash), [`chunk`] (tiling rule), [`plan`] (derived
//! sizes), [`topk`] (per-chunk selection), [`quant`] (2-bit table), [`ef`] (error feedback),
//! [`gradient`] (in-memory form), [`codec`] (wire format, with `eliasfano` index coding),
//! [`fingerprint`] (sync samples), [`aggregate`](mod@aggregate), [`overlap`] (copy check),
//! [`reference`](mod@reference) (the reference system's payload, for comparison) and
//! [`bench`](mod@bench).

mod bits;
mod eliasfano;

pub mod aggregate;
pub mod bench;
pub mod chunk;
pub mod codec;
pub mod ef;
pub mod error;
pub mod fingerprint;
pub mod gradient;
pub mod layout;
pub mod overlap;
pub mod plan;
pub mod quant;
pub mod reference;
pub mod topk;

pub use aggregate::{aggregate, aggregate_with_clip, median_norms, AggregateReport};
pub use bench::{bench_report, run_bench, BenchConfig, BenchReport};
pub use codec::{blob_hash, decode, encode, Header, QuantScheme, FORMAT_VERSION};
pub use ef::{compress_in_place, ErrorFeedback};
pub use error::{AggregateError, CompressError, LayoutError, ParamsError, WireError};
pub use fingerprint::FINGERPRINT_LEN;
pub use gradient::{SparseGradient, SparseTensor};
pub use layout::{Layout, TensorSpec};
pub use overlap::{index_overlap, Overlap};
pub use plan::{ChunkParams, Plan};
pub use quant::QuantTable;
