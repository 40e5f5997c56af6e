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
//! - the host frame, around the whole host window in window mode
//!   ([`HOST_TITLE_HEIGHT`], [`HOST_BORDER`]): a border and a title bar in
//!   the policy's colour with `[wsbox:<name>] <title>` and a close button,
//!   or, when the policy lets the host draw the title bar, a thinner strip
//!   ([`STRIP_HEIGHT`]) with the same title, so the marking never depends
//!   on the host showing one. wsbox draws it into the host buffers outside
//!   the area the output is rendered into ([`crate::backend::host`]), so
//!   nothing an app draws can cover it, on any host (GNOME included).
//!
//! This module draws the frames, cleans the titles they show and says
//! which part of the host frame a point is on; it must never decide where
//! windows go ([`crate::layout`] does) nor talk to the host.

use std::cell::RefCell;
use std::time::{Duration, Instant};

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
use wayland_protocols::xdg::shell::client::xdg_toplevel::ResizeEdge;

/// Height of the inner frame's title bar in logical pixels.
pub const INNER_TITLE_HEIGHT: i32 = 24;
/// Width of the inner frame's border on the other sides.
pub const INNER_BORDER: i32 = 2;
/// The inner frame's title text size.
const INNER_TITLE_PX: f32 = 16.0;
/// Titles longer than this many characters are cut.
pub const TITLE_MAX_CHARS: usize = 128;

/// Width of the host frame's border around the output, in logical pixels.
pub const HOST_BORDER: i32 = 4;
/// Height of the host frame's title bar above the output, in logical pixels.
pub const HOST_TITLE_HEIGHT: i32 = 28;
/// Height of the host frame's strip above the output when the host draws
/// the title bar (host_decorations = "server"): the marking stays wsbox's
/// own even where the host shows no title bar (borderless, fullscreen,
/// tiled).
pub const STRIP_HEIGHT: i32 = 16;
/// Side of the close button in the host frame's title bar, in logical
/// pixels.
pub const CLOSE_SIZE: i32 = 20;
/// The host frame's title text size at scale 1.
const HOST_TITLE_PX: f32 = 16.0;
/// The strip's text size at scale 1.
const STRIP_PX: f32 = 12.0;
/// The longest host title, in characters.
pub const HOST_TITLE_MAX: usize = 128;
/// The smallest output a host window may shrink the sandbox to, in logical
/// pixels.
const MIN_CONTENT: i32 = 16;
/// How long the host frame flashes to confirm a clipboard transfer.
const FLASH: Duration = Duration::from_millis(300);

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

/// What the marking adds to the title of an app that does not answer
/// pings while wsbox waits for it to close.
pub const NOT_RESPONDING: &str = " (not responding)";

/// `title` with [`NOT_RESPONDING`] at its end when `late`, cut so that the
/// whole stays within `max` characters and the suffix is never cut.
pub fn responding_title(title: String, late: bool, max: usize) -> String {
    if !late {
        return title;
    }
    let room = max.saturating_sub(NOT_RESPONDING.chars().count());
    let mut out: String = title.chars().take(room).collect();
    out.push_str(NOT_RESPONDING);
    out
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

/// What the title says while the app records sound.
pub const RECORDING_LABEL: &str = "[REC]";
/// The recording mark's colour (BGRA, as the buffer holds it).
const RECORDING_RED: [u8; 4] = [0x20, 0x20, 0xe0, 255];

/// `[wsbox:<name>] <title>` for the host: printable characters only, at most
/// [`HOST_TITLE_MAX`] characters in all.
pub fn host_title(name: &str, title: &str) -> String {
    marked_title(name, title)
        .chars()
        .take(HOST_TITLE_MAX)
        .collect()
}

/// Where a point of the host window is.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Hit {
    /// On the output, at this point of it.
    Content(Point<f64, Logical>),
    Close,
    Title,
    Edge(ResizeEdge),
}

/// The host frame of one host window: where its parts are, at the host's
/// scale, and what it shows. Every change that must be redrawn bumps
/// [`HostFrame::version`].
#[derive(Debug)]
pub struct HostFrame {
    /// The output's size in buffer pixels.
    content: (i32, i32),
    /// The host's scale: integer (wl_surface.set_buffer_scale), or
    /// fractional when the window has a viewport.
    scale: f64,
    /// The policy lets the host draw the title bar (host_decorations).
    want_ssd: bool,
    /// The host draws the title bar: the frame is the border and a strip
    /// with the marked title.
    ssd: bool,
    name: String,
    color: [u8; 3],
    /// The marked title, as shown and as the host gets it.
    title: String,
    version: u64,
    /// Until when the frame flashes.
    flash_until: Option<Instant>,
    /// The app's own title and whether it answers, as last set.
    app_title: String,
    not_responding: bool,
    /// The app records sound: the title says so and the bar shows a red
    /// mark.
    recording: bool,
}

impl HostFrame {
    /// The frame of sandbox `name` around an output of `content` buffer
    /// pixels, at scale 1, with wsbox's title bar until the host says it
    /// draws one.
    pub fn new(name: &str, color: [u8; 3], content: (i32, i32), want_ssd: bool) -> Self {
        Self {
            content,
            scale: 1.0,
            want_ssd,
            ssd: false,
            name: name.to_owned(),
            color,
            title: host_title(name, ""),
            version: 1,
            flash_until: None,
            app_title: String::new(),
            not_responding: false,
            recording: false,
        }
    }

    /// The smallest window the host may make, frame included.
    pub fn min_window_size() -> (i32, i32) {
        (
            2 * HOST_BORDER + MIN_CONTENT.max(CLOSE_SIZE + 16),
            HOST_TITLE_HEIGHT + HOST_BORDER + MIN_CONTENT,
        )
    }

    /// The output's size in buffer pixels.
    pub fn content(&self) -> (i32, i32) {
        self.content
    }

    pub fn scale(&self) -> f64 {
        self.scale
    }

    /// The marked title.
    pub fn title(&self) -> &str {
        &self.title
    }

    /// Bumped whenever the frame must be redrawn: title, size, scale,
    /// decorations, flash.
    pub fn version(&self) -> u64 {
        self.version
    }

    /// The height of the frame above the output: the title bar, or the
    /// thinner strip (the marked title, no buttons) when the host draws the
    /// title bar.
    pub fn top(&self) -> i32 {
        if self.ssd {
            STRIP_HEIGHT
        } else {
            HOST_TITLE_HEIGHT
        }
    }

    /// The output's size in logical pixels.
    pub fn content_logical(&self) -> (i32, i32) {
        (
            (f64::from(self.content.0) / self.scale).round() as i32,
            (f64::from(self.content.1) / self.scale).round() as i32,
        )
    }

    /// `v` logical pixels in buffer pixels.
    pub fn px(&self, v: i32) -> i32 {
        (f64::from(v) * self.scale).round() as i32
    }

    /// The window's size in logical pixels, frame included.
    pub fn window_size(&self) -> (i32, i32) {
        let (w, h) = self.content_logical();
        (w + 2 * HOST_BORDER, h + self.top() + HOST_BORDER)
    }

    /// The whole window's buffer size: the output plus the frame.
    pub fn buffer_size(&self) -> (i32, i32) {
        (
            self.content.0 + 2 * self.px(HOST_BORDER),
            self.content.1 + self.px(self.top()) + self.px(HOST_BORDER),
        )
    }

    /// Where the output starts in the window's buffers, in buffer pixels.
    pub fn content_offset(&self) -> (i32, i32) {
        (self.px(HOST_BORDER), self.px(self.top()))
    }

    /// The output size, in logical pixels, for a host window of `w`×`h`
    /// logical pixels (0: the host lets wsbox choose, and it keeps the
    /// current one), within what the output can be.
    pub fn content_for(&self, (w, h): (i32, i32)) -> (i32, i32) {
        let max = (16384.0 / self.scale) as i32;
        if w > 0 && h > 0 {
            (
                (w - 2 * HOST_BORDER).clamp(MIN_CONTENT, max),
                (h - self.top() - HOST_BORDER).clamp(MIN_CONTENT, max),
            )
        } else {
            self.content_logical()
        }
    }

    /// The output has a new size, in buffer pixels.
    pub fn set_content(&mut self, content: (i32, i32)) {
        self.content = content;
        self.version += 1;
    }

    pub fn set_scale(&mut self, scale: f64) {
        self.scale = scale;
        self.version += 1;
    }

    /// The host says whether it draws the title bar; it does only where
    /// the policy lets it. True when that changes the frame.
    pub fn set_host_decorations(&mut self, server: bool) -> bool {
        let ssd = server && self.want_ssd;
        if ssd == self.ssd {
            return false;
        }
        self.ssd = ssd;
        self.version += 1;
        true
    }

    /// Follows the app's title; true when the marked title changed.
    pub fn set_app_title(&mut self, app_title: &str, not_responding: bool) -> bool {
        app_title.clone_into(&mut self.app_title);
        self.not_responding = not_responding;
        self.retitle()
    }

    /// Shows, or stops showing, that the app records sound; true when
    /// the frame changed.
    pub fn set_recording(&mut self, recording: bool) -> bool {
        if self.recording == recording {
            return false;
        }
        self.recording = recording;
        self.retitle();
        self.version += 1;
        true
    }

    fn retitle(&mut self) -> bool {
        let app_title = if self.recording {
            format!("{RECORDING_LABEL} {}", self.app_title)
        } else {
            self.app_title.clone()
        };
        let title = responding_title(
            host_title(&self.name, &app_title),
            self.not_responding,
            HOST_TITLE_MAX,
        );
        if title == self.title {
            return false;
        }
        self.title = title;
        self.version += 1;
        true
    }

    /// Starts a flash of the frame: the confirmation of a clipboard
    /// transfer.
    pub fn flash(&mut self) {
        self.flash_until = Some(Instant::now() + FLASH);
        self.version += 1;
    }

    pub fn flashing(&self) -> bool {
        self.flash_until.is_some()
    }

    /// Ends the flash once its time is up (the frame is redrawn plain).
    pub fn end_flash_if_over(&mut self) {
        if self
            .flash_until
            .is_some_and(|until| Instant::now() >= until)
        {
            self.flash_until = None;
            self.version += 1;
        }
    }

    /// Where a point of the window (surface coordinates) is.
    pub fn hit(&self, pos: Point<f64, Logical>) -> Option<Hit> {
        let (w, h) = self.window_size();
        let (w, h) = (w as f64, h as f64);
        let (x, y) = (pos.x, pos.y);
        if x < 0.0 || y < 0.0 || x >= w || y >= h {
            return None;
        }
        let (b, t) = (HOST_BORDER as f64, self.top() as f64);
        if x >= b && x < w - b && y >= t && y < h - b {
            return Some(Hit::Content(self.content_point(pos)));
        }
        let (left, right, top, bottom) = (x < b, x >= w - b, y < b, y >= h - b);
        let edge = match (left, right, top, bottom) {
            (true, _, true, _) => Some(ResizeEdge::TopLeft),
            (_, true, true, _) => Some(ResizeEdge::TopRight),
            (true, _, _, true) => Some(ResizeEdge::BottomLeft),
            (_, true, _, true) => Some(ResizeEdge::BottomRight),
            (true, ..) => Some(ResizeEdge::Left),
            (_, true, ..) => Some(ResizeEdge::Right),
            (_, _, true, _) => Some(ResizeEdge::Top),
            (.., true) => Some(ResizeEdge::Bottom),
            _ => None,
        };
        if let Some(edge) = edge {
            return Some(Hit::Edge(edge));
        }
        if self.ssd {
            // The strip: no buttons; it moves the window.
            return Some(Hit::Title);
        }
        let (cx, cy) = close_button(w as i32, 1.0);
        let c = CLOSE_SIZE as f64;
        if x >= cx as f64 && x < cx as f64 + c && y >= cy as f64 && y < cy as f64 + c {
            return Some(Hit::Close);
        }
        Some(Hit::Title)
    }

    /// A point of the window (surface coordinates) as a point of the
    /// output, which may lie outside it.
    pub fn content_point(&self, pos: Point<f64, Logical>) -> Point<f64, Logical> {
        pos - Point::from((HOST_BORDER as f64, self.top() as f64))
    }

    /// Draws the frame into a whole-window buffer of [`Self::buffer_size`]
    /// (XRGB8888), leaving the output's area alone.
    pub fn draw(&self, map: &mut [u8]) {
        let color = if self.flash_until.is_some() {
            // Halfway to white.
            self.color.map(|c| c + (255 - c) / 2)
        } else {
            self.color
        };
        let title = self.title_pixels();
        draw_host_frame(
            map,
            self.buffer_size(),
            self.scale,
            color,
            self.top(),
            title.as_ref().map(|(p, w, h)| (p.as_slice(), *w, *h)),
            Marks {
                close: !self.ssd,
                recording: self.recording,
            },
        );
    }

    /// The title bar's (or the strip's) text, rendered for the current
    /// scale.
    fn title_pixels(&self) -> Option<(Vec<u8>, i32, i32)> {
        let (w, _) = self.window_size();
        let (max, size) = if self.ssd {
            (self.px(w - 2 * HOST_BORDER - 12), STRIP_PX)
        } else {
            (
                self.px(w - 2 * HOST_BORDER - CLOSE_SIZE - 24),
                HOST_TITLE_PX,
            )
        };
        crate::text::render(&self.title, size * self.scale as f32, ink(self.color), max)
    }
}

/// The text colour on a background of `color`: dark on light colours,
/// white on dark ones.
fn ink([r, g, b]: [u8; 3]) -> [u8; 3] {
    let luma = 299 * r as u32 + 587 * g as u32 + 114 * b as u32;
    if luma > 150_000 {
        [0, 0, 0]
    } else {
        [255, 255, 255]
    }
}

/// Where the close button's top-left corner is, for a window `width` pixels
/// wide, at `scale` (1 for logical pixels), in the same pixels.
fn close_button(width: i32, scale: f64) -> (i32, i32) {
    let px = |v: i32| (f64::from(v) * scale).round() as i32;
    (
        width - px(HOST_BORDER + 4 + CLOSE_SIZE),
        px((HOST_TITLE_HEIGHT - CLOSE_SIZE) / 2),
    )
}

/// Draws the host frame into a whole-window buffer (XRGB8888, `w`×`h`
/// buffer pixels): the border and a bar `bar` logical pixels high in
/// `color`, the title text in the bar, and the close button when `close`
/// (not in the strip drawn while the host draws the title bar). The
/// output's area is left alone.
/// What the bar shows beside the title.
#[derive(Debug, Clone, Copy)]
struct Marks {
    /// wsbox's close button (the host draws none).
    close: bool,
    /// The app records sound.
    recording: bool,
}

fn draw_host_frame(
    map: &mut [u8],
    (w, h): (i32, i32),
    scale: f64,
    color: [u8; 3],
    bar: i32,
    title: Option<(&[u8], i32, i32)>,
    Marks { close, recording }: Marks,
) {
    let stride = (w * 4) as usize;
    let px = |v: i32| (f64::from(v) * scale).round() as i32;
    let border = px(HOST_BORDER);
    let bar = px(bar);
    let pixel = [color[2], color[1], color[0], 255];
    let fill = |map: &mut [u8], x0: i32, y0: i32, x1: i32, y1: i32, px: [u8; 4]| {
        let (x0, x1) = (x0.clamp(0, w) as usize, x1.clamp(0, w) as usize);
        for y in y0.clamp(0, h)..y1.clamp(0, h) {
            let row = y as usize * stride;
            if let Some(row) = map.get_mut(row + x0 * 4..row + x1 * 4) {
                for chunk in row.chunks_exact_mut(4) {
                    chunk.copy_from_slice(&px);
                }
            }
        }
    };
    fill(map, 0, 0, w, bar, pixel);
    fill(map, 0, bar, border, h, pixel);
    fill(map, w - border, bar, w, h, pixel);
    fill(map, border, h - border, w - border, h, pixel);
    if bar <= border {
        return;
    }

    let [r, g, b] = ink(color);
    let ink = [b, g, r, 255];
    // Where the title text must end: before the close button, or the border.
    let text_end = if close {
        let shade = |c: u8| (c as u32 * 7 / 10) as u8;
        let button = [shade(color[2]), shade(color[1]), shade(color[0]), 255];
        let (cx, cy) = close_button(w, scale);
        let size = px(CLOSE_SIZE);
        let thick = px(1).max(1);
        fill(map, cx, cy, cx + size, cy + size, button);
        // The cross: two diagonals, `scale` pixels thick, inset by a quarter.
        let inset = size / 4;
        for i in 0..(size - 2 * inset) {
            for t in 0..thick * 2 {
                let (x, y) = (cx + inset + i, cy + inset + i + t - thick);
                let x2 = cx + size - 1 - inset - i;
                fill(map, x, y, x + 1, y + 1, ink);
                fill(map, x2, y, x2 + 1, y + 1, ink);
            }
        }
        cx - px(4)
    } else {
        w - border - px(4)
    };
    // Recording: a red square at the bar's end, which the app cannot draw
    // over (the bar is outside its output).
    let text_end = if recording {
        let size = (bar - 2 * border).max(px(6));
        let y = (bar - size) / 2;
        // Outlined in the text's colour: visible on a red frame too.
        let line = px(1).max(1);
        fill(map, text_end - size, y, text_end, y + size, ink);
        fill(
            map,
            text_end - size + line,
            y + line,
            text_end - line,
            y + size - line,
            RECORDING_RED,
        );
        text_end - size - px(4)
    } else {
        text_end
    };

    if let Some((pixels, tw, th)) = title {
        let x0 = border + px(8);
        let y0 = ((bar - th) / 2).max(0);
        for ty in 0..th {
            let y = y0 + ty;
            if y >= bar {
                break;
            }
            for tx in 0..tw {
                let x = x0 + tx;
                if x >= text_end {
                    break;
                }
                let si = ((ty * tw + tx) * 4) as usize;
                let di = y as usize * stride + x as usize * 4;
                let (Some(src), Some(dst)) = (pixels.get(si..si + 4), map.get_mut(di..di + 4))
                else {
                    continue;
                };
                // Premultiplied source over an opaque destination.
                let a = src[3] as u32;
                for c in 0..3 {
                    dst[c] = (src[c] as u32 + dst[c] as u32 * (255 - a) / 255).min(255) as u8;
                }
            }
        }
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

    #[test]
    fn host_titles_are_marked_and_capped() {
        assert_eq!(host_title("ff", "Hello"), "[wsbox:ff] Hello");
        assert_eq!(host_title("ff", "a\nb"), "[wsbox:ff] ab");
        assert_eq!(host_title("n", &"x".repeat(1000)).chars().count(), 128);
        assert!(host_title("n", &"x".repeat(1000)).starts_with("[wsbox:n] x"));
    }

    #[test]
    fn recording_is_in_the_title_and_a_red_square_in_the_bar() {
        let mut frame = HostFrame::new("rec", [0xe0, 0x30, 0x20], (300, 200), false);
        frame.set_app_title("app", false);
        let red = |frame: &HostFrame| {
            let (w, h) = frame.buffer_size();
            let mut map = vec![7u8; (w * h * 4) as usize];
            frame.draw(&mut map);
            map.chunks_exact(4)
                .filter(|p| p[..3] == RECORDING_RED[..3])
                .count()
        };
        assert_eq!(red(&frame), 0);
        assert!(frame.set_recording(true));
        assert!(!frame.set_recording(true));
        assert_eq!(frame.title(), "[wsbox:rec] [REC] app");
        assert!(red(&frame) > 50, "no red square");
        // The app's title follows while it records.
        frame.set_app_title("other", false);
        assert_eq!(frame.title(), "[wsbox:rec] [REC] other");
        assert!(frame.set_recording(false));
        assert_eq!(frame.title(), "[wsbox:rec] other");
        assert_eq!(red(&frame), 0);
    }

    /// Draws the host frame into a 100x80 buffer of 7s, with a bar `bar`
    /// high; the colour of a pixel of the result.
    fn drawn(bar: i32, close: bool) -> impl Fn(i32, i32) -> [u8; 3] {
        let (w, h) = (100, 80);
        let mut map = vec![7u8; (w * h * 4) as usize];
        draw_host_frame(
            &mut map,
            (w, h),
            1.0,
            [0x10, 0x80, 0xf0],
            bar,
            None,
            Marks {
                close,
                recording: false,
            },
        );
        move |x: i32, y: i32| {
            let i = ((y * w + x) * 4) as usize;
            [map[i + 2], map[i + 1], map[i]]
        }
    }

    #[test]
    fn the_frame_surrounds_the_output_and_leaves_it_alone() {
        let (w, h) = (100, 80);
        let px = drawn(HOST_TITLE_HEIGHT, true);
        assert_eq!(px(0, 0), [0x10, 0x80, 0xf0]);
        assert_eq!(px(1, 40), [0x10, 0x80, 0xf0]);
        assert_eq!(px(w - 1, 40), [0x10, 0x80, 0xf0]);
        assert_eq!(px(50, h - 1), [0x10, 0x80, 0xf0]);
        // The output's area is untouched.
        assert_eq!(px(HOST_BORDER, HOST_TITLE_HEIGHT), [7, 7, 7]);
        assert_eq!(px(w - HOST_BORDER - 1, h - HOST_BORDER - 1), [7, 7, 7]);

        // The strip, when the host draws the title bar: thinner, in the
        // colour, and no close button where it would be.
        let px = drawn(STRIP_HEIGHT, false);
        let (cx, cy) = close_button(w, 1.0);
        assert_eq!(
            px(cx + CLOSE_SIZE / 2, cy.min(STRIP_HEIGHT - 1)),
            [0x10, 0x80, 0xf0]
        );
        assert_eq!(px(w / 2, STRIP_HEIGHT - 1), [0x10, 0x80, 0xf0]);
        assert_eq!(px(HOST_BORDER, STRIP_HEIGHT), [7, 7, 7]);
    }
}
