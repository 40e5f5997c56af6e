//! demo-client: a small, real Wayland client that shows what a sandboxed app
//! can see of its surroundings.
//!
//! It opens one xdg_toplevel ("wsbox demo") and draws, on a dark background,
//! what it can observe from inside: its user, host name and machine id, the
//! network interfaces, the processes, the files in `/`, `$HOME` and `/dev`,
//! whether `/etc/shadow` exists and `/` is writable, and which sockets
//! `XDG_RUNTIME_DIR` holds. `make demo` runs it headless in a sandbox and
//! screenshots the window, so the picture itself is the evidence: everything
//! in it was read by a confined process and reached the screen only through
//! the sandbox's own compositor. The same lines go to stdout once, for a
//! terminal user.
//!
//! It uses nothing but wl_compositor, wl_shm and xdg_wm_base, draws into
//! shared-memory buffers on the CPU and renders text with fontdue from the
//! system's DejaVu Sans Mono, so it runs on any compositor without a GPU.
//!
//! Run it in a sandbox (after `cargo build --workspace --bins`):
//!
//! ```text
//! wsbox run --headless --screenshot out.png --timeout 3 \
//!     --ro target/debug/demo-client:/opt/demo-client -- /opt/demo-client
//! ```
//!
//! or on any Wayland desktop with `cargo run -p testkit --bin demo-client`.
//! Options: `--exit-after SECS` quits on its own after SECS seconds;
//! `--help` prints the usage.

use std::collections::HashMap;
use std::error::Error;
use std::fmt::Display;
use std::fs::{self, File};
use std::io::{self, Write};
use std::os::fd::AsFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileExt, FileTypeExt};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use wayland_client::globals::GlobalListContents;
use wayland_client::protocol::{
    wl_buffer::{self, WlBuffer},
    wl_callback::{self, WlCallback},
    wl_compositor::WlCompositor,
    wl_registry::WlRegistry,
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
usage: demo-client [--exit-after SECS] [--first-frame]

Opens a Wayland window showing what this process can see of its sandbox
(user, host, network, processes, files, Wayland sockets) and prints the
same lines to stdout.

  --exit-after SECS  exit 0 after SECS seconds (fractions allowed)
  --first-frame      print `first_frame_ns <CLOCK_MONOTONIC ns>` when the
                     compositor has shown the first frame (its frame
                     callback), then exit 0 (for make bench)
  --help             show this help";

/// Debian's path first; the others are where Fedora and Arch put the same
/// font, so the demo also runs unchanged on those hosts.
const FONT_PATHS: &[&str] = &[
    "/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf",
    "/usr/share/fonts/dejavu-sans-mono-fonts/DejaVuSansMono.ttf",
    "/usr/share/fonts/TTF/DejaVuSansMono.ttf",
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu-sans-fonts/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
];

const HEADING: &str = "What this app can see of its sandbox";
const SUBTITLE: &str = "Each line below was read by this process itself when it started.";

/// Size used when the compositor leaves the choice to us (configure 0x0).
const DEFAULT_SIZE: (u32, u32) = (800, 600);
/// A configure can ask for any size; past this we draw a smaller buffer rather
/// than allocate hundreds of megabytes because of one event.
const MAX_DIMENSION: u32 = 4096;

// Catppuccin Mocha-like palette: dark, calm, high contrast for the text.
const BACKGROUND: u32 = 0x1e1e2e;
const ACCENT: u32 = 0x89b4fa;
const RULE: u32 = 0x45475a;
const LABEL: u32 = 0xf9e2af;
const TEXT: u32 = 0xcdd6f4;
const DIM: u32 = 0xa6adc8;

const HEADING_PX: f32 = 24.0;
const SUBTITLE_PX: f32 = 13.0;
const BODY_PX: f32 = 16.0;
const MARGIN: i32 = 20;

const MAX_NAMED_PROCESSES: usize = 16;

fn main() -> ExitCode {
    let (exit_after, first_frame) = match parse_args(std::env::args().skip(1)) {
        Ok(Args::Help) => {
            say(USAGE);
            return ExitCode::SUCCESS;
        }
        Ok(Args::Run {
            exit_after,
            first_frame,
        }) => (exit_after, first_frame),
        Err(message) => {
            complain(format_args!("demo-client: {message} (try --help)"));
            return ExitCode::from(2);
        }
    };
    match run(exit_after, first_frame) {
        Ok(code) => code,
        Err(e) => {
            complain(format_args!("demo-client: {e}"));
            ExitCode::FAILURE
        }
    }
}

enum Args {
    Help,
    Run {
        exit_after: Option<Duration>,
        first_frame: bool,
    },
}

fn parse_args(mut args: impl Iterator<Item = String>) -> Result<Args, String> {
    let mut exit_after = None;
    let mut first_frame = false;
    while let Some(arg) = args.next() {
        let value = match arg.as_str() {
            "--help" | "-h" => return Ok(Args::Help),
            "--first-frame" => {
                first_frame = true;
                continue;
            }
            "--exit-after" => args
                .next()
                .ok_or_else(|| "--exit-after needs a number of seconds".to_string())?,
            other => match other.strip_prefix("--exit-after=") {
                Some(value) => value.to_string(),
                None => return Err(format!("unknown argument '{other}'")),
            },
        };
        let seconds = value
            .parse::<f64>()
            .ok()
            .and_then(|s| Duration::try_from_secs_f64(s).ok())
            .ok_or_else(|| format!("--exit-after: '{value}' is not a number of seconds"))?;
        exit_after = Some(seconds);
    }
    Ok(Args::Run {
        exit_after,
        first_frame,
    })
}

/// stdout may be closed or a broken pipe; that must not kill the window.
fn say(line: impl Display) {
    let _ = writeln!(io::stdout().lock(), "{line}");
}

fn complain(line: impl Display) {
    let _ = writeln!(io::stderr().lock(), "{line}");
}

fn run(exit_after: Option<Duration>, first_frame: bool) -> Result<ExitCode> {
    // Measured from the start, so `--exit-after` bounds the whole run even
    // when the compositor is slow to configure.
    let deadline = exit_after.map(|d| Instant::now() + d);

    // The font before the connection: without text there is nothing to show.
    let font = load_font()?;

    // A snapshot taken once: the window shows what the process saw at start,
    // and stdout gets exactly the same lines.
    let facts = gather_facts();
    say(HEADING);
    for fact in &facts {
        say(format_args!("  {:<16} {}", fact.label, fact.value));
    }

    let Window {
        conn: _conn,
        mut queue,
        shm,
        wm_base: _wm_base,
        surface,
        xdg_surface,
        toplevel,
        ..
    } = Window::<App>::open("wsbox demo", "wsbox.demo")?;

    let mut app = App {
        shm,
        surface,
        _xdg_surface: xdg_surface,
        _toplevel: toplevel,
        painter: Painter::new(font),
        facts,
        requested: (0, 0),
        bounds: None,
        configure_pending: false,
        size: None,
        buffers: Vec::new(),
        next_buffer_id: 0,
        first_frame,
        exit: None,
    };
    event_loop(&mut queue, &mut app, deadline)
}

/// The first font that reads and parses; a broken file only moves on to the
/// next, and its error is reported if nothing else works.
fn load_font() -> Result<fontdue::Font> {
    let mut broken = Vec::new();
    for path in FONT_PATHS {
        let Ok(bytes) = fs::read(path) else { continue };
        match fontdue::Font::from_bytes(bytes, fontdue::FontSettings::default()) {
            Ok(font) => return Ok(font),
            Err(e) => broken.push(format!("{path}: {e}")),
        }
    }
    if broken.is_empty() {
        Err(format!(
            "no DejaVu Sans Mono or DejaVu Sans font found (looked for {})",
            FONT_PATHS.join(", ")
        )
        .into())
    } else {
        Err(format!("no usable font ({})", broken.join("; ")).into())
    }
}

/// Waits on the socket with poll() rather than blocking_dispatch, so that
/// `--exit-after` can end the run even while the compositor says nothing.
fn event_loop(
    queue: &mut EventQueue<App>,
    app: &mut App,
    deadline: Option<Instant>,
) -> Result<ExitCode> {
    let qh = queue.handle();
    loop {
        queue.dispatch_pending(app)?;
        if let Some(code) = app.exit {
            return Ok(code);
        }
        if app.configure_pending {
            app.configure_pending = false;
            app.present(&qh)?;
        }
        let left = match deadline {
            None => None,
            Some(deadline) => {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Ok(ExitCode::SUCCESS);
                }
                Some(left)
            }
        };
        flush_and_read(queue, left)?;
    }
}

struct App {
    shm: WlShm,
    surface: WlSurface,
    // Kept so the window lives as long as the app; dropping a proxy does not
    // destroy it, but holding them documents that they are ours.
    _xdg_surface: XdgSurface,
    _toplevel: XdgToplevel,
    painter: Painter,
    facts: Vec<Fact>,
    /// The size of the latest xdg_toplevel.configure; 0 means "you choose".
    requested: (i32, i32),
    bounds: Option<(i32, i32)>,
    /// Set when an xdg_surface.configure was acked and wants a commit.
    configure_pending: bool,
    /// The size of the buffer last committed, if any.
    size: Option<(u32, u32)>,
    buffers: Vec<ShmBuffer>,
    next_buffer_id: u64,
    /// `--first-frame`: the next frame drawn asks for a frame callback.
    first_frame: bool,
    exit: Option<ExitCode>,
}

struct ShmBuffer {
    id: u64,
    buffer: WlBuffer,
    /// The memfd behind the buffer: pixels are written with pwrite, which
    /// keeps the client free of mmap and its unsafe aliasing.
    file: File,
    width: u32,
    height: u32,
    /// Attached and not yet released: the compositor may still read it.
    busy: bool,
}

impl App {
    fn wanted_size(&self) -> (u32, u32) {
        let pick = |requested: i32, default: u32, bound: Option<i32>| -> u32 {
            match u32::try_from(requested) {
                Ok(v) if v > 0 => v.min(MAX_DIMENSION),
                _ => match bound.and_then(|b| u32::try_from(b).ok()) {
                    Some(b) if b > 0 => default.min(b),
                    _ => default,
                },
            }
        };
        (
            pick(self.requested.0, DEFAULT_SIZE.0, self.bounds.map(|b| b.0)),
            pick(self.requested.1, DEFAULT_SIZE.1, self.bounds.map(|b| b.1)),
        )
    }

    /// Answers an acked configure: a new frame if the size changed, else a
    /// bare commit, which is what applies the ack.
    fn present(&mut self, qh: &QueueHandle<App>) -> Result<()> {
        let size = self.wanted_size();
        if self.size == Some(size) {
            self.surface.commit();
            return Ok(());
        }
        let (width, height) = size;
        let pixels = self.render(width, height);

        // Buffers of an old size are useless now; the busy ones go when released.
        self.buffers.retain(|b| {
            let keep = b.busy || (b.width, b.height) == size;
            if !keep {
                b.buffer.destroy();
            }
            keep
        });
        let index = match self
            .buffers
            .iter()
            .position(|b| !b.busy && (b.width, b.height) == size)
        {
            Some(index) => index,
            None => self.new_buffer(qh, width, height)?,
        };
        let buffer = &mut self.buffers[index];
        buffer.file.write_all_at(&pixels, 0)?;
        buffer.busy = true;

        let (w, h) = (to_i32(width)?, to_i32(height)?);
        self.surface.attach(Some(&buffer.buffer), 0, 0);
        if self.surface.version() >= 4 {
            self.surface.damage_buffer(0, 0, w, h);
        } else {
            self.surface.damage(0, 0, w, h);
        }
        if std::mem::take(&mut self.first_frame) {
            self.surface.frame(qh, ());
        }
        self.surface.commit();
        self.size = Some(size);
        Ok(())
    }

    fn new_buffer(&mut self, qh: &QueueHandle<App>, width: u32, height: u32) -> Result<usize> {
        let stride = width.checked_mul(4).ok_or("buffer stride overflows")?;
        let len = stride.checked_mul(height).ok_or("buffer size overflows")?;
        let file = File::from(memfd(c"wsbox-demo-buffer")?);
        file.set_len(u64::from(len))?;
        let pool = self.shm.create_pool(file.as_fd(), to_i32(len)?, qh, ());
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
        // The buffer keeps the pool's memory alive; one pool per buffer keeps
        // resizing simple.
        pool.destroy();
        self.buffers.push(ShmBuffer {
            id,
            buffer,
            file,
            width,
            height,
            busy: false,
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

    /// The whole frame, as XRGB8888 bytes (little-endian, as wl_shm defines).
    fn render(&mut self, width: u32, height: u32) -> Vec<u8> {
        let mut canvas = Canvas::new(width as usize, height as usize, BACKGROUND);
        let painter = &mut self.painter;
        let w = width as i32;
        let h = height as i32;
        canvas.fill_rect(0, 0, w, 4, ACCENT);

        let text_width = (w - 2 * MARGIN).max(1) as f32;
        let mut y = MARGIN;
        for (text, px, color, gap) in [
            (HEADING, HEADING_PX, ACCENT, 2),
            (SUBTITLE, SUBTITLE_PX, DIM, 8),
        ] {
            let metrics = painter.line(px);
            for line in painter.wrap(text, px, text_width) {
                painter.draw(&mut canvas, MARGIN, y + metrics.ascent, &line, px, color);
                y += metrics.height;
            }
            y += gap;
        }
        canvas.fill_rect(MARGIN, y, w - 2 * MARGIN, 1, RULE);
        y += 10;

        let body = painter.line(BODY_PX);
        let fit = usize::try_from((h - MARGIN / 2 - y) / body.height.max(1)).unwrap_or(0);
        let (groups, min_rows) = layout_facts(painter, &self.facts, text_width);
        let rows = fit_rows(groups, min_rows, fit);
        let (shown, hidden) = if rows.len() > fit {
            // The last visible row says what was cut, so a clipped screenshot
            // never looks complete when it is not.
            (fit.saturating_sub(1), rows.len() - fit.saturating_sub(1))
        } else {
            (rows.len(), 0)
        };
        for row in &rows[..shown] {
            let baseline = y + body.ascent;
            if let Some(label) = row.label {
                painter.draw(&mut canvas, MARGIN, baseline, label, BODY_PX, LABEL);
            }
            let x = MARGIN + row.indent;
            painter.draw(&mut canvas, x, baseline, &row.text, BODY_PX, row.color);
            y += body.height;
        }
        if hidden > 0 && fit > 0 {
            let note = format!("… {hidden} more lines on stdout");
            let note = painter
                .wrap(&note, BODY_PX, text_width)
                .into_iter()
                .next()
                .unwrap_or_default();
            painter.draw(&mut canvas, MARGIN, y + body.ascent, &note, BODY_PX, DIM);
        }
        canvas.into_bytes()
    }
}

fn to_i32(v: u32) -> Result<i32> {
    i32::try_from(v).map_err(|_| format!("{v} is too large for the protocol").into())
}

// Globals that come and go later (outputs, seats) do not matter here.
delegate_dispatch!(App: [WlRegistry: GlobalListContents] => Ignore);
delegate_dispatch!(App: [XdgWmBase: ()] => Pong);

delegate_noop!(App: ignore WlCompositor);
delegate_noop!(App: ignore WlSurface);
delegate_noop!(App: ignore WlShm);
delegate_noop!(App: ignore WlShmPool);

/// The first frame's callback (`--first-frame`): shown, so done.
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
            say(format_args!("first_frame_ns {}", monotonic_ns()));
            app.exit = Some(ExitCode::SUCCESS);
        }
    }
}

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
            // Acked at once; the frame that answers it is drawn by the event
            // loop, which can report an error instead of swallowing it.
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
            xdg_toplevel::Event::ConfigureBounds { width, height } => {
                app.bounds = Some((width, height));
            }
            xdg_toplevel::Event::Close => app.exit = Some(ExitCode::SUCCESS),
            _ => {}
        }
    }
}

// ---------------------------------------------------------------------------
// Drawing

struct Canvas {
    width: usize,
    height: usize,
    pixels: Vec<u32>,
}

impl Canvas {
    fn new(width: usize, height: usize, color: u32) -> Self {
        Canvas {
            width,
            height,
            pixels: vec![color; width * height],
        }
    }

    fn fill_rect(&mut self, x: i32, y: i32, w: i32, h: i32, color: u32) {
        for yy in y.max(0)..(y + h).max(0) {
            for xx in x.max(0)..(x + w).max(0) {
                self.blend(xx, yy, color, 255);
            }
        }
    }

    /// Clipped: text may run past any edge without harm.
    fn blend(&mut self, x: i32, y: i32, color: u32, alpha: u8) {
        let (Ok(x), Ok(y)) = (usize::try_from(x), usize::try_from(y)) else {
            return;
        };
        if x >= self.width || y >= self.height || alpha == 0 {
            return;
        }
        let dst = &mut self.pixels[y * self.width + x];
        let a = u32::from(alpha);
        let mix = |shift: u32| {
            let s = (color >> shift) & 0xff;
            let d = (*dst >> shift) & 0xff;
            ((s * a + d * (255 - a) + 127) / 255) << shift
        };
        *dst = mix(16) | mix(8) | mix(0);
    }

    /// The X byte is set to 0xff although XRGB8888 says to ignore it: some
    /// compositors (weston 10's pixman path, for one) show 0x00 there as white.
    fn into_bytes(self) -> Vec<u8> {
        self.pixels
            .iter()
            .flat_map(|p| (p | 0xff00_0000).to_le_bytes())
            .collect()
    }
}

#[derive(Clone, Copy)]
struct LineBox {
    ascent: i32,
    height: i32,
}

struct Painter {
    font: fontdue::Font,
    glyphs: HashMap<(char, u32), (fontdue::Metrics, Vec<u8>)>,
}

impl Painter {
    fn new(font: fontdue::Font) -> Self {
        Painter {
            font,
            glyphs: HashMap::new(),
        }
    }

    fn line(&self, px: f32) -> LineBox {
        match self.font.horizontal_line_metrics(px) {
            Some(m) => LineBox {
                ascent: m.ascent.ceil() as i32,
                height: m.new_line_size.ceil() as i32 + 2,
            },
            None => LineBox {
                ascent: px.ceil() as i32,
                height: (px * 1.3).ceil() as i32,
            },
        }
    }

    fn advance(&self, ch: char, px: f32) -> f32 {
        self.font.metrics(ch, px).advance_width
    }

    fn width(&self, text: &str, px: f32) -> f32 {
        text.chars().map(|c| self.advance(c, px)).sum()
    }

    /// Greedy word wrap; a word longer than a line is broken between
    /// characters, and every line holds at least one character, so any width
    /// (even 1 px) terminates.
    fn wrap(&self, text: &str, px: f32, max_width: f32) -> Vec<String> {
        let mut lines = Vec::new();
        let mut line = String::new();
        let mut width = 0.0;
        let space = self.advance(' ', px);
        for word in text.split(' ') {
            let word_width = self.width(word, px);
            let gap = if line.is_empty() { 0.0 } else { space };
            if width + gap + word_width <= max_width {
                if !line.is_empty() {
                    line.push(' ');
                }
                line.push_str(word);
                width += gap + word_width;
                continue;
            }
            if !line.is_empty() {
                lines.push(std::mem::take(&mut line));
                width = 0.0;
            }
            for ch in word.chars() {
                let w = self.advance(ch, px);
                if width + w > max_width && !line.is_empty() {
                    lines.push(std::mem::take(&mut line));
                    width = 0.0;
                }
                line.push(ch);
                width += w;
            }
        }
        if !line.is_empty() || lines.is_empty() {
            lines.push(line);
        }
        lines
    }

    fn draw(
        &mut self,
        canvas: &mut Canvas,
        x: i32,
        baseline: i32,
        text: &str,
        px: f32,
        color: u32,
    ) {
        let mut pen = x as f32;
        for ch in text.chars() {
            let font = &self.font;
            let (metrics, coverage) = self
                .glyphs
                .entry((ch, px.to_bits()))
                .or_insert_with(|| font.rasterize(ch, px));
            let left = pen.round() as i32 + metrics.xmin;
            let top = baseline - metrics.height as i32 - metrics.ymin;
            if metrics.width > 0 {
                for (i, row) in coverage.chunks(metrics.width).enumerate() {
                    for (j, &alpha) in row.iter().enumerate() {
                        canvas.blend(left + j as i32, top + i as i32, color, alpha);
                    }
                }
            }
            pen += metrics.advance_width;
        }
    }
}

/// One line of the fact list as drawn: an optional label at the margin and
/// text at `indent` pixels from it.
struct Row<'a> {
    label: Option<&'a str>,
    indent: i32,
    text: String,
    color: u32,
}

/// The rows of every fact, one group per fact, and the fewest rows a group
/// can be cut to (a label row of its own needs one value row under it).
fn layout_facts<'a>(
    painter: &Painter,
    facts: &'a [Fact],
    width: f32,
) -> (Vec<Vec<Row<'a>>>, usize) {
    let cell = painter.advance('M', BODY_PX);
    let label_chars = facts
        .iter()
        .map(|f| f.label.chars().count())
        .max()
        .unwrap_or(0)
        + 2;
    let label_width = (label_chars as f32 * cell).ceil();
    // Side by side when the values keep a useful width, else labels on their
    // own lines so a narrow window still shows everything legibly.
    let side_by_side = width - label_width >= 24.0 * cell;
    let mut groups = Vec::new();
    for fact in facts {
        let mut rows = Vec::new();
        if side_by_side {
            let lines = painter.wrap(&fact.value, BODY_PX, width - label_width);
            for (i, text) in lines.into_iter().enumerate() {
                rows.push(Row {
                    label: (i == 0).then_some(fact.label),
                    indent: label_width as i32,
                    text,
                    color: TEXT,
                });
            }
        } else {
            rows.push(Row {
                label: Some(fact.label),
                indent: 0,
                text: String::new(),
                color: TEXT,
            });
            let indent = (2.0 * cell).ceil();
            for text in painter.wrap(&fact.value, BODY_PX, (width - indent).max(1.0)) {
                rows.push(Row {
                    label: None,
                    indent: indent as i32,
                    text,
                    color: TEXT,
                });
            }
        }
        groups.push(rows);
    }
    (groups, if side_by_side { 1 } else { 2 })
}

/// Cuts the longest facts first, to the same number of rows each, so that a
/// long process list or /dev cannot push the short facts that matter most
/// (/etc/shadow, writing to /, the Wayland socket) off the window.
fn fit_rows<'a>(groups: Vec<Vec<Row<'a>>>, min_rows: usize, fit: usize) -> Vec<Row<'a>> {
    let total = |cap: usize| groups.iter().map(|g| g.len().min(cap)).sum::<usize>();
    let longest = groups.iter().map(Vec::len).max().unwrap_or(0);
    let cap = (min_rows..=longest)
        .rev()
        .find(|&cap| total(cap) <= fit)
        .unwrap_or(min_rows);
    let mut rows = Vec::new();
    for mut group in groups {
        if group.len() > cap {
            let cut = group.len() - (cap - 1);
            group.truncate(cap);
            if let Some(last) = group.last_mut() {
                last.text = format!("… {cut} more lines on stdout");
                last.color = DIM;
            }
        }
        rows.extend(group);
    }
    rows
}

// ---------------------------------------------------------------------------
// What the process can see. Every probe turns its failure into text: an
// error is itself something the sandbox shows.

struct Fact {
    label: &'static str,
    value: String,
}

fn gather_facts() -> Vec<Fact> {
    let fact = |label, value| Fact { label, value };
    let home = std::env::var_os("HOME").map(PathBuf::from);
    vec![
        fact("user", user()),
        fact("hostname", hostname()),
        fact("machine-id", machine_id()),
        fact("network", network_interfaces()),
        fact("processes", processes()),
        fact("/", list_dir(Path::new("/"))),
        fact(
            "$HOME",
            match &home {
                Some(home) => list_dir(home),
                None => "(HOME is not set)".to_string(),
            },
        ),
        fact("/dev", list_dir(Path::new("/dev"))),
        fact("/etc/shadow", shadow()),
        fact("write to /", write_root()),
        fact("WAYLAND_DISPLAY", wayland_display()),
        fact("XDG_RUNTIME_DIR", runtime_dir()),
    ]
}

/// `io::Error`'s text without the " (os error N)" tail: the screenshot is
/// for people.
fn error_text(e: &io::Error) -> String {
    let text = e.to_string();
    match text.find(" (os error ") {
        Some(at) => text[..at].to_string(),
        None => text,
    }
}

/// File names are arbitrary bytes; control characters would draw as boxes
/// or break lines, so they are shown escaped.
fn printable(name: &std::ffi::OsStr) -> String {
    let lossy = String::from_utf8_lossy(name.as_bytes());
    lossy
        .chars()
        .flat_map(|c| {
            if c.is_control() {
                c.escape_default().collect::<Vec<_>>()
            } else {
                vec![c]
            }
        })
        .collect()
}

fn user() -> String {
    // SAFETY: getuid and getgid cannot fail and touch no memory of ours.
    let (uid, gid) = unsafe { (libc::getuid(), libc::getgid()) };
    let name = fs::read_to_string("/etc/passwd")
        .ok()
        .and_then(|passwd| {
            passwd.lines().find_map(|line| {
                let mut fields = line.split(':');
                let name = fields.next()?;
                let id = fields.nth(1)?;
                (id.parse::<u32>().ok()? == uid).then(|| name.to_string())
            })
        })
        .unwrap_or_else(|| "(not in /etc/passwd)".to_string());
    let home = std::env::var_os("HOME")
        .map(|h| printable(&h))
        .unwrap_or_else(|| "(unset)".to_string());
    format!("uid {uid}, gid {gid}, name {name}, HOME={home}")
}

fn hostname() -> String {
    if let Ok(name) = fs::read_to_string("/proc/sys/kernel/hostname") {
        return name.trim().to_string();
    }
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its whole length.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return format!("(unknown: {})", error_text(&io::Error::last_os_error()));
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

fn machine_id() -> String {
    match fs::read_to_string("/etc/machine-id") {
        Ok(id) if id.trim().is_empty() => "(empty file)".to_string(),
        Ok(id) => id.trim().to_string(),
        Err(e) => format!("(none: {})", error_text(&e)),
    }
}

fn network_interfaces() -> String {
    match fs::read_to_string("/proc/net/dev") {
        Ok(table) => {
            let names: Vec<&str> = table
                .lines()
                .skip(2)
                .filter_map(|line| line.split(':').next())
                .map(str::trim)
                .filter(|name| !name.is_empty())
                .collect();
            if names.is_empty() {
                "(none)".to_string()
            } else {
                names.join(" ")
            }
        }
        Err(e) => format!("(cannot read /proc/net/dev: {})", error_text(&e)),
    }
}

fn processes() -> String {
    let entries = match fs::read_dir("/proc") {
        Ok(entries) => entries,
        Err(e) => return format!("(cannot list /proc: {})", error_text(&e)),
    };
    let mut pids: Vec<u32> = entries
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    pids.sort_unstable();
    // Names help when there are few (a sandbox's usual case); on a host
    // with hundreds they would crowd out everything else.
    let named = pids.len() <= MAX_NAMED_PROCESSES;
    let listed: Vec<String> = pids
        .iter()
        .map(|pid| {
            let comm = named.then(|| fs::read_to_string(format!("/proc/{pid}/comm")));
            match comm {
                Some(Ok(comm)) => format!("{pid} ({})", comm.trim()),
                _ => pid.to_string(),
            }
        })
        .collect();
    format!("{} visible: {}", pids.len(), listed.join(" "))
}

fn list_dir(dir: &Path) -> String {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) => return format!("(cannot list: {})", error_text(&e)),
    };
    let mut names: Vec<String> = entries
        .filter_map(|entry| entry.ok())
        .map(|entry| printable(&entry.file_name()))
        .collect();
    if names.is_empty() {
        return "(empty)".to_string();
    }
    names.sort();
    names.join(" ")
}

fn shadow() -> String {
    let path = Path::new("/etc/shadow");
    match fs::symlink_metadata(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => "does not exist".to_string(),
        Err(e) => format!("cannot tell: {}", error_text(&e)),
        Ok(_) => match File::open(path) {
            Ok(_) => "exists and is READABLE".to_string(),
            Err(e) => format!("exists; reading it: {}", error_text(&e)),
        },
    }
}

fn write_root() -> String {
    let probe = Path::new("/.wsbox-demo-write-test");
    match fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(probe)
    {
        Ok(_) => {
            let cleanup = match fs::remove_file(probe) {
                Ok(()) => "and removed".to_string(),
                Err(e) => format!("but could not remove it: {}", error_text(&e)),
            };
            format!("WRITABLE: created {} {cleanup}", probe.display())
        }
        Err(e) => format!("refused: {}", error_text(&e)),
    }
}

fn runtime_entries(dir: &Path) -> io::Result<Vec<(String, bool)>> {
    let mut entries: Vec<(String, bool)> = fs::read_dir(dir)?
        .filter_map(|entry| entry.ok())
        .map(|entry| {
            // stat, not the dirent's type: a socket bind-mounted onto a
            // placeholder file (as a sandbox does) shows the placeholder's type.
            let is_socket = fs::metadata(entry.path()).is_ok_and(|m| m.file_type().is_socket());
            (printable(&entry.file_name()), is_socket)
        })
        .collect();
    entries.sort();
    Ok(entries)
}

fn wayland_display() -> String {
    let Some(display) = std::env::var_os("WAYLAND_DISPLAY") else {
        return "(unset; the default is wayland-0)".to_string();
    };
    let shown = printable(&display);
    let Some(runtime) = std::env::var_os("XDG_RUNTIME_DIR").map(PathBuf::from) else {
        return format!("{shown}; XDG_RUNTIME_DIR is unset");
    };
    // WAYLAND_DISPLAY may be an absolute path, in which case the runtime
    // directory plays no part in finding it.
    let socket = runtime.join(&display);
    let in_runtime = socket.parent() == Some(runtime.as_path());
    let entries = match runtime_entries(&runtime) {
        Ok(entries) => entries,
        Err(e) => return format!("{shown}; cannot list XDG_RUNTIME_DIR: {}", error_text(&e)),
    };
    let sockets: Vec<&str> = entries
        .iter()
        .filter(|(_, is_socket)| *is_socket)
        .map(|(name, _)| name.as_str())
        .collect();
    let name = socket.file_name().map(printable).unwrap_or_default();
    if in_runtime && sockets == [name.as_str()] {
        format!("{shown}: the only socket in XDG_RUNTIME_DIR")
    } else if sockets.is_empty() {
        format!("{shown}; XDG_RUNTIME_DIR holds no socket")
    } else {
        format!("{shown}; sockets in XDG_RUNTIME_DIR: {}", sockets.join(" "))
    }
}

fn runtime_dir() -> String {
    let Some(runtime) = std::env::var_os("XDG_RUNTIME_DIR").map(PathBuf::from) else {
        return "(unset)".to_string();
    };
    let listing = match runtime_entries(&runtime) {
        Ok(entries) if entries.is_empty() => "(empty)".to_string(),
        Ok(entries) => entries
            .iter()
            .map(|(name, is_socket)| {
                if *is_socket {
                    format!("{name} (socket)")
                } else {
                    name.clone()
                }
            })
            .collect::<Vec<_>>()
            .join(" "),
        Err(e) => format!("(cannot list: {})", error_text(&e)),
    };
    format!("{} holds: {listing}", printable(runtime.as_os_str()))
}
