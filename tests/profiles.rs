//! End-to-end tests of the built-in profiles with the real Debian programs
//! they are for, headless: each program starts with `--profile NAME`,
//! shows its window with the file it was given (title and pixels), keeps
//! its home where the profile says, and prints nothing on stderr until
//! then that wsbox causes, beyond the known list below (each with its
//! reason).
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

/// What the programs print that is not wsbox's doing, or that wsbox does
/// not provide yet, with the reason.
const KNOWN: &[(&str, &str)] = &[
    ("org.a11y.Bus", "no accessibility bus inside yet (the screen reader issue)"),
    (
        "Error retrieving accessibility bus address",
        "the same, from AT-SPI",
    ),
    (
        "org.freedesktop.portal.Inhibit",
        "wsbox's portal has no Inhibit interface (apps go on without)",
    ),
    (
        "org.freedesktop.portal.OpenURI",
        "wsbox's portal has no OpenURI yet: Firefox asks which schemes it handles, and opens links itself",
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
        "text input interface not implemented by compositor",
        "foot: no input method yet (the input method issue)",
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
