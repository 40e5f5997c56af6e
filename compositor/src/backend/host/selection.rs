//! The host's clipboard, as the window uses it: setting the host's
//! selection to what the sandbox copied, reading the host's selection as
//! text, and telling wsbox's own selections from the host's. When and
//! whether anything crosses is [`crate::clipboard`]'s decision.

use std::os::fd::{AsFd, OwnedFd};
use std::sync::Arc;

use wayland_client::protocol::{wl_data_device, wl_data_device_manager};
use wayland_client::Proxy;

use super::{HostClipboard, HostWindow};
use crate::clipboard::TEXT_MIMES;

impl HostClipboard {
    pub(super) fn new(
        data_device: Option<(
            wl_data_device_manager::WlDataDeviceManager,
            wl_data_device::WlDataDevice,
        )>,
    ) -> Self {
        Self {
            data_device,
            imported: None,
            own_mime: format!("application/x-wsbox-{}", random_token()),
        }
    }
}

/// 128 random bits in hex, from the OS's randomness (std seeds its hash
/// keys with getrandom; no extra dependency, and nothing to open).
fn random_token() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut token = String::new();
    for _ in 0..2 {
        let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
        hasher.write_u8(0);
        token.push_str(&format!("{:016x}", hasher.finish()));
    }
    token
}

impl HostWindow {
    /// Whether wsbox can use the host's clipboard (the policy lets the
    /// clipboard cross and the host offers one).
    pub(crate) fn has_host_clipboard(&self) -> bool {
        self.clipboard.data_device.is_some()
    }

    /// Makes `bytes` the host's clipboard, offered as text, with the serial
    /// of the key press that asked for it. False when the host has no
    /// clipboard for wsbox.
    pub(crate) fn set_host_selection(&mut self, bytes: Arc<Vec<u8>>, serial: u32) -> bool {
        let Some((manager, device)) = &self.clipboard.data_device else {
            return false;
        };
        let source = manager.create_data_source(&self.link.qh, bytes);
        for mime in TEXT_MIMES {
            source.offer((*mime).to_owned());
        }
        source.offer(self.clipboard.own_mime.clone());
        device.set_selection(Some(&source), serial);
        if let Some(old) = self.link.host.source.replace(source) {
            old.destroy();
        }
        true
    }

    /// Auto clipboard: whether the host's selection is new and not wsbox's
    /// own; it then counts as copied in.
    pub(crate) fn take_new_host_selection(&mut self) -> bool {
        if !self.seat.keyboard_focus {
            return false;
        }
        let host = &self.link.host;
        let Some(selection) = &host.selection else {
            return false;
        };
        if self.clipboard.imported.as_ref() == Some(&selection.id()) {
            return false;
        }
        self.clipboard.imported = Some(selection.id());
        let own = host
            .offers
            .iter()
            .find(|(o, _)| o == selection)
            .is_some_and(|(_, mimes)| mimes.contains(&self.clipboard.own_mime));
        !own
    }

    /// Asks the host to write its selection, as text, into `fd`. False when
    /// it has none, or none in a text type.
    pub(crate) fn receive_host_selection(&mut self, fd: OwnedFd) -> bool {
        let host = &self.link.host;
        let Some(selection) = &host.selection else {
            return false;
        };
        let Some((_, mimes)) = host.offers.iter().find(|(o, _)| o == selection) else {
            return false;
        };
        let Some(mime) = TEXT_MIMES
            .iter()
            .find(|m| mimes.iter().any(|have| have == *m))
        else {
            return false;
        };
        selection.receive((*mime).to_owned(), fd.as_fd());
        // The write end goes to the host with the request (a duplicate);
        // this one is closed now, so the read sees the end of the data.
        drop(fd);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_own_mime_type_is_random() {
        let (a, b) = (random_token(), random_token());
        assert_eq!(a.len(), 32);
        assert_ne!(a, b);
    }
}
