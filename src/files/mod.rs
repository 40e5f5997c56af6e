//! Files the user hands to a sandbox: file arguments after `--` (paths and
//! `file://` URIs), `--file`/`--file-rw`, the names they get under
//! /run/wsbox/files, the persistent home, and the host files the command
//! line opens for `wsbox add-file` and `export`. The files of a running
//! sandbox are [`live`]'s; the mounts in it are made by the [`broker`].
//!
//! Host paths are only opened through `wsbox_sandbox::hostpath`, which follows
//! no symlink but root's; nothing here reads what is inside a granted file or
//! directory, and nothing the app can write is read back as configuration.

pub mod broker;
pub mod document;
pub mod documents;
pub mod live;

use std::collections::{BTreeSet, HashMap};
use std::ffi::{OsStr, OsString};
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use wsbox_sandbox::hostpath::{self, Allow, Kind};
use wsbox_sandbox::plan::{document_dir, FILES_DIR, FILES_RW_DIR, WRITABLE_PLACES};
use wsbox_sandbox::{BindSpec, HostIds};

/// Names taken in the files place: read-only files in [`FILES_DIR`],
/// read-write ones in [`FILES_RW_DIR`]. A taken name gets `-2`, `-3`, …
/// before its extension: `doc.pdf`, `doc-2.pdf`.
#[derive(Debug, Default)]
pub struct Names {
    ro: BTreeSet<OsString>,
    rw: BTreeSet<OsString>,
}

impl Names {
    /// A free name for `base` and takes it.
    pub fn take(&mut self, base: &OsStr, rw: bool) -> OsString {
        let set = if rw { &mut self.rw } else { &mut self.ro };
        let base = if base.is_empty() || base == "." || base == ".." {
            OsStr::new("file")
        } else {
            base
        };
        let (stem, ext) = split_ext(base.as_bytes());
        let mut n = 1;
        loop {
            let mut name = stem.to_vec();
            if n > 1 {
                name.extend_from_slice(format!("-{n}").as_bytes());
            }
            name.extend_from_slice(ext);
            let name = OsString::from_vec(name);
            // "rw" is the read-write place inside the read-only one.
            if !(set.contains(&name) || (!rw && name == "rw")) {
                set.insert(name.clone());
                return name;
            }
            n += 1;
        }
    }

    /// Frees a name again.
    pub fn release(&mut self, name: &OsStr, rw: bool) {
        let set = if rw { &mut self.rw } else { &mut self.ro };
        set.remove(name);
    }
}

/// `doc.pdf` → (`doc`, `.pdf`); `.bashrc` and `Makefile` have no extension.
fn split_ext(name: &[u8]) -> (&[u8], &[u8]) {
    match name.iter().rposition(|b| *b == b'.') {
        Some(0) | None => (name, &[]),
        Some(i) => name.split_at(i),
    }
}

/// The inside directory of a grant.
pub fn place(rw: bool) -> &'static Path {
    Path::new(if rw { FILES_RW_DIR } else { FILES_DIR })
}

/// The path of a `file://` URI (empty host or `localhost`), percent-decoded.
pub fn parse_file_uri(arg: &[u8]) -> Option<PathBuf> {
    let rest = arg.strip_prefix(b"file://")?;
    let rest = rest.strip_prefix(b"localhost").unwrap_or(rest);
    if rest.first() != Some(&b'/') {
        return None;
    }
    // A query or fragment is not part of a file name.
    if rest.iter().any(|b| *b == b'?' || *b == b'#') {
        return None;
    }
    let mut out = Vec::with_capacity(rest.len());
    let mut i = 0;
    while i < rest.len() {
        if rest[i] == b'%' {
            let hex = rest.get(i + 1..i + 3)?;
            let hex = std::str::from_utf8(hex).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(rest[i]);
            i += 1;
        }
    }
    if out.contains(&0) {
        return None;
    }
    Some(PathBuf::from(OsString::from_vec(out)))
}

/// A `file://` URI for an absolute path.
pub fn file_uri(path: &Path) -> OsString {
    let mut out = b"file://".to_vec();
    for b in path.as_os_str().as_bytes() {
        if b.is_ascii_alphanumeric() || b"/-._~".contains(b) {
            out.push(*b);
        } else {
            out.extend_from_slice(format!("%{b:02X}").as_bytes());
        }
    }
    OsString::from_vec(out)
}

/// What `--file`, `--file-rw` and the program's arguments grant.
#[derive(Debug, Default)]
pub struct Grants {
    pub binds: Vec<BindSpec>,
    /// Whether each of `binds` is a directory.
    dirs: Vec<bool>,
    /// Regular files granted read-write: documents, each copied into a
    /// directory of its own and written back ([`document`]).
    pub documents: Vec<GrantedDocument>,
    pub names: Names,
    /// The grants by file identity, so one file given twice is bound once.
    seen: HashMap<(u64, u64, bool), PathBuf>,
    /// Directories granted read-write: their real host path and their
    /// path inside, so that an argument naming a file in one is given its
    /// read-write path.
    rw_dirs: Vec<(PathBuf, PathBuf)>,
}

/// A document granted at start.
#[derive(Debug)]
pub struct GrantedDocument {
    /// Its host path, absolute.
    pub host: PathBuf,
    /// The directory that holds it, opened for wsbox's documents helper
    /// (taken when the helper starts).
    pub host_dir: Option<OwnedFd>,
    /// The host file as it was granted: a change before the helper
    /// watches it is a conflict, not a baseline.
    pub stamp: document::Stamp,
    pub name: OsString,
    /// Its number: it appears in [`document_dir`]`(index)`.
    pub index: usize,
}

impl Grants {
    /// Grants `path` (opened as `opened`), returning its inside path.
    fn grant(
        &mut self,
        path: &Path,
        opened: &hostpath::Opened,
        rw: bool,
        special: bool,
    ) -> Result<PathBuf> {
        if let Some(inside) = self.seen.get(&(opened.dev, opened.ino, rw)) {
            return Ok(inside.clone());
        }
        if rw && opened.kind == Kind::File {
            return self.grant_document(path, opened);
        }
        let base = path.file_name().unwrap_or(OsStr::new("file"));
        let name = self.names.take(base, rw);
        let inside = place(rw).join(name);
        self.binds.push(BindSpec {
            host: path.to_owned(),
            target: inside.clone(),
            writable: rw,
            special,
        });
        self.dirs.push(opened.kind == Kind::Dir);
        self.seen
            .insert((opened.dev, opened.ino, rw), inside.clone());
        if rw && opened.kind == Kind::Dir {
            if let Ok(real) = hostpath::real_path(opened.fd.as_fd()) {
                self.rw_dirs.push((real, inside.clone()));
            }
        }
        Ok(inside)
    }

    /// Grants the regular file `path` read-write as a document: its
    /// directory is opened now, for the helper that writes it back.
    fn grant_document(&mut self, path: &Path, opened: &hostpath::Opened) -> Result<PathBuf> {
        let fail =
            |e: &dyn std::fmt::Display| anyhow::anyhow!("failed to grant {}: {e}", path.display());
        let (Some(parent), Some(name)) = (path.parent(), path.file_name()) else {
            return Err(fail(&"not a file in a directory"));
        };
        let dir = hostpath::open(parent).map_err(|e| fail(&e))?;
        let host_dir = reopen_for_passing(&dir, false).map_err(|e| fail(&e))?;
        // The name in the directory is the file that was checked.
        let named =
            nix::sys::stat::fstatat(&host_dir, name, nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW)
                .map_err(|e| fail(&e))?;
        if (named.st_dev, named.st_ino) != (opened.dev, opened.ino) {
            return Err(fail(&"it changed while it was granted"));
        }
        let st = hostpath::fstat(opened.fd.as_fd()).map_err(|e| fail(&e))?;
        if u64::try_from(st.st_size).unwrap_or(u64::MAX) > documents::MAX_BYTES {
            return Err(fail(&format!(
                "it is larger than {} GiB, the most a document may hold (grant its directory \
                 with --file-rw instead)",
                documents::MAX_BYTES >> 30
            )));
        }
        let index = self.documents.len() + 1;
        let inside = document_dir(index).join(name);
        self.documents.push(GrantedDocument {
            host: path.to_owned(),
            host_dir: Some(host_dir),
            stamp: document::Stamp::of(&st),
            name: name.to_owned(),
            index,
        });
        self.seen
            .insert((opened.dev, opened.ino, true), inside.clone());
        Ok(inside)
    }

    /// The read-write path inside of a regular file in a directory granted
    /// read-write, if it is in one.
    fn in_rw_dir(&self, opened: &hostpath::Opened) -> Option<PathBuf> {
        let real = hostpath::real_path(opened.fd.as_fd()).ok()?;
        self.rw_dirs.iter().find_map(|(dir, inside)| {
            let rel = real.strip_prefix(dir).ok()?;
            Some(inside.join(rel))
        })
    }

    /// The inside path of a file already granted read-write, if any.
    fn granted_rw(&self, opened: &hostpath::Opened) -> Option<PathBuf> {
        self.seen.get(&(opened.dev, opened.ino, true)).cloned()
    }
}

/// Opens a file or directory the user grants explicitly; errors name it.
pub fn open_grant(path: &Path, rw: bool, special: bool) -> Result<hostpath::Opened> {
    let allow = Allow {
        special,
        dir: true,
        write: rw,
    };
    hostpath::open_for_bind(path, allow).map_err(|e| anyhow::anyhow!("failed to grant {}", e))
}

/// Grants the explicit `--file`/`--file-rw` paths and every argument of
/// `argv` (but argv\[0\]) that names an existing regular file or is a
/// `file://` URI of one, rewriting those arguments to their inside paths.
pub fn grant(
    argv: &mut [OsString],
    ro: &[PathBuf],
    rw: &[PathBuf],
    detect: bool,
    special: bool,
) -> Result<Grants> {
    let mut grants = Grants::default();
    for (paths, writable) in [(rw, true), (ro, false)] {
        for path in paths {
            let abs = std::path::absolute(path)
                .with_context(|| format!("failed to grant {}", path.display()))?;
            let opened = open_grant(&abs, writable, special)?;
            grants.grant(&abs, &opened, writable, special)?;
        }
    }
    if !detect {
        return Ok(grants);
    }
    for arg in argv.iter_mut().skip(1) {
        let bytes = arg.as_bytes();
        let (path, uri) = match parse_file_uri(bytes) {
            Some(path) => (path, true),
            None if bytes.is_empty() || bytes.starts_with(b"file:") => continue,
            None => (PathBuf::from(&*arg), false),
        };
        let Ok(abs) = std::path::absolute(&path) else {
            continue;
        };
        let opened = match hostpath::open(&abs) {
            Ok(opened) => opened,
            Err(e @ hostpath::Error::Symlink { .. })
                if std::fs::metadata(&abs).is_ok_and(|m| m.is_file()) =>
            {
                // It names a file, through a link wsbox will not follow.
                bail!("failed to grant {e}");
            }
            // Not a file on the host: an ordinary argument.
            Err(_) => continue,
        };
        // Directories, devices, sockets and FIFOs are passed unchanged; grant
        // a directory with --file or --file-rw.
        if opened.kind != Kind::File || shown_as_is(&opened) {
            continue;
        }
        let inside = match grants
            .granted_rw(&opened)
            .or_else(|| grants.in_rw_dir(&opened))
        {
            Some(inside) => inside,
            None => {
                let opened = open_grant(&abs, false, false)?;
                grants.grant(&abs, &opened, false, false)?
            }
        };
        *arg = if uri {
            file_uri(&inside)
        } else {
            inside.into_os_string()
        };
    }
    Ok(grants)
}

/// Places whose files the sandbox shows at the same path already (/usr) or
/// that mean the sandbox's own kernel objects (/proc/self/status is the
/// app's, not wsbox's): arguments there are left alone.
const SHOWN_AS_IS: &[&str] = &["/usr", "/proc", "/sys", "/dev"];

fn shown_as_is(opened: &hostpath::Opened) -> bool {
    use std::os::fd::AsFd;
    hostpath::real_path(opened.fd.as_fd())
        .is_ok_and(|real| SHOWN_AS_IS.iter().any(|p| real.starts_with(p)))
}

/// Refuses a read-only share placed in, at or over a place the app may
/// write. Landlock cannot take a right away below a place it grants: a
/// read-only share inside `~` or `/tmp` would be writable under Landlock for
/// anything that gets around its read-only mount. Kept out of those places,
/// a read-only share is read-only under Landlock too.
pub fn check_read_only_shares(binds: &[BindSpec]) -> Result<()> {
    let writable: Vec<&Path> = WRITABLE_PLACES
        .iter()
        .map(Path::new)
        .chain(
            binds
                .iter()
                .filter(|b| b.writable)
                .map(|b| b.target.as_path()),
        )
        .collect();
    for bind in binds.iter().filter(|b| !b.writable) {
        let target = &bind.target;
        if let Some(place) = writable
            .iter()
            .find(|w| target.starts_with(w) || w.starts_with(target))
        {
            bail!(
                "refusing the read-only share {} at {}: it would be in or over {}, which the app \
                 may write, and Landlock cannot keep it read-only there; put it elsewhere \
                 (e.g. /mnt/{}) or hand over a file with --file",
                bind.host.display(),
                target.display(),
                place.display(),
                target
                    .file_name()
                    .map_or_else(|| "share".into(), |n| n.to_string_lossy()),
            );
        }
    }
    Ok(())
}

/// Refuses a read-only share whose host tree holds something the app may
/// write (a read-write share or grant, or the persistent home): Landlock's
/// rule for that follows its inode, so it would be writable under Landlock
/// through the read-only share too. Paths are compared as the kernel names
/// them when they can be opened (the bind itself reports those that cannot).
pub fn check_read_only_sources(binds: &[BindSpec], home: Option<&Path>) -> Result<()> {
    use std::os::fd::AsFd;
    let real = |path: &Path| {
        hostpath::open(path)
            .ok()
            .and_then(|o| hostpath::real_path(o.fd.as_fd()).ok())
            .unwrap_or_else(|| path.to_owned())
    };
    let writable: Vec<(PathBuf, &Path)> = binds
        .iter()
        .filter(|b| b.writable)
        .map(|b| b.host.as_path())
        .chain(home)
        .map(|p| (real(p), p))
        .collect();
    for bind in binds.iter().filter(|b| !b.writable) {
        let ro = real(&bind.host);
        if let Some((_, shown)) = writable.iter().find(|(w, _)| w.starts_with(&ro)) {
            bail!(
                "refusing the read-only share {} at {}: it holds {}, which the app may write, \
                 and Landlock cannot keep it read-only there; share a part that does not hold it",
                bind.host.display(),
                bind.target.display(),
                shown.display(),
            );
        }
    }
    Ok(())
}

/// The read-write shares and grants the app cannot write, each as one
/// line: run by root, the app is the host's `nobody`, and a directory or
/// file of root's stays read-only for it whatever the grant says.
pub fn unwritable(binds: &[BindSpec], ids: HostIds) -> Vec<String> {
    use std::os::unix::fs::MetadataExt;
    if !ids.privileged {
        return Vec::new();
    }
    let mut lines = Vec::new();
    for bind in binds.iter().filter(|b| b.writable && !b.special) {
        let Ok(meta) = std::fs::metadata(&bind.host) else {
            continue;
        };
        if writable_by(
            meta.mode(),
            meta.uid(),
            meta.gid(),
            ids.uid,
            ids.gid,
            meta.is_dir(),
        ) {
            continue;
        }
        let name = |id: u32, user: bool| {
            let found = if user {
                nix::unistd::User::from_uid(id.into())
                    .ok()
                    .flatten()
                    .map(|u| u.name)
            } else {
                nix::unistd::Group::from_gid(id.into())
                    .ok()
                    .flatten()
                    .map(|g| g.name)
            };
            found.unwrap_or_else(|| id.to_string())
        };
        lines.push(format!(
            "{} is granted read-write, but the app runs as uid {} (nobody) and cannot write it: \
             it belongs to {}:{} with mode {:04o}",
            bind.host.display(),
            ids.uid,
            name(meta.uid(), true),
            name(meta.gid(), false),
            meta.mode() & 0o7777,
        ));
    }
    lines
}

/// Whether `uid`/`gid` may write a file of `mode` owned by `owner`/`group`
/// (directories: create in it, which needs search too), by its mode bits;
/// ACLs are not read.
fn writable_by(mode: u32, owner: u32, group: u32, uid: u32, gid: u32, dir: bool) -> bool {
    let shift = if owner == uid {
        6
    } else if group == gid {
        3
    } else {
        0
    };
    let bits = (mode >> shift) & 0o7;
    bits & 0o2 != 0 && (!dir || bits & 0o1 != 0)
}

/// Resolves the persistent home `template` (`~` and `<name>` expanded) for
/// the sandbox `name`, creating it 0700 when missing. Run by root, the
/// directory itself (never anything in it) is handed to the app's host id.
/// What was created is removed again when the returned guard is dropped
/// before [`hostpath::Created::keep`].
pub fn persistent_home(
    template: &Path,
    name: &str,
    ids: HostIds,
) -> Result<(PathBuf, hostpath::Created)> {
    let text = template.as_os_str().as_bytes();
    let mut expanded = Vec::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.windows(6).position(|w| w == b"<name>") {
        expanded.extend_from_slice(&rest[..i]);
        expanded.extend_from_slice(name.as_bytes());
        rest = &rest[i + 6..];
    }
    expanded.extend_from_slice(rest);
    let path = PathBuf::from(OsString::from_vec(expanded));
    let path = match path.strip_prefix("~") {
        Ok(rest) => {
            let home = std::env::var_os("HOME").context("failed to expand ~: HOME is not set")?;
            PathBuf::from(home).join(rest)
        }
        Err(_) => path,
    };
    let path =
        std::path::absolute(&path).with_context(|| format!("invalid home {}", path.display()))?;
    let shown = path.display();
    // Made one directory at a time below what is already there, never
    // through a symlink that is not root's; removed again when anything
    // below fails.
    let (opened, created) = hostpath::create_dirs(&path, 0o700)
        .map_err(|e| anyhow::anyhow!("failed to use the home {e}"))?;
    // Only a directory wsbox made itself is handed to the app's host id: an
    // existing one (`--home ~`!) is never taken from its owner.
    let created_it = !created.is_empty();
    if opened.kind != Kind::Dir {
        bail!("failed to use the home {shown}: not a directory");
    }
    // SAFETY: no arguments.
    let euid = unsafe { libc::geteuid() };
    if ids.privileged && created_it && opened.uid == euid {
        // SAFETY: an O_PATH fd of the directory and an empty path: the
        // directory itself is changed, nothing is resolved.
        let rc = unsafe {
            libc::fchownat(
                opened.fd.as_raw_fd(),
                c"".as_ptr(),
                ids.uid,
                ids.gid,
                libc::AT_EMPTY_PATH,
            )
        };
        if rc < 0 {
            bail!(
                "failed to hand the home {shown} to the sandbox: {}",
                std::io::Error::last_os_error()
            );
        }
    } else if opened.uid != ids.uid {
        bail!(
            "refusing the home {shown}: it belongs to uid {}, not to the app's host uid {} \
             (give a directory wsbox may create, or chown it)",
            opened.uid,
            ids.uid
        );
    }
    Ok((path, created))
}

/// Opens the host file or directory `path` for `wsbox add-file` (the
/// command line, as the user), with the checks of a grant, to be passed to
/// wsbox.
pub fn open_for_add(path: &Path, rw: bool) -> Result<Vec<OwnedFd>> {
    let opened = open_grant(path, rw, false)?;
    let fail = || format!("failed to grant {}", path.display());
    let file = reopen_for_passing(&opened, rw).with_context(fail)?;
    if !(rw && opened.kind == Kind::File) {
        return Ok(vec![file]);
    }
    // A read-write file becomes a document: its directory comes with it,
    // for writing it back whole.
    let parent = path.parent().unwrap_or(Path::new("/"));
    let dir = hostpath::open(parent).with_context(fail)?;
    let dir = reopen_for_passing(&dir, false).with_context(fail)?;
    Ok(vec![file, dir])
}

/// The path of the file a caller passed open (`wsbox session`'s AddFile),
/// as the kernel names it. The descriptor must be open for reading, and
/// with `writable` for writing too: a caller grants no more than it holds.
pub fn path_of_open_file(file: BorrowedFd<'_>, writable: bool) -> Result<PathBuf> {
    // SAFETY: F_GETFL on a valid fd.
    let flags = unsafe { libc::fcntl(file.as_raw_fd(), libc::F_GETFL) };
    if flags < 0 {
        bail!(
            "the file descriptor cannot be read: {}",
            io::Error::last_os_error()
        );
    }
    let mode = flags & libc::O_ACCMODE;
    if flags & libc::O_PATH != 0 || mode == libc::O_WRONLY {
        bail!("the file descriptor is not open for reading");
    }
    if writable && mode != libc::O_RDWR {
        bail!("the file descriptor is open read-only: it cannot be granted writable");
    }
    let link = format!("/proc/self/fd/{}", file.as_raw_fd());
    let path = std::fs::read_link(&link)
        .with_context(|| format!("failed to find the path of the file descriptor ({link})"))?;
    if !path.is_absolute() || path.as_os_str().as_bytes().ends_with(b" (deleted)") {
        bail!(
            "the file descriptor names no file with a path ({})",
            path.display()
        );
    }
    // The kernel's views of processes and devices are never granted, as
    // the portal never grants them.
    // SAFETY: statfs is plain data; the kernel fills it.
    let mut fs: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: a valid fd and pointer.
    if unsafe { libc::fstatfs(file.as_raw_fd(), &mut fs) } < 0 {
        bail!(
            "the file descriptor cannot be read: {}",
            io::Error::last_os_error()
        );
    }
    let kernel = [libc::PROC_SUPER_MAGIC, libc::SYSFS_MAGIC]
        .iter()
        .any(|magic| fs.f_type == *magic as libc::__fsword_t);
    if kernel
        || ["/proc", "/sys", "/dev"]
            .iter()
            .any(|place| path.starts_with(place))
    {
        bail!("{} is never granted", path.display());
    }
    Ok(path)
}

/// Checks that `a` and `b` are open on the same file.
pub fn same_file(a: BorrowedFd<'_>, b: BorrowedFd<'_>) -> Result<()> {
    let (a, b) = (hostpath::fstat(a)?, hostpath::fstat(b)?);
    if (a.st_dev, a.st_ino) != (b.st_dev, b.st_ino) {
        bail!("the file was replaced while it was granted");
    }
    Ok(())
}

/// Opens the directory of `path`, a file to save to that may not exist
/// yet, for `wsbox choose`.
pub fn open_for_save(path: &Path) -> Result<OwnedFd> {
    let fail = || format!("failed to save to {}", path.display());
    let parent = match (path.parent(), path.file_name()) {
        (Some(parent), Some(_)) => parent,
        _ => bail!("{} names no file to save to", path.display()),
    };
    let dir = hostpath::open(parent).with_context(fail)?;
    if dir.kind != Kind::Dir {
        bail!(
            "failed to save to {}: {} is not a directory",
            path.display(),
            parent.display()
        );
    }
    reopen_for_passing(&dir, false).with_context(fail)
}

/// Opens the host directory `host_dir` for `wsbox export`.
pub fn open_for_export(inside: &Path, host_dir: &Path) -> Result<OwnedFd> {
    let fail =
        |e: &dyn std::fmt::Display| anyhow::anyhow!("failed to export {}: {e}", inside.display());
    let opened = hostpath::open(host_dir).map_err(|e| fail(&e))?;
    if opened.kind != Kind::Dir {
        return Err(fail(&format!(
            "failed to export into {}: {}",
            host_dir.display(),
            std::io::Error::from_raw_os_error(libc::ENOTDIR)
        )));
    }
    reopen_for_passing(&opened, false).map_err(|e| {
        fail(&format!(
            "failed to export into {}: {e}",
            host_dir.display()
        ))
    })
}

/// Opens `path` for passing to wsbox: `opened` (an `O_PATH` fd from
/// `hostpath`) opened again for real, for reading, or for writing where
/// `write` (a read-write regular file).
pub fn reopen_for_passing(opened: &hostpath::Opened, write: bool) -> io::Result<OwnedFd> {
    let flags = match opened.kind {
        Kind::Dir => libc::O_RDONLY | libc::O_DIRECTORY,
        _ if write => libc::O_RDWR | libc::O_NOCTTY | libc::O_NONBLOCK,
        _ => libc::O_RDONLY | libc::O_NOCTTY | libc::O_NONBLOCK,
    };
    let path = std::ffi::CString::new(format!("/proc/self/fd/{}", opened.fd.as_raw_fd()))
        .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    let fd = hostpath::openat2(libc::AT_FDCWD, &path, flags, 0)?;
    let st = hostpath::fstat(fd.as_fd())?;
    if (st.st_dev, st.st_ino) != (opened.dev, opened.ino) {
        return Err(io::Error::from_raw_os_error(libc::ESTALE));
    }
    Ok(fd)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_access_follows_the_mode_bits_of_the_class_that_applies() {
        // nobody (65534) and a file of root's.
        assert!(!writable_by(0o100644, 0, 0, 65534, 65534, false));
        assert!(writable_by(0o100666, 0, 0, 65534, 65534, false));
        assert!(!writable_by(0o40777 & !0o001, 0, 0, 65534, 65534, true));
        assert!(writable_by(0o40777, 0, 0, 65534, 65534, true));
        // The owner's bits apply to the owner, not the others'.
        assert!(!writable_by(0o100466, 65534, 0, 65534, 65534, false));
        // The group's bits apply to a member that is not the owner.
        assert!(writable_by(0o100460, 1, 65534, 65534, 65534, false));
        assert!(!writable_by(0o100406, 1, 65534, 65534, 65534, false));
    }

    #[test]
    fn names_collide_into_numbered_stems() {
        let mut names = Names::default();
        assert_eq!(names.take(OsStr::new("doc.pdf"), false), "doc.pdf");
        assert_eq!(names.take(OsStr::new("doc.pdf"), false), "doc-2.pdf");
        assert_eq!(names.take(OsStr::new("doc.pdf"), false), "doc-3.pdf");
        assert_eq!(names.take(OsStr::new("doc.pdf"), true), "doc.pdf");
        assert_eq!(names.take(OsStr::new("Makefile"), false), "Makefile");
        assert_eq!(names.take(OsStr::new("Makefile"), false), "Makefile-2");
        assert_eq!(names.take(OsStr::new(".bashrc"), false), ".bashrc");
        assert_eq!(names.take(OsStr::new(".bashrc"), false), ".bashrc-2");
        assert_eq!(names.take(OsStr::new("a.tar.gz"), false), "a.tar.gz");
        assert_eq!(names.take(OsStr::new("a.tar.gz"), false), "a.tar-2.gz");
        assert_eq!(names.take(OsStr::new("rw"), false), "rw-2");
        assert_eq!(names.take(OsStr::new("rw"), true), "rw");
        names.release(OsStr::new("doc-2.pdf"), false);
        assert_eq!(names.take(OsStr::new("doc.pdf"), false), "doc-2.pdf");
    }

    #[test]
    fn persistent_home_is_made_private_and_never_taken_over() {
        use std::os::unix::fs::MetadataExt;
        let dir = std::env::temp_dir().join(format!("wsbox-home-unit-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        // SAFETY: no arguments.
        let (euid, egid) = unsafe { (libc::geteuid(), libc::getegid()) };
        let ids = HostIds::for_caller(euid, egid);
        let template = dir.join("homes/<name>/<name>");
        let (home, created) = persistent_home(&template, "app-2", ids).unwrap();
        created.keep();
        assert_eq!(home, dir.join("homes/app-2/app-2"));
        let meta = std::fs::metadata(&home).unwrap();
        assert_eq!(meta.mode() & 0o777, 0o700);
        assert_eq!((meta.uid(), meta.gid()), (ids.uid, ids.gid));
        // Again: it is the app's now.
        let (again, created) = persistent_home(&template, "app-2", ids).unwrap();
        assert!(created.is_empty());
        assert_eq!(again, home);
        // What a failed start made is removed again, parents too.
        let (fresh, created) = persistent_home(&dir.join("new/a/<name>"), "b", ids).unwrap();
        assert!(fresh.is_dir());
        drop(created);
        assert!(!dir.join("new").exists());
        // Nothing is created through a symlink that is not root's.
        let elsewhere = dir.join("elsewhere");
        std::fs::create_dir(&elsewhere).unwrap();
        std::os::unix::fs::symlink(&elsewhere, dir.join("link")).unwrap();
        std::os::unix::fs::lchown(dir.join("link"), Some(65534), None).ok();
        if std::fs::symlink_metadata(dir.join("link")).unwrap().uid() != 0 {
            let err = persistent_home(&dir.join("link/h"), "x", ids).unwrap_err();
            assert!(err.to_string().contains("symlink"), "{err}");
            assert!(!elsewhere.join("h").exists());
        }
        if ids.privileged {
            // An existing directory of root's is refused, not handed over.
            let err = persistent_home(&dir.join("homes"), "x", ids)
                .map(|(p, _)| p)
                .unwrap_err()
                .to_string();
            assert!(err.contains("homes") && err.contains("uid 0"), "{err}");
            assert_eq!(std::fs::metadata(dir.join("homes")).unwrap().uid(), 0);
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn file_uris_decode_and_encode() {
        assert_eq!(
            parse_file_uri(b"file:///home/u/My%20Doc.pdf"),
            Some(PathBuf::from("/home/u/My Doc.pdf"))
        );
        assert_eq!(
            parse_file_uri(b"file://localhost/a/b"),
            Some(PathBuf::from("/a/b"))
        );
        assert_eq!(parse_file_uri(b"file:///%C3%A4"), Some(PathBuf::from("/ä")));
        assert_eq!(parse_file_uri(b"file://host/a"), None);
        assert_eq!(parse_file_uri(b"file:///a%2"), None);
        assert_eq!(parse_file_uri(b"file:///a%00b"), None);
        assert_eq!(parse_file_uri(b"file:///a?x=1"), None);
        assert_eq!(parse_file_uri(b"/a"), None);
        assert_eq!(
            file_uri(Path::new("/run/wsbox/files/My Doc ä.pdf")),
            "file:///run/wsbox/files/My%20Doc%20%C3%A4.pdf"
        );
        let round = parse_file_uri(file_uri(Path::new("/a b/%c#?")).as_bytes()).unwrap();
        assert_eq!(round, PathBuf::from("/a b/%c#?"));
    }

    #[test]
    fn arguments_naming_files_are_granted_and_rewritten() {
        let dir = std::env::temp_dir().join(format!("wsbox-files-unit-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("a")).unwrap();
        std::fs::create_dir_all(dir.join("b")).unwrap();
        std::fs::write(dir.join("a/doc.txt"), "a").unwrap();
        std::fs::write(dir.join("b/doc.txt"), "b").unwrap();
        let a = dir.join("a/doc.txt");
        let mut argv: Vec<OsString> = vec![
            "cat".into(),
            a.clone().into(),
            dir.join("b/doc.txt").into(),
            file_uri(&a),
            "-n".into(),
            dir.join("missing").into(),
            dir.join("a").into(),
        ];
        let grants = grant(&mut argv, &[], &[], true, false).unwrap();
        assert_eq!(argv[0], "cat");
        assert_eq!(argv[1], "/run/wsbox/files/doc.txt");
        assert_eq!(argv[2], "/run/wsbox/files/doc-2.txt");
        assert_eq!(argv[3], "file:///run/wsbox/files/doc.txt");
        assert_eq!(argv[4], "-n");
        assert_eq!(argv[5], dir.join("missing").into_os_string());
        assert_eq!(argv[6], dir.join("a").into_os_string());
        assert_eq!(grants.binds.len(), 2);
        assert!(grants.binds.iter().all(|b| !b.writable));

        // A regular file granted read-write is a document: a directory of
        // its own, no bind.
        let mut argv: Vec<OsString> = vec!["cat".into(), a.clone().into()];
        let grants = grant(&mut argv, &[], std::slice::from_ref(&a), true, false).unwrap();
        assert_eq!(argv[1], "/run/wsbox/docs/1/doc.txt");
        assert!(grants.binds.is_empty());
        assert_eq!(grants.documents.len(), 1);
        assert_eq!(grants.documents[0].host, a);
        assert_eq!(grants.documents[0].name, "doc.txt");
        assert_eq!(grants.documents[0].index, 1);
        assert!(grants.documents[0].host_dir.is_some());

        // A file in a directory granted read-write gets its path there,
        // not a read-only grant of its own.
        let b = dir.join("b");
        let mut argv: Vec<OsString> = vec!["cat".into(), b.join("doc.txt").into()];
        let grants = grant(&mut argv, &[], std::slice::from_ref(&b), true, false).unwrap();
        assert_eq!(argv[1], "/run/wsbox/files/rw/b/doc.txt");
        assert_eq!(grants.binds.len(), 1);
        assert!(grants.binds[0].writable);
        assert_eq!(grants.binds[0].host, b);

        let mut argv: Vec<OsString> = vec!["cat".into(), a.clone().into()];
        grant(&mut argv, &[], &[], false, false).unwrap();
        assert_eq!(argv[1], a.clone().into_os_string());

        // The sandbox's own /proc and the host's /usr are left alone.
        let mut argv: Vec<OsString> = vec![
            "cat".into(),
            "/proc/self/status".into(),
            "/proc/cpuinfo".into(),
            "/usr/bin/env".into(),
        ];
        let before = argv.clone();
        let grants = grant(&mut argv, &[], &[], true, false).unwrap();
        assert_eq!(argv, before);
        assert!(grants.binds.is_empty());

        let err = grant(&mut [], &[dir.join("missing")], &[], true, false)
            .unwrap_err()
            .to_string();
        assert!(err.contains("missing"), "{err}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
