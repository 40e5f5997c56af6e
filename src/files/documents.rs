//! The documents helper: the process that keeps a sandbox's document grants
//! ([`super::document`]) in step with their host files. Forked before wsbox
//! confines itself (`crate::helper`), because the confined wsbox may not
//! write host files; it is otherwise not confined, like the file broker.
//!
//! What it may touch is fixed by fds, never by a path from wsbox: the
//! documents' directory inside the sandbox (sent by the sandbox's pid 1
//! once it has built the sandbox), and for each document the host
//! directory and file the user granted (opened by wsbox at start, or by the
//! `wsbox add-file` command line and passed on). Passed fds are checked
//! as the file broker checks them: opened for real (Landlock checked the
//! open), the file opened for writing, and not one of wsbox's own
//! directories. When wsbox ends (its end of the socket closes) the helper
//! writes back every document that changed, then exits; wsbox waits for it.

use std::ffi::{OsStr, OsString};
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::wait::waitpid;
use nix::unistd::Pid;
use serde::{Deserialize, Serialize};
use wsbox_sandbox::plan::{document_dir, DOCS_DIR, FILES_DIR};
use wsbox_sandbox::{hostpath, network};

use super::document::{self, Document, Documents, Synced};
use crate::helper::{fork_helper, recv, send, seqpacket_pair};

/// The largest document wsbox copies in or writes back: as `wsbox export`.
pub const MAX_BYTES: u64 = 4 << 30;

/// A document granted at start, before the helper exists: pid 1 copies it
/// into [`document_dir`]`(index)` as `name`.
#[derive(Debug)]
pub struct StartDocument {
    pub index: usize,
    /// The host path as the user gave it, for messages.
    pub shown: PathBuf,
    /// The host directory that holds it, opened by wsbox.
    pub host_dir: OwnedFd,
    pub host_name: OsString,
    /// The host file as it was granted.
    pub granted: document::Stamp,
}

/// What wsbox asks the helper; the host objects come as fds.
#[derive(Debug, Serialize, Deserialize)]
enum Request {
    /// Grant the passed host file (with its directory) as a new document.
    Add { shown: PathBuf, name: PathBuf },
    /// Write back and take away the document named by its host path or
    /// its path inside.
    Remove { path: PathBuf },
}

/// The answer: the document's path inside and its index, or one line.
#[derive(Debug, Serialize, Deserialize)]
struct Reply(Result<(PathBuf, usize), String>);

/// The documents helper of one sandbox, as wsbox sees it. Dropping it ends
/// the helper after its last write-back, and waits for that.
#[derive(Debug)]
pub struct DocumentsHelper {
    sock: OwnedFd,
    pid: Pid,
    /// Set once [`DocumentsHelper::finish`] ran.
    finished: std::sync::atomic::AtomicBool,
}

/// What the helper knows from the start.
struct Context {
    /// The app's ids on the host when wsbox runs as root: what the helper
    /// creates inside is handed to them.
    owner: Option<(u32, u32)>,
    /// wsbox's own directories: never written, whatever fd names them.
    own: Vec<PathBuf>,
    /// The sandbox's pid 1 (as the host sees it): the fds of its mounts
    /// are never taken for host objects.
    sandbox: i32,
}

impl DocumentsHelper {
    /// Starts the helper. `channel` is where pid 1 sends the documents'
    /// directory; `start` are the documents pid 1 copies in.
    pub fn spawn(
        channel: OwnedFd,
        start: Vec<StartDocument>,
        owner: Option<(u32, u32)>,
        own: Vec<PathBuf>,
        sandbox: i32,
    ) -> io::Result<Self> {
        // Made here, so that a user out of inotify instances learns it now
        // (the sandbox does not start) rather than never.
        let documents = Documents::new()
            .map_err(|e| io::Error::new(e.kind(), format!("failed to watch documents: {e}")))?;
        let (ours, theirs) = seqpacket_pair()?;
        let mut keep: Vec<RawFd> = vec![
            theirs.as_raw_fd(),
            channel.as_raw_fd(),
            documents.fd().as_raw_fd(),
        ];
        keep.extend(start.iter().map(|d| d.host_dir.as_raw_fd()));
        let context = Context {
            owner,
            own,
            sandbox,
        };
        let pid = fork_helper(&keep, move || {
            serve(theirs, channel, documents, start, &context);
            0
        })?;
        Ok(Self {
            sock: ours,
            pid,
            finished: std::sync::atomic::AtomicBool::new(false),
        })
    }

    fn call(&self, request: &Request, fds: &[BorrowedFd<'_>]) -> Result<(PathBuf, usize), String> {
        let gone = |e: io::Error| {
            format!(
                "wsbox's documents helper has ended ({e}): documents cannot be granted any more"
            )
        };
        let bytes = serde_json::to_vec(request).map_err(|e| format!("invalid request: {e}"))?;
        let (reply, theirs) = seqpacket_pair().map_err(gone)?;
        let mut raw = vec![theirs.as_raw_fd()];
        raw.extend(fds.iter().map(|fd| fd.as_raw_fd()));
        send(self.sock.as_fd(), &bytes, &raw).map_err(gone)?;
        drop(theirs);
        let (answer, _) = recv(reply.as_fd(), 0).map_err(gone)?;
        if answer.is_empty() {
            return Err(gone(io::Error::other("no answer")));
        }
        serde_json::from_slice::<Reply>(&answer)
            .map_err(|e| format!("invalid answer from wsbox's documents helper: {e}"))?
            .0
    }

    /// Grants the host file `file` (named `name` in the host directory
    /// `dir`; `shown` to the user) as a new document; its path inside and
    /// its index.
    pub fn add(
        &self,
        shown: &Path,
        dir: BorrowedFd<'_>,
        file: BorrowedFd<'_>,
        name: &OsStr,
    ) -> Result<(PathBuf, usize), String> {
        let request = Request::Add {
            shown: shown.to_owned(),
            name: PathBuf::from(name),
        };
        self.call(&request, &[dir, file])
    }

    /// Writes the document at `path` (its host path or its path inside)
    /// back and takes it away; its path inside.
    pub fn remove(&self, path: &Path) -> Result<PathBuf, String> {
        let request = Request::Remove {
            path: path.to_owned(),
        };
        self.call(&request, &[]).map(|(inside, _)| inside)
    }

    /// Ends the helper: it writes back every document that changed, then
    /// exits; waits for that, within [`FINISH_WAIT`]. Once only.
    pub fn finish(&self) {
        use nix::sys::wait::{WaitPidFlag, WaitStatus};
        if self
            .finished
            .swap(true, std::sync::atomic::Ordering::SeqCst)
        {
            return;
        }
        // The helper reads the end of wsbox's requests, writes back, exits;
        // its end of the socket closes then, which wakes the poll below.
        let _ =
            nix::sys::socket::shutdown(self.sock.as_raw_fd(), nix::sys::socket::Shutdown::Write);
        let deadline = std::time::Instant::now() + FINISH_WAIT;
        loop {
            match waitpid(self.pid, Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::StillAlive) => {}
                _ => return,
            }
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                eprintln!(
                    "wsbox: the documents were not all written back within {} s; giving up \
                     (an interrupted write-back leaves the host file as it was)",
                    FINISH_WAIT.as_secs()
                );
                return;
            }
            let mut fds = [PollFd::new(self.sock.as_fd(), PollFlags::POLLIN)];
            let timeout = PollTimeout::try_from(left.min(std::time::Duration::from_secs(1)))
                .unwrap_or(PollTimeout::MAX);
            match poll(&mut fds, timeout) {
                Ok(n) if n > 0 => {
                    // Its end closed: it is exiting.
                    let _ = waitpid(self.pid, None);
                    return;
                }
                _ => {}
            }
        }
    }
}

/// How long wsbox waits for the last write-back when it ends: a host file
/// system that hangs (an NFS server gone) must not keep wsbox from exiting.
const FINISH_WAIT: std::time::Duration = std::time::Duration::from_secs(60);

impl Drop for DocumentsHelper {
    fn drop(&mut self) {
        self.finish();
    }
}

/// The helper's state.
struct Helper<'a> {
    context: &'a Context,
    /// The documents' directory inside, once pid 1 has sent it.
    root: Option<OwnedFd>,
    documents: Documents,
    /// Each watched document, in the order of `documents`.
    entries: Vec<Entry>,
    next: usize,
}

/// A document as requests name it.
struct Entry {
    index: usize,
    /// The host path as the user gave it.
    shown: PathBuf,
    /// Its path inside.
    inside: PathBuf,
}

fn serve(
    sock: OwnedFd,
    channel: OwnedFd,
    documents: Documents,
    start: Vec<StartDocument>,
    context: &Context,
) {
    let mut helper = Helper {
        context,
        root: None,
        documents,
        entries: Vec::new(),
        next: start.iter().map(|d| d.index).max().unwrap_or(0) + 1,
    };
    let mut channel = Some(channel);
    let mut start = Some(start);
    loop {
        let mut fds = vec![
            PollFd::new(sock.as_fd(), PollFlags::POLLIN),
            PollFd::new(helper.documents.fd(), PollFlags::POLLIN),
        ];
        if let Some(channel) = &channel {
            fds.push(PollFd::new(channel.as_fd(), PollFlags::POLLIN));
        }
        match poll(&mut fds, PollTimeout::NONE) {
            Ok(_) => {}
            Err(nix::errno::Errno::EINTR) => continue,
            Err(_) => break,
        }
        let ready = |fd: &PollFd| fd.revents().is_some_and(|r| !r.is_empty());
        let (request, events, sent) = (
            ready(&fds[0]),
            ready(&fds[1]),
            fds.get(2).is_some_and(ready),
        );
        drop(fds);
        if sent {
            if let Some(channel) = channel.take() {
                match network::receive_fds(&channel, 1) {
                    Ok(mut fds) => {
                        helper.root = fds.pop();
                        helper.start(start.take().unwrap_or_default());
                    }
                    // pid 1 failed: the sandbox never ran, and its
                    // documents were never seen by an app.
                    Err(_) => start = None,
                }
            }
        }
        if events {
            helper.on_events();
        }
        if request && !helper.on_request(&sock) {
            break;
        }
    }
    let done = helper.documents.sync_all();
    helper.report(done);
}

impl Helper<'_> {
    /// Watches the documents pid 1 copied in.
    fn start(&mut self, start: Vec<StartDocument>) {
        for doc in start {
            let Some(inside) = self.open_inside(doc.index) else {
                eprintln!(
                    "wsbox: failed to keep {} in step: its directory inside is missing",
                    doc.shown.display()
                );
                continue;
            };
            let name = doc.host_name.clone();
            let inside_path = document_dir(doc.index).join(&name);
            self.watch(
                Document::new(
                    doc.shown.clone(),
                    doc.host_dir,
                    doc.host_name,
                    inside,
                    name,
                    MAX_BYTES,
                    Some(doc.granted),
                ),
                Entry {
                    index: doc.index,
                    shown: doc.shown,
                    inside: inside_path,
                },
            );
        }
    }

    /// Keeps `doc` in step from now on; false when it could not be read.
    /// A document whose directory cannot be watched (the user's inotify
    /// watches are used up) is still written back when it is taken away
    /// and at the end.
    fn watch(&mut self, doc: Result<Document, document::Error>, entry: Entry) -> bool {
        let doc = match doc {
            Ok(doc) => doc,
            Err(e) => {
                eprintln!(
                    "wsbox: failed to keep {} in step: {e}",
                    entry.shown.display()
                );
                return false;
            }
        };
        if let Err(e) = self.documents.add(doc) {
            eprintln!(
                "wsbox: warning: {} is written back only when it is taken away or the sandbox \
                 ends: its directory cannot be watched ({e})",
                entry.shown.display()
            );
        }
        self.entries.push(entry);
        true
    }

    fn open_inside(&self, index: usize) -> Option<OwnedFd> {
        let root = self.root.as_ref()?;
        nix::fcntl::openat(
            root,
            index.to_string().as_str(),
            nix::fcntl::OFlag::O_RDONLY
                | nix::fcntl::OFlag::O_DIRECTORY
                | nix::fcntl::OFlag::O_NOFOLLOW
                | nix::fcntl::OFlag::O_CLOEXEC,
            nix::sys::stat::Mode::empty(),
        )
        .ok()
    }

    fn on_events(&mut self) {
        let done = self.documents.on_events();
        self.report(done);
    }

    fn report(&self, done: Vec<(PathBuf, Result<Synced, document::Error>)>) {
        for (path, result) in done {
            match result {
                Ok(Synced::Conflict(copy)) => eprintln!(
                    "wsbox: warning: {} changed on the host while the app had it open; the app's \
                     version was saved beside it as {}",
                    path.display(),
                    copy.display()
                ),
                Ok(Synced::Written) => {
                    tracing::debug!(path = %path.display(), "document written back");
                }
                Ok(Synced::Changing) => {
                    tracing::debug!(path = %path.display(), "document still changing: written back later");
                }
                Ok(Synced::Unchanged | Synced::Missing) => {}
                Err(e) => eprintln!("wsbox: failed to save the app's {}: {e}", path.display()),
            }
        }
    }

    /// Serves one request; false when wsbox has ended.
    fn on_request(&mut self, sock: &OwnedFd) -> bool {
        let (bytes, mut fds) = match recv(sock.as_fd(), 3) {
            Ok((bytes, _)) if bytes.is_empty() => return false,
            Ok(got) => got,
            Err(e) if e.kind() == io::ErrorKind::InvalidData => return true,
            Err(_) => return false,
        };
        if fds.is_empty() {
            return true;
        }
        let reply = fds.remove(0);
        let answer = match serde_json::from_slice::<Request>(&bytes) {
            Ok(Request::Add { shown, name }) => self.add(&shown, name.as_os_str(), fds),
            Ok(Request::Remove { path }) => self.remove(&path),
            Err(e) => Err(format!("invalid request to wsbox's documents helper: {e}")),
        };
        let bytes = serde_json::to_vec(&Reply(answer)).unwrap_or_default();
        let _ = send(reply.as_fd(), &bytes, &[]);
        true
    }

    fn add(
        &mut self,
        shown: &Path,
        name: &OsStr,
        fds: Vec<OwnedFd>,
    ) -> Result<(PathBuf, usize), String> {
        let fail = |e: &dyn std::fmt::Display| format!("failed to grant {}: {e}", shown.display());
        // Granted already: the same document.
        if let Some(entry) = self.entries.iter().find(|e| e.shown == shown) {
            return Ok((entry.inside.clone(), entry.index));
        }
        let [dir, file]: [OwnedFd; 2] = fds
            .try_into()
            .map_err(|_| fail(&"the request came without the open file and its directory"))?;
        if name.is_empty() || name.as_bytes().contains(&b'/') || name == ".." || name == "." {
            return Err(fail(&"not a file name"));
        }
        self.check_passed(dir.as_fd(), false)
            .map_err(|e| fail(&e))?;
        self.check_passed(file.as_fd(), true)
            .map_err(|e| fail(&e))?;
        let named = nix::sys::stat::fstatat(&dir, name, nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW)
            .map_err(|e| fail(&e))?;
        let opened = hostpath::fstat(file.as_fd()).map_err(|e| fail(&e))?;
        if (named.st_dev, named.st_ino) != (opened.st_dev, opened.st_ino)
            || opened.st_mode & libc::S_IFMT != libc::S_IFREG
        {
            return Err(fail(&"the file changed while it was granted"));
        }
        let root = self
            .root
            .as_ref()
            .ok_or_else(|| fail(&"the sandbox's documents place is not ready"))?;
        // Run by root, what is made inside is made as the app's host ids:
        // the sandbox's file systems take no other owner (EOVERFLOW), and
        // the app must be able to write it.
        let _as_app = self.context.owner.map(AsIds::new);
        // A fresh directory: a name the app made there itself is skipped.
        let index = loop {
            let index = self.next;
            self.next += 1;
            match nix::sys::stat::mkdirat(
                root,
                index.to_string().as_str(),
                nix::sys::stat::Mode::from_bits_truncate(0o700),
            ) {
                Ok(()) => break index,
                Err(nix::errno::Errno::EEXIST) if index < 1 << 20 => continue,
                Err(e) => return Err(fail(&e)),
            }
        };
        let inside = self
            .open_inside(index)
            .ok_or_else(|| fail(&"its directory inside vanished"))?;
        let file = std::fs::File::from(file);
        document::copy_in(&file, inside.as_fd(), name, None, MAX_BYTES).map_err(|e| fail(&e))?;
        drop(_as_app);
        let doc = Document::new(
            shown.to_owned(),
            dir,
            name.to_owned(),
            inside,
            name.to_owned(),
            MAX_BYTES,
            Some(document::Stamp::of(&opened)),
        );
        let inside_path = document_dir(index).join(name);
        let entry = Entry {
            index,
            shown: shown.to_owned(),
            inside: inside_path.clone(),
        };
        if !self.watch(doc, entry) {
            return Err(fail(&"it cannot be kept in step"));
        }
        Ok((inside_path, index))
    }

    /// An fd passed for a host object: opened for real, for writing where
    /// `write`, and not one of wsbox's own directories.
    fn check_passed(&self, fd: BorrowedFd<'_>, write: bool) -> Result<(), String> {
        // SAFETY: F_GETFL on a valid fd.
        let flags = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETFL) };
        if flags < 0 || flags & libc::O_PATH != 0 {
            return Err("it was not passed opened (update the wsbox command line)".into());
        }
        if write && flags & libc::O_ACCMODE == libc::O_RDONLY {
            return Err("it was not passed opened for writing".into());
        }
        let real = hostpath::real_path(fd).map_err(|e| format!("failed to find it: {e}"))?;
        if self.context.own.iter().any(|own| real.starts_with(own)) {
            return Err(format!("{} belongs to wsbox itself", real.display()));
        }
        // A file of the host's, not of the sandbox's: the app may hand
        // wsbox fds of its /proc or its tmpfs, and this helper writes with
        // the user's (or root's) rights.
        match sandbox_mount(fd, self.context.sandbox) {
            Ok(false) => Ok(()),
            Ok(true) => Err(format!("{} is a file of the sandbox's", real.display())),
            Err(e) => Err(format!("{}: {e}", real.display())),
        }
    }

    /// Takes away the document named by its host path or its path
    /// inside: written back a last time, then gone with what was beside it.
    fn remove(&mut self, path: &Path) -> Result<(PathBuf, usize), String> {
        let Some(at) = self
            .entries
            .iter()
            .position(|e| e.shown == path || e.inside == path)
        else {
            return Err(format!(
                "{} is not a file granted to this sandbox (give its host path or its path under \
                 {FILES_DIR} or {DOCS_DIR})",
                path.display()
            ));
        };
        let (host, result) = self.documents.remove(at);
        let entry = self.entries.remove(at);
        self.report(vec![(host, result)]);
        if let Some(root) = &self.root {
            remove_dir(root.as_fd(), &entry.index.to_string())
                .map_err(|e| format!("failed to remove {} inside: {e}", entry.inside.display()))?;
        }
        Ok((entry.inside, entry.index))
    }
}

/// Whether `fd` is on a mount of the sandbox whose pid 1 is `pid1`
/// (mount ids are unique on the machine), or on procfs or sysfs anywhere.
/// Not knowing is an error: the fd is refused.
fn sandbox_mount(fd: BorrowedFd<'_>, pid1: i32) -> Result<bool, String> {
    const PROC_SUPER_MAGIC: i64 = 0x9fa0;
    const SYSFS_MAGIC: i64 = 0x6265_6572;
    // SAFETY: an all-zero statfs is valid; the kernel fills it.
    let mut fs: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: a valid fd and buffer.
    if unsafe { libc::fstatfs(fd.as_raw_fd(), &mut fs) } != 0 {
        return Err(format!(
            "failed to inspect it: {}",
            io::Error::last_os_error()
        ));
    }
    if [PROC_SUPER_MAGIC, SYSFS_MAGIC].contains(&(fs.f_type as i64)) {
        return Ok(true);
    }
    // SAFETY: an all-zero statx is valid; the kernel fills it.
    let mut stx: libc::statx = unsafe { std::mem::zeroed() };
    // SAFETY: a valid fd, an empty NUL-terminated path with AT_EMPTY_PATH,
    // and a buffer.
    let rc = unsafe {
        libc::statx(
            fd.as_raw_fd(),
            c"".as_ptr(),
            libc::AT_EMPTY_PATH,
            libc::STATX_MNT_ID,
            &mut stx,
        )
    };
    if rc != 0 || stx.stx_mask & libc::STATX_MNT_ID == 0 {
        return Err("failed to find its mount".into());
    }
    // The helper may read it: it owns the sandbox's user namespace.
    let mountinfo = std::fs::read_to_string(format!("/proc/{pid1}/mountinfo"))
        .map_err(|e| format!("failed to read the sandbox's mounts: {e}"))?;
    Ok(mountinfo
        .lines()
        .filter_map(|l| l.split(' ').next()?.parse::<u64>().ok())
        .any(|id| id == stx.stx_mnt_id))
}

/// The file system ids of this (single-threaded) process set to the app's
/// host ids until dropped.
struct AsIds {
    uid: nix::unistd::Uid,
    gid: nix::unistd::Gid,
}

impl AsIds {
    fn new((uid, gid): (u32, u32)) -> Self {
        // Root keeps CAP_SETUID and CAP_SETGID meanwhile (only the file
        // system capabilities follow the fsuid), so both go back on drop.
        let gid = nix::unistd::setfsgid(gid.into());
        let uid = nix::unistd::setfsuid(uid.into());
        Self { uid, gid }
    }
}

impl Drop for AsIds {
    fn drop(&mut self) {
        nix::unistd::setfsuid(self.uid);
        nix::unistd::setfsgid(self.gid);
    }
}

/// Removes `name` below `root` with everything in it, without following
/// a symbolic link: what the app left beside a document goes with it.
fn remove_dir(root: BorrowedFd<'_>, name: &str) -> io::Result<()> {
    let path = PathBuf::from(format!("/proc/self/fd/{}", root.as_raw_fd())).join(name);
    // std's remove_dir_all opens each level with O_NOFOLLOW relative to
    // the one above.
    match std::fs::remove_dir_all(&path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        other => other,
    }
}
