//! What the wsbox process keeps once it confines itself (after the sandbox
//! is spawned and every socket is open): its runtime directory and xkb
//! data; no new sockets but the broker's answer channels. The mechanism is
//! `wsbox_sandbox::self_confine`; the syscall allowlist is
//! `sandbox-runtime/src/seccomp_rules.rs` (`WSBOX_ALLOWED` and
//! `WSBOX_FOR_HELPERS`; `RELAY_ADDED`/`WSBOX_SOCKETS` for the relay
//! process).
//!
//! What the confined wsbox cannot do is done by processes forked before,
//! from its single thread (`crate::helper`): a `--screenshot` is written by
//! the screenshot writer (`crate::screenshot`; Landlock could only grant
//! wsbox the whole directory the file goes to); files are attached,
//! detached and exported by the file broker (`crate::files::broker`), the
//! firewall of `--net user` follows the host's addresses in the host
//! watcher (`crate::net::hostwatch`), and the relays of `--net tor` and
//! `--net-forward` run in a process confined like wsbox but allowed TCP
//! connections to their upstream ports (`crate::net::relays`); the app's
//! sound goes through the audio helper, confined like wsbox but with no
//! file and unix sockets it connects (`crate::audio`). In window
//! mode, the app's file dialogs are the host's, asked for on the host's
//! session bus by the host chooser (`crate::portal::host`). The host's
//! accessibility bus is reached through the accessibility helper's relay
//! and xdg-dbus-proxy (`crate::a11y`).

use std::path::{Path, PathBuf};

use wsbox_sandbox::self_confine::{Confinement, Error, Report};

/// xkb data, the one thing outside its runtime directory wsbox still reads.
pub const XKB: &str = "/usr/share/X11/xkb";

/// Confines this process for the rest of `wsbox run`.
/// `landlock_optional`: the policy's `security.landlock = "best-effort"`;
/// `signal_pids`: the processes wsbox may still signal (the sandbox's pid
/// 1, its helpers); `display`: whether wsbox runs a compositor, whose font
/// is read now (`--display none` needs none); `cgroup_parents`: where the
/// sandbox's cgroup was made (wsbox removes it at the end); `print_dir`:
/// where the portal writes printed documents (`portal.print_to`).
pub fn confine(
    runtime_dir: &Path,
    landlock_optional: bool,
    signal_pids: Vec<i32>,
    display: bool,
    cgroup_parents: Vec<PathBuf>,
    print_dir: Option<PathBuf>,
) -> Result<Report, Error> {
    if display {
        wsbox_compositor::preload_assets();
    }
    // smithay writes keymaps for older wl_keyboard clients to a temporary
    // file in XDG_RUNTIME_DIR: make that the one directory wsbox keeps.
    // SAFETY: called on the main thread before the event loop, with no
    // other thread of wsbox reading the environment.
    std::env::set_var("XDG_RUNTIME_DIR", runtime_dir);
    // Not the directory itself: removing it needs a rule on the directory
    // beside the other sandboxes' (Landlock cannot name one child), so the
    // broker does that when wsbox ends (src/files/broker.rs).
    let confinement = Confinement {
        write: vec![runtime_dir.to_owned()],
        // New files only: printed documents (src/portal/print.rs).
        create: print_dir.into_iter().collect(),
        // A keymap that names include files (a host's, in window mode).
        read: vec![PathBuf::from(XKB)],
        landlock_optional,
        signal_pids,
        // The sandbox's cgroup is removed when it ends.
        remove_dirs: cgroup_parents,
        ..Confinement::default()
    };
    // Landlock and capabilities bind the calling thread and the threads it
    // starts later; wsbox has started none yet (its threads come with
    // clipboard transfers, exports, the user-mode helper's log and
    // smithay's pool dropper, later): apply() refuses otherwise.
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

/// wsbox's own directories, which its helpers never grant or write: its
/// runtime directory and the other sandboxes' beside it, and what its
/// confinement keeps. Canonical: the helpers compare them with the real
/// paths of fds.
pub fn own_dirs(runtime_dir: &Path) -> Vec<PathBuf> {
    [runtime_dir.parent().unwrap_or(runtime_dir), Path::new(XKB)]
        .iter()
        .map(|p| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf()))
        .collect()
}
