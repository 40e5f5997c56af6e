//! The forked helper every change to a running sandbox runs in: the
//! sandbox's namespaces reached through a pidfd, the fork, the join of the
//! user namespace, and the report of what the helper's job returned or of
//! the step that failed. The job itself comes from `grant` or `export`. A
//! helper must only make raw syscalls and allocate nothing: wsbox may have
//! threads, and its forked copy may hold a lock one of them had.

use std::ffi::CString;
use std::io::{self, Read};
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::Path;

use super::Error;
use crate::sys::{self, OFlags, PidfdFlags, ResolveFlags};

/// A step of a helper, reported when it fails: its errno (none for the last
/// two) and the words that complete "failed to … PATH".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Step {
    JoinUserNs,
    TakeFileIds,
    Unshare,
    Open,
    Check,
    Clone,
    JoinMountNs,
    OpenFiles,
    PrivateCopy,
    CreatePoint,
    OpenPoint,
    Attach,
    SetAttrs,
    Detach,
    Unlink,
    DropToApp,
    Read,
    Write,
    Inspect,
    /// Export only: not a regular file (errno 0).
    NotRegular,
    /// Export only: larger than [`super::EXPORT_MAX`] (errno 0).
    TooLarge,
}

impl Step {
    /// Every step, in the order of their codes in a helper's report.
    const ALL: [Step; 21] = [
        Step::JoinUserNs,
        Step::TakeFileIds,
        Step::Unshare,
        Step::Open,
        Step::Check,
        Step::Clone,
        Step::JoinMountNs,
        Step::OpenFiles,
        Step::PrivateCopy,
        Step::CreatePoint,
        Step::OpenPoint,
        Step::Attach,
        Step::SetAttrs,
        Step::Detach,
        Step::Unlink,
        Step::DropToApp,
        Step::Read,
        Step::Write,
        Step::Inspect,
        Step::NotRegular,
        Step::TooLarge,
    ];

    /// What the step does, for "failed to {action} PATH". The two export
    /// checks are told apart before this is asked.
    pub(super) fn action(self) -> &'static str {
        match self {
            Step::JoinUserNs => "join the sandbox's user namespace",
            Step::TakeFileIds => "take the sandbox's file ids",
            Step::Unshare => "make a mount namespace for",
            Step::Open => "open",
            Step::Check => "check",
            Step::Clone => "clone the mount of",
            Step::JoinMountNs => "join the sandbox's mount namespace",
            Step::OpenFiles => "open the files place for",
            Step::PrivateCopy => "make a private copy of the files place for",
            Step::CreatePoint => "create the mount point of",
            Step::OpenPoint => "open the mount point of",
            Step::Attach => "attach",
            Step::SetAttrs => "set the mount attributes of",
            Step::Detach => "detach",
            Step::Unlink => "remove the mount point of",
            Step::DropToApp => "take the app's ids and drop the capabilities to read",
            Step::Read => "read",
            Step::Write => "write",
            Step::Inspect => "inspect the mount point of",
            Step::NotRegular | Step::TooLarge => "change",
        }
    }

    /// The step's number in a helper's report.
    fn code(self) -> i64 {
        self as i64
    }

    /// The step a report names; None for a number no step has.
    fn from_code(code: i64) -> Option<Step> {
        Step::ALL.get(usize::try_from(code).ok()?).copied()
    }
}

/// The step that failed and its errno.
pub(super) type Failed = (Step, i32);

/// The outcome of a raw syscall that returned `rc`.
pub(super) fn step(n: Step, rc: libc::c_long) -> Result<libc::c_long, Failed> {
    if rc < 0 {
        Err((n, errno()))
    } else {
        Ok(rc)
    }
}

/// The outcome of a call through [`sys`], as [`step`] gives it for a raw one.
pub(super) fn sys_step<T>(n: Step, result: io::Result<T>) -> Result<T, Failed> {
    result.map_err(|e| (n, e.raw_os_error().unwrap_or(libc::EIO)))
}

/// This thread's errno.
pub(super) fn errno() -> i32 {
    // SAFETY: reads this thread's errno.
    unsafe { *libc::__errno_location() }
}

/// Neither a symlink nor a magic link is followed inside the sandbox.
pub(super) const RESOLVE: ResolveFlags =
    ResolveFlags::NO_SYMLINKS.union(ResolveFlags::NO_MAGICLINKS);

/// The sandbox's user and mount namespaces, opened from wsbox.
pub(super) struct Namespaces {
    user: OwnedFd,
    mnt: OwnedFd,
}

impl Namespaces {
    /// In the helper: enters the sandbox's mount namespace.
    pub(super) fn join_mount_ns(&self) -> Result<(), Failed> {
        // SAFETY: setns with an fd this struct holds, in the single-threaded
        // helper; it changes this process alone.
        let rc = unsafe { libc::setns(self.mnt.as_raw_fd(), libc::CLONE_NEWNS) };
        step(Step::JoinMountNs, rc as _).map(drop)
    }
}

/// The processes whose /proc entries lead into the sandbox: pid 1, then its
/// children. pid 1 is not dumpable, so an unprivileged wsbox reaches the
/// namespaces through the app instead.
fn candidates(pid1: i32) -> Vec<i32> {
    let mut pids = vec![pid1];
    if let Ok(text) = std::fs::read_to_string(format!("/proc/{pid1}/task/{pid1}/children")) {
        pids.extend(
            text.split_whitespace()
                .filter_map(|p| p.parse::<i32>().ok()),
        );
    }
    pids
}

/// Whether the process behind `pidfd` has not exited.
fn alive(pidfd: &OwnedFd) -> bool {
    let mut poll = libc::pollfd {
        fd: pidfd.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd, no waiting.
    unsafe { libc::poll(&mut poll, 1, 0) == 0 }
}

/// The parent pid of `pid`, from /proc/PID/stat.
fn parent_of(pid: i32) -> Option<i32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (_, rest) = stat.rsplit_once(')')?;
    rest.split_whitespace().nth(1)?.parse().ok()
}

/// The sandbox's user and mount namespaces. A pid is reached through a
/// pidfd taken first: a child of pid 1 must still have pid 1 as its parent,
/// and the process must still be alive after its entries were opened, so a
/// pid reused in between is never entered.
pub(super) fn namespaces(pid1: i32) -> Result<Namespaces, Error> {
    let mut last = io::Error::from_raw_os_error(libc::ESRCH);
    for pid in candidates(pid1) {
        let pidfd = match sys::pidfd_open(pid, PidfdFlags::empty()) {
            Ok(fd) => fd,
            Err(e) => {
                last = e;
                continue;
            }
        };
        if pid != pid1 && parent_of(pid) != Some(pid1) {
            continue;
        }
        let open = |entry: &str| {
            let c = CString::new(format!("/proc/{pid}/{entry}"))
                .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
            sys::openat2(sys::CWD, &c, OFlags::RDONLY, ResolveFlags::empty())
        };
        match open("ns/user").and_then(|user| Ok((user, open("ns/mnt")?))) {
            Ok((user, mnt)) if alive(&pidfd) => return Ok(Namespaces { user, mnt }),
            Ok(_) => last = io::Error::from_raw_os_error(libc::ESRCH),
            Err(e) => last = e,
        }
    }
    Err(Error::Reach {
        pid: pid1,
        source: last,
    })
}

/// The first thing a helper does: it dies with the thread that forked it,
/// nothing in the sandbox may ptrace it, and it joins the sandbox's user
/// namespace, where it has every capability.
fn enter(ns: &Namespaces) -> Result<(), Failed> {
    // SAFETY: prctl with integer arguments and setns with an fd `ns` holds,
    // in the single-threaded helper; they change this process alone.
    unsafe {
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong);
        libc::prctl(libc::PR_SET_DUMPABLE, 0 as libc::c_ulong);
        step(
            Step::JoinUserNs,
            libc::setns(ns.user.as_raw_fd(), libc::CLONE_NEWUSER) as _,
        )?;
    }
    Ok(())
}

/// Forks a helper that enters the sandbox's user namespace and runs `job`
/// there, and waits for it: what `job` returned (the mount id of an
/// attached tree, the size of a copy), or the step that failed and its
/// errno. `job` runs in the forked child: raw syscalls only, on what was
/// made before the fork.
pub(super) fn run(
    ns: &Namespaces,
    shown: &Path,
    job: impl FnOnce() -> Result<u64, Failed>,
) -> Result<Result<u64, Failed>, Error> {
    let (read, write) =
        nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|e| Error::Step {
            step: "create a pipe for",
            path: shown.to_owned(),
            error: e.into(),
        })?;
    // SAFETY: the child makes raw syscalls only, then _exits.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(Error::Step {
            step: "fork a helper for",
            path: shown.to_owned(),
            error: io::Error::last_os_error(),
        });
    }
    if pid == 0 {
        drop(read);
        let report: [i64; 3] = match enter(ns).and_then(|()| job()) {
            Ok(value) => [-1, 0, value as i64],
            Err((step, errno)) => [step.code(), errno as i64, 0],
        };
        // SAFETY: write and _exit are async-signal-safe; report outlives it.
        unsafe {
            libc::write(
                write.as_raw_fd(),
                report.as_ptr().cast(),
                std::mem::size_of_val(&report),
            );
            libc::_exit(0);
        }
    }
    drop(write);
    let mut bytes = [0u8; 24];
    let mut file = std::fs::File::from(read);
    let got = file.read_exact(&mut bytes);
    let mut status = 0;
    // SAFETY: waits for our own child.
    unsafe { libc::waitpid(pid, &mut status, 0) };
    if got.is_err() {
        return Err(Error::Step {
            step: "run the helper for",
            path: shown.to_owned(),
            error: io::Error::other("it died"),
        });
    }
    let word = |i: usize| {
        let mut b = [0u8; 8];
        b.copy_from_slice(&bytes[i * 8..i * 8 + 8]);
        i64::from_ne_bytes(b)
    };
    let (code, errno, value) = (word(0), word(1), word(2));
    if code < 0 {
        return Ok(Ok(value as u64));
    }
    match Step::from_code(code) {
        Some(step) => Ok(Err((step, errno as i32))),
        None => Err(Error::Step {
            step: "change",
            path: shown.to_owned(),
            error: io::Error::from_raw_os_error(errno as i32),
        }),
    }
}

/// The error of a helper that failed at `failed`, about `shown`.
pub(super) fn step_error(failed: Failed, shown: &Path) -> Error {
    let (step, errno) = failed;
    Error::Step {
        step: step.action(),
        path: shown.to_owned(),
        error: io::Error::from_raw_os_error(errno),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_step_comes_back_from_its_code_in_a_report() {
        for (i, step) in Step::ALL.iter().enumerate() {
            assert_eq!(
                step.code(),
                i as i64,
                "{step:?} is out of order in Step::ALL"
            );
            assert_eq!(Step::from_code(step.code()), Some(*step));
        }
        assert_eq!(Step::from_code(-1), None);
        assert_eq!(Step::from_code(Step::ALL.len() as i64), None);
        assert_eq!(
            Step::JoinMountNs.action(),
            "join the sandbox's mount namespace"
        );
    }
}
