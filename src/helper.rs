//! Forking the helper processes wsbox starts before it confines itself
//! (`src/confine.rs`), for the work the confined wsbox can no longer do,
//! and the messages they exchange with wsbox. The helpers are the file
//! broker (`crate::files::broker`), the documents helper
//! (`crate::files::documents`), the watch of the host's addresses
//! (`crate::net::hostwatch`), the relays (`crate::net::relays`), the
//! screenshot writer (`crate::screenshot`), the accessibility helper
//! (`crate::a11y`), the audio helper (`crate::audio`) and, in window mode,
//! the host chooser
//! (`crate::portal::host`); each module says what its helper may do.
//!
//! All are forked while wsbox has a single thread, keep only their own fds,
//! die with wsbox (`PR_SET_PDEATHSIG`), are not dumpable and have
//! `no_new_privs`. Nothing here starts a thread, and [`fork_helper`] must
//! only be called by a single-threaded process: wsbox before it confines
//! itself, or the broker, once per request.

use std::io;
use std::os::fd::{BorrowedFd, OwnedFd, RawFd};

use nix::sys::socket::{socketpair, AddressFamily, SockFlag, SockType};
use nix::unistd::{fork, ForkResult, Pid};
use wsbox_sandbox::fdpass;

/// The largest message between wsbox and a helper.
const MAX_MESSAGE: usize = 64 * 1024;

/// Forks a helper: `serve` runs in the child with `keep` (and stdio) as its
/// only fds, then the child exits. Call while wsbox has a single thread.
pub fn fork_helper(keep: &[RawFd], serve: impl FnOnce() -> i32) -> io::Result<Pid> {
    // SAFETY: wsbox has a single thread when helpers are started (`wsbox
    // run` starts its threads after the confinement); the child closes what
    // it does not keep and leaves with _exit.
    match unsafe { fork() }.map_err(io::Error::from)? {
        ForkResult::Child => {
            // SAFETY: plain prctls and closing fds this process inherited.
            unsafe {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong);
                libc::prctl(libc::PR_SET_DUMPABLE, 0 as libc::c_ulong);
                // Nothing a helper runs (nft) gains privileges.
                libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1 as libc::c_ulong, 0, 0, 0);
                let mut keep = keep.to_vec();
                keep.sort_unstable();
                let mut from = 3u32;
                for fd in keep {
                    let fd = fd as u32;
                    if fd > from {
                        libc::close_range(from, fd - 1, 0);
                    }
                    from = from.max(fd + 1);
                }
                libc::close_range(from, u32::MAX, 0);
            }
            let code = serve();
            // SAFETY: leave without running wsbox's destructors.
            unsafe { libc::_exit(code) }
        }
        ForkResult::Parent { child } => Ok(child),
    }
}

/// A connected pair of sequenced-packet sockets: one message per call,
/// fds passed with it.
pub fn seqpacket_pair() -> io::Result<(OwnedFd, OwnedFd)> {
    socketpair(
        AddressFamily::Unix,
        SockType::SeqPacket,
        None,
        SockFlag::SOCK_CLOEXEC,
    )
    .map_err(io::Error::from)
}

/// Sends one message and `fds` with it.
pub fn send(sock: BorrowedFd<'_>, bytes: &[u8], fds: &[RawFd]) -> io::Result<()> {
    fdpass::send(sock, bytes, fds).map(drop)
}

/// One message and the fds that came with it; an empty message is the end.
pub fn recv(sock: BorrowedFd<'_>, max_fds: usize) -> io::Result<(Vec<u8>, Vec<OwnedFd>)> {
    let mut buf = vec![0u8; MAX_MESSAGE];
    let got = fdpass::recv(sock, &mut buf)?;
    if got.truncated || got.fds.len() > max_fds {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "a message too long or with too many fds",
        ));
    }
    buf.truncate(got.bytes);
    Ok((buf, got.fds))
}
