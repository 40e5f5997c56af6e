//! The state of `wsbox run` from `display` to `teardown`: [`Run`], what
//! the event loop's sources work on, and [`RuntimeDir`], which holds the
//! loop together with the directory its sources live in, in the order they
//! must go. Sources record what happened, stop the sandbox and stop the
//! loop; none may exit wsbox or tear anything down: `teardown` does, in
//! order.

use nix::unistd::Pid;
use wsbox_compositor::reexports::calloop::timer::{TimeoutAction, Timer};
use wsbox_compositor::reexports::calloop::{EventLoop, LoopHandle, LoopSignal};
use wsbox_compositor::State;
use wsbox_sandbox::process::{kill_sandbox, terminate, Sandbox, STOP_GRACE};
use wsbox_sandbox::Outcome;

use crate::files::broker::BrokerEnd;
use crate::files::live::Live;
use crate::instance::Instance;

/// wsbox's runtime directory and the broker that removes it, with the event
/// loop whose sources live in it: however `wsbox run` ends, the sources go
/// first (the Wayland socket unlinks its own path while the directory is
/// still this sandbox's; they live as long as any handle of the loop),
/// then wsbox empties the directory, then the broker removes it (the
/// confined wsbox may not). Fields drop in this order.
pub struct RuntimeDir {
    pub event_loop: EventLoop<'static, Run>,
    pub handle: LoopHandle<'static, Run>,
    pub instance: Instance,
    pub broker: BrokerEnd,
}

/// The state of `wsbox run`'s event loop.
pub struct Run {
    pub compositor: Option<State>,
    /// Files granted to the running sandbox (`wsbox add-file` and friends).
    pub files: Live,
    /// pid 1 of the sandbox.
    pub sandbox: Pid,
    pub process: Option<Sandbox>,
    /// pid 1 is ending: its outcome is collected after wsbox's cleanup.
    pub ending: bool,
    pub outcome: Option<Outcome>,
    pub timed_out: bool,
    pub stopping: bool,
    /// The user closed the window; the app was asked to close.
    pub closing: bool,
    pub host_gone: bool,
    pub failure: Option<String>,
    pub signal: LoopSignal,
    pub handle: LoopHandle<'static, Run>,
}

impl Run {
    /// Asks the app to stop, and kills the sandbox if it has not after the
    /// grace period.
    pub fn stop(&mut self, timed_out: bool) {
        self.timed_out |= timed_out;
        if self.stopping {
            return;
        }
        self.stopping = true;
        if let Some(compositor) = self.compositor.as_mut() {
            compositor.close_all();
        }
        terminate(self.sandbox);
        let _ =
            self.handle
                .insert_source(Timer::from_duration(STOP_GRACE), |_, _, run: &mut Run| {
                    if run.outcome.is_none() {
                        kill_sandbox(run.sandbox);
                    }
                    TimeoutAction::Drop
                });
    }
}

impl Run {
    /// The user closed the host window: the app was asked to close (by the
    /// compositor); it is stopped if it has not exited after the grace period.
    fn close_requested(&mut self) {
        if self.closing || self.stopping {
            return;
        }
        self.closing = true;
        let _ =
            self.handle
                .insert_source(Timer::from_duration(STOP_GRACE), |_, _, run: &mut Run| {
                    if run.outcome.is_none() {
                        run.stop(false);
                    }
                    TimeoutAction::Drop
                });
    }

    /// Applies what the host sent; false once the host is gone.
    pub fn dispatch_host(&mut self) -> bool {
        let Some(compositor) = self.compositor.as_mut() else {
            return false;
        };
        if self.host_gone {
            return false;
        }
        match compositor.dispatch_host() {
            Ok(status) => {
                if status.close_requested {
                    self.close_requested();
                }
                true
            }
            Err(e) => {
                self.host_gone = true;
                self.host_lost(e);
                false
            }
        }
    }

    /// The host compositor is gone: the sandbox stops, wsbox exits with
    /// [`EXIT_WSBOX_ERROR`](crate::exit::EXIT_WSBOX_ERROR).
    fn host_lost(&mut self, error: wsbox_compositor::HostError) {
        if self.failure.is_none() {
            self.failure = Some(error.to_string());
        }
        self.stop(false);
    }
}
