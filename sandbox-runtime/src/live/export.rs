//! Copying a file out of a running sandbox into a host directory. The
//! helper takes the app's ids and drops every capability before it opens the
//! file inside the sandbox's mount namespace, so it reads only what the app
//! could read itself; wsbox names the copy in the directory the user's
//! command line opened. Nothing here writes through an existing file: a
//! file already there is replaced by rename, and only when forced.

use std::ffi::{CStr, CString};
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use super::helper::{self, errno, step, step_error, sys_step, Failed, Namespaces, Step};
use super::{c_path, Error};
use crate::hostpath;
use crate::plan::{SANDBOX_GID, SANDBOX_UID};
use crate::sys::{self, OFlags, ResolveFlags};

/// The largest file `export` copies: 4 GiB.
pub const EXPORT_MAX: u64 = 4 << 30;

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
    let ns = helper::namespaces(pid1)?;
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
    let job = || export_helper(&ns, &c_inside, out.as_fd(), privileged);
    let copied = match helper::run(&ns, inside, job) {
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

/// The helper's side of [`export`]: opens `path` inside the sandbox with
/// the app's ids and no capabilities, and copies it into `out`: at most its
/// size when opened, holes skipped.
fn export_helper(
    ns: &Namespaces,
    path: &CStr,
    out: BorrowedFd<'_>,
    privileged: bool,
) -> Result<u64, Failed> {
    ns.join_mount_ns()?;
    drop_to_app(privileged)?;
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
    let st = sys_step(Step::Check, hostpath::fstat(src.as_fd()))?;
    if st.st_mode & libc::S_IFMT != libc::S_IFREG {
        return Err((Step::NotRegular, 0));
    }
    let size = st.st_size.max(0) as u64;
    if size > EXPORT_MAX {
        return Err((Step::TooLarge, 0));
    }
    copy(src.as_fd(), out, size)?;
    let out = out.as_raw_fd();
    // SAFETY: ftruncate and fsync on the fd wsbox opened for the copy.
    unsafe {
        step(Step::Write, libc::ftruncate(out, size as libc::off_t) as _)?;
        step(Step::Write, libc::fsync(out) as _)?;
    }
    Ok(size)
}

/// Becomes the app: its uid and gid, no supplementary groups when wsbox is
/// root (an unprivileged wsbox's are the app's too), no capabilities.
fn drop_to_app(privileged: bool) -> Result<(), Failed> {
    // SAFETY: credential changes with integer arguments (and no group list),
    // in the single-threaded helper; they change this process alone.
    unsafe {
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
    }
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
    // SAFETY: capset reads the header and the two data structs of version
    // 3, all alive for the call.
    let rc = unsafe { libc::syscall(libc::SYS_capset, &header as *const CapHeader, data.as_ptr()) };
    step(Step::DropToApp, rc)?;
    Ok(())
}

/// Copies the first `size` bytes of `src` into `out` at the same offsets,
/// skipping holes; stops early when `src` shrinks.
fn copy(src: BorrowedFd<'_>, out: BorrowedFd<'_>, size: u64) -> Result<(), Failed> {
    let (src, out) = (src.as_raw_fd(), out.as_raw_fd());
    let mut buf = [0u8; 64 * 1024];
    let mut offset = 0u64;
    // SAFETY: lseek, pread and pwrite on two open fds, reading into and
    // writing from `buf` within its length.
    unsafe {
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
    }
    Ok(())
}
