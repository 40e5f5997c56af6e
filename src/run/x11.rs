//! X11 programs (`--x11`, `[display] x11 = true`): one rootless Xwayland per
//! sandbox, Debian's, started by pid 1 inside the sandbox as the app's user
//! and confined as the app is. It is a client of the sandbox's compositor
//! like any other, so X11 windows are shown, marked and fed input the way
//! Wayland windows are, and an X client reaches only the windows of its
//! own sandbox.
//!
//! wsbox makes everything Xwayland is started with, and gives it as fds
//! (3 to 6, `ServiceSpec::fds`):
//! - 3, `-listenfd`: the X socket, listening, made in the runtime directory
//!   and bound inside at `/tmp/.X11-unix/X0` (`DISPLAY=:0`). With it
//!   Xwayland opens no listener of its own: no TCP, no abstract socket
//!   (which in the sandbox's network namespace only the sandbox could
//!   reach anyway);
//! - 4, `-wm`: Xwayland's end of a socket pair whose other end is the
//!   compositor's window manager (`wsbox_compositor`'s `State::start_x11`);
//! - 5, `-displayfd`: a pipe; Xwayland writes its display number once it is
//!   ready, and wsbox then starts the window manager;
//! - 6, `WAYLAND_SOCKET`: Xwayland's end of a socket pair whose other end
//!   wsbox inserted into the compositor as an ordinary client, with the
//!   ordinary per-client limits.
//!
//! X clients authenticate with a MIT-MAGIC-COOKIE-1 that only the sandbox
//! has (`$XDG_RUNTIME_DIR/Xauthority` inside, `XAUTHORITY`). The app may
//! start at once: a client that connects before Xwayland is ready waits in
//! the socket's backlog.

use std::io::Read;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;

use anyhow::{Context, Result};
use wsbox_compositor::reexports::calloop::generic::Generic;
use wsbox_compositor::reexports::calloop::{Interest, LoopHandle, Mode, PostAction};
use wsbox_compositor::State;
use wsbox_sandbox::plan::{FileSpec, ServiceSpec, Spec, SANDBOX_RUNTIME_DIR};
use wsbox_sandbox::BindSpec;

use crate::run::state::Run;

/// Where Debian's Xwayland is, on the host and so inside.
pub const XWAYLAND: &str = "/usr/bin/Xwayland";

/// The X socket inside the sandbox (display :0).
pub const INSIDE_SOCKET: &str = "/tmp/.X11-unix/X0";

/// What wsbox keeps of the X11 setup until pid 1 has started: pid 1's
/// copies of Xwayland's fds, which wsbox closes once pid 1 has its own, so
/// that an Xwayland that dies closes them for good.
#[derive(Debug)]
pub struct Xwayland {
    theirs: Vec<OwnedFd>,
    /// wsbox's end of Xwayland's Wayland connection, until the compositor
    /// takes it ([`Xwayland::attach`]).
    wayland: Option<UnixStream>,
}

impl Xwayland {
    /// Inserts Xwayland's Wayland connection into `compositor` as its
    /// client. Whatever Xwayland sends before waits in the socket.
    pub fn attach(&mut self, compositor: &mut State) -> Result<()> {
        let Some(wayland) = self.wayland.take() else {
            return Ok(());
        };
        let client = compositor
            .insert_xwayland(wayland)
            .context("failed to accept Xwayland's Wayland connection")?;
        compositor
            .prepare_x11(client)
            .map_err(|e| anyhow::anyhow!("failed to prepare for X11: {e}"))
    }

    /// Drops wsbox's copies of Xwayland's fds: pid 1 has its own.
    pub fn close_theirs(&mut self) {
        self.theirs.clear();
    }
}

/// Checks that Xwayland can be started: before anything else is made.
pub fn check() -> Result<()> {
    if !Path::new(XWAYLAND).is_file() {
        anyhow::bail!(
            "--x11 (or the policy's [display] x11) needs Xwayland at {XWAYLAND}, which is not \
             installed (Debian package xwayland)"
        );
    }
    Ok(())
}

/// Makes Xwayland's sockets and adds it to `spec` as a service with its
/// socket, authority and environment; its Wayland connection goes to the
/// compositor with [`Xwayland::attach`]. The window manager starts once
/// Xwayland is ready.
pub fn make(dir: &Path, spec: &mut Spec, handle: &LoopHandle<'static, Run>) -> Result<Xwayland> {
    check()?;
    let (wayland, wayland_theirs) =
        UnixStream::pair().context("failed to make Xwayland's Wayland connection")?;
    let (wm, wm_theirs) =
        UnixStream::pair().context("failed to make the X11 window manager's connection")?;
    let (ready, ready_theirs) =
        nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).context("failed to make a pipe")?;

    let socket_path = dir.join("X0");
    let listener = UnixListener::bind(&socket_path)
        .with_context(|| format!("failed to create {}", socket_path.display()))?;
    if spec.host_ids.privileged {
        std::os::unix::fs::chown(
            &socket_path,
            Some(spec.host_ids.uid),
            Some(spec.host_ids.gid),
        )
        .with_context(|| format!("failed to hand {} to the sandbox", socket_path.display()))?;
    }
    spec.binds.push(BindSpec {
        host: socket_path,
        target: INSIDE_SOCKET.into(),
        writable: false,
        special: true,
    });

    let authority = Path::new(SANDBOX_RUNTIME_DIR).join("Xauthority");
    spec.files.push(FileSpec {
        path: authority.clone(),
        contents: authority_file(&spec.hostname, &cookie()?),
    });
    let theirs: Vec<OwnedFd> = vec![
        listener.into(),
        wm_theirs.into(),
        ready_theirs,
        wayland_theirs.into(),
    ];
    spec.services.push(ServiceSpec {
        what: "Xwayland".into(),
        argv: [
            XWAYLAND,
            ":0",
            "-rootless",
            "-shm",
            "-nolisten",
            "tcp",
            "-listenfd",
            "3",
            "-wm",
            "4",
            "-displayfd",
            "5",
            "-auth",
            &authority.to_string_lossy(),
        ]
        .iter()
        .map(Into::into)
        .collect(),
        env: ServiceSpec::env_with(&[("WAYLAND_SOCKET", "6")]),
        listen_fd: None,
        fds: theirs.iter().map(AsRawFd::as_raw_fd).collect(),
    });
    spec.env
        .retain(|(name, _)| name != "DISPLAY" && name != "XAUTHORITY");
    spec.env.push(("DISPLAY".into(), ":0".into()));
    spec.env.push(("XAUTHORITY".into(), authority.into()));
    watch_ready(handle, ready, wm)?;
    Ok(Xwayland {
        theirs,
        wayland: Some(wayland),
    })
}

/// Starts the window manager once Xwayland writes its display number.
fn watch_ready(handle: &LoopHandle<'static, Run>, ready: OwnedFd, wm: UnixStream) -> Result<()> {
    let loop_handle = handle.clone();
    let mut wm = Some(wm);
    let mut said = Vec::new();
    handle
        .insert_source(
            Generic::new(std::fs::File::from(ready), Interest::READ, Mode::Level),
            move |_, file, run: &mut Run| {
                let mut buf = [0u8; 16];
                // SAFETY: the file is not dropped while the source lives.
                let n = match unsafe { file.get_mut() }.read(&mut buf) {
                    Ok(n) => n,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {
                        return Ok(PostAction::Continue)
                    }
                    Err(_) => 0,
                };
                if n == 0 {
                    tracing::warn!("X11: Xwayland ended before it was ready; no X11 windows");
                    return Ok(PostAction::Remove);
                }
                said.extend_from_slice(&buf[..n]);
                if !said.contains(&b'\n') && said.len() < 16 {
                    return Ok(PostAction::Continue);
                }
                if let (Some(compositor), Some(wm)) = (run.compositor.as_mut(), wm.take()) {
                    match compositor.start_x11(wm) {
                        Ok(()) => watch_wm(&loop_handle, compositor),
                        Err(e) => tracing::warn!("X11: {e}"),
                    }
                }
                Ok(PostAction::Remove)
            },
        )
        .map_err(|e| anyhow::anyhow!("failed to watch Xwayland: {e}"))?;
    Ok(())
}

/// Puts the window manager's events into wsbox's loop.
fn watch_wm(handle: &LoopHandle<'static, Run>, compositor: &State) {
    let Some(fd) = compositor
        .x11_fd()
        .and_then(|fd| fd.try_clone_to_owned().ok())
    else {
        tracing::warn!("X11: cannot watch the window manager");
        return;
    };
    let inserted = handle.insert_source(
        Generic::new(std::fs::File::from(fd), Interest::READ, Mode::Level),
        |_, _, run: &mut Run| {
            if let Some(compositor) = run.compositor.as_mut() {
                compositor.dispatch_x11();
            }
            Ok(PostAction::Continue)
        },
    );
    if let Err(e) = inserted {
        tracing::warn!("X11: cannot watch the window manager: {e}");
    }
}

/// 16 random bytes, the X authority's cookie.
fn cookie() -> Result<[u8; 16]> {
    let mut cookie = [0u8; 16];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut cookie))
        .context("failed to read a random X authority cookie")?;
    Ok(cookie)
}

/// An Xauthority file with MIT-MAGIC-COOKIE-1 `cookie` for display 0, in
/// two entries: for any address (FamilyWild, which libXau matches), and
/// for the sandbox's `hostname` on local sockets (FamilyLocal: python-xlib
/// matches only that).
fn authority_file(hostname: &str, cookie: &[u8]) -> Vec<u8> {
    let mut file = Vec::new();
    for (family, address) in [(0xffffu16, &b""[..]), (0x0100, hostname.as_bytes())] {
        file.extend_from_slice(&family.to_be_bytes());
        for bytes in [address, b"0", b"MIT-MAGIC-COOKIE-1", cookie] {
            let len = u16::try_from(bytes.len()).unwrap_or(u16::MAX);
            file.extend_from_slice(&len.to_be_bytes());
            file.extend_from_slice(&bytes[..usize::from(len)]);
        }
    }
    file
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_authority_file_has_a_wild_and_a_local_entry_for_display_0() {
        let file = authority_file("box", &[7u8; 16]);
        let mut want = vec![0xff, 0xff, 0, 0, 0, 1, b'0', 0, 18];
        want.extend_from_slice(b"MIT-MAGIC-COOKIE-1");
        want.extend_from_slice(&[0, 16]);
        want.extend_from_slice(&[7u8; 16]);
        want.extend_from_slice(&[1, 0, 0, 3]);
        want.extend_from_slice(b"box");
        want.extend_from_slice(&[0, 1, b'0', 0, 18]);
        want.extend_from_slice(b"MIT-MAGIC-COOKIE-1");
        want.extend_from_slice(&[0, 16]);
        want.extend_from_slice(&[7u8; 16]);
        assert_eq!(file, want);
    }
}
