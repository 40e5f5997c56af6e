//! What the test programs under src/bin share as Wayland clients: one
//! window (an xdg_toplevel) on the compositor of WAYLAND_DISPLAY, the
//! events every such client answers the same way, reading with a time
//! limit, and the memfds behind their buffers.

use std::ffi::CStr;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::Duration;

use wayland_client::backend::WaylandError;
use wayland_client::globals::{registry_queue_init, GlobalList, GlobalListContents};
use wayland_client::protocol::{wl_compositor::WlCompositor, wl_registry, wl_shm::WlShm};
use wayland_client::protocol::{wl_registry::WlRegistry, wl_surface::WlSurface};
use wayland_client::{Connection, Dispatch, EventQueue, QueueHandle};
use wayland_protocols::xdg::shell::client::{
    xdg_surface::XdgSurface,
    xdg_toplevel::XdgToplevel,
    xdg_wm_base::{self, XdgWmBase},
};

/// Ignores the registry's events: the globals are read once, at
/// connection (`delegate_dispatch!(App: [WlRegistry: GlobalListContents]
/// => Ignore)`).
#[derive(Debug)]
pub struct Ignore;

impl<D: Dispatch<WlRegistry, GlobalListContents>> Dispatch<WlRegistry, GlobalListContents, D>
    for Ignore
{
    fn event(
        _: &mut D,
        _: &WlRegistry,
        _: wl_registry::Event,
        _: &GlobalListContents,
        _: &Connection,
        _: &QueueHandle<D>,
    ) {
    }
}

/// Answers xdg_wm_base's pings: a client that misses a pong is declared
/// unresponsive (`delegate_dispatch!(App: [XdgWmBase: ()] => Pong)`).
#[derive(Debug)]
pub struct Pong;

impl<D: Dispatch<XdgWmBase, ()>> Dispatch<XdgWmBase, (), D> for Pong {
    fn event(
        _: &mut D,
        wm_base: &XdgWmBase,
        event: xdg_wm_base::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<D>,
    ) {
        if let xdg_wm_base::Event::Ping { serial } = event {
            wm_base.pong(serial);
        }
    }
}

/// A connection with one toplevel window, not yet configured.
#[derive(Debug)]
pub struct Window<D> {
    pub conn: Connection,
    pub globals: GlobalList,
    pub queue: EventQueue<D>,
    pub qh: QueueHandle<D>,
    pub compositor: WlCompositor,
    pub shm: WlShm,
    pub wm_base: XdgWmBase,
    pub surface: WlSurface,
    pub xdg_surface: XdgSurface,
    pub toplevel: XdgToplevel,
}

impl<D> Window<D>
where
    D: Dispatch<WlRegistry, GlobalListContents>
        + Dispatch<WlCompositor, ()>
        + Dispatch<WlShm, ()>
        + Dispatch<XdgWmBase, ()>
        + Dispatch<WlSurface, ()>
        + Dispatch<XdgSurface, ()>
        + Dispatch<XdgToplevel, ()>
        + 'static,
{
    /// Connects to WAYLAND_DISPLAY and opens a toplevel with `title` and
    /// `app_id`. Its empty commit asks for the first configure; no buffer
    /// comes before it (xdg-shell forbids one).
    pub fn open(title: &str, app_id: &str) -> Result<Self, String> {
        let conn = Connection::connect_to_env()
            .map_err(|e| format!("cannot connect to the Wayland compositor: {e}"))?;
        let (globals, queue) = registry_queue_init::<D>(&conn)
            .map_err(|e| format!("cannot read the compositor's globals: {e}"))?;
        let qh = queue.handle();
        let compositor: WlCompositor = globals
            .bind(&qh, 1..=4, ())
            .map_err(|e| format!("wl_compositor: {e}"))?;
        let shm: WlShm = globals
            .bind(&qh, 1..=1, ())
            .map_err(|e| format!("wl_shm: {e}"))?;
        let wm_base: XdgWmBase = globals
            .bind(&qh, 1..=6, ())
            .map_err(|e| format!("xdg_wm_base: {e}"))?;
        let surface = compositor.create_surface(&qh, ());
        let xdg_surface = wm_base.get_xdg_surface(&surface, &qh, ());
        let toplevel = xdg_surface.get_toplevel(&qh, ());
        toplevel.set_title(title.to_owned());
        toplevel.set_app_id(app_id.to_owned());
        surface.commit();
        Ok(Self {
            conn,
            globals,
            queue,
            qh,
            compositor,
            shm,
            wm_base,
            surface,
            xdg_surface,
            toplevel,
        })
    }
}

/// A new anonymous file (for a buffer's pixels or a keymap).
pub fn memfd(name: &CStr) -> io::Result<OwnedFd> {
    // SAFETY: `name` is NUL-terminated and the flags are valid.
    let fd = unsafe { libc::memfd_create(name.as_ptr(), libc::MFD_CLOEXEC) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: memfd_create just returned this descriptor and nothing else
    // owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Sends what is queued and reads what the compositor sent, waiting for it
/// `left` at the most (`None`: as long as it takes); the events then wait
/// in `queue` for `dispatch_pending`. A client that polls rather than
/// blocks keeps its own time limits even while the compositor says
/// nothing.
pub fn flush_and_read<D>(queue: &mut EventQueue<D>, left: Option<Duration>) -> Result<(), String> {
    let lost = |e: WaylandError| format!("lost the connection to the compositor: {e}");
    let mut events = libc::POLLIN;
    match queue.flush() {
        Ok(()) => {}
        // The socket buffer is full: wait until it drains, then flush again.
        Err(WaylandError::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => {
            events |= libc::POLLOUT;
        }
        Err(e) => return Err(lost(e)),
    }
    let Some(guard) = queue.prepare_read() else {
        // Events are already queued; dispatch them first.
        return Ok(());
    };
    // Rounded up so the wake-up is never a busy loop just short of it.
    let timeout_ms = left.map_or(-1, |left| {
        i32::try_from(left.as_micros().div_ceil(1000)).unwrap_or(i32::MAX)
    });
    let mut pollfd = libc::pollfd {
        fd: guard.connection_fd().as_raw_fd(),
        events,
        revents: 0,
    };
    // SAFETY: one valid pollfd, and the fd stays open while `guard` lives.
    let ready = unsafe { libc::poll(&mut pollfd, 1, timeout_ms) };
    if ready < 0 {
        let e = io::Error::last_os_error();
        if e.kind() == io::ErrorKind::Interrupted {
            return Ok(());
        }
        return Err(format!("poll: {e}"));
    }
    if pollfd.revents & (libc::POLLIN | libc::POLLHUP | libc::POLLERR) == 0 {
        // Timed out or only writable: dropping the guard cancels the read.
        return Ok(());
    }
    match guard.read() {
        Ok(_) => Ok(()),
        Err(WaylandError::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => Ok(()),
        Err(e) => Err(lost(e)),
    }
}
