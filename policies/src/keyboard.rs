//! The `[keyboard]` section: the xkb names of the sandbox's keymap.

use serde::{Deserialize, Serialize};

/// The xkb keymap of the sandbox's keyboard. Empty fields fall back to the
/// XKB_DEFAULT_* variables, then to xkb's defaults (us).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Keyboard {
    #[serde(default)]
    pub rules: String,
    #[serde(default)]
    pub model: String,
    #[serde(default)]
    pub layout: String,
    #[serde(default)]
    pub variant: String,
    #[serde(default)]
    pub options: String,
}
