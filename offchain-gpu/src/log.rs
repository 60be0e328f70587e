//! The operator's log: `tracing` events with a timestamp and a level, filtered by `RUST_LOG`
//! (default `info`), written to stderr as text or, with `--log-format json`, one JSON
//! object per line.
//!
//! The JSON lines are written by [`JsonLines`] rather than by `tracing-subscriber`'s `json`
//! feature: a feature the node's build does not already turn on would change
//! `tracing-subscriber` for the whole workspace and rebuild every node crate that logs.

use std::fmt;

use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::time::{FormatTime, SystemTime};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::EnvFilter;

/// How log lines look.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
	/// `2026-12-07T14:02:11.532Z  INFO offchain_gpu::roles: committed uid=0 round=3`.
	#[default]
	Text,
	/// `{"timestamp":"...","level":"INFO","target":"...","fields":{"message":"committed",...}}`.
	Json,
}

/// Installs the process's log subscriber. `RUST_LOG` filters (`info` when unset or invalid,
/// which is said on the first line); a second call is a no-op.
pub fn init(format: LogFormat) {
	let (filter, bad) = match std::env::var("RUST_LOG") {
		Ok(spec) if !spec.trim().is_empty() => match EnvFilter::try_new(&spec) {
			Ok(filter) => (filter, None),
			Err(e) => (EnvFilter::new("info"), Some(format!("RUST_LOG={spec:?} ignored: {e}"))),
		},
		_ => (EnvFilter::new("info"), None),
	};
	let builder = tracing_subscriber::fmt()
		.with_env_filter(filter)
		.with_writer(|| Stderr)
		.with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
	let installed = match format {
		LogFormat::Text => builder.try_init(),
		LogFormat::Json => builder.event_format(JsonLines).try_init(),
	};
	if let (Ok(()), Some(bad)) = (installed, bad) {
		tracing::warn!("{bad}");
	}
}

/// Standard error through `eprint!`: the same as writing to it in a program, and captured
/// with the test's output under `cargo test` (a devnet run in a test).
struct Stderr;

impl std::io::Write for Stderr {
	fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
		eprint!("{}", String::from_utf8_lossy(buf));
		Ok(buf.len())
	}
	fn flush(&mut self) -> std::io::Result<()> {
		Ok(())
	}
}

/// One JSON object per event: `timestamp` (RFC 3339, UTC), `level`, `target` and `fields`
/// (the message under `message`; numbers and booleans as JSON numbers and booleans).
pub struct JsonLines;

impl<S, N> FormatEvent<S, N> for JsonLines
where
	S: Subscriber + for<'a> LookupSpan<'a>,
	N: for<'a> FormatFields<'a> + 'static,
{
	fn format_event(
		&self,
		_ctx: &FmtContext<'_, S, N>,
		mut writer: Writer<'_>,
		event: &Event<'_>,
	) -> fmt::Result {
		writeln!(writer, "{}", json_line(event))
	}
}

/// The JSON object of one event.
fn json_line(event: &Event<'_>) -> Value {
	let mut timestamp = String::new();
	// SystemTime never fails to format; an empty timestamp beats a lost line if it did.
	let _ = SystemTime.format_time(&mut Writer::new(&mut timestamp));
	let mut fields = JsonFields::default();
	event.record(&mut fields);
	let meta = event.metadata();
	let mut line = Map::new();
	line.insert("timestamp".into(), Value::String(timestamp));
	line.insert("level".into(), Value::String(meta.level().to_string()));
	line.insert("target".into(), Value::String(meta.target().to_owned()));
	line.insert("fields".into(), Value::Object(fields.0));
	Value::Object(line)
}

/// Collects an event's fields as JSON values.
#[derive(Default)]
struct JsonFields(Map<String, Value>);

impl JsonFields {
	fn put(&mut self, field: &Field, value: Value) {
		self.0.insert(field.name().to_owned(), value);
	}
}

impl Visit for JsonFields {
	fn record_f64(&mut self, field: &Field, value: f64) {
		// JSON has no NaN or infinity: those go as strings.
		let v = serde_json::Number::from_f64(value)
			.map_or_else(|| Value::String(value.to_string()), Value::Number);
		self.put(field, v);
	}
	fn record_i64(&mut self, field: &Field, value: i64) {
		self.put(field, value.into());
	}
	fn record_u64(&mut self, field: &Field, value: u64) {
		self.put(field, value.into());
	}
	fn record_u128(&mut self, field: &Field, value: u128) {
		// Balances: a number where JSON readers keep it exact, else a string.
		let v = u64::try_from(value).map_or_else(|_| Value::String(value.to_string()), Value::from);
		self.put(field, v);
	}
	fn record_bool(&mut self, field: &Field, value: bool) {
		self.put(field, value.into());
	}
	fn record_str(&mut self, field: &Field, value: &str) {
		self.put(field, value.into());
	}
	fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
		self.put(field, Value::String(format!("{value:?}")));
	}
}

#[cfg(test)]
mod tests {
	use std::io::Write;
	use std::sync::{Arc, Mutex};

	use super::*;

	/// A writer into a shared buffer, for capturing what the subscriber writes.
	#[derive(Clone, Default)]
	struct Captured(Arc<Mutex<Vec<u8>>>);

	impl Write for Captured {
		fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
			self.0.lock().unwrap().extend_from_slice(buf);
			Ok(buf.len())
		}
		fn flush(&mut self) -> std::io::Result<()> {
			Ok(())
		}
	}

	#[test]
	fn json_lines_carry_time_level_and_typed_fields() {
		let out = Captured::default();
		let writer = out.clone();
		let subscriber = tracing_subscriber::fmt()
			.with_writer(move || writer.clone())
			.event_format(JsonLines)
			.finish();
		tracing::subscriber::with_default(subscriber, || {
			tracing::info!(
				round = 3u64,
				loss = 2.5f32,
				published = true,
				who = "miner 0",
				"revealed"
			);
			tracing::warn!(ratio = f64::NAN, "odd \"quoted\"\nmessage");
		});
		let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
		let lines: Vec<Value> =
			text.lines().map(|l| serde_json::from_str(l).expect("a JSON line")).collect();
		assert_eq!(lines.len(), 2, "{text}");
		let first = &lines[0];
		assert_eq!(first["level"], "INFO");
		assert!(first["timestamp"].as_str().unwrap().starts_with("20"), "{first}");
		assert_eq!(first["fields"]["message"], "revealed");
		assert_eq!(first["fields"]["round"], 3);
		assert_eq!(first["fields"]["loss"], 2.5);
		assert_eq!(first["fields"]["published"], true);
		assert_eq!(first["fields"]["who"], "miner 0");
		assert_eq!(lines[1]["level"], "WARN");
		assert_eq!(lines[1]["fields"]["message"], "odd \"quoted\"\nmessage");
		assert_eq!(lines[1]["fields"]["ratio"], "NaN");
	}
}
