//! Host lookups that otherwise unrelated modules share: random bytes and
//! programs on PATH, text cut to a size. They live here so that no module reaches into another
//! for them; nothing here keeps state or decides policy.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use anyhow::{bail, Result};
use wsbox_sandbox::plan::SANDBOX_PATH;

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

/// `program` as the sandbox finds it: a path as given, or the first
/// executable file of that name on the sandbox's PATH (the same
/// directories exist on the host).
pub fn sandbox_program(root: &Path, program: &str) -> Option<PathBuf> {
    if program.contains('/') {
        return Some(PathBuf::from(program)).filter(|p| p.is_absolute());
    }
    SANDBOX_PATH
        .split(':')
        .map(|dir| Path::new(dir).join(program))
        .find(|p| {
            root.join(p.strip_prefix("/").unwrap_or(p))
                .metadata()
                .is_ok_and(|m| m.is_file() && m.mode() & 0o111 != 0)
        })
}

/// `text` cut to `max` bytes, on a character boundary.
pub fn cut_bytes(mut text: String, max: usize) -> String {
    if text.len() > max {
        let mut end = max;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn programs_are_looked_up_on_the_sandbox_path() {
        let root = Path::new("/");
        assert_eq!(sandbox_program(root, "sh"), Some("/usr/bin/sh".into()));
        assert_eq!(sandbox_program(root, "/opt/x"), Some("/opt/x".into()));
        assert_eq!(sandbox_program(root, "no-such-program-here"), None);
        assert_eq!(sandbox_program(root, "rel/x"), None);
    }
}
