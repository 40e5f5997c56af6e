//! Creating a compositor: every allowlisted global of [`crate::globals`],
//! one output, one seat, and the backend its output goes to. Apart from
//! [`crate::state`] so that the state does not depend on the globals and
//! handlers that depend on it.

use std::sync::atomic::AtomicUsize;
use std::sync::Arc;
use std::time::Instant;

use smithay::desktop::{PopupManager, Space};
use smithay::input::keyboard::XkbConfig;
use smithay::input::pointer::CursorImageStatus;
use smithay::input::SeatState;
use smithay::output::{Mode, Output, PhysicalProperties, Scale, Subpixel};
use smithay::reexports::calloop::LoopSignal;
use smithay::reexports::wayland_server::DisplayHandle;
use smithay::utils::{Clock, Transform};

use crate::backend::{Backend, Headless, HostWindow};
use crate::clipboard::Transfers;
use crate::config::Config;
use crate::core_state::Core;
use crate::globals;
use crate::state::{Error, State};

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

    /// A compositor in window mode on a host that never answers (see
    /// `HostWindow::silent`), and the far end of its host connection, to
    /// keep open. The in-process tests play the host through
    /// [`State::apply_host_events`].
    #[cfg(test)]
    pub(crate) fn with_silent_host(
        display_handle: DisplayHandle,
        loop_signal: LoopSignal,
        config: Config,
    ) -> Result<(Self, std::os::unix::net::UnixStream), Error> {
        let mut far = None;
        let config = Config {
            scale: 1.0,
            ..config
        };
        let state = Self::with_backend(display_handle, loop_signal, config, |output, config| {
            let (window, theirs) = HostWindow::silent(output, config)?;
            far = Some(theirs);
            Ok(Backend::Window(window))
        })?;
        let far = far.expect("with_backend made the backend");
        Ok((state, far))
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
        let globals = globals::create(dh);

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

        let transfers = Transfers::new().map_err(Error::Clipboard)?;
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
                not_responding: false,
                windows_shown: 0,
                stats: Default::default(),
                export_selection: false,
                text_inputs: Default::default(),
            },
            seat_state,
            seat,
            x11: Default::default(),
        })
    }
}
