//! A real `node --dev` process: it finalizes blocks, and a signed transfer from Alice, built
//! and signed by subxt (the client the workers use), succeeds with a `Transfer` event.

use std::time::Duration;

use codec::Decode;
use subxt::{dynamic, OnlineClient, SubstrateConfig};
use subxt_signer::sr25519::dev;
use system_tests::DevNode;

const AMOUNT: u128 = 1_234_567_890_000;

#[tokio::test(flavor = "multi_thread")]
async fn dev_node_finalizes_blocks_and_applies_a_signed_transfer() {
	let node = DevNode::start();
	let outcome = tokio::time::timeout(Duration::from_secs(180), scenario(&node.ws_url())).await;
	match outcome {
		Ok(Ok(())) => {}
		Ok(Err(e)) => panic!("{e}\nnode log:\n{}", node.log()),
		Err(_) => panic!("timed out\nnode log:\n{}", node.log()),
	}
}

async fn scenario(url: &str) -> Result<(), Box<dyn std::error::Error>> {
	let api = OnlineClient::<SubstrateConfig>::from_insecure_url(url).await?;

	// Finality: wait until block 3 is finalized.
	let mut finalized = api.stream_blocks().await?;
	loop {
		let block = finalized.next().await.ok_or("finalized stream ended")??;
		println!("finalized block #{}", block.number());
		if block.number() >= 3 {
			break;
		}
	}

	// A signed balance transfer from Alice to Bob.
	let (alice, bob) = (dev::alice(), dev::bob());
	let tx = dynamic::transaction(
		"Balances",
		"transfer_keep_alive",
		(bob.public_key().to_address::<()>(), AMOUNT),
	);
	let events = api
		.at_current_block()
		.await?
		.transactions()
		.sign_and_submit_then_watch_default(&tx, &alice)
		.await?
		.wait_for_finalized_success()
		.await?;

	let mut transfers = Vec::new();
	for event in events.iter() {
		let event = event?;
		if event.pallet_name() == "Balances" && event.event_name() == "Transfer" {
			transfers.push(<([u8; 32], [u8; 32], u128)>::decode(&mut event.field_bytes())?);
		}
	}
	assert_eq!(transfers, vec![(alice.public_key().0, bob.public_key().0, AMOUNT)]);
	Ok(())
}
