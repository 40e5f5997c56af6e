//! Input into the sandbox: typed text, key combinations, pointer motion and
//! clicks. Injected input (the control socket) and host input (`host`)
//! take this same path, so both reach only the focused surface.

use smithay::backend::input::{ButtonState, KeyState};
use smithay::input::keyboard::{keysyms, FilterResult, Keycode, Keysym};
use smithay::input::pointer::{AxisFrame, ButtonEvent, MotionEvent};
use smithay::utils::{Logical, Point, SERIAL_COUNTER};

use crate::clipboard::Gesture;
use crate::state::State;

mod host;

/// Errors of input requests; they name the offending part.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Error {
    #[error("the keymap cannot type {0:?}")]
    NotInKeymap(char),
    #[error("unknown key {0:?} (use xkb names such as Return, ctrl, shift, a, F5)")]
    UnknownKey(String),
    #[error("empty key combination")]
    EmptyCombo,
    #[error("unknown button {0:?} (left, right or middle)")]
    UnknownButton(String),
    #[error("position {0},{1} is outside the output")]
    Outside(i32, i32),
    #[error("the sandbox has no keyboard")]
    NoKeyboard,
}

/// Linux evdev button codes.
pub fn button_code(name: &str) -> Result<u32, Error> {
    match name {
        "left" => Ok(0x110),
        "right" => Ok(0x111),
        "middle" => Ok(0x112),
        other => Err(Error::UnknownButton(other.to_owned())),
    }
}

fn time_ms(state: &State) -> u32 {
    state.core.start_time.elapsed().as_millis() as u32
}

/// Where a keysym is in the keymap: its keycode and the modifier keys that
/// select its level (level 1: Shift; level 2: AltGr; level 3: both).
#[derive(Debug, Clone, PartialEq, Eq)]
struct KeyPosition {
    keycode: Keycode,
    modifiers: Vec<Keycode>,
}

impl State {
    fn keyboard(&self) -> Result<smithay::input::keyboard::KeyboardHandle<State>, Error> {
        self.seat.get_keyboard().ok_or(Error::NoKeyboard)
    }

    /// Finds where `sym` is on the keymap, preferring a keycode X11 can
    /// have (up to 255: Xwayland drops the others, and evdev's keymap has
    /// `dollar` alone on KEY_DOLLAR, 442), then the lowest level.
    fn locate(&mut self, sym: Keysym) -> Result<Option<KeyPosition>, Error> {
        let keyboard = self.keyboard()?;
        let found = keyboard.with_xkb_state(self, |ctx| {
            let Ok(xkb) = ctx.xkb().lock() else {
                return None;
            };
            // SAFETY: the keymap is only read, under the lock, and no
            // reference to it outlives this closure.
            let keymap = unsafe { xkb.keymap() };
            // (above 255, level, keycode): the least wins.
            let mut best: Option<(bool, u32, Keycode)> = None;
            let mut shift = None;
            let mut level3 = None;
            keymap.key_for_each(|keymap, keycode| {
                let layouts = keymap.num_layouts_for_key(keycode);
                if layouts == 0 {
                    return;
                }
                for level in 0..keymap.num_levels_for_key(keycode, 0) {
                    let syms = keymap.key_get_syms_by_level(keycode, 0, level);
                    let rank = (keycode.raw() > 255, level);
                    if syms.contains(&sym) && best.is_none_or(|(h, l, _)| rank < (h, l)) {
                        best = Some((rank.0, level, keycode));
                    }
                    if level == 0 && syms.contains(&Keysym::Shift_L) && shift.is_none() {
                        shift = Some(keycode);
                    }
                    if level == 0 && syms.contains(&Keysym::ISO_Level3_Shift) && level3.is_none() {
                        level3 = Some(keycode);
                    }
                }
            });
            best.map(|(_, level, keycode)| (level, keycode, shift, level3))
        });
        let Some((level, keycode, shift, level3)) = found else {
            return Ok(None);
        };
        let modifiers = match level {
            0 => vec![],
            1 => shift.into_iter().collect(),
            2 => level3.into_iter().collect(),
            3 => shift.into_iter().chain(level3).collect(),
            _ => return Ok(None),
        };
        let needed = match level {
            0 => 0,
            1 | 2 => 1,
            _ => 2,
        };
        if modifiers.len() != needed {
            return Ok(None);
        }
        Ok(Some(KeyPosition { keycode, modifiers }))
    }

    fn key(&mut self, keycode: Keycode, pressed: bool) -> Result<(), Error> {
        let keyboard = self.keyboard()?;
        let state = if pressed {
            KeyState::Pressed
        } else {
            KeyState::Released
        };
        let serial = SERIAL_COUNTER.next_serial();
        let time = time_ms(self);
        keyboard.input::<(), _>(self, keycode, state, serial, time, |_, _, _| {
            FilterResult::Forward
        });
        Ok(())
    }

    fn press_all(&mut self, keys: &[Keycode]) -> Result<(), Error> {
        for k in keys {
            self.key(*k, true)?;
        }
        for k in keys.iter().rev() {
            self.key(*k, false)?;
        }
        Ok(())
    }

    /// Types `text` into the focused surface. Every character must be on the
    /// keymap; nothing is typed otherwise.
    pub fn type_text(&mut self, text: &str) -> Result<(), Error> {
        let mut plan = Vec::new();
        for c in text.chars() {
            let sym = match c {
                '\n' => Keysym::Return,
                '\t' => Keysym::Tab,
                c => Keysym::from_char(c),
            };
            let position = self.locate(sym)?.ok_or(Error::NotInKeymap(c))?;
            plan.push(position);
        }
        for KeyPosition { keycode, modifiers } in plan {
            let mut keys = modifiers;
            keys.push(keycode);
            self.press_all(&keys)?;
        }
        Ok(())
    }

    /// Presses a combination such as `ctrl+shift+t` or `Return`.
    pub fn key_combo(&mut self, combo: &str) -> Result<(), Error> {
        let mut keys = Vec::new();
        for part in combo.split('+') {
            let part = part.trim();
            if part.is_empty() {
                return Err(Error::EmptyCombo);
            }
            let sym = match part.to_ascii_lowercase().as_str() {
                "ctrl" | "control" => Keysym::Control_L,
                "shift" => Keysym::Shift_L,
                "alt" => Keysym::Alt_L,
                "super" | "logo" | "meta" => Keysym::Super_L,
                "altgr" => Keysym::ISO_Level3_Shift,
                "enter" | "return" => Keysym::Return,
                "esc" | "escape" => Keysym::Escape,
                _ => {
                    let sym = smithay::input::keyboard::xkb::keysym_from_name(
                        part,
                        smithay::input::keyboard::xkb::KEYSYM_NO_FLAGS,
                    );
                    if sym.raw() == keysyms::KEY_NoSymbol {
                        smithay::input::keyboard::xkb::keysym_from_name(
                            part,
                            smithay::input::keyboard::xkb::KEYSYM_CASE_INSENSITIVE,
                        )
                    } else {
                        sym
                    }
                }
            };
            if sym.raw() == keysyms::KEY_NoSymbol {
                return Err(Error::UnknownKey(part.to_owned()));
            }
            // A combination names keys, not characters: use the key that
            // carries the symbol, without the level's modifiers.
            let position = self
                .locate(sym)?
                .ok_or_else(|| Error::UnknownKey(part.to_owned()))?;
            keys.push(position.keycode);
        }
        if keys.is_empty() {
            return Err(Error::EmptyCombo);
        }
        self.press_all(&keys)
    }

    /// Moves the pointer to `(x, y)` in logical output coordinates.
    pub fn pointer_move(&mut self, x: i32, y: i32) -> Result<(), Error> {
        let size = self.output_size();
        if x < 0 || y < 0 || x >= size.w || y >= size.h {
            return Err(Error::Outside(x, y));
        }
        let pos: Point<f64, Logical> = (x as f64, y as f64).into();
        self.core.pointer_location = pos;
        self.backend.show_cursor();
        self.core.needs_redraw = true;
        let under = self.core.surface_under(pos);
        let Some(pointer) = self.seat.get_pointer() else {
            return Ok(());
        };
        let serial = SERIAL_COUNTER.next_serial();
        let time = time_ms(self);
        pointer.motion(
            self,
            under,
            &MotionEvent {
                location: pos,
                serial,
                time,
            },
        );
        pointer.frame(self);
        Ok(())
    }

    /// Clicks `button` at `(x, y)`: the window under it is raised and focused.
    pub fn click(&mut self, x: i32, y: i32, button: u32) -> Result<(), Error> {
        self.pointer_move(x, y)?;
        self.button(button, true);
        self.button(button, false);
        Ok(())
    }

    /// A button at the pointer: a press raises and focuses the window under
    /// it first.
    fn button(&mut self, button: u32, pressed: bool) {
        if pressed {
            let pos = self.core.pointer_location;
            if let Some(window) = self.core.space.element_under(pos).map(|(w, _)| w.clone()) {
                self.core.space.raise_element(&window, true);
                self.focus_top();
            }
        }
        let Some(pointer) = self.seat.get_pointer() else {
            return;
        };
        let serial = SERIAL_COUNTER.next_serial();
        let time = time_ms(self);
        let state = if pressed {
            ButtonState::Pressed
        } else {
            ButtonState::Released
        };
        pointer.button(
            self,
            &ButtonEvent {
                button,
                state,
                serial,
                time,
            },
        );
        pointer.frame(self);
    }

    /// Milliseconds on the compositor's input clock.
    pub(crate) fn input_time(&self) -> u32 {
        time_ms(self)
    }

    /// A key of the host keyboard, by evdev code, for the focused client.
    pub fn host_key(&mut self, evdev: u32, pressed: bool) {
        self.host_key_or_gesture(evdev, pressed, false);
    }

    /// A key of the host keyboard, by evdev code: with `detect`, a press
    /// of Ctrl+Shift+C or Ctrl+Shift+V (by the key's unshifted symbol, in
    /// the host keymap) is a clipboard gesture, returned and not passed on;
    /// any other key goes to the focused client.
    pub(crate) fn host_key_or_gesture(
        &mut self,
        evdev: u32,
        pressed: bool,
        detect: bool,
    ) -> Option<Gesture> {
        let keyboard = self.keyboard().ok()?;
        let keycode = Keycode::new(evdev.saturating_add(8));
        let state = if pressed {
            KeyState::Pressed
        } else {
            KeyState::Released
        };
        let (gesture, mods_changed) =
            keyboard.input_intercept(self, keycode, state, |_, mods, key| {
                if !(detect && pressed && mods.ctrl && mods.shift) || mods.alt || mods.logo {
                    return None;
                }
                match key.raw_latin_sym_or_raw_current_sym().map(|s| s.raw()) {
                    Some(keysyms::KEY_c | keysyms::KEY_C) => Some(Gesture::Copy),
                    Some(keysyms::KEY_v | keysyms::KEY_V) => Some(Gesture::Paste),
                    _ => None,
                }
            });
        if gesture.is_none() {
            let serial = SERIAL_COUNTER.next_serial();
            let time = time_ms(self);
            keyboard.input_forward(self, keycode, state, serial, time, mods_changed);
        }
        gesture
    }

    /// The release of a gesture's key: the keyboard state follows, the
    /// client hears nothing.
    pub(crate) fn host_key_swallowed(&mut self, evdev: u32) {
        if let Ok(keyboard) = self.keyboard() {
            let keycode = Keycode::new(evdev.saturating_add(8));
            keyboard.input_intercept(self, keycode, KeyState::Released, |_, _, _| ());
        }
    }

    /// The host's keymap becomes the sandbox's, so that host key codes mean
    /// what they mean on the host (its layout, or a virtual keyboard's
    /// keymap). A keymap xkbcommon refuses leaves the current one.
    pub fn host_keymap(&mut self, keymap: String) {
        let Ok(keyboard) = self.keyboard() else {
            return;
        };
        match keyboard.set_keymap_from_string(self, keymap) {
            Ok(()) => tracing::debug!("took over the host keymap"),
            Err(err) => tracing::warn!(?err, "host keymap refused; keeping the current one"),
        }
    }

    /// The host's modifier state (wl_keyboard.modifiers, in terms of the
    /// host keymap, which is the sandbox's): taken over, and sent to the
    /// focused client when it differs from what the keys made of it.
    pub fn host_modifiers(&mut self, depressed: u32, latched: u32, locked: u32, group: u32) {
        use smithay::input::keyboard::{xkb, KeyboardTarget, ModifiersState};
        let Ok(keyboard) = self.keyboard() else {
            return;
        };
        let mods = keyboard.with_xkb_state(self, |ctx| {
            let Ok(guard) = ctx.xkb().lock() else {
                return None;
            };
            // SAFETY: the keymap is only read, and the state made from it
            // is dropped within this closure, under the lock.
            let keymap = unsafe { guard.keymap() };
            let mut state = xkb::State::new(keymap);
            state.update_mask(depressed, latched, locked, 0, 0, group);
            let mut mods = ModifiersState::default();
            mods.update_with(&state);
            Some(mods)
        });
        let Some(mods) = mods else {
            return;
        };
        if keyboard.modifier_state() == mods {
            return;
        }
        keyboard.set_modifier_state(mods);
        let mods = keyboard.modifier_state();
        if let Some(focus) = keyboard.current_focus() {
            let seat = self.seat.clone();
            focus.modifiers(&seat, self, mods, SERIAL_COUNTER.next_serial());
        }
    }

    /// The host pointer moved to `pos` of the output (clamped onto it), or
    /// left it (`None`): the surface under it gets enter/motion/leave.
    pub fn host_pointer_motion(&mut self, pos: Option<Point<f64, Logical>>) {
        let Some(pointer) = self.seat.get_pointer() else {
            return;
        };
        let under = match pos {
            Some(pos) => {
                let size = self.output_size();
                let pos: Point<f64, Logical> = (
                    pos.x.clamp(0.0, (size.w - 1).max(0) as f64),
                    pos.y.clamp(0.0, (size.h - 1).max(0) as f64),
                )
                    .into();
                self.core.pointer_location = pos;
                self.core.surface_under(pos)
            }
            None => None,
        };
        let serial = SERIAL_COUNTER.next_serial();
        let time = time_ms(self);
        let location = self.core.pointer_location;
        pointer.motion(
            self,
            under,
            &MotionEvent {
                location,
                serial,
                time,
            },
        );
        pointer.frame(self);
    }

    /// A host button over the output: a press raises and focuses the window
    /// under the pointer, as a click does.
    pub fn host_pointer_button(&mut self, button: u32, pressed: bool) {
        self.button(button, pressed);
    }

    /// Host scrolling over the output.
    pub fn host_pointer_axis(&mut self, frame: AxisFrame) {
        let Some(pointer) = self.seat.get_pointer() else {
            return;
        };
        pointer.axis(self, frame);
        pointer.frame(self);
    }
}
