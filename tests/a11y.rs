//! End-to-end tests of accessibility ([docs/a11y.md](../docs/a11y.md)): a
//! host with an accessibility bus (a session bus of the test's own,
//! `testkit::HostBus`, with at-spi2-core's bus launcher on it), a screen
//! reader's view of the sandboxed app (python3-pyatspi on the host, as
//! Orca reads apps), and what the app can reach through its accessibility
//! socket (python3-dbus inside): the Registry's few calls and broadcasts,
//! no other name of the accessibility bus, nothing of the session bus.
//! Without an accessibility bus, or with the policy's `a11y.enabled =
//! false`, nothing is started and the app gets no address.
//!
//! The app is gtk3-demo's Expander demo, headless. Everything runs as root
//! and as the test user (the relay's rewriting of the app's identity is
//! what lets either authenticate). Needs `cargo build --workspace --bins`;
//! a missing program skips loudly, and fails under CI=true.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use serde_json::Value;
use testkit::hostbus::{AT_SPI_BUS_LAUNCHER, PYTHON};
use testkit::sandbox::{Maker, Sandbox};
use testkit::{output, poll, skip, HostBus, Log, Process, Who};

/// This test process's directory under /tmp.
fn root_dir() -> &'static Path {
    testkit::root_dir("a11y", true)
}

/// How long a `wsbox` command may take.
const RUN_LIMIT: Duration = Duration::from_secs(30);
/// How long the app may take to start and show up on the bus: GTK apps
/// on a busy machine (other tests run beside these) are slow.
const SHOW_LIMIT: Duration = Duration::from_secs(60);

/// The screen reader's view: the accessible applications on the bus, and
/// the text of every label of the one named ARGV[1], as JSON. One pass;
/// the test polls.
const READER: &str = r#"
import json, sys
import pyatspi

found = {"apps": [], "labels": []}

def walk(node, depth):
    if node is None or depth > 40:
        return
    try:
        if node.getRole() == pyatspi.ROLE_LABEL:
            found["labels"].append(node.queryText().getText(0, -1))
        children = list(node)
    except Exception:
        return
    for child in children:
        walk(child, depth + 1)

for app in pyatspi.Registry.getDesktop(0):
    if app is None:
        continue
    found["apps"].append(app.name)
    if app.name == sys.argv[1]:
        walk(app, 0)
print(json.dumps(found))
"#;

/// A screen reader starting on the host: it registers for focus events
/// with the Registry (which tells every app on the bus), and prints
/// `registered`.
const LISTENER: &str = r#"
import pyatspi
pyatspi.Registry.registerEventListener(lambda event: None, "object:state-changed:focused")
print("registered", flush=True)
"#;

/// The app inside: what it reaches on `$AT_SPI_BUS_ADDRESS`, as JSON
/// (`names`: ListNames; each call: "ok" or the error's name), then
/// `listening`, then `heard EVENT` once the Registry says a listener
/// registered.
const INSIDE: &str = r#"
import json, os
import dbus
from dbus.mainloop.glib import DBusGMainLoop
from gi.repository import GLib

DBusGMainLoop(set_as_default=True)
bus = dbus.bus.BusConnection(os.environ["AT_SPI_BUS_ADDRESS"])
out = {}
daemon = bus.get_object("org.freedesktop.DBus", "/org/freedesktop/DBus", introspect=False)

def attempt(key, dest, path, interface, method):
    try:
        bus.get_object(dest, path, introspect=False).get_dbus_method(method, interface)()
        out[key] = "ok"
    except dbus.DBusException as e:
        out[key] = e.get_dbus_name()

REGISTRY = "org.a11y.atspi.Registry"
attempt("registry_events", REGISTRY, "/org/a11y/atspi/registry", "org.a11y.atspi.Registry",
        "GetRegisteredEvents")
attempt("a11y_name", "org.wsbox.A11yTest", "/", "org.freedesktop.DBus.Peer", "Ping")
attempt("session_name", "org.wsbox.SessionTest", "/", "org.freedesktop.DBus.Peer", "Ping")
attempt("registry_ping", REGISTRY, "/org/a11y/atspi/registry", "org.freedesktop.DBus.Peer", "Ping")
attempt("registry_introspect", REGISTRY, "/org/a11y/atspi/registry",
        "org.freedesktop.DBus.Introspectable", "Introspect")
# Once the Registry runs (the first call started it).
out["names"] = sorted(str(n) for n in daemon.ListNames(dbus_interface="org.freedesktop.DBus"))
print("calls", json.dumps(out), flush=True)

loop = GLib.MainLoop()
def registered(*args):
    print("heard", " ".join(str(a) for a in args), flush=True)
    loop.quit()
bus.add_signal_receiver(registered, "EventListenerRegistered", "org.a11y.atspi.Registry",
                        path="/org/a11y/atspi/registry")
# The match rule is in place once a call after it returns.
daemon.GetId(dbus_interface="org.freedesktop.DBus")
print("listening", flush=True)
loop.run()
"#;

/// A hostile app on the accessibility bus (`$AT_SPI_BUS_ADDRESS`): it
/// registers with the Registry and answers a screen reader's
/// `GetApplicationBusAddress` with a `unixexec:` address, which libdbus
/// runs (`touch ARGV[1]`), and every call with such replies to the
/// caller's other serials too. It prints `embedded`, then `got MEMBER` for
/// each call it gets.
const HOSTILE: &str = r#"
import os, sys
from gi.repository import Gio, GLib

EVIL = "unixexec:path=/bin/touch,argv0=touch,argv1=" + sys.argv[1]
conn = Gio.DBusConnection.new_for_address_sync(
    os.environ["AT_SPI_BUS_ADDRESS"],
    Gio.DBusConnectionFlags.AUTHENTICATION_CLIENT | Gio.DBusConnectionFlags.MESSAGE_BUS_CONNECTION,
    None, None)
ROOT = "/org/a11y/atspi/accessible/root"

def say(*words):
    print(*words, flush=True)

def evil_reply(dest, serial):
    m = Gio.DBusMessage.new()
    m.set_message_type(Gio.DBusMessageType.METHOD_RETURN)
    m.set_flags(Gio.DBusMessageFlags.NO_REPLY_EXPECTED)
    m.set_reply_serial(serial)
    m.set_destination(dest)
    m.set_body(GLib.Variant("(s)", (EVIL,)))
    conn.send_message(m, Gio.DBusSendMessageFlags.NONE)

def answer(msg):
    member, sender, serial = msg.get_member(), msg.get_sender(), msg.get_serial()
    say("got", member)
    for guess in range(max(1, serial - 30), serial + 30):
        if guess != serial:
            evil_reply(sender, guess)
    if member == "GetApplicationBusAddress":
        evil_reply(sender, serial)
        return False
    if member == "Get":
        reply = msg.new_method_reply()
        reply.set_body(GLib.Variant("(v)", (GLib.Variant("s", "hostile"),)))
    else:
        reply = msg.new_method_error_literal("org.freedesktop.DBus.Error.UnknownMethod", "no")
    conn.send_message(reply, Gio.DBusSendMessageFlags.NONE)
    return False

def incoming(connection, msg, is_incoming):
    if is_incoming and msg.get_message_type() == Gio.DBusMessageType.METHOD_CALL:
        GLib.idle_add(answer, msg)
        return None
    return msg

conn.add_filter(incoming)
conn.call_sync("org.a11y.atspi.Registry", ROOT, "org.a11y.atspi.Socket", "Embed",
               GLib.Variant("((so))", ((conn.get_unique_name(), ROOT),)), None,
               Gio.DBusCallFlags.NONE, 5000, None)
say("embedded")
GLib.MainLoop().run()
"#;

/// A screen reader looking at every app once, then serving AT-SPI's
/// answers until it is stopped.
const LOOKER: &str = r#"
import pyatspi
from gi.repository import GLib
for app in pyatspi.Registry.getDesktop(0):
    try:
        print("app", app.name, flush=True)
    except Exception as e:
        print("app?", e, flush=True)
GLib.MainLoop().run()
"#;

/// Owns `org.wsbox.SessionTest` on the session bus and
/// `org.wsbox.A11yTest` on the accessibility bus at ARGV[1]: names the app
/// must not reach. libdbus answers `Peer.Ping` for them.
const OWNER: &str = r#"
import sys
import dbus, dbus.service
from dbus.mainloop.glib import DBusGMainLoop
from gi.repository import GLib

DBusGMainLoop(set_as_default=True)
names = [dbus.service.BusName("org.wsbox.SessionTest", dbus.SessionBus()),
         dbus.service.BusName("org.wsbox.A11yTest", dbus.bus.BusConnection(sys.argv[1]))]
GLib.MainLoop().run()
"#;

// ---------------------------------------------------------------------------
// Harness
// ---------------------------------------------------------------------------

/// The wsbox binary, copied where the test user can run it.
fn wsbox_bin() -> PathBuf {
    testkit::shared_copy(&testkit::wsbox_exe())
}

/// A host: who runs wsbox, its directory (the test user's home and
/// runtime directory), and its session bus.
struct Host {
    user: Option<(u32, u32)>,
    dir: PathBuf,
    bus: HostBus,
}

/// What every test needs, beyond running sandboxes.
const PROGRAMS: &[&str] = &["dbus-daemon", "gdbus", "xdg-dbus-proxy", "python3"];

/// Whether python3 has `modules`; else `test` has skipped.
fn have_python(test: &str, modules: &str, package: &str) -> bool {
    let mut cmd = Command::new(PYTHON);
    cmd.args(["-c", &format!("import {modules}")]);
    if output(cmd, RUN_LIMIT).status.success() {
        return true;
    }
    skip(test, &format!("{package} not installed"));
    false
}

/// Whether `test` can run here with `programs`: as root, or as the test
/// user (then its ids).
fn ready(test: &str, who: Who, programs: &[&str]) -> Option<Option<(u32, u32)>> {
    let mut all = PROGRAMS.to_vec();
    all.extend_from_slice(programs);
    let user = match who {
        Who::Root => {
            let plain = || {
                testkit::wsbox_command(
                    &root_dir().join("run"),
                    &["run", "--display", "none", "--", "true"],
                )
            };
            if !testkit::ready_as_root(test, &all, plain) {
                return None;
            }
            None
        }
        Who::User => Some(ready_as_user(test, &all)?),
    };
    if !Path::new(AT_SPI_BUS_LAUNCHER).exists() {
        skip(test, "at-spi2-core not installed");
        return None;
    }
    if !have_python(
        test,
        "dbus, gi.repository.GLib",
        "python3-dbus or python3-gi",
    ) || !have_python(test, "pyatspi", "python3-pyatspi")
    {
        return None;
    }
    Some(user)
}

/// The test user, if sandboxes run as it here and `programs` are there.
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
    match user {
        Ok(user) => testkit::have_programs(test, programs).then_some(*user),
        Err(why) => {
            skip(test, why);
            None
        }
    }
}

impl Host {
    /// A host for `test` with a session bus, and an accessibility bus on
    /// it when `a11y`.
    fn start(test: &str, user: Option<(u32, u32)>, a11y: bool) -> Host {
        let owner = user.unwrap_or((0, 0));
        let dir = testkit::scratch_for(root_dir(), test, owner);
        let bus_dir = testkit::scratch_for(root_dir(), "bus", owner);
        let mut bus = HostBus::start(&bus_dir, user).unwrap_or_else(|e| panic!("{e}"));
        if a11y {
            bus.start_a11y()
                .unwrap_or_else(|e| panic!("{e}\n{}", bus.logs()));
        }
        Host { user, dir, bus }
    }

    /// `wsbox` as this host's user, on its session bus.
    fn maker(&self) -> Maker {
        let (user, dir, address) = (self.user, self.dir.clone(), self.bus.address.clone());
        Box::new(move || {
            let mut cmd = match user {
                Some(user) => testkit::as_user(wsbox_bin(), user, &dir),
                None => testkit::wsbox_command(&root_dir().join("run"), &[]),
            };
            cmd.env("DBUS_SESSION_BUS_ADDRESS", &address)
                .env_remove("AT_SPI_BUS_ADDRESS")
                .env_remove("GDK_BACKEND");
            cmd
        })
    }

    /// `wsbox run --name <unique> ARGS`, running.
    fn run(&self, test: &str, args: &[&str]) -> Sandbox {
        Sandbox::start(self.maker(), &testkit::unique_name("ay-", test), args)
    }

    /// A python3 script on the host, as its user and on its bus.
    fn python(&self, script: &str, args: &[&str]) -> Command {
        let file = self.dir.join(format!("script-{}.py", testkit::next()));
        fs::write(&file, script).unwrap();
        fs::set_permissions(&file, fs::Permissions::from_mode(0o644)).unwrap();
        let mut cmd = self.bus.command(PYTHON);
        cmd.arg(file).args(args).env("GSETTINGS_BACKEND", "memory");
        cmd
    }
}

/// A script readable inside the sandbox, and `--ro` for it at `/opt/NAME`.
fn script_bind(name: &str, script: &str) -> String {
    let dir = testkit::scratch_in(root_dir(), name, 0o755);
    let file = dir.join(name);
    fs::write(&file, script).unwrap();
    fs::set_permissions(&file, fs::Permissions::from_mode(0o644)).unwrap();
    format!("{}:/opt/{name}", file.display())
}

/// Waits until the app inside printed a line starting with `start`, and
/// returns the rest of it.
fn printed(sandbox: &mut Sandbox, start: &str, host: &Host) -> String {
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
            host.bus.logs()
        ),
    }
}

/// The process named `comm` below `pid`, if one runs.
fn below(pid: i32, comm: &str) -> Option<i32> {
    testkit::tree(pid)
        .into_iter()
        .find(|p| testkit::comm(*p).as_deref() == Some(comm))
}

/// Whether `pid` has ended (gone, or a zombie).
fn ended(pid: i32) -> bool {
    testkit::status_field(pid, "State:").is_none_or(|state| state.starts_with('Z'))
}

/// What AT-SPI prints when it finds no accessibility bus.
const NO_BUS_LINES: &[&str] = &["org.a11y.Bus", "accessibility bus"];

// ---------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------

testkit::as_root_and_user!(
    a_screen_reader_reads_the_sandboxed_app,
    the_app_reaches_the_registry_and_nothing_else,
);

/// gtk3-demo's Expander demo, headless: a screen reader on the host finds
/// the app on the accessibility bus and reads its labels; AT-SPI inside
/// complains of no missing bus. The proxy and the relay run below wsbox.
fn a_screen_reader_reads_the_sandboxed_app(who: Who, test: &str) {
    let Some(user) = ready(test, who, &["gtk3-demo"]) else {
        return;
    };
    let host = Host::start(test, user, true);
    let mut sandbox = host.run(test, &["--headless", "--", "gtk3-demo", "--run=expander"]);
    let wsbox = sandbox_pid(&sandbox);
    let mut last = Value::Null;
    let read = poll(SHOW_LIMIT, || {
        if sandbox.try_wait().is_some() {
            return Some(false);
        }
        let out = output(host.python(READER, &["gtk3-demo"]), RUN_LIMIT);
        last = serde_json::from_str(out.stdout.trim()).unwrap_or(Value::Null);
        let labels = last["labels"].as_array()?;
        labels
            .iter()
            .any(|l| l == "Something went wrong")
            .then_some(true)
    });
    assert_eq!(
        read,
        Some(true),
        "the screen reader never read the app's label; it saw {last}\n{}\n{}",
        sandbox.describe(),
        host.bus.logs()
    );
    assert!(
        last["labels"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l == "Here are some more details but not the full story."),
        "{last}"
    );
    let helper = below(wsbox, "wsbox-a11y").expect("the accessibility helper runs below wsbox");
    assert!(
        below(helper, "xdg-dbus-proxy").is_some(),
        "xdg-dbus-proxy runs below the helper\n{}",
        sandbox.describe()
    );
    sandbox.control(&["stop", &sandbox.name.clone()]);
    let out = sandbox.finish(RUN_LIMIT);
    for line in NO_BUS_LINES {
        assert!(!out.stderr.contains(line), "{line:?}\n{out}");
    }
    assert!(ended(helper), "the helper outlived wsbox");
}

/// The app's side of the accessibility bus: the Registry's calls pass,
/// and its broadcast of a listener registering on the host; its other
/// methods, every other name of the accessibility bus (one the test owns)
/// and the session bus (another) are out of reach, and ListNames lists
/// neither.
fn the_app_reaches_the_registry_and_nothing_else(who: Who, test: &str) {
    let Some(user) = ready(test, who, &[]) else {
        return;
    };
    let host = Host::start(test, user, true);
    let address = host
        .bus
        .a11y_address()
        .unwrap_or_else(|e| panic!("{e}\n{}", host.bus.logs()));
    let owner = Process::start(
        host.python(OWNER, &[&address]),
        "name owner",
        true,
        host.dir.join("owner.log"),
        Log::Stderr,
    )
    .unwrap();
    // Reached from the host, directly: what the app must not reach.
    let ping = |dest: &str, bus: &[&str]| {
        let mut cmd = host.bus.command("gdbus");
        cmd.arg("call").args(bus).args([
            "--dest",
            dest,
            "--object-path",
            "/",
            "--method",
            "org.freedesktop.DBus.Peer.Ping",
        ]);
        output(cmd, RUN_LIMIT).status.success()
    };
    let owned = poll(SHOW_LIMIT, || {
        (ping("org.wsbox.A11yTest", &["--address", &address])
            && ping("org.wsbox.SessionTest", &["--session"]))
        .then_some(())
    });
    assert!(owned.is_some(), "the test's names: {}", owner.log_tail());
    let bind = script_bind("inside.py", INSIDE);
    let mut sandbox = host.run(
        test,
        &[
            "--headless",
            "--ro",
            &bind,
            "--",
            "python3",
            "/opt/inside.py",
        ],
    );
    let calls: Value = serde_json::from_str(&printed(&mut sandbox, "calls", &host)).unwrap();
    let names: Vec<&str> = calls["names"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(names.contains(&"org.a11y.atspi.Registry"), "{calls}");
    for hidden in ["org.wsbox.A11yTest", "org.wsbox.SessionTest"] {
        assert!(!names.contains(&hidden), "{hidden} is listed: {calls}");
    }
    assert_eq!(calls["registry_events"], "ok", "{calls}");
    for refused in [
        "a11y_name",
        "session_name",
        "registry_ping",
        "registry_introspect",
    ] {
        let error = calls[refused].as_str().unwrap_or("");
        assert!(
            error.starts_with("org.freedesktop.DBus.Error."),
            "{refused}: {calls}"
        );
    }
    // A screen reader starting on the host: the app hears of it, as AT-SPI
    // needs to send it the events it listens for.
    printed(&mut sandbox, "listening", &host);
    let out = output(host.python(LISTENER, &[]), RUN_LIMIT);
    assert!(out.status.success(), "{out}");
    // The Registry names the event its own way: Object:StateChanged:Focused.
    let heard = printed(&mut sandbox, "heard", &host);
    assert!(
        heard.to_lowercase().contains("object:statechanged:focused"),
        "{heard}"
    );
}

/// AT-SPI lets an app name a server for direct connections
/// (`GetApplicationBusAddress`), and screen readers connect to it with
/// libdbus, which runs a program for a `unixexec:` address. On the host,
/// a hostile app makes the screen reader run `touch`; the same app in a
/// sandbox never gets the question (the relay answers it: no address),
/// its replies to calls it never got are dropped, and the screen reader
/// goes on over the bus (it asks the app for its cache next).
#[test]
fn a_hostile_app_cannot_make_the_screen_reader_run_a_program() {
    let test = "a_hostile_app_cannot_make_the_screen_reader_run_a_program";
    let Some(user) = ready(test, Who::Root, &[]) else {
        return;
    };
    let host = Host::start(test, user, true);
    let address = host
        .bus
        .a11y_address()
        .unwrap_or_else(|e| panic!("{e}\n{}", host.bus.logs()));
    let looker = || testkit::Running::start(host.python(LOOKER, &[]));
    // The attack, outside any sandbox: it works on this host.
    let ran = host.dir.join("ran-on-the-host");
    let mut cmd = host.python(HOSTILE, &[ran.to_str().unwrap()]);
    cmd.env("AT_SPI_BUS_ADDRESS", &address);
    let hostile = testkit::Running::start(cmd);
    let embedded = poll(SHOW_LIMIT, || {
        hostile.stdout_so_far().contains("embedded").then_some(())
    });
    assert!(embedded.is_some(), "{}", hostile.stderr_so_far());
    let reader = looker();
    let worked = poll(SHOW_LIMIT, || ran.exists().then_some(()));
    assert!(
        worked.is_some(),
        "the host's screen reader did not run the hostile app's program: the test's attack \
         does not work here\nthe app: {}\nthe reader: {}{}",
        hostile.stdout_so_far(),
        reader.stdout_so_far(),
        reader.stderr_so_far()
    );
    drop((reader, hostile));
    // The same app in a sandbox.
    let file = host.dir.join("ran-from-the-sandbox");
    let bind = script_bind("hostile.py", HOSTILE);
    let mut sandbox = host.run(
        test,
        &[
            "--headless",
            "--ro",
            &bind,
            "--",
            "python3",
            "/opt/hostile.py",
            file.to_str().unwrap(),
        ],
    );
    printed(&mut sandbox, "embedded", &host);
    let reader = looker();
    // The screen reader had its answer, then asked for the cache.
    printed(&mut sandbox, "got GetItems", &host);
    drop(reader);
    let out = sandbox.stdout_so_far();
    assert!(
        !out.contains("got GetApplicationBusAddress"),
        "the app was asked\n{}",
        sandbox.describe()
    );
    assert!(
        !file.exists(),
        "the screen reader ran the sandboxed app's program\n{}",
        sandbox.describe()
    );
}

/// wsbox's pid, once `wsbox ps` lists it.
fn sandbox_pid(sandbox: &Sandbox) -> i32 {
    let mut last = String::new();
    let pid = poll(RUN_LIMIT, || {
        let out = sandbox.control(&["ps", "--json"]);
        let list: Value = serde_json::from_str(&out.stdout).unwrap();
        last = out.to_string();
        list.as_array()?
            .iter()
            .find(|s| s["name"] == sandbox.name.as_str())
            .and_then(|s| s["pid"].as_i64())
            .map(|p| i32::try_from(p).unwrap())
    });
    pid.unwrap_or_else(|| panic!("{} is not in wsbox ps\n{last}", sandbox.name))
}

/// Where the host has no accessibility bus (a session bus without one, or
/// no session bus at all), where the policy turns it off, and with
/// `--display none`: no helper, no address, no socket inside, and not a
/// word from wsbox.
#[test]
fn without_an_accessibility_bus_nothing_is_started() {
    let test = "without_an_accessibility_bus_nothing_is_started";
    let Some(user) = ready(test, Who::Root, &[]) else {
        return;
    };
    let script = r#"echo "address=${AT_SPI_BUS_ADDRESS:-none}"; ls -A "$XDG_RUNTIME_DIR" | tr '\n' ' '; echo; echo ready; exec sleep 600"#;
    let plain = Host::start(test, user, false);
    let with = Host::start(test, user, true);
    let off = testkit::scratch_in(root_dir(), "policy", 0o755).join("off.toml");
    fs::write(&off, "[a11y]\nenabled = false\n").unwrap();
    let off = off.to_str().unwrap().to_owned();
    let cases: [(&str, &Host, Vec<&str>, bool); 4] = [
        ("no accessibility bus", &plain, vec!["--headless"], true),
        ("no session bus", &plain, vec!["--headless"], false),
        (
            "a11y.enabled = false",
            &with,
            vec!["--headless", "--policy", &off],
            true,
        ),
        ("--display none", &with, vec!["--display", "none"], true),
    ];
    for (case, host, mut args, session) in cases {
        args.extend(["--", "sh", "-c", script]);
        let maker = host.maker();
        let maker: Maker = Box::new(move || {
            let mut cmd = maker();
            if !session {
                cmd.env_remove("DBUS_SESSION_BUS_ADDRESS");
            }
            cmd
        });
        let mut sandbox = Sandbox::start(maker, &testkit::unique_name("ay-", test), &args);
        printed(&mut sandbox, "ready", host);
        let out = sandbox.stdout_so_far();
        assert!(
            out.contains("address=none\n"),
            "{case}\n{}",
            sandbox.describe()
        );
        assert!(!out.contains("at-spi"), "{case}\n{}", sandbox.describe());
        let wsbox = sandbox_pid(&sandbox);
        assert_eq!(below(wsbox, "wsbox-a11y"), None, "{case}");
        assert_eq!(below(wsbox, "xdg-dbus-proxy"), None, "{case}");
        sandbox.control(&["stop", &sandbox.name.clone()]);
        let out = sandbox.finish(RUN_LIMIT);
        assert!(out.stderr.trim().is_empty(), "{case}: wsbox said\n{out}");
    }
}

/// wsbox killed with SIGKILL takes the helper and xdg-dbus-proxy with it.
#[test]
fn the_proxy_ends_with_wsbox() {
    let test = "the_proxy_ends_with_wsbox";
    let Some(user) = ready(test, Who::Root, &[]) else {
        return;
    };
    let host = Host::start(test, user, true);
    let mut sandbox = host.run(
        test,
        &["--headless", "--", "sh", "-c", "echo ready; exec sleep 600"],
    );
    printed(&mut sandbox, "ready", &host);
    let wsbox = sandbox_pid(&sandbox);
    let helper = below(wsbox, "wsbox-a11y").expect("the helper runs");
    let proxy = below(helper, "xdg-dbus-proxy").expect("the proxy runs");
    // SAFETY: kill has no memory effects; wsbox is the test's child.
    unsafe { libc::kill(wsbox, libc::SIGKILL) };
    let gone = poll(RUN_LIMIT, || (ended(helper) && ended(proxy)).then_some(()));
    assert!(
        gone.is_some(),
        "the helper ({helper}) or the proxy ({proxy}) outlived wsbox"
    );
}
