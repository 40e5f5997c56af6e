//! End-to-end tests of window mode under sway's headless backend, which
//! refuses to run as root: sway, wsbox and the host-side tools (wtype,
//! grim, wl-copy, wl-paste, swaymsg) all run as the unprivileged test user
//! (WSBOX_TEST_USER, default `wsbox-test`, made by `make test` with
//! `useradd --system --no-create-home`). The harness itself runs as root.
//!
//! What the user would see is checked with the host's own tools: text typed
//! with wtype reaches the app inside only while the wsbox window has the
//! host's keyboard focus, grim's screenshot shows wsbox's frame in the policy
//! colour, and the clipboard crosses only by gesture (Ctrl+Shift+C/V).
//!
//! With `WLR_LIBINPUT_NO_DEVICES=1` sway has no keyboard of its own; each
//! host keeps one idle virtual keyboard (a sleeping wtype) so that the seat
//! always has a keyboard, as a real session does. Otherwise every wtype
//! would add and remove the seat's keyboard capability, and its first key
//! would arrive held in wl_keyboard.enter, which wsbox deliberately does not
//! pass on.
//!
//! Needs `cargo build --workspace --bins`. A test whose programs are missing
//! prints `SKIPPED: <test>: <reason>` and passes, unless CI=true or
//! WSBOX_MUST_WORK=1, where it fails instead.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::thread;
use std::time::Duration;

mod common;

use common::{find_program, lookup_user, next, output, poll, skip, Out, Running};

/// This test process's directory under /tmp.
fn root_dir() -> &'static Path {
    common::root_dir("sway", false)
}

const RUN_LIMIT: Duration = Duration::from_secs(30);
const SHOW_LIMIT: Duration = Duration::from_secs(15);
/// The default policy colour of wsbox's frame, #e66100.
const POLICY_COLOUR: [u8; 3] = [0xe6, 0x61, 0x00];
/// The frame while it confirms a clipboard transfer: halfway to white.
const FLASH_COLOUR: [u8; 3] = [0xf2, 0xb0, 0x7f];
/// wsbox's frame in the host window, logical pixels (backend/window.rs).
const BORDER: i64 = 4;
const TITLE_HEIGHT: i64 = 28;
/// sway's headless output.
const SCREEN: (i64, i64) = (1280, 800);
const PATH: &str = "/usr/local/bin:/usr/bin:/bin";

// ---------------------------------------------------------------------------
// Harness
// ---------------------------------------------------------------------------

/// The wsbox binary, copied once into a directory every user can read: the
/// test user runs it, and the build directory may be under root's 0700 home
/// (as it can be in CI).
fn wsbox_bin() -> &'static str {
    static BIN: OnceLock<String> = OnceLock::new();
    BIN.get_or_init(|| {
        let dir = PathBuf::from(format!("/tmp/wsbox-sway-bin.{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).unwrap();
        let to = dir.join("wsbox");
        fs::copy(env!("CARGO_BIN_EXE_wsbox"), &to).unwrap();
        fs::set_permissions(&to, fs::Permissions::from_mode(0o755)).unwrap();
        to.to_string_lossy().into_owned()
    })
}

/// The test user, if the test can run: root, the user exists, sandboxes
/// work for it, `programs` installed.
fn ready(test: &str, programs: &[&str]) -> Option<(u32, u32)> {
    let user = match preflight() {
        Ok(user) => user,
        Err(why) => {
            skip(test, why);
            return None;
        }
    };
    for program in ["sway", "swaymsg", "wtype", "grim", "foot"]
        .iter()
        .chain(programs)
    {
        if find_program(program).is_none() {
            skip(test, &format!("{program} not installed"));
            return None;
        }
    }
    Some(user)
}

fn preflight() -> Result<(u32, u32), &'static str> {
    static CHECK: OnceLock<Result<(u32, u32), String>> = OnceLock::new();
    CHECK
        .get_or_init(|| {
            // SAFETY: no arguments, cannot fail.
            if unsafe { libc::geteuid() } != 0 {
                return Err("not running as root (the test switches to the test user)".into());
            }
            let name = std::env::var("WSBOX_TEST_USER").unwrap_or_else(|_| "wsbox-test".into());
            let (uid, gid) = lookup_user(&name).ok_or_else(|| {
                format!("no user {name:?} (create it: useradd --system --no-create-home {name})")
            })?;
            if uid == 0 {
                return Err(format!("WSBOX_TEST_USER {name:?} is root"));
            }
            let dir = scratch_for("preflight", (uid, gid));
            let mut cmd = as_user(wsbox_bin(), (uid, gid), &dir);
            cmd.args(["run", "--display", "none", "--", "true"]);
            let out = output(cmd, RUN_LIMIT);
            match out.status.code() {
                Some(0) => Ok((uid, gid)),
                Some(125) => Err(format!(
                    "this machine cannot run sandboxes as {name}: {}",
                    out.stderr.trim()
                )),
                _ => panic!("wsbox run --display none -- true as {name} failed\n{out}"),
            }
        })
        .as_ref()
        .copied()
        .map_err(String::as_str)
}

/// A fresh directory owned by `user`, private to it.
fn scratch_for(test: &str, user: (u32, u32)) -> PathBuf {
    // Short: wsbox's sockets live below and must fit in sun_path.
    let short: String = test.chars().take(8).collect();
    let dir = root_dir().join(format!("{short}-{}", next()));
    fs::DirBuilder::new().mode(0o700).create(&dir).unwrap();
    std::os::unix::fs::chown(&dir, Some(user.0), Some(user.1)).unwrap();
    dir
}

fn unique_name(test: &str) -> String {
    let short: String = test.chars().take(12).collect();
    format!("{short}-{}-{}", std::process::id(), next())
}

/// `program` as `user`, with a clean environment and `runtime` as its
/// XDG_RUNTIME_DIR and HOME.
fn as_user(program: &str, user: (u32, u32), runtime: &Path) -> Command {
    let mut cmd = Command::new(program);
    cmd.env_clear()
        .env("PATH", PATH)
        .env("HOME", runtime)
        .env("XDG_RUNTIME_DIR", runtime)
        .env("LANG", "C.UTF-8")
        .current_dir(runtime)
        .stdin(Stdio::null())
        // std drops root's supplementary groups with the switch.
        .uid(user.0)
        .gid(user.1);
    cmd
}

// ---------------------------------------------------------------------------
// The host: sway headless, as the test user.
// ---------------------------------------------------------------------------

struct Sway {
    child: Child,
    user: (u32, u32),
    runtime: PathBuf,
    socket: PathBuf,
    /// An idle virtual keyboard, so the seat always has one.
    keyboard: Option<Child>,
    /// Host clients started with `spawn`, killed with sway.
    clients: Vec<Child>,
}

impl Sway {
    fn start(test: &str, user: (u32, u32), extra_config: &str) -> Self {
        let runtime = scratch_for(test, user);
        let config = runtime.join("config");
        fs::write(
            &config,
            format!("output HEADLESS-1 resolution 1280x800\ndefault_border none\n{extra_config}"),
        )
        .unwrap();
        fs::set_permissions(&config, fs::Permissions::from_mode(0o644)).unwrap();
        let log = fs::File::create(runtime.join("sway.log")).unwrap();
        let mut cmd = as_user("sway", user, &runtime);
        cmd.args(["-c".as_ref(), config.as_os_str()])
            .env("WLR_BACKENDS", "headless")
            .env("WLR_RENDERER", "pixman")
            .env("WLR_LIBINPUT_NO_DEVICES", "1")
            .stdout(log.try_clone().unwrap())
            .stderr(log);
        let child = cmd.spawn().expect("failed to start sway");
        let mut sway = Self {
            child,
            user,
            runtime,
            socket: PathBuf::new(),
            keyboard: None,
            clients: Vec::new(),
        };
        let socket = poll(Duration::from_secs(10), || {
            fs::read_dir(&sway.runtime)
                .ok()?
                .flatten()
                .map(|e| e.path())
                .find(|p| {
                    p.file_name()
                        .is_some_and(|n| n.to_string_lossy().starts_with("wayland-"))
                        && fs::metadata(p).is_ok_and(|m| m.file_type().is_socket())
                })
        });
        let Some(socket) = socket else {
            panic!("sway did not create its socket\n{}", sway.log());
        };
        sway.socket = socket;
        let ipc = poll(Duration::from_secs(10), || {
            sway.swaymsg(&["-t", "get_version"])
                .status
                .success()
                .then_some(())
        });
        assert!(ipc.is_some(), "sway's IPC does not answer\n{}", sway.log());
        let mut keyboard = sway.client("wtype");
        keyboard
            .args(["-s", "3600000"])
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        sway.keyboard = Some(keyboard.spawn().expect("failed to start wtype"));
        sway
    }

    fn log(&self) -> String {
        fs::read_to_string(self.runtime.join("sway.log")).unwrap_or_default()
    }

    fn ipc_socket(&self) -> Option<PathBuf> {
        fs::read_dir(&self.runtime)
            .ok()?
            .flatten()
            .map(|e| e.path())
            .find(|p| {
                p.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with("sway-ipc."))
            })
    }

    /// A host client command, as the test user in this session.
    fn client(&self, program: &str) -> Command {
        let mut cmd = as_user(program, self.user, &self.runtime);
        cmd.env("WAYLAND_DISPLAY", &self.socket);
        if let Some(ipc) = self.ipc_socket() {
            cmd.env("SWAYSOCK", ipc);
        }
        cmd
    }

    fn swaymsg(&self, args: &[&str]) -> Out {
        let mut cmd = self.client("swaymsg");
        cmd.args(args);
        output(cmd, Duration::from_secs(10))
    }

    /// A host client that runs until sway is dropped.
    fn spawn(&mut self, program: &str, args: &[&str]) {
        let mut cmd = self.client(program);
        cmd.args(args).stdout(Stdio::null()).stderr(Stdio::null());
        self.clients.push(cmd.spawn().unwrap());
    }

    /// Runs a host client to its end; it must succeed.
    fn run(&self, program: &str, args: &[&str]) -> Out {
        let mut cmd = self.client(program);
        cmd.args(args);
        let out = output(cmd, Duration::from_secs(10));
        assert!(out.status.success(), "{program} {args:?} failed\n{out}");
        out
    }

    /// Host `wl-copy TEXT`: it forks to serve the selection and keeps its
    /// output open, so nothing of it is collected.
    fn wl_copy(&self, text: &str) {
        let mut cmd = self.client("wl-copy");
        cmd.arg(text).stdout(Stdio::null()).stderr(Stdio::null());
        let status = cmd.status().unwrap();
        assert!(status.success(), "wl-copy {text} failed: {status}");
    }

    /// `wsbox run ARGS` as the test user in this session.
    fn wsbox_run(&self, args: &[&str]) -> Running {
        let mut cmd = self.client(wsbox_bin());
        cmd.arg("run").args(args);
        Running::start(cmd)
    }

    /// The host window with `app_id`: (title, focused, rect).
    fn window(&self, app_id: &str) -> Option<(String, bool, [i64; 4])> {
        let out = self.swaymsg(&["-t", "get_tree", "--raw"]);
        let tree: serde_json::Value = serde_json::from_str(&out.stdout).ok()?;
        find_node(&tree, app_id)
    }

    /// Waits until the window with `app_id` has the keyboard focus.
    fn wait_focused(&self, app_id: &str) {
        let focused = poll(SHOW_LIMIT, || {
            self.window(app_id).and_then(|(_, f, _)| f.then_some(()))
        });
        assert!(
            focused.is_some(),
            "{app_id} never got the focus\n{}",
            self.log()
        );
    }

    fn screenshot(&self, dir: &Path) -> Image {
        let path = dir.join(format!("shot-{}.png", next()));
        self.run("grim", &[path.to_str().unwrap()]);
        Image::load(&path)
    }
}

impl Drop for Sway {
    fn drop(&mut self) {
        for child in self.clients.iter_mut().chain(self.keyboard.as_mut()) {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn find_node(node: &serde_json::Value, app_id: &str) -> Option<(String, bool, [i64; 4])> {
    if node.get("app_id").and_then(|a| a.as_str()) == Some(app_id) {
        let title = node.get("name")?.as_str().unwrap_or("").to_owned();
        let focused = node.get("focused")?.as_bool()?;
        let rect = node.get("rect")?;
        let n = |k: &str| rect.get(k).and_then(|v| v.as_i64()).unwrap_or(0);
        let (x, y, w, h) = (n("x"), n("y"), n("width"), n("height"));
        return Some((title, focused, [x, y, x + w, y + h]));
    }
    ["nodes", "floating_nodes"]
        .iter()
        .filter_map(|k| node.get(k)?.as_array())
        .flatten()
        .find_map(|child| find_node(child, app_id))
}

struct Image {
    width: i64,
    height: i64,
    channels: usize,
    pixels: Vec<u8>,
    path: PathBuf,
}

impl Image {
    fn load(path: &Path) -> Self {
        let decoder = png::Decoder::new(fs::File::open(path).unwrap());
        let mut reader = decoder.read_info().unwrap();
        let mut pixels = vec![0; reader.output_buffer_size()];
        let info = reader.next_frame(&mut pixels).unwrap();
        let channels = match info.color_type {
            png::ColorType::Rgba => 4,
            png::ColorType::Rgb => 3,
            other => panic!("unexpected PNG colour type {other:?} in {}", path.display()),
        };
        pixels.truncate(info.buffer_size());
        Self {
            width: info.width as i64,
            height: info.height as i64,
            channels,
            pixels,
            path: path.to_owned(),
        }
    }

    fn at(&self, x: i64, y: i64) -> [u8; 3] {
        assert!(x >= 0 && y >= 0 && x < self.width && y < self.height);
        let i = (y * self.width + x) as usize * self.channels;
        [self.pixels[i], self.pixels[i + 1], self.pixels[i + 2]]
    }
}

fn near(a: [u8; 3], b: [u8; 3]) -> bool {
    a.iter().zip(b).all(|(x, y)| x.abs_diff(y) <= 2)
}

/// What is wrong with wsbox's frame around `rect` of `shot`, if anything.
fn check_frame(shot: &Image, rect: [i64; 4]) -> Result<(), String> {
    let [x0, y0, x1, y1] = rect;
    let frame = |x: i64, y: i64, what: &str| -> Result<(), String> {
        let px = shot.at(x, y);
        if near(px, POLICY_COLOUR) {
            Ok(())
        } else {
            Err(format!(
                "{what} at {x},{y} is {px:?}, not the policy colour"
            ))
        }
    };
    for y in (y0 + TITLE_HEIGHT..y1).step_by(7) {
        for dx in 0..BORDER {
            frame(x0 + dx, y, "the left border")?;
            frame(x1 - 1 - dx, y, "the right border")?;
        }
    }
    for x in (x0..x1).step_by(7) {
        for dy in 0..BORDER {
            frame(x, y1 - 1 - dy, "the bottom border")?;
        }
        frame(x, y0, "the top of the title bar")?;
    }
    Ok(())
}

/// A sandbox in `sway` running foot, which writes the first line typed into
/// it to `<dir>/typed`; returns once the host window shows foot, focused.
fn start_foot(sway: &Sway, name: &str, dir: &Path) -> Running {
    let bind = format!("{}:{}", dir.display(), dir.display());
    // Written under another name and renamed, so that the test never reads
    // the file between its creation and the write.
    let script = format!(
        "read line; printf '%s' \"$line\" > {d}/typed.tmp && mv {d}/typed.tmp {d}/typed",
        d = dir.display()
    );
    let run = sway.wsbox_run(&[
        "--name", name, "--rw", &bind, "--", "foot", "-e", "sh", "-c", &script,
    ]);
    let app_id = format!("wsbox.{name}");
    let shown = poll(SHOW_LIMIT, || {
        let (title, focused, _) = sway.window(&app_id)?;
        (title == format!("[wsbox:{name}] foot") && focused).then_some(())
    });
    if shown.is_none() {
        let out = run.kill(RUN_LIMIT);
        panic!(
            "no focused host window showing foot\n{out}\n--- sway ---\n{}",
            sway.log()
        );
    }
    // foot maps before its shell reads; typed text waits in the pty anyway,
    // but give it its first frame.
    thread::sleep(Duration::from_millis(500));
    run
}

fn typed(dir: &Path) -> Option<String> {
    fs::read_to_string(dir.join("typed")).ok()
}

// ---------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------

#[test]
fn typing_on_the_host_reaches_the_focused_sandbox() {
    let test = "typing_on_the_host_reaches_the_focused_sandbox";
    let Some(user) = ready(test, &[]) else {
        return;
    };
    let sway = Sway::start(test, user, "");
    let name = unique_name(test);
    let dir = scratch_for("typed", user);
    let run = start_foot(&sway, &name, &dir);
    // The frame as the host shows it, while foot runs.
    let shots = scratch_for("shots", user);
    let shot = sway.screenshot(&shots);
    let (_, _, rect) = sway.window(&format!("wsbox.{name}")).unwrap();
    let frame = check_frame(&shot, rect);
    // wtype sends its own keymap with just these characters: they arrive
    // only if the sandbox takes over the host's keymap (ä and € are not on
    // the sandbox's default us layout at all).
    sway.run("wtype", &["hello ä€"]);
    sway.run("wtype", &["-k", "Return"]);
    let got = poll(Duration::from_secs(10), || typed(&dir));
    let out = run.kill(RUN_LIMIT);
    assert_eq!(
        got.as_deref(),
        Some("hello ä€"),
        "{out}\n--- sway ---\n{}",
        sway.log()
    );
    assert_eq!(
        rect,
        [0, 0, SCREEN.0, SCREEN.1],
        "the only window fills the output"
    );
    if let Err(e) = frame {
        panic!("grim's screenshot {}: {e}", shot.path.display());
    }
}

#[test]
fn typing_into_another_host_window_stays_outside() {
    let test = "typing_into_another_host_window_stays_outside";
    let Some(user) = ready(test, &[]) else {
        return;
    };
    let mut sway = Sway::start(test, user, "");
    let name = unique_name(test);
    let dir = scratch_for("typed", user);
    let run = start_foot(&sway, &name, &dir);
    // A host terminal takes the focus (sway focuses new windows).
    sway.spawn(
        "foot",
        &["--app-id", "host-terminal", "sh", "-c", "cat > /dev/null"],
    );
    sway.wait_focused("host-terminal");
    sway.run("wtype", &["secret"]);
    sway.run("wtype", &["-k", "Return"]);
    thread::sleep(Duration::from_secs(2));
    let leaked = typed(&dir);
    // Back to the sandbox: typing arrives again, and only what is typed now.
    let back = sway.swaymsg(&[&format!("[app_id=\"wsbox.{name}\"] focus")]);
    sway.wait_focused(&format!("wsbox.{name}"));
    sway.run("wtype", &["later"]);
    sway.run("wtype", &["-k", "Return"]);
    let got = poll(Duration::from_secs(10), || typed(&dir));
    let out = run.kill(RUN_LIMIT);
    assert_eq!(
        leaked, None,
        "typing into another host window reached the sandbox\n{out}"
    );
    assert!(back.status.success(), "{back}");
    assert_eq!(
        got.as_deref(),
        Some("later"),
        "{out}\n--- sway ---\n{}",
        sway.log()
    );
}

/// A sandbox in `sway` whose app is a shell script that, on request (a file
/// in the bound `dir`), runs wl-paste into `<dir>/pasted` or wl-copy of
/// the request's text (default `inside-x`) inside; returns once the host
/// window has the focus.
fn start_clipboard_shell(sway: &Sway, name: &str, dir: &Path, policy: Option<&Path>) -> Running {
    let bind = format!("{}:{}", dir.display(), dir.display());
    let d = dir.display();
    let script = format!(
        "while :; do \
           if [ -e {d}/do-paste ]; then rm -f {d}/do-paste; \
             wl-paste -n > {d}/p.tmp 2>&1; echo \" rc=$?\" >> {d}/p.tmp; mv {d}/p.tmp {d}/pasted; fi; \
           if [ -e {d}/do-copy ]; then t=$(cat {d}/do-copy); rm -f {d}/do-copy; \
             wl-copy \"${{t:-inside-x}}\"; touch {d}/copied; fi; \
           sleep 0.1; \
         done"
    );
    let mut args = vec!["--name", name, "--rw", &bind];
    if let Some(policy) = policy {
        args.extend(["--policy", policy.to_str().unwrap()]);
    }
    args.extend(["--", "sh", "-c", &script]);
    let run = sway.wsbox_run(&args);
    let app_id = format!("wsbox.{name}");
    if poll(SHOW_LIMIT, || sway.window(&app_id)?.1.then_some(())).is_none() {
        let out = run.kill(RUN_LIMIT);
        panic!(
            "no focused wsbox window\n{out}\n--- sway ---\n{}",
            sway.log()
        );
    }
    run
}

/// What wl-paste inside the sandbox prints now.
fn paste_inside(dir: &Path) -> String {
    let _ = fs::remove_file(dir.join("pasted"));
    fs::write(dir.join("do-paste"), "").unwrap();
    poll(Duration::from_secs(10), || {
        fs::read_to_string(dir.join("pasted")).ok()
    })
    .expect("wl-paste inside did not run")
}

fn copy_inside(dir: &Path) {
    copy_text_inside(dir, "");
}

/// wl-copy TEXT inside (`inside-x` when empty).
fn copy_text_inside(dir: &Path, text: &str) {
    let _ = fs::remove_file(dir.join("copied"));
    fs::write(dir.join("do-copy"), text).unwrap();
    poll(Duration::from_secs(10), || {
        fs::metadata(dir.join("copied")).ok()
    })
    .expect("wl-copy inside did not run");
    // wl-copy forks to serve; let it take the selection.
    thread::sleep(Duration::from_millis(500));
}

/// What wl-paste on the host prints now (stdout, or the error).
fn paste_on_host(sway: &Sway) -> String {
    let mut cmd = sway.client("wl-paste");
    cmd.arg("-n");
    let out = output(cmd, Duration::from_secs(10));
    format!(
        "{}{} rc={:?}",
        out.stdout,
        out.stderr.trim(),
        out.status.code()
    )
}

fn ctrl_shift(sway: &Sway, key: &str) {
    sway.run(
        "wtype",
        &[
            "-M", "ctrl", "-M", "shift", key, "-m", "shift", "-m", "ctrl",
        ],
    );
}

#[test]
fn the_clipboard_crosses_only_by_gesture() {
    let test = "the_clipboard_crosses_only_by_gesture";
    let Some(user) = ready(test, &["wl-copy", "wl-paste"]) else {
        return;
    };
    let sway = Sway::start(test, user, "");
    sway.wl_copy("secret");
    assert!(paste_on_host(&sway).starts_with("secret"));
    let name = unique_name(test);
    let dir = scratch_for("clip", user);
    let run = start_clipboard_shell(&sway, &name, &dir, None);

    // Host to sandbox: nothing before the gesture, the text after it, and
    // the frame flashes lighter meanwhile.
    let before = paste_inside(&dir);
    let shots = scratch_for("shots", user);
    ctrl_shift(&sway, "v");
    let flashed = poll(Duration::from_secs(2), || {
        let px = sway.screenshot(&shots).at(1, 1);
        near(px, FLASH_COLOUR).then_some(())
    });
    let after_flash = poll(Duration::from_secs(3), || {
        let px = sway.screenshot(&shots).at(1, 1);
        near(px, POLICY_COLOUR).then_some(())
    });
    let after = poll(Duration::from_secs(10), || {
        let pasted = paste_inside(&dir);
        pasted.starts_with("secret rc=0").then_some(pasted)
    });

    // Sandbox to host: nothing before the gesture, the text after it.
    copy_inside(&dir);
    let host_before = paste_on_host(&sway);
    ctrl_shift(&sway, "c");
    let host_after = poll(Duration::from_secs(10), || {
        let pasted = paste_on_host(&sway);
        pasted.starts_with("inside-x").then_some(pasted)
    });
    let out = run.kill(RUN_LIMIT);
    assert!(
        !before.contains("secret"),
        "the host clipboard leaked in: {before}\n{out}"
    );
    assert!(
        flashed.is_some(),
        "the frame did not flash after Ctrl+Shift+V"
    );
    assert!(
        after_flash.is_some(),
        "the frame did not return to its colour"
    );
    assert!(
        after.is_some(),
        "Ctrl+Shift+V did not paste the host clipboard\n{out}\n--- sway ---\n{}",
        sway.log()
    );
    assert!(
        host_before.starts_with("secret"),
        "the sandbox clipboard leaked out: {host_before}\n{out}"
    );
    assert!(
        host_after.is_some(),
        "Ctrl+Shift+C did not copy to the host\n{out}"
    );
}

#[test]
fn an_isolated_clipboard_never_crosses() {
    let test = "an_isolated_clipboard_never_crosses";
    let Some(user) = ready(test, &["wl-copy", "wl-paste"]) else {
        return;
    };
    let sway = Sway::start(test, user, "");
    sway.wl_copy("secret");
    let name = unique_name(test);
    let dir = scratch_for("clip", user);
    let policy = dir.join("policy.toml");
    fs::write(&policy, "[clipboard]\nmode = \"isolated\"\n").unwrap();
    let run = start_clipboard_shell(&sway, &name, &dir, Some(&policy));
    ctrl_shift(&sway, "v");
    thread::sleep(Duration::from_secs(1));
    let inside = paste_inside(&dir);
    copy_inside(&dir);
    ctrl_shift(&sway, "c");
    thread::sleep(Duration::from_secs(1));
    let host = paste_on_host(&sway);
    let out = run.kill(RUN_LIMIT);
    assert!(!inside.contains("secret"), "{inside}\n{out}");
    assert!(host.starts_with("secret"), "{host}\n{out}");
}

#[test]
fn the_clipboard_shortcuts_never_reach_the_app() {
    let test = "the_clipboard_shortcuts_never_reach_the_app";
    let Some(user) = ready(test, &["wl-copy"]) else {
        return;
    };
    let sway = Sway::start(test, user, "");
    sway.wl_copy("secret");
    let name = unique_name(test);
    let dir = scratch_for("typed", user);
    let run = start_foot(&sway, &name, &dir);
    // The first Ctrl+Shift+V fills the sandbox's clipboard; were the second
    // passed on, foot would paste it (Ctrl+Shift+V is foot's paste).
    ctrl_shift(&sway, "v");
    thread::sleep(Duration::from_secs(1));
    ctrl_shift(&sway, "v");
    ctrl_shift(&sway, "c");
    thread::sleep(Duration::from_secs(1));
    sway.run("wtype", &["typed"]);
    sway.run("wtype", &["-k", "Return"]);
    let got = poll(Duration::from_secs(10), || typed(&dir));
    let out = run.kill(RUN_LIMIT);
    assert_eq!(got.as_deref(), Some("typed"), "{out}");
}

// ---------------------------------------------------------------------------
// Closing, resizing, focus loss, host loss
// ---------------------------------------------------------------------------

/// wsbox's close button in the host window (backend/window.rs): 20 px,
/// 4 px left of the right border, centred in the title bar.
const CLOSE_SIZE: i64 = 20;

/// An example binary (built by `cargo test`, or `cargo build --examples`),
/// copied where the test user can read it; None when it was not built.
fn example_bin(name: &str) -> Option<String> {
    let built = Path::new(env!("CARGO_BIN_EXE_wsbox"))
        .parent()?
        .join("examples")
        .join(name);
    if !built.exists() {
        return None;
    }
    let dir = Path::new(wsbox_bin()).parent()?.to_owned();
    let to = dir.join(name);
    if !to.exists() {
        let tmp = dir.join(format!("{name}.{}", next()));
        fs::copy(&built, &tmp).ok()?;
        fs::set_permissions(&tmp, fs::Permissions::from_mode(0o755)).ok()?;
        fs::rename(&tmp, &to).ok()?;
    }
    Some(to.to_string_lossy().into_owned())
}

/// `ready`, and the example `example` built.
fn ready_with_example(
    test: &str,
    programs: &[&str],
    example: &str,
) -> Option<((u32, u32), String)> {
    let user = ready(test, programs)?;
    match example_bin(example) {
        Some(bin) => Some((user, bin)),
        None => {
            skip(
                test,
                &format!("examples/{example} is not built (cargo build --examples)"),
            );
            None
        }
    }
}

/// `ready`, and bench-client built.
fn ready_with_client(test: &str, programs: &[&str]) -> Option<((u32, u32), String)> {
    ready_with_example(test, programs, "bench-client")
}

/// `wsbox ARGS` (not run) as the test user, in `sway`'s session.
fn wsbox_cmd(sway: &Sway, args: &[&str]) -> Out {
    let mut cmd = sway.client(wsbox_bin());
    cmd.args(args);
    output(cmd, RUN_LIMIT)
}

/// The sandbox's windows as `wsbox windows NAME --json` reports them:
/// (app_id, x, y, width, height) each.
fn sandbox_windows(sway: &Sway, name: &str) -> Vec<(String, i64, i64, i64, i64)> {
    let out = wsbox_cmd(sway, &["windows", name, "--json"]);
    let Ok(list) = serde_json::from_str::<serde_json::Value>(&out.stdout) else {
        return Vec::new();
    };
    list.as_array()
        .into_iter()
        .flatten()
        .map(|w| {
            let n = |k: &str| w.get(k).and_then(|v| v.as_i64()).unwrap_or(-1);
            let app_id = w.get("app_id").and_then(|v| v.as_str()).unwrap_or("");
            (app_id.to_owned(), n("x"), n("y"), n("width"), n("height"))
        })
        .collect()
}

/// bench-client in a sandbox in `sway` with `args`; returns once its host
/// window has the focus.
fn start_client(sway: &Sway, name: &str, bin: &str, args: &[&str]) -> Running {
    let bind = format!("{bin}:/opt/bench-client");
    let mut all = vec!["--name", name, "--ro", &bind, "--", "/opt/bench-client"];
    all.extend(args);
    run_until_focused(sway, name, &all, "wsbox bench")
}

/// `wsbox run ARGS` (which names the sandbox `name`) in `sway`, returned
/// once its host window has the focus and shows `[wsbox:NAME] TITLE`; the
/// run is stopped and the test fails otherwise.
fn run_until_focused(sway: &Sway, name: &str, args: &[&str], title: &str) -> Running {
    let run = sway.wsbox_run(args);
    let app_id = format!("wsbox.{name}");
    let want = format!("[wsbox:{name}] {title}");
    let shown = poll(SHOW_LIMIT, || {
        let (shown, focused, _) = sway.window(&app_id)?;
        (focused && shown == want).then_some(())
    });
    if shown.is_none() {
        let out = run.kill(RUN_LIMIT);
        panic!(
            "no focused host window titled {want:?}\n{out}\n--- sway ---\n{}",
            sway.log()
        );
    }
    run
}

/// A virtual pointer on the host (zwlr_virtual_pointer_v1, which sway
/// offers): the seat gains a pointer, as a session with a mouse has.
struct VirtualPointer {
    queue: wayland_client::EventQueue<PointerState>,
    pointer: wayland_protocols_wlr::virtual_pointer::v1::client::zwlr_virtual_pointer_v1::ZwlrVirtualPointerV1,
    started: std::time::Instant,
}

struct PointerState;

impl
    wayland_client::Dispatch<
        wayland_client::protocol::wl_registry::WlRegistry,
        wayland_client::globals::GlobalListContents,
    > for PointerState
{
    fn event(
        _: &mut Self,
        _: &wayland_client::protocol::wl_registry::WlRegistry,
        _: wayland_client::protocol::wl_registry::Event,
        _: &wayland_client::globals::GlobalListContents,
        _: &wayland_client::Connection,
        _: &wayland_client::QueueHandle<Self>,
    ) {
    }
}

wayland_client::delegate_noop!(PointerState: ignore wayland_protocols_wlr::virtual_pointer::v1::client::zwlr_virtual_pointer_manager_v1::ZwlrVirtualPointerManagerV1);
wayland_client::delegate_noop!(PointerState: ignore wayland_protocols_wlr::virtual_pointer::v1::client::zwlr_virtual_pointer_v1::ZwlrVirtualPointerV1);

impl VirtualPointer {
    fn new(sway: &Sway) -> Self {
        use wayland_protocols_wlr::virtual_pointer::v1::client::zwlr_virtual_pointer_manager_v1::ZwlrVirtualPointerManagerV1;
        let stream = std::os::unix::net::UnixStream::connect(&sway.socket).unwrap();
        let conn = wayland_client::Connection::from_socket(stream).unwrap();
        let (globals, mut queue) =
            wayland_client::globals::registry_queue_init::<PointerState>(&conn).unwrap();
        let qh = queue.handle();
        let manager: ZwlrVirtualPointerManagerV1 = globals
            .bind(&qh, 1..=2, ())
            .expect("sway offers zwlr_virtual_pointer_manager_v1");
        let pointer = manager.create_virtual_pointer(None, &qh, ());
        queue.roundtrip(&mut PointerState).unwrap();
        // Clients (wsbox) see the seat's new pointer capability and bind it.
        thread::sleep(Duration::from_secs(1));
        Self {
            queue,
            pointer,
            started: std::time::Instant::now(),
        }
    }

    fn time(&self) -> u32 {
        self.started.elapsed().as_millis() as u32
    }

    /// Moves the host pointer to (x, y) of the screen.
    fn move_to(&mut self, x: i64, y: i64) {
        self.pointer.motion_absolute(
            self.time(),
            x as u32,
            y as u32,
            SCREEN.0 as u32,
            SCREEN.1 as u32,
        );
        self.pointer.frame();
        self.queue.roundtrip(&mut PointerState).unwrap();
        thread::sleep(Duration::from_millis(100));
    }

    /// A left click where the pointer is.
    fn click(&mut self) {
        use wayland_client::protocol::wl_pointer::ButtonState;
        const BTN_LEFT: u32 = 0x110;
        for state in [ButtonState::Pressed, ButtonState::Released] {
            self.pointer.button(self.time(), BTN_LEFT, state);
            self.pointer.frame();
            self.queue.roundtrip(&mut PointerState).unwrap();
            thread::sleep(Duration::from_millis(50));
        }
    }
}

#[test]
fn the_close_button_asks_the_app_then_stops_it() {
    let test = "the_close_button_asks_the_app_then_stops_it";
    let Some((user, bin)) = ready_with_client(test, &[]) else {
        return;
    };
    let sway = Sway::start(test, user, "");
    let name = unique_name(test);
    // A client that says "close" when asked and goes on running.
    let run = start_client(&sway, &name, &bin, &["--idle", "--ignore-close"]);
    let (_, _, [_, y0, x1, _]) = sway.window(&format!("wsbox.{name}")).unwrap();
    let mut pointer = VirtualPointer::new(&sway);
    // Over the content first (the pointer enters the window), then onto
    // the close button's centre.
    pointer.move_to(x1 / 2, SCREEN.1 / 2);
    thread::sleep(Duration::from_millis(300));
    pointer.move_to(x1 / 2 + 10, SCREEN.1 / 2 + 10);
    pointer.move_to(x1 - BORDER - 4 - CLOSE_SIZE / 2, y0 + TITLE_HEIGHT / 2);
    let clicked = std::time::Instant::now();
    pointer.click();
    let out = run.finish(RUN_LIMIT);
    let took = clicked.elapsed();
    assert!(
        out.stdout.lines().any(|l| l == "close"),
        "the app was not asked to close\n{out}\n--- sway ---\n{}",
        sway.log()
    );
    // It ignored the request: SIGTERM after the 2 s grace period.
    assert_eq!(out.status.code(), Some(128 + 15), "{out}");
    assert!(
        took >= Duration::from_millis(1800) && took < Duration::from_secs(10),
        "stopped {took:?} after the click\n{out}"
    );
}

#[test]
fn closing_from_the_host_closes_the_app() {
    let test = "closing_from_the_host_closes_the_app";
    let Some((user, bin)) = ready_with_client(test, &[]) else {
        return;
    };
    let sway = Sway::start(test, user, "");
    let name = unique_name(test);
    let run = start_client(&sway, &name, &bin, &["--idle"]);
    // swaymsg kill: xdg_toplevel.close on the host window, as a window
    // manager's close does.
    let kill = sway.swaymsg(&[&format!("[app_id=\"wsbox.{name}\"] kill")]);
    let out = run.finish(RUN_LIMIT);
    assert!(kill.status.success(), "{kill}");
    // The app closes its window when asked and exits 0, before the grace
    // period ends.
    assert_eq!(out.status.code(), Some(0), "{out}");
    assert!(out.elapsed < Duration::from_secs(15), "{out}");
}

#[test]
fn the_sandbox_follows_the_host_window_size() {
    let test = "the_sandbox_follows_the_host_window_size";
    let Some(user) = ready(test, &[]) else {
        return;
    };
    let mut sway = Sway::start(test, user, "");
    let name = unique_name(test);
    let dir = scratch_for("size", user);
    // foot's shell writes its terminal size (rows cols) to a bound file.
    let bind = format!("{}:{}", dir.display(), dir.display());
    let script = format!(
        "while :; do stty size > {d}/s.tmp; mv {d}/s.tmp {d}/size; sleep 0.2; done",
        d = dir.display()
    );
    let run = sway.wsbox_run(&[
        "--name", &name, "--rw", &bind, "--", "foot", "-e", "sh", "-c", &script,
    ]);
    let app_id = format!("wsbox.{name}");
    let size = || -> Option<(i64, i64)> {
        let text = fs::read_to_string(dir.join("size")).ok()?;
        let mut it = text.split_whitespace().map(|n| n.parse::<i64>().ok());
        Some((it.next()??, it.next()??))
    };
    // The host window fills the screen; the sandbox's foot fills the
    // output inside wsbox's frame, with no second frame of its own.
    let full = (SCREEN.0 - 2 * BORDER, SCREEN.1 - TITLE_HEIGHT - BORDER);
    let first = poll(SHOW_LIMIT, || {
        let windows = sandbox_windows(&sway, &name);
        let terminal = size()?;
        // foot starts at 80 columns until its first configure.
        (windows.len() == 1 && windows[0].3 == full.0 && terminal.1 > 100)
            .then(|| (windows[0].clone(), terminal))
    });
    // A second host window: sway tiles them side by side.
    sway.spawn(
        "foot",
        &["--app-id", "host-terminal", "sh", "-c", "cat > /dev/null"],
    );
    sway.wait_focused("host-terminal");
    let host_rect = sway.window(&app_id).map(|w| w.2);
    let half = host_rect.map(|[x0, _, x1, _]| x1 - x0 - 2 * BORDER);
    let mut last = Vec::new();
    let second = poll(SHOW_LIMIT, || {
        let windows = sandbox_windows(&sway, &name);
        last = windows.clone();
        let terminal = size()?;
        let (_, (_, cols)) = first.as_ref()?;
        (windows.len() == 1 && Some(windows[0].3) == half && terminal.1 < *cols)
            .then(|| (windows[0].clone(), terminal))
    });
    let out = run.kill(RUN_LIMIT);
    let Some(((_, x, y, w, h), (_, cols))) = first else {
        panic!(
            "the sandbox's window never filled the output ({full:?}): {:?}\n{out}",
            sandbox_windows(&sway, &name)
        );
    };
    assert_eq!((x, y, w, h), (0, 0, full.0, full.1), "{out}");
    let Some(((_, x2, y2, w2, h2), (_, cols2))) = second else {
        panic!(
            "the sandbox did not follow the host window ({host_rect:?}): {last:?}, terminal {:?} (first {first:?})\n{out}",
            size()
        );
    };
    assert_eq!((x2, y2, h2), (0, 0, full.1), "{out}");
    assert!(
        w2 < w / 2 + 8 && cols2 < cols * 2 / 3,
        "{w2} {cols2}\n{out}"
    );
}

#[test]
fn keys_held_when_the_focus_leaves_are_released_inside() {
    let test = "keys_held_when_the_focus_leaves_are_released_inside";
    let Some((user, bin)) = ready_with_client(test, &[]) else {
        return;
    };
    let mut sway = Sway::start(test, user, "");
    let name = unique_name(test);
    let run = start_client(&sway, &name, &bin, &["--idle", "--keys"]);
    let app_id = format!("wsbox.{name}");
    sway.spawn(
        "foot",
        &["--app-id", "host-terminal", "sh", "-c", "cat > /dev/null"],
    );
    sway.wait_focused("host-terminal");
    let back = sway.swaymsg(&[&format!("[app_id=\"{app_id}\"] focus")]);
    assert!(back.status.success(), "{back}");
    sway.wait_focused(&app_id);
    // Press a key, hold it 3 s, release it; meanwhile the focus moves to
    // the host terminal, which gets the release.
    let mut hold = sway.client("wtype");
    hold.args(["-P", "a", "-s", "3000", "-p", "a"])
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut hold = hold.spawn().unwrap();
    thread::sleep(Duration::from_millis(800));
    let away = sway.swaymsg(&["[app_id=\"host-terminal\"] focus"]);
    sway.wait_focused("host-terminal");
    let held = hold.wait().unwrap();
    thread::sleep(Duration::from_millis(500));
    let out = run.kill(RUN_LIMIT);
    assert!(away.status.success(), "{away}");
    assert!(held.success(), "wtype failed: {held}");
    // key <code> <1|0> <ns>
    let keys: Vec<(u32, bool, u128)> = out
        .stdout
        .lines()
        .filter_map(|l| {
            let mut it = l.strip_prefix("key ")?.split(' ');
            Some((
                it.next()?.parse().ok()?,
                it.next()? == "1",
                it.next()?.parse().ok()?,
            ))
        })
        .collect();
    let pressed: Vec<_> = keys.iter().filter(|k| k.1).collect();
    let released: Vec<_> = keys.iter().filter(|k| !k.1).collect();
    assert_eq!(pressed.len(), 1, "one key pressed inside: {keys:?}\n{out}");
    assert_eq!(
        released.len(),
        1,
        "one key released inside: {keys:?}\n{out}"
    );
    let (p, r) = (pressed[0], released[0]);
    assert_eq!(p.0, r.0, "{keys:?}");
    // Released when the focus left (~0.8 s), not when wtype let go (3 s).
    let held_for = Duration::from_nanos((r.2 - p.2) as u64);
    assert!(
        held_for < Duration::from_millis(2500),
        "the key stayed pressed inside for {held_for:?}\n{out}"
    );
}

#[test]
fn killing_the_host_stops_the_sandbox_cleanly() {
    let test = "killing_the_host_stops_the_sandbox_cleanly";
    let Some(user) = ready(test, &[]) else {
        return;
    };
    let mut sway = Sway::start(test, user, "");
    let name = unique_name(test);
    // A marker in the app's command line, to look for in /proc afterwards.
    let marker = format!("wsbox-host-loss-{}", next());
    let script = format!("cat; : {marker}");
    let run = sway.wsbox_run(&["--name", &name, "--", "foot", "-e", "sh", "-c", &script]);
    let app_id = format!("wsbox.{name}");
    let shown = poll(SHOW_LIMIT, || sway.window(&app_id).map(|_| ()));
    let with_marker = || -> Vec<String> {
        fs::read_dir("/proc")
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| {
                let cmdline = fs::read(e.path().join("cmdline")).ok()?;
                let text = String::from_utf8_lossy(&cmdline).replace('\0', " ");
                text.contains(&marker)
                    .then(|| format!("{}: {text}", e.path().display()))
            })
            .collect()
    };
    let running = poll(SHOW_LIMIT, || (!with_marker().is_empty()).then_some(()));
    let _ = sway.child.kill();
    let _ = sway.child.wait();
    let out = run.finish(RUN_LIMIT);
    assert!(
        shown.is_some() && running.is_some(),
        "the app never ran\n{out}"
    );
    assert_eq!(out.status.code(), Some(125), "{out}");
    let own: Vec<&str> = out
        .stderr
        .lines()
        .filter(|l| l.starts_with("wsbox"))
        .collect();
    assert!(
        own.len() == 1 && own[0].starts_with("wsbox: lost the connection to the host"),
        "{out}"
    );
    assert!(out.elapsed < Duration::from_secs(15), "{out}");
    // Nothing left behind: no process of the sandbox, no runtime directory.
    let left = poll(Duration::from_secs(5), || {
        with_marker().is_empty().then_some(())
    });
    assert!(left.is_some(), "left running: {:?}", with_marker());
    let dir = sway.runtime.join("wsbox").join(&name);
    assert!(!dir.exists(), "{} was left behind", dir.display());
}

/// The sway tree node of the window with `app_id`.
fn node_json(sway: &Sway, app_id: &str) -> Option<serde_json::Value> {
    fn find(node: &serde_json::Value, app_id: &str) -> Option<serde_json::Value> {
        if node.get("app_id").and_then(|a| a.as_str()) == Some(app_id) {
            return Some(node.clone());
        }
        ["nodes", "floating_nodes"]
            .iter()
            .filter_map(|k| node.get(k)?.as_array())
            .flatten()
            .find_map(|child| find(child, app_id))
    }
    let out = sway.swaymsg(&["-t", "get_tree", "--raw"]);
    find(&serde_json::from_str(&out.stdout).ok()?, app_id)
}

fn rect_of(node: &serde_json::Value, key: &str) -> [i64; 4] {
    let n = |k: &str| {
        node.get(key)
            .and_then(|r| r.get(k))
            .and_then(|v| v.as_i64())
            .unwrap_or(-1)
    };
    [n("x"), n("y"), n("width"), n("height")]
}

/// Height of wsbox's strip (backend/window.rs) above the output when the
/// host draws the title bar.
const STRIP_HEIGHT: i64 = 16;

/// A sandbox with `host_decorations = "server"` in a sway with
/// `extra_config`: wsbox's frame is its border plus a thin strip with the
/// marked title, whether or not the host shows a title bar. Returns what
/// sway calls the window, and its title bar's height.
fn server_decorations_keep_the_marking(test: &str, extra_config: &str) -> Option<(String, i64)> {
    let user = ready(test, &[])?;
    let sway = Sway::start(test, user, extra_config);
    let name = unique_name(test);
    let dir = scratch_for("ssd", user);
    let policy = dir.join("policy.toml");
    fs::write(&policy, "[display]\nhost_decorations = \"server\"\n").unwrap();
    fs::set_permissions(&policy, fs::Permissions::from_mode(0o644)).unwrap();
    let run = sway.wsbox_run(&[
        "--name",
        &name,
        "--policy",
        policy.to_str().unwrap(),
        "--",
        "foot",
        "-e",
        "sh",
        "-c",
        "cat > /dev/null",
    ]);
    let app_id = format!("wsbox.{name}");
    // The content is the host window less wsbox's border and strip.
    let mut last = String::new();
    let found = poll(SHOW_LIMIT, || {
        let node = node_json(&sway, &app_id)?;
        let window = rect_of(&node, "window_rect");
        let deco = rect_of(&node, "deco_rect");
        let title = node.get("name")?.as_str()?.to_owned();
        let inside = sandbox_windows(&sway, &name);
        last = format!("window_rect {window:?} deco_rect {deco:?} sandbox {inside:?} {title}");
        let (_, x, y, w, h) = inside.first()?.clone();
        ((x, y, w, h)
            == (
                0,
                0,
                window[2] - 2 * BORDER,
                window[3] - STRIP_HEIGHT - BORDER,
            )
            && title.contains("foot"))
        .then(|| (rect_of(&node, "rect"), window, deco, title))
    });
    // Let the strip's redraw with the app's title reach the screen.
    thread::sleep(Duration::from_millis(500));
    let shots = scratch_for("shots", user);
    let shot = sway.screenshot(&shots);
    let out = run.kill(RUN_LIMIT);
    let Some((rect, window, deco, title)) = found else {
        panic!("no border-and-strip frame: {last}\n{out}");
    };
    assert!(
        title.starts_with(&format!("[wsbox:{name}] ")),
        "the host's title is not marked: {title}"
    );
    // wsbox's strip and border in the policy colour all around the
    // content.
    let (x0, y0) = (rect[0] + window[0], rect[1] + window[1]);
    let (x1, y1) = (x0 + window[2], y0 + window[3]);
    // content (the strip's right end, past the title text).
    let mut edge: Vec<(i64, i64)> = Vec::new();
    for x in (x0..x1).step_by(11) {
        edge.extend((0..BORDER).map(|d| (x, y1 - 1 - d)));
    }
    for x in x1 - 40..x1 {
        edge.extend((0..STRIP_HEIGHT).map(|d| (x, y0 + d)));
    }
    for y in (y0..y1).step_by(11) {
        edge.extend((0..BORDER).flat_map(|d| [(x0 + d, y), (x1 - 1 - d, y)]));
    }
    for (px, py) in edge {
        assert!(
            near(shot.at(px, py), POLICY_COLOUR),
            "{px},{py} is {:?} in {}",
            shot.at(px, py),
            shot.path.display()
        );
    }
    // The strip carries text (white on the policy colour): the name.
    let text = (x0 + BORDER..x0 + 200)
        .flat_map(|x| (y0 + 2..y0 + STRIP_HEIGHT - 2).map(move |y| (x, y)))
        .filter(|&(x, y)| shot.at(x, y).iter().all(|c| *c > 0xc0))
        .count();
    assert!(
        text > 20,
        "no text in wsbox's strip ({text} light pixels) in {}",
        shot.path.display()
    );
    // Below the strip is the app, not more of wsbox's frame.
    assert!(
        !near(shot.at(x0 + 40, y0 + STRIP_HEIGHT + 2), POLICY_COLOUR),
        "{}",
        shot.path.display()
    );
    Some((title, deco[3]))
}

#[test]
fn the_host_may_draw_the_title_bar_and_the_marking_stays() {
    // sway draws title bars for windows that ask for server-side ones.
    let test = "the_host_may_draw_the_title_bar_and_the_marking_stays";
    if let Some((_, deco)) = server_decorations_keep_the_marking(test, "default_border normal\n") {
        assert!(deco > 0, "sway drew no title bar");
    }
}

#[test]
fn a_host_that_shows_no_title_bar_leaves_the_marking_to_wsbox() {
    // Borderless (as sway with default_border none or pixel, fullscreen, a
    // maximised window on KDE): the host shows no title; wsbox's strip does.
    let test = "a_host_that_shows_no_title_bar_leaves_the_marking_to_wsbox";
    if let Some((_, deco)) = server_decorations_keep_the_marking(test, "") {
        assert_eq!(deco, 0, "sway drew a title bar");
    }
}

#[test]
fn an_auto_clipboard_follows_the_focus() {
    let test = "an_auto_clipboard_follows_the_focus";
    let Some(user) = ready(test, &["wl-copy", "wl-paste"]) else {
        return;
    };
    let mut sway = Sway::start(test, user, "");
    sway.wl_copy("from-host");
    let name = unique_name(test);
    let app_id = format!("wsbox.{name}");
    let dir = scratch_for("clip", user);
    let policy = dir.join("policy.toml");
    fs::write(&policy, "[clipboard]\nmode = \"auto\"\n").unwrap();
    let run = start_clipboard_shell(&sway, &name, &dir, Some(&policy));

    // Focused: the host's clipboard is inside, and what is copied inside
    // goes out, with no gesture.
    let host_in = poll(Duration::from_secs(10), || {
        let pasted = paste_inside(&dir);
        pasted.starts_with("from-host rc=0").then_some(pasted)
    });
    copy_text_inside(&dir, "inside-1");
    let inside_out = poll(Duration::from_secs(10), || {
        let pasted = paste_on_host(&sway);
        pasted.starts_with("inside-1").then_some(pasted)
    });

    // Another host window focused: nothing crosses either way.
    sway.spawn(
        "foot",
        &["--app-id", "host-terminal", "sh", "-c", "cat > /dev/null"],
    );
    sway.wait_focused("host-terminal");
    sway.wl_copy("host-later");
    thread::sleep(Duration::from_millis(500));
    let inside_away = paste_inside(&dir);
    copy_text_inside(&dir, "inside-2");
    thread::sleep(Duration::from_secs(1));
    let host_away = paste_on_host(&sway);

    // Focused again: the host's newer clipboard comes in.
    let back = sway.swaymsg(&[&format!("[app_id=\"{app_id}\"] focus")]);
    sway.wait_focused(&app_id);
    let host_in_again = poll(Duration::from_secs(10), || {
        let pasted = paste_inside(&dir);
        pasted.starts_with("host-later rc=0").then_some(pasted)
    });
    let out = run.kill(RUN_LIMIT);
    assert!(
        host_in.is_some(),
        "the host clipboard did not come in on focus: {}\n{out}\n--- sway ---\n{}",
        paste_inside(&dir),
        sway.log()
    );
    assert!(
        inside_out.is_some(),
        "the sandbox's clipboard did not go out: {}\n{out}",
        paste_on_host(&sway)
    );
    assert!(
        inside_away.starts_with("inside-1 rc=0"),
        "the host clipboard came in while another window had the focus: {inside_away}\n{out}"
    );
    assert!(
        host_away.starts_with("host-later"),
        "the sandbox's clipboard went out while another window had the focus: {host_away}\n{out}"
    );
    assert!(back.status.success(), "{back}");
    assert!(
        host_in_again.is_some(),
        "the host clipboard did not come in on the next focus\n{out}"
    );
}

/// clip-client in a sandbox with `[clipboard] mode = "auto"` in `sway`,
/// with `args`; returns once its host window has the focus.
fn start_clip_client(sway: &Sway, name: &str, bin: &str, dir: &Path, args: &[&str]) -> Running {
    let policy = dir.join(format!("auto-{}.toml", next()));
    fs::write(&policy, "[clipboard]\nmode = \"auto\"\n").unwrap();
    fs::set_permissions(&policy, fs::Permissions::from_mode(0o644)).unwrap();
    let bind = format!("{bin}:/opt/clip-client");
    let mut all = vec![
        "--name",
        name,
        "--policy",
        policy.to_str().unwrap(),
        "--ro",
        &bind,
        "--",
        "/opt/clip-client",
    ];
    all.extend(args);
    run_until_focused(sway, name, &all, "wsbox clip")
}

/// `ready`, and clip-client built.
fn ready_with_clip_client(test: &str, programs: &[&str]) -> Option<((u32, u32), String)> {
    ready_with_example(test, programs, "clip-client")
}

/// What wl-paste --primary on the host prints now.
fn paste_primary_on_host(sway: &Sway) -> String {
    let mut cmd = sway.client("wl-paste");
    cmd.args(["--primary", "-n"]);
    let out = output(cmd, Duration::from_secs(10));
    format!(
        "{}{} rc={:?}",
        out.stdout,
        out.stderr.trim(),
        out.status.code()
    )
}

#[test]
fn a_stalled_auto_copy_lands_nowhere_once_the_focus_left() {
    let test = "a_stalled_auto_copy_lands_nowhere_once_the_focus_left";
    let Some((user, bin)) = ready_with_clip_client(test, &["wl-copy", "wl-paste"]) else {
        return;
    };
    let mut sway = Sway::start(test, user, "");
    sway.wl_copy("host-before");
    sway.spawn(
        "foot",
        &["--app-id", "host-terminal", "sh", "-c", "cat > /dev/null"],
    );
    sway.wait_focused("host-terminal");
    let name = unique_name(test);
    let dir = scratch_for("stall", user);
    // The app sets its selection 2 s after it got the focus inside, while
    // its window has the host's focus, and answers wsbox's read 4 s later
    // (within wsbox's 5 s deadline).
    let run = start_clip_client(
        &sway,
        &name,
        &bin,
        &dir,
        &["--after", "2", "--delay", "4", "--text", "stalled-secret"],
    );
    let focused_at = std::time::Instant::now();
    thread::sleep(Duration::from_millis(2500));
    // The user moves to another window. (Had they copied there, wlroots
    // would refuse wsbox's older serial anyway; another auto-mode sandbox
    // taking the focus would import whatever lands.)
    let away = sway.swaymsg(&["[app_id=\"host-terminal\"] focus"]);
    sway.wait_focused("host-terminal");
    let moved_at = focused_at.elapsed();
    // Well after the app's data came.
    thread::sleep(Duration::from_secs(8).saturating_sub(focused_at.elapsed()));
    let host = paste_on_host(&sway);
    let out = run.kill(RUN_LIMIT);
    assert!(away.status.success(), "{away}");
    assert!(
        moved_at < Duration::from_secs(5),
        "the focus moved too late ({moved_at:?}) for the test to mean anything"
    );
    assert!(
        out.stdout.lines().any(|l| l == "send"),
        "wsbox never asked the app for its selection: the test proves nothing\n{out}"
    );
    assert!(
        host.starts_with("host-before"),
        "the app's late data replaced the host clipboard after the focus left: {host}\n{out}"
    );
}

/// The number of threads and open fds of process `pid`.
fn threads_and_fds(pid: u32) -> Option<(usize, usize)> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let threads = status
        .lines()
        .find_map(|l| l.strip_prefix("Threads:"))?
        .trim()
        .parse()
        .ok()?;
    let fds = fs::read_dir(format!("/proc/{pid}/fd")).ok()?.count();
    Some((threads, fds))
}

#[test]
fn a_clipboard_flood_keeps_threads_and_fds_bounded() {
    let test = "a_clipboard_flood_keeps_threads_and_fds_bounded";
    let Some((user, bin)) = ready_with_clip_client(test, &["wl-paste"]) else {
        return;
    };
    let sway = Sway::start(test, user, "");
    let name = unique_name(test);
    let dir = scratch_for("flood", user);
    // 400 selections in a row, 2 s after the focus came; the app never
    // answers a read and keeps every pipe open.
    let run = start_clip_client(
        &sway,
        &name,
        &bin,
        &dir,
        &["--after", "2", "--never", "--repeat", "400"],
    );
    let pid = run.child.id();
    let (threads_before, fds_before) = threads_and_fds(pid).expect("wsbox's /proc entry");
    let (mut threads_max, mut fds_max) = (threads_before, fds_before);
    let until = std::time::Instant::now() + Duration::from_secs(9);
    while std::time::Instant::now() < until {
        if let Some((threads, fds)) = threads_and_fds(pid) {
            threads_max = threads_max.max(threads);
            fds_max = fds_max.max(fds);
        }
        thread::sleep(Duration::from_millis(20));
    }
    let host = paste_on_host(&sway);
    let out = run.kill(RUN_LIMIT);
    let sends = out.stdout.lines().filter(|l| *l == "send").count();
    assert!(
        out.stdout.lines().any(|l| l == "repeated 400"),
        "the flood did not run\n{out}"
    );
    assert!(
        sends >= 2,
        "wsbox asked for the selection {sends} times: no flood reached it\n{out}"
    );
    // One export in flight (its thread and its data and cancel pipes),
    // plus the host's reads, capped.
    assert!(
        threads_max <= threads_before + 3,
        "threads grew from {threads_before} to {threads_max} ({sends} reads asked)\n{out}"
    );
    assert!(
        fds_max <= fds_before + 6,
        "fds grew from {fds_before} to {fds_max} ({sends} reads asked)\n{out}"
    );
    assert!(
        !host.contains("xxx") && !host.starts_with("clip-client"),
        "{host}"
    );
}

#[test]
fn an_auto_clipboard_carries_only_capped_text_and_never_the_primary() {
    let test = "an_auto_clipboard_carries_only_capped_text_and_never_the_primary";
    let Some((user, bin)) = ready_with_clip_client(test, &["wl-copy", "wl-paste"]) else {
        return;
    };
    let sway = Sway::start(test, user, "");
    sway.wl_copy("host-text");
    let mut primary = sway.client("wl-copy");
    primary
        .args(["--primary", "host-primary"])
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    assert!(primary.status().unwrap().success());
    let dir = scratch_for("kinds", user);
    let cases: [(&str, &[&str]); 4] = [
        ("primary", &["--primary", "--text", "inside-primary"]),
        ("image", &["--mime", "image/png", "--text", "inside-image"]),
        // One byte over the default cap (1 MiB).
        ("big", &["--bytes", "1048577"]),
        // The control: plain text within the cap goes out.
        ("text", &["--text", "inside-text"]),
    ];
    let mut seen = Vec::new();
    for (what, args) in cases {
        let name = unique_name(test);
        // The selection is set 1 s after the focus came, so that wsbox has
        // the host's focus by then.
        let mut all = vec!["--after", "1"];
        all.extend(args);
        let run = start_clip_client(&sway, &name, &bin, &dir, &all);
        let host = if what == "text" {
            poll(Duration::from_secs(10), || {
                let host = paste_on_host(&sway);
                host.starts_with("inside-text").then_some(host)
            })
            .unwrap_or_else(|| paste_on_host(&sway))
        } else {
            thread::sleep(Duration::from_secs(4));
            paste_on_host(&sway)
        };
        let primary = paste_primary_on_host(&sway);
        let out = run.kill(RUN_LIMIT);
        seen.push((what, host, primary, out));
    }
    for (what, host, primary, out) in &seen {
        assert!(
            primary.starts_with("host-primary"),
            "{what}: the host's primary selection changed: {primary}\n{out}"
        );
        let want = if *what == "text" {
            "inside-text"
        } else {
            "host-text"
        };
        assert!(
            host.starts_with(want),
            "{what}: the host clipboard is {host}, not {want}\n{out}"
        );
    }
}

/// The size of a PNG file.
fn png_size(path: &Path) -> Option<(i64, i64)> {
    let decoder = png::Decoder::new(fs::File::open(path).ok()?);
    let reader = decoder.read_info().ok()?;
    let info = reader.info();
    Some((info.width as i64, info.height as i64))
}

#[test]
fn the_host_scale_becomes_the_sandbox_scale() {
    let test = "the_host_scale_becomes_the_sandbox_scale";
    let Some(user) = ready(test, &["wayland-info"]) else {
        return;
    };
    let sway = Sway::start(test, user, "");
    let name = unique_name(test);
    let dir = scratch_for("scale", user);
    let run = sway.wsbox_run(&["--name", &name, "--", "foot", "-e", "sh", "-c", "cat"]);
    let app_id = format!("wsbox.{name}");
    // (logical width of the sandbox's window, screenshot width / it), once
    // the window is as wide as the host window less wsbox's border.
    let observe = || -> Option<(i64, f64, String)> {
        let (_, _, [x0, _, x1, _]) = sway.window(&app_id)?;
        let windows = sandbox_windows(&sway, &name);
        let (_, _, _, w, _) = windows.first()?.clone();
        if w != x1 - x0 - 2 * BORDER {
            return None;
        }
        let shot = dir.join(format!("shot-{}.png", next()));
        let out = wsbox_cmd(&sway, &["screenshot", &name, shot.to_str()?]);
        let (pw, _) = png_size(&shot)?;
        Some((w, pw as f64 / w as f64, out.to_string()))
    };
    let at_1 = poll(SHOW_LIMIT, || {
        observe().filter(|o| (o.1 - 1.0).abs() < 0.01)
    });
    let scale_2 = sway.swaymsg(&["output HEADLESS-1 scale 2"]);
    let at_2 = poll(SHOW_LIMIT, || {
        observe().filter(|o| o.0 < 700 && (o.1 - 2.0).abs() < 0.01)
    });
    // sway 1.7 offers no fractional scaling to clients: its clients (wsbox)
    // get wl_output.scale 2 and it scales down. A host with
    // wp_fractional_scale_v1 gives 1.5 itself. Which one this sway does
    // decides the one scale that passes.
    let globals = sway.run("wayland-info", &[]).stdout;
    let want_15 = if globals.contains("wp_fractional_scale_manager_v1") {
        1.5
    } else {
        2.0
    };
    let scale_15 = sway.swaymsg(&["output HEADLESS-1 scale 1.5"]);
    let outputs = sway.swaymsg(&["-t", "get_outputs", "--raw"]);
    let host_scale = serde_json::from_str::<serde_json::Value>(&outputs.stdout)
        .ok()
        .and_then(|o| o.get(0)?.get("scale")?.as_f64());
    // The logical size must change too (1280 / 1.5 wide, not 1280 / 2):
    // the window followed the new scale, not just kept the old one.
    let at_15 = poll(SHOW_LIMIT, || {
        observe().filter(|o| o.0 > 800 && (o.1 - want_15).abs() < 0.01)
    });
    let out = run.kill(RUN_LIMIT);
    assert!(
        scale_2.status.success() && scale_15.status.success(),
        "{scale_2}{scale_15}"
    );
    assert!(
        at_1.is_some(),
        "not at scale 1 first: {:?}\n{out}",
        observe()
    );
    assert!(
        at_2.is_some(),
        "the sandbox did not follow the host's scale 2: {:?}\n{out}",
        observe()
    );
    assert_eq!(host_scale, Some(1.5), "{outputs}");
    assert!(
        at_15.is_some(),
        "the sandbox did not follow the host's scale 1.5 (as {want_15} for this host): {:?}\n{out}",
        observe()
    );
}

/// A client that only asks for frame callbacks (commits with no new
/// buffer) gets them at the host's pace, also while something in the
/// sandbox commits without changing anything about once per host frame:
/// wsbox answers those commits with bare host commits and
/// holds the callbacks back until the host's next frame callback, and must
/// then send them even though something (the other client's commit) waits
/// to be drawn again (backend/window.rs, `render_frame`).
#[test]
fn frame_callbacks_keep_the_host_pace_among_empty_commits() {
    let test = "frame_callbacks_keep_the_host_pace_among_empty_commits";
    let Some((user, bin)) = ready_with_client(test, &[]) else {
        return;
    };
    const HZ: f64 = 60.0;
    const SECONDS: f64 = 3.0;
    let sway = Sway::start(
        test,
        user,
        &format!("output HEADLESS-1 mode --custom 1280x800@{HZ}Hz\n"),
    );
    let name = unique_name(test);
    let bind = format!("{bin}:/opt/bench-client");
    // One frame, then frame requests only on the window, and a commit that
    // changes nothing (a surface without a role) every 20 ms. At 12 ms the
    // old code's starvation was often hidden by full-damage redraws; at
    // 20 ms it got 46-50 callbacks in 3 s, every time.
    let seconds = SECONDS.to_string();
    let run = sway.wsbox_run(&[
        "--name",
        &name,
        "--ro",
        &bind,
        "--",
        "/opt/bench-client",
        "--no-draw",
        "--commit-every",
        "20",
        "--seconds",
        &seconds,
    ]);
    let out = run.finish(RUN_LIMIT);
    assert!(out.status.success(), "{out}\n--- sway ---\n{}", sway.log());
    let frames: f64 = out
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("frames "))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no summary from bench-client\n{out}"));
    eprintln!("{frames} frame callbacks in {SECONDS} s on a {HZ} Hz host");
    assert!(
        frames >= HZ * SECONDS / 2.0,
        "{frames} frame callbacks in {SECONDS} s on a {HZ} Hz host, among empty commits\n{out}"
    );
}

/// `wsbox screenshot` shows what the app drew last, also while the host
/// sends no frame callbacks (the window is in sway's scratchpad, hidden):
/// wsbox renders one frame ahead of the host and leaves later commits for
/// the host's next frame, but a screenshot renders them regardless.
/// bench-client's full-damage frame `f` is (5f, 3f, 0x40) at the top-left
/// pixel; with `--frames 3` it draws frames 0, 1 and 2 (the hidden host
/// lets wsbox pay a frame callback a second), then keeps its window open.
#[test]
fn a_screenshot_shows_the_newest_frame_while_the_host_is_hidden() {
    let test = "a_screenshot_shows_the_newest_frame_while_the_host_is_hidden";
    let Some((user, bin)) = ready_with_client(test, &[]) else {
        return;
    };
    let sway = Sway::start(
        test,
        user,
        "for_window [app_id=\"^wsbox\\.\"] move scratchpad\n",
    );
    let name = unique_name(test);
    let dir = scratch_for("hidden", user);
    let bind = format!("{bin}:/opt/bench-client");
    let run = sway.wsbox_run(&[
        "--name",
        &name,
        "--ro",
        &bind,
        "--",
        "/opt/bench-client",
        "--damage",
        "full",
        "--frames",
        "3",
        "--linger",
        "60",
    ]);
    const LAST: [u8; 3] = [10, 6, 0x40];
    let mut seen = Vec::new();
    let shown = poll(Duration::from_secs(15), || {
        let shot = dir.join(format!("shot-{}.png", next()));
        let out = wsbox_cmd(&sway, &["screenshot", &name, shot.to_str()?]);
        if !out.status.success() {
            return None;
        }
        let pixel = Image::load(&shot).at(0, 0);
        if seen.last() != Some(&pixel) {
            seen.push(pixel);
        }
        (pixel == LAST).then_some(())
    });
    let visible = sway
        .window(&format!("wsbox.{name}"))
        .map(|(_, _, rect)| rect);
    // Its third frame callback, a second after the third frame.
    thread::sleep(Duration::from_secs(2));
    let out = run.kill(RUN_LIMIT);
    eprintln!("screenshots showed {seen:?}; host window {visible:?}");
    assert!(
        out.stdout.contains("frames 3 "),
        "bench-client did not draw its frames\n{out}"
    );
    assert!(
        shown.is_some(),
        "the screenshots showed {seen:?}, never bench-client's last frame {LAST:?} \
         (host window: {visible:?})\n{out}"
    );
}
