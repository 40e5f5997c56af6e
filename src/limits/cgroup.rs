//! The sandbox's own cgroup: a child of wsbox's cgroup that wsbox may
//! create (root's, or a subtree delegated to the user), with the memory,
//! task and CPU limits written before pid 1 joins it. wsbox itself, and so
//! the compositor that draws the sandbox's window and marking, stays
//! outside it.
//!
//! cgroup v2 (the unified hierarchy, systemd's default) where the memory
//! and pids controllers are in it; cgroup v1 (separate memory, pids and cpu
//! hierarchies) where they are there. Which directory is wsbox's comes from
//! /proc/self/cgroup, where each hierarchy is mounted from
//! /proc/self/mountinfo.
//!
//! Every file the running wsbox reads later (the OOM count) is opened now:
//! the confined wsbox opens nothing outside its runtime directory. It may
//! only remove directories beneath the parents it was made in
//! ([`Cgroup::parents`]).

use std::fs::File;
use std::io::{self, Read, Seek, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The limits a cgroup is made with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Wanted {
    pub memory: u64,
    pub tasks: u32,
    /// 1 to 10000, cgroup v2's scale (v1's cpu.shares is 1024 for 100).
    pub cpu_weight: u32,
}

/// Which cgroup version a sandbox's cgroup is of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Version {
    /// Version 1: one hierarchy per controller.
    #[serde(rename = "v1")]
    V1,
    /// Version 2: the unified hierarchy.
    #[serde(rename = "v2")]
    V2,
}

/// A sandbox's cgroup, made and limited; removed by [`Cgroup::remove`]
/// once nothing is in it.
#[derive(Debug)]
pub struct Cgroup {
    pub version: Version,
    /// v2: the one directory; v1: the memory, pids and (when there) cpu
    /// directories.
    dirs: Vec<PathBuf>,
    /// Whether the CPU weight was set (v1 without a cpu hierarchy, or v2
    /// without the cpu controller, cannot).
    pub cpu: bool,
    /// memory.events (v2) or memory.oom_control (v1), for the OOM count.
    oom: File,
    /// Whether swap is limited too (the kernel accounts swap).
    pub swap: bool,
    /// v1: the `tasks` files, opened for pid 1 ([`Cgroup::join_fds`]).
    join: Vec<File>,
}

/// The cgroup hierarchies of this process: (mount point, path of the
/// process inside it, controllers) for each one mounted.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Hierarchy {
    dir: PathBuf,
    controllers: Vec<String>,
    v2: bool,
}

/// Reads the hierarchies from /proc/self/cgroup and /proc/self/mountinfo.
fn hierarchies() -> io::Result<Vec<Hierarchy>> {
    let cgroup = read_proc("/proc/self/cgroup")?;
    let mountinfo = read_proc("/proc/self/mountinfo")?;
    Ok(parse_hierarchies(&cgroup, &mountinfo))
}

/// A proc file, read in a few large reads (its size says 0, so
/// `read_to_string` would start at 32 bytes and double).
fn read_proc(path: &str) -> io::Result<String> {
    let mut text = String::with_capacity(8192);
    File::open(path)?.read_to_string(&mut text)?;
    Ok(text)
}

fn parse_hierarchies(cgroup: &str, mountinfo: &str) -> Vec<Hierarchy> {
    // (fstype, mount root, mount point, super options) of each cgroup mount.
    let mounts: Vec<(&str, &str, &str, &str)> = mountinfo
        .lines()
        .filter_map(|line| {
            let (left, right) = line.split_once(" - ")?;
            let left: Vec<&str> = left.split(' ').collect();
            let right: Vec<&str> = right.split(' ').collect();
            let fstype = *right.first()?;
            if fstype != "cgroup" && fstype != "cgroup2" {
                return None;
            }
            Some((fstype, *left.get(3)?, *left.get(4)?, *right.get(2)?))
        })
        .collect();
    let mut out = Vec::new();
    for line in cgroup.lines() {
        let mut parts = line.splitn(3, ':');
        let (Some(_), Some(names), Some(path)) = (parts.next(), parts.next(), parts.next()) else {
            continue;
        };
        let v2 = names.is_empty();
        let controllers: Vec<String> = names
            .split(',')
            .filter(|n| !n.is_empty())
            .map(str::to_owned)
            .collect();
        let mount = mounts.iter().find(|(fstype, _, _, options)| {
            if v2 {
                *fstype == "cgroup2"
            } else {
                *fstype == "cgroup"
                    && controllers
                        .iter()
                        .all(|c| options.split(',').any(|o| o == c))
            }
        });
        let Some((_, root, point, _)) = mount else {
            continue;
        };
        // A mount of part of the hierarchy (a container's) shows the path
        // below its root: whole components of it.
        let root = unescape(root);
        let root = root.trim_end_matches('/');
        let Some(below) = path.strip_prefix(root) else {
            continue;
        };
        if !below.is_empty() && !below.starts_with('/') {
            continue;
        }
        let point = PathBuf::from(unescape(point));
        let below = below.trim_start_matches('/');
        let dir = if below.is_empty() {
            point
        } else {
            point.join(below)
        };
        let controllers = if v2 {
            // v2 names its controllers in the directory.
            std::fs::read_to_string(dir.join("cgroup.controllers"))
                .unwrap_or_default()
                .split_whitespace()
                .map(str::to_owned)
                .collect()
        } else {
            controllers
        };
        out.push(Hierarchy {
            dir,
            controllers,
            v2,
        });
    }
    out
}

/// mountinfo escapes space, tab, newline and backslash as octal.
fn unescape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('\\') {
        out.push_str(&rest[..at]);
        let code = rest.get(at + 1..at + 4);
        match code.and_then(|c| u8::from_str_radix(c, 8).ok()) {
            Some(byte) => {
                out.push(char::from(byte));
                rest = &rest[at + 4..];
            }
            None => {
                out.push('\\');
                rest = &rest[at + 1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// Makes `own/wsbox-UID` (once per user: root's and a user's sandboxes
/// may share a delegated cgroup; v2: with `enable`'s controllers handed
/// down) and `own/wsbox-UID/leaf`.
fn make_leaf(own: &Path, leaf: &str, enable: Option<&str>) -> io::Result<PathBuf> {
    let named =
        |e: io::Error, path: &Path| io::Error::new(e.kind(), format!("{}: {e}", path.display()));
    // SAFETY: no arguments.
    let euid = unsafe { libc::geteuid() };
    let middle = own.join(format!("wsbox-{euid}"));
    match std::fs::create_dir(&middle) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            // Another user of a shared delegated cgroup could have made it
            // to catch this user's sandboxes.
            let owner = std::fs::symlink_metadata(&middle)
                .map_err(|e| named(e, &middle))?
                .uid();
            if owner != euid {
                return Err(io::Error::new(
                    io::ErrorKind::PermissionDenied,
                    format!("{} belongs to uid {owner}, not {euid}", middle.display()),
                ));
            }
            remove_stale(&middle);
        }
        Err(e) => return Err(named(e, &middle)),
    }
    if let Some(enable) = enable {
        write_file(&middle, "cgroup.subtree_control", enable)?;
    }
    let dir = middle.join(leaf);
    std::fs::create_dir(&dir).map_err(|e| named(e, &dir))?;
    Ok(dir)
}

/// How old a sandbox's cgroup must be before another wsbox may take it for
/// one a killed wsbox left: a new one is empty only until pid 1 joins it,
/// milliseconds after it was made.
const STALE_AFTER: std::time::Duration = std::time::Duration::from_secs(10);

/// Removes the cgroups below `middle` that wsboxes which were killed left:
/// empty ones (the kernel refuses to remove others) older than
/// [`STALE_AFTER`].
fn remove_stale(middle: &Path) {
    let Ok(entries) = std::fs::read_dir(middle) else {
        return;
    };
    let now = std::time::SystemTime::now();
    // Directories only, known from the entries' types: a v1 cgroup
    // directory holds dozens of control files, not worth a stat each.
    for entry in entries.flatten() {
        if !entry.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        let old = entry
            .metadata()
            .and_then(|m| m.modified())
            .is_ok_and(|t| now.duration_since(t).is_ok_and(|age| age > STALE_AFTER));
        if old {
            let _ = std::fs::remove_dir(entry.path());
        }
    }
}

fn write_file(dir: &Path, name: &str, value: &str) -> io::Result<()> {
    let path = dir.join(name);
    let mut file = std::fs::OpenOptions::new().write(true).open(&path)?;
    file.write_all(value.as_bytes())
        .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))
}

/// Whether wsbox may make cgroups in `dir`, or why not.
fn writable(dir: &Path) -> Result<(), String> {
    match nix::unistd::access(dir, nix::unistd::AccessFlags::W_OK) {
        Ok(()) => Ok(()),
        Err(nix::errno::Errno::EACCES | nix::errno::Errno::EPERM) => {
            Err(format!("{} is not delegated to this user", dir.display()))
        }
        Err(e) => Err(format!("{}: {e}", dir.display())),
    }
}

impl Cgroup {
    /// Makes the cgroup `wsbox-UID/NAME-TAG` (TAG random) below wsbox's own with `wanted`'s
    /// limits, or says why there is none to be had (one line). The
    /// directory `wsbox-UID` between them is made once and stays: the confined
    /// wsbox may remove directories beneath it and nowhere else (the roots
    /// of v1 hierarchies are not even writable without root's
    /// capabilities, which wsbox drops).
    pub fn create(name: &str, wanted: Wanted) -> Result<Cgroup, String> {
        let hierarchies =
            hierarchies().map_err(|e| format!("cannot read this process's cgroups: {e}"))?;
        // Unique: sandboxes of different runtime directories may share a
        // name, and a cgroup left by a wsbox that was killed may remain.
        let mut tag = [0u8; 4];
        crate::util::getrandom(&mut tag).map_err(|e| format!("no random bytes: {e}"))?;
        let tag: String = tag.iter().map(|b| format!("{b:02x}")).collect();
        let leaf = &format!("{name}-{tag}");
        let unified = hierarchies
            .iter()
            .find(|h| h.v2 && h.controllers.iter().any(|c| c == "memory"));
        match unified {
            Some(h) => Self::create_v2(&h.dir, leaf, wanted),
            None => Self::create_v1(&hierarchies, leaf, wanted),
        }
    }

    fn create_v2(parent: &Path, leaf: &str, wanted: Wanted) -> Result<Cgroup, String> {
        let shown = parent.display();
        let controllers = std::fs::read_to_string(parent.join("cgroup.controllers"))
            .map_err(|e| format!("cannot read {shown}/cgroup.controllers: {e}"))?;
        let has = |c: &str| controllers.split_whitespace().any(|x| x == c);
        if !has("memory") || !has("pids") {
            return Err(format!(
                "the memory and pids controllers are not delegated to {shown}"
            ));
        }
        writable(parent).map_err(|why| {
            format!(
                "{why} (start wsbox in a delegated scope: systemd-run --user --scope -p \
                 Delegate=yes wsbox run …)"
            )
        })?;
        let cpu = has("cpu");
        let enable = if cpu {
            "+memory +pids +cpu"
        } else {
            "+memory +pids"
        };
        let enabled =
            std::fs::read_to_string(parent.join("cgroup.subtree_control")).unwrap_or_default();
        let needed = ["memory", "pids"]
            .iter()
            .chain(cpu.then_some(&"cpu"))
            .any(|c| !enabled.split_whitespace().any(|x| x == *c));
        if needed {
            if let Err(e) = write_file(parent, "cgroup.subtree_control", enable) {
                if e.raw_os_error() != Some(libc::EBUSY) {
                    return Err(format!("cannot enable the controllers of {shown}: {e}"));
                }
                // "No internal processes": the controllers of a cgroup that
                // holds processes cannot be handed down. When wsbox is the
                // only one (a scope made for it), it moves into a leaf of
                // its own first.
                Self::leave_for_a_leaf(parent)?;
                write_file(parent, "cgroup.subtree_control", enable)
                    .map_err(|e| format!("cannot enable the controllers of {shown}: {e}"))?;
            }
        }
        let dir = make_leaf(parent, leaf, Some(enable))
            .map_err(|e| format!("cannot make the sandbox's cgroup: {e}"))?;
        let swap = dir.join("memory.swap.max").exists();
        let made = (|| -> io::Result<File> {
            write_file(&dir, "memory.max", &wanted.memory.to_string())?;
            // No swap beyond the memory: the limit is what the app gets.
            if swap {
                write_file(&dir, "memory.swap.max", "0")?;
            }
            write_file(&dir, "pids.max", &wanted.tasks.to_string())?;
            if cpu {
                write_file(&dir, "cpu.weight", &wanted.cpu_weight.to_string())?;
            }
            File::open(dir.join("memory.events"))
        })();
        match made {
            Ok(oom) => Ok(Cgroup {
                version: Version::V2,
                dirs: vec![dir],
                cpu,
                oom,
                swap,
                join: Vec::new(),
            }),
            Err(e) => {
                let _ = std::fs::remove_dir(&dir);
                Err(format!("cannot limit {}: {e}", dir.display()))
            }
        }
    }

    /// Moves this process into `parent/wsbox-process-PID` when it is the
    /// only one in `parent` (that cgroup stays until the scope goes).
    fn leave_for_a_leaf(parent: &Path) -> Result<(), String> {
        let shown = parent.display();
        let procs = std::fs::read_to_string(parent.join("cgroup.procs"))
            .map_err(|e| format!("cannot read {shown}/cgroup.procs: {e}"))?;
        let own = std::process::id().to_string();
        if procs.split_whitespace().any(|p| p != own) {
            return Err(format!(
                "{shown} holds other processes than wsbox, so its controllers cannot be \
                 handed down (start wsbox in a delegated scope of its own: systemd-run --user \
                 --scope -p Delegate=yes wsbox run …)"
            ));
        }
        // Not `wsbox-UID`'s name space: a pid may equal a uid.
        let leaf = parent.join(format!("wsbox-process-{own}"));
        match std::fs::create_dir(&leaf) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(format!("cannot create {}: {e}", leaf.display())),
        }
        write_file(&leaf, "cgroup.procs", "0")
            .map_err(|e| format!("cannot move wsbox into {}: {e}", leaf.display()))
    }

    fn create_v1(hierarchies: &[Hierarchy], leaf: &str, wanted: Wanted) -> Result<Cgroup, String> {
        let find = |name: &str| {
            hierarchies
                .iter()
                .find(|h| !h.v2 && h.controllers.iter().any(|c| c == name))
        };
        let (Some(memory), Some(pids)) = (find("memory"), find("pids")) else {
            return Err(
                "this system has neither cgroup v2 with the memory controller nor \
                        cgroup v1's memory and pids hierarchies"
                    .into(),
            );
        };
        let cpu = find("cpu").filter(|h| writable(&h.dir).is_ok());
        for h in [memory, pids] {
            writable(&h.dir)?;
        }
        let mut dirs: Vec<PathBuf> = Vec::new();
        let mut swap = false;
        let mut join = Vec::new();
        let made = (|| -> io::Result<File> {
            for h in [Some(memory), Some(pids), cpu].into_iter().flatten() {
                dirs.push(make_leaf(&h.dir, leaf, None)?);
            }
            let limit = wanted.memory.to_string();
            write_file(&dirs[0], "memory.limit_in_bytes", &limit)?;
            // Memory and swap together: no swap beyond the memory (where
            // the kernel accounts swap at all).
            swap = dirs[0].join("memory.memsw.limit_in_bytes").exists();
            if swap {
                write_file(&dirs[0], "memory.memsw.limit_in_bytes", &limit)?;
            }
            write_file(&dirs[1], "pids.max", &wanted.tasks.to_string())?;
            if let Some(dir) = dirs.get(2) {
                let shares = (u64::from(wanted.cpu_weight) * 1024 / 100).max(2);
                write_file(dir, "cpu.shares", &shares.to_string())?;
            }
            let oom = File::open(dirs[0].join("memory.oom_control"))?;
            for dir in &dirs {
                join.push(
                    std::fs::OpenOptions::new()
                        .write(true)
                        .open(dir.join("tasks"))?,
                );
            }
            Ok(oom)
        })();
        match made {
            Ok(oom) => Ok(Cgroup {
                version: Version::V1,
                cpu: dirs.len() == 3,
                dirs,
                oom,
                swap,
                join,
            }),
            Err(e) => {
                for dir in dirs.iter().rev() {
                    let _ = std::fs::remove_dir(dir);
                }
                Err(format!("cannot make the sandbox's cgroup: {e}"))
            }
        }
    }

    /// v1: the fds of the `tasks` files of the cgroup, for pid 1 to move
    /// itself in ([`wsbox_sandbox::plan::Spec::cgroup_join`]), open until
    /// [`Cgroup::joined`]. v2: none ([`Cgroup::attach`]).
    pub fn join_fds(&self) -> Vec<i32> {
        self.join.iter().map(AsRawFd::as_raw_fd).collect()
    }

    /// pid 1 has its own copies of the `tasks` files now: wsbox's go.
    pub fn joined(&mut self) {
        self.join.clear();
    }

    /// v2: moves `pid` (pid 1, before it starts anything) into the cgroup.
    /// v1: nothing; pid 1 moves itself ([`Cgroup::join_files`]).
    pub fn attach(&self, pid: i32) -> Result<(), String> {
        if self.version == Version::V1 {
            return Ok(());
        }
        for dir in &self.dirs {
            write_file(dir, "cgroup.procs", &pid.to_string())
                .map_err(|e| format!("cannot move the sandbox into its cgroup: {e}"))?;
        }
        Ok(())
    }

    /// The directories, for `wsbox ps` to read the use from.
    pub fn dirs(&self) -> &[PathBuf] {
        &self.dirs
    }

    /// The directories the cgroup was made in: the confined wsbox may
    /// remove directories beneath them (and only that there).
    pub fn parents(&self) -> Vec<PathBuf> {
        self.dirs
            .iter()
            .filter_map(|d| d.parent().map(Path::to_owned))
            .collect()
    }

    /// How often the kernel's OOM killer has killed in the cgroup.
    pub fn oom_kills(&mut self) -> u64 {
        let mut text = String::new();
        if self.oom.rewind().is_err() || self.oom.read_to_string(&mut text).is_err() {
            return 0;
        }
        field(&text, "oom_kill").unwrap_or(0)
    }
}

impl Drop for Cgroup {
    /// Removes the cgroup once pid 1 and everything in it are gone: a
    /// cgroup whose last tasks are still being freed is busy for a moment,
    /// so a busy one is tried again, for a second at most.
    fn drop(&mut self) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(1);
        for dir in self.dirs.iter().rev() {
            loop {
                match std::fs::remove_dir(dir) {
                    Err(e)
                        if e.raw_os_error() == Some(libc::EBUSY)
                            && std::time::Instant::now() < deadline =>
                    {
                        std::thread::sleep(std::time::Duration::from_millis(5));
                    }
                    Err(e) => {
                        eprintln!(
                            "wsbox: cannot remove the sandbox's cgroup {}: {e}",
                            dir.display()
                        );
                        break;
                    }
                    Ok(()) => break,
                }
            }
        }
    }
}

/// `name N` of a flat-keyed cgroup file (memory.events, memory.oom_control).
pub fn field(text: &str, name: &str) -> Option<u64> {
    text.lines().find_map(|line| {
        let (key, value) = line.split_once(' ')?;
        (key == name).then(|| value.trim().parse().ok()).flatten()
    })
}

/// The use and limits of a sandbox's cgroup as `wsbox ps` reads them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Use {
    /// Bytes of memory in use (tmpfs pages included).
    pub memory: Option<u64>,
    pub tasks: Option<u64>,
}

/// Reads the use of the cgroup in `dirs` (as [`Cgroup::dirs`] gave them).
pub fn read_use(version: Version, dirs: &[PathBuf]) -> Use {
    let number =
        |path: PathBuf| -> Option<u64> { std::fs::read_to_string(path).ok()?.trim().parse().ok() };
    match (version, dirs) {
        (Version::V2, [dir, ..]) => Use {
            memory: number(dir.join("memory.current")),
            tasks: number(dir.join("pids.current")),
        },
        (Version::V1, [memory, pids, ..]) => Use {
            memory: number(memory.join("memory.usage_in_bytes")),
            tasks: number(pids.join("pids.current")),
        },
        _ => Use::default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MOUNTINFO: &str = "\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
50 31 0:39 /lxc/c1 /sys/fs/cgroup/blkio rw - cgroup cgroup rw,blkio
";

    #[test]
    fn each_hierarchy_is_found_where_it_is_mounted() {
        let cgroup = "\
8:pids:/
4:memory:/process_api/3d30
1:cpu:/
9:name=systemd:/
7:blkio:/lxc/c1/app
6:freezer:/
0::/
";
        let found = parse_hierarchies(cgroup, MOUNTINFO);
        let dirs: Vec<(&Path, bool)> = found.iter().map(|h| (h.dir.as_path(), h.v2)).collect();
        assert_eq!(
            dirs,
            [
                (Path::new("/sys/fs/cgroup/pids"), false),
                (Path::new("/sys/fs/cgroup/memory/process_api/3d30"), false),
                (Path::new("/sys/fs/cgroup/cpu"), false),
                (Path::new("/sys/fs/cgroup/systemd"), false),
                // A container's mount of part of the hierarchy.
                (Path::new("/sys/fs/cgroup/blkio/app"), false),
                // freezer is not mounted: left out.
                (Path::new("/sys/fs/cgroup/unified"), true),
            ]
        );
        assert_eq!(found[1].controllers, ["memory"]);
    }

    #[test]
    fn flat_keyed_fields_are_read_by_name() {
        let v1 = "oom_kill_disable 0\nunder_oom 0\noom_kill 3\n";
        assert_eq!(field(v1, "oom_kill"), Some(3));
        let v2 = "low 0\nhigh 0\nmax 12\noom 2\noom_kill 1\noom_group_kill 0\n";
        assert_eq!(field(v2, "oom_kill"), Some(1));
        assert_eq!(field(v2, "oom"), Some(2));
        assert_eq!(field("", "oom_kill"), None);
    }

    #[test]
    fn mount_points_are_unescaped() {
        assert_eq!(unescape("/a\\040b"), "/a b");
        assert_eq!(unescape("/a\\134b"), "/a\\b");
        assert_eq!(unescape("/a\\x"), "/a\\x");
        assert_eq!(unescape("/plain"), "/plain");
    }
}
