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
    /// A document's number: it is no mount but a copy the documents
    /// helper keeps in step.
    document: Option<usize>,
}

/// The files of a running sandbox: what `wsbox add-file`, `remove-file` and
/// `export` change. Its state is wsbox's own; nothing is read back from the
/// sandbox. The mounts and copies are done by the broker
/// ([`Broker`]), with host files the command line opened.
#[derive(Debug)]
pub struct Live {
    broker: Option<Arc<Broker>>,
    documents: Option<DocumentsHelper>,
    names: Names,
    granted: Vec<Granted>,
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
        documents: Option<DocumentsHelper>,
        grants: Grants,
    ) -> Self {
        let mut granted: Vec<Granted> = grants
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
                    document: None,
                })
            })
            .collect();
        granted.extend(grants.documents.iter().map(|d| Granted {
            host: d.host.clone(),
            inside: d.inside.clone(),
            name: d.name.clone(),
            rw: true,
            dir: false,
            mount_id: None,
            document: Some(d.index),
        }));
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
        if rw && st.st_mode & libc::S_IFMT == libc::S_IFREG {
            return self.add_document(path, fd, fds.next());
        }
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
                    document: None,
                });
                Ok(inside)
            }
            Err(e) => {
                self.names.release(&name, rw);
                Err(anyhow::anyhow!("{e}"))
            }
        }
    }

    /// Grants the regular file `path` read-write as a document.
    fn add_document(
        &mut self,
        path: &Path,
        file: OwnedFd,
        dir: Option<OwnedFd>,
    ) -> Result<PathBuf> {
        let Some(dir) = dir else {
            bail!(
                "failed to add {}: the request came without the file's directory (update the wsbox command line)",
                path.display()
            );
        };
        let documents = self
            .documents
            .as_ref()
            .ok_or_else(|| anyhow::anyhow!(NO_DOCUMENTS))?;
        let name = path.file_name().unwrap_or(OsStr::new("file"));
        let (inside, index) = documents
            .add(path, dir.as_fd(), file.as_fd(), name)
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        self.granted.push(Granted {
            host: path.to_owned(),
            inside: inside.clone(),
            name: name.to_owned(),
            rw: true,
            dir: false,
            mount_id: None,
            document: Some(index),
        });
        Ok(inside)
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
        if let Some(index) = g.document {
            // Written back a last time, then gone with what was beside it.
            self.documents
                .as_ref()
                .ok_or_else(|| anyhow::anyhow!(NO_DOCUMENTS))?
                .remove(index)
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            self.granted.remove(i);
            return Ok(g.inside);
        }
        // A failure leaves the grant recorded; removing it again finishes
        // what is left to do.
        self.broker()?
            .remove(&g.name, g.rw, g.dir, g.mount_id)
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        self.granted.remove(i);
        self.names.release(&g.name, g.rw);
        Ok(g.inside)
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
