//! `wsbox session`: the D-Bus API of wsbox on the user's session bus, for
//! the desktop session that embeds it (a panel's menu of sandboxes, "add
//! this file to that sandbox" by drag and drop).
//!
//! It owns `org.wsbox.Manager1` and serves the interface of that name at
//! `/org/wsbox/Manager1`. Every method is one call of the library: a
//! sandbox is started as its own `wsbox run` process, and reached through
//! its control socket. The service keeps nothing a crash would lose: the
//! sandboxes go on without it, and the next instance finds them again.
//!
//! Its signals come from a watch of the user's sandboxes every
//! [`WATCH_EVERY`]: a sandbox that appears or ends, a change of its
//! windows, a file granted by any route (the portal, `wsbox add-file`,
//! AddFile).
//!
//! Who can call it: whoever can reach the user's session bus, that is the
//! user's own programs. Confined apps cannot; theirs is a private bus.

use std::collections::{BTreeMap, HashMap};
use std::os::fd::AsFd;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::{Context, Result};
use zbus::object_server::SignalEmitter;
use zbus::zvariant::{OwnedFd, OwnedValue};

use crate::{RunOptions, Sandbox};

/// The bus name, object path and interface.
pub const NAME: &str = "org.wsbox.Manager1";
pub const PATH: &str = "/org/wsbox/Manager1";
/// How often the sandboxes are looked at for the signals.
const WATCH_EVERY: Duration = Duration::from_millis(250);
/// How long the watch, and List, wait for one sandbox's answer.
const LOOK_WAIT: Duration = Duration::from_secs(1);
/// At most this many sandboxes start at once; more Runs are refused.
const STARTING_MAX: usize = 4;
/// What the watch keeps of a sandbox's windows: the first ones, their
/// titles and app ids cut short (the app sets them).
const WINDOWS_MAX: usize = 64;
const TEXT_MAX: usize = 256;

/// The Runs under way.
static STARTING: AtomicUsize = AtomicUsize::new(0);

/// Errors in the service's own names; a wrong argument type is refused by
/// the bus library before a method runs (org.freedesktop.DBus.Error.InvalidArgs).
#[derive(Debug, zbus::DBusError)]
#[zbus(prefix = "org.wsbox.Manager1.Error")]
enum Error {
    #[zbus(error)]
    ZBus(zbus::Error),
    /// No running sandbox has that name.
    NoSuchSandbox(String),
    /// An argument is not what the method takes.
    InvalidArgs(String),
    /// The request failed; the message says why.
    Failed(String),
}

fn failed(err: anyhow::Error) -> Error {
    Error::Failed(format!("{err:#}").replace('\n', " "))
}

/// The running sandbox `name`, or NoSuchSandbox.
fn sandbox(name: &str) -> Result<Sandbox, Error> {
    Sandbox::connect(name).map_err(|e| Error::NoSuchSandbox(format!("{e:#}")))
}

/// Runs `work` off the bus's executor: control calls and starts block.
async fn off_the_bus<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, Error> + Send + 'static,
) -> Result<T, Error> {
    blocking::unblock(work).await
}

/// One sandbox as List gives it: name, wsbox's pid, profile ("" for the
/// default policy), display, network, audio, and the host paths granted.
type Listed = (String, u32, String, String, String, String, Vec<String>);

struct Manager;

#[zbus::interface(name = "org.wsbox.Manager1")]
impl Manager {
    /// Starts `argv` confined with the built-in `profile` ("" for the
    /// default policy), and returns the sandbox's name once it answers.
    /// Options: `name` (s), `display` (s: window, headless, none),
    /// `output` (s: WxH), `net` (s).
    async fn run(
        &self,
        profile: String,
        argv: Vec<String>,
        options: HashMap<String, OwnedValue>,
    ) -> Result<String, Error> {
        if argv.is_empty() || argv[0].is_empty() {
            return Err(Error::InvalidArgs("argv names no program".into()));
        }
        // Files reach a sandbox passed open (AddFile), never named: an
        // argument that names a host file stays a string.
        let mut run = RunOptions::new(&argv)
            .file_args(false)
            .stdout(Stdio::null());
        if !profile.is_empty() {
            wsbox_policies::Policy::builtin(&profile)
                .map_err(|e| Error::InvalidArgs(e.to_string()))?;
            run = run.profile(&profile);
        }
        for (key, value) in &options {
            let text = || {
                <&str>::try_from(&**value)
                    .map(str::to_owned)
                    .map_err(|_| Error::InvalidArgs(format!("option {key:?} must be a string")))
            };
            run = match key.as_str() {
                "name" => {
                    let name = text()?;
                    crate::instance::validate_name(&name)
                        .map_err(|e| Error::InvalidArgs(e.to_string()))?;
                    run.name(&name)
                }
                "display" => run.display(&text()?),
                "output" => run.option(format!("--output={}", text()?)),
                "net" => run.option(format!("--net={}", text()?)),
                _ => {
                    return Err(Error::InvalidArgs(format!(
                        "unknown option {key:?} (known: name, display, output, net)"
                    )))
                }
            };
        }
        off_the_bus(move || start(run)).await
    }

    /// The user's running sandboxes.
    async fn list(&self) -> Result<Vec<Listed>, Error> {
        off_the_bus(|| {
            let running = Sandbox::all().map_err(failed)?;
            Ok(running
                .into_iter()
                .map(|(sandbox, info)| {
                    // A sandbox that ends meanwhile lists no files, and
                    // one that does not answer within LOOK_WAIT none
                    // either: a stalled wsbox holds up a List little.
                    let files = sandbox
                        .with_timeout(LOOK_WAIT)
                        .files()
                        .unwrap_or_default()
                        .into_iter()
                        .map(|f| f.host.to_string_lossy().into_owned())
                        .collect();
                    (
                        info.name,
                        info.pid,
                        info.profile.unwrap_or_default(),
                        info.display,
                        info.network,
                        // No sound reaches a sandbox yet.
                        "none".to_owned(),
                        files,
                    )
                })
                .collect())
        })
        .await
    }

    /// Grants the file `fd` is open on to the sandbox `name`, read-only or
    /// `writable` (then `fd` must be open for writing); returns where the
    /// app sees it. A path is never taken: the caller passes what it has
    /// open.
    async fn add_file(&self, name: String, fd: OwnedFd, writable: bool) -> Result<String, Error> {
        let fd: std::os::fd::OwnedFd = fd.into();
        off_the_bus(move || {
            let inside = sandbox(&name)?
                .add_open_file(fd.as_fd(), writable)
                .map_err(failed)?;
            Ok(inside.to_string_lossy().into_owned())
        })
        .await
    }

    /// Takes a granted file away (its inside or host path); returns the
    /// inside path it had.
    async fn remove_file(&self, name: String, path: String) -> Result<String, Error> {
        if !path.starts_with('/') {
            return Err(Error::InvalidArgs(format!(
                "{path:?} is not an absolute path"
            )));
        }
        off_the_bus(move || {
            let inside = sandbox(&name)?
                .remove_file(&PathBuf::from(path))
                .map_err(failed)?;
            Ok(inside.to_string_lossy().into_owned())
        })
        .await
    }

    /// Asks the sandbox's app to close its windows, and stops it after its
    /// grace period.
    async fn stop(&self, name: String) -> Result<(), Error> {
        off_the_bus(move || sandbox(&name)?.stop(None, false).map_err(failed)).await
    }

    /// A sandbox appeared: its name, wsbox's pid, its profile.
    #[zbus(signal)]
    async fn started(
        emitter: &SignalEmitter<'_>,
        name: &str,
        pid: u32,
        profile: &str,
    ) -> zbus::Result<()>;

    /// A sandbox ended.
    #[zbus(signal)]
    async fn stopped(emitter: &SignalEmitter<'_>, name: &str) -> zbus::Result<()>;

    /// A sandbox's windows changed: each window's title and app id, in
    /// stacking order.
    #[zbus(signal)]
    async fn windows_changed(
        emitter: &SignalEmitter<'_>,
        name: &str,
        windows: Vec<(String, String)>,
    ) -> zbus::Result<()>;

    /// A sandbox was granted a file: the host path, where the app sees it,
    /// and how (`read-only`, `read-write` or `document`).
    #[zbus(signal)]
    async fn file_granted(
        emitter: &SignalEmitter<'_>,
        name: &str,
        host: &str,
        inside: &str,
        access: &str,
    ) -> zbus::Result<()>;
}

/// Starts the sandbox. `wsbox run`'s messages, and the app's standard
/// error, go where the service's go (the session's log): never through
/// the service, which may end or restart while they run.
fn start(run: RunOptions) -> Result<String, Error> {
    if STARTING.fetch_add(1, Ordering::SeqCst) >= STARTING_MAX {
        STARTING.fetch_sub(1, Ordering::SeqCst);
        return Err(Error::Failed(format!(
            "{STARTING_MAX} sandboxes are starting already: try again"
        )));
    }
    let started = run.start();
    STARTING.fetch_sub(1, Ordering::SeqCst);
    match started {
        Ok(mut running) => {
            let name = running.sandbox().name().to_owned();
            // Reaps wsbox run when it ends; the sandbox does not depend
            // on this process.
            let _ = std::thread::Builder::new()
                .name("wsbox-session-reap".into())
                .spawn(move || running.wait());
            Ok(name)
        }
        Err(err) => Err(Error::Failed(format!(
            "{err:#} (its messages are in the session's log)"
        ))),
    }
}

fn cut(text: String) -> String {
    crate::util::cut_bytes(text, TEXT_MAX)
}

/// What the watch compares: per sandbox, its windows and its grants.
#[derive(Debug, Default, PartialEq)]
struct Seen {
    pid: u32,
    profile: String,
    windows: Vec<(String, String)>,
    files: Vec<(String, String, String)>,
}

fn look() -> BTreeMap<String, Seen> {
    // The listing found each sandbox's directory: its requests go there
    // without finding it again.
    let Ok(running) = Sandbox::all() else {
        return BTreeMap::new();
    };
    running
        .into_iter()
        .map(|(sandbox, info)| {
            // A sandbox that does not answer within a second is looked at
            // again next time: one stalled wsbox delays the others little.
            let sandbox = sandbox.with_timeout(LOOK_WAIT);
            let windows = sandbox
                .windows()
                .unwrap_or_default()
                .into_iter()
                .take(WINDOWS_MAX)
                .map(|w| (cut(w.title), cut(w.app_id)))
                .collect();
            let files = sandbox
                .files()
                .unwrap_or_default()
                .into_iter()
                .map(|f| {
                    (
                        f.host.to_string_lossy().into_owned(),
                        f.inside.to_string_lossy().into_owned(),
                        f.access,
                    )
                })
                .collect();
            let seen = Seen {
                pid: info.pid,
                profile: info.profile.unwrap_or_default(),
                windows,
                files,
            };
            (info.name, seen)
        })
        .collect()
}

/// Emits the signals that tell `before` from `now`.
fn signal(
    emitter: &SignalEmitter<'_>,
    before: &BTreeMap<String, Seen>,
    now: &BTreeMap<String, Seen>,
) {
    let empty = Seen::default();
    for (name, seen) in now {
        let old = match before.get(name) {
            Some(old) => old,
            None => {
                let _ = zbus::block_on(Manager::started(emitter, name, seen.pid, &seen.profile));
                &empty
            }
        };
        if seen.windows != old.windows {
            let _ = zbus::block_on(Manager::windows_changed(
                emitter,
                name,
                seen.windows.clone(),
            ));
        }
        for (host, inside, access) in &seen.files {
            if !old.files.iter().any(|(_, i, _)| i == inside) {
                let _ = zbus::block_on(Manager::file_granted(emitter, name, host, inside, access));
            }
        }
    }
    for name in before.keys().filter(|name| !now.contains_key(*name)) {
        let _ = zbus::block_on(Manager::stopped(emitter, name));
    }
}

/// Serves the API until the session bus goes away.
pub fn serve() -> Result<i32> {
    let conn = zbus::blocking::connection::Builder::session()
        .context("failed to connect to the session bus")?
        .serve_at(PATH, Manager)
        .context("failed to serve /org/wsbox/Manager1")?
        .build()
        .context("failed to connect to the session bus")?;
    let dbus = zbus::blocking::fdo::DBusProxy::new(&conn)
        .context("failed to reach the session bus's daemon")?;
    use zbus::fdo::{RequestNameFlags, RequestNameReply};
    let reply = dbus
        .request_name(
            NAME.try_into().context("invalid bus name")?,
            RequestNameFlags::DoNotQueue.into(),
        )
        .context("failed to own org.wsbox.Manager1")?;
    if !matches!(
        reply,
        RequestNameReply::PrimaryOwner | RequestNameReply::AlreadyOwner
    ) {
        anyhow::bail!("{NAME} is already owned on the session bus: another wsbox session runs");
    }
    let iface = conn
        .object_server()
        .interface::<_, Manager>(PATH)
        .context("failed to serve /org/wsbox/Manager1")?;
    let emitter = iface.signal_emitter();
    let mut before = look();
    loop {
        std::thread::sleep(WATCH_EVERY);
        // The daemon answers while the session lasts.
        if dbus.get_id().is_err() {
            return Ok(0);
        }
        let now = look();
        signal(emitter, &before, &now);
        before = now;
    }
}
