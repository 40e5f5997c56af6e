//! A running sandbox as a test drives it from outside: `wsbox run --name
//! NAME` in the background, its windows as `wsbox windows NAME --json`
//! reports them, and `wsbox input` and `wsbox stop` on it. Whoever runs
//! wsbox (root with a runtime directory of the test's, the test user in a
//! sway session) is the caller's choice: every command comes from the same
//! `wsbox` maker.
//!
//! A [`Sandbox`] dropped while it runs is stopped at once (`wsbox stop
//! --force`) and then killed, so a failing test leaves nothing behind.

use std::fmt;
use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use crate::poll::poll;
use crate::run::{output, Out, Running};

/// How long a `wsbox windows`, `input` or `stop` may take.
const COMMAND_LIMIT: Duration = Duration::from_secs(30);

/// One window of a sandbox, as `wsbox windows NAME --json` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Window {
    pub title: String,
    pub app_id: String,
    pub x: i64,
    pub y: i64,
    pub width: i64,
    pub height: i64,
    pub focused: bool,
}

impl Window {
    fn from_json(w: &Value) -> Self {
        let n = |k: &str| w.get(k).and_then(Value::as_i64).unwrap_or(-1);
        let s = |k: &str| w.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
        Self {
            title: s("title"),
            app_id: s("app_id"),
            x: n("x"),
            y: n("y"),
            width: n("width"),
            height: n("height"),
            focused: w.get("focused").and_then(Value::as_bool) == Some(true),
        }
    }
}

/// The windows `wsbox windows NAME --json` printed, if it printed a JSON
/// array.
pub fn parse_windows(json: &str) -> Option<Vec<Window>> {
    let list: Value = serde_json::from_str(json).ok()?;
    Some(list.as_array()?.iter().map(Window::from_json).collect())
}

/// What makes a `wsbox` command, without arguments, as the test runs it.
pub type Maker = Box<dyn Fn() -> Command + Send + Sync>;

/// `wsbox run --name NAME …`, running.
pub struct Sandbox {
    pub name: String,
    /// wsbox itself, until [`Sandbox::finish`].
    run: Option<Running>,
    wsbox: Maker,
}

impl fmt::Debug for Sandbox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sandbox")
            .field("name", &self.name)
            .field("run", &self.run)
            .finish_non_exhaustive()
    }
}

impl Sandbox {
    /// Starts `wsbox run --name NAME ARGS` (ARGS with `--` and the
    /// program); `wsbox` makes every command.
    pub fn start(wsbox: Maker, name: &str, args: &[&str]) -> Self {
        let mut cmd = wsbox();
        cmd.args(["run", "--name", name]).args(args);
        Self {
            name: name.to_owned(),
            run: Some(Running::start(cmd)),
            wsbox,
        }
    }

    fn running(&self) -> &Running {
        self.run
            .as_ref()
            .unwrap_or_else(|| unreachable!("a Sandbox has its wsbox until it is finished"))
    }

    /// wsbox's pid.
    pub fn pid(&self) -> i32 {
        self.running().pid()
    }

    /// wsbox's status, once it ended.
    pub fn try_wait(&mut self) -> Option<std::process::ExitStatus> {
        self.run.as_mut().and_then(Running::try_wait)
    }

    /// What wsbox printed on stdout so far.
    pub fn stdout_so_far(&self) -> String {
        self.running().stdout_so_far()
    }

    /// What wsbox printed on stderr so far.
    pub fn stderr_so_far(&self) -> String {
        self.running().stderr_so_far()
    }

    /// `wsbox ARGS`, finished.
    pub fn wsbox(&self, args: &[&str]) -> Out {
        let mut cmd = (self.wsbox)();
        cmd.args(args);
        output(cmd, COMMAND_LIMIT)
    }

    /// `wsbox ARGS`, which must succeed.
    pub fn control(&self, args: &[&str]) -> Out {
        let out = self.wsbox(args);
        assert!(
            out.status.success(),
            "wsbox {args:?} failed\n{out}\n{}",
            self.describe()
        );
        out
    }

    /// `wsbox input NAME ACTION…`, which must succeed.
    pub fn input(&self, action: &[&str]) {
        let mut args = vec!["input", self.name.as_str()];
        args.extend_from_slice(action);
        self.control(&args);
    }

    /// Presses `key` (`ctrl+p`) every 5 s, until `started` shows in what
    /// wsbox and the app printed (a key pressed while an app still lays
    /// out its window may do nothing), and returns what `done` finds
    /// meanwhile, within `limit`.
    pub fn press_until<T>(
        &self,
        key: &str,
        started: &str,
        limit: Duration,
        mut done: impl FnMut() -> Option<T>,
    ) -> Option<T> {
        poll(limit, || {
            if !self.stderr_so_far().contains(started) {
                self.input(&["key", key]);
            }
            poll(Duration::from_secs(5), &mut done)
        })
    }

    /// The sandbox's windows, or None while wsbox does not answer.
    pub fn windows(&self) -> Option<Vec<Window>> {
        let out = self.wsbox(&["windows", &self.name, "--json"]);
        if !out.status.success() {
            return None;
        }
        let windows = parse_windows(&out.stdout);
        assert!(
            windows.is_some(),
            "wsbox windows --json printed no JSON array\n{out}"
        );
        windows
    }

    /// Waits up to `limit` until the windows are such that `want` returns
    /// something, and returns that; fails the test, with what wsbox
    /// printed and the last windows, when wsbox ends first or the limit
    /// passes.
    pub fn wait_for<T>(
        &mut self,
        what: &str,
        limit: Duration,
        mut want: impl FnMut(&[Window]) -> Option<T>,
    ) -> T {
        let mut last = None;
        let found = poll(limit, || {
            if let Some(status) = self.try_wait() {
                return Some(Err(status));
            }
            let windows = self.windows()?;
            let found = want(&windows);
            last = Some(windows);
            found.map(Ok)
        });
        match found {
            Some(Ok(found)) => found,
            Some(Err(status)) => panic!(
                "wsbox ended ({status}) before {what}; last windows: {last:?}\n{}",
                self.describe()
            ),
            None => panic!(
                "no {what} within {limit:?}; last windows: {last:?}\n{}",
                self.describe()
            ),
        }
    }

    /// Waits up to `limit` for a window for which `want` holds.
    pub fn wait_for_window(
        &mut self,
        what: &str,
        limit: Duration,
        want: impl Fn(&Window) -> bool,
    ) -> Window {
        self.wait_for(what, limit, |windows| {
            windows.iter().find(|w| want(w)).cloned()
        })
    }

    /// What wsbox printed so far.
    pub fn describe(&self) -> String {
        format!(
            "sandbox {}\n--- stdout ---\n{}\n--- stderr ---\n{}\n--- end ---",
            self.name,
            self.stdout_so_far(),
            self.stderr_so_far()
        )
    }

    /// Waits up to `limit` (from its start) for wsbox to end.
    pub fn finish(mut self, limit: Duration) -> Out {
        let run = self
            .run
            .take()
            .unwrap_or_else(|| unreachable!("finish consumes the Sandbox"));
        run.finish(limit)
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        if self.run.is_some() && self.try_wait().is_none() {
            let mut cmd = (self.wsbox)();
            cmd.args(["stop", &self.name, "--force"]);
            let _ = cmd.output();
            // SIGTERM now, SIGKILL 2 s later: the app is gone by then.
            poll(Duration::from_secs(5), || self.try_wait());
        }
    }
}
