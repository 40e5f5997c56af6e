//! wsbox runs desktop applications confined: Linux namespaces, seccomp,
//! Landlock, no privileges, and a Wayland compositor of its own per
//! sandbox.
//!
//! This library is what the `wsbox` command and `wsbox session` are built
//! on, for a program that embeds wsbox (a desktop session, a panel, a test
//! harness):
//!
//! - [`RunOptions`] starts a sandbox. The sandbox is supervised by its own
//!   `wsbox run` process, because wsbox confines itself once the app has
//!   started; the caller's process stays as it was.
//! - [`Sandbox`] reaches a running sandbox by name through its control
//!   socket: its windows, a screenshot, input in headless mode, files
//!   granted while it runs, the portal's pending requests, stop.
//! - [`list`] lists the user's running sandboxes.
//!
//! ```no_run
//! use std::time::Duration;
//!
//! let mut running = wsbox::RunOptions::new(["gtk3-demo"])
//!     .headless("800x600")
//!     .start()?;
//! let window = running.sandbox().wait_for_window(Duration::from_secs(30))?;
//! println!("{} shows {:?}", running.sandbox().name(), window.title);
//! std::fs::write("shot.png", running.sandbox().screenshot()?)?;
//! running.stop()?;
//! # Ok::<(), anyhow::Error>(())
//! ```
//!
//! Errors are [`anyhow::Error`]s whose message names the problem, as the
//! command line prints them.

#![warn(missing_docs)]

mod client;
mod launch;

#[doc(hidden)]
pub mod command;

mod a11y;
mod audio;
mod cli;
mod confine;
mod control;
mod desktop;
mod etc_refs;
mod exit;
mod files;
mod helper;
mod identity;
mod instance;
mod limits;
mod manual;
mod net;
mod portal;
mod run;
mod screenshot;
mod session;
mod util;

pub use client::{list, Sandbox};
pub use control::InputAction as Input;
pub use files::live::GrantInfo as GrantedFile;
pub use instance::Info as SandboxInfo;
pub use launch::{RunOptions, Running};
pub use limits::cgroup::Version as CgroupVersion;
pub use limits::LimitsInfo;
pub use portal::notify::{Notice, Notices};
pub use portal::print::Printed;
pub use portal::request::{Filter, Kind as RequestKind, Pending as PendingRequest};
pub use wsbox_compositor::stats::Status;
pub use wsbox_compositor::WindowInfo as Window;
