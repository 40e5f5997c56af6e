//! End-to-end tests of files handed to a sandbox: file arguments (paths and
//! `file://` URIs) rewritten to /run/wsbox/files, `--file`/`--file-rw`,
//! read-only that stays read-only, the persistent home (symlinks planted in
//! it, data surviving a crash, SIGKILL of wsbox and a clean exit), a
//! directory swapped for a symlink while wsbox binds it, `wsbox add-file`,
//! `remove-file` and `export`, documents (a read-write file is a copy in a
//! directory of its own, written back to the host file), and one-line
//! errors for missing, unreadable and special files that leave nothing
//! behind. The real editors that save documents are in tests/apps.rs.
//!
//! Each check runs as root and as the unprivileged user `wsbox-test`
//! (WSBOX_TEST_USER), with real programs inside: sh, cat, python3. Needs
//! `cargo build --bins`. A test that cannot run here prints
//! `SKIPPED: <test>: <reason>` and passes, unless WSBOX_MUST_WORK=1 or
//! CI=true, where it fails instead.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::ffi::CString;
use std::fs;
use std::os::unix::fs::{symlink, MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use testkit::{euid, next, output, poll, skip, Out, Running, Who as As};

const RUN_LIMIT: Duration = Duration::from_secs(30);

fn root_dir() -> &'static Path {
    testkit::root_dir("files", false)
}

/// The wsbox binary, copied where the test user can run it.
fn wsbox_bin() -> PathBuf {
    testkit::shared_copy(&testkit::wsbox_exe())
}

/// wsbox as one identity, with a directory of its own.
#[derive(Debug)]
struct Runner {
    /// uid/gid to switch to (the test runs as root).
    switch: Option<(u32, u32)>,
    /// The owner of the test's files: wsbox's own ids.
    owner: (u32, u32),
    /// The host ids of the app.
    app: (u32, u32),
    root: bool,
    /// The test's directory, 0755, owned by `owner`.
    dir: PathBuf,
    /// XDG_RUNTIME_DIR, 0700, owned by `owner`.
    run: PathBuf,
}

fn who(test: &str, as_: As) -> Option<Runner> {
    let (switch, owner, app, root) = match as_ {
        As::Root if euid() != 0 => {
            skip(test, "not running as root");
            return None;
        }
        As::Root => (None, (0, 0), (65534, 65534), true),
        As::User if euid() != 0 => {
            let ids = (euid(), testkit::egid());
            (None, ids, ids, false)
        }
        As::User => match testkit::test_user() {
            Ok(ids) => (Some(ids), ids, ids, false),
            Err(why) => {
                skip(test, &why);
                return None;
            }
        },
    };
    let dir = testkit::scratch_in(root_dir(), test, 0o755);
    let run = dir.join("run");
    testkit::make_dir(&run, 0o700);
    for d in [&dir, &run] {
        std::os::unix::fs::chown(d, Some(owner.0), Some(owner.1)).unwrap();
    }
    let who = Runner {
        switch,
        owner,
        app,
        root,
        dir,
        run,
    };
    let out = who.run(&[], &["true"]);
    if out.status.code() == Some(125)
        && ["user namespaces", "Landlock", "seccomp"]
            .iter()
            .any(|m| out.stderr.contains(m))
    {
        skip(
            test,
            &format!("this kernel cannot run sandboxes: {}", out.stderr.trim()),
        );
        return None;
    }
    assert_eq!(out.status.code(), Some(0), "a plain sandbox fails\n{out}");
    Some(who)
}

impl Runner {
    fn wsbox(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(wsbox_bin());
        cmd.args(args)
            .current_dir(&self.dir)
            .env("XDG_RUNTIME_DIR", &self.run)
            .env("HOME", &self.dir);
        if let Some((uid, gid)) = self.switch {
            cmd.uid(uid).gid(gid);
        }
        cmd
    }

    fn sandbox(&self, options: &[&str], argv: &[&str]) -> Command {
        let mut cmd = self.wsbox(&["run", "--display", "none"]);
        cmd.args(options).arg("--").args(argv);
        cmd
    }

    fn run(&self, options: &[&str], argv: &[&str]) -> Out {
        output(self.sandbox(options, argv), RUN_LIMIT)
    }

    fn sh(&self, options: &[&str], script: &str, args: &[&str]) -> Out {
        let mut argv = vec!["sh", "-c", script, "sh"];
        argv.extend_from_slice(args);
        self.run(options, &argv)
    }

    /// A file in the test's directory, owned by wsbox's identity.
    fn file(&self, rel: &str, contents: &str, mode: u32) -> PathBuf {
        let path = self.dir.join(rel);
        if let Some(parent) = path.parent() {
            self.mkdir_all(parent);
        }
        fs::write(&path, contents).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(mode)).unwrap();
        std::os::unix::fs::chown(&path, Some(self.owner.0), Some(self.owner.1)).unwrap();
        path
    }

    fn mkdir_all(&self, path: &Path) {
        fs::create_dir_all(path).unwrap();
        let mut p = path;
        while p.starts_with(&self.dir) && p != self.dir {
            std::os::unix::fs::chown(p, Some(self.owner.0), Some(self.owner.1)).unwrap();
            p = p.parent().unwrap();
        }
    }

    /// A directory the app may write: owned by the app's host ids.
    fn app_dir(&self, rel: &str) -> PathBuf {
        let path = self.dir.join(rel);
        self.mkdir_all(&path);
        std::os::unix::fs::chown(&path, Some(self.app.0), Some(self.app.1)).unwrap();
        path
    }

    /// What is left in wsbox's runtime directory but its cache of /etc
    /// references, which is meant to stay.
    fn instance_dirs(&self) -> Vec<String> {
        fs::read_dir(self.run.join("wsbox"))
            .map(|d| {
                d.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .filter(|name| name != ".etc-refs.json")
                    .collect()
            })
            .unwrap_or_default()
    }
}

fn assert_one_line_error(out: &Out, needles: &[&str]) {
    assert_eq!(out.status.code(), Some(125), "exit status\n{out}");
    let lines: Vec<&str> = out.stderr.lines().filter(|l| !l.is_empty()).collect();
    assert_eq!(lines.len(), 1, "expected one line on stderr\n{out}");
    assert!(lines[0].starts_with("wsbox: "), "{out}");
    for needle in needles {
        assert!(
            lines[0].contains(needle),
            "stderr must name {needle:?}\n{out}"
        );
    }
}

fn have_python(test: &str) -> bool {
    testkit::have_programs(test, &["python3"])
}

testkit::as_root_and_user!(
    file_arguments_are_bound_and_rewritten,
    explicit_grants_and_no_file_args,
    read_only_stays_read_only,
    errors_name_the_file_and_leave_nothing,
    special_files_only_when_granted,
    persistent_home_survives_crash_kill_and_exit,
    persistent_home_symlinks_are_not_followed,
    swapped_directory_never_shows_the_link_target,
    add_remove_and_export_in_a_running_sandbox,
    running_sandbox_races_and_export_rights,
    home_tilde_is_expanded,
    read_only_shares_stay_out_of_writable_places,
    documents_stay_apart_and_follow_add_rename_and_remove,
    a_host_file_changed_meanwhile_keeps_both_versions,
);

// ---------------------------------------------------------------------------
// File arguments.
// ---------------------------------------------------------------------------

fn file_arguments_are_bound_and_rewritten(as_: As, test: &str) {
    let Some(w) = who(test, as_) else { return };
    let a = w.file("a/report.txt", "report a\n", 0o644);
    w.file("b/report.txt", "report b\n", 0o644);
    w.file("My Doc ä.txt", "uri doc\n", 0o644);
    w.mkdir_all(&w.dir.join("somedir"));
    let uri = format!("file://{}/My%20Doc%20%C3%A4.txt", w.dir.display());
    let script = r#"
for a in "$@"; do printf 'arg %s\n' "$a"; done
cat "$1" "$2"
case "$3" in file://*) p=$(python3 -c 'import sys, urllib.parse; print(urllib.parse.unquote(sys.argv[1][7:]))' "$3"); cat "$p";; esac
"#;
    let out = w.sh(
        &[],
        script,
        &[
            a.to_str().unwrap(),
            "b/report.txt",
            &uri,
            "--flag",
            "missing.txt",
            "somedir",
            a.to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{out}");
    let args: Vec<&str> = out
        .stdout
        .lines()
        .filter_map(|l| l.strip_prefix("arg "))
        .collect();
    assert_eq!(
        args,
        [
            "/run/wsbox/files/report.txt",
            "/run/wsbox/files/report-2.txt",
            "file:///run/wsbox/files/My%20Doc%20%C3%A4.txt",
            "--flag",
            "missing.txt",
            "somedir",
            "/run/wsbox/files/report.txt",
        ],
        "{out}"
    );
    assert!(out.stdout.contains("report a\nreport b\n"), "{out}");
    assert!(out.stdout.contains("uri doc\n"), "the URI's file\n{out}");
}

fn explicit_grants_and_no_file_args(as_: As, test: &str) {
    let Some(w) = who(test, as_) else { return };
    let doc = w.file("doc.txt", "doc\n", 0o644);
    let rw = w.app_dir("rwdir");
    w.file("rodir/inner.txt", "inner\n", 0o644);
    let script = r#"
cat /run/wsbox/files/doc.txt
cat /run/wsbox/files/rodir/inner.txt
echo "from inside" > /run/wsbox/files/rw/rwdir/new.txt && echo "rw ok"
if (echo x > /run/wsbox/files/rodir/x) 2>/dev/null; then echo "ro dir writable"; fi
printf 'arg %s\n' "$1"
"#;
    let out = w.sh(
        &[
            "--file",
            doc.to_str().unwrap(),
            "--file",
            "rodir",
            "--file-rw",
            rw.to_str().unwrap(),
            "--no-file-args",
        ],
        script,
        &[doc.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(0), "{out}");
    assert!(out.stdout.contains("doc\ninner\nrw ok\n"), "{out}");
    assert!(!out.stdout.contains("ro dir writable"), "{out}");
    assert!(
        out.stdout.contains(&format!("arg {}\n", doc.display())),
        "--no-file-args must leave the argument alone\n{out}"
    );
    assert_eq!(
        fs::read_to_string(rw.join("new.txt")).unwrap(),
        "from inside\n"
    );
    assert!(!w.dir.join("rodir/x").exists());

    // An argument naming a file granted read-write points at its
    // document: a copy in a directory of its own, written back to the host
    // file when the app closes it. Run by root, the app (nobody) writes the
    // copy of root's 0644 file: wsbox writes it back.
    let out = w.sh(
        &["--file-rw", doc.to_str().unwrap()],
        r#"printf 'arg %s\n' "$1"; echo more >> "$1""#,
        &[doc.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(0), "{out}");
    assert!(
        out.stdout.contains("arg /run/wsbox/docs/1/doc.txt\n"),
        "{out}"
    );
    assert_eq!(fs::read_to_string(&doc).unwrap(), "doc\nmore\n", "{out}");
    let meta = fs::metadata(&doc).unwrap();
    assert_eq!(
        (meta.uid(), meta.gid(), meta.mode() & 0o777),
        (w.owner.0, w.owner.1, 0o644),
        "the owner and mode are kept"
    );

    // An argument naming a file inside a directory granted read-write is
    // rewritten to its path in that directory, not granted on its own.
    let inner = w.app_dir("rwdir/sub");
    let inner_file = inner.join("f.txt");
    fs::write(&inner_file, "inner\n").unwrap();
    std::os::unix::fs::chown(&inner_file, Some(w.app.0), Some(w.app.1)).unwrap();
    let out = w.sh(
        &["--file-rw", rw.to_str().unwrap()],
        r#"printf 'arg %s\n' "$1"; echo more >> "$1"; ls -A /run/wsbox/files"#,
        &[inner_file.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(0), "{out}");
    assert_eq!(
        out.stdout, "arg /run/wsbox/files/rw/rwdir/sub/f.txt\nrw\n",
        "{out}"
    );
    assert_eq!(fs::read_to_string(&inner_file).unwrap(), "inner\nmore\n");
}

fn read_only_stays_read_only(as_: As, test: &str) {
    let Some(w) = who(test, as_) else { return };
    if !have_python(test) {
        return;
    }
    // World-writable on the host: only the sandbox can refuse the writes.
    let doc = w.file("open.txt", "original\n", 0o666);
    let share = w.app_dir("share");
    fs::set_permissions(&share, fs::Permissions::from_mode(0o777)).unwrap();
    w.file("share/f.txt", "share file\n", 0o666);
    let script = r#"
import ctypes, errno, os, sys
def attempt(what, f):
    try:
        f()
        print(what, "allowed")
    except OSError as e:
        print(what, "refused", errno.errorcode.get(e.errno, e.errno))
arg = sys.argv[1]
attempt("append", lambda: open(arg, "a").write("x"))
attempt("truncate", lambda: os.truncate(arg, 0))
attempt("chmod", lambda: os.chmod(arg, 0o777))
attempt("create", lambda: open("/run/wsbox/files/new", "w"))
attempt("share-append", lambda: open("/data/f.txt", "a").write("x"))
attempt("share-create", lambda: open("/data/new", "w"))
attempt("share-unlink", lambda: os.unlink("/data/f.txt"))
libc = ctypes.CDLL(None, use_errno=True)
MS_REMOUNT, MS_BIND = 32, 4096
rc = libc.mount(b"none", b"/data", None, MS_REMOUNT | MS_BIND, None)
print("remount", "allowed" if rc == 0 else "refused")
rc = libc.mount(b"none", arg.encode(), None, MS_REMOUNT | MS_BIND, None)
print("remount-file", "allowed" if rc == 0 else "refused")
print(open(arg).read().strip())
"#;
    let share_opt = format!("{}:/data", share.display());
    let out = w.run(
        &["--ro", &share_opt],
        &["python3", "-c", script, doc.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(0), "{out}");
    for what in [
        "append",
        "truncate",
        "chmod",
        "create",
        "share-append",
        "share-create",
        "share-unlink",
        "remount",
        "remount-file",
    ] {
        assert!(
            out.stdout
                .lines()
                .any(|l| l.starts_with(&format!("{what} refused"))),
            "{what} was not refused\n{out}"
        );
    }
    assert!(out.stdout.contains("original"), "{out}");
    assert_eq!(fs::read_to_string(&doc).unwrap(), "original\n");
    assert_eq!(
        fs::read_to_string(share.join("f.txt")).unwrap(),
        "share file\n"
    );
    assert!(!share.join("new").exists());
    assert_eq!(fs::metadata(&doc).unwrap().mode() & 0o777, 0o666);
}

// ---------------------------------------------------------------------------
// Errors.
// ---------------------------------------------------------------------------

fn errors_name_the_file_and_leave_nothing(as_: As, test: &str) {
    let Some(w) = who(test, as_) else { return };
    let missing = w.dir.join("missing.txt");
    let fifo = w.dir.join("a-fifo");
    let c = CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: a valid path string.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o666) }, 0);
    let socket = w.dir.join("a-socket");
    let _listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
    let mut cases: Vec<(Vec<String>, String)> = Vec::new();
    for flag in ["--file", "--file-rw", "--ro", "--rw"] {
        for path in [&missing, &fifo, &socket, Path::new("/dev/null")] {
            cases.push((
                vec![flag.to_owned(), path.display().to_string()],
                path.display().to_string(),
            ));
        }
    }
    cases.push((
        vec!["--home".to_owned(), fifo.display().to_string()],
        fifo.display().to_string(),
    ));
    // An existing directory that is not the app's is never taken over
    // (root's `--home ~` must not hand root's home to nobody).
    let foreign = w.dir.join("foreign-home");
    fs::create_dir(&foreign).unwrap();
    fs::set_permissions(&foreign, fs::Permissions::from_mode(0o700)).unwrap();
    cases.push((
        vec!["--home".to_owned(), foreign.display().to_string()],
        foreign.display().to_string(),
    ));
    if !w.root {
        // Root reads anything; for others a 0000 file is unreadable.
        let locked = w.file("locked.txt", "secret\n", 0o000);
        let locked = locked.display().to_string();
        cases.push((vec!["--file".into(), locked.clone()], locked.clone()));
        cases.push((vec!["--ro".into(), locked.clone()], locked.clone()));
    }
    // A home that cannot be used because of a later error is not left
    // behind, parents included.
    let new_home = w.dir.join("new-parent/home");
    cases.push((
        vec![
            "--home".to_owned(),
            new_home.display().to_string(),
            "--ro".to_owned(),
            format!("{}:/mnt/missing", missing.display()),
        ],
        missing.display().to_string(),
    ));
    for (options, needle) in cases {
        let options: Vec<&str> = options.iter().map(String::as_str).collect();
        let files_before = listing(&w.dir);
        let mounts_before = mounts();
        let out = w.run(&options, &["true"]);
        assert_one_line_error(&out, &[&needle]);
        assert!(
            w.instance_dirs().is_empty(),
            "{options:?} left {:?} behind\n{out}",
            w.instance_dirs()
        );
        assert_eq!(
            listing(&w.dir),
            files_before,
            "{options:?} left files behind\n{out}"
        );
        assert_eq!(
            mounts(),
            mounts_before,
            "{options:?} left mounts behind\n{out}"
        );
    }
    let meta = fs::metadata(&foreign).unwrap();
    assert_eq!(
        (meta.uid(), meta.mode() & 0o777),
        (0, 0o700),
        "the home was taken over"
    );
    if !w.root {
        // A file argument that cannot be read is an error too.
        let locked = w.dir.join("locked.txt");
        let out = w.run(&[], &["cat", locked.to_str().unwrap()]);
        assert_one_line_error(&out, &[locked.to_str().unwrap()]);
    }
    // Special files as arguments are passed on unchanged.
    let out = w.sh(&[], r#"printf 'arg %s\n' "$1""#, &[fifo.to_str().unwrap()]);
    assert!(
        out.stdout.contains(&format!("arg {}\n", fifo.display())),
        "{out}"
    );
}

/// Every path below `dir` but the wsbox runtime directory, sorted.
fn listing(dir: &Path) -> Vec<PathBuf> {
    let mut all = Vec::new();
    let mut todo = vec![dir.to_owned()];
    while let Some(d) = todo.pop() {
        for entry in fs::read_dir(&d).into_iter().flatten().flatten() {
            let path = entry.path();
            if path == dir.join("run") {
                continue;
            }
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                todo.push(path.clone());
            }
            all.push(path);
        }
    }
    all.sort();
    all
}

/// The host's mount table, without the mount ids that change.
fn mounts() -> Vec<String> {
    let mut lines: Vec<String> = fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .map(|l| l.split_whitespace().skip(2).collect::<Vec<_>>().join(" "))
        .collect();
    lines.sort();
    lines
}

fn special_files_only_when_granted(as_: As, test: &str) {
    let Some(w) = who(test, as_) else { return };
    let fifo = w.dir.join("pipe");
    let c = CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: a valid path string.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o666) }, 0);
    std::os::unix::fs::chown(&fifo, Some(w.owner.0), Some(w.owner.1)).unwrap();
    let bind = format!("{}:/mnt/pipe", fifo.display());
    let out = w.sh(
        &["--allow-special", "--ro", &bind],
        "test -p /mnt/pipe && echo fifo-inside",
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "{out}");
    assert!(out.stdout.contains("fifo-inside"), "{out}");
}

// ---------------------------------------------------------------------------
// Persistent home.
// ---------------------------------------------------------------------------

fn persistent_home_survives_crash_kill_and_exit(as_: As, test: &str) {
    let Some(w) = who(test, as_) else { return };
    if !have_python(test) {
        return;
    }
    // Through the policy key, with <name> substituted.
    let policy = w.file(
        "home.toml",
        &format!(
            "[filesystem]\nhome = {{ persist = \"{}/homes/<name>\" }}\n",
            w.dir.display()
        ),
        0o644,
    );
    w.mkdir_all(&w.dir.join("homes"));
    let name = format!("ph{}-{}", std::process::id(), next());
    let home = w.dir.join("homes").join(&name);
    let policy = policy.to_str().unwrap();
    let write = |file: &str, then: &str| {
        format!(
            r#"
import os, signal, sys, time
with open(os.path.expanduser("~/{file}"), "w") as f:
    f.write("{file} survived\n")
    f.flush()
    os.fsync(f.fileno())
open(os.path.expanduser("~/{file}.ready"), "w").close()
{then}
"#
        )
    };
    let options = ["--policy", policy, "--name", &name];

    // 1. The app crashes.
    let out = w.run(
        &options,
        &[
            "python3",
            "-c",
            &write("crash", "os.kill(os.getpid(), signal.SIGSEGV)"),
        ],
    );
    assert_eq!(out.status.code(), Some(128 + 11), "{out}");
    let meta = fs::metadata(&home).unwrap();
    assert!(meta.is_dir());
    assert_eq!(meta.mode() & 0o777, 0o700, "the home is created 0700");
    assert_eq!(
        (meta.uid(), meta.gid()),
        w.app,
        "the home belongs to the app's ids"
    );

    // The same home by path from here on: the killed wsbox's runtime
    // directory keeps its name taken until it is collected.
    let home_opt = home.display().to_string();
    let options = ["--home", home_opt.as_str()];

    // 2. wsbox is killed with SIGKILL while the app runs.
    let running = Running::start(w.sandbox(
        &options,
        &["python3", "-c", &write("killed", "time.sleep(60)")],
    ));
    let ready = poll(Duration::from_secs(20), || {
        home.join("killed.ready").exists().then_some(())
    });
    assert!(ready.is_some(), "the app never wrote its file");
    let out = running.kill(RUN_LIMIT);
    assert_eq!(out.status.code(), None, "wsbox was killed\n{out}");

    // 3. A clean exit.
    let out = w.run(&options, &["python3", "-c", &write("clean", "sys.exit(0)")]);
    assert_eq!(out.status.code(), Some(0), "{out}");

    // All three are there in the next run.
    let out = w.sh(
        &options,
        "cat ~/crash ~/killed ~/clean; echo \"home $HOME\"",
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "{out}");
    assert!(
        out.stdout
            .contains("crash survived\nkilled survived\nclean survived\nhome /home/user\n"),
        "{out}"
    );

    // The default is still an empty tmpfs.
    let out = w.sh(&[], "ls -A ~ | wc -l", &[]);
    assert_eq!(out.stdout.trim(), "0", "{out}");
}

fn persistent_home_symlinks_are_not_followed(as_: As, test: &str) {
    let Some(w) = who(test, as_) else { return };
    // The host user's home: for root /root, for the test user a private
    // directory of its own that stands in for it.
    let host_home = if w.root {
        PathBuf::from("/root")
    } else {
        let d = w.dir.join("userhome");
        w.mkdir_all(&d);
        fs::set_permissions(&d, fs::Permissions::from_mode(0o700)).unwrap();
        w.file("userhome/secret", "host user's secret\n", 0o600);
        d
    };
    let before = |p: &Path| fs::symlink_metadata(p).map(|m| (m.uid(), m.gid(), m.mode()));
    let etc_before = before(Path::new("/etc")).unwrap();
    let hosthome_before = before(&host_home).unwrap();
    let home = w.app_dir("persist");
    fs::set_permissions(&home, fs::Permissions::from_mode(0o700)).unwrap();
    // What an app could have planted in an earlier run (as its own uid).
    for (name, target) in [("etc", Path::new("/etc")), ("hosthome", &host_home)] {
        let link = home.join(name);
        symlink(target, &link).unwrap();
        std::os::unix::fs::lchown(&link, Some(w.app.0), Some(w.app.1)).unwrap();
    }
    let data = w.file("data/d.txt", "data\n", 0o644);
    let home_opt = home.display().to_string();

    let script = r#"
cat ~/etc/hostname
if cat ~/etc/shadow 2>/dev/null; then echo "shadow readable"; fi
ls -A ~/hosthome/ 2>&1 | head -3
cat ~/hosthome/secret 2>/dev/null && echo "secret readable"
echo done
"#;
    let out = w.sh(&["--home", &home_opt], script, &[]);
    assert_eq!(out.status.code(), Some(0), "{out}");
    // Inside, the link resolves in the sandbox's root: its own /etc.
    assert!(out.stdout.starts_with("sandbox\n"), "{out}");
    assert!(!out.stdout.contains("shadow readable"), "{out}");
    assert!(!out.stdout.contains("secret readable"), "{out}");
    assert!(!out.stdout.contains("host user's secret"), "{out}");

    // A bind into the home through a planted link is refused, not followed
    // (read-write: a read-only share may not go into the home at all).
    let bind = format!("{}:~/etc/evil", data.display());
    let out = w.run(&["--home", &home_opt, "--rw", &bind], &["true"]);
    assert_one_line_error(&out, &["/etc/evil"]);
    let bind = format!("{}:~/hosthome/evil", data.display());
    let out = w.run(&["--home", &home_opt, "--rw", &bind], &["true"]);
    assert_one_line_error(&out, &["hosthome/evil"]);
    assert!(!Path::new("/etc/evil").exists());
    assert!(!host_home.join("evil").exists());

    // A home that is itself a link the app could have made is refused.
    let link_home = w.dir.join("linkhome");
    symlink(&host_home, &link_home).unwrap();
    std::os::unix::fs::lchown(&link_home, Some(w.owner.0.max(1)), Some(w.owner.1)).unwrap();
    let out = w.run(&["--home", link_home.to_str().unwrap()], &["true"]);
    assert_one_line_error(&out, &["linkhome"]);

    // wsbox changed nothing it reached through them.
    assert_eq!(before(Path::new("/etc")).unwrap(), etc_before);
    assert_eq!(before(&host_home).unwrap(), hosthome_before);
    if !w.root {
        let secret = fs::metadata(host_home.join("secret")).unwrap();
        assert_eq!((secret.uid(), secret.mode() & 0o777), (w.owner.0, 0o600));
    }
}

// ---------------------------------------------------------------------------
// The rename race.
// ---------------------------------------------------------------------------

fn swapped_directory_never_shows_the_link_target(as_: As, test: &str) {
    let Some(w) = who(test, as_) else { return };
    let secret = w.dir.join("secret");
    w.mkdir_all(&secret);
    w.file("secret/marker", "SECRET-TARGET\n", 0o644);
    w.file("race/share/marker", "real share\n", 0o644);
    let share = w.dir.join("race/share");
    let link = w.dir.join("race/link");
    symlink(&secret, &link).unwrap();
    // As the app would have made it: not root's.
    std::os::unix::fs::lchown(&link, Some(w.app.0.max(1)), Some(w.app.1)).unwrap();

    let stop = Arc::new(AtomicBool::new(false));
    let swapper = {
        let stop = stop.clone();
        let (a, b) = (
            CString::new(share.to_str().unwrap()).unwrap(),
            CString::new(link.to_str().unwrap()).unwrap(),
        );
        thread::spawn(move || {
            // Bursts of swaps of varying length with short pauses of varying
            // length between them: some runs meet a swap in the middle of
            // their checks, others a quiet directory in either state.
            let (mut swaps, mut seed) = (0u64, 0x2545_f491_u32);
            while !stop.load(Ordering::Relaxed) {
                seed ^= seed << 13;
                seed ^= seed >> 17;
                seed ^= seed << 5;
                for _ in 0..1 + seed % 24 {
                    // SAFETY: valid path strings; an atomic exchange.
                    let rc = unsafe {
                        libc::renameat2(
                            libc::AT_FDCWD,
                            a.as_ptr(),
                            libc::AT_FDCWD,
                            b.as_ptr(),
                            libc::RENAME_EXCHANGE,
                        )
                    };
                    assert_eq!(rc, 0, "renameat2: {}", std::io::Error::last_os_error());
                    swaps += 1;
                }
                thread::sleep(Duration::from_micros(u64::from(seed >> 8) % 1500));
            }
            swaps
        })
    };
    let share_opt = format!("{}:/data", share.display());
    let arg = share.join("marker");
    let (mut ok, mut refused) = (0, 0);
    // At least 40 runs, and on until one saw the share: whether a run meets
    // a swap is chance, and a slow machine meets more of them.
    while ok + refused < 40 || (ok == 0 && refused < 400) {
        let out = w.sh(
            &["--ro", &share_opt],
            r#"cat /data/marker; cat "$1""#,
            &[arg.to_str().unwrap()],
        );
        assert!(
            !out.stdout.contains("SECRET") && !out.stderr.contains("SECRET"),
            "the link's target showed inside\n{out}"
        );
        match out.status.code() {
            Some(0) => {
                assert_eq!(out.stdout, "real share\nreal share\n", "{out}");
                ok += 1;
            }
            // Refused by wsbox: one line naming a path of the race.
            Some(125) => {
                assert_one_line_error(&out, &["race/"]);
                refused += 1;
            }
            _ => panic!("unexpected end\n{out}"),
        }
    }
    stop.store(true, Ordering::Relaxed);
    let swaps = swapper.join().unwrap();
    eprintln!("{test}: {ok} runs saw the share, {refused} were refused, {swaps} swaps");
    assert!(swaps > 40, "the swapper barely ran");
    // Half the time the share is where it belongs: some runs must work.
    assert!(ok > 0, "no run ever saw the share ({refused} refused)");
}

// ---------------------------------------------------------------------------
// A running sandbox.
// ---------------------------------------------------------------------------

/// The file commands are answered with a compositor running too.
#[test]
fn add_file_and_export_with_a_display() {
    let test = "add_file_and_export_with_a_display";
    let Some(w) = who(test, As::Root) else { return };
    let name = format!("disp{}-{}", std::process::id(), next());
    let doc = w.file("doc.txt", "shown doc\n", 0o644);
    let script =
        "while :; do cat /run/wsbox/files/doc.txt > /tmp/seen 2>/dev/null; sleep 0.05; done";
    let mut cmd = w.wsbox(&[
        "run",
        "--headless",
        "--name",
        &name,
        "--",
        "sh",
        "-c",
        script,
    ]);
    cmd.env_remove("WAYLAND_DISPLAY");
    let running = Running::start(cmd);
    let wsbox = |args: &[&str]| output(w.wsbox(args), RUN_LIMIT);
    let added = poll(Duration::from_secs(15), || {
        let out = wsbox(&["add-file", &name, doc.to_str().unwrap()]);
        (out.status.code() == Some(0)).then_some(out)
    })
    .expect("add-file never worked");
    assert_eq!(added.stdout.trim(), "/run/wsbox/files/doc.txt", "{added}");
    let seen = poll(Duration::from_secs(15), || {
        let out = wsbox(&[
            "export",
            &name,
            "/tmp/seen",
            w.dir.to_str().unwrap(),
            "--force",
        ]);
        let text = fs::read_to_string(w.dir.join("seen")).unwrap_or_default();
        (out.status.code() == Some(0) && text == "shown doc\n").then_some(text)
    });
    assert!(seen.is_some(), "the app never read the added file");
    let out = wsbox(&["stop", &name]);
    assert_eq!(out.status.code(), Some(0), "{out}");
    running.finish(RUN_LIMIT);
}

fn add_remove_and_export_in_a_running_sandbox(as_: As, test: &str) {
    let Some(w) = who(test, as_) else { return };
    let name = format!("live{}-{}", std::process::id(), next());
    let doc = w.file("host/doc.txt", "added doc\n", 0o644);
    let rwdir = w.app_dir("host/rwdir");
    let out_dir = w.dir.join("out");
    w.mkdir_all(&out_dir);
    // The app reports what it sees in /tmp/status, the test reads it with
    // `wsbox export`.
    let script = r#"
ln -s "$1" /tmp/shadow-link
ln -s "../../../../../../..$1" /tmp/shadow-rel
mkfifo /tmp/fifo
while :; do
  { ls -A /run/wsbox/files /run/wsbox/files/rw | tr '\n' ' '; echo
    cat /run/wsbox/files/doc.txt 2>/dev/null
    if [ -d /run/wsbox/files/rw/rwdir ]; then echo "from the app" > /run/wsbox/files/rw/rwdir/made.txt 2>/dev/null && echo "rw written"; fi
    if (echo x >> /run/wsbox/files/doc.txt) 2>/dev/null; then echo "ro written"; fi
  } > /tmp/status.new
  mv /tmp/status.new /tmp/status
  sleep 0.05
done
"#;
    // A host file wsbox's user can read, but that the sandbox does not show:
    // a link to it resolves inside the sandbox's root, where it is missing.
    let host_only = w.file("host-only.txt", "HOST-ONLY\n", 0o644);
    let running = Running::start(w.sandbox(
        &["--name", &name, "--no-file-args"],
        &["sh", "-c", script, "sh", host_only.to_str().unwrap()],
    ));
    let wsbox = |args: &[&str]| output(w.wsbox(args), RUN_LIMIT);
    let status = || -> Option<String> {
        let out = wsbox(&[
            "export",
            &name,
            "/tmp/status",
            out_dir.to_str().unwrap(),
            "--force",
        ]);
        if out.status.code() != Some(0) {
            return None;
        }
        fs::read_to_string(out_dir.join("status")).ok()
    };
    let wait_for = |what: &str, check: &dyn Fn(&str) -> bool| -> String {
        poll(Duration::from_secs(15), || status().filter(|s| check(s)))
            .unwrap_or_else(|| panic!("the app never saw {what}; last status: {:?}", status()))
    };
    wait_for("its files place", &|s| s.contains("rw"));

    let out = wsbox(&["add-file", &name, doc.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{out}");
    assert_eq!(out.stdout.trim(), "/run/wsbox/files/doc.txt", "{out}");
    let out = wsbox(&["add-file", &name, "host/rwdir", "--rw"]);
    assert_eq!(out.status.code(), Some(0), "{out}");
    assert_eq!(out.stdout.trim(), "/run/wsbox/files/rw/rwdir", "{out}");
    let seen = wait_for("the added files", &|s| {
        s.contains("added doc") && s.contains("rw written")
    });
    assert!(!seen.contains("ro written"), "{seen}");
    assert_eq!(
        fs::read_to_string(rwdir.join("made.txt")).unwrap(),
        "from the app\n"
    );
    assert_eq!(fs::read_to_string(&doc).unwrap(), "added doc\n");

    // Errors: one line naming the file, the sandbox unchanged.
    let fifo = w.dir.join("host/fifo");
    let c = CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: a valid path string.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o666) }, 0);
    for bad in ["host/missing.txt", "host/fifo", "/dev/null"] {
        let out = wsbox(&["add-file", &name, bad]);
        assert_one_line_error(&out, &[bad]);
    }
    let out = wsbox(&["remove-file", &name, "/run/wsbox/files/nothing"]);
    assert_one_line_error(&out, &["/run/wsbox/files/nothing"]);

    // Removal, by inside path and by host path.
    let out = wsbox(&["remove-file", &name, "/run/wsbox/files/doc.txt"]);
    assert_eq!(out.status.code(), Some(0), "{out}");
    let out = wsbox(&["remove-file", &name, rwdir.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{out}");
    wait_for("the files go", &|s| {
        !s.contains("doc.txt") && !s.contains("rwdir") && !s.contains("added doc")
    });

    // Export: never overwrites without --force, and then replaces by rename.
    let target = out_dir.join("status");
    fs::write(&target, "keep me\n").unwrap();
    let out = wsbox(&["export", &name, "/tmp/status", out_dir.to_str().unwrap()]);
    assert_one_line_error(&out, &[target.to_str().unwrap(), "--force"]);
    assert_eq!(fs::read_to_string(&target).unwrap(), "keep me\n");
    // A host symlink in the way is replaced, its target left alone.
    let victim = w.file("victim.txt", "victim\n", 0o644);
    fs::remove_file(&target).unwrap();
    symlink(&victim, &target).unwrap();
    let out = wsbox(&[
        "export",
        &name,
        "/tmp/status",
        out_dir.to_str().unwrap(),
        "--force",
    ]);
    assert_eq!(out.status.code(), Some(0), "{out}");
    assert_eq!(fs::read_to_string(&victim).unwrap(), "victim\n");
    assert!(!fs::symlink_metadata(&target)
        .unwrap()
        .file_type()
        .is_symlink());
    // Symlinks inside resolve inside the sandbox's root; special files are refused.
    for (path, needle) in [
        ("/tmp/shadow-link", "/tmp/shadow-link"),
        ("/tmp/shadow-rel", "/tmp/shadow-rel"),
        ("/tmp/fifo", "not a regular file"),
        ("/dev/null", "not a regular file"),
        ("/tmp", "not a regular file"),
    ] {
        let out = wsbox(&["export", &name, path, out_dir.to_str().unwrap(), "--force"]);
        assert_one_line_error(&out, &[needle]);
    }
    for leaked in ["shadow-link", "shadow-rel", "fifo", "null"] {
        assert!(!out_dir.join(leaked).exists(), "{leaked} was exported");
    }
    for entry in fs::read_dir(&out_dir).unwrap().flatten() {
        let text = fs::read_to_string(entry.path()).unwrap_or_default();
        assert!(
            !text.contains("HOST-ONLY"),
            "{:?} holds the host file",
            entry.path()
        );
    }

    let out = wsbox(&["stop", &name]);
    assert_eq!(out.status.code(), Some(0), "{out}");
    let out = running.finish(RUN_LIMIT);
    assert!(out.status.code().is_some(), "{out}");
    assert!(w.instance_dirs().is_empty(), "{:?}", w.instance_dirs());
}

/// The app races add-file and remove-file: it never gets to create
/// anything in the files place (which stays read-only for it throughout),
/// never opens a device node in an added directory (it is nodev before it
/// appears), and never writes a read-only grant. export reads with the
/// app's rights only (pid 1's environment and a file the app cannot read
/// stay out), refuses files over its limit without copying them, keeps
/// holes, and writes 0600. An fd the app holds survives remove-file.
fn running_sandbox_races_and_export_rights(as_: As, test: &str) {
    let Some(w) = who(test, as_) else { return };
    if !have_python(test) {
        return;
    }
    let name = format!("race{}-{}", std::process::id(), next());
    let doc = w.file("host/doc.txt", "added doc\n", 0o666);
    let keep = w.file("host/keep.txt", "kept by an fd\n", 0o644);
    let devdir = w.dir.join("host/devdir");
    w.mkdir_all(&devdir);
    let null = CString::new(devdir.join("null").to_str().unwrap()).unwrap();
    // SAFETY: a valid path string; the test runs as root.
    let have_dev =
        unsafe { libc::mknod(null.as_ptr(), libc::S_IFCHR | 0o666, libc::makedev(1, 3)) } == 0;
    if !have_dev {
        eprintln!("{test}: no device node (not root): the nodev race is not checked");
    }
    // A file only root (and the test user, who owns it, in the user case
    // never) may read: the app may not, so export may not either.
    let share = w.dir.join("share");
    w.mkdir_all(&share);
    let secret = share.join("secret.txt");
    fs::write(&secret, "SECRET-ROOT-ONLY\n").unwrap();
    fs::set_permissions(&secret, fs::Permissions::from_mode(0o600)).unwrap();
    std::os::unix::fs::chown(&secret, Some(0), Some(0)).unwrap();
    let out_dir = w.dir.join("out");
    w.mkdir_all(&out_dir);
    let script = r#"
import os, time
os.symlink("/proc/1/environ", "/tmp/env")
os.symlink("/mnt/share/secret.txt", "/tmp/secret")
with open("/tmp/huge", "w") as f:
    f.truncate(100 << 40)
with open("/tmp/sparse", "w") as f:
    f.seek((1 << 30) - 4)
    f.write("end\n")
with open("/tmp/dense", "wb") as f:
    for _ in range(64):
        f.write(os.urandom(4 << 20))
# Busy openers on every CPU: the helper that attaches a tree gets
# preempted now and then, which widens any window it leaves open.
for _ in range(4):
    if os.fork() == 0:
        while True:
            try:
                os.open("/run/wsbox/files/devdir/null", os.O_RDONLY)
                open("/tmp/device-opened", "w").close()
            except OSError:
                pass
created, devices, ro_written, held, last = 0, 0, 0, None, 0
fds = []
while True:
    for path in ("/run/wsbox/files/x", "/run/wsbox/files/rw/x", "/run/wsbox/files/devdir/new"):
        try:
            fds.append(os.open(path, os.O_WRONLY | os.O_CREAT, 0o644))
            created += 1
        except OSError:
            pass
    try:
        fds.append(os.open("/run/wsbox/files/devdir/null", os.O_RDONLY))
        devices += 1
    except OSError:
        pass
    if os.path.exists("/tmp/device-opened"):
        devices += 1
    try:
        fds.append(os.open("/run/wsbox/files/doc.txt", os.O_WRONLY | os.O_APPEND))
        ro_written += 1
    except OSError:
        pass
    if held is None:
        try:
            held = os.open("/run/wsbox/files/keep.txt", os.O_RDONLY)
        except OSError:
            pass
    now = time.monotonic()
    if now - last > 0.1:
        last = now
        kept = os.pread(held, 100, 0).decode() if held is not None else "-"
        with open("/tmp/status.new", "w") as f:
            f.write(f"created {created}\ndevices {devices}\nro-written {ro_written}\n")
            f.write(f"held {held is not None} exists {os.path.exists('/run/wsbox/files/keep.txt')}\n")
            f.write(f"kept {kept}")
        os.rename("/tmp/status.new", "/tmp/status")
"#;
    let share_opt = format!("{}:/mnt/share", share.display());
    let running = Running::start(w.sandbox(
        &["--name", &name, "--ro", &share_opt],
        &["python3", "-c", script],
    ));
    let wsbox = |args: &[&str]| output(w.wsbox(args), RUN_LIMIT);
    let export = |path: &str| wsbox(&["export", &name, path, out_dir.to_str().unwrap(), "--force"]);
    let status = || -> Option<String> {
        (export("/tmp/status").status.code() == Some(0))
            .then(|| fs::read_to_string(out_dir.join("status")).ok())
            .flatten()
    };
    poll(Duration::from_secs(15), status).expect("the app never reported");

    for round in 0..30 {
        let mut added = Vec::new();
        for (path, rw) in [
            (devdir.to_str().unwrap(), false),
            (doc.to_str().unwrap(), false),
            (doc.to_str().unwrap(), true),
        ] {
            let mut args = vec!["add-file", &name, path];
            if rw {
                args.push("--rw");
            }
            let out = wsbox(&args);
            assert_eq!(
                out.status.code(),
                Some(0),
                "round {round}: add {path}\n{out}"
            );
            added.push(out.stdout.trim().to_owned());
        }
        // The read-write file is a document, in a directory of its own.
        assert_eq!(
            added[..2],
            ["/run/wsbox/files/devdir", "/run/wsbox/files/doc.txt"]
        );
        assert!(
            added[2].starts_with("/run/wsbox/docs/") && added[2].ends_with("/doc.txt"),
            "round {round}: {added:?}"
        );
        for inside in &added {
            let out = wsbox(&["remove-file", &name, inside]);
            assert_eq!(
                out.status.code(),
                Some(0),
                "round {round}: remove {inside}\n{out}"
            );
        }
    }
    // The nodev window, if there were one, is narrow: try it more often.
    for round in 0..100 {
        let out = wsbox(&["add-file", &name, devdir.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(0), "round {round}: add\n{out}");
        let out = wsbox(&["remove-file", &name, "/run/wsbox/files/devdir"]);
        assert_eq!(out.status.code(), Some(0), "round {round}: remove\n{out}");
    }
    let seen = status().unwrap();
    for line in ["created 0\n", "devices 0\n", "ro-written 0\n"] {
        assert!(seen.contains(line), "the app got in: {line}\n{seen}");
    }

    // An fd the app holds survives remove-file; the path goes.
    let out = wsbox(&["add-file", &name, keep.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{out}");
    poll(Duration::from_secs(15), || {
        status().filter(|s| s.contains("held True exists True"))
    })
    .expect("the app never opened the added file");
    let out = wsbox(&["remove-file", &name, keep.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{out}");
    let seen = poll(Duration::from_secs(15), || {
        status().filter(|s| s.contains("exists False"))
    })
    .expect("the file never went");
    assert!(seen.contains("kept kept by an fd"), "{seen}");

    // export reads as the app: not pid 1's memory, not a file it cannot read.
    for path in [
        "/tmp/env",
        "/proc/1/environ",
        "/tmp/secret",
        "/mnt/share/secret.txt",
    ] {
        let out = export(path);
        assert_one_line_error(&out, &[path]);
    }
    for entry in fs::read_dir(&out_dir).unwrap().flatten() {
        let text = fs::read(entry.path()).unwrap_or_default();
        let text = String::from_utf8_lossy(&text);
        assert!(
            !text.contains("SECRET-ROOT") && !text.contains("XDG_RUNTIME_DIR"),
            "{:?} holds what the app may not read",
            entry.path()
        );
    }
    // Too large: refused at once, nothing written.
    let started = std::time::Instant::now();
    let out = export("/tmp/huge");
    assert_one_line_error(&out, &["/tmp/huge", "4 GiB"]);
    assert!(started.elapsed() < Duration::from_secs(10), "{out}");
    assert!(!out_dir.join("huge").exists());
    // Holes stay holes; the copy is private.
    let out = export("/tmp/sparse");
    assert_eq!(out.status.code(), Some(0), "{out}");
    let meta = fs::metadata(out_dir.join("sparse")).unwrap();
    assert_eq!(meta.len(), 1 << 30);
    assert!(
        meta.blocks() < 1024,
        "{} blocks: the holes were written",
        meta.blocks()
    );
    assert_eq!(meta.mode() & 0o777, 0o600);
    let mut tail = vec![0u8; 4];
    use std::os::unix::fs::FileExt;
    fs::File::open(out_dir.join("sparse"))
        .unwrap()
        .read_exact_at(&mut tail, (1 << 30) - 4)
        .unwrap();
    assert_eq!(tail, b"end\n");
    assert_eq!(fs::read_to_string(&doc).unwrap(), "added doc\n");

    // A long export runs off the event loop: `stop` is answered meanwhile,
    // and a copy cut short leaves nothing in the host directory.
    let dense_dir = w.dir.join("dense");
    w.mkdir_all(&dense_dir);
    let exporting =
        Running::start(w.wsbox(&["export", &name, "/tmp/dense", dense_dir.to_str().unwrap()]));
    // The export is under way once wsbox runs it on a thread of its own.
    let exporting_thread = poll(RUN_LIMIT, || {
        has_thread(running.pid(), "wsbox-export").then_some(())
    });
    assert!(exporting_thread.is_some(), "wsbox never started the export");
    let started = std::time::Instant::now();
    let out = wsbox(&["stop", &name]);
    assert_eq!(out.status.code(), Some(0), "{out}");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "stop waited for the export"
    );
    let exported = exporting.finish(RUN_LIMIT);
    running.finish(RUN_LIMIT);
    // 256 MiB take longer to copy than the stop takes to arrive: the copy
    // was cut short (an export on the event loop would have finished first).
    assert_ne!(exported.status.code(), Some(0), "{exported}");
    let left: Vec<_> = fs::read_dir(&dense_dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert!(left.is_empty(), "{left:?} left behind");
    assert!(w.instance_dirs().is_empty(), "{:?}", w.instance_dirs());
}

/// Whether a thread of process `pid` is named `name`.
fn has_thread(pid: i32, name: &str) -> bool {
    fs::read_dir(format!("/proc/{pid}/task"))
        .into_iter()
        .flatten()
        .flatten()
        .any(|task| {
            fs::read_to_string(task.path().join("comm")).is_ok_and(|comm| comm.trim() == name)
        })
}

/// `--home '~/…'` (quoted: wsbox expands the `~`) is below $HOME, not ./~.
fn home_tilde_is_expanded(as_: As, test: &str) {
    let Some(w) = who(test, as_) else { return };
    // The test's wsbox runs with HOME and the working directory both w.dir.
    let out = w.sh(
        &["--home", "~/homes/<name>", "--name", "tilde"],
        "echo kept > ~/note",
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "{out}");
    assert_eq!(
        fs::read_to_string(w.dir.join("homes/tilde/note")).unwrap(),
        "kept\n"
    );
    assert!(!w.dir.join("~").exists(), "a literal ./~ was created");
}

/// A read-only share may not sit in, at or over a place the app may write:
/// Landlock could not keep it read-only there.
fn read_only_shares_stay_out_of_writable_places(as_: As, test: &str) {
    let Some(w) = who(test, as_) else { return };
    let data = w.app_dir("data");
    let other = w.app_dir("other");
    let files_before = listing(&w.dir);
    for target in [
        "/tmp/x",
        "/var/tmp/x",
        "~/x",
        "/home/user",
        "/run/user/1000/x",
    ] {
        let bind = format!("{}:{target}", data.display());
        let out = w.run(&["--ro", &bind], &["true"]);
        let shown = target.replace('~', "/home/user");
        assert_one_line_error(&out, &[&shown, "read-only"]);
        assert!(w.instance_dirs().is_empty(), "{:?}", w.instance_dirs());
    }
    // Inside a read-write share, too.
    let rw = format!("{}:/data", other.display());
    let ro = format!("{}:/data/in", data.display());
    let out = w.run(&["--rw", &rw, "--ro", &ro], &["true"]);
    assert_one_line_error(&out, &["/data/in"]);
    assert_eq!(listing(&w.dir), files_before);
    // Over a host tree that holds something writable: a read-write share,
    // a read-write directory grant, the persistent home (Landlock's rule
    // follows the inode, whatever path reaches it).
    let deep = w.file("data/inner/f.txt", "f\n", 0o644);
    let inner = w.app_dir("data/inner");
    let ro = format!("{}:/mnt/data", data.display());
    let rw = format!("{}:/srv/inner", inner.display());
    for (extra, needle) in [
        (vec!["--rw", rw.as_str()], inner.to_str().unwrap()),
        (
            vec!["--rw", &format!("{}:/srv/data", data.display())],
            data.to_str().unwrap(),
        ),
        (
            vec!["--file-rw", inner.to_str().unwrap()],
            inner.to_str().unwrap(),
        ),
        (
            vec!["--home", inner.to_str().unwrap()],
            inner.to_str().unwrap(),
        ),
    ] {
        let mut options = vec!["--ro", ro.as_str()];
        options.extend(extra.iter().copied());
        let out = w.run(&options, &["true"]);
        assert_one_line_error(&out, &[needle, "read-only"]);
        assert!(w.instance_dirs().is_empty(), "{:?}", w.instance_dirs());
    }
    // A read-write regular file is a document, a copy bound nowhere: a
    // read-only share over the tree that holds it is allowed, and stays
    // read-only there while the app writes its copy.
    let out = w.sh(
        &["--ro", &ro, "--file-rw", deep.to_str().unwrap()],
        r#"cat /mnt/data/inner/f.txt
if (echo x >> /mnt/data/inner/f.txt) 2>/dev/null; then echo "share written"; fi
echo saved >> "$1""#,
        &[deep.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(0), "{out}");
    assert_eq!(out.stdout, "f\n", "{out}");
    assert_eq!(fs::read_to_string(&deep).unwrap(), "f\nsaved\n", "{out}");
    fs::write(&deep, "f\n").unwrap();
    // A read-only part of a read-write share is fine: its mount root stops
    // Landlock's walk before it reaches the read-write share's inode.
    let ro_inner = format!("{}:/mnt/inner", inner.display());
    let rw_data = format!("{}:/srv/data", data.display());
    let out = w.sh(
        &["--rw", &rw_data, "--ro", &ro_inner],
        "cat /mnt/inner/f.txt; if (echo x >> /mnt/inner/f.txt) 2>/dev/null; then echo written; fi",
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "{out}");
    assert_eq!(out.stdout, "f\n", "{out}");
    let files_before = listing(&w.dir);
    // Elsewhere it works, and read-write shares may go anywhere.
    let ro = format!("{}:/mnt/data", data.display());
    let rw = format!("{}:/tmp/other", other.display());
    let out = w.sh(
        &["--ro", &ro, "--rw", &rw],
        "test -d /mnt/data && test -d /tmp/other && echo fine",
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "{out}");
    assert!(out.stdout.contains("fine"), "{out}");
    assert_eq!(listing(&w.dir), files_before);
}

/// What a compromised (confined) wsbox could hand its file broker and its
/// documents helper: requests sent straight to the control socket, as wsbox
/// would pass them on. The broker takes only files opened for real
/// (Landlock checked those opens), never wsbox's own directories, and
/// nothing without an fd. A read-write regular file goes to the documents
/// helper, with its directory as a second fd, under the same checks: not
/// O_PATH, the file opened for writing, the directory not wsbox's own, and
/// the file the one the directory names.
#[test]
fn the_file_broker_takes_only_files_opened_for_real() {
    let test = "the_file_broker_takes_only_files_opened_for_real";
    let Some(w) = who(test, As::Root) else { return };
    if !have_python(test) {
        return;
    }
    let name = format!("broker{}-{}", std::process::id(), next());
    let doc = w.file("doc.txt", "a doc\n", 0o644);
    let running = Running::start(w.sandbox(
        &["--name", &name],
        &["sh", "-c", "echo inside > /tmp/inside.txt && exec sleep 60"],
    ));
    let instance = w.run.join("wsbox").join(&name);
    let control = instance.join("control");
    poll(Duration::from_secs(15), || control.exists().then_some(()))
        .expect("the control socket never appeared");
    // The sandbox's pid 1, through whose root the script opens a file of
    // the sandbox's own tmpfs, as an fd the app handed wsbox would be.
    let pid1 = poll(Duration::from_secs(15), || {
        testkit::children(running.pid()).into_iter().find(|&pid| {
            testkit::status_field(pid, "NSpid")
                .is_some_and(|ns| ns.split_whitespace().last() == Some("1"))
        })
    })
    .expect("no pid 1 below wsbox");
    let inside_dir = format!("/proc/{pid1}/root/tmp");
    poll(Duration::from_secs(15), || {
        Path::new(&inside_dir)
            .join("inside.txt")
            .exists()
            .then_some(())
    })
    .expect("the app never wrote /tmp/inside.txt");
    let script = r#"
import json, os, socket, sys
control, doc, instance, ro_dir, other_dir, inside_dir = sys.argv[1:7]
def call(label, req, *fds):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(control)
    data = (json.dumps(req) + "\n").encode()
    if not fds:
        s.sendall(data)
    else:
        socket.send_fds(s, [data], list(fds))
    print(label + "\t" + s.makefile().readline().strip())
    s.close()
add = lambda path, rw=False: {"cmd": "addfile", "path": path, "rw": rw}
call("no-fd", add(doc))
call("o-path-root", add(doc), os.open("/", os.O_PATH))
call("own-dir", add(doc), os.open(instance, os.O_RDONLY | os.O_DIRECTORY))
docdir = os.path.dirname(doc)
rdir = lambda path: os.open(path, os.O_RDONLY | os.O_DIRECTORY)
call("doc-no-dir", add(doc, True), os.open(doc, os.O_RDWR))
call("doc-o-path", add(doc, True), os.open(doc, os.O_PATH), rdir(docdir))
call("doc-read-only-fd", add(doc, True), os.open(doc, os.O_RDONLY), rdir(docdir))
call("doc-o-path-dir", add(doc, True), os.open(doc, os.O_RDWR), os.open(docdir, os.O_PATH))
call("doc-own-dir", add(doc, True), os.open(doc, os.O_RDWR), rdir(instance))
call("doc-other-dir", add(doc, True), os.open(doc, os.O_RDWR), rdir(other_dir))
inside = os.path.join(inside_dir, "inside.txt")
call("doc-sandbox", add(doc, True), os.open(inside, os.O_RDWR), rdir(inside_dir))
call("export-o-path", {"cmd": "export", "sandbox_path": "/etc/hostname", "host_dir": "/", "force": False},
     os.open("/", os.O_PATH))
call("rw-from-ro-mount", add(ro_dir, True), os.open(ro_dir, os.O_RDONLY | os.O_DIRECTORY))
call("ok", add(doc), os.open(doc, os.O_RDONLY))
call("doc-ok", add(doc, True), os.open(doc, os.O_RDWR), rdir(docdir))
"#;
    // A directory on a read-only mount (as the app's read-only shares
    // are), in a mount namespace of the script's own.
    let ro_dir = w.app_dir("ro-share");
    // Another directory with a file of the document's name: the directory
    // passed must hold the very file passed.
    let other_dir = w.app_dir("other");
    w.file("other/doc.txt", "another doc\n", 0o644);
    let out = output(
        {
            let mut cmd = Command::new("unshare");
            cmd.args(["-m", "--propagation", "private", "sh", "-c"])
                .arg(r#"mount --bind "$4" "$4" && mount -o remount,bind,ro "$4" && exec python3 -c "$0" "$@""#)
                .arg(script)
                .arg(&control)
                .arg(&doc)
                .arg(&instance)
                .arg(&ro_dir)
                .arg(&other_dir)
                .arg(&inside_dir);
            cmd
        },
        RUN_LIMIT,
    );
    let answer = |label: &str| -> String {
        out.stdout
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{label}\t")))
            .unwrap_or_else(|| panic!("no answer for {label}\n{out}"))
            .to_owned()
    };
    for (label, needle) in [
        ("no-fd", "without the open file"),
        ("o-path-root", "not passed opened"),
        ("own-dir", "belongs to wsbox itself"),
        ("doc-no-dir", "without the file's directory"),
        ("doc-o-path", "not passed opened"),
        ("doc-read-only-fd", "not passed opened for writing"),
        ("doc-o-path-dir", "not passed opened"),
        ("doc-own-dir", "belongs to wsbox itself"),
        ("doc-other-dir", "changed while it was granted"),
        ("doc-sandbox", "is a file of the sandbox's"),
        ("export-o-path", "not passed opened"),
        ("rw-from-ro-mount", "read-only mount"),
    ] {
        let text = answer(label);
        assert!(
            text.contains(r#""ok":false"#) && text.contains(needle),
            "{label}: {text}\n{out}"
        );
    }
    let ok = answer("ok");
    assert!(
        ok.contains(r#""ok":true"#) && ok.contains("/run/wsbox/files/doc.txt"),
        "{ok}"
    );
    let ok = answer("doc-ok");
    assert!(
        ok.contains(r#""ok":true"#) && ok.contains("/run/wsbox/docs/") && ok.contains("/doc.txt"),
        "{ok}"
    );
    // Nothing the refused requests named was written.
    assert_eq!(fs::read_to_string(&doc).unwrap(), "a doc\n");
    assert_eq!(
        fs::read_to_string(other_dir.join("doc.txt")).unwrap(),
        "another doc\n"
    );
    drop(running);
}

// ---------------------------------------------------------------------------
// Documents.
// ---------------------------------------------------------------------------

/// The app's side of the document tests: it reports in /ctl (a read-write
/// share) and waits there for the test's word.
const DOCUMENT_APP: &str = r#"
import os, sys, time
def wait(name):
    while not os.path.exists("/ctl/" + name):
        time.sleep(0.02)
def report(name, text=""):
    with open("/ctl/." + name, "w") as f:
        f.write(text)
    os.rename("/ctl/." + name, "/ctl/" + name)
"#;

/// Waits for the app's report `name` in `ctl`.
fn report(ctl: &Path, name: &str, running: &Running) -> String {
    poll(RUN_LIMIT, || fs::read_to_string(ctl.join(name)).ok())
        .unwrap_or_else(|| panic!("the app never reported {name}\n{}", running.stderr_so_far()))
}

/// Gives the app the word `name` in `ctl`.
fn word(ctl: &Path, name: &str) {
    fs::write(ctl.join(name), "").unwrap();
}

/// Two documents granted at start each have a directory of their own: the
/// temporary, lock and backup files made beside the first stay there, and
/// the second sees neither them nor the first document; none reaches the
/// host. A document added to the running sandbox (`add-file --rw`) takes a
/// file renamed onto it to the host, owner and mode kept; a write to it the
/// app has not closed yet reaches the host when `remove-file` takes the
/// document away, with its directory.
fn documents_stay_apart_and_follow_add_rename_and_remove(as_: As, test: &str) {
    let Some(w) = who(test, as_) else { return };
    if !have_python(test) {
        return;
    }
    let a = w.file("host/a.txt", "a\n", 0o644);
    let b = w.file("host/b.txt", "b\n", 0o644);
    let c = w.file("host/c.txt", "c\n", 0o640);
    let host = w.dir.join("host");
    let ctl = w.app_dir("ctl");
    let name = format!("docs{}-{}", std::process::id(), next());
    let script = format!(
        r#"{DOCUMENT_APP}
a, b = sys.argv[1], sys.argv[2]
for extra in (".a.txt.swp", ".~lock.a.txt#", "a.txt~", ".goutputstream-X"):
    with open(os.path.join(os.path.dirname(a), extra), "w") as f:
        f.write("beside a\n")
report("seen", "\n".join([a, b] + sorted(os.listdir(os.path.dirname(b)))))
wait("added")
c = open("/ctl/added").read().strip()
tmp = os.path.join(os.path.dirname(c), ".c.txt.new")
with open(tmp, "w") as f:
    f.write("renamed onto\n")
os.rename(tmp, c)
report("renamed")
wait("saved")
held = open(c, "a")
held.write("held open\n")
held.flush()
report("held")
wait("removed")
report("gone", "%s %s" % (os.path.exists(c), os.path.exists(os.path.dirname(c))))
"#
    );
    let ctl_bind = format!("{}:/ctl", ctl.display());
    let (a_arg, b_arg) = (a.to_str().unwrap(), b.to_str().unwrap());
    let running = Running::start(w.sandbox(
        &[
            "--name",
            &name,
            "--rw",
            &ctl_bind,
            "--file-rw",
            a_arg,
            "--file-rw",
            b_arg,
        ],
        &["python3", "-c", &script, a_arg, b_arg],
    ));
    let seen = report(&ctl, "seen", &running);
    assert_eq!(
        seen.lines().collect::<Vec<_>>(),
        [
            "/run/wsbox/docs/1/a.txt",
            "/run/wsbox/docs/2/b.txt",
            "b.txt"
        ],
        "the second document's directory holds it alone"
    );
    let wsbox = |args: &[&str]| output(w.wsbox(args), RUN_LIMIT);
    let out = wsbox(&["add-file", &name, c.to_str().unwrap(), "--rw"]);
    assert_eq!(out.status.code(), Some(0), "{out}");
    let inside = out.stdout.trim().to_owned();
    assert_eq!(inside, "/run/wsbox/docs/3/c.txt", "{out}");
    fs::write(ctl.join("added"), &inside).unwrap();
    report(&ctl, "renamed", &running);
    let saved = poll(RUN_LIMIT, || {
        fs::read_to_string(&c)
            .ok()
            .filter(|t| t == "renamed onto\n")
    });
    assert!(
        saved.is_some(),
        "the rename never reached the host: {:?}",
        fs::read_to_string(&c)
    );
    let meta = fs::metadata(&c).unwrap();
    assert_eq!(
        (meta.uid(), meta.gid(), meta.mode() & 0o777),
        (w.owner.0, w.owner.1, 0o640),
        "c.txt's owner and mode"
    );
    word(&ctl, "saved");
    report(&ctl, "held", &running);
    // Written, not closed: nothing to write back yet.
    assert_eq!(fs::read_to_string(&c).unwrap(), "renamed onto\n");
    let out = wsbox(&["remove-file", &name, &inside]);
    assert_eq!(out.status.code(), Some(0), "{out}");
    assert_eq!(
        fs::read_to_string(&c).unwrap(),
        "renamed onto\nheld open\n",
        "remove-file wrote the document back"
    );
    word(&ctl, "removed");
    assert_eq!(report(&ctl, "gone", &running), "False False");
    let out = running.finish(RUN_LIMIT);
    assert_eq!(out.status.code(), Some(0), "{out}");
    assert!(!out.stderr.contains("wsbox:"), "{out}");
    assert_eq!(
        listing(&host),
        [a.clone(), b.clone(), c.clone()],
        "beside the documents on the host"
    );
    assert_eq!(fs::read_to_string(&a).unwrap(), "a\n");
    assert_eq!(fs::read_to_string(&b).unwrap(), "b\n");
}

/// A host file changed while the app has it: the host's version stays,
/// the app's save goes beside it as `NAME (wsbox conflict 1).EXT`, and
/// wsbox says so in one warning line.
fn a_host_file_changed_meanwhile_keeps_both_versions(as_: As, test: &str) {
    let Some(w) = who(test, as_) else { return };
    if !have_python(test) {
        return;
    }
    let doc = w.file("host/report.txt", "v1\n", 0o640);
    let ctl = w.app_dir("ctl");
    let script = format!(
        r#"{DOCUMENT_APP}
doc = sys.argv[1]
print(open(doc).read().strip())
report("opened")
wait("changed")
with open(doc, "w") as f:
    f.write("app version\n")
"#
    );
    let ctl_bind = format!("{}:/ctl", ctl.display());
    let doc_arg = doc.to_str().unwrap();
    let running = Running::start(w.sandbox(
        &["--rw", &ctl_bind, "--file-rw", doc_arg],
        &["python3", "-c", &script, doc_arg],
    ));
    report(&ctl, "opened", &running);
    fs::write(&doc, "host version\n").unwrap();
    word(&ctl, "changed");
    let out = running.finish(RUN_LIMIT);
    assert_eq!(out.status.code(), Some(0), "{out}");
    assert_eq!(out.stdout, "v1\n", "{out}");
    let conflict = w.dir.join("host/report (wsbox conflict 1).txt");
    assert_eq!(fs::read_to_string(&doc).unwrap(), "host version\n", "{out}");
    assert_eq!(
        fs::read_to_string(&conflict).unwrap(),
        "app version\n",
        "{out}"
    );
    assert_eq!(fs::metadata(&conflict).unwrap().mode() & 0o777, 0o640);
    assert_eq!(
        listing(&w.dir.join("host")),
        [conflict.clone(), doc.clone()],
        "{out}"
    );
    let lines: Vec<&str> = out.stderr.lines().filter(|l| !l.is_empty()).collect();
    assert_eq!(lines.len(), 1, "one warning\n{out}");
    // It names the host file that changed, then where the app's version went.
    let warning = format!("wsbox: warning: {doc_arg} changed on the host");
    assert!(
        lines[0].starts_with(&warning) && lines[0].ends_with(conflict.to_str().unwrap()),
        "expected {warning:?}… {conflict:?}\n{out}"
    );
}
