//! Where a worker's signing secret comes from: an environment variable or a file only the
//! operator can read, never a command-line argument (which every user of the machine sees in
//! the process list and which shells keep in their history).

use std::path::Path;

use anyhow::{bail, Context, Result};

/// Reads the secret from `file` when given (refused unless only its owner can read it), else
/// from the environment variable `env`. Surrounding whitespace (a trailing newline) is cut.
pub fn read_secret(env: &str, file: Option<&Path>) -> Result<String> {
	let secret = match file {
		Some(path) => {
			check_private(path)?;
			std::fs::read_to_string(path)
				.with_context(|| format!("reading the secret file {}", path.display()))?
		}
		None => std::env::var(env).with_context(|| {
			format!("set {env} to the secret URI or seed phrase (or pass a 0600 file)")
		})?,
	};
	let secret = secret.trim();
	if secret.is_empty() {
		bail!("the secret is empty ({})", file.map_or(env.to_owned(), |p| p.display().to_string()));
	}
	Ok(secret.to_owned())
}

/// Refuses a secret file that its group or others may read or write.
pub fn check_private(path: &Path) -> Result<()> {
	#[cfg(unix)]
	{
		use std::os::unix::fs::PermissionsExt;
		let mode = std::fs::metadata(path)
			.with_context(|| format!("reading the secret file {}", path.display()))?
			.permissions()
			.mode();
		if mode & 0o077 != 0 {
			bail!(
				"the secret file {} is open to other users (mode {:o}): chmod 600 it",
				path.display(),
				mode & 0o777
			);
		}
	}
	Ok(())
}

#[cfg(test)]
mod tests {
	use super::*;
	use std::os::unix::fs::PermissionsExt;

	fn file_with(mode: u32, text: &str) -> std::path::PathBuf {
		let path = std::env::temp_dir().join(format!(
			"secret-{}-{mode:o}-{}",
			std::process::id(),
			text.len()
		));
		std::fs::write(&path, text).unwrap();
		std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
		path
	}

	#[test]
	fn a_private_file_is_read_and_trimmed() {
		let path = file_with(0o600, "//Alice\n");
		assert_eq!(read_secret("UNUSED_SECRET_VAR", Some(&path)).unwrap(), "//Alice");
		std::fs::remove_file(path).unwrap();
	}

	#[test]
	fn a_file_others_can_read_is_refused_in_one_line() {
		let path = file_with(0o644, "//Alice");
		let err = format!("{:#}", read_secret("UNUSED_SECRET_VAR", Some(&path)).unwrap_err());
		assert!(
			err.contains("mode 644") && err.contains("chmod 600") && !err.contains('\n'),
			"{err}"
		);
		std::fs::remove_file(path).unwrap();
	}

	#[test]
	fn a_missing_variable_says_what_to_set() {
		let err = read_secret("SURELY_UNSET_SECRET_VAR_1234", None).unwrap_err().to_string();
		assert!(err.contains("set SURELY_UNSET_SECRET_VAR_1234"), "{err}");
	}
}
