//! Save grants: a document for a host path the user chose in a Save dialog
//! (the file chooser's SaveFile), which may not exist yet.
//!
//! The app is given an empty directory of its own and saves the name there
//! as on any file system (a plain write, or a temporary file renamed onto
//! it; GLib's `g_file_replace` creates a new name directly, with
//! `O_CREAT | O_EXCL`). Nothing of the host file is copied in: the app
//! overwrites it and need not read it. From then on it is a document like
//! any other ([`Document::sync`]): each save replaces the host file (a new
//! file beside it, renamed over it), and the first save creates it when it
//! was missing. A grant the app never saves writes nothing and creates
//! nothing on the host.

use std::ffi::OsString;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::PathBuf;

use super::{fstat, fstatat, Document, Error, Result, Stamp};

impl Document {
    /// The save grant of `host_name` in `host_dir` (`shown` to the user),
    /// saved by the app as `name` in `inside_dir`, which is empty.
    ///
    /// When the host file exists it must be a regular file (never a
    /// symbolic link, a FIFO or a directory): its stamp, mode and owner are
    /// kept as for any document, so a change made by someone else before
    /// the first save is a conflict. When it does not, the first save
    /// creates it with mode `0o666 & !umask` (`umask`: the user's) and the
    /// owner a file this process creates there gets; one created by
    /// someone else meanwhile is kept, the app's save going beside it.
    pub fn for_save(
        shown: PathBuf,
        host_dir: OwnedFd,
        host_name: OsString,
        inside_dir: OwnedFd,
        name: OsString,
        max_bytes: u64,
        umask: u32,
    ) -> Result<Self> {
        let (host, mode, owner) = match fstatat(host_dir.as_fd(), &host_name) {
            Ok(st) if st.st_mode & libc::S_IFMT == libc::S_IFREG => (
                Some(Stamp::of(&st)),
                st.st_mode & 0o777,
                (st.st_uid, st.st_gid),
            ),
            Ok(_) => return Err(Error::NotRegular { path: shown }),
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {
                let owner = new_file_owner(host_dir.as_fd()).map_err(|source| Error::Io {
                    what: "inspect the directory of",
                    path: shown.clone(),
                    source,
                })?;
                (None, 0o666 & !umask & 0o777, owner)
            }
            Err(source) => {
                return Err(Error::Io {
                    what: "inspect",
                    path: shown,
                    source,
                })
            }
        };
        Ok(Self {
            shown,
            host_dir,
            host_name,
            inside_dir,
            name,
            host,
            mode,
            owner,
            // Whatever is saved there first is written back.
            inside: None,
            max_bytes,
        })
    }
}

/// The owner of a file this process creates in `dir`: its effective uid,
/// and its effective gid unless `dir` is setgid (then the directory's).
fn new_file_owner(dir: BorrowedFd<'_>) -> std::io::Result<(u32, u32)> {
    let st = fstat(dir)?;
    // SAFETY: no arguments, cannot fail.
    let (uid, gid) = unsafe { (libc::geteuid(), libc::getegid()) };
    let setgid = st.st_mode & libc::S_ISGID != 0;
    Ok((uid, if setgid { st.st_gid } else { gid }))
}
