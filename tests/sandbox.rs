//! End-to-end tests of `wsbox run --display none` with real sandboxes.
//!
//! Each sandbox check runs twice, as root and as an unprivileged user
//! (`name::as_root`, `name::as_user`), and looks from inside — with
//! `wsbox-probe --json`, `sh`, `cat` and `python3` — at what an app can see and
//! do: identity, privileges, seccomp, mounts, /dev, network, processes, host
//! files, writable places, binds and environment. From outside it checks what
//! `wsbox run` promises its caller: exit statuses, one-line errors, signal
//! forwarding, timeouts, and that nothing (processes, mounts) is left behind.
//!
//! Needs `cargo build --workspace --bins` first (for `wsbox-probe`) and root
//! for the second user, named by WSBOX_TEST_USER (default `wsbox-test`, made
//! with `useradd --system --no-create-home wsbox-test`). A test that cannot run
//! here prints `SKIPPED: <test>: <reason>` and passes, unless WSBOX_MUST_WORK=1
//! or CI=true, where it fails instead.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::CStr;
use std::fmt;
use std::fs;
use std::io;
use std::net::TcpListener;
use std::os::fd::{AsRawFd, FromRawFd};
use std::os::linux::net::SocketAddrExt;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::os::unix::net::{SocketAddr, UnixListener};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use serde_json::Value;

use testkit::{children, comm, egid, euid, poll, skip, wait_for, Out, Running, Who, MARK_VAR};

/// Where the probe is bound inside every probed sandbox.
const PROBE_INSIDE: &str = "/opt/wsbox-probe";
/// How long any single wsbox run may take before the test gives up on it.
const RUN_LIMIT: Duration = Duration::from_secs(30);
/// The device nodes a sandbox binds from the host (mounted without nodev).
const DEVICE_BINDS: &[&str] = &[
    "/dev/null",
    "/dev/zero",
    "/dev/full",
    "/dev/random",
    "/dev/urandom",
    "/dev/tty",
];
/// Everything /dev holds inside.
const DEV_ENTRIES: &[&str] = &[
    "null", "zero", "full", "random", "urandom", "tty", "ptmx", "pts", "shm", "fd", "stdin",
    "stdout", "stderr",
];

// ---------------------------------------------------------------------------
// Harness: binaries, identities, skipping, running.
// ---------------------------------------------------------------------------

/// Copies of the binaries in a fresh 0755 directory every user can read.
#[derive(Debug)]
struct Bins {
    dir: PathBuf,
    wsbox: PathBuf,
    probe: PathBuf,
}

fn bins() -> &'static Bins {
    static BINS: OnceLock<Bins> = OnceLock::new();
    BINS.get_or_init(|| {
        // wsbox-probe belongs to the test kit, which this test does not build.
        let probe = testkit::built("wsbox-probe").unwrap_or_else(|e| panic!("{e}"));
        Bins {
            wsbox: testkit::shared_copy(&testkit::wsbox_exe()),
            probe: testkit::shared_copy(&probe),
            dir: testkit::shared_dir(),
        }
    })
}

/// A fresh 0755 directory for one test.
fn scratch(name: &str) -> PathBuf {
    testkit::scratch_in(testkit::root_dir("sandbox", false), name, 0o755)
}

fn unique(prefix: &str) -> String {
    testkit::unique_mark(prefix)
}

/// Starts wsbox as one identity and knows what that identity looks like.
#[derive(Debug, Clone)]
struct Runner {
    /// uid and gid to switch to before exec, when the test runs as root.
    switch_to: Option<(u32, u32)>,
    /// Whether wsbox runs as host root.
    root: bool,
    /// The host ids the app's uid/gid 1000 map to.
    host_uid: u32,
    host_gid: u32,
}

/// The runner for `who`, or `None` (after [`skip`]) when this machine cannot
/// run sandboxes as `who`. When the tests themselves run unprivileged, the
/// `User` variant runs as the caller and the `Root` variant skips.
fn runner(test: &str, who: Who) -> Option<Runner> {
    bins();
    let runner = match who {
        Who::Root if euid() != 0 => {
            skip(test, "not running as root");
            return None;
        }
        Who::Root => Runner {
            switch_to: None,
            root: true,
            host_uid: 65534,
            host_gid: 65534,
        },
        Who::User if euid() != 0 => Runner {
            switch_to: None,
            root: false,
            host_uid: euid(),
            host_gid: egid(),
        },
        Who::User => match test_user() {
            Ok((uid, gid)) => Runner {
                switch_to: Some((uid, gid)),
                root: false,
                host_uid: uid,
                host_gid: gid,
            },
            Err(why) => {
                skip(test, why);
                return None;
            }
        },
    };
    if let Err(why) = sandbox_support(&runner, who) {
        skip(test, why);
        return None;
    }
    Some(runner)
}

/// uid and gid of the unprivileged test user.
fn test_user() -> Result<(u32, u32), &'static str> {
    static USER: OnceLock<Result<(u32, u32), String>> = OnceLock::new();
    USER.get_or_init(|| {
        let name = testkit::test_user_name();
        let (uid, gid) = testkit::test_user()?;
        // std drops the supplementary groups when root switches uid without
        // an explicit list; make sure, since host group 0 must not tag along.
        let mut cmd = Runner {
            switch_to: Some((uid, gid)),
            root: false,
            host_uid: uid,
            host_gid: gid,
        }
        .command("/bin/sh");
        cmd.args(["-c", "id -u; id -G"]);
        let out = output(cmd);
        assert_eq!(
            out.stdout.split_whitespace().collect::<Vec<_>>(),
            [uid.to_string(), gid.to_string()],
            "the harness does not switch to {name} cleanly\n{out}"
        );
        Ok((uid, gid))
    })
    .as_ref()
    .map(|ids| *ids)
    .map_err(String::as_str)
}

/// Whether the kernel lets `runner` start sandboxes at all. Only a missing
/// kernel feature that wsbox names is a reason to skip; any other failure is
/// left to the tests, which then fail and show it.
fn sandbox_support(runner: &Runner, who: Who) -> Result<(), &'static str> {
    // Why sandboxes cannot run, per identity; `None` when they can.
    static SUPPORT: [OnceLock<Option<String>>; 2] = [OnceLock::new(), OnceLock::new()];
    SUPPORT[who as usize]
        .get_or_init(|| {
            let out = runner.run(&[], &["true"]);
            let missing = [
                "user namespaces are not available",
                "the kernel lacks Landlock",
                "the kernel has no seccomp filter support",
            ];
            if out.code() == Some(125) && missing.iter().any(|m| out.stderr.contains(m)) {
                Some(format!(
                    "the kernel cannot run sandboxes here: {}",
                    out.stderr.trim()
                ))
            } else {
                None
            }
        })
        .as_deref()
        .map_or(Ok(()), Err)
}

impl Runner {
    /// `program`, to be run as this identity from the binaries' directory,
    /// marked so that its leftovers can be found.
    fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut cmd = Command::new(program);
        cmd.current_dir(&bins().dir).env(MARK_VAR, unique("mark-"));
        if let Some((uid, gid)) = self.switch_to {
            cmd.uid(uid).gid(gid);
        } else if self.root {
            // Root as a login shell has it: group 0 must not reach the app.
            // SAFETY: setgroups is async-signal-safe; the array outlives the call.
            unsafe {
                cmd.pre_exec(|| {
                    let groups = [0 as libc::gid_t];
                    if libc::setgroups(groups.len(), groups.as_ptr()) < 0 {
                        return Err(io::Error::last_os_error());
                    }
                    Ok(())
                });
            }
        }
        cmd
    }

    /// `wsbox ARGS`.
    fn wsbox(&self, args: &[&str]) -> Command {
        let mut cmd = self.command(&bins().wsbox);
        cmd.args(args);
        cmd
    }

    /// `wsbox run --display none OPTIONS -- ARGV`.
    fn sandbox(&self, options: &[&str], argv: &[&str]) -> Command {
        let mut cmd = self.wsbox(&["run", "--display", "none"]);
        cmd.args(options).arg("--").args(argv);
        cmd
    }

    fn run(&self, options: &[&str], argv: &[&str]) -> Out {
        output(self.sandbox(options, argv))
    }

    /// `sh -c SCRIPT sh ARGS...` in a sandbox.
    fn sh(&self, script: &str, args: &[&str]) -> Out {
        let mut argv = vec!["sh", "-c", script, "sh"];
        argv.extend_from_slice(args);
        self.run(&[], &argv)
    }

    /// The command that runs the probe in a sandbox with `options`.
    fn probe_command(&self, options: &[&str]) -> Command {
        let bind = format!("{}:{PROBE_INSIDE}", bins().probe.display());
        let mut all = vec!["--ro", bind.as_str()];
        all.extend_from_slice(options);
        self.sandbox(&all, &[PROBE_INSIDE, "--json"])
    }

    fn probe(&self, options: &[&str]) -> Probe {
        Probe::new(output(self.probe_command(options)))
    }

    fn who(&self) -> &'static str {
        if self.root {
            "root"
        } else {
            "an unprivileged user"
        }
    }
}

fn output(cmd: Command) -> Out {
    testkit::output(cmd, RUN_LIMIT)
}

fn start(cmd: Command) -> Running {
    Running::start(cmd)
}

// ---------------------------------------------------------------------------
// The probe's report.
// ---------------------------------------------------------------------------

/// One `wsbox-probe --json` report and the run that produced it.
struct Probe {
    json: Value,
    out: Out,
}

impl fmt::Display for Probe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let pretty = serde_json::to_string_pretty(&self.json).unwrap_or_default();
        write!(
            f,
            "probe report:\n{pretty}\n--- wsbox stderr ---\n{}--- end ---",
            self.out.stderr
        )
    }
}

impl Probe {
    fn new(out: Out) -> Probe {
        assert_eq!(out.code(), Some(0), "the probe did not run cleanly\n{out}");
        let json = serde_json::from_str(out.stdout.trim())
            .unwrap_or_else(|e| panic!("the probe's output is not one JSON value: {e}\n{out}"));
        Probe { json, out }
    }

    fn field(&self, key: &str) -> &Value {
        self.json
            .get(key)
            .unwrap_or_else(|| panic!("the probe reported no {key:?}\n{self}"))
    }

    fn int(&self, key: &str) -> i128 {
        int(self.field(key)).unwrap_or_else(|| panic!("{key:?} is not a number\n{self}"))
    }

    fn text(&self, key: &str) -> &str {
        self.field(key)
            .as_str()
            .unwrap_or_else(|| panic!("{key:?} is not a string\n{self}"))
    }

    fn flag(&self, key: &str) -> bool {
        match self.field(key) {
            Value::Bool(b) => *b,
            other => int(other).unwrap_or_else(|| panic!("{key:?} is not a boolean\n{self}")) != 0,
        }
    }

    fn list(&self, key: &str) -> &Vec<Value> {
        self.field(key)
            .as_array()
            .unwrap_or_else(|| panic!("{key:?} is not a list\n{self}"))
    }
}

/// A number the probe may print as a JSON number, a decimal or 0x-hex string
/// or a boolean.
fn int(v: &Value) -> Option<i128> {
    match v {
        Value::Number(n) => n
            .as_i64()
            .map(i128::from)
            .or_else(|| n.as_u64().map(i128::from)),
        Value::String(s) => {
            let s = s.trim();
            match s.strip_prefix("0x") {
                Some(hex) => i128::from_str_radix(hex, 16).ok(),
                None => s.parse().ok(),
            }
        }
        Value::Bool(b) => Some(i128::from(*b)),
        _ => None,
    }
}

/// An errno or signal given as a number or a symbolic name.
fn number_or_name(v: &Value) -> Option<i128> {
    int(v).or_else(|| {
        let known = [
            ("EPERM", libc::EPERM),
            ("ENOSYS", libc::ENOSYS),
            ("EAFNOSUPPORT", libc::EAFNOSUPPORT),
            ("EACCES", libc::EACCES),
            ("EINVAL", libc::EINVAL),
            ("SIGSYS", libc::SIGSYS),
        ];
        let name = v.as_str()?;
        known
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, code)| i128::from(*code))
    })
}

/// The numbers of an id map, whether printed as the kernel's text or a list.
fn map_numbers(v: &Value) -> Vec<i128> {
    match v {
        Value::String(s) => s
            .split_whitespace()
            .filter_map(|w| w.parse().ok())
            .collect(),
        Value::Array(items) => items.iter().flat_map(map_numbers).collect(),
        Value::Number(_) => int(v).into_iter().collect(),
        _ => Vec::new(),
    }
}

/// Mount options, comma-separated text or a list.
fn options(v: &Value) -> Vec<String> {
    match v {
        Value::String(s) => s.split(',').map(str::to_owned).collect(),
        Value::Array(items) => items
            .iter()
            .filter_map(|i| i.as_str().map(str::to_owned))
            .collect(),
        _ => Vec::new(),
    }
}

/// A name given as a string or as an object with a "name".
fn name_of(v: &Value) -> Option<String> {
    v.as_str()
        .or_else(|| v.get("name").and_then(Value::as_str))
        .map(str::to_owned)
}

fn is_hex_id(s: &str) -> bool {
    s.len() == 32
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

// ---------------------------------------------------------------------------
// Host-side helpers.
// ---------------------------------------------------------------------------

fn host_mountinfo() -> String {
    fs::read_to_string("/proc/self/mountinfo").unwrap()
}

/// Fields 3… of /proc/PID/stat: [0] is the state, [19] the start time.
fn stat(pid: i32) -> Option<Vec<String>> {
    let text = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &text[text.rfind(')')? + 1..];
    Some(rest.split_whitespace().map(str::to_owned).collect())
}

fn start_time(pid: i32) -> Option<String> {
    stat(pid)?.get(19).cloned()
}

/// Whether the process that had `pid` and `started` still runs. A zombie
/// counts as gone: its parent (maybe the host's init) reaps it when it likes.
fn still_running(pid: i32, started: &str) -> bool {
    stat(pid).is_some_and(|f| {
        f.get(19).map(String::as_str) == Some(started) && f[0] != "Z" && f[0] != "X"
    })
}

fn signals_caught(pid: i32) -> u64 {
    fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("SigCgt:"))
        .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
        .unwrap_or(0)
}

/// Host processes still carrying `out`'s mark: pid 1 of its sandbox or
/// anything else forked from that wsbox and not yet exec'd.
fn marked_processes(out: &Out) -> Vec<i32> {
    let Some(mark) = &out.mark else {
        return Vec::new();
    };
    testkit::marked_processes(mark)
        .into_iter()
        .map(|(pid, _)| pid)
        .collect()
}

/// After `out` ended: no process it started remains and the host's mounts are
/// as they were.
fn assert_nothing_left_behind(out: &Out, mountinfo_before: &str) {
    let leftovers = marked_processes(out);
    assert!(
        leftovers.is_empty(),
        "processes of this wsbox remain: {leftovers:?}\n{out}"
    );
    let own_children = fs::read_to_string("/proc/thread-self/children").unwrap_or_default();
    assert!(
        own_children.trim().is_empty(),
        "the test thread still has children {own_children:?}\n{out}"
    );
    assert_eq!(
        host_mountinfo(),
        mountinfo_before,
        "the host's mount table changed\n{out}"
    );
}

/// `out` failed with `code` and one line on stderr, "wsbox: …", naming each
/// of `needles`.
fn assert_one_line_error(out: &Out, code: i32, needles: &[&str]) {
    assert_eq!(out.code(), Some(code), "exit status\n{out}");
    let lines: Vec<&str> = out.stderr.lines().filter(|l| !l.is_empty()).collect();
    assert_eq!(lines.len(), 1, "expected one line on stderr\n{out}");
    assert!(
        lines[0].starts_with("wsbox: "),
        "stderr must start with \"wsbox: \"\n{out}"
    );
    for needle in needles {
        assert!(
            lines[0].contains(needle),
            "stderr must name {needle:?}\n{out}"
        );
    }
}

/// A pseudo-terminal pair opened by the test.
struct Pty {
    _master: fs::File,
    slave: fs::File,
}

fn open_pty() -> Pty {
    // SAFETY: posix_openpt returns a new fd or -1.
    let fd = unsafe { libc::posix_openpt(libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC) };
    assert!(fd >= 0, "posix_openpt: {}", io::Error::last_os_error());
    // SAFETY: `fd` is a fresh fd nothing else owns.
    let master = unsafe { fs::File::from_raw_fd(fd) };
    let mut name = [0 as libc::c_char; 128];
    // SAFETY: `fd` is a pty master; ptsname_r writes at most name.len() bytes.
    let ok = unsafe {
        libc::grantpt(fd) == 0
            && libc::unlockpt(fd) == 0
            && libc::ptsname_r(fd, name.as_mut_ptr(), name.len()) == 0
    };
    assert!(ok, "failed to set up a pty: {}", io::Error::last_os_error());
    // SAFETY: ptsname_r succeeded, so `name` holds a NUL-terminated path.
    let path = unsafe { CStr::from_ptr(name.as_ptr()) }
        .to_string_lossy()
        .into_owned();
    let slave = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NOCTTY)
        .open(&path)
        .unwrap_or_else(|e| panic!("open {path}: {e}"));
    Pty {
        _master: master,
        slave,
    }
}

/// Makes `pty` the controlling terminal of what `cmd` starts, the way a shell
/// in a terminal would. Keep `pty` open until it ends: closing the master
/// hangs the terminal up.
fn with_controlling_tty(cmd: &mut Command, pty: &Pty) {
    let fd = pty.slave.as_raw_fd();
    // SAFETY: between fork and exec the closure calls only setsid and ioctl,
    // which are async-signal-safe; `fd` stays open in the child until exec.
    unsafe {
        cmd.pre_exec(move || {
            if libc::setsid() < 0 || libc::ioctl(fd, libc::TIOCSCTTY, 0) < 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

fn have_python(test: &str) -> bool {
    testkit::have_programs(test, &["python3"])
}

testkit::as_root_and_user!(
    identity,
    generated_etc,
    privileges,
    syscalls,
    nested_namespace_limits,
    tiocsti_on_a_pty,
    landlock_signal_scoping,
    mounts,
    proc_is_masked,
    dev_is_minimal,
    network_interfaces,
    no_network_but_own_loopback,
    host_processes_invisible,
    host_files_invisible,
    writable_places,
    binds,
    inherited_fds_are_closed,
    environment,
    exit_status_is_the_app_s,
    exit_status_program_not_found,
    exit_status_cannot_execute,
    bad_option,
    invalid_policy,
    unreadable_policy,
    missing_bind_source,
    reserved_bind_targets,
    timeout,
    timeout_kills_an_app_ignoring_sigterm,
    sigterm_is_forwarded,
    sigkill_of_wsbox_takes_the_sandbox_down,
);

// ---------------------------------------------------------------------------
// Inside: identity and privileges.
// ---------------------------------------------------------------------------

fn identity(who: Who, test: &str) {
    let Some(r) = runner(test, who) else { return };
    let p = r.probe(&[]);
    for key in ["uid", "gid", "euid", "egid"] {
        assert_eq!(p.int(key), 1000, "{key}\n{p}");
    }
    assert_eq!(p.text("user_name"), "user", "{p}");
    assert_eq!(p.text("home"), "/home/user", "{p}");
    assert_eq!(
        map_numbers(p.field("uid_map")),
        [1000, i128::from(r.host_uid), 1],
        "uid_map run by {}\n{p}",
        r.who()
    );
    assert_eq!(
        map_numbers(p.field("gid_map")),
        [1000, i128::from(r.host_gid), 1],
        "gid_map run by {}\n{p}",
        r.who()
    );
    // Host group 0 (or any other) must not come along as a supplementary group.
    for group in p.list("groups") {
        assert_eq!(int(group), Some(1000), "supplementary groups\n{p}");
    }
    assert_eq!(p.text("hostname"), "sandbox", "{p}");

    let id = p.text("machine_id").trim();
    assert!(is_hex_id(id), "machine_id is not 32 hex digits\n{p}");
    if let Ok(host) = fs::read_to_string("/etc/machine-id") {
        assert_ne!(id, host.trim(), "the host's machine-id leaked\n{p}");
    }
    let again = r.probe(&[]);
    assert_ne!(
        again.text("machine_id").trim(),
        id,
        "two sandboxes share a machine-id\n{p}\n{again}"
    );
}

fn generated_etc(who: Who, test: &str) {
    let Some(r) = runner(test, who) else { return };
    let out = r.sh(
        "cat /etc/passwd; echo ---; cat /etc/group; echo ---; cat /etc/hostname; \
         echo ---; cat /etc/machine-id",
        &[],
    );
    assert_eq!(out.code(), Some(0), "{out}");
    let parts: Vec<&str> = out.stdout.split("---\n").collect();
    assert_eq!(parts.len(), 4, "{out}");
    let names = |text: &str| -> Vec<String> {
        text.lines()
            .filter_map(|l| l.split(':').next())
            .map(str::to_owned)
            .collect()
    };
    assert_eq!(
        names(parts[0]),
        ["root", "user", "nobody"],
        "/etc/passwd\n{out}"
    );
    assert!(
        parts[0].contains("user:x:1000:1000:"),
        "/etc/passwd has no user 1000\n{out}"
    );
    assert_eq!(
        names(parts[1]),
        ["root", "user", "nogroup"],
        "/etc/group\n{out}"
    );
    assert_eq!(parts[2].trim(), "sandbox", "/etc/hostname\n{out}");
    assert!(is_hex_id(parts[3].trim()), "/etc/machine-id\n{out}");
}

fn privileges(who: Who, test: &str) {
    let Some(r) = runner(test, who) else { return };
    // wsbox itself gets a controlling terminal, so that the app not having one
    // shows something. First make sure the harness really gives one.
    let pty = open_pty();
    let mut control = r.command("/bin/cat");
    control.arg("/proc/self/stat");
    with_controlling_tty(&mut control, &pty);
    let control = output(control);
    let tty_nr = control
        .stdout
        .rsplit(')')
        .next()
        .and_then(|rest| rest.split_whitespace().nth(4))
        .and_then(|n| n.parse::<i64>().ok());
    assert!(
        tty_nr.is_some_and(|n| n != 0),
        "harness: no controlling tty\n{control}"
    );

    let mut cmd = r.probe_command(&[]);
    with_controlling_tty(&mut cmd, &pty);
    let p = Probe::new(output(cmd));
    drop(pty);

    let caps = p.field("capabilities");
    for set in [
        "inheritable",
        "permitted",
        "effective",
        "bounding",
        "ambient",
    ] {
        let value = caps.get(set).and_then(int);
        assert_eq!(value, Some(0), "capability set {set}\n{p}");
    }
    assert!(p.flag("no_new_privs"), "no_new_privs\n{p}");
    assert_eq!(p.int("seccomp"), 2, "seccomp mode\n{p}");
    // NOROOT, NO_SETUID_FIXUP, NO_CAP_AMBIENT_RAISE and every lock; KEEP_CAPS off.
    assert_eq!(p.int("securebits") & 0xff, 0xef, "securebits\n{p}");
    assert!(p.int("landlock_abi") > 0, "landlock_abi\n{p}");
    assert!(!p.flag("has_controlling_tty"), "controlling tty\n{p}");
    assert_eq!(p.int("pid"), 2, "the app is pid 2\n{p}");
    assert_eq!(
        p.int("ppid"),
        1,
        "the app's parent is the sandbox's init\n{p}"
    );
    assert_eq!(
        p.int("sid"),
        p.int("pid"),
        "the app leads its own session\n{p}"
    );
    assert_eq!(p.int("pgid"), p.int("pid"), "process group\n{p}");
}

fn syscalls(who: Who, test: &str) {
    let Some(r) = runner(test, who) else { return };
    let p = r.probe(&[]);
    #[derive(Debug, Clone, Copy, PartialEq)]
    enum Expect {
        Refused(i32),
        Allowed,
        Killed(i32),
    }
    let mut expected: Vec<(String, Expect)> = [
        "unshare(CLONE_NEWUSER)",
        "clone(CLONE_NEWUSER)",
        "setns",
        "mount",
        "umount2",
        "pivot_root",
        "open_tree",
        "move_mount",
        "fsopen",
        "fsconfig",
        "fsmount",
        "fspick",
        "mount_setattr",
        "io_uring_setup",
        "userfaultfd",
        "bpf",
        "perf_event_open",
        "keyctl",
        "add_key",
        "request_key",
        "kexec_load",
        "init_module",
        "finit_module",
        "delete_module",
        "ptrace(PTRACE_ATTACH, 1)",
        "ioctl(TIOCSTI)",
        "ioctl(TIOCSTI|1<<32)",
        "ioctl(TIOCLINUX)",
    ]
    .iter()
    .map(|name| ((*name).to_owned(), Expect::Refused(libc::EPERM)))
    .collect();
    expected.push(("clone3".into(), Expect::Refused(libc::ENOSYS)));
    for family in ["PACKET", "BLUETOOTH", "VSOCK", "KEY", "CAN", "XDP", "ALG"] {
        expected.push((
            format!("socket(AF_{family})"),
            Expect::Refused(libc::EAFNOSUPPORT),
        ));
    }
    for name in [
        "socket(AF_UNIX)",
        "socket(AF_INET)",
        "ptrace(PTRACE_TRACEME)",
    ] {
        expected.push((name.into(), Expect::Allowed));
    }
    for name in ["int 0x80 getpid", "x32 getpid"] {
        expected.push((name.into(), Expect::Killed(libc::SIGSYS)));
    }

    let reported: BTreeMap<String, &Value> = p
        .list("syscalls")
        .iter()
        .filter_map(|c| Some((c.get("name")?.as_str()?.to_owned(), c)))
        .collect();
    let mut wrong = Vec::new();
    for (name, expect) in &expected {
        let Some(check) = reported.get(name) else {
            wrong.push(format!("{name}: not reported"));
            continue;
        };
        let result = check.get("result").and_then(Value::as_str);
        let got = match result {
            Some("refused") => check
                .get("errno")
                .and_then(number_or_name)
                .map(|e| Expect::Refused(e as i32)),
            Some("allowed") => Some(Expect::Allowed),
            Some("killed") => check
                .get("signal")
                .and_then(number_or_name)
                .map(|s| Expect::Killed(s as i32)),
            _ => None,
        };
        if got != Some(*expect) {
            wrong.push(format!("{name}: expected {expect:?}, got {check}"));
        }
    }
    assert!(
        wrong.is_empty(),
        "syscalls not answered as they must be:\n  {}\n{p}",
        wrong.join("\n  ")
    );
}

/// The sandbox's own limits on nested namespaces: with `[security]
/// nested_userns`, 128 of each kind a browser needs, which the app cannot
/// raise; without it, none of wsbox's (the filter refuses every kind).
fn nested_namespace_limits(who: Who, test: &str) {
    let Some(r) = runner(test, who) else { return };
    let script = "cd /proc/sys/user && for k in user pid net ipc uts; do \
                  printf '%s=%s\\n' $k $(cat max_${k}_namespaces); done; \
                  echo 1000 > max_user_namespaces 2>/dev/null && echo raised; true";
    let limits = |options: &[&str]| -> BTreeMap<String, String> {
        let out = r.run(options, &["sh", "-c", script]);
        assert_eq!(out.code(), Some(0), "{out}");
        assert!(
            !out.stdout.contains("raised"),
            "the app raised its limit\n{out}"
        );
        out.stdout
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect()
    };
    // A new user namespace has no limits of its own (the host's still
    // count, in its parent); wsbox sets none without the switch.
    let default = limits(&[]);
    assert_eq!(default.len(), 5, "{default:?}");
    let unlimited = i32::MAX.to_string();
    assert!(default.values().all(|v| *v == unlimited), "{default:?}");

    let file = scratch("policy").join("nested.toml");
    fs::write(&file, "[security]\nnested_userns = true\n").unwrap();
    fs::set_permissions(&file, fs::Permissions::from_mode(0o644)).unwrap();
    let nested = limits(&["--policy", &file.display().to_string()]);
    for kind in ["user", "pid", "net", "ipc", "uts"] {
        assert_eq!(
            nested.get(kind).map(String::as_str),
            Some("128"),
            "{kind}: {nested:?}"
        );
    }
}

const TIOCSTI_SCRIPT: &str = r#"
import errno, fcntl, os, pty, sys, termios
master, slave = pty.openpty()
name = os.ttyname(slave)
os.close(slave)
pid = os.fork()
if pid == 0:
    code = 3
    try:
        os.setsid()
        fd = os.open(name, os.O_RDWR)
        print("controlling", os.tcgetpgrp(fd) == os.getpgrp(), flush=True)
        try:
            fcntl.ioctl(fd, termios.TIOCSTI, b"x")
            print("injected", flush=True)
            code = 1
        except OSError as e:
            print("errno", e.errno, errno.errorcode.get(e.errno), flush=True)
            code = 0 if e.errno == errno.EPERM else 2
    finally:
        os._exit(code)
_, status = os.waitpid(pid, 0)
sys.exit(os.waitstatus_to_exitcode(status))
"#;

/// TIOCSTI from a session leader on its own controlling pty: the case the
/// kernel allows without seccomp.
fn tiocsti_on_a_pty(who: Who, test: &str) {
    let Some(r) = runner(test, who) else { return };
    if !have_python(test) {
        return;
    }
    let out = r.run(&[], &["python3", "-c", TIOCSTI_SCRIPT]);
    assert!(
        out.stdout.contains("controlling True"),
        "the pty did not become the controlling terminal, so this test shows nothing\n{out}"
    );
    assert!(
        out.stdout.contains("errno 1 EPERM"),
        "TIOCSTI must fail with EPERM\n{out}"
    );
    assert_eq!(out.code(), Some(0), "{out}");
}

fn landlock_signal_scoping(who: Who, test: &str) {
    let Some(r) = runner(test, who) else { return };
    let abi = r.probe(&[]).int("landlock_abi");
    if abi < 6 {
        skip(
            test,
            &format!("Landlock ABI {abi} < 6 has no signal scoping; kill -0 1 not checked"),
        );
        return;
    }
    // pid 1 runs as the same uid, so only Landlock stands in the way.
    let out = r.sh("kill -0 1", &[]);
    assert_ne!(out.code(), Some(0), "the app signalled pid 1\n{out}");
    assert!(
        out.stderr.contains("not permitted"),
        "kill -0 1 must fail with EPERM\n{out}"
    );
    // Its own children stay reachable.
    let out = r.sh("sleep 10 & kill -0 $! && kill $!", &[]);
    assert_eq!(
        out.code(),
        Some(0),
        "the app cannot signal its own child\n{out}"
    );
}

// ---------------------------------------------------------------------------
// Inside: file system.
// ---------------------------------------------------------------------------

fn mounts(who: Who, test: &str) {
    let Some(r) = runner(test, who) else { return };
    let p = r.probe(&[]);
    let mounts: Vec<(String, String, Vec<String>)> = p
        .list("mounts")
        .iter()
        .map(|m| {
            let point = m.get("mount_point").and_then(Value::as_str);
            let fs_type = m.get("fs_type").and_then(Value::as_str);
            let opts = m.get("options").map(options).unwrap_or_default();
            (
                point
                    .unwrap_or_else(|| panic!("mount without mount_point: {m}\n{p}"))
                    .to_owned(),
                fs_type.unwrap_or_default().to_owned(),
                opts,
            )
        })
        .collect();
    let table: String = mounts
        .iter()
        .map(|(point, fs_type, opts)| format!("  {point} {fs_type} {}\n", opts.join(",")))
        .collect();
    let mut wrong = Vec::new();
    for (point, _, opts) in &mounts {
        let has = |o: &str| opts.iter().any(|x| x == o);
        if !has("nosuid") {
            wrong.push(format!("{point} lacks nosuid"));
        }
        let device = DEVICE_BINDS.contains(&point.as_str()) || point == "/dev/pts";
        if !device && !has("nodev") {
            wrong.push(format!("{point} lacks nodev"));
        }
        let allowed = [
            "/",
            "/usr",
            "/proc",
            "/dev",
            "/tmp",
            "/var/tmp",
            "/run",
            "/run/user/1000",
            // The files place: an empty read-only tmpfs until files are granted.
            "/run/wsbox/files",
            // The documents' place: a tmpfs the app may write, each
            // document in a directory of its own.
            "/run/wsbox/docs",
            // The host's font caches, read-only.
            "/var/cache/fontconfig",
            "/home/user",
            PROBE_INSIDE,
            // Split-/usr hosts get these bound instead of symlinked.
            "/bin",
            "/sbin",
            "/lib",
            "/lib32",
            "/lib64",
            "/libx32",
        ]
        .contains(&point.as_str())
            || ["/etc/", "/proc/", "/dev/"]
                .iter()
                .any(|prefix| point.starts_with(prefix));
        if !allowed {
            wrong.push(format!("{point} is mounted, and nothing granted it"));
        }
    }
    let mut read_only = vec!["/", "/usr", "/proc/sys", "/dev"];
    if Path::new("/var/cache/fontconfig").is_dir() {
        read_only.push("/var/cache/fontconfig");
    }
    for point in read_only {
        match mounts.iter().find(|(p, _, _)| p == point) {
            None => wrong.push(format!("{point} is not a mount")),
            Some((_, _, opts)) if !opts.iter().any(|o| o == "ro") => {
                wrong.push(format!("{point} is not read-only"))
            }
            Some(_) => {}
        }
    }
    match mounts.iter().find(|(p, _, _)| p == "/run/wsbox/docs") {
        Some((_, fs_type, _)) if fs_type == "tmpfs" => {}
        other => wrong.push(format!("/run/wsbox/docs is not a tmpfs: {other:?}")),
    }
    if mounts.iter().any(|(p, t, _)| p == "/" && t != "tmpfs") {
        wrong.push("/ is not wsbox's tmpfs".into());
    }
    if mounts
        .iter()
        .any(|(p, _, _)| p == "/sys" || p.starts_with("/sys/"))
    {
        wrong.push("/sys is mounted".into());
    }
    if p.flag("sys_visible") {
        wrong.push("sys_visible is true".into());
    }
    assert!(
        wrong.is_empty(),
        "mount table:\n  {}\n{table}{p}",
        wrong.join("\n  ")
    );

    let out = r.sh("cat /proc/self/mountinfo", &[]);
    assert_eq!(out.code(), Some(0), "{out}");
    assert!(out.stdout.lines().count() > 5, "{out}");
    for line in out.stdout.lines() {
        assert!(
            !line.contains(" shared:") && !line.contains(" master:"),
            "propagation must be private: {line}\n{out}"
        );
    }
}

/// Masked files are /dev/null bound nodev, so opening them fails; an unmasked
/// one opens (even when empty, like /proc/keys of a fresh user).
fn proc_is_masked(who: Who, test: &str) {
    let Some(r) = runner(test, who) else { return };
    let script = r#"
if cat /proc/self/status >/dev/null && [ -e /proc/kallsyms ]; then echo control; fi
for f in /proc/keys /proc/key-users /proc/timer_list /proc/kallsyms /proc/vmallocinfo \
         /proc/kpageflags /proc/kpagecount /proc/kpagecgroup /proc/config.gz /proc/kcore \
         /proc/sched_debug /proc/latency_stats /proc/timer_stats /proc/sysrq-trigger; do
  if [ -e "$f" ] && cat "$f" >/dev/null 2>&1; then echo "READABLE $f"; fi
  if [ -e "$f" ] && (echo x > "$f") 2>/dev/null; then echo "WRITABLE $f"; fi
done
for d in /proc/acpi /proc/asound /proc/bus /proc/driver /proc/irq /proc/scsi; do
  if [ -d "$d" ] && [ -n "$(ls -A "$d" 2>/dev/null)" ]; then echo "NONEMPTY $d"; fi
done
echo done
"#;
    let out = r.sh(script, &[]);
    assert!(
        out.stdout.contains("control\n"),
        "harness: /proc is not the one this test expects\n{out}"
    );
    assert!(out.stdout.contains("done"), "{out}");
    let leaks: Vec<&str> = out
        .stdout
        .lines()
        .filter(|l| {
            l.starts_with("READABLE") || l.starts_with("WRITABLE") || l.starts_with("NONEMPTY")
        })
        .collect();
    assert!(leaks.is_empty(), "/proc is not masked: {leaks:?}\n{out}");
}

fn dev_is_minimal(who: Who, test: &str) {
    let Some(r) = runner(test, who) else { return };
    let expected: BTreeSet<String> = DEV_ENTRIES.iter().map(|s| (*s).to_owned()).collect();
    let p = r.probe(&[]);
    let listed: BTreeSet<String> = p
        .list("dev")
        .iter()
        .filter_map(name_of)
        .map(|n| n.trim_start_matches("/dev/").to_owned())
        .filter(|n| n != "." && n != ".." && !n.is_empty())
        .collect();
    assert_eq!(listed, expected, "/dev per the probe\n{p}");

    let out = r.sh("ls -A /dev", &[]);
    assert_eq!(out.code(), Some(0), "{out}");
    let listed: BTreeSet<String> = out.stdout.split_whitespace().map(str::to_owned).collect();
    assert_eq!(listed, expected, "/dev per ls\n{out}");
}

fn host_files_invisible(who: Who, test: &str) {
    let Some(r) = runner(test, who) else { return };
    let marker_name = unique("wsbox-host-marker-");
    let tmp_marker = PathBuf::from("/tmp").join(&marker_name);
    let var_tmp_marker = PathBuf::from("/var/tmp").join(&marker_name);
    fs::write(&tmp_marker, "host secret\n").unwrap();
    let var_tmp_written = fs::write(&var_tmp_marker, "host secret\n").is_ok();

    // The host /tmp marker goes first: the script also `cat`s it as $1.
    let mut paths = vec![tmp_marker.display().to_string()];
    if var_tmp_written {
        paths.push(var_tmp_marker.display().to_string());
    }
    paths.extend(
        [
            "/etc/shadow",
            "/etc/gshadow",
            "/etc/sudoers",
            "/etc/ssh",
            "/etc/subuid",
            "/root",
            "/work",
            "/boot",
            "/srv",
            "/mnt",
            "/media",
            "/var/log",
            "/var/lib",
            "/sys",
            env!("CARGO_MANIFEST_DIR"),
        ]
        .iter()
        .map(|s| (*s).to_owned()),
    );
    paths.push(bins().dir.display().to_string());
    for entry in fs::read_dir("/home").into_iter().flatten().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name != "user" {
            paths.push(format!("/home/{name}"));
        }
    }
    let script = r#"
for p in "$@"; do
  if test -e "$p" || test -L "$p"; then echo "VISIBLE $p"; fi
done
if cat /etc/shadow; then echo "READ /etc/shadow"; fi
if cat "$1"; then echo "READ $1"; fi
echo "home: $(ls -A /home)"
echo done
"#;
    // The paths are probes, not files handed to the app: no file arguments.
    let mut argv = vec!["sh", "-c", script, "sh"];
    argv.extend(paths.iter().map(String::as_str));
    let out = r.run(&["--no-file-args"], &argv);
    let _ = fs::remove_file(&tmp_marker);
    let _ = fs::remove_file(&var_tmp_marker);
    assert!(out.stdout.contains("done"), "{out}");
    let leaks: Vec<&str> = out
        .stdout
        .lines()
        .filter(|l| l.starts_with("VISIBLE") || l.starts_with("READ"))
        .collect();
    assert!(
        leaks.is_empty(),
        "host files visible inside: {leaks:?}\n{out}"
    );
    assert!(!out.stdout.contains("host secret"), "{out}");
    assert!(
        out.stdout.contains("home: user\n"),
        "/home must hold only user\n{out}"
    );
}

fn writable_places(who: Who, test: &str) {
    let Some(r) = runner(test, who) else { return };
    let script = r#"
try() { if sh -c "$2" 2>/dev/null; then echo "$1 writable"; else echo "$1 refused"; fi; }
try / ': > /wsbox-write-test'
try /usr ': > /usr/wsbox-write-test'
try /etc ': > /etc/wsbox-write-test'
try /etc/passwd 'echo x >> /etc/passwd'
try /dev ': > /dev/wsbox-write-test'
try /proc/sys/kernel/hostname 'echo evil > /proc/sys/kernel/hostname'
try /tmp ': > /tmp/wsbox-write-test'
try /var/tmp ': > /var/tmp/wsbox-write-test'
try '$HOME' ': > "$HOME/wsbox-write-test"'
try '$XDG_RUNTIME_DIR' ': > "$XDG_RUNTIME_DIR/wsbox-write-test"'
try /dev/shm ': > /dev/shm/wsbox-write-test'
echo "hostname $(hostname)"
"#;
    let out = r.sh(script, &[]);
    let results: BTreeMap<&str, &str> = out
        .stdout
        .lines()
        .filter_map(|l| l.rsplit_once(' '))
        .collect();
    let mut wrong = Vec::new();
    for (place, expected) in [
        ("/", "refused"),
        ("/usr", "refused"),
        ("/etc", "refused"),
        ("/etc/passwd", "refused"),
        ("/dev", "refused"),
        ("/proc/sys/kernel/hostname", "refused"),
        ("/tmp", "writable"),
        ("/var/tmp", "writable"),
        ("$HOME", "writable"),
        ("$XDG_RUNTIME_DIR", "writable"),
        ("/dev/shm", "writable"),
    ] {
        if results.get(place) != Some(&expected) {
            wrong.push(format!("{place} should be {expected}"));
        }
    }
    assert!(wrong.is_empty(), "{}\n{out}", wrong.join(", "));
    assert!(out.stdout.contains("hostname sandbox\n"), "{out}");
}

fn binds(who: Who, test: &str) {
    let Some(r) = runner(test, who) else { return };
    let dir = scratch("binds");
    let open = |path: &Path| {
        fs::create_dir(path).unwrap();
        // World-writable on the host, so only the mount can refuse a write.
        fs::set_permissions(path, fs::Permissions::from_mode(0o777)).unwrap();
    };
    let (ro, rw, same) = (dir.join("ro"), dir.join("rw"), dir.join("same"));
    for d in [&ro, &rw, &same] {
        open(d);
    }
    fs::write(ro.join("hello"), "hello from the host\n").unwrap();
    fs::set_permissions(ro.join("hello"), fs::Permissions::from_mode(0o666)).unwrap();
    fs::write(same.join("hello"), "same path\n").unwrap();

    let ro_opt = format!("{}:/data/ro", ro.display());
    let rw_opt = format!("{}:/data/rw", rw.display());
    let same_opt = same.display().to_string();
    let script = r#"
cat /data/ro/hello
if (: > /data/ro/new) 2>/dev/null; then echo "ro create writable"; else echo "ro create refused"; fi
if (echo x >> /data/ro/hello) 2>/dev/null; then echo "ro append writable"; else echo "ro append refused"; fi
echo "written in the sandbox" > /data/rw/out && echo "rw written"
cat "$1/hello"
"#;
    let out = output(r.sandbox(
        // A read-only share may not sit in /tmp (writable under Landlock):
        // the same-path bind is read-write.
        &["--ro", &ro_opt, "--rw", &rw_opt, "--rw", &same_opt],
        &["sh", "-c", script, "sh", &same_opt],
    ));
    assert!(
        out.stdout.contains("hello from the host"),
        "--ro bind not readable\n{out}"
    );
    assert!(
        out.stdout.contains("ro create refused"),
        "--ro bind writable\n{out}"
    );
    assert!(
        out.stdout.contains("ro append refused"),
        "--ro bind writable\n{out}"
    );
    assert!(
        !ro.join("new").exists(),
        "a file appeared in the --ro dir\n{out}"
    );
    assert_eq!(
        fs::read_to_string(ro.join("hello")).unwrap(),
        "hello from the host\n",
        "{out}"
    );
    assert!(
        out.stdout.contains("same path"),
        "bind at the host path\n{out}"
    );
    assert!(
        out.stdout.contains("rw written"),
        "--rw bind not writable\n{out}"
    );
    let written = rw.join("out");
    assert_eq!(
        fs::read_to_string(&written).ok().as_deref(),
        Some("written in the sandbox\n"),
        "the write did not reach the host\n{out}"
    );
    let meta = fs::metadata(&written).unwrap();
    assert_eq!(
        (meta.uid(), meta.gid()),
        (r.host_uid, r.host_gid),
        "the file written by the app belongs to the wrong host ids (run by {})\n{out}",
        r.who()
    );
    assert_eq!(out.code(), Some(0), "{out}");
}

/// An fd wsbox inherits (a shell's redirection, a leaked descriptor) must not
/// reach the app: it could name a host file the sandbox cannot see.
fn inherited_fds_are_closed(who: Who, test: &str) {
    let Some(r) = runner(test, who) else { return };
    let secret = scratch("fds").join("secret");
    fs::write(&secret, "host secret\n").unwrap();
    let file = fs::File::open(&secret).unwrap();
    let fd = file.as_raw_fd();
    let mut cmd = r.sandbox(
        &[],
        &[
            "sh",
            "-c",
            "ls /proc/$$/fd; cat /proc/$$/fd/7 2>/dev/null; true",
        ],
    );
    // SAFETY: dup2 is async-signal-safe; `fd` stays open until the spawn.
    unsafe {
        cmd.pre_exec(move || {
            if libc::dup2(fd, 7) < 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let out = output(cmd);
    drop(file);
    assert_eq!(out.code(), Some(0), "{out}");
    assert!(
        !out.stdout.contains("host secret"),
        "fd 7 reached the app\n{out}"
    );
    let fds: Vec<&str> = out.stdout.split_whitespace().collect();
    assert_eq!(fds, ["0", "1", "2"], "the app's open fds\n{out}");
}

// ---------------------------------------------------------------------------
// Inside: processes, network, environment.
// ---------------------------------------------------------------------------

fn host_processes_invisible(who: Who, test: &str) {
    let Some(r) = runner(test, who) else { return };
    let p = r.probe(&[]);
    let pids: Vec<i128> = p.list("pids").iter().filter_map(int).collect();
    assert!(pids.contains(&1), "no pid 1\n{p}");
    assert!(
        pids.contains(&p.int("pid")),
        "the probe does not see itself\n{p}"
    );
    assert!(pids.len() <= 6, "too many processes visible\n{p}");
    assert!(pids.iter().all(|pid| *pid < 20), "host pids visible\n{p}");

    let out = r.sh("ls /proc", &[]);
    assert_eq!(out.code(), Some(0), "{out}");
    let numeric: Vec<u32> = out
        .stdout
        .split_whitespace()
        .filter_map(|e| e.parse().ok())
        .collect();
    assert!(numeric.contains(&1), "{out}");
    assert!(
        numeric.len() <= 5 && numeric.iter().all(|pid| *pid <= 10),
        "host processes visible in /proc: {numeric:?}\n{out}"
    );
}

fn network_interfaces(who: Who, test: &str) {
    let Some(r) = runner(test, who) else { return };
    let p = r.probe(&[]);
    let interfaces = p.list("interfaces");
    let names: Vec<String> = interfaces.iter().filter_map(name_of).collect();
    assert_eq!(names, ["lo"], "{p}");
    let lo = &interfaces[0];
    assert_eq!(lo.get("up"), Some(&Value::Bool(true)), "lo must be up\n{p}");
    let mac = lo.get("mac").and_then(Value::as_str).unwrap_or("");
    assert!(
        mac.chars().all(|c| c == '0' || c == ':'),
        "lo has a hardware address\n{p}"
    );
}

const CONNECT_SCRIPT: &str = r#"
import socket, sys
target = sys.argv[1]
try:
    if target.startswith("@"):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(2)
        s.connect(b"\0" + target[1:].encode())
    else:
        socket.create_connection(("127.0.0.1", int(target)), 2)
except OSError as e:
    print("failed", type(e).__name__, e.errno)
    sys.exit(3)
print("connected")
"#;

const LOOPBACK_SCRIPT: &str = r#"
import socket
server = socket.socket()
server.bind(("127.0.0.1", 0))
server.listen(1)
client = socket.create_connection(server.getsockname(), 2)
conn, _ = server.accept()
client.sendall(b"ping")
print("received", conn.recv(4).decode())
"#;

fn no_network_but_own_loopback(who: Who, test: &str) {
    let Some(r) = runner(test, who) else { return };
    if !have_python(test) {
        return;
    }
    let tcp = TcpListener::bind("127.0.0.1:0").unwrap();
    tcp.set_nonblocking(true).unwrap();
    let port = tcp.local_addr().unwrap().port().to_string();
    let out = r.run(&[], &["python3", "-c", CONNECT_SCRIPT, &port]);
    assert_eq!(
        out.code(),
        Some(3),
        "the sandbox reached the host's 127.0.0.1:{port}\n{out}"
    );
    assert!(
        matches!(tcp.accept(), Err(e) if e.kind() == io::ErrorKind::WouldBlock),
        "the host listener got a connection from the sandbox\n{out}"
    );

    let name = unique("wsbox-test-abstract-");
    let addr = SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
    let unix = UnixListener::bind_addr(&addr).unwrap();
    unix.set_nonblocking(true).unwrap();
    let out = r.run(&[], &["python3", "-c", CONNECT_SCRIPT, &format!("@{name}")]);
    assert_eq!(
        out.code(),
        Some(3),
        "the sandbox reached the host's abstract socket @{name}\n{out}"
    );
    assert!(
        matches!(unix.accept(), Err(e) if e.kind() == io::ErrorKind::WouldBlock),
        "the host's abstract socket got a connection\n{out}"
    );

    let out = r.run(&[], &["python3", "-c", LOOPBACK_SCRIPT]);
    assert_eq!(
        out.code(),
        Some(0),
        "the sandbox's own loopback does not work\n{out}"
    );
    assert!(out.stdout.contains("received ping"), "{out}");
}

fn environment(who: Who, test: &str) {
    let Some(r) = runner(test, who) else { return };
    let host_session = [
        ("DBUS_SESSION_BUS_ADDRESS", "unix:path=/run/user/0/bus"),
        (
            "DBUS_SYSTEM_BUS_ADDRESS",
            "unix:path=/run/dbus/system_bus_socket",
        ),
        ("DISPLAY", ":0"),
        ("WAYLAND_DISPLAY", "wayland-0"),
        ("SSH_AUTH_SOCK", "/tmp/ssh-agent.sock"),
        ("XAUTHORITY", "/root/.Xauthority"),
    ];
    let env_of = |extra: &[&str]| {
        let mut cmd = r.probe_command(extra);
        for (name, value) in host_session {
            cmd.env(name, value);
        }
        cmd.env("FOO", "from-the-host")
            .env("LANG", "C.UTF-8")
            .env("TERM", "xterm-wsbox-test")
            .env("HOME", "/root");
        let p = Probe::new(output(cmd));
        let env: BTreeMap<String, String> = match p.field("env") {
            Value::Object(map) => map
                .iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                .collect(),
            Value::Array(items) => items
                .iter()
                .filter_map(|i| i.as_str()?.split_once('='))
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect(),
            _ => panic!("env is neither an object nor a list\n{p}"),
        };
        (p, env)
    };

    let (p, env) = env_of(&[]);
    for (name, _) in host_session {
        assert!(
            !env.contains_key(name),
            "{name} passed into the sandbox\n{p}"
        );
    }
    assert!(!env.contains_key("FOO"), "FOO passed into the sandbox\n{p}");
    let get = |name: &str| env.get(name).map(String::as_str);
    assert_eq!(get("LANG"), Some("C.UTF-8"), "{p}");
    assert_eq!(get("TERM"), Some("xterm-wsbox-test"), "TERM must pass\n{p}");
    assert_eq!(get("HOME"), Some("/home/user"), "{p}");
    assert_eq!(get("USER"), Some("user"), "{p}");
    assert_eq!(get("XDG_RUNTIME_DIR"), Some("/run/user/1000"), "{p}");
    assert_eq!(
        get("PULSE_SERVER"),
        Some("unix:/run/user/1000/pulse/native"),
        "{p}"
    );
    let path = get("PATH").unwrap_or_default();
    assert!(
        path.starts_with("/usr/local/bin:/usr/bin:/bin"),
        "PATH\n{p}"
    );
    let base = [
        "HOME",
        "USER",
        "LOGNAME",
        "SHELL",
        "PATH",
        "XDG_RUNTIME_DIR",
        "LANG",
        "LANGUAGE",
        "TERM",
        "COLORTERM",
        "NO_COLOR",
        "TZ",
        // wsbox's own: where the sandbox's sound endpoint is (absent
        // without --audio, so that libpulse fails at once).
        "PULSE_SERVER",
    ];
    let unexpected: Vec<&String> = env
        .keys()
        .filter(|k| !base.contains(&k.as_str()) && !k.starts_with("LC_"))
        .collect();
    assert!(
        unexpected.is_empty(),
        "variables outside the allowlist: {unexpected:?}\n{p}"
    );

    let (p, env) = env_of(&["--env", "FOO=bar"]);
    assert_eq!(
        env.get("FOO").map(String::as_str),
        Some("bar"),
        "--env FOO=bar\n{p}"
    );
}

// ---------------------------------------------------------------------------
// Outside: exit statuses and errors.
// ---------------------------------------------------------------------------

fn exit_status_is_the_app_s(who: Who, test: &str) {
    let Some(r) = runner(test, who) else { return };
    // Unique to this run and user: the tests run in parallel.
    let sleeper = format!(
        "{}{}",
        std::process::id(),
        if matches!(who, Who::Root) { 1 } else { 2 }
    );
    let leave_child = format!("sleep {sleeper} & exit 3");
    for (script, code) in [
        ("exit 0", 0),
        ("exit 7", 7),
        ("kill -TERM $$", 143),
        ("kill -KILL $$", 137),
        // A child left running: the sandbox ends with the app, and wsbox
        // returns only once it is gone.
        (leave_child.as_str(), 3),
    ] {
        let before = host_mountinfo();
        let out = r.sh(script, &[]);
        assert_eq!(out.code(), Some(code), "sh -c '{script}'\n{out}");
        assert!(
            out.stderr.is_empty(),
            "sh -c '{script}' wrote to stderr\n{out}"
        );
        assert_nothing_left_behind(&out, &before);
        let sleepers: Vec<_> = fs::read_dir("/proc")
            .unwrap()
            .flatten()
            .filter(|e| {
                fs::read(e.path().join("cmdline"))
                    .is_ok_and(|c| c.split(|b| *b == 0).any(|arg| arg == sleeper.as_bytes()))
            })
            .map(|e| e.file_name())
            .collect();
        assert!(
            sleepers.is_empty(),
            "the app's child outlived wsbox: {sleepers:?}\n{out}"
        );
    }
}

fn exit_status_program_not_found(who: Who, test: &str) {
    let Some(r) = runner(test, who) else { return };
    let before = host_mountinfo();
    let out = r.run(&[], &["wsbox-no-such-program"]);
    assert_one_line_error(&out, 127, &["wsbox-no-such-program"]);
    assert_nothing_left_behind(&out, &before);
    let out = r.run(&[], &["/usr/bin/wsbox-no-such-program"]);
    assert_one_line_error(&out, 127, &["/usr/bin/wsbox-no-such-program"]);
}

fn exit_status_cannot_execute(who: Who, test: &str) {
    let Some(r) = runner(test, who) else { return };
    let before = host_mountinfo();
    let out = r.run(&[], &["/etc/hostname"]);
    assert_one_line_error(&out, 126, &["/etc/hostname"]);
    assert_nothing_left_behind(&out, &before);
}

fn bad_option(who: Who, test: &str) {
    let Some(r) = runner(test, who) else { return };
    let before = host_mountinfo();
    let out = output(r.wsbox(&["run", "--display", "none", "--bogus-option", "--", "true"]));
    assert_one_line_error(&out, 125, &["--bogus-option"]);
    assert_nothing_left_behind(&out, &before);
}

fn invalid_policy(who: Who, test: &str) {
    let Some(r) = runner(test, who) else { return };
    let file = scratch("policy").join("bad.toml");
    fs::write(
        &file,
        "[identity]\nhostname = \"sandbox\"\nno_such_field = 1\n",
    )
    .unwrap();
    fs::set_permissions(&file, fs::Permissions::from_mode(0o644)).unwrap();
    let shown = file.display().to_string();
    let before = host_mountinfo();
    let out = r.run(&["--policy", &shown], &["true"]);
    assert_one_line_error(&out, 125, &[&shown, "line 3", "no_such_field"]);
    assert_nothing_left_behind(&out, &before);
}

fn unreadable_policy(who: Who, test: &str) {
    let Some(r) = runner(test, who) else { return };
    let file = bins().dir.join("no-such-policy.toml");
    let shown = file.display().to_string();
    let before = host_mountinfo();
    let out = r.run(&["--policy", &shown], &["true"]);
    assert_one_line_error(&out, 125, &[&shown]);
    assert_nothing_left_behind(&out, &before);
}

fn missing_bind_source(who: Who, test: &str) {
    let Some(r) = runner(test, who) else { return };
    let before = host_mountinfo();
    let out = r.run(&["--ro", "/nonexistent/x"], &["true"]);
    assert_one_line_error(&out, 125, &["/nonexistent/x"]);
    assert_nothing_left_behind(&out, &before);
    let out = r.run(&["--rw", "/nonexistent/y:/data"], &["true"]);
    assert_one_line_error(&out, 125, &["/nonexistent/y"]);
    assert_nothing_left_behind(&out, &before);
}

fn reserved_bind_targets(who: Who, test: &str) {
    let Some(r) = runner(test, who) else { return };
    let dir = scratch("reserved");
    for target in [
        "/",
        "/etc",
        "/usr",
        "/run",
        "/tmp",
        "/var",
        "/home",
        "/proc",
        "/proc/sys",
        "/dev",
        "/dev/shm",
        "/sys",
        "/sys/kernel",
    ] {
        let before = host_mountinfo();
        for flag in ["--ro", "--rw"] {
            let bind = format!("{}:{target}", dir.display());
            let out = r.run(&[flag, &bind], &["true"]);
            assert_one_line_error(&out, 125, &[target]);
            assert_nothing_left_behind(&out, &before);
        }
    }
}

fn timeout(who: Who, test: &str) {
    let Some(r) = runner(test, who) else { return };
    let before = host_mountinfo();
    let out = r.run(&["--timeout", "0.5"], &["sleep", "30"]);
    assert_eq!(out.code(), Some(124), "{out}");
    assert!(
        out.elapsed >= Duration::from_millis(400) && out.elapsed < Duration::from_secs(5),
        "--timeout 0.5 took {:?}\n{out}",
        out.elapsed
    );
    assert_nothing_left_behind(&out, &before);
}

fn timeout_kills_an_app_ignoring_sigterm(who: Who, test: &str) {
    let Some(r) = runner(test, who) else { return };
    let before = host_mountinfo();
    let out = r.run(
        &["--timeout", "0.3"],
        &["sh", "-c", "trap '' TERM; while :; do sleep 0.1; done"],
    );
    assert_eq!(out.code(), Some(124), "{out}");
    assert!(
        out.elapsed < Duration::from_secs(8),
        "stopping took {:?}\n{out}",
        out.elapsed
    );
    assert_nothing_left_behind(&out, &before);
}

// ---------------------------------------------------------------------------
// Outside: signals.
// ---------------------------------------------------------------------------

/// pid 1 of the sandbox and the app, once the app runs `comm`.
fn sandbox_processes(wsbox: i32, comm_of_app: &str) -> (i32, i32) {
    wait_for(
        &format!("the sandbox of wsbox {wsbox} to run {comm_of_app}"),
        Duration::from_secs(10),
        || {
            let pid1 = *children(wsbox).first()?;
            let app = *children(pid1).first()?;
            (comm(app)? == comm_of_app).then_some((pid1, app))
        },
    )
}

fn sigterm_is_forwarded(who: Who, test: &str) {
    let Some(r) = runner(test, who) else { return };
    let running = start(r.sandbox(
        &[],
        &[
            "sh",
            "-c",
            "trap 'exit 42' TERM; while :; do sleep 0.1; done",
        ],
    ));
    let wsbox = running.pid();
    let (_, app) = sandbox_processes(wsbox, "sh");
    let sigterm_bit = 1u64 << (libc::SIGTERM - 1);
    wait_for("the app's TERM trap", Duration::from_secs(10), || {
        (signals_caught(app) & sigterm_bit != 0).then_some(())
    });
    // SAFETY: plain kill(2) of our own child.
    assert_eq!(unsafe { libc::kill(wsbox, libc::SIGTERM) }, 0);
    let out = running.finish(Duration::from_secs(10));
    assert_eq!(out.code(), Some(42), "SIGTERM did not reach the app\n{out}");
}

fn sigkill_of_wsbox_takes_the_sandbox_down(who: Who, test: &str) {
    let Some(r) = runner(test, who) else { return };
    let before = host_mountinfo();
    let running = start(r.sandbox(&[], &["sleep", "1000"]));
    let wsbox = running.pid();
    let (pid1, app) = sandbox_processes(wsbox, "sleep");
    let started: Vec<(i32, String)> = [pid1, app]
        .into_iter()
        .map(|pid| (pid, start_time(pid).unwrap()))
        .collect();
    // SAFETY: plain kill(2) of our own child.
    assert_eq!(unsafe { libc::kill(wsbox, libc::SIGKILL) }, 0);
    let out = running.finish(Duration::from_secs(10));
    assert_eq!(out.status.code(), None, "{out}");

    let mut remaining: Vec<&(i32, String)> = started.iter().collect();
    poll(Duration::from_secs(5), || {
        remaining.retain(|(pid, t)| still_running(*pid, t));
        remaining.is_empty().then_some(())
    });
    if !remaining.is_empty() {
        let status: Vec<String> = remaining
            .iter()
            .map(|(pid, _)| {
                let text = fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
                format!("pid {pid}:\n{text}")
            })
            .collect();
        for (pid, _) in &remaining {
            // SAFETY: plain kill(2); the pid was checked to be the same process.
            unsafe { libc::kill(*pid, libc::SIGKILL) };
        }
        panic!(
            "5 s after SIGKILL of wsbox its sandbox still runs (pid 1 = {pid1}, app = {app}):\n{}\n{out}",
            status.join("\n")
        );
    }
    assert_eq!(
        host_mountinfo(),
        before,
        "the host's mount table changed\n{out}"
    );
}

// ---------------------------------------------------------------------------
// Policies, without a sandbox.
// ---------------------------------------------------------------------------

#[test]
fn policy_check_reports_ok_or_the_first_error() {
    let bins = bins();
    let dir = scratch("policy-check");
    let good = dir.join("good.toml");
    fs::write(&good, "[identity]\nhostname = \"box\"\n").unwrap();
    let bad = dir.join("bad.toml");
    fs::write(&bad, "[identity]\nhostname = \"box\"\nno_such_field = 1\n").unwrap();
    let check = |file: &Path| {
        let mut cmd = Command::new(&bins.wsbox);
        cmd.args(["policy", "check"]).arg(file);
        output(cmd)
    };

    let out = check(&good);
    assert_eq!(out.code(), Some(0), "{out}");
    assert_eq!(
        out.stdout.trim(),
        format!("ok: {}", good.display()),
        "{out}"
    );

    let out = check(&bad);
    let shown = bad.display().to_string();
    assert_one_line_error(
        &out,
        125,
        &[
            &format!("invalid policy {shown} at line 3, column "),
            "no_such_field",
        ],
    );

    let mut cmd = Command::new(&bins.wsbox);
    cmd.args(["policy", "show", "default"]);
    let out = output(cmd);
    assert_eq!(out.code(), Some(0), "{out}");
    assert!(out.stdout.contains("hostname = \"sandbox\""), "{out}");
}
