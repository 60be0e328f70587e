//! Where a late or restarting node starts: the newest agreed checkpoint it can load.
//!
//! A checkpoint counts only once validators holding more than half of the stake recorded its
//! hash (the chain decides that, see `pallet_training::checkpoints`), so what is tried here is
//! never a minority's. Each agreed checkpoint is tried from every validator that recorded
//! it (the largest stake first), newest checkpoint first; every copy is checked against the
//! agreed hash, so a dead, slow or lying store costs one bounded read and the next copy is
//! tried. A checkpoint older than the first round the chain still keeps cannot be replayed
//! from and is not tried.

use std::future::Future;

use anyhow::{bail, Result};
use pallet_training::AgreedCheckpoint;
use training_protocol::Round;

/// One place to load one checkpoint from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attempt {
	pub round: Round,
	pub hash: [u8; 32],
	pub url: String,
}

/// Every (checkpoint, copy) worth trying, in order: newest agreed checkpoint first, its
/// copies in the chain's order (largest stake first); checkpoints below `first_kept` left out.
pub fn attempts(agreed: &[AgreedCheckpoint], first_kept: Round) -> Vec<Attempt> {
	let mut sorted: Vec<&AgreedCheckpoint> =
		agreed.iter().filter(|c| c.round >= first_kept).collect();
	sorted.sort_by_key(|c| std::cmp::Reverse(c.round));
	sorted
		.into_iter()
		.flat_map(|c| {
			c.uris.iter().map(move |uri| Attempt {
				round: c.round,
				hash: c.hash,
				// A URL that is not UTF-8 becomes one that does not open: one failed attempt.
				url: String::from_utf8_lossy(uri).into_owned(),
			})
		})
		.collect()
}

/// What a node starts from.
#[derive(Debug, PartialEq)]
pub enum Start<T> {
	/// The first attempt that loaded (its parameters, already checked against the hash).
	Checkpoint(Attempt, T),
	/// No agreed checkpoint and nothing pruned yet: the run's initial model.
	Initial,
}

/// Tries `attempts` in order with `load` (which must check the hash) and returns the first
/// that loads, with every failure before it. With none loadable: the initial model when
/// the chain still keeps round 0 (`first_kept == 0`), else an error that lists each failure.
pub async fn first_loadable<T, F, Fut>(
	attempts: Vec<Attempt>,
	first_kept: Round,
	mut load: F,
) -> Result<(Start<T>, Vec<String>)>
where
	F: FnMut(Attempt) -> Fut,
	Fut: Future<Output = Result<T>>,
{
	let mut failures = Vec::new();
	for attempt in attempts {
		match load(attempt.clone()).await {
			Ok(theta) => return Ok((Start::Checkpoint(attempt, theta), failures)),
			Err(e) => failures
				.push(format!("checkpoint of round {} from {}: {e:#}", attempt.round, attempt.url)),
		}
	}
	if first_kept == 0 {
		return Ok((Start::Initial, failures));
	}
	if failures.is_empty() {
		bail!(
			"the chain keeps rounds from {first_kept} on only and no validator majority has recorded a checkpoint \
			 since: wait for the next agreed checkpoint"
		);
	}
	bail!(
		"no agreed checkpoint from round {first_kept} on could be loaded (the chain no longer keeps older rounds): {}",
		failures.join("; ")
	)
}

#[cfg(test)]
mod tests {
	use super::*;

	fn agreed(round: Round, hash: u8, uris: &[&str]) -> AgreedCheckpoint {
		AgreedCheckpoint {
			round,
			hash: [hash; 32],
			uris: uris.iter().map(|u| u.as_bytes().to_vec()).collect(),
		}
	}

	#[test]
	fn newest_first_every_copy_and_nothing_pruned() {
		let list = [
			agreed(4, 4, &["s3://a", "http://dead"]),
			agreed(8, 8, &["http://dead", "s3://b"]),
			agreed(0, 0, &["s3://c"]),
		];
		let got: Vec<(Round, String)> =
			attempts(&list, 2).into_iter().map(|a| (a.round, a.url)).collect();
		assert_eq!(
			got,
			vec![
				(8, "http://dead".into()),
				(8, "s3://b".into()),
				(4, "s3://a".into()),
				(4, "http://dead".into())
			]
		);
		assert!(attempts(&list, 9).is_empty());
	}

	/// A dead copy and a newest checkpoint that nobody serves fall through to the next copy
	/// and the next checkpoint; hash failures are just failures.
	#[tokio::test]
	async fn falls_back_over_copies_and_checkpoints() {
		let list = [
			agreed(8, 8, &["http://dead", "s3://liar"]),
			agreed(4, 4, &["http://dead", "s3://good"]),
		];
		let load = |a: Attempt| async move {
			match a.url.as_str() {
				"s3://good" => Ok(a.round),
				"s3://liar" => bail!("does not match the agreed hash"),
				_ => bail!("connection refused"),
			}
		};
		let (start, failures) = first_loadable(attempts(&list, 1), 1, load).await.unwrap();
		assert!(matches!(start, Start::Checkpoint(Attempt { round: 4, .. }, 4)), "{start:?}");
		assert_eq!(failures.len(), 3, "{failures:?}");
		assert!(failures[1].contains("agreed hash"));
	}

	/// Nothing loadable: the initial model while round 0 is kept, a named error after.
	#[tokio::test]
	async fn initial_model_only_while_round_zero_is_kept() {
		let dead = |_: Attempt| async { Err::<(), _>(anyhow::anyhow!("connection refused")) };
		let list = [agreed(2, 2, &["http://dead"])];
		let (start, failures) = first_loadable(attempts(&list, 0), 0, dead).await.unwrap();
		assert_eq!((start, failures.len()), (Start::Initial, 1));
		let e = first_loadable(attempts(&list, 1), 1, dead).await.unwrap_err().to_string();
		assert!(e.contains("connection refused") && e.contains("round 1"), "{e}");
		let e = first_loadable(Vec::new(), 5, dead).await.unwrap_err().to_string();
		assert!(e.contains("wait for the next agreed checkpoint"), "{e}");
	}
}
