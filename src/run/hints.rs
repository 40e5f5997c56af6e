//! One-line hints for what would otherwise fail inside without a word
//! from wsbox: a Qt program whose Wayland plugin the host lacks, an X11
//! program that found no display. Hints only read the host; they never
//! change what the sandbox gets.

use std::io::Read;
use std::path::Path;

/// Qt's Wayland platform plugin and the Debian package that installs it,
/// per major version: the library name a Qt program links, the plugin's
/// directory below `/usr/lib/<triplet>/`, and the package.
const QT_WAYLAND: &[(&[u8], &str, &str, &str)] = &[
    (
        b"libQt5Core.so.5",
        "Qt 5",
        "qt5/plugins/platforms/libqwayland-generic.so",
        "qtwayland5",
    ),
    (
        b"libQt6Core.so.6",
        "Qt 6",
        "qt6/plugins/platforms/libqwayland-generic.so",
        "qt6-wayland",
    ),
];

/// The libraries an X11 client links; one of them in a program's dynamic
/// string table makes it one.
const X11_LIBRARIES: &[&[u8]] = &[b"libX11.so.6", b"libxcb.so.1"];

/// Whether the program `file` links an X11 client library.
pub fn links_x11(file: std::fs::File) -> bool {
    let mut bytes = Vec::new();
    let read = file.take(256 << 20).read_to_end(&mut bytes).is_ok();
    read && X11_LIBRARIES
        .iter()
        .any(|lib| bytes.windows(lib.len()).any(|w| w == *lib))
}

/// Where a Qt program cannot show a window because the host lacks Qt's
/// Wayland plugin, the line that says which package provides it.
pub fn qt_wayland(program: &Path) -> Option<String> {
    let missing: Vec<_> = QT_WAYLAND
        .iter()
        .filter(|(_, _, plugin, _)| !plugin_installed(Path::new("/usr/lib"), plugin))
        .collect();
    if missing.is_empty() {
        return None;
    }
    // Only now, on a host that lacks a plugin: the program's dynamic
    // string table names the Qt it links.
    let mut bytes = Vec::new();
    open_regular(program)?
        .take(256 << 20)
        .read_to_end(&mut bytes)
        .ok()?;
    let (_, qt, _, package) = missing
        .into_iter()
        .find(|(soname, ..)| bytes.windows(soname.len()).any(|w| w == *soname))?;
    let name = program.file_name()?.to_string_lossy();
    Some(format!(
        "{name} is a {qt} program, and Qt's Wayland plugin is not installed: it cannot show a \
         window in wsbox (install the Debian package {package})"
    ))
}

/// `path` opened for reading if it is a regular file (a FIFO there does
/// not block the start).
pub fn open_regular(path: &Path) -> Option<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
        .ok()?;
    file.metadata().ok()?.is_file().then_some(file)
}

/// Whether `plugin` exists below one of the multiarch directories of `lib`.
fn plugin_installed(lib: &Path, plugin: &str) -> bool {
    let Ok(entries) = std::fs::read_dir(lib) else {
        return false;
    };
    entries
        .flatten()
        .any(|e| e.path().join(plugin).is_file() || lib.join(plugin).is_file())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plugins_are_looked_for_in_multiarch_directories() {
        let lib = std::env::temp_dir().join(format!("wsbox-hints-{}", std::process::id()));
        let plugin = "qt5/plugins/platforms/libqwayland-generic.so";
        let dir = lib.join("x86_64-linux-gnu/qt5/plugins/platforms");
        std::fs::create_dir_all(&dir).unwrap();
        assert!(!plugin_installed(&lib, plugin));
        std::fs::write(dir.join("libqwayland-generic.so"), "").unwrap();
        assert!(plugin_installed(&lib, plugin));
        std::fs::remove_dir_all(&lib).unwrap();
    }
}
