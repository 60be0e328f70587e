//! Every genesis preset builds a usable state (the production one without sudo), every
//! pallet's integrity test passes under this runtime's configuration, and the metadata
//! decodes as V16.

use codec::Decode;
use frame_metadata::{RuntimeMetadata, RuntimeMetadataPrefixed};
use frame_support::genesis_builder_helper::build_state;
use sp_genesis_builder::{PresetId, DEV_RUNTIME_PRESET, LOCAL_TESTNET_RUNTIME_PRESET};
use training_runtime::{genesis, Runtime, RuntimeGenesisConfig};

/// Builds the preset's full genesis config (defaults patched by the preset) into fresh storage
/// and runs `check` on the resulting state.
fn with_preset_state(id: &str, check: impl FnOnce()) {
	let patch = genesis::preset(&PresetId::from(id)).expect("preset exists");
	let mut full = serde_json::to_value(RuntimeGenesisConfig::default()).unwrap();
	let patch: serde_json::Value = serde_json::from_slice(&patch).expect("preset is JSON");
	merge(&mut full, patch);
	sp_io::TestExternalities::default().execute_with(|| {
		build_state::<RuntimeGenesisConfig>(serde_json::to_vec(&full).unwrap())
			.unwrap_or_else(|e| panic!("preset {id} does not build: {e}"));
		check();
	});
}

fn merge(base: &mut serde_json::Value, patch: serde_json::Value) {
	match (base, patch) {
		(serde_json::Value::Object(base), serde_json::Value::Object(patch)) => {
			for (k, v) in patch {
				merge(base.entry(k).or_insert(serde_json::Value::Null), v);
			}
		}
		(base, patch) => *base = patch,
	}
}

#[test]
fn preset_names_are_the_documented_ones() {
	let names = genesis::preset_names();
	assert_eq!(
		names,
		vec![
			PresetId::from(DEV_RUNTIME_PRESET),
			PresetId::from(LOCAL_TESTNET_RUNTIME_PRESET),
			PresetId::from(genesis::PRODUCTION_PRESET),
		]
	);
	assert!(genesis::preset(&PresetId::from("no-such-preset")).is_none());
}

#[test]
fn every_preset_builds_with_authorities_funds_sudo_and_council() {
	for (id, authorities) in [(DEV_RUNTIME_PRESET, 1), (LOCAL_TESTNET_RUNTIME_PRESET, 2)] {
		with_preset_state(id, || {
			assert_eq!(pallet_aura::Authorities::<Runtime>::get().len(), authorities, "{id}");
			let grandpa = pallet_grandpa::Pallet::<Runtime>::grandpa_authorities();
			assert_eq!(grandpa.len(), authorities);
			// GRANDPA votes with the ed25519 key of the dev seed; a wrong key halts finality.
			let alice_ed: sp_consensus_grandpa::AuthorityId =
				sp_keyring::Ed25519Keyring::Alice.public().into();
			assert_eq!(grandpa[0], (alice_ed, 1));
			let alice_sr: sp_consensus_aura::sr25519::AuthorityId =
				sp_keyring::Sr25519Keyring::Alice.public().into();
			assert_eq!(pallet_aura::Authorities::<Runtime>::get()[0], alice_sr);
			let alice = sp_keyring::Sr25519Keyring::Alice.to_account_id();
			assert_eq!(
				pallet_balances::Pallet::<Runtime>::free_balance(&alice),
				genesis::ENDOWMENT
			);
			assert_eq!(pallet_sudo::Key::<Runtime>::get(), Some(alice));
			assert_eq!(
				pallet_collective::Members::<Runtime, pallet_collective::Instance1>::get().len(),
				3
			);
		});
	}
}

#[test]
fn the_production_genesis_has_the_operators_keys_and_no_sudo() {
	use sp_keyring::{Ed25519Keyring, Sr25519Keyring};
	let alice = Sr25519Keyring::Alice.to_account_id();
	with_preset_state(genesis::PRODUCTION_PRESET, || {
		assert_eq!(pallet_sudo::Key::<Runtime>::get(), None);
		assert_eq!(pallet_balances::Pallet::<Runtime>::free_balance(&alice), 0, "no dev funds");
	});
	// What `node --chain production:FILE` builds from an operator's file.
	let charlie = Sr25519Keyring::Charlie.to_account_id();
	let patch = genesis::production(
		vec![(Sr25519Keyring::Bob.public().into(), Ed25519Keyring::Bob.public().into())],
		vec![(charlie.clone(), 5 * training_runtime::UNIT)],
		vec![charlie.clone()],
	);
	let mut full = serde_json::to_value(RuntimeGenesisConfig::default()).unwrap();
	merge(&mut full, patch);
	sp_io::TestExternalities::default().execute_with(|| {
		build_state::<RuntimeGenesisConfig>(serde_json::to_vec(&full).unwrap()).unwrap();
		assert_eq!(pallet_sudo::Key::<Runtime>::get(), None);
		let bob: sp_consensus_aura::sr25519::AuthorityId = Sr25519Keyring::Bob.public().into();
		assert_eq!(pallet_aura::Authorities::<Runtime>::get().to_vec(), vec![bob]);
		assert_eq!(
			pallet_collective::Members::<Runtime, pallet_collective::Instance1>::get(),
			vec![charlie]
		);
	});
}

/// Among them, pallet-training's: `MaxRuns` settlements at the maximum sizes fit the share
/// of a block the normal class leaves to the hooks.
#[test]
fn every_pallets_integrity_test_passes() {
	use frame_support::{dispatch::DispatchClass, traits::IntegrityTest};
	sp_io::TestExternalities::default().execute_with(|| {
		training_runtime::AllPalletsWithSystem::integrity_test();
		let hooks = pallet_training::settlement::max_hook_weight::<Runtime>();
		let block = <Runtime as frame_system::Config>::BlockWeights::get();
		let normal = block.get(DispatchClass::Normal).max_total.unwrap_or(block.max_block);
		let permille = |w: frame_support::weights::Weight| {
			w.ref_time().saturating_mul(1000) / block.max_block.ref_time()
		};
		println!(
			"worst-case hooks {} permille of a block, budget {} permille",
			permille(hooks),
			permille(block.max_block.saturating_sub(normal))
		);
		// One settlement of a full run, by 32 validators and by one (whose distinct scores
		// make the rating dearest): the goal is under 10 % of a block each.
		for v in [32, 1] {
			let w = pallet_training::settlement::settle_weight::<Runtime>(256, v);
			println!("settlement 256 x {v}: {} permille of a block", permille(w));
			assert!(permille(w) < 100, "settlement 256 x {v} takes {w}");
		}
	});
}

#[test]
fn metadata_is_v16_and_lists_every_pallet() {
	let versions = Runtime::metadata_versions();
	assert!(versions.contains(&16), "metadata versions: {versions:?}");
	let opaque = Runtime::metadata_at_version(16).expect("V16 metadata");
	let prefixed = RuntimeMetadataPrefixed::decode(&mut &opaque[..]).expect("decodes");
	let RuntimeMetadata::V16(meta) = prefixed.1 else { panic!("not V16") };
	let pallets: Vec<_> = meta.pallets.iter().map(|p| p.name.as_str()).collect();
	for name in [
		"System",
		"Timestamp",
		"Aura",
		"Grandpa",
		"Balances",
		"TransactionPayment",
		"Sudo",
		"Council",
		"Training",
		"Governance",
	] {
		assert!(pallets.contains(&name), "{name} missing from {pallets:?}");
	}
}

/// The release build and the `upgrade-test` build differ only in `spec_version`, and the
/// migrations the runtime lists leave pallet-training at its in-code storage version.
#[test]
fn version_and_storage_version() {
	use frame_support::traits::GetStorageVersion;
	let v = training_runtime::VERSION;
	assert_eq!(v.spec_name, "training-chain");
	assert!(v.spec_version >= 107);
	assert_eq!(training_runtime::Training::in_code_storage_version(), 4);
}
