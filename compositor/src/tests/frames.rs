//! Window mode inside the compositor: the inner frames
//! (layout::frame_size) — with the output shown inside wsbox's frame in
//! a host window, windows that fill it get no second frame, while dialogs
//! floating over them keep theirs — and a fractional host scale reaching
//! the app's windows.

use wayland_protocols::wp::fractional_scale::v1::client::{
    wp_fractional_scale_manager_v1::WpFractionalScaleManagerV1,
    wp_fractional_scale_v1::{self, WpFractionalScaleV1},
};

use super::fixture::*;
use crate::marking::{INNER_BORDER, INNER_TITLE_HEIGHT};

/// A server-side-decorated dialog of `parent`, 100x60, mapped.
fn map_dialog(f: &mut Fixture, id: ClientId, parent: &super::client::Window) {
    let client = &f.clients[id];
    let dialog = client.create_toplevel("dialog", true);
    dialog.toplevel.set_parent(Some(&parent.toplevel));
    f.roundtrip(id);
    let client = &f.clients[id];
    let serial = client
        .last_configure(&dialog.xdg_surface)
        .expect("configure");
    dialog.xdg_surface.ack_configure(serial);
    let buffer = client.buffer(100, 60, GREEN);
    client.attach_commit(&dialog.surface, Some(&buffer));
    f.roundtrip(id);
}

#[test]
fn in_a_host_window_only_dialogs_keep_their_frame() {
    for host_frame in [false, true] {
        let mut f = Fixture::new();
        f.state.core.host_frame = host_frame;
        let id = f.add_client();
        let main = f.map_window(id, "main", true, None, RED);
        let info = f.window_info("main");
        let shot = f.screenshot();
        if host_frame {
            // The whole output, no frame of its own: the host window's
            // frame is the marking.
            assert_eq!(
                (info.x, info.y, info.width, info.height),
                (0, 0, OUTPUT.0, OUTPUT.1)
            );
            assert!(close(shot.rgb(1, 1), rgb_of(RED)), "{:?}", shot.rgb(1, 1));
        } else {
            assert_eq!((info.x, info.y), (INNER_BORDER, INNER_TITLE_HEIGHT));
            assert!(close(shot.rgb(1, 1), FRAME), "{:?}", shot.rgb(1, 1));
        }

        map_dialog(&mut f, id, &main);
        let dialog = f.window_info("dialog");
        let shot = f.screenshot();
        // Either way the dialog's own title bar, in the frame's colour, is
        // right above it, over the main window.
        let (x, y) = (
            dialog.x + dialog.width - 4,
            dialog.y - INNER_TITLE_HEIGHT / 2,
        );
        assert!(
            close(shot.rgb(x, y), FRAME),
            "host_frame {host_frame}: the dialog's title bar shows {:?}",
            shot.rgb(x, y)
        );
        assert!(close(shot.rgb(dialog.x + 10, dialog.y + 10), rgb_of(GREEN)));
    }
}

/// The preferred scale the compositor last sent for a surface, in 120ths
/// (0 before any).
type Preferred = std::sync::Arc<std::sync::atomic::AtomicU32>;

impl wayland_client::Dispatch<WpFractionalScaleManagerV1, ()> for super::client::App {
    fn event(
        _: &mut Self,
        _: &WpFractionalScaleManagerV1,
        _: <WpFractionalScaleManagerV1 as wayland_client::Proxy>::Event,
        _: &(),
        _: &wayland_client::Connection,
        _: &wayland_client::QueueHandle<Self>,
    ) {
    }
}

impl wayland_client::Dispatch<WpFractionalScaleV1, Preferred> for super::client::App {
    fn event(
        _: &mut Self,
        _: &WpFractionalScaleV1,
        event: wp_fractional_scale_v1::Event,
        preferred: &Preferred,
        _: &wayland_client::Connection,
        _: &wayland_client::QueueHandle<Self>,
    ) {
        if let wp_fractional_scale_v1::Event::PreferredScale { scale } = event {
            preferred.store(scale, std::sync::atomic::Ordering::Relaxed);
        }
    }
}

/// What window mode does when the host's scale becomes 1.5 (reconfigure
/// the output, input/host.rs): the app's windows are told 1.5.
#[test]
fn a_fractional_output_scale_reaches_the_windows() {
    let mut f = Fixture::new();
    let id = f.add_client();
    let main = f.map_window(id, "main", true, None, RED);
    let client = &f.clients[id];
    let manager: WpFractionalScaleManagerV1 = client.bind();
    let preferred = Preferred::default();
    let _fractional = manager.get_fractional_scale(&main.surface, &client.qh, preferred.clone());
    f.roundtrip(id);
    assert_eq!(preferred.load(std::sync::atomic::Ordering::Relaxed), 120);
    f.state
        .reconfigure_output(480, 360, Some(1.5))
        .expect("reconfigure");
    f.roundtrip(id);
    assert_eq!(preferred.load(std::sync::atomic::Ordering::Relaxed), 180);
}
