//! The `[environment]` section: the app's variables, and the host session's
//! that never enter a sandbox.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::Refusal;

/// Host environment variables that belong to the host session and must never be
/// passed into a sandbox: each one names a socket or credential outside it.
pub const HOST_SESSION_VARIABLES: &[&str] = &[
    "DBUS_SESSION_BUS_ADDRESS",
    "DBUS_SYSTEM_BUS_ADDRESS",
    "AT_SPI_BUS_ADDRESS",
    "DISPLAY",
    "XAUTHORITY",
    "WAYLAND_DISPLAY",
    "WAYLAND_SOCKET",
    "SSH_AUTH_SOCK",
    "SSH_AGENT_PID",
    "GPG_AGENT_INFO",
    "XDG_RUNTIME_DIR",
    "XDG_SESSION_ID",
    "XDG_SEAT",
    "XDG_VTNR",
    "PULSE_SERVER",
    "PIPEWIRE_REMOTE",
    "SESSION_MANAGER",
    "KRB5CCNAME",
    "LD_PRELOAD",
    "LD_LIBRARY_PATH",
    "LD_AUDIT",
];

/// The environment of the app. It starts empty: wsbox sets HOME, USER, PATH,
/// XDG_RUNTIME_DIR and friends, then adds what is listed here.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Environment {
    /// Host variables passed through when set on the host.
    #[serde(default)]
    pub pass: Vec<String>,
    /// Variables set to fixed values (they win over `pass`).
    #[serde(default)]
    pub set: BTreeMap<String, String>,
}

impl Environment {
    /// Checks what serde cannot: the names, the host session's variables
    /// and NUL bytes.
    pub(crate) fn check(&self) -> Result<(), Refusal> {
        for name in &self.pass {
            validate_env_name(name).map_err(|m| Refusal::new("environment.pass", m))?;
            if HOST_SESSION_VARIABLES.contains(&name.as_str()) || name.starts_with("DBUS_") {
                return Err(Refusal::new(
                    "environment.pass",
                    format!(
                        "{name} belongs to the host session and is never passed into a sandbox"
                    ),
                ));
            }
        }
        for (name, value) in &self.set {
            validate_env_name(name).map_err(|m| Refusal::new("environment.set", m))?;
            if value.contains('\0') {
                return Err(Refusal::new(
                    format!("environment.set.{name}"),
                    "value contains a NUL byte",
                ));
            }
        }
        Ok(())
    }
}

/// An environment variable name: letters, digits and underscores, not starting with a digit.
pub fn validate_env_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        && !name.as_bytes()[0].is_ascii_digit();
    if ok {
        Ok(())
    } else {
        Err(format!("{name:?} is not a valid environment variable name"))
    }
}

#[cfg(test)]
mod tests {
    use crate::Policy;

    #[test]
    fn host_session_variables_cannot_be_passed() {
        for name in [
            "DBUS_SESSION_BUS_ADDRESS",
            "DISPLAY",
            "WAYLAND_DISPLAY",
            "DBUS_FOO",
        ] {
            let text = format!("[environment]\npass = [\"{name}\"]\n");
            let err = Policy::from_toml(&text, "t").unwrap_err().to_string();
            assert!(err.contains(name), "{err}");
        }
    }
}
