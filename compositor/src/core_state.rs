//! The compositor's core: protocol state, the window space and the output —
//! everything but the backend and the seat. The backends render from it
//! and take nothing else of the compositor, so it must never name
//! [`crate::State`]: that is why the seat, generic over `State`, lives in
//! `State` and not here.

use std::sync::atomic::{AtomicU64, AtomicUsize};
use std::sync::Arc;
use std::time::Instant;

use smithay::desktop::{PopupManager, Space, Window, WindowSurfaceType};
use smithay::input::pointer::CursorImageStatus;
use smithay::output::Output;
use smithay::reexports::calloop::LoopSignal;
use smithay::reexports::wayland_server::protocol::wl_surface::WlSurface;
use smithay::reexports::wayland_server::DisplayHandle;
use smithay::utils::{Clock, Logical, Monotonic, Point};
use smithay::wayland::compositor::CompositorState;
use smithay::wayland::cursor_shape::CursorShapeManagerState;
use smithay::wayland::fractional_scale::FractionalScaleManagerState;
use smithay::wayland::output::OutputManagerState;
use smithay::wayland::presentation::PresentationState;
use smithay::wayland::seat::WaylandFocus;
use smithay::wayland::selection::data_device::DataDeviceState;
use smithay::wayland::selection::primary_selection::PrimarySelectionState;
use smithay::wayland::shell::xdg::decoration::XdgDecorationState;
use smithay::wayland::shell::xdg::XdgShellState;
use smithay::wayland::shm::ShmState;
use smithay::wayland::single_pixel_buffer::SinglePixelBufferState;
use smithay::wayland::viewporter::ViewporterState;
use smithay::wayland::xdg_activation::XdgActivationState;

use crate::clipboard::Transfers;
use crate::config::Config;

/// Protocol state, the window space and the output.
pub struct Core {
    pub display_handle: DisplayHandle,
    pub loop_signal: LoopSignal,
    pub config: Config,
    pub clock: Clock<Monotonic>,
    pub start_time: Instant,

    pub compositor_state: CompositorState,
    pub shm_state: ShmState,
    pub xdg_shell_state: XdgShellState,
    pub xdg_decoration_state: XdgDecorationState,
    pub output_manager_state: OutputManagerState,
    pub data_device_state: DataDeviceState,
    pub primary_selection_state: PrimarySelectionState,
    pub viewporter_state: ViewporterState,
    pub fractional_scale_state: FractionalScaleManagerState,
    pub presentation_state: PresentationState,
    pub xdg_activation_state: XdgActivationState,
    pub cursor_shape_state: CursorShapeManagerState,
    pub single_pixel_buffer_state: SinglePixelBufferState,

    pub space: Space<Window>,
    pub popups: PopupManager,
    pub output: Output,
    pub cursor_status: CursorImageStatus,
    pub pointer_location: Point<f64, Logical>,
    /// Clients currently connected, for `wsbox ps` and the log.
    pub clients: Arc<AtomicUsize>,
    /// Bytes of the wl_shm pools of all clients (crate::limits).
    pub shm_bytes: Arc<AtomicU64>,
    /// Set when something changed that needs a new frame.
    pub needs_redraw: bool,
    /// Set when the keyboard focus must move once the current batch of
    /// requests is handled.
    pub refocus: bool,
    /// Clients connected after the last batch, to notice departures.
    pub last_client_count: usize,
    /// Toplevels that have shown a buffer since the start.
    pub windows_shown: u64,
    /// What `wsbox status` counts.
    pub stats: crate::stats::Stats,
    /// Clipboard transfers between the sandbox and the host.
    pub transfers: Transfers,
    /// The output is shown inside wsbox's frame in a host window (window
    /// mode): windows that fill it need no frame of their own.
    pub host_frame: bool,
    /// The app has left a ping unanswered while wsbox waits for it to
    /// close: the marking says so ([`crate::responsive`]).
    pub not_responding: bool,
    /// Auto clipboard: an app set the selection; offer it to the host after
    /// the batch.
    pub export_selection: bool,
    /// The apps' text inputs, for input methods ([`crate::text_input`]).
    pub text_inputs: crate::text_input::TextInputs,
}

impl std::fmt::Debug for Core {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Core")
            .field("config", &self.config)
            .field("windows", &self.space.elements().count())
            .finish_non_exhaustive()
    }
}

impl Core {
    /// The surface under a point of the output, with its origin.
    pub fn surface_under(
        &self,
        pos: Point<f64, Logical>,
    ) -> Option<(WlSurface, Point<f64, Logical>)> {
        self.space
            .element_under(pos)
            .and_then(|(window, location)| {
                window
                    .surface_under(pos - location.to_f64(), WindowSurfaceType::ALL)
                    .map(|(s, p)| (s, (p + location).to_f64()))
            })
    }

    /// The window whose toplevel surface is `surface`.
    pub fn window_for(&self, surface: &WlSurface) -> Option<Window> {
        self.space
            .elements()
            .find(|w| w.wl_surface().is_some_and(|s| *s == *surface))
            .cloned()
    }
}
