//! `offchain-gpu`: the worker of the training chain. Miners and validators (`miner`,
//! `validator`), a local network in one command (`devnet`), runtime upgrades
//! (`propose-upgrade`, `council-vote`, `council-close`, `apply-upgrade`) and benchmarks
//! (`bench compress`, `bench speed`, `bench train`). Each subcommand is a module of [`cli`];
//! the work itself is in the `offchain_gpu` library and the `sparseloco` and `training-model`
//! crates, and the training-quality harness of `bench train` is [`quality`].

mod cli;
mod quality;

use clap::Parser;

fn main() {
	let args = match offchain_gpu::config_file::with_config(std::env::args().collect()) {
		Ok(args) => args,
		Err(error) => {
			eprintln!("error: {error:#}");
			std::process::exit(1);
		}
	};
	let cli = cli::Cli::parse_from(args);
	offchain_gpu::log::init(cli.log_format);
	if let Err(error) = cli::run(cli) {
		eprintln!("error: {error:#}");
		std::process::exit(1);
	}
}
