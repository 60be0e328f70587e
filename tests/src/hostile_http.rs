//! A hostile HTTP/1.1 server on 127.0.0.1, for the tests of the workers' blob readers: an S3
//! endpoint as a malicious peer would run it. Plain `std` TCP and threads, so that what it
//! sends is exactly what the test asks for.

use std::{
	io::{Read, Write},
	net::{Shutdown, TcpListener, TcpStream},
	sync::{
		atomic::{AtomicBool, Ordering},
		Arc, Mutex,
	},
	thread::JoinHandle,
	time::Duration,
};

/// How the server answers.
#[derive(Clone, Debug)]
pub enum Mode {
	/// HEAD: `Content-Length: 2000`; GET: `Content-Length: 1000000000000` and bytes for as
	/// long as the reader reads.
	Huge,
	/// GET: `Content-Length: len`, then one byte a second.
	Drip { len: u64 },
	/// GET: `Transfer-Encoding: chunked`, 16 KiB chunks that never end; with `declared`, also
	/// a (contradicting, ignored by HTTP/1.1 clients) `Content-Length`.
	EndlessChunks { declared: Option<u64> },
	/// Every request: 404 (an S3 `NoSuchKey`), after recording it.
	Capture,
	/// GET: `302 Found` to `location`.
	Redirect { location: String },
	/// GET of `path`: `body`, as S3 serves an object; anything else 404.
	Serve { path: String, body: Vec<u8> },
	/// GET of `prefix` + `key`: the file `root/key`, to the first reader that finds it
	/// there only; 404 to everyone else (a store that serves some readers and not others).
	FirstReaderOnly { prefix: String, root: std::path::PathBuf },
}

/// One request as received.
#[derive(Clone, Debug)]
pub struct Request {
	pub method: String,
	pub path: String,
	/// Names in lower case, values as sent.
	pub headers: Vec<(String, String)>,
	/// The object was sent in answer ([`Mode::FirstReaderOnly`]).
	pub served: bool,
}

impl Request {
	pub fn header(&self, name: &str) -> Option<&str> {
		self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
	}
}

/// The server; stops (and closes every connection) when dropped.
pub struct HostileServer {
	pub port: u16,
	requests: Arc<Mutex<Vec<Request>>>,
	stop: Arc<AtomicBool>,
	acceptor: Option<JoinHandle<()>>,
}

impl HostileServer {
	pub fn start(mode: Mode) -> Self {
		let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
		let port = listener.local_addr().expect("local address").port();
		let requests = Arc::new(Mutex::new(Vec::new()));
		let stop = Arc::new(AtomicBool::new(false));
		let acceptor = {
			let (requests, stop) = (requests.clone(), stop.clone());
			std::thread::spawn(move || {
				for conn in listener.incoming() {
					if stop.load(Ordering::Relaxed) {
						break;
					}
					let Ok(conn) = conn else { continue };
					let (mode, requests, stop) = (mode.clone(), requests.clone(), stop.clone());
					std::thread::spawn(move || serve(conn, &mode, &requests, &stop));
				}
			})
		};
		Self { port, requests, stop, acceptor: Some(acceptor) }
	}

	/// `http://127.0.0.1:PORT`.
	pub fn endpoint(&self) -> String {
		format!("http://127.0.0.1:{}", self.port)
	}

	/// Every request received so far.
	pub fn requests(&self) -> Vec<Request> {
		self.requests.lock().unwrap_or_else(|e| e.into_inner()).clone()
	}
}

impl Drop for HostileServer {
	fn drop(&mut self) {
		self.stop.store(true, Ordering::Relaxed);
		// Wakes the acceptor, which then sees `stop`.
		let _ = TcpStream::connect(("127.0.0.1", self.port));
		if let Some(a) = self.acceptor.take() {
			let _ = a.join();
		}
	}
}

/// Answers the requests of one connection until the client or the server stops.
fn serve(mut conn: TcpStream, mode: &Mode, requests: &Mutex<Vec<Request>>, stop: &AtomicBool) {
	let _ = conn.set_read_timeout(Some(Duration::from_secs(30)));
	while let Some(request) = read_request(&mut conn) {
		requests.lock().unwrap_or_else(|e| e.into_inner()).push(request.clone());
		let head = request.method == "HEAD";
		let done = match mode {
			Mode::Huge if head => answer(&mut conn, "200 OK", &[("Content-Length", "2000")], b""),
			Mode::Huge => {
				let _ = write_head(&mut conn, "200 OK", &[("Content-Length", "1000000000000")]);
				stream_forever(&mut conn, stop, |c| c.write_all(&[b'x'; 64 * 1024]));
				false
			}
			Mode::Drip { len } => {
				let _ = write_head(&mut conn, "200 OK", &[("Content-Length", &len.to_string())]);
				if !head {
					stream_forever(&mut conn, stop, |c| {
						c.write_all(b"d")?;
						std::thread::sleep(Duration::from_secs(1));
						Ok(())
					});
				}
				false
			}
			Mode::EndlessChunks { declared } => {
				let mut headers = vec![("Transfer-Encoding", "chunked".to_string())];
				if let Some(len) = declared {
					headers.push(("Content-Length", len.to_string()));
				}
				let headers: Vec<(&str, &str)> =
					headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
				let _ = write_head(&mut conn, "200 OK", &headers);
				if !head {
					let mut chunk = b"4000\r\n".to_vec();
					chunk.extend_from_slice(&[b'c'; 0x4000]);
					chunk.extend_from_slice(b"\r\n");
					stream_forever(&mut conn, stop, |c| c.write_all(&chunk));
				}
				false
			}
			Mode::Capture => not_found(&mut conn),
			Mode::Redirect { location } => {
				answer(&mut conn, "302 Found", &[("Location", location.as_str())], b"")
			}
			Mode::Serve { path, body } if *path == request.path => {
				let len = body.len().to_string();
				let headers = [
					("Content-Length", len.as_str()),
					("ETag", "\"0123456789abcdef\""),
					("Last-Modified", "Tue, 01 Jul 2025 12:00:00 GMT"),
				];
				answer(&mut conn, "200 OK", &headers, if head { &[][..] } else { &body[..] })
			}
			Mode::Serve { .. } => not_found(&mut conn),
			Mode::FirstReaderOnly { prefix, root } => {
				let key = request
					.path
					.strip_prefix(prefix.as_str())
					.filter(|k| !k.split('/').any(|c| c == ".."));
				match key.map(|k| std::fs::read(root.join(k))) {
					Some(Ok(body)) if !head && claim(requests, &request.path) => {
						let len = body.len().to_string();
						let headers =
							[("Content-Length", len.as_str()), ("ETag", "\"0123456789abcdef\"")];
						answer(&mut conn, "200 OK", &headers, &body)
					}
					_ => not_found(&mut conn),
				}
			}
		};
		if !done || stop.load(Ordering::Relaxed) {
			break;
		}
	}
	let _ = conn.shutdown(Shutdown::Both);
}

/// Marks the newest request for `path` as served, unless one already was: `true` for the
/// first reader.
fn claim(requests: &Mutex<Vec<Request>>, path: &str) -> bool {
	let mut requests = requests.lock().unwrap_or_else(|e| e.into_inner());
	if requests.iter().any(|r| r.served && r.path == path) {
		return false;
	}
	if let Some(r) = requests.iter_mut().rev().find(|r| r.path == path) {
		r.served = true;
	}
	true
}

/// Writes until the client hangs up or the server stops.
fn stream_forever(
	conn: &mut TcpStream,
	stop: &AtomicBool,
	mut write: impl FnMut(&mut TcpStream) -> std::io::Result<()>,
) {
	while !stop.load(Ordering::Relaxed) {
		if write(conn).is_err() {
			return;
		}
	}
}

fn write_head(conn: &mut TcpStream, status: &str, headers: &[(&str, &str)]) -> std::io::Result<()> {
	let mut head = format!("HTTP/1.1 {status}\r\n");
	for (name, value) in headers {
		head.push_str(&format!("{name}: {value}\r\n"));
	}
	head.push_str("\r\n");
	conn.write_all(head.as_bytes())
}

/// A complete response; `true` if the connection can take another request.
fn answer(conn: &mut TcpStream, status: &str, headers: &[(&str, &str)], body: &[u8]) -> bool {
	let mut all = headers.to_vec();
	let len = body.len().to_string();
	if !headers.iter().any(|(n, _)| n.eq_ignore_ascii_case("content-length")) {
		all.push(("Content-Length", &len));
	}
	write_head(conn, status, &all).and_then(|()| conn.write_all(body)).is_ok()
}

fn not_found(conn: &mut TcpStream) -> bool {
	let body = b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>NoSuchKey</Code><Message>The specified key does not exist.</Message></Error>";
	answer(conn, "404 Not Found", &[("Content-Type", "application/xml")], body)
}

/// Reads one request head (a body, which these clients do not send on reads, is skipped by
/// its `Content-Length`); `None` when the client closes or sends garbage.
fn read_request(conn: &mut TcpStream) -> Option<Request> {
	let mut buf = Vec::new();
	let mut byte = [0u8; 1];
	while !buf.ends_with(b"\r\n\r\n") {
		if buf.len() > 64 * 1024 || conn.read(&mut byte).ok()? == 0 {
			return None;
		}
		buf.push(byte[0]);
	}
	let text = String::from_utf8_lossy(&buf);
	let mut lines = text.split("\r\n");
	let mut first = lines.next()?.split(' ');
	let (method, path) = (first.next()?.to_string(), first.next()?.to_string());
	let headers: Vec<(String, String)> = lines
		.filter_map(|l| l.split_once(':'))
		.map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
		.collect();
	let body_len = headers
		.iter()
		.find(|(n, _)| n == "content-length")
		.and_then(|(_, v)| v.parse::<u64>().ok());
	if let Some(len) = body_len {
		std::io::copy(&mut Read::by_ref(conn).take(len), &mut std::io::sink()).ok()?;
	}
	Some(Request { method, path, headers, served: false })
}
