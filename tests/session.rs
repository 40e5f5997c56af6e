//! End-to-end tests of `wsbox session`, the D-Bus API org.wsbox.Manager1,
//! and of the library through examples/embed.rs.
//!
//! Each test runs a session bus of its own (`testkit::HostBus`) where the
//! service is D-Bus activated from the very file `make install` installs
//! (data/org.wsbox.Manager1.service.in, pointed at the built wsbox). The
//! calls are made with gdbus, as a shell script would, and with zbus where
//! a file descriptor is passed or a wrong signature is sent on purpose.
//! Behind the service are real sandboxes: gtk3-demo headless, `sleep`.
//!
//! Links opened inside a sandbox (`portal.open_uri`) go through the same
//! service: `xdg-open` in one sandbox starts firefox-esr in another.
//!
//! A test that cannot run prints `SKIPPED: <test>: <reason>` and passes,
//! unless CI=true or WSBOX_MUST_WORK=1, where it fails instead.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use testkit::{output, poll, wsbox_command, HostBus, Image, Out, Running};
use zbus::zvariant::Fd;

const NAME: &str = "org.wsbox.Manager1";
const PATH: &str = "/org/wsbox/Manager1";
/// What a call or a sandbox may take, on a busy machine.
const LIMIT: Duration = Duration::from_secs(60);

fn root_dir() -> &'static Path {
    testkit::root_dir("session", true)
}

/// A test's bus, with wsbox session activatable on it, and the runtime
/// directory the sandboxes it starts live in.
struct Session {
    bus: HostBus,
    runtime: PathBuf,
    /// Sandboxes to stop should the test fail half-way.
    started: Vec<String>,
    /// `gdbus monitor` of the service's signals.
    monitor: Option<Running>,
}

impl Session {
    fn start(test: &str) -> Option<Session> {
        let ready = testkit::ready_as_root(test, &["dbus-daemon", "gdbus", "gtk3-demo"], || {
            wsbox_command(
                &root_dir().join("run"),
                &["run", "--display", "none", "--", "true"],
            )
        });
        if !ready {
            return None;
        }
        let dir = testkit::scratch_in(root_dir(), test, 0o755);
        let bus = HostBus::start(&dir, None).unwrap();
        let service = include_str!("../data/org.wsbox.Manager1.service.in").replace(
            "@bindir@",
            testkit::wsbox_exe().parent().unwrap().to_str().unwrap(),
        );
        fs::write(dir.join("services/org.wsbox.Manager1.service"), service).unwrap();
        let runtime = testkit::scratch_in(&dir, "run", 0o700);
        let session = Session {
            bus,
            runtime,
            started: Vec::new(),
            monitor: None,
        };
        // As a desktop session does (dbus-update-activation-environment):
        // the service finds the user's runtime directory.
        // A home of the test's own: a profile's kept home is made there.
        let home = testkit::scratch_in(&dir, "home", 0o700);
        let env = format!(
            "{{'XDG_RUNTIME_DIR': '{}', 'HOME': '{}', 'WSBOX_LOG': 'warn'}}",
            session.runtime.display(),
            home.display()
        );
        let out = session.call_bus("UpdateActivationEnvironment", &[&env]);
        assert!(out.status.success(), "{out:?}");
        Some(session)
    }

    fn gdbus(&self, args: &[&str]) -> Command {
        let mut cmd = self.bus.command("gdbus");
        cmd.args(args);
        cmd
    }

    /// `gdbus call` of the daemon's `method`.
    fn call_bus(&self, method: &str, args: &[&str]) -> Out {
        let mut cmd = self.gdbus(&[
            "call",
            "--session",
            "--dest",
            "org.freedesktop.DBus",
            "--object-path",
            "/org/freedesktop/DBus",
            "--method",
        ]);
        cmd.arg(format!("org.freedesktop.DBus.{method}")).args(args);
        output(cmd, LIMIT)
    }

    /// `gdbus call` of the service's `method`.
    fn call(&self, method: &str, args: &[&str]) -> Out {
        let mut cmd = self.gdbus(&[
            "call",
            "--session",
            "--timeout",
            "60",
            "--dest",
            NAME,
            "--object-path",
            PATH,
            "--method",
        ]);
        cmd.arg(format!("{NAME}.{method}")).args(args);
        output(cmd, LIMIT)
    }

    /// A call that must succeed; its printed reply.
    fn ok(&self, method: &str, args: &[&str]) -> String {
        let out = self.call(method, args);
        assert!(out.status.success(), "{method} failed: {out:?}");
        out.stdout.trim().to_owned()
    }

    /// Starts a sandbox through Run; its name.
    fn run(&mut self, name: &str, argv: &str, display: &str) -> String {
        let options = format!("{{'name': <'{name}'>, 'display': <'{display}'>}}");
        let reply = self.ok("Run", &["", argv, &options]);
        assert_eq!(reply, format!("('{name}',)"));
        self.started.push(name.to_owned());
        name.to_owned()
    }

    fn connection(&self) -> zbus::blocking::Connection {
        zbus::blocking::connection::Builder::address(self.bus.address.as_str())
            .unwrap()
            .build()
            .unwrap()
    }

    /// The service's pid, as the bus knows it.
    fn service_pid(&self) -> i32 {
        let out = self.call_bus("GetConnectionUnixProcessID", &[NAME]);
        assert!(out.status.success(), "{out:?}");
        // `(uint32 1234,)`
        let digits: String = out
            .stdout
            .trim_start_matches("(uint32 ")
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        digits.parse().unwrap()
    }

    /// Starts watching the service's signals (it must be running).
    fn watch(&mut self) {
        let cmd = self.gdbus(&["monitor", "--session", "--dest", NAME]);
        let monitor = Running::start(cmd);
        // gdbus says whom it watches once it has subscribed.
        poll(LIMIT, || {
            monitor
                .stdout_so_far()
                .contains("is owned by")
                .then_some(())
        })
        .unwrap_or_else(|| panic!("gdbus monitor did not start: {}", monitor.stderr_so_far()));
        self.monitor = Some(monitor);
    }

    /// Waits for a signal line that contains every one of `parts`.
    fn signal(&self, parts: &[&str]) -> String {
        let monitor = self.monitor.as_ref().unwrap();
        poll(LIMIT, || {
            monitor
                .stdout_so_far()
                .lines()
                .find(|l| parts.iter().all(|p| l.contains(p)))
                .map(str::to_owned)
        })
        .unwrap_or_else(|| {
            panic!(
                "no signal with {parts:?}; the monitor saw:\n{}",
                monitor.stdout_so_far()
            )
        })
    }

    /// `wsbox ARGS` in the sandboxes' runtime directory.
    fn wsbox(&self, args: &[&str]) -> Out {
        output(wsbox_command(&self.runtime, args), LIMIT)
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        for name in &self.started {
            let _ = self.wsbox(&["stop", "--force", name]);
        }
        if let Some(monitor) = self.monitor.take() {
            monitor.kill(Duration::from_secs(5));
        }
    }
}

/// The error name and message of a failed zbus call.
fn dbus_error(result: zbus::Result<zbus::message::Message>) -> (String, String) {
    match result {
        Err(zbus::Error::MethodError(name, message, _)) => {
            (name.to_string(), message.unwrap_or_default())
        }
        other => panic!("expected a D-Bus error, got {other:?}"),
    }
}

#[test]
fn session_runs_lists_grants_and_stops_real_sandboxes() {
    let test = "session_runs_lists_grants_and_stops_real_sandboxes";
    let Some(mut session) = Session::start(test) else {
        return;
    };
    // The first call starts the service (D-Bus activation).
    assert_eq!(session.ok("List", &[]), "(@a(sussssas) [],)");
    session.watch();

    let name = session.run("sess-a", "['gtk3-demo']", "headless");
    session.signal(&["Started", "'sess-a'"]);
    session.signal(&["WindowsChanged", "'sess-a'", "gtk3-demo"]);
    // The command line sees the same sandbox, with its bus.
    let ps = session.wsbox(&["ps", "--json"]);
    assert!(ps.stdout.contains("\"sess-a\""), "{ps:?}");
    let windows = session.wsbox(&["windows", &name, "--json"]);
    let windows: serde_json::Value = serde_json::from_str(&windows.stdout).unwrap();
    assert_eq!(windows[0]["bus"], true, "{windows}");

    // AddFile takes an open file, never a path.
    let dir = testkit::scratch_in(root_dir(), "files", 0o755);
    let note = dir.join("note.txt");
    fs::write(&note, "granted through the session\n").unwrap();
    let conn = session.connection();
    let call = |args: &(&str, Fd<'_>, bool)| {
        conn.call_method(Some(NAME), PATH, Some(NAME), "AddFile", args)
    };
    let read_only = fs::File::open(&note).unwrap();
    let inside: String = call(&(&name, Fd::from(read_only.as_fd()), false))
        .unwrap()
        .body()
        .deserialize()
        .unwrap();
    assert!(inside.starts_with("/run/wsbox/files/"), "{inside}");
    let note_str = note.to_str().unwrap();
    session.signal(&["FileGranted", "'sess-a'", note_str, &inside, "read-only"]);
    let listed = session.ok("List", &[]);
    assert!(
        listed.contains("'sess-a'") && listed.contains(note_str),
        "{listed}"
    );
    let files = session.wsbox(&["files", &name]);
    assert!(files.stdout.contains(&inside), "{files:?}");

    // Writable needs a descriptor open for writing.
    let (error, message) = dbus_error(call(&(&name, Fd::from(read_only.as_fd()), true)));
    assert_eq!(error, "org.wsbox.Manager1.Error.Failed");
    assert!(message.contains("read-only"), "{message}");
    let doc = dir.join("doc.txt");
    fs::write(&doc, "a document\n").unwrap();
    let read_write = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&doc)
        .unwrap();
    let inside_doc: String = call(&(&name, Fd::from(read_write.as_fd()), true))
        .unwrap()
        .body()
        .deserialize()
        .unwrap();
    assert!(inside_doc.starts_with("/run/wsbox/docs/"), "{inside_doc}");
    session.signal(&["FileGranted", "'sess-a'", doc.to_str().unwrap(), "document"]);

    let removed = session.ok("RemoveFile", &[&name, note_str]);
    assert_eq!(removed, format!("('{inside}',)"));
    let files = session.wsbox(&["files", &name]);
    assert!(!files.stdout.contains(&inside), "{files:?}");

    assert_eq!(session.ok("Stop", &[&name]), "()");
    session.signal(&["Stopped", "'sess-a'"]);
    assert_eq!(session.ok("List", &[]), "(@a(sussssas) [],)");
}

#[test]
fn session_answers_wrong_calls_with_clear_errors() {
    let test = "session_answers_wrong_calls_with_clear_errors";
    let Some(mut session) = Session::start(test) else {
        return;
    };
    session.started.push("sess-w".into());
    session.ok("List", &[]);
    let conn = session.connection();
    // A path where a file descriptor belongs: the signature is refused by
    // zbus before the method runs, under zbus's own error name.
    let (error, message) = dbus_error(conn.call_method(
        Some(NAME),
        PATH,
        Some(NAME),
        "AddFile",
        &("sess-x", "/etc/shadow", false),
    ));
    assert_eq!(error, "org.freedesktop.zbus.Error", "{message}");
    assert!(
        message.contains("Signature mismatch: got `(ssb)`, expected `(shb)`"),
        "{message}"
    );

    // Names that run nothing.
    let devnull = fs::File::open("/dev/null").unwrap();
    for name in ["nope", "../../etc", ""] {
        let (error, message) = dbus_error(conn.call_method(
            Some(NAME),
            PATH,
            Some(NAME),
            "AddFile",
            &(name, Fd::from(devnull.as_fd()), false),
        ));
        assert_eq!(
            error, "org.wsbox.Manager1.Error.NoSuchSandbox",
            "{name}: {message}"
        );
        let out = session.call("Stop", &[name]);
        assert!(!out.status.success());
        assert!(
            out.stderr
                .contains("org.wsbox.Manager1.Error.NoSuchSandbox"),
            "{out:?}"
        );
    }

    let refused = |args: &[&str], error: &str, says: &str| {
        let out = session.call("Run", args);
        assert!(!out.status.success(), "{args:?} ran: {out:?}");
        assert!(out.stderr.contains(error), "{args:?}: {out:?}");
        assert!(out.stderr.contains(says), "{args:?}: {out:?}");
    };
    let invalid = "org.wsbox.Manager1.Error.InvalidArgs";
    refused(&["", "@as []", "{}"], invalid, "no program");
    refused(
        &["", "['true']", "{'bogus': <'x'>}"],
        invalid,
        "unknown option",
    );
    refused(
        &["", "['true']", "{'name': <7>}"],
        invalid,
        "must be a string",
    );
    refused(
        &["no-such-profile", "['true']", "{'display': <'none'>}"],
        invalid,
        "unknown profile \"no-such-profile\"",
    );
    refused(
        &["", "['true']", "{'name': <'../x'>}"],
        invalid,
        "invalid sandbox name",
    );
    refused(
        &["", "['true']", "{'name': <'--help'>}"],
        invalid,
        "invalid sandbox name",
    );
    let out = session.call("RemoveFile", &["nope", "relative/path"]);
    assert!(out.stderr.contains(invalid), "{out:?}");

    // A file named in argv stays a string: only AddFile grants.
    let secret = testkit::scratch_in(root_dir(), "secret", 0o755).join("secret.txt");
    fs::write(&secret, "not for the sandbox\n").unwrap();
    let argv = format!("['sh', '-c', 'sleep 300', 'sh', '{}']", secret.display());
    let reply = session.ok(
        "Run",
        &["", &argv, "{'name': <'sess-w'>, 'display': <'none'>}"],
    );
    assert_eq!(reply, "('sess-w',)");
    let listed = session.ok("List", &[]);
    assert!(
        listed.contains("'sess-w'") && !listed.contains("secret.txt"),
        "{listed}"
    );
    // The kernel's views are never granted, even passed open.
    let environ = fs::File::open("/proc/self/environ").unwrap();
    let (error, message) = dbus_error(conn.call_method(
        Some(NAME),
        PATH,
        Some(NAME),
        "AddFile",
        &("sess-w", Fd::from(environ.as_fd()), false),
    ));
    assert_eq!(error, "org.wsbox.Manager1.Error.Failed", "{message}");
    assert!(message.contains("is never granted"), "{message}");
    assert_eq!(session.ok("Stop", &["sess-w"]), "()");

    // And the service is still there.
    poll(LIMIT, || {
        (session.ok("List", &[]) == "(@a(sussssas) [],)").then_some(())
    })
    .expect("sess-w is still listed");
}

#[test]
fn session_keeps_nothing_a_crash_would_lose() {
    let test = "session_keeps_nothing_a_crash_would_lose";
    let Some(mut session) = Session::start(test) else {
        return;
    };
    let name = session.run("sess-c", "['sleep', '300']", "none");
    let first = session.service_pid();
    // SAFETY: kill(2) of the service the bus named.
    assert_eq!(unsafe { libc::kill(first, libc::SIGKILL) }, 0);
    // The sandbox goes on; the next call starts a new service that finds it.
    let listed = poll(LIMIT, || {
        let out = session.call("List", &[]);
        out.stdout.contains("'sess-c'").then_some(out.stdout)
    })
    .expect("the sandbox was not listed after the service was restarted");
    assert!(listed.contains("'none'"), "{listed}");
    let second = session.service_pid();
    assert_ne!(first, second);
    assert_eq!(session.ok("Stop", &[&name]), "()");
    poll(LIMIT, || {
        (session.ok("List", &[]) == "(@a(sussssas) [],)").then_some(())
    })
    .expect("the stopped sandbox is still listed");

    // The service ends with its bus.
    drop(session);
    poll(LIMIT, || {
        (!Path::new(&format!("/proc/{second}")).exists()).then_some(())
    })
    .unwrap_or_else(|| panic!("wsbox session (pid {second}) outlived its bus"));
}

#[test]
fn embed_example_screenshots_a_real_app() {
    let test = "embed_example_screenshots_a_real_app";
    let ready = testkit::ready_as_root(test, &["gtk3-demo"], || {
        wsbox_command(
            &root_dir().join("run"),
            &["run", "--display", "none", "--", "true"],
        )
    });
    if !ready {
        return;
    }
    let example = testkit::target_dir().join("examples/embed");
    assert!(
        example.is_file(),
        "{} is not built (cargo test builds the examples)",
        example.display()
    );
    let dir = testkit::scratch_in(root_dir(), "embed", 0o755);
    let runtime = testkit::scratch_in(&dir, "run", 0o700);
    let shot = dir.join("shot.png");
    let bin = testkit::wsbox_exe().parent().unwrap().to_owned();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut cmd = Command::new(&example);
    cmd.arg(&shot)
        .arg("gtk3-demo")
        .env("PATH", path)
        .env("XDG_RUNTIME_DIR", &runtime)
        .env_remove("WAYLAND_DISPLAY")
        .env_remove("WAYLAND_SOCKET");
    let out = output(cmd, LIMIT);
    assert!(out.status.success(), "{out:?}");
    assert!(out.stdout.contains("(gtk3-demo)"), "{out:?}");
    let image = Image::load(&shot);
    assert_eq!((image.width, image.height), (800, 600));
    // gtk3-demo's window: many colours (text, widgets), not an empty output.
    let colours = image.colours(0, 0, 800, 600);
    assert!(colours.len() > 20, "{} colours only", colours.len());
    let ps = output(wsbox_command(&runtime, &["ps", "--json"]), LIMIT);
    assert_eq!(ps.stdout.trim(), "[]", "{ps:?}");
}

#[test]
fn a_link_opened_inside_starts_the_browser_sandbox_the_policy_names() {
    let test = "a_link_opened_inside_starts_the_browser_sandbox_the_policy_names";
    if !testkit::have_programs(test, &["xdg-open", "firefox-esr"]) {
        return;
    }
    let Some(mut session) = Session::start(test) else {
        return;
    };
    let dir = testkit::scratch_in(root_dir(), "links", 0o755);
    let policy = dir.join("links.toml");
    fs::write(&policy, "[portal]\nopen_uri = { sandbox = \"browser\" }\n").unwrap();
    let link = "https://example.org/wsbox-link";
    // xdg-open uses the portal where /.flatpak-info is, as it is inside.
    let script =
        format!("xdg-open {link}; echo \"xdg-open: $?\"; xdg-open file:///etc/passwd; sleep 300");
    let mut cmd = wsbox_command(
        &session.runtime,
        &[
            "run",
            "--headless",
            "--name",
            "links-a",
            "--policy",
            policy.to_str().unwrap(),
            "--",
            "sh",
            "-c",
            &script,
        ],
    );
    cmd.env("DBUS_SESSION_BUS_ADDRESS", &session.bus.address);
    let app = Running::start(cmd);
    session
        .started
        .extend(["links-a".to_owned(), "browser".to_owned()]);

    // The browser sandbox, named after its profile, runs firefox-esr with
    // the link.
    let pid = poll(LIMIT, || {
        let ps = session.wsbox(&["ps", "--json"]);
        let list: serde_json::Value = serde_json::from_str(&ps.stdout).ok()?;
        list.as_array()?
            .iter()
            .find(|s| s["name"] == "browser")
            .map(|s| {
                assert_eq!(s["profile"], "browser", "{s}");
                assert_eq!(s["program"], "firefox-esr", "{s}");
                s["pid"].as_i64().unwrap() as i32
            })
    })
    .unwrap_or_else(|| {
        panic!(
            "no browser sandbox started; the app said:\n{}{}",
            app.stdout_so_far(),
            app.stderr_so_far()
        )
    });
    let given = testkit::process::tree(pid).into_iter().any(|p| {
        fs::read(format!("/proc/{p}/cmdline"))
            .is_ok_and(|c| String::from_utf8_lossy(&c).contains(&format!("firefox-esr\0{link}")))
    });
    assert!(given, "firefox-esr was not given {link}");
    // It shows its window.
    poll(LIMIT, || {
        let out = session.wsbox(&["windows", "browser", "--json"]);
        out.stdout.contains("firefox-esr").then_some(())
    })
    .expect("firefox-esr showed no window");
    // The app was told it went; a file link was refused, with the reason.
    poll(LIMIT, || {
        (app.stdout_so_far().contains("xdg-open: 0")
            && app
                .stderr_so_far()
                .contains("a link was not opened: links of scheme \"file\" are not opened"))
        .then_some(())
    })
    .unwrap_or_else(|| {
        panic!(
            "the app's side:\n{}{}",
            app.stdout_so_far(),
            app.stderr_so_far()
        )
    });
    // One browser only: the file link started nothing.
    let ps = session.wsbox(&["ps", "--json"]);
    assert_eq!(ps.stdout.matches("firefox-esr").count(), 1, "{ps:?}");
    for name in ["browser", "links-a"] {
        session.wsbox(&["stop", "--force", name]);
    }
    app.kill(LIMIT);
}

#[test]
fn links_are_denied_by_default() {
    let test = "links_are_denied_by_default";
    let Some(session) = Session::start(test) else {
        return;
    };
    let mut cmd = wsbox_command(
        &session.runtime,
        &[
            "run",
            "--headless",
            "--",
            "sh",
            "-c",
            "xdg-open https://example.org/; echo \"xdg-open: $?\"",
        ],
    );
    cmd.env("DBUS_SESSION_BUS_ADDRESS", &session.bus.address);
    let out = output(cmd, LIMIT);
    assert!(out.status.success(), "{out:?}");
    assert!(out.stdout.contains("xdg-open: 0"), "{out:?}");
    assert!(
        out.stderr
            .contains("a link was not opened: the policy denies it (portal.open_uri)"),
        "{out:?}"
    );
    // Nothing was asked of the host: the service never started.
    let owner = session.call_bus("NameHasOwner", &[NAME]);
    assert_eq!(owner.stdout.trim(), "(false,)", "{owner:?}");
}

#[test]
fn a_link_for_the_host_goes_to_the_host_portal_which_asks_the_user() {
    use testkit::hostbus::{PYTHON, XDG_DESKTOP_PORTAL};
    let test = "a_link_for_the_host_goes_to_the_host_portal_which_asks_the_user";
    let ready = testkit::ready_as_root(test, &["dbus-daemon", "xdg-open"], || {
        wsbox_command(
            &root_dir().join("run"),
            &["run", "--display", "none", "--", "true"],
        )
    });
    if !ready {
        return;
    }
    for program in [PYTHON, XDG_DESKTOP_PORTAL] {
        if !Path::new(program).exists() {
            return testkit::skip(test, &format!("{program} not installed"));
        }
    }
    let dir = testkit::scratch_in(root_dir(), "host-link", 0o755);
    let bus = HostBus::with_portal(&dir, None).unwrap();
    let runtime = testkit::scratch_in(&dir, "run", 0o700);
    let policy = dir.join("host.toml");
    fs::write(&policy, "[portal]\nopen_uri = \"host\"\n").unwrap();
    let link = "https://example.org/host-link";
    let script = format!("xdg-open {link}; echo \"xdg-open: $?\"");
    let mut cmd = wsbox_command(
        &runtime,
        &[
            "run",
            "--headless",
            "--policy",
            policy.to_str().unwrap(),
            "--",
            "sh",
            "-c",
            &script,
        ],
    );
    cmd.env("DBUS_SESSION_BUS_ADDRESS", &bus.address);
    let out = output(cmd, LIMIT);
    assert!(
        out.status.success() && out.stdout.contains("xdg-open: 0"),
        "{out:?}"
    );
    // The host's portal asked its user which app opens the link (the test
    // backend cancels), as it does for the host's own apps.
    let asked = poll(LIMIT, || {
        let calls = bus.calls_of("ChooseApplication");
        (!calls.is_empty()).then_some(calls)
    })
    .unwrap_or_else(|| panic!("the host's portal asked nothing\n{}", bus.logs()));
    assert_eq!(asked.len(), 1, "{asked:?}");
    assert_eq!(asked[0]["options"]["uri"], link, "{asked:?}");
    assert_eq!(
        asked[0]["app_id"], "",
        "the opener is a host app: {asked:?}"
    );
    assert!(!out.stderr.contains("a link was not opened"), "{out:?}");
}
