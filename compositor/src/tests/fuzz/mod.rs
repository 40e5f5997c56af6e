//! The fuzzer: seeded request sequences, generated from the protocol XML of
//! every offered global, sent by raw wire-level clients (see [`wire`])
//! against a headless compositor in this thread, mixed with compositor-side
//! events (typing, clicks, output resizes, screenshots) and malformed
//! messages.
//!
//! One execution is one seed: a fresh compositor, a witness client with a
//! window, one to three raw clients sending a few hundred messages. After it,
//! every raw client is gone, and the compositor must still render, take a
//! screenshot, answer the witness, and hold no window but the witness's. A
//! panic anywhere is a bug: the seed is printed, and it goes into
//! `compositor/fuzz/corpus.txt`, which every run replays first.
//!
//! - `WSBOX_FUZZ_SECS`: how long to generate new seeds after the corpus
//!   (default 3; `make fuzz` and CI use 120);
//! - `WSBOX_FUZZ_SEED`: replay this one seed, printing every message;
//! - `WSBOX_FUZZ_BASE`: the first new seed (default: from the clock, or a
//!   fixed one under `CI=true`, so CI runs the same seeds every time).
//!
//! The run goes past its time budget (up to 4 times it) until every request
//! of every interface the offered globals lead to was sent, and fails if one
//! never was. A send the compositor never reads (the connection stalled) is
//! a failure, as is an execution longer than 60 s (a watchdog on a monotonic
//! clock aborts the process, naming the seed). Beyond the protocol's values,
//! the fuzzer sends null strings where none is allowed, up to 253 fds in one
//! sendmsg, sockets, directories, O_PATH files and sealed memfds as fds, and
//! truncates pool files under the compositor while it renders.

pub mod protocol;
pub mod wire;

use std::cell::RefCell;
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use nix::fcntl::OFlag;
use nix::sys::memfd::{memfd_create, MFdFlags};
use nix::unistd::pipe2;

use super::fixture::{Fixture, BLUE};
use protocol::{Kind, Protocols};
use wire::{encode, header, Obj, RawClient, Val};

pub fn protocols_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/protocols")
}

fn corpus_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus.txt")
}

/// splitmix64: small, seedable, the same everywhere.
#[derive(Debug, Clone)]
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
    /// True with probability `percent` %.
    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> Option<&'a T> {
        (!items.is_empty()).then(|| &items[self.below(items.len())])
    }
}

/// Values that break arithmetic.
const INTERESTING: &[u32] = &[
    0,
    1,
    2,
    3,
    4,
    7,
    8,
    16,
    64,
    100,
    255,
    256,
    1000,
    4096,
    65535,
    65536,
    0x7fff_ffff,
    0x8000_0000,
    0xffff_ffff,
    0xffff_fffe,
    0x4000_0000,
    0x2000_0000,
];

/// What one execution did.
#[derive(Debug, Default, Clone, Copy)]
struct Stats {
    messages: u64,
    malformed: u64,
    killed: u64,
}

thread_local! {
    /// (interface, opcode) of every well-formed request sent, for the
    /// coverage line of the summary.
    static COVERED: RefCell<std::collections::HashSet<(usize, usize)>> =
        RefCell::new(std::collections::HashSet::new());
}

/// One execution, and its log of what was sent.
struct Exec<'p> {
    p: &'p Protocols,
    rng: Rng,
    f: Fixture,
    witness: usize,
    raw: Vec<RawClient>,
    log: Rc<RefCell<Vec<String>>>,
    verbose: bool,
    stats: Stats,
    /// Files and pipes kept open while the compositor may read them.
    keep: Vec<OwnedFd>,
    /// The memfds sent as pools, to truncate under the compositor.
    pools: Vec<std::fs::File>,
    /// Per mille of choices that bend a value out of what the protocol
    /// allows: 0 for a polite execution that goes deep, up to 100.
    hostility: usize,
}

impl<'p> Exec<'p> {
    fn new(p: &'p Protocols, seed: u64, log: Rc<RefCell<Vec<String>>>, verbose: bool) -> Self {
        let mut f = Fixture::new();
        let witness = f.add_client();
        f.map_window(witness, "witness", true, Some((40, 30)), BLUE);
        let mut rng = Rng(seed);
        let hostility = *rng.pick(&[0, 0, 3, 10, 30, 100]).unwrap_or(&0);
        Self {
            p,
            hostility,
            rng,
            f,
            witness,
            raw: Vec::new(),
            log,
            verbose,
            stats: Stats::default(),
            keep: Vec::new(),
            pools: Vec::new(),
        }
    }

    /// Whether this choice bends the rules.
    fn bend(&mut self) -> bool {
        self.rng.below(1000) < self.hostility
    }

    fn note(&self, line: String) {
        if self.verbose {
            eprintln!("{line}");
        }
        let mut log = self.log.borrow_mut();
        log.push(line);
        if log.len() > 200 {
            log.remove(0);
        }
    }

    fn connect(&mut self) {
        let (server, client) = UnixStream::pair().expect("socketpair");
        self.f.state.insert_client(server).expect("insert client");
        let mut c = RawClient::new(client, self.p);
        let registry = c.new_id(false);
        let iface = self.p.index("wl_registry").expect("wl_registry");
        c.created(
            registry,
            Obj {
                interface: iface,
                version: 1,
            },
        );
        let (bytes, _) = encode(1, 1, vec![Val::U32(registry)]);
        c.send(&bytes, &[]);
        self.raw.push(c);
        self.pump();
    }

    /// The compositor handles what every client sent; the clients read.
    fn pump(&mut self) {
        self.f.dispatch();
        for c in &mut self.raw {
            c.recv(self.p);
        }
    }

    /// Sends a message, pumping the server while the socket is full.
    fn send(&mut self, client: usize, bytes: Vec<u8>, fds: Vec<OwnedFd>) {
        for _ in 0..1000 {
            if self.raw[client].send(&bytes, &fds) {
                self.stats.messages += 1;
                return;
            }
            self.pump();
        }
        // The server reads nothing more from this client although its
        // socket is full: a message it can neither parse nor refuse stalls
        // the connection for good (a bug, like a panic).
        panic!("the compositor stopped reading client {client}: the connection stalled");
    }

    fn run(&mut self) -> Stats {
        let clients = 1 + self.rng.below(3);
        for _ in 0..clients {
            self.connect();
        }
        let steps = 20 + self.rng.below(400);
        for step in 0..steps {
            let live: Vec<usize> = (0..self.raw.len())
                .filter(|&i| !self.raw[i].dead && !self.raw[i].write_closed)
                .collect();
            let Some(&c) = self.rng.pick(&live) else {
                // Every client was cut off: the next one meets the state
                // they left behind, up to 8 connections an execution.
                if self.raw.len() < 8 {
                    self.connect();
                    continue;
                }
                break;
            };
            match self.rng.below(100) {
                0..=3 => self.pump(),
                4..=6 => self.compositor_event(),
                7..=10 => self.map_window(c),
                11 | 12 => self.clipboard(c),
                13 if self.hostility > 0 => self.malformed(c),
                14 if self.rng.chance(10) => self.connect(),
                _ => self.request(c),
            }
            if step % 8 == 7 {
                self.pump();
            }
        }
        self.pump();
        self.pump();
        self.stats.killed = self.raw.iter().filter(|c| c.dead || c.write_closed).count() as u64;
        if std::env::var_os("WSBOX_FUZZ_ERRORS").is_some() {
            for c in &self.raw {
                // The message without the numbers, to group them.
                let e = c
                    .error
                    .clone()
                    .unwrap_or_else(|| "(alive or closed)".into());
                eprintln!(
                    "fuzz-error: {}",
                    e.split(|ch: char| ch.is_ascii_digit())
                        .collect::<Vec<_>>()
                        .join("#")
                );
            }
        }
        // Every raw client leaves; what they left behind must go with them.
        self.raw.clear();
        self.keep.clear();
        self.pools.clear();
        self.f.dispatch();
        self.f.dispatch();
        self.f.assert_alive(self.witness);
        let windows = self.f.state.windows();
        assert!(
            windows.len() == 1 && windows[0].title == "witness",
            "windows outlived their clients: {windows:?}"
        );
        assert_eq!(
            self.f.state.client_count(),
            1,
            "clients outlived their sockets"
        );
        self.stats
    }

    fn compositor_event(&mut self) {
        let (x, y) = (
            self.rng.below(400) as i32 - 40,
            self.rng.below(300) as i32 - 30,
        );
        let what = self.rng.below(9);
        self.note(format!("compositor event {what} at ({x}, {y})"));
        let (w, h) = (
            1 + self.rng.below(500) as i32,
            1 + self.rng.below(500) as i32,
        );
        let s = &mut self.f.state;
        match what {
            0 => drop(s.type_text("aZ\n")),
            1 => drop(s.click(x, y, 0x110)),
            2 => drop(s.pointer_move(x, y)),
            3 => drop(s.resize_output(w, h)),
            4 => {
                s.tick();
                s.screenshot_png().expect("screenshot");
            }
            5 => drop(s.key_combo("ctrl+shift+c")),
            6 => s.close_all(),
            7 => {
                // A client truncates a pool's file under the compositor,
                // which then renders from it.
                if let Some(file) = self.rng.pick(&self.pools) {
                    drop(file.set_len(self.rng.below(2) as u64 * 100));
                }
                s.tick();
                s.screenshot_png().expect("screenshot");
            }
            _ => s.tick(),
        }
    }

    /// A live object of `interface` (any live object when `None`); when
    /// bending or when there is none, something else.
    fn object_of(&mut self, c: usize, interface: Option<&str>) -> u32 {
        let want = interface.and_then(|n| self.p.index(n));
        let client = &self.raw[c];
        let mut matching: Vec<u32> = client
            .objects
            .iter()
            .filter(|(_, o)| want.is_none_or(|w| o.interface == w))
            .map(|(id, _)| *id)
            .collect();
        matching.sort_unstable();
        let mut any: Vec<u32> = client.objects.keys().copied().collect();
        if matching.is_empty() && self.hostility == 0 {
            // A polite client would create one first: make do with null.
            return 0;
        }
        if matching.is_empty() || self.bend() {
            // Something else: another live object, a dead or made-up id.
            any.sort_unstable();
            return match self.rng.below(3) {
                0 => *self.rng.pick(&any).unwrap_or(&1),
                1 => self.rng.below(64) as u32,
                _ => wire::SERVER_ID_START + self.rng.below(8) as u32,
            };
        }
        *self.rng.pick(&matching).unwrap_or(&1)
    }

    fn uint(&mut self, c: usize, interface: usize, arg: &protocol::Arg) -> u32 {
        if arg.name == "serial" && !self.bend() {
            if let Some(&s) = self.rng.pick(&self.raw[c].serials) {
                return s;
            }
        }
        if let Some(e) = &arg.enumeration {
            if !self.bend() {
                if let Some(values) = self.p.enum_values(interface, e) {
                    let values = values.to_vec();
                    let mut v = *self.rng.pick(&values).unwrap_or(&0);
                    if self.hostility > 0 && self.rng.chance(30) {
                        v |= *self.rng.pick(&values).unwrap_or(&0);
                    }
                    return v;
                }
            }
        }
        self.number(&arg.name)
    }

    fn number(&mut self, name: &str) -> u32 {
        if !self.bend() && self.rng.chance(90) {
            return match name {
                "scale" => 1 + self.rng.below(3) as u32,
                "x" | "y" | "dx" | "dy" => self.rng.below(300) as u32,
                _ => 1 + self.rng.below(300) as u32,
            };
        }
        let small = matches!(
            name,
            "x" | "y" | "width" | "height" | "w" | "h" | "offset" | "stride" | "size" | "scale"
        );
        match self.rng.below(10) {
            0..=5 if small => (self.rng.below(600) as i32 - 20) as u32,
            0..=3 => self.rng.below(16) as u32,
            4..=7 => *self.rng.pick(INTERESTING).unwrap_or(&0),
            _ => self.rng.next() as u32,
        }
    }

    fn string(&mut self, nullable: bool) -> Option<Vec<u8>> {
        // Null where the protocol allows it, and now and then where it does
        // not (a protocol error, never a panic).
        if (nullable && self.rng.chance(15)) || (self.hostility > 0 && self.rng.chance(4)) {
            return None;
        }
        let len = match if self.bend() { self.rng.below(10) } else { 5 } {
            0 => 0,
            1 => 200 + self.rng.below(2000),
            _ => self.rng.below(24),
        };
        let bytes = (0..len)
            .map(|_| match self.rng.below(20) {
                0 => 0xff,
                1 => 0x1b,
                2 => b'/',
                _ => b'a' + self.rng.below(26) as u8,
            })
            .collect();
        Some(bytes)
    }

    /// A file to pass: in a polite execution a memfd of at least `min` bytes.
    fn fd_of(&mut self, min: u64) -> OwnedFd {
        if !self.bend() {
            let fd = memfd_create(c"fuzz", MFdFlags::MFD_CLOEXEC).expect("memfd");
            let file = std::fs::File::from(fd);
            file.set_len(min.max(4096)).expect("set_len");
            if let Ok(copy) = file.try_clone() {
                self.pools.push(copy);
            }
            return file.into();
        }
        self.fd()
    }

    fn fd(&mut self) -> OwnedFd {
        match self.rng.below(10) {
            0 => {
                let (r, w) = pipe2(OFlag::O_CLOEXEC | OFlag::O_NONBLOCK).expect("pipe");
                if self.rng.chance(50) {
                    self.keep.push(w);
                    r
                } else {
                    self.keep.push(r);
                    w
                }
            }
            1 => std::fs::File::open("/dev/null").expect("/dev/null").into(),
            // A socket, a directory, an O_PATH file: no memory to map.
            2 => {
                let (a, b) = UnixStream::pair().expect("socketpair");
                self.keep.push(b.into());
                a.into()
            }
            3 => std::fs::File::open("/").expect("/").into(),
            4 => nix::fcntl::open(
                "/dev/null",
                OFlag::O_PATH | OFlag::O_CLOEXEC,
                nix::sys::stat::Mode::empty(),
            )
            .expect("O_PATH"),
            // A sealed memfd: it cannot grow, shrink or be written.
            5 => {
                let fd = memfd_create(
                    c"fuzz-sealed",
                    MFdFlags::MFD_CLOEXEC | MFdFlags::MFD_ALLOW_SEALING,
                )
                .expect("memfd");
                let file = std::fs::File::from(fd);
                file.set_len(4096).expect("set_len");
                let seals = nix::fcntl::SealFlag::F_SEAL_SHRINK
                    | nix::fcntl::SealFlag::F_SEAL_GROW
                    | nix::fcntl::SealFlag::F_SEAL_WRITE
                    | nix::fcntl::SealFlag::F_SEAL_SEAL;
                nix::fcntl::fcntl(&file, nix::fcntl::FcntlArg::F_ADD_SEALS(seals)).expect("seal");
                file.into()
            }
            _ => {
                let fd = memfd_create(c"fuzz", MFdFlags::MFD_CLOEXEC).expect("memfd");
                let file = std::fs::File::from(fd);
                let len = *self
                    .rng
                    .pick(&[0u64, 100, 4096, 65536, 1 << 20, 16 << 20])
                    .unwrap_or(&4096);
                file.set_len(len).expect("set_len");
                file.into()
            }
        }
    }

    /// A request generated from the XML: a live object, one of its requests,
    /// arguments of the right types with hostile values now and then.
    fn request(&mut self, c: usize) {
        let client = &self.raw[c];
        let object = if !client.recent.is_empty() && self.rng.chance(60) {
            *self.rng.pick(&client.recent).unwrap_or(&1)
        } else {
            let mut ids: Vec<u32> = client.objects.keys().copied().collect();
            ids.sort_unstable();
            *self.rng.pick(&ids).unwrap_or(&1)
        };
        let Some(obj) = self.raw[c].objects.get(&object).copied() else {
            return;
        };
        let interface = &self.p.interfaces[obj.interface];
        let requests: Vec<usize> = (0..interface.requests.len())
            .filter(|&i| interface.requests[i].since <= obj.version || self.hostility > 50)
            .collect();
        // Now and then one never sent yet (of a later version too, which
        // costs the client its connection), so that every request of the
        // growing list is sent in a short run too.
        let unsent: Vec<usize> = COVERED.with(|c| {
            let covered = c.borrow();
            (0..interface.requests.len())
                .filter(|&r| !covered.contains(&(obj.interface, r)))
                .collect()
        });
        let pool = if !unsent.is_empty() && self.rng.chance(25) {
            &unsent
        } else {
            &requests
        };
        let Some(&opcode) = self.rng.pick(pool) else {
            return;
        };
        let message = interface.requests[opcode].clone();
        let mut args = Vec::new();
        let mut created = Vec::new();
        for arg in &message.args {
            let v = match arg.kind {
                Kind::Int | Kind::Fixed => {
                    let n = self.number(&arg.name);
                    Val::U32(if arg.kind == Kind::Fixed && self.rng.chance(70) {
                        n.wrapping_mul(256)
                    } else {
                        n
                    })
                }
                Kind::Uint => Val::U32(self.uint(c, obj.interface, arg)),
                Kind::String => Val::Str(self.string(arg.nullable)),
                Kind::Array => {
                    let len = if self.bend() {
                        1000
                    } else {
                        self.rng.below(40)
                    };
                    Val::Array((0..len).map(|_| self.rng.next() as u8).collect())
                }
                Kind::Fd => Val::Fd(self.fd_of(1 << 20)),
                Kind::Object => {
                    if arg.nullable && self.rng.chance(20) {
                        Val::U32(0)
                    } else {
                        Val::U32(self.object_of(c, arg.interface.as_deref()))
                    }
                }
                Kind::NewId => {
                    let id = if self.bend() {
                        // Taken, zero, or out of sequence.
                        *self
                            .rng
                            .pick(&[0, 1, object, self.raw[c].new_id(false) + 3])
                            .unwrap_or(&0)
                    } else {
                        let reuse = self.rng.chance(50);
                        self.raw[c].new_id(reuse)
                    };
                    match arg.interface.as_deref().and_then(|n| self.p.index(n)) {
                        Some(iface) => {
                            created.push((id, iface, obj.version));
                            Val::U32(id)
                        }
                        None => {
                            // wl_registry.bind: name, interface, version, id.
                            let globals = self.raw[c].globals.clone();
                            let (name, iface_name, version) = match self.rng.pick(&globals) {
                                Some(g) if !self.bend() => g.clone(),
                                _ => {
                                    let i = self.rng.below(self.p.interfaces.len());
                                    (
                                        self.rng.below(40) as u32,
                                        self.p.interfaces[i].name.clone(),
                                        1,
                                    )
                                }
                            };
                            let bent = self.bend();
                            let version = match self.rng.below(20) {
                                0 if bent => 0,
                                1 if bent => version + 1,
                                _ => 1 + self.rng.below(version.max(1) as usize) as u32,
                            };
                            // The XML's `name` argument came just before.
                            args.pop();
                            args.push(Val::U32(name));
                            args.push(Val::Str(Some(iface_name.clone().into_bytes())));
                            args.push(Val::U32(version));
                            if let Some(iface) = self.p.index(&iface_name) {
                                created.push((id, iface, version));
                            }
                            Val::U32(id)
                        }
                    }
                }
            };
            args.push(v);
        }
        self.note(format!(
            "client {c}: {}@{object}.{} {:?}",
            interface.name,
            message.name,
            args.iter()
                .map(|a| match a {
                    Val::U32(v) => format!("{v:#x}"),
                    Val::Str(s) => format!("{:?}", s.as_deref().map(String::from_utf8_lossy)),
                    Val::Array(a) => format!("array[{}]", a.len()),
                    Val::Fd(_) => "fd".into(),
                    Val::Raw { len, .. } => format!("raw[{len}]"),
                })
                .collect::<Vec<_>>()
        ));
        COVERED.with(|c| c.borrow_mut().insert((obj.interface, opcode)));
        let (bytes, fds) = encode(object, opcode as u16, args);
        for (id, iface, version) in created {
            self.raw[c].created(
                id,
                Obj {
                    interface: iface,
                    version,
                },
            );
        }
        if message.destructor {
            self.raw[c].destroyed(object);
        }
        self.send(c, bytes, fds);
    }

    /// Sends a request by interface and request name with the given args.
    fn call(&mut self, c: usize, object: u32, request: &str, args: Vec<Val>) {
        let Some(obj) = self.raw[c].objects.get(&object).copied() else {
            return;
        };
        let interface = &self.p.interfaces[obj.interface];
        let Some(opcode) = interface.requests.iter().position(|r| r.name == request) else {
            return;
        };
        self.note(format!("client {c}: {}@{object}.{request}", interface.name));
        COVERED.with(|c| c.borrow_mut().insert((obj.interface, opcode)));
        if interface.requests[opcode].destructor {
            self.raw[c].destroyed(object);
        }
        let (bytes, fds) = encode(object, opcode as u16, args);
        self.send(c, bytes, fds);
    }

    /// A new object of `interface` made by `request` on `parent`, with the
    /// new id first and `rest` after it.
    fn make(
        &mut self,
        c: usize,
        parent: u32,
        request: &str,
        interface: &str,
        rest: Vec<Val>,
    ) -> u32 {
        let id = self.raw[c].new_id(true);
        let version = self.raw[c].objects.get(&parent).map_or(1, |o| o.version);
        if let Some(iface) = self.p.index(interface) {
            self.raw[c].created(
                id,
                Obj {
                    interface: iface,
                    version,
                },
            );
        }
        let mut args = vec![Val::U32(id)];
        args.extend(rest);
        self.call(c, parent, request, args);
        id
    }

    fn bound(&mut self, c: usize, interface: &str) -> Option<u32> {
        let iface = self.p.index(interface)?;
        if let Some((id, _)) = self.raw[c]
            .objects
            .iter()
            .find(|(_, o)| o.interface == iface)
        {
            return Some(*id);
        }
        let (name, _, version) = self.raw[c]
            .globals
            .iter()
            .find(|g| g.1 == interface)
            .cloned()?;
        let registry = self.bound_registry(c)?;
        let id = self.raw[c].new_id(true);
        self.raw[c].created(
            id,
            Obj {
                interface: iface,
                version,
            },
        );
        self.call(
            c,
            registry,
            "bind",
            vec![
                Val::U32(name),
                Val::Str(Some(interface.as_bytes().to_vec())),
                Val::U32(version),
                Val::U32(id),
            ],
        );
        Some(id)
    }

    fn bound_registry(&self, c: usize) -> Option<u32> {
        let iface = self.p.index("wl_registry")?;
        self.raw[c]
            .objects
            .iter()
            .find(|(_, o)| o.interface == iface)
            .map(|(id, _)| *id)
    }

    /// The structured path into deep states: a toplevel (or a popup or
    /// subsurface) configured, acked and showing a shm buffer, with values
    /// bent now and then.
    fn map_window(&mut self, c: usize) {
        let (Some(compositor), Some(wm), Some(shm)) = (
            self.bound(c, "wl_compositor"),
            self.bound(c, "xdg_wm_base"),
            self.bound(c, "wl_shm"),
        ) else {
            return;
        };
        let surface = self.make(c, compositor, "create_surface", "wl_surface", vec![]);
        let xdg = self.make(
            c,
            wm,
            "get_xdg_surface",
            "xdg_surface",
            vec![Val::U32(surface)],
        );
        let toplevels: Vec<u32> = {
            let t = self.p.index("xdg_toplevel");
            self.raw[c]
                .objects
                .iter()
                .filter(|(_, o)| Some(o.interface) == t)
                .map(|(id, _)| *id)
                .collect()
        };
        match self.rng.below(4) {
            0 if !toplevels.is_empty() => {
                // A popup of an existing window's xdg_surface.
                let parents: Vec<u32> = {
                    let x = self.p.index("xdg_surface");
                    self.raw[c]
                        .objects
                        .iter()
                        .filter(|(id, o)| Some(o.interface) == x && **id != xdg)
                        .map(|(id, _)| *id)
                        .collect()
                };
                let parent = *self.rng.pick(&parents).unwrap_or(&0);
                let positioner = self.make(c, wm, "create_positioner", "xdg_positioner", vec![]);
                let w = self.number("width");
                let h = self.number("height");
                self.call(c, positioner, "set_size", vec![Val::U32(w), Val::U32(h)]);
                self.call(
                    c,
                    positioner,
                    "set_anchor_rect",
                    vec![Val::U32(0), Val::U32(0), Val::U32(10), Val::U32(10)],
                );
                let popup = self.make(
                    c,
                    xdg,
                    "get_popup",
                    "xdg_popup",
                    vec![Val::U32(parent), Val::U32(positioner)],
                );
                if self.rng.chance(50) {
                    let serial = self.raw[c].serials.last().copied().unwrap_or(0);
                    let seat = self.bound(c, "wl_seat").unwrap_or(0);
                    self.call(c, popup, "grab", vec![Val::U32(seat), Val::U32(serial)]);
                }
            }
            1 => {
                // A subsurface of another surface.
                if let Some(sub) = self.bound(c, "wl_subcompositor") {
                    let parent = self.object_of(c, Some("wl_surface"));
                    let child = self.make(c, compositor, "create_surface", "wl_surface", vec![]);
                    self.make(
                        c,
                        sub,
                        "get_subsurface",
                        "wl_subsurface",
                        vec![Val::U32(child), Val::U32(parent)],
                    );
                    self.attach_buffer(c, shm, child);
                }
                let toplevel = self.make(c, xdg, "get_toplevel", "xdg_toplevel", vec![]);
                if let Some(&parent) = self.rng.pick(&toplevels) {
                    self.call(c, toplevel, "set_parent", vec![Val::U32(parent)]);
                }
            }
            _ => {
                let toplevel = self.make(c, xdg, "get_toplevel", "xdg_toplevel", vec![]);
                if self.rng.chance(50) {
                    if let Some(deco) = self.bound(c, "zxdg_decoration_manager_v1") {
                        let d = self.make(
                            c,
                            deco,
                            "get_toplevel_decoration",
                            "zxdg_toplevel_decoration_v1",
                            vec![Val::U32(toplevel)],
                        );
                        let mode = 1 + self.rng.below(2) as u32;
                        self.call(c, d, "set_mode", vec![Val::U32(mode)]);
                    }
                }
            }
        }
        self.call(c, surface, "commit", vec![]);
        self.pump();
        if let Some(&serial) = self.raw[c].serials.last() {
            self.call(c, xdg, "ack_configure", vec![Val::U32(serial)]);
        }
        self.attach_buffer(c, shm, surface);
    }

    /// The clipboard: a source set as the selection (and the primary
    /// selection), then whatever offers reached this client read into a
    /// pipe, accepted, finished or destroyed.
    fn clipboard(&mut self, c: usize) {
        let (Some(manager), Some(seat)) = (
            self.bound(c, "wl_data_device_manager"),
            self.bound(c, "wl_seat"),
        ) else {
            return;
        };
        let mime = b"text/plain;charset=utf-8".to_vec();
        let device = self.make(
            c,
            manager,
            "get_data_device",
            "wl_data_device",
            vec![Val::U32(seat)],
        );
        let source = self.make(c, manager, "create_data_source", "wl_data_source", vec![]);
        self.call(c, source, "offer", vec![Val::Str(Some(mime.clone()))]);
        let serial = self.raw[c].serials.last().copied().unwrap_or(0);
        self.call(
            c,
            device,
            "set_selection",
            vec![Val::U32(source), Val::U32(serial)],
        );
        if let Some(primary) = self.bound(c, "zwp_primary_selection_device_manager_v1") {
            let device = self.make(
                c,
                primary,
                "get_device",
                "zwp_primary_selection_device_v1",
                vec![Val::U32(seat)],
            );
            let source = self.make(
                c,
                primary,
                "create_source",
                "zwp_primary_selection_source_v1",
                vec![],
            );
            self.call(c, source, "offer", vec![Val::Str(Some(mime.clone()))]);
            self.call(
                c,
                device,
                "set_selection",
                vec![Val::U32(source), Val::U32(serial)],
            );
        }
        self.pump();
        for interface in ["wl_data_offer", "zwp_primary_selection_offer_v1"] {
            let Some(iface) = self.p.index(interface) else {
                continue;
            };
            let mut offers: Vec<u32> = self.raw[c]
                .objects
                .iter()
                .filter(|(_, o)| o.interface == iface)
                .map(|(id, _)| *id)
                .collect();
            offers.sort_unstable();
            for offer in offers {
                let (r, w) = pipe2(OFlag::O_CLOEXEC | OFlag::O_NONBLOCK).expect("pipe");
                self.keep.push(r);
                self.call(
                    c,
                    offer,
                    "receive",
                    vec![Val::Str(Some(mime.clone())), Val::Fd(w)],
                );
                if interface == "wl_data_offer" {
                    let serial = self.raw[c].serials.last().copied().unwrap_or(0);
                    self.call(
                        c,
                        offer,
                        "accept",
                        vec![Val::U32(serial), Val::Str(Some(mime.clone()))],
                    );
                    let request = *self
                        .rng
                        .pick(&["finish", "destroy", "set_actions"])
                        .unwrap_or(&"destroy");
                    let args = if request == "set_actions" {
                        vec![Val::U32(1), Val::U32(1)]
                    } else {
                        vec![]
                    };
                    self.call(c, offer, request, args);
                }
            }
        }
    }

    fn attach_buffer(&mut self, c: usize, shm: u32, surface: u32) {
        let (w, h) = if !self.bend() {
            (
                1 + self.rng.below(300) as u32,
                1 + self.rng.below(200) as u32,
            )
        } else {
            (self.number("width"), self.number("height"))
        };
        let stride = if !self.bend() {
            w.wrapping_mul(4)
        } else {
            self.number("stride")
        };
        let size = if !self.bend() {
            stride.wrapping_mul(h)
        } else {
            self.number("size")
        };
        let file = self.fd_of(u64::from(size));
        let pool = self.make(
            c,
            shm,
            "create_pool",
            "wl_shm_pool",
            vec![Val::Fd(file), Val::U32(size)],
        );
        let format = self.rng.below(2) as u32;
        let buffer = self.make(
            c,
            pool,
            "create_buffer",
            "wl_buffer",
            vec![
                Val::U32(0),
                Val::U32(w),
                Val::U32(h),
                Val::U32(stride),
                Val::U32(format),
            ],
        );
        if self.rng.chance(30) {
            self.call(c, pool, "destroy", vec![]);
            self.raw[c].destroyed(pool);
        }
        self.call(
            c,
            surface,
            "attach",
            vec![Val::U32(buffer), Val::U32(0), Val::U32(0)],
        );
        self.call(
            c,
            surface,
            "damage_buffer",
            vec![Val::U32(0), Val::U32(0), Val::U32(w), Val::U32(h)],
        );
        self.call(c, surface, "commit", vec![]);
    }

    /// A message no client library would send.
    fn malformed(&mut self, c: usize) {
        self.stats.malformed += 1;
        let mut objects: Vec<u32> = self.raw[c].objects.keys().copied().collect();
        objects.sort_unstable();
        let object = *self.rng.pick(&objects).unwrap_or(&1);
        let kind = self.rng.below(14);
        self.note(format!(
            "client {c}: malformed message, kind {kind}, on {object}"
        ));
        let registry = self.bound_registry(c).unwrap_or(2);
        let (bytes, fds) = match kind {
            // A header whose size is smaller than a header.
            0 => (header(1, 0, 4, vec![]), vec![]),
            // A size that is not a multiple of 4.
            1 => (header(1, 0, 13, vec![0, 0, 0, 0, 0]), vec![]),
            // Claims more bytes than follow: swallows the next message.
            2 => (header(1, 0, 64, 3u32.to_ne_bytes().to_vec()), vec![]),
            // wl_registry.bind with an interface string without its NUL.
            3 => {
                let (name, iface, version) =
                    self.raw[c]
                        .globals
                        .first()
                        .cloned()
                        .unwrap_or((1, "wl_compositor".into(), 1));
                let id = self.raw[c].new_id(false);
                encode(
                    registry,
                    0,
                    vec![
                        Val::U32(name),
                        Val::Raw {
                            len: iface.len() as u32,
                            bytes: iface.into_bytes(),
                        },
                        Val::U32(version),
                        Val::U32(id),
                    ],
                )
            }
            // A string whose length runs past the end of the message.
            4 => encode(
                registry,
                0,
                vec![
                    Val::U32(1),
                    Val::Raw {
                        len: 4000,
                        bytes: b"wl_shm\0".to_vec(),
                    },
                ],
            ),
            // An array whose length runs past the end of the message: the
            // text-input-less way is wl_keyboard-free, so use any request
            // taking an array if bound; else a made-up one on the registry.
            5 => encode(
                object,
                0,
                vec![Val::Raw {
                    len: 0xffff_fff0,
                    bytes: vec![1, 2, 3, 4],
                }],
            ),
            // An opcode the interface does not have.
            6 => encode(object, 0xfff0, vec![Val::U32(0)]),
            // An object that does not exist, in both id ranges.
            7 => encode(
                *self
                    .rng
                    .pick(&[0, 0xdead, wire::SERVER_ID_START + 77, u32::MAX])
                    .unwrap_or(&0),
                0,
                vec![],
            ),
            // 28 fds on wl_display.sync, which takes none.
            8 => {
                let id = self.raw[c].new_id(false);
                let fds = (0..28).map(|_| self.fd()).collect();
                let (bytes, _) = encode(1, 0, vec![Val::U32(id)]);
                (bytes, fds)
            }
            // Garbage.
            9 => {
                let len = 8 + self.rng.below(120);
                ((0..len).map(|_| self.rng.next() as u8).collect(), vec![])
            }
            // A null string where none is allowed (wl_registry.bind).
            10 => {
                let id = self.raw[c].new_id(false);
                encode(
                    registry,
                    0,
                    vec![Val::U32(1), Val::Str(None), Val::U32(1), Val::U32(id)],
                )
            }
            // The largest size a header can claim.
            11 => (header(object, 0, 0xffff, vec![0; 64]), vec![]),
            // A request cut short: create_surface without its new_id.
            12 => (header(object, 0, 8, vec![]), vec![]),
            // More fds in one sendmsg than a message can carry (28; the
            // kernel takes up to 253): the rest are cut off in transit.
            _ => {
                let id = self.raw[c].new_id(false);
                let n = 29 + self.rng.below(225);
                let fds = (0..n).map(|_| self.fd()).collect();
                let (bytes, _) = encode(1, 0, vec![Val::U32(id)]);
                (bytes, fds)
            }
        };
        self.send(c, bytes, fds);
        self.pump();
    }
}

/// Clears the watchdog's clock when an execution ends, however it ends.
struct Done;

impl Drop for Done {
    fn drop(&mut self) {
        RUNNING.1.store(0, Ordering::SeqCst);
    }
}

/// The interfaces a client can reach from the offered globals (and
/// wl_display), following new_id arguments of requests.
fn reachable_interfaces(p: &Protocols) -> Vec<usize> {
    let mut todo: Vec<usize> = crate::globals::OFFERED
        .iter()
        .filter_map(|(name, _)| p.index(name))
        .chain(p.index("wl_display"))
        .collect();
    let mut seen = std::collections::BTreeSet::new();
    while let Some(i) = todo.pop() {
        if !seen.insert(i) {
            continue;
        }
        for m in p.interfaces[i]
            .requests
            .iter()
            .chain(&p.interfaces[i].events)
        {
            for a in &m.args {
                if a.kind == Kind::NewId {
                    if let Some(child) = a.interface.as_deref().and_then(|n| p.index(n)) {
                        todo.push(child);
                    }
                }
            }
        }
    }
    seen.into_iter().collect()
}

/// The seeds kept in the corpus file.
fn corpus() -> Vec<u64> {
    let text = std::fs::read_to_string(corpus_path()).unwrap_or_default();
    text.lines()
        .filter_map(|l| l.split('#').next())
        .filter_map(|l| l.trim().parse().ok())
        .collect()
}

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.trim().parse().ok())
}

/// The seed running now and since when (see [`now_ms`]), for the watchdog.
static RUNNING: (AtomicU64, AtomicU64) = (AtomicU64::new(0), AtomicU64::new(0));
/// The first new seed under CI=true.
const CI_BASE: u64 = 0x5753_4258_0000_0000;

/// An execution taking longer than this is a hang: a bug like a panic.
const HANG: Duration = Duration::from_secs(60);

/// Milliseconds on a monotonic clock (a wall clock set back or forward
/// would fake or hide a hang), never 0 (0 means "not running").
fn now_ms() -> u64 {
    static ORIGIN: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    ORIGIN.get_or_init(Instant::now).elapsed().as_millis() as u64 + 1
}

/// Aborts the process, naming the seed, when one execution hangs (a loop in
/// the compositor never returns to the fuzzer to fail the test).
fn start_watchdog() {
    static STARTED: std::sync::Once = std::sync::Once::new();
    STARTED.call_once(|| {
        std::thread::spawn(|| loop {
            std::thread::sleep(Duration::from_secs(1));
            let since = RUNNING.1.load(Ordering::SeqCst);
            if since != 0 && now_ms().saturating_sub(since) > HANG.as_millis() as u64 {
                eprintln!(
                    "fuzz: seed {} HUNG for {} s; replay with WSBOX_FUZZ_SEED={}",
                    RUNNING.0.load(Ordering::SeqCst),
                    HANG.as_secs(),
                    RUNNING.0.load(Ordering::SeqCst)
                );
                std::process::abort();
            }
        });
    });
}

/// Runs one seed; on a panic, prints the seed and the last messages sent.
fn execute(p: &Protocols, seed: u64, verbose: bool) -> Stats {
    start_watchdog();
    RUNNING.0.store(seed, Ordering::SeqCst);
    RUNNING.1.store(now_ms(), Ordering::SeqCst);
    let _done = Done;
    let log = Rc::new(RefCell::new(Vec::new()));
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        Exec::new(p, seed, log.clone(), verbose).run()
    }));
    match result {
        Ok(stats) => stats,
        Err(panic) => {
            eprintln!("fuzz: seed {seed} FAILED; the last messages sent:");
            for line in log.borrow().iter() {
                eprintln!("  {line}");
            }
            eprintln!(
                "fuzz: replay with WSBOX_FUZZ_SEED={seed} cargo test -p wsbox-compositor --lib fuzz -- --nocapture; \
                 once fixed, add the seed to compositor/fuzz/corpus.txt"
            );
            std::panic::resume_unwind(panic)
        }
    }
}

#[test]
fn fuzz() {
    let _alone = super::HEAVY.lock().unwrap_or_else(|e| e.into_inner());
    let p = Protocols::load(&protocols_dir());
    if let Some(seed) = env_u64("WSBOX_FUZZ_SEED") {
        let stats = execute(&p, seed, true);
        eprintln!("fuzz: seed {seed} passed: {stats:?}");
        return;
    }
    let budget = Duration::from_secs_f64(
        std::env::var("WSBOX_FUZZ_SECS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(3.0),
    );
    let start = Instant::now();
    let mut total = Stats::default();
    let mut executions = 0u64;
    let add = |s: Stats, total: &mut Stats| {
        total.messages += s.messages;
        total.malformed += s.malformed;
        total.killed += s.killed;
    };
    let kept = corpus();
    assert!(
        !kept.is_empty(),
        "the corpus {} is empty",
        corpus_path().display()
    );
    for &seed in &kept {
        add(execute(&p, seed, false), &mut total);
        executions += 1;
    }
    // CI runs the same seeds every time (a seed from the clock could fail
    // it for a change that has nothing to do with the compositor); a run by
    // hand explores new ones.
    let ci = std::env::var("CI").is_ok_and(|v| v == "true");
    let base = env_u64("WSBOX_FUZZ_BASE").unwrap_or_else(|| {
        if ci {
            CI_BASE
        } else {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(1, |d| d.as_nanos() as u64)
        }
    });
    eprintln!(
        "fuzz: {} corpus seeds passed; new seeds from {base}",
        kept.len()
    );
    let mut seed = base;
    // The budget, and past it (up to 4 times it) until every request was
    // sent at least once.
    while start.elapsed() < budget || (!covered_all(&p) && start.elapsed() < budget * 4) {
        add(execute(&p, seed, false), &mut total);
        executions += 1;
        seed = seed.wrapping_add(1);
    }
    let secs = start.elapsed().as_secs_f64();
    eprintln!(
        "fuzz: {executions} executions ({} new) in {secs:.1} s: {:.1} executions/s, \
         {} messages ({:.0}/s), {} malformed, {} clients cut off",
        seed.wrapping_sub(base),
        executions as f64 / secs,
        total.messages,
        total.messages as f64 / secs,
        total.malformed,
        total.killed,
    );
    let (all, missing) = coverage(&p);
    eprintln!(
        "fuzz: {} of {all} requests of the interfaces the offered globals lead to \
         sent at least once; never: {missing:?}",
        all - missing.len(),
    );
    assert!(
        total.messages > executions * 10,
        "the fuzzer sent almost nothing"
    );
    assert!(
        missing.is_empty(),
        "the fuzzer never sent {missing:?}: a generator change lost them"
    );
}

/// Requests of every interface the offered globals lead to: how many, and
/// which were never sent.
fn coverage(p: &Protocols) -> (usize, Vec<String>) {
    let all: Vec<(usize, usize)> = reachable_interfaces(p)
        .iter()
        .flat_map(|&i| (0..p.interfaces[i].requests.len()).map(move |r| (i, r)))
        .collect();
    let missing = COVERED.with(|c| {
        let covered = c.borrow();
        all.iter()
            .filter(|k| !covered.contains(k))
            .map(|&(i, r)| {
                format!(
                    "{}.{}",
                    p.interfaces[i].name, p.interfaces[i].requests[r].name
                )
            })
            .collect()
    });
    (all.len(), missing)
}

fn covered_all(p: &Protocols) -> bool {
    coverage(p).1.is_empty()
}
