//! The clipboard between a sandbox and the host session (docs/window-mode.md,
//! "Clipboard"). By gesture (the default): Ctrl+Shift+C in the
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
//!
//! A result lands only where and when it was meant to: each transfer
//! records the host focus epoch it started in (bumped at every focus enter
//! and leave) and is applied only if the window still has the focus of
//! that same epoch, with the current serial; results older than the newest
//! transfer the same way are dropped. At most one transfer is in flight
//! each way: a newer one, or the focus leaving, cancels the older one
//! (its thread ends at once and closes its pipe), so an app that sets its
//! selection again and again costs at most one thread and two pipes. Auto
//! exports start at most every [`EXPORT_INTERVAL`]; a selection set sooner
//! goes out at the next batch or tick.

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

/// The least time between two auto exports of the sandbox's selection.
pub const EXPORT_INTERVAL: Duration = Duration::from_millis(200);

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
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Way {
    /// Read from the sandbox; becomes the host selection.
    ToHost,
    /// Read from the host; becomes the sandbox's selection.
    ToSandbox,
}

/// One transfer: its way, its number, the host focus epoch it started in,
/// and whether to confirm it with a flash (a gesture).
#[derive(Debug, Clone, Copy)]
struct Ticket {
    way: Way,
    number: u64,
    epoch: u64,
    flash: bool,
}

type Finished = (Ticket, Result<Vec<u8>, String>);

/// The transfers in flight and the channel their results come back on.
#[derive(Debug)]
pub struct Transfers {
    tx: mpsc::Sender<Finished>,
    rx: mpsc::Receiver<Finished>,
    wake_rx: UnixStream,
    wake_tx: UnixStream,
    /// Numbers the transfers.
    next: u64,
    /// The newest transfer to the host and into the sandbox: its number
    /// and the write end of its cancel pipe (dropping it ends the thread).
    to_host: Option<(u64, OwnedFd)>,
    to_sandbox: Option<(u64, OwnedFd)>,
    /// When the last auto export started.
    last_export: Option<Instant>,
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
            next: 0,
            to_host: None,
            to_sandbox: None,
            last_export: None,
        })
    }

    /// Reads `fd` to its end in a thread, at most `max` bytes within the
    /// deadline; the result comes back through the channel. The transfer
    /// becomes the newest of its way: an older one still running is
    /// cancelled.
    fn read(
        &mut self,
        fd: OwnedFd,
        max: usize,
        way: Way,
        epoch: u64,
        flash: bool,
    ) -> std::io::Result<()> {
        let slot = match way {
            Way::ToHost => &mut self.to_host,
            Way::ToSandbox => &mut self.to_sandbox,
        };
        // Cancel the older one first, so two never run the same way.
        *slot = None;
        self.next += 1;
        let ticket = Ticket {
            way,
            number: self.next,
            epoch,
            flash,
        };
        let (cancel, cancel_tx) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)?;
        let tx = self.tx.clone();
        let wake = self.wake_tx.try_clone()?;
        std::thread::Builder::new()
            .name("wsbox-clipboard".into())
            .spawn(move || {
                let result = read_capped(fd, max, Some(&cancel));
                let _ = tx.send((ticket, result));
                let _ = (&wake).write(&[1]);
            })?;
        *slot = Some((ticket.number, cancel_tx));
        Ok(())
    }

    /// Takes the finished transfer `ticket` off the books: true when it is
    /// the newest of its way (it may be applied), false when a newer one
    /// started or it was cancelled meanwhile (drop it).
    fn finish(&mut self, ticket: &Ticket) -> bool {
        let slot = match ticket.way {
            Way::ToHost => &mut self.to_host,
            Way::ToSandbox => &mut self.to_sandbox,
        };
        if slot.as_ref().is_some_and(|(n, _)| *n == ticket.number) {
            *slot = None;
            return true;
        }
        false
    }

    /// Cancels every transfer in flight (the focus left): their threads end
    /// now and their results, if already sent, are dropped.
    pub(crate) fn cancel_all(&mut self) {
        self.to_host = None;
        self.to_sandbox = None;
    }

    /// Transfers in flight, for tests.
    #[cfg(test)]
    fn in_flight(&self) -> usize {
        usize::from(self.to_host.is_some()) + usize::from(self.to_sandbox.is_some())
    }
}

/// Reads a pipe to its end: at most `max` bytes, within [`DEADLINE`]; gives
/// up as soon as `cancel` (the read end of a pipe) reports its write end
/// closed.
fn read_capped(fd: OwnedFd, max: usize, cancel: Option<&OwnedFd>) -> Result<Vec<u8>, String> {
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
        let mut fds = vec![PollFd::new(&file, PollFlags::IN)];
        if let Some(cancel) = cancel {
            fds.push(PollFd::new(cancel, PollFlags::IN));
        }
        match poll(&mut fds, Some(&timeout)) {
            Ok(0) => continue,
            Ok(_) => {}
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => return Err(e.to_string()),
        }
        if fds.get(1).is_some_and(|c| !c.revents().is_empty()) {
            return Err("cancelled by a newer transfer or the focus leaving".into());
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

    /// Applies the transfers that finished, if they are still the newest
    /// of their way and the window still has the focus they started in.
    pub fn clipboard_ready(&mut self) {
        let mut buf = [0u8; 64];
        while matches!((&self.core.transfers.wake_rx).read(&mut buf), Ok(n) if n > 0) {}
        while let Ok((ticket, result)) = self.core.transfers.rx.try_recv() {
            if !self.core.transfers.finish(&ticket) {
                tracing::debug!(?ticket, "an older clipboard transfer dropped");
                continue;
            }
            let bytes = match result {
                Ok(bytes) => bytes,
                Err(err) => {
                    tracing::warn!(%err, ?ticket, "clipboard transfer refused");
                    continue;
                }
            };
            // The focus left (or left and came back) since it started: the
            // user has moved on, and the data goes nowhere.
            let focus = self
                .backend
                .window()
                .and_then(|w| w.focus_serial().zip(w.focus_epoch()));
            let Some((serial, _)) = focus.filter(|(_, epoch)| *epoch == ticket.epoch) else {
                tracing::info!(?ticket, "clipboard transfer dropped: the focus moved");
                continue;
            };
            match ticket.way {
                Way::ToHost => self.copy_to_host(Arc::new(bytes), serial, ticket.flash),
                Way::ToSandbox => {
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
                    if let Some(window) = self.backend.window().filter(|_| ticket.flash) {
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

    /// After a batch of client requests, and at each tick: the auto mode's
    /// pending export, unless the last one started less than
    /// [`EXPORT_INTERVAL`] ago (then it waits for the next call).
    pub(crate) fn clipboard_after_batch(&mut self) {
        if !self.core.export_selection {
            return;
        }
        if self
            .core
            .transfers
            .last_export
            .is_some_and(|t| t.elapsed() < EXPORT_INTERVAL)
        {
            return;
        }
        self.core.export_selection = false;
        let Some(window) = self.backend.window() else {
            return;
        };
        if window.focus_serial().is_none() {
            tracing::debug!("the sandbox set its clipboard while not focused: it stays inside");
            return;
        }
        self.core.transfers.last_export = Some(Instant::now());
        self.copy_sandbox_selection(false);
    }

    /// Auto mode: the window has the host's keyboard focus and the host's
    /// selection is new to it: copy it in.
    pub(crate) fn import_host_selection(&mut self) {
        self.read_host_selection(false);
    }

    /// Asks the host for its selection, as text, to become the sandbox's.
    fn read_host_selection(&mut self, flash: bool) {
        let max = self.core.config.clipboard.max_bytes;
        let Some(window) = self.backend.window() else {
            return;
        };
        let Some(epoch) = window.focus_epoch() else {
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
            .read(read, max, Way::ToSandbox, epoch, flash)
        {
            tracing::warn!(%err, "cannot copy the host selection in");
        }
    }

    /// Reads the sandbox's clipboard selection (as text) and makes it the
    /// host's, if the window still has the focus when it arrives.
    fn copy_sandbox_selection(&mut self, flash: bool) {
        let max = self.core.config.clipboard.max_bytes;
        let Some((serial, epoch)) = self
            .backend
            .window()
            .and_then(|w| w.focus_serial().zip(w.focus_epoch()))
        else {
            return;
        };
        // A selection wsbox set itself (pasted from the host) is
        // served from memory.
        let own = current_data_device_selection_userdata::<State>(&self.core.seat)
            .map(|data| data.clone());
        if let Some(bytes) = own {
            // Whatever was still being read from the app is stale now.
            self.core.transfers.to_host = None;
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
                    if let Err(err) = self
                        .core
                        .transfers
                        .read(read, max, Way::ToHost, epoch, flash)
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
    pub(crate) fn clipboard_gesture(&mut self, gesture: Gesture) {
        match gesture {
            Gesture::Copy => self.copy_sandbox_selection(true),
            Gesture::Paste => self.read_host_selection(true),
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
        assert_eq!(read_capped(read, 5, None).unwrap(), b"hello");

        let (read, write) = pipe().unwrap();
        let mut w = std::fs::File::from(write);
        w.write_all(b"hello!").unwrap();
        drop(w);
        assert!(read_capped(read, 5, None).is_err());
    }

    /// The next finished transfer, within `limit`.
    fn next(t: &Transfers, limit: Duration) -> Finished {
        t.rx.recv_timeout(limit).expect("no transfer finished")
    }

    #[test]
    fn a_newer_transfer_cancels_a_stalled_one_at_once() {
        let mut t = Transfers::new().unwrap();
        let (r1, _stalled) = pipe().unwrap();
        t.read(r1, 100, Way::ToHost, 7, false).unwrap();
        let (r2, w2) = pipe().unwrap();
        let started = Instant::now();
        t.read(r2, 100, Way::ToHost, 7, false).unwrap();
        // The stalled one ends now, not at the deadline, and is dropped.
        let (first, result) = next(&t, Duration::from_secs(2));
        assert!(started.elapsed() < Duration::from_secs(2));
        assert_eq!(first.number, 1);
        assert!(result.is_err());
        assert!(!t.finish(&first));
        assert_eq!(t.in_flight(), 1);
        let mut w = std::fs::File::from(w2);
        w.write_all(b"two").unwrap();
        drop(w);
        let (second, result) = next(&t, Duration::from_secs(2));
        assert_eq!((second.number, second.epoch), (2, 7));
        assert!(t.finish(&second));
        assert_eq!(result.unwrap(), b"two");
        assert_eq!(t.in_flight(), 0);
    }

    #[test]
    fn results_older_than_the_newest_are_dropped() {
        let mut t = Transfers::new().unwrap();
        // The first finishes, but only after a second one started.
        let (r1, w1) = pipe().unwrap();
        drop(w1);
        t.read(r1, 100, Way::ToSandbox, 1, false).unwrap();
        std::thread::sleep(Duration::from_millis(200));
        let (r2, w2) = pipe().unwrap();
        t.read(r2, 100, Way::ToSandbox, 1, false).unwrap();
        let (first, _) = next(&t, Duration::from_secs(2));
        assert_eq!(first.number, 1);
        assert!(!t.finish(&first), "an older result was taken");
        // Another way has its own newest.
        let (r3, w3) = pipe().unwrap();
        drop(w3);
        t.read(r3, 100, Way::ToHost, 1, false).unwrap();
        let (third, _) = next(&t, Duration::from_secs(2));
        assert!(t.finish(&third));
        drop(w2);
        let (second, _) = next(&t, Duration::from_secs(2));
        assert!(t.finish(&second));
    }

    #[test]
    fn the_focus_leaving_cancels_everything() {
        let mut t = Transfers::new().unwrap();
        let (r1, _w1) = pipe().unwrap();
        let (r2, _w2) = pipe().unwrap();
        t.read(r1, 100, Way::ToHost, 1, false).unwrap();
        t.read(r2, 100, Way::ToSandbox, 1, true).unwrap();
        t.cancel_all();
        for _ in 0..2 {
            let (ticket, result) = next(&t, Duration::from_secs(2));
            assert!(result.is_err());
            assert!(!t.finish(&ticket));
        }
        assert_eq!(t.in_flight(), 0);
    }

    #[test]
    fn served_bytes_arrive() {
        let (read, write) = pipe().unwrap();
        serve(write, Arc::new(b"served".to_vec()));
        assert_eq!(read_capped(read, 100, None).unwrap(), b"served");
    }
}
