//! What the portal's interfaces share: its names, its errors, the paths
//! of requests and the codes of their responses, the Responses of
//! requests answered at once ([`Responder`]), and the rate of requests
//! that reach the host ([`RateLimit`]).

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

impl From<u32> for Code {
    /// A response code as the host's portal sends it: what is neither
    /// done nor cancelled is "other".
    fn from(code: u32) -> Self {
        match code {
            0 => Code::Success,
            1 => Code::Cancelled,
            _ => Code::Other,
        }
    }
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
fn valid_token(token: &str) -> bool {
    !token.is_empty()
        && token.len() <= 64
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// At most this many requests (links, notifications, documents) in a
/// burst, then one per [`REFILL`].
pub const BURST: u32 = 5;
pub const REFILL: std::time::Duration = std::time::Duration::from_secs(1);

/// Refills one token per [`REFILL`], up to [`BURST`].
#[derive(Debug)]
pub struct Bucket {
    tokens: u32,
    since: std::time::Instant,
}

impl Bucket {
    /// A full bucket.
    pub fn new() -> Self {
        Self {
            tokens: BURST,
            since: std::time::Instant::now(),
        }
    }

    /// Takes a token at `now`; false when none is left.
    pub fn take(&mut self, now: std::time::Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.since);
        let refilled = elapsed.as_millis() / REFILL.as_millis();
        if refilled > 0 {
            self.tokens = u32::try_from(refilled)
                .unwrap_or(BURST)
                .saturating_add(self.tokens)
                .min(BURST);
            self.since = now;
        }
        if self.tokens == 0 {
            return false;
        }
        self.tokens -= 1;
        true
    }
}

/// A [`Bucket`] shared by the bus's threads.
#[derive(Debug)]
pub struct RateLimit(std::sync::Mutex<Bucket>);

impl RateLimit {
    /// A full one.
    pub fn new() -> Self {
        Self(std::sync::Mutex::new(Bucket::new()))
    }

    /// Whether one more request may pass now.
    pub fn allow(&self) -> bool {
        self.0
            .lock()
            .map(|mut b| b.take(std::time::Instant::now()))
            .unwrap_or(false)
    }
}

/// The sender of a portal call and the path of the request it makes,
/// from its `handle_token` (as the desktop portal names them).
pub fn request_for(
    header: &zbus::message::Header<'_>,
    options: &std::collections::HashMap<String, zbus::zvariant::OwnedValue>,
) -> Result<(String, String), PortalError> {
    let sender = header
        .sender()
        .ok_or_else(|| PortalError::NotAllowed("no sender".into()))?
        .to_string();
    let token = match options.get("handle_token").map(|v| &**v) {
        None => "t".to_owned(),
        Some(zbus::zvariant::Value::Str(t)) if valid_token(t) => t.to_string(),
        Some(_) => {
            return Err(PortalError::InvalidArgument(
                "handle_token is not a valid token".into(),
            ))
        }
    };
    let path = request_path(&sender, &token);
    Ok((sender, path))
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

    /// Answers a request made at once: its handle now, `code` and
    /// `results` as its Response just after.
    pub fn answer(
        &self,
        sender: String,
        path: String,
        code: Code,
        results: std::collections::HashMap<String, zbus::zvariant::OwnedValue>,
    ) -> Result<zbus::zvariant::OwnedObjectPath, PortalError> {
        let handle = zbus::zvariant::OwnedObjectPath::try_from(path.clone())
            .map_err(|e| PortalError::Failed(e.to_string()))?;
        self.respond(sender, path, code, results);
        Ok(handle)
    }

    /// Sends `code` and `results` as the Response of the request at `path`
    /// to `sender`, soon; dropped when too many wait.
    fn respond(
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    #[test]
    fn the_bucket_allows_a_burst_then_one_a_second() {
        let start = Instant::now();
        let mut bucket = Bucket::new();
        bucket.since = start;
        for _ in 0..BURST {
            assert!(bucket.take(start));
        }
        assert!(!bucket.take(start));
        assert!(!bucket.take(start + REFILL / 2));
        assert!(bucket.take(start + REFILL));
        assert!(!bucket.take(start + REFILL));
    }

    #[test]
    fn the_host_s_codes_are_ours() {
        for code in [Code::Success, Code::Cancelled, Code::Other] {
            assert_eq!(Code::from(code as u32), code);
        }
        assert_eq!(Code::from(3), Code::Other);
        assert_eq!(Code::from(u32::MAX), Code::Other);
    }

    #[test]
    fn request_paths_follow_the_portal_spec() {
        assert_eq!(
            request_path(":1.45", "gtk3"),
            "/org/freedesktop/portal/desktop/request/1_45/gtk3"
        );
        assert!(valid_token("firefox_esr_file_picker_0_1"));
        for bad in ["", "a/b", "a.b", "a-b", &"x".repeat(65)] {
            assert!(!valid_token(bad), "{bad}");
        }
    }
}
