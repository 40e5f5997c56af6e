//! wsbox confines itself once the sandbox is running: its compositor parses
//! everything a hostile app sends, so a bug in a protocol handler must not
//! reach the rest of the system.
//!
//! - seccomp: the allowlist [`crate::seccomp_rules::WSBOX_ALLOWED`] (every
//!   other syscall fails with EPERM, and the kernel logs it), plus the
//!   terminal-injection ioctls refused, on every thread;
//! - Landlock: files only in wsbox's runtime directory (and, for
//!   `--screenshot`, the directory the PNG goes to), reads only of what
//!   [`Confinement::read`] lists; no TCP at all unless
//!   [`Confinement::tcp_connect`] names a port; no abstract unix sockets.
//!
//! Everything wsbox needs afterwards must be open before: the Wayland and
//! control sockets, the host connection, the sandbox's signalfd, fonts and
//! keymaps. This module never opens anything itself but the rule paths.

use std::path::{Path, PathBuf};

use landlock::{
    Access, AccessFs, AccessNet, CompatLevel, Compatible, NetPort, PathBeneath, PathFd, Ruleset,
    RulesetAttr, RulesetCreatedAttr, RulesetStatus, Scope, ABI,
};

use crate::seccomp::{self, Filter};

/// Errors confining wsbox.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("failed to set no_new_privs on wsbox: {0}")]
    NoNewPrivs(std::io::Error),
    #[error("failed to open {path} for wsbox's Landlock rules: {source}")]
    Path {
        path: PathBuf,
        source: landlock::PathFdError,
    },
    #[error("failed to apply wsbox's Landlock rules: {0}")]
    Landlock(#[from] landlock::RulesetError),
    #[error("failed to load wsbox's seccomp filter: {0}")]
    Seccomp(#[from] seccomp::Error),
}

/// What wsbox keeps once confined. Other features add to it here.
#[derive(Debug, Clone, Default)]
pub struct Confinement {
    /// Directories wsbox may create, write and remove files in (beneath).
    pub write: Vec<PathBuf>,
    /// Directories wsbox may create and write new files in, but not read or
    /// remove anything (the screenshot's directory).
    pub create: Vec<PathBuf>,
    /// Directories whose direct children wsbox may remove (the parent of
    /// its runtime directory, which it removes when it ends).
    pub remove_children: Vec<PathBuf>,
    /// Paths wsbox may still read (beneath).
    pub read: Vec<PathBuf>,
    /// TCP ports the process may connect to: the upstreams of the Tor
    /// mode's relay and of `--net-forward` (the relay process).
    pub tcp_connect: Vec<u16>,
    /// Whether the process may make TCP sockets and connect them (the
    /// relay process's seccomp filter, `Filter::wsbox_relay`).
    pub tcp_sockets: bool,
}

/// What was applied, for the log and the tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// "full", "partial" or "none" (no Landlock in this kernel).
    pub landlock: &'static str,
    pub landlock_abi: i32,
    /// seccomp filters loaded.
    pub seccomp_filters: usize,
}

fn abi_from(version: i32) -> ABI {
    match version {
        ..=0 => ABI::Unsupported,
        1 => ABI::V1,
        2 => ABI::V2,
        3 => ABI::V3,
        4 => ABI::V4,
        5 => ABI::V5,
        6 => ABI::V6,
        _ => ABI::V7,
    }
}

impl Confinement {
    /// Confines the calling process: no_new_privs, Landlock (on this thread,
    /// so call it from the main thread before threads that must be confined
    /// are started), then seccomp on every thread.
    pub fn apply(&self) -> Result<Report, Error> {
        // SAFETY: plain prctl.
        if unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } != 0 {
            return Err(Error::NoNewPrivs(std::io::Error::last_os_error()));
        }
        let (landlock, landlock_abi) = match crate::landlock::kernel_abi() {
            Ok(version) => (self.landlock(version)?, version),
            Err(why) => {
                tracing::warn!(reason = %why, "wsbox runs without its own Landlock rules");
                ("none", 0)
            }
        };
        // The allowlist last: it refuses seccomp(2) itself.
        Filter::wsbox_tty()?.load_all_threads()?;
        let allowlist = if self.tcp_sockets {
            Filter::wsbox_relay()?
        } else {
            Filter::wsbox()?
        };
        allowlist.load_all_threads()?;
        Ok(Report {
            landlock,
            landlock_abi,
            seccomp_filters: 2,
        })
    }

    fn landlock(&self, version: i32) -> Result<&'static str, Error> {
        let abi = abi_from(version);
        let open = |path: &Path| {
            PathFd::new(path).map_err(|source| Error::Path {
                path: path.to_owned(),
                source,
            })
        };
        let all = AccessFs::from_all(abi);
        let read = AccessFs::from_read(abi);
        let mut ruleset = Ruleset::default()
            .set_compatibility(CompatLevel::BestEffort)
            .handle_access(all)?;
        if abi >= ABI::V4 {
            ruleset = ruleset.handle_access(AccessNet::from_all(abi))?;
        }
        if abi >= ABI::V6 {
            // Not Scope::Signal: wsbox signals the sandbox's pid 1, which
            // was started before this domain existed.
            ruleset = ruleset.scope(Scope::AbstractUnixSocket)?;
        }
        let mut created = ruleset.create()?;
        for path in &self.write {
            created = created.add_rule(PathBeneath::new(open(path)?, all))?;
        }
        let mut create = AccessFs::MakeReg | AccessFs::WriteFile;
        if abi >= ABI::V3 {
            create |= AccessFs::Truncate;
        }
        for path in &self.create {
            created = created.add_rule(PathBeneath::new(open(path)?, create))?;
        }
        for path in &self.remove_children {
            created = created.add_rule(PathBeneath::new(
                open(path)?,
                AccessFs::RemoveDir | AccessFs::ReadDir,
            ))?;
        }
        for path in &self.read {
            // A path this machine lacks (fonts elsewhere) needs no rule.
            if path.exists() {
                created = created.add_rule(PathBeneath::new(open(path)?, read))?;
            }
        }
        if abi >= ABI::V4 {
            for port in &self.tcp_connect {
                created = created.add_rule(NetPort::new(*port, AccessNet::ConnectTcp))?;
            }
        }
        let status = created.restrict_self()?;
        Ok(match status.ruleset {
            RulesetStatus::FullyEnforced => "full",
            RulesetStatus::PartiallyEnforced => "partial",
            RulesetStatus::NotEnforced => "none",
        })
    }
}

#[cfg(test)]
mod tests {
    //! Each test forks: the child confines itself like wsbox and reports
    //! through its exit code.

    use super::*;
    use crate::testutil::in_child;

    #[test]
    fn confined_wsbox_keeps_its_directory_and_loses_the_rest() {
        if crate::landlock::kernel_abi().is_err() {
            if std::env::var_os("WSBOX_MUST_WORK").is_some() {
                panic!("Landlock is unavailable but WSBOX_MUST_WORK is set");
            }
            eprintln!(
                "SKIPPED: confined_wsbox_keeps_its_directory_and_loses_the_rest: no Landlock"
            );
            return;
        }
        let base = std::env::temp_dir().join(format!("wsbox-self-confine-{}", std::process::id()));
        let dir = base.join("instance");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(base.join("outside"), "x").unwrap();
        let (b, d) = (base.clone(), dir.clone());
        let code = in_child(move || {
            let confinement = Confinement {
                write: vec![d.clone()],
                remove_children: vec![b.clone()],
                ..Confinement::default()
            };
            if let Err(e) = confinement.apply() {
                eprintln!("{e}");
                return 50;
            }
            let errno =
                |r: std::io::Result<()>| r.err().and_then(|e| e.raw_os_error()).unwrap_or(0);
            let inside = errno(std::fs::write(d.join("state.json"), "{}"));
            let outside = errno(std::fs::read(b.join("outside")).map(drop));
            // Not in the allowlist: EPERM, not death.
            // SAFETY: plain syscalls with no pointers.
            let setuid = unsafe { libc::syscall(libc::SYS_setuid, 0) };
            let setuid_errno = std::io::Error::last_os_error().raw_os_error().unwrap_or(0);
            // No sockets may be made: a unix socket could reach the
            // session bus, UDP is beyond Landlock's network rules, TCP is
            // for the relay process only.
            // SAFETY: as above.
            let unix = unsafe { libc::socket(libc::AF_UNIX, libc::SOCK_STREAM, 0) };
            // SAFETY: as above.
            let udp = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM, 0) };
            // SAFETY: as above.
            let tcp = unsafe { libc::socket(libc::AF_INET, libc::SOCK_STREAM, 0) };
            let sock = unix.max(udp).max(tcp);
            let removed = errno(std::fs::remove_dir_all(&d));
            match (inside, outside, setuid, setuid_errno, sock, removed) {
                (0, libc::EACCES, -1, libc::EPERM, -1, 0) => 0,
                (a, b, c, e, f, g) => {
                    eprintln!("inside {a} outside {b} setuid {c}/{e} socket {f} removed {g}");
                    1
                }
            }
        });
        let _ = std::fs::remove_dir_all(&base);
        assert_eq!(code, 0);
    }

    #[test]
    fn confined_wsbox_connects_only_to_its_upstream_ports() {
        if crate::landlock::kernel_abi().map_or(true, |abi| abi < 4) {
            if std::env::var_os("WSBOX_MUST_WORK").is_some() {
                panic!("Landlock ABI 4 (TCP rules) is unavailable but WSBOX_MUST_WORK is set");
            }
            eprintln!(
                "SKIPPED: confined_wsbox_connects_only_to_its_upstream_ports: no Landlock ABI 4"
            );
            return;
        }
        let upstream = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let other = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let up = upstream.local_addr().unwrap().port();
        let not = other.local_addr().unwrap().port();
        let code = in_child(move || {
            let confinement = Confinement {
                tcp_connect: vec![up],
                tcp_sockets: true,
                ..Confinement::default()
            };
            if let Err(e) = confinement.apply() {
                eprintln!("{e}");
                return 50;
            }
            let connect = |port| {
                std::net::TcpStream::connect(("127.0.0.1", port))
                    .err()
                    .and_then(|e| e.raw_os_error())
                    .unwrap_or(0)
            };
            match (connect(up), connect(not)) {
                (0, libc::EACCES) => 0,
                (a, b) => {
                    eprintln!("upstream {a} other {b}");
                    1
                }
            }
        });
        drop((upstream, other));
        assert_eq!(code, 0);
    }
}
