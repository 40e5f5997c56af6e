//! The file broker: attaches, detaches and exports files of a running
//! sandbox (`wsbox add-file`, `remove-file`, `export`) in a helper process
//! forked before wsbox confines itself (`crate::helper`). It joins the
//! sandbox's namespaces and mounts, which a Landlocked process cannot do at
//! all, and when wsbox ends it removes wsbox's runtime directory, which the
//! confined wsbox may only empty.
//!
//! It takes no host path from wsbox: the host file or directory comes as
//! an fd that the `wsbox` command line opened (as the user, through
//! `wsbox_sandbox::hostpath`) and passed over the control socket; wsbox
//! hands it on. It must be an fd opened for reading (writing, for a
//! read-write file), not an `O_PATH` one: Landlock checks such opens, so a
//! compromised wsbox can only pass what its own rules let it open (its
//! runtime directory, xkb data), and the broker refuses those too. The
//! sandbox it works on (pid 1) is fixed when it starts. The broker is
//! otherwise not confined: it joins the sandbox's namespaces and mounts.

use std::ffi::OsString;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use nix::sys::wait::waitpid;
use nix::unistd::Pid;
use serde::{Deserialize, Serialize};
use wsbox_sandbox::hostpath;
use wsbox_sandbox::live;

use crate::files::{open_grant, place};
use crate::helper::{fork_helper, recv, send, seqpacket_pair};

/// What wsbox asks the broker; the host object, if any, comes as an fd.
#[derive(Debug, Serialize, Deserialize)]
enum Request {
    /// Attach the passed file or directory as `name` in the files place.
    Add {
        /// The host path as the user gave it, for messages only.
        shown: PathBuf,
        name: PathBuf,
        rw: bool,
    },
    /// Detach `name` from the files place.
    Remove {
        name: PathBuf,
        rw: bool,
        dir: bool,
        mount_id: Option<u64>,
    },
    /// Copy the sandbox's file `inside` into the passed directory.
    Export {
        inside: PathBuf,
        /// The host directory as the user gave it, for messages only.
        shown: PathBuf,
        force: bool,
    },
}

/// The broker's answer: the path made and a mount id, or one line.
#[derive(Debug, Serialize, Deserialize)]
struct Reply(Result<(PathBuf, u64), String>);

/// The file broker of one sandbox, as wsbox sees it.
#[derive(Debug)]
pub struct Broker {
    sock: OwnedFd,
}

impl Broker {
    /// Starts the broker for the sandbox whose pid 1 is `pid1`. `own` are
    /// the directories of wsbox itself (its runtime directory and what its
    /// confinement keeps): never granted, whatever fd names them. When
    /// wsbox ends ([`BrokerEnd`]), the broker also removes `runtime_dir`,
    /// which wsbox has emptied: the confined wsbox may not remove the
    /// directory itself (that needs a Landlock rule on the directory beside
    /// the other sandboxes').
    pub fn spawn(
        pid1: Pid,
        privileged: bool,
        own: Vec<PathBuf>,
        runtime_dir: &Path,
    ) -> io::Result<(Arc<Self>, BrokerEnd)> {
        let (Some(parent), Some(dir_name)) = (runtime_dir.parent(), runtime_dir.file_name()) else {
            return Err(io::Error::other(format!(
                "invalid runtime directory {}",
                runtime_dir.display()
            )));
        };
        // Opened now, and the directory removed relative to it later: no
        // path is looked up again when wsbox ends.
        let parent = nix::fcntl::open(
            parent,
            nix::fcntl::OFlag::O_PATH
                | nix::fcntl::OFlag::O_DIRECTORY
                | nix::fcntl::OFlag::O_NOFOLLOW
                | nix::fcntl::OFlag::O_CLOEXEC,
            nix::sys::stat::Mode::empty(),
        )
        .map_err(io::Error::from)?;
        let (ours, theirs) = seqpacket_pair()?;
        let end = ours.try_clone()?;
        let context = Context {
            pid1: pid1.as_raw(),
            privileged,
            own,
        };
        let keep = [theirs.as_raw_fd(), parent.as_raw_fd()];
        let dir_name = dir_name.to_owned();
        let pid = fork_helper(&keep, move || {
            // SAFETY: plain signal disposition: the per-request children
            // are reaped by the kernel.
            unsafe { libc::signal(libc::SIGCHLD, libc::SIG_IGN) };
            serve_broker(theirs, &context);
            // wsbox has ended (or dropped its end): its directory is empty
            // now, unless something failed; then `wsbox ps` collects it.
            match nix::unistd::unlinkat(
                &parent,
                dir_name.as_os_str(),
                nix::unistd::UnlinkatFlags::RemoveDir,
            ) {
                Ok(()) => 0,
                Err(_) => 1,
            }
        })?;
        // `theirs` and `parent` were moved into the closure, dropped here
        // unused.
        Ok((Arc::new(Self { sock: ours }), BrokerEnd { sock: end, pid }))
    }

    /// Sends `request` with `fds` and waits for the answer (on a socket of
    /// the request's own, so requests may overlap).
    fn call(&self, request: &Request, fds: &[BorrowedFd<'_>]) -> Result<(PathBuf, u64), String> {
        let gone = |e: io::Error| {
            format!("wsbox's file helper has ended ({e}): files of this sandbox cannot be changed any more")
        };
        let bytes = serde_json::to_vec(request).map_err(|e| format!("invalid request: {e}"))?;
        let (reply, theirs) = seqpacket_pair().map_err(gone)?;
        let mut raw = vec![theirs.as_raw_fd()];
        raw.extend(fds.iter().map(|fd| fd.as_raw_fd()));
        send(self.sock.as_fd(), &bytes, &raw).map_err(gone)?;
        drop(theirs);
        let (answer, _) = recv(reply.as_fd(), 0).map_err(gone)?;
        if answer.is_empty() {
            return Err(gone(io::Error::other("no answer")));
        }
        serde_json::from_slice::<Reply>(&answer)
            .map_err(|e| format!("invalid answer from wsbox's file helper: {e}"))?
            .0
    }

    /// Attaches the host file or directory `fd` (the user's `shown`) as
    /// `name` in the files place; the inside path and the mount's id.
    pub fn add(
        &self,
        fd: BorrowedFd<'_>,
        shown: &Path,
        name: &OsString,
        rw: bool,
    ) -> Result<(PathBuf, u64), String> {
        let request = Request::Add {
            shown: shown.to_owned(),
            name: PathBuf::from(name),
            rw,
        };
        self.call(&request, &[fd])
    }

    /// Detaches `name` from the files place.
    pub fn remove(
        &self,
        name: &OsString,
        rw: bool,
        dir: bool,
        mount_id: Option<u64>,
    ) -> Result<(), String> {
        let request = Request::Remove {
            name: PathBuf::from(name),
            rw,
            dir,
            mount_id,
        };
        self.call(&request, &[]).map(drop)
    }

    /// Copies the sandbox's file `inside` into the host directory `dir`
    /// (the user's `shown`); the host path of the copy.
    pub fn export(
        &self,
        inside: &Path,
        dir: BorrowedFd<'_>,
        shown: &Path,
        force: bool,
    ) -> Result<PathBuf, String> {
        let request = Request::Export {
            inside: inside.to_owned(),
            shown: shown.to_owned(),
            force,
        };
        self.call(&request, &[dir]).map(|(path, _)| path)
    }
}

/// The end of the broker, kept by `wsbox run` until it has emptied its
/// runtime directory: dropping it ends the broker, which removes the
/// directory, and waits for that. Requests still in flight (an export) end
/// with it.
#[derive(Debug)]
pub struct BrokerEnd {
    sock: OwnedFd,
    pid: Pid,
}

impl BrokerEnd {
    /// Ends the broker without waiting: it sees the end of its socket
    /// (whoever else still holds the Broker), removes the directory and
    /// exits. Dropping waits for that.
    pub fn finish(&self) {
        let _ = nix::sys::socket::shutdown(self.sock.as_raw_fd(), nix::sys::socket::Shutdown::Both);
    }
}

impl Drop for BrokerEnd {
    fn drop(&mut self) {
        self.finish();
        let _ = waitpid(self.pid, None);
    }
}

/// What the broker knows from the start; nothing of it comes from wsbox
/// later.
struct Context {
    pid1: i32,
    privileged: bool,
    own: Vec<PathBuf>,
}

/// The broker's loop: one request at a time, each done by a child of its
/// own (an export may take minutes), which answers on the request's socket.
fn serve_broker(sock: OwnedFd, context: &Context) {
    loop {
        let (bytes, mut fds) = match recv(sock.as_fd(), 2) {
            Ok((bytes, _)) if bytes.is_empty() => return,
            Ok(got) => got,
            Err(e) if e.kind() == io::ErrorKind::InvalidData => continue,
            Err(_) => return,
        };
        if fds.is_empty() {
            continue;
        }
        let reply = fds.remove(0);
        let request = serde_json::from_slice::<Request>(&bytes);
        let keep: Vec<RawFd> = std::iter::once(reply.as_raw_fd())
            .chain(fds.iter().map(|fd| fd.as_raw_fd()))
            .collect();
        let worker = fork_helper(&keep, || {
            // SAFETY: plain signal disposition; the helpers of `live` are
            // waited for.
            unsafe { libc::signal(libc::SIGCHLD, libc::SIG_DFL) };
            let answer = match request {
                Ok(request) => work(request, fds, context),
                Err(e) => Err(format!("invalid request to wsbox's file helper: {e}")),
            };
            let bytes = serde_json::to_vec(&Reply(answer)).unwrap_or_default();
            let _ = send(reply.as_fd(), &bytes, &[]);
            0
        });
        if let Err(e) = worker {
            let answer = Reply(Err(format!("wsbox's file helper failed to fork: {e}")));
            let bytes = serde_json::to_vec(&answer).unwrap_or_default();
            let _ = send(reply.as_fd(), &bytes, &[]);
        }
    }
}

/// A single normal path component: a name in the files place.
fn plain_name(name: &Path) -> Result<&Path, String> {
    let mut parts = name.components();
    match (parts.next(), parts.next()) {
        (Some(Component::Normal(_)), None) => Ok(name),
        _ => Err(format!("invalid name {}", name.display())),
    }
}

/// An fd passed for a host object: opened for real (not `O_PATH`, so
/// Landlock checked the open), for writing where `write` (a read-write
/// file), on a writable mount where `rw` (so that an fd of a read-only share
/// the app sent wsbox cannot come back writable), and not one of wsbox's
/// own directories or what is beneath them.
fn check_passed(
    fd: BorrowedFd<'_>,
    write: bool,
    rw: bool,
    context: &Context,
) -> Result<PathBuf, String> {
    // SAFETY: F_GETFL on a valid fd.
    let flags = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETFL) };
    if flags < 0 || flags & libc::O_PATH != 0 {
        return Err("the file was not passed opened (update the wsbox command line)".into());
    }
    if write && flags & libc::O_ACCMODE == libc::O_RDONLY {
        return Err("the file was not passed opened for writing".into());
    }
    if rw {
        // SAFETY: an all-zero statvfs is valid; the kernel fills it.
        let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
        // SAFETY: valid fd and buffer.
        if unsafe { libc::fstatvfs(fd.as_raw_fd(), &mut st) } != 0 {
            return Err(format!(
                "failed to inspect the file: {}",
                io::Error::last_os_error()
            ));
        }
        if st.f_flag & libc::ST_RDONLY != 0 {
            return Err("the file was passed from a read-only mount".into());
        }
    }
    let real = hostpath::real_path(fd).map_err(|e| format!("failed to find the file: {e}"))?;
    if context.own.iter().any(|own| real.starts_with(own)) {
        return Err(format!("{} belongs to wsbox itself", real.display()));
    }
    Ok(real)
}

fn work(request: Request, fds: Vec<OwnedFd>, context: &Context) -> Result<(PathBuf, u64), String> {
    let passed = || {
        fds.first()
            .map(|fd| fd.as_fd())
            .ok_or_else(|| "no file was passed".to_owned())
    };
    match request {
        Request::Add { shown, name, rw } => {
            let name = plain_name(&name)?;
            let fd = passed()?;
            let st = hostpath::fstat(fd)
                .map_err(|e| format!("failed to add {}: {e}", shown.display()))?;
            let dir = st.st_mode & libc::S_IFMT == libc::S_IFDIR;
            // Directories cannot be opened for writing: their write access
            // is checked as the user's below, like the command line did.
            let real = check_passed(fd, rw && !dir, rw, context)?;
            // The same checks as the command line's, on the same inode.
            let opened = open_grant(&real, rw, false).map_err(|e| format!("{e:#}"))?;
            if (opened.dev, opened.ino) != (st.st_dev, st.st_ino) {
                return Err(format!(
                    "failed to add {}: it changed while it was added",
                    shown.display()
                ));
            }
            live::add(
                context.pid1,
                &shown,
                &opened,
                place(rw),
                name.as_os_str(),
                rw,
                context.privileged,
            )
            .map_err(|e| e.to_string())
        }
        Request::Remove {
            name,
            rw,
            dir,
            mount_id,
        } => {
            let name = plain_name(&name)?;
            live::remove(context.pid1, place(rw), name.as_os_str(), dir, mount_id)
                .map(|()| (place(rw).join(name), 0))
                .map_err(|e| e.to_string())
        }
        Request::Export {
            inside,
            shown,
            force,
        } => {
            let fd = passed()?;
            check_passed(fd, false, false, context)?;
            live::export(context.pid1, context.privileged, &inside, fd, &shown, force)
                .map(|path| (path, 0))
                .map_err(|e| format!("failed to export {}: {e}", inside.display()))
        }
    }
}
