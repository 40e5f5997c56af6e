//! Window mode without a host: the test plays the host by feeding
//! [`HostEvent`]s to a compositor whose host window talks to a host that
//! never answers ([`Fixture::in_host_window`]). What the host's input,
//! configures and close requests mean inside reaches the apps through the
//! protocol, where these tests look.

use wayland_client::Proxy;

use super::client::{KeyboardEvent, PointerEvent, Window};
use super::fixture::*;
use crate::backend::host::HostEvent;
use crate::marking::{CLOSE_SIZE, HOST_BORDER, HOST_TITLE_HEIGHT};

/// evdev codes (wl_keyboard.key carries these: xkb keycode − 8).
const KEY_A: u32 = 30;
const KEY_LEFTSHIFT: u32 = 42;

fn key(key: u32, pressed: bool) -> HostEvent {
    HostEvent::Key {
        key,
        pressed,
        serial: 7,
    }
}

/// The keys client `id` saw, as (key, pressed), in order.
fn keys(f: &Fixture, id: ClientId) -> Vec<(u32, bool)> {
    f.clients[id]
        .app
        .keyboard_events
        .iter()
        .filter_map(|e| match e {
            KeyboardEvent::Key { key, pressed } => Some((*key, *pressed)),
            _ => None,
        })
        .collect()
}

fn clear(f: &mut Fixture) {
    for client in &mut f.clients {
        client.app.keyboard_events.clear();
        client.app.pointer_events.clear();
    }
}

/// A compositor in window mode with one client's window mapped.
fn one_window() -> (Fixture, ClientId) {
    let mut f = Fixture::in_host_window();
    let id = f.add_client();
    f.map_window(id, "app", true, None, RED);
    clear(&mut f);
    (f, id)
}

/// A compositor in window mode with two clients' windows, "a" and, mapped
/// last and so focused, "b".
fn two_windows() -> (Fixture, [(ClientId, Window); 2]) {
    let mut f = Fixture::in_host_window();
    let a = f.add_client();
    let b = f.add_client();
    let wa = f.map_window(a, "a", true, None, RED);
    let wb = f.map_window(b, "b", true, None, GREEN);
    f.roundtrip_all();
    clear(&mut f);
    (f, [(a, wa), (b, wb)])
}

/// A point of the host window (surface coordinates) on the output.
fn on_the_output(x: i32, y: i32) -> (f64, f64) {
    (f64::from(HOST_BORDER + x), f64::from(HOST_TITLE_HEIGHT + y))
}

#[test]
fn host_keys_reach_the_app_only_while_the_window_has_the_host_focus() {
    let (mut f, id) = one_window();

    f.host(vec![key(KEY_A, true), key(KEY_A, false)]);
    assert_eq!(keys(&f, id), vec![], "a key before the host's focus came");

    f.host(vec![
        HostEvent::KeyboardEnter { serial: 1 },
        key(KEY_A, true),
        key(KEY_A, false),
    ]);
    assert_eq!(keys(&f, id), vec![(KEY_A, true), (KEY_A, false)]);

    clear(&mut f);
    f.host(vec![
        HostEvent::KeyboardLeave,
        key(KEY_A, true),
        key(KEY_A, false),
    ]);
    assert_eq!(keys(&f, id), vec![], "a key after the host's focus left");
}

#[test]
fn host_keys_go_to_the_focused_client_only() {
    let (mut f, [(a, _), (b, _)]) = two_windows();
    assert!(f.window_info("b").focused);

    f.host(vec![
        HostEvent::KeyboardEnter { serial: 1 },
        key(KEY_A, true),
        key(KEY_A, false),
    ]);
    assert_eq!(keys(&f, b), vec![(KEY_A, true), (KEY_A, false)]);
    assert_eq!(keys(&f, a), vec![], "the unfocused client heard the key");

    // b goes away: the focus, and the host's keys, go to a.
    f.clients.remove(b);
    f.dispatch();
    f.dispatch();
    f.roundtrip(a);
    clear(&mut f);
    f.host(vec![key(KEY_A, true), key(KEY_A, false)]);
    assert_eq!(keys(&f, a), vec![(KEY_A, true), (KEY_A, false)]);
}

#[test]
fn keys_held_when_the_host_focus_leaves_are_released_inside() {
    let (mut f, id) = one_window();
    f.host(vec![
        HostEvent::KeyboardEnter { serial: 1 },
        key(KEY_LEFTSHIFT, true),
        key(KEY_A, true),
    ]);
    assert_eq!(keys(&f, id), vec![(KEY_LEFTSHIFT, true), (KEY_A, true)]);

    clear(&mut f);
    f.host(vec![HostEvent::KeyboardLeave]);
    // Last pressed, first released; Shift is no longer a modifier.
    assert_eq!(keys(&f, id), vec![(KEY_A, false), (KEY_LEFTSHIFT, false)]);
    let events = &f.clients[id].app.keyboard_events;
    let last_mods = events.iter().rev().find_map(|e| match e {
        KeyboardEvent::Modifiers { depressed } => Some(*depressed),
        _ => None,
    });
    assert_eq!(last_mods, Some(0), "Shift stays down: {events:?}");

    // The host's own releases, once the focus is back, find nothing held.
    clear(&mut f);
    f.host(vec![
        HostEvent::KeyboardEnter { serial: 2 },
        key(KEY_A, false),
        key(KEY_LEFTSHIFT, false),
    ]);
    assert_eq!(keys(&f, id), vec![], "a key released twice");
}

#[test]
fn the_host_close_request_asks_every_app_window_to_close() {
    let (mut f, [(a, wa), (b, wb)]) = two_windows();
    assert!(f.clients[a].app.closed.is_empty());

    let status = f.host(vec![HostEvent::Close]);
    assert!(status.close_requested);
    assert_eq!(f.clients[a].app.closed, vec![wa.toplevel.id()]);
    assert_eq!(f.clients[b].app.closed, vec![wb.toplevel.id()]);
}

#[test]
fn only_the_close_button_of_the_frame_closes() {
    let (mut f, id) = one_window();
    let width = OUTPUT.0 + 2 * HOST_BORDER;
    // The title bar, left of the button: a move, not a close.
    let status = f.host(vec![
        HostEvent::PointerEnter {
            serial: 1,
            x: 20.0,
            y: f64::from(HOST_TITLE_HEIGHT / 2),
        },
        HostEvent::Button {
            serial: 2,
            button: BTN_LEFT,
            pressed: true,
        },
    ]);
    assert!(!status.close_requested);
    assert!(f.clients[id].app.closed.is_empty());

    let status = f.host(vec![
        HostEvent::Button {
            serial: 3,
            button: BTN_LEFT,
            pressed: false,
        },
        HostEvent::Motion {
            x: f64::from(width - HOST_BORDER - 4 - CLOSE_SIZE / 2),
            y: f64::from(HOST_TITLE_HEIGHT / 2),
        },
        HostEvent::Button {
            serial: 4,
            button: BTN_LEFT,
            pressed: true,
        },
    ]);
    assert!(status.close_requested);
    assert_eq!(f.clients[id].app.closed.len(), 1);
}

#[test]
fn a_host_configure_resizes_the_app_within_bounds() {
    let mut f = Fixture::in_host_window();
    let id = f.add_client();
    let window = f.map_window(id, "app", true, None, RED);
    let size = |f: &Fixture| f.clients[id].app.toplevel_sizes[&window.toplevel.id()];
    // The app fills the output: the host window's frame is its marking.
    assert_eq!(size(&f), OUTPUT);

    let frame = (2 * HOST_BORDER, HOST_TITLE_HEIGHT + HOST_BORDER);
    f.host(vec![HostEvent::Configure(500 + frame.0, 300 + frame.1)]);
    assert_eq!(size(&f), (500, 300));
    assert_eq!(f.state.output_size(), (500, 300).into());

    // A configure that lets wsbox choose keeps the size.
    f.host(vec![HostEvent::Configure(0, 0)]);
    assert_eq!(size(&f), (500, 300));

    // A window smaller than its frame leaves the smallest output, not less.
    f.host(vec![HostEvent::Configure(1, 1)]);
    assert_eq!(size(&f), (16, 16));
}

#[test]
fn the_app_is_shown_once_the_host_configured_the_window() {
    let (mut f, _) = one_window();
    assert!(
        f.state.screenshot_png().is_err(),
        "shown before the host's first configure"
    );
    f.host(vec![HostEvent::Configure(0, 0)]);
    let shot = f.screenshot();
    assert_eq!((shot.width as i32, shot.height as i32), OUTPUT);
    assert!(close(shot.rgb(OUTPUT.0 / 2, OUTPUT.1 / 2), rgb_of(RED)));
}

#[test]
fn the_host_pointer_reaches_the_app_on_the_output_only() {
    let (mut f, id) = one_window();
    // On the frame's border: not the app's.
    f.host(vec![HostEvent::PointerEnter {
        serial: 1,
        x: 1.0,
        y: 100.0,
    }]);
    assert_eq!(f.clients[id].app.pointer_events, vec![]);

    let (x, y) = on_the_output(50, 50);
    f.host(vec![
        HostEvent::Motion { x, y },
        HostEvent::Button {
            serial: 2,
            button: BTN_LEFT,
            pressed: true,
        },
    ]);
    let events = f.clients[id].app.pointer_events.clone();
    let Some(PointerEvent::Enter { surface }) = events.first().cloned() else {
        panic!("the pointer did not enter the app: {events:?}");
    };
    assert_eq!(
        events[1..],
        [PointerEvent::Button {
            button: BTN_LEFT,
            pressed: true
        }]
    );

    // The host pointer leaves with the button down: released inside,
    // then the pointer leaves the app.
    clear(&mut f);
    f.host(vec![HostEvent::PointerLeave]);
    assert_eq!(
        f.clients[id].app.pointer_events,
        vec![
            PointerEvent::Button {
                button: BTN_LEFT,
                pressed: false
            },
            PointerEvent::Leave { surface },
        ]
    );
}

#[test]
fn status_counts_the_host_keys_that_arrived_and_shows_the_host_focus() {
    let (mut f, _) = one_window();
    assert_eq!(f.state.status().host_focused, Some(false));
    f.host(vec![key(KEY_A, true), key(KEY_A, false)]);
    assert_eq!(f.state.status().stats.host_key_presses, 0, "not focused");
    f.host(vec![
        HostEvent::KeyboardEnter { serial: 1 },
        key(KEY_A, true),
        key(KEY_A, false),
        key(KEY_A, true),
        key(KEY_A, false),
    ]);
    let status = f.state.status();
    assert_eq!(status.host_focused, Some(true));
    assert_eq!(status.stats.host_key_presses, 2);
    f.host(vec![HostEvent::KeyboardLeave]);
    assert_eq!(f.state.status().host_focused, Some(false));
}
