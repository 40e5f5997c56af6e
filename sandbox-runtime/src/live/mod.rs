//! Files in a running sandbox: attach a host file or directory under
//! /run/wsbox/files, take it away again, and copy a file out.
//!
//! Everything happens in a forked helper that joins the sandbox's user
//! namespace (wsbox owns it, so the helper has every capability there) and
//! then its mount namespace. Run by root, wsbox clones the host path's mount
//! in the host namespace first; unprivileged, the helper unshares a mount
//! namespace of its own (a copy of the host's, owned by the sandbox's user
//! namespace), opens the real path there without following symlinks and
//! checks that it is the inode wsbox checked. The helper only makes raw
//! syscalls: wsbox may have threads, and a forked copy must not allocate.
//!
//! The app's view of the files place is never made writable: mount points
//! are created through a private clone of the files mount (open_tree) whose
//! read-only flag is cleared on the clone alone. A tree is given its final
//! attributes (nosuid, nodev, read-only) while it is still detached, so it
//! never appears in the sandbox without them.
//!
//! Copying out is done by a helper that takes the app's ids and drops every
//! capability before it opens the file inside the sandbox's mount
//! namespace: it reads only what the app could read itself.
//!
//! `helper` reaches the sandbox, forks the helper and brings back its report;
//! `grant` adds and removes grants; `export` copies a file out. This module
//! only names the errors.

use std::ffi::CString;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use crate::hostpath;

mod export;
mod grant;
mod helper;

pub use export::{export, EXPORT_MAX};
pub use grant::{add, remove};

/// Errors of changing files in a running sandbox.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("failed to reach the sandbox (pid {pid}): {source}")]
    Reach { pid: i32, source: io::Error },
    #[error("failed to {step} {path}: {error}")]
    Step {
        step: &'static str,
        path: PathBuf,
        error: io::Error,
    },
    #[error("{0}")]
    Path(hostpath::Error),
    #[error("{path} inside the sandbox: {why}")]
    Inside { path: PathBuf, why: String },
    #[error("{0} exists; use --force to overwrite it")]
    Exists(PathBuf),
}

/// `path` as the C string a helper takes; a path with a NUL byte cannot be
/// used.
fn c_path(path: &Path) -> Result<CString, Error> {
    CString::new(path.as_os_str().as_bytes()).map_err(|_| Error::Step {
        step: "use",
        path: path.to_owned(),
        error: io::ErrorKind::InvalidInput.into(),
    })
}
