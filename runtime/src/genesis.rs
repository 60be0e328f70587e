//! Named genesis presets:
//!
//! - `development` (one authority, Alice) and `local_testnet` (Alice and Bob) fund the
//!   well-known dev accounts, make Alice sudo and seat Alice, Bob and Charlie on the council;
//! - `production` has no sudo key, no dev account and, by itself, no authority or council:
//!   the node fills those in from the operator's genesis file through [`production`]
//!   (`node --chain production:FILE`), so the council is the chain's only path to root.

use alloc::{vec, vec::Vec};
use frame_support::build_struct_json_patch;
use serde_json::Value;
use sp_consensus_aura::sr25519::AuthorityId as AuraId;
use sp_consensus_grandpa::AuthorityId as GrandpaId;
use sp_genesis_builder::{PresetId, DEV_RUNTIME_PRESET, LOCAL_TESTNET_RUNTIME_PRESET};
use sp_keyring::{Ed25519Keyring, Sr25519Keyring};

use crate::{
	AccountId, AuraConfig, BalancesConfig, CouncilConfig, GrandpaConfig, RuntimeGenesisConfig,
	SudoConfig, UNIT,
};

/// Balance given to each endowed dev account.
pub const ENDOWMENT: crate::Balance = 1_000_000 * UNIT;

/// The name of the production preset.
pub const PRODUCTION_PRESET: &str = "production";

fn genesis(
	authorities: Vec<(AuraId, GrandpaId)>,
	balances: Vec<(AccountId, crate::Balance)>,
	council: Vec<AccountId>,
	root: Option<AccountId>,
) -> Value {
	build_struct_json_patch!(RuntimeGenesisConfig {
		balances: BalancesConfig { balances },
		aura: AuraConfig {
			authorities: authorities.iter().map(|x| x.0.clone()).collect::<Vec<_>>()
		},
		grandpa: GrandpaConfig {
			authorities: authorities.into_iter().map(|x| (x.1, 1)).collect::<Vec<_>>(),
		},
		sudo: SudoConfig { key: root },
		council: CouncilConfig { members: council },
	})
}

/// Aura signs with the sr25519 key of the dev seed, GRANDPA votes with its ed25519 key.
fn authority(aura: Sr25519Keyring, grandpa: Ed25519Keyring) -> (AuraId, GrandpaId) {
	(aura.public().into(), grandpa.public().into())
}

/// The genesis of a production chain: these authorities (Aura and GRANDPA keys), balances
/// and council, and no sudo key. Root is then reachable only through the council's motions
/// (runtime upgrades, council membership, training runs).
pub fn production(
	authorities: Vec<(AuraId, GrandpaId)>,
	balances: Vec<(AccountId, crate::Balance)>,
	council: Vec<AccountId>,
) -> Value {
	genesis(authorities, balances, council, None)
}

fn dev_accounts() -> Vec<(AccountId, crate::Balance)> {
	Sr25519Keyring::iter().map(|k| (k.to_account_id(), ENDOWMENT)).collect()
}

fn council() -> Vec<AccountId> {
	[Sr25519Keyring::Alice, Sr25519Keyring::Bob, Sr25519Keyring::Charlie]
		.into_iter()
		.map(|k| k.to_account_id())
		.collect()
}

/// The JSON patch of a named preset, or `None` for an unknown name.
pub fn preset(id: &PresetId) -> Option<Vec<u8>> {
	let patch = match id.as_ref() {
		DEV_RUNTIME_PRESET => genesis(
			vec![authority(Sr25519Keyring::Alice, Ed25519Keyring::Alice)],
			dev_accounts(),
			council(),
			Some(Sr25519Keyring::Alice.to_account_id()),
		),
		LOCAL_TESTNET_RUNTIME_PRESET => genesis(
			vec![
				authority(Sr25519Keyring::Alice, Ed25519Keyring::Alice),
				authority(Sr25519Keyring::Bob, Ed25519Keyring::Bob),
			],
			dev_accounts(),
			council(),
			Some(Sr25519Keyring::Alice.to_account_id()),
		),
		PRODUCTION_PRESET => production(vec![], vec![], vec![]),
		_ => return None,
	};
	serde_json::to_vec(&patch).ok()
}

/// The names `preset` knows.
pub fn preset_names() -> Vec<PresetId> {
	vec![
		PresetId::from(DEV_RUNTIME_PRESET),
		PresetId::from(LOCAL_TESTNET_RUNTIME_PRESET),
		PresetId::from(PRODUCTION_PRESET),
	]
}
