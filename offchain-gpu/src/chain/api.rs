//! The training pallet's calls, view functions and events this worker uses, each with the
//! Rust types it encodes or decodes. Parameter names are the pallet's, so a line printed
//! from here reads exactly like the runtime's (see [`super::interface`]).

use pallet_training::{
	AgreedCheckpoint, Commitment, Hash32, MinerRecord, PeerView, Role, RunId, RunParams, RunStatus,
};
use training_protocol::{MinerScore, Round, Uid};

use super::interface::interface;
use super::{AccountId, Balance};

interface! {
	calls {
		CREATE_RUN = "create_run"(params: RunParams<Balance>);
		REGISTER_MINER = "register_miner"(run: RunId, store_url: Vec<u8>);
		REGISTER_VALIDATOR = "register_validator"(run: RunId, stake: Balance, store_url: Vec<u8>);
		COMMIT_GRADIENT = "commit_gradient"(run: RunId, round: Round, blob_hash: Hash32, blob_len: u32);
		COMMIT_SCORES = "commit_scores"(run: RunId, round: Round, hash: Hash32);
		SUBMIT_SCORES = "submit_scores"(run: RunId, round: Round, scores: Vec<MinerScore>, salt: Hash32);
		COMMIT_CHECKPOINT = "commit_checkpoint"(run: RunId, round: Round, hash: Hash32, uri: Vec<u8>);
		DEREGISTER = "deregister"(run: RunId);
	}
	views {
		RUN_STATUS = "run_status"(run: RunId) -> Option<RunStatus<Balance>>;
		AGGREGATION_SET = "aggregation_set"(run: RunId, round: Round) -> Option<Vec<Uid>>;
		APPLIED_SET = "applied_set"(run: RunId, round: Round) -> Option<Vec<Uid>>;
		ROUND_COMMITMENTS = "round_commitments"(run: RunId, round: Round) -> Vec<(Uid, Commitment)>;
		MINER_STATES = "miner_states"(run: RunId) -> Vec<(Uid, MinerRecord)>;
		RUN_WEIGHTS = "run_weights"(run: RunId) -> (u32, Vec<(Uid, u32)>);
		PEERS = "peers"(run: RunId) -> Vec<PeerView<AccountId, Balance>>;
		AGREED_CHECKPOINTS = "agreed_checkpoints"(run: RunId) -> Vec<AgreedCheckpoint>;
		FIRST_KEPT_ROUND = "first_kept_round"(run: RunId) -> Option<Round>;
		ROUND_SEED = "round_seed"(run: RunId, round: Round) -> Option<Hash32>;
		REVEALED_SCORES = "revealed_scores"(run: RunId, round: Round) -> Vec<(Uid, Vec<MinerScore>)>;
	}
	events {
		RUN_CREATED = "RunCreated"(run: RunId, start: u64);
		PAID = "Paid"(run: RunId, round: Round, who: AccountId, role: Role, uid: Uid, amount: Balance);
		SETTLED = "Settled"(
			run: RunId,
			round: Round,
			scored: u32,
			accrued: Balance,
			minted: Balance,
			burned: Balance,
			aggregation_set_len: u32,
		);
	}
}

#[cfg(test)]
mod tests {
	use super::super::interface::{check, file_lines, Kind};
	use super::*;

	/// The checked-in interface of the runtime this workspace builds (kept current by the
	/// system test `metadata`).
	const CHECKED_IN: &str = include_str!("../../metadata/training.txt");

	#[test]
	fn the_worker_uses_only_what_the_checked_in_runtime_offers() {
		let ours = used();
		assert_eq!(ours.iter().filter(|s| s.kind == Kind::Call).count(), 8);
		if let Err(e) = check("Training", &ours, file_lines(CHECKED_IN)) {
			panic!("{e}\nfix the worker's types in chain/api.rs, or regenerate metadata/training.txt if the runtime changed");
		}
	}

	#[test]
	fn typed_calls_encode_like_the_argument_tuple() {
		let call = COMMIT_GRADIENT.with((3, 7, [9; 32], 100));
		assert_eq!(call.call, "commit_gradient");
		assert_eq!(call.args.0, codec::Encode::encode(&(3u32, 7u64, [9u8; 32], 100u32)));
		let fields = codec::Encode::encode(&(5u32, 1_000u64));
		assert_eq!(
			RUN_CREATED.decode("Training", "RunCreated", &fields).unwrap().unwrap(),
			(5, 1_000)
		);
		assert!(RUN_CREATED.decode("Sudo", "RunCreated", &fields).is_none());
		assert!(RUN_CREATED.decode("Training", "RunCreated", &fields[..3]).unwrap().is_err());
	}
}
