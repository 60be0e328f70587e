//! `node`: the full node of the decentralized-training chain.
//!
//! `node --dev` runs a single-authority development chain (Alice) with RPC on 127.0.0.1:9944;
//! `node --chain local` a two-authority local testnet; `node --chain production:FILE` a chain
//! of the operator's authorities and council, without sudo. Without `--dev` or `--chain` it
//! asks which. Errors are printed as one line.

// `sc_cli::Error` and `sc_service::Error`, which every command returns, are large enums of
// another crate's; boxing them here would only move the allocation.
#![allow(clippy::result_large_err)]

mod chain_spec;
mod cli;
mod command;
mod genesis_file;
mod rpc;
mod service;

fn main() {
	if let Err(error) = command::run() {
		eprintln!("error: {error}");
		std::process::exit(1);
	}
}
