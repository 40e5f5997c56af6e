//! End-to-end tests of input methods headless: `wsbox input NAME preedit`
//! and `commit` reach a real GTK 4 app (gnome-text-editor) through
//! `zwp_text_input_v3`, with characters no keymap types, and the app saves
//! them; a window that enabled no text input is refused with a clear
//! error.
//!
//! A test that cannot run prints `SKIPPED: <test>: <reason>` and passes,
//! unless CI=true or WSBOX_MUST_WORK=1, where it fails instead.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

use testkit::sandbox::{Maker, Sandbox};
use testkit::{poll, wsbox_command};

const LIMIT: Duration = Duration::from_secs(60);

fn root_dir() -> &'static Path {
    testkit::root_dir("ime", true)
}

fn maker() -> Maker {
    Box::new(|| wsbox_command(&root_dir().join("run"), &[]))
}

fn ready(test: &str, programs: &[&str]) -> bool {
    testkit::ready_as_root(test, programs, || {
        wsbox_command(
            &root_dir().join("run"),
            &["run", "--display", "none", "--", "true"],
        )
    })
}

#[test]
fn a_gtk4_editor_takes_composed_text_and_saves_it() {
    let test = "a_gtk4_editor_takes_composed_text_and_saves_it";
    if !ready(test, &["gnome-text-editor"]) {
        return;
    }
    let dir = testkit::scratch_in(root_dir(), test, 0o755);
    let note = dir.join("note.txt");
    fs::write(&note, "").unwrap();
    fs::set_permissions(&note, fs::Permissions::from_mode(0o666)).unwrap();
    let name = testkit::unique_name("ime-", test);
    let note_arg = note.to_str().unwrap();
    let mut sandbox = Sandbox::start(
        maker(),
        &name,
        &[
            "--headless",
            "--file-rw",
            note_arg,
            "--",
            "gnome-text-editor",
            note_arg,
        ],
    );
    sandbox.wait_for_window("the editor with note.txt", LIMIT, |w| {
        w.title.contains("note.txt") && w.focused
    });
    // GTK enables its text input once the text view has the focus; the
    // composition then shows, and the commit replaces it.
    poll(LIMIT, || {
        let out = sandbox.wsbox(&["input", &name, "preedit", "にほんご"]);
        out.status.success().then_some(())
    })
    .unwrap_or_else(|| {
        panic!(
            "the editor never enabled a text input: {}",
            sandbox.describe()
        )
    });
    sandbox.input(&["commit", "日本語"]);
    sandbox.input(&["key", "ctrl+s"]);
    let saved = poll(LIMIT, || {
        let text = fs::read_to_string(&note).ok()?;
        (!text.is_empty()).then_some(text)
    })
    .unwrap_or_else(|| panic!("nothing was saved: {}", sandbox.describe()));
    // Once: the composition is replaced by the commit, not kept beside it.
    assert_eq!(saved.trim_end(), "日本語", "{saved:?}");
    sandbox.control(&["stop", "--force", &name]);
    sandbox.finish(LIMIT);
}

#[test]
fn a_window_without_text_input_is_refused() {
    let test = "a_window_without_text_input_is_refused";
    if !ready(test, &["weston-simple-shm"]) {
        return;
    }
    let name = testkit::unique_name("ime-", test);
    let mut sandbox = Sandbox::start(maker(), &name, &["--headless", "--", "weston-simple-shm"]);
    sandbox.wait_for_window("weston-simple-shm's window", LIMIT, |w| w.focused);
    for action in ["preedit", "commit"] {
        let out = sandbox.wsbox(&["input", &name, action, "日本語"]);
        assert_eq!(out.code(), Some(125), "{out:?}");
        assert_eq!(
            out.stderr.trim(),
            "wsbox: the focused window takes no text from an input method (it enabled no text input)",
            "{out:?}"
        );
    }
    let long = "語".repeat(2000);
    let out = sandbox.wsbox(&["input", &name, "commit", &long]);
    assert_eq!(out.code(), Some(125), "{out:?}");
    sandbox.control(&["stop", "--force", &name]);
    sandbox.finish(LIMIT);
}
