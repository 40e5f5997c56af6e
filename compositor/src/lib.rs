//! The nested Wayland compositor of wsbox: one per sandbox, serving exactly one
//! listening socket, rendering with pixman, offering only the allowlisted
//! globals of [`globals`].
//!
//! The compositor never starts processes and never touches the sandbox: the
//! `wsbox` binary creates the socket, inserts the compositor into its event
//! loop, and meets the sandbox runtime there. Everything a client sends is
//! hostile input: handlers refuse or disconnect, they never panic.

pub mod backend;
pub mod clipboard;
pub mod config;
pub mod core_state;
pub mod globals;
mod handlers;
pub mod input;
mod layout;
pub mod limits;
mod marking;
mod render;
pub mod screenshot;
mod setup;
pub mod state;
#[cfg(test)]
mod tests;
mod text;

pub use backend::host::Error as HostError;
pub use config::{Config, KeyboardConfig};
pub use state::{State, WindowInfo};

/// The crates a user of this one needs to drive it.
pub mod reexports {
    pub use smithay::reexports::{calloop, wayland_server};
}

/// Loads what the compositor would otherwise read from disk on first use
/// (the title font), so that wsbox can confine itself to its runtime
/// directory afterwards.
pub fn preload_assets() {
    let _ = text::font();
}
