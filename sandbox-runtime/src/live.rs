//! Files in a running sandbox: attach a host file or directory under
//! /run/wsbox/files, take it away again, and copy a file out.
//!
//! Mounting happens in a forked helper that joins the sandbox's user
//! namespace (wsbox owns it, so the helper has every capability there) and
//! then its mount namespace. Run by root, wsbox clones the host path's mount
//! in the host namespace first; unprivileged, the helper unshares a mount
//! namespace of its own (a copy of the host's, owned by the sandbox's user
//! namespace), opens the real path there without following symlinks and
//! checks that it is the inode wsbox checked. The helper only makes raw
//! syscalls: wsbox may have threads, and a forked copy must not allocate.
//!
//! Copying out reads the sandbox's file relative to /proc/PID/root with
//! RESOLVE_IN_ROOT, so a symlink the app planted cannot lead outside its root.

use std::ffi::{CString, OsStr};
use std::io::{self, Read};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use crate::hostpath::{self, tree, Opened};
use crate::plan::{FILES_DIR, SANDBOX_GID, SANDBOX_UID};

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

fn open_proc(pid1: i32, entry: &str, flags: i32) -> Result<OwnedFd, Error> {
    let mut last = io::Error::from_raw_os_error(libc::ESRCH);
    for pid in candidates(pid1) {
        let path = format!("/proc/{pid}/{entry}");
        let Ok(c) = CString::new(path) else { continue };
        match hostpath::openat2(libc::AT_FDCWD, &c, flags, 0) {
            Ok(fd) => return Ok(fd),
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

/// What the helper does, with every string prepared before the fork.
struct Job {
    user_ns: OwnedFd,
    mnt_ns: OwnedFd,
    files: CString,
    dir: CString,
    name: CString,
    full: CString,
    kind: JobKind,
}

enum JobKind {
    Add {
        tree: Option<OwnedFd>,
        real: Option<(CString, u64, u64)>,
        is_dir: bool,
        rw: bool,
    },
    Remove {
        is_dir: bool,
    },
}

/// The helper's steps, for error messages.
const STEPS: &[&str] = &[
    "join the sandbox's user namespace",
    "take the sandbox's file ids",
    "make a mount namespace for",
    "open",
    "check",
    "clone the mount of",
    "join the sandbox's mount namespace",
    "open the files place for",
    "unseal the files place for",
    "create the mount point of",
    "seal the files place for",
    "open the mount point of",
    "attach",
    "set the mount attributes of",
    "detach",
    "remove the mount point of",
];

fn step(n: usize, rc: libc::c_long) -> Result<libc::c_long, (usize, i32)> {
    if rc < 0 {
        // SAFETY: reads this thread's errno.
        Err((n, unsafe { *libc::__errno_location() }))
    } else {
        Ok(rc)
    }
}

/// Runs in the forked helper: raw syscalls only.
fn helper(job: &Job) -> Result<(), (usize, i32)> {
    const RESOLVE: u64 = libc::RESOLVE_NO_SYMLINKS | libc::RESOLVE_NO_MAGICLINKS;
    // SAFETY (whole function): raw syscalls on fds and C strings that stay
    // valid; the process is a single-threaded fork.
    unsafe {
        step(
            0,
            libc::setns(job.user_ns.as_raw_fd(), libc::CLONE_NEWUSER) as _,
        )?;
        // Mount points are created as the app's ids: the files place's
        // tmpfs belongs to the sandbox's user namespace.
        libc::setfsgid(SANDBOX_GID);
        libc::setfsuid(SANDBOX_UID);
        if libc::setfsuid(u32::MAX) as u32 != SANDBOX_UID {
            return Err((1, libc::EPERM));
        }
        let mut cloned: RawFd = -1;
        if let JobKind::Add { tree, real, .. } = &job.kind {
            match (tree, real) {
                (Some(tree), _) => cloned = tree.as_raw_fd(),
                (None, Some((real, dev, ino))) => {
                    step(2, libc::unshare(libc::CLONE_NEWNS) as _)?;
                    let fd = raw_openat2(
                        libc::AT_FDCWD,
                        real,
                        libc::O_PATH | libc::O_NOFOLLOW,
                        RESOLVE,
                    );
                    let fd = step(3, fd)? as RawFd;
                    let mut st: libc::stat = std::mem::zeroed();
                    step(4, libc::fstat(fd, &mut st) as _)?;
                    if st.st_dev != *dev || st.st_ino != *ino {
                        return Err((4, libc::ESTALE));
                    }
                    cloned = step(
                        5,
                        libc::syscall(
                            libc::SYS_open_tree,
                            fd,
                            c"".as_ptr(),
                            1 | libc::O_CLOEXEC as libc::c_uint
                                | libc::AT_RECURSIVE as libc::c_uint
                                | libc::AT_EMPTY_PATH as libc::c_uint,
                        ),
                    )? as RawFd;
                }
                (None, None) => return Err((5, libc::EINVAL)),
            }
        }
        step(
            6,
            libc::setns(job.mnt_ns.as_raw_fd(), libc::CLONE_NEWNS) as _,
        )?;
        let files = step(
            7,
            raw_openat2(
                libc::AT_FDCWD,
                &job.files,
                libc::O_PATH | libc::O_DIRECTORY,
                RESOLVE,
            ),
        )? as RawFd;
        let dir = step(
            7,
            raw_openat2(
                libc::AT_FDCWD,
                &job.dir,
                libc::O_PATH | libc::O_DIRECTORY,
                RESOLVE,
            ),
        )? as RawFd;
        match &job.kind {
            JobKind::Add { is_dir, rw, .. } => {
                step(8, setattr(files, 0, tree::MOUNT_ATTR_RDONLY))?;
                let made = if *is_dir {
                    libc::mkdirat(dir, job.name.as_ptr(), 0o755) as libc::c_long
                } else {
                    let fd = libc::openat(
                        dir,
                        job.name.as_ptr(),
                        libc::O_WRONLY
                            | libc::O_CREAT
                            | libc::O_EXCL
                            | libc::O_NOFOLLOW
                            | libc::O_CLOEXEC,
                        0o644,
                    );
                    if fd >= 0 {
                        libc::close(fd);
                    }
                    fd as libc::c_long
                };
                let made = step(9, made);
                step(10, setattr(files, tree::MOUNT_ATTR_RDONLY, 0))?;
                made?;
                let point = step(
                    11,
                    raw_openat2(
                        dir,
                        &job.name,
                        libc::O_PATH | libc::O_NOFOLLOW,
                        RESOLVE | libc::RESOLVE_BENEATH,
                    ),
                )? as RawFd;
                step(
                    12,
                    libc::syscall(
                        libc::SYS_move_mount,
                        cloned,
                        c"".as_ptr(),
                        point,
                        c"".as_ptr(),
                        0x4u32 | 0x40u32,
                    ),
                )?;
                let mut attrs = tree::MOUNT_ATTR_NOSUID | tree::MOUNT_ATTR_NODEV;
                if !*rw {
                    attrs |= tree::MOUNT_ATTR_RDONLY;
                }
                step(13, setattr_rec(cloned, attrs))?;
            }
            JobKind::Remove { is_dir } => {
                step(
                    14,
                    libc::umount2(job.full.as_ptr(), libc::MNT_DETACH | libc::UMOUNT_NOFOLLOW) as _,
                )?;
                step(8, setattr(files, 0, tree::MOUNT_ATTR_RDONLY))?;
                let flags = if *is_dir { libc::AT_REMOVEDIR } else { 0 };
                let removed = step(15, libc::unlinkat(dir, job.name.as_ptr(), flags) as _);
                step(10, setattr(files, tree::MOUNT_ATTR_RDONLY, 0))?;
                removed?;
            }
        }
    }
    Ok(())
}

unsafe fn raw_openat2(dir: RawFd, path: &CString, flags: i32, resolve: u64) -> libc::c_long {
    // SAFETY: open_how is plain data.
    let mut how: libc::open_how = unsafe { std::mem::zeroed() };
    how.flags = (flags | libc::O_CLOEXEC) as u64;
    how.resolve = resolve;
    // SAFETY: valid pointers for the call.
    unsafe {
        libc::syscall(
            libc::SYS_openat2,
            dir,
            path.as_ptr(),
            &how as *const libc::open_how,
            std::mem::size_of::<libc::open_how>(),
        )
    }
}

#[repr(C)]
struct MountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}

unsafe fn mount_setattr(fd: RawFd, flags: u32, set: u64, clear: u64) -> libc::c_long {
    let attr = MountAttr {
        attr_set: set,
        attr_clr: clear,
        propagation: 0,
        userns_fd: 0,
    };
    // SAFETY: valid fd, empty path, attr outlives the call.
    unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            fd,
            c"".as_ptr(),
            flags,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    }
}

unsafe fn setattr(fd: RawFd, set: u64, clear: u64) -> libc::c_long {
    // SAFETY: see mount_setattr.
    unsafe { mount_setattr(fd, libc::AT_EMPTY_PATH as u32, set, clear) }
}

unsafe fn setattr_rec(fd: RawFd, set: u64) -> libc::c_long {
    // SAFETY: see mount_setattr.
    unsafe {
        mount_setattr(
            fd,
            (libc::AT_EMPTY_PATH | libc::AT_RECURSIVE) as u32,
            set,
            0,
        )
    }
}

/// Forks the helper for `job` and waits for it.
fn run(job: &Job, shown: &Path) -> Result<(), Error> {
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
        let report: [i32; 2] = match helper(job) {
            Ok(()) => [-1, 0],
            Err((n, errno)) => [n as i32, errno],
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
    let mut bytes = [0u8; 8];
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
    let n = i32::from_ne_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
    let errno = i32::from_ne_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]);
    if n < 0 {
        return Ok(());
    }
    Err(Error::Step {
        step: STEPS.get(n as usize).copied().unwrap_or("change"),
        path: shown.to_owned(),
        error: io::Error::from_raw_os_error(errno),
    })
}

fn namespaces(pid1: i32) -> Result<(OwnedFd, OwnedFd), Error> {
    Ok((
        open_proc(pid1, "ns/user", libc::O_RDONLY)?,
        open_proc(pid1, "ns/mnt", libc::O_RDONLY)?,
    ))
}

/// Attaches `opened` (the host path `host`) at `dir/name` inside the
/// sandbox whose pid 1 is `pid1`.
pub fn add(
    pid1: i32,
    host: &Path,
    opened: &Opened,
    dir: &Path,
    name: &OsStr,
    rw: bool,
    privileged: bool,
) -> Result<PathBuf, Error> {
    let (user_ns, mnt_ns) = namespaces(pid1)?;
    let inside = dir.join(name);
    let step_err = |step, error| Error::Step {
        step,
        path: host.to_owned(),
        error,
    };
    let (tree, real) = if privileged {
        let tree = tree::clone(opened.fd.as_fd()).map_err(|e| step_err("clone the mount of", e))?;
        (Some(tree), None)
    } else {
        let real = hostpath::real_path(opened.fd.as_fd()).map_err(|e| step_err("open", e))?;
        (None, Some((c_path(&real)?, opened.dev, opened.ino)))
    };
    let job = Job {
        user_ns,
        mnt_ns,
        files: c_path(Path::new(FILES_DIR))?,
        dir: c_path(dir)?,
        name: c_path(Path::new(name))?,
        full: c_path(&inside)?,
        kind: JobKind::Add {
            tree,
            real,
            is_dir: opened.kind == hostpath::Kind::Dir,
            rw,
        },
    };
    run(&job, host)?;
    Ok(inside)
}

/// Detaches what is mounted at `dir/name` and removes its mount point.
pub fn remove(pid1: i32, dir: &Path, name: &OsStr, is_dir: bool) -> Result<(), Error> {
    let (user_ns, mnt_ns) = namespaces(pid1)?;
    let inside = dir.join(name);
    let job = Job {
        user_ns,
        mnt_ns,
        files: c_path(Path::new(FILES_DIR))?,
        dir: c_path(dir)?,
        name: c_path(Path::new(name))?,
        full: c_path(&inside)?,
        kind: JobKind::Remove { is_dir },
    };
    run(&job, &inside)
}

/// Copies the regular file `inside` (a path in the sandbox) into the host
/// directory `host_dir`, under its own name; an existing file is replaced
/// only with `force`, and then by rename, never written through.
pub fn export(pid1: i32, inside: &Path, host_dir: &Path, force: bool) -> Result<PathBuf, Error> {
    let name = match inside.file_name() {
        Some(name) if inside.is_absolute() => name.to_owned(),
        _ => {
            return Err(Error::Inside {
                path: inside.to_owned(),
                why: "not an absolute path to a file".into(),
            })
        }
    };
    let root = open_proc(pid1, "root", libc::O_PATH | libc::O_DIRECTORY)?;
    let rel = inside.strip_prefix("/").unwrap_or(inside);
    let inside_err = |why: String| Error::Inside {
        path: inside.to_owned(),
        why,
    };
    let source = hostpath::openat2(
        root.as_raw_fd(),
        &c_path(rel)?,
        libc::O_RDONLY | libc::O_NONBLOCK,
        libc::RESOLVE_IN_ROOT | libc::RESOLVE_NO_MAGICLINKS,
    )
    .map_err(|e| inside_err(e.to_string()))?;
    let st = hostpath::fstat(source.as_fd()).map_err(|e| inside_err(e.to_string()))?;
    if st.st_mode & libc::S_IFMT != libc::S_IFREG {
        return Err(inside_err("not a regular file".into()));
    }
    let dir = hostpath::open(host_dir).map_err(Error::Path)?;
    if dir.kind != hostpath::Kind::Dir {
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
    // SAFETY: valid fd and strings; a new fd or -1.
    let fd = unsafe {
        libc::openat(
            dir.fd.as_raw_fd(),
            c_tmp.as_ptr(),
            libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL | libc::O_NOFOLLOW | libc::O_CLOEXEC,
            0o644,
        )
    };
    if fd < 0 {
        return Err(write_err(io::Error::last_os_error()));
    }
    // SAFETY: a fresh fd owned by nothing else.
    let mut out = std::fs::File::from(unsafe { OwnedFd::from_raw_fd(fd) });
    let mut input = std::fs::File::from(source);
    let copied = io::copy(&mut input, &mut out).and_then(|_| out.sync_all());
    let unlink_tmp = || {
        // SAFETY: valid fd and string.
        unsafe { libc::unlinkat(dir.fd.as_raw_fd(), c_tmp.as_ptr(), 0) };
    };
    if let Err(e) = copied {
        unlink_tmp();
        return Err(write_err(e));
    }
    let flags = if force { 0 } else { libc::RENAME_NOREPLACE };
    // SAFETY: valid fds and strings.
    let rc = unsafe {
        libc::renameat2(
            dir.fd.as_raw_fd(),
            c_tmp.as_ptr(),
            dir.fd.as_raw_fd(),
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
