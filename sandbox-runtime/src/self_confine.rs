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
    #[error("Landlock is unavailable ({0}); set security.landlock = \"best-effort\" in the policy to run without it")]
    NoLandlock(String),
    #[error("wsbox has {0} threads when it confines itself; threads started before keep their file access and capabilities")]
    Threads(usize),
    #[error("failed to drop wsbox's capabilities: {0}")]
    Capabilities(String),
}

/// What wsbox keeps once confined. Other features add to it here.
#[derive(Debug, Clone, Default)]
pub struct Confinement {
    /// Directories wsbox may create, write and remove files in (beneath).
    pub write: Vec<PathBuf>,
    /// Directories wsbox may create and write new files in, but not read or
    /// remove anything (the screenshot's directory).
    pub create: Vec<PathBuf>,
    /// Paths wsbox may still read (beneath).
    pub read: Vec<PathBuf>,
    /// Directories beneath which wsbox may remove directories, and do
    /// nothing else (where the sandbox's cgroup was made).
    pub remove_dirs: Vec<PathBuf>,
    /// TCP ports the process may connect to: the upstreams of the Tor
    /// mode's relay and of `--net-forward` (the relay process).
    pub tcp_connect: Vec<u16>,
    /// Whether the process may make TCP sockets and connect them (the
    /// relay process's seccomp filter, `Filter::wsbox_relay`).
    pub tcp_sockets: bool,
    /// Whether the process may make unix stream sockets and connect them
    /// (the audio helper's seccomp filter, `Filter::wsbox_audio`).
    pub unix_sockets: bool,
    /// Run without Landlock when the kernel lacks it (the policy's
    /// `security.landlock = "best-effort"`); otherwise that is an error.
    pub landlock_optional: bool,
    /// The only processes the confined process may signal with kill(2)
    /// (the sandbox's pid 1, wsbox's helpers); tgkill(2) reaches only its
    /// own threads. Empty: no kill(2) at all.
    pub signal_pids: Vec<i32>,
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
        // Landlock and the capability sets bind this thread only (seccomp
        // is synced to all): a thread started before would keep them.
        let threads = std::fs::read_dir("/proc/self/task").map_or(0, |d| d.count());
        if threads != 1 {
            return Err(Error::Threads(threads));
        }
        // SAFETY: plain prctl.
        if unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } != 0 {
            return Err(Error::NoNewPrivs(std::io::Error::last_os_error()));
        }
        let (landlock, landlock_abi) = match crate::landlock::kernel_abi() {
            Ok(version) => (self.landlock(version)?, version),
            Err(why) if self.landlock_optional => {
                tracing::warn!(reason = %why, "wsbox runs without its own Landlock rules");
                ("none", 0)
            }
            Err(why) => return Err(Error::NoLandlock(why.to_string())),
        };
        drop_capabilities()?;
        // The allowlist last: it refuses seccomp(2) itself.
        Filter::wsbox_tty()?.load_all_threads()?;
        // SAFETY: no arguments.
        let own = unsafe { libc::getpid() };
        Filter::signals_only_to(&self.signal_pids, own).load_all_threads()?;
        let allowlist = if self.tcp_sockets {
            Filter::wsbox_relay()?
        } else if self.unix_sockets {
            Filter::wsbox_audio()?
        } else {
            Filter::wsbox()?
        };
        allowlist.load_all_threads()?;
        Ok(Report {
            landlock,
            landlock_abi,
            seccomp_filters: 3,
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
        for path in &self.remove_dirs {
            created = created.add_rule(PathBeneath::new(open(path)?, AccessFs::RemoveDir))?;
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

/// Drops every capability of the calling thread (wsbox has no other when
/// it confines itself): as root, wsbox would otherwise keep CAP_KILL,
/// CAP_NET_ADMIN, CAP_DAC_OVERRIDE... The bounding set and securebits need
/// CAP_SETPCAP, so they are dropped only when it is there (as root).
pub fn drop_capabilities() -> Result<(), Error> {
    use caps::{CapSet, Capability};
    let fail = |what: &str| {
        let what = what.to_owned();
        move |e: caps::errors::CapsError| Error::Capabilities(format!("{what}: {e}"))
    };
    if caps::has_cap(None, CapSet::Effective, Capability::CAP_SETPCAP)
        .map_err(fail("read capabilities"))?
    {
        caps::clear(None, CapSet::Bounding).map_err(fail("the bounding set"))?;
    }
    caps::clear(None, CapSet::Ambient).map_err(fail("the ambient set"))?;
    caps::clear(None, CapSet::Inheritable).map_err(fail("the inheritable set"))?;
    caps::clear(None, CapSet::Effective).map_err(fail("the effective set"))?;
    caps::clear(None, CapSet::Permitted).map_err(fail("the permitted set"))?;
    Ok(())
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
            // It may empty its directory, but not remove it: that needs a
            // rule on the directory beside the other instances' (the broker
            // removes it).
            let emptied = errno(std::fs::remove_file(d.join("state.json")));
            let removed = errno(std::fs::remove_dir(&d));
            match (
                inside,
                outside,
                setuid,
                setuid_errno,
                sock,
                (emptied, removed),
            ) {
                (0, libc::EACCES, -1, libc::EPERM, -1, (0, libc::EACCES)) => 0,
                (a, b, c, e, f, (g, h)) => {
                    eprintln!(
                        "inside {a} outside {b} setuid {c}/{e} socket {f} emptied {g} removed {h}"
                    );
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

    #[test]
    fn confined_wsbox_signals_only_its_sandbox_and_keeps_no_capabilities() {
        let mut victim = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        let mut target = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        let (v, t) = (victim.id() as i32, target.id() as i32);
        let code = in_child(move || {
            let confinement = Confinement {
                signal_pids: vec![t],
                landlock_optional: true,
                ..Confinement::default()
            };
            if let Err(e) = confinement.apply() {
                eprintln!("{e}");
                return 50;
            }
            let errno = |rc: libc::c_long| {
                if rc < 0 {
                    std::io::Error::last_os_error()
                        .raw_os_error()
                        .unwrap_or(255)
                } else {
                    0
                }
            };
            // SAFETY: plain syscalls with integer arguments.
            let (own, tid) = unsafe { (libc::getpid(), libc::gettid()) };
            // SAFETY: as above; signal 0 only checks permission.
            let kill_other = errno(unsafe { libc::syscall(libc::SYS_kill, v, libc::SIGKILL) });
            // SAFETY: as above.
            let kill_group = errno(unsafe { libc::syscall(libc::SYS_kill, -t, 0) });
            // SAFETY: as above.
            let kill_all = errno(unsafe { libc::syscall(libc::SYS_kill, -1, 0) });
            // SAFETY: as above.
            let kill_sandbox = errno(unsafe { libc::syscall(libc::SYS_kill, t, 0) });
            // SAFETY: as above.
            let tgkill_own = errno(unsafe { libc::syscall(libc::SYS_tgkill, own, tid, 0) });
            // SAFETY: as above.
            let tgkill_other = errno(unsafe { libc::syscall(libc::SYS_tgkill, v, v, 0) });
            // SAFETY: as above.
            let tkill = errno(unsafe { libc::syscall(libc::SYS_tkill, v, 0) });
            let pidfd = crate::sys::pidfd_open(v, crate::sys::PidfdFlags::empty())
                .map_or_else(|e| e.raw_os_error().unwrap_or(255), |_| 0);
            // SAFETY: as above; a failed clone returns in this process.
            let clone_user = errno(unsafe {
                libc::syscall(
                    libc::SYS_clone,
                    (libc::CLONE_NEWUSER | libc::SIGCHLD) as libc::c_ulong,
                    0usize,
                    0usize,
                    0usize,
                    0usize,
                )
            });
            // SAFETY: as above; null arguments.
            let clone3 = errno(unsafe { libc::syscall(libc::SYS_clone3, 0usize, 0usize) });
            // SAFETY: as above.
            let dumpable =
                errno(unsafe { libc::syscall(libc::SYS_prctl, libc::PR_SET_DUMPABLE, 1) });
            // SAFETY: as above.
            let ptracer = errno(unsafe {
                libc::syscall(
                    libc::SYS_prctl,
                    libc::PR_SET_PTRACER,
                    libc::PR_SET_PTRACER_ANY,
                )
            });
            let mut pipe = [0; 2];
            // SAFETY: pipe2 writes two fds into `pipe`.
            unsafe { libc::pipe2(pipe.as_mut_ptr(), libc::O_CLOEXEC) };
            let on = 1;
            // SAFETY: FIONBIO reads one int.
            let fionbio = errno(unsafe { libc::ioctl(pipe[0], libc::FIONBIO, &on) } as _);
            // SAFETY: FIOASYNC reads one int.
            let fioasync = errno(unsafe { libc::ioctl(pipe[0], libc::FIOASYNC, &on) } as _);
            // Threads still start (clone3 ENOSYS, then clone) and are named.
            let thread = std::thread::Builder::new()
                .name("confined".into())
                .spawn(|| 7)
                .ok()
                .and_then(|h| h.join().ok());
            let got = (
                kill_other,
                kill_group,
                kill_all,
                kill_sandbox,
                tgkill_own,
                tgkill_other,
                tkill,
                pidfd,
            );
            let eperm = libc::EPERM;
            let want = (eperm, eperm, eperm, 0, 0, eperm, eperm, eperm);
            let more = (
                clone_user, clone3, dumpable, ptracer, thread, fionbio, fioasync,
            );
            let want_more = (eperm, libc::ENOSYS, eperm, eperm, Some(7), 0, eperm);
            if got == want && more == want_more {
                0
            } else {
                eprintln!("signals {got:?} want {want:?}; {more:?} want {want_more:?}");
                1
            }
        });
        // The victim was never signalled: still running.
        let alive = victim.try_wait().unwrap().is_none();
        let _ = victim.kill();
        let _ = target.kill();
        let _ = victim.wait();
        let _ = target.wait();
        assert_eq!(code, 0);
        assert!(alive, "the confined process killed another process");
    }

    #[test]
    fn confinement_refuses_extra_threads() {
        let code = in_child(|| {
            let (tx, rx) = std::sync::mpsc::channel::<()>();
            let thread = std::thread::spawn(move || rx.recv().is_ok());
            let refused = matches!(
                Confinement::default().apply(),
                Err(Error::Threads(n)) if n == 2
            );
            drop(tx);
            let _ = thread.join();
            if refused {
                0
            } else {
                1
            }
        });
        assert_eq!(code, 0);
    }

    #[test]
    fn confined_wsbox_keeps_no_capabilities() {
        let (read, write) = nix::unistd::pipe().unwrap();
        // SAFETY: the child makes syscalls, waits and exits.
        let pid = unsafe { libc::fork() };
        if pid == 0 {
            drop(read);
            let confinement = Confinement {
                landlock_optional: true,
                ..Confinement::default()
            };
            let code = match confinement.apply() {
                Ok(_) => 0,
                Err(_) => 50,
            };
            let _ = nix::unistd::write(&write, b"x");
            // Until the test has looked (the pipe's other end closes).
            let _ = nix::unistd::write(&write, &[0u8; 65536 * 2]);
            // SAFETY: leave without running the harness's destructors.
            unsafe { libc::_exit(code) }
        }
        drop(write);
        let mut byte = [0u8; 1];
        let _ = nix::unistd::read(&read, &mut byte);
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
        drop(read);
        let mut code = 0;
        // SAFETY: waiting for our own child.
        unsafe { libc::waitpid(pid, &mut code, 0) };
        assert!(
            libc::WIFEXITED(code) && libc::WEXITSTATUS(code) == 0,
            "{code}"
        );
        for set in ["CapEff:", "CapPrm:", "CapInh:", "CapAmb:"] {
            let line = status.lines().find(|l| l.starts_with(set)).unwrap();
            assert_eq!(
                line.trim_start_matches(set).trim(),
                "0000000000000000",
                "{set}"
            );
        }
        // SAFETY: no arguments.
        if unsafe { libc::geteuid() } == 0 {
            let line = status.lines().find(|l| l.starts_with("CapBnd:")).unwrap();
            assert_eq!(
                line.trim_start_matches("CapBnd:").trim(),
                "0000000000000000"
            );
        }
    }

    #[test]
    fn confined_wsbox_cannot_touch_the_other_sandboxes_directories() {
        if crate::landlock::kernel_abi().is_err() {
            if std::env::var_os("WSBOX_MUST_WORK").is_some() {
                panic!("Landlock is unavailable but WSBOX_MUST_WORK is set");
            }
            eprintln!(
                "SKIPPED: confined_wsbox_cannot_touch_the_other_sandboxes_directories: no Landlock"
            );
            return;
        }
        let base = std::env::temp_dir().join(format!("wsbox-siblings-{}", std::process::id()));
        let (own, other) = (base.join("own"), base.join("other"));
        std::fs::create_dir_all(&own).unwrap();
        std::fs::create_dir_all(&other).unwrap();
        let (b, o, d) = (base.clone(), other.clone(), own.clone());
        let code = in_child(move || {
            // As src/confine.rs confines wsbox: its own directory only.
            let confinement = Confinement {
                write: vec![d.clone()],
                ..Confinement::default()
            };
            if confinement.apply().is_err() {
                return 50;
            }
            let errno =
                |r: std::io::Result<()>| r.err().and_then(|e| e.raw_os_error()).unwrap_or(0);
            let list = errno(std::fs::read_dir(&b).map(drop));
            let remove_other = errno(std::fs::remove_dir(&o));
            let make = errno(std::fs::create_dir(b.join("new")));
            let inside = errno(std::fs::write(d.join("x"), "x"));
            // mkdir: refused by the allowlist (EPERM) before Landlock.
            match (list, remove_other, make, inside) {
                (libc::EACCES, libc::EACCES, libc::EPERM | libc::EACCES, 0) => 0,
                got => {
                    eprintln!("{got:?}");
                    1
                }
            }
        });
        let other_left = other.exists();
        let _ = std::fs::remove_dir_all(&base);
        assert_eq!(code, 0);
        assert!(other_left);
    }
}
