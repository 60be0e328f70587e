//! Runtime upgrades from the command line: `offchain-gpu propose-upgrade` and its helpers.
//!
//! Two paths (see `docs/runtime-upgrades.md`):
//!
//! - **dev chain** (`--sudo`): `Sudo.sudo_unchecked_weight(System.set_code(code))` in one
//!   transaction.
//! - **governed chain**: a council motion `Governance.authorize_upgrade(blake2_256(code))`
//!   (threshold: two thirds of the seats, rounded up), votes, `Council.close`, then anyone
//!   submits `System.apply_authorized_upgrade(code)`.
//!
//! Before anything is submitted the blob's own `RuntimeVersion` (read from its
//! `runtime_version` wasm custom section, after zstd decompression) is checked against the
//! live runtime's: same `spec_name`, higher `spec_version`. `frame-system` enforces the same
//! rules on chain; checking first gives a clear one-line refusal instead of a failed
//! transaction.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use codec::{Compact, Decode, Encode};
use sp_version::RuntimeVersion;
use subxt_signer::sr25519::Keypair;

use crate::chain::{AccountId, Chain, RawArgs, RawCall, RawEvent};

/// Name of the council pallet in the runtime.
pub const COUNCIL: &str = "Council";
/// Name of the pallet whose `authorize_upgrade` a council motion calls.
pub const GOVERNANCE: &str = "Governance";

/// A runtime blob read from disk.
#[derive(Clone, Debug)]
pub struct Wasm {
	/// The bytes as they will be submitted (usually zstd-compressed).
	pub code: Vec<u8>,
	/// blake2-256 of `code`: the hash a council authorizes.
	pub code_hash: [u8; 32],
	/// The version the blob declares.
	pub version: RuntimeVersion,
}

impl Wasm {
	/// Reads `path` (a `.compact.compressed.wasm` or plain `.wasm`) and its version.
	pub fn read(path: &Path) -> Result<Self> {
		let code =
			std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
		Self::from_code(code).with_context(|| format!("{} is not a usable runtime", path.display()))
	}

	pub fn from_code(code: Vec<u8>) -> Result<Self> {
		let version = runtime_version_of(&code)?;
		Ok(Self { code_hash: sp_crypto_hashing::blake2_256(&code), code, version })
	}
}

/// The `RuntimeVersion` a runtime blob declares in its `runtime_version` custom section (the
/// section `#[sp_version::runtime_version]` emits; the node reads the same one).
pub fn runtime_version_of(code: &[u8]) -> Result<RuntimeVersion> {
	let wasm =
		sp_maybe_compressed_blob::decompress(code, sp_maybe_compressed_blob::CODE_BLOB_BOMB_LIMIT)
			.map_err(|e| anyhow!("cannot decompress the runtime blob: {e}"))?;
	let section = custom_section(&wasm, "runtime_version")
		.ok_or_else(|| anyhow!("no `runtime_version` section: not a Substrate runtime wasm"))?;
	RuntimeVersion::decode(&mut &section[..])
		.map_err(|e| anyhow!("cannot decode the runtime version: {e}"))
}

/// The payload of the first custom section (id 0) named `name` in a wasm module.
fn custom_section<'a>(wasm: &'a [u8], name: &str) -> Option<&'a [u8]> {
	fn leb128(bytes: &[u8]) -> Option<(usize, usize)> {
		let mut value: u64 = 0;
		for (i, &b) in bytes.iter().take(5).enumerate() {
			value |= u64::from(b & 0x7f) << (7 * i);
			if b & 0x80 == 0 {
				return usize::try_from(value).ok().map(|v| (v, i + 1));
			}
		}
		None
	}
	if wasm.get(0..4)? != b"\0asm" {
		return None;
	}
	let mut pos = 8;
	while pos < wasm.len() {
		let id = wasm[pos];
		let (size, n) = leb128(wasm.get(pos + 1..)?)?;
		let start = pos + 1 + n;
		let end = start.checked_add(size)?;
		let section = wasm.get(start..end)?;
		if id == 0 {
			let (len, k) = leb128(section)?;
			if section.get(k..k.checked_add(len)?)? == name.as_bytes() {
				return section.get(k + len..);
			}
		}
		pos = end;
	}
	None
}

/// Refuses, in one line, an upgrade that `frame-system` would reject.
pub fn check_upgrade(live: &RuntimeVersion, new: &RuntimeVersion) -> Result<()> {
	if new.spec_name != live.spec_name {
		bail!(
			"refusing: the wasm's spec_name `{}` differs from the live runtime's `{}`",
			new.spec_name,
			live.spec_name
		);
	}
	if new.spec_version <= live.spec_version {
		bail!(
			"refusing: the wasm's spec_version {} is not higher than the live runtime's {} (bump `spec_version` in runtime/src/lib.rs)",
			new.spec_version,
			live.spec_version
		);
	}
	Ok(())
}

/// A council motion as proposed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Motion {
	/// blake2-256 of the proposed call.
	pub hash: [u8; 32],
	pub index: u32,
	/// Ayes needed.
	pub threshold: u32,
	/// Encoded length of the proposed call (the `length_bound` of `close`).
	pub length: u32,
}

/// Ayes needed for a two-thirds motion with `seats` council members (rounded up).
pub fn two_thirds(seats: u32) -> u32 {
	(2 * seats).div_ceil(3)
}

/// Upper bound on the weight of the proposed call passed to `Council.close`: far above what
/// `Governance.authorize_upgrade` costs, far below the council's `MaxProposalWeight`.
const PROPOSAL_WEIGHT_BOUND: (u64, u64) = (10_000_000_000, 1_000_000);

fn find<'a>(events: &'a [RawEvent], pallet: &str, name: &str) -> Option<&'a RawEvent> {
	events.iter().find(|e| e.pallet == pallet && e.name == name)
}

impl Chain {
	/// The live runtime's version (runtime API `Core_version` at the latest finalized block).
	pub async fn runtime_version(&self) -> Result<RuntimeVersion> {
		let at = self.api().at_current_block().await?;
		let raw = at.runtime_apis().call_raw("Core_version", None).await.context("Core_version")?;
		RuntimeVersion::decode(&mut &raw[..]).context("decoding the live runtime version")
	}

	/// The council's members (`Council.Members`).
	pub async fn council_members(&self) -> Result<Vec<AccountId>> {
		let key = [
			sp_crypto_hashing::twox_128(COUNCIL.as_bytes()),
			sp_crypto_hashing::twox_128(b"Members"),
		]
		.concat();
		let at = self.api().at_current_block().await?;
		match at.storage().fetch_raw(key).await {
			Ok(raw) => Ok(<Vec<AccountId>>::decode(&mut &raw[..])?),
			Err(subxt::error::StorageError::NoValueFound) => Ok(Vec::new()),
			Err(e) => Err(e).context("reading Council.Members"),
		}
	}

	/// On-chain storage version of `pallet`.
	pub async fn pallet_storage_version(&self, pallet: &str) -> Result<u16> {
		let at = self.api().at_current_block().await?;
		at.storage()
			.storage_version(pallet)
			.await
			.with_context(|| format!("storage version of {pallet}"))
	}

	/// Dev path: `Sudo.sudo_unchecked_weight(System.set_code(code), 0)`; fails unless the
	/// call dispatched and `System.CodeUpdated` was emitted.
	pub async fn sudo_set_code(&self, sudo_key: &Keypair, code: &[u8]) -> Result<()> {
		let inner = self.call_bytes(&RawCall::new("System", "set_code", (code.to_vec(),))).await?;
		let mut args = inner;
		(Compact(0u64), Compact(0u64)).encode_to(&mut args);
		let call = RawCall {
			pallet: "Sudo".into(),
			call: "sudo_unchecked_weight".into(),
			args: RawArgs(args),
		};
		let events = self.submit_finalized(sudo_key, &call).await?;
		match find(&events, "Sudo", "Sudid") {
			Some(e) if e.fields.first() == Some(&0) => {}
			Some(e) => bail!("sudo(System.set_code) dispatch failed: {}", hex::encode(&e.fields)),
			None => bail!("sudo(System.set_code) emitted no Sudid event"),
		}
		find(&events, "System", "CodeUpdated")
			.ok_or_else(|| anyhow!("set_code emitted no CodeUpdated"))?;
		Ok(())
	}

	/// Proposes the council motion `Governance.authorize_upgrade(code_hash)` with a
	/// two-thirds threshold. `Ok(None)` when it executed at once (a one-seat council).
	pub async fn propose_upgrade_motion(
		&self,
		proposer: &Keypair,
		code_hash: [u8; 32],
	) -> Result<Option<Motion>> {
		let seats = self.council_members().await?.len() as u32;
		if seats == 0 {
			bail!("the council has no members: use --sudo on a dev chain");
		}
		let threshold = two_thirds(seats);
		let proposal =
			self.call_bytes(&RawCall::new(GOVERNANCE, "authorize_upgrade", (code_hash,))).await?;
		let length = proposal.len() as u32;
		let mut args = Compact(threshold).encode();
		args.extend_from_slice(&proposal);
		Compact(length).encode_to(&mut args);
		let call = RawCall { pallet: COUNCIL.into(), call: "propose".into(), args: RawArgs(args) };
		let events = self.submit_finalized(proposer, &call).await?;
		if let Some(e) = find(&events, COUNCIL, "Proposed") {
			let (_who, index, hash, threshold) =
				<(AccountId, u32, [u8; 32], u32)>::decode(&mut &e.fields[..])?;
			return Ok(Some(Motion { hash, index, threshold, length }));
		}
		match find(&events, COUNCIL, "Executed") {
			Some(e) => {
				check_executed(e)?;
				Ok(None)
			}
			None => bail!("Council.propose emitted neither Proposed nor Executed"),
		}
	}

	/// `Council.vote(motion, approve)`.
	pub async fn vote_motion(
		&self,
		voter: &Keypair,
		hash: [u8; 32],
		index: u32,
		approve: bool,
	) -> Result<()> {
		let args = (hash, Compact(index), approve);
		self.submit_finalized(voter, &RawCall::new(COUNCIL, "vote", args)).await.map(drop)
	}

	/// `Council.close(motion)`; fails unless the motion was approved and its call succeeded.
	pub async fn close_motion(
		&self,
		signer: &Keypair,
		hash: [u8; 32],
		index: u32,
		length: u32,
	) -> Result<()> {
		let weight = (Compact(PROPOSAL_WEIGHT_BOUND.0), Compact(PROPOSAL_WEIGHT_BOUND.1));
		let args = (hash, Compact(index), weight, Compact(length));
		let events = self.submit_finalized(signer, &RawCall::new(COUNCIL, "close", args)).await?;
		if find(&events, COUNCIL, "Disapproved").is_some() {
			bail!("the motion was disapproved (not enough ayes)");
		}
		let e = find(&events, COUNCIL, "Executed")
			.ok_or_else(|| anyhow!("Council.close did not execute the motion"))?;
		check_executed(e)
	}

	/// `System.apply_authorized_upgrade(code)`; fails unless `System.CodeUpdated` follows.
	pub async fn apply_authorized_upgrade(&self, signer: &Keypair, code: &[u8]) -> Result<()> {
		let events = self
			.submit_finalized(
				signer,
				&RawCall::new("System", "apply_authorized_upgrade", (code.to_vec(),)),
			)
			.await?;
		if find(&events, "System", "RejectedInvalidAuthorizedUpgrade").is_some() {
			bail!("the runtime refused the authorized code (spec name or version check failed)");
		}
		find(&events, "System", "CodeUpdated")
			.ok_or_else(|| anyhow!("apply_authorized_upgrade emitted no CodeUpdated"))?;
		Ok(())
	}

	/// `System.LastRuntimeUpgrade`: the spec version whose migrations last ran. The executive
	/// writes it in the first block that runs new code, after the migrations, so it lags
	/// the block that set the code by one.
	pub async fn last_runtime_upgrade(&self) -> Result<u32> {
		let key = [
			sp_crypto_hashing::twox_128(b"System"),
			sp_crypto_hashing::twox_128(b"LastRuntimeUpgrade"),
		]
		.concat();
		let at = self.api().at_current_block().await?;
		let raw = at.storage().fetch_raw(key).await.context("reading System.LastRuntimeUpgrade")?;
		let (spec_version, _spec_name) = <(Compact<u32>, String)>::decode(&mut &raw[..])?;
		Ok(spec_version.0)
	}

	/// Waits until the latest finalized block ran `spec_version`'s code and migrations (its
	/// `LastRuntimeUpgrade` is at least `spec_version`).
	pub async fn wait_for_spec_version(&self, spec_version: u32, timeout: Duration) -> Result<()> {
		let start = Instant::now();
		loop {
			let live = self.last_runtime_upgrade().await?;
			if live >= spec_version {
				return Ok(());
			}
			if start.elapsed() > timeout {
				bail!("spec_version {spec_version} not live after {timeout:?} (still {live})");
			}
			tokio::time::sleep(Duration::from_millis(500)).await;
		}
	}
}

/// `Executed { proposal_hash, result }`: the result's first byte is 0 for `Ok`.
fn check_executed(e: &RawEvent) -> Result<()> {
	match e.fields.get(32) {
		Some(0) => Ok(()),
		_ => bail!(
			"the motion's call failed: {}",
			hex::encode(e.fields.get(32..).unwrap_or_default())
		),
	}
}

/// What [`propose_upgrade`] should do.
pub struct ProposeUpgrade<'a> {
	pub wasm: &'a Wasm,
	pub key: &'a Keypair,
	/// Dev path: sudo `set_code` instead of a council motion.
	pub sudo: bool,
	/// Council members that vote aye after the proposal (dev testing); with them the motion
	/// is closed and the code applied.
	pub approve_with: &'a [Keypair],
	/// How long to wait for the new version to be live.
	pub timeout: Duration,
}

/// What happened.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
	/// The new runtime is live.
	Upgraded { spec_version: u32 },
	/// A motion is open and waits for votes and `close`.
	MotionOpen(Motion),
}

/// Checks the blob against the live runtime and upgrades (or opens the motion), printing
/// each step on stdout through `say`.
pub async fn propose_upgrade(
	chain: &Chain,
	p: ProposeUpgrade<'_>,
	say: &mut dyn FnMut(String),
) -> Result<Outcome> {
	let live = chain.runtime_version().await?;
	check_upgrade(&live, &p.wasm.version)?;
	let target = p.wasm.version.spec_version;
	say(format!(
		"upgrading {} from spec_version {} to {target} (code {} bytes, blake2-256 0x{})",
		live.spec_name,
		live.spec_version,
		p.wasm.code.len(),
		hex::encode(p.wasm.code_hash)
	));
	if p.sudo {
		chain.sudo_set_code(p.key, &p.wasm.code).await?;
		say("sudo(System.set_code) included".into());
	} else {
		match chain.propose_upgrade_motion(p.key, p.wasm.code_hash).await? {
			None => say("motion executed at once (one-seat council): upgrade authorized".into()),
			Some(m) => {
				say(format!(
					"motion proposed: hash 0x{} index {} threshold {} length {}",
					hex::encode(m.hash),
					m.index,
					m.threshold,
					m.length
				));
				if p.approve_with.is_empty() {
					return Ok(Outcome::MotionOpen(m));
				}
				for voter in p.approve_with {
					chain.vote_motion(voter, m.hash, m.index, true).await?;
					say(format!("aye from 0x{}", hex::encode(crate::chain::account_of(voter))));
				}
				chain.close_motion(p.key, m.hash, m.index, m.length).await?;
				say("motion closed and executed: upgrade authorized".into());
			}
		}
		chain.apply_authorized_upgrade(p.key, &p.wasm.code).await?;
		say("System.apply_authorized_upgrade included".into());
	}
	chain.wait_for_spec_version(target, p.timeout).await?;
	say(format!("spec_version {target} is live"));
	Ok(Outcome::Upgraded { spec_version: target })
}

#[cfg(test)]
mod tests {
	use super::*;

	fn version(name: &'static str, spec: u32) -> RuntimeVersion {
		RuntimeVersion { spec_name: name.into(), spec_version: spec, ..Default::default() }
	}

	#[test]
	fn upgrade_checks() {
		assert!(check_upgrade(&version("a", 1), &version("a", 2)).is_ok());
		let e = check_upgrade(&version("a", 2), &version("a", 2)).unwrap_err().to_string();
		assert!(e.contains("not higher") && !e.contains('\n'), "{e}");
		let e = check_upgrade(&version("a", 1), &version("b", 2)).unwrap_err().to_string();
		assert!(e.contains("spec_name"), "{e}");
	}

	#[test]
	fn thresholds() {
		assert_eq!([1, 2, 3, 4, 5, 6].map(two_thirds), [1, 2, 2, 3, 4, 4]);
	}

	/// A hand-built module: header, a type section to skip, then the custom section.
	#[test]
	fn reads_the_runtime_version_section() {
		let v = version("training-chain", 7);
		let payload = v.encode();
		let name = b"runtime_version";
		let mut custom = vec![name.len() as u8];
		custom.extend_from_slice(name);
		custom.extend_from_slice(&payload);
		let mut wasm = b"\0asm\x01\0\0\0".to_vec();
		wasm.extend_from_slice(&[1, 1, 0]); // type section, 1 byte: zero types
		wasm.push(0);
		// LEB128 length (may take two bytes).
		let mut len = custom.len();
		loop {
			let b = (len & 0x7f) as u8;
			len >>= 7;
			wasm.push(if len > 0 { b | 0x80 } else { b });
			if len == 0 {
				break;
			}
		}
		wasm.extend_from_slice(&custom);
		let read = runtime_version_of(&wasm).unwrap();
		assert_eq!((read.spec_name.as_ref(), read.spec_version), ("training-chain", 7));
		// Also through zstd compression, as the wasm builder ships it.
		let compressed = sp_maybe_compressed_blob::compress_strongly(&wasm, 1 << 20).unwrap();
		assert_eq!(runtime_version_of(&compressed).unwrap().spec_version, 7);
		assert!(runtime_version_of(b"not wasm").is_err());
	}
}
