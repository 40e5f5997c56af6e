//! The host window's handle for other host clients: exported once with
//! xdg-foreign (`zxdg_exporter_v2`, else `zxdg_exporter_v1`), so that the
//! host's file chooser, which wsbox asks for the app's dialogs, can stack
//! its dialog over wsbox's window (`parent_window` `wayland:HANDLE`).
//!
//! Only wsbox's own toplevel is ever exported, at most once per window,
//! and only when wsbox asks for it (window mode with a portal): nothing the
//! app does makes another export.

use wayland_client::{Connection, Dispatch, QueueHandle};
use wayland_protocols::xdg::foreign::{zv1, zv2};

use super::{Exported, Exporter, Foreign, Host, HostWindow};

use zv1::client::{zxdg_exported_v1, zxdg_exporter_v1};
use zv2::client::{zxdg_exported_v2, zxdg_exporter_v2};

/// The longest handle kept: the host's handles are short (a UUID); a
/// longer one is not passed on.
const HANDLE_MAX: usize = 256;

impl Foreign {
    pub(super) fn new(exporter: Option<Exporter>) -> Self {
        Self {
            exporter,
            exported: None,
        }
    }
}

impl Drop for Foreign {
    fn drop(&mut self) {
        match self.exported.take() {
            Some(Exported::V2(e)) => e.destroy(),
            Some(Exported::V1(e)) => e.destroy(),
            None => {}
        }
    }
}

impl HostWindow {
    /// Exports the window, once: the handle comes with a later host event
    /// ([`HostWindow::parent_window`]). Nothing happens on a host without
    /// xdg-foreign, or when the window was exported already.
    pub fn export(&mut self) {
        let link = &mut self.link;
        if link.foreign.exported.is_some() {
            return;
        }
        let qh = &link.qh;
        link.foreign.exported = match &link.foreign.exporter {
            Some(Exporter::V2(exporter)) => Some(Exported::V2(exporter.export_toplevel(
                &link.surface,
                qh,
                (),
            ))),
            Some(Exporter::V1(exporter)) => {
                Some(Exported::V1(exporter.export(&link.surface, qh, ())))
            }
            None => None,
        };
        if link.foreign.exported.is_some() {
            let _ = self.flush();
        }
    }

    /// `wayland:HANDLE`, the window as the host's other clients name it,
    /// once the host exported it; else None.
    pub fn parent_window(&self) -> Option<String> {
        self.link
            .host
            .exported_handle
            .as_ref()
            .map(|handle| format!("wayland:{handle}"))
    }
}

/// A handle from the host, if it is one to pass on: printable ASCII of a
/// bounded length (it goes into D-Bus calls and logs).
fn checked(handle: String) -> Option<String> {
    let fine = !handle.is_empty()
        && handle.len() <= HANDLE_MAX
        && handle.bytes().all(|b| b.is_ascii_graphic());
    if !fine {
        tracing::warn!("the host exported wsbox's window under an unusable handle; not passed on");
    }
    fine.then_some(handle)
}

impl Dispatch<zxdg_exporter_v2::ZxdgExporterV2, ()> for Host {
    fn event(
        _: &mut Self,
        _: &zxdg_exporter_v2::ZxdgExporterV2,
        _: zxdg_exporter_v2::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
    }
}

impl Dispatch<zxdg_exporter_v1::ZxdgExporterV1, ()> for Host {
    fn event(
        _: &mut Self,
        _: &zxdg_exporter_v1::ZxdgExporterV1,
        _: zxdg_exporter_v1::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
    }
}

impl Dispatch<zxdg_exported_v2::ZxdgExportedV2, ()> for Host {
    fn event(
        host: &mut Self,
        _: &zxdg_exported_v2::ZxdgExportedV2,
        event: zxdg_exported_v2::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        if let zxdg_exported_v2::Event::Handle { handle } = event {
            host.exported_handle = checked(handle);
        }
    }
}

impl Dispatch<zxdg_exported_v1::ZxdgExportedV1, ()> for Host {
    fn event(
        host: &mut Self,
        _: &zxdg_exported_v1::ZxdgExportedV1,
        event: zxdg_exported_v1::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        if let zxdg_exported_v1::Event::Handle { handle } = event {
            host.exported_handle = checked(handle);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_bounded_handles_are_passed_on() {
        assert_eq!(checked("a1b2-c3".into()), Some("a1b2-c3".into()));
        assert_eq!(checked(String::new()), None);
        assert_eq!(checked("a b".into()), None);
        assert_eq!(checked("x\ny".into()), None);
        assert_eq!(checked("x".repeat(HANDLE_MAX + 1)), None);
    }
}
