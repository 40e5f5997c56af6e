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
    /// What a link the app opens (`org.freedesktop.portal.OpenURI`, and
    /// `xdg-open` inside, which uses it) does.
    #[serde(default)]
    pub open_uri: OpenUri,
    /// Where the app's notifications go.
    #[serde(default)]
    pub notifications: NotificationsTo,
    /// Whether the app may print: through the host's print dialog in
    /// window mode, into `print_to` headless.
    #[serde(default = "yes")]
    pub print: bool,
    /// The host directory printed documents are written into (`~` and
    /// `<name>` expanded, made 0700 when missing). Unset: the app cannot
    /// print.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub print_to: Option<String>,
}

/// Where the app's notifications go: `"host"` (listed by `wsbox
/// notifications`, and in window mode shown by the host's notification
/// service, marked) or `"drop"` (nowhere; the app is told they were
/// shown).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum NotificationsTo {
    #[default]
    Host,
    Drop,
}

/// What a link opened inside does: `"deny"` (the app is told no),
/// `"host"` (the host's portal opens it, asking the user which app), or
/// `{ sandbox = "PROFILE" }` (a new sandbox of that built-in profile opens
/// it, e.g. a link in a confined mail client opens in the confined
/// browser).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(
    untagged,
    expecting = "\"deny\", \"host\" or { sandbox = \"PROFILE\", program = \"PROGRAM\" }"
)]
pub enum OpenUri {
    /// `"deny"` or `"host"`.
    Action(UriAction),
    /// `{ sandbox = "PROFILE", program = "PROGRAM" }`.
    Sandbox(UriSandbox),
}

impl Default for OpenUri {
    fn default() -> Self {
        OpenUri::Action(UriAction::Deny)
    }
}

/// `"deny"` or `"host"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum UriAction {
    Deny,
    Host,
}

/// A sandbox of a built-in profile that opens the links.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UriSandbox {
    /// The built-in profile.
    pub sandbox: String,
    /// The program that opens the link, given it as its argument. Unset:
    /// the profile's usual program (`firefox-esr` for `browser` and
    /// `tor-browser`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub program: Option<String>,
}

impl UriSandbox {
    /// The program that opens the links.
    pub fn program(&self) -> Option<&str> {
        self.program
            .as_deref()
            .or_else(|| usual_program(&self.sandbox))
    }
}

/// The program a built-in profile is usually run with.
fn usual_program(profile: &str) -> Option<&'static str> {
    match profile {
        "browser" | "tor-browser" => Some("firefox-esr"),
        "mail" => Some("thunderbird"),
        _ => None,
    }
}

impl Eq for Portal {}

impl Default for Portal {
    fn default() -> Self {
        Self {
            enabled: None,
            open: OpenAccess::default(),
            never: default_never(),
            settings: PortalSettings::default(),
            open_uri: OpenUri::default(),
            notifications: NotificationsTo::default(),
            print: true,
            print_to: None,
        }
    }
}

fn yes() -> bool {
    true
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
        if let Some(dir) = &self.print_to {
            let path = dir.replace("<name>", "name");
            validate_host_path(Path::new(&path))
                .map_err(|message| Refusal::new("portal.print_to", message))?;
            // Not a place where a new file has effects (~/.config/autostart,
            // ~/.bashrc.d), nor the home or the root itself.
            let hidden = Path::new(&path)
                .components()
                .any(|c| c.as_os_str().to_string_lossy().starts_with('.'));
            if hidden || matches!(path.trim_end_matches('/'), "" | "~") {
                return Err(Refusal::new(
                    "portal.print_to",
                    format!("{dir:?} is the home, the root or a hidden place: name a directory of its own"),
                ));
            }
        }
        if let OpenUri::Sandbox(target) = &self.open_uri {
            if !crate::PRESETS
                .iter()
                .any(|(name, _)| *name == target.sandbox)
            {
                let names: Vec<&str> = crate::PRESETS.iter().map(|(name, _)| *name).collect();
                return Err(Refusal::new(
                    "portal.open_uri.sandbox",
                    format!(
                        "{:?} is not a built-in profile ({})",
                        target.sandbox,
                        names.join(", ")
                    ),
                ));
            }
            match target.program() {
                None => {
                    return Err(Refusal::new(
                        "portal.open_uri.program",
                        format!(
                            "profile {} has no usual program: name the one that opens links",
                            target.sandbox
                        ),
                    ))
                }
                Some(program)
                    if program.is_empty()
                        || program.starts_with('-')
                        || program.chars().any(|c| c.is_control() || c.is_whitespace()) =>
                {
                    return Err(Refusal::new(
                        "portal.open_uri.program",
                        format!("{program:?} is not a program name or path"),
                    ))
                }
                Some(_) => {}
            }
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
        assert_eq!(p.portal.open_uri, OpenUri::Action(UriAction::Deny));
        let p = Policy::from_toml("[portal]\nopen_uri = \"host\"\n", "t").unwrap();
        assert_eq!(p.portal.open_uri, OpenUri::Action(UriAction::Host));
        let p = Policy::from_toml("[portal]\nopen_uri = { sandbox = \"browser\" }\n", "t").unwrap();
        let OpenUri::Sandbox(target) = &p.portal.open_uri else {
            panic!("{:?}", p.portal.open_uri)
        };
        assert_eq!(target.program(), Some("firefox-esr"));
        for bad in [
            "open_uri = \"ask\"",
            "open_uri = { sandbox = \"browser\", url = \"x\" }",
        ] {
            let err = Policy::from_toml(&format!("[portal]\n{bad}\n"), "t").unwrap_err();
            assert!(err.to_string().contains("\"deny\", \"host\" or"), "{err}");
        }
        for bad in [
            "~",
            "/",
            "~/.config/autostart",
            "/home/u/.bashrc.d",
            "relative",
        ] {
            let err =
                Policy::from_toml(&format!("[portal]\nprint_to = \"{bad}\"\n"), "t").unwrap_err();
            assert!(err.to_string().contains("portal.print_to"), "{bad}: {err}");
        }
        Policy::from_toml("[portal]\nprint_to = \"~/wsbox-print/<name>\"\n", "t").unwrap();
        for (bad, field) in [
            ("{ sandbox = \"nope\" }", "portal.open_uri.sandbox"),
            ("{ sandbox = \"pdf\" }", "portal.open_uri.program"),
            (
                "{ sandbox = \"pdf\", program = \"--evil\" }",
                "portal.open_uri.program",
            ),
        ] {
            let err = Policy::from_toml(&format!("[portal]\nopen_uri = {bad}\n"), "t").unwrap_err();
            assert!(err.to_string().contains(field), "{bad}: {err}");
        }
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
