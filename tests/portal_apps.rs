//! End-to-end tests of the portal (issue 17) with real, unmodified Debian
//! programs in headless mode: gnome-text-editor (GTK 4), evince (GTK 3),
//! Firefox and KeePassXC (Qt 5, through qt5-xdgdesktopportal-platformtheme)
//! ask wsbox's portal for files by themselves; `wsbox requests` shows what
//! they asked for, `wsbox choose` answers as the user would, and the test
//! checks what the user would see: the window's title, the screen, and
//! the host file's contents. gedit is the exception that proves the rule:
//! it never asks the portal.
//!
//! Each program runs with the sandbox's empty home (a throwaway one),
//! Firefox with a throwaway profile too. Run as root, as CI does. Needs
//! `cargo build --workspace --bins` and the programs of
//! `./scripts/install-deps.sh test`. A test that cannot run here prints
//! `SKIPPED: <test>: <reason>` and passes, unless CI=true or
//! WSBOX_MUST_WORK=1, where it fails instead.
//!
//! The tests that save to a new host path (Save As, Firefox's Save Page
//! As) need the portal's save grants.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "portal/harness.rs"]
mod harness;

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use serde_json::Value;
use testkit::sandbox::Sandbox;
use testkit::{poll, status_field};

use harness::*;

/// `path` with `contents` and `mode`, as root.
fn write_file(path: &Path, contents: &[u8], mode: u32) {
    fs::write(path, contents).unwrap();
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
}

/// Waits until the sandbox has exactly one window, titled with `name`;
/// fails the test with the windows, the screen and what wsbox and the app
/// printed.
fn wait_for_title(sandbox: &Sandbox, dir: &Path, name: &str) {
    let mut last = None;
    let found = poll(SEE_LIMIT, || {
        let windows = sandbox.windows()?;
        let found = windows.len() == 1 && windows[0].title.contains(name);
        last = Some(windows);
        found.then_some(())
    });
    assert!(
        found.is_some(),
        "no window titled with {name} alone; last windows: {last:?} (the screen: {})\n{}",
        shot_for_failure(sandbox, dir),
        sandbox.describe()
    );
}

/// `wsbox choose NAME ARGS…`, which must succeed: what it printed.
fn choose(sandbox: &Sandbox, args: &[&str]) -> String {
    let mut all = vec!["choose", sandbox.name.as_str()];
    all.extend_from_slice(args);
    sandbox.control(&all).stdout
}

/// Stops the sandbox as a user would and checks that wsbox said nothing
/// it was not expected to.
fn stop(sandbox: Sandbox) {
    sandbox.control(&["stop", &sandbox.name, "--force"]);
    let out = sandbox.finish(RUN_LIMIT);
    assert_quiet(&out, &[]);
}

/// A screenshot for a failure's message: where it is.
fn shot_for_failure(sandbox: &Sandbox, dir: &Path) -> String {
    let path = dir.join("failed.png");
    let out = sandbox.wsbox(&["screenshot", &sandbox.name, path.to_str().unwrap()]);
    if out.status.success() {
        path.display().to_string()
    } else {
        format!("no screenshot: {}", out.stderr.trim())
    }
}

/// Pixels of text on the first line of the editor's page: light ones on
/// a dark page, dark ones on a light page.
fn first_line_text(image: &testkit::Image, dark_page: bool) -> usize {
    image
        .colours(0, 52, 400, 86)
        .into_iter()
        .filter(|([r, g, b], _)| {
            let sum = u32::from(*r) + u32::from(*g) + u32::from(*b);
            if dark_page {
                sum > 450
            } else {
                sum < 300
            }
        })
        .map(|(_, n)| n)
        .sum()
}

/// Waits for the request of `sandbox` for which `want` holds; fails the
/// test with the screen and what wsbox and the app printed.
fn asked(sandbox: &Sandbox, dir: &Path, what: &str, want: impl Fn(&Value) -> bool) -> Value {
    find_request(&sandbox.name, want).unwrap_or_else(|e| {
        panic!(
            "no {what}: {e} (the screen: {})\n{}",
            shot_for_failure(sandbox, dir),
            sandbox.describe()
        )
    })
}

/// The mode a new file gets from this process's umask.
fn new_file_mode() -> u32 {
    let umask = status_field(std::process::id() as i32, "Umask:").unwrap();
    0o666 & !u32::from_str_radix(&umask, 8).unwrap()
}

// ---------------------------------------------------------------------------
// GTK 4: gnome-text-editor
// ---------------------------------------------------------------------------

/// gnome-text-editor's Ctrl+O asks the portal (kind open, its title and
/// filters); the host file chosen opens (its name in the title) as a
/// document, and an edit saved with Ctrl+S reaches the host file. A second
/// Ctrl+O cancelled grants nothing more, closes the request, and the
/// editor carries on (a third Ctrl+O asks again). It follows the policy's
/// dark colour scheme, which it reads from the Settings portal.
#[test]
fn gnome_text_editor_opens_a_chosen_file_and_saves_it_back() {
    let test = "gnome_text_editor_opens_a_chosen_file_and_saves_it_back";
    if !ready(test, &["gnome-text-editor"]) {
        return;
    }
    let dir = scratch(test);
    let doc = dir.join("notes.txt");
    write_file(&doc, b"first line\n", 0o640);
    let policy = dir.join("dark.toml");
    fs::write(
        &policy,
        "[portal.settings]\ncolor_scheme = \"prefer-dark\"\n",
    )
    .unwrap();
    let mut sandbox = start(
        test,
        &[
            "--headless",
            "--policy",
            policy.to_str().unwrap(),
            "--",
            "gnome-text-editor",
        ],
    );
    sandbox.wait_for_window("the editor's window", START_LIMIT, |w| {
        w.app_id == "org.gnome.TextEditor" && w.focused
    });
    let shot = screenshot(&sandbox.name, &dir, "dark.png");
    let light = brightness(&shot, 100, 200, 1180, 700);
    assert!(light < 80, "the editor is not dark (brightness {light})");
    let app = app_pid(&sandbox.name, "gnome-text-edit");
    assert_eq!(
        names_in(&inside(app, "/run/wsbox/docs")),
        Vec::<String>::new()
    );

    sandbox.input(&["key", "ctrl+o"]);
    let request = asked(&sandbox, &dir, "the editor's Open", |r| r["kind"] == "open");
    assert_eq!(request["title"], "Open File", "{request}");
    assert_eq!(request["multiple"], true, "{request}");
    assert!(
        has_filter(&request, "Text Files", "text/plain"),
        "{request}"
    );
    assert!(has_filter(&request, "All Files", "*"), "{request}");
    let id = id_of(&request);
    let listed = sandbox.control(&["requests", &sandbox.name]).stdout;
    assert!(
        listed.starts_with(&format!("{id}\topen\t\"Open File\"\tmultiple\t")),
        "{listed}"
    );
    let chosen = choose(&sandbox, &[&id, doc.to_str().unwrap()]);
    assert_eq!(chosen.trim(), "/run/wsbox/docs/1/notes.txt");
    wait_for_title(&sandbox, &dir, "notes.txt (/run/wsbox/docs/1)");
    assert_eq!(requests(&sandbox.name), Some(vec![]));
    // The title comes before the text is loaded: typing waits for the
    // text, light on the dark page, on the first line.
    let loaded = poll(SEE_LIMIT, || {
        let shot = screenshot(&sandbox.name, &dir, "loaded.png");
        (first_line_text(&shot, true) > 40).then_some(())
    });
    assert!(loaded.is_some(), "the file's text never showed");
    sandbox.input(&["type", "typed "]);
    sandbox.input(&["key", "ctrl+s"]);
    let saved = poll(SAVE_LIMIT, || {
        fs::read_to_string(&doc)
            .ok()
            .filter(|t| t == "typed first line\n")
    });
    assert!(
        saved.is_some(),
        "the host file holds {:?} (the screen: {})\n{}",
        fs::read_to_string(&doc),
        shot_for_failure(&sandbox, &dir),
        sandbox.describe()
    );
    let meta = fs::metadata(&doc).unwrap();
    assert_eq!(
        (meta.uid(), meta.mode() & 0o777),
        (0, 0o640),
        "owner and mode"
    );

    // Cancelled: nothing more granted, the request gone, the editor on.
    sandbox.input(&["key", "ctrl+o"]);
    let request = asked(&sandbox, &dir, "a second Open", |r| r["kind"] == "open");
    choose(&sandbox, &[&id_of(&request), "--cancel"]);
    wait_for_no_request(&sandbox.name);
    assert_eq!(names_in(&inside(app, "/run/wsbox/docs")), ["1"]);
    assert_eq!(names_in(&inside(app, "/run/wsbox/docs/1")), ["notes.txt"]);
    wait_for_title(&sandbox, &dir, "notes.txt (/run/wsbox/docs/1)");
    sandbox.input(&["key", "ctrl+o"]);
    let request = asked(&sandbox, &dir, "a third Open", |r| r["kind"] == "open");
    choose(&sandbox, &[&id_of(&request), "--cancel"]);
    wait_for_no_request(&sandbox.name);
    assert_eq!(fs::read_to_string(&doc).unwrap(), "typed first line\n");
    assert_eq!(
        names_in(&dir),
        ["dark.png", "dark.toml", "loaded.png", "notes.txt"]
    );
    stop(sandbox);
}

/// Save As (Ctrl+Shift+S) of a new document asks the portal (kind save,
/// with a name to suggest); the new host path chosen gets the typed text,
/// as a new file of the user's umask, and the editor's title names it.
/// Without a colour scheme in the policy the editor is light.
#[test]
fn gnome_text_editor_saves_as_a_new_host_file() {
    let test = "gnome_text_editor_saves_as_a_new_host_file";
    if !ready(test, &["gnome-text-editor"]) {
        return;
    }
    let dir = scratch(test);
    let mut sandbox = start(test, &["--headless", "--", "gnome-text-editor"]);
    sandbox.wait_for_window("the editor's window", START_LIMIT, |w| {
        w.app_id == "org.gnome.TextEditor" && w.focused
    });
    let shot = screenshot(&sandbox.name, &dir, "light.png");
    let light = brightness(&shot, 100, 200, 1180, 700);
    assert!(light > 200, "the editor is not light (brightness {light})");
    sandbox.input(&["type", "brand new text"]);
    let typed = poll(SEE_LIMIT, || {
        let shot = screenshot(&sandbox.name, &dir, "typed.png");
        (first_line_text(&shot, false) > 60).then_some(())
    });
    assert!(typed.is_some(), "the typed text never showed");
    sandbox.input(&["key", "ctrl+shift+s"]);
    let request = asked(&sandbox, &dir, "the editor's Save As", |r| {
        r["kind"] == "save"
    });
    assert_eq!(request["title"], "Save As", "{request}");
    assert!(
        request["current_name"]
            .as_str()
            .is_some_and(|n| !n.is_empty()),
        "no name suggested: {request}"
    );
    let target = dir.join("new.txt");
    let out = sandbox.wsbox(&[
        "choose",
        &sandbox.name,
        &id_of(&request),
        target.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "the save was not granted\n{out}\n{}",
        sandbox.describe()
    );
    let saved = poll(SAVE_LIMIT, || {
        fs::read_to_string(&target)
            .ok()
            .filter(|t| t.trim_end() == "brand new text")
    });
    assert!(
        saved.is_some(),
        "the new host file holds {:?}\n{}",
        fs::read_to_string(&target),
        sandbox.describe()
    );
    let meta = fs::metadata(&target).unwrap();
    assert_eq!(
        (meta.uid(), meta.mode() & 0o777),
        (0, new_file_mode()),
        "owner and mode"
    );
    wait_for_title(&sandbox, &dir, "new.txt");
    assert_eq!(requests(&sandbox.name), Some(vec![]));
    stop(sandbox);
}

// ---------------------------------------------------------------------------
// GTK 3: evince, and gedit that never asks
// ---------------------------------------------------------------------------

/// A one-page PDF showing `text` in red, 24 pt.
fn write_pdf(path: &Path, text: &str) {
    write_pdf_pages(path, &[text]);
}

fn write_pdf_pages(path: &Path, texts: &[&str]) {
    write_file(path, &testkit::pdf::pages(texts), 0o644);
}

/// Pixels of `image` that are clearly red.
fn red_pixels(image: &testkit::Image) -> usize {
    image
        .colours(0, 0, image.width, image.height)
        .into_iter()
        .filter(|([r, g, b], _)| *r > 180 && *g < 90 && *b < 90)
        .map(|(_, n)| n)
        .sum()
}

/// evince's Ctrl+O asks the portal (GTK 3's file chooser, kind open, its
/// document filters); the PDF chosen on the host opens: its name in the
/// title, its red text on the screen.
#[test]
fn evince_opens_a_chosen_pdf() {
    let test = "evince_opens_a_chosen_pdf";
    if !ready(test, &["evince"]) {
        return;
    }
    let dir = scratch(test);
    let pdf = dir.join("report.pdf");
    write_pdf(&pdf, "Hello from wsbox");
    let mut sandbox = start(test, &["--headless", "--", "evince"]);
    sandbox.wait_for_window("evince's window", START_LIMIT, |w| {
        w.app_id == "evince" && w.focused
    });
    let before = red_pixels(&screenshot(&sandbox.name, &dir, "before.png"));
    sandbox.input(&["key", "ctrl+o"]);
    let request = asked(&sandbox, &dir, "evince's Open", |r| r["kind"] == "open");
    assert_eq!(request["title"], "Open Document", "{request}");
    assert!(
        has_filter(&request, "PDF Documents", "application/pdf"),
        "{request}"
    );
    assert!(has_filter(&request, "All Files", "*"), "{request}");
    let chosen = choose(&sandbox, &[&id_of(&request), pdf.to_str().unwrap()]);
    assert_eq!(chosen.trim(), "/run/wsbox/docs/1/report.pdf");
    wait_for_title(&sandbox, &dir, "report.pdf");
    let shown = poll(SEE_LIMIT, || {
        let n = red_pixels(&screenshot(&sandbox.name, &dir, "after.png"));
        (n > 200).then_some(n)
    });
    assert!(
        shown.is_some(),
        "the PDF's red text never showed ({before} red pixels before)"
    );
    assert_eq!(requests(&sandbox.name), Some(vec![]));
    stop(sandbox);
}

/// evince's Ctrl+P goes through the portal's Print (GTK 3's print dialog
/// where `/.flatpak-info` is): with `portal.print_to`, the document GTK
/// renders is written there, with the pages of the PDF, and `wsbox prints`
/// lists it; the app never reaches CUPS.
#[test]
fn evince_prints_its_pdf_into_print_to() {
    let test = "evince_prints_its_pdf_into_print_to";
    if !ready(test, &["evince"]) {
        return;
    }
    let dir = scratch(test);
    let pdf = dir.join("two.pdf");
    write_pdf_pages(&pdf, &["Page one", "Page two"]);
    assert_eq!(testkit::pdf::count_pages(&fs::read(&pdf).unwrap()), 2);
    let out_dir = dir.join("printed");
    let policy = dir.join("print.toml");
    write_file(
        &policy,
        format!("[portal]\nprint_to = \"{}/<name>\"\n", out_dir.display()).as_bytes(),
        0o644,
    );
    let mut sandbox = start(
        test,
        &[
            "--headless",
            "--policy",
            policy.to_str().unwrap(),
            "--",
            "evince",
            pdf.to_str().unwrap(),
        ],
    );
    wait_for_title(&sandbox, &dir, "two.pdf");
    sandbox.wait_for_window("evince's window, focused", START_LIMIT, |w| {
        w.app_id == "evince" && w.focused
    });
    // On a busy machine a key pressed while evince still lays out its
    // document may do nothing: pressed again until GTK asks the portal (a
    // print already under way ignores it).
    let printed = sandbox
        .press_until("ctrl+p", GTK_PRINTS, START_LIMIT, || {
            let out = sandbox.control(&["prints", &sandbox.name, "--json"]);
            let list: Vec<Value> = serde_json::from_str(&out.stdout).ok()?;
            list.into_iter().next()
        })
        .unwrap_or_else(|| {
            panic!(
                "evince printed nothing: {}",
                shot_for_failure(&sandbox, &dir)
            )
        });
    let file = Path::new(printed["file"].as_str().unwrap()).to_owned();
    assert!(file.starts_with(out_dir.join(&sandbox.name)), "{printed}");
    let bytes = fs::read(&file).unwrap();
    assert!(bytes.starts_with(b"%PDF-"), "{printed}");
    assert_eq!(testkit::pdf::count_pages(&bytes), 2, "{printed}");
    assert_eq!(printed["bytes"], bytes.len() as u64, "{printed}");
    let mode = fs::metadata(&file).unwrap().mode() & 0o777;
    assert_eq!(mode, 0o600, "{printed}");
    stop(sandbox);
}

/// Without `portal.print_to` the app's print dialog is answered "other":
/// nothing is written, the app goes on.
#[test]
fn without_print_to_nothing_is_printed() {
    let test = "without_print_to_nothing_is_printed";
    if !ready(test, &["evince"]) {
        return;
    }
    let dir = scratch(test);
    let pdf = dir.join("one.pdf");
    write_pdf(&pdf, "Not printed");
    let mut sandbox = start(test, &["--headless", "--", "evince", pdf.to_str().unwrap()]);
    wait_for_title(&sandbox, &dir, "one.pdf");
    sandbox.input(&["key", "ctrl+p"]);
    poll(SEE_LIMIT, || {
        sandbox
            .stderr_so_far()
            .contains("the app asked to print: the policy sets no portal.print_to")
            .then_some(())
    })
    .unwrap_or_else(|| panic!("no line about printing: {}", sandbox.stderr_so_far()));
    let out = sandbox.control(&["prints", &sandbox.name, "--json"]);
    assert_eq!(out.stdout.trim(), "[]", "{out}");
    assert!(
        sandbox.try_wait().is_none(),
        "evince ended: {}",
        sandbox.describe()
    );
    sandbox.control(&["stop", &sandbox.name, "--force"]);
    let _ = sandbox.finish(RUN_LIMIT);
}

/// gedit 44 never uses the portal: its Open dialog is GTK's own, hard-coded
/// (a second window inside, which sees only the sandbox's files), so the
/// issue's GTK 3 check is evince's. Ctrl+O shows that dialog and makes no
/// request, also while the dialog stays open a little (that wait is what
/// is checked).
#[test]
fn gedit_shows_its_own_dialog_and_never_asks_the_portal() {
    let test = "gedit_shows_its_own_dialog_and_never_asks_the_portal";
    if !ready(test, &["gedit"]) {
        return;
    }
    let mut sandbox = start(test, &["--headless", "--", "gedit"]);
    sandbox.wait_for_window("gedit's window", START_LIMIT, |w| {
        w.app_id == "gedit" && w.focused
    });
    sandbox.input(&["key", "ctrl+o"]);
    sandbox.wait_for_window("gedit's own Open dialog", SEE_LIMIT, |w| {
        w.title == "Open Files" && w.focused
    });
    let asked = poll(std::time::Duration::from_secs(3), || {
        requests(&sandbox.name).filter(|r| !r.is_empty())
    });
    assert_eq!(asked, None, "gedit asked the portal");
    sandbox.input(&["key", "Escape"]);
    sandbox.wait_for("the dialog to close", SEE_LIMIT, |windows| {
        (windows.len() == 1).then_some(())
    });
    stop(sandbox);
}

// ---------------------------------------------------------------------------
// Firefox
// ---------------------------------------------------------------------------

/// Firefox (a throwaway profile, no first-start tabs, "HTML only" as the
/// last way of saving a page) shows a local page; Ctrl+S asks the portal
/// (kind save, the page's name suggested); the new host path chosen gets
/// the page.
#[test]
fn firefox_saves_a_page_as_a_new_host_file() {
    let test = "firefox_saves_a_page_as_a_new_host_file";
    if !ready(test, &["firefox-esr", "sh"]) {
        return;
    }
    let dir = scratch(test);
    let page = dir.join("page.html");
    let html = "<!doctype html><html><head><title>wsbox page</title></head>\
                <body><h1>Hello from wsbox</h1></body></html>\n";
    write_file(&page, html.as_bytes(), 0o644);
    let prefs = [
        ("browser.download.save_converter_index", "1"),
        ("datareporting.policy.firstRunURL", "\"\""),
        ("browser.aboutwelcome.enabled", "false"),
        ("browser.startup.homepage_override.mstone", "\"ignore\""),
    ];
    let prefs: String = prefs
        .iter()
        .map(|(k, v)| format!("echo 'user_pref(\"{k}\", {v});' >> /tmp/p/user.js; "))
        .collect();
    let script = format!(
        "mkdir -p /tmp/p && {prefs}exec firefox-esr --no-remote --profile /tmp/p \
         file:///run/wsbox/files/page.html"
    );
    let page_arg = page.to_str().unwrap();
    let mut sandbox = start(
        test,
        &["--headless", "--file", page_arg, "--", "sh", "-c", &script],
    );
    sandbox.wait_for_window("the page in Firefox", START_LIMIT, |w| {
        w.title.starts_with("wsbox page") && w.focused
    });
    sandbox.input(&["key", "ctrl+s"]);
    let request = asked(&sandbox, &dir, "Firefox's Save Page As", |r| {
        r["kind"] == "save"
    });
    assert_eq!(request["current_name"], "wsbox page.html", "{request}");
    assert!(
        request["title"].as_str().unwrap().starts_with("Save As"),
        "{request}"
    );
    assert_eq!(
        request["current_filter"]["name"], "Web Page, HTML only",
        "{request}"
    );
    let target = dir.join("saved.html");
    let out = sandbox.wsbox(&[
        "choose",
        &sandbox.name,
        &id_of(&request),
        target.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "the save was not granted\n{out}\n{}",
        sandbox.describe()
    );
    let saved = poll(SAVE_LIMIT, || {
        fs::read_to_string(&target)
            .ok()
            .filter(|t| t.contains("<h1>Hello from wsbox</h1>"))
    });
    assert!(
        saved.is_some(),
        "the new host file holds {:?}\n{}",
        fs::read_to_string(&target),
        sandbox.describe()
    );
    assert_eq!(requests(&sandbox.name), Some(vec![]));
    stop(sandbox);
}

// ---------------------------------------------------------------------------
// Qt 5: KeePassXC
// ---------------------------------------------------------------------------

/// Qt's portal plugin: without it Qt shows its own dialog.
const QT_PORTAL_PLUGIN: &str =
    "/usr/lib/x86_64-linux-gnu/qt5/plugins/platformthemes/libqxdgdesktopportal.so";

/// KeePassXC's Ctrl+O asks the portal (Qt's title and filters, modal);
/// cancelled, KeePassXC carries on; asked again and answered with a
/// database on the host, it shows that database locked, waiting for its
/// password.
#[test]
fn keepassxc_asks_the_portal_for_a_database() {
    let test = "keepassxc_asks_the_portal_for_a_database";
    if !ready(test, &["keepassxc", "keepassxc-cli"]) {
        return;
    }
    if !Path::new(QT_PORTAL_PLUGIN).exists() {
        testkit::skip(test, "qt5-xdgdesktopportal-platformtheme not installed");
        return;
    }
    let dir = scratch(test);
    let db = dir.join("vault.kdbx");
    let mut create = std::process::Command::new("keepassxc-cli");
    create.args(["db-create", "--set-password"]).arg(&db);
    let mut running = testkit::Running::start_with_stdin(create);
    use std::io::Write;
    running.stdin().write_all(b"pw-4711\npw-4711\n").unwrap();
    let out = running.finish(COMMAND_LIMIT);
    assert!(out.status.success(), "{out}");
    let mut sandbox = start(test, &["--headless", "--", "keepassxc"]);
    sandbox.wait_for_window("KeePassXC's window", START_LIMIT, |w| {
        w.title.contains("KeePassXC") && w.focused
    });
    sandbox.input(&["key", "ctrl+o"]);
    let request = asked(&sandbox, &dir, "KeePassXC's Open", |r| r["kind"] == "open");
    assert_eq!(request["title"], "Open database", "{request}");
    assert_eq!(request["modal"], true, "{request}");
    assert!(
        has_filter(&request, "KeePass 2 Database", "*.kdbx"),
        "{request}"
    );
    assert!(has_filter(&request, "All files", "*"), "{request}");
    choose(&sandbox, &[&id_of(&request), "--cancel"]);
    wait_for_no_request(&sandbox.name);
    assert!(sandbox.try_wait().is_none(), "{}", sandbox.describe());
    wait_for_title(&sandbox, &dir, "KeePassXC");

    sandbox.input(&["key", "ctrl+o"]);
    let request = asked(&sandbox, &dir, "a second Open", |r| r["kind"] == "open");
    let chosen = choose(&sandbox, &[&id_of(&request), db.to_str().unwrap()]);
    assert_eq!(chosen.trim(), "/run/wsbox/docs/1/vault.kdbx");
    wait_for_title(&sandbox, &dir, "vault.kdbx [Locked]");
    stop(sandbox);
}

/// What GTK prints once its print operation asks the portal.
const GTK_PRINTS: &str = "GtkPrintOperation::create-custom-widget not supported with portal";
