//! Input devices on a host session, as a test or the bench holds them: a
//! virtual pointer (zwlr_virtual_pointer_v1) and a virtual keyboard
//! (zwp_virtual_keyboard_v1) on their own connection to the host.

use std::fs;
use std::io::Write;
use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Instant;

use wayland_client::globals::{registry_queue_init, GlobalListContents};
use wayland_client::protocol::wl_pointer::ButtonState;
use wayland_client::protocol::wl_registry::WlRegistry;
use wayland_client::protocol::wl_seat::WlSeat;
use wayland_client::{delegate_dispatch, delegate_noop, Connection, EventQueue};
use wayland_protocols_misc::zwp_virtual_keyboard_v1::client::{
    zwp_virtual_keyboard_manager_v1::ZwpVirtualKeyboardManagerV1,
    zwp_virtual_keyboard_v1::ZwpVirtualKeyboardV1,
};
use wayland_protocols_wlr::virtual_pointer::v1::client::{
    zwlr_virtual_pointer_manager_v1::ZwlrVirtualPointerManagerV1,
    zwlr_virtual_pointer_v1::ZwlrVirtualPointerV1,
};

use crate::client::{memfd, Ignore};

/// The connection's state: nothing; every event is ignored.
#[derive(Debug)]
pub struct Quiet;

delegate_dispatch!(Quiet: [WlRegistry: GlobalListContents] => Ignore);
delegate_noop!(Quiet: ignore WlSeat);
delegate_noop!(Quiet: ignore ZwlrVirtualPointerManagerV1);
delegate_noop!(Quiet: ignore ZwlrVirtualPointerV1);
delegate_noop!(Quiet: ignore ZwpVirtualKeyboardManagerV1);
delegate_noop!(Quiet: ignore ZwpVirtualKeyboardV1);

/// A connection to the host at `socket`, with its globals.
fn connect(
    socket: &Path,
) -> Result<(wayland_client::globals::GlobalList, EventQueue<Quiet>), String> {
    let stream = UnixStream::connect(socket).map_err(|e| format!("connect: {e}"))?;
    let conn = Connection::from_socket(stream).map_err(|e| format!("connect: {e}"))?;
    registry_queue_init::<Quiet>(&conn).map_err(|e| format!("registry: {e}"))
}

/// A virtual pointer on the host: the seat gains a pointer, as a session
/// with a mouse has.
#[derive(Debug)]
pub struct VirtualPointer {
    queue: EventQueue<Quiet>,
    pointer: ZwlrVirtualPointerV1,
    /// The host's screen, which absolute motion is relative to.
    screen: (u32, u32),
    started: Instant,
}

impl VirtualPointer {
    /// Connects to the host at `socket`, whose screen is `screen`.
    pub fn new(socket: &Path, screen: (u32, u32)) -> Result<Self, String> {
        let (globals, mut queue) = connect(socket)?;
        let qh = queue.handle();
        let manager: ZwlrVirtualPointerManagerV1 = globals
            .bind(&qh, 1..=2, ())
            .map_err(|e| format!("zwlr_virtual_pointer_manager_v1: {e}"))?;
        let pointer = manager.create_virtual_pointer(None, &qh, ());
        queue
            .roundtrip(&mut Quiet)
            .map_err(|e| format!("roundtrip: {e}"))?;
        Ok(Self {
            queue,
            pointer,
            screen,
            started: Instant::now(),
        })
    }

    fn time(&self) -> u32 {
        self.started.elapsed().as_millis() as u32
    }

    /// Moves the pointer to (x, y) of the screen; the host has handled it
    /// when this returns.
    pub fn move_to(&mut self, x: i64, y: i64) {
        let (width, height) = self.screen;
        self.pointer
            .motion_absolute(self.time(), x as u32, y as u32, width, height);
        self.pointer.frame();
        self.roundtrip();
    }

    /// A left click where the pointer is; the host has handled it when this
    /// returns.
    pub fn click(&mut self) {
        const BTN_LEFT: u32 = 0x110;
        for state in [ButtonState::Pressed, ButtonState::Released] {
            self.pointer.button(self.time(), BTN_LEFT, state);
            self.pointer.frame();
            self.roundtrip();
        }
    }

    fn roundtrip(&mut self) {
        self.queue
            .roundtrip(&mut Quiet)
            .unwrap_or_else(|e| panic!("the virtual pointer lost the host: {e}"));
    }
}

/// A virtual keyboard on the host with a one-key keymap (evdev code 1 is
/// `a`), as wtype makes them.
#[derive(Debug)]
pub struct VirtualKeyboard {
    queue: EventQueue<Quiet>,
    keyboard: ZwpVirtualKeyboardV1,
    started: Instant,
}

impl VirtualKeyboard {
    /// Connects to the host at `socket`.
    pub fn new(socket: &Path) -> Result<Self, String> {
        let (globals, mut queue) = connect(socket)?;
        let qh = queue.handle();
        let seat: WlSeat = globals
            .bind(&qh, 1..=1, ())
            .map_err(|e| format!("wl_seat: {e}"))?;
        let manager: ZwpVirtualKeyboardManagerV1 = globals
            .bind(&qh, 1..=1, ())
            .map_err(|e| format!("zwp_virtual_keyboard_manager_v1: {e}"))?;
        let keyboard = manager.create_virtual_keyboard(&seat, &qh, ());
        let keymap = "xkb_keymap {\nxkb_keycodes \"(unnamed)\" {\nminimum = 8;\nmaximum = 10;\n\
                      <K1> = 9;\n};\nxkb_types \"(unnamed)\" { include \"complete\" };\n\
                      xkb_compatibility \"(unnamed)\" { include \"complete\" };\n\
                      xkb_symbols \"(unnamed)\" {\nkey <K1> {[a]};\n};\n};\n\0";
        let fd = memfd(c"testkit-keymap").map_err(|e| format!("memfd: {e}"))?;
        let mut file = fs::File::from(fd);
        file.write_all(keymap.as_bytes())
            .map_err(|e| format!("keymap: {e}"))?;
        keyboard.keymap(1, file.as_fd(), keymap.len() as u32);
        queue
            .roundtrip(&mut Quiet)
            .map_err(|e| format!("roundtrip: {e}"))?;
        Ok(Self {
            queue,
            keyboard,
            started: Instant::now(),
        })
    }

    /// Presses and releases the key; the CLOCK_MONOTONIC ns just before it
    /// left.
    pub fn tap(&mut self) -> Result<u128, String> {
        let time = self.started.elapsed().as_millis() as u32;
        let t0 = monotonic_ns();
        self.keyboard.key(time, 1, 1);
        self.queue.flush().map_err(|e| format!("flush: {e}"))?;
        self.keyboard.key(time, 1, 0);
        self.queue.flush().map_err(|e| format!("flush: {e}"))?;
        Ok(t0)
    }
}

/// CLOCK_MONOTONIC in ns, the clock the test clients stamp events with.
pub fn monotonic_ns() -> u128 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid timespec to write to; CLOCK_MONOTONIC always exists.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    u128::try_from(ts.tv_sec).unwrap_or(0) * 1_000_000_000 + u128::try_from(ts.tv_nsec).unwrap_or(0)
}
