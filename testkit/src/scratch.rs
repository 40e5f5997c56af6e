//! Scratch space and names: one directory under /tmp per test process,
//! fresh directories below it with the modes and owners a test needs, and
//! names that no other test (or test process) uses at the same time.
//!
//! Directories are short on purpose: wsbox's and the hosts' Unix sockets
//! live below them, and a socket path is limited to 108 bytes.

use std::fs;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

/// A number unique in this test process.
pub fn next() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// Nanoseconds of the wall clock: tells this test process's names from
/// those of an earlier one that had the same pid.
fn nanos() -> u32 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos())
}

/// Removes `/tmp/<stem><pid>.…` of test processes that are gone.
pub(crate) fn remove_stale(stem: &str) {
    let Ok(entries) = fs::read_dir("/tmp") else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let pid = name
            .strip_prefix(stem)
            .and_then(|rest| rest.split('.').next());
        if let Some(pid) = pid {
            if pid.parse::<u32>().is_ok() && !Path::new("/proc").join(pid).exists() {
                let _ = fs::remove_dir_all(entry.path());
            }
        }
    }
}

/// Creates `dir` with exactly `mode` (not masked by the umask).
pub fn make_dir(dir: &Path, mode: u32) {
    fs::DirBuilder::new()
        .mode(mode)
        .create(dir)
        .unwrap_or_else(|e| panic!("create {}: {e}", dir.display()));
    fs::set_permissions(dir, fs::Permissions::from_mode(mode))
        .unwrap_or_else(|e| panic!("chmod {}: {e}", dir.display()));
}

/// This test process's directory `/tmp/wsbox-<prefix>.<pid>.<n>`, 0755 so
/// that sandboxes running as unprivileged ids can reach what is below it,
/// with a 0700 `run/` for XDG_RUNTIME_DIR when `with_run` is set.
/// Directories of earlier test processes that are gone are removed first.
/// One prefix per test binary: the first call decides.
pub fn root_dir(prefix: &str, with_run: bool) -> &'static Path {
    static ROOT: OnceLock<PathBuf> = OnceLock::new();
    ROOT.get_or_init(|| {
        let stem = format!("wsbox-{prefix}.");
        remove_stale(&stem);
        let dir = PathBuf::from(format!(
            "/tmp/{stem}{}.{}",
            std::process::id(),
            nanos() % 1000
        ));
        make_dir(&dir, 0o755);
        if with_run {
            make_dir(&dir.join("run"), 0o700);
        }
        dir
    })
}

/// A fresh directory below `parent` with `mode`, named after `name` (cut
/// short) and made unique.
pub fn scratch_in(parent: &Path, name: &str, mode: u32) -> PathBuf {
    let short: String = name
        .chars()
        .filter(|c| c.is_alphanumeric() || *c == '-' || *c == '_')
        .take(12)
        .collect();
    let dir = parent.join(format!("{short}-{}", next()));
    make_dir(&dir, mode);
    dir
}

/// A fresh 0700 directory below `parent` owned by `user`: private to it.
pub fn scratch_for(parent: &Path, name: &str, user: (u32, u32)) -> PathBuf {
    let dir = scratch_in(parent, name, 0o700);
    std::os::unix::fs::chown(&dir, Some(user.0), Some(user.1))
        .unwrap_or_else(|e| panic!("chown {}: {e}", dir.display()));
    dir
}

/// A sandbox name unique to this test and process: `prefix`, the start of
/// `test`, the pid and a number; short enough for wsbox's sockets below
/// any runtime directory of the kit (and within wsbox's 64 characters).
pub fn unique_name(prefix: &str, test: &str) -> String {
    let short: String = test.chars().take(24).collect();
    format!("{prefix}{short}-{}-{}", std::process::id(), next())
}

/// A value no other process carries: for [`crate::MARK_VAR`].
pub fn unique_mark(what: &str) -> String {
    format!("{what}-{}-{}-{}", std::process::id(), next(), nanos())
}

/// A directory removed with its contents on drop.
#[derive(Debug)]
pub struct TempDir {
    pub path: PathBuf,
}

impl TempDir {
    /// Creates `path`, private (0700).
    pub fn new(path: PathBuf) -> Result<TempDir, String> {
        fs::DirBuilder::new()
            .mode(0o700)
            .create(&path)
            .map_err(|e| format!("create {}: {e}", path.display()))?;
        Ok(TempDir { path })
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.path);
    }
}
