//! Backends: where the sandbox's output goes. Headless renders into memory;
//! the window backend (a client of the host compositor) comes next and will
//! reuse the same rendering.

mod headless;

pub use headless::Headless;
