//! The `display` phase of `wsbox run`: the event loop, and the sockets
//! wsbox serves in it: the Wayland socket with the compositor behind it
//! (unless `--display none`; in a window of the host's session with
//! `--display window`; a headless one is built in `start`, beside pid 1),
//! and the control socket. The Wayland socket is the
//! only thing of the display the sandbox gets: nothing here may bind it
//! anything else of the host's session but, where the host has one, its
//! accessibility bus through the filtering proxy (src/a11y/mod.rs).

use std::os::fd::AsFd;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result};
use wsbox_compositor::reexports::calloop::generic::Generic;
use wsbox_compositor::reexports::calloop::timer::{TimeoutAction, Timer};
use wsbox_compositor::reexports::calloop::{
    EventLoop, Interest, LoopHandle, LoopSignal, Mode, PostAction,
};
use wsbox_compositor::reexports::wayland_server::{Display, DisplayHandle, ListeningSocket};
use wsbox_compositor::{Config, State};
use wsbox_sandbox::plan::{add_env_defaults, SANDBOX_RUNTIME_DIR, WAYLAND_TOOLKIT_ENV};
use wsbox_sandbox::{BindSpec, HostIds};

use crate::control;
use crate::run::prepare::Plan;
use crate::run::state::{Run, Stop};

/// The event loop and what serves in it, from `display` on.
pub struct Loop {
    /// None with `--display none`, and until [`Loop::build_compositor`] in
    /// headless mode.
    pub compositor: Option<State>,
    /// A headless compositor still to build: its display, and its
    /// configuration. Built once the sandbox's pid 1 runs, so that
    /// compiling the keymap and making the output overlap with pid 1's
    /// work; no client is served before the loop runs.
    pub pending: Option<(DisplayHandle, Config)>,
    pub signal: LoopSignal,
    pub handle: LoopHandle<'static, Run>,
    /// Its sources (the sockets among them) live as long as any handle of
    /// the loop does.
    pub event_loop: EventLoop<'static, Run>,
}

/// What `display` hands on.
pub struct Shown {
    pub events: Loop,
    /// The plan, its spec holding the Wayland socket now. Last: when a
    /// later phase fails, the sockets unlink their paths in the runtime
    /// directory before it is removed.
    pub plan: Plan,
}

/// Makes the event loop and serves the Wayland and control sockets in it.
pub fn display(mut plan: Plan) -> Result<Shown> {
    let event_loop: EventLoop<Run> =
        EventLoop::try_new().context("failed to create the event loop")?;
    let handle = event_loop.handle();
    let signal = event_loop.get_signal();
    // Asked by a helper while the compositor starts (src/a11y/mod.rs).
    let a11y = crate::a11y::ask(plan.a11y_wanted, &plan.instance.dir);
    let (mut compositor, pending) = match plan.compositor.take() {
        Some(config) => match wayland(&mut plan, config, &handle, &signal)? {
            Served::Now(state) => (Some(*state), None),
            Served::Later(display, config) => (None, Some((display, config))),
        },
        None => (None, None),
    };
    if plan.x11_wanted && (compositor.is_some() || pending.is_some()) {
        let mut xwayland = super::x11::make(&plan.instance.dir, &mut plan.spec, &handle)?;
        if let Some(compositor) = compositor.as_mut() {
            xwayland.attach(compositor)?;
        }
        plan.xwayland = Some(xwayland);
    }

    if let Some(portal) = &plan.portal {
        let bus =
            crate::portal::bus::make(&plan.instance.dir, &mut plan.spec, portal.net.available)?;
        plan.bus = Some(bus);
    }
    plan.a11y = crate::a11y::finish(a11y, &plan.instance.dir, &mut plan.spec, &mut plan.warnings);
    plan.audio = crate::audio::start(
        &plan.audio_grant,
        &plan.instance.dir,
        &mut plan.spec,
        &plan.name,
        &mut plan.warnings,
    )?;
    if let Some(audio) = &plan.audio {
        watch_audio(&handle, audio)?;
    }
    let control = control::listen(&plan.instance.dir)?;
    handle
        .insert_source(
            Generic::new(control, Interest::READ, Mode::Level),
            |_, listener, run: &mut Run| {
                let portal = run.portal.as_ref();
                let after = match run.compositor.as_mut() {
                    Some(compositor) => {
                        control::accept_all(listener, compositor, &mut run.files, portal)
                    }
                    None => control::refuse_all(listener, &mut run.files, portal),
                };
                if let control::After::Stop { grace, force } = after {
                    // Checked by the control socket already.
                    let grace = grace.map(Duration::from_secs_f64);
                    run.stop(Stop::Asked { grace, force });
                }
                Ok(PostAction::Continue)
            },
        )
        .map_err(|e| anyhow::anyhow!("failed to watch the control socket: {e}"))?;
    Ok(Shown {
        events: Loop {
            compositor,
            pending,
            signal,
            handle,
            event_loop,
        },
        plan,
    })
}

/// The compositor behind the Wayland socket: built (window mode, whose
/// host connection comes first), or to build ([`Loop::build_compositor`]).
enum Served {
    Now(Box<State>),
    Later(DisplayHandle, Config),
}

impl Loop {
    /// Builds the headless compositor that `display` left for later, and
    /// hands it Xwayland's connection.
    pub fn build_compositor(&mut self, xwayland: Option<&mut super::x11::Xwayland>) -> Result<()> {
        if let Some((display, config)) = self.pending.take() {
            let mut state = State::new(display, self.signal.clone(), config)?;
            if let Some(xwayland) = xwayland {
                xwayland.attach(&mut state)?;
            }
            self.compositor = Some(state);
        }
        Ok(())
    }
}

/// Serves the Wayland socket in the runtime directory, with a compositor
/// configured by `config`, and adds the socket to the sandbox's spec.
fn wayland(
    plan: &mut Plan,
    config: Config,
    handle: &LoopHandle<'static, Run>,
    signal: &LoopSignal,
) -> Result<Served> {
    let socket_path = plan.instance.dir.join("wayland-0");
    let display = Display::<State>::new().context("failed to create the Wayland display")?;
    let socket = ListeningSocket::bind_absolute(socket_path.clone())
        .with_context(|| format!("failed to create {}", socket_path.display()))?;
    allow_sandbox_to_connect(&socket_path, plan.spec.host_ids)?;
    let compositor = if plan.window {
        let mut compositor = State::new_window(display.handle(), signal.clone(), config)?;
        if plan.portal.is_some() {
            // The parent of the host's dialogs (src/portal/host.rs): the
            // handle comes with the host's events, long before the app
            // can ask for a dialog.
            compositor.export_host_window();
        }
        watch_host(handle, &compositor)?;
        Served::Now(Box::new(compositor))
    } else {
        Served::Later(display.handle(), config)
    };
    // One fd kept in reserve: out of fds, a pending connection could be
    // neither accepted nor refused, and the level-triggered socket would
    // keep the loop spinning.
    let mut spare = Some(std::os::fd::OwnedFd::from(
        std::fs::File::open("/dev/null").context("failed to open /dev/null")?,
    ));
    handle
        .insert_source(
            Generic::new(socket, Interest::READ, Mode::Level),
            move |_, socket, run: &mut Run| {
                loop {
                    match socket.accept() {
                        Ok(Some(stream)) => {
                            if let Some(compositor) = run.compositor.as_mut() {
                                if let Err(e) = compositor.insert_client(stream) {
                                    tracing::warn!(%e, "failed to accept a client");
                                }
                            }
                        }
                        Ok(None) => break,
                        Err(e) => {
                            refuse_without_fds(socket, &mut spare, &e);
                            break;
                        }
                    }
                }
                Ok(PostAction::Continue)
            },
        )
        .map_err(|e| anyhow::anyhow!("failed to watch the Wayland socket: {e}"))?;
    handle
        .insert_source(
            Generic::new(display, Interest::READ, Mode::Level),
            |_, display, run: &mut Run| {
                if let Some(compositor) = run.compositor.as_mut() {
                    // SAFETY: the display is not dropped while the source lives.
                    if let Err(e) = unsafe { display.get_mut().dispatch_clients(compositor) } {
                        tracing::warn!(%e, "failed to dispatch clients");
                    }
                }
                Ok(PostAction::Continue)
            },
        )
        .map_err(|e| anyhow::anyhow!("failed to watch the Wayland display: {e}"))?;
    handle
        .insert_source(Timer::immediate(), {
            // Deadlines, not delays: rendering time must not stretch the
            // 60 Hz period.
            let mut next = std::time::Instant::now();
            move |_, _, run: &mut Run| match run.compositor.as_mut() {
                Some(compositor) => {
                    compositor.tick();
                    let now = std::time::Instant::now();
                    next += compositor.frame_interval();
                    if next < now {
                        next = now + compositor.frame_interval();
                    }
                    TimeoutAction::ToInstant(next)
                }
                None => TimeoutAction::Drop,
            }
        })
        .map_err(|e| anyhow::anyhow!("failed to start the frame clock: {e}"))?;
    plan.spec.binds.push(BindSpec {
        host: socket_path,
        target: Path::new(SANDBOX_RUNTIME_DIR).join("wayland-0"),
        writable: false,
        special: true,
    });
    plan.spec
        .env
        .push(("WAYLAND_DISPLAY".into(), "wayland-0".into()));
    add_env_defaults(&mut plan.spec.env, WAYLAND_TOOLKIT_ENV);
    let program = plan
        .spec
        .argv
        .first()
        .and_then(|p| p.to_str())
        .and_then(|p| crate::util::sandbox_program(Path::new("/"), p));
    if let Some(hint) = program.as_deref().and_then(super::hints::qt_wayland) {
        plan.warnings.push(hint);
    }
    plan.program_file = program.as_deref().and_then(super::hints::open_regular);
    Ok(compositor)
}

/// Follows the audio helper's news: while the app records, the marking
/// says so.
fn watch_audio(handle: &LoopHandle<'static, Run>, audio: &crate::audio::Audio) -> Result<()> {
    let fd = audio
        .watch_fd()
        .try_clone_to_owned()
        .context("failed to watch the audio helper")?;
    handle
        .insert_source(
            Generic::new(fd, Interest::READ, Mode::Level),
            |_, fd, run: &mut Run| {
                // SAFETY: the fd lives as long as the source.
                let fd = unsafe { fd.get_mut() };
                match crate::audio::read_event(std::os::fd::AsFd::as_fd(&*fd)) {
                    crate::audio::Event::Recording(recording) => {
                        tracing::info!(recording, "the app's recording changed");
                        if let Some(compositor) = run.compositor.as_mut() {
                            compositor.set_recording(recording);
                        }
                        Ok(PostAction::Continue)
                    }
                    // Fail closed: no sandbox with an unconfined helper.
                    crate::audio::Event::Failed(why) => {
                        if run.failure.is_none() {
                            run.failure =
                                Some(format!("the audio helper could not confine itself: {why}"));
                        }
                        run.stop(super::state::Stop::Failure);
                        Ok(PostAction::Remove)
                    }
                    crate::audio::Event::Gone => Ok(PostAction::Remove),
                }
            },
        )
        .map_err(|e| anyhow::anyhow!("failed to watch the audio helper: {e}"))?;
    Ok(())
}

/// Puts the host connection into the event loop: host events are applied as
/// they come; losing the host stops the sandbox.
fn watch_host(handle: &LoopHandle<'static, Run>, compositor: &State) -> Result<()> {
    let Some(fd) = compositor.host_fd() else {
        return Ok(());
    };
    let fd = fd?;
    let clipboard = compositor
        .clipboard_fd()
        .context("failed to watch clipboard transfers")?;
    handle
        .insert_source(
            Generic::new(clipboard, Interest::READ, Mode::Level),
            |_, _, run: &mut Run| {
                if let Some(compositor) = run.compositor.as_mut() {
                    compositor.clipboard_ready();
                }
                Ok(PostAction::Continue)
            },
        )
        .map_err(|e| anyhow::anyhow!("failed to watch clipboard transfers: {e}"))?;
    handle
        .insert_source(
            Generic::new(fd, Interest::READ, Mode::Level),
            |_, _, run: &mut Run| {
                if run.dispatch_host() {
                    Ok(PostAction::Continue)
                } else {
                    Ok(PostAction::Remove)
                }
            },
        )
        .map_err(|e| anyhow::anyhow!("failed to watch the host connection: {e}"))?;
    Ok(())
}

/// The host-side Wayland socket must be connectable by the app's host uid:
/// when wsbox runs as root, that is the unprivileged id the app maps to.
fn allow_sandbox_to_connect(socket: &Path, ids: HostIds) -> Result<()> {
    if ids.privileged {
        std::os::unix::fs::chown(socket, Some(ids.uid), Some(ids.gid))
            .with_context(|| format!("failed to hand {} to the sandbox", socket.display()))?;
    }
    Ok(())
}

/// Out of fds: frees the spare one to accept the pending connection and
/// close it at once, then keeps a duplicate of the listening socket as the
/// new spare (opening files is no longer possible once wsbox is confined).
fn refuse_without_fds(
    socket: &ListeningSocket,
    spare: &mut Option<std::os::fd::OwnedFd>,
    error: &std::io::Error,
) {
    let out_of_fds = matches!(
        error.raw_os_error(),
        Some(code) if code == nix::errno::Errno::EMFILE as i32 || code == nix::errno::Errno::ENFILE as i32
    );
    if !out_of_fds {
        tracing::warn!(%error, "failed to accept a client");
        return;
    }
    if spare.take().is_none() {
        tracing::warn!(%error, "failed to accept a client; no spare fd left");
        return;
    }
    if let Ok(Some(stream)) = socket.accept() {
        drop(stream);
    }
    *spare = socket.as_fd().try_clone_to_owned().ok();
    tracing::warn!(
        limit = "open files",
        "refused a client: wsbox has no file descriptor left"
    );
}
