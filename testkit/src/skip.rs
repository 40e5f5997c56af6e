//! The loud skip: a test that cannot run on this machine says why and
//! passes, except where everything must work (CI=true, WSBOX_MUST_WORK=1),
//! where it fails instead. Also what a test needs before it can run: root,
//! a machine that runs sandboxes, the programs it runs, looked up the way a
//! sandbox finds them.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use crate::run::output;

/// The sandbox's PATH: where the programs it runs are looked up.
pub const SANDBOX_PATH: &[&str] = &[
    "/usr/local/bin",
    "/usr/bin",
    "/bin",
    "/usr/local/sbin",
    "/usr/sbin",
    "/sbin",
];

/// Whether everything must work here (CI=true, WSBOX_MUST_WORK=1).
pub fn must_work() -> bool {
    std::env::var("WSBOX_MUST_WORK").is_ok_and(|v| v == "1")
        || std::env::var("CI").is_ok_and(|v| v == "true")
}

/// Says loudly why `test` cannot run and lets it pass, or fails it where
/// everything must work.
pub fn skip(test: &str, reason: &str) {
    if must_work() {
        panic!("{test} cannot run: {reason} (CI=true or WSBOX_MUST_WORK=1: nothing may skip)");
    }
    eprintln!("SKIPPED: {test}: {reason}");
}

/// `program` as a sandbox finds it: an executable file in [`SANDBOX_PATH`].
pub fn find_program(program: &str) -> Option<PathBuf> {
    SANDBOX_PATH
        .iter()
        .map(|dir| Path::new(dir).join(program))
        .find(|p| fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0))
}

/// Whether every one of `programs` is installed; else `test` has
/// [`skip`]ped, naming the first one missing.
pub fn have_programs(test: &str, programs: &[&str]) -> bool {
    match programs.iter().find(|p| find_program(p).is_none()) {
        Some(missing) => {
            skip(test, &format!("{missing} not installed"));
            false
        }
        None => true,
    }
}

/// Whether tests that run sandboxes as root can run here: checked once
/// per test process, as root, with `plain` (`wsbox run --display none --
/// true` as the test file starts wsbox). A machine that cannot run
/// sandboxes (wsbox's own refusal, 125) is a reason to skip; any other
/// failure fails the test.
pub fn sandboxes_as_root(plain: impl FnOnce() -> Command) -> Result<(), &'static str> {
    static CHECK: OnceLock<Result<(), String>> = OnceLock::new();
    CHECK
        .get_or_init(|| {
            if crate::euid() != 0 {
                return Err("not running as root (CI runs these tests as root)".into());
            }
            let out = output(plain(), Duration::from_secs(30));
            match out.code() {
                Some(0) => Ok(()),
                Some(125) => Err(format!(
                    "this machine cannot run sandboxes: {}",
                    out.stderr.trim()
                )),
                _ => panic!("wsbox run --display none -- true failed\n{out}"),
            }
        })
        .as_ref()
        .copied()
        .map_err(String::as_str)
}

/// Whether `test` can run: as root, sandboxes work ([`sandboxes_as_root`]
/// with `plain`), `programs` installed; else it has [`skip`]ped.
pub fn ready_as_root(test: &str, programs: &[&str], plain: impl FnOnce() -> Command) -> bool {
    if let Err(why) = sandboxes_as_root(plain) {
        skip(test, why);
        return false;
    }
    have_programs(test, programs)
}
