//! The files of a running sandbox: what `wsbox add-file`, `remove-file`
//! and `export` change, as wsbox records them. It asks the [`Broker`] for
//! every mount and copy and never reads anything back from the sandbox.

use std::ffi::{OsStr, OsString};
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use wsbox_sandbox::hostpath;
use wsbox_sandbox::plan::FILES_DIR;

use crate::files::broker::Broker;
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
    names: Names,
    granted: Vec<Granted>,
}

/// Why file requests fail when the broker could not be started.
const NO_BROKER: &str =
    "wsbox's file helper did not start: files of this sandbox cannot be changed";

impl Live {
    /// The files of the sandbox the `broker` works on, starting with the
    /// grants it was started with.
    pub fn new(broker: Option<Arc<Broker>>, grants: Grants) -> Self {
        let granted = grants
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
    /// as `fd`, appear under the files place; returns its inside path.
    pub fn add(&mut self, path: &Path, rw: bool, fd: Option<OwnedFd>) -> Result<PathBuf> {
        if !path.is_absolute() {
            bail!("failed to add {}: not an absolute path", path.display());
        }
        if let Some(g) = self.granted.iter().find(|g| g.host == path && g.rw == rw) {
            return Ok(g.inside.clone());
        }
        let Some(fd) = fd else {
            bail!(
                "failed to add {}: the request came without the open file (use `wsbox add-file`)",
                path.display()
            );
        };
        let dir = hostpath::fstat(fd.as_fd())
            .map(|st| st.st_mode & libc::S_IFMT == libc::S_IFDIR)
            .with_context(|| format!("failed to add {}", path.display()))?;
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

    /// Takes away a grant, named by its inside path or its host path.
    pub fn remove(&mut self, path: &Path) -> Result<PathBuf> {
        let Some(i) = self
            .granted
            .iter()
            .position(|g| g.inside == path || g.host == path)
        else {
            bail!(
                "{} is not a file granted to this sandbox (give its host path or its path under {FILES_DIR})",
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
