//! The portal: a private session bus per sandbox ([`bus`]) on which wsbox
//! owns `org.freedesktop.portal.Desktop` ([`server`]), so that an app asks
//! for files the way Flatpak apps do, and only what the user chose
//! appears inside.
//!
//! ```text
//! app ──OpenFile/SaveFile──▶ dbus-daemon (in the sandbox) ──▶ wsbox's portal thread
//!                                                               │ request recorded (≤ 4)
//!                                                               ▼
//!           the user: `wsbox choose` (headless) or the host's own dialog (window mode)
//!                                                               │ fds opened as the user
//!                                                               ▼
//! event loop: checks ([portal] never, wsbox's own) ─▶ grants (documents, binds, saves)
//!                                                               │
//! app ◀──Response(uris), to the caller alone─── answering thread ◀┘
//! ```
//!
//! This module is the event loop's side: it lists the waiting requests and
//! turns a choice into grants and an answer.

pub mod bus;
pub mod claim;
mod clean;
pub mod host;
pub mod hostprint;
pub mod notify;
pub mod opener;
mod openuri;
pub mod print;
pub mod registry;
mod reply;
pub mod request;
pub mod server;
pub mod settings;

use std::ffi::OsString;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

use anyhow::{bail, Result};
use serde::{Deserialize, Serialize};
use wsbox_sandbox::hostpath;

use crate::files::live::{DocumentJob, Live};
use request::{Kind, Pending};
use server::{Code, Server};

/// The event loop's side of a sandbox's portal.
#[derive(Debug)]
pub struct Portal {
    server: Server,
    /// Host paths never granted (canonical): the policy's list, wsbox's own
    /// directories, /proc, /sys and /dev.
    never: Vec<PathBuf>,
}

/// How the user answers a request (`wsbox choose`, or the host's dialog).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Choice {
    pub id: u32,
    /// The host paths chosen, absolute; with their fds.
    #[serde(default)]
    pub paths: Vec<PathBuf>,
    /// The one path is a directory (OpenFile with `directory`, SaveFiles).
    #[serde(default)]
    pub dir: bool,
    #[serde(default)]
    pub cancel: bool,
}

/// A choice's grants still to be made off the event loop (documents), and
/// its answer: the paths inside, also sent to the app.
pub type ChoiceJob = Box<dyn FnOnce() -> Result<Vec<PathBuf>> + Send>;

/// The places the portal never grants, whatever the policy says.
pub const ALWAYS_NEVER: &[&str] = &["/proc", "/sys", "/dev"];

impl Portal {
    pub fn new(server: Server, never: Vec<PathBuf>) -> Self {
        Self { server, never }
    }

    /// The requests waiting for the user, oldest first.
    pub fn requests(&self) -> Vec<Pending> {
        self.server.shared.registry.list()
    }

    /// The app's notifications.
    pub fn notifications(&self) -> notify::Notices {
        self.server.notifier.list()
    }

    /// The documents it printed (none without `portal.print_to`).
    pub fn prints(&self) -> Vec<print::Printed> {
        self.server
            .printer
            .as_ref()
            .map(|p| p.list())
            .unwrap_or_default()
    }

    /// The request `id`, if it waits.
    pub fn pending(&self, id: u32) -> Option<Pending> {
        self.server.shared.registry.get(id).map(|e| e.pending)
    }

    /// Answers request `id` with "other" (2): the dialog could not be
    /// shown (no host portal, an error), or the user's choice could not be
    /// granted. `why` is logged.
    pub fn fail(&self, id: u32, why: &str) {
        if self.answer_other(id) {
            tracing::warn!(id, "a file request of the app failed: {why}");
        }
    }

    /// Answers request `id` with "other" (2) without a word, for a caller
    /// that told the user already; whether it still waited.
    pub fn answer_other(&self, id: u32) -> bool {
        match self.server.shared.registry.take(id) {
            Some(entry) => {
                self.server.answers.respond(entry, Code::Other, Vec::new());
                true
            }
            None => false,
        }
    }

    /// Why `real` (a chosen path, as the kernel names it; `dir` when it is
    /// a directory to share) may not be granted, if it may not: it is in
    /// a place never granted, or, a directory, holds one.
    fn refused(&self, real: &Path, dir: bool) -> Option<String> {
        if let Some(hit) = self.never.iter().find(|n| real.starts_with(n)) {
            return Some(format!(
                "{} is never granted through the portal (it is in {})",
                real.display(),
                hit.display()
            ));
        }
        let held = self.never.iter().find(|n| dir && n.starts_with(real))?;
        Some(format!(
            "{} holds {}, which is never granted through the portal",
            real.display(),
            held.display()
        ))
    }

    /// Answers request `choice.id` with what the user chose, `fds` the
    /// chosen files and directories opened as the user: grants them (what
    /// can be done at once here, documents in the job returned) and tells
    /// the app once all are made. A refusal or a failure answers the app
    /// with "other" (2) and nothing more is granted.
    pub fn choose(&self, files: &mut Live, choice: Choice, fds: Vec<OwnedFd>) -> Result<ChoiceJob> {
        let registry = &self.server.shared.registry;
        let Some(entry) = registry.get(choice.id) else {
            bail!(
                "no request {} waits in this sandbox (see wsbox requests)",
                choice.id
            );
        };
        let answers = self.server.answers.clone();
        if choice.cancel {
            if let Some(entry) = registry.take(choice.id) {
                answers.respond(entry, Code::Cancelled, Vec::new());
            }
            return Ok(Box::new(|| Ok(Vec::new())));
        }
        let pending = &entry.pending;
        let planned = plan(pending, &choice, fds);
        let steps = match planned {
            Ok(steps) => steps,
            Err(e) => bail!("{e}"),
        };
        // From here on the request is answered, whatever happens.
        let Some(entry) = registry.take(choice.id) else {
            bail!("request {} was closed by the app", choice.id);
        };
        let fail = |e: anyhow::Error| -> Result<ChoiceJob> {
            answers.respond(entry.clone(), Code::Other, Vec::new());
            Err(e)
        };
        for step in &steps {
            let real = match hostpath::real_path(step.fd.as_fd()) {
                Ok(real) => real,
                Err(e) => {
                    return fail(anyhow::anyhow!(
                        "failed to find {}: {e}",
                        step.path.display()
                    ))
                }
            };
            let shared_dir = step.save_name.is_none()
                && hostpath::fstat(step.fd.as_fd())
                    .is_ok_and(|st| st.st_mode & libc::S_IFMT == libc::S_IFDIR);
            let real = match &step.save_name {
                Some(name) => real.join(name),
                None => real,
            };
            if let Some(why) = self.refused(&real, shared_dir) {
                eprintln!(
                    "wsbox: refused to grant {} to the app: {why}",
                    step.path.display()
                );
                return fail(anyhow::anyhow!("{why}"));
            }
        }
        let mut done = Vec::new();
        let mut jobs: Vec<DocumentJob> = Vec::new();
        for step in steps {
            match step.grant {
                Grant::Document => {
                    let mut fds = vec![step.fd];
                    fds.extend(step.dir);
                    match files.document_job(&step.path, Some(true), &mut fds) {
                        Some(job) => jobs.push(job),
                        None => {
                            return fail(anyhow::anyhow!(
                                "{} is not a regular file",
                                step.path.display()
                            ))
                        }
                    }
                }
                Grant::Bind { rw } => match files.add(&step.path, rw, vec![step.fd]) {
                    Ok(inside) => done.push(inside),
                    Err(e) => return fail(e),
                },
                Grant::Save => {
                    let name = step.save_name.clone().unwrap_or_default();
                    jobs.push(files.save_job(&step.path, step.fd, name));
                }
            }
        }
        Ok(Box::new(move || {
            let mut inside = done;
            for job in jobs {
                match job() {
                    Ok(path) => inside.push(path),
                    Err(e) => {
                        answers.respond(entry, Code::Other, Vec::new());
                        return Err(e);
                    }
                }
            }
            let uris = inside.iter().map(|p| file_uri(p)).collect();
            answers.respond(entry, Code::Success, uris);
            Ok(inside)
        }))
    }
}

/// What one chosen path becomes.
#[derive(Debug)]
enum Grant {
    /// A regular file, read-write: a document.
    Document,
    /// A file read-only, or a directory: a bind under the files place.
    Bind { rw: bool },
    /// A path to save to (it may not exist yet).
    Save,
}

#[derive(Debug)]
struct Step {
    /// The host path as chosen (for a save, the file to write).
    path: PathBuf,
    grant: Grant,
    /// The file or directory chosen (for a save, its directory).
    fd: OwnedFd,
    /// A document's directory.
    dir: Option<OwnedFd>,
    /// A save's file name in `fd`.
    save_name: Option<OsString>,
}

/// Checks a choice against its request and pairs each path with its fds:
/// what `wsbox choose` (or the host dialog's side) opened for it.
fn plan(pending: &Pending, choice: &Choice, fds: Vec<OwnedFd>) -> Result<Vec<Step>, String> {
    let id = pending.id;
    if choice.paths.is_empty() {
        return Err(format!("request {id}: choose a path, or --cancel"));
    }
    if let Some(relative) = choice.paths.iter().find(|p| !p.is_absolute()) {
        return Err(format!("{} is not an absolute path", relative.display()));
    }
    let wants_dir = matches!(pending.kind, Kind::SaveFiles)
        || (pending.kind == Kind::Open && pending.directory);
    if wants_dir != choice.dir {
        return Err(if wants_dir {
            format!("request {id} asks for a directory: choose one with --dir")
        } else {
            format!("request {id} asks for files, not a directory (no --dir)")
        });
    }
    let many = pending.kind == Kind::Open && pending.multiple && !pending.directory;
    if !many && choice.paths.len() != 1 {
        return Err(format!("request {id} takes one path"));
    }
    let mut fds = fds.into_iter();
    let mut next = |path: &Path| {
        fds.next().ok_or_else(|| {
            format!(
                "{}: the choice came without its open file (use wsbox choose)",
                path.display()
            )
        })
    };
    let mut steps = Vec::new();
    for path in &choice.paths {
        match pending.kind {
            Kind::Open if pending.directory => steps.push(Step {
                path: path.clone(),
                grant: Grant::Bind {
                    rw: pending.writable,
                },
                fd: next(path)?,
                dir: None,
                save_name: None,
            }),
            Kind::Open => {
                let fd = next(path)?;
                let st =
                    hostpath::fstat(fd.as_fd()).map_err(|e| format!("{}: {e}", path.display()))?;
                let kind = st.st_mode & libc::S_IFMT;
                if kind != libc::S_IFREG {
                    return Err(format!("{} is not a regular file", path.display()));
                }
                if pending.writable {
                    steps.push(Step {
                        path: path.clone(),
                        grant: Grant::Document,
                        fd,
                        dir: Some(next(path)?),
                        save_name: None,
                    });
                } else {
                    steps.push(Step {
                        path: path.clone(),
                        grant: Grant::Bind { rw: false },
                        fd,
                        dir: None,
                        save_name: None,
                    });
                }
            }
            Kind::Save => {
                let name = save_name(path)?;
                steps.push(Step {
                    path: path.clone(),
                    grant: Grant::Save,
                    fd: next(path)?,
                    dir: None,
                    save_name: Some(name),
                });
            }
            Kind::SaveFiles => {
                let dir = next(path)?;
                if pending.files.is_empty() {
                    return Err(format!("request {id} names no files to save"));
                }
                for name in &pending.files {
                    let file = path.join(name);
                    let name = save_name(&file)?;
                    let fd = dir
                        .try_clone()
                        .map_err(|e| format!("{}: {e}", path.display()))?;
                    steps.push(Step {
                        path: file,
                        grant: Grant::Save,
                        fd,
                        dir: None,
                        save_name: Some(name),
                    });
                }
            }
        }
    }
    Ok(steps)
}

/// The file name of a path to save to.
fn save_name(path: &Path) -> Result<OsString, String> {
    path.file_name()
        .map(ToOwned::to_owned)
        .ok_or_else(|| format!("{} names no file", path.display()))
}

/// `path` as a `file://` URI: every byte but the unreserved ones and `/`
/// percent-encoded.
pub fn file_uri(path: &Path) -> String {
    use std::os::unix::ffi::OsStrExt;
    let mut uri = String::from("file://");
    for &b in path.as_os_str().as_bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            uri.push(b as char);
        } else {
            uri.push_str(&format!("%{b:02X}"));
        }
    }
    uri
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uris_are_percent_encoded() {
        assert_eq!(
            file_uri(Path::new("/run/wsbox/docs/1/my notes #1.txt")),
            "file:///run/wsbox/docs/1/my%20notes%20%231.txt"
        );
        assert_eq!(file_uri(Path::new("/a/é")), "file:///a/%C3%A9");
    }

    #[test]
    fn a_save_names_one_file() {
        assert_eq!(save_name(Path::new("/home/u/a.txt")).unwrap(), "a.txt");
        assert!(save_name(Path::new("/")).is_err());
        assert!(save_name(Path::new("/home/u/..")).is_err());
    }
}
