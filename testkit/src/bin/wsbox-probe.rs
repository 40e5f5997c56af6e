//! `wsbox-probe`: runs inside a sandbox and reports what the process can see
//! and do there, as text for people or as one JSON object (`--json`) for tests.
//!
//! This binary owns reporting and nothing else. It reads identity, privileges,
//! mounts, devices, network interfaces and visible processes, then tries the
//! syscalls a sandbox should refuse (and a few it should allow), each in a
//! forked child so that a refusal, a success or a seccomp kill is observed
//! without touching the probe itself. It never changes anything outside those children: mount checks
//! that could succeed first move the child into a private mount namespace, and
//! arguments are chosen so that a privileged success leaves nothing behind.
//!
//! The JSON field names are a contract with the tests; `home` is `$HOME`,
//! falling back to the passwd entry of the real uid.

use std::collections::BTreeMap;
use std::ffi::{c_char, c_int, c_long, c_ulong, CStr};
use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use serde::Serialize;

const HELP: &str = "\
wsbox-probe [--json]: reports what a process can see and do from where it runs \
(normally inside a wsbox sandbox): its uid, gid, groups and id maps, hostname, \
machine id, home, cwd and environment; its capabilities, no_new_privs, seccomp \
mode, securebits and the Landlock ABI; its pid, session and controlling tty; the \
processes, mounts, /dev entries and network interfaces it can see; and, for a \
list of syscalls a sandbox should refuse, whether each is refused (with errno), \
allowed, or kills the caller. Every syscall is tried in a forked child, so the \
probe changes nothing outside those children. Text by default; --json prints one \
JSON object instead. Exit status 0 on success, 2 on a bad argument.";

/// How long a check child may run before it is killed (and reported so).
const CHECK_DEADLINE: Duration = Duration::from_secs(5);

// Constants that the libc crate does not carry.
const LANDLOCK_CREATE_RULESET_VERSION: c_long = 1;
const OPEN_TREE_CLONE: c_long = 1;
const FSCONFIG_CMD_CREATE: c_long = 6;
const FSMOUNT_CLOEXEC: c_long = 1;
const BPF_MAP_CREATE: c_long = 0;
const BPF_MAP_TYPE_ARRAY: u32 = 2;
const PERF_TYPE_SOFTWARE: u32 = 1;
const KEYCTL_GET_KEYRING_ID: c_long = 0;
const KEY_SPEC_PROCESS_KEYRING: c_long = -2;
const KEY_SPEC_SESSION_KEYRING: c_long = -3;
/// kexec_load refuses more segments than this with EINVAL, after its
/// permission check: one more makes a privileged call fail harmlessly.
const KEXEC_SEGMENT_MAX: c_long = 16;
const PF_KEY_V2: c_int = 2;
const CAN_RAW: c_int = 1;
const TIOCSTI: u64 = 0x5412;
const TIOCLINUX: u64 = 0x541c;
const CAP_SYS_ADMIN: u32 = 21;

// ---------------------------------------------------------------------------
// The report.

#[derive(Debug, Serialize)]
struct Report {
    uid: u32,
    gid: u32,
    euid: u32,
    egid: u32,
    groups: Vec<u32>,
    uid_map: String,
    gid_map: String,
    user_name: Option<String>,
    hostname: String,
    machine_id: Option<String>,
    home: Option<String>,
    cwd: Option<String>,
    env: BTreeMap<String, String>,
    capabilities: Capabilities,
    no_new_privs: bool,
    seccomp: u32,
    securebits: u32,
    landlock_abi: i64,
    pid: i32,
    ppid: i32,
    sid: i32,
    pgid: i32,
    has_controlling_tty: bool,
    pids: Vec<i32>,
    mounts: Vec<Mount>,
    dev: Vec<String>,
    interfaces: Vec<Interface>,
    sys_visible: bool,
    syscalls: Vec<SyscallCheck>,
    /// Set when the Landlock query itself killed its child (not in the JSON,
    /// whose `landlock_abi` then says ENOSYS).
    #[serde(skip)]
    landlock_killed_by: Option<i32>,
}

#[derive(Debug, Serialize)]
struct Capabilities {
    inheritable: String,
    permitted: String,
    effective: String,
    bounding: String,
    ambient: String,
}

#[derive(Debug, Serialize)]
struct Mount {
    mount_point: String,
    fs_type: String,
    source: String,
    options: String,
    super_options: String,
}

#[derive(Debug, Serialize)]
struct Interface {
    name: String,
    up: bool,
    mac: Option<String>,
}

#[derive(Debug, Serialize)]
struct SyscallCheck {
    name: String,
    result: CheckResult,
    errno: Option<i32>,
    signal: Option<i32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
enum CheckResult {
    Refused,
    Allowed,
    Killed,
}

// ---------------------------------------------------------------------------
// Entry point.

fn main() {
    let mut json = false;
    for arg in std::env::args_os().skip(1) {
        match arg.to_str() {
            Some("--json") => json = true,
            Some("--help" | "-h") => {
                let mut out = std::io::stdout().lock();
                let status = if writeln!(out, "{HELP}").and_then(|()| out.flush()).is_ok() {
                    0
                } else {
                    1
                };
                std::process::exit(status);
            }
            _ => {
                eprintln!(
                    "wsbox-probe: unknown argument {:?} (try --help)",
                    arg.to_string_lossy()
                );
                std::process::exit(2);
            }
        }
    }

    let report = collect();
    let text = if json {
        match serde_json::to_string(&report) {
            Ok(text) => text + "\n",
            Err(err) => {
                eprintln!("wsbox-probe: cannot encode the report: {err}");
                std::process::exit(1);
            }
        }
    } else {
        human(&report)
    };
    let mut out = std::io::stdout().lock();
    if out
        .write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .is_err()
    {
        std::process::exit(1);
    }
}

fn collect() -> Report {
    let status = proc_status();
    let cap = |key: &str| {
        status
            .get(key)
            .map(|hex| format!("0x{hex}"))
            .unwrap_or_default()
    };
    let capabilities = Capabilities {
        inheritable: cap("CapInh"),
        permitted: cap("CapPrm"),
        effective: cap("CapEff"),
        bounding: cap("CapBnd"),
        ambient: cap("CapAmb"),
    };
    let sys_admin = parse_hex(&capabilities.effective)
        .map(|mask| mask & (1 << CAP_SYS_ADMIN) != 0)
        .unwrap_or(false);

    // SAFETY: these identity calls take no arguments and cannot fail.
    let (uid, gid, euid, egid) = unsafe {
        (
            libc::getuid(),
            libc::getgid(),
            libc::geteuid(),
            libc::getegid(),
        )
    };
    // SAFETY: as above; getsid(0) asks about the caller.
    let (pid, ppid, sid, pgid) = unsafe {
        (
            libc::getpid(),
            libc::getppid(),
            libc::getsid(0),
            libc::getpgrp(),
        )
    };

    let env: BTreeMap<String, String> = std::env::vars_os()
        .map(|(k, v)| {
            (
                k.to_string_lossy().into_owned(),
                v.to_string_lossy().into_owned(),
            )
        })
        .collect();
    let passwd = passwd_entry(uid);
    let home = env
        .get("HOME")
        .cloned()
        .or_else(|| passwd.as_ref().and_then(|p| p.home.clone()));

    let (landlock_abi, landlock_killed_by) = landlock_abi();

    Report {
        uid,
        gid,
        euid,
        egid,
        groups: groups(),
        uid_map: read_trimmed("/proc/self/uid_map").unwrap_or_default(),
        gid_map: read_trimmed("/proc/self/gid_map").unwrap_or_default(),
        user_name: passwd.map(|p| p.name),
        hostname: hostname(),
        machine_id: read_trimmed("/etc/machine-id"),
        home,
        cwd: std::env::current_dir()
            .ok()
            .map(|p| p.to_string_lossy().into_owned()),
        env,
        capabilities,
        no_new_privs: prctl_get(libc::PR_GET_NO_NEW_PRIVS) == 1,
        seccomp: status
            .get("Seccomp")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0),
        securebits: u32::try_from(prctl_get(libc::PR_GET_SECUREBITS)).unwrap_or(0),
        landlock_abi,
        pid,
        ppid,
        sid,
        pgid,
        has_controlling_tty: has_controlling_tty(),
        pids: pids(),
        mounts: mounts(),
        dev: dir_names("/dev"),
        interfaces: interfaces(),
        sys_visible: Path::new("/sys/class").exists(),
        syscalls: syscall_checks(Context { sys_admin }),
        landlock_killed_by,
    }
}

// ---------------------------------------------------------------------------
// What the process can see.

fn read_trimmed(path: &str) -> Option<String> {
    std::fs::read_to_string(path)
        .ok()
        .map(|s| s.trim().to_owned())
}

/// The `Key:\tvalue` lines of /proc/self/status.
fn proc_status() -> BTreeMap<String, String> {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .filter_map(|line| line.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect()
}

fn parse_hex(s: &str) -> Option<u64> {
    u64::from_str_radix(s.strip_prefix("0x")?, 16).ok()
}

fn prctl_get(option: c_int) -> c_int {
    // SAFETY: the PR_GET_* options used here take no pointer arguments.
    unsafe { libc::prctl(option, 0, 0, 0, 0) }
}

fn groups() -> Vec<u32> {
    nix::unistd::getgroups()
        .map(|gids| gids.into_iter().map(|g| g.as_raw()).collect())
        .unwrap_or_default()
}

fn hostname() -> String {
    // SAFETY: utsname is plain old data, for which all zeroes is valid.
    let mut uts: libc::utsname = unsafe { std::mem::zeroed() };
    // SAFETY: uname fills the struct it is given, which lives across the call.
    if unsafe { libc::uname(&mut uts) } != 0 {
        return String::new();
    }
    let bytes: Vec<u8> = uts
        .nodename
        .iter()
        .take_while(|&&c| c != 0)
        .map(|&c| c as u8)
        .collect();
    String::from_utf8_lossy(&bytes).into_owned()
}

#[derive(Debug)]
struct Passwd {
    name: String,
    home: Option<String>,
}

/// The passwd entry of `uid`: from /etc/passwd, else through NSS.
fn passwd_entry(uid: u32) -> Option<Passwd> {
    let from_file = std::fs::read_to_string("/etc/passwd")
        .ok()
        .and_then(|text| {
            text.lines().find_map(|line| {
                let fields: Vec<&str> = line.split(':').collect();
                (fields.len() >= 6 && fields[2].parse() == Ok(uid)).then(|| Passwd {
                    name: fields[0].to_owned(),
                    home: Some(fields[5].to_owned()).filter(|h| !h.is_empty()),
                })
            })
        });
    from_file.or_else(|| getpwuid(uid))
}

fn getpwuid(uid: u32) -> Option<Passwd> {
    // SAFETY: passwd is plain old data, for which all zeroes is valid.
    let mut pwd: libc::passwd = unsafe { std::mem::zeroed() };
    let mut buf = vec![0 as c_char; 16 * 1024];
    let mut result: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: every pointer refers to a live local of the advertised size;
    // the strings written into `pwd` point into `buf`.
    let rc = unsafe { libc::getpwuid_r(uid, &mut pwd, buf.as_mut_ptr(), buf.len(), &mut result) };
    if rc != 0 || result.is_null() || pwd.pw_name.is_null() {
        return None;
    }
    let string = |p: *const c_char| {
        // SAFETY: non-null fields of a successful getpwuid_r are NUL-terminated
        // strings inside `buf`, which is still alive.
        (!p.is_null()).then(|| unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned())
    };
    Some(Passwd {
        name: string(pwd.pw_name)?,
        home: string(pwd.pw_dir).filter(|h| !h.is_empty()),
    })
}

fn has_controlling_tty() -> bool {
    // SAFETY: open with a static NUL-terminated path.
    let fd = unsafe {
        libc::open(
            c"/dev/tty".as_ptr(),
            libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC,
        )
    };
    if fd < 0 {
        return false;
    }
    // SAFETY: `fd` was just opened here and is closed once.
    unsafe { libc::close(fd) };
    true
}

fn pids() -> Vec<i32> {
    let mut pids: Vec<i32> = std::fs::read_dir("/proc")
        .map(|dir| {
            dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
                .collect()
        })
        .unwrap_or_default();
    pids.sort_unstable();
    pids
}

fn dir_names(path: &str) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(path)
        .map(|dir| {
            dir.filter_map(|e| Some(e.ok()?.file_name().to_string_lossy().into_owned()))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// Undoes the octal escapes (`\040` for a space, ...) of /proc mount files.
fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\' && i + 3 < bytes.len() {
            let digits = &bytes[i + 1..i + 4];
            if digits.iter().all(|d| (b'0'..=b'7').contains(d)) {
                let value = digits
                    .iter()
                    .fold(0u32, |acc, d| acc * 8 + u32::from(d - b'0'));
                if let Ok(byte) = u8::try_from(value) {
                    out.push(byte);
                    i += 4;
                    continue;
                }
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// One line of /proc/self/mountinfo:
/// `id parent major:minor root mount_point options [optional...] - fs_type source super_options`.
fn parse_mountinfo_line(line: &str) -> Option<Mount> {
    let fields: Vec<&str> = line.split(' ').collect();
    let separator = fields.iter().position(|f| *f == "-")?;
    if separator < 6 {
        return None;
    }
    let after = &fields[separator + 1..];
    Some(Mount {
        mount_point: unescape(fields[4]),
        options: unescape(fields[5]),
        fs_type: unescape(after.first()?),
        source: unescape(after.get(1).copied().unwrap_or("")),
        super_options: unescape(after.get(2).copied().unwrap_or("")),
    })
}

fn mounts() -> Vec<Mount> {
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .filter_map(parse_mountinfo_line)
        .collect()
}

fn interfaces() -> Vec<Interface> {
    let names: Vec<String> = std::fs::read_to_string("/proc/net/dev")
        .unwrap_or_default()
        .lines()
        .skip(2)
        .filter_map(|line| Some(line.split_once(':')?.0.trim().to_owned()))
        .filter(|name| !name.is_empty())
        .collect();
    // SAFETY: a plain socket call; the fd is closed below.
    let sock = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    let list = names
        .into_iter()
        .map(|name| Interface {
            up: interface_up(sock, &name),
            mac: read_trimmed(&format!("/sys/class/net/{name}/address")),
            name,
        })
        .collect();
    if sock >= 0 {
        // SAFETY: `sock` was opened above and is closed once.
        unsafe { libc::close(sock) };
    }
    list
}

fn interface_up(sock: c_int, name: &str) -> bool {
    if sock < 0 || name.len() >= libc::IFNAMSIZ {
        return false;
    }
    // SAFETY: ifreq is plain old data, for which all zeroes is valid.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in req.ifr_name.iter_mut().zip(name.bytes()) {
        *dst = src as c_char;
    }
    // SAFETY: SIOCGIFFLAGS reads the NUL-terminated name in `req` and writes
    // its flags member; `req` lives across the call.
    if unsafe { libc::ioctl(sock, libc::SIOCGIFFLAGS, &mut req) } != 0 {
        return false;
    }
    // SAFETY: after a successful SIOCGIFFLAGS the flags member is the one the
    // kernel wrote (and every bit pattern is a valid c_short anyway).
    let flags = unsafe { req.ifr_ifru.ifru_flags };
    c_int::from(flags) & libc::IFF_UP != 0
}

/// The Landlock ABI version, or the negated errno; queried in a child in case
/// a filter kills the caller of landlock_create_ruleset.
fn landlock_abi() -> (i64, Option<i32>) {
    let observed = in_child(|| {
        // SAFETY: with a null attribute pointer, size 0 and the VERSION flag
        // the kernel only returns a number.
        outcome(unsafe {
            libc::syscall(
                libc::SYS_landlock_create_ruleset,
                std::ptr::null::<u8>(),
                0 as libc::size_t,
                LANDLOCK_CREATE_RULESET_VERSION,
            )
        })
    });
    match observed {
        Observed::Done(Outcome::Allowed(version)) => (version, None),
        Observed::Done(Outcome::Refused(errno)) => (-i64::from(errno), None),
        Observed::Killed(signal) => (-i64::from(libc::ENOSYS), Some(signal)),
        Observed::Unknown => (-i64::from(libc::ENOSYS), None),
    }
}

// ---------------------------------------------------------------------------
// Running a check in a forked child.

/// What the call in a check child did.
#[derive(Debug, Clone, Copy)]
enum Outcome {
    /// Succeeded, with this return value.
    Allowed(i64),
    /// Returned -1 with this errno.
    Refused(i32),
}

/// What the parent saw of a check child.
#[derive(Debug, Clone, Copy)]
enum Observed {
    Done(Outcome),
    /// Killed by this signal (SIGKILL also when it overran its deadline).
    Killed(i32),
    /// Exited without reporting, or could not be started.
    Unknown,
}

fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

/// -1 means refused with errno; anything else is success.
fn outcome(ret: c_long) -> Outcome {
    if ret == -1 {
        Outcome::Refused(errno())
    } else {
        Outcome::Allowed(ret)
    }
}

/// Runs `check` in a forked child and observes it: the child reports its
/// outcome through a pipe and leaves with `_exit`; a signal that kills it is
/// observed as such. The probe is single-threaded, so the child may run
/// ordinary code.
fn in_child(check: impl FnOnce() -> Outcome) -> Observed {
    let mut fds: [c_int; 2] = [-1, -1];
    // SAFETY: pipe2 writes two fds into the array it is given.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC | libc::O_NONBLOCK) } != 0 {
        return Observed::Unknown;
    }
    let [read_end, write_end] = fds;
    // SAFETY: the process has a single thread, so the child starts in a
    // consistent state; it never returns from this function (see _exit below).
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        // SAFETY: closing the child's copy of the read end.
        unsafe { libc::close(read_end) };
        let mut record = [0u8; 9];
        let (tag, value) = match check() {
            Outcome::Allowed(ret) => (b'a', ret),
            Outcome::Refused(errno) => (b'r', i64::from(errno)),
        };
        record[0] = tag;
        record[1..].copy_from_slice(&value.to_ne_bytes());
        // SAFETY: writes 9 bytes from a live buffer into an empty pipe, then
        // leaves without running destructors or atexit handlers that belong
        // to the parent.
        unsafe {
            libc::write(write_end, record.as_ptr().cast(), record.len());
            libc::_exit(0);
        }
    }
    // SAFETY: the parent's copy of the write end is no longer needed.
    unsafe { libc::close(write_end) };
    let observed = if pid < 0 {
        Observed::Unknown
    } else {
        match wait_for(pid) {
            Some(status) if libc::WIFSIGNALED(status) => Observed::Killed(libc::WTERMSIG(status)),
            Some(_) => read_record(read_end),
            None => Observed::Unknown,
        }
    };
    // SAFETY: the read end was opened above and is closed once.
    unsafe { libc::close(read_end) };
    observed
}

fn read_record(fd: c_int) -> Observed {
    let mut record = [0u8; 9];
    // SAFETY: reads at most 9 bytes into a live 9-byte buffer; the pipe is
    // non-blocking, so a missing record cannot hang the probe.
    let n = unsafe { libc::read(fd, record.as_mut_ptr().cast(), record.len()) };
    if n != 9 {
        return Observed::Unknown;
    }
    let mut value = [0u8; 8];
    value.copy_from_slice(&record[1..]);
    let value = i64::from_ne_bytes(value);
    match record[0] {
        b'a' => Observed::Done(Outcome::Allowed(value)),
        b'r' => Observed::Done(Outcome::Refused(i32::try_from(value).unwrap_or(0))),
        _ => Observed::Unknown,
    }
}

/// Waits for `pid` to exit or be killed, killing it when it overruns the
/// deadline or stops (a traced child that stops would otherwise wait forever).
fn wait_for(pid: libc::pid_t) -> Option<c_int> {
    let start = Instant::now();
    let mut pause = Duration::from_micros(100);
    let mut sent_kill = false;
    loop {
        let mut status: c_int = 0;
        // SAFETY: waiting for our own child with a pointer to a live int.
        let r = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG | libc::__WALL) };
        if r == pid {
            if libc::WIFEXITED(status) || libc::WIFSIGNALED(status) {
                return Some(status);
            }
            if libc::WIFSTOPPED(status) {
                // SAFETY: signalling our own, not yet reaped, child.
                unsafe { libc::kill(pid, libc::SIGKILL) };
                sent_kill = true;
            }
            continue;
        }
        if r < 0 {
            if errno() == libc::EINTR {
                continue;
            }
            return None;
        }
        if !sent_kill && start.elapsed() > CHECK_DEADLINE {
            // SAFETY: signalling our own, not yet reaped, child.
            unsafe { libc::kill(pid, libc::SIGKILL) };
            sent_kill = true;
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(10));
    }
}

/// Reaps a process the check child itself created.
fn reap(pid: c_long) {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return;
    };
    let mut status: c_int = 0;
    // SAFETY: waiting for our own child with a pointer to a live int.
    unsafe { libc::waitpid(pid, &mut status, libc::__WALL) };
}

// ---------------------------------------------------------------------------
// The syscall checks. Each function runs in a check child.

/// What the checks need to know about the probe.
#[derive(Debug, Clone, Copy)]
struct Context {
    /// CAP_SYS_ADMIN is in the effective set: mount calls might succeed, so
    /// they must run in a private mount namespace.
    sys_admin: bool,
}

type Check = Box<dyn Fn() -> Outcome>;

fn syscall_checks(ctx: Context) -> Vec<SyscallCheck> {
    let mut checks: Vec<(&'static str, Check)> = vec![
        ("unshare(CLONE_NEWUSER)", Box::new(check_unshare_user)),
        ("clone(CLONE_NEWUSER)", Box::new(check_clone_user)),
        ("clone3", Box::new(check_clone3)),
        ("setns", Box::new(check_setns)),
        ("mount", Box::new(move || check_mount(ctx))),
        ("umount2", Box::new(move || check_umount2(ctx))),
        ("pivot_root", Box::new(move || check_pivot_root(ctx))),
        ("open_tree", Box::new(check_open_tree)),
        ("move_mount", Box::new(move || check_move_mount(ctx))),
        ("fsopen", Box::new(check_fsopen)),
        ("fsconfig", Box::new(check_fsconfig)),
        ("fsmount", Box::new(check_fsmount)),
        ("fspick", Box::new(move || check_fspick(ctx))),
        ("mount_setattr", Box::new(check_mount_setattr)),
        ("io_uring_setup", Box::new(check_io_uring_setup)),
        ("userfaultfd", Box::new(check_userfaultfd)),
        ("bpf", Box::new(check_bpf)),
        ("perf_event_open", Box::new(check_perf_event_open)),
        ("keyctl", Box::new(check_keyctl)),
        ("add_key", Box::new(check_add_key)),
        ("request_key", Box::new(check_request_key)),
        ("kexec_load", Box::new(check_kexec_load)),
        ("init_module", Box::new(check_init_module)),
        ("finit_module", Box::new(check_finit_module)),
        ("delete_module", Box::new(check_delete_module)),
        (
            "ptrace(PTRACE_ATTACH, 1)",
            Box::new(check_ptrace_attach_init),
        ),
        ("ptrace(PTRACE_TRACEME)", Box::new(check_ptrace_traceme)),
        (
            "ioctl(TIOCSTI)",
            Box::new(|| check_pty_ioctl(TIOCSTI, b'x')),
        ),
        (
            "ioctl(TIOCSTI|1<<32)",
            Box::new(|| check_pty_ioctl((1 << 32) | TIOCSTI, b'x')),
        ),
        (
            "ioctl(TIOCLINUX)",
            Box::new(|| check_pty_ioctl(TIOCLINUX, 0)),
        ),
    ];
    let sockets: [(&'static str, c_int, c_int, c_int); 9] = [
        ("socket(AF_PACKET)", libc::AF_PACKET, libc::SOCK_RAW, 0),
        (
            "socket(AF_BLUETOOTH)",
            libc::AF_BLUETOOTH,
            libc::SOCK_DGRAM,
            0,
        ),
        ("socket(AF_VSOCK)", libc::AF_VSOCK, libc::SOCK_STREAM, 0),
        ("socket(AF_KEY)", libc::AF_KEY, libc::SOCK_RAW, PF_KEY_V2),
        ("socket(AF_CAN)", libc::AF_CAN, libc::SOCK_RAW, CAN_RAW),
        ("socket(AF_XDP)", libc::AF_XDP, libc::SOCK_RAW, 0),
        ("socket(AF_ALG)", libc::AF_ALG, libc::SOCK_SEQPACKET, 0),
        ("socket(AF_UNIX)", libc::AF_UNIX, libc::SOCK_DGRAM, 0),
        ("socket(AF_INET)", libc::AF_INET, libc::SOCK_DGRAM, 0),
    ];
    for (name, family, kind, protocol) in sockets {
        checks.push((name, Box::new(move || check_socket(family, kind, protocol))));
    }
    #[cfg(target_arch = "x86_64")]
    {
        checks.push(("int 0x80 getpid", Box::new(check_int80_getpid)));
        checks.push(("x32 getpid", Box::new(check_x32_getpid)));
    }

    checks
        .into_iter()
        .map(|(name, check)| {
            let (result, errno, signal) = match in_child(check) {
                Observed::Done(Outcome::Allowed(_)) => (CheckResult::Allowed, None, None),
                Observed::Done(Outcome::Refused(errno)) => {
                    (CheckResult::Refused, Some(errno), None)
                }
                Observed::Killed(signal) => (CheckResult::Killed, None, Some(signal)),
                Observed::Unknown => (CheckResult::Refused, None, None),
            };
            SyscallCheck {
                name: name.to_owned(),
                result,
                errno,
                signal,
            }
        })
        .collect()
}

/// `Ok` or the errno of a `0 / -1` libc call.
fn zero_or_errno(rc: c_int) -> Result<(), i32> {
    if rc == -1 {
        Err(errno())
    } else {
        Ok(())
    }
}

fn check_unshare_user() -> Outcome {
    // SAFETY: unshare takes only flags; it affects this check child only.
    outcome(unsafe { libc::unshare(libc::CLONE_NEWUSER) }.into())
}

fn check_clone_user() -> Outcome {
    let flags = (libc::CLONE_NEWUSER | libc::SIGCHLD) as c_ulong;
    // SAFETY: without CLONE_VM and with a null stack, clone behaves like fork:
    // the new process gets its own copy of the address space and leaves at once.
    let ret = unsafe { libc::syscall(libc::SYS_clone, flags, 0usize, 0usize, 0usize, 0usize) };
    if ret == 0 {
        // SAFETY: the new process leaves immediately, running nothing.
        unsafe { libc::_exit(0) };
    }
    if ret > 0 {
        reap(ret);
    }
    outcome(ret)
}

fn check_clone3() -> Outcome {
    // struct clone_args, version 2 (88 bytes): flags, pidfd, child_tid,
    // parent_tid, exit_signal, stack, stack_size, tls, set_tid, set_tid_size,
    // cgroup.
    let mut args = [0u64; 11];
    args[4] = libc::SIGCHLD as u64;
    // SAFETY: `args` is a live 88-byte clone_args; with flags 0 and no stack
    // clone3 behaves like fork and the new process leaves at once.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_clone3,
            args.as_mut_ptr(),
            std::mem::size_of_val(&args),
        )
    };
    if ret == 0 {
        // SAFETY: the new process leaves immediately, running nothing.
        unsafe { libc::_exit(0) };
    }
    if ret > 0 {
        reap(ret);
    }
    outcome(ret)
}

fn check_setns() -> Outcome {
    // SAFETY: open with a static NUL-terminated path.
    let fd = unsafe {
        libc::open(
            c"/proc/self/ns/net".as_ptr(),
            libc::O_RDONLY | libc::O_CLOEXEC,
        )
    };
    if fd < 0 {
        return Outcome::Refused(errno());
    }
    // SAFETY: rejoining our own network namespace changes nothing.
    outcome(unsafe { libc::setns(fd, 0) }.into())
}

/// Before a mount check that might succeed (CAP_SYS_ADMIN held): moves the
/// child into a private mount namespace, optionally with a fresh tmpfs on
/// /tmp to act on and /tmp as the working directory. Nothing is done without
/// CAP_SYS_ADMIN, since the kernel then refuses every mount call anyway.
fn private_mounts(ctx: Context, tmpfs_on_tmp: bool, cd_tmp: bool) -> Result<(), i32> {
    if !ctx.sys_admin {
        return Ok(());
    }
    // SAFETY: unshare takes only flags; it affects this check child only.
    zero_or_errno(unsafe { libc::unshare(libc::CLONE_NEWNS) })?;
    // SAFETY: static NUL-terminated strings; the recursive MS_PRIVATE applies
    // to the child's own new namespace, so nothing propagates out of it.
    zero_or_errno(unsafe {
        libc::mount(
            std::ptr::null(),
            c"/".as_ptr(),
            std::ptr::null(),
            libc::MS_REC | libc::MS_PRIVATE,
            std::ptr::null(),
        )
    })?;
    if tmpfs_on_tmp {
        // Best effort: the check's own call is what is being observed.
        mount_tmpfs_on_tmp();
    }
    if cd_tmp {
        // SAFETY: static NUL-terminated path; best effort like the tmpfs.
        unsafe { libc::chdir(c"/tmp".as_ptr()) };
    }
    Ok(())
}

fn mount_tmpfs_on_tmp() -> c_int {
    // SAFETY: static NUL-terminated strings and no data. Callers have moved
    // into a private mount namespace first, or lack the privilege to mount.
    unsafe {
        libc::mount(
            c"tmpfs".as_ptr(),
            c"/tmp".as_ptr(),
            c"tmpfs".as_ptr(),
            0,
            std::ptr::null(),
        )
    }
}

fn check_mount(ctx: Context) -> Outcome {
    if let Err(errno) = private_mounts(ctx, false, false) {
        return Outcome::Refused(errno);
    }
    outcome(mount_tmpfs_on_tmp().into())
}

fn check_umount2(ctx: Context) -> Outcome {
    if let Err(errno) = private_mounts(ctx, true, false) {
        return Outcome::Refused(errno);
    }
    // SAFETY: static NUL-terminated path, in the private namespace (or
    // without the privilege to unmount).
    outcome(unsafe { libc::umount2(c"/tmp".as_ptr(), libc::MNT_DETACH) }.into())
}

fn check_pivot_root(ctx: Context) -> Outcome {
    if let Err(errno) = private_mounts(ctx, true, true) {
        return Outcome::Refused(errno);
    }
    // SAFETY: static NUL-terminated paths, in the private namespace (or
    // without the privilege to pivot).
    outcome(unsafe { libc::syscall(libc::SYS_pivot_root, c".".as_ptr(), c".".as_ptr()) })
}

/// A recursive clone: a non-recursive one of "/" fails with EINVAL even when
/// permitted, in a mount namespace owned by a user namespace (locked mounts).
fn check_open_tree() -> Outcome {
    // SAFETY: static NUL-terminated path; the detached copy of the mount tree
    // dies with the child.
    outcome(unsafe {
        libc::syscall(
            libc::SYS_open_tree,
            c_long::from(libc::AT_FDCWD),
            c"/".as_ptr(),
            OPEN_TREE_CLONE | c_long::from(libc::AT_RECURSIVE),
        )
    })
}

fn check_move_mount(ctx: Context) -> Outcome {
    if let Err(errno) = private_mounts(ctx, true, false) {
        return Outcome::Refused(errno);
    }
    // SAFETY: static NUL-terminated paths, in the private namespace (or
    // without the privilege to move mounts).
    outcome(unsafe {
        libc::syscall(
            libc::SYS_move_mount,
            c_long::from(libc::AT_FDCWD),
            c"/tmp".as_ptr(),
            c_long::from(libc::AT_FDCWD),
            c"/tmp".as_ptr(),
            0 as c_long,
        )
    })
}

fn fsopen_tmpfs() -> c_long {
    // SAFETY: static NUL-terminated name; the fs context dies with the child.
    unsafe { libc::syscall(libc::SYS_fsopen, c"tmpfs".as_ptr(), 0 as c_long) }
}

fn fsconfig_create(fd: c_long) -> c_long {
    // SAFETY: FSCONFIG_CMD_CREATE takes no key or value; the superblock it
    // creates is attached nowhere and dies with the child.
    unsafe {
        libc::syscall(
            libc::SYS_fsconfig,
            fd,
            FSCONFIG_CMD_CREATE,
            std::ptr::null::<c_char>(),
            std::ptr::null::<c_char>(),
            0 as c_long,
        )
    }
}

fn check_fsopen() -> Outcome {
    outcome(fsopen_tmpfs())
}

/// FSCONFIG_CMD_CREATE on a tmpfs context when fsopen works, else on fd -1.
fn check_fsconfig() -> Outcome {
    outcome(fsconfig_create(fsopen_tmpfs().max(-1)))
}

/// fsmount of a created tmpfs context when fsopen works, else of fd -1.
fn check_fsmount() -> Outcome {
    let fd = fsopen_tmpfs().max(-1);
    if fd >= 0 {
        fsconfig_create(fd);
    }
    // SAFETY: integer arguments only; the detached mount dies with the child.
    outcome(unsafe { libc::syscall(libc::SYS_fsmount, fd, FSMOUNT_CLOEXEC, 0 as c_long) })
}

fn check_fspick(ctx: Context) -> Outcome {
    if let Err(errno) = private_mounts(ctx, true, false) {
        return Outcome::Refused(errno);
    }
    // SAFETY: static NUL-terminated path; the context fd dies with the child.
    outcome(unsafe {
        libc::syscall(
            libc::SYS_fspick,
            c_long::from(libc::AT_FDCWD),
            c"/tmp".as_ptr(),
            0 as c_long,
        )
    })
}

fn check_mount_setattr() -> Outcome {
    // struct mount_attr: attr_set, attr_clr, propagation, userns_fd; all zero
    // asks for no change at all.
    let attr = [0u64; 4];
    // SAFETY: `attr` is a live 32-byte struct that the kernel only reads.
    outcome(unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            c_long::from(libc::AT_FDCWD),
            c"/tmp".as_ptr(),
            0 as c_long,
            attr.as_ptr(),
            std::mem::size_of_val(&attr),
        )
    })
}

fn check_io_uring_setup() -> Outcome {
    // struct io_uring_params: 120 bytes, all zero.
    let mut params = [0u64; 15];
    // SAFETY: `params` is a live 120-byte buffer the kernel reads and fills;
    // the ring dies with the child.
    outcome(unsafe { libc::syscall(libc::SYS_io_uring_setup, 1 as c_long, params.as_mut_ptr()) })
}

fn check_userfaultfd() -> Outcome {
    // SAFETY: integer flags only; the fd dies with the child.
    outcome(unsafe { libc::syscall(libc::SYS_userfaultfd, 0 as c_long) })
}

fn check_bpf() -> Outcome {
    // union bpf_attr for BPF_MAP_CREATE: map_type, key_size, value_size,
    // max_entries, the rest zero. A one-entry array map: cheap, gone on exit.
    let mut attr = [0u32; 32];
    attr[0] = BPF_MAP_TYPE_ARRAY;
    attr[1] = 4;
    attr[2] = 4;
    attr[3] = 1;
    // SAFETY: `attr` is a live 128-byte buffer that the kernel only reads.
    outcome(unsafe {
        libc::syscall(
            libc::SYS_bpf,
            BPF_MAP_CREATE,
            attr.as_ptr(),
            std::mem::size_of_val(&attr),
        )
    })
}

fn check_perf_event_open() -> Outcome {
    // struct perf_event_attr (128 bytes): type, size, config (0: cpu clock),
    // ..., and at byte 40 the flag bits: disabled, exclude_kernel and
    // exclude_hv, so that an unprivileged caller may open it too.
    let flag = |bit: u32| {
        if cfg!(target_endian = "little") {
            1u64 << bit
        } else {
            1u64 << (63 - bit)
        }
    };
    let mut attr = [0u8; 128];
    attr[0..4].copy_from_slice(&PERF_TYPE_SOFTWARE.to_ne_bytes());
    attr[4..8].copy_from_slice(&128u32.to_ne_bytes());
    attr[40..48].copy_from_slice(&(flag(0) | flag(5) | flag(6)).to_ne_bytes());
    // SAFETY: `attr` is a live 128-byte buffer; the event counts this child
    // only and dies with it.
    outcome(unsafe {
        libc::syscall(
            libc::SYS_perf_event_open,
            attr.as_ptr(),
            0 as c_long,
            -1 as c_long,
            -1 as c_long,
            0 as c_long,
        )
    })
}

fn check_keyctl() -> Outcome {
    // SAFETY: integer arguments only; asks for a keyring id without creating.
    outcome(unsafe {
        libc::syscall(
            libc::SYS_keyctl,
            KEYCTL_GET_KEYRING_ID,
            KEY_SPEC_SESSION_KEYRING,
            0 as c_long,
        )
    })
}

fn add_probe_key() -> c_long {
    let payload = b"x";
    // SAFETY: static NUL-terminated strings and a live 1-byte payload; the
    // key goes into the process keyring, which dies with the child.
    unsafe {
        libc::syscall(
            libc::SYS_add_key,
            c"user".as_ptr(),
            c"wsbox-probe".as_ptr(),
            payload.as_ptr(),
            payload.len(),
            KEY_SPEC_PROCESS_KEYRING,
        )
    }
}

fn check_add_key() -> Outcome {
    outcome(add_probe_key())
}

/// Looks up the key that a best-effort add_key just put into the process
/// keyring, so a permitted call succeeds instead of failing with ENOKEY.
fn check_request_key() -> Outcome {
    add_probe_key();
    // SAFETY: static NUL-terminated strings, no callout, no destination.
    outcome(unsafe {
        libc::syscall(
            libc::SYS_request_key,
            c"user".as_ptr(),
            c"wsbox-probe".as_ptr(),
            std::ptr::null::<c_char>(),
            0 as c_long,
        )
    })
}

/// kexec_load(0, 0, NULL, 0) would unload a staged kexec kernel for the whole
/// machine, so this asks for one segment too many: EINVAL after the
/// permission check when permitted, EPERM (or the filter's answer) otherwise.
fn check_kexec_load() -> Outcome {
    // SAFETY: the segment count is rejected before the null pointer is read.
    outcome(unsafe {
        libc::syscall(
            libc::SYS_kexec_load,
            0 as c_long,
            KEXEC_SEGMENT_MAX + 1,
            std::ptr::null::<u8>(),
            0 as c_long,
        )
    })
}

fn check_init_module() -> Outcome {
    // SAFETY: a null image of length 0 is rejected before anything is read
    // beyond the empty parameter string.
    outcome(unsafe {
        libc::syscall(
            libc::SYS_init_module,
            std::ptr::null::<u8>(),
            0 as c_long,
            c"".as_ptr(),
        )
    })
}

fn check_finit_module() -> Outcome {
    // SAFETY: fd -1 and an empty static parameter string.
    outcome(unsafe {
        libc::syscall(
            libc::SYS_finit_module,
            -1 as c_long,
            c"".as_ptr(),
            0 as c_long,
        )
    })
}

fn check_delete_module() -> Outcome {
    // SAFETY: static NUL-terminated name of a module that does not exist.
    outcome(unsafe {
        libc::syscall(
            libc::SYS_delete_module,
            c"wsbox_probe_none".as_ptr(),
            c_long::from(libc::O_NONBLOCK),
        )
    })
}

/// Attaching stops the target with SIGSTOP. When the attach works, this waits
/// for that stop and detaches suppressing the signal, so pid 1 runs on as if
/// nothing happened; other signals it stops for are passed on.
fn check_ptrace_attach_init() -> Outcome {
    // SAFETY: integer arguments only.
    let ret = unsafe { libc::ptrace(libc::PTRACE_ATTACH, 1 as libc::pid_t, 0usize, 0usize) };
    if ret == -1 {
        return Outcome::Refused(errno());
    }
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(3) {
        let mut status: c_int = 0;
        // SAFETY: waiting for our tracee with a pointer to a live int.
        let r = unsafe { libc::waitpid(1, &mut status, libc::WNOHANG | libc::__WALL) };
        if r == 1 && libc::WIFSTOPPED(status) {
            let sig = libc::WSTOPSIG(status);
            if sig == libc::SIGSTOP {
                // SAFETY: detaching from our stopped tracee, injecting no signal.
                unsafe { libc::ptrace(libc::PTRACE_DETACH, 1 as libc::pid_t, 0usize, 0usize) };
                break;
            }
            // SAFETY: resuming our stopped tracee with the signal it stopped for.
            unsafe { libc::ptrace(libc::PTRACE_CONT, 1 as libc::pid_t, 0usize, sig as usize) };
        } else if r != 0 {
            break;
        }
        std::thread::sleep(Duration::from_micros(200));
    }
    Outcome::Allowed(ret)
}

fn check_ptrace_traceme() -> Outcome {
    // SAFETY: integer arguments only; the child then only writes and exits,
    // which never stops a tracee.
    outcome(unsafe { libc::ptrace(libc::PTRACE_TRACEME, 0 as libc::pid_t, 0usize, 0usize) })
}

/// Opens a new pty and makes its slave the controlling terminal of a new
/// session; returns the slave fd or the errno of the failing step.
fn controlling_pty() -> Result<c_int, i32> {
    // SAFETY: plain flags; the fd dies with the child.
    let master = unsafe { libc::posix_openpt(libc::O_RDWR | libc::O_NOCTTY) };
    if master < 0 {
        return Err(errno());
    }
    // SAFETY: `master` is a pty master opened above.
    zero_or_errno(unsafe { libc::grantpt(master) })?;
    // SAFETY: as above.
    zero_or_errno(unsafe { libc::unlockpt(master) })?;
    let mut name = [0 as c_char; 128];
    // SAFETY: ptsname_r writes at most `name.len()` bytes into `name`.
    let rc = unsafe { libc::ptsname_r(master, name.as_mut_ptr(), name.len()) };
    if rc != 0 {
        return Err(rc);
    }
    // SAFETY: no arguments; the child is not a process group leader.
    if unsafe { libc::setsid() } == -1 {
        return Err(errno());
    }
    // SAFETY: ptsname_r NUL-terminated `name`; opening the slave without
    // O_NOCTTY makes it the new session's controlling terminal.
    let slave = unsafe { libc::open(name.as_ptr(), libc::O_RDWR) };
    if slave < 0 {
        return Err(errno());
    }
    // SAFETY: integer argument only (0: do not steal from another session).
    zero_or_errno(unsafe { libc::ioctl(slave, libc::TIOCSCTTY, 0 as c_long) })?;
    Ok(slave)
}

/// ioctl(slave, request, &byte) on a controlling pty of the child's own,
/// through the raw syscall so the full 64-bit request reaches the filter.
fn check_pty_ioctl(request: u64, byte: u8) -> Outcome {
    let slave = match controlling_pty() {
        Ok(fd) => fd,
        Err(errno) => return Outcome::Refused(errno),
    };
    // SAFETY: `byte` lives across the call; TIOCSTI reads one byte and pushes
    // it into the child's own pty, TIOCLINUX reads one subcode byte.
    outcome(unsafe {
        libc::syscall(
            libc::SYS_ioctl,
            c_long::from(slave),
            request,
            &byte as *const u8,
        )
    })
}

fn check_socket(family: c_int, kind: c_int, protocol: c_int) -> Outcome {
    // SAFETY: integer arguments only; the socket dies with the child.
    outcome(unsafe { libc::socket(family, kind | libc::SOCK_CLOEXEC, protocol) }.into())
}

#[cfg(target_arch = "x86_64")]
fn check_int80_getpid() -> Outcome {
    let ret: i64;
    // SAFETY: getpid (20) through the i386 entry reads no memory; the kernel
    // returns in eax and zeroes r8-r11 on that path, declared as clobbered.
    unsafe {
        std::arch::asm!(
            "int 0x80",
            inlateout("rax") 20i64 => ret,
            lateout("r8") _,
            lateout("r9") _,
            lateout("r10") _,
            lateout("r11") _,
            options(nostack),
        );
    }
    if (-4095..0).contains(&ret) {
        Outcome::Refused(i32::try_from(-ret).unwrap_or(0))
    } else {
        Outcome::Allowed(ret)
    }
}

#[cfg(target_arch = "x86_64")]
fn check_x32_getpid() -> Outcome {
    // SAFETY: getpid through the x32 syscall numbering takes no arguments.
    outcome(unsafe { libc::syscall(0x4000_0000 | libc::SYS_getpid) })
}

// ---------------------------------------------------------------------------
// Human output.

fn errno_name(errno: i32) -> Option<&'static str> {
    Some(match errno {
        libc::EPERM => "EPERM",
        libc::ENOENT => "ENOENT",
        libc::ESRCH => "ESRCH",
        libc::EIO => "EIO",
        libc::ENXIO => "ENXIO",
        libc::ENOEXEC => "ENOEXEC",
        libc::EBADF => "EBADF",
        libc::EAGAIN => "EAGAIN",
        libc::ENOMEM => "ENOMEM",
        libc::EACCES => "EACCES",
        libc::EFAULT => "EFAULT",
        libc::EBUSY => "EBUSY",
        libc::EEXIST => "EEXIST",
        libc::ENODEV => "ENODEV",
        libc::ENOTDIR => "ENOTDIR",
        libc::EINVAL => "EINVAL",
        libc::EMFILE => "EMFILE",
        libc::ENOTTY => "ENOTTY",
        libc::EROFS => "EROFS",
        libc::ENOSYS => "ENOSYS",
        libc::ELOOP => "ELOOP",
        libc::EPROTONOSUPPORT => "EPROTONOSUPPORT",
        libc::ESOCKTNOSUPPORT => "ESOCKTNOSUPPORT",
        libc::EOPNOTSUPP => "EOPNOTSUPP",
        libc::EAFNOSUPPORT => "EAFNOSUPPORT",
        libc::ENOKEY => "ENOKEY",
        _ => return None,
    })
}

fn errno_text(errno: i32) -> String {
    errno_name(errno).map_or_else(|| format!("errno {errno}"), str::to_owned)
}

fn signal_text(signal: i32) -> String {
    match signal {
        libc::SIGSYS => "SIGSYS".to_owned(),
        libc::SIGKILL => "SIGKILL".to_owned(),
        libc::SIGSEGV => "SIGSEGV".to_owned(),
        libc::SIGILL => "SIGILL".to_owned(),
        libc::SIGBUS => "SIGBUS".to_owned(),
        libc::SIGABRT => "SIGABRT".to_owned(),
        libc::SIGTRAP => "SIGTRAP".to_owned(),
        _ => format!("signal {signal}"),
    }
}

fn yes_no(b: bool) -> &'static str {
    if b {
        "yes"
    } else {
        "no"
    }
}

/// `CAP_SYS_ADMIN` as `sys_admin`.
fn short_cap_name(cap: caps::Capability) -> String {
    let name = cap.to_string().to_lowercase();
    name.strip_prefix("cap_")
        .map_or(name.clone(), str::to_owned)
}

/// A capability mask as `0x…` without leading zeros, with the names of its
/// capabilities (or "all"/"none").
fn cap_text(raw: &str) -> String {
    let Some(mask) = parse_hex(raw) else {
        return if raw.is_empty() {
            "unknown".to_owned()
        } else {
            raw.to_owned()
        };
    };
    let mut known: Vec<caps::Capability> = caps::all().into_iter().collect();
    known.sort_by_key(|c| c.index());
    let held: Vec<String> = known
        .iter()
        .filter(|c| mask & (1u64 << c.index()) != 0)
        .map(|c| short_cap_name(*c))
        .collect();
    let names = if mask == 0 {
        "none".to_owned()
    } else if held.len() == known.len() {
        "all".to_owned()
    } else if held.len() * 2 > known.len() {
        let missing: Vec<String> = known
            .iter()
            .filter(|c| mask & (1u64 << c.index()) == 0)
            .map(|c| short_cap_name(*c))
            .collect();
        format!("all but {}", missing.join(","))
    } else {
        held.join(",")
    };
    format!("{mask:#x} ({names})")
}

fn one_line(map: &str) -> String {
    if map.is_empty() {
        return "(unreadable)".to_owned();
    }
    map.lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect::<Vec<_>>()
        .join("; ")
}

fn human(r: &Report) -> String {
    use std::fmt::Write as _;

    let mut o = String::new();
    let or_none = |v: &Option<String>| v.clone().unwrap_or_else(|| "(none)".to_owned());
    // Writing into a String cannot fail.
    let _ = writeln!(o, "identity:");
    let _ = writeln!(
        o,
        "  uid {} ({}), gid {}, euid {}, egid {}, groups {:?}",
        r.uid,
        r.user_name.as_deref().unwrap_or("no passwd entry"),
        r.gid,
        r.euid,
        r.egid,
        r.groups
    );
    let _ = writeln!(o, "  uid_map: {}", one_line(&r.uid_map));
    let _ = writeln!(o, "  gid_map: {}", one_line(&r.gid_map));
    let _ = writeln!(o, "  hostname: {}", r.hostname);
    let _ = writeln!(o, "  machine-id: {}", or_none(&r.machine_id));
    let _ = writeln!(o, "  home: {}", or_none(&r.home));
    let _ = writeln!(o, "  cwd: {}", or_none(&r.cwd));

    let _ = writeln!(o, "privileges:");
    let c = &r.capabilities;
    let _ = writeln!(o, "  capabilities: effective {}", cap_text(&c.effective));
    let _ = writeln!(o, "                permitted {}", cap_text(&c.permitted));
    let _ = writeln!(
        o,
        "                inheritable {}",
        cap_text(&c.inheritable)
    );
    let _ = writeln!(o, "                bounding {}", cap_text(&c.bounding));
    let _ = writeln!(o, "                ambient {}", cap_text(&c.ambient));
    let _ = writeln!(o, "  no_new_privs: {}", yes_no(r.no_new_privs));
    let seccomp = match r.seccomp {
        0 => "none".to_owned(),
        1 => "strict".to_owned(),
        2 => "filter".to_owned(),
        n => format!("mode {n}"),
    };
    let _ = writeln!(o, "  seccomp: {seccomp}");
    let _ = writeln!(o, "  securebits: {:#x}", r.securebits);
    let landlock = match (r.landlock_killed_by, r.landlock_abi) {
        (Some(signal), _) => format!("query killed ({})", signal_text(signal)),
        (None, abi) if abi > 0 => format!("ABI {abi}"),
        (None, abi) => {
            let errno = i32::try_from(-abi).unwrap_or(0);
            format!("unavailable ({})", errno_text(errno))
        }
    };
    let _ = writeln!(o, "  landlock: {landlock}");

    let _ = writeln!(o, "processes:");
    let _ = writeln!(
        o,
        "  pid {}, ppid {}, sid {}, pgid {}, controlling tty: {}",
        r.pid,
        r.ppid,
        r.sid,
        r.pgid,
        yes_no(r.has_controlling_tty)
    );
    let pids: Vec<String> = r.pids.iter().map(ToString::to_string).collect();
    let _ = writeln!(o, "  processes visible: {}", pids.join(" "));

    let _ = writeln!(o, "mounts:");
    for m in &r.mounts {
        let _ = writeln!(o, "  {}  ({}, {})", m.mount_point, m.fs_type, m.options);
    }
    let _ = writeln!(o, "dev: {}", r.dev.join(" "));
    let interfaces: Vec<String> = r
        .interfaces
        .iter()
        .map(|i| {
            let state = if i.up { "up" } else { "down" };
            match &i.mac {
                Some(mac) => format!("{} ({state}, {mac})", i.name),
                None => format!("{} ({state})", i.name),
            }
        })
        .collect();
    let _ = writeln!(o, "network interfaces: {}", interfaces.join(", "));
    let _ = writeln!(o, "/sys visible: {}", yes_no(r.sys_visible));

    let _ = writeln!(o, "environment ({} variables):", r.env.len());
    for (k, v) in &r.env {
        let _ = writeln!(o, "  {k}={v}");
    }

    let _ = writeln!(o, "syscalls:");
    for s in &r.syscalls {
        let (word, detail) = match s.result {
            CheckResult::Allowed => ("allowed", None),
            CheckResult::Refused => (
                "refused",
                Some(s.errno.map_or_else(|| "no report".to_owned(), errno_text)),
            ),
            CheckResult::Killed => (
                "killed",
                Some(s.signal.map_or_else(|| "?".to_owned(), signal_text)),
            ),
        };
        match detail {
            Some(detail) => {
                let _ = writeln!(o, "  {word:<8} {} ({detail})", s.name);
            }
            None => {
                let _ = writeln!(o, "  {word:<8} {}", s.name);
            }
        }
    }
    o
}
