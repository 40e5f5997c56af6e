//! End-to-end tests of the portal's bus (issue 17) with hostile clients:
//! which sandboxes get a private session bus at all, and what an app on
//! it can and cannot do. The client is tests/portal/client.py, run inside
//! the sandbox as the app by Debian's python3 with GLib's own D-Bus code
//! (python3-gi): it keeps several connections to the bus and does what
//! the test asks on its stdin. It cannot claim the portal's names, flood
//! wsbox with requests, crash it with malformed options, close another
//! caller's request, hear another caller's answer, or get a path granted
//! that the user did not choose; wsbox keeps serving through all of it.
//!
//! The real programs that ask the portal for files are in
//! tests/portal_apps.rs, what the policy's `[portal]` says (settings,
//! places never granted) in tests/portal_policy.rs. Run as root, as CI does. Needs `cargo build
//! --workspace --bins`, dbus-daemon and python3-gi. A test that cannot run
//! here prints `SKIPPED: <test>: <reason>` and passes, unless CI=true or
//! WSBOX_MUST_WORK=1, where it fails instead.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "portal/client.rs"]
mod client;
#[path = "portal/harness.rs"]
mod harness;

use std::collections::BTreeSet;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use serde_json::{json, Value};
use testkit::{poll, Out, Running};

use client::*;
use harness::*;

// ---------------------------------------------------------------------------
// Which sandboxes get a bus
// ---------------------------------------------------------------------------

/// What a shell inside sees of the bus, and `wsbox ps --json`'s "bus",
/// for a sandbox run with `args`. The host's own session bus address is
/// set for wsbox and must never reach the app.
fn bus_seen(dir: &Path, args: &[&str]) -> (String, Value, Out) {
    let name = testkit::unique_name("pt-", "bus");
    let script = "echo \"addr=${DBUS_SESSION_BUS_ADDRESS-unset}\"; \
        for f in /.flatpak-info \"$XDG_RUNTIME_DIR/flatpak-info\" \"$XDG_RUNTIME_DIR/bus\"; do \
          if [ -e \"$f\" ]; then echo \"has $f\"; fi; done; echo ready; read line || true";
    let mut cmd = wsbox(&["run", "--name", &name]);
    cmd.args(args).args(["--", "sh", "-c", script]).env(
        "DBUS_SESSION_BUS_ADDRESS",
        format!("unix:path={}/host-bus", dir.display()),
    );
    let mut run = Running::start_with_stdin(cmd);
    let stdin = run.stdin();
    let ready = poll(SEE_LIMIT, || {
        run.stdout_so_far().contains("ready\n").then_some(())
    });
    assert!(
        ready.is_some(),
        "{args:?}: the shell never ran\n{}",
        run.stderr_so_far()
    );
    let entry = ps_entry(&name).unwrap_or_else(|| panic!("wsbox ps does not list {name}"));
    let requests = run_wsbox(&["requests", &name]);
    drop(stdin);
    let out = run.finish(RUN_LIMIT);
    assert_eq!(out.code(), Some(0), "{out}");
    let mut seen = out.stdout.replace("ready\n", "");
    if !requests.status.success() {
        seen.push_str(&format!("requests: {}", requests.stderr.trim()));
    }
    (seen, entry["bus"].clone(), out)
}

/// A bus (with the files toolkits look for, and the address) only where
/// there is a portal: by default with a display; never with --no-portal or
/// `[portal] enabled = false`; without a display only when the policy
/// enables it. `wsbox ps --json` says which; `wsbox requests` on a sandbox
/// without one says why.
#[test]
fn only_sandboxes_with_a_portal_get_a_bus() {
    let test = "only_sandboxes_with_a_portal_get_a_bus";
    if !ready(test, &["sh"]) {
        return;
    }
    let dir = scratch(test);
    let enabled = dir.join("enabled.toml");
    fs::write(&enabled, "[portal]\nenabled = true\n").unwrap();
    let disabled = dir.join("disabled.toml");
    fs::write(&disabled, "[portal]\nenabled = false\n").unwrap();
    let (enabled, disabled) = (enabled.to_str().unwrap(), disabled.to_str().unwrap());
    let with_bus = "addr=unix:path=/run/user/1000/bus\nhas /.flatpak-info\n\
        has /run/user/1000/flatpak-info\nhas /run/user/1000/bus\n";
    let without = "addr=unset\nrequests: wsbox: this sandbox has no portal \
        (--no-portal, or [portal] enabled = false)";
    let cases: [(&[&str], &str, bool); 5] = [
        (&["--headless"], with_bus, true),
        (&["--headless", "--no-portal"], without, false),
        (&["--headless", "--policy", disabled], without, false),
        (&["--display", "none"], without, false),
        (&["--display", "none", "--policy", enabled], with_bus, true),
    ];
    for (args, want, bus) in cases {
        let (seen, ps_bus, out) = bus_seen(&dir, args);
        assert_eq!(seen, want, "{args:?}: what the shell saw\n{out}");
        assert_eq!(ps_bus, json!(bus), "{args:?}: wsbox ps --json's bus\n{out}");
        assert_quiet(&out, &[]);
    }
}

// ---------------------------------------------------------------------------
// Hostile clients
// ---------------------------------------------------------------------------

/// Options of the wrong type, or tokens that are no path element: each
/// call fails with InvalidArgument and makes no request.
const MALFORMED: &[(&str, &str)] = &[
    ("OpenFile", "('', 't', {'multiple': <'yes'>})"),
    ("OpenFile", "('', 't', {'directory': <uint32 1>})"),
    ("OpenFile", "('', 't', {'modal': <'no'>})"),
    ("OpenFile", "('', 't', {'filters': <int32 5>})"),
    ("OpenFile", "('', 't', {'filters': <[('x', 'y')]>})"),
    (
        "OpenFile",
        "('', 't', {'filters': <[('x', [(uint32 0, 5)])]>})",
    ),
    ("OpenFile", "('', 't', {'current_filter': <'x'>})"),
    ("OpenFile", "('', 't', {'accept_label': <5>})"),
    ("OpenFile", "('', 't', {'handle_token': <'a/b'>})"),
    ("OpenFile", "('', 't', {'handle_token': <'a.b'>})"),
    ("OpenFile", "('', 't', {'handle_token': <'../../x'>})"),
    ("OpenFile", "('', 't', {'handle_token': <''>})"),
    ("OpenFile", "('', 't', {'handle_token': <uint32 3>})"),
    ("SaveFile", "('', 't', {'current_name': <5>})"),
    ("SaveFile", "('', 't', {'current_folder': <'/root'>})"),
    ("SaveFile", "('', 't', {'current_folder': <[1, 2]>})"),
    ("SaveFiles", "('', 't', {'files': <'x'>})"),
];

/// Calls that do not match the methods' signatures.
const WRONG_SIGNATURE: &[(&str, &str)] = &[
    ("OpenFile", "('', 't')"),
    ("OpenFile", "('', uint32 5, @a{sv} {})"),
    ("SaveFile", "(5, 't', @a{sv} {})"),
    ("SaveFiles", "@(sss) ('', 't', '')"),
];

/// tests/portal/race.py with `args` as the app of a headless sandbox,
/// once it printed its `owner` line: the run, its input (the app keeps
/// its connection until that closes) and its lines as `key value` pairs.
fn racer(args: &[&str]) -> (Running, std::process::ChildStdin, Vec<(String, String)>) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/portal/race.py");
    let name = testkit::unique_name("pt-", "race");
    let mut cmd = wsbox(&["run", "--headless", "--name", &name, "--ro"]);
    cmd.arg(format!("{}:/opt/race.py", script.display()))
        .args(["--", "python3", "/opt/race.py"])
        .args(args);
    let mut run = Running::start_with_stdin(cmd);
    let stdin = run.stdin();
    let seen = poll(SEE_LIMIT, || {
        let out = run.stdout_so_far();
        out.contains("owner ").then_some(out)
    })
    .unwrap_or_else(|| panic!("{args:?}: the app never finished\n{}", run.stderr_so_far()));
    let fields = seen
        .lines()
        .filter_map(|l| l.split_once(' '))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    (run, stdin, fields)
}

/// The value of `key` in [`racer`]'s lines.
fn field(fields: &[(String, String)], key: &str) -> String {
    fields
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.clone())
        .unwrap_or_else(|| panic!("no {key:?} in {fields:?}"))
}

/// Later, an app may queue for the portal's name (with ANONYMOUS the bus's
/// per-user rules do not stop it) and then get wsbox cut off the bus: it
/// asks wsbox for an unknown object whose error answer, which names the
/// path, is too big for the bus's message limit, and the bus drops the
/// connection that sends it. The name then passes to the app. wsbox must
/// notice and stop the sandbox (125, one line), so that no app serves
/// the portal for long.
#[test]
fn an_app_that_takes_the_portal_name_later_stops_its_sandbox() {
    let test = "an_app_that_takes_the_portal_name_later_stops_its_sandbox";
    if !ready(test, &["python3"]) {
        return;
    }
    let (run, stdin, seen) = racer(&["takeover"]);
    assert_eq!(field(&seen, "queued"), "2", "{seen:?}");
    assert_eq!(
        field(&seen, "owner"),
        field(&seen, "me"),
        "the takeover no longer works (wsbox kept its name): this test needs another way to \
         cut wsbox off the bus, to check what wsbox does then\n{seen:?}"
    );
    let out = run.finish(RUN_LIMIT);
    drop(stdin);
    assert_eq!(out.code(), Some(125), "{out}");
    assert!(
        out.stderr
            .contains("the sandbox's bus cut off wsbox's connection"),
        "{out}"
    );
}

/// wsbox asks for the portal's names before the daemon runs, so the app
/// starts without waiting for it (src/portal/claim.rs). An app that races
/// for the name the way wsbox asks for it, ANONYMOUS (outside the bus's
/// per-user rules) and with its whole handshake written at once, as the
/// first thing it does, never gets it: the bus answers EXISTS and names
/// wsbox's connection as the owner. (Had it won, the sandbox would stop
/// with an error; either way no app serves the portal.)
#[test]
fn an_app_racing_for_the_portal_name_never_gets_it() {
    let test = "an_app_racing_for_the_portal_name_never_gets_it";
    if !ready(test, &["python3"]) {
        return;
    }
    for round in 0..5 {
        let (run, stdin, seen) = racer(&[]);
        assert_eq!(
            field(&seen, "request"),
            "3",
            "round {round}: RequestName: {seen:?}"
        );
        assert_ne!(
            field(&seen, "owner"),
            field(&seen, "me"),
            "round {round}: {seen:?}"
        );
        drop(stdin);
        let out = run.finish(RUN_LIMIT);
        assert_eq!(out.code(), Some(0), "round {round}: {out}");
    }
}

/// One sandbox, one client with several connections, and everything an
/// app could try on the bus against wsbox's portal: claiming the portal's
/// names, malformed options, 2000 requests at once (and 500 more from a
/// second connection), a caller that leaves, closing another caller's
/// request, a folder hint pointing at /root, overlong texts, and
/// listening for another caller's answer. Each gets an error or nothing;
/// wsbox's threads and memory stay bounded, and afterwards a plain
/// OpenFile is answered with the file chosen, to its caller alone.
#[test]
fn hostile_bus_clients_get_errors_and_wsbox_keeps_serving() {
    let test = "hostile_bus_clients_get_errors_and_wsbox_keeps_serving";
    if !ready_for_client(test) {
        return;
    }
    let dir = scratch(test);
    let chosen = dir.join("chosen.txt");
    fs::write(&chosen, "chosen contents\n").unwrap();
    fs::set_permissions(&chosen, fs::Permissions::from_mode(0o644)).unwrap();
    let mut c = Client::start(test, &dir, &[]);
    let name = c.name.clone();
    c.connect("a");
    c.connect("spy");
    let owner = c.bus("a", "GetNameOwner", &format!("('{PORTAL}',)"));
    let owner = owner["value"][0]
        .as_str()
        .unwrap_or_else(|| panic!("{owner}"))
        .to_owned();
    let pid = wsbox_pid(&name);
    let app = app_pid(&name, "python3");
    let granted_at_start = granted(app);
    let (threads, rss) = usage(pid);

    // The portal's names are wsbox's alone: no claim, no queueing, no
    // other portal name; other names may be owned.
    for claimed in [
        PORTAL,
        "org.freedesktop.portal.Documents",
        "org.freedesktop.portal.Flatpak",
        "org.freedesktop.portal.Desktop2",
        "org.freedesktop.impl.portal.desktop.gtk",
    ] {
        for flags in [0, 3, 4, 7] {
            let answer = c.bus(
                "a",
                "RequestName",
                &format!("('{claimed}', uint32 {flags})"),
            );
            assert_eq!(
                error(&answer),
                "org.freedesktop.DBus.Error.AccessDenied",
                "RequestName {claimed} {flags}: {answer}"
            );
        }
    }
    let answer = c.bus("spy", "RequestName", "('org.wsbox.test.Fine', uint32 4)");
    assert_eq!(answer["value"], json!([1]), "another name: {answer}");
    let answer = c.bus("a", "ListQueuedOwners", &format!("('{PORTAL}',)"));
    assert_eq!(answer["value"], json!([[owner]]), "{answer}");

    // Malformed calls: errors, no request, no harm.
    for (method, args) in MALFORMED {
        let answer = c.portal("a", "FileChooser", method, args);
        assert_eq!(
            error(&answer),
            "org.freedesktop.portal.Error.InvalidArgument",
            "{method}{args}: {answer}"
        );
    }
    for (method, args) in WRONG_SIGNATURE {
        // zbus answers a body that does not match with its own error name
        // (org.freedesktop.zbus.Error), where D-Bus has InvalidArgs.
        let answer = c.portal("a", "FileChooser", method, args);
        let name = error(&answer);
        assert!(
            [
                "org.freedesktop.DBus.Error.InvalidArgs",
                "org.freedesktop.zbus.Error"
            ]
            .contains(&name),
            "{method}{args}: {answer}"
        );
    }
    let answer = c.portal("a", "FileChooser", "Nope", "('',)");
    assert_eq!(
        error(&answer),
        "org.freedesktop.DBus.Error.UnknownMethod",
        "{answer}"
    );
    assert_eq!(
        requests(&name),
        Some(vec![]),
        "malformed calls made requests"
    );

    // A flood: 2000 OpenFile calls at once. PENDING_MAX are taken, every
    // other one fails (wsbox's Failed, or the bus's own limit on replies
    // one connection waits for).
    let flood = c.ask(json!({
        "op": "flood", "conn": "a", "n": 2000, "method": "OpenFile", "title": "flood",
    }));
    let taken = flood["paths"].as_array().unwrap().len();
    let errors = flood["errors"].as_object().unwrap();
    let failed: u64 = errors.values().map(|n| n.as_u64().unwrap()).sum();
    assert_eq!(
        (taken, taken as u64 + failed),
        (PENDING_MAX, 2000),
        "{flood}"
    );
    for error in errors.keys() {
        assert!(
            [
                "org.freedesktop.portal.Error.Failed",
                "org.freedesktop.DBus.Error.LimitsExceeded"
            ]
            .contains(&error.as_str()),
            "{flood}"
        );
    }
    let waiting = requests(&name).unwrap();
    assert_eq!(waiting.len(), PENDING_MAX, "{waiting:?}");
    assert!(waiting.iter().all(|r| r["title"] == "flood"), "{waiting:?}");
    let flood = c.ask(json!({
        "op": "flood", "conn": "spy", "n": 500, "method": "SaveFile", "title": "more",
    }));
    assert_eq!(
        flood["paths"],
        json!([]),
        "with {PENDING_MAX} waiting: {flood}"
    );
    let (threads_now, rss_now) = usage(pid);
    assert!(
        threads_now <= threads + 4 && rss_now < rss + 50 * 1024,
        "wsbox grew from {threads} threads, {rss} kB to {threads_now} threads, {rss_now} kB"
    );
    // The caller leaves the bus: its requests go with it.
    c.ask(json!({"op": "close", "conn": "a"}));
    wait_for_no_request(&name);

    // Another caller's request can be neither closed nor dismissed.
    let caller = c.connect("caller");
    let mine = c.ask_for_file(
        "caller",
        "OpenFile",
        "('', 'mine', {'handle_token': <'mine'>})",
    );
    assert_eq!(mine, request_path(&caller, "mine"));
    let answer = c.call("spy", PORTAL, &mine, REQUEST, "Close", "()");
    assert_eq!(
        error(&answer),
        "org.freedesktop.portal.Error.NotAllowed",
        "{answer}"
    );
    let answer = c.portal(
        "spy",
        "FileChooser",
        "Close",
        &format!("(objectpath '{mine}',)"),
    );
    assert_eq!(
        error(&answer),
        "org.freedesktop.portal.Error.NotAllowed",
        "{answer}"
    );
    let mine_waits = wait_for_request(&name, "the caller's request", |r| r["title"] == "mine");
    let answer = c.call("caller", PORTAL, &mine, REQUEST, "Close", "()");
    assert_eq!(answer["ok"], true, "the caller closes its own: {answer}");
    wait_for_no_request(&name);
    let out = choose(&name, &[&id_of(&mine_waits), "--cancel"]);
    assert!(
        !out.status.success(),
        "a closed request was answered\n{out}"
    );
    // A token used twice makes two requests (as the desktop portal does);
    // GTK's FileChooser.Close closes its caller's own.
    let twice = "('', 'twice', {'handle_token': <'twice'>})";
    let first = c.ask_for_file("caller", "OpenFile", twice);
    let second = c.ask_for_file("caller", "OpenFile", twice);
    assert_eq!(first, request_path(&caller, "twice"));
    assert!(second.starts_with(&format!("{first}/")), "{first} {second}");
    for handle in [&first, &second] {
        let close = format!("(objectpath '{handle}',)");
        let answer = c.portal("caller", "FileChooser", "Close", &close);
        assert_eq!(answer["ok"], true, "{answer}");
    }
    wait_for_no_request(&name);

    // A folder hint is shown, never granted.
    let hint = c.ask_for_file(
        "caller",
        "SaveFile",
        "('', 'hint', {'handle_token': <'hint'>, 'current_folder': <b'/root'>, \
         'current_name': <'x.txt'>})",
    );
    let request = wait_for_request(&name, "the hinted save", |r| r["title"] == "hint");
    assert_eq!(request["current_folder"], "/root", "{request}");
    assert_eq!(request["current_name"], "x.txt", "{request}");
    assert_eq!(granted(app), granted_at_start, "a hint granted something");
    let host_root: BTreeSet<String> = names_in(Path::new("/root")).into_iter().collect();
    let listed = c.ask(json!({"op": "listdir", "path": "/root"}));
    let inside_root: BTreeSet<String> = listed["names"]
        .as_array()
        .map(|n| n.iter().map(|s| s.as_str().unwrap().to_owned()).collect())
        .unwrap_or_default();
    assert!(
        inside_root.intersection(&host_root).next().is_none(),
        "the host's /root is inside: {listed}"
    );
    let out = choose(&name, &[&id_of(&request), "--cancel"]);
    assert!(out.status.success(), "{out}");
    let response = c.response_to("caller", &hint);
    assert_eq!(response["code"], 1, "a cancelled save: {response}");
    assert_eq!(response["results"]["uris"], json!([]), "{response}");
    assert_eq!(granted(app), granted_at_start, "a cancel granted something");

    // What the app says is cut to size before the user sees it.
    let filter = format!("('f', [{}])", vec!["(uint32 0, '*.x')"; 40].join(", "));
    let filters = vec![filter; 40].join(", ");
    let title = format!("{}\\t\\n{}", "T".repeat(200), "U".repeat(800));
    let long = c.ask_for_file(
        "caller",
        "OpenFile",
        &format!("('', '{title}', {{'handle_token': <'long'>, 'filters': <[{filters}]>}})"),
    );
    let request = wait_for_request(&name, "the long request", |r| {
        r["title"].as_str().is_some_and(|t| t.starts_with("TTT"))
    });
    let shown = request["title"].as_str().unwrap();
    assert!(
        shown.len() <= 256 && !shown.contains(['\t', '\n']),
        "{shown:?}"
    );
    let filters = request["filters"].as_array().unwrap();
    assert_eq!(filters.len(), 32, "{request}");
    assert!(filters
        .iter()
        .all(|f| f["patterns"].as_array().unwrap().len() <= 32));
    let out = choose(&name, &[&id_of(&request), "--cancel"]);
    assert!(out.status.success(), "{out}");
    assert_eq!(c.response_to("caller", &long)["code"], 1);

    // The answer goes to its caller alone: the spy listens for every
    // Response, with an eavesdropping match rule too, and hears none.
    let rule = format!("type='signal',interface='{REQUEST}',eavesdrop='true'");
    let answer = c.bus("spy", "AddMatch", &format!("(\"{rule}\",)"));
    eprintln!("an eavesdropping match rule: {answer}");
    let pick = c.ask_for_file(
        "caller",
        "OpenFile",
        "('', 'pick', {'handle_token': <'pick'>})",
    );
    let request = wait_for_request(&name, "the plain OpenFile", |r| r["title"] == "pick");
    assert_eq!(request["kind"], "open", "{request}");
    let out = choose(&name, &[&id_of(&request), chosen.to_str().unwrap()]);
    assert!(out.status.success(), "{out}");
    let doc = out.stdout.trim().to_owned();
    assert!(
        doc.starts_with("/run/wsbox/docs/") && doc.ends_with("/chosen.txt"),
        "{out}"
    );
    let response = c.response_to("caller", &pick);
    assert_eq!(response["code"], 0, "{response}");
    assert_eq!(response["sender"], owner.as_str(), "{response}");
    assert_eq!(
        response["results"]["uris"],
        json!([format!("file://{doc}")]),
        "{response}"
    );
    assert_eq!(c.read(&doc)["text"], "chosen contents\n");
    // A round trip on the spy's connection: a Response routed to it would
    // have reached it before this reply.
    let answer = c.bus("spy", "GetId", "()");
    assert_eq!(answer["ok"], true, "{answer}");
    assert_eq!(
        c.responses("spy"),
        Vec::<Value>::new(),
        "the spy heard an answer"
    );
    let seen = c.ask(json!({"op": "seen", "conn": "spy"}));
    assert_eq!(seen["seen"], json!([]), "a Response reached the spy");
    // The same look on the caller's connection does see its answer.
    let seen = c.ask(json!({"op": "seen", "conn": "caller"}));
    let reached = seen["seen"].as_array().unwrap();
    assert!(reached.iter().any(|m| m["path"] == pick.as_str()), "{seen}");
    // The caller heard wsbox alone, and nothing for what it closed.
    let all = c.responses("caller");
    assert!(all.iter().all(|r| r["sender"] == owner.as_str()), "{all:?}");
    let heard: Vec<&str> = all.iter().map(|r| r["path"].as_str().unwrap()).collect();
    assert_eq!(heard, [&hint, &long, &pick], "{all:?}");

    // wsbox still serves, and grew no more.
    assert_eq!(requests(&name), Some(vec![]));
    let answer = c.portal(
        "spy",
        "Settings",
        "ReadOne",
        "('org.freedesktop.appearance', 'color-scheme')",
    );
    assert_eq!(answer["ok"], true, "{answer}");
    let (threads_now, rss_now) = usage(pid);
    assert!(
        threads_now <= threads + 4 && rss_now < rss + 50 * 1024,
        "wsbox grew from {threads} threads, {rss} kB to {threads_now} threads, {rss_now} kB"
    );
    let out = c.finish();
    assert_eq!(out.code(), Some(0), "{out}");
    assert_quiet(&out, &[]);
}

/// The bus's monitoring interface is not the app's: a monitor would hear
/// every message on the bus, the portal's answers to other callers too.
/// (dbus-daemon lets a connection of its own uid monitor, and it runs as
/// the app does; the bus's policy has to refuse it.)
#[test]
fn the_app_cannot_monitor_its_bus() {
    let test = "the_app_cannot_monitor_its_bus";
    if !ready_for_client(test) {
        return;
    }
    let dir = scratch(test);
    let mut c = Client::start(test, &dir, &[]);
    c.connect("monitor");
    let answer = c.call(
        "monitor",
        BUS,
        BUS_PATH,
        "org.freedesktop.DBus.Monitoring",
        "BecomeMonitor",
        "(@as [], uint32 0)",
    );
    assert_eq!(
        error(&answer),
        "org.freedesktop.DBus.Error.AccessDenied",
        "BecomeMonitor: {answer}"
    );
    let out = c.finish();
    assert_eq!(out.code(), Some(0), "{out}");
}
