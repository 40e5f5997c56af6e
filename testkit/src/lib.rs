//! wsbox's end-to-end test kit, for the test files under tests/ and for
//! examples/bench.rs: one place for what they all need, so that it cannot
//! drift apart between them.
//!
//! - [`run`]: running wsbox and collecting its output ([`Running`],
//!   [`Out`], [`output`]);
//! - [`mod@poll`]: waiting for a state, never for a time;
//! - [`scratch`] and [`bins`]: scratch directories, unique names, the
//!   binaries under test and copies every user can run;
//! - [`skip`]: the loud skip that fails under CI (`CI=true` or
//!   `WSBOX_MUST_WORK=1`);
//! - [`user`]: the test user and [`as_root_and_user!`];
//! - [`process`]: long-lived helpers and what /proc says;
//! - [`sandbox`]: a running sandbox driven from outside (its windows,
//!   `wsbox input`, `wsbox stop`);
//! - [`sway`], [`weston`], [`input`]: the host sessions for window mode
//!   and input devices on them; [`hostbus`]: a host session bus with the
//!   desktop portal and a test backend;
//! - [`image`] and [`frame`]: screenshots, and what wsbox's frame looks
//!   like on them.
//!
//! Its programs under src/bin (bench-client, clip-client, demo-client,
//! hostile-client, wsbox-probe) run inside sandboxes and on the hosts;
//! [`client`] is what the Wayland ones share.
//! Nothing here is part of wsbox: it may panic freely, and it never
//! changes what wsbox does.

pub mod bins;
pub mod client;
pub mod frame;
pub mod hostbus;
pub mod image;
pub mod input;
pub mod pdf;
pub mod poll;
pub mod process;
pub mod pulse;
pub mod run;
pub mod sandbox;
pub mod scratch;
pub mod skip;
pub mod sway;
pub mod user;
pub mod weston;

pub use bins::{built, shared_copy, shared_dir, target_dir, wsbox_exe, BUILD};
pub use hostbus::HostBus;
pub use image::{near, near_by, Image};
pub use input::{monotonic_ns, VirtualKeyboard, VirtualPointer};
pub use poll::{poll, poll_every, wait_for};
pub use process::{
    children, comm, listening, marked_processes, runs_below, status_field, tree, Log, Process,
};
pub use run::{output, spawn, wsbox_command, Out, Running, MARK_VAR};
pub use scratch::{
    make_dir, next, root_dir, scratch_for, scratch_in, unique_mark, unique_name, TempDir,
};
pub use skip::{
    find_program, have_programs, must_work, ready_as_root, sandboxes_as_root, skip, SANDBOX_PATH,
};
pub use sway::{Sway, SwayWindow};
pub use user::{as_user, egid, euid, lookup_user, test_user, test_user_name, Who};
pub use weston::{Weston, WestonWindow};
