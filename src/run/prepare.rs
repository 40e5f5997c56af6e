//! The `prepare` phase of `wsbox run`: the command line and the policy
//! become the sandbox's spec, the files it is granted, its network plan and
//! the compositor's configuration; the runtime directory is made, and the
//! persistent home if the policy has one (both removed again when a later
//! phase fails). Nothing here may start a process or open a socket: what
//! can be refused is refused before anything runs.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use wsbox_compositor::clipboard::ClipboardConfig;
use wsbox_compositor::Config;
use wsbox_compositor::KeyboardConfig;
use wsbox_policies::{
    check_grace, Access, Bind, ClipboardMode, Home, HostDecorations, MachineId, Policy,
};
use wsbox_sandbox::hostpath::Created;
use wsbox_sandbox::plan::{environment, random_boot_id, random_machine_id, DocumentSpec};
use wsbox_sandbox::{BindSpec, HostIds, Spec};

use crate::cli::{DisplayMode, RunArgs};
use crate::files::{self, Grants};
use crate::identity;
use crate::instance::{Info, Instance};
use crate::net::{self, Setup};
use crate::util::getrandom;

/// What `prepare` decided, for the phases after it.
#[derive(Debug)]
pub struct Plan {
    /// The compositor's configuration; None with `--display none`.
    pub compositor: Option<Config>,
    /// `--display window`: the output is shown in a window of the host's
    /// session.
    pub window: bool,
    pub timeout: Option<Duration>,
    /// How long the app has to exit after `wsbox stop` and after the
    /// timeout asked its windows to close.
    pub grace: Duration,
    pub timeout_grace: Duration,
    /// Where `--screenshot` writes the output when the timeout ends the run.
    pub screenshot: Option<PathBuf>,
    /// The sandbox to make; `display` adds the Wayland socket to it.
    pub spec: Spec,
    /// The files granted on the command line, as the running wsbox records
    /// them.
    pub grants: Grants,
    pub network: Setup,
    /// The sandbox's name.
    pub name: String,
    /// The persistent home, when this run made it: removed again unless the
    /// sandbox starts.
    pub home_created: Option<Created>,
    /// Warnings for the user, printed once the sandbox is about to start
    /// (an error before then is the only line).
    pub warnings: Vec<String>,
    /// The program's file on the host, opened in the display modes: read
    /// only if the app fails without a window (the X11 hint), after wsbox
    /// has confined itself and may not open it any more.
    pub program_file: Option<std::fs::File>,
    /// The portal and its private bus, unless `--no-portal`, the policy,
    /// or `--display none` without the policy asking for one.
    pub portal: Option<PortalPlan>,
    /// The portal's bus, once `display` made its socket.
    pub bus: Option<crate::portal::bus::Bus>,
    /// The host's accessibility bus is asked for (`a11y.enabled`, with a
    /// display): `display` asks.
    pub a11y_wanted: bool,
    /// The accessibility helper, once `display` found the host's bus.
    pub a11y: Option<crate::a11y::A11y>,
    /// Sound (`--audio`, `[audio]`): `display` starts the audio helper
    /// unless it is `none`.
    pub audio_grant: wsbox_policies::Audio,
    /// The audio helper and its endpoint (src/audio/mod.rs).
    pub audio: Option<crate::audio::Audio>,
    /// X11 programs (`--x11`, `[display] x11`): `display` makes Xwayland's
    /// sockets.
    pub x11_wanted: bool,
    /// Xwayland's fds, until pid 1 has its own.
    pub xwayland: Option<super::x11::Xwayland>,
    /// The sandbox's cgroup, when it can have one: pid 1 joins it before
    /// it starts anything; removed once the sandbox has ended.
    pub cgroup: Option<crate::limits::cgroup::Cgroup>,
    /// The runtime directory, removed when dropped: last, so that it
    /// outlives the rest of the plan.
    pub instance: Instance,
}

/// What the portal is started with.
#[derive(Debug)]
pub struct PortalPlan {
    /// Opened files become documents (read-write).
    pub writable: bool,
    /// Host paths never granted, `~` expanded; wsbox's own and /proc,
    /// /sys, /dev added.
    pub never: Vec<PathBuf>,
    /// The headless settings (window mode asks the host's portal).
    pub settings: crate::portal::settings::Settings,
    pub net: crate::portal::server::NetInfo,
    /// Where links the app opens go (`portal.open_uri`); None: nowhere.
    pub open_uri: Option<crate::portal::opener::Target>,
    /// Notifications go to the host (listed, and shown in window mode).
    pub notify_host: bool,
    /// `portal.print`: the app may print at all.
    pub print: bool,
    /// `portal.print_to`, made and opened (headless and `--display none`).
    pub printer: Option<std::sync::Arc<crate::portal::print::Printer>>,
    /// The helper for links and the host's notifications, forked in
    /// `start` when either needs it.
    pub opener: Option<std::sync::Arc<crate::portal::opener::Opener>>,
}

/// Decides everything about the sandbox that can be decided before it
/// exists.
pub fn prepare(args: &RunArgs) -> Result<Plan> {
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

    let mut policy = load_policy(args)?;
    apply_overrides(&mut policy, args)?;
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
    spec.documents = grants
        .documents
        .iter()
        .map(|d| DocumentSpec {
            host: d.host.clone(),
            name: d.name.clone(),
        })
        .collect();
    let network = net::plan(&policy.network, getrandom)?;
    spec.net = network.spec.clone();
    spec.resolv_conf = network.resolv_conf.clone();
    if let Some(resolv) = &network.host_resolv_conf {
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
    let mut portal = portal_plan(&policy, args, display, network.mode)?;
    let audio = wsbox_policies::Audio {
        allow: args.audio.unwrap_or(policy.audio.allow),
        record_denied: policy.audio.record_denied,
    };
    let info = |name: &str, limits: Option<crate::limits::LimitsInfo>| Info {
        name: name.to_owned(),
        pid: std::process::id(),
        program: program.clone(),
        profile: args.profile.clone(),
        display: display_name.to_owned(),
        network: network.mode.name().to_owned(),
        started,
        bus: portal.is_some(),
        audio: audio.allow.name().to_owned(),
        limits,
    };
    // The cgroup is named after the sandbox, and `wsbox ps` shows it.
    let mut applied = None;
    let instance = Instance::create(args.name.as_deref(), &program, |name| {
        let limits = crate::limits::apply(name, &policy.limits)?;
        let shown = info(name, Some(limits.info.clone()));
        applied = Some(limits);
        Ok(shown)
    })?;
    let name = instance.name();
    let limits = applied.context("the sandbox's limits were not applied")?;
    spec.tmpfs_size = limits.tmpfs;
    spec.rlimits = limits.rlimits;
    spec.cgroup_join = limits
        .cgroup
        .as_ref()
        .map(crate::limits::cgroup::Cgroup::join_fds)
        .unwrap_or_default();
    let mut home_created = None;
    if let Some(home) = &policy.filesystem.home {
        let (path, created) = files::persistent_home(&home.persist, &name, spec.host_ids)?;
        spec.home = Some(path);
        home_created = Some(created);
    }
    if let (Some(portal), Some(template), false, true) = (
        portal.as_mut(),
        &policy.portal.print_to,
        display == DisplayMode::Window,
        policy.portal.print,
    ) {
        portal.printer = Some(std::sync::Arc::new(print_dir(template, &name)?));
    }
    files::check_read_only_sources(&spec.binds, spec.home.as_deref())?;
    let mut warnings = files::unwritable(&spec.binds, spec.host_ids);
    warnings.extend(limits.warning.clone());
    if policy.identity.machine_id == MachineId::Stable {
        spec.machine_id = identity::stable_machine_id(&identity::key_dir()?, &name)?;
    }

    let x11_wanted = args.x11 || policy.display.x11;
    if x11_wanted {
        if display == DisplayMode::None {
            anyhow::bail!(
                "--x11 (or the policy's [display] x11) needs a display: X11 windows are shown by \
                 the sandbox's compositor, which --display none does not start"
            );
        }
        super::x11::check()?;
    }
    let compositor = (display != DisplayMode::None).then(|| Config {
        keep_last_frame: args.screenshot.is_some(),
        ..compositor_config(&policy, &name, output)
    });
    Ok(Plan {
        compositor,
        window: display == DisplayMode::Window,
        timeout,
        grace: policy.lifecycle.grace(),
        timeout_grace: policy.lifecycle.timeout_grace(),
        screenshot: args.screenshot.clone(),
        spec,
        grants,
        network,
        name,
        home_created,
        warnings,
        program_file: None,
        portal,
        bus: None,
        a11y_wanted: policy.a11y.enabled && display != DisplayMode::None,
        a11y: None,
        audio_grant: audio,
        audio: None,
        x11_wanted,
        xwayland: None,
        cgroup: limits.cgroup,
        instance,
    })
}

/// Whether the sandbox gets a portal, and what it may grant.
fn portal_plan(
    policy: &Policy,
    args: &RunArgs,
    display: DisplayMode,
    mode: wsbox_policies::NetworkMode,
) -> Result<Option<PortalPlan>> {
    let wanted = policy
        .portal
        .enabled
        .unwrap_or(display != DisplayMode::None);
    if args.no_portal || !wanted {
        return Ok(None);
    }
    let mut never = Vec::new();
    for path in &policy.portal.never {
        never.push(canonical(&expand_home(Path::new(path))?));
    }
    never.extend(crate::portal::ALWAYS_NEVER.iter().map(PathBuf::from));
    // wsbox's own: every sandbox's runtime directory and the key of the
    // stable machine ids.
    if let Ok(base) = crate::instance::base_dir() {
        never.push(canonical(&base));
    }
    if let Ok(keys) = identity::key_dir() {
        never.push(canonical(&keys));
    }
    use wsbox_policies::NetworkMode;
    let net = crate::portal::server::NetInfo {
        available: mode != NetworkMode::None,
        proxy: (mode == NetworkMode::Tor).then(|| "socks5://127.0.0.1:9050".to_owned()),
    };
    use crate::portal::opener::Target;
    use wsbox_policies::{OpenUri, UriAction};
    let open_uri = match &policy.portal.open_uri {
        OpenUri::Action(UriAction::Deny) => None,
        OpenUri::Action(UriAction::Host) => Some(Target::Host),
        OpenUri::Sandbox(target) => Some(Target::Sandbox {
            profile: target.sandbox.clone(),
            // Checked with the policy: a profile without a usual program
            // names one.
            program: target.program().unwrap_or_default().to_owned(),
            // The links open where this sandbox's windows are.
            display: if display == DisplayMode::Window {
                "window"
            } else {
                "headless"
            }
            .to_owned(),
        }),
    };
    Ok(Some(PortalPlan {
        open_uri,
        notify_host: policy.portal.notifications == wsbox_policies::NotificationsTo::Host,
        printer: None,
        print: policy.portal.print,
        opener: None,
        writable: policy.portal.open == wsbox_policies::OpenAccess::ReadWrite,
        never,
        settings: crate::portal::settings::Settings::from_policy(&policy.portal.settings),
        net,
    }))
}

/// The printer of `portal.print_to` for the sandbox `name`: the directory
/// made (0700, kept) and opened.
fn print_dir(template: &str, name: &str) -> Result<crate::portal::print::Printer> {
    let path = expand_home(Path::new(&template.replace("<name>", name)))?;
    let path = std::path::absolute(&path)
        .with_context(|| format!("invalid portal.print_to {}", path.display()))?;
    if let Some(home) = std::env::var_os("HOME") {
        if Path::new(&home).starts_with(&path) {
            anyhow::bail!(
                "refusing portal.print_to {}: it holds the home; name a directory of its own",
                path.display()
            );
        }
    }
    let (opened, created) = wsbox_sandbox::hostpath::create_dirs(&path, 0o700)
        .map_err(|e| anyhow::anyhow!("failed to use portal.print_to {e}"))?;
    created.keep();
    if opened.kind != wsbox_sandbox::hostpath::Kind::Dir {
        anyhow::bail!(
            "failed to use portal.print_to {}: not a directory",
            path.display()
        );
    }
    let dir = crate::files::reopen_for_passing(&opened, false)
        .with_context(|| format!("failed to open portal.print_to {}", path.display()))?;
    Ok(crate::portal::print::Printer::new(path, dir))
}

/// `path` as the kernel names it when it exists (so that a link to a place
/// never granted is refused too), else as written.
fn canonical(path: &Path) -> PathBuf {
    std::fs::canonicalize(path).unwrap_or_else(|_| path.to_owned())
}

/// The compositor's configuration for the sandbox `name`: the policy's
/// display, keyboard and clipboard, and `--output`.
fn compositor_config(policy: &Policy, name: &str, output: (i32, i32, f64)) -> Config {
    Config {
        name: name.to_owned(),
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
        keep_last_frame: false,
        input_method: policy.keyboard.input_method,
    }
}

/// Whether wsbox itself runs in a Wayland session it can show a window in.
fn host_session() -> bool {
    std::env::var_os("WAYLAND_DISPLAY").is_some_and(|d| !d.is_empty())
        || std::env::var_os("WAYLAND_SOCKET").is_some()
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
    if let Some(grace) = args.grace {
        check_grace(grace).map_err(|e| anyhow::anyhow!("invalid --grace {grace}: {e}"))?;
        policy.lifecycle.grace = grace;
    }
    if let Some(grace) = args.timeout_grace {
        check_grace(grace).map_err(|e| anyhow::anyhow!("invalid --timeout-grace {grace}: {e}"))?;
        policy.lifecycle.timeout_grace = grace;
    }
    if let Some(home) = &args.home {
        // `~` is expanded first: made absolute, it would name ./~ instead.
        let persist = std::path::absolute(expand_home(home)?)
            .with_context(|| format!("invalid --home {}", home.display()))?;
        policy.filesystem.home = Some(Home { persist });
    }
    net::apply_overrides(
        &mut policy.network,
        args.net.as_deref(),
        args.net_allow_lan,
        &args.net_forward,
    )?;
    if let Some(memory) = &args.memory {
        policy.limits.memory = memory
            .parse()
            .map_err(|e| anyhow::anyhow!("invalid --memory: {e}"))?;
    }
    if let Some(tasks) = args.tasks {
        policy.limits.tasks = tasks;
    }
    if let Some(tmpfs) = &args.tmpfs {
        policy.limits.tmpfs = tmpfs
            .parse()
            .map_err(|e| anyhow::anyhow!("invalid --tmpfs: {e}"))?;
    }
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
        nested_userns: policy.security.nested_userns,
        host_ids: HostIds::for_caller(euid, egid),
        home: None,
        net: Default::default(),
        boot_id: {
            let mut bytes = [0u8; 16];
            getrandom(&mut bytes)?;
            random_boot_id(bytes)
        },
        resolv_conf: None,
        documents: Vec::new(),
        files: Vec::new(),
        services: Vec::new(),
        // Set once the sandbox has a name ([`crate::limits::apply`]).
        tmpfs_size: policy.limits.tmpfs.bytes(),
        rlimits: wsbox_sandbox::plan::Rlimits {
            files: policy.limits.files,
            tasks: None,
        },
        cgroup_join: Vec::new(),
    })
}
