//! The binaries under test and the test-only programs: where the build put
//! them, and copies every user can run.
//!
//! `cargo build --workspace --bins` puts wsbox and this kit's programs
//! (bench-client, clip-client, demo-client, hostile-client, wsbox-probe)
//! side by side in target/<profile>/; a test binary runs from its `deps/`
//! directory, an example from `examples/`.

use std::collections::HashMap;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use crate::scratch::{make_dir, next, remove_stale};

/// How to build what the tests and the bench run.
pub const BUILD: &str = "cargo build --workspace --bins";

/// target/<profile>/, where the running test or example was built.
pub fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap_or_else(|e| panic!("current_exe: {e}"));
    let dir = exe.parent().map(Path::to_path_buf).unwrap_or_default();
    match dir.file_name().and_then(|n| n.to_str()) {
        Some("deps" | "examples") => dir.parent().map(Path::to_path_buf).unwrap_or(dir),
        _ => dir,
    }
}

/// The program `name` of the workspace as the build left it, or what to do
/// to build it.
pub fn built(name: &str) -> Result<PathBuf, String> {
    let path = target_dir().join(name);
    if path.is_file() {
        Ok(path)
    } else {
        Err(format!("{} is not built (run `{BUILD}`)", path.display()))
    }
}

/// The wsbox binary under test. Test binaries are built after it
/// (CARGO_BIN_EXE_wsbox); the bench runs after a build of the workspace.
pub fn wsbox_exe() -> PathBuf {
    built("wsbox").unwrap_or_else(|e| panic!("{e}"))
}

/// A copy of `path` in a 0755 directory of this test process that every
/// user can read: a test user runs it, and the build directory may be
/// under root's 0700 home (as it can be in CI). One copy per path.
pub fn shared_copy(path: &Path) -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    static COPIES: OnceLock<Mutex<HashMap<PathBuf, PathBuf>>> = OnceLock::new();
    let dir = DIR.get_or_init(|| {
        remove_stale("wsbox-bin.");
        let dir = PathBuf::from(format!("/tmp/wsbox-bin.{}.{}", std::process::id(), next()));
        make_dir(&dir, 0o755);
        dir
    });
    let mut copies = COPIES
        .get_or_init(Mutex::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    if let Some(copy) = copies.get(path) {
        return copy.clone();
    }
    let name = path
        .file_name()
        .unwrap_or_else(|| panic!("{}", path.display()));
    let to = dir.join(name);
    // Written under another name and renamed: a thread that finds the copy
    // never runs a half-written one.
    let tmp = dir.join(format!("{}.{}", name.to_string_lossy(), next()));
    fs::copy(path, &tmp).unwrap_or_else(|e| panic!("copy {}: {e}", path.display()));
    fs::set_permissions(&tmp, fs::Permissions::from_mode(0o755))
        .unwrap_or_else(|e| panic!("chmod {}: {e}", tmp.display()));
    fs::rename(&tmp, &to).unwrap_or_else(|e| panic!("rename {}: {e}", tmp.display()));
    copies.insert(path.to_owned(), to.clone());
    to
}

/// The directory of [`shared_copy`]'s copies: a working directory every
/// user may enter.
pub fn shared_dir() -> PathBuf {
    shared_copy(&wsbox_exe())
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}
