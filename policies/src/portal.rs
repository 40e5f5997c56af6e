//! The `[portal]` section: the sandbox's private session bus, and what its
//! portal may grant and tell the app.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::Refusal;
use crate::filesystem::validate_host_path;

/// The private session bus and the portal wsbox serves on it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Portal {
    /// Whether the sandbox gets a private session bus with wsbox's portal.
    /// Unset: yes with a display (window or headless), no with
    /// `--display none`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// What a file the user chose in an Open dialog becomes inside.
    #[serde(default)]
    pub open: OpenAccess,
    /// Host paths never granted through the portal, whatever the user
    /// chooses (`~` is the user's home). wsbox's own directories, `/proc`,
    /// `/sys` and `/dev` are refused in any case.
    #[serde(default = "default_never")]
    pub never: Vec<String>,
    /// What the Settings portal tells the app in headless mode (in window
    /// mode the host's portal says).
    #[serde(default)]
    pub settings: PortalSettings,
}

impl Eq for Portal {}

impl Default for Portal {
    fn default() -> Self {
        Self {
            enabled: None,
            open: OpenAccess::default(),
            never: default_never(),
            settings: PortalSettings::default(),
        }
    }
}

fn default_never() -> Vec<String> {
    vec!["~/.ssh".into(), "~/.gnupg".into()]
}

/// What a file chosen in an Open dialog becomes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OpenAccess {
    /// A document the app may save in place (a directory: read-write).
    #[default]
    ReadWrite,
    /// Read-only, files and directories.
    ReadOnly,
}

/// `org.freedesktop.appearance` `color-scheme`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ColorScheme {
    #[default]
    Default,
    PreferDark,
    PreferLight,
}

impl ColorScheme {
    /// The portal's number: 0 no preference, 1 dark, 2 light.
    pub fn portal_value(self) -> u32 {
        match self {
            ColorScheme::Default => 0,
            ColorScheme::PreferDark => 1,
            ColorScheme::PreferLight => 2,
        }
    }
}

/// The desktop settings the portal serves in headless mode. Names unset
/// are not served: toolkits use their own defaults.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PortalSettings {
    #[serde(default)]
    pub color_scheme: ColorScheme,
    /// `org.gnome.desktop.interface` `gtk-theme`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gtk_theme: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub icon_theme: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor_theme: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor_size: Option<i32>,
    /// e.g. `"Cantarell 11"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub font_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub monospace_font_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text_scaling_factor: Option<f64>,
}

impl Eq for PortalSettings {}

/// The longest setting value: names of themes and fonts.
const NAME_MAX: usize = 256;

impl Portal {
    pub(crate) fn check(&self) -> Result<(), Refusal> {
        for path in &self.never {
            validate_host_path(Path::new(path))
                .map_err(|message| Refusal::new("portal.never", message))?;
        }
        self.settings.check()
    }
}

impl PortalSettings {
    fn check(&self) -> Result<(), Refusal> {
        for (field, value) in [
            ("portal.settings.gtk_theme", &self.gtk_theme),
            ("portal.settings.icon_theme", &self.icon_theme),
            ("portal.settings.cursor_theme", &self.cursor_theme),
            ("portal.settings.font_name", &self.font_name),
            (
                "portal.settings.monospace_font_name",
                &self.monospace_font_name,
            ),
        ] {
            let Some(value) = value else { continue };
            if value.is_empty() || value.len() > NAME_MAX || value.chars().any(char::is_control) {
                return Err(Refusal::new(
                    field,
                    format!("{value:?} is not a name of 1 to {NAME_MAX} printable characters"),
                ));
            }
        }
        if let Some(size) = self.cursor_size {
            if !(1..=512).contains(&size) {
                return Err(Refusal::new(
                    "portal.settings.cursor_size",
                    format!("{size} is not between 1 and 512"),
                ));
            }
        }
        if let Some(factor) = self.text_scaling_factor {
            if !(factor.is_finite() && (0.5..=3.0).contains(&factor)) {
                return Err(Refusal::new(
                    "portal.settings.text_scaling_factor",
                    format!("{factor} is not between 0.5 and 3"),
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Policy;

    #[test]
    fn the_portal_defaults_and_checks_its_fields() {
        let p = Policy::from_toml("", "t").unwrap();
        assert_eq!(p.portal.enabled, None);
        assert_eq!(p.portal.open, OpenAccess::ReadWrite);
        assert_eq!(p.portal.never, ["~/.ssh", "~/.gnupg"]);
        assert_eq!(p.portal.settings.color_scheme.portal_value(), 0);
        let p = Policy::from_toml(
            "[portal]\nenabled = false\nopen = \"read-only\"\nnever = [\"/srv/secret\"]\n\
             [portal.settings]\ncolor_scheme = \"prefer-dark\"\nfont_name = \"Cantarell 11\"\n\
             text_scaling_factor = 1.25\n",
            "t",
        )
        .unwrap();
        assert_eq!(p.portal.enabled, Some(false));
        assert_eq!(p.portal.open, OpenAccess::ReadOnly);
        assert_eq!(p.portal.settings.color_scheme.portal_value(), 1);
        for (bad, field) in [
            ("[portal]\nnever = [\"relative\"]", "portal.never"),
            ("[portal]\nnever = [\"/a/../b\"]", "portal.never"),
            (
                "[portal.settings]\ncursor_size = 0",
                "portal.settings.cursor_size",
            ),
            (
                "[portal.settings]\nfont_name = \"\"",
                "portal.settings.font_name",
            ),
            (
                "[portal.settings]\ngtk_theme = \"a\\nb\"",
                "portal.settings.gtk_theme",
            ),
            (
                "[portal.settings]\ntext_scaling_factor = 9.0",
                "portal.settings.text_scaling_factor",
            ),
        ] {
            let err = Policy::from_toml(bad, "t").unwrap_err().to_string();
            assert!(err.contains(field), "{bad}: {err}");
        }
        assert!(Policy::from_toml("[portal]\nopen = \"write\"\n", "t").is_err());
        assert!(Policy::from_toml("[portal]\nno_such = 1\n", "t").is_err());
    }
}
