//! End-to-end tests of notifications from inside a sandbox, with
//! `notify-send` (libnotify 0.8, which takes the portal where
//! `/.flatpak-info` is) and with gdbus calling `org.freedesktop.Notifications`
//! directly, as apps without the portal do: headless, each is listed by
//! `wsbox notifications`, cleaned, cut short, and a flood is throttled; in
//! window mode (weston headless as the host, a host session bus of the
//! test's own with a python3-dbus notification server) the host is asked to
//! show it under the app's name marked `[wsbox:NAME]`.
//!
//! A test that cannot run prints `SKIPPED: <test>: <reason>` and passes,
//! unless CI=true or WSBOX_MUST_WORK=1, where it fails instead.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;
use testkit::hostbus::PYTHON;
use testkit::sandbox::Sandbox;
use testkit::{output, poll, wsbox_command, HostBus, Running, Weston};

const LIMIT: Duration = Duration::from_secs(60);

fn root_dir() -> &'static Path {
    testkit::root_dir("notifications", true)
}

fn ready(test: &str, programs: &[&str]) -> bool {
    testkit::ready_as_root(test, programs, || {
        wsbox_command(
            &root_dir().join("run"),
            &["run", "--display", "none", "--", "true"],
        )
    })
}

/// What `wsbox notifications NAME --json` says.
fn listed(runtime: &Path, name: &str) -> Option<Value> {
    let out = output(
        wsbox_command(runtime, &["notifications", name, "--json"]),
        LIMIT,
    );
    serde_json::from_str(&out.stdout).ok()
}

/// A script for the sandbox: one notification by the portal, one direct,
/// then `flood` more as fast as it can, then `done`.
fn script(flood: u32) -> String {
    format!(
        "notify-send 'New <b>mail</b>' 'From bob: see <a href=\"https://evil.example/x\">this</a> &amp; https://evil.example/y {long}'; \
         gdbus call --session --dest org.freedesktop.Notifications --object-path /org/freedesktop/Notifications \
           --method org.freedesktop.Notifications.Notify 'Mailer<i>!</i>' 0 '' 'Direct title' 'direct body' '[]' '{{}}' 5000 >/dev/null; \
         i=0; while [ $i -lt {flood} ]; do i=$((i+1)); notify-send \"flood $i\"; done; echo done; sleep 300",
        long = "x".repeat(700)
    )
}

/// Runs [`script`] headless in the sandbox `name` with `options` until it
/// is done; the app, and what `wsbox notifications` lists then.
fn run_script(runtime: &Path, name: &str, options: &[&str], flood: u32) -> (Running, Value) {
    let script = script(flood);
    let mut args = vec!["run", "--headless", "--name", name];
    args.extend_from_slice(options);
    args.extend_from_slice(&["--", "sh", "-c", &script]);
    let app = Running::start(wsbox_command(runtime, &args));
    poll(LIMIT, || app.stdout_so_far().contains("done").then_some(()))
        .unwrap_or_else(|| panic!("the app never finished: {}", app.stderr_so_far()));
    let list = listed(runtime, name).expect("wsbox notifications answered nothing");
    (app, list)
}

#[test]
fn notifications_are_listed_cleaned_cut_and_throttled() {
    let test = "notifications_are_listed_cleaned_cut_and_throttled";
    if !ready(test, &["notify-send", "gdbus"]) {
        return;
    }
    let runtime = testkit::scratch_in(root_dir(), "run", 0o700);
    let name = testkit::unique_name("nt-", test);
    let (app, list) = run_script(&runtime, &name, &[], 20);
    let kept = list["kept"].as_array().unwrap();
    // The portal's: markup and links stripped, the body cut to 512.
    let first = &kept[0];
    assert_eq!(first["title"], "New mail", "{list}");
    let body = first["body"].as_str().unwrap();
    assert!(
        body.starts_with("From bob: see this & [link] xxx"),
        "{body}"
    );
    assert_eq!(body.chars().count(), 512, "{body}");
    assert!(body.ends_with('…'));
    // The direct one keeps the app's name, cleaned.
    let direct = &kept[1];
    assert_eq!(direct["app"], "Mailer!", "{list}");
    assert_eq!(direct["title"], "Direct title", "{list}");
    assert_eq!(direct["shown_on_host"], false, "headless: {list}");
    // The flood: at most a burst of 5 (and one a second) passed.
    let floods = kept
        .iter()
        .filter(|n| n["title"].as_str().is_some_and(|t| t.starts_with("flood")))
        .count();
    let dropped = list["dropped"].as_u64().unwrap();
    assert_eq!(floods as u64 + dropped + 2, 22, "{list}");
    assert!(dropped >= 10, "{list}");
    output(wsbox_command(&runtime, &["stop", "--force", &name]), LIMIT);
    let out = app.kill(LIMIT);
    let warned = out
        .stderr
        .lines()
        .filter(|l| l.contains("notifications too fast"))
        .count();
    assert_eq!(warned, 1, "one line for the whole flood: {}", out.stderr);
}

#[test]
fn dropped_notifications_go_nowhere() {
    let test = "dropped_notifications_go_nowhere";
    if !ready(test, &["notify-send", "gdbus"]) {
        return;
    }
    let dir = testkit::scratch_in(root_dir(), "drop", 0o755);
    let policy = dir.join("drop.toml");
    fs::write(&policy, "[portal]\nnotifications = \"drop\"\n").unwrap();
    let runtime = testkit::scratch_in(&dir, "run", 0o700);
    let name = testkit::unique_name("nd-", test);
    let (app, list) = run_script(&runtime, &name, &["--policy", policy.to_str().unwrap()], 3);
    assert_eq!(list["kept"].as_array().map(Vec::len), Some(0), "{list}");
    assert_eq!(list["dropped"], 0, "{list}");
    output(wsbox_command(&runtime, &["stop", "--force", &name]), LIMIT);
    app.kill(LIMIT);
}

/// A notification server for the host's bus: logs each Notify as a JSON
/// line.
const SERVER: &str = r#"
import json, sys
import dbus, dbus.service
from dbus.mainloop.glib import DBusGMainLoop
from gi.repository import GLib

DBusGMainLoop(set_as_default=True)
log = open(sys.argv[1], "a", buffering=1)

class Server(dbus.service.Object):
    @dbus.service.method("org.freedesktop.Notifications", in_signature="susssasa{sv}i",
                         out_signature="u")
    def Notify(self, app, replaces, icon, summary, body, actions, hints, timeout):
        log.write(json.dumps({"app": str(app), "summary": str(summary), "body": str(body),
                              "actions": [str(a) for a in actions],
                              "hints": [str(k) for k in hints.keys()]}) + "\n")
        return dbus.UInt32(1)

bus = dbus.SessionBus()
name = dbus.service.BusName("org.freedesktop.Notifications", bus)
Server(bus, "/org/freedesktop/Notifications")
GLib.MainLoop().run()
"#;

#[test]
fn in_window_mode_the_host_shows_them_marked() {
    let test = "in_window_mode_the_host_shows_them_marked";
    if !ready(test, &["weston", "dbus-daemon", "notify-send", "gdbus"]) {
        return;
    }
    let dir = testkit::scratch_in(root_dir(), "window", 0o700);
    let weston = Weston::start(&dir, "host-0", (1280, 800), false).unwrap();
    let mut bus = HostBus::start(&testkit::scratch_in(&dir, "bus", 0o700), None).unwrap();
    let script_file: PathBuf = bus.dir.join("server.py");
    fs::write(&script_file, SERVER).unwrap();
    let log = bus.dir.join("notify.log");
    let mut server = bus.command(PYTHON);
    server.arg(&script_file).arg(&log);
    let server = Running::start(server);
    bus.wait_for_name("org.freedesktop.Notifications")
        .unwrap_or_else(|e| {
            panic!(
                "the test's notification server did not start: {e}\n{}",
                server.stderr_so_far()
            )
        });

    let name = testkit::unique_name("nw-", test);
    let (socket, address) = (weston.socket.clone(), bus.address.clone());
    let maker: testkit::sandbox::Maker = Box::new(move || {
        let mut cmd = wsbox_command(&root_dir().join("run"), &[]);
        cmd.env("WAYLAND_DISPLAY", &socket)
            .env("DBUS_SESSION_BUS_ADDRESS", &address);
        cmd
    });
    let mut sandbox = Sandbox::start(
        maker,
        &name,
        &["--display", "window", "--", "sh", "-c", &script(0)],
    );
    let lines = poll(LIMIT, || {
        let text = fs::read_to_string(&log).ok()?;
        let lines: Vec<Value> = text
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect();
        (lines.len() >= 2).then_some(lines)
    })
    .unwrap_or_else(|| panic!("the host was asked nothing\n{}", sandbox.describe()));
    assert_eq!(lines[0]["app"], format!("[wsbox:{name}]"), "{lines:?}");
    // The title is marked too (servers such as dunst show no app name);
    // the body is markup to a notification server: escaped.
    assert_eq!(
        lines[0]["summary"],
        format!("[{name}] New mail"),
        "{lines:?}"
    );
    assert!(
        lines[0]["body"].as_str().is_some_and(|b| {
            b.starts_with("From bob: see this &amp; [link]") && !b.contains('<')
        }),
        "{lines:?}"
    );
    assert_eq!(
        lines[1]["app"],
        format!("[wsbox:{name}] Mailer!"),
        "{lines:?}"
    );
    for line in &lines {
        assert_eq!(line["actions"], serde_json::json!([]), "{lines:?}");
        assert_eq!(line["hints"], serde_json::json!([]), "{lines:?}");
    }
    let out = sandbox.control(&["notifications", &name, "--json"]);
    let list: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(list["kept"][0]["shown_on_host"], true, "{list}");
    assert!(sandbox.try_wait().is_none(), "{}", sandbox.describe());
    sandbox.control(&["stop", "--force", &name]);
    sandbox.finish(LIMIT);
    server.kill(LIMIT);
}
