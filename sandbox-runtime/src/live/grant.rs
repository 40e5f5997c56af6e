//! Grants in a running sandbox: a host file or directory attached in the
//! files place, and detached again. wsbox prepares everything first (the
//! detached tree when it runs as root, every C string); the helper's side
//! runs in the child of `helper::run`. Nothing here may make the app's view
//! of the files place writable: mount points are made in a private clone.

use std::ffi::{CString, OsStr};
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

use super::helper::{self, errno, step, step_error, sys_step, Failed, Namespaces, Step, RESOLVE};
use super::{c_path, Error};
use crate::hostpath::{self, tree, Opened};
use crate::plan::{FILES_DIR, SANDBOX_GID, SANDBOX_UID};
use crate::sys::{self, MountAttrs, OFlags, ResolveFlags};

/// A name in the files place.
struct Place {
    /// The files place, absolute inside the sandbox.
    files: CString,
    /// The directory of the name, absolute inside the sandbox.
    dir: CString,
    /// The same directory relative to the files place ("." or "rw").
    sub: CString,
    name: CString,
    /// `dir/name`.
    full: CString,
}

impl Place {
    fn new(dir: &Path, name: &OsStr) -> Result<Self, Error> {
        let sub = dir.strip_prefix(FILES_DIR).map_err(|_| Error::Step {
            step: "use",
            path: dir.to_owned(),
            error: io::ErrorKind::InvalidInput.into(),
        })?;
        let sub = if sub.as_os_str().is_empty() {
            Path::new(".")
        } else {
            sub
        };
        Ok(Self {
            files: c_path(Path::new(FILES_DIR))?,
            dir: c_path(dir)?,
            sub: c_path(sub)?,
            name: c_path(Path::new(name))?,
            full: c_path(&dir.join(name))?,
        })
    }
}

/// Attaches `opened` (the host path `host`) at `dir/name` inside the
/// sandbox whose pid 1 is `pid1`; returns the inside path and the id of the
/// mount (0 when the kernel does not tell).
pub fn add(
    pid1: i32,
    host: &Path,
    opened: &Opened,
    dir: &Path,
    name: &OsStr,
    rw: bool,
    privileged: bool,
) -> Result<(PathBuf, u64), Error> {
    let ns = helper::namespaces(pid1)?;
    let inside = dir.join(name);
    let step_err = |step, error| Error::Step {
        step,
        path: host.to_owned(),
        error,
    };
    let mut attrs = MountAttrs::NOSUID | MountAttrs::NODEV;
    if !rw {
        attrs |= MountAttrs::RDONLY;
    }
    let (tree, real) = if privileged {
        let tree = tree::clone(opened.fd.as_fd()).map_err(|e| step_err("clone the mount of", e))?;
        // Restricted while detached, in the host namespace wsbox may change.
        tree::set_attr(tree.as_fd(), attrs, MountAttrs::empty(), true)
            .map_err(|e| step_err("set the mount attributes of", e))?;
        (Some(tree), None)
    } else {
        let real = hostpath::real_path(opened.fd.as_fd()).map_err(|e| step_err("open", e))?;
        (None, Some((c_path(&real)?, opened.dev, opened.ino)))
    };
    let place = Place::new(dir, name)?;
    let is_dir = opened.kind == hostpath::Kind::Dir;
    let job = || {
        let tree = tree.as_ref().map(|t| t.as_fd());
        add_helper(&ns, &place, tree, real.as_ref(), is_dir, attrs)
    };
    let id = helper::run(&ns, host, job)?.map_err(|f| step_error(f, host))?;
    Ok((inside, id))
}

/// Detaches what wsbox mounted at `dir/name` (the mount `mount_id` when it
/// is known) and removes its mount point. Safe to repeat after a failure:
/// what is already done is skipped.
pub fn remove(
    pid1: i32,
    dir: &Path,
    name: &OsStr,
    is_dir: bool,
    mount_id: Option<u64>,
) -> Result<(), Error> {
    let ns = helper::namespaces(pid1)?;
    let inside = dir.join(name);
    let place = Place::new(dir, name)?;
    let job = || remove_helper(&ns, &place, is_dir, mount_id).map(|()| 0);
    helper::run(&ns, &inside, job)?.map_err(|f| step_error(f, &inside))?;
    Ok(())
}

/// Mount points are created as the app's ids: the files place's tmpfs
/// belongs to the sandbox's user namespace.
fn take_file_ids() -> Result<(), Failed> {
    // SAFETY: plain id changes of this process.
    unsafe {
        libc::setfsgid(SANDBOX_GID);
        libc::setfsuid(SANDBOX_UID);
        if libc::setfsuid(u32::MAX) as u32 != SANDBOX_UID {
            return Err((Step::TakeFileIds, libc::EPERM));
        }
    }
    Ok(())
}

/// The fds of a place, open in the helper.
struct PlaceFds {
    /// The app's view of the place's directory.
    dir: OwnedFd,
    /// The private clone of the files mount: the clone stays mounted while
    /// its fd is open, so this is held as long as `scratch`.
    _private: OwnedFd,
    /// The place's directory in the private clone, writable.
    scratch: OwnedFd,
}

/// Opens the app's view of the place's directory, and the same directory
/// in a private clone of the files mount whose read-only flag is cleared on
/// the clone only: the app's own mount stays read-only throughout.
fn open_place(place: &Place) -> Result<PlaceFds, Failed> {
    let dir_path = OFlags::PATH | OFlags::DIRECTORY;
    let files = sys_step(
        Step::OpenFiles,
        sys::openat2(sys::CWD, &place.files, dir_path, RESOLVE),
    )?;
    let dir = sys_step(
        Step::OpenFiles,
        sys::openat2(sys::CWD, &place.dir, dir_path, RESOLVE),
    )?;
    // Recursive: a non-recursive clone is refused when a grant below is
    // locked. Only the clone's root is made writable.
    let private = sys_step(Step::PrivateCopy, tree::clone(files.as_fd()))?;
    sys_step(
        Step::PrivateCopy,
        tree::set_attr(
            private.as_fd(),
            MountAttrs::empty(),
            MountAttrs::RDONLY,
            false,
        ),
    )?;
    let scratch = sys_step(
        Step::PrivateCopy,
        sys::openat2(
            &private,
            &place.sub,
            dir_path,
            RESOLVE | ResolveFlags::BENEATH | ResolveFlags::NO_XDEV,
        ),
    )?;
    Ok(PlaceFds {
        dir,
        _private: private,
        scratch,
    })
}

/// The helper's side of [`add`]: clones the real path when wsbox could not
/// (`real`), makes the mount point and attaches the tree on it.
fn add_helper(
    ns: &Namespaces,
    place: &Place,
    tree: Option<BorrowedFd<'_>>,
    real: Option<&(CString, u64, u64)>,
    is_dir: bool,
    attrs: MountAttrs,
) -> Result<u64, Failed> {
    take_file_ids()?;
    let reopened;
    let cloned = match (tree, real) {
        (Some(tree), _) => tree,
        (None, Some((real, dev, ino))) => {
            // SAFETY: unshare with an integer flag, in the single-threaded
            // helper; it changes this process alone.
            let rc = unsafe { libc::unshare(libc::CLONE_NEWNS) };
            step(Step::Unshare, rc as _)?;
            let fd = sys::openat2(sys::CWD, real, OFlags::PATH | OFlags::NOFOLLOW, RESOLVE);
            let fd = sys_step(Step::Open, fd)?;
            let st = sys_step(Step::Check, hostpath::fstat(fd.as_fd()))?;
            if st.st_dev != *dev || st.st_ino != *ino {
                return Err((Step::Check, libc::ESTALE));
            }
            reopened = sys_step(Step::Clone, tree::clone(fd.as_fd()))?;
            // Restricted while detached: it never appears without.
            sys_step(
                Step::SetAttrs,
                tree::set_attr(reopened.as_fd(), attrs, MountAttrs::empty(), true),
            )?;
            reopened.as_fd()
        }
        (None, None) => return Err((Step::Clone, libc::EINVAL)),
    };
    ns.join_mount_ns()?;
    let place_fds = open_place(place)?;
    let scratch = place_fds.scratch.as_raw_fd();
    // Mode 0: until the tree is attached, the app (no capabilities)
    // can neither open the empty mount point nor list it, so it never
    // holds a half-made grant; the attached tree shows its own mode.
    // SAFETY: mkdirat, openat and close on the fd `place_fds` holds, with a
    // C string `place` holds, and on the fd openat returned.
    let made = unsafe {
        if is_dir {
            libc::mkdirat(scratch, place.name.as_ptr(), 0) as libc::c_long
        } else {
            let fd = libc::openat(
                scratch,
                place.name.as_ptr(),
                libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL | libc::O_NOFOLLOW | libc::O_CLOEXEC,
                0,
            );
            if fd >= 0 {
                libc::close(fd);
            }
            fd as libc::c_long
        }
    };
    step(Step::CreatePoint, made)?;
    let undo = |failed: Failed| {
        let flags = if is_dir { libc::AT_REMOVEDIR } else { 0 };
        // SAFETY: unlinkat on the fd `place_fds` holds, with a C string
        // `place` holds.
        unsafe { libc::unlinkat(scratch, place.name.as_ptr(), flags) };
        failed
    };
    let point = sys_step(
        Step::OpenPoint,
        sys::openat2(
            &place_fds.dir,
            &place.name,
            OFlags::PATH | OFlags::NOFOLLOW,
            RESOLVE | ResolveFlags::BENEATH,
        ),
    )
    .map_err(undo)?;
    sys_step(Step::Attach, tree::attach(cloned, point.as_fd())).map_err(undo)?;
    // The tree's fd names the attached mount now: its id is what
    // remove-file checks before it detaches anything.
    Ok(mount_id(cloned).map_or(0, |(id, _)| id))
}

/// statx's mount id of `fd`, and whether it is the root of a mount.
fn mount_id(fd: BorrowedFd<'_>) -> Option<(u64, bool)> {
    // SAFETY: statx is plain data the kernel fills.
    let mut stx: libc::statx = unsafe { std::mem::zeroed() };
    // SAFETY: a valid fd, an empty C string and the struct above, all alive
    // for the call.
    let rc = unsafe {
        libc::statx(
            fd.as_raw_fd(),
            c"".as_ptr(),
            libc::AT_EMPTY_PATH | libc::AT_SYMLINK_NOFOLLOW,
            libc::STATX_MNT_ID,
            &mut stx,
        )
    };
    if rc < 0 || stx.stx_mask & libc::STATX_MNT_ID == 0 {
        return None;
    }
    let root = stx.stx_attributes & libc::STATX_ATTR_MOUNT_ROOT as u64 != 0;
    Some((stx.stx_mnt_id, root))
}

/// The helper's side of [`remove`]: detaches the mount at the place, if it
/// is the one wsbox attached, and removes the mount point.
fn remove_helper(
    ns: &Namespaces,
    place: &Place,
    is_dir: bool,
    recorded: Option<u64>,
) -> Result<(), Failed> {
    take_file_ids()?;
    ns.join_mount_ns()?;
    let place_fds = open_place(place)?;
    // Every step below may have been done by an earlier attempt that
    // failed later: each is skipped when there is nothing to do.
    let point = sys::openat2(
        &place_fds.dir,
        &place.name,
        OFlags::PATH | OFlags::NOFOLLOW,
        RESOLVE | ResolveFlags::BENEATH,
    );
    let point = match point {
        Ok(point) => point,
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => return Ok(()),
        Err(e) => return sys_step(Step::OpenPoint, Err(e)),
    };
    let (place_id, _) = mount_id(place_fds.dir.as_fd()).ok_or((Step::Inspect, libc::ENOTSUP))?;
    let (id, root) = mount_id(point.as_fd()).ok_or((Step::Inspect, libc::ENOTSUP))?;
    if root && id != place_id {
        if recorded.is_some_and(|r| r != id) {
            // Not the mount wsbox attached: leave it alone.
            return Err((Step::Inspect, libc::EBUSY));
        }
        // By name, after the check: the files place is read-only for the
        // app and nothing but wsbox mounts there. Detached lazily: the
        // app's open fds and working directories inside keep working.
        // SAFETY: umount2 with a C string `place` holds.
        let rc = unsafe {
            libc::umount2(
                place.full.as_ptr(),
                libc::MNT_DETACH | libc::UMOUNT_NOFOLLOW,
            )
        };
        step(Step::Detach, rc as _)?;
    }
    let flags = if is_dir { libc::AT_REMOVEDIR } else { 0 };
    // SAFETY: unlinkat on the fd `place_fds` holds, with a C string `place`
    // holds.
    let rc = unsafe { libc::unlinkat(place_fds.scratch.as_raw_fd(), place.name.as_ptr(), flags) };
    if rc < 0 && errno() != libc::ENOENT {
        return Err((Step::Unlink, errno()));
    }
    Ok(())
}
