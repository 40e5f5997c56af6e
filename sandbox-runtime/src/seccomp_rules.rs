//! What the app's seccomp filter refuses, as data. Shared by build.rs, which
//! compiles it to BPF with libseccomp, and the crate, whose tests check the
//! compiled program against it. Nothing here may depend on the crate.

/// Syscalls refused outright with EPERM.
pub const DENIED: &[&str] = &[
    // Mount API, old and new. Mounts are set up before the filter.
    "mount",
    "umount",
    "umount2",
    "pivot_root",
    "chroot",
    "open_tree",
    "move_mount",
    "fsopen",
    "fsconfig",
    "fsmount",
    "fspick",
    "mount_setattr",
    // Namespaces: joining any.
    "setns",
    // Big kernel attack surface with no use for a desktop app.
    "io_uring_setup",
    "io_uring_enter",
    "io_uring_register",
    "userfaultfd",
    "bpf",
    "perf_event_open",
    "keyctl",
    "add_key",
    "request_key",
    "kexec_load",
    "kexec_file_load",
    "init_module",
    "finit_module",
    "delete_module",
    // Host-wide state.
    "acct",
    "swapon",
    "swapoff",
    "reboot",
    "syslog",
    "quotactl",
    "quotactl_fd",
    "uselib",
    "lookup_dcookie",
    "nfsservctl",
    "name_to_handle_at",
    "open_by_handle_at",
    "fanotify_init",
    "vhangup",
];

/// Namespace flags refused in unshare and clone.
pub const NAMESPACE_FLAGS: &[u64] = &[
    libc::CLONE_NEWUSER as u64,
    libc::CLONE_NEWNS as u64,
    libc::CLONE_NEWPID as u64,
    libc::CLONE_NEWNET as u64,
    libc::CLONE_NEWIPC as u64,
    libc::CLONE_NEWUTS as u64,
    libc::CLONE_NEWCGROUP as u64,
];
/// With the policy's `[security] nested_userns`: the namespaces the app may
/// create inside its sandbox, so that browsers keep their own sandbox
/// (Firefox's content processes and Chromium's zygote start in new user,
/// PID, network and IPC namespaces). The mount namespace stays refused,
/// and so does every mount call: a nested namespace changes nothing the
/// app could not see already, and holds no capability outside itself.
pub const NESTED_USERNS_FLAGS: &[u64] = &[
    libc::CLONE_NEWUSER as u64,
    libc::CLONE_NEWPID as u64,
    libc::CLONE_NEWNET as u64,
    libc::CLONE_NEWIPC as u64,
    libc::CLONE_NEWUTS as u64,
];
/// What else `nested_userns` allows: chroot, into which both browsers
/// drop their sandboxed processes (an empty directory of /proc), with the
/// capability their own new user namespace gives them there only.
pub const NESTED_USERNS_SYSCALLS: &[&str] = &["chroot"];

/// Socket types of AF_INET and AF_INET6 refused with `nested_userns`: in its own user and network
/// namespace the app holds CAP_NET_RAW, and raw sockets are kernel surface
/// no browser sandbox needs. The kernel masks the type with 0xf.
/// SOCK_PACKET is 10 (deprecated in the libc crate).
pub const NESTED_USERNS_REFUSED_TYPES: &[u64] = &[libc::SOCK_RAW as u64, 10];
/// Netlink protocols left with `nested_userns`: routing (read by browsers
/// for network changes) and uevents (libudev). The others (netfilter,
/// xfrm, generic netlink and the rest) are refused: with CAP_NET_ADMIN in a
/// namespace of its own the app could otherwise configure them.
pub const NESTED_USERNS_NETLINK: &[u64] = &[0, 15];
/// One past the highest netlink protocol refused one by one; from here on
/// one comparison refuses them all.
pub const NETLINK_PROTOCOL_LIMIT: u64 = 16;

/// CLONE_NEWTIME shares its bit with the exit signal in clone(2), so it is only
/// refused in unshare.
pub const CLONE_NEWTIME: u64 = 0x80;

/// The socket families a desktop app needs; every other one is refused.
pub const ALLOWED_FAMILIES: &[u64] = &[
    libc::AF_UNIX as u64,
    libc::AF_INET as u64,
    libc::AF_INET6 as u64,
    libc::AF_NETLINK as u64,
];
/// AF_MAX of Linux 6.x: families from here on are refused by one comparison.
pub const FAMILY_LIMIT: u64 = 46;

/// The families below [`FAMILY_LIMIT`] that are not in [`ALLOWED_FAMILIES`].
pub fn denied_families() -> impl Iterator<Item = u64> {
    (0..FAMILY_LIMIT).filter(|f| !ALLOWED_FAMILIES.contains(f))
}

/// ptrace requests that attach to a process the caller did not start.
pub const PTRACE_ATTACH: u64 = 16;
pub const PTRACE_SEIZE: u64 = 0x4206;

/// Terminal ioctls that inject input or talk to the console. The kernel
/// compares only the low 32 bits of the request, so the filter does too.
pub const TIOCSTI: u64 = 0x5412;
pub const TIOCLINUX: u64 = 0x541c;

/// What the wsbox process itself may still call once it has started the
/// sandbox and confined itself (`crate::self_confine`): an allowlist, every
/// other syscall fails with EPERM (and the kernel logs it). Found with
/// `strace -f` on wsbox's event loop, compositor, rendering, screenshots,
/// clipboard threads and control socket in every display mode (none,
/// headless, window under weston), then widened to what Rust's std, glibc,
/// calloop, wayland-rs and pixman may call on the same paths.
/// `scripts/wsbox-syscalls.sh` repeats the measurement.
pub const WSBOX_ALLOWED: &[&str] = &[
    // Event loop: epoll, timers, signals, eventfds, the sandbox's signalfd.
    "epoll_wait",
    "epoll_pwait",
    "epoll_pwait2",
    "epoll_ctl",
    "epoll_create1",
    "poll",
    "ppoll",
    "timerfd_create",
    "timerfd_settime",
    "timerfd_gettime",
    "eventfd2",
    "signalfd4",
    "rt_sigaction",
    "rt_sigprocmask",
    "rt_sigreturn",
    "rt_sigtimedwait",
    "sigaltstack",
    "restart_syscall",
    "clock_gettime",
    "clock_nanosleep",
    "nanosleep",
    "gettimeofday",
    // Sockets that are already open: Wayland clients, the control socket,
    // the host connection in window mode. No new sockets are created.
    "accept",
    "accept4",
    "recvfrom",
    "recvmsg",
    "sendto",
    "sendmsg",
    "shutdown",
    "setsockopt",
    "getsockopt",
    "getsockname",
    "getpeername",
    // Files: keymaps, clipboard pipes, screenshots, the runtime directory
    // (where Landlock says so).
    "read",
    "readv",
    "pread64",
    "write",
    "writev",
    "pwrite64",
    "openat",
    "close",
    "close_range",
    "lseek",
    "fstat",
    "newfstatat",
    "statx",
    "fcntl",
    // ioctl only with WSBOX_IOCTLS (build.rs).
    "dup",
    "dup3",
    "pipe2",
    "memfd_create",
    "ftruncate",
    "fallocate",
    "getdents64",
    "unlink",
    "unlinkat",
    "rmdir",
    "flock",
    "fsync",
    "fdatasync",
    "readlink",
    "readlinkat",
    "access",
    "faccessat",
    "faccessat2",
    "getcwd",
    // Memory: shm pools (mmap, mremap on resize), pixman, the allocator.
    "mmap",
    "munmap",
    "mremap",
    "mprotect",
    "madvise",
    "brk",
    "msync",
    // Threads (clipboard transfers, smithay's pool dropper) and futexes.
    // clone only without namespace flags, clone3 fails with ENOSYS (glibc
    // falls back to clone, whose flags the filter sees), prctl only with
    // WSBOX_PRCTL: build.rs adds those rules.
    "futex",
    "set_robust_list",
    "get_robust_list",
    "rseq",
    "membarrier",
    "sched_yield",
    "sched_getaffinity",
    "gettid",
    "getpid",
    "getppid",
    "getuid",
    "geteuid",
    "getgid",
    "getegid",
    "getrandom",
    "uname",
    "exit",
    "exit_group",
    // The sandbox: signals to its pid 1 (and wsbox's helpers), reaping it.
    // Which processes kill(2) and tgkill(2) reach is limited by a filter
    // built at run time (`crate::seccomp::Filter::signals_only_to`); no
    // tkill, pidfd_open or pidfd_send_signal (a pidfd could come from the
    // app).
    "kill",
    "tgkill",
    "wait4",
    "waitid",
];

/// The prctl options the confined wsbox still uses: thread names (Rust's
/// std names its threads) and naming anonymous memory. Not
/// PR_SET_DUMPABLE, PR_SET_PTRACER, PR_SET_SECCOMP...
pub const WSBOX_PRCTL: &[u64] = &[
    libc::PR_SET_NAME as u64,
    libc::PR_GET_NAME as u64,
    0x5356_4d41, // PR_SET_VMA
    // rustix (calloop, wayland-rs) finds the vDSO through its own auxv.
    0x4155_5856, // PR_GET_AUXV
];

/// The ioctls the confined wsbox still makes (measured with strace in
/// headless and window mode: only FIONBIO on sockets and pipes), and the
/// other fd-flag and size queries std and rustix may use on the same paths.
/// Compared on the low 32 bits, as the kernel does.
pub const WSBOX_IOCTLS: &[u64] = &[
    0x5421, // FIONBIO
    0x5451, // FIOCLEX
    0x5450, // FIONCLEX
    0x541b, // FIONREAD
    0x5401, // TCGETS (isatty)
];

/// What the features that run inside the confined wsbox add to
/// [`WSBOX_ALLOWED`], in this one place: `socketpair`, because each request
/// to the file broker gets its own answer channel (a connected pair of unix
/// sockets reaches nothing outside wsbox and its helpers). Everything that
/// joins the sandbox or mounts (add-file, remove-file, export, the nftables
/// updates of `--net user`) runs in helper processes started before the
/// confinement (`src/helper.rs`: the file broker, the documents helper,
/// the host watcher), pasta/slirp4netns start with the sandbox,
/// before it too, and the relays of `--net tor`/`--net-forward` run in a
/// process of their own with [`RELAY_ADDED`].
pub const WSBOX_FOR_HELPERS: &[&str] = &["socketpair"];

/// What the relay process (`src/net/relays.rs`) adds to
/// [`WSBOX_ALLOWED`] and [`WSBOX_FOR_HELPERS`]: `connect` for its upstream
/// connections, whose TCP ports Landlock limits to the configured upstreams
/// (`crate::self_confine::Confinement::tcp_connect`), and `socket`, allowed
/// only as in [`WSBOX_SOCKETS`]. Not wsbox itself: it receives fds from the
/// app over Wayland, and an unconnected unix socket among them could be
/// connected to a named socket on the host (the session bus), which
/// Landlock does not limit. The relay process only ever holds TCP sockets.
pub const RELAY_ADDED: &[&str] = &["connect"];

/// What the audio helper (`src/audio/`) adds to [`WSBOX_ALLOWED`] and
/// [`WSBOX_FOR_HELPERS`]: `connect`, for its connections to the host's
/// sound server, and `socket`, only as in [`AUDIO_SOCKETS`]. Its Landlock
/// domain grants no file at all, and no TCP; connecting to a named unix
/// socket is the one thing Landlock does not limit, and that is its work.
pub const AUDIO_ADDED: &[&str] = &["connect"];

/// The only sockets the audio helper may create: unix stream sockets.
pub const AUDIO_SOCKETS: &[(u64, u64)] = &[(libc::AF_UNIX as u64, libc::SOCK_STREAM as u64)];

/// The only sockets the relay process may create (family, type without its
/// flags): TCP over IPv4 and IPv6, for the relays' upstream connections. No
/// unix sockets (Landlock cannot limit connecting to a named one: the
/// session bus would be in reach), no UDP (Landlock limits TCP only), no
/// netlink, no raw sockets.
pub const WSBOX_SOCKETS: &[(u64, u64)] = &[
    (libc::AF_INET as u64, libc::SOCK_STREAM as u64),
    (libc::AF_INET6 as u64, libc::SOCK_STREAM as u64),
];
