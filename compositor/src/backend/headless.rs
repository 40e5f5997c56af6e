//! The headless backend: a virtual output rendered by pixman into memory,
//! damage-tracked, paced by the 60 Hz tick of [`crate::State::tick`].

use smithay::backend::allocator::Fourcc;
use smithay::backend::renderer::damage::OutputDamageTracker;
use smithay::backend::renderer::element::memory::MemoryRenderBuffer;
use smithay::backend::renderer::pixman::PixmanRenderer;
use smithay::backend::renderer::{Bind, Offscreen};
use smithay::output::Output;
use smithay::reexports::pixman;
use smithay::utils::{Buffer, Size};

use crate::core_state::Core;
use crate::render;
use crate::screenshot;

/// Renderer, target image and damage tracker of the virtual output.
pub struct Headless {
    renderer: PixmanRenderer,
    target: pixman::Image<'static, 'static>,
    size: Size<i32, Buffer>,
    damage_tracker: OutputDamageTracker,
    /// 0 until the first frame: the whole output is damaged then.
    age: usize,
    frame_seq: u64,
    cursor: MemoryRenderBuffer,
    /// The cursor is drawn once the pointer has moved (it would otherwise sit
    /// in the middle of every screenshot).
    pub cursor_visible: bool,
    /// Frames actually rendered (damage was non-empty).
    pub frames_rendered: u64,
    /// Whether the last frame rendered showed a window.
    showed_windows: bool,
    /// The last frame that showed a window, as PNG, kept when the windows
    /// went: what an app that exits before `--timeout` showed last.
    last_shown: Option<Vec<u8>>,
    /// When it was last kept: an app that maps and unmaps a window in a
    /// loop gets it encoded once a second at most.
    last_kept: Option<std::time::Instant>,
}

impl std::fmt::Debug for Headless {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Headless")
            .field("size", &self.size)
            .field("frames_rendered", &self.frames_rendered)
            .finish_non_exhaustive()
    }
}

impl Headless {
    /// A backend for `output`, whose current mode gives the size.
    pub fn new(output: &Output) -> Result<Self, String> {
        let mode = output
            .current_mode()
            .ok_or_else(|| "the output has no mode".to_owned())?;
        let mut renderer = PixmanRenderer::new().map_err(|e| e.to_string())?;
        let size: Size<i32, Buffer> = (mode.size.w, mode.size.h).into();
        let target: pixman::Image<'static, 'static> = renderer
            .create_buffer(Fourcc::Argb8888, size)
            .map_err(|e| e.to_string())?;
        Ok(Self {
            renderer,
            target,
            size,
            damage_tracker: OutputDamageTracker::from_output(output),
            age: 0,
            frame_seq: 0,
            cursor: render::arrow_cursor(),
            cursor_visible: false,
            frames_rendered: 0,
            showed_windows: false,
            last_shown: None,
            last_kept: None,
        })
    }

    /// Follows a new size of `output`: a new target, everything damaged.
    pub fn resize(&mut self, output: &Output) -> Result<(), String> {
        let mode = output
            .current_mode()
            .ok_or_else(|| "the output has no mode".to_owned())?;
        let size: Size<i32, Buffer> = (mode.size.w, mode.size.h).into();
        self.target = self
            .renderer
            .create_buffer(Fourcc::Argb8888, size)
            .map_err(|e| e.to_string())?;
        self.size = size;
        self.damage_tracker = OutputDamageTracker::from_output(output);
        self.age = 0;
        Ok(())
    }

    /// Renders what changed, then sends frame callbacks and presentation
    /// feedback. Cheap when nothing changed.
    pub fn render_frame(&mut self, core: &mut Core) {
        if core.needs_redraw || self.age == 0 {
            core.needs_redraw = false;
            let has_windows = core.space.elements().next().is_some();
            let due = self
                .last_kept
                .is_none_or(|at| at.elapsed() >= std::time::Duration::from_secs(1));
            if core.config.keep_last_frame && self.showed_windows && !has_windows && due {
                // The last windows went (the app ended, say): the target
                // still holds their last frame. Encoded only now.
                self.last_shown = self.screenshot_png().ok();
                self.last_kept = Some(std::time::Instant::now());
            }
            self.showed_windows = has_windows;
            let elements =
                render::elements(&mut self.renderer, core, &self.cursor, self.cursor_visible);
            let rendered = match self.renderer.bind(&mut self.target) {
                Ok(mut fb) => self
                    .damage_tracker
                    .render_output(
                        &mut self.renderer,
                        &mut fb,
                        self.age,
                        &elements,
                        render::BACKGROUND,
                    )
                    .map(|r| r.damage.is_some_and(|d| !d.is_empty()))
                    .map_err(|e| format!("{e:?}")),
                Err(e) => Err(format!("{e:?}")),
            };
            self.age = 1;
            match rendered {
                Ok(true) => {
                    self.frames_rendered += 1;
                    self.frame_seq += 1;
                    render::presented(core, self.frame_seq);
                }
                Ok(false) => {}
                Err(err) => tracing::warn!(%err, "rendering failed"),
            }
        }
        render::send_frames(core);
    }

    /// The last frame that showed a window, once every window is gone.
    pub fn last_shown_png(&self) -> Option<&[u8]> {
        self.last_shown.as_deref()
    }

    /// The current output contents as PNG (RGBA, 8 bits per channel).
    pub fn screenshot_png(&mut self) -> Result<Vec<u8>, screenshot::Error> {
        screenshot::capture(
            &mut self.renderer,
            &mut self.target,
            self.size.w,
            self.size.h,
        )
    }
}
