//! `propose-upgrade`, `council-vote`, `council-close`, `apply-upgrade`: runtime upgrades
//! through sudo or the council (see [`offchain_gpu::upgrade`] and docs/runtime-upgrades.md).

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;

/// Who signs: a secret URI or seed phrase from the environment or from a file only its owner
/// can read (never from the command line, where every user of the machine can see it).
#[derive(Args)]
pub struct KeyArgs {
	/// Environment variable holding the signer's secret URI or seed phrase.
	#[arg(long, default_value = "SIGNER_SECRET")]
	key_env: String,
	/// A file holding it instead (mode 0600 or stricter).
	#[arg(long)]
	key_file: Option<PathBuf>,
}

impl KeyArgs {
	fn keypair(&self) -> Result<subxt_signer::sr25519::Keypair> {
		let secret = offchain_gpu::secrets::read_secret(&self.key_env, self.key_file.as_deref())?;
		offchain_gpu::chain::keypair(&secret)
	}
}

#[derive(Args)]
pub struct ProposeUpgradeArgs {
	/// Node WebSocket URL.
	#[arg(long, default_value = "ws://127.0.0.1:9944")]
	url: String,
	/// The runtime blob (`training_runtime.compact.compressed.wasm`).
	#[arg(long)]
	wasm: PathBuf,
	/// The proposer (a council member; the sudo key with `--sudo`).
	#[command(flatten)]
	key: KeyArgs,
	/// Dev chain: `Sudo.sudo(System.set_code(code))` instead of a council motion.
	#[arg(long)]
	sudo: bool,
	/// Comma-separated environment variables holding the secrets of council members that
	/// vote aye (dev testing, e.g. `BOB,CHARLIE` with `BOB=//Bob`); then the motion is closed
	/// and the code applied.
	#[arg(long, value_delimiter = ',')]
	approve_with_env: Vec<String>,
	/// Seconds to wait for the new spec_version to be live.
	#[arg(long, default_value_t = 120)]
	timeout: u64,
}

/// Which council motion, and who signs.
#[derive(Args)]
pub struct MotionRef {
	#[arg(long, default_value = "ws://127.0.0.1:9944")]
	url: String,
	/// Motion hash (0x...), as printed by propose-upgrade.
	#[arg(long)]
	motion: String,
	/// Motion index.
	#[arg(long)]
	index: u32,
	/// The signer (a council member to vote; any funded account to close).
	#[command(flatten)]
	key: KeyArgs,
}

#[derive(Args)]
pub struct MotionArgs {
	#[command(flatten)]
	m: MotionRef,
	/// Vote nay instead of aye.
	#[arg(long)]
	nay: bool,
}

#[derive(Args)]
pub struct CloseArgs {
	#[command(flatten)]
	m: MotionRef,
	/// Encoded length of the proposed call, as printed by propose-upgrade.
	#[arg(long)]
	length: u32,
}

#[derive(Args)]
pub struct ApplyUpgradeArgs {
	#[arg(long, default_value = "ws://127.0.0.1:9944")]
	url: String,
	#[arg(long)]
	wasm: PathBuf,
	/// Any funded account.
	#[command(flatten)]
	key: KeyArgs,
	#[arg(long, default_value_t = 120)]
	timeout: u64,
}

fn block_on<F: std::future::Future<Output = Result<()>>>(f: F) -> Result<()> {
	tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?.block_on(f)
}

async fn connect(url: &str) -> Result<offchain_gpu::chain::Chain> {
	offchain_gpu::chain::Chain::connect(url, std::time::Duration::from_secs(30)).await
}

fn motion_hash(s: &str) -> Result<[u8; 32]> {
	let bytes = hex::decode(s.trim_start_matches("0x")).context("--motion is not hex")?;
	bytes.try_into().map_err(|_| anyhow::anyhow!("--motion must be 32 bytes"))
}

pub fn propose_upgrade(a: ProposeUpgradeArgs) -> Result<()> {
	use offchain_gpu::{chain, upgrade};
	let wasm = upgrade::Wasm::read(&a.wasm)?;
	let key = a.key.keypair()?;
	let approvers = a
		.approve_with_env
		.iter()
		.map(|var| chain::keypair(&offchain_gpu::secrets::read_secret(var, None)?))
		.collect::<Result<Vec<_>>>()?;
	block_on(async move {
		let chain = connect(&a.url).await?;
		let p = upgrade::ProposeUpgrade {
			wasm: &wasm,
			key: &key,
			sudo: a.sudo,
			approve_with: &approvers,
			timeout: std::time::Duration::from_secs(a.timeout),
		};
		let outcome = upgrade::propose_upgrade(&chain, p, &mut |line| println!("{line}")).await?;
		if let upgrade::Outcome::MotionOpen(m) = outcome {
			let hash = hex::encode(m.hash);
			println!("next: council members vote, then anyone closes and applies:");
			println!(
				"  offchain-gpu council-vote --url {} --motion 0x{hash} --index {} (SIGNER_SECRET: a member)",
				a.url, m.index
			);
			println!(
				"  offchain-gpu council-close --url {} --motion 0x{hash} --index {} --length {} (SIGNER_SECRET: anyone)",
				a.url, m.index, m.length
			);
			println!(
				"  offchain-gpu apply-upgrade --url {} --wasm {} (SIGNER_SECRET: anyone)",
				a.url,
				a.wasm.display()
			);
		}
		Ok(())
	})
}

pub fn council_vote(a: MotionArgs) -> Result<()> {
	let key = a.m.key.keypair()?;
	let hash = motion_hash(&a.m.motion)?;
	block_on(async move {
		connect(&a.m.url).await?.vote_motion(&key, hash, a.m.index, !a.nay).await?;
		println!("voted {} on motion {}", if a.nay { "nay" } else { "aye" }, a.m.index);
		Ok(())
	})
}

pub fn council_close(a: CloseArgs) -> Result<()> {
	let key = a.m.key.keypair()?;
	let hash = motion_hash(&a.m.motion)?;
	block_on(async move {
		connect(&a.m.url).await?.close_motion(&key, hash, a.m.index, a.length).await?;
		println!("motion {} closed and executed", a.m.index);
		Ok(())
	})
}

pub fn apply_upgrade(a: ApplyUpgradeArgs) -> Result<()> {
	use offchain_gpu::upgrade;
	let wasm = upgrade::Wasm::read(&a.wasm)?;
	let key = a.key.keypair()?;
	block_on(async move {
		let chain = connect(&a.url).await?;
		upgrade::check_upgrade(&chain.runtime_version().await?, &wasm.version)?;
		chain.apply_authorized_upgrade(&key, &wasm.code).await?;
		chain
			.wait_for_spec_version(
				wasm.version.spec_version,
				std::time::Duration::from_secs(a.timeout),
			)
			.await?;
		println!("spec_version {} is live", wasm.version.spec_version);
		Ok(())
	})
}
