//! The policy model of wsbox: what a sandbox may see and do, as plain serde data.
//!
//! This crate only parses, validates and describes policies. It never touches the
//! system: the sandbox runtime and the compositor turn a [`Policy`] into action.
//! Every section has defaults, so a policy file names only what it changes, and
//! unknown fields are errors so a typo never silently weakens a sandbox.

mod clipboard;
mod display;
mod environment;
mod error;
mod filesystem;
mod identity;
mod keyboard;
mod network;
mod security;

use std::path::Path;

use serde::{Deserialize, Serialize};

pub use clipboard::{Clipboard, ClipboardMode, CLIPBOARD_MAX_BYTES_LIMIT};
pub use display::{parse_color, Display, HostDecorations};
pub use environment::{validate_env_name, Environment, HOST_SESSION_VARIABLES};
pub use error::Error;
pub use filesystem::{validate_host_path, validate_sandbox_path, Access, Bind, Filesystem, Home};
pub use identity::{validate_hostname, Identity, MachineId};
pub use keyboard::Keyboard;
pub use network::{
    parse_forward, parse_socket_addr, Network, NetworkMode, MAX_FORWARDS, TOR_PORTS,
    TOR_SOCKS_DEFAULT,
};
pub use security::{Requirement, Security};

/// The built-in profiles, embedded in the binary.
pub const PRESETS: &[(&str, &str)] = &[("default", include_str!("../presets/default.toml"))];

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
}

impl Policy {
    /// Parses and validates policy text. `origin` names the source in errors.
    pub fn from_toml(text: &str, origin: &str) -> Result<Self, Error> {
        let policy: Policy = toml::from_str(text).map_err(|err| Error::Parse {
            origin: origin.to_owned(),
            location: err
                .span()
                .map(|span| {
                    let (line, column) = line_column(text, span.start);
                    format!(" at line {line}, column {column}")
                })
                .unwrap_or_default(),
            message: err.message().trim().replace('\n', " "),
        })?;
        policy.validate(origin)?;
        Ok(policy)
    }

    /// Loads a policy file.
    pub fn from_file(path: &Path) -> Result<Self, Error> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::Read {
            path: path.to_owned(),
            source,
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

    /// Checks what serde cannot: paths, names and reserved places.
    pub fn validate(&self, origin: &str) -> Result<(), Error> {
        let invalid = |field: String, message: String| Error::Invalid {
            origin: origin.to_owned(),
            field,
            message,
        };
        validate_hostname(&self.identity.hostname)
            .map_err(|m| invalid("identity.hostname".into(), m))?;
        if parse_color(&self.display.color).is_none() {
            return Err(invalid(
                "display.color".into(),
                format!(
                    "{:?} is not a colour of the form #rrggbb",
                    self.display.color
                ),
            ));
        }
        if !(1..=CLIPBOARD_MAX_BYTES_LIMIT).contains(&self.clipboard.max_bytes) {
            return Err(invalid(
                "clipboard.max_bytes".into(),
                format!(
                    "{} is not between 1 and {CLIPBOARD_MAX_BYTES_LIMIT}",
                    self.clipboard.max_bytes
                ),
            ));
        }
        self.validate_network()
            .map_err(|(field, m)| invalid(field.into(), m))?;
        for (i, bind) in self.filesystem.bind.iter().enumerate() {
            let field = format!("filesystem.bind[{i}]");
            validate_host_path(&bind.host).map_err(|m| invalid(format!("{field}.host"), m))?;
            validate_sandbox_path(bind.target())
                .map_err(|m| invalid(format!("{field}.sandbox"), m))?;
        }
        if let Some(home) = &self.filesystem.home {
            validate_host_path(&home.persist)
                .map_err(|m| invalid("filesystem.home.persist".into(), m))?;
        }
        for name in &self.environment.pass {
            validate_env_name(name).map_err(|m| invalid("environment.pass".into(), m))?;
            if HOST_SESSION_VARIABLES.contains(&name.as_str()) || name.starts_with("DBUS_") {
                return Err(invalid(
                    "environment.pass".into(),
                    format!(
                        "{name} belongs to the host session and is never passed into a sandbox"
                    ),
                ));
            }
        }
        for (name, value) in &self.environment.set {
            validate_env_name(name).map_err(|m| invalid("environment.set".into(), m))?;
            if value.contains('\0') {
                return Err(invalid(
                    format!("environment.set.{name}"),
                    "value contains a NUL byte".into(),
                ));
            }
        }
        Ok(())
    }
}

impl Policy {
    fn validate_network(&self) -> Result<(), (&'static str, String)> {
        let net = &self.network;
        let tor = parse_socket_addr(&net.tor).map_err(|m| ("network.tor", m))?;
        let mut inside = Vec::new();
        if net.mode == NetworkMode::Tor {
            inside.push(parse_socket_addr(TOR_SOCKS_DEFAULT).unwrap_or(tor));
        }
        if net.forward.len() > MAX_FORWARDS {
            return Err((
                "network.forward",
                format!("{} forwards; at most {MAX_FORWARDS}", net.forward.len()),
            ));
        }
        for forward in &net.forward {
            let addr = parse_forward(forward).map_err(|m| ("network.forward", m))?;
            if net.mode == NetworkMode::Host {
                return Err((
                    "network.forward",
                    format!(
                        "{forward:?}: mode \"host\" shares the host's loopback already; \
                         forwards need mode none, user or tor"
                    ),
                ));
            }
            if inside.contains(&addr) {
                return Err((
                    "network.forward",
                    format!("{forward:?}: port {} is already in use inside", addr.port()),
                ));
            }
            if net.mode == NetworkMode::Tor
                && (TOR_PORTS.contains(&addr.port()) || addr.port() == tor.port())
            {
                return Err((
                    "network.forward",
                    format!(
                        "{forward:?}: port {} is one of Tor's own (SOCKS, control or \
                         transparent proxy port); in mode \"tor\" it is not forwarded, the \
                         app gets Tor only through 127.0.0.1:9050",
                        addr.port()
                    ),
                ));
            }
            inside.push(addr);
        }
        if self.filesystem.sys && net.mode == NetworkMode::Host {
            return Err((
                "filesystem.sys",
                "a sysfs cannot be mounted in the host's network namespace (mode \"host\"); \
                 use another network mode or no /sys"
                    .into(),
            ));
        }
        if net.allow_lan && net.mode != NetworkMode::User {
            return Err((
                "network.allow_lan",
                format!(
                    "only mode \"user\" reaches a LAN, not mode {:?}",
                    net.mode.name()
                ),
            ));
        }
        Ok(())
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
    fn unknown_profile_lists_the_known_ones() {
        let err = Policy::builtin("nope").unwrap_err().to_string();
        assert!(err.contains("nope") && err.contains("default"), "{err}");
    }
}
