//! Everything a sandbox needs, computed and checked before any process
//! exists: the plan, the compiled seccomp filter, the Landlock ABI, argv and
//! envp as C strings, and the user binds' sources opened by wsbox. A missing
//! kernel feature fails here, with nothing started. Once made, it is only
//! read: by wsbox to start the sandbox, by pid 1 and by the app.

use std::ffi::{CString, OsStr};
use std::os::fd::{AsFd, AsRawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

use super::Error;
use crate::mount::{self, OpenedBind, Source};
use crate::plan::{document_dir, BindSpec, HostLayout, Plan, Spec, SANDBOX_HOME};
use crate::seccomp::{self, Filter};
use crate::{hostpath, landlock};

/// Everything the sandbox needs, computed and checked before any process
/// exists, so that a missing kernel feature fails closed with nothing started.
#[derive(Debug)]
pub struct Prepared {
    pub(super) plan: Plan,
    pub(super) spec: Spec,
    pub(super) filter: Filter,
    pub(super) landlock_abi: Option<i32>,
    pub(super) argv: Vec<CString>,
    pub(super) envp: Vec<CString>,
    pub(super) path_dirs: Vec<PathBuf>,
    /// The user binds' sources, opened by wsbox itself.
    pub(super) opened: Vec<mount::OpenedBind>,
    /// The services pid 1 starts before the app.
    pub(super) services: Vec<PreparedService>,
}

/// A [`crate::plan::ServiceSpec`] as C strings.
#[derive(Debug)]
pub(super) struct PreparedService {
    pub(super) what: String,
    pub(super) argv: Vec<CString>,
    /// Without `LISTEN_PID`, which the service's process adds (its pid).
    pub(super) envp: Vec<CString>,
    pub(super) listen_fd: Option<i32>,
    /// The service's fds, in the order it gets them (from fd 3): the
    /// listening socket first, if any.
    pub(super) fds: Vec<i32>,
}

impl Prepared {
    /// Checks the kernel and compiles everything for `spec`.
    pub fn new(spec: Spec, host: &HostLayout) -> Result<Self, Error> {
        if spec.argv.is_empty() {
            return Err(Error::NoProgram);
        }
        seccomp::check_support()?;
        let landlock_abi = landlock::check(spec.landlock)?;
        let filter = if spec.nested_userns {
            Filter::app_nested_userns()?
        } else {
            Filter::app()?
        };
        let cstring = |s: &OsStr| CString::new(s.as_bytes()).map_err(|_| Error::Nul(s.to_owned()));
        let argv = spec
            .argv
            .iter()
            .map(|a| cstring(a))
            .collect::<Result<Vec<_>, _>>()?;
        let mut envp = Vec::with_capacity(spec.env.len());
        let mut path_dirs = Vec::new();
        for (name, value) in &spec.env {
            let mut pair = name.clone();
            pair.push("=");
            pair.push(value);
            envp.push(cstring(&pair)?);
            if name == "PATH" {
                path_dirs = std::env::split_paths(value).collect();
            }
        }
        if let Some(bad) = spec
            .files
            .iter()
            .find(|f| !crate::plan::generated_place(&f.path))
        {
            return Err(Error::GeneratedPlace(bad.path.clone()));
        }
        let services = spec
            .services
            .iter()
            .map(|service| {
                if !service
                    .argv
                    .first()
                    .is_some_and(|p| std::path::Path::new(p).is_absolute())
                {
                    return Err(Error::ServiceProgram(service.what.clone()));
                }
                let mut envp = Vec::with_capacity(service.env.len() + 1);
                for (name, value) in &service.env {
                    let mut pair = name.clone();
                    pair.push("=");
                    pair.push(value);
                    envp.push(cstring(&pair)?);
                }
                if service.listen_fd.is_some() {
                    envp.push(c"LISTEN_FDS=1".to_owned());
                }
                Ok(PreparedService {
                    what: service.what.clone(),
                    argv: service
                        .argv
                        .iter()
                        .map(|a| cstring(a))
                        .collect::<Result<_, _>>()?,
                    envp,
                    listen_fd: service.listen_fd,
                    fds: service
                        .listen_fd
                        .into_iter()
                        .chain(service.fds.iter().copied())
                        .collect(),
                })
            })
            .collect::<Result<Vec<_>, Error>>()?;
        let opened = open_binds(&spec)?;
        let plan = Plan::new(&spec, host);
        Ok(Prepared {
            opened,
            plan,
            spec,
            filter,
            landlock_abi,
            argv,
            envp,
            path_dirs,
            services,
        })
    }

    /// The setup plan.
    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    /// The Landlock ABI the app will be confined with, if any.
    pub fn landlock_abi(&self) -> Option<i32> {
        self.landlock_abi
    }
}

/// Opens every user bind's source (and the persistent home) the symlink-safe
/// way and checks what it is; see [`hostpath`].
fn open_binds(spec: &Spec) -> Result<Vec<OpenedBind>, Error> {
    let home = spec.home.as_ref().map(|home| BindSpec {
        host: home.clone(),
        target: SANDBOX_HOME.into(),
        writable: true,
        special: false,
    });
    let mut opened = Vec::new();
    for bind in home.iter().chain(&spec.binds) {
        let allow = hostpath::Allow {
            special: bind.special,
            dir: true,
            write: bind.writable,
        };
        let o = hostpath::open_for_bind(&bind.host, allow).map_err(Error::Bind)?;
        let open_err = |source| Error::Open {
            path: bind.host.clone(),
            source,
        };
        // Run by root, the sandbox's uid cannot search root's directories:
        // wsbox clones the sources' mounts itself.
        let source = if spec.host_ids.privileged {
            Source::Tree(hostpath::tree::clone(o.fd.as_fd()).map_err(open_err)?)
        } else {
            Source::Reopen {
                real: hostpath::real_path(o.fd.as_fd()).map_err(open_err)?,
                dev: o.dev,
                ino: o.ino,
            }
        };
        opened.push(OpenedBind {
            host: bind.host.clone(),
            target: bind.target.clone(),
            dir: o.kind == hostpath::Kind::Dir,
            source,
        });
    }
    for (i, doc) in spec.documents.iter().enumerate() {
        let allow = hostpath::Allow {
            special: false,
            dir: false,
            write: true,
        };
        let o = hostpath::open_for_bind(&doc.host, allow).map_err(Error::Bind)?;
        // The O_PATH fd opened again for reading: the copy is made from
        // the inode checked above.
        let file = std::fs::File::open(format!("/proc/self/fd/{}", o.fd.as_raw_fd())).map_err(
            |source| Error::Open {
                path: doc.host.clone(),
                source,
            },
        )?;
        opened.push(OpenedBind {
            host: doc.host.clone(),
            target: document_dir(i + 1).join(&doc.name),
            dir: false,
            source: Source::Contents(file),
        });
    }
    Ok(opened)
}
