//! The compositor's state: `State { backend, core }`, so handlers can borrow
//! the renderer and the protocol state separately.
//!
//! Every smithay `*_state` field is one allowlisted global (see
//! [`crate::globals`]); nothing else is ever created.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use smithay::desktop::{PopupManager, Space, Window, WindowSurfaceType};
use smithay::input::keyboard::XkbConfig;
use smithay::input::pointer::CursorImageStatus;
use smithay::input::{Seat, SeatState};
use smithay::output::{Mode, Output, PhysicalProperties, Scale, Subpixel};
use smithay::reexports::calloop::LoopSignal;
use smithay::reexports::wayland_server::backend::{ClientData, ClientId, DisconnectReason};
use smithay::reexports::wayland_server::protocol::wl_surface::WlSurface;
use smithay::reexports::wayland_server::{Client, DisplayHandle};
use smithay::utils::{Clock, Logical, Monotonic, Point, Rectangle, Size, Transform};
use smithay::wayland::compositor::{with_states, CompositorClientState, CompositorState};
use smithay::wayland::cursor_shape::CursorShapeManagerState;
use smithay::wayland::fractional_scale::FractionalScaleManagerState;
use smithay::wayland::output::OutputManagerState;
use smithay::wayland::presentation::PresentationState;
use smithay::wayland::selection::data_device::DataDeviceState;
use smithay::wayland::selection::primary_selection::PrimarySelectionState;
use smithay::wayland::shell::xdg::decoration::XdgDecorationState;
use smithay::wayland::shell::xdg::{XdgShellState, XdgToplevelSurfaceData};
use smithay::wayland::shm::ShmState;
use smithay::wayland::single_pixel_buffer::SinglePixelBufferState;
use smithay::wayland::viewporter::ViewporterState;
use smithay::wayland::xdg_activation::XdgActivationState;

use crate::backend::{window, Backend, Headless, HostWindow};
use crate::decorations;

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
    Host(#[from] window::Error),
}

/// What a compositor is configured with, from the policy and the command line.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// The sandbox's name, shown in decorations.
    pub name: String,
    /// Output size in physical pixels.
    pub size: (i32, i32),
    /// Output scale (1.0, 1.25, 2.0, …).
    pub scale: f64,
    /// The policy's frame colour, RGB.
    pub color: [u8; 3],
    pub keyboard: KeyboardConfig,
    /// What may cross between the sandbox's clipboard and the host's.
    pub clipboard: crate::clipboard::ClipboardConfig,
    /// Window mode: let the host draw the title bar when it offers
    /// server-side decorations (wsbox's border stays).
    pub host_decorations: bool,
}

/// The xkb keymap names; empty means "from XKB_DEFAULT_*, else the xkb default".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyboardConfig {
    pub rules: String,
    pub model: String,
    pub layout: String,
    pub variant: String,
    pub options: Option<String>,
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
}

/// Protocol state, the window space and the seat.
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
    pub seat_state: SeatState<State>,
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
    pub seat: Seat<State>,
    pub output: Output,
    pub cursor_status: CursorImageStatus,
    pub pointer_location: Point<f64, Logical>,
    /// Clients currently connected, for `wsbox ps` and the log.
    pub clients: Arc<AtomicUsize>,
    /// Bytes of the wl_shm pools of all clients (crate::limits).
    pub shm_bytes: Arc<std::sync::atomic::AtomicU64>,
    /// Set when something changed that needs a new frame.
    pub needs_redraw: bool,
    /// Set when the keyboard focus must move once the current batch of
    /// requests is handled.
    pub refocus: bool,
    /// Clients connected after the last batch, to notice departures.
    pub last_client_count: usize,
    /// Clipboard transfers between the sandbox and the host.
    pub transfers: crate::clipboard::Transfers,
    /// The output is shown inside wsbox's frame in a host window (window
    /// mode): windows that fill it need no frame of their own.
    pub host_frame: bool,
    /// Auto clipboard: an app set the selection; offer it to the host after
    /// the batch.
    pub export_selection: bool,
}

impl std::fmt::Debug for Core {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Core")
            .field("config", &self.config)
            .field("windows", &self.space.elements().count())
            .finish_non_exhaustive()
    }
}

impl State {
    /// Creates a headless compositor: every allowlisted global, one output,
    /// one seat, rendered into memory.
    pub fn new(
        display_handle: DisplayHandle,
        loop_signal: LoopSignal,
        config: Config,
    ) -> Result<Self, Error> {
        Self::with_backend(display_handle, loop_signal, config, |output, _| {
            Ok(Backend::Headless(
                Headless::new(output).map_err(Error::Renderer)?,
            ))
        })
    }

    /// Creates a compositor whose output is shown in a window of the host's
    /// Wayland session (WAYLAND_DISPLAY or WAYLAND_SOCKET of this process).
    /// `config.size` is the initial size of the content, inside wsbox's frame.
    pub fn new_window(
        display_handle: DisplayHandle,
        loop_signal: LoopSignal,
        config: Config,
    ) -> Result<Self, Error> {
        let config = Config {
            // The host decides the scale (see HostWindow); start at 1.
            scale: 1.0,
            ..config
        };
        Self::with_backend(display_handle, loop_signal, config, |output, config| {
            Ok(Backend::Window(HostWindow::connect(output, config)?))
        })
    }

    fn with_backend(
        display_handle: DisplayHandle,
        loop_signal: LoopSignal,
        config: Config,
        backend: impl FnOnce(&Output, &Config) -> Result<Backend, Error>,
    ) -> Result<Self, Error> {
        let (width, height) = config.size;
        if !(1..=16384).contains(&width) || !(1..=16384).contains(&height) {
            return Err(Error::OutputSize(width, height));
        }
        let dh = &display_handle;
        let globals = crate::globals::create(dh);

        let mut seat_state = SeatState::new();
        let mut seat = seat_state.new_wl_seat(dh, "seat0");
        let kb = &config.keyboard;
        seat.add_keyboard(
            XkbConfig {
                rules: &kb.rules,
                model: &kb.model,
                layout: &kb.layout,
                variant: &kb.variant,
                options: kb.options.clone(),
            },
            600,
            25,
        )
        .map_err(|_| Error::Keymap {
            layout: kb.layout.clone(),
            variant: kb.variant.clone(),
        })?;
        seat.add_pointer();

        let output = Output::new(
            "WSBOX-1".into(),
            PhysicalProperties {
                size: (0, 0).into(),
                subpixel: Subpixel::Unknown,
                make: "wsbox".into(),
                model: format!("sandbox {}", config.name),
            },
        );
        let _output_global = output.create_global::<State>(dh);
        let mode = Mode {
            size: (width, height).into(),
            refresh: 60_000,
        };
        output.change_current_state(
            Some(mode),
            Some(Transform::Normal),
            Some(Scale::Fractional(config.scale)),
            Some((0, 0).into()),
        );
        output.set_preferred(mode);
        let mut space = Space::default();
        space.map_output(&output, (0, 0));

        let transfers = crate::clipboard::Transfers::new().map_err(Error::Clipboard)?;
        let backend = backend(&output, &config)?;
        let host_frame = matches!(backend, Backend::Window(_));
        let clock = Clock::new();
        Ok(State {
            backend,
            core: Core {
                display_handle: display_handle.clone(),
                loop_signal,
                config,
                clock,
                start_time: Instant::now(),
                compositor_state: globals.compositor,
                shm_state: globals.shm,
                xdg_shell_state: globals.xdg_shell,
                xdg_decoration_state: globals.xdg_decoration,
                output_manager_state: globals.output_manager,
                seat_state,
                data_device_state: globals.data_device,
                primary_selection_state: globals.primary_selection,
                viewporter_state: globals.viewporter,
                fractional_scale_state: globals.fractional_scale,
                presentation_state: globals.presentation,
                xdg_activation_state: globals.xdg_activation,
                cursor_shape_state: globals.cursor_shape,
                single_pixel_buffer_state: globals.single_pixel_buffer,
                space,
                popups: PopupManager::default(),
                seat,
                output,
                cursor_status: CursorImageStatus::default_named(),
                pointer_location: (width as f64 / 2.0, height as f64 / 2.0).into(),
                clients: Arc::new(AtomicUsize::new(0)),
                shm_bytes: Arc::default(),
                needs_redraw: true,
                refocus: false,
                last_client_count: 0,
                transfers,
                host_frame,
                export_selection: false,
            },
        })
    }

    /// Accepts a client from the sandbox's socket.
    pub fn insert_client(
        &mut self,
        stream: std::os::unix::net::UnixStream,
    ) -> std::io::Result<Client> {
        // Every connection has limits of its own: without a cap on them, a
        // sandbox multiplies its per-client limits by reconnecting. The
        // stream is dropped, so the client sees the connection closed.
        if self.client_count() >= crate::limits::MAX_CLIENTS {
            return Err(std::io::Error::other(format!(
                "wsbox: per-sandbox limit: more than {} Wayland connections",
                crate::limits::MAX_CLIENTS
            )));
        }
        let data = Arc::new(ClientState::new(
            self.core.clients.clone(),
            self.core.shm_bytes.clone(),
        ));
        self.core.display_handle.insert_client(stream, data)
    }

    /// Renders if needed and sends frame callbacks and presentation feedback:
    /// one tick of the 60 Hz clock.
    pub fn tick(&mut self) {
        // An auto export held back by its rate limit.
        self.clipboard_after_batch();
        let State { backend, core } = self;
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
            focus_top(self);
        }
        // A client left: if it owned the selection, the focused client must
        // stop being offered it now, not at the next focus change.
        let clients = self.client_count();
        if clients < self.core.last_client_count {
            self.resend_selection();
        }
        self.core.last_client_count = clients;
        self.clipboard_after_batch();
        let _ = self.core.display_handle.flush_clients();
    }

    fn resend_selection(&mut self) {
        use smithay::reexports::wayland_server::Resource;
        let dh = self.core.display_handle.clone();
        let seat = self.core.seat.clone();
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

    /// The output as PNG.
    pub fn screenshot_png(&mut self) -> Result<Vec<u8>, crate::screenshot::Error> {
        let State { backend, core } = self;
        backend.render_frame(core);
        backend.render_latest(core);
        backend.screenshot_png()
    }

    /// The mapped toplevels, bottom to top.
    pub fn windows(&self) -> Vec<WindowInfo> {
        let focused = self
            .core
            .seat
            .get_keyboard()
            .and_then(|k| k.current_focus());
        self.core
            .space
            .elements()
            .filter_map(|window| {
                let toplevel = window.toplevel()?;
                let geometry = self.core.space.element_geometry(window)?;
                let (title, app_id) = with_states(toplevel.wl_surface(), |states| {
                    states
                        .data_map
                        .get::<XdgToplevelSurfaceData>()
                        .and_then(|d| d.lock().ok())
                        .map(|d| {
                            (
                                d.title.clone().unwrap_or_default(),
                                d.app_id.clone().unwrap_or_default(),
                            )
                        })
                        .unwrap_or_default()
                });
                Some(WindowInfo {
                    title,
                    app_id,
                    x: geometry.loc.x,
                    y: geometry.loc.y,
                    width: geometry.size.w,
                    height: geometry.size.h,
                    focused: focused.as_ref() == Some(toplevel.wl_surface()),
                })
            })
            .collect()
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
            crate::handlers::place(self, &window);
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
            if let Some(toplevel) = window.toplevel() {
                toplevel.send_close();
            }
        }
    }

    /// How long to wait before the next tick.
    pub fn frame_interval(&self) -> Duration {
        match self.backend {
            Backend::Headless(_) => Duration::from_micros(16_667),
            Backend::Window(_) => window::TICK,
        }
    }

    /// The title of the window with the keyboard focus, else of the topmost
    /// window; empty when there is none.
    pub fn focused_title(&self) -> String {
        let focused = self
            .core
            .seat
            .get_keyboard()
            .and_then(|k| k.current_focus());
        let window = focused
            .and_then(|s| self.core.window_for(&s))
            .or_else(|| self.core.space.elements().next_back().cloned());
        let Some(toplevel) = window.as_ref().and_then(|w| w.toplevel().cloned()) else {
            return String::new();
        };
        with_states(toplevel.wl_surface(), |states| {
            states
                .data_map
                .get::<XdgToplevelSurfaceData>()
                .and_then(|d| d.lock().ok().and_then(|d| d.title.clone()))
                .unwrap_or_default()
        })
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
            .find(|w| w.toplevel().is_some_and(|t| t.wl_surface() == surface))
            .cloned()
    }

    /// Where a new toplevel goes and how big it is: parentless toplevels fill
    /// the output (below the title bar when wsbox decorates them); dialogs are
    /// centred over their parent at the size they ask for.
    pub fn placement(&self, window: &Window) -> (Rectangle<i32, Logical>, bool) {
        let output = self.output_area();
        let (title, border) = window
            .toplevel()
            .and_then(|t| decorations::frame_size(t, self.host_frame))
            .unwrap_or((0, 0));
        let parent = window.toplevel().and_then(|t| t.parent());
        match parent.and_then(|p| self.window_for(&p)) {
            Some(parent) => {
                let size = window.geometry().size;
                let parent_geo = self.space.element_geometry(&parent).unwrap_or(output);
                let offset = parent_geo.size.to_point() - size.to_point();
                let loc = parent_geo.loc + Point::from((offset.x / 2, offset.y / 2));
                // Never over a frame: the dialog and its own frame stay inside
                // the area that wsbox's frames enclose.
                let area = self.content_area();
                let clamp =
                    |v: i32, low: i32, high: i32| if high < low { low } else { v.clamp(low, high) };
                let x = clamp(
                    loc.x,
                    area.loc.x + border,
                    area.loc.x + area.size.w - size.w - border,
                );
                let y = clamp(
                    loc.y,
                    area.loc.y + title,
                    area.loc.y + area.size.h - size.h - border,
                );
                (Rectangle::new((x, y).into(), size), false)
            }
            None => (
                Rectangle::new(
                    (output.loc.x + border, output.loc.y + title).into(),
                    (
                        (output.size.w - 2 * border).max(1),
                        (output.size.h - title - border).max(1),
                    )
                        .into(),
                ),
                true,
            ),
        }
    }
}

impl Core {
    fn output_area(&self) -> Rectangle<i32, Logical> {
        self.space
            .output_geometry(&self.output)
            .unwrap_or_else(|| Rectangle::from_size((800, 600).into()))
    }

    /// The part of the output inside the frame of a window that fills it:
    /// where dialogs and popups may go, so nothing an app draws can cover
    /// wsbox's marking.
    pub fn content_area(&self) -> Rectangle<i32, Logical> {
        let output = self.output_area();
        if self.host_frame {
            return output;
        }
        let (title, border) = (decorations::TITLE_HEIGHT, decorations::BORDER);
        Rectangle::new(
            (output.loc.x + border, output.loc.y + title).into(),
            (
                (output.size.w - 2 * border).max(1),
                (output.size.h - title - border).max(1),
            )
                .into(),
        )
    }
}

/// Per-client data: the compositor's per-client state, and the client count.
#[derive(Debug)]
pub struct ClientState {
    pub compositor_state: CompositorClientState,
    pub limits: crate::limits::ClientLimits,
    clients: Arc<AtomicUsize>,
}

impl ClientState {
    fn new(clients: Arc<AtomicUsize>, shm_bytes: Arc<std::sync::atomic::AtomicU64>) -> Self {
        Self {
            compositor_state: CompositorClientState::default(),
            limits: crate::limits::ClientLimits::new(shm_bytes),
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

/// The keyboard focus follows the topmost mapped toplevel; called when
/// windows change.
pub(crate) fn focus_top(state: &mut State) {
    let top = state
        .core
        .space
        .elements()
        .rev()
        .find(|w| crate::handlers::is_mapped(w))
        .and_then(|w| w.toplevel().map(|t| t.wl_surface().clone()));
    let Some(keyboard) = state.core.seat.get_keyboard() else {
        return;
    };
    if keyboard.current_focus() == top {
        return;
    }
    let serial = smithay::utils::SERIAL_COUNTER.next_serial();
    for window in state.core.space.elements() {
        let active = window
            .toplevel()
            .is_some_and(|t| Some(t.wl_surface()) == top.as_ref());
        window.set_activated(active);
        if let Some(t) = window.toplevel() {
            t.send_pending_configure();
        }
    }
    keyboard.set_focus(state, top, serial);
}
