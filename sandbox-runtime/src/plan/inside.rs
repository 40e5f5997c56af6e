//! The names every sandbox has inside: the app's ids, user, home and
//! runtime directory, PATH, the places granted files appear and the places
//! the app may write. Fixed, the same in every sandbox: nothing here comes
//! from the host or the policy, and this module holds constants only.

/// The uid and gid the app has inside every sandbox.
pub const SANDBOX_UID: u32 = 1000;
/// The gid the app has inside every sandbox.
pub const SANDBOX_GID: u32 = 1000;
/// The app's user name inside; never the host user's name.
pub const SANDBOX_USER: &str = "user";
/// The app's home inside.
pub const SANDBOX_HOME: &str = "/home/user";
/// The app's private XDG_RUNTIME_DIR inside.
pub const SANDBOX_RUNTIME_DIR: &str = "/run/user/1000";
/// Where granted files appear inside: file arguments, `--file`, and
/// `wsbox add-file`. A tmpfs wsbox seals read-only; nothing in it is
/// writable under Landlock.
pub const FILES_DIR: &str = "/run/wsbox/files";
/// Where read-write file grants appear; the only place below [`FILES_DIR`]
/// that Landlock lets the app write.
pub const FILES_RW_DIR: &str = "/run/wsbox/files/rw";
/// Where documents granted read-write appear, each in a directory of its
/// own (`/run/wsbox/docs/1/report.odt`): a tmpfs the app may write, so that
/// temporary, lock and backup files beside a document stay inside.
pub const DOCS_DIR: &str = "/run/wsbox/docs";
/// The places the app may write under Landlock whatever the shares are;
/// `rw` shares add their targets.
pub const WRITABLE_PLACES: &[&str] = &[
    "/dev/shm",
    "/tmp",
    "/var/tmp",
    SANDBOX_RUNTIME_DIR,
    SANDBOX_HOME,
    FILES_RW_DIR,
    DOCS_DIR,
];

/// Where [`super::FileSpec`]s may go: the root's `/.flatpak-info` (which
/// toolkits look for to choose the portal), the app's runtime directory,
/// and wsbox's own `/run/wsbox/etc`.
pub const GENERATED_PLACES: &[&str] = &["/.flatpak-info", SANDBOX_RUNTIME_DIR, GENERATED_DIR];
/// Where wsbox puts files of its own that services read (the bus's
/// configuration): read-only for the app.
pub const GENERATED_DIR: &str = "/run/wsbox/etc";

/// The directory of the `index`th document grant (counted from 1).
pub fn document_dir(index: usize) -> std::path::PathBuf {
    std::path::Path::new(DOCS_DIR).join(index.to_string())
}
/// PATH inside the sandbox.
pub const SANDBOX_PATH: &str = "/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin";
