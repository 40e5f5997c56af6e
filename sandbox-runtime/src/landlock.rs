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
        // A writable file (a read-write file grant) takes only the rights
        // that apply to files.
        let access = if path.is_dir() {
            all
        } else {
            all & AccessFs::from_file(abi)
        };
        created = created.add_rule(PathBeneath::new(open(path)?, access))?;
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

#[cfg(test)]
mod tests {
    //! Each test forks; the child restricts itself and reports through its
    //! exit code, so the test process stays unconfined.

    use super::*;

    use crate::testutil::{in_child, no_new_privs};

    fn errno(result: std::io::Result<()>) -> i32 {
        match result {
            Ok(()) => 0,
            Err(e) => e.raw_os_error().unwrap_or(99),
        }
    }

    #[test]
    fn writes_only_where_granted_reads_everywhere() {
        let Ok(abi) = kernel_abi() else {
            if std::env::var_os("WSBOX_MUST_WORK").is_some() {
                panic!("Landlock is unavailable but WSBOX_MUST_WORK is set");
            }
            eprintln!("SKIPPED: writes_only_where_granted_reads_everywhere: no Landlock");
            return;
        };
        let dir = std::env::temp_dir().join(format!("wsbox-landlock-{}", std::process::id()));
        let granted = dir.join("granted");
        let denied = dir.join("denied");
        std::fs::create_dir_all(&granted).unwrap();
        std::fs::create_dir_all(&denied).unwrap();
        std::fs::write(denied.join("existing"), "x").unwrap();
        let (g, d) = (granted.clone(), denied.clone());
        let code = in_child(move || {
            // SAFETY: plain prctl.
            unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) };
            if restrict(
                Some(abi),
                std::slice::from_ref(&g),
                &[],
                Requirement::Required,
            )
            .is_err()
            {
                return 50;
            }
            let write_granted = errno(std::fs::write(g.join("f"), "ok"));
            let write_denied = errno(std::fs::write(d.join("f"), "no"));
            let read_denied = errno(std::fs::read(d.join("existing")).map(drop));
            match (write_granted, write_denied, read_denied) {
                (0, libc::EACCES, 0) => 0,
                (0, _, _) => 2,
                _ => 1,
            }
        });
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!(
            code, 0,
            "1: granted write failed, 2: denied write allowed, 50: restrict failed"
        );
    }

    #[test]
    fn signal_scoping_from_abi_6() {
        match kernel_abi() {
            Ok(abi) if abi >= 6 => {}
            _ => {
                if std::env::var_os("WSBOX_MUST_WORK").is_some() {
                    panic!("Landlock ABI 6 is unavailable but WSBOX_MUST_WORK is set");
                }
                eprintln!("SKIPPED: signal_scoping_from_abi_6: Landlock ABI < 6");
                return;
            }
        }
        let code = in_child(|| {
            no_new_privs();
            // SAFETY: plain getppid and kill.
            let parent = unsafe { libc::getppid() };
            // SAFETY: signal 0 only checks permission.
            if unsafe { libc::kill(parent, 0) } != 0 {
                return 3; // control: must work before Landlock
            }
            if restrict(kernel_abi().ok(), &[], &[], Requirement::Required).is_err() {
                return 50;
            }
            // SAFETY: as above.
            let rc = unsafe { libc::kill(parent, 0) };
            let err = std::io::Error::last_os_error().raw_os_error();
            if rc != 0 && err == Some(libc::EPERM) {
                0
            } else {
                4
            }
        });
        assert_eq!(
            code, 0,
            "3: control failed, 4: signal not scoped, 50: restrict failed"
        );
    }
}
