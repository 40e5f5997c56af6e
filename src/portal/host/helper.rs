//! The host chooser's process: it asks the host's FileChooser for each
//! request wsbox forwards, on a thread of its own per request (at most
//! [`IN_FLIGHT_MAX`]), and answers wsbox with what the user chose there,
//! opened, or why not. What wsbox and the helper say to each other is
//! here too ([`Ask`], [`Answer`]).

use std::collections::HashMap;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use zbus::zvariant::{OwnedObjectPath, Value};

use super::link::{
    lock, read_settings, Failure, HostBus, Wake, DESKTOP, DESKTOP_PATH, FILE_CHOOSER, REQUEST,
    URIS_MAX,
};
use crate::helper::{recv, send};
use crate::portal::request::{Filter, Kind, Pending};
use crate::portal::server::request_path;
use crate::portal::settings::Setting;

/// How long the helper closes the host's dialogs when wsbox ends.
pub const END_WAIT: Duration = Duration::from_secs(2);
/// The most host requests the helper has going at once; wsbox's registry
/// holds at most 4 requests, closed ones may linger a little.
const IN_FLIGHT_MAX: usize = 8;
/// The most fds of one answer: a read-write file comes with its
/// directory.
pub const FDS_MAX: usize = 2 * URIS_MAX;
/// The longest answer: wsbox reads at most 64 KiB (`crate::helper`).
const ANSWER_MAX: usize = 60 * 1024;

/// What wsbox asks the helper.
#[derive(Debug, Serialize, Deserialize)]
pub enum Ask {
    /// Show the host's dialog for request `id`, over `parent`.
    Open {
        id: u32,
        pending: Box<Pending>,
        parent: String,
    },
    /// The app closed request `id`: close the host's dialog.
    Close { id: u32 },
}

/// What the helper tells wsbox.
#[derive(Debug, Serialize, Deserialize)]
pub enum Answer {
    /// The host's settings, once, at start.
    Settings(Result<Vec<(String, String, Setting)>, String>),
    /// The user chose `paths` (opened: the fds come with the message); one
    /// directory with `dir`.
    Chosen {
        id: u32,
        paths: Vec<PathBuf>,
        dir: bool,
    },
    /// The user cancelled the host's dialog.
    Cancelled { id: u32 },
    /// No dialog, or no usable answer; `no_portal` when the host has no
    /// file chooser portal at all (no session bus, no portal on it).
    Failed {
        id: u32,
        why: String,
        no_portal: bool,
    },
}

/// The helper: the host's settings first, then wsbox's requests until
/// wsbox ends.
pub fn serve(sock: OwnedFd, name: &str) {
    let sock = Arc::new(sock);
    let bus = Arc::new(HostBus::new());
    let settings = read_settings(&bus);
    tell(sock.as_fd(), &Answer::Settings(settings), &[]);
    let mut running: HashMap<u32, (mpsc::Sender<Wake>, JoinHandle<()>)> = HashMap::new();
    let mut counter = 0u64;
    loop {
        let (bytes, _) = match recv(sock.as_fd(), 0) {
            Ok(got) => got,
            // Too long: wsbox keeps its requests short (fit); skip it.
            Err(e) if e.kind() == io::ErrorKind::InvalidData => continue,
            Err(_) => break,
        };
        if bytes.is_empty() {
            break;
        }
        let Ok(ask) = serde_json::from_slice::<Ask>(&bytes) else {
            continue;
        };
        running.retain(|_, (_, thread)| !thread.is_finished());
        match ask {
            Ask::Open {
                id,
                pending,
                parent,
            } => {
                if running.len() >= IN_FLIGHT_MAX || running.contains_key(&id) {
                    let why = "too many host dialogs at once".to_owned();
                    let failed = Answer::Failed {
                        id,
                        why,
                        no_portal: false,
                    };
                    tell(sock.as_fd(), &failed, &[]);
                    continue;
                }
                counter += 1;
                let (tx, rx) = mpsc::channel();
                let request = Request {
                    id,
                    title: marked_title(name, &pending.title),
                    pending: *pending,
                    parent,
                    token: format!("wsbox{counter}"),
                    route: tx.clone(),
                };
                let (bus, to_wsbox) = (bus.clone(), sock.clone());
                let spawned = std::thread::Builder::new()
                    .name("host-request".into())
                    .spawn(move || {
                        if let Some((answer, fds)) = request.run(&bus, &rx) {
                            let raw: Vec<RawFd> = fds.iter().map(AsRawFd::as_raw_fd).collect();
                            tell(to_wsbox.as_fd(), &answer, &raw);
                        }
                    });
                match spawned {
                    Ok(thread) => {
                        running.insert(id, (tx, thread));
                    }
                    Err(e) => {
                        let failed = Answer::Failed {
                            id,
                            why: format!("failed to start a thread: {e}"),
                            no_portal: false,
                        };
                        tell(sock.as_fd(), &failed, &[]);
                    }
                }
            }
            // Kept until its thread ends: a request closing on a slow
            // host still counts.
            Ask::Close { id } => {
                if let Some((tx, _)) = running.get(&id) {
                    let _ = tx.send(Wake::Close);
                }
            }
        }
    }
    // wsbox has ended: the host's dialogs go too.
    let started = std::time::Instant::now();
    for (tx, _) in running.values() {
        let _ = tx.send(Wake::Close);
    }
    for (_, (_, thread)) in running {
        while !thread.is_finished() && started.elapsed() < END_WAIT {
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

/// `[wsbox:NAME] TITLE`: the host's dialog says which sandbox asks.
fn marked_title(name: &str, title: &str) -> String {
    let title = title.trim();
    if title.is_empty() {
        format!("[wsbox:{name}]")
    } else {
        format!("[wsbox:{name}] {title}")
    }
}

/// Sends `answer` (and `fds`) to wsbox; wsbox gone is the helper's end,
/// which its main loop sees.
fn tell(sock: BorrowedFd<'_>, answer: &Answer, fds: &[RawFd]) {
    let Ok(mut bytes) = serde_json::to_vec(answer) else {
        return;
    };
    let mut fds = fds;
    if bytes.len() > ANSWER_MAX {
        // Only a choice of many long paths gets here.
        let id = match answer {
            Answer::Chosen { id, .. } => *id,
            _ => return,
        };
        let failed = Answer::Failed {
            id,
            why: "the paths chosen are too long to pass on".into(),
            no_portal: false,
        };
        let Ok(short) = serde_json::to_vec(&failed) else {
            return;
        };
        bytes = short;
        fds = &[];
    }
    let _ = send(sock, &bytes, fds);
}

/// One request on the host.
struct Request {
    id: u32,
    pending: Pending,
    parent: String,
    title: String,
    token: String,
    /// Where the bus routes the host's Response (the channel `run` waits
    /// on, which wsbox's Close comes through too).
    route: mpsc::Sender<Wake>,
}

impl Request {
    /// Asks the host, waits for the user, opens what was chosen; the
    /// answer for wsbox, or None when the request was closed.
    fn run(self, bus: &HostBus, wake: &mpsc::Receiver<Wake>) -> Option<(Answer, Vec<OwnedFd>)> {
        let id = self.id;
        let failed = |f: Failure| {
            Some((
                Answer::Failed {
                    id,
                    why: f.why,
                    no_portal: f.no_portal,
                },
                Vec::new(),
            ))
        };
        let link = match bus.link() {
            Ok(link) => link,
            Err(f) => return failed(f),
        };
        let unique = link
            .conn
            .unique_name()
            .map(|n| n.to_string())
            .unwrap_or_default();
        let mut path = request_path(&unique, &self.token);
        lock(&link.routes).insert(path.clone(), self.route.clone());
        let forget = |path: &str| {
            lock(&link.routes).remove(path);
        };
        let method = match self.pending.kind {
            Kind::Open => "OpenFile",
            Kind::Save => "SaveFile",
            Kind::SaveFiles => "SaveFiles",
        };
        let options = options(&self.pending, &self.token);
        let reply = link.conn.call_method(
            Some(DESKTOP),
            DESKTOP_PATH,
            Some(FILE_CHOOSER),
            method,
            &(self.parent.as_str(), self.title.as_str(), options),
        );
        let reply = match reply {
            Ok(reply) => reply,
            Err(e) => {
                forget(&path);
                return failed(Failure::call(&e));
            }
        };
        let portal = reply.header().sender().map(|s| s.to_string());
        match reply.body().deserialize::<OwnedObjectPath>() {
            Ok(handle) if handle.as_str() != path => {
                // An older portal's own path: wait there instead.
                let mut routes = lock(&link.routes);
                if let Some(route) = routes.remove(&path) {
                    routes.insert(handle.to_string(), route);
                }
                path = handle.to_string();
            }
            Ok(_) => {}
            Err(e) => {
                forget(&path);
                return failed(Failure::other(format!("the host's portal answered {e}")));
            }
        }
        loop {
            // Either the app closes (through wsbox) or the host answers.
            let woke = wake.recv().unwrap_or(Wake::Close);
            match woke {
                Wake::Response { sender, code, uris } => {
                    if portal.as_deref() != Some(sender.as_str()) {
                        continue;
                    }
                    forget(&path);
                    return Some(match code {
                        0 => match self.open(&uris) {
                            Ok(chosen) => chosen,
                            Err(why) => (
                                Answer::Failed {
                                    id,
                                    why,
                                    no_portal: false,
                                },
                                Vec::new(),
                            ),
                        },
                        1 => (Answer::Cancelled { id }, Vec::new()),
                        code => (
                            Answer::Failed {
                                id,
                                why: format!("the host's file chooser failed (response {code})"),
                                no_portal: false,
                            },
                            Vec::new(),
                        ),
                    });
                }
                Wake::Close => {
                    forget(&path);
                    let _ = link.conn.call_method(
                        portal.as_deref(),
                        path.as_str(),
                        Some(REQUEST),
                        "Close",
                        &(),
                    );
                    return None;
                }
                Wake::Gone { owner } => {
                    if portal.as_deref() == Some(owner.as_str()) {
                        forget(&path);
                        return failed(Failure::other("the host's portal went away"));
                    }
                }
                Wake::Lost => {
                    return failed(Failure::other("the host's session bus went away"));
                }
            }
        }
    }

    /// Opens the host paths of `uris` as `wsbox choose` does.
    fn open(&self, uris: &[String]) -> Result<(Answer, Vec<OwnedFd>), String> {
        if uris.is_empty() {
            return Err("the host's file chooser returned nothing".into());
        }
        if uris.len() > URIS_MAX {
            return Err(format!("the user chose more than {URIS_MAX} files"));
        }
        let paths = uris
            .iter()
            .map(|uri| {
                crate::files::parse_file_uri(uri.as_bytes()).ok_or_else(|| {
                    format!("the host's file chooser returned {uri:?}, not a local file")
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let opened = |e: anyhow::Error| format!("{e:#}");
        let id = self.id;
        let pending = &self.pending;
        let mut fds = Vec::new();
        let (paths, dir) = match pending.kind {
            Kind::Save => {
                for path in &paths {
                    fds.push(crate::files::open_for_save(path).map_err(opened)?);
                }
                (paths, false)
            }
            Kind::SaveFiles => {
                // The files in the folder chosen: the folder is granted.
                let folder = common_parent(&paths)?;
                fds.extend(crate::files::open_for_add(&folder, false).map_err(opened)?);
                (vec![folder], true)
            }
            Kind::Open => {
                for path in &paths {
                    let got = crate::files::open_for_add(path, pending.writable).map_err(opened)?;
                    fds.extend(got);
                }
                (paths, pending.directory)
            }
        };
        Ok((Answer::Chosen { id, paths, dir }, fds))
    }
}

/// The one folder all of `paths` are in.
fn common_parent(paths: &[PathBuf]) -> Result<PathBuf, String> {
    let parents: Vec<&Path> = paths.iter().filter_map(|p| p.parent()).collect();
    match parents.first() {
        Some(first) if parents.len() == paths.len() && parents.iter().all(|p| p == first) => {
            Ok(first.to_path_buf())
        }
        _ => Err("the host's file chooser returned files in more than one folder".into()),
    }
}

/// The options of the host's call: what the app asked for that is safe
/// and meaningful on the host, never a path.
fn options(pending: &Pending, token: &str) -> HashMap<&'static str, Value<'static>> {
    let mut options: HashMap<&'static str, Value<'static>> = HashMap::new();
    options.insert("handle_token", Value::from(token.to_owned()));
    options.insert("modal", Value::from(pending.modal));
    if let Some(label) = &pending.accept_label {
        options.insert("accept_label", Value::from(label.clone()));
    }
    if pending.kind == Kind::Open {
        options.insert("multiple", Value::from(pending.multiple));
        options.insert("directory", Value::from(pending.directory));
    }
    if pending.kind != Kind::SaveFiles {
        if !pending.filters.is_empty() {
            let filters: Vec<_> = pending.filters.iter().map(filter).collect();
            options.insert("filters", Value::from(filters));
        }
        if let Some(current) = &pending.current_filter {
            options.insert("current_filter", Value::from(filter(current)));
        }
    }
    if pending.kind == Kind::Save {
        if let Some(name) = pending.current_name.as_ref().filter(|n| plain_name(n)) {
            options.insert("current_name", Value::from(name.clone()));
        }
    }
    if pending.kind == Kind::SaveFiles {
        // Names only (checked): the host shows them and returns them in
        // the folder the user chose.
        let files: Vec<Vec<u8>> = pending
            .files
            .iter()
            .filter(|n| plain_name(n))
            .map(|n| {
                let mut bytes = n.as_bytes().to_vec();
                bytes.push(0);
                bytes
            })
            .collect();
        options.insert("files", Value::from(files));
    }
    options
}

/// A file name without a directory in it.
fn plain_name(name: &str) -> bool {
    !name.is_empty() && name != "." && name != ".." && !name.contains('/')
}

/// One filter as the portal takes it: `(sa(us))`.
fn filter(f: &Filter) -> (String, Vec<(u32, String)>) {
    let rules = f
        .patterns
        .iter()
        .map(|p| (0u32, p.clone()))
        .chain(f.mime_types.iter().map(|m| (1u32, m.clone())))
        .collect();
    (f.name.clone(), rules)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pending(kind: Kind) -> Pending {
        Pending {
            id: 1,
            kind,
            title: "Open File".into(),
            multiple: true,
            directory: false,
            filters: vec![Filter {
                name: "Text".into(),
                patterns: vec!["*.txt".into()],
                mime_types: vec!["text/plain".into()],
            }],
            current_filter: None,
            current_name: Some("notes.txt".into()),
            current_folder: Some("/home/user/secret".into()),
            files: vec!["a.txt".into(), "../b".into()],
            accept_label: Some("_Open".into()),
            modal: true,
            writable: true,
        }
    }

    #[test]
    fn the_host_gets_no_path_of_the_app() {
        for kind in [Kind::Open, Kind::Save, Kind::SaveFiles] {
            let options = options(&pending(kind), "wsbox1");
            assert!(!options.contains_key("current_folder"));
            assert!(!options.contains_key("current_file"));
            assert_eq!(options["handle_token"], Value::from("wsbox1"));
            assert_eq!(options.contains_key("multiple"), kind == Kind::Open);
            assert_eq!(options.contains_key("current_name"), kind == Kind::Save);
            assert_eq!(options.contains_key("filters"), kind != Kind::SaveFiles);
        }
        let options = options(&pending(Kind::SaveFiles), "t");
        assert_eq!(options["files"], Value::from(vec![b"a.txt\0".to_vec()]));
        let mut p = pending(Kind::Save);
        p.current_name = Some("../../.bashrc".into());
        assert!(!options_of(&p).contains_key("current_name"));
    }

    fn options_of(p: &Pending) -> HashMap<&'static str, Value<'static>> {
        options(p, "t")
    }

    #[test]
    fn the_title_says_which_sandbox_asks() {
        assert_eq!(marked_title("web", "Open File"), "[wsbox:web] Open File");
        assert_eq!(marked_title("web", "  "), "[wsbox:web]");
    }

    #[test]
    fn save_files_grant_their_one_folder() {
        assert_eq!(
            common_parent(&["/h/d/a".into(), "/h/d/b".into()]).unwrap(),
            PathBuf::from("/h/d")
        );
        assert!(common_parent(&["/h/d/a".into(), "/h/e/b".into()]).is_err());
    }
}
