//! The `start` phase of `wsbox run`: pid 1 and the app start, then the
//! helpers that need the running sandbox, and the event loop watches pid 1.
//! pid 1 joins the sandbox's cgroup, then user-mode networking is attached
//! to pid 1's namespaces, before pid 1 goes on; the watch of the host's
//! addresses, the relays, the host chooser (window mode) and the
//! screenshot writer are forked once the app has started. Nothing here may
//! start a thread: the helpers must be forked from wsbox's only one, and
//! wsbox confines itself next.

use std::os::fd::AsFd;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result};
use nix::unistd::Pid;
use wsbox_compositor::reexports::calloop::generic::Generic;
use wsbox_compositor::reexports::calloop::timer::{TimeoutAction, Timer};
use wsbox_compositor::reexports::calloop::{Interest, Mode, PostAction};
use wsbox_policies::Requirement;
use wsbox_sandbox::process::{kill_sandbox, Sandbox};
use wsbox_sandbox::{HostLayout, Prepared};

use crate::confine::own_dirs;
use crate::files::documents::{DocumentsHelper, StartDocument};
use crate::files::Grants;
use crate::instance::Instance;
use crate::net::hostwatch::{HostWatch, HostWatcher};
use crate::net::relays::Relays;
use crate::net::usernet::{self, UserNet};
use crate::portal::host::HostChooser;
use crate::run::display::{Loop, Shown};
use crate::run::state::{Run, Stop};
use crate::screenshot::ScreenshotWriter;

/// What `start` hands on. When a later phase fails, what is left of it goes
/// in the order of its fields: the relays, the accessibility helper, pid 1,
/// user-mode networking, the prepared sandbox, the loop, then the runtime
/// directory.
pub struct Started {
    pub relays: Option<Relays>,
    /// The accessibility proxy and its relay (src/a11y/mod.rs).
    pub a11y: Option<crate::a11y::A11y>,
    /// The audio helper (src/audio/mod.rs).
    pub audio: Option<crate::audio::Audio>,
    pub sandbox: Sandbox,
    pub pid1: Pid,
    /// The watcher of the host's addresses (`--net user`).
    pub watcher_pid: Option<i32>,
    pub user_net: Option<UserNet>,
    /// The sandbox as prepared: it holds the opened binds until `teardown`.
    pub prepared: Prepared,
    /// Whether wsbox runs as root (the broker's mounts follow from it).
    pub privileged: bool,
    /// The policy's `security.landlock = "best-effort"`.
    pub landlock_optional: bool,
    pub events: Loop,
    pub grants: Grants,
    /// The documents helper: it writes every changed document back when
    /// dropped, after the app has ended.
    pub documents: Option<DocumentsHelper>,
    /// Window mode with a portal: the helper that shows the app's file
    /// dialogs on the host (src/portal/host.rs).
    pub host_chooser: Option<HostChooser>,
    /// The graces of [`crate::run::state::Run`].
    pub graces: (Duration, Duration),
    /// The program's file, for the X11 hint.
    pub program_file: Option<std::fs::File>,
    /// `--screenshot`'s writer and file, until the timeout writes it.
    pub screenshot: Option<(ScreenshotWriter, std::path::PathBuf)>,
    /// The portal's bus and plan: wsbox's names there were asked for
    /// before the daemon ran; `confine` serves the portal once wsbox is
    /// confined, beside the app's start.
    pub portal: Option<(crate::portal::bus::Bus, crate::run::prepare::PortalPlan)>,
    /// The sandbox's cgroup, pid 1 in it.
    pub cgroup: Option<crate::limits::cgroup::Cgroup>,
    pub instance: Instance,
}

/// Starts the sandbox and the helpers beside it.
pub fn start(shown: Shown) -> Result<Started> {
    // Bound in this order so that, when this phase fails, the loop's
    // sources go before the runtime directory in the plan.
    let Shown {
        mut plan,
        mut events,
    } = shown;
    let handle = &events.handle.clone();
    let privileged = plan.spec.host_ids.privileged;
    let plan_ids = plan.spec.host_ids;
    let landlock_optional = plan.spec.landlock == Requirement::BestEffort;
    let mut host = HostLayout::probe(Path::new("/"));
    if let Some(program) = plan.spec.argv.first().and_then(|p| p.to_str()) {
        let names = crate::etc_refs::for_program(program);
        host.add_etc(Path::new("/"), names.iter().map(String::as_str));
    }
    let prepared = Prepared::new(plan.spec, &host)?;
    let name = &plan.name;
    tracing::debug!(%name, landlock_abi = ?prepared.landlock_abi(), steps = prepared.plan().mounts.len(), "sandbox prepared");
    let mut user_net = None;
    let mut watcher_pid = None;
    let network = plan.network;
    let mut cgroup = plan.cgroup;
    let mut sandbox = wsbox_sandbox::process::spawn_with(&prepared, |pid| {
        // First: everything pid 1 starts is inside the limits.
        if let Some(cgroup) = &cgroup {
            cgroup.attach(pid.as_raw())?;
        }
        if let Some(planned) = &network.user_net {
            user_net = Some(usernet::start(pid, planned).map_err(|e| format!("{e:#}"))?);
        }
        Ok(())
    })?;
    if let Some(cgroup) = cgroup.as_mut() {
        cgroup.joined();
    }
    // pid 1 has Xwayland's fds now: an Xwayland that dies closes them.
    if let Some(xwayland) = plan.xwayland.as_mut() {
        xwayland.close_theirs();
    }
    // pid 1 builds the sandbox meanwhile.
    events
        .build_compositor(plan.xwayland.as_mut())
        .inspect_err(|_| kill_sandbox(sandbox.pid()))
        .context("failed to start the compositor")?;
    let portal = match (plan.bus, plan.portal) {
        (Some(mut bus), Some(portal)) => {
            // pid 1 has the socket now, and hands it to the daemon.
            bus.close_listener();
            Some((bus, portal))
        }
        _ => None,
    };
    // wsbox's own setup from here on runs beside the app's start, not
    // against pid 1's.
    sandbox.wait_started();
    print_warnings(&sandbox, plan.warnings);
    let sandbox_pid = sandbox.pid();
    if let Some(user_net) = &user_net {
        // Run by a helper started before the confinement: the confined
        // wsbox can neither open netlink sockets nor start nft.
        let watch = HostWatch::start(user_net)
            .and_then(|watch| {
                HostWatcher::spawn(watch, sandbox_pid)
                    .context("failed to start the watch of the host's addresses")
            })
            .inspect_err(|_| kill_sandbox(sandbox_pid))?;
        watcher_pid = Some(watch.pid());
        handle
            .insert_source(
                Generic::new(watch, Interest::READ, Mode::Level),
                |_, watch, run: &mut Run| {
                    // Fail closed: the host may have an address the
                    // sandbox's firewall does not know.
                    if let Some(e) = watch.error() {
                        if run.failure.is_none() && run.outcome.is_none() {
                            run.failure = Some(e);
                        }
                        run.stop(Stop::Failure);
                    }
                    Ok(PostAction::Remove)
                },
            )
            .map_err(|e| anyhow::anyhow!("failed to watch the host's addresses: {e}"))?;
    }
    // The sandbox runs: a home made for it stays.
    if let Some(created) = plan.home_created {
        created.keep();
    }
    // Documents are written back by a helper of their own, forked now:
    // wsbox, confined, may not write host files (src/files/documents.rs).
    let mut grants = plan.grants;
    let documents = match sandbox.take_documents_channel() {
        Some(channel) => {
            let start = grants
                .documents
                .iter_mut()
                .filter_map(|d| {
                    Some(StartDocument {
                        index: d.index,
                        shown: d.host.clone(),
                        host_dir: d.host_dir.take()?,
                        host_name: d.name.clone(),
                        granted: d.stamp,
                    })
                })
                .collect();
            let owner = privileged.then_some((plan_ids.uid, plan_ids.gid));
            Some(
                DocumentsHelper::spawn(
                    channel,
                    start,
                    owner,
                    own_dirs(&plan.instance.dir),
                    sandbox_pid.as_raw(),
                )
                .inspect_err(|_| kill_sandbox(sandbox_pid))
                .context("failed to start the documents helper")?,
            )
        }
        None => None,
    };
    // Served by a process of their own, forked now: wsbox, confined,
    // makes no sockets (src/net/relays.rs).
    let listeners: Vec<_> = sandbox
        .take_listeners()
        .into_iter()
        .zip(network.upstreams)
        .collect();
    let relays = if listeners.is_empty() {
        None
    } else {
        Some(
            Relays::spawn(listeners)
                .inspect_err(|_| kill_sandbox(sandbox_pid))
                .context("failed to serve the sandbox's sockets")?,
        )
    };
    // The host's file chooser is asked by a helper of its own, forked now:
    // wsbox, confined, connects to no host bus and opens no host file
    // (src/portal/host.rs).
    // So are links the app opens (src/portal/opener.rs).
    let mut portal = portal;
    let window = plan.window;
    if let Some((_, plan)) = portal.as_mut() {
        // In window mode it also shows notifications on the host and the
        // host's print dialog: it is forked only for what the portal will
        // ask of it.
        if crate::portal::server::Desktop::wants_opener(
            plan.open_uri.is_some(),
            plan.notify_host,
            plan.print,
            window,
        ) {
            let opener = crate::portal::opener::Opener::spawn(plan.open_uri.clone(), name)
                .inspect_err(|_| kill_sandbox(sandbox_pid))
                .context("failed to start the host's calls helper")?;
            plan.opener = Some(std::sync::Arc::new(opener));
        }
    }
    let host_chooser = if plan.window && portal.is_some() {
        Some(
            HostChooser::spawn(name)
                .inspect_err(|_| kill_sandbox(sandbox_pid))
                .context("failed to start the host chooser")?,
        )
    } else {
        None
    };
    let signals = sandbox
        .as_fd()
        .try_clone_to_owned()
        .context("failed to watch the sandbox")?;
    handle
        .insert_source(
            Generic::new(signals, Interest::READ, Mode::Level),
            |_, _, run: &mut Run| {
                let Some(sandbox) = run.process.as_mut() else {
                    return Ok(PostAction::Remove);
                };
                match sandbox.on_signal() {
                    Ok(Some(status)) => {
                        run.outcome = Some(sandbox.collect(status));
                        run.signal.stop();
                        return Ok(PostAction::Remove);
                    }
                    Ok(None) => {}
                    Err(e) => tracing::warn!(%e, "lost track of the sandbox"),
                }
                Ok(PostAction::Continue)
            },
        )
        .map_err(|e| anyhow::anyhow!("failed to watch the sandbox: {e}"))?;
    // pid 1 is ending (or failed): wsbox cleans up while the kernel takes
    // the sandbox apart, and waits for pid 1 last.
    let ending = sandbox
        .ending()
        .try_clone_to_owned()
        .context("failed to watch the sandbox")?;
    handle
        .insert_source(
            Generic::new(ending, Interest::READ, Mode::Level),
            |_, _, run: &mut Run| {
                run.ending = true;
                run.signal.stop();
                Ok(PostAction::Remove)
            },
        )
        .map_err(|e| anyhow::anyhow!("failed to watch the sandbox: {e}"))?;

    let mut screenshot = None;
    if let Some(timeout) = plan.timeout {
        // Written by a helper started now: confined, wsbox cannot write
        // where the file goes.
        screenshot = plan
            .screenshot
            .as_deref()
            .map(|path| ScreenshotWriter::spawn(path).map(|w| (w, path.to_owned())))
            .transpose()
            .context("failed to start the screenshot writer")?;
        handle
            .insert_source(Timer::from_duration(timeout), move |_, _, run: &mut Run| {
                if let (Some((writer, _)), Some(compositor)) =
                    (run.screenshot.take(), run.compositor.as_mut())
                {
                    match compositor.screenshot_png() {
                        Ok(png) => {
                            if let Err(e) = writer.write(&png) {
                                run.failure = Some(e);
                            }
                        }
                        Err(e) => run.failure = Some(e.to_string()),
                    }
                }
                run.stop(Stop::Timeout);
                TimeoutAction::Drop
            })
            .map_err(|e| anyhow::anyhow!("failed to set the timeout: {e}"))?;
    }
    Ok(Started {
        relays,
        a11y: plan.a11y,
        audio: plan.audio,
        sandbox,
        pid1: sandbox_pid,
        watcher_pid,
        user_net,
        prepared,
        privileged,
        landlock_optional,
        events,
        grants,
        documents,
        host_chooser,
        graces: (plan.grace, plan.timeout_grace),
        // With X11 on, an X11 program's failure is its own: no hint.
        program_file: plan.program_file.filter(|_| !plan.x11_wanted),
        screenshot,
        portal,
        cgroup,
        instance: plan.instance,
    })
}

/// The warnings once the app runs: a failed start's error stays the only
/// line.
pub fn print_warnings(sandbox: &Sandbox, warnings: Vec<String>) {
    if !sandbox.start_failed() {
        for warning in warnings {
            eprintln!("wsbox: warning: {warning}");
        }
    }
}
