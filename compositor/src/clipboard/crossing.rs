//! What crosses when: the gestures, the auto mode and the results of
//! transfers, applied to the compositor's state. Each result lands only in
//! the host focus period it started in (see the module above).

use std::io::Read;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::Arc;
use std::time::Instant;

use smithay::wayland::selection::data_device::{
    current_data_device_selection_userdata, request_data_device_client_selection,
    set_data_device_selection, SelectionRequestError,
};
use smithay::wayland::selection::primary_selection::{
    current_primary_selection_userdata, request_primary_client_selection,
    SelectionRequestError as PrimaryRequestError,
};
use smithay::wayland::selection::SelectionTarget;

use super::{pipe, Gesture, Way, EXPORT_INTERVAL, TEXT_MIMES};
use crate::state::State;

impl State {
    /// The fd that becomes readable when a clipboard transfer has finished,
    /// for the event loop; then call [`State::clipboard_ready`].
    pub fn clipboard_fd(&self) -> std::io::Result<OwnedFd> {
        self.core.transfers.wake_rx.as_fd().try_clone_to_owned()
    }

    /// Applies the transfers that finished, if they are still the newest
    /// of their way and the window still has the focus they started in.
    pub fn clipboard_ready(&mut self) {
        let mut buf = [0u8; 64];
        while matches!((&self.core.transfers.wake_rx).read(&mut buf), Ok(n) if n > 0) {}
        while let Ok((ticket, result)) = self.core.transfers.rx.try_recv() {
            if !self.core.transfers.finish(&ticket) {
                tracing::debug!(?ticket, "an older clipboard transfer dropped");
                self.core.stats.clipboard.dropped += 1;
                continue;
            }
            let bytes = match result {
                Ok(bytes) => bytes,
                Err(err) => {
                    tracing::warn!(%err, ?ticket, "clipboard transfer refused");
                    self.core.stats.clipboard.refused += 1;
                    continue;
                }
            };
            // The focus left (or left and came back) since it started: the
            // user has moved on, and the data goes nowhere.
            let focus = self
                .backend
                .window()
                .and_then(|w| w.focus_serial().zip(w.focus_epoch()));
            let Some((serial, _)) = focus.filter(|(_, epoch)| *epoch == ticket.epoch) else {
                tracing::info!(?ticket, "clipboard transfer dropped: the focus moved");
                self.core.stats.clipboard.dropped += 1;
                continue;
            };
            match ticket.way {
                Way::ToHost => self.copy_to_host(Arc::new(bytes), serial, ticket.flash),
                Way::ToSandbox => {
                    tracing::info!(
                        bytes = bytes.len(),
                        "host clipboard pasted into the sandbox"
                    );
                    let mimes: Vec<String> = TEXT_MIMES.iter().map(|m| (*m).to_owned()).collect();
                    set_data_device_selection(
                        &self.core.display_handle,
                        &self.seat,
                        mimes.clone(),
                        super::Owner::Host(Arc::new(bytes)),
                    );
                    self.x11_offer_selection(SelectionTarget::Clipboard, Some(mimes));
                    self.core.stats.clipboard.to_sandbox += 1;
                    if let Some(window) = self.backend.window().filter(|_| ticket.flash) {
                        window.flash();
                    }
                }
            }
        }
    }

    fn copy_to_host(&mut self, bytes: Arc<Vec<u8>>, serial: u32, flash: bool) {
        let len = bytes.len();
        let stats = &mut self.core.stats.clipboard;
        if let Some(window) = self.backend.window() {
            if !window.set_host_selection(bytes, serial) {
                stats.refused += 1;
            } else {
                stats.to_host += 1;
                tracing::info!(
                    bytes = len,
                    "sandbox selection copied to the host clipboard"
                );
                if flash {
                    window.flash();
                }
            }
        }
    }

    /// Auto mode: an app inside set the clipboard selection. Offered to the
    /// host once the request is handled, if the window has the host's
    /// keyboard focus then.
    pub(crate) fn sandbox_selection_changed(&mut self) {
        if self.core.config.clipboard.auto {
            self.core.export_selection = true;
        }
    }

    /// After a batch of client requests, and at each tick: the auto mode's
    /// pending export, unless the last one started less than
    /// [`EXPORT_INTERVAL`] ago (then it waits for the next call).
    pub(crate) fn clipboard_after_batch(&mut self) {
        if !self.core.export_selection {
            return;
        }
        if self
            .core
            .transfers
            .last_export
            .is_some_and(|t| t.elapsed() < EXPORT_INTERVAL)
        {
            return;
        }
        self.core.export_selection = false;
        let Some(window) = self.backend.window() else {
            return;
        };
        if window.focus_serial().is_none() {
            tracing::debug!("the sandbox set its clipboard while not focused: it stays inside");
            self.core.stats.clipboard.kept_inside += 1;
            return;
        }
        self.core.transfers.last_export = Some(Instant::now());
        self.copy_sandbox_selection(false);
    }

    /// Auto mode: the window has the host's keyboard focus and the host's
    /// selection is new to it: copy it in.
    pub(crate) fn import_host_selection(&mut self) {
        self.read_host_selection(false);
    }

    /// Asks the host for its selection, as text, to become the sandbox's.
    fn read_host_selection(&mut self, flash: bool) {
        let max = self.core.config.clipboard.max_bytes;
        let Some(window) = self.backend.window() else {
            return;
        };
        let Some(epoch) = window.focus_epoch() else {
            return;
        };
        let (read, write) = match pipe() {
            Ok(ends) => ends,
            Err(err) => {
                tracing::warn!(%err, "cannot copy the host selection in");
                self.core.stats.clipboard.refused += 1;
                return;
            }
        };
        if !window.receive_host_selection(write) {
            tracing::debug!("the host clipboard has no text to copy in");
            self.core.stats.clipboard.refused += 1;
            return;
        }
        if let Err(err) = self
            .core
            .transfers
            .read(read, max, Way::ToSandbox, epoch, flash)
        {
            tracing::warn!(%err, "cannot copy the host selection in");
            self.core.stats.clipboard.refused += 1;
        }
    }

    /// Reads the sandbox's clipboard selection (as text) and makes it the
    /// host's, if the window still has the focus when it arrives.
    fn copy_sandbox_selection(&mut self, flash: bool) {
        let max = self.core.config.clipboard.max_bytes;
        let Some((serial, epoch)) = self
            .backend
            .window()
            .and_then(|w| w.focus_serial().zip(w.focus_epoch()))
        else {
            return;
        };
        // A selection wsbox set itself (pasted from the host) is
        // served from memory.
        let own =
            current_data_device_selection_userdata::<State>(&self.seat).map(|data| data.clone());
        if let Some(super::Owner::Host(bytes)) = own {
            // Whatever was still being read from the app is stale now.
            self.core.transfers.to_host = None;
            self.copy_to_host(bytes, serial, flash);
            return;
        }
        for mime in TEXT_MIMES {
            let (read, write) = match pipe() {
                Ok(ends) => ends,
                Err(err) => {
                    tracing::warn!(%err, "cannot copy the sandbox selection");
                    self.core.stats.clipboard.refused += 1;
                    return;
                }
            };
            match self.read_selection(SelectionTarget::Clipboard, (*mime).to_owned(), write) {
                Ok(()) => {
                    if let Err(err) = self
                        .core
                        .transfers
                        .read(read, max, Way::ToHost, epoch, flash)
                    {
                        tracing::warn!(%err, "cannot copy the sandbox selection");
                        self.core.stats.clipboard.refused += 1;
                    }
                    return;
                }
                Err(SelectionRequestError::InvalidMimetype) => continue,
                Err(err) => {
                    tracing::info!(%err, "nothing to copy from the sandbox");
                    self.core.stats.clipboard.refused += 1;
                    return;
                }
            }
        }
        tracing::info!("the sandbox selection has no text to copy");
        self.core.stats.clipboard.refused += 1;
    }

    /// Has the sandbox's selection `ty` written as `mime` into `fd`, whoever
    /// owns it: wsbox (the host's text it pasted in, served from memory, as
    /// text only), an X11 client (through the window manager) or a Wayland
    /// client.
    pub(crate) fn read_selection(
        &mut self,
        ty: SelectionTarget,
        mime: String,
        fd: OwnedFd,
    ) -> Result<(), SelectionRequestError> {
        let owner = match ty {
            SelectionTarget::Clipboard => {
                current_data_device_selection_userdata::<State>(&self.seat).map(|d| d.clone())
            }
            SelectionTarget::Primary => {
                current_primary_selection_userdata::<State>(&self.seat).map(|d| d.clone())
            }
        };
        match owner {
            Some(super::Owner::Host(bytes)) => {
                if ty != SelectionTarget::Clipboard || !TEXT_MIMES.contains(&mime.as_str()) {
                    return Err(SelectionRequestError::InvalidMimetype);
                }
                self.serve_sandbox_read(fd, bytes);
                Ok(())
            }
            Some(super::Owner::X11) => self.x11_ask_selection(ty, mime, fd),
            None => match ty {
                SelectionTarget::Clipboard => {
                    request_data_device_client_selection::<State>(&self.seat, mime, fd)
                }
                SelectionTarget::Primary => {
                    request_primary_client_selection::<State>(&self.seat, mime, fd).map_err(|e| {
                        match e {
                            PrimaryRequestError::InvalidMimetype => {
                                SelectionRequestError::InvalidMimetype
                            }
                            PrimaryRequestError::ServerSideSelection => {
                                SelectionRequestError::ServerSideSelection
                            }
                            PrimaryRequestError::NoSelection => SelectionRequestError::NoSelection,
                        }
                    })
                }
            },
        }
    }

    /// An app inside reads the selection wsbox set (the host's text it
    /// pasted in): served from memory, and counted (`reads_inside`), so
    /// that one can tell whether an app asked for it at all.
    pub(crate) fn serve_sandbox_read(&mut self, fd: OwnedFd, bytes: Arc<Vec<u8>>) {
        self.core.stats.clipboard.reads_inside += 1;
        super::serve(fd, bytes);
    }

    /// The user asked for a clipboard transfer in the sandbox's window.
    pub(crate) fn clipboard_gesture(&mut self, gesture: Gesture) {
        match gesture {
            Gesture::Copy => self.copy_sandbox_selection(true),
            Gesture::Paste => self.read_host_selection(true),
        }
    }
}
