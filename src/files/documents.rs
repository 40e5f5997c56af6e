//! The documents helper: the process that keeps a sandbox's document grants
//! ([`super::document`]) in step with their host files. Forked before wsbox
//! confines itself (`crate::helper`), because the confined wsbox may not
//! write host files; it is otherwise not confined, like the file broker.
//!
//! What it may touch is fixed by fds, never by a path from wsbox: the
//! documents' directory inside the sandbox (sent by the sandbox's pid 1
//! once it has built the sandbox), and for each document the host
//! directory and file the user granted (opened by wsbox at start, or by the
//! `wsbox add-file` command line and passed on), or for a save grant the
//! host directory alone (the file the user chose to save may not exist
//! yet: [`document::Document::for_save`]). Passed fds are checked
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
    /// Grant the host path `shown` (the passed directory's `name`, which
    /// need not exist) for saving: an empty directory inside for the app
    /// to save `name` in.
    Save { shown: PathBuf, name: PathBuf },
    /// Write back and take away the document named by its host path or
    /// its path inside.
    Remove { path: PathBuf },
    /// The documents granted: host path and path inside, at most
    /// [`LIST_MAX`].
    List,
}

/// The most documents one List answer names (the answer must fit in one
/// message).
const LIST_MAX: usize = 200;

/// The answer to List.
#[derive(Debug, Serialize, Deserialize)]
struct ListReply(Vec<(PathBuf, PathBuf)>);

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
    /// wsbox's umask (the user's): the mode of the host files save grants
    /// create is `0o666 & !umask`.
    umask: u32,
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
        let umask = own_umask();
        let pid = fork_helper(&keep, move || {
            let context = Context {
                owner,
                own,
                sandbox,
                // Set and set back here, in the helper (a process of one
                // thread), where /proc did not say: wsbox's is left alone.
                umask: umask.unwrap_or_else(|| {
                    let mask =
                        nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o077));
                    nix::sys::stat::umask(mask);
                    mask.bits()
                }),
            };
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
        self.call_for::<Reply>(request, fds)?.0
    }

    fn call_for<T: serde::de::DeserializeOwned>(
        &self,
        request: &Request,
        fds: &[BorrowedFd<'_>],
    ) -> Result<T, String> {
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
        serde_json::from_slice::<T>(&answer)
            .map_err(|e| format!("invalid answer from wsbox's documents helper: {e}"))
    }

    /// The documents granted to the sandbox, by any route: host path and
    /// path inside.
    pub fn list(&self) -> Result<Vec<(PathBuf, PathBuf)>, String> {
        self.call_for::<ListReply>(&Request::List, &[]).map(|l| l.0)
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

    /// Grants the host path `shown` (`name` in the host directory `dir`,
    /// opened for real; the file need not exist) for saving: the app saves
    /// `name` in a new, empty directory inside, and each save it closes
    /// there replaces (or first creates) the host file. Its path inside and
    /// its index; the same grant again for a path granted already.
    pub fn save(
        &self,
        shown: &Path,
        dir: BorrowedFd<'_>,
        name: &OsStr,
    ) -> Result<(PathBuf, usize), String> {
        let request = Request::Save {
            shown: shown.to_owned(),
            name: PathBuf::from(name),
        };
        self.call(&request, &[dir])
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
            Ok(Request::List) => {
                let list = self
                    .entries
                    .iter()
                    .take(LIST_MAX)
                    .map(|e| (e.shown.clone(), e.inside.clone()))
                    .collect();
                let bytes = serde_json::to_vec(&ListReply(list)).unwrap_or_default();
                let _ = send(reply.as_fd(), &bytes, &[]);
                return true;
            }
            Ok(Request::Add { shown, name }) => self.add(&shown, name.as_os_str(), fds),
            Ok(Request::Save { shown, name }) => self.save(&shown, name.as_os_str(), fds),
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
        if !plain_name(name) {
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
        // Run by root, what is made inside is made as the app's host ids:
        // the sandbox's file systems take no other owner (EOVERFLOW), and
        // the app must be able to write it.
        let as_app = self.context.owner.map(AsIds::new);
        let (index, inside) = self.make_inside().map_err(|e| fail(&e))?;
        let file = std::fs::File::from(file);
        document::copy_in(&file, inside.as_fd(), name, None, MAX_BYTES).map_err(|e| fail(&e))?;
        drop(as_app);
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

    /// Grants `name` in the passed host directory for saving (see
    /// [`DocumentsHelper::save`]): the directory checked as for a
    /// document, the name a regular file or nothing, and nothing copied in.
    fn save(
        &mut self,
        shown: &Path,
        name: &OsStr,
        fds: Vec<OwnedFd>,
    ) -> Result<(PathBuf, usize), String> {
        let fail = |e: &dyn std::fmt::Display| {
            format!("failed to grant {} for saving: {e}", shown.display())
        };
        // Granted already: the same document.
        if let Some(entry) = self.entries.iter().find(|e| e.shown == shown) {
            return Ok((entry.inside.clone(), entry.index));
        }
        let [dir]: [OwnedFd; 1] = fds
            .try_into()
            .map_err(|_| fail(&"the request came without the directory"))?;
        if !plain_name(name) {
            return Err(fail(&"not a file name"));
        }
        self.check_passed(dir.as_fd(), false)
            .map_err(|e| fail(&e))?;
        // What the name is now: nothing, or a regular file (not followed).
        match nix::sys::stat::fstatat(&dir, name, nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW) {
            Ok(st) if st.st_mode & libc::S_IFMT == libc::S_IFREG => {}
            Ok(_) => return Err(fail(&"it is there and not a regular file")),
            Err(nix::errno::Errno::ENOENT) => {}
            Err(e) => return Err(fail(&e)),
        }
        let as_app = self.context.owner.map(AsIds::new);
        let made = self.make_inside();
        drop(as_app);
        let (index, inside) = made.map_err(|e| fail(&e))?;
        // Checked again, for good: what it is from now on is the baseline.
        let doc = Document::for_save(
            shown.to_owned(),
            dir,
            name.to_owned(),
            inside,
            name.to_owned(),
            MAX_BYTES,
            self.context.umask,
        );
        let doc = match doc {
            Ok(doc) => doc,
            Err(e) => {
                if let Some(root) = &self.root {
                    let _ = remove_dir(root.as_fd(), &index.to_string());
                }
                return Err(fail(&e));
            }
        };
        let inside_path = document_dir(index).join(name);
        let entry = Entry {
            index,
            shown: shown.to_owned(),
            inside: inside_path.clone(),
        };
        self.watch(Ok(doc), entry);
        Ok((inside_path, index))
    }

    /// A new directory inside for the next document, made with the
    /// current file system ids; its index and the directory.
    fn make_inside(&mut self) -> Result<(usize, OwnedFd), String> {
        let root = self
            .root
            .as_ref()
            .ok_or("the sandbox's documents place is not ready")?;
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
                Err(e) => return Err(e.to_string()),
            }
        };
        let inside = self
            .open_inside(index)
            .ok_or("its directory inside vanished")?;
        Ok((index, inside))
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

/// Whether `name` is one plain component: not empty, `.` or `..`, with no
/// `/` (nor NUL).
fn plain_name(name: &OsStr) -> bool {
    !(name.is_empty()
        || name == "."
        || name == ".."
        || name.as_bytes().iter().any(|&b| b == b'/' || b == 0))
}

/// wsbox's umask, read without setting it (other threads of wsbox create
/// files meanwhile); None where /proc does not say (before Linux 4.7).
fn own_umask() -> Option<u32> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let value = status.lines().find_map(|l| l.strip_prefix("Umask:"))?;
    u32::from_str_radix(value.trim(), 8).ok()
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

#[cfg(test)]
mod tests {
    //! Save grants through the helper's requests, as wsbox makes them: the
    //! helper serves in a thread of the test (wsbox forks it; a fork of
    //! the test's many threads could hang), its documents place a scratch
    //! directory standing for /run/wsbox/docs, its sandbox a process in a
    //! mount namespace of its own. Run as root (wsbox run by root: what is
    //! made inside is the app's) and, run again by the test itself, as the
    //! unprivileged test user, as tests/files.rs runs wsbox.

    use super::*;
    use std::fs::{self, File};
    use std::io::Write;
    use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
    use std::os::unix::process::CommandExt;
    use std::process::{Child, Command};
    use std::time::{Duration, Instant};

    /// The app's host ids when the tests run as root.
    const APP: (u32, u32) = (65534, 65534);

    /// The host directory, the documents place and a directory of wsbox's
    /// own, removed at the end.
    struct Scratch {
        root: PathBuf,
        host: PathBuf,
        docs: PathBuf,
        own: PathBuf,
    }

    impl Scratch {
        fn new(name: &str) -> Self {
            let root = std::env::temp_dir().join(format!(
                "wsbox-save-{name}-{}-{}",
                std::process::id(),
                nix::unistd::geteuid()
            ));
            let _ = fs::remove_dir_all(&root);
            let [host, docs, own] = ["host", "docs", "own"].map(|d| root.join(d));
            for dir in [&host, &docs, &own] {
                fs::create_dir_all(dir).unwrap();
            }
            Self {
                root,
                host,
                docs,
                own,
            }
        }

        /// Where `inside` (under /run/wsbox/docs) is in the scratch.
        fn inside(&self, inside: &Path) -> PathBuf {
            self.docs.join(inside.strip_prefix(DOCS_DIR).unwrap())
        }

        fn host_dir(&self) -> OwnedFd {
            File::open(&self.host).unwrap().into()
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.root);
        }
    }

    /// A process in a mount namespace of its own: the sandbox, whose
    /// mounts the helper refuses.
    struct Sandbox(Child);

    impl Sandbox {
        fn start(test: &str) -> Option<Self> {
            let mut cmd = Command::new("unshare");
            if nix::unistd::geteuid().is_root() {
                cmd.args(["-m", "--propagation", "private"]);
            } else {
                cmd.arg("-Urm");
            }
            let child = match cmd.args(["sleep", "600"]).spawn() {
                Ok(child) => Self(child),
                Err(e) => {
                    testkit::skip(test, &format!("cannot run unshare: {e}"));
                    return None;
                }
            };
            let pid = child.pid();
            let ours = fs::read_link("/proc/self/ns/mnt").ok();
            let started = Instant::now();
            while started.elapsed() < Duration::from_secs(10) {
                let theirs = fs::read_link(format!("/proc/{pid}/ns/mnt")).ok();
                let comm = fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
                if comm.trim() == "sleep" && theirs.is_some() && theirs != ours {
                    return Some(child);
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            testkit::skip(test, "unshare made no mount namespace (user namespaces?)");
            None
        }

        fn pid(&self) -> i32 {
            i32::try_from(self.0.id()).unwrap()
        }
    }

    impl Drop for Sandbox {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }

    /// The helper of `sandbox`, serving in a thread, with `docs` sent as
    /// its documents place as pid 1 sends it.
    fn helper(
        scratch: &Scratch,
        sandbox: &Sandbox,
    ) -> (DocumentsHelper, std::thread::JoinHandle<()>) {
        let root_run = nix::unistd::geteuid().is_root();
        if root_run {
            // The documents place is the app's, as in the sandbox.
            std::os::unix::fs::chown(&scratch.docs, Some(APP.0), Some(APP.1)).unwrap();
        }
        let context = Context {
            owner: root_run.then_some(APP),
            own: vec![scratch.own.clone()],
            sandbox: sandbox.pid(),
            umask: 0o027,
        };
        let documents = Documents::new().unwrap();
        let (ours, theirs) = seqpacket_pair().unwrap();
        let (channel, pid1) = seqpacket_pair().unwrap();
        let docs = File::open(&scratch.docs).unwrap();
        send(pid1.as_fd(), &[1], &[docs.as_raw_fd()]).unwrap();
        let thread = std::thread::spawn(move || {
            serve(theirs, channel, documents, Vec::new(), &context);
        });
        let helper = DocumentsHelper {
            sock: ours,
            // Not a child: finish() stops waiting at once, and the test
            // joins the thread instead.
            pid: Pid::this(),
            finished: std::sync::atomic::AtomicBool::new(false),
        };
        (helper, thread)
    }

    fn listing(dir: &Path) -> Vec<String> {
        let mut names: Vec<_> = fs::read_dir(dir)
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    /// Waits for the host file `path` to hold `text`.
    fn written(path: &Path, text: &str) {
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(20) {
            if fs::read_to_string(path).is_ok_and(|t| t == text) {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        panic!(
            "{} never held {text:?}: {:?}",
            path.display(),
            fs::read_to_string(path)
        );
    }

    /// Runs `test` as root, then again as the unprivileged test user (a
    /// copy of this test binary, which the user can run); as a user, once.
    fn as_root_and_user(test: &str, scenario: fn(&str)) {
        scenario(test);
        if !nix::unistd::geteuid().is_root() {
            return;
        }
        let (uid, gid) = match testkit::test_user() {
            Ok(ids) => ids,
            Err(why) => return testkit::skip(test, &why),
        };
        // A copy the user can run (the build directory may be root's
        // alone), removed with the scratch.
        let copy = Scratch::new(&format!("exe-{}", testkit::next()));
        let exe = copy.root.join("wsbox-unit-tests");
        fs::copy(std::env::current_exe().unwrap(), &exe).unwrap();
        for path in [&copy.root, &exe] {
            fs::set_permissions(path, fs::Permissions::from_mode(0o755)).unwrap();
        }
        let run = || {
            Command::new(&exe)
                .args([
                    &format!("files::documents::tests::{test}"),
                    "--exact",
                    "--nocapture",
                    "--test-threads=1",
                ])
                .current_dir("/")
                .uid(uid)
                .gid(gid)
                .output()
        };
        // A process another test forks while the copy is being written
        // holds the copy open for writing until it execs: "text file busy"
        // until then.
        let out = testkit::poll(Duration::from_secs(10), || match run() {
            Err(e) if e.kind() == std::io::ErrorKind::ExecutableFileBusy => None,
            other => Some(other),
        })
        .expect("the copy of the test binary stayed busy")
        .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            out.status.success() && text.contains("1 passed"),
            "{test} as the test user:\n{text}"
        );
    }

    #[test]
    fn save_grants_create_replace_and_write_back_the_chosen_file() {
        as_root_and_user(
            "save_grants_create_replace_and_write_back_the_chosen_file",
            save_grants_scenario,
        );
    }

    /// A new file: an empty directory inside, the host file created at the
    /// first save (with the umask's mode, as the user) and replaced at the
    /// second; an existing one: nothing copied in, its mode kept; one
    /// never saved: nothing on the host; one saved and not closed: written
    /// back when taken away (by its host path) or at the end.
    fn save_grants_scenario(test: &str) {
        let s = Scratch::new("flow");
        let Some(sandbox) = Sandbox::start(test) else {
            return;
        };
        let (helper, thread) = helper(&s, &sandbox);
        let helper = std::sync::Arc::new(helper);
        let root_run = nix::unistd::geteuid().is_root();
        let save = |name: &str| {
            helper
                .save(&s.host.join(name), s.host_dir().as_fd(), OsStr::new(name))
                .unwrap()
        };
        // Granted through the event loop's job.
        let live = crate::files::live::Live::new(
            None,
            Some(helper.clone()),
            crate::files::Grants::default(),
        );
        let job = live.save_job(&s.host.join("new.txt"), s.host_dir(), "new.txt".into());
        let new = job().unwrap();
        assert_eq!(new, document_dir(1).join("new.txt"));
        let new_dir = s.docs.join("1");
        assert!(listing(&new_dir).is_empty(), "nothing is put inside");
        let meta = fs::metadata(&new_dir).unwrap();
        let app = if root_run {
            APP
        } else {
            (meta.uid(), meta.gid())
        };
        assert_eq!((meta.uid(), meta.gid()), app, "the directory is the app's");
        assert!(listing(&s.host).is_empty(), "nothing is made on the host");
        // Asked again: the same grant.
        assert_eq!(save("new.txt"), (new.clone(), 1));
        let job = live.save_job(Path::new("new.txt"), s.host_dir(), "new.txt".into());
        let relative = job().unwrap_err().to_string();
        assert!(relative.contains("not an absolute path"), "{relative}");
        // What g_file_replace does with a new name: O_CREAT | O_EXCL.
        let mut file = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(s.inside(&new))
            .unwrap();
        file.write_all(b"first\n").unwrap();
        drop(file);
        written(&s.host.join("new.txt"), "first\n");
        let meta = fs::metadata(s.host.join("new.txt")).unwrap();
        assert_eq!(meta.mode() & 0o777, 0o640, "0o666 & !umask");
        let user = (nix::unistd::geteuid(), nix::unistd::getegid());
        assert_eq!((meta.uid(), meta.gid()), (user.0.as_raw(), user.1.as_raw()));
        // The second save, a temporary file renamed onto the name.
        let temp = s.inside(&new).with_file_name(".goutputstream-X1");
        fs::write(&temp, "second\n").unwrap();
        fs::rename(&temp, s.inside(&new)).unwrap();
        written(&s.host.join("new.txt"), "second\n");
        assert_ne!(
            fs::metadata(s.host.join("new.txt")).unwrap().ino(),
            meta.ino()
        );
        // An existing file: nothing copied in, replaced with its mode.
        fs::write(s.host.join("old.txt"), "old\n").unwrap();
        fs::set_permissions(s.host.join("old.txt"), fs::Permissions::from_mode(0o600)).unwrap();
        let (old, _) = save("old.txt");
        assert!(listing(s.inside(&old).parent().unwrap()).is_empty());
        fs::write(s.inside(&old), "replaced\n").unwrap();
        written(&s.host.join("old.txt"), "replaced\n");
        let meta = fs::metadata(s.host.join("old.txt")).unwrap();
        assert_eq!(meta.mode() & 0o777, 0o600);
        // Never saved: taken away (by its path inside), nothing written.
        let (never, _) = save("never.txt");
        assert_eq!(helper.remove(&never).unwrap(), never);
        assert!(!s.inside(&never).parent().unwrap().exists());
        // Saved, not closed yet: taken away by its host path, and at the end.
        let (held, _) = save("held.txt");
        let (late, _) = save("late.txt");
        let mut held_file = File::create(s.inside(&held)).unwrap();
        held_file.write_all(b"held\n").unwrap();
        let mut late_file = File::create(s.inside(&late)).unwrap();
        late_file.write_all(b"late\n").unwrap();
        assert!(
            !s.host.join("held.txt").exists(),
            "written before the close"
        );
        assert_eq!(helper.remove(&s.host.join("held.txt")).unwrap(), held);
        assert_eq!(
            fs::read_to_string(s.host.join("held.txt")).unwrap(),
            "held\n"
        );
        assert!(
            !s.host.join("late.txt").exists(),
            "written before the close"
        );
        live.finish_documents();
        thread.join().unwrap();
        assert_eq!(
            fs::read_to_string(s.host.join("late.txt")).unwrap(),
            "late\n"
        );
        drop((held_file, late_file));
        assert_eq!(
            listing(&s.host),
            ["held.txt", "late.txt", "new.txt", "old.txt"],
            "nothing else on the host"
        );
    }

    #[test]
    fn the_umask_is_read_without_being_set() {
        // What a child of this process (same umask) says.
        let out = Command::new("sh").args(["-c", "umask"]).output().unwrap();
        let said = String::from_utf8_lossy(&out.stdout);
        let said = u32::from_str_radix(said.trim(), 8).unwrap();
        assert_eq!(own_umask(), Some(said));
    }

    #[test]
    fn save_grants_refuse_special_names_and_directories_not_passed_for_real() {
        as_root_and_user(
            "save_grants_refuse_special_names_and_directories_not_passed_for_real",
            refusals_scenario,
        );
    }

    /// What a save request is refused for: the name a symbolic link, a
    /// FIFO or a directory, or not one plain name; the directory passed
    /// O_PATH, wsbox's own, or one of the sandbox's; no directory at all.
    /// Nothing is made inside for a refused request, nothing written.
    fn refusals_scenario(test: &str) {
        let s = Scratch::new("refused");
        let Some(sandbox) = Sandbox::start(test) else {
            return;
        };
        let (helper, thread) = helper(&s, &sandbox);
        fs::write(s.host.join("secret"), "secret\n").unwrap();
        std::os::unix::fs::symlink(s.host.join("secret"), s.host.join("link.txt")).unwrap();
        nix::unistd::mkfifo(&s.host.join("fifo.txt"), nix::sys::stat::Mode::S_IRWXU).unwrap();
        fs::create_dir(s.host.join("sub.txt")).unwrap();
        let open = |path: &str, flags: libc::c_int| -> OwnedFd {
            let path = std::ffi::CString::new(path).unwrap();
            // SAFETY: a NUL-terminated path; the result is checked.
            let fd = unsafe { libc::open(path.as_ptr(), flags | libc::O_CLOEXEC) };
            assert!(fd >= 0, "{}", io::Error::last_os_error());
            // SAFETY: just opened, owned here.
            unsafe { std::os::fd::FromRawFd::from_raw_fd(fd) }
        };
        let host = s.host.to_str().unwrap();
        let own = open(s.own.to_str().unwrap(), libc::O_RDONLY | libc::O_DIRECTORY);
        let o_path = open(host, libc::O_PATH | libc::O_DIRECTORY);
        let sandbox_root = format!("/proc/{}/root", sandbox.pid());
        let theirs = open(&sandbox_root, libc::O_RDONLY | libc::O_DIRECTORY);
        let save = |name: &str, dir: BorrowedFd<'_>| {
            helper.save(&s.host.join(name), dir, OsStr::new(name))
        };
        let dir = s.host_dir();
        for (label, result, needle) in [
            (
                "symlink",
                save("link.txt", dir.as_fd()),
                "not a regular file",
            ),
            ("fifo", save("fifo.txt", dir.as_fd()), "not a regular file"),
            (
                "directory",
                save("sub.txt", dir.as_fd()),
                "not a regular file",
            ),
            ("slash", save("a/b", dir.as_fd()), "not a file name"),
            ("dot-dot", save("..", dir.as_fd()), "not a file name"),
            ("empty", save("", dir.as_fd()), "not a file name"),
            ("o-path", save("x.txt", o_path.as_fd()), "not passed opened"),
            ("own", save("x.txt", own.as_fd()), "belongs to wsbox itself"),
            (
                "sandbox",
                save("x.txt", theirs.as_fd()),
                "a file of the sandbox's",
            ),
            (
                "no-dir",
                helper.call(
                    &Request::Save {
                        shown: s.host.join("x.txt"),
                        name: "x.txt".into(),
                    },
                    &[],
                ),
                "without the directory",
            ),
        ] {
            let error = result.expect_err(label);
            assert!(error.contains(needle), "{label}: {error}");
        }
        assert!(
            listing(&s.docs).is_empty(),
            "a refused grant made a directory"
        );
        // The same names are fine as plain files (or missing).
        assert_eq!(save("x.txt", dir.as_fd()).unwrap().1, 1);
        helper.finish();
        thread.join().unwrap();
        assert_eq!(
            fs::read_to_string(s.host.join("secret")).unwrap(),
            "secret\n"
        );
        assert_eq!(
            listing(&s.host),
            ["fifo.txt", "link.txt", "secret", "sub.txt"]
        );
    }
}
