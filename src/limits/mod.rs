//! How much of the machine a sandbox may take: the policy's `[limits]` and
//! `--memory`, `--tasks`, `--tmpfs`, turned into what the system offers.
//!
//! - Always: the writable tmpfs places share one tmpfs of `tmpfs` bytes
//!   (the plan's scratch space), and pid 1 sets RLIMIT_NOFILE to `files`
//!   and RLIMIT_CORE to 0 for everything in the sandbox.
//! - Where wsbox may make a cgroup (root, or a delegated subtree): memory
//!   (no swap beyond it), tasks and CPU weight, in a cgroup of the sandbox's
//!   own that pid 1 joins before it starts anything ([`cgroup`]). wsbox and
//!   its compositor stay outside it.
//! - Where it may not: RLIMIT_NPROC for the tasks, which since Linux 5.14
//!   counts the tasks of the sandbox's own user namespace only; memory and
//!   CPU weight are then not limited, and one warning line says so (an
//!   error with `required = true`).

pub mod cgroup;

use std::path::PathBuf;

use anyhow::{bail, Result};
use serde::{Deserialize, Serialize};
use wsbox_sandbox::plan::Rlimits;

use cgroup::{Cgroup, Version, Wanted};

/// What a sandbox runs with, for `wsbox ps`: each limit in force (None
/// where none could be set) and where its use is read.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LimitsInfo {
    /// Bytes.
    pub memory: Option<u64>,
    /// Processes and threads.
    pub tasks: Option<u64>,
    /// Bytes of all the writable tmpfs places together.
    pub tmpfs: u64,
    /// The share of CPU time when the CPU is busy, 1–10000 (100 is
    /// every other process's).
    pub cpu_weight: Option<u32>,
    /// RLIMIT_NOFILE.
    pub files: u64,
    /// The cgroup's version, when the sandbox has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cgroup: Option<Version>,
    /// Its directories (v1: memory, pids, cpu).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cgroup_dirs: Vec<PathBuf>,
}

/// The limits as applied.
#[derive(Debug)]
pub struct Applied {
    pub cgroup: Option<Cgroup>,
    pub rlimits: Rlimits,
    pub tmpfs: u64,
    pub info: LimitsInfo,
    /// One line naming what could not be limited, and why.
    pub warning: Option<String>,
}

/// Makes the sandbox `name`'s cgroup, or decides what stands in for it.
pub fn apply(name: &str, limits: &wsbox_policies::Limits) -> Result<Applied> {
    let memory = limits.memory.bytes(host_memory());
    let wanted = Wanted {
        memory,
        tasks: limits.tasks,
        cpu_weight: limits.cpu_weight,
    };
    let tmpfs = limits.tmpfs.bytes();
    let mut info = LimitsInfo {
        memory: None,
        tasks: None,
        tmpfs,
        cpu_weight: None,
        files: limits.files,
        cgroup: None,
        cgroup_dirs: Vec::new(),
    };
    let mut rlimits = Rlimits {
        files: limits.files,
        tasks: None,
    };
    match Cgroup::create(name, wanted) {
        Ok(cgroup) => {
            info.memory = Some(memory);
            info.tasks = Some(u64::from(limits.tasks));
            info.cpu_weight = cgroup.cpu.then_some(limits.cpu_weight);
            info.cgroup = Some(cgroup.version);
            info.cgroup_dirs = cgroup.dirs().to_vec();
            let mut unset = Vec::new();
            if !cgroup.cpu {
                unset.push("its CPU weight is not set (no cpu controller for its cgroup)");
            }
            if !cgroup.swap && swap_in_use() {
                unset.push(
                    "its swap is not limited beyond its memory (the kernel does not account \
                     swap: boot it with swapaccount=1)",
                );
            }
            let warning =
                (!unset.is_empty()).then(|| format!("the sandbox's limits: {}", unset.join("; ")));
            Ok(Applied {
                cgroup: Some(cgroup),
                rlimits,
                tmpfs,
                info,
                warning,
            })
        }
        Err(why) => {
            let nproc = nproc_is_per_namespace();
            let missing = if nproc {
                "memory and cpu_weight"
            } else {
                "memory, tasks and cpu_weight"
            };
            if limits.required {
                bail!(
                    "limits.required: the sandbox can have no cgroup ({why}), so its {missing} \
                     cannot be limited"
                );
            }
            if nproc {
                rlimits.tasks = Some(u64::from(limits.tasks));
                info.tasks = rlimits.tasks;
            }
            Ok(Applied {
                cgroup: None,
                rlimits,
                tmpfs,
                info,
                warning: Some(format!(
                    "the sandbox's {missing} are not limited: it can have no cgroup ({why}); \
                     set limits.required = true to refuse such a start"
                )),
            })
        }
    }
}

/// Whether the host has swap space in use (a line below /proc/swaps's
/// header).
fn swap_in_use() -> bool {
    std::fs::read_to_string("/proc/swaps").is_ok_and(|text| text.lines().count() > 1)
}

/// The host's memory in bytes (0 if the kernel does not say).
fn host_memory() -> u64 {
    // SAFETY: sysinfo fills the struct it is given.
    let mut info: libc::sysinfo = unsafe { std::mem::zeroed() };
    // SAFETY: a valid pointer to the struct above.
    if unsafe { libc::sysinfo(&mut info) } != 0 {
        return 0;
    }
    info.totalram.saturating_mul(u64::from(info.mem_unit))
}

/// Whether RLIMIT_NPROC counts the tasks of a user namespace only (Linux
/// 5.14 and later): then it limits the sandbox's tasks without counting the
/// user's others.
fn nproc_is_per_namespace() -> bool {
    let Ok(uname) = nix::sys::utsname::uname() else {
        return false;
    };
    kernel_at_least(&uname.release().to_string_lossy(), (5, 14))
}

fn kernel_at_least(release: &str, wanted: (u32, u32)) -> bool {
    let mut parts = release
        .split(|c: char| !c.is_ascii_digit())
        .map(|p| p.parse::<u32>().ok());
    match (parts.next().flatten(), parts.next().flatten()) {
        (Some(major), Some(minor)) => (major, minor) >= wanted,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_versions_compare_by_number() {
        assert!(kernel_at_least("6.18.44-fc-v1272", (5, 14)));
        assert!(kernel_at_least("5.14.0", (5, 14)));
        assert!(!kernel_at_least("5.10.0-28-amd64", (5, 14)));
        assert!(!kernel_at_least("4.19", (5, 14)));
        assert!(!kernel_at_least("garbage", (5, 14)));
    }

    #[test]
    fn the_host_has_memory() {
        assert!(host_memory() > 64 << 20);
    }
}
