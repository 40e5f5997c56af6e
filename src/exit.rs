//! wsbox's exit statuses, named once for the whole binary: `wsbox run`
//! passes the program's status through (128+N for a signal) and adds its
//! own, [`EXIT_TIMEOUT`] (124) and [`EXIT_WSBOX_ERROR`] (125); pid 1
//! reports 126 (cannot execute) and 127 (not found) from inside the
//! sandbox. The sandbox runtime defines them, since it reports them too;
//! everything in `src/` takes them from here, never as a number.

use std::process::ExitCode;

pub use wsbox_sandbox::process::{EXIT_TIMEOUT, EXIT_WSBOX_ERROR};

/// [`EXIT_WSBOX_ERROR`] as a process exit code; the assertion below checks
/// when wsbox is built that it fits.
const WSBOX_ERROR: u8 = EXIT_WSBOX_ERROR as u8;
const _: () = assert!(WSBOX_ERROR as i32 == EXIT_WSBOX_ERROR);

/// The process's exit code for `status`; a status no exit code can carry
/// is reported as wsbox's own error.
pub fn code(status: i32) -> ExitCode {
    ExitCode::from(u8::try_from(status).unwrap_or(WSBOX_ERROR))
}

/// wsbox's own error as the process's exit code.
pub fn wsbox_error() -> ExitCode {
    ExitCode::from(WSBOX_ERROR)
}
