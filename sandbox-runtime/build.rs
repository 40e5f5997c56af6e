//! Compiles the app's seccomp filter at build time (see src/seccomp_rules.rs)
//! into BPF that the crate embeds: wsbox neither links libseccomp at run time
//! nor spends start-up time compiling the same filter for every sandbox.

use std::io::{Read, Seek};
use std::os::fd::FromRawFd;

use libseccomp::{
    ScmpAction, ScmpArch, ScmpArgCompare, ScmpCompareOp, ScmpFilterContext, ScmpSyscall,
};

#[path = "src/seccomp_rules.rs"]
#[allow(dead_code)]
mod seccomp_rules;

use seccomp_rules::*;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=src/seccomp_rules.rs");
    let target = std::env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_default();
    let host = std::env::consts::ARCH;
    if target != host {
        panic!("the seccomp filter is compiled for the build machine ({host}); cross-compiling to {target} is not supported");
    }
    let out = std::path::PathBuf::from(std::env::var("OUT_DIR").unwrap_or_else(|_| ".".into()));
    for (file, compile) in [
        (
            "app-filter.bpf",
            (|| compile(false)) as fn() -> Result<Vec<u8>, String>,
        ),
        ("app-nested-userns-filter.bpf", || compile(true)),
        ("wsbox-filter.bpf", || compile_wsbox(None)),
        ("wsbox-relay-filter.bpf", || {
            compile_wsbox(Some((RELAY_ADDED, WSBOX_SOCKETS)))
        }),
        ("wsbox-audio-filter.bpf", || {
            compile_wsbox(Some((AUDIO_ADDED, AUDIO_SOCKETS)))
        }),
        ("wsbox-tty-filter.bpf", compile_wsbox_tty),
    ] {
        let bytes = match compile() {
            Ok(bytes) => bytes,
            Err(e) => panic!("failed to compile the seccomp filter {file}: {e}"),
        };
        if let Err(e) = std::fs::write(out.join(file), bytes) {
            panic!("failed to write the seccomp filter {file}: {e}");
        }
    }
}

/// wsbox's own filter: the allowlist of WSBOX_ALLOWED (and
/// WSBOX_FOR_HELPERS); anything else fails with EPERM. With `extra`, a
/// helper's: its added syscalls and sockets too (the relay process's
/// RELAY_ADDED and WSBOX_SOCKETS, the audio helper's AUDIO_ADDED and
/// AUDIO_SOCKETS).
type Extra = (&'static [&'static str], &'static [(u64, u64)]);

fn compile_wsbox(extra: Option<Extra>) -> Result<Vec<u8>, String> {
    let build = |what: &str| {
        let what = what.to_owned();
        move |e: libseccomp::error::SeccompError| format!("{what}: {e}")
    };
    let mut ctx =
        ScmpFilterContext::new(ScmpAction::Errno(libc::EPERM)).map_err(build("context"))?;
    ctx.set_act_badarch(ScmpAction::KillProcess)
        .map_err(build("bad-architecture action"))?;
    ctx.set_ctl_nnp(false).map_err(build("nnp control"))?;
    ctx.add_arch(ScmpArch::native())
        .map_err(build("architecture"))?;
    let added: &[&str] = extra.map_or(&[], |(added, _)| added);
    for name in WSBOX_ALLOWED.iter().chain(WSBOX_FOR_HELPERS).chain(added) {
        let Ok(syscall) = ScmpSyscall::from_name(name) else {
            continue;
        };
        ctx.add_rule(ScmpAction::Allow, syscall)
            .map_err(build(name))?;
    }
    // Threads, never namespaces: clone without any namespace flag; clone3
    // (whose flags are behind a pointer) fails with ENOSYS, so glibc falls
    // back to clone.
    let ns_mask = NAMESPACE_FLAGS.iter().fold(0, |all, flag| all | flag);
    let clone = ScmpSyscall::from_name("clone").map_err(build("clone"))?;
    ctx.add_rule_conditional(
        ScmpAction::Allow,
        clone,
        &[ScmpArgCompare::new(
            0,
            ScmpCompareOp::MaskedEqual(ns_mask),
            0,
        )],
    )
    .map_err(build("clone"))?;
    let clone3 = ScmpSyscall::from_name("clone3").map_err(build("clone3"))?;
    ctx.add_rule(ScmpAction::Errno(libc::ENOSYS), clone3)
        .map_err(build("clone3"))?;
    let ioctl = ScmpSyscall::from_name("ioctl").map_err(build("ioctl"))?;
    for request in WSBOX_IOCTLS {
        ctx.add_rule_conditional(
            ScmpAction::Allow,
            ioctl,
            &[ScmpArgCompare::new(
                1,
                ScmpCompareOp::MaskedEqual(0xffff_ffff),
                *request,
            )],
        )
        .map_err(build("ioctl"))?;
    }
    let prctl = ScmpSyscall::from_name("prctl").map_err(build("prctl"))?;
    for option in WSBOX_PRCTL {
        ctx.add_rule_conditional(
            ScmpAction::Allow,
            prctl,
            &[ScmpArgCompare::new(0, ScmpCompareOp::Equal, *option)],
        )
        .map_err(build("prctl"))?;
    }
    let Some((_, sockets)) = extra else {
        return export(&ctx);
    };
    let socket = ScmpSyscall::from_name("socket").map_err(build("socket"))?;
    for (family, kind) in sockets {
        // The type's low bits; SOCK_CLOEXEC and SOCK_NONBLOCK may be set.
        ctx.add_rule_conditional(
            ScmpAction::Allow,
            socket,
            &[
                ScmpArgCompare::new(0, ScmpCompareOp::Equal, *family),
                ScmpArgCompare::new(1, ScmpCompareOp::MaskedEqual(0xf), *kind),
            ],
        )
        .map_err(build("socket"))?;
    }
    export(&ctx)
}

/// The terminal ioctls refused to wsbox too: its allowlist takes ioctl
/// whole, and wsbox holds the user's terminal. A second filter, because an
/// allowlist cannot refuse a masked argument value.
fn compile_wsbox_tty() -> Result<Vec<u8>, String> {
    let build = |what: &str| {
        let what = what.to_owned();
        move |e: libseccomp::error::SeccompError| format!("{what}: {e}")
    };
    let mut ctx = ScmpFilterContext::new(ScmpAction::Allow).map_err(build("context"))?;
    ctx.set_ctl_nnp(false).map_err(build("nnp control"))?;
    let ioctl = ScmpSyscall::from_name("ioctl").map_err(build("ioctl"))?;
    for request in [TIOCSTI, TIOCLINUX] {
        ctx.add_rule_conditional(
            ScmpAction::Errno(libc::EPERM),
            ioctl,
            &[ScmpArgCompare::new(
                1,
                ScmpCompareOp::MaskedEqual(0xffff_ffff),
                request,
            )],
        )
        .map_err(build("ioctl"))?;
    }
    export(&ctx)
}

/// The app's filter; with `nested_userns`, without the refusals of
/// NESTED_USERNS_FLAGS and NESTED_USERNS_SYSCALLS.
fn compile(nested_userns: bool) -> Result<Vec<u8>, String> {
    let build = |what: &str| {
        let what = what.to_owned();
        move |e: libseccomp::error::SeccompError| format!("{what}: {e}")
    };
    let eperm = ScmpAction::Errno(libc::EPERM);
    let mut ctx = ScmpFilterContext::new(ScmpAction::Allow).map_err(build("context"))?;
    ctx.set_act_badarch(ScmpAction::KillProcess)
        .map_err(build("bad-architecture action"))?;
    // no_new_privs is set explicitly, earlier, as a step of its own.
    ctx.set_ctl_nnp(false).map_err(build("nnp control"))?;
    ctx.add_arch(ScmpArch::native())
        .map_err(build("architecture"))?;

    for name in DENIED {
        if nested_userns && NESTED_USERNS_SYSCALLS.contains(name) {
            continue;
        }
        // A syscall this architecture does not have needs no rule.
        let Ok(syscall) = ScmpSyscall::from_name(name) else {
            continue;
        };
        ctx.add_rule(eperm, syscall).map_err(build(name))?;
    }

    let clone3 = ScmpSyscall::from_name("clone3").map_err(build("clone3"))?;
    // ENOSYS makes glibc fall back to clone(2), whose flags the filter can see.
    ctx.add_rule(ScmpAction::Errno(libc::ENOSYS), clone3)
        .map_err(build("clone3"))?;

    let refused: Vec<u64> = NAMESPACE_FLAGS
        .iter()
        .copied()
        .filter(|f| !(nested_userns && NESTED_USERNS_FLAGS.contains(f)))
        .collect();
    for (name, flags) in [
        ("unshare", [&refused[..], &[CLONE_NEWTIME]].concat()),
        ("clone", refused.clone()),
    ] {
        let syscall = ScmpSyscall::from_name(name).map_err(build(name))?;
        for flag in flags {
            ctx.add_rule_conditional(
                eperm,
                syscall,
                &[ScmpArgCompare::new(
                    0,
                    ScmpCompareOp::MaskedEqual(flag),
                    flag,
                )],
            )
            .map_err(build(name))?;
        }
    }

    let ptrace = ScmpSyscall::from_name("ptrace").map_err(build("ptrace"))?;
    for request in [PTRACE_ATTACH, PTRACE_SEIZE] {
        ctx.add_rule_conditional(
            eperm,
            ptrace,
            &[ScmpArgCompare::new(0, ScmpCompareOp::Equal, request)],
        )
        .map_err(build("ptrace"))?;
    }

    let ioctl = ScmpSyscall::from_name("ioctl").map_err(build("ioctl"))?;
    for request in [TIOCSTI, TIOCLINUX] {
        ctx.add_rule_conditional(
            eperm,
            ioctl,
            &[ScmpArgCompare::new(
                1,
                ScmpCompareOp::MaskedEqual(0xffff_ffff),
                request,
            )],
        )
        .map_err(build("ioctl"))?;
    }

    let no_family = ScmpAction::Errno(libc::EAFNOSUPPORT);
    for name in ["socket", "socketpair"] {
        let syscall = ScmpSyscall::from_name(name).map_err(build(name))?;
        // libseccomp 2.5 allows one comparison per argument and rule, so
        // each denied family is a rule of its own, plus one for the rest.
        for family in denied_families() {
            ctx.add_rule_conditional(
                no_family,
                syscall,
                &[ScmpArgCompare::new(0, ScmpCompareOp::Equal, family)],
            )
            .map_err(build(name))?;
        }
        ctx.add_rule_conditional(
            no_family,
            syscall,
            &[ScmpArgCompare::new(
                0,
                ScmpCompareOp::GreaterEqual,
                FAMILY_LIMIT,
            )],
        )
        .map_err(build(name))?;
    }

    if nested_userns {
        let socket = ScmpSyscall::from_name("socket").map_err(build("socket"))?;
        // Netlink uses the raw type too, so only the IP families' are refused.
        for family in [libc::AF_INET as u64, libc::AF_INET6 as u64] {
            for kind in NESTED_USERNS_REFUSED_TYPES {
                ctx.add_rule_conditional(
                    eperm,
                    socket,
                    &[
                        ScmpArgCompare::new(0, ScmpCompareOp::Equal, family),
                        ScmpArgCompare::new(1, ScmpCompareOp::MaskedEqual(0xf), *kind),
                    ],
                )
                .map_err(build("socket"))?;
            }
        }
        let netlink = libc::AF_NETLINK as u64;
        let no_protocol = ScmpAction::Errno(libc::EPROTONOSUPPORT);
        let refused = (0..NETLINK_PROTOCOL_LIMIT).filter(|p| !NESTED_USERNS_NETLINK.contains(p));
        for protocol in refused {
            ctx.add_rule_conditional(
                no_protocol,
                socket,
                &[
                    ScmpArgCompare::new(0, ScmpCompareOp::Equal, netlink),
                    ScmpArgCompare::new(2, ScmpCompareOp::Equal, protocol),
                ],
            )
            .map_err(build("socket"))?;
        }
        // The kernel reads the protocol as an int: a value with high bits
        // set is at least the limit, and refused as well.
        ctx.add_rule_conditional(
            no_protocol,
            socket,
            &[
                ScmpArgCompare::new(0, ScmpCompareOp::Equal, netlink),
                ScmpArgCompare::new(2, ScmpCompareOp::GreaterEqual, NETLINK_PROTOCOL_LIMIT),
            ],
        )
        .map_err(build("socket"))?;
    }

    export(&ctx)
}

/// The compiled program's bytes, through a memfd (libseccomp 2.5 has no
/// in-memory export).
fn export(ctx: &ScmpFilterContext) -> Result<Vec<u8>, String> {
    // SAFETY: a plain memfd_create with a static name.
    let fd = unsafe { libc::memfd_create(c"wsbox-seccomp".as_ptr(), libc::MFD_CLOEXEC) };
    if fd < 0 {
        return Err(format!("memfd_create: {}", std::io::Error::last_os_error()));
    }
    // SAFETY: `fd` was just created and is owned by nothing else.
    let mut file = unsafe { std::fs::File::from_raw_fd(fd) };
    ctx.export_bpf(&file).map_err(|e| format!("export: {e}"))?;
    file.rewind().map_err(|e| e.to_string())?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes).map_err(|e| e.to_string())?;
    Ok(bytes)
}
