//! wsbox's side of the sockets pid 1 listens on inside the sandbox: each
//! accepted connection is relayed to an address in the host's network
//! namespace, either as it is (`forward = ["tcp:…"]`) or through Tor's SOCKS
//! port with the sandbox's own credentials (stream isolation).
//!
//! Runs on threads started after the sandbox exists (wsbox forks only while
//! it is single-threaded). Nothing the app sends can make wsbox connect
//! anywhere but the configured upstream: the SOCKS request itself is relayed
//! untouched and interpreted by Tor.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Connections served at once, over all listeners; more are closed at once.
/// Each holds four fds in wsbox: the total stays well under the usual limit
/// of 1024, so the app cannot starve wsbox's own sockets.
pub const MAX_CONNECTIONS: usize = 128;

/// Connections being served now, over all listeners of this wsbox.
static ACTIVE: Slots = Slots::new(MAX_CONNECTIONS);
/// How long the upstream may take to accept a connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the whole SOCKS greeting and authentication may take, both
/// sides together.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(30);
/// Once one direction of a relayed connection has ended, the other ends
/// after this long without data: a half-closed connection does not keep its
/// slot for ever.
const HALF_CLOSED_IDLE: Duration = Duration::from_secs(60);
/// How often a relay thread wakes up to check for that.
const TICK: Duration = Duration::from_secs(5);

/// A limit on connections served at once.
#[derive(Debug)]
pub struct Slots {
    active: AtomicUsize,
    max: usize,
}

impl Slots {
    pub const fn new(max: usize) -> Self {
        Slots {
            active: AtomicUsize::new(0),
            max,
        }
    }

    fn take(&self) -> bool {
        if self.active.fetch_add(1, Ordering::SeqCst) >= self.max {
            self.active.fetch_sub(1, Ordering::SeqCst);
            return false;
        }
        true
    }

    fn give_back(&self) {
        self.active.fetch_sub(1, Ordering::SeqCst);
    }
}
/// Stack of the relay threads: they only copy bytes.
const THREAD_STACK: usize = 64 * 1024;

/// SOCKS5 (RFC 1928) and username/password authentication (RFC 1929).
const SOCKS5: u8 = 5;
const AUTH_VERSION: u8 = 1;
const NO_AUTH: u8 = 0;
const USER_PASS: u8 = 2;
const NO_ACCEPTABLE: u8 = 0xff;

/// Where the connections of one listener go.
#[derive(Debug, Clone)]
pub enum Upstream {
    /// Relayed as they are.
    Plain(SocketAddr),
    /// A SOCKS5 server (Tor): every stream is authenticated with the
    /// sandbox's credentials, so that Tor keeps the sandbox's streams on
    /// circuits of their own (IsolateSOCKSAuth, on by default).
    Socks {
        addr: SocketAddr,
        credentials: Credentials,
    },
}

/// The sandbox's SOCKS credentials. A client that authenticates itself keeps
/// its own isolation inside the sandbox: its username is sent as
/// `<username>:<its username>`, its password unchanged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    pub username: String,
    pub password: String,
}

impl Credentials {
    /// Fresh credentials from 16 random bytes.
    pub fn random(bytes: [u8; 16]) -> Self {
        let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        Credentials {
            username: format!("wsbox-{}", &hex[..16]),
            password: hex[16..].to_owned(),
        }
    }
}

/// Serves `listener` (a listening socket inside the sandbox) on a thread of
/// its own, relaying each connection to `upstream`.
pub fn serve(listener: OwnedFd, upstream: Upstream) -> io::Result<()> {
    serve_limited(listener, upstream, &ACTIVE)
}

/// [`serve`] with its own limit.
fn serve_limited(listener: OwnedFd, upstream: Upstream, slots: &'static Slots) -> io::Result<()> {
    let listener = TcpListener::from(listener);
    listener.set_nonblocking(false)?;
    std::thread::Builder::new()
        .name("wsbox-forward".into())
        .stack_size(THREAD_STACK)
        .spawn(move || loop {
            let client = match listener.accept() {
                Ok((client, _)) => client,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    tracing::warn!(%e, "failed to accept a connection from the sandbox");
                    std::thread::sleep(Duration::from_millis(100));
                    continue;
                }
            };
            if !slots.take() {
                tracing::warn!(
                    "the sandbox has {} connections open; refusing more",
                    slots.max
                );
                continue;
            }
            let upstream = upstream.clone();
            let spawned = std::thread::Builder::new()
                .name("wsbox-relay".into())
                .stack_size(THREAD_STACK)
                .spawn(move || {
                    if let Err(e) = handle(client, &upstream) {
                        tracing::debug!(%e, "connection from the sandbox ended");
                    }
                    slots.give_back();
                });
            if let Err(e) = spawned {
                slots.give_back();
                tracing::warn!(%e, "failed to start a relay thread");
            }
        })?;
    Ok(())
}

fn handle(client: TcpStream, upstream: &Upstream) -> io::Result<()> {
    let server = match upstream {
        Upstream::Plain(addr) => TcpStream::connect_timeout(addr, CONNECT_TIMEOUT)?,
        Upstream::Socks { addr, credentials } => {
            let until = Instant::now() + HANDSHAKE_TIMEOUT;
            let server = socks_handshake(Deadline::new(&client, until), credentials, || {
                let server = TcpStream::connect_timeout(addr, CONNECT_TIMEOUT)?;
                Ok(Deadline::new(server, until))
            })?
            .stream;
            client.set_read_timeout(None)?;
            server.set_read_timeout(None)?;
            server
        }
    };
    relay(client, server)
}

/// A stream whose reads all fail once `until` has passed: one deadline for
/// a whole exchange, however slowly the peer trickles its bytes.
struct Deadline<S> {
    stream: S,
    until: Instant,
}

impl<S> Deadline<S> {
    fn new(stream: S, until: Instant) -> Self {
        Deadline { stream, until }
    }
}

impl<S: std::borrow::Borrow<TcpStream>> Read for Deadline<S> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = self.until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the SOCKS handshake took too long",
            ));
        }
        let mut stream: &TcpStream = self.stream.borrow();
        stream.set_read_timeout(Some(left))?;
        stream.read(buf)
    }
}

impl<S: std::borrow::Borrow<TcpStream>> Write for Deadline<S> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut stream: &TcpStream = self.stream.borrow();
        stream.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Copies both ways until both sides are done, or one is done and the
/// other has been idle for [`HALF_CLOSED_IDLE`].
fn relay(client: TcpStream, server: TcpStream) -> io::Result<()> {
    client.set_read_timeout(Some(TICK))?;
    server.set_read_timeout(Some(TICK))?;
    let up_done = Arc::new(AtomicBool::new(false));
    let down_done = Arc::new(AtomicBool::new(false));
    let (client_r, server_w) = (client.try_clone()?, server.try_clone()?);
    let (done, other) = (Arc::clone(&up_done), Arc::clone(&down_done));
    let up = std::thread::Builder::new()
        .name("wsbox-relay-up".into())
        .stack_size(THREAD_STACK)
        .spawn(move || pump(client_r, server_w, &done, &other, HALF_CLOSED_IDLE))?;
    pump(server, client, &down_done, &up_done, HALF_CLOSED_IDLE);
    let _ = up.join();
    Ok(())
}

/// Copies `from` to `to` until `from` ends, or `other` (the opposite
/// direction) has ended and `from` has sent nothing for `idle`; `from` has
/// a read timeout (the tick at which this is checked). Marks `done`.
fn pump(
    mut from: TcpStream,
    mut to: TcpStream,
    done: &AtomicBool,
    other: &AtomicBool,
    idle: Duration,
) {
    let mut buf = vec![0u8; 16 * 1024];
    let mut last = Instant::now();
    loop {
        match from.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                if to.write_all(&buf[..n]).is_err() {
                    break;
                }
                last = Instant::now();
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                if other.load(Ordering::SeqCst) && last.elapsed() >= idle {
                    break;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
    let _ = to.shutdown(Shutdown::Write);
    done.store(true, Ordering::SeqCst);
}

fn protocol(message: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message.to_owned())
}

fn read_exact<const N: usize>(stream: &mut impl Read) -> io::Result<[u8; N]> {
    let mut buf = [0u8; N];
    stream.read_exact(&mut buf)?;
    Ok(buf)
}

fn read_vec(stream: &mut impl Read, len: usize) -> io::Result<Vec<u8>> {
    let mut buf = vec![0u8; len];
    stream.read_exact(&mut buf)?;
    Ok(buf)
}

/// Negotiates authentication with the sandbox's client on one side and the
/// upstream SOCKS server on the other, with the sandbox's credentials. On
/// success both are at the point where the client sends its request, which
/// is then relayed untouched. `connect` opens the upstream connection.
pub fn socks_handshake<S: Read + Write>(
    mut client: impl Read + Write,
    credentials: &Credentials,
    connect: impl FnOnce() -> io::Result<S>,
) -> io::Result<S> {
    let [version, count] = read_exact::<2>(&mut client)?;
    if version != SOCKS5 {
        return Err(protocol("not a SOCKS5 client (only SOCKS5 is forwarded)"));
    }
    let methods = read_vec(&mut client, usize::from(count))?;
    let (username, password, client_auth) = if methods.contains(&USER_PASS) {
        client.write_all(&[SOCKS5, USER_PASS])?;
        let [version, ulen] = read_exact::<2>(&mut client)?;
        if version != AUTH_VERSION {
            return Err(protocol("bad username/password authentication version"));
        }
        let user = read_vec(&mut client, usize::from(ulen))?;
        let [plen] = read_exact::<1>(&mut client)?;
        let pass = read_vec(&mut client, usize::from(plen))?;
        let mut prefixed = credentials.username.as_bytes().to_vec();
        prefixed.push(b':');
        prefixed.extend_from_slice(&user);
        if prefixed.len() > 255 {
            client.write_all(&[AUTH_VERSION, 1])?;
            return Err(protocol(
                "the client's SOCKS username is too long to carry the sandbox's prefix",
            ));
        }
        (prefixed, pass, true)
    } else if methods.contains(&NO_AUTH) {
        (
            credentials.username.as_bytes().to_vec(),
            credentials.password.as_bytes().to_vec(),
            false,
        )
    } else {
        client.write_all(&[SOCKS5, NO_ACCEPTABLE])?;
        return Err(protocol("the client offers no usable SOCKS authentication"));
    };

    let mut server = match connect() {
        Ok(server) => server,
        Err(e) => {
            // The upstream (the host's Tor) cannot be reached: tell the
            // client in the reply to its request, which says why ("connection
            // refused"), not as a refused authentication.
            // Once: the app may retry in a loop.
            static WARNED: AtomicBool = AtomicBool::new(false);
            if !WARNED.swap(true, Ordering::Relaxed) {
                tracing::warn!(%e, "the upstream SOCKS server cannot be reached (is Tor running?)");
            } else {
                tracing::debug!(%e, "the upstream SOCKS server cannot be reached");
            }
            let accepted = if client_auth {
                [AUTH_VERSION, 0]
            } else {
                [SOCKS5, NO_AUTH]
            };
            client.write_all(&accepted)?;
            skip_request(&mut client)?;
            client.write_all(&[SOCKS5, reply_code(&e), 0, 1, 0, 0, 0, 0, 0, 0])?;
            return Err(e);
        }
    };
    let status = authenticate(&mut server, &username, &password).map(|()| server);
    let ok = status.is_ok();
    if client_auth {
        client.write_all(&[AUTH_VERSION, if ok { 0 } else { 1 }])?;
    } else {
        client.write_all(&[SOCKS5, if ok { NO_AUTH } else { NO_ACCEPTABLE }])?;
    }
    status
}

/// Reads a client's SOCKS5 request (RFC 1928, section 4) without acting on it.
fn skip_request(client: &mut impl Read) -> io::Result<()> {
    let [version, _command, _reserved, kind] = read_exact::<4>(client)?;
    if version != SOCKS5 {
        return Err(protocol("not a SOCKS5 request"));
    }
    let len = match kind {
        1 => 4,
        3 => usize::from(read_exact::<1>(client)?[0]),
        4 => 16,
        _ => return Err(protocol("unknown SOCKS5 address type")),
    };
    read_vec(client, len + 2).map(drop)
}

/// The SOCKS5 reply (RFC 1928, section 6) for a failed upstream connection.
fn reply_code(e: &io::Error) -> u8 {
    match e.kind() {
        io::ErrorKind::ConnectionRefused => 5,
        io::ErrorKind::NetworkUnreachable => 3,
        io::ErrorKind::TimedOut | io::ErrorKind::HostUnreachable => 4,
        _ => 1,
    }
}

/// Username/password authentication towards the upstream SOCKS server.
fn authenticate(server: &mut (impl Read + Write), user: &[u8], pass: &[u8]) -> io::Result<()> {
    server.write_all(&[SOCKS5, 1, USER_PASS])?;
    let [version, method] = read_exact::<2>(server)?;
    if version != SOCKS5 || method != USER_PASS {
        return Err(protocol(
            "the upstream SOCKS server refuses username/password authentication",
        ));
    }
    let (Ok(ulen), Ok(plen)) = (u8::try_from(user.len()), u8::try_from(pass.len())) else {
        return Err(protocol("SOCKS credentials longer than 255 bytes"));
    };
    let mut message = vec![AUTH_VERSION, ulen];
    message.extend_from_slice(user);
    message.push(plen);
    message.extend_from_slice(pass);
    server.write_all(&message)?;
    let [_, status] = read_exact::<2>(server)?;
    if status != 0 {
        return Err(protocol(
            "the upstream SOCKS server refused the credentials",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;

    fn creds() -> Credentials {
        Credentials {
            username: "wsbox-0123".into(),
            password: "secret".into(),
        }
    }

    /// A SOCKS5 server that accepts username/password, reports what it got,
    /// answers one CONNECT with success and echoes.
    /// Username, password and destination of one upstream connection.
    type Seen = (Vec<u8>, Vec<u8>, Vec<u8>);

    fn upstream() -> (SocketAddr, mpsc::Receiver<Seen>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let mut s = stream.unwrap();
                let tx = tx.clone();
                std::thread::spawn(move || {
                    let [_, n] = read_exact::<2>(&mut s).unwrap();
                    let methods = read_vec(&mut s, n.into()).unwrap();
                    if !methods.contains(&USER_PASS) {
                        s.write_all(&[5, 0xff]).unwrap();
                        return;
                    }
                    s.write_all(&[5, 2]).unwrap();
                    let [_, ulen] = read_exact::<2>(&mut s).unwrap();
                    let user = read_vec(&mut s, ulen.into()).unwrap();
                    let [plen] = read_exact::<1>(&mut s).unwrap();
                    let pass = read_vec(&mut s, plen.into()).unwrap();
                    s.write_all(&[1, 0]).unwrap();
                    // CONNECT to a domain name.
                    let [_, cmd, _, atyp, len] = read_exact::<5>(&mut s).unwrap();
                    assert_eq!((cmd, atyp), (1, 3));
                    let name = read_vec(&mut s, usize::from(len) + 2).unwrap();
                    s.write_all(&[5, 0, 0, 1, 0, 0, 0, 0, 0, 0]).unwrap();
                    tx.send((user, pass, name)).unwrap();
                    let mut buf = [0u8; 5];
                    s.read_exact(&mut buf).unwrap();
                    s.write_all(&buf).unwrap();
                });
            }
        });
        (addr, rx)
    }

    fn forwarder(up: SocketAddr) -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        serve(
            OwnedFd::from(listener),
            Upstream::Socks {
                addr: up,
                credentials: creds(),
            },
        )
        .unwrap();
        addr
    }

    fn connect_request(s: &mut TcpStream) {
        let mut req = vec![5, 1, 0, 3, 11];
        req.extend_from_slice(b"example.org");
        req.extend_from_slice(&80u16.to_be_bytes());
        s.write_all(&req).unwrap();
        let reply = read_exact::<10>(s).unwrap();
        assert_eq!(reply[1], 0);
        s.write_all(b"hello").unwrap();
        assert_eq!(&read_exact::<5>(s).unwrap(), b"hello");
    }

    #[test]
    fn a_client_without_credentials_gets_the_sandbox_s() {
        let (up, seen) = upstream();
        let mut s = TcpStream::connect(forwarder(up)).unwrap();
        s.write_all(&[5, 1, 0]).unwrap();
        assert_eq!(read_exact::<2>(&mut s).unwrap(), [5, 0]);
        connect_request(&mut s);
        let (user, pass, name) = seen.recv().unwrap();
        assert_eq!(user, b"wsbox-0123");
        assert_eq!(pass, b"secret");
        assert_eq!(&name[..11], b"example.org");
    }

    #[test]
    fn a_client_s_own_credentials_are_prefixed() {
        let (up, seen) = upstream();
        let mut s = TcpStream::connect(forwarder(up)).unwrap();
        s.write_all(&[5, 2, 0, 2]).unwrap();
        assert_eq!(read_exact::<2>(&mut s).unwrap(), [5, 2]);
        s.write_all(&[1, 3, b'a', b'p', b'p', 2, b'p', b'w'])
            .unwrap();
        assert_eq!(read_exact::<2>(&mut s).unwrap(), [1, 0]);
        connect_request(&mut s);
        let (user, pass, _) = seen.recv().unwrap();
        assert_eq!(user, b"wsbox-0123:app");
        assert_eq!(pass, b"pw");
    }

    #[test]
    fn bad_clients_are_refused() {
        let (up, _seen) = upstream();
        let fwd = forwarder(up);
        // SOCKS4: closed without a word.
        let mut s = TcpStream::connect(fwd).unwrap();
        s.write_all(&[4, 1, 0, 80, 127, 0, 0, 1, 0]).unwrap();
        let mut rest = Vec::new();
        let _ = s.read_to_end(&mut rest);
        assert!(rest.is_empty(), "{rest:?}");
        // Only GSSAPI offered.
        let mut s = TcpStream::connect(fwd).unwrap();
        s.write_all(&[5, 1, 1]).unwrap();
        assert_eq!(read_exact::<2>(&mut s).unwrap(), [5, 0xff]);
        // A username too long for the prefix.
        let mut s = TcpStream::connect(fwd).unwrap();
        s.write_all(&[5, 1, 2]).unwrap();
        assert_eq!(read_exact::<2>(&mut s).unwrap(), [5, 2]);
        let mut auth = vec![1, 250];
        auth.extend_from_slice(&[b'x'; 250]);
        auth.extend_from_slice(&[1, b'p']);
        s.write_all(&auth).unwrap();
        assert_eq!(read_exact::<2>(&mut s).unwrap(), [1, 1]);
    }

    #[test]
    fn an_unreachable_upstream_is_reported_to_the_client() {
        // A port nothing listens on.
        let dead = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = dead.local_addr().unwrap();
        drop(dead);
        let mut s = TcpStream::connect(forwarder(addr)).unwrap();
        s.write_all(&[5, 1, 0]).unwrap();
        // Accepted, then the request fails with "connection refused" (not
        // a refused authentication, which curl reports as such).
        assert_eq!(read_exact::<2>(&mut s).unwrap(), [5, 0]);
        let mut req = vec![5, 1, 0, 3, 11];
        req.extend_from_slice(b"example.org");
        req.extend_from_slice(&80u16.to_be_bytes());
        s.write_all(&req).unwrap();
        assert_eq!(
            read_exact::<10>(&mut s).unwrap(),
            [5, 5, 0, 1, 0, 0, 0, 0, 0, 0]
        );
        // The same for a client with its own credentials.
        let mut s = TcpStream::connect(forwarder(addr)).unwrap();
        s.write_all(&[5, 1, 2]).unwrap();
        assert_eq!(read_exact::<2>(&mut s).unwrap(), [5, 2]);
        s.write_all(&[1, 1, b'u', 1, b'p']).unwrap();
        assert_eq!(read_exact::<2>(&mut s).unwrap(), [1, 0]);
        s.write_all(&[5, 1, 0, 1, 10, 0, 0, 1, 0, 80]).unwrap();
        assert_eq!(
            read_exact::<10>(&mut s).unwrap(),
            [5, 5, 0, 1, 0, 0, 0, 0, 0, 0]
        );
    }

    #[test]
    fn plain_forwards_relay_both_ways() {
        let server = TcpListener::bind("127.0.0.1:0").unwrap();
        let up = server.local_addr().unwrap();
        std::thread::spawn(move || {
            let (mut s, _) = server.accept().unwrap();
            let mut buf = [0u8; 4];
            s.read_exact(&mut buf).unwrap();
            s.write_all(&buf).unwrap();
        });
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        serve(OwnedFd::from(listener), Upstream::Plain(up)).unwrap();
        let mut s = TcpStream::connect(addr).unwrap();
        s.write_all(b"ping").unwrap();
        let mut back = Vec::new();
        s.read_to_end(&mut back).unwrap();
        assert_eq!(back, b"ping");
    }

    /// An upstream that refuses every username and password.
    fn refusing_upstream() -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let mut s = stream.unwrap();
                let [_, n] = read_exact::<2>(&mut s).unwrap();
                read_vec(&mut s, n.into()).unwrap();
                s.write_all(&[5, 2]).unwrap();
                let [_, ulen] = read_exact::<2>(&mut s).unwrap();
                read_vec(&mut s, usize::from(ulen)).unwrap();
                let [plen] = read_exact::<1>(&mut s).unwrap();
                read_vec(&mut s, plen.into()).unwrap();
                s.write_all(&[1, 1]).unwrap();
            }
        });
        addr
    }

    #[test]
    fn refused_credentials_are_reported_to_the_client() {
        let fwd = forwarder(refusing_upstream());
        let mut s = TcpStream::connect(fwd).unwrap();
        s.write_all(&[5, 1, 0]).unwrap();
        assert_eq!(read_exact::<2>(&mut s).unwrap(), [5, 0xff]);
        let mut s = TcpStream::connect(fwd).unwrap();
        s.write_all(&[5, 1, 2]).unwrap();
        assert_eq!(read_exact::<2>(&mut s).unwrap(), [5, 2]);
        s.write_all(&[1, 1, b'a', 1, b'b']).unwrap();
        assert_eq!(read_exact::<2>(&mut s).unwrap(), [1, 1]);
    }

    #[test]
    fn a_client_offering_both_methods_keeps_its_credentials() {
        let (up, seen) = upstream();
        let mut s = TcpStream::connect(forwarder(up)).unwrap();
        s.write_all(&[5, 2, 2, 0]).unwrap();
        assert_eq!(read_exact::<2>(&mut s).unwrap(), [5, 2]);
        s.write_all(&[1, 1, b'u', 1, b'p']).unwrap();
        assert_eq!(read_exact::<2>(&mut s).unwrap(), [1, 0]);
        connect_request(&mut s);
        let (user, pass, _) = seen.recv().unwrap();
        assert_eq!(user, b"wsbox-0123:u");
        assert_eq!(pass, b"p");
    }

    #[test]
    fn one_deadline_for_the_whole_handshake() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let mut peer = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (ours, _) = listener.accept().unwrap();
        // One byte every 100 ms: each read is quick, the whole is not.
        std::thread::spawn(move || {
            for _ in 0..20 {
                if peer.write_all(&[5]).is_err() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        });
        let started = Instant::now();
        let mut d = Deadline::new(&ours, started + Duration::from_millis(350));
        let err = read_vec(&mut d, 20).unwrap_err();
        assert!(
            matches!(
                err.kind(),
                io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock
            ),
            "{err}"
        );
        assert!(started.elapsed() < Duration::from_millis(1500));
    }

    #[test]
    fn connections_over_the_limit_are_closed() {
        static SLOTS: Slots = Slots::new(2);
        let server = TcpListener::bind("127.0.0.1:0").unwrap();
        let up = server.local_addr().unwrap();
        // Holds every connection open until the client closes it.
        std::thread::spawn(move || {
            for s in server.incoming() {
                let mut s = s.unwrap();
                std::thread::spawn(move || {
                    let mut rest = Vec::new();
                    let _ = s.read_to_end(&mut rest);
                });
            }
        });
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        serve_limited(OwnedFd::from(listener), Upstream::Plain(up), &SLOTS).unwrap();
        let open = |addr| {
            let s = TcpStream::connect(addr).unwrap();
            s.set_read_timeout(Some(Duration::from_millis(300)))
                .unwrap();
            s
        };
        // Open: reading times out. Refused: closed at once (EOF).
        let closed = |s: &mut TcpStream| match s.read(&mut [0u8; 1]) {
            Ok(n) => n == 0,
            Err(e) => !matches!(
                e.kind(),
                io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
            ),
        };
        let mut a = open(addr);
        let mut b = open(addr);
        assert!(!closed(&mut a) && !closed(&mut b));
        let mut c = open(addr);
        assert!(closed(&mut c), "a third connection was served");
        drop(a);
        // The slot comes back once the relay of the first has ended.
        let mut back = false;
        for _ in 0..50 {
            let mut d = open(addr);
            if !closed(&mut d) {
                back = true;
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        assert!(back, "the slot of a closed connection never came back");
        drop(b);
    }

    #[test]
    fn a_half_closed_connection_ends_when_idle() {
        let pair = || {
            let l = TcpListener::bind("127.0.0.1:0").unwrap();
            let a = TcpStream::connect(l.local_addr().unwrap()).unwrap();
            (a, l.accept().unwrap().0)
        };
        // from_peer -> from ==pump==> to -> to_peer
        let (from_peer, from) = pair();
        let (to, mut to_peer) = pair();
        from.set_read_timeout(Some(Duration::from_millis(50)))
            .unwrap();
        let done = AtomicBool::new(false);
        // The other direction has ended already.
        let other = AtomicBool::new(true);
        let started = Instant::now();
        pump(from, to, &done, &other, Duration::from_millis(300));
        assert!(done.load(Ordering::SeqCst));
        assert!(started.elapsed() >= Duration::from_millis(300));
        assert!(started.elapsed() < Duration::from_secs(3));
        let mut rest = Vec::new();
        to_peer.read_to_end(&mut rest).unwrap();
        drop(from_peer);
    }

    #[test]
    fn random_credentials_differ() {
        let a = Credentials::random([1; 16]);
        let b = Credentials::random([2; 16]);
        assert_ne!(a, b);
        assert!(a.username.starts_with("wsbox-"));
        assert_eq!(a.password.len(), 16);
    }
}
