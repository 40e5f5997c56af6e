//! X11 windows: smithay's window manager (`X11Wm`) on the sandbox's own
//! Xwayland, which pid 1 started inside the sandbox. wsbox inserted
//! Xwayland's Wayland connection as an ordinary client and hands the
//! compositor the window manager's end of a socket pair once Xwayland is
//! ready ([`State::start_x11`]).
//!
//! The X server runs inside the sandbox, where the app can drive it:
//! everything read from it is hostile input. smithay bounds what it reads
//! (vendor/smithay/WSBOX-PATCHES.md); here X11 windows are placed by the
//! same rules as Wayland ones (`crate::layout`): toplevels fill the
//! output, transient windows are centred dialogs, override-redirect windows
//! (menus, tooltips) stay where the app put them but inside wsbox's frame.
//! Their moves and resizes are the window manager's to decide, never the
//! app's. Debian 12's Xwayland (22.1) names each window's wl_surface with
//! a `WL_SURFACE_ID` client message, paired here in either order.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use smithay::delegate_xwayland_shell;
use smithay::desktop::Window;
use smithay::reexports::calloop::EventLoop;
use smithay::reexports::wayland_server::protocol::wl_surface::WlSurface;
use smithay::reexports::wayland_server::{Client, Resource};
use smithay::utils::{Logical, Rectangle};
use smithay::wayland::selection::data_device::{
    clear_data_device_selection, current_data_device_selection_userdata,
    request_data_device_client_selection, set_data_device_selection, SelectionRequestError,
};
use smithay::wayland::selection::primary_selection::{
    clear_primary_selection, current_primary_selection_userdata, request_primary_client_selection,
    set_primary_selection,
};
use smithay::wayland::selection::SelectionTarget;
use smithay::wayland::xwayland_shell::{XWaylandShellHandler, XWaylandShellState};
use smithay::xwayland::xwm::{Reorder, ResizeEdge, SelectionError, XwmId};
use smithay::xwayland::{X11Surface, X11Wm, XwmHandler};

use crate::clipboard::Owner;
use crate::layout::Mapped;
use crate::state::State;

/// X11 windows waiting for their wl_surface; past this, the oldest goes.
const MAX_UNPAIRED: usize = 256;

/// Reads of an X11 client's selection that may start in [`READS_WINDOW`]:
/// each holds up to 4 MiB in wsbox until its reader takes it.
const MAX_READS: usize = 16;
const READS_WINDOW: Duration = Duration::from_secs(10);

impl State {
    /// Makes ready for X11: `client` is Xwayland's Wayland connection, which
    /// wsbox inserted as an ordinary client. Done before wsbox confines
    /// itself; the window manager starts later ([`State::start_x11`]).
    pub fn prepare_x11(&mut self, client: Client) -> Result<(), String> {
        if self.x11.client.is_some() {
            return Err("X11 is set up already".into());
        }
        let dh = self.core.display_handle.clone();
        let shell = XWaylandShellState::new::<State>(&dh);
        // Xwayland 22 does not know xwayland_shell_v1, and no client may see
        // a global outside the allowlist (crate::globals).
        dh.remove_global::<State>(shell.global());
        let events: EventLoop<'static, State> =
            EventLoop::try_new().map_err(|e| format!("failed to create its event loop: {e}"))?;
        self.x11.shell = Some(shell);
        self.x11.events = Some(events);
        self.x11.client = Some(client);
        Ok(())
    }

    /// Starts the window manager on `wm`, its end of the socket pair whose
    /// other end Xwayland got with `-wm`, once Xwayland said it is ready.
    pub fn start_x11(&mut self, wm: UnixStream) -> Result<(), String> {
        let (Some(events), Some(client)) = (&self.x11.events, &self.x11.client) else {
            return Err("X11 was not set up".into());
        };
        if self.x11.wm.is_some() {
            return Err("the X11 window manager runs already".into());
        }
        let wm = X11Wm::start_wm(events.handle(), wm, client.clone())
            .map_err(|e| format!("failed to start the X11 window manager: {e}"))?;
        self.x11.wm = Some(wm);
        tracing::info!("X11: window manager started");
        Ok(())
    }

    /// The fd to watch for the window manager's events (readable: call
    /// [`State::dispatch_x11`]); None before [`State::prepare_x11`].
    pub fn x11_fd(&self) -> Option<BorrowedFd<'_>> {
        self.x11.events.as_ref().map(|e| e.as_fd())
    }

    /// Handles what the X server sent the window manager.
    pub fn dispatch_x11(&mut self) {
        if self.x11.wm.is_none() {
            return;
        }
        let Some(mut events) = self.x11.events.take() else {
            return;
        };
        if let Err(err) = events.dispatch(Some(Duration::ZERO), self) {
            tracing::warn!(%err, "X11: window manager's events");
        }
        self.x11.events = Some(events);
        self.flush_clients();
    }

    /// The sandbox is ending: its Xwayland ends with it, which is no news.
    pub fn set_ending(&mut self) {
        self.x11.ending = true;
    }

    /// Says that Xwayland went away, a while after it did, unless the
    /// sandbox was ending anyway (then pid 1's end and Xwayland's race).
    pub(crate) fn x11_report_loss(&mut self) {
        let Some(lost) = self.x11.lost else {
            return;
        };
        if self.x11.ending {
            self.x11.lost = None;
        } else if lost.elapsed() >= Duration::from_secs(1) {
            self.x11.lost = None;
            tracing::warn!("X11: Xwayland went away; its windows are gone, Wayland clients stay");
        }
    }

    /// Whether `surface` belongs to the sandbox's Xwayland.
    fn is_xwayland(&self, surface: &WlSurface) -> bool {
        let Some(client) = &self.x11.client else {
            return false;
        };
        surface.client().is_some_and(|c| c.id() == client.id())
    }

    /// A surface of Xwayland's was committed: pairs it with the X11 window
    /// that named it, and maps that window once it shows a buffer.
    pub(crate) fn x11_commit(&mut self, surface: &WlSurface) {
        if !self.is_xwayland(surface) {
            return;
        }
        if let Some(i) = self
            .x11
            .unpaired
            .iter()
            .position(|x| x.pair_wl_surface_id(surface))
        {
            self.x11.unpaired.swap_remove(i);
        }
        let Some(window) = self.core.window_for(surface) else {
            return;
        };
        let has_buffer =
            smithay::backend::renderer::utils::with_renderer_surface_state(surface, |s| {
                s.buffer().is_some()
            })
            .unwrap_or(false);
        let mapped = window.user_data().get_or_insert(Mapped::default);
        if has_buffer && !mapped.0.get() {
            mapped.0.set(true);
            if !crate::toplevel::is_override_redirect(&window) {
                self.core.windows_shown += 1;
                self.core.space.raise_element(&window, true);
                self.core.refocus = true;
            }
        }
    }

    /// The space's window for an X11 window.
    fn x11_window(&self, x11: &X11Surface) -> Option<Window> {
        self.core
            .space
            .elements()
            .find(|w| w.x11_surface() == Some(x11))
            .cloned()
    }

    fn forget_x11(&mut self, x11: &X11Surface) {
        self.x11.unpaired.retain(|x| x != x11);
        if let Some(window) = self.x11_window(x11) {
            self.core.space.unmap_elem(&window);
            self.core.refocus = true;
            self.core.needs_redraw = true;
        }
    }

    /// Tells the X11 clients what the Wayland side now offers as `ty`
    /// (None: nothing).
    pub(crate) fn x11_offer_selection(&mut self, ty: SelectionTarget, mimes: Option<Vec<String>>) {
        if let Some(wm) = self.x11.wm.as_mut() {
            if let Err(err) = wm.new_selection(ty, mimes) {
                tracing::debug!(%err, "X11: cannot offer the selection");
            }
        }
    }

    /// A Wayland client of the sandbox reads the selection an X11 client
    /// owns.
    pub(crate) fn x11_read_selection(&mut self, ty: SelectionTarget, mime: String, fd: OwnedFd) {
        if let Err(err) = self.x11_ask_selection(ty, mime, fd) {
            tracing::debug!(%err, "X11: selection not read");
        }
    }

    /// Asks the X11 client that owns `ty` to write it as `mime` into `fd`.
    pub(crate) fn x11_ask_selection(
        &mut self,
        ty: SelectionTarget,
        mime: String,
        fd: OwnedFd,
    ) -> Result<(), SelectionRequestError> {
        let now = Instant::now();
        let reads = &mut self.x11.reads;
        reads.retain(|t| now.duration_since(*t) < READS_WINDOW);
        if reads.len() >= MAX_READS {
            tracing::warn!(
                "X11: more than {MAX_READS} selection reads in {READS_WINDOW:?}, refused"
            );
            return Err(SelectionRequestError::NoSelection);
        }
        let (Some(wm), Some(events)) = (self.x11.wm.as_mut(), self.x11.events.as_ref()) else {
            return Err(SelectionRequestError::NoSelection);
        };
        match wm.send_selection(ty, mime, fd, events.handle()) {
            Ok(()) => {
                reads.push(now);
                Ok(())
            }
            Err(SelectionError::UnableToDetermineAtom) => {
                Err(SelectionRequestError::InvalidMimetype)
            }
            Err(err) => {
                tracing::debug!(%err, "X11: cannot read the selection");
                Err(SelectionRequestError::NoSelection)
            }
        }
    }

    /// Whether the keyboard focus is on one of Xwayland's surfaces.
    fn x11_focused(&self) -> bool {
        self.seat
            .get_keyboard()
            .and_then(|k| k.current_focus())
            .is_some_and(|s| self.is_xwayland(&s))
    }

    /// Where an override-redirect window goes: where the app put it, slid
    /// inside the area wsbox's frames enclose.
    fn place_override_redirect(&mut self, window: &Window, geometry: Rectangle<i32, Logical>) {
        let area = self.core.content_area();
        let size = geometry.size;
        let clamp = |v: i32, low: i32, high: i32| if high < low { low } else { v.clamp(low, high) };
        let x = clamp(
            geometry.loc.x,
            area.loc.x,
            area.loc.x + area.size.w - size.w,
        );
        let y = clamp(
            geometry.loc.y,
            area.loc.y,
            area.loc.y + area.size.h - size.h,
        );
        self.core.space.map_element(window.clone(), (x, y), true);
        self.core.needs_redraw = true;
    }

    fn remember_unpaired(&mut self, x11: X11Surface) {
        if x11.wl_surface().is_some() || self.x11.unpaired.contains(&x11) {
            return;
        }
        if self.x11.unpaired.len() >= MAX_UNPAIRED {
            self.x11.unpaired.remove(0);
        }
        self.x11.unpaired.push(x11);
    }
}

impl XwmHandler for State {
    fn xwm_state(&mut self, _xwm: XwmId) -> &mut X11Wm {
        // Events come only through dispatch_x11, which runs only once the
        // window manager is stored; it is never taken out again.
        #[allow(clippy::expect_used)]
        self.x11.wm.as_mut().expect("the window manager runs")
    }

    fn new_window(&mut self, _xwm: XwmId, _window: X11Surface) {}

    fn new_override_redirect_window(&mut self, _xwm: XwmId, _window: X11Surface) {}

    fn map_window_request(&mut self, _xwm: XwmId, x11: X11Surface) {
        if let Err(err) = x11.set_mapped(true) {
            tracing::debug!(%err, "X11: cannot map a window");
            return;
        }
        let window = match self.x11_window(&x11) {
            Some(window) => window,
            None => Window::new_x11_window(x11.clone()),
        };
        window.user_data().insert_if_missing(Mapped::default);
        self.core.place(&window);
        self.remember_unpaired(x11);
        self.core.needs_redraw = true;
    }

    fn mapped_override_redirect_window(&mut self, _xwm: XwmId, x11: X11Surface) {
        let window = match self.x11_window(&x11) {
            Some(window) => window,
            None => Window::new_x11_window(x11.clone()),
        };
        window.user_data().insert_if_missing(Mapped::default);
        self.place_override_redirect(&window, x11.geometry());
        self.remember_unpaired(x11);
    }

    fn unmapped_window(&mut self, _xwm: XwmId, x11: X11Surface) {
        self.forget_x11(&x11);
        if !x11.is_override_redirect() {
            let _ = x11.set_mapped(false);
        }
    }

    fn destroyed_window(&mut self, _xwm: XwmId, x11: X11Surface) {
        self.forget_x11(&x11);
    }

    fn configure_request(
        &mut self,
        _xwm: XwmId,
        x11: X11Surface,
        _x: Option<i32>,
        _y: Option<i32>,
        w: Option<u32>,
        h: Option<u32>,
        _reorder: Option<Reorder>,
    ) {
        // The window manager places windows; an app chooses only the size
        // of a dialog, within the bounds of the content area.
        let Some(window) = self.x11_window(&x11) else {
            // Not mapped yet: the size it asks for, placed at map time.
            let mut geometry = x11.geometry();
            let area = self.core.content_area();
            let clamp = |v: Option<u32>, old: i32, max: i32| {
                v.map_or(old, |v| i32::try_from(v).unwrap_or(max).min(max))
                    .max(1)
            };
            geometry.size.w = clamp(w, geometry.size.w, area.size.w);
            geometry.size.h = clamp(h, geometry.size.h, area.size.h);
            let _ = x11.configure(geometry);
            return;
        };
        if self.core.parent_of(&window).is_some() {
            let area = self.core.content_area();
            let mut geometry = x11.geometry();
            if let Some(w) = w {
                geometry.size.w = i32::try_from(w)
                    .unwrap_or(area.size.w)
                    .clamp(1, area.size.w);
            }
            if let Some(h) = h {
                geometry.size.h = i32::try_from(h)
                    .unwrap_or(area.size.h)
                    .clamp(1, area.size.h);
            }
            let _ = x11.configure(geometry);
        }
        // Placed again where the rules say, at the size it now has; the
        // synthetic configure tells the app where it is.
        self.core.place(&window);
    }

    fn configure_notify(
        &mut self,
        _xwm: XwmId,
        x11: X11Surface,
        geometry: Rectangle<i32, Logical>,
        _above: Option<u32>,
    ) {
        if !x11.is_override_redirect() {
            return;
        }
        if let Some(window) = self.x11_window(&x11) {
            self.place_override_redirect(&window, geometry);
        }
    }

    fn resize_request(
        &mut self,
        _xwm: XwmId,
        _window: X11Surface,
        _button: u32,
        _edge: ResizeEdge,
    ) {
    }

    fn move_request(&mut self, _xwm: XwmId, _window: X11Surface, _button: u32) {}

    // WL_SURFACE_ID is the only way Xwayland 22.1 (Debian 12) names a
    // window's surface; smithay deprecates it for xwayland_shell_v1 (23.1).
    #[allow(deprecated)]
    fn wl_surface_id(&mut self, _xwm: XwmId, x11: X11Surface) {
        let (Some(client), Some(id)) = (self.x11.client.clone(), x11.wl_surface_id()) else {
            return;
        };
        let dh = self.core.display_handle.clone();
        match client.object_from_protocol_id::<WlSurface>(&dh, id) {
            Ok(surface) if x11.pair_wl_surface_id(&surface) => {
                self.x11.unpaired.retain(|x| x != &x11);
                self.x11_commit(&surface);
            }
            _ => self.remember_unpaired(x11),
        }
    }

    fn allow_selection_access(&mut self, _xwm: XwmId, _selection: SelectionTarget) -> bool {
        // As for Wayland clients: the selection follows the keyboard focus.
        self.x11_focused()
    }

    fn new_selection(&mut self, _xwm: XwmId, selection: SelectionTarget, mimes: Vec<String>) {
        let dh = self.core.display_handle.clone();
        match selection {
            SelectionTarget::Clipboard => {
                set_data_device_selection(&dh, &self.seat, mimes, Owner::X11);
                self.sandbox_selection_changed();
            }
            SelectionTarget::Primary => {
                // The primary selection never leaves the sandbox.
                set_primary_selection(&dh, &self.seat, mimes, Owner::X11);
                self.core.stats.clipboard.kept_inside += 1;
            }
        }
    }

    fn send_selection(
        &mut self,
        _xwm: XwmId,
        selection: SelectionTarget,
        mime: String,
        fd: OwnedFd,
    ) {
        // An X11 client reads what the Wayland side owns: a client's, or
        // the host's text wsbox pasted in.
        match selection {
            SelectionTarget::Clipboard => {
                let own =
                    current_data_device_selection_userdata::<State>(&self.seat).map(|d| d.clone());
                match own {
                    Some(Owner::Host(bytes)) => self.serve_sandbox_read(fd, bytes),
                    Some(Owner::X11) => {}
                    None => {
                        if let Err(err) = request_data_device_client_selection(&self.seat, mime, fd)
                        {
                            tracing::debug!(%err, "X11: clipboard not sent");
                        }
                    }
                }
            }
            SelectionTarget::Primary => {
                if let Err(err) = request_primary_client_selection(&self.seat, mime, fd) {
                    tracing::debug!(%err, "X11: primary selection not sent");
                }
            }
        }
    }

    fn cleared_selection(&mut self, _xwm: XwmId, selection: SelectionTarget) {
        let dh = self.core.display_handle.clone();
        match selection {
            SelectionTarget::Clipboard => {
                let x11 = current_data_device_selection_userdata::<State>(&self.seat)
                    .is_some_and(|d| matches!(*d, Owner::X11));
                if x11 {
                    clear_data_device_selection(&dh, &self.seat);
                }
            }
            SelectionTarget::Primary => {
                let x11 = current_primary_selection_userdata::<State>(&self.seat)
                    .is_some_and(|d| matches!(*d, Owner::X11));
                if x11 {
                    clear_primary_selection(&dh, &self.seat);
                }
            }
        }
    }

    fn disconnected(&mut self, _xwm: XwmId) {
        self.x11.lost = Some(Instant::now());
        let gone: Vec<Window> = self
            .core
            .space
            .elements()
            .filter(|w| w.is_x11())
            .cloned()
            .collect();
        for window in gone {
            self.core.space.unmap_elem(&window);
        }
        self.x11.unpaired.clear();
        self.core.refocus = true;
        self.core.needs_redraw = true;
    }
}

impl XWaylandShellHandler for State {
    fn xwayland_shell_state(&mut self) -> &mut XWaylandShellState {
        // Made before the window manager, which alone calls this.
        #[allow(clippy::expect_used)]
        self.x11.shell.as_mut().expect("made by prepare_x11")
    }
}
delegate_xwayland_shell!(State);
