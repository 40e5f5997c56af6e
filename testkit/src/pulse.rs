//! A host sound server for the sound tests and the bench: Debian's
//! PulseAudio (`pulseaudio -n` with a null sink `testsink` and a 440 Hz
//! sine source `sine`, the defaults) or PipeWire (`pipewire`,
//! `wireplumber` and `pipewire-pulse` under `dbus-run-session`, with a
//! null sink `testsink` made the default), each on a private socket in a
//! directory of its own. [`HostPulse::env`] points a client at it.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::process::{Log, Process};

/// The test's null sink.
pub const TEST_SINK: &str = "testsink";
/// The sine source's frequency.
pub const SINE_HZ: u32 = 440;

/// A running host sound server, stopped when dropped.
#[derive(Debug)]
pub struct HostPulse {
    pub dir: PathBuf,
    pub socket: PathBuf,
    server: Process,
}

impl HostPulse {
    /// PulseAudio with the test's sink and sine source in `dir`.
    pub fn pulseaudio(dir: &Path) -> Result<Self, String> {
        let socket = dir.join("native");
        let script = dir.join("default.pa");
        std::fs::write(
            &script,
            format!(
                "load-module module-native-protocol-unix socket={} auth-anonymous=1\n\
                 load-module module-null-sink sink_name={TEST_SINK}\n\
                 load-module module-sine-source source_name=sine frequency={SINE_HZ}\n\
                 set-default-sink {TEST_SINK}\n\
                 set-default-source sine\n",
                socket.display()
            ),
        )
        .map_err(|e| e.to_string())?;
        let mut cmd = Command::new("pulseaudio");
        cmd.args([
            "-n",
            "--daemonize=no",
            "--exit-idle-time=-1",
            "--disallow-exit",
        ])
        .arg("-F")
        .arg(&script)
        .arg("--log-target=stderr")
        .env("HOME", dir)
        .env("XDG_RUNTIME_DIR", dir)
        .env_remove("PULSE_SERVER")
        .env_remove("DBUS_SESSION_BUS_ADDRESS");
        let mut server = Process::start(
            cmd,
            "pulseaudio",
            true,
            dir.join("pulseaudio.log"),
            Log::Stderr,
        )?;
        let socket =
            server.wait_for_socket(Duration::from_millis(20), Duration::from_secs(20), || {
                Some(socket.clone())
            })?;
        Ok(Self {
            dir: dir.to_owned(),
            socket,
            server,
        })
    }

    /// PipeWire, WirePlumber and pipewire-pulse in `dir`, with a null sink
    /// `testsink` as the default. Its default source is then the monitor
    /// PipeWire makes of its dummy sink.
    pub fn pipewire(dir: &Path) -> Result<Self, String> {
        let mut cmd = Command::new("dbus-run-session");
        cmd.args([
            "--",
            "sh",
            "-c",
            "pipewire & sleep 0.2; wireplumber & pipewire-pulse & wait",
        ])
        .env("HOME", dir)
        .env("XDG_RUNTIME_DIR", dir)
        .env_remove("PULSE_SERVER")
        .env_remove("PIPEWIRE_REMOTE")
        .env_remove("DBUS_SESSION_BUS_ADDRESS");
        let mut server =
            Process::start(cmd, "pipewire", true, dir.join("pipewire.log"), Log::Stderr)?;
        let path = dir.join("pulse/native");
        let socket =
            server.wait_for_socket(Duration::from_millis(20), Duration::from_secs(30), || {
                Some(path.clone())
            })?;
        let host = Self {
            dir: dir.to_owned(),
            socket,
            server,
        };
        let load = host.pactl(&[
            "load-module",
            "module-null-sink",
            &format!("sink_name={TEST_SINK}"),
        ])?;
        if load.trim().is_empty() {
            return Err("pipewire-pulse made no null sink".into());
        }
        host.pactl(&["set-default-sink", TEST_SINK])?;
        Ok(host)
    }

    /// `PULSE_SERVER` for a client of this server.
    pub fn env(&self) -> (&'static str, String) {
        ("PULSE_SERVER", format!("unix:{}", self.socket.display()))
    }

    /// Runs pactl against the server; its stdout.
    pub fn pactl(&self, args: &[&str]) -> Result<String, String> {
        let (k, v) = self.env();
        let out = Command::new("pactl")
            .args(args)
            .env(k, v)
            .output()
            .map_err(|e| format!("pactl: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "pactl {args:?}: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Starts recording the test sink's monitor (s16le, 48 kHz, mono) into
    /// `file`; the recorder stops when dropped.
    pub fn record_monitor(&self, file: &Path) -> Result<Process, String> {
        let (k, v) = self.env();
        let out = std::fs::File::create(file).map_err(|e| e.to_string())?;
        let mut cmd = Command::new("parec");
        cmd.args([
            "-d",
            &format!("{TEST_SINK}.monitor"),
            "--format=s16le",
            "--rate=48000",
            "--channels=1",
            "--latency-msec=20",
        ])
        .env(k, v)
        .stdout(out);
        Process::start(cmd, "parec", true, self.dir.join("parec.log"), Log::Stderr)
    }

    /// The server's log so far, for failure messages.
    pub fn log(&self) -> String {
        self.server.log()
    }
}

/// The samples of a raw s16le file.
pub fn samples(file: &Path) -> Vec<i16> {
    std::fs::read(file)
        .unwrap_or_default()
        .chunks_exact(2)
        .map(|b| i16::from_le_bytes([b[0], b[1]]))
        .collect()
}

/// The root mean square of `samples`.
pub fn rms(samples: &[i16]) -> f64 {
    if samples.is_empty() {
        return 0.0;
    }
    let sum: f64 = samples.iter().map(|&s| f64::from(s) * f64::from(s)).sum();
    (sum / samples.len() as f64).sqrt()
}

/// The RMS of the loudest quarter second of `samples` (48 kHz): whether a
/// tone was heard at all, however long the silence around it.
pub fn loudest(samples: &[i16]) -> f64 {
    samples.chunks(12_000).map(rms).fold(0.0, f64::max)
}

/// The frequency of a tone, from its rising zero crossings, at `rate`.
pub fn frequency(samples: &[i16], rate: u32) -> f64 {
    let crossings = samples.windows(2).filter(|w| w[0] < 0 && w[1] >= 0).count();
    crossings as f64 * f64::from(rate) / samples.len().max(1) as f64
}
