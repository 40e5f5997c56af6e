//! What a client's registry shows, and what binding outside it does.

use wayland_client::protocol::wl_compositor::WlCompositor;
use wayland_client::protocol::wl_display;
use wayland_client::protocol::wl_shm::WlShm;
use wayland_client::{delegate_noop, Dispatch, Proxy};
use wayland_protocols::ext::data_control::v1::client::ext_data_control_manager_v1::ExtDataControlManagerV1;
use wayland_protocols::ext::foreign_toplevel_list::v1::client::ext_foreign_toplevel_list_v1::ExtForeignToplevelListV1;
use wayland_protocols::ext::image_copy_capture::v1::client::ext_image_copy_capture_manager_v1::ExtImageCopyCaptureManagerV1;
use wayland_protocols::ext::session_lock::v1::client::ext_session_lock_manager_v1::ExtSessionLockManagerV1;
use wayland_protocols::ext::transient_seat::v1::client::ext_transient_seat_manager_v1::ExtTransientSeatManagerV1;
use wayland_protocols::wp::drm_lease::v1::client::wp_drm_lease_device_v1::WpDrmLeaseDeviceV1;
use wayland_protocols::wp::keyboard_shortcuts_inhibit::zv1::client::zwp_keyboard_shortcuts_inhibit_manager_v1::ZwpKeyboardShortcutsInhibitManagerV1;
use wayland_protocols::wp::security_context::v1::client::wp_security_context_manager_v1::WpSecurityContextManagerV1;
use wayland_protocols::xdg::shell::client::xdg_wm_base::XdgWmBase;
use wayland_protocols::xwayland::keyboard_grab::zv1::client::zwp_xwayland_keyboard_grab_manager_v1::ZwpXwaylandKeyboardGrabManagerV1;

use super::client::App;
use super::fixture::{ClientId, Fixture};
use crate::globals::{NEVER_OFFERED, OFFERED};

#[test]
fn registry_lists_exactly_the_allowlist() {
    let mut f = Fixture::new();
    let id = f.add_bare_client();

    let mut seen: Vec<(String, u32)> = f.clients[id]
        .app
        .globals
        .iter()
        .map(|g| (g.interface.clone(), g.version))
        .collect();
    seen.sort();
    let mut expected: Vec<(String, u32)> = OFFERED
        .iter()
        .map(|(name, version)| (name.to_string(), *version))
        .collect();
    expected.sort();
    assert_eq!(seen, expected, "the registry differs from globals::OFFERED");

    for never in NEVER_OFFERED {
        assert!(
            f.clients[id].global(never).is_none(),
            "{never} is advertised"
        );
        assert!(
            !OFFERED.iter().any(|(name, _)| name == never),
            "{never} is both allowed and forbidden"
        );
    }
}

#[test]
fn a_second_client_sees_the_same_globals() {
    let mut f = Fixture::new();
    let a = f.add_client();
    let b = f.add_bare_client();
    assert_eq!(f.clients[a].app.globals, f.clients[b].app.globals);
}

/// Binds `interface` at `name`/`version` from a fresh client and checks that
/// only that client is disconnected, with wl_display.invalid_object.
fn assert_bind_refused<I>(f: &mut Fixture, witness: ClientId, name: u32, version: u32)
where
    I: Proxy + 'static,
    App: Dispatch<I, ()>,
{
    let offender = f.add_bare_client();
    let clients_before = f.state.client_count();
    let client = &f.clients[offender];
    let _proxy: I = client.registry.bind(name, version, &client.qh, ());
    let err = f.expect_protocol_error(offender);
    let interface = I::interface().name;
    assert_eq!(
        err.object_interface, "wl_display",
        "bind of {interface} v{version} at {name}: {err:?}"
    );
    assert_eq!(
        err.code,
        wl_display::Error::InvalidObject as u32,
        "bind of {interface} v{version} at {name}: {err:?}"
    );
    // Cheap check per bind; the tests render once at the end.
    f.roundtrip(witness);
    assert_eq!(
        f.state.client_count(),
        clients_before - 1,
        "bind of {interface} v{version} at {name} left the offender connected"
    );
}

#[test]
fn binding_what_was_not_advertised_disconnects_only_that_client() {
    let mut f = Fixture::new();
    let witness = f.add_client();
    f.map_window(witness, "witness", true, None, super::fixture::BLUE);
    let globals = f.clients[witness].app.globals.clone();
    let name_of = |interface: &str| {
        globals
            .iter()
            .find(|g| g.interface == interface)
            .map(|g| g.name)
            .unwrap_or_else(|| panic!("{interface} is not advertised"))
    };
    let unused = globals.iter().map(|g| g.name).max().unwrap_or(0) + 1;

    // A name that does not exist, and the reserved name 0.
    assert_bind_refused::<WlCompositor>(&mut f, witness, 9999, 1);
    assert_bind_refused::<WlCompositor>(&mut f, witness, unused, 1);
    assert_bind_refused::<WlCompositor>(&mut f, witness, 0, 1);
    // A real name with another interface.
    assert_bind_refused::<WlShm>(&mut f, witness, name_of("wl_compositor"), 1);
    // A real name above its advertised version (6; the client knows 7).
    let wm_base_version = globals
        .iter()
        .find(|g| g.interface == "xdg_wm_base")
        .map(|g| g.version)
        .unwrap_or(0);
    assert!(XdgWmBase::interface().version > wm_base_version);
    assert_bind_refused::<XdgWmBase>(&mut f, witness, name_of("xdg_wm_base"), wm_base_version + 1);
    f.assert_alive(witness);
    // The witness's window is still there and still focused.
    let info = f.window_info("witness");
    assert!(info.focused);
}

/// Every forbidden interface this client library knows, bound at every name
/// the registry has and one past it: always refused. This is the allowlist
/// seen from the app: a name cannot be guessed into a capability.
#[test]
fn forbidden_interfaces_cannot_be_bound_at_any_name() {
    let mut f = Fixture::new();
    let witness = f.add_client();
    let max_name = f.clients[witness]
        .app
        .globals
        .iter()
        .map(|g| g.name)
        .max()
        .unwrap_or(0);
    for name in 1..=max_name + 1 {
        assert_bind_refused::<ExtDataControlManagerV1>(&mut f, witness, name, 1);
        assert_bind_refused::<ExtImageCopyCaptureManagerV1>(&mut f, witness, name, 1);
        assert_bind_refused::<ExtForeignToplevelListV1>(&mut f, witness, name, 1);
        assert_bind_refused::<ExtSessionLockManagerV1>(&mut f, witness, name, 1);
        assert_bind_refused::<ExtTransientSeatManagerV1>(&mut f, witness, name, 1);
        assert_bind_refused::<WpSecurityContextManagerV1>(&mut f, witness, name, 1);
        assert_bind_refused::<WpDrmLeaseDeviceV1>(&mut f, witness, name, 1);
        assert_bind_refused::<ZwpKeyboardShortcutsInhibitManagerV1>(&mut f, witness, name, 1);
        assert_bind_refused::<ZwpXwaylandKeyboardGrabManagerV1>(&mut f, witness, name, 1);
    }
    f.assert_alive(witness);
    assert_eq!(f.state.client_count(), 1);
    for interface in [
        ExtDataControlManagerV1::interface().name,
        ExtImageCopyCaptureManagerV1::interface().name,
        ExtForeignToplevelListV1::interface().name,
        ExtSessionLockManagerV1::interface().name,
        ExtTransientSeatManagerV1::interface().name,
        WpSecurityContextManagerV1::interface().name,
        WpDrmLeaseDeviceV1::interface().name,
        ZwpKeyboardShortcutsInhibitManagerV1::interface().name,
        ZwpXwaylandKeyboardGrabManagerV1::interface().name,
    ] {
        assert!(
            NEVER_OFFERED.contains(&interface),
            "{interface} is missing from globals::NEVER_OFFERED"
        );
    }
}

// These are only ever bound to be refused: no event can arrive.
delegate_noop!(App: ignore ExtDataControlManagerV1);
delegate_noop!(App: ignore ExtImageCopyCaptureManagerV1);
delegate_noop!(App: ignore ExtForeignToplevelListV1);
delegate_noop!(App: ignore ExtSessionLockManagerV1);
delegate_noop!(App: ignore ExtTransientSeatManagerV1);
delegate_noop!(App: ignore WpSecurityContextManagerV1);
delegate_noop!(App: ignore WpDrmLeaseDeviceV1);
delegate_noop!(App: ignore ZwpKeyboardShortcutsInhibitManagerV1);
delegate_noop!(App: ignore ZwpXwaylandKeyboardGrabManagerV1);
