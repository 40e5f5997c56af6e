//! The sandbox's private session bus: Debian's dbus-daemon, started by the
//! sandbox's pid 1 right after the app and confined as the app is, on a socket
//! wsbox made (socket activation: the daemon gets it as fd 3). The socket
//! is bound into the sandbox as `$XDG_RUNTIME_DIR/bus`; wsbox connects to
//! it before it confines itself, and only uses the connection once it has.
//!
//! The daemon needs no more trust than the app: everything on the bus but
//! wsbox is the app's, and wsbox treats everything the bus brings as the
//! app's too.

use std::os::fd::AsRawFd;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use wsbox_sandbox::plan::{FileSpec, ServiceSpec, Spec, GENERATED_DIR, SANDBOX_RUNTIME_DIR};
use wsbox_sandbox::BindSpec;

/// Where Debian's dbus-daemon is, on the host and so inside.
pub const DBUS_DAEMON: &str = "/usr/bin/dbus-daemon";

/// The bus's socket inside the sandbox.
pub fn inside_socket() -> PathBuf {
    Path::new(SANDBOX_RUNTIME_DIR).join("bus")
}

/// The bus's configuration inside the sandbox.
fn inside_config() -> PathBuf {
    Path::new(GENERATED_DIR).join("bus.conf")
}

/// A private bus made for a sandbox: the listening socket (pid 1 hands it
/// to the daemon; wsbox closes its own copy once pid 1 exists) and wsbox's
/// connection to it, not yet authenticated.
#[derive(Debug)]
pub struct Bus {
    pub listener: Option<UnixListener>,
    pub connection: UnixStream,
    /// wsbox's calls, already written on `connection`.
    pub claim: super::claim::Claim,
}

impl Bus {
    /// Drops wsbox's copy of the listening socket: pid 1 has its own, and
    /// once the daemon runs, the daemon's is the only one, so a daemon that
    /// died takes the socket with it (wsbox's pending connection then
    /// fails instead of waiting for ever).
    pub fn close_listener(&mut self) {
        self.listener = None;
    }
}

/// The bus's configuration: a session bus with nothing activatable, which
/// the app (uid 1000) reaches with EXTERNAL, and wsbox, from outside the
/// sandbox's user namespace, with ANONYMOUS. The portal's names are the
/// app's to call, never to own: wsbox asks for org.freedesktop.portal.Desktop
/// and org.freedesktop.Notifications before the daemon runs
/// (src/portal/claim.rs), and does not let them be replaced; the app's
/// user may not own a portal name. (An app
/// that connects with ANONYMOUS too escapes the per-user rules: it may
/// queue for those names, and own another portal name, which it can only
/// offer to itself.) Nor may the app's user monitor the bus (the daemon
/// would let its own uid): the answers to one connection stay its own.
fn config() -> String {
    format!(
        r#"<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <keep_umask/>
  <listen>systemd:</listen>
  <auth>EXTERNAL</auth>
  <auth>ANONYMOUS</auth>
  <allow_anonymous/>
  <policy context="default">
    <allow send_destination="*"/>
    <allow receive_sender="*"/>
    <allow own="*"/>
  </policy>
  <policy user="{user}">
    <deny own_prefix="org.freedesktop.portal"/>
    <deny own_prefix="org.freedesktop.impl.portal"/>
    <deny own="org.freedesktop.Notifications"/>
    <deny send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus.Monitoring"/>
  </policy>
  <limit name="max_connections_per_user">64</limit>
  <limit name="max_names_per_connection">64</limit>
  <limit name="max_match_rules_per_connection">512</limit>
  <limit name="max_replies_per_connection">512</limit>
  <limit name="max_incoming_bytes">16777216</limit>
  <limit name="max_outgoing_bytes">16777216</limit>
  <limit name="max_message_size">4194304</limit>
</busconfig>
"#,
        user = wsbox_sandbox::plan::SANDBOX_USER,
    )
}

/// What toolkits look for to choose the portal: GLib, GDK 3 (Settings),
/// GTK 4 and Firefox read `/.flatpak-info`; GTK 3's file chooser and Qt
/// read `$XDG_RUNTIME_DIR/flatpak-info`. GLib reads `[Context] shared`:
/// without `network` it tells apps they are offline. Written only when
/// wsbox serves the portal: with the file and no portal, GTK 3 shows no
/// dialog at all.
fn flatpak_info(network: bool) -> String {
    let shared = if network { "network;" } else { "" };
    format!(
        "[Application]\nname=org.wsbox.App\n\n[Context]\nshared={shared}\n\n\
         [Session Bus Policy]\n"
    )
}

/// Makes the bus's socket in `dir` (the sandbox's runtime directory),
/// connects wsbox to it, and adds to `spec` the daemon, the socket's bind,
/// the files toolkits look for and `DBUS_SESSION_BUS_ADDRESS`. wsbox's
/// names are asked for here, before the daemon or the app exists.
pub fn make(dir: &Path, spec: &mut Spec, network: bool) -> Result<Bus> {
    if !Path::new(DBUS_DAEMON).exists() {
        anyhow::bail!(
            "the portal needs {DBUS_DAEMON} (Debian's dbus-daemon package); install it, or run \
             with --no-portal"
        );
    }
    let path = dir.join("bus");
    let listener = UnixListener::bind(&path)
        .with_context(|| format!("failed to create {}", path.display()))?;
    if spec.host_ids.privileged {
        std::os::unix::fs::chown(&path, Some(spec.host_ids.uid), Some(spec.host_ids.gid))
            .with_context(|| format!("failed to hand {} to the sandbox", path.display()))?;
    }
    // Into the backlog at once, with wsbox's whole handshake: the daemon
    // reads it before anything of the app's (src/portal/claim.rs).
    let mut connection = UnixStream::connect(&path)
        .with_context(|| format!("failed to connect to {}", path.display()))?;
    let claim = super::claim::write(&mut connection)?;
    // pid 1 inherits the socket under this number: wsbox keeps it open
    // until pid 1 exists.
    let listen_raw = listener.as_raw_fd();
    spec.binds.push(BindSpec {
        host: path,
        target: inside_socket(),
        writable: false,
        special: true,
    });
    spec.files.push(FileSpec {
        path: inside_config(),
        contents: config().into_bytes(),
    });
    let info = flatpak_info(network).into_bytes();
    spec.files.push(FileSpec {
        path: "/.flatpak-info".into(),
        contents: info.clone(),
    });
    spec.files.push(FileSpec {
        path: Path::new(SANDBOX_RUNTIME_DIR).join("flatpak-info"),
        contents: info,
    });
    spec.services.push(ServiceSpec {
        what: "the session bus".into(),
        argv: [
            DBUS_DAEMON,
            &format!("--config-file={}", inside_config().display()),
            "--nofork",
            "--nopidfile",
            "--nosyslog",
        ]
        .iter()
        .map(Into::into)
        .collect(),
        env: ServiceSpec::env_with(&[]),
        listen_fd: Some(listen_raw),
        fds: Vec::new(),
    });
    let address = format!("unix:path={}", inside_socket().display());
    spec.env.retain(|(name, _)| {
        name != "DBUS_SESSION_BUS_ADDRESS" && name != "DBUS_SYSTEM_BUS_ADDRESS"
    });
    spec.env
        .push(("DBUS_SESSION_BUS_ADDRESS".into(), address.into()));
    Ok(Bus {
        listener: Some(listener),
        connection,
        claim,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bus_keeps_the_portal_names_from_the_app() {
        let config = config();
        assert!(config.contains("<listen>systemd:</listen>"));
        assert!(config.contains(r#"<policy user="user">"#));
        assert!(config.contains(r#"<deny own_prefix="org.freedesktop.portal"/>"#));
        assert!(config.contains(r#"send_interface="org.freedesktop.DBus.Monitoring""#));
        assert!(!config.contains("servicedir"), "nothing may be activatable");
    }

    #[test]
    fn flatpak_info_says_network_only_when_there_is_one() {
        assert!(flatpak_info(true).contains("shared=network;"));
        assert!(!flatpak_info(false).contains("network"));
    }
}
