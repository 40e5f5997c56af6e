//! A small, deterministic sweep of hostile request orders. Whether the
//! offender is disconnected is up to the protocol; what must hold is that the
//! compositor does not panic (that would abort the test), keeps rendering, and
//! that another client still roundtrips.

use std::os::fd::AsFd;

use nix::fcntl::OFlag;
use nix::unistd::pipe2;
use wayland_client::protocol::wl_shm;
use wayland_client::protocol::wl_surface::WlSurface;
use wayland_protocols::xdg::shell::client::xdg_popup::XdgPopup;
use wayland_protocols::xdg::shell::client::xdg_surface::XdgSurface;

use super::fixture::{rgb_of, ClientId, Fixture, Outcome, BLUE, BTN_LEFT, GREEN, RED};

/// A fixture with a witness client showing a small window in the top left.
fn with_witness() -> (Fixture, ClientId) {
    let mut f = Fixture::new();
    let witness = f.add_client();
    f.map_window(witness, "witness", true, Some((40, 30)), BLUE);
    (f, witness)
}

/// Lets `id` finish (or be disconnected), then checks the compositor.
fn survive(f: &mut Fixture, witness: ClientId, id: ClientId) -> Outcome {
    let outcome = f.outcome(id);
    f.assert_alive(witness);
    // Input still works.
    f.state.type_text("x").expect("type");
    f.state.click(1, 1, BTN_LEFT).expect("click");
    f.assert_alive(witness);
    outcome
}

/// A mapped xdg_popup and its surfaces.
struct Popup {
    surface: WlSurface,
    xdg_surface: XdgSurface,
    popup: XdgPopup,
}

/// A popup of `parent`, 50×30 at its top left, configured and showing `argb`.
fn map_popup(f: &mut Fixture, id: ClientId, parent: &XdgSurface, argb: u32) -> Popup {
    let c = &f.clients[id];
    let positioner = c.positioner(50, 30);
    let surface = c.surface();
    let xdg_surface = c.wm_base().get_xdg_surface(&surface, &c.qh, ());
    let popup = xdg_surface.get_popup(Some(parent), &positioner, &c.qh, ());
    surface.commit();
    f.roundtrip(id);
    let c = &f.clients[id];
    let serial = c.last_configure(&xdg_surface).expect("popup configure");
    xdg_surface.ack_configure(serial);
    let buffer = c.buffer(50, 30, argb);
    c.attach_commit(&surface, Some(&buffer));
    f.roundtrip(id);
    Popup {
        surface,
        xdg_surface,
        popup,
    }
}

#[test]
fn popup_whose_parent_is_destroyed_first() {
    let (mut f, witness) = with_witness();
    let c = f.add_client();
    let parent = f.map_window(c, "parent", true, None, RED);
    let popup = map_popup(&mut f, c, &parent.xdg_surface, GREEN);
    let info = f.window_info("parent");
    assert_eq!(
        f.screenshot().rgb(info.x + 25, info.y + 15),
        rgb_of(GREEN),
        "the popup is shown"
    );

    parent.toplevel.destroy();
    parent.xdg_surface.destroy();
    parent.surface.destroy();
    let _ = f.outcome(c);
    f.assert_alive(witness);

    // The orphan popup keeps committing.
    if !f.clients[c].is_dead() {
        let buffer = f.clients[c].buffer(50, 30, BLUE);
        f.clients[c].attach_commit(&popup.surface, Some(&buffer));
    }
    survive(&mut f, witness, c);
}

#[test]
fn popup_whose_parent_dies_before_the_popup_is_configured() {
    let (mut f, witness) = with_witness();
    let c = f.add_client();
    let parent = f.map_window(c, "parent", true, None, RED);
    let client = &f.clients[c];
    let positioner = client.positioner(50, 30);
    let surface = client.surface();
    let xdg_surface = client.wm_base().get_xdg_surface(&surface, &client.qh, ());
    let _popup = xdg_surface.get_popup(Some(&parent.xdg_surface), &positioner, &client.qh, ());
    parent.toplevel.destroy();
    parent.xdg_surface.destroy();
    parent.surface.destroy();
    surface.commit();
    survive(&mut f, witness, c);
}

#[test]
fn nested_popups_destroyed_out_of_order() {
    let (mut f, witness) = with_witness();
    let c = f.add_client();
    let parent = f.map_window(c, "parent", true, None, RED);
    let first = map_popup(&mut f, c, &parent.xdg_surface, GREEN);
    let _second = map_popup(&mut f, c, &first.xdg_surface, BLUE);
    f.state.tick();
    // The middle popup goes first (xdg_wm_base.not_the_topmost_popup),
    // role object first as it should.
    first.popup.destroy();
    first.xdg_surface.destroy();
    first.surface.destroy();
    survive(&mut f, witness, c);
}

#[test]
fn data_source_destroyed_during_a_transfer() {
    let (mut f, witness) = with_witness();
    let (a, b) = f.two_windows();
    // a: focus, then a source that stalls (keeps the fd, writes nothing).
    f.click_window("a");
    let serial = f.clients[a].app.last_enter_serial().expect("a has focus");
    let source = f.clients[a].data_source("text/plain", None);
    f.clients[a]
        .data_device()
        .set_selection(Some(&source), serial);
    f.roundtrip(a);
    f.click_window("b");
    let (offer, _) = f.clients[b]
        .app
        .selections
        .last()
        .cloned()
        .flatten()
        .expect("b sees a's selection");

    // b asks; a is asked; a destroys the source mid-transfer.
    let (read_end, write_end) = pipe2(OFlag::O_CLOEXEC | OFlag::O_NONBLOCK).expect("pipe");
    offer.receive("text/plain".to_owned(), write_end.as_fd());
    f.roundtrip(b);
    f.roundtrip(a);
    assert_eq!(f.clients[a].app.sends.len(), 1);
    source.destroy();
    f.roundtrip(a);
    // b asks again, from an offer whose source is gone, then drops it.
    offer.receive("text/plain".to_owned(), write_end.as_fd());
    offer.receive("application/x-never-offered".to_owned(), write_end.as_fd());
    drop(write_end);
    offer.destroy();
    survive(&mut f, witness, b);
    survive(&mut f, witness, a);

    // a dies while still holding the transfer's fd: b's reader ends.
    f.clients[a].app.held_fds.clear();
    let mut file = std::fs::File::from(read_end);
    let mut buf = [0u8; 16];
    match std::io::Read::read(&mut file, &mut buf) {
        Ok(0) => {}
        Ok(n) => panic!("read {n} bytes from a destroyed source"),
        Err(e) => panic!("the pipe is still open somewhere: {e}"),
    }
}

#[test]
fn selection_owner_disconnects_mid_transfer() {
    let (mut f, witness) = with_witness();
    let a = f.add_client();
    f.map_window(a, "a", true, Some((60, 40)), RED);
    let serial = f.clients[a].app.last_enter_serial().expect("a has focus");
    let source = f.clients[a].data_source("text/plain", None);
    f.clients[a]
        .data_device()
        .set_selection(Some(&source), serial);
    f.roundtrip(a);
    let b = f.add_client();
    f.map_window(b, "b", true, Some((60, 40)), GREEN);
    let (offer, _) = f.clients[b]
        .app
        .selections
        .last()
        .cloned()
        .flatten()
        .expect("b sees a's selection");
    let (_read_end, write_end) = pipe2(OFlag::O_CLOEXEC | OFlag::O_NONBLOCK).expect("pipe");
    offer.receive("text/plain".to_owned(), write_end.as_fd());
    f.clients[b].flush();
    // a goes away without a word, its send still unread.
    f.clients.remove(a);
    let b = b - 1;
    f.dispatch();
    offer.receive("text/plain".to_owned(), write_end.as_fd());
    survive(&mut f, witness, b);
}

#[test]
fn subsurface_whose_parent_dies() {
    let (mut f, witness) = with_witness();
    let c = f.add_client();
    let parent = f.map_window(c, "parent", true, None, RED);
    let client = &f.clients[c];
    let child = client.surface();
    let sub = client
        .subcompositor()
        .get_subsurface(&child, &parent.surface, &client.qh, ());
    sub.set_position(10, 10);
    let buffer = client.buffer(30, 30, GREEN);
    client.attach_commit(&child, Some(&buffer));
    parent.surface.commit();
    f.roundtrip(c);
    f.state.tick();

    parent.toplevel.destroy();
    parent.xdg_surface.destroy();
    parent.surface.destroy();
    let _ = f.outcome(c);
    f.assert_alive(witness);
    if !f.clients[c].is_dead() {
        let client = &f.clients[c];
        sub.set_position(-5000, 5000);
        sub.set_desync();
        let buffer = client.buffer(20, 20, BLUE);
        client.attach_commit(&child, Some(&buffer));
        let _ = f.outcome(c);
        f.assert_alive(witness);
    }
    if !f.clients[c].is_dead() {
        sub.destroy();
        child.destroy();
    }
    survive(&mut f, witness, c);
}

#[test]
fn subsurface_chain_whose_middle_dies() {
    let (mut f, witness) = with_witness();
    let c = f.add_client();
    let top = f.map_window(c, "top", true, None, RED);
    let client = &f.clients[c];
    let middle = client.surface();
    let leaf = client.surface();
    let middle_sub = client
        .subcompositor()
        .get_subsurface(&middle, &top.surface, &client.qh, ());
    let _leaf_sub = client
        .subcompositor()
        .get_subsurface(&leaf, &middle, &client.qh, ());
    let b1 = client.buffer(30, 30, GREEN);
    let b2 = client.buffer(10, 10, BLUE);
    client.attach_commit(&leaf, Some(&b2));
    client.attach_commit(&middle, Some(&b1));
    top.surface.commit();
    f.roundtrip(c);
    f.state.tick();

    // The middle goes, role object first, then its surface; the leaf stays
    // and keeps committing.
    middle_sub.destroy();
    middle.destroy();
    let _ = f.outcome(c);
    f.assert_alive(witness);
    if !f.clients[c].is_dead() {
        let b3 = f.clients[c].buffer(10, 10, RED);
        f.clients[c].attach_commit(&leaf, Some(&b3));
        top.surface.commit();
    }
    survive(&mut f, witness, c);
}

#[test]
fn subsurface_cycles_and_foreign_siblings() {
    let (mut f, witness) = with_witness();
    // A surface that would become the child of its own child.
    let c = f.add_client();
    let top = f.map_window(c, "top", true, None, RED);
    let client = &f.clients[c];
    let (p, child) = (client.surface(), client.surface());
    let _p_sub = client
        .subcompositor()
        .get_subsurface(&p, &top.surface, &client.qh, ());
    let _child_sub = client
        .subcompositor()
        .get_subsurface(&child, &p, &client.qh, ());
    let orphan = client.surface();
    let grandchild = client.surface();
    let _g_sub = client
        .subcompositor()
        .get_subsurface(&grandchild, &orphan, &client.qh, ());
    let _cycle = client
        .subcompositor()
        .get_subsurface(&orphan, &grandchild, &client.qh, ());
    let buffer = client.buffer(10, 10, GREEN);
    client.attach_commit(&grandchild, Some(&buffer));
    client.attach_commit(&orphan, Some(&buffer));
    top.surface.commit();
    survive(&mut f, witness, c);

    // A subsurface of itself.
    let c = f.add_client();
    let client = &f.clients[c];
    let surface = client.surface();
    let _own = client
        .subcompositor()
        .get_subsurface(&surface, &surface, &client.qh, ());
    survive(&mut f, witness, c);

    // place_above a surface that is not a sibling.
    let c = f.add_client();
    let top = f.map_window(c, "top2", true, None, RED);
    let client = &f.clients[c];
    let child = client.surface();
    let stranger = client.surface();
    let sub = client
        .subcompositor()
        .get_subsurface(&child, &top.surface, &client.qh, ());
    sub.place_above(&stranger);
    top.surface.commit();
    survive(&mut f, witness, c);
}

#[test]
fn buffer_destroyed_while_shown() {
    let (mut f, witness) = with_witness();
    let c = f.add_client();
    let window = f.map_window(c, "w", true, None, RED);
    let client = &f.clients[c];
    let buffer = client.buffer(100, 100, GREEN);
    client.attach_commit(&window.surface, Some(&buffer));
    buffer.destroy();
    f.roundtrip(c);
    f.state.tick();
    // And a commit of a damaged surface whose buffer is gone.
    window.surface.damage_buffer(0, 0, 10, 10);
    window.surface.commit();
    survive(&mut f, witness, c);
}

#[test]
fn shm_file_truncated_under_a_shown_buffer() {
    let (mut f, witness) = with_witness();
    let c = f.add_client();
    let window = f.clients[c].create_toplevel("shrinker", true);
    f.roundtrip(c);
    let client = &f.clients[c];
    let serial = client
        .last_configure(&window.xdg_surface)
        .expect("configure");
    window.xdg_surface.ack_configure(serial);
    let (w, h) = (100, 100);
    let (pool, file) = client.pool(w * h * 4, GREEN);
    let buffer = pool.create_buffer(0, w, h, w * 4, wl_shm::Format::Argb8888, &client.qh, ());
    client.attach_commit(&window.surface, Some(&buffer));
    f.roundtrip(c);
    f.state.tick();
    // The pool's file shrinks to nothing: reading the mapping faults.
    file.set_len(0).expect("truncate");
    let client = &f.clients[c];
    client.attach_commit(&window.surface, Some(&buffer));
    f.roundtrip(c);
    f.state.tick();
    f.state.screenshot_png().expect("screenshot");
    survive(&mut f, witness, c);
}

#[test]
fn toplevel_parent_loops_and_dead_parents() {
    let (mut f, witness) = with_witness();
    let c = f.add_client();
    let a = f.map_window(c, "loop-a", true, None, RED);
    let b = f.map_window(c, "loop-b", false, Some((50, 50)), GREEN);
    b.toplevel.set_parent(Some(&a.toplevel));
    a.toplevel.set_parent(Some(&b.toplevel));
    survive(&mut f, witness, c);

    // A dialog whose parent is destroyed under it.
    let c = f.add_client();
    let parent = f.map_window(c, "parent", true, None, RED);
    let dialog = f.clients[c].create_toplevel("dialog", false);
    dialog.toplevel.set_parent(Some(&parent.toplevel));
    f.roundtrip(c);
    parent.toplevel.destroy();
    parent.xdg_surface.destroy();
    parent.surface.destroy();
    let client = &f.clients[c];
    if let Some(serial) = client.last_configure(&dialog.xdg_surface) {
        dialog.xdg_surface.ack_configure(serial);
    }
    let buffer = client.buffer(60, 60, BLUE);
    client.attach_commit(&dialog.surface, Some(&buffer));
    survive(&mut f, witness, c);
}

#[test]
fn hostile_titles_and_app_ids() {
    let (mut f, witness) = with_witness();
    let c = f.add_client();
    let window = f.map_window(c, "t", true, None, RED);
    // Right-to-left override and terminal escapes, well past the cap.
    let long: String = "\u{202e}\u{1b}[31m".repeat(400);
    window.toplevel.set_title(long.clone());
    window.toplevel.set_app_id(long);
    f.roundtrip(c);
    f.state.tick();
    window.toplevel.set_title(String::new());
    f.roundtrip(c);
    f.state.tick();
    window.toplevel.set_title("\n\t\r".to_owned());
    assert!(matches!(survive(&mut f, witness, c), Outcome::Alive));
}

#[test]
fn a_request_larger_than_a_wayland_message() {
    let (mut f, witness) = with_witness();
    let c = f.add_client();
    let window = f.map_window(c, "t", true, None, RED);
    window.toplevel.set_title("x".repeat(64 * 1024));
    // The message cannot even be framed: the connection ends, with or
    // without a protocol error.
    match survive(&mut f, witness, c) {
        Outcome::Alive => panic!("a 64 KiB request was accepted"),
        Outcome::ProtocolError(err) => assert!(!err.object_interface.is_empty()),
        Outcome::Disconnected(reason) => assert!(!reason.is_empty()),
    }
    assert_eq!(f.state.client_count(), 1);
    assert_eq!(f.state.windows().len(), 1);
}

#[test]
fn surface_destroyed_under_its_toplevel() {
    let (mut f, witness) = with_witness();
    let c = f.add_client();
    let window = f.map_window(c, "early", true, None, RED);
    window.surface.destroy();
    let _ = f.outcome(c);
    f.assert_alive(witness);
    f.state.type_text("a").expect("type");
    if !f.clients[c].is_dead() {
        window.toplevel.set_title("still here".to_owned());
        window.toplevel.destroy();
        window.xdg_surface.destroy();
    }
    survive(&mut f, witness, c);
    // Once the role objects are gone too, nothing of the window remains and
    // the focus is back with the witness.
    assert_eq!(f.state.windows().len(), 1, "{:?}", f.state.windows());
    assert!(f.window_info("witness").focused);
}

#[test]
fn a_second_toplevel_for_the_same_surface() {
    let (mut f, witness) = with_witness();
    let c = f.add_client();
    let window = f.map_window(c, "first", true, None, RED);
    let client = &f.clients[c];
    let second = window.xdg_surface.get_toplevel(&client.qh, ());
    second.set_title("second".to_owned());
    window.surface.commit();
    // The offender is cut off (already_constructed), and its window with it.
    let _ = f.expect_protocol_error(c);
    f.assert_alive(witness);
    f.state.tick();
    assert_eq!(
        f.state.windows().len(),
        1,
        "a window outlived its client: {:?}",
        f.state.windows()
    );
}

#[test]
fn drag_without_a_grab() {
    let (mut f, witness) = with_witness();
    let c = f.add_client();
    let window = f.map_window(c, "dnd", true, None, RED);
    let client = &f.clients[c];
    let source = client.data_source("text/plain", Some(b"x"));
    let icon = client.surface();
    // No button is down: a drag must not start; a bogus serial too.
    client
        .data_device()
        .start_drag(Some(&source), &window.surface, Some(&icon), 12345);
    // The origin as its own icon.
    let source2 = client.data_source("text/plain", Some(b"y"));
    client
        .data_device()
        .start_drag(Some(&source2), &window.surface, Some(&window.surface), 1);
    survive(&mut f, witness, c);
}

#[test]
fn many_clients_come_and_go() {
    let (mut f, witness) = with_witness();
    for i in 0..20 {
        let c = f.add_client();
        f.map_window(c, &format!("w{i}"), i % 2 == 0, Some((20 + i, 20 + i)), RED);
        if i % 3 == 0 {
            f.state.type_text("ab").expect("type");
        }
    }
    // All but the witness leave abruptly.
    f.clients.truncate(witness + 1);
    f.dispatch();
    f.dispatch();
    f.assert_alive(witness);
    assert_eq!(f.state.client_count(), 1);
    assert_eq!(f.state.windows().len(), 1);
    assert!(f.window_info("witness").focused);
}
