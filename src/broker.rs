//! The helper processes wsbox starts before it confines itself
//! (`src/confine.rs`), for the work the confined wsbox can no longer do:
//!
//! - [`Broker`]: attaches, detaches and exports files of a running sandbox
//!   (`wsbox add-file`, `remove-file`, `export`). It joins the sandbox's
//!   namespaces and mounts, which a Landlocked process cannot do at all.
//!   It takes no host path from wsbox: the host file or directory comes as
//!   an fd that the `wsbox` command line opened (as the user, through
//!   `wsbox_sandbox::hostpath`) and passed over the control socket; wsbox
//!   hands it on. It must be an fd opened for reading (writing, for a
//!   read-write file), not an `O_PATH` one: Landlock checks such opens, so
//!   a compromised wsbox can only pass what its own rules let it open (its
//!   runtime directory, xkb data), and the broker refuses those too. The
//!   sandbox it works on (pid 1) is fixed when it starts.
//! - [`HostWatcher`]: keeps the firewall of `--net user` current with the
//!   host's addresses (rtnetlink, `nft`); on an error it tells wsbox, which
//!   stops the sandbox, and kills the sandbox itself if wsbox does not.
//!
//! - [`Relays`]: the relays of `--net tor` and `--net-forward`, confined
//!   like wsbox but with TCP sockets and connections to their upstream
//!   ports only, and no file access.
//!
//! All are forked while wsbox has a single thread, keep only their own fds,
//! die with wsbox (`PR_SET_PDEATHSIG`), are not dumpable and have
//! `no_new_privs`. The broker and the host watcher are otherwise not
//! confined: they join the sandbox's namespaces, mount and run `nft`.

use std::ffi::OsString;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use nix::sys::socket::{socketpair, AddressFamily, SockFlag, SockType};
use nix::sys::wait::waitpid;
use nix::unistd::{fork, ForkResult, Pid};
use serde::{Deserialize, Serialize};
use wsbox_sandbox::fdpass;
use wsbox_sandbox::hostpath::{self, Kind};
use wsbox_sandbox::live;
use wsbox_sandbox::self_confine::Confinement;

use crate::files;

/// The largest message between wsbox and the broker.
const MAX_MESSAGE: usize = 64 * 1024;

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

/// Forks a helper: `serve` runs in the child with `keep` (and stdio) as its
/// only fds, then the child exits. Call while wsbox has a single thread.
pub(crate) fn fork_helper(keep: &[RawFd], serve: impl FnOnce() -> i32) -> io::Result<Pid> {
    // SAFETY: wsbox has a single thread when helpers are started (run.rs
    // starts its threads after the confinement); the child closes what it
    // does not keep and leaves with _exit.
    match unsafe { fork() }.map_err(io::Error::from)? {
        ForkResult::Child => {
            // SAFETY: plain prctls and closing fds this process inherited.
            unsafe {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong);
                libc::prctl(libc::PR_SET_DUMPABLE, 0 as libc::c_ulong);
                // Nothing a helper runs (nft) gains privileges.
                libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1 as libc::c_ulong, 0, 0, 0);
                let mut keep = keep.to_vec();
                keep.sort_unstable();
                let mut from = 3u32;
                for fd in keep {
                    let fd = fd as u32;
                    if fd > from {
                        libc::close_range(from, fd - 1, 0);
                    }
                    from = from.max(fd + 1);
                }
                libc::close_range(from, u32::MAX, 0);
            }
            let code = serve();
            // SAFETY: leave without running wsbox's destructors.
            unsafe { libc::_exit(code) }
        }
        ForkResult::Parent { child } => Ok(child),
    }
}

fn seqpacket_pair() -> io::Result<(OwnedFd, OwnedFd)> {
    socketpair(
        AddressFamily::Unix,
        SockType::SeqPacket,
        None,
        SockFlag::SOCK_CLOEXEC,
    )
    .map_err(io::Error::from)
}

fn send(sock: BorrowedFd<'_>, bytes: &[u8], fds: &[RawFd]) -> io::Result<()> {
    fdpass::send(sock, bytes, fds).map(drop)
}

/// One message and the fds that came with it; an empty message is the end.
pub fn recv(sock: BorrowedFd<'_>, max_fds: usize) -> io::Result<(Vec<u8>, Vec<OwnedFd>)> {
    let mut buf = vec![0u8; MAX_MESSAGE];
    let got = fdpass::recv(sock, &mut buf)?;
    if got.truncated || got.fds.len() > max_fds {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "a message too long or with too many fds",
        ));
    }
    buf.truncate(got.bytes);
    Ok((buf, got.fds))
}

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
            let opened = files::open_grant(&real, rw, false).map_err(|e| format!("{e:#}"))?;
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
                files::place(rw),
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
            live::remove(
                context.pid1,
                files::place(rw),
                name.as_os_str(),
                dir,
                mount_id,
            )
            .map(|()| (files::place(rw).join(name), 0))
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

/// Opens `path` for passing to wsbox: `opened` (an `O_PATH` fd from
/// `hostpath`) opened again for real, for reading, or for writing where
/// `write` (a read-write regular file).
pub fn reopen_for_passing(opened: &hostpath::Opened, write: bool) -> io::Result<OwnedFd> {
    let flags = match opened.kind {
        Kind::Dir => libc::O_RDONLY | libc::O_DIRECTORY,
        _ if write => libc::O_RDWR | libc::O_NOCTTY | libc::O_NONBLOCK,
        _ => libc::O_RDONLY | libc::O_NOCTTY | libc::O_NONBLOCK,
    };
    let path = std::ffi::CString::new(format!("/proc/self/fd/{}", opened.fd.as_raw_fd()))
        .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    let fd = hostpath::openat2(libc::AT_FDCWD, &path, flags, 0)?;
    let st = hostpath::fstat(fd.as_fd())?;
    if (st.st_dev, st.st_ino) != (opened.dev, opened.ino) {
        return Err(io::Error::from_raw_os_error(libc::ESTALE));
    }
    Ok(fd)
}

/// The relays of `--net tor` and `--net-forward`, in a process of their own:
/// it alone may make TCP sockets and connect them, to the upstream ports
/// only (Landlock), and it has no file access at all.
#[derive(Debug)]
pub struct Relays {
    sock: OwnedFd,
    pid: Pid,
}

impl Relays {
    /// Starts the process serving each listener (a listening socket inside
    /// the sandbox) to its upstream.
    pub fn spawn(relays: Vec<(OwnedFd, crate::forward::Upstream)>) -> io::Result<Self> {
        let (ours, theirs) = seqpacket_pair()?;
        let ports = relays
            .iter()
            .map(|(_, upstream)| match upstream {
                crate::forward::Upstream::Plain(addr)
                | crate::forward::Upstream::Socks { addr, .. } => addr.port(),
            })
            .collect();
        let mut keep: Vec<RawFd> = relays.iter().map(|(fd, _)| fd.as_raw_fd()).collect();
        keep.push(theirs.as_raw_fd());
        let pid = fork_helper(&keep, move || {
            let confinement = Confinement {
                tcp_connect: ports,
                tcp_sockets: true,
                ..Confinement::default()
            };
            if let Err(e) = confinement.apply() {
                tracing::error!(%e, "the relays could not confine themselves");
                return 1;
            }
            // Threads only now: they are confined too.
            for (listener, upstream) in relays {
                if let Err(e) = crate::forward::serve(listener, upstream) {
                    tracing::error!(%e, "failed to serve the sandbox's sockets");
                    return 1;
                }
            }
            // Until wsbox ends (or dies: PR_SET_PDEATHSIG).
            let _ = recv(theirs.as_fd(), 0);
            0
        })?;
        Ok(Self { sock: ours, pid })
    }
}

impl Relays {
    /// The process's pid (the confined wsbox may signal it).
    pub fn pid(&self) -> i32 {
        self.pid.as_raw()
    }
}

impl Drop for Relays {
    fn drop(&mut self) {
        let _ = nix::sys::socket::shutdown(self.sock.as_raw_fd(), nix::sys::socket::Shutdown::Both);
        let _ = nix::sys::signal::kill(self.pid, nix::sys::signal::Signal::SIGKILL);
        let _ = waitpid(self.pid, None);
    }
}

/// The host address watch of `--net user`, in a process of its own.
#[derive(Debug)]
pub struct HostWatcher {
    sock: OwnedFd,
    pid: Pid,
}

impl HostWatcher {
    /// Runs `watch` in a helper; `pid1` is killed if it fails and wsbox
    /// does not stop the sandbox within a few seconds.
    pub fn spawn(mut watch: crate::usernet::HostWatch, pid1: Pid) -> io::Result<Self> {
        let (ours, theirs) = seqpacket_pair()?;
        // Taken now: a pid reused later is never signalled.
        // SAFETY: plain integers; the kernel returns a new fd.
        let pidfd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid1.as_raw(), 0) };
        if pidfd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: a fresh fd owned by nothing else.
        let pidfd = unsafe { OwnedFd::from_raw_fd(pidfd as RawFd) };
        let mut keep = watch.raw_fds();
        keep.extend([theirs.as_raw_fd(), pidfd.as_raw_fd()]);
        let pid = fork_helper(&keep, move || {
            // SAFETY: as in Broker::spawn; nft is waited for.
            unsafe { libc::signal(libc::SIGCHLD, libc::SIG_DFL) };
            let error = watch_loop(&mut watch, theirs.as_fd());
            if let Some(error) = error {
                let _ = send(theirs.as_fd(), error.as_bytes(), &[]);
                // Fail closed: wsbox stops the sandbox and then this
                // process; if it does not, the sandbox is killed here.
                let mut poll = libc::pollfd {
                    fd: theirs.as_raw_fd(),
                    events: libc::POLLIN,
                    revents: 0,
                };
                // SAFETY: one valid pollfd.
                unsafe { libc::poll(&mut poll, 1, 5000) };
                // SAFETY: a pidfd of the sandbox's pid 1.
                unsafe {
                    libc::syscall(
                        libc::SYS_pidfd_send_signal,
                        pidfd.as_raw_fd(),
                        libc::SIGKILL,
                        std::ptr::null::<libc::siginfo_t>(),
                        0,
                    )
                };
            }
            0
        })?;
        Ok(Self { sock: ours, pid })
    }

    /// The watcher's error, once it failed (call when its socket is
    /// readable); None when it ended without one.
    pub fn error(&self) -> Option<String> {
        match recv(self.sock.as_fd(), 0) {
            Ok((bytes, _)) if !bytes.is_empty() => Some(String::from_utf8_lossy(&bytes).into()),
            Ok(_) => Some("the watch of the host's addresses ended".into()),
            Err(e) => Some(format!("lost the watch of the host's addresses: {e}")),
        }
    }
}

impl AsFd for HostWatcher {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.sock.as_fd()
    }
}

impl HostWatcher {
    /// The process's pid (the confined wsbox may signal it).
    pub fn pid(&self) -> i32 {
        self.pid.as_raw()
    }
}

impl Drop for HostWatcher {
    fn drop(&mut self) {
        let _ = nix::sys::signal::kill(self.pid, nix::sys::signal::Signal::SIGKILL);
        let _ = waitpid(self.pid, None);
    }
}

/// Waits for address changes (or for wsbox to end); the error that stops
/// it, formatted for the user.
fn watch_loop(watch: &mut crate::usernet::HostWatch, wsbox: BorrowedFd<'_>) -> Option<String> {
    loop {
        let mut polls = [
            libc::pollfd {
                fd: watch.as_fd().as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: wsbox.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        // SAFETY: two valid pollfds.
        let n = unsafe { libc::poll(polls.as_mut_ptr(), 2, -1) };
        if n < 0 {
            if io::Error::last_os_error().kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Some("failed to wait for the host's address changes".into());
        }
        if polls[1].revents != 0 {
            // wsbox ended or stops the sandbox.
            return None;
        }
        if polls[0].revents != 0 {
            if let Err(e) = watch.on_readable() {
                return Some(format!("{e:#}; the sandbox was stopped"));
            }
            // Not too eager on a burst of changes.
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}
