//! What the plan depends on in the host's file system, gathered once into
//! a [`HostLayout`] by [`HostLayout::probe`] so that the plan stays pure and
//! can be tested for merged-/usr and split layouts alike. The only part of
//! `plan` that reads the host: it looks only at the names listed here, and
//! never decides what is mounted.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::etc::ETC_NEVER;

/// Top-level directories that are either symlinks into /usr (merged /usr) or
/// real directories to bind read-only.
const SYSTEM_DIRS: &[&str] = &["bin", "sbin", "lib", "lib32", "lib64", "libx32"];

/// The part of the host's /etc that ordinary programs need, bound read-only.
/// Anything not listed stays invisible: shadow, ssh keys, NetworkManager
/// connections, the host's machine-id and hostname, sudoers, crontabs, …
pub const ETC_ALLOWLIST: &[&str] = &[
    "alternatives",
    "bash.bashrc",
    "ca-certificates",
    "debian_version",
    "dconf",
    "fonts",
    "gai.conf",
    "glvnd",
    "gtk-2.0",
    "gtk-3.0",
    "host.conf",
    "inputrc",
    "ld.so.cache",
    "ld.so.conf",
    "ld.so.conf.d",
    "locale.alias",
    "locale.conf",
    "localtime",
    "magic",
    "magic.mime",
    "mailcap",
    "mime.types",
    "nsswitch.conf",
    "os-release",
    "pki",
    "profile",
    "protocols",
    "services",
    "shells",
    "ssl",
    "terminfo",
    "timezone",
    "vulkan",
    "X11",
    "xdg",
];

/// What the plan needs to know about the host's file system.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostLayout {
    /// Top-level system directories: name → `Some(link target)` for a symlink,
    /// `None` for a real directory. Absent names do not exist.
    pub system_dirs: BTreeMap<String, Option<PathBuf>>,
    /// Allowlisted /etc entries that exist: name → what they are.
    pub etc: BTreeMap<String, EtcEntry>,
    /// Whether the host has fontconfig's system cache
    /// ([`FONT_CACHE`]): shown read-only, so that apps do not rebuild it
    /// at every start.
    pub font_cache: bool,
}

/// fontconfig's system-wide cache on Debian.
pub const FONT_CACHE: &str = "/var/cache/fontconfig";

/// The kind of an /etc entry on the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EtcEntry {
    File,
    Dir,
    Symlink(PathBuf),
}

impl HostLayout {
    /// Reads the layout of the host root `root` (normally `/`).
    pub fn probe(root: &Path) -> Self {
        let mut layout = HostLayout::default();
        for name in SYSTEM_DIRS {
            let path = root.join(name);
            match std::fs::symlink_metadata(&path) {
                Ok(meta) if meta.file_type().is_symlink() => {
                    if let Ok(target) = std::fs::read_link(&path) {
                        layout.system_dirs.insert((*name).to_owned(), Some(target));
                    }
                }
                Ok(meta) if meta.is_dir() => {
                    layout.system_dirs.insert((*name).to_owned(), None);
                }
                _ => {}
            }
        }
        layout.add_etc(root, ETC_ALLOWLIST.iter().copied());
        layout.font_cache = root
            .join(FONT_CACHE.trim_start_matches('/'))
            .symlink_metadata()
            .is_ok_and(|m| m.is_dir());
        layout
    }

    /// Shows the /etc entries `names` (top-level names, e.g. those
    /// [`super::etc`] found) of the host root `root`, where they exist,
    /// unless [`ETC_NEVER`] lists them. A name with a `/` or a leading `.`
    /// is not a top-level name and is ignored.
    pub fn add_etc<'a>(&mut self, root: &Path, names: impl IntoIterator<Item = &'a str>) {
        for name in names {
            if name.is_empty() || name.contains('/') || name.starts_with('.') {
                continue;
            }
            if ETC_NEVER.contains(&name) || self.etc.contains_key(name) {
                continue;
            }
            let path = root.join("etc").join(name);
            let entry = match std::fs::symlink_metadata(&path) {
                Ok(meta) if meta.file_type().is_symlink() => match std::fs::read_link(&path) {
                    Ok(target) => EtcEntry::Symlink(target),
                    Err(_) => continue,
                },
                Ok(meta) if meta.is_dir() => EtcEntry::Dir,
                Ok(meta) if meta.is_file() => EtcEntry::File,
                _ => continue,
            };
            self.etc.insert(name.to_owned(), entry);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_never_shown_whatever_refers_to_them() {
        let root = std::env::temp_dir().join(format!("wsbox-etc-never-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let etc = root.join("etc");
        std::fs::create_dir_all(&etc).unwrap();
        let named = [
            "shadow",
            "gshadow",
            "ssh",
            "NetworkManager",
            "wpa_supplicant",
            "sudoers",
            "sudoers.d",
            "krb5.keytab",
            "tor",
        ];
        for name in named
            .iter()
            .chain(ETC_NEVER)
            .chain(&["libreoffice", "imv_config"])
        {
            std::fs::write(etc.join(name), "x").unwrap();
        }
        let mut layout = HostLayout::default();
        let asked = named.iter().chain(ETC_NEVER).chain(&[
            "libreoffice",
            "imv_config",
            "missing",
            "../etc",
            ".hidden",
        ]);
        layout.add_etc(&root, asked.copied());
        assert_eq!(
            layout.etc.keys().map(String::as_str).collect::<Vec<_>>(),
            ["imv_config", "libreoffice"]
        );
        for name in named {
            assert!(ETC_NEVER.contains(&name), "{name} must be in ETC_NEVER");
        }
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn the_allowlist_holds_no_secret() {
        for name in ETC_ALLOWLIST {
            assert!(
                !ETC_NEVER.contains(name),
                "{name} is allowed and never shown"
            );
        }
    }
}
