//! clip-client: a Wayland client that sets the clipboard the way a hostile
//! app would, for the window-mode clipboard tests (tests/window_sway.rs).
//!
//! It opens one black xdg_toplevel ("wsbox clip") and, `--after` seconds
//! after its first keyboard focus, sets the clipboard selection (wl_data_device), or with
//! `--primary` the primary selection, offering `--mime` (default
//! `text/plain;charset=utf-8`), and prints `selection` once the compositor
//! has it. When asked for the data it prints `send` and writes `--text` (or
//! `--bytes N` bytes of `x`) after `--delay` seconds, then closes the pipe
//! and prints `sent`; with `--never` it keeps the pipe open and never writes
//! (a stalled source). `--repeat N` sets a new selection N times, each
//! followed by a round trip (a flood), then prints `repeated N`.
//!
//! ```text
//! clip-client [--text TEXT | --bytes N] [--mime TYPE] [--after SECS]
//!             [--delay SECS] [--never] [--repeat N] [--primary]
//! ```

use std::error::Error;
use std::fs::File;
use std::io::{self, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::process::ExitCode;
use std::time::Duration;

use wayland_client::globals::GlobalListContents;
use wayland_client::protocol::{
    wl_buffer::WlBuffer,
    wl_compositor::WlCompositor,
    wl_data_device::{self, WlDataDevice},
    wl_data_device_manager::WlDataDeviceManager,
    wl_data_offer::WlDataOffer,
    wl_data_source::{self, WlDataSource},
    wl_keyboard::{self, WlKeyboard},
    wl_registry::WlRegistry,
    wl_seat::{self, WlSeat},
    wl_shm::{self, WlShm},
    wl_shm_pool::WlShmPool,
    wl_surface::WlSurface,
};
use wayland_client::{
    delegate_dispatch, delegate_noop, event_created_child, Connection, Dispatch, QueueHandle,
};
use wayland_protocols::wp::primary_selection::zv1::client::{
    zwp_primary_selection_device_manager_v1::ZwpPrimarySelectionDeviceManagerV1,
    zwp_primary_selection_device_v1::{self, ZwpPrimarySelectionDeviceV1},
    zwp_primary_selection_offer_v1::ZwpPrimarySelectionOfferV1,
    zwp_primary_selection_source_v1::{self, ZwpPrimarySelectionSourceV1},
};
use wayland_protocols::xdg::shell::client::{
    xdg_surface::{self, XdgSurface},
    xdg_toplevel::XdgToplevel,
    xdg_wm_base::XdgWmBase,
};

use testkit::client::{memfd, Ignore, Pong, Window};

type Result<T, E = Box<dyn Error>> = std::result::Result<T, E>;

/// The most unanswered requests whose pipes are kept open at once.
const HELD_MAX: usize = 256;

#[derive(Debug, Clone)]
struct Options {
    data: Vec<u8>,
    mime: String,
    after: Duration,
    delay: Duration,
    never: bool,
    repeat: u32,
    primary: bool,
}

fn main() -> ExitCode {
    match parse_args(std::env::args().skip(1)).and_then(|o| run(o).map_err(|e| e.to_string())) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("clip-client: {err}");
            ExitCode::from(2)
        }
    }
}

fn parse_args(mut args: impl Iterator<Item = String>) -> Result<Options, String> {
    let mut options = Options {
        data: b"clip-client".to_vec(),
        mime: "text/plain;charset=utf-8".into(),
        after: Duration::ZERO,
        delay: Duration::ZERO,
        never: false,
        repeat: 1,
        primary: false,
    };
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "--text" => options.data = value()?.into_bytes(),
            "--bytes" => {
                let n: usize = value()?.parse().map_err(|_| "--bytes: not a number")?;
                options.data = vec![b'x'; n];
            }
            "--mime" => options.mime = value()?,
            "--after" | "--delay" => {
                let s: f64 = value()?
                    .parse()
                    .map_err(|_| format!("{arg}: not a number"))?;
                let d = Duration::try_from_secs_f64(s).map_err(|e| e.to_string())?;
                if arg == "--after" {
                    options.after = d;
                } else {
                    options.delay = d;
                }
            }
            "--never" => options.never = true,
            "--repeat" => {
                options.repeat = value()?.parse().map_err(|_| "--repeat: not a number")?
            }
            "--primary" => options.primary = true,
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(options)
}

struct App {
    options: Options,
    qh: QueueHandle<App>,
    shm: WlShm,
    surface: WlSurface,
    buffer: Option<(WlBuffer, File)>,
    configured: bool,
    keyboard: Option<WlKeyboard>,
    data_device: Option<(WlDataDeviceManager, WlDataDevice)>,
    primary_device: Option<(
        ZwpPrimarySelectionDeviceManagerV1,
        ZwpPrimarySelectionDeviceV1,
    )>,
    /// The serial of the first keyboard enter, once it came.
    enter: Option<u32>,
    done: bool,
    /// Pipes of requests never answered (`--never`).
    held: Vec<OwnedFd>,
}

fn run(options: Options) -> Result<()> {
    let Window {
        conn: _conn,
        globals,
        mut queue,
        qh,
        shm,
        wm_base: _wm_base,
        surface,
        xdg_surface: _xdg_surface,
        toplevel: _toplevel,
        ..
    } = Window::<App>::open("wsbox clip", "wsbox.clip")?;
    let seat: WlSeat = globals.bind(&qh, 1..=5, ())?;
    let data_device = if options.primary {
        None
    } else {
        let manager: WlDataDeviceManager = globals.bind(&qh, 1..=3, ())?;
        let device = manager.get_data_device(&seat, &qh, ());
        Some((manager, device))
    };
    let primary_device = if options.primary {
        let manager: ZwpPrimarySelectionDeviceManagerV1 = globals.bind(&qh, 1..=1, ())?;
        let device = manager.get_device(&seat, &qh, ());
        Some((manager, device))
    } else {
        None
    };
    let mut app = App {
        options,
        qh: qh.clone(),
        shm,
        surface,
        buffer: None,
        configured: false,
        keyboard: None,
        data_device,
        primary_device,
        enter: None,
        done: false,
        held: Vec::new(),
    };
    loop {
        queue.blocking_dispatch(&mut app)?;
        if app.configured && app.buffer.is_none() {
            app.draw()?;
        }
        if let (Some(serial), false) = (app.enter, app.done) {
            app.done = true;
            std::thread::sleep(app.options.after);
            for _ in 0..app.options.repeat {
                app.set_selection(serial);
                queue.roundtrip(&mut app)?;
            }
            if app.options.repeat > 1 {
                say(format_args!("repeated {}", app.options.repeat));
            }
            say("selection");
        }
    }
}

fn say(line: impl std::fmt::Display) {
    let mut out = io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

impl App {
    /// A black 200×200 buffer: the window must show to get the focus.
    fn draw(&mut self) -> Result<()> {
        let (w, h) = (200, 200);
        let fd = memfd(c"wsbox-clip-buffer")?;
        let file = File::from(fd);
        file.set_len((w * h * 4) as u64)?;
        let pool = self.shm.create_pool(file.as_fd(), w * h * 4, &self.qh, ());
        let buffer = pool.create_buffer(0, w, h, w * 4, wl_shm::Format::Xrgb8888, &self.qh, ());
        pool.destroy();
        self.surface.attach(Some(&buffer), 0, 0);
        self.surface.damage_buffer(0, 0, w, h);
        self.surface.commit();
        self.buffer = Some((buffer, file));
        Ok(())
    }

    fn set_selection(&mut self, serial: u32) {
        if let Some((manager, device)) = &self.data_device {
            let source = manager.create_data_source(&self.qh, ());
            source.offer(self.options.mime.clone());
            device.set_selection(Some(&source), serial);
        }
        if let Some((manager, device)) = &self.primary_device {
            let source = manager.create_source(&self.qh, ());
            source.offer(self.options.mime.clone());
            device.set_selection(Some(&source), serial);
        }
    }

    /// A request for the data: answered after the delay, or never.
    fn send(&mut self, fd: OwnedFd) {
        say("send");
        if self.options.never {
            self.held.push(fd);
            if self.held.len() > HELD_MAX {
                self.held.remove(0);
            }
            return;
        }
        let data = self.options.data.clone();
        let delay = self.options.delay;
        std::thread::spawn(move || {
            std::thread::sleep(delay);
            let _ = File::from(fd).write_all(&data);
            say("sent");
        });
    }
}

delegate_dispatch!(App: [WlRegistry: GlobalListContents] => Ignore);
delegate_dispatch!(App: [XdgWmBase: ()] => Pong);

delegate_noop!(App: ignore WlCompositor);
delegate_noop!(App: ignore WlSurface);
delegate_noop!(App: ignore WlShm);
delegate_noop!(App: ignore WlShmPool);
delegate_noop!(App: ignore WlBuffer);
delegate_noop!(App: ignore WlDataDeviceManager);
delegate_noop!(App: ignore WlDataOffer);
delegate_noop!(App: ignore ZwpPrimarySelectionDeviceManagerV1);
delegate_noop!(App: ignore ZwpPrimarySelectionOfferV1);
delegate_noop!(App: ignore XdgToplevel);

impl Dispatch<WlDataDevice, ()> for App {
    fn event(
        _: &mut Self,
        _: &WlDataDevice,
        _: wl_data_device::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
    }

    event_created_child!(App, WlDataDevice, [
        wl_data_device::EVT_DATA_OFFER_OPCODE => (WlDataOffer, ()),
    ]);
}

impl Dispatch<ZwpPrimarySelectionDeviceV1, ()> for App {
    fn event(
        _: &mut Self,
        _: &ZwpPrimarySelectionDeviceV1,
        _: zwp_primary_selection_device_v1::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
    }

    event_created_child!(App, ZwpPrimarySelectionDeviceV1, [
        zwp_primary_selection_device_v1::EVT_DATA_OFFER_OPCODE => (ZwpPrimarySelectionOfferV1, ()),
    ]);
}

impl Dispatch<WlDataSource, ()> for App {
    fn event(
        app: &mut Self,
        _: &WlDataSource,
        event: wl_data_source::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        if let wl_data_source::Event::Send { fd, .. } = event {
            app.send(fd);
        }
    }
}

impl Dispatch<ZwpPrimarySelectionSourceV1, ()> for App {
    fn event(
        app: &mut Self,
        _: &ZwpPrimarySelectionSourceV1,
        event: zwp_primary_selection_source_v1::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        if let zwp_primary_selection_source_v1::Event::Send { fd, .. } = event {
            app.send(fd);
        }
    }
}

impl Dispatch<XdgSurface, ()> for App {
    fn event(
        app: &mut Self,
        xdg_surface: &XdgSurface,
        event: xdg_surface::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        if let xdg_surface::Event::Configure { serial } = event {
            xdg_surface.ack_configure(serial);
            app.configured = true;
        }
    }
}

impl Dispatch<WlSeat, ()> for App {
    fn event(
        app: &mut Self,
        seat: &WlSeat,
        event: wl_seat::Event,
        _: &(),
        _: &Connection,
        qh: &QueueHandle<Self>,
    ) {
        if let wl_seat::Event::Capabilities {
            capabilities: wayland_client::WEnum::Value(caps),
        } = event
        {
            if caps.contains(wl_seat::Capability::Keyboard) && app.keyboard.is_none() {
                app.keyboard = Some(seat.get_keyboard(qh, ()));
            }
        }
    }
}

impl Dispatch<WlKeyboard, ()> for App {
    fn event(
        app: &mut Self,
        _: &WlKeyboard,
        event: wl_keyboard::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        if let wl_keyboard::Event::Enter { serial, .. } = event {
            app.enter.get_or_insert(serial);
        }
    }
}
