//! Sound: a PulseAudio endpoint of the sandbox's own, served by wsbox's
//! audio helper, which passes on to the host's sound server only what the
//! grant (`--audio`, `[audio] allow`) allows.
//!
//! ```text
//! app ─▶ $XDG_RUNTIME_DIR/pulse/native ─▶ audio helper ─▶ host's server
//!        (bound inside; PULSE_SERVER)     (one host connection per app
//!                                          connection, as [wsbox:NAME])
//! ```
//!
//! The app's PulseAudio clients (libpulse, PipeWire's pulse clients:
//! Firefox, GStreamer, SDL, `paplay`) speak the native protocol to the
//! helper, which answers what describes the server itself: one sink
//! ([`shared::SINK_NAME`]) and, with `record`, one source ([`shared::SOURCE_NAME`]), made
//! up, so that no host device name reaches the app. Playback streams go
//! to the host's default sink, recording streams come from its default
//! source, never from a monitor. Modules, the sample cache, other clients
//! and their streams, devices and defaults are refused with the protocol's
//! access error ([`proxy`] says which command gets what). The host's
//! `pulse/native`, `pipewire-0` and `/dev/snd` are never bound inside.
//!
//! With `none`, no helper runs and no socket is bound, but `PULSE_SERVER`
//! still names the place inside, so that libpulse fails at once instead of
//! starting a sound server of its own inside the sandbox.
//!
//! The helper is forked before wsbox confines itself (`crate::helper`),
//! reads the host server's cookie, and confines itself before it takes a
//! connection: Landlock with no file and no TCP at all, wsbox's seccomp
//! allowlist plus unix stream sockets and `connect` (a new socket for each
//! app connection, which the confined wsbox may not make), no
//! capabilities, signals to no one. If it cannot, it says so and ends, and
//! wsbox stops the sandbox. It dies with wsbox, and tells it when the app
//! starts and stops recording ([`Audio::watch_fd`]), for the marking's
//! indicator.

mod host;
mod message;
mod proxy;
mod sanitize;
mod shared;
mod silence;
mod wire;

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use anyhow::Context;
use nix::sys::wait::waitpid;
use nix::unistd::Pid;
use wsbox_policies::{Audio as AudioPolicy, AudioGrant, RecordDenied};
use wsbox_sandbox::plan::SANDBOX_RUNTIME_DIR;
use wsbox_sandbox::{BindSpec, Spec};

use crate::helper::{fork_helper, seqpacket_pair};

use shared::{Config, Shared, CONNECTIONS_MAX};

/// The endpoint's socket in wsbox's runtime directory.
const SOCKET: &str = "pulse-native";
/// The variable libpulse reads the server from.
pub const SERVER_VAR: &str = "PULSE_SERVER";

/// Where the app finds the endpoint.
pub fn inside_socket() -> PathBuf {
    Path::new(SANDBOX_RUNTIME_DIR).join("pulse/native")
}

/// The host's sound server, as libpulse finds it: the first `unix:` entry
/// (or absolute path) of `PULSE_SERVER`, else `$XDG_RUNTIME_DIR/pulse/native`.
pub fn host_server() -> Option<PathBuf> {
    if let Some(servers) = std::env::var("PULSE_SERVER").ok().filter(|s| !s.is_empty()) {
        return first_unix(&servers);
    }
    let runtime = std::env::var_os("XDG_RUNTIME_DIR")?;
    Some(Path::new(&runtime).join("pulse/native"))
}

/// The first local server of a `PULSE_SERVER` list: `unix:PATH` or a
/// plain absolute path, each maybe after a `{machine-id}` prefix.
fn first_unix(servers: &str) -> Option<PathBuf> {
    servers.split_whitespace().find_map(|entry| {
        let entry = entry
            .strip_prefix('{')
            .map_or(entry, |e| e.split_once('}').map_or(e, |(_, rest)| rest));
        let path = entry.strip_prefix("unix:").unwrap_or(entry);
        path.starts_with('/').then(|| PathBuf::from(path))
    })
}

/// The running helper; dropping it ends it.
#[derive(Debug)]
pub struct Audio {
    sock: OwnedFd,
    pid: Pid,
}

impl Audio {
    /// The helper's pid, which the confined wsbox may still signal.
    pub fn pid(&self) -> i32 {
        self.pid.as_raw()
    }

    /// Readable when the helper says the app started (`recording`) or
    /// stopped (`quiet`) recording; [`read_event`] reads it.
    pub fn watch_fd(&self) -> BorrowedFd<'_> {
        self.sock.as_fd()
    }
}

/// What the helper says on its socket.
#[derive(Debug, PartialEq, Eq)]
pub enum Event {
    /// The app started recording (true) or stopped (false).
    Recording(bool),
    /// The helper could not confine itself, and ended: why.
    Failed(String),
    /// The helper ended.
    Gone,
}

/// The helper's next news on its socket.
pub fn read_event(sock: BorrowedFd<'_>) -> Event {
    match crate::helper::recv(sock, 0) {
        Ok((bytes, _)) if bytes == b"recording" => Event::Recording(true),
        Ok((bytes, _)) if bytes == b"quiet" => Event::Recording(false),
        Ok((bytes, _)) if bytes.starts_with(b"failed:") => {
            Event::Failed(String::from_utf8_lossy(&bytes[7..]).into_owned())
        }
        _ => Event::Gone,
    }
}

impl Drop for Audio {
    fn drop(&mut self) {
        let _ = nix::sys::signal::kill(self.pid, nix::sys::signal::Signal::SIGKILL);
        let _ = waitpid(self.pid, None);
    }
}

/// Sets up sound for the sandbox: `PULSE_SERVER` always (so that no
/// client starts a server of its own inside), and unless the grant is
/// `none`, the endpoint's socket in `dir`, bound inside, and the helper
/// serving it. Call while wsbox has a single thread.
pub fn start(
    policy: &AudioPolicy,
    dir: &Path,
    spec: &mut Spec,
    name: &str,
    warnings: &mut Vec<String>,
) -> anyhow::Result<Option<Audio>> {
    spec.env.retain(|(var, _)| {
        !var.to_str()
            .is_some_and(|v| v.starts_with("PULSE_") || v == "PIPEWIRE_REMOTE")
    });
    spec.env.push((
        SERVER_VAR.into(),
        format!("unix:{}", inside_socket().display()).into(),
    ));
    if policy.allow == AudioGrant::None {
        return Ok(None);
    }
    let host = host_server().context(
        "--audio needs the host's sound server: neither PULSE_SERVER nor XDG_RUNTIME_DIR is set",
    )?;
    if !host.exists() {
        warnings.push(format!(
            "no sound server at {} (PulseAudio or pipewire-pulse): the app's sound fails until \
             there is one",
            host.display()
        ));
    }
    let path = dir.join(SOCKET);
    let listener = UnixListener::bind(&path)
        .with_context(|| format!("failed to create {}", path.display()))?;
    if spec.host_ids.privileged {
        std::os::unix::fs::chown(&path, Some(spec.host_ids.uid), Some(spec.host_ids.gid))
            .with_context(|| format!("failed to hand {} to the sandbox", path.display()))?;
    }
    let config = Config {
        grant: policy.allow,
        silence: policy.record_denied == RecordDenied::Silence,
        name: name.to_owned(),
        host,
    };
    let landlock_optional = spec.landlock == wsbox_policies::Requirement::BestEffort;
    let (ours, theirs) = seqpacket_pair().context("failed to start the audio helper")?;
    let keep = [theirs.as_raw_fd(), listener.as_raw_fd()];
    let pid = fork_helper(&keep, move || {
        helper(listener, theirs, config, landlock_optional)
    })
    .context("failed to start the audio helper")?;
    spec.binds.push(BindSpec {
        host: path,
        target: inside_socket(),
        writable: false,
        special: true,
    });
    Ok(Some(Audio { sock: ours, pid }))
}

/// The helper: confines itself, then serves app connections until wsbox
/// ends.
fn helper(listener: UnixListener, notify: OwnedFd, config: Config, landlock_optional: bool) -> i32 {
    // SAFETY: a plain prctl with a NUL-terminated name; how the tests and
    // `ps` tell this helper from wsbox.
    unsafe {
        libc::prctl(
            libc::PR_SET_NAME,
            c"wsbox-audio".as_ptr() as libc::c_ulong,
            0,
            0,
            0,
        )
    };
    // Read before the confinement, which leaves no file readable.
    let cookie = shared::host_cookie();
    let confinement = wsbox_sandbox::self_confine::Confinement {
        unix_sockets: true,
        landlock_optional,
        ..Default::default()
    };
    if let Err(e) = confinement.apply() {
        let _ = crate::helper::send(notify.as_fd(), format!("failed:{e}").as_bytes(), &[]);
        return 1;
    }
    let shared = Arc::new(Shared {
        config,
        cookie,
        streams: AtomicUsize::new(0),
        connections: AtomicUsize::new(0),
        silent_threads: AtomicUsize::new(0),
        recording: Mutex::new(0),
        notify,
    });
    loop {
        let client = match listener.accept() {
            Ok((client, _)) => client,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                tracing::warn!("audio: accept failed: {e}");
                std::thread::sleep(std::time::Duration::from_millis(100));
                continue;
            }
        };
        let taken = shared
            .connections
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                (n < CONNECTIONS_MAX).then_some(n + 1)
            })
            .is_ok();
        if !taken {
            tracing::info!("audio: more than {CONNECTIONS_MAX} connections; one refused");
            continue;
        }
        let shared = shared.clone();
        let spawned = std::thread::Builder::new()
            .name("wsbox-audio".into())
            .spawn({
                let shared = shared.clone();
                move || {
                    proxy::serve(client, shared.clone());
                    shared.connections.fetch_sub(1, Ordering::SeqCst);
                }
            });
        if spawned.is_err() {
            shared.connections.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_host_server_is_found_as_libpulse_finds_it() {
        let parse = first_unix;
        assert_eq!(parse("unix:/run/p/native"), Some("/run/p/native".into()));
        assert_eq!(
            parse("tcp:localhost {abc}unix:/x/native"),
            Some("/x/native".into())
        );
        assert_eq!(parse("tcp:localhost:4713"), None);
    }

    #[test]
    fn the_made_up_devices_say_nothing_of_the_host() {
        let (a, _b) = seqpacket_pair().unwrap();
        let shared = Shared {
            config: Config {
                grant: AudioGrant::Playback,
                silence: false,
                name: "t".into(),
                host: "/nonexistent".into(),
            },
            cookie: Vec::new(),
            streams: AtomicUsize::new(0),
            connections: AtomicUsize::new(0),
            silent_threads: AtomicUsize::new(0),
            recording: Mutex::new(0),
            notify: a,
        };
        let info = shared.server_info();
        assert_eq!(info.default_sink_name.as_deref(), Some(shared::SINK_NAME));
        assert_eq!(info.default_source_name, None);
        assert_eq!(shared.sink_info().monitor_source_index, None);
        assert_eq!(shared.source_info().monitor_of_sink_index, None);
    }
}
