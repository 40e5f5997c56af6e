//! The app's seccomp filter: its rules are in [`crate::seccomp_rules`],
//! compiled with libseccomp by build.rs, embedded as BPF, and loaded in the
//! sandbox as the last step before exec.
//!
//! The filter is a denylist over an allowed default, because desktop apps use
//! hundreds of syscalls; what it refuses is what lets a process escape or
//! attack the kernel from inside a namespace sandbox. The architecture is
//! pinned: a syscall through another ABI (int 0x80, x32) kills the process.

#[cfg(test)]
use crate::seccomp_rules::{denied_families, ALLOWED_FAMILIES, FAMILY_LIMIT, TIOCLINUX, TIOCSTI};

/// Errors building or loading the filter.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("the embedded seccomp filter is invalid ({0} instructions)")]
    Invalid(usize),
    #[error("failed to load the seccomp filter: {0}")]
    Load(std::io::Error),
    #[error("the kernel has no seccomp filter support (CONFIG_SECCOMP_FILTER)")]
    Unsupported,
}

/// A compiled filter: classic BPF instructions for the native architecture.
#[derive(Clone)]
pub struct Filter {
    program: Vec<libc::sock_filter>,
}

impl std::fmt::Debug for Filter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Filter({} instructions)", self.program.len())
    }
}

/// The app filter, compiled by build.rs for this architecture.
const APP_FILTER: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/app-filter.bpf"));
/// The same, letting the app create nested user namespaces
/// ([`crate::seccomp_rules::NESTED_USERNS_FLAGS`]).
const APP_NESTED_USERNS_FILTER: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/app-nested-userns-filter.bpf"));

/// wsbox's own filters (see [`crate::self_confine`]): the allowlist, and the
/// terminal ioctls it refuses on top.
const WSBOX_FILTER: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/wsbox-filter.bpf"));
const WSBOX_RELAY_FILTER: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/wsbox-relay-filter.bpf"));
const WSBOX_AUDIO_FILTER: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/wsbox-audio-filter.bpf"));
const WSBOX_TTY_FILTER: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/wsbox-tty-filter.bpf"));

impl Filter {
    /// The app filter: the rules of [`crate::seccomp_rules`], compiled at
    /// build time.
    pub fn app() -> Result<Self, Error> {
        Self::from_bpf(APP_FILTER)
    }

    /// The app filter for a policy with `[security] nested_userns`.
    pub fn app_nested_userns() -> Result<Self, Error> {
        Self::from_bpf(APP_NESTED_USERNS_FILTER)
    }

    /// wsbox's allowlist ([`crate::seccomp_rules::WSBOX_ALLOWED`]).
    pub fn wsbox() -> Result<Self, Error> {
        Self::from_bpf(WSBOX_FILTER)
    }

    /// The relay process's allowlist: wsbox's, and TCP sockets
    /// ([`crate::seccomp_rules::RELAY_ADDED`]).
    pub fn wsbox_relay() -> Result<Self, Error> {
        Self::from_bpf(WSBOX_RELAY_FILTER)
    }

    /// The audio helper's allowlist: wsbox's, and unix stream sockets it
    /// connects ([`crate::seccomp_rules::AUDIO_ADDED`]).
    pub fn wsbox_audio() -> Result<Self, Error> {
        Self::from_bpf(WSBOX_AUDIO_FILTER)
    }

    /// The terminal ioctls wsbox refuses itself.
    pub fn wsbox_tty() -> Result<Self, Error> {
        Self::from_bpf(WSBOX_TTY_FILTER)
    }

    /// Built at run time for the confined wsbox, on top of its allowlist:
    /// kill(2) reaches only `pids` (the sandbox's pid 1, wsbox's helpers),
    /// tgkill(2) only threads of `own` (this process), and tkill,
    /// pidfd_open, pidfd_send_signal and the sigqueueinfo calls fail with
    /// EPERM. Other syscalls pass to the allowlist; so does another
    /// architecture's, which the allowlist kills.
    pub fn signals_only_to(pids: &[i32], own: i32) -> Self {
        SignalFilter::build(pids, own)
    }

    fn from_bpf(bytes: &[u8]) -> Result<Self, Error> {
        let program: Vec<libc::sock_filter> = bytes
            .chunks_exact(std::mem::size_of::<libc::sock_filter>())
            .map(|c| libc::sock_filter {
                code: u16::from_ne_bytes([c[0], c[1]]),
                jt: c[2],
                jf: c[3],
                k: u32::from_ne_bytes([c[4], c[5], c[6], c[7]]),
            })
            .collect();
        if program.is_empty() || program.len() > u16::MAX as usize {
            return Err(Error::Invalid(program.len()));
        }
        Ok(Filter { program })
    }

    /// Number of BPF instructions.
    pub fn len(&self) -> usize {
        self.program.len()
    }

    /// True when the filter has no instructions (never for [`Filter::app`]).
    pub fn is_empty(&self) -> bool {
        self.program.is_empty()
    }

    /// Installs the filter on the calling thread. Requires no_new_privs (or
    /// CAP_SYS_ADMIN). Allocates nothing, so it is safe after fork.
    pub fn load(&self) -> Result<(), Error> {
        let prog = libc::sock_fprog {
            len: self.program.len() as u16,
            filter: self.program.as_ptr() as *mut libc::sock_filter,
        };
        // SAFETY: `prog` points at `self.program`, which outlives the call; the
        // kernel copies the program.
        let rc = unsafe {
            libc::prctl(
                libc::PR_SET_SECCOMP,
                libc::SECCOMP_MODE_FILTER,
                &prog as *const libc::sock_fprog,
            )
        };
        if rc == 0 {
            Ok(())
        } else {
            Err(Error::Load(std::io::Error::last_os_error()))
        }
    }
}

impl Filter {
    /// Installs the filter on every thread of the process (TSYNC), with the
    /// kernel logging what it refuses (SECCOMP_FILTER_FLAG_LOG). Requires
    /// no_new_privs (or CAP_SYS_ADMIN).
    pub fn load_all_threads(&self) -> Result<(), Error> {
        let prog = libc::sock_fprog {
            len: self.program.len() as u16,
            filter: self.program.as_ptr() as *mut libc::sock_filter,
        };
        let flags = libc::SECCOMP_FILTER_FLAG_TSYNC | libc::SECCOMP_FILTER_FLAG_LOG;
        // SAFETY: `prog` points at `self.program`, which outlives the call;
        // the kernel copies the program.
        let rc = unsafe {
            libc::syscall(
                libc::SYS_seccomp,
                libc::SECCOMP_SET_MODE_FILTER,
                flags,
                &prog as *const libc::sock_fprog,
            )
        };
        match rc {
            0 => Ok(()),
            // With TSYNC, a positive value is a thread that could not sync.
            rc if rc > 0 => Err(Error::Load(std::io::Error::other(format!(
                "thread {rc} could not take the filter"
            )))),
            _ => Err(Error::Load(std::io::Error::last_os_error())),
        }
    }
}

/// The audit architecture of the syscalls the signal filter checks.
#[cfg(target_arch = "x86_64")]
const AUDIT_ARCH: u32 = 0xc000_003e;
#[cfg(target_arch = "aarch64")]
const AUDIT_ARCH: u32 = 0xc000_00b7;

/// Offset of the low 32 bits of the first argument in `seccomp_data`
/// (nr, arch, instruction pointer, then the 64-bit arguments). pid_t is an
/// int: the kernel uses only those bits.
#[cfg(target_endian = "little")]
const ARG0_LOW: u32 = 16;
#[cfg(target_endian = "big")]
const ARG0_LOW: u32 = 20;

/// A small assembler for [`Filter::signals_only_to`]: jumps name labels,
/// resolved once the program is laid out (classic BPF jumps forward only).
struct SignalFilter;

#[derive(Clone, Copy, PartialEq)]
enum Label {
    Next,
    Allow,
    Deny,
    Kill,
    Tgkill,
}

enum Insn {
    LoadWord(u32),
    JumpIfEqual(u32, Label),
    Jump(Label),
    Return(u32),
    Mark(Label),
}

impl SignalFilter {
    fn build(pids: &[i32], own: i32) -> Filter {
        use Insn::*;
        let allow = libc::SECCOMP_RET_ALLOW;
        let deny = libc::SECCOMP_RET_ERRNO | libc::EPERM as u32;
        let mut code = vec![
            LoadWord(4),
            // Another architecture: left to the allowlist (it kills).
            JumpIfEqual(AUDIT_ARCH, Label::Next),
            Jump(Label::Allow),
            Mark(Label::Next),
            LoadWord(0),
            JumpIfEqual(libc::SYS_kill as u32, Label::Kill),
            JumpIfEqual(libc::SYS_tgkill as u32, Label::Tgkill),
        ];
        for nr in [
            libc::SYS_tkill,
            libc::SYS_pidfd_open,
            libc::SYS_pidfd_send_signal,
            libc::SYS_rt_sigqueueinfo,
            libc::SYS_rt_tgsigqueueinfo,
        ] {
            code.push(JumpIfEqual(nr as u32, Label::Deny));
        }
        code.extend([Jump(Label::Allow), Mark(Label::Kill), LoadWord(ARG0_LOW)]);
        for pid in pids {
            code.push(JumpIfEqual(*pid as u32, Label::Allow));
        }
        code.extend([
            Jump(Label::Deny),
            Mark(Label::Tgkill),
            LoadWord(ARG0_LOW),
            JumpIfEqual(own as u32, Label::Allow),
            Jump(Label::Deny),
            Mark(Label::Allow),
            Return(allow),
            Mark(Label::Deny),
            Return(deny),
        ]);
        // Where each label lands, counting real instructions only.
        let mut at = Vec::new();
        let mut index = 0u32;
        for insn in &code {
            match insn {
                Mark(label) => at.push((*label, index)),
                _ => index += 1,
            }
        }
        let target = |label: Label, from: u32| {
            let to = at
                .iter()
                .find(|(l, _)| *l == label)
                .map_or(from + 1, |(_, i)| *i);
            to - from - 1
        };
        let stmt = |code: u32, k: u32| libc::sock_filter {
            code: code as u16,
            jt: 0,
            jf: 0,
            k,
        };
        let mut program = Vec::new();
        for insn in &code {
            let here = program.len() as u32;
            program.push(match *insn {
                LoadWord(offset) => stmt(libc::BPF_LD | libc::BPF_W | libc::BPF_ABS, offset),
                // Short conditional jumps to the next instruction or an
                // unconditional one: every far target is reached by `Jump`
                // when it is more than 255 away.
                JumpIfEqual(k, label) => {
                    let offset = target(label, here);
                    if offset <= u8::MAX as u32 {
                        libc::sock_filter {
                            code: (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16,
                            jt: offset as u8,
                            jf: 0,
                            k,
                        }
                    } else {
                        // Too many pids for a short jump: refuse them all
                        // rather than build a wrong program.
                        stmt(libc::BPF_RET | libc::BPF_K, deny)
                    }
                }
                Jump(label) => stmt(libc::BPF_JMP | libc::BPF_JA, target(label, here)),
                Return(k) => stmt(libc::BPF_RET | libc::BPF_K, k),
                Mark(_) => continue,
            });
        }
        Filter { program }
    }
}

/// Checks that the kernel can filter syscalls, without installing anything.
pub fn check_support() -> Result<(), Error> {
    // SAFETY: PR_GET_SECCOMP takes no pointers.
    let rc = unsafe { libc::prctl(libc::PR_GET_SECCOMP) };
    if rc < 0 {
        return Err(Error::Unsupported);
    }
    // SECCOMP_GET_ACTION_AVAIL answers only on kernels with filter support.
    let action: u32 = libc::SECCOMP_RET_KILL_PROCESS;
    // SAFETY: the kernel reads one u32 from `action`.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_GET_ACTION_AVAIL,
            0,
            &action as *const u32,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(Error::Unsupported)
    }
}

#[cfg(test)]
mod tests {
    //! Each test forks: the child installs the filter and reports the errno of
    //! one syscall through its exit code, so the test process stays unfiltered.
    //! Running as root makes the checks meaningful: without the filter the
    //! calls would succeed.

    use super::*;

    /// Runs `f` in a forked child with the filter loaded when `filtered`;
    /// returns the child's exit code (the errno `f` saw, 0 for success) or
    /// 1000 + signal when it was killed.
    fn in_child(filtered: bool, f: impl FnOnce() -> i32) -> i32 {
        let filter = Filter::app().unwrap();
        crate::testutil::in_child(move || {
            if !filtered {
                return f();
            }
            crate::testutil::no_new_privs();
            match filter.load() {
                Ok(()) => f(),
                Err(_) => 200,
            }
        })
    }

    fn errno_of(rc: libc::c_long) -> i32 {
        if rc < 0 {
            std::io::Error::last_os_error()
                .raw_os_error()
                .unwrap_or(255)
        } else {
            0
        }
    }

    fn is_root() -> bool {
        // SAFETY: no arguments.
        unsafe { libc::geteuid() == 0 }
    }

    #[test]
    fn filter_compiles_to_a_reasonable_program() {
        let filter = Filter::app().unwrap();
        assert!(filter.len() > 50 && filter.len() < 4096, "{}", filter.len());
    }

    #[test]
    fn user_namespaces_are_refused_but_plain_unshare_works() {
        // SAFETY: in a forked child (in_child); unshare changes only it.
        let unshare_user = || errno_of(unsafe { libc::unshare(libc::CLONE_NEWUSER) } as _);
        if is_root() {
            assert_eq!(
                in_child(false, unshare_user),
                0,
                "control: unshare must work unfiltered"
            );
        }
        assert_eq!(in_child(true, unshare_user), libc::EPERM);
        // SAFETY: as above.
        let unshare_files = || errno_of(unsafe { libc::unshare(libc::CLONE_FILES) } as _);
        assert_eq!(in_child(true, unshare_files), 0);
    }

    /// Runs `f` in a forked child with the nested-userns filter loaded.
    fn in_nested_child(f: impl FnOnce() -> i32) -> i32 {
        let filter = Filter::app_nested_userns().unwrap();
        crate::testutil::in_child(move || {
            crate::testutil::no_new_privs();
            match filter.load() {
                Ok(()) => f(),
                Err(_) => 200,
            }
        })
    }

    #[test]
    fn nested_userns_lets_user_namespaces_and_chroot_through_and_nothing_else() {
        // SAFETY: in a forked child; unshare changes only it.
        let unshare = |flags: i32| move || errno_of(unsafe { libc::unshare(flags) } as _);
        assert_eq!(
            in_nested_child(unshare(
                libc::CLONE_NEWUSER | libc::CLONE_NEWPID | libc::CLONE_NEWNET | libc::CLONE_NEWIPC
            )),
            0,
            "a browser's namespaces"
        );
        // Not a mount namespace, nor a cgroup or time one.
        assert_eq!(
            in_nested_child(unshare(libc::CLONE_NEWUSER | libc::CLONE_NEWNS)),
            libc::EPERM
        );
        assert_eq!(in_nested_child(unshare(libc::CLONE_NEWCGROUP)), libc::EPERM);
        // Inside its own new user namespace, chroot works (as browsers use
        // it); mounting and joining namespaces still do not.
        let inside = || {
            // SAFETY: in a forked child; each call changes only it.
            unsafe {
                if libc::unshare(libc::CLONE_NEWUSER) != 0 {
                    return 100;
                }
                if libc::chroot(c"/".as_ptr()) != 0 {
                    return 101;
                }
                let mounted = libc::mount(
                    c"none".as_ptr(),
                    c"/tmp".as_ptr(),
                    c"tmpfs".as_ptr(),
                    0,
                    std::ptr::null(),
                );
                if mounted == 0 {
                    return 102;
                }
                errno_of(libc::setns(0, libc::CLONE_NEWNET) as _)
            }
        };
        assert_eq!(in_nested_child(inside), libc::EPERM);
        // The default filter keeps refusing them.
        assert_eq!(in_child(true, unshare(libc::CLONE_NEWUSER)), libc::EPERM);
        // SAFETY: in a forked child.
        let chroot = || errno_of(unsafe { libc::chroot(c"/".as_ptr()) } as _);
        assert_eq!(in_child(true, chroot), libc::EPERM);
    }

    #[test]
    fn nested_userns_refuses_raw_sockets_and_netlink_beyond_routing() {
        let socket = |family: i32, kind: i32, protocol: i32| {
            // SAFETY: integer arguments; the socket is left to the child's exit.
            move || errno_of(unsafe { libc::socket(family, kind, protocol) } as _)
        };
        let netlink = |protocol| socket(libc::AF_NETLINK, libc::SOCK_RAW, protocol);
        assert_eq!(in_nested_child(netlink(libc::NETLINK_ROUTE)), 0);
        assert_eq!(in_nested_child(netlink(libc::NETLINK_KOBJECT_UEVENT)), 0);
        for protocol in [
            libc::NETLINK_NETFILTER,
            libc::NETLINK_XFRM,
            libc::NETLINK_GENERIC,
            libc::NETLINK_AUDIT,
            libc::NETLINK_SOCK_DIAG,
            31,
        ] {
            assert_eq!(
                in_nested_child(netlink(protocol)),
                libc::EPROTONOSUPPORT,
                "netlink protocol {protocol}"
            );
        }
        // The raw type is refused whatever the flags around it, even where
        // a new namespace would give the capability it needs.
        // SOCK_PACKET is 10, deprecated in the libc crate.
        for (family, kind) in [
            (libc::AF_INET, libc::SOCK_RAW),
            (libc::AF_INET6, libc::SOCK_RAW | libc::SOCK_CLOEXEC),
            (libc::AF_INET, 10),
        ] {
            let inside = move || {
                // SAFETY: in a forked child; unshare changes only it.
                if unsafe { libc::unshare(libc::CLONE_NEWUSER | libc::CLONE_NEWNET) } != 0 {
                    return 100;
                }
                socket(family, kind, libc::IPPROTO_ICMP)()
            };
            assert_eq!(
                in_nested_child(inside),
                libc::EPERM,
                "{family} type {kind:#x}"
            );
        }
        // Ordinary sockets still work.
        assert_eq!(
            in_nested_child(socket(libc::AF_INET, libc::SOCK_STREAM, 0)),
            0
        );
        assert_eq!(
            in_nested_child(socket(libc::AF_UNIX, libc::SOCK_DGRAM, 0)),
            0
        );
    }

    #[test]
    fn clone3_is_enosys_and_clone_with_newuser_eperm() {
        // SAFETY: null arguments; the filter (or the kernel) refuses it.
        let clone3 = || errno_of(unsafe { libc::syscall(libc::SYS_clone3, 0usize, 0usize) });
        assert_eq!(in_child(true, clone3), libc::ENOSYS);
        let clone_user = || {
            // SAFETY: clone without a new stack is a fork; the child only
            // _exits below.
            let rc = unsafe {
                libc::syscall(
                    libc::SYS_clone,
                    (libc::CLONE_NEWUSER | libc::SIGCHLD) as libc::c_ulong,
                    0usize,
                    0usize,
                    0usize,
                    0usize,
                )
            };
            if rc == 0 {
                // SAFETY: the clone's child leaves at once.
                unsafe { libc::_exit(0) };
            }
            errno_of(rc)
        };
        assert_eq!(in_child(true, clone_user), libc::EPERM);
        // A plain fork still works: the filter looks at the flags, not the call.
        let fork = || {
            // SAFETY: as above.
            let rc = unsafe {
                libc::syscall(
                    libc::SYS_clone,
                    libc::SIGCHLD as libc::c_ulong,
                    0usize,
                    0usize,
                    0usize,
                    0usize,
                )
            };
            if rc == 0 {
                // SAFETY: the clone's child leaves at once.
                unsafe { libc::_exit(0) };
            }
            errno_of(rc)
        };
        assert_eq!(in_child(true, fork), 0);
    }

    #[test]
    fn mount_api_is_refused_even_for_root() {
        let mount_tmpfs = || {
            // SAFETY: in a forked child (in_child); unshare changes only it.
            if unsafe { libc::unshare(libc::CLONE_NEWNS) } != 0 {
                return 201;
            }
            // SAFETY: C strings and a null data pointer, in the child's own
            // mount namespace.
            errno_of(unsafe {
                libc::mount(
                    c"none".as_ptr(),
                    c"/tmp".as_ptr(),
                    c"tmpfs".as_ptr(),
                    0,
                    std::ptr::null(),
                )
            } as _)
        };
        if is_root() {
            assert_eq!(in_child(false, mount_tmpfs), 0, "control: root can mount");
        }
        // The filter refuses unshare(CLONE_NEWNS) first; both are refusals.
        assert_eq!(in_child(true, mount_tmpfs), 201);
        for nr in [
            libc::SYS_mount,
            libc::SYS_umount2,
            libc::SYS_pivot_root,
            libc::SYS_open_tree,
            libc::SYS_move_mount,
            libc::SYS_fsopen,
            libc::SYS_fsconfig,
            libc::SYS_fsmount,
            libc::SYS_fspick,
            libc::SYS_mount_setattr,
            libc::SYS_io_uring_setup,
            libc::SYS_userfaultfd,
            libc::SYS_bpf,
            libc::SYS_perf_event_open,
            libc::SYS_keyctl,
            libc::SYS_add_key,
            libc::SYS_request_key,
            libc::SYS_kexec_load,
            libc::SYS_init_module,
            libc::SYS_finit_module,
            libc::SYS_delete_module,
            libc::SYS_setns,
        ] {
            let call = move || {
                // SAFETY: null arguments: the filter refuses the call before
                // the kernel reads any.
                errno_of(unsafe { libc::syscall(nr, 0usize, 0usize, 0usize, 0usize, 0usize) })
            };
            assert_eq!(in_child(true, call), libc::EPERM, "syscall {nr}");
        }
    }

    #[test]
    fn tiocsti_is_refused_on_the_low_32_bits() {
        // A pty that becomes our controlling terminal, so TIOCSTI would work.
        let sti = |request: u64| {
            // SAFETY: in a forked child (in_child): a pty of its own, the
            // name libc returns for it, and one byte for TIOCSTI to read.
            move || unsafe {
                let master = libc::posix_openpt(libc::O_RDWR | libc::O_NOCTTY);
                if master < 0 || libc::grantpt(master) != 0 || libc::unlockpt(master) != 0 {
                    return 202;
                }
                let name = libc::ptsname(master);
                if name.is_null() {
                    return 203;
                }
                libc::setsid();
                let slave = libc::open(name, libc::O_RDWR);
                if slave < 0 || libc::ioctl(slave, libc::TIOCSCTTY, 0) != 0 {
                    return 204;
                }
                let c = b'x';
                errno_of(libc::syscall(libc::SYS_ioctl, slave, request, &c as *const u8) as _)
            }
        };
        if is_root() {
            assert_eq!(
                in_child(false, sti(TIOCSTI)),
                0,
                "control: TIOCSTI works unfiltered"
            );
        }
        assert_eq!(in_child(true, sti(TIOCSTI)), libc::EPERM);
        assert_eq!(in_child(true, sti(0x1_0000_0000 | TIOCSTI)), libc::EPERM);
        assert_eq!(in_child(true, sti(TIOCLINUX)), libc::EPERM);
    }

    #[test]
    fn denied_families_are_the_complement_of_the_allowed_ones() {
        let denied: Vec<u64> = denied_families().collect();
        for family in 0..200u64 {
            let refused = denied.contains(&family) || family >= FAMILY_LIMIT;
            assert_eq!(
                refused,
                !ALLOWED_FAMILIES.contains(&family),
                "family {family}"
            );
        }
    }

    #[test]
    fn only_needed_socket_families_are_allowed() {
        let socket = |family: i32| {
            // SAFETY: integer arguments; the socket is left to the child's exit.
            move || errno_of(unsafe { libc::socket(family, libc::SOCK_DGRAM, 0) } as _)
        };
        for family in [libc::AF_UNIX, libc::AF_INET, libc::AF_INET6] {
            assert_eq!(in_child(true, socket(family)), 0, "family {family}");
        }
        for family in [
            libc::AF_PACKET,
            libc::AF_BLUETOOTH,
            libc::AF_VSOCK,
            libc::AF_KEY,
            libc::AF_CAN,
            libc::AF_XDP,
            libc::AF_ALG,
            100,
        ] {
            assert_eq!(
                in_child(true, socket(family)),
                libc::EAFNOSUPPORT,
                "family {family}"
            );
        }
    }

    #[test]
    fn ptrace_attach_is_refused() {
        // SAFETY: integer arguments; the filter refuses it.
        let attach =
            || errno_of(unsafe { libc::ptrace(libc::PTRACE_ATTACH, libc::getppid(), 0, 0) });
        assert_eq!(in_child(true, attach), libc::EPERM);
        // SAFETY: as above.
        let seize = || errno_of(unsafe { libc::ptrace(libc::PTRACE_SEIZE, libc::getppid(), 0, 0) });
        assert_eq!(in_child(true, seize), libc::EPERM);
    }

    #[test]
    fn other_syscall_abis_kill_the_process() {
        // int 0x80 with eax = 20 (getpid on i386).
        let int80 = || {
            let ret: i64;
            // SAFETY: the i386 getpid takes no argument and touches no memory.
            unsafe {
                std::arch::asm!("int 0x80", inlateout("rax") 20i64 => ret, options(nostack));
            }
            if ret < 0 {
                250
            } else {
                0
            }
        };
        assert_eq!(in_child(false, int80), 0, "control: int 0x80 getpid works");
        assert_eq!(in_child(true, int80), 1000 + libc::SIGSYS);
        // x32: getpid with the x32 bit set.
        // SAFETY: getpid takes no argument.
        let x32 = || errno_of(unsafe { libc::syscall(0x4000_0000 | libc::SYS_getpid) });
        assert_eq!(in_child(true, x32), 1000 + libc::SIGSYS);
    }
}
