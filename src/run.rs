//! `wsbox run`: policy → spec → sandbox → exit status.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use wsbox_policies::{Access, Bind, Policy};
use wsbox_sandbox::plan::{environment, random_machine_id};
use wsbox_sandbox::{BindSpec, HostIds, HostLayout, Prepared, Spec};

use crate::cli::{DisplayMode, RunArgs};

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
    if display != DisplayMode::None {
        let name = match display {
            DisplayMode::Window => "window",
            DisplayMode::Headless => "headless",
            DisplayMode::None => "none",
        };
        bail!(
            "display mode {name} is not available yet (the compositor is not built); \
             use --display none"
        );
    }
    let timeout = match args.timeout {
        None => None,
        Some(secs) if secs.is_finite() && secs > 0.0 && secs < 1e9 => {
            Some(Duration::from_secs_f64(secs))
        }
        Some(secs) => bail!("invalid --timeout {secs}: expected a positive number of seconds"),
    };

    let mut policy = load_policy(&args)?;
    apply_overrides(&mut policy, &args)?;
    policy
        .validate("given on the command line")
        .context("invalid command line")?;

    let spec = spec(&policy, args.command)?;
    let prepared = Prepared::new(spec, &HostLayout::probe(Path::new("/")))?;
    tracing::debug!(landlock_abi = ?prepared.landlock_abi(), steps = prepared.plan().mounts.len(), "sandbox prepared");
    let sandbox = wsbox_sandbox::spawn(&prepared)?;
    let outcome = sandbox.wait(timeout)?;
    if let Some(failure) = outcome.failure {
        eprintln!("wsbox: {failure}");
    }
    Ok(outcome.code)
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
            });
        }
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
        let host = expand_home(&bind.host)?;
        let resolved = std::fs::canonicalize(&host)
            .with_context(|| format!("failed to bind {} into the sandbox", host.display()))?;
        let meta = std::fs::metadata(&resolved)
            .with_context(|| format!("failed to bind {} into the sandbox", host.display()))?;
        if !(meta.is_dir() || meta.is_file()) {
            bail!(
                "failed to bind {} into the sandbox: not a regular file or directory",
                host.display()
            );
        }
        let target = match &bind.sandbox {
            Some(target) if target.starts_with("~") => {
                let rest = target.strip_prefix("~").unwrap_or(target);
                Path::new(wsbox_sandbox::plan::SANDBOX_HOME).join(rest)
            }
            Some(target) => target.clone(),
            None => host.clone(),
        };
        binds.push(BindSpec {
            host: resolved,
            target,
            writable: bind.mode == Access::Rw,
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
    })
}

fn getrandom(buf: &mut [u8]) -> Result<()> {
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
