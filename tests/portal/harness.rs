//! What tests/portal.rs and tests/portal_apps.rs share: running wsbox as
//! root with a runtime directory of this test process, the portal's
//! requests as `wsbox requests --json` lists them, and what the sandbox
//! holds, seen from the host through the app's /proc/PID/root (root may
//! look there; nothing inside is changed by looking).

#![allow(dead_code)]

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::Value;
use testkit::sandbox::{Maker, Sandbox};
use testkit::{output, poll, Image, Out};

/// How long a program may take to show its first window (Firefox makes a
/// new profile at its first start, on a busy machine).
pub const START_LIMIT: Duration = Duration::from_secs(90);
/// How long a request, a window or an answer may take to show.
pub const SEE_LIMIT: Duration = Duration::from_secs(30);
/// How long a save may take to reach the host file.
pub const SAVE_LIMIT: Duration = Duration::from_secs(30);
/// How long a whole sandbox may run in these tests.
pub const RUN_LIMIT: Duration = Duration::from_secs(300);
/// How long a `wsbox` command may take.
pub const COMMAND_LIMIT: Duration = Duration::from_secs(30);

/// The toolkit choices a user's session may have set: wsbox makes them
/// itself, so the tests never pass them on. A host session bus is not
/// passed either (the tests set a bogus one where they check that).
const HOST_ENV: &[&str] = &[
    "QT_QPA_PLATFORM",
    "QT_QPA_PLATFORMTHEME",
    "GDK_BACKEND",
    "GTK_USE_PORTAL",
    "MOZ_ENABLE_WAYLAND",
    "DISPLAY",
    "DBUS_SESSION_BUS_ADDRESS",
];

/// This test process's directory under /tmp, with `run/` for wsbox.
pub fn root_dir() -> &'static Path {
    testkit::root_dir("portal", true)
}

/// `wsbox ARGS` as root with this process's runtime directory.
pub fn wsbox(args: &[&str]) -> Command {
    let mut cmd = testkit::wsbox_command(&root_dir().join("run"), args);
    cmd.env("XDG_CACHE_HOME", root_dir().join("cache"));
    for var in HOST_ENV {
        cmd.env_remove(var);
    }
    cmd
}

pub fn maker() -> Maker {
    Box::new(|| wsbox(&[]))
}

/// Whether `test` can run here as root with `programs`; else it skipped.
pub fn ready(test: &str, programs: &[&str]) -> bool {
    testkit::ready_as_root(test, programs, || {
        wsbox(&["run", "--display", "none", "--", "true"])
    }) && testkit::have_programs(test, &["dbus-daemon"])
}

/// A fresh directory for `test`, 0755.
pub fn scratch(test: &str) -> PathBuf {
    testkit::scratch_in(root_dir(), test, 0o755)
}

/// `wsbox run --name <unique> ARGS` as root, running.
pub fn start(test: &str, args: &[&str]) -> Sandbox {
    Sandbox::start(maker(), &testkit::unique_name("pt-", test), args)
}

/// `wsbox ARGS`, finished.
pub fn run_wsbox(args: &[&str]) -> Out {
    output(wsbox(args), COMMAND_LIMIT)
}

/// `wsbox ps --json`'s entry for sandbox `name`, while it runs.
pub fn ps_entry(name: &str) -> Option<Value> {
    let out = run_wsbox(&["ps", "--json"]);
    assert!(out.status.success(), "{out}");
    let list: Value = serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("{e}\n{out}"));
    list.as_array()?.iter().find(|s| s["name"] == name).cloned()
}

/// The pid of sandbox `name`'s wsbox (the process with the portal's
/// threads), from `wsbox ps --json`.
pub fn wsbox_pid(name: &str) -> i32 {
    let entry = ps_entry(name).unwrap_or_else(|| panic!("wsbox ps does not list {name}"));
    entry["pid"]
        .as_i64()
        .unwrap_or_else(|| panic!("no pid in {entry}")) as i32
}

/// The process below sandbox `name`'s wsbox whose command name starts
/// with `comm` (the app, cut to 15 characters by the kernel).
pub fn app_pid(name: &str, comm: &str) -> i32 {
    let wsbox = wsbox_pid(name);
    poll(SEE_LIMIT, || {
        testkit::tree(wsbox)
            .into_iter()
            .find(|&p| testkit::comm(p).is_some_and(|c| c.starts_with(comm)))
    })
    .unwrap_or_else(|| panic!("no process {comm} in sandbox {name}"))
}

/// `path` (absolute, as the app sees it) in the sandbox of process `pid`.
pub fn inside(pid: i32, path: &str) -> PathBuf {
    PathBuf::from(format!("/proc/{pid}/root{path}"))
}

/// The names in `dir`, sorted; none when it cannot be read.
pub fn names_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// Every file and directory below `dir`, as paths relative to it, sorted.
pub fn tree_below(dir: &Path) -> Vec<String> {
    let mut found = Vec::new();
    let mut todo = vec![dir.to_owned()];
    while let Some(d) = todo.pop() {
        for entry in fs::read_dir(&d).into_iter().flatten().flatten() {
            let path = entry.path();
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                todo.push(path.clone());
            }
            let relative = path.strip_prefix(dir).unwrap_or(&path);
            found.push(relative.display().to_string());
        }
    }
    found.sort();
    found
}

/// What the app was granted, seen from the host: everything below
/// /run/wsbox/docs and /run/wsbox/files inside the sandbox of `pid`.
pub fn granted(pid: i32) -> Vec<String> {
    let mut all = Vec::new();
    for place in ["/run/wsbox/docs", "/run/wsbox/files"] {
        let root = inside(pid, place);
        assert!(root.is_dir(), "{place} is missing inside");
        all.extend(
            tree_below(&root)
                .into_iter()
                .map(|p| format!("{place}/{p}")),
        );
    }
    all
}

/// The requests `wsbox requests NAME --json` lists; None when the command
/// fails (the sandbox is gone).
pub fn requests(name: &str) -> Option<Vec<Value>> {
    let out = run_wsbox(&["requests", name, "--json"]);
    if !out.status.success() {
        return None;
    }
    let list: Value = serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("wsbox requests --json printed no JSON: {e}\n{out}"));
    Some(list.as_array().cloned().unwrap_or_default())
}

/// Waits for a request of sandbox `name` for which `want` holds; the last
/// list seen when none comes within [`SEE_LIMIT`].
pub fn find_request(name: &str, want: impl Fn(&Value) -> bool) -> Result<Value, String> {
    let mut last = None;
    let found = poll(SEE_LIMIT, || {
        let list = requests(name)?;
        let found = list.iter().find(|r| want(r)).cloned();
        last = Some(list);
        found
    });
    found.ok_or_else(|| format!("none within {SEE_LIMIT:?}; last requests: {last:?}"))
}

/// [`find_request`] that fails the test, saying what it waited for.
pub fn wait_for_request(name: &str, what: &str, want: impl Fn(&Value) -> bool) -> Value {
    find_request(name, want).unwrap_or_else(|e| panic!("no {what}: {e}"))
}

/// Waits until sandbox `name` has no request waiting.
pub fn wait_for_no_request(name: &str) {
    let mut last = None;
    let none = poll(SEE_LIMIT, || {
        let list = requests(name)?;
        let empty = list.is_empty();
        last = Some(list);
        empty.then_some(())
    });
    assert!(none.is_some(), "requests still wait: {last:?}");
}

/// A request's id.
pub fn id_of(request: &Value) -> String {
    request["id"]
        .as_u64()
        .unwrap_or_else(|| panic!("no id in {request}"))
        .to_string()
}

/// Whether `request` has a filter named `name` (Qt pads names with a
/// space) with `rule` among its patterns or MIME types.
pub fn has_filter(request: &Value, name: &str, rule: &str) -> bool {
    request["filters"].as_array().is_some_and(|filters| {
        filters.iter().any(|f| {
            f["name"].as_str().is_some_and(|n| n.trim() == name)
                && ["patterns", "mime_types"].iter().any(|k| {
                    f[*k]
                        .as_array()
                        .is_some_and(|rules| rules.iter().any(|r| r == rule))
                })
        })
    })
}

/// The lines wsbox printed on `stderr` (its own `wsbox: …` lines, log
/// lines of level WARN or ERROR, panics) that contain none of `expected`.
pub fn unexpected_wsbox_lines<'a>(stderr: &'a str, expected: &[&str]) -> Vec<&'a str> {
    stderr
        .lines()
        .filter(|l| {
            l.starts_with("wsbox:")
                || l.contains(" WARN ")
                || l.contains(" ERROR ")
                || l.contains("panicked")
        })
        .filter(|l| !expected.iter().any(|e| l.contains(e)))
        .collect()
}

/// Fails the test when wsbox printed anything on `out`'s stderr it was not
/// expected to (see [`unexpected_wsbox_lines`]).
pub fn assert_quiet(out: &Out, expected: &[&str]) {
    let lines = unexpected_wsbox_lines(&out.stderr, expected);
    assert!(lines.is_empty(), "wsbox printed {lines:?}\n{out}");
}

/// A screenshot of sandbox `name` into `dir`/`file`.
pub fn screenshot(name: &str, dir: &Path, file: &str) -> Image {
    let path = dir.join(file);
    let out = run_wsbox(&["screenshot", name, path.to_str().unwrap_or_default()]);
    assert!(out.status.success(), "{out}");
    Image::load(&path)
}

/// The mean brightness (0–255) of `image` in the rectangle, every 4th
/// pixel.
pub fn brightness(image: &Image, x0: i64, y0: i64, x1: i64, y1: i64) -> u32 {
    let (mut sum, mut n) = (0u64, 0u64);
    for y in (y0..y1).step_by(4) {
        for x in (x0..x1).step_by(4) {
            let [r, g, b] = image.at(x, y);
            sum += u64::from(r) + u64::from(g) + u64::from(b);
            n += 3;
        }
    }
    (sum / n.max(1)) as u32
}
