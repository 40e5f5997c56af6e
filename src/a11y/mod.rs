//! Accessibility: a screen reader on the host (Orca) reads and drives the
//! app through AT-SPI, the accessibility bus, as it does every host app.
//! Where the host has such a bus (`org.a11y.Bus.GetAddress` on its session
//! bus answers) and the sandbox a display, the app reaches it through
//! Debian's `xdg-dbus-proxy`, which lets through only what an app's side
//! of AT-SPI needs: the rules Flatpak's accessibility proxy uses
//! ([`PROXY_RULES`]).
//!
//! ```text
//! app ─▶ $XDG_RUNTIME_DIR/at-spi-bus ─▶ relay ─▶ xdg-dbus-proxy ─▶ host's a11y bus ◀─ Orca
//!        (bound inside; AT_SPI_BUS_      (the a11y helper; --filter: the
//!         ADDRESS points there)           Registry's calls and broadcasts)
//! ```
//!
//! Both run in the a11y helper, forked before wsbox confines itself
//! (`crate::helper`), which asks the host's session bus for the address,
//! starts the proxy (`--fd`: it ends when the helper does, and
//! `PR_SET_PDEATHSIG`) and runs the relay ([`relay`]). The relay makes the
//! app's authentication the user's (the app is uid 1000 inside, and the
//! host's bus checks the uid an app claims; [`auth`]), answers AT-SPI's
//! `GetApplicationBusAddress` itself so that no screen reader connects to
//! an address the app chose (libdbus runs a program for a `unixexec:`
//! one), and passes the app's replies only to calls it was given. The
//! helper is not confined (it connects to the host's buses) but has
//! `no_new_privs`, is not dumpable and dies with wsbox; of what the app
//! sends it reads the authentication lines and the messages' headers
//! ([`wire`]), never their bodies. wsbox itself never touches the host's
//! buses.
//!
//! Where the host has no session bus, or no accessibility bus on it,
//! nothing is started and the app gets no address (it then asks its own
//! session bus, where nothing answers, and goes on without). wsbox waits
//! at most [`ANSWER_WAIT`] for the host's answer.

mod auth;
mod relay;
mod wire;

use std::io::Read;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::wait::waitpid;
use nix::unistd::Pid;
use wsbox_sandbox::plan::SANDBOX_RUNTIME_DIR;
use wsbox_sandbox::{BindSpec, Spec};

use crate::helper::{fork_helper, recv, send, seqpacket_pair};

/// How long wsbox waits for the host's accessibility bus, from the
/// helper's fork.
pub const ANSWER_WAIT: Duration = Duration::from_secs(1);
/// How long the proxy may take to listen.
const READY_WAIT: Duration = Duration::from_secs(10);
/// The variable AT-SPI reads the bus's address from (GTK 3's atk-bridge,
/// GTK 4, Qt).
pub const ADDRESS_VAR: &str = "AT_SPI_BUS_ADDRESS";
/// The relay's socket, in wsbox's runtime directory.
const RELAY_SOCKET: &str = "at-spi-bus";
/// The proxy's socket, in wsbox's runtime directory (never inside).
const PROXY_SOCKET: &str = "at-spi-proxy";

/// xdg-dbus-proxy's rules: filtered, every unique name visible; from the
/// app, only the Registry's methods an app calls (embedding its tree,
/// the registered events, the device event controller's listeners); to
/// the app, only the Registry's signals of listeners coming and going.
/// Calls from the screen reader to the app pass (the proxy lets any peer
/// call the app, and the app answer each call once). Flatpak's
/// accessibility proxy has the same list; its two broadcast rules name the
/// signal where the proxy expects the sender's name
/// (`--broadcast=org.a11y.atspi.Registry.EventListenerRegistered=@…`),
/// which no sender has: here they name the Registry.
pub const PROXY_RULES: &[&str] = &[
    "--filter",
    "--sloppy-names",
    "--broadcast=org.a11y.atspi.Registry=org.a11y.atspi.Registry.EventListenerRegistered@/org/a11y/atspi/registry",
    "--broadcast=org.a11y.atspi.Registry=org.a11y.atspi.Registry.EventListenerDeregistered@/org/a11y/atspi/registry",
    "--call=org.a11y.atspi.Registry=org.a11y.atspi.Socket.Embed@/org/a11y/atspi/accessible/root",
    "--call=org.a11y.atspi.Registry=org.a11y.atspi.Socket.Unembed@/org/a11y/atspi/accessible/root",
    "--call=org.a11y.atspi.Registry=org.a11y.atspi.Registry.GetRegisteredEvents@/org/a11y/atspi/registry",
    "--call=org.a11y.atspi.Registry=org.a11y.atspi.DeviceEventController.GetKeystrokeListeners@/org/a11y/atspi/registry/deviceeventcontroller",
    "--call=org.a11y.atspi.Registry=org.a11y.atspi.DeviceEventController.GetDeviceEventListeners@/org/a11y/atspi/registry/deviceeventcontroller",
    "--call=org.a11y.atspi.Registry=org.a11y.atspi.DeviceEventController.NotifyListenersSync@/org/a11y/atspi/registry/deviceeventcontroller",
    "--call=org.a11y.atspi.Registry=org.a11y.atspi.DeviceEventController.NotifyListenersAsync@/org/a11y/atspi/registry/deviceeventcontroller",
];

/// Where the app finds the bus.
pub fn inside_socket() -> PathBuf {
    Path::new(SANDBOX_RUNTIME_DIR).join(RELAY_SOCKET)
}

/// The a11y helper, stopped and reaped when dropped.
#[derive(Debug)]
struct Helper {
    sock: OwnedFd,
    pid: Pid,
}

impl Drop for Helper {
    fn drop(&mut self) {
        let _ = nix::sys::socket::shutdown(self.sock.as_raw_fd(), nix::sys::socket::Shutdown::Both);
        let _ = nix::sys::signal::kill(self.pid, nix::sys::signal::Signal::SIGKILL);
        let _ = waitpid(self.pid, None);
    }
}

/// The helper, asking the host for its accessibility bus.
#[derive(Debug)]
pub struct Asked {
    helper: Helper,
    since: Instant,
}

/// The running helper: the proxy and the relay. Dropping it ends both.
#[derive(Debug)]
pub struct A11y {
    helper: Helper,
}

impl A11y {
    /// The helper's pid, which the confined wsbox may still signal.
    pub fn pid(&self) -> i32 {
        self.helper.pid.as_raw()
    }
}

/// Starts asking the host for its accessibility bus, when `wanted` (the
/// policy's `a11y.enabled`, with a display) and the host may have one:
/// forks the helper, which asks while wsbox goes on. `dir` is wsbox's
/// runtime directory. Call while wsbox has a single thread.
pub fn ask(wanted: bool, dir: &Path) -> Option<Asked> {
    if !wanted {
        return None;
    }
    if !host_may_have_a11y() {
        tracing::debug!("no host session bus: the app gets no accessibility bus");
        return None;
    }
    let since = Instant::now();
    let spawned = seqpacket_pair().and_then(|(ours, theirs)| {
        let dir = dir.to_owned();
        let keep = [theirs.as_raw_fd()];
        let pid = fork_helper(&keep, move || helper(&theirs, &dir))?;
        Ok(Helper { sock: ours, pid })
    });
    match spawned {
        Ok(helper) => Some(Asked { helper, since }),
        Err(e) => {
            tracing::warn!(%e, "failed to start the accessibility helper; the app gets no accessibility bus");
            None
        }
    }
}

/// Whether the host has a session bus to ask: the helper is not forked
/// for a host that has none (`DBUS_SESSION_BUS_ADDRESS` unset or naming a
/// path that is not there, and no `$XDG_RUNTIME_DIR/bus`), unless
/// `AT_SPI_BUS_ADDRESS` names the accessibility bus itself.
fn host_may_have_a11y() -> bool {
    let set = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
    if set(ADDRESS_VAR).is_some() {
        return true;
    }
    if let Some(address) = set("DBUS_SESSION_BUS_ADDRESS") {
        let address = address.to_string_lossy().into_owned();
        return match plain_unix_path(&address) {
            Some(path) => Path::new(&path).exists(),
            None => true,
        };
    }
    set("XDG_RUNTIME_DIR").is_some_and(|dir| Path::new(&dir).join("bus").exists())
}

/// The path of a D-Bus address that is one `unix:path=…` and nothing else.
fn plain_unix_path(address: &str) -> Option<String> {
    let rest = address.strip_prefix("unix:")?;
    if address.contains(';') {
        return None;
    }
    rest.split(',')
        .find_map(|kv| kv.strip_prefix("path="))
        .filter(|p| !p.contains('%'))
        .map(str::to_owned)
}

/// Waits for the host's answer (until [`ANSWER_WAIT`] after the fork) and,
/// where there is an accessibility bus, makes the relay's socket in `dir`
/// and adds it to `spec` with `AT_SPI_BUS_ADDRESS`. Otherwise the app gets
/// no address: one the policy passes is dropped either way. What the user
/// should know goes to `warnings`.
pub fn finish(
    asked: Option<Asked>,
    dir: &Path,
    spec: &mut Spec,
    warnings: &mut Vec<String>,
) -> Option<A11y> {
    spec.env.retain(|(name, _)| name != ADDRESS_VAR);
    let asked = asked?;
    let left = ANSWER_WAIT.saturating_sub(asked.since.elapsed());
    match answer(&asked.helper, left) {
        Answer::Ok => {}
        Answer::None(why) => {
            tracing::info!("no accessibility bus on the host ({why}): the app gets none");
            return None;
        }
        Answer::Late => {
            tracing::warn!(
                "the host's accessibility bus did not answer within {} s; the app runs without it",
                ANSWER_WAIT.as_secs_f32()
            );
            return None;
        }
        Answer::Warn(why) => {
            warnings.push(format!(
                "{why}; the app runs without the host's accessibility bus (screen readers do not see it)"
            ));
            return None;
        }
    }
    match serve(asked.helper, dir, spec) {
        Ok(a11y) => Some(a11y),
        Err(e) => {
            warnings.push(format!(
                "failed to give the app the host's accessibility bus: {e:#}"
            ));
            None
        }
    }
}

/// The helper's answer.
#[derive(Debug, PartialEq, Eq)]
enum Answer {
    /// The host has an accessibility bus and the proxy is starting.
    Ok,
    /// No accessibility bus: why, for the log.
    None(String),
    /// One the app cannot have: why, for the user.
    Warn(String),
    /// No answer in time.
    Late,
}

fn answer(helper: &Helper, wait: Duration) -> Answer {
    let mut fds = [PollFd::new(helper.sock.as_fd(), PollFlags::POLLIN)];
    let ms = u16::try_from(wait.as_millis()).unwrap_or(u16::MAX);
    match poll(&mut fds, PollTimeout::from(ms)) {
        Ok(0) => return Answer::Late,
        Ok(_) => {}
        Err(e) => return Answer::None(e.to_string()),
    }
    match recv(helper.sock.as_fd(), 0) {
        Ok((bytes, _)) => parse_answer(&bytes),
        Err(e) => Answer::None(e.to_string()),
    }
}

fn parse_answer(bytes: &[u8]) -> Answer {
    let text = String::from_utf8_lossy(bytes);
    if text == "ok" {
        Answer::Ok
    } else if let Some(why) = text.strip_prefix("warn:") {
        Answer::Warn(why.to_owned())
    } else if let Some(why) = text.strip_prefix("none:") {
        Answer::None(why.to_owned())
    } else {
        Answer::None("the helper ended".into())
    }
}

/// Makes the relay's socket, hands it to the helper, and puts it inside.
fn serve(helper: Helper, dir: &Path, spec: &mut Spec) -> anyhow::Result<A11y> {
    use anyhow::Context;
    let path = dir.join(RELAY_SOCKET);
    let listener = UnixListener::bind(&path)
        .with_context(|| format!("failed to create {}", path.display()))?;
    if spec.host_ids.privileged {
        std::os::unix::fs::chown(&path, Some(spec.host_ids.uid), Some(spec.host_ids.gid))
            .with_context(|| format!("failed to hand {} to the sandbox", path.display()))?;
    }
    send(helper.sock.as_fd(), b"serve", &[listener.as_raw_fd()])
        .context("the accessibility helper is gone")?;
    // The helper's copy is the only one from here on.
    drop(listener);
    spec.binds.push(BindSpec {
        host: path,
        target: inside_socket(),
        writable: false,
        special: true,
    });
    spec.env.push((
        ADDRESS_VAR.into(),
        format!("unix:path={}", inside_socket().display()).into(),
    ));
    Ok(A11y { helper })
}

/// The helper: asks for the address, starts the proxy, answers wsbox,
/// then relays the app's connections until wsbox ends.
fn helper(sock: &OwnedFd, dir: &Path) -> i32 {
    // SAFETY: a plain prctl with a NUL-terminated name; how the tests and
    // `ps` tell this helper from wsbox.
    unsafe {
        libc::prctl(
            libc::PR_SET_NAME,
            c"wsbox-a11y".as_ptr() as libc::c_ulong,
            0,
            0,
            0,
        )
    };
    let say = |text: &str| send(sock.as_fd(), text.as_bytes(), &[]);
    let address = match host_address() {
        Ok(address) => address,
        Err(answer) => {
            let _ = say(&answer);
            return 0;
        }
    };
    let Some(program) = crate::util::find_program("xdg-dbus-proxy") else {
        let _ = say(
            "warn:the host has an accessibility bus, but xdg-dbus-proxy is not installed \
             (Debian's package xdg-dbus-proxy)",
        );
        return 0;
    };
    let upstream = dir.join(PROXY_SOCKET);
    let mut ready = match start_proxy(&program, &address, &upstream) {
        Ok(ready) => ready,
        Err(e) => {
            let _ = say(&format!("warn:failed to start xdg-dbus-proxy: {e}"));
            return 0;
        }
    };
    if say("ok").is_err() {
        return 0;
    }
    let listener = match recv(sock.as_fd(), 1) {
        Ok((bytes, mut fds)) if bytes == b"serve" && fds.len() == 1 => {
            UnixListener::from(fds.remove(0))
        }
        // wsbox went on without.
        _ => return 0,
    };
    // The proxy writes one byte once it listens.
    let listening = ready
        .set_read_timeout(Some(READY_WAIT))
        .and_then(|()| ready.read(&mut [0u8]));
    if !matches!(listening, Ok(1)) {
        tracing::warn!(
            ?listening,
            "xdg-dbus-proxy did not start; the app has no accessibility bus"
        );
        return 1;
    }
    // SAFETY: no arguments.
    let uid = unsafe { libc::getuid() };
    relay::serve(&listener, &upstream, uid);
    // `ready` stays open until here: the proxy ends once it is closed.
    drop(ready);
    0
}

/// The host's accessibility bus: `AT_SPI_BUS_ADDRESS` where the host sets
/// it (as AT-SPI reads it), else what `org.a11y.Bus` on the host's session
/// bus says. Err: the answer for wsbox.
fn host_address() -> Result<String, String> {
    if let Some(address) = std::env::var(ADDRESS_VAR).ok().filter(|a| !a.is_empty()) {
        return Ok(address);
    }
    let conn = zbus::blocking::connection::Builder::session()
        .and_then(|b| b.method_timeout(ANSWER_WAIT).build())
        .map_err(|e| format!("none:no session bus: {e}"))?;
    let reply = conn.call_method(
        Some("org.a11y.Bus"),
        "/org/a11y/bus",
        Some("org.a11y.Bus"),
        "GetAddress",
        &(),
    );
    let address = match reply {
        Ok(reply) => reply
            .body()
            .deserialize::<String>()
            .map_err(|e| format!("warn:the host's accessibility bus gave no address ({e})"))?,
        Err(zbus::Error::MethodError(name, _, _))
            if [
                "org.freedesktop.DBus.Error.ServiceUnknown",
                "org.freedesktop.DBus.Error.NameHasNoOwner",
            ]
            .contains(&name.as_str()) =>
        {
            return Err(format!("none:{name}"));
        }
        Err(e) => return Err(format!("warn:the host's accessibility bus failed: {e}")),
    };
    if address.is_empty() || address.len() > 4096 || address.contains('\0') {
        return Err("warn:the host's accessibility bus gave no usable address".into());
    }
    Ok(address)
}

/// The most memory (RLIMIT_DATA) xdg-dbus-proxy may use.
const PROXY_DATA_MAX: libc::rlim_t = 256 << 20;

/// Starts xdg-dbus-proxy for `address`, listening at `upstream`; returns
/// the socket it writes to once it listens, and which it watches: it ends
/// once the helper closes it.
fn start_proxy(program: &Path, address: &str, upstream: &Path) -> std::io::Result<UnixStream> {
    let (ours, theirs) = UnixStream::pair()?;
    let fd = theirs.as_raw_fd();
    let mut cmd = Command::new(program);
    cmd.arg(format!("--fd={fd}"))
        .arg(address)
        .arg(upstream)
        .args(PROXY_RULES)
        .stdin(Stdio::null())
        .stdout(Stdio::null());
    // SAFETY: fcntl and prctl are async-signal-safe and touch no memory of
    // ours. The proxy keeps its end of the socket (it is close-on-exec
    // here) and dies with the helper, even by SIGKILL.
    unsafe {
        cmd.pre_exec(move || {
            // It runs outside the sandbox's cgroup: its memory is bounded
            // here (it queues what it reads for clients).
            let data = libc::rlimit {
                rlim_cur: PROXY_DATA_MAX,
                rlim_max: PROXY_DATA_MAX,
            };
            if libc::fcntl(fd, libc::F_SETFD, 0) != 0
                || libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong) != 0
                || libc::setrlimit(libc::RLIMIT_DATA, &data) != 0
            {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    cmd.spawn()?;
    drop(theirs);
    Ok(ours)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_plain_unix_path_is_checked_for() {
        assert_eq!(
            plain_unix_path("unix:path=/run/user/1000/bus").as_deref(),
            Some("/run/user/1000/bus")
        );
        assert_eq!(
            plain_unix_path("unix:path=/tmp/b,guid=0123").as_deref(),
            Some("/tmp/b")
        );
        for other in [
            "unix:abstract=/tmp/dbus-x",
            "unix:path=/a;unix:path=/b",
            "tcp:host=localhost,port=1",
            "unix:path=/with%20space",
        ] {
            assert_eq!(plain_unix_path(other), None, "{other}");
        }
    }

    #[test]
    fn answers_are_read_as_sent() {
        assert_eq!(parse_answer(b"ok"), Answer::Ok);
        assert_eq!(
            parse_answer(b"warn:no proxy"),
            Answer::Warn("no proxy".into())
        );
        assert_eq!(
            parse_answer(b"none:org.freedesktop.DBus.Error.ServiceUnknown"),
            Answer::None("org.freedesktop.DBus.Error.ServiceUnknown".into())
        );
        assert!(matches!(parse_answer(b""), Answer::None(_)));
    }

    #[test]
    fn the_rules_are_the_registrys_only() {
        assert_eq!(PROXY_RULES[..2], ["--filter", "--sloppy-names"]);
        for rule in &PROXY_RULES[2..] {
            assert!(
                rule.starts_with("--call=org.a11y.atspi.Registry=")
                    || rule.starts_with("--broadcast=org.a11y.atspi.Registry="),
                "{rule}"
            );
        }
        assert!(!PROXY_RULES
            .iter()
            .any(|r| r.contains("--talk") || r.contains("--own")));
    }
}
