//! Starting a sandbox from a program that embeds wsbox. Each sandbox is
//! supervised by a `wsbox run` process of its own: wsbox confines itself
//! once the app has started (src/confine.rs), which no embedding program
//! would want for itself.

use std::ffi::{OsStr, OsString};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};

use crate::Sandbox;

/// How long [`RunOptions::start`] waits for the sandbox to answer.
const START_LIMIT: Duration = Duration::from_secs(30);
/// How often a start looks whether the sandbox is up.
const START_POLL: Duration = Duration::from_millis(25);

/// What to start, and how: the options of `wsbox run`.
///
/// ```no_run
/// let running = wsbox::RunOptions::new(["evince", "/home/amnesia/report.pdf"])
///     .profile("pdf")
///     .start()?;
/// println!("started {}", running.sandbox().name());
/// # Ok::<(), anyhow::Error>(())
/// ```
#[derive(Debug)]
pub struct RunOptions {
    wsbox: Option<PathBuf>,
    name: Option<String>,
    profile: Option<String>,
    display: Option<String>,
    output: Option<String>,
    options: Vec<OsString>,
    argv: Vec<OsString>,
    stderr: Option<Stdio>,
    stdout: Option<Stdio>,
    file_args: bool,
}

impl RunOptions {
    /// The program and its arguments, run with the default policy and the
    /// display `wsbox run` picks (a window in a Wayland session, else
    /// headless).
    pub fn new<I, S>(argv: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        Self {
            wsbox: None,
            name: None,
            profile: None,
            display: None,
            output: None,
            options: Vec::new(),
            argv: argv.into_iter().map(Into::into).collect(),
            stderr: None,
            stdout: None,
            file_args: true,
        }
    }

    /// The sandbox's name (1–64 letters, digits, `.`, `_`, `-`). Without
    /// one, a unique name is made from the profile or the program.
    pub fn name(mut self, name: &str) -> Self {
        self.name = Some(name.into());
        self
    }

    /// A built-in profile (`wsbox policy show NAME`).
    pub fn profile(mut self, profile: &str) -> Self {
        self.profile = Some(profile.into());
        self
    }

    /// No host display: the sandbox's output is `output` (`WxH[@SCALE]`),
    /// seen by screenshots and driven by [`Sandbox::input`].
    pub fn headless(mut self, output: &str) -> Self {
        self.display = Some("headless".into());
        self.output = Some(output.into());
        self
    }

    /// The display mode: `window`, `headless` or `none`.
    pub fn display(mut self, mode: &str) -> Self {
        self.display = Some(mode.into());
        self
    }

    /// Any other option of `wsbox run`, e.g. `--net=tor` or
    /// `--file=/home/amnesia/notes.txt`: one argument each.
    pub fn option(mut self, option: impl Into<OsString>) -> Self {
        self.options.push(option.into());
        self
    }

    /// The `wsbox` program to run. Without it: this program when it is
    /// `wsbox`, else `wsbox` from `PATH`.
    pub fn wsbox(mut self, program: impl Into<PathBuf>) -> Self {
        self.wsbox = Some(program.into());
        self
    }

    /// Where `wsbox run`'s messages and the app's standard error go (the
    /// caller's standard error unless set).
    pub fn stderr(mut self, stderr: impl Into<Stdio>) -> Self {
        self.stderr = Some(stderr.into());
        self
    }

    /// Where the app's standard output goes (the caller's unless set).
    pub fn stdout(mut self, stdout: impl Into<Stdio>) -> Self {
        self.stdout = Some(stdout.into());
        self
    }

    /// Whether arguments that name host files grant them (`wsbox run`'s
    /// default, on). Off (`--no-file-args`) for a caller that grants only
    /// files passed open, as `wsbox session` does.
    pub fn file_args(mut self, grant: bool) -> Self {
        self.file_args = grant;
        self
    }

    /// The `wsbox run` command these options make.
    fn command(&self, name: &str) -> Command {
        let program = self.wsbox.clone().unwrap_or_else(default_wsbox);
        let mut cmd = Command::new(program);
        // `--opt=VALUE`: a value is never taken for an option.
        cmd.args(["run".to_owned(), format!("--name={name}")]);
        if let Some(profile) = &self.profile {
            cmd.arg(format!("--profile={profile}"));
        }
        if let Some(display) = &self.display {
            cmd.arg(format!("--display={display}"));
        }
        if let Some(output) = &self.output {
            cmd.arg(format!("--output={output}"));
        }
        if !self.file_args {
            cmd.arg("--no-file-args");
        }
        cmd.args(&self.options).arg("--").args(&self.argv);
        cmd.stdin(Stdio::null());
        // The caller's own fds (a file it was passed, its bus connection)
        // stay with it, whether or not it marked them close-on-exec.
        // SAFETY: close_range is async-signal-safe and touches only fds.
        unsafe {
            std::os::unix::process::CommandExt::pre_exec(&mut cmd, || {
                libc::close_range(3, u32::MAX, libc::CLOSE_RANGE_CLOEXEC as libc::c_int);
                Ok(())
            });
        }
        cmd
    }

    /// Starts the sandbox and returns once it answers on its control
    /// socket (its app may not have shown a window yet: see
    /// [`Sandbox::wait_for_window`]). Fails with the reason when
    /// `wsbox run` ends first, and after 30 s.
    pub fn start(mut self) -> Result<Running> {
        let Some(program) = self.argv.first() else {
            bail!("no program to run");
        };
        let name = match &self.name {
            Some(name) => {
                crate::instance::validate_name(name)?;
                name.clone()
            }
            None => unique_name(self.profile.as_deref(), program),
        };
        let mut cmd = self.command(&name);
        if let Some(stderr) = self.stderr.take() {
            cmd.stderr(stderr);
        }
        if let Some(stdout) = self.stdout.take() {
            cmd.stdout(stdout);
        }
        let mut child = cmd
            .spawn()
            .with_context(|| format!("failed to run {:?}", cmd.get_program()))?;
        let end = Instant::now() + START_LIMIT;
        loop {
            if let Some(status) = child.try_wait()? {
                bail!("wsbox run ended ({status}) before sandbox {name} was up");
            }
            if let Some(sandbox) = answering(&name, child.id()) {
                return Ok(Running { sandbox, child });
            }
            if Instant::now() >= end {
                let _ = child.kill();
                let _ = child.wait();
                bail!(
                    "sandbox {name} did not answer within {} s",
                    START_LIMIT.as_secs()
                );
            }
            std::thread::sleep(START_POLL);
        }
    }
}

/// The sandbox `name` of the wsbox `pid`, once it answers on its control
/// socket. The cheap checks come first, on files alone: its directory
/// held by a wsbox, that wsbox ours (not another of that name that runs
/// already), its control socket bound. Only then a request, which starts
/// a thread in that wsbox: Files, answered in every display mode.
fn answering(name: &str, pid: u32) -> Option<Sandbox> {
    let dir = crate::instance::find(name).ok()?;
    let ours = crate::instance::read_info(&dir).is_ok_and(|info| info.pid == pid);
    if !ours || !dir.join("control").exists() {
        return None;
    }
    let sandbox = Sandbox::at(name, dir);
    sandbox.files().is_ok().then_some(sandbox)
}

/// A sandbox started by [`RunOptions::start`], with its `wsbox run`
/// process. Dropping it leaves the sandbox running; [`Running::wait`] or
/// [`Running::stop`] reaps the process.
#[derive(Debug)]
pub struct Running {
    sandbox: Sandbox,
    child: Child,
}

impl Running {
    /// The sandbox, for its windows, screenshots, input and files.
    pub fn sandbox(&self) -> &Sandbox {
        &self.sandbox
    }

    /// The pid of its `wsbox run` process.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Stops the app as [`Sandbox::stop`] does with the sandbox's grace
    /// period, and waits for the sandbox to end. Its status is the app's
    /// (`wsbox run`'s exit statuses).
    pub fn stop(&mut self) -> Result<ExitStatus> {
        if self.child.try_wait()?.is_none() {
            self.sandbox.stop(None, false)?;
        }
        self.wait()
    }

    /// Waits for the sandbox to end by itself.
    pub fn wait(&mut self) -> Result<ExitStatus> {
        self.child
            .wait()
            .map_err(|e| anyhow!("failed to wait for sandbox {}: {e}", self.sandbox.name()))
    }

    /// Whether the sandbox has ended, without waiting.
    pub fn try_wait(&mut self) -> Result<Option<ExitStatus>> {
        Ok(self.child.try_wait()?)
    }
}

/// This program when it is wsbox (the command line, `wsbox session`),
/// else `wsbox` from `PATH`.
fn default_wsbox() -> PathBuf {
    std::env::current_exe()
        .ok()
        .filter(|exe| exe.file_name() == Some(OsStr::new("wsbox")))
        .unwrap_or_else(|| PathBuf::from("wsbox"))
}

/// `<profile or program>-<pid>-<n>`, unique among this process's sandboxes.
fn unique_name(profile: Option<&str>, program: &OsStr) -> String {
    static NEXT: AtomicU32 = AtomicU32::new(1);
    let program = std::path::Path::new(program)
        .file_name()
        .unwrap_or(program)
        .to_string_lossy()
        .into_owned();
    let stem: String = profile
        .unwrap_or(&program)
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-'))
        .take(40)
        .collect();
    let stem = stem.trim_start_matches('-');
    let stem = if stem.is_empty() { "app" } else { stem };
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("{stem}-{}-{n}", std::process::id())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn made_names_are_valid_and_differ() {
        let a = unique_name(None, OsStr::new("/usr/bin/gtk3-demo"));
        let b = unique_name(None, OsStr::new("/usr/bin/gtk3-demo"));
        assert!(a.starts_with("gtk3-demo-"));
        assert_ne!(a, b);
        crate::instance::validate_name(&a).unwrap();
        let odd = unique_name(Some("é/.."), OsStr::new("x"));
        crate::instance::validate_name(&odd).unwrap();
        assert!(odd.starts_with("app-"));
    }

    #[test]
    fn options_make_the_run_command() {
        let cmd = RunOptions::new(["evince", "a.pdf"])
            .profile("pdf")
            .headless("800x600")
            .option("--net=none")
            .wsbox("/opt/wsbox")
            .command("pdf-1");
        let args: Vec<_> = cmd.get_args().collect();
        assert_eq!(cmd.get_program(), "/opt/wsbox");
        assert_eq!(
            args,
            [
                "run",
                "--name=pdf-1",
                "--profile=pdf",
                "--display=headless",
                "--output=800x600",
                "--net=none",
                "--",
                "evince",
                "a.pdf"
            ]
        );
        let cmd = RunOptions::new(["x"]).file_args(false).command("x-1");
        assert_eq!(
            cmd.get_args().collect::<Vec<_>>(),
            ["run", "--name=x-1", "--no-file-args", "--", "x"]
        );
    }
}
