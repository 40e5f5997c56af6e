//! The `[keyboard]` section: the xkb names of the sandbox's keymap.

use serde::{Deserialize, Serialize};

/// The xkb keymap of the sandbox's keyboard. Empty fields fall back to the
/// XKB_DEFAULT_* variables, then to xkb's defaults (us).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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
    /// Input methods compose text in the apps: the host's (IBus, Fcitx) in
    /// window mode, through zwp_text_input_v3, and `wsbox input
    /// preedit|commit`. Nothing of the app's text goes to the host.
    #[serde(default = "yes")]
    pub input_method: bool,
}

fn yes() -> bool {
    true
}

impl Default for Keyboard {
    fn default() -> Self {
        Self {
            rules: String::new(),
            model: String::new(),
            layout: String::new(),
            variant: String::new(),
            options: String::new(),
            input_method: true,
        }
    }
}
