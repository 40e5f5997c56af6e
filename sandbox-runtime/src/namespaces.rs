//! Namespaces: creating them, writing the id maps from outside, and the
//! per-namespace identity (host name, loopback) set up from inside.

use std::io;
use std::path::Path;

use nix::unistd::Pid;

use crate::plan::{HostIds, SANDBOX_GID, SANDBOX_UID};

/// Errors of namespace creation and setup.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("user namespaces are not available: {0}")]
    UserNamespaces(String),
    #[error("failed to create the sandbox namespaces (clone): {0}")]
    Clone(io::Error),
    #[error("failed to write {path}: {source}")]
    IdMap { path: String, source: io::Error },
    #[error("failed to set the host name to {name}: {source}")]
    Hostname { name: String, source: nix::Error },
    #[error("failed to bring up the loopback interface: {0}")]
    Loopback(io::Error),
}

/// Every namespace a sandbox gets.
pub const SANDBOX_NAMESPACES: libc::c_int = libc::CLONE_NEWUSER
    | libc::CLONE_NEWNS
    | libc::CLONE_NEWPID
    | libc::CLONE_NEWNET
    | libc::CLONE_NEWIPC
    | libc::CLONE_NEWUTS
    | libc::CLONE_NEWCGROUP;

/// Fails with a reason when the kernel does not let this user create user
/// namespaces. The clone itself is the final word; this gives a better
/// message once it has failed.
pub fn check_user_namespaces() -> Result<(), Error> {
    let read = |p: &str| std::fs::read_to_string(p).ok().map(|s| s.trim().to_owned());
    if !Path::new("/proc/self/ns/user").exists() {
        return Err(Error::UserNamespaces(
            "the kernel was built without CONFIG_USER_NS".into(),
        ));
    }
    if read("/proc/sys/user/max_user_namespaces").as_deref() == Some("0") {
        return Err(Error::UserNamespaces(
            "/proc/sys/user/max_user_namespaces is 0".into(),
        ));
    }
    // SAFETY: no arguments.
    let root = unsafe { libc::geteuid() } == 0;
    if !root && read("/proc/sys/kernel/unprivileged_userns_clone").as_deref() == Some("0") {
        return Err(Error::UserNamespaces(
            "/proc/sys/kernel/unprivileged_userns_clone is 0".into(),
        ));
    }
    if !root
        && read("/proc/sys/kernel/apparmor_restrict_unprivileged_userns").as_deref() == Some("1")
    {
        return Err(Error::UserNamespaces(
            "AppArmor restricts unprivileged user namespaces \
             (kernel.apparmor_restrict_unprivileged_userns = 1)"
                .into(),
        ));
    }
    Ok(())
}

/// Forks into new namespaces ([`SANDBOX_NAMESPACES`], without a network
/// namespace of its own when `share_net`). Returns `Pid(0)` in the child,
/// which is pid 1 of the new PID namespace, and the child's pid in the parent.
///
/// # Safety
/// Like fork(2): the caller must be single-threaded, or the child may only
/// call async-signal-safe functions.
pub unsafe fn clone_into_namespaces(share_net: bool) -> Result<Pid, Error> {
    let namespaces = if share_net {
        SANDBOX_NAMESPACES & !libc::CLONE_NEWNET
    } else {
        SANDBOX_NAMESPACES
    };
    // SAFETY: a fork-like clone (no CLONE_VM, no new stack): the child gets a
    // copy of the address space and returns here, as from fork(2).
    let rc = unsafe {
        libc::syscall(
            libc::SYS_clone,
            (namespaces | libc::SIGCHLD) as libc::c_ulong,
            std::ptr::null_mut::<libc::c_void>(),
            std::ptr::null_mut::<libc::c_int>(),
            std::ptr::null_mut::<libc::c_int>(),
            0 as libc::c_ulong,
        )
    };
    if rc < 0 {
        let err = io::Error::last_os_error();
        return Err(match err.raw_os_error() {
            Some(libc::EPERM) | Some(libc::ENOSPC) | Some(libc::EUSERS) => {
                check_user_namespaces().err().unwrap_or_else(|| {
                    Error::UserNamespaces(format!("clone(CLONE_NEWUSER) failed: {err}"))
                })
            }
            // EINVAL without CONFIG_USER_NS, EACCES from a security module.
            Some(libc::EINVAL) | Some(libc::EACCES) => {
                check_user_namespaces().err().unwrap_or(Error::Clone(err))
            }
            _ => Error::Clone(err),
        });
    }
    Ok(Pid::from_raw(rc as libc::pid_t))
}

/// Writes the uid and gid maps of `child` from the parent: the app's
/// [`SANDBOX_UID`]/[`SANDBOX_GID`] map to `ids`, nothing else is mapped.
pub fn write_id_maps(child: Pid, ids: HostIds) -> Result<(), Error> {
    let write = |name: &str, contents: String| {
        let path = format!("/proc/{child}/{name}");
        std::fs::write(&path, contents).map_err(|source| Error::IdMap { path, source })
    };
    if !ids.privileged {
        // Unprivileged: the kernel requires setgroups to be denied before
        // gid_map is written. The user keeps the supplementary groups it has.
        write("setgroups", "deny".into())?;
    }
    write("uid_map", format!("{SANDBOX_UID} {} 1\n", ids.uid))?;
    write("gid_map", format!("{SANDBOX_GID} {} 1\n", ids.gid))?;
    Ok(())
}

/// How many namespaces of each kind the app may create nested in its
/// sandbox with `nested_userns`: a browser makes one set per content
/// process.
pub const NESTED_LIMIT: u64 = 128;

/// With `nested`, caps the namespaces created in the sandbox's user
/// namespace (`/proc/sys/user/max_*_namespaces`, counted per user
/// namespace) to [`NESTED_LIMIT`] of each kind the filter lets the app
/// create, so that an app cannot use up the user's namespaces for the rest
/// of the host. Without it nothing is changed: the filter refuses every
/// kind, and wsbox's own helpers that enter the sandbox's user namespace
/// make namespaces of their own there (pasta and slirp4netns isolate
/// themselves, the file broker makes mount namespaces), which a limit of 0
/// would refuse. Run by pid 1 while it still has its capabilities in the
/// sandbox's user namespace; a limit the kernel lacks is skipped.
pub fn limit_nested(nested: bool) -> Result<(), Error> {
    if !nested {
        return Ok(());
    }
    for kind in ["user", "pid", "net", "ipc", "uts"] {
        let path = format!("/proc/sys/user/max_{kind}_namespaces");
        match std::fs::write(&path, format!("{NESTED_LIMIT}\n")) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(source) => return Err(Error::IdMap { path, source }),
        }
    }
    Ok(())
}

/// Sets the UTS namespace's host name.
pub fn set_hostname(name: &str) -> Result<(), Error> {
    nix::unistd::sethostname(name).map_err(|source| Error::Hostname {
        name: name.to_owned(),
        source,
    })
}

/// Brings up `lo` in the new network namespace, which starts down.
pub fn loopback_up() -> Result<(), Error> {
    // SAFETY: plain socket(2); the fd is closed below.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(Error::Loopback(io::Error::last_os_error()));
    }
    // SAFETY: ifreq is plain data; zero is a valid value.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in req.ifr_name.iter_mut().zip(b"lo\0") {
        *dst = *src as libc::c_char;
    }
    // SAFETY: `req` is a valid ifreq naming "lo"; the kernel fills ifru_flags.
    let result = unsafe {
        if libc::ioctl(fd, libc::SIOCGIFFLAGS, &mut req) < 0 {
            Err(io::Error::last_os_error())
        } else {
            req.ifr_ifru.ifru_flags |= (libc::IFF_UP | libc::IFF_RUNNING) as libc::c_short;
            if libc::ioctl(fd, libc::SIOCSIFFLAGS, &req) < 0 {
                Err(io::Error::last_os_error())
            } else {
                Ok(())
            }
        }
    };
    // SAFETY: `fd` is ours.
    unsafe { libc::close(fd) };
    result.map_err(Error::Loopback)
}
