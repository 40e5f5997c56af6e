//! Protocol errors disconnect the offender, and only the offender: another
//! client keeps its window and its connection, and the compositor keeps
//! rendering.

use wayland_client::backend::protocol::ProtocolError;
use wayland_client::protocol::{wl_shm, wl_surface};
use wayland_client::Proxy;
use wayland_protocols::xdg::shell::client::{
    xdg_positioner, xdg_surface, xdg_toplevel, xdg_wm_base,
};

use super::client::Client;
use super::fixture::{ClientId, Fixture, BLUE, RED};

/// A fixture with a witness client showing a window.
fn with_witness() -> (Fixture, ClientId) {
    let mut f = Fixture::new();
    let witness = f.add_client();
    f.map_window(witness, "witness", true, None, BLUE);
    (f, witness)
}

/// Lets a new client do `misbehave`, expects it to be disconnected with a
/// protocol error, and checks the witness is unharmed.
fn offend(f: &mut Fixture, witness: ClientId, misbehave: impl FnOnce(&Client)) -> ProtocolError {
    let offender = f.add_client();
    let before = f.state.client_count();
    misbehave(&f.clients[offender]);
    let err = f.expect_protocol_error(offender);
    f.assert_alive(witness);
    assert_eq!(
        f.state.client_count(),
        before - 1,
        "the offender is still connected after {err:?}"
    );
    assert!(
        f.window_info("witness").focused,
        "the witness lost its window or focus after {err:?}"
    );
    err
}

fn assert_error(err: &ProtocolError, interface: &str, code: u32) {
    assert_eq!(
        (err.object_interface.as_str(), err.code),
        (interface, code),
        "{err:?}"
    );
}

/// Like [`assert_role_error`], for errors wsbox posts on the xdg_popup.
fn assert_popup_error(err: &ProtocolError, interface: &str, code: u32) {
    assert!(
        (err.object_interface == interface || err.object_interface == "xdg_popup")
            && err.code == code,
        "expected {interface} (or xdg_popup) error {code}, got {err:?}"
    );
}

/// For the errors wsbox raises itself where smithay 0.7 does not: the
/// protocol names the xdg_surface or wl_surface, which smithay does not let
/// the compositor reach from its handlers, so the error (with the protocol's
/// code) is posted on the xdg_toplevel instead. The client is gone either way.
fn assert_role_error(err: &ProtocolError, interface: &str, code: u32) {
    assert!(
        (err.object_interface == interface || err.object_interface == "xdg_toplevel")
            && err.code == code,
        "expected {interface} (or xdg_toplevel) error {code}, got {err:?}"
    );
}

#[test]
fn shm_pool_of_size_zero_or_negative() {
    let (mut f, witness) = with_witness();
    for size in [0, -1, i32::MIN] {
        let err = offend(&mut f, witness, |c| {
            let file = Client::memfd(4096, RED);
            let _pool = c
                .shm()
                .create_pool(std::os::fd::AsFd::as_fd(&file), size, &c.qh, ());
        });
        assert_eq!(err.object_interface, "wl_shm", "size {size}: {err:?}");
    }
}

#[test]
fn shm_pool_larger_than_its_file() {
    // mmap of a 4 KiB memfd as 64 MiB succeeds; reading beyond the file
    // faults (SIGBUS). The compositor must survive drawing from it.
    let (mut f, witness) = with_witness();
    let c = f.add_client();
    let window = f.clients[c].create_toplevel("liar", true);
    f.roundtrip(c);
    let client = &f.clients[c];
    let serial = client
        .last_configure(&window.xdg_surface)
        .expect("configure");
    window.xdg_surface.ack_configure(serial);
    let file = Client::memfd(4096, RED);
    let pool = client
        .shm()
        .create_pool(std::os::fd::AsFd::as_fd(&file), 64 << 20, &client.qh, ());
    let buffer = pool.create_buffer(0, 200, 200, 800, wl_shm::Format::Argb8888, &client.qh, ());
    client.attach_commit(&window.surface, Some(&buffer));
    let _ = f.outcome(c);
    f.assert_alive(witness);
}

#[test]
fn shm_buffers_outside_their_pool() {
    let (mut f, witness) = with_witness();
    let invalid_stride = wl_shm::Error::InvalidStride as u32;
    // (offset, width, height, stride) in a 4096-byte pool.
    let cases = [
        (0, 32, 33, 128),          // stride × height = 4224 > 4096
        (4, 32, 32, 128),          // offset + 4096 > 4096
        (4096, 1, 1, 4),           // starts at the end
        (-4, 1, 1, 4),             // negative offset
        (0, 33, 1, 128),           // wider than the stride
        (0, 1, 1, 0),              // zero stride
        (0, 1, 1, -4),             // negative stride
        (0, 0, 1, 4),              // zero width
        (0, 1, -1, 4),             // negative height
        (0, 1, i32::MAX, 4),       // stride × height overflows
        (i32::MAX, 1, 1, 4),       // offset overflows
        (0, 1 << 29, 1, i32::MIN), // stride wraps
    ];
    for (offset, width, height, stride) in cases {
        let err = offend(&mut f, witness, |c| {
            let (pool, _file) = c.pool(4096, RED);
            let _buffer = pool.create_buffer(
                offset,
                width,
                height,
                stride,
                wl_shm::Format::Argb8888,
                &c.qh,
                (),
            );
        });
        assert_error(&err, "wl_shm_pool", invalid_stride);
    }
}

#[test]
fn shm_buffer_of_an_unsupported_format() {
    let (mut f, witness) = with_witness();
    for format in [wl_shm::Format::Rgb565, wl_shm::Format::Abgr8888] {
        let err = offend(&mut f, witness, |c| {
            let (pool, _file) = c.pool(4096, RED);
            let _buffer = pool.create_buffer(0, 8, 8, 32, format, &c.qh, ());
        });
        assert_error(&err, "wl_shm_pool", wl_shm::Error::InvalidFormat as u32);
    }
}

#[test]
fn surface_attach_with_an_offset_and_scale_zero() {
    let (mut f, witness) = with_witness();
    let err = offend(&mut f, witness, |c| {
        assert!(c.compositor().version() >= 5);
        let surface = c.surface();
        let buffer = c.buffer(4, 4, RED);
        surface.attach(Some(&buffer), 1, 1);
    });
    assert_error(&err, "wl_surface", wl_surface::Error::InvalidOffset as u32);

    let err = offend(&mut f, witness, |c| {
        c.surface().set_buffer_scale(0);
    });
    assert_error(&err, "wl_surface", wl_surface::Error::InvalidScale as u32);
}

#[test]
fn xdg_surface_buffer_before_configure() {
    let (mut f, witness) = with_witness();
    // Before the initial commit.
    let err = offend(&mut f, witness, |c| {
        let surface = c.surface();
        let xdg_surface = c.wm_base().get_xdg_surface(&surface, &c.qh, ());
        let _toplevel = xdg_surface.get_toplevel(&c.qh, ());
        let buffer = c.buffer(50, 50, RED);
        c.attach_commit(&surface, Some(&buffer));
    });
    assert_role_error(
        &err,
        "xdg_surface",
        xdg_surface::Error::UnconfiguredBuffer as u32,
    );

    // After the configure, but before acking it.
    let offender = f.add_client();
    let window = f.clients[offender].create_toplevel("eager", true);
    f.roundtrip(offender);
    let client = &f.clients[offender];
    assert!(client.last_configure(&window.xdg_surface).is_some());
    let buffer = client.buffer(50, 50, RED);
    client.attach_commit(&window.surface, Some(&buffer));
    let err = f.expect_protocol_error(offender);
    assert_role_error(
        &err,
        "xdg_surface",
        xdg_surface::Error::UnconfiguredBuffer as u32,
    );
    f.assert_alive(witness);
}

#[test]
fn wl_surface_destroyed_before_its_role_object() {
    let (mut f, witness) = with_witness();
    let offender = f.add_client();
    let window = f.map_window(offender, "early", true, None, RED);
    window.surface.destroy();
    let err = f.expect_protocol_error(offender);
    assert_role_error(
        &err,
        "wl_surface",
        wl_surface::Error::DefunctRoleObject as u32,
    );
    f.assert_alive(witness);
    assert_eq!(f.state.windows().len(), 1, "the offender's window stayed");
}

#[test]
fn xdg_surface_destroyed_before_its_toplevel() {
    let (mut f, witness) = with_witness();
    let offender = f.add_client();
    let window = f.map_window(offender, "early", true, None, RED);
    window.xdg_surface.destroy();
    let err = f.expect_protocol_error(offender);
    // xdg-shell says xdg_surface.defunct_role_object; smithay reports it as
    // xdg_wm_base.role. Either way the client is gone.
    assert!(
        (err.object_interface == "xdg_surface"
            && err.code == xdg_surface::Error::DefunctRoleObject as u32)
            || (err.object_interface == "xdg_wm_base"
                && err.code == xdg_wm_base::Error::Role as u32),
        "{err:?}"
    );
    f.assert_alive(witness);
    assert_eq!(f.state.windows().len(), 1, "the offender's window stayed");
}

#[test]
fn xdg_surface_constructed_twice() {
    let (mut f, witness) = with_witness();
    let err = offend(&mut f, witness, |c| {
        let window = c.create_toplevel("twice", true);
        let _again = window.xdg_surface.get_toplevel(&c.qh, ());
    });
    assert_role_error(
        &err,
        "xdg_surface",
        xdg_surface::Error::AlreadyConstructed as u32,
    );
}

#[test]
fn xdg_wm_base_destroyed_before_its_surfaces() {
    let (mut f, witness) = with_witness();
    let err = offend(&mut f, witness, |c| {
        let _window = c.create_toplevel("orphan", true);
        c.wm_base().destroy();
    });
    assert_error(
        &err,
        "xdg_wm_base",
        xdg_wm_base::Error::DefunctSurfaces as u32,
    );
}

#[test]
fn xdg_role_misuse() {
    let (mut f, witness) = with_witness();
    // A wl_subsurface role on an xdg_toplevel's surface.
    let err = offend(&mut f, witness, |c| {
        let window = c.create_toplevel("sub", true);
        let parent = c.surface();
        let _sub = c
            .subcompositor()
            .get_subsurface(&window.surface, &parent, &c.qh, ());
    });
    assert_eq!(err.object_interface, "wl_subcompositor", "{err:?}");

    // A toplevel that is its own parent.
    let err = offend(&mut f, witness, |c| {
        let window = c.create_toplevel("narcissus", true);
        window.toplevel.set_parent(Some(&window.toplevel));
    });
    assert_error(
        &err,
        "xdg_toplevel",
        xdg_toplevel::Error::InvalidParent as u32,
    );

    // Acking a configure that was never sent.
    let err = offend(&mut f, witness, |c| {
        let window = c.create_toplevel("liar", true);
        window.xdg_surface.ack_configure(0xdead_beef);
    });
    assert!(
        err.object_interface == "xdg_wm_base" || err.object_interface == "xdg_surface",
        "{err:?}"
    );
}

#[test]
fn invalid_positioners_and_popups() {
    let (mut f, witness) = with_witness();
    let err = offend(&mut f, witness, |c| {
        let positioner = c.wm_base().create_positioner(&c.qh, ());
        positioner.set_size(0, 10);
    });
    assert_error(
        &err,
        "xdg_positioner",
        xdg_positioner::Error::InvalidInput as u32,
    );
}

#[test]
fn popup_from_an_incomplete_positioner() {
    let (mut f, witness) = with_witness();
    let err = offend(&mut f, witness, |c| {
        let window = c.create_toplevel("parent", true);
        let positioner = c.wm_base().create_positioner(&c.qh, ());
        let surface = c.surface();
        let xdg_surface = c.wm_base().get_xdg_surface(&surface, &c.qh, ());
        let _popup = xdg_surface.get_popup(Some(&window.xdg_surface), &positioner, &c.qh, ());
    });
    assert_popup_error(
        &err,
        "xdg_wm_base",
        xdg_wm_base::Error::InvalidPositioner as u32,
    );
}
