//! The sandbox's network namespace from inside: listening sockets that pid 1
//! creates there and hands to wsbox (SCM_RIGHTS), and routes that make
//! address ranges unreachable. pid 1 does both while it still holds
//! CAP_NET_ADMIN and CAP_NET_BIND_SERVICE in the sandbox's user namespace;
//! the app, which has no capabilities, can neither remove a route nor take a
//! port wsbox listens on.
//!
//! wsbox cannot do this itself: joining a network namespace needs
//! CAP_SYS_ADMIN in the caller's own user namespace too, which an unprivileged
//! wsbox lacks. This module never decides what to listen on or block: the
//! [`NetSpec`] does.

use std::io;
use std::net::{IpAddr, SocketAddr, TcpListener};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};

use crate::fdpass;

/// Errors setting up the network from inside, or passing sockets out.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("failed to listen on {addr} inside the sandbox: {source}")]
    Listen { addr: SocketAddr, source: io::Error },
    #[error("failed to hand the sandbox's listening sockets to wsbox: {0}")]
    Send(io::Error),
    #[error("failed to receive the sandbox's listening sockets: {0}")]
    Receive(io::Error),
    #[error("failed to turn IPv6 off on {interface} inside the sandbox: {source}")]
    Ipv6 {
        interface: String,
        source: io::Error,
    },
    #[error("failed to make {addr}/{prefix} unreachable inside the sandbox: {source}")]
    Route {
        addr: IpAddr,
        prefix: u8,
        source: io::Error,
    },
}

/// The network side of a sandbox.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NetSpec {
    /// The host's network namespace instead of one of its own
    /// (`--net host`): no listeners, no routes, the host's interfaces.
    pub share_host: bool,
    /// TCP addresses pid 1 listens on inside, in this order, and hands to
    /// wsbox, which serves them from the host's side.
    pub listeners: Vec<SocketAddr>,
    /// Routes pid 1 adds once the namespace's interfaces are configured.
    pub routes: Vec<Route>,
    /// Interfaces on which pid 1 turns IPv6 off (and on the ones created
    /// later): the kernel would otherwise give them link-local addresses.
    pub no_ipv6_on: Vec<String>,
}

/// A route pid 1 adds to the main table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// Unreachable: connect fails with EACCES.
    Prohibit { dst: IpAddr, prefix: u8 },
    /// Directly on the interface `dev`, e.g. one host inside a prohibited
    /// range.
    OnLink {
        dst: IpAddr,
        prefix: u8,
        dev: String,
    },
}

/// The host's LAN, as seen from user-mode networking: private (RFC 1918),
/// shared (RFC 6598), link-local and unique local (ULA) ranges. The host's
/// loopback is not here: user-mode networking does not map it.
pub const LAN_RANGES: &[(IpAddr, u8)] = &[
    (IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 0)), 8),
    (IpAddr::V4(std::net::Ipv4Addr::new(172, 16, 0, 0)), 12),
    (IpAddr::V4(std::net::Ipv4Addr::new(192, 168, 0, 0)), 16),
    (IpAddr::V4(std::net::Ipv4Addr::new(100, 64, 0, 0)), 10),
    (IpAddr::V4(std::net::Ipv4Addr::new(169, 254, 0, 0)), 16),
    (
        IpAddr::V6(std::net::Ipv6Addr::new(0xfc00, 0, 0, 0, 0, 0, 0, 0)),
        7,
    ),
];

/// Listens on each address (inside the current network namespace).
pub fn listen(addrs: &[SocketAddr]) -> Result<Vec<OwnedFd>, Error> {
    addrs
        .iter()
        .map(|addr| {
            TcpListener::bind(addr)
                .and_then(|l| {
                    l.set_nonblocking(true)?;
                    Ok(OwnedFd::from(l))
                })
                .map_err(|source| Error::Listen {
                    addr: *addr,
                    source,
                })
        })
        .collect()
}

/// Sends `fds` over the unix socket `channel`, all in one message.
pub fn send_fds(channel: &OwnedFd, fds: &[OwnedFd]) -> Result<(), Error> {
    let raw: Vec<RawFd> = fds.iter().map(AsRawFd::as_raw_fd).collect();
    let count = [u8::try_from(raw.len()).unwrap_or(u8::MAX)];
    fdpass::send(channel.as_fd(), &count, &raw).map_err(Error::Send)?;
    Ok(())
}

/// Receives what [`send_fds`] sent: exactly `expected` fds, or an error
/// (also when the other side closed without sending).
pub fn receive_fds(channel: &OwnedFd, expected: usize) -> Result<Vec<OwnedFd>, Error> {
    let mut count = [0u8; 1];
    let got = fdpass::recv(channel.as_fd(), &mut count).map_err(Error::Receive)?;
    if got.bytes == 0 {
        return Err(Error::Receive(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "the sandbox ended before sending them",
        )));
    }
    if got.fds.len() != expected {
        return Err(Error::Receive(io::Error::other(format!(
            "expected {expected} sockets, got {}",
            got.fds.len()
        ))));
    }
    Ok(got.fds)
}

/// Turns IPv6 off on each interface and on those created later (not on
/// `all`: loopback keeps ::1). Without IPv6 in the kernel there is
/// nothing to turn off.
pub fn disable_ipv6(interfaces: &[String]) -> Result<(), Error> {
    if interfaces.is_empty() {
        return Ok(());
    }
    for interface in std::iter::once("default").chain(interfaces.iter().map(String::as_str)) {
        if interface.contains('/') || interface.starts_with('.') {
            return Err(Error::Ipv6 {
                interface: interface.into(),
                source: io::ErrorKind::InvalidInput.into(),
            });
        }
        // /proc/sys/net is the current network namespace's.
        let path = format!("/proc/sys/net/ipv6/conf/{interface}/disable_ipv6");
        match std::fs::write(&path, "1") {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound && interface == "default" => {
                return Ok(());
            }
            Err(source) => {
                return Err(Error::Ipv6 {
                    interface: interface.into(),
                    source,
                })
            }
        }
    }
    Ok(())
}

/// Adds the routes to the main table.
pub fn add_routes(routes: &[Route]) -> Result<(), Error> {
    let Some(first) = routes.first() else {
        return Ok(());
    };
    let err = |route: &Route, source: io::Error| {
        let (Route::Prohibit { dst, prefix } | Route::OnLink { dst, prefix, .. }) = route;
        Error::Route {
            addr: *dst,
            prefix: *prefix,
            source,
        }
    };
    let sock = netlink_socket().map_err(|e| err(first, e))?;
    for (seq, route) in routes.iter().enumerate() {
        let (dst, prefix, oif) = match route {
            Route::Prohibit { dst, prefix } => (*dst, *prefix, None),
            Route::OnLink { dst, prefix, dev } => {
                let name = std::ffi::CString::new(dev.as_str())
                    .map_err(|_| err(route, io::ErrorKind::InvalidInput.into()))?;
                // SAFETY: a valid C string.
                let index = unsafe { libc::if_nametoindex(name.as_ptr()) };
                if index == 0 {
                    return Err(err(route, io::Error::last_os_error()));
                }
                (*dst, *prefix, Some(index))
            }
        };
        match add_route(&sock, &route_message(seq as u32 + 1, dst, prefix, oif)) {
            Ok(()) => {}
            // No IPv6 in this namespace: nothing to reach over it either.
            Err(e) if dst.is_ipv6() && e.raw_os_error() == Some(libc::EAFNOSUPPORT) => {}
            Err(source) => return Err(err(route, source)),
        }
    }
    Ok(())
}

fn netlink_socket() -> io::Result<OwnedFd> {
    // SAFETY: plain socket(2).
    let fd = unsafe {
        libc::socket(
            libc::AF_NETLINK,
            libc::SOCK_RAW | libc::SOCK_CLOEXEC,
            libc::NETLINK_ROUTE,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: just created, owned here.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// The RTM_NEWROUTE message for a route to `addr/prefix`: through the
/// interface `oif` (scope link), or `prohibit` without one.
pub fn route_message(seq: u32, addr: IpAddr, prefix: u8, oif: Option<u32>) -> Vec<u8> {
    let (family, bytes): (u8, Vec<u8>) = match addr {
        IpAddr::V4(a) => (libc::AF_INET as u8, a.octets().to_vec()),
        IpAddr::V6(a) => (libc::AF_INET6 as u8, a.octets().to_vec()),
    };
    let rta_len = 4 + bytes.len();
    let len = 16 + 12 + rta_len + if oif.is_some() { 8 } else { 0 };
    let mut msg = Vec::with_capacity(len);
    // struct nlmsghdr
    msg.extend_from_slice(&(len as u32).to_ne_bytes());
    msg.extend_from_slice(&libc::RTM_NEWROUTE.to_ne_bytes());
    let flags = libc::NLM_F_REQUEST | libc::NLM_F_ACK | libc::NLM_F_CREATE | libc::NLM_F_EXCL;
    msg.extend_from_slice(&(flags as u16).to_ne_bytes());
    msg.extend_from_slice(&seq.to_ne_bytes());
    msg.extend_from_slice(&0u32.to_ne_bytes());
    // struct rtmsg
    msg.extend_from_slice(&[
        family,
        prefix,
        0, // rtm_src_len
        0, // rtm_tos
        libc::RT_TABLE_MAIN,
        libc::RTPROT_STATIC,
        if oif.is_some() {
            libc::RT_SCOPE_LINK
        } else {
            libc::RT_SCOPE_UNIVERSE
        },
        if oif.is_some() {
            libc::RTN_UNICAST
        } else {
            libc::RTN_PROHIBIT
        },
    ]);
    // rtm_flags
    msg.extend_from_slice(&0u32.to_ne_bytes());
    // struct rtattr RTA_DST (4- and 16-byte addresses need no padding)
    msg.extend_from_slice(&(rta_len as u16).to_ne_bytes());
    msg.extend_from_slice(&libc::RTA_DST.to_ne_bytes());
    msg.extend_from_slice(&bytes);
    if let Some(oif) = oif {
        msg.extend_from_slice(&8u16.to_ne_bytes());
        msg.extend_from_slice(&libc::RTA_OIF.to_ne_bytes());
        msg.extend_from_slice(&oif.to_ne_bytes());
    }
    msg
}

fn add_route(sock: &OwnedFd, msg: &[u8]) -> io::Result<()> {
    let seq = msg
        .get(8..12)
        .and_then(|b| b.try_into().ok())
        .map_or(0, u32::from_ne_bytes);
    // SAFETY: a sockaddr_nl of zeros addresses the kernel.
    let mut kernel: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
    kernel.nl_family = libc::AF_NETLINK as libc::sa_family_t;
    // SAFETY: msg and kernel are valid for the call.
    let sent = unsafe {
        libc::sendto(
            sock.as_raw_fd(),
            msg.as_ptr().cast(),
            msg.len(),
            0,
            (&kernel as *const libc::sockaddr_nl).cast(),
            std::mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t,
        )
    };
    if sent < 0 {
        return Err(io::Error::last_os_error());
    }
    let mut buf = [0u8; 4096];
    loop {
        // SAFETY: buf is valid for its length.
        let n = unsafe { libc::recv(sock.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
        if n < 0 {
            let err = io::Error::last_os_error();
            if err.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(err);
        }
        return parse_ack(&buf[..n as usize], seq);
    }
}

/// Reads the kernel's answer: an NLMSG_ERROR with error 0 is the ack.
fn parse_ack(buf: &[u8], seq: u32) -> io::Result<()> {
    let field = |at: usize| -> Option<u32> {
        buf.get(at..at + 4)
            .and_then(|b| b.try_into().ok())
            .map(u32::from_ne_bytes)
    };
    let kind = buf
        .get(4..6)
        .and_then(|b| b.try_into().ok())
        .map(u16::from_ne_bytes);
    match (kind, field(8), field(16)) {
        (Some(k), Some(s), Some(error)) if k == libc::NLMSG_ERROR as u16 && s == seq => {
            let error = error as i32;
            if error == 0 {
                Ok(())
            } else {
                Err(io::Error::from_raw_os_error(-error))
            }
        }
        _ => Err(io::Error::other("unexpected netlink answer")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn route_message_has_the_kernel_layout() {
        let msg = route_message(7, "10.0.0.0".parse().unwrap(), 8, None);
        assert_eq!(msg.len(), 16 + 12 + 8);
        assert_eq!(u32::from_ne_bytes(msg[0..4].try_into().unwrap()), 36);
        assert_eq!(
            u16::from_ne_bytes(msg[4..6].try_into().unwrap()),
            libc::RTM_NEWROUTE
        );
        assert_eq!(u32::from_ne_bytes(msg[8..12].try_into().unwrap()), 7);
        assert_eq!(msg[16], libc::AF_INET as u8);
        assert_eq!(msg[17], 8);
        assert_eq!(msg[23], libc::RTN_PROHIBIT);
        assert_eq!(&msg[32..36], &[10, 0, 0, 0]);
        let v6 = route_message(1, "fc00::".parse().unwrap(), 7, None);
        assert_eq!(v6.len(), 16 + 12 + 20);
        assert_eq!(v6[16], libc::AF_INET6 as u8);
        let link = route_message(2, "10.0.2.3".parse().unwrap(), 32, Some(5));
        assert_eq!(link.len(), 16 + 12 + 8 + 8);
        assert_eq!(u32::from_ne_bytes(link[0..4].try_into().unwrap()), 44);
        assert_eq!(
            (link[22], link[23]),
            (libc::RT_SCOPE_LINK, libc::RTN_UNICAST)
        );
        assert_eq!(
            u16::from_ne_bytes(link[38..40].try_into().unwrap()),
            libc::RTA_OIF
        );
        assert_eq!(u32::from_ne_bytes(link[40..44].try_into().unwrap()), 5);
    }

    #[test]
    fn acks_and_errors_are_told_apart() {
        let ack = |seq: u32, error: i32| {
            let mut b = Vec::new();
            b.extend_from_slice(&36u32.to_ne_bytes());
            b.extend_from_slice(&(libc::NLMSG_ERROR as u16).to_ne_bytes());
            b.extend_from_slice(&0u16.to_ne_bytes());
            b.extend_from_slice(&seq.to_ne_bytes());
            b.extend_from_slice(&0u32.to_ne_bytes());
            b.extend_from_slice(&error.to_ne_bytes());
            b
        };
        assert!(parse_ack(&ack(3, 0), 3).is_ok());
        assert_eq!(
            parse_ack(&ack(3, -libc::EPERM), 3)
                .unwrap_err()
                .raw_os_error(),
            Some(libc::EPERM)
        );
        assert!(parse_ack(&ack(4, 0), 3).is_err());
        assert!(parse_ack(&[1, 2], 3).is_err());
    }

    #[test]
    fn listening_sockets_travel_over_a_socketpair() {
        use std::os::unix::net::UnixStream;
        let (a, b) = UnixStream::pair().unwrap();
        let (a, b) = (OwnedFd::from(a), OwnedFd::from(b));
        let fds = listen(&["127.0.0.1:0".parse().unwrap()]).unwrap();
        send_fds(&a, &fds).unwrap();
        let got = receive_fds(&b, 1).unwrap();
        let listener = TcpListener::from(got.into_iter().next().unwrap());
        let addr = listener.local_addr().unwrap();
        assert!(addr.ip().is_loopback());
        std::net::TcpStream::connect(addr).unwrap();
        drop(a);
        assert!(receive_fds(&b, 1).is_err(), "EOF must be an error");
    }
}
