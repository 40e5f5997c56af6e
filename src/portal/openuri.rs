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
use super::reply::{request_for, Code, PortalError, Responder};

/// The portal interface.
pub struct OpenUriPortal {
    /// None: `portal.open_uri = "deny"`.
    pub opener: Option<Arc<Opener>>,
    /// Sends the Responses.
    pub responder: Responder,
}

impl OpenUriPortal {
    /// Answers "other" at once: OpenFile and OpenDirectory open nothing
    /// outside.
    fn refuse(
        &self,
        header: &Header<'_>,
        options: &HashMap<String, OwnedValue>,
    ) -> Result<OwnedObjectPath, PortalError> {
        let (sender, path) = request_for(header, options)?;
        self.responder
            .answer(sender, path, Code::Other, HashMap::new())
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
        let (sender, path) = request_for(&header, &options)?;
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
        self.responder.answer(sender, path, code, HashMap::new())
    }

    async fn open_file(
        &self,
        #[zbus(header)] header: Header<'_>,
        _parent_window: String,
        _fd: OwnedFd,
        options: HashMap<String, OwnedValue>,
    ) -> Result<OwnedObjectPath, PortalError> {
        self.refuse(&header, &options)
    }

    async fn open_directory(
        &self,
        #[zbus(header)] header: Header<'_>,
        _parent_window: String,
        _fd: OwnedFd,
        options: HashMap<String, OwnedValue>,
    ) -> Result<OwnedObjectPath, PortalError> {
        self.refuse(&header, &options)
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
