//! What the host's events mean inside the sandbox. Keys reach the focused
//! client only while the host window has the host's keyboard focus, and
//! whatever was held inside is released when that focus (or the pointer)
//! leaves; the pointer reaches the surface under it on the output; the
//! host's configures and scale resize the output, and its close request
//! asks the apps to close.
//!
//! The host window ([`crate::backend::host`]) queues the events and keeps
//! the host's side of them (its focus, the keys and buttons it pressed
//! inside); this module applies them to the compositor through the same
//! input paths as injected input. It never talks to the host itself.
//!
//! [`State::apply_host_events`] is the seam the in-process tests use to
//! play a host.

use std::os::fd::OwnedFd;

use smithay::backend::input::Axis;
use smithay::input::pointer::AxisFrame;

use crate::backend::host::{
    ButtonRoute, Error, HostEvent, HostStatus, HostWindow, KeyRoute, PointerRoute,
};
use crate::backend::Backend;
use crate::state::State;

impl State {
    /// The host connection's fd, in window mode, for the event loop.
    pub fn host_fd(&self) -> Option<Result<OwnedFd, Error>> {
        match &self.backend {
            Backend::Window(window) => Some(window.poll_fd()),
            Backend::Headless(_) => None,
        }
    }

    /// Reads what the host sent and applies it: input, resizes, frame
    /// callbacks, close requests. An error means the host is gone.
    pub fn dispatch_host(&mut self) -> Result<HostStatus, Error> {
        let Some(window) = self.backend.window() else {
            return Ok(HostStatus::default());
        };
        let events = window.read_events()?;
        let status = self.apply_host_events(events);
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
        window.update_title(&title, core.not_responding);
        // The host's input method is asked only where the policy lets it.
        window.sync_text_input(core.config.input_method && core.text_inputs.app_enabled());
        window.render_frame(core);
        // The frame callbacks it sent go out now, not with the next event.
        let _ = core.display_handle.flush_clients();
        window.flush()
    }

    /// Applies host events, in order, as if the host had just sent them.
    /// Nothing happens without a host window.
    pub(crate) fn apply_host_events(&mut self, events: Vec<HostEvent>) -> HostStatus {
        let mut status = HostStatus::default();
        for event in events {
            self.apply_host_event(event, &mut status);
        }
        status
    }

    fn apply_host_event(&mut self, event: HostEvent, status: &mut HostStatus) {
        let Some(window) = self.backend.window() else {
            return;
        };
        match event {
            HostEvent::Configure(w, h) => {
                if let Some((pw, ph, scale)) = window.configure((w, h)) {
                    self.resize_for_host(pw, ph, scale);
                }
            }
            HostEvent::ScaleChanged => {
                let Some((pw, ph, scale)) = window.scale_change() else {
                    return;
                };
                tracing::debug!(scale, "host scale changed");
                // The window takes the new scale only with buffers of the
                // new size: were the output to refuse it, the old buffers
                // would be shown at a scale they do not fit.
                match self.reconfigure_output(pw, ph, Some(scale)) {
                    Ok(()) => {
                        if let Some(window) = self.backend.window() {
                            window.set_scale(scale);
                        }
                    }
                    Err(err) => {
                        tracing::warn!(%err, scale, "cannot follow the host's scale");
                    }
                }
            }
            HostEvent::Decoration(server) => window.host_decorations(server),
            HostEvent::Close => {
                tracing::info!("the host asked to close the window");
                self.close_all();
                status.close_requested = true;
            }
            HostEvent::FrameDone => window.frame_done(),
            HostEvent::Released => {}
            HostEvent::KeyboardEnter { serial } => {
                tracing::debug!("host keyboard focus entered");
                window.keyboard_entered(serial);
            }
            HostEvent::KeyboardLeave => {
                tracing::debug!("host keyboard focus left");
                let held = window.keyboard_left();
                // Nothing in flight lands after the user looked away.
                self.core.transfers.cancel_all();
                // Nothing stays pressed inside once the user looks away:
                // neither keys nor modifiers the host set without keys
                // (virtual keyboards); locks (Caps Lock) stay.
                for key in held.swallowed {
                    self.host_key_swallowed(key);
                }
                for key in held.keys.into_iter().rev() {
                    self.host_key(key, false);
                }
                self.host_modifiers(0, 0, held.locked, held.group);
            }
            HostEvent::Keymap(keymap) => {
                if window.new_keymap(&keymap) {
                    self.host_keymap(keymap);
                }
            }
            HostEvent::Modifiers {
                depressed,
                latched,
                locked,
                group,
            } => {
                if window.modifiers(depressed, latched, locked, group) {
                    self.host_modifiers(depressed, latched, locked, group);
                }
            }
            HostEvent::Key {
                key,
                pressed,
                serial,
            } => match window.route_key(key, pressed, serial) {
                KeyRoute::Ignore => {}
                KeyRoute::Press => {
                    self.core.stats.host_key_presses += 1;
                    let detect = window.has_host_clipboard() && self.core.config.clipboard.gesture;
                    let gesture = self.host_key_or_gesture(key, true, detect);
                    if let Some(window) = self.backend.window() {
                        window.hold_key(key, gesture.is_some());
                    }
                    if let Some(gesture) = gesture {
                        self.clipboard_gesture(gesture);
                    }
                }
                // The gesture's key goes up outside, as it went down.
                KeyRoute::ReleaseSwallowed => self.host_key_swallowed(key),
                KeyRoute::Release => self.host_key(key, false),
            },
            HostEvent::Ime { commit, preedit } => {
                // Into the app's enabled text input, if it still has one.
                if let Some(text) = commit {
                    let _ = self.ime_commit(&text);
                }
                if let Some(text) = preedit {
                    let _ = self.ime_preedit(&text);
                }
            }
            HostEvent::RepeatInfo { rate, delay } => {
                if let Some(keyboard) = self.seat.get_keyboard() {
                    keyboard.change_repeat_info(rate.clamp(0, 1000), delay.clamp(0, 10_000));
                }
            }
            HostEvent::PointerEnter { serial, x, y } => {
                window.pointer_entered(serial);
                self.host_pointer_at((x, y));
            }
            HostEvent::Motion { x, y } => self.host_pointer_at((x, y)),
            HostEvent::PointerLeave => {
                let (buttons, inside) = window.pointer_left();
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
            } => match window.route_button(serial, button, pressed) {
                ButtonRoute::Ignore => {}
                ButtonRoute::Press => self.host_pointer_button(button, true),
                ButtonRoute::Release => self.host_pointer_button(button, false),
                ButtonRoute::Close => {
                    tracing::info!("close button clicked");
                    self.close_all();
                    status.close_requested = true;
                }
            },
            HostEvent::Axis(axis) => {
                if !window.pointer_inside() {
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

    /// The host pointer is at `(x, y)` of the window: into the output, or
    /// out of it onto wsbox's frame.
    fn host_pointer_at(&mut self, (x, y): (f64, f64)) {
        let Some(window) = self.backend.window() else {
            return;
        };
        match window.pointer_at((x, y).into()) {
            PointerRoute::Inside(p) => self.host_pointer_motion(Some(p)),
            PointerRoute::Left => self.host_pointer_motion(None),
            PointerRoute::Outside => {}
        }
    }
}
