//! The runtime directory of one sandbox, `$XDG_RUNTIME_DIR/wsbox/<name>/`:
//! created 0700 before the app starts, holding the Wayland socket, the
//! control socket, a lock held while wsbox runs and a small JSON state file.
//! Removed when wsbox ends; a directory whose lock is free belongs to a wsbox
//! that died and is removed by the next `wsbox run` or `wsbox ps`.

use std::fs::File;
use std::io::Write;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

/// What `wsbox ps` shows of a running sandbox.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Info {
    /// The sandbox's name.
    pub name: String,
    /// wsbox's pid on the host.
    pub pid: u32,
    /// The built-in profile it runs with, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
    /// The program the app was started with.
    pub program: String,
    /// The display mode: `window`, `headless` or `none`.
    pub display: String,
    /// The network mode: `none`, `user`, `tor` or `host`.
    pub network: String,
    /// Seconds since the epoch.
    pub started: u64,
    /// The sandbox has a private session bus with wsbox's portal.
    #[serde(default)]
    pub bus: bool,
    /// The sound grant: `none`, `playback`, `record` or `playback+record`.
    #[serde(default = "no_audio")]
    pub audio: String,
    /// The limits in force and where their use is read.
    #[serde(default)]
    pub limits: Option<crate::limits::LimitsInfo>,
}

fn no_audio() -> String {
    "none".into()
}

impl Info {
    /// What `wsbox ps` warns about this sandbox.
    pub fn warning(&self) -> Option<&'static str> {
        (self.network == "host").then_some(
            "shares the host's network (--net host): it reaches everything the host reaches, \
             its loopback services and LAN included",
        )
    }
}

/// A created runtime directory; removed on drop.
#[derive(Debug)]
pub struct Instance {
    pub dir: PathBuf,
    /// Held (flock) for the life of wsbox.
    _lock: File,
}

/// `$XDG_RUNTIME_DIR/wsbox`, or `/run/user/<uid>/wsbox`, or `/tmp/wsbox-<uid>`.
pub fn base_dir() -> Result<PathBuf> {
    // SAFETY: no arguments.
    let uid = unsafe { libc::geteuid() };
    // Only a directory of wsbox's own user: root given another user's
    // XDG_RUNTIME_DIR (0700) could no longer enter it once it has given up
    // its capabilities (src/confine.rs).
    let own = |p: &PathBuf| std::fs::metadata(p).is_ok_and(|m| m.is_dir() && m.uid() == uid);
    let runtime = std::env::var_os("XDG_RUNTIME_DIR")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute() && own(p))
        .or_else(|| Some(PathBuf::from(format!("/run/user/{uid}"))).filter(own));
    let base = match runtime {
        Some(dir) => dir.join("wsbox"),
        None => PathBuf::from(format!("/tmp/wsbox-{uid}")),
    };
    match std::fs::DirBuilder::new().mode(0o700).create(&base) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(e).with_context(|| format!("failed to create {}", base.display())),
    }
    let meta = std::fs::symlink_metadata(&base)
        .with_context(|| format!("failed to inspect {}", base.display()))?;
    if !meta.is_dir() || meta.uid() != uid || meta.mode() & 0o077 != 0 {
        bail!(
            "refusing to use {}: it must be a directory owned by uid {uid} with mode 0700",
            base.display()
        );
    }
    Ok(base)
}

/// Checks a sandbox name: 1–64 letters, digits, `.`, `_`, `-`, not
/// starting with `.` or `-` (never an option).
pub fn validate_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && !name.starts_with('.')
        && !name.starts_with('-')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if !ok {
        bail!(
            "invalid sandbox name {name:?}: use 1-64 letters, digits, '.', '_' or '-', \
             not starting with '.' or '-'"
        );
    }
    Ok(())
}

fn try_lock(file: &File) -> bool {
    // SAFETY: flock on an fd we own.
    unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) == 0 }
}

/// Whether the instance in `dir` is alive (its wsbox holds the lock).
pub fn is_alive(dir: &Path) -> bool {
    match File::open(dir.join("lock")) {
        Ok(file) => !try_lock(&file),
        Err(_) => false,
    }
}

/// Removes directories of wsbox processes that died without cleaning up.
pub fn collect_stale(base: &Path) {
    let Ok(entries) = std::fs::read_dir(base) else {
        return;
    };
    for entry in entries.flatten() {
        let dir = entry.path();
        // A directory being created may not hold its lock yet: leave young ones.
        let young = entry
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_none_or(|age| age.as_secs() < 10);
        if entry.file_type().is_ok_and(|t| t.is_dir()) && !young && !is_alive(&dir) {
            {
                tracing::debug!(dir = %dir.display(), "removing a stale sandbox directory");
                let _ = std::fs::remove_dir_all(&dir);
            }
        }
    }
}

impl Instance {
    /// Creates the directory for `name` (or, when `name` is None, for
    /// `<stem>`, `<stem>-2`, … whichever is free) and locks it.
    /// `info` gives what `wsbox ps` shows of the sandbox once it has its
    /// name (and may make what is named after it; an error removes the
    /// directory again).
    pub fn create(
        name: Option<&str>,
        stem: &str,
        mut info: impl FnMut(&str) -> Result<Info>,
    ) -> Result<Self> {
        let base = base_dir()?;
        collect_stale(&base);
        let candidates: Box<dyn Iterator<Item = String>> = match name {
            Some(name) => {
                validate_name(name)?;
                Box::new(std::iter::once(name.to_owned()))
            }
            None => {
                let stem: String = stem
                    .chars()
                    .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
                    .take(48)
                    .collect();
                let stem = if stem.is_empty() || stem.starts_with(['.', '-']) {
                    "app".to_owned()
                } else {
                    stem
                };
                Box::new(
                    std::iter::once(stem.clone())
                        .chain((2..1000).map(move |n| format!("{stem}-{n}"))),
                )
            }
        };
        for candidate in candidates {
            let dir = base.join(&candidate);
            match std::fs::DirBuilder::new().mode(0o700).create(&dir) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    if name.is_some() {
                        bail!("a sandbox named {candidate} is already running (see wsbox ps)");
                    }
                    continue;
                }
                Err(e) => {
                    return Err(e).with_context(|| format!("failed to create {}", dir.display()))
                }
            }
            let lock = File::create(dir.join("lock"))
                .with_context(|| format!("failed to create {}/lock", dir.display()))?;
            if !try_lock(&lock) {
                bail!("failed to lock {}/lock", dir.display());
            }
            let instance = Instance { dir, _lock: lock };
            instance.write_info(&info(&candidate)?)?;
            return Ok(instance);
        }
        bail!("no free sandbox name for {stem}")
    }

    /// The sandbox's name.
    pub fn name(&self) -> String {
        self.dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    }

    fn write_info(&self, info: &Info) -> Result<()> {
        let path = self.dir.join("state.json");
        let mut file =
            File::create(&path).with_context(|| format!("failed to create {}", path.display()))?;
        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
        // One write: `wsbox ps` never reads half of it, and no syscall per
        // token.
        let mut text = serde_json::to_vec(info)?;
        text.push(b'\n');
        file.write_all(&text)?;
        Ok(())
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The running sandboxes, by name.
pub fn list() -> Result<Vec<(PathBuf, Info)>> {
    let base = base_dir()?;
    collect_stale(&base);
    let mut out = Vec::new();
    for entry in std::fs::read_dir(&base)?.flatten() {
        let dir = entry.path();
        if !is_alive(&dir) {
            continue;
        }
        let Ok(text) = std::fs::read_to_string(dir.join("state.json")) else {
            continue;
        };
        if let Ok(info) = serde_json::from_str::<Info>(&text) {
            out.push((dir, info));
        }
    }
    out.sort_by(|a, b| a.1.name.cmp(&b.1.name));
    Ok(out)
}

/// What the running sandbox `name` shows, read from its state file alone.
pub fn info(name: &str) -> Result<Info> {
    read_info(&find(name)?)
}

/// What the sandbox whose runtime directory is `dir` shows (see [`info`]).
pub fn read_info(dir: &Path) -> Result<Info> {
    let path = dir.join("state.json");
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("failed to read {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("invalid {}", path.display()))
}

/// The directory of the running sandbox `name`.
pub fn find(name: &str) -> Result<PathBuf> {
    validate_name(name)?;
    let dir = base_dir()?.join(name);
    if !is_alive(&dir) {
        bail!("no running sandbox named {name} (see wsbox ps)");
    }
    Ok(dir)
}
