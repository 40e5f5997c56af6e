//! Screenshots as the tests read them: `wsbox screenshot`'s and the hosts'
//! PNGs, and grim's PPM (quick to write, for a test that must catch a
//! frame that lasts 300 ms), decoded to 8-bit RGB pixels.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};

/// A decoded screenshot.
#[derive(Debug)]
pub struct Image {
    pub width: i64,
    pub height: i64,
    /// RGB, row by row.
    rgb: Vec<u8>,
    /// Where it was read from, to name in a failure.
    pub path: PathBuf,
}

impl Image {
    /// Decodes a PNG or binary PPM (P6) file; fails the test if it cannot.
    pub fn load(path: &Path) -> Self {
        let bytes = fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
        Self::decode(&bytes, path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    /// Decodes PNG or PPM bytes; `path` names them.
    pub fn decode(bytes: &[u8], path: &Path) -> Result<Self, String> {
        let (width, height, rgb) = if bytes.starts_with(b"P6") {
            ppm(bytes)?
        } else {
            png_rgb(bytes)?
        };
        Ok(Self {
            width,
            height,
            rgb,
            path: path.to_owned(),
        })
    }

    /// The size of a PNG file, if there is one.
    pub fn size_of(path: &Path) -> Option<(i64, i64)> {
        let reader = png::Decoder::new(fs::File::open(path).ok()?)
            .read_info()
            .ok()?;
        let info = reader.info();
        Some((i64::from(info.width), i64::from(info.height)))
    }

    /// The pixel at (x, y); fails the test off the image.
    pub fn at(&self, x: i64, y: i64) -> [u8; 3] {
        assert!(
            x >= 0 && y >= 0 && x < self.width && y < self.height,
            "{x},{y} is outside the {}x{} screenshot {}",
            self.width,
            self.height,
            self.path.display()
        );
        let i = (y * self.width + x) as usize * 3;
        [self.rgb[i], self.rgb[i + 1], self.rgb[i + 2]]
    }

    /// Every colour in the rectangle (clipped to the image), with its
    /// pixel count.
    pub fn colours(&self, x0: i64, y0: i64, x1: i64, y1: i64) -> HashMap<[u8; 3], usize> {
        let mut counts = HashMap::new();
        for y in y0.max(0)..y1.min(self.height) {
            for x in x0.max(0)..x1.min(self.width) {
                *counts.entry(self.at(x, y)).or_insert(0) += 1;
            }
        }
        counts
    }
}

/// Whether two colours differ by at most `tolerance` in every channel.
pub fn near_by(a: [u8; 3], b: [u8; 3], tolerance: u8) -> bool {
    a.iter().zip(b).all(|(x, y)| x.abs_diff(y) <= tolerance)
}

/// Whether two colours are the same but for rounding in a host's
/// compositing (2 in each channel).
pub fn near(a: [u8; 3], b: [u8; 3]) -> bool {
    near_by(a, b, 2)
}

fn png_rgb(bytes: &[u8]) -> Result<(i64, i64, Vec<u8>), String> {
    let mut decoder = png::Decoder::new(bytes);
    decoder.set_transformations(png::Transformations::EXPAND | png::Transformations::STRIP_16);
    let mut reader = decoder.read_info().map_err(|e| e.to_string())?;
    let mut buf = vec![0; reader.output_buffer_size()];
    let frame = reader.next_frame(&mut buf).map_err(|e| e.to_string())?;
    buf.truncate(frame.buffer_size());
    let rgb = match frame.color_type {
        png::ColorType::Rgb => buf,
        png::ColorType::Rgba => buf.chunks(4).flat_map(|p| [p[0], p[1], p[2]]).collect(),
        other => return Err(format!("unexpected PNG colour type {other:?}")),
    };
    Ok((i64::from(frame.width), i64::from(frame.height), rgb))
}

/// A binary PPM: `P6 <width> <height> 255`, one white space, then RGB.
fn ppm(bytes: &[u8]) -> Result<(i64, i64, Vec<u8>), String> {
    let mut fields = Vec::new();
    let mut at = 0;
    while fields.len() < 4 {
        while bytes.get(at).is_some_and(u8::is_ascii_whitespace) {
            at += 1;
        }
        let start = at;
        while bytes.get(at).is_some_and(|b| !b.is_ascii_whitespace()) {
            at += 1;
        }
        if start == at {
            return Err("a PPM header cut short".into());
        }
        fields.push(String::from_utf8_lossy(&bytes[start..at]).into_owned());
    }
    let number = |s: &str| {
        s.parse::<i64>()
            .map_err(|_| format!("odd PPM header {fields:?}"))
    };
    let (width, height) = (number(&fields[1])?, number(&fields[2])?);
    if fields[0] != "P6" || fields[3] != "255" {
        return Err(format!("not an 8-bit P6 PPM: {fields:?}"));
    }
    let rgb = bytes.get(at + 1..).unwrap_or_default().to_vec();
    if rgb.len() as i64 != width * height * 3 {
        return Err(format!(
            "{} bytes of pixels for {width}x{height}",
            rgb.len()
        ));
    }
    Ok((width, height, rgb))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ppm_pixels_are_read() {
        let mut bytes = b"P6\n2 1\n255\n".to_vec();
        bytes.extend_from_slice(&[1, 2, 3, 4, 5, 6]);
        let image = Image::decode(&bytes, Path::new("x.ppm")).unwrap();
        assert_eq!((image.width, image.height), (2, 1));
        assert_eq!(image.at(1, 0), [4, 5, 6]);
    }

    #[test]
    fn a_short_ppm_is_refused() {
        let bytes = b"P6\n2 1\n255\n\x01\x02".to_vec();
        assert!(Image::decode(&bytes, Path::new("x.ppm")).is_err());
    }
}
