//! `--net user`: keeps the firewall of the sandbox's network namespace
//! current with the host's own addresses. [`HostWatch`] follows them
//! (rtnetlink) and reloads the firewall's set (`nft`); it runs in the
//! [`HostWatcher`], a helper process forked before wsbox confines itself
//! (`crate::helper`), since the confined wsbox can neither open netlink
//! sockets nor start `nft`. On an error the helper tells wsbox, which stops
//! the sandbox, and kills the sandbox itself if wsbox does not: a host
//! address the firewall does not know must never stay reachable. The helper
//! is otherwise not confined: it runs `nft` in the sandbox's namespaces.

use std::io;
use std::net::IpAddr;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::time::Duration;

use anyhow::{Context, Result};
use nix::sys::wait::waitpid;
use nix::unistd::Pid;

use crate::helper::{fork_helper, recv, send, seqpacket_pair};
use crate::net::nftables::{self, Namespaces};
use crate::net::usernet::{host_addresses, UserNet};

/// Keeps the firewall's set of the host's addresses current: a netlink
/// socket in wsbox's (the host's) network namespace reports every address
/// added or removed (DHCP, VPN, another Wi-Fi), and each change reloads the
/// set in the sandbox's namespace. The routes pid 1 added stay as they were.
#[derive(Debug)]
pub struct HostWatch {
    sock: OwnedFd,
    namespaces: Namespaces,
    known: Vec<IpAddr>,
}

impl HostWatch {
    /// Starts watching for the sandbox of `net` and brings the set up to
    /// date at once (an address may have come since the plan).
    pub fn start(net: &UserNet) -> Result<Self> {
        // SAFETY: plain socket(2).
        let fd = unsafe {
            libc::socket(
                libc::AF_NETLINK,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK,
                libc::NETLINK_ROUTE,
            )
        };
        if fd < 0 {
            return Err(io::Error::last_os_error())
                .context("failed to watch the host's addresses (netlink socket)");
        }
        // SAFETY: just created, owned here.
        let sock = unsafe { OwnedFd::from_raw_fd(fd) };
        // SAFETY: a sockaddr_nl of zeros is valid; the groups are set below.
        let mut addr: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
        addr.nl_family = libc::AF_NETLINK as libc::sa_family_t;
        addr.nl_groups = (libc::RTMGRP_IPV4_IFADDR | libc::RTMGRP_IPV6_IFADDR) as u32;
        // SAFETY: addr is valid for the call.
        let rc = unsafe {
            libc::bind(
                sock.as_raw_fd(),
                (&addr as *const libc::sockaddr_nl).cast(),
                std::mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t,
            )
        };
        if rc < 0 {
            return Err(io::Error::last_os_error())
                .context("failed to watch the host's addresses (netlink bind)");
        }
        let mut watch = HostWatch {
            sock,
            namespaces: net
                .namespaces
                .try_clone()
                .context("failed to keep the sandbox's namespaces")?,
            known: Vec::new(),
        };
        watch.refresh()?;
        Ok(watch)
    }

    /// Reads the pending notifications and reloads the set if the host's
    /// addresses changed. An error means the set may be stale.
    pub fn on_readable(&mut self) -> Result<()> {
        let mut buf = [0u8; 8192];
        loop {
            // SAFETY: buf is valid for its length.
            let n = unsafe {
                libc::recv(
                    self.sock.as_raw_fd(),
                    buf.as_mut_ptr().cast(),
                    buf.len(),
                    libc::MSG_DONTWAIT,
                )
            };
            if n >= 0 {
                continue;
            }
            let err = io::Error::last_os_error();
            match err.raw_os_error() {
                // Dropped notifications (ENOBUFS) are fine: the addresses
                // are read anew below.
                Some(libc::EINTR) | Some(libc::ENOBUFS) => continue,
                Some(libc::EAGAIN) => break,
                _ => return Err(err).context("failed to read the host's address changes"),
            }
        }
        self.refresh()
    }

    fn refresh(&mut self) -> Result<()> {
        let mut now = host_addresses()?;
        now.sort();
        if now == self.known {
            return Ok(());
        }
        nftables::apply(&self.namespaces, &nftables::host_update(&now))?;
        tracing::debug!(addresses = ?now, "the sandbox's firewall has the host's addresses");
        self.known = now;
        Ok(())
    }
}

impl HostWatch {
    /// Every fd the watch uses, for the process it runs in
    /// ([`HostWatcher`]).
    pub fn raw_fds(&self) -> Vec<std::os::fd::RawFd> {
        let mut fds = vec![self.sock.as_raw_fd()];
        fds.extend(self.namespaces.raw_fds());
        fds
    }
}

impl AsFd for HostWatch {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.sock.as_fd()
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
    pub fn spawn(mut watch: HostWatch, pid1: Pid) -> io::Result<Self> {
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
            // SAFETY: plain signal disposition; nft is waited for.
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
fn watch_loop(watch: &mut HostWatch, wsbox: BorrowedFd<'_>) -> Option<String> {
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
