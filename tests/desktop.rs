//! End-to-end tests of `wsbox desktop`: launchers written for real
//! installed programs pass `desktop-file-validate`, and `gio launch` of one
//! with a file starts the program confined with that file granted.
//!
//! Each test uses a HOME and XDG_DATA_HOME of its own. A test that cannot
//! run here prints `SKIPPED: <test>: <reason>` and passes, unless CI=true or
//! WSBOX_MUST_WORK=1, where it fails instead.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use testkit::{output, poll, skip, Out, Running};

const RUN_LIMIT: Duration = Duration::from_secs(60);

fn root_dir() -> &'static Path {
    testkit::root_dir("desktop", false)
}

struct Home {
    dir: PathBuf,
}

impl Home {
    fn new(test: &str) -> Self {
        Self {
            dir: testkit::scratch_in(root_dir(), test, 0o700),
        }
    }

    fn apps(&self) -> PathBuf {
        self.dir.join("data/applications")
    }

    fn env(&self, cmd: &mut Command) {
        cmd.env_clear()
            .env("PATH", "/usr/local/bin:/usr/bin:/bin")
            .env("HOME", &self.dir)
            .env("XDG_DATA_HOME", self.dir.join("data"))
            .env("XDG_RUNTIME_DIR", &self.dir)
            .env("LANG", "C.UTF-8")
            .current_dir(&self.dir)
            .stdin(Stdio::null());
    }

    fn wsbox(&self, args: &[&str]) -> Out {
        let mut cmd = Command::new(testkit::wsbox_exe());
        cmd.args(args);
        self.env(&mut cmd);
        output(cmd, RUN_LIMIT)
    }
}

fn needs(test: &str, programs: &[&str]) -> bool {
    for program in programs {
        if testkit::find_program(program).is_none() {
            skip(test, &format!("{program} is not installed"));
            return false;
        }
    }
    if testkit::euid() != 0 {
        skip(test, "not running as root");
        return false;
    }
    true
}

#[test]
fn launchers_are_valid_listed_and_removed() {
    let test = "launchers_are_valid_listed_and_removed";
    if !needs(
        test,
        &["evince", "gnome-text-editor", "desktop-file-validate"],
    ) {
        return;
    }
    let home = Home::new(test);
    let out = home.wsbox(&["desktop", "install", "default", "evince"]);
    assert_eq!(out.code(), Some(0), "{out}");
    let file = home.apps().join("wsbox-default-evince.desktop");
    assert_eq!(out.stdout.trim(), file.to_str().unwrap(), "{out}");
    let text = std::fs::read_to_string(&file).unwrap();
    let exec = format!(
        "Exec={} run --profile default -- evince %U\n",
        testkit::wsbox_exe().display()
    );
    assert!(text.contains(&exec), "{text}");
    assert!(
        text.contains("Name=Document Viewer (sandboxed)\n"),
        "{text}"
    );
    assert!(
        text.contains("\nMimeType=") && text.contains("application/pdf;"),
        "{text}"
    );
    assert!(text.contains("\nIcon=org.gnome.Evince\n"), "{text}");
    let valid = output(
        {
            let mut cmd = Command::new("desktop-file-validate");
            cmd.arg(&file);
            cmd
        },
        RUN_LIMIT,
    );
    assert_eq!(valid.code(), Some(0), "{valid}");
    assert!(!valid.stdout.contains("error"), "{valid}");

    // --replace: the program's own desktop file name, which shadows it.
    let out = home.wsbox(&[
        "desktop",
        "install",
        "default",
        "gnome-text-editor",
        "--replace",
    ]);
    assert_eq!(out.code(), Some(0), "{out}");
    assert!(
        home.apps().join("org.gnome.TextEditor.desktop").exists(),
        "{out}"
    );

    let out = home.wsbox(&["desktop", "list", "--json"]);
    let list: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let programs: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["program"].as_str().unwrap())
        .collect();
    assert_eq!(programs, ["evince", "gnome-text-editor"], "{out}");

    // A file of the user's own under that name is left alone.
    std::fs::write(
        home.apps().join("mine.desktop"),
        "[Desktop Entry]\nName=x\n",
    )
    .unwrap();
    let out = home.wsbox(&["desktop", "remove", "default", "evince"]);
    assert_eq!(out.code(), Some(0), "{out}");
    assert!(!file.exists());
    let out = home.wsbox(&["desktop", "remove", "default"]);
    assert_eq!(out.code(), Some(0), "{out}");
    assert!(home.apps().join("mine.desktop").exists());
    assert!(!home.apps().join("org.gnome.TextEditor.desktop").exists());

    // Errors, each one line.
    for (args, message) in [
        (
            &["desktop", "remove", "default"][..],
            "wsbox: no launcher of wsbox's for profile default (see wsbox desktop list)",
        ),
        (
            &["desktop", "install", "default", "no-such-program"][..],
            "wsbox: no installed desktop file runs no-such-program",
        ),
        (
            &["desktop", "install", "no-such-profile", "evince"][..],
            "wsbox: unknown profile \"no-such-profile\"",
        ),
        (
            &["desktop", "install", "default"][..],
            "wsbox: the profile default names no program: wsbox desktop install default PROGRAM",
        ),
    ] {
        let out = home.wsbox(args);
        assert_eq!(out.code(), Some(125), "{out}");
        assert!(out.stderr.starts_with(message), "{out}");
        assert_eq!(out.stderr.lines().count(), 1, "{out}");
    }
}

#[test]
fn gio_launch_with_a_file_starts_it_confined_with_the_file_granted() {
    let test = "gio_launch_with_a_file_starts_it_confined_with_the_file_granted";
    if !needs(test, &["evince", "gio", "dbus-daemon"]) {
        return;
    }
    let home = Home::new(test);
    let out = home.wsbox(&["desktop", "install", "default", "evince"]);
    assert_eq!(out.code(), Some(0), "{out}");
    let doc = home.dir.join("report.pdf");
    std::fs::write(&doc, PDF).unwrap();
    let mut gio = Command::new("gio");
    gio.arg("launch")
        .arg(home.apps().join("wsbox-default-evince.desktop"))
        .arg(&doc);
    home.env(&mut gio);
    let launched = Running::start(gio);
    // The sandbox runs (headless: no Wayland session here), the file
    // granted read-only under its own name.
    let granted = poll(Duration::from_secs(30), || {
        let ps = home.wsbox(&["ps", "--json"]);
        let list: serde_json::Value = serde_json::from_str(&ps.stdout).ok()?;
        let name = list.as_array()?.iter().find(|e| e["program"] == "evince")?["name"]
            .as_str()?
            .to_owned();
        let files = home.wsbox(&["files", &name]);
        files
            .stdout
            .lines()
            .any(|l| l.ends_with(doc.to_str().unwrap()) && l.starts_with("read-only"))
            .then_some(name)
    });
    let Some(name) = granted else {
        panic!(
            "no sandbox with the file granted\n{}\n{}",
            launched.stdout_so_far(),
            launched.stderr_so_far()
        );
    };
    let stop = home.wsbox(&["stop", "--force", &name]);
    assert_eq!(stop.code(), Some(0), "{stop}");
    launched.finish(RUN_LIMIT);
}

/// A one-page PDF.
const PDF: &[u8] = b"%PDF-1.1\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n\
2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n\
3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 300 200]>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n";
