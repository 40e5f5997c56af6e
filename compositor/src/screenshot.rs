//! PNG encoding of the output.

/// Errors taking a screenshot.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("failed to read the output: {0}")]
    Read(String),
    #[error("failed to encode PNG: {0}")]
    Encode(#[from] png::EncodingError),
}

/// Encodes tightly packed RGBA pixels (ABGR8888 in memory order) as PNG. The
/// output is opaque, so alpha is forced to 255.
pub fn encode_rgba(pixels: &[u8], width: u32, height: u32) -> Result<Vec<u8>, Error> {
    let expected = width as usize * height as usize * 4;
    if pixels.len() < expected {
        return Err(Error::Read(format!(
            "{} bytes for a {width}x{height} output",
            pixels.len()
        )));
    }
    let mut rgba = pixels[..expected].to_vec();
    for px in rgba.chunks_exact_mut(4) {
        px[3] = 255;
    }
    let mut out = Vec::new();
    {
        let mut encoder = png::Encoder::new(&mut out, width, height);
        encoder.set_color(png::ColorType::Rgba);
        encoder.set_depth(png::BitDepth::Eight);
        encoder.set_compression(png::Compression::Fast);
        let mut writer = encoder.write_header()?;
        writer.write_image_data(&rgba)?;
    }
    Ok(out)
}
