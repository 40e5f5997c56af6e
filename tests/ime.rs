//! End-to-end tests of input methods: `wsbox input NAME preedit`
//! and `commit` reach a real GTK 4 app (gnome-text-editor) through
//! `zwp_text_input_v3`, with characters no keymap types, and the app saves
//! them; a window that enabled no text input is refused with a clear
//! error; and in window mode the host's input method (another wsbox,
//! headless, as the host) reaches the app the same way.
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

/// An empty file of the test's, which the sandbox's user may write.
fn empty_note(test: &str) -> std::path::PathBuf {
    let dir = testkit::scratch_in(root_dir(), test, 0o755);
    let note = dir.join("note.txt");
    fs::write(&note, "").unwrap();
    fs::set_permissions(&note, fs::Permissions::from_mode(0o666)).unwrap();
    note
}

/// Waits for gnome-text-editor's window with note.txt, focused.
fn wait_for_editor(sandbox: &mut Sandbox) {
    sandbox.wait_for_window("the editor with note.txt", LIMIT, |w| {
        w.title.contains("note.txt") && w.focused
    });
}

/// Saves with Ctrl+S and returns what reached the host file.
fn save(sandbox: &Sandbox, note: &Path) -> String {
    sandbox.input(&["key", "ctrl+s"]);
    poll(LIMIT, || {
        let text = fs::read_to_string(note).ok()?;
        (!text.is_empty()).then_some(text)
    })
    .unwrap_or_else(|| panic!("nothing was saved: {}", sandbox.describe()))
}

#[test]
fn a_gtk4_editor_takes_composed_text_and_saves_it() {
    let test = "a_gtk4_editor_takes_composed_text_and_saves_it";
    if !ready(test, &["gnome-text-editor"]) {
        return;
    }
    let note = empty_note(test);
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
    wait_for_editor(&mut sandbox);
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
    let saved = save(&sandbox, &note);
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

/// Window mode: the host's input method composes in the app. The host is
/// another wsbox, headless (it offers zwp_text_input_v3 and `wsbox input
/// commit` is its input method): what it commits into wsbox's window
/// reaches gnome-text-editor inside, which saves it.
#[test]
fn in_window_mode_the_host_input_method_reaches_the_app() {
    let test = "in_window_mode_the_host_input_method_reaches_the_app";
    if !ready(test, &["gnome-text-editor", "sleep"]) {
        return;
    }
    let outer = testkit::unique_name("ime-host-", test);
    let mut host = Sandbox::start(maker(), &outer, &["--headless", "--", "sleep", "300"]);
    let socket = root_dir().join("run/wsbox").join(&outer).join("wayland-0");
    poll(LIMIT, || {
        std::os::unix::net::UnixStream::connect(&socket).ok()
    })
    .unwrap_or_else(|| panic!("the host wsbox never listened: {}", host.describe()));

    let note = empty_note(test);
    let note_arg = note.to_str().unwrap();
    let inner = testkit::unique_name("ime-", test);
    let inner_socket = socket.clone();
    let inner_maker: Maker = Box::new(move || {
        let mut cmd = wsbox_command(&root_dir().join("run"), &[]);
        cmd.env("WAYLAND_DISPLAY", &inner_socket);
        cmd
    });
    let mut sandbox = Sandbox::start(
        inner_maker,
        &inner,
        &[
            "--display",
            "window",
            "--file-rw",
            note_arg,
            "--",
            "gnome-text-editor",
            note_arg,
        ],
    );
    wait_for_editor(&mut sandbox);
    host.wait_for_window("wsbox's window on the host", LIMIT, |w| {
        w.app_id == format!("wsbox.{inner}") && w.focused
    });
    // Once the app has enabled its text input, wsbox enables its own on the
    // host, and the host's input method has somewhere to commit.
    poll(LIMIT, || {
        let out = host.wsbox(&["input", &outer, "commit", "日本語"]);
        out.status.success().then_some(())
    })
    .unwrap_or_else(|| {
        panic!(
            "wsbox never enabled a text input on the host: {}",
            sandbox.describe()
        )
    });
    let saved = save(&sandbox, &note);
    assert_eq!(saved.trim_end(), "日本語", "{saved:?}");
    sandbox.control(&["stop", "--force", &inner]);
    sandbox.finish(LIMIT);
    host.control(&["stop", "--force", &outer]);
    host.finish(LIMIT);
}

#[test]
fn the_policy_can_turn_input_methods_off() {
    let test = "the_policy_can_turn_input_methods_off";
    if !ready(test, &["gnome-text-editor"]) {
        return;
    }
    let dir = testkit::scratch_in(root_dir(), test, 0o755);
    let policy = dir.join("off.toml");
    fs::write(&policy, "[keyboard]\ninput_method = false\n").unwrap();
    let name = testkit::unique_name("ime-", test);
    let mut sandbox = Sandbox::start(
        maker(),
        &name,
        &[
            "--headless",
            "--policy",
            policy.to_str().unwrap(),
            "--",
            "gnome-text-editor",
        ],
    );
    sandbox.wait_for_window("the editor", LIMIT, |w| w.focused);
    let out = sandbox.wsbox(&["input", &name, "commit", "日本語"]);
    assert_eq!(out.code(), Some(125), "{out:?}");
    assert_eq!(
        out.stderr.trim(),
        "wsbox: input methods are off in this sandbox's policy (keyboard.input_method)",
        "{out:?}"
    );
    sandbox.control(&["stop", "--force", &name]);
    sandbox.finish(LIMIT);
}
