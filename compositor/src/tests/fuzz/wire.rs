//! A raw Wayland client: it writes messages to the socket itself, so it can
//! send what no client library would (wrong sizes, strings without their NUL,
//! arrays past the end, stale or made-up object ids, 28 fds at once), and it
//! decodes the compositor's events only as far as the fuzzer needs: which
//! objects exist, the globals, and recent serials.

use std::collections::HashMap;
use std::io::{IoSlice, IoSliceMut};
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::net::UnixStream;

use rustix::net::{
    recvmsg, sendmsg, RecvAncillaryBuffer, RecvFlags, SendAncillaryBuffer, SendAncillaryMessage,
    SendFlags,
};

use super::protocol::{Kind, Protocols};

/// First id of the server's id range.
pub const SERVER_ID_START: u32 = 0xff00_0000;

/// An argument as it goes on the wire.
#[derive(Debug)]
pub enum Val {
    U32(u32),
    /// A string with its NUL; `None` is the null string.
    Str(Option<Vec<u8>>),
    /// A string or array whose length field says `len` whatever `bytes` holds.
    Raw {
        len: u32,
        bytes: Vec<u8>,
    },
    Array(Vec<u8>),
    Fd(OwnedFd),
}

/// A live object of the client: interface index and version.
#[derive(Debug, Clone, Copy)]
pub struct Obj {
    pub interface: usize,
    pub version: u32,
}

/// Encodes one message; the fds go beside it.
pub fn encode(object: u32, opcode: u16, args: Vec<Val>) -> (Vec<u8>, Vec<OwnedFd>) {
    let mut body = Vec::new();
    let mut fds = Vec::new();
    for arg in args {
        match arg {
            Val::U32(v) => body.extend_from_slice(&v.to_ne_bytes()),
            Val::Str(None) => body.extend_from_slice(&0u32.to_ne_bytes()),
            Val::Str(Some(mut s)) => {
                s.push(0);
                put_bytes(&mut body, s.len() as u32, &s);
            }
            Val::Raw { len, bytes } => put_bytes(&mut body, len, &bytes),
            Val::Array(a) => put_bytes(&mut body, a.len() as u32, &a),
            Val::Fd(fd) => fds.push(fd),
        }
    }
    let size = (body.len() + 8) as u32;
    (header(object, opcode, size, body), fds)
}

/// A message with whatever size field the caller wants.
pub fn header(object: u32, opcode: u16, size: u32, body: Vec<u8>) -> Vec<u8> {
    let mut msg = Vec::with_capacity(body.len() + 8);
    msg.extend_from_slice(&object.to_ne_bytes());
    msg.extend_from_slice(&((size << 16) | u32::from(opcode)).to_ne_bytes());
    msg.extend_from_slice(&body);
    msg
}

fn put_bytes(body: &mut Vec<u8>, len: u32, bytes: &[u8]) {
    body.extend_from_slice(&len.to_ne_bytes());
    body.extend_from_slice(bytes);
    while !body.len().is_multiple_of(4) {
        body.push(0);
    }
}

/// The client end of one connection.
#[derive(Debug)]
pub struct RawClient {
    stream: UnixStream,
    pub objects: HashMap<u32, Obj>,
    /// Ids the server has released (delete_id), reusable.
    free_ids: Vec<u32>,
    next_id: u32,
    /// Objects created recently, most recent last, to act on them often.
    pub recent: Vec<u32>,
    /// (name, interface, version) from wl_registry.global.
    pub globals: Vec<(u32, String, u32)>,
    pub serials: Vec<u32>,
    inbuf: Vec<u8>,
    /// Set once the server closed the connection or sent wl_display.error.
    pub dead: bool,
    /// Set when a send failed: the server is gone, reading may still work.
    pub write_closed: bool,
    /// The wl_display.error that ended the connection: "code: message".
    pub error: Option<String>,
    pub messages_sent: u64,
}

impl RawClient {
    pub fn new(stream: UnixStream, p: &Protocols) -> Self {
        stream.set_nonblocking(true).expect("nonblocking");
        let mut objects = HashMap::new();
        let display = p.index("wl_display").expect("wl_display");
        objects.insert(
            1,
            Obj {
                interface: display,
                version: 1,
            },
        );
        Self {
            stream,
            objects,
            free_ids: Vec::new(),
            next_id: 2,
            recent: Vec::new(),
            globals: Vec::new(),
            serials: Vec::new(),
            inbuf: Vec::new(),
            dead: false,
            write_closed: false,
            error: None,
            messages_sent: 0,
        }
    }

    /// The next id a well-behaved client would use.
    pub fn new_id(&mut self, reuse: bool) -> u32 {
        if reuse {
            if let Some(id) = self.free_ids.pop() {
                return id;
            }
        }
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    pub fn created(&mut self, id: u32, obj: Obj) {
        self.objects.insert(id, obj);
        self.recent.push(id);
        if self.recent.len() > 16 {
            self.recent.remove(0);
        }
    }

    pub fn destroyed(&mut self, id: u32) {
        self.objects.remove(&id);
        self.recent.retain(|r| *r != id);
    }

    /// Sends one message with its fds. Returns false when the socket is full
    /// (pump the server and try again) and marks the client dead when the
    /// server is gone.
    pub fn send(&mut self, bytes: &[u8], fds: &[OwnedFd]) -> bool {
        if self.dead || self.write_closed {
            return true;
        }
        let borrowed: Vec<BorrowedFd<'_>> = fds.iter().map(AsFd::as_fd).collect();
        let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(253))];
        let mut ancillary = SendAncillaryBuffer::new(&mut space);
        if !borrowed.is_empty() && !ancillary.push(SendAncillaryMessage::ScmRights(&borrowed)) {
            panic!("{} fds do not fit in one message", borrowed.len());
        }
        let mut offset = 0;
        while offset < bytes.len() {
            let iov = [IoSlice::new(&bytes[offset..])];
            let flags = SendFlags::NOSIGNAL | SendFlags::DONTWAIT;
            let sent = if offset == 0 {
                sendmsg(&self.stream, &iov, &mut ancillary, flags)
            } else {
                sendmsg(
                    &self.stream,
                    &iov,
                    &mut SendAncillaryBuffer::default(),
                    flags,
                )
            };
            match sent {
                Ok(n) => offset += n,
                Err(rustix::io::Errno::AGAIN) if offset == 0 => return false,
                // A half-sent message: the rest must follow, whatever it costs.
                Err(rustix::io::Errno::AGAIN) => std::thread::yield_now(),
                Err(_) => {
                    // The server closed the connection; what it said last
                    // (an error event) may still be waiting to be read.
                    self.write_closed = true;
                    return true;
                }
            }
        }
        self.messages_sent += 1;
        true
    }

    /// Reads and decodes whatever the server sent.
    pub fn recv(&mut self, p: &Protocols) {
        let mut buf = [0u8; 4096];
        while !self.dead {
            let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(28))];
            let mut ancillary = RecvAncillaryBuffer::new(&mut space);
            let mut iov = [IoSliceMut::new(&mut buf)];
            match recvmsg(
                &self.stream,
                &mut iov,
                &mut ancillary,
                RecvFlags::DONTWAIT | RecvFlags::CMSG_CLOEXEC,
            ) {
                Ok(msg) if msg.bytes == 0 => self.dead = true,
                Ok(msg) => {
                    // The fds (keymaps, clipboard pipes) are closed on drop.
                    ancillary.drain().for_each(drop);
                    self.inbuf.extend_from_slice(&buf[..msg.bytes]);
                }
                Err(rustix::io::Errno::AGAIN) => break,
                Err(_) => self.dead = true,
            }
        }
        self.decode(p);
    }

    fn decode(&mut self, p: &Protocols) {
        let mut at = 0;
        while self.inbuf.len() - at >= 8 {
            let word = |i: usize| {
                u32::from_ne_bytes([
                    self.inbuf[i],
                    self.inbuf[i + 1],
                    self.inbuf[i + 2],
                    self.inbuf[i + 3],
                ])
            };
            let object = word(at);
            let size = (word(at + 4) >> 16) as usize;
            let opcode = (word(at + 4) & 0xffff) as usize;
            if size < 8 || at + size > self.inbuf.len() {
                break;
            }
            let body: Vec<u32> = (at + 8..at + size).step_by(4).map(word).collect();
            let body_bytes = self.inbuf[at + 8..at + size].to_vec();
            at += size;
            self.event(p, object, opcode, &body, &body_bytes);
        }
        self.inbuf.drain(..at);
    }

    fn event(&mut self, p: &Protocols, object: u32, opcode: usize, words: &[u32], bytes: &[u8]) {
        let Some(obj) = self.objects.get(&object).copied() else {
            return;
        };
        let interface = &p.interfaces[obj.interface];
        let Some(message) = interface.events.get(opcode) else {
            return;
        };
        let mut i = 0;
        let mut strings = Vec::new();
        let mut uints = Vec::new();
        for arg in &message.args {
            match arg.kind {
                Kind::Fd => {}
                Kind::String | Kind::Array => {
                    let len = words.get(i).copied().unwrap_or(0) as usize;
                    let start = (i + 1) * 4;
                    let s = bytes
                        .get(start..start + len.saturating_sub(1))
                        .unwrap_or(&[]);
                    strings.push(String::from_utf8_lossy(s).into_owned());
                    i += 1 + len.div_ceil(4);
                }
                Kind::NewId => {
                    let id = words.get(i).copied().unwrap_or(0);
                    if let Some(iface) = arg.interface.as_deref().and_then(|n| p.index(n)) {
                        self.created(
                            id,
                            Obj {
                                interface: iface,
                                version: obj.version,
                            },
                        );
                    }
                    i += 1;
                }
                _ => {
                    let v = words.get(i).copied().unwrap_or(0);
                    if arg.name == "serial" {
                        self.serials.push(v);
                        if self.serials.len() > 8 {
                            self.serials.remove(0);
                        }
                    }
                    uints.push(v);
                    i += 1;
                }
            }
        }
        match (interface.name.as_str(), message.name.as_str()) {
            ("wl_display", "error") => {
                self.dead = true;
                self.error = Some(format!(
                    "{}: {}",
                    uints.get(1).copied().unwrap_or(0),
                    strings.first().cloned().unwrap_or_default()
                ));
            }
            ("wl_display", "delete_id") => {
                if let Some(&id) = uints.first() {
                    self.destroyed(id);
                    if id < SERVER_ID_START {
                        self.free_ids.push(id);
                    }
                }
            }
            ("wl_registry", "global") => {
                if let (Some(&name), Some(iface), Some(&version)) =
                    (uints.first(), strings.first(), uints.get(1))
                {
                    self.globals.push((name, iface.clone(), version));
                }
            }
            _ => {}
        }
        if message.destructor {
            self.destroyed(object);
        }
    }
}
