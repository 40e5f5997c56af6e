//! Where windows go and which one has the focus: the window management
//! rules, in one place.
//!
//! Windows are managed, not moved by the app: parentless toplevels fill the
//! output (inside their inner frame when wsbox draws one), dialogs are
//! centred over their parent, popups slide into the content area, and the
//! keyboard focus follows the topmost toplevel that has shown a buffer.
//!
//! Nothing an app draws may cover wsbox's frame: every rectangle handed to
//! an app here ([`Core::placement`], [`Core::unconstrain_popup`]) stays
//! inside [`Core::content_area`], the area that the frames enclose. This
//! module must never let an app's request (move, resize, a positioner)
//! decide a position on its own.

use std::cell::Cell;

use smithay::desktop::{find_popup_root_surface, get_popup_toplevel_coords, PopupKind, Window};
use smithay::reexports::wayland_protocols::xdg::decoration::zv1::server::zxdg_toplevel_decoration_v1::Mode;
use smithay::reexports::wayland_protocols::xdg::shell::server::xdg_toplevel;
use smithay::reexports::wayland_server::protocol::wl_surface::WlSurface;
use smithay::utils::{Logical, Point, Rectangle};
use smithay::wayland::shell::xdg::{PopupSurface, ToplevelSurface};

use crate::core_state::Core;
use crate::marking::{INNER_BORDER, INNER_TITLE_HEIGHT};

/// Whether a dialog has been centred once its size is known.
#[derive(Default)]
struct Centred(Cell<bool>);

/// Whether a dialog too large for the content area has been asked once to
/// shrink: an app whose minimum size is larger than the output is not
/// asked again at every commit.
#[derive(Default)]
struct Fitted(Cell<bool>);

/// Whether the window has shown a buffer yet. Only then does it get the
/// keyboard focus, as on other compositors: wl-copy (2.1) crashes when it is
/// focused before it has attached a buffer.
#[derive(Default)]
pub(crate) struct Mapped(pub(crate) Cell<bool>);

/// True once the window's surface has shown a buffer.
pub(crate) fn is_mapped(window: &Window) -> bool {
    window
        .user_data()
        .get::<Mapped>()
        .is_some_and(|m| m.0.get())
}

/// Whether the toplevel uses wsbox's inner frame.
pub fn wants_server_side(toplevel: &ToplevelSurface) -> bool {
    toplevel.with_pending_state(|s| s.decoration_mode) == Some(Mode::ServerSide)
}

/// The inner frame wsbox draws around `toplevel` inside the output, as
/// (title bar height, border width), or None. `host_frame`: the output is
/// shown in a host window with wsbox's host frame around it, which already
/// marks the windows that fill the output; dialogs keep theirs.
pub fn frame_size(toplevel: &ToplevelSurface, host_frame: bool) -> Option<(i32, i32)> {
    if !wants_server_side(toplevel) {
        return None;
    }
    if host_frame && toplevel.parent().is_none() {
        return None;
    }
    Some((INNER_TITLE_HEIGHT, INNER_BORDER))
}

/// The inner frame of any window, as [`frame_size`] says for an
/// xdg_toplevel. X11 windows rely on a window manager for their title bar,
/// so wsbox always frames them as it frames server-side decorations;
/// override-redirect windows (menus) have none.
pub fn window_frame(window: &Window, host_frame: bool) -> Option<(i32, i32)> {
    if let Some(toplevel) = window.toplevel() {
        return frame_size(toplevel, host_frame);
    }
    let x11 = window.x11_surface()?;
    if x11.is_override_redirect() || (host_frame && x11.is_transient_for().is_none()) {
        return None;
    }
    Some((INNER_TITLE_HEIGHT, INNER_BORDER))
}

/// `v` within `low..=high`; `low` when the range is empty (a window larger
/// than the room it goes in keeps its top left corner inside).
fn clamp_into(v: i32, low: i32, high: i32) -> i32 {
    if high < low {
        low
    } else {
        v.clamp(low, high)
    }
}

impl Core {
    /// The window `window` is a dialog of: an xdg_toplevel's parent, or the
    /// window an X11 window is transient for.
    pub fn parent_of(&self, window: &Window) -> Option<Window> {
        if let Some(toplevel) = window.toplevel() {
            return toplevel.parent().and_then(|p| self.window_for(&p));
        }
        let parent = window.x11_surface()?.is_transient_for()?;
        self.space
            .elements()
            .find(|w| w.x11_surface().is_some_and(|x| x.window_id() == parent))
            .cloned()
    }

    /// Where a new toplevel goes and how big it is: parentless toplevels fill
    /// the output (below the title bar when wsbox decorates them); dialogs are
    /// centred over their parent at the size they ask for.
    pub fn placement(&self, window: &Window) -> (Rectangle<i32, Logical>, bool) {
        let output = self.output_area();
        let (title, border) = window_frame(window, self.host_frame).unwrap_or((0, 0));
        match self.parent_of(window) {
            Some(parent) => {
                let mut size = window.geometry().size;
                if window.x11_surface().is_some() {
                    // An X11 dialog is sized by wsbox: within the bounds
                    // (an xdg one is asked to fit, by centre_dialog).
                    let max = self.dialog_bounds(window);
                    size = (size.w.clamp(1, max.w), size.h.clamp(1, max.h)).into();
                }
                let parent_geo = self.space.element_geometry(&parent).unwrap_or(output);
                let offset = parent_geo.size.to_point() - size.to_point();
                let loc = parent_geo.loc + Point::from((offset.x / 2, offset.y / 2));
                // Never over a frame: the dialog and its own frame stay inside
                // the area that wsbox's frames enclose.
                let area = self.content_area();
                let x = clamp_into(
                    loc.x,
                    area.loc.x + border,
                    area.loc.x + area.size.w - size.w - border,
                );
                let y = clamp_into(
                    loc.y,
                    area.loc.y + title,
                    area.loc.y + area.size.h - size.h - border,
                );
                (Rectangle::new((x, y).into(), size), false)
            }
            None => (
                Rectangle::new(
                    (output.loc.x + border, output.loc.y + title).into(),
                    (
                        (output.size.w - 2 * border).max(1),
                        (output.size.h - title - border).max(1),
                    )
                        .into(),
                ),
                true,
            ),
        }
    }

    /// Maps `window` where [`Core::placement`] says, with the size and
    /// states that go with it, on top and activated.
    pub(crate) fn place(&mut self, window: &Window) {
        if let Some(loc) = self.configure_placed(window) {
            // A menu does not take the activation from its window.
            let activate = !crate::toplevel::is_override_redirect(window);
            self.space.map_element(window.clone(), loc, activate);
        }
    }

    /// Places an already mapped window again, at the size it has now: it
    /// moves only if its place changed, and is neither raised nor
    /// activated by that (an X11 client's ConfigureRequest).
    pub(crate) fn place_again(&mut self, window: &Window) {
        let Some(loc) = self.configure_placed(window) else {
            return;
        };
        if self.space.element_location(window) != Some(loc) {
            self.space.map_element(window.clone(), loc, false);
            self.needs_redraw = true;
        }
    }

    /// Tells `window` the size and states of its place, and returns where
    /// it goes. An override-redirect X11 window (a menu) keeps the place
    /// the app gave it, slid inside the area wsbox's frames enclose, and is
    /// told nothing.
    fn configure_placed(&mut self, window: &Window) -> Option<Point<i32, Logical>> {
        if let Some(x11) = window.x11_surface().filter(|x| x.is_override_redirect()) {
            let (geometry, area) = (x11.geometry(), self.content_area());
            let x = clamp_into(
                geometry.loc.x,
                area.loc.x,
                area.loc.x + area.size.w - geometry.size.w,
            );
            let y = clamp_into(
                geometry.loc.y,
                area.loc.y,
                area.loc.y + area.size.h - geometry.size.h,
            );
            return Some((x, y).into());
        }
        let (rect, fill) = self.placement(window);
        if let Some(toplevel) = window.toplevel() {
            let bounds = self.dialog_bounds(window);
            toplevel.with_pending_state(|s| {
                // xdg_toplevel.configure_bounds: toolkits that read it
                // (GTK 4) size their windows within it from the start.
                s.bounds = Some(bounds);
                if fill {
                    s.size = Some(rect.size);
                    s.states.set(xdg_toplevel::State::Maximized);
                    for edge in [
                        xdg_toplevel::State::TiledLeft,
                        xdg_toplevel::State::TiledRight,
                        xdg_toplevel::State::TiledTop,
                        xdg_toplevel::State::TiledBottom,
                    ] {
                        s.states.set(edge);
                    }
                }
            });
        } else if let Some(x11) = window.x11_surface() {
            if let Err(err) = x11.configure(rect) {
                tracing::debug!(%err, "X11: cannot configure a window");
            }
        }
        Some(rect.loc)
    }

    /// A window showed its first buffer: it counts as shown, goes on top and
    /// may take the focus; an override-redirect X11 window (a menu) only
    /// shows.
    pub(crate) fn mark_shown(&mut self, window: &Window) {
        let mapped = window.user_data().get_or_insert(Mapped::default);
        if mapped.0.get() {
            return;
        }
        mapped.0.set(true);
        if crate::toplevel::is_override_redirect(window) {
            return;
        }
        self.windows_shown += 1;
        self.space.raise_element(window, true);
        self.refocus = true;
    }

    /// The largest size a dialog may have: the content area less its own
    /// frame, so that it fits inside wsbox's frames whole.
    pub fn dialog_bounds(&self, window: &Window) -> smithay::utils::Size<i32, Logical> {
        let area = self.content_area();
        let (title, border) = window_frame(window, self.host_frame).unwrap_or((0, 0));
        (
            (area.size.w - 2 * border).max(1),
            (area.size.h - title - border).max(1),
        )
            .into()
    }

    /// Centres a dialog over its parent once, when its size is first known.
    /// A dialog larger than [`Core::dialog_bounds`] (GTK's file chooser
    /// takes the whole output) is first asked to shrink to them: placed
    /// below the frame at that size, its bottom would be cut off.
    pub(crate) fn centre_dialog(&mut self, window: &Window) {
        let is_dialog = window.toplevel().and_then(|t| t.parent()).is_some();
        if !is_dialog || window.geometry().size.w <= 0 {
            return;
        }
        let centred = window.user_data().get_or_insert(Centred::default);
        if centred.0.get() {
            return;
        }
        if let Some(toplevel) = window.toplevel() {
            let size = window.geometry().size;
            let max = self.dialog_bounds(window);
            let fitted = window.user_data().get_or_insert(Fitted::default);
            if (size.w > max.w || size.h > max.h) && !fitted.0.get() {
                fitted.0.set(true);
                toplevel.with_pending_state(|s| {
                    s.size = Some((size.w.min(max.w), size.h.min(max.h)).into());
                });
                toplevel.send_configure();
                // Centred when the smaller size comes.
                return;
            }
        }
        centred.0.set(true);
        let (rect, _) = self.placement(window);
        self.space.map_element(window.clone(), rect.loc, true);
    }

    /// Places a popup by its positioner, then slides it into the content
    /// area whatever its constraint adjustment says.
    pub(crate) fn unconstrain_popup(&self, popup: &PopupSurface) {
        let Ok(root) = find_popup_root_surface(&PopupKind::Xdg(popup.clone())) else {
            return;
        };
        let Some(window) = self.window_for(&root) else {
            return;
        };
        let Some(window_geo) = self.space.element_geometry(&window) else {
            return;
        };
        // Popups stay inside the area wsbox's frames enclose. The positioner
        // works relative to the parent: move that area there.
        let mut target = self.content_area();
        target.loc -= get_popup_toplevel_coords(&PopupKind::Xdg(popup.clone()));
        target.loc -= window_geo.loc;
        popup.with_pending_state(|s| {
            let mut geometry = s.positioner.get_unconstrained_geometry(target);
            // The client's constraint_adjustment may forbid moving it; wsbox's
            // marking wins over that, so slide it in regardless.
            let max_x = target.loc.x + target.size.w - geometry.size.w;
            let max_y = target.loc.y + target.size.h - geometry.size.h;
            geometry.loc.x = geometry.loc.x.min(max_x).max(target.loc.x);
            geometry.loc.y = geometry.loc.y.min(max_y).max(target.loc.y);
            s.geometry = geometry;
        });
    }

    fn output_area(&self) -> Rectangle<i32, Logical> {
        self.space
            .output_geometry(&self.output)
            .unwrap_or_else(|| Rectangle::from_size((800, 600).into()))
    }

    /// The part of the output inside the frame of a window that fills it:
    /// where dialogs and popups may go, so nothing an app draws can cover
    /// wsbox's marking.
    pub fn content_area(&self) -> Rectangle<i32, Logical> {
        let output = self.output_area();
        if self.host_frame {
            return output;
        }
        let (title, border) = (INNER_TITLE_HEIGHT, INNER_BORDER);
        Rectangle::new(
            (output.loc.x + border, output.loc.y + title).into(),
            (
                (output.size.w - 2 * border).max(1),
                (output.size.h - title - border).max(1),
            )
                .into(),
        )
    }

    /// The surface that should have the keyboard focus: the topmost toplevel
    /// that has shown a buffer.
    pub(crate) fn focus_target(&self) -> Option<WlSurface> {
        self.space
            .elements()
            .rev()
            .find(|w| is_mapped(w) && !crate::toplevel::is_override_redirect(w))
            .and_then(crate::toplevel::surface)
    }

    /// Marks the toplevel of `focus` activated and every other one not,
    /// telling each.
    pub(crate) fn activate_only(&self, focus: Option<&WlSurface>) {
        for window in self.space.elements() {
            let active = focus.is_some() && crate::toplevel::surface(window).as_ref() == focus;
            window.set_activated(active);
            if let Some(t) = window.toplevel() {
                t.send_pending_configure();
            } else if let (true, Some(x11)) = (active, window.x11_surface()) {
                x11.take_x11_input_focus();
            }
        }
    }
}
