//! The `[display]` section: how wsbox marks the sandbox's windows.

use serde::{Deserialize, Serialize};

/// How the sandbox's windows are shown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Display {
    /// The colour of wsbox's frame around the sandbox's windows, `#rrggbb`.
    #[serde(default = "default_color")]
    pub color: String,
    /// In window mode: who draws the host window's title bar.
    #[serde(default)]
    pub host_decorations: HostDecorations,
}

impl Default for Display {
    fn default() -> Self {
        Self {
            color: default_color(),
            host_decorations: HostDecorations::default(),
        }
    }
}

/// Who draws the title bar of a sandbox's host window. wsbox's coloured
/// border is drawn either way: the marking never depends on the host.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HostDecorations {
    /// wsbox draws its own title bar with the marked title and a close
    /// button, on every host.
    #[default]
    Own,
    /// The host draws its title bar (xdg-decoration server-side) when it
    /// offers one, showing the marked title wsbox sets; wsbox's own bar
    /// otherwise. wsbox's border and a thin strip with the marked title
    /// stay either way.
    Server,
}

fn default_color() -> String {
    "#e66100".to_owned()
}

impl Display {
    /// The frame colour as RGB; `validate` has checked it.
    pub fn rgb(&self) -> [u8; 3] {
        parse_color(&self.color).unwrap_or([0xe6, 0x61, 0x00])
    }
}

/// Parses `#rrggbb`.
pub fn parse_color(text: &str) -> Option<[u8; 3]> {
    let hex = text.strip_prefix('#')?;
    if hex.len() != 6 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let byte = |i: usize| u8::from_str_radix(&hex[i..i + 2], 16).ok();
    Some([byte(0)?, byte(2)?, byte(4)?])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Policy;

    #[test]
    fn colors_parse_and_bad_ones_are_refused() {
        assert_eq!(parse_color("#ff0080"), Some([255, 0, 128]));
        assert_eq!(parse_color("ff0080"), None);
        assert_eq!(parse_color("#ff008"), None);
        assert_eq!(parse_color("#gg0000"), None);
        let err = Policy::from_toml("[display]\ncolor = \"red\"\n", "t")
            .unwrap_err()
            .to_string();
        assert!(err.contains("display.color"), "{err}");
        assert_eq!(Policy::default().display.rgb(), [0xe6, 0x61, 0x00]);
    }
}
