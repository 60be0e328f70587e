//! Chain access for the workers: a thin client over subxt 0.51.
//!
//! # Design
//!
//! The worker depends on `pallet-training` and `training-protocol` (with `std`) for the exact
//! Rust types the runtime uses (`RunParams`, `RunStatus`, `Commitment`, `MinerScore`, ...).
//! It SCALE-encodes call arguments itself with those types and submits them through subxt
//! with a tiny custom [`RawCall`] payload: subxt looks the pallet and call indices up *by
//! name* in the live metadata and appends the pre-encoded argument bytes. The calls, views
//! and events the worker uses are typed constants in [`api`]; [`interface`] checks their
//! wire shapes against the checked-in runtime interface (in tests) and against the node's
//! metadata (on connecting), so a runtime that changed under the worker is a one-line error
//! at connect time, not a refused extrinsic or silently misread data later.
//!
//! View functions (`run_status`, `aggregation_set`, ...) are read by calling the runtime API
//! `RuntimeViewFunction_execute_view_function` with the function's query id from the
//! metadata and the SCALE-encoded arguments, and decoding the returned bytes with the
//! pallet's types.
//!
//! Everything is read at the latest *finalized* block (acting on finalized state is what the
//! design asks for anything that moves money or state); transactions are considered done once
//! included in a best block with a successful `ExtrinsicSuccess` (finality follows a block or
//! two later on the dev chain).
//!
//! Keys: sr25519 from a secret URI (`//Alice` on the devnet, or a seed phrase taken from the
//! environment by the caller). Secrets are never printed.

pub mod api;
pub mod interface;

use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use codec::{Decode, Encode};
use pallet_training::{Commitment, MinerRecord, PeerView, RunId, RunParams, RunStatus};
use scale_encode::{EncodeAsFields, FieldIter, TypeResolver};
use subxt::config::RpcConfigFor;
use subxt::rpcs::{LegacyRpcMethods, RpcClient};
use subxt::transactions::{Payload, TransactionStatus};
use subxt::{OnlineClient, SubstrateConfig};
use subxt_signer::sr25519::Keypair;
use subxt_signer::SecretUri;
use training_protocol::{MinerScore, Round, Uid};

/// The chain's balance type.
pub type Balance = u128;
/// An account id (sr25519 public key).
pub type AccountId = [u8; 32];
/// One unit of the native token (12 decimals).
pub const UNIT: Balance = 1_000_000_000_000;
/// Name of the training pallet in the runtime.
pub const PALLET: &str = "Training";

/// Blocks a signed transaction stays valid for, counted from the finalized block it is
/// signed at. A node places that block by its number within the current period of the
/// era, which goes wrong once its best block is a whole period ahead of the finalized one:
/// subxt's default of 32 blocks (96 s here) is shorter than finality can stall while an
/// authority restarts; 256 blocks are 12.8 minutes.
const MORTALITY: u64 = 256;

/// Whether a refusal says that the node checked the transaction against other blocks than
/// the ones it was signed at (`BadProof`, `AncientBirthBlock`): a node that has just synced
/// validates against the state it had before, until its pool catches up.
fn is_stale_signing(e: &anyhow::Error) -> bool {
	let text = format!("{e:#}");
	text.contains("bad signature") || text.contains("ancient birth block")
}

/// How often, and how far apart, [`Chain::submit_with`] signs again after such a refusal.
const RESIGN_ATTEMPTS: u32 = 5;
const RESIGN_PAUSE: Duration = Duration::from_secs(6);

/// Pre-encoded call arguments: written verbatim after the pallet and call indices.
#[derive(Clone, Debug)]
pub struct RawArgs(pub Vec<u8>);

impl EncodeAsFields for RawArgs {
	fn encode_as_fields_to<R: TypeResolver>(
		&self,
		_fields: &mut dyn FieldIter<'_, R::TypeId>,
		_types: &R,
		out: &mut Vec<u8>,
	) -> Result<(), scale_encode::Error> {
		out.extend_from_slice(&self.0);
		Ok(())
	}
}

/// A call of `pallet::call` with SCALE-encoded arguments (see the module docs).
#[derive(Clone, Debug)]
pub struct RawCall {
	pub pallet: String,
	pub call: String,
	pub args: RawArgs,
}

impl RawCall {
	pub fn new(pallet: &str, call: &str, args: impl Encode) -> Self {
		Self { pallet: pallet.into(), call: call.into(), args: RawArgs(args.encode()) }
	}
}

impl Payload for RawCall {
	type CallData = RawArgs;
	fn pallet_name(&self) -> &str {
		&self.pallet
	}
	fn call_name(&self) -> &str {
		&self.call
	}
	fn call_data(&self) -> &RawArgs {
		&self.args
	}
}

/// An event of an included transaction: pallet, variant and its field bytes.
#[derive(Clone, Debug)]
pub struct RawEvent {
	pub pallet: String,
	pub name: String,
	pub fields: Vec<u8>,
}

/// A key pair from a secret URI (`//Alice`, a phrase, `phrase//derivation`).
pub fn keypair(uri: &str) -> Result<Keypair> {
	let uri: SecretUri = uri.parse().map_err(|_| anyhow!("invalid secret URI (not shown)"))?;
	Keypair::from_uri(&uri)
		.map_err(|_| anyhow!("cannot derive a key from the secret URI (not shown)"))
}

/// The account id of a key pair.
pub fn account_of(key: &Keypair) -> AccountId {
	key.public_key().0
}

/// A connected client. Clones share one connection; [`Chain::reconnect`] replaces it for
/// all of them (after a node restart).
#[derive(Clone)]
pub struct Chain {
	url: std::sync::Arc<str>,
	conn: std::sync::Arc<std::sync::RwLock<Conn>>,
	/// Held from reading a nonce until the transaction is in the node's pool, so that two
	/// submissions of one process never pick the same nonce.
	submitting: std::sync::Arc<tokio::sync::Mutex<()>>,
}

/// One connection: subxt's client and the raw RPC methods over the same socket.
#[derive(Clone)]
struct Conn {
	api: OnlineClient<SubstrateConfig>,
	rpc: LegacyRpcMethods<RpcConfigFor<SubstrateConfig>>,
}

impl Chain {
	/// Connects to `url`, retrying until `timeout` (a node that is still starting up). The
	/// error names the URL and the last failure in one line.
	pub async fn connect(url: &str, timeout: Duration) -> Result<Self> {
		let conn = Self::open(url, timeout).await?;
		Ok(Self {
			url: url.into(),
			conn: std::sync::Arc::new(std::sync::RwLock::new(conn)),
			submitting: Default::default(),
		})
	}

	async fn open(url: &str, timeout: Duration) -> Result<Conn> {
		if !(url.starts_with("ws://") || url.starts_with("wss://")) {
			bail!("invalid node URL {url:?}: expected ws://host:port or wss://host:port");
		}
		let start = Instant::now();
		loop {
			let opened = async {
				let rpc = RpcClient::from_insecure_url(url).await?;
				let api = OnlineClient::<SubstrateConfig>::from_rpc_client(rpc.clone()).await?;
				anyhow::Ok(Conn { api, rpc: LegacyRpcMethods::new(rpc) })
			};
			match opened.await {
				Ok(conn) => {
					let at = conn.api.at_current_block().await?;
					interface::check_runtime(at.metadata_ref(), &api::used()).with_context(|| {
						format!("the node at {url} runs a runtime this offchain-gpu build does not speak; use a build from the same source as the runtime")
					})?;
					return Ok(conn);
				}
				Err(e) if start.elapsed() < timeout => {
					let _ = e;
					tokio::time::sleep(Duration::from_millis(500)).await;
				}
				Err(e) => bail!("cannot connect to the node at {url} after {timeout:?}: {e}"),
			}
		}
	}

	/// The current connection (a cheap handle).
	pub fn api(&self) -> OnlineClient<SubstrateConfig> {
		self.conn.read().unwrap_or_else(|e| e.into_inner()).api.clone()
	}

	/// The node URL this client connects to.
	pub fn url(&self) -> &str {
		&self.url
	}

	/// Whether the node answers (the latest block is readable within 10 s).
	pub async fn is_alive(&self) -> bool {
		matches!(
			tokio::time::timeout(Duration::from_secs(10), self.api().at_current_block()).await,
			Ok(Ok(_))
		)
	}

	/// Opens a new connection to the same URL, retrying until `timeout`, and makes every
	/// clone use it.
	pub async fn reconnect(&self, timeout: Duration) -> Result<()> {
		let conn = Self::open(&self.url, timeout).await?;
		*self.conn.write().unwrap_or_else(|e| e.into_inner()) = conn;
		Ok(())
	}

	/// After a failed call: reconnects if the node stopped answering (`Ok(true)`); otherwise
	/// nothing (`Ok(false)`).
	pub async fn recover(&self, timeout: Duration) -> Result<bool> {
		if self.is_alive().await {
			return Ok(false);
		}
		self.reconnect(timeout).await.map(|()| true)
	}

	/// Signs `call` with `signer`, submits it and waits until it is in a best block and
	/// succeeded; returns its events. A dispatch error comes back as an error naming it.
	pub async fn submit(&self, signer: &Keypair, call: &RawCall) -> Result<Vec<RawEvent>> {
		self.submit_with(signer, call, false).await
	}

	/// Like [`Self::submit`], but waits for the block to be finalized (so that views, which
	/// read finalized state, see the effect).
	pub async fn submit_finalized(
		&self,
		signer: &Keypair,
		call: &RawCall,
	) -> Result<Vec<RawEvent>> {
		self.submit_with(signer, call, true).await
	}

	/// The nonce for `who`'s next transaction as the node counts it: its best block's nonce
	/// plus the transactions of `who` waiting in its pool. Neither the finalized count (which
	/// lags a block or two behind) nor a count kept here (which a node restart, emptying the
	/// pool, would leave too high) would do.
	async fn next_nonce(&self, who: AccountId) -> Result<u64> {
		let rpc = self.conn.read().unwrap_or_else(|e| e.into_inner()).rpc.clone();
		rpc.system_account_next_index(&subxt::utils::AccountId32(who))
			.await
			.context("reading the account's next nonce")
	}

	/// [`Self::submit_with_once`], signing again (a few times, two blocks apart) when the
	/// node checked the transaction against other blocks than it was signed at (see
	/// [`is_stale_signing`]).
	async fn submit_with(
		&self,
		signer: &Keypair,
		call: &RawCall,
		finalized: bool,
	) -> Result<Vec<RawEvent>> {
		let mut attempt = 0;
		loop {
			match self.submit_with_once(signer, call, finalized).await {
				Err(e) if attempt < RESIGN_ATTEMPTS && is_stale_signing(&e) => {
					attempt += 1;
					let (final_n, best) = (
						self.finalized_block_number().await.unwrap_or(0),
						self.best_block_number().await.unwrap_or(0),
					);
					tracing::warn!(
						finalized = final_n,
						best,
						"{}.{}: the node checked it against other blocks ({e:#}); signing again",
						call.pallet,
						call.call
					);
					tokio::time::sleep(RESIGN_PAUSE).await;
				}
				other => return other,
			}
		}
	}

	async fn submit_with_once(
		&self,
		signer: &Keypair,
		call: &RawCall,
		finalized: bool,
	) -> Result<Vec<RawEvent>> {
		let at = self.api().at_current_block().await?;
		let mut progress = {
			let _one_at_a_time = self.submitting.lock().await;
			let nonce = self.next_nonce(account_of(signer)).await?;
			let params =
				subxt::config::substrate::SubstrateExtrinsicParamsBuilder::<SubstrateConfig>::new()
					.nonce(nonce)
					.mortal(MORTALITY)
					.build();
			at.transactions()
				.sign_and_submit_then_watch(call, signer, params)
				.await
				.with_context(|| format!("submitting {}.{}", call.pallet, call.call))?
		};
		while let Some(status) = progress.next().await {
			let in_block = match status? {
				TransactionStatus::InBestBlock(b) if !finalized => b,
				TransactionStatus::InFinalizedBlock(b) => b,
				TransactionStatus::Error { message }
				| TransactionStatus::Invalid { message }
				| TransactionStatus::Dropped { message } => {
					bail!("{}.{} refused: {message}", call.pallet, call.call)
				}
				_ => continue,
			};
			let events = in_block
				.wait_for_success()
				.await
				.map_err(|e| anyhow!("{}.{} failed: {e}", call.pallet, call.call))?;
			let mut out = Vec::new();
			for ev in events.iter() {
				let ev = ev?;
				out.push(RawEvent {
					pallet: ev.pallet_name().to_string(),
					name: ev.event_name().to_string(),
					fields: ev.field_bytes().to_vec(),
				});
			}
			return Ok(out);
		}
		bail!("{}.{}: transaction status stream ended", call.pallet, call.call)
	}

	/// The SCALE bytes of a `RuntimeCall`: pallet and call indices from the live metadata,
	/// then the pre-encoded arguments.
	pub async fn call_bytes(&self, call: &RawCall) -> Result<Vec<u8>> {
		let at = self.api().at_current_block().await?;
		let md = at.metadata_ref();
		let pallet = md
			.pallet_by_name(&call.pallet)
			.ok_or_else(|| anyhow!("no pallet {} in the runtime metadata", call.pallet))?;
		let variant = pallet
			.call_variant_by_name(&call.call)
			.ok_or_else(|| anyhow!("no call {}.{} in the metadata", call.pallet, call.call))?;
		let mut bytes = vec![pallet.call_index(), variant.index];
		bytes.extend_from_slice(&call.args.0);
		Ok(bytes)
	}

	/// `Sudo.sudo(call)`; checks the `Sudid` result.
	pub async fn sudo(&self, sudo_key: &Keypair, inner: &RawCall) -> Result<Vec<RawEvent>> {
		let bytes = self.call_bytes(inner).await?;
		let call = RawCall { pallet: "Sudo".into(), call: "sudo".into(), args: RawArgs(bytes) };
		let events = self.submit_finalized(sudo_key, &call).await?;
		for e in &events {
			if e.pallet == "Sudo" && e.name == "Sudid" && e.fields.first() != Some(&0) {
				bail!(
					"sudo({}.{}) dispatch failed: {}",
					inner.pallet,
					inner.call,
					hex::encode(&e.fields)
				);
			}
		}
		Ok(events)
	}

	/// Calls the training pallet's view function `view` at the latest finalized block.
	pub async fn view_of<A: Encode, R: Decode>(
		&self,
		view: &interface::View<A, R>,
		args: A,
	) -> Result<R> {
		self.view(PALLET, view.name, args).await
	}

	/// Calls view function `pallet::function` with SCALE-encoded `args` at the latest
	/// finalized block and decodes its result as `R`.
	pub async fn view<R: Decode>(
		&self,
		pallet: &str,
		function: &str,
		args: impl Encode,
	) -> Result<R> {
		self.view_at(None, pallet, function, args).await
	}

	/// [`Self::view`] at block `number` (None: the latest finalized block).
	pub async fn view_at<R: Decode>(
		&self,
		number: Option<u64>,
		pallet: &str,
		function: &str,
		args: impl Encode,
	) -> Result<R> {
		let at = match number {
			Some(n) => self.api().at_block(n).await?,
			None => self.api().at_current_block().await?,
		};
		let query_id = *at
			.metadata_ref()
			.pallet_by_name(pallet)
			.ok_or_else(|| anyhow!("no pallet {pallet} in the runtime metadata"))?
			.view_function_by_name(function)
			.ok_or_else(|| anyhow!("no view function {pallet}.{function}"))?
			.query_id();
		let input = (query_id, args.encode()).encode();
		let raw = at
			.runtime_apis()
			.call_raw("RuntimeViewFunction_execute_view_function", Some(&input))
			.await
			.with_context(|| format!("view {pallet}.{function}"))?;
		// Result<Vec<u8>, ViewFunctionDispatchError>: variant byte 0 is Ok.
		let bytes = match raw.split_first() {
			Some((0, mut rest)) => <Vec<u8>>::decode(&mut rest)?,
			_ => bail!("view {pallet}.{function} failed in the runtime"),
		};
		R::decode(&mut &bytes[..])
			.with_context(|| format!("decoding the result of {pallet}.{function}"))
	}

	pub async fn run_status(&self, run: RunId) -> Result<Option<RunStatus<Balance>>> {
		self.view_of(&api::RUN_STATUS, (run,)).await
	}
	pub async fn aggregation_set(&self, run: RunId, round: Round) -> Result<Option<Vec<Uid>>> {
		self.view_of(&api::AGGREGATION_SET, (run, round)).await
	}
	/// The blobs of a settled round every node applies (`None` before it settles).
	pub async fn applied_set(&self, run: RunId, round: Round) -> Result<Option<Vec<Uid>>> {
		self.view_of(&api::APPLIED_SET, (run, round)).await
	}
	pub async fn round_commitments(
		&self,
		run: RunId,
		round: Round,
	) -> Result<Vec<(Uid, Commitment)>> {
		self.view_of(&api::ROUND_COMMITMENTS, (run, round)).await
	}
	pub async fn miner_states(&self, run: RunId) -> Result<Vec<(Uid, MinerRecord)>> {
		self.view_of(&api::MINER_STATES, (run,)).await
	}
	pub async fn run_weights(&self, run: RunId) -> Result<(u32, Vec<(Uid, u32)>)> {
		self.view_of(&api::RUN_WEIGHTS, (run,)).await
	}
	pub async fn peers(&self, run: RunId) -> Result<Vec<PeerView<AccountId, Balance>>> {
		self.view_of(&api::PEERS, (run,)).await
	}

	/// `create_run(params)` through sudo; returns the new run id from `RunCreated`.
	pub async fn create_run(
		&self,
		sudo_key: &Keypair,
		params: &RunParams<Balance>,
	) -> Result<(RunId, u64)> {
		let events = self.sudo(sudo_key, &api::CREATE_RUN.with((params.clone(),))).await?;
		events
			.iter()
			.find_map(|e| api::RUN_CREATED.decode(&e.pallet, &e.name, &e.fields))
			.transpose()?
			.ok_or_else(|| anyhow!("create_run emitted no RunCreated event"))
	}

	pub async fn register_miner(&self, key: &Keypair, run: RunId, store_url: &str) -> Result<()> {
		self.submit_finalized(key, &api::REGISTER_MINER.with((run, store_url.as_bytes().to_vec())))
			.await
			.map(drop)
	}

	pub async fn register_validator(
		&self,
		key: &Keypair,
		run: RunId,
		stake: Balance,
		store_url: &str,
	) -> Result<()> {
		let args = (run, stake, store_url.as_bytes().to_vec());
		self.submit_finalized(key, &api::REGISTER_VALIDATOR.with(args)).await.map(drop)
	}

	/// `commit_gradient(run, round, hash, len)`, returning as soon as the node accepted it
	/// into its pool (a commitment is on the miner's critical path; whether it landed shows
	/// in `round_commitments` a block later).
	pub async fn commit_gradient(
		&self,
		key: &Keypair,
		run: RunId,
		round: Round,
		hash: [u8; 32],
		len: u32,
	) -> Result<()> {
		self.submit_to_pool(key, &api::COMMIT_GRADIENT.with((run, round, hash, len))).await
	}

	/// Signs and submits `call`; returns once the node's pool accepted it as valid.
	pub async fn submit_to_pool(&self, signer: &Keypair, call: &RawCall) -> Result<()> {
		let at = self.api().at_current_block().await?;
		let _one_at_a_time = self.submitting.lock().await;
		let nonce = self.next_nonce(account_of(signer)).await?;
		let params =
			subxt::config::substrate::SubstrateExtrinsicParamsBuilder::<SubstrateConfig>::new()
				.nonce(nonce)
				.mortal(MORTALITY)
				.build();
		at.transactions()
			.sign_and_submit(call, signer, params)
			.await
			.map(drop)
			.with_context(|| format!("{}.{} refused", call.pallet, call.call))
	}

	/// `commit_scores(run, round, hash)`: binds the validator to scores it reveals later
	/// (`hash` is [`pallet_training::score_commitment`] of the scores and a secret salt).
	pub async fn commit_scores(
		&self,
		key: &Keypair,
		run: RunId,
		round: Round,
		hash: [u8; 32],
	) -> Result<()> {
		self.submit(key, &api::COMMIT_SCORES.with((run, round, hash))).await.map(drop)
	}

	/// `submit_scores(run, round, scores, salt)`: reveals the committed scores.
	pub async fn submit_scores(
		&self,
		key: &Keypair,
		run: RunId,
		round: Round,
		scores: &[MinerScore],
		salt: [u8; 32],
	) -> Result<()> {
		self.submit(key, &api::SUBMIT_SCORES.with((run, round, scores.to_vec(), salt)))
			.await
			.map(drop)
	}

	/// `commit_checkpoint(run, round, hash, uri)`: `theta_round` has parameter hash `hash` and
	/// lies in the store at `uri`.
	pub async fn commit_checkpoint(
		&self,
		key: &Keypair,
		run: RunId,
		round: Round,
		hash: [u8; 32],
		uri: &str,
	) -> Result<()> {
		let args = (run, round, hash, uri.as_bytes().to_vec());
		self.submit(key, &api::COMMIT_CHECKPOINT.with(args)).await.map(drop)
	}

	/// `deregister(run)`: leave the run (a validator's stake then unbonds).
	pub async fn deregister(&self, key: &Keypair, run: RunId) -> Result<()> {
		self.submit(key, &api::DEREGISTER.with((run,))).await.map(drop)
	}

	/// The agreed checkpoints of `run` (a stake majority of validators recorded the hash),
	/// newest first, each with the store URL of every validator that recorded it.
	pub async fn agreed_checkpoints(
		&self,
		run: RunId,
	) -> Result<Vec<pallet_training::AgreedCheckpoint>> {
		self.view_of(&api::AGREED_CHECKPOINTS, (run,)).await
	}

	/// The scores revealed for `round` up to the best block (not yet final), by validator uid.
	pub async fn revealed_scores(
		&self,
		run: RunId,
		round: Round,
	) -> Result<Vec<(Uid, Vec<MinerScore>)>> {
		let best = self.best_block_number().await?;
		self.view_at(Some(best), PALLET, api::REVEALED_SCORES.name, (run, round)).await
	}

	/// The oldest round of `run` whose commitments the chain still keeps.
	pub async fn first_kept_round(&self, run: RunId) -> Result<Round> {
		let kept = self.view_of(&api::FIRST_KEPT_ROUND, (run,)).await?;
		kept.with_context(|| format!("run {run} does not exist"))
	}

	/// The number of the node's best block, which runs a block or two ahead of the
	/// finalized one that views read: what decides whether a transaction sent now lands inside
	/// a window a few blocks long (it is included in the next block at the earliest).
	pub async fn best_block_number(&self) -> Result<u64> {
		let rpc = self.conn.read().unwrap_or_else(|e| e.into_inner()).rpc.clone();
		let header = rpc.chain_get_header(None).await.context("reading the best block header")?;
		header.map(|h| h.number).context("the node reported no best block")
	}

	/// The seed of `round` (hash of the last block that accepted its commitments), once its
	/// commit deadline has passed.
	pub async fn round_seed(&self, run: RunId, round: Round) -> Result<Option<[u8; 32]>> {
		self.view_of(&api::ROUND_SEED, (run, round)).await
	}

	/// The number of the newest finalized block.
	pub async fn finalized_block_number(&self) -> Result<u64> {
		Ok(self.api().at_current_block().await?.block_number())
	}

	/// The `Paid` and `Settled` events of `run` in finalized block `number` (None: not
	/// finalized yet). Everything is decoded before anything is returned, so a failure midway
	/// leaves the block to be read again.
	pub async fn run_events(&self, run: RunId, number: u64) -> Result<Option<RunEvents>> {
		let client = self.api();
		if self.finalized_block_number().await? < number {
			return Ok(None);
		}
		let events = client.at_block(number).await?.events().fetch().await?;
		let mut out = RunEvents::default();
		for ev in events.iter() {
			let ev = ev?;
			let (pallet, name, fields) = (ev.pallet_name(), ev.event_name(), ev.field_bytes());
			if let Some(paid) = api::PAID.decode(pallet, name, fields) {
				let (r, round, who, role, uid, amount) = paid?;
				if r == run {
					out.paid.push(PaidEvent { round, who, role, uid, amount });
				}
			} else if let Some(settled) = api::SETTLED.decode(pallet, name, fields) {
				let (r, round, scored, _accrued, minted, burned, _agg) = settled?;
				if r == run {
					out.settled.push(SettledEvent { round, scored, minted, burned });
				}
			}
		}
		Ok(Some(out))
	}

	/// Whether `who` is registered in `run` (and with which role / uid).
	pub async fn peer(
		&self,
		run: RunId,
		who: &AccountId,
	) -> Result<Option<PeerView<AccountId, Balance>>> {
		Ok(self.peers(run).await?.into_iter().find(|p| &p.who == who))
	}
}

/// What one finalized block says about a run's payouts.
#[derive(Clone, Debug, Default)]
pub struct RunEvents {
	pub paid: Vec<PaidEvent>,
	pub settled: Vec<SettledEvent>,
}

/// Emission paid to a peer when `round` settled.
#[derive(Clone, Debug)]
pub struct PaidEvent {
	pub round: Round,
	pub who: AccountId,
	pub role: pallet_training::Role,
	pub uid: Uid,
	pub amount: Balance,
}

/// A round settled: `scored` miners, `minted` paid out, `burned` not.
#[derive(Clone, Debug)]
pub struct SettledEvent {
	pub round: Round,
	pub scored: u32,
	pub minted: Balance,
	pub burned: Balance,
}
