//! The /etc entries a program refers to beyond the sandbox's allowlist
//! ([`wsbox_sandbox::plan::etc`] finds them), cached per user: walking /usr
//! takes about half a second (more on a cold cache), so it is done once
//! per change of the installed packages, not at every start.
//!
//! The cache (`.etc-refs.json` in wsbox's runtime directory,
//! `$XDG_RUNTIME_DIR/wsbox/`, 0700 and never shown to any sandbox, so no
//! app can write it; rebuilt once per boot) only saves time: it is rebuilt
//! when dpkg's database changes, it is read without following a link and
//! only when it is a small regular file, its names are checked, and
//! whatever it says, the sandbox's plan never shows an entry of
//! [`wsbox_sandbox::plan::ETC_NEVER`]. A cache that cannot be read or
//! written is recomputed or skipped, never an error.

use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use wsbox_sandbox::plan::etc;

use crate::util::sandbox_program;

/// What invalidates the cache: dpkg's status file and info directory, and
/// the format of the cache itself.
const FORMAT: u32 = 2;

#[derive(Debug, Default, Serialize, Deserialize)]
struct Cache {
    format: u32,
    /// dpkg's database as it was when the cache was built.
    stamp: String,
    /// Names that links under /usr point to.
    linked: BTreeSet<String>,
    /// Per program (its path as looked up on the sandbox's PATH): the
    /// names of its package.
    programs: BTreeMap<PathBuf, BTreeSet<String>>,
}

/// The top-level /etc names `program` (argv[0] of the sandbox) may need:
/// those links under /usr point to and those of its package.
pub fn for_program(program: &str) -> BTreeSet<String> {
    let root = Path::new("/");
    let stamp = dpkg_stamp(root);
    let path = crate::instance::base_dir()
        .ok()
        .map(|dir| dir.join(".etc-refs.json"));
    let mut cache = path
        .as_deref()
        .and_then(read_cache)
        .filter(|c| c.format == FORMAT && c.stamp == stamp)
        .filter(|c| c.names().all(|n| plain_name(n)))
        .unwrap_or_default();
    let mut changed = false;
    if cache.stamp != stamp || cache.format != FORMAT {
        let started = std::time::Instant::now();
        cache = Cache {
            format: FORMAT,
            stamp,
            linked: etc::linked_from_usr(root),
            programs: BTreeMap::new(),
        };
        tracing::debug!(elapsed = ?started.elapsed(), linked = ?cache.linked, "scanned /usr for links into /etc");
        changed = true;
    }
    let mut names = cache.linked.clone();
    if let Some(program) = sandbox_program(root, program) {
        let own = match cache.programs.get(&program) {
            Some(own) => own.clone(),
            None => {
                let own = etc::of_package(root, &program);
                cache.programs.insert(program.clone(), own.clone());
                changed = true;
                own
            }
        };
        names.extend(own);
    }
    if changed {
        if let Some(path) = path {
            if let Err(e) = store(&path, &cache) {
                tracing::debug!(path = %path.display(), %e, "failed to write the /etc cache");
            }
        }
    }
    names
}

/// dpkg's database, as a stamp: the status file's and the info
/// directory's modification times and sizes.
fn dpkg_stamp(root: &Path) -> String {
    ["var/lib/dpkg/status", "var/lib/dpkg/info"]
        .iter()
        .map(|p| match root.join(p).metadata() {
            Ok(m) => format!("{}.{}:{}", m.mtime(), m.mtime_nsec(), m.size()),
            Err(_) => "-".to_owned(),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

impl Cache {
    fn names(&self) -> impl Iterator<Item = &String> {
        self.linked.iter().chain(self.programs.values().flatten())
    }
}

/// The largest cache read: a few hundred names.
const CACHE_MAX: u64 = 1 << 20;

/// A top-level /etc name as dpkg and the scan give them: no path, nothing
/// to be read as anything but a name.
fn plain_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._+-@".contains(&b))
}

/// The cache at `path`, if it is a small regular file (opened without
/// following a link or blocking on a FIFO) holding one.
fn read_cache(path: &Path) -> Option<Cache> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)
        .ok()?;
    let meta = file.metadata().ok()?;
    if !meta.is_file() || meta.len() > CACHE_MAX {
        return None;
    }
    let mut bytes = Vec::new();
    file.take(CACHE_MAX).read_to_end(&mut bytes).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// Writes the cache whole or not at all: a new file (never through a link
/// someone planted) renamed over the old.
fn store(path: &Path, cache: &Cache) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let dir = path.parent().unwrap_or(Path::new("."));
    let temp = dir.join(format!(".etc-refs.{}.tmp", std::process::id()));
    let bytes = serde_json::to_vec(cache).map_err(std::io::Error::other)?;
    let _ = std::fs::remove_file(&temp);
    let written = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .custom_flags(libc::O_NOFOLLOW)
        .mode(0o600)
        .open(&temp)
        .and_then(|mut f| f.write_all(&bytes));
    written
        .and_then(|()| std::fs::rename(&temp, path))
        .inspect_err(|_| {
            let _ = std::fs::remove_file(&temp);
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_planted_cache_is_not_followed_and_bad_names_are_not_taken() {
        let dir = std::env::temp_dir().join(format!("wsbox-etc-cache-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let victim = dir.join("victim");
        std::fs::write(&victim, "keep").unwrap();
        let path = dir.join(".etc-refs.json");
        std::os::unix::fs::symlink(&victim, &path).unwrap();
        assert!(read_cache(&path).is_none(), "read through a link");
        // A link where the temporary file goes is replaced, not written
        // through.
        let temp = dir.join(format!(".etc-refs.{}.tmp", std::process::id()));
        std::os::unix::fs::symlink(&victim, &temp).unwrap();
        std::fs::remove_file(&path).unwrap();
        store(&path, &Cache::default()).unwrap();
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep");
        assert!(read_cache(&path).is_some());
        for bad in ["", ".hidden", "a/b", "$(cmd)", "x y"] {
            assert!(!plain_name(bad), "{bad:?}");
        }
        for good in [
            "libreoffice",
            "python3.11",
            "imv_config",
            "java-17-openjdk",
            "c++",
        ] {
            assert!(plain_name(good), "{good:?}");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_stamp_follows_dpkg_s_database() {
        let dir = std::env::temp_dir().join(format!("wsbox-etc-stamp-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("var/lib/dpkg/info")).unwrap();
        std::fs::write(dir.join("var/lib/dpkg/status"), "a").unwrap();
        let before = dpkg_stamp(&dir);
        std::fs::write(dir.join("var/lib/dpkg/status"), "ab").unwrap();
        assert_ne!(dpkg_stamp(&dir), before);
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(dpkg_stamp(&dir), "- -");
    }
}
