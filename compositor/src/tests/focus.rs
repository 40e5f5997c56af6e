//! Keyboard and pointer input reach only the focused surface.

use wayland_client::backend::ObjectId;

use super::client::{KeyboardEvent, PointerEvent};
use super::fixture::{ClientId, Fixture, BTN_LEFT};

/// evdev codes (wl_keyboard.key carries these: xkb keycode − 8).
const KEY_A: u32 = 30;
const KEY_LEFTSHIFT: u32 = 42;

/// Two windows (see [`Fixture::two_windows`]) and their surfaces.
struct TwoWindows {
    f: Fixture,
    a: ClientId,
    b: ClientId,
    a_surface: ObjectId,
    b_surface: ObjectId,
}

fn two_windows() -> TwoWindows {
    let mut f = Fixture::new();
    let (a, b) = f.two_windows();
    let surface_of = |f: &Fixture, id: ClientId| {
        f.clients[id]
            .app
            .keyboard_events
            .iter()
            .find_map(|e| match e {
                KeyboardEvent::Enter { surface, .. } => Some(surface.clone()),
                _ => None,
            })
            .expect("the window was focused once mapped")
    };
    let a_surface = surface_of(&f, a);
    let b_surface = surface_of(&f, b);
    TwoWindows {
        f,
        a,
        b,
        a_surface,
        b_surface,
    }
}

fn clear(f: &mut Fixture) {
    for client in &mut f.clients {
        client.app.keyboard_events.clear();
        client.app.pointer_events.clear();
    }
}

#[test]
fn the_last_mapped_window_has_the_keyboard() {
    let TwoWindows {
        f,
        a,
        b,
        a_surface,
        b_surface,
    } = two_windows();
    let a_events = &f.clients[a].app.keyboard_events;
    let b_events = &f.clients[b].app.keyboard_events;
    assert!(
        a_events
            .iter()
            .any(|e| matches!(e, KeyboardEvent::Enter { surface, .. } if *surface == a_surface)),
        "a was focused once mapped: {a_events:?}"
    );
    assert!(
        matches!(a_events.iter().rev().find(|e| matches!(e, KeyboardEvent::Enter { .. } | KeyboardEvent::Leave { .. })),
            Some(KeyboardEvent::Leave { surface }) if *surface == a_surface),
        "a lost the focus to b: {a_events:?}"
    );
    assert!(
        matches!(b_events.iter().rev().find(|e| matches!(e, KeyboardEvent::Enter { .. } | KeyboardEvent::Leave { .. })),
            Some(KeyboardEvent::Enter { surface, .. }) if *surface == b_surface),
        "b has the focus: {b_events:?}"
    );
    assert!(f.window_info("b").focused);
    assert!(!f.window_info("a").focused);
}

#[test]
fn typing_reaches_only_the_focused_client() {
    let TwoWindows { mut f, a, b, .. } = two_windows();
    clear(&mut f);

    f.state.type_text("a").expect("type");
    f.roundtrip_all();
    assert_eq!(f.clients[b].app.pressed_keys(), vec![KEY_A]);
    assert!(
        f.clients[b]
            .app
            .keyboard_events
            .contains(&KeyboardEvent::Key {
                key: KEY_A,
                pressed: false
            }),
        "the key was released: {:?}",
        f.clients[b].app.keyboard_events
    );
    assert!(
        f.clients[a].app.keyboard_events.is_empty(),
        "the unfocused client saw {:?}",
        f.clients[a].app.keyboard_events
    );
}

#[test]
fn a_click_moves_the_focus_and_the_typing() {
    let TwoWindows {
        mut f,
        a,
        b,
        a_surface,
        b_surface,
    } = two_windows();
    clear(&mut f);

    f.click_window("a");
    let a_events = f.clients[a].app.keyboard_events.clone();
    let b_events = f.clients[b].app.keyboard_events.clone();
    assert!(
        a_events
            .iter()
            .any(|e| matches!(e, KeyboardEvent::Enter { surface, .. } if *surface == a_surface)),
        "a got no wl_keyboard.enter: {a_events:?}"
    );
    assert_eq!(
        b_events,
        vec![KeyboardEvent::Leave { surface: b_surface }],
        "b should only have lost the focus"
    );
    assert!(f.window_info("a").focused);
    assert!(!f.window_info("b").focused);

    // The click itself went to a, the window under the pointer.
    let a_pointer = &f.clients[a].app.pointer_events;
    assert!(a_pointer.contains(&PointerEvent::Enter {
        surface: a_surface.clone()
    }));
    assert!(a_pointer.contains(&PointerEvent::Button {
        button: BTN_LEFT,
        pressed: true
    }));
    assert!(
        f.clients[b].app.pointer_events.is_empty(),
        "b saw {:?}",
        f.clients[b].app.pointer_events
    );

    clear(&mut f);
    f.state.type_text("a").expect("type");
    f.roundtrip_all();
    assert_eq!(f.clients[a].app.pressed_keys(), vec![KEY_A]);
    assert!(f.clients[b].app.keyboard_events.is_empty());

    // And back to b.
    clear(&mut f);
    f.click_window("b");
    f.state.type_text("a").expect("type");
    f.roundtrip_all();
    assert_eq!(f.clients[b].app.pressed_keys(), vec![KEY_A]);
    assert!(f.clients[a].app.pressed_keys().is_empty());
    assert!(f.clients[a]
        .app
        .keyboard_events
        .contains(&KeyboardEvent::Leave { surface: a_surface }));
}

#[test]
fn an_upper_case_letter_is_typed_with_shift() {
    let TwoWindows { mut f, a, b, .. } = two_windows();
    clear(&mut f);

    f.state.type_text("A").expect("type");
    f.roundtrip_all();
    let events = &f.clients[b].app.keyboard_events;
    let shift_down = events
        .iter()
        .position(|e| {
            *e == KeyboardEvent::Key {
                key: KEY_LEFTSHIFT,
                pressed: true,
            }
        })
        .unwrap_or_else(|| panic!("no Shift press: {events:?}"));
    let a_down = events
        .iter()
        .position(|e| {
            *e == KeyboardEvent::Key {
                key: KEY_A,
                pressed: true,
            }
        })
        .unwrap_or_else(|| panic!("no 'a' key press: {events:?}"));
    assert!(shift_down < a_down, "Shift after the key: {events:?}");
    let shifted = events[..a_down]
        .iter()
        .any(|e| matches!(e, KeyboardEvent::Modifiers { depressed } if *depressed != 0));
    assert!(
        shifted,
        "no modifiers event with Shift before the key: {events:?}"
    );
    // Shift is released at the end: the last modifiers event is empty.
    let last_mods = events.iter().rev().find_map(|e| match e {
        KeyboardEvent::Modifiers { depressed } => Some(*depressed),
        _ => None,
    });
    assert_eq!(last_mods, Some(0), "Shift stays down: {events:?}");
    assert!(f.clients[a].app.keyboard_events.is_empty());
}

#[test]
fn no_input_goes_anywhere_without_a_focused_window() {
    let mut f = Fixture::new();
    let a = f.add_client();
    // A toplevel that never shows a buffer is not focused.
    let _window = f.clients[a].create_toplevel("unmapped", true);
    f.roundtrip(a);
    f.state.type_text("a").expect("type");
    f.roundtrip(a);
    assert!(
        f.clients[a].app.keyboard_events.is_empty(),
        "{:?}",
        f.clients[a].app.keyboard_events
    );
}

#[test]
fn a_disconnected_focused_client_leaves_the_focus_to_the_next() {
    let TwoWindows {
        mut f,
        a,
        b,
        a_surface,
        ..
    } = two_windows();
    clear(&mut f);
    // b, focused, goes away without cleaning up.
    f.clients.remove(b);
    f.dispatch();
    f.dispatch();
    f.roundtrip(a);
    assert_eq!(f.state.client_count(), 1);
    assert!(
        f.clients[a]
            .app
            .keyboard_events
            .iter()
            .any(|e| matches!(e, KeyboardEvent::Enter { surface, .. } if *surface == a_surface)),
        "a did not get the focus back: {:?}",
        f.clients[a].app.keyboard_events
    );
    f.state.type_text("a").expect("type");
    f.roundtrip(a);
    assert_eq!(f.clients[a].app.pressed_keys(), vec![KEY_A]);
}
