//! `make bench`: times whole processes, side by side, and prints one table.
//!
//! Each case runs `--runs` times, interleaved round-robin with the others so
//! that machine noise hits every case alike; the table shows the median with
//! min and max, and each case's median as a ratio to its reference case.
//! Usage: bench [--runs N] [--json FILE]

// A developer tool: a failed measurement should stop it loudly.
#![allow(clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

struct Case {
    name: &'static str,
    /// The case this one is compared with.
    reference: Option<&'static str>,
    argv: Vec<String>,
    samples: Vec<Duration>,
}

fn main() {
    let mut runs = 30usize;
    let mut json: Option<PathBuf> = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--runs" => runs = args.next().and_then(|n| n.parse().ok()).unwrap_or(runs),
            "--json" => json = args.next().map(PathBuf::from),
            other => {
                eprintln!("bench: unknown argument {other}");
                std::process::exit(2);
            }
        }
    }
    let exe = std::env::current_exe().expect("current_exe");
    // target/release/examples/bench → target/release/wsbox
    let wsbox = exe
        .parent()
        .and_then(Path::parent)
        .map(|d| d.join("wsbox"))
        .expect("wsbox next to the bench");
    let wsbox = wsbox.to_string_lossy().into_owned();

    let mut cases = vec![
        case("bare /bin/true", None, &["/bin/true"]),
        case(
            "bwrap",
            None,
            &[
                "bwrap",
                "--unshare-all",
                "--die-with-parent",
                "--new-session",
                "--ro-bind",
                "/usr",
                "/usr",
                "--symlink",
                "usr/lib",
                "/lib",
                "--symlink",
                "usr/lib64",
                "/lib64",
                "--symlink",
                "usr/bin",
                "/bin",
                "--proc",
                "/proc",
                "--dev",
                "/dev",
                "--tmpfs",
                "/tmp",
                "/bin/true",
            ],
        ),
        case(
            "firejail",
            None,
            &[
                "firejail",
                "--quiet",
                "--noprofile",
                "--net=none",
                "/bin/true",
            ],
        ),
        case(
            "wsbox --display none",
            Some("bwrap"),
            &[&wsbox, "run", "--display", "none", "--", "/bin/true"],
        ),
    ];
    cases.retain(|c| {
        let ok = available(&c.argv);
        if !ok {
            eprintln!(
                "bench: SKIPPED {}: `{}` does not run here",
                c.name,
                c.argv.join(" ")
            );
        }
        ok
    });

    for _ in 0..3 {
        for c in &cases {
            time(&c.argv);
        }
    }
    for _ in 0..runs {
        for c in &mut cases {
            let d = time(&c.argv);
            c.samples.push(d);
        }
    }

    let median = |c: &Case| {
        let mut s = c.samples.clone();
        s.sort();
        s[s.len() / 2]
    };
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "Sandbox start-up, {runs} runs each, interleaved ({})",
        machine()
    );
    println!(
        "{:<24} {:>10} {:>10} {:>10} {:>14}",
        "case", "median ms", "min ms", "max ms", "ratio"
    );
    let mut rows = Vec::new();
    for c in &cases {
        let med = median(c);
        let min = *c.samples.iter().min().expect("samples");
        let max = *c.samples.iter().max().expect("samples");
        let ratio = c
            .reference
            .and_then(|r| cases.iter().find(|o| o.name == r))
            .map(|r| (r.name, med.as_secs_f64() / median(r).as_secs_f64()));
        let ratio_text = ratio
            .map(|(r, x)| format!("{x:.2}x {r}"))
            .unwrap_or_default();
        println!(
            "{:<24} {:>10.2} {:>10.2} {:>10.2} {:>14}",
            c.name,
            ms(med),
            ms(min),
            ms(max),
            ratio_text
        );
        rows.push(serde_json::json!({
            "case": c.name,
            "argv": c.argv,
            "median_ms": ms(med),
            "min_ms": ms(min),
            "max_ms": ms(max),
            "reference": ratio.map(|(r, _)| r),
            "ratio": ratio.map(|(_, x)| x),
        }));
    }
    if let Some(path) = json {
        let doc = serde_json::json!({ "machine": machine(), "runs": runs, "startup": rows });
        std::fs::write(&path, serde_json::to_string_pretty(&doc).expect("json"))
            .unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
        println!("figures written to {}", path.display());
    }
}

fn case(name: &'static str, reference: Option<&'static str>, argv: &[&str]) -> Case {
    Case {
        name,
        reference,
        argv: argv.iter().map(|s| s.to_string()).collect(),
        samples: Vec::new(),
    }
}

fn available(argv: &[String]) -> bool {
    Command::new(&argv[0])
        .args(&argv[1..])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn time(argv: &[String]) -> Duration {
    let start = Instant::now();
    let status = Command::new(&argv[0])
        .args(&argv[1..])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("spawn");
    let elapsed = start.elapsed();
    assert!(status.success(), "{} failed: {status}", argv.join(" "));
    elapsed
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|s| s.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    format!("{cpu}, {cores} cores, Linux {}", kernel.trim())
}
