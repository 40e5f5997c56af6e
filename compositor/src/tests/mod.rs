//! In-process compositor tests: wayland-client clients over socketpairs
//! against a headless [`crate::State`] in the same thread (niri's fixture
//! pattern). They check what a sandboxed app can see and do through the
//! protocol alone: globals, commits to pixels, focus, the clipboard, and that
//! misbehaviour disconnects only the offender. They never touch the host:
//! window mode runs against a host that never answers, and the tests play
//! the host by feeding its events (`host.rs`).

mod client;
mod fixture;

mod clipboard;
mod commits;
mod exhaustion;
mod focus;
mod frames;
mod fuzz;
mod globals;
mod host;
mod hostile;
mod protocol_errors;
mod responsive;

/// Held by the tests that measure this process's memory and by the fuzzer,
/// so that one does not count the other's allocations.
pub static HEAVY: std::sync::Mutex<()> = std::sync::Mutex::new(());
