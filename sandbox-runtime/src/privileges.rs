//! Credentials and capabilities: taking the app's ids inside the user
//! namespace, and giving up every privilege before exec.

use std::os::fd::RawFd;

use caps::CapSet;
use nix::unistd::{Gid, Uid};

use crate::plan::{SANDBOX_GID, SANDBOX_UID};

/// Errors changing credentials.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("failed to {what}: {source}")]
    Sys {
        what: &'static str,
        source: std::io::Error,
    },
    #[error("failed to {what}: {source}")]
    Caps {
        what: &'static str,
        source: caps::errors::CapsError,
    },
}

fn sys(what: &'static str) -> impl FnOnce(nix::Error) -> Error {
    move |e| Error::Sys {
        what,
        source: e.into(),
    }
}

fn caps_err(what: &'static str) -> impl FnOnce(caps::errors::CapsError) -> Error {
    move |source| Error::Caps { what, source }
}

fn prctl(what: &'static str, option: libc::c_int, arg: libc::c_ulong) -> Result<(), Error> {
    // SAFETY: the options used here take integer arguments only.
    let rc = unsafe {
        libc::prctl(
            option,
            arg,
            0 as libc::c_ulong,
            0 as libc::c_ulong,
            0 as libc::c_ulong,
        )
    };
    if rc < 0 {
        Err(Error::Sys {
            what,
            source: std::io::Error::last_os_error(),
        })
    } else {
        Ok(())
    }
}

/// Becomes the app's uid and gid inside the namespace while keeping the
/// namespace capabilities needed for setup. When wsbox runs as root the
/// supplementary groups (host gid 0 among them) are cleared first.
pub fn become_sandbox_user(clear_groups: bool) -> Result<(), Error> {
    if clear_groups {
        nix::unistd::setgroups(&[]).map_err(sys("clear the supplementary groups"))?;
    }
    prctl("keep capabilities across setuid", libc::PR_SET_KEEPCAPS, 1)?;
    let gid = Gid::from_raw(SANDBOX_GID);
    nix::unistd::setresgid(gid, gid, gid).map_err(sys("set the sandbox gid"))?;
    let uid = Uid::from_raw(SANDBOX_UID);
    nix::unistd::setresuid(uid, uid, uid).map_err(sys("set the sandbox uid"))?;
    prctl("stop keeping capabilities", libc::PR_SET_KEEPCAPS, 0)?;
    let permitted = caps::read(None, CapSet::Permitted).map_err(caps_err("read capabilities"))?;
    caps::set(None, CapSet::Effective, &permitted).map_err(caps_err("raise capabilities"))?;
    Ok(())
}

/// Securebits that make exec never grant capabilities again and that can no
/// longer be changed: NOROOT, NO_SETUID_FIXUP and NO_CAP_AMBIENT_RAISE, each
/// with its lock, and KEEP_CAPS off and locked.
const SECUREBITS: libc::c_ulong = 0b1110_1111;

/// Drops every capability from every set and locks the securebits.
pub fn drop_capabilities() -> Result<(), Error> {
    // The bounding set and securebits need CAP_SETPCAP, so they go first.
    caps::clear(None, CapSet::Bounding).map_err(caps_err("drop the bounding set"))?;
    // pid 1 locks them before the app starts, and setting them again needs
    // the CAP_SETPCAP the app then no longer has.
    // SAFETY: PR_GET_SECUREBITS takes no pointer.
    let bits = unsafe { libc::prctl(libc::PR_GET_SECUREBITS, 0, 0, 0, 0) };
    if bits < 0 || bits as libc::c_ulong != SECUREBITS {
        prctl("lock the securebits", libc::PR_SET_SECUREBITS, SECUREBITS)?;
    }
    caps::clear(None, CapSet::Ambient).map_err(caps_err("drop the ambient set"))?;
    caps::clear(None, CapSet::Inheritable).map_err(caps_err("drop the inheritable set"))?;
    caps::clear(None, CapSet::Effective).map_err(caps_err("drop the effective set"))?;
    caps::clear(None, CapSet::Permitted).map_err(caps_err("drop the permitted set"))?;
    Ok(())
}

/// Sets no_new_privs: exec can never raise privileges (setuid bits, file caps).
pub fn no_new_privs() -> Result<(), Error> {
    prctl("set no_new_privs", libc::PR_SET_NO_NEW_PRIVS, 1)
}

/// Makes the process non-dumpable, so processes of the same uid cannot ptrace
/// it or read its memory.
pub fn not_dumpable() -> Result<(), Error> {
    prctl("make the process non-dumpable", libc::PR_SET_DUMPABLE, 0)
}

/// Asks the kernel to SIGKILL this process when its parent dies.
pub fn die_with_parent() -> Result<(), Error> {
    prctl(
        "set the parent-death signal",
        libc::PR_SET_PDEATHSIG,
        libc::SIGKILL as libc::c_ulong,
    )
}

/// Starts a new session: no controlling terminal, so TIOCSTI cannot reach the
/// terminal wsbox was started from.
pub fn new_session() -> Result<(), Error> {
    nix::unistd::setsid()
        .map(drop)
        .map_err(sys("start a new session (setsid)"))
}

/// How many fds [`close_fds_except`] keeps at most.
pub const KEEP_MAX: usize = 8;

/// Closes every fd above stderr: pid 1 keeps none of wsbox's (its sockets,
/// its lock, its event loop).
pub fn close_fds() {
    close_fds_except(&[]);
}

/// Closes every fd above stderr but those in `keep` (at most
/// [`KEEP_MAX`]; any beyond are closed too). Allocates nothing: pid 1 calls
/// it when it exits, after the app ran on its heap.
pub fn close_fds_except(keep: &[RawFd]) {
    let mut kept = [0u32; KEEP_MAX];
    let mut n = 0;
    for fd in keep.iter().filter_map(|&fd| u32::try_from(fd).ok()) {
        if fd > 2 && n < KEEP_MAX {
            kept[n] = fd;
            n += 1;
        }
    }
    let keep = &mut kept[..n];
    keep.sort_unstable();
    let mut from = 3u32;
    let mut failed = false;
    for &fd in keep.iter() {
        if fd > from {
            // SAFETY: close_range closes fds only; pid 1 uses none of them
            // but those in `keep` after this.
            failed |= unsafe { libc::syscall(libc::SYS_close_range, from, fd - 1, 0u32) } != 0;
        }
        from = from.max(fd + 1);
    }
    // SAFETY: as above.
    failed |= unsafe { libc::syscall(libc::SYS_close_range, from, u32::MAX, 0u32) } != 0;
    if failed {
        // A kernel without close_range.
        for fd in (3..1024u32).filter(|fd| !keep.contains(fd)) {
            // SAFETY: closing an fd number; a stale one fails harmlessly.
            unsafe { libc::close(fd as i32) };
        }
    }
}

/// Marks every fd above stderr close-on-exec.
pub fn close_fds_on_exec() -> Result<(), Error> {
    const CLOSE_RANGE_CLOEXEC: libc::c_uint = 1 << 2;
    // SAFETY: close_range only changes fd flags.
    let rc = unsafe { libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, CLOSE_RANGE_CLOEXEC) };
    if rc == 0 {
        return Ok(());
    }
    // Kernels before 5.11: walk the open fds.
    let fds: Vec<i32> = std::fs::read_dir("/proc/self/fd")
        .map_err(|source| Error::Sys {
            what: "list open fds",
            source,
        })?
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .filter(|fd| *fd > 2)
        .collect();
    for fd in fds {
        // SAFETY: setting FD_CLOEXEC on an fd number; a stale one fails harmlessly.
        unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) };
    }
    Ok(())
}
