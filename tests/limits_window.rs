//! End-to-end test of a sandbox at its memory limit in window mode: its
//! host window's marking still redraws, and its close button still works,
//! because wsbox and its compositor stay outside the sandbox's cgroup.
//!
//! The host is sway headless (pixman) as the unprivileged test user, as in
//! tests/window_sway.rs: weston offers no virtual pointer to click the
//! close button with. wsbox runs as root, which may always make the
//! sandbox's cgroup, and connects to sway's socket by path, as the bench's
//! clients do. grim's screenshots show what the host shows.
//!
//! The sandbox runs bench-client (the window) beside a memory hog that the
//! test sizes once the window is up: anonymous memory up to a few MiB below
//! the limit, then reading a file twice the limit's size over and over, so
//! that the kernel keeps the sandbox at its limit by reclaiming its page
//! cache (and the app's own pages) instead of killing it. `wsbox ps --json`
//! shows it there (`use.memory` against `limits.memory`) before and after
//! the host resizes the window.
//!
//! Needs `cargo build --workspace --bins`. A test that cannot run here
//! prints `SKIPPED: <test>: <reason>` and passes, unless CI=true or
//! WSBOX_MUST_WORK=1, where it fails instead.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use testkit::frame::{
    check_host_frame, host_close_button, HOST_TITLE_HEIGHT as TITLE_HEIGHT, POLICY_COLOUR,
};
use testkit::{near, output, poll, skip, Image, Running, Sway, VirtualPointer};

/// This test process's directory under /tmp, with wsbox's runtime
/// directory.
fn root_dir() -> &'static Path {
    testkit::root_dir("limits-window", true)
}

const RUN_LIMIT: Duration = Duration::from_secs(60);
const SHOW_LIMIT: Duration = Duration::from_secs(15);
/// How long the hog may take to reach the limit, and the marking to show a
/// new size.
const SEE_LIMIT: Duration = Duration::from_secs(20);
/// sway's headless output.
const SCREEN: (i64, i64) = (1280, 800);
const MIB: u64 = 1 << 20;
/// The sandbox's memory limit.
const LIMIT: u64 = 96 * MIB;
/// What the hog leaves of the limit to the page cache it churns and the
/// app's new buffers when its window is resized.
const HEADROOM: u64 = 24 * MIB;
/// The sandbox counts as at its limit within this much of it (the kernel
/// reclaims in batches; seen: 0.5 to 2.5 MiB below).
const AT_LIMIT: u64 = 4 * MIB;
/// The grace the sandbox is given to exit once its window is gone.
const GRACE_SECS: u64 = 2;

/// The hog, fed its anonymous size (MiB) on stdin: it touches every page
/// of it, then reads `/w/big` (dropped from the page cache first, so that
/// its pages are charged to the sandbox) again and again.
const HOG: &str = "\
import os, sys
mib = int(sys.stdin.readline())
held = [bytearray(b'\\x01') * (1 << 20) for _ in range(mib)]
print('hog: %d MiB held' % mib, flush=True)
fd = os.open('/w/big', os.O_RDONLY)
os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
while True:
    off = 0
    while True:
        n = len(os.pread(fd, 1 << 20, off))
        if n == 0:
            break
        off += n
";

/// `wsbox ARGS` as root with this process's runtime directory.
fn wsbox(args: &[&str]) -> Command {
    testkit::wsbox_command(&root_dir().join("run"), args)
}

/// The test user, bench-client, if the test can run: root, sandboxes
/// work, the programs installed; else it has skipped.
fn ready(test: &str) -> Option<((u32, u32), PathBuf)> {
    let programs = ["sway", "swaymsg", "grim", "sh", "python3"];
    if !testkit::ready_as_root(test, &programs, || {
        wsbox(&["run", "--display", "none", "--", "true"])
    }) {
        return None;
    }
    match (testkit::test_user(), testkit::built("bench-client")) {
        (Ok(user), Ok(bench)) => Some((user, bench)),
        (Err(why), _) | (_, Err(why)) => {
            skip(test, &why);
            None
        }
    }
}

/// The sandbox `name`'s (use.memory, limits.memory) in `wsbox ps --json`.
fn memory(name: &str) -> Option<(u64, u64)> {
    let out = output(wsbox(&["ps", "--json"]), RUN_LIMIT);
    let list: serde_json::Value = serde_json::from_str(&out.stdout).ok()?;
    let entry = list.as_array()?.iter().find(|e| e["name"] == name)?;
    Some((
        entry["use"]["memory"].as_u64()?,
        entry["limits"]["memory"].as_u64()?,
    ))
}

/// The memory cgroup of `pid` (v1's memory hierarchy, else v2's), as
/// /proc/PID/cgroup names it.
fn memory_cgroup(pid: i32) -> Option<String> {
    let text = fs::read_to_string(format!("/proc/{pid}/cgroup")).ok()?;
    let line = |want: &dyn Fn(&str) -> bool| {
        text.lines().find_map(|l| {
            let mut parts = l.splitn(3, ':');
            let (_, names, path) = (parts.next()?, parts.next()?, parts.next()?);
            want(names).then(|| path.to_owned())
        })
    };
    line(&|names| names.split(',').any(|n| n == "memory"))
        .or_else(|| line(&|names| names.is_empty()))
}

/// Waits until the sandbox `name` is at its memory limit; its last use
/// seen as the error.
fn wait_at_limit(name: &str, when: &str) -> Result<u64, String> {
    let mut last = None;
    poll(SEE_LIMIT, || {
        let (used, limit) = memory(name)?;
        last = Some((used, limit));
        (limit == LIMIT && used + AT_LIMIT >= limit).then_some(used)
    })
    .ok_or_else(|| format!("{when}: the sandbox is not at its limit: (use, limit) {last:?}"))
}

/// What is wrong with the marking of the host window at `rect` in `shot`,
/// if anything: the frame all around, title text in the bar, the close
/// button (0.7 of the policy colour) where a click closes.
fn check_marking(shot: &Image, rect: [i64; 4]) -> Result<(), String> {
    check_host_frame(shot, rect)?;
    let [x0, y0, ..] = rect;
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
    // A corner of the button, off its cross.
    let (cx, cy) = host_close_button(rect);
    let (x, y) = (cx - 8, cy - 8);
    let button = POLICY_COLOUR.map(|c| (u32::from(c) * 7 / 10) as u8);
    let px = shot.at(x, y);
    if !near(px, button) {
        return Err(format!(
            "the close button at {x},{y} is {px:?}, not {button:?}"
        ));
    }
    Ok(())
}

#[test]
fn at_its_memory_limit_the_marking_redraws_and_the_close_button_works() {
    let test = "at_its_memory_limit_the_marking_redraws_and_the_close_button_works";
    let Some((user, bench)) = ready(test) else {
        return;
    };
    // The hog's script and the file it reads, on disk (a file of a host
    // tmpfs would stay charged to the test); every sandbox user may read
    // them.
    let files = testkit::scratch_in(root_dir(), "hog", 0o755);
    if on_tmpfs(&files) {
        skip(
            test,
            &format!(
                "{} is on a tmpfs: the hog's file must be on a disk",
                files.display()
            ),
        );
        return;
    }
    fs::write(files.join("hog.py"), HOG).unwrap();
    let mut big = fs::File::create(files.join("big")).unwrap();
    let chunk = vec![0x5a_u8; MIB as usize];
    for _ in 0..2 * LIMIT / MIB {
        big.write_all(&chunk).unwrap();
    }
    // Clean pages only: the hog's fadvise drops them from the host's cache.
    big.sync_all().unwrap();
    drop(big);

    let sway_dir = testkit::scratch_for(root_dir(), "sway", user);
    let sway = Sway::start(user, &sway_dir, (SCREEN.0 as u32, SCREEN.1 as u32), "")
        .unwrap_or_else(|e| panic!("{e}"));
    sway.ipc().unwrap_or_else(|e| panic!("{e}"));

    let name = testkit::unique_name("", "atlimit");
    let app_id = format!("wsbox.{name}");
    let memory_arg = format!("{}M", LIMIT / MIB);
    let grace = GRACE_SECS.to_string();
    let bench_bind = format!("{}:/opt/bench-client", bench.display());
    let files_bind = format!("{}:/w", files.display());
    let mut cmd = wsbox(&[
        "run",
        "--display",
        "window",
        "--name",
        &name,
        "--memory",
        &memory_arg,
        "--grace",
        &grace,
        "--ro",
        &bench_bind,
        "--ro",
        &files_bind,
        "--",
        "sh",
        "-c",
        "/opt/bench-client --idle --pointer </dev/null & exec python3 /w/hog.py",
    ]);
    cmd.env("WAYLAND_DISPLAY", &sway.socket);
    let mut run = Running::start_with_stdin(cmd);
    let mut hog_size = run.stdin();
    let title = format!("[wsbox:{name}] wsbox bench");
    let shown = poll(SHOW_LIMIT, || {
        sway.window(&app_id)
            .filter(|w| w.focused && w.title == title)
    });
    if shown.is_none() {
        let out = run.kill(RUN_LIMIT);
        panic!(
            "no host window {title:?}\n{out}\n--- sway ---\n{}",
            sway.log()
        );
    }
    if run.stderr_so_far().contains("can have no cgroup") {
        let out = run.kill(RUN_LIMIT);
        skip(test, &format!("no cgroup for the sandbox here\n{out}"));
        return;
    }

    // The pointer reaches the app while it is responsive: wsbox binds the
    // seat's new pointer a little after it appears, so it moves until the
    // app says where it is.
    let screen = (SCREEN.0 as u32, SCREEN.1 as u32);
    let mut pointer = VirtualPointer::new(&sway.socket, screen).unwrap_or_else(|e| panic!("{e}"));
    let mut nudge = 0;
    let entered = poll(SHOW_LIMIT, || {
        nudge += 1;
        pointer.move_to(SCREEN.0 / 2 + nudge % 2, SCREEN.1 / 2);
        run.stdout_so_far().contains("pointer ").then_some(())
    });
    assert!(
        entered.is_some(),
        "the app never saw the host's pointer\n{}",
        run.stderr_so_far()
    );

    // The hog fills the sandbox to its limit.
    let (base, limit) = poll(SEE_LIMIT, || memory(&name))
        .unwrap_or_else(|| panic!("{name} never showed in wsbox ps"));
    assert_eq!(limit, LIMIT, "ps shows the wrong memory limit");
    let anon = LIMIT.saturating_sub(base + HEADROOM) / MIB;
    assert!(
        anon >= 16,
        "the sandbox uses {base} bytes before the hog: no room for it"
    );
    writeln!(hog_size, "{anon}").unwrap();
    let full = match wait_at_limit(&name, "after the hog started") {
        Ok(used) => used,
        Err(e) => {
            let out = run.kill(RUN_LIMIT);
            panic!("{e} ({base} bytes before the hog, {anon} MiB held)\n{out}");
        }
    };

    // The hog is in the sandbox's cgroup, wsbox (its compositor) is not.
    let hog = testkit::tree(run.pid())
        .into_iter()
        .find(|p| testkit::comm(*p).as_deref() == Some("python3"));
    let (wsbox_cgroup, hog_cgroup) = (memory_cgroup(run.pid()), hog.and_then(memory_cgroup));
    let prefix = format!("/{name}-");
    assert!(
        hog_cgroup.as_ref().is_some_and(|c| c.contains(&prefix))
            && wsbox_cgroup.as_ref().is_some_and(|c| !c.contains(&prefix)),
        "memory cgroups: wsbox {wsbox_cgroup:?}, the hog ({hog:?}) {hog_cgroup:?}"
    );

    // While it is there, the host resizes the window (floating, two
    // sizes): each time the marking is drawn anew around the new size.
    let shots = testkit::scratch_for(root_dir(), "shots", user);
    let mut redraws = Vec::new();
    let mut rect = [0; 4];
    for (w, h) in [(800, 500), (640, 420)] {
        let asked = Instant::now();
        let resize = sway.swaymsg(&[&format!(
            "[app_id=\"{app_id}\"] floating enable, resize set {w} px {h} px"
        )]);
        assert!(resize.status.success(), "{resize}");
        let mut last = String::from("no window");
        let drawn = poll(SEE_LIMIT, || {
            let window = sway.window(&app_id)?;
            let [x0, y0, x1, y1] = window.rect;
            if (x1 - x0, y1 - y0) != (w, h) {
                last = format!("the host window is at {:?}", window.rect);
                return None;
            }
            let shot = sway.screenshot(&shots);
            match check_marking(&shot, window.rect) {
                Ok(()) => Some(window.rect),
                Err(e) => {
                    last = format!("{e} (screenshot {})", shot.path.display());
                    None
                }
            }
        });
        match drawn {
            Some(r) => {
                rect = r;
                redraws.push(asked.elapsed());
            }
            None => {
                let out = run.kill(RUN_LIMIT);
                panic!(
                    "at the limit, the marking was not redrawn at {w}x{h}: {last}\n{out}\n\
                     --- sway ---\n{}",
                    sway.log()
                );
            }
        }
    }
    let still = match wait_at_limit(&name, "after the resizes") {
        Ok(used) => used,
        Err(e) => {
            let out = run.kill(RUN_LIMIT);
            panic!("{e}\n{out}");
        }
    };
    eprintln!(
        "at the limit of {LIMIT} bytes ({full} then {still} used, {anon} MiB held by the hog), \
         the marking redrew in {redraws:?}; memory cgroups: wsbox {wsbox_cgroup:?}, \
         the hog {hog_cgroup:?}"
    );

    // The close button: the app closes its window, the hog lingers, and
    // wsbox stops the sandbox once the grace after the window went is
    // over (checked each second): SIGTERM to the hog ends it (143).
    let (x, y) = host_close_button(rect);
    pointer.move_to(x, y);
    let clicked = Instant::now();
    pointer.click();
    let out = run.finish(RUN_LIMIT);
    let took = clicked.elapsed();
    eprintln!("the sandbox ended {took:?} after the click");
    assert!(
        out.stdout.contains("frames "),
        "the app did not close its window when asked\n{out}"
    );
    assert_eq!(out.code(), Some(128 + 15), "{out}");
    assert!(
        took < Duration::from_secs(GRACE_SECS + 3),
        "the sandbox ended {took:?} after the click, its grace is {GRACE_SECS} s\n{out}"
    );
    assert!(sway.window(&app_id).is_none(), "the host window stayed");
}

/// Whether `path` is on a tmpfs.
fn on_tmpfs(path: &Path) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).unwrap();
    // SAFETY: statfs is plain data; zero is a valid value.
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: a valid path and a valid pointer to the struct above.
    let rc = unsafe { libc::statfs(c.as_ptr(), &mut st) };
    rc == 0 && st.f_type == libc::TMPFS_MAGIC
}
