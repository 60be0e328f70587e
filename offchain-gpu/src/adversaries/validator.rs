//! The validator's adversaries (feature `adversaries`: the devnet and the tests build them in,
//! the released worker does not): random scores, the lazy validator, the copycat and the
//! checkpoint poisoner. The honest validator's loop calls in here only when its behaviour is
//! not `Honest`.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::Result;
use subxt_signer::sr25519::Keypair;
use training_protocol::{MinerScore, Round, ScoreFlags, Uid};

use crate::roles::validator::{commit_and_reveal, fresh_salt, Behaviour};
use crate::roles::{Fetched, Report, RunCtx, Synced};
use crate::store::{checkpoint_key, BlobStore};

/// Where a poisoning validator says its true checkpoints are: a port nothing listens on.
pub const DEAD_CHECKPOINT_URL: &str = "http://127.0.0.1:9/checkpoints";

/// How a validator works.
/// The just-in-time whale's one round: waits for the commit phase of a score window (round
/// `s >= 1`, after its commit deadline), registers with `stake`, commits to scores that flag
/// every committed miner MISSING, reveals them and deregisters (its stake then unbonds).
pub(crate) async fn just_in_time(
	ctx: &RunCtx,
	key: &Keypair,
	store: &BlobStore,
	stake: crate::chain::Balance,
) -> Result<()> {
	let (s, reveal_at) = loop {
		if ctx.stopped() {
			return Ok(());
		}
		let status = ctx.status().await?;
		if let Some(round) = status.round.filter(|r| *r >= 2) {
			let s = round - 1;
			let reveal_at = ctx.score_reveal_start(s);
			if status.now > ctx.commit_deadline(s) && status.now + 4 < reveal_at {
				break (s, reveal_at);
			}
		}
		ctx.sleep(Duration::from_millis(500)).await;
	};
	ctx.chain.register_validator(key, ctx.run, stake, store.url()).await?;
	let scores: Vec<MinerScore> = ctx
		.chain
		.round_commitments(ctx.run, s)
		.await?
		.into_iter()
		.map(|(uid, _)| MinerScore {
			uid,
			loss_score: 0,
			indicator: 0,
			sync_ppm: 0,
			flags: ScoreFlags::MISSING,
		})
		.collect();
	commit_and_reveal(ctx, key, s, &scores, reveal_at).await?;
	ctx.chain.deregister(key, ctx.run).await?;
	(ctx.report)(Report::Warning {
		who: "just-in-time whale".into(),
		message: format!(
			"registered in round {s}'s score window, flagged {} miners MISSING, left",
			scores.len()
		),
	});
	Ok(())
}

/// What a lazy validator looks at: one miner's gradient.
pub(crate) fn narrow(behaviour: Behaviour, fetched: &mut Vec<Fetched>) {
	if behaviour == Behaviour::Lazy {
		fetched.truncate(1);
	}
}

/// What a cheating validator posts instead of its honest scores: random ones, or (lazy)
/// only the one miner it looked at, without MISSING flags for the others.
pub(crate) fn tamper(
	behaviour: Behaviour,
	scores: &mut Vec<MinerScore>,
	fetched: &[Fetched],
	round: Round,
	vuid: Uid,
) {
	match behaviour {
		Behaviour::RandomScores => randomize(scores, round, vuid),
		Behaviour::Lazy => scores.retain(|sc| fetched.iter().any(|f| f.uid == sc.uid)),
		_ => {}
	}
}

/// The copycat's round: a commitment to an empty list (it has nothing of its own), then,
/// in the last block of the reveal phase, the median of every score revealed so far, sent
/// with that commitment's salt. The chain refuses it (the hash binds the empty list), so
/// the copycat is paid nothing; the refusal is reported, not an error.
pub(crate) async fn copy_scores(
	ctx: &RunCtx,
	key: &Keypair,
	s: Round,
	reveal_at: u64,
	close: u64,
) -> Result<()> {
	let salt = fresh_salt()?;
	ctx.chain.commit_scores(key, ctx.run, s, pallet_training::score_commitment(&[], &salt)).await?;
	while ctx.chain.best_block_number().await? + 2 < close.max(reveal_at + 1) {
		if ctx.stopped() {
			return Ok(());
		}
		ctx.sleep(Duration::from_millis(500)).await;
	}
	let revealed = ctx.chain.revealed_scores(ctx.run, s).await?;
	let copied = median_scores(revealed.iter().map(|(_, list)| list.as_slice()));
	if let Err(e) = ctx.chain.submit_scores(key, ctx.run, s, &copied, salt).await {
		(ctx.report)(Report::Warning {
			who: "copycat".into(),
			message: format!(
				"round {s}: copied scores of {} validators refused: {e:#}",
				revealed.len()
			),
		});
	}
	Ok(())
}

/// Per miner, the median of each field over the lists that score it (what a copycat posts).
fn median_scores<'a>(lists: impl Iterator<Item = &'a [MinerScore]>) -> Vec<MinerScore> {
	let mut by_uid: BTreeMap<Uid, Vec<MinerScore>> = BTreeMap::new();
	for list in lists {
		for sc in list {
			by_uid.entry(sc.uid).or_default().push(*sc);
		}
	}
	by_uid
		.into_iter()
		.map(|(uid, mut v)| {
			let mid = v.len() / 2;
			v.sort_by_key(|sc| sc.loss_score);
			let loss_score = v[mid].loss_score;
			v.sort_by_key(|sc| sc.sync_ppm);
			let sync_ppm = v[mid].sync_ppm;
			v.sort_by_key(|sc| sc.indicator);
			MinerScore {
				uid,
				loss_score,
				indicator: v[mid].indicator,
				sync_ppm,
				flags: v[mid].flags,
			}
		})
		.collect()
}

/// The poisoning validator's checkpoint for round `s` (see [`Behaviour::PoisonCheckpoints`]):
/// recorded before it scores, so before any honest validator records the round.
pub(crate) async fn poison_checkpoint(
	ctx: &RunCtx,
	key: &Keypair,
	store: &BlobStore,
	synced: &Synced,
	s: Round,
	every: u64,
) -> Result<()> {
	if every > 0 && s.is_multiple_of(every) {
		let hash = training_model::params_hash(&synced.theta);
		return ctx.chain.commit_checkpoint(key, ctx.run, s, hash, DEAD_CHECKPOINT_URL).await;
	}
	let poisoned: Vec<f32> = synced.theta.iter().map(|x| x + 1.0).collect();
	let bytes = training_model::checkpoint::encode(&ctx.model, &poisoned)?;
	let hash = training_model::params_hash(&poisoned);
	store.put(&checkpoint_key(ctx.run, s, &hash), &bytes).await?;
	ctx.chain.commit_checkpoint(key, ctx.run, s, hash, store.url()).await
}

/// Replaces every score by a random one (a deterministic stream per validator and round).
fn randomize(scores: &mut [MinerScore], round: Round, vuid: Uid) {
	let mut state = u64::from_le_bytes(
		sp_crypto_hashing::blake2_256(&codec::Encode::encode(&(b"random-scores", round, vuid)))
			[..8]
			.try_into()
			.unwrap_or([0; 8]),
	);
	let mut next = move || {
		// xorshift64*
		state ^= state >> 12;
		state ^= state << 25;
		state ^= state >> 27;
		state.wrapping_mul(0x2545_f491_4f6c_dd1d)
	};
	for s in scores {
		let r = next();
		s.loss_score = (r % 200_000_000) as i64 - 100_000_000;
		s.indicator = if r & (1 << 40) != 0 { 1 } else { -1 };
		s.sync_ppm = (next() % 1_000_001) as u32;
		s.flags = ScoreFlags::NONE;
	}
}
