//! The compositor's state: `State { backend, core, seat }`, so handlers can
//! borrow the renderer and the protocol state separately. Its creation is
//! in `crate::setup`; the host window's events are applied in
//! `crate::input`.
//!
//! Every smithay `*_state` field is one allowlisted global (see
//! [`crate::globals`]); nothing else is ever created.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use smithay::desktop::Window;
use smithay::input::{Seat, SeatState};
use smithay::output::{Mode, Scale};
use smithay::reexports::wayland_server::backend::{ClientData, ClientId, DisconnectReason};
use smithay::reexports::wayland_server::Client;
use smithay::utils::{Logical, Size};
use smithay::wayland::compositor::CompositorClientState;

use crate::backend::{host, Backend};
use crate::core_state::Core;
use crate::limits::{self, ClientLimits};
use crate::screenshot;

/// Errors creating the compositor.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("failed to compile the keymap (layout {layout:?}, variant {variant:?}): check the policy's [keyboard] section or XKB_DEFAULT_*")]
    Keymap { layout: String, variant: String },
    #[error("failed to create the pixman renderer: {0}")]
    Renderer(String),
    #[error("failed to set up the clipboard: {0}")]
    Clipboard(std::io::Error),
    #[error("invalid output size {0}x{1}")]
    OutputSize(i32, i32),
    #[error(transparent)]
    Host(#[from] host::Error),
}

/// A window as the control socket reports it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct WindowInfo {
    pub title: String,
    pub app_id: String,
    pub x: i32,
    pub y: i32,
    pub width: i32,
    pub height: i32,
    pub focused: bool,
}

/// The whole compositor.
#[derive(Debug)]
pub struct State {
    pub backend: Backend,
    pub core: Core,
    /// The seat is here, not in [`Core`]: it is generic over `State`, and
    /// the backends take `Core` without knowing `State`.
    pub seat_state: SeatState<State>,
    pub seat: Seat<State>,
    /// The X11 window manager, once the sandbox's Xwayland is ready.
    pub x11: X11,
}

/// The X11 side (`crate::handlers::xwm`): smithay's window manager on the
/// sandbox's Xwayland, whose Wayland connection is an ordinary client with
/// the ordinary limits. Empty unless the policy asked for X11.
#[derive(Debug, Default)]
pub struct X11 {
    /// smithay's window manager, on its own connection to Xwayland.
    pub(crate) wm: Option<smithay::xwayland::X11Wm>,
    /// Xwayland's Wayland connection.
    pub(crate) client: Option<Client>,
    /// The window manager's own event loop (its data is `State`, where
    /// wsbox's loop has its own): dispatched when its fd is readable.
    pub(crate) events: Option<smithay::reexports::calloop::EventLoop<'static, State>>,
    /// Windows whose wl_surface the X server named before it existed, by
    /// that surface's protocol id.
    pub(crate) unpaired: std::collections::HashMap<u32, smithay::xwayland::X11Surface>,
    /// When Xwayland went away, until that is reported (or not: the
    /// sandbox was ending anyway).
    pub(crate) lost: Option<std::time::Instant>,
    /// The sandbox is ending: Xwayland going away is expected.
    pub(crate) ending: bool,
    /// When the latest reads of an X11 client's selection started.
    pub(crate) reads: Vec<std::time::Instant>,
    /// When the event loop last went round (ms since `Core::start_time`),
    /// for the watchdog of the window manager's connection.
    pub(crate) beat: Arc<AtomicU64>,
    /// Set when the compositor goes: the watchdog ends.
    pub(crate) gone: Arc<std::sync::atomic::AtomicBool>,
    /// Needed by smithay's window manager; its global is never shown.
    pub(crate) shell: Option<smithay::wayland::xwayland_shell::XWaylandShellState>,
}

impl State {
    /// Accepts a client from the sandbox's socket.
    pub fn insert_client(
        &mut self,
        stream: std::os::unix::net::UnixStream,
    ) -> std::io::Result<Client> {
        self.insert_client_with(stream, limits::MAX_POOLS)
    }

    /// Accepts the sandbox's Xwayland, which may have more wl_shm pools
    /// ([`limits::MAX_XWAYLAND_POOLS`]) and otherwise the same limits.
    pub fn insert_xwayland(
        &mut self,
        stream: std::os::unix::net::UnixStream,
    ) -> std::io::Result<Client> {
        self.insert_client_with(stream, limits::MAX_XWAYLAND_POOLS)
    }

    fn insert_client_with(
        &mut self,
        stream: std::os::unix::net::UnixStream,
        max_pools: usize,
    ) -> std::io::Result<Client> {
        // Every connection has limits of its own: without a cap on them, a
        // sandbox multiplies its per-client limits by reconnecting. The
        // stream is dropped, so the client sees the connection closed.
        if self.client_count() >= limits::MAX_CLIENTS {
            return Err(std::io::Error::other(format!(
                "wsbox: per-sandbox limit: more than {} Wayland connections",
                limits::MAX_CLIENTS
            )));
        }
        let data = Arc::new(ClientState::new(
            self.core.clients.clone(),
            self.core.shm_bytes.clone(),
            max_pools,
        ));
        self.core.display_handle.insert_client(stream, data)
    }

    /// Renders if needed and sends frame callbacks and presentation feedback:
    /// one tick of the 60 Hz clock.
    pub fn tick(&mut self) {
        // An auto export held back by its rate limit.
        self.clipboard_after_batch();
        self.x11_report_loss();
        self.x11_beat();
        let State { backend, core, .. } = self;
        match backend {
            Backend::Headless(headless) => headless.render_frame(core),
            // The host's frame callbacks pace a window; the tick only keeps
            // clients of a hidden window drawing, slowly.
            Backend::Window(window) => window.tick(core),
        }
        core.space.refresh();
        core.popups.cleanup();
        let _ = core.display_handle.flush_clients();
    }

    /// After a batch of requests: deferred focus changes, then send what
    /// the handlers queued to the clients.
    pub fn flush_clients(&mut self) {
        if std::mem::take(&mut self.core.refocus) {
            self.core.space.refresh();
            self.focus_top();
        }
        // A client left: if it owned the selection, the focused client must
        // stop being offered it now, not at the next focus change.
        let clients = self.client_count();
        if clients < self.core.last_client_count {
            self.resend_selection();
        }
        self.core.last_client_count = clients;
        self.clipboard_after_batch();
        self.x11_beat();
        let _ = self.core.display_handle.flush_clients();
    }

    /// The sandbox records sound (or stopped): in window mode the marking
    /// says so, in a way the app cannot draw over.
    pub fn set_recording(&mut self, recording: bool) {
        if let Some(window) = self.backend.window() {
            window.set_recording(recording);
        }
    }

    fn resend_selection(&mut self) {
        use smithay::reexports::wayland_server::Resource;
        let dh = self.core.display_handle.clone();
        let seat = self.seat.clone();
        let client = seat
            .get_keyboard()
            .and_then(|k| k.current_focus())
            .and_then(|s| dh.get_client(s.id()).ok());
        // Clearing and restoring the focus makes smithay send the current
        // selection (or none) again.
        smithay::wayland::selection::data_device::set_data_device_focus(&dh, &seat, None);
        smithay::wayland::selection::data_device::set_data_device_focus(&dh, &seat, client.clone());
        smithay::wayland::selection::primary_selection::set_primary_focus(&dh, &seat, None);
        smithay::wayland::selection::primary_selection::set_primary_focus(&dh, &seat, client);
    }

    /// What the app showed last, as PNG, for a screenshot taken after it
    /// ended: the output as it is while it still shows a window (the
    /// app's end may not have been processed yet), else the last frame
    /// that showed one (headless keeps it). None when there is no such
    /// frame: the app never showed a window, or a host window's backend
    /// keeps none.
    pub fn last_frame_png(&mut self) -> Option<Vec<u8>> {
        if !self.windows().is_empty() {
            return self.screenshot_png().ok();
        }
        let State { backend, core, .. } = self;
        // Rendering the output without the windows keeps the frame before.
        backend.render_frame(core);
        match backend {
            Backend::Headless(headless) => headless.last_shown_png().map(<[u8]>::to_vec),
            Backend::Window(_) => None,
        }
    }

    /// The output as PNG.
    pub fn screenshot_png(&mut self) -> Result<Vec<u8>, screenshot::Error> {
        let State { backend, core, .. } = self;
        backend.render_frame(core);
        backend.render_latest(core);
        backend.screenshot_png()
    }

    /// The mapped toplevels, bottom to top.
    pub fn windows(&self) -> Vec<WindowInfo> {
        let focused = self.seat.get_keyboard().and_then(|k| k.current_focus());
        self.core
            .space
            .elements()
            .filter_map(|window| {
                if crate::toplevel::is_override_redirect(window) {
                    return None;
                }
                let surface = crate::toplevel::surface(window)?;
                let geometry = self.core.space.element_geometry(window)?;
                Some(WindowInfo {
                    title: crate::toplevel::title(window),
                    app_id: crate::toplevel::app_id(window),
                    x: geometry.loc.x,
                    y: geometry.loc.y,
                    width: geometry.size.w,
                    height: geometry.size.h,
                    focused: focused.as_ref() == Some(&surface),
                })
            })
            .collect()
    }

    /// What `wsbox status` reports.
    pub fn status(&mut self) -> crate::stats::Status {
        let host_focused = self.backend.window().map(|w| w.focus_serial().is_some());
        crate::stats::Status {
            host_focused,
            not_responding: self.core.not_responding,
            windows_shown: self.core.windows_shown,
            stats: self.core.stats.clone(),
        }
    }

    /// How many toplevels have shown a buffer since the start.
    pub fn windows_shown(&self) -> u64 {
        self.core.windows_shown
    }

    /// Number of connected clients.
    pub fn client_count(&self) -> usize {
        self.core.clients.load(Ordering::Relaxed)
    }

    /// The output size in logical pixels.
    pub fn output_size(&self) -> Size<i32, Logical> {
        self.core
            .space
            .output_geometry(&self.core.output)
            .map(|g| g.size)
            .unwrap_or_else(|| (self.core.config.size.0, self.core.config.size.1).into())
    }

    /// Resizes the virtual output; windows that fill it follow (the same
    /// path a host window's resize takes).
    pub fn resize_output(&mut self, width: i32, height: i32) -> Result<(), Error> {
        self.reconfigure_output(width, height, None)
    }

    /// Gives the output a new size in physical pixels and, if `scale` is
    /// set, a new scale (fractional ones too); windows that fill it follow,
    /// and every surface is told its preferred fractional scale.
    pub fn reconfigure_output(
        &mut self,
        width: i32,
        height: i32,
        scale: Option<f64>,
    ) -> Result<(), Error> {
        if !(16..=16384).contains(&width) || !(16..=16384).contains(&height) {
            return Err(Error::OutputSize(width, height));
        }
        let mode = Mode {
            size: (width, height).into(),
            refresh: 60_000,
        };
        let scale = scale.map(|s| s.clamp(0.5, 4.0));
        self.core.output.change_current_state(
            Some(mode),
            None,
            scale.map(|s| {
                if s.fract() == 0.0 {
                    Scale::Integer(s as i32)
                } else {
                    Scale::Fractional(s)
                }
            }),
            None,
        );
        self.core.output.set_preferred(mode);
        self.core.space.map_output(&self.core.output, (0, 0));
        self.backend
            .resize(&self.core.output)
            .map_err(Error::Renderer)?;
        if let Some(scale) = scale {
            self.core.config.scale = scale;
            for window in self.core.space.elements() {
                window.with_surfaces(|_, states| {
                    smithay::wayland::fractional_scale::with_fractional_scale(states, |f| {
                        f.set_preferred_scale(scale)
                    });
                });
            }
        }
        self.core.config.size = (width, height);
        let windows: Vec<Window> = self.core.space.elements().cloned().collect();
        for window in windows {
            self.core.place(&window);
            if let Some(toplevel) = window.toplevel() {
                if toplevel.is_initial_configure_sent() {
                    toplevel.send_pending_configure();
                }
            }
        }
        self.core.needs_redraw = true;
        Ok(())
    }

    /// Asks every toplevel to close (xdg_toplevel.close).
    pub fn close_all(&mut self) {
        for window in self.core.space.elements() {
            if !crate::toplevel::is_override_redirect(window) {
                crate::toplevel::close(window);
            }
        }
    }

    /// Window mode: exports the host window (xdg-foreign), once, so that
    /// host dialogs can name it ([`State::parent_window`]). Nothing in
    /// headless mode or on a host without xdg-foreign.
    pub fn export_host_window(&mut self) {
        if let Some(window) = self.backend.window() {
            window.export();
        }
    }

    /// The host window as a host dialog's `parent_window` (`wayland:…`),
    /// once [`State::export_host_window`] got its handle; else empty.
    pub fn parent_window(&self) -> String {
        match &self.backend {
            Backend::Window(window) => window.parent_window().unwrap_or_default(),
            Backend::Headless(_) => String::new(),
        }
    }

    /// How long to wait before the next tick.
    pub fn frame_interval(&self) -> Duration {
        match self.backend {
            Backend::Headless(_) => Duration::from_micros(16_667),
            Backend::Window(_) => host::TICK,
        }
    }

    /// The title of the window with the keyboard focus, else of the topmost
    /// window; empty when there is none.
    pub fn focused_title(&self) -> String {
        let focused = self.seat.get_keyboard().and_then(|k| k.current_focus());
        let window = focused
            .and_then(|s| self.core.window_for(&s))
            .or_else(|| self.core.space.elements().next_back().cloned());
        window
            .as_ref()
            .map(crate::toplevel::title)
            .unwrap_or_default()
    }

    /// Gives the keyboard focus to the window [`Core::focus_target`] names
    /// (the rule is in [`crate::layout`]); called when windows change.
    pub(crate) fn focus_top(&mut self) {
        let top = self.core.focus_target();
        let Some(keyboard) = self.seat.get_keyboard() else {
            return;
        };
        if keyboard.current_focus() == top {
            return;
        }
        let serial = smithay::utils::SERIAL_COUNTER.next_serial();
        self.core.activate_only(top.as_ref());
        keyboard.set_focus(self, top, serial);
    }
}

impl Drop for X11 {
    fn drop(&mut self) {
        self.gone.store(true, Ordering::Relaxed);
    }
}

/// Per-client data: the compositor's per-client state, and the client count.
#[derive(Debug)]
pub struct ClientState {
    pub compositor_state: CompositorClientState,
    pub limits: ClientLimits,
    clients: Arc<AtomicUsize>,
}

impl ClientState {
    fn new(clients: Arc<AtomicUsize>, shm_bytes: Arc<AtomicU64>, max_pools: usize) -> Self {
        Self {
            compositor_state: CompositorClientState::default(),
            limits: ClientLimits::with_pools(shm_bytes, max_pools),
            clients,
        }
    }
}

impl ClientData for ClientState {
    fn initialized(&self, client_id: ClientId) {
        let n = self.clients.fetch_add(1, Ordering::Relaxed) + 1;
        tracing::debug!(?client_id, clients = n, "client connected");
    }

    fn disconnected(&self, client_id: ClientId, reason: DisconnectReason) {
        let n = self
            .clients
            .fetch_sub(1, Ordering::Relaxed)
            .saturating_sub(1);
        match reason {
            DisconnectReason::ProtocolError(err) => tracing::warn!(
                ?client_id,
                code = err.code,
                object = %err.object_interface,
                message = %err.message,
                clients = n,
                "client disconnected for a protocol error"
            ),
            DisconnectReason::ConnectionClosed => {
                tracing::debug!(?client_id, clients = n, "client disconnected")
            }
        }
    }
}
