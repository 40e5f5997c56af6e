//! The `serve` phase of `wsbox run`: the event loop runs, with the sources
//! the phases before put in it, until pid 1 ends or wsbox stops the
//! sandbox (`wsbox stop`, the timeout, a closed window, a lost host, a
//! failed watch of the host's addresses). wsbox is confined by now: nothing
//! here may need more than `src/confine.rs` keeps.

use anyhow::{Context, Result};
use wsbox_sandbox::Prepared;

use wsbox_compositor::State;

use crate::files::live::Live;
use crate::net::relays::Relays;
use crate::net::usernet::UserNet;
use crate::run::confine::Confined;
use crate::run::state::{Run, RuntimeDir};

/// What `serve` hands on: the loop's state once it ended, and what
/// `teardown` ends.
pub struct Ended {
    pub run: Run,
    pub runtime: RuntimeDir,
    pub relays: Option<Relays>,
    pub a11y: Option<crate::a11y::A11y>,
    pub audio: Option<crate::audio::Audio>,
    pub user_net: Option<UserNet>,
    pub prepared: Prepared,
}

impl Run {
    /// The app ended before `--timeout`: `--screenshot` gets its last frame,
    /// and the user is told, or told why there is none.
    fn screenshot_after_the_end(&mut self) {
        let Some((writer, path)) = self.screenshot.take() else {
            return;
        };
        let shown = path.display();
        match self.compositor.as_mut().and_then(State::last_frame_png) {
            Some(png) => match writer.write(&png) {
                Ok(()) => eprintln!(
                    "wsbox: the app ended before --timeout; {shown} holds the last frame it showed"
                ),
                Err(e) => self.failure = Some(e),
            },
            None => eprintln!(
                "wsbox: the app ended before --timeout without a frame to show (no window, or a \
                 host window's output, which wsbox does not keep); nothing was written to {shown}"
            ),
        }
    }
}

/// Runs the event loop until the sandbox ends or is stopped.
pub fn serve(mut confined: Confined) -> Result<Ended> {
    let mut run = Run {
        compositor: confined.compositor,
        files: Live::new(
            Some(confined.broker),
            confined.documents.map(std::sync::Arc::new),
            confined.grants,
        ),
        portal: confined.portal,
        host_chooser: confined.host_chooser,
        told_no_portal: false,
        sandbox: confined.pid1,
        process: Some(confined.sandbox),
        ending: false,
        outcome: None,
        timed_out: false,
        stopping: false,
        terminating: false,
        closing: false,
        pinging: false,
        windowless_since: None,
        host_gone: false,
        failure: None,
        grace: confined.graces.0,
        timeout_grace: confined.graces.1,
        screenshot: confined.screenshot,
        program_file: confined.program_file,
        signal: confined.signal,
        handle: confined.runtime.handle.clone(),
    };
    confined
        .runtime
        .event_loop
        .run(None, &mut run, |run| {
            // Answers go out at once, not with the next frame.
            if let Some(compositor) = run.compositor.as_mut() {
                compositor.flush_clients();
                // In window mode: host events queued meanwhile, then a
                // frame for the host if one is due.
                run.dispatch_host();
            }
        })
        .context("the event loop failed")?;
    run.screenshot_after_the_end();
    Ok(Ended {
        run,
        runtime: confined.runtime,
        relays: confined.relays,
        a11y: confined.a11y,
        audio: confined.audio,
        user_net: confined.user_net,
        prepared: confined.prepared,
    })
}
