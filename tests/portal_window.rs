//! End-to-end tests of the portal in window mode: the app's file dialogs
//! are the host's. Each test runs a host session bus of its own
//! (`testkit::HostBus`): the real xdg-desktop-portal in front of a test
//! backend for `org.freedesktop.impl.portal.FileChooser` and `.Settings`,
//! which logs what it is asked and answers as the test says; or, for a host
//! without a portal, the bus alone. The host compositor is weston headless
//! (as root), or sway headless (as the test user) where xdg-foreign is
//! checked: sway exports wsbox's window, weston offers no exporter.
//!
//! Inside the sandbox: gnome-text-editor (Ctrl+O, a real GTK 4 dialog
//! through the portal), or a small python3-dbus app ([`APP`]) that prints
//! what the portal told it.
//!
//! Needs `cargo build --workspace --bins`. A test whose programs are missing
//! prints `SKIPPED: <test>: <reason>` and passes, unless CI=true or
//! WSBOX_MUST_WORK=1, where it fails instead.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use serde_json::Value;
use testkit::hostbus::{PYTHON, XDG_DESKTOP_PORTAL};
use testkit::sandbox::{Maker, Sandbox};
use testkit::{output, poll, skip, HostBus, Sway, Weston};

/// This test process's directory under /tmp.
fn root_dir() -> &'static Path {
    testkit::root_dir("portal-window", true)
}

/// How long a `wsbox` command may take.
const RUN_LIMIT: Duration = Duration::from_secs(30);
/// How long the app may take to start and show what it was told: GTK
/// apps on a busy machine (other tests run beside these) are slow.
const SHOW_LIMIT: Duration = Duration::from_secs(60);

/// The app inside for the tests without a GTK window: asks the portal's
/// Settings, then (`open`, `close`) opens a file dialog with options the
/// host must never see (its own parent window and current folder), and
/// prints the response and what the sandbox was granted; `close` closes
/// its request instead once the test creates /out/close. It keeps running
/// afterwards.
const APP: &str = r#"
import json, os, sys, time
import dbus
from dbus.mainloop.glib import DBusGMainLoop
from gi.repository import GLib

DBusGMainLoop(set_as_default=True)
bus = dbus.SessionBus()
portal = bus.get_object("org.freedesktop.portal.Desktop", "/org/freedesktop/portal/desktop")
SETTINGS = "org.freedesktop.portal.Settings"
mode = sys.argv[1]

def say(*words):
    print(*words, flush=True)

def scheme():
    return int(portal.ReadOne("org.freedesktop.appearance", "color-scheme", dbus_interface=SETTINGS))

say("color-scheme", scheme())
every = portal.ReadAll([], dbus_interface=SETTINGS)
say("settings", json.dumps(sorted("%s/%s=%s" % (ns, k, v) for ns, keys in every.items() for k, v in keys.items())))
if mode == "settings":
    GLib.MainLoop().run()

def granted():
    found = []
    for top in ("/run/wsbox/docs", "/run/wsbox/files"):
        for dirpath, dirs, files in os.walk(top):
            found += [os.path.join(dirpath, f) for f in files]
    return sorted(found)

loop = GLib.MainLoop()
sender = bus.get_unique_name()[1:].replace(".", "_")
path = "/org/freedesktop/portal/desktop/request/%s/t1" % sender

def response(code, results):
    say("response", int(code), json.dumps([str(u) for u in results.get("uris", [])]))
    say("granted", json.dumps(granted()))
    loop.quit()

bus.add_signal_receiver(response, "Response", "org.freedesktop.portal.Request", path=path)
rule = dbus.Struct((dbus.UInt32(0), "*.txt"), signature="us")
text = dbus.Struct(("Text", dbus.Array([rule], signature="(us)")), signature="sa(us)")
options = {
    "handle_token": "t1",
    "multiple": True,
    "accept_label": "Take",
    "current_folder": dbus.ByteArray(b"/etc\0"),
    "filters": dbus.Array([text], signature="(sa(us))"),
}
handle = portal.OpenFile("wayland:app-parent", "Pick a file", options,
                         dbus_interface="org.freedesktop.portal.FileChooser")
say("handle", handle)
if mode == "close":
    while not os.path.exists("/out/close"):
        time.sleep(0.05)
    bus.get_object("org.freedesktop.portal.Desktop", handle).Close(
        dbus_interface="org.freedesktop.portal.Request")
    say("closed")
else:
    loop.run()
    say("alive", scheme())
GLib.MainLoop().run()
"#;

// ---------------------------------------------------------------------------
// Harness
// ---------------------------------------------------------------------------

/// Whether python3-dbus, python3-gi and xdg-desktop-portal are there
/// (else `test` has skipped).
fn have_portal_tools(test: &str) -> bool {
    if !Path::new(XDG_DESKTOP_PORTAL).exists() {
        skip(test, "xdg-desktop-portal not installed");
        return false;
    }
    let mut cmd = Command::new(PYTHON);
    cmd.args(["-c", "import dbus, dbus.mainloop.glib, gi.repository.GLib"]);
    if !output(cmd, RUN_LIMIT).status.success() {
        skip(test, "python3-dbus or python3-gi not installed");
        return false;
    }
    true
}

/// The tools every test needs, and `programs`.
const TOOLS: &[&str] = &["dbus-daemon", "gdbus", "python3"];

/// Whether `test` can run as root with weston and `programs`.
fn ready_as_root(test: &str, programs: &[&str]) -> bool {
    let mut all = vec!["weston"];
    all.extend_from_slice(TOOLS);
    all.extend_from_slice(programs);
    testkit::ready_as_root(test, &all, || {
        testkit::wsbox_command(
            &root_dir().join("run"),
            &["run", "--display", "none", "--", "true"],
        )
    }) && have_portal_tools(test)
}

/// A fresh private directory of root's.
fn scratch(test: &str) -> PathBuf {
    testkit::scratch_in(root_dir(), test, 0o700)
}

fn unique_name(test: &str) -> String {
    testkit::unique_name("pw-", test)
}

fn start_weston(test: &str) -> Weston {
    Weston::start(&scratch(test), "host-0", (1280, 800), false).unwrap_or_else(|e| panic!("{e}"))
}

/// `wsbox` as root in `weston`'s session, the host's bus being `bus`.
fn root_maker(weston: &Weston, bus: &HostBus) -> Maker {
    let (socket, address) = (weston.socket.clone(), bus.address.clone());
    Box::new(move || {
        let mut cmd = testkit::wsbox_command(&root_dir().join("run"), &[]);
        cmd.env("WAYLAND_DISPLAY", &socket)
            .env("DBUS_SESSION_BUS_ADDRESS", &address);
        cmd
    })
}

/// The [`APP`] in a directory the sandbox's user can read, and `--ro` for
/// it.
fn app_bind() -> String {
    static APP_FILE: OnceLock<PathBuf> = OnceLock::new();
    let file = APP_FILE.get_or_init(|| {
        let dir = testkit::scratch_in(root_dir(), "app", 0o755);
        let file = dir.join("app.py");
        fs::write(&file, APP).unwrap();
        fs::set_permissions(&file, fs::Permissions::from_mode(0o644)).unwrap();
        file
    });
    format!("{}:/opt/app.py", file.display())
}

/// Waits until the app inside printed a line starting with `start`, and
/// returns the rest of it.
fn printed(sandbox: &mut Sandbox, start: &str, bus: &HostBus) -> String {
    let found = poll(SHOW_LIMIT, || {
        if sandbox.try_wait().is_some() {
            return Some(None);
        }
        sandbox
            .stdout_so_far()
            .lines()
            .find_map(|l| l.strip_prefix(start).map(|r| Some(r.trim().to_owned())))
    });
    match found.flatten() {
        Some(rest) => rest,
        None => panic!(
            "the app never printed {start:?}\n{}\n{}",
            sandbox.describe(),
            bus.logs()
        ),
    }
}

/// The one call of `method` the backend got.
fn one_call(bus: &HostBus, method: &str, sandbox: &Sandbox) -> Value {
    let calls = bus.calls_of(method);
    assert_eq!(
        calls.len(),
        1,
        "the backend got {} {method} calls\n{}\n{}",
        calls.len(),
        sandbox.describe(),
        bus.logs()
    );
    calls[0].clone()
}

/// What a dialog of the app must look like on the host: marked with the
/// sandbox's name, over `parent` (never the app's), with the app's
/// filters and none of its paths.
fn check_forwarded(call: &Value, name: &str, title: &str, parent: &str) {
    assert_eq!(call["title"], format!("[wsbox:{name}] {title}"), "{call}");
    assert_eq!(call["parent_window"], parent, "{call}");
    let options = call["options"].as_object().unwrap();
    assert!(!options.contains_key("current_folder"), "{call}");
    assert!(!options.contains_key("current_file"), "{call}");
    assert!(options.contains_key("filters"), "{call}");
}

// ---------------------------------------------------------------------------
// The test user and sway (xdg-foreign)
// ---------------------------------------------------------------------------

/// The wsbox binary, copied where the test user can run it.
fn wsbox_bin() -> PathBuf {
    testkit::shared_copy(&testkit::wsbox_exe())
}

/// The test user, if `test` can run as it with sway and `programs`.
fn ready_as_user(test: &str, programs: &[&str]) -> Option<(u32, u32)> {
    static CHECK: OnceLock<Result<(u32, u32), String>> = OnceLock::new();
    let user = CHECK.get_or_init(|| {
        if testkit::euid() != 0 {
            return Err("not running as root (the test switches to the test user)".into());
        }
        let user = testkit::test_user()?;
        let dir = testkit::scratch_for(root_dir(), "preflight", user);
        let mut cmd = testkit::as_user(wsbox_bin(), user, &dir);
        cmd.args(["run", "--display", "none", "--", "true"]);
        let out = output(cmd, RUN_LIMIT);
        match out.code() {
            Some(0) => Ok(user),
            Some(125) => Err(format!(
                "this machine cannot run sandboxes as {}: {}",
                testkit::test_user_name(),
                out.stderr.trim()
            )),
            _ => panic!("wsbox run --display none -- true as the test user failed\n{out}"),
        }
    });
    let user = match user {
        Ok(user) => *user,
        Err(why) => {
            skip(test, why);
            return None;
        }
    };
    let mut all = vec!["sway"];
    all.extend_from_slice(TOOLS);
    all.extend_from_slice(programs);
    (testkit::have_programs(test, &all) && have_portal_tools(test)).then_some(user)
}

// ---------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------

/// gnome-text-editor's Ctrl+O shows the host's dialog; the file the user
/// chooses there opens in the app, as a document. The host's dialog is
/// titled for the sandbox and stacked on wsbox's window as sway exported
/// it, whatever the app said.
#[test]
fn the_host_dialog_opens_a_host_file_in_the_app() {
    let test = "the_host_dialog_opens_a_host_file_in_the_app";
    let Some(user) = ready_as_user(test, &["gnome-text-editor"]) else {
        return;
    };
    let sway_dir = testkit::scratch_for(root_dir(), "sway", user);
    let sway = Sway::start(user, &sway_dir, (1280, 800), "").unwrap_or_else(|e| panic!("{e}"));
    let bus_dir = testkit::scratch_for(root_dir(), "bus", user);
    let bus = HostBus::with_portal(&bus_dir, Some(user)).unwrap_or_else(|e| panic!("{e}"));
    let files = testkit::scratch_for(root_dir(), "files", user);
    let file = files.join("hostfile.txt");
    fs::write(&file, "hello from the host\n").unwrap();
    std::os::unix::fs::chown(&file, Some(user.0), Some(user.1)).unwrap();
    bus.answer(&format!(
        r#"{{"code": 0, "uris": ["file://{}"]}}"#,
        file.display()
    ));
    let name = unique_name(test);
    let inner = sway.maker(wsbox_bin());
    let address = bus.address.clone();
    let maker: Maker = Box::new(move || {
        let mut cmd = inner();
        cmd.env("DBUS_SESSION_BUS_ADDRESS", &address);
        cmd
    });
    let mut sandbox = Sandbox::start(
        maker,
        &name,
        &["--display", "window", "--", "gnome-text-editor"],
    );
    sandbox.wait_for_window("gnome-text-editor's window", SHOW_LIMIT, |w| {
        w.app_id == "org.gnome.TextEditor" && w.focused
    });
    sandbox.input(&["key", "ctrl+o"]);
    let mut last = Vec::new();
    let opened = poll(SHOW_LIMIT, || {
        last = sandbox.windows().unwrap_or_default();
        last.iter()
            .any(|w| w.title.starts_with("hostfile.txt (/run/wsbox/docs/"))
            .then_some(())
    });
    let shot = std::env::temp_dir().join(format!("{name}.png"));
    let _ = sandbox.wsbox(&["screenshot", &name, shot.to_str().unwrap()]);
    assert!(
        opened.is_some(),
        "the app did not open the host's file: {last:?} (screenshot {})\n{}\n{}",
        shot.display(),
        sandbox.describe(),
        bus.logs()
    );
    eprintln!("the app with the host's file: {}", shot.display());
    let call = one_call(&bus, "OpenFile", &sandbox);
    // sway exports wsbox's window (xdg-foreign); GTK's own parent inside
    // wsbox's compositor never reaches the host.
    let parent = call["parent_window"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        parent.starts_with("wayland:") && parent.len() > "wayland:".len(),
        "the host's dialog has no parent: {call}"
    );
    check_forwarded(&call, &name, "Open File", &parent);
    // The host path never reaches the app: it sees its document.
    let out = sandbox.control(&["requests", &name]);
    assert!(out.stdout.trim().is_empty(), "{out}");
    sandbox.control(&["stop", &name]);
    let out = sandbox.finish(RUN_LIMIT);
    assert!(
        !out.stderr.contains("host has no file chooser portal"),
        "{out}"
    );
}

/// The user cancels the host's dialog: the app hears "cancelled" (1), and
/// nothing appears in the sandbox.
#[test]
fn a_cancel_on_the_host_grants_nothing() {
    let test = "a_cancel_on_the_host_grants_nothing";
    if !ready_as_root(test, &[]) {
        return;
    }
    let weston = start_weston(test);
    let bus = HostBus::with_portal(&scratch("bus"), None).unwrap_or_else(|e| panic!("{e}"));
    bus.answer(r#"{"code": 1}"#);
    let name = unique_name(test);
    let bind = app_bind();
    let mut sandbox = Sandbox::start(
        root_maker(&weston, &bus),
        &name,
        &[
            "--display",
            "window",
            "--ro",
            &bind,
            "--",
            PYTHON,
            "/opt/app.py",
            "open",
        ],
    );
    assert_eq!(printed(&mut sandbox, "response ", &bus), "1 []");
    assert_eq!(printed(&mut sandbox, "granted ", &bus), "[]");
    assert_eq!(printed(&mut sandbox, "alive ", &bus), "1");
    let call = one_call(&bus, "OpenFile", &sandbox);
    // weston offers no xdg-foreign: no parent, and never the app's.
    check_forwarded(&call, &name, "Pick a file", "");
    assert_eq!(call["options"]["multiple"], true, "{call}");
    assert_eq!(call["options"]["accept_label"], "Take", "{call}");
    let out = sandbox.control(&["requests", &name]);
    assert!(out.stdout.trim().is_empty(), "{out}");
    sandbox.control(&["stop", &name]);
    sandbox.finish(RUN_LIMIT);
}

/// A host bus without a desktop portal: the app's request is answered
/// "other" (2) at once, wsbox says why in one line, and the app runs on
/// with the policy's settings.
#[test]
fn a_host_without_a_portal_answers_other() {
    let test = "a_host_without_a_portal_answers_other";
    if !ready_as_root(test, &[]) {
        return;
    }
    let weston = start_weston(test);
    let bus = HostBus::start(&scratch("bus"), None).unwrap_or_else(|e| panic!("{e}"));
    let name = unique_name(test);
    let bind = app_bind();
    let mut sandbox = Sandbox::start(
        root_maker(&weston, &bus),
        &name,
        &[
            "--display",
            "window",
            "--ro",
            &bind,
            "--",
            PYTHON,
            "/opt/app.py",
            "open",
        ],
    );
    // The default policy's: no preference.
    assert_eq!(printed(&mut sandbox, "color-scheme ", &bus), "0");
    assert_eq!(printed(&mut sandbox, "response ", &bus), "2 []");
    assert_eq!(printed(&mut sandbox, "alive ", &bus), "0");
    let out = sandbox.control(&["requests", &name]);
    assert!(out.stdout.trim().is_empty(), "{out}");
    assert!(sandbox.try_wait().is_none(), "{}", sandbox.describe());
    sandbox.control(&["stop", &name]);
    let out = sandbox.finish(RUN_LIMIT);
    let told: Vec<&str> = out
        .stderr
        .lines()
        .filter(|l| l.contains("portal"))
        .collect();
    assert_eq!(told.len(), 1, "{out}");
    assert!(
        told[0].starts_with("wsbox: the host has no file chooser portal (")
            && told[0].ends_with("the app's dialog was answered \"other\""),
        "{out}"
    );
}

/// The Settings portal inside tells the host's values of the allowlisted
/// keys, read from the host's own Settings portal, and nothing else the
/// host has.
#[test]
fn the_app_gets_the_host_settings() {
    let test = "the_app_gets_the_host_settings";
    if !ready_as_root(test, &[]) {
        return;
    }
    let weston = start_weston(test);
    let bus = HostBus::with_portal(&scratch("bus"), None).unwrap_or_else(|e| panic!("{e}"));
    let name = unique_name(test);
    let bind = app_bind();
    let mut sandbox = Sandbox::start(
        root_maker(&weston, &bus),
        &name,
        &[
            "--display",
            "window",
            "--ro",
            &bind,
            "--",
            PYTHON,
            "/opt/app.py",
            "settings",
        ],
    );
    assert_eq!(printed(&mut sandbox, "color-scheme ", &bus), "1");
    let settings: Vec<String> =
        serde_json::from_str(&printed(&mut sandbox, "settings ", &bus)).unwrap();
    assert_eq!(
        settings,
        [
            "org.freedesktop.appearance/color-scheme=1",
            "org.gnome.desktop.interface/cursor-size=48",
            "org.gnome.desktop.interface/gtk-theme=HostTheme",
        ],
        "{}",
        bus.logs()
    );
    let read = bus.calls_of("ReadAll");
    assert!(!read.is_empty(), "{}", bus.logs());
    sandbox.control(&["stop", &name]);
    sandbox.finish(RUN_LIMIT);
}

/// The app closes its request while the host's dialog is open: the host's
/// dialog is closed too, and the request is gone.
#[test]
fn closing_the_request_closes_the_host_dialog() {
    let test = "closing_the_request_closes_the_host_dialog";
    if !ready_as_root(test, &[]) {
        return;
    }
    let weston = start_weston(test);
    let bus = HostBus::with_portal(&scratch("bus"), None).unwrap_or_else(|e| panic!("{e}"));
    bus.answer(r#"{"hold": true}"#);
    let name = unique_name(test);
    let bind = app_bind();
    let out_dir = scratch("out");
    // The sandbox's user is not the owner.
    fs::set_permissions(&out_dir, fs::Permissions::from_mode(0o777)).unwrap();
    let out_bind = format!("{}:/out", out_dir.display());
    let mut sandbox = Sandbox::start(
        root_maker(&weston, &bus),
        &name,
        &[
            "--display",
            "window",
            "--ro",
            &bind,
            "--rw",
            &out_bind,
            "--",
            PYTHON,
            "/opt/app.py",
            "close",
        ],
    );
    printed(&mut sandbox, "handle ", &bus);
    let shown = poll(SHOW_LIMIT, || bus.calls_of("OpenFile").pop());
    let Some(call) = shown else {
        panic!(
            "the host never showed the dialog\n{}\n{}",
            sandbox.describe(),
            bus.logs()
        );
    };
    let out = sandbox.control(&["requests", &name]);
    assert!(out.stdout.contains("Pick a file"), "{out}");
    fs::write(out_dir.join("close"), "").unwrap();
    printed(&mut sandbox, "closed", &bus);
    let closed = poll(SHOW_LIMIT, || {
        bus.calls_of("Close")
            .into_iter()
            .find(|c| c["handle"] == call["handle"])
    });
    assert!(
        closed.is_some(),
        "the host's dialog was not closed\n{}\n{}",
        sandbox.describe(),
        bus.logs()
    );
    let out = sandbox.control(&["requests", &name]);
    assert!(out.stdout.trim().is_empty(), "{out}");
    assert!(!sandbox.stdout_so_far().contains("response "));
    sandbox.control(&["stop", &name]);
    sandbox.finish(RUN_LIMIT);
}

/// The host's portal dies while its dialog is open: the app's request is
/// answered "other" (2) instead of waiting for ever.
#[test]
fn a_host_portal_that_dies_answers_other() {
    let test = "a_host_portal_that_dies_answers_other";
    if !ready_as_root(test, &[]) {
        return;
    }
    let weston = start_weston(test);
    let mut bus = HostBus::with_portal(&scratch("bus"), None).unwrap_or_else(|e| panic!("{e}"));
    bus.answer(r#"{"hold": true}"#);
    let name = unique_name(test);
    let bind = app_bind();
    let mut sandbox = Sandbox::start(
        root_maker(&weston, &bus),
        &name,
        &[
            "--display",
            "window",
            "--ro",
            &bind,
            "--",
            PYTHON,
            "/opt/app.py",
            "open",
        ],
    );
    printed(&mut sandbox, "handle ", &bus);
    let shown = poll(SHOW_LIMIT, || bus.calls_of("OpenFile").pop());
    assert!(
        shown.is_some(),
        "the host never showed the dialog\n{}\n{}",
        sandbox.describe(),
        bus.logs()
    );
    bus.stop_portal();
    assert_eq!(printed(&mut sandbox, "response ", &bus), "2 []");
    assert_eq!(printed(&mut sandbox, "granted ", &bus), "[]");
    let out = sandbox.control(&["requests", &name]);
    assert!(out.stdout.trim().is_empty(), "{out}");
    sandbox.control(&["stop", &name]);
    sandbox.finish(RUN_LIMIT);
}

/// Printing in window mode: evince's Ctrl+P shows the host's print dialog
/// (the host's xdg-desktop-portal and its test backend), titled with the
/// sandbox's mark, and the document evince renders reaches the host's
/// portal, which the backend writes out: the PDF's two pages.
#[test]
fn printing_goes_through_the_host_print_dialog() {
    let test = "printing_goes_through_the_host_print_dialog";
    if !ready_as_root(test, &["evince"]) {
        return;
    }
    let weston = start_weston(test);
    let bus = HostBus::with_portal(&scratch("bus"), None).unwrap_or_else(|e| panic!("{e}"));
    let dir = testkit::scratch_in(root_dir(), "print", 0o755);
    let pdf = dir.join("two.pdf");
    fs::write(&pdf, testkit::pdf::pages(&["Page one", "Page two"])).unwrap();
    let name = unique_name(test);
    let mut sandbox = Sandbox::start(
        root_maker(&weston, &bus),
        &name,
        &["--display", "window", "--", "evince", pdf.to_str().unwrap()],
    );
    sandbox.wait_for_window("evince with two.pdf", SHOW_LIMIT, |w| {
        w.title.contains("two.pdf") && w.focused
    });
    // Pressed again until GTK asks the portal (a key while evince still
    // lays out its document may do nothing).
    let printed = sandbox
        .press_until("ctrl+p", GTK_PRINTS, SHOW_LIMIT, || {
            bus.calls_of("Print").into_iter().next()
        })
        .unwrap_or_else(|| {
            panic!(
                "the host printed nothing\n{}\n{}",
                sandbox.describe(),
                bus.logs()
            )
        });
    let prepared = one_call(&bus, "PreparePrint", &sandbox);
    let title = prepared["title"].as_str().unwrap_or_default();
    assert!(title.starts_with(&format!("[wsbox:{name}] ")), "{prepared}");
    assert_eq!(
        prepared["app_id"], "",
        "wsbox asks as a host app: {prepared}"
    );
    assert_eq!(
        printed["options"]["token"], 7,
        "the host's token: {printed}"
    );
    let file = printed["file"].as_str().unwrap();
    let bytes = fs::read(file).unwrap();
    assert!(bytes.starts_with(b"%PDF-"), "{printed}");
    assert_eq!(testkit::pdf::count_pages(&bytes), 2, "{printed}");
    // Nothing is left for the headless listing: the host printed it.
    let out = sandbox.control(&["prints", &name, "--json"]);
    assert_eq!(out.stdout.trim(), "[]", "{out}");
    sandbox.control(&["stop", &name]);
    let _ = sandbox.finish(RUN_LIMIT);
}

/// With `portal.print = false` the host's print dialog is never asked:
/// evince's print is answered "other", with one log line.
#[test]
fn printing_can_be_turned_off() {
    let test = "printing_can_be_turned_off";
    if !ready_as_root(test, &["evince"]) {
        return;
    }
    let weston = start_weston(test);
    let bus = HostBus::with_portal(&scratch("bus"), None).unwrap_or_else(|e| panic!("{e}"));
    let dir = testkit::scratch_in(root_dir(), "noprint", 0o755);
    let pdf = dir.join("one.pdf");
    fs::write(&pdf, testkit::pdf::pages(&["Not printed"])).unwrap();
    let policy = dir.join("noprint.toml");
    fs::write(&policy, "[portal]\nprint = false\n").unwrap();
    let name = unique_name(test);
    let mut sandbox = Sandbox::start(
        root_maker(&weston, &bus),
        &name,
        &[
            "--display",
            "window",
            "--policy",
            policy.to_str().unwrap(),
            "--",
            "evince",
            pdf.to_str().unwrap(),
        ],
    );
    sandbox.wait_for_window("evince with one.pdf", SHOW_LIMIT, |w| {
        w.title.contains("one.pdf") && w.focused
    });
    sandbox.press_until("ctrl+p", GTK_PRINTS, SHOW_LIMIT, || {
        sandbox
            .stderr_so_far()
            .contains("the app asked to print: the policy sets no portal.print_to, or portal.print = false")
            .then_some(())
    })
    .unwrap_or_else(|| panic!("no line about printing\n{}", sandbox.describe()));
    assert!(bus.calls_of("PreparePrint").is_empty(), "{}", bus.logs());
    assert!(
        sandbox.try_wait().is_none(),
        "evince ended: {}",
        sandbox.describe()
    );
    sandbox.control(&["stop", &name]);
    let _ = sandbox.finish(RUN_LIMIT);
}

/// What GTK prints once its print operation asks the portal.
const GTK_PRINTS: &str = "GtkPrintOperation::create-custom-widget not supported with portal";
