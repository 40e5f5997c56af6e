//! The sound table: how much later a sound reaches the host's sink when it
//! is played through wsbox's endpoint (`wsbox run --audio playback`) than
//! when the same player runs on the host, and the audio helper's CPU per
//! second of 48 kHz stereo playback.
//!
//! The host is a PulseAudio of the bench's own (`testkit::pulse`: a null
//! sink). The player is Debian's `pacat` (`--latency-msec=10`), fed by the
//! bench in real time, 5 ms at a time: silence, and every 300 ms a 5 ms
//! click. `parec` records the sink's monitor (`--latency-msec=2`) and the
//! bench stamps each chunk as it reads it. A click's latency is from the
//! bench writing it into the player's stdin to the bench reading it back
//! from the recorder; both clocks are the bench's (CLOCK_MONOTONIC), and
//! both cases have the same player, server and recorder, so the difference
//! is what the endpoint adds. The helper's CPU is read from its threads'
//! run times while the clicks play.

use std::io::{Read, Write};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use testkit::pulse::HostPulse;
use testkit::{monotonic_ns, TempDir};

/// 5 ms of 48 kHz stereo s16le.
const CHUNK_FRAMES: usize = 240;
/// A click every this many chunks (300 ms).
const CLICK_EVERY: usize = 60;
/// The player's arguments: raw 48 kHz stereo from stdin to the default sink.
const PACAT: &[&str] = &[
    "pacat",
    "--playback",
    "--raw",
    "--format=s16le",
    "--rate=48000",
    "--channels=2",
    "--latency-msec=10",
];

/// Runs the table; its rows.
pub fn table(wsbox: &str, clicks: usize) -> Result<Vec<Value>, String> {
    for program in ["pulseaudio", "pacat", "parec"] {
        if testkit::find_program(program).is_none() {
            return Err(format!(
                "{program} is not installed (Debian packages pulseaudio, pulseaudio-utils)"
            ));
        }
    }
    let dir = TempDir::new(
        std::env::temp_dir().join(format!("wsbox-bench-audio-{}", std::process::id())),
    )?;
    std::fs::set_permissions(
        &dir.path,
        std::os::unix::fs::PermissionsExt::from_mode(0o700),
    )
    .map_err(|e| e.to_string())?;
    let host = HostPulse::pulseaudio(&dir.path)?;
    let (var, server) = host.env();
    let runtime = dir.path.join("run");
    std::fs::create_dir(&runtime).map_err(|e| e.to_string())?;
    std::fs::set_permissions(
        &runtime,
        std::os::unix::fs::PermissionsExt::from_mode(0o700),
    )
    .map_err(|e| e.to_string())?;

    let direct = {
        let mut cmd = Command::new(PACAT[0]);
        cmd.args(&PACAT[1..]).env(var, &server);
        play(&host, cmd, clicks, false)?
    };
    let through = {
        let mut cmd = Command::new(wsbox);
        cmd.args(["run", "--display", "none", "--audio", "playback", "--"])
            .args(PACAT)
            .env(var, &server)
            .env("XDG_RUNTIME_DIR", &runtime);
        play(&host, cmd, clicks, true)?
    };
    let (dm, dmin, dmax) = stats(&direct.latencies);
    let (wm, wmin, wmax) = stats(&through.latencies);
    println!(
        "Sound: a click from the player's stdin to the host sink's monitor, {} clicks each \
         (pacat --latency-msec=10, 48 kHz stereo)",
        clicks
    );
    println!("  pacat on the host                     median {dm:6.1} ms  (min {dmin:.1}, max {dmax:.1})");
    println!(
        "  pacat in wsbox --audio playback       median {wm:6.1} ms  (min {wmin:.1}, max {wmax:.1})  \
         added {:+.1} ms",
        wm - dm
    );
    let cpu = through.helper_cpu_ms_per_s;
    println!(
        "  wsbox's audio helper: {} CPU per second of playback",
        cpu.map_or("not read".to_owned(), |ms| format!("{ms:.2} ms"))
    );
    println!();
    Ok(vec![
        json!({"case": "pacat on the host", "median_ms": dm, "min_ms": dmin, "max_ms": dmax}),
        json!({"case": "pacat in wsbox --audio playback", "median_ms": wm, "min_ms": wmin,
               "max_ms": wmax, "added_ms": wm - dm, "helper_cpu_ms_per_s": cpu}),
    ])
}

struct Played {
    latencies: Vec<f64>,
    helper_cpu_ms_per_s: Option<f64>,
}

/// Plays `clicks` clicks through `player` while recording the sink.
fn play(
    host: &HostPulse,
    mut player: Command,
    clicks: usize,
    wsbox: bool,
) -> Result<Played, String> {
    let mut recorder = Command::new("parec")
        .args([
            "-d",
            &format!("{}.monitor", testkit::pulse::TEST_SINK),
            "--raw",
            "--format=s16le",
            "--rate=48000",
            "--channels=1",
            "--latency-msec=2",
        ])
        .env(host.env().0, host.env().1)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("parec: {e}"))?;
    let mut out = recorder.stdout.take().ok_or("parec has no stdout")?;
    let (tx, rx) = mpsc::channel::<u128>();
    std::thread::spawn(move || {
        // Mono 48 kHz: a click is a run of loud samples after quiet ones.
        let mut buf = [0u8; 960];
        let mut quiet = 0usize;
        loop {
            let n = match out.read(&mut buf) {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            let now = monotonic_ns();
            for s in buf[..n - n % 2].chunks_exact(2) {
                let v = i16::from_le_bytes([s[0], s[1]]);
                if v.unsigned_abs() > 8000 {
                    if quiet > 2400 && tx.send(now).is_err() {
                        return;
                    }
                    quiet = 0;
                } else {
                    quiet += 1;
                }
            }
        }
    });
    let mut child = player
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| format!("the player: {e}"))?;
    let result = feed(&mut child, clicks, &rx, wsbox);
    let _ = child.kill();
    let _ = child.wait();
    let _ = recorder.kill();
    let _ = recorder.wait();
    result
}

fn feed(
    child: &mut Child,
    clicks: usize,
    arrivals: &mpsc::Receiver<u128>,
    wsbox: bool,
) -> Result<Played, String> {
    let mut stdin = child.stdin.take().ok_or("the player has no stdin")?;
    let silence = vec![0u8; CHUNK_FRAMES * 4];
    let click: Vec<u8> = (0..CHUNK_FRAMES * 2)
        .flat_map(|i| if (i / 2) % 20 < 10 { 20000i16 } else { -20000 }.to_le_bytes())
        .collect();
    let period = Duration::from_micros(5000);
    // One second of silence first: the sandbox starts, the stream fills.
    let warmup = 200;
    let total = warmup + clicks * CLICK_EVERY;
    let start = Instant::now();
    let mut written = Vec::new();
    let mut cpu_start = None;
    for i in 0..total {
        let due = start + period * i as u32;
        let now = Instant::now();
        if due > now {
            std::thread::sleep(due - now);
        }
        if i == warmup && wsbox {
            cpu_start = helper_cpu(child.id()).map(|t| (t, Instant::now()));
        }
        let is_click = i >= warmup && (i - warmup) % CLICK_EVERY == 0;
        let chunk = if is_click { &click } else { &silence };
        if is_click {
            written.push(monotonic_ns());
        }
        stdin
            .write_all(chunk)
            .map_err(|e| format!("the player stopped reading: {e}"))?;
    }
    let helper_cpu_ms_per_s = cpu_start.and_then(|(t0, at)| {
        let t1 = helper_cpu(child.id())?;
        Some((t1 - t0) / at.elapsed().as_secs_f64())
    });
    // The last click's way back.
    std::thread::sleep(Duration::from_millis(300));
    let got: Vec<u128> = arrivals.try_iter().collect();
    let mut latencies = Vec::new();
    for w in written {
        if let Some(a) = got.iter().find(|&&a| a > w) {
            let ms = (a - w) as f64 / 1e6;
            if ms < 250.0 {
                latencies.push(ms);
            }
        }
    }
    if latencies.len() < clicks / 2 {
        return Err(format!(
            "only {} of {clicks} clicks came back",
            latencies.len()
        ));
    }
    Ok(Played {
        latencies,
        helper_cpu_ms_per_s,
    })
}

/// The CPU time (ms) of the `wsbox-audio` process below `pid`: the sum of
/// its threads' run times (`/proc/PID/task/*/schedstat`, in ns; the
/// connection's threads live as long as the stream).
fn helper_cpu(pid: u32) -> Option<f64> {
    let pid = i32::try_from(pid).ok()?;
    let helper = testkit::tree(pid)
        .into_iter()
        .find(|p| testkit::comm(*p).as_deref() == Some("wsbox-audio"))?;
    let mut ns = 0u64;
    for task in std::fs::read_dir(format!("/proc/{helper}/task"))
        .ok()?
        .flatten()
    {
        let stat = std::fs::read_to_string(task.path().join("schedstat")).unwrap_or_default();
        ns += stat
            .split_whitespace()
            .next()
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0);
    }
    Some(ns as f64 / 1e6)
}

fn stats(samples: &[f64]) -> (f64, f64, f64) {
    let mut s = samples.to_vec();
    s.sort_by(f64::total_cmp);
    let median = s.get(s.len() / 2).copied().unwrap_or(f64::NAN);
    (
        median,
        s.first().copied().unwrap_or(f64::NAN),
        s.last().copied().unwrap_or(f64::NAN),
    )
}
