//! The sandbox's side: pid 1, which sets the namespaces up from inside,
//! builds the root, starts the app and reaps, and the app, which confines
//! itself in the plan's order and execs. This code runs only in the cloned
//! child: it never returns into wsbox's code (it leaves by exec or _exit),
//! and once the app runs, pid 1 allocates nothing.

use std::ffi::{CString, OsString};
use std::io::{self, Write};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{kill, SigSet, SigmaskHow, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

use super::prepared::{Prepared, PreparedService};
use super::supervised_signals;
use super::{EXIT_CANNOT_EXECUTE, EXIT_NOT_FOUND, EXIT_WSBOX_ERROR};
use crate::plan::{ConfineStep, Rlimits, DOCS_DIR, SANDBOX_HOME};
use crate::{landlock, mount, namespaces, network, privileges};

/// Reports a failure to wsbox and exits.
fn fail(err: &OwnedFd, code: i32, message: impl std::fmt::Display) -> ! {
    let line = format!("{code}\t{message}\n");
    let mut file = std::mem::ManuallyDrop::new(
        // SAFETY: borrowed for the write only; ManuallyDrop keeps `err` open.
        unsafe { std::fs::File::from_raw_fd(err.as_raw_fd()) },
    );
    let _ = file.write_all(line.as_bytes());
    // SAFETY: leave without unwinding or running destructors of wsbox's state.
    unsafe { libc::_exit(code) }
}

/// pid 1 of the sandbox. Never returns.
pub(super) fn run(
    prepared: &Prepared,
    alive: OwnedFd,
    err: OwnedFd,
    sockets: OwnedFd,
    started: OwnedFd,
) -> ! {
    // Until the parent has written the id maps this process has no usable
    // identity; wait for its go. EOF means wsbox died first.
    let go = (|| -> Result<(), String> {
        privileges::die_with_parent().map_err(|e| e.to_string())?;
        let mut byte = [0u8; 1];
        match nix::unistd::read(&alive, &mut byte) {
            Ok(1) => Ok(()),
            _ => Err("wsbox went away before the sandbox started".into()),
        }
    })();
    if let Err(message) = go {
        fail(&err, EXIT_WSBOX_ERROR, message);
    }
    if let Err(message) = setup(prepared, &alive, &sockets)
        .and_then(|()| build_root(prepared))
        .and_then(|()| send_documents_dir(&sockets))
        .and_then(|()| enter_cgroup(prepared))
    {
        fail(&err, EXIT_WSBOX_ERROR, message);
    }
    drop(sockets);
    // pid 1 keeps nothing it does not need, and gives it up before the app
    // exists: the app cannot ptrace it (Landlock puts the app in a nested
    // domain) nor gain from it. The report pipe stays open until pid 1
    // exits: a process closes its files before its namespaces are taken
    // apart and before its parent hears of it, so its end tells wsbox early
    // ([`Sandbox::ending`]). The services' sockets stay until they run.
    let _ = privileges::not_dumpable();
    drop(alive);
    let mut keep = vec![err.as_raw_fd(), started.as_raw_fd()];
    keep.extend(prepared.services.iter().flat_map(|s| s.fds.iter().copied()));
    privileges::close_fds_except(&keep);
    let _ = privileges::drop_capabilities();
    let _ = privileges::no_new_privs();
    if let Err(message) = set_rlimits(&prepared.spec.rlimits) {
        fail(&err, EXIT_WSBOX_ERROR, message);
    }
    // The app first: it marks every fd it inherits close-on-exec, so none
    // of the services' sockets reaches it, and what it connects to waits
    // in sockets wsbox made (the bus's, with wsbox's whole handshake first
    // in line; the X display's) until the service takes them. Starting a
    // service waits until it has confined itself and exec'd, which the
    // app need not.
    let app = spawn_app(prepared, &err);
    // The app has exec'd (or failed, and said why): wsbox goes on.
    drop(started);
    for index in 0..prepared.services.len() {
        start_service(prepared, index, &err);
    }
    for fd in prepared.services.iter().flat_map(|s| s.fds.iter().copied()) {
        // SAFETY: the services' copies are theirs now; pid 1 uses these
        // numbers no more.
        unsafe { libc::close(fd) };
    }
    // From here on pid 1 allocates nothing: the app ran on its heap and may
    // have been killed inside malloc, leaving a lock or a half-updated list
    // behind. reap and exit make syscalls only (close_fds_except allocates
    // nothing either).
    reap(app)
}

/// Enters the sandbox's own cgroup (v1: this thread moves itself through
/// the `tasks` files wsbox opened; v2: wsbox moved it before its go), then
/// a cgroup namespace rooted there, which shows the sandbox its cgroup as
/// `/`, not its place on the host. After the root is built and before
/// anything of the app's runs: what building the root allocates (mounts,
/// the copies of the documents) is wsbox's and bounded, and charging it to
/// a new memory cgroup object by object made every start 1 ms slower.
fn enter_cgroup(prepared: &Prepared) -> Result<(), String> {
    for &fd in &prepared.spec.cgroup_join {
        // SAFETY: an fd wsbox opened for pid 1 and this process inherited;
        // the buffer is valid for its length.
        if unsafe { libc::write(fd, b"0".as_ptr().cast(), 1) } != 1 {
            return Err(format!(
                "failed to enter the sandbox's cgroup: {}",
                io::Error::last_os_error()
            ));
        }
    }
    nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWCGROUP)
        .map_err(|e| format!("failed to enter a cgroup namespace: {e}"))
}

/// Sets the sandbox's resource limits, soft and hard, on pid 1, whence
/// the services and the app inherit them: no core dumps, at most
/// `files` open files and, where wsbox asks, `tasks` tasks. A limit above
/// what pid 1 already has stays at what it has (only root may raise one).
fn set_rlimits(limits: &Rlimits) -> Result<(), String> {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    let wanted = [
        (Resource::RLIMIT_CORE, Some(0), "core dumps"),
        (Resource::RLIMIT_NOFILE, Some(limits.files), "open files"),
        (Resource::RLIMIT_NPROC, limits.tasks, "tasks"),
    ];
    for (resource, value, what) in wanted {
        let Some(value) = value else { continue };
        let (_, hard) =
            getrlimit(resource).map_err(|e| format!("failed to read the limit of {what}: {e}"))?;
        let value = value.min(hard);
        setrlimit(resource, value, value)
            .map_err(|e| format!("failed to limit {what} to {value}: {e}"))?;
    }
    Ok(())
}

/// Everything pid 1 does before the app exists.
fn setup(prepared: &Prepared, alive: &OwnedFd, sockets: &OwnedFd) -> Result<(), String> {
    let spec = &prepared.spec;
    privileges::become_sandbox_user(spec.host_ids.privileged).map_err(|e| e.to_string())?;
    // A credential change clears the parent-death signal: set it again, then
    // make sure wsbox did not die in between.
    privileges::die_with_parent().map_err(|e| e.to_string())?;
    let mut fds = [PollFd::new(alive.as_fd(), PollFlags::POLLIN)];
    if poll(&mut fds, PollTimeout::ZERO).is_ok()
        && fds[0]
            .revents()
            .is_some_and(|r| r.contains(PollFlags::POLLHUP))
    {
        return Err("wsbox went away while the sandbox started".into());
    }
    // Its own session: terminal signals reach wsbox only, which forwards them once.
    privileges::new_session().map_err(|e| e.to_string())?;
    namespaces::set_hostname(&spec.hostname).map_err(|e| e.to_string())?;
    namespaces::limit_nested(spec.nested_userns).map_err(|e| e.to_string())?;
    let net = &spec.net;
    if !net.share_host {
        namespaces::loopback_up().map_err(|e| e.to_string())?;
        // Before the app exists, while pid 1 still has CAP_NET_ADMIN here.
        network::disable_ipv6(&net.no_ipv6_on).map_err(|e| e.to_string())?;
        network::add_routes(&net.routes).map_err(|e| e.to_string())?;
        let listeners = network::listen(&net.listeners).map_err(|e| e.to_string())?;
        if !listeners.is_empty() {
            network::send_fds(sockets, &listeners).map_err(|e| e.to_string())?;
        }
    }
    Ok(())
}

/// Sends wsbox the documents' directory, where wsbox's document helper
/// makes the grants of the running sandbox and watches them all.
fn send_documents_dir(sockets: &OwnedFd) -> Result<(), String> {
    let dir = nix::fcntl::open(
        DOCS_DIR,
        nix::fcntl::OFlag::O_RDONLY
            | nix::fcntl::OFlag::O_DIRECTORY
            | nix::fcntl::OFlag::O_NOFOLLOW
            | nix::fcntl::OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .map_err(|e| format!("failed to open {DOCS_DIR}: {e}"))?;
    network::send_fds(sockets, &[dir]).map_err(|e| e.to_string())
}

/// pid 1 builds the sandbox's file system and enters it.
fn build_root(prepared: &Prepared) -> Result<(), String> {
    let staging = mount::prepare().map_err(|e| e.to_string())?;
    mount::execute(&staging, &prepared.plan.mounts, &prepared.opened).map_err(|e| e.to_string())?;
    mount::enter_new_root().map_err(|e| e.to_string())?;
    nix::unistd::chdir(SANDBOX_HOME).map_err(|e| format!("failed to enter {SANDBOX_HOME}: {e}"))
}

/// What the app process starts from: the prepared sandbox and pid 1's
/// report fd, and which service it is, if it is one.
struct AppStart<'a> {
    prepared: &'a Prepared,
    err: RawFd,
    service: Option<usize>,
}

/// The app's stack while it shares pid 1's memory, above a guard page.
const APP_STACK: usize = 1 << 20;
const GUARD: usize = 1 << 12;

/// Starts the app as vfork(2) would: the child shares pid 1's memory, on a
/// stack of its own, and pid 1 sleeps until the child has exec'd or exited
/// (CLONE_VFORK). Nothing of pid 1's address space is copied, and the
/// exec has none to take apart. The child has its own fd table, working
/// directory, credentials and signal handlers (no CLONE_FILES, CLONE_FS,
/// CLONE_SIGHAND), so its confinement is its own.
fn spawn_app(prepared: &Prepared, err: &OwnedFd) -> Pid {
    spawn_confined(prepared, err, None)
}

/// Starts the `index`th service as [`spawn_app`] starts the app, confined
/// the same way, and fails the sandbox when it could not exec: the app
/// would find its service missing.
fn start_service(prepared: &Prepared, index: usize, err: &OwnedFd) {
    let pid = spawn_confined(prepared, err, Some(index));
    // With CLONE_VFORK the child has exec'd or exited by now; one that
    // exited has written its reason on the report pipe already.
    if let Ok(WaitStatus::Exited(..) | WaitStatus::Signaled(..)) =
        waitpid(pid, Some(WaitPidFlag::WNOHANG))
    {
        // SAFETY: leave without unwinding; the reason is reported.
        unsafe { libc::_exit(EXIT_WSBOX_ERROR) }
    }
}

/// Starts the app (`service` None) or a service, confined, as vfork would.
fn spawn_confined(prepared: &Prepared, err: &OwnedFd, service: Option<usize>) -> Pid {
    // SAFETY: a fresh private anonymous mapping, unmapped below.
    let base = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            APP_STACK + GUARD,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_STACK,
            -1,
            0,
        )
    };
    if base == libc::MAP_FAILED {
        fail(
            err,
            EXIT_WSBOX_ERROR,
            format!(
                "failed to map the app's stack: {}",
                io::Error::last_os_error()
            ),
        );
    }
    // SAFETY: the lowest page of the mapping above: a stack that overflows
    // faults there instead of writing below it.
    if unsafe { libc::mprotect(base, GUARD, libc::PROT_NONE) } != 0 {
        fail(
            err,
            EXIT_WSBOX_ERROR,
            format!(
                "failed to guard the app's stack: {}",
                io::Error::last_os_error()
            ),
        );
    }
    let start = AppStart {
        prepared,
        err: err.as_raw_fd(),
        service,
    };
    // SAFETY: `app_entry` runs on the new stack, whose top is the end of the
    // mapping (page-aligned). With CLONE_VM|CLONE_VFORK this process sleeps
    // until the child has exec'd or exited, so `start`, the stack and all
    // the memory the child uses stay valid and nothing else touches them
    // meanwhile; the child leaves only through exec or _exit.
    let pid = unsafe {
        libc::clone(
            app_entry,
            base.cast::<u8>().add(APP_STACK + GUARD).cast(),
            libc::CLONE_VM | libc::CLONE_VFORK | libc::SIGCHLD,
            std::ptr::from_ref(&start).cast_mut().cast(),
        )
    };
    let error = io::Error::last_os_error();
    // SAFETY: the child no longer runs on this memory (it exec'd or exited).
    unsafe { libc::munmap(base, APP_STACK + GUARD) };
    if pid < 0 {
        fail(
            err,
            EXIT_WSBOX_ERROR,
            format!("failed to start the app: {error}"),
        );
    }
    Pid::from_raw(pid)
}

extern "C" fn app_entry(arg: *mut libc::c_void) -> libc::c_int {
    // SAFETY: `arg` is spawn_app's AppStart, valid while pid 1 sleeps.
    let start = unsafe { &*arg.cast::<AppStart<'_>>() };
    // SAFETY: pid 1's report fd, open in this process's own fd table; this
    // handle never closes it (ManuallyDrop).
    let err = std::mem::ManuallyDrop::new(unsafe { OwnedFd::from_raw_fd(start.err) });
    // A panic must not cross this extern "C" boundary (it would abort with
    // no reason given): it becomes a report line like any other failure,
    // and the default hook's lines on the app's stderr are left out.
    std::panic::set_hook(Box::new(|_| {}));
    let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(
        || -> std::convert::Infallible { app(start.prepared, &err, start.service) },
    ));
    let reason = match panicked {
        Ok(never) => match never {},
        Err(payload) => payload
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown reason".into()),
    };
    fail(
        &err,
        EXIT_WSBOX_ERROR,
        format!("failed to start the app: a panic ({reason})"),
    )
}

/// pid 1's life once the app runs: reap every child, forward signals to the app,
/// exit with the app's status when it ends.
fn reap(app: Pid) -> ! {
    let mut signals = supervised_signals();
    signals.add(Signal::SIGUSR1);
    signals.add(Signal::SIGUSR2);
    let _ = signals.thread_block();
    loop {
        let Ok(sig) = signals.wait() else {
            continue;
        };
        if sig != Signal::SIGCHLD {
            let _ = kill(app, sig);
            continue;
        }
        loop {
            match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::Exited(pid, code)) if pid == app => exit(code),
                Ok(WaitStatus::Signaled(pid, sig, _)) if pid == app => exit(128 + sig as i32),
                Ok(WaitStatus::StillAlive) => break,
                Ok(_) => continue,
                Err(nix::errno::Errno::EINTR) => continue,
                Err(_) => exit(EXIT_WSBOX_ERROR),
            }
        }
    }
}

fn exit(code: i32) -> ! {
    // The report pipe first: wsbox hears of the end (Sandbox::ending) before
    // the kernel frees this process's memory and namespaces.
    privileges::close_fds();
    // SAFETY: pid 1 holds nothing that needs flushing.
    unsafe { libc::_exit(code) }
}

/// The app process (or a service's): confine, then exec. Never returns,
/// and leaves only through exec or _exit: it runs on pid 1's memory
/// ([`spawn_app`]).
fn app(prepared: &Prepared, err: &OwnedFd, service: Option<usize>) -> ! {
    // exec keeps the signal mask; the app starts with none blocked.
    let _ = nix::sys::signal::sigprocmask(SigmaskHow::SIG_SETMASK, Some(&SigSet::empty()), None);
    let plan = &prepared.plan;
    for step in plan.confine {
        let result = match step {
            ConfineStep::Setsid => privileges::new_session().map_err(|e| e.to_string()),
            ConfineStep::CloseFds => privileges::close_fds_on_exec().map_err(|e| e.to_string()),
            ConfineStep::DropCapabilities => {
                privileges::drop_capabilities().map_err(|e| e.to_string())
            }
            ConfineStep::NoNewPrivs => privileges::no_new_privs().map_err(|e| e.to_string()),
            ConfineStep::Landlock => landlock::restrict(
                prepared.landlock_abi,
                &plan.writable,
                &plan.devices,
                prepared.spec.landlock,
            )
            .map_err(|e| e.to_string()),
            ConfineStep::Seccomp => prepared.filter.load().map_err(|e| e.to_string()),
            ConfineStep::Exec => match service {
                Some(index) => exec_service(&prepared.services[index], err),
                None => exec(prepared, err),
            },
        };
        if let Err(message) = result {
            fail(err, EXIT_WSBOX_ERROR, message);
        }
    }
    fail(
        err,
        EXIT_WSBOX_ERROR,
        "the confinement plan has no exec step",
    )
}

/// Execs a service: its socket as fd 3, `LISTEN_PID` its own pid.
fn exec_service(service: &PreparedService, err: &OwnedFd) -> ! {
    let what = &service.what;
    let mut envp = service.envp.clone();
    // pid 1's report fd may have a number the service's fds go to: keep a
    // copy above them for the reports after they are placed.
    let above = 3 + service.fds.len() as i32;
    let high_err;
    // SAFETY: F_DUPFD_CLOEXEC on an fd this process holds; the copy is owned
    // here and closes at exec.
    let err = match unsafe { libc::fcntl(err.as_raw_fd(), libc::F_DUPFD_CLOEXEC, above) } {
        copy if copy >= 0 => {
            // SAFETY: a fresh fd of this process's, owned by nothing else.
            high_err = unsafe { OwnedFd::from_raw_fd(copy) };
            &high_err
        }
        _ => err,
    };
    if let Err(e) = place_fds(&service.fds) {
        fail(
            err,
            EXIT_WSBOX_ERROR,
            format!("failed to start {what}: {e}"),
        );
    }
    if service.listen_fd.is_some() {
        let pid = std::process::id();
        match CString::new(format!("LISTEN_PID={pid}")) {
            Ok(pair) => envp.push(pair),
            Err(_) => fail(err, EXIT_WSBOX_ERROR, format!("failed to start {what}")),
        }
    }
    let e = match nix::unistd::execve(&service.argv[0], &service.argv, &envp) {
        Err(e) => e,
        Ok(never) => match never {},
    };
    let shown = String::from_utf8_lossy(service.argv[0].as_bytes());
    fail(
        err,
        EXIT_WSBOX_ERROR,
        format!("failed to start {what} ({shown}): {}", io::Error::from(e)),
    )
}

/// Moves `fds` to 3, 4, … in order, without close-on-exec. Each is first
/// copied above every target, so that moving one never overwrites another
/// still to move. (Just above them: the sandbox's RLIMIT_NOFILE, set by
/// now, may be as low as 64.)
fn place_fds(fds: &[i32]) -> io::Result<()> {
    let above = 3 + fds.len() as i32;
    let mut high = [0i32; 16];
    if fds.len() > high.len() {
        return Err(io::Error::other("too many fds for one service"));
    }
    for (slot, &fd) in high.iter_mut().zip(fds) {
        // SAFETY: F_DUPFD_CLOEXEC on an fd this process holds.
        let copy = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, above) };
        if copy < 0 {
            return Err(io::Error::last_os_error());
        }
        *slot = copy;
    }
    for (target, &copy) in (3..).zip(&high[..fds.len()]) {
        // SAFETY: dup2 onto a number this process no longer uses (every fd
        // above stderr is close-on-exec by now); the copy closes at exec.
        if unsafe { libc::dup2(copy, target) } < 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Finds the program in the sandbox's PATH and execs it.
fn exec(prepared: &Prepared, err: &OwnedFd) -> ! {
    let program = &prepared.argv[0];
    let name = String::from_utf8_lossy(program.as_bytes()).into_owned();
    let path = if program.as_bytes().contains(&b'/') {
        program.clone()
    } else {
        let found = prepared
            .path_dirs
            .iter()
            .map(|dir| {
                dir.join(OsString::from(std::ffi::OsStr::from_bytes(
                    program.as_bytes(),
                )))
            })
            .find(|candidate| is_executable(candidate));
        match found.and_then(|p| CString::new(p.as_os_str().as_bytes()).ok()) {
            Some(path) => path,
            None => fail(
                err,
                EXIT_NOT_FOUND,
                format!("failed to execute {name}: not found in the sandbox's PATH"),
            ),
        }
    };
    let e = match nix::unistd::execve(&path, &prepared.argv, &prepared.envp) {
        Err(e) => e,
        Ok(never) => match never {},
    };
    let shown = String::from_utf8_lossy(path.as_bytes());
    let code = if e == nix::errno::Errno::ENOENT {
        EXIT_NOT_FOUND
    } else {
        EXIT_CANNOT_EXECUTE
    };
    let reason = if e == nix::errno::Errno::ENOENT {
        "no such file inside the sandbox".to_owned()
    } else {
        io::Error::from(e).to_string()
    };
    fail(err, code, format!("failed to execute {shown}: {reason}"))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}
