//! Identities: the harness runs as root and switches to the unprivileged
//! test user (WSBOX_TEST_USER, default `wsbox-test`, made by
//! `./scripts/install-deps.sh test`) for what must not run as root.

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};

/// The PATH of programs the harness starts as the test user.
pub const USER_PATH: &str = "/usr/local/bin:/usr/bin:/bin";

/// Which identity runs wsbox in a test that runs twice; see
/// [`as_root_and_user!`](crate::as_root_and_user).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Who {
    Root,
    User,
}

pub fn euid() -> u32 {
    // SAFETY: no arguments, cannot fail.
    unsafe { libc::geteuid() }
}

pub fn egid() -> u32 {
    // SAFETY: no arguments, cannot fail.
    unsafe { libc::getegid() }
}

/// The uid and gid of the user `name`, if there is one.
pub fn lookup_user(name: &str) -> Option<(u32, u32)> {
    let name = std::ffi::CString::new(name).ok()?;
    // SAFETY: passwd is plain data; zero is a valid value.
    let mut pwd: libc::passwd = unsafe { std::mem::zeroed() };
    let mut buf = vec![0 as libc::c_char; 1 << 16];
    let mut result = std::ptr::null_mut();
    // SAFETY: every pointer is valid for the call; buf's length is passed.
    let rc = unsafe {
        libc::getpwnam_r(
            name.as_ptr(),
            &mut pwd,
            buf.as_mut_ptr(),
            buf.len(),
            &mut result,
        )
    };
    (rc == 0 && !result.is_null()).then_some((pwd.pw_uid, pwd.pw_gid))
}

/// The name of the unprivileged test user.
pub fn test_user_name() -> String {
    std::env::var("WSBOX_TEST_USER").unwrap_or_else(|_| "wsbox-test".into())
}

/// The uid and gid of the unprivileged test user, or why there is none.
pub fn test_user() -> Result<(u32, u32), String> {
    let name = test_user_name();
    let (uid, gid) = lookup_user(&name).ok_or_else(|| {
        format!("no user {name:?} (create it: useradd --system --no-create-home {name})")
    })?;
    if uid == 0 {
        return Err(format!("WSBOX_TEST_USER {name:?} is root"));
    }
    Ok((uid, gid))
}

/// `program` as `user`, with a clean environment and `home` as its HOME,
/// XDG_RUNTIME_DIR and working directory. std drops root's supplementary
/// groups with the switch.
pub fn as_user(program: impl AsRef<std::ffi::OsStr>, user: (u32, u32), home: &Path) -> Command {
    let mut cmd = Command::new(program);
    cmd.env_clear()
        .env("PATH", USER_PATH)
        .env("HOME", home)
        .env("XDG_RUNTIME_DIR", home)
        .env("LANG", "C.UTF-8")
        .current_dir(home)
        .stdin(Stdio::null())
        .uid(user.0)
        .gid(user.1);
    cmd
}

/// Generates `NAME::as_root` and `NAME::as_user` for each `fn NAME(who:
/// testkit::Who, test: &str)` of the test file: every check runs as root
/// and as the test user, and each run is a test of its own.
#[macro_export]
macro_rules! as_root_and_user {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[test]
            fn as_root() {
                super::$name($crate::Who::Root, concat!(stringify!($name), "::as_root"));
            }

            #[test]
            fn as_user() {
                super::$name($crate::Who::User, concat!(stringify!($name), "::as_user"));
            }
        }
    )*};
}
