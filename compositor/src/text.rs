//! Text for wsbox's own drawing (window titles), rasterised with ab_glyph
//! from a system font, which parses glyphs on demand and so keeps only the
//! font file in memory. The font is read once; a missing font means untitled
//! frames and one warning, never a failure.

use std::sync::OnceLock;

use ab_glyph::{Font, FontVec, PxScale, ScaleFont};

const FONT_PATHS: &[&str] = &[
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
];

pub(crate) fn font() -> Option<&'static FontVec> {
    static FONT: OnceLock<Option<FontVec>> = OnceLock::new();
    FONT.get_or_init(|| {
        for path in FONT_PATHS {
            if let Some(font) = std::fs::read(path)
                .ok()
                .and_then(|bytes| FontVec::try_from_vec(bytes).ok())
            {
                return Some(font);
            }
        }
        tracing::warn!(paths = ?FONT_PATHS, "no font found: window titles are not drawn (install fonts-dejavu-core)");
        None
    })
    .as_ref()
}

/// Renders `text` in `color` (RGB) at `px` pixels, clipped to `max_width`, as
/// premultiplied ARGB8888 little-endian bytes. Returns (bytes, width, height).
pub fn render(text: &str, px: f32, color: [u8; 3], max_width: i32) -> Option<(Vec<u8>, i32, i32)> {
    let font = font()?.as_scaled(PxScale::from(px));
    let height = (font.ascent() - font.descent()).ceil().max(1.0) as i32;
    let mut glyphs = Vec::new();
    let mut pen = 0.0f32;
    let mut previous = None;
    for c in text.chars() {
        let id = font.glyph_id(c);
        if let Some(prev) = previous {
            pen += font.kern(prev, id);
        }
        previous = Some(id);
        let advance = font.h_advance(id);
        if (pen + advance).ceil() as i32 > max_width {
            break;
        }
        glyphs.push(id.with_scale_and_position(px, ab_glyph::point(pen, font.ascent())));
        pen += advance;
    }
    let width = (pen.ceil() as i32).clamp(1, max_width.max(1));
    let mut out = vec![0u8; (width * height * 4) as usize];
    for glyph in glyphs {
        let Some(outline) = font.outline_glyph(glyph) else {
            continue;
        };
        let bounds = outline.px_bounds();
        outline.draw(|gx, gy, coverage| {
            let x = bounds.min.x as i32 + gx as i32;
            let y = bounds.min.y as i32 + gy as i32;
            if x < 0 || y < 0 || x >= width || y >= height {
                return;
            }
            let a = (coverage.clamp(0.0, 1.0) * 255.0) as u32;
            let i = ((y * width + x) * 4) as usize;
            if a <= out[i + 3] as u32 {
                return;
            }
            // Premultiplied BGRA in memory (ARGB8888 little-endian).
            out[i] = (color[2] as u32 * a / 255) as u8;
            out[i + 1] = (color[1] as u32 * a / 255) as u8;
            out[i + 2] = (color[0] as u32 * a / 255) as u8;
            out[i + 3] = a as u8;
        });
    }
    Some((out, width, height))
}

#[cfg(test)]
mod tests {
    #[test]
    fn text_is_drawn_and_clipped() {
        let Some((pixels, w, h)) = super::render("Hello", 14.0, [255, 255, 255], 1000) else {
            eprintln!("SKIPPED: text_is_drawn_and_clipped: no DejaVu font installed");
            assert!(
                std::env::var_os("WSBOX_MUST_WORK").is_none(),
                "font missing in CI"
            );
            return;
        };
        assert!(w > 20 && w < 60 && h >= 14, "{w}x{h}");
        assert!(pixels.chunks(4).any(|p| p[3] > 200), "no solid pixel drawn");
        let (_, clipped, _) = super::render("Hello world, long title", 14.0, [0; 3], 30).unwrap();
        assert!(clipped <= 30);
    }
}
