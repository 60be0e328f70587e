//! Commitments and scores: the gradient commit window, score commit-reveal, and checkpoints.

use super::*;

#[test]
fn commit_gradient_windows_and_errors() {
	new_test_ext().execute_with(|| {
		assert_noop!(
			Training::commit_gradient(RuntimeOrigin::signed(1), 0, 0, [0; 32], 1_000),
			Error::<Test>::UnknownRun
		);
		create();
		miner(1);
		validator(1000, MIN_STAKE);
		assert_noop!(
			Training::commit_gradient(RuntimeOrigin::signed(1000), 0, 0, [0; 32], 1_000),
			Error::<Test>::NotMiner
		);
		assert_noop!(
			Training::commit_gradient(RuntimeOrigin::signed(2), 0, 0, [0; 32], 1_000),
			Error::<Test>::NotMiner
		);
		assert_noop!(
			Training::commit_gradient(RuntimeOrigin::signed(1), 0, 0, [0; 32], 0),
			Error::<Test>::EmptyBlob
		);
		// Block 1: the run starts at block 2.
		assert_noop!(
			Training::commit_gradient(RuntimeOrigin::signed(1), 0, 0, [0; 32], 1_000),
			Error::<Test>::CommitWindowClosed
		);
		run_to_block(2);
		commit(1, 0);
		assert_noop!(
			Training::commit_gradient(RuntimeOrigin::signed(1), 0, 0, [1; 32], 1_000),
			Error::<Test>::AlreadyCommitted
		);
		assert_noop!(
			Training::commit_gradient(RuntimeOrigin::signed(1), 0, 1, [1; 32], 1_000),
			Error::<Test>::CommitWindowClosed
		);
		// Round 0's commits stay open until block 15, round 1's open at 12.
		run_to_block(14);
		commit(1, 1);
		miner(2);
		assert_noop!(
			Training::commit_gradient(RuntimeOrigin::signed(2), 0, 1, [2; 32], 1_000),
			Error::<Test>::NotEligibleForRound
		);
		run_to_block(15);
		assert_noop!(
			Training::commit_gradient(RuntimeOrigin::signed(1), 0, 0, [1; 32], 1_000),
			Error::<Test>::CommitWindowClosed
		);
		let c = Commitments::<Test>::get((0, 0, 0)).unwrap();
		assert_eq!((c.blob_hash, c.blob_len, c.at), ([1; 32], 1_000, 2));
		assert_eq!(Training::round_commitments(0, 1).len(), 1);
	});
}

#[test]
fn score_commit_and_reveal_windows_and_errors() {
	new_test_ext().execute_with(|| {
		let list = || vec![score(0, 5)];
		let salt = [9; 32];
		let hash = |l: &[MinerScore]| score_commitment(l, &salt);
		let commit = |who: u64, h| Training::commit_scores(RuntimeOrigin::signed(who), 0, 0, h);
		let reveal = |who: u64, l: Vec<MinerScore>, salt| {
			Training::submit_scores(RuntimeOrigin::signed(who), 0, 0, scores(l), salt)
		};
		assert_noop!(commit(1000, hash(&list())), Error::<Test>::UnknownRun);
		assert_noop!(reveal(1000, list(), salt), Error::<Test>::UnknownRun);
		create();
		miner(1);
		validator(1000, MIN_STAKE);
		assert_noop!(commit(1, hash(&list())), Error::<Test>::NotValidator);
		assert_noop!(reveal(1, list(), salt), Error::<Test>::NotValidator);
		// Round 0's score window is [15, 26): commitments in [15, 23), reveals in [23, 26).
		run_to_block(14);
		assert_noop!(commit(1000, hash(&list())), Error::<Test>::ScoreWindowClosed);
		run_to_block(15);
		assert_ok!(commit(1000, hash(&list())));
		assert!(events().contains(&Event::ScoresCommitted { run: 0, round: 0, validator: 0 }));
		assert_noop!(commit(1000, hash(&list())), Error::<Test>::AlreadySubmitted);
		// Nothing can be revealed before the reveal phase, so nobody sees scores to copy.
		assert_noop!(reveal(1000, list(), salt), Error::<Test>::ScoreWindowClosed);
		validator(1001, MIN_STAKE);
		run_to_block(23);
		// Too late to commit: a copycat that waited for the reveals cannot join in.
		assert_noop!(commit(1001, hash(&list())), Error::<Test>::ScoreWindowClosed);
		assert_noop!(reveal(1001, list(), salt), Error::<Test>::NoScoreCommitment);
		assert_noop!(reveal(1000, vec![], salt), Error::<Test>::EmptyScores);
		let bad = |f: fn(&mut MinerScore)| {
			let mut x = score(0, 5);
			f(&mut x);
			reveal(1000, vec![x], salt)
		};
		assert_noop!(bad(|x| x.indicator = 2), Error::<Test>::ScoreIndicatorOutOfRange);
		assert_noop!(bad(|x| x.sync_ppm = PPM + 1), Error::<Test>::ScoreSyncOutOfRange);
		assert_noop!(bad(|x| x.flags = ScoreFlags(8)), Error::<Test>::ScoreUnknownFlags);
		assert_noop!(
			reveal(1000, vec![score(1, 1), score(0, 1)], salt),
			Error::<Test>::ScoresNotSorted
		);
		// Other scores, or the same with another salt, do not match the commitment.
		assert_noop!(reveal(1000, vec![score(0, 6)], salt), Error::<Test>::ScoreHashMismatch);
		assert_noop!(reveal(1000, list(), [8; 32]), Error::<Test>::ScoreHashMismatch);
		assert_ok!(reveal(1000, list(), salt));
		assert!(events().contains(&Event::ScoresSubmitted {
			run: 0,
			round: 0,
			validator: 0,
			count: 1
		}));
		assert_noop!(reveal(1000, list(), salt), Error::<Test>::AlreadySubmitted);
		// The window closes at block 26, where round 0 settles and its scores are pruned.
		run_to_block(25);
		assert!(Scores::<Test>::get((0, 0, 0)).is_some());
		run_to_block(26);
		assert!(Scores::<Test>::get((0, 0, 0)).is_none());
		assert!(ScoreCommits::<Test>::get((0, 0, 0)).is_none());
		assert_noop!(reveal(1000, list(), salt), Error::<Test>::ScoreWindowClosed);
	});
}

#[test]
fn commit_checkpoint_works_and_validates() {
	new_test_ext().execute_with(|| {
		assert_noop!(
			Training::commit_checkpoint(RuntimeOrigin::signed(1000), 0, 0, [1; 32], url("s3://c")),
			Error::<Test>::UnknownRun
		);
		create();
		miner(1);
		validator(1000, MIN_STAKE);
		validator(1001, MIN_STAKE);
		assert_noop!(
			Training::commit_checkpoint(RuntimeOrigin::signed(1), 0, 0, [1; 32], url("s3://c")),
			Error::<Test>::NotValidator
		);
		run_to_block(5);
		assert_noop!(
			Training::commit_checkpoint(RuntimeOrigin::signed(1000), 0, 0, [1; 32], url("s3://c")),
			Error::<Test>::FutureRound
		);
		run_to_block(12);
		assert_noop!(
			Training::commit_checkpoint(RuntimeOrigin::signed(1000), 0, 0, [1; 32], url("")),
			Error::<Test>::EmptyUrl
		);
		// Half of the stake is not a majority; two hashes split it.
		assert_ok!(Training::commit_checkpoint(
			RuntimeOrigin::signed(1000),
			0,
			0,
			[1; 32],
			url("s3://c")
		));
		assert_noop!(
			Training::commit_checkpoint(RuntimeOrigin::signed(1000), 0, 0, [1; 32], url("s3://c")),
			Error::<Test>::CheckpointExists
		);
		assert_ok!(Training::commit_checkpoint(
			RuntimeOrigin::signed(1001),
			0,
			0,
			[2; 32],
			url("s3://d")
		));
		assert_eq!(Training::latest_checkpoint(0), None);
		assert!(Training::agreed_checkpoints(0).is_empty());
		run_to_block(2 + 10 * 5);
		assert_noop!(
			Training::commit_checkpoint(RuntimeOrigin::signed(1001), 0, 1, [2; 32], url("s3://d")),
			Error::<Test>::CheckpointTooOld
		);
		assert_ok!(Training::commit_checkpoint(
			RuntimeOrigin::signed(1001),
			0,
			4,
			[4; 32],
			url("s3://e")
		));
		assert_eq!(Training::latest_checkpoint(0), None);
		assert_ok!(Training::commit_checkpoint(
			RuntimeOrigin::signed(1000),
			0,
			4,
			[4; 32],
			url("s3://f")
		));
		assert_eq!(Training::latest_checkpoint(0), Some((4, [4; 32], b"s3://f".to_vec())));
		assert!(events().contains(&Event::CheckpointAgreed { run: 0, round: 4, hash: [4; 32] }));
	});
}
