//! Document grants: one host file shown to the app in a directory of its
//! own, as a copy in the sandbox's private storage, and written back to the
//! host file whenever the app has saved it.
//!
//! Editors save in ways a bind mount of the file cannot take: a temporary
//! file beside the document renamed over it (GLib's `g_file_replace`, Qt's
//! `QSaveFile`, vim), a lock file beside it (LibreOffice's `.~lock.NAME#`),
//! a backup renamed away. In the grant's own directory all of that works as
//! on any file system, and none of it reaches the host: only the document's
//! name is mapped. When a write to that name is closed, or a file is
//! renamed onto it, its contents replace the host file atomically (a new
//! file beside it, renamed over it) with the host file's owner and mode.
//!
//! This module never follows a symbolic link on either side, never writes
//! anything on the host but the document and its temporary file (or, when
//! the host file changed meanwhile, a new file beside it), and never deletes
//! a host file: an app that removes the document removes its copy. It runs
//! in the documents helper ([`super::documents`]), not in the confined
//! wsbox, which may not write host files. A save grant ([`save`]) is a
//! document whose host file may not exist yet: its first save creates it.

use std::ffi::{CString, OsStr, OsString};
use std::fs::File;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

mod save;

/// Errors of a document grant.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("failed to {what} {path}: {source}")]
    Io {
        what: &'static str,
        path: PathBuf,
        source: io::Error,
    },
    #[error("{path} is not a regular file")]
    NotRegular { path: PathBuf },
    #[error("{path} is larger than {max} bytes, the most a document may hold")]
    TooLarge { path: PathBuf, max: u64 },
    /// The copy changed while it was read: what was read is not written.
    #[error("the copy of {path} changed while it was being written back")]
    Changing { path: PathBuf },
}

type Result<T> = std::result::Result<T, Error>;

/// What identifies a file's contents closely enough to tell whether anyone
/// changed it: the inode, its size and its change times.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    dev: u64,
    ino: u64,
    size: i64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

impl Stamp {
    /// The stamp of what `st` describes.
    pub fn of(st: &libc::stat) -> Self {
        Self {
            dev: st.st_dev,
            ino: st.st_ino,
            size: st.st_size,
            mtime: (st.st_mtime, st.st_mtime_nsec),
            ctime: (st.st_ctime, st.st_ctime_nsec),
        }
    }
}

/// What a [`Document::sync`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Synced {
    /// The copy is as it was when last synced (or copied in).
    Unchanged,
    /// The host file now holds the copy's contents.
    Written,
    /// The host file had changed since the last sync: the copy went to a new
    /// file beside it, which the document is mapped to from now on.
    Conflict(PathBuf),
    /// There is no document in the grant's directory (the app removed or
    /// renamed it away): nothing was written.
    Missing,
    /// The copy changed while it was being read (the app writes it still):
    /// nothing was replaced; its next close, or the end, writes it back.
    Changing,
}

/// One granted document: its host directory and name, and the private
/// directory the app sees it in.
#[derive(Debug)]
pub struct Document {
    /// The host path as the user gave it, for messages.
    shown: PathBuf,
    host_dir: OwnedFd,
    host_name: OsString,
    inside_dir: OwnedFd,
    name: OsString,
    /// The host file as wsbox last wrote or read it.
    host: Option<Stamp>,
    /// The host file's mode and owner, kept for the files that replace it.
    mode: u32,
    owner: (u32, u32),
    /// The copy as last synced; `None` until it has been compared.
    inside: Option<Stamp>,
    max_bytes: u64,
}

/// Copies `host` (an open host file) into `dir` as `name`, a new regular
/// file with `host`'s permission bits and `owner` (the app's ids, when the
/// caller may set them). Used where the grant's directory is made, before
/// the app can see it.
pub fn copy_in(
    host: &File,
    dir: BorrowedFd<'_>,
    name: &OsStr,
    owner: Option<(u32, u32)>,
    max_bytes: u64,
) -> Result<()> {
    let shown = PathBuf::from(name);
    let st = fstat(host.as_fd()).map_err(|source| Error::Io {
        what: "inspect",
        path: shown.clone(),
        source,
    })?;
    if st.st_mode & libc::S_IFMT != libc::S_IFREG {
        return Err(Error::NotRegular { path: shown });
    }
    if u64::try_from(st.st_size).unwrap_or(u64::MAX) > max_bytes {
        return Err(Error::TooLarge {
            path: shown,
            max: max_bytes,
        });
    }
    let io = |what| {
        let path = shown.clone();
        move |source| Error::Io { what, path, source }
    };
    let mode = (st.st_mode & 0o666) | 0o600;
    let copy = openat(
        dir,
        name,
        libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL | libc::O_NOFOLLOW,
        mode,
    )
    .map_err(io("create"))?;
    // The mode whatever the umask: the app must be able to write it.
    fchmod(copy.as_fd(), mode).map_err(io("set the mode of"))?;
    let mut copy = File::from(copy);
    let mut source = host.try_clone().map_err(io("read"))?;
    // From the start, whatever the caller read before.
    seek_start(&source).map_err(io("read"))?;
    io::copy(&mut source, &mut copy).map_err(io("copy"))?;
    if let Some((uid, gid)) = owner {
        fchown(copy.as_fd(), uid, gid).map_err(io("hand over"))?;
    }
    Ok(())
}

impl Document {
    /// The grant of the host file `host_name` in `host_dir` (`shown` to the
    /// user), seen by the app as `name` in `inside_dir`, where
    /// [`copy_in`] put it. The copy is compared with the host file now, so
    /// that a change the app made before this call is not missed.
    /// `granted`: the host file as it was when it was granted, if that was
    /// earlier; a change since is then kept as the host's (a conflict at
    /// the first save), not taken as where the app started from.
    pub fn new(
        shown: PathBuf,
        host_dir: OwnedFd,
        host_name: OsString,
        inside_dir: OwnedFd,
        name: OsString,
        max_bytes: u64,
        granted: Option<Stamp>,
    ) -> Result<Self> {
        let st = fstatat(host_dir.as_fd(), &host_name).map_err(|source| Error::Io {
            what: "inspect",
            path: shown.clone(),
            source,
        })?;
        if st.st_mode & libc::S_IFMT != libc::S_IFREG {
            return Err(Error::NotRegular { path: shown });
        }
        let mut doc = Self {
            shown,
            host_dir,
            host_name,
            inside_dir,
            name,
            host: Some(Stamp::of(&st)),
            mode: st.st_mode & 0o777,
            owner: (st.st_uid, st.st_gid),
            inside: None,
            max_bytes,
        };
        match granted {
            // Changed on the host since the copy was made: the host file is
            // someone else's now, and the copy is where the app started
            // (a save of it is a conflict; no save, nothing is written).
            Some(granted) if doc.host != Some(granted) => {
                doc.host = Some(granted);
                doc.inside = doc.open_copy()?.map(|(stamp, _)| stamp);
            }
            _ => doc.inside = doc.same_contents()?,
        }
        Ok(doc)
    }

    /// The host path the document is written to.
    pub fn host_path(&self) -> PathBuf {
        self.shown
            .parent()
            .unwrap_or(Path::new(""))
            .join(&self.host_name)
    }

    /// The copy's stamp when its contents equal the host file's, else None.
    fn same_contents(&self) -> Result<Option<Stamp>> {
        let Some(copy) = self.open_copy()? else {
            return Ok(None);
        };
        let host = match openat(
            self.host_dir.as_fd(),
            &self.host_name,
            libc::O_RDONLY | libc::O_NOFOLLOW | libc::O_NONBLOCK,
            0,
        ) {
            Ok(fd) => File::from(fd),
            Err(_) => return Ok(None),
        };
        let (stamp, copy) = copy;
        let same = equal_files(&copy, &host).map_err(|source| Error::Io {
            what: "compare",
            path: self.shown.clone(),
            source,
        })?;
        Ok(same.then_some(stamp))
    }

    /// The copy opened for reading and its stamp; None when there is no
    /// document in the directory.
    fn open_copy(&self) -> Result<Option<(Stamp, File)>> {
        let inside = || PathBuf::from(&self.name);
        let fd = match openat(
            self.inside_dir.as_fd(),
            &self.name,
            libc::O_RDONLY | libc::O_NOFOLLOW | libc::O_NONBLOCK,
            0,
        ) {
            Ok(fd) => fd,
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => return Ok(None),
            Err(e) if e.raw_os_error() == Some(libc::ELOOP) => {
                return Err(Error::NotRegular { path: inside() })
            }
            Err(source) => {
                return Err(Error::Io {
                    what: "open the copy of",
                    path: self.shown.clone(),
                    source,
                })
            }
        };
        let st = fstat(fd.as_fd()).map_err(|source| Error::Io {
            what: "inspect the copy of",
            path: self.shown.clone(),
            source,
        })?;
        if st.st_mode & libc::S_IFMT != libc::S_IFREG {
            return Err(Error::NotRegular { path: inside() });
        }
        if u64::try_from(st.st_size).unwrap_or(u64::MAX) > self.max_bytes {
            return Err(Error::TooLarge {
                path: inside(),
                max: self.max_bytes,
            });
        }
        Ok(Some((Stamp::of(&st), File::from(fd))))
    }

    /// Writes the copy back to the host file if it changed since the last
    /// sync.
    pub fn sync(&mut self) -> Result<Synced> {
        let Some((stamp, mut copy)) = self.open_copy()? else {
            return Ok(Synced::Missing);
        };
        if self.inside == Some(stamp) {
            return Ok(Synced::Unchanged);
        }
        let now = match fstatat(self.host_dir.as_fd(), &self.host_name) {
            Ok(st) => Some(st),
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => None,
            Err(source) => {
                return Err(Error::Io {
                    what: "inspect",
                    path: self.host_path(),
                    source,
                })
            }
        };
        if let Some(st) = &now {
            if st.st_mode & libc::S_IFMT != libc::S_IFREG {
                return Err(Error::NotRegular {
                    path: self.host_path(),
                });
            }
        }
        // Someone else changed the host file since wsbox last wrote or
        // read it: both versions are kept.
        let changed = now.as_ref().map(Stamp::of) != self.host && now.is_some();
        let written = if changed {
            self.write_conflict(&mut copy, stamp).map(|name| {
                self.host_name = name;
                Synced::Conflict(self.host_path())
            })
        } else {
            self.replace(&mut copy, stamp).map(|()| Synced::Written)
        };
        let outcome = match written {
            Ok(outcome) => outcome,
            Err(Error::Changing { .. }) => return Ok(Synced::Changing),
            Err(e) => return Err(e),
        };
        let st = fstatat(self.host_dir.as_fd(), &self.host_name).map_err(|source| Error::Io {
            what: "inspect",
            path: self.host_path(),
            source,
        })?;
        self.host = Some(Stamp::of(&st));
        self.inside = Some(stamp);
        Ok(outcome)
    }

    /// Replaces the host file with `copy`: a new file beside it with its
    /// mode and owner, renamed over it. Where the owner cannot be kept (the
    /// file is someone else's, shared through its group), the file is
    /// rewritten in place instead.
    fn replace(&self, copy: &mut File, stamp: Stamp) -> Result<()> {
        let path = self.host_path();
        let io = |what: &'static str| {
            let path = path.clone();
            move |source| Error::Io { what, path, source }
        };
        let (temp_name, temp) = match self.create_beside(&self.host_name) {
            Ok(created) => created,
            // The directory is not the user's to write (only the file is):
            // the file is rewritten in place instead. A file that is not
            // there yet (a save grant's) cannot be.
            Err(Error::Io { source, .. })
                if self.host.is_some()
                    && matches!(
                        source.raw_os_error(),
                        Some(libc::EACCES | libc::EPERM | libc::EROFS)
                    ) =>
            {
                return self.rewrite_in_place(copy, stamp);
            }
            Err(e) => return Err(e),
        };
        let mut temp = File::from(temp);
        let written = (|| -> Result<bool> {
            // The owner's from the start, before a byte is written: the
            // space is the owner's (quota), and a setgid directory's group
            // is not kept by mistake.
            let st = fstat(temp.as_fd()).map_err(io("inspect"))?;
            if (st.st_uid, st.st_gid) != self.owner
                && fchown(temp.as_fd(), self.owner.0, self.owner.1).is_err()
            {
                return Ok(false);
            }
            self.copy_exactly(copy, stamp, &mut temp)?;
            fchmod(temp.as_fd(), self.mode).map_err(io("set the mode of"))?;
            temp.sync_all().map_err(io("write"))?;
            renameat(self.host_dir.as_fd(), &temp_name, &self.host_name).map_err(io("replace"))?;
            Ok(true)
        })();
        match written {
            Ok(true) => {
                // The rename itself is durable once the directory is.
                let _ = fsync(self.host_dir.as_fd());
                Ok(())
            }
            Ok(false) => {
                let _ = unlinkat(self.host_dir.as_fd(), &temp_name);
                self.rewrite_in_place(copy, stamp)
            }
            Err(e) => {
                let _ = unlinkat(self.host_dir.as_fd(), &temp_name);
                Err(e)
            }
        }
    }

    fn rewrite_in_place(&self, copy: &mut File, stamp: Stamp) -> Result<()> {
        let path = self.host_path();
        let io = |what: &'static str| {
            let path = path.clone();
            move |source| Error::Io { what, path, source }
        };
        let fd = openat(
            self.host_dir.as_fd(),
            &self.host_name,
            libc::O_WRONLY | libc::O_NOFOLLOW | libc::O_NONBLOCK,
            0,
        )
        .map_err(io("open"))?;
        let st = fstat(fd.as_fd()).map_err(io("inspect"))?;
        if st.st_mode & libc::S_IFMT != libc::S_IFREG {
            return Err(Error::NotRegular { path });
        }
        // The file checked is the one written: never one wsbox has not
        // seen (a save grant's host file that someone else created).
        if self
            .host
            .is_none_or(|h| (h.dev, h.ino) != (st.st_dev, st.st_ino))
        {
            return Err(Error::Io {
                what: "rewrite",
                path,
                source: io::Error::from_raw_os_error(libc::ESTALE),
            });
        }
        let mut host = File::from(fd);
        host.set_len(0).map_err(io("truncate"))?;
        self.copy_exactly(copy, stamp, &mut host)?;
        host.sync_all().map_err(io("write"))
    }

    /// Copies the copy as `stamp` describes it, and no more: exactly its
    /// size, then checks that it did not change meanwhile (an app that
    /// grows its file while it is read gets nothing written).
    fn copy_exactly(&self, copy: &mut File, stamp: Stamp, to: &mut File) -> Result<()> {
        use std::io::Read;
        let changing = || Error::Changing {
            path: self.host_path(),
        };
        seek_start(copy).map_err(|source| Error::Io {
            what: "read the copy of",
            path: self.host_path(),
            source,
        })?;
        let size = u64::try_from(stamp.size).unwrap_or(0);
        let copied = io::copy(&mut (&*copy).take(size), to).map_err(|source| Error::Io {
            what: "write",
            path: self.host_path(),
            source,
        })?;
        let now = fstat(copy.as_fd()).map(|st| Stamp::of(&st));
        if copied != size || now.ok() != Some(stamp) {
            return Err(changing());
        }
        Ok(())
    }

    /// Writes `copy` to a new file beside the host file, named after it
    /// (`report (wsbox conflict 1).odt`), and returns that name.
    fn write_conflict(&self, copy: &mut File, stamp: Stamp) -> Result<OsString> {
        let (stem, ext) = split_extension(&self.host_name);
        for n in 1..1000 {
            let mut name = stem.to_os_string();
            name.push(format!(" (wsbox conflict {n})"));
            name.push(ext);
            match openat(
                self.host_dir.as_fd(),
                &name,
                libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL | libc::O_NOFOLLOW,
                self.mode,
            ) {
                Ok(fd) => {
                    let path = self.shown.parent().unwrap_or(Path::new("")).join(&name);
                    // The original's owner where wsbox may set it (run by
                    // root); else it stays the user's.
                    let _ = fchown(fd.as_fd(), self.owner.0, self.owner.1);
                    let mut file = File::from(fd);
                    let written = self.copy_exactly(copy, stamp, &mut file).and_then(|()| {
                        file.sync_all().map_err(|source| Error::Io {
                            what: "write",
                            path,
                            source,
                        })
                    });
                    if let Err(e) = written {
                        let _ = unlinkat(self.host_dir.as_fd(), &name);
                        return Err(e);
                    }
                    return Ok(name);
                }
                Err(e) if e.raw_os_error() == Some(libc::EEXIST) => continue,
                Err(source) => {
                    return Err(Error::Io {
                        what: "create a file beside",
                        path: self.host_path(),
                        source,
                    })
                }
            }
        }
        Err(Error::Io {
            what: "find a free name beside",
            path: self.host_path(),
            source: io::Error::from_raw_os_error(libc::EEXIST),
        })
    }

    /// A new, empty, private file beside `name` in the host directory.
    fn create_beside(&self, name: &OsStr) -> Result<(OsString, OwnedFd)> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        loop {
            let mut temp = OsString::from(".");
            temp.push(name);
            temp.push(format!(
                ".wsbox-{}-{}",
                std::process::id(),
                NEXT.fetch_add(1, Ordering::Relaxed)
            ));
            match openat(
                self.host_dir.as_fd(),
                &temp,
                libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL | libc::O_NOFOLLOW,
                0o600,
            ) {
                Ok(fd) => return Ok((temp, fd)),
                Err(e) if e.raw_os_error() == Some(libc::EEXIST) => continue,
                Err(source) => {
                    return Err(Error::Io {
                        what: "create a file beside",
                        path: self.host_path(),
                        source,
                    })
                }
            }
        }
    }
}

/// `name` split before its last `.` (not a leading one).
fn split_extension(name: &OsStr) -> (&OsStr, &OsStr) {
    let bytes = name.as_bytes();
    match bytes.iter().rposition(|&b| b == b'.') {
        Some(at) if at > 0 => (
            OsStr::from_bytes(&bytes[..at]),
            OsStr::from_bytes(&bytes[at..]),
        ),
        _ => (name, OsStr::new("")),
    }
}

/// Whether two files hold the same bytes.
fn equal_files(a: &File, b: &File) -> io::Result<bool> {
    use std::io::Read;
    let (mut a, mut b) = (a, b);
    let (mut x, mut y) = (vec![0u8; 64 * 1024], vec![0u8; 64 * 1024]);
    loop {
        let n = read_full(&mut a, &mut x)?;
        let m = read_full(&mut b, &mut y)?;
        if n != m || x[..n] != y[..m] {
            return Ok(false);
        }
        if n == 0 {
            return Ok(true);
        }
    }

    fn read_full(f: &mut &File, buf: &mut [u8]) -> io::Result<usize> {
        let mut got = 0;
        while got < buf.len() {
            match f.read(&mut buf[got..])? {
                0 => break,
                n => got += n,
            }
        }
        Ok(got)
    }
}

fn cstr(name: &OsStr) -> io::Result<CString> {
    CString::new(name.as_bytes()).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))
}

fn openat(dir: BorrowedFd<'_>, name: &OsStr, flags: i32, mode: u32) -> io::Result<OwnedFd> {
    let name = cstr(name)?;
    // SAFETY: a valid dir fd and NUL-terminated name; the result is checked.
    let fd = unsafe {
        libc::openat(
            dir.as_raw_fd(),
            name.as_ptr(),
            flags | libc::O_CLOEXEC,
            mode as libc::c_uint,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: just opened, owned here.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn fstat(fd: BorrowedFd<'_>) -> io::Result<libc::stat> {
    // SAFETY: an all-zero stat is valid; the kernel fills it.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: valid fd and buffer.
    if unsafe { libc::fstat(fd.as_raw_fd(), &mut st) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(st)
}

fn fstatat(dir: BorrowedFd<'_>, name: &OsStr) -> io::Result<libc::stat> {
    let name = cstr(name)?;
    // SAFETY: an all-zero stat is valid; the kernel fills it.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: valid dir fd, NUL-terminated name and buffer.
    let rc = unsafe {
        libc::fstatat(
            dir.as_raw_fd(),
            name.as_ptr(),
            &mut st,
            libc::AT_SYMLINK_NOFOLLOW,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(st)
}

fn fchmod(fd: BorrowedFd<'_>, mode: u32) -> io::Result<()> {
    // SAFETY: plain syscall on a valid fd.
    if unsafe { libc::fchmod(fd.as_raw_fd(), mode) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

fn fchown(fd: BorrowedFd<'_>, uid: u32, gid: u32) -> io::Result<()> {
    // SAFETY: plain syscall on a valid fd.
    if unsafe { libc::fchown(fd.as_raw_fd(), uid, gid) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

fn fsync(fd: BorrowedFd<'_>) -> io::Result<()> {
    // SAFETY: plain syscall on a valid fd.
    if unsafe { libc::fsync(fd.as_raw_fd()) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

fn renameat(dir: BorrowedFd<'_>, from: &OsStr, to: &OsStr) -> io::Result<()> {
    let (from, to) = (cstr(from)?, cstr(to)?);
    // SAFETY: valid dir fd and NUL-terminated names.
    if unsafe { libc::renameat(dir.as_raw_fd(), from.as_ptr(), dir.as_raw_fd(), to.as_ptr()) } != 0
    {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

fn unlinkat(dir: BorrowedFd<'_>, name: &OsStr) -> io::Result<()> {
    let name = cstr(name)?;
    // SAFETY: valid dir fd and NUL-terminated name.
    if unsafe { libc::unlinkat(dir.as_raw_fd(), name.as_ptr(), 0) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

fn seek_start(file: &File) -> io::Result<()> {
    use std::io::Seek;
    let mut file = file;
    file.seek(io::SeekFrom::Start(0)).map(drop)
}

/// The documents of one sandbox and the inotify watch on their directories:
/// a write closed on a document's name, or a file renamed onto it, syncs
/// that document.
#[derive(Debug)]
pub struct Documents {
    inotify: nix::sys::inotify::Inotify,
    /// Each document, with its directory's watch (None when it could not
    /// be watched: it is then written back only when taken away or at the
    /// end).
    docs: Vec<(Option<nix::sys::inotify::WatchDescriptor>, Document)>,
}

impl Documents {
    pub fn new() -> io::Result<Self> {
        use nix::sys::inotify::{InitFlags, Inotify};
        let inotify = Inotify::init(InitFlags::IN_NONBLOCK | InitFlags::IN_CLOEXEC)?;
        Ok(Self {
            inotify,
            docs: Vec::new(),
        })
    }

    /// The fd to poll for readability.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.inotify.as_fd()
    }

    /// Keeps `doc` from now on and watches its directory; an error says
    /// the watch failed (the document is kept all the same).
    pub fn add(&mut self, doc: Document) -> io::Result<()> {
        use nix::sys::inotify::AddWatchFlags as F;
        let path = format!("/proc/self/fd/{}", doc.inside_dir.as_raw_fd());
        let wd = self.inotify.add_watch(
            path.as_str(),
            F::IN_CLOSE_WRITE | F::IN_MOVED_TO | F::IN_ONLYDIR,
        );
        let (wd, result) = match wd {
            Ok(wd) => (Some(wd), Ok(())),
            Err(e) => (None, Err(e.into())),
        };
        self.docs.push((wd, doc));
        result
    }

    /// Syncs the documents the pending events name; the outcome of each
    /// sync, with the document.
    pub fn on_events(&mut self) -> Vec<(PathBuf, Result<Synced>)> {
        let mut due = Vec::new();
        while let Ok(events) = self.inotify.read_events() {
            if events.is_empty() {
                break;
            }
            for event in events {
                let Some(name) = event.name else { continue };
                if let Some(i) = self
                    .docs
                    .iter()
                    .position(|(wd, doc)| *wd == Some(event.wd) && doc.name == name)
                {
                    if !due.contains(&i) {
                        due.push(i);
                    }
                }
            }
        }
        due.into_iter()
            .map(|i| {
                let doc = &mut self.docs[i].1;
                // Named before the sync: a conflict retargets the document.
                let path = doc.host_path();
                (path, doc.sync())
            })
            .collect()
    }

    /// Writes the `at`th document back a last time and stops watching it.
    pub fn remove(&mut self, at: usize) -> (PathBuf, Result<Synced>) {
        let (wd, mut doc) = self.docs.remove(at);
        if let Some(wd) = wd {
            let _ = self.inotify.rm_watch(wd);
        }
        // Named before the sync: a conflict retargets the document.
        let path = doc.host_path();
        (path, doc.sync())
    }

    /// Syncs every document that changed (at the end of the sandbox: a
    /// write still open then was never closed).
    pub fn sync_all(&mut self) -> Vec<(PathBuf, Result<Synced>)> {
        self.docs
            .iter_mut()
            .map(|(_, doc)| {
                // Named before the sync: a conflict retargets the document.
                let path = doc.host_path();
                (path, doc.sync())
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::os::unix::fs::{MetadataExt, PermissionsExt};

    struct Scratch(PathBuf);
    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    fn scratch(name: &str) -> (Scratch, PathBuf, PathBuf) {
        let root = std::env::temp_dir().join(format!("wsbox-doc-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&root);
        fs::create_dir_all(root.join("host")).unwrap();
        fs::create_dir_all(root.join("inside")).unwrap();
        let (h, i) = (root.join("host"), root.join("inside"));
        (Scratch(root), h, i)
    }

    fn dir_fd(path: &Path) -> OwnedFd {
        File::open(path).unwrap().into()
    }

    fn grant(host: &Path, inside: &Path, name: &str) -> Document {
        let file = File::open(host.join(name)).unwrap();
        copy_in(
            &file,
            dir_fd(inside).as_fd(),
            OsStr::new(name),
            None,
            1 << 20,
        )
        .unwrap();
        Document::new(
            host.join(name),
            dir_fd(host),
            name.into(),
            dir_fd(inside),
            name.into(),
            1 << 20,
            None,
        )
        .unwrap()
    }

    #[test]
    fn a_file_renamed_over_the_document_replaces_the_host_file_keeping_its_mode() {
        let (_s, host, inside) = scratch("rename");
        fs::write(host.join("db.kdbx"), "v1").unwrap();
        fs::set_permissions(host.join("db.kdbx"), fs::Permissions::from_mode(0o640)).unwrap();
        let mut docs = Documents::new().unwrap();
        docs.add(grant(&host, &inside, "db.kdbx")).unwrap();
        assert_eq!(fs::read_to_string(inside.join("db.kdbx")).unwrap(), "v1");
        // What QSaveFile does: a temporary file beside it, renamed over it.
        fs::write(inside.join("db.kdbx.tmp"), "v2").unwrap();
        fs::write(inside.join(".~lock.db.kdbx#"), "lock").unwrap();
        fs::rename(inside.join("db.kdbx.tmp"), inside.join("db.kdbx")).unwrap();
        let done = docs.on_events();
        assert_eq!(done.len(), 1, "{done:?}");
        assert_eq!(done[0].1.as_ref().unwrap(), &Synced::Written);
        assert_eq!(fs::read_to_string(host.join("db.kdbx")).unwrap(), "v2");
        let meta = fs::metadata(host.join("db.kdbx")).unwrap();
        assert_eq!(meta.mode() & 0o777, 0o640);
        // Nothing else reached the host: no lock file, no temporary file.
        let names: Vec<_> = fs::read_dir(&host)
            .unwrap()
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert_eq!(names, ["db.kdbx"]);
        // Nothing new: nothing written.
        assert!(docs.on_events().is_empty());
        assert_eq!(docs.sync_all()[0].1.as_ref().unwrap(), &Synced::Unchanged);
    }

    #[test]
    fn a_write_in_place_is_synced_when_closed() {
        let (_s, host, inside) = scratch("inplace");
        fs::write(host.join("notes.txt"), "old").unwrap();
        let mut docs = Documents::new().unwrap();
        docs.add(grant(&host, &inside, "notes.txt")).unwrap();
        fs::write(inside.join("notes.txt"), "new text").unwrap();
        let done = docs.on_events();
        assert_eq!(done[0].1.as_ref().unwrap(), &Synced::Written);
        assert_eq!(
            fs::read_to_string(host.join("notes.txt")).unwrap(),
            "new text"
        );
    }

    #[test]
    fn a_host_file_changed_meanwhile_is_kept_and_the_copy_goes_beside_it() {
        let (_s, host, inside) = scratch("conflict");
        fs::write(host.join("report.odt"), "original").unwrap();
        let mut docs = Documents::new().unwrap();
        docs.add(grant(&host, &inside, "report.odt")).unwrap();
        fs::write(host.join("report.odt"), "changed on the host").unwrap();
        fs::write(inside.join("report.odt"), "changed inside").unwrap();
        let done = docs.on_events();
        let expected = host.join("report (wsbox conflict 1).odt");
        assert_eq!(
            done[0].1.as_ref().unwrap(),
            &Synced::Conflict(expected.clone())
        );
        assert_eq!(
            fs::read_to_string(host.join("report.odt")).unwrap(),
            "changed on the host"
        );
        assert_eq!(fs::read_to_string(&expected).unwrap(), "changed inside");
        // Later saves go to the new file.
        fs::write(inside.join("report.odt"), "again").unwrap();
        let done = docs.on_events();
        assert_eq!(done[0].1.as_ref().unwrap(), &Synced::Written);
        assert_eq!(fs::read_to_string(&expected).unwrap(), "again");
    }

    #[test]
    fn a_symlink_or_a_fifo_in_place_of_the_document_is_refused() {
        let (_s, host, inside) = scratch("symlink");
        fs::write(host.join("a.txt"), "a").unwrap();
        fs::write(host.join("secret"), "secret").unwrap();
        let mut doc = grant(&host, &inside, "a.txt");
        fs::remove_file(inside.join("a.txt")).unwrap();
        assert_eq!(doc.sync().unwrap(), Synced::Missing);
        std::os::unix::fs::symlink(host.join("secret"), inside.join("a.txt")).unwrap();
        assert!(matches!(doc.sync(), Err(Error::NotRegular { .. })));
        fs::remove_file(inside.join("a.txt")).unwrap();
        nix::unistd::mkfifo(&inside.join("a.txt"), nix::sys::stat::Mode::S_IRWXU).unwrap();
        assert!(matches!(doc.sync(), Err(Error::NotRegular { .. })));
        assert_eq!(fs::read_to_string(host.join("a.txt")).unwrap(), "a");
        // A symlink planted on the host side is not written through either.
        fs::remove_file(inside.join("a.txt")).unwrap();
        fs::write(inside.join("a.txt"), "b").unwrap();
        fs::remove_file(host.join("a.txt")).unwrap();
        std::os::unix::fs::symlink(host.join("secret"), host.join("a.txt")).unwrap();
        assert!(matches!(doc.sync(), Err(Error::NotRegular { .. })));
        assert_eq!(fs::read_to_string(host.join("secret")).unwrap(), "secret");
    }

    #[test]
    fn a_change_made_before_the_watch_is_not_missed() {
        let (_s, host, inside) = scratch("early");
        fs::write(host.join("x.txt"), "one").unwrap();
        let file = File::open(host.join("x.txt")).unwrap();
        copy_in(
            &file,
            dir_fd(&inside).as_fd(),
            OsStr::new("x.txt"),
            None,
            1 << 20,
        )
        .unwrap();
        fs::write(inside.join("x.txt"), "two").unwrap();
        let mut doc = Document::new(
            host.join("x.txt"),
            dir_fd(&host),
            "x.txt".into(),
            dir_fd(&inside),
            "x.txt".into(),
            1 << 20,
            None,
        )
        .unwrap();
        assert_eq!(doc.sync().unwrap(), Synced::Written);
        assert_eq!(fs::read_to_string(host.join("x.txt")).unwrap(), "two");
    }

    #[test]
    fn too_large_copies_are_refused() {
        let (_s, host, inside) = scratch("large");
        fs::write(host.join("big"), vec![0u8; 100]).unwrap();
        let file = File::open(host.join("big")).unwrap();
        assert!(matches!(
            copy_in(&file, dir_fd(&inside).as_fd(), OsStr::new("big"), None, 10),
            Err(Error::TooLarge { .. })
        ));
    }

    #[test]
    fn the_owner_is_kept_when_wsbox_may_set_it() {
        // SAFETY: no arguments.
        if unsafe { libc::geteuid() } != 0 {
            // Unit tests run as root in `make test`; as a user there is no
            // other owner to keep.
            let must = std::env::var("CI").is_ok_and(|v| v == "true")
                || std::env::var("WSBOX_MUST_WORK").is_ok_and(|v| v == "1");
            assert!(!must, "the_owner_is_kept_when_wsbox_may_set_it needs root");
            eprintln!("SKIPPED: the_owner_is_kept_when_wsbox_may_set_it: needs root");
            return;
        }
        let (_s, host, inside) = scratch("owner");
        fs::write(host.join("o.txt"), "x").unwrap();
        std::os::unix::fs::chown(host.join("o.txt"), Some(4242), Some(4243)).unwrap();
        let mut docs = Documents::new().unwrap();
        docs.add(grant(&host, &inside, "o.txt")).unwrap();
        fs::write(inside.join("o.txt"), "y").unwrap();
        docs.on_events();
        let meta = fs::metadata(host.join("o.txt")).unwrap();
        assert_eq!((meta.uid(), meta.gid()), (4242, 4243));
        assert_eq!(fs::read_to_string(host.join("o.txt")).unwrap(), "y");
    }

    #[test]
    fn a_host_change_between_the_grant_and_the_watch_is_a_conflict_not_a_baseline() {
        let (_s, host, inside) = scratch("granted");
        fs::write(host.join("r.txt"), "granted").unwrap();
        let file = File::open(host.join("r.txt")).unwrap();
        let granted = Stamp::of(&fstat(file.as_fd()).unwrap());
        copy_in(
            &file,
            dir_fd(&inside).as_fd(),
            OsStr::new("r.txt"),
            None,
            1 << 20,
        )
        .unwrap();
        // Someone writes the host file before the helper watches it.
        fs::write(host.join("r.txt"), "someone else's").unwrap();
        let mut doc = Document::new(
            host.join("r.txt"),
            dir_fd(&host),
            "r.txt".into(),
            dir_fd(&inside),
            "r.txt".into(),
            1 << 20,
            Some(granted),
        )
        .unwrap();
        // Nothing saved: nothing written.
        assert_eq!(doc.sync().unwrap(), Synced::Unchanged);
        fs::write(inside.join("r.txt"), "the app's").unwrap();
        let expected = host.join("r (wsbox conflict 1).txt");
        assert_eq!(doc.sync().unwrap(), Synced::Conflict(expected.clone()));
        assert_eq!(
            fs::read_to_string(host.join("r.txt")).unwrap(),
            "someone else's"
        );
        assert_eq!(fs::read_to_string(expected).unwrap(), "the app's");
    }

    #[test]
    fn a_file_in_a_directory_the_user_may_not_write_is_rewritten_in_place() {
        let (_s, host, inside) = scratch("inplace-dir");
        fs::write(host.join("d.txt"), "one").unwrap();
        // The directory is root's, the file the user's: the user may write
        // the file but create nothing beside it. Played by nobody in a
        // child when the tests run as root.
        // SAFETY: no arguments.
        let euid = unsafe { libc::geteuid() };
        let root = euid == 0;
        let user = if root { 65534 } else { euid };
        std::os::unix::fs::chown(host.join("d.txt"), Some(user), None).unwrap();
        std::os::unix::fs::chown(&inside, Some(user), None).unwrap();
        fs::set_permissions(&host, fs::Permissions::from_mode(0o555)).unwrap();
        let scenario = || -> bool {
            let mut doc = grant(&host, &inside, "d.txt");
            fs::write(inside.join("d.txt"), "two").unwrap();
            doc.sync().unwrap() == Synced::Written
                && fs::read_to_string(host.join("d.txt")).unwrap() == "two"
        };
        let ok = if root {
            // SAFETY: the child only does what the scenario does, then
            // leaves with _exit.
            match unsafe { nix::unistd::fork() }.unwrap() {
                nix::unistd::ForkResult::Child => {
                    // SAFETY: plain syscalls in the child.
                    let code = unsafe {
                        if libc::setgid(65534) != 0 || libc::setuid(65534) != 0 {
                            2
                        } else {
                            i32::from(!scenario())
                        }
                    };
                    // SAFETY: leave the forked child without unwinding.
                    unsafe { libc::_exit(code) }
                }
                nix::unistd::ForkResult::Parent { child } => matches!(
                    nix::sys::wait::waitpid(child, None),
                    Ok(nix::sys::wait::WaitStatus::Exited(_, 0))
                ),
            }
        } else {
            scenario()
        };
        fs::set_permissions(&host, fs::Permissions::from_mode(0o755)).unwrap();
        assert!(ok, "the file was not rewritten in place");
        assert_eq!(fs::read_to_string(host.join("d.txt")).unwrap(), "two");
    }

    /// A save grant of `name` in `host`, saved as `name` in `inside`.
    fn save_grant(host: &Path, inside: &Path, name: &str, umask: u32) -> Result<Document> {
        Document::for_save(
            host.join(name),
            dir_fd(host),
            name.into(),
            dir_fd(inside),
            name.into(),
            1 << 20,
            umask,
        )
    }

    fn listing(dir: &Path) -> Vec<OsString> {
        let mut names: Vec<_> = fs::read_dir(dir)
            .unwrap()
            .flatten()
            .map(|e| e.file_name())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn a_save_grant_creates_the_host_file_at_the_first_save_then_replaces_it() {
        let (_s, host, inside) = scratch("save-new");
        let mut doc = save_grant(&host, &inside, "new.txt", 0o027).unwrap();
        // Not saved yet: nothing on the host.
        assert_eq!(doc.sync().unwrap(), Synced::Missing);
        assert!(listing(&host).is_empty());
        // What g_file_replace does with a new name: O_CREAT | O_EXCL.
        fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(inside.join("new.txt"))
            .and_then(|mut f| io::Write::write_all(&mut f, b"first"))
            .unwrap();
        assert_eq!(doc.sync().unwrap(), Synced::Written);
        assert_eq!(fs::read_to_string(host.join("new.txt")).unwrap(), "first");
        let meta = fs::metadata(host.join("new.txt")).unwrap();
        assert_eq!(meta.mode() & 0o777, 0o640, "0o666 & !umask");
        // SAFETY: no arguments.
        let ids = unsafe { (libc::geteuid(), libc::getegid()) };
        assert_eq!((meta.uid(), meta.gid()), ids);
        assert_eq!(doc.sync().unwrap(), Synced::Unchanged);
        // The second save replaces the file again: a new inode.
        fs::write(inside.join(".new.txt.tmp"), "second").unwrap();
        fs::rename(inside.join(".new.txt.tmp"), inside.join("new.txt")).unwrap();
        assert_eq!(doc.sync().unwrap(), Synced::Written);
        let again = fs::metadata(host.join("new.txt")).unwrap();
        assert_ne!(again.ino(), meta.ino(), "replaced, not rewritten");
        assert_eq!(again.mode() & 0o777, 0o640);
        assert_eq!(fs::read_to_string(host.join("new.txt")).unwrap(), "second");
        assert_eq!(listing(&host), ["new.txt"], "no temporary file stayed");
    }

    #[test]
    fn a_save_grant_of_an_existing_file_copies_nothing_in_and_keeps_its_mode() {
        let (_s, host, inside) = scratch("save-existing");
        fs::write(host.join("old.txt"), "the old contents").unwrap();
        fs::set_permissions(host.join("old.txt"), fs::Permissions::from_mode(0o604)).unwrap();
        let mut doc = save_grant(&host, &inside, "old.txt", 0o077).unwrap();
        assert!(listing(&inside).is_empty(), "nothing is copied in");
        assert_eq!(doc.sync().unwrap(), Synced::Missing);
        fs::write(inside.join("old.txt"), "new").unwrap();
        assert_eq!(doc.sync().unwrap(), Synced::Written);
        assert_eq!(fs::read_to_string(host.join("old.txt")).unwrap(), "new");
        let meta = fs::metadata(host.join("old.txt")).unwrap();
        assert_eq!(meta.mode() & 0o777, 0o604, "its mode, not the umask's");
    }

    #[test]
    fn a_file_created_on_the_host_after_a_save_grant_is_kept_as_a_conflict() {
        let (_s, host, inside) = scratch("save-conflict");
        let mut doc = save_grant(&host, &inside, "s.txt", 0o022).unwrap();
        // Someone else creates the chosen file after the grant.
        fs::write(host.join("s.txt"), "someone else's").unwrap();
        fs::write(inside.join("s.txt"), "the app's").unwrap();
        let expected = host.join("s (wsbox conflict 1).txt");
        assert_eq!(doc.sync().unwrap(), Synced::Conflict(expected.clone()));
        assert_eq!(
            fs::read_to_string(host.join("s.txt")).unwrap(),
            "someone else's"
        );
        assert_eq!(fs::read_to_string(&expected).unwrap(), "the app's");
        assert_eq!(fs::metadata(&expected).unwrap().mode() & 0o777, 0o644);
        // Later saves go to the new file.
        fs::write(inside.join("s.txt"), "again").unwrap();
        assert_eq!(doc.sync().unwrap(), Synced::Written);
        assert_eq!(fs::read_to_string(&expected).unwrap(), "again");
    }

    #[test]
    fn a_save_grant_refuses_a_symlink_a_fifo_or_a_directory_at_the_chosen_name() {
        let (_s, host, inside) = scratch("save-special");
        fs::write(host.join("secret"), "secret").unwrap();
        std::os::unix::fs::symlink(host.join("secret"), host.join("link.txt")).unwrap();
        nix::unistd::mkfifo(&host.join("fifo.txt"), nix::sys::stat::Mode::S_IRWXU).unwrap();
        fs::create_dir(host.join("dir.txt")).unwrap();
        for name in ["link.txt", "fifo.txt", "dir.txt"] {
            assert!(
                matches!(
                    save_grant(&host, &inside, name, 0o022),
                    Err(Error::NotRegular { .. })
                ),
                "{name}"
            );
        }
        // Not written through when the symlink is planted after the grant.
        let mut doc = save_grant(&host, &inside, "later.txt", 0o022).unwrap();
        std::os::unix::fs::symlink(host.join("secret"), host.join("later.txt")).unwrap();
        fs::write(inside.join("later.txt"), "the app's").unwrap();
        assert!(matches!(doc.sync(), Err(Error::NotRegular { .. })));
        assert_eq!(fs::read_to_string(host.join("secret")).unwrap(), "secret");
    }

    #[test]
    fn a_save_grant_in_a_setgid_directory_creates_the_file_with_its_group() {
        let (_s, host, inside) = scratch("save-setgid");
        // A group of the user's other than its own, where there is one;
        // as root any group does.
        // SAFETY: no arguments.
        let (euid, egid) = unsafe { (libc::geteuid(), libc::getegid()) };
        let group = if euid == 0 {
            Some(4244)
        } else {
            nix::unistd::getgroups()
                .unwrap_or_default()
                .into_iter()
                .map(|g| g.as_raw())
                .find(|&g| g != egid)
        };
        let Some(group) = group else {
            let test = "a_save_grant_in_a_setgid_directory_creates_the_file_with_its_group";
            return testkit::skip(test, "the user has one group");
        };
        std::os::unix::fs::chown(&host, None, Some(group)).unwrap();
        fs::set_permissions(&host, fs::Permissions::from_mode(0o2775)).unwrap();
        let mut doc = save_grant(&host, &inside, "g.txt", 0o002).unwrap();
        fs::write(inside.join("g.txt"), "x").unwrap();
        assert_eq!(doc.sync().unwrap(), Synced::Written);
        let meta = fs::metadata(host.join("g.txt")).unwrap();
        assert_eq!((meta.uid(), meta.gid()), (euid, group));
        assert_eq!(meta.mode() & 0o777, 0o664);
    }

    #[test]
    fn a_copy_that_grows_while_it_is_written_back_writes_nothing() {
        let (_s, host, inside) = scratch("growing");
        fs::write(host.join("g.txt"), "small").unwrap();
        let mut doc = grant(&host, &inside, "g.txt");
        fs::write(inside.join("g.txt"), "saved").unwrap();
        let (stamp, mut copy) = doc.open_copy().unwrap().unwrap();
        // The app extends its file after wsbox looked at it.
        let grower = fs::OpenOptions::new()
            .append(true)
            .open(inside.join("g.txt"))
            .unwrap();
        grower.set_len(64 << 20).unwrap();
        assert!(matches!(
            doc.replace(&mut copy, stamp),
            Err(Error::Changing { .. })
        ));
        assert_eq!(fs::read_to_string(host.join("g.txt")).unwrap(), "small");
        let names: Vec<_> = fs::read_dir(&host)
            .unwrap()
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert_eq!(names, ["g.txt"], "a temporary file stayed behind");
        // Once it stands still, the next sync writes what is there.
        grower.set_len(5).unwrap();
        assert_eq!(doc.sync().unwrap(), Synced::Written);
        assert_eq!(fs::read_to_string(host.join("g.txt")).unwrap(), "saved");
    }
}
