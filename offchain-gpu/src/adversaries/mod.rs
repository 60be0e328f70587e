//! The cheaters the devnet and the end-to-end tests run against honest peers: test tooling,
//! built only with the `adversaries` feature (what `make build` and the tests build; an
//! operator's build leaves them out), and kept here, outside the production roles. Each
//! module holds one role's adversaries; the honest role calls in only when its configured
//! behaviour (`roles::miner::Behaviour`, `roles::validator::Behaviour`) is not `Honest`.
//!
//! - [`miner`]: withholding, random or other data, garbage, a wrong hash, copying, zeros,
//!   sybils, stale gradients, fitting the evaluation batches, a hostile store, late blobs.
//! - [`validator`]: random scores, the lazy validator, the copycat, the checkpoint poisoner
//!   and the just-in-time whale.

pub mod miner;
pub mod validator;
