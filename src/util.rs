//! Host lookups that otherwise unrelated modules share: random bytes and
//! programs on PATH. They live here so that no module reaches into another
//! for them; nothing here keeps state or decides policy.

use std::path::PathBuf;

use anyhow::{bail, Result};

/// Fills `buf` from the kernel's random source.
pub fn getrandom(buf: &mut [u8]) -> Result<()> {
    // SAFETY: the kernel writes at most buf.len() bytes into buf.
    let n = unsafe { libc::getrandom(buf.as_mut_ptr().cast(), buf.len(), 0) };
    if n != buf.len() as isize {
        bail!(
            "failed to read random bytes: {}",
            std::io::Error::last_os_error()
        );
    }
    Ok(())
}

/// Where the program `name` is installed: on PATH (the usual directories
/// when PATH is not set), else in /usr/bin or /usr/sbin.
pub fn find_program(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_else(|| "/usr/local/bin:/usr/bin:/bin".into());
    std::env::split_paths(&path)
        .chain(["/usr/bin".into(), "/usr/sbin".into()])
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}
