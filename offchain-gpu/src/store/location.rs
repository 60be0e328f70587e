//! Store URLs as text: what they name, checked strictly enough that what a reader connects to
//! is exactly what the address policy looked at (see the module docs of [`super`]).

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};

use super::StoreError;

/// What a store URL names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Location {
	/// A local directory (absolute).
	Local(PathBuf),
	/// An S3-compatible bucket.
	S3(S3Location),
}

/// A bucket, and the prefix below which the keys go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct S3Location {
	pub bucket: String,
	/// No leading or trailing `/`; empty for none.
	pub prefix: String,
	/// `None`: AWS S3 itself (`https://s3.<region>.amazonaws.com`).
	pub endpoint: Option<Endpoint>,
	pub region: String,
}

impl S3Location {
	/// The endpoint requests go to, AWS S3's regional one when the URL names none.
	pub fn effective_endpoint(&self) -> Endpoint {
		self.endpoint.clone().unwrap_or_else(|| Endpoint {
			https: true,
			host: Host::Name(format!("s3.{}.amazonaws.com", self.region)),
			port: 443,
		})
	}
}

/// `scheme://host:port` of an S3 API, path style (`/bucket/key`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoint {
	pub https: bool,
	pub host: Host,
	pub port: u16,
}

/// A host as written in a URL: an IP address literal or a DNS name (lower case).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Host {
	Ip(IpAddr),
	Name(String),
}

impl fmt::Display for Host {
	fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
		match self {
			Host::Ip(IpAddr::V6(ip)) => write!(f, "[{ip}]"),
			Host::Ip(IpAddr::V4(ip)) => write!(f, "{ip}"),
			Host::Name(name) => f.write_str(name),
		}
	}
}

impl fmt::Display for Endpoint {
	fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
		let scheme = if self.https { "https" } else { "http" };
		write!(f, "{scheme}://{}:{}", self.host, self.port)
	}
}

/// Parses a store URL:
///
/// - `file:///absolute/dir` or a plain absolute path;
/// - `s3://bucket[/prefix][?endpoint=http(s)://host[:port]&region=NAME]`;
/// - `http(s)://host[:port]/bucket[/prefix][?region=NAME]`, the same as
///   `s3://bucket/prefix?endpoint=http(s)://host:port`.
pub(crate) fn parse(url: &str) -> Result<Location, StoreError> {
	let invalid = |reason: String| StoreError::InvalidUrl { url: url.into(), reason };
	if let Some(rest) = url.strip_prefix("s3://") {
		return parse_s3(rest).map_err(invalid);
	}
	for (scheme, https) in [("http://", false), ("https://", true)] {
		if let Some(rest) = url.strip_prefix(scheme) {
			return parse_http(rest, https).map_err(invalid);
		}
	}
	let path = url.strip_prefix("file://").unwrap_or(url);
	if !Path::new(path).is_absolute() {
		return Err(StoreError::UnsupportedUrl(url.into()));
	}
	Ok(Location::Local(PathBuf::from(path)))
}

fn parse_s3(rest: &str) -> Result<Location, String> {
	let (location, query) = rest.split_once('?').unwrap_or((rest, ""));
	let (bucket, prefix) = location.split_once('/').unwrap_or((location, ""));
	let mut s3 = S3Location {
		bucket: bucket_name(bucket)?,
		prefix: prefix_of(prefix)?,
		endpoint: None,
		region: "us-east-1".into(),
	};
	for (k, v) in query_pairs(query)? {
		match k {
			"endpoint" => s3.endpoint = Some(parse_endpoint(v)?),
			"region" => s3.region = region_name(v)?,
			other => return Err(format!("unknown parameter {other:?} (endpoint, region)")),
		}
	}
	Ok(Location::S3(s3))
}

fn parse_http(rest: &str, https: bool) -> Result<Location, String> {
	let (location, query) = rest.split_once('?').unwrap_or((rest, ""));
	let (authority, path) = location.split_once('/').unwrap_or((location, ""));
	let endpoint = parse_authority(authority, https)?;
	let (bucket, prefix) = path.split_once('/').unwrap_or((path, ""));
	if bucket.is_empty() {
		return Err("name the bucket in the path: http(s)://host[:port]/bucket[/prefix]".into());
	}
	let mut s3 = S3Location {
		bucket: bucket_name(bucket)?,
		prefix: prefix_of(prefix)?,
		endpoint: Some(endpoint),
		region: "us-east-1".into(),
	};
	for (k, v) in query_pairs(query)? {
		match k {
			"region" => s3.region = region_name(v)?,
			other => return Err(format!("unknown parameter {other:?} (region)")),
		}
	}
	Ok(Location::S3(s3))
}

fn query_pairs(query: &str) -> Result<Vec<(&str, &str)>, String> {
	query
		.split('&')
		.filter(|p| !p.is_empty())
		.map(|p| p.split_once('=').ok_or_else(|| "query parameters are key=value".to_string()))
		.collect()
}

/// `http(s)://host[:port]` with nothing after it but an optional `/`.
fn parse_endpoint(v: &str) -> Result<Endpoint, String> {
	let (rest, https) = match (v.strip_prefix("http://"), v.strip_prefix("https://")) {
		(Some(rest), _) => (rest, false),
		(_, Some(rest)) => (rest, true),
		_ => return Err("endpoint must be an http:// or https:// URL".into()),
	};
	let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
	if !path.is_empty() {
		return Err("endpoint is scheme://host[:port] without a path".into());
	}
	parse_authority(authority, https)
}

fn parse_authority(authority: &str, https: bool) -> Result<Endpoint, String> {
	if authority.contains('@') {
		return Err(
			"credentials in the URL are not accepted (a writer takes them from AWS_* variables)"
				.into(),
		);
	}
	let default_port = if https { 443 } else { 80 };
	let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
		let (ip, after) = v6.split_once(']').ok_or("unclosed [ in the host")?;
		let ip: Ipv6Addr = ip.parse().map_err(|_| format!("{ip:?} is not an IPv6 address"))?;
		let port = match after {
			"" => None,
			p => Some(p.strip_prefix(':').ok_or("expected :port after the IPv6 address")?),
		};
		(Host::Ip(IpAddr::V6(ip)), port)
	} else {
		let (host, port) = match authority.rsplit_once(':') {
			Some((h, p)) => (h, Some(p)),
			None => (authority, None),
		};
		(host_name(host)?, port)
	};
	let port = match port {
		None => default_port,
		Some(p) => {
			p.parse::<u16>().ok().filter(|p| *p != 0).ok_or_else(|| format!("bad port {p:?}"))?
		}
	};
	Ok(Endpoint { https, host, port })
}

/// A dotted-quad IPv4 address or a DNS name. Numbers in other forms (`2130706433`,
/// `0x7f.1`, `127.1`), which HTTP clients read as IPv4 addresses, are refused so that the
/// policy check and the connection see the same address.
fn host_name(host: &str) -> Result<Host, String> {
	if host.is_empty() {
		return Err("no host".into());
	}
	if let Ok(ip) = host.parse::<Ipv4Addr>() {
		return Ok(Host::Ip(IpAddr::V4(ip)));
	}
	let name = host.to_ascii_lowercase();
	let labels: Vec<&str> = name.trim_end_matches('.').split('.').collect();
	let label_ok = |l: &&str| {
		!l.is_empty()
			&& l.len() <= 63
			&& l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
			&& !l.starts_with('-')
			&& !l.ends_with('-')
	};
	if name.len() > 253 || !labels.iter().all(label_ok) {
		return Err(format!("{host:?} is not a host name or IPv4 address"));
	}
	let last = labels.last().copied().unwrap_or("");
	if last.bytes().all(|b| b.is_ascii_digit()) || last.starts_with("0x") {
		return Err(format!(
			"{host:?} looks like an IPv4 address in another form; write it as a.b.c.d"
		));
	}
	Ok(Host::Name(name))
}

/// S3 bucket names: letters, digits, `.`, `-`, `_` (the last for S3-compatible stores).
fn bucket_name(bucket: &str) -> Result<String, String> {
	if bucket.is_empty() {
		return Err("no bucket name".into());
	}
	if bucket == "."
		|| bucket == ".."
		|| !bucket.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
	{
		return Err(format!("{bucket:?} is not a bucket name (letters, digits, . - _)"));
	}
	Ok(bucket.into())
}

fn prefix_of(prefix: &str) -> Result<String, String> {
	let prefix = prefix.trim_matches('/');
	if prefix.split('/').any(|c| c == "." || c == "..") {
		return Err("the prefix may not contain . or ..".into());
	}
	if prefix.contains('#') {
		return Err("the prefix may not contain #".into());
	}
	Ok(prefix.into())
}

fn region_name(region: &str) -> Result<String, String> {
	if region.is_empty() || !region.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
		return Err(format!("{region:?} is not a region name"));
	}
	Ok(region.into())
}

#[cfg(test)]
mod tests {
	use super::*;

	fn s3(url: &str) -> S3Location {
		match parse(url) {
			Ok(Location::S3(s3)) => s3,
			other => panic!("{url}: {other:?}"),
		}
	}

	#[test]
	fn store_url_http_forms_are_path_style_s3() {
		let a = s3("http://127.0.0.1:8333/grads/team-a");
		let b = s3("s3://grads/team-a?endpoint=http://127.0.0.1:8333");
		assert_eq!(a, b);
		assert_eq!(a.effective_endpoint().to_string(), "http://127.0.0.1:8333");
		let c = s3("https://S3.Example.com/grads/a/b/?region=eu-west-1");
		assert_eq!(
			(c.bucket.as_str(), c.prefix.as_str(), c.region.as_str()),
			("grads", "a/b", "eu-west-1")
		);
		assert_eq!(c.endpoint.unwrap().to_string(), "https://s3.example.com:443");
		let v6 = s3("http://[::1]:9000/b");
		assert_eq!(v6.endpoint.unwrap().host, Host::Ip("::1".parse().unwrap()));
		assert_eq!(
			s3("s3://b").effective_endpoint().to_string(),
			"https://s3.us-east-1.amazonaws.com:443"
		);
	}

	#[test]
	fn store_url_bad_forms_are_refused() {
		for url in [
			"http://host",
			"http://host/",
			"http://user:pw@host/b",
			"http://host:0/b",
			"http://host:99999/b",
			"http://2130706433/b",
			"http://0x7f.1/b",
			"http://127.1/b",
			"http://[::1/b",
			"http://exa mple.com/b",
			"http://host/b?endpoint=http://x",
			"s3://b?endpoint=http://h/path",
			"s3://b?endpoint=ftp://h",
			"s3://b?region=",
			"s3://b%2f/x",
			"s3://b/x/../y",
		] {
			assert!(
				matches!(parse(url), Err(StoreError::InvalidUrl { .. })),
				"{url}: {:?}",
				parse(url)
			);
		}
		assert!(matches!(parse("ftp://x/b"), Err(StoreError::UnsupportedUrl(_))));
		assert_eq!(parse("file:///tmp/x").unwrap(), Location::Local("/tmp/x".into()));
	}
}
