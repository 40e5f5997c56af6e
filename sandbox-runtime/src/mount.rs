//! Executes the mount steps of a plan inside the new mount namespace, then
//! makes the new tree the root and detaches the host's.
//!
//! The shape follows bubblewrap: a staging tmpfs becomes the root first, with
//! the host's root at /oldroot and the sandbox's at /newroot, so host paths
//! stay reachable while the new tree is built. Nothing here decides what to
//! mount; it only carries out [`MountStep`]s.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{symlink, DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

use nix::mount::{mount, umount2, MntFlags, MsFlags};

use crate::hostpath;
use crate::plan::MountStep;
use crate::sys::{self, MountAttrs, OFlags, ResolveFlags, SetattrFlags};

/// Errors of the mount setup; each names the path involved.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("failed to {action} {path}: {source}")]
    Path {
        action: &'static str,
        path: PathBuf,
        source: io::Error,
    },
    #[error("failed to bind {source_path} into the sandbox at {target}: {source}")]
    Bind {
        source_path: PathBuf,
        target: PathBuf,
        source: io::Error,
    },
}

const STAGING: &str = "/tmp";
const NEWROOT: &str = "/newroot";
const OLDROOT: &str = "/oldroot";
/// The host's /dev/null, bound once in the staging root with the flags of
/// a mask (read-only, nosuid, nodev, noexec): each bind of it keeps them.
const MASK: &str = "/mask";
/// An empty read-only tmpfs mounted once in the staging root, with the same
/// flags: each masked directory is a bind of it.
const MASK_DIR: &str = "/maskdir";
/// The sandbox's scratch space in the staging root
/// ([`MountStep::ScratchSpace`]): detached with it, it lives on in the
/// places bound from it.
const SCRATCH: &str = "/scratch";

/// What every mount of the system tree gets once wsbox filled it.
const SEALED: MountAttrs = MountAttrs::RDONLY
    .union(MountAttrs::NOSUID)
    .union(MountAttrs::NODEV);

fn path_err<'a>(action: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> Error + 'a {
    move |source| Error::Path {
        action,
        path: path.to_owned(),
        source,
    }
}

fn nix_err<'a>(action: &'static str, path: &'a Path) -> impl FnOnce(nix::Error) -> Error + 'a {
    move |errno| Error::Path {
        action,
        path: path.to_owned(),
        source: errno.into(),
    }
}

/// The staging root [`prepare`] made, with the masks' sources ([`MASK`],
/// [`MASK_DIR`]) in it: [`execute`] takes it, so it cannot run first.
#[derive(Debug)]
pub struct Staging(());

/// Makes every mount private, mounts a staging tmpfs, pivots into it with the
/// host root at /oldroot, and mounts the sandbox's root tmpfs at /newroot.
pub fn prepare() -> Result<Staging, Error> {
    let root = Path::new("/");
    mount(
        None::<&str>,
        root,
        None::<&str>,
        MsFlags::MS_REC | MsFlags::MS_PRIVATE,
        None::<&str>,
    )
    .map_err(nix_err("make mount propagation private at", root))?;
    let staging = Path::new(STAGING);
    mount_tmpfs(staging, 0o755, false)?;
    for dir in ["newroot", "oldroot"] {
        let path = staging.join(dir);
        std::fs::create_dir(&path).map_err(path_err("create", &path))?;
    }
    nix::unistd::chdir(staging).map_err(nix_err("change directory to", staging))?;
    nix::unistd::pivot_root(".", "oldroot").map_err(nix_err("pivot_root into", staging))?;
    nix::unistd::chdir(root).map_err(nix_err("change directory to", root))?;
    let mask = Path::new(MASK);
    std::fs::File::create(mask).map_err(path_err("create", mask))?;
    cover_with(&host(Path::new("/dev/null")), mask)?;
    let mask_dir = Path::new(MASK_DIR);
    std::fs::create_dir(mask_dir).map_err(path_err("create", mask_dir))?;
    mount(
        Some("tmpfs"),
        mask_dir,
        Some("tmpfs"),
        MsFlags::MS_RDONLY | MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
        Some("mode=0555,size=4k"),
    )
    .map_err(nix_err("mount a tmpfs at", mask_dir))?;
    mount_tmpfs(Path::new(NEWROOT), 0o755, false)?;
    Ok(Staging(()))
}

/// A user bind's source as wsbox opened it before the sandbox existed.
#[derive(Debug)]
pub enum Source {
    /// A detached mount tree (open_tree(OPEN_TREE_CLONE)) of the opened
    /// path, made by wsbox when it runs as root: directories the sandbox's
    /// uid cannot search (root's 0700 ones) still bind exactly what wsbox
    /// opened.
    Tree(OwnedFd),
    /// An unprivileged wsbox cannot clone mounts of the host namespace: pid
    /// 1 opens the real path again below /oldroot without following any
    /// symlink and checks that it is the same inode.
    Reopen { real: PathBuf, dev: u64, ino: u64 },
    /// A regular file opened for reading by wsbox, whose contents are
    /// copied (a document grant, [`MountStep::Copy`]).
    Contents(std::fs::File),
}

/// One user bind, opened by wsbox.
#[derive(Debug)]
pub struct OpenedBind {
    pub host: PathBuf,
    pub target: PathBuf,
    pub dir: bool,
    pub source: Source,
}

/// The user binds of a plan, opened.
pub type OpenedSources = [OpenedBind];

/// Attaches an opened user bind: the tree is cloned from the opened inode and
/// put on a mount point made without following symlinks, so neither the
/// host path nor the sandbox path is resolved by name again.
fn attach_opened(opened: &OpenedBind, writable: bool) -> Result<(), Error> {
    let err = |source: io::Error| Error::Bind {
        source_path: opened.host.clone(),
        target: opened.target.clone(),
        source,
    };
    let reopened;
    let tree = match &opened.source {
        Source::Contents(_) => return Err(err(io::ErrorKind::InvalidInput.into())),
        Source::Tree(fd) => fd.as_fd(),
        Source::Reopen { real, dev, ino } => {
            let fd = hostpath::reopen(Path::new(OLDROOT), real, *dev, *ino)
                .map_err(|e| err(io::Error::other(e.to_string())))?;
            reopened = hostpath::tree::clone(fd.as_fd()).map_err(err)?;
            reopened.as_fd()
        }
    };
    let newroot = sys::openat2(
        sys::CWD,
        c"/newroot",
        OFlags::PATH | OFlags::DIRECTORY,
        ResolveFlags::empty(),
    )
    .map_err(err)?;
    let rel = opened.target.strip_prefix("/").unwrap_or(&opened.target);
    let point = hostpath::mount_point(newroot.as_fd(), rel, opened.dir).map_err(err)?;
    let mut attrs = MountAttrs::NOSUID | MountAttrs::NODEV;
    if !writable {
        attrs |= MountAttrs::RDONLY;
    }
    // Restricted while still detached: it is never attached without.
    hostpath::tree::set_attr(tree, attrs, MountAttrs::empty(), true).map_err(err)?;
    hostpath::tree::attach(tree, point.as_fd()).map_err(err)
}

/// Carries out `steps` under /newroot, host paths read from /oldroot. The
/// umask is 0 meanwhile, so that what is created has the step's mode at
/// once (no chmod after); it is set back after.
pub fn execute(
    _staging: &Staging,
    steps: &[MountStep],
    opened: &OpenedSources,
) -> Result<(), Error> {
    let umask = nix::sys::stat::umask(nix::sys::stat::Mode::empty());
    let done = steps.iter().try_for_each(|step| {
        execute_one(step, opened)?;
        tracing::trace!(?step, "mount step done");
        Ok(())
    });
    nix::sys::stat::umask(umask);
    done
}

/// Makes the root tmpfs read-only, makes /newroot the root of the mount
/// namespace and detaches the staging root with the host's root beneath it.
pub fn enter_new_root() -> Result<(), Error> {
    let newroot = Path::new(NEWROOT);
    set_attributes(newroot, SEALED, false)?;
    nix::unistd::chdir(newroot).map_err(nix_err("change directory to", newroot))?;
    nix::unistd::pivot_root(".", ".").map_err(nix_err("pivot_root into", newroot))?;
    // The staging root now sits on top of the new one; detach it, and the
    // host's root at its /oldroot with it (one detach: each one waits for
    // an RCU grace period).
    umount2(".", MntFlags::MNT_DETACH).map_err(nix_err("detach the staging root at", newroot))?;
    let root = Path::new("/");
    nix::unistd::chdir(root).map_err(nix_err("change directory to", root))?;
    Ok(())
}

fn inside(path: &Path) -> PathBuf {
    Path::new(NEWROOT).join(path.strip_prefix("/").unwrap_or(path))
}

fn host(path: &Path) -> PathBuf {
    Path::new(OLDROOT).join(path.strip_prefix("/").unwrap_or(path))
}

fn execute_one(step: &MountStep, opened: &OpenedSources) -> Result<(), Error> {
    match step {
        MountStep::Bind {
            source,
            target,
            writable,
            device,
        } => {
            match opened
                .iter()
                .find(|o| o.host == *source && o.target == *target)
            {
                Some(o) => attach_opened(o, *writable),
                None => bind(&host(source), source, target, *writable, *device),
            }
        }
        MountStep::Tmpfs {
            target,
            mode,
            noexec,
        } => {
            let path = inside(target);
            create_dir_all(&path)?;
            mount_tmpfs(&path, *mode, *noexec)
        }
        MountStep::ScratchSpace { size } => {
            let scratch = Path::new(SCRATCH);
            std::fs::create_dir(scratch).map_err(path_err("create", scratch))?;
            // An inode per 16 KiB of space at most: empty files take
            // kernel memory (about 1 KiB each) that the size does not
            // count; this bounds it to a sixteenth of the size.
            let inodes = (size / 16384).max(4096);
            let options = format!("mode=0755,size={size},nr_inodes={inodes}");
            mount(
                Some("tmpfs"),
                scratch,
                Some("tmpfs"),
                MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
                Some(options.as_str()),
            )
            .map_err(nix_err("mount the scratch tmpfs at", scratch))
        }
        MountStep::Scratch { target, mode } => {
            let name = target.to_string_lossy().replace('/', "_");
            let source = Path::new(SCRATCH).join(name);
            let dir_mode = nix::sys::stat::Mode::from_bits_truncate(*mode);
            nix::unistd::mkdir(&source, dir_mode).map_err(nix_err("create", &source))?;
            let path = inside(target);
            create_dir_all(&path)?;
            // A bind keeps the scratch mount's nosuid and nodev.
            mount(
                Some(&source),
                &path,
                None::<&str>,
                MsFlags::MS_BIND,
                None::<&str>,
            )
            .map_err(nix_err("bind the scratch space at", &path))
        }
        MountStep::Dir { path, mode } => {
            let path = inside(path);
            let dir_mode = nix::sys::stat::Mode::from_bits_truncate(*mode);
            let made = match nix::unistd::mkdir(&path, dir_mode) {
                Err(nix::errno::Errno::ENOENT) => {
                    if let Some(parent) = path.parent() {
                        create_dir_all(parent)?;
                    }
                    nix::unistd::mkdir(&path, dir_mode)
                }
                other => other,
            };
            match made {
                Ok(()) => Ok(()),
                // A directory there already (a parent of an earlier step):
                // the step's mode. Anything else there is an error.
                Err(nix::errno::Errno::EEXIST)
                    if std::fs::symlink_metadata(&path).is_ok_and(|m| m.is_dir()) =>
                {
                    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(*mode))
                        .map_err(path_err("set the mode of", &path))
                }
                Err(e) => Err(nix_err("create the directory", &path)(e)),
            }
        }
        MountStep::Symlink { target, link } => {
            let path = inside(link);
            symlink(target, &path).map_err(path_err("create the symlink", &path))
        }
        MountStep::Copy { source, target } => {
            let contents = opened.iter().find_map(|o| match &o.source {
                Source::Contents(file) if o.host == *source && o.target == *target => Some(file),
                _ => None,
            });
            let Some(contents) = contents else {
                return Err(path_err("copy", source)(io::ErrorKind::NotFound.into()));
            };
            copy_new(contents, &inside(target)).map_err(|e| Error::Bind {
                source_path: source.clone(),
                target: target.clone(),
                source: e,
            })
        }
        MountStep::File {
            path,
            contents,
            mode,
        } => {
            let path = inside(path);
            write_new(&path, contents, *mode)
        }
        MountStep::Proc { target } => {
            let path = inside(target);
            create_dir_all(&path)?;
            mount(
                Some("proc"),
                &path,
                Some("proc"),
                MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
                None::<&str>,
            )
            .map_err(nix_err("mount procfs at", &path))
        }
        MountStep::ReadOnly { path } => {
            let path = inside(path);
            mount(
                Some(&path),
                &path,
                None::<&str>,
                MsFlags::MS_BIND | MsFlags::MS_REC,
                None::<&str>,
            )
            .map_err(nix_err("bind onto itself", &path))?;
            set_attributes(&path, SEALED, true)
        }
        MountStep::Seal { path } => set_attributes(&inside(path), SEALED, false),
        MountStep::MaskFile { path } => mask(&inside(path)),
        MountStep::MaskEach { dir, file } => {
            let dir = inside(dir);
            let Ok(entries) = std::fs::read_dir(&dir) else {
                return Ok(());
            };
            for entry in entries.flatten() {
                let path = entry.path().join(file);
                if std::fs::metadata(&path).is_ok_and(|m| m.is_file()) {
                    mask(&path)?;
                }
            }
            Ok(())
        }
        MountStep::Cover { path, contents } => {
            let path = inside(path);
            if std::fs::symlink_metadata(&path).is_err() {
                return Ok(());
            }
            // A file on the root tmpfs, bound over the target and unlinked:
            // the mount keeps it alive, and nothing else names it.
            let staged = inside(Path::new("/.wsbox-cover"));
            write_new(&staged, contents, 0o444)?;
            let covered = cover_with(&staged, &path);
            std::fs::remove_file(&staged).map_err(path_err("remove", &staged))?;
            covered
        }
        MountStep::MaskDir { path } => {
            let path = inside(path);
            // What is not there, or is no directory, needs no mask.
            bind_mask(
                MASK_DIR,
                &path,
                &[nix::errno::Errno::ENOENT, nix::errno::Errno::ENOTDIR],
            )
        }
        MountStep::Devpts { target } => {
            let path = inside(target);
            create_dir_all(&path)?;
            mount(
                Some("devpts"),
                &path,
                Some("devpts"),
                MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC,
                Some("newinstance,ptmxmode=0666,mode=0620"),
            )
            .map_err(nix_err("mount a private devpts at", &path))
        }
        MountStep::Sysfs { target } => {
            let path = inside(target);
            create_dir_all(&path)?;
            mount(
                Some("sysfs"),
                &path,
                Some("sysfs"),
                MsFlags::MS_RDONLY | MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
                None::<&str>,
            )
            .map_err(nix_err("mount sysfs at", &path))
        }
    }
}

/// Binds [`MASK`] over `path`, a file; nothing to do when `path` is not
/// there.
fn mask(path: &Path) -> Result<(), Error> {
    bind_mask(MASK, path, &[nix::errno::Errno::ENOENT])
}

/// Binds `source` ([`MASK`] or [`MASK_DIR`]) over `path`. The errors in
/// `absent` mean that `path` needs no mask: `source` is there, since
/// [`execute`] runs only with the [`Staging`] that made it.
fn bind_mask(source: &str, path: &Path, absent: &[nix::errno::Errno]) -> Result<(), Error> {
    match mount(
        Some(source),
        path,
        None::<&str>,
        MsFlags::MS_BIND,
        None::<&str>,
    ) {
        Err(e) if absent.contains(&e) => Ok(()),
        other => other.map_err(nix_err("mask", path)),
    }
}

/// Binds the file `source` over `path`, read-only.
fn cover_with(source: &Path, path: &Path) -> Result<(), Error> {
    mount(
        Some(source),
        path,
        None::<&str>,
        MsFlags::MS_BIND,
        None::<&str>,
    )
    .map_err(nix_err("mask", path))?;
    set_attributes(path, SEALED | MountAttrs::NOEXEC, false)
}

fn bind(
    source: &Path,
    shown_source: &Path,
    target: &Path,
    writable: bool,
    device: bool,
) -> Result<(), Error> {
    let err = |source: io::Error| Error::Bind {
        source_path: shown_source.to_owned(),
        target: target.to_owned(),
        source,
    };
    let meta = std::fs::metadata(source).map_err(err)?;
    let path = inside(target);
    mount_point(&path, meta.is_dir())?;
    mount(
        Some(source),
        &path,
        None::<&str>,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None::<&str>,
    )
    .map_err(|e| err(e.into()))?;
    let mut attrs = MountAttrs::NOSUID;
    if !device {
        attrs |= MountAttrs::NODEV;
    } else {
        attrs |= MountAttrs::NOEXEC;
    }
    if !writable {
        attrs |= MountAttrs::RDONLY;
    }
    set_attributes(&path, attrs, true)
}

/// Makes `path` a directory or an empty file to mount on, and its parents
/// when missing; one that exists already is left as it is (a mount on the
/// wrong kind fails).
fn mount_point(path: &Path, dir: bool) -> Result<(), Error> {
    let make = || {
        if dir {
            nix::unistd::mkdir(path, nix::sys::stat::Mode::from_bits_truncate(0o755))
        } else {
            nix::sys::stat::mknod(
                path,
                nix::sys::stat::SFlag::S_IFREG,
                nix::sys::stat::Mode::from_bits_truncate(0o644),
                0,
            )
        }
    };
    let made = match make() {
        Err(nix::errno::Errno::ENOENT) => {
            if let Some(parent) = path.parent() {
                create_dir_all(parent)?;
            }
            make()
        }
        other => other,
    };
    match made {
        Ok(()) | Err(nix::errno::Errno::EEXIST) => Ok(()),
        Err(e) => Err(nix_err("create the mount point", path)(e)),
    }
}

/// Makes `path` and its missing parents, mode 0755 (exactly: [`execute`]
/// sets the umask to 0).
fn create_dir_all(path: &Path) -> Result<(), Error> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o755)
        .create(path)
        .map_err(path_err("create the directory", path))
}

/// Writes a new file with `mode` (a file there already is rewritten and
/// given the mode).
fn write_new(path: &Path, contents: &[u8], mode: u32) -> Result<(), Error> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
    {
        Ok(mut file) => file.write_all(contents).map_err(path_err("write", path)),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            // Written over, never through: an entry the host made a link
            // (an absolute link in the host's /etc) is not followed.
            let mut file = std::fs::OpenOptions::new()
                .write(true)
                .truncate(true)
                .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
                .open(path)
                .map_err(path_err("write", path))?;
            file.write_all(contents).map_err(path_err("write", path))?;
            file.set_permissions(std::fs::Permissions::from_mode(mode))
                .map_err(path_err("set the mode of", path))
        }
        Err(e) => Err(path_err("write", path)(e)),
    }
}

/// A new file at `path` (not following a symlink there) with `from`'s
/// contents, read by offset so that the file position wsbox shares with
/// this process stays where it was; the owner's read and write bits are
/// set, the others come from `from`.
fn copy_new(from: &std::fs::File, path: &Path) -> io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::{FileExt, OpenOptionsExt};
    let st = hostpath::fstat(from.as_fd())?;
    if st.st_mode & libc::S_IFMT != libc::S_IFREG {
        return Err(io::ErrorKind::InvalidInput.into());
    }
    let mut to = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .custom_flags(libc::O_NOFOLLOW)
        .mode((st.st_mode & 0o666) | 0o600)
        .open(path)?;
    let mut buf = vec![0u8; 128 * 1024];
    let mut at = 0u64;
    loop {
        let n = from.read_at(&mut buf, at)?;
        if n == 0 {
            return Ok(());
        }
        to.write_all(&buf[..n])?;
        at += n as u64;
    }
}

fn mount_tmpfs(path: &Path, mode: u32, noexec: bool) -> Result<(), Error> {
    let mut flags = MsFlags::MS_NOSUID | MsFlags::MS_NODEV;
    if noexec {
        flags |= MsFlags::MS_NOEXEC;
    }
    let options = format!("mode={mode:04o}");
    mount(
        Some("tmpfs"),
        path,
        Some("tmpfs"),
        flags,
        Some(options.as_str()),
    )
    .map_err(nix_err("mount a tmpfs at", path))
}

/// Sets mount attributes with mount_setattr(2), which, unlike a remount, keeps
/// the flags the kernel locked on mounts from a more privileged namespace and
/// can apply to a whole subtree at once.
fn set_attributes(path: &Path, set: MountAttrs, recursive: bool) -> Result<(), Error> {
    let c_path = CString::new(path.as_os_str().as_bytes()).map_err(|_| Error::Path {
        action: "set attributes of",
        path: path.to_owned(),
        source: io::ErrorKind::InvalidInput.into(),
    })?;
    let flags = if recursive {
        SetattrFlags::RECURSIVE
    } else {
        SetattrFlags::empty()
    };
    sys::mount_setattr(sys::CWD, &c_path, flags, set, MountAttrs::empty()).map_err(|source| {
        Error::Path {
            action: "set mount attributes (mount_setattr) of",
            path: path.to_owned(),
            source,
        }
    })
}
