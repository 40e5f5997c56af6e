//! Messages with fds over unix sockets (SCM_RIGHTS): the one place wsbox's
//! processes pass sockets and files to each other — the sandbox's listening
//! sockets to wsbox, requests to the file broker, and the command line's
//! host files to wsbox.

use std::io::{self, IoSlice, IoSliceMut};
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

use nix::sys::socket::{recvmsg, sendmsg, ControlMessage, ControlMessageOwned, MsgFlags};

/// The most fds one message may bring; more are cut off by the kernel
/// (and reported as `truncated`).
pub const MAX_FDS: usize = 32;

/// What one `recvmsg` brought.
#[derive(Debug)]
pub struct Received {
    /// Bytes of data written to the buffer; 0 when the peer has closed.
    pub bytes: usize,
    /// Every fd that came with them, owned (close-on-exec).
    pub fds: Vec<OwnedFd>,
    /// The data or the fds did not fit.
    pub truncated: bool,
}

/// Sends `bytes` with `fds` in one message, without SIGPIPE; returns how
/// many bytes were sent.
pub fn send(sock: BorrowedFd<'_>, bytes: &[u8], fds: &[RawFd]) -> io::Result<usize> {
    let iov = [IoSlice::new(bytes)];
    let rights = [ControlMessage::ScmRights(fds)];
    let cmsgs: &[ControlMessage<'_>] = if fds.is_empty() { &[] } else { &rights };
    loop {
        match sendmsg::<()>(sock.as_raw_fd(), &iov, cmsgs, MsgFlags::MSG_NOSIGNAL, None) {
            Err(nix::errno::Errno::EINTR) => continue,
            other => return other.map_err(io::Error::from),
        }
    }
}

/// Receives one message into `buf`, with the fds that came with it.
pub fn recv(sock: BorrowedFd<'_>, buf: &mut [u8]) -> io::Result<Received> {
    let mut space = nix::cmsg_space!([RawFd; MAX_FDS]);
    let mut iov = [IoSliceMut::new(buf)];
    let msg = loop {
        match recvmsg::<()>(
            sock.as_raw_fd(),
            &mut iov,
            Some(&mut space),
            MsgFlags::MSG_CMSG_CLOEXEC,
        ) {
            Err(nix::errno::Errno::EINTR) => continue,
            other => break other.map_err(io::Error::from)?,
        }
    };
    let mut fds = Vec::new();
    for cmsg in msg.cmsgs().map_err(io::Error::from)? {
        if let ControlMessageOwned::ScmRights(raw) = cmsg {
            // SAFETY: the kernel just installed these fds in this process.
            fds.extend(
                raw.into_iter()
                    .map(|fd| unsafe { OwnedFd::from_raw_fd(fd) }),
            );
        }
    }
    let truncated = msg
        .flags
        .intersects(MsgFlags::MSG_TRUNC | MsgFlags::MSG_CTRUNC);
    Ok(Received {
        bytes: msg.bytes,
        fds,
        truncated,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::os::fd::AsFd;
    use std::os::unix::net::UnixStream;

    use super::*;

    #[test]
    fn data_and_fds_arrive_together() {
        let (a, b) = UnixStream::pair().unwrap();
        let (c, _d) = UnixStream::pair().unwrap();
        assert_eq!(send(a.as_fd(), b"hello", &[c.as_raw_fd()]).unwrap(), 5);
        let mut buf = [0u8; 16];
        let got = recv(b.as_fd(), &mut buf).unwrap();
        assert_eq!(&buf[..got.bytes], b"hello");
        assert_eq!(got.fds.len(), 1);
        assert!(!got.truncated);
        drop(a);
        assert_eq!(recv(b.as_fd(), &mut buf).unwrap().bytes, 0);
    }
}
