//! The host's seat as it concerns the window: whether the window has the
//! host's keyboard focus, the keys and buttons the host pressed inside
//! (so that each release matches a press, and nothing stays held when the
//! focus or the pointer leaves), where the host pointer is, and the moves
//! and resizes a press on the frame asks of the host. What a key or a
//! button does inside is [`crate::input::host`]'s business: these methods
//! only say where it goes.

use smithay::utils::{Logical, Point};

use super::HostWindow;
use crate::marking::Hit;

/// The left mouse button (evdev).
const BTN_LEFT: u32 = 0x110;

/// Where a host key goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeyRoute {
    /// Nowhere: the window has no focus, the key is already held, or its
    /// press came before the focus did.
    Ignore,
    /// A press inside; say what became of it with [`HostWindow::hold_key`].
    Press,
    /// The release of a key pressed inside.
    Release,
    /// The release of a clipboard gesture's key: it went down outside the
    /// client and goes up outside too.
    ReleaseSwallowed,
}

/// Where a host button goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ButtonRoute {
    /// Nowhere inside (or to the host, as a move or resize of the window).
    Ignore,
    /// A press on the output.
    Press,
    /// The release of a button pressed on the output.
    Release,
    /// A click on wsbox's close button.
    Close,
}

/// Where the host pointer is, for the sandbox's pointer.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum PointerRoute {
    /// On the output, at this point of it; or off it while a button
    /// pressed inside is held (a drag), at this point outside.
    Inside(Point<f64, Logical>),
    /// It has just left the output for the frame.
    Left,
    /// On the frame, and was not on the output before.
    Outside,
}

/// What was held inside when the host's keyboard focus left: to release.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct HeldKeys {
    /// Keys pressed inside, in the order they went down.
    pub(crate) keys: Vec<u32>,
    /// Keys of clipboard gestures.
    pub(crate) swallowed: Vec<u32>,
    /// The host's locked modifiers and layout group, which stay.
    pub(crate) locked: u32,
    pub(crate) group: u32,
}

impl HostWindow {
    /// The window got the host's keyboard focus.
    pub(crate) fn keyboard_entered(&mut self, serial: u32) {
        self.seat.keyboard_focus = true;
        self.seat.focus_epoch += 1;
        self.seat.key_serial = serial;
    }

    /// The window lost the host's keyboard focus: what was held inside, to
    /// release. The auto clipboard copies the host's selection again at
    /// the next focus.
    pub(crate) fn keyboard_left(&mut self) -> HeldKeys {
        self.seat.keyboard_focus = false;
        self.seat.focus_epoch += 1;
        self.clipboard.imported = None;
        let (_, _, locked, group) = self.seat.mods;
        HeldKeys {
            keys: std::mem::take(&mut self.seat.keys),
            swallowed: std::mem::take(&mut self.seat.swallowed),
            locked,
            group,
        }
    }

    /// A keymap from the host: true when it differs from the last one.
    pub(crate) fn new_keymap(&mut self, keymap: &str) -> bool {
        if self.seat.keymap.as_deref() == Some(keymap) {
            return false;
        }
        self.seat.keymap = Some(keymap.to_owned());
        true
    }

    /// The host's modifiers, kept for when the focus leaves: true when they
    /// go inside (the window has the focus).
    pub(crate) fn modifiers(
        &mut self,
        depressed: u32,
        latched: u32,
        locked: u32,
        group: u32,
    ) -> bool {
        self.seat.mods = (depressed, latched, locked, group);
        self.seat.keyboard_focus
    }

    /// Where a host key goes; a release is taken off the keys held.
    pub(crate) fn route_key(&mut self, key: u32, pressed: bool, serial: u32) -> KeyRoute {
        let seat = &mut self.seat;
        if !seat.keyboard_focus {
            return KeyRoute::Ignore;
        }
        seat.key_serial = serial;
        if pressed {
            if seat.keys.contains(&key) || seat.swallowed.contains(&key) {
                return KeyRoute::Ignore;
            }
            return KeyRoute::Press;
        }
        if let Some(i) = seat.swallowed.iter().position(|k| *k == key) {
            seat.swallowed.remove(i);
            return KeyRoute::ReleaseSwallowed;
        }
        if let Some(i) = seat.keys.iter().position(|k| *k == key) {
            seat.keys.remove(i);
            return KeyRoute::Release;
        }
        KeyRoute::Ignore
    }

    /// A key pressed inside is held: by the client, or, for a clipboard
    /// gesture (`swallowed`), by wsbox.
    pub(crate) fn hold_key(&mut self, key: u32, swallowed: bool) {
        if swallowed {
            self.seat.swallowed.push(key);
        } else {
            self.seat.keys.push(key);
        }
    }

    /// The serial of the last host keyboard event while the window has the
    /// host's keyboard focus; None without it.
    pub(crate) fn focus_serial(&self) -> Option<u32> {
        self.seat.keyboard_focus.then_some(self.seat.key_serial)
    }

    /// The current focus period while the window has the host's keyboard
    /// focus; None without it.
    pub(crate) fn focus_epoch(&self) -> Option<u64> {
        self.seat.keyboard_focus.then_some(self.seat.focus_epoch)
    }

    /// The host pointer entered the window.
    pub(crate) fn pointer_entered(&mut self, serial: u32) {
        self.seat.last_serial = serial;
    }

    /// The host pointer is at `pos` of the window (surface coordinates).
    pub(crate) fn pointer_at(&mut self, pos: Point<f64, Logical>) -> PointerRoute {
        self.seat.pointer = Some(pos);
        match self.marking.hit(pos) {
            Some(Hit::Content(p)) => {
                self.seat.pointer_inside = true;
                PointerRoute::Inside(p)
            }
            // A drag that started inside keeps going to the app (clamped).
            _ if !self.seat.buttons.is_empty() => {
                PointerRoute::Inside(self.marking.content_point(pos))
            }
            _ if std::mem::take(&mut self.seat.pointer_inside) => PointerRoute::Left,
            _ => PointerRoute::Outside,
        }
    }

    /// The host pointer left the window: the buttons held inside, to
    /// release, and whether the sandbox's pointer was on the output.
    pub(crate) fn pointer_left(&mut self) -> (Vec<u32>, bool) {
        self.seat.pointer = None;
        (
            std::mem::take(&mut self.seat.buttons),
            std::mem::take(&mut self.seat.pointer_inside),
        )
    }

    /// Whether the sandbox's pointer is on the output.
    pub(crate) fn pointer_inside(&self) -> bool {
        self.seat.pointer_inside
    }

    /// Where a host button goes. A left press on the title bar or an edge
    /// asks the host to move or resize the window.
    pub(crate) fn route_button(&mut self, serial: u32, button: u32, pressed: bool) -> ButtonRoute {
        self.seat.last_serial = serial;
        let seat = &mut self.seat;
        if !pressed {
            if let Some(i) = seat.buttons.iter().position(|b| *b == button) {
                seat.buttons.remove(i);
                return ButtonRoute::Release;
            }
            return ButtonRoute::Ignore;
        }
        let hit = seat.pointer.and_then(|p| self.marking.hit(p));
        match hit {
            Some(Hit::Content(_)) if !seat.buttons.contains(&button) => {
                seat.buttons.push(button);
                ButtonRoute::Press
            }
            Some(Hit::Close) if button == BTN_LEFT => ButtonRoute::Close,
            Some(Hit::Title) if button == BTN_LEFT => {
                if let Some(host_seat) = &self.link.seat {
                    self.link.toplevel._move(host_seat, seat.last_serial);
                }
                ButtonRoute::Ignore
            }
            Some(Hit::Edge(edge)) if button == BTN_LEFT => {
                if let Some(host_seat) = &self.link.seat {
                    self.link.toplevel.resize(host_seat, seat.last_serial, edge);
                }
                ButtonRoute::Ignore
            }
            _ => ButtonRoute::Ignore,
        }
    }
}
