//! What a compositor is configured with, from the policy and the command
//! line. Plain data: wsbox builds it, the compositor reads it, and nothing
//! here depends on the rest of the compositor but the clipboard's own
//! settings.

use crate::clipboard::ClipboardConfig;

/// What a compositor is configured with, from the policy and the command line.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// The sandbox's name, shown in decorations.
    pub name: String,
    /// Output size in physical pixels.
    pub size: (i32, i32),
    /// Output scale (1.0, 1.25, 2.0, …).
    pub scale: f64,
    /// The policy's frame colour, RGB.
    pub color: [u8; 3],
    pub keyboard: KeyboardConfig,
    /// What may cross between the sandbox's clipboard and the host's.
    pub clipboard: ClipboardConfig,
    /// Window mode: let the host draw the title bar when it offers
    /// server-side decorations (wsbox's border stays).
    pub host_decorations: bool,
    /// Keep the last frame that showed a window when the windows go
    /// (`--screenshot` of an app that ends first); off, nothing is kept.
    pub keep_last_frame: bool,
    /// Input methods compose in the apps (the host's in window mode, and
    /// `wsbox input preedit|commit`); off, apps get no composed text.
    pub input_method: bool,
}

/// The xkb keymap names; empty means "from XKB_DEFAULT_*, else the xkb default".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyboardConfig {
    pub rules: String,
    pub model: String,
    pub layout: String,
    pub variant: String,
    pub options: Option<String>,
}
