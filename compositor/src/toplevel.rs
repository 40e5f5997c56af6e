//! What wsbox needs of a window, whichever shell made it: an xdg_toplevel
//! of a Wayland client, or an X11 window of the sandbox's Xwayland
//! (`crate::x11`). Everything read here came from the sandbox: titles and
//! class names are shown only after `crate::marking` sanitised them.

use smithay::desktop::Window;
use smithay::reexports::wayland_server::protocol::wl_surface::WlSurface;
use smithay::wayland::compositor::with_states;
use smithay::wayland::seat::WaylandFocus;
use smithay::wayland::shell::xdg::XdgToplevelSurfaceData;

/// The window's own surface: the xdg_toplevel's, or the one Xwayland
/// paired with the X11 window (None until it has).
pub fn surface(window: &Window) -> Option<WlSurface> {
    window.wl_surface().map(|s| s.into_owned())
}

/// The most characters of a title or app id wsbox keeps: a Wayland
/// message caps an xdg_toplevel's at 4 KiB, an X11 property is far larger.
pub const MAX_CHARS: usize = 1024;

/// The title the app set, unsanitised but capped at [`MAX_CHARS`].
pub fn title(window: &Window) -> String {
    let title = match window.x11_surface() {
        Some(x11) => x11.title(),
        None => xdg_data(window, |d| d.title.clone()),
    };
    capped(title)
}

/// The app id, or an X11 window's class (WM_CLASS), unsanitised but
/// capped at [`MAX_CHARS`].
pub fn app_id(window: &Window) -> String {
    let id = match window.x11_surface() {
        Some(x11) => x11.class(),
        None => xdg_data(window, |d| d.app_id.clone()),
    };
    capped(id)
}

fn capped(mut text: String) -> String {
    if let Some((end, _)) = text.char_indices().nth(MAX_CHARS) {
        text.truncate(end);
    }
    text
}

/// An X11 window that no window manager handles: a menu, a tooltip, a
/// drop-down list. It never takes the keyboard focus and has no frame.
pub fn is_override_redirect(window: &Window) -> bool {
    window
        .x11_surface()
        .is_some_and(|x11| x11.is_override_redirect())
}

/// Asks the window to close, as its shell does: xdg_toplevel.close, or
/// WM_DELETE_WINDOW (else a kill of its X client) for X11.
pub fn close(window: &Window) {
    if let Some(toplevel) = window.toplevel() {
        toplevel.send_close();
    } else if let Some(x11) = window.x11_surface() {
        if let Err(err) = x11.close() {
            tracing::debug!(%err, "X11: cannot close a window");
        }
    }
}

fn xdg_data(
    window: &Window,
    field: impl Fn(&smithay::wayland::shell::xdg::XdgToplevelSurfaceRoleAttributes) -> Option<String>,
) -> String {
    let Some(toplevel) = window.toplevel() else {
        return String::new();
    };
    with_states(toplevel.wl_surface(), |states| {
        states
            .data_map
            .get::<XdgToplevelSurfaceData>()
            .and_then(|d| d.lock().ok().and_then(|d| field(&d)))
            .unwrap_or_default()
    })
}
