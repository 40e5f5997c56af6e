//! What the Settings portal tells the app: the keys apps read at start,
//! from an allowlist, each of a fixed type. In window mode the values are
//! the host's (read from the host's Settings portal when the sandbox
//! starts); in headless mode the policy's `[portal.settings]`. No other
//! key, and no write.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};
use wsbox_policies::PortalSettings;
use zbus::zvariant::{OwnedValue, Value};

/// One setting's value, of the type its key has.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Setting {
    U32(u32),
    I32(i32),
    F64(f64),
    Bool(bool),
    Str(String),
    /// sRGB, each in [0, 1].
    Rgb(f64, f64, f64),
}

impl Setting {
    fn value(&self) -> OwnedValue {
        match self {
            Setting::U32(v) => OwnedValue::from(*v),
            Setting::I32(v) => OwnedValue::from(*v),
            Setting::F64(v) => OwnedValue::from(*v),
            Setting::Bool(v) => OwnedValue::from(*v),
            // Strings and structures of plain values hold no fd: the
            // conversion cannot fail.
            Setting::Str(v) => OwnedValue::try_from(Value::from(v.as_str()))
                .unwrap_or_else(|_| OwnedValue::from(0u32)),
            Setting::Rgb(r, g, b) => OwnedValue::try_from(Value::from((*r, *g, *b)))
                .unwrap_or_else(|_| OwnedValue::from(0u32)),
        }
    }

    /// The kind of value, to check one from the host against the allowlist.
    fn same_type(&self, other: &Setting) -> bool {
        std::mem::discriminant(self) == std::mem::discriminant(other)
    }
}

pub const APPEARANCE: &str = "org.freedesktop.appearance";
pub const INTERFACE: &str = "org.gnome.desktop.interface";
pub const A11Y: &str = "org.gnome.desktop.a11y.interface";

/// The keys served, with a value of their type.
pub const ALLOWED: &[(&str, &str, Setting)] = &[
    (APPEARANCE, "color-scheme", Setting::U32(0)),
    (APPEARANCE, "accent-color", Setting::Rgb(0.0, 0.0, 0.0)),
    (INTERFACE, "color-scheme", Setting::Str(String::new())),
    (INTERFACE, "gtk-theme", Setting::Str(String::new())),
    (INTERFACE, "icon-theme", Setting::Str(String::new())),
    (INTERFACE, "cursor-theme", Setting::Str(String::new())),
    (INTERFACE, "cursor-size", Setting::I32(0)),
    (INTERFACE, "font-name", Setting::Str(String::new())),
    (
        INTERFACE,
        "monospace-font-name",
        Setting::Str(String::new()),
    ),
    (INTERFACE, "text-scaling-factor", Setting::F64(0.0)),
    (A11Y, "high-contrast", Setting::Bool(false)),
];

/// The settings one sandbox is told.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Settings {
    values: BTreeMap<String, BTreeMap<String, Setting>>,
}

impl Settings {
    /// Keeps `value` if its key is allowed and of the key's type.
    pub fn set(&mut self, namespace: &str, key: &str, value: Setting) -> bool {
        let allowed = ALLOWED
            .iter()
            .any(|(ns, k, kind)| *ns == namespace && *k == key && kind.same_type(&value));
        if allowed {
            self.values
                .entry(namespace.to_owned())
                .or_default()
                .insert(key.to_owned(), value);
        }
        allowed
    }

    /// The policy's settings (headless mode).
    pub fn from_policy(p: &PortalSettings) -> Self {
        let mut s = Settings::default();
        let scheme = p.color_scheme.portal_value();
        s.set(APPEARANCE, "color-scheme", Setting::U32(scheme));
        let name = match scheme {
            1 => "prefer-dark",
            2 => "prefer-light",
            _ => "default",
        };
        s.set(INTERFACE, "color-scheme", Setting::Str(name.into()));
        for (key, value) in [
            ("gtk-theme", &p.gtk_theme),
            ("icon-theme", &p.icon_theme),
            ("cursor-theme", &p.cursor_theme),
            ("font-name", &p.font_name),
            ("monospace-font-name", &p.monospace_font_name),
        ] {
            if let Some(value) = value {
                s.set(INTERFACE, key, Setting::Str(value.clone()));
            }
        }
        if let Some(size) = p.cursor_size {
            s.set(INTERFACE, "cursor-size", Setting::I32(size));
        }
        if let Some(factor) = p.text_scaling_factor {
            s.set(INTERFACE, "text-scaling-factor", Setting::F64(factor));
        }
        s
    }

    /// `ReadAll`: every key of the namespaces asked for; none or `""`
    /// means all, and a trailing `*` matches a prefix.
    pub fn read_all(&self, namespaces: &[String]) -> HashMap<String, HashMap<String, OwnedValue>> {
        let wanted = |ns: &str| {
            namespaces.is_empty()
                || namespaces.iter().any(|w| {
                    w.is_empty()
                        || w == ns
                        || w.strip_suffix('*')
                            .is_some_and(|prefix| ns.starts_with(prefix))
                })
        };
        self.values
            .iter()
            .filter(|(ns, _)| wanted(ns))
            .map(|(ns, keys)| {
                let keys = keys.iter().map(|(k, v)| (k.clone(), v.value())).collect();
                (ns.clone(), keys)
            })
            .collect()
    }

    /// One key's value.
    pub fn get(&self, namespace: &str, key: &str) -> Option<OwnedValue> {
        Some(self.values.get(namespace)?.get(key)?.value())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_allowed_keys_of_their_type_are_served() {
        let mut s = Settings::default();
        assert!(s.set(APPEARANCE, "color-scheme", Setting::U32(1)));
        assert!(!s.set(APPEARANCE, "color-scheme", Setting::Str("dark".into())));
        assert!(!s.set(
            "org.gnome.desktop.background",
            "picture-uri",
            Setting::Str("x".into())
        ));
        assert!(s.set(INTERFACE, "font-name", Setting::Str("Cantarell 11".into())));
        assert_eq!(
            s.get(APPEARANCE, "color-scheme"),
            Some(OwnedValue::from(1u32))
        );
        assert_eq!(s.get(APPEARANCE, "contrast"), None);
        let all = s.read_all(&["org.gnome.*".into()]);
        assert_eq!(all.len(), 1);
        assert!(all[INTERFACE].contains_key("font-name"));
        assert_eq!(s.read_all(&[]).len(), 2);
        assert_eq!(s.read_all(&["org.freedesktop.appearance".into()]).len(), 1);
    }

    #[test]
    fn the_policy_gives_the_scheme_and_only_the_names_it_sets() {
        let mut p = PortalSettings::default();
        let s = Settings::from_policy(&p);
        assert_eq!(
            s.get(APPEARANCE, "color-scheme"),
            Some(OwnedValue::from(0u32))
        );
        assert_eq!(s.get(INTERFACE, "gtk-theme"), None);
        p.gtk_theme = Some("Adwaita-dark".into());
        p.color_scheme = wsbox_policies::ColorScheme::PreferDark;
        let s = Settings::from_policy(&p);
        assert_eq!(
            s.get(APPEARANCE, "color-scheme"),
            Some(OwnedValue::from(1u32))
        );
        assert!(s.get(INTERFACE, "gtk-theme").is_some());
    }
}
