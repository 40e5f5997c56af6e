//! What the audio helper's connections share: the grant, the sandbox's
//! counts of streams and connections, wsbox's end of the helper's socket,
//! and the server, sink and source wsbox makes up.

use std::ffi::CStr;
use std::os::fd::{AsFd, OwnedFd};
use std::path::PathBuf;
use std::sync::atomic::AtomicUsize;
use std::sync::Mutex;

use pulseaudio::protocol as pa;
use wsbox_policies::AudioGrant;

use crate::helper::send;

/// The sink the app sees.
pub const SINK_NAME: &CStr = c"wsbox.output";
/// The source the app sees (with `record`, or `record_denied = "silence"`).
pub const SOURCE_NAME: &CStr = c"wsbox.input";
/// The most streams a sandbox may have open at once.
pub const STREAMS_MAX: usize = 16;
/// The most app connections at once.
pub const CONNECTIONS_MAX: usize = 16;
/// The largest cookie read (PulseAudio's are 256 bytes).
const COOKIE_MAX: u64 = 4096;

/// What the helper serves.
#[derive(Debug, Clone)]
pub struct Config {
    pub grant: AudioGrant,
    /// Recording streams get silence instead of the access error (without
    /// `record`).
    pub silence: bool,
    /// The sandbox's name, in the host client's name.
    pub name: String,
    /// The host's sound server.
    pub host: PathBuf,
}

/// The helper's state shared by its connections.
#[derive(Debug)]
pub struct Shared {
    pub config: Config,
    /// The host server's cookie, read once before the helper confined
    /// itself.
    pub cookie: Vec<u8>,
    pub streams: AtomicUsize,
    pub connections: AtomicUsize,
    /// Threads sending silence, counted until they end (a deleted stream's
    /// thread sees it at its next period).
    pub silent_threads: AtomicUsize,
    pub recording: Mutex<usize>,
    /// wsbox's end of the helper's socket: told when recording starts and
    /// stops.
    pub notify: OwnedFd,
}

impl Shared {
    /// `delta` recording streams more (or fewer); wsbox is told when the
    /// count leaves or reaches zero.
    pub fn recording_changed(&self, delta: isize) {
        if delta == 0 {
            return;
        }
        let mut n = self.recording.lock().unwrap_or_else(|e| e.into_inner());
        let before = *n;
        *n = before.saturating_add_signed(delta);
        if (before == 0) != (*n == 0) {
            let message: &[u8] = if *n > 0 { b"recording" } else { b"quiet" };
            let _ = send(self.notify.as_fd(), message, &[]);
        }
    }

    fn sample_spec() -> pa::SampleSpec {
        pa::SampleSpec {
            format: pa::SampleFormat::S16Le,
            channels: 2,
            sample_rate: 48000,
        }
    }

    pub fn server_info(&self) -> pa::ServerInfo {
        let record = self.config.grant.record() || self.config.silence;
        pa::ServerInfo {
            server_name: Some(c"wsbox".to_owned()),
            server_version: Some(c"16.1.0".to_owned()),
            user_name: Some(c"user".to_owned()),
            host_name: Some(c"wsbox".to_owned()),
            sample_spec: Self::sample_spec(),
            cookie: 0,
            default_sink_name: self.config.grant.playback().then(|| SINK_NAME.to_owned()),
            default_source_name: record.then(|| SOURCE_NAME.to_owned()),
            channel_map: pa::ChannelMap::stereo(),
        }
    }

    pub fn sink_info(&self) -> pa::SinkInfo {
        pa::SinkInfo {
            name: SINK_NAME.to_owned(),
            description: Some(c"Sandbox output".to_owned()),
            driver: Some(c"wsbox".to_owned()),
            base_volume: pa::Volume::NORM,
            ..pa::SinkInfo::new_dummy(0)
        }
    }

    pub fn source_info(&self) -> pa::SourceInfo {
        let sink = pa::SinkInfo::new_dummy(0);
        // No ports: the crate writes a source's ports without the fields
        // protocol 34 added, which libpulse then fails to read.
        pa::SourceInfo {
            index: 0,
            name: SOURCE_NAME.to_owned(),
            description: Some(c"Sandbox input".to_owned()),
            sample_spec: Self::sample_spec(),
            channel_map: pa::ChannelMap::stereo(),
            cvolume: pa::ChannelVolume::norm(2),
            base_volume: pa::Volume::NORM,
            driver: Some(c"wsbox".to_owned()),
            ports: Vec::new(),
            formats: sink.formats,
            ..Default::default()
        }
    }

    pub fn client_info(&self) -> pa::ClientInfo {
        pa::ClientInfo {
            index: 0,
            name: c"app".to_owned(),
            driver: Some(c"wsbox".to_owned()),
            ..Default::default()
        }
    }
}

/// The cookie of the host's server: `PULSE_COOKIE`, else PulseAudio's
/// usual places; empty where there is none (PipeWire asks for none).
pub fn host_cookie() -> Vec<u8> {
    let home = std::env::var_os("HOME").map(PathBuf::from);
    let config = std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .or_else(|| home.as_ref().map(|h| h.join(".config")));
    let candidates = [
        std::env::var_os("PULSE_COOKIE").map(PathBuf::from),
        config.map(|c| c.join("pulse/cookie")),
        home.map(|h| h.join(".pulse-cookie")),
    ];
    for path in candidates.into_iter().flatten() {
        if let Ok(file) = std::fs::File::open(&path) {
            let mut cookie = Vec::new();
            if std::io::Read::read_to_end(&mut std::io::Read::take(file, COOKIE_MAX), &mut cookie)
                .is_ok()
            {
                return cookie;
            }
        }
    }
    Vec::new()
}
