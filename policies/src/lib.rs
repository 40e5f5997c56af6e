//! The policy model of wsbox: what a sandbox may see and do, as plain serde data.
//!
//! This crate only parses, validates and describes policies. It never touches the
//! system: the sandbox runtime and the compositor turn a [`Policy`] into action.
//! Every section has defaults, so a policy file names only what it changes, and
//! unknown fields are errors so a typo never silently weakens a sandbox.
//!
//! A value with a syntax of its own (the frame colour, the Tor address, a
//! forward) and the network mode's own settings are parsed into their types
//! when a policy is loaded: code that holds a [`Policy`] never meets one
//! that is invalid, and never parses it again. What only a whole section or
//! policy can tell (paths, names, the rules between fields) is checked by
//! [`Policy::validate`], at load and again after the command line's changes.

mod a11y;
mod audio;
mod clipboard;
mod display;
mod environment;
mod error;
mod filesystem;
mod identity;
mod keyboard;
mod lifecycle;
mod limits;
mod network;
mod portal;
mod security;
mod value;

use std::path::Path;

use serde::{Deserialize, Serialize};

pub use a11y::A11y;
pub use audio::{Audio, AudioGrant, RecordDenied};
pub use clipboard::{Clipboard, ClipboardMode, CLIPBOARD_MAX_BYTES_LIMIT};
pub use display::{ColorError, Display, HostDecorations, Rgb};
pub use environment::{validate_env_name, Environment, HOST_SESSION_VARIABLES};
pub use error::{Error, Refusal};
pub use filesystem::{validate_host_path, validate_sandbox_path, Access, Bind, Filesystem, Home};
pub use identity::{validate_hostname, Identity, MachineId};
pub use keyboard::Keyboard;
pub use lifecycle::{check_grace, Lifecycle, GRACE_MAX_SECS};
pub use limits::{
    parse_size, Amount, Limits, MemoryLimit, TmpfsSize, FILES_MAX, FILES_MIN, MEMORY_MIN,
    TASKS_MAX, TASKS_MIN, TMPFS_MIN,
};
pub use network::{
    AddrError, Forward, ForwardError, Network, NetworkMode, TorAddr, MAX_FORWARDS, TOR_PORTS,
    TOR_SOCKS_DEFAULT,
};
pub use portal::{
    ColorScheme, NotificationsTo, OpenAccess, OpenUri, Portal, PortalSettings, UriAction,
    UriSandbox,
};
pub use security::{Requirement, Security};

/// The built-in profiles, embedded in the binary.
pub const PRESETS: &[(&str, &str)] = &[
    ("default", include_str!("../presets/default.toml")),
    ("editor", include_str!("../presets/editor.toml")),
    ("pdf", include_str!("../presets/pdf.toml")),
    ("image-viewer", include_str!("../presets/image-viewer.toml")),
    ("terminal", include_str!("../presets/terminal.toml")),
    ("passwords", include_str!("../presets/passwords.toml")),
    ("browser", include_str!("../presets/browser.toml")),
    ("tor-browser", include_str!("../presets/tor-browser.toml")),
    ("office", include_str!("../presets/office.toml")),
    ("mail", include_str!("../presets/mail.toml")),
];

/// A whole policy. Later features add sections; each section defaults to the
/// strictest setting.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    /// One line for humans: what this policy is for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default)]
    pub identity: Identity,
    #[serde(default)]
    pub filesystem: Filesystem,
    #[serde(default)]
    pub environment: Environment,
    #[serde(default)]
    pub network: Network,
    #[serde(default)]
    pub security: Security,
    #[serde(default)]
    pub display: Display,
    #[serde(default)]
    pub keyboard: Keyboard,
    #[serde(default)]
    pub clipboard: Clipboard,
    #[serde(default)]
    pub lifecycle: Lifecycle,
    #[serde(default)]
    pub portal: Portal,
    #[serde(default)]
    pub a11y: A11y,
    #[serde(default)]
    pub audio: Audio,
    #[serde(default)]
    pub limits: Limits,
}

impl Policy {
    /// Parses and validates policy text. `origin` names the source in errors.
    pub fn from_toml(text: &str, origin: &str) -> Result<Self, Error> {
        let policy: Policy = toml::from_str(text).map_err(|err| parse_error(text, origin, &err))?;
        policy.validate(origin)?;
        Ok(policy)
    }

    /// Loads a policy file.
    pub fn from_file(path: &Path) -> Result<Self, Error> {
        let text = std::fs::read_to_string(path).map_err(|reason| Error::Read {
            path: path.to_owned(),
            reason,
        })?;
        Self::from_toml(&text, &path.display().to_string())
    }

    /// A built-in profile by name.
    pub fn builtin(name: &str) -> Result<Self, Error> {
        let text = builtin_text(name)?;
        Self::from_toml(text, &format!("profile {name}"))
    }

    /// The effective policy as TOML, every default spelled out.
    pub fn to_toml(&self) -> String {
        // Serializing plain data with string keys cannot fail.
        toml::to_string_pretty(self).unwrap_or_else(|err| format!("# cannot render: {err}\n"))
    }

    /// Checks what the types cannot: paths, names, limits and the rules
    /// between fields. The values parsed at load (colour, addresses,
    /// forwards, the LAN grant's mode) are right by their types already.
    pub fn validate(&self, origin: &str) -> Result<(), Error> {
        self.check().map_err(|refusal| refusal.of(origin))
    }

    fn check(&self) -> Result<(), Refusal> {
        self.identity.check()?;
        self.clipboard.check()?;
        self.lifecycle.check()?;
        self.limits.check()?;
        self.portal.check()?;
        self.network.check()?;
        if self.filesystem.sys && self.network.mode == NetworkMode::Host {
            return Err(Refusal::new(
                "filesystem.sys",
                "a sysfs cannot be mounted in the host's network namespace (mode \"host\"); \
                 use another network mode or no /sys",
            ));
        }
        self.filesystem.check()?;
        self.environment.check()
    }
}

/// The fields whose values serde parses. Their refusals reach the loader as
/// text, `field: message`.
const PARSED_FIELDS: &[&str] = &[
    display::COLOR_FIELD,
    network::TOR_FIELD,
    network::ALLOW_LAN_FIELD,
    network::FORWARD_FIELD,
    limits::MEMORY_FIELD,
    limits::TMPFS_FIELD,
];

/// A toml error as the loader reports it. A value refused while parsing is
/// reported like one refused by `validate`, by its field, so that its
/// message does not depend on which of the two refused it.
fn parse_error(text: &str, origin: &str, err: &toml::de::Error) -> Error {
    let message = err.message().trim().replace('\n', " ");
    let refused = PARSED_FIELDS.iter().find_map(|field| {
        let reason = message.strip_prefix(field)?.strip_prefix(": ")?;
        Some(Refusal::new(*field, reason))
    });
    if let Some(refusal) = refused {
        return refusal.of(origin);
    }
    Error::Parse {
        origin: origin.to_owned(),
        location: err
            .span()
            .map(|span| {
                let (line, column) = line_column(text, span.start);
                format!(" at line {line}, column {column}")
            })
            .unwrap_or_default(),
        message,
    }
}

/// The text of a built-in profile.
pub fn builtin_text(name: &str) -> Result<&'static str, Error> {
    PRESETS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, text)| *text)
        .ok_or_else(|| Error::UnknownProfile {
            name: name.to_owned(),
            known: PRESETS
                .iter()
                .map(|(n, _)| *n)
                .collect::<Vec<_>>()
                .join(", "),
        })
}

fn line_column(text: &str, offset: usize) -> (usize, usize) {
    // A span should end on a character boundary; if not, count up to the
    // last one before it rather than fail.
    let mut end = offset.min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let before = &text[..end];
    let line = before.matches('\n').count() + 1;
    let column = before
        .rfind('\n')
        .map_or(before.len(), |nl| before.len() - nl - 1)
        + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_preset_parses_and_validates() {
        for (name, _) in PRESETS {
            let policy = Policy::builtin(name).unwrap();
            assert!(policy.description.is_some(), "{name} has no description");
        }
    }

    #[test]
    fn default_preset_equals_the_strict_defaults_apart_from_description() {
        let mut preset = Policy::builtin("default").unwrap();
        preset.description = None;
        let mut strict = Policy::default();
        strict.environment.pass = preset.environment.pass.clone();
        assert_eq!(preset, strict);
        assert_eq!(preset.network.mode, NetworkMode::None);
        assert_eq!(preset.security.landlock, Requirement::Required);
        assert!(!preset.filesystem.sys);
    }

    #[test]
    fn empty_text_is_the_strict_default() {
        assert_eq!(Policy::from_toml("", "t").unwrap(), Policy::default());
    }

    #[test]
    fn unknown_field_names_file_line_and_field() {
        let err = Policy::from_toml("[identity]\nhostname = \"a\"\nfoo = 1\n", "p.toml")
            .unwrap_err()
            .to_string();
        assert!(err.contains("p.toml"), "{err}");
        assert!(err.contains("line 3"), "{err}");
        assert!(err.contains("foo"), "{err}");
        assert!(!err.contains('\n'), "error must be one line: {err}");
    }

    #[test]
    fn errors_in_non_ascii_text_keep_their_position() {
        let err = Policy::from_toml("description = \"Grüße\"\n[identity]\nhöst = 1\n", "p.toml")
            .unwrap_err()
            .to_string();
        assert!(err.contains("line 3"), "{err}");
    }

    #[test]
    fn invalid_names_are_refused() {
        assert!(Policy::from_toml("[identity]\nhostname = \"a b\"\n", "t").is_err());
        assert!(Policy::from_toml("[identity]\nhostname = \"\"\n", "t").is_err());
        assert!(Policy::from_toml("[environment]\nset = { \"1A\" = \"x\" }\n", "t").is_err());
        assert!(Policy::from_toml("[environment]\nset = { \"A=B\" = \"x\" }\n", "t").is_err());
    }

    #[test]
    fn to_toml_round_trips() {
        let p = Policy::from_toml(
            "[[filesystem.bind]]\nhost = \"/srv\"\nmode = \"rw\"\n[environment]\nset = { A = \"1\" }\n",
            "t",
        )
        .unwrap();
        assert_eq!(Policy::from_toml(&p.to_toml(), "round").unwrap(), p);
    }

    #[test]
    fn values_refused_while_parsing_read_as_the_checks_refusals() {
        for (text, message) in [
            (
                "[display]\ncolor = \"red\"\n",
                "display.color: \"red\" is not a colour of the form #rrggbb",
            ),
            (
                "[network]\ntor = \"127.0.0.1:0\"\n",
                "network.tor: \"127.0.0.1:0\": port 0 is not a port",
            ),
            (
                "[network]\nforward = [\"tcp:127.0.0.1:631\", \"udp:127.0.0.1:53\"]\n",
                "network.forward: \"udp:127.0.0.1:53\" is not a forward of the form \
                 tcp:127.0.0.1:PORT (only tcp is supported)",
            ),
            (
                "[network]\nmode = \"tor\"\nallow_lan = true\n",
                "network.allow_lan: only mode \"user\" reaches a LAN, not mode \"tor\"",
            ),
        ] {
            let err = Policy::from_toml(text, "p.toml").unwrap_err();
            assert!(matches!(err, Error::Invalid { .. }), "{err:?}");
            assert_eq!(err.to_string(), format!("invalid policy p.toml: {message}"));
        }
        // Errors of type and shape keep their position, even when they quote
        // a text that looks like a refusal.
        for (text, message) in [
            (
                "[display]\ncolor = 5\n",
                "at line 2, column 9: invalid type: integer `5`, expected a string",
            ),
            (
                "[network]\nmode = \"network.tor: x\"\n",
                "at line 2, column 8: unknown variant `network.tor: x`, expected one of \
                 `none`, `host`, `user`, `tor`",
            ),
        ] {
            let err = Policy::from_toml(text, "p.toml").unwrap_err();
            assert!(matches!(err, Error::Parse { .. }), "{err:?}");
            assert_eq!(err.to_string(), format!("invalid policy p.toml {message}"));
        }
    }

    #[test]
    fn unknown_profile_lists_the_known_ones() {
        let err = Policy::builtin("nope").unwrap_err().to_string();
        assert!(err.contains("nope") && err.contains("default"), "{err}");
    }
}
