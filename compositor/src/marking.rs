//! wsbox's marking: the frames that say which sandbox a window belongs to,
//! drawn by wsbox where no app can draw. Two frames, never to be confused:
//! - the inner frame, around an app's window inside the output
//!   ([`INNER_TITLE_HEIGHT`], [`INNER_BORDER`]): a title bar in the
//!   policy's colour with the marked title, and a border. Windows that asked
//!   for server-side decorations get it; the app cannot draw over it,
//!   because its surfaces are placed inside it ([`crate::layout`]). In
//!   window mode the host window already carries the marking, so windows
//!   that fill the output get no second frame inside it; dialogs, which
//!   float over them, keep theirs;
//! - the host frame, around the whole host window in window mode (see
//!   [`crate::backend::window`]).
//!
//! This module draws the frames and cleans the titles they show; it must
//! never decide where windows go ([`crate::layout`] does).

use std::cell::RefCell;

use smithay::backend::allocator::Fourcc;
use smithay::backend::renderer::element::memory::{
    MemoryRenderBuffer, MemoryRenderBufferRenderElement,
};
use smithay::backend::renderer::element::solid::SolidColorRenderElement;
use smithay::backend::renderer::element::{Id, Kind};
use smithay::backend::renderer::pixman::PixmanRenderer;
use smithay::backend::renderer::utils::CommitCounter;
use smithay::backend::renderer::Color32F;
use smithay::utils::{Logical, Physical, Point, Rectangle, Scale, Size, Transform};

/// Height of the inner frame's title bar in logical pixels.
pub const INNER_TITLE_HEIGHT: i32 = 24;
/// Width of the inner frame's border on the other sides.
pub const INNER_BORDER: i32 = 2;
/// The inner frame's title text size.
const INNER_TITLE_PX: f32 = 16.0;
/// Titles longer than this many characters are cut.
pub const TITLE_MAX_CHARS: usize = 128;

/// Whether `c` is invisible or moves other text: controls, format
/// characters (Unicode category Cf: bidi overrides and isolates, zero-width
/// characters, the BOM, tags…), line and paragraph separators, and the
/// blank Hangul fillers. An app's title could use them to hide or reorder
/// what the marking says.
fn is_sneaky(c: char) -> bool {
    c.is_control()
        || matches!(
            c as u32,
            0x00AD
                | 0x034F
                | 0x0600..=0x0605
                | 0x061C
                | 0x06DD
                | 0x070F
                | 0x0890..=0x0891
                | 0x08E2
                | 0x115F..=0x1160
                | 0x17B4..=0x17B5
                | 0x180B..=0x180F
                | 0x200B..=0x200F
                | 0x2028..=0x202E
                | 0x2060..=0x206F
                | 0x3164
                | 0xFEFF
                | 0xFFA0
                | 0xFFF9..=0xFFFB
                | 0x110BD
                | 0x110CD
                | 0x13430..=0x1343F
                | 0x1BCA0..=0x1BCA3
                | 0x1D173..=0x1D17A
                | 0xE0000..=0xE0FFF
        )
}

/// `[wsbox:<name>] <title>`, visible characters only, capped.
pub fn marked_title(name: &str, title: &str) -> String {
    let clean: String = title
        .chars()
        .filter(|c| !is_sneaky(*c))
        .take(TITLE_MAX_CHARS)
        .collect();
    format!("[wsbox:{name}] {clean}")
}

/// The inner frame of one window, kept in the window's user data so its
/// ids stay stable and the damage tracker sees only real changes.
#[derive(Debug)]
pub struct InnerFrame {
    ids: [Id; 4],
    commit: CommitCounter,
    title: RefCell<Option<(String, i32, MemoryRenderBuffer)>>,
}

impl Default for InnerFrame {
    fn default() -> Self {
        Self {
            ids: [Id::new(), Id::new(), Id::new(), Id::new()],
            commit: CommitCounter::default(),
            title: RefCell::new(None),
        }
    }
}

impl InnerFrame {
    /// The rendered title text, re-rendered only when it changes.
    fn title_buffer(&self, text: &str, max_width: i32) -> Option<MemoryRenderBuffer> {
        let mut cache = self.title.borrow_mut();
        if let Some((cached, width, buffer)) = cache.as_ref() {
            if cached == text && *width == max_width {
                return Some(buffer.clone());
            }
        }
        let (pixels, w, h) = crate::text::render(text, INNER_TITLE_PX, [255, 255, 255], max_width)?;
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

    /// The frame around a window at `loc`, `size` big (logical pixels):
    /// the title `text`, if it renders, and the four bars in `color`.
    pub fn elements(
        &self,
        renderer: &mut PixmanRenderer,
        (loc, size): (Point<i32, Logical>, Size<i32, Logical>),
        scale: Scale<f64>,
        text: &str,
        color: Color32F,
    ) -> (
        Option<MemoryRenderBufferRenderElement<PixmanRenderer>>,
        [SolidColorRenderElement; 4],
    ) {
        let (title_h, border) = (INNER_TITLE_HEIGHT, INNER_BORDER);
        let bar_w = size.w + 2 * border;
        let title = self.title_buffer(text, bar_w - 16).and_then(|buffer| {
            let text_loc: Point<f64, Physical> =
                Point::<i32, Logical>::from((loc.x - border + 8, loc.y - title_h + 4))
                    .to_f64()
                    .to_physical(scale);
            MemoryRenderBufferRenderElement::from_buffer(
                renderer,
                text_loc,
                &buffer,
                None,
                None,
                None,
                Kind::Unspecified,
            )
            .ok()
        });
        let rects = [
            // title bar
            Rectangle::new(
                (loc.x - border, loc.y - title_h).into(),
                (bar_w, title_h).into(),
            ),
            // left, right, bottom
            Rectangle::new(
                (loc.x - border, loc.y).into(),
                (border, size.h + border).into(),
            ),
            Rectangle::new(
                (loc.x + size.w, loc.y).into(),
                (border, size.h + border).into(),
            ),
            Rectangle::new((loc.x, loc.y + size.h).into(), (size.w, border).into()),
        ];
        let bars = std::array::from_fn(|i| {
            SolidColorRenderElement::new(
                self.ids[i].clone(),
                rects[i].to_physical_precise_round(scale),
                self.commit,
                color,
                Kind::Unspecified,
            )
        });
        (title, bars)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn titles_are_marked_printable_and_capped() {
        assert_eq!(marked_title("ff", "Hello"), "[wsbox:ff] Hello");
        assert_eq!(marked_title("ff", "a\u{1b}[31mb\nc"), "[wsbox:ff] a[31mbc");
        // Bidi overrides and isolates, zero-width and other format
        // characters, separators: gone; ordinary non-ASCII text stays.
        assert_eq!(
            marked_title(
                "ff",
                "a\u{202E}b\u{2066}c\u{2069}d\u{200B}e\u{200D}f\u{FEFF}g\u{2028}h\u{2029}i\u{AD}j\u{E0041}k\u{3164}l"
            ),
            "[wsbox:ff] abcdefghijkl"
        );
        assert_eq!(marked_title("ff", "Grüße, 世界"), "[wsbox:ff] Grüße, 世界");
        let long = "x".repeat(1000);
        assert_eq!(
            marked_title("n", &long).len(),
            "[wsbox:n] ".len() + TITLE_MAX_CHARS
        );
    }
}
