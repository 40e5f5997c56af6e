//! The `--screenshot` writer: a helper process forked before wsbox
//! confines itself (`crate::helper`), since Landlock could only grant the
//! confined wsbox the whole directory the file goes to. It confines itself
//! to creating files in that directory and writes one PNG there, never
//! anything else and never through a symbolic link.

use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};

use nix::sys::wait::waitpid;
use nix::unistd::Pid;
use wsbox_sandbox::self_confine::Confinement;

use crate::helper::fork_helper;

/// A helper process that writes one PNG to the `--screenshot` path: wsbox
/// sends it the bytes (length first) over a socket pair, it writes the file
/// only when they all arrived, and answers "ok" or the error.
#[derive(Debug)]
pub struct ScreenshotWriter {
    stream: UnixStream,
    pid: Pid,
    path: PathBuf,
}

impl ScreenshotWriter {
    /// Starts the helper. Call before [`confine`](crate::confine::confine),
    /// while wsbox has no other thread (it forks).
    pub fn spawn(path: &Path) -> std::io::Result<Self> {
        let (ours, theirs) = UnixStream::pair()?;
        // The child only reads, writes one file and exits.
        let keep = [theirs.as_raw_fd()];
        let child = fork_helper(&keep, move || serve_screenshot(theirs, path))?;
        Ok(Self {
            stream: ours,
            pid: child,
            path: path.to_owned(),
        })
    }

    /// Sends `png` and waits for the helper; the error is one line for the
    /// user.
    pub fn write(mut self, png: &[u8]) -> Result<(), String> {
        let sent = self
            .stream
            .write_all(&(png.len() as u64).to_le_bytes())
            .and_then(|()| self.stream.write_all(png))
            .and_then(|()| self.stream.shutdown(std::net::Shutdown::Write));
        let mut answer = String::new();
        let read = self.stream.read_to_string(&mut answer);
        let _ = waitpid(self.pid, None);
        match (sent, read, answer.as_str()) {
            (Ok(()), Ok(_), "ok") => Ok(()),
            (_, _, "") => Err(format!(
                "failed to write the screenshot {}: the writer ended early",
                self.path.display()
            )),
            (_, _, why) => Err(format!(
                "failed to write the screenshot {}: {why}",
                self.path.display()
            )),
        }
    }
}

impl Drop for ScreenshotWriter {
    fn drop(&mut self) {
        // Unused (the app ended first): the helper sees the end of its
        // input, writes nothing and exits; reap it.
        let _ = self.stream.shutdown(std::net::Shutdown::Both);
        let _ = waitpid(self.pid, None);
    }
}

/// The largest PNG the writer takes: an uncompressed 8192×8192 RGBA image
/// and some room for the PNG's chunks (wsbox's outputs are far smaller).
pub const MAX_SCREENSHOT: u64 = 8192 * 8192 * 4 + (1 << 20);

/// The start of every PNG file.
const PNG_SIGNATURE: &[u8] = b"\x89PNG\r\n\x1a\n";

/// The helper's side: length, bytes, then the file; "ok" or the error back.
/// The helper confines itself first: no capabilities, no signals, files
/// only created or written in the PNG's directory (Landlock), wsbox's
/// syscall allowlist.
fn serve_screenshot(mut stream: UnixStream, path: &Path) -> i32 {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_owned(),
        _ => PathBuf::from("."),
    };
    let confinement = Confinement {
        create: vec![dir],
        landlock_optional: true,
        ..Confinement::default()
    };
    let confined = confinement.apply().map_err(|e| e.to_string());
    let mut len = [0u8; 8];
    if stream.read_exact(&mut len).is_err() {
        return 0;
    }
    let len = u64::from_le_bytes(len);
    if len > MAX_SCREENSHOT {
        let _ = stream.write_all(format!("the image is too large ({len} bytes)").as_bytes());
        return 1;
    }
    let mut png = Vec::new();
    let complete = (&mut stream)
        .take(len)
        .read_to_end(&mut png)
        .is_ok_and(|n| n as u64 == len);
    if !complete {
        return 1;
    }
    let answer = match confined.and_then(|_| write_png(path, &png)) {
        Ok(()) => "ok".to_owned(),
        Err(e) => e,
    };
    let _ = stream.write_all(answer.as_bytes());
    0
}

/// Writes `png` to `path`: a new file, or an existing regular file replaced
/// (a symlink, a FIFO or a device is refused).
fn write_png(path: &Path, png: &[u8]) -> Result<(), String> {
    use std::os::unix::fs::OpenOptionsExt;
    if !png.starts_with(PNG_SIGNATURE) {
        return Err("the image is not a PNG".into());
    }
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o644)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)
        .map_err(|e| match e.raw_os_error() {
            Some(libc::ELOOP) => "it is a symbolic link".to_owned(),
            _ => e.to_string(),
        })?;
    let meta = file.metadata().map_err(|e| e.to_string())?;
    if !meta.is_file() {
        return Err("it is not a regular file".into());
    }
    file.set_len(0)
        .and_then(|()| file.write_all(png))
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    const PNG: &[u8] = b"\x89PNG\r\n\x1a\nrest of the image";

    fn scratch(test: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("wsbox-confine-{test}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn the_screenshot_replaces_a_regular_file_and_refuses_the_rest() {
        let dir = scratch("png");
        let new = dir.join("new.png");
        assert_eq!(write_png(&new, PNG), Ok(()));
        assert_eq!(std::fs::read(&new).unwrap(), PNG);
        // An existing, longer file is replaced whole.
        let old = dir.join("old.png");
        std::fs::write(&old, vec![b'x'; 1000]).unwrap();
        assert_eq!(write_png(&old, PNG), Ok(()));
        assert_eq!(std::fs::read(&old).unwrap(), PNG);
        // Not through a symbolic link: the target stays untouched.
        let target = dir.join("target");
        std::fs::write(&target, "precious").unwrap();
        let link = dir.join("link.png");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        assert!(write_png(&link, PNG).is_err());
        assert_eq!(std::fs::read(&target).unwrap(), b"precious");
        // Not into a FIFO (nor blocking on one).
        let fifo = dir.join("fifo.png");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
        assert!(write_png(&fifo, PNG).is_err());
        // Only a PNG.
        let text = dir.join("text.png");
        assert!(write_png(&text, b"not a png").is_err());
        assert!(!text.exists());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn the_screenshot_writer_refuses_a_huge_length() {
        let dir = scratch("huge");
        let path = dir.join("huge.png");
        let (mut ours, theirs) = UnixStream::pair().unwrap();
        ours.write_all(&(MAX_SCREENSHOT + 1).to_le_bytes()).unwrap();
        // In a child: serve_screenshot confines the calling process.
        // SAFETY: the child only makes syscalls and exits.
        let code = match unsafe { libc::fork() } {
            0 => {
                drop(ours);
                let code = serve_screenshot(theirs, &path);
                // SAFETY: leave without running the harness's destructors.
                unsafe { libc::_exit(code) }
            }
            pid => {
                drop(theirs);
                let mut status = 0;
                // SAFETY: waiting for our own child.
                unsafe { libc::waitpid(pid, &mut status, 0) };
                libc::WEXITSTATUS(status)
            }
        };
        let mut answer = String::new();
        ours.read_to_string(&mut answer).unwrap();
        assert_eq!(code, 1);
        assert!(answer.contains("too large"), "{answer}");
        assert!(!path.exists());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
