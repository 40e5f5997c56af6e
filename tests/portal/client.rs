//! tests/portal/client.py as the tests drive it: [`Client`] runs it as
//! the app of a headless sandbox and asks it, one JSON line at a time, to
//! connect to the sandbox's bus and call what the test says; and what the
//! tests of the portal's bus share besides.

#![allow(dead_code)]

use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::ChildStdin;
use std::time::Duration;

use serde_json::{json, Value};
use testkit::{output, poll, status_field, Out, Running};

use crate::harness::*;

pub const PORTAL: &str = "org.freedesktop.portal.Desktop";
pub const PORTAL_PATH: &str = "/org/freedesktop/portal/desktop";
pub const REQUEST: &str = "org.freedesktop.portal.Request";
pub const BUS: &str = "org.freedesktop.DBus";
pub const BUS_PATH: &str = "/org/freedesktop/DBus";
/// The most requests that wait at once (src/portal/registry.rs).
pub const PENDING_MAX: usize = 4;
/// How long one step of the client may take (a flood of 2000 calls on a
/// busy machine).
const ASK_LIMIT: Duration = Duration::from_secs(120);

// ---------------------------------------------------------------------------
// The client inside
// ---------------------------------------------------------------------------

/// Whether `test` can run the client: as root, sandboxes work, and
/// Debian's python3 has GLib's bindings.
pub fn ready_for_client(test: &str) -> bool {
    if !ready(test, &["python3"]) {
        return false;
    }
    let mut check = std::process::Command::new("/usr/bin/python3");
    check.args([
        "-c",
        "import gi; gi.require_version('Gio', '2.0'); from gi.repository import Gio",
    ]);
    let out = output(check, COMMAND_LIMIT);
    if !out.status.success() {
        testkit::skip(test, "/usr/bin/python3 has no GLib bindings (python3-gi)");
        return false;
    }
    true
}

/// tests/portal/client.py running as the app of a headless sandbox.
pub struct Client {
    pub name: String,
    run: Option<Running>,
    stdin: Option<ChildStdin>,
    /// Answers read so far.
    answers: usize,
}

impl Client {
    /// Starts the client in a new sandbox with `args` (policy, …) before
    /// the program; the script goes into `dir` and is granted as the
    /// program's argument.
    pub fn start(test: &str, dir: &Path, args: &[&str]) -> Client {
        let script = dir.join("client.py");
        fs::write(&script, include_str!("client.py")).unwrap();
        fs::set_permissions(&script, fs::Permissions::from_mode(0o644)).unwrap();
        let name = testkit::unique_name("pt-", test);
        let mut cmd = wsbox(&["run", "--name", &name, "--headless"]);
        cmd.args(args).args(["--", "/usr/bin/python3"]).arg(&script);
        let mut run = Running::start_with_stdin(cmd);
        let stdin = run.stdin();
        let mut client = Client {
            name,
            run: Some(run),
            stdin: Some(stdin),
            answers: 0,
        };
        let ready = client.next_answer();
        assert_eq!(ready["ready"], true, "{ready}");
        client
    }

    pub fn running(&mut self) -> &mut Running {
        self.run.as_mut().expect("the client runs until finish")
    }

    /// The next answer line of the client, once it printed one.
    pub fn next_answer(&mut self) -> Value {
        let want = self.answers;
        let found = poll(ASK_LIMIT, || {
            let text = self.running().stdout_so_far();
            if let Some(line) = text.lines().filter(|l| l.starts_with("@@ ")).nth(want) {
                return Some(Ok(line[3..].to_owned()));
            }
            self.running().try_wait().map(Err)
        });
        match found {
            Some(Ok(line)) => {
                self.answers += 1;
                serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"))
            }
            Some(Err(status)) => panic!("the sandbox ended ({status})\n{}", self.describe()),
            None => panic!(
                "the client did not answer within {ASK_LIMIT:?}\n{}",
                self.describe()
            ),
        }
    }

    /// What wsbox and the client printed so far.
    pub fn describe(&mut self) -> String {
        let run = self.running();
        format!(
            "--- stdout ---\n{}\n--- stderr ---\n{}\n--- end ---",
            run.stdout_so_far(),
            run.stderr_so_far()
        )
    }

    /// Sends `request` to the client and returns its answer.
    pub fn ask(&mut self, request: Value) -> Value {
        let line = format!("{request}\n");
        let stdin = self.stdin.as_mut().expect("stdin until finish");
        stdin.write_all(line.as_bytes()).unwrap();
        stdin.flush().unwrap();
        self.next_answer()
    }

    /// A new connection `conn` to the bus; its unique name.
    pub fn connect(&mut self, conn: &str) -> String {
        let answer = self.ask(json!({"op": "connect", "conn": conn}));
        assert_eq!(answer["ok"], true, "{answer}");
        answer["unique"].as_str().unwrap().to_owned()
    }

    /// One method call on `conn`, `args` in GVariant text format.
    pub fn call(
        &mut self,
        conn: &str,
        dest: &str,
        path: &str,
        iface: &str,
        method: &str,
        args: &str,
    ) -> Value {
        self.ask(json!({
            "op": "call", "conn": conn, "dest": dest, "path": path,
            "iface": iface, "method": method, "args": args,
        }))
    }

    /// A call of the portal's `iface` (org.freedesktop.portal.IFACE).
    pub fn portal(&mut self, conn: &str, iface: &str, method: &str, args: &str) -> Value {
        let iface = format!("org.freedesktop.portal.{iface}");
        self.call(conn, PORTAL, PORTAL_PATH, &iface, method, args)
    }

    /// A call of the bus itself.
    pub fn bus(&mut self, conn: &str, method: &str, args: &str) -> Value {
        self.call(conn, BUS, BUS_PATH, BUS, method, args)
    }

    /// A FileChooser call that must make a request: its object path.
    pub fn ask_for_file(&mut self, conn: &str, method: &str, args: &str) -> String {
        let answer = self.portal(conn, "FileChooser", method, args);
        assert_eq!(answer["ok"], true, "{method}{args}: {answer}");
        answer["value"][0].as_str().unwrap().to_owned()
    }

    /// The Response signals `conn`'s subscription delivered.
    pub fn responses(&mut self, conn: &str) -> Vec<Value> {
        let answer = self.ask(json!({"op": "responses", "conn": conn}));
        answer["responses"].as_array().cloned().unwrap_or_default()
    }

    /// Waits for the Response to request `path` on `conn`.
    pub fn response_to(&mut self, conn: &str, path: &str) -> Value {
        let found = poll(SEE_LIMIT, || {
            self.responses(conn).into_iter().find(|r| r["path"] == path)
        });
        found.unwrap_or_else(|| panic!("no Response to {path} on {conn}\n{}", self.describe()))
    }

    /// A file inside, as the app reads it.
    pub fn read(&mut self, path: &str) -> Value {
        self.ask(json!({"op": "read", "path": path}))
    }

    /// Ends the client (its stdin closes) and the sandbox with it.
    pub fn finish(mut self) -> Out {
        drop(self.stdin.take());
        self.run.take().unwrap().finish(RUN_LIMIT)
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        if self.run.is_some() {
            let _ = run_wsbox(&["stop", &self.name, "--force"]);
        }
    }
}

/// The D-Bus error name of a failed call; fails the test on success.
pub fn error(answer: &Value) -> &str {
    assert_eq!(answer["ok"], false, "the call succeeded: {answer}");
    answer["error"].as_str().unwrap_or_default()
}

/// Threads and resident memory (kB) of process `pid`.
pub fn usage(pid: i32) -> (u64, u64) {
    let field = |name: &str| -> u64 {
        let value = status_field(pid, name).unwrap_or_else(|| panic!("{pid} has no {name}"));
        value.split_whitespace().next().unwrap().parse().unwrap()
    };
    (field("Threads:"), field("VmRSS:"))
}

/// The portal's request path for caller `unique` and `token`.
pub fn request_path(unique: &str, token: &str) -> String {
    let sender = unique.trim_start_matches(':').replace('.', "_");
    format!("{PORTAL_PATH}/request/{sender}/{token}")
}

/// `wsbox choose NAME ARGS…`, finished.
pub fn choose(name: &str, args: &[&str]) -> Out {
    let mut all = vec!["choose", name];
    all.extend_from_slice(args);
    run_wsbox(&all)
}
