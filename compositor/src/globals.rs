//! The allowlist: which globals exist, at which versions. Nothing outside this
//! list is ever created, so no client of a sandbox can even name a screen
//! capture, input injection or clipboard-manager protocol.
//!
//! The versions are the ones smithay 0.7 implements completely; a test checks
//! that a client's registry shows exactly this list.

use smithay::reexports::wayland_server::DisplayHandle;
use smithay::wayland::compositor::CompositorState;
use smithay::wayland::cursor_shape::CursorShapeManagerState;
use smithay::wayland::fractional_scale::FractionalScaleManagerState;
use smithay::wayland::output::OutputManagerState;
use smithay::wayland::presentation::PresentationState;
use smithay::wayland::selection::data_device::DataDeviceState;
use smithay::wayland::selection::primary_selection::PrimarySelectionState;
use smithay::wayland::shell::xdg::decoration::XdgDecorationState;
use smithay::wayland::shell::xdg::XdgShellState;
use smithay::wayland::shm::ShmState;
use smithay::wayland::single_pixel_buffer::SinglePixelBufferState;
use smithay::wayland::viewporter::ViewporterState;
use smithay::wayland::xdg_activation::XdgActivationState;

use crate::state::State;

/// Every global a sandboxed client can see: interface name and version.
pub const OFFERED: &[(&str, u32)] = &[
    ("wl_compositor", 6),
    ("wl_subcompositor", 1),
    ("wl_shm", 2),
    ("wl_seat", 9),
    ("wl_output", 4),
    ("wl_data_device_manager", 3),
    ("zwp_primary_selection_device_manager_v1", 1),
    ("xdg_wm_base", 6),
    ("zxdg_decoration_manager_v1", 1),
    ("wp_viewporter", 1),
    ("wp_fractional_scale_manager_v1", 1),
    ("wp_presentation", 2),
    ("xdg_activation_v1", 1),
    ("wp_cursor_shape_manager_v1", 2),
    ("wp_single_pixel_buffer_manager_v1", 1),
    ("zxdg_output_manager_v1", 3),
    ("zwp_text_input_manager_v3", 1),
];

/// Globals that must never be offered (docs/security.md, "The Wayland surface").
pub const NEVER_OFFERED: &[&str] = &[
    "zwlr_screencopy_manager_v1",
    "ext_image_copy_capture_manager_v1",
    "ext_output_image_capture_source_manager_v1",
    "zwlr_export_dmabuf_manager_v1",
    "zwlr_data_control_manager_v1",
    "ext_data_control_manager_v1",
    "zwp_virtual_keyboard_manager_v1",
    "zwlr_virtual_pointer_manager_v1",
    "zwp_input_method_manager_v2",
    "ext_foreign_toplevel_list_v1",
    "zwlr_foreign_toplevel_manager_v1",
    "zwlr_layer_shell_v1",
    "ext_session_lock_manager_v1",
    "zwlr_gamma_control_manager_v1",
    "zwlr_output_manager_v1",
    "zwlr_output_power_manager_v1",
    "zwlr_input_inhibit_manager_v1",
    "zwp_keyboard_shortcuts_inhibit_manager_v1",
    "wp_drm_lease_device_v1",
    "wp_security_context_manager_v1",
    "zwp_xwayland_keyboard_grab_manager_v1",
    "ext_transient_seat_manager_v1",
];

/// The protocol states of the allowlisted globals (wl_seat and wl_output are
/// created with the seat and the output).
#[derive(Debug)]
pub struct Globals {
    pub compositor: CompositorState,
    pub shm: ShmState,
    pub xdg_shell: XdgShellState,
    pub xdg_decoration: XdgDecorationState,
    pub output_manager: OutputManagerState,
    pub data_device: DataDeviceState,
    pub primary_selection: PrimarySelectionState,
    pub viewporter: ViewporterState,
    pub fractional_scale: FractionalScaleManagerState,
    pub presentation: PresentationState,
    pub xdg_activation: XdgActivationState,
    pub cursor_shape: CursorShapeManagerState,
    pub single_pixel_buffer: SinglePixelBufferState,
    /// zwp_text_input_manager_v3 ([`crate::text_input`]).
    pub text_input: smithay::reexports::wayland_server::backend::GlobalId,
}

/// Creates the allowlisted globals.
pub fn create(dh: &DisplayHandle) -> Globals {
    // No extra formats: ARGB8888 and XRGB8888 are what pixman renders.
    let shm = ShmState::new::<State>(dh, vec![]);
    Globals {
        compositor: CompositorState::new_v6::<State>(dh),
        shm,
        xdg_shell: XdgShellState::new::<State>(dh),
        xdg_decoration: XdgDecorationState::new::<State>(dh),
        output_manager: OutputManagerState::new_with_xdg_output::<State>(dh),
        data_device: DataDeviceState::new::<State>(dh),
        primary_selection: PrimarySelectionState::new::<State>(dh),
        viewporter: ViewporterState::new::<State>(dh),
        fractional_scale: FractionalScaleManagerState::new::<State>(dh),
        presentation: PresentationState::new::<State>(dh, libc_clock_monotonic()),
        xdg_activation: XdgActivationState::new::<State>(dh),
        cursor_shape: CursorShapeManagerState::new::<State>(dh),
        single_pixel_buffer: SinglePixelBufferState::new::<State>(dh),
        text_input: dh.create_global::<State, smithay::reexports::wayland_protocols::wp::text_input::zv3::server::zwp_text_input_manager_v3::ZwpTextInputManagerV3, ()>(1, ()),
    }
}

/// CLOCK_MONOTONIC's id, which wp_presentation announces.
fn libc_clock_monotonic() -> u32 {
    1
}
