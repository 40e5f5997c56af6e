//! The in-process fixture: a headless [`State`] and its `Display`, and test
//! clients connected over socketpairs, all driven by hand on one thread (no
//! event loop): flush the clients, dispatch the server, flush the server,
//! read the clients, until a `wl_display.sync` comes back.

use std::io::Cursor;
use std::os::unix::net::UnixStream;
use std::sync::atomic::Ordering;

use smithay::reexports::calloop::{EventLoop, LoopSignal};
use smithay::reexports::wayland_server::{Display, DisplayHandle};
use wayland_client::backend::protocol::ProtocolError;

use super::client::{Client, Window};
use crate::backend::host::{HostEvent, HostStatus};
use crate::{Config, KeyboardConfig, State, WindowInfo};

/// The output of every test: small, so a frame is cheap.
pub const OUTPUT: (i32, i32) = (320, 240);
/// The frame colour the tests' policy asks for.
pub const FRAME: [u8; 3] = [0x10, 0x80, 0xf0];

pub const RED: u32 = 0xffff_0000;
pub const GREEN: u32 = 0xff00_ff00;
pub const BLUE: u32 = 0xff00_00ff;

/// The left mouse button (evdev).
pub const BTN_LEFT: u32 = 0x110;

/// What became of a client after what it sent.
#[derive(Debug)]
pub enum Outcome {
    Alive,
    ProtocolError(ProtocolError),
    /// The connection broke without a protocol error.
    Disconnected(String),
}

/// Rounds of client → server → client before a roundtrip is declared stuck.
const MAX_ROUNDS: usize = 50;

/// A client of the fixture, by index.
pub type ClientId = usize;

/// A compositor and its clients, in this thread.
#[derive(Debug)]
pub struct Fixture {
    pub display: Display<State>,
    pub state: State,
    pub clients: Vec<Client>,
    // Only its signal is used: State wants one to stop the loop with.
    _event_loop: EventLoop<'static, ()>,
    /// In window mode, the far end of the host connection: kept open and
    /// never read (the tests play the host with [`Fixture::host`]).
    _host: Option<UnixStream>,
}

impl Fixture {
    pub fn new() -> Self {
        Self::with_config(config())
    }

    pub fn with_config(config: Config) -> Self {
        Self::with_state(|display, signal| {
            let state = State::new(display, signal, config).expect("create the compositor");
            (state, None)
        })
    }

    /// A compositor in window mode whose host never answers: the test
    /// plays the host with [`Fixture::host`].
    pub fn in_host_window() -> Self {
        Self::with_state(|display, signal| {
            let (state, host) = State::with_silent_host(display, signal, config())
                .expect("create the compositor in window mode");
            (state, Some(host))
        })
    }

    fn with_state(
        make: impl FnOnce(DisplayHandle, LoopSignal) -> (State, Option<UnixStream>),
    ) -> Self {
        let event_loop = EventLoop::<()>::try_new().expect("calloop event loop");
        let display = Display::<State>::new().expect("wayland display");
        let (state, host) = make(display.handle(), event_loop.get_signal());
        Self {
            display,
            state,
            clients: Vec::new(),
            _event_loop: event_loop,
            _host: host,
        }
    }

    /// Applies `events` as if the host had sent them, then lets every
    /// client see the result.
    pub fn host(&mut self, events: Vec<HostEvent>) -> HostStatus {
        let status = self.state.apply_host_events(events);
        self.roundtrip_all();
        status
    }

    /// Connects a client that has only asked for the registry (and got it).
    pub fn add_bare_client(&mut self) -> ClientId {
        let (server_end, client_end) = UnixStream::pair().expect("socketpair");
        self.state
            .insert_client(server_end)
            .expect("insert the client");
        self.clients.push(Client::new(client_end));
        let id = self.clients.len() - 1;
        self.roundtrip(id);
        id
    }

    /// Connects a client that has bound what a desktop app binds.
    pub fn add_client(&mut self) -> ClientId {
        let id = self.add_bare_client();
        self.clients[id].bind_all();
        self.roundtrip(id);
        id
    }

    /// One round: every client's requests to the server, the server's events
    /// to every client.
    pub fn dispatch(&mut self) {
        for client in &mut self.clients {
            client.flush();
        }
        self.display
            .dispatch_clients(&mut self.state)
            .expect("dispatch the clients");
        self.state.flush_clients();
        for client in &mut self.clients {
            client.dispatch();
        }
    }

    /// Until the server has handled everything `id` sent so far and `id` has
    /// read everything the server sent in reply. Panics on a protocol error:
    /// use [`Fixture::expect_protocol_error`] where one is the point.
    pub fn roundtrip(&mut self, id: ClientId) {
        let done = self.clients[id].send_sync();
        for _ in 0..MAX_ROUNDS {
            self.dispatch();
            if let Some(err) = self.clients[id].protocol_error() {
                panic!("client {id} got a protocol error: {err:?}");
            }
            if let Some(err) = &self.clients[id].io_error {
                panic!("client {id} was disconnected: {err}");
            }
            if done.load(Ordering::SeqCst) {
                return;
            }
        }
        panic!("roundtrip of client {id} did not complete");
    }

    /// Roundtrips every live client.
    pub fn roundtrip_all(&mut self) {
        for id in 0..self.clients.len() {
            if !self.clients[id].is_dead() {
                self.roundtrip(id);
            }
        }
    }

    /// Runs until `id` is disconnected for a protocol error, and returns it.
    /// Panics when the roundtrip completes without one.
    pub fn expect_protocol_error(&mut self, id: ClientId) -> ProtocolError {
        let done = self.clients[id].send_sync();
        for _ in 0..MAX_ROUNDS {
            self.dispatch();
            if let Some(err) = self.clients[id].protocol_error() {
                return err;
            }
            if done.load(Ordering::SeqCst) {
                panic!("client {id} got no protocol error");
            }
        }
        panic!("client {id} neither got a protocol error nor finished its roundtrip");
    }

    /// Runs until the server has handled what `id` sent, or `id` is gone,
    /// and says which.
    pub fn outcome(&mut self, id: ClientId) -> Outcome {
        if let Some(err) = self.clients[id].protocol_error() {
            return Outcome::ProtocolError(err);
        }
        if let Some(err) = &self.clients[id].io_error {
            return Outcome::Disconnected(err.clone());
        }
        let done = self.clients[id].send_sync();
        for _ in 0..MAX_ROUNDS {
            self.dispatch();
            if let Some(err) = self.clients[id].protocol_error() {
                return Outcome::ProtocolError(err);
            }
            if let Some(err) = &self.clients[id].io_error {
                return Outcome::Disconnected(err.clone());
            }
            if done.load(Ordering::SeqCst) {
                return Outcome::Alive;
            }
        }
        panic!("client {id} is stuck");
    }

    /// An xdg_toplevel of client `id`, configured, acked, showing a buffer of
    /// `argb` at the configured size (or at `size` when given: a client may
    /// draw smaller than it was told).
    pub fn map_window(
        &mut self,
        id: ClientId,
        title: &str,
        ssd: bool,
        size: Option<(i32, i32)>,
        argb: u32,
    ) -> Window {
        let window = self.clients[id].create_toplevel(title, ssd);
        self.roundtrip(id);
        let client = &self.clients[id];
        let serial = client
            .last_configure(&window.xdg_surface)
            .expect("an initial configure");
        window.xdg_surface.ack_configure(serial);
        let configured = client
            .app
            .toplevel_sizes
            .get(&wayland_client::Proxy::id(&window.toplevel))
            .copied()
            .unwrap_or((0, 0));
        let (w, h) = size.unwrap_or(match configured {
            (w, h) if w > 0 && h > 0 => (w, h),
            _ => (100, 100),
        });
        let buffer = client.buffer(w, h, argb);
        client.attach_commit(&window.surface, Some(&buffer));
        self.roundtrip(id);
        window
    }

    /// Two clients, each with a window, overlapping like a cross so that each
    /// always shows a part the other does not cover: `a` wide and flat, `b`
    /// narrow and tall and, mapped last, focused.
    pub fn two_windows(&mut self) -> (ClientId, ClientId) {
        let a = self.add_client();
        let b = self.add_client();
        self.map_window(a, "a", true, Some((200, 50)), RED);
        self.map_window(b, "b", true, Some((60, 150)), GREEN);
        self.roundtrip_all();
        (a, b)
    }

    /// Clicks a point of the window titled `title` that no window above it
    /// covers, and lets every client see the result.
    pub fn click_window(&mut self, title: &str) {
        let windows = self.state.windows();
        let index = windows
            .iter()
            .position(|w| w.title == title)
            .unwrap_or_else(|| panic!("no window titled {title:?}"));
        let target = &windows[index];
        let above = &windows[index + 1..];
        let inside = |w: &WindowInfo, x: i32, y: i32| {
            x >= w.x && y >= w.y && x < w.x + w.width && y < w.y + w.height
        };
        let point = (target.y..target.y + target.height)
            .step_by(5)
            .flat_map(|y| {
                (target.x..target.x + target.width)
                    .step_by(5)
                    .map(move |x| (x, y))
            })
            .find(|&(x, y)| !above.iter().any(|w| inside(w, x, y)))
            .unwrap_or_else(|| panic!("{title:?} is covered entirely"));
        self.state.click(point.0, point.1, BTN_LEFT).expect("click");
        self.roundtrip_all();
    }

    /// The window titled `title`, as `wsbox windows` would report it.
    pub fn window_info(&self, title: &str) -> WindowInfo {
        self.state
            .windows()
            .into_iter()
            .find(|w| w.title == title)
            .unwrap_or_else(|| panic!("no window titled {title:?}"))
    }

    /// Renders a frame and decodes the output.
    pub fn screenshot(&mut self) -> Screenshot {
        self.state.tick();
        let png = self.state.screenshot_png().expect("screenshot");
        Screenshot::decode(&png)
    }

    /// What must hold after any client misbehaved: the compositor renders,
    /// screenshots, and `witness` still roundtrips.
    pub fn assert_alive(&mut self, witness: ClientId) {
        self.state.tick();
        self.state
            .screenshot_png()
            .expect("screenshot after the misbehaviour");
        self.roundtrip(witness);
        assert!(
            self.clients[witness].protocol_error().is_none(),
            "the witness client was disconnected too"
        );
    }
}

/// The configuration of the tests' compositor.
pub fn config() -> Config {
    Config {
        name: "test".into(),
        size: OUTPUT,
        scale: 1.0,
        color: FRAME,
        keyboard: KeyboardConfig {
            layout: "us".into(),
            ..KeyboardConfig::default()
        },
        clipboard: Default::default(),
        host_decorations: false,
        keep_last_frame: true,
        input_method: true,
    }
}

/// A decoded screenshot, RGBA.
#[derive(Debug)]
pub struct Screenshot {
    pub width: u32,
    pub height: u32,
    pub rgba: Vec<u8>,
}

impl Screenshot {
    pub fn decode(png_bytes: &[u8]) -> Self {
        let decoder = png::Decoder::new(Cursor::new(png_bytes));
        let mut reader = decoder.read_info().expect("PNG header");
        let mut rgba = vec![0; reader.output_buffer_size()];
        let info = reader.next_frame(&mut rgba).expect("PNG data");
        assert_eq!(info.color_type, png::ColorType::Rgba);
        rgba.truncate(info.buffer_size());
        Self {
            width: info.width,
            height: info.height,
            rgba,
        }
    }

    /// The pixel at (`x`, `y`) as RGB.
    pub fn rgb(&self, x: i32, y: i32) -> [u8; 3] {
        assert!(
            x >= 0 && y >= 0 && (x as u32) < self.width && (y as u32) < self.height,
            "({x}, {y}) is outside the {}x{} output",
            self.width,
            self.height
        );
        let i = (y as usize * self.width as usize + x as usize) * 4;
        [self.rgba[i], self.rgba[i + 1], self.rgba[i + 2]]
    }
}

/// The colour of an ARGB8888 pixel as RGB.
pub fn rgb_of(argb: u32) -> [u8; 3] {
    [(argb >> 16) as u8, (argb >> 8) as u8, argb as u8]
}

/// Whether two colours differ by at most one step per channel (rounding in
/// the renderer's float colours).
pub fn close(a: [u8; 3], b: [u8; 3]) -> bool {
    a.iter().zip(b).all(|(x, y)| x.abs_diff(y) <= 1)
}
