//! Turns a [`Spec`] into the ordered list of setup steps a sandbox runs.
//!
//! Everything here is pure: the facts about the host that the plan depends on
//! are gathered once into a [`HostLayout`], so the plan can be unit-tested for
//! merged-/usr and split layouts alike. The executors in `mount` and
//! `process` carry the steps out and must never decide anything themselves.
//!
//! This module builds the [`Plan`] and holds what it masks; `spec` holds the
//! input ([`Spec`] and its parts), `host` the [`HostLayout`], and `inside`
//! the fixed names every sandbox has. All of it is re-exported here.

use std::path::PathBuf;

pub mod etc;
mod host;
mod inside;
mod spec;

pub use etc::ETC_NEVER;
pub use host::{EtcEntry, HostLayout, ETC_ALLOWLIST, FONT_CACHE};
pub use inside::{
    document_dir, DOCS_DIR, FILES_DIR, FILES_RW_DIR, GENERATED_DIR, GENERATED_PLACES, SANDBOX_GID,
    SANDBOX_HOME, SANDBOX_PATH, SANDBOX_RUNTIME_DIR, SANDBOX_UID, SANDBOX_USER, WRITABLE_PLACES,
};
pub use spec::{
    add_env_defaults, environment, random_boot_id, random_machine_id, BindSpec, DocumentSpec,
    FileSpec, HostIds, Rlimits, ServiceSpec, Spec, ROOT_MAPPED_ID, WAYLAND_TOOLKIT_ENV,
};

/// Files in a fresh procfs that leak kernel or host state; each is covered
/// with /dev/null when present.
pub const PROC_MASKED_FILES: &[&str] = &[
    // The kernel command line may name the root file system's UUID.
    "/proc/cmdline",
    "/proc/config.gz",
    // Machine-wide counters that change with every interrupt and disk
    // access: two sandboxes reading them at once could tell they share a
    // machine; and the host's disks and swap.
    "/proc/diskstats",
    "/proc/interrupts",
    "/proc/softirqs",
    "/proc/partitions",
    "/proc/swaps",
    "/proc/kallsyms",
    "/proc/kcore",
    "/proc/key-users",
    "/proc/keys",
    "/proc/kpagecgroup",
    "/proc/kpagecount",
    "/proc/kpageflags",
    "/proc/latency_stats",
    "/proc/sched_debug",
    "/proc/sysrq-trigger",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/vmallocinfo",
];

/// Directories in a fresh procfs that describe hardware or drivers; each is
/// covered with an empty read-only tmpfs when present.
pub const PROC_MASKED_DIRS: &[&str] = &[
    "/proc/acpi",
    "/proc/asound",
    "/proc/bus",
    "/proc/driver",
    "/proc/irq",
    "/proc/scsi",
];

/// Sysfs places that identify the machine (DMI: serials, UUIDs, asset
/// tags, raw tables), each covered with an empty read-only tmpfs when
/// `filesystem.sys` mounts a sysfs.
pub const SYS_MASKED_DIRS: &[&str] = &[
    "/sys/devices/virtual/dmi/id",
    "/sys/firmware/dmi",
    "/sys/firmware/acpi/tables",
];

/// Per-device sysfs files that carry hardware addresses or serials:
/// `(directory of devices, file below each device)`, each covered with
/// /dev/null when present.
pub const SYS_MASKED_EACH: &[(&str, &str)] = &[
    ("/sys/class/net", "address"),
    ("/sys/class/net", "perm_address"),
    ("/sys/class/ieee80211", "macaddress"),
    ("/sys/class/ieee80211", "addresses"),
    ("/sys/class/bluetooth", "address"),
    ("/sys/block", "serial"),
    ("/sys/block", "device/serial"),
    ("/sys/block", "device/wwid"),
    ("/sys/block", "device/vpd_pg80"),
    ("/sys/block", "device/vpd_pg83"),
    ("/sys/block", "wwid"),
    ("/sys/block", "eui"),
    ("/sys/block", "nguid"),
    ("/sys/block", "uuid"),
    ("/sys/class/nvme", "serial"),
    ("/sys/class/nvme", "subsysnqn"),
    ("/sys/class/nvme-subsystem", "serial"),
    ("/sys/class/nvme-subsystem", "subsysnqn"),
    ("/sys/bus/scsi/devices", "vpd_pg80"),
    ("/sys/bus/scsi/devices", "vpd_pg83"),
    ("/sys/bus/scsi/devices", "wwid"),
    ("/sys/bus/mmc/devices", "serial"),
    ("/sys/bus/mmc/devices", "cid"),
    // USB devices (a boot stick) and input devices (Bluetooth addresses).
    ("/sys/bus/usb/devices", "serial"),
    ("/sys/class/input", "uniq"),
    // Monitors' EDID: model, serial number and week of manufacture.
    ("/sys/class/drm", "edid"),
    ("/sys/class/power_supply", "serial_number"),
];

/// The kernel's random id of this boot: covered with the sandbox's own.
pub const BOOT_ID: &str = "/proc/sys/kernel/random/boot_id";

/// The only device nodes inside; `/dev/ptmx` comes from a private devpts.
pub const DEVICES: &[&str] = &["null", "zero", "full", "random", "urandom", "tty"];

/// A mount-namespace setup step. Paths are inside the new root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MountStep {
    /// Bind a host path; read-only unless `writable`. Always nosuid; nodev
    /// unless `device` (the few device nodes of /dev).
    Bind {
        source: PathBuf,
        target: PathBuf,
        writable: bool,
        device: bool,
    },
    /// A fresh tmpfs, nosuid and nodev.
    Tmpfs {
        target: PathBuf,
        mode: u32,
        noexec: bool,
    },
    /// The sandbox's scratch space: one tmpfs of `size` bytes (nosuid,
    /// nodev) outside the new root, of which each [`MountStep::Scratch`]
    /// binds a directory. Every writable tmpfs place shares it, so `size`
    /// is their total.
    ScratchSpace {
        size: u64,
    },
    /// A new directory of the scratch space, mode `mode`, bound at `target`.
    Scratch {
        target: PathBuf,
        mode: u32,
    },
    Dir {
        path: PathBuf,
        mode: u32,
    },
    Symlink {
        /// The link's contents.
        target: PathBuf,
        link: PathBuf,
    },
    File {
        path: PathBuf,
        contents: Vec<u8>,
        mode: u32,
    },
    /// A new procfs for the sandbox's PID namespace.
    Proc {
        target: PathBuf,
    },
    /// Make an already mounted subtree read-only (bind onto itself).
    ReadOnly {
        path: PathBuf,
    },
    /// Make one mount (a tmpfs wsbox filled) read-only, leaving the mounts
    /// below it as they are.
    Seal {
        path: PathBuf,
    },
    /// Cover a file with /dev/null, if it exists.
    MaskFile {
        path: PathBuf,
    },
    /// Cover a directory with an empty read-only tmpfs, if it exists.
    MaskDir {
        path: PathBuf,
    },
    /// A private devpts instance.
    Devpts {
        target: PathBuf,
    },
    /// A read-only sysfs.
    Sysfs {
        target: PathBuf,
    },
    /// Cover a file with a read-only file holding `contents`, if it exists.
    Cover {
        path: PathBuf,
        contents: Vec<u8>,
    },
    /// Cover `dir/*/file` with /dev/null, for each entry of `dir` that has it.
    MaskEach {
        dir: PathBuf,
        file: PathBuf,
    },
    /// A new file at `target` with the contents of the host file `source`
    /// (opened by wsbox), owned by the app: a document grant's copy.
    Copy {
        source: PathBuf,
        target: PathBuf,
    },
}

/// Confinement of the app process after the mount tree is in place, in the
/// order the steps must run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfineStep {
    /// A new session: no controlling terminal, so no TIOCSTI into the host's.
    Setsid,
    /// Every fd but stdio is closed on exec.
    CloseFds,
    /// Bounding, ambient, inheritable, permitted and effective sets emptied;
    /// securebits locked so exec can never regain them.
    DropCapabilities,
    NoNewPrivs,
    Landlock,
    /// The last thing before exec.
    Seccomp,
    Exec,
}

/// The confinement order. bubblewrap and rust-landlock agree: mounts first
/// (they fail after Landlock), then capabilities, then no_new_privs (which
/// Landlock and seccomp require without CAP_SYS_ADMIN), Landlock, and seccomp
/// last so the filter does not have to allow the setup syscalls.
pub const CONFINE_ORDER: &[ConfineStep] = &[
    ConfineStep::Setsid,
    ConfineStep::CloseFds,
    ConfineStep::DropCapabilities,
    ConfineStep::NoNewPrivs,
    ConfineStep::Landlock,
    ConfineStep::Seccomp,
    ConfineStep::Exec,
];

/// Whether `path` is a place a [`FileSpec`] may go ([`GENERATED_PLACES`]):
/// one of them, or a plain name directly in one of the directories.
pub fn generated_place(path: &std::path::Path) -> bool {
    use std::path::Component;
    let plain = path.is_absolute()
        && path
            .components()
            .all(|c| matches!(c, Component::RootDir | Component::Normal(_)));
    plain
        && GENERATED_PLACES.iter().any(|place| {
            path == std::path::Path::new(place)
                || (*place != "/.flatpak-info"
                    && path.parent() == Some(std::path::Path::new(place)))
        })
}

/// The whole plan for one sandbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub mounts: Vec<MountStep>,
    pub confine: &'static [ConfineStep],
    /// Paths inside the sandbox that the app may write, for Landlock.
    pub writable: Vec<PathBuf>,
    /// Read-only paths where the app may also use device ioctls.
    pub devices: Vec<PathBuf>,
}

impl Plan {
    /// Builds the plan for `spec` on a host laid out as `host`.
    pub fn new(spec: &Spec, host: &HostLayout) -> Plan {
        let mut m = vec![MountStep::ScratchSpace {
            size: spec.tmpfs_size,
        }];
        let mut writable = Vec::new();

        m.push(ro_bind("/usr", "/usr"));
        for (name, kind) in &host.system_dirs {
            let path = PathBuf::from("/").join(name);
            match kind {
                Some(target) => m.push(MountStep::Symlink {
                    target: target.clone(),
                    link: path,
                }),
                None => m.push(ro_bind(&path, &path)),
            }
        }

        m.push(dir("/etc", 0o755));
        for (name, entry) in &host.etc {
            let path = PathBuf::from("/etc").join(name);
            m.push(match entry {
                EtcEntry::Symlink(target) => MountStep::Symlink {
                    target: target.clone(),
                    link: path,
                },
                EtcEntry::File | EtcEntry::Dir => ro_bind(&path, &path),
            });
        }
        m.extend(generated_etc(spec));
        if host.font_cache {
            m.push(dir("/var/cache", 0o755));
            m.push(ro_bind(FONT_CACHE, FONT_CACHE));
        }

        m.push(MountStep::Proc {
            target: "/proc".into(),
        });
        m.push(MountStep::ReadOnly {
            path: "/proc/sys".into(),
        });
        m.extend(
            PROC_MASKED_FILES
                .iter()
                .map(|p| MountStep::MaskFile { path: (*p).into() }),
        );
        m.extend(
            PROC_MASKED_DIRS
                .iter()
                .map(|p| MountStep::MaskDir { path: (*p).into() }),
        );
        m.push(MountStep::Cover {
            path: BOOT_ID.into(),
            contents: spec.boot_id.clone().into_bytes(),
        });

        m.push(tmpfs("/dev", 0o755, true));
        for name in DEVICES {
            let path = PathBuf::from("/dev").join(name);
            m.push(MountStep::Bind {
                source: path.clone(),
                target: path,
                writable: true,
                device: true,
            });
        }
        m.push(dir("/dev/pts", 0o755));
        m.push(MountStep::Devpts {
            target: "/dev/pts".into(),
        });
        m.push(symlink("pts/ptmx", "/dev/ptmx"));
        m.push(dir("/dev/shm", 0o755));
        m.push(scratch("/dev/shm", 0o1777));
        m.push(symlink("/proc/self/fd", "/dev/fd"));
        m.push(symlink("/proc/self/fd/0", "/dev/stdin"));
        m.push(symlink("/proc/self/fd/1", "/dev/stdout"));
        m.push(symlink("/proc/self/fd/2", "/dev/stderr"));
        m.push(MountStep::Seal {
            path: "/dev".into(),
        });
        writable.push("/dev/shm".into());

        // Mount points on the root tmpfs are created by the setup process, which
        // already runs as the app's uid: the tmpfs roots belong to the app.
        for (path, mode) in [
            ("/tmp", 0o1777),
            ("/var/tmp", 0o1777),
            ("/run", 0o755),
            (SANDBOX_RUNTIME_DIR, 0o700),
            (SANDBOX_HOME, 0o700),
        ] {
            m.push(dir(path, 0o755));
            match (&spec.home, path) {
                (Some(home), SANDBOX_HOME) => m.push(MountStep::Bind {
                    source: home.clone(),
                    target: path.into(),
                    writable: true,
                    device: false,
                }),
                _ if path == "/run" => m.push(tmpfs(path, mode, false)),
                _ => m.push(scratch(path, mode)),
            }
            // /run itself stays read-only (sealed below), so that the files
            // place inside it is not writable under Landlock.
            if path != "/run" {
                writable.push(path.into());
            }
        }
        m.push(dir("/run/wsbox", 0o755));
        m.push(dir(GENERATED_DIR, 0o755));
        // In places wsbox made above (Prepared checks each path); /run and
        // the root are sealed read-only later, the runtime directory stays
        // the app's.
        m.extend(spec.files.iter().map(|f| MountStep::File {
            path: f.path.clone(),
            contents: f.contents.clone(),
            mode: 0o644,
        }));
        m.push(dir(FILES_DIR, 0o755));
        m.push(tmpfs(FILES_DIR, 0o755, false));
        m.push(dir(FILES_RW_DIR, 0o755));
        writable.push(FILES_RW_DIR.into());
        // Documents: each in a directory of its own on one tmpfs the app
        // may write; the host file is written back by wsbox, never bound.
        m.push(dir(DOCS_DIR, 0o755));
        m.push(scratch(DOCS_DIR, 0o700));
        writable.push(DOCS_DIR.into());
        for (i, doc) in spec.documents.iter().enumerate() {
            let dir_path = document_dir(i + 1);
            m.push(MountStep::Dir {
                path: dir_path.clone(),
                mode: 0o700,
            });
            m.push(MountStep::Copy {
                source: doc.host.clone(),
                target: dir_path.join(&doc.name),
            });
        }

        if spec.sys {
            m.push(dir("/sys", 0o755));
            m.push(MountStep::Sysfs {
                target: "/sys".into(),
            });
            m.extend(
                SYS_MASKED_DIRS
                    .iter()
                    .map(|p| MountStep::MaskDir { path: (*p).into() }),
            );
            m.extend(
                SYS_MASKED_EACH
                    .iter()
                    .map(|(dir, file)| MountStep::MaskEach {
                        dir: (*dir).into(),
                        file: (*file).into(),
                    }),
            );
        }

        for bind in &spec.binds {
            m.push(MountStep::Bind {
                source: bind.host.clone(),
                target: bind.target.clone(),
                writable: bind.writable,
                device: false,
            });
            if bind.writable {
                writable.push(bind.target.clone());
            }
        }

        // Last: every mount point below them exists now.
        m.push(MountStep::Seal {
            path: FILES_DIR.into(),
        });
        m.push(MountStep::Seal {
            path: "/run".into(),
        });

        Plan {
            mounts: m,
            confine: CONFINE_ORDER,
            writable,
            devices: vec!["/dev".into()],
        }
    }
}

fn generated_etc(spec: &Spec) -> Vec<MountStep> {
    let file = |name: &str, contents: String| MountStep::File {
        path: PathBuf::from("/etc").join(name),
        contents: contents.into_bytes(),
        mode: 0o644,
    };
    let mut files = vec![
        file(
            "passwd",
            format!(
                "root:x:0:0:root:/root:/usr/sbin/nologin\n\
                 {SANDBOX_USER}:x:{SANDBOX_UID}:{SANDBOX_GID}:{SANDBOX_USER}:{SANDBOX_HOME}:/bin/sh\n\
                 nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n"
            ),
        ),
        file(
            "group",
            format!("root:x:0:\n{SANDBOX_USER}:x:{SANDBOX_GID}:\nnogroup:x:65534:\n"),
        ),
        file("hostname", format!("{}\n", spec.hostname)),
        file(
            "hosts",
            format!(
                "127.0.0.1\tlocalhost\n127.0.1.1\t{}\n::1\tlocalhost ip6-localhost ip6-loopback\n",
                spec.hostname
            ),
        ),
        file("machine-id", spec.machine_id.clone()),
    ];
    if let Some(resolv) = &spec.resolv_conf {
        files.push(file("resolv.conf", resolv.clone()));
    }
    files
}

fn ro_bind(source: impl Into<PathBuf>, target: impl Into<PathBuf>) -> MountStep {
    MountStep::Bind {
        source: source.into(),
        target: target.into(),
        writable: false,
        device: false,
    }
}

fn scratch(target: &str, mode: u32) -> MountStep {
    MountStep::Scratch {
        target: target.into(),
        mode,
    }
}

fn tmpfs(target: &str, mode: u32, noexec: bool) -> MountStep {
    MountStep::Tmpfs {
        target: target.into(),
        mode,
        noexec,
    }
}

fn dir(path: &str, mode: u32) -> MountStep {
    MountStep::Dir {
        path: path.into(),
        mode,
    }
}

fn symlink(target: &str, link: &str) -> MountStep {
    MountStep::Symlink {
        target: target.into(),
        link: link.into(),
    }
}

#[cfg(test)]
mod tests;
