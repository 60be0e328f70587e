//! The emission the chain pays this worker, for the operator's log and metrics: the `Paid`
//! events of `run` to this account in each finalized block, from the block the watch starts
//! at on (one events query per block).

use std::time::Duration;

use super::{Report, RunCtx};
use crate::chain::{AccountId, RunEvents};

/// Blocks read per pass at most, so that a worker that was away catches up in steps.
const BLOCKS_PER_PASS: u64 = 64;

/// Reports [`Report::Paid`] for every payout to `me` until the worker stops. A block that
/// cannot be read is read again on the next pass; a node that stays away only delays this.
pub async fn watch(ctx: RunCtx, me: AccountId, who: String) {
	let mut next: Option<u64> = None;
	while !ctx.stopped() {
		if let Ok(head) = ctx.chain.finalized_block_number().await {
			let from = *next.get_or_insert(head + 1);
			for number in from..=head.min(from + BLOCKS_PER_PASS - 1) {
				match ctx.chain.run_events(ctx.run, number).await {
					Ok(Some(events)) => {
						for (round, amount) in paid_to(&events, &me) {
							(ctx.report)(Report::Paid { who: who.clone(), round, amount });
						}
						next = Some(number + 1);
					}
					Ok(None) | Err(_) => break,
				}
			}
		}
		ctx.sleep(Duration::from_secs(2)).await;
	}
}

/// `(round, amount)` of each payout to `me` in one block's events.
pub fn paid_to<'a>(
	events: &'a RunEvents,
	me: &'a AccountId,
) -> impl Iterator<Item = (u64, crate::chain::Balance)> + 'a {
	events.paid.iter().filter(move |p| &p.who == me).map(|p| (p.round, p.amount))
}

#[cfg(test)]
mod tests {
	use super::*;
	use crate::chain::PaidEvent;
	use pallet_training::Role;

	#[test]
	fn only_this_accounts_payouts_count() {
		let (me, other): (AccountId, AccountId) = ([1; 32], [2; 32]);
		let paid = |who: &AccountId, round, amount| PaidEvent {
			round,
			who: *who,
			role: Role::Miner,
			uid: 0,
			amount,
		};
		let events = RunEvents {
			paid: vec![paid(&me, 4, 10), paid(&other, 4, 99), paid(&me, 5, 7)],
			settled: Vec::new(),
		};
		assert_eq!(paid_to(&events, &me).collect::<Vec<_>>(), vec![(4, 10), (5, 7)]);
	}
}
