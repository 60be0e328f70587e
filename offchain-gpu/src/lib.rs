//! The worker library of the training chain: chain client ([`chain`]), blob store
//! ([`store`]), the compute device ([`device`]), the miner and validator roles ([`roles`]),
//! the operator's log ([`log`]) and metrics ([`metrics`]), the local devnet ([`devnet`]) with
//! its adversaries (`adversaries`, feature `adversaries`) and runtime upgrades ([`upgrade`]).
//! The `offchain-gpu` binary wraps these as subcommands next to its benchmarks.

#[cfg(feature = "adversaries")]
pub mod adversaries;
pub mod chain;
pub mod config_file;
pub mod device;
pub mod devnet;
pub mod log;
pub mod metrics;
pub mod roles;
pub mod secrets;
pub mod store;
pub mod upgrade;
