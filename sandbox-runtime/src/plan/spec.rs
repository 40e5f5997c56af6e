//! What a sandbox should be, as the `wsbox` binary resolves it from the
//! policy and the command line: [`Spec`] and its parts, the app's
//! environment, and the random ids each sandbox shows. Data only: nothing
//! here reads the host or decides a mount.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

use wsbox_policies::Requirement;

use super::inside::{SANDBOX_HOME, SANDBOX_PATH, SANDBOX_RUNTIME_DIR, SANDBOX_USER};
use crate::network::NetSpec;

/// The host uid and gid a sandbox started by root runs as: the app never runs as
/// host uid 0. 65534 is `nobody`/`nogroup` on Debian.
pub const ROOT_MAPPED_ID: u32 = 65534;

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
    /// The app may create user (and PID, network, IPC, UTS) namespaces
    /// nested in its own, for browsers' own sandboxes.
    pub nested_userns: bool,
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
    /// Host files granted read-write as documents: each is copied into a
    /// directory of its own below [`super::DOCS_DIR`] before the app starts.
    pub documents: Vec<DocumentSpec>,
    /// Files wsbox writes into the sandbox before the app starts; each
    /// path must be one of [`super::GENERATED_PLACES`] or below one.
    pub files: Vec<FileSpec>,
    /// Programs pid 1 starts right after the app, confined as the app is (the
    /// private D-Bus daemon).
    pub services: Vec<ServiceSpec>,
    /// The size of the one tmpfs every writable tmpfs place of the sandbox
    /// is a directory of (/tmp, /var/tmp, /dev/shm, the home unless it is
    /// the host's, the runtime directory, the documents): their total.
    pub tmpfs_size: u64,
    /// The resource limits pid 1 sets before it starts the services and
    /// the app.
    pub rlimits: Rlimits,
    /// Open fds (wsbox's, inherited by pid 1) of the `tasks` files of the
    /// sandbox's cgroup v1 hierarchies: pid 1 moves itself in by writing 0
    /// to each, first thing after wsbox's go. A thread that moves itself
    /// skips the lock that a move of another process takes, which waits
    /// for an RCU grace period (about 10 ms). Empty when wsbox moves pid 1
    /// itself (cgroup v2) or there is no cgroup.
    pub cgroup_join: Vec<i32>,
}

/// The resource limits of everything in a sandbox, set by its pid 1 (soft
/// and hard alike, so the app cannot raise them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rlimits {
    /// RLIMIT_NOFILE.
    pub files: u64,
    /// RLIMIT_NPROC, where it counts the sandbox's own tasks only (the
    /// binary decides: see `src/limits/`).
    pub tasks: Option<u64>,
}

/// A file written into the sandbox before the app starts, mode 0644.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileSpec {
    pub path: PathBuf,
    pub contents: Vec<u8>,
}

/// A program pid 1 starts right after the app, in the sandbox and confined
/// as the app is, and leaves running until the sandbox ends. What the app
/// connects to meanwhile waits in sockets wsbox made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceSpec {
    /// What the service is, for error messages ("the session bus").
    pub what: String,
    /// Absolute path of the program inside, then its arguments.
    pub argv: Vec<OsString>,
    /// Its complete environment.
    pub env: Vec<(OsString, OsString)>,
    /// A listening socket of wsbox's, open in wsbox (and so in pid 1), that
    /// the service gets as fd 3 with `LISTEN_FDS=1` and `LISTEN_PID` set to
    /// its pid, as systemd's socket activation passes it.
    pub listen_fd: Option<i32>,
    /// More fds of wsbox's, open in wsbox (and so in pid 1), that the
    /// service gets as fds 3, 4, … in this order (after the listening
    /// socket, if any, which is 3). Its arguments name them by number.
    pub fds: Vec<i32>,
}

impl ServiceSpec {
    /// A service's environment: its home, PATH, locale and runtime
    /// directory inside the sandbox, then `extra`.
    pub fn env_with(extra: &[(&str, &str)]) -> Vec<(OsString, OsString)> {
        [
            ("HOME", super::SANDBOX_HOME),
            ("PATH", "/usr/bin:/bin"),
            ("LANG", "C.UTF-8"),
            ("XDG_RUNTIME_DIR", super::SANDBOX_RUNTIME_DIR),
        ]
        .iter()
        .chain(extra)
        .map(|(k, v)| ((*k).into(), (*v).into()))
        .collect()
    }
}

/// One document grant at start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocumentSpec {
    /// Absolute host path of the file.
    pub host: PathBuf,
    /// Its name inside its directory (the host file's own name).
    pub name: OsString,
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
    /// The host uid the app's [`SANDBOX_UID`](super::SANDBOX_UID) maps to.
    pub uid: u32,
    /// The host gid the app's [`SANDBOX_GID`](super::SANDBOX_GID) maps to.
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

/// What each toolkit needs to choose Wayland on its own: set in the
/// display modes unless the policy or `--env` sets them. Without them Qt 5
/// looks for an X server and aborts, Firefox and SDL may try X11 first.
pub const WAYLAND_TOOLKIT_ENV: &[(&str, &str)] = &[
    ("QT_QPA_PLATFORM", "wayland"),
    ("GDK_BACKEND", "wayland"),
    ("MOZ_ENABLE_WAYLAND", "1"),
    ("SDL_VIDEODRIVER", "wayland"),
    ("CLUTTER_BACKEND", "wayland"),
    ("ELECTRON_OZONE_PLATFORM_HINT", "wayland"),
    // Java's AWT assumes a reparenting window manager otherwise and draws
    // nothing.
    ("_JAVA_AWT_WM_NONREPARENTING", "1"),
];

/// Adds each of `defaults` to `env` unless `env` already names it.
pub fn add_env_defaults(env: &mut Vec<(OsString, OsString)>, defaults: &[(&str, &str)]) {
    for (name, value) in defaults {
        if !env.iter().any(|(n, _)| n.as_bytes() == name.as_bytes()) {
            env.push(((*name).into(), (*value).into()));
        }
    }
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

    #[test]
    fn toolkit_defaults_yield_to_what_is_set() {
        let mut env: Vec<(OsString, OsString)> = vec![("GDK_BACKEND".into(), "x11".into())];
        add_env_defaults(&mut env, WAYLAND_TOOLKIT_ENV);
        let get = |name: &str| {
            env.iter()
                .filter(|(n, _)| n == name)
                .map(|(_, v)| v.clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(get("GDK_BACKEND"), [OsString::from("x11")]);
        assert_eq!(get("QT_QPA_PLATFORM"), [OsString::from("wayland")]);
        assert_eq!(get("MOZ_ENABLE_WAYLAND"), [OsString::from("1")]);
        assert_eq!(env.len(), WAYLAND_TOOLKIT_ENV.len());
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
