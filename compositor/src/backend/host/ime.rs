//! The host's input method, in window mode: wsbox binds the host's
//! `zwp_text_input_manager_v3` and, while its window has the host's focus
//! and the focused app inside enabled a text input, enables its own on the
//! host. What the host's input method sends (preedit and commit, applied
//! on `done`) goes to the app inside through the sandbox's text input
//! ([`crate::text_input`]), as `wsbox input preedit|commit` does. Nothing
//! of the app's text (surrounding text, content type) is sent to the host,
//! nor where its cursor is.

use wayland_client::{Connection, Dispatch, QueueHandle};
use wayland_protocols::wp::text_input::zv3::client::{
    zwp_text_input_manager_v3::ZwpTextInputManagerV3,
    zwp_text_input_v3::{self, ZwpTextInputV3},
};

use super::{Host, HostEvent, HostWindow};
use crate::text_input::TEXT_MAX;

/// `text` cut to [`TEXT_MAX`] bytes on a character boundary.
fn bounded(text: Option<String>) -> String {
    let mut text = text.unwrap_or_default();
    if text.len() > TEXT_MAX {
        let mut end = TEXT_MAX;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
    }
    text
}

impl HostWindow {
    /// Enables the host's text input while the app inside has one enabled
    /// (`wanted`) and the host has entered wsbox's window; disables it
    /// otherwise.
    pub fn sync_text_input(&mut self, wanted: bool) {
        let entered = self.link.host.ime.entered;
        let Some(ime) = self.link.ime.as_mut() else {
            return;
        };
        let want = wanted && entered;
        if want != ime.enabled {
            if want {
                ime.text_input.enable();
            } else {
                ime.text_input.disable();
            }
            ime.text_input.commit();
            ime.enabled = want;
        }
    }
}

impl Dispatch<ZwpTextInputManagerV3, ()> for Host {
    fn event(
        _: &mut Self,
        _: &ZwpTextInputManagerV3,
        _: <ZwpTextInputManagerV3 as wayland_client::Proxy>::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
    }
}

impl Dispatch<ZwpTextInputV3, ()> for Host {
    fn event(
        host: &mut Self,
        _: &ZwpTextInputV3,
        event: zwp_text_input_v3::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        let pending = &mut host.ime;
        match event {
            zwp_text_input_v3::Event::Enter { .. } => pending.entered = true,
            zwp_text_input_v3::Event::Leave { .. } => {
                pending.entered = false;
                pending.preedit = None;
                pending.commit = None;
            }
            zwp_text_input_v3::Event::PreeditString { text, .. } => {
                pending.preedit = Some(bounded(text));
            }
            zwp_text_input_v3::Event::CommitString { text } => {
                pending.commit = Some(bounded(text));
            }
            zwp_text_input_v3::Event::Done { .. } => {
                let commit = pending.commit.take();
                let preedit = pending.preedit.take();
                if commit.is_some() || preedit.is_some() {
                    host.events.push(HostEvent::Ime { commit, preedit });
                }
            }
            // Deleting the app's text around the cursor: wsbox tells the
            // host none of it, so there is nothing to delete.
            _ => {}
        }
    }
}
