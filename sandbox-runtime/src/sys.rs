//! The raw syscalls of the new mount API and of opening by fd — open_tree,
//! move_mount, mount_setattr, openat2 and pidfd_open — each behind one safe
//! wrapper whose flags have names. Nothing else in this crate makes these
//! calls (seccomp's tests and wsbox-probe make them by number, to see the
//! filter refuse them).
//!
//! rustix makes four of them; mount_setattr, which rustix does not have,
//! is made here with the kernel's `struct mount_attr` as libc defines it.
//! Every wrapper is one syscall and nothing more: it allocates nothing,
//! takes no lock and retries nothing, so [`crate::live`]'s helpers may call
//! it in a child forked from a threaded wsbox. Every fd a wrapper returns
//! is close-on-exec, whatever the flags say: pid 1 and wsbox's helpers exec
//! programs that must inherit none. An error is the kernel's errno; the
//! caller knows the path and names it. This module never decides what to
//! open or mount.

use std::ffi::CStr;
use std::io;
use std::ops::{BitOr, BitOrAssign};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};

pub use rustix::fs::{OFlags, ResolveFlags, CWD};
pub use rustix::mount::{MoveMountFlags, OpenTreeFlags};
pub use rustix::process::PidfdFlags;

/// openat2(2): opens `path` relative to `dir` ([`CWD`] for the working
/// directory), resolved as `resolve` says. `O_CLOEXEC` is always added. A
/// file made with `O_CREAT` gets mode 0: wsbox creates files this way only
/// as mount points, which show the mode of what is mounted on them.
pub fn openat2(
    dir: impl AsFd,
    path: &CStr,
    flags: OFlags,
    resolve: ResolveFlags,
) -> io::Result<OwnedFd> {
    let flags = flags | OFlags::CLOEXEC;
    Ok(rustix::fs::openat2(
        dir,
        path,
        flags,
        rustix::fs::Mode::empty(),
        resolve,
    )?)
}

/// open_tree(2): an fd of the mount at `path` relative to `dir`, or with
/// `OPEN_TREE_CLONE` a detached copy of it (of its whole subtree with
/// `AT_RECURSIVE`), which is unmounted again when the fd is closed unless
/// [`move_mount`] attached it first. `OPEN_TREE_CLOEXEC` is always added.
/// A clone needs CAP_SYS_ADMIN over the mount namespace `path` is in.
pub fn open_tree(dir: impl AsFd, path: &CStr, flags: OpenTreeFlags) -> io::Result<OwnedFd> {
    let flags = flags | OpenTreeFlags::OPEN_TREE_CLOEXEC;
    Ok(rustix::mount::open_tree(dir, path, flags)?)
}

/// move_mount(2): attaches the mount at `from_path` relative to `from` (a
/// detached tree from [`open_tree`] with `MOVE_MOUNT_F_EMPTY_PATH` and an
/// empty path) on the mount point at `to_path` relative to `to`. With both
/// `*_EMPTY_PATH` flags and empty paths nothing is resolved by name.
pub fn move_mount(
    from: impl AsFd,
    from_path: &CStr,
    to: impl AsFd,
    to_path: &CStr,
    flags: MoveMountFlags,
) -> io::Result<()> {
    Ok(rustix::mount::move_mount(
        from, from_path, to, to_path, flags,
    )?)
}

/// `MOUNT_ATTR_*`: the attributes [`mount_setattr`] sets or clears.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MountAttrs(u64);

impl MountAttrs {
    pub const RDONLY: Self = Self(libc::MOUNT_ATTR_RDONLY);
    pub const NOSUID: Self = Self(libc::MOUNT_ATTR_NOSUID);
    pub const NODEV: Self = Self(libc::MOUNT_ATTR_NODEV);
    pub const NOEXEC: Self = Self(libc::MOUNT_ATTR_NOEXEC);

    /// No attribute.
    pub const fn empty() -> Self {
        Self(0)
    }

    /// Both sets of attributes, usable in a `const`.
    pub const fn union(self, other: Self) -> Self {
        Self(self.0 | other.0)
    }

    /// The bits as the kernel takes them.
    pub const fn bits(self) -> u64 {
        self.0
    }
}

impl BitOr for MountAttrs {
    type Output = Self;
    fn bitor(self, other: Self) -> Self {
        self.union(other)
    }
}

impl BitOrAssign for MountAttrs {
    fn bitor_assign(&mut self, other: Self) {
        self.0 |= other.0;
    }
}

/// The `AT_*` flags [`mount_setattr`] takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SetattrFlags(libc::c_uint);

impl SetattrFlags {
    /// `path` is empty: the mount `dir` refers to.
    pub const EMPTY_PATH: Self = Self(libc::AT_EMPTY_PATH as libc::c_uint);
    /// Every mount below too, not the one mount alone.
    pub const RECURSIVE: Self = Self(libc::AT_RECURSIVE as libc::c_uint);

    /// No flag: `path` is resolved, following symlinks, and one mount
    /// changes.
    pub const fn empty() -> Self {
        Self(0)
    }
}

impl BitOr for SetattrFlags {
    type Output = Self;
    fn bitor(self, other: Self) -> Self {
        Self(self.0 | other.0)
    }
}

/// mount_setattr(2): sets `set` and clears `clear` on the mount at `path`
/// relative to `dir`. Unlike a remount it keeps the flags the kernel locked
/// on mounts from a more privileged namespace, and with
/// [`SetattrFlags::RECURSIVE`] it changes a whole subtree at once.
/// Propagation and id mapping are left as they are.
pub fn mount_setattr(
    dir: impl AsFd,
    path: &CStr,
    flags: SetattrFlags,
    set: MountAttrs,
    clear: MountAttrs,
) -> io::Result<()> {
    let attr = libc::mount_attr {
        attr_set: set.bits(),
        attr_clr: clear.bits(),
        propagation: 0,
        userns_fd: 0,
    };
    // SAFETY: `path` is a C string and `attr` a `struct mount_attr`, both
    // alive for the call, which reads no more than the size passed; the
    // kernel checks the fd.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            dir.as_fd().as_raw_fd(),
            path.as_ptr(),
            flags.0,
            &attr as *const libc::mount_attr,
            std::mem::size_of::<libc::mount_attr>(),
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// pidfd_open(2): an fd that refers to the process `pid` for as long as the
/// fd is open, so a pid reused later is never signalled or entered through
/// it; it polls readable once the process has exited. A pid below 1 is
/// EINVAL, as the kernel says of it.
pub fn pidfd_open(pid: libc::pid_t, flags: PidfdFlags) -> io::Result<OwnedFd> {
    // Checked here: rustix's Pid takes positive numbers only.
    let pid = (pid > 0)
        .then(|| rustix::process::Pid::from_raw(pid))
        .flatten()
        .ok_or_else(|| io::Error::from_raw_os_error(libc::EINVAL))?;
    Ok(rustix::process::pidfd_open(pid, flags)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::ffi::OsStrExt;
    use std::path::{Path, PathBuf};

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("wsbox-sys-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn c(path: &Path) -> std::ffi::CString {
        std::ffi::CString::new(path.as_os_str().as_bytes()).unwrap()
    }

    fn cloexec(fd: &OwnedFd) -> bool {
        // SAFETY: F_GETFD on an fd this test owns.
        let flags = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETFD) };
        flags >= 0 && flags & libc::FD_CLOEXEC != 0
    }

    fn errno(result: io::Result<impl Sized>) -> Option<i32> {
        result.err().and_then(|e| e.raw_os_error())
    }

    #[test]
    fn openat2_refuses_symlinks_when_told_and_stays_beneath() {
        let dir = scratch("openat2");
        std::fs::write(dir.join("file"), "x").unwrap();
        std::os::unix::fs::symlink(dir.join("file"), dir.join("link")).unwrap();
        let root = openat2(
            CWD,
            &c(&dir),
            OFlags::PATH | OFlags::DIRECTORY,
            ResolveFlags::empty(),
        )
        .unwrap();
        assert!(cloexec(&root), "openat2 must add O_CLOEXEC");
        let no_links = ResolveFlags::NO_SYMLINKS;
        let file = openat2(&root, c"file", OFlags::RDONLY, no_links).unwrap();
        assert!(cloexec(&file));
        let refused = openat2(&root, c"link", OFlags::RDONLY, no_links);
        assert_eq!(errno(refused), Some(libc::ELOOP));
        // Without the flag the same link is followed.
        assert!(openat2(&root, c"link", OFlags::RDONLY, ResolveFlags::empty()).is_ok());
        let escape = openat2(&root, c"../", OFlags::PATH, ResolveFlags::BENEATH);
        assert_eq!(errno(escape), Some(libc::EXDEV));
        // Made with mode 0, as a mount point is.
        let made = openat2(
            &root,
            c"point",
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL,
            no_links,
        );
        assert!(made.is_ok(), "{made:?}");
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.join("point"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o7777, 0);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn pidfd_open_refers_to_a_child_until_it_exits() {
        let mut child = std::process::Command::new("sleep")
            .arg("10")
            .spawn()
            .unwrap();
        let pidfd = pidfd_open(child.id() as libc::pid_t, PidfdFlags::empty()).unwrap();
        assert!(cloexec(&pidfd));
        let readable = |timeout: i32| {
            let mut poll = libc::pollfd {
                fd: pidfd.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: one valid pollfd.
            unsafe { libc::poll(&mut poll, 1, timeout) == 1 }
        };
        assert!(!readable(0), "the child is still running");
        child.kill().unwrap();
        child.wait().unwrap();
        assert!(readable(5000), "an exited child's pidfd polls readable");
        assert_eq!(
            errno(pidfd_open(0, PidfdFlags::empty())),
            Some(libc::EINVAL)
        );
        assert_eq!(
            errno(pidfd_open(-1, PidfdFlags::empty())),
            Some(libc::EINVAL)
        );
    }

    #[test]
    fn a_cloned_tree_is_restricted_while_detached_and_then_attached() {
        let dir = scratch("tree");
        let (from, to) = (dir.join("from"), dir.join("to"));
        std::fs::create_dir(&from).unwrap();
        std::fs::create_dir(&to).unwrap();
        std::fs::write(from.join("marker"), "x").unwrap();
        // In a mount namespace of its own (and a user namespace, so that it
        // needs no privilege): nothing it mounts is seen outside.
        let code = crate::testutil::in_child(|| {
            // SAFETY: a single-threaded forked child changing its own namespaces.
            if unsafe { libc::unshare(libc::CLONE_NEWUSER | libc::CLONE_NEWNS) } != 0 {
                return 77;
            }
            let run = || -> io::Result<i32> {
                let source = openat2(CWD, &c(&from), OFlags::PATH, ResolveFlags::empty())?;
                let tree = open_tree(
                    &source,
                    c"",
                    OpenTreeFlags::OPEN_TREE_CLONE
                        | OpenTreeFlags::AT_RECURSIVE
                        | OpenTreeFlags::AT_EMPTY_PATH,
                )?;
                if !cloexec(&tree) {
                    return Ok(1);
                }
                mount_setattr(
                    &tree,
                    c"",
                    SetattrFlags::EMPTY_PATH | SetattrFlags::RECURSIVE,
                    MountAttrs::RDONLY | MountAttrs::NOSUID,
                    MountAttrs::empty(),
                )?;
                let point = openat2(CWD, &c(&to), OFlags::PATH, ResolveFlags::empty())?;
                move_mount(
                    &tree,
                    c"",
                    &point,
                    c"",
                    MoveMountFlags::MOVE_MOUNT_F_EMPTY_PATH
                        | MoveMountFlags::MOVE_MOUNT_T_EMPTY_PATH,
                )?;
                if !to.join("marker").exists() {
                    return Ok(2);
                }
                // SAFETY: statvfs is plain data the kernel fills.
                let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
                // SAFETY: a C string and the struct above, alive for the call.
                if unsafe { libc::statvfs(c(&to).as_ptr(), &mut st) } != 0 {
                    return Ok(3);
                }
                let want = libc::ST_RDONLY | libc::ST_NOSUID;
                Ok(if st.f_flag & want == want { 0 } else { 4 })
            };
            match run() {
                Ok(code) => code,
                Err(e) => 100 + e.raw_os_error().unwrap_or(0).min(99),
            }
        });
        // The mount stayed in the child's namespace.
        let leaked = to.join("marker").exists();
        let _ = std::fs::remove_dir_all(&dir);
        if code == 77 {
            if std::env::var_os("WSBOX_MUST_WORK").is_some() {
                panic!("user namespaces are unavailable but WSBOX_MUST_WORK is set");
            }
            eprintln!("SKIPPED: a_cloned_tree_is_restricted_while_detached_and_then_attached: no user namespaces");
            return;
        }
        assert_eq!(code, 0, "1: not close-on-exec, 2: not attached, 3: statvfs, 4: not read-only and nosuid, 100+errno: a call failed");
        assert!(!leaked, "the child's mount is seen outside its namespace");
    }
}
