//! What a test that cannot run here does: it passes (cargo has no run-time skip), prints why,
//! and records itself in the file `SKIPPED_TESTS_LOG` names (one line per skipped test), so
//! that CI's closing line counts it as skipped, not passed (`.ci/run` sets the variable).

use std::io::Write;

/// Marks the current test as skipped for `reason`.
pub fn skip(reason: &str) {
	let test = std::thread::current().name().unwrap_or("unnamed test").to_string();
	eprintln!("skipped: {reason}");
	if let Some(path) = std::env::var_os("SKIPPED_TESTS_LOG") {
		let line = format!("{test}: {reason}\n");
		if let Ok(mut f) = std::fs::OpenOptions::new().create(true).append(true).open(path) {
			let _ = f.write_all(line.as_bytes());
		}
	}
}
