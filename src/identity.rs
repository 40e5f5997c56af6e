//! Per-sandbox identifiers wsbox makes up: a stable machine id for an app
//! that asks for one (policy `identity.machine_id = "stable"`).
//!
//! The stable id is SHA-256 of a secret key of the invoking user and the
//! sandbox's name: the same for every run of that app, unrelated to the
//! host's id, to other apps' ids and to other users'. The key lives in
//! `$XDG_DATA_HOME/wsbox/machine-id.key` (`~/.local/share/wsbox/…`), mode
//! 0600, made on first use; deleting it gives every app a new id.

use std::io::{Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use sha2::{Digest, Sha256};

use crate::util::getrandom;

/// The machine id for the sandbox `name`, from the key in `dir`.
pub fn stable_machine_id(dir: &Path, name: &str) -> Result<String> {
    let key = key(dir)?;
    Ok(derive(&key, name))
}

/// Where the key lives.
pub fn key_dir() -> Result<PathBuf> {
    if let Some(data) = std::env::var_os("XDG_DATA_HOME").map(PathBuf::from) {
        if data.is_absolute() {
            return Ok(data.join("wsbox"));
        }
    }
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .filter(|h| h.is_absolute())
        .context("failed to find the key for stable machine ids: HOME is not set")?;
    Ok(home.join(".local/share/wsbox"))
}

fn derive(key: &[u8; 32], name: &str) -> String {
    let mut hash = Sha256::new();
    hash.update(b"wsbox machine-id v1\0");
    hash.update(key);
    hash.update(name.as_bytes());
    let digest = hash.finalize();
    let mut id: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
    id.push('\n');
    id
}

fn key(dir: &Path) -> Result<[u8; 32]> {
    let path = dir.join("machine-id.key");
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("failed to create {}", dir.display()))?;
    let mut key = [0u8; 32];
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(&path)
    {
        Ok(mut file) => {
            getrandom(&mut key)?;
            file.write_all(&key)
                .and_then(|()| file.sync_all())
                .with_context(|| format!("failed to write {}", path.display()))?;
            return Ok(key);
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(e).with_context(|| format!("failed to create {}", path.display())),
    }
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(&path)
        .with_context(|| format!("failed to read {}", path.display()))?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)
        .with_context(|| format!("failed to read {}", path.display()))?;
    if bytes.len() != 32 {
        bail!(
            "{} is damaged ({} bytes, expected 32): remove it to make a new key",
            path.display(),
            bytes.len()
        );
    }
    key.copy_from_slice(&bytes);
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_stable_per_name_and_key() {
        let a = derive(&[1; 32], "firefox");
        assert_eq!(a, derive(&[1; 32], "firefox"));
        assert_ne!(a, derive(&[1; 32], "firefox-2"));
        assert_ne!(a, derive(&[2; 32], "firefox"));
        assert_eq!(a.len(), 33);
        assert!(a.trim_end().bytes().all(|b| b.is_ascii_hexdigit()));
    }

    #[test]
    fn the_key_is_made_once_and_kept() {
        let dir = std::env::temp_dir().join(format!("wsbox-key-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let first = stable_machine_id(&dir, "app").unwrap();
        assert_eq!(stable_machine_id(&dir, "app").unwrap(), first);
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.join("machine-id.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        std::fs::write(dir.join("machine-id.key"), b"short").unwrap();
        let err = stable_machine_id(&dir, "app").unwrap_err().to_string();
        assert!(err.contains("damaged"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
