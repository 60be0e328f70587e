//! What the roles tell the outside: [`Report`]s, folded into the metrics
//! ([`crate::metrics`]), the devnet's console and CSV, and the operator's log
//! ([`log_reporter`]: one `tracing` event per report, with named fields).

use std::sync::Arc;

use training_protocol::{Round, Uid};

use super::gauntlet;
use crate::chain::Balance;

/// A progress report from a role, for the devnet's console and CSV.
#[derive(Clone, Debug)]
pub enum Report {
	/// A worker registered (or found its registration) and starts its rounds on `device`.
	Started { who: String, device: String },
	/// A miner trained a round.
	Trained { uid: Uid, round: Round, first_loss: f32, last_loss: f32, blob_len: usize, secs: f32 },
	/// A miner committed its hash (`secs`: until the node accepted the transaction).
	Committed { uid: Uid, round: Round, secs: f32 },
	/// A miner published its blob (or deliberately did not); `secs` uploading it.
	Revealed { uid: Uid, round: Round, published: bool, secs: f32 },
	/// A node applied a round's aggregate: `fetch_secs` fetching and checking `bytes` of
	/// blobs, `apply_secs` aggregating and stepping.
	Applied {
		who: String,
		round: Round,
		used: usize,
		dropped: usize,
		bytes: u64,
		fetch_secs: f32,
		apply_secs: f32,
	},
	/// A validator scored a round; `heldout_loss` is the loss of `theta_round` on the
	/// held-out set, `eval_secs` the evaluation time of all its miners (compute only) and
	/// `fetch_secs` the time spent fetching their blobs (waiting for a missing one included).
	Scored {
		validator: Uid,
		round: Round,
		heldout_loss: f32,
		scores: Vec<training_protocol::MinerScore>,
		details: Vec<gauntlet::ScoreDetail>,
		eval_secs: f32,
		fetch_secs: f32,
	},
	/// A round's applied set is settled on chain and this node's model follows it:
	/// `params_hash` is the hash of the model after the round (the same on every honest
	/// node); `replayed` when its own view differed and it redid the round.
	Settled { who: String, round: Round, params_hash: [u8; 32], replayed: bool },
	/// A validator recorded a checkpoint of the model before `round` (hash and where it is).
	Checkpointed { who: String, round: Round, params_hash: [u8; 32], url: String },
	/// A node started from an agreed checkpoint (after `failed` copies it could not use).
	Joined { who: String, round: Round, url: String, failed: Vec<String> },
	/// The node had stopped answering and the worker connected to it again.
	Reconnected { who: String },
	/// The chain's view of this worker: OpenSkill ordinal and emission weight (parts per
	/// billion) of a miner, polled once a round.
	Standing { who: String, ordinal: f64, weight_ppb: u32 },
	/// Emission paid to this worker when `round` settled (in the chain's smallest unit).
	Paid { who: String, round: Round, amount: Balance },
	/// Something went wrong but the role carries on.
	Warning { who: String, message: String },
}

/// Where reports go.
pub type Reporter = Arc<dyn Fn(Report) + Send + Sync>;

/// A reporter that writes each report to the operator's log (see [`crate::log`]).
pub fn log_reporter() -> Reporter {
	Arc::new(|r| log(&r))
}

/// One `tracing` event for `report`: `info` for progress, `warn` for warnings, and the
/// per-miner details of a scored round at `debug`.
pub fn log(report: &Report) {
	use tracing::{debug, info, warn};
	match report {
		Report::Started { who, device } => info!(who, device, "started"),
		Report::Trained { uid, round, first_loss, last_loss, blob_len, secs } => {
			info!(uid, round, first_loss, last_loss, blob_bytes = blob_len, secs, "trained")
		}
		Report::Committed { uid, round, secs } => info!(uid, round, secs, "committed"),
		Report::Revealed { uid, round, published, secs } => {
			info!(uid, round, published, secs, "revealed")
		}
		Report::Applied { who, round, used, dropped, bytes, fetch_secs, apply_secs } => {
			info!(who, round, used, dropped, bytes, fetch_secs, apply_secs, "applied")
		}
		Report::Scored {
			validator,
			round,
			heldout_loss,
			scores,
			details,
			eval_secs,
			fetch_secs,
		} => {
			let faulty = scores.iter().filter(|s| s.flags.0 != 0).count();
			info!(
				validator,
				round,
				heldout_loss,
				miners = scores.len(),
				faulty,
				eval_secs,
				fetch_secs,
				"scored"
			);
			for s in scores {
				let d = details.iter().find(|d| d.uid == s.uid);
				debug!(
					validator,
					round,
					miner = s.uid,
					loss_score_ppb = s.loss_score,
					indicator = s.indicator,
					sync_ppm = s.sync_ppm,
					flags = s.flags.0,
					direction = d.map(|d| d.direction),
					overlap = d.map(|d| d.overlap),
					"miner scored"
				);
			}
		}
		Report::Settled { who, round, params_hash, replayed } => {
			info!(who, round, params_hash = hex::encode(params_hash), replayed, "settled")
		}
		Report::Checkpointed { who, round, params_hash, url } => {
			info!(who, round, params_hash = hex::encode(params_hash), url, "checkpointed")
		}
		Report::Joined { who, round, url, failed } => {
			info!(who, round, url, unusable = failed.len(), "joined from a checkpoint");
			for f in failed {
				warn!(who, copy = f, "an agreed checkpoint copy could not be used");
			}
		}
		Report::Reconnected { who } => info!(who, "reconnected to the node"),
		Report::Standing { who, ordinal, weight_ppb } => {
			info!(who, ordinal, weight_ppb, "standing")
		}
		Report::Paid { who, round, amount } => {
			info!(who, round, amount, "paid")
		}
		Report::Warning { who, message } => warn!(who, "{message}"),
	}
}
