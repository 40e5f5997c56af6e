//! The `confine` phase of `wsbox run`: the last helper, the file broker,
//! is forked; then wsbox confines itself (Landlock, seccomp, no
//! capabilities: what `src/confine.rs` keeps), and only then starts
//! threads. Landlock and the capability drop bind the calling thread and
//! the threads it starts later, and every helper must be forked from a
//! single thread: nothing here may start a thread before the confinement.

use std::sync::Arc;

use anyhow::{Context, Result};
use nix::unistd::Pid;
use wsbox_compositor::reexports::calloop::LoopSignal;
use wsbox_compositor::State;
use wsbox_sandbox::process::{kill_sandbox, Sandbox};
use wsbox_sandbox::Prepared;

use crate::files::broker::Broker;
use crate::files::documents::DocumentsHelper;
use crate::files::Grants;
use crate::net::relays::Relays;
use crate::net::usernet::UserNet;
use crate::portal::host::HostChooser;
use crate::run::start::Started;
use crate::run::state::RuntimeDir;

/// What `confine` hands on. When the loop fails, what is left of it goes in
/// the order of its fields, the runtime directory first (the rest moves
/// into [`Run`](crate::run::state::Run), which goes before it).
pub struct Confined {
    pub runtime: RuntimeDir,
    pub relays: Option<Relays>,
    pub a11y: Option<crate::a11y::A11y>,
    pub audio: Option<crate::audio::Audio>,
    pub user_net: Option<UserNet>,
    pub prepared: Prepared,
    pub compositor: Option<State>,
    pub signal: LoopSignal,
    pub broker: Arc<Broker>,
    pub grants: Grants,
    pub documents: Option<DocumentsHelper>,
    pub graces: (std::time::Duration, std::time::Duration),
    pub screenshot: Option<(crate::screenshot::ScreenshotWriter, std::path::PathBuf)>,
    pub program_file: Option<std::fs::File>,
    pub sandbox: Sandbox,
    pub pid1: Pid,
    pub portal: Option<crate::portal::Portal>,
    pub host_chooser: Option<HostChooser>,
}

/// Starts the file broker and confines wsbox.
pub fn confine(mut started: Started) -> Result<Confined> {
    let pid1 = started.pid1;
    // Everything is open and the app is running: from here on a bug in a
    // protocol handler reaches only what src/confine.rs keeps.
    // The file broker first: it mounts and joins the sandbox, which the
    // confined wsbox cannot (src/files/broker.rs), and removes wsbox's runtime
    // directory at the end, which the confined wsbox may only empty.
    // Its runtime directory and the other sandboxes' beside it.
    // Canonical: the broker compares them with the real paths of fds.
    let dir = &started.instance.dir;
    let (broker, broker_end) =
        Broker::spawn(pid1, started.privileged, crate::confine::own_dirs(dir), dir)
            .inspect_err(|_| kill_sandbox(pid1))
            .context("failed to start the file helper")?;
    let runtime = RuntimeDir {
        event_loop: started.events.event_loop,
        handle: started.events.handle,
        instance: started.instance,
        broker: broker_end,
        cgroup: started.cgroup.take(),
    };
    // The only processes the confined wsbox signals: the sandbox's pid 1
    // and its own helpers (stopped when it ends).
    let signal_pids = [Some(pid1.as_raw())]
        .into_iter()
        .chain([
            started.user_net.as_ref().map(UserNet::pid),
            started.relays.as_ref().map(Relays::pid),
            started.a11y.as_ref().map(crate::a11y::A11y::pid),
            started.audio.as_ref().map(crate::audio::Audio::pid),
            started.watcher_pid,
            started.host_chooser.as_ref().map(HostChooser::pid),
            started
                .portal
                .as_ref()
                .and_then(|(_, plan)| plan.opener.as_ref())
                .map(|opener| opener.pid()),
        ])
        .flatten()
        .collect();
    // The app started with the usual limit; wsbox itself may hold a
    // connection's worth of fds for each of its clients.
    raise_fd_limit();
    crate::confine::confine(
        &runtime.instance.dir,
        started.landlock_optional,
        signal_pids,
        started.events.compositor.is_some(),
        runtime
            .cgroup
            .as_ref()
            .map(crate::limits::cgroup::Cgroup::parents)
            .unwrap_or_default(),
        started
            .portal
            .as_ref()
            .and_then(|(_, plan)| plan.printer.as_ref())
            .map(|printer| printer.dir().to_owned()),
    )
    // The sandbox goes with it now, not when wsbox exits (pid 1's
    // PDEATHSIG): its cgroup is removed on the way out, and a cgroup with
    // processes in it cannot be.
    .inspect_err(|_| kill_sandbox(pid1))
    .context("failed to confine wsbox itself")?;
    // Threads only now: the sandbox and the helpers are forked.
    if let Some(user_net) = started.user_net.as_mut() {
        user_net.drain_log();
    }
    let portal = match started.portal.take() {
        Some((bus, plan)) => {
            let portal = start_portal(bus, plan, &runtime, started.host_chooser.as_mut())
                .inspect_err(|_| kill_sandbox(pid1))
                .context("failed to start the portal")?;
            Some(portal)
        }
        None => None,
    };
    Ok(Confined {
        runtime,
        relays: started.relays,
        a11y: started.a11y,
        audio: started.audio,
        user_net: started.user_net,
        prepared: started.prepared,
        compositor: started.events.compositor,
        signal: started.events.signal,
        broker,
        grants: started.grants,
        documents: started.documents,
        graces: started.graces,
        screenshot: started.screenshot,
        program_file: started.program_file,
        sandbox: started.sandbox,
        pid1,
        portal,
        host_chooser: started.host_chooser,
    })
}

/// Serves the portal on the sandbox's bus (zbus's threads) and tells the
/// event loop of its requests.
fn start_portal(
    bus: crate::portal::bus::Bus,
    mut plan: crate::run::prepare::PortalPlan,
    runtime: &RuntimeDir,
    host_chooser: Option<&mut HostChooser>,
) -> Result<crate::portal::Portal> {
    use crate::portal::server::{self, Event};
    let window = host_chooser.is_some();
    use wsbox_compositor::reexports::calloop::channel::{channel, Event as Received};
    let (events, receiver) = channel::<Event>();
    runtime
        .handle
        .insert_source(receiver, |received, _, run: &mut crate::run::state::Run| {
            if let Received::Msg(event) = received {
                run.portal_event(event);
            }
        })
        .map_err(|e| anyhow::anyhow!("failed to watch the portal: {e}"))?;
    if let Some(chooser) = host_chooser {
        host_settings(chooser, &mut plan.settings);
        watch_host_chooser(chooser, runtime)?;
    }
    let server = server::start(
        bus.connection,
        bus.claim,
        events,
        plan.settings,
        plan.net,
        plan.writable,
        server::Desktop::new(
            plan.opener,
            plan.notify_host,
            window && plan.print,
            window,
            plan.printer,
        ),
    )?;
    Ok(crate::portal::Portal::new(server, plan.never))
}

/// Window mode: the settings the portal serves are the host's, as the
/// host's own apps see them (the allowlisted keys the host has); the
/// policy's only when the host cannot tell within
/// [`SETTINGS_WAIT`](crate::portal::host::SETTINGS_WAIT). Read once: later
/// changes on the host do not reach the app.
fn host_settings(chooser: &mut HostChooser, settings: &mut crate::portal::settings::Settings) {
    match chooser.settings(crate::portal::host::SETTINGS_WAIT) {
        Ok(values) => {
            *settings = crate::portal::settings::Settings::default();
            let mut taken = 0;
            for (namespace, key, value) in values {
                taken += usize::from(settings.set(&namespace, &key, value));
            }
            tracing::info!(taken, "the app gets the host's settings");
        }
        Err(why) => tracing::info!(
            "the host's settings could not be read ({why}); the app gets the policy's"
        ),
    }
}

/// Puts the host chooser's answers into the event loop.
fn watch_host_chooser(chooser: &HostChooser, runtime: &RuntimeDir) -> Result<()> {
    use wsbox_compositor::reexports::calloop::generic::Generic;
    use wsbox_compositor::reexports::calloop::{Interest, Mode};
    let fd = chooser
        .watch_fd()
        .context("failed to watch the host chooser")?;
    runtime
        .handle
        .insert_source(
            Generic::new(fd, Interest::READ, Mode::Level),
            |_, _, run: &mut crate::run::state::Run| Ok(run.host_answers()),
        )
        .map_err(|e| anyhow::anyhow!("failed to watch the host chooser: {e}"))?;
    Ok(())
}

/// Raises the soft limit on open files to the hard one.
fn raise_fd_limit() {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    match getrlimit(Resource::RLIMIT_NOFILE) {
        Ok((soft, hard)) if soft < hard => {
            if let Err(e) = setrlimit(Resource::RLIMIT_NOFILE, hard, hard) {
                tracing::warn!(%e, soft, hard, "failed to raise the limit on open files");
            }
        }
        Ok(_) => {}
        Err(e) => tracing::warn!(%e, "failed to read the limit on open files"),
    }
}
