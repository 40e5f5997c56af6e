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

use std::ffi::CString;
use std::fs;
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::thread;
use std::time::Duration;

mod common;

use common::{find_program, next, output, poll, skip, Out, Running};

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

fn lookup_user(name: &str) -> Option<(u32, u32)> {
    let name = CString::new(name).ok()?;
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
    let script = format!("read line; printf '%s' \"$line\" > {}/typed", dir.display());
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
/// `inside-x` inside; returns once the host window has the focus.
fn start_clipboard_shell(sway: &Sway, name: &str, dir: &Path, policy: Option<&Path>) -> Running {
    let bind = format!("{}:{}", dir.display(), dir.display());
    let d = dir.display();
    let script = format!(
        "while :; do \
           if [ -e {d}/do-paste ]; then rm -f {d}/do-paste; \
             wl-paste -n > {d}/p.tmp 2>&1; echo \" rc=$?\" >> {d}/p.tmp; mv {d}/p.tmp {d}/pasted; fi; \
           if [ -e {d}/do-copy ]; then rm -f {d}/do-copy; wl-copy inside-x; touch {d}/copied; fi; \
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
    fs::write(dir.join("do-copy"), "").unwrap();
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
