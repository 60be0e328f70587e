//! The command line: one module per subcommand, each with its clap arguments and its body.

mod bench;
mod data;
mod devnet;
mod upgrade;
mod worker;

use anyhow::Result;
use clap::{Parser, Subcommand};
use offchain_gpu::device::{Device, DeviceChoice};
use offchain_gpu::log::LogFormat;

#[derive(Parser)]
#[command(name = "offchain-gpu", version, about)]
pub struct Cli {
	#[command(subcommand)]
	command: Command,
	/// Log lines as text or as one JSON object per line; `RUST_LOG` sets the levels
	/// (default `info`, e.g. `RUST_LOG=offchain_gpu=debug` for every miner's scores).
	#[arg(long, global = true, value_enum, default_value = "text")]
	pub log_format: LogFormat,
}

#[derive(Subcommand)]
enum Command {
	/// Benchmarks; each prints figures as ratios against a baseline measured in the same run.
	#[command(subcommand)]
	Bench(bench::Bench),
	/// Datasets: `data prepare` tokenizes text files into shards and a manifest.
	#[command(subcommand)]
	Data(data::Data),
	/// A local network: a dev node, a run created via sudo, miners and validators in-process;
	/// prints each settled round and writes `<out>/rounds.csv`.
	Devnet(devnet::DevnetArgs),
	/// Run one miner against a node and run.
	Miner(worker::RoleArgs),
	/// Run one validator against a node and run.
	Validator(worker::RoleArgs),
	/// Upgrade the runtime: checks the wasm's spec_name and spec_version against the live
	/// runtime, then `sudo(System.set_code)` (`--sudo`) or a two-thirds council motion
	/// `Governance.authorize_upgrade(hash)`; with `--approve-with-env` it also votes, closes,
	/// applies the code and waits for the new version (see docs/runtime-upgrades.md).
	ProposeUpgrade(upgrade::ProposeUpgradeArgs),
	/// Vote on an open council motion (`Council.vote`).
	CouncilVote(upgrade::MotionArgs),
	/// Close a council motion that has enough ayes (`Council.close`): executes its call.
	CouncilClose(upgrade::CloseArgs),
	/// Submit an authorized runtime (`System.apply_authorized_upgrade`) and wait until it is live.
	ApplyUpgrade(upgrade::ApplyUpgradeArgs),
}

/// Runs the subcommand.
pub fn run(cli: Cli) -> Result<()> {
	match cli.command {
		Command::Bench(b) => bench::run(b),
		Command::Data(d) => data::run(d),
		Command::Devnet(a) => devnet::run(a),
		Command::Miner(a) => worker::run(a, worker::Role::Miner),
		Command::Validator(a) => worker::run(a, worker::Role::Validator),
		Command::ProposeUpgrade(a) => upgrade::propose_upgrade(a),
		Command::CouncilVote(a) => upgrade::council_vote(a),
		Command::CouncilClose(a) => upgrade::council_close(a),
		Command::ApplyUpgrade(a) => upgrade::apply_upgrade(a),
	}
}

/// Resolves `--device` and says which device the command uses.
fn resolve_device(choice: DeviceChoice) -> Result<Device> {
	let device = Device::resolve(choice)?;
	tracing::info!(%device, "device: {device}");
	Ok(device)
}
