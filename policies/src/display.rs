//! The `[display]` section: how wsbox marks the sandbox's windows. It only
//! describes the marking; the compositor draws it.

use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::value::parsed_value;

/// The field of the frame colour, as refusals name it.
pub(crate) const COLOR_FIELD: &str = "display.color";

/// How the sandbox's windows are shown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Display {
    /// The colour of wsbox's frame around the sandbox's windows.
    #[serde(default = "default_color")]
    pub color: Rgb,
    /// In window mode: who draws the host window's title bar.
    #[serde(default)]
    pub host_decorations: HostDecorations,
    /// X11 programs: a rootless Xwayland of the sandbox's own, started
    /// inside it (`DISPLAY=:0`). Off by default: a Wayland-only sandbox
    /// has no X server at all.
    #[serde(default)]
    pub x11: bool,
}

impl Default for Display {
    fn default() -> Self {
        Self {
            color: default_color(),
            host_decorations: HostDecorations::default(),
            x11: false,
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

fn default_color() -> Rgb {
    Rgb::from([0xe6, 0x61, 0x00])
}

impl Display {
    /// The frame colour as RGB.
    pub fn rgb(&self) -> [u8; 3] {
        self.color.rgb()
    }
}

/// A colour written `#rrggbb` (either case).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Rgb {
    text: String,
    rgb: [u8; 3],
}

parsed_value!(Rgb, COLOR_FIELD);

impl Rgb {
    /// The red, green and blue bytes.
    pub fn rgb(&self) -> [u8; 3] {
        self.rgb
    }
}

impl From<[u8; 3]> for Rgb {
    fn from(rgb: [u8; 3]) -> Self {
        let [r, g, b] = rgb;
        Self {
            text: format!("#{r:02x}{g:02x}{b:02x}"),
            rgb,
        }
    }
}

impl FromStr for Rgb {
    type Err = ColorError;

    fn from_str(text: &str) -> Result<Self, ColorError> {
        let refuse = || ColorError(text.to_owned());
        let hex = text.strip_prefix('#').ok_or_else(refuse)?;
        // Checked first: the slices below then fall on character boundaries,
        // and from_str_radix never sees a sign.
        if hex.len() != 6 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(refuse());
        }
        let byte = |i: usize| u8::from_str_radix(&hex[i..i + 2], 16).map_err(|_| refuse());
        Ok(Self {
            text: text.to_owned(),
            rgb: [byte(0)?, byte(2)?, byte(4)?],
        })
    }
}

/// A colour that is not `#rrggbb`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a colour of the form #rrggbb")]
pub struct ColorError(String);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::testing::{reads_back, refuses};
    use crate::Policy;

    fn parse_color(text: &str) -> Option<[u8; 3]> {
        text.parse::<Rgb>().ok().map(|color| color.rgb())
    }

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

    #[test]
    fn a_colour_reads_back_as_written() {
        for (text, rgb) in [
            ("#e66100", [0xe6, 0x61, 0x00]),
            ("#FF0080", [255, 0, 128]),
            ("#aBcDeF", [0xab, 0xcd, 0xef]),
        ] {
            assert_eq!(reads_back::<Rgb>(text).rgb(), rgb);
        }
        assert_eq!(Rgb::from([0xe6, 0x61, 0x00]).as_str(), "#e66100");
        assert_eq!(
            Rgb::from([1, 2, 3]).as_str().parse::<Rgb>().unwrap().rgb(),
            [1, 2, 3]
        );
    }

    #[test]
    fn a_refused_colour_is_quoted_and_named_by_its_field() {
        for text in ["red", "", "#", "#ff00800", "#é00000", "#+f0080", " #ff0080"] {
            let message = format!("{text:?} is not a colour of the form #rrggbb");
            refuses::<Rgb>(text, "display.color", &message);
        }
    }

    #[test]
    fn the_policy_keeps_the_colour_as_written() {
        let p = Policy::from_toml("[display]\ncolor = \"#FF0080\"\n", "t").unwrap();
        assert_eq!(p.display.rgb(), [255, 0, 128]);
        assert!(
            p.to_toml().contains("color = \"#FF0080\"\n"),
            "{}",
            p.to_toml()
        );
        assert_eq!(Policy::from_toml(&p.to_toml(), "round").unwrap(), p);
    }
}
