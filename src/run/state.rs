//! The state of `wsbox run` from `display` to `teardown`: [`Run`], what
//! the event loop's sources work on, and [`RuntimeDir`], which holds the
//! loop together with the directory its sources live in, in the order they
//! must go. Sources record what happened, stop the sandbox and stop the
//! loop; none may exit wsbox or tear anything down: `teardown` does, in
//! order.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use nix::unistd::Pid;
use wsbox_compositor::reexports::calloop::timer::{TimeoutAction, Timer};
use wsbox_compositor::reexports::calloop::{EventLoop, LoopHandle, LoopSignal, PostAction};
use wsbox_compositor::State;
use wsbox_sandbox::process::{kill_sandbox, terminate, Sandbox, STOP_GRACE};
use wsbox_sandbox::Outcome;

use crate::files::broker::BrokerEnd;
use crate::files::live::Live;
use crate::instance::Instance;
use crate::portal::host::{Answer, HostChooser};
use crate::screenshot::ScreenshotWriter;

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
    /// The sandbox's cgroup: removed once pid 1 has ended.
    pub cgroup: Option<crate::limits::cgroup::Cgroup>,
}

/// The state of `wsbox run`'s event loop.
pub struct Run {
    pub compositor: Option<State>,
    /// Files granted to the running sandbox (`wsbox add-file` and friends).
    pub files: Live,
    /// The portal on the sandbox's bus, if it has one.
    pub portal: Option<crate::portal::Portal>,
    /// Window mode: the helper that shows the app's file dialogs on the
    /// host (src/portal/host.rs).
    pub host_chooser: Option<HostChooser>,
    /// The user was told that the host has no file chooser portal: once.
    pub told_no_portal: bool,
    /// pid 1 of the sandbox.
    pub sandbox: Pid,
    pub process: Option<Sandbox>,
    /// pid 1 is ending: its outcome is collected after wsbox's cleanup.
    pub ending: bool,
    pub outcome: Option<Outcome>,
    pub timed_out: bool,
    /// The app was asked to stop; `terminating` once it got SIGTERM.
    pub stopping: bool,
    pub terminating: bool,
    /// The user closed the window; the app was asked to close.
    pub closing: bool,
    /// The app is being pinged while wsbox waits for it to close.
    pub pinging: bool,
    /// Since when the app, asked to close, has had no window left.
    pub windowless_since: Option<Instant>,
    pub host_gone: bool,
    pub failure: Option<String>,
    /// How long the app has to exit after `wsbox stop` and after the
    /// timeout (the policy's `[lifecycle]`, or the command line's).
    pub grace: Duration,
    pub timeout_grace: Duration,
    /// `--screenshot`'s writer and file, until the timeout writes it; an
    /// app that ends first leaves its last frame there.
    pub screenshot: Option<(ScreenshotWriter, PathBuf)>,
    /// The program's file on the host (display modes), for the X11 hint.
    pub program_file: Option<std::fs::File>,
    pub signal: LoopSignal,
    pub handle: LoopHandle<'static, Run>,
}

/// Why the sandbox is stopped.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Stop {
    /// `--timeout` ran out: the app has the timeout's grace to close.
    Timeout,
    /// `wsbox stop`: the app has `grace` (else the sandbox's) to close, or
    /// none with `force`.
    Asked {
        grace: Option<Duration>,
        force: bool,
    },
    /// wsbox cannot go on (the host is gone, a watch failed): no grace.
    Failure,
}

/// How long a failure of the portal's bus waits for pid 1's end to
/// explain it ([`Run::portal_event`]).
const BUS_VERDICT: Duration = Duration::from_millis(300);

/// How often an app wsbox waits for is pinged.
const PING_EVERY: Duration = Duration::from_secs(1);

impl Run {
    /// Asks the app's windows to close; once the grace period is over (at
    /// once without a window to ask), the app gets SIGTERM, and SIGKILL
    /// [`STOP_GRACE`] later. A second stop may shorten the wait, never
    /// lengthen it.
    pub fn stop(&mut self, how: Stop) {
        self.timed_out |= how == Stop::Timeout;
        let grace = match how {
            Stop::Timeout => self.timeout_grace,
            Stop::Asked { force: true, .. } | Stop::Failure => Duration::ZERO,
            Stop::Asked { grace, .. } => grace.unwrap_or(self.grace),
        };
        let has_windows = self
            .compositor
            .as_ref()
            .is_some_and(|c| !c.windows().is_empty());
        if !self.stopping {
            self.stopping = true;
            if let Some(compositor) = self.compositor.as_mut() {
                compositor.set_ending();
                compositor.close_all();
            }
        }
        if grace.is_zero() || !has_windows {
            self.terminate();
            return;
        }
        self.watch_responsiveness();
        let _ =
            self.handle
                .insert_source(Timer::from_duration(grace), move |_, _, run: &mut Run| {
                    if run.outcome.is_none() && !run.terminating {
                        tracing::info!(?grace, "the app did not exit within its grace period");
                        run.terminate();
                    }
                    TimeoutAction::Drop
                });
    }

    /// SIGTERM to the app now, SIGKILL after [`STOP_GRACE`].
    fn terminate(&mut self) {
        if self.terminating {
            return;
        }
        self.terminating = true;
        terminate(self.sandbox);
        let _ =
            self.handle
                .insert_source(Timer::from_duration(STOP_GRACE), |_, _, run: &mut Run| {
                    if run.outcome.is_none() {
                        tracing::info!("the app did not exit after SIGTERM: killing it");
                        kill_sandbox(run.sandbox);
                    }
                    TimeoutAction::Drop
                });
    }

    /// While wsbox waits for the app to close: pings it every second, shows
    /// in the marking whether it answers, and stops an app that was asked
    /// to close from its window and has had none left for the grace period.
    fn watch_responsiveness(&mut self) {
        if self.pinging {
            return;
        }
        self.pinging = true;
        let _ = self
            .handle
            .insert_source(Timer::immediate(), |_, _, run: &mut Run| {
                if run.outcome.is_some() || run.terminating {
                    return TimeoutAction::Drop;
                }
                let Some(compositor) = run.compositor.as_mut() else {
                    return TimeoutAction::Drop;
                };
                let now = Instant::now();
                compositor.ping_clients(now);
                if compositor.windows().is_empty() {
                    let since = *run.windowless_since.get_or_insert(now);
                    if run.closing && !run.stopping && now - since >= run.grace {
                        // Its windows are gone, the app lingers.
                        run.stop(Stop::Asked {
                            grace: None,
                            force: true,
                        });
                        return TimeoutAction::Drop;
                    }
                } else {
                    run.windowless_since = None;
                }
                TimeoutAction::ToDuration(PING_EVERY)
            });
    }
}

impl Run {
    /// A portal request came or went: in window mode the host's dialog
    /// opens or closes; in headless mode the user answers with `wsbox
    /// choose`.
    pub fn portal_event(&mut self, event: crate::portal::server::Event) {
        use crate::portal::server::Event;
        let Some(portal) = self.portal.as_ref() else {
            return;
        };
        match event {
            Event::Opened(id) => {
                let Some(pending) = portal.pending(id) else {
                    return;
                };
                let shown = format!("{} {:?}", pending.kind.name(), pending.title);
                let Some(chooser) = self.host_chooser.as_mut() else {
                    tracing::info!(id, request = %shown, "the app asks for a file (wsbox requests, wsbox choose)");
                    return;
                };
                tracing::info!(id, request = %shown, "the app asks for a file: the host's dialog shows it");
                let parent = self
                    .compositor
                    .as_ref()
                    .map(State::parent_window)
                    .unwrap_or_default();
                if let Err(why) = chooser.open(&pending, &parent) {
                    portal.fail(id, &why);
                }
            }
            Event::Failed(why) => {
                // The daemon goes when pid 1 does: a bus lost because the
                // app has already ended is no failure. pid 1's end reaches
                // the loop first or at the same time, so the verdict waits
                // a moment for it.
                let _ = self.handle.insert_source(
                    Timer::from_duration(BUS_VERDICT),
                    move |_, _, run: &mut Run| {
                        if run.ending || run.outcome.is_some() {
                            tracing::debug!(%why, "the bus went with the sandbox");
                        } else {
                            if run.failure.is_none() {
                                run.failure = Some(why.clone());
                            }
                            run.stop(Stop::Failure);
                        }
                        TimeoutAction::Drop
                    },
                );
            }
            Event::Closed(id) => {
                tracing::info!(id, "the app closed its file request");
                if let Some(chooser) = self.host_chooser.as_mut() {
                    chooser.close(id);
                }
            }
        }
    }

    /// What the host chooser answered: the user's choice is granted (on a
    /// thread of its own: documents take long) and answered, a cancel or a
    /// failure answered at once.
    pub fn host_answers(&mut self) -> PostAction {
        loop {
            let Some(chooser) = self.host_chooser.as_mut() else {
                return PostAction::Remove;
            };
            match chooser.recv() {
                Ok(None) => return PostAction::Continue,
                Ok(Some((answer, fds))) => self.host_answer(answer, fds),
                Err(e) if e.kind() == std::io::ErrorKind::InvalidData => {
                    tracing::warn!(%e, "an unreadable answer from the host chooser");
                }
                Err(e) => {
                    // Every waiting request would wait for ever.
                    eprintln!("wsbox: the host chooser ended ({e}); the app's file dialogs fail from now on");
                    if let Some(portal) = self.portal.as_ref() {
                        for pending in portal.requests() {
                            portal.answer_other(pending.id);
                        }
                    }
                    return PostAction::Remove;
                }
            }
        }
    }

    fn host_answer(&mut self, answer: Answer, fds: Vec<std::os::fd::OwnedFd>) {
        let Some(portal) = self.portal.as_ref() else {
            return;
        };
        let choice = match answer {
            Answer::Settings(_) => {
                tracing::debug!("the host's settings came too late");
                return;
            }
            Answer::Chosen { id, paths, dir } => crate::portal::Choice {
                id,
                paths,
                dir,
                cancel: false,
            },
            Answer::Cancelled { id } => crate::portal::Choice {
                id,
                paths: Vec::new(),
                dir: false,
                cancel: true,
            },
            Answer::Failed { id, why, no_portal } => {
                if no_portal && !self.told_no_portal {
                    self.told_no_portal = true;
                    eprintln!(
                        "wsbox: the host has no file chooser portal ({why}); the app's dialog was \
                         answered \"other\""
                    );
                    portal.answer_other(id);
                } else if no_portal {
                    tracing::info!(
                        id,
                        "no host file chooser portal ({why}): answered \"other\""
                    );
                    portal.answer_other(id);
                } else {
                    portal.fail(id, &why);
                }
                return;
            }
        };
        let id = choice.id;
        match portal.choose(&mut self.files, choice, fds) {
            Ok(job) => {
                let spawned = std::thread::Builder::new()
                    .name("wsbox-choose".into())
                    .spawn(move || {
                        if let Err(e) = job() {
                            tracing::warn!(id, "the host's choice was not granted: {e:#}");
                        }
                    });
                if let Err(e) = spawned {
                    tracing::warn!(%e, "failed to start a thread for a choice");
                }
            }
            // Not answered yet when the choice does not fit the request.
            Err(e) => portal.fail(id, &format!("{e:#}")),
        }
    }

    /// The user closed the host window: the compositor asked the app's
    /// windows to close. wsbox waits as long as the app answers pings (a
    /// "save changes?" dialog keeps it running); a second close of an app
    /// that does not answer stops it (SIGTERM, then SIGKILL).
    fn close_requested(&mut self) {
        if self.stopping {
            return;
        }
        if !self.closing {
            self.closing = true;
            self.watch_responsiveness();
            return;
        }
        if self.compositor.as_ref().is_some_and(State::not_responding) {
            tracing::info!("the app does not respond and was closed again: stopping it");
            self.stop(Stop::Asked {
                grace: None,
                force: true,
            });
        }
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
        self.stop(Stop::Failure);
    }
}
