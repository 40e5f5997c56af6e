//! A hostile Wayland client for the end-to-end fault tests (tests/faults.rs):
//! run inside a sandbox, it throws resource-exhaustion cases at wsbox's
//! compositor, each on a connection of its own, written straight to the
//! socket (no client library would send these): 100k wl_display.sync
//! without reading a reply, 10k surfaces, 70k objects, 2000 rectangles in
//! one region, a string without its NUL, a string past the end of its
//! message, a null string where none is allowed, a message shorter than its
//! arguments, garbage. It prints one line per case: `CASE cut-off` when the
//! compositor ended that connection, `CASE alive` when it did not; then it
//! checks that a polite connection still gets its sync answered and exits 0.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::time::{Duration, Instant};

fn socket_path() -> PathBuf {
    let dir = std::env::var_os("XDG_RUNTIME_DIR").unwrap_or_default();
    let name = std::env::var_os("WAYLAND_DISPLAY").unwrap_or_else(|| "wayland-0".into());
    PathBuf::from(dir).join(name)
}

fn message(object: u32, opcode: u16, args: &[u32]) -> Vec<u8> {
    let mut m = Vec::new();
    m.extend_from_slice(&object.to_ne_bytes());
    let size = 8 + 4 * args.len() as u32;
    m.extend_from_slice(&((size << 16) | u32::from(opcode)).to_ne_bytes());
    for a in args {
        m.extend_from_slice(&a.to_ne_bytes());
    }
    m
}

/// A string argument: length (with the NUL), bytes, NUL, padding.
fn string(s: &str) -> Vec<u32> {
    let mut bytes = s.as_bytes().to_vec();
    bytes.push(0);
    let len = bytes.len() as u32;
    while !bytes.len().is_multiple_of(4) {
        bytes.push(0);
    }
    std::iter::once(len)
        .chain(
            bytes
                .chunks(4)
                .map(|c| u32::from_ne_bytes([c[0], c[1], c[2], c[3]])),
        )
        .collect()
}

struct Conn {
    stream: UnixStream,
    globals: Vec<(u32, String, u32)>,
    /// The next object id a well-behaved client would use.
    next_id: u32,
}

impl Conn {
    fn new() -> std::io::Result<Self> {
        let stream = UnixStream::connect(socket_path())?;
        let mut conn = Self {
            stream,
            globals: Vec::new(),
            next_id: 4,
        };
        // wl_display.get_registry(2), then a sync (3) to know all arrived.
        conn.send(&message(1, 1, &[2]))?;
        conn.send(&message(1, 0, &[3]))?;
        conn.read_globals()?;
        Ok(conn)
    }

    fn send(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.stream.write_all(bytes)
    }

    /// Reads events until the callback 3 is done, keeping wl_registry.global.
    fn read_globals(&mut self) -> std::io::Result<()> {
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        loop {
            let n = self.stream.read(&mut chunk)?;
            if n == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            buf.extend_from_slice(&chunk[..n]);
            let mut at = 0;
            while buf.len() - at >= 8 {
                let word =
                    |i: usize| u32::from_ne_bytes([buf[i], buf[i + 1], buf[i + 2], buf[i + 3]]);
                let (object, size, opcode) = (
                    word(at),
                    (word(at + 4) >> 16) as usize,
                    word(at + 4) & 0xffff,
                );
                if size < 8 || at + size > buf.len() {
                    break;
                }
                if object == 2 && opcode == 0 {
                    let name = word(at + 8);
                    let len = word(at + 12) as usize;
                    let text =
                        String::from_utf8_lossy(&buf[at + 16..at + 16 + len.saturating_sub(1)])
                            .into_owned();
                    let version = word(at + 16 + len.div_ceil(4) * 4);
                    self.globals.push((name, text, version));
                }
                if object == 3 && opcode == 0 {
                    return Ok(());
                }
                at += size;
            }
            buf.drain(..at);
        }
    }

    /// Binds `interface` as object `id`.
    fn bind(&mut self, interface: &str, id: u32) -> std::io::Result<()> {
        let (name, _, version) = self
            .globals
            .iter()
            .find(|g| g.1 == interface)
            .cloned()
            .ok_or(std::io::ErrorKind::NotFound)?;
        let mut args = vec![name];
        args.extend(string(interface));
        args.extend([version, id]);
        self.send(&message(2, 0, &args))
    }

    /// Whether the compositor has ended this connection: a sync sent now is
    /// never answered (EOF or an error event comes instead).
    fn cut_off(mut self) -> bool {
        let _ = self.stream.set_read_timeout(Some(Duration::from_secs(5)));
        let probe = self.next_id;
        if self.send(&message(1, 0, &[probe])).is_err() {
            return true;
        }
        let mut chunk = [0u8; 4096];
        let started = Instant::now();
        let mut buf = Vec::new();
        while started.elapsed() < Duration::from_secs(10) {
            match self.stream.read(&mut chunk) {
                Ok(0) | Err(_) => return true,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
            // wl_display.error (object 1, opcode 0) or our callback's done.
            let mut at = 0;
            while buf.len() - at >= 8 {
                let word =
                    |i: usize| u32::from_ne_bytes([buf[i], buf[i + 1], buf[i + 2], buf[i + 3]]);
                let (object, size, opcode) = (
                    word(at),
                    (word(at + 4) >> 16) as usize,
                    word(at + 4) & 0xffff,
                );
                if size < 8 || at + size > buf.len() {
                    break;
                }
                if object == 1 && opcode == 0 {
                    return true;
                }
                if object == probe {
                    return false;
                }
                at += size;
            }
            buf.drain(..at);
        }
        false
    }
}

fn case(name: &str, f: impl FnOnce(&mut Conn) -> std::io::Result<()>) {
    let result = Conn::new().map(|mut conn| {
        // A write refused because the compositor already hung up counts as
        // cut off too.
        let sent = f(&mut conn);
        sent.is_err() || conn.cut_off()
    });
    match result {
        Ok(true) => println!("{name} cut-off"),
        Ok(false) => println!("{name} alive"),
        Err(e) => println!("{name} error {e}"),
    }
}

fn main() {
    case("sync-flood-unread", |c| {
        let mut burst = Vec::new();
        for _ in 0..100_000 {
            burst.extend(message(1, 0, &[4]));
        }
        c.next_id = 5;
        // Never read: the replies pile up on the compositor's side.
        let _ = c.stream.set_write_timeout(Some(Duration::from_secs(10)));
        c.send(&burst)
    });
    case("surfaces-10k", |c| {
        c.bind("wl_compositor", 4)?;
        let mut burst = Vec::new();
        for id in 5..10_005 {
            burst.extend(message(4, 0, &[id]));
        }
        c.next_id = 10_005;
        c.send(&burst)
    });
    case("objects-70k", |c| {
        c.bind("wl_compositor", 4)?;
        let mut burst = Vec::new();
        for id in 5..70_005 {
            burst.extend(message(4, 1, &[id]));
        }
        c.next_id = 70_005;
        c.send(&burst)
    });
    case("region-rects-2000", |c| {
        c.bind("wl_compositor", 4)?;
        let mut burst = message(4, 1, &[5]);
        c.next_id = 6;
        for i in 0..2000 {
            burst.extend(message(5, 1, &[i, i, 1, 1]));
        }
        c.send(&burst)
    });
    case("string-without-nul", |c| {
        // wl_registry.bind whose interface string counts no NUL.
        let mut args = vec![1, 4];
        args.extend([u32::from_ne_bytes(*b"wl_c"), u32::from_ne_bytes(*b"ompo")]);
        args.extend([1, 4]);
        c.send(&message(2, 0, &args))
    });
    case("string-past-the-end", |c| {
        c.send(&message(2, 0, &[1, 4000, 0x6c77]))
    });
    case("null-string", |c| {
        // wl_data_source.offer(null): the mime type may not be null, and
        // wayland-server's generated code panicked on it.
        c.bind("wl_data_device_manager", 4)?;
        c.send(&message(4, 0, &[5]))?;
        c.next_id = 6;
        c.send(&message(5, 0, &[0]))
    });
    case("argument-past-the-end", |c| {
        // wl_display.sync whose header counts no new_id.
        c.send(&message(1, 0, &[]))
    });
    case("garbage", |c| c.send(&[0xff; 64]));
    // After all that, a polite connection is answered.
    match Conn::new().map(Conn::cut_off) {
        Ok(false) => println!("polite alive"),
        Ok(true) => {
            println!("polite cut-off");
            std::process::exit(1);
        }
        Err(e) => {
            println!("polite error {e}");
            std::process::exit(1);
        }
    }
}
