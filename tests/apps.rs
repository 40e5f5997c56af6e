//! End-to-end tests with real, unmodified Debian desktop programs, as a
//! new user would run them (issue 16): KeePassXC, LibreOffice Writer,
//! gedit, vim and Firefox save documents granted read-write in place,
//! leave nothing of theirs on the host, find their /etc, choose Wayland
//! by themselves, and lose no work when they are stopped or their window
//! is closed. Also the hints and warnings wsbox prints around them.
//!
//! The programs are driven as a user would: `wsbox input` types and clicks
//! in headless mode, the host's pointer and keyboard in window mode (sway
//! headless, as the test user). Each test waits for what it can see
//! (`wsbox windows --json`, files on the host, sway's tree), never for a
//! time; where a wait is what a test checks ("it still runs"), it says so.
//! Every test also reads wsbox's stderr for lines wsbox printed that it did
//! not expect.
//!
//! These tests are heavy (a LibreOffice or Firefox start takes seconds):
//! one test binary, so that the harness runs them side by side, and one
//! start per program where the cases allow it. Run as root, as CI does;
//! the window-mode test runs wsbox as the test user (WSBOX_TEST_USER,
//! default `wsbox-test`). Needs `cargo build --workspace --bins` and the
//! programs of `./scripts/install-deps.sh test`. A test that cannot run
//! here prints `SKIPPED: <test>: <reason>` and passes, unless CI=true or
//! WSBOX_MUST_WORK=1, where it fails instead.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::ffi::OsStr;
use std::fs;
use std::io::Write;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use testkit::frame::{host_close_button, HOST_BORDER, HOST_TITLE_HEIGHT};
use testkit::sandbox::{Maker, Sandbox, Window};
use testkit::{
    marked_processes, output, poll, skip, unique_mark, Image, Out, Running, Sway, VirtualPointer,
    Who, MARK_VAR,
};

/// How long a program may take to show its first window: LibreOffice and
/// Firefox make a new profile at their first start, on a busy machine.
const START_LIMIT: Duration = Duration::from_secs(90);
/// How long a save may take to reach the host file.
const SAVE_LIMIT: Duration = Duration::from_secs(30);
/// How long a window or a dialog may take to come or go.
const SEE_LIMIT: Duration = Duration::from_secs(20);
/// How long a whole sandbox may run in these tests.
const RUN_LIMIT: Duration = Duration::from_secs(300);

// ---------------------------------------------------------------------------
// Harness
// ---------------------------------------------------------------------------

/// This test process's directory under /tmp, with `run/` for wsbox.
fn root_dir() -> &'static Path {
    testkit::root_dir("apps", true)
}

/// The toolkit choices a user's session may have set: wsbox must make
/// them itself, so the tests never pass them on.
const TOOLKIT_ENV: &[&str] = &[
    "QT_QPA_PLATFORM",
    "GDK_BACKEND",
    "MOZ_ENABLE_WAYLAND",
    "SDL_VIDEODRIVER",
    "CLUTTER_BACKEND",
    "ELECTRON_OZONE_PLATFORM_HINT",
    "DISPLAY",
];

/// `wsbox ARGS` as root with this process's runtime directory, a cache of
/// its own (the /etc references) and no toolkit choice of the caller's.
fn wsbox(args: &[&str]) -> Command {
    let mut cmd = testkit::wsbox_command(&root_dir().join("run"), args);
    cmd.env("XDG_CACHE_HOME", root_dir().join("cache"));
    for var in TOOLKIT_ENV {
        cmd.env_remove(var);
    }
    cmd
}

fn maker() -> Maker {
    Box::new(|| wsbox(&[]))
}

/// Whether `test` can run here as root with `programs`; else it skipped.
fn ready(test: &str, programs: &[&str]) -> bool {
    testkit::ready_as_root(test, programs, || {
        wsbox(&["run", "--display", "none", "--", "true"])
    })
}

/// A fresh directory for `test`, 0755.
fn scratch(test: &str) -> PathBuf {
    testkit::scratch_in(root_dir(), test, 0o755)
}

/// `wsbox run --name <unique> ARGS` as root, running.
fn start(test: &str, args: &[&str]) -> Sandbox {
    Sandbox::start(maker(), &testkit::unique_name("ap-", test), args)
}

/// `path` with `contents` and `mode`, as root.
fn write_file(path: &Path, contents: &[u8], mode: u32) {
    fs::write(path, contents).unwrap();
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
}

/// The names in `dir`, sorted.
fn names_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// The lines wsbox printed on `stderr` (its own `wsbox: …` lines, log
/// lines of level WARN or ERROR, panics) that contain none of `expected`.
fn unexpected_wsbox_lines<'a>(stderr: &'a str, expected: &[&str]) -> Vec<&'a str> {
    stderr
        .lines()
        .filter(|l| {
            l.starts_with("wsbox:")
                || l.contains(" WARN ")
                || l.contains(" ERROR ")
                || l.contains("panicked")
        })
        .filter(|l| !expected.iter().any(|e| l.contains(e)))
        .collect()
}

/// Fails the test when wsbox printed anything on `out`'s stderr it was not
/// expected to (see [`unexpected_wsbox_lines`]).
fn assert_quiet(out: &Out, expected: &[&str]) {
    let lines = unexpected_wsbox_lines(&out.stderr, expected);
    assert!(lines.is_empty(), "wsbox printed {lines:?}\n{out}");
}

/// The window titled with `name` (a document's file name) among `windows`.
fn titled<'a>(windows: &'a [Window], name: &str) -> Option<&'a Window> {
    windows.iter().find(|w| w.title.contains(name))
}

/// `program ARGS` on the host with `input` on its stdin, finished.
fn host_with_input(program: &str, args: &[&OsStr], input: &str) -> Out {
    let mut cmd = Command::new(program);
    cmd.args(args);
    let mut running = Running::start_with_stdin(cmd);
    let mut stdin = running.stdin();
    stdin.write_all(input.as_bytes()).unwrap();
    drop(stdin);
    running.finish(Duration::from_secs(60))
}

/// Waits until `sandbox` has one window titled with `name` and no other
/// (LibreOffice's first-start "Tip of the Day", …), closing each other
/// window with Escape as it comes: a new profile's dialogs come at their
/// own pace, so they are waited for up to `limit`, as long as none came.
fn dismiss_first_start_dialogs(sandbox: &mut Sandbox, name: &str, limit: Duration) {
    let started = Instant::now();
    let mut dismissed = Vec::new();
    loop {
        let windows = sandbox.windows().unwrap_or_default();
        let others: Vec<&Window> = windows.iter().filter(|w| !w.title.contains(name)).collect();
        match others.iter().find(|w| w.focused) {
            Some(dialog) => {
                dismissed.push(dialog.title.clone());
                sandbox.input(&["key", "Escape"]);
                let title = dialog.title.clone();
                sandbox.wait_for(&format!("{title:?} to close"), SEE_LIMIT, |windows| {
                    (!windows.iter().any(|w| w.title == title)).then_some(())
                });
            }
            None if others.is_empty()
                && titled(&windows, name).is_some_and(|w| w.focused)
                && (!dismissed.is_empty() || started.elapsed() >= limit) =>
            {
                eprintln!("first-start dialogs closed: {dismissed:?}");
                return;
            }
            None if started.elapsed() >= limit + SEE_LIMIT => panic!(
                "the windows never settled: {windows:?}\n{}",
                sandbox.describe()
            ),
            None => {
                poll(Duration::from_millis(200), || None::<()>);
            }
        }
    }
}

/// An OpenDocument text file at `path` holding one paragraph, `text`:
/// what LibreOffice opens as a Writer document.
fn write_odt(path: &Path, text: &str) {
    let script = r#"
import sys, zipfile
path, text = sys.argv[1], sys.argv[2]
content = ('<?xml version="1.0" encoding="UTF-8"?>'
    '<office:document-content xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
    'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" office:version="1.2">'
    '<office:body><office:text><text:p>' + text + '</text:p></office:text></office:body>'
    '</office:document-content>')
manifest = ('<?xml version="1.0" encoding="UTF-8"?>'
    '<manifest:manifest xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0" '
    'manifest:version="1.2">'
    '<manifest:file-entry manifest:full-path="/" '
    'manifest:media-type="application/vnd.oasis.opendocument.text"/>'
    '<manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml"/>'
    '</manifest:manifest>')
with zipfile.ZipFile(path, "w") as z:
    z.writestr(zipfile.ZipInfo("mimetype"), "application/vnd.oasis.opendocument.text")
    z.writestr("META-INF/manifest.xml", manifest, compress_type=zipfile.ZIP_DEFLATED)
    z.writestr("content.xml", content, compress_type=zipfile.ZIP_DEFLATED)
"#;
    let mut cmd = Command::new("python3");
    cmd.args(["-c", script]).arg(path).arg(text);
    let out = output(cmd, Duration::from_secs(30));
    assert!(out.status.success(), "{out}");
}

/// The text of `odt`'s content.xml, once it can be read whole.
fn odt_content(odt: &Path) -> Option<String> {
    let mut cmd = Command::new("unzip");
    cmd.arg("-p").arg(odt).arg("content.xml");
    let out = output(cmd, Duration::from_secs(30));
    out.status.success().then_some(out.stdout)
}

/// LibreOffice's lock file for `name`, beside it.
fn lock_name(name: &str) -> String {
    format!(".~lock.{name}#")
}

// ---------------------------------------------------------------------------
// Documents: the programs save in place
// ---------------------------------------------------------------------------

/// KeePassXC (Qt 5), with no extra option or environment: it shows its
/// window on Wayland by itself, unlocks the database granted with
/// `--file-rw`, adds an entry and saves with Ctrl+S (a new file renamed
/// over the database); the host's .kdbx holds the entry, mode kept, with
/// nothing beside it.
#[test]
fn keepassxc_saves_an_entry_into_the_granted_database() {
    let test = "keepassxc_saves_an_entry_into_the_granted_database";
    if !ready(test, &["keepassxc", "keepassxc-cli"]) {
        return;
    }
    let dir = scratch(test);
    let db = dir.join("db.kdbx");
    let password = "wsbox-pw-4711";
    let out = host_with_input(
        "keepassxc-cli",
        &[
            "db-create".as_ref(),
            "--set-password".as_ref(),
            db.as_os_str(),
        ],
        &format!("{password}\n{password}\n"),
    );
    assert!(out.status.success(), "{out}");
    fs::set_permissions(&db, fs::Permissions::from_mode(0o640)).unwrap();
    let mark = unique_mark(test);
    let env = format!("{MARK_VAR}={mark}");
    let db_arg = db.to_str().unwrap();
    let mut sandbox = start(
        test,
        &[
            "--headless",
            "--env",
            &env,
            "--file-rw",
            db_arg,
            "--",
            "keepassxc",
            db_arg,
        ],
    );
    sandbox.wait_for_window("KeePassXC's locked database", START_LIMIT, |w| {
        w.title.contains("db.kdbx") && w.title.contains("[Locked]") && w.focused
    });
    // Qt chose Wayland because wsbox told it to: the test passed no
    // QT_QPA_PLATFORM, the app's environment has wsbox's.
    let environ = marked_processes(&mark)
        .into_iter()
        .find(|(_, cmd)| cmd.starts_with("keepassxc"))
        .and_then(|(pid, _)| fs::read(format!("/proc/{pid}/environ")).ok())
        .expect("keepassxc's environment");
    assert!(
        environ
            .split(|b| *b == 0)
            .any(|v| v == b"QT_QPA_PLATFORM=wayland"),
        "keepassxc runs without QT_QPA_PLATFORM=wayland"
    );
    sandbox.input(&["type", password]);
    sandbox.input(&["key", "Return"]);
    sandbox.wait_for_window("the unlocked database", SEE_LIMIT, |w| {
        w.title.contains("db.kdbx") && !w.title.contains("[Locked]")
    });
    // It rendered its real UI: many colours on the screen.
    let shot = dir.join("keepassxc.png");
    sandbox.control(&["screenshot", &sandbox.name, shot.to_str().unwrap()]);
    let image = Image::load(&shot);
    let colours = image.colours(0, 0, image.width, image.height).len();
    assert!(colours >= 16, "KeePassXC's screen has {colours} colours");
    fs::remove_file(&shot).unwrap();

    // A new entry: Ctrl+N opens the editor with the title field focused,
    // Return accepts it, Ctrl+S saves the database.
    sandbox.input(&["key", "ctrl+n"]);
    sandbox.input(&["type", "wsbox entry"]);
    sandbox.input(&["key", "Return"]);
    sandbox.input(&["key", "ctrl+s"]);
    let listed = poll(SAVE_LIMIT, || {
        let out = host_with_input(
            "keepassxc-cli",
            &["ls".as_ref(), db.as_os_str()],
            &format!("{password}\n"),
        );
        out.stdout.contains("wsbox entry").then_some(out)
    });
    assert!(
        listed.is_some(),
        "the host database never held the entry\n{}",
        sandbox.describe()
    );
    let meta = fs::metadata(&db).unwrap();
    assert_eq!(
        (meta.uid(), meta.gid(), meta.mode() & 0o777),
        (0, 0, 0o640),
        "the database's owner and mode"
    );
    assert_eq!(names_in(&dir), ["db.kdbx"], "beside the database");

    // Asked to close, it exits by itself: the database is saved.
    sandbox.control(&["stop", &sandbox.name]);
    let out = sandbox.finish(RUN_LIMIT);
    assert_eq!(out.code(), Some(0), "{out}");
    assert_quiet(&out, &[]);
    assert!(!out.stderr.contains("Wayland plugin"), "{out}");
}

/// LibreOffice Writer starts with a new default profile (it used to abort:
/// its registry links into /etc/libreoffice) and shows the document
/// granted with `--file-rw`; text typed into the page and saved with
/// Ctrl+S reaches the host's .odt, whose lock file (`.~lock.NAME#`) stays
/// inside, never on the host. Stopped, it exits by itself.
#[test]
fn libreoffice_writer_saves_in_place_and_its_lock_stays_inside() {
    let test = "libreoffice_writer_saves_in_place_and_its_lock_stays_inside";
    if !ready(test, &["libreoffice", "python3", "unzip"]) {
        return;
    }
    let dir = scratch(test);
    let doc = dir.join("letter.odt");
    write_odt(&doc, "Opening line");
    fs::set_permissions(&doc, fs::Permissions::from_mode(0o640)).unwrap();
    let lock = dir.join(lock_name("letter.odt"));
    let no_lock_on_host = || {
        assert!(!lock.exists(), "{} appeared on the host", lock.display());
    };
    let doc_arg = doc.to_str().unwrap();
    let mut sandbox = start(
        test,
        &[
            "--headless",
            "--file-rw",
            doc_arg,
            "--",
            "libreoffice",
            "--writer",
            doc_arg,
        ],
    );
    sandbox.wait_for_window("Writer showing letter.odt", START_LIMIT, |w| {
        no_lock_on_host();
        w.title.contains("letter.odt") && w.title.contains("LibreOffice Writer")
    });
    dismiss_first_start_dialogs(&mut sandbox, "letter.odt", SEE_LIMIT);
    no_lock_on_host();
    // Input reaches the document once it was clicked: the page is in the
    // middle of the screen.
    sandbox.input(&["click", "640", "400"]);
    sandbox.input(&["type", "Typed in wsbox"]);
    sandbox.input(&["key", "ctrl+s"]);
    let saved = poll(SAVE_LIMIT, || {
        no_lock_on_host();
        odt_content(&doc).filter(|c| c.contains("Typed in wsbox"))
    });
    assert!(
        saved.is_some(),
        "the host's letter.odt never held the typed text: {:?}\n{}",
        odt_content(&doc),
        sandbox.describe()
    );
    let meta = fs::metadata(&doc).unwrap();
    assert_eq!(
        (meta.uid(), meta.mode() & 0o777),
        (0, 0o640),
        "letter.odt's owner and mode"
    );
    assert_eq!(names_in(&dir), ["letter.odt"], "beside the document");
    // The lock is where LibreOffice made it, beside the copy inside.
    let exported = sandbox.wsbox(&[
        "export",
        &sandbox.name,
        &format!("/run/wsbox/docs/1/{}", lock_name("letter.odt")),
        scratch(test).to_str().unwrap(),
    ]);
    assert_eq!(
        exported.code(),
        Some(0),
        "no lock file beside the document inside\n{exported}"
    );

    sandbox.control(&["stop", &sandbox.name]);
    let out = sandbox.finish(RUN_LIMIT);
    assert_eq!(out.code(), Some(0), "LibreOffice's exit after stop\n{out}");
    no_lock_on_host();
    assert_eq!(names_in(&dir), ["letter.odt"], "{out}");
    assert!(odt_content(&doc).unwrap().contains("Typed in wsbox"));
    assert_quiet(&out, &[]);
}

/// LibreOffice working on a document in a `--rw` share (where its lock
/// file does reach the host) removes the lock when `wsbox stop` asks it to
/// close: it is given the time to exit by itself.
#[test]
fn libreoffice_leaves_no_lock_file_in_a_share_after_stop() {
    let test = "libreoffice_leaves_no_lock_file_in_a_share_after_stop";
    if !ready(test, &["libreoffice", "python3"]) {
        return;
    }
    let share = scratch(test);
    fs::set_permissions(&share, fs::Permissions::from_mode(0o777)).unwrap();
    let doc = share.join("shared.odt");
    write_odt(&doc, "In a share");
    fs::set_permissions(&doc, fs::Permissions::from_mode(0o666)).unwrap();
    let bind = format!("{}:/home/user/share", share.display());
    let mut sandbox = start(
        test,
        &[
            "--headless",
            "--rw",
            &bind,
            "--",
            "libreoffice",
            "--writer",
            "/home/user/share/shared.odt",
        ],
    );
    sandbox.wait_for_window("Writer showing shared.odt", START_LIMIT, |w| {
        w.title.contains("shared.odt")
    });
    let lock = share.join(lock_name("shared.odt"));
    let locked = poll(SEE_LIMIT, || lock.exists().then_some(()));
    assert!(
        locked.is_some(),
        "LibreOffice never locked the shared document: {:?}",
        names_in(&share)
    );
    sandbox.control(&["stop", &sandbox.name]);
    let out = sandbox.finish(RUN_LIMIT);
    assert_eq!(out.code(), Some(0), "LibreOffice's exit after stop\n{out}");
    assert_eq!(names_in(&share), ["shared.odt"], "{out}");
    assert_quiet(&out, &[]);
}

/// gedit saves a document granted with `--file-rw` in place (GLib writes a
/// new file beside it and renames it over), owner and mode kept. An
/// unsaved edit then makes `wsbox stop --grace 5` wait: gedit's "Save
/// changes?" dialog shows as a second window and gedit runs on past the
/// 2 s after which wsbox used to send SIGTERM, until the grace is over.
#[test]
fn gedit_saves_in_place_and_an_unsaved_edit_gets_the_grace_period() {
    let test = "gedit_saves_in_place_and_an_unsaved_edit_gets_the_grace_period";
    if !ready(test, &["gedit"]) {
        return;
    }
    let dir = scratch(test);
    let doc = dir.join("notes.txt");
    write_file(&doc, b"first line\n", 0o640);
    let doc_arg = doc.to_str().unwrap();
    let mut sandbox = start(
        test,
        &["--headless", "--file-rw", doc_arg, "--", "gedit", doc_arg],
    );
    sandbox.wait_for_window("gedit showing notes.txt", START_LIMIT, |w| {
        w.title.contains("notes.txt") && w.focused
    });
    sandbox.input(&["type", "typed "]);
    sandbox.input(&["key", "ctrl+s"]);
    let saved = poll(SAVE_LIMIT, || {
        fs::read_to_string(&doc)
            .ok()
            .filter(|t| t == "typed first line\n")
    });
    assert!(
        saved.is_some(),
        "the host file holds {:?}\n{}",
        fs::read_to_string(&doc),
        sandbox.describe()
    );
    let meta = fs::metadata(&doc).unwrap();
    assert_eq!((meta.uid(), meta.mode() & 0o777), (0, 0o640));
    assert_eq!(names_in(&dir), ["notes.txt"], "beside the document");

    // An edit that is not saved: gedit marks its title.
    sandbox.input(&["type", "unsaved "]);
    sandbox.wait_for_window("gedit's title marking the edit", SEE_LIMIT, |w| {
        w.title.starts_with('*')
    });
    let stopped = Instant::now();
    sandbox.control(&["stop", &sandbox.name, "--grace", "5"]);
    sandbox.wait_for("gedit's \"Save changes?\" dialog", SEE_LIMIT, |windows| {
        (windows.len() == 2).then_some(())
    });
    // What is under test is that gedit still runs: 3 s after the stop is
    // past the 2 s wsbox used to give, within the 5 s of grace.
    let until = Duration::from_secs(3).saturating_sub(stopped.elapsed());
    let ended = poll(until, || sandbox.try_wait());
    assert!(
        ended.is_none(),
        "gedit ended {:?} after the stop, within its grace\n{}",
        stopped.elapsed(),
        sandbox.describe()
    );
    let out = sandbox.finish(RUN_LIMIT);
    let took = stopped.elapsed();
    assert_eq!(out.code(), Some(128 + 15), "SIGTERM after the grace\n{out}");
    assert!(
        took >= Duration::from_millis(4800) && took < Duration::from_secs(12),
        "gedit ended {took:?} after `wsbox stop --grace 5`\n{out}"
    );
    assert_eq!(fs::read_to_string(&doc).unwrap(), "typed first line\n");
    assert_quiet(&out, &[]);
}

/// `wsbox stop --force` gives gedit, unsaved edit and all, no grace: it
/// ends at once (SIGTERM, never the SIGKILL 2 s later).
#[test]
fn stop_force_ends_gedit_at_once() {
    let test = "stop_force_ends_gedit_at_once";
    if !ready(test, &["gedit"]) {
        return;
    }
    let mut sandbox = start(test, &["--headless", "--", "gedit"]);
    sandbox.wait_for_window("gedit's window", START_LIMIT, |w| {
        w.app_id.contains("gedit") && w.focused
    });
    sandbox.input(&["type", "never saved"]);
    sandbox.wait_for_window("gedit's title marking the edit", SEE_LIMIT, |w| {
        w.title.starts_with('*')
    });
    let stopped = Instant::now();
    sandbox.control(&["stop", &sandbox.name, "--force"]);
    let out = sandbox.finish(RUN_LIMIT);
    assert_eq!(out.code(), Some(128 + 15), "{out}");
    assert!(
        stopped.elapsed() < Duration::from_millis(1800),
        "gedit ended {:?} after `wsbox stop --force`\n{out}",
        stopped.elapsed()
    );
    assert_quiet(&out, &[]);
}

testkit::as_root_and_user!(vim_saves_in_place_by_rename_and_keeps_its_backup_inside);

/// vim with `backup writebackup backupcopy=no` saves by renaming the
/// document to a backup and writing a new file under its name: the host
/// file gets the new contents (owner and mode kept), the backup stays
/// inside. Without a display, as root and as the test user.
fn vim_saves_in_place_by_rename_and_keeps_its_backup_inside(who: Who, test: &str) {
    if !ready(test, &["vim"]) {
        return;
    }
    let user = match who {
        Who::Root => None,
        Who::User => match testkit::test_user() {
            Ok(user) => Some(user),
            Err(why) => return skip(test, &why),
        },
    };
    // The test user's wsbox has its runtime directory and home in `dir`;
    // the document is in a directory of its own.
    let owner = user.unwrap_or((0, 0));
    let dir = testkit::scratch_for(root_dir(), test, owner);
    let docs = dir.join("docs");
    testkit::make_dir(&docs, 0o755);
    std::os::unix::fs::chown(&docs, Some(owner.0), Some(owner.1)).unwrap();
    let doc = docs.join("todo.txt");
    write_file(&doc, b"line one\n", 0o640);
    std::os::unix::fs::chown(&doc, Some(owner.0), Some(owner.1)).unwrap();
    let doc_arg = doc.to_str().unwrap();
    let args = [
        "run",
        "--display",
        "none",
        "--file-rw",
        doc_arg,
        "--",
        "sh",
        "-c",
        r#"vim -N -u NONE -i NONE -es -c 'set backup writebackup backupcopy=no' \
             -c 'normal Goline two' -c wq "$1" && ls -A "$(dirname "$1")""#,
        "sh",
        doc_arg,
    ];
    let cmd = match user {
        Some(user) => {
            let mut cmd = testkit::as_user(testkit::shared_copy(&testkit::wsbox_exe()), user, &dir);
            cmd.args(args);
            cmd
        }
        None => wsbox(&args),
    };
    let out = output(cmd, Duration::from_secs(60));
    assert_eq!(out.code(), Some(0), "{out}");
    // Inside, the backup is beside the document.
    let mut inside: Vec<&str> = out.stdout.lines().collect();
    inside.sort_unstable();
    assert_eq!(inside, ["todo.txt", "todo.txt~"], "{out}");
    assert_eq!(fs::read_to_string(&doc).unwrap(), "line one\nline two\n");
    let meta = fs::metadata(&doc).unwrap();
    assert_eq!(
        (meta.uid(), meta.gid(), meta.mode() & 0o777),
        (owner.0, owner.1, 0o640),
        "todo.txt's owner and mode"
    );
    assert_eq!(names_in(&docs), ["todo.txt"], "beside the document\n{out}");
    assert_quiet(&out, &[]);
}

// ---------------------------------------------------------------------------
// Lifecycle: Firefox, and a window closed on the host
// ---------------------------------------------------------------------------

/// Files named `file` below `dir`, at any depth.
fn find_below(dir: &Path, file: &str) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut todo = vec![dir.to_owned()];
    while let Some(d) = todo.pop() {
        for entry in fs::read_dir(&d).into_iter().flatten().flatten() {
            let path = entry.path();
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                todo.push(path);
            } else if entry.file_name() == file {
                found.push(path);
            }
        }
    }
    found
}

/// Firefox with a persistent home and a local page: `wsbox stop` lets it
/// quit as it does on a desktop (it exits 0, and its session checkpoints
/// say its profile was closed: the mark Firefox reads at the next start to
/// tell a crash), and the next start shows the page again, with no session
/// restore page.
#[test]
fn firefox_stops_cleanly_and_starts_again_without_session_restore() {
    let test = "firefox_stops_cleanly_and_starts_again_without_session_restore";
    if !ready(test, &["firefox-esr"]) {
        return;
    }
    let dir = scratch(test);
    let page = dir.join("page.html");
    write_file(
        &page,
        b"<!doctype html><html><head><title>wsbox page</title></head>\
          <body><h1>Hello from wsbox</h1></body></html>\n",
        0o644,
    );
    let home = dir.join("home");
    let (home_arg, page_arg) = (home.to_str().unwrap(), page.to_str().unwrap());
    let args = [
        "--headless",
        "--home",
        home_arg,
        "--",
        "firefox-esr",
        page_arg,
    ];
    for round in ["first", "second"] {
        let mut sandbox = start(test, &args);
        let shown = sandbox.wait_for(
            &format!("the page in Firefox ({round} start)"),
            START_LIMIT,
            |windows| {
                let restore = windows
                    .iter()
                    .find(|w| w.title.contains("Restore Session") || w.title.contains("Sorry"));
                assert!(restore.is_none(), "{round} start: {restore:?}");
                windows
                    .iter()
                    .find(|w| w.title.starts_with("wsbox page") && w.focused)
                    .cloned()
            },
        );
        assert_eq!(shown.app_id, "firefox-esr", "{shown:?}");
        let stopped = Instant::now();
        sandbox.control(&["stop", &sandbox.name]);
        let out = sandbox.finish(RUN_LIMIT);
        assert_eq!(out.code(), Some(0), "{round} start: Firefox's exit\n{out}");
        assert!(
            stopped.elapsed() < Duration::from_secs(10),
            "Firefox took {:?} to quit\n{out}",
            stopped.elapsed()
        );
        assert_quiet(&out, &[]);
        let checkpoints = find_below(&home, "sessionCheckpoints.json");
        assert_eq!(checkpoints.len(), 1, "one profile: {checkpoints:?}");
        let text = fs::read_to_string(&checkpoints[0]).unwrap();
        for step in [
            "\"sessionstore-final-state-write-complete\":true",
            "\"profile-before-change\":true",
        ] {
            assert!(
                text.contains(step),
                "{round} start: Firefox did not reach {step}: {text}"
            );
        }
        let profile = checkpoints[0].parent().unwrap();
        assert!(
            profile.join("sessionstore.jsonlz4").is_file(),
            "{round} start"
        );
    }
}

/// In window mode on a sway host, as the test user: gedit with an unsaved
/// edit survives wsbox's close button (it asks "Save changes?", which
/// shows as a second window inside, and runs on past the 2 s after which
/// wsbox used to send SIGTERM); a click on its Save button with the host's
/// pointer saves, the host file gets the edit and gedit exits 0. (Return
/// is not used: GTK 3's dialogs ignore it from a virtual keyboard whose
/// keymap holds only a few keys, directly on sway too.)
fn gedit_save_dialog_after_the_host_close_button(test: &str) {
    if !ready(test, &["gedit", "sway", "swaymsg", "wtype"]) {
        return;
    }
    let user = match testkit::test_user() {
        Ok(user) => user,
        Err(why) => return skip(test, &why),
    };
    let screen = (1280, 800);
    let dir = testkit::scratch_for(root_dir(), test, user);
    let mut sway = Sway::start(user, &dir, screen, "").unwrap_or_else(|e| panic!("{e}"));
    if let Err(e) = sway.ipc().and_then(|_| sway.add_idle_keyboard()) {
        panic!("{e}\n--- sway ---\n{}", sway.log());
    }
    // The seat has its pointer before wsbox connects.
    let mut pointer = VirtualPointer::new(&sway.socket, screen).unwrap_or_else(|e| panic!("{e}"));
    let doc = dir.join("draft.txt");
    write_file(&doc, b"draft\n", 0o600);
    std::os::unix::fs::chown(&doc, Some(user.0), Some(user.1)).unwrap();
    let name = testkit::unique_name("", test);
    let doc_arg = doc.to_str().unwrap();
    let wsbox_bin = testkit::shared_copy(&testkit::wsbox_exe());
    let mut sandbox = Sandbox::start(
        sway.maker(wsbox_bin),
        &name,
        &["--file-rw", doc_arg, "--", "gedit", doc_arg],
    );
    let app_id = format!("wsbox.{name}");
    let host = poll(START_LIMIT, || {
        sway.window(&app_id)
            .filter(|w| w.focused && w.title.contains("draft.txt"))
    })
    .unwrap_or_else(|| panic!("no focused host window for gedit\n{}", sandbox.describe()));
    sandbox.wait_for_window("gedit focused inside", SEE_LIMIT, |w| {
        w.title.contains("draft.txt") && w.focused
    });
    sway.run("wtype", &["edited "]);
    sandbox.wait_for_window("gedit's title marking the edit", SEE_LIMIT, |w| {
        w.title.starts_with('*')
    });
    let (x, y) = host_close_button(host.rect);
    pointer.move_to(x, y);
    pointer.click();
    let clicked = Instant::now();
    let dialog = sandbox.wait_for("gedit's \"Save changes?\" dialog", SEE_LIMIT, |windows| {
        let dialog = windows.iter().find(|w| !w.title.contains("draft.txt"))?;
        (windows.len() == 2 && dialog.focused).then(|| dialog.clone())
    });
    // What is under test is that gedit still runs: 4 s after the click is
    // twice the 2 s after which wsbox used to send SIGTERM.
    let until = Duration::from_secs(4).saturating_sub(clicked.elapsed());
    let ended = poll(until, || sandbox.try_wait());
    assert!(
        ended.is_none(),
        "gedit ended {:?} after the close button\n{}",
        clicked.elapsed(),
        sandbox.describe()
    );
    // GTK's dialog: its buttons fill its bottom row, Save the rightmost
    // third. The sandbox's output starts below wsbox's title bar, inside
    // its border.
    let [x0, y0, _, _] = host.rect;
    pointer.move_to(
        x0 + HOST_BORDER + dialog.x + dialog.width * 5 / 6,
        y0 + HOST_TITLE_HEIGHT + dialog.y + dialog.height - 20,
    );
    pointer.click();
    let saved = poll(SAVE_LIMIT, || {
        fs::read_to_string(&doc)
            .ok()
            .filter(|t| t == "edited draft\n")
    });
    assert!(
        saved.is_some(),
        "the Save button did not save: the host file holds {:?}; windows inside {:?}\n{}",
        fs::read_to_string(&doc),
        sandbox.windows(),
        sandbox.describe()
    );
    let out = sandbox.finish(RUN_LIMIT);
    assert_eq!(out.code(), Some(0), "gedit's exit after saving\n{out}");
    let meta = fs::metadata(&doc).unwrap();
    assert_eq!((meta.uid(), meta.mode() & 0o777), (user.0, 0o600));
    assert_quiet(&out, &[]);
}

#[test]
fn gedit_save_dialog_survives_the_host_close_button_and_a_click_saves() {
    gedit_save_dialog_after_the_host_close_button(
        "gedit_save_dialog_survives_the_host_close_button_and_a_click_saves",
    );
}

// ---------------------------------------------------------------------------
// The app's /etc, the font cache, hints and warnings
// ---------------------------------------------------------------------------

/// Inside, the /etc entries that links under /usr point to are the host's
/// (LibreOffice's registry, Firefox's syspref), read-only; no entry of
/// `ETC_NEVER` that the host has is its (absent, or wsbox's own such as
/// hostname); the host's font caches are there, read-only.
#[test]
fn etc_shows_what_usr_links_to_and_never_a_secret() {
    let test = "etc_shows_what_usr_links_to_and_never_a_secret";
    if !ready(test, &["sh", "stat"]) {
        return;
    }
    let linked: Vec<&str> = ["libreoffice", "firefox-esr"]
        .into_iter()
        .filter(|n| Path::new("/etc").join(n).exists())
        .collect();
    if linked.len() < 2 && !testkit::have_programs(test, &["libreoffice", "firefox-esr"]) {
        return;
    }
    let never: Vec<&str> = wsbox_sandbox::plan::ETC_NEVER
        .iter()
        .copied()
        .filter(|n| fs::symlink_metadata(Path::new("/etc").join(n)).is_ok())
        .collect();
    let fontconfig = Path::new("/var/cache/fontconfig");
    let script = r#"
for name in "$@"; do
  printf '%s %s\n' "$name" "$(stat -c '%d:%i' "/etc/$name" 2>/dev/null || echo absent)"
done
test -e /usr/lib/libreoffice/share/registry/main.xcd && echo "registry resolves"
if [ -d /var/cache/fontconfig ]; then
  for f in /var/cache/fontconfig/*; do cat "$f" >/dev/null || echo "unreadable $f"; done
  ls -A /var/cache/fontconfig | sed 's/^/fontcache /'
  if (: > /var/cache/fontconfig/new) 2>/dev/null; then echo "font cache writable"; fi
fi
"#;
    let mut args = vec!["run", "--display", "none", "--", "sh", "-c", script, "sh"];
    args.extend(linked.iter().chain(&never));
    let out = output(wsbox(&args), Duration::from_secs(60));
    assert_eq!(out.code(), Some(0), "{out}");
    let inside = |name: &str| -> String {
        out.stdout
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{name} ")))
            .unwrap_or_else(|| panic!("nothing said of {name}\n{out}"))
            .to_owned()
    };
    let host = |name: &str| {
        let m = fs::symlink_metadata(Path::new("/etc").join(name)).unwrap();
        format!("{}:{}", m.dev(), m.ino())
    };
    for name in &linked {
        assert_eq!(inside(name), host(name), "/etc/{name} inside\n{out}");
    }
    if linked.contains(&"libreoffice") {
        assert!(out.stdout.contains("registry resolves\n"), "{out}");
    }
    for name in &never {
        assert_ne!(
            inside(name),
            host(name),
            "the host's /etc/{name} is shown\n{out}"
        );
    }
    if fontconfig.is_dir() {
        let mut seen: Vec<String> = out
            .stdout
            .lines()
            .filter_map(|l| l.strip_prefix("fontcache "))
            .map(str::to_owned)
            .collect();
        seen.sort();
        assert_eq!(
            seen,
            names_in(fontconfig),
            "/var/cache/fontconfig inside\n{out}"
        );
        assert!(!out.stdout.contains("unreadable"), "{out}");
        assert!(!out.stdout.contains("font cache writable"), "{out}");
    } else {
        skip(test, "the host has no /var/cache/fontconfig to show");
    }
    assert_quiet(&out, &[]);
}

/// Qt's Wayland platform plugin directories of this host.
fn qt5_platform_dirs() -> Vec<PathBuf> {
    fs::read_dir("/usr/lib")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().join("qt5/plugins/platforms"))
        .filter(|d| d.join("libqwayland-generic.so").is_file())
        .collect()
}

/// On a host without Qt's Wayland plugin (an empty directory bound over
/// its directory, in a mount namespace of the test's own), wsbox says in
/// one line that KeePassXC is a Qt 5 program and which package provides
/// the plugin, before the app fails to show a window.
#[test]
fn a_qt_program_without_the_wayland_plugin_gets_a_hint() {
    let test = "a_qt_program_without_the_wayland_plugin_gets_a_hint";
    if !ready(test, &["keepassxc", "unshare", "mount"]) {
        return;
    }
    let dirs = qt5_platform_dirs();
    if dirs.is_empty() {
        return skip(test, "Qt 5's Wayland plugin is not installed (qtwayland5)");
    }
    let empty = scratch(test);
    let name = testkit::unique_name("ap-", test);
    let run = wsbox(&[
        "run",
        "--headless",
        "--name",
        &name,
        "--timeout",
        "60",
        "--",
        "keepassxc",
    ]);
    let mut script = String::new();
    for dir in &dirs {
        script.push_str(&format!(
            "mount --bind '{}' '{}' && ",
            empty.display(),
            dir.display()
        ));
    }
    script.push_str("exec \"$@\"");
    let mut cmd = Command::new("unshare");
    cmd.args([
        "--mount",
        "--propagation",
        "private",
        "sh",
        "-c",
        &script,
        "sh",
    ])
    .arg(run.get_program())
    .args(run.get_args());
    for (key, value) in run.get_envs() {
        match value {
            Some(value) => cmd.env(key, value),
            None => cmd.env_remove(key),
        };
    }
    let out = output(cmd, RUN_LIMIT);
    let hint = "wsbox: warning: keepassxc is a Qt 5 program, and Qt's Wayland plugin is not \
                installed: it cannot show a window in wsbox (install the Debian package qtwayland5)";
    let lines: Vec<&str> = out
        .stderr
        .lines()
        .filter(|l| l.starts_with("wsbox"))
        .collect();
    assert_eq!(lines, [hint], "{out}");
    assert_ne!(out.code(), Some(124), "keepassxc showed a window\n{out}");
}

/// Run by root, a `--rw` share the app (nobody) cannot write is named in
/// one warning line, with its owner and mode; the app runs.
#[test]
fn run_by_root_an_unwritable_share_is_one_warning() {
    let test = "run_by_root_an_unwritable_share_is_one_warning";
    if !ready(test, &["sh"]) {
        return;
    }
    let share = scratch(test);
    let bind = format!("{}:/data", share.display());
    let out = output(
        wsbox(&[
            "run",
            "--display",
            "none",
            "--rw",
            &bind,
            "--",
            "sh",
            "-c",
            "echo app ran",
        ]),
        Duration::from_secs(60),
    );
    assert_eq!(out.code(), Some(0), "{out}");
    assert_eq!(out.stdout, "app ran\n", "{out}");
    let warning = format!(
        "wsbox: warning: {} is granted read-write, but the app runs as uid 65534 (nobody) and \
         cannot write it: it belongs to root:root with mode 0755",
        share.display()
    );
    assert_eq!(out.stderr.lines().collect::<Vec<_>>(), [warning], "{out}");
}

/// Debug logging into a pipe (a file, CI's log) carries no colour codes.
#[test]
fn debug_logs_into_a_pipe_carry_no_colour_codes() {
    let test = "debug_logs_into_a_pipe_carry_no_colour_codes";
    if !ready(test, &["true"]) {
        return;
    }
    let mut cmd = wsbox(&["run", "--headless", "--", "true"]);
    cmd.env("WSBOX_LOG", "debug");
    let out = output(cmd, Duration::from_secs(60));
    assert_eq!(out.code(), Some(0), "{out}");
    assert!(out.stderr.contains("DEBUG"), "no debug lines\n{out}");
    assert!(!out.stderr.contains('\u{1b}'), "colour codes\n{out}");
}
