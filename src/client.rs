//! A running sandbox, reached by name through its control socket
//! (`$XDG_RUNTIME_DIR/wsbox/<name>/control`, only the user's). Each method
//! is one request; the sandbox answers it from its event loop.

use std::os::fd::{AsFd, BorrowedFd};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};

use crate::control::{self, InputAction, Request, Response};
use crate::instance::Info;

/// A running sandbox of the user's, by name (see [`list`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sandbox {
    name: String,
    /// Its runtime directory, found once: requests go to its control
    /// socket without looking for the sandbox again.
    dir: PathBuf,
    /// How long a request may take; the control socket's own default
    /// (10 s, an export an hour) unless set.
    wait: Option<Duration>,
}

/// The user's running sandboxes, oldest first. Directories left by a wsbox
/// that died are removed on the way.
pub fn list() -> Result<Vec<Info>> {
    Ok(Sandbox::all()?.into_iter().map(|(_, info)| info).collect())
}

impl Sandbox {
    /// [`list`], each with a handle that knows its directory: a caller
    /// that has just listed the sandboxes reaches them without finding
    /// them again.
    pub(crate) fn all() -> Result<Vec<(Self, Info)>> {
        let mut all: Vec<(Self, Info)> = crate::instance::list()?
            .into_iter()
            .map(|(dir, info)| (Self::at(&info.name, dir), info))
            .collect();
        all.sort_by(|(_, a), (_, b)| (a.started, &a.name).cmp(&(b.started, &b.name)));
        Ok(all)
    }

    /// The running sandbox `name`; fails when there is none of that name.
    pub fn connect(name: &str) -> Result<Self> {
        let dir = crate::instance::find(name)?;
        Ok(Self::at(name, dir))
    }

    /// A handle for the sandbox `name` whose runtime directory, `dir`, was
    /// just found. Each request still fails, with the same message as
    /// [`Sandbox::connect`], once the sandbox has ended.
    pub(crate) fn at(name: &str, dir: PathBuf) -> Self {
        Self {
            name: name.into(),
            dir,
            wait: None,
        }
    }

    /// The same sandbox, each request waiting at most `wait` to connect
    /// and for its answer (a watch that must not stall on one sandbox).
    pub fn with_timeout(mut self, wait: Duration) -> Self {
        self.wait = Some(wait);
        self
    }

    /// Its name.
    pub fn name(&self) -> &str {
        &self.name
    }

    fn call(&self, request: &Request) -> Result<Response> {
        self.call_with(request, &[])
    }

    fn call_with(&self, request: &Request, fds: &[BorrowedFd<'_>]) -> Result<Response> {
        self.call_png(request, fds).map(|(response, _)| response)
    }

    fn call_png(
        &self,
        request: &Request,
        fds: &[BorrowedFd<'_>],
    ) -> Result<(Response, Option<Vec<u8>>)> {
        let wait = self.wait.unwrap_or_else(|| control::default_wait(request));
        control::call_within(&self.name, &self.dir, request, fds, wait)
    }

    /// Its app's windows that are mapped, in stacking order.
    pub fn windows(&self) -> Result<Vec<crate::Window>> {
        Ok(self.call(&Request::Windows)?.windows.unwrap_or_default())
    }

    /// Polls until a window of the app has been drawn (its first frame
    /// shown), and returns it; fails after `timeout`, or when the sandbox
    /// stops first.
    pub fn wait_for_window(&self, timeout: Duration) -> Result<crate::Window> {
        let end = Instant::now() + timeout;
        loop {
            let status = self.status()?;
            if status.windows_shown > 0 {
                if let Some(window) = self.windows()?.into_iter().next() {
                    return Ok(window);
                }
            }
            if Instant::now() >= end {
                bail!(
                    "sandbox {} showed no window within {:.1} s",
                    self.name,
                    timeout.as_secs_f64()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Host focus, responsiveness, and the counters of host input and
    /// clipboard decisions.
    pub fn status(&self) -> Result<crate::Status> {
        self.call(&Request::Status)?
            .status
            .ok_or_else(|| anyhow!("sandbox {} sent no status", self.name))
    }

    /// A PNG of its output (headless) or of its windows.
    pub fn screenshot(&self) -> Result<Vec<u8>> {
        self.call_png(&Request::Screenshot, &[])?
            .1
            .ok_or_else(|| anyhow!("sandbox {} sent no image", self.name))
    }

    /// Types, presses keys, moves or clicks in a headless sandbox.
    pub fn input(&self, action: InputAction) -> Result<()> {
        self.call(&Request::Input { action }).map(drop)
    }

    /// Resizes a headless sandbox's output; windows that fill it follow.
    pub fn resize(&self, width: i32, height: i32) -> Result<()> {
        self.call(&Request::Resize { width, height }).map(drop)
    }

    /// Asks the app's windows to close, and stops the app after the grace
    /// period (the sandbox's own unless `grace`, in seconds), or at once
    /// with `force`. Returns once the sandbox has the request; it ends
    /// later.
    pub fn stop(&self, grace: Option<f64>, force: bool) -> Result<()> {
        if let Some(secs) = grace {
            wsbox_policies::check_grace(secs).map_err(|e| anyhow!("invalid grace period: {e}"))?;
        }
        self.call(&Request::Stop { grace, force }).map(drop)
    }

    /// Grants the host file or directory `path` (absolute) while the
    /// sandbox runs: read-only under `/run/wsbox/files`, or with `writable`
    /// a regular file as a document the app can save in place. The file is
    /// opened here, as the caller; returns where the app sees it.
    pub fn add_file(&self, path: &Path, writable: bool) -> Result<PathBuf> {
        let fds = crate::files::open_for_add(path, writable)?;
        let fds: Vec<_> = fds.iter().map(AsFd::as_fd).collect();
        let request = Request::AddFile {
            path: path.to_owned(),
            rw: writable,
        };
        inside_path(self.call_with(&request, &fds)?)
    }

    /// [`Sandbox::add_file`] of a file the caller has open: the file the
    /// descriptor refers to, found by the kernel's name for it, opened
    /// again as `add_file` would, and checked to be that very file. With
    /// `writable`, `file` must be open for writing.
    pub fn add_open_file(&self, file: BorrowedFd<'_>, writable: bool) -> Result<PathBuf> {
        let path = crate::files::path_of_open_file(file, writable)?;
        let fds = crate::files::open_for_add(&path, writable)?;
        crate::files::same_file(file, fds[0].as_fd())
            .with_context(|| format!("failed to grant {}", path.display()))?;
        let fds: Vec<_> = fds.iter().map(AsFd::as_fd).collect();
        let request = Request::AddFile { path, rw: writable };
        inside_path(self.call_with(&request, &fds)?)
    }

    /// Takes a granted file away (its inside path or its host path);
    /// returns the inside path it had.
    pub fn remove_file(&self, path: &Path) -> Result<PathBuf> {
        inside_path(self.call(&Request::RemoveFile {
            path: path.to_owned(),
        })?)
    }

    /// Every file granted to the sandbox, by any route.
    pub fn files(&self) -> Result<Vec<crate::GrantedFile>> {
        Ok(self.call(&Request::Files)?.files.unwrap_or_default())
    }

    /// Copies the regular file `inside` out of the sandbox into the host
    /// directory `host_dir`, under its own name (replacing a file there
    /// only with `force`); returns the host path.
    pub fn export(&self, inside: &Path, host_dir: &Path, force: bool) -> Result<PathBuf> {
        let dir = crate::files::open_for_export(inside, host_dir)?;
        let request = Request::Export {
            sandbox_path: inside.to_owned(),
            host_dir: host_dir.to_owned(),
            force,
        };
        inside_path(self.call_with(&request, &[dir.as_fd()])?)
    }

    /// The portal's file requests that wait for the user (headless mode).
    pub fn requests(&self) -> Result<Vec<crate::PendingRequest>> {
        Ok(self.call(&Request::Requests)?.requests.unwrap_or_default())
    }

    /// The app's notifications: the newest, as they were passed on, and
    /// how many were dropped for coming too fast.
    pub fn notifications(&self) -> Result<crate::Notices> {
        self.call(&Request::Notifications)?
            .notifications
            .ok_or_else(|| anyhow!("sandbox {} sent no notifications", self.name))
    }

    /// The documents the app printed (`portal.print_to`), oldest first.
    pub fn prints(&self) -> Result<Vec<crate::Printed>> {
        Ok(self.call(&Request::Prints)?.prints.unwrap_or_default())
    }

    /// Answers the portal's request `id` with host `paths` (absolute),
    /// opened here as the request needs them (`dir`: the paths are
    /// directories); returns what the app was given, inside.
    pub fn choose(&self, id: u32, paths: &[PathBuf], dir: bool) -> Result<Vec<PathBuf>> {
        use crate::portal::request::Kind;
        if paths.len() > control::CHOICE_MAX {
            bail!("at most {} paths at once", control::CHOICE_MAX);
        }
        let pending = self
            .requests()?
            .into_iter()
            .find(|r| r.id == id)
            .ok_or_else(|| {
                anyhow!(
                    "no request {id} waits in sandbox {} (see wsbox requests)",
                    self.name
                )
            })?;
        let mut fds = Vec::new();
        for path in paths {
            match pending.kind {
                Kind::Save => fds.push(crate::files::open_for_save(path)?),
                Kind::SaveFiles => fds.extend(crate::files::open_for_add(path, false)?),
                Kind::Open => fds.extend(crate::files::open_for_add(path, pending.writable)?),
            }
        }
        let choice = crate::portal::Choice {
            id,
            paths: paths.to_vec(),
            dir,
            cancel: false,
        };
        let borrowed: Vec<_> = fds.iter().map(AsFd::as_fd).collect();
        let response = self.call_with(&Request::Choose(choice), &borrowed)?;
        Ok(response.paths.unwrap_or_default())
    }

    /// Cancels the portal's request `id`: the app is told the user
    /// cancelled.
    pub fn cancel(&self, id: u32) -> Result<()> {
        let choice = crate::portal::Choice {
            id,
            paths: Vec::new(),
            dir: false,
            cancel: true,
        };
        self.call(&Request::Choose(choice)).map(drop)
    }
}

fn inside_path(response: Response) -> Result<PathBuf> {
    response
        .path
        .ok_or_else(|| anyhow!("the sandbox answered with no path"))
}
