//! The host protocol's Dispatch impls: they queue the [`HostEvent`]s that
//! matter for the compositor, keep the little state the protocol needs
//! between events (pending sizes, scales, clipboard offers), and ignore the
//! rest. They must never act on the compositor: the events are applied
//! after dispatch, by [`crate::input::host`].
//!
//! The host is checked like a client: sizes are clamped, unknown enum
//! values and keys beyond KEY_MAX ignored, offers, MIME types and keymaps
//! capped.

use std::fs::File;
use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use smithay::backend::input::AxisSource;
use wayland_client::globals::GlobalListContents;
use wayland_client::protocol::{
    wl_buffer, wl_callback, wl_compositor, wl_data_device, wl_data_device_manager, wl_data_offer,
    wl_data_source, wl_keyboard, wl_output, wl_pointer, wl_registry, wl_seat, wl_shm, wl_shm_pool,
    wl_surface,
};
use wayland_client::{
    delegate_noop, event_created_child, Connection, Dispatch, Proxy, QueueHandle, WEnum,
};
use wayland_protocols::wp::fractional_scale::v1::client::{
    wp_fractional_scale_manager_v1, wp_fractional_scale_v1,
};
use wayland_protocols::wp::viewporter::client::{wp_viewport, wp_viewporter};
use wayland_protocols::xdg::decoration::zv1::client::{
    zxdg_decoration_manager_v1, zxdg_toplevel_decoration_v1,
};
use wayland_protocols::xdg::shell::client::{xdg_surface, xdg_toplevel, xdg_wm_base};

use super::{Host, HostEvent};
use crate::clipboard;

impl Host {
    /// The scale for the window's buffers: the host's fractional
    /// preference, else its integer one, else the largest scale of the
    /// outputs it is on.
    pub(super) fn scale(&self) -> f64 {
        if let Some(f) = self.fractional {
            return (f64::from(f) / 120.0).clamp(0.5, 4.0);
        }
        f64::from(self.integer_scale())
    }

    fn integer_scale(&self) -> i32 {
        if let Some(scale) = self.preferred_scale {
            return scale.clamp(1, 4);
        }
        self.entered
            .iter()
            .filter_map(|o| self.outputs.iter().find(|(out, _)| out == o))
            .map(|(_, scale)| *scale)
            .max()
            .unwrap_or(1)
            .clamp(1, 4)
    }
}

impl Dispatch<wl_registry::WlRegistry, GlobalListContents> for Host {
    fn event(
        host: &mut Self,
        registry: &wl_registry::WlRegistry,
        event: wl_registry::Event,
        _: &GlobalListContents,
        _: &Connection,
        qh: &QueueHandle<Self>,
    ) {
        match event {
            wl_registry::Event::Global {
                name,
                interface,
                version,
            } if interface == "wl_output" => {
                let output: wl_output::WlOutput = registry.bind(name, version.min(3), qh, ());
                host.outputs.push((output, 1));
            }
            wl_registry::Event::GlobalRemove { .. } => {
                // A removed output's proxy stays valid until released; it
                // only stops counting once the window leaves it.
            }
            _ => {}
        }
    }
}

// The registry of a host that never answers (HostWindow::silent, for the
// in-process tests): the window binds made-up globals on it.
#[cfg(test)]
delegate_noop!(Host: ignore wl_registry::WlRegistry);
delegate_noop!(Host: ignore wl_compositor::WlCompositor);
delegate_noop!(Host: ignore wl_data_device_manager::WlDataDeviceManager);
delegate_noop!(Host: ignore wl_shm::WlShm);
delegate_noop!(Host: ignore wl_shm_pool::WlShmPool);
delegate_noop!(Host: ignore zxdg_decoration_manager_v1::ZxdgDecorationManagerV1);
delegate_noop!(Host: ignore wp_fractional_scale_manager_v1::WpFractionalScaleManagerV1);
delegate_noop!(Host: ignore wp_viewporter::WpViewporter);
delegate_noop!(Host: ignore wp_viewport::WpViewport);

impl Dispatch<wp_fractional_scale_v1::WpFractionalScaleV1, ()> for Host {
    fn event(
        host: &mut Self,
        _: &wp_fractional_scale_v1::WpFractionalScaleV1,
        event: wp_fractional_scale_v1::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        if let wp_fractional_scale_v1::Event::PreferredScale { scale } = event {
            host.fractional = Some(scale);
            host.events.push(HostEvent::ScaleChanged);
        }
    }
}

impl Dispatch<zxdg_toplevel_decoration_v1::ZxdgToplevelDecorationV1, ()> for Host {
    fn event(
        host: &mut Self,
        _: &zxdg_toplevel_decoration_v1::ZxdgToplevelDecorationV1,
        event: zxdg_toplevel_decoration_v1::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        if let zxdg_toplevel_decoration_v1::Event::Configure {
            mode: WEnum::Value(mode),
        } = event
        {
            let server = mode == zxdg_toplevel_decoration_v1::Mode::ServerSide;
            host.events.push(HostEvent::Decoration(server));
        }
    }
}

impl Dispatch<wl_buffer::WlBuffer, Arc<AtomicBool>> for Host {
    fn event(
        host: &mut Self,
        _: &wl_buffer::WlBuffer,
        event: wl_buffer::Event,
        busy: &Arc<AtomicBool>,
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        if let wl_buffer::Event::Release = event {
            busy.store(false, Ordering::Release);
            host.events.push(HostEvent::Released);
        }
    }
}

impl Dispatch<wl_callback::WlCallback, ()> for Host {
    fn event(
        host: &mut Self,
        _: &wl_callback::WlCallback,
        event: wl_callback::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        if let wl_callback::Event::Done { .. } = event {
            host.events.push(HostEvent::FrameDone);
        }
    }
}

impl Dispatch<wl_surface::WlSurface, ()> for Host {
    fn event(
        host: &mut Self,
        surface: &wl_surface::WlSurface,
        event: wl_surface::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        if host.surface.as_ref() != Some(surface) {
            return;
        }
        match event {
            wl_surface::Event::Enter { output } => {
                if !host.entered.contains(&output) {
                    host.entered.push(output);
                }
            }
            wl_surface::Event::Leave { output } => host.entered.retain(|o| *o != output),
            wl_surface::Event::PreferredBufferScale { factor } => {
                host.preferred_scale = Some(factor);
            }
            _ => return,
        }
        host.events.push(HostEvent::ScaleChanged);
    }
}

impl Dispatch<wl_output::WlOutput, ()> for Host {
    fn event(
        host: &mut Self,
        output: &wl_output::WlOutput,
        event: wl_output::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        match event {
            wl_output::Event::Scale { factor } => {
                if let Some(entry) = host.outputs.iter_mut().find(|(o, _)| o == output) {
                    entry.1 = factor;
                }
            }
            wl_output::Event::Done => host.events.push(HostEvent::ScaleChanged),
            _ => {}
        }
    }
}

impl Dispatch<xdg_wm_base::XdgWmBase, ()> for Host {
    fn event(
        _: &mut Self,
        wm_base: &xdg_wm_base::XdgWmBase,
        event: xdg_wm_base::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        if let xdg_wm_base::Event::Ping { serial } = event {
            wm_base.pong(serial);
        }
    }
}

impl Dispatch<xdg_surface::XdgSurface, ()> for Host {
    fn event(
        host: &mut Self,
        xdg_surface: &xdg_surface::XdgSurface,
        event: xdg_surface::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        if let xdg_surface::Event::Configure { serial } = event {
            xdg_surface.ack_configure(serial);
            let (w, h) = host.pending_size;
            host.events.push(HostEvent::Configure(w, h));
        }
    }
}

impl Dispatch<xdg_toplevel::XdgToplevel, ()> for Host {
    fn event(
        host: &mut Self,
        _: &xdg_toplevel::XdgToplevel,
        event: xdg_toplevel::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        match event {
            xdg_toplevel::Event::Configure { width, height, .. } => {
                host.pending_size = (width.clamp(0, 1 << 15), height.clamp(0, 1 << 15));
            }
            xdg_toplevel::Event::Close => host.events.push(HostEvent::Close),
            _ => {}
        }
    }
}

impl Dispatch<wl_seat::WlSeat, ()> for Host {
    fn event(
        host: &mut Self,
        seat: &wl_seat::WlSeat,
        event: wl_seat::Event,
        _: &(),
        _: &Connection,
        qh: &QueueHandle<Self>,
    ) {
        let wl_seat::Event::Capabilities {
            capabilities: WEnum::Value(caps),
        } = event
        else {
            return;
        };
        let keyboard = caps.contains(wl_seat::Capability::Keyboard);
        match (&host.keyboard, keyboard) {
            (None, true) => host.keyboard = Some(seat.get_keyboard(qh, ())),
            (Some(_), false) => {
                if let Some(k) = host.keyboard.take() {
                    if k.version() >= 3 {
                        k.release();
                    }
                }
                host.events.push(HostEvent::KeyboardLeave);
            }
            _ => {}
        }
        let pointer = caps.contains(wl_seat::Capability::Pointer);
        match (&host.pointer, pointer) {
            (None, true) => host.pointer = Some(seat.get_pointer(qh, ())),
            (Some(_), false) => {
                if let Some(p) = host.pointer.take() {
                    if p.version() >= 3 {
                        p.release();
                    }
                }
                host.events.push(HostEvent::PointerLeave);
            }
            _ => {}
        }
    }
}

impl Dispatch<wl_keyboard::WlKeyboard, ()> for Host {
    fn event(
        host: &mut Self,
        _: &wl_keyboard::WlKeyboard,
        event: wl_keyboard::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        match event {
            // The host's keymap is the sandbox's: the host sends key codes
            // in its terms (and switches keymaps, e.g. for virtual
            // keyboards). The fd is closed when it is dropped.
            wl_keyboard::Event::Keymap {
                format: WEnum::Value(wl_keyboard::KeymapFormat::XkbV1),
                fd,
                size,
            } => match read_keymap(fd, size) {
                Ok(keymap) => host.events.push(HostEvent::Keymap(keymap)),
                Err(err) => tracing::warn!(%err, "unusable host keymap ignored"),
            },
            wl_keyboard::Event::Modifiers {
                mods_depressed,
                mods_latched,
                mods_locked,
                group,
                ..
            } => host.events.push(HostEvent::Modifiers {
                depressed: mods_depressed,
                latched: mods_latched,
                locked: mods_locked,
                group,
            }),
            // Keys already down when the focus came stay outside.
            wl_keyboard::Event::Enter {
                surface, serial, ..
            } if host.surface.as_ref() == Some(&surface) => {
                host.events.push(HostEvent::KeyboardEnter { serial });
            }
            wl_keyboard::Event::Leave { .. } => host.events.push(HostEvent::KeyboardLeave),
            // evdev codes beyond KEY_MAX are not keys.
            wl_keyboard::Event::Key {
                key,
                state: WEnum::Value(state),
                serial,
                ..
            } if key < 0x300 => {
                host.events.push(HostEvent::Key {
                    key,
                    pressed: state == wl_keyboard::KeyState::Pressed,
                    serial,
                });
            }
            wl_keyboard::Event::RepeatInfo { rate, delay } => {
                host.events.push(HostEvent::RepeatInfo { rate, delay });
            }
            _ => {}
        }
    }
}

/// The most MIME types wsbox keeps per host offer.
const OFFER_MIMES_MAX: usize = 64;
/// The most host offers wsbox keeps at once.
const OFFERS_MAX: usize = 8;
/// The longest MIME type name wsbox keeps.
const MIME_LEN_MAX: usize = 256;

impl Dispatch<wl_data_device::WlDataDevice, ()> for Host {
    fn event(
        host: &mut Self,
        _: &wl_data_device::WlDataDevice,
        event: wl_data_device::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        match event {
            wl_data_device::Event::DataOffer { id } => {
                // Offers that never became the selection do not pile up.
                if host.offers.len() >= OFFERS_MAX {
                    let selection = host.selection.clone();
                    if let Some(i) = host
                        .offers
                        .iter()
                        .position(|(o, _)| Some(o) != selection.as_ref())
                    {
                        host.offers.remove(i).0.destroy();
                    }
                }
                host.offers.push((id, Vec::new()));
            }
            wl_data_device::Event::Selection { id } => {
                // Only the current selection matters; older offers go.
                let current = id.clone();
                host.offers.retain(|(offer, _)| {
                    let keep = Some(offer) == current.as_ref();
                    if !keep {
                        offer.destroy();
                    }
                    keep
                });
                host.selection = id;
            }
            // No drag and drop across: a dragged offer is dropped at once.
            wl_data_device::Event::Enter { id: Some(id), .. } => {
                host.offers.retain(|(offer, _)| *offer != id);
                id.destroy();
            }
            _ => {}
        }
    }

    event_created_child!(Host, wl_data_device::WlDataDevice, [
        wl_data_device::EVT_DATA_OFFER_OPCODE => (wl_data_offer::WlDataOffer, ()),
    ]);
}

impl Dispatch<wl_data_offer::WlDataOffer, ()> for Host {
    fn event(
        host: &mut Self,
        offer: &wl_data_offer::WlDataOffer,
        event: wl_data_offer::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        if let wl_data_offer::Event::Offer { mime_type } = event {
            if let Some((_, mimes)) = host.offers.iter_mut().find(|(o, _)| o == offer) {
                if mimes.len() < OFFER_MIMES_MAX && mime_type.len() <= MIME_LEN_MAX {
                    mimes.push(mime_type);
                }
            }
        }
    }
}

impl Dispatch<wl_data_source::WlDataSource, Arc<Vec<u8>>> for Host {
    fn event(
        host: &mut Self,
        source: &wl_data_source::WlDataSource,
        event: wl_data_source::Event,
        bytes: &Arc<Vec<u8>>,
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        match event {
            wl_data_source::Event::Send { mime_type, fd }
                if clipboard::TEXT_MIMES.contains(&mime_type.as_str()) =>
            {
                clipboard::serve(fd, bytes.clone());
            }
            wl_data_source::Event::Cancelled => {
                if host.source.as_ref() == Some(source) {
                    host.source = None;
                }
                source.destroy();
            }
            _ => {}
        }
    }
}

/// The largest host keymap wsbox reads; real ones are about 60 KiB.
const KEYMAP_MAX: u32 = 1 << 20;

/// Reads a keymap the host sent as `fd` of `size` bytes (NUL-terminated
/// text). pread, not read: the host may share one open file among all its
/// clients, whose offset must not move.
fn read_keymap(fd: OwnedFd, size: u32) -> Result<String, String> {
    use std::os::unix::fs::FileExt;
    if size == 0 || size > KEYMAP_MAX {
        return Err(format!("keymap of {size} bytes"));
    }
    let file = File::from(fd);
    let mut bytes = vec![0u8; size as usize];
    let mut done = 0;
    while done < bytes.len() {
        match file.read_at(&mut bytes[done..], done as u64) {
            Ok(0) => break,
            Ok(n) => done += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e.to_string()),
        }
    }
    bytes.truncate(done);
    if let Some(end) = bytes.iter().position(|b| *b == 0) {
        bytes.truncate(end);
    }
    String::from_utf8(bytes).map_err(|_| "keymap is not UTF-8".to_owned())
}

impl Dispatch<wl_pointer::WlPointer, ()> for Host {
    fn event(
        host: &mut Self,
        pointer: &wl_pointer::WlPointer,
        event: wl_pointer::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        let index = |axis: &WEnum<wl_pointer::Axis>| match axis {
            WEnum::Value(wl_pointer::Axis::VerticalScroll) => Some(0),
            WEnum::Value(wl_pointer::Axis::HorizontalScroll) => Some(1),
            _ => None,
        };
        let finite = |v: f64| if v.is_finite() { v } else { 0.0 };
        match event {
            wl_pointer::Event::Enter {
                serial,
                surface,
                surface_x,
                surface_y,
            } => {
                if host.surface.as_ref() != Some(&surface) {
                    return;
                }
                pointer.set_cursor(serial, host.cursor_surface.as_ref(), 0, 0);
                host.events.push(HostEvent::PointerEnter {
                    serial,
                    x: finite(surface_x),
                    y: finite(surface_y),
                });
            }
            wl_pointer::Event::Leave { .. } => host.events.push(HostEvent::PointerLeave),
            wl_pointer::Event::Motion {
                surface_x,
                surface_y,
                ..
            } => host.events.push(HostEvent::Motion {
                x: finite(surface_x),
                y: finite(surface_y),
            }),
            wl_pointer::Event::Button {
                serial,
                button,
                state: WEnum::Value(state),
                ..
            } => host.events.push(HostEvent::Button {
                serial,
                button,
                pressed: state == wl_pointer::ButtonState::Pressed,
            }),
            wl_pointer::Event::Axis { axis, value, .. } => {
                if let Some(i) = index(&axis) {
                    host.axis.value[i] = Some(host.axis.value[i].unwrap_or(0.0) + finite(value));
                }
            }
            wl_pointer::Event::AxisDiscrete { axis, discrete } => {
                if let Some(i) = index(&axis) {
                    host.axis.discrete[i] =
                        Some(host.axis.discrete[i].unwrap_or(0).saturating_add(discrete));
                }
            }
            wl_pointer::Event::AxisStop { axis, .. } => {
                if let Some(i) = index(&axis) {
                    host.axis.stop[i] = true;
                }
            }
            wl_pointer::Event::AxisSource {
                axis_source: WEnum::Value(source),
            } => {
                host.axis.source = Some(match source {
                    wl_pointer::AxisSource::Wheel => AxisSource::Wheel,
                    wl_pointer::AxisSource::Finger => AxisSource::Finger,
                    wl_pointer::AxisSource::Continuous => AxisSource::Continuous,
                    wl_pointer::AxisSource::WheelTilt => AxisSource::WheelTilt,
                    _ => return,
                });
            }
            wl_pointer::Event::Frame => {
                let axis = std::mem::take(&mut host.axis);
                if !axis.is_empty() {
                    host.events.push(HostEvent::Axis(axis));
                }
            }
            _ => {}
        }
        // Before version 5 there are no frames: each axis event stands alone.
        if pointer.version() < 5 && !host.axis.is_empty() {
            let axis = std::mem::take(&mut host.axis);
            host.events.push(HostEvent::Axis(axis));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn memfd_with(bytes: &[u8]) -> OwnedFd {
        use std::io::Write;
        let fd = rustix::fs::memfd_create("test-keymap", rustix::fs::MemfdFlags::CLOEXEC).unwrap();
        let mut file = File::from(fd);
        file.write_all(bytes).unwrap();
        // The read must not depend on the shared offset, now at the end.
        OwnedFd::from(file)
    }

    #[test]
    fn host_keymaps_are_read_whole_trimmed_and_capped() {
        let text = b"xkb_keymap { };\0";
        assert_eq!(
            read_keymap(memfd_with(text), text.len() as u32).as_deref(),
            Ok("xkb_keymap { };")
        );
        // A size beyond the file reads what there is.
        assert_eq!(read_keymap(memfd_with(b"abc"), 10).as_deref(), Ok("abc"));
        assert!(read_keymap(memfd_with(b""), 0).is_err());
        assert!(read_keymap(memfd_with(b"x"), KEYMAP_MAX + 1).is_err());
        assert!(read_keymap(memfd_with(&[0xff, 0xfe]), 2).is_err());
    }
}
