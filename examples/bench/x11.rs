//! The X11 table: X11-only programs through wsbox's Xwayland (`wsbox run
//! --headless --x11`) and through weston's (`weston --xwayland`), each
//! compositor started fresh for the run and timed from its spawn, as in the
//! first-frame table; and what `--x11` costs a Wayland client.
//!
//! "First frame" is the first `wl_surface.commit` with a buffer attached
//! that Xwayland sends for a window's surface (not its cursor's): the X
//! program has drawn, and Xwayland hands the compositor the picture. Both
//! sides stamp it with libwayland's clock (CLOCK_REALTIME in µs, cut to 32
//! bits): weston's Xwayland logs its requests as it sends them
//! (`WAYLAND_DEBUG=client`, through a wrapper named in weston's
//! `[xwayland] path`), and wsbox's compositor logs them as it dispatches
//! them (`WAYLAND_DEBUG=server` in wsbox's environment; wsbox's Xwayland
//! gets no variable from outside). A request is dispatched after it was
//! sent, so the comparison, if anything, favours weston.
//!
//! Memory: 2 s after the first frame, the proportional set size (PSS, each
//! shared page split among the processes that map it) of every process of
//! the case, summed: wsbox with its sandbox's pid 1, Xwayland and the
//! program; weston with its helper clients, its Xwayland and the program.
//! Xwayland's alone is the table's second column.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use testkit::{monotonic_ns, poll_every, Log, Process as Proc, TempDir, Weston};

use super::wldebug::{object, realtime_us, since, Request};
use super::{
    descendants, find_in_path, idle, ms_since, processes, Env, Group, Lines, Metric, Outcome,
};

/// Debian's Xwayland, the one wsbox runs inside.
const XWAYLAND: &str = "/usr/bin/Xwayland";

/// The X11-only programs of the table: name and Debian package.
const PROGRAMS: [(&str, &str); 2] = [("xeyes", "x11-apps"), ("xterm", "xterm")];

/// How long a case may take to show its first frame.
const FRAME_LIMIT: Duration = Duration::from_secs(30);

/// How long the case idles after its first frame before its memory is read.
const IDLE: Duration = Duration::from_secs(2);

pub(super) fn group(env: &Env, runs: usize) -> Group {
    let mut g = Group::new(
        runs,
        vec![
            Metric {
                title: "X11 programs: time to first frame (from spawning the compositor to \
                        Xwayland's first buffer committed to the program's window)"
                    .into(),
                unit: "ms",
                key: "x11_first_frame",
                suffix: "ms",
                digits: 1,
                print: true,
            },
            Metric {
                title: format!(
                    "X11 programs: memory {} s after the first frame (PSS of every process of \
                     the case, summed)",
                    IDLE.as_secs()
                ),
                unit: "MiB",
                key: "x11_memory",
                suffix: "mib",
                digits: 1,
                print: true,
            },
            Metric {
                title: "X11 programs: Xwayland's own PSS".into(),
                unit: "MiB",
                key: "x11_xwayland_memory",
                suffix: "mib",
                digits: 1,
                print: true,
            },
        ],
    );
    g.warmup = 1;
    if !Path::new(XWAYLAND).is_file() {
        env.skip(&format!(
            "the X11 table: {XWAYLAND} is not installed (Debian package xwayland)"
        ));
        return g;
    }
    for (program, package) in PROGRAMS {
        if find_in_path(program).is_none() {
            env.skip(&format!(
                "{program} in the X11 table: it is not installed (Debian package {package})"
            ));
            continue;
        }
        let weston_name = format!("weston --xwayland + {program}");
        if env.weston {
            g.add(
                weston_name.clone(),
                None,
                format!(
                    "weston --backend=headless-backend.so --use-pixman --width=1280 \
                     --height=720 --idle-time=0 --xwayland, [xwayland] path = a wrapper that \
                     runs {XWAYLAND} with WAYLAND_DEBUG=client; then DISPLAY=<its display> \
                     {program} once weston listens"
                ),
                move |env| on_weston(env, program),
            );
        }
        g.add(
            format!("wsbox --headless --x11 + {program}"),
            env.weston.then_some(weston_name),
            format!("WAYLAND_DEBUG=server wsbox run --headless --x11 -- {program}"),
            move |env| in_wsbox(env, program),
        );
    }
    // What --x11 costs a sandbox whose app is a Wayland client.
    let plain = "wsbox --headless + bench-client".to_owned();
    g.add(
        plain.clone(),
        None,
        "wsbox run --headless -- /opt/bench-client --idle --seconds 30 (its first frame \
         callback)"
            .into(),
        |env| wayland_client(env, false),
    );
    g.add(
        "wsbox --headless --x11 + bench-client".into(),
        Some(plain),
        "wsbox run --headless --x11 -- /opt/bench-client --idle --seconds 30 (its first frame \
         callback)"
            .into(),
        |env| wayland_client(env, true),
    );
    g.notes.push(
        "The X11 programs' first frame is Xwayland's first wl_surface.commit with a buffer for \
         the program's window, stamped by libwayland: as weston's Xwayland sends it \
         (WAYLAND_DEBUG=client), as wsbox's compositor dispatches it (WAYLAND_DEBUG=server). \
         weston starts its Xwayland when the program connects, wsbox as the sandbox starts. \
         The bench-client rows time its first frame callback (CLOCK_MONOTONIC), without and \
         with --x11: Xwayland starts beside the app, which does not wait for it. Memory is \
         the PSS of every process of the case: wsbox, the sandbox's pid 1, Xwayland and the \
         program, or weston, its helper clients, its Xwayland and the program."
            .into(),
    );
    g
}

/// A fresh weston with Xwayland, and `program` on it.
fn on_weston(env: &Env, program: &str) -> Outcome {
    let socket = env.unique("wsbox-bench-weston");
    let dir = TempDir::new(env.scratch.path.join(&socket))?;
    let log = dir.path.join("xwayland.log");
    let wrapper = dir.path.join("xwayland");
    fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\nWAYLAND_DEBUG=client exec {XWAYLAND} \"$@\" 2>>{}\n",
            log.display()
        ),
    )
    .map_err(|e| format!("write {}: {e}", wrapper.display()))?;
    set_mode(&wrapper, 0o700)?;
    let config = dir.path.join("weston.ini");
    fs::write(&config, format!("[xwayland]\npath={}\n", wrapper.display()))
        .map_err(|e| format!("write {}: {e}", config.display()))?;
    let extra = [
        "--xwayland".to_owned(),
        format!("--config={}", config.display()),
    ];

    let t0 = realtime_us();
    let mut weston = Weston::start_with(&dir.path, &socket, (1280, 720), false, &extra)?;
    weston.process.keep(dir);
    let display = poll_every(Duration::from_millis(1), FRAME_LIMIT, || {
        let log = weston.log();
        let rest = log.split_once("xserver listening on display ")?.1;
        Some(rest.split_whitespace().next()?.to_owned())
    })
    .ok_or_else(|| format!("weston named no X display{}", weston.process.log_tail()))?;
    let mut cmd = Command::new(program);
    cmd.env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("HOME", &weston.dir)
        .env("LANG", "C.UTF-8")
        .env("DISPLAY", &display)
        .stdout(Stdio::null());
    let stderr = env
        .scratch
        .path
        .join(format!("{}.stderr", env.unique(program)));
    let mut client = Proc::start(cmd, program, false, stderr, Log::Stderr)?;

    let mut trace = Trace::default();
    let mut read = 0usize;
    let deadline = Instant::now() + FRAME_LIMIT;
    let stamp = loop {
        let text = fs::read(&log).unwrap_or_default();
        let new = text.get(read..).unwrap_or_default();
        // Whole lines only: the wrapper's file may end mid-line.
        let end = new.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        read += end;
        let found = String::from_utf8_lossy(&new[..end])
            .lines()
            .find_map(|line| trace.feed(line));
        if let Some(stamp) = found {
            break stamp;
        }
        if let Some(status) = client.try_wait() {
            return Err(format!(
                "{program} ended with {status}{}",
                client.log_tail()
            ));
        }
        if Instant::now() > deadline {
            return Err(format!(
                "no frame of {program} within {} s{}",
                FRAME_LIMIT.as_secs(),
                weston.process.log_tail()
            ));
        }
        std::thread::sleep(Duration::from_millis(1));
    };
    let frame = since(t0, stamp)?;
    idle(IDLE, &mut [&mut client, &mut weston.process])?;
    let mut pids = tree(weston.process.pid())?;
    pids.push(client.pid());
    let memory = memory(&pids)?;
    client.stop();
    drop(weston);
    Ok([vec![frame], memory].concat())
}

/// `wsbox run --headless --x11 -- program`, its compositor's requests
/// logged.
fn in_wsbox(env: &Env, program: &str) -> Outcome {
    let mut cmd = Command::new(&env.wsbox);
    cmd.args(["run", "--headless", "--x11", "--name", &env.unique("bench")])
        .args(["--", program])
        .env("WAYLAND_DEBUG", "server");
    let mut out = Lines::new();
    let t0 = realtime_us();
    let mut wsbox = out.spawn_debug(cmd, "wsbox", env)?;
    let mut trace = Trace::default();
    let deadline = Instant::now() + FRAME_LIMIT;
    let stamp = loop {
        let line = out.next(deadline, &mut [&mut wsbox])?;
        if let Some(stamp) = trace.feed(&line) {
            break stamp;
        }
    };
    let frame = since(t0, stamp)?;
    // `out` reads on: wsbox's log must not block it.
    idle(IDLE, &mut [&mut wsbox])?;
    let memory = memory(&tree(wsbox.pid())?)?;
    wsbox.stop();
    drop(out);
    Ok([vec![frame], memory].concat())
}

/// bench-client idle in wsbox, with or without `--x11`.
fn wayland_client(env: &Env, x11: bool) -> Outcome {
    let mut cmd = Command::new(&env.wsbox);
    cmd.args(["run", "--headless", "--name", &env.unique("bench")]);
    if x11 {
        cmd.arg("--x11");
    }
    cmd.arg("--ro")
        .arg(format!("{}:/opt/bench-client", env.client))
        .args(["--", "/opt/bench-client", "--idle", "--seconds", "30"]);
    let mut out = Lines::new();
    let t0 = monotonic_ns();
    let mut wsbox = out.spawn(cmd, "wsbox", env)?;
    let ns = out.first_frame(FRAME_LIMIT, &mut [&mut wsbox])?;
    idle(IDLE, &mut [&mut wsbox])?;
    let memory = memory(&tree(wsbox.pid())?)?;
    wsbox.stop();
    Ok([vec![ms_since(t0, ns)], memory].concat())
}

/// `root` and every process below it.
fn tree(root: i32) -> Result<Vec<i32>, String> {
    Ok(descendants(&processes()?, root))
}

/// The summed PSS of `pids`, and that of the Xwayland among them (0 if
/// none), in MiB.
fn memory(pids: &[i32]) -> Result<Vec<f64>, String> {
    let mut total = 0.0;
    let mut xwayland = 0.0;
    for &pid in pids {
        let pss = pss_mib(pid)?;
        total += pss;
        let comm = fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
        if comm.trim_end() == "Xwayland" {
            xwayland += pss;
        }
    }
    Ok(vec![total, xwayland])
}

/// The process's PSS in MiB, from /proc/PID/smaps_rollup.
fn pss_mib(pid: i32) -> Result<f64, String> {
    let path = format!("/proc/{pid}/smaps_rollup");
    let text = fs::read_to_string(&path).map_err(|e| format!("read {path}: {e}"))?;
    text.lines()
        .find_map(|l| l.strip_prefix("Pss:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|kib| kib.parse::<f64>().ok())
        .map(|kib| kib / 1024.0)
        .ok_or_else(|| format!("no Pss in {path}"))
}

fn set_mode(path: &PathBuf, mode: u32) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
        .map_err(|e| format!("chmod {}: {e}", path.display()))
}

/// Xwayland's requests, from either side's `WAYLAND_DEBUG` lines, followed
/// until the first buffer committed to a surface that is not its cursor.
#[derive(Default)]
struct Trace {
    /// Surfaces with a buffer attached and not yet committed.
    attached: Vec<u32>,
    /// Surfaces given to `wl_pointer.set_cursor`.
    cursors: Vec<u32>,
}

impl Trace {
    /// Takes one line; once it is the first commit of a buffer to a window's
    /// surface: its stamp.
    fn feed(&mut self, line: &str) -> Option<u32> {
        let request = Request::parse(line)?;
        match (request.interface, request.method) {
            ("wl_pointer", "set_cursor") => {
                if let Some(surface) = request.arg(1).and_then(object) {
                    self.cursors.push(surface);
                }
            }
            ("wl_surface", "attach") => {
                self.attached.retain(|&s| s != request.id);
                if request.arg(0).and_then(object).is_some() {
                    self.attached.push(request.id);
                }
            }
            ("wl_surface", "commit") => {
                let had = self.attached.contains(&request.id);
                self.attached.retain(|&s| s != request.id);
                if had && !self.cursors.contains(&request.id) {
                    return Some(request.stamp);
                }
            }
            _ => {}
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_window_buffer_is_found_on_either_side() {
        let client = [
            "[2445132.950]  -> wl_compositor@4.create_surface(new id wl_surface@54)",
            "[2445132.960]  -> wl_pointer@15.set_cursor(7, wl_surface@14, 0, 0)",
            "[2445132.961]  -> wl_surface@14.attach(wl_buffer@30, 0, 0)",
            "[2445132.962]  -> wl_surface@14.commit()",
            "[2445140.000]  -> wl_surface@54.attach(nil, 0, 0)",
            "[2445140.001]  -> wl_surface@54.commit()",
            "[2445148.365]  -> wl_surface@54.attach(wl_buffer@96, 0, 0)",
            "[2445148.370]  -> wl_surface@54.damage(0, 0, 150, 100)",
            "[2445148.377]  -> wl_surface@54.commit()",
        ];
        let server = [
            "[2450017.317][rs] <- wl_compositor@5.create_surface, (14)",
            "[2450020.844][rs] <- wl_pointer@15.set_cursor, (0, 14, 0, 0)",
            "[2450020.900][rs] <- wl_surface@14.attach, (20, 0, 0)",
            "[2450020.950][rs] <- wl_surface@14.commit, ()",
            "[2450058.984][rs] <- wl_compositor@5.create_surface, (21)",
            "[2450059.000][rs] <- wl_surface@21.attach, (0, 0, 0)",
            "[2450059.100][rs] <- wl_surface@21.commit, ()",
            "[2450059.557][rs] <- wl_surface@21.attach, (25, 0, 0)",
            "[2450063.700][rs] -> wl_callback@30.done(1)",
            "The XKEYBOARD keymap compiler (xkbcomp) reports:",
            "[2450063.741][rs] <- wl_surface@21.commit, ()",
        ];
        for (lines, want) in [(&client[..], 2_445_148_377), (&server[..], 2_450_063_741)] {
            let mut trace = Trace::default();
            let found: Vec<u32> = lines.iter().filter_map(|l| trace.feed(l)).collect();
            assert_eq!(found, vec![want], "{lines:?}");
        }
    }
}
