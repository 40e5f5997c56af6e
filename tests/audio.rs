//! End-to-end tests of sound (`--audio`): the host is a sound server the
//! test starts on a private socket (`testkit::pulse`): Debian's
//! PulseAudio with a null sink and a 440 Hz sine source, or PipeWire with
//! pipewire-pulse. Inside run Debian's own clients (paplay, parec,
//! pactl), firefox-esr, and `pulse-hostile`, a client that misbehaves.
//! What reaches the host is read on the host: the null sink's monitor,
//! and pactl's lists of clients and streams.
//!
//! A test that cannot run prints `SKIPPED: <test>: <reason>` and passes,
//! unless CI=true or WSBOX_MUST_WORK=1, where it fails instead.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use testkit::pulse::{frequency, rms, samples, HostPulse, SINE_HZ};
use testkit::{output, poll, scratch_in, shared_copy, wsbox_command, Out};

const LIMIT: Duration = Duration::from_secs(120);
/// Well above silence: the tone and the sine have an RMS near 10000.
const LOUD: f64 = 1000.0;

fn root_dir() -> &'static Path {
    testkit::root_dir("audio", true)
}

fn ready(test: &str, programs: &[&str]) -> bool {
    testkit::ready_as_root(test, programs, || {
        wsbox_command(
            &root_dir().join("run"),
            &["run", "--display", "none", "--", "true"],
        )
    })
}

/// A scratch directory with a 1 s 1 kHz stereo tone (`tone.wav`).
fn setup(test: &str) -> PathBuf {
    let dir = scratch_in(root_dir(), test, 0o755);
    let tone = dir.join("tone.wav");
    let made = Command::new("sox")
        .args(["-n", "-r", "48000", "-c", "2"])
        .arg(&tone)
        .args(["synth", "1", "sine", "1000"])
        .status()
        .unwrap();
    assert!(made.success(), "sox made no tone");
    dir
}

/// Runs `script` in a sandbox with `options`, against `host`.
fn sandbox(host: &HostPulse, options: &[&str], script: &str) -> Out {
    let mut args = vec!["run", "--display", "none"];
    args.extend_from_slice(options);
    args.extend_from_slice(&["--", "sh", "-c", script]);
    let mut cmd = wsbox_command(&root_dir().join("run"), &args);
    let (k, v) = host.env();
    cmd.env(k, v);
    output(cmd, LIMIT)
}

/// The host's server in `dir/host`, or a loud skip.
fn host_or_skip(test: &str, dir: &Path, pipewire: bool) -> Option<HostPulse> {
    let host = dir.join("host");
    std::fs::create_dir_all(&host).unwrap();
    std::fs::set_permissions(&host, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
    let started = if pipewire {
        HostPulse::pipewire(&host)
    } else {
        HostPulse::pulseaudio(&host)
    };
    match started {
        Ok(host) => Some(host),
        Err(e) => {
            testkit::skip(test, &format!("the host's sound server did not start: {e}"));
            None
        }
    }
}

/// Plays the tone inside while the host records the sink's monitor; the
/// samples recorded.
fn played(host: &HostPulse, dir: &Path, options: &[&str], player: &str) -> (Out, Vec<i16>) {
    let file = dir.join("monitor.raw");
    let recorder = host.record_monitor(&file).unwrap();
    let tone = dir.join("tone.wav");
    let mut opts = vec!["--file", tone.to_str().unwrap()];
    opts.extend_from_slice(options);
    let out = sandbox(host, &opts, player);
    // The tone reaches the monitor as the sink renders it, which may be
    // after the player ended: waited for, up to 10 s.
    poll(Duration::from_secs(10), || {
        (testkit::pulse::loudest(&samples(&file)) > LOUD).then_some(())
    });
    drop(recorder);
    (out, samples(&file))
}

#[test]
fn playback_reaches_the_host_and_only_as_wsbox() {
    let test = "playback_reaches_the_host_and_only_as_wsbox";
    if !ready(test, &["pulseaudio", "paplay", "parec", "pactl", "sox"]) {
        return;
    }
    let dir = setup(test);
    let Some(host) = host_or_skip(test, &dir, false) else {
        return;
    };
    let (out, recorded) = played(
        &host,
        &dir,
        &["--audio", "playback"],
        "paplay /run/wsbox/files/tone.wav && echo played",
    );
    assert!(out.stdout.contains("played"), "paplay failed\n{out}");
    let level = rms(&recorded);
    assert!(
        level > LOUD,
        "the host's sink heard {level:.0} RMS over {} samples\n{out}",
        recorded.len()
    );
    // The host saw wsbox's client, never the app's own name for itself.
    let clients = host.pactl(&["list", "clients"]).unwrap();
    assert!(!clients.contains("paplay"), "{clients}");
}

#[test]
fn recording_is_refused_without_the_grant_or_silent_by_choice() {
    let test = "recording_is_refused_without_the_grant_or_silent_by_choice";
    if !ready(test, &["pulseaudio", "parec", "sox"]) {
        return;
    }
    let dir = setup(test);
    let Some(host) = host_or_skip(test, &dir, false) else {
        return;
    };
    let record = "timeout 2 parec --format=s16le --rate=48000 --channels=1 > /tmp/rec.raw; \
                  echo parec=$?; od -An -v -tx1 /tmp/rec.raw | tr -d ' \\n' | head -c 100000 | \
                  tr -d 0 | wc -c; wc -c < /tmp/rec.raw";
    let out = sandbox(&host, &["--audio", "playback"], record);
    assert!(
        out.stdout.contains("parec=1"),
        "parec was not refused\n{out}"
    );
    assert!(out.stderr.contains("Access denied"), "{out}");

    let policy = dir.join("silence.toml");
    std::fs::write(
        &policy,
        "[audio]\nallow = \"playback\"\nrecord_denied = \"silence\"\n",
    )
    .unwrap();
    let out = sandbox(&host, &["--policy", policy.to_str().unwrap()], record);
    // parec ran until timeout (124), read only zeros, and about 2 s of them.
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.first(), Some(&"parec=124"), "{out}");
    assert_eq!(
        lines.get(1).map(|l| l.trim()),
        Some("0"),
        "not only zeros\n{out}"
    );
    let bytes: usize = lines
        .get(2)
        .and_then(|l| l.trim().parse().ok())
        .unwrap_or(0);
    assert!(
        bytes > 96_000,
        "only {bytes} bytes of silence in 2 s\n{out}"
    );
    // The host's microphone (the sine source) was never opened.
    assert!(
        !host.log().contains("source-output"),
        "the host opened a recording stream"
    );
}

#[test]
fn recording_with_the_grant_gets_the_hosts_default_source() {
    let test = "recording_with_the_grant_gets_the_hosts_default_source";
    if !ready(test, &["pulseaudio", "parec", "sox"]) {
        return;
    }
    let dir = setup(test);
    let Some(host) = host_or_skip(test, &dir, false) else {
        return;
    };
    // The app asks for the sink's monitor by name: it gets the default
    // source (the sine) instead, never what plays.
    // Written by the app (uid 65534 on the host when wsbox runs as root).
    let out_dir = dir.join("out");
    std::fs::create_dir(&out_dir).unwrap();
    std::fs::set_permissions(
        &out_dir,
        std::os::unix::fs::PermissionsExt::from_mode(0o777),
    )
    .unwrap();
    let out = sandbox(
        &host,
        &[
            "--audio",
            "playback+record",
            "--rw",
            &format!("{}:/out", out_dir.display()),
        ],
        "timeout 2 parec -d testsink.monitor --format=s16le --rate=48000 --channels=1 \
         > /out/rec.raw; echo parec=$?",
    );
    assert!(out.stdout.contains("parec=124"), "{out}");
    let recorded = samples(&out_dir.join("rec.raw"));
    // Skip the stream's first 100 ms.
    let steady = &recorded[recorded.len().min(4800)..];
    let level = rms(steady);
    let hz = frequency(steady, 48000);
    assert!(level > LOUD, "the app heard {level:.0} RMS\n{out}");
    assert!(
        (f64::from(SINE_HZ) - hz).abs() < 20.0,
        "the app heard {hz:.0} Hz, not the sine's {SINE_HZ}"
    );
}

#[test]
fn without_audio_there_is_no_socket_and_clients_fail_fast() {
    let test = "without_audio_there_is_no_socket_and_clients_fail_fast";
    if !ready(test, &["pulseaudio", "paplay", "sox"]) {
        return;
    }
    let dir = setup(test);
    let Some(host) = host_or_skip(test, &dir, false) else {
        return;
    };
    let tone = dir.join("tone.wav");
    let started = Instant::now();
    let out = sandbox(
        &host,
        &["--file", tone.to_str().unwrap()],
        "ls /run/user/1000/pulse 2>&1; ls /dev/snd 2>&1; echo server=$PULSE_SERVER; \
         paplay /run/wsbox/files/tone.wav; echo paplay=$?",
    );
    assert!(out.stdout.contains("paplay=1"), "{out}");
    assert!(
        out.stderr.contains("Connection refused") || out.stderr.contains("No such file"),
        "no clear client error\n{out}"
    );
    assert!(
        out.stdout.contains("cannot access '/run/user/1000/pulse'"),
        "{out}"
    );
    assert!(out.stdout.contains("cannot access '/dev/snd'"), "{out}");
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "paplay took {:?} to fail",
        started.elapsed()
    );
    // And no client of the sandbox reached the host.
    let clients = host.pactl(&["list", "short", "clients"]).unwrap();
    assert!(!clients.contains("wsbox"), "{clients}");
}

#[test]
fn the_app_sees_only_the_made_up_devices_and_may_change_nothing() {
    let test = "the_app_sees_only_the_made_up_devices_and_may_change_nothing";
    if !ready(test, &["pulseaudio", "pactl", "sox"]) {
        return;
    }
    let dir = setup(test);
    let Some(host) = host_or_skip(test, &dir, false) else {
        return;
    };
    // Another client of the host, which the app must not see.
    let monitor = host.record_monitor(&dir.join("other.raw")).unwrap();
    let out = sandbox(
        &host,
        &["--audio", "playback+record"],
        "pactl info; pactl list sinks; pactl list sources; pactl list short clients; \
         pactl list short sink-inputs; pactl list short source-outputs; pactl list short modules; \
         pactl list short cards; echo ---; \
         pactl load-module module-null-sink 2>&1; pactl unload-module 0 2>&1; \
         pactl set-default-sink testsink 2>&1; pactl move-sink-input 0 testsink 2>&1; \
         pactl set-sink-volume 0 10% 2>&1; pactl suspend-sink 0 1 2>&1; \
         pactl set-source-mute 0 1 2>&1; true",
    );
    drop(monitor);
    let (listing, refusals) = out.stdout.split_once("---").expect("the script ran");
    assert!(listing.contains("Name: wsbox.output"), "{out}");
    assert!(listing.contains("Name: wsbox.input"), "{out}");
    for host_name in [
        "testsink",
        "sine",
        ".monitor",
        "parec",
        "module-",
        "null-sink",
    ] {
        assert!(
            !listing.to_lowercase().contains(host_name),
            "the app saw {host_name:?}\n{listing}"
        );
    }
    // Seven refusals, each the protocol's error, and pactl went on.
    let denied =
        refusals.matches("Access denied").count() + refusals.matches("No such entity").count();
    assert_eq!(denied, 7, "{refusals}");
    assert!(
        host.pactl(&["list", "short", "modules"])
            .unwrap()
            .lines()
            .count()
            >= 3
    );
}

#[test]
fn hostile_clients_are_refused_or_dropped_and_others_still_play() {
    let test = "hostile_clients_are_refused_or_dropped_and_others_still_play";
    if !ready(test, &["pulseaudio", "paplay", "parec", "pactl", "sox"]) {
        return;
    }
    let hostile = match testkit::built("pulse-hostile") {
        Ok(path) => shared_copy(&path),
        Err(e) => {
            testkit::skip(test, &e);
            return;
        }
    };
    let dir = setup(test);
    let Some(host) = host_or_skip(test, &dir, false) else {
        return;
    };
    let bin = format!("{}:/opt/pulse-hostile", hostile.display());
    let seed = std::env::var("WSBOX_AUDIO_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| u64::from(std::process::id()));
    eprintln!("{test}: fuzz seed {seed} (WSBOX_AUDIO_FUZZ_SEED replays it)");
    let (out, recorded) = played(
        &host,
        &dir,
        &["--audio", "playback", "--ro", &bin],
        &format!(
            "/opt/pulse-hostile fuzz {seed}; /opt/pulse-hostile streams 1000; \
             /opt/pulse-hostile stall; /opt/pulse-hostile churn 40; \
             paplay /run/wsbox/files/tone.wav && echo played"
        ),
    );
    assert!(out.stdout.contains("fuzzed 200 connections"), "{out}");
    assert!(
        out.stdout.contains("created 16 refused 984"),
        "not 16 streams at most\n{out}"
    );
    assert!(
        out.stdout.contains("disconnected after"),
        "a client that never reads was kept\n{out}"
    );
    assert!(out.stdout.contains("played"), "{out}");
    assert!(
        testkit::pulse::loudest(&recorded) > LOUD,
        "nothing played after the hostile clients ({} samples)\n{out}",
        recorded.len()
    );
    assert!(!out.stderr.contains("panicked"), "{out}");
    assert!(out.stdout.contains("churned 40 connections"), "{out}");
    // Nothing of theirs outlives them on the host: no stream, no client.
    let left = poll(Duration::from_secs(10), || {
        let inputs = host.pactl(&["list", "short", "sink-inputs"]).ok()?;
        let clients = host.pactl(&["list", "short", "clients"]).ok()?;
        (inputs.trim().is_empty() && !clients.contains("wsbox")).then_some(())
    });
    assert!(
        left.is_some(),
        "left on the host: {:?} {:?}",
        host.pactl(&["list", "short", "sink-inputs"]),
        host.pactl(&["list", "short", "clients"])
    );

    // A client claiming to be Firefox is wsbox's client on the host, and
    // its stream keeps only its media name.
    let mut spoof = wsbox_command(
        &root_dir().join("run"),
        &[
            "run",
            "--display",
            "none",
            "--audio",
            "playback",
            "--ro",
            &bin,
            "--name",
            "spoofer",
            "--",
            "/opt/pulse-hostile",
            "spoof",
            "20",
        ],
    );
    let (k, v) = host.env();
    spoof.env(k, v);
    let running = testkit::Running::start(spoof);
    poll(Duration::from_secs(30), || {
        running.stdout_so_far().contains("playing").then_some(())
    })
    .unwrap_or_else(|| panic!("the spoofer never played: {}", running.stderr_so_far()));
    let inputs = host.pactl(&["list", "sink-inputs"]).unwrap();
    let clients = host.pactl(&["list", "clients"]).unwrap();
    // The audio helper confined itself: no_new_privs and wsbox's seccomp
    // filters (its Landlock domain leaves it no file).
    let helper = testkit::tree(running.pid())
        .into_iter()
        .find(|p| testkit::comm(*p).as_deref() == Some("wsbox-audio"));
    let field = |name: &str| helper.and_then(|p| testkit::status_field(p, name));
    let (nnp, filters) = (field("NoNewPrivs:"), field("Seccomp_filters:"));
    running.kill(LIMIT);
    assert_eq!(nnp.as_deref(), Some("1"), "the audio helper {helper:?}");
    let filters: u32 = filters.and_then(|f| f.parse().ok()).unwrap_or(0);
    assert!(
        filters >= 3,
        "the audio helper has {filters} seccomp filters"
    );
    assert!(inputs.contains("spoofed tone"), "{inputs}");
    assert!(
        inputs.contains("application.name = \"[wsbox:spoofer]\""),
        "{inputs}"
    );
    assert!(
        !inputs.contains("Firefox") && !inputs.contains("firefox"),
        "{inputs}"
    );
    assert!(clients.contains("[wsbox:spoofer]"), "{clients}");
    assert!(!clients.contains("Firefox"), "{clients}");
}

#[test]
fn firefox_plays_a_local_file() {
    let test = "firefox_plays_a_local_file";
    if !ready(test, &["pulseaudio", "parec", "firefox-esr", "sox"]) {
        return;
    }
    let dir = setup(test);
    let Some(host) = host_or_skip(test, &dir, false) else {
        return;
    };
    // Five seconds of tone, a page that plays it, and a profile that lets
    // it play without a click.
    let long = dir.join("long.wav");
    assert!(Command::new("sox")
        .args(["-n", "-r", "48000", "-c", "2"])
        .arg(&long)
        .args(["synth", "5", "sine", "1000"])
        .status()
        .unwrap()
        .success());
    let page = dir.join("page");
    std::fs::create_dir(&page).unwrap();
    std::fs::rename(&long, page.join("long.wav")).unwrap();
    std::fs::write(
        page.join("page.html"),
        "<html><body><audio autoplay src=\"long.wav\"></audio>audio</body></html>\n",
    )
    .unwrap();
    let file = dir.join("monitor.raw");
    let recorder = host.record_monitor(&file).unwrap();
    let share = format!("{}:/srv/page", page.display());
    let mut cmd = wsbox_command(
        &root_dir().join("run"),
        &[
            "run",
            "--headless",
            "--profile",
            "browser",
            "--home",
            dir.join("home").to_str().unwrap(),
            "--ro",
            &share,
            "--timeout",
            "40",
            "--",
            "sh",
            "-c",
            "mkdir -p $HOME/ff && \
             echo 'user_pref(\"media.autoplay.default\", 0);' > $HOME/ff/user.js && \
             exec firefox-esr --no-remote --profile $HOME/ff file:///srv/page/page.html",
        ],
    );
    // The app's home, its own (uid 65534 on the host when wsbox runs as
    // root, the user's otherwise).
    std::fs::create_dir_all(dir.join("home")).unwrap();
    let owner = if testkit::euid() == 0 {
        65534
    } else {
        testkit::euid()
    };
    std::os::unix::fs::chown(dir.join("home"), Some(owner), Some(owner)).unwrap();
    let (k, v) = host.env();
    cmd.env(k, v);
    let running = testkit::Running::start(cmd);
    let heard = poll(Duration::from_secs(60), || {
        (rms(&samples(&file)) > LOUD / 4.0).then_some(())
    });
    let stderr = running.stderr_so_far();
    running.kill(LIMIT);
    drop(recorder);
    assert!(
        heard.is_some(),
        "the host's sink never heard Firefox (RMS {:.0})\n{stderr}",
        rms(&samples(&file))
    );
}

#[test]
fn pipewire_as_the_host_plays_and_its_monitor_is_never_recorded() {
    let test = "pipewire_as_the_host_plays_and_its_monitor_is_never_recorded";
    if !ready(
        test,
        &[
            "pipewire",
            "wireplumber",
            "pipewire-pulse",
            "dbus-run-session",
            "paplay",
            "parec",
        ],
    ) {
        return;
    }
    let dir = setup(test);
    let Some(host) = host_or_skip(test, &dir, true) else {
        return;
    };
    let (out, recorded) = played(
        &host,
        &dir,
        &["--audio", "playback+record"],
        "paplay /run/wsbox/files/tone.wav && echo played; \
         timeout 2 parec > /dev/null; echo parec=$?",
    );
    assert!(out.stdout.contains("played"), "{out}");
    assert!(
        rms(&recorded) > LOUD,
        "PipeWire's sink heard nothing\n{out}"
    );
    // PipeWire's default source here is a monitor: refused, not recorded.
    let default = host.pactl(&["get-default-source"]).unwrap_or_default();
    if default.trim().ends_with(".monitor") {
        assert!(out.stdout.contains("parec=1"), "{out}");
        assert!(out.stderr.contains("is a monitor"), "{out}");
    }
}

/// The marking's recording mark (RGB), as compositor/src/marking.rs draws it.
const RECORDING_RED: [u8; 3] = [0xe0, 0x20, 0x20];

#[test]
fn in_window_mode_the_marking_shows_recording() {
    let test = "in_window_mode_the_marking_shows_recording";
    if !ready(
        test,
        &[
            "pulseaudio",
            "parec",
            "sox",
            "weston",
            "weston-simple-shm",
            "weston-screenshooter",
            "weston-debug",
        ],
    ) {
        return;
    }
    let dir = setup(test);
    let Some(host) = host_or_skip(test, &dir, false) else {
        return;
    };
    let weston_dir = scratch_in(&dir, "weston", 0o700);
    let weston = testkit::Weston::start(&weston_dir, "host-0", (1280, 800), true)
        .unwrap_or_else(|e| panic!("{e}"));
    let name = testkit::unique_name("rec-", test);
    // Records for 4 s, then stays quiet.
    let mut cmd = wsbox_command(
        &root_dir().join("run"),
        &[
            "run",
            "--display",
            "window",
            "--name",
            &name,
            "--audio",
            "playback+record",
            "--output",
            "480x300",
            "--",
            "sh",
            "-c",
            "weston-simple-shm & sleep 1; timeout 4 parec > /dev/null; echo quiet; wait",
        ],
    );
    let (k, v) = host.env();
    cmd.env(k, v).env("WAYLAND_DISPLAY", &weston.socket);
    let running = testkit::Running::start(cmd);
    let shots = scratch_in(&dir, "shots", 0o700);
    let window = |want_rec: bool| {
        poll(Duration::from_secs(30), || {
            weston
                .windows()
                .into_iter()
                .find(|w| w.app_id == format!("wsbox.{name}"))
                .filter(|w| w.title.starts_with(&format!("[wsbox:{name}] [REC]")) == want_rec)
        })
    };
    let red_in_bar = |rect: [i64; 4], what: &str| {
        let shot = weston.screenshot(&shots);
        // Kept for a human to look at.
        let kept = std::env::temp_dir().join(format!("{name}-{what}.png"));
        let _ = std::fs::copy(&shot.path, &kept);
        eprintln!("host-side screenshot: {}", kept.display());
        let [x0, y0, x1, _] = rect;
        let (x0, x1) = (x0.max(0), x1.min(shot.width));
        (y0.max(0)..(y0 + 28).min(shot.height))
            .flat_map(|y| (x0..x1).map(move |x| (x, y)))
            .filter(|&(x, y)| testkit::near(shot.at(x, y), RECORDING_RED))
            .count()
    };
    let recording = window(true);
    let red = recording.as_ref().map(|w| red_in_bar(w.rect, "recording"));
    let quiet = poll(Duration::from_secs(30), || {
        running.stdout_so_far().contains("quiet").then_some(())
    })
    .and_then(|()| window(false));
    let red_after = quiet.as_ref().map(|w| red_in_bar(w.rect, "quiet"));
    let out = running.kill(LIMIT);
    let recording = recording.unwrap_or_else(|| {
        panic!(
            "the host title never said [REC]: {:?}\n{out}",
            weston.windows()
        )
    });
    eprintln!(
        "{test}: while recording the host title was {:?}",
        recording.title
    );
    assert!(
        red.unwrap_or(0) > 20,
        "no red mark in the bar ({red:?} pixels)"
    );
    assert!(
        quiet.is_some(),
        "[REC] stayed after the recording ended\n{out}"
    );
    assert_eq!(red_after, Some(0), "the red mark stayed");
}
