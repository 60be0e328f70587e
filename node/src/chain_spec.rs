//! Built-in chain specifications, each built from a genesis preset of the runtime.

use sc_service::ChainType;
use sp_genesis_builder::{DEV_RUNTIME_PRESET, LOCAL_TESTNET_RUNTIME_PRESET};

/// A chain spec without client extensions.
pub type ChainSpec = sc_service::GenericChainSpec;

fn wasm() -> Result<&'static [u8], String> {
	training_runtime::WASM_BINARY.ok_or_else(|| {
		"this node was built without the runtime wasm (SKIP_WASM_BUILD was set): rebuild it \
		 with `make build`"
			.to_string()
	})
}

fn properties() -> sc_service::Properties {
	let mut p = sc_service::Properties::new();
	p.insert("tokenSymbol".into(), "TRAIN".into());
	p.insert("tokenDecimals".into(), 12.into());
	p.insert("ss58Format".into(), 42.into());
	p
}

/// `--dev`: one authority (Alice), sudo Alice, funded dev accounts.
pub fn development() -> Result<ChainSpec, String> {
	Ok(ChainSpec::builder(wasm()?, None)
		.with_name("Training Development")
		.with_id("training_dev")
		.with_chain_type(ChainType::Development)
		.with_genesis_config_preset_name(DEV_RUNTIME_PRESET)
		.with_properties(properties())
		.build())
}

/// `--chain local`: two authorities (Alice, Bob).
pub fn local_testnet() -> Result<ChainSpec, String> {
	Ok(ChainSpec::builder(wasm()?, None)
		.with_name("Training Local Testnet")
		.with_id("training_local")
		.with_chain_type(ChainType::Local)
		.with_genesis_config_preset_name(LOCAL_TESTNET_RUNTIME_PRESET)
		.with_properties(properties())
		.build())
}

/// `--chain production:FILE`: the authorities, council and balances of the operator's
/// genesis file (see [`crate::genesis_file`]) over the runtime's `production` preset, which
/// has no sudo key: the council is the only path to root, and runtime upgrades go through
/// its motions.
pub fn production(path: &str) -> Result<ChainSpec, String> {
	let file = crate::genesis_file::GenesisFile::read(std::path::Path::new(path))?;
	let authorities = file
		.authorities
		.iter()
		.map(|(aura, grandpa)| ((*aura).into(), (*grandpa).into()))
		.collect();
	let patch = training_runtime::genesis::production(authorities, file.balances, file.council);
	let mut builder = ChainSpec::builder(wasm()?, None)
		.with_name(&file.name)
		.with_id(&file.id)
		.with_chain_type(ChainType::Live)
		.with_genesis_config_patch(patch)
		.with_boot_nodes(file.boot_nodes)
		.with_properties(properties());
	if let Some(protocol) = &file.protocol_id {
		builder = builder.with_protocol_id(protocol);
	}
	Ok(builder.build())
}
