//! Helpers for tests that must change the calling process (seccomp, Landlock):
//! they run in a forked child so the test process stays unconfined.

/// Runs `f` in a forked child and returns its exit code, or 1000 + the signal
/// that killed it.
pub fn in_child(f: impl FnOnce() -> i32) -> i32 {
    // SAFETY: the child only makes syscalls and exits.
    match unsafe { libc::fork() } {
        0 => {
            let code = f();
            // SAFETY: leave without running the harness's destructors.
            unsafe { libc::_exit(code) }
        }
        pid => {
            let mut status = 0;
            // SAFETY: waiting for our own child.
            unsafe { libc::waitpid(pid, &mut status, 0) };
            if libc::WIFEXITED(status) {
                libc::WEXITSTATUS(status)
            } else {
                1000 + libc::WTERMSIG(status)
            }
        }
    }
}

/// Sets no_new_privs, which seccomp and Landlock need without CAP_SYS_ADMIN.
pub fn no_new_privs() {
    // SAFETY: plain prctl with integer arguments.
    unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) };
}
