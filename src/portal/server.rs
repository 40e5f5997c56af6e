//! wsbox's side of the private bus: `org.freedesktop.portal.Desktop` at
//! `/org/freedesktop/portal/desktop`, with FileChooser (version 3),
//! Settings, NetworkMonitor, ProxyResolver, OpenURI (src/portal/openuri.rs)
//! Notification and Print (src/portal/print.rs); and
//! `org.freedesktop.Notifications` (src/portal/notify.rs). It runs on zbus's threads,
//! never on the event loop's: a method call only records a request and
//! tells the loop, and the answers leave from a thread of their own, so a
//! bus the app stalls (the daemon is the app's) stalls neither the display
//! nor wsbox's other work.
//!
//! Everything a call brings is the app's: options are read bounded
//! ([`super::request`]), requests are bounded ([`super::registry`]), and a
//! request is answered (`Response`) to its caller alone, from the
//! connection that owns the portal's name, as the desktop portal does.

use std::collections::HashMap;
use std::os::unix::net::UnixStream;
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use wsbox_compositor::reexports::calloop::channel::Sender;
use zbus::blocking::Connection;
use zbus::interface;
use zbus::message::Header;
use zbus::object_server::SignalEmitter;
use zbus::zvariant::{OwnedObjectPath, OwnedValue, Value};

use super::registry::{Entry, Refused, Registry};
use super::request::{self, Kind};
use super::settings::Settings;

use super::reply::PortalError;
pub use super::reply::{request_path, Code, PATH};
const REQUEST_IFACE: &str = "org.freedesktop.portal.Request";

/// How long wsbox waits for the bus to answer its first calls (the app
/// does not wait for them): the daemon starts in a few milliseconds.
const CONNECT_WAIT: Duration = Duration::from_secs(10);

/// What the event loop hears from the portal.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// A request waits for the user.
    Opened(u32),
    /// The app closed it (or left the bus) before it was answered.
    Closed(u32),
    /// wsbox could not serve the portal on the bus: the sandbox stops.
    Failed(String),
}

/// What the answering thread does.
#[derive(Debug)]
enum Outgoing {
    Respond {
        entry: Box<Entry>,
        code: Code,
        uris: Vec<String>,
    },
    /// The request object goes (closed, or its caller left).
    Unexport { path: String },
}

/// How the event loop answers requests: through the answering thread.
#[derive(Debug, Clone)]
pub struct Answers {
    tx: mpsc::Sender<Outgoing>,
}

impl Answers {
    /// Sends `code` and `uris` (the caller's grants) to the caller of
    /// `entry`, which was taken out of the registry.
    pub fn respond(&self, entry: Entry, code: Code, uris: Vec<String>) {
        let _ = self.tx.send(Outgoing::Respond {
            entry: Box::new(entry),
            code,
            uris,
        });
    }
}

/// What the interfaces share.
#[derive(Debug)]
pub struct Shared {
    pub registry: Registry,
    events: Mutex<Sender<Event>>,
    out: Mutex<mpsc::Sender<Outgoing>>,
    /// Whether an opened file becomes read-write.
    writable: bool,
}

impl Shared {
    fn tell(&self, event: Event) {
        let events = self.events.lock().unwrap_or_else(|e| e.into_inner());
        let _ = events.send(event);
    }

    fn unexport(&self, path: String) {
        let out = self.out.lock().unwrap_or_else(|e| e.into_inner());
        let _ = out.send(Outgoing::Unexport { path });
    }
}

/// What the portal does for the app on the host's desktop: links and
/// notifications.
#[derive(Debug)]
pub struct Desktop {
    opener: Option<Arc<super::opener::Opener>>,
    notifier: Arc<super::notify::Notifier>,
    printer: Option<Arc<super::print::Printer>>,
    /// Window mode: the host's print dialog, through the helper.
    print_host: Option<Arc<super::opener::Opener>>,
}

impl Desktop {
    /// Whether the portal asks anything of the host-calls helper: links,
    /// when the policy sends them somewhere (`links`); in window mode also
    /// notifications, when they go to the host (`notify_host`), and
    /// printing (`print`). Otherwise it is not forked.
    pub fn wants_opener(links: bool, notify_host: bool, print: bool, window: bool) -> bool {
        links || (window && (notify_host || print))
    }

    /// `opener` is the host-calls helper, if any: links go through it when
    /// the policy allows them (it was forked with their target), and
    /// notifications when `notify_host` and `window`. Without
    /// `notify_host` notifications are dropped, listed nowhere.
    /// `printer`: where printed documents go (`portal.print_to`).
    /// `host_print`: printing goes to the host's print dialog (window
    /// mode, `portal.print`).
    pub fn new(
        opener: Option<Arc<super::opener::Opener>>,
        notify_host: bool,
        host_print: bool,
        window: bool,
        printer: Option<Arc<super::print::Printer>>,
    ) -> Self {
        let host = opener.clone().filter(|_| notify_host && window);
        Self {
            print_host: opener.clone().filter(|_| host_print),
            opener,
            notifier: Arc::new(super::notify::Notifier::new(host, notify_host)),
            printer,
        }
    }
}

/// Network facts the NetworkMonitor and ProxyResolver portals give.
#[derive(Debug, Clone, PartialEq)]
pub struct NetInfo {
    /// The sandbox has a way out.
    pub available: bool,
    /// What every URI should go through (Tor's SOCKS port), else direct.
    pub proxy: Option<String>,
}

/// The running portal.
#[derive(Debug)]
pub struct Server {
    pub shared: Arc<Shared>,
    pub answers: Answers,
    /// The app's notifications.
    pub notifier: Arc<super::notify::Notifier>,
    /// Where its printed documents go.
    pub printer: Option<Arc<super::print::Printer>>,
}

struct FileChooser {
    shared: Arc<Shared>,
}

impl FileChooser {
    async fn ask(
        &self,
        kind: Kind,
        header: &Header<'_>,
        server: &zbus::ObjectServer,
        title: &str,
        options: &HashMap<String, OwnedValue>,
    ) -> Result<OwnedObjectPath, PortalError> {
        let (sender, mut path) = super::reply::request_for(header, options)?;
        let pending = request::parse(0, kind, title, options, self.shared.writable)
            .map_err(|e| PortalError::InvalidArgument(e.to_string()))?;
        let id = match self.shared.registry.add(&sender, &path, pending.clone()) {
            Ok(id) => id,
            Err(Refused::Taken) => {
                // As the desktop portal does with a token used twice.
                let mut bytes = [0u8; 4];
                crate::util::getrandom(&mut bytes)
                    .map_err(|e| PortalError::Failed(e.to_string()))?;
                let suffix = u32::from_ne_bytes(bytes);
                path = format!("{path}/{suffix}");
                self.shared
                    .registry
                    .add(&sender, &path, pending)
                    .map_err(|_| PortalError::Failed("too many requests".into()))?
            }
            Err(Refused::Full) => {
                return Err(PortalError::Failed(format!(
                    "too many requests wait for the user (at most {})",
                    super::registry::PENDING_MAX
                )))
            }
        };
        let object = RequestObject {
            shared: self.shared.clone(),
        };
        if let Err(e) = server.at(path.as_str(), object).await {
            let _ = self.shared.registry.take(id);
            return Err(PortalError::Failed(format!(
                "failed to make the request: {e}"
            )));
        }
        self.shared.tell(Event::Opened(id));
        OwnedObjectPath::try_from(path).map_err(|e| PortalError::Failed(e.to_string()))
    }

    fn close_request(&self, header: &Header<'_>, handle: &str) -> Result<(), PortalError> {
        close(&self.shared, header, handle)
    }
}

/// Closes the request at `path` for its caller; someone else's is refused.
fn close(shared: &Shared, header: &Header<'_>, path: &str) -> Result<(), PortalError> {
    let sender = header.sender().map(|s| s.to_string()).unwrap_or_default();
    match shared.registry.close(path, &sender) {
        Ok(entry) => {
            shared.unexport(entry.path);
            shared.tell(Event::Closed(entry.pending.id));
            Ok(())
        }
        Err(true) => Err(PortalError::NotAllowed(
            "Portal operation not allowed: Unmatched caller".into(),
        )),
        // Answered already: nothing to close.
        Err(false) => Ok(()),
    }
}

#[interface(name = "org.freedesktop.portal.FileChooser")]
impl FileChooser {
    async fn open_file(
        &self,
        #[zbus(header)] header: Header<'_>,
        #[zbus(object_server)] server: &zbus::ObjectServer,
        _parent_window: &str,
        title: &str,
        options: HashMap<String, OwnedValue>,
    ) -> Result<OwnedObjectPath, PortalError> {
        self.ask(Kind::Open, &header, server, title, &options).await
    }

    async fn save_file(
        &self,
        #[zbus(header)] header: Header<'_>,
        #[zbus(object_server)] server: &zbus::ObjectServer,
        _parent_window: &str,
        title: &str,
        options: HashMap<String, OwnedValue>,
    ) -> Result<OwnedObjectPath, PortalError> {
        self.ask(Kind::Save, &header, server, title, &options).await
    }

    async fn save_files(
        &self,
        #[zbus(header)] header: Header<'_>,
        #[zbus(object_server)] server: &zbus::ObjectServer,
        _parent_window: &str,
        title: &str,
        options: HashMap<String, OwnedValue>,
    ) -> Result<OwnedObjectPath, PortalError> {
        self.ask(Kind::SaveFiles, &header, server, title, &options)
            .await
    }

    /// Not in the portal's interface, but GTK 3 and GTK 4.8 call it to
    /// dismiss a dialog they hide: it closes the caller's request.
    fn close(
        &self,
        #[zbus(header)] header: Header<'_>,
        handle: OwnedObjectPath,
    ) -> Result<(), PortalError> {
        self.close_request(&header, handle.as_str())
    }

    #[zbus(property(emits_changed_signal = "const"), name = "version")]
    fn version(&self) -> u32 {
        3
    }
}

/// `org.freedesktop.portal.Request` of one request.
struct RequestObject {
    shared: Arc<Shared>,
}

#[interface(name = "org.freedesktop.portal.Request")]
impl RequestObject {
    fn close(&self, #[zbus(header)] header: Header<'_>) -> Result<(), PortalError> {
        let path = header.path().map(|p| p.to_string()).unwrap_or_default();
        close(&self.shared, &header, &path)
    }
}

struct SettingsPortal {
    settings: Settings,
}

#[interface(name = "org.freedesktop.portal.Settings")]
impl SettingsPortal {
    fn read_all(&self, namespaces: Vec<String>) -> HashMap<String, HashMap<String, OwnedValue>> {
        self.settings.read_all(&namespaces)
    }

    /// The value inside two variants, as the desktop portal's version 1
    /// returned it and libadwaita and Qt expect.
    fn read(&self, namespace: &str, key: &str) -> Result<OwnedValue, PortalError> {
        let value = self.one(namespace, key)?;
        OwnedValue::try_from(Value::Value(Box::new(Value::from(value))))
            .map_err(|e| PortalError::Failed(e.to_string()))
    }

    fn read_one(&self, namespace: &str, key: &str) -> Result<OwnedValue, PortalError> {
        self.one(namespace, key)
    }

    #[zbus(signal)]
    async fn setting_changed(
        emitter: &SignalEmitter<'_>,
        namespace: &str,
        key: &str,
        value: Value<'_>,
    ) -> zbus::Result<()>;

    #[zbus(property(emits_changed_signal = "const"), name = "version")]
    fn version(&self) -> u32 {
        2
    }
}

impl SettingsPortal {
    fn one(&self, namespace: &str, key: &str) -> Result<OwnedValue, PortalError> {
        self.settings
            .get(namespace, key)
            .ok_or_else(|| PortalError::NotFound("Requested setting not found".into()))
    }
}

struct NetworkMonitor {
    net: NetInfo,
}

#[interface(name = "org.freedesktop.portal.NetworkMonitor")]
impl NetworkMonitor {
    fn get_available(&self) -> bool {
        self.net.available
    }

    fn get_metered(&self) -> bool {
        false
    }

    /// 1 local, 4 full.
    fn get_connectivity(&self) -> u32 {
        if self.net.available {
            4
        } else {
            1
        }
    }

    fn get_status(&self) -> HashMap<String, OwnedValue> {
        HashMap::from([
            ("available".to_owned(), OwnedValue::from(self.net.available)),
            ("metered".to_owned(), OwnedValue::from(false)),
            (
                "connectivity".to_owned(),
                OwnedValue::from(self.get_connectivity()),
            ),
        ])
    }

    /// wsbox cannot tell without trying; the app may try itself.
    fn can_reach(&self, _hostname: &str, _port: u32) -> bool {
        self.net.available
    }

    #[zbus(signal)]
    async fn changed(emitter: &SignalEmitter<'_>) -> zbus::Result<()>;

    #[zbus(property(emits_changed_signal = "const"), name = "version")]
    fn version(&self) -> u32 {
        3
    }
}

struct ProxyResolver {
    net: NetInfo,
}

#[interface(name = "org.freedesktop.portal.ProxyResolver")]
impl ProxyResolver {
    /// GLib asks before every connection once the portal is there: an
    /// error would fail the connection.
    fn lookup(&self, _uri: &str) -> Vec<String> {
        vec![self.net.proxy.clone().unwrap_or_else(|| "direct://".into())]
    }

    #[zbus(property(emits_changed_signal = "const"), name = "version")]
    fn version(&self) -> u32 {
        1
    }
}

/// Serves the portal on wsbox's connection to the bus, whose names
/// [`super::claim::write`] asked for before the daemon ran. The app does
/// not wait: a thread reads the bus's answers beside its start, then serves
/// the portal; if the bus refuses wsbox or does not answer within
/// [`CONNECT_WAIT`], the event loop hears [`Event::Failed`].
pub fn start(
    stream: UnixStream,
    claim: super::claim::Claim,
    events: Sender<Event>,
    settings: Settings,
    net: NetInfo,
    writable: bool,
    desktop: Desktop,
) -> Result<Server> {
    let (tx, rx) = mpsc::channel();
    let shared = Arc::new(Shared {
        registry: Registry::default(),
        events: Mutex::new(events.clone()),
        out: Mutex::new(tx.clone()),
        writable,
    });
    let (responder, responses) = super::reply::Responder::new();
    let objects = Objects {
        chooser: FileChooser {
            shared: shared.clone(),
        },
        settings: SettingsPortal { settings },
        monitor: NetworkMonitor { net: net.clone() },
        resolver: ProxyResolver { net },
        open_uri: super::openuri::OpenUriPortal {
            opener: desktop.opener,
            responder: responder.clone(),
        },
        notifications: super::notify::NotificationPortal {
            notifier: desktop.notifier.clone(),
        },
        notification_server: super::notify::NotificationServer {
            notifier: desktop.notifier.clone(),
        },
        print: super::print::PrintPortal {
            printer: desktop.printer.clone(),
            host: desktop.print_host.clone(),
            issued: std::sync::Mutex::new(std::collections::HashSet::new()),
            next_token: std::sync::atomic::AtomicU32::new(1),
            responder,
        },
    };
    let watched = shared.clone();
    std::thread::Builder::new()
        .name("wsbox-bus-connect".into())
        .spawn(move || {
            let served = connect(stream, &claim, objects).and_then(|conn| {
                spawn_answers(conn.clone(), rx)?;
                responses
                    .start(conn.clone())
                    .context("failed to start the portal's answers")?;
                // The threads hold the connection: the answering one as long
                // as this Server, whose end of its channel closes it.
                spawn_watch(conn, watched)
            });
            if let Err(e) = served {
                let _ = events.send(Event::Failed(format!(
                    "failed to serve the portal on the sandbox's bus: {e:#}"
                )));
            }
        })
        .context("failed to start the portal")?;
    Ok(Server {
        shared,
        answers: Answers { tx },
        notifier: desktop.notifier,
        printer: desktop.printer,
    })
}

/// The objects wsbox serves on the bus.
struct Objects {
    chooser: FileChooser,
    settings: SettingsPortal,
    monitor: NetworkMonitor,
    resolver: ProxyResolver,
    open_uri: super::openuri::OpenUriPortal,
    notifications: super::notify::NotificationPortal,
    notification_server: super::notify::NotificationServer,
    print: super::print::PrintPortal,
}

/// Reads the bus's answers to wsbox's handshake on `stream` and serves
/// `objects` there, within [`CONNECT_WAIT`].
fn connect(
    mut stream: UnixStream,
    claim: &super::claim::Claim,
    objects: Objects,
) -> Result<Connection> {
    use std::future::Future;
    use std::pin::Pin;
    use std::task::Poll;
    use zbus::export::futures_core::Stream;

    let guid = super::claim::read_auth(&mut stream, Instant::now() + CONNECT_WAIT)?;
    stream.set_read_timeout(None)?;
    let socket = async_io::Async::new(stream)?;
    zbus::block_on(async move {
        let mut messages = zbus::connection::Builder::authenticated_socket(socket, guid.as_str())?
            .max_queued(64)
            .serve_at(PATH, objects.chooser)?
            .serve_at(PATH, objects.settings)?
            .serve_at(PATH, objects.monitor)?
            .serve_at(PATH, objects.resolver)?
            .serve_at(PATH, objects.open_uri)?
            .serve_at(PATH, objects.notifications)?
            .serve_at(PATH, objects.print)?
            .serve_at(
                "/org/freedesktop/Notifications",
                objects.notification_server,
            )?
            .build_message_stream()
            .await?;
        let conn = zbus::Connection::from(&messages);
        let mut answers = super::claim::Answers::default();
        let mut timer = async_io::Timer::after(CONNECT_WAIT);
        while !claim.done(&answers) {
            let next = std::future::poll_fn(|cx| {
                if Pin::new(&mut timer).poll(cx).is_ready() {
                    return Poll::Ready(Err(anyhow::anyhow!(
                        "the bus did not answer within {} s",
                        CONNECT_WAIT.as_secs()
                    )));
                }
                Pin::new(&mut messages).poll_next(cx).map(Ok)
            })
            .await?;
            let message = next.context("the bus closed wsbox's connection")??;
            claim.take(&mut answers, &message)?;
        }
        // The stream would keep every message: wsbox has what it needs.
        drop(messages);
        // zbus sets none on a socket it did not authenticate itself.
        if let (Some(name), None) = (answers.unique_name, conn.unique_name()) {
            conn.set_unique_name(name)?;
        }
        Ok(Connection::from(conn))
    })
}

/// The thread that sends every Response and removes finished request
/// objects: a bus that blocks blocks it alone.
fn spawn_answers(conn: Connection, rx: mpsc::Receiver<Outgoing>) -> Result<()> {
    std::thread::Builder::new()
        .name("wsbox-portal".into())
        .spawn(move || {
            for out in rx {
                match out {
                    Outgoing::Respond { entry, code, uris } => {
                        let results: HashMap<&str, Value<'_>> =
                            HashMap::from([("uris", Value::from(uris))]);
                        if let Err(e) = conn.emit_signal(
                            Some(entry.sender.as_str()),
                            entry.path.as_str(),
                            REQUEST_IFACE,
                            "Response",
                            &(code as u32, results),
                        ) {
                            tracing::warn!(%e, "failed to answer a portal request");
                        }
                        let _ = conn
                            .object_server()
                            .remove::<RequestObject, _>(entry.path.as_str());
                    }
                    Outgoing::Unexport { path } => {
                        let _ = conn
                            .object_server()
                            .remove::<RequestObject, _>(path.as_str());
                    }
                }
            }
        })
        .context("failed to start the portal")?;
    Ok(())
}

/// The thread that closes the requests of callers that left the bus, and
/// that tells the event loop when wsbox's names or its connection are lost
/// (an app that queued for a name would then serve it).
fn spawn_watch(conn: Connection, shared: Arc<Shared>) -> Result<()> {
    let ours = conn
        .unique_name()
        .map(ToString::to_string)
        .context("wsbox has no name on the sandbox's bus")?;
    let proxy =
        zbus::blocking::fdo::DBusProxy::new(&conn).context("failed to watch the sandbox's bus")?;
    let changes = proxy
        .receive_name_owner_changed()
        .context("failed to watch the sandbox's bus")?;
    // Nothing changed between the claim and the subscription.
    for name in super::claim::NAMES {
        let owner = proxy
            .get_name_owner(name.try_into()?)
            .context("failed to watch the sandbox's bus")?;
        anyhow::ensure!(
            owner.as_str() == ours,
            "the sandbox's bus gave {name} to another connection; only wsbox may own it"
        );
    }
    std::thread::Builder::new()
        .name("wsbox-portal-watch".into())
        .spawn(move || {
            for signal in changes {
                let Ok(args) = signal.args() else { continue };
                if super::claim::NAMES.contains(&args.name().as_str()) {
                    if args.new_owner().as_ref().map(|o| o.as_str()) != Some(ours.as_str()) {
                        // Once: the sandbox stops.
                        shared.tell(Event::Failed(format!(
                            "the sandbox's bus gave {} to another connection; only wsbox may \
                             own it",
                            args.name()
                        )));
                        return;
                    }
                    continue;
                }
                if args.new_owner().is_some() || !args.name().starts_with(':') {
                    continue;
                }
                for entry in shared.registry.drop_sender(args.name()) {
                    shared.unexport(entry.path);
                    shared.tell(Event::Closed(entry.pending.id));
                }
            }
            shared.tell(Event::Failed(
                "the sandbox's bus cut off wsbox's connection, and with it the portal's names"
                    .into(),
            ));
        })
        .context("failed to start the portal")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_helper_is_forked_only_for_what_uses_it() {
        // Links, wherever the sandbox shows its windows.
        assert!(Desktop::wants_opener(true, false, false, false));
        assert!(Desktop::wants_opener(true, false, false, true));
        // The host's notifications and print dialog: in window mode only.
        assert!(Desktop::wants_opener(false, true, false, true));
        assert!(Desktop::wants_opener(false, false, true, true));
        assert!(!Desktop::wants_opener(false, true, true, false));
        // A window with neither asks nothing of the host.
        assert!(!Desktop::wants_opener(false, false, false, true));
    }
}
