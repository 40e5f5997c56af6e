//! The `[clipboard]` section: what may cross between the sandbox's clipboard
//! and the host's.

use serde::{Deserialize, Serialize};

use crate::error::Refusal;

/// What may cross between the sandbox's clipboard and the host's (window
/// mode). Inside one sandbox the clipboard always works; the primary
/// selection never crosses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Clipboard {
    #[serde(default)]
    pub mode: ClipboardMode,
    /// The most bytes one copy or paste carries across; larger ones are
    /// refused whole.
    #[serde(default = "default_clipboard_max_bytes")]
    pub max_bytes: u64,
}

impl Default for Clipboard {
    fn default() -> Self {
        Self {
            mode: ClipboardMode::default(),
            max_bytes: default_clipboard_max_bytes(),
        }
    }
}

impl Clipboard {
    /// Checks what serde cannot: the size limit's range.
    pub(crate) fn check(&self) -> Result<(), Refusal> {
        if (1..=CLIPBOARD_MAX_BYTES_LIMIT).contains(&self.max_bytes) {
            return Ok(());
        }
        Err(Refusal::new(
            "clipboard.max_bytes",
            format!(
                "{} is not between 1 and {CLIPBOARD_MAX_BYTES_LIMIT}",
                self.max_bytes
            ),
        ))
    }
}

fn default_clipboard_max_bytes() -> u64 {
    1 << 20
}

/// The largest `clipboard.max_bytes`: what crosses is held in memory.
pub const CLIPBOARD_MAX_BYTES_LIMIT: u64 = 64 << 20;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ClipboardMode {
    /// Only by the user's gesture in the sandbox's window: Ctrl+Shift+C
    /// copies the sandbox's selection to the host, Ctrl+Shift+V the host's
    /// into the sandbox. Text only, at most `max_bytes`.
    #[default]
    Gesture,
    /// Nothing crosses, ever.
    Isolated,
    /// The convenience choice, less safe: the clipboard follows the host's
    /// keyboard focus. While the sandbox's window has it, the host's
    /// selection is copied in and what an app inside copies goes out (text
    /// only, at most `max_bytes`); an app inside can read whatever the user
    /// copied elsewhere once its window is focused.
    Auto,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{HostDecorations, Policy};

    #[test]
    fn clipboard_defaults_to_gesture_and_checks_its_fields() {
        let policy = Policy::from_toml("", "t").unwrap();
        assert_eq!(policy.clipboard.mode, ClipboardMode::Gesture);
        assert_eq!(policy.clipboard.max_bytes, 1 << 20);
        let policy =
            Policy::from_toml("[clipboard]\nmode = \"isolated\"\nmax_bytes = 4096\n", "t").unwrap();
        assert_eq!(policy.clipboard.mode, ClipboardMode::Isolated);
        assert_eq!(policy.clipboard.max_bytes, 4096);
        let policy = Policy::from_toml("[clipboard]\nmode = \"auto\"\n", "t").unwrap();
        assert_eq!(policy.clipboard.mode, ClipboardMode::Auto);
        let policy = Policy::from_toml("[display]\nhost_decorations = \"server\"\n", "t").unwrap();
        assert_eq!(policy.display.host_decorations, HostDecorations::Server);
        assert!(Policy::from_toml("[display]\nhost_decorations = \"host\"\n", "t").is_err());
        for (text, field) in [
            ("[clipboard]\nmax_bytes = 0\n", "clipboard.max_bytes"),
            (
                "[clipboard]\nmax_bytes = 100000000000\n",
                "clipboard.max_bytes",
            ),
        ] {
            let err = Policy::from_toml(text, "t").unwrap_err().to_string();
            assert!(err.contains(field), "{err}");
        }
        let err = Policy::from_toml("[clipboard]\nmode = \"open\"\n", "t")
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown variant `open`"), "{err}");
    }
}
