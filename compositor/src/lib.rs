//! The nested Wayland compositor of wsbox: one per sandbox, serving exactly one
//! listening socket, rendering with pixman, offering only the allowlisted
//! globals of [`globals`].
//!
//! The compositor never starts processes and never touches the sandbox: the
//! `wsbox` binary creates the socket, inserts the compositor into its event
//! loop, and meets the sandbox runtime there. Everything a client sends is
//! hostile input: handlers refuse or disconnect, they never panic.
//!
//! The modules, from the top; each uses only modules further down (no
//! import cycle: `scripts/check-structure.py` checks):
//! - `setup` creates the compositor with the allowlisted `globals`;
//!   `handlers` answer the protocol; `input` applies injected input and
//!   the host window's events (`input::host`); `clipboard::crossing`
//!   decides what crosses;
//! - `state`: the running compositor;
//! - `backend`: headless, or the host window (`backend::host`); it takes
//!   the `Core` and the `Config`, never the whole `State`;
//! - `render`: what a frame shows; `layout`: where windows go and which
//!   one has the focus; `marking`: wsbox's frames and their titles;
//! - `core_state` (the `Core`), `config`, the clipboard's settings and
//!   transfers, `limits`, `text`, `screenshot`.

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
pub mod responsive;
pub mod screenshot;
mod setup;
pub mod state;
pub mod stats;
#[cfg(test)]
mod tests;
mod text;
pub mod text_input;
mod toplevel;

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
