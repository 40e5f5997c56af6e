//! Long-lived helper processes (the hosts, the bench's clients) and what
//! /proc says about processes.
//!
//! A [`Process`] keeps its stderr (or stdout) in a log file, gets SIGTERM
//! when the thread that started it dies (even by SIGKILL of the test), and
//! is stopped — SIGTERM, then SIGKILL, with its whole process group when it
//! has one of its own — and reaped when dropped.

use std::fs;
use std::os::unix::fs::FileTypeExt;
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::Duration;

use crate::poll::poll_every;
use crate::run::MARK_VAR;
use crate::scratch::TempDir;

/// How long a [`Process`] has to end after SIGTERM.
const STOP_GRACE: Duration = Duration::from_secs(3);

/// A spawned process, stopped and reaped on drop.
#[derive(Debug)]
pub struct Process {
    pub child: Child,
    pub name: String,
    group: bool,
    log: PathBuf,
    status: Option<ExitStatus>,
    /// Removed once the process has ended, when the caller handed it over.
    owned: Option<TempDir>,
}

/// Where a [`Process`] writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Log {
    /// stderr into the log file; stdout as the command has it.
    Stderr,
    /// stdout into the log file and stderr piped: for reading a client's
    /// WAYLAND_DEBUG output.
    StdoutWithStderrPiped,
}

impl Process {
    /// Spawns `cmd` with no input, writing `log` as [`Log`] says, in a
    /// process group of its own when `group` is set.
    pub fn start(
        mut cmd: Command,
        name: &str,
        group: bool,
        log: PathBuf,
        how: Log,
    ) -> Result<Process, String> {
        let file = fs::File::create(&log).map_err(|e| format!("create {}: {e}", log.display()))?;
        cmd.stdin(Stdio::null());
        match how {
            Log::Stderr => cmd.stderr(file),
            Log::StdoutWithStderrPiped => cmd.stdout(file).stderr(Stdio::piped()),
        };
        if group {
            cmd.process_group(0);
        }
        // SAFETY: prctl is async-signal-safe and touches no memory of ours.
        // If the thread that started it dies, even by SIGKILL, it gets
        // SIGTERM (the tests and the bench start them from threads that
        // live until they are dropped).
        unsafe {
            cmd.pre_exec(|| {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM, 0, 0, 0) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = cmd
            .spawn()
            .map_err(|e| format!("spawn {name} ({:?}): {e}", cmd.get_program()))?;
        Ok(Process {
            child,
            name: name.to_owned(),
            group,
            log,
            status: None,
            owned: None,
        })
    }

    /// Removes `dir` (the process's own: its runtime directory) once the
    /// process has been stopped.
    pub fn keep(&mut self, dir: TempDir) {
        self.owned = Some(dir);
    }

    pub fn pid(&self) -> i32 {
        i32::try_from(self.child.id()).unwrap_or(i32::MAX)
    }

    pub fn try_wait(&mut self) -> Option<ExitStatus> {
        if self.status.is_none() {
            self.status = self.child.try_wait().ok().flatten();
        }
        self.status
    }

    /// Waits up to `timeout` for the process to end, successfully.
    pub fn finish(&mut self, timeout: Duration) -> Result<(), String> {
        match poll_every(Duration::from_millis(2), timeout, || self.try_wait()) {
            Some(status) if status.success() => Ok(()),
            Some(status) => Err(format!(
                "{} ended with {status}{}",
                self.name,
                self.log_tail()
            )),
            None => Err(format!(
                "{} still runs {} s after it should have ended",
                self.name,
                timeout.as_secs()
            )),
        }
    }

    fn signal(&self, sig: i32) {
        let pid = self.pid();
        let target = if self.group { -pid } else { pid };
        // SAFETY: kill has no memory effects; the pid is our unreaped child
        // (or its process group), so it cannot name another process.
        unsafe { libc::kill(target, sig) };
    }

    /// SIGTERM, a grace period to end, then SIGKILL; always reaps.
    pub fn stop(&mut self) {
        if self.try_wait().is_none() {
            self.signal(libc::SIGTERM);
            let ended = poll_every(Duration::from_millis(2), STOP_GRACE, || self.try_wait());
            if ended.is_none() {
                eprintln!("{}: {} ignored SIGTERM; killing it", program(), self.name);
                self.kill();
            }
        }
        self.kill_group();
    }

    /// SIGKILL at once (a host that dies), and reaped.
    pub fn kill(&mut self) {
        if self.try_wait().is_none() {
            self.signal(libc::SIGKILL);
            self.status = self.child.wait().ok();
        }
        self.kill_group();
    }

    /// What the leader started and left behind; the group id cannot be
    /// reused while any member lives, and ESRCH means none is left.
    fn kill_group(&self) {
        if self.group {
            // SAFETY: as in `signal`.
            unsafe { libc::kill(-self.pid(), libc::SIGKILL) };
        }
    }

    /// Waits until `socket` finds the server's socket taking connections
    /// (connectable, not merely there: the file exists from bind() on, and
    /// a client that comes before listen() is refused), checking every
    /// `interval` for `limit`; fails if the server ends first.
    pub fn wait_for_socket(
        &mut self,
        interval: Duration,
        limit: Duration,
        mut socket: impl FnMut() -> Option<PathBuf>,
    ) -> Result<PathBuf, String> {
        let found = poll_every(interval, limit, || {
            if let Some(status) = self.try_wait() {
                return Some(Err(format!(
                    "{} ended with {status} before its socket appeared{}",
                    self.name,
                    self.log_tail()
                )));
            }
            socket()
                .filter(|path| UnixStream::connect(path).is_ok())
                .map(Ok)
        });
        found.unwrap_or_else(|| {
            Err(format!(
                "{}'s socket did not appear within {} s{}",
                self.name,
                limit.as_secs(),
                self.log_tail()
            ))
        })
    }

    /// The last lines of its log, as a clause to add to an error.
    pub fn log_tail(&self) -> String {
        let text = fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        let tail = lines[lines.len().saturating_sub(8)..].join("\n    ");
        if tail.is_empty() {
            String::new()
        } else {
            format!("; its stderr ends:\n    {tail}")
        }
    }

    /// All of its log.
    pub fn log(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.stop();
        self.owned.take();
    }
}

/// This program's name, for messages.
fn program() -> String {
    std::env::current_exe()
        .ok()
        .and_then(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "testkit".into())
}

/// Direct children of `pid`.
pub fn children(pid: i32) -> Vec<i32> {
    fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect()
}

/// `pid` and every process below it.
pub fn tree(pid: i32) -> Vec<i32> {
    let mut all = vec![pid];
    let mut i = 0;
    while i < all.len() {
        all.extend(children(all[i]));
        i += 1;
    }
    all
}

/// The command name of `pid`, if it still runs.
pub fn comm(pid: i32) -> Option<String> {
    fs::read_to_string(format!("/proc/{pid}/comm"))
        .ok()
        .map(|s| s.trim().to_owned())
}

/// The value of `field` (as `Threads:`) in /proc/PID/status.
pub fn status_field(pid: i32, field: &str) -> Option<String> {
    fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix(field).map(|v| v.trim().to_owned()))
}

/// Whether a process named `comm` is `pid` or below it.
pub fn runs_below(pid: i32, comm_name: &str) -> bool {
    tree(pid)
        .into_iter()
        .any(|p| comm(p).as_deref() == Some(comm_name))
}

/// Host processes whose environment carries [`MARK_VAR`]`=mark`, as
/// `(pid, command line)`.
pub fn marked_processes(mark: &str) -> Vec<(i32, String)> {
    let needle = format!("{MARK_VAR}={mark}");
    let mut found = Vec::new();
    let Ok(entries) = fs::read_dir("/proc") else {
        return found;
    };
    for entry in entries.flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(environ) = fs::read(entry.path().join("environ")) else {
            continue;
        };
        if environ
            .split(|&b| b == 0)
            .any(|var| var == needle.as_bytes())
        {
            let cmdline = fs::read(entry.path().join("cmdline")).unwrap_or_default();
            let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            found.push((pid, cmdline.trim().to_owned()));
        }
    }
    found
}

/// The first Unix socket in `dir` whose name starts with `prefix`.
pub fn socket_in(dir: &Path, prefix: &str) -> Option<PathBuf> {
    fs::read_dir(dir)
        .ok()?
        .flatten()
        .map(|e| e.path())
        .find(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with(prefix))
                && fs::symlink_metadata(p).is_ok_and(|m| m.file_type().is_socket())
        })
}

/// Whether `path` is a Unix socket something listens on, by
/// /proc/net/unix: for a server that takes any connection, even a probe,
/// for a client of its own (waypipe).
pub fn listening(path: &Path) -> bool {
    /// __SO_ACCEPTCON: the socket is listening.
    const ACCEPTING: u32 = 1 << 16;
    let Ok(table) = fs::read_to_string("/proc/net/unix") else {
        return false;
    };
    let want = path.to_string_lossy();
    // Num RefCount Protocol Flags Type St Inode Path
    table.lines().skip(1).any(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        fields.get(7) == Some(&want.as_ref())
            && fields
                .get(3)
                .and_then(|f| u32::from_str_radix(f, 16).ok())
                .is_some_and(|flags| flags & ACCEPTING != 0)
    })
}
