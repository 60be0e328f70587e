//! Dispatches the command line: runs the node or one of the chain-maintenance subcommands.

use sc_cli::SubstrateCli;
use sc_service::PartialComponents;
use training_runtime::opaque::Block;

use crate::{
	chain_spec,
	cli::{Cli, Subcommand},
	service,
};

impl SubstrateCli for Cli {
	fn impl_name() -> String {
		"Training Chain Node".into()
	}

	fn impl_version() -> String {
		env!("SUBSTRATE_CLI_IMPL_VERSION").into()
	}

	fn executable_name() -> String {
		"node".into()
	}

	fn description() -> String {
		env!("CARGO_PKG_DESCRIPTION").into()
	}

	fn author() -> String {
		"the training-chain developers".into()
	}

	fn support_url() -> String {
		"the project's issue tracker".into()
	}

	fn copyright_start_year() -> i32 {
		2026
	}

	fn load_spec(&self, id: &str) -> Result<Box<dyn sc_service::ChainSpec>, String> {
		Ok(match id {
			"dev" => Box::new(chain_spec::development()?),
			"local" => Box::new(chain_spec::local_testnet()?),
			"" => return Err(NO_CHAIN.into()),
			"production" => {
				return Err("the production chain is built from its operator's genesis file: \
				            pass `--chain production:FILE` (docs/production.md says what it \
				            holds)"
					.into())
			}
			id if id.starts_with("production:") => {
				Box::new(chain_spec::production(&id["production:".len()..])?)
			}
			path => Box::new(
				chain_spec::ChainSpec::from_json_file(std::path::PathBuf::from(path))
					.map_err(|e| format!("cannot load chain spec `{path}`: {e}"))?,
			),
		})
	}
}

/// What `node` without `--dev` or `--chain` says: it would otherwise start a test network
/// under a name an operator did not choose.
const NO_CHAIN: &str = "which chain? `--dev` (one node, dev keys, sudo), `--chain local` (two \
                        dev authorities), `--chain production:FILE` (the operator's genesis \
                        file, no sudo) or `--chain SPEC.json`";

/// Parses the command line and runs what it asks for.
pub fn run() -> sc_cli::Result<()> {
	let cli = Cli::from_args();

	match &cli.subcommand {
		// A node key printed or written to a file belongs to no chain; one written under a
		// base path goes into a chain's directory, so that needs `--chain`.
		Some(Subcommand::Key(sc_cli::KeySubcommand::GenerateNodeKey(cmd)))
			if cmd.chain.is_none() && !names_a_base_path() =>
		{
			cmd.common.run()
		}
		Some(Subcommand::Key(cmd)) => cmd.run(&cli),
		Some(Subcommand::BuildSpec(cmd)) => {
			let runner = cli.create_runner(cmd)?;
			runner.sync_run(|config| cmd.run(config.chain_spec, config.network))
		}
		Some(Subcommand::ExportChainSpec(cmd)) => {
			let spec = cli.load_spec(&cmd.chain)?;
			cmd.run(spec)
		}
		Some(Subcommand::CheckBlock(cmd)) => {
			let runner = cli.create_runner(cmd)?;
			runner.async_run(|config| {
				let PartialComponents { client, task_manager, import_queue, .. } =
					service::new_partial(&config)?;
				Ok((cmd.run(client, import_queue), task_manager))
			})
		}
		Some(Subcommand::ExportBlocks(cmd)) => {
			let runner = cli.create_runner(cmd)?;
			runner.async_run(|config| {
				let PartialComponents { client, task_manager, .. } = service::new_partial(&config)?;
				Ok((cmd.run(client, config.database), task_manager))
			})
		}
		Some(Subcommand::ExportState(cmd)) => {
			let runner = cli.create_runner(cmd)?;
			runner.async_run(|config| {
				let PartialComponents { client, task_manager, .. } = service::new_partial(&config)?;
				Ok((cmd.run(client, config.chain_spec), task_manager))
			})
		}
		Some(Subcommand::ImportBlocks(cmd)) => {
			let runner = cli.create_runner(cmd)?;
			runner.async_run(|config| {
				let PartialComponents { client, task_manager, import_queue, .. } =
					service::new_partial(&config)?;
				Ok((cmd.run(client, import_queue), task_manager))
			})
		}
		Some(Subcommand::PurgeChain(cmd)) => {
			let runner = cli.create_runner(cmd)?;
			runner.sync_run(|config| cmd.run(config.database))
		}
		Some(Subcommand::Revert(cmd)) => {
			let runner = cli.create_runner(cmd)?;
			runner.async_run(|config| {
				let PartialComponents { client, task_manager, backend, .. } =
					service::new_partial(&config)?;
				let revert_grandpa = Box::new(|client, _, blocks| {
					sc_consensus_grandpa::revert(client, blocks)?;
					Ok(())
				});
				Ok((cmd.run(client, backend, Some(revert_grandpa)), task_manager))
			})
		}
		Some(Subcommand::ChainInfo(cmd)) => {
			let runner = cli.create_runner(cmd)?;
			runner.sync_run(|config| cmd.run::<Block>(&config))
		}
		None => {
			let runner = cli.create_runner(&cli.run)?;
			ensure_rpc_ports_free(runner.config())?;
			runner.run_node_until_exit(|config| async move {
				use sc_network::config::NetworkBackendType;
				type Libp2p =
					sc_network::NetworkWorker<Block, <Block as sp_runtime::traits::Block>::Hash>;
				match config.network.network_backend {
					NetworkBackendType::Libp2p => service::new_full::<Libp2p>(config),
					NetworkBackendType::Litep2p => {
						service::new_full::<sc_network::Litep2pNetworkBackend>(config)
					}
				}
				.map_err(sc_cli::Error::Service)
			})
		}
	}
}

/// Whether the command line has `--base-path` or `--default-base-path` (which
/// `generate-node-key` keeps to itself).
fn names_a_base_path() -> bool {
	std::env::args()
		.any(|a| a == "--base-path" || a.starts_with("--base-path=") || a == "--default-base-path")
}

/// Refuses to start when an RPC address is already taken. Upstream would silently move the
/// server to a random port, and clients (wallets, workers) would then talk to whatever holds
/// the configured port: a stale node, usually.
fn ensure_rpc_ports_free(config: &sc_service::Configuration) -> sc_cli::Result<()> {
	let addrs: Vec<std::net::SocketAddr> = match &config.rpc.addr {
		Some(endpoints) => endpoints.iter().map(|e| e.listen_addr).collect(),
		None => vec![std::net::SocketAddr::from(([127, 0, 0, 1], config.rpc.port))],
	};
	for addr in addrs {
		if let Err(e) = std::net::TcpListener::bind(addr) {
			if e.kind() == std::io::ErrorKind::AddrInUse {
				return Err(sc_cli::Error::Input(format!(
					"RPC address {addr} is already in use (another node?): stop it or choose \
					 another port with --rpc-port"
				)));
			}
		}
	}
	Ok(())
}
