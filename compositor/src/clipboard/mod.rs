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
//! polls ([`crate::State::clipboard_fd`], [`crate::State::clipboard_ready`]).
//! The compositor never blocks on a client or the host.
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
//!
//! This module holds the settings and the transfers; `crossing` decides
//! what crosses when, on the compositor's state.

use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

mod crossing;

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

/// Who owns a selection that the compositor set (smithay's selection user
/// data): wsbox itself with the host's text it pasted in, or an X11 client
/// of the sandbox's Xwayland, read through the window manager.
#[derive(Debug, Clone)]
pub enum Owner {
    Host(Arc<Vec<u8>>),
    X11,
}

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
