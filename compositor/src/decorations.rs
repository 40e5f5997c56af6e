//! The frame wsbox draws around windows that asked for server-side
//! decorations: a title bar in the policy's colour with the title, and a
//! border. It is wsbox's marking: the app cannot draw over it, because the
//! app's surfaces are placed inside it.
//!
//! In window mode the host window already carries the marking (wsbox's
//! border and title, see [`crate::backend::window`]), so windows that fill
//! the output get no second frame inside it; dialogs, which float over
//! them, keep theirs.

use std::cell::RefCell;

use smithay::backend::renderer::element::memory::MemoryRenderBuffer;
use smithay::backend::renderer::element::Id;
use smithay::backend::renderer::utils::CommitCounter;
use smithay::backend::allocator::Fourcc;
use smithay::reexports::wayland_protocols::xdg::decoration::zv1::server::zxdg_toplevel_decoration_v1::Mode;
use smithay::utils::Transform;
use smithay::wayland::shell::xdg::ToplevelSurface;

/// Height of the title bar in logical pixels.
pub const TITLE_HEIGHT: i32 = 24;
/// Width of the border on the other sides.
pub const BORDER: i32 = 2;
/// Title text size.
const TITLE_PX: f32 = 16.0;
/// Titles longer than this many characters are cut.
pub const TITLE_MAX_CHARS: usize = 128;

/// Whether the toplevel uses wsbox's frame.
pub fn wants_server_side(toplevel: &ToplevelSurface) -> bool {
    toplevel.with_pending_state(|s| s.decoration_mode) == Some(Mode::ServerSide)
}

/// The frame wsbox draws around `toplevel` inside the output, as (title bar
/// height, border width), or None. `host_frame`: the output is shown in a
/// host window with wsbox's frame around it.
pub fn frame_size(toplevel: &ToplevelSurface, host_frame: bool) -> Option<(i32, i32)> {
    if !wants_server_side(toplevel) {
        return None;
    }
    if host_frame && toplevel.parent().is_none() {
        return None;
    }
    Some((TITLE_HEIGHT, BORDER))
}

/// `[wsbox:<name>] <title>`, printable characters only, capped.
pub fn marked_title(name: &str, title: &str) -> String {
    let clean: String = title
        .chars()
        .filter(|c| !c.is_control())
        .take(TITLE_MAX_CHARS)
        .collect();
    format!("[wsbox:{name}] {clean}")
}

/// Per-window decoration state, kept in the window's user data so its ids
/// stay stable and the damage tracker sees only real changes.
#[derive(Debug)]
pub struct Frame {
    pub ids: [Id; 4],
    pub commit: CommitCounter,
    title: RefCell<Option<(String, i32, MemoryRenderBuffer)>>,
}

impl Default for Frame {
    fn default() -> Self {
        Self {
            ids: [Id::new(), Id::new(), Id::new(), Id::new()],
            commit: CommitCounter::default(),
            title: RefCell::new(None),
        }
    }
}

impl Frame {
    /// The rendered title text, re-rendered only when it changes.
    pub fn title_buffer(&self, text: &str, max_width: i32) -> Option<MemoryRenderBuffer> {
        let mut cache = self.title.borrow_mut();
        if let Some((cached, width, buffer)) = cache.as_ref() {
            if cached == text && *width == max_width {
                return Some(buffer.clone());
            }
        }
        let (pixels, w, h) = crate::text::render(text, TITLE_PX, [255, 255, 255], max_width)?;
        let buffer = MemoryRenderBuffer::from_slice(
            &pixels,
            Fourcc::Argb8888,
            (w, h),
            1,
            Transform::Normal,
            None,
        );
        *cache = Some((text.to_owned(), max_width, buffer.clone()));
        Some(buffer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn titles_are_marked_printable_and_capped() {
        assert_eq!(marked_title("ff", "Hello"), "[wsbox:ff] Hello");
        assert_eq!(marked_title("ff", "a\u{1b}[31mb\nc"), "[wsbox:ff] a[31mbc");
        let long = "x".repeat(1000);
        assert_eq!(
            marked_title("n", &long).len(),
            "[wsbox:n] ".len() + TITLE_MAX_CHARS
        );
    }
}
