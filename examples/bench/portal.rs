//! The portal table: how long after the user's choice a file the app asked
//! for through the portal is usable inside. An app (testkit's
//! portal-client) calls FileChooser.OpenFile again and again in a sandbox
//! with a bus; each time the bench runs `wsbox choose` and the app reads
//! the granted file, printing the monotonic clock when it has. The
//! reference is `wsbox add-file --rw` (the same grant, asked for on the
//! command line), timed until it returns.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::{json, Value};
use testkit::{monotonic_ns, TempDir};

/// Runs the table; its rows.
pub fn table(wsbox: &str, runs: usize) -> Result<Vec<Value>, String> {
    let client = testkit::built("portal-client")?;
    let dir = TempDir::new(
        std::env::temp_dir().join(format!("wsbox-bench-portal-{}", std::process::id())),
    )?;
    let policy = dir.path.join("portal.toml");
    std::fs::write(&policy, "[portal]\nenabled = true\n").map_err(|e| e.to_string())?;
    for i in 0..runs {
        for prefix in ["chosen", "added"] {
            std::fs::write(dir.path.join(format!("{prefix}{i}.txt")), "a file\n")
                .map_err(|e| e.to_string())?;
        }
    }
    let name = format!("bench-portal-{}", std::process::id());
    let bind = format!("{}:/opt/portal-client", client.display());
    let mut app = Command::new(wsbox)
        .args(["run", "--name", &name, "--display", "none", "--policy"])
        .arg(&policy)
        .args(["--ro", &bind, "--", "/opt/portal-client", &runs.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| format!("run {wsbox}: {e}"))?;
    let stdout = app.stdout.take().ok_or("no stdout")?;
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let wait_for = |prefix: &str| -> Result<String, String> {
        loop {
            let line = rx
                .recv_timeout(Duration::from_secs(20))
                .map_err(|_| format!("portal-client never printed {prefix:?}"))?;
            if line.starts_with(prefix) {
                return Ok(line);
            }
        }
    };
    let run = |args: &[&str]| -> Result<Duration, String> {
        let start = std::time::Instant::now();
        let out = Command::new(wsbox)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| e.to_string())?;
        if !out.status.success() {
            return Err(format!(
                "wsbox {} failed: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        Ok(start.elapsed())
    };
    let measured = (|| -> Result<(Vec<Duration>, Vec<Duration>), String> {
        let mut chosen = Vec::new();
        for i in 0..runs {
            wait_for(&format!("asked {i}"))?;
            let file = dir.path.join(format!("chosen{i}.txt"));
            let t0 = monotonic_ns();
            run(&[
                "choose",
                &name,
                &(i + 1).to_string(),
                &file.to_string_lossy(),
            ])?;
            let line = wait_for(&format!("granted {i} "))?;
            let t1: u128 = line
                .split_whitespace()
                .nth(2)
                .and_then(|t| t.parse().ok())
                .ok_or_else(|| format!("bad line {line:?}"))?;
            let ns = u64::try_from(t1.saturating_sub(t0)).unwrap_or(u64::MAX);
            chosen.push(Duration::from_nanos(ns));
        }
        let mut added = Vec::new();
        for i in 0..runs {
            let file = dir.path.join(format!("added{i}.txt"));
            added.push(run(&["add-file", &name, &file.to_string_lossy(), "--rw"])?);
        }
        Ok((chosen, added))
    })();
    let _ = Command::new(wsbox)
        .args(["stop", &name, "--force"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    let _ = app.wait();
    let (chosen, added) = measured?;

    let stats = |s: &[Duration]| {
        let mut s = s.to_vec();
        s.sort();
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        (ms(s[s.len() / 2]), ms(s[0]), ms(s[s.len() - 1]))
    };
    let (cm, cmin, cmax) = stats(&chosen);
    let (am, amin, amax) = stats(&added);
    println!("Portal: from the user's choice to the file read inside, {runs} runs each");
    println!(
        "{:<44} {:>10} {:>10} {:>10} {:>16}",
        "case", "median ms", "min ms", "max ms", "ratio"
    );
    println!(
        "{:<44} {:>10.2} {:>10.2} {:>10.2} {:>16}",
        "wsbox choose → app reads the file",
        cm,
        cmin,
        cmax,
        format!("{:.2}x add-file", cm / am)
    );
    println!(
        "{:<44} {:>10.2} {:>10.2} {:>10.2} {:>16}",
        "wsbox add-file --rw (until it returns)", am, amin, amax, ""
    );
    println!();
    Ok(vec![
        json!({"case": "choose-to-read", "median_ms": cm, "min_ms": cmin, "max_ms": cmax,
               "reference": "add-file", "ratio": cm / am}),
        json!({"case": "add-file", "median_ms": am, "min_ms": amin, "max_ms": amax}),
    ])
}
