//! The `[a11y]` section: whether the app's accessibility tree (AT-SPI)
//! reaches the host's screen reader.
//!
//! The one field whose default is not the strictest setting: a user who
//! needs a screen reader cannot use an app whose sandbox hides it, and the
//! channel is narrow (a filtering proxy of the host's accessibility bus,
//! only where the host has one; docs/a11y.md says what crosses).

use serde::{Deserialize, Serialize};

/// The app and the host's accessibility bus.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct A11y {
    /// Where the host has an accessibility bus and the sandbox a display
    /// (window or headless), the app reaches that bus through a filtering
    /// proxy, so that a screen reader on the host reads and drives it.
    /// False: the app gets no accessibility bus.
    #[serde(default = "default_enabled")]
    pub enabled: bool,
}

fn default_enabled() -> bool {
    true
}

impl Default for A11y {
    fn default() -> Self {
        Self {
            enabled: default_enabled(),
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::Policy;

    #[test]
    fn on_unless_the_policy_turns_it_off() {
        assert!(Policy::from_toml("", "t").unwrap().a11y.enabled);
        let off = Policy::from_toml("[a11y]\nenabled = false\n", "t").unwrap();
        assert!(!off.a11y.enabled);
        assert!(Policy::from_toml("[a11y]\nenabled = \"yes\"\n", "t").is_err());
        assert!(Policy::from_toml("[a11y]\nbus = true\n", "t").is_err());
        assert!(Policy::default()
            .to_toml()
            .contains("[a11y]\nenabled = true\n"));
    }
}
