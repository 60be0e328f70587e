//! The operator's genesis file of a production chain (`--chain production:FILE`): who
//! authors and finalizes blocks, who sits on the council, and who holds the first balances.
//!
//! ```json
//! {
//!   "name": "Training Network",
//!   "id": "training",
//!   "protocolId": "train",
//!   "bootNodes": ["/dns/boot.example.org/tcp/30333/p2p/12D3KooW..."],
//!   "authorities": [{ "aura": "5Grw...", "grandpa": "5FA9..." }],
//!   "council": ["5Grw...", "5FHn...", "5FLS..."],
//!   "balances": [{ "account": "5Grw...", "balance": "1000 TRAIN" }]
//! }
//! ```
//!
//! Keys are SS58 addresses (`node key inspect` prints them): each authority's sr25519 Aura
//! key and ed25519 GRANDPA key, and the council's and holders' sr25519 accounts. A balance is
//! a whole number of plancks or `"<n> TRAIN"`. The file is checked whole before a chain spec
//! is built from it: a chain launched from a mistaken genesis cannot be corrected without the
//! council it may lack.

use std::{collections::BTreeSet, path::Path};

use serde::Deserialize;
use sp_core::{crypto::Ss58Codec, ed25519, sr25519};
use training_runtime::{AccountId, Balance, EXISTENTIAL_DEPOSIT, UNIT};

/// Refuses files larger than this before parsing them.
const MAX_FILE_BYTES: u64 = 1 << 20;
/// Aura's and GRANDPA's `MaxAuthorities` in the runtime.
const MAX_AUTHORITIES: usize = 32;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawFile {
	name: String,
	id: String,
	#[serde(default)]
	protocol_id: Option<String>,
	#[serde(default)]
	boot_nodes: Vec<String>,
	authorities: Vec<RawAuthority>,
	council: Vec<String>,
	balances: Vec<RawBalance>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAuthority {
	aura: String,
	grandpa: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBalance {
	account: String,
	balance: String,
}

/// A checked genesis file.
#[derive(Debug)]
pub struct GenesisFile {
	pub name: String,
	pub id: String,
	pub protocol_id: Option<String>,
	pub boot_nodes: Vec<sc_network::config::MultiaddrWithPeerId>,
	pub authorities: Vec<(sr25519::Public, ed25519::Public)>,
	pub council: Vec<AccountId>,
	pub balances: Vec<(AccountId, Balance)>,
}

impl GenesisFile {
	/// Reads and checks the file at `path`.
	pub fn read(path: &Path) -> Result<Self, String> {
		let at = |e: String| format!("genesis file {}: {e}", path.display());
		let meta = std::fs::metadata(path).map_err(|e| at(e.to_string()))?;
		if meta.len() > MAX_FILE_BYTES {
			return Err(at(format!(
				"{} bytes, more than the {MAX_FILE_BYTES} allowed",
				meta.len()
			)));
		}
		let text = std::fs::read_to_string(path).map_err(|e| at(e.to_string()))?;
		Self::parse(&text).map_err(at)
	}

	/// Parses and checks the file's text.
	pub fn parse(text: &str) -> Result<Self, String> {
		let raw: RawFile = serde_json::from_str(text).map_err(|e| e.to_string())?;
		let name = raw.name.trim().to_string();
		if name.is_empty() {
			return Err("`name` is empty".into());
		}
		if raw.id.is_empty()
			|| !raw.id.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
		{
			return Err(format!("`id` {:?} must be lowercase letters, digits and `_`", raw.id));
		}
		let boot_nodes = raw
			.boot_nodes
			.iter()
			.map(|b| b.parse().map_err(|e| format!("boot node {b:?}: {e}")))
			.collect::<Result<Vec<_>, _>>()?;

		if raw.authorities.is_empty() || raw.authorities.len() > MAX_AUTHORITIES {
			return Err(format!(
				"{} authorities: a chain needs 1 to {MAX_AUTHORITIES}",
				raw.authorities.len()
			));
		}
		let mut authorities = Vec::new();
		for (i, a) in raw.authorities.iter().enumerate() {
			let aura = sr25519::Public::from_ss58check(&a.aura)
				.map_err(|e| format!("authorities[{i}].aura {:?}: {e:?}", a.aura))?;
			let grandpa = ed25519::Public::from_ss58check(&a.grandpa)
				.map_err(|e| format!("authorities[{i}].grandpa {:?}: {e:?}", a.grandpa))?;
			authorities.push((aura, grandpa));
		}
		unique(authorities.iter().map(|a| a.0), "Aura key")?;
		unique(authorities.iter().map(|a| a.1), "GRANDPA key")?;

		let mut balances = Vec::new();
		for (i, b) in raw.balances.iter().enumerate() {
			let who = account(&b.account).map_err(|e| format!("balances[{i}].account {e}"))?;
			let amount = balance(&b.balance)
				.map_err(|e| format!("balances[{i}].balance {:?}: {e}", b.balance))?;
			if amount < EXISTENTIAL_DEPOSIT {
				return Err(format!(
					"balances[{i}]: {amount} plancks is below the existential deposit \
					 ({EXISTENTIAL_DEPOSIT})"
				));
			}
			balances.push((who, amount));
		}
		unique(balances.iter().map(|b| b.0.clone()), "balance holder")?;

		let max_council = training_runtime::COUNCIL_MAX_MEMBERS as usize;
		if raw.council.is_empty() || raw.council.len() > max_council {
			return Err(format!(
				"{} council members: the council is the chain's only root, so it needs 1 to \
				 {max_council}",
				raw.council.len()
			));
		}
		let council = raw
			.council
			.iter()
			.enumerate()
			.map(|(i, c)| account(c).map_err(|e| format!("council[{i}] {e}")))
			.collect::<Result<Vec<_>, _>>()?;
		unique(council.iter().cloned(), "council member")?;
		for member in &council {
			if !balances.iter().any(|(who, _)| who == member) {
				return Err(format!(
					"council member {} holds no balance: it could not pay for a motion (add \
					 it to `balances`)",
					member.to_ss58check()
				));
			}
		}

		Ok(GenesisFile {
			name,
			id: raw.id,
			protocol_id: raw.protocol_id,
			boot_nodes,
			authorities,
			council,
			balances,
		})
	}
}

fn account(ss58: &str) -> Result<AccountId, String> {
	AccountId::from_ss58check(ss58).map_err(|e| format!("{ss58:?}: {e:?}"))
}

/// A whole number of plancks, or `"<n> TRAIN"`.
fn balance(text: &str) -> Result<Balance, String> {
	let text = text.trim();
	let (digits, scale) = match text.strip_suffix("TRAIN") {
		Some(units) => (units.trim(), UNIT),
		None => (text, 1),
	};
	let n: Balance =
		digits.parse().map_err(|_| "not a whole number of plancks or `<n> TRAIN`".to_string())?;
	n.checked_mul(scale).ok_or_else(|| "too large".to_string())
}

fn unique<T: Ord + std::fmt::Debug>(
	items: impl Iterator<Item = T>,
	what: &str,
) -> Result<(), String> {
	let mut seen = BTreeSet::new();
	for item in items {
		if let Some(dup) = seen.replace(item) {
			return Err(format!("{what} {dup:?} is listed twice"));
		}
	}
	Ok(())
}

#[cfg(test)]
mod tests {
	use super::*;
	use sp_keyring::{Ed25519Keyring, Sr25519Keyring};

	fn ss58(k: Sr25519Keyring) -> String {
		k.to_account_id().to_ss58check()
	}

	fn file(council: &[&str], balances: &[(&str, &str)]) -> String {
		serde_json::json!({
			"name": "Training Network",
			"id": "training",
			"authorities": [{
				"aura": ss58(Sr25519Keyring::Alice),
				"grandpa": Ed25519Keyring::Alice.public().to_ss58check(),
			}],
			"council": council,
			"balances": balances.iter().map(|(a, b)| serde_json::json!({"account": a, "balance": b})).collect::<Vec<_>>(),
		})
		.to_string()
	}

	#[test]
	fn a_good_file_parses() {
		let alice = ss58(Sr25519Keyring::Alice);
		let g = GenesisFile::parse(&file(&[&alice], &[(&alice, "1000 TRAIN")])).unwrap();
		assert_eq!(g.council, vec![Sr25519Keyring::Alice.to_account_id()]);
		assert_eq!(g.balances[0].1, 1000 * UNIT);
		assert_eq!(g.authorities[0].1, Ed25519Keyring::Alice.public());
	}

	#[test]
	fn mistakes_are_named() {
		let alice = ss58(Sr25519Keyring::Alice);
		let bob = ss58(Sr25519Keyring::Bob);
		let cases = [
			(file(&[], &[(&alice, "1 TRAIN")]), "0 council members"),
			(file(&[&alice, &alice], &[(&alice, "1 TRAIN")]), "listed twice"),
			(file(&[&bob], &[(&alice, "1 TRAIN")]), "holds no balance"),
			(file(&[&alice], &[(&alice, "1")]), "below the existential deposit"),
			(file(&[&alice], &[(&alice, "lots")]), "not a whole number"),
			(file(&["5notanaddress"], &[(&alice, "1 TRAIN")]), "council[0]"),
			(
				file(&[&alice], &[(&alice, "1 TRAIN")]).replace("\"id\"", "\"sudo\""),
				"unknown field",
			),
		];
		for (text, expect) in cases {
			let err = GenesisFile::parse(&text).unwrap_err();
			assert!(err.contains(expect), "{err:?} does not say {expect:?}");
		}
	}
}
