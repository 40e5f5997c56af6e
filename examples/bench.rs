//! `make bench`: times whole processes, side by side, and prints tables.
//!
//! Each case runs several times, interleaved round-robin with the others of
//! its table so that machine noise hits every case alike; a table shows the
//! median with min and max, and each case's median as a ratio to its
//! reference case. The tables:
//!
//! - sandbox start-up: `/bin/true` bare, in bwrap, firejail and wsbox;
//! - time to first frame: from spawning until a client's first frame
//!   callback, through `wsbox run --headless` and through a weston headless
//!   started fresh for the run: `bench-client` (a minimal Wayland client,
//!   testkit/src/bin/bench-client.rs) and `demo-client` (make demo's) report it
//!   with `--first-frame`, weston-simple-shm's `WAYLAND_DEBUG=client` lines
//!   show it;
//! - frame throughput: the client's frames per second over 3 s, at two sizes,
//!   with whole-buffer and small damage, and the compositor's CPU time per
//!   frame (utime+stime of the compositor process alone, not its children);
//! - memory: the compositor's VmRSS 2 s after 1 or 10 idle clients showed
//!   their first frame;
//! - window: the client's frames per second over 3 s in a host (one sway
//!   headless 1280x800 for the whole table, at 1000 Hz so that the host's
//!   clock does not set the pace, then at 60 Hz), directly, through
//!   `wsbox run --display window` and through a waypipe client/server pair,
//!   with the CPU time per frame (schedstat, ns) of the host, of wsbox or
//!   the two waypipes, of both together and of the client;
//! - latency: p50 and p99 of 100 key presses per run, from `wsbox input`
//!   (the CLI, and a bare control-socket request) and from a virtual
//!   keyboard on a sway headless host (bench-client directly on it, and in
//!   `wsbox run --display window`) to the key's arrival in bench-client
//!   (`--keys`);
//! - launch: from spawning firefox-esr or gedit, opening a file, to its
//!   first painted frame (the first commit of a buffer to its toplevel, from
//!   its `WAYLAND_DEBUG=client` lines), in `wsbox run --headless --profile
//!   browser|editor` and directly on a weston headless that runs for the
//!   whole table (examples/bench/launch.rs);
//! - x11: xeyes and xterm, from spawning `wsbox run --headless --x11` or a
//!   fresh `weston --xwayland` to Xwayland's first buffer for the window,
//!   and the PSS of every process of the case 2 s later; bench-client's
//!   first frame and memory without and with `--x11`
//!   (examples/bench/x11.rs).
//!
//! sway headless (pixman) is a third reference in the first-frame,
//! throughput and memory tables; it refuses root, so it runs as the test
//! user (WSBOX_TEST_USER, default `wsbox-test`) and the clients, as root,
//! connect to its socket by path.
//!
//! Usage: bench [--runs N] [--quick] [--only TABLE,...] [--json FILE]
//! where `--runs` sets the runs of the tables that time whole launches:
//! start-up's (default 100) and launch's (default 5 for firefox-esr, 10 for
//! gedit); `--quick` halves every run count and TABLE is startup,
//! first-frame, throughput, memory, window, latency, portal, launch or x11.

// A developer tool: a failed set-up should stop it loudly.
#![allow(clippy::expect_used)]

use std::fs;
use std::io::{BufRead, BufReader, Read};
use std::os::unix::fs::{DirBuilderExt, MetadataExt};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

#[path = "bench/audio.rs"]
mod audio;
#[path = "bench/launch.rs"]
mod launch;
#[path = "bench/portal.rs"]
mod portal;
#[path = "bench/wldebug.rs"]
mod wldebug;
#[path = "bench/x11.rs"]
mod x11;

use testkit::{
    listening, monotonic_ns, poll_every, Log, Process as Proc, Sway, TempDir, VirtualKeyboard,
    Weston,
};

struct Case {
    name: &'static str,
    /// The case this one is compared with.
    reference: Option<&'static str>,
    argv: Vec<String>,
    samples: Vec<Duration>,
}

const TABLES: &[&str] = &[
    "startup",
    "first-frame",
    "throughput",
    "memory",
    "window",
    "latency",
    "portal",
    "launch",
    "x11",
    "audio",
];

fn main() {
    let mut runs: Option<usize> = None;
    let mut quick = false;
    let mut only: Vec<String> = TABLES.iter().map(|s| s.to_string()).collect();
    let mut json: Option<PathBuf> = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--runs" => runs = args.next().and_then(|n| n.parse().ok()).or(runs),
            "--quick" => quick = true,
            "--only" => {
                only = args
                    .next()
                    .unwrap_or_default()
                    .split(',')
                    .map(str::to_owned)
                    .collect();
                if let Some(bad) = only.iter().find(|t| !TABLES.contains(&t.as_str())) {
                    eprintln!("bench: unknown table {bad} (known: {})", TABLES.join(", "));
                    std::process::exit(2);
                }
            }
            "--json" => json = args.next().map(PathBuf::from),
            other => {
                eprintln!("bench: unknown argument {other}");
                std::process::exit(2);
            }
        }
    }
    let scale = |n: usize| if quick { n.div_ceil(2).max(1) } else { n };
    // target/release/examples/bench → target/release/wsbox and the test
    // programs beside it.
    let wsbox = testkit::target_dir()
        .join("wsbox")
        .to_string_lossy()
        .into_owned();
    let client = testkit::built("bench-client");

    let mut doc = serde_json::Map::new();
    doc.insert("machine".into(), json!(machine()));
    let mut failed = false;

    if only.iter().any(|t| t == "startup") {
        let runs = scale(runs.unwrap_or(100));
        doc.insert("runs".into(), json!(runs));
        doc.insert("startup".into(), json!(startup(&wsbox, runs)));
    }

    if only.iter().any(|t| t == "portal") {
        match portal::table(&wsbox, scale(20)) {
            Ok(rows) => {
                doc.insert("portal".into(), json!(rows));
            }
            Err(why) => {
                eprintln!("bench: portal table FAILED: {why}");
                failed = true;
            }
        }
    }

    if only.iter().any(|t| t == "audio") {
        match audio::table(&wsbox, scale(20)) {
            Ok(rows) => {
                doc.insert("audio".into(), json!(rows));
            }
            Err(why) => {
                eprintln!("bench: audio table FAILED: {why}");
                failed = true;
            }
        }
    }

    let display_tables: Vec<&str> = only
        .iter()
        .map(String::as_str)
        .filter(|t| *t != "startup" && *t != "portal" && *t != "audio")
        .collect();
    if !display_tables.is_empty() {
        if let Err(why) = &client {
            eprintln!("bench: SKIPPED {}: {why}", display_tables.join(", "));
            failed = true;
        } else if let Ok(client) = &client {
            let env = Env::new(wsbox.clone(), client.to_string_lossy().into_owned());
            for table in display_tables {
                // Built one at a time: a group's hosts live as long as it.
                let groups: Vec<Box<dyn Fn() -> Group>> = match table {
                    "first-frame" => vec![Box::new(|| first_frame_group(&env, scale(10)))],
                    "throughput" => vec![Box::new(|| throughput_group(&env, scale(3)))],
                    "memory" => vec![Box::new(|| memory_group(&env, scale(3)))],
                    "window" => WINDOW_HOSTS
                        .iter()
                        .map(|&hz| -> Box<dyn Fn() -> Group> {
                            let env = &env;
                            Box::new(move || window_group(env, scale(3), hz))
                        })
                        .collect(),
                    "latency" => vec![Box::new(|| latency_group(&env, scale(3)))],
                    "x11" => vec![Box::new(|| x11::group(&env, scale(10)))],
                    "launch" => launch::APPS
                        .iter()
                        .map(|app| -> Box<dyn Fn() -> Group> {
                            let env = &env;
                            Box::new(move || {
                                launch::group(env, app, scale(runs.unwrap_or(app.runs)))
                            })
                        })
                        .collect(),
                    _ => continue,
                };
                for make in groups {
                    let group = make().run(&env);
                    failed |= group.failed();
                    group.print();
                    for (key, value) in group.to_json() {
                        doc.insert(key, value);
                    }
                }
            }
            if !env.skipped.borrow().is_empty() {
                doc.insert("skipped".into(), json!(*env.skipped.borrow()));
            }
        }
    }

    if let Some(path) = json {
        let doc = Value::Object(doc);
        fs::write(&path, serde_json::to_string_pretty(&doc).expect("json"))
            .unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
        println!("figures written to {}", path.display());
    }
    if failed {
        eprintln!("bench: some cases failed; see the messages above");
        std::process::exit(1);
    }
}

/// The start-up table: `/bin/true` bare and in each sandbox.
fn startup(wsbox: &str, runs: usize) -> Vec<Value> {
    // The main case runs a copy written in one go, as an installed binary
    // is (bwrap and firejail come from dpkg). The linker's output in
    // target/ starts about 0.4 ms slower, though its bytes are the same:
    // the page cache holds a freshly linked file in smaller pieces, so
    // exec takes more page faults (dropping the caches evens them out). It
    // is timed too, in a row of its own.
    let installed = TempDir::new(
        std::env::temp_dir().join(format!("wsbox-bench-startup-{}", std::process::id())),
    )
    .and_then(|dir| {
        let copy = dir.path.join("wsbox");
        fs::copy(wsbox, &copy)
            .map(|_| (copy.to_string_lossy().into_owned(), dir))
            .map_err(|e| format!("copy {wsbox}: {e}"))
    });
    let (copy, _dir) = match installed {
        Ok((copy, dir)) => (copy, Some(dir)),
        Err(e) => {
            eprintln!("bench: start-up runs target/'s wsbox only: {e}");
            (wsbox.to_owned(), None)
        }
    };
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
            &[&copy, "run", "--display", "none", "--", "/bin/true"],
        ),
        case(
            "wsbox, linked in target/",
            Some("bwrap"),
            &[wsbox, "run", "--display", "none", "--", "/bin/true"],
        ),
    ];
    if copy == wsbox {
        cases.pop();
    }
    // The portal's private bus: the same start, with and without it (a
    // policy file each, so that only [portal] differs).
    if let Some(dir) = &_dir {
        let with = dir.path.join("bus.toml");
        let without = dir.path.join("nobus.toml");
        let written = fs::write(&with, "[portal]\nenabled = true\n")
            .and_then(|()| fs::write(&without, "[portal]\nenabled = false\n"));
        if written.is_ok() {
            let (with, without) = (with.to_string_lossy(), without.to_string_lossy());
            cases.push(case(
                "wsbox, policy file",
                None,
                &[
                    &copy,
                    "run",
                    "--display",
                    "none",
                    "--policy",
                    &without,
                    "--",
                    "/bin/true",
                ],
            ));
            cases.push(case(
                "wsbox, with the bus",
                Some("wsbox, policy file"),
                &[
                    &copy,
                    "run",
                    "--display",
                    "none",
                    "--policy",
                    &with,
                    "--",
                    "/bin/true",
                ],
            ));
        }
        // Accessibility, which needs a display: a headless start with and
        // without it. Where the bench's environment has a session bus with
        // an accessibility bus, the second asks for it and starts the
        // proxy; elsewhere it shows what looking costs.
        let off = dir.path.join("noa11y.toml");
        if fs::write(&off, "[a11y]\nenabled = false\n").is_ok() {
            let off = off.to_string_lossy();
            cases.push(case(
                "headless, no a11y",
                None,
                &[
                    &copy,
                    "run",
                    "--headless",
                    "--policy",
                    &off,
                    "--",
                    "/bin/true",
                ],
            ));
            cases.push(case(
                "headless, a11y",
                Some("headless, no a11y"),
                &[&copy, "run", "--headless", "--", "/bin/true"],
            ));
        }
    }
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
    // firejail leaves work behind in the kernel after it exits (its network
    // namespace is torn down asynchronously, ~35 ms of it), which slows
    // down whatever runs next, and a mount-heavy start more than a light
    // one: it is timed in a block of its own. The others are interleaved,
    // in an order that rotates each round.
    let (alone, together): (Vec<usize>, Vec<usize>) =
        (0..cases.len()).partition(|&i| cases[i].name == "firejail");
    for block in [together, alone] {
        let n = block.len();
        for round in 0..runs {
            for k in 0..n {
                let c = &mut cases[block[(round + k) % n]];
                let d = time(&c.argv);
                c.samples.push(d);
            }
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
        rows.push(json!({
            "case": c.name,
            "argv": c.argv,
            "median_ms": ms(med),
            "min_ms": ms(min),
            "max_ms": ms(max),
            "reference": ratio.map(|(r, _)| r),
            "ratio": ratio.map(|(_, x)| x),
        }));
    }
    println!();
    rows
}

fn case(name: &'static str, reference: Option<&'static str>, argv: &[&str]) -> Case {
    Case {
        name,
        reference,
        argv: argv.iter().map(|s| s.to_string()).collect(),
        samples: Vec::new(),
    }
}

/// `program`'s path in PATH, if it is there and executable.
fn find_in_path(program: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|dir| Path::new(dir).join(program))
        .find(|p| fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0))
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
    let cpu = fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|s| s.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let kernel = fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    format!("{cpu}, {cores} cores, Linux {}", kernel.trim())
}

// ---------------------------------------------------------------------------
// Tables of display cases: each run of a case yields one value per metric.

type Outcome = Result<Vec<f64>, String>;

struct Metric {
    title: String,
    /// Column unit, e.g. "ms".
    unit: &'static str,
    /// JSON key of the table.
    key: &'static str,
    /// Suffix of its figures in the JSON: `median_<suffix>`.
    suffix: &'static str,
    /// Digits after the decimal point.
    digits: usize,
    /// Printed as a table, or only written to the JSON.
    print: bool,
}

struct DisplayCase {
    name: String,
    reference: Option<String>,
    /// What runs, for the JSON.
    what: String,
    run: Box<dyn Fn(&Env) -> Outcome>,
    /// One list of samples per metric.
    samples: Vec<Vec<f64>>,
    failures: Vec<String>,
    /// Failed every run so far, twice or more: not run again.
    gave_up: bool,
}

struct Group {
    runs: usize,
    /// Unrecorded rounds first, to warm the page cache.
    warmup: usize,
    metrics: Vec<Metric>,
    cases: Vec<DisplayCase>,
    /// Lines printed under the tables.
    notes: Vec<String>,
    /// More `(case, reference)` ratios than each case's own reference.
    extra_ratios: Vec<(String, String)>,
}

impl Group {
    fn new(runs: usize, metrics: Vec<Metric>) -> Self {
        Group {
            runs,
            warmup: 0,
            metrics,
            cases: Vec::new(),
            notes: Vec::new(),
            extra_ratios: Vec::new(),
        }
    }

    fn add(
        &mut self,
        name: String,
        reference: Option<String>,
        what: String,
        run: impl Fn(&Env) -> Outcome + 'static,
    ) {
        let samples = self.metrics.iter().map(|_| Vec::new()).collect();
        self.cases.push(DisplayCase {
            name,
            reference,
            what,
            run: Box::new(run),
            samples,
            failures: Vec::new(),
            gave_up: false,
        });
    }

    /// Round-robin over the cases, `runs` rounds; a failed run is reported
    /// at once and recorded, and the others go on.
    fn run(mut self, env: &Env) -> Self {
        let title = self
            .metrics
            .first()
            .map(|m| m.title.clone())
            .unwrap_or_default();
        eprintln!(
            "bench: {title}: {} cases x {} runs ...",
            self.cases.len(),
            self.runs
        );
        for _ in 0..self.warmup {
            for c in &self.cases {
                if let Err(e) = (c.run)(env) {
                    eprintln!("bench: FAILED {} (warm-up): {e}", c.name);
                }
                reap_orphans();
            }
        }
        for round in 0..self.runs {
            for c in &mut self.cases {
                if c.gave_up {
                    continue;
                }
                let outcome = (c.run)(env);
                reap_orphans();
                match outcome {
                    Ok(values) => {
                        for (samples, v) in c.samples.iter_mut().zip(values) {
                            if v.is_finite() {
                                samples.push(v);
                            }
                        }
                    }
                    Err(e) => {
                        eprintln!("bench: FAILED {} (run {}): {e}", c.name, round + 1);
                        c.failures.push(e);
                        if c.failures.len() >= 2 && c.samples.iter().all(Vec::is_empty) {
                            eprintln!("bench: giving up on {}: no run has worked", c.name);
                            c.gave_up = true;
                        }
                    }
                }
            }
        }
        self
    }

    fn failed(&self) -> bool {
        self.cases.iter().any(|c| !c.failures.is_empty())
    }

    fn stats(&self, case: &DisplayCase, metric: usize) -> Option<(f64, f64, f64)> {
        let mut s = case.samples.get(metric)?.clone();
        if s.is_empty() {
            return None;
        }
        s.sort_by(f64::total_cmp);
        Some((s[s.len() / 2], s[0], s[s.len() - 1]))
    }

    fn ratio(&self, case: &DisplayCase, metric: usize) -> Option<(String, f64)> {
        self.ratio_to(case, case.reference.as_ref()?, metric)
    }

    fn ratio_to(
        &self,
        case: &DisplayCase,
        reference: &str,
        metric: usize,
    ) -> Option<(String, f64)> {
        let other = self.cases.iter().find(|o| o.name == reference)?;
        let (med, _, _) = self.stats(case, metric)?;
        let (ref_med, _, _) = self.stats(other, metric)?;
        (ref_med > 0.0).then(|| (reference.to_owned(), med / ref_med))
    }

    /// The ratios of `extra_ratios` for `case`.
    fn extra(&self, case: &DisplayCase, metric: usize) -> Vec<(String, f64)> {
        self.extra_ratios
            .iter()
            .filter(|(c, _)| *c == case.name)
            .filter_map(|(_, r)| self.ratio_to(case, r, metric))
            .collect()
    }

    fn print(&self) {
        let name_w = self
            .cases
            .iter()
            .map(|c| c.name.len())
            .max()
            .unwrap_or(0)
            .max(24);
        for (m, metric) in self.metrics.iter().enumerate() {
            if !metric.print {
                continue;
            }
            println!(
                "{}, {} runs each, interleaved ({})",
                metric.title,
                self.runs,
                machine()
            );
            let heads = [
                format!("median {}", metric.unit),
                format!("min {}", metric.unit),
                format!("max {}", metric.unit),
            ];
            let col_w = heads.iter().map(String::len).max().unwrap_or(10).max(10);
            println!(
                "{:<name_w$} {:>col_w$} {:>col_w$} {:>col_w$}  ratio",
                "case", heads[0], heads[1], heads[2]
            );
            for c in &self.cases {
                let d = metric.digits;
                let figures = match self.stats(c, m) {
                    Some((med, min, max)) => {
                        format!("{med:>col_w$.d$} {min:>col_w$.d$} {max:>col_w$.d$}")
                    }
                    None => format!("{:>col_w$} {:>col_w$} {:>col_w$}", "FAILED", "-", "-"),
                };
                let ratio = self
                    .ratio(c, m)
                    .into_iter()
                    .chain(self.extra(c, m))
                    .map(|(r, x)| format!("{x:.2}x {r}"))
                    .collect::<Vec<_>>()
                    .join(", ");
                let failures = match c.failures.len() {
                    0 => String::new(),
                    n => format!("  ({n} failed runs)"),
                };
                println!("{:<name_w$} {figures}  {ratio}{failures}", c.name);
            }
            println!();
        }
        for note in &self.notes {
            println!("{note}");
        }
        if !self.notes.is_empty() {
            println!();
        }
    }

    /// One JSON table per metric: `(key, table)`.
    fn to_json(&self) -> Vec<(String, Value)> {
        let mut tables = Vec::new();
        for (m, metric) in self.metrics.iter().enumerate() {
            let u = metric.suffix;
            let rows: Vec<Value> = self
                .cases
                .iter()
                .map(|c| {
                    let stats = self.stats(c, m);
                    let ratio = self.ratio(c, m);
                    let mut row = serde_json::Map::new();
                    row.insert("case".into(), json!(c.name));
                    row.insert("command".into(), json!(c.what));
                    row.insert(format!("median_{u}"), json!(stats.map(|s| s.0)));
                    row.insert(format!("min_{u}"), json!(stats.map(|s| s.1)));
                    row.insert(format!("max_{u}"), json!(stats.map(|s| s.2)));
                    row.insert(format!("samples_{u}"), json!(c.samples.get(m)));
                    row.insert("reference".into(), json!(ratio.as_ref().map(|r| &r.0)));
                    row.insert("ratio".into(), json!(ratio.map(|r| r.1)));
                    let extra = self.extra(c, m);
                    if !extra.is_empty() {
                        let extra: serde_json::Map<String, Value> =
                            extra.into_iter().map(|(r, x)| (r, json!(x))).collect();
                        row.insert("other_ratios".into(), Value::Object(extra));
                    }
                    row.insert("failures".into(), json!(c.failures));
                    Value::Object(row)
                })
                .collect();
            tables.push((
                metric.key.to_owned(),
                json!({
                    "title": metric.title,
                    "unit": metric.unit,
                    "runs": self.runs,
                    "notes": self.notes,
                    "rows": rows,
                }),
            ));
        }
        tables
    }
}

// ---------------------------------------------------------------------------
// The display cases.

/// What every display case needs: the binaries, a private scratch
/// directory, and a counter for unique names.
struct Env {
    wsbox: String,
    client: String,
    weston: bool,
    /// The user sway runs as, when sway and the user are there.
    sway: Option<(u32, u32)>,
    scratch: Scratch,
    seq: std::cell::Cell<u32>,
    skipped: std::cell::RefCell<Vec<String>>,
}

impl Env {
    fn new(wsbox: String, client: String) -> Self {
        let weston = available(&["weston".to_owned(), "--version".to_owned()]);
        // What the compositors leave behind (weston's helper clients, a
        // sandbox's init if wsbox dies first) becomes the bench's to reap
        // and, at the end, to kill; see `reap_orphans` and `Env`'s drop.
        // SAFETY: prctl with integer arguments only.
        if unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) } != 0 {
            eprintln!(
                "bench: cannot become a child subreaper: {}",
                std::io::Error::last_os_error()
            );
        }
        let sway = if available(&["sway".to_owned(), "--version".to_owned()]) {
            testkit::test_user().ok()
        } else {
            None
        };
        let env = Env {
            wsbox,
            client,
            weston,
            sway,
            scratch: Scratch::new().expect("a scratch directory under /tmp"),
            seq: std::cell::Cell::new(0),
            skipped: std::cell::RefCell::new(Vec::new()),
        };
        if !weston {
            env.skip("every weston case: `weston --version` does not run here");
        }
        if env.sway.is_none() {
            env.skip(
                "every sway case: `sway --version` does not run here or there is no user \
                 wsbox-test (WSBOX_TEST_USER) to run it as",
            );
        }
        env
    }

    fn skip(&self, what: &str) {
        eprintln!("bench: SKIPPED {what}");
        self.skipped.borrow_mut().push(what.to_owned());
    }

    fn unique(&self, prefix: &str) -> String {
        let n = self.seq.get() + 1;
        self.seq.set(n);
        format!("{prefix}-{}-{n}", std::process::id())
    }

    /// `wsbox run --headless` with the bench client bound at /opt/bench-client.
    fn wsbox_command(&self, output: Option<&str>, argv: &[&str]) -> Command {
        let mut cmd = Command::new(&self.wsbox);
        cmd.args(["run", "--headless", "--name", &self.unique("bench")]);
        if let Some(output) = output {
            cmd.args(["--output", output]);
        }
        cmd.arg("--ro")
            .arg(format!("{}:/opt/bench-client", self.client))
            .arg("--")
            .args(argv);
        cmd
    }

    /// bench-client (as root) on the host whose runtime directory is `dir`
    /// and socket `socket`.
    fn client_on(&self, dir: &Path, socket: &Path, args: &[&str]) -> Command {
        let mut cmd = Command::new(&self.client);
        cmd.args(args)
            .env("XDG_RUNTIME_DIR", dir)
            .env("WAYLAND_DISPLAY", socket);
        cmd
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        end_orphans(Duration::from_secs(3));
    }
}

/// A client of the first-frame table, run on a weston headless started for
/// the run and in `wsbox run --headless`.
#[derive(Clone)]
struct FirstFrameClient {
    name: &'static str,
    /// The program on the host, with its arguments.
    program: PathBuf,
    args: Vec<String>,
    /// `wsbox run` options, then the argv inside the sandbox.
    wsbox_options: Vec<String>,
    argv: Vec<String>,
    /// It prints nothing when its first frame is shown (weston-simple-shm):
    /// its `WAYLAND_DEBUG=client` lines tell. Else it prints
    /// `first_frame_ns` and exits (`--first-frame`).
    debug: bool,
}

impl FirstFrameClient {
    fn weston_case(&self) -> String {
        format!("weston + {}", self.name)
    }

    fn on_weston(&self, env: &Env) -> Outcome {
        let t0 = monotonic_ns();
        let weston = start_weston(env, 1280, 720)?;
        let mut cmd = Command::new(&self.program);
        cmd.args(&self.args)
            .env("XDG_RUNTIME_DIR", &weston.dir)
            .env("WAYLAND_DISPLAY", &weston.socket);
        if self.debug {
            cmd.env("WAYLAND_DEBUG", "client");
        }
        let ns = self.first_frame(cmd, self.name, env)?;
        drop(weston);
        Ok(vec![ms_since(t0, ns)])
    }

    fn in_wsbox(&self, env: &Env) -> Outcome {
        let t0 = monotonic_ns();
        let mut cmd = Command::new(&env.wsbox);
        cmd.args(["run", "--headless", "--name", &env.unique("bench")])
            .args(&self.wsbox_options);
        if self.debug {
            cmd.args(["--env", "WAYLAND_DEBUG=client"]);
        }
        cmd.arg("--").args(&self.argv);
        let ns = self.first_frame(cmd, "wsbox", env)?;
        Ok(vec![ms_since(t0, ns)])
    }

    /// Spawns `cmd` and waits for the client's first frame callback; a
    /// client that prints it exits by itself, one that does not is stopped.
    fn first_frame(&self, cmd: Command, name: &str, env: &Env) -> Result<u128, String> {
        let wait = Duration::from_secs(20);
        let mut out = Lines::new();
        if self.debug {
            let mut proc = out.spawn_debug(cmd, name, env)?;
            out.first_frame_debug(wait, &mut [&mut proc])
        } else {
            let mut proc = out.spawn(cmd, name, env)?;
            let ns = out.first_frame(wait, &mut [&mut proc])?;
            proc.finish(Duration::from_secs(10))?;
            Ok(ns)
        }
    }
}

fn first_frame_group(env: &Env, runs: usize) -> Group {
    let mut g = Group::new(
        runs,
        vec![Metric {
            title: "Time to first frame (spawn to the client's first frame callback)".into(),
            unit: "ms",
            key: "first_frame",
            suffix: "ms",
            digits: 2,
            print: true,
        }],
    );
    g.warmup = 1;
    let strings = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let mut clients = vec![FirstFrameClient {
        name: "bench-client",
        program: PathBuf::from(&env.client),
        args: strings(&["--first-frame"]),
        wsbox_options: vec!["--ro".into(), format!("{}:/opt/bench-client", env.client)],
        argv: strings(&["/opt/bench-client", "--first-frame"]),
        debug: false,
    }];
    match find_in_path("weston-simple-shm") {
        Some(program) => clients.push(FirstFrameClient {
            name: "weston-simple-shm",
            program,
            args: Vec::new(),
            wsbox_options: Vec::new(),
            argv: strings(&["weston-simple-shm"]),
            debug: true,
        }),
        None => env.skip(
            "weston-simple-shm in the time-to-first-frame table: it is not installed \
             (Debian package weston)",
        ),
    }
    // A real GTK 3 app: gedit, whose first frame waits for GTK, fonts
    // (the font cache inside) and its settings.
    match find_in_path("gedit") {
        Some(program) => clients.push(FirstFrameClient {
            name: "gedit",
            program,
            args: Vec::new(),
            wsbox_options: Vec::new(),
            argv: strings(&["gedit"]),
            debug: true,
        }),
        None => env.skip(
            "gedit in the time-to-first-frame table: it is not installed (Debian package gedit)",
        ),
    }
    // The demo client (make demo's), beside bench-client.
    let demo = Path::new(&env.client).with_file_name("demo-client");
    if demo.is_file() {
        clients.push(FirstFrameClient {
            name: "demo-client",
            wsbox_options: vec![
                "--ro".into(),
                format!("{}:/opt/demo-client", demo.display()),
            ],
            program: demo,
            args: strings(&["--first-frame"]),
            argv: strings(&["/opt/demo-client", "--first-frame"]),
            debug: false,
        });
    } else {
        env.skip(&format!(
            "demo-client in the time-to-first-frame table: {} is not built",
            demo.display()
        ));
    }
    for client in clients {
        let wsbox_case = format!("wsbox --headless + {}", client.name);
        let debug = if client.debug {
            " with WAYLAND_DEBUG=client (its first frame callback's done event)"
        } else {
            ""
        };
        if env.weston {
            let c = client.clone();
            g.add(
                client.weston_case(),
                None,
                format!(
                    "weston --backend=headless-backend.so --use-pixman --width=1280 \
                     --height=720 --idle-time=0, then {} {} once the socket exists{debug}",
                    client.program.display(),
                    client.args.join(" ")
                ),
                move |env| c.on_weston(env),
            );
        }
        if client.name == "bench-client" && env.sway.is_some() {
            let sway_name = "sway + bench-client";
            g.add(
                sway_name.into(),
                None,
                "sway (headless, pixman, as the test user) 1280x720, then bench-client \
                 --first-frame once the socket exists"
                    .into(),
                |env| {
                    let t0 = monotonic_ns();
                    let sway = start_sway(env, 1280, 720, "")?;
                    let mut out = Lines::new();
                    let mut client = out.spawn(
                        env.client_on(&sway.dir, &sway.socket, &["--first-frame"]),
                        "bench-client",
                        env,
                    )?;
                    let ns = out.first_frame(Duration::from_secs(20), &mut [&mut client])?;
                    client.finish(Duration::from_secs(10))?;
                    drop(sway);
                    Ok(vec![ms_since(t0, ns)])
                },
            );
            g.extra_ratios.push((wsbox_case.clone(), sway_name.into()));
        }
        let c = client.clone();
        g.add(
            wsbox_case,
            env.weston.then(|| client.weston_case()),
            format!(
                "wsbox run --headless {}-- {}{debug}",
                client
                    .wsbox_options
                    .iter()
                    .map(|o| format!("{o} "))
                    .collect::<String>(),
                client.argv.join(" ")
            ),
            move |env| c.in_wsbox(env),
        );
    }
    g.notes.push(
        "weston and sway are started fresh for each run and timed from their spawn (their \
         start-up counts, as wsbox's does)."
            .into(),
    );
    g
}

fn throughput_group(env: &Env, runs: usize) -> Group {
    let mut g = Group::new(
        runs,
        vec![
            Metric {
                title: "Frame throughput (bench-client frames/s over 3 s)".into(),
                unit: "fps",
                key: "throughput",
                suffix: "fps",
                digits: 1,
                print: true,
            },
            Metric {
                title: "Compositor CPU per frame (utime+stime of the compositor process, \
                        not its children)"
                    .into(),
                unit: "ms/frame",
                key: "compositor_cpu",
                suffix: "ms_per_frame",
                digits: 3,
                print: true,
            },
            Metric {
                title: "Compositor CPU per frame, cross-check (sum of its threads' \
                        /proc/PID/task/*/schedstat run time, ns resolution)"
                    .into(),
                unit: "ms/frame",
                key: "compositor_cpu_schedstat",
                suffix: "ms_per_frame",
                digits: 3,
                print: false,
            },
        ],
    );
    for (w, h) in [(1280u32, 720u32), (1920, 1080)] {
        for damage in ["full", "small"] {
            let weston_name = format!("weston {w}x{h} {damage}");
            let size = format!("{w}x{h}");
            if env.weston {
                let size = size.clone();
                g.add(
                    weston_name.clone(),
                    None,
                    format!(
                        "weston headless --width={w} --height={h}; bench-client --seconds 3 \
                         --damage {damage} --size {size}"
                    ),
                    move |env| {
                        let weston = start_weston(env, w, h)?;
                        let mut out = Lines::new();
                        let client = out.spawn(
                            env.client_on(
                                &weston.dir,
                                &weston.socket,
                                &["--seconds", "3", "--damage", damage, "--size", &size],
                            ),
                            "bench-client",
                            env,
                        )?;
                        let figures = out.throughput(weston.process.pid(), client)?;
                        drop(weston);
                        Ok(figures)
                    },
                );
            }
            if env.sway.is_some() {
                let size = size.clone();
                let sway_name = format!("sway {w}x{h} {damage}");
                g.add(
                    sway_name.clone(),
                    None,
                    format!(
                        "sway headless {w}x{h}; bench-client --seconds 3 --damage {damage} \
                         (maximised: the output's size)"
                    ),
                    move |env| {
                        let sway = start_sway(env, w, h, "")?;
                        let mut out = Lines::new();
                        let client = out.spawn(
                            env.client_on(
                                &sway.dir,
                                &sway.socket,
                                &["--seconds", "3", "--damage", damage, "--size", &size],
                            ),
                            "bench-client",
                            env,
                        )?;
                        let figures = out.throughput(sway.process.pid(), client)?;
                        drop(sway);
                        Ok(figures)
                    },
                );
                g.extra_ratios
                    .push((format!("wsbox {w}x{h} {damage}"), sway_name));
            }
            let output = (w, h) != (1280, 720);
            g.add(
                format!("wsbox {w}x{h} {damage}"),
                env.weston.then_some(weston_name),
                format!(
                    "wsbox run --headless{} -- /opt/bench-client --seconds 3 --damage {damage} \
                     --size {size}",
                    if output {
                        format!(" --output {size}")
                    } else {
                        String::new()
                    }
                ),
                move |env| {
                    let mut out = Lines::new();
                    let wsbox = out.spawn(
                        env.wsbox_command(
                            output.then_some(size.as_str()),
                            &[
                                "/opt/bench-client",
                                "--seconds",
                                "3",
                                "--damage",
                                damage,
                                "--size",
                                &size,
                            ],
                        ),
                        "wsbox",
                        env,
                    )?;
                    let pid = wsbox.pid();
                    out.throughput(pid, wsbox)
                },
            );
        }
    }
    g.notes.push(format!(
        "CPU time from /proc/PID/stat is counted in clock ticks of {:.0} ms; over ~180 frames \
         that is ~0.05 ms/frame of resolution per run. The fps column is mostly each \
         compositor's frame pacing (both repaint on a 60 Hz clock), not its speed.",
        1000.0 / clock_ticks()
    ));
    g.notes.push(
        "The JSON also has compositor_cpu_schedstat: the same CPU time from the threads' \
         schedstat, in ns."
            .into(),
    );
    g
}

fn memory_group(env: &Env, runs: usize) -> Group {
    let mut g = Group::new(
        runs,
        vec![
            Metric {
                title: "Compositor memory (VmRSS 2 s after idle clients showed their first \
                        frame)"
                    .into(),
                unit: "MiB",
                key: "memory",
                suffix: "mib",
                digits: 1,
                print: true,
            },
            Metric {
                title: "Compositor memory: its RssAnon (heap and stacks)".into(),
                unit: "MiB",
                key: "memory_anon",
                suffix: "mib",
                digits: 1,
                print: false,
            },
            Metric {
                title: "Compositor memory: its RssShmem (mapped shared memory, e.g. the \
                        clients' wl_shm buffers)"
                    .into(),
                unit: "MiB",
                key: "memory_shmem",
                suffix: "mib",
                digits: 1,
                print: false,
            },
        ],
    );
    for clients in [1usize, 10] {
        let plural = if clients == 1 { "client" } else { "clients" };
        let weston_name = format!("weston, {clients} {plural}");
        if env.weston {
            g.add(
                weston_name.clone(),
                None,
                format!("weston headless 1280x720; {clients} x bench-client --idle --seconds 30"),
                move |env| {
                    let weston = start_weston(env, 1280, 720)?;
                    rss_with_idle_clients(env, weston.process.pid(), clients, || {
                        env.client_on(&weston.dir, &weston.socket, &["--idle", "--seconds", "30"])
                    })
                },
            );
        }
        if env.sway.is_some() {
            let sway_name = format!("sway, {clients} {plural}");
            g.add(
                sway_name.clone(),
                None,
                format!("sway headless 1280x720; {clients} x bench-client --idle --seconds 30"),
                move |env| {
                    let sway = start_sway(env, 1280, 720, "")?;
                    rss_with_idle_clients(env, sway.process.pid(), clients, || {
                        env.client_on(&sway.dir, &sway.socket, &["--idle", "--seconds", "30"])
                    })
                },
            );
            g.extra_ratios
                .push((format!("wsbox, {clients} {plural}"), sway_name));
        }
        g.add(
            format!("wsbox, {clients} {plural}"),
            env.weston.then_some(weston_name),
            if clients == 1 {
                "wsbox run --headless -- /opt/bench-client --idle --seconds 30".into()
            } else {
                format!(
                    "wsbox run --headless -- sh -c 'for i in $(seq {clients}); do \
                     /opt/bench-client --idle --seconds 30 & done; wait'"
                )
            },
            move |env| {
                let mut out = Lines::new();
                let script = format!(
                    "for i in $(seq {clients}); do /opt/bench-client --idle --seconds 30 & done; \
                     wait"
                );
                let argv: Vec<&str> = if clients == 1 {
                    vec!["/opt/bench-client", "--idle", "--seconds", "30"]
                } else {
                    vec!["sh", "-c", &script]
                };
                let mut wsbox = out.spawn(env.wsbox_command(None, &argv), "wsbox", env)?;
                out.first_frames(clients, Duration::from_secs(30), &mut [&mut wsbox])?;
                idle(Duration::from_secs(2), &mut [&mut wsbox])?;
                memory_mib(wsbox.pid())
            },
        );
    }
    g.notes.push(
        "Only the compositor process is counted: not the sandbox's init or the clients for \
         wsbox, not weston-desktop-shell or weston-keyboard (weston's own helper clients). \
         The JSON splits VmRSS into memory_anon and memory_shmem (client buffers mapped)."
            .into(),
    );
    g
}

/// The refresh rates of the window tables' hosts: one fast enough that the
/// pipeline, not the host's clock, sets the pace (1 ms is the shortest frame
/// wlroots 0.15's headless backend can time: it counts in whole ms), and a
/// desktop's.
const WINDOW_HOSTS: [u32; 2] = [1000, 60];

/// bench-client's run in the window tables: full damage for 3 s, then 0.3 s
/// more with its connection open, so that what ends with it (wsbox, a
/// waypipe server) can still be measured.
const WINDOW_CLIENT: [&str; 6] = ["--damage", "full", "--seconds", "3", "--linger", "0.3"];

/// One sway headless 1280x800 at `hz` for the whole table, as the host of
/// the client directly, of `wsbox run --display window`, and of a waypipe
/// client/server pair: the client's fps, and CPU time per frame of the
/// host, of what sits between client and host, and of the client.
fn window_group(env: &Env, runs: usize, hz: u32) -> Group {
    let fast = hz != 60;
    let key =
        |fast_key: &'static str, slow_key: &'static str| if fast { fast_key } else { slow_key };
    let cpu = |what: &str, key: &'static str, print: bool| Metric {
        title: format!("Window mode, sway at {hz} Hz: {what}, CPU per client frame"),
        unit: "ms/frame",
        key,
        suffix: "ms_per_frame",
        digits: 3,
        print,
    };
    let mut g = Group::new(
        runs,
        vec![
            Metric {
                title: format!(
                    "Window mode, sway headless 1280x800 at {hz} Hz as the host: bench-client \
                     frames/s, full damage, over 3 s"
                ),
                unit: "fps",
                key: key("window", "window_60hz"),
                suffix: "fps",
                digits: 1,
                print: true,
            },
            cpu(
                "the host sway",
                key("window_host_cpu", "window_60hz_host_cpu"),
                true,
            ),
            cpu(
                "between client and host (wsbox; both waypipes)",
                key("window_intermediary_cpu", "window_60hz_intermediary_cpu"),
                true,
            ),
            cpu(
                "host side in all (everything but the client)",
                key("window_host_side_cpu", "window_60hz_host_side_cpu"),
                true,
            ),
            cpu(
                "the client itself",
                key("window_client_cpu", "window_60hz_client_cpu"),
                true,
            ),
            cpu(
                "waypipe client (the host's side)",
                key(
                    "window_waypipe_client_cpu",
                    "window_60hz_waypipe_client_cpu",
                ),
                false,
            ),
            cpu(
                "waypipe server (the app's side)",
                key(
                    "window_waypipe_server_cpu",
                    "window_60hz_waypipe_server_cpu",
                ),
                false,
            ),
        ],
    );
    if env.sway.is_none() {
        env.skip(&format!(
            "the window table at {hz} Hz: it needs sway (and its user) as the host"
        ));
        return g;
    }
    let config = format!(
        "output HEADLESS-1 mode --custom 1280x800@{hz}Hz\n\
         for_window [title=\".*\"] floating enable\n"
    );
    let sway = match start_sway(env, 1280, 800, &config) {
        Ok(sway) => std::rc::Rc::new(sway),
        Err(e) => {
            eprintln!("bench: FAILED the window table's host: {e}");
            g.add(
                format!("host sway at {hz} Hz"),
                None,
                format!("sway headless 1280x800@{hz}Hz"),
                move |_| Err(e.clone()),
            );
            return g;
        }
    };
    match sway.refresh_hz() {
        Ok(got) => {
            g.notes.push(format!(
                "The host's output, as sway reports it: 1280x800 at {got:.3} Hz."
            ));
            if (got - f64::from(hz)).abs() > 1.0 {
                eprintln!("bench: the host runs at {got:.3} Hz, not {hz} Hz");
            }
        }
        Err(e) => eprintln!("bench: cannot read the host's refresh rate: {e}"),
    }

    let direct = "bench-client on the host";
    let wsbox_name = "wsbox --display window";
    let waypipe_name = "bench-client via waypipe";
    let host = sway.clone();
    g.add(
        direct.into(),
        None,
        format!(
            "WAYLAND_DISPLAY=<sway> bench-client {}",
            WINDOW_CLIENT.join(" ")
        ),
        move |env| {
            let mut out = Lines::new();
            let client = out.spawn(
                env.client_on(&host.dir, &host.socket, &WINDOW_CLIENT),
                "bench-client",
                env,
            )?;
            out.window_figures(host.process.pid(), &[], client)
        },
    );
    let host = sway.clone();
    g.add(
        wsbox_name.into(),
        Some(direct.into()),
        format!(
            "WAYLAND_DISPLAY=<sway> wsbox run --display window --ro \
             bench-client:/opt/bench-client -- /opt/bench-client {}",
            WINDOW_CLIENT.join(" ")
        ),
        move |env| {
            let mut cmd = Command::new(&env.wsbox);
            cmd.args(["run", "--display", "window", "--name", &env.unique("bench")])
                .arg("--ro")
                .arg(format!("{}:/opt/bench-client", env.client))
                .arg("--")
                .arg("/opt/bench-client")
                .args(WINDOW_CLIENT)
                // Its own runtime directory: see the latency table.
                .env("XDG_RUNTIME_DIR", &env.scratch.path)
                .env("WAYLAND_DISPLAY", &host.socket);
            let mut out = Lines::new();
            let wsbox = out.spawn(cmd, "wsbox", env)?;
            let pid = wsbox.pid();
            out.window_figures(host.process.pid(), &[pid], wsbox)
        },
    );
    g.extra_ratios
        .push((wsbox_name.into(), waypipe_name.into()));
    let waypipe = available(&["waypipe".to_owned(), "--version".to_owned()]);
    if !waypipe {
        env.skip("the waypipe case of the window table: `waypipe --version` does not run here");
    } else {
        let host = sway.clone();
        g.add(
            waypipe_name.into(),
            Some(direct.into()),
            format!(
                "waypipe --compress none --no-gpu --socket S client (WAYLAND_DISPLAY=<sway>); \
                 waypipe --compress none --no-gpu --socket S server -- bench-client {}",
                WINDOW_CLIENT.join(" ")
            ),
            move |env| {
                let dir = TempDir::new(env.scratch.path.join(env.unique("waypipe")))?;
                let socket = dir.path.join("waypipe.sock");
                let runtime = dir.path.join("run");
                fs::DirBuilder::new()
                    .mode(0o700)
                    .create(&runtime)
                    .map_err(|e| format!("create {}: {e}", runtime.display()))?;
                let opts = ["--compress", "none", "--no-gpu", "--socket"];
                let mut cmd = Command::new("waypipe");
                cmd.args(opts)
                    .arg(&socket)
                    .arg("client")
                    .env("XDG_RUNTIME_DIR", &host.dir)
                    .env("WAYLAND_DISPLAY", &host.socket)
                    .stdout(Stdio::null());
                let mut client = Proc::start(
                    cmd,
                    "waypipe client",
                    true,
                    dir.path.join("client.stderr"),
                    Log::Stderr,
                )?;
                // No probe connection: waypipe client would take it for an
                // application. The kernel's table of Unix sockets says when
                // it listens.
                let up = poll_every(Duration::from_millis(1), Duration::from_secs(10), || {
                    if let Some(status) = client.try_wait() {
                        return Some(Err(format!(
                            "waypipe client ended with {status}{}",
                            client.log_tail()
                        )));
                    }
                    listening(&socket).then_some(Ok(()))
                });
                match up {
                    Some(Ok(())) => {}
                    Some(Err(e)) => return Err(e),
                    None => {
                        return Err(format!(
                            "waypipe client's socket did not listen within 10 s{}",
                            client.log_tail()
                        ))
                    }
                }
                let mut cmd = Command::new("waypipe");
                cmd.args(opts)
                    .arg(&socket)
                    .arg("server")
                    .arg("--")
                    .arg(&env.client)
                    .args(WINDOW_CLIENT)
                    .env("XDG_RUNTIME_DIR", &runtime)
                    .env_remove("WAYLAND_DISPLAY");
                let mut out = Lines::new();
                let server = out.spawn(cmd, "waypipe server", env)?;
                let roots = [client.pid(), server.pid()];
                let figures = out.window_figures(host.process.pid(), &roots, server);
                drop(client);
                figures
            },
        );
    }
    g.notes.push(format!(
        "One sway headless (pixman, as the test user; 1280x800 at {hz} Hz, every window \
         floating, so each client draws its own 1280x720) hosts every run of this table. \
         wsbox's host window adds its 4 px border and 28 px title bar around those 1280x720. \
         CPU is each process's run time from /proc/PID/task/*/schedstat (ns), all threads, \
         between the client's first frame and its summary, per frame the client drew: the \
         host is sway alone; between client and host is the wsbox process with everything it \
         started except the client (its sandbox's init, its helpers), or both waypipe \
         processes with what they forked; host side is the two together; the client's own is \
         its CLOCK_PROCESS_CPUTIME_ID over the same frames."
    ));
    if fast {
        g.notes.push(
            "At 1000 Hz the host no longer sets the pace: the fps is how fast the whole path \
             is, client, intermediary and host sharing 2 cores."
                .into(),
        );
    }
    g
}

/// The memory figures of the compositor `host` once `clients` idle
/// bench-clients started by `command` have drawn their first frame and idled
/// for 2 s; the clients end before the caller's compositor does.
fn rss_with_idle_clients(
    env: &Env,
    host: i32,
    clients: usize,
    command: impl Fn() -> Command,
) -> Result<Vec<f64>, String> {
    let mut out = Lines::new();
    let mut procs = Vec::new();
    for _ in 0..clients {
        procs.push(out.spawn(command(), "bench-client", env)?);
    }
    let mut refs: Vec<&mut Proc> = procs.iter_mut().collect();
    out.first_frames(clients, Duration::from_secs(30), &mut refs)?;
    idle(Duration::from_secs(2), &mut refs)?;
    memory_mib(host)
}

fn ms_since(t0_ns: u128, ns: u128) -> f64 {
    ns.saturating_sub(t0_ns) as f64 / 1e6
}

/// Lets `time` pass, failing if a process ends meanwhile: the memory table
/// measures what the compositor holds after its clients idled that long.
fn idle(time: Duration, procs: &mut [&mut Proc]) -> Result<(), String> {
    let ended = poll_every(Duration::from_millis(20), time, || {
        procs.iter_mut().find_map(|p| {
            p.try_wait()
                .map(|status| format!("{} ended while idle: {status}{}", p.name, p.log_tail()))
        })
    });
    ended.map_or(Ok(()), Err)
}

// ---------------------------------------------------------------------------
// Processes, their output, and /proc.

fn clock_ticks() -> f64 {
    // SAFETY: sysconf reads a constant.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if ticks > 0 {
        ticks as f64
    } else {
        100.0
    }
}

/// utime + stime of the process (all its threads, none of its children).
fn cpu_seconds(pid: i32) -> Result<f64, String> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat"))
        .map_err(|e| format!("read /proc/{pid}/stat: {e}"))?;
    // The command name may hold spaces and parentheses: fields start after the last ')'.
    let rest = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .ok_or_else(|| format!("odd /proc/{pid}/stat: {stat}"))?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // rest starts at field 3 (state); utime and stime are fields 14 and 15.
    let field = |n: usize| -> Result<f64, String> {
        fields
            .get(n - 3)
            .and_then(|f| f.parse::<u64>().ok())
            .map(|v| v as f64)
            .ok_or_else(|| format!("odd /proc/{pid}/stat: {stat}"))
    };
    Ok((field(14)? + field(15)?) / clock_ticks())
}

/// Time on CPU of all the process's threads, from schedstat (ns). A thread
/// that ends during the walk is left out (so is, in a later sample, the
/// time of one that ended since: short-lived threads count too little).
fn schedstat_seconds(pid: i32) -> Option<f64> {
    let mut total = 0u64;
    for task in fs::read_dir(format!("/proc/{pid}/task")).ok()?.flatten() {
        // A thread that ended during the walk is skipped, not the sample.
        let Ok(text) = fs::read_to_string(task.path().join("schedstat")) else {
            continue;
        };
        total += text.split_whitespace().next()?.parse::<u64>().ok()?;
    }
    Some(total as f64 / 1e9)
}

/// VmRSS, RssAnon and RssShmem of the process, in MiB.
fn memory_mib(pid: i32) -> Result<Vec<f64>, String> {
    let status = fs::read_to_string(format!("/proc/{pid}/status"))
        .map_err(|e| format!("read /proc/{pid}/status: {e}"))?;
    ["VmRSS:", "RssAnon:", "RssShmem:"]
        .iter()
        .map(|field| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(field))
                .and_then(|v| v.split_whitespace().next())
                .and_then(|kib| kib.parse::<f64>().ok())
                .map(|kib| kib / 1024.0)
                .ok_or_else(|| format!("no {field} in /proc/{pid}/status"))
        })
        .collect()
}

/// Reaps the orphans that have ended. Called only between case runs, when
/// every [`Proc`] of the run has been reaped, so that no child of ours that
/// a `Proc` still waits for can be taken here.
fn reap_orphans() {
    loop {
        let mut status = 0;
        // SAFETY: waitpid writes only `status`.
        let pid = unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) };
        if pid <= 0 {
            return;
        }
    }
}

/// Gives the remaining orphans `wait` to end, then kills and reaps them.
fn end_orphans(wait: Duration) {
    let gone = poll_every(Duration::from_millis(10), wait, || {
        reap_orphans();
        children().is_empty().then_some(())
    });
    if gone.is_none() {
        let left = children();
        for pid in &left {
            // SAFETY: kill has no memory effects; `pid` is our unreaped
            // child, so it names no other process.
            unsafe { libc::kill(*pid, libc::SIGKILL) };
        }
        for pid in left {
            let mut status = 0;
            // SAFETY: waitpid writes only `status`.
            unsafe { libc::waitpid(pid, &mut status, 0) };
        }
    }
}

/// The bench's children, from /proc/self/task/*/children.
fn children() -> Vec<i32> {
    let Ok(tasks) = fs::read_dir("/proc/self/task") else {
        return Vec::new();
    };
    tasks
        .flatten()
        .filter_map(|t| fs::read_to_string(t.path().join("children")).ok())
        .flat_map(|text| {
            text.split_whitespace()
                .filter_map(|p| p.parse().ok())
                .collect::<Vec<i32>>()
        })
        .collect()
}

enum Msg {
    Line(String),
    Eof,
}

/// The callback id of a `WAYLAND_DEBUG` line `-> wl_surface@3.frame(new id
/// wl_callback@11)` (libwayland's format).
fn frame_callback(line: &str) -> Option<u32> {
    let rest = line.split_once("-> wl_surface@")?.1;
    let id = rest.split_once(".frame(new id wl_callback@")?.1;
    id.split_once(')')?.0.parse().ok()
}

/// The callback id of a `WAYLAND_DEBUG` event line `wl_callback@11.done(37)`.
fn callback_done(line: &str) -> Option<u32> {
    if line.contains("-> ") {
        return None;
    }
    let rest = line.split_once("wl_callback@")?.1;
    rest.split_once(".done(")?.0.parse().ok()
}

/// How long a process that closed its output may take to end.
const EOF_TO_EXIT: Duration = Duration::from_millis(500);

/// The stdout lines of several processes, in arrival order.
struct Lines {
    tx: Sender<Msg>,
    rx: Receiver<Msg>,
    open: usize,
}

impl Lines {
    fn new() -> Self {
        let (tx, rx) = mpsc::channel();
        Lines { tx, rx, open: 0 }
    }

    /// Spawns `cmd` with its stdout read here and its stderr kept in the
    /// scratch directory.
    fn spawn(&mut self, mut cmd: Command, name: &str, env: &Env) -> Result<Proc, String> {
        cmd.stdout(Stdio::piped());
        let stderr = env
            .scratch
            .path
            .join(format!("{}.stderr", env.unique(name)));
        let mut proc = Proc::start(cmd, name, false, stderr, Log::Stderr)?;
        let stdout = proc
            .child
            .stdout
            .take()
            .ok_or_else(|| format!("{name}: no stdout pipe"))?;
        self.read(stdout);
        Ok(proc)
    }

    /// Spawns a Wayland client (or the wsbox running it) whose
    /// `WAYLAND_DEBUG=client` lines, on stderr, are read here.
    fn spawn_debug(&mut self, cmd: Command, name: &str, env: &Env) -> Result<Proc, String> {
        let stdout = env
            .scratch
            .path
            .join(format!("{}.stdout", env.unique(name)));
        let mut proc = Proc::start(cmd, name, false, stdout, Log::StdoutWithStderrPiped)?;
        let stderr = proc
            .child
            .stderr
            .take()
            .ok_or_else(|| format!("{name}: no stderr pipe"))?;
        self.read(stderr);
        Ok(proc)
    }

    fn read(&mut self, out: impl Read + Send + 'static) {
        self.open += 1;
        let tx = self.tx.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                if tx.send(Msg::Line(line)).is_err() {
                    return;
                }
            }
            let _ = tx.send(Msg::Eof);
        });
    }

    /// The next line of any of the processes. `procs` are named in errors.
    fn next(&mut self, deadline: Instant, procs: &mut [&mut Proc]) -> Result<String, String> {
        // The processes that ended, or else the first of those still running.
        let why = |procs: &mut [&mut Proc]| -> String {
            let mut ended = Vec::new();
            let mut running = Vec::new();
            for p in procs.iter_mut() {
                match p.try_wait() {
                    Some(status) => {
                        ended.push(format!("{} ended with {status}{}", p.name, p.log_tail()))
                    }
                    None => running.push(format!("{} still runs{}", p.name, p.log_tail())),
                }
            }
            if ended.is_empty() {
                running.truncate(1);
                running.join("; ")
            } else {
                if !running.is_empty() {
                    ended.push(format!("{} others still run", running.len()));
                }
                ended.join("; ")
            }
        };
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.rx.recv_timeout(left) {
                Ok(Msg::Line(line)) => return Ok(line),
                Ok(Msg::Eof) => {
                    self.open = self.open.saturating_sub(1);
                    // The process that closed its output is about to end:
                    // one that failed ends the wait now, not at the deadline.
                    let ended = poll_every(Duration::from_millis(1), EOF_TO_EXIT, || {
                        procs.iter_mut().find_map(|p| p.try_wait())
                    });
                    let failed = ended.is_some_and(|s| !s.success())
                        || procs
                            .iter_mut()
                            .any(|p| p.try_wait().is_some_and(|s| !s.success()));
                    if self.open == 0 || failed {
                        return Err(format!("output closed early: {}", why(procs)));
                    }
                }
                Err(RecvTimeoutError::Timeout) => {
                    return Err(format!("timed out: {}", why(procs)));
                }
                Err(RecvTimeoutError::Disconnected) => {
                    return Err(format!("lost the output: {}", why(procs)));
                }
            }
        }
    }

    /// CLOCK_MONOTONIC ns of the next `first_frame_ns` line.
    /// The CLOCK_MONOTONIC time at which a client's first frame callback
    /// arrived, from its `WAYLAND_DEBUG=client` lines: the callback a
    /// `wl_surface.frame` request made, and then its `done` event.
    fn first_frame_debug(
        &mut self,
        wait: Duration,
        procs: &mut [&mut Proc],
    ) -> Result<u128, String> {
        let deadline = Instant::now() + wait;
        let mut frames = Vec::new();
        loop {
            let line = self.next(deadline, procs)?;
            let now = monotonic_ns();
            if let Some(id) = frame_callback(&line) {
                frames.push(id);
            } else if let Some(id) = callback_done(&line) {
                if frames.contains(&id) {
                    return Ok(now);
                }
            }
        }
    }

    fn first_frame(&mut self, wait: Duration, procs: &mut [&mut Proc]) -> Result<u128, String> {
        let deadline = Instant::now() + wait;
        loop {
            let line = self.next(deadline, procs)?;
            if let Some(ns) = line.strip_prefix("first_frame_ns ") {
                return ns
                    .trim()
                    .parse()
                    .map_err(|_| format!("odd line from the client: {line}"));
            }
        }
    }

    /// Reads lines until one that starts with each of `prefixes` came.
    fn seen(
        &mut self,
        prefixes: &[&str],
        wait: Duration,
        procs: &mut [&mut Proc],
    ) -> Result<(), String> {
        let deadline = Instant::now() + wait;
        let mut missing: Vec<&str> = prefixes.to_vec();
        while !missing.is_empty() {
            let line = self.next(deadline, procs)?;
            missing.retain(|p| !line.starts_with(p));
        }
        Ok(())
    }

    /// Waits for `n` first frames.
    fn first_frames(
        &mut self,
        n: usize,
        wait: Duration,
        procs: &mut [&mut Proc],
    ) -> Result<(), String> {
        let deadline = Instant::now() + wait;
        for _ in 0..n {
            let left = deadline.saturating_duration_since(Instant::now());
            self.first_frame(left, procs)?;
        }
        Ok(())
    }

    /// Reads one throughput run of a client: fps, and the CPU time per frame
    /// of the compositor `pid` between the first frame and the client's
    /// summary (by stat, then by schedstat). `proc` is the client, or wsbox
    /// holding it; it must end successfully.
    fn throughput(&mut self, pid: i32, mut proc: Proc) -> Result<Vec<f64>, String> {
        self.first_frame(Duration::from_secs(20), &mut [&mut proc])?;
        let cpu0 = cpu_seconds(pid)?;
        let sched0 = schedstat_seconds(pid);
        let deadline = Instant::now() + Duration::from_secs(20);
        let (frames, fps, cpu1, sched1) = loop {
            let line = self.next(deadline, &mut [&mut proc])?;
            let Some(summary) = line.strip_prefix("frames ") else {
                continue;
            };
            // While the client exits, the compositor is still there: read now.
            let cpu1 = cpu_seconds(pid)?;
            let sched1 = schedstat_seconds(pid);
            let words: Vec<&str> = summary.split_whitespace().collect();
            let frames = words.first().and_then(|w| w.parse::<f64>().ok());
            let fps = words.get(4).and_then(|w| w.parse::<f64>().ok());
            match (frames, fps) {
                (Some(frames), Some(fps)) => break (frames, fps, cpu1, sched1),
                _ => return Err(format!("odd line from the client: {line}")),
            }
        };
        proc.finish(Duration::from_secs(10))?;
        let intervals = frames - 1.0;
        if intervals < 1.0 {
            return Err(format!("only {frames} frames"));
        }
        let per_frame = (cpu1 - cpu0) * 1000.0 / intervals;
        let sched = match (sched0, sched1) {
            (Some(a), Some(b)) => (b - a) * 1000.0 / intervals,
            _ => f64::NAN,
        };
        Ok(vec![fps, per_frame, sched])
    }
}

impl Lines {
    /// Reads one run of the window tables: the client's fps and, per frame,
    /// the CPU time of the host `host`, of the processes `between` with all
    /// they started but the client (`[]` when the client talks to the host
    /// directly), of both together, of the client, and of each of `between`
    /// on its own (NaN unless there are two: waypipe's client and server).
    /// `proc` is the client, or what holds it; it must end successfully.
    fn window_figures(
        &mut self,
        host: i32,
        between: &[i32],
        mut proc: Proc,
    ) -> Result<Vec<f64>, String> {
        self.first_frame(Duration::from_secs(20), &mut [&mut proc])?;
        // What runs between client and host, per root, as it is now that
        // the client draws: the processes each root started count with it.
        let table = processes()?;
        let parts: Vec<Vec<i32>> = between
            .iter()
            .map(|&root| {
                descendants(&table, root)
                    .into_iter()
                    .filter(|pid| {
                        table
                            .get(pid)
                            .is_none_or(|(_, comm)| comm != "bench-client")
                    })
                    .collect()
            })
            .collect();
        let sample = |pids: &[i32]| -> Result<f64, String> {
            pids.iter()
                .map(|&pid| {
                    schedstat_seconds(pid).ok_or_else(|| {
                        format!("process {pid} ended before the client's last frame")
                    })
                })
                .sum()
        };
        let host0 = sample(&[host])?;
        let parts0 = parts
            .iter()
            .map(|p| sample(p))
            .collect::<Result<Vec<_>, _>>()?;
        let deadline = Instant::now() + Duration::from_secs(20);
        let (words, host1, parts1) = loop {
            let line = self.next(deadline, &mut [&mut proc])?;
            let Some(summary) = line.strip_prefix("frames ") else {
                continue;
            };
            // The client lingers: everything is still there.
            let host1 = sample(&[host])?;
            let parts1 = parts
                .iter()
                .map(|p| sample(p))
                .collect::<Result<Vec<_>, _>>()?;
            let words: Vec<f64> = summary
                .split_whitespace()
                .filter_map(|w| w.parse::<f64>().ok())
                .collect();
            break (words, host1, parts1);
        };
        proc.finish(Duration::from_secs(10))?;
        // frames <n> seconds <s> fps <f> cpu <c>
        let [frames, _, fps, client_cpu] = words[..] else {
            return Err(format!("odd summary from the client: {words:?}"));
        };
        let intervals = frames - 1.0;
        if intervals < 1.0 {
            return Err(format!("only {frames} frames"));
        }
        let per_frame = |seconds: f64| seconds * 1000.0 / intervals;
        let host = per_frame(host1 - host0);
        let each: Vec<f64> = parts0
            .iter()
            .zip(&parts1)
            .map(|(a, b)| per_frame(b - a))
            .collect();
        // Folded from +0: an empty sum of f64 is -0.
        let between = each.iter().fold(0.0, |a, b| a + b);
        let (first, second) = match each[..] {
            [a, b] => (a, b),
            _ => (f64::NAN, f64::NAN),
        };
        Ok(vec![
            fps,
            host,
            between,
            host + between,
            per_frame(client_cpu),
            first,
            second,
        ])
    }
}

/// Every process: pid → (parent pid, command name).
fn processes() -> Result<std::collections::HashMap<i32, (i32, String)>, String> {
    let mut table = std::collections::HashMap::new();
    for entry in fs::read_dir("/proc").map_err(|e| format!("read /proc: {e}"))? {
        let Some(pid) = entry
            .ok()
            .and_then(|e| e.file_name().to_str().and_then(|n| n.parse::<i32>().ok()))
        else {
            continue;
        };
        // Gone meanwhile: not ours to count.
        let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        let comm = stat[open + 1..close].to_owned();
        // After the name: state, then the parent's pid.
        let ppid = stat[close + 1..]
            .split_whitespace()
            .nth(1)
            .and_then(|p| p.parse::<i32>().ok());
        if let Some(ppid) = ppid {
            table.insert(pid, (ppid, comm));
        }
    }
    Ok(table)
}

/// `root` and every process below it.
fn descendants(table: &std::collections::HashMap<i32, (i32, String)>, root: i32) -> Vec<i32> {
    let mut found = vec![root];
    let mut i = 0;
    while let Some(&parent) = found.get(i) {
        found.extend(
            table
                .iter()
                .filter(|(_, (ppid, _))| *ppid == parent)
                .map(|(&pid, _)| pid),
        );
        i += 1;
    }
    found
}

/// A private 0700 directory under /tmp, removed on drop.
struct Scratch {
    path: PathBuf,
}

impl Scratch {
    fn new() -> std::io::Result<Self> {
        Scratch::sweep();
        let path = std::env::temp_dir().join(format!("wsbox-bench-{}", std::process::id()));
        match fs::remove_dir_all(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        fs::DirBuilder::new().mode(0o700).create(&path)?;
        Ok(Scratch { path })
    }
}

impl Scratch {
    /// Removes what a killed bench left behind: `wsbox-bench-<pid>` of a
    /// pid that no longer runs.
    fn sweep() {
        let Ok(entries) = fs::read_dir(std::env::temp_dir()) else {
            return;
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            let Some(pid) = name
                .to_str()
                .and_then(|n| n.strip_prefix("wsbox-bench-"))
                .and_then(|p| p.parse::<u32>().ok())
            else {
                continue;
            };
            let ours = entry
                .metadata()
                .is_ok_and(|m| m.is_dir() && m.uid() == current_uid());
            if ours && !Path::new(&format!("/proc/{pid}")).exists() {
                let _ = fs::remove_dir_all(entry.path());
            }
        }
    }
}

fn current_uid() -> u32 {
    // SAFETY: no arguments, cannot fail.
    unsafe { libc::geteuid() }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.path);
    }
}

/// A weston headless started for one run, with its own XDG_RUNTIME_DIR
/// under the scratch directory; stopped, with its helper clients, and the
/// directory removed when dropped. Returns once its socket takes
/// connections.
fn start_weston(env: &Env, width: u32, height: u32) -> Result<Weston, String> {
    let socket = env.unique("wsbox-bench-weston");
    let dir = TempDir::new(env.scratch.path.join(&socket))?;
    let mut weston = Weston::start(&dir.path, &socket, (width, height), false)?;
    weston.process.keep(dir);
    Ok(weston)
}

/// A sway headless (pixman) started for one run or one table, as the test
/// user, in a directory of its own with `extra` lines at the end of its
/// config; its clients connect by the absolute socket path (the bench runs
/// as root). Stopped and its directory removed when dropped.
fn start_sway(env: &Env, width: u32, height: u32, extra: &str) -> Result<Sway, String> {
    let user = env.sway.ok_or("no sway user")?;
    // Not under the scratch directory: that is root's, 0700.
    let dir = TempDir::new(std::env::temp_dir().join(env.unique("wsbox-bench-sway")))?;
    std::os::unix::fs::chown(&dir.path, Some(user.0), Some(user.1))
        .map_err(|e| format!("chown {}: {e}", dir.path.display()))?;
    let mut sway = Sway::start(user, &dir.path, (width, height), extra)?;
    sway.process.keep(dir);
    Ok(sway)
}

// ---------------------------------------------------------------------------
// Input latency.// ---------------------------------------------------------------------------
// Input latency.

/// Key presses per run of a latency case.
const PRESSES: usize = 100;

/// Presses a key `PRESSES` times with `press` (which returns the
/// CLOCK_MONOTONIC ns just before the key left), each time waiting for the
/// client's `key <code> 1 <ns>` line (and its release's, before the next
/// press); returns p50 and p99 in ms.
fn key_latency(
    out: &mut Lines,
    procs: &mut [&mut Proc],
    mut press: impl FnMut() -> Result<u128, String>,
) -> Result<Vec<f64>, String> {
    let mut samples = Vec::with_capacity(PRESSES);
    for _ in 0..PRESSES {
        let t0 = press()?;
        let deadline = Instant::now() + Duration::from_secs(5);
        let ns = loop {
            let line = out.next(deadline, procs)?;
            let words: Vec<&str> = line.split_whitespace().collect();
            if let ["key", _, "1", ns] = words.as_slice() {
                break ns
                    .parse::<u128>()
                    .map_err(|_| format!("odd line from the client: {line}"))?;
            }
        };
        samples.push(ms_since(t0, ns));
        loop {
            let line = out.next(deadline, procs)?;
            if let ["key", _, "0", _] = line.split_whitespace().collect::<Vec<_>>()[..] {
                break;
            }
        }
    }
    samples.sort_by(f64::total_cmp);
    let at =
        |q: f64| samples[((samples.len() as f64 * q).ceil() as usize).clamp(1, samples.len()) - 1];
    Ok(vec![at(0.50), at(0.99)])
}

/// Waits for the client's first frame and its keyboard focus (`enter`),
/// and with `host` for the host window `app_id` to have the focus of that
/// sway too (the keys go to wsbox, which passes them on).
fn wait_focused(
    out: &mut Lines,
    procs: &mut [&mut Proc],
    host: Option<(&Sway, &str)>,
) -> Result<(), String> {
    out.seen(
        &["first_frame_ns ", "enter "],
        Duration::from_secs(20),
        procs,
    )?;
    if let Some((sway, app_id)) = host {
        poll_every(Duration::from_millis(10), Duration::from_secs(20), || {
            sway.window(app_id).filter(|w| w.focused)
        })
        .ok_or_else(|| format!("sway never focused {app_id}"))?;
    }
    Ok(())
}

fn latency_group(env: &Env, runs: usize) -> Group {
    let metric = |q: &str, key, print| {
        Metric {
        title: format!("Input latency, {q} of {PRESSES} key presses per run (to the key event's arrival in bench-client)"),
        unit: "ms",
        key,
        suffix: "ms",
        digits: 3,
        print,
    }
    };
    let mut g = Group::new(
        runs,
        vec![
            metric("p50", "latency_p50", true),
            metric("p99", "latency_p99", true),
        ],
    );
    let control_case = |env: &Env, cli: bool| -> Outcome {
        let runtime = TempDir::new(env.scratch.path.join(env.unique("latency")))?;
        let name = env.unique("lat");
        let mut cmd = Command::new(&env.wsbox);
        cmd.args(["run", "--headless", "--name", &name, "--ro"])
            .arg(format!("{}:/opt/bench-client", env.client))
            .args(["--", "/opt/bench-client", "--idle", "--keys"])
            .env("XDG_RUNTIME_DIR", &runtime.path);
        let mut out = Lines::new();
        let mut wsbox = out.spawn(cmd, "wsbox", env)?;
        wait_focused(&mut out, &mut [&mut wsbox], None)?;
        let control = runtime.path.join("wsbox").join(&name).join("control");
        let figures = key_latency(&mut out, &mut [&mut wsbox], || {
            if cli {
                let t0 = monotonic_ns();
                let status = Command::new(&env.wsbox)
                    .args(["input", &name, "key", "a"])
                    .env("XDG_RUNTIME_DIR", &runtime.path)
                    .stdin(Stdio::null())
                    .stdout(Stdio::null())
                    .status()
                    .map_err(|e| format!("wsbox input: {e}"))?;
                return if status.success() {
                    Ok(t0)
                } else {
                    Err(format!("wsbox input ended with {status}"))
                };
            }
            use std::io::Write;
            let mut stream = UnixStream::connect(&control)
                .map_err(|e| format!("connect {}: {e}", control.display()))?;
            let t0 = monotonic_ns();
            stream
                .write_all(b"{\"cmd\":\"input\",\"action\":{\"key\":{\"combo\":\"a\"}}}\n")
                .map_err(|e| format!("write to the control socket: {e}"))?;
            let mut reply = String::new();
            BufReader::new(stream)
                .read_line(&mut reply)
                .map_err(|e| format!("read from the control socket: {e}"))?;
            if !reply.contains("\"ok\":true") {
                return Err(format!("control socket: {}", reply.trim()));
            }
            Ok(t0)
        });
        wsbox.stop();
        figures
    };
    g.add(
        "wsbox input (the CLI)".into(),
        None,
        "wsbox run --headless -- /opt/bench-client --idle --keys; wsbox input NAME key a, \
         timed from spawning it"
            .into(),
        move |env| control_case(env, true),
    );
    g.add(
        "control socket request".into(),
        None,
        "the same, one {\"cmd\":\"input\"} request on the control socket, timed from its write"
            .into(),
        move |env| control_case(env, false),
    );

    if env.sway.is_none() {
        env.skip("the host input cases of the latency table: sway or its user is missing");
        return g;
    }
    let sway = match start_sway(env, 1280, 800, "") {
        Ok(sway) => std::rc::Rc::new(sway),
        Err(e) => {
            eprintln!("bench: FAILED the latency table's host: {e}");
            return g;
        }
    };
    let keyboard = match VirtualKeyboard::new(&sway.socket) {
        Ok(k) => std::rc::Rc::new(std::cell::RefCell::new(k)),
        Err(e) => {
            eprintln!("bench: FAILED the latency table's virtual keyboard: {e}");
            return g;
        }
    };
    let direct = "host key, bench-client on sway";
    let (host, kb) = (sway.clone(), keyboard.clone());
    g.add(
        direct.into(),
        None,
        "zwp_virtual_keyboard_v1 key on a sway headless host, bench-client --keys directly on it"
            .into(),
        move |env| {
            let mut out = Lines::new();
            let mut client = out.spawn(
                env.client_on(&host.dir, &host.socket, &["--idle", "--keys"]),
                "bench-client",
                env,
            )?;
            wait_focused(&mut out, &mut [&mut client], None)?;
            key_latency(&mut out, &mut [&mut client], || kb.borrow_mut().tap())
        },
    );
    let (host, kb) = (sway.clone(), keyboard.clone());
    g.add(
        "host key, through wsbox --display window".into(),
        Some(direct.into()),
        "the same key, bench-client --keys in wsbox run --display window on that host".into(),
        move |env| {
            let name = env.unique("bench");
            let mut cmd = Command::new(&env.wsbox);
            cmd.args(["run", "--display", "window", "--name", &name])
                .arg("--ro")
                .arg(format!("{}:/opt/bench-client", env.client))
                .args(["--", "/opt/bench-client", "--idle", "--keys"])
                // root's own runtime directory, not the test user's sway
                // runs in (0700): once confined, wsbox has no capability
                // to enter that one, and it writes the keymap for
                // bench-client's wl_keyboard (version < 7) to a temporary
                // file in its runtime directory. The host by its socket's
                // absolute path.
                .env("XDG_RUNTIME_DIR", &env.scratch.path)
                .env("WAYLAND_DISPLAY", &host.socket);
            let mut out = Lines::new();
            let mut wsbox = out.spawn(cmd, "wsbox", env)?;
            let app_id = format!("wsbox.{name}");
            wait_focused(&mut out, &mut [&mut wsbox], Some((&host, &app_id)))?;
            key_latency(&mut out, &mut [&mut wsbox], || kb.borrow_mut().tap())
        },
    );
    g.notes.push(
        "Each run starts the client, waits for its first frame, then presses and releases a key \
         100 times; the client stamps each wl_keyboard.key with CLOCK_MONOTONIC. The host cases \
         share one sway headless (as the test user) and one virtual keyboard of the bench's; \
         the difference between them is what wsbox's window mode adds."
            .into(),
    );
    g
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;

    /// Threads starting and ending all the time (as a compositor's helper
    /// threads may) do not make a sample fail.
    #[test]
    fn schedstat_survives_threads_ending_during_the_walk() {
        let stop = Arc::new(AtomicBool::new(false));
        let churn = {
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let short: Vec<_> = (0..4).map(|_| std::thread::spawn(|| {})).collect();
                    for t in short {
                        let _ = t.join();
                    }
                }
            })
        };
        let pid = i32::try_from(std::process::id()).unwrap_or(i32::MAX);
        let misses = (0..3000)
            .filter(|_| schedstat_seconds(pid).is_none())
            .count();
        stop.store(true, Ordering::Relaxed);
        let _ = churn.join();
        assert_eq!(misses, 0, "{misses} of 3000 samples failed");
    }
}
