//! The `[filesystem]` section: host paths bound into the sandbox, its /sys
//! and its home, and the places inside that wsbox keeps for itself.

use std::fmt;
use std::path::{Component, Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::Refusal;

/// Sandbox directories wsbox builds itself; a bind may go inside them but not
/// replace them whole (a host /etc would bring shadow and ssh keys along).
const RESERVED_SANDBOX_DIRS: &[&str] = &["/", "/etc", "/usr", "/run", "/tmp", "/var", "/home"];

/// Kernel interfaces wsbox mounts itself; nothing may be bound into them.
const RESERVED_SANDBOX_TREES: &[&str] = &["/proc", "/dev", "/sys", "/run/wsbox"];

/// File system grants beyond the fixed minimal root.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Filesystem {
    /// Extra bind mounts of host paths.
    #[serde(default)]
    pub bind: Vec<Bind>,
    /// Mount a read-only sysfs at /sys. It shows hardware details and serials.
    #[serde(default)]
    pub sys: bool,
    /// The app's home: an empty tmpfs when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub home: Option<Home>,
}

impl Filesystem {
    /// Checks what serde cannot: that paths are absolute and stay out of
    /// the places wsbox builds itself.
    pub(crate) fn check(&self) -> Result<(), Refusal> {
        for (i, bind) in self.bind.iter().enumerate() {
            let field = format!("filesystem.bind[{i}]");
            validate_host_path(&bind.host).map_err(|m| Refusal::new(format!("{field}.host"), m))?;
            validate_sandbox_path(bind.target())
                .map_err(|m| Refusal::new(format!("{field}.sandbox"), m))?;
        }
        if let Some(home) = &self.home {
            validate_host_path(&home.persist)
                .map_err(|m| Refusal::new("filesystem.home.persist", m))?;
        }
        Ok(())
    }
}

/// A persistent home: a host directory that keeps the app's $HOME across
/// runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Home {
    /// The host directory (absolute or `~/…`); `<name>` stands for the
    /// sandbox's name. Created 0700 when missing.
    pub persist: PathBuf,
}

/// One host path made visible inside the sandbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Bind {
    /// The host path (absolute; `~` stands for the invoking user's home).
    pub host: PathBuf,
    /// Where it appears inside; the host path when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sandbox: Option<PathBuf>,
    #[serde(default)]
    pub mode: Access,
    /// A device, socket or FIFO may be bound here; refused otherwise.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub special: bool,
}

impl Bind {
    /// The path inside the sandbox.
    pub fn target(&self) -> &Path {
        self.sandbox.as_deref().unwrap_or(&self.host)
    }
}

/// Read-only or read-write.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Access {
    #[default]
    Ro,
    Rw,
}

impl fmt::Display for Access {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Access::Ro => "ro",
            Access::Rw => "rw",
        })
    }
}

/// A host path in a policy: absolute (or `~`-relative), without `..`.
pub fn validate_host_path(path: &Path) -> Result<(), String> {
    let text = path.to_string_lossy();
    if !(path.is_absolute() || text == "~" || text.starts_with("~/")) {
        return Err(format!("{} is not an absolute path", path.display()));
    }
    if path.components().any(|c| c == Component::ParentDir) {
        return Err(format!("{} contains '..'", path.display()));
    }
    Ok(())
}

/// A path inside the sandbox: absolute, normal components only, and not one of
/// the places wsbox sets up itself.
pub fn validate_sandbox_path(path: &Path) -> Result<(), String> {
    let text = path.to_string_lossy();
    if text == "~" || text.starts_with("~/") {
        // The app's home; expanded by the runtime.
        return Ok(());
    }
    if !path.is_absolute() {
        return Err(format!("{} is not an absolute path", path.display()));
    }
    if path
        .components()
        .any(|c| !matches!(c, Component::RootDir | Component::Normal(_)))
    {
        return Err(format!(
            "{} must not contain '.' or '..' components",
            path.display()
        ));
    }
    let normal: PathBuf = path.components().collect();
    if RESERVED_SANDBOX_DIRS.iter().any(|r| normal == Path::new(r)) {
        return Err(format!(
            "{} is built by wsbox and cannot be replaced (bind into it instead)",
            path.display()
        ));
    }
    if let Some(tree) = RESERVED_SANDBOX_TREES
        .iter()
        .find(|r| normal.starts_with(Path::new(r)))
    {
        return Err(format!(
            "{} is inside {tree}, which wsbox sets up itself",
            path.display()
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Policy;

    #[test]
    fn binds_parse_with_defaults() {
        let p = Policy::from_toml(
            "[[filesystem.bind]]\nhost = \"/srv/a\"\n[[filesystem.bind]]\nhost = \"/srv/b\"\nsandbox = \"/data\"\nmode = \"rw\"\n",
            "t",
        )
        .unwrap();
        assert_eq!(p.filesystem.bind.len(), 2);
        assert_eq!(p.filesystem.bind[0].mode, Access::Ro);
        assert_eq!(p.filesystem.bind[0].target(), Path::new("/srv/a"));
        assert_eq!(p.filesystem.bind[1].mode, Access::Rw);
        assert_eq!(p.filesystem.bind[1].target(), Path::new("/data"));
    }

    #[test]
    fn bad_binds_are_refused_with_their_field() {
        for (text, field) in [
            (
                "[[filesystem.bind]]\nhost = \"rel\"\n",
                "filesystem.bind[0].host",
            ),
            (
                "[[filesystem.bind]]\nhost = \"/a/../b\"\n",
                "filesystem.bind[0].host",
            ),
            (
                "[[filesystem.bind]]\nhost = \"/a\"\nsandbox = \"/proc/x\"\n",
                "filesystem.bind[0].sandbox",
            ),
            (
                "[[filesystem.bind]]\nhost = \"/\"\n",
                "filesystem.bind[0].sandbox",
            ),
            (
                "[[filesystem.bind]]\nhost = \"/etc\"\n",
                "filesystem.bind[0].sandbox",
            ),
        ] {
            let err = Policy::from_toml(text, "t").unwrap_err().to_string();
            assert!(err.contains(field), "{text:?}: {err}");
        }
    }

    #[test]
    fn persistent_home_parses_and_is_checked() {
        let p = Policy::from_toml(
            "[filesystem]\nhome = { persist = \"~/.local/share/wsbox/<name>\" }\n",
            "t",
        )
        .unwrap();
        assert_eq!(
            p.filesystem.home.as_ref().map(|h| h.persist.clone()),
            Some(PathBuf::from("~/.local/share/wsbox/<name>"))
        );
        assert_eq!(Policy::from_toml(&p.to_toml(), "round").unwrap(), p);
        for text in [
            "[filesystem]\nhome = { persist = \"rel\" }\n",
            "[filesystem]\nhome = { persist = \"/a/../b\" }\n",
        ] {
            let err = Policy::from_toml(text, "t").unwrap_err().to_string();
            assert!(err.contains("filesystem.home.persist"), "{err}");
        }
        let err = Policy::from_toml("[filesystem]\nhome = { keep = \"/a\" }\n", "t")
            .unwrap_err()
            .to_string();
        assert!(err.contains("keep"), "{err}");
    }

    #[test]
    fn special_files_need_the_bind_s_grant() {
        let p = Policy::from_toml(
            "[[filesystem.bind]]\nhost = \"/run/x.sock\"\nsandbox = \"/tmp/x.sock\"\nspecial = true\n",
            "t",
        )
        .unwrap();
        assert!(p.filesystem.bind[0].special);
        assert!(
            !Policy::from_toml("[[filesystem.bind]]\nhost = \"/a\"\n", "t")
                .unwrap()
                .filesystem
                .bind[0]
                .special
        );
        let err = Policy::from_toml(
            "[[filesystem.bind]]\nhost = \"/a\"\nsandbox = \"/run/wsbox/files/a\"\n",
            "t",
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("/run/wsbox"), "{err}");
    }
}
