//! Which addresses a peer's store may be at, and the HTTP client that reads peer stores.
//!
//! Store URLs of peers come from chain data, so a hostile peer chooses where every reader
//! connects. Without a check it could point readers at the loopback interface, the cloud
//! metadata service (169.254.169.254) or anything else on a reader's private network. A peer
//! store is therefore refused unless every address its host resolves to is public, and the
//! client that reads it:
//!
//! - resolves names again at every connection through `PublicResolver`, which refuses the
//!   same addresses: a name that re-resolves to a private address after the check when the
//!   store was opened (DNS rebinding) is still refused, since the addresses checked are the
//!   ones connected to;
//! - follows no redirects (a public store could otherwise redirect to a private one);
//! - ignores `HTTP(S)_PROXY` (a proxy would resolve the name itself, past the check);
//! - sends no credentials (see [`super::BlobStore::peer`]).
//!
//! What stays open: a public address that forwards to the peer's own private network is the
//! peer's business; with `allow_local` (devnets) nothing is checked.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use object_store::client::{ClientOptions, HttpClient, HttpConnector};
use reqwest::dns::{Addrs, Name, Resolve, Resolving};

use super::location::Host;
use super::StoreError;

/// Which peer stores a worker may read.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct EndpointPolicy {
	/// Also `file://` directories and stores at loopback, private, shared (CGNAT),
	/// link-local, unspecified or unique-local addresses: for a devnet or a private test
	/// network (`--allow-local-stores`), never for a public run.
	pub allow_local: bool,
}

impl EndpointPolicy {
	/// Public stores only (the default).
	pub const PUBLIC: Self = Self { allow_local: false };
	/// Every store, local ones included.
	pub const ALLOW_LOCAL: Self = Self { allow_local: true };
}

/// What kind of non-public address `ip` is, or `None` for a public one.
pub fn non_public_kind(ip: IpAddr) -> Option<&'static str> {
	match ip {
		IpAddr::V4(v4) => v4_kind(v4),
		IpAddr::V6(v6) => {
			if let Some(v4) = v6.to_ipv4_mapped() {
				return v4_kind(v4);
			}
			let s = v6.segments();
			if v6.is_unspecified() {
				Some("unspecified")
			} else if v6.is_loopback() {
				Some("loopback")
			} else if s[0] & 0xfe00 == 0xfc00 {
				Some("unique-local")
			} else if s[0] & 0xffc0 == 0xfe80 {
				Some("link-local")
			} else if s[0] & 0xffc0 == 0xfec0 {
				Some("site-local")
			} else if v6.is_multicast() {
				Some("multicast")
			} else if s[..6] == [0; 6] || s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
				// IPv4-compatible (deprecated) and NAT64 (64:ff9b::/96) carry an IPv4 address.
				let v4 =
					Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
				v4_kind(v4)
			} else {
				None
			}
		}
	}
}

fn v4_kind(ip: Ipv4Addr) -> Option<&'static str> {
	let [a, b, ..] = ip.octets();
	if ip.is_unspecified() || a == 0 {
		Some("unspecified")
	} else if ip.is_loopback() {
		Some("loopback")
	} else if ip.is_private() {
		Some("private")
	} else if a == 100 && b & 0xc0 == 64 {
		Some("shared (CGNAT)")
	} else if ip.is_link_local() {
		Some("link-local")
	} else if ip.is_broadcast() || ip.is_multicast() {
		Some("broadcast or multicast")
	} else {
		None
	}
}

/// Checks the host of a peer store against `policy`: an IP literal as it is, a name through
/// the system resolver (`tokio::net::lookup_host`), every address it resolves to. Connects
/// nowhere.
pub(crate) async fn check_host(
	url: &str,
	host: &Host,
	port: u16,
	policy: &EndpointPolicy,
) -> Result<(), StoreError> {
	if policy.allow_local {
		return Ok(());
	}
	let refused = |addr: IpAddr, kind: &'static str| StoreError::NonPublicEndpoint {
		url: url.into(),
		host: host.to_string(),
		addr,
		kind,
	};
	match host {
		Host::Ip(ip) => match non_public_kind(*ip) {
			Some(kind) => Err(refused(*ip, kind)),
			None => Ok(()),
		},
		Host::Name(name) => {
			let addrs = tokio::net::lookup_host((name.as_str(), port)).await.map_err(|e| {
				StoreError::Resolve { url: url.into(), host: name.clone(), source: e }
			})?;
			let mut any = false;
			for addr in addrs {
				any = true;
				if let Some(kind) = non_public_kind(addr.ip()) {
					return Err(refused(addr.ip(), kind));
				}
			}
			if !any {
				let source = std::io::Error::new(std::io::ErrorKind::NotFound, "no addresses");
				return Err(StoreError::Resolve { url: url.into(), host: name.clone(), source });
			}
			Ok(())
		}
	}
}

/// The resolver of peer-store clients: the system resolver, refusing a name if any of its
/// addresses is not public.
#[derive(Debug)]
pub(crate) struct PublicResolver;

impl Resolve for PublicResolver {
	fn resolve(&self, name: Name) -> Resolving {
		Box::pin(resolve_public(name.as_str().to_string()))
	}
}

async fn resolve_public(name: String) -> Result<Addrs, Box<dyn std::error::Error + Send + Sync>> {
	let addrs: Vec<SocketAddr> = tokio::net::lookup_host((name.as_str(), 0)).await?.collect();
	if let Some((ip, kind)) = addrs.iter().find_map(|a| Some((a.ip(), non_public_kind(a.ip())?))) {
		return Err(
			format!("{name} resolves to {ip}, a {kind} address, refused for a peer store").into()
		);
	}
	Ok(Box::new(addrs.into_iter()))
}

/// How long a peer-store client waits for a TCP (and TLS) connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Builds the HTTP client of one peer store (see the module docs). Time limits of whole
/// requests are the reader's (`BlobStore::get_within`), not the client's.
#[derive(Debug)]
pub(crate) struct PeerConnector {
	pub policy: EndpointPolicy,
	pub https: bool,
}

impl HttpConnector for PeerConnector {
	fn connect(&self, _options: &ClientOptions) -> object_store::Result<HttpClient> {
		let mut builder = reqwest::Client::builder()
			.user_agent(concat!("offchain-gpu/", env!("CARGO_PKG_VERSION")))
			.redirect(reqwest::redirect::Policy::none())
			.no_proxy()
			.no_gzip()
			.no_brotli()
			.no_zstd()
			.no_deflate()
			.connect_timeout(CONNECT_TIMEOUT)
			.https_only(self.https);
		if !self.policy.allow_local {
			builder = builder.dns_resolver(Arc::new(PublicResolver));
		}
		let client = builder
			.build()
			.map_err(|e| object_store::Error::Generic { store: "S3", source: Box::new(e) })?;
		Ok(HttpClient::new(client))
	}
}

#[cfg(test)]
mod tests {
	use super::*;

	#[test]
	fn store_policy_address_kinds() {
		for (ip, kind) in [
			("127.0.0.1", "loopback"),
			("127.8.9.10", "loopback"),
			("10.1.2.3", "private"),
			("172.16.0.1", "private"),
			("172.31.255.255", "private"),
			("192.168.1.1", "private"),
			("100.64.0.1", "shared (CGNAT)"),
			("100.127.255.254", "shared (CGNAT)"),
			("169.254.169.254", "link-local"),
			("0.0.0.0", "unspecified"),
			("0.1.2.3", "unspecified"),
			("255.255.255.255", "broadcast or multicast"),
			("::", "unspecified"),
			("::1", "loopback"),
			("fe80::1", "link-local"),
			("fc00::1", "unique-local"),
			("fd12:3456::1", "unique-local"),
			("::ffff:127.0.0.1", "loopback"),
			("::ffff:169.254.169.254", "link-local"),
			("64:ff9b::a00:1", "private"),
		] {
			assert_eq!(non_public_kind(ip.parse().unwrap()), Some(kind), "{ip}");
		}
		for ip in [
			"8.8.8.8",
			"1.1.1.1",
			"100.128.0.1",
			"172.32.0.1",
			"2001:4860:4860::8888",
			"64:ff9b::808:808",
		] {
			assert_eq!(non_public_kind(ip.parse().unwrap()), None, "{ip}");
		}
	}
}
