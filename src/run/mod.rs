//! `wsbox run`: policy → spec → sandbox → exit status, in six phases, each
//! a function that hands the next what it needs:
//!
//! ```text
//! prepare    policy + command line ─▶ spec, grants, network plan, limits;
//!   │        runtime directory (and persistent home) and the cgroup made
//! display    event loop; Wayland socket + compositor (unless --display none);
//!   │        control socket; the a11y helper (where the host has an
//!   │        accessibility bus)
//! start      pid 1 + app (user-mode network attached before pid 1 goes on);
//!   │        helpers forked: host watcher, relays, host chooser (window
//!   │        mode), screenshot writer
//! confine    file broker forked; wsbox confines itself; threads from here on;
//!   │        the portal (the host's settings in window mode)
//!   │
//! serve      event loop, until pid 1 ends or wsbox stops the sandbox
//!   │
//! teardown   loop sources ─▶ directory emptied ─▶ broker removes it;
//!            pid 1 waited for; the cgroup read (OOM) and removed; exit status
//! ```
//!
//! The order is the point: every helper is forked while wsbox has a single
//! thread and before it confines itself (the confined wsbox can no longer
//! mount, open netlink sockets, run nft or make sockets); the Wayland
//! socket unlinks its own path while the runtime directory is still this
//! sandbox's; the broker removes the directory last, since the confined
//! wsbox may only empty it. A phase that fails leaves what the earlier ones
//! made to be dropped in that same order. Each phase keeps the reasons for
//! its own steps; this module runs them and must never do a step itself.

mod confine;
mod display;
mod hints;
mod prepare;
mod serve;
mod start;
mod state;
mod teardown;
mod x11;

use anyhow::Result;

use crate::cli::RunArgs;

/// Runs the sandbox and returns the exit status for wsbox.
pub fn run(args: RunArgs) -> Result<i32> {
    let plan = prepare::prepare(&args)?;
    let shown = display::display(plan)?;
    let started = start::start(shown)?;
    let confined = confine::confine(started)?;
    let ended = serve::serve(confined)?;
    teardown::teardown(ended)
}
