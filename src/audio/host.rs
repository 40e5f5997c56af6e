//! wsbox's connection to the host's sound server, one for each app
//! connection: its own handshake, as the client `[wsbox:NAME]`.

use std::ffi::CString;
use std::io;
use std::os::unix::net::UnixStream;
use std::time::Duration;

use pulseaudio::protocol::{self as pa, CommandTag as T};

use super::message::{decode, error_name};
use super::shared::Shared;
use super::wire;

/// How long a write to the app or the host may block before the
/// connection is dropped: an app that stops reading is disconnected, not
/// buffered for.
pub(super) const WRITE_WAIT: Duration = Duration::from_secs(2);
/// How long the app may take to authenticate, and the host to answer it.
pub(super) const HANDSHAKE_WAIT: Duration = Duration::from_secs(10);
/// The oldest protocol version wsbox speaks (PulseAudio 0.9.11, 2008).
pub(super) const VERSION_MIN: u16 = pa::MIN_VERSION;

/// Connects to the host's server as `[wsbox:NAME]`; returns the socket and
/// the version both sides speak.
pub(super) fn connect_host(shared: &Shared, offered: u16) -> Result<(UnixStream, u16), String> {
    let path = &shared.config.host;
    let mut host = UnixStream::connect(path).map_err(|e| {
        format!(
            "the host's sound server at {} cannot be reached: {e}",
            path.display()
        )
    })?;
    host.set_read_timeout(Some(HANDSHAKE_WAIT))
        .and_then(|()| host.set_write_timeout(Some(WRITE_WAIT)))
        .map_err(|e| e.to_string())?;
    let auth = pa::Command::Auth(pa::AuthParams {
        version: offered,
        supports_shm: false,
        supports_memfd: false,
        cookie: shared.cookie.clone(),
    });
    let answer = roundtrip(&mut host, 0, &auth, offered)?;
    let reply: pa::AuthReply = decode(&answer, offered)?;
    let version = reply.version.min(offered);
    if version < VERSION_MIN {
        return Err(format!(
            "the host's sound server speaks protocol version {version}"
        ));
    }
    let mut props = pa::Props::new();
    let name = CString::new(format!("[wsbox:{}]", shared.config.name))
        .map_err(|_| "a sandbox name with a NUL")?;
    props.set(pa::Prop::ApplicationName, name.as_c_str());
    props.set(pa::Prop::ApplicationProcessBinary, c"wsbox");
    roundtrip(&mut host, 1, &pa::Command::SetClientName(props), version)?;
    host.set_read_timeout(None).map_err(|e| e.to_string())?;
    Ok((host, version))
}

/// Sends one command to the host and reads its reply's payload.
pub(super) fn roundtrip(
    host: &mut UnixStream,
    seq: u32,
    command: &pa::Command,
    version: u16,
) -> Result<Vec<u8>, String> {
    let mut buf = Vec::new();
    pa::write_command_message(&mut buf, seq, command, version).map_err(|e| e.to_string())?;
    io::Write::write_all(host, &buf).map_err(|e| e.to_string())?;
    let packet = wire::read(host)
        .map_err(|e| e.to_string())?
        .ok_or("the host's sound server closed the connection")?;
    match packet.head() {
        Some((t, s)) if t == T::Reply as u32 && s == seq => Ok(packet.payload),
        Some((t, _)) if t == T::Error as u32 => Err(format!(
            "the host's sound server refused wsbox: {}",
            error_name(&packet.payload)
        )),
        _ => Err("the host's sound server answered out of turn".into()),
    }
}
