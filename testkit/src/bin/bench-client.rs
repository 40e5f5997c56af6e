//! bench-client: a minimal Wayland client for `make bench`.
//!
//! It binds wl_compositor, wl_shm and xdg_wm_base, opens one xdg_toplevel
//! ("wsbox bench") and draws into XRGB8888 shared-memory buffers (a pool of
//! up to three, reused as the compositor releases them), paced by
//! wl_surface.frame: every `done` draws and commits the next frame.
//!
//! - `--damage full` (the default) changes every pixel each frame and damages
//!   the whole buffer; `--damage small` moves a 64x64 square over a still
//!   background and damages only where it was and where it is.
//! - The size is the configure's, or `--size WxH` (default 1280x720) when the
//!   compositor leaves the choice to the client (0x0).
//!
//! It prints, one line each, `first_frame_ns <ns>` with CLOCK_MONOTONIC at the
//! first frame callback (the first buffer was presented), and at exit
//! `frames <n> seconds <s> fps <f> cpu <c>`: the frame callbacks received,
//! the time from the first to the last of them, the rate in between, and the
//! client's own CPU time (CLOCK_PROCESS_CPUTIME_ID) in between, in seconds,
//! after a line `commits <n>`: the commits that carried a new buffer.
//! `--linger S` keeps the client (and its connection) S seconds longer after
//! that line, so that the bench can still read the CPU time of the processes
//! that end with it (the compositor of `wsbox run`, a waypipe server).
//!
//! With `--keys` it also prints `key <evdev code> <1 pressed|0 released>
//! <CLOCK_MONOTONIC ns>` for each wl_keyboard.key, `enter <ns>` when it
//! gets the keyboard focus and `leave <ns>` when it loses it (input
//! latency, stuck-key tests). With `--pointer` it prints `pointer <x> <y>`
//! (surface coordinates) when the pointer enters or moves over its window:
//! a test sees that the compositor passes the pointer on. With
//! `--ignore-close` it prints `close` at xdg_toplevel.close and goes on
//! (a client that does not close when asked, and keeps answering pings);
//! with `--hang-on-close` it prints `close` and then stops reading its
//! connection for good (a client that hangs: it answers no ping).
//!
//! For the frame-callback tests: `--no-draw` answers every frame callback
//! after the first with a commit that asks for the next one and carries no
//! new buffer; `--commit-every MS` commits a second wl_surface, one
//! without a role (never shown), every MS milliseconds once the first frame
//! is shown: commits that change nothing. `--retitle-every MS` switches
//! the title between `wsbox bench` and `wsbox bench.` every MS milliseconds
//! once the first frame is shown.
//!
//! ```text
//! bench-client [--size WxH] [--damage full|small] [--frames N]
//!              [--seconds S] [--first-frame] [--idle] [--opaque]
//!              [--keys] [--pointer] [--ignore-close] [--hang-on-close]
//!              [--linger S] [--no-draw]
//!              [--commit-every MS] [--retitle-every MS]
//! ```

use std::error::Error;
use std::fmt::Display;
use std::io::{self, Write};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::process::ExitCode;
use std::ptr::NonNull;
use std::time::{Duration, Instant};

use wayland_client::globals::GlobalListContents;
use wayland_client::protocol::{
    wl_buffer::{self, WlBuffer},
    wl_callback::{self, WlCallback},
    wl_compositor::WlCompositor,
    wl_keyboard::{self, WlKeyboard},
    wl_pointer::{self, WlPointer},
    wl_region::WlRegion,
    wl_registry::WlRegistry,
    wl_seat::{self, WlSeat},
    wl_shm::{self, WlShm},
    wl_shm_pool::WlShmPool,
    wl_surface::WlSurface,
};
use wayland_client::{
    delegate_dispatch, delegate_noop, Connection, Dispatch, EventQueue, Proxy, QueueHandle,
};
use wayland_protocols::xdg::shell::client::{
    xdg_surface::{self, XdgSurface},
    xdg_toplevel::{self, XdgToplevel},
    xdg_wm_base::XdgWmBase,
};

use testkit::client::{flush_and_read, memfd, Ignore, Pong, Window};
use testkit::monotonic_ns;

type Result<T, E = Box<dyn Error>> = std::result::Result<T, E>;

const USAGE: &str = "\
usage: bench-client [OPTIONS]

Opens one Wayland window and redraws it at every frame callback.

  --size WxH            size when the compositor lets the client choose (default 1280x720)
  --damage full|small   full: every pixel changes each frame; small: a 64x64 square moves
  --frames N            exit after N frame callbacks
  --seconds S           exit S seconds after the first frame callback
  --first-frame         exit at the first frame callback
  --idle                draw one frame, then stop redrawing (for memory figures)
  --opaque              mark the whole surface opaque (wl_surface.set_opaque_region)
  --keys                print `key <code> <1|0> <ns>` per key event, `enter <ns>` and `leave <ns>`
                        at focus changes
  --pointer             print `pointer <x> <y>` when the pointer enters or moves over the window
  --ignore-close        print `close` at xdg_toplevel.close instead of exiting
  --hang-on-close       print `close` at xdg_toplevel.close, then hang: answer nothing more
  --linger S            wait S seconds after the summary line before exiting
  --no-draw             after the first frame, only ask for frame callbacks (no new buffers)
  --commit-every MS     after the first frame, commit a surface without a role every MS ms
  --retitle-every MS    after the first frame, switch the title every MS ms
  --help                show this help

Prints `first_frame_ns <CLOCK_MONOTONIC ns>` at the first frame callback, and
at exit `commits <commits with a new buffer>` and `frames <n> seconds <first to last callback> fps <rate> cpu <own CPU seconds
in between>` at exit.";

/// The longest wait for the first frame callback before giving up.
const FIRST_FRAME_TIMEOUT: Duration = Duration::from_secs(30);
/// Buffers of the current size; more only while the compositor holds them all.
const MAX_BUFFERS: usize = 3;
/// A configure can ask for any size; past this the client refuses.
const MAX_DIMENSION: u32 = 8192;
/// Side of the moving square of `--damage small`.
const SQUARE: i32 = 64;
/// Pixels the square moves per frame.
const STEP: i32 = 4;
const SQUARE_COLOR: u32 = 0xffff_8c1a;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Damage {
    Full,
    Small,
}

struct Options {
    size: (u32, u32),
    damage: Damage,
    frames: Option<u64>,
    seconds: Option<Duration>,
    first_frame: bool,
    idle: bool,
    opaque: bool,
    keys: bool,
    pointer: bool,
    ignore_close: bool,
    hang_on_close: bool,
    linger: Option<Duration>,
    no_draw: bool,
    commit_every: Option<Duration>,
    retitle_every: Option<Duration>,
}

fn main() -> ExitCode {
    let options = match parse_args(std::env::args().skip(1)) {
        Ok(Some(options)) => options,
        Ok(None) => {
            say(USAGE);
            return ExitCode::SUCCESS;
        }
        Err(message) => {
            complain(format_args!("bench-client: {message} (try --help)"));
            return ExitCode::from(2);
        }
    };
    match run(options) {
        Ok(code) => code,
        Err(e) => {
            complain(format_args!("bench-client: {e}"));
            ExitCode::FAILURE
        }
    }
}

/// `Ok(None)` for --help.
fn parse_args(mut args: impl Iterator<Item = String>) -> Result<Option<Options>, String> {
    let mut options = Options {
        size: (1280, 720),
        damage: Damage::Full,
        frames: None,
        seconds: None,
        first_frame: false,
        idle: false,
        opaque: false,
        keys: false,
        pointer: false,
        ignore_close: false,
        hang_on_close: false,
        linger: None,
        no_draw: false,
        commit_every: None,
        retitle_every: None,
    };
    while let Some(arg) = args.next() {
        let (name, inline) = match arg.split_once('=') {
            Some((name, value)) if name.starts_with("--") => (name.to_string(), Some(value)),
            _ => (arg.clone(), None),
        };
        let mut value = |what: &str| -> Result<String, String> {
            match inline {
                Some(v) => Ok(v.to_string()),
                None => args.next().ok_or_else(|| format!("{name} needs {what}")),
            }
        };
        match name.as_str() {
            "--help" | "-h" => return Ok(None),
            "--size" => options.size = parse_size(&value("WxH")?)?,
            "--damage" => {
                options.damage = match value("full or small")?.as_str() {
                    "full" => Damage::Full,
                    "small" => Damage::Small,
                    other => return Err(format!("--damage: '{other}' is not full or small")),
                }
            }
            "--frames" => {
                let v = value("a number")?;
                let n = v
                    .parse::<u64>()
                    .ok()
                    .filter(|&n| n > 0)
                    .ok_or_else(|| format!("--frames: '{v}' is not a positive number"))?;
                options.frames = Some(n);
            }
            "--seconds" => {
                let v = value("a number of seconds")?;
                let s = v
                    .parse::<f64>()
                    .ok()
                    .and_then(|s| Duration::try_from_secs_f64(s).ok())
                    .ok_or_else(|| format!("--seconds: '{v}' is not a number of seconds"))?;
                options.seconds = Some(s);
            }
            "--linger" => {
                let v = value("a number of seconds")?;
                let s = v
                    .parse::<f64>()
                    .ok()
                    .and_then(|s| Duration::try_from_secs_f64(s).ok())
                    .ok_or_else(|| format!("--linger: '{v}' is not a number of seconds"))?;
                options.linger = Some(s);
            }
            "--commit-every" | "--retitle-every" => {
                let v = value("a number of milliseconds")?;
                let ms = v
                    .parse::<u64>()
                    .ok()
                    .filter(|&ms| ms > 0)
                    .ok_or_else(|| format!("{name}: '{v}' is not a positive number"))?;
                let every = Some(Duration::from_millis(ms));
                if name == "--commit-every" {
                    options.commit_every = every;
                } else {
                    options.retitle_every = every;
                }
            }
            "--first-frame" | "--idle" | "--opaque" | "--keys" | "--pointer" | "--ignore-close"
            | "--hang-on-close" | "--no-draw"
                if inline.is_some() =>
            {
                return Err(format!("{name} takes no value"));
            }
            "--first-frame" => options.first_frame = true,
            "--idle" => options.idle = true,
            "--opaque" => options.opaque = true,
            "--keys" => options.keys = true,
            "--pointer" => options.pointer = true,
            "--ignore-close" => options.ignore_close = true,
            "--hang-on-close" => options.hang_on_close = true,
            "--no-draw" => options.no_draw = true,
            other => return Err(format!("unknown argument '{other}'")),
        }
    }
    Ok(Some(options))
}

fn parse_size(text: &str) -> Result<(u32, u32), String> {
    let bad = || format!("--size: '{text}' is not WxH, e.g. 1280x720");
    let (w, h) = text.split_once('x').ok_or_else(bad)?;
    let (w, h) = (
        w.parse::<u32>().map_err(|_| bad())?,
        h.parse::<u32>().map_err(|_| bad())?,
    );
    if w == 0 || h == 0 || w > MAX_DIMENSION || h > MAX_DIMENSION {
        return Err(format!(
            "--size: '{text}': sizes go from 1 to {MAX_DIMENSION}"
        ));
    }
    Ok((w, h))
}

/// stdout may be a closed pipe once the bench has what it wants.
fn say(line: impl Display) {
    let mut out = io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

fn complain(line: impl Display) {
    let _ = writeln!(io::stderr().lock(), "{line}");
}

/// CPU time of this process, all threads, in seconds.
fn cpu_seconds() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid timespec to write to; the clock always exists.
    unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) };
    ts.tv_sec as f64 + ts.tv_nsec as f64 / 1e9
}

fn run(options: Options) -> Result<ExitCode> {
    let start = Instant::now();
    let Window {
        conn: _conn,
        globals,
        mut queue,
        qh,
        compositor,
        shm,
        wm_base: _wm_base,
        surface,
        xdg_surface,
        toplevel,
    } = Window::<App>::open("wsbox bench", "wsbox.bench")?;

    let seat: Option<WlSeat> = if options.keys || options.pointer {
        Some(
            globals
                .bind(&qh, 1..=5, ())
                .map_err(|e| format!("wl_seat: {e}"))?,
        )
    } else {
        None
    };

    let bare = options
        .commit_every
        .is_some()
        .then(|| compositor.create_surface(&qh, ()));

    let mut app = App {
        options,
        compositor,
        shm,
        surface,
        bare,
        _xdg_surface: xdg_surface,
        toplevel,
        _seat: seat,
        keyboard: None,
        pointer: None,
        requested: (0, 0),
        configure_pending: false,
        size: None,
        buffers: Vec::new(),
        next_buffer_id: 0,
        redraw: false,
        ask: false,
        next_commit: None,
        next_retitle: None,
        retitles: 0,
        drawn: 0,
        shown_square: None,
        frames: 0,
        first: None,
        last: None,
        first_cpu: None,
        last_cpu: None,
        exit: None,
    };
    let code = event_loop(&mut queue, &mut app, start)?;
    let seconds = match (app.first, app.last) {
        (Some(first), Some(last)) => last.duration_since(first).as_secs_f64(),
        _ => 0.0,
    };
    let fps = if seconds > 0.0 {
        app.frames.saturating_sub(1) as f64 / seconds
    } else {
        0.0
    };
    let cpu = match (app.first_cpu, app.last_cpu) {
        (Some(first), Some(last)) => last - first,
        _ => 0.0,
    };
    say(format_args!("commits {}", app.drawn));
    say(format_args!(
        "frames {} seconds {seconds:.6} fps {fps:.3} cpu {cpu:.6}",
        app.frames
    ));
    if let Some(linger) = app.options.linger {
        std::thread::sleep(linger);
    }
    Ok(code)
}

/// Polls the socket rather than blocking, so that the time limits hold
/// even while the compositor says nothing.
fn event_loop(queue: &mut EventQueue<App>, app: &mut App, start: Instant) -> Result<ExitCode> {
    let qh = queue.handle();
    loop {
        queue.dispatch_pending(app)?;
        if let Some(code) = app.exit {
            return Ok(code);
        }
        app.step(&qh)?;

        let deadline = match app.first {
            None => start + FIRST_FRAME_TIMEOUT,
            Some(first) => match app.options.seconds {
                Some(seconds) => first + seconds,
                None => first + Duration::from_secs(365 * 24 * 3600),
            },
        };
        let now = Instant::now();
        let left = deadline.saturating_duration_since(now);
        if left.is_zero() {
            if app.first.is_none() {
                return Err(format!(
                    "no frame callback within {} s",
                    FIRST_FRAME_TIMEOUT.as_secs()
                )
                .into());
            }
            return Ok(ExitCode::SUCCESS);
        }
        // Up to the next bare commit, if one is due sooner.
        let left = [app.next_commit, app.next_retitle]
            .into_iter()
            .flatten()
            .fold(left, |left, at| left.min(at.saturating_duration_since(now)));
        flush_and_read(queue, Some(left))?;
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
struct Rect {
    x: i32,
    y: i32,
    w: i32,
    h: i32,
}

struct App {
    options: Options,
    compositor: WlCompositor,
    shm: WlShm,
    surface: WlSurface,
    /// `--commit-every`: the surface without a role it commits.
    bare: Option<WlSurface>,
    // Held so the window lives as long as the app.
    _xdg_surface: XdgSurface,
    toplevel: XdgToplevel,
    _seat: Option<WlSeat>,
    keyboard: Option<WlKeyboard>,
    pointer: Option<WlPointer>,
    /// The size of the latest xdg_toplevel.configure; 0 means "you choose".
    requested: (i32, i32),
    /// An xdg_surface.configure was acked and wants a commit.
    configure_pending: bool,
    /// The size of the buffers now drawn.
    size: Option<(u32, u32)>,
    buffers: Vec<ShmBuffer>,
    next_buffer_id: u64,
    /// A frame callback came (or the size changed): draw when a buffer is free.
    redraw: bool,
    /// `--no-draw`: a frame callback came; ask for the next one.
    ask: bool,
    /// `--commit-every`: when the next bare commit is due.
    next_commit: Option<Instant>,
    /// `--retitle-every`: when the next title is due, and how many so far.
    next_retitle: Option<Instant>,
    retitles: u64,
    /// Frames drawn so far; drives the animation.
    drawn: u64,
    /// Where the square is in the buffer the compositor shows now.
    shown_square: Option<Rect>,
    frames: u64,
    first: Option<Instant>,
    last: Option<Instant>,
    /// The process's CPU time at the first and the last frame callback.
    first_cpu: Option<f64>,
    last_cpu: Option<f64>,
    exit: Option<ExitCode>,
}

struct ShmBuffer {
    id: u64,
    buffer: WlBuffer,
    map: Mapping,
    width: u32,
    height: u32,
    /// Attached and not yet released: the compositor may still read it.
    busy: bool,
    /// What this buffer holds: nothing yet, or the background with the
    /// square at this place (`--damage small` repaints only the difference).
    square: Option<Rect>,
    drawn: bool,
}

impl App {
    fn wanted_size(&self) -> (u32, u32) {
        let pick = |requested: i32, default: u32| match u32::try_from(requested) {
            Ok(v) if v > 0 => v.min(MAX_DIMENSION),
            _ => default,
        };
        (
            pick(self.requested.0, self.options.size.0),
            pick(self.requested.1, self.options.size.1),
        )
    }

    /// Answers configures and draws when a frame is due and a buffer free.
    fn step(&mut self, qh: &QueueHandle<App>) -> Result<()> {
        if std::mem::take(&mut self.configure_pending) {
            if self.size != Some(self.wanted_size()) {
                self.redraw = true;
            } else if !self.redraw {
                // Same size: a bare commit applies the ack.
                self.surface.commit();
            }
        }
        if self.redraw && self.draw(qh)? {
            self.redraw = false;
        }
        if std::mem::take(&mut self.ask) {
            self.surface.frame(qh, ());
            self.surface.commit();
        }
        if let (Some(every), Some(at), Some(bare)) =
            (self.options.commit_every, self.next_commit, &self.bare)
        {
            let now = Instant::now();
            if now >= at {
                bare.commit();
                // No catching up after a stall: the next one an interval on.
                self.next_commit = Some((at + every).max(now));
            }
        }
        if let (Some(every), Some(at)) = (self.options.retitle_every, self.next_retitle) {
            let now = Instant::now();
            if now >= at {
                self.retitles += 1;
                let dot = if self.retitles % 2 == 1 { "." } else { "" };
                self.toplevel.set_title(format!("wsbox bench{dot}"));
                self.next_retitle = Some((at + every).max(now));
            }
        }
        Ok(())
    }

    /// Draws and commits the next frame; false when every buffer is busy.
    fn draw(&mut self, qh: &QueueHandle<App>) -> Result<bool> {
        let size = self.wanted_size();
        let resized = self.size != Some(size);
        if resized {
            // Buffers of an old size are useless; the busy ones go when released.
            self.buffers.retain(|b| {
                let keep = b.busy;
                if !keep {
                    b.buffer.destroy();
                }
                keep
            });
            self.size = Some(size);
            self.shown_square = None;
        }
        let index = match self
            .buffers
            .iter()
            .position(|b| !b.busy && (b.width, b.height) == size)
        {
            Some(index) => index,
            None => {
                let current = self
                    .buffers
                    .iter()
                    .filter(|b| (b.width, b.height) == size)
                    .count();
                if current >= MAX_BUFFERS {
                    return Ok(false);
                }
                self.new_buffer(qh, size.0, size.1)?
            }
        };
        let (w, h) = (to_i32(size.0)?, to_i32(size.1)?);
        let frame = self.drawn;
        self.drawn += 1;
        let whole = Rect { x: 0, y: 0, w, h };
        let buffer = &mut self.buffers[index];
        let damage: Vec<Rect> = match self.options.damage {
            Damage::Full => {
                paint_full(buffer.map.pixels(), w, h, frame);
                buffer.drawn = true;
                vec![whole]
            }
            Damage::Small => {
                let square = square_at(w, h, frame);
                let pixels = buffer.map.pixels();
                match (buffer.drawn, buffer.square) {
                    (true, Some(old)) => fill_background(pixels, w, old),
                    (true, None) => {}
                    (false, _) => fill_background(pixels, w, whole),
                }
                fill(pixels, w, square, SQUARE_COLOR);
                buffer.square = Some(square);
                buffer.drawn = true;
                match self.shown_square {
                    Some(old) if !resized => vec![old, square],
                    _ => vec![whole],
                }
            }
        };
        buffer.busy = true;
        self.surface.attach(Some(&buffer.buffer), 0, 0);
        for r in &damage {
            if self.surface.version() >= 4 {
                self.surface.damage_buffer(r.x, r.y, r.w, r.h);
            } else {
                self.surface.damage(r.x, r.y, r.w, r.h);
            }
        }
        if self.options.opaque && resized {
            let region = self.compositor.create_region(qh, ());
            region.add(0, 0, w, h);
            self.surface.set_opaque_region(Some(&region));
            region.destroy();
        }
        if let Damage::Small = self.options.damage {
            self.shown_square = Some(square_at(w, h, frame));
        }
        self.surface.frame(qh, ());
        self.surface.commit();
        Ok(true)
    }

    fn new_buffer(&mut self, qh: &QueueHandle<App>, width: u32, height: u32) -> Result<usize> {
        let stride = width.checked_mul(4).ok_or("buffer stride overflows")?;
        let len = stride.checked_mul(height).ok_or("buffer size overflows")?;
        let fd = memfd(c"wsbox-bench-buffer")?;
        // SAFETY: `fd` is an open memfd we own.
        if unsafe { libc::ftruncate(fd.as_raw_fd(), libc::off_t::from(len)) } != 0 {
            return Err(format!("ftruncate: {}", io::Error::last_os_error()).into());
        }
        let map = Mapping::new(&fd, len as usize)?;
        let pool = self.shm.create_pool(fd.as_fd(), to_i32(len)?, qh, ());
        let id = self.next_buffer_id;
        self.next_buffer_id += 1;
        let buffer = pool.create_buffer(
            0,
            to_i32(width)?,
            to_i32(height)?,
            to_i32(stride)?,
            wl_shm::Format::Xrgb8888,
            qh,
            id,
        );
        // The buffer keeps the pool's memory alive.
        pool.destroy();
        self.buffers.push(ShmBuffer {
            id,
            buffer,
            map,
            width,
            height,
            busy: false,
            square: None,
            drawn: false,
        });
        Ok(self.buffers.len() - 1)
    }

    fn release(&mut self, id: u64) {
        let current = self.size;
        self.buffers.retain_mut(|b| {
            if b.id != id {
                return true;
            }
            b.busy = false;
            if Some((b.width, b.height)) == current {
                return true;
            }
            b.buffer.destroy();
            false
        });
    }

    fn frame_done(&mut self) {
        let now = Instant::now();
        let cpu = cpu_seconds();
        self.frames += 1;
        self.last = Some(now);
        self.last_cpu = Some(cpu);
        if self.first.is_none() {
            self.first = Some(now);
            self.first_cpu = Some(cpu);
            self.next_commit = self.options.commit_every.map(|every| now + every);
            self.next_retitle = self.options.retitle_every.map(|every| now + every);
            say(format_args!("first_frame_ns {}", monotonic_ns()));
            if self.options.first_frame {
                self.exit = Some(ExitCode::SUCCESS);
                return;
            }
        }
        if self.options.frames.is_some_and(|n| self.frames >= n) {
            self.exit = Some(ExitCode::SUCCESS);
            return;
        }
        if self.options.no_draw && self.drawn > 0 {
            self.ask = true;
        } else if !self.options.idle {
            self.redraw = true;
        }
    }
}

/// Every row a different colour, and every frame shifts them all.
fn paint_full(pixels: &mut [u32], w: i32, h: i32, frame: u64) {
    let shift = (frame as u32).wrapping_mul(3);
    let red = ((frame as u32).wrapping_mul(5) & 0xff) << 16;
    for (y, row) in pixels
        .chunks_exact_mut(w as usize)
        .take(h as usize)
        .enumerate()
    {
        let g = (y as u32).wrapping_add(shift) & 0xff;
        row.fill(0xff00_0000 | red | (g << 8) | 0x40);
    }
}

/// The still background of `--damage small`: a vertical gradient.
fn background(y: i32) -> u32 {
    0xff20_2030 | (((y as u32 / 4) & 0x3f) << 8)
}

fn fill_background(pixels: &mut [u32], stride: i32, r: Rect) {
    for y in r.y..r.y + r.h {
        let start = (y * stride + r.x) as usize;
        pixels[start..start + r.w as usize].fill(background(y));
    }
}

fn fill(pixels: &mut [u32], stride: i32, r: Rect, color: u32) {
    for y in r.y..r.y + r.h {
        let start = (y * stride + r.x) as usize;
        pixels[start..start + r.w as usize].fill(color);
    }
}

/// The square of frame `frame`: it runs left to right along the middle,
/// then starts over; clipped to the buffer.
fn square_at(w: i32, h: i32, frame: u64) -> Rect {
    let side = SQUARE.min(w).min(h);
    let span = (w - side).max(0) + 1;
    let x = ((frame as i64 * STEP as i64) % span as i64) as i32;
    let y = (h - side) / 2;
    Rect {
        x,
        y,
        w: side,
        h: side,
    }
}

fn to_i32(v: u32) -> Result<i32> {
    i32::try_from(v).map_err(|_| format!("{v} is too large for the protocol").into())
}

/// A shared, writable mapping of a whole memfd, unmapped on drop.
struct Mapping {
    ptr: NonNull<u32>,
    len: usize,
}

impl Mapping {
    fn new(fd: &OwnedFd, len: usize) -> io::Result<Self> {
        // SAFETY: a fresh mapping chosen by the kernel, of a file at least
        // `len` bytes long; nothing else in this process refers to it.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                fd.as_raw_fd(),
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let ptr = NonNull::new(ptr.cast::<u32>()).ok_or_else(|| io::Error::other("mmap: null"))?;
        Ok(Mapping { ptr, len })
    }

    fn pixels(&mut self) -> &mut [u32] {
        // SAFETY: the mapping is `len` bytes, page-aligned (so u32-aligned)
        // and lives as long as `self`; `&mut self` makes this the only
        // reference in this process. The compositor maps the same memory, but
        // only reads it, and only while the buffer is attached and unreleased,
        // when the client does not draw into it.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.len / 4) }
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: exactly the region mmap returned; no slice of it outlives
        // `self`, since `pixels` borrows `self`.
        unsafe { libc::munmap(self.ptr.as_ptr().cast(), self.len) };
    }
}

delegate_dispatch!(App: [WlRegistry: GlobalListContents] => Ignore);
delegate_dispatch!(App: [XdgWmBase: ()] => Pong);

delegate_noop!(App: ignore WlCompositor);
delegate_noop!(App: ignore WlSurface);
delegate_noop!(App: ignore WlShm);
delegate_noop!(App: ignore WlShmPool);
delegate_noop!(App: ignore WlRegion);

impl Dispatch<WlBuffer, u64> for App {
    fn event(
        app: &mut Self,
        _: &WlBuffer,
        event: wl_buffer::Event,
        id: &u64,
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        if let wl_buffer::Event::Release = event {
            app.release(*id);
        }
    }
}

impl Dispatch<WlCallback, ()> for App {
    fn event(
        app: &mut Self,
        _: &WlCallback,
        event: wl_callback::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        if let wl_callback::Event::Done { .. } = event {
            app.frame_done();
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
            app.configure_pending = true;
        }
    }
}

impl Dispatch<XdgToplevel, ()> for App {
    fn event(
        app: &mut Self,
        _: &XdgToplevel,
        event: xdg_toplevel::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        match event {
            xdg_toplevel::Event::Configure { width, height, .. } => {
                app.requested = (width, height);
            }
            xdg_toplevel::Event::Close if app.options.hang_on_close => {
                say("close");
                // Hung: nothing is read or answered from here on, until a
                // signal ends the process.
                loop {
                    std::thread::park();
                }
            }
            xdg_toplevel::Event::Close if app.options.ignore_close => say("close"),
            xdg_toplevel::Event::Close => app.exit = Some(ExitCode::SUCCESS),
            _ => {}
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
            if app.options.keys
                && caps.contains(wl_seat::Capability::Keyboard)
                && app.keyboard.is_none()
            {
                app.keyboard = Some(seat.get_keyboard(qh, ()));
            }
            if app.options.pointer
                && caps.contains(wl_seat::Capability::Pointer)
                && app.pointer.is_none()
            {
                app.pointer = Some(seat.get_pointer(qh, ()));
            }
        }
    }
}

impl Dispatch<WlKeyboard, ()> for App {
    fn event(
        _: &mut Self,
        _: &WlKeyboard,
        event: wl_keyboard::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        // The time is taken first: the event has just been read.
        let now = monotonic_ns();
        match event {
            wl_keyboard::Event::Key { key, state, .. } => {
                let pressed = state == wayland_client::WEnum::Value(wl_keyboard::KeyState::Pressed);
                say(format_args!("key {key} {} {now}", u8::from(pressed)));
            }
            wl_keyboard::Event::Enter { .. } => say(format_args!("enter {now}")),
            wl_keyboard::Event::Leave { .. } => say(format_args!("leave {now}")),
            _ => {}
        }
    }
}

impl Dispatch<WlPointer, ()> for App {
    fn event(
        _: &mut Self,
        _: &WlPointer,
        event: wl_pointer::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        match event {
            wl_pointer::Event::Enter {
                surface_x,
                surface_y,
                ..
            }
            | wl_pointer::Event::Motion {
                surface_x,
                surface_y,
                ..
            } => say(format_args!("pointer {surface_x:.0} {surface_y:.0}")),
            _ => {}
        }
    }
}
