//! `wsbox run`: policy → spec → sandbox → exit status.

use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use nix::unistd::Pid;
use wsbox_compositor::clipboard::ClipboardConfig;
use wsbox_compositor::reexports::calloop::generic::Generic;
use wsbox_compositor::reexports::calloop::timer::{TimeoutAction, Timer};
use wsbox_compositor::reexports::calloop::{
    EventLoop, Interest, LoopHandle, LoopSignal, Mode, PostAction,
};
use wsbox_compositor::reexports::wayland_server::{Display, ListeningSocket};
use wsbox_compositor::KeyboardConfig;
use wsbox_compositor::{Config, State};
use wsbox_policies::{
    Access, Bind, ClipboardMode, Home, HostDecorations, MachineId, NetworkMode, Policy,
};
use wsbox_sandbox::plan::{environment, random_boot_id, random_machine_id, SANDBOX_RUNTIME_DIR};
use wsbox_sandbox::process::{kill_sandbox, terminate, Sandbox, EXIT_TIMEOUT, STOP_GRACE};
use wsbox_sandbox::{BindSpec, HostIds, HostLayout, Outcome, Prepared, Spec};

use crate::cli::{DisplayMode, RunArgs};
use crate::control;
use crate::files;
use crate::instance::{Info, Instance};
use crate::{identity, network, usernet};

/// Runs the sandbox and returns the exit status for wsbox.
pub fn run(args: RunArgs) -> Result<i32> {
    let display = if args.headless {
        DisplayMode::Headless
    } else {
        args.display.unwrap_or_else(|| {
            if std::env::var_os("WAYLAND_DISPLAY").is_some() {
                DisplayMode::Window
            } else {
                DisplayMode::Headless
            }
        })
    };
    if display == DisplayMode::Window && !host_session() {
        bail!(
            "--display window needs a Wayland session, but WAYLAND_DISPLAY is not set; \
             use --display headless or --display none"
        );
    }
    if display == DisplayMode::None && args.screenshot.is_some() {
        bail!("--screenshot needs a display: use --display headless");
    }
    let timeout = match args.timeout {
        None => None,
        Some(secs) if secs.is_finite() && secs > 0.0 && secs < 1e9 => {
            Some(Duration::from_secs_f64(secs))
        }
        Some(secs) => bail!("invalid --timeout {secs}: expected a positive number of seconds"),
    };
    let output = parse_output(&args.output)?;

    let mut policy = load_policy(&args)?;
    apply_overrides(&mut policy, &args)?;
    policy
        .validate("given on the command line")
        .context("invalid command line")?;

    let mut spec = spec(&policy, args.command.clone())?;
    files::check_read_only_shares(&spec.binds)?;
    let grants = files::grant(
        &mut spec.argv,
        &args.file,
        &args.file_rw,
        !args.no_file_args,
        args.allow_special,
    )?;
    spec.binds.extend(grants.binds.iter().cloned());
    let net = network::plan(&policy.network, getrandom)?;
    spec.net = net.spec.clone();
    spec.resolv_conf = net.resolv_conf.clone();
    if let Some(resolv) = &net.host_resolv_conf {
        spec.binds.push(BindSpec {
            host: resolv.clone(),
            target: "/etc/resolv.conf".into(),
            writable: false,
            special: false,
        });
    }
    let program = Path::new(&spec.argv[0])
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "app".into());
    let display_name = match display {
        DisplayMode::Headless => "headless",
        DisplayMode::None => "none",
        DisplayMode::Window => "window",
    };
    let started = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let instance = Instance::create(args.name.as_deref(), &program, |name| Info {
        name: name.to_owned(),
        pid: std::process::id(),
        program: program.clone(),
        display: display_name.to_owned(),
        network: net.mode.name().to_owned(),
        started,
    })?;
    let name = instance.name();
    let mut home_created = None;
    if let Some(home) = &policy.filesystem.home {
        let (path, created) = files::persistent_home(&home.persist, &name, spec.host_ids)?;
        spec.home = Some(path);
        home_created = Some(created);
    }
    files::check_read_only_sources(&spec.binds, spec.home.as_deref())?;
    if policy.identity.machine_id == MachineId::Stable {
        spec.machine_id = identity::stable_machine_id(&identity::key_dir()?, &name)?;
    }

    let event_loop: EventLoop<Run> =
        EventLoop::try_new().context("failed to create the event loop")?;
    let handle = event_loop.handle();
    let signal = event_loop.get_signal();

    let window_mode = display == DisplayMode::Window;
    let compositor = if display != DisplayMode::None {
        let socket_path = instance.dir.join("wayland-0");
        let display = Display::<State>::new().context("failed to create the Wayland display")?;
        let socket = ListeningSocket::bind_absolute(socket_path.clone())
            .with_context(|| format!("failed to create {}", socket_path.display()))?;
        allow_sandbox_to_connect(&socket_path, spec.host_ids)?;
        let config = Config {
            name: name.clone(),
            size: (output.0, output.1),
            scale: output.2,
            color: policy.display.rgb(),
            keyboard: KeyboardConfig {
                rules: policy.keyboard.rules.clone(),
                model: policy.keyboard.model.clone(),
                layout: policy.keyboard.layout.clone(),
                variant: policy.keyboard.variant.clone(),
                options: Some(policy.keyboard.options.clone()).filter(|o| !o.is_empty()),
            },
            clipboard: ClipboardConfig {
                gesture: policy.clipboard.mode == ClipboardMode::Gesture,
                auto: policy.clipboard.mode == ClipboardMode::Auto,
                // validate() keeps it at 64 MiB at most.
                max_bytes: usize::try_from(policy.clipboard.max_bytes).unwrap_or(usize::MAX),
            },
            host_decorations: policy.display.host_decorations == HostDecorations::Server,
        };
        let compositor = if window_mode {
            let compositor = State::new_window(display.handle(), signal.clone(), config)?;
            watch_host(&handle, &compositor)?;
            compositor
        } else {
            State::new(display.handle(), signal.clone(), config)?
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
        spec.binds.push(BindSpec {
            host: socket_path,
            target: Path::new(SANDBOX_RUNTIME_DIR).join("wayland-0"),
            writable: false,
            special: true,
        });
        spec.env
            .push(("WAYLAND_DISPLAY".into(), "wayland-0".into()));
        Some(compositor)
    } else {
        None
    };

    let control = control::listen(&instance.dir)?;
    handle
        .insert_source(
            Generic::new(control, Interest::READ, Mode::Level),
            |_, listener, run: &mut Run| {
                let after = match run.compositor.as_mut() {
                    Some(compositor) => control::accept_all(listener, compositor, &mut run.files),
                    None => control::refuse_all(listener, &mut run.files),
                };
                if after == control::After::Stop {
                    run.stop(false);
                }
                Ok(PostAction::Continue)
            },
        )
        .map_err(|e| anyhow::anyhow!("failed to watch the control socket: {e}"))?;

    let spec_privileged = spec.host_ids.privileged;
    let landlock_optional = spec.landlock == wsbox_policies::Requirement::BestEffort;
    let prepared = Prepared::new(spec, &HostLayout::probe(Path::new("/")))?;
    tracing::debug!(%name, landlock_abi = ?prepared.landlock_abi(), steps = prepared.plan().mounts.len(), "sandbox prepared");
    let mut user_net = None;
    let mut watcher_pid = None;
    let mut sandbox = wsbox_sandbox::process::spawn_with(&prepared, |pid| {
        if net.mode == NetworkMode::User {
            let mac = net.mac.as_deref().unwrap_or("02:00:00:00:00:01");
            let rules = net.firewall.as_deref().unwrap_or_default();
            user_net = Some(usernet::start(pid, mac, rules).map_err(|e| format!("{e:#}"))?);
        }
        Ok(())
    })?;
    // wsbox's own setup from here on runs beside the app's start, not
    // against pid 1's.
    sandbox.wait_started();
    let sandbox_pid = sandbox.pid();
    if let Some(user_net) = &user_net {
        // Run by a helper started before the confinement: the confined
        // wsbox can neither open netlink sockets nor start nft.
        let watch = usernet::HostWatch::start(user_net)
            .and_then(|watch| {
                crate::broker::HostWatcher::spawn(watch, sandbox_pid)
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
                        run.stop(false);
                    }
                    Ok(PostAction::Remove)
                },
            )
            .map_err(|e| anyhow::anyhow!("failed to watch the host's addresses: {e}"))?;
    }
    // The sandbox runs: a home made for it stays.
    if let Some(created) = home_created {
        created.keep();
    }
    // Served by a process of their own, forked now: wsbox, confined,
    // makes no sockets (src/broker.rs).
    let relays: Vec<_> = sandbox
        .take_listeners()
        .into_iter()
        .zip(net.upstreams)
        .collect();
    let _relays = if relays.is_empty() {
        None
    } else {
        Some(
            crate::broker::Relays::spawn(relays)
                .inspect_err(|_| kill_sandbox(sandbox_pid))
                .context("failed to serve the sandbox's sockets")?,
        )
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

    if let Some(timeout) = timeout {
        // Written by a helper started now: confined, wsbox cannot write
        // where the file goes.
        let mut screenshot = args
            .screenshot
            .as_deref()
            .map(crate::confine::ScreenshotWriter::spawn)
            .transpose()
            .context("failed to start the screenshot writer")?;
        handle
            .insert_source(Timer::from_duration(timeout), move |_, _, run: &mut Run| {
                if let (Some(writer), Some(compositor)) =
                    (screenshot.take(), run.compositor.as_mut())
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
                run.stop(true);
                TimeoutAction::Drop
            })
            .map_err(|e| anyhow::anyhow!("failed to set the timeout: {e}"))?;
    }

    // Everything is open and the app is running: from here on a bug in a
    // protocol handler reaches only what src/confine.rs keeps.
    // The file broker first: it mounts and joins the sandbox, which the
    // confined wsbox cannot (src/broker.rs), and removes wsbox's runtime
    // directory at the end, which the confined wsbox may only empty.
    // Its runtime directory and the other sandboxes' beside it.
    // Canonical: the broker compares them with the real paths of fds.
    let own = [
        instance.dir.parent().unwrap_or(&instance.dir),
        Path::new(crate::confine::XKB),
    ]
    .iter()
    .map(|p| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf()))
    .collect();
    let (broker, broker_end) =
        crate::broker::Broker::spawn(sandbox_pid, spec_privileged, own, &instance.dir)
            .inspect_err(|_| kill_sandbox(sandbox_pid))
            .context("failed to start the file helper")?;
    let mut runtime = RuntimeDir {
        event_loop,
        handle,
        instance,
        broker: broker_end,
    };
    let instance = &runtime.instance;
    // The only processes the confined wsbox signals: the sandbox's pid 1
    // and its own helpers (stopped when it ends).
    let signal_pids = [Some(sandbox_pid.as_raw())]
        .into_iter()
        .chain([
            user_net.as_ref().map(usernet::UserNet::pid),
            _relays.as_ref().map(crate::broker::Relays::pid),
            watcher_pid,
        ])
        .flatten()
        .collect();
    // The app started with the usual limit; wsbox itself may hold a
    // connection's worth of fds for each of its clients.
    raise_fd_limit();
    crate::confine::confine(
        &instance.dir,
        landlock_optional,
        signal_pids,
        compositor.is_some(),
    )
    .context("failed to confine wsbox itself")?;
    // Threads only now: the sandbox and the helpers are forked.
    if let Some(user_net) = user_net.as_mut() {
        user_net.drain_log();
    }

    let mut run = Run {
        compositor,
        files: files::Live::new(Some(broker), grants),
        sandbox: sandbox_pid,
        process: Some(sandbox),
        ending: false,
        outcome: None,
        timed_out: false,
        stopping: false,
        closing: false,
        host_gone: false,
        failure: None,
        signal,
        handle: runtime.handle.clone(),
    };
    runtime
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
    let outcome = run.outcome.take();
    let (timed_out, failure) = (run.timed_out, run.failure.take());
    let (process, ending) = (run.process.take(), run.ending);
    // The loop's sources first: the Wayland socket unlinks its path while
    // the directory is still this sandbox's. They live as long as any
    // handle of the loop does.
    drop(run);
    let RuntimeDir {
        event_loop,
        handle,
        instance,
        broker,
    } = runtime;
    drop(event_loop);
    drop(handle);
    // Then the runtime directory emptied, so that the broker can remove it
    // while wsbox ends the rest.
    drop(instance);
    broker.finish();
    drop(prepared);
    drop(user_net);
    // pid 1 exits right after the app, and the kernel's teardown of the
    // sandbox ran beside the cleanup above; the broker's removal of the
    // directory and its exit run beside this wait.
    let outcome = match (outcome, process) {
        (Some(outcome), _) => Some(outcome),
        (None, Some(mut process)) if ending => Some(
            process
                .wait_ended()
                .context("failed to wait for the sandbox")?,
        ),
        (None, _) => None,
    };
    // Last: the broker has removed the directory and exited.
    drop(broker);

    if let Some(outcome) = &outcome {
        if let Some(failure) = &outcome.failure {
            // The sandbox could not be set up: when the kernel's settings
            // restrict user namespaces (AppArmor's, say, lets the clone
            // through and refuses what comes after), they are the reason.
            let restricted = (outcome.code == i32::from(crate::EXIT_WSBOX_ERROR))
                .then(wsbox_sandbox::namespaces::check_user_namespaces)
                .and_then(Result::err);
            match restricted {
                Some(reason) => eprintln!("wsbox: {failure} ({reason})"),
                None => eprintln!("wsbox: {failure}"),
            }
        }
    }
    if let Some(failure) = failure {
        eprintln!("wsbox: {failure}");
        return Ok(125);
    }
    Ok(match outcome {
        Some(_) if timed_out => EXIT_TIMEOUT,
        Some(outcome) => outcome.code,
        None => 125,
    })
}

/// wsbox's runtime directory and the broker that removes it, with the event
/// loop whose sources live in it: however `run` returns, the sources go
/// first (the Wayland socket unlinks its own path while the directory is
/// still this sandbox's; they live as long as any handle of the loop),
/// then wsbox empties the directory, then the broker removes it (the
/// confined wsbox may not). Fields drop in this order.
struct RuntimeDir {
    event_loop: EventLoop<'static, Run>,
    handle: LoopHandle<'static, Run>,
    instance: Instance,
    broker: crate::broker::BrokerEnd,
}

/// The state of `wsbox run`'s event loop.
struct Run {
    compositor: Option<State>,
    /// Files granted to the running sandbox (`wsbox add-file` and friends).
    files: files::Live,
    /// pid 1 of the sandbox.
    sandbox: Pid,
    process: Option<Sandbox>,
    /// pid 1 is ending: its outcome is collected after wsbox's cleanup.
    ending: bool,
    outcome: Option<Outcome>,
    timed_out: bool,
    stopping: bool,
    /// The user closed the window; the app was asked to close.
    closing: bool,
    host_gone: bool,
    failure: Option<String>,
    signal: LoopSignal,
    handle: LoopHandle<'static, Run>,
}

impl Run {
    /// Asks the app to stop, and kills the sandbox if it has not after the
    /// grace period.
    fn stop(&mut self, timed_out: bool) {
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
    fn dispatch_host(&mut self) -> bool {
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

    /// The host compositor is gone: the sandbox stops, wsbox exits with 125.
    fn host_lost(&mut self, error: wsbox_compositor::HostError) {
        if self.failure.is_none() {
            self.failure = Some(error.to_string());
        }
        self.stop(false);
    }
}

/// Whether wsbox itself runs in a Wayland session it can show a window in.
fn host_session() -> bool {
    std::env::var_os("WAYLAND_DISPLAY").is_some_and(|d| !d.is_empty())
        || std::env::var_os("WAYLAND_SOCKET").is_some()
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

/// `WxH` or `WxH@SCALE`.
fn parse_output(text: &str) -> Result<(i32, i32, f64)> {
    let bad = || {
        anyhow::anyhow!("invalid --output {text:?}: expected WxH or WxH@SCALE, e.g. 1280x720@1.5")
    };
    let (size, scale) = match text.split_once('@') {
        Some((size, scale)) => (size, scale.parse::<f64>().map_err(|_| bad())?),
        None => (text, 1.0),
    };
    let (w, h) = size.split_once('x').ok_or_else(bad)?;
    let (w, h) = (
        w.parse::<i32>().map_err(|_| bad())?,
        h.parse::<i32>().map_err(|_| bad())?,
    );
    if !(16..=16384).contains(&w) || !(16..=16384).contains(&h) || !(0.5..=4.0).contains(&scale) {
        bail!("invalid --output {text:?}: sizes go from 16 to 16384, scales from 0.5 to 4");
    }
    Ok((w, h, scale))
}

fn load_policy(args: &RunArgs) -> Result<Policy> {
    Ok(match (&args.policy, &args.profile) {
        (Some(file), _) => Policy::from_file(file)?,
        (None, Some(name)) => Policy::builtin(name)?,
        (None, None) => Policy::builtin("default")?,
    })
}

fn apply_overrides(policy: &mut Policy, args: &RunArgs) -> Result<()> {
    for (specs, mode) in [(&args.ro, Access::Ro), (&args.rw, Access::Rw)] {
        for spec in specs {
            let (host, sandbox) = match spec.split_once(':') {
                Some((host, sandbox)) => (host, Some(PathBuf::from(sandbox))),
                None => (spec.as_str(), None),
            };
            if host.is_empty() {
                bail!("invalid --{mode} {spec:?}: empty host path");
            }
            let host =
                std::path::absolute(host).with_context(|| format!("invalid --{mode} {spec:?}"))?;
            policy.filesystem.bind.push(Bind {
                host,
                sandbox,
                mode,
                special: args.allow_special,
            });
        }
    }
    if let Some(home) = &args.home {
        // `~` is expanded first: made absolute, it would name ./~ instead.
        let persist = std::path::absolute(expand_home(home)?)
            .with_context(|| format!("invalid --home {}", home.display()))?;
        policy.filesystem.home = Some(Home { persist });
    }
    network::apply_overrides(
        &mut policy.network,
        args.net.as_deref(),
        args.net_allow_lan,
        &args.net_forward,
    )?;
    for pair in &args.env {
        let Some((name, value)) = pair.split_once('=') else {
            bail!("invalid --env {pair:?}: expected NAME=VALUE");
        };
        policy
            .environment
            .set
            .insert(name.to_owned(), value.to_owned());
    }
    Ok(())
}

fn expand_home(path: &Path) -> Result<PathBuf> {
    let Ok(rest) = path.strip_prefix("~") else {
        return Ok(path.to_owned());
    };
    let home = std::env::var_os("HOME").context("failed to expand ~: HOME is not set")?;
    Ok(PathBuf::from(home).join(rest))
}

fn spec(policy: &Policy, argv: Vec<std::ffi::OsString>) -> Result<Spec> {
    let mut binds = Vec::with_capacity(policy.filesystem.bind.len());
    for bind in &policy.filesystem.bind {
        // Opened and checked (kind, symlinks) when the sandbox is prepared.
        let host = expand_home(&bind.host)?;
        let target = match &bind.sandbox {
            Some(target) if target.starts_with("~") => {
                let rest = target.strip_prefix("~").unwrap_or(target);
                Path::new(wsbox_sandbox::plan::SANDBOX_HOME).join(rest)
            }
            Some(target) => target.clone(),
            None => host.clone(),
        };
        binds.push(BindSpec {
            host,
            target,
            writable: bind.mode == Access::Rw,
            special: bind.special,
        });
    }
    let mut id = [0u8; 16];
    getrandom(&mut id)?;
    // SAFETY: no arguments.
    let (euid, egid) = unsafe { (libc::geteuid(), libc::getegid()) };
    Ok(Spec {
        argv,
        hostname: policy.identity.hostname.clone(),
        machine_id: random_machine_id(id),
        binds,
        sys: policy.filesystem.sys,
        env: environment(
            std::env::vars_os(),
            &policy.environment.pass,
            &policy.environment.set,
        ),
        landlock: policy.security.landlock,
        host_ids: HostIds::for_caller(euid, egid),
        home: None,
        net: Default::default(),
        boot_id: {
            let mut bytes = [0u8; 16];
            getrandom(&mut bytes)?;
            random_boot_id(bytes)
        },
        resolv_conf: None,
    })
}

pub(crate) fn getrandom(buf: &mut [u8]) -> Result<()> {
    // SAFETY: the kernel writes at most buf.len() bytes into buf.
    let n = unsafe { libc::getrandom(buf.as_mut_ptr().cast(), buf.len(), 0) };
    if n != buf.len() as isize {
        bail!(
            "failed to read random bytes: {}",
            std::io::Error::last_os_error()
        );
    }
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

/// Out of fds: frees the spare one to accept the pending connection and
/// close it at once, then keeps a duplicate of the listening socket as the
/// new spare (opening files is no longer possible once wsbox is confined).
fn refuse_without_fds(
    socket: &ListeningSocket,
    spare: &mut Option<std::os::fd::OwnedFd>,
    error: &std::io::Error,
) {
    use std::os::fd::AsFd;
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
