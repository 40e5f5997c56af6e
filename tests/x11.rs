//! End-to-end tests of X11 programs (`--x11`): the sandbox's own rootless
//! Xwayland, started inside it, with wsbox's window manager. Real programs
//! from Debian: xterm takes typed text, xeyes and xclock render in the
//! geometry `wsbox windows` reports, two sandboxes see none of each other's
//! X11 windows, an X server of the host is out of reach, the X11 and
//! Wayland clipboards are one, a hostile X client or an X server that stops
//! answering cannot take the Wayland side down, and GIMP 2.10 starts. (The
//! gesture with an X11 owner, in window mode, is in tests/window_sway.rs.)
//!
//! A test that cannot run prints `SKIPPED: <test>: <reason>` and passes,
//! unless CI=true or WSBOX_MUST_WORK=1, where it fails instead.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use testkit::image::Image;
use testkit::sandbox::{Maker, Sandbox};
use testkit::{poll, wait_for, wsbox_command};

const LIMIT: Duration = Duration::from_secs(60);

fn root_dir() -> &'static Path {
    testkit::root_dir("x11", true)
}

fn maker() -> Maker {
    Box::new(|| wsbox_command(&root_dir().join("run"), &[]))
}

fn ready(test: &str, programs: &[&str]) -> bool {
    let mut all = vec!["Xwayland"];
    all.extend_from_slice(programs);
    testkit::ready_as_root(test, &all, || {
        wsbox_command(
            &root_dir().join("run"),
            &["run", "--display", "none", "--", "true"],
        )
    })
}

/// A directory the sandbox's user may write, granted with `--file-rw`; the
/// sandbox sees it at /run/wsbox/files/rw/out.
fn out_dir(test: &str) -> PathBuf {
    let dir = testkit::scratch_in(root_dir(), test, 0o755).join("out");
    fs::create_dir(&dir).unwrap();
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o777)).unwrap();
    dir
}

const INSIDE_OUT: &str = "/run/wsbox/files/rw/out";

fn screenshot(sandbox: &Sandbox, test: &str) -> Image {
    let file = testkit::scratch_in(root_dir(), test, 0o755).join("shot.png");
    sandbox.control(&["screenshot", &sandbox.name, file.to_str().unwrap()]);
    Image::load(&file)
}

/// Pixels inside `w` (less a margin) that are not `background`.
fn ink(shot: &Image, w: &testkit::sandbox::Window, background: [u8; 3]) -> usize {
    let colours = shot.colours(w.x + 4, w.y + 4, w.x + w.width - 4, w.y + w.height - 4);
    colours
        .iter()
        .filter(|(c, _)| !testkit::image::near(**c, background))
        .map(|(_, n)| n)
        .sum()
}

#[test]
fn xterm_takes_typed_text_and_shows_it() {
    let test = "xterm_takes_typed_text_and_shows_it";
    if !ready(test, &["xterm"]) {
        return;
    }
    let out = out_dir(test);
    let name = testkit::unique_name("x11-", test);
    let mut sandbox = Sandbox::start(
        maker(),
        &name,
        &[
            "--headless",
            "--x11",
            "--file-rw",
            out.to_str().unwrap(),
            "--",
            "xterm",
            "-bg",
            "white",
            "-fg",
            "black",
            "-T",
            "wsbox-xterm",
            "-e",
            "sh",
        ],
    );
    let window = sandbox.wait_for_window("xterm, focused", LIMIT, |w| {
        w.title == "wsbox-xterm" && w.focused
    });
    assert_eq!(window.app_id, "XTerm", "WM_CLASS is the app id");
    let before = ink(&screenshot(&sandbox, test), &window, [255, 255, 255]);
    // The shell only runs this if every key reached xterm ($ included:
    // its keysym also sits on a keycode X11 cannot have).
    sandbox.input(&[
        "type",
        &format!("echo typed-through-xwayland-$((6*7)) > {INSIDE_OUT}/typed"),
    ]);
    sandbox.input(&["key", "Return"]);
    // The shell creates the file before echo writes to it: wait for the line.
    let typed = wait_for("the typed command's file", LIMIT, || {
        fs::read_to_string(out.join("typed"))
            .ok()
            .filter(|s| s.ends_with('\n'))
    });
    assert_eq!(typed, "typed-through-xwayland-42\n");
    let after = ink(&screenshot(&sandbox, test), &window, [255, 255, 255]);
    assert!(
        after > before + 500,
        "the typed text does not show: {before} dark pixels before, {after} after"
    );
    sandbox.control(&["stop", &name]);
    sandbox.finish(LIMIT);
}

#[test]
fn xeyes_and_xclock_render_in_their_windows() {
    let test = "xeyes_and_xclock_render_in_their_windows";
    if !ready(test, &["xeyes", "xclock"]) {
        return;
    }
    // xclock under the lowest open-files limit a policy may set: pid 1
    // hands Xwayland (and the bus) their fds under it.
    let dir = testkit::scratch_in(root_dir(), test, 0o755);
    let low_files = dir.join("low-files.toml");
    fs::write(&low_files, "[limits]\nfiles = 64\n").unwrap();
    let low_files = low_files.to_str().unwrap();
    for (program, policy) in [("xeyes", None), ("xclock", Some(low_files))] {
        let name = testkit::unique_name("x11-", program);
        let mut args = vec!["--headless", "--x11"];
        if let Some(policy) = policy {
            args.extend(["--policy", policy]);
        }
        args.extend(["--", program, "-bg", "white"]);
        let mut sandbox = Sandbox::start(maker(), &name, &args);
        let window = sandbox.wait_for_window(program, LIMIT, |w| w.title == program);
        assert!(window.width > 100 && window.height > 100, "{window:?}");
        let shot = poll(LIMIT, || {
            let shot = screenshot(&sandbox, test);
            (ink(&shot, &window, [255, 255, 255]) > 1000).then_some(shot)
        });
        assert!(
            shot.is_some(),
            "{program} drew nothing in {window:?}: {}",
            sandbox.describe()
        );
        sandbox.control(&["stop", &name]);
        let out = sandbox.finish(LIMIT);
        assert!(
            !out.stderr.contains("ERROR") && !out.stderr.contains("panicked"),
            "{out}"
        );
    }
}

/// A headless X11 sandbox running `program`, with `out` granted and named
/// by `$OUT` inside.
fn with_out(name: &str, out: &Path, program: &[&str]) -> Sandbox {
    let mut args = vec![
        "--headless",
        "--x11",
        "--file-rw",
        out.to_str().unwrap(),
        "--env",
    ];
    let env = format!("OUT={INSIDE_OUT}");
    args.push(&env);
    args.push("--");
    args.extend_from_slice(program);
    Sandbox::start(maker(), name, &args)
}

/// The pid of the sandbox's Xwayland.
fn xwayland_of(sandbox: &Sandbox) -> i32 {
    testkit::process::tree(sandbox.pid())
        .into_iter()
        .find(|p| testkit::process::comm(*p).as_deref() == Some("Xwayland"))
        .expect("Xwayland runs in the sandbox")
}

/// Whether Debian's python3 (the sandbox's, whatever the test's PATH says)
/// has python3-xlib; skips loudly if not.
fn have_xlib(test: &str) -> bool {
    let have = std::process::Command::new("/usr/bin/python3")
        .args(["-c", "import Xlib"])
        .status()
        .is_ok_and(|s| s.success());
    if !have {
        testkit::skip(test, "python3-xlib is not installed");
    }
    have
}

/// The shell script sandbox A runs: its own xeyes, then what its X clients
/// can find of other sandboxes and of the host's X server, into `out`.
const LOOK_AROUND: &str = r#"
xeyes -title own-window-A &
until xwininfo -root -tree 2>/dev/null | grep -q own-window-A; do sleep 0.1; done
xwininfo -root -tree > $OUT/tree.txt 2>&1
xdotool search --name secret-window-B > $OUT/search.txt 2>&1; echo $? > $OUT/search.rc
xwd -root -silent > $OUT/root.xwd 2> $OUT/xwd.err
DISPLAY=:$HOST_X xdpyinfo > $OUT/host.txt 2>&1; echo $? > $OUT/host.rc
python3 -c '
import os, socket, sys
s = socket.socket(socket.AF_UNIX)
try:
    s.connect("\0/tmp/.X11-unix/X" + os.environ["HOST_X"])
    print("connected")
except OSError as e:
    print("refused", e)
' > $OUT/abstract.txt 2>&1
echo done > $OUT/done
exec sleep 600
"#;

#[test]
fn sandboxes_see_none_of_each_others_or_the_hosts_x11() {
    let test = "sandboxes_see_none_of_each_others_or_the_hosts_x11";
    if !ready(
        test,
        &[
            "xterm", "xeyes", "xwininfo", "xdotool", "xwd", "xdpyinfo", "Xvfb", "python3",
        ],
    ) {
        return;
    }
    // The host's X server, on the first free display from :99 (not :0,
    // which inside is the sandbox's own), with its abstract socket
    // @/tmp/.X11-unix/XN; -displayfd says when it is ready.
    let free = (99..200)
        .find(|n| !Path::new(&format!("/tmp/.X{n}-lock")).exists())
        .unwrap();
    let said = testkit::scratch_in(root_dir(), test, 0o755).join("display");
    let _xvfb = KillOnDrop(
        std::process::Command::new("sh")
            .args([
                "-c",
                "exec Xvfb :$2 -displayfd 3 -nolisten tcp 3>\"$1\"",
                "sh",
            ])
            .arg(&said)
            .arg(free.to_string())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    let display = wait_for("Xvfb's display number", LIMIT, || {
        let text = fs::read_to_string(&said).ok()?;
        text.ends_with('\n').then(|| text.trim().to_owned())
    });
    let host = std::process::Command::new("xdpyinfo")
        .env("DISPLAY", format!(":{display}"))
        .output()
        .unwrap();
    assert!(host.status.success(), "the host's Xvfb does not answer");

    let b_name = testkit::unique_name("x11b-", test);
    let mut b = Sandbox::start(
        maker(),
        &b_name,
        &[
            "--headless",
            "--x11",
            "--",
            "xterm",
            "-bg",
            "#00ff00",
            "-T",
            "secret-window-B",
        ],
    );
    b.wait_for_window("B's xterm", LIMIT, |w| w.title == "secret-window-B");

    // A with its own network namespace (the default), then with the
    // host's: the host's abstract X socket stays out of reach either way.
    for net in ["none", "host"] {
        let out = out_dir(&format!("{test}-{net}"));
        let a_name = testkit::unique_name("x11a-", test);
        let a = Sandbox::start(
            maker(),
            &a_name,
            &[
                "--headless",
                "--x11",
                "--net",
                net,
                "--file-rw",
                out.to_str().unwrap(),
                "--env",
                &format!("OUT={INSIDE_OUT}"),
                "--env",
                &format!("HOST_X={display}"),
                "--",
                "sh",
                "-c",
                LOOK_AROUND,
            ],
        );
        wait_for("A's look around", LIMIT, || {
            out.join("done").exists().then_some(())
        });
        let read = |f: &str| fs::read_to_string(out.join(f)).unwrap_or_default();
        let tree = read("tree.txt");
        assert!(
            tree.contains("own-window-A"),
            "A's tree lacks its window:\n{tree}"
        );
        assert!(
            !tree.contains("secret-window-B"),
            "A sees B's window:\n{tree}"
        );
        assert_ne!(
            read("search.rc").trim(),
            "0",
            "xdotool found B's window: {}",
            read("search.txt")
        );
        // A rootless Xwayland has no root image to read (BadMatch); where
        // one is read, it holds none of B's green.
        let xwd = fs::read(out.join("root.xwd")).unwrap();
        if xwd.is_empty() {
            let err = read("xwd.err");
            assert!(
                err.contains("BadMatch") && err.contains("X_GetImage"),
                "xwd -root: {err}"
            );
        } else {
            let (w, h, green) = xwd_count(&xwd, [0, 255, 0]).unwrap();
            assert!(w > 0 && h > 0);
            assert_eq!(green, 0, "A's root image holds B's green pixels");
        }
        assert_ne!(
            read("host.rc").trim(),
            "0",
            "A reached the host's :{display}: {}",
            read("host.txt")
        );
        assert!(
            read("abstract.txt").starts_with("refused"),
            "the abstract socket of the host's :{display} (--net {net}): {}",
            read("abstract.txt")
        );
        a.control(&["stop", &a_name]);
        a.finish(LIMIT);
    }
    b.control(&["stop", &b_name]);
    b.finish(LIMIT);
}

/// A host process of a test, ended however the test ends: SIGTERM, so
/// that an X server removes its socket and lock.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Ok(pid) = i32::try_from(self.0.id()) {
            // SAFETY: kill(2) on this test's own child.
            unsafe { libc::kill(pid, libc::SIGTERM) };
        }
        let _ = self.0.wait();
    }
}

/// Width, height and the number of pixels of colour `rgb` in an XWD image
/// (ZPixmap, 24 or 32 bits per pixel, as Xwayland's `xwd -root` writes).
fn xwd_count(xwd: &[u8], rgb: [u8; 3]) -> Result<(u32, u32, usize), String> {
    let field = |i: usize| -> Result<u32, String> {
        xwd.get(i * 4..i * 4 + 4)
            .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
            .ok_or_else(|| format!("short header ({} bytes)", xwd.len()))
    };
    let header = field(0)? as usize;
    let (width, height) = (field(4)?, field(5)?);
    let byte_order = field(7)?;
    let bpp = field(11)?;
    let line = field(12)? as usize;
    let ncolors = field(19)? as usize;
    if bpp != 32 {
        return Err(format!("{bpp} bits per pixel"));
    }
    let data = xwd.get(header + ncolors * 12..).ok_or("no image data")?;
    let mut count = 0;
    for row in data.chunks(line).take(height as usize) {
        for px in row.chunks_exact(4).take(width as usize) {
            let v = if byte_order == 0 {
                u32::from_le_bytes([px[0], px[1], px[2], px[3]])
            } else {
                u32::from_be_bytes([px[0], px[1], px[2], px[3]])
            };
            let c = [(v >> 16) as u8, (v >> 8) as u8, v as u8];
            if c == rgb {
                count += 1;
            }
        }
    }
    Ok((width, height, count))
}

/// A hostile X client (python3-xlib): a 4 MiB window title, 300 windows,
/// 20000 garbage client messages to the window manager. The app cannot
/// signal Xwayland (its Landlock domain is its own); killed from outside,
/// the X11 side goes and the Wayland side keeps serving: a Wayland client
/// of the same sandbox has its window before and after. (Far more
/// windows end Xwayland the same way, at the sandbox's limit of open files,
/// or at its Wayland connection's per-client limits.)
const HOSTILE: &str = r#"
import os, random, signal, sys
from Xlib import X, display, Xatom
from Xlib.protocol import event
d = display.Display()
open(os.environ["OUT"] + "/hostile-connected", "w").write("yes")
root = d.screen().root
win = root.create_window(0, 0, 300, 200, 0, X.CopyFromParent)
chunk = b"\xff\xfe" * (100 << 10)
win.change_property(Xatom.WM_NAME, Xatom.STRING, 8, chunk)
for _ in range(20):
    win.change_property(Xatom.WM_NAME, Xatom.STRING, 8, chunk, X.PropModeAppend)
win.change_property(d.intern_atom("_NET_WM_NAME"), d.intern_atom("UTF8_STRING"), 8, bytes(random.randrange(256) for _ in range(1 << 16)))
win.change_property(d.intern_atom("WM_CLASS"), Xatom.STRING, 8, b"\x00" * 100000)
win.change_property(d.intern_atom("WM_TRANSIENT_FOR"), Xatom.WINDOW, 32, [win.id])
win.map()
windows = []
for i in range(300):
    w = root.create_window(i % 500, i % 300, 10, 10, 0, X.CopyFromParent, override_redirect=(i % 2 == 0))
    w.map()
    windows.append(w)
d.sync()
atoms = [d.intern_atom(n) for n in ("WL_SURFACE_ID", "WL_SURFACE_SERIAL", "_NET_WM_STATE", "WM_CHANGE_STATE", "_NET_WM_MOVERESIZE", "_NET_ACTIVE_WINDOW", "WM_PROTOCOLS")]
atoms.append(d.intern_atom("\xff garbage \xfe"))
for i in range(20000):
    target = random.choice(windows + [win, root])
    data = [random.randrange(1 << 32) for _ in range(5)]
    ev = event.ClientMessage(window=target, client_type=random.choice(atoms), data=(32, data))
    root.send_event(ev, event_mask=X.SubstructureRedirectMask | X.SubstructureNotifyMask)
    if i % 1000 == 0:
        d.sync()
for w in windows[::3]:
    w.destroy()
d.sync()
open(os.environ["OUT"] + "/hostile-done", "w").write("done")
"#;

#[test]
fn a_hostile_x_client_cannot_take_the_wayland_side_down() {
    let test = "a_hostile_x_client_cannot_take_the_wayland_side_down";
    if !ready(test, &["python3", "foot"]) {
        return;
    }
    // The sandbox's python3 is Debian's, whatever the test's PATH says.
    if !have_xlib(test) {
        return;
    }
    let out = out_dir(test);
    let script = out.join("hostile.py");
    fs::write(&script, HOSTILE).unwrap();
    let name = testkit::unique_name("x11-", test);
    let shell = format!(
        "python3 {INSIDE_OUT}/hostile.py > {INSIDE_OUT}/hostile.log 2>&1; \
         pkill -KILL Xwayland; echo $? > {INSIDE_OUT}/pkill.rc; \
         exec foot --title after-the-hostile-client"
    );
    let mut sandbox = with_out(&name, &out, &["sh", "-c", &shell]);
    sandbox.wait_for_window("the Wayland client after the hostile one", LIMIT * 3, |w| {
        w.title == "after-the-hostile-client"
    });
    let log = fs::read_to_string(out.join("hostile.log")).unwrap_or_default();
    assert!(
        out.join("hostile-done").exists(),
        "the hostile client did not finish:\n{log}\n{}",
        sandbox.describe()
    );
    let pkill = fs::read_to_string(out.join("pkill.rc")).unwrap_or_default();
    assert_ne!(pkill.trim(), "0", "the app could kill Xwayland");
    let xwayland = xwayland_of(&sandbox);
    // SAFETY: kill(2) on a pid of this test's sandbox.
    assert_eq!(unsafe { libc::kill(xwayland, libc::SIGKILL) }, 0);
    let windows = wait_for("the X11 windows gone", LIMIT, || {
        let windows = sandbox.windows()?;
        (windows.len() == 1).then_some(windows)
    });
    assert_eq!(windows[0].title, "after-the-hostile-client");
    // Said a second after, unless the sandbox was ending anyway.
    let said = poll(LIMIT, || {
        sandbox
            .stderr_so_far()
            .contains("Xwayland went away")
            .then_some(())
    });
    sandbox.control(&["stop", &name]);
    let out = sandbox.finish(LIMIT);
    eprintln!(
        "the hostile client's end:\n{log}\nwsbox's log:\n{}",
        out.stderr
    );
    assert!(!out.stderr.contains("panicked"), "{out}");
    assert!(
        said.is_some(),
        "no log line said Xwayland went away:\n{out}"
    );
}

/// The sandbox's X11 and Wayland clipboards are one: what xclip sets,
/// wl-paste reads, and what wl-copy sets, xclip reads. Typed into xterm
/// (the X11 window with the focus), with characters that need Shift.
#[test]
fn the_x11_and_wayland_clipboards_are_one() {
    let test = "the_x11_and_wayland_clipboards_are_one";
    if !ready(test, &["xterm", "xclip", "wl-copy", "wl-paste"]) {
        return;
    }
    let out = out_dir(test);
    let name = testkit::unique_name("x11-", test);
    let mut sandbox = with_out(&name, &out, &["xterm", "-T", "clip-term"]);
    sandbox.wait_for_window("xterm, focused", LIMIT, |w| {
        w.title == "clip-term" && w.focused
    });
    sandbox.input(&[
        "type",
        // xclip and wl-copy serve from a child they fork: each read is
        // tried for a few seconds.
        "printf from-x11 | xclip -selection clipboard; for i in $(seq 50); do \
         wl-paste -n > $OUT/pasted; [ \"$(cat $OUT/pasted)\" = from-x11 ] && break; sleep 0.1; done; \
         wl-copy from-wayland; for i in $(seq 50); do xclip -o -selection clipboard > $OUT/back; \
         [ \"$(cat $OUT/back)\" = from-wayland ] && break; sleep 0.1; done; echo $((6*7)) > $OUT/done",
    ]);
    sandbox.input(&["key", "Return"]);
    let done = wait_for("the commands typed into xterm", LIMIT, || {
        fs::read_to_string(out.join("done"))
            .ok()
            .filter(|s| s.ends_with('\n'))
    });
    let read = |f: &str| fs::read_to_string(out.join(f)).unwrap_or_default();
    assert_eq!(done, "42\n", "$ and ( ) were typed");
    assert_eq!(
        read("pasted"),
        "from-x11",
        "wl-paste did not read xclip's clipboard"
    );
    assert_eq!(
        read("back"),
        "from-wayland",
        "xclip did not read wl-copy's clipboard"
    );
    sandbox.control(&["stop", &name]);
    sandbox.finish(LIMIT);
}

/// The X side of the window manager, fuzzed: a seeded random X client
/// (python3-xlib) for `WSBOX_X11_FUZZ_SECS` seconds (20 by default) makes,
/// maps, moves and destroys up to 100 windows (up to 1200x1200: far larger
/// ones get Xwayland cut off at its per-client shm limit, which ends X11
/// for the sandbox by design, and the fuzzing with it), sets the properties the
/// window manager reads (and others) to random types, formats and bytes,
/// sends it random client messages for real and made-up windows, and takes
/// and asks for the selections. Afterwards a Wayland client of the same
/// sandbox still gets its window, wsbox's memory stayed bounded, and
/// nothing panicked. `WSBOX_X11_FUZZ_SEED` replays a run; a failure names
/// its seed.
const FUZZ: &str = r#"
import os, random, sys, time
from Xlib import X, Xatom, display, error
from Xlib.protocol import event
seed = int(os.environ["SEED"])
rnd = random.Random(seed)
d = display.Display()
d.set_error_handler(lambda *a: None)
root = d.screen().root
names = ["WM_NAME", "_NET_WM_NAME", "WM_CLASS", "WM_HINTS", "WM_NORMAL_HINTS",
         "WM_PROTOCOLS", "WM_TRANSIENT_FOR", "_NET_WM_WINDOW_TYPE", "_NET_WM_STATE",
         "_MOTIF_WM_HINTS", "_NET_WM_PID", "WM_CLIENT_MACHINE", "_NET_STARTUP_ID",
         "WL_SURFACE_ID", "WL_SURFACE_SERIAL", "_NET_ACTIVE_WINDOW", "WM_CHANGE_STATE",
         "_NET_WM_MOVERESIZE", "WM_DELETE_WINDOW", "WM_TAKE_FOCUS", "CLIPBOARD", "PRIMARY",
         "TARGETS", "UTF8_STRING", "TEXT", "INCR", "_WL_SELECTION", "fuzz-made-up"]
atoms = [d.intern_atom(n) for n in names]
types = atoms + [Xatom.STRING, Xatom.ATOM, Xatom.CARDINAL, Xatom.WINDOW, Xatom.INTEGER]
windows = []
def some_window():
    if windows and rnd.random() < 0.8:
        return rnd.choice(windows)
    return rnd.choice([root.id, rnd.randrange(1 << 29)])
def data(fmt):
    n = rnd.choice([0, 1, 2, 5, 9, 17, 64, 500, 4000])
    if fmt == 8:
        return bytes(rnd.randrange(256) for _ in range(n))
    if fmt == 16:
        return [rnd.randrange(1 << 16) for _ in range(n)]
    return [rnd.choice([0, 1, 2, 0xffffffff, rnd.randrange(1 << 32)] + [w for w in windows[-3:]] + atoms[:3]) for _ in range(n)]
end = time.monotonic() + float(os.environ["SECS"])
ops = 0
while time.monotonic() < end:
    ops += 1
    op = rnd.randrange(10)
    if ops == 100:
        open(os.environ["OUT"] + "/started", "w").write("100")
    try:
        if op == 0 and len(windows) < 100:
            w = root.create_window(rnd.randrange(-100, 3000), rnd.randrange(-100, 3000),
                                   rnd.choice([1, 10, 300, 1200]), rnd.choice([1, 10, 200, 1200]),
                                   0, X.CopyFromParent, override_redirect=rnd.random() < 0.3)
            windows.append(w.id)
        elif op == 1 and windows:
            w = d.create_resource_object("window", rnd.choice(windows))
            (w.map if rnd.random() < 0.7 else w.unmap)()
        elif op == 2 and windows and rnd.random() < 0.3:
            i = rnd.randrange(len(windows))
            d.create_resource_object("window", windows.pop(i)).destroy()
        elif op in (3, 4):
            w = d.create_resource_object("window", some_window())
            fmt = rnd.choice([8, 16, 32])
            w.change_property(rnd.choice(atoms), rnd.choice(types), fmt, data(fmt),
                              rnd.choice([X.PropModeReplace, X.PropModeAppend]))
        elif op in (5, 6):
            ev = event.ClientMessage(window=d.create_resource_object("window", some_window()),
                                     client_type=rnd.choice(atoms),
                                     data=(32, [rnd.choice([0, 1, 2, 3, 8, rnd.randrange(1 << 32)] + windows[-2:]) for _ in range(5)]))
            root.send_event(ev, event_mask=X.SubstructureRedirectMask | X.SubstructureNotifyMask)
        elif op == 7 and windows:
            w = d.create_resource_object("window", rnd.choice(windows))
            w.configure(x=rnd.randrange(-500, 5000), y=rnd.randrange(-500, 5000),
                        width=rnd.randrange(1, 1200), height=rnd.randrange(1, 1200),
                        stack_mode=rnd.choice([X.Above, X.Below]))
        elif op == 8 and windows:
            w = d.create_resource_object("window", rnd.choice(windows))
            sel = rnd.choice(atoms[20:22])
            if rnd.random() < 0.5:
                w.set_selection_owner(sel, X.CurrentTime)
            else:
                w.convert_selection(sel, rnd.choice(atoms), rnd.choice(atoms), X.CurrentTime)
        elif op == 9 and windows:
            d.set_input_focus(rnd.choice(windows), X.RevertToParent, X.CurrentTime)
        if ops % 200 == 0:
            d.sync()
    except (error.XError, ValueError, TypeError, OverflowError, AssertionError):
        pass
d.sync()
open(os.environ["OUT"] + "/fuzzed", "w").write(str(ops))
"#;

#[test]
fn x11_fuzz() {
    let test = "x11_fuzz";
    if !ready(test, &["python3", "foot"]) || !have_xlib(test) {
        return;
    }
    let secs = std::env::var("WSBOX_X11_FUZZ_SECS").unwrap_or_else(|_| "20".into());
    let seed = std::env::var("WSBOX_X11_FUZZ_SEED").unwrap_or_else(|_| {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
        now.map_or(1, |d| d.as_nanos() % 1_000_000_007).to_string()
    });
    eprintln!("x11 fuzz: seed {seed}, {secs} s (replay with WSBOX_X11_FUZZ_SEED={seed})");
    let out = out_dir(test);
    fs::write(out.join("fuzz.py"), FUZZ).unwrap();
    let name = testkit::unique_name("x11-", test);
    let shell = format!(
        "SEED={seed} SECS={secs} python3 {INSIDE_OUT}/fuzz.py > {INSIDE_OUT}/fuzz.log 2>&1; \
         exec foot --title after-the-fuzzer"
    );
    let sandbox = with_out(&name, &out, &["sh", "-c", &shell]);
    let limit = LIMIT + Duration::from_secs(secs.parse().unwrap_or(20));
    let window = poll(limit, || {
        sandbox
            .windows()?
            .into_iter()
            .find(|w| w.title == "after-the-fuzzer")
    });
    let log = fs::read_to_string(out.join("fuzz.log")).unwrap_or_default();
    let rss = testkit::process::status_field(sandbox.pid(), "VmHWM:").unwrap_or_default();
    assert!(
        window.is_some(),
        "seed {seed}: no Wayland window after the fuzzer\n{log}\n{}",
        sandbox.describe()
    );
    let ops = fs::read_to_string(out.join("fuzzed")).unwrap_or_default();
    assert!(
        ops.parse::<u64>().is_ok_and(|n| n > 100),
        "seed {seed}: the fuzzer did not run ({ops:?})\n{log}"
    );
    let kib: u64 = rss
        .split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!(
        kib > 0 && kib < 512 * 1024,
        "seed {seed}: wsbox's peak memory {rss}"
    );
    sandbox.control(&["stop", &name]);
    // Counted from wsbox's start, which the fuzzing takes part of.
    let out = sandbox.finish(limit + LIMIT);
    assert!(!out.stderr.contains("panicked"), "seed {seed}: {out}");
    eprintln!("x11 fuzz: seed {seed}: {ops} requests, wsbox peak RSS {rss}");
}

/// An X client makes thousands of windows, then Xwayland stops answering
/// (stopped by the test) while the window manager still handles them: its
/// call waits for the X server, and the watchdog cuts the connection after
/// 10 s, so the compositor answers again and says why.
const MANY: &str = r#"
import os, time
from Xlib import display, X
d = display.Display()
root = d.screen().root
for i in range(4000):
    root.create_window(0, 0, 10, 10, 0, X.CopyFromParent)
d.sync()
open(os.environ["OUT"] + "/made", "w").write("yes")
time.sleep(600)
"#;

#[test]
fn an_x_server_that_stops_answering_cuts_x11_off_not_the_compositor() {
    let test = "an_x_server_that_stops_answering_cuts_x11_off_not_the_compositor";
    if !ready(test, &["python3"]) || !have_xlib(test) {
        return;
    }
    let out = out_dir(test);
    fs::write(out.join("many.py"), MANY).unwrap();
    let name = testkit::unique_name("x11-", test);
    let sandbox = with_out(&name, &out, &["python3", &format!("{INSIDE_OUT}/many.py")]);
    wait_for("the X client's windows", LIMIT, || {
        out.join("made").exists().then_some(())
    });
    let xwayland = xwayland_of(&sandbox);
    // SAFETY: kill(2) on a pid of this test's sandbox.
    assert_eq!(unsafe { libc::kill(xwayland, libc::SIGSTOP) }, 0);
    let cut = poll(LIMIT, || {
        sandbox
            .stderr_so_far()
            .contains("X11 is cut off")
            .then_some(())
    });
    // SAFETY: as above.
    unsafe { libc::kill(xwayland, libc::SIGCONT) };
    assert!(
        cut.is_some(),
        "the watchdog did not cut X11 off: {}",
        sandbox.describe()
    );
    assert!(
        sandbox.windows().is_some(),
        "the compositor does not answer"
    );
    sandbox.control(&["stop", &name]);
    let out = sandbox.finish(LIMIT);
    assert!(!out.stderr.contains("panicked"), "{out}");
}

#[test]
fn gimp_starts_and_shows_its_main_window() {
    let test = "gimp_starts_and_shows_its_main_window";
    if !ready(test, &["gimp"]) {
        return;
    }
    let name = testkit::unique_name("x11-", test);
    let mut sandbox = Sandbox::start(
        maker(),
        &name,
        &["--headless", "--x11", "--", "gimp", "--no-splash"],
    );
    let window = sandbox.wait_for_window("GIMP's main window", LIMIT, |w| {
        w.title.contains("GNU Image Manipulation Program")
    });
    // The window may be mapped before GIMP has drawn it (its first start
    // on a fresh machine builds its configuration and font cache).
    let mut seen = 0;
    let drawn = poll(LIMIT, || {
        let shot = screenshot(&sandbox, test);
        seen = shot
            .colours(
                window.x,
                window.y,
                window.x + window.width,
                window.y + window.height,
            )
            .len();
        (seen > 20).then_some(())
    });
    assert!(
        drawn.is_some(),
        "GIMP's window stayed nearly blank: {seen} colours\n{}",
        sandbox.describe()
    );
    sandbox.control(&["stop", &name]);
    sandbox.finish(LIMIT);
}
