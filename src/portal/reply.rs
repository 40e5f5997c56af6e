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

/// Sends `code` and `results` as the Response of the request at `path` to
/// its caller alone, shortly after the method that made the request has
/// answered with its handle. Clients (GTK's print dialog, GIO's OpenURI)
/// free their state on the Response and crash if the method's answer
/// comes after it.
pub fn respond_later(
    conn: &zbus::Connection,
    sender: String,
    path: String,
    code: Code,
    results: std::collections::HashMap<String, zbus::zvariant::OwnedValue>,
) {
    let emitter = conn.clone();
    // A thread of its own, a few milliseconds: the callers are bounded
    // (the portals rate-limit their requests, zbus queues 64 messages).
    let sent = std::thread::Builder::new()
        .name("wsbox-portal-response".into())
        .spawn(move || {
            std::thread::sleep(RESPONSE_AFTER);
            if let Err(e) = zbus::block_on(emitter.emit_signal(
                Some(sender.as_str()),
                path.as_str(),
                "org.freedesktop.portal.Request",
                "Response",
                &(code as u32, results),
            )) {
                tracing::warn!(%e, "failed to answer a portal request");
            }
        });
    if let Err(e) = sent {
        tracing::warn!(%e, "failed to answer a portal request");
    }
}
