//! The relay between the app and xdg-dbus-proxy, one connection of the
//! proxy for each of the app's. It changes three things and passes the
//! rest byte for byte:
//!
//! - the identity the app claims when it authenticates becomes the relay's
//!   uid, the proxy's ([`super::auth`]);
//! - a call of `GetApplicationBusAddress` (AT-SPI's question for an app's
//!   own server, for a direct connection) never reaches the app: the relay
//!   answers it with an empty address, which means "none". A screen reader
//!   connects to whatever address an app answers, and libdbus runs a
//!   program for a `unixexec:` address: a hostile app could make the
//!   user's screen reader run any program, outside the sandbox;
//! - the app's replies pass only to calls the relay delivered to it, each
//!   once: so it cannot answer a call it never saw (the proxy alone would
//!   let it answer that one, guessing its serial).
//!
//! Its own replies go between the app's messages, so the relay numbers the
//! messages it writes to the proxy itself (the proxy wants rising serials)
//! and gives the bus's replies to the app's calls back their numbers.
//!
//! Messages are framed and their headers read ([`super::wire`]); bodies
//! are never parsed. No file descriptor crosses: the relay reads and
//! writes bytes only, so any fd sent either way is dropped by the kernel.

use std::collections::{BTreeMap, HashMap};
use std::io::{self, Read, Write};
use std::net::Shutdown;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use super::auth::{Answers, Auth, Fed};
use super::wire::{self, Framer, Header};

/// The most connections the relay serves at once (a GTK app makes one;
/// more are closed at once).
pub const CONNECTIONS_MAX: usize = 32;
/// The most calls of one connection the app may still answer; past it the
/// oldest can no longer be answered.
const CALLS_MAX: usize = 4096;
/// How long the app may take to authenticate.
const AUTH_WAIT: Duration = Duration::from_secs(30);
/// The most of the app's calls waiting for their replies: past it the
/// relay reads nothing more of the app until replies come (the proxy
/// would queue them without end for an app that never reads).
const PENDING_MAX: usize = 64;
/// How long a write to the app may wait: an app that stops reading for
/// that long is cut off.
const APP_WRITE_WAIT: Duration = Duration::from_secs(10);
/// The largest message the app may send (the bus's replies to it may be
/// larger: a cache of the whole tree).
const APP_MESSAGE_MAX: usize = 1 << 20;
/// The method the relay answers itself.
pub const BUS_ADDRESS_METHOD: &str = "GetApplicationBusAddress";

/// Serves the app's connections on `listener`, each to a connection of
/// its own to the proxy at `upstream`, until the process ends.
pub fn serve(listener: &UnixListener, upstream: &Path, uid: u32) {
    let live = Arc::new(AtomicUsize::new(0));
    for app in listener.incoming() {
        let app = match app {
            Ok(app) => app,
            Err(e) => {
                tracing::warn!(%e, "the accessibility relay failed to accept a connection");
                // Out of fds or memory: the next one may fare better.
                std::thread::sleep(Duration::from_millis(100));
                continue;
            }
        };
        if live.load(Ordering::SeqCst) >= CONNECTIONS_MAX {
            tracing::warn!(
                max = CONNECTIONS_MAX,
                "the app opened too many connections to the accessibility bus; closed one"
            );
            continue;
        }
        live.fetch_add(1, Ordering::SeqCst);
        let (live2, upstream) = (live.clone(), upstream.to_owned());
        let spawned = std::thread::Builder::new()
            .name("a11y-relay".into())
            .spawn(move || {
                if let Err(e) = relay(app, &upstream, uid) {
                    tracing::debug!(%e, "an accessibility connection ended");
                }
                live2.fetch_sub(1, Ordering::SeqCst);
            });
        if spawned.is_err() {
            live.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

/// `m` locked; a panic elsewhere left plain data.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// What the two directions of a connection share. Locks are taken in
/// this order: `to_proxy`, then `calls` or `serials`.
struct Shared {
    /// The proxy's socket, written one whole message at a time (the
    /// relay's own replies go between the app's messages).
    to_proxy: Mutex<ToProxy>,
    /// The app's calls in flight: the relay's serial → the app's.
    serials: Mutex<Serials>,
    /// How many lines the bus answers to the authentication, once the
    /// app's `BEGIN` has gone.
    answers: Mutex<Option<usize>>,
    /// The calls the app may answer.
    calls: Mutex<Calls>,
    /// The app's own unique name on the bus, from the reply to its Hello:
    /// a message for another name never reaches it.
    own_name: Mutex<Option<String>>,
    /// Told when a reply to one of the app's calls arrives, or when the
    /// bus's side ends.
    replied: std::sync::Condvar,
}

/// The proxy's side of a connection: messages numbered as written.
struct ToProxy {
    stream: UnixStream,
    /// The serial of the last message written.
    last: u32,
}

impl ToProxy {
    fn next_serial(&mut self) -> io::Result<u32> {
        self.last = self
            .last
            .checked_add(1)
            .ok_or_else(|| invalid("out of serials".into()))?;
        Ok(self.last)
    }

    /// Writes a piece of the app's message; its header gets the relay's
    /// serial, and a call wanting a reply is remembered in `serials`.
    fn write_piece(&mut self, mut piece: wire::Piece, serials: &Mutex<Serials>) -> io::Result<()> {
        if let Some(head) = &piece.head {
            let serial = self.next_serial()?;
            wire::set_u32(&mut piece.bytes, wire::SERIAL_AT, head.little, serial);
            if head.kind == wire::METHOD_CALL && head.flags & wire::NO_REPLY_EXPECTED == 0 {
                lock(serials).insert(serial, head.serial);
            }
        }
        self.stream.write_all(&piece.bytes)
    }

    /// Writes the relay's reply (an empty address) to `call`.
    fn write_reply(&mut self, call: &Header) -> io::Result<()> {
        let serial = self.next_serial()?;
        let reply =
            wire::empty_string_reply(serial, call.serial, call.sender.as_deref().unwrap_or(""));
        self.stream.write_all(&reply)
    }
}

/// The app's calls in flight, by the relay's serial, at most
/// [`CALLS_MAX`], the oldest forgotten first.
#[derive(Debug, Default)]
struct Serials {
    ours: BTreeMap<u32, u32>,
    /// The bus's side ended: no reply will come, nothing waits for one.
    closed: bool,
}

impl Serials {
    fn insert(&mut self, ours: u32, theirs: u32) {
        while self.ours.len() >= CALLS_MAX {
            self.ours.pop_first();
        }
        self.ours.insert(ours, theirs);
    }

    /// The app's serial for a reply to the relay's `ours`, once.
    fn take(&mut self, ours: u32) -> Option<u32> {
        self.ours.remove(&ours)
    }

    /// Whether the app must wait before it sends more: too many of its
    /// calls wait for replies that can still come.
    fn full(&self) -> bool {
        !self.closed && self.ours.len() >= PENDING_MAX
    }

    /// The bus's side ended: the calls in flight are forgotten.
    fn close(&mut self) {
        self.closed = true;
        self.ours.clear();
    }
}

/// Calls delivered to the app and not yet answered, by (caller, serial),
/// at most [`CALLS_MAX`], the oldest forgotten first.
#[derive(Debug, Default)]
pub struct Calls {
    by_key: HashMap<(Option<String>, u32), u64>,
    by_age: BTreeMap<u64, (Option<String>, u32)>,
    next: u64,
}

impl Calls {
    fn add(&mut self, key: (Option<String>, u32)) {
        while self.by_key.len() >= CALLS_MAX {
            let Some((_, old)) = self.by_age.pop_first() else {
                break;
            };
            self.by_key.remove(&old);
        }
        self.next += 1;
        if let Some(age) = self.by_key.insert(key.clone(), self.next) {
            self.by_age.remove(&age);
        }
        self.by_age.insert(self.next, key);
    }

    /// Whether `key` was delivered and not answered yet; it is answered
    /// now.
    fn answer(&mut self, key: &(Option<String>, u32)) -> bool {
        match self.by_key.remove(key) {
            Some(age) => {
                self.by_age.remove(&age);
                true
            }
            None => false,
        }
    }

    /// What becomes of a call from the bus: delivered to the app (and
    /// recorded, if it wants a reply), or, for [`BUS_ADDRESS_METHOD`],
    /// answered by the relay.
    pub fn call(&mut self, header: &Header) -> Call {
        if header.kind != wire::METHOD_CALL {
            return Call::Deliver;
        }
        let wants_reply = header.flags & wire::NO_REPLY_EXPECTED == 0;
        if header.member.as_deref() == Some(BUS_ADDRESS_METHOD) {
            return if wants_reply {
                Call::Answer
            } else {
                Call::Drop
            };
        }
        if wants_reply {
            self.add((header.sender.clone(), header.serial));
        }
        Call::Deliver
    }

    /// Whether a message from the app goes to the bus: a reply only to a
    /// call delivered to the app, once.
    pub fn reply(&mut self, header: &Header) -> bool {
        if header.kind != wire::METHOD_RETURN && header.kind != wire::ERROR {
            // libdbus completes a pending call with any message that
            // names its serial: only replies may.
            return header.reply_serial.is_none();
        }
        let Some(serial) = header.reply_serial else {
            return false;
        };
        self.answer(&(header.destination.clone(), serial))
    }
}

/// What becomes of a message from the bus.
#[derive(Debug, PartialEq, Eq)]
pub enum Call {
    Deliver,
    /// Answered by the relay, never delivered.
    Answer,
    Drop,
}

/// One connection: both directions until either side closes.
fn relay(app: UnixStream, upstream: &Path, uid: u32) -> io::Result<()> {
    let proxy = UnixStream::connect(upstream)?;
    let shared = Arc::new(Shared {
        to_proxy: Mutex::new(ToProxy {
            stream: proxy.try_clone()?,
            last: 0,
        }),
        serials: Mutex::new(Serials::default()),
        answers: Mutex::new(None),
        calls: Mutex::new(Calls::default()),
        own_name: Mutex::new(None),
        replied: std::sync::Condvar::new(),
    });
    let (app2, proxy2, shared2) = (app.try_clone()?, proxy.try_clone()?, shared.clone());
    let back = std::thread::Builder::new()
        .name("a11y-relay".into())
        .spawn(move || {
            if let Err(e) = from_bus(&proxy2, &app2, &shared2) {
                tracing::debug!(%e, "the accessibility bus's side of a connection ended");
            }
            let _ = proxy2.shutdown(Shutdown::Both);
            let _ = app2.shutdown(Shutdown::Both);
            // No reply comes any more: the app's side, if it waits for
            // some, goes on to read its socket, shut down, and ends.
            lock(&shared2.serials).close();
            shared2.replied.notify_all();
        })?;
    let sent = from_app(&app, &shared, uid);
    // Either way both ends close, and the other direction ends.
    let _ = proxy.shutdown(Shutdown::Both);
    let _ = app.shutdown(Shutdown::Both);
    let _ = back.join();
    sent
}

fn invalid(e: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e)
}

/// The app's side: its authentication rewritten, then its messages, its
/// replies only to calls it was given.
fn from_app(mut app: &UnixStream, shared: &Shared, uid: u32) -> io::Result<()> {
    app.set_read_timeout(Some(AUTH_WAIT))?;
    let mut auth = Auth::new(uid);
    let mut buf = vec![0u8; 64 * 1024];
    let rest = loop {
        let got = app.read(&mut buf)?;
        if got == 0 {
            return Ok(());
        }
        match auth.feed(&buf[..got]).map_err(invalid)? {
            Fed::More(bytes) => lock(&shared.to_proxy).stream.write_all(&bytes)?,
            Fed::Done {
                auth,
                answers,
                rest,
            } => {
                // Known before the bus can answer BEGIN's messages.
                *lock(&shared.answers) = Some(answers);
                lock(&shared.to_proxy).stream.write_all(&auth)?;
                break rest;
            }
        }
    };
    app.set_read_timeout(None)?;
    let mut framer = Framer::at_most(APP_MESSAGE_MAX);
    // Held from a message's first byte to its last.
    let mut held: Option<MutexGuard<'_, ToProxy>> = None;
    to_proxy(&mut framer, &rest, shared, &mut held)?;
    loop {
        // Backpressure: no more of the app's calls while too many wait
        // (until the bus's side ends: then none waits any more).
        let mut serials = lock(&shared.serials);
        while serials.full() {
            serials = match shared.replied.wait_timeout(serials, Duration::from_secs(1)) {
                Ok((guard, _)) => guard,
                Err(poisoned) => poisoned.into_inner().0,
            };
        }
        drop(serials);
        let got = app.read(&mut buf)?;
        if got == 0 {
            return Ok(());
        }
        to_proxy(&mut framer, &buf[..got], shared, &mut held)?;
    }
}

/// Passes `data`, the app's bytes, on to the proxy: its replies only to
/// calls it was given. `held` is the proxy's side while a message is only
/// partly written.
fn to_proxy<'a>(
    framer: &mut Framer,
    data: &[u8],
    shared: &'a Shared,
    held: &mut Option<MutexGuard<'a, ToProxy>>,
) -> io::Result<()> {
    let pieces = framer
        .feed(data, |h, _| {
            let pass = lock(&shared.calls).reply(h);
            if !pass {
                tracing::debug!(serial = ?h.reply_serial, "dropped a reply to no call of the app's");
            }
            pass
        })
        .map_err(invalid)?;
    for piece in pieces {
        let ends = piece.ends;
        let to = match held.as_mut() {
            Some(to) => to,
            None => held.insert(lock(&shared.to_proxy)),
        };
        to.write_piece(piece, &shared.serials)?;
        if ends {
            *held = None;
        }
    }
    Ok(())
}

/// The bus's side: the answers to the authentication, then messages; the
/// relay's own replies go to the proxy.
fn from_bus(mut proxy: &UnixStream, mut app: &UnixStream, shared: &Shared) -> io::Result<()> {
    app.set_write_timeout(Some(APP_WRITE_WAIT))?;
    let mut buf = vec![0u8; 64 * 1024];
    let mut answers = Answers::default();
    let rest = loop {
        let got = proxy.read(&mut buf)?;
        if got == 0 {
            return Ok(());
        }
        let (lines, rest) = answers
            .feed(&buf[..got], || *lock(&shared.answers))
            .map_err(invalid)?;
        app.write_all(&lines)?;
        if let Some(rest) = rest {
            break rest;
        }
    };
    let mut framer = Framer::default();
    to_app(&mut framer, &rest, app, shared)?;
    loop {
        let got = proxy.read(&mut buf)?;
        if got == 0 {
            return Ok(());
        }
        to_app(&mut framer, &buf[..got], app, shared)?;
    }
}

/// Passes `data`, the bus's bytes, on to the app as [`from_bus_judge`]
/// says; the relay's own replies go to the proxy.
fn to_app(
    framer: &mut Framer,
    data: &[u8],
    mut app: &UnixStream,
    shared: &Shared,
) -> io::Result<()> {
    let mut answer = Vec::new();
    let pieces = framer
        .feed(data, |h, head| from_bus_judge(h, head, shared, &mut answer))
        .map_err(invalid)?;
    for piece in pieces {
        app.write_all(&piece.bytes)?;
    }
    for call in answer {
        lock(&shared.to_proxy).write_reply(&call)?;
    }
    Ok(())
}

/// Whether a message from the bus goes to the app: a reply only to one of
/// its calls, its serial given back; a call as [`Calls::call`] says
/// (`answer` collects those the relay answers).
fn from_bus_judge(
    header: &Header,
    head: &mut [u8],
    shared: &Shared,
    answer: &mut Vec<Header>,
) -> bool {
    // Only what is for the app (the reply to its Hello names it first):
    // never another connection's messages, an old proxy's eavesdropping.
    {
        let mut own = lock(&shared.own_name);
        match (own.as_deref(), header.destination.as_deref()) {
            (None, Some(name)) if header.kind == wire::METHOD_RETURN => {
                *own = Some(name.to_owned());
            }
            (Some(own), Some(name)) if own != name => return false,
            _ => {}
        }
    }
    match header.kind {
        wire::METHOD_RETURN | wire::ERROR => {
            let theirs = header
                .reply_serial
                .and_then(|ours| lock(&shared.serials).take(ours));
            shared.replied.notify_all();
            match (theirs, header.reply_serial_at) {
                (Some(theirs), Some(at)) => {
                    wire::set_u32(head, at, header.little, theirs);
                    true
                }
                _ => false,
            }
        }
        _ => match lock(&shared.calls).call(header) {
            Call::Deliver => true,
            Call::Answer => {
                answer.push(header.clone());
                false
            }
            Call::Drop => false,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(member: &str, serial: u32, flags: u8) -> Header {
        Header {
            kind: wire::METHOD_CALL,
            flags,
            serial,
            member: Some(member.into()),
            sender: Some(":1.5".into()),
            ..Header::default()
        }
    }

    fn reply(to: &str, serial: u32) -> Header {
        Header {
            kind: wire::METHOD_RETURN,
            flags: wire::NO_REPLY_EXPECTED,
            serial: 9,
            reply_serial: Some(serial),
            destination: Some(to.into()),
            ..Header::default()
        }
    }

    #[test]
    fn the_app_answers_only_what_it_was_asked_once() {
        let mut calls = Calls::default();
        assert_eq!(calls.call(&call("GetText", 10, 0)), Call::Deliver);
        assert!(!calls.reply(&reply(":1.5", 11)), "a call it never saw");
        assert!(!calls.reply(&reply(":1.6", 10)), "someone else's");
        assert!(calls.reply(&reply(":1.5", 10)));
        assert!(!calls.reply(&reply(":1.5", 10)), "twice");
        // A call that wants no reply gets none.
        assert_eq!(
            calls.call(&call("Notify", 12, wire::NO_REPLY_EXPECTED)),
            Call::Deliver
        );
        assert!(!calls.reply(&reply(":1.5", 12)));
        // Signals and calls from the app pass.
        let signal = Header {
            kind: 4,
            serial: 3,
            ..Header::default()
        };
        assert!(calls.reply(&signal));
        assert!(calls.reply(&call("Embed", 4, 0)));
        // A signal or call that names a serial to reply to is not a reply,
        // yet libdbus would take it for one: it never passes.
        assert_eq!(calls.call(&call("GetText", 30, 0)), Call::Deliver);
        let forged = Header {
            kind: 4,
            serial: 5,
            reply_serial: Some(30),
            destination: Some(":1.5".into()),
            ..Header::default()
        };
        assert!(!calls.reply(&forged));
        let forged_call = Header {
            reply_serial: Some(30),
            ..call("Embed", 6, 0)
        };
        assert!(!calls.reply(&forged_call));
    }

    #[test]
    fn the_relay_answers_for_the_app_s_own_bus() {
        let mut calls = Calls::default();
        assert_eq!(calls.call(&call(BUS_ADDRESS_METHOD, 20, 0)), Call::Answer);
        let quiet = call(BUS_ADDRESS_METHOD, 21, wire::NO_REPLY_EXPECTED);
        assert_eq!(calls.call(&quiet), Call::Drop);
        // The app can never answer it.
        assert!(!calls.reply(&reply_header(20)));
    }

    fn reply_header(serial: u32) -> Header {
        reply(":1.5", serial)
    }

    #[test]
    fn the_apps_calls_get_their_own_serials_back() {
        let mut serials = Serials::default();
        serials.insert(7, 100);
        assert_eq!(serials.take(8), None);
        assert_eq!(serials.take(7), Some(100));
        assert_eq!(serials.take(7), None, "once");
        for ours in 1..=(CALLS_MAX as u32 + 1) {
            serials.insert(ours, ours + 1000);
        }
        assert_eq!(serials.take(1), None, "the oldest is forgotten");
        assert_eq!(serials.take(2), Some(1002));
    }

    #[test]
    fn the_app_waits_for_replies_only_while_they_can_come() {
        let mut serials = Serials::default();
        for ours in 1..=(PENDING_MAX as u32) {
            serials.insert(ours, ours);
        }
        assert!(serials.full());
        serials.close();
        assert!(!serials.full());
        assert_eq!(serials.take(1), None);
        serials.insert(100, 1);
        assert!(!serials.full(), "nothing waits once the bus is gone");
    }

    /// A method call wanting a reply, as libdbus writes it (little-endian).
    fn call_bytes(serial: u32) -> Vec<u8> {
        let mut fields = Vec::new();
        for (code, sig, s) in [
            (1u8, b'o', "/org/a11y/atspi/accessible/root"),
            (3, b's', "GetText"),
        ] {
            fields.resize(fields.len().div_ceil(8) * 8, 0);
            fields.extend_from_slice(&[code, 1, sig, 0]);
            fields.extend_from_slice(&(s.len() as u32).to_le_bytes());
            fields.extend_from_slice(s.as_bytes());
            fields.push(0);
        }
        let mut msg = vec![b'l', wire::METHOD_CALL, 0, 1];
        msg.extend_from_slice(&0u32.to_le_bytes());
        msg.extend_from_slice(&serial.to_le_bytes());
        msg.extend_from_slice(&(fields.len() as u32).to_le_bytes());
        msg.extend_from_slice(&fields);
        msg.resize(msg.len().div_ceil(8) * 8, 0);
        msg
    }

    /// The bus goes away while the app waits for [`PENDING_MAX`] replies:
    /// the connection ends all the same (it used to wait forever, and its
    /// place among [`CONNECTIONS_MAX`] was never given back).
    #[test]
    fn a_connection_waiting_for_replies_ends_with_the_bus() {
        let dir = std::env::temp_dir().join(format!("wsbox-relay-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let upstream = dir.join("proxy");
        let _ = std::fs::remove_file(&upstream);
        let listener = UnixListener::bind(&upstream).unwrap();
        let calls: Vec<u8> = (1..=(PENDING_MAX as u32)).flat_map(call_bytes).collect();
        let wanted = calls.len();
        // The proxy: accepts the authentication, takes every call, answers
        // none, and goes.
        let proxy = std::thread::spawn(move || {
            let (mut bus, _) = listener.accept().unwrap();
            bus.write_all(b"OK 0123456789abcdef0123456789abcdef\r\n")
                .unwrap();
            let mut got = Vec::new();
            let mut buf = [0u8; 4096];
            loop {
                let n = bus.read(&mut buf).unwrap();
                assert_ne!(n, 0, "the relay closed first");
                got.extend_from_slice(&buf[..n]);
                let begin = got.windows(7).position(|w| w == b"BEGIN\r\n");
                if begin.is_some_and(|at| got.len() - at - 7 >= wanted) {
                    return;
                }
            }
        });
        let (app, mut ours) = UnixStream::pair().unwrap();
        let (done_tx, done) = std::sync::mpsc::channel();
        let relay_upstream = upstream.clone();
        std::thread::spawn(move || {
            let _ = done_tx.send(relay(app, &relay_upstream, 1000).is_ok());
        });
        ours.write_all(b"\0AUTH EXTERNAL 30\r\nBEGIN\r\n").unwrap();
        ours.write_all(&calls).unwrap();
        proxy.join().unwrap();
        let ended = done.recv_timeout(Duration::from_secs(10));
        let _ = std::fs::remove_dir_all(&dir);
        assert!(
            ended.is_ok(),
            "the relay still waits for replies from a bus that is gone"
        );
        drop(ours);
    }

    #[test]
    fn old_calls_are_forgotten_past_the_limit() {
        let mut calls = Calls::default();
        for serial in 1..=(CALLS_MAX as u32 + 10) {
            calls.call(&call("GetText", serial, 0));
        }
        assert_eq!(calls.by_key.len(), CALLS_MAX);
        assert_eq!(calls.by_age.len(), CALLS_MAX);
        assert!(!calls.reply(&reply_header(10)));
        assert!(calls.reply(&reply_header(11)));
        assert!(calls.reply(&reply_header(CALLS_MAX as u32 + 10)));
    }
}
