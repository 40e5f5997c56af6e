//! The harness the end-to-end test files share: skipping loudly, running
//! commands with time limits, polling, scratch directories.
//!
//! Each test binary compiles this module on its own and uses part of it.
#![allow(dead_code)]

use std::fmt;
use std::fs;
use std::io::Read;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The sandbox's PATH: where the programs it runs are looked up.
pub const SANDBOX_PATH: &[&str] = &[
    "/usr/local/bin",
    "/usr/bin",
    "/bin",
    "/usr/local/sbin",
    "/usr/sbin",
    "/sbin",
];

/// Whether everything must work here (CI=true, WSBOX_MUST_WORK=1).
pub fn must_work() -> bool {
    std::env::var("WSBOX_MUST_WORK").is_ok_and(|v| v == "1")
        || std::env::var("CI").is_ok_and(|v| v == "true")
}

/// Says loudly why `test` cannot run and lets it pass, or fails it where
/// everything must work.
pub fn skip(test: &str, reason: &str) {
    if must_work() {
        panic!("{test} cannot run: {reason} (CI=true or WSBOX_MUST_WORK=1: nothing may skip)");
    }
    eprintln!("SKIPPED: {test}: {reason}");
}

/// `program` as a sandbox finds it: an executable file in [`SANDBOX_PATH`].
pub fn find_program(program: &str) -> Option<PathBuf> {
    SANDBOX_PATH
        .iter()
        .map(|dir| Path::new(dir).join(program))
        .find(|p| fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0))
}

/// A number unique in this test process.
pub fn next() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// This test process's directory `/tmp/wsbox-<prefix>.<pid>.<n>`, 0755 so
/// that sandboxes running as unprivileged ids can reach what is below it,
/// with a 0700 `run/` for XDG_RUNTIME_DIR when `with_run` is set. Directories
/// of earlier test processes that are gone are removed first. One prefix per
/// test binary.
pub fn root_dir(prefix: &str, with_run: bool) -> &'static Path {
    static ROOT: OnceLock<PathBuf> = OnceLock::new();
    ROOT.get_or_init(|| {
        let stem = format!("wsbox-{prefix}.");
        if let Ok(entries) = fs::read_dir("/tmp") {
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                let pid = name
                    .strip_prefix(&stem)
                    .and_then(|rest| rest.split('.').next());
                if let Some(pid) = pid {
                    if pid.parse::<u32>().is_ok() && !Path::new("/proc").join(pid).exists() {
                        let _ = fs::remove_dir_all(entry.path());
                    }
                }
            }
        }
        // Short: unix socket paths below it are limited to 108 bytes.
        let n = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos() % 1000);
        let dir = PathBuf::from(format!("/tmp/{stem}{}.{n}", std::process::id()));
        fs::DirBuilder::new().mode(0o755).create(&dir).unwrap();
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).unwrap();
        if with_run {
            fs::DirBuilder::new()
                .mode(0o700)
                .create(dir.join("run"))
                .unwrap();
        }
        dir
    })
}

/// What a finished command printed.
pub struct Out {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
}

impl fmt::Display for Out {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "status: {} after {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.status, self.elapsed, self.stdout, self.stderr
        )
    }
}

/// A command started with its output collected.
pub struct Running {
    pub child: Child,
    started: Instant,
    stdout: thread::JoinHandle<String>,
    stderr: thread::JoinHandle<String>,
    what: String,
}

impl Running {
    pub fn start(mut cmd: Command) -> Self {
        let what = format!("{cmd:?}");
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("failed to start {what}: {e}"));
        let collect = |mut pipe: Box<dyn Read + Send>| {
            thread::spawn(move || {
                let mut bytes = Vec::new();
                let _ = pipe.read_to_end(&mut bytes);
                String::from_utf8_lossy(&bytes).into_owned()
            })
        };
        let stdout = collect(Box::new(child.stdout.take().unwrap()));
        let stderr = collect(Box::new(child.stderr.take().unwrap()));
        Self {
            child,
            started: Instant::now(),
            stdout,
            stderr,
            what,
        }
    }

    /// Waits for the end, killing it and failing the test after `limit`.
    /// SIGKILL to wsbox takes its sandbox along (parent-death signal).
    pub fn finish(mut self, limit: Duration) -> Out {
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            if self.started.elapsed() > limit {
                let _ = self.child.kill();
                let status = self.child.wait().unwrap();
                let out = Out {
                    status,
                    stdout: self.stdout.join().unwrap(),
                    stderr: self.stderr.join().unwrap(),
                    elapsed: self.started.elapsed(),
                };
                panic!("{} did not finish within {limit:?}\n{out}", self.what);
            }
            thread::sleep(Duration::from_millis(20));
        };
        Out {
            status,
            stdout: self.stdout.join().unwrap(),
            stderr: self.stderr.join().unwrap(),
            elapsed: self.started.elapsed(),
        }
    }

    /// Ends it at once and collects what it printed.
    pub fn kill(mut self, limit: Duration) -> Out {
        let _ = self.child.kill();
        self.finish(limit)
    }
}

/// Runs `cmd` to its end, killing it and failing the test after `limit`.
pub fn output(cmd: Command, limit: Duration) -> Out {
    Running::start(cmd).finish(limit)
}

/// Calls `f` until it returns something or `limit` passes.
pub fn poll<T>(limit: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let started = Instant::now();
    loop {
        if let Some(value) = f() {
            return Some(value);
        }
        if started.elapsed() > limit {
            return None;
        }
        thread::sleep(Duration::from_millis(100));
    }
}

/// The uid and gid of the user `name`, if there is one.
pub fn lookup_user(name: &str) -> Option<(u32, u32)> {
    let name = std::ffi::CString::new(name).ok()?;
    // SAFETY: passwd is plain data; zero is a valid value.
    let mut pwd: libc::passwd = unsafe { std::mem::zeroed() };
    let mut buf = vec![0 as libc::c_char; 1 << 16];
    let mut result = std::ptr::null_mut();
    // SAFETY: every pointer is valid for the call; buf's length is passed.
    let rc = unsafe {
        libc::getpwnam_r(
            name.as_ptr(),
            &mut pwd,
            buf.as_mut_ptr(),
            buf.len(),
            &mut result,
        )
    };
    (rc == 0 && !result.is_null()).then_some((pwd.pw_uid, pwd.pw_gid))
}
