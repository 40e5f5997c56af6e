//! Commits turn into pixels, inside wsbox's frame.

use wayland_client::{Proxy, WEnum};
use wayland_protocols::xdg::decoration::zv1::client::zxdg_toplevel_decoration_v1::Mode;

use super::fixture::{close, rgb_of, Fixture, BLUE, FRAME, GREEN, OUTPUT, RED};
use crate::marking::{INNER_BORDER, INNER_TITLE_HEIGHT};
use crate::render::BACKGROUND;

fn background() -> [u8; 3] {
    [
        (BACKGROUND[0] * 255.0).round() as u8,
        (BACKGROUND[1] * 255.0).round() as u8,
        (BACKGROUND[2] * 255.0).round() as u8,
    ]
}

#[test]
fn an_empty_output_shows_the_background() {
    let mut f = Fixture::new();
    let shot = f.screenshot();
    assert_eq!((shot.width as i32, shot.height as i32), OUTPUT);
    let px = shot.rgb(OUTPUT.0 / 2, OUTPUT.1 / 2);
    assert!(close(px, background()), "{px:?}");
}

#[test]
fn a_committed_buffer_is_shown_inside_the_frame() {
    let mut f = Fixture::new();
    let id = f.add_client();
    let window = f.map_window(id, "red", true, None, RED);

    // The compositor agreed to draw the decorations.
    let decoration = window.decoration.as_ref().expect("a decoration object");
    assert_eq!(
        f.clients[id].app.decoration_modes.get(&decoration.id()),
        Some(&WEnum::Value(Mode::ServerSide))
    );
    // The configured size leaves room for the frame.
    let size = f.clients[id].app.toplevel_sizes[&window.toplevel.id()];
    assert_eq!(
        size,
        (
            OUTPUT.0 - 2 * INNER_BORDER,
            OUTPUT.1 - INNER_TITLE_HEIGHT - INNER_BORDER
        )
    );

    let info = f.window_info("red");
    assert_eq!((info.width, info.height), size);
    assert_eq!((info.x, info.y), (INNER_BORDER, INNER_TITLE_HEIGHT));
    assert!(info.focused);

    let shot = f.screenshot();
    let centre = shot.rgb(info.x + info.width / 2, info.y + info.height / 2);
    assert_eq!(centre, rgb_of(RED), "the window's centre");
    let corner = shot.rgb(info.x, info.y);
    assert_eq!(corner, rgb_of(RED), "the window's top left pixel");
    // The title bar's right end (the title text is on the left).
    let bar = shot.rgb(info.x + info.width - 4, info.y - INNER_TITLE_HEIGHT / 2);
    assert!(close(bar, FRAME), "title bar {bar:?}, want {FRAME:?}");
    let bar_top = shot.rgb(info.x + info.width - 4, info.y - INNER_TITLE_HEIGHT);
    assert!(close(bar_top, FRAME), "title bar top {bar_top:?}");
    let left = shot.rgb(info.x - 1, info.y + info.height / 2);
    assert!(close(left, FRAME), "left border {left:?}");
    let right = shot.rgb(info.x + info.width, info.y + info.height / 2);
    assert!(close(right, FRAME), "right border {right:?}");
}

#[test]
fn a_new_buffer_replaces_the_old_one() {
    let mut f = Fixture::new();
    let id = f.add_client();
    let window = f.map_window(id, "w", true, None, RED);
    let info = f.window_info("w");
    let shot = f.screenshot();
    assert_eq!(shot.rgb(info.x + 5, info.y + 5), rgb_of(RED));

    let client = &f.clients[id];
    let buffer = client.buffer(info.width, info.height, GREEN);
    client.attach_commit(&window.surface, Some(&buffer));
    f.roundtrip(id);
    let shot = f.screenshot();
    assert_eq!(shot.rgb(info.x + 5, info.y + 5), rgb_of(GREEN));
    assert_eq!(
        shot.rgb(info.x + info.width / 2, info.y + info.height / 2),
        rgb_of(GREEN)
    );
}

#[test]
fn a_smaller_buffer_gets_a_frame_of_its_own_size() {
    let mut f = Fixture::new();
    let id = f.add_client();
    f.map_window(id, "small", true, Some((60, 40)), BLUE);
    let info = f.window_info("small");
    assert_eq!((info.width, info.height), (60, 40));
    let shot = f.screenshot();
    assert_eq!(shot.rgb(info.x + 30, info.y + 20), rgb_of(BLUE));
    assert!(close(shot.rgb(info.x + 59, info.y - 2), FRAME));
    assert!(
        close(shot.rgb(info.x + 30, info.y + 40), FRAME),
        "bottom border"
    );
    // Right of the frame: nothing.
    let outside = shot.rgb(info.x + 60 + INNER_BORDER + 5, info.y + 20);
    assert!(close(outside, background()), "{outside:?}");
}

#[test]
fn unmapping_removes_the_window_from_the_output() {
    let mut f = Fixture::new();
    let id = f.add_client();
    let window = f.map_window(id, "gone", true, None, RED);
    let info = f.window_info("gone");
    let centre = (info.x + info.width / 2, info.y + info.height / 2);
    assert_eq!(f.screenshot().rgb(centre.0, centre.1), rgb_of(RED));

    window.toplevel.destroy();
    window.xdg_surface.destroy();
    window.surface.destroy();
    f.roundtrip(id);
    assert!(f.state.windows().is_empty());
    let px = f.screenshot().rgb(centre.0, centre.1);
    assert!(close(px, background()), "{px:?}");
}

/// The parent's title bar: a pixel at its right end, where no text is.
fn title_bar_pixel(f: &Fixture, title: &str) -> (i32, i32) {
    let info = f.window_info(title);
    (info.x + info.width - 4, info.y - INNER_TITLE_HEIGHT / 2)
}

#[test]
fn a_dialog_cannot_cover_the_marking() {
    let mut f = Fixture::new();
    let id = f.add_client();
    let parent = f.map_window(id, "parent", true, None, RED);
    let client = &f.clients[id];
    let dialog = client.create_toplevel("dialog", false);
    dialog.toplevel.set_parent(Some(&parent.toplevel));
    f.roundtrip(id);
    let client = &f.clients[id];
    let serial = client
        .last_configure(&dialog.xdg_surface)
        .expect("configure");
    dialog.xdg_surface.ack_configure(serial);
    let buffer = client.buffer(OUTPUT.0 + 80, OUTPUT.1 + 60, GREEN);
    client.attach_commit(&dialog.surface, Some(&buffer));
    f.roundtrip(id);
    client_commits_again(&mut f, id, &dialog.surface, &buffer);

    let (x, y) = title_bar_pixel(&f, "parent");
    let shot = f.screenshot();
    let px = shot.rgb(x, y);
    assert!(
        close(px, FRAME),
        "the title bar shows {px:?}, not the frame"
    );
}

#[test]
fn a_popup_cannot_cover_the_marking() {
    let mut f = Fixture::new();
    let id = f.add_client();
    let parent = f.map_window(id, "parent", true, None, RED);
    let client = &f.clients[id];
    let positioner = client.positioner(OUTPUT.0 - 20, 40);
    positioner.set_offset(0, -INNER_TITLE_HEIGHT - 10);
    let surface = client.surface();
    let xdg_surface = client.wm_base().get_xdg_surface(&surface, &client.qh, ());
    let _popup = xdg_surface.get_popup(Some(&parent.xdg_surface), &positioner, &client.qh, ());
    surface.commit();
    f.roundtrip(id);
    let client = &f.clients[id];
    let serial = client.last_configure(&xdg_surface).expect("configure");
    xdg_surface.ack_configure(serial);
    let buffer = client.buffer(OUTPUT.0 - 20, 40, GREEN);
    client.attach_commit(&surface, Some(&buffer));
    f.roundtrip(id);

    let info = f.window_info("parent");
    let shot = f.screenshot();
    // The popup is shown, inside the window...
    assert_eq!(shot.rgb(info.x + 10, info.y + 2), rgb_of(GREEN));
    // ...but not over the frame.
    for x in [
        info.x + 10,
        info.x + info.width / 2,
        info.x + info.width - 4,
    ] {
        let px = shot.rgb(x, info.y - INNER_TITLE_HEIGHT / 2);
        assert!(close(px, FRAME), "the title bar shows {px:?} at x={x}");
    }
}

fn client_commits_again(
    f: &mut Fixture,
    id: super::fixture::ClientId,
    surface: &wayland_client::protocol::wl_surface::WlSurface,
    buffer: &wayland_client::protocol::wl_buffer::WlBuffer,
) {
    f.clients[id].attach_commit(surface, Some(buffer));
    f.roundtrip(id);
}

/// GTK's file chooser asks for the whole output: placed below the frame at
/// that size, its bottom would be cut off. It is asked to shrink to what
/// fits inside the frames, then centred there whole.
#[test]
fn a_dialog_larger_than_the_content_area_is_asked_to_fit_it() {
    let mut f = Fixture::new();
    let id = f.add_client();
    let parent = f.map_window(id, "parent", true, None, RED);
    let client = &f.clients[id];
    let dialog = client.create_toplevel("dialog", false);
    dialog.toplevel.set_parent(Some(&parent.toplevel));
    f.roundtrip(id);
    let client = &f.clients[id];
    let serial = client
        .last_configure(&dialog.xdg_surface)
        .expect("configure");
    dialog.xdg_surface.ack_configure(serial);
    let buffer = client.buffer(OUTPUT.0, OUTPUT.1, GREEN);
    client.attach_commit(&dialog.surface, Some(&buffer));
    f.roundtrip(id);

    let area = f.state.core.content_area();
    let client = &f.clients[id];
    let asked = client
        .app
        .toplevel_sizes
        .get(&dialog.toplevel.id())
        .copied();
    assert_eq!(
        asked,
        Some((area.size.w, area.size.h)),
        "the dialog was not asked to fit the content area {area:?}"
    );
    // It obeys: at that size it is shown whole, inside the frames.
    let serial = client
        .last_configure(&dialog.xdg_surface)
        .expect("configure");
    dialog.xdg_surface.ack_configure(serial);
    let smaller = client.buffer(area.size.w, area.size.h, GREEN);
    client.attach_commit(&dialog.surface, Some(&smaller));
    f.roundtrip(id);
    let info = f.window_info("dialog");
    assert!(
        info.x >= area.loc.x && info.y >= area.loc.y,
        "{info:?} {area:?}"
    );
    assert!(
        info.x + info.width <= area.loc.x + area.size.w
            && info.y + info.height <= area.loc.y + area.size.h,
        "the dialog {info:?} reaches past the content area {area:?}"
    );
}

/// An app that ends before `--timeout` leaves its last frame for
/// `--screenshot`: the output keeps the frame from before its windows went.
#[test]
fn the_last_frame_with_a_window_is_kept_when_the_windows_go() {
    let mut f = Fixture::new();
    let id = f.add_client();
    assert!(
        f.state.last_frame_png().is_none(),
        "no window was ever shown"
    );
    let window = f.map_window(id, "gone", true, None, RED);
    let info = f.window_info("gone");
    let centre = (info.x + info.width / 2, info.y + info.height / 2);
    assert_eq!(f.screenshot().rgb(centre.0, centre.1), rgb_of(RED));

    window.toplevel.destroy();
    window.xdg_surface.destroy();
    window.surface.destroy();
    f.roundtrip(id);
    assert!(f.state.windows().is_empty());
    let last = f.state.last_frame_png().expect("the last frame");
    let last = super::fixture::Screenshot::decode(&last);
    assert_eq!(last.rgb(centre.0, centre.1), rgb_of(RED));
    // The output itself shows the background again.
    let px = f.screenshot().rgb(centre.0, centre.1);
    assert!(close(px, background()), "{px:?}");
}
