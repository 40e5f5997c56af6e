//! End-to-end tests of `wsbox run --display window` under a real host
//! compositor: weston's headless backend with pixman (works as root). The
//! host's own tools check what the user would see: `weston-debug
//! scene-graph` names the host window's title, app_id and place, and
//! `weston-screenshooter` takes a host-side screenshot, in which the app's
//! pixels must sit inside wsbox's frame of the policy colour. Also: no host
//! session is a one-line error, and losing the host stops the sandbox.
//!
//! Each test starts its own weston with a private XDG_RUNTIME_DIR and hands
//! wsbox the socket as an absolute WAYLAND_DISPLAY, so tests run in parallel.
//! Needs `cargo build --workspace --bins`. A test whose programs are missing
//! prints `SKIPPED: <test>: <reason>` and passes, unless CI=true or
//! WSBOX_MUST_WORK=1, where it fails instead.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use testkit::frame::{
    check_host_frame, BACKGROUND, HOST_BORDER as BORDER, HOST_TITLE_HEIGHT as TITLE_HEIGHT,
    POLICY_COLOUR,
};
use testkit::{near, next, output, poll, skip, Image, Running, Weston};

/// This test process's directory under /tmp.
fn root_dir() -> &'static Path {
    testkit::root_dir("window", true)
}

/// The longest any one `wsbox` command may take before the test gives up.
const RUN_LIMIT: Duration = Duration::from_secs(30);
/// How long the host window may take to show the app.
const SHOW_LIMIT: Duration = Duration::from_secs(15);
/// The sandbox's output in the tests: the content of the host window.
const CONTENT: (i64, i64) = (640, 400);
/// weston-simple-shm's window size.
const SHM_SIZE: i64 = 250;

// ---------------------------------------------------------------------------
// Harness
// ---------------------------------------------------------------------------

/// Whether `test` can run: as root, sandboxes work, `programs` installed.
fn ready(test: &str, programs: &[&str]) -> bool {
    testkit::ready_as_root(test, programs, || {
        wsbox(&["run", "--display", "none", "--", "true"])
    })
}

/// A fresh private directory.
fn scratch(test: &str) -> PathBuf {
    testkit::scratch_in(root_dir(), test, 0o700)
}

fn unique_name(test: &str) -> String {
    testkit::unique_name("win-", test)
}

/// `wsbox ARGS` with this process's runtime directory and no host session.
fn wsbox(args: &[&str]) -> Command {
    testkit::wsbox_command(&root_dir().join("run"), args)
}

// ---------------------------------------------------------------------------
// The host: weston headless.
// ---------------------------------------------------------------------------

/// A weston headless 1280x800 of its own for `test`, with the debug and
/// screenshooter protocols.
fn start_weston(test: &str) -> Weston {
    Weston::start(&scratch(test), "host-0", (1280, 800), true).unwrap_or_else(|e| panic!("{e}"))
}

/// `wsbox run ARGS` in `weston`'s session.
fn wsbox_run(weston: &Weston, args: &[&str]) -> Running {
    let mut all = vec!["run"];
    all.extend_from_slice(args);
    let mut cmd = wsbox(&all);
    cmd.env("WAYLAND_DISPLAY", &weston.socket);
    Running::start(cmd)
}

/// What is wrong with the host window at `rect` in `shot`, if anything: the
/// frame in the policy colour all around, the app's pattern inside it at the
/// output's top-left, wsbox's background next to it.
fn check_marked_window(shot: &Image, rect: [i64; 4]) -> Result<(), String> {
    let [x0, y0, x1, y1] = rect;
    let (w, h) = (x1 - x0, y1 - y0);
    let expected = (CONTENT.0 + 2 * BORDER, CONTENT.1 + TITLE_HEIGHT + BORDER);
    if (w, h) != expected {
        return Err(format!("the host window is {w}x{h}, expected {expected:?}"));
    }
    check_host_frame(shot, rect)?;
    // The title bar: policy colour with the title text in it.
    let bar: Vec<[u8; 3]> = (y0..y0 + TITLE_HEIGHT)
        .flat_map(|y| (x0..x0 + 200).map(move |x| (x, y)))
        .map(|(x, y)| shot.at(x, y))
        .collect();
    let coloured = bar.iter().filter(|p| near(**p, POLICY_COLOUR)).count();
    if coloured < bar.len() / 2 || coloured == bar.len() {
        return Err(format!(
            "the title bar has {coloured} of {} pixels in the policy colour: no title text?",
            bar.len()
        ));
    }
    // The app: weston-simple-shm's pattern fills the output's top-left.
    let (cx, cy) = (x0 + BORDER, y0 + TITLE_HEIGHT);
    let mut colours = std::collections::HashSet::new();
    for y in (cy + 20..cy + SHM_SIZE - 20).step_by(3) {
        for x in (cx + 20..cx + SHM_SIZE - 20).step_by(3) {
            colours.insert(shot.at(x, y));
        }
    }
    if colours.len() < 50 {
        return Err(format!(
            "only {} colours where weston-simple-shm draws: the app is not shown",
            colours.len()
        ));
    }
    for (x, y) in [(cx + SHM_SIZE + 20, cy + 20), (cx + 400, cy + 300)] {
        let px = shot.at(x, y);
        if !near(px, BACKGROUND) {
            return Err(format!(
                "{x},{y} beside the app is {px:?}, not wsbox's background"
            ));
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------

#[test]
fn the_host_shows_the_app_inside_the_marking() {
    let test = "the_host_shows_the_app_inside_the_marking";
    if !ready(
        test,
        &[
            "weston",
            "weston-simple-shm",
            "weston-screenshooter",
            "weston-debug",
        ],
    ) {
        return;
    }
    let weston = start_weston(test);
    let name = unique_name(test);
    let size = format!("{}x{}", CONTENT.0, CONTENT.1);
    let run = wsbox_run(
        &weston,
        &[
            "--name",
            &name,
            "--output",
            &size,
            "--",
            "weston-simple-shm",
        ],
    );
    let shots = scratch("shots");
    let mut last = String::from("no window yet");
    let found = poll(SHOW_LIMIT, || {
        let windows = weston.windows();
        let Some(window) = windows.iter().find(|w| w.app_id == format!("wsbox.{name}")) else {
            last = format!("no host window with app_id wsbox.{name}: {windows:?}");
            return None;
        };
        if window.title != format!("[wsbox:{name}] simple-shm") {
            last = format!("host title {:?}", window.title);
            return None;
        }
        let shot = weston.screenshot(&shots);
        match check_marked_window(&shot, window.rect) {
            Ok(()) => Some((window.clone(), shot.path.clone())),
            Err(e) => {
                last = format!("{e} (screenshot {})", shot.path.display());
                None
            }
        }
    });
    // Keep the screenshot for a human to look at.
    if let Some((_, path)) = &found {
        let kept = std::env::temp_dir().join(format!("{name}.png"));
        let _ = fs::copy(path, &kept);
        eprintln!("host-side screenshot: {}", kept.display());
    }
    // `wsbox stop` asks the window to close (weston-simple-shm then exits 0)
    // and sends SIGTERM at once, which may come first (143).
    let stop = output(wsbox(&["stop", &name]), RUN_LIMIT);
    let out = run.finish(RUN_LIMIT);
    assert!(
        found.is_some(),
        "the host never showed the marked window: {last}\n{out}\n--- weston ---\n{}",
        weston.log()
    );
    assert!(stop.status.success(), "{stop}");
    assert!(matches!(out.status.code(), Some(0 | 143)), "{out}");
}

#[test]
fn window_mode_without_a_session_is_a_one_line_error() {
    let out = output(
        wsbox(&["run", "--display", "window", "--", "true"]),
        RUN_LIMIT,
    );
    assert_eq!(out.status.code(), Some(125), "{out}");
    let lines: Vec<&str> = out.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{out}");
    assert!(
        lines[0].starts_with("wsbox: ") && lines[0].contains("WAYLAND_DISPLAY"),
        "{out}"
    );
}

#[test]
fn losing_the_host_stops_the_sandbox() {
    let test = "losing_the_host_stops_the_sandbox";
    if !ready(test, &["weston", "weston-simple-shm", "weston-debug"]) {
        return;
    }
    let mut weston = start_weston(test);
    let name = unique_name(test);
    let run = wsbox_run(&weston, &["--name", &name, "--", "weston-simple-shm"]);
    let shown = poll(SHOW_LIMIT, || {
        weston
            .windows()
            .iter()
            .any(|w| w.app_id == format!("wsbox.{name}"))
            .then_some(())
    });
    assert!(shown.is_some(), "no host window\n{}", weston.log());
    // As a crashing session goes.
    weston.process.kill();
    let out = run.finish(RUN_LIMIT);
    assert_eq!(out.status.code(), Some(125), "{out}");
    // The app shares wsbox's stderr ("simple-shm exiting"); wsbox's own
    // part is one line.
    let lines: Vec<&str> = out
        .stderr
        .lines()
        .filter(|l| !l.starts_with("simple-shm"))
        .collect();
    assert!(
        lines.len() == 1 && lines[0].starts_with("wsbox: lost the connection to the host"),
        "{out}"
    );
    assert!(out.elapsed < Duration::from_secs(10), "{out}");
}

/// `wsbox windows NAME --json`: (title, app_id, width, height) each.
fn sandbox_windows(name: &str) -> Vec<(String, String, i64, i64)> {
    let out = output(wsbox(&["windows", name, "--json"]), RUN_LIMIT);
    let Ok(list) = serde_json::from_str::<serde_json::Value>(&out.stdout) else {
        return Vec::new();
    };
    list.as_array()
        .into_iter()
        .flatten()
        .map(|w| {
            let s = |k: &str| w.get(k).and_then(|v| v.as_str()).unwrap_or("").to_owned();
            let n = |k: &str| w.get(k).and_then(|v| v.as_i64()).unwrap_or(-1);
            (s("title"), s("app_id"), n("width"), n("height"))
        })
        .collect()
}

/// weston 10 and sway 1.7 offer no fractional scaling to clients; wsbox's
/// own headless compositor does (wp_fractional_scale_v1 and wp_viewporter),
/// so one wsbox at `--output 1280x800@1.5` is the host of another's window.
#[test]
fn a_fractional_host_scale_becomes_the_sandbox_scale() {
    let test = "a_fractional_host_scale_becomes_the_sandbox_scale";
    if !ready(test, &["weston-simple-shm", "wayland-info", "sh"]) {
        return;
    }
    let outer = unique_name("outer");
    let host = Running::start(wsbox(&[
        "run",
        "--headless",
        "--name",
        &outer,
        "--output",
        "1280x800@1.5",
        "--",
        "sleep",
        "60",
    ]));
    let socket = root_dir().join("run/wsbox").join(&outer).join("wayland-0");
    let up = poll(SHOW_LIMIT, || {
        std::os::unix::net::UnixStream::connect(&socket).ok()
    });
    let inner = unique_name("inner");
    let dir = scratch(test);
    // The sandbox's user is not the owner.
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o777)).unwrap();
    // What the inner sandbox's clients are told, once its window is up at
    // the host's scale (the test says when: /out/go).
    let bind = format!("{}:/out", dir.display());
    let mut cmd = wsbox(&[
        "run",
        "--display",
        "window",
        "--name",
        &inner,
        "--rw",
        &bind,
        "--",
        "sh",
        "-c",
        "weston-simple-shm & until [ -e /out/go ]; do sleep 0.1; done; \
         wayland-info > /out/i.tmp; mv /out/i.tmp /out/info; wait",
    ]);
    cmd.env("WAYLAND_DISPLAY", &socket);
    let run = Running::start(cmd);
    // The host window fills the outer output: 1280x800 at 1.5 is 853x533
    // logical (rounded up by smithay); the inner output is that less wsbox's frame, in logical
    // pixels, and 1.5 times that in its own pixels.
    let mut last = String::new();
    let found = poll(SHOW_LIMIT, || {
        let host_windows = sandbox_windows(&outer);
        let inner_windows = sandbox_windows(&inner);
        let shot = dir.join(format!("inner-{}.png", next()));
        let out = output(
            wsbox(&["screenshot", &inner, shot.to_str().unwrap()]),
            RUN_LIMIT,
        );
        let size = Image::size_of(&shot);
        last = format!("outer {host_windows:?} inner output {size:?} {out}");
        let (_, app_id, w, h) = host_windows.first()?.clone();
        let (pw, ph) = size?;
        let content = (w - 2 * BORDER, h - TITLE_HEIGHT - BORDER);
        let at = |v: i64| (v as f64 * 1.5).round() as i64;
        (app_id == format!("wsbox.{inner}")
            && (853..=854).contains(&w)
            && (533..=534).contains(&h)
            && inner_windows.len() == 1
            && (pw, ph) == (at(content.0), at(content.1)))
            .then_some(())
    });
    fs::write(dir.join("go"), "").unwrap();
    let info = poll(SHOW_LIMIT, || fs::read_to_string(dir.join("info")).ok());
    let out = run.kill(RUN_LIMIT);
    let _ = host.kill(RUN_LIMIT);
    assert!(up.is_some(), "the outer wsbox never listened");
    assert!(
        found.is_some(),
        "the inner output is not at the host's scale 1.5: {last}\n{out}"
    );
    // Clients inside: wl_output.scale rounded up, fractional scaling
    // offered (wayland-info shows no preferred scale; that the app's
    // windows are told 1.5 is checked in-process, compositor
    // tests/frames.rs).
    let info = info.unwrap_or_default();
    assert!(
        info.contains(" scale: 2,"),
        "wl_output.scale inside is not 2:\n{info}\n{out}"
    );
    assert!(
        info.contains("wp_fractional_scale_manager_v1"),
        "{info}\n{out}"
    );
}

/// bench-client with `client_args` in `wsbox run --display window
/// [wsbox_args]` on a new weston host, with wsbox's own Wayland traffic
/// logged (`WAYLAND_DEBUG=debug`, which the sandbox's environment does not
/// pass on to the app). None after saying why it cannot run.
fn bench_client_in_window(
    test: &str,
    tools: &[&str],
    wsbox_args: &[&str],
    client_args: &[&str],
    debug: &str,
) -> Option<(Weston, String, Command)> {
    if !ready(test, tools) {
        return None;
    }
    let client = match testkit::built("bench-client") {
        Ok(client) => client,
        Err(why) => {
            skip(test, &why);
            return None;
        }
    };
    let weston = start_weston(test);
    let name = unique_name(test);
    let bind = format!("{}:/opt/bench-client", client.display());
    let mut args = vec!["run", "--display", "window", "--name", &name];
    args.extend_from_slice(wsbox_args);
    args.extend_from_slice(&["--ro", &bind, "--", "/opt/bench-client"]);
    args.extend_from_slice(client_args);
    let mut cmd = wsbox(&args);
    cmd.env("WAYLAND_DISPLAY", &weston.socket)
        .env("WAYLAND_DEBUG", debug);
    Some((weston, name, cmd))
}

/// wsbox copies an app's frame into a host buffer as soon as the app
/// commits it, and lets the app draw the next one only when that buffer
/// goes to the host (backend/host/present.rs, `render_frame`). So every app frame
/// reaches the host once: no frame callback without a host commit of the
/// frame (frames drawn and never shown), no host commits the app did not
/// draw. Counted in wsbox's WAYLAND_DEBUG log (which the sandbox's
/// environment does not pass on to the app), where the app's requests
/// (`<- wl_surface@N.attach`) and wsbox's own to the host
/// (`-> wl_surface@N.attach(`) are interleaved in the order they happen.
#[test]
fn every_app_frame_reaches_the_host_once() {
    let test = "every_app_frame_reaches_the_host_once";
    const FRAMES: usize = 90;
    let frames = FRAMES.to_string();
    let Some((_weston, _name, cmd)) = bench_client_in_window(
        test,
        &["weston"],
        &[],
        &["--damage", "full", "--frames", &frames],
        "1",
    ) else {
        return;
    };
    let out = Running::start(cmd).finish(RUN_LIMIT);
    assert!(out.status.success(), "{out}");
    let field = |name: &str| -> usize {
        out.stdout
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|l| l.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no {name:?} line from bench-client\n{out}"))
    };
    assert_eq!(field("frames "), FRAMES, "{out}");
    let commits = field("commits ");
    // The host surface that got the most buffers is the window's (the
    // cursor's gets one).
    let host_attach = |line: &str| -> Option<String> {
        let rest = line.split("-> wl_surface@").nth(1)?;
        let (id, _) = rest.split_once(".attach(wl_buffer@")?;
        Some(id.to_owned())
    };
    let mut per_surface = std::collections::HashMap::<String, usize>::new();
    for id in out.stderr.lines().filter_map(host_attach) {
        *per_surface.entry(id).or_default() += 1;
    }
    let window = per_surface
        .iter()
        .max_by_key(|(_, n)| **n)
        .map(|(id, _)| id.clone())
        .unwrap_or_else(|| panic!("no buffer sent to the host\n{out}"));
    // Buffers sent for the window, and those that carry an app frame: an
    // app attach came since the last one. The others are wsbox's own
    // frames (its frame and background before the app's first buffer, the
    // background after the app left).
    let (mut app_attaches, mut since_last, mut sent, mut own) = (0, 0, 0, 0);
    for line in out.stderr.lines() {
        if line.contains("<- wl_surface@") && line.contains(".attach, (") {
            app_attaches += 1;
            since_last += 1;
        } else if host_attach(line).as_deref() == Some(window.as_str()) {
            sent += 1;
            match since_last {
                0 => own += 1,
                1 => {}
                n => panic!("{n} app frames went to the host as one: some never shown\n{out}"),
            }
            since_last = 0;
        }
    }
    eprintln!(
        "{commits} app commits with a buffer, {app_attaches} seen by wsbox, \
         {sent} buffers sent to the host, {own} of them wsbox's own"
    );
    assert_eq!(app_attaches, commits, "{per_surface:?}\n{}", out.stdout);
    assert_eq!(since_last, 0, "the app's last frame never reached the host");
    assert_eq!(
        sent - own,
        commits,
        "{commits} app commits, {sent} buffers sent to the host, {own} of them wsbox's own\n{}",
        out.stdout
    );
    // The frame before the app's first buffer, its title, the background
    // after it left: no more of wsbox's own.
    assert!(own <= 3, "{own} frames of wsbox's own\n{}", out.stdout);
}

/// An app that changes its title faster than the host shows frames does
/// not flood the host with titles: wsbox sends the host title with a frame
/// (backend/host/present.rs, `send_title`), so at most one per commit to the
/// host. Counted in wsbox's WAYLAND_DEBUG log of its host connection.
#[test]
fn a_title_changing_fast_reaches_the_host_once_per_frame() {
    let test = "a_title_changing_fast_reaches_the_host_once_per_frame";
    // A new title every 2 ms for 2 s: about 1000.
    let Some((_weston, _name, cmd)) = bench_client_in_window(
        test,
        &["weston"],
        &[],
        &["--idle", "--retitle-every", "2", "--seconds", "2"],
        "client",
    ) else {
        return;
    };
    let out = Running::start(cmd).finish(RUN_LIMIT);
    assert!(out.status.success(), "{out}");
    let titles = out
        .stderr
        .lines()
        .filter(|l| l.contains("-> xdg_toplevel@") && l.contains(".set_title("))
        .count();
    // Commits per host surface: the window's is the busiest.
    let mut commits = std::collections::HashMap::<&str, usize>::new();
    for line in out.stderr.lines() {
        if let Some(rest) = line.split("-> wl_surface@").nth(1) {
            if let Some((id, _)) = rest.split_once(".commit(") {
                *commits.entry(id).or_default() += 1;
            }
        }
    }
    let frames = commits.values().copied().max().unwrap_or(0);
    eprintln!("{titles} titles sent to the host with {frames} commits");
    // The title before the first commit, then one per commit at most.
    assert!(
        titles >= 2 && titles <= frames + 1,
        "{titles} titles sent to the host with {frames} commits"
    );
}

/// An app that commits more often than the host shows frames (here bare
/// commits of a second surface every 5 ms beside a small moving square)
/// costs the host only what changed: wsbox renders into each buffer with
/// its own damage tracker and tracks the host's damage apart
/// (backend/host/present.rs, `render_ahead`), so re-rendering the buffer it
/// prepared does not cut the damage history and turn every later frame
/// into a full one. And no pixel goes stale: the host shows one square,
/// not a trail of them.
#[test]
fn extra_commits_do_not_make_every_frame_a_full_one() {
    let test = "extra_commits_do_not_make_every_frame_a_full_one";
    let size = format!("{}x{}", CONTENT.0, CONTENT.1);
    let Some((weston, name, cmd)) = bench_client_in_window(
        test,
        &["weston", "weston-screenshooter"],
        &["--output", &size],
        &[
            "--damage",
            "small",
            "--commit-every",
            "5",
            "--seconds",
            "2",
            "--linger",
            "30",
        ],
        "client",
    ) else {
        return;
    };
    let run = Running::start(cmd);
    let window = poll(SHOW_LIMIT, || {
        weston
            .windows()
            .into_iter()
            .find(|w| w.app_id == format!("wsbox.{name}"))
    });
    // Two seconds of frames, then the last one stays: the client's summary
    // says when.
    poll(RUN_LIMIT, || {
        run.stdout_so_far().contains("frames ").then_some(())
    });
    let shot = weston.screenshot(&scratch("shots"));
    let out = run.kill(RUN_LIMIT);
    let window = window.unwrap_or_else(|| panic!("no host window\n{out}"));
    assert!(out.stdout.contains("frames "), "{out}");
    // Damage on the window's surface (the busiest) that covers the whole
    // content: the first frames only.
    let mut damage = std::collections::HashMap::<&str, (usize, usize)>::new();
    for line in out.stderr.lines() {
        let Some(rest) = line.split("-> wl_surface@").nth(1) else {
            continue;
        };
        let Some((id, args)) = rest.split_once(".damage_buffer(") else {
            continue;
        };
        let numbers: Vec<i64> = args
            .trim_end_matches(')')
            .split(',')
            .filter_map(|n| n.trim().parse().ok())
            .collect();
        let entry = damage.entry(id).or_default();
        entry.0 += 1;
        if let [_, _, w, h] = numbers[..] {
            if w >= CONTENT.0 && h >= CONTENT.1 {
                entry.1 += 1;
            }
        }
    }
    let (rects, full) = damage.values().copied().max().unwrap_or((0, 0));
    eprintln!("{rects} damage rectangles sent to the host, {full} of them the whole content");
    assert!(rects > 60, "too few frames to tell: {damage:?}\n{out}");
    assert!(
        full <= 8,
        "{full} of {rects} damage rectangles sent to the host cover the whole content\n{out}"
    );
    // The square's row: one square's width of its colour, no trail.
    let [x0, y0, _, _] = window.rect;
    let y = y0 + TITLE_HEIGHT + (CONTENT.1 - 64) / 2 + 32;
    let square = (0..CONTENT.0)
        .filter(|&x| near(shot.at(x0 + BORDER + x, y), [0xff, 0x8c, 0x1a]))
        .count();
    assert_eq!(
        square,
        64,
        "{square} pixels of the square's colour in its row of the host's screenshot {}",
        shot.path.display()
    );
}
