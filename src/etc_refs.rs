//! The /etc entries a program refers to beyond the sandbox's allowlist
//! ([`wsbox_sandbox::plan::etc`] finds them), cached per user: walking /usr
//! takes about half a second (more on a cold cache), so it is done once
//! per change of the installed packages, not at every start.
//!
//! The cache (`$XDG_CACHE_HOME/wsbox/etc-refs.json`, else
//! `~/.cache/wsbox/etc-refs.json`) only saves time: it is rebuilt when dpkg's
//! database changes, and whatever it says, the sandbox's plan never shows
//! an entry of [`wsbox_sandbox::plan::ETC_NEVER`]. A cache that cannot be
//! read or written is recomputed or skipped, never an error.

use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use wsbox_sandbox::plan::etc;

use crate::util::sandbox_program;

/// What invalidates the cache: dpkg's status file and info directory, and
/// the format of the cache itself.
const FORMAT: u32 = 1;

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
    let path = cache_path();
    let mut cache = path
        .as_deref()
        .and_then(|p| std::fs::read(p).ok())
        .and_then(|bytes| serde_json::from_slice::<Cache>(&bytes).ok())
        .filter(|c| c.format == FORMAT && c.stamp == stamp)
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

fn cache_path() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| {
            std::env::var_os("HOME")
                .map(PathBuf::from)
                .filter(|p| p.is_absolute())
                .map(|home| home.join(".cache"))
        })?;
    Some(base.join("wsbox").join("etc-refs.json"))
}

/// Writes the cache whole or not at all: a new file renamed over the old.
fn store(path: &Path, cache: &Cache) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)?;
    let temp = dir.join(format!(".etc-refs.{}.json", std::process::id()));
    let bytes = serde_json::to_vec(cache).map_err(std::io::Error::other)?;
    std::fs::write(&temp, bytes)?;
    std::fs::rename(&temp, path).inspect_err(|_| {
        let _ = std::fs::remove_file(&temp);
    })
}

#[cfg(test)]
mod tests {
    use super::*;

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
