//! Files in a running sandbox: attach a host file or directory under
//! /run/wsbox/files, take it away again, and copy a file out.
//!
//! Everything happens in a forked helper that joins the sandbox's user
//! namespace (wsbox owns it, so the helper has every capability there) and
//! then its mount namespace. Run by root, wsbox clones the host path's mount
//! in the host namespace first; unprivileged, the helper unshares a mount
//! namespace of its own (a copy of the host's, owned by the sandbox's user
//! namespace), opens the real path there without following symlinks and
//! checks that it is the inode wsbox checked. The helper only makes raw
//! syscalls: wsbox may have threads, and a forked copy must not allocate.
//!
//! The app's view of the files place is never made writable: mount points
//! are created through a private clone of the files mount (open_tree) whose
//! read-only flag is cleared on the clone alone. A tree is given its final
//! attributes (nosuid, nodev, read-only) while it is still detached, so it
//! never appears in the sandbox without them.
//!
//! Copying out is done by a helper that takes the app's ids and drops every
//! capability before it opens the file inside the sandbox's mount
//! namespace: it reads only what the app could read itself.

use std::ffi::{CString, OsStr};
use std::io::{self, Read};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use crate::hostpath::{self, tree, Opened};
use crate::plan::{FILES_DIR, SANDBOX_GID, SANDBOX_UID};
use crate::sys::{self, MountAttrs, OFlags, PidfdFlags, ResolveFlags};

/// The largest file `export` copies: 4 GiB.
pub const EXPORT_MAX: u64 = 4 << 30;

/// Errors of changing files in a running sandbox.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("failed to reach the sandbox (pid {pid}): {source}")]
    Reach { pid: i32, source: io::Error },
    #[error("failed to {step} {path}: {error}")]
    Step {
        step: &'static str,
        path: PathBuf,
        error: io::Error,
    },
    #[error("{0}")]
    Path(hostpath::Error),
    #[error("{path} inside the sandbox: {why}")]
    Inside { path: PathBuf, why: String },
    #[error("{0} exists; use --force to overwrite it")]
    Exists(PathBuf),
}

/// The processes whose /proc entries lead into the sandbox: pid 1, then its
/// children. pid 1 is not dumpable, so an unprivileged wsbox reaches the
/// namespaces through the app instead.
fn candidates(pid1: i32) -> Vec<i32> {
    let mut pids = vec![pid1];
    if let Ok(text) = std::fs::read_to_string(format!("/proc/{pid1}/task/{pid1}/children")) {
        pids.extend(
            text.split_whitespace()
                .filter_map(|p| p.parse::<i32>().ok()),
        );
    }
    pids
}

/// Whether the process behind `pidfd` has not exited.
fn alive(pidfd: &OwnedFd) -> bool {
    let mut poll = libc::pollfd {
        fd: pidfd.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd, no waiting.
    unsafe { libc::poll(&mut poll, 1, 0) == 0 }
}

/// The parent pid of `pid`, from /proc/PID/stat.
fn parent_of(pid: i32) -> Option<i32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (_, rest) = stat.rsplit_once(')')?;
    rest.split_whitespace().nth(1)?.parse().ok()
}

/// The sandbox's user and mount namespaces. A pid is reached through a
/// pidfd taken first: a child of pid 1 must still have pid 1 as its parent,
/// and the process must still be alive after its entries were opened, so a
/// pid reused in between is never entered.
fn namespaces(pid1: i32) -> Result<(OwnedFd, OwnedFd), Error> {
    let mut last = io::Error::from_raw_os_error(libc::ESRCH);
    for pid in candidates(pid1) {
        let pidfd = match sys::pidfd_open(pid, PidfdFlags::empty()) {
            Ok(fd) => fd,
            Err(e) => {
                last = e;
                continue;
            }
        };
        if pid != pid1 && parent_of(pid) != Some(pid1) {
            continue;
        }
        let open = |entry: &str| {
            let c = CString::new(format!("/proc/{pid}/{entry}"))
                .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
            sys::openat2(sys::CWD, &c, OFlags::RDONLY, ResolveFlags::empty())
        };
        match open("ns/user").and_then(|user| Ok((user, open("ns/mnt")?))) {
            Ok(fds) if alive(&pidfd) => return Ok(fds),
            Ok(_) => last = io::Error::from_raw_os_error(libc::ESRCH),
            Err(e) => last = e,
        }
    }
    Err(Error::Reach {
        pid: pid1,
        source: last,
    })
}

fn c_path(path: &Path) -> Result<CString, Error> {
    CString::new(path.as_os_str().as_bytes()).map_err(|_| Error::Step {
        step: "use",
        path: path.to_owned(),
        error: io::ErrorKind::InvalidInput.into(),
    })
}

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

/// What the helper does, with every string prepared before the fork.
struct Job {
    user_ns: OwnedFd,
    mnt_ns: OwnedFd,
    kind: JobKind,
}

enum JobKind {
    Add {
        place: Place,
        /// Run by root: the detached tree, its attributes already set.
        tree: Option<OwnedFd>,
        /// Unprivileged: the real path and the inode to clone.
        real: Option<(CString, u64, u64)>,
        is_dir: bool,
        /// The attributes the tree gets before it is attached.
        attrs: MountAttrs,
    },
    Remove {
        place: Place,
        is_dir: bool,
        /// The mount id recorded when the grant was added, if known.
        mount_id: Option<u64>,
    },
    Export {
        path: CString,
        /// The temporary file on the host, opened by wsbox.
        out: RawFd,
        privileged: bool,
    },
}

/// A step of a helper, reported when it fails: its errno (none for the last
/// two) and the words that complete "failed to … PATH".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    JoinUserNs,
    TakeFileIds,
    Unshare,
    Open,
    Check,
    Clone,
    JoinMountNs,
    OpenFiles,
    PrivateCopy,
    CreatePoint,
    OpenPoint,
    Attach,
    SetAttrs,
    Detach,
    Unlink,
    DropToApp,
    Read,
    Write,
    Inspect,
    /// Export only: not a regular file (errno 0).
    NotRegular,
    /// Export only: larger than [`EXPORT_MAX`] (errno 0).
    TooLarge,
}

impl Step {
    /// Every step, in the order of their codes in a helper's report.
    const ALL: [Step; 21] = [
        Step::JoinUserNs,
        Step::TakeFileIds,
        Step::Unshare,
        Step::Open,
        Step::Check,
        Step::Clone,
        Step::JoinMountNs,
        Step::OpenFiles,
        Step::PrivateCopy,
        Step::CreatePoint,
        Step::OpenPoint,
        Step::Attach,
        Step::SetAttrs,
        Step::Detach,
        Step::Unlink,
        Step::DropToApp,
        Step::Read,
        Step::Write,
        Step::Inspect,
        Step::NotRegular,
        Step::TooLarge,
    ];

    /// What the step does, for "failed to {action} PATH". The two export
    /// checks are told apart before this is asked ([`export`]).
    fn action(self) -> &'static str {
        match self {
            Step::JoinUserNs => "join the sandbox's user namespace",
            Step::TakeFileIds => "take the sandbox's file ids",
            Step::Unshare => "make a mount namespace for",
            Step::Open => "open",
            Step::Check => "check",
            Step::Clone => "clone the mount of",
            Step::JoinMountNs => "join the sandbox's mount namespace",
            Step::OpenFiles => "open the files place for",
            Step::PrivateCopy => "make a private copy of the files place for",
            Step::CreatePoint => "create the mount point of",
            Step::OpenPoint => "open the mount point of",
            Step::Attach => "attach",
            Step::SetAttrs => "set the mount attributes of",
            Step::Detach => "detach",
            Step::Unlink => "remove the mount point of",
            Step::DropToApp => "take the app's ids and drop the capabilities to read",
            Step::Read => "read",
            Step::Write => "write",
            Step::Inspect => "inspect the mount point of",
            Step::NotRegular | Step::TooLarge => "change",
        }
    }

    /// The step's number in a helper's report.
    fn code(self) -> i64 {
        self as i64
    }

    /// The step a report names; None for a number no step has.
    fn from_code(code: i64) -> Option<Step> {
        Step::ALL.get(usize::try_from(code).ok()?).copied()
    }
}

type Failed = (Step, i32);

fn step(n: Step, rc: libc::c_long) -> Result<libc::c_long, Failed> {
    if rc < 0 {
        Err((n, errno()))
    } else {
        Ok(rc)
    }
}

fn errno() -> i32 {
    // SAFETY: reads this thread's errno.
    unsafe { *libc::__errno_location() }
}

/// The outcome of a call through [`sys`], as [`step`] gives it for a raw one.
fn sys_step<T>(n: Step, result: io::Result<T>) -> Result<T, Failed> {
    result.map_err(|e| (n, e.raw_os_error().unwrap_or(libc::EIO)))
}

/// Neither a symlink nor a magic link is followed inside the sandbox.
const RESOLVE: ResolveFlags = ResolveFlags::NO_SYMLINKS.union(ResolveFlags::NO_MAGICLINKS);

/// Runs in the forked helper: raw syscalls only. Returns a value for the
/// parent (the mount id of an attached tree).
fn helper(job: &Job) -> Result<u64, Failed> {
    // SAFETY (whole function): raw syscalls on fds and C strings that stay
    // valid; the process is a single-threaded fork.
    unsafe {
        // The helper dies with the thread that forked it, and nothing in the
        // sandbox may ptrace it.
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong);
        libc::prctl(libc::PR_SET_DUMPABLE, 0 as libc::c_ulong);
        step(
            Step::JoinUserNs,
            libc::setns(job.user_ns.as_raw_fd(), libc::CLONE_NEWUSER) as _,
        )?;
        match &job.kind {
            JobKind::Add {
                place,
                tree,
                real,
                is_dir,
                attrs,
            } => add_helper(job, place, tree.as_ref(), real.as_ref(), *is_dir, *attrs),
            JobKind::Remove {
                place,
                is_dir,
                mount_id,
            } => remove_helper(job, place, *is_dir, *mount_id).map(|()| 0),
            JobKind::Export {
                path,
                out,
                privileged,
            } => export_helper(job, path, *out, *privileged),
        }
    }
}

/// Mount points are created as the app's ids: the files place's tmpfs
/// belongs to the sandbox's user namespace.
unsafe fn take_file_ids() -> Result<(), Failed> {
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

unsafe fn add_helper(
    job: &Job,
    place: &Place,
    tree: Option<&OwnedFd>,
    real: Option<&(CString, u64, u64)>,
    is_dir: bool,
    attrs: MountAttrs,
) -> Result<u64, Failed> {
    // SAFETY: see helper.
    unsafe {
        take_file_ids()?;
        let reopened;
        let cloned = match (tree, real) {
            (Some(tree), _) => tree.as_fd(),
            (None, Some((real, dev, ino))) => {
                step(Step::Unshare, libc::unshare(libc::CLONE_NEWNS) as _)?;
                let fd = sys::openat2(sys::CWD, real, OFlags::PATH | OFlags::NOFOLLOW, RESOLVE);
                let fd = sys_step(Step::Open, fd)?;
                let mut st: libc::stat = std::mem::zeroed();
                step(Step::Check, libc::fstat(fd.as_raw_fd(), &mut st) as _)?;
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
        step(
            Step::JoinMountNs,
            libc::setns(job.mnt_ns.as_raw_fd(), libc::CLONE_NEWNS) as _,
        )?;
        let place_fds = open_place(place)?;
        let scratch = place_fds.scratch.as_raw_fd();
        // Mode 0: until the tree is attached, the app (no capabilities)
        // can neither open the empty mount point nor list it, so it never
        // holds a half-made grant; the attached tree shows its own mode.
        let made = if is_dir {
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
        };
        step(Step::CreatePoint, made)?;
        let undo = |failed: Failed| {
            let flags = if is_dir { libc::AT_REMOVEDIR } else { 0 };
            libc::unlinkat(scratch, place.name.as_ptr(), flags);
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
        Ok(mount_id(cloned.as_raw_fd()).map_or(0, |(id, _)| id))
    }
}

/// statx's mount id of `fd`, and whether it is the root of a mount.
unsafe fn mount_id(fd: RawFd) -> Option<(u64, bool)> {
    // SAFETY: statx is plain data; valid fd and empty path.
    unsafe {
        let mut stx: libc::statx = std::mem::zeroed();
        let rc = libc::statx(
            fd,
            c"".as_ptr(),
            libc::AT_EMPTY_PATH | libc::AT_SYMLINK_NOFOLLOW,
            libc::STATX_MNT_ID,
            &mut stx,
        );
        if rc < 0 || stx.stx_mask & libc::STATX_MNT_ID == 0 {
            return None;
        }
        let root = stx.stx_attributes & libc::STATX_ATTR_MOUNT_ROOT as u64 != 0;
        Some((stx.stx_mnt_id, root))
    }
}

unsafe fn remove_helper(
    job: &Job,
    place: &Place,
    is_dir: bool,
    recorded: Option<u64>,
) -> Result<(), Failed> {
    // SAFETY: see helper.
    unsafe {
        take_file_ids()?;
        step(
            Step::JoinMountNs,
            libc::setns(job.mnt_ns.as_raw_fd(), libc::CLONE_NEWNS) as _,
        )?;
        let place_fds = open_place(place)?;
        let (dir, scratch) = (place_fds.dir.as_raw_fd(), place_fds.scratch.as_raw_fd());
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
        let (place_id, _) = mount_id(dir).ok_or((Step::Inspect, libc::ENOTSUP))?;
        let (id, root) = mount_id(point.as_raw_fd()).ok_or((Step::Inspect, libc::ENOTSUP))?;
        if root && id != place_id {
            if recorded.is_some_and(|r| r != id) {
                // Not the mount wsbox attached: leave it alone.
                return Err((Step::Inspect, libc::EBUSY));
            }
            // By name, after the check: the files place is read-only for the
            // app and nothing but wsbox mounts there. Detached lazily: the
            // app's open fds and working directories inside keep working.
            step(
                Step::Detach,
                libc::umount2(
                    place.full.as_ptr(),
                    libc::MNT_DETACH | libc::UMOUNT_NOFOLLOW,
                ) as _,
            )?;
        }
        let flags = if is_dir { libc::AT_REMOVEDIR } else { 0 };
        if libc::unlinkat(scratch, place.name.as_ptr(), flags) < 0 && errno() != libc::ENOENT {
            return Err((Step::Unlink, errno()));
        }
    }
    Ok(())
}

/// Opens `path` inside the sandbox with the app's ids and no capabilities,
/// and copies it into `out`: at most its size when opened, holes skipped.
unsafe fn export_helper(
    job: &Job,
    path: &CString,
    out: RawFd,
    privileged: bool,
) -> Result<u64, Failed> {
    // SAFETY: see helper.
    unsafe {
        step(
            Step::JoinMountNs,
            libc::setns(job.mnt_ns.as_raw_fd(), libc::CLONE_NEWNS) as _,
        )?;
        // As the app: its uid and gid, no supplementary groups when wsbox is
        // root (an unprivileged wsbox's are the app's too), no capabilities.
        if privileged {
            step(Step::DropToApp, libc::setgroups(0, std::ptr::null()) as _)?;
        }
        step(
            Step::DropToApp,
            libc::setresgid(SANDBOX_GID, SANDBOX_GID, SANDBOX_GID) as _,
        )?;
        step(
            Step::DropToApp,
            libc::setresuid(SANDBOX_UID, SANDBOX_UID, SANDBOX_UID) as _,
        )?;
        #[repr(C)]
        struct CapHeader {
            version: u32,
            pid: i32,
        }
        #[repr(C)]
        struct CapData {
            effective: u32,
            permitted: u32,
            inheritable: u32,
        }
        let header = CapHeader {
            version: 0x2008_0522,
            pid: 0,
        };
        let data = [
            CapData {
                effective: 0,
                permitted: 0,
                inheritable: 0,
            },
            CapData {
                effective: 0,
                permitted: 0,
                inheritable: 0,
            },
        ];
        step(
            Step::DropToApp,
            libc::syscall(libc::SYS_capset, &header as *const CapHeader, data.as_ptr()),
        )?;
        // O_NOCTTY: a terminal is never taken as controlling terminal;
        // O_NONBLOCK: a FIFO does not hang the helper. Both are refused below.
        let src = sys_step(
            Step::Open,
            sys::openat2(
                sys::CWD,
                path,
                OFlags::RDONLY | OFlags::NOCTTY | OFlags::NONBLOCK,
                ResolveFlags::NO_MAGICLINKS,
            ),
        )?;
        let src = src.as_raw_fd();
        let mut st: libc::stat = std::mem::zeroed();
        step(Step::Check, libc::fstat(src, &mut st) as _)?;
        if st.st_mode & libc::S_IFMT != libc::S_IFREG {
            return Err((Step::NotRegular, 0));
        }
        let size = st.st_size.max(0) as u64;
        if size > EXPORT_MAX {
            return Err((Step::TooLarge, 0));
        }
        let mut buf = [0u8; 64 * 1024];
        let mut offset = 0u64;
        'data: while offset < size {
            let data = libc::lseek(src, offset as libc::off_t, libc::SEEK_DATA);
            if data < 0 {
                match errno() {
                    libc::ENXIO => break,
                    e => return Err((Step::Read, e)),
                }
            }
            let data = data as u64;
            if data >= size {
                break;
            }
            let hole = libc::lseek(src, data as libc::off_t, libc::SEEK_HOLE);
            let hole = if hole < 0 {
                size
            } else {
                (hole as u64).min(size)
            };
            let mut at = data;
            while at < hole {
                let want = (hole - at).min(buf.len() as u64) as usize;
                let n = libc::pread(src, buf.as_mut_ptr().cast(), want, at as libc::off_t);
                if n < 0 {
                    if errno() == libc::EINTR {
                        continue;
                    }
                    return Err((Step::Read, errno()));
                }
                if n == 0 {
                    // The file shrank while it was copied.
                    break 'data;
                }
                let mut written = 0usize;
                while written < n as usize {
                    let w = libc::pwrite(
                        out,
                        buf.as_ptr().add(written).cast(),
                        n as usize - written,
                        (at + written as u64) as libc::off_t,
                    );
                    if w < 0 {
                        if errno() == libc::EINTR {
                            continue;
                        }
                        return Err((Step::Write, errno()));
                    }
                    written += w as usize;
                }
                at += n as u64;
            }
            offset = hole;
        }
        step(Step::Write, libc::ftruncate(out, size as libc::off_t) as _)?;
        step(Step::Write, libc::fsync(out) as _)?;
        Ok(size)
    }
}

/// Forks the helper for `job` and waits for it: what it returned, or the
/// step that failed and its errno.
fn run(job: &Job, shown: &Path) -> Result<Result<u64, Failed>, Error> {
    let (read, write) =
        nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|e| Error::Step {
            step: "create a pipe for",
            path: shown.to_owned(),
            error: e.into(),
        })?;
    // SAFETY: the child makes raw syscalls only, then _exits.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(Error::Step {
            step: "fork a helper for",
            path: shown.to_owned(),
            error: io::Error::last_os_error(),
        });
    }
    if pid == 0 {
        drop(read);
        let report: [i64; 3] = match helper(job) {
            Ok(value) => [-1, 0, value as i64],
            Err((step, errno)) => [step.code(), errno as i64, 0],
        };
        // SAFETY: write and _exit are async-signal-safe; report outlives it.
        unsafe {
            libc::write(
                write.as_raw_fd(),
                report.as_ptr().cast(),
                std::mem::size_of_val(&report),
            );
            libc::_exit(0);
        }
    }
    drop(write);
    let mut bytes = [0u8; 24];
    let mut file = std::fs::File::from(read);
    let got = file.read_exact(&mut bytes);
    let mut status = 0;
    // SAFETY: waits for our own child.
    unsafe { libc::waitpid(pid, &mut status, 0) };
    if got.is_err() {
        return Err(Error::Step {
            step: "run the helper for",
            path: shown.to_owned(),
            error: io::Error::other("it died"),
        });
    }
    let word = |i: usize| {
        let mut b = [0u8; 8];
        b.copy_from_slice(&bytes[i * 8..i * 8 + 8]);
        i64::from_ne_bytes(b)
    };
    let (code, errno, value) = (word(0), word(1), word(2));
    if code < 0 {
        return Ok(Ok(value as u64));
    }
    match Step::from_code(code) {
        Some(step) => Ok(Err((step, errno as i32))),
        None => Err(Error::Step {
            step: "change",
            path: shown.to_owned(),
            error: io::Error::from_raw_os_error(errno as i32),
        }),
    }
}

fn step_error(failed: Failed, shown: &Path) -> Error {
    let (step, errno) = failed;
    Error::Step {
        step: step.action(),
        path: shown.to_owned(),
        error: io::Error::from_raw_os_error(errno),
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
    let (user_ns, mnt_ns) = namespaces(pid1)?;
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
    let job = Job {
        user_ns,
        mnt_ns,
        kind: JobKind::Add {
            place: Place::new(dir, name)?,
            tree,
            real,
            is_dir: opened.kind == hostpath::Kind::Dir,
            attrs,
        },
    };
    let id = run(&job, host)?.map_err(|f| step_error(f, host))?;
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
    let (user_ns, mnt_ns) = namespaces(pid1)?;
    let inside = dir.join(name);
    let job = Job {
        user_ns,
        mnt_ns,
        kind: JobKind::Remove {
            place: Place::new(dir, name)?,
            is_dir,
            mount_id,
        },
    };
    run(&job, &inside)?.map_err(|f| step_error(f, &inside))?;
    Ok(())
}

/// Copies the regular file `inside` (a path in the sandbox, opened with the
/// app's rights) into the host directory `dir` (an fd the user's command
/// line opened; `host_dir` is its path, for messages), under its own name; an
/// existing file is replaced only with `force`, and then by rename, never
/// written through. The copy is mode 0600 and at most [`EXPORT_MAX`] bytes.
pub fn export(
    pid1: i32,
    privileged: bool,
    inside: &Path,
    dir: BorrowedFd<'_>,
    host_dir: &Path,
    force: bool,
) -> Result<PathBuf, Error> {
    let inside_err = |why: String| Error::Inside {
        path: inside.to_owned(),
        why,
    };
    let name = match inside.file_name() {
        Some(name) if inside.is_absolute() => name.to_owned(),
        _ => return Err(inside_err("not an absolute path to a file".into())),
    };
    let c_inside = c_path(inside)?;
    let (user_ns, mnt_ns) = namespaces(pid1)?;
    let st = hostpath::fstat(dir).map_err(|error| Error::Step {
        step: "export into",
        path: host_dir.to_owned(),
        error,
    })?;
    if st.st_mode & libc::S_IFMT != libc::S_IFDIR {
        return Err(Error::Step {
            step: "export into",
            path: host_dir.to_owned(),
            error: io::Error::from_raw_os_error(libc::ENOTDIR),
        });
    }
    let target = host_dir.join(&name);
    let write_err = |error| Error::Step {
        step: "write",
        path: target.clone(),
        error,
    };
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let tmp_name = format!(
        ".{}.wsbox-export-{}-{nanos}",
        name.to_string_lossy().chars().take(64).collect::<String>(),
        std::process::id()
    );
    let c_tmp =
        CString::new(tmp_name).map_err(|_| write_err(io::ErrorKind::InvalidInput.into()))?;
    let c_name = c_path(Path::new(&name))?;
    // Unnamed (O_TMPFILE) until the copy is complete, so a copy cut short
    // (the sandbox stopped, wsbox killed) leaves nothing behind; a named
    // temporary file where the file system has no O_TMPFILE.
    // SAFETY: valid fd and strings; a new fd or -1.
    let mut fd = unsafe {
        libc::openat(
            dir.as_raw_fd(),
            c".".as_ptr(),
            libc::O_TMPFILE | libc::O_WRONLY | libc::O_CLOEXEC,
            0o600,
        )
    };
    let named = fd < 0;
    if named {
        // SAFETY: as above.
        fd = unsafe {
            libc::openat(
                dir.as_raw_fd(),
                c_tmp.as_ptr(),
                libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL | libc::O_NOFOLLOW | libc::O_CLOEXEC,
                0o600,
            )
        };
    }
    if fd < 0 {
        return Err(write_err(io::Error::last_os_error()));
    }
    // SAFETY: a fresh fd owned by nothing else.
    let out = unsafe { OwnedFd::from_raw_fd(fd) };
    let unlink_tmp = || {
        // SAFETY: valid fd and string.
        unsafe { libc::unlinkat(dir.as_raw_fd(), c_tmp.as_ptr(), 0) };
    };
    let job = Job {
        user_ns,
        mnt_ns,
        kind: JobKind::Export {
            path: c_inside,
            out: out.as_raw_fd(),
            privileged,
        },
    };
    let copied = match run(&job, inside) {
        Ok(Ok(_)) => Ok(()),
        Ok(Err((step, errno))) => Err(match step {
            Step::NotRegular => inside_err("not a regular file".into()),
            Step::TooLarge => inside_err(format!(
                "larger than {} GiB, the most wsbox exports",
                EXPORT_MAX >> 30
            )),
            Step::Open | Step::Check | Step::Read => {
                inside_err(io::Error::from_raw_os_error(errno).to_string())
            }
            Step::Write => write_err(io::Error::from_raw_os_error(errno)),
            _ => step_error((step, errno), inside),
        }),
        Err(e) => Err(e),
    };
    let copied = copied.and_then(|()| {
        if named {
            return Ok(());
        }
        let proc_fd = CString::new(format!("/proc/self/fd/{}", out.as_raw_fd()))
            .map_err(|_| write_err(io::ErrorKind::InvalidInput.into()))?;
        // SAFETY: valid fds and strings.
        let rc = unsafe {
            libc::linkat(
                libc::AT_FDCWD,
                proc_fd.as_ptr(),
                dir.as_raw_fd(),
                c_tmp.as_ptr(),
                libc::AT_SYMLINK_FOLLOW,
            )
        };
        if rc < 0 {
            return Err(write_err(io::Error::last_os_error()));
        }
        Ok(())
    });
    drop(out);
    if let Err(e) = copied {
        if named {
            unlink_tmp();
        }
        return Err(e);
    }
    let flags = if force { 0 } else { libc::RENAME_NOREPLACE };
    // SAFETY: valid fds and strings.
    let rc = unsafe {
        libc::renameat2(
            dir.as_raw_fd(),
            c_tmp.as_ptr(),
            dir.as_raw_fd(),
            c_name.as_ptr(),
            flags,
        )
    };
    if rc < 0 {
        let err = io::Error::last_os_error();
        unlink_tmp();
        if err.raw_os_error() == Some(libc::EEXIST) {
            return Err(Error::Exists(target));
        }
        return Err(write_err(err));
    }
    Ok(target)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_step_comes_back_from_its_code_in_a_report() {
        for (i, step) in Step::ALL.iter().enumerate() {
            assert_eq!(
                step.code(),
                i as i64,
                "{step:?} is out of order in Step::ALL"
            );
            assert_eq!(Step::from_code(step.code()), Some(*step));
        }
        assert_eq!(Step::from_code(-1), None);
        assert_eq!(Step::from_code(Step::ALL.len() as i64), None);
        assert_eq!(
            Step::JoinMountNs.action(),
            "join the sandbox's mount namespace"
        );
    }
}
