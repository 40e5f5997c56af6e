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
