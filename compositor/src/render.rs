//! What one frame shows: the cursor, then each window from the top (its
//! surfaces and popups, then wsbox's frame around it), front to back.

use std::time::Duration;

use smithay::backend::renderer::element::memory::{
    MemoryRenderBuffer, MemoryRenderBufferRenderElement,
};
use smithay::backend::renderer::element::solid::SolidColorRenderElement;
use smithay::backend::renderer::element::surface::{
    render_elements_from_surface_tree, WaylandSurfaceRenderElement,
};
use smithay::backend::renderer::element::{AsRenderElements, Kind};
use smithay::backend::renderer::pixman::PixmanRenderer;
use smithay::backend::renderer::{Color32F, ImportAll, ImportMem};
use smithay::desktop::utils::OutputPresentationFeedback;
use smithay::input::pointer::CursorImageStatus;
use smithay::reexports::wayland_protocols::wp::presentation_time::server::wp_presentation_feedback;
use smithay::render_elements;
use smithay::utils::{Monotonic, Physical, Point, Scale, Time};
use smithay::wayland::compositor::with_states;
use smithay::wayland::presentation::Refresh;

use crate::core_state::Core;
use crate::layout;
use crate::marking::{self, InnerFrame};

render_elements! {
    pub OutputElement<R> where R: ImportAll + ImportMem;
    Surface = WaylandSurfaceRenderElement<R>,
    Solid = SolidColorRenderElement,
    Memory = MemoryRenderBufferRenderElement<R>,
}

/// The background of the output where no window is.
pub const BACKGROUND: [f32; 4] = [0.12, 0.12, 0.14, 1.0];

/// Collects the elements of one frame, topmost first.
pub fn elements(
    renderer: &mut PixmanRenderer,
    core: &Core,
    cursor: &MemoryRenderBuffer,
    cursor_visible: bool,
) -> Vec<OutputElement<PixmanRenderer>> {
    let scale = Scale::from(core.output.current_scale().fractional_scale());
    let mut out: Vec<OutputElement<PixmanRenderer>> = Vec::new();

    if cursor_visible {
        let pos = core.pointer_location;
        match &core.cursor_status {
            CursorImageStatus::Hidden => {}
            CursorImageStatus::Surface(surface) => {
                let hotspot = with_states(surface, |states| {
                    states
                        .data_map
                        .get::<smithay::input::pointer::CursorImageSurfaceData>()
                        .and_then(|d| d.lock().ok().map(|d| d.hotspot))
                        .unwrap_or_default()
                });
                let loc = (pos - hotspot.to_f64()).to_physical_precise_round(scale);
                out.extend(
                    render_elements_from_surface_tree::<_, WaylandSurfaceRenderElement<_>>(
                        renderer,
                        surface,
                        loc,
                        scale,
                        1.0,
                        Kind::Cursor,
                    )
                    .into_iter()
                    .map(OutputElement::Surface),
                );
            }
            CursorImageStatus::Named(_) => {
                let loc: Point<f64, Physical> = pos.to_physical(scale);
                if let Ok(element) = MemoryRenderBufferRenderElement::from_buffer(
                    renderer,
                    loc,
                    cursor,
                    None,
                    None,
                    None,
                    Kind::Cursor,
                ) {
                    out.push(OutputElement::Memory(element));
                }
            }
        }
    }

    let [r, g, b] = core.config.color;
    let frame_color = Color32F::new(r as f32 / 255.0, g as f32 / 255.0, b as f32 / 255.0, 1.0);
    // The frames of windows without a parent (those along the output's
    // edges) go above every window: no menu, popup or dialog an app places
    // can cover that marking. A dialog's frame stays in its stacking order.
    let mut marks: Vec<OutputElement<PixmanRenderer>> = Vec::new();
    let mut windows: Vec<OutputElement<PixmanRenderer>> = Vec::new();
    for window in core.space.elements().rev() {
        let Some(loc) = core.space.element_location(window) else {
            continue;
        };
        let render_loc = (loc - window.geometry().loc).to_physical_precise_round(scale);
        windows.extend(
            window
                .render_elements::<WaylandSurfaceRenderElement<PixmanRenderer>>(
                    renderer, render_loc, scale, 1.0,
                )
                .into_iter()
                .map(OutputElement::Surface),
        );

        if layout::window_frame(window, core.host_frame).is_none() {
            continue;
        }
        let title = crate::toplevel::title(window);
        let text = marking::responding_title(
            marking::marked_title(&core.config.name, &title),
            core.not_responding,
            usize::MAX,
        );
        let frame = window.user_data().get_or_insert(InnerFrame::default);
        let (title, bars) = frame.elements(
            renderer,
            (loc, window.geometry().size),
            scale,
            &text,
            frame_color,
        );
        let into = if core.parent_of(window).is_none() {
            &mut marks
        } else {
            &mut windows
        };
        into.extend(title.map(OutputElement::Memory));
        into.extend(bars.map(OutputElement::Solid));
    }
    out.extend(marks);
    out.extend(windows);
    out
}

/// Presentation feedback for the windows shown in frame `seq`, presented now.
pub fn presented(core: &Core, seq: u64) {
    let output = core.output.clone();
    let mut feedback = OutputPresentationFeedback::new(&output);
    for window in core.space.elements() {
        window.take_presentation_feedback(
            &mut feedback,
            |_, _| Some(output.clone()),
            |_, _| wp_presentation_feedback::Kind::empty(),
        );
    }
    let now: Time<Monotonic> = core.clock.now();
    feedback.presented(
        now,
        Refresh::Fixed(Duration::from_micros(16_667)),
        seq,
        wp_presentation_feedback::Kind::empty(),
    );
}

/// Frame callbacks: the windows on the output may draw their next frame.
pub fn send_frames(core: &Core) {
    let output = &core.output;
    let elapsed = core.start_time.elapsed();
    for window in core.space.elements() {
        window.send_frame(output, elapsed, Some(Duration::ZERO), |_, _| {
            Some(output.clone())
        });
    }
}

/// The arrow of [`arrow_cursor`] as premultiplied ARGB8888 bytes, with its
/// width and height.
pub fn arrow_pixels() -> (Vec<u8>, i32, i32) {
    const ROWS: &[&str] = &[
        "X...........",
        "XX..........",
        "XOX.........",
        "XOOX........",
        "XOOOX.......",
        "XOOOOX......",
        "XOOOOOX.....",
        "XOOOOOOX....",
        "XOOOOOOOX...",
        "XOOOOOOOOX..",
        "XOOOOOOOOOX.",
        "XOOOOOOXXXXX",
        "XOOOXOOX....",
        "XOOXXOOX....",
        "XOX..XOOX...",
        "XX...XOOX...",
        "X.....XOOX..",
        ".......XX...",
    ];
    let (w, h) = (ROWS[0].len() as i32, ROWS.len() as i32);
    let mut pixels = Vec::with_capacity((w * h * 4) as usize);
    for row in ROWS {
        for c in row.bytes() {
            pixels.extend_from_slice(match c {
                b'X' => &[0, 0, 0, 255],
                b'O' => &[255, 255, 255, 255],
                _ => &[0, 0, 0, 0],
            });
        }
    }
    (pixels, w, h)
}

/// A plain arrow cursor, drawn procedurally: black outline, white fill.
pub fn arrow_cursor() -> MemoryRenderBuffer {
    let (pixels, w, h) = arrow_pixels();
    MemoryRenderBuffer::from_slice(
        &pixels,
        smithay::backend::allocator::Fourcc::Argb8888,
        (w, h),
        1,
        smithay::utils::Transform::Normal,
        None,
    )
}
