//! Turns a [`Spec`] into the ordered list of setup steps a sandbox runs.
//!
//! Everything here is pure: the facts about the host that the plan depends on
//! are gathered once into a [`HostLayout`], so the plan can be unit-tested for
//! merged-/usr and split layouts alike. The executors in `mount.rs` and
//! `process.rs` carry the steps out and must never decide anything themselves.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use wsbox_policies::Requirement;

use crate::network::NetSpec;

/// The uid and gid the app has inside every sandbox.
pub const SANDBOX_UID: u32 = 1000;
/// The gid the app has inside every sandbox.
pub const SANDBOX_GID: u32 = 1000;
/// The app's user name inside; never the host user's name.
pub const SANDBOX_USER: &str = "user";
/// The app's home inside.
pub const SANDBOX_HOME: &str = "/home/user";
/// The app's private XDG_RUNTIME_DIR inside.
pub const SANDBOX_RUNTIME_DIR: &str = "/run/user/1000";
/// The host uid and gid a sandbox started by root runs as: the app never runs as
/// host uid 0. 65534 is `nobody`/`nogroup` on Debian.
pub const ROOT_MAPPED_ID: u32 = 65534;
/// Where granted files appear inside: file arguments, `--file`, and
/// `wsbox add-file`. A tmpfs wsbox seals read-only; nothing in it is
/// writable under Landlock.
pub const FILES_DIR: &str = "/run/wsbox/files";
/// Where read-write file grants appear; the only place below [`FILES_DIR`]
/// that Landlock lets the app write.
pub const FILES_RW_DIR: &str = "/run/wsbox/files/rw";
/// The places the app may write under Landlock whatever the shares are;
/// `rw` shares add their targets.
pub const WRITABLE_PLACES: &[&str] = &[
    "/dev/shm",
    "/tmp",
    "/var/tmp",
    SANDBOX_RUNTIME_DIR,
    SANDBOX_HOME,
    FILES_RW_DIR,
];
/// PATH inside the sandbox.
pub const SANDBOX_PATH: &str = "/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin";

/// Top-level directories that are either symlinks into /usr (merged /usr) or
/// real directories to bind read-only.
const SYSTEM_DIRS: &[&str] = &["bin", "sbin", "lib", "lib32", "lib64", "libx32"];

/// The part of the host's /etc that ordinary programs need, bound read-only.
/// Anything not listed stays invisible: shadow, ssh keys, NetworkManager
/// connections, the host's machine-id and hostname, sudoers, crontabs, …
pub const ETC_ALLOWLIST: &[&str] = &[
    "alternatives",
    "bash.bashrc",
    "ca-certificates",
    "debian_version",
    "dconf",
    "fonts",
    "gai.conf",
    "glvnd",
    "gtk-2.0",
    "gtk-3.0",
    "host.conf",
    "inputrc",
    "ld.so.cache",
    "ld.so.conf",
    "ld.so.conf.d",
    "locale.alias",
    "locale.conf",
    "localtime",
    "magic",
    "magic.mime",
    "mailcap",
    "mime.types",
    "nsswitch.conf",
    "os-release",
    "pki",
    "profile",
    "protocols",
    "services",
    "shells",
    "ssl",
    "terminfo",
    "timezone",
    "vulkan",
    "X11",
    "xdg",
];

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

/// What a sandbox should be: the policy and the command line, resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spec {
    /// The program and its arguments.
    pub argv: Vec<OsString>,
    pub hostname: String,
    /// The contents of /etc/machine-id: 32 lowercase hex digits and a newline.
    pub machine_id: String,
    pub binds: Vec<BindSpec>,
    pub sys: bool,
    /// The complete environment of the app.
    pub env: Vec<(OsString, OsString)>,
    pub landlock: Requirement,
    pub host_ids: HostIds,
    /// A host directory bound read-write as the app's home instead of an
    /// empty tmpfs.
    pub home: Option<PathBuf>,
    /// The network namespace: own or the host's, sockets, blocked ranges.
    pub net: NetSpec,
    /// What /proc/sys/kernel/random/boot_id shows: a UUID and a newline.
    pub boot_id: String,
    /// The contents of /etc/resolv.conf, when wsbox generates it.
    pub resolv_conf: Option<String>,
}

/// One host path bound into the sandbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BindSpec {
    /// Absolute host path.
    pub host: PathBuf,
    /// Absolute path inside the sandbox.
    pub target: PathBuf,
    pub writable: bool,
    /// A device, socket or FIFO may be bound (explicitly granted).
    pub special: bool,
}

/// Who the sandbox is on the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HostIds {
    /// The host uid the app's [`SANDBOX_UID`] maps to.
    pub uid: u32,
    /// The host gid the app's [`SANDBOX_GID`] maps to.
    pub gid: u32,
    /// wsbox runs as root: the map is written with privilege and supplementary
    /// groups are cleared, instead of denying setgroups.
    pub privileged: bool,
}

impl HostIds {
    /// The ids for the calling process: its own, or [`ROOT_MAPPED_ID`] for root.
    pub fn for_caller(euid: u32, egid: u32) -> Self {
        if euid == 0 {
            Self {
                uid: ROOT_MAPPED_ID,
                gid: ROOT_MAPPED_ID,
                privileged: true,
            }
        } else {
            Self {
                uid: euid,
                gid: egid,
                privileged: false,
            }
        }
    }
}

/// What the plan needs to know about the host's file system.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostLayout {
    /// Top-level system directories: name → `Some(link target)` for a symlink,
    /// `None` for a real directory. Absent names do not exist.
    pub system_dirs: BTreeMap<String, Option<PathBuf>>,
    /// Allowlisted /etc entries that exist: name → what they are.
    pub etc: BTreeMap<String, EtcEntry>,
}

/// The kind of an /etc entry on the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EtcEntry {
    File,
    Dir,
    Symlink(PathBuf),
}

impl HostLayout {
    /// Reads the layout of the host root `root` (normally `/`).
    pub fn probe(root: &Path) -> Self {
        let mut layout = HostLayout::default();
        for name in SYSTEM_DIRS {
            let path = root.join(name);
            match std::fs::symlink_metadata(&path) {
                Ok(meta) if meta.file_type().is_symlink() => {
                    if let Ok(target) = std::fs::read_link(&path) {
                        layout.system_dirs.insert((*name).to_owned(), Some(target));
                    }
                }
                Ok(meta) if meta.is_dir() => {
                    layout.system_dirs.insert((*name).to_owned(), None);
                }
                _ => {}
            }
        }
        for name in ETC_ALLOWLIST {
            let path = root.join("etc").join(name);
            let entry = match std::fs::symlink_metadata(&path) {
                Ok(meta) if meta.file_type().is_symlink() => match std::fs::read_link(&path) {
                    Ok(target) => EtcEntry::Symlink(target),
                    Err(_) => continue,
                },
                Ok(meta) if meta.is_dir() => EtcEntry::Dir,
                Ok(meta) if meta.is_file() => EtcEntry::File,
                _ => continue,
            };
            layout.etc.insert((*name).to_owned(), entry);
        }
        layout
    }
}

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
        let mut m = Vec::new();
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
        m.push(tmpfs("/dev/shm", 0o1777, false));
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
                _ => m.push(tmpfs(path, mode, false)),
            }
            // /run itself stays read-only (sealed below), so that the files
            // place inside it is not writable under Landlock.
            if path != "/run" {
                writable.push(path.into());
            }
        }
        m.push(dir("/run/wsbox", 0o755));
        m.push(dir(FILES_DIR, 0o755));
        m.push(tmpfs(FILES_DIR, 0o755, false));
        m.push(dir(FILES_RW_DIR, 0o755));
        writable.push(FILES_RW_DIR.into());

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

/// The app's environment: a fixed base, the allowlisted host variables that are
/// set, then the policy's fixed values. Nothing else from the host.
pub fn environment(
    host: impl IntoIterator<Item = (OsString, OsString)>,
    pass: &[String],
    set: &BTreeMap<String, String>,
) -> Vec<(OsString, OsString)> {
    let mut env: BTreeMap<OsString, OsString> = [
        ("HOME", SANDBOX_HOME),
        ("USER", SANDBOX_USER),
        ("LOGNAME", SANDBOX_USER),
        ("SHELL", "/bin/sh"),
        ("PATH", SANDBOX_PATH),
        ("XDG_RUNTIME_DIR", SANDBOX_RUNTIME_DIR),
        ("LANG", "C.UTF-8"),
        ("TERM", "dumb"),
    ]
    .into_iter()
    .map(|(k, v)| (k.into(), v.into()))
    .collect();
    for (name, value) in host {
        if pass.iter().any(|p| p.as_bytes() == name.as_bytes()) && !value.as_bytes().contains(&0) {
            env.insert(name, value);
        }
    }
    for (name, value) in set {
        env.insert(name.into(), value.into());
    }
    env.into_iter().collect()
}

/// A boot id as the kernel shows it: a version 4 UUID and a newline.
pub fn random_boot_id(mut bytes: [u8; 16]) -> String {
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}\n",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

/// A random machine id: 128 bits from the kernel, as 32 hex digits.
pub fn random_machine_id(bytes: [u8; 16]) -> String {
    let mut id: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    id.push('\n');
    id
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> Spec {
        Spec {
            argv: vec!["/bin/true".into()],
            hostname: "sandbox".into(),
            machine_id: random_machine_id([7; 16]),
            binds: vec![],
            sys: false,
            env: vec![],
            landlock: Requirement::Required,
            host_ids: HostIds::for_caller(1000, 1000),
            home: None,
            net: NetSpec::default(),
            boot_id: random_boot_id([9; 16]),
            resolv_conf: None,
        }
    }

    fn merged() -> HostLayout {
        let mut host = HostLayout::default();
        for name in ["bin", "sbin", "lib", "lib64"] {
            host.system_dirs
                .insert(name.into(), Some(PathBuf::from(format!("usr/{name}"))));
        }
        host.etc.insert("ld.so.cache".into(), EtcEntry::File);
        host.etc.insert("fonts".into(), EtcEntry::Dir);
        host.etc.insert(
            "localtime".into(),
            EtcEntry::Symlink("/usr/share/zoneinfo/Etc/UTC".into()),
        );
        host
    }

    fn index(plan: &Plan, pred: impl Fn(&MountStep) -> bool) -> usize {
        plan.mounts
            .iter()
            .position(pred)
            .unwrap_or_else(|| panic!("step missing from {:#?}", plan.mounts))
    }

    fn targets(plan: &Plan) -> Vec<PathBuf> {
        plan.mounts
            .iter()
            .filter_map(|s| match s {
                MountStep::Bind { target, .. } => Some(target.clone()),
                MountStep::Symlink { link, .. } => Some(link.clone()),
                MountStep::File { path, .. } => Some(path.clone()),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn merged_usr_gets_symlinks_not_binds() {
        let plan = Plan::new(&spec(), &merged());
        assert!(plan.mounts.contains(&symlink("usr/bin", "/bin")));
        assert!(plan.mounts.contains(&symlink("usr/lib64", "/lib64")));
        assert!(plan.mounts.contains(&ro_bind("/usr", "/usr")));
    }

    #[test]
    fn split_usr_gets_read_only_binds() {
        let mut host = merged();
        host.system_dirs.insert("bin".into(), None);
        host.system_dirs.remove("lib64");
        let plan = Plan::new(&spec(), &host);
        assert!(plan.mounts.contains(&ro_bind("/bin", "/bin")));
        assert!(!targets(&plan).contains(&PathBuf::from("/lib64")));
    }

    #[test]
    fn etc_holds_only_the_allowlist_and_generated_files() {
        let plan = Plan::new(&spec(), &merged());
        let etc: Vec<_> = targets(&plan)
            .into_iter()
            .filter(|p| p.starts_with("/etc"))
            .collect();
        for forbidden in [
            "shadow",
            "gshadow",
            "ssh",
            "NetworkManager",
            "sudoers",
            "subuid",
        ] {
            assert!(!etc.contains(&PathBuf::from("/etc").join(forbidden)));
            assert!(!ETC_ALLOWLIST.contains(&forbidden));
        }
        for generated in ["passwd", "group", "hostname", "hosts", "machine-id"] {
            let path = PathBuf::from("/etc").join(generated);
            assert!(
                plan.mounts
                    .iter()
                    .any(|s| matches!(s, MountStep::File { path: p, .. } if *p == path)),
                "{generated} not generated"
            );
            assert!(
                !ETC_ALLOWLIST.contains(&generated),
                "{generated} is bound from the host"
            );
        }
        assert!(plan
            .mounts
            .contains(&ro_bind("/etc/ld.so.cache", "/etc/ld.so.cache")));
        assert!(plan
            .mounts
            .contains(&symlink("/usr/share/zoneinfo/Etc/UTC", "/etc/localtime")));
    }

    #[test]
    fn generated_identity_is_the_sandbox_s() {
        let plan = Plan::new(&spec(), &merged());
        let contents = |name: &str| {
            plan.mounts
                .iter()
                .find_map(|s| match s {
                    MountStep::File { path, contents, .. } if path.ends_with(name) => {
                        Some(String::from_utf8_lossy(contents).into_owned())
                    }
                    _ => None,
                })
                .unwrap()
        };
        assert_eq!(contents("hostname"), "sandbox\n");
        assert_eq!(contents("machine-id"), format!("{}\n", "07".repeat(16)));
        let passwd = contents("passwd");
        assert!(passwd.contains("user:x:1000:1000:user:/home/user:/bin/sh"));
        assert_eq!(passwd.lines().count(), 3);
    }

    #[test]
    fn proc_is_masked_after_it_is_mounted_and_sys_made_read_only() {
        let plan = Plan::new(&spec(), &merged());
        let proc_at = index(&plan, |s| matches!(s, MountStep::Proc { .. }));
        let ro = index(
            &plan,
            |s| matches!(s, MountStep::ReadOnly { path } if path == Path::new("/proc/sys")),
        );
        let kcore = index(
            &plan,
            |s| matches!(s, MountStep::MaskFile { path } if path == Path::new("/proc/kcore")),
        );
        assert!(proc_at < ro && ro < kcore);
        for masked in ["/proc/keys", "/proc/timer_list", "/proc/sysrq-trigger"] {
            assert!(plan.mounts.contains(&MountStep::MaskFile {
                path: masked.into()
            }));
        }
    }

    #[test]
    fn dev_is_minimal() {
        let plan = Plan::new(&spec(), &merged());
        let devices: Vec<_> = plan
            .mounts
            .iter()
            .filter_map(|s| match s {
                MountStep::Bind {
                    target,
                    device: true,
                    ..
                } => Some(target.clone()),
                _ => None,
            })
            .collect();
        let expected: Vec<PathBuf> = DEVICES.iter().map(|d| Path::new("/dev").join(d)).collect();
        assert_eq!(devices, expected);
        let dev_tmpfs = index(
            &plan,
            |s| matches!(s, MountStep::Tmpfs { target, .. } if target == Path::new("/dev")),
        );
        let first_device = index(&plan, |s| matches!(s, MountStep::Bind { device: true, .. }));
        assert!(dev_tmpfs < first_device);
        assert!(plan.mounts.contains(&symlink("pts/ptmx", "/dev/ptmx")));
        let sealed = index(
            &plan,
            |s| matches!(s, MountStep::Seal { path } if path == Path::new("/dev")),
        );
        let last_dev = plan
            .mounts
            .iter()
            .rposition(|s| match s {
                MountStep::Bind { target: p, .. }
                | MountStep::Tmpfs { target: p, .. }
                | MountStep::Symlink { link: p, .. }
                | MountStep::Devpts { target: p }
                | MountStep::Dir { path: p, .. } => p.starts_with("/dev"),
                _ => false,
            })
            .unwrap();
        assert!(last_dev < sealed, "/dev sealed before it is complete");
    }

    #[test]
    fn only_device_binds_allow_devices_and_only_grants_are_writable() {
        let mut s = spec();
        s.binds.push(BindSpec {
            host: "/srv/data".into(),
            target: "/data".into(),
            writable: true,
            special: false,
        });
        s.binds.push(BindSpec {
            host: "/srv/ro".into(),
            target: "/ro".into(),
            writable: false,
            special: false,
        });
        let plan = Plan::new(&s, &merged());
        for step in &plan.mounts {
            if let MountStep::Bind {
                target,
                writable,
                device,
                ..
            } = step
            {
                if *device {
                    assert!(target.starts_with("/dev"));
                } else {
                    assert_eq!(
                        *writable,
                        target == Path::new("/data"),
                        "{} writable={writable}",
                        target.display()
                    );
                }
            }
        }
        assert!(plan.writable.contains(&PathBuf::from("/data")));
        assert!(!plan.writable.contains(&PathBuf::from("/ro")));
        assert!(!plan
            .writable
            .iter()
            .any(|p| p.starts_with("/usr") || p.starts_with("/etc")));
    }

    #[test]
    fn user_binds_come_after_the_system_tree() {
        let mut s = spec();
        s.binds.push(BindSpec {
            host: "/srv/a".into(),
            target: "/home/user/a".into(),
            writable: false,
            special: false,
        });
        let plan = Plan::new(&s, &merged());
        let home = index(
            &plan,
            |s| matches!(s, MountStep::Tmpfs { target, .. } if target == Path::new(SANDBOX_HOME)),
        );
        let bind = index(
            &plan,
            |s| matches!(s, MountStep::Bind { target, .. } if target == Path::new("/home/user/a")),
        );
        assert!(home < bind);
    }

    #[test]
    fn boot_id_is_covered_after_proc_sys_is_read_only() {
        let plan = Plan::new(&spec(), &merged());
        let ro = index(
            &plan,
            |s| matches!(s, MountStep::ReadOnly { path } if path == Path::new("/proc/sys")),
        );
        let cover = index(
            &plan,
            |s| matches!(s, MountStep::Cover { path, .. } if path == Path::new(BOOT_ID)),
        );
        assert!(ro < cover);
        assert!(plan.mounts.contains(&MountStep::Cover {
            path: BOOT_ID.into(),
            contents: b"09090909-0909-4909-8909-090909090909\n".to_vec(),
        }));
    }

    #[test]
    fn sysfs_serials_and_addresses_are_masked_after_the_mount() {
        let mut s = spec();
        s.sys = true;
        let plan = Plan::new(&s, &merged());
        let sysfs = index(&plan, |s| matches!(s, MountStep::Sysfs { .. }));
        let dmi = index(
            &plan,
            |s| matches!(s, MountStep::MaskDir { path } if path == Path::new("/sys/devices/virtual/dmi/id")),
        );
        let mac = index(
            &plan,
            |s| matches!(s, MountStep::MaskEach { dir, file } if dir == Path::new("/sys/class/net") && file == Path::new("address")),
        );
        let serial = index(
            &plan,
            |s| matches!(s, MountStep::MaskEach { dir, file } if dir == Path::new("/sys/block") && file == Path::new("device/serial")),
        );
        assert!(sysfs < dmi && sysfs < mac && sysfs < serial);
        let without = Plan::new(&spec(), &merged());
        assert!(!without
            .mounts
            .iter()
            .any(|s| matches!(s, MountStep::MaskEach { .. })));
    }

    #[test]
    fn resolv_conf_only_when_given() {
        let has = |plan: &Plan| {
            plan.mounts.iter().any(
                |s| matches!(s, MountStep::File { path, .. } if path == Path::new("/etc/resolv.conf")),
            )
        };
        assert!(!has(&Plan::new(&spec(), &merged())));
        let mut s = spec();
        s.resolv_conf = Some("nameserver 10.0.2.3\n".into());
        assert!(has(&Plan::new(&s, &merged())));
    }

    #[test]
    fn sys_only_when_asked() {
        let plan = Plan::new(&spec(), &merged());
        assert!(!plan
            .mounts
            .iter()
            .any(|s| matches!(s, MountStep::Sysfs { .. })));
        let mut s = spec();
        s.sys = true;
        let plan = Plan::new(&s, &merged());
        assert!(plan
            .mounts
            .iter()
            .any(|s| matches!(s, MountStep::Sysfs { .. })));
    }

    #[test]
    fn writable_places_are_the_plan_s() {
        let plan = Plan::new(&spec(), &merged());
        let mut listed: Vec<PathBuf> = WRITABLE_PLACES.iter().map(PathBuf::from).collect();
        let mut planned = plan.writable.clone();
        listed.sort();
        planned.sort();
        assert_eq!(listed, planned);
    }

    #[test]
    fn tmpfs_places_exist_and_home_is_private() {
        let plan = Plan::new(&spec(), &merged());
        for (path, mode) in [
            ("/tmp", 0o1777),
            ("/var/tmp", 0o1777),
            ("/run", 0o755),
            (SANDBOX_HOME, 0o700),
            (SANDBOX_RUNTIME_DIR, 0o700),
        ] {
            assert!(plan.mounts.contains(&tmpfs(path, mode, false)), "{path}");
            assert_eq!(
                plan.writable.contains(&PathBuf::from(path)),
                path != "/run",
                "{path}"
            );
        }
    }

    #[test]
    fn files_place_is_sealed_after_its_binds_and_read_only_under_landlock() {
        let mut s = spec();
        s.binds.push(BindSpec {
            host: "/srv/doc.pdf".into(),
            target: Path::new(FILES_DIR).join("doc.pdf"),
            writable: false,
            special: false,
        });
        let plan = Plan::new(&s, &merged());
        let place = index(
            &plan,
            |s| matches!(s, MountStep::Tmpfs { target, .. } if target == Path::new(FILES_DIR)),
        );
        let bind = index(
            &plan,
            |s| matches!(s, MountStep::Bind { target, .. } if target.starts_with(FILES_DIR)),
        );
        let sealed = index(
            &plan,
            |s| matches!(s, MountStep::Seal { path } if path == Path::new(FILES_DIR)),
        );
        let run_sealed = index(
            &plan,
            |s| matches!(s, MountStep::Seal { path } if path == Path::new("/run")),
        );
        assert!(place < bind && bind < sealed && bind < run_sealed);
        // Landlock grants are inherited by everything below: no writable
        // place may contain a read-only file grant.
        for w in &plan.writable {
            assert!(
                !Path::new(FILES_DIR).join("doc.pdf").starts_with(w),
                "{} is writable and holds the files place",
                w.display()
            );
        }
        assert!(plan.writable.contains(&PathBuf::from(FILES_RW_DIR)));
    }

    #[test]
    fn persistent_home_is_a_writable_bind_instead_of_a_tmpfs() {
        let mut s = spec();
        s.home = Some("/home/alice/.local/share/wsbox/app".into());
        s.binds.push(BindSpec {
            host: "/srv/a".into(),
            target: "/home/user/a".into(),
            writable: false,
            special: false,
        });
        let plan = Plan::new(&s, &merged());
        assert!(!plan.mounts.contains(&tmpfs(SANDBOX_HOME, 0o700, false)));
        let home = index(
            &plan,
            |s| matches!(s, MountStep::Bind { target, writable: true, .. } if target == Path::new(SANDBOX_HOME)),
        );
        let inside = index(
            &plan,
            |s| matches!(s, MountStep::Bind { target, .. } if target == Path::new("/home/user/a")),
        );
        assert!(home < inside);
        assert!(plan.writable.contains(&PathBuf::from(SANDBOX_HOME)));
    }

    #[test]
    fn confinement_order_ends_with_seccomp_then_exec() {
        let order = CONFINE_ORDER;
        let pos = |step| order.iter().position(|s| *s == step).unwrap();
        // Capabilities go once the fds and the terminal are gone.
        assert!(pos(ConfineStep::CloseFds) < pos(ConfineStep::DropCapabilities));
        assert!(pos(ConfineStep::Setsid) < pos(ConfineStep::DropCapabilities));
        assert!(pos(ConfineStep::DropCapabilities) < pos(ConfineStep::NoNewPrivs));
        assert!(pos(ConfineStep::NoNewPrivs) < pos(ConfineStep::Landlock));
        assert!(pos(ConfineStep::Landlock) < pos(ConfineStep::Seccomp));
        assert_eq!(order[order.len() - 2], ConfineStep::Seccomp);
        assert_eq!(order[order.len() - 1], ConfineStep::Exec);
    }

    #[test]
    fn root_is_mapped_to_nobody_and_users_to_themselves() {
        assert_eq!(
            HostIds::for_caller(0, 0),
            HostIds {
                uid: 65534,
                gid: 65534,
                privileged: true
            }
        );
        assert_eq!(
            HostIds::for_caller(1234, 99),
            HostIds {
                uid: 1234,
                gid: 99,
                privileged: false
            }
        );
    }

    #[test]
    fn environment_is_an_allowlist() {
        let host = [
            ("DBUS_SESSION_BUS_ADDRESS", "unix:path=/run/user/0/bus"),
            ("WAYLAND_DISPLAY", "wayland-1"),
            ("SSH_AUTH_SOCK", "/tmp/ssh"),
            ("LANG", "de_DE.UTF-8"),
            ("HOME", "/root"),
            ("TERM", "xterm"),
        ]
        .map(|(k, v)| (OsString::from(k), OsString::from(v)));
        let mut set = BTreeMap::new();
        set.insert("FOO".to_owned(), "bar".to_owned());
        let env = environment(host, &["LANG".into(), "TERM".into()], &set);
        let get = |k: &str| {
            env.iter()
                .find(|(n, _)| n == k)
                .map(|(_, v)| v.to_string_lossy().into_owned())
        };
        assert_eq!(get("LANG").as_deref(), Some("de_DE.UTF-8"));
        assert_eq!(get("TERM").as_deref(), Some("xterm"));
        assert_eq!(get("HOME").as_deref(), Some(SANDBOX_HOME));
        assert_eq!(get("FOO").as_deref(), Some("bar"));
        assert_eq!(get("XDG_RUNTIME_DIR").as_deref(), Some(SANDBOX_RUNTIME_DIR));
        for leaked in [
            "DBUS_SESSION_BUS_ADDRESS",
            "WAYLAND_DISPLAY",
            "SSH_AUTH_SOCK",
        ] {
            assert_eq!(get(leaked), None, "{leaked} leaked");
        }
    }
}
