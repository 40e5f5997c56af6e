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
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use smithay::delegate_xwayland_shell;
use smithay::desktop::Window;
use smithay::reexports::calloop::EventLoop;
use smithay::reexports::wayland_server::protocol::wl_surface::WlSurface;
use smithay::reexports::wayland_server::{Client, Resource};
use smithay::utils::{Logical, Rectangle};
use smithay::wayland::selection::data_device::{
    clear_data_device_selection, current_data_device_selection_userdata, set_data_device_selection,
    SelectionRequestError,
};
use smithay::wayland::selection::primary_selection::{
    clear_primary_selection, current_primary_selection_userdata, set_primary_selection,
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

/// How long the event loop may go without a round while X11 runs before
/// the window manager's connection is cut: its calls wait for the X server
/// without a timeout, and any X client can stop the server answering (a
/// server grab it never releases).
const STALL: Duration = Duration::from_secs(10);

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
        let guard = wm
            .try_clone()
            .map_err(|e| format!("failed to watch the window manager's connection: {e}"))?;
        self.x11_beat();
        let wm = X11Wm::start_wm(events.handle(), wm, client.clone())
            .map_err(|e| format!("failed to start the X11 window manager: {e}"))?;
        self.x11.wm = Some(wm);
        self.watch_x11_stalls(guard)?;
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

    /// The event loop went round.
    pub(crate) fn x11_beat(&self) {
        let ms = self.core.start_time.elapsed().as_millis();
        self.x11
            .beat
            .store(u64::try_from(ms).unwrap_or(u64::MAX), Ordering::Relaxed);
    }

    /// A thread that cuts the window manager's connection (`guard`, a copy
    /// of it) when the event loop has not gone round for [`STALL`]: the
    /// waiting call then fails, the window manager ends, the X11 windows go
    /// and the Wayland side goes on.
    fn watch_x11_stalls(&self, guard: UnixStream) -> Result<(), String> {
        let (beat, gone, start) = (
            self.x11.beat.clone(),
            self.x11.gone.clone(),
            self.core.start_time,
        );
        std::thread::Builder::new()
            .name("x11-watchdog".into())
            .spawn(move || {
                while !gone.load(Ordering::Relaxed) {
                    std::thread::sleep(Duration::from_secs(1));
                    let now = u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX);
                    let last = beat.load(Ordering::Relaxed);
                    if now.saturating_sub(last) > STALL.as_millis() as u64 {
                        tracing::warn!(
                            "X11: the X server kept the window manager waiting for over {STALL:?} \
                             (an X client may hold a server grab); X11 is cut off"
                        );
                        let _ = guard.shutdown(std::net::Shutdown::Both);
                        return;
                    }
                }
            })
            .map(drop)
            .map_err(|e| format!("failed to start the window manager's watchdog: {e}"))
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
    /// that named it, if one waits for it. Before the commit's window is
    /// looked up.
    pub(crate) fn x11_pair(&mut self, surface: &WlSurface) {
        if self.x11.unpaired.is_empty() || !self.is_xwayland(surface) {
            return;
        }
        if let Some(x11) = self.x11.unpaired.remove(&surface.id().protocol_id()) {
            if !x11.pair_wl_surface_id(surface) {
                // Named again meanwhile: it waits for its new surface.
                self.remember_unpaired(x11);
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
        self.x11.unpaired.retain(|_, x| x != x11);
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

    /// Keeps an X11 window until the surface its `WL_SURFACE_ID` named is
    /// committed.
    #[allow(deprecated)] // WL_SURFACE_ID: see wl_surface_id below
    fn remember_unpaired(&mut self, x11: X11Surface) {
        let Some(id) = x11.wl_surface_id().filter(|_| x11.wl_surface().is_none()) else {
            return;
        };
        if self.x11.unpaired.len() >= MAX_UNPAIRED && !self.x11.unpaired.contains_key(&id) {
            tracing::debug!("X11: more than {MAX_UNPAIRED} windows wait for their surface");
            return;
        }
        self.x11.unpaired.insert(id, x11);
    }
}

/// Whether `surface` shows a buffer.
pub(super) fn has_buffer(surface: &WlSurface) -> bool {
    smithay::backend::renderer::utils::with_renderer_surface_state(surface, |s| {
        s.buffer().is_some()
    })
    .unwrap_or(false)
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
        self.core.place(&window);
        self.core.needs_redraw = true;
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
        // of a dialog (or of a window not shown yet), within a dialog's
        // bounds. It raises nothing.
        let window = self.x11_window(&x11);
        let probe = window
            .clone()
            .unwrap_or_else(|| Window::new_x11_window(x11.clone()));
        let max = self.core.dialog_bounds(&probe);
        let size = |v: Option<u32>, old: i32, max: i32| {
            v.map_or(old, |v| i32::try_from(v).unwrap_or(max))
                .clamp(1, max)
        };
        let mut geometry = x11.geometry();
        geometry.size = (
            size(w, geometry.size.w, max.w),
            size(h, geometry.size.h, max.h),
        )
            .into();
        match window {
            None => {
                let _ = x11.configure(geometry);
            }
            Some(window) => {
                if self.core.parent_of(&window).is_some() {
                    let _ = x11.configure(geometry);
                }
                // Placed again where the rules say, at the size it now has;
                // the synthetic configure tells the app where it is.
                self.core.place_again(&window);
            }
        }
    }

    fn configure_notify(
        &mut self,
        _xwm: XwmId,
        x11: X11Surface,
        _geometry: Rectangle<i32, Logical>,
        _above: Option<u32>,
    ) {
        if !x11.is_override_redirect() {
            return;
        }
        if let Some(window) = self.x11_window(&x11) {
            self.core.place_again(&window);
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
                self.x11.unpaired.retain(|_, x| x != &x11);
                if let Some(window) = self.core.window_for(&surface) {
                    if has_buffer(&surface) {
                        self.core.mark_shown(&window);
                    }
                }
            }
            _ => self.remember_unpaired(x11),
        }
    }

    fn allow_selection_access(&mut self, _xwm: XwmId, _selection: SelectionTarget) -> bool {
        // As for Wayland clients: the selection follows the keyboard focus.
        self.x11_focused()
    }

    fn new_selection(&mut self, _xwm: XwmId, selection: SelectionTarget, mimes: Vec<String>) {
        // As for Wayland clients: only the focused client sets a selection.
        if !self.x11_focused() {
            tracing::debug!(
                ?selection,
                "X11: a selection set without the focus is ignored"
            );
            return;
        }
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
        // An X11 client reads what the Wayland side owns.
        if let Err(err) = self.read_selection(selection, mime, fd) {
            tracing::debug!(%err, "X11: selection not sent");
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
        self.x11.gone.store(true, Ordering::Relaxed);
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
