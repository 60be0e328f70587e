//! `--config FILE`: a TOML file whose keys are the subcommand's flags (`store = "s3://..."`,
//! `prometheus_port = 9615`, `allow_local_stores = true`). Its entries become command-line
//! flags before clap parses them, so a file can say nothing a flag cannot, clap validates
//! both the same way, and a flag given on the command line wins over the file. Secrets have
//! no flag, so they cannot be put in the file either.

use anyhow::{bail, Context, Result};

/// `args` (the program name first) with the entries of the `--config` file, if one is
/// named, appended as flags that the command line does not already set.
pub fn with_config(args: Vec<String>) -> Result<Vec<String>> {
	let Some(path) = config_path(&args) else { return Ok(args) };
	let text = std::fs::read_to_string(&path)
		.with_context(|| format!("reading the config file {path}"))?;
	let extra = flags_from(&text, &args).with_context(|| format!("config file {path}"))?;
	Ok(args.into_iter().chain(extra).collect())
}

/// The value of `--config PATH` or `--config=PATH`.
fn config_path(args: &[String]) -> Option<String> {
	args.iter().enumerate().find_map(|(i, a)| match a.strip_prefix("--config") {
		Some("") => args.get(i + 1).cloned(),
		Some(rest) => rest.strip_prefix('=').map(str::to_owned),
		None => None,
	})
}

/// The flags a TOML document sets, skipping those `given` already has.
pub fn flags_from(text: &str, given: &[String]) -> Result<Vec<String>> {
	let table: toml::Table = text.parse().context("not valid TOML")?;
	let mut out = Vec::new();
	for (key, value) in table {
		if key == "config" {
			bail!("`config` cannot name another file");
		}
		let flag = format!("--{}", key.replace('_', "-"));
		let set = given.iter().any(|a| a == &flag || a.starts_with(&format!("{flag}=")));
		if set {
			continue;
		}
		let scalar = |v: &toml::Value| -> Result<String> {
			Ok(match v {
				toml::Value::String(s) => s.clone(),
				toml::Value::Integer(i) => i.to_string(),
				toml::Value::Float(f) => f.to_string(),
				other => bail!("`{key}`: {} is not a flag value", other.type_str()),
			})
		};
		match &value {
			toml::Value::Boolean(true) => out.push(flag),
			toml::Value::Boolean(false) => {}
			toml::Value::Array(items) => {
				let items = items.iter().map(scalar).collect::<Result<Vec<_>>>()?;
				out.extend([flag, items.join(",")]);
			}
			v => out.extend([flag, scalar(v)?]),
		}
	}
	Ok(out)
}

#[cfg(test)]
mod tests {
	use super::*;

	fn args(list: &[&str]) -> Vec<String> {
		list.iter().map(|s| s.to_string()).collect()
	}

	#[test]
	fn keys_become_flags_and_the_command_line_wins() {
		let text = r#"
store = "s3://grads/eve?endpoint=http://127.0.0.1:8333"
prometheus_port = 9615
allow_local_stores = true
prometheus_external = false
inner_lr = 0.002
adversaries = ["sybil", "stale"]
url = "ws://ignored:9944"
"#;
		let given = args(&["offchain-gpu", "miner", "--url=ws://node:9944"]);
		let flags = flags_from(text, &given).unwrap();
		let expected = args(&[
			"--adversaries",
			"sybil,stale",
			"--allow-local-stores",
			"--inner-lr",
			"0.002",
			"--prometheus-port",
			"9615",
			"--store",
			"s3://grads/eve?endpoint=http://127.0.0.1:8333",
		]);
		assert_eq!(flags, expected);
	}

	#[test]
	fn bad_files_are_named_errors() {
		assert!(flags_from("store = ", &[]).unwrap_err().to_string().contains("TOML"));
		let nested = flags_from("[node]\nurl = \"x\"", &[]).unwrap_err().to_string();
		assert!(nested.contains("`node`: table is not a flag value"), "{nested}");
		assert!(flags_from("config = \"other.toml\"", &[]).is_err());
	}

	#[test]
	fn the_config_flag_is_found_in_both_forms() {
		assert_eq!(
			config_path(&args(&["x", "miner", "--config", "a.toml"])),
			Some("a.toml".into())
		);
		assert_eq!(config_path(&args(&["x", "miner", "--config=b.toml"])), Some("b.toml".into()));
		assert_eq!(config_path(&args(&["x", "miner", "--configure"])), None);
	}
}
