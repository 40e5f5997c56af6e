//! Fail closed: when the kernel lacks a feature the policy requires, `wsbox run`
//! refuses with status 125 and a line naming the feature, and starts nothing.
//!
//! A missing feature is simulated by running wsbox under a seccomp filter that
//! answers the feature's syscall the way a kernel without it does.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::os::unix::process::CommandExt;
use std::process::{Command, Output};

const WSBOX: &str = env!("CARGO_BIN_EXE_wsbox");

/// How the filter matches a syscall.
#[derive(Clone, Copy)]
enum Match {
    /// Any call of this number.
    Any(i64),
    /// Calls of this number whose first argument has all of `mask`'s bits.
    Arg0Bits(i64, u32),
}

fn bpf(op: u16, k: u32, jt: u8, jf: u8) -> libc::sock_filter {
    libc::sock_filter {
        code: op,
        jt,
        jf,
        k,
    }
}

/// Runs wsbox with `args` under a filter that fails matching syscalls with `errno`.
fn wsbox_without(m: Match, errno: i32, args: &[&str]) -> Output {
    const LD_W_ABS: u16 = (libc::BPF_LD | libc::BPF_W | libc::BPF_ABS) as u16;
    const JEQ: u16 = (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16;
    const JSET: u16 = (libc::BPF_JMP | libc::BPF_JSET | libc::BPF_K) as u16;
    const RET: u16 = (libc::BPF_RET | libc::BPF_K) as u16;
    const NR: u32 = 0;
    const ARG0_LOW: u32 = 16;
    let fail = libc::SECCOMP_RET_ERRNO | (errno as u32);
    let allow = libc::SECCOMP_RET_ALLOW;
    let program: Vec<libc::sock_filter> = match m {
        Match::Any(nr) => vec![
            bpf(LD_W_ABS, NR, 0, 0),
            bpf(JEQ, nr as u32, 0, 1),
            bpf(RET, fail, 0, 0),
            bpf(RET, allow, 0, 0),
        ],
        Match::Arg0Bits(nr, mask) => vec![
            bpf(LD_W_ABS, NR, 0, 0),
            bpf(JEQ, nr as u32, 0, 3),
            bpf(LD_W_ABS, ARG0_LOW, 0, 0),
            bpf(JSET, mask, 0, 1),
            bpf(RET, fail, 0, 0),
            bpf(RET, allow, 0, 0),
        ],
    };
    let mut cmd = Command::new(WSBOX);
    cmd.args(args).env_remove("WAYLAND_DISPLAY");
    // SAFETY: only async-signal-safe syscalls between fork and exec; the
    // program vector lives until the closure is dropped after spawning.
    unsafe {
        cmd.pre_exec(move || {
            let prog = libc::sock_fprog {
                len: program.len() as u16,
                filter: program.as_ptr() as *mut libc::sock_filter,
            };
            if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0
                || libc::prctl(
                    libc::PR_SET_SECCOMP,
                    libc::SECCOMP_MODE_FILTER,
                    &prog as *const libc::sock_fprog,
                ) != 0
            {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    cmd.output().expect("run wsbox")
}

fn assert_refused(out: &Output, needle: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(125), "stderr: {stderr}");
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "one line expected: {stderr}");
    assert!(lines[0].starts_with("wsbox: "), "{stderr}");
    assert!(lines[0].contains(needle), "{needle:?} not named: {stderr}");
    assert!(out.stdout.is_empty(), "the program ran: {:?}", out.stdout);
}

const RUN_ECHO: &[&str] = &["run", "--display", "none", "--", "echo", "ran"];

#[test]
fn missing_landlock_is_refused_when_required() {
    let out = wsbox_without(
        Match::Any(libc::SYS_landlock_create_ruleset),
        libc::ENOSYS,
        RUN_ECHO,
    );
    assert_refused(&out, "Landlock");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("CONFIG_SECURITY_LANDLOCK"),
        "the reason should say what is missing"
    );
}

#[test]
fn missing_landlock_is_tolerated_when_best_effort() {
    let dir = std::env::temp_dir().join(format!("wsbox-fail-closed-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let policy = dir.join("best-effort.toml");
    std::fs::write(&policy, "[security]\nlandlock = \"best-effort\"\n").unwrap();
    let policy_arg = policy.to_str().unwrap();
    let out = wsbox_without(
        Match::Any(libc::SYS_landlock_create_ruleset),
        libc::EOPNOTSUPP,
        &[
            "run",
            "--display",
            "none",
            "--policy",
            policy_arg,
            "--",
            "echo",
            "ran",
        ],
    );
    let _ = std::fs::remove_dir_all(&dir);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "stderr: {stderr}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "ran\n");
    assert!(
        stderr.contains("Landlock unavailable"),
        "running without Landlock must be said: {stderr}"
    );
}

#[test]
fn missing_user_namespaces_are_refused() {
    let out = wsbox_without(
        Match::Arg0Bits(libc::SYS_clone, libc::CLONE_NEWUSER as u32),
        libc::EPERM,
        RUN_ECHO,
    );
    assert_refused(&out, "user namespaces are not available");
}

#[test]
fn missing_seccomp_is_refused() {
    // A kernel without CONFIG_SECCOMP_FILTER answers seccomp(2) with EINVAL.
    let out = wsbox_without(Match::Any(libc::SYS_seccomp), libc::EINVAL, RUN_ECHO);
    assert_refused(&out, "seccomp");
}
