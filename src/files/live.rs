//! The files of a running sandbox: what `wsbox add-file`, `remove-file`
//! and `export` change, as wsbox records them. It asks the [`Broker`] for
//! every mount and copy, and the [`DocumentsHelper`] for every document,
//! and never reads anything back from the sandbox.

use std::ffi::{OsStr, OsString};
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use wsbox_sandbox::hostpath;
use wsbox_sandbox::plan::{DOCS_DIR, FILES_DIR};

use crate::files::broker::Broker;
use crate::files::documents::DocumentsHelper;
use crate::files::{Grants, Names};

/// One grant in a running sandbox, as wsbox recorded it.
#[derive(Debug, Clone)]
struct Granted {
    host: PathBuf,
    inside: PathBuf,
    name: OsString,
    rw: bool,
    dir: bool,
    /// The id of the mount wsbox attached, when known (add-file records it).
    mount_id: Option<u64>,
}

/// The files of a running sandbox: what `wsbox add-file`, `remove-file` and
/// `export` change. Its state is wsbox's own; nothing is read back from the
/// sandbox. The mounts and copies are done by the broker
/// ([`Broker`]), with host files the command line opened.
#[derive(Debug)]
pub struct Live {
    broker: Option<Arc<Broker>>,
    /// The documents helper: it keeps the documents' own record (their
    /// host and inside paths), and its requests run off the event loop.
    documents: Option<Arc<DocumentsHelper>>,
    names: Names,
    granted: Vec<Granted>,
}

/// A document request's work, run on a thread of its own.
pub type DocumentJob = Box<dyn FnOnce() -> Result<PathBuf> + Send>;

/// One file granted to a running sandbox, as `wsbox files` lists it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct GrantInfo {
    /// The host path.
    pub host: PathBuf,
    /// Where the app sees it.
    pub inside: PathBuf,
    /// `read-only`, `read-write` (a directory or special file shared), or
    /// `document` (a copy kept in step with the host file, saves included).
    pub access: String,
}

/// The listing of a sandbox's grants, finished off the event loop (the
/// documents helper may be busy writing a document back).
pub type ListJob = Box<dyn FnOnce() -> Result<Vec<GrantInfo>> + Send>;

/// Grants the regular file `path` (opened as `file`, in `dir`) read-write
/// as a document.
fn add_document(
    documents: Option<&DocumentsHelper>,
    path: &Path,
    file: Option<OwnedFd>,
    dir: Option<OwnedFd>,
) -> Result<PathBuf> {
    let (Some(file), Some(dir)) = (file, dir) else {
        bail!(
            "failed to add {}: the request came without the file's directory (update the wsbox command line)",
            path.display()
        );
    };
    let documents = documents.ok_or_else(|| anyhow::anyhow!(NO_DOCUMENTS))?;
    let name = path.file_name().unwrap_or(OsStr::new("file"));
    documents
        .add(path, dir.as_fd(), file.as_fd(), name)
        .map(|(inside, _)| inside)
        .map_err(|e| anyhow::anyhow!("{e}"))
}

/// Why document requests fail when the documents helper could not be
/// started.
const NO_DOCUMENTS: &str =
    "wsbox's documents helper did not start: documents cannot be granted to this sandbox";

/// Why file requests fail when the broker could not be started.
const NO_BROKER: &str =
    "wsbox's file helper did not start: files of this sandbox cannot be changed";

impl Live {
    /// The files of the sandbox the `broker` and the `documents` helper
    /// work on, starting with the grants it was started with.
    pub fn new(
        broker: Option<Arc<Broker>>,
        documents: Option<Arc<DocumentsHelper>>,
        grants: Grants,
    ) -> Self {
        let granted: Vec<Granted> = grants
            .binds
            .iter()
            .zip(&grants.dirs)
            .filter_map(|(b, dir)| {
                Some(Granted {
                    host: b.host.clone(),
                    name: b.target.file_name()?.to_owned(),
                    inside: b.target.clone(),
                    rw: b.writable,
                    dir: *dir,
                    mount_id: None,
                })
            })
            .collect();
        Self {
            broker,
            documents,
            names: grants.names,
            granted,
        }
    }

    fn broker(&self) -> Result<&Broker> {
        self.broker
            .as_deref()
            .ok_or_else(|| anyhow::anyhow!(NO_BROKER))
    }

    /// Makes the host file or directory `path`, opened by the command line
    /// as the first of `fds`, appear under the files place, or as a
    /// document (a regular file read-write: its directory is the second of
    /// `fds`); returns its inside path.
    pub fn add(&mut self, path: &Path, rw: bool, fds: Vec<OwnedFd>) -> Result<PathBuf> {
        if !path.is_absolute() {
            bail!("failed to add {}: not an absolute path", path.display());
        }
        if let Some(g) = self.granted.iter().find(|g| g.host == path && g.rw == rw) {
            return Ok(g.inside.clone());
        }
        let mut fds = fds.into_iter();
        let Some(fd) = fds.next() else {
            bail!(
                "failed to add {}: the request came without the open file (use `wsbox add-file`)",
                path.display()
            );
        };
        let st = hostpath::fstat(fd.as_fd())
            .with_context(|| format!("failed to add {}", path.display()))?;
        let dir = st.st_mode & libc::S_IFMT == libc::S_IFDIR;
        let broker = self
            .broker
            .clone()
            .ok_or_else(|| anyhow::anyhow!(NO_BROKER))?;
        let base = path.file_name().unwrap_or(OsStr::new("file"));
        let name = self.names.take(base, rw);
        match broker.add(fd.as_fd(), path, &name, rw) {
            Ok((inside, id)) => {
                self.granted.push(Granted {
                    host: path.to_owned(),
                    inside: inside.clone(),
                    name,
                    rw,
                    dir,
                    mount_id: (id != 0).then_some(id),
                });
                Ok(inside)
            }
            Err(e) => {
                self.names.release(&name, rw);
                Err(anyhow::anyhow!("{e}"))
            }
        }
    }

    /// The work of an add-file or remove-file request that is about a
    /// document, to be done off the event loop (the documents helper may
    /// be writing a large document back): None for the other requests,
    /// which [`Live::add`] and [`Live::remove`] answer at once.
    pub fn document_job(
        &self,
        path: &Path,
        add: Option<bool>,
        fds: &mut Vec<OwnedFd>,
    ) -> Option<DocumentJob> {
        let documents = self.documents.clone();
        let path = path.to_owned();
        match add {
            Some(rw) => {
                let regular = fds
                    .first()
                    .and_then(|fd| hostpath::fstat(fd.as_fd()).ok())
                    .is_some_and(|st| st.st_mode & libc::S_IFMT == libc::S_IFREG);
                if !(rw && regular && path.is_absolute()) {
                    return None;
                }
                let mut passed = std::mem::take(fds).into_iter();
                let (file, dir) = (passed.next(), passed.next());
                Some(Box::new(move || {
                    add_document(documents.as_deref(), &path, file, dir)
                }))
            }
            None => {
                if self
                    .granted
                    .iter()
                    .any(|g| g.inside == path || g.host == path)
                {
                    return None;
                }
                Some(Box::new(move || {
                    documents
                        .as_deref()
                        .ok_or_else(|| anyhow::anyhow!(NO_DOCUMENTS))?
                        .remove(&path)
                        .map_err(|e| anyhow::anyhow!("{e}"))
                }))
            }
        }
    }

    /// The work of a save grant, to be done off the event loop like
    /// [`Live::document_job`]: the host path `path` the user chose in a
    /// Save dialog, `name` in the host directory `dir` (opened for real by
    /// the caller; the file need not exist). The app is given a new, empty
    /// directory under the documents place and saves `name` there; each
    /// save it closes replaces (or first creates) the host file. The job
    /// returns the path inside. Taken away like any document
    /// ([`Live::document_job`] with its host or inside path).
    pub fn save_job(&self, path: &Path, dir: OwnedFd, name: OsString) -> DocumentJob {
        let documents = self.documents.clone();
        let path = path.to_owned();
        Box::new(move || {
            if !path.is_absolute() {
                bail!(
                    "failed to grant {} for saving: not an absolute path",
                    path.display()
                );
            }
            documents
                .as_deref()
                .ok_or_else(|| anyhow::anyhow!(NO_DOCUMENTS))?
                .save(&path, dir.as_fd(), &name)
                .map(|(inside, _)| inside)
                .map_err(|e| anyhow::anyhow!("{e}"))
        })
    }

    /// Ends the documents helper: every changed document is written back
    /// (waited for, within a bound), whoever still holds the helper.
    pub fn finish_documents(&self) {
        if let Some(documents) = &self.documents {
            documents.finish();
        }
    }

    /// Takes away a grant, named by its inside path or its host path.
    pub fn remove(&mut self, path: &Path) -> Result<PathBuf> {
        let Some(i) = self
            .granted
            .iter()
            .position(|g| g.inside == path || g.host == path)
        else {
            bail!(
                "{} is not a file granted to this sandbox (give its host path or its path under {FILES_DIR} or {DOCS_DIR})",
                path.display()
            );
        };
        let g = self.granted[i].clone();
        // A failure leaves the grant recorded; removing it again finishes
        // what is left to do.
        self.broker()?
            .remove(&g.name, g.rw, g.dir, g.mount_id)
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        self.granted.remove(i);
        self.names.release(&g.name, g.rw);
        Ok(g.inside)
    }

    /// Everything granted to the sandbox, by any route: its start (file
    /// arguments, `--file`, `--ro`/`--rw` shares), `add-file`, the portal.
    pub fn list_job(&self) -> ListJob {
        let mut list: Vec<GrantInfo> = self
            .granted
            .iter()
            .map(|g| GrantInfo {
                host: g.host.clone(),
                inside: g.inside.clone(),
                access: if g.rw { "read-write" } else { "read-only" }.into(),
            })
            .collect();
        let documents = self.documents.clone();
        Box::new(move || {
            if let Some(documents) = documents {
                let docs = documents.list().map_err(|e| anyhow::anyhow!("{e}"))?;
                list.extend(docs.into_iter().map(|(host, inside)| GrantInfo {
                    host,
                    inside,
                    access: "document".into(),
                }));
            }
            Ok(list)
        })
    }

    /// What copies files out of this sandbox, to be run off the event loop.
    pub fn exporter(&self) -> Exporter {
        Exporter {
            broker: self.broker.clone(),
        }
    }
}

/// Copies files out of a running sandbox; independent of [`Live`], so a
/// long copy can run on a thread of its own.
#[derive(Debug, Clone)]
pub struct Exporter {
    broker: Option<Arc<Broker>>,
}

impl Exporter {
    /// Copies the sandbox's file `inside` into the host directory `dir`,
    /// opened by the command line (`host_dir` is its path).
    pub fn export(
        &self,
        inside: &Path,
        host_dir: &Path,
        dir: Option<OwnedFd>,
        force: bool,
    ) -> Result<PathBuf> {
        let Some(dir) = dir else {
            bail!(
                "failed to export {}: the request came without the open directory (use `wsbox export`)",
                inside.display()
            );
        };
        let broker = self
            .broker
            .as_deref()
            .ok_or_else(|| anyhow::anyhow!(NO_BROKER))?;
        broker
            .export(inside, dir.as_fd(), host_dir, force)
            .map_err(|e| anyhow::anyhow!("{e}"))
    }
}
