//! weston's headless backend (pixman, works as root) as a host session:
//! the tests' (tests/window.rs) and the bench's reference compositor.
//!
//! Each instance has an XDG_RUNTIME_DIR of its own; clients get its socket
//! by absolute path, so any number run side by side. With `debug`, weston
//! offers its debug and screenshooter protocols: [`Weston::windows`] reads
//! the host windows from `weston-debug scene-graph`, [`Weston::screenshot`]
//! is `weston-screenshooter`'s.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::image::Image;
use crate::process::{socket_in, Log, Process};
use crate::run::output;

/// How long weston may take to listen, and a host tool to answer.
const START_LIMIT: Duration = Duration::from_secs(10);

/// A weston headless instance, stopped with its helper clients when
/// dropped.
#[derive(Debug)]
pub struct Weston {
    pub process: Process,
    /// Its XDG_RUNTIME_DIR.
    pub dir: PathBuf,
    /// Its Wayland socket, by absolute path.
    pub socket: PathBuf,
}

/// A host window as weston's scene graph shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct WestonWindow {
    pub title: String,
    pub app_id: String,
    /// x0, y0, x1, y1 on the screen.
    pub rect: [i64; 4],
}

impl Weston {
    /// Starts weston in `dir` with its socket `socket` (a name) and one
    /// output of `size`; with `debug`, the debug and screenshooter
    /// protocols. Returns once the socket takes connections.
    pub fn start(
        dir: &Path,
        socket: &str,
        size: (u32, u32),
        debug: bool,
    ) -> Result<Weston, String> {
        Weston::start_with(dir, socket, size, debug, &[])
    }

    /// [`Weston::start`] with more options on weston's command line (the
    /// bench's `--xwayland --config=FILE`).
    pub fn start_with(
        dir: &Path,
        socket: &str,
        size: (u32, u32),
        debug: bool,
        extra: &[String],
    ) -> Result<Weston, String> {
        let mut cmd = Command::new("weston");
        cmd.args([
            "--backend=headless-backend.so".to_owned(),
            "--use-pixman".to_owned(),
            format!("--socket={socket}"),
            format!("--width={}", size.0),
            format!("--height={}", size.1),
            "--idle-time=0".to_owned(),
        ]);
        if debug {
            cmd.arg("--debug");
        }
        cmd.args(extra);
        cmd.env("XDG_RUNTIME_DIR", dir)
            .env_remove("WAYLAND_DISPLAY")
            .env_remove("WAYLAND_SOCKET")
            .env_remove("DISPLAY")
            .stdout(Stdio::null());
        let mut weston = Weston {
            process: Process::start(cmd, "weston", true, dir.join("weston.log"), Log::Stderr)?,
            dir: dir.to_owned(),
            socket: dir.join(socket),
        };
        // The probe connection is an empty client that weston drops when
        // it closes. A steady short pause: the bench times weston's start.
        weston
            .process
            .wait_for_socket(Duration::from_micros(200), START_LIMIT, || {
                socket_in(dir, socket)
            })?;
        Ok(weston)
    }

    /// Everything weston logged.
    pub fn log(&self) -> String {
        self.process.log()
    }

    /// A host client command (weston-debug, weston-screenshooter, …).
    pub fn client(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut cmd = Command::new(program);
        cmd.env("XDG_RUNTIME_DIR", &self.dir)
            .env("WAYLAND_DISPLAY", &self.socket)
            .stdin(Stdio::null());
        cmd
    }

    /// The host windows weston shows (needs `debug`).
    pub fn windows(&self) -> Vec<WestonWindow> {
        let mut cmd = self.client("weston-debug");
        cmd.arg("scene-graph");
        parse_scene_graph(&output(cmd, START_LIMIT).stdout)
    }

    /// A host-side screenshot, decoded; `dir` (emptied first) keeps it.
    pub fn screenshot(&self, dir: &Path) -> Image {
        for entry in fs::read_dir(dir).into_iter().flatten().flatten() {
            let _ = fs::remove_file(entry.path());
        }
        let mut cmd = self.client("weston-screenshooter");
        cmd.current_dir(dir);
        let out = output(cmd, START_LIMIT);
        let file = fs::read_dir(dir)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
            .find(|p| p.extension().is_some_and(|e| e == "png"))
            .unwrap_or_else(|| panic!("weston-screenshooter wrote no PNG\n{out}"));
        Image::load(&file)
    }
}

/// Reads weston-debug's scene graph: lines such as
/// `View 0 (role xdg_toplevel, …, top-level window 'TITLE' of APP_ID, 0x…):`
/// followed by `position: (X0, Y0) -> (X1, Y1)`.
pub fn parse_scene_graph(text: &str) -> Vec<WestonWindow> {
    let mut windows = Vec::new();
    let mut current: Option<(String, String)> = None;
    for line in text.lines() {
        let line = line.trim();
        if let Some(rest) = line.split_once("top-level window '").map(|(_, r)| r) {
            if let Some((title, rest)) = rest.rsplit_once("' of ") {
                let app_id = rest.split(", ").next().unwrap_or("").to_owned();
                current = Some((title.to_owned(), app_id));
                continue;
            }
        }
        if line.starts_with("View ") {
            current = None;
        }
        if let (Some(pos), Some((title, app_id))) = (line.strip_prefix("position: "), &current) {
            let numbers: Vec<i64> = pos
                .split(|c: char| !(c.is_ascii_digit() || c == '-'))
                .filter(|s| !s.is_empty() && *s != "-")
                .filter_map(|s| s.parse().ok())
                .collect();
            if let [x0, y0, x1, y1] = numbers[..] {
                windows.push(WestonWindow {
                    title: title.clone(),
                    app_id: app_id.clone(),
                    rect: [x0, y0, x1, y1],
                });
            }
            current = None;
        }
    }
    windows
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scene_graph_lines_are_read() {
        let text =
            "Layer 5 (pos 0x50000000):\n\tView 0 (role xdg_toplevel, PID 7685, surface ID 7, \
                    top-level window '[wsbox:dbg] it's' of wsbox.dbg, 0x555ef9bce970):\n\
                    \t\tposition: (326, 41) -> (974, 473)\n\t\t[fully opaque]\n";
        assert_eq!(
            parse_scene_graph(text),
            vec![WestonWindow {
                title: "[wsbox:dbg] it's".into(),
                app_id: "wsbox.dbg".into(),
                rect: [326, 41, 974, 473],
            }]
        );
    }
}
