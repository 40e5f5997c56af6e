//! The control socket `$XDG_RUNTIME_DIR/wsbox/<name>/control`: one JSON
//! request per connection, one JSON line back (a screenshot's PNG bytes follow
//! their line). The server side runs in wsbox's event loop; the client side
//! backs `wsbox windows/screenshot/input/stop`.
//!
//! Only the host user can reach it (the directory is 0700), and it is never
//! bound into a sandbox.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use wsbox_compositor::State;
use wsbox_sandbox::fdpass;

use crate::files::live::{DocumentJob, Live};
use crate::portal::Portal;

/// A request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "cmd", rename_all = "lowercase")]
pub enum Request {
    Windows,
    /// Host focus, responsiveness and the counters of host input and
    /// clipboard decisions.
    Status,
    Screenshot,
    Input {
        action: InputAction,
    },
    Resize {
        width: i32,
        height: i32,
    },
    /// Ask the app's windows to close and stop the app after the grace
    /// period (the sandbox's own unless `grace`), or at once with `force`.
    Stop {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        grace: Option<f64>,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        force: bool,
    },
    /// Attach a host file or directory (absolute path) under /run/wsbox/files,
    /// or a read-write file as a document under /run/wsbox/docs.
    AddFile {
        path: PathBuf,
        rw: bool,
    },
    /// Take a granted file away (its inside path or its host path).
    RemoveFile {
        path: PathBuf,
    },
    /// Copy a regular file out of the sandbox into a host directory.
    Export {
        sandbox_path: PathBuf,
        host_dir: PathBuf,
        force: bool,
    },
    /// The portal's requests that wait for the user.
    Requests,
    /// The app's notifications.
    Notifications,
    /// The documents it printed.
    Prints,
    /// Answer one of them with host paths (passed open) or cancel it.
    Choose(crate::portal::Choice),
    /// Every file granted to the sandbox, by any route.
    Files,
}

/// What `wsbox input` sends: the command line's subcommands and the
/// control socket's JSON are this one type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, clap::Subcommand)]
#[serde(rename_all = "lowercase")]
pub enum InputAction {
    /// Type TEXT (any character the keymap can produce).
    Type {
        /// The text; a newline is Return.
        text: String,
    },
    /// Press a key combination, e.g. `ctrl+shift+t` or `Return`.
    Key {
        /// Modifiers (ctrl shift alt super altgr) and an xkb key name, joined by `+`.
        combo: String,
    },
    /// Move the pointer to X,Y (output coordinates).
    Move {
        /// Output x, in logical pixels.
        x: i32,
        /// Output y, in logical pixels.
        y: i32,
    },
    /// Show TEXT as an input method's composition (preedit) in the focused
    /// window's text input (zwp_text_input_v3); an empty TEXT clears it.
    Preedit {
        /// The composition, e.g. にほんご.
        text: String,
    },
    /// Commit TEXT into the focused window's text input as an input method
    /// does: any characters, e.g. 日本語, none of them typed on a keymap.
    Commit {
        /// The text.
        text: String,
    },
    /// Click at X,Y with BUTTON (left, right, middle; default left).
    Click {
        /// Output x, in logical pixels.
        x: i32,
        /// Output y, in logical pixels.
        y: i32,
        /// left, right or middle.
        #[arg(default_value = "left")]
        button: String,
    },
}

/// A response line.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Response {
    pub ok: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub windows: Option<Vec<wsbox_compositor::WindowInfo>>,
    /// Length of the PNG that follows the line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub png_bytes: Option<usize>,
    /// The path a file request made: inside for add/remove, on the host for export.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<wsbox_compositor::stats::Status>,
    /// The portal's waiting requests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requests: Option<Vec<crate::portal::request::Pending>>,
    /// What a choice granted, inside.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paths: Option<Vec<PathBuf>>,
    /// The files granted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub files: Option<Vec<crate::files::live::GrantInfo>>,
    /// The app's notifications.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notifications: Option<crate::portal::notify::Notices>,
    /// The documents it printed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prints: Option<Vec<crate::portal::print::Printed>>,
}

impl Response {
    fn error(message: impl ToString) -> Self {
        Self {
            ok: false,
            error: Some(message.to_string()),
            ..Self::default()
        }
    }

    fn ok() -> Self {
        Self {
            ok: true,
            ..Self::default()
        }
    }
}

/// Requests longer than this are refused.
const MAX_REQUEST: u64 = 64 * 1024;
/// Answers' lines longer than this are cut (and fail to parse).
const MAX_ANSWER: u64 = 16 * 1024 * 1024;

/// Binds the control socket in `dir`.
pub fn listen(dir: &Path) -> Result<UnixListener> {
    let path = dir.join("control");
    let listener = UnixListener::bind(&path)
        .with_context(|| format!("failed to create the control socket {}", path.display()))?;
    listener.set_nonblocking(true)?;
    Ok(listener)
}

/// What the event loop must do after a request.
#[derive(Debug, PartialEq)]
pub enum After {
    Continue,
    /// `wsbox stop`: the grace it gave, or none at all with `force`.
    Stop {
        grace: Option<f64>,
        force: bool,
    },
}

/// What a stop request asks for, its grace checked (the peer is the user,
/// but a number from a socket is still checked before it becomes a timer).
fn stop_request(grace: Option<f64>, force: bool) -> Result<After, String> {
    if let Some(secs) = grace {
        wsbox_policies::check_grace(secs).map_err(|e| format!("invalid grace: {e}"))?;
    }
    Ok(After::Stop { grace, force })
}

/// Serves every pending connection on `listener`.
pub fn accept_all(
    listener: &UnixListener,
    compositor: &mut State,
    files: &mut Live,
    portal: Option<&Portal>,
) -> After {
    let mut after = After::Continue;
    loop {
        match listener.accept() {
            Ok((stream, _)) => {
                if let stop @ After::Stop { .. } = serve(stream, compositor, files, portal) {
                    after = stop;
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return after,
            Err(e) => {
                tracing::warn!(%e, "control socket accept failed");
                return after;
            }
        }
    }
}

/// Answers every pending connection of a sandbox without a display: only
/// `stop` and the requests that need no compositor work there.
pub fn refuse_all(listener: &UnixListener, files: &mut Live, portal: Option<&Portal>) -> After {
    let mut after = After::Continue;
    while let Ok((stream, _)) = listener.accept() {
        let _ = stream.set_nonblocking(false);
        let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
        let (line, fds) = read_request(&stream).unwrap_or_default();
        let request = match serde_json::from_str::<Request>(line.trim()) {
            Ok(request) => request,
            Err(e) => {
                send(
                    &stream,
                    &Response::error(format!("invalid request: {e}")),
                    None,
                );
                continue;
            }
        };
        let Some((stream, request)) = serve_common(stream, request, fds, files, portal) else {
            continue;
        };
        let response = match request {
            Request::Stop { grace, force } => match stop_request(grace, force) {
                Ok(stop) => {
                    after = stop;
                    Response::ok()
                }
                Err(e) => Response::error(e),
            },
            _ => Response::error("this sandbox has no display (--display none)"),
        };
        send(&stream, &response, None);
    }
    after
}

fn serve(
    stream: UnixStream,
    compositor: &mut State,
    files: &mut Live,
    portal: Option<&Portal>,
) -> After {
    // The peer is the host user; still, a stuck peer must not stall the
    // compositor for long.
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
    let _ = stream.set_write_timeout(Some(Duration::from_secs(2)));
    let read = match read_request(&stream) {
        Ok((line, fds)) => serde_json::from_str::<Request>(line.trim())
            .map(|request| (request, fds))
            .map_err(|e| format!("invalid request: {e}")),
        Err(e) => Err(format!("failed to read the request: {e}")),
    };
    let (request, fds) = match read {
        Ok(read) => read,
        Err(e) => {
            send(&stream, &Response::error(e), None);
            return After::Continue;
        }
    };
    let Some((stream, request)) = serve_common(stream, request, fds, files, portal) else {
        return After::Continue;
    };
    let (response, png, after) = handle(request, compositor);
    send(&stream, &response, png.as_deref());
    after
}

/// Answers the requests that need no compositor, the same with a display
/// or without: the file requests and the portal's. Those that may take
/// long are answered on a thread of their own, which has `stream`. Any
/// other request (the compositor's, and `stop`) is handed back with the
/// stream, to be answered by the caller.
fn serve_common(
    stream: UnixStream,
    request: Request,
    mut fds: Vec<OwnedFd>,
    files: &mut Live,
    portal: Option<&Portal>,
) -> Option<(UnixStream, Request)> {
    if let Some(job) = document_job(&request, files, &mut fds) {
        document_in_background(stream, job);
        return None;
    }
    let response = match request {
        Request::Export {
            sandbox_path,
            host_dir,
            force,
        } => {
            export_in_background(stream, files, sandbox_path, host_dir, first(fds), force);
            return None;
        }
        Request::Choose(choice) => {
            choose_in_background(stream, portal, files, choice, fds);
            return None;
        }
        Request::Files => {
            list_in_background(stream, files);
            return None;
        }
        Request::Requests => from_portal(portal, |portal| Response {
            requests: Some(portal.requests()),
            ..Response::ok()
        }),
        Request::Notifications => from_portal(portal, |portal| Response {
            notifications: Some(portal.notifications()),
            ..Response::ok()
        }),
        Request::Prints => from_portal(portal, |portal| Response {
            prints: Some(portal.prints()),
            ..Response::ok()
        }),
        request => match handle_files(request, files, fds) {
            Ok(response) => response,
            Err(request) => return Some((stream, request)),
        },
    };
    send(&stream, &response, None);
    None
}

/// The most fds a request may pass: add-file passes a read-write file and
/// its directory, a choice up to [`CHOICE_MAX`] of them.
const MAX_FDS: usize = 2 * CHOICE_MAX;
/// The most files one choice grants.
pub const CHOICE_MAX: usize = 16;

/// Reads one request line and the fds that may come with it (add-file and
/// export pass the host file or directory the command line opened; a
/// read-write file comes with its directory).
fn read_request(stream: &UnixStream) -> std::io::Result<(String, Vec<OwnedFd>)> {
    let mut data = Vec::new();
    let mut fds = Vec::new();
    loop {
        let mut buf = [0u8; 4096];
        let got = fdpass::recv(stream.as_fd(), &mut buf)?;
        // The first ones are kept, any others closed.
        for fd in got.fds {
            if fds.len() < MAX_FDS {
                fds.push(fd);
            }
        }
        let n = got.bytes;
        if n == 0 {
            break;
        }
        data.extend_from_slice(&buf[..n]);
        if data.contains(&b'\n') || data.len() as u64 >= MAX_REQUEST {
            break;
        }
    }
    data.truncate(MAX_REQUEST as usize);
    let line = data.split(|b| *b == b'\n').next().unwrap_or_default();
    Ok((String::from_utf8_lossy(line).into_owned(), fds))
}

fn first(fds: Vec<OwnedFd>) -> Option<OwnedFd> {
    fds.into_iter().next()
}

/// Answers add-file and remove-file; hands every other request back.
fn handle_files(
    request: Request,
    files: &mut Live,
    fds: Vec<OwnedFd>,
) -> Result<Response, Request> {
    let result = match request {
        Request::AddFile { path, rw } => files.add(&path, rw, fds),
        Request::RemoveFile { path } => files.remove(&path),
        other => return Err(other),
    };
    Ok(path_response(result))
}

fn path_response(result: Result<PathBuf>) -> Response {
    match result {
        Ok(path) => Response {
            ok: true,
            path: Some(path),
            ..Response::default()
        },
        Err(e) => Response::error(format!("{e:#}").replace('\n', " ")),
    }
}

/// Writes `response` as one JSON line (then `png`, when a screenshot
/// follows it).
fn send(mut writer: impl Write, response: &Response, png: Option<&[u8]>) {
    let mut text = serde_json::to_string(response).unwrap_or_else(|_| r#"{"ok":false}"#.into());
    text.push('\n');
    let _ = writer.write_all(text.as_bytes());
    if let Some(png) = png {
        let _ = writer.write_all(png);
    }
}

/// Runs `work` on a thread named `name` and answers `stream` from there:
/// work that may take long (a copy, a write-back) holds up neither the
/// display nor the other requests (`stop` too).
fn answer_in_background(
    stream: UnixStream,
    name: &str,
    work: impl FnOnce() -> Response + Send + 'static,
) {
    let spawned = std::thread::Builder::new()
        .name(name.into())
        .spawn(move || {
            let response = work();
            let _ = stream.set_write_timeout(Some(Duration::from_secs(2)));
            send(&stream, &response, None);
        });
    if let Err(e) = spawned {
        tracing::warn!(%e, name, "failed to start a thread to answer a request");
    }
}

/// Copies a file out on a thread of its own and answers from there: a large
/// copy does not hold up the display or the other requests (`stop` too).
fn export_in_background(
    stream: UnixStream,
    files: &Live,
    sandbox_path: PathBuf,
    host_dir: PathBuf,
    dir: Option<OwnedFd>,
    force: bool,
) {
    let exporter = files.exporter();
    answer_in_background(stream, "wsbox-export", move || {
        path_response(exporter.export(&sandbox_path, &host_dir, dir, force))
    });
}

/// The work of an add-file or remove-file of a document, taken out of
/// `fds`: answered off the event loop, since the documents helper may be
/// writing a large document back, and the display, `stop` and signals must
/// not wait for it.
fn document_job(request: &Request, files: &Live, fds: &mut Vec<OwnedFd>) -> Option<DocumentJob> {
    match request {
        Request::AddFile { path, rw } => files.document_job(path, Some(*rw), fds),
        Request::RemoveFile { path } => files.document_job(path, None, fds),
        _ => None,
    }
}

/// What `answer` makes of the portal, or the error of a sandbox without
/// one.
fn from_portal(portal: Option<&Portal>, answer: impl FnOnce(&Portal) -> Response) -> Response {
    match portal {
        Some(portal) => answer(portal),
        None => Response::error(NO_PORTAL),
    }
}

const NO_PORTAL: &str = "this sandbox has no portal (--no-portal, or [portal] enabled = false)";

/// Answers a portal request with the user's choice: the grants that take
/// long (documents) run on a thread of their own, which answers the
/// command line when the app has its answer.
fn choose_in_background(
    stream: UnixStream,
    portal: Option<&Portal>,
    files: &mut Live,
    choice: crate::portal::Choice,
    fds: Vec<OwnedFd>,
) {
    let job = match portal {
        Some(portal) => portal.choose(files, choice, fds),
        None => Err(anyhow::anyhow!(NO_PORTAL)),
    };
    answer_in_background(stream, "wsbox-choose", move || {
        match job.and_then(|job| job()) {
            Ok(paths) => Response {
                ok: true,
                paths: Some(paths),
                ..Response::default()
            },
            Err(e) => Response::error(format!("{e:#}").replace('\n', " ")),
        }
    });
}

/// Lists the sandbox's grants on a thread of its own.
fn list_in_background(stream: UnixStream, files: &Live) {
    let job = files.list_job();
    answer_in_background(stream, "wsbox-files", move || match job() {
        Ok(list) => Response {
            ok: true,
            files: Some(list),
            ..Response::default()
        },
        Err(e) => Response::error(format!("{e:#}").replace('\n', " ")),
    });
}

/// Runs `job` on a thread of its own and answers from there.
fn document_in_background(stream: UnixStream, job: DocumentJob) {
    answer_in_background(stream, "wsbox-document", move || path_response(job()));
}

fn handle(request: Request, compositor: &mut State) -> (Response, Option<Vec<u8>>, After) {
    match request {
        Request::Windows => (
            Response {
                ok: true,
                windows: Some(compositor.windows()),
                ..Response::default()
            },
            None,
            After::Continue,
        ),
        Request::Status => (
            Response {
                ok: true,
                status: Some(compositor.status()),
                ..Response::default()
            },
            None,
            After::Continue,
        ),
        Request::Screenshot => match compositor.screenshot_png() {
            Ok(png) => (
                Response {
                    ok: true,
                    png_bytes: Some(png.len()),
                    ..Response::default()
                },
                Some(png),
                After::Continue,
            ),
            Err(e) => (Response::error(e), None, After::Continue),
        },
        Request::Input { action } => {
            let result = match action {
                InputAction::Type { text } => {
                    compositor.type_text(&text).map_err(|e| e.to_string())
                }
                InputAction::Key { combo } => {
                    compositor.key_combo(&combo).map_err(|e| e.to_string())
                }
                InputAction::Move { x, y } => {
                    compositor.pointer_move(x, y).map_err(|e| e.to_string())
                }
                InputAction::Click { x, y, button } => {
                    wsbox_compositor::input::button_code(&button)
                        .and_then(|b| compositor.click(x, y, b))
                        .map_err(|e| e.to_string())
                }
                InputAction::Preedit { text } => {
                    compositor.ime_preedit(&text).map_err(|e| e.to_string())
                }
                InputAction::Commit { text } => {
                    compositor.ime_commit(&text).map_err(|e| e.to_string())
                }
            };
            let response = match result {
                Ok(()) => Response::ok(),
                Err(e) => Response::error(e),
            };
            (response, None, After::Continue)
        }
        Request::Resize { width, height } => match compositor.resize_output(width, height) {
            Ok(()) => (Response::ok(), None, After::Continue),
            Err(e) => (Response::error(e), None, After::Continue),
        },
        Request::Stop { grace, force } => match stop_request(grace, force) {
            Ok(stop) => (Response::ok(), None, stop),
            Err(e) => (Response::error(e), None, After::Continue),
        },
        Request::AddFile { .. }
        | Request::RemoveFile { .. }
        | Request::Export { .. }
        | Request::Requests
        | Request::Notifications
        | Request::Prints
        | Request::Files
        | Request::Choose(_) => (
            Response::error("file and portal requests are answered by serve_common"),
            None,
            After::Continue,
        ),
    }
}

/// How long `request` may take by default: 10 s to connect and for the
/// answer, an hour for an export (it copies up to 4 GiB before it answers).
pub fn default_wait(request: &Request) -> Duration {
    match request {
        Request::Export { .. } => Duration::from_secs(3600),
        _ => Duration::from_secs(10),
    }
}

/// Sends `request` to the sandbox `name`, whose runtime directory is
/// `dir`, and returns the response and any PNG that follows it, passing
/// `fds` with the request (SCM_RIGHTS): the host file or directory of
/// add-file and export, opened by the command line, and a read-write
/// file's directory. Waits at most `wait` to connect and for the answer.
pub fn call_within(
    name: &str,
    dir: &Path,
    request: &Request,
    fds: &[BorrowedFd<'_>],
    wait: Duration,
) -> Result<(Response, Option<Vec<u8>>)> {
    let path = dir.join("control");
    let mut stream = match connect(&path, wait) {
        Ok(stream) => stream,
        // The sandbox ended since its directory was found.
        Err(_) if !crate::instance::is_alive(dir) => {
            bail!("no running sandbox named {name} (see wsbox ps)")
        }
        Err(e) => {
            return Err(e).with_context(|| format!("failed to connect to {}", path.display()))
        }
    };
    stream.set_read_timeout(Some(wait))?;
    let mut line = serde_json::to_string(request)?;
    line.push('\n');
    let mut sent = 0;
    if !fds.is_empty() {
        let raw: Vec<_> = fds.iter().map(AsRawFd::as_raw_fd).collect();
        sent = fdpass::send(stream.as_fd(), line.as_bytes(), &raw)
            .with_context(|| format!("failed to send the request to sandbox {name}"))?;
    }
    stream.write_all(&line.as_bytes()[sent..])?;
    let mut reader = BufReader::new(stream);
    let mut reply = String::new();
    // The answer's line is bounded: a sandbox's windows are the app's.
    (&mut reader)
        .take(MAX_ANSWER)
        .read_line(&mut reply)
        .with_context(|| format!("no answer from sandbox {name}"))?;
    if reply.is_empty() {
        bail!("sandbox {name} stopped before it answered");
    }
    let response: Response = serde_json::from_str(reply.trim())
        .with_context(|| format!("invalid answer from sandbox {name}: {reply:?}"))?;
    if !response.ok {
        bail!(
            "{}",
            response
                .error
                .clone()
                .unwrap_or_else(|| "request failed".into())
        );
    }
    let png = match response.png_bytes {
        Some(n) => {
            let mut png = vec![0u8; n];
            reader
                .read_exact(&mut png)
                .with_context(|| format!("screenshot from sandbox {name} cut short"))?;
            Some(png)
        }
        None => None,
    };
    Ok((response, png))
}

/// Connects to the socket at `path`, waiting at most `wait` when its
/// queue is full (a wsbox that is stopped or busy).
fn connect(path: &Path, wait: Duration) -> std::io::Result<UnixStream> {
    use nix::sys::socket::{self, sockopt, AddressFamily, SockFlag, SockType, UnixAddr};
    let fd = socket::socket(
        AddressFamily::Unix,
        SockType::Stream,
        SockFlag::SOCK_CLOEXEC,
        None,
    )?;
    let timeout = nix::sys::time::TimeVal::new(
        wait.as_secs().try_into().unwrap_or(i64::MAX),
        wait.subsec_micros().into(),
    );
    socket::setsockopt(&fd, sockopt::SendTimeout, &timeout)?;
    socket::connect(fd.as_raw_fd(), &UnixAddr::new(path)?)?;
    Ok(UnixStream::from(fd))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_have_a_stable_wire_form() {
        let json = serde_json::to_string(&Request::Input {
            action: InputAction::Click {
                x: 1,
                y: 2,
                button: "left".into(),
            },
        })
        .unwrap();
        assert_eq!(
            json,
            r#"{"cmd":"input","action":{"click":{"x":1,"y":2,"button":"left"}}}"#
        );
        assert_eq!(
            serde_json::from_str::<Request>(r#"{"cmd":"stop"}"#).unwrap(),
            Request::Stop {
                grace: None,
                force: false
            }
        );
        assert_eq!(
            serde_json::to_string(&Request::Stop {
                grace: Some(1.5),
                force: false
            })
            .unwrap(),
            r#"{"cmd":"stop","grace":1.5}"#
        );
        assert!(serde_json::from_str::<Request>(r#"{"cmd":"format-disk"}"#).is_err());
        assert_eq!(
            serde_json::to_string(&Request::AddFile {
                path: "/home/u/doc.pdf".into(),
                rw: false
            })
            .unwrap(),
            r#"{"cmd":"addfile","path":"/home/u/doc.pdf","rw":false}"#
        );
        assert_eq!(
            serde_json::from_str::<Request>(
                r#"{"cmd":"export","sandbox_path":"/tmp/a","host_dir":"/srv","force":true}"#
            )
            .unwrap(),
            Request::Export {
                sandbox_path: "/tmp/a".into(),
                host_dir: "/srv".into(),
                force: true
            }
        );
        assert!(serde_json::from_str::<Request>(r#"{"cmd":"removefile"}"#).is_err());
    }
}
