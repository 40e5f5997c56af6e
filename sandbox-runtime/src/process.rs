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

use std::ffi::{CString, OsString};
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{kill, SigSet, SigmaskHow, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

use crate::mount::{OpenedBind, Source};
use crate::plan::BindSpec;
use crate::plan::{ConfineStep, HostLayout, Plan, Spec, SANDBOX_HOME};
use crate::seccomp::Filter;
use crate::{hostpath, landlock, mount, namespaces, network, privileges, seccomp};

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
}

fn sys(what: &'static str) -> impl FnOnce(nix::Error) -> Error {
    move |e| Error::Sys {
        what,
        source: e.into(),
    }
}

/// Everything the sandbox needs, computed and checked before any process
/// exists, so that a missing kernel feature fails closed with nothing started.
#[derive(Debug)]
pub struct Prepared {
    plan: Plan,
    spec: Spec,
    filter: Filter,
    landlock_abi: Option<i32>,
    argv: Vec<CString>,
    envp: Vec<CString>,
    path_dirs: Vec<PathBuf>,
    /// The user binds' sources, opened by wsbox itself.
    opened: Vec<mount::OpenedBind>,
}

impl Prepared {
    /// Checks the kernel and compiles everything for `spec`.
    pub fn new(spec: Spec, host: &HostLayout) -> Result<Self, Error> {
        if spec.argv.is_empty() {
            return Err(Error::NoProgram);
        }
        seccomp::check_support()?;
        let landlock_abi = landlock::check(spec.landlock)?;
        let filter = Filter::app()?;
        let cstring =
            |s: &std::ffi::OsStr| CString::new(s.as_bytes()).map_err(|_| Error::Nul(s.to_owned()));
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
    Ok(opened)
}

/// A running sandbox, seen from wsbox.
#[derive(Debug)]
pub struct Sandbox {
    pid: Pid,
    errors: std::fs::File,
    /// Held open so pid 1 can tell that wsbox is alive (POLLHUP when not).
    _alive: OwnedFd,
    signals: SignalFd,
    old_mask: SigSet,
    /// The listening sockets pid 1 created inside, in the order of
    /// [`network::NetSpec::listeners`].
    listeners: Vec<OwnedFd>,
    /// Ends (EOF) once the app has exec'd or pid 1 has failed
    /// ([`Sandbox::wait_started`]).
    started: Option<OwnedFd>,
}

/// How a sandbox ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// The exit status for `wsbox run`: the app's, 128+N for signal N, or
    /// 125/126/127 for failures reported from inside.
    pub code: i32,
    /// A one-line reason when the sandbox failed before the program ran.
    pub failure: Option<String>,
}

/// How long [`Sandbox::wait_started`] waits for the app's start at most: a
/// start takes about a millisecond.
pub const START_WAIT: Duration = Duration::from_millis(100);

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

fn pipe() -> Result<(OwnedFd, OwnedFd), Error> {
    nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(sys("create a pipe"))
}

/// Starts the sandbox. The calling process must be single-threaded.
pub fn spawn(prepared: &Prepared) -> Result<Sandbox, Error> {
    spawn_with(prepared, |_| Ok(()))
}

/// Starts the sandbox, calling `before_start` with pid 1's pid once the
/// namespaces exist and the id maps are written, before pid 1 sets anything
/// up (e.g. to attach user-mode networking to its network namespace). The
/// calling process must be single-threaded.
pub fn spawn_with(
    prepared: &Prepared,
    before_start: impl FnOnce(Pid) -> Result<(), String>,
) -> Result<Sandbox, Error> {
    let (sync_read, sync_write) = pipe()?;
    let (sockets_here, sockets_there) = nix::sys::socket::socketpair(
        nix::sys::socket::AddressFamily::Unix,
        nix::sys::socket::SockType::Stream,
        None,
        nix::sys::socket::SockFlag::SOCK_CLOEXEC,
    )
    .map_err(sys("create a socket pair"))?;
    let (err_read, err_write) = pipe()?;
    let (started_read, started_write) = pipe()?;
    let signals = supervised_signals();
    let mut old_mask = SigSet::empty();
    nix::sys::signal::sigprocmask(SigmaskHow::SIG_BLOCK, Some(&signals), Some(&mut old_mask))
        .map_err(sys("block signals"))?;
    let signal_fd = SignalFd::with_flags(&signals, SfdFlags::SFD_CLOEXEC | SfdFlags::SFD_NONBLOCK)
        .map_err(sys("create a signalfd"))?;

    // SAFETY: wsbox is single-threaded here (the compositor and control socket
    // run on the same thread and are not started yet).
    let pid = unsafe { namespaces::clone_into_namespaces(prepared.spec.net.share_host) }?;
    if pid.as_raw() == 0 {
        drop(sync_write);
        drop(err_read);
        drop(signal_fd);
        drop(sockets_here);
        drop(started_read);
        pid1(prepared, sync_read, err_write, sockets_there, started_write);
    }
    drop(sync_read);
    drop(err_write);
    drop(sockets_there);
    drop(started_write);
    let mut sandbox = Sandbox {
        pid,
        errors: std::fs::File::from(err_read),
        _alive: sync_write,
        signals: signal_fd,
        old_mask,
        listeners: Vec::new(),
        started: Some(started_read),
    };
    let go = namespaces::write_id_maps(pid, prepared.spec.host_ids)
        .map_err(Error::from)
        .and_then(|()| before_start(pid).map_err(Error::BeforeStart))
        .and_then(|()| {
            nix::unistd::write(sandbox._alive.as_fd(), b"1").map_err(sys("start the sandbox"))
        });
    if let Err(err) = go {
        let _ = kill(pid, Signal::SIGKILL);
        let _ = waitpid(pid, None);
        return Err(err);
    }
    let wanted = prepared.spec.net.listeners.len();
    if wanted > 0 {
        match network::receive_fds(&sockets_here, wanted) {
            Ok(fds) => sandbox.listeners = fds,
            Err(err) => {
                // pid 1 failed first: its own report says why.
                let _ = kill(pid, Signal::SIGKILL);
                let status = waitpid(pid, None).map_err(sys("wait for the sandbox"))?;
                let outcome = sandbox.finish(status);
                return Err(match outcome.failure {
                    Some(reason) => Error::BeforeStart(reason),
                    None => err.into(),
                });
            }
        }
    }
    tracing::debug!(pid = pid.as_raw(), "sandbox started");
    Ok(sandbox)
}

impl AsFd for Sandbox {
    /// The signalfd: readable when [`Sandbox::on_signal`] has work.
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.signals.as_fd()
    }
}

impl Sandbox {
    /// pid 1 of the sandbox, as seen from wsbox.
    pub fn pid(&self) -> Pid {
        self.pid
    }

    /// The listening sockets pid 1 created inside the sandbox's network
    /// namespace, in the order of [`network::NetSpec::listeners`]; wsbox
    /// accepts on them and connects out from the host's side.
    pub fn take_listeners(&mut self) -> Vec<OwnedFd> {
        std::mem::take(&mut self.listeners)
    }

    /// Waits until the app has exec'd (or pid 1 has failed, or a signal is
    /// pending for [`Sandbox::on_signal`]), for [`START_WAIT`] at most.
    /// wsbox starts its helpers and confines itself after this, beside the
    /// app's own start rather than competing with pid 1 for the CPUs while
    /// it builds the sandbox; the event loop, the first thing to serve the
    /// app, runs after both. The bound keeps a start that hangs (a mount or
    /// an exec on a stuck file system) from holding up `--timeout`, `wsbox
    /// stop` and the signals, which the event loop serves.
    pub fn wait_started(&mut self) {
        let Some(started) = self.started.take() else {
            return;
        };
        let deadline = Instant::now() + START_WAIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let Ok(left) = PollTimeout::try_from(left) else {
                return;
            };
            if left == PollTimeout::ZERO {
                return;
            }
            let mut fds = [
                PollFd::new(started.as_fd(), PollFlags::POLLIN),
                PollFd::new(self.signals.as_fd(), PollFlags::POLLIN),
            ];
            match poll(&mut fds, left) {
                Err(nix::errno::Errno::EINTR) => continue,
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
            if fds[1].any().unwrap_or(false) {
                return;
            }
            let mut byte = [0u8; 1];
            match nix::unistd::read(&started, &mut byte) {
                Err(nix::errno::Errno::EINTR) => {}
                // EOF (nothing else is ever written) or an error.
                _ => return,
            }
        }
    }

    /// Handles the pending signals: forwards SIGINT, SIGTERM, SIGHUP and
    /// SIGQUIT to the sandbox, reaps it on SIGCHLD. Returns its status once
    /// it has ended.
    pub fn on_signal(&mut self) -> Result<Option<WaitStatus>, Error> {
        while let Some(info) = self.signals.read_signal().map_err(sys("read a signal"))? {
            let signo = info.ssi_signo as i32;
            if signo == libc::SIGCHLD {
                match waitpid(self.pid, Some(WaitPidFlag::WNOHANG)) {
                    Ok(status @ (WaitStatus::Exited(..) | WaitStatus::Signaled(..))) => {
                        return Ok(Some(status));
                    }
                    Ok(_) => {}
                    Err(e) => return Err(sys("wait for the sandbox")(e)),
                }
            } else if let Ok(sig) = Signal::try_from(signo) {
                tracing::debug!(signal = %sig, "forwarding to the sandbox");
                let _ = kill(self.pid, sig);
            }
        }
        Ok(None)
    }

    /// Readable once pid 1 reports a failure or ends. pid 1 keeps the write
    /// end of its report pipe until it exits, and an exiting process closes
    /// its files before the kernel takes its namespaces apart (a mount
    /// namespace, the processes left in the PID namespace) and tells the
    /// parent. So wsbox can do its own cleanup meanwhile, and then
    /// [`Sandbox::wait_ended`].
    pub fn ending(&self) -> BorrowedFd<'_> {
        self.errors.as_fd()
    }

    /// Waits for pid 1 to exit, after [`Sandbox::ending`] became readable
    /// (it exits right after the app), and returns the outcome; the signal
    /// mask stays as it is ([`Sandbox::collect`]).
    pub fn wait_ended(&mut self) -> Result<Outcome, Error> {
        let status = loop {
            match waitpid(self.pid, None) {
                Ok(status @ (WaitStatus::Exited(..) | WaitStatus::Signaled(..))) => break status,
                Ok(_) | Err(nix::errno::Errno::EINTR) => {}
                Err(e) => return Err(sys("wait for the sandbox")(e)),
            }
        };
        Ok(self.collect(status))
    }

    /// Asks the app to stop (SIGTERM through pid 1).
    pub fn terminate(&self) {
        terminate(self.pid);
    }

    /// Ends the sandbox at once: SIGKILL to pid 1 takes the PID namespace.
    pub fn kill(&self) {
        kill_sandbox(self.pid);
    }

    /// The outcome once [`Sandbox::on_signal`] returned `status`; collects a
    /// failure reported from inside and restores wsbox's signal mask.
    pub fn finish(&mut self, status: WaitStatus) -> Outcome {
        let outcome = self.collect(status);
        let _ = nix::sys::signal::sigprocmask(SigmaskHow::SIG_SETMASK, Some(&self.old_mask), None);
        outcome
    }

    /// [`Sandbox::finish`] without restoring the signal mask: for a caller
    /// that still cleans up and exits afterwards, whose status a signal
    /// arriving meanwhile must not replace (it stays blocked, and pending
    /// until the process exits).
    pub fn collect(&mut self, status: WaitStatus) -> Outcome {
        // pid 1 is gone, so every writer of the error pipe is too: this read
        // ends.
        let mut report = Vec::new();
        let _ = self.errors.read_to_end(&mut report);
        outcome(status, &report)
    }

    /// Waits for the sandbox to end, forwarding signals, and collects any
    /// failure reported from inside. After `timeout` the app gets SIGTERM,
    /// then SIGKILL after [`STOP_GRACE`], and the outcome is [`EXIT_TIMEOUT`].
    pub fn wait(mut self, timeout: Option<Duration>) -> Result<Outcome, Error> {
        let mut deadline = timeout.map(|t| Instant::now() + t);
        let mut timed_out = false;
        let status = loop {
            if let Some(at) = deadline.filter(|at| *at <= Instant::now()) {
                if timed_out {
                    tracing::debug!("grace period over; killing the sandbox");
                    self.kill();
                    deadline = None;
                } else {
                    tracing::debug!("timeout; stopping the sandbox");
                    self.terminate();
                    timed_out = true;
                    deadline = Some(at + STOP_GRACE);
                }
            }
            let wait = match deadline {
                None => PollTimeout::NONE,
                Some(at) => {
                    let ms = at.saturating_duration_since(Instant::now()).as_millis();
                    PollTimeout::try_from(ms.clamp(1, i32::MAX as u128) as i32)
                        .unwrap_or(PollTimeout::MAX)
                }
            };
            let mut fds = [PollFd::new(self.signals.as_fd(), PollFlags::POLLIN)];
            match poll(&mut fds, wait) {
                Err(nix::errno::Errno::EINTR) => continue,
                Err(e) => return Err(sys("wait for the sandbox")(e)),
                Ok(0) => continue,
                Ok(_) => {}
            }
            if let Some(status) = self.on_signal()? {
                break status;
            }
        };
        let outcome = self.finish(status);
        if timed_out {
            return Ok(Outcome {
                code: EXIT_TIMEOUT,
                failure: None,
            });
        }
        Ok(outcome)
    }
}

/// Asks the app of the sandbox whose pid 1 is `pid` to stop.
pub fn terminate(pid: Pid) {
    let _ = kill(pid, Signal::SIGTERM);
}

/// Ends the sandbox whose pid 1 is `pid` at once.
pub fn kill_sandbox(pid: Pid) {
    let _ = kill(pid, Signal::SIGKILL);
}

fn outcome(status: WaitStatus, report: &[u8]) -> Outcome {
    let text = String::from_utf8_lossy(report);
    // The first report only: pid 1 and the app may both fail.
    let text = text.lines().next().unwrap_or_default();
    if let Some((code, message)) = text.split_once('\t') {
        if let Ok(code) = code.trim().parse::<i32>() {
            return Outcome {
                code,
                failure: Some(message.trim().replace('\n', " ")),
            };
        }
    }
    let code = match status {
        WaitStatus::Exited(_, code) => code,
        WaitStatus::Signaled(_, sig, _) => 128 + sig as i32,
        _ => EXIT_WSBOX_ERROR,
    };
    Outcome {
        code,
        failure: None,
    }
}

/// Reports a failure to wsbox and exits.
fn fail(err: &OwnedFd, code: i32, message: impl std::fmt::Display) -> ! {
    let line = format!("{code}\t{message}\n");
    let mut file = std::mem::ManuallyDrop::new(
        // SAFETY: borrowed for the write only; ManuallyDrop keeps `err` open.
        unsafe { std::fs::File::from_raw_fd(err.as_raw_fd()) },
    );
    let _ = file.write_all(line.as_bytes());
    // SAFETY: leave without unwinding or running destructors of wsbox's state.
    unsafe { libc::_exit(code) }
}

/// pid 1 of the sandbox. Never returns.
fn pid1(
    prepared: &Prepared,
    alive: OwnedFd,
    err: OwnedFd,
    sockets: OwnedFd,
    started: OwnedFd,
) -> ! {
    // Until the parent has written the id maps this process has no usable
    // identity; wait for its go. EOF means wsbox died first.
    let go = (|| -> Result<(), String> {
        privileges::die_with_parent().map_err(|e| e.to_string())?;
        let mut byte = [0u8; 1];
        match nix::unistd::read(&alive, &mut byte) {
            Ok(1) => Ok(()),
            _ => Err("wsbox went away before the sandbox started".into()),
        }
    })();
    if let Err(message) = go {
        fail(&err, EXIT_WSBOX_ERROR, message);
    }
    if let Err(message) = setup(prepared, &alive, sockets).and_then(|()| build_root(prepared)) {
        fail(&err, EXIT_WSBOX_ERROR, message);
    }
    drop(alive);
    // pid 1 keeps nothing it does not need, and gives it up before the app
    // exists: the app cannot ptrace it (Landlock puts the app in a nested
    // domain) nor gain from it. The report pipe stays open until pid 1
    // exits: a process closes its files before its namespaces are taken
    // apart and before its parent hears of it, so its end tells wsbox early
    // ([`Sandbox::ending`]).
    let _ = privileges::not_dumpable();
    privileges::close_fds_except(&[err.as_raw_fd(), started.as_raw_fd()]);
    let _ = privileges::drop_capabilities();
    let _ = privileges::no_new_privs();
    let app = spawn_app(prepared, &err);
    // The app has exec'd (or failed, and said why): wsbox goes on.
    drop(started);
    // From here on pid 1 allocates nothing: the app ran on its heap and may
    // have been killed inside malloc, leaving a lock or a half-updated list
    // behind. reap and exit make syscalls only (close_fds_except allocates
    // nothing either).
    reap(app)
}

/// Everything pid 1 does before the app exists.
fn setup(prepared: &Prepared, alive: &OwnedFd, sockets: OwnedFd) -> Result<(), String> {
    let spec = &prepared.spec;
    privileges::become_sandbox_user(spec.host_ids.privileged).map_err(|e| e.to_string())?;
    // A credential change clears the parent-death signal: set it again, then
    // make sure wsbox did not die in between.
    privileges::die_with_parent().map_err(|e| e.to_string())?;
    let mut fds = [PollFd::new(alive.as_fd(), PollFlags::POLLIN)];
    if poll(&mut fds, PollTimeout::ZERO).is_ok()
        && fds[0]
            .revents()
            .is_some_and(|r| r.contains(PollFlags::POLLHUP))
    {
        return Err("wsbox went away while the sandbox started".into());
    }
    // Its own session: terminal signals reach wsbox only, which forwards them once.
    privileges::new_session().map_err(|e| e.to_string())?;
    namespaces::set_hostname(&spec.hostname).map_err(|e| e.to_string())?;
    let net = &spec.net;
    if !net.share_host {
        namespaces::loopback_up().map_err(|e| e.to_string())?;
        // Before the app exists, while pid 1 still has CAP_NET_ADMIN here.
        network::disable_ipv6(&net.no_ipv6_on).map_err(|e| e.to_string())?;
        network::add_routes(&net.routes).map_err(|e| e.to_string())?;
        let listeners = network::listen(&net.listeners).map_err(|e| e.to_string())?;
        if !listeners.is_empty() {
            network::send_fds(&sockets, &listeners).map_err(|e| e.to_string())?;
        }
    }
    drop(sockets);
    Ok(())
}

/// pid 1 builds the sandbox's file system and enters it.
fn build_root(prepared: &Prepared) -> Result<(), String> {
    let staging = mount::prepare().map_err(|e| e.to_string())?;
    mount::execute(&staging, &prepared.plan.mounts, &prepared.opened).map_err(|e| e.to_string())?;
    mount::enter_new_root().map_err(|e| e.to_string())?;
    nix::unistd::chdir(SANDBOX_HOME).map_err(|e| format!("failed to enter {SANDBOX_HOME}: {e}"))
}

/// What the app process starts from: the prepared sandbox and pid 1's
/// report fd.
struct AppStart<'a> {
    prepared: &'a Prepared,
    err: RawFd,
}

/// The app's stack while it shares pid 1's memory, above a guard page.
const APP_STACK: usize = 1 << 20;
const GUARD: usize = 1 << 12;

/// Starts the app as vfork(2) would: the child shares pid 1's memory, on a
/// stack of its own, and pid 1 sleeps until the child has exec'd or exited
/// (CLONE_VFORK). Nothing of pid 1's address space is copied, and the
/// exec has none to take apart. The child has its own fd table, working
/// directory, credentials and signal handlers (no CLONE_FILES, CLONE_FS,
/// CLONE_SIGHAND), so its confinement is its own.
fn spawn_app(prepared: &Prepared, err: &OwnedFd) -> Pid {
    // SAFETY: a fresh private anonymous mapping, unmapped below.
    let base = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            APP_STACK + GUARD,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_STACK,
            -1,
            0,
        )
    };
    if base == libc::MAP_FAILED {
        fail(
            err,
            EXIT_WSBOX_ERROR,
            format!(
                "failed to map the app's stack: {}",
                io::Error::last_os_error()
            ),
        );
    }
    // SAFETY: the lowest page of the mapping above: a stack that overflows
    // faults there instead of writing below it.
    if unsafe { libc::mprotect(base, GUARD, libc::PROT_NONE) } != 0 {
        fail(
            err,
            EXIT_WSBOX_ERROR,
            format!(
                "failed to guard the app's stack: {}",
                io::Error::last_os_error()
            ),
        );
    }
    let start = AppStart {
        prepared,
        err: err.as_raw_fd(),
    };
    // SAFETY: `app_entry` runs on the new stack, whose top is the end of the
    // mapping (page-aligned). With CLONE_VM|CLONE_VFORK this process sleeps
    // until the child has exec'd or exited, so `start`, the stack and all
    // the memory the child uses stay valid and nothing else touches them
    // meanwhile; the child leaves only through exec or _exit.
    let pid = unsafe {
        libc::clone(
            app_entry,
            base.cast::<u8>().add(APP_STACK + GUARD).cast(),
            libc::CLONE_VM | libc::CLONE_VFORK | libc::SIGCHLD,
            std::ptr::from_ref(&start).cast_mut().cast(),
        )
    };
    let error = io::Error::last_os_error();
    // SAFETY: the child no longer runs on this memory (it exec'd or exited).
    unsafe { libc::munmap(base, APP_STACK + GUARD) };
    if pid < 0 {
        fail(
            err,
            EXIT_WSBOX_ERROR,
            format!("failed to start the app: {error}"),
        );
    }
    Pid::from_raw(pid)
}

extern "C" fn app_entry(arg: *mut libc::c_void) -> libc::c_int {
    // SAFETY: `arg` is spawn_app's AppStart, valid while pid 1 sleeps.
    let start = unsafe { &*arg.cast::<AppStart<'_>>() };
    // SAFETY: pid 1's report fd, open in this process's own fd table; this
    // handle never closes it (ManuallyDrop).
    let err = std::mem::ManuallyDrop::new(unsafe { OwnedFd::from_raw_fd(start.err) });
    // A panic must not cross this extern "C" boundary (it would abort with
    // no reason given): it becomes a report line like any other failure,
    // and the default hook's lines on the app's stderr are left out.
    std::panic::set_hook(Box::new(|_| {}));
    let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(
        || -> std::convert::Infallible { app(start.prepared, &err) },
    ));
    let reason = match panicked {
        Ok(never) => match never {},
        Err(payload) => payload
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown reason".into()),
    };
    fail(
        &err,
        EXIT_WSBOX_ERROR,
        format!("failed to start the app: a panic ({reason})"),
    )
}

/// pid 1's life once the app runs: reap every child, forward signals to the app,
/// exit with the app's status when it ends.
fn reap(app: Pid) -> ! {
    let mut signals = supervised_signals();
    signals.add(Signal::SIGUSR1);
    signals.add(Signal::SIGUSR2);
    let _ = signals.thread_block();
    loop {
        let Ok(sig) = signals.wait() else {
            continue;
        };
        if sig != Signal::SIGCHLD {
            let _ = kill(app, sig);
            continue;
        }
        loop {
            match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::Exited(pid, code)) if pid == app => exit(code),
                Ok(WaitStatus::Signaled(pid, sig, _)) if pid == app => exit(128 + sig as i32),
                Ok(WaitStatus::StillAlive) => break,
                Ok(_) => continue,
                Err(nix::errno::Errno::EINTR) => continue,
                Err(_) => exit(EXIT_WSBOX_ERROR),
            }
        }
    }
}

fn exit(code: i32) -> ! {
    // The report pipe first: wsbox hears of the end (Sandbox::ending) before
    // the kernel frees this process's memory and namespaces.
    privileges::close_fds();
    // SAFETY: pid 1 holds nothing that needs flushing.
    unsafe { libc::_exit(code) }
}

/// The app process: confine, then exec. Never returns, and leaves only
/// through exec or _exit: it runs on pid 1's memory ([`spawn_app`]).
fn app(prepared: &Prepared, err: &OwnedFd) -> ! {
    // exec keeps the signal mask; the app starts with none blocked.
    let _ = nix::sys::signal::sigprocmask(SigmaskHow::SIG_SETMASK, Some(&SigSet::empty()), None);
    let plan = &prepared.plan;
    for step in plan.confine {
        let result = match step {
            ConfineStep::Setsid => privileges::new_session().map_err(|e| e.to_string()),
            ConfineStep::CloseFds => privileges::close_fds_on_exec().map_err(|e| e.to_string()),
            ConfineStep::DropCapabilities => {
                privileges::drop_capabilities().map_err(|e| e.to_string())
            }
            ConfineStep::NoNewPrivs => privileges::no_new_privs().map_err(|e| e.to_string()),
            ConfineStep::Landlock => landlock::restrict(
                prepared.landlock_abi,
                &plan.writable,
                &plan.devices,
                prepared.spec.landlock,
            )
            .map_err(|e| e.to_string()),
            ConfineStep::Seccomp => prepared.filter.load().map_err(|e| e.to_string()),
            ConfineStep::Exec => exec(prepared, err),
        };
        if let Err(message) = result {
            fail(err, EXIT_WSBOX_ERROR, message);
        }
    }
    fail(
        err,
        EXIT_WSBOX_ERROR,
        "the confinement plan has no exec step",
    )
}

/// Finds the program in the sandbox's PATH and execs it.
fn exec(prepared: &Prepared, err: &OwnedFd) -> ! {
    let program = &prepared.argv[0];
    let name = String::from_utf8_lossy(program.as_bytes()).into_owned();
    let path = if program.as_bytes().contains(&b'/') {
        program.clone()
    } else {
        let found = prepared
            .path_dirs
            .iter()
            .map(|dir| {
                dir.join(OsString::from(std::ffi::OsStr::from_bytes(
                    program.as_bytes(),
                )))
            })
            .find(|candidate| is_executable(candidate));
        match found.and_then(|p| CString::new(p.as_os_str().as_bytes()).ok()) {
            Some(path) => path,
            None => fail(
                err,
                EXIT_NOT_FOUND,
                format!("failed to execute {name}: not found in the sandbox's PATH"),
            ),
        }
    };
    let e = match nix::unistd::execve(&path, &prepared.argv, &prepared.envp) {
        Err(e) => e,
        Ok(never) => match never {},
    };
    let shown = String::from_utf8_lossy(path.as_bytes());
    let code = if e == nix::errno::Errno::ENOENT {
        EXIT_NOT_FOUND
    } else {
        EXIT_CANNOT_EXECUTE
    };
    let reason = if e == nix::errno::Errno::ENOENT {
        "no such file inside the sandbox".to_owned()
    } else {
        io::Error::from(e).to_string()
    };
    fail(err, code, format!("failed to execute {shown}: {reason}"))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}
