//! The process model: wsbox's side (spawn, id maps, signal forwarding, exit
//! status) and the sandbox's side (pid 1 that sets up and reaps, and the app
//! that confines itself and execs).
//!
//! ```text
//! wsbox ──clone(NEWUSER|NEWNS|NEWPID|…)──▶ pid 1: ids, hostname, lo, mounts,
//!   (waits)                                pivot, drops its privileges
//!                                            └─vfork─▶ app: setsid, close-on-exec,
//!                                                      caps, nnp, Landlock, seccomp, exec
//! wsbox (waits 100 ms at most) ◀──────── pid 1: the app has started
//! wsbox: helpers, confines itself
//! ```
//! Errors inside the sandbox travel back over a close-on-exec pipe as
//! `CODE\tmessage`; a successful exec closes it. pid 1 dies with wsbox
//! (PDEATHSIG), and the PID namespace takes every other process with it.
//!
//! `prepared` computes and checks everything before any process exists,
//! `spawn` is wsbox's side and `pid1` the sandbox's; this module holds what
//! both sides share (the exit statuses, the signals) and re-exports the rest.

use std::ffi::OsString;
use std::io;
use std::path::PathBuf;
use std::time::Duration;

use nix::sys::signal::{SigSet, Signal};

use crate::{hostpath, landlock, namespaces, network, seccomp};

mod pid1;
mod prepared;
mod spawn;

pub use prepared::Prepared;
pub use spawn::{kill_sandbox, spawn, spawn_with, terminate, Outcome, Sandbox, START_WAIT};

/// Exit status for wsbox's own errors.
pub const EXIT_WSBOX_ERROR: i32 = 125;
/// Exit status when the program exists but cannot be executed.
pub const EXIT_CANNOT_EXECUTE: i32 = 126;
/// Exit status when the program is not found inside the sandbox.
pub const EXIT_NOT_FOUND: i32 = 127;
/// Exit status when the sandbox was stopped by a timeout.
pub const EXIT_TIMEOUT: i32 = 124;
/// How long a stopped app has between SIGTERM and SIGKILL.
pub const STOP_GRACE: Duration = Duration::from_secs(2);

/// Errors on wsbox's side of starting and supervising a sandbox.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Namespaces(#[from] namespaces::Error),
    #[error(transparent)]
    Seccomp(#[from] seccomp::Error),
    #[error(transparent)]
    Landlock(#[from] landlock::Error),
    #[error(transparent)]
    Network(#[from] network::Error),
    /// What wsbox had to do between creating the namespaces and starting
    /// the sandbox failed (e.g. user-mode networking).
    #[error("{0}")]
    BeforeStart(String),
    #[error("failed to {what}: {source}")]
    Sys {
        what: &'static str,
        source: io::Error,
    },
    #[error("failed to open {path} to bind it into the sandbox: {source}")]
    Open { path: PathBuf, source: io::Error },
    #[error("failed to bind {0}")]
    Bind(hostpath::Error),
    #[error("{0:?} contains a NUL byte")]
    Nul(OsString),
    #[error("no program given")]
    NoProgram,
    #[error("wsbox may not write {0} into the sandbox")]
    GeneratedPlace(PathBuf),
    #[error("the program of {0} must be an absolute path")]
    ServiceProgram(String),
}

/// Signals wsbox forwards to the sandbox, plus SIGCHLD.
fn supervised_signals() -> SigSet {
    let mut set = SigSet::empty();
    for sig in [
        Signal::SIGCHLD,
        Signal::SIGINT,
        Signal::SIGTERM,
        Signal::SIGHUP,
        Signal::SIGQUIT,
    ] {
        set.add(sig);
    }
    set
}
