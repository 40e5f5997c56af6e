//! What the wsbox process keeps once it confines itself (after the sandbox
//! is spawned and every socket is open): its runtime directory, the
//! directory a `--screenshot` goes to, and xkb data. The mechanism is
//! `wsbox_sandbox::self_confine`; the syscall allowlist is
//! `sandbox-runtime/src/seccomp_rules.rs` (`WSBOX_ALLOWED`, and
//! `WSBOX_FOR_HELPERS` for what other features will add).

use std::path::{Path, PathBuf};

use wsbox_sandbox::self_confine::{Confinement, Error, Report};

/// Confines this process for the rest of `wsbox run`.
pub fn confine(runtime_dir: &Path, screenshot: Option<&Path>) -> Result<Report, Error> {
    wsbox_compositor::preload_assets();
    // smithay writes keymaps for older wl_keyboard clients to a temporary
    // file in XDG_RUNTIME_DIR: make that the one directory wsbox keeps.
    // SAFETY: called on the main thread before the event loop, with no
    // other thread of wsbox reading the environment.
    std::env::set_var("XDG_RUNTIME_DIR", runtime_dir);
    let mut confinement = Confinement {
        write: vec![runtime_dir.to_owned()],
        remove_children: runtime_dir
            .parent()
            .map(Path::to_owned)
            .into_iter()
            .collect(),
        // A keymap that names include files (a host's, in window mode).
        read: vec![PathBuf::from("/usr/share/X11/xkb")],
        ..Confinement::default()
    };
    if let Some(file) = screenshot {
        let dir = match file.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir.to_owned(),
            _ => PathBuf::from("."),
        };
        confinement.create.push(dir);
    }
    // Landlock binds the calling thread and the threads it starts later;
    // wsbox has started none yet (its threads come with clipboard
    // transfers and smithay's pool dropper, later).
    let threads = std::fs::read_dir("/proc/self/task").map_or(0, |d| d.count());
    if threads > 1 {
        tracing::warn!(
            threads,
            "threads started before the confinement keep their file access"
        );
    }
    let report = confinement.apply()?;
    tracing::info!(
        landlock = report.landlock,
        landlock_abi = report.landlock_abi,
        seccomp_filters = report.seccomp_filters,
        runtime_dir = %runtime_dir.display(),
        "wsbox confined itself"
    );
    Ok(report)
}
