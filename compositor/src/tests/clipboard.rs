//! The clipboard inside one sandbox: it works between the sandbox's own
//! clients, follows the keyboard focus, and an unfocused client can neither
//! set nor read it; reads of the text wsbox pasted in are counted.

use std::io::Read;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::Arc;

use nix::fcntl::OFlag;
use nix::unistd::pipe2;
use smithay::wayland::selection::data_device::set_data_device_selection;

use super::fixture::{ClientId, Fixture};

fn two_windows() -> (Fixture, ClientId, ClientId) {
    let mut f = Fixture::new();
    let (a, b) = f.two_windows();
    (f, a, b)
}

fn click_on(f: &mut Fixture, title: &str) {
    f.click_window(title);
    assert!(
        f.window_info(title).focused,
        "{title} did not get the focus"
    );
}

/// The MIME types of the client's current selection, None for no selection.
fn current_selection(f: &Fixture, id: ClientId) -> Option<Vec<String>> {
    f.clients[id]
        .app
        .selections
        .last()
        .cloned()
        .flatten()
        .map(|(_, mimes)| mimes)
}

/// Reads what is in the pipe now, without waiting: (bytes, reached EOF).
fn drain(read_end: OwnedFd) -> (Vec<u8>, bool) {
    let mut file = std::fs::File::from(read_end);
    let mut out = Vec::new();
    let mut buf = [0u8; 256];
    loop {
        match file.read(&mut buf) {
            Ok(0) => return (out, true),
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return (out, false),
            Err(e) => panic!("read the pipe: {e}"),
        }
    }
}

#[test]
fn copy_in_one_client_paste_in_another() {
    let (mut f, a, b) = two_windows();
    click_on(&mut f, "a");

    // a copies.
    let serial = f.clients[a].app.last_enter_serial().expect("a has focus");
    let source = f.clients[a].data_source("text/plain", Some(b"hello"));
    f.clients[a]
        .data_device()
        .set_selection(Some(&source), serial);
    f.roundtrip(a);
    f.roundtrip(b);
    // b is not focused: it is told nothing yet.
    assert!(
        !f.clients[b]
            .app
            .selections
            .iter()
            .flatten()
            .any(|(_, mimes)| mimes.iter().any(|m| m == "text/plain")),
        "an unfocused client saw the selection: {:?}",
        f.clients[b].app.selections
    );

    // b gets the focus, and with it the selection.
    click_on(&mut f, "b");
    let (offer, mimes) = f.clients[b]
        .app
        .selections
        .last()
        .cloned()
        .flatten()
        .expect("b got a selection with the focus");
    assert_eq!(mimes, vec!["text/plain".to_owned()]);

    // b pastes.
    let (read_end, write_end) = pipe2(OFlag::O_CLOEXEC | OFlag::O_NONBLOCK).expect("pipe");
    offer.receive("text/plain".to_owned(), write_end.as_fd());
    drop(write_end);
    f.roundtrip(b);
    f.roundtrip(a);
    f.roundtrip(b);
    assert_eq!(f.clients[a].app.sends, vec!["text/plain".to_owned()]);
    let (bytes, eof) = drain(read_end);
    assert_eq!(bytes, b"hello");
    assert!(eof, "the pipe is still open for writing somewhere");
    // From app to app: not a read of what wsbox pasted in.
    assert_eq!(f.state.status().stats.clipboard.reads_inside, 0);
}

#[test]
fn reads_of_the_text_wsbox_pasted_in_are_counted() {
    let (mut f, a, _) = two_windows();
    click_on(&mut f, "a");
    // As a paste from the host sets it.
    set_data_device_selection(
        &f.state.core.display_handle,
        &f.state.seat,
        vec!["text/plain".to_owned()],
        crate::clipboard::Owner::Host(Arc::new(b"pasted".to_vec())),
    );
    f.roundtrip(a);
    let (offer, _) = f.clients[a]
        .app
        .selections
        .last()
        .cloned()
        .flatten()
        .expect("a got wsbox's selection");
    let reads = |f: &mut Fixture| f.state.status().stats.clipboard.reads_inside;
    assert_eq!(reads(&mut f), 0, "offered, not read");

    let (read_end, write_end) = pipe2(OFlag::O_CLOEXEC).expect("pipe");
    offer.receive("text/plain".to_owned(), write_end.as_fd());
    drop(write_end);
    f.roundtrip(a);
    assert_eq!(reads(&mut f), 1);
    let mut bytes = Vec::new();
    std::fs::File::from(read_end)
        .read_to_end(&mut bytes)
        .expect("read the pasted text");
    assert_eq!(bytes, b"pasted");

    // A type wsbox does not offer is refused before it reaches wsbox.
    let (_read_end, write_end) = pipe2(OFlag::O_CLOEXEC).expect("pipe");
    offer.receive("image/png".to_owned(), write_end.as_fd());
    drop(write_end);
    f.roundtrip(a);
    assert_eq!(reads(&mut f), 1);
}

#[test]
fn an_unfocused_client_cannot_set_the_selection() {
    let (mut f, a, b) = two_windows();
    // a is not focused; it tries anyway, with its old enter serial.
    let serial = f.clients[a].app.last_enter_serial().expect("a was focused");
    let source = f.clients[a].data_source("text/x-planted", Some(b"evil"));
    f.clients[a]
        .data_device()
        .set_selection(Some(&source), serial);
    f.roundtrip(a);
    f.roundtrip(b);
    let planted = |f: &Fixture, id: ClientId| {
        f.clients[id]
            .app
            .selections
            .iter()
            .flatten()
            .any(|(_, mimes)| mimes.iter().any(|m| m == "text/x-planted"))
    };
    assert!(
        !planted(&f, b),
        "the focused client got the planted selection"
    );
    click_on(&mut f, "a");
    click_on(&mut f, "b");
    assert!(!planted(&f, a));
    assert!(!planted(&f, b), "the planted selection surfaced later");
    assert_eq!(current_selection(&f, b), None);
}

#[test]
fn a_replaced_selection_cancels_the_old_source() {
    let (mut f, a, b) = two_windows();
    let serial = f.clients[b].app.last_enter_serial().expect("b has focus");
    let first = f.clients[b].data_source("text/plain", Some(b"one"));
    f.clients[b]
        .data_device()
        .set_selection(Some(&first), serial);
    f.roundtrip(b);
    let second = f.clients[b].data_source("text/plain;charset=utf-8", Some(b"two"));
    f.clients[b]
        .data_device()
        .set_selection(Some(&second), serial);
    f.roundtrip(b);
    assert_eq!(f.clients[b].app.cancelled_sources, 1);
    click_on(&mut f, "a");
    assert_eq!(
        current_selection(&f, a),
        Some(vec!["text/plain;charset=utf-8".to_owned()])
    );
}

/// `a` owns the selection; `b`, focused, has its offer; then `a` goes away.
fn owner_leaves() -> (Fixture, ClientId) {
    let mut f = Fixture::new();
    let a = f.add_client();
    f.map_window(a, "a", true, Some((200, 50)), super::fixture::RED);
    let serial = f.clients[a].app.last_enter_serial().expect("a has focus");
    let source = f.clients[a].data_source("text/plain", Some(b"bye"));
    f.clients[a]
        .data_device()
        .set_selection(Some(&source), serial);
    f.roundtrip(a);
    let b = f.add_client();
    f.map_window(b, "b", true, Some((60, 150)), super::fixture::GREEN);
    assert_eq!(
        current_selection(&f, b),
        Some(vec!["text/plain".to_owned()])
    );
    f.clients.remove(a);
    let b = b - 1;
    f.roundtrip(b);
    f.roundtrip(b);
    (f, b)
}

#[test]
fn the_selection_of_a_departed_client_is_gone_at_the_next_focus() {
    let (mut f, b) = owner_leaves();
    let c = f.add_client();
    f.map_window(c, "c", true, Some((100, 100)), super::fixture::BLUE);
    assert_eq!(current_selection(&f, c), None);
    f.click_window("b");
    assert_eq!(current_selection(&f, b), None);
}

#[test]
fn the_selection_of_a_departed_client_is_withdrawn_at_once() {
    let (f, b) = owner_leaves();
    assert_eq!(
        current_selection(&f, b),
        None,
        "the departed client's selection is still offered"
    );
}

#[test]
fn mime_types_per_source_are_capped() {
    let (mut f, a, b) = two_windows();
    click_on(&mut f, "a");
    let serial = f.clients[a].app.last_enter_serial().expect("a has focus");
    let source = f.clients[a].data_source("text/plain", Some(b"hello"));
    // One more over the cap, and one too long: ignored, not an error.
    source.offer("x".repeat(crate::limits::MAX_MIME_BYTES + 1));
    for i in 0..crate::limits::MAX_MIME_TYPES + 100 {
        source.offer(format!("application/x-{i}"));
    }
    f.clients[a]
        .data_device()
        .set_selection(Some(&source), serial);
    f.roundtrip(a);
    click_on(&mut f, "b");
    let (_, mimes) = f.clients[b]
        .app
        .selections
        .last()
        .cloned()
        .flatten()
        .expect("b got a selection with the focus");
    assert_eq!(mimes.len(), crate::limits::MAX_MIME_TYPES, "{mimes:?}");
    assert_eq!(mimes[0], "text/plain");
    assert!(mimes
        .iter()
        .all(|m| m.len() <= crate::limits::MAX_MIME_BYTES));
    f.assert_alive(a);
}
