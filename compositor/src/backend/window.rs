//! The window backend: wsbox as a Wayland client of the user's session. One
//! host xdg_toplevel shows the sandbox's output inside wsbox's own frame —
//! the trusted marking: a border and a title bar in the policy's colour with
//! `[wsbox:<name>] <title>` and a close button (when the policy lets the host
//! draw the title bar, a thinner strip with the same title instead, so the
//! marking never depends on the host showing one). wsbox draws the frame into
//! the same host buffers, outside the area the output is rendered into, so
//! nothing an app draws can cover it, on any host (GNOME included).
//!
//! Rendering is the headless path pointed at host memory: [`render::elements`]
//! and a damage tracker render with pixman straight into wl_shm buffers (at
//! most three, reused once the host releases them), only the damaged regions
//! are sent (wl_surface.damage_buffer). A client's new frame is rendered as
//! soon as it is committed, and committed to the host only when the host's
//! frame callback says the last one was used; the clients' frame callbacks
//! go with that commit. So clients draw while the host composites, at the
//! host's pace, and an idle app costs nothing.
//!
//! Host events are queued while the connection is dispatched and applied to
//! the compositor afterwards ([`State::dispatch_host`]): the host side never
//! holds the compositor, and a later seamless mode (one host window per app
//! window) can reuse the host half without this mirroring.
//!
//! Everything the host sends is checked like client input: odd sizes are
//! clamped, unknown enum values ignored, nothing panics.

use std::fs::File;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use smithay::backend::input::{Axis, AxisSource};
use smithay::backend::renderer::damage::OutputDamageTracker;
use smithay::backend::renderer::element::memory::MemoryRenderBuffer;
use smithay::backend::renderer::pixman::PixmanRenderer;
use smithay::backend::renderer::Bind;
use smithay::input::pointer::AxisFrame;
use smithay::output::Output;
use smithay::reexports::pixman;
use smithay::utils::{Logical, Point, Rectangle};
use wayland_client::globals::{registry_queue_init, GlobalListContents};
use wayland_client::protocol::{
    wl_buffer, wl_callback, wl_compositor, wl_data_device, wl_data_device_manager, wl_data_offer,
    wl_data_source, wl_keyboard, wl_output, wl_pointer, wl_registry, wl_seat, wl_shm, wl_shm_pool,
    wl_surface,
};
use wayland_client::{
    delegate_noop, event_created_child, Connection, Dispatch, EventQueue, Proxy, QueueHandle, WEnum,
};
use wayland_protocols::wp::fractional_scale::v1::client::{
    wp_fractional_scale_manager_v1, wp_fractional_scale_v1,
};
use wayland_protocols::wp::viewporter::client::{wp_viewport, wp_viewporter};
use wayland_protocols::xdg::decoration::zv1::client::{
    zxdg_decoration_manager_v1, zxdg_toplevel_decoration_v1,
};
use wayland_protocols::xdg::shell::client::{xdg_surface, xdg_toplevel, xdg_wm_base};

use crate::clipboard;
use crate::config::Config;
use crate::core_state::Core;
use crate::marking;
use crate::render;
use crate::screenshot;
use crate::state::State;

/// Width of wsbox's border around the output, in logical pixels.
pub const BORDER: i32 = 4;
/// Height of wsbox's title bar above the output, in logical pixels.
pub const TITLE_HEIGHT: i32 = 28;
/// Height of wsbox's strip above the output when the host draws the title
/// bar (host_decorations = "server"): the marking stays wsbox's own even
/// where the host shows no title bar (borderless, fullscreen, tiled).
pub const STRIP_HEIGHT: i32 = 16;
/// Side of the close button in the title bar, in logical pixels.
pub const CLOSE_SIZE: i32 = 20;
/// The smallest output a host window may shrink the sandbox to.
const MIN_CONTENT: i32 = 16;
/// Host buffers in flight at most.
const MAX_BUFFERS: usize = 3;
/// How long the frame flashes to confirm a clipboard transfer.
const FLASH: Duration = Duration::from_millis(300);
/// Title text size at scale 1.
const TITLE_PX: f32 = 16.0;
/// Strip text size at scale 1.
const STRIP_PX: f32 = 12.0;
/// The longest host title, in characters.
pub const HOST_TITLE_MAX: usize = 128;
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

/// `[wsbox:<name>] <title>` for the host: printable characters only, at most
/// [`HOST_TITLE_MAX`] characters in all.
pub fn host_title(name: &str, title: &str) -> String {
    marking::marked_title(name, title)
        .chars()
        .take(HOST_TITLE_MAX)
        .collect()
}

/// 128 random bits in hex, from the OS's randomness (std seeds its hash
/// keys with getrandom; no extra dependency, and nothing to open).
fn random_token() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut token = String::new();
    for _ in 0..2 {
        let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
        hasher.write_u8(0);
        token.push_str(&format!("{:016x}", hasher.finish()));
    }
    token
}

/// A host event, queued during dispatch and applied afterwards.
#[derive(Debug)]
enum HostEvent {
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
struct PendingAxis {
    source: Option<AxisSource>,
    value: [Option<f64>; 2],
    discrete: [Option<i32>; 2],
    stop: [bool; 2],
}

impl PendingAxis {
    fn is_empty(&self) -> bool {
        self.value.iter().all(Option::is_none)
            && self.discrete.iter().all(Option::is_none)
            && !self.stop.iter().any(|s| *s)
    }
}

/// The dispatch state of the host connection.
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
}

impl Host {
    /// The scale for the window's buffers: the host's fractional
    /// preference, else its integer one, else the largest scale of the
    /// outputs it is on.
    fn scale(&self) -> f64 {
        if let Some(f) = self.fractional {
            return (f64::from(f) / 120.0).clamp(0.5, 4.0);
        }
        f64::from(self.integer_scale())
    }

    fn integer_scale(&self) -> i32 {
        if let Some(scale) = self.preferred_scale {
            return scale.clamp(1, 4);
        }
        self.entered
            .iter()
            .filter_map(|o| self.outputs.iter().find(|(out, _)| out == o))
            .map(|(_, scale)| *scale)
            .max()
            .unwrap_or(1)
            .clamp(1, 4)
    }
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
    /// The marking version drawn into it (0: none).
    marking: u64,
}

impl Drop for ShmBuffer {
    fn drop(&mut self) {
        // The host keeps its own reference to what it shows.
        self.buffer.destroy();
    }
}

/// Where a point of the host window is.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Hit {
    Content(Point<f64, Logical>),
    Close,
    Title,
    Edge(xdg_toplevel::ResizeEdge),
}

/// The host window and everything needed to fill it.
pub struct HostWindow {
    conn: Connection,
    queue: EventQueue<Host>,
    qh: QueueHandle<Host>,
    host: Host,
    shm: wl_shm::WlShm,
    seat: Option<wl_seat::WlSeat>,
    surface: wl_surface::WlSurface,
    _xdg_surface: xdg_surface::XdgSurface,
    toplevel: xdg_toplevel::XdgToplevel,
    _decoration: Option<zxdg_toplevel_decoration_v1::ZxdgToplevelDecorationV1>,
    /// The cursor shown over the window, and its buffer.
    _cursor: (wl_surface::WlSurface, Option<ShmBuffer>),

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
    /// The output's size in buffer pixels.
    content: (i32, i32),
    /// The host's scale: integer (wl_surface.set_buffer_scale), or
    /// fractional when `viewport` is there.
    scale: f64,
    /// The host window's viewport and fractional scale object, when the
    /// host offers wp_viewporter and wp_fractional_scale_v1.
    viewport: Option<(
        wp_viewport::WpViewport,
        wp_fractional_scale_v1::WpFractionalScaleV1,
    )>,
    /// The policy lets the host draw the title bar (host_decorations).
    want_ssd: bool,
    /// The host draws the title bar: wsbox's frame is its border and a strip
    /// with the marked title.
    ssd: bool,

    name: String,
    color: [u8; 3],
    title: String,
    /// The title the host was last sent: `title` goes with the next frame
    /// (or tick), so an app changing its title fast does not flood the host.
    title_sent: String,
    /// Bumped when the frame must be redrawn (title, size, scale).
    marking_version: u64,
    /// The frame or the ack of a configure needs a commit.
    dirty: bool,
    configured: bool,
    frame_pending: Option<Instant>,
    /// The clients' frame callbacks wait for the host's: the last commit
    /// to the host had no new pixels, so nothing of theirs was drawn.
    frames_owed: bool,

    /// evdev keycodes pressed inside, released when the focus leaves.
    keys: Vec<u32>,
    /// Keys of clipboard gestures, held: their releases stay outside too.
    swallowed: Vec<u32>,
    /// The host's data device manager and data device, when the policy
    /// lets the clipboard cross by gesture.
    data_device: Option<(
        wl_data_device_manager::WlDataDeviceManager,
        wl_data_device::WlDataDevice,
    )>,
    /// Until when the frame flashes.
    flash_until: Option<Instant>,
    keyboard_focus: bool,
    /// Bumped at every host keyboard focus enter and leave: a clipboard
    /// transfer lands only in the focus period it started in.
    focus_epoch: u64,
    /// The serial of the last host keyboard event (enter or key), for
    /// setting the host's selection in auto mode.
    key_serial: u32,
    /// Auto clipboard: the host selection last copied in (or skipped), so
    /// each is copied once.
    imported: Option<wayland_client::backend::ObjectId>,
    /// A MIME type only wsbox's own host selections offer: the host's echo
    /// of what wsbox copied out is not copied back in. Random, so that it
    /// tells other host clients neither the pid nor the sandbox's name.
    own_mime: String,
    /// The host keymap last taken over, to skip identical ones.
    keymap: Option<String>,
    /// The host's last modifiers: depressed, latched, locked, group.
    host_mods: (u32, u32, u32, u32),
    /// The host pointer over the window, in surface coordinates.
    pointer: Option<Point<f64, Logical>>,
    /// Buttons pressed inside the output, released when the pointer leaves.
    buttons: Vec<u32>,
    /// Whether the sandbox's pointer is on its output.
    pointer_inside: bool,
    last_serial: u32,
    lost: Option<String>,
    frame_seq: u64,
    /// Frames committed to the host with new pixels.
    pub frames_rendered: u64,
}

impl std::fmt::Debug for HostWindow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HostWindow")
            .field("content", &self.content)
            .field("scale", &self.scale)
            .field("title", &self.title)
            .field("frames_rendered", &self.frames_rendered)
            .finish_non_exhaustive()
    }
}

impl HostWindow {
    /// Connects to the host session of this process and creates the window
    /// (not yet shown: that waits for the host's first configure).
    pub fn connect(output: &Output, config: &Config) -> Result<Self, Error> {
        if std::env::var_os("WAYLAND_DISPLAY").is_none_or(|d| d.is_empty())
            && std::env::var_os("WAYLAND_SOCKET").is_none()
        {
            return Err(Error::NoSession);
        }
        let conn = Connection::connect_to_env().map_err(|e| Error::Connect(e.to_string()))?;
        let (globals, mut queue) =
            registry_queue_init::<Host>(&conn).map_err(|e| Error::Connect(e.to_string()))?;
        let qh = queue.handle();
        let compositor: wl_compositor::WlCompositor = globals
            .bind(&qh, 4..=6, ())
            .map_err(|_| Error::MissingGlobal("wl_compositor (version 4)"))?;
        let shm: wl_shm::WlShm = globals
            .bind(&qh, 1..=1, ())
            .map_err(|_| Error::MissingGlobal("wl_shm"))?;
        let wm_base: xdg_wm_base::XdgWmBase = globals
            .bind(&qh, 1..=5, ())
            .map_err(|_| Error::MissingGlobal("xdg_wm_base"))?;
        let decorations: Option<zxdg_decoration_manager_v1::ZxdgDecorationManagerV1> =
            globals.bind(&qh, 1..=1, ()).ok();
        // Version 7 at most: axis_discrete, not axis_value120.
        let seat: Option<wl_seat::WlSeat> = globals.bind(&qh, 1..=7, ()).ok();
        // The host clipboard, for the gestures or the auto mode only; no
        // drag and drop.
        let data_device = if config.clipboard.crosses() {
            let manager: Option<wl_data_device_manager::WlDataDeviceManager> =
                globals.bind(&qh, 1..=3, ()).ok();
            manager.zip(seat.as_ref()).map(|(manager, seat)| {
                let device = manager.get_data_device(seat, &qh, ());
                (manager, device)
            })
        } else {
            None
        };
        let mut outputs = Vec::new();
        globals.contents().with_list(|list| {
            for global in list.iter().filter(|g| g.interface == "wl_output") {
                let output: wl_output::WlOutput =
                    globals
                        .registry()
                        .bind(global.name, global.version.min(3), &qh, ());
                outputs.push((output, 1));
            }
        });

        let surface = compositor.create_surface(&qh, ());
        // Fractional scales need both: the buffer at the real size, shown
        // at the logical size.
        let fractional: Option<wp_fractional_scale_manager_v1::WpFractionalScaleManagerV1> =
            globals.bind(&qh, 1..=1, ()).ok();
        let viewporter: Option<wp_viewporter::WpViewporter> = globals.bind(&qh, 1..=1, ()).ok();
        let viewport = fractional.zip(viewporter).map(|(manager, viewporter)| {
            (
                viewporter.get_viewport(&surface, &qh, ()),
                manager.get_fractional_scale(&surface, &qh, ()),
            )
        });
        let xdg_surface = wm_base.get_xdg_surface(&surface, &qh, ());
        let toplevel = xdg_surface.get_toplevel(&qh, ());
        let title = host_title(&config.name, "");
        toplevel.set_title(title.clone());
        toplevel.set_app_id(format!("wsbox.{}", config.name));
        toplevel.set_min_size(
            2 * BORDER + MIN_CONTENT.max(CLOSE_SIZE + 16),
            TITLE_HEIGHT + BORDER + MIN_CONTENT,
        );
        // wsbox always draws its own border (the marking must not depend
        // on the host). The title bar is wsbox's too unless the policy lets
        // a host that offers server-side decorations draw it; otherwise the
        // host is asked not to add a second one.
        let decoration = decorations.map(|manager| {
            let decoration = manager.get_toplevel_decoration(&toplevel, &qh, ());
            decoration.set_mode(if config.host_decorations {
                zxdg_toplevel_decoration_v1::Mode::ServerSide
            } else {
                zxdg_toplevel_decoration_v1::Mode::ClientSide
            });
            decoration
        });
        surface.commit();

        let cursor_surface = compositor.create_surface(&qh, ());
        let (pixels, w, h) = render::arrow_pixels();
        let cursor_buffer = match ShmBuffer::new(&shm, &qh, w, h, (0, 0), (w, h)) {
            Ok(mut buffer) => {
                buffer.map[..pixels.len()].copy_from_slice(&pixels);
                cursor_surface.attach(Some(&buffer.buffer), 0, 0);
                cursor_surface.damage_buffer(0, 0, w, h);
                cursor_surface.commit();
                Some(buffer)
            }
            Err(err) => {
                tracing::warn!(%err, "no cursor over the window");
                None
            }
        };

        let mut host = Host {
            events: Vec::new(),
            pending_size: (0, 0),
            surface: Some(surface.clone()),
            cursor_surface: Some(cursor_surface.clone()),
            keyboard: None,
            pointer: None,
            axis: PendingAxis::default(),
            outputs,
            entered: Vec::new(),
            preferred_scale: None,
            fractional: None,
            offers: Vec::new(),
            selection: None,
            source: None,
        };
        // Seat capabilities and output scales arrive now; a host that
        // refuses the window fails here, before the sandbox starts.
        queue
            .roundtrip(&mut host)
            .map_err(|e| Error::Connect(e.to_string()))?;

        let renderer = PixmanRenderer::new().map_err(|e| Error::Renderer(e.to_string()))?;
        let size = output
            .current_mode()
            .map_or(config.size, |m| (m.size.w, m.size.h));
        tracing::info!(title = %title, width = size.0, height = size.1, "host window created");
        Ok(Self {
            conn,
            queue,
            qh,
            host,
            shm,
            seat,
            surface,
            _xdg_surface: xdg_surface,
            toplevel,
            _decoration: decoration,
            _cursor: (cursor_surface, cursor_buffer),
            renderer,
            damage_tracker: OutputDamageTracker::from_output(output),
            cursor: render::arrow_cursor(),
            buffers: Vec::new(),
            shown: None,
            prepared: None,
            damage: Vec::new(),
            content: size,
            scale: 1.0,
            viewport,
            want_ssd: config.host_decorations,
            ssd: false,
            name: config.name.clone(),
            color: config.color,
            title_sent: title.clone(),
            title,
            marking_version: 1,
            dirty: true,
            configured: false,
            frame_pending: None,
            frames_owed: false,
            keys: Vec::new(),
            swallowed: Vec::new(),
            data_device,
            flash_until: None,
            keyboard_focus: false,
            focus_epoch: 0,
            key_serial: 0,
            imported: None,
            own_mime: format!("application/x-wsbox-{}", random_token()),
            keymap: None,
            host_mods: (0, 0, 0, 0),
            pointer: None,
            buttons: Vec::new(),
            pointer_inside: false,
            last_serial: 0,
            lost: None,
            frame_seq: 0,
            frames_rendered: 0,
        })
    }

    /// A duplicate of the connection's fd, for the event loop to poll.
    pub fn poll_fd(&self) -> Result<OwnedFd, Error> {
        self.conn
            .backend()
            .poll_fd()
            .try_clone_to_owned()
            .map_err(|e| Error::Connect(format!("failed to duplicate its fd: {e}")))
    }

    /// The window's size in logical pixels, frame included.
    fn window_size(&self) -> (i32, i32) {
        let (w, h) = self.content_logical();
        (w + 2 * BORDER, h + self.top() + BORDER)
    }

    /// The height of wsbox's frame above the output: its title bar, or
    /// its thinner strip (the marked title, no buttons) when the host draws
    /// the title bar.
    fn top(&self) -> i32 {
        if self.ssd {
            STRIP_HEIGHT
        } else {
            TITLE_HEIGHT
        }
    }

    fn content_logical(&self) -> (i32, i32) {
        (
            (f64::from(self.content.0) / self.scale).round() as i32,
            (f64::from(self.content.1) / self.scale).round() as i32,
        )
    }

    /// `v` logical pixels in buffer pixels.
    fn px(&self, v: i32) -> i32 {
        (f64::from(v) * self.scale).round() as i32
    }

    /// The whole window's buffer size: the output plus the frame.
    fn buffer_size(&self) -> (i32, i32) {
        (
            self.content.0 + 2 * self.px(BORDER),
            self.content.1 + self.px(self.top()) + self.px(BORDER),
        )
    }

    /// Follows a new size of the output: new buffers, the frame redrawn.
    pub fn resize(&mut self, output: &Output) -> Result<(), String> {
        let mode = output
            .current_mode()
            .ok_or_else(|| "the output has no mode".to_owned())?;
        self.content = (mode.size.w, mode.size.h);
        self.drop_buffers();
        self.damage_tracker = OutputDamageTracker::from_output(output);
        self.marking_version += 1;
        self.dirty = true;
        Ok(())
    }

    /// Reads and dispatches what the host sent; the events for the
    /// compositor are returned.
    fn read_events(&mut self) -> Result<Vec<HostEvent>, Error> {
        if let Some(lost) = &self.lost {
            return Err(Error::Lost(lost.clone()));
        }
        let result = (|| {
            if let Some(guard) = self.queue.prepare_read() {
                match guard.read() {
                    Ok(_) => {}
                    Err(wayland_client::backend::WaylandError::Io(e))
                        if e.kind() == std::io::ErrorKind::WouldBlock => {}
                    Err(e) => return Err(e.to_string()),
                }
            }
            self.queue
                .dispatch_pending(&mut self.host)
                .map_err(|e| e.to_string())
        })();
        if let Err(e) = result {
            self.lost = Some(e.clone());
            return Err(Error::Lost(e));
        }
        Ok(std::mem::take(&mut self.host.events))
    }

    /// Sends what is queued to the host.
    fn flush(&mut self) -> Result<(), Error> {
        if let Some(lost) = &self.lost {
            return Err(Error::Lost(lost.clone()));
        }
        match self.conn.flush() {
            Ok(()) => Ok(()),
            Err(wayland_client::backend::WaylandError::Io(e))
                if e.kind() == std::io::ErrorKind::WouldBlock =>
            {
                Ok(())
            }
            Err(e) => {
                self.lost = Some(e.to_string());
                Err(Error::Lost(e.to_string()))
            }
        }
    }

    /// The slow tick: housekeeping, and frame callbacks for clients while the
    /// host has not answered for a while.
    pub fn tick(&mut self, core: &mut Core) {
        core.space.refresh();
        core.popups.cleanup();
        let stalled = self
            .frame_pending
            .is_none_or(|since| since.elapsed() >= TICK);
        if stalled {
            render::send_frames(core);
            self.send_title();
        }
    }

    /// A buffer the host does not hold, of the current size; made when
    /// there are fewer than [`MAX_BUFFERS`].
    fn free_buffer(&mut self, output: &Output) -> Result<Option<usize>, Error> {
        if let Some(i) = self
            .buffers
            .iter()
            .position(|b| !b.busy.load(Ordering::Acquire))
        {
            return Ok(Some(i));
        }
        if self.buffers.len() >= MAX_BUFFERS {
            return Ok(None);
        }
        let (w, h) = self.buffer_size();
        let mut buffer = ShmBuffer::new(
            &self.shm,
            &self.qh,
            w,
            h,
            (self.px(BORDER), self.px(self.top())),
            self.content,
        )?;
        buffer.tracker = Some(OutputDamageTracker::from_output(output));
        self.buffers.push(buffer);
        Ok(Some(self.buffers.len() - 1))
    }

    /// Renders what changed into a buffer the host does not hold, at once,
    /// and commits it when the host is ready for a frame; otherwise does
    /// nothing.
    ///
    /// Rendering does not wait for the host: while the host composites one
    /// frame, the next is copied into another buffer, so that the host's
    /// frame callback is answered with a bare commit. Only one frame is
    /// rendered ahead: later commits wait for the host. The clients' frame
    /// callbacks go out with that commit (as weston does nested: when it
    /// repaints, not when the host shows the result), so a client draws
    /// while the host composites, and each of its frames reaches the host,
    /// at the host's pace.
    pub fn render_frame(&mut self, core: &mut Core) {
        if !self.configured || self.lost.is_some() {
            return;
        }
        if let Some(until) = self.flash_until {
            // Keep committing while the flash lasts, then redraw the frame.
            if self.frame_pending.is_none() {
                if Instant::now() >= until {
                    self.flash_until = None;
                    self.marking_version += 1;
                }
                self.dirty = true;
            }
        }
        // One frame ahead at most: an app that commits without waiting for
        // its frame callbacks gets its newest commit rendered once the host
        // is ready, not a copy per commit.
        let ahead = self.prepared.is_some() && self.frame_pending.is_some();
        if (core.needs_redraw || self.dirty) && !ahead {
            self.render_ahead(core);
        }
        if self.frame_pending.is_some() {
            return;
        }
        // The host is ready for a frame: what the clients drew for the last
        // one is on screen, so the callbacks held back go out now, whether
        // or not something new is committed with this one (commits that
        // change nothing, the cursor or the flash must not starve them).
        if std::mem::take(&mut self.frames_owed) {
            render::send_frames(core);
        }
        if let Some(index) = self.prepared.take() {
            self.commit(core, index);
        }
    }

    /// For a screenshot: renders what changed even while a frame is
    /// already prepared ahead of the host (the host never holds the
    /// prepared buffer), so that the screenshot shows the newest state, also
    /// while the host sends no frame callbacks (a hidden window).
    pub fn render_latest(&mut self, core: &mut Core) {
        if self.configured && self.lost.is_none() && (core.needs_redraw || self.dirty) {
            self.render_ahead(core);
        }
    }

    /// Renders what changed into the prepared buffer, or a free one.
    fn render_ahead(&mut self, core: &mut Core) {
        let index = match self.prepared {
            Some(index) => index,
            None => match self.free_buffer(&core.output) {
                Ok(Some(index)) => index,
                // All buffers are with the host: a release will bring us back.
                Ok(None) => return,
                Err(err) => {
                    tracing::warn!(%err, "cannot render into the host window");
                    return;
                }
            },
        };
        core.needs_redraw = false;
        self.dirty = false;
        let s = self.scale;
        let (bw, bh) = self.buffer_size();
        // Rasterised only when the frame is redrawn, not for every frame.
        let title = self
            .buffers
            .get(index)
            .is_some_and(|b| b.marking != self.marking_version)
            .then(|| self.title_pixels())
            .flatten();
        let offset = (self.px(BORDER), self.px(self.top()));
        let top = self.top();
        let Some(buffer) = self.buffers.get_mut(index) else {
            return;
        };
        if buffer.marking != self.marking_version {
            let color = if self.flash_until.is_some() {
                // Halfway to white.
                self.color.map(|c| c + (255 - c) / 2)
            } else {
                self.color
            };
            draw_frame(
                &mut buffer.map,
                (bw, bh),
                s,
                color,
                top,
                title.as_ref().map(|(p, w, h)| (p.as_slice(), *w, *h)),
                !self.ssd,
            );
            buffer.marking = self.marking_version;
            self.damage.push(Rectangle::from_size((bw, bh).into()));
        }

        let elements = render::elements(&mut self.renderer, core, &self.cursor, false);
        // The host's damage: what changed since the last render, whichever
        // buffer it went to. With what the renders since the last commit
        // added, it covers all that differs from the buffer the host shows.
        match self.damage_tracker.damage_output(1, &elements) {
            Ok((rects, _)) => {
                self.damage.extend(rects.into_iter().flatten().map(|r| {
                    Rectangle::new(
                        (r.loc.x + offset.0, r.loc.y + offset.1).into(),
                        (r.size.w, r.size.h).into(),
                    )
                }));
            }
            Err(err) => {
                tracing::warn!(?err, "cannot track the damage");
                self.damage.push(Rectangle::from_size((bw, bh).into()));
            }
        }
        // The buffer's own tracker redraws what changed since its last
        // render.
        let Some(tracker) = buffer.tracker.as_mut() else {
            return;
        };
        let rendered = match self.renderer.bind(&mut buffer.content) {
            Ok(mut fb) => tracker
                .render_output(
                    &mut self.renderer,
                    &mut fb,
                    1,
                    &elements,
                    render::BACKGROUND,
                )
                .map(|_| ())
                .map_err(|e| format!("{e:?}")),
            Err(e) => Err(format!("{e:?}")),
        };
        if let Err(err) = rendered {
            tracing::warn!(%err, "rendering failed");
        }
        self.prepared = Some(index);
    }

    /// Sends the host the current title if it has an older one: at most
    /// once per frame committed, or per tick while the host sends no frame
    /// callbacks.
    fn send_title(&mut self) {
        if self.title != self.title_sent {
            self.toplevel.set_title(self.title.clone());
            self.title_sent.clone_from(&self.title);
        }
    }

    /// Commits the prepared buffer `index` to the host with a frame
    /// callback, then lets the clients draw their next frame.
    fn commit(&mut self, core: &mut Core, index: usize) {
        self.send_title();
        self.surface.frame(&self.qh, ());
        self.frame_pending = Some(Instant::now());
        if self.damage.is_empty() {
            // Nothing new to show: the clients may draw again when the host
            // is ready for another frame.
            self.surface.commit();
            self.frames_owed = true;
            return;
        }
        let logical = self.window_size();
        let Some(buffer) = self.buffers.get(index) else {
            return;
        };
        buffer.busy.store(true, Ordering::Release);
        match &self.viewport {
            Some((viewport, _)) => {
                self.surface.set_buffer_scale(1);
                viewport.set_destination(logical.0, logical.1);
            }
            None => self.surface.set_buffer_scale(self.scale.round() as i32),
        }
        self.surface.attach(Some(&buffer.buffer), 0, 0);
        for rect in self.damage.drain(..) {
            self.surface
                .damage_buffer(rect.loc.x, rect.loc.y, rect.size.w, rect.size.h);
        }
        self.surface.commit();
        self.shown = Some(index);
        self.frames_rendered += 1;
        self.frame_seq += 1;
        render::presented(core, self.frame_seq);
        self.frames_owed = false;
        render::send_frames(core);
    }

    /// Drops every buffer (new size, scale or layout): the next frame is
    /// drawn whole into new ones.
    fn drop_buffers(&mut self) {
        self.buffers.clear();
        self.shown = None;
        self.prepared = None;
        self.damage.clear();
    }

    /// Flashes the frame: the confirmation of a clipboard transfer.
    pub(crate) fn flash(&mut self) {
        self.flash_until = Some(Instant::now() + FLASH);
        self.marking_version += 1;
        self.dirty = true;
    }

    /// Makes `bytes` the host's clipboard, offered as text, with the serial
    /// of the key press that asked for it. False when the host has no
    /// clipboard for wsbox.
    pub(crate) fn set_host_selection(&mut self, bytes: Arc<Vec<u8>>, serial: u32) -> bool {
        let Some((manager, device)) = &self.data_device else {
            return false;
        };
        let source = manager.create_data_source(&self.qh, bytes);
        for mime in clipboard::TEXT_MIMES {
            source.offer((*mime).to_owned());
        }
        source.offer(self.own_mime.clone());
        device.set_selection(Some(&source), serial);
        if let Some(old) = self.host.source.replace(source) {
            old.destroy();
        }
        true
    }

    /// The serial of the last host keyboard event while the window has the
    /// host's keyboard focus; None without it.
    pub(crate) fn focus_serial(&self) -> Option<u32> {
        self.keyboard_focus.then_some(self.key_serial)
    }

    /// The current focus period while the window has the host's keyboard
    /// focus; None without it.
    pub(crate) fn focus_epoch(&self) -> Option<u64> {
        self.keyboard_focus.then_some(self.focus_epoch)
    }

    /// Auto clipboard: whether the host's selection is new and not wsbox's
    /// own; it then counts as copied in.
    fn take_new_host_selection(&mut self) -> bool {
        if !self.keyboard_focus {
            return false;
        }
        let Some(selection) = &self.host.selection else {
            return false;
        };
        if self.imported.as_ref() == Some(&selection.id()) {
            return false;
        }
        self.imported = Some(selection.id());
        let own = self
            .host
            .offers
            .iter()
            .find(|(o, _)| o == selection)
            .is_some_and(|(_, mimes)| mimes.contains(&self.own_mime));
        !own
    }

    /// Asks the host to write its selection, as text, into `fd`. False when
    /// it has none, or none in a text type.
    pub(crate) fn receive_host_selection(&mut self, fd: OwnedFd) -> bool {
        let Some(selection) = &self.host.selection else {
            return false;
        };
        let Some((_, mimes)) = self.host.offers.iter().find(|(o, _)| o == selection) else {
            return false;
        };
        let Some(mime) = clipboard::TEXT_MIMES
            .iter()
            .find(|m| mimes.iter().any(|have| have == *m))
        else {
            return false;
        };
        selection.receive((*mime).to_owned(), fd.as_fd());
        // The write end goes to the host with the request (a duplicate);
        // this one is closed now, so the read sees the end of the data.
        drop(fd);
        true
    }

    /// The title bar's (or the strip's) text, rendered for the current
    /// scale.
    fn title_pixels(&self) -> Option<(Vec<u8>, i32, i32)> {
        let s = self.scale;
        let (w, _) = self.window_size();
        let (max, size) = if self.ssd {
            (self.px(w - 2 * BORDER - 12), STRIP_PX)
        } else {
            (self.px(w - 2 * BORDER - CLOSE_SIZE - 24), TITLE_PX)
        };
        let [r, g, b] = self.color;
        // Dark text on light colours, white on dark ones.
        let luma = 299 * r as u32 + 587 * g as u32 + 114 * b as u32;
        let ink = if luma > 150_000 {
            [0, 0, 0]
        } else {
            [255, 255, 255]
        };
        crate::text::render(&self.title, size * s as f32, ink, max)
    }

    /// Follows the app's title: the frame is redrawn with it, and the host
    /// gets it with the next frame ([`Self::send_title`]).
    fn update_title(&mut self, app_title: &str) {
        let title = host_title(&self.name, app_title);
        if title != self.title {
            self.title = title;
            self.marking_version += 1;
            self.dirty = true;
        }
    }

    /// Where a point of the window (surface coordinates) is.
    fn hit(&self, pos: Point<f64, Logical>) -> Option<Hit> {
        let (w, h) = self.window_size();
        let (w, h) = (w as f64, h as f64);
        let (x, y) = (pos.x, pos.y);
        if x < 0.0 || y < 0.0 || x >= w || y >= h {
            return None;
        }
        let (b, t) = (BORDER as f64, self.top() as f64);
        if x >= b && x < w - b && y >= t && y < h - b {
            return Some(Hit::Content((x - b, y - t).into()));
        }
        use xdg_toplevel::ResizeEdge;
        let (left, right, top, bottom) = (x < b, x >= w - b, y < b, y >= h - b);
        let edge = match (left, right, top, bottom) {
            (true, _, true, _) => Some(ResizeEdge::TopLeft),
            (_, true, true, _) => Some(ResizeEdge::TopRight),
            (true, _, _, true) => Some(ResizeEdge::BottomLeft),
            (_, true, _, true) => Some(ResizeEdge::BottomRight),
            (true, ..) => Some(ResizeEdge::Left),
            (_, true, ..) => Some(ResizeEdge::Right),
            (_, _, true, _) => Some(ResizeEdge::Top),
            (.., true) => Some(ResizeEdge::Bottom),
            _ => None,
        };
        if let Some(edge) = edge {
            return Some(Hit::Edge(edge));
        }
        if self.ssd {
            // The strip: no buttons; it moves the window.
            return Some(Hit::Title);
        }
        let (cx, cy) = close_button(w as i32, 1.0);
        let c = CLOSE_SIZE as f64;
        if x >= cx as f64 && x < cx as f64 + c && y >= cy as f64 && y < cy as f64 + c {
            return Some(Hit::Close);
        }
        Some(Hit::Title)
    }

    /// The output's contents as last rendered for the host, as PNG.
    pub fn screenshot_png(&mut self) -> Result<Vec<u8>, screenshot::Error> {
        let index = self
            .prepared
            .or(self.shown)
            .ok_or_else(|| screenshot::Error::Read("the window has not been shown yet".into()))?;
        let (w, h) = self.content;
        let buffer = self
            .buffers
            .get_mut(index)
            .ok_or_else(|| screenshot::Error::Read("no buffer".into()))?;
        screenshot::capture(&mut self.renderer, &mut buffer.content, w, h)
    }
}

/// Where the close button's top-left corner is, for a window `width` pixels
/// wide, at `scale` (1 for logical pixels), in the same pixels.
fn close_button(width: i32, scale: f64) -> (i32, i32) {
    let px = |v: i32| (f64::from(v) * scale).round() as i32;
    (
        width - px(BORDER + 4 + CLOSE_SIZE),
        px((TITLE_HEIGHT - CLOSE_SIZE) / 2),
    )
}

/// Draws wsbox's frame into a whole-window buffer (XRGB8888, `w`×`h`
/// buffer pixels): the border and a bar `bar` logical pixels high in
/// `color`, the title text in the bar, and the close button when `close`
/// (not in the strip drawn while the host draws the title bar). The
/// output's area is left alone.
fn draw_frame(
    map: &mut [u8],
    (w, h): (i32, i32),
    scale: f64,
    color: [u8; 3],
    bar: i32,
    title: Option<(&[u8], i32, i32)>,
    close: bool,
) {
    let stride = (w * 4) as usize;
    let px = |v: i32| (f64::from(v) * scale).round() as i32;
    let border = px(BORDER);
    let bar = px(bar);
    let pixel = [color[2], color[1], color[0], 255];
    let fill = |map: &mut [u8], x0: i32, y0: i32, x1: i32, y1: i32, px: [u8; 4]| {
        let (x0, x1) = (x0.clamp(0, w) as usize, x1.clamp(0, w) as usize);
        for y in y0.clamp(0, h)..y1.clamp(0, h) {
            let row = y as usize * stride;
            if let Some(row) = map.get_mut(row + x0 * 4..row + x1 * 4) {
                for chunk in row.chunks_exact_mut(4) {
                    chunk.copy_from_slice(&px);
                }
            }
        }
    };
    fill(map, 0, 0, w, bar, pixel);
    fill(map, 0, bar, border, h, pixel);
    fill(map, w - border, bar, w, h, pixel);
    fill(map, border, h - border, w - border, h, pixel);
    if bar <= border {
        return;
    }

    let luma = 299 * color[0] as u32 + 587 * color[1] as u32 + 114 * color[2] as u32;
    let ink: [u8; 4] = if luma > 150_000 {
        [0, 0, 0, 255]
    } else {
        [255, 255, 255, 255]
    };
    // Where the title text must end: before the close button, or the border.
    let text_end = if close {
        let shade = |c: u8| (c as u32 * 7 / 10) as u8;
        let button = [shade(color[2]), shade(color[1]), shade(color[0]), 255];
        let (cx, cy) = close_button(w, scale);
        let size = px(CLOSE_SIZE);
        let thick = px(1).max(1);
        fill(map, cx, cy, cx + size, cy + size, button);
        // The cross: two diagonals, `scale` pixels thick, inset by a quarter.
        let inset = size / 4;
        for i in 0..(size - 2 * inset) {
            for t in 0..thick * 2 {
                let (x, y) = (cx + inset + i, cy + inset + i + t - thick);
                let x2 = cx + size - 1 - inset - i;
                fill(map, x, y, x + 1, y + 1, ink);
                fill(map, x2, y, x2 + 1, y + 1, ink);
            }
        }
        cx - px(4)
    } else {
        w - border - px(4)
    };

    if let Some((pixels, tw, th)) = title {
        let x0 = border + px(8);
        let y0 = ((bar - th) / 2).max(0);
        for ty in 0..th {
            let y = y0 + ty;
            if y >= bar {
                break;
            }
            for tx in 0..tw {
                let x = x0 + tx;
                if x >= text_end {
                    break;
                }
                let si = ((ty * tw + tx) * 4) as usize;
                let di = y as usize * stride + x as usize * 4;
                let (Some(src), Some(dst)) = (pixels.get(si..si + 4), map.get_mut(di..di + 4))
                else {
                    continue;
                };
                // Premultiplied source over an opaque destination.
                let a = src[3] as u32;
                for c in 0..3 {
                    dst[c] = (src[c] as u32 + dst[c] as u32 * (255 - a) / 255).min(255) as u8;
                }
            }
        }
    }
}

impl ShmBuffer {
    /// A `w`×`h` XRGB8888 buffer whose `content` view starts at `offset` and
    /// is `content` big.
    fn new(
        shm: &wl_shm::WlShm,
        qh: &QueueHandle<Host>,
        w: i32,
        h: i32,
        offset: (i32, i32),
        content: (i32, i32),
    ) -> Result<Self, Error> {
        let fail = |e: String| Error::Buffer(w, h, e);
        if w <= 0
            || h <= 0
            || offset.0 < 0
            || offset.1 < 0
            || content.0 <= 0
            || content.1 <= 0
            || offset.0 + content.0 > w
            || offset.1 + content.1 > h
        {
            return Err(fail("the output does not fit".into()));
        }
        let stride = w as usize * 4;
        let len = stride * h as usize;
        let fd = rustix::fs::memfd_create(
            "wsbox-host-buffer",
            rustix::fs::MemfdFlags::CLOEXEC | rustix::fs::MemfdFlags::ALLOW_SEALING,
        )
        .map_err(|e| fail(e.to_string()))?;
        let file = File::from(fd);
        file.set_len(len as u64).map_err(|e| fail(e.to_string()))?;
        // SAFETY: the memfd is private to wsbox and the host, which only
        // reads it; it is never truncated while mapped.
        let mut map =
            unsafe { memmap2::MmapMut::map_mut(&file) }.map_err(|e| fail(e.to_string()))?;
        let start = offset.1 as usize * stride + offset.0 as usize * 4;
        // In bounds (checked above); page-aligned base, 4-byte pixels.
        let bits = map
            .get_mut(start..)
            .ok_or_else(|| fail("offset out of range".into()))?
            .as_mut_ptr()
            .cast::<u32>();
        // SAFETY: `bits` points into `map`, which lives as long as the image
        // (the image is dropped first, see the field order) and does not move
        // (it is a mapping); the view's rows stay inside it.
        let content = unsafe {
            pixman::Image::from_raw_mut(
                pixman::FormatCode::A8R8G8B8,
                content.0 as usize,
                content.1 as usize,
                bits,
                stride,
                false,
            )
        }
        .map_err(|_| fail("pixman refused the view".into()))?;
        let pool = shm.create_pool(file.as_fd(), len as i32, qh, ());
        let busy = Arc::new(AtomicBool::new(false));
        let buffer = pool.create_buffer(
            0,
            w,
            h,
            stride as i32,
            wl_shm::Format::Xrgb8888,
            qh,
            busy.clone(),
        );
        pool.destroy();
        Ok(Self {
            content,
            map,
            buffer,
            busy,
            tracker: None,
            marking: 0,
        })
    }
}

// ---------------------------------------------------------------------------
// Applying host events to the compositor.
// ---------------------------------------------------------------------------

impl State {
    /// The host connection's fd, in window mode, for the event loop.
    pub fn host_fd(&self) -> Option<Result<OwnedFd, Error>> {
        match &self.backend {
            crate::backend::Backend::Window(window) => Some(window.poll_fd()),
            crate::backend::Backend::Headless(_) => None,
        }
    }

    /// Reads what the host sent and applies it: input, resizes, frame
    /// callbacks, close requests. An error means the host is gone.
    pub fn dispatch_host(&mut self) -> Result<HostStatus, Error> {
        let mut status = HostStatus::default();
        let Some(window) = self.backend.window() else {
            return Ok(status);
        };
        let events = window.read_events()?;
        for event in events {
            self.apply_host_event(event, &mut status);
        }
        if self.core.config.clipboard.auto
            && self
                .backend
                .window()
                .is_some_and(HostWindow::take_new_host_selection)
        {
            self.import_host_selection();
        }
        self.refresh_host()?;
        Ok(status)
    }

    /// After a batch of work: renders if needed and the host is ready, keeps
    /// the host title current, sends everything to the host.
    pub fn refresh_host(&mut self) -> Result<(), Error> {
        if self.backend.window().is_none() {
            return Ok(());
        }
        let title = self.focused_title();
        let State { backend, core, .. } = self;
        let Some(window) = backend.window() else {
            return Ok(());
        };
        window.update_title(&title);
        window.render_frame(core);
        // The frame callbacks it sent go out now, not with the next event.
        let _ = core.display_handle.flush_clients();
        window.flush()
    }

    fn apply_host_event(&mut self, event: HostEvent, status: &mut HostStatus) {
        let Some(window) = self.backend.window() else {
            return;
        };
        match event {
            HostEvent::Configure(w, h) => {
                window.configured = true;
                window.dirty = true;
                let s = window.scale;
                let max = (16384.0 / s) as i32;
                let want = if w > 0 && h > 0 {
                    (
                        (w - 2 * BORDER).clamp(MIN_CONTENT, max),
                        (h - window.top() - BORDER).clamp(MIN_CONTENT, max),
                    )
                } else {
                    window.content_logical()
                };
                if want != window.content_logical() {
                    let (pw, ph) = (window.px(want.0), window.px(want.1));
                    self.resize_for_host(pw, ph, s);
                }
            }
            HostEvent::ScaleChanged => {
                let scale = window.host.scale();
                if scale != window.scale {
                    let (w, h) = window.content_logical();
                    let px = |v: i32| (f64::from(v) * scale).round() as i32;
                    let (pw, ph) = (px(w), px(h));
                    tracing::debug!(scale, "host scale changed");
                    // The window takes the new scale only with buffers of
                    // the new size: were the output to refuse it, the old
                    // buffers would be shown at a scale they do not fit.
                    match self.reconfigure_output(pw, ph, Some(scale)) {
                        Ok(()) => {
                            if let Some(window) = self.backend.window() {
                                window.scale = scale;
                                window.drop_buffers();
                                window.marking_version += 1;
                                window.dirty = true;
                            }
                        }
                        Err(err) => {
                            tracing::warn!(%err, scale, "cannot follow the host's scale");
                        }
                    }
                }
            }
            HostEvent::Decoration(server) => {
                let ssd = server && window.want_ssd;
                if ssd != window.ssd {
                    tracing::debug!(ssd, "host decorations changed");
                    // The output's place in the buffers moves: new ones.
                    window.ssd = ssd;
                    window.drop_buffers();
                    window.marking_version += 1;
                    window.dirty = true;
                }
            }
            HostEvent::Close => {
                tracing::info!("the host asked to close the window");
                self.close_all();
                status.close_requested = true;
            }
            HostEvent::FrameDone => {
                // The clients' frame callbacks follow in `render_frame`: at
                // once when nothing waits to be drawn, else after drawing it.
                window.frame_pending = None;
            }
            HostEvent::Released => {}
            HostEvent::KeyboardEnter { serial } => {
                tracing::debug!("host keyboard focus entered");
                window.keyboard_focus = true;
                window.focus_epoch += 1;
                window.key_serial = serial;
            }
            HostEvent::KeyboardLeave => {
                tracing::debug!("host keyboard focus left");
                window.keyboard_focus = false;
                window.focus_epoch += 1;
                window.imported = None;
                // Nothing in flight lands after the user looked away.
                self.core.transfers.cancel_all();
                // Nothing stays pressed inside once the user looks away:
                // neither keys nor modifiers the host set without keys
                // (virtual keyboards); locks (Caps Lock) stay.
                let keys = std::mem::take(&mut window.keys);
                let swallowed = std::mem::take(&mut window.swallowed);
                let (locked, group) = (window.host_mods.2, window.host_mods.3);
                for key in swallowed {
                    self.host_key_swallowed(key);
                }
                for key in keys.into_iter().rev() {
                    self.host_key(key, false);
                }
                self.host_modifiers(0, 0, locked, group);
            }
            HostEvent::Keymap(keymap) => {
                if window.keymap.as_deref() == Some(keymap.as_str()) {
                    return;
                }
                window.keymap = Some(keymap.clone());
                self.host_keymap(keymap);
            }
            HostEvent::Modifiers {
                depressed,
                latched,
                locked,
                group,
            } => {
                window.host_mods = (depressed, latched, locked, group);
                if window.keyboard_focus {
                    self.host_modifiers(depressed, latched, locked, group);
                }
            }
            HostEvent::Key {
                key,
                pressed,
                serial,
            } => {
                if !window.keyboard_focus {
                    return;
                }
                window.key_serial = serial;
                if pressed {
                    if window.keys.contains(&key) || window.swallowed.contains(&key) {
                        return;
                    }
                    let detect = window.data_device.is_some() && self.core.config.clipboard.gesture;
                    match self.host_key_or_gesture(key, true, detect) {
                        Some(gesture) => {
                            if let Some(window) = self.backend.window() {
                                window.swallowed.push(key);
                            }
                            self.clipboard_gesture(gesture);
                        }
                        None => {
                            if let Some(window) = self.backend.window() {
                                window.keys.push(key);
                            }
                        }
                    }
                    return;
                }
                if let Some(i) = window.swallowed.iter().position(|k| *k == key) {
                    // The gesture's key goes up outside, as it went down.
                    window.swallowed.remove(i);
                    self.host_key_swallowed(key);
                    return;
                }
                if let Some(i) = window.keys.iter().position(|k| *k == key) {
                    window.keys.remove(i);
                    self.host_key(key, false);
                }
                // Else a release of a key pressed before the focus came.
            }
            HostEvent::RepeatInfo { rate, delay } => {
                if let Some(keyboard) = self.seat.get_keyboard() {
                    keyboard.change_repeat_info(rate.clamp(0, 1000), delay.clamp(0, 10_000));
                }
            }
            HostEvent::PointerEnter { serial, x, y } => {
                window.last_serial = serial;
                self.host_pointer_at((x, y).into());
            }
            HostEvent::Motion { x, y } => self.host_pointer_at((x, y).into()),
            HostEvent::PointerLeave => {
                window.pointer = None;
                let buttons = std::mem::take(&mut window.buttons);
                let inside = std::mem::take(&mut window.pointer_inside);
                for button in buttons {
                    self.host_pointer_button(button, false);
                }
                if inside {
                    self.host_pointer_motion(None);
                }
            }
            HostEvent::Button {
                serial,
                button,
                pressed,
            } => {
                window.last_serial = serial;
                self.host_button(button, pressed, status);
            }
            HostEvent::Axis(axis) => {
                if !window.pointer_inside {
                    return;
                }
                let mut frame = AxisFrame::new(self.input_time());
                if let Some(source) = axis.source {
                    frame = frame.source(source);
                }
                for (i, a) in [Axis::Vertical, Axis::Horizontal].into_iter().enumerate() {
                    if let Some(v) = axis.value[i].filter(|v| v.is_finite()) {
                        frame = frame.value(a, v.clamp(-1e6, 1e6));
                    }
                    if let Some(d) = axis.discrete[i] {
                        frame = frame.v120(a, d.clamp(-1000, 1000) * 120);
                    }
                    if axis.stop[i] {
                        frame = frame.stop(a);
                    }
                }
                self.host_pointer_axis(frame);
            }
        }
    }

    /// Resizes the output to follow the host window (physical size, scale).
    fn resize_for_host(&mut self, width: i32, height: i32, scale: f64) {
        if let Err(err) = self.reconfigure_output(width, height, Some(scale)) {
            tracing::warn!(%err, "cannot follow the host window's size");
        }
    }

    /// The host pointer is at `pos` of the window: into the output, or out of
    /// it onto wsbox's frame.
    fn host_pointer_at(&mut self, pos: Point<f64, Logical>) {
        let Some(window) = self.backend.window() else {
            return;
        };
        window.pointer = Some(pos);
        let hit = window.hit(pos);
        let grabbed = !window.buttons.is_empty();
        match hit {
            Some(Hit::Content(p)) => {
                window.pointer_inside = true;
                self.host_pointer_motion(Some(p));
            }
            // A drag that started inside keeps going to the app (clamped).
            _ if grabbed => {
                let p = pos - Point::from((BORDER as f64, window.top() as f64));
                self.host_pointer_motion(Some(p));
            }
            _ => {
                if std::mem::take(&mut window.pointer_inside) {
                    self.host_pointer_motion(None);
                }
            }
        }
    }

    fn host_button(&mut self, button: u32, pressed: bool, status: &mut HostStatus) {
        let Some(window) = self.backend.window() else {
            return;
        };
        let hit = window.pointer.and_then(|p| window.hit(p));
        if !pressed {
            if let Some(i) = window.buttons.iter().position(|b| *b == button) {
                window.buttons.remove(i);
                self.host_pointer_button(button, false);
            }
            return;
        }
        const BTN_LEFT: u32 = 0x110;
        match hit {
            Some(Hit::Content(_)) if !window.buttons.contains(&button) => {
                window.buttons.push(button);
                self.host_pointer_button(button, true);
            }
            Some(Hit::Close) if button == BTN_LEFT => {
                tracing::info!("close button clicked");
                self.close_all();
                status.close_requested = true;
            }
            Some(Hit::Title) if button == BTN_LEFT => {
                if let Some(seat) = &window.seat {
                    window.toplevel._move(seat, window.last_serial);
                }
            }
            Some(Hit::Edge(edge)) if button == BTN_LEFT => {
                if let Some(seat) = &window.seat {
                    window.toplevel.resize(seat, window.last_serial, edge);
                }
            }
            _ => {}
        }
    }
}

// ---------------------------------------------------------------------------
// Host protocol dispatch: queue what matters, ignore the rest.
// ---------------------------------------------------------------------------

impl Dispatch<wl_registry::WlRegistry, GlobalListContents> for Host {
    fn event(
        host: &mut Self,
        registry: &wl_registry::WlRegistry,
        event: wl_registry::Event,
        _: &GlobalListContents,
        _: &Connection,
        qh: &QueueHandle<Self>,
    ) {
        match event {
            wl_registry::Event::Global {
                name,
                interface,
                version,
            } if interface == "wl_output" => {
                let output: wl_output::WlOutput = registry.bind(name, version.min(3), qh, ());
                host.outputs.push((output, 1));
            }
            wl_registry::Event::GlobalRemove { .. } => {
                // A removed output's proxy stays valid until released; it
                // only stops counting once the window leaves it.
            }
            _ => {}
        }
    }
}

delegate_noop!(Host: ignore wl_compositor::WlCompositor);
delegate_noop!(Host: ignore wl_data_device_manager::WlDataDeviceManager);
delegate_noop!(Host: ignore wl_shm::WlShm);
delegate_noop!(Host: ignore wl_shm_pool::WlShmPool);
delegate_noop!(Host: ignore zxdg_decoration_manager_v1::ZxdgDecorationManagerV1);
delegate_noop!(Host: ignore wp_fractional_scale_manager_v1::WpFractionalScaleManagerV1);
delegate_noop!(Host: ignore wp_viewporter::WpViewporter);
delegate_noop!(Host: ignore wp_viewport::WpViewport);

impl Dispatch<wp_fractional_scale_v1::WpFractionalScaleV1, ()> for Host {
    fn event(
        host: &mut Self,
        _: &wp_fractional_scale_v1::WpFractionalScaleV1,
        event: wp_fractional_scale_v1::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        if let wp_fractional_scale_v1::Event::PreferredScale { scale } = event {
            host.fractional = Some(scale);
            host.events.push(HostEvent::ScaleChanged);
        }
    }
}

impl Dispatch<zxdg_toplevel_decoration_v1::ZxdgToplevelDecorationV1, ()> for Host {
    fn event(
        host: &mut Self,
        _: &zxdg_toplevel_decoration_v1::ZxdgToplevelDecorationV1,
        event: zxdg_toplevel_decoration_v1::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        if let zxdg_toplevel_decoration_v1::Event::Configure {
            mode: WEnum::Value(mode),
        } = event
        {
            let server = mode == zxdg_toplevel_decoration_v1::Mode::ServerSide;
            host.events.push(HostEvent::Decoration(server));
        }
    }
}

impl Dispatch<wl_buffer::WlBuffer, Arc<AtomicBool>> for Host {
    fn event(
        host: &mut Self,
        _: &wl_buffer::WlBuffer,
        event: wl_buffer::Event,
        busy: &Arc<AtomicBool>,
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        if let wl_buffer::Event::Release = event {
            busy.store(false, Ordering::Release);
            host.events.push(HostEvent::Released);
        }
    }
}

impl Dispatch<wl_callback::WlCallback, ()> for Host {
    fn event(
        host: &mut Self,
        _: &wl_callback::WlCallback,
        event: wl_callback::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        if let wl_callback::Event::Done { .. } = event {
            host.events.push(HostEvent::FrameDone);
        }
    }
}

impl Dispatch<wl_surface::WlSurface, ()> for Host {
    fn event(
        host: &mut Self,
        surface: &wl_surface::WlSurface,
        event: wl_surface::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        if host.surface.as_ref() != Some(surface) {
            return;
        }
        match event {
            wl_surface::Event::Enter { output } => {
                if !host.entered.contains(&output) {
                    host.entered.push(output);
                }
            }
            wl_surface::Event::Leave { output } => host.entered.retain(|o| *o != output),
            wl_surface::Event::PreferredBufferScale { factor } => {
                host.preferred_scale = Some(factor);
            }
            _ => return,
        }
        host.events.push(HostEvent::ScaleChanged);
    }
}

impl Dispatch<wl_output::WlOutput, ()> for Host {
    fn event(
        host: &mut Self,
        output: &wl_output::WlOutput,
        event: wl_output::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        match event {
            wl_output::Event::Scale { factor } => {
                if let Some(entry) = host.outputs.iter_mut().find(|(o, _)| o == output) {
                    entry.1 = factor;
                }
            }
            wl_output::Event::Done => host.events.push(HostEvent::ScaleChanged),
            _ => {}
        }
    }
}

impl Dispatch<xdg_wm_base::XdgWmBase, ()> for Host {
    fn event(
        _: &mut Self,
        wm_base: &xdg_wm_base::XdgWmBase,
        event: xdg_wm_base::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        if let xdg_wm_base::Event::Ping { serial } = event {
            wm_base.pong(serial);
        }
    }
}

impl Dispatch<xdg_surface::XdgSurface, ()> for Host {
    fn event(
        host: &mut Self,
        xdg_surface: &xdg_surface::XdgSurface,
        event: xdg_surface::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        if let xdg_surface::Event::Configure { serial } = event {
            xdg_surface.ack_configure(serial);
            let (w, h) = host.pending_size;
            host.events.push(HostEvent::Configure(w, h));
        }
    }
}

impl Dispatch<xdg_toplevel::XdgToplevel, ()> for Host {
    fn event(
        host: &mut Self,
        _: &xdg_toplevel::XdgToplevel,
        event: xdg_toplevel::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        match event {
            xdg_toplevel::Event::Configure { width, height, .. } => {
                host.pending_size = (width.clamp(0, 1 << 15), height.clamp(0, 1 << 15));
            }
            xdg_toplevel::Event::Close => host.events.push(HostEvent::Close),
            _ => {}
        }
    }
}

impl Dispatch<wl_seat::WlSeat, ()> for Host {
    fn event(
        host: &mut Self,
        seat: &wl_seat::WlSeat,
        event: wl_seat::Event,
        _: &(),
        _: &Connection,
        qh: &QueueHandle<Self>,
    ) {
        let wl_seat::Event::Capabilities {
            capabilities: WEnum::Value(caps),
        } = event
        else {
            return;
        };
        let keyboard = caps.contains(wl_seat::Capability::Keyboard);
        match (&host.keyboard, keyboard) {
            (None, true) => host.keyboard = Some(seat.get_keyboard(qh, ())),
            (Some(_), false) => {
                if let Some(k) = host.keyboard.take() {
                    if k.version() >= 3 {
                        k.release();
                    }
                }
                host.events.push(HostEvent::KeyboardLeave);
            }
            _ => {}
        }
        let pointer = caps.contains(wl_seat::Capability::Pointer);
        match (&host.pointer, pointer) {
            (None, true) => host.pointer = Some(seat.get_pointer(qh, ())),
            (Some(_), false) => {
                if let Some(p) = host.pointer.take() {
                    if p.version() >= 3 {
                        p.release();
                    }
                }
                host.events.push(HostEvent::PointerLeave);
            }
            _ => {}
        }
    }
}

impl Dispatch<wl_keyboard::WlKeyboard, ()> for Host {
    fn event(
        host: &mut Self,
        _: &wl_keyboard::WlKeyboard,
        event: wl_keyboard::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        match event {
            // The host's keymap is the sandbox's: the host sends key codes
            // in its terms (and switches keymaps, e.g. for virtual
            // keyboards). The fd is closed when it is dropped.
            wl_keyboard::Event::Keymap {
                format: WEnum::Value(wl_keyboard::KeymapFormat::XkbV1),
                fd,
                size,
            } => match read_keymap(fd, size) {
                Ok(keymap) => host.events.push(HostEvent::Keymap(keymap)),
                Err(err) => tracing::warn!(%err, "unusable host keymap ignored"),
            },
            wl_keyboard::Event::Modifiers {
                mods_depressed,
                mods_latched,
                mods_locked,
                group,
                ..
            } => host.events.push(HostEvent::Modifiers {
                depressed: mods_depressed,
                latched: mods_latched,
                locked: mods_locked,
                group,
            }),
            // Keys already down when the focus came stay outside.
            wl_keyboard::Event::Enter {
                surface, serial, ..
            } if host.surface.as_ref() == Some(&surface) => {
                host.events.push(HostEvent::KeyboardEnter { serial });
            }
            wl_keyboard::Event::Leave { .. } => host.events.push(HostEvent::KeyboardLeave),
            // evdev codes beyond KEY_MAX are not keys.
            wl_keyboard::Event::Key {
                key,
                state: WEnum::Value(state),
                serial,
                ..
            } if key < 0x300 => {
                host.events.push(HostEvent::Key {
                    key,
                    pressed: state == wl_keyboard::KeyState::Pressed,
                    serial,
                });
            }
            wl_keyboard::Event::RepeatInfo { rate, delay } => {
                host.events.push(HostEvent::RepeatInfo { rate, delay });
            }
            _ => {}
        }
    }
}

/// The most MIME types wsbox keeps per host offer, and their longest name.
const OFFER_MIMES_MAX: usize = 64;
/// The most host offers wsbox keeps at once.
const OFFERS_MAX: usize = 8;
const MIME_LEN_MAX: usize = 256;

impl Dispatch<wl_data_device::WlDataDevice, ()> for Host {
    fn event(
        host: &mut Self,
        _: &wl_data_device::WlDataDevice,
        event: wl_data_device::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        match event {
            wl_data_device::Event::DataOffer { id } => {
                // Offers that never became the selection do not pile up.
                if host.offers.len() >= OFFERS_MAX {
                    let selection = host.selection.clone();
                    if let Some(i) = host
                        .offers
                        .iter()
                        .position(|(o, _)| Some(o) != selection.as_ref())
                    {
                        host.offers.remove(i).0.destroy();
                    }
                }
                host.offers.push((id, Vec::new()));
            }
            wl_data_device::Event::Selection { id } => {
                // Only the current selection matters; older offers go.
                let current = id.clone();
                host.offers.retain(|(offer, _)| {
                    let keep = Some(offer) == current.as_ref();
                    if !keep {
                        offer.destroy();
                    }
                    keep
                });
                host.selection = id;
            }
            // No drag and drop across: a dragged offer is dropped at once.
            wl_data_device::Event::Enter { id: Some(id), .. } => {
                host.offers.retain(|(offer, _)| *offer != id);
                id.destroy();
            }
            _ => {}
        }
    }

    event_created_child!(Host, wl_data_device::WlDataDevice, [
        wl_data_device::EVT_DATA_OFFER_OPCODE => (wl_data_offer::WlDataOffer, ()),
    ]);
}

impl Dispatch<wl_data_offer::WlDataOffer, ()> for Host {
    fn event(
        host: &mut Self,
        offer: &wl_data_offer::WlDataOffer,
        event: wl_data_offer::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        if let wl_data_offer::Event::Offer { mime_type } = event {
            if let Some((_, mimes)) = host.offers.iter_mut().find(|(o, _)| o == offer) {
                if mimes.len() < OFFER_MIMES_MAX && mime_type.len() <= MIME_LEN_MAX {
                    mimes.push(mime_type);
                }
            }
        }
    }
}

impl Dispatch<wl_data_source::WlDataSource, Arc<Vec<u8>>> for Host {
    fn event(
        host: &mut Self,
        source: &wl_data_source::WlDataSource,
        event: wl_data_source::Event,
        bytes: &Arc<Vec<u8>>,
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        match event {
            wl_data_source::Event::Send { mime_type, fd }
                if clipboard::TEXT_MIMES.contains(&mime_type.as_str()) =>
            {
                clipboard::serve(fd, bytes.clone());
            }
            wl_data_source::Event::Cancelled => {
                if host.source.as_ref() == Some(source) {
                    host.source = None;
                }
                source.destroy();
            }
            _ => {}
        }
    }
}

/// The largest host keymap wsbox reads; real ones are about 60 KiB.
const KEYMAP_MAX: u32 = 1 << 20;

/// Reads a keymap the host sent as `fd` of `size` bytes (NUL-terminated
/// text). pread, not read: the host may share one open file among all its
/// clients, whose offset must not move.
fn read_keymap(fd: OwnedFd, size: u32) -> Result<String, String> {
    use std::os::unix::fs::FileExt;
    if size == 0 || size > KEYMAP_MAX {
        return Err(format!("keymap of {size} bytes"));
    }
    let file = File::from(fd);
    let mut bytes = vec![0u8; size as usize];
    let mut done = 0;
    while done < bytes.len() {
        match file.read_at(&mut bytes[done..], done as u64) {
            Ok(0) => break,
            Ok(n) => done += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e.to_string()),
        }
    }
    bytes.truncate(done);
    if let Some(end) = bytes.iter().position(|b| *b == 0) {
        bytes.truncate(end);
    }
    String::from_utf8(bytes).map_err(|_| "keymap is not UTF-8".to_owned())
}

impl Dispatch<wl_pointer::WlPointer, ()> for Host {
    fn event(
        host: &mut Self,
        pointer: &wl_pointer::WlPointer,
        event: wl_pointer::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        let index = |axis: &WEnum<wl_pointer::Axis>| match axis {
            WEnum::Value(wl_pointer::Axis::VerticalScroll) => Some(0),
            WEnum::Value(wl_pointer::Axis::HorizontalScroll) => Some(1),
            _ => None,
        };
        let finite = |v: f64| if v.is_finite() { v } else { 0.0 };
        match event {
            wl_pointer::Event::Enter {
                serial,
                surface,
                surface_x,
                surface_y,
            } => {
                if host.surface.as_ref() != Some(&surface) {
                    return;
                }
                pointer.set_cursor(serial, host.cursor_surface.as_ref(), 0, 0);
                host.events.push(HostEvent::PointerEnter {
                    serial,
                    x: finite(surface_x),
                    y: finite(surface_y),
                });
            }
            wl_pointer::Event::Leave { .. } => host.events.push(HostEvent::PointerLeave),
            wl_pointer::Event::Motion {
                surface_x,
                surface_y,
                ..
            } => host.events.push(HostEvent::Motion {
                x: finite(surface_x),
                y: finite(surface_y),
            }),
            wl_pointer::Event::Button {
                serial,
                button,
                state: WEnum::Value(state),
                ..
            } => host.events.push(HostEvent::Button {
                serial,
                button,
                pressed: state == wl_pointer::ButtonState::Pressed,
            }),
            wl_pointer::Event::Axis { axis, value, .. } => {
                if let Some(i) = index(&axis) {
                    host.axis.value[i] = Some(host.axis.value[i].unwrap_or(0.0) + finite(value));
                }
            }
            wl_pointer::Event::AxisDiscrete { axis, discrete } => {
                if let Some(i) = index(&axis) {
                    host.axis.discrete[i] =
                        Some(host.axis.discrete[i].unwrap_or(0).saturating_add(discrete));
                }
            }
            wl_pointer::Event::AxisStop { axis, .. } => {
                if let Some(i) = index(&axis) {
                    host.axis.stop[i] = true;
                }
            }
            wl_pointer::Event::AxisSource {
                axis_source: WEnum::Value(source),
            } => {
                host.axis.source = Some(match source {
                    wl_pointer::AxisSource::Wheel => AxisSource::Wheel,
                    wl_pointer::AxisSource::Finger => AxisSource::Finger,
                    wl_pointer::AxisSource::Continuous => AxisSource::Continuous,
                    wl_pointer::AxisSource::WheelTilt => AxisSource::WheelTilt,
                    _ => return,
                });
            }
            wl_pointer::Event::Frame => {
                let axis = std::mem::take(&mut host.axis);
                if !axis.is_empty() {
                    host.events.push(HostEvent::Axis(axis));
                }
            }
            _ => {}
        }
        // Before version 5 there are no frames: each axis event stands alone.
        if pointer.version() < 5 && !host.axis.is_empty() {
            let axis = std::mem::take(&mut host.axis);
            host.events.push(HostEvent::Axis(axis));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_own_mime_type_is_random() {
        let (a, b) = (random_token(), random_token());
        assert_eq!(a.len(), 32);
        assert_ne!(a, b);
    }

    #[test]
    fn host_titles_are_marked_and_capped() {
        assert_eq!(host_title("ff", "Hello"), "[wsbox:ff] Hello");
        assert_eq!(host_title("ff", "a\nb"), "[wsbox:ff] ab");
        assert_eq!(host_title("n", &"x".repeat(1000)).chars().count(), 128);
        assert!(host_title("n", &"x".repeat(1000)).starts_with("[wsbox:n] x"));
    }

    fn memfd_with(bytes: &[u8]) -> OwnedFd {
        use std::io::Write;
        let fd = rustix::fs::memfd_create("test-keymap", rustix::fs::MemfdFlags::CLOEXEC).unwrap();
        let mut file = File::from(fd);
        file.write_all(bytes).unwrap();
        // The read must not depend on the shared offset, now at the end.
        OwnedFd::from(file)
    }

    #[test]
    fn host_keymaps_are_read_whole_trimmed_and_capped() {
        let text = b"xkb_keymap { };\0";
        assert_eq!(
            read_keymap(memfd_with(text), text.len() as u32).as_deref(),
            Ok("xkb_keymap { };")
        );
        // A size beyond the file reads what there is.
        assert_eq!(read_keymap(memfd_with(b"abc"), 10).as_deref(), Ok("abc"));
        assert!(read_keymap(memfd_with(b""), 0).is_err());
        assert!(read_keymap(memfd_with(b"x"), KEYMAP_MAX + 1).is_err());
        assert!(read_keymap(memfd_with(&[0xff, 0xfe]), 2).is_err());
    }

    #[test]
    fn the_frame_surrounds_the_output_and_leaves_it_alone() {
        let (w, h, s) = (100, 80, 1);
        let mut map = vec![7u8; (w * h * 4) as usize];
        draw_frame(
            &mut map,
            (w, h),
            s as f64,
            [0x10, 0x80, 0xf0],
            TITLE_HEIGHT,
            None,
            true,
        );
        let px = |x: i32, y: i32| {
            let i = ((y * w + x) * 4) as usize;
            [map[i + 2], map[i + 1], map[i]]
        };
        assert_eq!(px(0, 0), [0x10, 0x80, 0xf0]);
        assert_eq!(px(1, 40), [0x10, 0x80, 0xf0]);
        assert_eq!(px(w - 1, 40), [0x10, 0x80, 0xf0]);
        assert_eq!(px(50, h - 1), [0x10, 0x80, 0xf0]);
        // The output's area is untouched.
        assert_eq!(px(BORDER, TITLE_HEIGHT), [7, 7, 7]);
        assert_eq!(px(w - BORDER - 1, h - BORDER - 1), [7, 7, 7]);

        // The strip, when the host draws the title bar: thinner, in the
        // colour, and no close button where it would be.
        let mut map = vec![7u8; (w * h * 4) as usize];
        draw_frame(
            &mut map,
            (w, h),
            s as f64,
            [0x10, 0x80, 0xf0],
            STRIP_HEIGHT,
            None,
            false,
        );
        let px = |x: i32, y: i32| {
            let i = ((y * w + x) * 4) as usize;
            [map[i + 2], map[i + 1], map[i]]
        };
        let (cx, cy) = close_button(w, 1.0);
        assert_eq!(
            px(cx + CLOSE_SIZE / 2, cy.min(STRIP_HEIGHT - 1)),
            [0x10, 0x80, 0xf0]
        );
        assert_eq!(px(w / 2, STRIP_HEIGHT - 1), [0x10, 0x80, 0xf0]);
        assert_eq!(px(BORDER, STRIP_HEIGHT), [7, 7, 7]);
    }
}
