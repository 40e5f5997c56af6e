//! wsbox's side of a sandbox: starting it (the clone into new namespaces,
//! the id maps, the go to pid 1), then supervising it: forwarding signals,
//! waiting for its start and its end, and turning pid 1's report into an
//! [`Outcome`]. The clone's child leaves this module at once for `pid1`;
//! wsbox changes the running sandbox only by signals.

use std::io::Read;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::time::{Duration, Instant};

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{kill, SigSet, SigmaskHow, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

use super::prepared::Prepared;
use super::{pid1, supervised_signals, Error};
use super::{EXIT_TIMEOUT, EXIT_WSBOX_ERROR, STOP_GRACE};
use crate::{namespaces, network};

fn sys(what: &'static str) -> impl FnOnce(nix::Error) -> Error {
    move |e| Error::Sys {
        what,
        source: e.into(),
    }
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
    /// Where pid 1 sends the documents' directory once it has built the
    /// sandbox ([`Sandbox::take_documents_channel`]).
    documents: Option<OwnedFd>,
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
        pid1::run(prepared, sync_read, err_write, sockets_there, started_write);
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
        documents: None,
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
    sandbox.documents = Some(sockets_here);
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

    /// The channel on which pid 1 sends one fd, the documents' directory
    /// ([`crate::plan::DOCS_DIR`]), once it has built the sandbox, before
    /// the app starts: read it with [`network::receive_fds`] (an error, EOF,
    /// when pid 1 failed). Not read here, so that a start that hangs holds
    /// up nobody.
    pub fn take_documents_channel(&mut self) -> Option<OwnedFd> {
        self.documents.take()
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

    /// Whether pid 1 has reported a failure already (its report is waiting
    /// to be read): after [`Sandbox::wait_started`], whether the start
    /// failed, as far as is known by then.
    pub fn start_failed(&self) -> bool {
        let mut fds = [PollFd::new(self.errors.as_fd(), PollFlags::POLLIN)];
        matches!(poll(&mut fds, PollTimeout::ZERO), Ok(n) if n > 0)
            && fds[0]
                .revents()
                .is_some_and(|r| r.contains(PollFlags::POLLIN))
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
