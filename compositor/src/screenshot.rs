//! PNG encoding of the output.

/// Errors taking a screenshot.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("failed to read the output: {0}")]
    Read(String),
    #[error("failed to encode PNG: {0}")]
    Encode(#[from] png::EncodingError),
}

/// Reads `width`x`height` pixels of `target` back through `renderer` and
/// encodes them as PNG.
pub fn capture<T>(
    renderer: &mut smithay::backend::renderer::pixman::PixmanRenderer,
    target: &mut T,
    width: i32,
    height: i32,
) -> Result<Vec<u8>, Error>
where
    smithay::backend::renderer::pixman::PixmanRenderer: smithay::backend::renderer::Bind<T>,
{
    use smithay::backend::allocator::Fourcc;
    use smithay::backend::renderer::{Bind, ExportMem};
    use smithay::utils::{Buffer, Rectangle, Size};

    let read = |e: &dyn std::fmt::Debug| Error::Read(format!("{e:?}"));
    let region = Rectangle::from_size(Size::<i32, Buffer>::from((width, height)));
    let fb = renderer.bind(target).map_err(|e| read(&e))?;
    let mapping = renderer
        .copy_framebuffer(&fb, region, Fourcc::Abgr8888)
        .map_err(|e| read(&e))?;
    drop(fb);
    let bytes = renderer.map_texture(&mapping).map_err(|e| read(&e))?;
    encode_rgba(bytes, width as u32, height as u32)
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
