//! `org.freedesktop.portal.Print` on the sandbox's bus: GTK's print dialog
//! where `/.flatpak-info` is. The app never reaches CUPS; with the
//! policy's `portal.print_to` a printed document is written into that host
//! directory (`wsbox prints` lists them), which is how a headless sandbox
//! prints; in window mode the host's print dialog and portal are asked
//! (`super::hostprint`). Headless without `print_to`, printing is answered
//! "other".
//!
//! Headless, PreparePrint answers at once with the app's own settings and a
//! token; Print takes the document the app rendered (a regular file it
//! passes open, [`DOCUMENT_MAX`] at most), one at a time, a few in a burst
//! then one a second, and writes it under a name of wsbox's making, never
//! replacing a file.

use std::collections::HashMap;
use std::io::Write;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use zbus::interface;
use zbus::message::Header;
use zbus::zvariant::{OwnedObjectPath, OwnedValue, Value};

use super::hostprint;
use super::reply::{request_for, Code, PortalError, RateLimit, Responder, BURST};

/// The largest document written.
pub const DOCUMENT_MAX: u64 = 256 << 20;
/// The most documents one sandbox writes, and their bytes together.
const DOCUMENTS_MAX: usize = 100;
const BYTES_MAX: u64 = 1 << 30;
/// The longest part of a file name taken from the title, in bytes.
const STEM_MAX: usize = 64;

/// A document the app printed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Printed {
    /// Its number in this sandbox.
    pub id: u32,
    /// The job's title, as the app gave it (cut short).
    pub title: String,
    /// Where it was written on the host.
    pub file: PathBuf,
    /// Its size in bytes.
    pub bytes: u64,
}

/// Where printed documents go: the directory, opened before wsbox confined
/// itself (and granted to it for writing), and what was written there.
#[derive(Debug)]
pub struct Printer {
    dir: PathBuf,
    dir_fd: OwnedFd,
    printed: Mutex<Vec<Printed>>,
    limit: RateLimit,
    /// One document at a time.
    busy: Mutex<()>,
    next: AtomicU32,
}

impl Printer {
    /// Documents go into `dir`, open as `dir_fd`.
    pub fn new(dir: PathBuf, dir_fd: OwnedFd) -> Self {
        Self {
            dir,
            dir_fd,
            printed: Mutex::new(Vec::new()),
            limit: RateLimit::new(),
            busy: Mutex::new(()),
            next: AtomicU32::new(1),
        }
    }

    /// The directory.
    pub fn dir(&self) -> &std::path::Path {
        &self.dir
    }

    /// What was printed, oldest first.
    pub fn list(&self) -> Vec<Printed> {
        self.printed.lock().map(|p| p.clone()).unwrap_or_default()
    }

    /// Writes the document `file` (blocking: off the bus's executor).
    fn print(&self, title: &str, file: OwnedFd) -> Result<Printed, String> {
        if !self.limit.allow() {
            return Err(format!(
                "more than {BURST} documents at once, or more than one a second"
            ));
        }
        let Ok(_one) = self.busy.try_lock() else {
            return Err("another document is being printed".into());
        };
        let (count, written) = self
            .printed
            .lock()
            .map(|p| (p.len(), p.iter().map(|d| d.bytes).sum::<u64>()))
            .unwrap_or((DOCUMENTS_MAX, BYTES_MAX));
        if count >= DOCUMENTS_MAX {
            return Err(format!("{DOCUMENTS_MAX} documents printed already"));
        }
        let len = regular_file(&file)?;
        let file = std::fs::File::from(file);
        if written + len > BYTES_MAX {
            return Err(format!("{} MiB printed already", BYTES_MAX >> 20));
        }
        let mut head = [0u8; 8];
        let got = read_at(&file, &mut head, 0)?;
        let kind = if head[..got].starts_with(b"%PDF-") {
            "pdf"
        } else if head[..got].starts_with(b"%!") {
            "ps"
        } else {
            "bin"
        };
        let (id, out, path) = self.create(title, kind)?;
        // In pieces, at offsets (the app shares the file's position), up to
        // the length it had: a file that grows meanwhile is cut there.
        let result = copy(&file, len, out);
        let bytes = match result {
            Ok(bytes) => bytes,
            Err(e) => {
                let _ = std::fs::remove_file(&path);
                return Err(format!("failed to write {}: {e}", path.display()));
            }
        };
        let printed = Printed {
            id,
            title: title.chars().take(256).collect(),
            file: path,
            bytes,
        };
        if let Ok(mut list) = self.printed.lock() {
            list.push(printed.clone());
        }
        Ok(printed)
    }

    /// A new file `NNN-TITLE.KIND` in the directory: the next number that
    /// names no file there yet (an earlier run's are kept). That number
    /// is the document's id.
    fn create(&self, title: &str, kind: &str) -> Result<(u32, std::fs::File, PathBuf), String> {
        let mut stem = String::new();
        for c in title
            .chars()
            .filter(|c| c.is_alphanumeric() || matches!(c, ' ' | '.' | '_' | '-'))
        {
            if stem.len() + c.len_utf8() > STEM_MAX {
                break;
            }
            stem.push(c);
        }
        let stem = stem.trim().trim_start_matches('.').to_owned();
        let stem = if stem.is_empty() {
            "document".to_owned()
        } else {
            stem
        };
        for _ in 0..1000 {
            let id = self.next.fetch_add(1, Ordering::Relaxed);
            let name = format!("{id:03}-{stem}.{kind}");
            let c_name = std::ffi::CString::new(name.clone()).map_err(|e| e.to_string())?;
            // SAFETY: a valid directory fd and a NUL-terminated name
            // without a slash (filtered above); the new fd is owned below.
            let fd = unsafe {
                libc::openat(
                    self.dir_fd.as_raw_fd(),
                    c_name.as_ptr(),
                    libc::O_WRONLY
                        | libc::O_CREAT
                        | libc::O_EXCL
                        | libc::O_NOFOLLOW
                        | libc::O_CLOEXEC,
                    0o600,
                )
            };
            if fd >= 0 {
                // SAFETY: openat returned a new fd that nothing else owns.
                let owned = unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) };
                return Ok((id, std::fs::File::from(owned), self.dir.join(name)));
            }
            let err = std::io::Error::last_os_error();
            if err.kind() != std::io::ErrorKind::AlreadyExists {
                return Err(format!(
                    "failed to write {}: {err}",
                    self.dir.join(&name).display()
                ));
            }
        }
        Err(format!("no free name in {}", self.dir.display()))
    }
}

/// Reads at `offset` until `buf` is full or the file ends.
fn read_at(file: &std::fs::File, buf: &mut [u8], offset: u64) -> Result<usize, String> {
    let mut done = 0;
    while done < buf.len() {
        match file.read_at(&mut buf[done..], offset + done as u64) {
            Ok(0) => break,
            Ok(n) => done += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e.to_string()),
        }
    }
    Ok(done)
}

/// Copies at most `len` bytes of `from` into `to`, 1 MiB at a time; the
/// bytes copied.
fn copy(from: &std::fs::File, len: u64, mut to: std::fs::File) -> Result<u64, String> {
    let mut buf = vec![0u8; 1 << 20];
    let mut done = 0u64;
    while done < len {
        let want = usize::try_from(len - done)
            .unwrap_or(usize::MAX)
            .min(buf.len());
        let got = read_at(from, &mut buf[..want], done)?;
        if got == 0 {
            break;
        }
        to.write_all(&buf[..got]).map_err(|e| e.to_string())?;
        done += got as u64;
    }
    to.sync_all().map_err(|e| e.to_string())?;
    Ok(done)
}

/// The portal interface.
pub struct PrintPortal {
    /// None: no `portal.print_to`, or window mode.
    pub printer: Option<Arc<Printer>>,
    /// Window mode: the host's print dialog, through the helper.
    pub host: Option<Arc<super::opener::Opener>>,
    /// The host's tokens of prepared jobs, each printed once.
    pub issued: std::sync::Mutex<std::collections::HashSet<u32>>,
    pub next_token: AtomicU32,
    pub responder: Responder,
}

#[interface(name = "org.freedesktop.portal.Print")]
impl PrintPortal {
    #[allow(clippy::too_many_arguments)]
    async fn prepare_print(
        &self,
        #[zbus(header)] header: Header<'_>,
        _parent_window: String,
        title: String,
        settings: HashMap<String, OwnedValue>,
        page_setup: HashMap<String, OwnedValue>,
        options: HashMap<String, OwnedValue>,
    ) -> Result<OwnedObjectPath, PortalError> {
        let (sender, path) = request_for(&header, &options)?;
        if let Some(host) = self.host.clone() {
            let (title, settings, page_setup) = (
                title.chars().take(256).collect::<String>(),
                hostprint::plain(&settings),
                hostprint::plain(&page_setup),
            );
            let outcome =
                blocking::unblock(move || host.prepare_print(&title, settings, page_setup)).await;
            let (code, results) = match outcome {
                Ok(hostprint::Outcome {
                    code: 0,
                    prepared: Some(prepared),
                }) => {
                    if let Ok(mut issued) = self.issued.lock() {
                        if issued.len() < 64 {
                            issued.insert(prepared.token);
                        }
                    }
                    let mut results: HashMap<String, OwnedValue> = HashMap::new();
                    for (key, value) in [
                        (
                            "settings",
                            Value::from(hostprint::owned(&prepared.settings)),
                        ),
                        (
                            "page-setup",
                            Value::from(hostprint::owned(&prepared.page_setup)),
                        ),
                        ("token", Value::from(prepared.token)),
                    ] {
                        if let Ok(value) = OwnedValue::try_from(value) {
                            results.insert(key.to_owned(), value);
                        }
                    }
                    (Code::Success, results)
                }
                // Done, yet without what was chosen: nothing to print with.
                Ok(hostprint::Outcome { code: 0, .. }) => (Code::Other, HashMap::new()),
                Ok(outcome) => (Code::from(outcome.code), HashMap::new()),
                Err(why) => {
                    tracing::warn!("the host's print dialog failed: {why}");
                    (Code::Other, HashMap::new())
                }
            };
            return self.responder.answer(sender, path, code, results);
        }
        if self.printer.is_none() {
            tracing::warn!(
                "the app asked to print: the policy sets no portal.print_to, or portal.print = false"
            );
            return self
                .responder
                .answer(sender, path, Code::Other, HashMap::new());
        }
        // The app's own settings back: nothing of the host's printers.
        let token = self.next_token.fetch_add(1, Ordering::Relaxed);
        let mut results: HashMap<String, OwnedValue> = HashMap::new();
        for (key, value) in [
            (
                "settings",
                Value::from(hostprint::owned(&hostprint::plain(&settings))),
            ),
            (
                "page-setup",
                Value::from(with_paper(hostprint::owned(&hostprint::plain(&page_setup)))),
            ),
            ("token", Value::from(token)),
        ] {
            let value =
                OwnedValue::try_from(value).map_err(|e| PortalError::Failed(e.to_string()))?;
            results.insert(key.to_owned(), value);
        }
        self.responder.answer(sender, path, Code::Success, results)
    }

    async fn print(
        &self,
        #[zbus(header)] header: Header<'_>,
        _parent_window: String,
        title: String,
        fd: zbus::zvariant::OwnedFd,
        options: HashMap<String, OwnedValue>,
    ) -> Result<OwnedObjectPath, PortalError> {
        let (sender, path) = request_for(&header, &options)?;
        if let Some(host) = self.host.clone() {
            let token = match options.get("token").map(|v| &**v) {
                Some(Value::U32(t)) => *t,
                _ => 0,
            };
            let known = self
                .issued
                .lock()
                .map(|mut i| i.remove(&token))
                .unwrap_or(false);
            let fd: OwnedFd = fd.into();
            let title: String = title.chars().take(256).collect();
            let code = if !known {
                tracing::warn!("a document was not printed: no print dialog chose it");
                Code::Other
            } else {
                match blocking::unblock(move || {
                    regular_file(&fd).and_then(|_| host.print(&title, fd, token))
                })
                .await
                {
                    Ok(outcome) => Code::from(outcome.code),
                    Err(why) => {
                        tracing::warn!("a document was not printed: {why}");
                        Code::Other
                    }
                }
            };
            return self.responder.answer(sender, path, code, HashMap::new());
        }
        let Some(printer) = self.printer.clone() else {
            tracing::warn!(
                "the app asked to print: the policy sets no portal.print_to, or portal.print = false"
            );
            return self
                .responder
                .answer(sender, path, Code::Other, HashMap::new());
        };
        let fd: OwnedFd = fd.into();
        let title: String = title.chars().take(1024).collect();
        let code = match blocking::unblock(move || printer.print(&title, fd)).await {
            Ok(printed) => {
                tracing::info!(file = %printed.file.display(), "the app printed a document");
                Code::Success
            }
            Err(why) => {
                tracing::warn!("a document was not printed: {why}");
                Code::Other
            }
        };
        self.responder.answer(sender, path, code, HashMap::new())
    }

    #[zbus(property(emits_changed_signal = "const"), name = "version")]
    fn version(&self) -> u32 {
        1
    }
}

/// Checks that `fd` is a regular file of at most [`DOCUMENT_MAX`] bytes;
/// its length.
fn regular_file(fd: &OwnedFd) -> Result<u64, String> {
    let meta = std::fs::File::from(fd.try_clone().map_err(|e| e.to_string())?)
        .metadata()
        .map_err(|e| e.to_string())?;
    if !meta.is_file() {
        return Err("the document is not a regular file".into());
    }
    if meta.len() > DOCUMENT_MAX {
        return Err(format!(
            "the document is larger than {} MiB",
            DOCUMENT_MAX >> 20
        ));
    }
    Ok(meta.len())
}

/// The app's page setup, with a paper when it named none (GTK needs one:
/// without, it crashes reading the answer): A4, portrait, GTK's default
/// margins, in millimetres as GTK writes them.
fn with_paper(mut setup: HashMap<String, OwnedValue>) -> HashMap<String, OwnedValue> {
    let named = ["PPDName", "Name"].iter().any(|k| setup.contains_key(*k))
        || ["Width", "Height"].iter().all(|k| setup.contains_key(*k));
    if !named {
        let a4: [(&str, Value<'_>); 9] = [
            ("Name", Value::from("iso_a4")),
            ("DisplayName", Value::from("A4")),
            ("Width", Value::from(210.0f64)),
            ("Height", Value::from(297.0f64)),
            ("MarginTop", Value::from(6.35f64)),
            ("MarginBottom", Value::from(14.224f64)),
            ("MarginLeft", Value::from(6.35f64)),
            ("MarginRight", Value::from(6.35f64)),
            ("Orientation", Value::from("portrait")),
        ];
        for (key, value) in a4 {
            if let Ok(owned) = OwnedValue::try_from(value) {
                setup.insert(key.to_owned(), owned);
            }
        }
    }
    setup
}
