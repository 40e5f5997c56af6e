//! End-to-end tests of `wsbox run --headless` with real, unmodified Debian
//! clients: weston-simple-shm (screenshots show its pattern on wsbox's
//! background), foot (text typed with `wsbox input` reaches the app intact;
//! wsbox's title bar and border frame the window), wayland-info (exactly the
//! allowlisted globals), grim and wtype (screen capture and input injection are
//! refused), wl-copy/wl-paste (the clipboard works inside one sandbox and does
//! not cross to another), a GTK demo, and the lifecycle: crashing clients,
//! the sandbox ending with its app and taking every client along, the runtime
//! directory, `wsbox stop`, `wsbox ps` and errors for unknown names.
//!
//! Every sandbox runs as root (as CI does) with its own name and a private
//! `XDG_RUNTIME_DIR` for this test process, so the tests run in parallel and
//! never see another wsbox. Needs `cargo build --workspace --bins`. A test
//! whose program is missing prints `SKIPPED: <test>: <program> not installed`
//! and passes, unless CI=true or WSBOX_MUST_WORK=1, where it fails instead.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeSet, HashSet};
use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use testkit::frame::{BACKGROUND, BORDER, POLICY_COLOUR, TITLE_HEIGHT};
use testkit::{
    find_program, marked_processes, near_by, output, poll, unique_mark, Image, Out, MARK_VAR,
};

/// This test process's directory under /tmp.
fn root_dir() -> &'static Path {
    testkit::root_dir("headless", true)
}

/// The longest any one `wsbox` command may take before the test gives up.
const RUN_LIMIT: Duration = Duration::from_secs(30);
/// How long a client may take to show its first window.
const WINDOW_LIMIT: Duration = Duration::from_secs(15);
/// The only globals a sandboxed client may see (docs/security.md, "The Wayland surface").
const ALLOWED_GLOBALS: &[&str] = &[
    "wl_compositor",
    "wl_subcompositor",
    "wl_shm",
    "wl_seat",
    "wl_output",
    "wl_data_device_manager",
    "zwp_primary_selection_device_manager_v1",
    "xdg_wm_base",
    "zxdg_decoration_manager_v1",
    "wp_viewporter",
    "wp_fractional_scale_manager_v1",
    "wp_presentation",
    "xdg_activation_v1",
    "wp_cursor_shape_manager_v1",
    "wp_single_pixel_buffer_manager_v1",
    "zxdg_output_manager_v1",
    "zwp_text_input_manager_v3",
];
// ---------------------------------------------------------------------------
// Harness: skipping, scratch space, running wsbox.
// ---------------------------------------------------------------------------

/// Whether `test` can run here: as root, on a kernel that can make sandboxes,
/// with every one of `programs` installed. Otherwise it has skipped.
fn ready(test: &str, programs: &[&str]) -> bool {
    testkit::ready_as_root(test, programs, || {
        wsbox(&["run", "--display", "none", "--", "true"])
    })
}

/// wsbox's XDG_RUNTIME_DIR in these tests.
fn runtime_base() -> PathBuf {
    root_dir().join("run")
}

/// A fresh directory for `test`, writable by the sandboxed app (which runs as
/// an unprivileged host id when wsbox runs as root).
fn scratch(test: &str) -> PathBuf {
    testkit::scratch_in(root_dir(), test, 0o777)
}

/// A sandbox name unique to this test and process.
fn unique_name(test: &str) -> String {
    testkit::unique_name("hl-", test)
}

/// `wsbox ARGS` with this process's runtime directory.
fn wsbox(args: &[&str]) -> Command {
    testkit::wsbox_command(&runtime_base(), args)
}

/// `wsbox run --headless ARGS` to its end.
fn run_headless(args: &[&str]) -> Out {
    let mut all = vec!["run", "--headless"];
    all.extend_from_slice(args);
    output(wsbox(&all), RUN_LIMIT)
}

/// A `wsbox` client command (`windows`, `input`, `stop`, …) that must succeed.
fn control(args: &[&str]) -> Out {
    let out = output(wsbox(args), RUN_LIMIT);
    assert!(out.status.success(), "wsbox {args:?} failed\n{out}");
    out
}

/// A `wsbox run --headless --name NAME` in the background. Dropping it stops
/// the sandbox (`wsbox stop`, then SIGKILL to wsbox), so nothing outlives a
/// failed test.
struct Sandbox {
    name: String,
    child: Option<Child>,
    stdout: PathBuf,
    stderr: PathBuf,
    started: Instant,
}

impl Sandbox {
    /// Starts `wsbox run --headless --name <unique> OPTIONS -- COMMAND`.
    fn start(test: &str, options: &[&str], command: &[&str]) -> Self {
        Self::start_marked(test, options, command, None)
    }

    /// Like [`Sandbox::start`], with [`MARK_VAR`]`=mark` on wsbox and inside.
    fn start_marked(test: &str, options: &[&str], command: &[&str], mark: Option<&str>) -> Self {
        let name = unique_name(test);
        let dir = scratch(test);
        let (stdout, stderr) = (dir.join("stdout"), dir.join("stderr"));
        let mark_env = mark.map(|m| format!("{MARK_VAR}={m}"));
        let mut args = vec!["run", "--headless", "--name", &name];
        if let Some(env) = &mark_env {
            args.extend(["--env", env]);
        }
        args.extend_from_slice(options);
        args.push("--");
        args.extend_from_slice(command);
        let mut cmd = wsbox(&args);
        if let Some(mark) = mark {
            cmd.env(MARK_VAR, mark);
        }
        let child = cmd
            .stdout(fs::File::create(&stdout).unwrap())
            .stderr(fs::File::create(&stderr).unwrap())
            .spawn()
            .unwrap_or_else(|e| panic!("failed to start {cmd:?}: {e}"));
        Self {
            name,
            child: Some(child),
            stdout,
            stderr,
            started: Instant::now(),
        }
    }

    /// `$XDG_RUNTIME_DIR/wsbox/NAME`.
    fn runtime_dir(&self) -> PathBuf {
        runtime_base().join("wsbox").join(&self.name)
    }

    /// The output so far (and the status, once wsbox has ended).
    fn describe(&mut self) -> String {
        let status = match self.child.as_mut().map(|c| c.try_wait()) {
            Some(Ok(Some(status))) => status.to_string(),
            Some(_) => "still running".into(),
            None => "reaped".into(),
        };
        format!(
            "sandbox {}: {status} after {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.name,
            self.started.elapsed(),
            fs::read_to_string(&self.stdout).unwrap_or_default(),
            fs::read_to_string(&self.stderr).unwrap_or_default()
        )
    }

    fn has_ended(&mut self) -> bool {
        !matches!(self.child.as_mut().map(Child::try_wait), Some(Ok(None)))
    }

    /// The sandbox's windows as `wsbox windows NAME --json` reports them, or
    /// None while wsbox is not answering yet.
    fn windows(&self) -> Option<Vec<Value>> {
        let out = output(wsbox(&["windows", &self.name, "--json"]), RUN_LIMIT);
        if !out.status.success() {
            return None;
        }
        let value: Value = serde_json::from_str(&out.stdout)
            .unwrap_or_else(|e| panic!("wsbox windows --json printed no JSON ({e})\n{out}"));
        match value {
            Value::Array(windows) => Some(windows),
            other => panic!("wsbox windows --json printed {other}, not an array"),
        }
    }

    /// Waits until a window for which `want` holds exists, and returns it.
    fn wait_for_window(&mut self, what: &str, want: impl Fn(&Value) -> bool) -> Value {
        let mut last = None;
        let found = poll(WINDOW_LIMIT, || {
            if self.has_ended() {
                return Some(None);
            }
            let windows = self.windows()?;
            let found = windows.iter().find(|w| want(w)).cloned();
            last = Some(windows);
            found.map(Some)
        });
        match found {
            Some(Some(window)) => window,
            Some(None) => panic!("wsbox ended before showing {what}\n{}", self.describe()),
            None => panic!(
                "no {what} within {WINDOW_LIMIT:?}; last windows: {last:?}\n{}",
                self.describe()
            ),
        }
    }

    /// Waits for wsbox to end by itself.
    fn wait(&mut self, limit: Duration) -> Out {
        let child = self.child.as_mut().expect("wsbox already reaped");
        let Some(status) = poll(limit, || child.try_wait().unwrap()) else {
            panic!("wsbox did not end within {limit:?}\n{}", self.describe());
        };
        self.child = None;
        Out {
            what: format!("wsbox run --headless --name {}", self.name),
            mark: None,
            status,
            stdout: fs::read_to_string(&self.stdout).unwrap_or_default(),
            stderr: fs::read_to_string(&self.stderr).unwrap_or_default(),
            elapsed: self.started.elapsed(),
        }
    }

    /// `wsbox screenshot NAME FILE`, decoded.
    fn screenshot(&self, test: &str) -> Image {
        let file = scratch(test).join("screenshot.png");
        control(&["screenshot", &self.name, file.to_str().unwrap()]);
        Image::load(&file)
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        if let Ok(None) = child.try_wait() {
            let _ = wsbox(&["stop", &self.name])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
            // The app gets SIGTERM and 2 s of grace before SIGKILL.
            poll(Duration::from_secs(5), || child.try_wait().ok().flatten());
            let _ = child.kill();
        }
        let _ = child.wait();
    }
}

fn window_str<'a>(window: &'a Value, key: &str) -> &'a str {
    window[key].as_str().unwrap_or_default()
}

fn window_geometry(window: &Value) -> [i64; 4] {
    ["x", "y", "width", "height"].map(|k| window[k].as_i64().unwrap_or(i64::MIN))
}

/// Whether a screenshot's colour is `expected`, but for rounding.
fn near(actual: [u8; 3], expected: [u8; 3]) -> bool {
    near_by(actual, expected, 1)
}

// ---------------------------------------------------------------------------
// 1. Screenshots of a real client.
// ---------------------------------------------------------------------------

#[test]
fn screenshot_shows_weston_simple_shm_on_the_background() {
    let test = "screenshot_shows_weston_simple_shm_on_the_background";
    if !ready(test, &["weston-simple-shm"]) {
        return;
    }
    let file = scratch(test).join("shot.png");
    let name = unique_name(test);
    let out = run_headless(&[
        "--name",
        &name,
        "--screenshot",
        file.to_str().unwrap(),
        "--timeout",
        "2",
        "--",
        "weston-simple-shm",
    ]);
    assert_eq!(
        out.status.code(),
        Some(124),
        "--timeout must end with 124\n{out}"
    );
    assert!(
        out.elapsed < Duration::from_secs(10),
        "--timeout 2 took {:?}\n{out}",
        out.elapsed
    );
    let image = Image::load(&file);
    assert_eq!(
        (image.width, image.height),
        (1280, 720),
        "default output size"
    );

    // weston-simple-shm draws a 250x250 buffer at the output's top-left: a
    // 20 px opaque white frame around rings and bars of many colours.
    for (x, y) in [(5, 5), (244, 5), (5, 244), (244, 244), (125, 10), (10, 125)] {
        assert_eq!(
            image.at(x, y),
            [255, 255, 255],
            "({x},{y}) should be weston-simple-shm's white frame"
        );
    }
    let mut pattern = HashSet::new();
    for y in (20..230).step_by(5) {
        for x in (20..230).step_by(5) {
            pattern.insert(image.at(x, y));
        }
    }
    pattern.retain(|&c| !near(c, BACKGROUND) && c != [255, 255, 255]);
    assert!(
        pattern.len() >= 20,
        "the client's area shows only {} colours besides background and white: {pattern:?}",
        pattern.len()
    );

    // Beyond the buffer: the compositor's background, and nothing else.
    for (x, y) in [(1000, 600), (260, 10), (10, 260), (250, 250), (1279, 719)] {
        assert!(
            near(image.at(x, y), BACKGROUND),
            "({x},{y}) is {:?}, not the background {BACKGROUND:?}",
            image.at(x, y)
        );
    }
    let outside = image.colours(250, 0, 1280, 720);
    assert_eq!(
        outside.len(),
        1,
        "right of the client the screen should be plain background: {:?}",
        outside.keys().take(8).collect::<Vec<_>>()
    );
}

// ---------------------------------------------------------------------------
// 2. Typing into a real terminal.
// ---------------------------------------------------------------------------

#[test]
fn typed_text_reaches_foot_intact() {
    let test = "typed_text_reaches_foot_intact";
    if !ready(test, &["foot", "sh"]) {
        return;
    }
    let out_dir = scratch(test);
    let bind = format!("{}:/home/user/out", out_dir.display());
    // The shell inside foot writes what it read to the bound directory, so
    // the only way text gets there is through foot's keyboard handling.
    let script = "IFS= read -r first; IFS= read -r second; \
                  printf '%s\\n%s' \"$first\" \"$second\" > /home/user/out/typed.tmp; \
                  mv /home/user/out/typed.tmp /home/user/out/typed; sleep 30";
    let mut sandbox = Sandbox::start(test, &["--rw", &bind], &["foot", "-e", "sh", "-c", script]);
    let window = sandbox.wait_for_window("a focused foot window", |w| {
        w["focused"] == Value::Bool(true) && window_str(w, "app_id") == "foot"
    });
    // foot asks for server-side decorations: the window fills the output
    // below wsbox's title bar, inside its border.
    assert_eq!(
        window_geometry(&window),
        [
            BORDER,
            TITLE_HEIGHT,
            1280 - 2 * BORDER,
            720 - TITLE_HEIGHT - BORDER
        ],
        "foot's window geometry: {window}"
    );

    let first = "Hello, World! ~@#$";
    let second = "0123456789 !%^&*()_+{}|:\"<>? ABC xyz `-=[]\\;',./";
    control(&["input", &sandbox.name, "type", first]);
    control(&["input", &sandbox.name, "key", "Return"]);
    control(&["input", &sandbox.name, "type", second]);
    control(&["input", &sandbox.name, "key", "Return"]);
    let typed = out_dir.join("typed");
    let got = poll(Duration::from_secs(10), || fs::read_to_string(&typed).ok());
    let expected = format!("{first}\n{second}");
    assert_eq!(
        got.as_deref(),
        Some(expected.as_str()),
        "what the shell in foot read\n{}",
        sandbox.describe()
    );

    // wsbox's marking: the title bar and border in the policy colour, with
    // the title text drawn into the bar.
    let image = sandbox.screenshot(test);
    assert_eq!((image.width, image.height), (1280, 720));
    for (x, y) in [
        (1200, 2),
        (1270, 12),
        (1275, 21),
        (0, 400),
        (1, 400),
        (1278, 400),
        (1279, 400),
        (640, 718),
        (640, 719),
    ] {
        assert_eq!(
            image.at(x, y),
            POLICY_COLOUR,
            "({x},{y}) should be wsbox's frame"
        );
    }
    for (x, y) in [(2, 400), (1277, 400), (640, 24), (640, 717)] {
        assert_ne!(
            image.at(x, y),
            POLICY_COLOUR,
            "({x},{y}) should be foot's own content"
        );
    }
    let title = image.colours(0, 0, 600, TITLE_HEIGHT);
    assert!(
        title.len() > 2,
        "no title text in the title bar: colours {:?}",
        title.keys().collect::<Vec<_>>()
    );
}

// ---------------------------------------------------------------------------
// 3. Sizes.
// ---------------------------------------------------------------------------

#[test]
fn resizing_the_output_resizes_foot() {
    let test = "resizing_the_output_resizes_foot";
    if !ready(test, &["foot", "sh", "stty"]) {
        return;
    }
    let out_dir = scratch(test);
    let bind = format!("{}:/home/user/out", out_dir.display());
    // The shell reports the terminal's size whenever foot resizes its pty.
    let script = "report() { stty size > /home/user/out/size.tmp; \
                  mv /home/user/out/size.tmp /home/user/out/size; }; \
                  trap report WINCH; report; while :; do sleep 0.1; done";
    let mut sandbox = Sandbox::start(test, &["--rw", &bind], &["foot", "-e", "sh", "-c", script]);
    sandbox.wait_for_window("a focused foot window", |w| {
        w["focused"] == Value::Bool(true) && window_str(w, "app_id") == "foot"
    });
    let size_file = out_dir.join("size");
    // The first report may come before foot has sized its pty to the window
    // (24x80): wait for the size of the 1276x694 window (cells are 7x14).
    let rows = |s: &str| {
        s.split_whitespace()
            .next()
            .and_then(|r| r.parse::<u32>().ok())
    };
    let before = poll(Duration::from_secs(10), || {
        fs::read_to_string(&size_file)
            .ok()
            .filter(|s| rows(s) > Some(40))
    })
    .expect("the terminal sized to the full output");

    control(&["resize", &sandbox.name, "800x500"]);
    let window = sandbox.wait_for_window("foot at the new size", |w| {
        w["width"].as_i64() == Some(800 - 2 * BORDER)
    });
    assert_eq!(
        window_geometry(&window),
        [
            BORDER,
            TITLE_HEIGHT,
            800 - 2 * BORDER,
            500 - TITLE_HEIGHT - BORDER
        ],
        "{window}"
    );
    let after = poll(Duration::from_secs(10), || {
        fs::read_to_string(&size_file).ok().filter(|s| *s != before)
    });
    let (parse, after) = (
        |s: &str| -> Vec<u32> {
            s.split_whitespace()
                .filter_map(|n| n.parse().ok())
                .collect()
        },
        after.expect("foot resized its terminal"),
    );
    let (b, a) = (parse(&before), parse(&after));
    assert!(
        a.len() == 2 && b.len() == 2 && a[0] < b[0] && a[1] < b[1],
        "rows and columns before {b:?}, after {a:?}"
    );
    let image = sandbox.screenshot(test);
    assert_eq!((image.width, image.height), (800, 500));

    let out = output(
        wsbox(&["resize", &sandbox.name, "10x10"]),
        Duration::from_secs(10),
    );
    assert_eq!(out.status.code(), Some(125), "{out}");
    assert_eq!(out.stderr.lines().count(), 1, "{out}");
}

#[test]
fn the_keymap_comes_from_the_policy() {
    let test = "the_keymap_comes_from_the_policy";
    if !ready(test, &["foot", "sh"]) {
        return;
    }
    let out_dir = scratch(test);
    let policy = out_dir.join("de.toml");
    fs::write(&policy, "[keyboard]\nlayout = \"de\"\n").unwrap();
    let bind = format!("{}:/home/user/out", out_dir.display());
    let script = "IFS= read -r line; printf '%s' \"$line\" > /home/user/out/typed.tmp; \
                  mv /home/user/out/typed.tmp /home/user/out/typed; sleep 30";
    let mut sandbox = Sandbox::start(
        test,
        &["--policy", policy.to_str().unwrap(), "--rw", &bind],
        &["foot", "-e", "sh", "-c", script],
    );
    sandbox.wait_for_window("a focused foot window", |w| {
        w["focused"] == Value::Bool(true) && window_str(w, "app_id") == "foot"
    });
    // ß, ä and € exist only on the German keymap (€ on its AltGr level).
    let text = "Grüße zäh 5€ yz";
    control(&["input", &sandbox.name, "type", text]);
    control(&["input", &sandbox.name, "key", "Return"]);
    let got = poll(Duration::from_secs(10), || {
        fs::read_to_string(out_dir.join("typed")).ok()
    });
    assert_eq!(got.as_deref(), Some(text), "{}", sandbox.describe());
}

#[test]
fn text_outside_the_keymap_is_refused_whole() {
    let test = "text_outside_the_keymap_is_refused_whole";
    if !ready(test, &["foot"]) {
        return;
    }
    let mut sandbox = Sandbox::start(test, &[], &["foot", "-e", "sleep", "30"]);
    sandbox.wait_for_window("a focused foot window", |w| {
        w["focused"] == Value::Bool(true)
    });
    let out = output(
        wsbox(&["input", &sandbox.name, "type", "abc ß"]),
        Duration::from_secs(10),
    );
    assert_eq!(out.status.code(), Some(125), "{out}");
    assert_eq!(out.stderr.lines().count(), 1, "{out}");
    assert!(out.stderr.contains("cannot type 'ß'"), "{out}");
}

#[test]
fn output_option_sizes_the_screen_and_its_windows() {
    let test = "output_option_sizes_the_screen_and_its_windows";
    if !ready(test, &["foot"]) {
        return;
    }
    let mut sandbox = Sandbox::start(
        test,
        &["--output", "800x600"],
        &["foot", "-e", "sleep", "30"],
    );
    let window = sandbox.wait_for_window("a foot window", |w| {
        window_str(w, "app_id") == "foot" && w["width"].as_i64() == Some(800 - 2 * BORDER)
    });
    assert_eq!(
        window_geometry(&window),
        [
            BORDER,
            TITLE_HEIGHT,
            800 - 2 * BORDER,
            600 - TITLE_HEIGHT - BORDER
        ],
        "foot's window on an 800x600 output: {window}"
    );
    let image = sandbox.screenshot(test);
    assert_eq!((image.width, image.height), (800, 600));
    assert_eq!(image.at(799, 300), POLICY_COLOUR, "right border at x=799");
}

// ---------------------------------------------------------------------------
// 4, 5. The protocol surface.
// ---------------------------------------------------------------------------

#[test]
fn wayland_info_lists_exactly_the_allowlisted_globals() {
    let test = "wayland_info_lists_exactly_the_allowlisted_globals";
    if !ready(test, &["wayland-info"]) {
        return;
    }
    let name = unique_name(test);
    let out = run_headless(&["--name", &name, "--", "wayland-info"]);
    assert_eq!(out.status.code(), Some(0), "{out}");
    let globals: BTreeSet<&str> = out
        .stdout
        .lines()
        .filter_map(|line| {
            let rest = line.trim_start().strip_prefix("interface: '")?;
            rest.split_once("',").map(|(name, _)| name)
        })
        .collect();
    let allowed: BTreeSet<&str> = ALLOWED_GLOBALS.iter().copied().collect();
    let extra: Vec<_> = globals.difference(&allowed).collect();
    let missing: Vec<_> = allowed.difference(&globals).collect();
    assert!(
        extra.is_empty() && missing.is_empty(),
        "globals offered but not allowlisted: {extra:?}; allowlisted but missing: {missing:?}\n{out}"
    );
}

#[test]
fn grim_cannot_capture_the_screen() {
    let test = "grim_cannot_capture_the_screen";
    if !ready(test, &["grim"]) {
        return;
    }
    let name = unique_name(test);
    let out = run_headless(&["--name", &name, "--", "grim", "/tmp/shot.png"]);
    let code = out.status.code();
    assert!(
        code.is_some_and(|c| c != 0 && c < 124),
        "grim must run and fail on its own\n{out}"
    );
    assert!(
        out.stderr.to_lowercase().contains("screencopy"),
        "grim should name the missing screencopy protocol\n{out}"
    );
}

#[test]
fn wtype_cannot_inject_keys() {
    let test = "wtype_cannot_inject_keys";
    if !ready(test, &["wtype"]) {
        return;
    }
    let name = unique_name(test);
    let out = run_headless(&["--name", &name, "--", "wtype", "hello"]);
    let code = out.status.code();
    assert!(
        code.is_some_and(|c| c != 0 && c < 124),
        "wtype must run and fail on its own\n{out}"
    );
    assert!(
        out.stderr.to_lowercase().contains("virtual keyboard"),
        "wtype should name the missing virtual keyboard protocol\n{out}"
    );
}

// ---------------------------------------------------------------------------
// 6. Clipboard.
// ---------------------------------------------------------------------------

#[test]
fn clipboard_works_between_clients_of_one_sandbox() {
    let test = "clipboard_works_between_clients_of_one_sandbox";
    if !ready(test, &["wl-copy", "wl-paste", "sh"]) {
        return;
    }
    let name = unique_name(test);
    let out = run_headless(&[
        "--name",
        &name,
        "--",
        "sh",
        "-c",
        "printf secret | wl-copy && wl-paste -n && echo && \
         printf psecret | wl-copy --primary && wl-paste -n --primary",
    ]);
    assert_eq!(out.status.code(), Some(0), "{out}");
    assert_eq!(out.stdout, "secret\npsecret", "{out}");
}

#[test]
fn clipboard_does_not_cross_between_sandboxes() {
    let test = "clipboard_does_not_cross_between_sandboxes";
    if !ready(test, &["wl-copy", "wl-paste", "sh"]) {
        return;
    }
    let mut holder = Sandbox::start(
        test,
        &[],
        &[
            "sh",
            "-c",
            "printf crossing | wl-copy && printf crossing | wl-copy --primary && \
             wl-paste -n && echo && echo ready && sleep 30",
        ],
    );
    let ready = poll(RUN_LIMIT, || {
        fs::read_to_string(&holder.stdout)
            .ok()
            .filter(|s| s.contains("ready") || holder.has_ended())
    });
    assert!(
        ready.is_some_and(|s| s == "crossing\nready\n"),
        "the first sandbox did not take the clipboard\n{}",
        holder.describe()
    );
    let name = unique_name(test);
    let out = run_headless(&[
        "--name",
        &name,
        "--",
        "sh",
        "-c",
        "wl-paste -n; echo; wl-paste -n --primary; echo done",
    ]);
    assert!(out.stdout.ends_with("done\n"), "{out}");
    assert!(
        !out.stdout.contains("crossing"),
        "another sandbox's clipboard leaked in\n{out}"
    );
}

// ---------------------------------------------------------------------------
// 7. A toolkit application.
// ---------------------------------------------------------------------------

#[test]
fn gtk_demo_shows_a_titled_window() {
    let test = "gtk_demo_shows_a_titled_window";
    let Some(demo) = ["gtk3-demo", "gtk4-demo"]
        .into_iter()
        .find(|p| find_program(p).is_some())
    else {
        // Names both so the message says what to install.
        ready(test, &["gtk3-demo (or gtk4-demo)"]);
        return;
    };
    if !ready(test, &[demo]) {
        return;
    }
    let mut sandbox = Sandbox::start(test, &[], &[demo]);
    let window = sandbox.wait_for_window("a window with a title", |w| {
        !window_str(w, "title").is_empty()
    });
    eprintln!("{test}: {demo} shows {window}");
    // The window exists before GTK has drawn everything: wait for content.
    let mut last = 0;
    let varied = poll(WINDOW_LIMIT, || {
        let image = sandbox.screenshot(test);
        let colours = image.colours(0, 0, image.width, image.height);
        last = colours.len();
        let commonest = colours.values().max().copied().unwrap_or(0);
        let total = (image.width * image.height) as usize;
        (colours.len() >= 16 && commonest < total * 95 / 100).then_some(())
    });
    assert!(
        varied.is_some(),
        "{demo}'s screen stays (nearly) uniform: {last} colours\n{}",
        sandbox.describe()
    );
}

// ---------------------------------------------------------------------------
// 8. Lifecycle.
// ---------------------------------------------------------------------------

#[test]
fn a_crashing_client_leaves_the_compositor_serving() {
    let test = "a_crashing_client_leaves_the_compositor_serving";
    if !ready(test, &["weston-simple-shm", "wayland-info", "sh"]) {
        return;
    }
    // The shell kills the client once the test has seen its window, and
    // asks the compositor for its globals once the window has gone.
    let out_dir = scratch(test);
    let bind = format!("{}:/out", out_dir.display());
    let mut sandbox = Sandbox::start(
        test,
        &["--rw", &bind],
        &[
            "sh",
            "-c",
            "weston-simple-shm & until [ -e /out/kill ]; do sleep 0.1; done; kill -9 $!; \
             until [ -e /out/check ]; do sleep 0.1; done; wayland-info >/dev/null && echo alive",
        ],
    );
    sandbox.wait_for_window("weston-simple-shm's window", |_| true);
    fs::write(out_dir.join("kill"), "").unwrap();
    let gone = poll(WINDOW_LIMIT, || {
        sandbox.windows().filter(Vec::is_empty).map(drop)
    });
    assert!(
        gone.is_some(),
        "the killed client's window stayed\n{}",
        sandbox.describe()
    );
    fs::write(out_dir.join("check"), "").unwrap();
    let out = sandbox.wait(RUN_LIMIT);
    assert_eq!(out.status.code(), Some(0), "{out}");
    assert_eq!(out.stdout.trim(), "alive", "{out}");
    assert!(!out.stderr.contains("panicked"), "{out}");
}

#[test]
fn the_sandbox_ends_with_its_app() {
    let test = "the_sandbox_ends_with_its_app";
    if !ready(test, &["true"]) {
        return;
    }
    let name = unique_name(test);
    let out = run_headless(&["--name", &name, "--", "true"]);
    assert_eq!(out.status.code(), Some(0), "{out}");
    assert!(
        out.elapsed < Duration::from_secs(5),
        "`true` took {:?} to end its sandbox",
        out.elapsed
    );
    let out = run_headless(&["--name", &name, "--", "sh", "-c", "exit 7"]);
    assert_eq!(out.status.code(), Some(7), "the app's status\n{out}");
}

#[test]
fn other_clients_end_with_the_app() {
    let test = "other_clients_end_with_the_app";
    if !ready(test, &["weston-simple-shm", "sh"]) {
        return;
    }
    let mark = unique_mark(test);
    // The app ends when the test says so (/out/end), leaving the other
    // client running.
    let out_dir = scratch(test);
    let bind = format!("{}:/out", out_dir.display());
    let mut sandbox = Sandbox::start_marked(
        test,
        &["--rw", &bind],
        &[
            "sh",
            "-c",
            "weston-simple-shm & until [ -e /out/end ]; do sleep 0.1; done; exit 0",
        ],
        Some(&mark),
    );
    // First make sure the other client really runs and is connected.
    sandbox.wait_for_window("weston-simple-shm's window", |_| true);
    let running = marked_processes(&mark);
    assert!(
        running
            .iter()
            .any(|(_, cmd)| cmd.starts_with("weston-simple-shm")),
        "weston-simple-shm is not running: {running:?}"
    );
    fs::write(out_dir.join("end"), "").unwrap();
    let ended = Instant::now();
    let out = sandbox.wait(Duration::from_secs(10));
    assert_eq!(out.status.code(), Some(0), "the app's status\n{out}");
    assert!(
        ended.elapsed() < Duration::from_secs(5),
        "wsbox took {:?} to end after its app\n{out}",
        ended.elapsed()
    );
    let left = marked_processes(&mark);
    assert!(
        left.is_empty(),
        "processes of the ended sandbox survive: {left:?}"
    );
    assert!(
        !sandbox.runtime_dir().exists(),
        "{} outlives wsbox",
        sandbox.runtime_dir().display()
    );
}

// ---------------------------------------------------------------------------
// 9. The runtime directory and what the app sees of its session.
// ---------------------------------------------------------------------------

#[test]
fn the_runtime_dir_is_private_and_removed() {
    let test = "the_runtime_dir_is_private_and_removed";
    if !ready(test, &["weston-simple-shm"]) {
        return;
    }
    let mut sandbox = Sandbox::start(test, &[], &["weston-simple-shm"]);
    sandbox.wait_for_window("weston-simple-shm's window", |_| true);
    let dir = sandbox.runtime_dir();
    let meta = fs::symlink_metadata(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}\n{}", dir.display(), sandbox.describe()));
    assert!(meta.is_dir(), "{} is not a directory", dir.display());
    assert_eq!(
        meta.mode() & 0o7777,
        0o700,
        "mode of {}: {:o}",
        dir.display(),
        meta.mode() & 0o7777
    );
    // SAFETY: no arguments, cannot fail.
    assert_eq!(meta.uid(), unsafe { libc::geteuid() });
    let base = fs::symlink_metadata(runtime_base().join("wsbox")).unwrap();
    assert_eq!(base.mode() & 0o777, 0o700, "mode of $XDG_RUNTIME_DIR/wsbox");
    for socket in ["wayland-0", "control"] {
        let meta = fs::symlink_metadata(dir.join(socket))
            .unwrap_or_else(|e| panic!("{}/{socket}: {e}", dir.display()));
        assert!(
            meta.file_type().is_socket(),
            "{}/{socket} is not a socket",
            dir.display()
        );
    }
    control(&["stop", &sandbox.name]);
    sandbox.wait(Duration::from_secs(10));
    assert!(!dir.exists(), "{} outlives wsbox", dir.display());
}

#[test]
fn the_app_sees_only_its_own_sockets() {
    let test = "the_app_sees_only_its_own_sockets";
    if !ready(test, &["sh", "ls", "env"]) {
        return;
    }
    let name = unique_name(test);
    let script = "ls -A \"$XDG_RUNTIME_DIR\" | sed 's/^/entry:/'; \
                  [ -S \"$XDG_RUNTIME_DIR/$WAYLAND_DISPLAY\" ] && echo socket:yes; \
                  echo \"wayland:$WAYLAND_DISPLAY\"; \
                  if [ -e /tmp/.X11-unix ]; then echo x11:present; else echo x11:absent; fi; \
                  env | sed 's/^/env:/'";
    let mut cmd = wsbox(&[
        "run",
        "--headless",
        "--name",
        &name,
        "--",
        "sh",
        "-c",
        script,
    ]);
    // A host session's variables must not leak in.
    cmd.env("DISPLAY", ":0")
        .env("XAUTHORITY", "/root/.Xauthority")
        .env("DBUS_SESSION_BUS_ADDRESS", "unix:path=/run/user/0/bus")
        .env(
            "DBUS_SYSTEM_BUS_ADDRESS",
            "unix:path=/run/dbus/system_bus_socket",
        );
    let out = output(cmd, RUN_LIMIT);
    assert_eq!(out.status.code(), Some(0), "{out}");
    let lines: Vec<&str> = out.stdout.lines().collect();
    let entries: Vec<&str> = lines
        .iter()
        .filter_map(|l| l.strip_prefix("entry:"))
        .collect();
    // Its Wayland socket, and its own bus with the file toolkits look for
    // to use the portal (docs/portal.md).
    assert_eq!(
        entries,
        ["bus", "flatpak-info", "wayland-0"],
        "$XDG_RUNTIME_DIR inside\n{out}"
    );
    assert!(
        lines.contains(&"socket:yes"),
        "wayland-0 is no socket\n{out}"
    );
    assert!(
        lines.contains(&"wayland:wayland-0"),
        "WAYLAND_DISPLAY\n{out}"
    );
    assert!(lines.contains(&"x11:absent"), "an X11 socket dir\n{out}");
    let leaked: Vec<&str> = lines
        .iter()
        .filter_map(|l| l.strip_prefix("env:"))
        .filter(|v| v.starts_with("DBUS_") || v.starts_with("DISPLAY=") || v.starts_with("XAUTH"))
        .filter(|v| *v != "DBUS_SESSION_BUS_ADDRESS=unix:path=/run/user/1000/bus")
        .collect();
    assert!(
        leaked.is_empty(),
        "host session variables inside: {leaked:?}"
    );
}

// ---------------------------------------------------------------------------
// 10. Controlling a sandbox from outside.
// ---------------------------------------------------------------------------

#[test]
fn stop_ends_a_running_sandbox() {
    let test = "stop_ends_a_running_sandbox";
    if !ready(test, &["weston-simple-shm"]) {
        return;
    }
    let mut sandbox = Sandbox::start(test, &[], &["weston-simple-shm"]);
    sandbox.wait_for_window("weston-simple-shm's window", |_| true);
    let ps = control(&["ps", "--json"]);
    let listed: Value = serde_json::from_str(&ps.stdout).unwrap();
    assert!(
        listed
            .as_array()
            .is_some_and(|l| l.iter().any(|s| s["name"] == sandbox.name.as_str())),
        "wsbox ps --json does not list {}\n{ps}",
        sandbox.name
    );
    control(&["stop", &sandbox.name]);
    let out = sandbox.wait(Duration::from_secs(10));
    // weston-simple-shm either honours the close request or dies of SIGTERM.
    assert!(
        matches!(out.status.code(), Some(0 | 143)),
        "status after wsbox stop\n{out}"
    );
    let ps = control(&["ps", "--json"]);
    assert!(
        !ps.stdout.contains(&sandbox.name),
        "wsbox ps still lists a stopped sandbox\n{ps}"
    );
}

#[test]
fn unknown_names_are_one_line_errors() {
    let test = "unknown_names_are_one_line_errors";
    if !ready(test, &[]) {
        return;
    }
    let name = unique_name("nonexistent");
    let file = scratch(test).join("never.png");
    for args in [
        vec!["windows", &name],
        vec!["windows", &name, "--json"],
        vec!["stop", &name],
        vec!["screenshot", &name, file.to_str().unwrap()],
        vec!["input", &name, "type", "x"],
    ] {
        let out = output(wsbox(&args), RUN_LIMIT);
        assert_eq!(out.status.code(), Some(125), "wsbox {args:?}\n{out}");
        assert_eq!(out.stderr.lines().count(), 1, "wsbox {args:?}\n{out}");
        assert!(
            out.stderr.contains(&name),
            "the error should name {name}\n{out}"
        );
        assert!(out.stdout.is_empty(), "wsbox {args:?}\n{out}");
    }
    assert!(!file.exists());
}

/// An app that draws and ends before `--timeout`: `--screenshot` holds the
/// last frame it showed, one line says so, and the status is the app's own
/// (the timeout never fired). An app that never showed a window leaves no
/// file and a line that says why.
#[test]
fn an_app_that_ends_before_the_timeout_leaves_its_last_frame() {
    let test = "an_app_that_ends_before_the_timeout_leaves_its_last_frame";
    if !ready(test, &[]) {
        return;
    }
    let client = match testkit::built("bench-client") {
        Ok(path) => path,
        Err(e) => return testkit::skip(test, &e),
    };
    let dir = scratch(test);
    let shot = dir.join("last.png");
    let ro = format!("{}:/opt/bench-client", client.display());
    let out = run_headless(&[
        "--screenshot",
        shot.to_str().unwrap(),
        "--timeout",
        "60",
        "--ro",
        &ro,
        "--",
        "/opt/bench-client",
        "--frames",
        "20",
    ]);
    assert_eq!(out.code(), Some(0), "{out}");
    let said = format!(
        "wsbox: the app ended before --timeout; {} holds the last frame it showed",
        shot.display()
    );
    assert!(out.stderr.lines().any(|l| l == said), "{out}");
    let image = Image::load(&shot);
    let centre = image.at(image.width / 2, image.height / 2);
    assert!(
        !near(centre, BACKGROUND),
        "the last frame shows only the background: {centre:?}"
    );

    let none = dir.join("none.png");
    let out = run_headless(&[
        "--screenshot",
        none.to_str().unwrap(),
        "--timeout",
        "60",
        "--",
        "true",
    ]);
    assert_eq!(out.code(), Some(0), "{out}");
    assert!(
        out.stderr.contains("without a frame to show")
            && out.stderr.contains("nothing was written"),
        "{out}"
    );
    assert!(!none.exists(), "a screenshot of nothing was written");
}

/// An X11 program (it links libX11) that fails without showing a window
/// without --x11 gets one line saying that X11 programs need it; any
/// other program that fails gets none.
#[test]
fn an_x11_program_that_finds_no_display_is_told_why() {
    let test = "an_x11_program_that_finds_no_display_is_told_why";
    if !ready(test, &["xeyes", "false"]) {
        return;
    }
    let out = run_headless(&["--", "xeyes"]);
    assert_eq!(out.code(), Some(1), "{out}");
    assert!(
        out.stderr.lines().any(|l| l
            == "wsbox: the app, an X11 program, exited with status 1 without showing a window: \
                DISPLAY is not set inside; X11 programs need --x11 (or the policy's [display] x11 = \
                true), which starts an Xwayland of the sandbox's own"),
        "{out}"
    );
    let out = run_headless(&["--", "false"]);
    assert_eq!(out.code(), Some(1), "{out}");
    assert_eq!(out.stderr.trim(), "", "{out}");
    // Without a display there is nothing to hint at.
    let out = output(
        wsbox(&["run", "--display", "none", "--", "xeyes"]),
        RUN_LIMIT,
    );
    assert_eq!(out.code(), Some(1), "{out}");
    assert!(!out.stderr.contains("X11 programs"), "{out}");
}

/// `wsbox status`: headless, no host focus to report; the app's windows
/// are counted as they show.
#[test]
fn status_reports_the_windows_shown() {
    let test = "status_reports_the_windows_shown";
    if !ready(test, &["weston-simple-shm"]) {
        return;
    }
    let sandbox = Sandbox::start(test, &[], &["weston-simple-shm"]);
    let name = sandbox.name.clone();
    let status = poll(WINDOW_LIMIT, || {
        let out = output(wsbox(&["status", &name, "--json"]), RUN_LIMIT);
        let status: Value = serde_json::from_str(&out.stdout).ok()?;
        (status["windows_shown"].as_u64()? >= 1).then_some(status)
    })
    .expect("wsbox status never counted the window");
    assert!(status.get("host_focused").is_none(), "{status}");
    assert_eq!(status["not_responding"], Value::Bool(false), "{status}");
    assert_eq!(status["stats"]["host_key_presses"], 0, "{status}");
    let out = control(&["status", &name]);
    assert!(out.stdout.contains("host focus:       (headless)"), "{out}");
}
