//! Resource exhaustion and the per-client limits, and regression tests for
//! what the fuzzer found. Each case: the offender is cut off (or survives,
//! where the protocol allows what it did), a witness client still
//! roundtrips, and the compositor's memory stays bounded (the growth of this
//! process's RSS across the case; peak printed with `--nocapture`).

use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::UnixStream;

use wayland_client::protocol::{wl_shm, wl_subsurface};
use wayland_protocols::xdg::shell::client::{xdg_positioner, xdg_surface, xdg_toplevel};

use super::client::Client;
use super::fixture::{ClientId, Fixture, Outcome, BLUE, BTN_LEFT, GREEN, RED};
use super::fuzz::protocol::Protocols;
use super::fuzz::wire::{encode, header, RawClient, Val};
use crate::limits;

/// The most one case may grow this process's RSS.
const MAX_GROWTH_KIB: u64 = 96 * 1024;

fn status_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// Runs `case`, then checks the witness and the memory the case cost.
fn bounded(name: &str, case: impl FnOnce(&mut Fixture, ClientId)) {
    let _alone = super::HEAVY.lock().unwrap_or_else(|e| e.into_inner());
    let mut f = Fixture::new();
    let witness = f.add_client();
    f.map_window(witness, "witness", true, Some((40, 30)), BLUE);
    // The peak while the offender is at work, not what is left after it:
    // reset the process's high-water mark to its RSS now.
    std::fs::write("/proc/self/clear_refs", "5").expect("reset VmHWM (/proc/self/clear_refs)");
    let before = status_kib("VmRSS:");
    case(&mut f, witness);
    f.dispatch();
    f.assert_alive(witness);
    let after = status_kib("VmRSS:");
    let peak = status_kib("VmHWM:");
    let growth = peak.saturating_sub(before);
    eprintln!("exhaustion: {name}: RSS {before} -> {after} KiB, peak {peak} KiB");
    assert!(
        before > 0 && peak >= after,
        "{name}: no RSS figures ({before}, {peak})"
    );
    assert!(
        growth < MAX_GROWTH_KIB,
        "{name}: the compositor's peak was {growth} KiB above its RSS before"
    );
}

/// A raw client connected to the fixture.
fn raw(f: &mut Fixture, p: &Protocols) -> RawClient {
    let (server, client) = UnixStream::pair().expect("socketpair");
    f.state.insert_client(server).expect("insert");
    let mut c = RawClient::new(client, p);
    // The tests ask for the registry as id 2.
    let registry = p.index("wl_registry").expect("wl_registry");
    c.created(
        2,
        super::fuzz::wire::Obj {
            interface: registry,
            version: 1,
        },
    );
    c
}

fn protocols() -> Protocols {
    Protocols::load(&super::fuzz::protocols_dir())
}

/// Sends `bytes` with `fds`, pumping the compositor while the socket is full.
fn send(f: &mut Fixture, c: &mut RawClient, bytes: &[u8], fds: &[OwnedFd]) {
    for _ in 0..10_000 {
        if c.send(bytes, fds) {
            return;
        }
        f.dispatch();
    }
    panic!("the compositor stopped reading");
}

/// Pumps until `c` is cut off (it reads what the compositor sent, so it sees
/// the error), and returns the error.
fn until_cut_off(f: &mut Fixture, c: &mut RawClient, p: &Protocols) -> String {
    for _ in 0..1000 {
        f.dispatch();
        c.recv(p);
        // Gone for the compositor (a malformed message ends the connection
        // without an error event).
        let gone = f.state.client_count() == f.clients.iter().filter(|c| !c.is_dead()).count();
        if c.dead || gone {
            return c.error.clone().unwrap_or_default();
        }
    }
    panic!("the client was not cut off");
}

fn outcome_error(outcome: Outcome) -> String {
    match outcome {
        Outcome::ProtocolError(e) => e.message,
        other => panic!("expected a protocol error, got {other:?}"),
    }
}

fn sparse_memfd(len: u64) -> std::fs::File {
    let file = Client::memfd(4096, RED);
    file.set_len(len).expect("size the memfd");
    file
}

#[test]
fn a_4k_pool_claimed_as_2g_is_over_the_limit() {
    bounded("4 KiB pool claimed as 2 GiB", |f, _| {
        let c = f.add_client();
        let file = Client::memfd(4096, RED);
        let client = &f.clients[c];
        let _pool = client
            .shm()
            .create_pool(file.as_fd(), i32::MAX, &client.qh, ());
        let err = outcome_error(f.outcome(c));
        assert!(err.contains("exceeds the limit"), "{err}");
    });
}

#[test]
fn shm_bytes_per_client_are_capped_and_released() {
    bounded("shm bytes per client", |f, _| {
        let gib = 1 << 30;
        // Pools come and go: the bytes are released with them.
        let c = f.add_client();
        for _ in 0..4 {
            let file = sparse_memfd(gib as u64);
            let client = &f.clients[c];
            let pool = client.shm().create_pool(file.as_fd(), gib, &client.qh, ());
            pool.destroy();
            f.roundtrip(c);
        }
        // Held at once, they are not.
        let files: Vec<_> = (0..3).map(|_| sparse_memfd(gib as u64)).collect();
        let client = &f.clients[c];
        let _pools: Vec<_> = files
            .iter()
            .map(|file| client.shm().create_pool(file.as_fd(), gib, &client.qh, ()))
            .collect();
        let err = outcome_error(f.outcome(c));
        assert!(err.contains("bytes in wl_shm pools"), "{err}");
        assert!(limits::MAX_SHM_BYTES < 3 * gib as u64);
    });
}

#[test]
fn shm_bytes_per_sandbox_are_capped() {
    bounded("shm bytes per sandbox", |f, _| {
        // A MiB under each client's limit (the witness has a pool too).
        let max = (limits::MAX_SHM_BYTES - (1 << 20)) as i32;
        let clients = (limits::MAX_SANDBOX_SHM_BYTES / limits::MAX_SHM_BYTES) as usize;
        // Every client at its own limit, together at the sandbox's.
        let mut held = Vec::new();
        for _ in 0..clients {
            let c = f.add_client();
            let file = sparse_memfd(max as u64);
            let client = &f.clients[c];
            let pool = client.shm().create_pool(file.as_fd(), max, &client.qh, ());
            held.push((file, pool));
            f.roundtrip(c);
        }
        let c = f.add_client();
        let file = sparse_memfd(4 << 20);
        let client = &f.clients[c];
        let _pool = client
            .shm()
            .create_pool(file.as_fd(), 4 << 20, &client.qh, ());
        let err = outcome_error(f.outcome(c));
        assert!(err.contains("all the sandbox's clients"), "{err}");
    });
}

#[test]
fn pool_resized_to_zero_negative_larger_or_shrunk() {
    bounded("pool resizes", |f, _| {
        for size in [0, -1, i32::MIN, 1024, i32::MAX] {
            let c = f.add_client();
            let client = &f.clients[c];
            let (pool, _file) = client.pool(4096, RED);
            pool.resize(size);
            let err = outcome_error(f.outcome(c));
            assert!(!err.is_empty(), "resize to {size}");
        }
        // Growing within the file and the limits is fine.
        let c = f.add_client();
        let client = &f.clients[c];
        let (pool, file) = client.pool(4096, RED);
        file.set_len(8192).expect("grow");
        pool.resize(8192);
        let _buffer =
            pool.create_buffer(4096, 32, 32, 128, wl_shm::Format::Argb8888, &client.qh, ());
        assert!(matches!(f.outcome(c), Outcome::Alive));
    });
}

#[test]
fn ten_thousand_surfaces() {
    bounded("10k surfaces", |f, _| {
        let c = f.add_client();
        let client = &f.clients[c];
        let _surfaces: Vec<_> = (0..10_000).map(|_| client.surface()).collect();
        let err = outcome_error(f.outcome(c));
        assert!(
            err.contains(&format!("more than {} wl_surfaces", limits::MAX_SURFACES)),
            "{err}"
        );
    });
}

#[test]
fn too_many_objects() {
    let p = protocols();
    bounded("70k objects", |f, _| {
        let mut c = raw(f, &p);
        // wl_registry, then wl_compositor, then regions until cut off.
        let (bytes, _) = encode(1, 1, vec![Val::U32(2)]);
        send(f, &mut c, &bytes, &[]);
        f.dispatch();
        c.recv(&p);
        let (name, _, _) = c
            .globals
            .iter()
            .find(|g| g.1 == "wl_compositor")
            .cloned()
            .expect("wl_compositor");
        let (bytes, _) = encode(
            2,
            0,
            vec![
                Val::U32(name),
                Val::Str(Some(b"wl_compositor".to_vec())),
                Val::U32(4),
                Val::U32(3),
            ],
        );
        send(f, &mut c, &bytes, &[]);
        for id in 4..70_000 {
            let (bytes, _) = encode(3, 1, vec![Val::U32(id)]);
            send(f, &mut c, &bytes, &[]);
            if c.write_closed {
                break;
            }
        }
        let err = until_cut_off(f, &mut c, &p);
        assert!(
            err.contains(&format!("more than {} objects", limits::MAX_OBJECTS)),
            "{err}"
        );
    });
}

#[test]
fn a_client_that_never_reads_its_events() {
    let p = protocols();
    bounded("100k syncs never read", |f, _| {
        let mut c = raw(f, &p);
        let mut sent = 0;
        for id in 2..100_002u32 {
            let (bytes, _) = encode(1, 0, vec![Val::U32(id)]);
            if !c.send(&bytes, &[]) {
                f.dispatch();
                if f.state.client_count() == 1 {
                    break;
                }
                continue;
            }
            sent += 1;
        }
        f.dispatch();
        assert_eq!(
            f.state.client_count(),
            1,
            "the non-reader was not cut off after {sent} syncs"
        );
    });
}

#[test]
fn a_hundred_thousand_syncs_in_one_burst() {
    let p = protocols();
    bounded("100k syncs read", |f, _| {
        let mut c = raw(f, &p);
        // Callbacks come back done and are deleted, so ids are reused.
        let mut burst = Vec::new();
        for _ in 0..100_000 {
            burst.extend(encode(1, 0, vec![Val::U32(2)]).0);
        }
        // One id for all: each sync's callback is gone before the next
        // request is read, as the server handles them in order.
        for chunk in burst.chunks(4092 / 12 * 12) {
            send(f, &mut c, chunk, &[]);
            f.dispatch();
            c.recv(&p);
        }
        f.dispatch();
        c.recv(&p);
        assert!(!c.dead, "cut off: {:?}", c.error);
    });
}

#[test]
fn twenty_eight_fds_in_one_message_and_an_fd_flood() {
    let p = protocols();
    // The fds sent, by their name in /proc/self/fd (other tests run in
    // this process at the same time: a count of all fds would need slack).
    let flood_fds = || {
        std::fs::read_dir("/proc/self/fd")
            .map(|d| {
                d.filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
                    .filter(|l| l.to_string_lossy().contains("exhaustion-fd-flood"))
                    .count()
            })
            .unwrap_or(0)
    };
    bounded("28 fds per message, flooded", |f, _| {
        let mut c = raw(f, &p);
        let memfds = |n| -> Vec<OwnedFd> {
            (0..n)
                .map(|_| {
                    nix::sys::memfd::memfd_create(
                        c"exhaustion-fd-flood",
                        nix::sys::memfd::MFdFlags::MFD_CLOEXEC,
                    )
                    .expect("memfd")
                })
                .collect()
        };
        // 28 fds on a message that takes none: they stay pending.
        let (bytes, _) = encode(1, 0, vec![Val::U32(2)]);
        send(f, &mut c, &bytes, &memfds(28));
        f.dispatch();
        c.recv(&p);
        assert!(!c.dead, "{:?}", c.error);
        // And again until the pending fds are over the limit.
        for i in 0..20u32 {
            let (bytes, _) = encode(1, 0, vec![Val::U32(3 + i)]);
            send(f, &mut c, &bytes, &memfds(28));
            if c.write_closed {
                break;
            }
        }
        let err = until_cut_off(f, &mut c, &p);
        assert!(
            err.contains(&format!(
                "more than {} fds pending",
                limits::MAX_PENDING_FDS
            )),
            "{err}"
        );
    });
    // The compositor closed every one with the client.
    assert_eq!(flood_fds(), 0, "fds the client sent are still open");
}

#[test]
fn a_null_interface_in_bind_is_a_protocol_error() {
    // Found by the fuzzer: this panicked wayland-backend (unreachable!()).
    let p = protocols();
    bounded("null string in wl_registry.bind", |f, _| {
        let mut c = raw(f, &p);
        send(f, &mut c, &encode(1, 1, vec![Val::U32(2)]).0, &[]);
        let (bytes, _) = encode(
            2,
            0,
            vec![Val::U32(1), Val::Str(None), Val::U32(1), Val::U32(3)],
        );
        send(f, &mut c, &bytes, &[]);
        let err = until_cut_off(f, &mut c, &p);
        assert!(
            err.contains("null string as argument 1 of wl_registry.bind"),
            "{err}"
        );
    });
}

#[test]
fn negative_sizes_smithay_would_panic_on() {
    // Found by the fuzzer: each was a debug_assert in smithay's Size::new.
    bounded("negative sizes", |f, _| {
        let c = f.add_client();
        let window = f.map_window(c, "geometry", true, None, RED);
        window.xdg_surface.set_window_geometry(0, 0, -5, 10);
        let err = f.expect_protocol_error(c);
        assert_eq!(err.code, xdg_surface::Error::InvalidSize as u32, "{err:?}");

        let c = f.add_client();
        let window = f.map_window(c, "min", true, None, RED);
        window.toplevel.set_min_size(-1, 10);
        let err = f.expect_protocol_error(c);
        assert_eq!(err.code, xdg_toplevel::Error::InvalidSize as u32, "{err:?}");

        let c = f.add_client();
        let client = &f.clients[c];
        let positioner = client.wm_base().create_positioner(&client.qh, ());
        positioner.set_parent_size(-767_235_628, 32);
        let err = f.expect_protocol_error(c);
        assert_eq!(
            err.code,
            xdg_positioner::Error::InvalidInput as u32,
            "{err:?}"
        );

        // Empty damage and empty region rectangles are allowed and ignored.
        let c = f.add_client();
        let window = f.map_window(c, "damage", true, None, RED);
        window.surface.damage(0, 0, -10, 5);
        window.surface.damage_buffer(3, 3, 5, -1);
        let client = &f.clients[c];
        let region = client.compositor().create_region(&client.qh, ());
        region.add(0, 0, -19, 446);
        region.subtract(0, 0, 10, 0);
        window.surface.set_opaque_region(Some(&region));
        window.surface.commit();
        assert!(matches!(f.outcome(c), Outcome::Alive));
    });
}

#[test]
fn a_region_holds_a_bounded_number_of_rectangles() {
    bounded("wl_region rectangles", |f, _| {
        let c = f.add_client();
        let client = &f.clients[c];
        let region = client.compositor().create_region(&client.qh, ());
        for i in 0..2000 {
            region.add(i, i, 1, 1);
        }
        let err = outcome_error(f.outcome(c));
        assert!(err.contains("rectangles in one wl_region"), "{err}");
    });
    // Many regions, each under its own cap, against the client's budget.
    bounded("wl_region rectangles of many regions", |f, _| {
        let c = f.add_client();
        let client = &f.clients[c];
        let per_region = 1000;
        let regions = limits::MAX_REGION_RECTS_PER_CLIENT / per_region + 2;
        for r in 0..regions {
            let region = client.compositor().create_region(&client.qh, ());
            for i in 0..per_region {
                region.add(i as i32, r as i32, 1, 1);
            }
        }
        let err = outcome_error(f.outcome(c));
        assert!(
            err.contains(&format!(
                "more than {} rectangles in its wl_regions",
                limits::MAX_REGION_RECTS_PER_CLIENT
            )),
            "{err}"
        );
    });
    // Destroyed regions give their rectangles back.
    bounded("wl_region rectangles given back", |f, witness| {
        let c = f.add_client();
        for r in 0..(2 * limits::MAX_REGION_RECTS_PER_CLIENT / 1000) {
            let client = &f.clients[c];
            let region = client.compositor().create_region(&client.qh, ());
            for i in 0..1000 {
                region.add(i, r as i32, 1, 1);
            }
            region.destroy();
            f.roundtrip(c);
        }
        f.assert_alive(c);
        f.assert_alive(witness);
    });
}

#[test]
fn damage_never_committed_is_collapsed() {
    use smithay::wayland::compositor::{with_states, SurfaceAttributes};
    bounded("damage never committed", |f, _| {
        let c = f.add_client();
        let window = f.map_window(c, "damaged", true, Some((40, 30)), RED);
        for i in 0..20_000 {
            window.surface.damage_buffer(i % 97, i % 89, 1, 1);
            if i % 1000 == 999 {
                f.roundtrip(c);
            }
        }
        f.roundtrip(c);
        let pending: Vec<usize> = f
            .state
            .core
            .space
            .elements()
            .filter_map(|w| w.toplevel())
            .map(|t| {
                with_states(t.wl_surface(), |s| {
                    s.cached_state
                        .get::<SurfaceAttributes>()
                        .pending()
                        .damage
                        .len()
                })
            })
            .collect();
        assert!(
            pending.iter().all(|&n| n <= limits::MAX_DAMAGE_RECTS)
                && pending.iter().any(|&n| n > 0),
            "pending damage of the windows: {pending:?}"
        );
        // The commit that finally comes shows the buffer.
        window.surface.commit();
        f.roundtrip(c);
        f.assert_alive(c);
    });
}

#[test]
fn a_subsurface_placed_relative_to_itself() {
    // Found by the fuzzer: smithay's reorder inserted past the end.
    bounded("subsurface above itself", |f, _| {
        let c = f.add_client();
        let window = f.map_window(c, "parent", true, None, RED);
        let client = &f.clients[c];
        let child = client.surface();
        let sub = client
            .subcompositor()
            .get_subsurface(&child, &window.surface, &client.qh, ());
        sub.place_above(&child);
        let err = f.expect_protocol_error(c);
        assert_eq!(err.code, wl_subsurface::Error::BadSurface as u32, "{err:?}");
    });
}

#[test]
fn a_grab_owner_dying_mid_grab() {
    bounded("popup grab owner dies", |f, witness| {
        let c = f.add_client();
        let parent = f.map_window(c, "owner", true, None, RED);
        f.click_window("owner");
        let client = &f.clients[c];
        // The grab's serial: the keyboard enter the click caused (smithay
        // takes any recent serial of the seat).
        let serial = client.app.last_enter_serial().unwrap_or(0);
        let positioner = client.positioner(50, 30);
        let surface = client.surface();
        let xdg = client.wm_base().get_xdg_surface(&surface, &client.qh, ());
        let popup = xdg.get_popup(Some(&parent.xdg_surface), &positioner, &client.qh, ());
        popup.grab(client.seat.as_ref().expect("wl_seat"), serial);
        surface.commit();
        f.roundtrip(c);
        let client = &f.clients[c];
        if let Some(s) = client.last_configure(&xdg) {
            xdg.ack_configure(s);
            let buffer = client.buffer(50, 30, GREEN);
            client.attach_commit(&surface, Some(&buffer));
        }
        f.roundtrip(c);
        // The owner vanishes with its grab active.
        f.clients.truncate(c);
        f.dispatch();
        f.state.click(5, 5, BTN_LEFT).expect("click");
        f.state.type_text("after").expect("type");
        f.roundtrip(witness);
        assert_eq!(f.state.windows().len(), 1);
    });
}

#[test]
fn popups_whose_parents_loop() {
    // Found by the fuzzer: a loop of popup parents hung the compositor in
    // smithay's walk to the root popup.
    bounded("popup parent loop", |f, _| {
        let c = f.add_client();
        let client = &f.clients[c];
        let positioner = client.positioner(20, 20);
        let (a, b) = (client.surface(), client.surface());
        let xa = client.wm_base().get_xdg_surface(&a, &client.qh, ());
        let xb = client.wm_base().get_xdg_surface(&b, &client.qh, ());
        let _pa = xa.get_popup(Some(&xb), &positioner, &client.qh, ());
        let _pb = xb.get_popup(Some(&xa), &positioner, &client.qh, ());
        a.commit();
        b.commit();
        let err = f.expect_protocol_error(c);
        assert_eq!(
            err.code,
            wayland_protocols::xdg::shell::client::xdg_wm_base::Error::InvalidPopupParent as u32,
            "{err:?}"
        );
    });
}

#[test]
fn a_string_without_its_nul() {
    let p = protocols();
    bounded("string without NUL", |f, _| {
        let mut c = raw(f, &p);
        send(f, &mut c, &encode(1, 1, vec![Val::U32(2)]).0, &[]);
        let name = b"wl_compositor".to_vec();
        // The length counts no NUL, and the padding is not zero either.
        let (bytes, _) = encode(
            2,
            0,
            vec![
                Val::U32(1),
                Val::Raw {
                    len: name.len() as u32,
                    bytes: [name, vec![b'x'; 3]].concat(),
                },
                Val::U32(1),
                Val::U32(3),
            ],
        );
        send(f, &mut c, &bytes, &[]);
        until_cut_off(f, &mut c, &p);
    });
}

#[test]
fn a_string_running_past_the_end_of_its_message() {
    // Strings and arrays are read by the same code in wayland-backend; no
    // request of an offered global takes an array, so the string stands
    // for both.
    let p = protocols();
    bounded("string past the end", |f, _| {
        let mut c = raw(f, &p);
        send(f, &mut c, &encode(1, 1, vec![Val::U32(2)]).0, &[]);
        let (bytes, _) = encode(
            2,
            0,
            vec![
                Val::U32(1),
                Val::Raw {
                    len: 4000,
                    bytes: b"wl_compositor\0".to_vec(),
                },
                Val::U32(1),
                Val::U32(3),
            ],
        );
        send(f, &mut c, &bytes, &[]);
        until_cut_off(f, &mut c, &p);
    });
}

#[test]
fn a_destroyed_pool_counts_while_its_buffers_live() {
    bounded("pools kept mapped by buffers", |f, _| {
        // Half the limit each.
        let gib = (limits::MAX_SHM_BYTES / 2) as i32;
        // Pool, buffer, pool destroyed: the buffer keeps the mapping, so
        // the bytes stay counted...
        let c = f.add_client();
        let mut buffers = Vec::new();
        for _ in 0..2 {
            let file = sparse_memfd(gib as u64);
            let client = &f.clients[c];
            let pool = client.shm().create_pool(file.as_fd(), gib, &client.qh, ());
            buffers.push(pool.create_buffer(
                0,
                64,
                64,
                256,
                wl_shm::Format::Argb8888,
                &client.qh,
                (),
            ));
            pool.destroy();
            f.roundtrip(c);
        }
        // ... and released with the last buffer.
        for buffer in buffers.drain(..) {
            buffer.destroy();
        }
        f.roundtrip(c);
        let file = sparse_memfd(gib as u64);
        let client = &f.clients[c];
        let pool = client.shm().create_pool(file.as_fd(), gib, &client.qh, ());
        let _kept = pool.create_buffer(0, 64, 64, 256, wl_shm::Format::Argb8888, &client.qh, ());
        pool.destroy();
        f.roundtrip(c);
        let file = sparse_memfd(gib as u64);
        let client = &f.clients[c];
        let _pool = client.shm().create_pool(file.as_fd(), gib, &client.qh, ());
        f.roundtrip(c);
        // A third half while two are mapped: over the limit.
        let file = sparse_memfd(gib as u64);
        let client = &f.clients[c];
        let _pool = client.shm().create_pool(file.as_fd(), gib, &client.qh, ());
        let err = outcome_error(f.outcome(c));
        assert!(err.contains("bytes in wl_shm pools"), "{err}");
    });
}

/// Binds the global `interface` of `c` as `id` (the registry is 2).
fn bind(f: &mut Fixture, c: &mut RawClient, p: &Protocols, interface: &str, id: u32) {
    if c.globals.is_empty() {
        f.dispatch();
        c.recv(p);
    }
    let (name, _, version) = c
        .globals
        .iter()
        .find(|g| g.1 == interface)
        .cloned()
        .unwrap_or_else(|| panic!("no {interface}"));
    let (bytes, _) = encode(
        2,
        0,
        vec![
            Val::U32(name),
            Val::Str(Some(interface.as_bytes().to_vec())),
            Val::U32(version),
            Val::U32(id),
        ],
    );
    send(f, c, &bytes, &[]);
}

#[test]
fn a_null_string_where_the_protocol_forbids_it() {
    // wl_data_source.offer(null) and xdg_toplevel.set_title/set_app_id(null):
    // wayland-server's generated code unwrapped these and panicked the
    // compositor. Each is a protocol error now.
    let p = protocols();
    for (what, requests) in [
        ("wl_data_source.offer", vec![(4u32, 0u16)]),
        ("xdg_toplevel.set_title", vec![(7, 2)]),
        ("xdg_toplevel.set_app_id", vec![(7, 3)]),
    ] {
        bounded(what, |f, _| {
            let mut c = raw(f, &p);
            send(f, &mut c, &encode(1, 1, vec![Val::U32(2)]).0, &[]);
            if what.starts_with("wl_data_source") {
                bind(f, &mut c, &p, "wl_data_device_manager", 3);
                // create_data_source(4)
                send(f, &mut c, &encode(3, 0, vec![Val::U32(4)]).0, &[]);
            } else {
                bind(f, &mut c, &p, "wl_compositor", 3);
                bind(f, &mut c, &p, "xdg_wm_base", 4);
                // surface 5, xdg_surface 6, toplevel 7
                send(f, &mut c, &encode(3, 0, vec![Val::U32(5)]).0, &[]);
                send(
                    f,
                    &mut c,
                    &encode(4, 2, vec![Val::U32(6), Val::U32(5)]).0,
                    &[],
                );
                send(f, &mut c, &encode(6, 1, vec![Val::U32(7)]).0, &[]);
            }
            for (object, opcode) in requests {
                send(
                    f,
                    &mut c,
                    &encode(object, opcode, vec![Val::Str(None)]).0,
                    &[],
                );
            }
            let err = until_cut_off(f, &mut c, &p);
            assert!(
                err.contains(&format!("null string as argument 0 of {what}")),
                "{what}: {err}"
            );
        });
    }
}

#[test]
fn a_fixed_size_argument_past_the_end_of_its_message() {
    // wl_display.sync whose header counts no new_id: wayland-backend waited
    // for more data that the header says is not coming, and the connection
    // stalled for good.
    let p = protocols();
    bounded("argument past the end", |f, _| {
        let mut c = raw(f, &p);
        send(f, &mut c, &header(1, 0, 8, vec![]), &[]);
        until_cut_off(f, &mut c, &p);
    });
}

#[test]
fn connections_per_sandbox_are_capped() {
    let _alone = super::HEAVY.lock().unwrap_or_else(|e| e.into_inner());
    let mut f = Fixture::new();
    let witness = f.add_client();
    let mut held = Vec::new();
    // The fixture's clients count: fill up to the cap.
    while f.state.client_count() < limits::MAX_CLIENTS {
        let (server, client) = UnixStream::pair().expect("socketpair");
        f.state
            .insert_client(server)
            .expect("a connection under the cap");
        held.push(client);
    }
    let (server, client) = UnixStream::pair().expect("socketpair");
    let err = f
        .state
        .insert_client(server)
        .expect_err("a connection over the cap");
    assert!(
        err.to_string().contains(&format!(
            "more than {} Wayland connections",
            limits::MAX_CLIENTS
        )),
        "{err}"
    );
    // Refused means closed: the client reads EOF.
    let mut buf = [0u8; 8];
    assert_eq!(std::io::Read::read(&mut &client, &mut buf).ok(), Some(0));
    // One leaves, another may come.
    held.pop();
    f.dispatch();
    f.dispatch();
    assert!(f.state.client_count() < limits::MAX_CLIENTS);
    let (server, _client) = UnixStream::pair().expect("socketpair");
    f.state
        .insert_client(server)
        .expect("a connection after one left");
    f.assert_alive(witness);
}

#[test]
fn activation_tokens_are_pruned_and_capped() {
    use wayland_protocols::xdg::activation::v1::client::xdg_activation_v1::XdgActivationV1;
    // The focused client may mint any number of valid tokens with one
    // serial; smithay keeps each until it is used.
    bounded("activation tokens", |f, _| {
        let c = f.add_client();
        let window = f.map_window(c, "tokens", true, Some((40, 30)), RED);
        f.roundtrip(c);
        let client = &f.clients[c];
        let serial = client.app.last_enter_serial().expect("keyboard focus");
        let seat = client.seat.clone().expect("seat");
        let activation: XdgActivationV1 = client.bind();
        for _ in 0..1000 {
            let token = activation.get_activation_token(&client.qh, ());
            token.set_serial(serial, &seat);
            token.set_surface(&window.surface);
            token.commit();
            token.destroy();
        }
        f.roundtrip(c);
        let kept = f.state.core.xdg_activation_state.tokens().count();
        assert!(
            kept > 0 && kept <= limits::MAX_ACTIVATION_TOKENS,
            "{kept} tokens kept"
        );
        f.assert_alive(c);
    });
}

#[test]
fn server_created_objects_are_capped() {
    // Every selection set while a client is focused makes a wl_data_offer
    // for it; one that never destroys them grew its object map for good.
    let max = limits::MAX_SERVER_OBJECTS;
    bounded("selection offers never destroyed", |f, _| {
        let c = f.add_client();
        f.map_window(c, "offers", true, Some((40, 30)), RED);
        f.click_window("offers");
        f.roundtrip(c);
        let serial = f.clients[c].app.last_enter_serial().expect("focus");
        let mut previous = None;
        for i in 0..max + 1000 {
            let client = &f.clients[c];
            let source = client.data_source("text/plain", None);
            client.data_device().set_selection(Some(&source), serial);
            if let Some(p) = previous.replace(source) {
                p.destroy();
            }
            if i % 1000 == 999 && i < max - 1000 {
                f.roundtrip(c);
            }
        }
        let err = outcome_error(f.outcome(c));
        assert!(
            err.contains(&format!("more than {max} server-created objects")),
            "{err}"
        );
    });
}
