//! Window mode's inner frames (decorations::frame_size): with the output
//! shown inside wsbox's frame in a host window, windows that fill it get no
//! second frame, while dialogs floating over them keep theirs.

use super::fixture::*;
use crate::decorations::{BORDER, TITLE_HEIGHT};

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
            assert_eq!((info.x, info.y), (BORDER, TITLE_HEIGHT));
            assert!(close(shot.rgb(1, 1), FRAME), "{:?}", shot.rgb(1, 1));
        }

        map_dialog(&mut f, id, &main);
        let dialog = f.window_info("dialog");
        let shot = f.screenshot();
        // Either way the dialog's own title bar, in the frame's colour, is
        // right above it, over the main window.
        let (x, y) = (dialog.x + dialog.width - 4, dialog.y - TITLE_HEIGHT / 2);
        assert!(
            close(shot.rgb(x, y), FRAME),
            "host_frame {host_frame}: the dialog's title bar shows {:?}",
            shot.rgb(x, y)
        );
        assert!(close(shot.rgb(dialog.x + 10, dialog.y + 10), rgb_of(GREEN)));
    }
}
