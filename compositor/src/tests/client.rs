//! The test client: one wayland-client connection that records what the
//! compositor sends it and builds windows, shm buffers and clipboard sources.
//! It must never read the compositor's state: it knows only the protocol.

use std::collections::HashMap;
use std::fs::File;
use std::io::Write;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use nix::sys::memfd::{memfd_create, MFdFlags};
use wayland_client::backend::protocol::ProtocolError;
use wayland_client::backend::{ObjectId, WaylandError};
use wayland_client::protocol::wl_buffer::WlBuffer;
use wayland_client::protocol::wl_callback::{self, WlCallback};
use wayland_client::protocol::wl_compositor::WlCompositor;
use wayland_client::protocol::wl_data_device::{self, WlDataDevice};
use wayland_client::protocol::wl_data_device_manager::WlDataDeviceManager;
use wayland_client::protocol::wl_data_offer::{self, WlDataOffer};
use wayland_client::protocol::wl_data_source::{self, WlDataSource};
use wayland_client::protocol::wl_keyboard::{self, WlKeyboard};
use wayland_client::protocol::wl_pointer::{self, WlPointer};
use wayland_client::protocol::wl_registry::{self, WlRegistry};
use wayland_client::protocol::wl_seat::WlSeat;
use wayland_client::protocol::wl_shm::{self, WlShm};
use wayland_client::protocol::wl_shm_pool::WlShmPool;
use wayland_client::protocol::wl_subcompositor::WlSubcompositor;
use wayland_client::protocol::wl_subsurface::WlSubsurface;
use wayland_client::protocol::wl_surface::WlSurface;
use wayland_client::{
    delegate_noop, event_created_child, Connection, Dispatch, EventQueue, Proxy, QueueHandle, WEnum,
};
use wayland_protocols::xdg::decoration::zv1::client::zxdg_decoration_manager_v1::ZxdgDecorationManagerV1;
use wayland_protocols::xdg::decoration::zv1::client::zxdg_toplevel_decoration_v1::{
    self, ZxdgToplevelDecorationV1,
};
use wayland_protocols::xdg::shell::client::xdg_popup::{self, XdgPopup};
use wayland_protocols::xdg::shell::client::xdg_positioner::{self, XdgPositioner};
use wayland_protocols::xdg::shell::client::xdg_surface::{self, XdgSurface};
use wayland_protocols::xdg::shell::client::xdg_toplevel::{self, XdgToplevel};
use wayland_protocols::xdg::shell::client::xdg_wm_base::{self, XdgWmBase};

/// One advertised global, as the registry showed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Global {
    pub name: u32,
    pub interface: String,
    pub version: u32,
}

/// What arrived on the client's wl_keyboard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyboardEvent {
    Enter { serial: u32, surface: ObjectId },
    Leave { surface: ObjectId },
    Key { key: u32, pressed: bool },
    Modifiers { depressed: u32 },
}

/// What arrived on the client's wl_pointer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PointerEvent {
    Enter { surface: ObjectId },
    Leave { surface: ObjectId },
    Button { button: u32, pressed: bool },
}

/// The MIME types a wl_data_offer announced.
#[derive(Debug, Default)]
pub struct OfferData(pub Mutex<Vec<String>>);

/// What a wl_data_source answers a `send` with: the payload, or nothing
/// (the fd is kept open in [`App::held_fds`], as a stalling client would).
#[derive(Debug)]
pub struct SourceData(pub Option<Vec<u8>>);

/// A wl_data_device.selection event: the offer and its MIME types, or no
/// selection.
pub type Selection = Option<(WlDataOffer, Vec<String>)>;

/// Everything the compositor sent, as the client saw it.
#[derive(Debug, Default)]
pub struct App {
    pub globals: Vec<Global>,
    pub keyboard_events: Vec<KeyboardEvent>,
    pub pointer_events: Vec<PointerEvent>,
    /// xdg_surface → serials of its configure events, oldest first.
    pub configures: HashMap<ObjectId, Vec<u32>>,
    /// xdg_toplevel → the size of its last configure.
    pub toplevel_sizes: HashMap<ObjectId, (i32, i32)>,
    /// xdg_toplevels the compositor asked to close, in order.
    pub closed: Vec<ObjectId>,
    /// xdg_toplevel_decoration → the last mode the compositor configured.
    pub decoration_modes: HashMap<ObjectId, WEnum<zxdg_toplevel_decoration_v1::Mode>>,
    pub popups_done: Vec<ObjectId>,
    pub selections: Vec<Selection>,
    /// MIME types our data sources were asked to send.
    pub sends: Vec<String>,
    pub cancelled_sources: usize,
    pub held_fds: Vec<OwnedFd>,
    /// Pings received; answered unless `hung`.
    pub pings: usize,
    /// Plays a hung app: pings are kept in `unanswered`, not answered.
    pub hung: bool,
    pub unanswered: Vec<u32>,
}

impl App {
    /// The last keyboard enter's serial, for requests that need one.
    pub fn last_enter_serial(&self) -> Option<u32> {
        self.keyboard_events.iter().rev().find_map(|e| match e {
            KeyboardEvent::Enter { serial, .. } => Some(*serial),
            _ => None,
        })
    }

    /// The keys pressed (evdev codes), in order.
    pub fn pressed_keys(&self) -> Vec<u32> {
        self.keyboard_events
            .iter()
            .filter_map(|e| match e {
                KeyboardEvent::Key { key, pressed: true } => Some(*key),
                _ => None,
            })
            .collect()
    }
}

/// A toplevel window: its surface and role objects.
#[derive(Debug, Clone)]
pub struct Window {
    pub surface: WlSurface,
    pub xdg_surface: XdgSurface,
    pub toplevel: XdgToplevel,
    pub decoration: Option<ZxdgToplevelDecorationV1>,
}

/// A test client.
#[derive(Debug)]
pub struct Client {
    pub conn: Connection,
    pub queue: EventQueue<App>,
    pub qh: QueueHandle<App>,
    pub registry: WlRegistry,
    pub app: App,
    compositor: Option<WlCompositor>,
    subcompositor: Option<WlSubcompositor>,
    shm: Option<WlShm>,
    wm_base: Option<XdgWmBase>,
    decoration_manager: Option<ZxdgDecorationManagerV1>,
    pub seat: Option<WlSeat>,
    data_device_manager: Option<WlDataDeviceManager>,
    pub data_device: Option<WlDataDevice>,
    /// Set when the connection broke without a protocol error (the server
    /// hung up, or a request could not be sent).
    pub io_error: Option<String>,
}

impl Client {
    /// Connects over `stream` and asks for the registry; the globals arrive
    /// with the next roundtrip.
    pub fn new(stream: UnixStream) -> Self {
        let conn = Connection::from_socket(stream).expect("connect the test client");
        let queue = conn.new_event_queue();
        let qh = queue.handle();
        let registry = conn.display().get_registry(&qh, ());
        Self {
            conn,
            queue,
            qh,
            registry,
            app: App::default(),
            compositor: None,
            subcompositor: None,
            shm: None,
            wm_base: None,
            decoration_manager: None,
            seat: None,
            data_device_manager: None,
            data_device: None,
            io_error: None,
        }
    }

    /// Sends wl_display.sync; the flag turns true when its callback fires.
    pub fn send_sync(&self) -> Arc<AtomicBool> {
        let done = Arc::new(AtomicBool::new(false));
        self.conn.display().sync(&self.qh, done.clone());
        done
    }

    /// Sends what is queued. A dead connection is recorded, not raised: the
    /// tests look at [`Client::protocol_error`] and [`Client::io_error`].
    pub fn flush(&mut self) {
        if let Err(e) = self.conn.flush() {
            self.note(e);
        }
    }

    /// Reads what the compositor sent, without blocking, and handles it.
    pub fn dispatch(&mut self) {
        if let Err(e) = self.queue.dispatch_pending(&mut self.app) {
            self.io_error.get_or_insert_with(|| e.to_string());
        }
        if let Some(guard) = self.conn.prepare_read() {
            if let Err(e) = guard.read() {
                self.note(e);
            }
        }
        if let Err(e) = self.queue.dispatch_pending(&mut self.app) {
            self.io_error.get_or_insert_with(|| e.to_string());
        }
    }

    fn note(&mut self, e: WaylandError) {
        match e {
            WaylandError::Io(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            e => {
                self.io_error.get_or_insert_with(|| e.to_string());
            }
        }
    }

    /// Whether the connection is over, for any reason.
    pub fn is_dead(&self) -> bool {
        self.protocol_error().is_some() || self.io_error.is_some()
    }

    /// The protocol error that ended this connection, if any.
    pub fn protocol_error(&self) -> Option<ProtocolError> {
        self.conn.protocol_error()
    }

    /// The advertised global of `interface`.
    pub fn global(&self, interface: &str) -> Option<Global> {
        self.app
            .globals
            .iter()
            .find(|g| g.interface == interface)
            .cloned()
    }

    /// Binds the advertised global of `I` at the highest version both sides
    /// know.
    pub fn bind<I>(&self) -> I
    where
        I: Proxy + 'static,
        App: Dispatch<I, ()>,
    {
        let name = I::interface().name;
        let global = self
            .global(name)
            .unwrap_or_else(|| panic!("{name} is not advertised"));
        let version = global.version.min(I::interface().version);
        self.registry
            .bind::<I, _, _>(global.name, version, &self.qh, ())
    }

    /// Binds what a desktop app binds: compositor, shm, xdg_wm_base,
    /// decorations, the seat with keyboard and pointer, the data device.
    pub fn bind_all(&mut self) {
        self.compositor = Some(self.bind());
        self.subcompositor = Some(self.bind());
        self.shm = Some(self.bind());
        self.wm_base = Some(self.bind());
        self.decoration_manager = Some(self.bind());
        let seat: WlSeat = self.bind();
        seat.get_keyboard(&self.qh, ());
        seat.get_pointer(&self.qh, ());
        let ddm: WlDataDeviceManager = self.bind();
        self.data_device = Some(ddm.get_data_device(&seat, &self.qh, ()));
        self.data_device_manager = Some(ddm);
        self.seat = Some(seat);
    }

    pub fn compositor(&self) -> &WlCompositor {
        self.compositor.as_ref().expect("bind_all first")
    }

    pub fn subcompositor(&self) -> &WlSubcompositor {
        self.subcompositor.as_ref().expect("bind_all first")
    }

    pub fn shm(&self) -> &WlShm {
        self.shm.as_ref().expect("bind_all first")
    }

    pub fn wm_base(&self) -> &XdgWmBase {
        self.wm_base.as_ref().expect("bind_all first")
    }

    pub fn data_device(&self) -> &WlDataDevice {
        self.data_device.as_ref().expect("bind_all first")
    }

    /// A new wl_surface.
    pub fn surface(&self) -> WlSurface {
        self.compositor().create_surface(&self.qh, ())
    }

    /// An xdg_toplevel with `title`, server-side decorations when `ssd`, and
    /// its initial commit (no buffer), as the protocol wants.
    pub fn create_toplevel(&self, title: &str, ssd: bool) -> Window {
        let surface = self.surface();
        let xdg_surface = self.wm_base().get_xdg_surface(&surface, &self.qh, ());
        let toplevel = xdg_surface.get_toplevel(&self.qh, ());
        toplevel.set_title(title.to_owned());
        let decoration = ssd.then(|| {
            let manager = self.decoration_manager.as_ref().expect("bind_all first");
            let decoration = manager.get_toplevel_decoration(&toplevel, &self.qh, ());
            decoration.set_mode(zxdg_toplevel_decoration_v1::Mode::ServerSide);
            decoration
        });
        surface.commit();
        Window {
            surface,
            xdg_surface,
            toplevel,
            decoration,
        }
    }

    /// The serial of the last configure of `xdg_surface`.
    pub fn last_configure(&self, xdg_surface: &XdgSurface) -> Option<u32> {
        self.app
            .configures
            .get(&xdg_surface.id())
            .and_then(|v| v.last().copied())
    }

    /// A memfd of `len` bytes, each pixel `argb` (ARGB8888, little-endian).
    pub fn memfd(len: usize, argb: u32) -> File {
        let fd = memfd_create("wsbox-test", MFdFlags::MFD_CLOEXEC).expect("memfd_create");
        let mut file = File::from(fd);
        let pixels: Vec<u8> = std::iter::repeat_n(argb.to_le_bytes(), len / 4)
            .flatten()
            .collect();
        file.write_all(&pixels).expect("fill the memfd");
        file.set_len(len as u64).expect("size the memfd");
        file
    }

    /// A pool over a memfd of `size` bytes filled with `argb`.
    pub fn pool(&self, size: i32, argb: u32) -> (WlShmPool, File) {
        let file = Self::memfd(size.max(0) as usize, argb);
        let pool = self.shm().create_pool(file.as_fd(), size, &self.qh, ());
        (pool, file)
    }

    /// A `w`×`h` ARGB8888 buffer of one colour.
    pub fn buffer(&self, w: i32, h: i32, argb: u32) -> WlBuffer {
        let (pool, _file) = self.pool(w * h * 4, argb);
        let buffer = pool.create_buffer(0, w, h, w * 4, wl_shm::Format::Argb8888, &self.qh, ());
        pool.destroy();
        buffer
    }

    /// Attaches `buffer` to `surface`, damages all of it and commits.
    pub fn attach_commit(&self, surface: &WlSurface, buffer: Option<&WlBuffer>) {
        surface.attach(buffer, 0, 0);
        surface.damage_buffer(0, 0, i32::MAX, i32::MAX);
        surface.commit();
    }

    /// A positioner for a `w`×`h` popup whose top left is at the parent's
    /// top left.
    pub fn positioner(&self, w: i32, h: i32) -> XdgPositioner {
        let positioner = self.wm_base().create_positioner(&self.qh, ());
        positioner.set_size(w, h);
        positioner.set_anchor_rect(0, 0, 1, 1);
        positioner.set_anchor(xdg_positioner::Anchor::TopLeft);
        positioner.set_gravity(xdg_positioner::Gravity::BottomRight);
        positioner
    }

    /// A data source offering `mime` that answers `send` with `payload`.
    pub fn data_source(&self, mime: &str, payload: Option<&[u8]>) -> WlDataSource {
        let ddm = self.data_device_manager.as_ref().expect("bind_all first");
        let source = ddm.create_data_source(&self.qh, SourceData(payload.map(<[u8]>::to_vec)));
        source.offer(mime.to_owned());
        source
    }
}

impl Dispatch<WlRegistry, ()> for App {
    fn event(
        app: &mut Self,
        _: &WlRegistry,
        event: wl_registry::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        match event {
            wl_registry::Event::Global {
                name,
                interface,
                version,
            } => app.globals.push(Global {
                name,
                interface,
                version,
            }),
            wl_registry::Event::GlobalRemove { name } => app.globals.retain(|g| g.name != name),
            _ => {}
        }
    }
}

impl Dispatch<WlCallback, Arc<AtomicBool>> for App {
    fn event(
        _: &mut Self,
        _: &WlCallback,
        event: wl_callback::Event,
        done: &Arc<AtomicBool>,
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        if let wl_callback::Event::Done { .. } = event {
            done.store(true, Ordering::SeqCst);
        }
    }
}

impl Dispatch<WlKeyboard, ()> for App {
    fn event(
        app: &mut Self,
        _: &WlKeyboard,
        event: wl_keyboard::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        let recorded = match event {
            wl_keyboard::Event::Enter {
                serial, surface, ..
            } => KeyboardEvent::Enter {
                serial,
                surface: surface.id(),
            },
            wl_keyboard::Event::Leave { surface, .. } => KeyboardEvent::Leave {
                surface: surface.id(),
            },
            wl_keyboard::Event::Key { key, state, .. } => KeyboardEvent::Key {
                key,
                pressed: state == WEnum::Value(wl_keyboard::KeyState::Pressed),
            },
            wl_keyboard::Event::Modifiers { mods_depressed, .. } => KeyboardEvent::Modifiers {
                depressed: mods_depressed,
            },
            // The keymap fd is dropped (closed) here.
            _ => return,
        };
        app.keyboard_events.push(recorded);
    }
}

impl Dispatch<WlPointer, ()> for App {
    fn event(
        app: &mut Self,
        _: &WlPointer,
        event: wl_pointer::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        let recorded = match event {
            wl_pointer::Event::Enter { surface, .. } => PointerEvent::Enter {
                surface: surface.id(),
            },
            wl_pointer::Event::Leave { surface, .. } => PointerEvent::Leave {
                surface: surface.id(),
            },
            wl_pointer::Event::Button { button, state, .. } => PointerEvent::Button {
                button,
                pressed: state == WEnum::Value(wl_pointer::ButtonState::Pressed),
            },
            _ => return,
        };
        app.pointer_events.push(recorded);
    }
}

impl Dispatch<XdgWmBase, ()> for App {
    fn event(
        app: &mut Self,
        wm_base: &XdgWmBase,
        event: xdg_wm_base::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        if let xdg_wm_base::Event::Ping { serial } = event {
            app.pings += 1;
            if app.hung {
                app.unanswered.push(serial);
            } else {
                wm_base.pong(serial);
            }
        }
    }
}

impl Dispatch<XdgSurface, ()> for App {
    fn event(
        app: &mut Self,
        xdg_surface: &XdgSurface,
        event: xdg_surface::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        if let xdg_surface::Event::Configure { serial } = event {
            app.configures
                .entry(xdg_surface.id())
                .or_default()
                .push(serial);
        }
    }
}

impl Dispatch<XdgToplevel, ()> for App {
    fn event(
        app: &mut Self,
        toplevel: &XdgToplevel,
        event: xdg_toplevel::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        match event {
            xdg_toplevel::Event::Configure { width, height, .. } => {
                app.toplevel_sizes.insert(toplevel.id(), (width, height));
            }
            xdg_toplevel::Event::Close => app.closed.push(toplevel.id()),
            _ => {}
        }
    }
}

impl Dispatch<XdgPopup, ()> for App {
    fn event(
        app: &mut Self,
        popup: &XdgPopup,
        event: xdg_popup::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        if let xdg_popup::Event::PopupDone = event {
            app.popups_done.push(popup.id());
        }
    }
}

impl Dispatch<ZxdgToplevelDecorationV1, ()> for App {
    fn event(
        app: &mut Self,
        decoration: &ZxdgToplevelDecorationV1,
        event: zxdg_toplevel_decoration_v1::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        if let zxdg_toplevel_decoration_v1::Event::Configure { mode } = event {
            app.decoration_modes.insert(decoration.id(), mode);
        }
    }
}

impl Dispatch<WlDataDevice, ()> for App {
    fn event(
        app: &mut Self,
        _: &WlDataDevice,
        event: wl_data_device::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        if let wl_data_device::Event::Selection { id } = event {
            let selection = id.map(|offer| {
                let mimes = offer
                    .data::<OfferData>()
                    .and_then(|d| d.0.lock().ok().map(|m| m.clone()))
                    .unwrap_or_default();
                (offer, mimes)
            });
            app.selections.push(selection);
        }
    }

    event_created_child!(App, WlDataDevice, [
        wl_data_device::EVT_DATA_OFFER_OPCODE => (WlDataOffer, OfferData::default()),
    ]);
}

impl Dispatch<WlDataOffer, OfferData> for App {
    fn event(
        _: &mut Self,
        _: &WlDataOffer,
        event: wl_data_offer::Event,
        data: &OfferData,
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        if let wl_data_offer::Event::Offer { mime_type } = event {
            if let Ok(mut mimes) = data.0.lock() {
                mimes.push(mime_type);
            }
        }
    }
}

impl Dispatch<WlDataSource, SourceData> for App {
    fn event(
        app: &mut Self,
        _: &WlDataSource,
        event: wl_data_source::Event,
        data: &SourceData,
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        match event {
            wl_data_source::Event::Send { mime_type, fd } => {
                app.sends.push(mime_type);
                match &data.0 {
                    Some(payload) => {
                        // The fd is closed when `file` drops: that is the end
                        // of the transfer for the reader.
                        let mut file = File::from(fd);
                        file.write_all(payload)
                            .expect("write the clipboard payload");
                    }
                    None => app.held_fds.push(fd),
                }
            }
            wl_data_source::Event::Cancelled => app.cancelled_sources += 1,
            _ => {}
        }
    }
}

delegate_noop!(App: WlCompositor);
delegate_noop!(App: wayland_protocols::xdg::activation::v1::client::xdg_activation_v1::XdgActivationV1);
delegate_noop!(App: ignore wayland_protocols::xdg::activation::v1::client::xdg_activation_token_v1::XdgActivationTokenV1);
delegate_noop!(App: wayland_client::protocol::wl_region::WlRegion);
delegate_noop!(App: WlSubcompositor);
delegate_noop!(App: WlSubsurface);
delegate_noop!(App: WlShmPool);
delegate_noop!(App: WlDataDeviceManager);
delegate_noop!(App: XdgPositioner);
delegate_noop!(App: ZxdgDecorationManagerV1);
delegate_noop!(App: ignore WlShm);
delegate_noop!(App: ignore WlSeat);
delegate_noop!(App: ignore WlSurface);
delegate_noop!(App: ignore WlBuffer);
