//! The round clock: which round a block belongs to and which windows are open.
//!
//! With run start `s`, round length `L`, commit window `C` and score window `S` (all in
//! blocks; every interval below is half-open):
//!
//! ```text
//! round r          [s + r L, s + (r+1) L)          = [start(r), end(r))
//! commits for r    [start(r), end(r) + C)          a miner may commit as soon as it is done
//! scores for r     [end(r) + C, end(r+1) + S)      blobs are readable once commits close
//!   score commits  [end(r) + C, reveal(r))         validators bind themselves to hashes
//!   score reveals  [reveal(r), end(r+1) + S)       and only then show their scores
//! settlement of r  at block end(r+1) + S           the first block after the score window
//! ```
//!
//! The score window of `w` blocks is split so that reveals get the last `max(1, w / 3)`
//! blocks ([`RoundClock::score_reveal_start`]): a validator must commit to its scores before
//! anyone's scores are visible, so nobody can copy the others' (Templar's validators could
//! read each other's weights on chain; here the reveal of a score list that was not
//! committed in time is refused).
//!
//! So at offset `o` into round `r`: round `r` trains; for `o < C` commits of round `r - 1`
//! are still accepted ([`Phase::Commit`]), from `o >= C` on validators score round `r - 1`
//! ([`Phase::Score`]); and for `o < S` scores of round `r - 2` are still accepted. Round 0
//! has no predecessor ([`Phase::Training`]). [`RoundClock::new`] requires `C <= L` and
//! `S <= L` so that at most one earlier round is committing and at most two are being
//! scored, and `C + 2 <= L + S` so that every score window has a block to commit scores in
//! and a later one to reveal them.

/// Block numbers, widened from the runtime's `BlockNumber`.
pub type Block = u64;
/// Round index within a run, counted from zero.
pub type Round = u64;

/// Why a clock configuration was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClockError {
	/// `round_length` is zero.
	ZeroRoundLength,
	/// `commit_window` is longer than a round.
	CommitWindowTooLong,
	/// `score_window` is longer than a round.
	ScoreWindowTooLong,
	/// `commit_window + 2 > round_length + score_window`: scores would not have one block to
	/// be committed in and a later one to be revealed in.
	EmptyScoreWindow,
}

/// What the previous round is doing at a block (the current round is always training).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(
	feature = "codec",
	derive(
		codec::Encode,
		codec::Decode,
		codec::DecodeWithMemTracking,
		codec::MaxEncodedLen,
		scale_info::TypeInfo
	)
)]
pub enum Phase {
	/// Round 0: there is no previous round.
	Training,
	/// Commits for the previous round are still accepted.
	Commit,
	/// The previous round's commits are closed and validators score it.
	Score,
}

/// Where a block falls in the run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Position {
	/// The round that is training.
	pub round: Round,
	/// Blocks since that round started.
	pub offset: u64,
	/// What the previous round is doing.
	pub phase: Phase,
}

/// A run's round schedule. Construct with [`RoundClock::new`], which checks the invariants.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(
	feature = "codec",
	derive(
		codec::Encode,
		codec::Decode,
		codec::DecodeWithMemTracking,
		codec::MaxEncodedLen,
		scale_info::TypeInfo
	)
)]
pub struct RoundClock {
	start: Block,
	round_length: u64,
	commit_window: u64,
	score_window: u64,
}

impl RoundClock {
	/// A clock for a run starting at `start`, or why the windows are inconsistent.
	pub fn new(
		start: Block,
		round_length: u64,
		commit_window: u64,
		score_window: u64,
	) -> Result<Self, ClockError> {
		if round_length == 0 {
			return Err(ClockError::ZeroRoundLength);
		}
		if commit_window > round_length {
			return Err(ClockError::CommitWindowTooLong);
		}
		if score_window > round_length {
			return Err(ClockError::ScoreWindowTooLong);
		}
		if commit_window.saturating_add(2) > round_length.saturating_add(score_window) {
			return Err(ClockError::EmptyScoreWindow);
		}
		Ok(RoundClock { start, round_length, commit_window, score_window })
	}

	/// The run's first block.
	pub fn start(&self) -> Block {
		self.start
	}

	/// Blocks per round.
	pub fn round_length(&self) -> u64 {
		self.round_length
	}

	/// The first block of round `r` (`None` past the end of `u64`, as for all deadlines).
	pub fn round_start(&self, r: Round) -> Option<Block> {
		r.checked_mul(self.round_length)?.checked_add(self.start)
	}

	/// The first block after round `r`.
	pub fn round_end(&self, r: Round) -> Option<Block> {
		self.round_start(r.checked_add(1)?)
	}

	/// The first block at which commits for round `r` are refused.
	pub fn commit_deadline(&self, r: Round) -> Option<Block> {
		self.round_end(r)?.checked_add(self.commit_window)
	}

	/// The blocks `[open, close)` in which scores for round `r` are accepted.
	pub fn score_window(&self, r: Round) -> Option<(Block, Block)> {
		Some((self.commit_deadline(r)?, self.settlement_block(r)?))
	}

	/// The block at which round `r` settles: the first block after its score window.
	pub fn settlement_block(&self, r: Round) -> Option<Block> {
		self.round_end(r.checked_add(1)?)?.checked_add(self.score_window)
	}

	/// The training round at `block`, `None` before the run starts.
	pub fn round_at(&self, block: Block) -> Option<Round> {
		block.checked_sub(self.start)?.checked_div(self.round_length)
	}

	/// The first round that starts at or after `block` (round 0 for every block up to the
	/// run's start): the first round a peer registered at `block` takes part in.
	pub fn first_round_from(&self, block: Block) -> Option<Round> {
		if self.round_length == 0 {
			return None;
		}
		Some(block.saturating_sub(self.start).div_ceil(self.round_length))
	}

	/// The round, offset and phase at `block`, `None` before the run starts.
	pub fn position(&self, block: Block) -> Option<Position> {
		let elapsed = block.checked_sub(self.start)?;
		// checked: a decoded clock has not been through `new` and may have a zero length.
		let round = elapsed.checked_div(self.round_length)?;
		let offset = elapsed.checked_rem(self.round_length)?;
		let phase = if round == 0 {
			Phase::Training
		} else if offset < self.commit_window {
			Phase::Commit
		} else {
			Phase::Score
		};
		Some(Position { round, offset, phase })
	}

	/// Whether a commitment for round `r` is accepted at `block`.
	pub fn accepts_commit(&self, r: Round, block: Block) -> bool {
		match (self.round_start(r), self.commit_deadline(r)) {
			(Some(open), Some(close)) => open <= block && block < close,
			_ => false,
		}
	}

	/// Whether scores for round `r` are accepted at `block` (committed or revealed).
	pub fn accepts_scores(&self, r: Round, block: Block) -> bool {
		match self.score_window(r) {
			Some((open, close)) => open <= block && block < close,
			None => false,
		}
	}

	/// The first block at which scores for round `r` are revealed: the last
	/// `max(1, w / 3)` blocks of its `w`-block score window are for reveals, the rest for
	/// commitments (at least one block each, which [`RoundClock::new`] guarantees).
	pub fn score_reveal_start(&self, r: Round) -> Option<Block> {
		let (open, close) = self.score_window(r)?;
		let width = close.checked_sub(open)?;
		let reveal = width.checked_div(3)?.max(1);
		close.checked_sub(reveal).map(|b| b.max(open.saturating_add(1)))
	}

	/// Whether a commitment to scores for round `r` is accepted at `block`.
	pub fn accepts_score_commit(&self, r: Round, block: Block) -> bool {
		match (self.score_window(r), self.score_reveal_start(r)) {
			(Some((open, _)), Some(reveal)) => open <= block && block < reveal,
			_ => false,
		}
	}

	/// Whether scores for round `r` may be revealed at `block`.
	pub fn accepts_score_reveal(&self, r: Round, block: Block) -> bool {
		match (self.score_window(r), self.score_reveal_start(r)) {
			(Some((_, close)), Some(reveal)) => reveal <= block && block < close,
			_ => false,
		}
	}

	/// The round that settles at `block`, if any (at most one does: settlements are one
	/// round length apart).
	pub fn settles_at(&self, block: Block) -> Option<Round> {
		let first = self.settlement_block(0)?;
		let since = block.checked_sub(first)?;
		(since.checked_rem(self.round_length)? == 0)
			.then_some(since.checked_div(self.round_length)?)
	}
}

#[cfg(test)]
mod tests {
	use super::*;

	#[test]
	fn first_round_from_is_the_first_round_starting_at_or_after_a_block() {
		let clock = RoundClock::new(100, 10, 3, 7).unwrap();
		for (block, round) in [(0, 0), (100, 0), (101, 1), (110, 1), (111, 2), (125, 3)] {
			assert_eq!(clock.first_round_from(block), Some(round), "block {block}");
			let r = clock.first_round_from(block).unwrap();
			assert!(clock.round_start(r).unwrap() >= block.max(100));
			assert!(r == 0 || clock.round_start(r - 1).unwrap() < block);
		}
	}

	#[test]
	fn rejects_inconsistent_windows() {
		assert_eq!(RoundClock::new(0, 0, 0, 0), Err(ClockError::ZeroRoundLength));
		assert_eq!(RoundClock::new(0, 10, 11, 0), Err(ClockError::CommitWindowTooLong));
		assert_eq!(RoundClock::new(0, 10, 2, 11), Err(ClockError::ScoreWindowTooLong));
		assert_eq!(RoundClock::new(0, 10, 10, 0), Err(ClockError::EmptyScoreWindow));
		assert_eq!(RoundClock::new(0, 10, 10, 1), Err(ClockError::EmptyScoreWindow));
		assert!(RoundClock::new(0, 10, 10, 2).is_ok());
	}

	#[test]
	fn windows_follow_the_definition() {
		// s = 100, L = 10, C = 3, S = 4.
		let clock = RoundClock::new(100, 10, 3, 4).unwrap();
		assert_eq!(clock.round_at(99), None);
		assert_eq!(clock.round_at(100), Some(0));
		assert_eq!(clock.round_at(119), Some(1));
		assert_eq!((clock.round_start(2), clock.round_end(2)), (Some(120), Some(130)));
		assert_eq!(clock.commit_deadline(2), Some(133));
		assert_eq!(clock.score_window(2), Some((133, 144)));
		assert_eq!(clock.settlement_block(2), Some(144));

		assert!(!clock.accepts_commit(2, 119));
		assert!(clock.accepts_commit(2, 120));
		assert!(clock.accepts_commit(2, 132));
		assert!(!clock.accepts_commit(2, 133));
		assert!(!clock.accepts_scores(2, 132));
		assert!(clock.accepts_scores(2, 133));
		assert!(clock.accepts_scores(2, 143));
		assert!(!clock.accepts_scores(2, 144));
		// 11 blocks of score window: commits in [133, 141), reveals in [141, 144).
		assert_eq!(clock.score_reveal_start(2), Some(141));
		assert!(clock.accepts_score_commit(2, 133) && clock.accepts_score_commit(2, 140));
		assert!(!clock.accepts_score_commit(2, 141) && !clock.accepts_score_commit(2, 132));
		assert!(clock.accepts_score_reveal(2, 141) && clock.accepts_score_reveal(2, 143));
		assert!(!clock.accepts_score_reveal(2, 140) && !clock.accepts_score_reveal(2, 144));

		assert_eq!(clock.position(100).unwrap().phase, Phase::Training);
		assert_eq!(
			clock.position(130),
			Some(Position { round: 3, offset: 0, phase: Phase::Commit })
		);
		assert_eq!(
			clock.position(133),
			Some(Position { round: 3, offset: 3, phase: Phase::Score })
		);
		assert_eq!(clock.settles_at(143), None);
		assert_eq!(clock.settles_at(124), Some(0));
		assert_eq!(clock.settles_at(144), Some(2));
		assert_eq!(clock.settles_at(120), None);
		assert_eq!(RoundClock::new(u64::MAX - 5, 10, 1, 1).unwrap().round_end(0), None);
	}

	#[test]
	fn phases_agree_with_windows() {
		for (l, c, s) in
			[(10, 3, 4), (7, 0, 0), (5, 5, 2), (4, 1, 4), (1, 0, 1), (2, 1, 1), (3, 3, 2)]
		{
			let clock = RoundClock::new(17, l, c, s).unwrap();
			for block in 17..17 + 12 * l {
				let pos = clock.position(block).unwrap();
				assert!(clock.accepts_commit(pos.round, block));
				// Exactly the rounds the definition names are open, and no others.
				for r in 0..pos.round + 2 {
					let committing =
						(r + 1 == pos.round && pos.phase == Phase::Commit) || r == pos.round;
					assert_eq!(
						clock.accepts_commit(r, block),
						committing,
						"commit r={r} b={block}"
					);
					let scoring = (r + 1 == pos.round && pos.phase == Phase::Score)
						|| (r + 2 == pos.round && pos.offset < s);
					assert_eq!(clock.accepts_scores(r, block), scoring, "score r={r} b={block}");
					// Commit and reveal split the score window: each block is in exactly one.
					let phases = (
						clock.accepts_score_commit(r, block),
						clock.accepts_score_reveal(r, block),
					);
					assert_eq!(phases.0 || phases.1, scoring, "score phases r={r} b={block}");
					assert!(!(phases.0 && phases.1));
					if clock.settles_at(block) == Some(r) {
						assert!(
							!clock.accepts_scores(r, block) && clock.accepts_scores(r, block - 1)
						);
					}
				}
			}
		}
	}
}
