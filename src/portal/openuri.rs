//! `org.freedesktop.portal.OpenURI` on the sandbox's bus: the app (or
//! `xdg-open` inside, which uses the portal where `/.flatpak-info` is) asks
//! to open a link. The policy's `portal.open_uri` decides: `deny` answers
//! no; otherwise the link, checked ([`super::opener::check`]) and
//! rate-limited, goes to the opener (src/portal/opener.rs). Files and
//! directories (OpenFile, OpenDirectory) are never opened outside.
//!
//! The method answers with its request's handle and sends the outcome as
//! that request's `Response` to the caller alone, just after
//! ([`super::reply::Responder`]).

use std::collections::HashMap;
use std::sync::Arc;

use zbus::interface;
use zbus::message::Header;
use zbus::zvariant::{OwnedFd, OwnedObjectPath, OwnedValue};

use super::opener::Opener;
use super::reply::{request_path, valid_token, Code, PortalError, Responder};

/// The portal interface.
pub struct OpenUriPortal {
    /// None: `portal.open_uri = "deny"`.
    pub opener: Option<Arc<Opener>>,
    /// Sends the Responses.
    pub responder: Responder,
}

impl OpenUriPortal {
    /// The request's handle for the caller and its `handle_token`.
    fn handle(
        header: &Header<'_>,
        options: &HashMap<String, OwnedValue>,
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

    /// Answers the request at `path` with `code` (its Response follows
    /// the handle).
    fn answer(
        &self,
        sender: String,
        path: String,
        code: Code,
    ) -> Result<OwnedObjectPath, PortalError> {
        let handle = OwnedObjectPath::try_from(path.clone())
            .map_err(|e| PortalError::Failed(e.to_string()))?;
        self.responder.respond(sender, path, code, HashMap::new());
        Ok(handle)
    }
}

#[interface(name = "org.freedesktop.portal.OpenURI")]
impl OpenUriPortal {
    #[zbus(name = "OpenURI")]
    async fn open_uri(
        &self,
        #[zbus(header)] header: Header<'_>,
        _parent_window: String,
        uri: String,
        options: HashMap<String, OwnedValue>,
    ) -> Result<OwnedObjectPath, PortalError> {
        let (sender, path) = Self::handle(&header, &options)?;
        let code = match &self.opener {
            None => {
                tracing::warn!("a link was not opened: the policy denies it (portal.open_uri)");
                Code::Other
            }
            Some(opener) => {
                let opener = opener.clone();
                let outcome = blocking::unblock(move || opener.open(&uri)).await;
                match outcome {
                    Ok(()) => Code::Success,
                    Err(why) => {
                        tracing::warn!("a link was not opened: {why}");
                        Code::Other
                    }
                }
            }
        };
        self.answer(sender, path, code)
    }

    async fn open_file(
        &self,
        #[zbus(header)] header: Header<'_>,
        _parent_window: String,
        _fd: OwnedFd,
        options: HashMap<String, OwnedValue>,
    ) -> Result<OwnedObjectPath, PortalError> {
        let (sender, path) = Self::handle(&header, &options)?;
        self.answer(sender, path, Code::Other)
    }

    async fn open_directory(
        &self,
        #[zbus(header)] header: Header<'_>,
        _parent_window: String,
        _fd: OwnedFd,
        options: HashMap<String, OwnedValue>,
    ) -> Result<OwnedObjectPath, PortalError> {
        let (sender, path) = Self::handle(&header, &options)?;
        self.answer(sender, path, Code::Other)
    }

    /// Scheme handlers the app may ask about: none are said to exist
    /// outside, so Firefox and GLib handle what they can themselves.
    #[zbus(name = "SchemeSupported")]
    fn scheme_supported(&self, _scheme: String, _options: HashMap<String, OwnedValue>) -> bool {
        false
    }

    #[zbus(property(emits_changed_signal = "const"), name = "version")]
    fn version(&self) -> u32 {
        4
    }
}
