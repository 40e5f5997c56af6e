//! sway headless (pixman) as a host session for window mode: the tests'
//! (tests/window_sway.rs) and the bench's window and latency tables.
//!
//! sway refuses to run as root, so it runs as the test user in a directory
//! of that user's, which is its clients' XDG_RUNTIME_DIR too; clients that
//! run as root (the bench's) connect to its socket by path. With
//! `WLR_LIBINPUT_NO_DEVICES=1` it has no input device of its own: a test
//! that types adds [`Sway::add_idle_keyboard`], the bench its own virtual
//! keyboard.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use serde_json::Value;

use crate::image::Image;
use crate::poll::poll;
use crate::process::{socket_in, Log, Process};
use crate::run::{output, Out};
use crate::sandbox::Maker;
use crate::scratch::next;
use crate::user::as_user;

/// How long sway may take to listen, and a host tool to answer.
const START_LIMIT: Duration = Duration::from_secs(10);

/// A sway headless instance, stopped (with what it started) when dropped.
#[derive(Debug)]
pub struct Sway {
    pub process: Process,
    pub user: (u32, u32),
    /// Its XDG_RUNTIME_DIR and HOME, owned by `user`.
    pub dir: PathBuf,
    /// Its Wayland socket, by absolute path.
    pub socket: PathBuf,
    ipc: OnceLock<PathBuf>,
    /// An idle virtual keyboard, so that the seat always has one.
    keyboard: Option<Process>,
    /// Host clients started with [`Sway::spawn`].
    clients: Vec<Process>,
}

/// A host window as sway's tree shows it.
#[derive(Debug, Clone)]
pub struct SwayWindow {
    pub title: String,
    pub focused: bool,
    /// x0, y0, x1, y1 on the screen.
    pub rect: [i64; 4],
    /// The whole tree node, for what else a test reads (deco_rect, …).
    pub node: Value,
}

impl Sway {
    /// Starts sway as `user` in `dir` (the user's own, 0700) with one
    /// output of `size` and the `extra` lines at the end of its config;
    /// returns once its Wayland socket takes connections.
    pub fn start(
        user: (u32, u32),
        dir: &Path,
        size: (u32, u32),
        extra: &str,
    ) -> Result<Sway, String> {
        let config = dir.join("config");
        let (width, height) = size;
        fs::write(
            &config,
            format!(
                "output HEADLESS-1 resolution {width}x{height}\ndefault_border none\n\
                 focus_follows_mouse no\n{extra}"
            ),
        )
        .and_then(|()| fs::set_permissions(&config, fs::Permissions::from_mode(0o644)))
        .map_err(|e| format!("write {}: {e}", config.display()))?;
        let mut cmd = as_user("sway", user, dir);
        cmd.arg("-c")
            .arg(&config)
            .env("WLR_BACKENDS", "headless")
            .env("WLR_RENDERER", "pixman")
            .env("WLR_LIBINPUT_NO_DEVICES", "1")
            .stdout(Stdio::null());
        let process = Process::start(cmd, "sway", true, dir.join("sway.log"), Log::Stderr)?;
        let mut sway = Sway {
            process,
            user,
            dir: dir.to_owned(),
            socket: PathBuf::new(),
            ipc: OnceLock::new(),
            keyboard: None,
            clients: Vec::new(),
        };
        // A steady short pause: the bench times sway's start.
        let dir = sway.dir.clone();
        sway.socket =
            sway.process
                .wait_for_socket(Duration::from_micros(500), START_LIMIT, || {
                    socket_in(&dir, "wayland-")
                })?;
        Ok(sway)
    }

    /// Everything sway logged.
    pub fn log(&self) -> String {
        self.process.log()
    }

    /// sway's IPC socket, once it takes connections (it comes a little
    /// after the Wayland one).
    pub fn ipc(&self) -> Result<PathBuf, String> {
        if let Some(ipc) = self.ipc.get() {
            return Ok(ipc.clone());
        }
        let ipc = poll(START_LIMIT, || {
            socket_in(&self.dir, "sway-ipc.").filter(|p| UnixStream::connect(p).is_ok())
        })
        .ok_or_else(|| format!("no sway-ipc socket{}", self.process.log_tail()))?;
        Ok(self.ipc.get_or_init(|| ipc).clone())
    }

    /// A host client command, as the test user in this session.
    pub fn client(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut cmd = as_user(program, self.user, &self.dir);
        cmd.env("WAYLAND_DISPLAY", &self.socket);
        if let Some(ipc) = self.ipc.get() {
            cmd.env("SWAYSOCK", ipc);
        }
        cmd
    }

    /// What makes `program` commands as [`Sway::client`] does, for a
    /// [`crate::sandbox::Sandbox`] run in this session.
    pub fn maker(&self, program: PathBuf) -> Maker {
        let (user, dir, socket) = (self.user, self.dir.clone(), self.socket.clone());
        let ipc = self.ipc.get().cloned();
        Box::new(move || {
            let mut cmd = as_user(&program, user, &dir);
            cmd.env("WAYLAND_DISPLAY", &socket);
            if let Some(ipc) = &ipc {
                cmd.env("SWAYSOCK", ipc);
            }
            cmd
        })
    }

    /// `swaymsg ARGS`, finished.
    pub fn swaymsg(&self, args: &[&str]) -> Out {
        let mut cmd = self.client("swaymsg");
        if let Ok(ipc) = self.ipc() {
            cmd.arg("-s").arg(ipc);
        }
        cmd.args(args);
        output(cmd, START_LIMIT)
    }

    /// Runs a host client to its end; it must succeed.
    pub fn run(&self, program: &str, args: &[&str]) -> Out {
        let mut cmd = self.client(program);
        cmd.args(args);
        let out = output(cmd, START_LIMIT);
        assert!(out.status.success(), "{program} {args:?} failed\n{out}");
        out
    }

    /// A host client that runs until sway is dropped.
    pub fn spawn(&mut self, program: &str, args: &[&str]) {
        let mut cmd = self.client(program);
        cmd.args(args).stdout(Stdio::null());
        let log = self.dir.join(format!("{program}-{}.log", next()));
        let client =
            Process::start(cmd, program, false, log, Log::Stderr).unwrap_or_else(|e| panic!("{e}"));
        self.clients.push(client);
    }

    /// Adds a virtual keyboard that stays idle (a sleeping wtype) and
    /// returns once sway lists it: the seat then always has a keyboard, as
    /// a real session does. Without it every wtype would add and remove the
    /// seat's keyboard, and its first key would arrive held in
    /// wl_keyboard.enter, which wsbox deliberately does not pass on.
    pub fn add_idle_keyboard(&mut self) -> Result<(), String> {
        let mut cmd = self.client("wtype");
        cmd.args(["-s", "3600000"]).stdout(Stdio::null());
        let log = self.dir.join("keyboard.log");
        let mut keyboard = Process::start(cmd, "wtype", false, log, Log::Stderr)?;
        let listed = poll(START_LIMIT, || {
            if let Some(status) = keyboard.try_wait() {
                return Some(Err(format!(
                    "the idle wtype ended with {status}{}",
                    keyboard.log_tail()
                )));
            }
            self.keyboards().filter(|n| *n > 0).map(Ok)
        });
        self.keyboard = Some(keyboard);
        match listed {
            Some(Ok(_)) => Ok(()),
            Some(Err(e)) => Err(e),
            None => Err(format!(
                "sway never listed the idle keyboard: {}",
                self.swaymsg(&["-t", "get_inputs", "--raw"])
            )),
        }
    }

    /// How many keyboards sway's seat has.
    pub fn keyboards(&self) -> Option<usize> {
        let inputs: Value =
            serde_json::from_str(&self.swaymsg(&["-t", "get_inputs", "--raw"]).stdout).ok()?;
        Some(
            inputs
                .as_array()?
                .iter()
                .filter(|i| i["type"] == "keyboard")
                .count(),
        )
    }

    /// Host `wl-copy TEXT`: it forks to serve the selection and keeps its
    /// output open, so nothing of it is collected.
    pub fn wl_copy(&self, args: &[&str]) {
        let mut cmd = self.client("wl-copy");
        cmd.args(args).stdout(Stdio::null()).stderr(Stdio::null());
        let status = cmd
            .status()
            .unwrap_or_else(|e| panic!("failed to start wl-copy: {e}"));
        assert!(status.success(), "wl-copy {args:?} failed: {status}");
    }

    /// The host window with `app_id`.
    pub fn window(&self, app_id: &str) -> Option<SwayWindow> {
        let out = self.swaymsg(&["-t", "get_tree", "--raw"]);
        let tree: Value = serde_json::from_str(&out.stdout).ok()?;
        let node = find_node(&tree, app_id)?;
        let rect = rect_of(&node, "rect");
        Some(SwayWindow {
            title: node.get("name")?.as_str().unwrap_or("").to_owned(),
            focused: node.get("focused")?.as_bool()?,
            rect: [rect[0], rect[1], rect[0] + rect[2], rect[1] + rect[3]],
            node,
        })
    }

    /// Waits until the window with `app_id` has the keyboard focus; fails
    /// the test otherwise.
    pub fn wait_focused(&self, app_id: &str) {
        let focused = poll(Duration::from_secs(15), || {
            self.window(app_id).filter(|w| w.focused)
        });
        assert!(
            focused.is_some(),
            "{app_id} never got the focus\n{}",
            self.log()
        );
    }

    /// grim's screenshot of the whole screen, kept in `dir`.
    pub fn screenshot(&self, dir: &Path) -> Image {
        let path = dir.join(format!("shot-{}.png", next()));
        self.run("grim", &[&path.to_string_lossy()]);
        Image::load(&path)
    }

    /// One pixel of the screen, as quickly as grim gives it: for a state
    /// that shows for a moment only (the frame's flash).
    pub fn pixel(&self, x: i64, y: i64) -> Option<[u8; 3]> {
        let mut cmd = self.client("grim");
        cmd.args(["-g", &format!("{x},{y} 1x1"), "-t", "ppm", "-"])
            .stderr(Stdio::null());
        let out = cmd.output().ok()?;
        let image = Image::decode(&out.stdout, Path::new("grim's pixel")).ok()?;
        Some(image.at(0, 0))
    }

    /// The refresh rate of its output, as `swaymsg -t get_outputs` says.
    pub fn refresh_hz(&self) -> Result<f64, String> {
        let ipc = self.ipc()?;
        let out = Command::new("swaymsg")
            .arg("-s")
            .arg(&ipc)
            .args(["-t", "get_outputs", "-r"])
            .stderr(Stdio::null())
            .output()
            .map_err(|e| format!("swaymsg: {e}"))?;
        let outputs: Value =
            serde_json::from_slice(&out.stdout).map_err(|e| format!("swaymsg's answer: {e}"))?;
        outputs[0]["current_mode"]["refresh"]
            .as_f64()
            .map(|mhz| mhz / 1000.0)
            .ok_or_else(|| format!("no refresh rate in {outputs}"))
    }
}

impl Drop for Sway {
    fn drop(&mut self) {
        for client in self.clients.iter_mut().chain(self.keyboard.as_mut()) {
            client.kill();
        }
        self.process.stop();
    }
}

/// The node of the window with `app_id` in sway's tree.
fn find_node(node: &Value, app_id: &str) -> Option<Value> {
    if node.get("app_id").and_then(Value::as_str) == Some(app_id) {
        return Some(node.clone());
    }
    ["nodes", "floating_nodes"]
        .iter()
        .filter_map(|k| node.get(k)?.as_array())
        .flatten()
        .find_map(|child| find_node(child, app_id))
}

/// The rectangle `key` (rect, window_rect, deco_rect) of a tree node:
/// x, y, width, height; -1 for what is missing.
pub fn rect_of(node: &Value, key: &str) -> [i64; 4] {
    let n = |k: &str| {
        node.get(key)
            .and_then(|r| r.get(k))
            .and_then(Value::as_i64)
            .unwrap_or(-1)
    };
    [n("x"), n("y"), n("width"), n("height")]
}
