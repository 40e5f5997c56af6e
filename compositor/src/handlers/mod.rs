//! Protocol handlers: each `impl XHandler for State` sits next to its
//! `delegate_x!`; the big ones have files of their own.
//!
//! Handlers see hostile input. They look things up and ignore what does not
//! fit; they never unwrap on client data.

mod compositor;
mod guards;
mod text_input;
mod xdg_shell;
mod xwm;

use smithay::input::pointer::CursorImageStatus;
use smithay::input::{Seat, SeatHandler, SeatState};
use smithay::reexports::wayland_protocols::wp::primary_selection::zv1::server::{
    zwp_primary_selection_device_manager_v1::ZwpPrimarySelectionDeviceManagerV1,
    zwp_primary_selection_device_v1::ZwpPrimarySelectionDeviceV1,
};
use smithay::reexports::wayland_server::protocol::wl_data_device::WlDataDevice;
use smithay::reexports::wayland_server::protocol::wl_data_device_manager::WlDataDeviceManager;
use smithay::reexports::wayland_server::protocol::wl_surface::WlSurface;
use smithay::reexports::wayland_server::{delegate_dispatch, delegate_global_dispatch, Resource};
use smithay::wayland::compositor::with_states;
use smithay::wayland::fractional_scale::{with_fractional_scale, FractionalScaleHandler};
use smithay::wayland::output::OutputHandler;
use smithay::wayland::selection::data_device::{
    set_data_device_focus, ClientDndGrabHandler, DataDeviceHandler, DataDeviceState,
    DataDeviceUserData, ServerDndGrabHandler,
};
use smithay::wayland::selection::primary_selection::{
    set_primary_focus, PrimaryDeviceManagerGlobalData, PrimaryDeviceUserData,
    PrimarySelectionHandler, PrimarySelectionState,
};
use smithay::wayland::selection::{SelectionHandler, SelectionTarget};
use smithay::wayland::tablet_manager::TabletSeatHandler;
use smithay::wayland::xdg_activation::{
    XdgActivationHandler, XdgActivationState, XdgActivationToken, XdgActivationTokenData,
};
use smithay::{
    delegate_cursor_shape, delegate_fractional_scale, delegate_output, delegate_presentation,
    delegate_seat, delegate_single_pixel_buffer, delegate_viewporter, delegate_xdg_activation,
};

use crate::state::State;

impl SeatHandler for State {
    type KeyboardFocus = WlSurface;
    type PointerFocus = WlSurface;
    type TouchFocus = WlSurface;

    fn seat_state(&mut self) -> &mut SeatState<State> {
        &mut self.seat_state
    }

    fn cursor_image(&mut self, _seat: &Seat<Self>, image: CursorImageStatus) {
        self.core.cursor_status = image;
        self.core.needs_redraw = true;
    }

    fn focus_changed(&mut self, seat: &Seat<Self>, focused: Option<&WlSurface>) {
        // The clipboard follows the keyboard focus, inside this sandbox only.
        let dh = &self.core.display_handle;
        let client = focused.and_then(|s| dh.get_client(s.id()).ok());
        set_data_device_focus(dh, seat, client.clone());
        set_primary_focus(dh, seat, client);
        // Input methods compose in the focused surface only.
        self.core.text_inputs.set_focus(focused);
    }
}
delegate_seat!(State);

impl TabletSeatHandler for State {}
delegate_cursor_shape!(State);

impl SelectionHandler for State {
    /// The text wsbox pasted in from the host (the only selection it sets).
    type SelectionUserData = crate::clipboard::Owner;

    fn new_selection(
        &mut self,
        ty: SelectionTarget,
        source: Option<smithay::wayland::selection::SelectionSource>,
        _seat: Seat<Self>,
    ) {
        // X11 clients see what the Wayland clients offer.
        let mimes = source.as_ref().map(|s| s.mime_types());
        self.x11_offer_selection(ty, mimes);
        // Only the clipboard may cross, and only in auto mode.
        if ty == SelectionTarget::Clipboard && source.is_some() {
            self.sandbox_selection_changed();
        } else if ty == SelectionTarget::Primary && source.is_some() {
            self.core.stats.clipboard.kept_inside += 1;
        }
    }

    fn send_selection(
        &mut self,
        ty: SelectionTarget,
        mime_type: String,
        fd: std::os::fd::OwnedFd,
        _seat: Seat<Self>,
        // The current owner's, which read_selection finds itself.
        _user_data: &Self::SelectionUserData,
    ) {
        if let Err(err) = self.read_selection(ty, mime_type, fd) {
            tracing::debug!(%err, "selection not sent");
        }
    }
}

impl DataDeviceHandler for State {
    fn data_device_state(&self) -> &DataDeviceState {
        &self.core.data_device_state
    }
}
impl ClientDndGrabHandler for State {}
impl ServerDndGrabHandler for State {}
// wl_data_source goes through the mime-type cap of guards.rs first.
delegate_global_dispatch!(State: [WlDataDeviceManager: ()] => DataDeviceState);
delegate_dispatch!(State: [WlDataDeviceManager: ()] => DataDeviceState);
delegate_dispatch!(State: [WlDataDevice: DataDeviceUserData] => DataDeviceState);

impl PrimarySelectionHandler for State {
    fn primary_selection_state(&self) -> &PrimarySelectionState {
        &self.core.primary_selection_state
    }
}
// zwp_primary_selection_source_v1 goes through the mime-type cap of
// guards.rs first.
delegate_global_dispatch!(State: [
    ZwpPrimarySelectionDeviceManagerV1: PrimaryDeviceManagerGlobalData
] => PrimarySelectionState);
delegate_dispatch!(State: [ZwpPrimarySelectionDeviceManagerV1: ()] => PrimarySelectionState);
delegate_dispatch!(State: [
    ZwpPrimarySelectionDeviceV1: PrimaryDeviceUserData
] => PrimarySelectionState);

impl OutputHandler for State {}
delegate_output!(State);

delegate_viewporter!(State);
delegate_presentation!(State);
delegate_single_pixel_buffer!(State);

impl FractionalScaleHandler for State {
    fn new_fractional_scale(&mut self, surface: WlSurface) {
        let scale = self.core.output.current_scale().fractional_scale();
        with_states(&surface, |states| {
            with_fractional_scale(states, |fractional| {
                fractional.set_preferred_scale(scale);
            });
        });
    }
}
delegate_fractional_scale!(State);

impl XdgActivationHandler for State {
    fn activation_state(&mut self) -> &mut XdgActivationState {
        &mut self.core.xdg_activation_state
    }

    /// Only a token minted during a recent key press of the focused client is
    /// valid: an app cannot steal focus with a token it made up.
    fn token_created(&mut self, _token: XdgActivationToken, data: XdgActivationTokenData) -> bool {
        // Tokens are kept until used, and the focused client may mint any
        // number with one serial: expired ones go, and at most
        // MAX_ACTIVATION_TOKENS live.
        let state = &mut self.core.xdg_activation_state;
        state
            .retain_tokens(|_, d| d.timestamp.elapsed() < crate::limits::ACTIVATION_TOKEN_LIFETIME);
        if state.tokens().count() >= crate::limits::MAX_ACTIVATION_TOKENS {
            return false;
        }
        let Some((serial, seat)) = data.serial else {
            return false;
        };
        let Some(keyboard) = self.seat.get_keyboard() else {
            return false;
        };
        Seat::from_resource(&seat).as_ref() == Some(&self.seat)
            && keyboard
                .last_enter()
                .is_some_and(|last| serial.is_no_older_than(&last))
    }

    fn request_activation(
        &mut self,
        _token: XdgActivationToken,
        data: XdgActivationTokenData,
        surface: WlSurface,
    ) {
        if data.timestamp.elapsed() >= crate::limits::ACTIVATION_TOKEN_LIFETIME {
            return;
        }
        if let Some(window) = self.core.window_for(&surface) {
            self.core.space.raise_element(&window, true);
            self.focus_top();
            self.core.needs_redraw = true;
        }
    }
}
delegate_xdg_activation!(State);
