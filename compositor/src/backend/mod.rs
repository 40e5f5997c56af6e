//! Backends: where the sandbox's output goes. Headless renders into memory;
//! the window backend ([`host`]) mirrors the output into one window of the
//! host's Wayland session, inside wsbox's own frame. Both build their
//! frames with `crate::render`; the backends own only targets, pacing and
//! the host. They take [`Core`] and [`crate::Config`], never the whole
//! compositor.

mod headless;
pub mod host;

pub use headless::Headless;
pub use host::HostWindow;

use smithay::output::Output;

use crate::core_state::Core;
use crate::screenshot;

/// The backend of one compositor; there is one per process, so the size
/// difference between the variants does not matter.
#[derive(Debug)]
#[allow(clippy::large_enum_variant)]
pub enum Backend {
    Headless(Headless),
    Window(HostWindow),
}

impl Backend {
    /// Renders what changed, if the backend can show it now.
    pub fn render_frame(&mut self, core: &mut Core) {
        match self {
            Backend::Headless(headless) => headless.render_frame(core),
            Backend::Window(window) => window.render_frame(core),
        }
    }

    /// Follows a new size (or scale) of `output`.
    pub fn resize(&mut self, output: &Output) -> Result<(), String> {
        match self {
            Backend::Headless(headless) => headless.resize(output),
            Backend::Window(window) => window.resize(output),
        }
    }

    /// Renders the newest state for a screenshot, in window mode also
    /// while the host is not ready for a frame.
    pub fn render_latest(&mut self, core: &mut Core) {
        if let Backend::Window(window) = self {
            window.render_latest(core);
        }
    }

    /// The output contents as PNG.
    pub fn screenshot_png(&mut self) -> Result<Vec<u8>, screenshot::Error> {
        match self {
            Backend::Headless(headless) => headless.screenshot_png(),
            Backend::Window(window) => window.screenshot_png(),
        }
    }

    /// Input was injected: headless draws a cursor from now on. A host
    /// window shows the host's cursor instead.
    pub fn show_cursor(&mut self) {
        if let Backend::Headless(headless) = self {
            headless.cursor_visible = true;
        }
    }

    /// The host window, in window mode.
    pub fn window(&mut self) -> Option<&mut HostWindow> {
        match self {
            Backend::Window(window) => Some(window),
            Backend::Headless(_) => None,
        }
    }
}
