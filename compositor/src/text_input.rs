//! `zwp_text_input_v3`: how an input method composes text in an app
//! (Chinese, Japanese, Korean, …). The app's side only: no input method
//! runs in the sandbox and `zwp_input_method_manager_v2` is never offered.
//! The text comes from wsbox: `wsbox input NAME preedit|commit TEXT`
//! (headless, CI), through `State::ime_preedit` and `State::ime_commit`
//! (src/handlers/text_input.rs, with the protocol's requests), which reach
//! only the text input the focused surface's client enabled — the same
//! path keys take.
//!
//! What the app sends (surrounding text, content type, cursor rectangle)
//! is read and dropped: nothing of it leaves the compositor. Requests are
//! handled without trusting their values; a client may hold at most
//! [`PER_CLIENT`] text inputs.

use smithay::reexports::wayland_protocols::wp::text_input::zv3::server::zwp_text_input_v3::ZwpTextInputV3;
use smithay::reexports::wayland_server::backend::ClientId;
use smithay::reexports::wayland_server::protocol::wl_surface::WlSurface;
use smithay::reexports::wayland_server::Resource;

/// The most text inputs one client may hold.
pub const PER_CLIENT: usize = 16;
/// The longest text sent in one event (a Wayland message is 4 KiB).
pub const TEXT_MAX: usize = 4000;

/// Errors of input method requests.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Error {
    #[error("the focused window takes no text from an input method (it enabled no text input)")]
    NotEnabled,
    #[error("the text is longer than {TEXT_MAX} bytes")]
    TooLong,
    #[error("input methods are off in this sandbox's policy (keyboard.input_method)")]
    Off,
}

#[derive(Debug)]
pub(crate) struct Instance {
    pub(crate) resource: ZwpTextInputV3,
    /// The surface it was sent `enter` for.
    pub(crate) entered: Option<WlSurface>,
    /// Enabled as of its last commit.
    pub(crate) enabled: bool,
    /// What its next commit applies.
    pub(crate) pending_enable: Option<bool>,
    /// Its commits so far: the serial of `done`.
    pub(crate) commits: u32,
}

/// Every text input of the sandbox's clients.
#[derive(Debug, Default)]
pub struct TextInputs {
    pub(crate) instances: Vec<Instance>,
    /// The surface with the keyboard focus.
    pub(crate) focus: Option<WlSurface>,
}

impl TextInputs {
    pub(crate) fn of_client(&self, client: &ClientId) -> usize {
        self.instances
            .iter()
            .filter(|i| i.resource.client().is_some_and(|c| c.id() == *client))
            .count()
    }

    /// The keyboard focus moved to `focus`: `leave` for the old surface's
    /// text inputs, `enter` for the new one's.
    pub fn set_focus(&mut self, focus: Option<&WlSurface>) {
        for instance in &mut self.instances {
            if let Some(old) = instance.entered.take() {
                if old.is_alive() {
                    instance.resource.leave(&old);
                }
                instance.enabled = false;
                instance.pending_enable = None;
            }
        }
        self.focus = focus.cloned();
        if let Some(surface) = focus {
            for instance in &mut self.instances {
                if instance.resource.id().same_client_as(&surface.id()) {
                    instance.resource.enter(surface);
                    instance.entered = Some(surface.clone());
                }
            }
        }
    }

    /// Whether the focused surface has an enabled text input.
    pub fn app_enabled(&self) -> bool {
        self.instances
            .iter()
            .any(|i| i.enabled && i.entered.is_some() && i.entered.as_ref() == self.focus.as_ref())
    }

    /// The enabled text inputs on the focused surface.
    fn active(&mut self) -> impl Iterator<Item = &mut Instance> {
        let focus = self.focus.clone();
        self.instances.iter_mut().filter(move |i| {
            i.enabled && i.entered.is_some() && i.entered.as_ref() == focus.as_ref()
        })
    }

    pub(crate) fn send(&mut self, text: &str, commit: bool) -> Result<(), Error> {
        if text.len() > TEXT_MAX {
            return Err(Error::TooLong);
        }
        let mut sent = false;
        for instance in self.active() {
            if commit {
                instance.resource.preedit_string(None, 0, 0);
                instance.resource.commit_string(Some(text.to_owned()));
            } else {
                let end = i32::try_from(text.len()).unwrap_or(i32::MAX);
                instance
                    .resource
                    .preedit_string(Some(text.to_owned()), end, end);
            }
            instance.resource.done(instance.commits);
            sent = true;
        }
        if sent {
            Ok(())
        } else {
            Err(Error::NotEnabled)
        }
    }
}
