//! The clipboard between a sandbox and the host session (DESIGN.md,
//! "Marking and clipboard"). By gesture (the default): Ctrl+Shift+C in the
//! sandbox's window copies the sandbox's selection to the host clipboard,
//! Ctrl+Shift+V the host's into the sandbox, and nothing crosses on its own.
//! Auto (the convenience choice, less safe): the clipboard follows the
//! host's keyboard focus — while the sandbox's window has it, the host's
//! selection is copied in, and a selection an app inside sets is offered to
//! the host; while it does not, nothing crosses. Either way text MIME types
//! only, at most `max_bytes` (larger transfers are refused whole); the
//! primary selection never crosses.
//!
//! Data moves through pipes that the other side may stall or flood: each
//! transfer runs in a thread of its own with a deadline, and the result
//! comes back through a channel plus a wake-up socket that the event loop
//! polls ([`State::clipboard_fd`], [`State::clipboard_ready`]). The
//! compositor never blocks on a client or the host.

use std::io::{Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use smithay::wayland::selection::data_device::{
    current_data_device_selection_userdata, request_data_device_client_selection,
    set_data_device_selection, SelectionRequestError,
};

use crate::state::State;

/// The text types that cross, in order of preference.
pub const TEXT_MIMES: &[&str] = &[
    "text/plain;charset=utf-8",
    "text/plain",
    "UTF8_STRING",
    "STRING",
    "TEXT",
];

/// How long one transfer may take, either way.
const DEADLINE: Duration = Duration::from_secs(5);

/// What the policy allows across.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClipboardConfig {
    /// Ctrl+Shift+C / Ctrl+Shift+V cross; false: the shortcuts reach the
    /// app.
    pub gesture: bool,
    /// The clipboard follows the host's keyboard focus (mode "auto").
    pub auto: bool,
    /// The most bytes one transfer carries.
    pub max_bytes: usize,
}

impl ClipboardConfig {
    /// Whether anything may ever cross (wsbox then uses the host's
    /// clipboard).
    pub fn crosses(&self) -> bool {
        self.gesture || self.auto
    }
}

impl Default for ClipboardConfig {
    fn default() -> Self {
        Self {
            gesture: true,
            auto: false,
            max_bytes: 1 << 20,
        }
    }
}

/// A clipboard shortcut in the sandbox's window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gesture {
    /// Ctrl+Shift+C: the sandbox's selection to the host.
    Copy,
    /// Ctrl+Shift+V: the host's selection into the sandbox.
    Paste,
}

/// Which way a finished transfer goes.
#[derive(Debug)]
enum Direction {
    /// Read from the sandbox; becomes the host selection, set with the
    /// serial of the key press (or the last input event, in auto mode).
    /// `flash`: confirm it (a gesture).
    ToHost { serial: u32, flash: bool },
    /// Read from the host; becomes the sandbox's selection.
    ToSandbox { flash: bool },
}

/// The transfers in flight and the channel their results come back on.
#[derive(Debug)]
pub struct Transfers {
    tx: mpsc::Sender<(Direction, Result<Vec<u8>, String>)>,
    rx: mpsc::Receiver<(Direction, Result<Vec<u8>, String>)>,
    wake_rx: UnixStream,
    wake_tx: UnixStream,
}

impl Transfers {
    pub fn new() -> std::io::Result<Self> {
        let (wake_rx, wake_tx) = UnixStream::pair()?;
        wake_rx.set_nonblocking(true)?;
        wake_tx.set_nonblocking(true)?;
        let (tx, rx) = mpsc::channel();
        Ok(Self {
            tx,
            rx,
            wake_rx,
            wake_tx,
        })
    }

    /// Reads `fd` to its end in a thread, at most `max` bytes within the
    /// deadline; the result comes back through the channel.
    fn read(&self, fd: OwnedFd, max: usize, direction: Direction) -> std::io::Result<()> {
        let tx = self.tx.clone();
        let wake = self.wake_tx.try_clone()?;
        std::thread::Builder::new()
            .name("wsbox-clipboard".into())
            .spawn(move || {
                let result = read_capped(fd, max);
                let _ = tx.send((direction, result));
                let _ = (&wake).write(&[1]);
            })
            .map(|_| ())
    }
}

/// Reads a pipe to its end: at most `max` bytes, within [`DEADLINE`].
fn read_capped(fd: OwnedFd, max: usize) -> Result<Vec<u8>, String> {
    use rustix::event::{poll, PollFd, PollFlags, Timespec};
    let deadline = Instant::now() + DEADLINE;
    let mut file = std::fs::File::from(fd);
    let mut bytes = Vec::new();
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(format!("no end of data within {DEADLINE:?}"));
        }
        let timeout = Timespec {
            tv_sec: left.as_secs() as _,
            tv_nsec: left.subsec_nanos() as _,
        };
        let mut fds = [PollFd::new(&file, PollFlags::IN)];
        match poll(&mut fds, Some(&timeout)) {
            Ok(0) => continue,
            Ok(_) => {}
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => return Err(e.to_string()),
        }
        match file.read(&mut chunk) {
            Ok(0) => return Ok(bytes),
            Ok(n) => {
                if bytes.len() + n > max {
                    return Err(format!("more than the limit of {max} bytes"));
                }
                bytes.extend_from_slice(&chunk[..n]);
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e.to_string()),
        }
    }
}

/// The most reads served at once: a client asking again and again without
/// reading gets an empty answer instead of one more thread each time.
const SERVING_MAX: usize = 16;
static SERVING: AtomicUsize = AtomicUsize::new(0);

/// Writes `bytes` into `fd` (a reader's pipe) in a thread, within
/// [`DEADLINE`]; a reader that stalls or goes away just ends it.
pub fn serve(fd: OwnedFd, bytes: Arc<Vec<u8>>) {
    if SERVING.fetch_add(1, Ordering::AcqRel) >= SERVING_MAX {
        SERVING.fetch_sub(1, Ordering::AcqRel);
        tracing::debug!("too many clipboard reads at once; one answered empty");
        return;
    }
    let spawned = std::thread::Builder::new()
        .name("wsbox-clipboard".into())
        .spawn(move || {
            struct Done;
            impl Drop for Done {
                fn drop(&mut self) {
                    SERVING.fetch_sub(1, Ordering::AcqRel);
                }
            }
            let _done = Done;
            use rustix::event::{poll, PollFd, PollFlags, Timespec};
            let deadline = Instant::now() + DEADLINE;
            if rustix::fs::fcntl_setfl(&fd, rustix::fs::OFlags::NONBLOCK).is_err() {
                return;
            }
            let mut file = std::fs::File::from(fd);
            let mut done = 0;
            while done < bytes.len() {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    tracing::debug!("a clipboard reader stalled; given up");
                    return;
                }
                let timeout = Timespec {
                    tv_sec: left.as_secs() as _,
                    tv_nsec: left.subsec_nanos() as _,
                };
                let mut fds = [PollFd::new(&file, PollFlags::OUT)];
                match poll(&mut fds, Some(&timeout)) {
                    Ok(0) | Err(rustix::io::Errno::INTR) => continue,
                    Ok(_) => {}
                    Err(_) => return,
                }
                match file.write(bytes.get(done..).unwrap_or_default()) {
                    Ok(0) => return,
                    Ok(n) => done += n,
                    Err(e)
                        if matches!(
                            e.kind(),
                            std::io::ErrorKind::Interrupted | std::io::ErrorKind::WouldBlock
                        ) => {}
                    // EPIPE: the reader went away.
                    Err(_) => return,
                }
            }
        });
    if let Err(err) = spawned {
        // The closure, and its counter guard, never ran.
        SERVING.fetch_sub(1, Ordering::AcqRel);
        tracing::warn!(%err, "cannot serve a clipboard read");
    }
}

/// A pipe for one transfer: (read end, write end).
fn pipe() -> Result<(OwnedFd, OwnedFd), String> {
    rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC).map_err(|e| e.to_string())
}

impl State {
    /// The fd that becomes readable when a clipboard transfer has finished,
    /// for the event loop; then call [`State::clipboard_ready`].
    pub fn clipboard_fd(&self) -> std::io::Result<OwnedFd> {
        self.core.transfers.wake_rx.as_fd().try_clone_to_owned()
    }

    /// Applies the transfers that finished.
    pub fn clipboard_ready(&mut self) {
        let mut buf = [0u8; 64];
        while matches!((&self.core.transfers.wake_rx).read(&mut buf), Ok(n) if n > 0) {}
        while let Ok((direction, result)) = self.core.transfers.rx.try_recv() {
            let bytes = match result {
                Ok(bytes) => bytes,
                Err(err) => {
                    tracing::warn!(%err, ?direction, "clipboard transfer refused");
                    continue;
                }
            };
            match direction {
                Direction::ToHost { serial, flash } => {
                    self.copy_to_host(Arc::new(bytes), serial, flash)
                }
                Direction::ToSandbox { flash } => {
                    tracing::info!(
                        bytes = bytes.len(),
                        "host clipboard pasted into the sandbox"
                    );
                    let mimes = TEXT_MIMES.iter().map(|m| (*m).to_owned()).collect();
                    set_data_device_selection(
                        &self.core.display_handle,
                        &self.core.seat,
                        mimes,
                        Arc::new(bytes),
                    );
                    if let Some(window) = self.backend.window().filter(|_| flash) {
                        window.flash();
                    }
                }
            }
        }
    }

    fn copy_to_host(&mut self, bytes: Arc<Vec<u8>>, serial: u32, flash: bool) {
        let len = bytes.len();
        if let Some(window) = self.backend.window() {
            if window.set_host_selection(bytes, serial) {
                tracing::info!(
                    bytes = len,
                    "sandbox selection copied to the host clipboard"
                );
                if flash {
                    window.flash();
                }
            }
        }
    }

    /// Auto mode: an app inside set the clipboard selection. Offered to the
    /// host once the request is handled, if the window has the host's
    /// keyboard focus then.
    pub(crate) fn sandbox_selection_changed(&mut self) {
        if self.core.config.clipboard.auto {
            self.core.export_selection = true;
        }
    }

    /// After a batch of client requests: the auto mode's pending export.
    pub(crate) fn clipboard_after_batch(&mut self) {
        if !std::mem::take(&mut self.core.export_selection) {
            return;
        }
        let Some(serial) = self.backend.window().and_then(|w| w.focus_serial()) else {
            tracing::debug!("the sandbox set its clipboard while not focused: it stays inside");
            return;
        };
        self.copy_sandbox_selection(serial, false);
    }

    /// Auto mode: the window has the host's keyboard focus and the host's
    /// selection is new to it: copy it in.
    pub(crate) fn import_host_selection(&mut self) {
        let max = self.core.config.clipboard.max_bytes;
        let Some(window) = self.backend.window() else {
            return;
        };
        let (read, write) = match pipe() {
            Ok(ends) => ends,
            Err(err) => {
                tracing::warn!(%err, "cannot copy the host selection in");
                return;
            }
        };
        if !window.receive_host_selection(write) {
            tracing::debug!("the host clipboard has no text to copy in");
            return;
        }
        if let Err(err) = self
            .core
            .transfers
            .read(read, max, Direction::ToSandbox { flash: false })
        {
            tracing::warn!(%err, "cannot copy the host selection in");
        }
    }

    /// Reads the sandbox's clipboard selection (as text) and makes it the
    /// host's, with `serial`.
    fn copy_sandbox_selection(&mut self, serial: u32, flash: bool) {
        let max = self.core.config.clipboard.max_bytes;
        // A selection wsbox set itself (pasted from the host) is
        // served from memory.
        let own = current_data_device_selection_userdata::<State>(&self.core.seat)
            .map(|data| data.clone());
        if let Some(bytes) = own {
            self.copy_to_host(bytes, serial, flash);
            return;
        }
        for mime in TEXT_MIMES {
            let (read, write) = match pipe() {
                Ok(ends) => ends,
                Err(err) => {
                    tracing::warn!(%err, "cannot copy the sandbox selection");
                    return;
                }
            };
            match request_data_device_client_selection::<State>(
                &self.core.seat,
                (*mime).to_owned(),
                write,
            ) {
                Ok(()) => {
                    if let Err(err) =
                        self.core
                            .transfers
                            .read(read, max, Direction::ToHost { serial, flash })
                    {
                        tracing::warn!(%err, "cannot copy the sandbox selection");
                    }
                    return;
                }
                Err(SelectionRequestError::InvalidMimetype) => continue,
                Err(err) => {
                    tracing::info!(%err, "nothing to copy from the sandbox");
                    return;
                }
            }
        }
        tracing::info!("the sandbox selection has no text to copy");
    }

    /// The user asked for a clipboard transfer in the sandbox's window.
    pub(crate) fn clipboard_gesture(&mut self, gesture: Gesture, serial: u32) {
        let max = self.core.config.clipboard.max_bytes;
        match gesture {
            Gesture::Copy => self.copy_sandbox_selection(serial, true),
            Gesture::Paste => {
                let Some(window) = self.backend.window() else {
                    return;
                };
                let (read, write) = match pipe() {
                    Ok(ends) => ends,
                    Err(err) => {
                        tracing::warn!(%err, "cannot paste the host selection");
                        return;
                    }
                };
                if !window.receive_host_selection(write) {
                    tracing::info!("the host clipboard has no text to paste");
                    return;
                }
                if let Err(err) =
                    self.core
                        .transfers
                        .read(read, max, Direction::ToSandbox { flash: true })
                {
                    tracing::warn!(%err, "cannot paste the host selection");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_are_capped_and_whole() {
        let (read, write) = pipe().unwrap();
        let mut w = std::fs::File::from(write);
        w.write_all(b"hello").unwrap();
        drop(w);
        assert_eq!(read_capped(read, 5).unwrap(), b"hello");

        let (read, write) = pipe().unwrap();
        let mut w = std::fs::File::from(write);
        w.write_all(b"hello!").unwrap();
        drop(w);
        assert!(read_capped(read, 5).is_err());
    }

    #[test]
    fn served_bytes_arrive() {
        let (read, write) = pipe().unwrap();
        serve(write, Arc::new(b"served".to_vec()));
        assert_eq!(read_capped(read, 100).unwrap(), b"served");
    }
}
