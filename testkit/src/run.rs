//! Running wsbox (or anything else) from a test and collecting what it
//! printed: [`Running`] with its output piped and readable while it runs,
//! [`Out`] once it ended, and [`output`] for both in one call.
//!
//! A [`Running`] dropped unfinished is killed and reaped, so a failing test
//! leaves nothing running. Long-lived helpers with their output in files
//! (the hosts, the bench's clients) are [`crate::Process`]es instead.

use std::fmt;
use std::io::Read;
use std::path::Path;
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use crate::poll::{poll, poll_every};

/// Set by a test on the commands it starts, with a value of its own
/// ([`crate::unique_mark`]): whatever they start inherits it, so that
/// leftovers are found in /proc/*/environ while other tests run sandboxes
/// of their own ([`crate::marked_processes`]).
pub const MARK_VAR: &str = "WSBOX_TEST_MARK";

/// How long a process's output may stay open after it ended before the
/// test reports that something it started outlived it.
const OUTPUT_GRACE: Duration = Duration::from_secs(5);

/// What a finished process did.
#[derive(Debug)]
pub struct Out {
    /// The command, as it was started.
    pub what: String,
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
    /// Its [`MARK_VAR`], if it had one.
    pub mark: Option<String>,
}

impl Out {
    pub fn code(&self) -> Option<i32> {
        self.status.code()
    }
}

impl fmt::Display for Out {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}\n  ended with {} after {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}\n--- end ---",
            self.what, self.status, self.elapsed, self.stdout, self.stderr
        )
    }
}

/// One output pipe, read on a thread of its own into a buffer the test can
/// look at while the process runs.
#[derive(Debug)]
struct Collected {
    bytes: Arc<Mutex<Vec<u8>>>,
    closed: mpsc::Receiver<()>,
}

impl Collected {
    fn start(mut from: impl Read + Send + 'static) -> Self {
        let bytes = Arc::new(Mutex::new(Vec::new()));
        let (tx, closed) = mpsc::channel();
        let into = Arc::clone(&bytes);
        thread::spawn(move || {
            let mut chunk = [0u8; 8192];
            while let Ok(n) = from.read(&mut chunk) {
                if n == 0 {
                    break;
                }
                into.lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .extend_from_slice(&chunk[..n]);
            }
            let _ = tx.send(());
        });
        Self { bytes, closed }
    }

    fn text(&self) -> String {
        let bytes = self.bytes.lock().unwrap_or_else(|e| e.into_inner());
        String::from_utf8_lossy(&bytes).into_owned()
    }

    /// All of it, once the pipe closed; a note instead of the wait when
    /// something the process started still holds it open.
    fn finish(&self, name: &str) -> String {
        match self.closed.recv_timeout(OUTPUT_GRACE) {
            Ok(()) | Err(mpsc::RecvTimeoutError::Disconnected) => self.text(),
            Err(mpsc::RecvTimeoutError::Timeout) => format!(
                "{}\n<{name} still open {OUTPUT_GRACE:?} after the process ended: something outlived it>",
                self.text()
            ),
        }
    }
}

/// Spawns `cmd`, retrying while its binary is briefly busy: a copy written
/// by one thread can still be open in a child another thread forked
/// meanwhile (ETXTBSY until that child execs).
pub fn spawn(cmd: &mut Command) -> Child {
    let mut last = None;
    let child = poll(Duration::from_secs(2), || match cmd.spawn() {
        Ok(child) => Some(child),
        Err(e) if e.raw_os_error() == Some(libc::ETXTBSY) => {
            last = Some(e);
            None
        }
        Err(e) => panic!("failed to start {cmd:?}: {e}"),
    });
    child.unwrap_or_else(|| panic!("failed to start {cmd:?}: {last:?}"))
}

/// A started process whose output is being collected.
#[derive(Debug)]
pub struct Running {
    child: Option<Child>,
    what: String,
    mark: Option<String>,
    started: Instant,
    stdout: Collected,
    stderr: Collected,
}

impl Running {
    /// Starts `cmd` with no input and its output collected.
    pub fn start(mut cmd: Command) -> Self {
        cmd.stdin(Stdio::null());
        Self::start_as_set(cmd)
    }

    /// Like [`Running::start`], with a pipe to its stdin ([`Running::stdin`]).
    pub fn start_with_stdin(mut cmd: Command) -> Self {
        cmd.stdin(Stdio::piped());
        Self::start_as_set(cmd)
    }

    fn start_as_set(mut cmd: Command) -> Self {
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        let mark = cmd
            .get_envs()
            .find(|(k, _)| *k == MARK_VAR)
            .and_then(|(_, v)| v)
            .map(|v| v.to_string_lossy().into_owned());
        let what = format!("{cmd:?}");
        let started = Instant::now();
        let mut child = spawn(&mut cmd);
        let (Some(stdout), Some(stderr)) = (child.stdout.take(), child.stderr.take()) else {
            panic!("no output pipes for {what}");
        };
        let (stdout, stderr) = (Collected::start(stdout), Collected::start(stderr));
        Self {
            child: Some(child),
            what,
            mark,
            started,
            stdout,
            stderr,
        }
    }

    fn child(&mut self) -> &mut Child {
        self.child
            .as_mut()
            .unwrap_or_else(|| unreachable!("a Running has its child until it is consumed"))
    }

    pub fn pid(&self) -> i32 {
        self.child.as_ref().map_or(0, |c| c.id() as i32)
    }

    /// Its stdin, once: for [`Running::start_with_stdin`].
    pub fn stdin(&mut self) -> ChildStdin {
        self.child()
            .stdin
            .take()
            .unwrap_or_else(|| panic!("no stdin pipe (Running::start_with_stdin)"))
    }

    /// Its status, once it ended.
    pub fn try_wait(&mut self) -> Option<ExitStatus> {
        self.child().try_wait().ok().flatten()
    }

    /// What it printed on stdout so far.
    pub fn stdout_so_far(&self) -> String {
        self.stdout.text()
    }

    /// What it printed on stderr so far.
    pub fn stderr_so_far(&self) -> String {
        self.stderr.text()
    }

    /// Sends `signal` to it (SIGTERM to wsbox: what a session's stop does).
    pub fn signal(&self, signal: i32) {
        // SAFETY: kill has no memory effects; the child is not reaped
        // before `finish`, so the pid names no other process.
        unsafe { libc::kill(self.pid(), signal) };
    }

    /// Waits up to `limit` (from its start) for the end, then for its
    /// output; kills it and fails the test past the limit.
    pub fn finish(mut self, limit: Duration) -> Out {
        let left = limit.saturating_sub(self.started.elapsed());
        // A steady short pause: wsbox's exit is timed by some tests, and a
        // try_wait costs one syscall.
        let ended = poll_every(Duration::from_millis(5), left, || self.try_wait());
        let mut child = self.child.take().unwrap_or_else(|| unreachable!());
        let status = match ended {
            Some(status) => status,
            None => {
                let _ = child.kill();
                child.wait().unwrap_or_else(|e| panic!("wait: {e}"))
            }
        };
        let out = Out {
            what: self.what.clone(),
            status,
            stdout: self.stdout.finish("stdout"),
            stderr: self.stderr.finish("stderr"),
            elapsed: self.started.elapsed(),
            mark: self.mark.clone(),
        };
        assert!(
            ended.is_some(),
            "did not finish within {limit:?}, so it was killed\n{out}"
        );
        out
    }

    /// Ends it at once (SIGKILL: wsbox takes its sandbox along by the
    /// parent-death signal) and collects what it printed.
    pub fn kill(mut self, limit: Duration) -> Out {
        let _ = self.child().kill();
        self.finish(limit)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Runs `cmd` to its end, killing it and failing the test after `limit`.
pub fn output(cmd: Command, limit: Duration) -> Out {
    Running::start(cmd).finish(limit)
}

/// `wsbox ARGS` as root with `runtime` as XDG_RUNTIME_DIR, no host
/// session and no log level of the caller's.
pub fn wsbox_command(runtime: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(crate::wsbox_exe());
    cmd.args(args)
        .env("XDG_RUNTIME_DIR", runtime)
        .env_remove("WAYLAND_DISPLAY")
        .env_remove("WAYLAND_SOCKET")
        .env_remove("WSBOX_LOG")
        .stdin(Stdio::null());
    cmd
}
