//! Which entries of the host's /etc the installed programs refer to, beyond
//! [`super::ETC_ALLOWLIST`]: symbolic links under /usr that point into /etc
//! (LibreOffice's `share/registry`, Firefox's `defaults/syspref`), and the
//! configuration files (dpkg's conffiles) of the package a program comes
//! from (imv's `/etc/imv_config`). Without them those links dangle inside
//! and those programs lose their system configuration or fail to start.
//!
//! It only reads the host and returns top-level /etc names; whether an
//! entry is shown is [`super::HostLayout::add_etc`]'s decision, which never
//! shows [`ETC_NEVER`]. Nothing here follows a symbolic link out of `root`.

use std::collections::BTreeSet;
use std::ffi::OsStr;
use std::io::{BufRead, BufReader};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Component, Path, PathBuf};

/// /etc entries that hold secrets or the host's security and network
/// configuration: never shown, whatever refers to them.
pub const ETC_NEVER: &[&str] = &[
    "shadow",
    "shadow-",
    "gshadow",
    "gshadow-",
    "passwd-",
    "group-",
    "sudoers",
    "sudoers.d",
    "ssh",
    "NetworkManager",
    "wpa_supplicant",
    "krb5.keytab",
    "tor",
    "ipsec.secrets",
    "ipsec.d",
    "ppp",
    "openvpn",
    "wireguard",
    "machine-id",
    "hostname",
    "apparmor.d",
    "apparmor",
    "security",
    "pam.d",
    "polkit-1",
    "cron.d",
    "crontab",
    "credstore",
    "credstore.encrypted",
    "docker",
    "libvirt",
    "cups",
    "wsbox",
];

/// The top-level /etc names that symbolic links under `root`/usr point
/// into. Walks /usr on its own file system without following links.
pub fn linked_from_usr(root: &Path) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let usr = root.join("usr");
    let Ok(meta) = std::fs::symlink_metadata(&usr) else {
        return found;
    };
    let device = meta.dev();
    let mut todo = vec![usr];
    while let Some(dir) = todo.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            let path = entry.path();
            if kind.is_symlink() {
                let Ok(target) = std::fs::read_link(&path) else {
                    continue;
                };
                let inside = path.strip_prefix(root).unwrap_or(&path);
                if let Some(name) = etc_name(&resolve(inside, &target)) {
                    found.insert(name);
                }
            } else if kind.is_dir() && entry.metadata().is_ok_and(|m| m.dev() == device) {
                todo.push(path);
            }
        }
    }
    found
}

/// The top-level /etc names among the conffiles and symbolic links of the
/// package that installed `program` (a path below `root`, resolved through
/// its symbolic links, e.g. Debian's alternatives), read from dpkg's
/// database under `root`. Empty when no package owns it.
pub fn of_package(root: &Path, program: &Path) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let Some(real) = resolve_within(root, program) else {
        return found;
    };
    let info = root.join("var/lib/dpkg/info");
    let Some(list) = owning_list(&info, &real) else {
        return found;
    };
    let conffiles = list.with_extension("conffiles");
    for line in read_lines(&conffiles) {
        // `PATH [obsolete|remove-on-upgrade]`
        let path = line.split(' ').next().unwrap_or("");
        if let Some(name) = etc_name(Path::new(path)) {
            found.insert(name);
        }
    }
    for line in read_lines(&list) {
        let path = Path::new(&line);
        if !path.starts_with("/usr") {
            continue;
        }
        let host = root.join(path.strip_prefix("/").unwrap_or(path));
        if let Ok(target) = std::fs::read_link(&host) {
            if let Some(name) = etc_name(&resolve(path, &target)) {
                found.insert(name);
            }
        }
    }
    found
}

/// The dpkg file list (`PACKAGE.list`) that names `path`, also under the
/// name it had before /usr was merged (`/bin/x` for `/usr/bin/x`).
fn owning_list(info: &Path, path: &Path) -> Option<PathBuf> {
    let wanted = path.as_os_str().as_bytes();
    let unmerged = path
        .strip_prefix("/usr")
        .ok()
        .map(|p| Path::new("/").join(p).into_os_string());
    let entries = std::fs::read_dir(info).ok()?;
    for entry in entries.flatten() {
        let list = entry.path();
        if list.extension() != Some(OsStr::new("list")) {
            continue;
        }
        let Ok(file) = std::fs::File::open(&list) else {
            continue;
        };
        let mut reader = BufReader::new(file);
        let mut line = Vec::new();
        while reader.read_until(b'\n', &mut line).is_ok_and(|n| n > 0) {
            let name = line.strip_suffix(b"\n").unwrap_or(&line);
            if name == wanted || unmerged.as_ref().is_some_and(|u| u.as_bytes() == name) {
                return Some(list);
            }
            line.clear();
        }
    }
    None
}

fn read_lines(path: &Path) -> Vec<String> {
    std::fs::read(path)
        .map(|bytes| {
            String::from_utf8_lossy(&bytes)
                .lines()
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

/// Where `link` (an absolute path, as the sandbox sees it) points with
/// `target`, normalised lexically.
fn resolve(link: &Path, target: &Path) -> PathBuf {
    let joined = if target.is_absolute() {
        target.to_path_buf()
    } else {
        Path::new("/")
            .join(link)
            .parent()
            .unwrap_or(Path::new("/"))
            .join(target)
    };
    let mut out = PathBuf::from("/");
    for part in joined.components() {
        match part {
            Component::ParentDir => {
                out.pop();
            }
            Component::Normal(name) => out.push(name),
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
        }
    }
    out
}

/// `program` (absolute, below `root`) with every symbolic link on the way
/// resolved inside `root`, as the sandbox would; None if it does not exist
/// or a link loops.
fn resolve_within(root: &Path, program: &Path) -> Option<PathBuf> {
    let mut path = resolve(Path::new("/"), program);
    for _ in 0..40 {
        let mut done = PathBuf::from("/");
        let mut parts = path.components().skip(1);
        let mut moved = None;
        for part in parts.by_ref() {
            done.push(part);
            let host = root.join(done.strip_prefix("/").ok()?);
            let meta = std::fs::symlink_metadata(&host).ok()?;
            if meta.file_type().is_symlink() {
                let target = std::fs::read_link(&host).ok()?;
                moved = Some(resolve(&done, &target));
                break;
            }
        }
        match moved {
            Some(mut next) => {
                next.extend(parts);
                path = next;
            }
            None => return Some(path),
        }
    }
    None
}

/// The top-level name below /etc of an absolute path, if it is below /etc.
fn etc_name(path: &Path) -> Option<String> {
    let mut parts = path.strip_prefix("/etc").ok()?.components();
    match parts.next()? {
        Component::Normal(name) => Some(name.to_str()?.to_owned()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::os::unix::fs::symlink;

    fn root(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("wsbox-etc-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        for d in [
            "usr/bin",
            "usr/lib/office/share",
            "usr/share/fox/defaults",
            "etc/alternatives",
            "var/lib/dpkg/info",
        ] {
            fs::create_dir_all(dir.join(d)).unwrap();
        }
        dir
    }

    #[test]
    fn links_from_usr_into_etc_are_found_relative_or_absolute() {
        let r = root("links");
        symlink(
            "/etc/office/registry",
            r.join("usr/lib/office/share/registry"),
        )
        .unwrap();
        symlink(
            "../../../../etc/fox",
            r.join("usr/share/fox/defaults/syspref"),
        )
        .unwrap();
        symlink("../lib/office/share", r.join("usr/bin/within-usr")).unwrap();
        symlink("/etc/shadow", r.join("usr/bin/evil")).unwrap();
        let found = linked_from_usr(&r);
        assert_eq!(
            found,
            ["fox", "office", "shadow"].map(String::from).into(),
            "HostLayout::add_etc drops the never-shown ones, not this scan"
        );
        fs::remove_dir_all(&r).unwrap();
    }

    #[test]
    fn the_package_of_a_program_is_found_through_its_alternative() {
        let r = root("package");
        fs::write(r.join("usr/bin/viewer-wayland"), "").unwrap();
        symlink("/etc/alternatives/viewer", r.join("usr/bin/viewer")).unwrap();
        symlink("/usr/bin/viewer-wayland", r.join("etc/alternatives/viewer")).unwrap();
        symlink("/etc/viewer-data/x", r.join("usr/lib/office/viewer-link")).unwrap();
        let info = r.join("var/lib/dpkg/info");
        fs::write(info.join("other.list"), "/usr\n/usr/bin/other\n").unwrap();
        fs::write(
            info.join("viewer.list"),
            "/usr\n/usr/bin/viewer-wayland\n/usr/lib/office/viewer-link\n",
        )
        .unwrap();
        fs::write(
            info.join("viewer.conffiles"),
            "/etc/viewer_config\n/etc/old-thing/x obsolete\n",
        )
        .unwrap();
        let found = of_package(&r, Path::new("/usr/bin/viewer"));
        assert_eq!(
            found,
            ["old-thing", "viewer-data", "viewer_config"]
                .map(String::from)
                .into()
        );
        assert!(of_package(&r, Path::new("/usr/bin/missing")).is_empty());
        fs::remove_dir_all(&r).unwrap();
    }

    #[test]
    fn a_program_listed_before_usr_was_merged_is_found() {
        let r = root("merged");
        fs::write(r.join("usr/bin/tool"), "").unwrap();
        let info = r.join("var/lib/dpkg/info");
        fs::write(info.join("tool.list"), "/bin\n/bin/tool\n").unwrap();
        fs::write(info.join("tool.conffiles"), "/etc/toolrc\n").unwrap();
        assert_eq!(
            of_package(&r, Path::new("/usr/bin/tool")),
            ["toolrc".to_owned()].into()
        );
        fs::remove_dir_all(&r).unwrap();
    }

    #[test]
    fn links_are_resolved_lexically() {
        assert_eq!(
            resolve(Path::new("/usr/a/b/link"), Path::new("../../../etc/x/y")),
            PathBuf::from("/etc/x/y")
        );
        assert_eq!(
            resolve(Path::new("/usr/link"), Path::new("../../../../etc")),
            PathBuf::from("/etc")
        );
        assert_eq!(etc_name(Path::new("/etc")), None);
        assert_eq!(etc_name(Path::new("/etc/a/b")), Some("a".into()));
        assert_eq!(etc_name(Path::new("/usr/etc/a")), None);
    }
}
