//! The window backend: wsbox as a Wayland client of the user's session. One
//! host xdg_toplevel shows the sandbox's output inside wsbox's host frame,
//! the trusted marking (`crate::marking`), drawn into the same host
//! buffers outside the area the output is rendered into.
//!
//! Rendering is the headless path pointed at host memory: the elements of
//! `crate::render` and a damage tracker render with pixman straight into
//! wl_shm buffers (at most three, reused once the host releases them), only
//! the damaged regions are sent (wl_surface.damage_buffer). A client's new
//! frame is rendered as soon as it is committed, and committed to the host
//! only when the host's frame callback says the last one was used; the
//! clients' frame callbacks go with that commit. So clients draw while the
//! host composites, at the host's pace, and an idle app costs nothing.
//!
//! The parts, each adding to the types below:
//! - `connect.rs`: connecting to the host and creating the window;
//! - `dispatch.rs`: the Dispatch impls, which only queue `HostEvent`s;
//! - `present.rs`: buffers, damage and commits;
//! - `seat.rs`: what the host's seat did to the window (focus, keys and
//!   buttons held inside), and the moves and resizes it asks of the host;
//! - `selection.rs`: the host's clipboard;
//! - `foreign.rs`: the window's handle for the host's other clients
//!   (xdg-foreign), the parent of the host dialogs wsbox asks for.
//!
//! Host events are queued while the connection is dispatched and applied to
//! the compositor afterwards, by `crate::input::host`: the host side never
//! holds the compositor (it takes [`crate::core_state::Core`] only to
//! render), and a later seamless mode (one host window per app window) can
//! reuse the host half without this mirroring.
//!
//! Everything the host sends is checked like client input: odd sizes are
//! clamped, unknown enum values ignored, nothing panics.

use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant};

use smithay::backend::input::AxisSource;
use smithay::backend::renderer::damage::OutputDamageTracker;
use smithay::backend::renderer::element::memory::MemoryRenderBuffer;
use smithay::backend::renderer::pixman::PixmanRenderer;
use smithay::reexports::pixman;
use smithay::utils::{Logical, Point, Rectangle};
use wayland_client::protocol::{
    wl_buffer, wl_data_device, wl_data_device_manager, wl_data_offer, wl_data_source, wl_keyboard,
    wl_output, wl_pointer, wl_seat, wl_shm, wl_surface,
};
use wayland_client::{Connection, EventQueue, QueueHandle};
use wayland_protocols::wp::fractional_scale::v1::client::wp_fractional_scale_v1;
use wayland_protocols::wp::viewporter::client::wp_viewport;
use wayland_protocols::xdg::decoration::zv1::client::zxdg_toplevel_decoration_v1;
use wayland_protocols::xdg::foreign::zv1::client as foreign_v1;
use wayland_protocols::xdg::foreign::zv2::client as foreign_v2;
use wayland_protocols::xdg::shell::client::{xdg_surface, xdg_toplevel};

use crate::marking::HostFrame;

mod connect;
mod dispatch;
mod foreign;
mod ime;
mod present;
mod seat;
mod selection;

pub(crate) use seat::{ButtonRoute, KeyRoute, PointerRoute};

/// The host's text input and what wsbox told it.
#[derive(Debug)]
struct HostIme {
    text_input: wayland_protocols::wp::text_input::zv3::client::zwp_text_input_v3::ZwpTextInputV3,
    /// wsbox enabled it, as of its last commit.
    enabled: bool,
}

/// What the host's text input said since its last `done`.
#[derive(Debug, Default)]
struct PendingIme {
    /// The host sent `enter` for wsbox's window.
    entered: bool,
    preedit: Option<String>,
    commit: Option<String>,
}

/// Host buffers in flight at most.
const MAX_BUFFERS: usize = 3;
/// How often the compositor's clock ticks in window mode: housekeeping, and
/// frame callbacks for clients while the host withholds its own (a hidden
/// window), so they draw slowly instead of not at all.
pub const TICK: Duration = Duration::from_secs(1);

/// Errors of the host connection.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("no host Wayland session: WAYLAND_DISPLAY is not set (use --display headless or --display none)")]
    NoSession,
    #[error("failed to connect to the host Wayland session: {0}")]
    Connect(String),
    #[error("failed to use the host compositor: it lacks {0}")]
    MissingGlobal(&'static str),
    #[error("failed to create a host buffer of {0}x{1}: {2}")]
    Buffer(i32, i32, String),
    #[error("failed to create the pixman renderer: {0}")]
    Renderer(String),
    #[error("lost the connection to the host compositor: {0}")]
    Lost(String),
}

/// What the host asked of wsbox, for the event loop to act on.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct HostStatus {
    /// The user closed the window (host close request or wsbox's close
    /// button): the app has been asked to close; stop it after a grace period.
    pub close_requested: bool,
}

/// A host event, queued during dispatch and applied afterwards. The seam
/// between the host and the compositor: in-process tests feed these to a
/// compositor without a host.
#[derive(Debug)]
pub(crate) enum HostEvent {
    /// xdg_surface.configure, acked; the size of the toplevel's last
    /// configure (0 means "choose").
    Configure(i32, i32),
    /// xdg-decoration's configure: true when the host draws the title bar.
    Decoration(bool),
    Close,
    FrameDone,
    Released,
    ScaleChanged,
    KeyboardEnter {
        serial: u32,
    },
    KeyboardLeave,
    /// What the host's input method composed: a commit, then the new
    /// preedit (each bounded).
    Ime {
        commit: Option<String>,
        preedit: Option<String>,
    },
    /// The host's keymap (XKB text), which the sandbox's seat takes over.
    Keymap(String),
    /// The host's modifier state, in its keymap's terms.
    Modifiers {
        depressed: u32,
        latched: u32,
        locked: u32,
        group: u32,
    },
    Key {
        key: u32,
        pressed: bool,
        serial: u32,
    },
    RepeatInfo {
        rate: i32,
        delay: i32,
    },
    PointerEnter {
        serial: u32,
        x: f64,
        y: f64,
    },
    PointerLeave,
    Motion {
        x: f64,
        y: f64,
    },
    Button {
        serial: u32,
        button: u32,
        pressed: bool,
    },
    Axis(PendingAxis),
}

/// Scroll events of one wl_pointer.frame.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct PendingAxis {
    pub(crate) source: Option<AxisSource>,
    /// Vertical, then horizontal.
    pub(crate) value: [Option<f64>; 2],
    pub(crate) discrete: [Option<i32>; 2],
    pub(crate) stop: [bool; 2],
}

impl PendingAxis {
    fn is_empty(&self) -> bool {
        self.value.iter().all(Option::is_none)
            && self.discrete.iter().all(Option::is_none)
            && !self.stop.iter().any(|s| *s)
    }
}

/// The dispatch state of the host connection: what the Dispatch impls keep
/// between events, and the events they queue for the compositor.
#[derive(Debug)]
struct Host {
    events: Vec<HostEvent>,
    /// The size of the last xdg_toplevel.configure, until its
    /// xdg_surface.configure.
    pending_size: (i32, i32),
    surface: Option<wl_surface::WlSurface>,
    cursor_surface: Option<wl_surface::WlSurface>,
    keyboard: Option<wl_keyboard::WlKeyboard>,
    pointer: Option<wl_pointer::WlPointer>,
    axis: PendingAxis,
    /// Host outputs and their scales.
    outputs: Vec<(wl_output::WlOutput, i32)>,
    /// The outputs the window is on.
    entered: Vec<wl_output::WlOutput>,
    /// wl_surface.preferred_buffer_scale, when the host sends it.
    preferred_scale: Option<i32>,
    /// wp_fractional_scale_v1.preferred_scale (in 120ths), when the host
    /// offers fractional scaling (then wsbox draws through a viewport).
    fractional: Option<u32>,
    /// Host data offers and the MIME types each offers (capped).
    offers: Vec<(wl_data_offer::WlDataOffer, Vec<String>)>,
    /// The host's current selection, one of `offers`.
    selection: Option<wl_data_offer::WlDataOffer>,
    /// wsbox's own host selection (what Ctrl+Shift+C copied), until the
    /// host cancels it.
    source: Option<wl_data_source::WlDataSource>,
    /// The handle the host exported the window under (xdg-foreign).
    exported_handle: Option<String>,
    /// The host's text input's events until its `done`.
    ime: PendingIme,
}

/// One host wl_shm buffer: the whole window, frame included.
struct ShmBuffer {
    /// A pixman view of the output's part of `map`; declared before `map` so
    /// it is dropped first.
    content: pixman::Image<'static, 'static>,
    map: memmap2::MmapMut,
    buffer: wl_buffer::WlBuffer,
    /// Set while the host holds the buffer (from attach to release).
    busy: Arc<AtomicBool>,
    /// Renders into this buffer only, so always at age 1: what it returns
    /// is what changed since this buffer's last render, however many
    /// renders into other buffers (or re-renders of this one) came between.
    /// None for the cursor's buffer, which is drawn once.
    tracker: Option<OutputDamageTracker>,
    /// The frame version drawn into it (0: none).
    marking: u64,
}

impl Drop for ShmBuffer {
    fn drop(&mut self) {
        // The host keeps its own reference to what it shows.
        self.buffer.destroy();
    }
}

/// The host window and everything needed to fill it.
pub struct HostWindow {
    link: Link,
    presenter: Presenter,
    marking: HostFrame,
    seat: HostSeat,
    clipboard: HostClipboard,
}

/// The connection to the host and the window's objects there.
struct Link {
    conn: Connection,
    queue: EventQueue<Host>,
    qh: QueueHandle<Host>,
    host: Host,
    /// Why the connection broke; every later use fails with it.
    lost: Option<String>,
    shm: wl_shm::WlShm,
    seat: Option<wl_seat::WlSeat>,
    surface: wl_surface::WlSurface,
    _xdg_surface: xdg_surface::XdgSurface,
    toplevel: xdg_toplevel::XdgToplevel,
    _decoration: Option<zxdg_toplevel_decoration_v1::ZxdgToplevelDecorationV1>,
    /// The cursor shown over the window, and its buffer.
    _cursor: (wl_surface::WlSurface, Option<ShmBuffer>),
    /// The host window's viewport and fractional scale object, when the
    /// host offers wp_viewporter and wp_fractional_scale_v1.
    viewport: Option<(
        wp_viewport::WpViewport,
        wp_fractional_scale_v1::WpFractionalScaleV1,
    )>,
    /// The host's xdg-foreign exporter, and the window once exported.
    foreign: Foreign,
    /// The host's text input, when the host offers one.
    ime: Option<HostIme>,
}

/// The host buffers and the pacing of frames.
struct Presenter {
    renderer: PixmanRenderer,
    /// Not for rendering: what changed at each render, whichever buffer it
    /// went to, for the host's damage (see `damage`).
    damage_tracker: OutputDamageTracker,
    cursor: MemoryRenderBuffer,
    buffers: Vec<ShmBuffer>,
    /// The last buffer attached.
    shown: Option<usize>,
    /// A buffer rendered and not yet committed: the host is busy with the
    /// last one.
    prepared: Option<usize>,
    /// What the prepared buffer's renders changed, in buffer pixels: the
    /// damage of its commit.
    damage: Vec<Rectangle<i32, smithay::utils::Buffer>>,
    /// The title the host was last sent: the frame's title goes with the
    /// next frame (or tick), so an app changing its title fast does not
    /// flood the host.
    title_sent: String,
    /// The frame or the ack of a configure needs a commit.
    dirty: bool,
    configured: bool,
    frame_pending: Option<Instant>,
    /// The clients' frame callbacks wait for the host's: the last commit
    /// to the host had no new pixels, so nothing of theirs was drawn.
    frames_owed: bool,
    frame_seq: u64,
    /// Frames committed to the host with new pixels.
    frames_rendered: u64,
}

/// The host's seat as it concerns the window.
#[derive(Debug, Default)]
struct HostSeat {
    keyboard_focus: bool,
    /// Bumped at every host keyboard focus enter and leave: a clipboard
    /// transfer lands only in the focus period it started in.
    focus_epoch: u64,
    /// The serial of the last host keyboard event (enter or key), for
    /// setting the host's selection.
    key_serial: u32,
    /// The host keymap last taken over, to skip identical ones.
    keymap: Option<String>,
    /// The host's last modifiers: depressed, latched, locked, group.
    mods: (u32, u32, u32, u32),
    /// evdev keycodes pressed inside, released when the focus leaves.
    keys: Vec<u32>,
    /// Keys of clipboard gestures, held: their releases stay outside too.
    swallowed: Vec<u32>,
    /// The host pointer over the window, in surface coordinates.
    pointer: Option<Point<f64, Logical>>,
    /// Buttons pressed inside the output, released when the pointer leaves.
    buttons: Vec<u32>,
    /// Whether the sandbox's pointer is on its output.
    pointer_inside: bool,
    /// The serial of the last pointer enter or button, for moves and
    /// resizes.
    last_serial: u32,
}

/// The host's clipboard, when the policy lets anything cross.
struct HostClipboard {
    /// The host's data device manager and data device.
    data_device: Option<(
        wl_data_device_manager::WlDataDeviceManager,
        wl_data_device::WlDataDevice,
    )>,
    /// Auto clipboard: the host selection last copied in (or skipped), so
    /// each is copied once.
    imported: Option<wayland_client::backend::ObjectId>,
    /// A MIME type only wsbox's own host selections offer: the host's echo
    /// of what wsbox copied out is not copied back in. Random, so that it
    /// tells other host clients neither the pid nor the sandbox's name.
    own_mime: String,
}

impl std::fmt::Debug for HostWindow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HostWindow")
            .field("content", &self.marking.content())
            .field("scale", &self.marking.scale())
            .field("title", &self.marking.title())
            .field("frames_rendered", &self.presenter.frames_rendered)
            .finish_non_exhaustive()
    }
}

/// The host's exporter, if it offers one.
#[derive(Debug)]
enum Exporter {
    V2(foreign_v2::zxdg_exporter_v2::ZxdgExporterV2),
    V1(foreign_v1::zxdg_exporter_v1::ZxdgExporterV1),
}

/// The window as exported; the handle stays valid while this lives.
#[derive(Debug)]
enum Exported {
    V2(foreign_v2::zxdg_exported_v2::ZxdgExportedV2),
    V1(foreign_v1::zxdg_exported_v1::ZxdgExportedV1),
}

/// The exporter and what it exported.
#[derive(Debug)]
struct Foreign {
    exporter: Option<Exporter>,
    exported: Option<Exported>,
}
