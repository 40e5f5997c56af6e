//! End-to-end tests of the built-in profiles with the real Debian programs
//! they are for, headless: each program starts with `--profile NAME`,
//! shows its window with the file it was given where it takes one (title
//! and pixels), keeps its home where the profile says (where the app has
//! state to find, a second start finds what the first one kept), and
//! prints nothing on stderr until then that wsbox causes, beyond the known
//! list below (each with its reason).
//!
//! A test that cannot run here prints `SKIPPED: <test>: <reason>` and
//! passes, unless CI=true or WSBOX_MUST_WORK=1, where it fails instead.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use testkit::{near_by, output, poll, skip, Image, Out, Running};

const RUN_LIMIT: Duration = Duration::from_secs(60);
const SHOW_LIMIT: Duration = Duration::from_secs(30);
/// How long LibreOffice and Thunderbird may take to show their window:
/// their first start makes a new profile, on a machine the other tests
/// keep busy.
const SLOW_SHOW_LIMIT: Duration = Duration::from_secs(90);

/// What the programs print that is not wsbox's doing, or that wsbox does
/// not provide yet, with the reason.
const KNOWN: &[(&str, &str)] = &[
    (
        "org.a11y.Bus",
        "the test host has no accessibility bus, so the app gets none (docs/a11y.md)",
    ),
    (
        "Error retrieving accessibility bus address",
        "the same, from AT-SPI",
    ),
    (
        "org.freedesktop.portal.Inhibit",
        "wsbox's portal has no Inhibit interface (apps go on without)",
    ),
    (
        "Error building template class 'EditorOpenPopover'",
        "gnome-text-editor 43's own: printed directly on weston too",
    ),
    (
        "gtk_widget_add_controller: assertion 'GTK_IS_WIDGET (widget)' failed",
        "the same gnome-text-editor bug's next line",
    ),
    (
        "org.gnome.evince.Daemon",
        "evince registers its documents with a session daemon there is none of inside; it works without",
    ),
    (
        "Wayland does not support QWindow::requestActivate()",
        "Qt 5 asks to activate its window; wsbox's compositor offers no activation protocol (no window takes the focus by itself)",
    ),
    (
        "Warning: failed to launch javaldx",
        "LibreOffice's launcher looks for a Java runtime, which Debian's libreoffice-writer only suggests (none is installed): printed directly on weston too",
    ),
];

fn root_dir() -> &'static Path {
    testkit::root_dir("profiles", false)
}

struct Case {
    profile: &'static str,
    program: &'static str,
    /// Arguments after the program; `FILE` is replaced by the file.
    args: &'static [&'static str],
    /// The file's name and contents.
    file: Option<(&'static str, Vec<u8>)>,
    /// What the window's title contains once it shows the file.
    title: &'static str,
    /// A colour the window shows in its middle, within 24.
    middle: Option<[u8; 3]>,
    /// The profile keeps a home.
    persists: bool,
}

fn run_case(test: &str, case: &Case) {
    if testkit::euid() != 0 {
        skip(test, "not running as root");
        return;
    }
    if testkit::find_program(case.program).is_none() {
        skip(test, &format!("{} is not installed", case.program));
        return;
    }
    let dir = testkit::scratch_in(root_dir(), test, 0o700);
    let env = |cmd: &mut Command| in_dir(cmd, &dir);
    let wsbox = |args: &[&str]| -> Out {
        let mut cmd = Command::new(testkit::wsbox_exe());
        cmd.args(args);
        env(&mut cmd);
        output(cmd, RUN_LIMIT)
    };
    let file: Option<PathBuf> = case.file.as_ref().map(|(name, bytes)| {
        let path = dir.join(name);
        std::fs::write(&path, bytes).unwrap();
        path
    });
    let name = case.profile;
    let mut args = vec![
        "run",
        "--headless",
        "--name",
        name,
        "--profile",
        case.profile,
        "--",
        case.program,
    ];
    for arg in case.args {
        args.push(match (*arg, &file) {
            ("FILE", Some(path)) => path.to_str().unwrap(),
            (arg, _) => arg,
        });
    }
    let mut cmd = Command::new(testkit::wsbox_exe());
    cmd.args(&args);
    env(&mut cmd);
    let app = Running::start(cmd);
    let shown = poll(SHOW_LIMIT, || {
        let out = wsbox(&["windows", name, "--json"]);
        let windows: serde_json::Value = serde_json::from_str(&out.stdout).ok()?;
        windows
            .as_array()?
            .iter()
            .find(|w| w["title"].as_str().is_some_and(|t| t.contains(case.title)))
            .cloned()
    });
    let Some(window) = shown else {
        panic!(
            "{} never showed a window titled …{}…\n{}",
            case.program,
            case.title,
            app.stderr_so_far()
        );
    };
    if let Some(colour) = case.middle {
        let shot = dir.join("shot.png");
        let seen = poll(SHOW_LIMIT, || {
            let out = wsbox(&["screenshot", name, shot.to_str().unwrap()]);
            if out.code() != Some(0) {
                return None;
            }
            let image = Image::load(&shot);
            let x = window["x"].as_i64()? + window["width"].as_i64()? / 2;
            let y = window["y"].as_i64()? + window["height"].as_i64()? / 2;
            near_by(image.at(x, y), colour, 24).then_some(())
        });
        assert!(
            seen.is_some(),
            "the middle of {}'s window is not {colour:?} ({})",
            case.program,
            shot.display()
        );
    }
    let home = dir.join(".local/share/wsbox").join(name);
    assert_eq!(
        home.is_dir(),
        case.persists,
        "{} (profile {})",
        home.display(),
        case.profile
    );
    // What the program printed while it started and showed the file: the
    // place for errors about its environment. (Closing it right after
    // that races with its own start-up: gnome-text-editor 43 then fails
    // an assertion of its session object, which is its own ordering.)
    let stderr = whole_lines(app.stderr_so_far());
    let stop = wsbox(&["stop", "--grace", "2", name]);
    assert_eq!(stop.code(), Some(0), "{stop}");
    app.finish(RUN_LIMIT);
    let unknown = unexplained(&stderr);
    assert!(
        unknown.is_empty(),
        "{} printed what no reason here explains:\n{}",
        case.program,
        unknown.join("\n")
    );
}

#[test]
fn editor_shows_the_text_file() {
    run_case(
        "editor_shows_the_text_file",
        &Case {
            profile: "editor",
            program: "gnome-text-editor",
            args: &["FILE"],
            file: Some(("note.txt", b"a note from the host\n".to_vec())),
            title: "note.txt",
            middle: None,
            persists: true,
        },
    );
}

#[test]
fn pdf_shows_the_document() {
    run_case(
        "pdf_shows_the_document",
        &Case {
            profile: "pdf",
            program: "evince",
            args: &["FILE"],
            file: Some(("report.pdf", PDF.to_vec())),
            title: "report.pdf",
            // The page: white, where the window's background is grey.
            middle: Some([255, 255, 255]),
            persists: true,
        },
    );
}

#[test]
fn image_viewer_shows_the_image() {
    run_case(
        "image_viewer_shows_the_image",
        &Case {
            profile: "image-viewer",
            program: "imv-wayland",
            args: &["FILE"],
            file: Some(("red.png", red_png())),
            title: "red.png",
            middle: Some([200, 30, 30]),
            persists: false,
        },
    );
}

#[test]
fn terminal_runs_its_shell() {
    run_case(
        "terminal_runs_its_shell",
        &Case {
            profile: "terminal",
            program: "foot",
            args: &["--title", "confined-shell", "sh", "-c", "sleep 60"],
            file: None,
            title: "confined-shell",
            middle: None,
            persists: true,
        },
    );
}

#[test]
fn passwords_reopens_its_last_database_on_the_next_start() {
    let test = "passwords_reopens_its_last_database_on_the_next_start";
    if testkit::euid() != 0 {
        skip(test, "not running as root");
        return;
    }
    for program in ["keepassxc", "keepassxc-cli"] {
        if testkit::find_program(program).is_none() {
            skip(test, &format!("{program} is not installed"));
            return;
        }
    }
    let dir = testkit::scratch_in(root_dir(), test, 0o700);
    let env = |cmd: &mut Command| in_dir(cmd, &dir);
    let db = dir.join("vault.kdbx");
    let mut create = Command::new("keepassxc-cli");
    env(&mut create);
    create
        .args(["db-create", "--set-password"])
        .arg(&db)
        .stdin(Stdio::piped());
    let mut child = create.spawn().unwrap();
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(b"pw-4711\npw-4711\n").unwrap();
    }
    assert!(child.wait().unwrap().success(), "keepassxc-cli db-create");
    let db = db.to_str().unwrap();
    // The first start opens the database it is given; the second is given
    // none, and opens it from the recent list its kept home holds.
    for (round, args) in [
        ("first", &["keepassxc", db][..]),
        ("second", &["keepassxc"][..]),
    ] {
        let mut cmd = Command::new(testkit::wsbox_exe());
        cmd.args([
            "run",
            "--headless",
            "--name",
            "vault",
            "--profile",
            "passwords",
            "--file-rw",
            db,
            "--",
        ])
        .args(args)
        .stdin(Stdio::null());
        env(&mut cmd);
        let app = Running::start(cmd);
        let locked = poll(SHOW_LIMIT, || {
            let mut ps = Command::new(testkit::wsbox_exe());
            ps.args(["windows", "vault", "--json"]);
            env(&mut ps);
            let out = output(ps, RUN_LIMIT);
            let windows: serde_json::Value = serde_json::from_str(&out.stdout).ok()?;
            windows.as_array()?.iter().find(|w| {
                w["title"]
                    .as_str()
                    .is_some_and(|t| t.contains("vault.kdbx") && t.contains("[Locked]"))
            })?;
            Some(())
        });
        assert!(
            locked.is_some(),
            "{round} start: KeePassXC never showed vault.kdbx locked\n{}",
            app.stderr_so_far()
        );
        let stderr = whole_lines(app.stderr_so_far());
        let unknown = unexplained(&stderr);
        assert!(
            unknown.is_empty(),
            "keepassxc printed what no reason here explains:\n{}",
            unknown.join("\n")
        );
        let mut stop = Command::new(testkit::wsbox_exe());
        stop.args(["stop", "--grace", "5", "vault"]);
        env(&mut stop);
        let stopped = output(stop, RUN_LIMIT);
        assert_eq!(stopped.code(), Some(0), "{stopped}");
        let out = app.finish(RUN_LIMIT);
        // Asked to close, it exits by itself, and writes its recent list.
        assert_eq!(out.code(), Some(0), "{round} start\n{out}");
    }
    assert!(dir.join(".local/share/wsbox/vault").is_dir());
}

/// Starts `firefox-esr PAGE` with `profile` until its window shows the
/// page, checks its stderr until then, stops it and waits for its exit.
fn firefox_round(test: &str, dir: &Path, profile: &str, round: &str) {
    let page = dir.join("page.html");
    std::fs::write(
        &page,
        "<!doctype html><html><head><title>wsbox page</title></head>\
         <body><h1>Hello from wsbox</h1></body></html>\n",
    )
    .unwrap();
    let env = |cmd: &mut Command| in_dir(cmd, dir);
    let mut cmd = Command::new(testkit::wsbox_exe());
    cmd.args([
        "run",
        "--headless",
        "--name",
        "web",
        "--profile",
        profile,
        "--",
    ])
    .arg("firefox-esr")
    .arg(&page);
    env(&mut cmd);
    let app = Running::start(cmd);
    let shown = poll(SHOW_LIMIT, || {
        let mut ps = Command::new(testkit::wsbox_exe());
        ps.args(["windows", "web", "--json"]);
        env(&mut ps);
        let out = output(ps, RUN_LIMIT);
        let windows: serde_json::Value = serde_json::from_str(&out.stdout).ok()?;
        let titles: Vec<String> = windows
            .as_array()?
            .iter()
            .filter_map(|w| w["title"].as_str().map(str::to_owned))
            .collect();
        assert!(
            !titles
                .iter()
                .any(|t| t.contains("Restore Session") || t.contains("Sorry")),
            "{test}, {round} start: {titles:?}"
        );
        titles
            .iter()
            .any(|t| t.starts_with("wsbox page"))
            .then_some(())
    });
    assert!(
        shown.is_some(),
        "{test}, {round} start: Firefox never showed the page\n{}",
        app.stderr_so_far()
    );
    let stderr = whole_lines(app.stderr_so_far());
    let unknown = unexplained(&stderr);
    assert!(
        unknown.is_empty(),
        "firefox-esr ({profile}) printed what no reason here explains:\n{}",
        unknown.join("\n")
    );
    let mut stop = Command::new(testkit::wsbox_exe());
    stop.args(["stop", "web"]);
    env(&mut stop);
    let stopped = output(stop, RUN_LIMIT);
    assert_eq!(stopped.code(), Some(0), "{stopped}");
    let out = app.finish(RUN_LIMIT);
    assert_eq!(
        out.code(),
        Some(0),
        "{test}, {round} start: Firefox's exit\n{out}"
    );
}

#[test]
fn browser_keeps_its_profile_and_starts_again_without_session_restore() {
    let test = "browser_keeps_its_profile_and_starts_again_without_session_restore";
    if testkit::euid() != 0 {
        return skip(test, "not running as root");
    }
    if testkit::find_program("firefox-esr").is_none() {
        return skip(test, "firefox-esr is not installed");
    }
    let dir = testkit::scratch_in(root_dir(), test, 0o700);
    for round in ["first", "second"] {
        firefox_round(test, &dir, "browser", round);
    }
    // Its profile is in the kept home, with the session it saved.
    let mut sessions = Vec::new();
    let mut dirs = vec![dir.join(".local/share/wsbox/web")];
    while let Some(d) = dirs.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let path = entry.path();
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                dirs.push(path);
            } else if entry.file_name() == "sessionstore.jsonlz4" {
                sessions.push(path);
            }
        }
    }
    assert_eq!(sessions.len(), 1, "{sessions:?}");
}

#[test]
fn tor_browser_keeps_nothing() {
    let test = "tor_browser_keeps_nothing";
    if testkit::euid() != 0 {
        return skip(test, "not running as root");
    }
    if testkit::find_program("firefox-esr").is_none() {
        return skip(test, "firefox-esr is not installed");
    }
    let dir = testkit::scratch_in(root_dir(), test, 0o700);
    firefox_round(test, &dir, "tor-browser", "first");
    assert!(!dir.join(".local/share/wsbox/web").exists());
}

/// `wsbox ARGS` with `dir` as its home and runtime directory, finished.
fn wsbox_in(dir: &Path, args: &[&str]) -> Out {
    let mut cmd = Command::new(testkit::wsbox_exe());
    cmd.args(args);
    in_dir(&mut cmd, dir);
    output(cmd, RUN_LIMIT)
}

/// The window of sandbox `name` whose title `shown` accepts, as
/// `wsbox windows --json` has it now.
fn window_now(dir: &Path, name: &str, shown: &dyn Fn(&str) -> bool) -> Option<serde_json::Value> {
    let out = wsbox_in(dir, &["windows", name, "--json"]);
    let windows: serde_json::Value = serde_json::from_str(&out.stdout).ok()?;
    windows
        .as_array()?
        .iter()
        .find(|w| w["title"].as_str().is_some_and(shown))
        .cloned()
}

/// Starts `wsbox run --headless --name NAME ARGS` in `dir` and waits up to
/// [`SLOW_SHOW_LIMIT`] for a window `shown` accepts.
fn start_until_shown(
    what: &str,
    dir: &Path,
    name: &str,
    args: &[&str],
    shown: &dyn Fn(&str) -> bool,
) -> Running {
    let mut cmd = Command::new(testkit::wsbox_exe());
    cmd.args(["run", "--headless", "--name", name]).args(args);
    in_dir(&mut cmd, dir);
    let app = Running::start(cmd);
    if poll(SLOW_SHOW_LIMIT, || window_now(dir, name, shown)).is_none() {
        panic!("{what}: the window never came\n{}", app.stderr_so_far());
    }
    app
}

/// Takes a screenshot `shot` of sandbox `name` and gives it to `check`
/// with the rectangle (x0, y0, x1, y1) of the window `shown` accepts, as
/// it is now: a window may be mapped before it takes its final size.
fn screen_shows(
    dir: &Path,
    name: &str,
    shot: &Path,
    shown: &dyn Fn(&str) -> bool,
    check: impl Fn(&Image, [i64; 4]) -> bool,
) -> Option<()> {
    let window = window_now(dir, name, shown)?;
    let out = wsbox_in(dir, &["screenshot", name, shot.to_str().unwrap()]);
    if out.code() != Some(0) {
        return None;
    }
    let (x, y) = (window["x"].as_i64()?, window["y"].as_i64()?);
    let (w, h) = (window["width"].as_i64()?, window["height"].as_i64()?);
    check(&Image::load(shot), [x, y, x + w, y + h]).then_some(())
}

/// Checks what `app` printed on stderr so far, stops sandbox `name` and
/// waits for wsbox: the program must exit by itself when its windows are
/// asked to close (it saves its state then).
fn stop_cleanly(what: &str, dir: &Path, name: &str, app: Running) {
    let stderr = whole_lines(app.stderr_so_far());
    let unknown = unexplained(&stderr);
    assert!(
        unknown.is_empty(),
        "{what} printed what no reason here explains:\n{}",
        unknown.join("\n")
    );
    let stop = wsbox_in(dir, &["stop", name]);
    assert_eq!(stop.code(), Some(0), "{stop}");
    let out = app.finish(SLOW_SHOW_LIMIT + RUN_LIMIT);
    assert_eq!(out.code(), Some(0), "{what}: its exit\n{out}");
}

/// The page colour of the document the office test opens.
const PAGE_BLUE: [u8; 3] = [0x1e, 0x90, 0xff];

/// A flat OpenDocument text (what LibreOffice opens as a Writer document):
/// one line of text on a blue page.
const FODT: &str = r##"<?xml version="1.0" encoding="UTF-8"?>
<office:document xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0"
 xmlns:style="urn:oasis:names:tc:opendocument:xmlns:style:1.0"
 xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0"
 xmlns:draw="urn:oasis:names:tc:opendocument:xmlns:drawing:1.0"
 xmlns:fo="urn:oasis:names:xsl-formatting-objects-compatible:1.0"
 office:version="1.3" office:mimetype="application/vnd.oasis.opendocument.text">
 <office:automatic-styles>
  <style:page-layout style:name="pm1">
   <style:page-layout-properties fo:page-width="21cm" fo:page-height="29.7cm" fo:margin="2cm"
    fo:background-color="#1e90ff" draw:fill="solid" draw:fill-color="#1e90ff"/>
  </style:page-layout>
 </office:automatic-styles>
 <office:master-styles>
  <style:master-page style:name="Standard" style:page-layout-name="pm1"/>
 </office:master-styles>
 <office:body><office:text><text:p>A letter from the host</text:p></office:text></office:body>
</office:document>
"##;

/// LibreOffice with `office` shows the document it is given (its title,
/// the blue page in the middle of its window), keeps its user profile in
/// the kept home, and on a second start, given no document, its Start
/// Center shows the document among its recent ones (its thumbnail, blue):
/// the recent list the first start left in registrymodifications.xcu.
#[test]
fn office_shows_the_document_and_lists_it_as_recent_on_the_next_start() {
    let test = "office_shows_the_document_and_lists_it_as_recent_on_the_next_start";
    if testkit::euid() != 0 {
        return skip(test, "not running as root");
    }
    if testkit::find_program("libreoffice").is_none() {
        return skip(test, "libreoffice is not installed");
    }
    let dir = testkit::scratch_in(root_dir(), test, 0o700);
    let doc = dir.join("letter.fodt");
    std::fs::write(&doc, FODT).unwrap();
    let doc = doc.to_str().unwrap();

    let what = "LibreOffice, first start";
    let writer = |t: &str| t.contains("letter.fodt") && t.contains("LibreOffice Writer");
    let app = start_until_shown(
        what,
        &dir,
        "office",
        &["--profile", "office", "--", "libreoffice", doc],
        &writer,
    );
    let shot = dir.join("office-first.png");
    let page = poll(SHOW_LIMIT, || {
        screen_shows(&dir, "office", &shot, &writer, |image, [x0, y0, x1, y1]| {
            near_by(image.at((x0 + x1) / 2, (y0 + y1) / 2), PAGE_BLUE, 24)
        })
    });
    assert!(
        page.is_some(),
        "{what}: the middle of the window is not the blue page ({})",
        shot.display()
    );
    stop_cleanly(what, &dir, "office", app);

    // LibreOffice's user profile is in the kept home, with the document
    // in its recent list (as the sandbox names it).
    let registry =
        dir.join(".local/share/wsbox/office/.config/libreoffice/4/user/registrymodifications.xcu");
    let text = std::fs::read_to_string(&registry)
        .unwrap_or_else(|e| panic!("{}: {e}", registry.display()));
    assert!(
        text.contains("HistoryInfo['PickList']")
            && text.contains("file:///run/wsbox/files/letter.fodt"),
        "no recent document in {}",
        registry.display()
    );

    // The document granted again (without it the recent entry would name
    // a file that is not there), and not opened: the Start Center.
    let what = "LibreOffice, second start";
    let start_center = |t: &str| t == "LibreOffice";
    let app = start_until_shown(
        what,
        &dir,
        "office",
        &["--profile", "office", "--file", doc, "--", "libreoffice"],
        &start_center,
    );
    // The thumbnail is about 136x192 pixels of the page's blue; without
    // it, the Start Center's welcome picture has some twenty such pixels.
    let shot = dir.join("office-second.png");
    let thumbnail = poll(SHOW_LIMIT, || {
        screen_shows(
            &dir,
            "office",
            &shot,
            &start_center,
            |image, [x0, y0, x1, y1]| {
                let blue: usize = image
                    .colours(x0, y0, x1, y1)
                    .iter()
                    .filter(|(c, _)| near_by(**c, PAGE_BLUE, 24))
                    .map(|(_, n)| n)
                    .sum();
                blue >= 10_000
            },
        )
    });
    assert!(
        thumbnail.is_some(),
        "{what}: the Start Center shows no recent document ({})",
        shot.display()
    );
    stop_cleanly(what, &dir, "office", app);
}

/// The profile directory profiles.ini (in `tb`, Thunderbird's directory)
/// names as its installation's default.
fn thunderbird_default_profile(tb: &Path) -> Option<PathBuf> {
    let ini = std::fs::read_to_string(tb.join("profiles.ini")).ok()?;
    let mut in_install = false;
    for line in ini.lines().map(str::trim) {
        if line.starts_with('[') {
            in_install = line.starts_with("[Install");
        } else if let Some(path) = line.strip_prefix("Default=").filter(|_| in_install) {
            return Some(tb.join(path));
        }
    }
    None
}

/// Whether a process named `comm` holds a POSIX lock on `file`.
/// /proc/locks names a file by its device and inode, and its device as
/// the file system's superblock has it, which need not be the st_dev of a
/// stat (btrfs subvolumes): the inode and the locker's name are compared.
fn locked_by(file: &Path, comm: &str) -> bool {
    use std::os::unix::fs::MetadataExt;
    let Ok(meta) = std::fs::metadata(file) else {
        return false;
    };
    let inode = format!(":{}", meta.ino());
    std::fs::read_to_string("/proc/locks")
        .unwrap()
        .lines()
        .filter_map(|l| {
            // "1: POSIX  ADVISORY  WRITE PID MAJ:MIN:INODE START END"
            let fields: Vec<&str> = l.split_whitespace().collect();
            (fields.get(1) == Some(&"POSIX") && fields.get(5)?.ends_with(&inode))
                .then(|| fields.get(4)?.parse::<i32>().ok())
                .flatten()
        })
        .any(|pid| testkit::comm(pid).is_some_and(|c| c == comm))
}

/// The names in `dir`, sorted.
fn names_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Thunderbird with `mail` shows its main window (a mail tab's title: a
/// fresh profile has no account, so its account setup is the content),
/// makes its profile in the kept home, and a second start uses that same
/// profile: while its window shows, it holds the profile's lock, and no
/// other profile was made.
#[test]
fn mail_keeps_its_profile_and_starts_again_with_it() {
    let test = "mail_keeps_its_profile_and_starts_again_with_it";
    if testkit::euid() != 0 {
        return skip(test, "not running as root");
    }
    if testkit::find_program("thunderbird").is_none() {
        return skip(test, "thunderbird is not installed");
    }
    let dir = testkit::scratch_in(root_dir(), test, 0o700);
    let tb = dir.join(".local/share/wsbox/mail/.thunderbird");
    let mut first: Option<(PathBuf, Vec<String>)> = None;
    for round in ["first", "second"] {
        let what = format!("Thunderbird, {round} start");
        let app = start_until_shown(
            &what,
            &dir,
            "mail",
            &["--profile", "mail", "--", "thunderbird"],
            &|t| t.ends_with(" - Mozilla Thunderbird"),
        );
        let profile = thunderbird_default_profile(&tb)
            .unwrap_or_else(|| panic!("{what}: no default profile in {}", tb.display()));
        assert!(
            locked_by(&profile.join(".parentlock"), "thunderbird"),
            "{what}: {} is not locked",
            profile.display()
        );
        stop_cleanly(&what, &dir, "mail", app);
        let names = names_in(&tb);
        match &first {
            None => first = Some((profile, names)),
            Some(kept) => assert_eq!(kept, &(profile, names), "{what}"),
        }
    }
}

/// Runs `cmd` with `dir` as HOME, XDG_RUNTIME_DIR and working directory,
/// and nothing else of the test's environment.
fn in_dir(cmd: &mut Command, dir: &Path) {
    cmd.env_clear()
        .env("PATH", "/usr/local/bin:/usr/bin:/bin")
        .env("HOME", dir)
        .env("XDG_RUNTIME_DIR", dir)
        .env("LANG", "C.UTF-8")
        .current_dir(dir)
        .stdin(Stdio::null());
}

/// `text` up to its last newline: the last line may be half written.
fn whole_lines(mut text: String) -> String {
    text.truncate(text.rfind('\n').map_or(0, |end| end + 1));
    text
}

/// The lines of `stderr` that look like errors or warnings and that no
/// reason in [`KNOWN`] explains.
fn unexplained(stderr: &str) -> Vec<&str> {
    stderr
        .lines()
        .filter(|l| {
            [
                "WARNING", "CRITICAL", "rror", "warn:", "failed", "cannot", "No such", "qt.",
            ]
            .iter()
            .any(|w| l.contains(w))
        })
        .filter(|l| !KNOWN.iter().any(|(known, _)| l.contains(known)))
        .collect()
}

/// A one-page PDF.
const PDF: &[u8] = b"%PDF-1.1\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n\
2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n\
3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 300 200]>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n";

/// A 64x48 PNG of one colour, (200, 30, 30).
fn red_png() -> Vec<u8> {
    let mut bytes = Vec::new();
    {
        let mut encoder = png::Encoder::new(&mut bytes, 64, 48);
        encoder.set_color(png::ColorType::Rgb);
        encoder.set_depth(png::BitDepth::Eight);
        let mut writer = encoder.write_header().unwrap();
        writer
            .write_image_data(&[200, 30, 30].repeat(64 * 48))
            .unwrap();
    }
    bytes
}
