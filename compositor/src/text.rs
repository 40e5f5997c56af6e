//! Text for wsbox's own drawing (window titles), rasterised with fontdue from
//! a system font. The font is read once; a missing font means untitled
//! frames and one warning, never a failure.

use std::sync::OnceLock;

const FONT_PATHS: &[&str] = &[
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
];

fn font() -> Option<&'static fontdue::Font> {
    static FONT: OnceLock<Option<fontdue::Font>> = OnceLock::new();
    FONT.get_or_init(|| {
        for path in FONT_PATHS {
            if let Ok(bytes) = std::fs::read(path) {
                if let Ok(font) = fontdue::Font::from_bytes(bytes, fontdue::FontSettings::default()) {
                    return Some(font);
                }
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
    let font = font()?;
    let metrics = font.horizontal_line_metrics(px)?;
    let height = (metrics.ascent - metrics.descent).ceil().max(1.0) as i32;
    let baseline = metrics.ascent.round() as i32;
    let mut glyphs = Vec::new();
    let mut pen = 0.0f32;
    for c in text.chars() {
        let (m, bitmap) = font.rasterize(c, px);
        let x = (pen + m.xmin as f32).round() as i32;
        if x + m.width as i32 > max_width {
            break;
        }
        glyphs.push((x, m, bitmap));
        pen += m.advance_width;
    }
    let width = (pen.ceil() as i32).clamp(1, max_width.max(1));
    let mut out = vec![0u8; (width * height * 4) as usize];
    for (x0, m, bitmap) in glyphs {
        let y0 = baseline - m.height as i32 - m.ymin;
        for gy in 0..m.height as i32 {
            for gx in 0..m.width as i32 {
                let (x, y) = (x0 + gx, y0 + gy);
                if x < 0 || y < 0 || x >= width || y >= height {
                    continue;
                }
                let a = bitmap[(gy * m.width as i32 + gx) as usize] as u32;
                let i = ((y * width + x) * 4) as usize;
                let old = out[i + 3] as u32;
                if a <= old {
                    continue;
                }
                // Premultiplied BGRA in memory (ARGB8888 little-endian).
                out[i] = (color[2] as u32 * a / 255) as u8;
                out[i + 1] = (color[1] as u32 * a / 255) as u8;
                out[i + 2] = (color[0] as u32 * a / 255) as u8;
                out[i + 3] = a as u8;
            }
        }
    }
    Some((out, width, height))
}
