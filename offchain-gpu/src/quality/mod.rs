//! The training-quality benchmark behind `offchain-gpu bench train`: at the same token
//! budget, from the same initial model and on the same per-replica data shards, it trains
//!
//! - **AdamW**: one model on the union of the R replicas' batches (data-parallel training,
//!   an fp32 gradient all-reduce every inner step),
//! - **DiLoCo**: R replicas, H inner AdamW steps, Nesterov outer step on the mean dense
//!   pseudo-gradient ([`outer`]),
//! - **SparseLoCo**: the same inner loop, pseudo-gradients compressed by the `sparseloco`
//!   crate (error feedback, chunked top-k, 2-bit codes), sent as real wire blobs and
//!   aggregated with `sparseloco::aggregate`,
//!
//! evaluates each on a fixed held-out set after every round and counts the bytes each
//! replica sends ([`traffic`]). Outputs: a CSV of the curves, an SVG chart and a Markdown
//! summary ([`report`], [`plot`]).

pub mod config;
pub mod curve;
pub mod error;
pub mod methods;
pub mod outer;
pub mod plot;
pub mod report;
pub mod traffic;

#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use training_model::Corpus;

pub use config::QualityConfig;
pub use curve::{Curve, Method, Point};
pub use error::QualityError;

/// All three methods' curves and the total wall time.
#[derive(Clone, Debug)]
pub struct Outcome {
	pub curves: Vec<Curve>,
	pub wall: Duration,
}

/// Trains every method of [`Method::ALL`] in turn; `on_point` sees each evaluation as it is
/// made (for progress output).
pub fn run(
	cfg: &QualityConfig,
	corpus: &Corpus,
	on_point: &mut dyn FnMut(Method, &Point),
) -> Result<Outcome, QualityError> {
	let start = Instant::now();
	let bench = methods::Bench::new(cfg, corpus)?;
	let curves =
		Method::ALL.iter().map(|&m| bench.run(m, on_point)).collect::<Result<Vec<_>, _>>()?;
	Ok(Outcome { curves, wall: start.elapsed() })
}

/// Files written by [`write_outputs`].
#[derive(Clone, Debug)]
pub struct Written {
	pub csv: PathBuf,
	pub svg: PathBuf,
	pub markdown: PathBuf,
	/// The Markdown summary's text.
	pub summary: String,
}

/// Writes `curves.csv`, `heldout-loss.svg` and `summary.md` into `dir` (created if needed).
pub fn write_outputs(
	dir: &Path,
	cfg: &QualityConfig,
	outcome: &Outcome,
) -> Result<Written, QualityError> {
	let write = |name: &str, text: &str| -> Result<PathBuf, QualityError> {
		let path = dir.join(name);
		std::fs::write(&path, text)
			.map_err(|source| QualityError::Write { path: path.clone(), source })?;
		Ok(path)
	};
	std::fs::create_dir_all(dir)
		.map_err(|source| QualityError::Write { path: dir.to_owned(), source })?;
	let summary = report::markdown(cfg, &outcome.curves, outcome.wall);
	Ok(Written {
		csv: write("curves.csv", &report::csv(&outcome.curves))?,
		svg: write("heldout-loss.svg", &plot::svg(&outcome.curves))?,
		markdown: write("summary.md", &summary)?,
		summary,
	})
}
