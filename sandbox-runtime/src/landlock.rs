//! Landlock for the app: read and execute everywhere in the sandbox's tree,
//! write only where the plan mounted something writable, device ioctls only in
//! /dev; plus abstract-unix-socket and signal scoping from ABI 6 on.
//!
//! The mounts already enforce most of this. Landlock makes it hold even for a
//! process that finds a way around a mount (a leaked fd to a directory, a
//! bind it managed to create), the way rust-landlock's sandboxer uses it.

use std::path::{Path, PathBuf};

use landlock::{
    Access, AccessFs, CompatLevel, Compatible, PathBeneath, PathFd, Ruleset, RulesetAttr,
    RulesetCreatedAttr, RulesetStatus, Scope, ABI,
};
use wsbox_policies::Requirement;

/// Errors of the Landlock setup.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("the kernel lacks Landlock, which the policy requires (security.landlock = \"required\"): {0}")]
    Missing(String),
    #[error("failed to open {path} for a Landlock rule: {source}")]
    Path {
        path: PathBuf,
        source: landlock::PathFdError,
    },
    #[error("failed to apply Landlock: {0}")]
    Ruleset(#[from] landlock::RulesetError),
    #[error("Landlock was only partly enforced, and the policy requires it (security.landlock = \"required\")")]
    Partial,
}

/// The Landlock ABI version of the running kernel, or why there is none.
pub fn kernel_abi() -> Result<i32, String> {
    const LANDLOCK_CREATE_RULESET_VERSION: libc::c_uint = 1;
    // SAFETY: the version query takes no ruleset attributes.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_landlock_create_ruleset,
            std::ptr::null::<libc::c_void>(),
            0usize,
            LANDLOCK_CREATE_RULESET_VERSION,
        )
    };
    if rc > 0 {
        Ok(rc as i32)
    } else {
        let err = std::io::Error::last_os_error();
        Err(match err.raw_os_error() {
            Some(libc::ENOSYS) => "the kernel was built without CONFIG_SECURITY_LANDLOCK".into(),
            Some(libc::EOPNOTSUPP) => {
                "Landlock is not enabled at boot (add landlock to the lsm= parameter)".into()
            }
            _ => err.to_string(),
        })
    }
}

/// Fails closed before anything is started when the policy requires Landlock
/// and the kernel has none.
pub fn check(requirement: Requirement) -> Result<Option<i32>, Error> {
    match (kernel_abi(), requirement) {
        (Ok(abi), _) => Ok(Some(abi)),
        (Err(why), Requirement::Required) => Err(Error::Missing(why)),
        (Err(why), Requirement::BestEffort) => {
            tracing::warn!(reason = %why, "Landlock unavailable; running without it (security.landlock = \"best-effort\")");
            Ok(None)
        }
    }
}

fn abi_from(version: i32) -> ABI {
    match version {
        ..=0 => ABI::Unsupported,
        1 => ABI::V1,
        2 => ABI::V2,
        3 => ABI::V3,
        4 => ABI::V4,
        5 => ABI::V5,
        6 => ABI::V6,
        _ => ABI::V7,
    }
}

/// Restricts the calling process (and its future children). `writable` are
/// the paths the app may write; `devices` where it may use device ioctls.
/// Call after no_new_privs.
pub fn restrict(
    kernel: Option<i32>,
    writable: &[PathBuf],
    devices: &[PathBuf],
    requirement: Requirement,
) -> Result<(), Error> {
    let Some(version) = kernel else {
        return Ok(());
    };
    // Handle exactly what this kernel knows, so a hard requirement is met.
    let abi = abi_from(version);
    let level = match requirement {
        Requirement::Required => CompatLevel::HardRequirement,
        Requirement::BestEffort => CompatLevel::BestEffort,
    };
    let all = AccessFs::from_all(abi);
    let read = AccessFs::from_read(abi);
    let open = |path: &Path| {
        PathFd::new(path).map_err(|source| Error::Path {
            path: path.to_owned(),
            source,
        })
    };

    let mut ruleset = Ruleset::default()
        .set_compatibility(level)
        .handle_access(all)?;
    if version >= 6 {
        ruleset = ruleset.scope(Scope::AbstractUnixSocket | Scope::Signal)?;
    }
    let mut created = ruleset
        .create()?
        .add_rule(PathBeneath::new(open(Path::new("/"))?, read))?
        // procfs: programs write /proc/self/* (comm, oom_score_adj, …); the
        // procfs is the sandbox's own and /proc/sys is mounted read-only.
        .add_rule(PathBeneath::new(
            open(Path::new("/proc"))?,
            read | AccessFs::WriteFile,
        ))?;
    for path in devices {
        let mut access = read | AccessFs::WriteFile;
        if abi >= ABI::V5 {
            access |= AccessFs::IoctlDev;
        }
        created = created.add_rule(PathBeneath::new(open(path)?, access))?;
    }
    for path in writable {
        created = created.add_rule(PathBeneath::new(open(path)?, all))?;
    }
    let status = created.restrict_self()?;
    match (status.ruleset, requirement) {
        (RulesetStatus::FullyEnforced, _) => Ok(()),
        (_, Requirement::Required) => Err(Error::Partial),
        (other, Requirement::BestEffort) => {
            tracing::warn!(status = ?other, "Landlock not fully enforced");
            Ok(())
        }
    }
}
