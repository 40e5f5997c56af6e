//! The `[identity]` section: the host name and machine id the sandbox shows.

use serde::{Deserialize, Serialize};

use crate::error::Refusal;

/// What the sandbox calls itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Identity {
    /// The host name inside the sandbox (UTS namespace and /etc/hostname).
    #[serde(default = "default_hostname")]
    pub hostname: String,
    /// /etc/machine-id: new for every run, or the same for every run of a
    /// sandbox with the same name.
    #[serde(default)]
    pub machine_id: MachineId,
}

impl Default for Identity {
    fn default() -> Self {
        Self {
            hostname: default_hostname(),
            machine_id: MachineId::default(),
        }
    }
}

impl Identity {
    /// Checks what serde cannot: the host name's characters.
    pub(crate) fn check(&self) -> Result<(), Refusal> {
        validate_hostname(&self.hostname).map_err(|m| Refusal::new("identity.hostname", m))
    }
}

/// How the sandbox's /etc/machine-id is made.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MachineId {
    /// Random for every run.
    #[default]
    Random,
    /// Derived from the sandbox's name and a secret key of the invoking
    /// user: stable across runs of one app, unrelated to the host's and to
    /// other apps'.
    Stable,
}

fn default_hostname() -> String {
    "sandbox".to_owned()
}

/// A host name as RFC 1123 allows it: 1–63 letters, digits and inner hyphens.
pub fn validate_hostname(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 63
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{name:?} is not a valid host name (1-63 letters, digits and inner hyphens)"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Policy;

    #[test]
    fn machine_id_is_random_unless_stable_is_asked() {
        assert_eq!(Policy::default().identity.machine_id, MachineId::Random);
        let p = Policy::from_toml("[identity]\nmachine_id = \"stable\"\n", "t").unwrap();
        assert_eq!(p.identity.machine_id, MachineId::Stable);
        assert!(Policy::from_toml("[identity]\nmachine_id = \"host\"\n", "t").is_err());
    }
}
