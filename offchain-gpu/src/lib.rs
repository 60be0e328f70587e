//! The worker library of the training chain: chain client ([`chain`]), blob store
//! ([`store`]), the miner and validator roles ([`roles`]) and the local devnet ([`devnet`]).
//! The `offchain-gpu` binary wraps these as subcommands next to its benchmarks.

pub mod chain;
pub mod devnet;
pub mod roles;
pub mod store;
