//! What the portal's interfaces share: its names, its errors, the paths
//! of requests and the codes of their responses (src/portal/server.rs,
//! src/portal/openuri.rs).

/// The portal's well-known name and object path.
pub const NAME: &str = "org.freedesktop.portal.Desktop";
pub const PATH: &str = "/org/freedesktop/portal/desktop";

/// The response codes of `org.freedesktop.portal.Request.Response`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    Success = 0,
    Cancelled = 1,
    Other = 2,
}

/// Errors in the desktop portal's own names.
#[derive(Debug, zbus::DBusError)]
#[zbus(prefix = "org.freedesktop.portal.Error")]
pub enum PortalError {
    #[zbus(error)]
    ZBus(zbus::Error),
    NotFound(String),
    NotAllowed(String),
    InvalidArgument(String),
    Failed(String),
}

/// The request path for `sender`'s `token`: `:1.45` makes `1_45`.
pub fn request_path(sender: &str, token: &str) -> String {
    let sender = sender.trim_start_matches(':').replace('.', "_");
    format!("{PATH}/request/{sender}/{token}")
}

/// Whether `token` may be an element of an object path.
pub fn valid_token(token: &str) -> bool {
    !token.is_empty()
        && token.len() <= 64
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// How long after its method returned a request's Response is sent.
const RESPONSE_AFTER: std::time::Duration = std::time::Duration::from_millis(20);
/// The most Responses waiting to be sent; more are dropped.
const WAITING_MAX: usize = 256;

type Waiting = (
    std::time::Instant,
    String,
    String,
    Code,
    std::collections::HashMap<String, zbus::zvariant::OwnedValue>,
);

/// Sends the Responses of requests answered at once (OpenURI, Print), each
/// to its caller alone and shortly after the method that made the request
/// has answered with its handle: clients (GTK's print dialog, GIO's
/// OpenURI) free their state on the Response and crash if the method's
/// answer comes after it. One thread and a bounded queue: a flood of
/// requests costs no more.
#[derive(Debug, Clone)]
pub struct Responder {
    tx: std::sync::mpsc::SyncSender<Waiting>,
}

/// The other end of a [`Responder`], until the connection exists.
pub struct Sending(std::sync::mpsc::Receiver<Waiting>);

impl Responder {
    /// A responder, and what [`Sending::start`] takes once the connection
    /// is made.
    pub fn new() -> (Self, Sending) {
        let (tx, rx) = std::sync::mpsc::sync_channel(WAITING_MAX);
        (Self { tx }, Sending(rx))
    }

    /// Sends `code` and `results` as the Response of the request at `path`
    /// to `sender`, soon; dropped when too many wait.
    pub fn respond(
        &self,
        sender: String,
        path: String,
        code: Code,
        results: std::collections::HashMap<String, zbus::zvariant::OwnedValue>,
    ) {
        let due = std::time::Instant::now() + RESPONSE_AFTER;
        if let Err(std::sync::mpsc::TrySendError::Full(_)) =
            self.tx.try_send((due, sender, path, code, results))
        {
            tracing::warn!("too many portal requests at once: a Response was dropped");
        }
    }
}

impl Sending {
    /// Sends the Responses on `conn`, from a thread of its own.
    pub fn start(self, conn: zbus::blocking::Connection) -> std::io::Result<()> {
        std::thread::Builder::new()
            .name("wsbox-portal-responses".into())
            .spawn(move || {
                for (due, sender, path, code, results) in self.0 {
                    let left = due.saturating_duration_since(std::time::Instant::now());
                    if !left.is_zero() {
                        std::thread::sleep(left);
                    }
                    if let Err(e) = conn.emit_signal(
                        Some(sender.as_str()),
                        path.as_str(),
                        "org.freedesktop.portal.Request",
                        "Response",
                        &(code as u32, results),
                    ) {
                        tracing::warn!(%e, "failed to answer a portal request");
                    }
                }
            })
            .map(drop)
    }
}
