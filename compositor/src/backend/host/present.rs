//! Presenting the output in the host window: rendering into host wl_shm
//! buffers with the frame drawn around it, the damage of each commit, and
//! the pacing by the host's frame callbacks. Also what changes the buffers'
//! layout: the host's configures, scale and decorations.

use std::fs::File;
use std::os::fd::AsFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use smithay::backend::renderer::damage::OutputDamageTracker;
use smithay::backend::renderer::pixman::PixmanRenderer;
use smithay::backend::renderer::Bind;
use smithay::output::Output;
use smithay::reexports::pixman;
use smithay::utils::Rectangle;
use wayland_client::protocol::wl_shm;
use wayland_client::QueueHandle;

use super::{Error, Host, HostWindow, Presenter, ShmBuffer, MAX_BUFFERS, TICK};
use crate::core_state::Core;
use crate::render;
use crate::screenshot;

impl Presenter {
    pub(super) fn new(output: &Output, title_sent: String) -> Result<Self, Error> {
        Ok(Self {
            renderer: PixmanRenderer::new().map_err(|e| Error::Renderer(e.to_string()))?,
            damage_tracker: OutputDamageTracker::from_output(output),
            cursor: render::arrow_cursor(),
            buffers: Vec::new(),
            shown: None,
            prepared: None,
            damage: Vec::new(),
            title_sent,
            dirty: true,
            configured: false,
            frame_pending: None,
            frames_owed: false,
            frame_seq: 0,
            frames_rendered: 0,
        })
    }

    /// Drops every buffer (new size, scale or layout): the next frame is
    /// drawn whole into new ones.
    fn drop_buffers(&mut self) {
        self.buffers.clear();
        self.shown = None;
        self.prepared = None;
        self.damage.clear();
    }
}

impl HostWindow {
    /// Follows a new size of the output: new buffers, the frame redrawn.
    pub fn resize(&mut self, output: &Output) -> Result<(), String> {
        let mode = output
            .current_mode()
            .ok_or_else(|| "the output has no mode".to_owned())?;
        self.marking.set_content((mode.size.w, mode.size.h));
        self.presenter.drop_buffers();
        self.presenter.damage_tracker = OutputDamageTracker::from_output(output);
        self.presenter.dirty = true;
        Ok(())
    }

    /// The host configured the window at `size` (logical pixels, 0: "choose"):
    /// it may be shown now. The output size it asks for, in buffer pixels,
    /// with the scale, when it differs from the current one.
    pub(crate) fn configure(&mut self, size: (i32, i32)) -> Option<(i32, i32, f64)> {
        self.presenter.configured = true;
        self.presenter.dirty = true;
        let want = self.marking.content_for(size);
        if want == self.marking.content_logical() {
            return None;
        }
        let (pw, ph) = (self.marking.px(want.0), self.marking.px(want.1));
        Some((pw, ph, self.marking.scale()))
    }

    /// When the host's scale differs from the window's: the output size
    /// at the new scale, in buffer pixels, and the scale. The window takes
    /// it with [`Self::set_scale`], once the output has followed.
    pub(crate) fn scale_change(&self) -> Option<(i32, i32, f64)> {
        let scale = self.link.host.scale();
        if scale == self.marking.scale() {
            return None;
        }
        let (w, h) = self.marking.content_logical();
        let px = |v: i32| (f64::from(v) * scale).round() as i32;
        Some((px(w), px(h), scale))
    }

    /// The output follows the host's new scale: so do the buffers. Not
    /// before, lest the old buffers be shown at a scale they do not fit.
    pub(crate) fn set_scale(&mut self, scale: f64) {
        self.marking.set_scale(scale);
        self.presenter.drop_buffers();
        self.presenter.dirty = true;
    }

    /// The host's decoration mode: true when it draws the title bar.
    pub(crate) fn host_decorations(&mut self, server: bool) {
        if self.marking.set_host_decorations(server) {
            tracing::debug!(ssd = server, "host decorations changed");
            // The output's place in the buffers moves: new ones.
            self.presenter.drop_buffers();
            self.presenter.dirty = true;
        }
    }

    /// The host's frame callback: it is ready for the next frame. The
    /// clients' frame callbacks follow in [`Self::render_frame`]: at once
    /// when nothing waits to be drawn, else after drawing it.
    pub(crate) fn frame_done(&mut self) {
        self.presenter.frame_pending = None;
    }

    /// Follows the app's title: the frame is redrawn with it, and the host
    /// gets it with the next frame ([`Self::send_title`]).
    pub(crate) fn update_title(&mut self, app_title: &str, not_responding: bool) {
        if self.marking.set_app_title(app_title, not_responding) {
            self.presenter.dirty = true;
        }
    }

    /// Shows, or stops showing, that the app records sound.
    pub(crate) fn set_recording(&mut self, recording: bool) {
        if self.marking.set_recording(recording) {
            self.presenter.dirty = true;
        }
    }

    /// Flashes the frame: the confirmation of a clipboard transfer.
    pub(crate) fn flash(&mut self) {
        self.marking.flash();
        self.presenter.dirty = true;
    }

    /// The slow tick: housekeeping, and frame callbacks for clients while the
    /// host has not answered for a while.
    pub fn tick(&mut self, core: &mut Core) {
        core.space.refresh();
        core.popups.cleanup();
        let stalled = self
            .presenter
            .frame_pending
            .is_none_or(|since| since.elapsed() >= TICK);
        if stalled {
            render::send_frames(core);
            self.send_title();
        }
    }

    /// A buffer the host does not hold, of the current size; made when
    /// there are fewer than [`MAX_BUFFERS`].
    fn free_buffer(&mut self, output: &Output) -> Result<Option<usize>, Error> {
        let presenter = &mut self.presenter;
        if let Some(i) = presenter
            .buffers
            .iter()
            .position(|b| !b.busy.load(Ordering::Acquire))
        {
            return Ok(Some(i));
        }
        if presenter.buffers.len() >= MAX_BUFFERS {
            return Ok(None);
        }
        let (w, h) = self.marking.buffer_size();
        let mut buffer = ShmBuffer::new(
            &self.link.shm,
            &self.link.qh,
            w,
            h,
            self.marking.content_offset(),
            self.marking.content(),
        )?;
        buffer.tracker = Some(OutputDamageTracker::from_output(output));
        presenter.buffers.push(buffer);
        Ok(Some(presenter.buffers.len() - 1))
    }

    /// Renders what changed into a buffer the host does not hold, at once,
    /// and commits it when the host is ready for a frame; otherwise does
    /// nothing.
    ///
    /// Rendering does not wait for the host: while the host composites one
    /// frame, the next is copied into another buffer, so that the host's
    /// frame callback is answered with a bare commit. Only one frame is
    /// rendered ahead: later commits wait for the host. The clients' frame
    /// callbacks go out with that commit (as weston does nested: when it
    /// repaints, not when the host shows the result), so a client draws
    /// while the host composites, and each of its frames reaches the host,
    /// at the host's pace.
    pub fn render_frame(&mut self, core: &mut Core) {
        if !self.presenter.configured || self.link.lost.is_some() {
            return;
        }
        // Keep committing while the flash lasts, then redraw the frame.
        if self.marking.flashing() && self.presenter.frame_pending.is_none() {
            self.marking.end_flash_if_over();
            self.presenter.dirty = true;
        }
        // One frame ahead at most: an app that commits without waiting for
        // its frame callbacks gets its newest commit rendered once the host
        // is ready, not a copy per commit.
        let ahead = self.presenter.prepared.is_some() && self.presenter.frame_pending.is_some();
        if (core.needs_redraw || self.presenter.dirty) && !ahead {
            self.render_ahead(core);
        }
        if self.presenter.frame_pending.is_some() {
            return;
        }
        // The host is ready for a frame: what the clients drew for the last
        // one is on screen, so the callbacks held back go out now, whether
        // or not something new is committed with this one (commits that
        // change nothing, the cursor or the flash must not starve them).
        if std::mem::take(&mut self.presenter.frames_owed) {
            render::send_frames(core);
        }
        if let Some(index) = self.presenter.prepared.take() {
            self.commit(core, index);
        }
    }

    /// For a screenshot: renders what changed even while a frame is
    /// already prepared ahead of the host (the host never holds the
    /// prepared buffer), so that the screenshot shows the newest state, also
    /// while the host sends no frame callbacks (a hidden window).
    pub fn render_latest(&mut self, core: &mut Core) {
        if self.presenter.configured
            && self.link.lost.is_none()
            && (core.needs_redraw || self.presenter.dirty)
        {
            self.render_ahead(core);
        }
    }

    /// Renders what changed into the prepared buffer, or a free one.
    fn render_ahead(&mut self, core: &mut Core) {
        let index = match self.presenter.prepared {
            Some(index) => index,
            None => match self.free_buffer(&core.output) {
                Ok(Some(index)) => index,
                // All buffers are with the host: a release will bring us back.
                Ok(None) => return,
                Err(err) => {
                    tracing::warn!(%err, "cannot render into the host window");
                    return;
                }
            },
        };
        core.needs_redraw = false;
        let presenter = &mut self.presenter;
        presenter.dirty = false;
        let (bw, bh) = self.marking.buffer_size();
        let offset = self.marking.content_offset();
        let Some(buffer) = presenter.buffers.get_mut(index) else {
            return;
        };
        if buffer.marking != self.marking.version() {
            // Rasterised only when the frame is redrawn, not for every frame.
            self.marking.draw(&mut buffer.map);
            buffer.marking = self.marking.version();
            presenter.damage.push(Rectangle::from_size((bw, bh).into()));
        }

        let elements = render::elements(&mut presenter.renderer, core, &presenter.cursor, false);
        // The host's damage: what changed since the last render, whichever
        // buffer it went to. With what the renders since the last commit
        // added, it covers all that differs from the buffer the host shows.
        match presenter.damage_tracker.damage_output(1, &elements) {
            Ok((rects, _)) => {
                presenter
                    .damage
                    .extend(rects.into_iter().flatten().map(|r| {
                        Rectangle::new(
                            (r.loc.x + offset.0, r.loc.y + offset.1).into(),
                            (r.size.w, r.size.h).into(),
                        )
                    }));
            }
            Err(err) => {
                tracing::warn!(?err, "cannot track the damage");
                presenter.damage.push(Rectangle::from_size((bw, bh).into()));
            }
        }
        // The buffer's own tracker redraws what changed since its last
        // render.
        let Some(tracker) = buffer.tracker.as_mut() else {
            return;
        };
        let rendered = match presenter.renderer.bind(&mut buffer.content) {
            Ok(mut fb) => tracker
                .render_output(
                    &mut presenter.renderer,
                    &mut fb,
                    1,
                    &elements,
                    render::BACKGROUND,
                )
                .map(|_| ())
                .map_err(|e| format!("{e:?}")),
            Err(e) => Err(format!("{e:?}")),
        };
        if let Err(err) = rendered {
            tracing::warn!(%err, "rendering failed");
        }
        presenter.prepared = Some(index);
    }

    /// Sends the host the current title if it has an older one: at most
    /// once per frame committed, or per tick while the host sends no frame
    /// callbacks.
    fn send_title(&mut self) {
        let title = self.marking.title();
        if title != self.presenter.title_sent {
            self.link.toplevel.set_title(title.to_owned());
            title.clone_into(&mut self.presenter.title_sent);
        }
    }

    /// Commits the prepared buffer `index` to the host with a frame
    /// callback, then lets the clients draw their next frame.
    fn commit(&mut self, core: &mut Core, index: usize) {
        self.send_title();
        let (link, presenter) = (&self.link, &mut self.presenter);
        link.surface.frame(&link.qh, ());
        presenter.frame_pending = Some(Instant::now());
        if presenter.damage.is_empty() {
            // Nothing new to show: the clients may draw again when the host
            // is ready for another frame.
            link.surface.commit();
            presenter.frames_owed = true;
            return;
        }
        let logical = self.marking.window_size();
        let Some(buffer) = presenter.buffers.get(index) else {
            return;
        };
        buffer.busy.store(true, Ordering::Release);
        match &link.viewport {
            Some((viewport, _)) => {
                link.surface.set_buffer_scale(1);
                viewport.set_destination(logical.0, logical.1);
            }
            None => link
                .surface
                .set_buffer_scale(self.marking.scale().round() as i32),
        }
        link.surface.attach(Some(&buffer.buffer), 0, 0);
        for rect in presenter.damage.drain(..) {
            link.surface
                .damage_buffer(rect.loc.x, rect.loc.y, rect.size.w, rect.size.h);
        }
        link.surface.commit();
        presenter.shown = Some(index);
        presenter.frames_rendered += 1;
        presenter.frame_seq += 1;
        render::presented(core, presenter.frame_seq);
        presenter.frames_owed = false;
        render::send_frames(core);
    }

    /// The output's contents as last rendered for the host, as PNG.
    pub fn screenshot_png(&mut self) -> Result<Vec<u8>, screenshot::Error> {
        let presenter = &mut self.presenter;
        let index = presenter
            .prepared
            .or(presenter.shown)
            .ok_or_else(|| screenshot::Error::Read("the window has not been shown yet".into()))?;
        let (w, h) = self.marking.content();
        let buffer = presenter
            .buffers
            .get_mut(index)
            .ok_or_else(|| screenshot::Error::Read("no buffer".into()))?;
        screenshot::capture(&mut presenter.renderer, &mut buffer.content, w, h)
    }
}

impl ShmBuffer {
    /// A `w`×`h` XRGB8888 buffer whose `content` view starts at `offset` and
    /// is `content` big.
    pub(super) fn new(
        shm: &wl_shm::WlShm,
        qh: &QueueHandle<Host>,
        w: i32,
        h: i32,
        offset: (i32, i32),
        content: (i32, i32),
    ) -> Result<Self, Error> {
        let fail = |e: String| Error::Buffer(w, h, e);
        if w <= 0
            || h <= 0
            || offset.0 < 0
            || offset.1 < 0
            || content.0 <= 0
            || content.1 <= 0
            || offset.0 + content.0 > w
            || offset.1 + content.1 > h
        {
            return Err(fail("the output does not fit".into()));
        }
        let stride = w as usize * 4;
        let len = stride * h as usize;
        let fd = rustix::fs::memfd_create(
            "wsbox-host-buffer",
            rustix::fs::MemfdFlags::CLOEXEC | rustix::fs::MemfdFlags::ALLOW_SEALING,
        )
        .map_err(|e| fail(e.to_string()))?;
        let file = File::from(fd);
        file.set_len(len as u64).map_err(|e| fail(e.to_string()))?;
        // SAFETY: the memfd is private to wsbox and the host, which only
        // reads it; it is never truncated while mapped.
        let mut map =
            unsafe { memmap2::MmapMut::map_mut(&file) }.map_err(|e| fail(e.to_string()))?;
        let start = offset.1 as usize * stride + offset.0 as usize * 4;
        // In bounds (checked above); page-aligned base, 4-byte pixels.
        let bits = map
            .get_mut(start..)
            .ok_or_else(|| fail("offset out of range".into()))?
            .as_mut_ptr()
            .cast::<u32>();
        // SAFETY: `bits` points into `map`, which lives as long as the image
        // (the image is dropped first, see the field order) and does not move
        // (it is a mapping); the view's rows stay inside it.
        let content = unsafe {
            pixman::Image::from_raw_mut(
                pixman::FormatCode::A8R8G8B8,
                content.0 as usize,
                content.1 as usize,
                bits,
                stride,
                false,
            )
        }
        .map_err(|_| fail("pixman refused the view".into()))?;
        let pool = shm.create_pool(file.as_fd(), len as i32, qh, ());
        let busy = Arc::new(AtomicBool::new(false));
        let buffer = pool.create_buffer(
            0,
            w,
            h,
            stride as i32,
            wl_shm::Format::Xrgb8888,
            qh,
            busy.clone(),
        );
        pool.destroy();
        Ok(Self {
            content,
            map,
            buffer,
            busy,
            tracker: None,
            marking: 0,
        })
    }
}
