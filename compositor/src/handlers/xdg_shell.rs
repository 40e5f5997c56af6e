//! xdg_wm_base and xdg-decoration: placement, configure, popups.
//!
//! Windows are managed, not moved by the app: where they go is decided in
//! [`crate::layout`]. Move and resize requests are ignored, so an app cannot
//! place a window over wsbox's marking.

use smithay::backend::renderer::utils::with_renderer_surface_state;
use smithay::delegate_xdg_decoration;
use smithay::desktop::{PopupKind, Window};
use smithay::reexports::wayland_protocols::xdg::decoration::zv1::server::zxdg_toplevel_decoration_v1::Mode as DecorationMode;
use smithay::reexports::wayland_protocols::xdg::shell::server::xdg_popup::XdgPopup;
use smithay::reexports::wayland_protocols::xdg::shell::server::xdg_wm_base::XdgWmBase;
use smithay::reexports::wayland_protocols::xdg::shell::server::{
    xdg_surface, xdg_toplevel, xdg_wm_base,
};
use smithay::reexports::wayland_server::protocol::{wl_output, wl_seat, wl_surface::WlSurface};
use smithay::reexports::wayland_server::{delegate_dispatch, delegate_global_dispatch, Resource};
use smithay::utils::Serial;
use smithay::wayland::compositor::with_states;
use smithay::wayland::shell::xdg::decoration::XdgDecorationHandler;
use smithay::wayland::shell::xdg::{
    PopupSurface, PositionerState, ShellClient, ToplevelSurface, XdgPopupSurfaceData, XdgShellHandler,
    XdgShellState, XdgShellSurfaceUserData, XdgToplevelSurfaceData, XdgWmBaseUserData,
};

use crate::layout::Mapped;
use crate::state::State;

impl XdgShellHandler for State {
    fn xdg_shell_state(&mut self) -> &mut XdgShellState {
        &mut self.core.xdg_shell_state
    }

    fn new_toplevel(&mut self, surface: ToplevelSurface) {
        if self.core.window_for(surface.wl_surface()).is_some() {
            // smithay 0.7 lets an xdg_surface get a second toplevel; the
            // protocol's answer is xdg_surface.already_constructed. The
            // xdg_surface object is not reachable from here: the error goes
            // on the new toplevel, with that code.
            surface.xdg_toplevel().post_error(
                xdg_surface::Error::AlreadyConstructed as u32,
                "the xdg_surface already has a role object",
            );
            return;
        }
        let window = Window::new_wayland_window(surface);
        window.user_data().insert_if_missing(Mapped::default);
        self.core.place(&window);
        self.core.needs_redraw = true;
    }

    fn new_popup(&mut self, surface: PopupSurface, positioner: PositionerState) {
        // xdg_wm_base.invalid_positioner: a positioner needs a size and an
        // anchor rectangle. smithay 0.7 does not check; the error goes on the
        // xdg_popup, the object reachable here.
        if positioner.rect_size.w <= 0
            || positioner.rect_size.h <= 0
            || positioner.anchor_rect.size.w <= 0
            || positioner.anchor_rect.size.h <= 0
        {
            surface.xdg_popup().post_error(
                xdg_wm_base::Error::InvalidPositioner as u32,
                "the positioner has no size or no anchor rectangle",
            );
            return;
        }
        // A chain of popups that loops back (A's parent is B, then B gets
        // A as its parent) made smithay's walks to the root loop forever:
        // the compositor hung. Found by the fuzzer.
        if !popup_chain_is_sound(&surface) {
            surface.xdg_popup().post_error(
                xdg_wm_base::Error::InvalidPopupParent as u32,
                "the popup's parents loop back to it or nest too deep",
            );
            return;
        }
        self.core.unconstrain_popup(&surface);
        if let Err(err) = self.core.popups.track_popup(PopupKind::Xdg(surface)) {
            tracing::debug!(%err, "popup not tracked");
        }
    }

    fn reposition_request(
        &mut self,
        surface: PopupSurface,
        positioner: PositionerState,
        token: u32,
    ) {
        surface.with_pending_state(|state| {
            state.geometry = positioner.get_geometry();
            state.positioner = positioner;
        });
        self.core.unconstrain_popup(&surface);
        surface.send_repositioned(token);
    }

    fn grab(&mut self, _surface: PopupSurface, _seat: wl_seat::WlSeat, _serial: Serial) {
        // Popup grabs are not implemented: popups get input like any surface.
    }

    fn move_request(&mut self, _surface: ToplevelSurface, _seat: wl_seat::WlSeat, _serial: Serial) {
    }

    fn resize_request(
        &mut self,
        _surface: ToplevelSurface,
        _seat: wl_seat::WlSeat,
        _serial: Serial,
        _edges: xdg_toplevel::ResizeEdge,
    ) {
    }

    fn maximize_request(&mut self, surface: ToplevelSurface) {
        if surface.is_initial_configure_sent() {
            surface.send_configure();
        }
    }

    fn fullscreen_request(
        &mut self,
        surface: ToplevelSurface,
        _output: Option<wl_output::WlOutput>,
    ) {
        if surface.is_initial_configure_sent() {
            surface.send_configure();
        }
    }

    fn client_pong(&mut self, client: ShellClient) {
        self.pong(&client);
    }

    fn toplevel_destroyed(&mut self, surface: ToplevelSurface) {
        if let Some(window) = self.core.window_for(surface.wl_surface()) {
            self.core.space.unmap_elem(&window);
        }
        // Not now: the client usually destroys the wl_surface in the same
        // batch, and a wl_keyboard.leave for a surface it already destroyed
        // crashes some clients (wl-copy). After the batch, the dead surface
        // gets no leave.
        self.core.refocus = true;
        self.core.needs_redraw = true;
    }

    fn popup_destroyed(&mut self, _surface: PopupSurface) {
        self.core.needs_redraw = true;
    }

    fn title_changed(&mut self, _surface: ToplevelSurface) {
        self.core.needs_redraw = true;
    }
}
// delegate_xdg_shell! without xdg_surface, xdg_toplevel and xdg_positioner, which goes through the checks
// of super::guards first.
delegate_global_dispatch!(State: [XdgWmBase: ()] => XdgShellState);
delegate_dispatch!(State: [XdgWmBase: XdgWmBaseUserData] => XdgShellState);
delegate_dispatch!(State: [XdgPopup: XdgShellSurfaceUserData] => XdgShellState);

impl XdgDecorationHandler for State {
    fn new_decoration(&mut self, toplevel: ToplevelSurface) {
        // wsbox prefers to draw the frame itself: it is the sandbox's marking.
        set_decoration(self, &toplevel, DecorationMode::ServerSide);
    }

    fn request_mode(&mut self, toplevel: ToplevelSurface, mode: DecorationMode) {
        set_decoration(self, &toplevel, mode);
    }

    fn unset_mode(&mut self, toplevel: ToplevelSurface) {
        set_decoration(self, &toplevel, DecorationMode::ServerSide);
    }
}
delegate_xdg_decoration!(State);

fn set_decoration(state: &mut State, toplevel: &ToplevelSurface, mode: DecorationMode) {
    toplevel.with_pending_state(|s| s.decoration_mode = Some(mode));
    // The frame changes the space the app gets: place it again.
    if let Some(window) = state.core.window_for(toplevel.wl_surface()) {
        state.core.place(&window);
    }
    if toplevel.is_initial_configure_sent() {
        toplevel.send_pending_configure();
    }
    state.core.needs_redraw = true;
}

/// Called on every commit: initial configures, popups, and centring dialogs
/// once their size is known. `window`: the xdg_toplevel whose own surface
/// this is, if any.
pub(crate) fn handle_commit(state: &mut State, surface: &WlSurface, window: Option<&Window>) {
    if let Some(window) = window {
        let (initial_configure_sent, configured) = with_states(surface, |states| {
            states
                .data_map
                .get::<XdgToplevelSurfaceData>()
                .and_then(|d| {
                    d.lock()
                        .ok()
                        .map(|d| (d.initial_configure_sent, d.configured))
                })
                .unwrap_or((true, true))
        });
        let has_buffer =
            with_renderer_surface_state(surface, |s| s.buffer().is_some()).unwrap_or(false);
        if has_buffer && !configured {
            if let Some(toplevel) = window.toplevel() {
                toplevel.xdg_toplevel().post_error(
                    xdg_surface::Error::UnconfiguredBuffer as u32,
                    "a buffer was committed before the first configure was acknowledged",
                );
            }
            state.core.space.unmap_elem(window);
            state.core.refocus = true;
            return;
        }
        if !initial_configure_sent {
            if let Some(toplevel) = window.toplevel() {
                toplevel.send_configure();
            }
        } else {
            state.core.centre_dialog(window);
            if has_buffer {
                state.core.mark_shown(window);
            }
        }
    }

    state.core.popups.commit(surface);
    if let Some(PopupKind::Xdg(popup)) = state.core.popups.find_popup(surface) {
        if !popup.is_initial_configure_sent() {
            if let Err(err) = popup.send_configure() {
                tracing::debug!(?err, "popup configure refused");
            }
        }
    }
}

/// How deep popups may nest (menus of menus).
const MAX_POPUP_DEPTH: usize = 32;

/// Whether walking from `popup` to its root ends, within the depth limit.
fn popup_chain_is_sound(popup: &PopupSurface) -> bool {
    let start = popup.wl_surface().clone();
    let mut current = popup.get_parent_surface();
    for _ in 0..MAX_POPUP_DEPTH {
        match current {
            None => return true,
            Some(s) if s == start => return false,
            Some(s) => {
                current = with_states(&s, |states| {
                    states
                        .data_map
                        .get::<XdgPopupSurfaceData>()
                        .and_then(|d| d.lock().ok().and_then(|d| d.parent.clone()))
                })
            }
        }
    }
    false
}
