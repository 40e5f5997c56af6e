//! The host chooser: in window mode the app's file dialogs are the host's.
//! A helper process, forked in the `start` phase before wsbox has a thread
//! (`crate::helper`), calls the host's `org.freedesktop.portal.FileChooser`
//! as an ordinary host app would, and opens what the user chose there as
//! the user, exactly as `wsbox choose` does; wsbox's event loop then grants
//! it through [`super::Portal::choose`], with the same checks.
//!
//! ```text
//! app ─▶ wsbox's portal ─▶ event loop ─Open(id, request, parent)─▶ host chooser
//!                                                                    │ FileChooser.OpenFile on the
//!                                                                    │ host's session bus, titled
//!                                                                    │ "[wsbox:NAME] …"
//!            event loop ◀── Chosen(id, paths) + the fds it opened ───┘ Response(uris)
//! ```
//!
//! What goes to the host is what the app asked for, bounded and cleaned
//! ([`super::request`]) and filtered to what is safe and meaningful there:
//! the title (marked with the sandbox's name), filters, current_filter,
//! current_name, the names of SaveFiles, multiple, directory, modal and
//! accept_label. Never the app's current_folder or current_file (paths
//! inside the sandbox, and the app's to choose) nor its parent_window: the
//! parent is wsbox's own window, as the host exported it (xdg-foreign).
//! What comes back is only ever `file://` URIs the host's dialog returned;
//! the helper takes no path from wsbox.
//!
//! The helper is the host user's process and not confined: it makes the
//! host bus connection the confined wsbox cannot, and opens the chosen host
//! files. It is dumpable (the host's portal reads `/proc/PID/root` of its
//! callers and refuses a caller it cannot read); only the host user's own
//! processes can look into it, never the sandbox (another pid namespace,
//! and no ptrace there). At start it also reads the host's settings for
//! the Settings portal ([`super::settings::ALLOWED`] only).

mod helper;
mod link;

use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::time::Duration;

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

use super::request::{Filter, Pending};
use super::settings::Setting;
use crate::helper::{fork_helper, recv, send, seqpacket_pair};
use helper::{Ask, END_WAIT, FDS_MAX};

pub use helper::Answer;
pub use link::SETTINGS_WAIT;

/// The host chooser as wsbox sees it. Dropping it ends the helper, which
/// closes the host's dialogs still open.
#[derive(Debug)]
pub struct HostChooser {
    /// Non-blocking: the event loop never waits for the helper.
    sock: OwnedFd,
    pid: Pid,
    /// The helper has ended: every request fails at once.
    gone: bool,
}

impl HostChooser {
    /// Forks the helper for the sandbox `name` (the title's marking). Call
    /// while wsbox has a single thread.
    pub fn spawn(name: &str) -> io::Result<Self> {
        let (ours, theirs) = seqpacket_pair()?;
        let name = name.to_owned();
        let keep = [theirs.as_raw_fd()];
        let pid = fork_helper(&keep, move || {
            // The host's portal identifies its callers by /proc/PID/root
            // and refuses one it cannot read (fork_helper made this
            // process not dumpable).
            // SAFETY: a plain prctl.
            unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 1 as libc::c_ulong) };
            helper::serve(theirs, &name);
            0
        })?;
        let flags = nix::fcntl::fcntl(&ours, nix::fcntl::FcntlArg::F_GETFL)?;
        let flags = nix::fcntl::OFlag::from_bits_truncate(flags) | nix::fcntl::OFlag::O_NONBLOCK;
        nix::fcntl::fcntl(&ours, nix::fcntl::FcntlArg::F_SETFL(flags))?;
        Ok(Self {
            sock: ours,
            pid,
            gone: false,
        })
    }

    /// A duplicate of the socket, for the event loop to watch.
    pub fn watch_fd(&self) -> io::Result<OwnedFd> {
        self.sock.try_clone()
    }

    /// The host's settings, waiting at most `wait` for them; why not.
    pub fn settings(&mut self, wait: Duration) -> Result<Vec<(String, String, Setting)>, String> {
        let mut fds = [PollFd::new(self.sock.as_fd(), PollFlags::POLLIN)];
        let ms = u16::try_from(wait.as_millis()).unwrap_or(u16::MAX);
        match poll(&mut fds, PollTimeout::from(ms)) {
            Ok(0) => {
                return Err(format!(
                    "the host did not answer within {} s",
                    wait.as_secs_f32()
                ))
            }
            Ok(_) => {}
            Err(e) => return Err(e.to_string()),
        }
        match self.recv() {
            Ok(Some((Answer::Settings(settings), _))) => settings,
            Ok(Some((other, _))) => Err(format!("unexpected answer {other:?}")),
            Ok(None) => Err("no answer".into()),
            Err(e) => Err(e.to_string()),
        }
    }

    /// Asks for the host's dialog for request `pending` (over `parent`, the
    /// host window's handle or empty); an error when the helper is gone.
    pub fn open(&mut self, pending: &Pending, parent: &str) -> Result<(), String> {
        self.ask(&Ask::Open {
            id: pending.id,
            pending: Box::new(fit(pending)),
            parent: parent.to_owned(),
        })
    }

    /// The helper's pid, which wsbox may still signal once confined.
    pub fn pid(&self) -> i32 {
        self.pid.as_raw()
    }

    /// Closes the host's dialog of request `id`, if it is open.
    pub fn close(&mut self, id: u32) {
        let _ = self.ask(&Ask::Close { id });
    }

    fn ask(&mut self, ask: &Ask) -> Result<(), String> {
        if self.gone {
            return Err("wsbox's host chooser has ended".into());
        }
        let bytes = serde_json::to_vec(ask).map_err(|e| e.to_string())?;
        send(self.sock.as_fd(), &bytes, &[]).map_err(|e| {
            if e.kind() != io::ErrorKind::WouldBlock {
                self.gone = true;
            }
            format!("failed to ask the host chooser: {e}")
        })
    }

    /// The next answer, if one is there; an error once the helper ended.
    pub fn recv(&mut self) -> io::Result<Option<(Answer, Vec<OwnedFd>)>> {
        if self.gone {
            return Err(io::Error::other("the host chooser has ended"));
        }
        match recv(self.sock.as_fd(), FDS_MAX) {
            Ok((bytes, _)) if bytes.is_empty() => {
                self.gone = true;
                Err(io::Error::other("the host chooser has ended"))
            }
            Ok((bytes, fds)) => match serde_json::from_slice(&bytes) {
                Ok(answer) => Ok(Some((answer, fds))),
                Err(e) => Err(io::Error::new(io::ErrorKind::InvalidData, e)),
            },
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(None),
            Err(e) if e.kind() == io::ErrorKind::InvalidData => Err(e),
            Err(e) => {
                self.gone = true;
                Err(e)
            }
        }
    }
}

impl Drop for HostChooser {
    fn drop(&mut self) {
        // The helper sees the end, closes the host's dialogs and exits.
        let _ = nix::sys::socket::shutdown(self.sock.as_raw_fd(), nix::sys::socket::Shutdown::Both);
        let started = std::time::Instant::now();
        while started.elapsed() < END_WAIT + Duration::from_millis(500) {
            match waitpid(self.pid, Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::StillAlive) => std::thread::sleep(Duration::from_millis(10)),
                _ => return,
            }
        }
        let _ = nix::sys::signal::kill(self.pid, nix::sys::signal::Signal::SIGKILL);
        let _ = waitpid(self.pid, None);
    }
}

/// The most bytes of filters, and of SaveFiles' names, passed on: the
/// helper's messages are at most 64 KiB (`crate::helper`), and the app's
/// request may be larger (32 filters of 32 patterns).
const FILTERS_MAX: usize = 12 * 1024;
const NAMES_MAX: usize = 4 * 1024;

/// `pending` cut to what is passed on to the host: no current_folder (the
/// host never gets it), the filters and names that fit.
fn fit(pending: &Pending) -> Pending {
    let size = |f: &Filter| {
        f.name.len()
            + f.patterns
                .iter()
                .chain(&f.mime_types)
                .map(|t| t.len() + 8)
                .sum::<usize>()
            + 32
    };
    let mut p = pending.clone();
    p.current_folder = None;
    let mut used = 0;
    p.filters.retain(|f| {
        used += size(f);
        used <= FILTERS_MAX
    });
    if p.current_filter
        .as_ref()
        .is_some_and(|f| size(f) > FILTERS_MAX / 2)
    {
        p.current_filter = None;
    }
    let mut used = 0;
    p.files.retain(|n| {
        used += n.len() + 8;
        used <= NAMES_MAX
    });
    p
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::portal::request::Kind;

    #[test]
    fn what_goes_to_the_helper_fits_its_messages() {
        let long = Filter {
            name: "x".repeat(256),
            patterns: vec!["p".repeat(256); 32],
            mime_types: Vec::new(),
        };
        let pending = Pending {
            id: 1,
            kind: Kind::Open,
            title: "t".into(),
            multiple: false,
            directory: false,
            filters: vec![long.clone(); 32],
            current_filter: Some(long),
            current_name: None,
            current_folder: Some("/home/user".into()),
            files: vec!["f".repeat(256); 32],
            accept_label: None,
            modal: true,
            writable: false,
        };
        let fitted = fit(&pending);
        let ask = Ask::Open {
            id: 1,
            pending: Box::new(fitted.clone()),
            parent: String::new(),
        };
        assert!(serde_json::to_vec(&ask).unwrap().len() < 48 * 1024);
        assert!(!fitted.filters.is_empty());
        assert_eq!(fitted.current_folder, None);
    }
}
