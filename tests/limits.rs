//! End-to-end tests of the resource limits (`[limits]`, `--memory`,
//! `--tasks`, `--tmpfs`): a fork bomb, a memory hog and a full /tmp inside
//! take their own sandbox down, not the machine, and `wsbox ps --json`
//! shows the use against the limits.
//!
//! Sandboxes run as root and as the unprivileged test user. The sandboxes'
//! cgroups need a cgroup wsbox may write below: root's anywhere, the user's
//! in a subtree delegated to them, which `make test` sets up
//! (scripts/delegate-cgroup.py) as a desktop's systemd does. Without one
//! the cgroup tests say so (`SKIPPED`), and fail under CI=true or
//! WSBOX_MUST_WORK=1. The tests of what holds without a cgroup move the
//! user's wsbox out of the delegated subtree first.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use testkit::{output, poll, skip, Out, Running, Who};

const RUN_LIMIT: Duration = Duration::from_secs(60);

fn root_dir() -> &'static Path {
    testkit::root_dir("limits", false)
}

fn wsbox_bin() -> PathBuf {
    testkit::shared_copy(&testkit::wsbox_exe())
}

/// Runs wsbox as one identity, with its own runtime directory.
#[derive(Debug, Clone)]
struct Runner {
    user: Option<(u32, u32)>,
    dir: PathBuf,
}

fn runner(test: &str, who: Who) -> Option<Runner> {
    if testkit::euid() != 0 {
        skip(test, "not running as root (the test switches users)");
        return None;
    }
    let user = match who {
        Who::Root => None,
        Who::User => match testkit::test_user() {
            Ok(ids) => Some(ids),
            Err(why) => {
                skip(test, &why);
                return None;
            }
        },
    };
    let dir = match user {
        Some(user) => testkit::scratch_for(root_dir(), test, user),
        None => testkit::scratch_in(root_dir(), test, 0o700),
    };
    Some(Runner { user, dir })
}

impl Runner {
    fn env(&self, cmd: &mut Command) {
        cmd.env_clear()
            .env("PATH", "/usr/local/bin:/usr/bin:/bin")
            .env("HOME", &self.dir)
            .env("XDG_RUNTIME_DIR", &self.dir)
            .env("LANG", "C.UTF-8")
            .current_dir(&self.dir)
            .stdin(Stdio::null());
    }

    fn wsbox(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(wsbox_bin());
        cmd.args(args);
        self.env(&mut cmd);
        if let Some((uid, gid)) = self.user {
            cmd.uid(uid).gid(gid);
        }
        cmd
    }

    /// `wsbox ARGS` as this identity, started from the cgroup above the
    /// delegated one (root's): where a user may make no cgroup.
    fn wsbox_undelegated(&self, args: &[&str]) -> Command {
        let mut script = String::new();
        for procs in undelegated_procs() {
            script.push_str(&format!("echo $$ > {} && ", procs.display()));
        }
        script.push_str("exec \"$@\"");
        let mut cmd = Command::new("/bin/sh");
        cmd.args(["-c", &script, "sh"]);
        if let Some((uid, gid)) = self.user {
            cmd.args([
                "setpriv",
                &format!("--reuid={uid}"),
                &format!("--regid={gid}"),
                "--clear-groups",
            ]);
        }
        cmd.arg(wsbox_bin()).args(args);
        self.env(&mut cmd);
        cmd
    }

    /// The sandbox `name`'s entry of `wsbox ps --json`, once it is there
    /// with its limits (wsbox writes them just after it names the
    /// sandbox).
    fn ps_entry(&self, name: &str) -> serde_json::Value {
        poll(Duration::from_secs(20), || {
            let out = output(self.wsbox(&["ps", "--json"]), RUN_LIMIT);
            let list: serde_json::Value = serde_json::from_str(&out.stdout).ok()?;
            list.as_array()?
                .iter()
                .find(|e| e["name"] == name && e["limits"].is_object())
                .cloned()
        })
        .unwrap_or_else(|| panic!("{name} never showed in wsbox ps"))
    }
}

/// The cgroup.procs files of the cgroups just above the delegated ones this
/// test runs in (none when it runs in no delegated cgroup).
fn undelegated_procs() -> Vec<PathBuf> {
    cgroup_dirs()
        .into_iter()
        .filter(|d| {
            d.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("wsbox-delegated-"))
        })
        .filter_map(|d| d.parent().map(|p| p.join("cgroup.procs")))
        .collect()
}

/// The directories of this process's cgroups that wsbox uses (v2's, or
/// v1's memory, pids and cpu).
fn cgroup_dirs() -> Vec<PathBuf> {
    let text = std::fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
    let mut dirs = Vec::new();
    for line in text.lines() {
        let mut parts = line.splitn(3, ':');
        let (Some(_), Some(names), Some(path)) = (parts.next(), parts.next(), parts.next()) else {
            continue;
        };
        let base = match names {
            "" => {
                let unified = ["/sys/fs/cgroup/unified", "/sys/fs/cgroup"]
                    .into_iter()
                    .find(|d| Path::new(d).join("cgroup.controllers").exists());
                match unified {
                    Some(d) => d.to_owned(),
                    None => continue,
                }
            }
            "memory" | "pids" | "cpu" | "cpu,cpuacct" => format!("/sys/fs/cgroup/{names}"),
            _ => continue,
        };
        dirs.push(Path::new(&base).join(path.trim_start_matches('/')));
    }
    dirs
}

/// Whether a sandbox of `runner` gets a cgroup here; says why not.
fn has_cgroup(test: &str, runner: &Runner) -> bool {
    let out = output(
        runner.wsbox(&["run", "--display", "none", "--", "true"]),
        RUN_LIMIT,
    );
    assert_eq!(out.code(), Some(0), "a plain sandbox fails\n{out}");
    if out.stderr.contains("can have no cgroup") {
        skip(
            test,
            &format!(
                "no cgroup for sandboxes here (make test delegates one): {}",
                out.stderr.trim()
            ),
        );
        return false;
    }
    true
}

fn number(value: &serde_json::Value) -> u64 {
    value
        .as_u64()
        .unwrap_or_else(|| panic!("not a number: {value}"))
}

fn fork_bomb_stays_at_its_limit_and_others_still_start(who: Who, test: &str) {
    let Some(r) = runner(test, who) else { return };
    if !has_cgroup(test, &r) {
        return;
    }
    let name = format!("bomb-{}", who_name(who));
    let bomb = Running::start(r.wsbox(&[
        "run",
        "--display",
        "none",
        "--name",
        &name,
        "--tasks",
        "128",
        "--timeout",
        "60",
        "--grace",
        "0",
        "--",
        "bash",
        "-c",
        ":(){ :|:& };:; sleep 60",
    ]));
    // The bomb reaches its limit, and stays there.
    let full = poll(Duration::from_secs(30), || {
        let entry = r.ps_entry(&name);
        let tasks = number(&entry["use"]["tasks"]);
        (tasks >= 120).then_some(entry)
    })
    .unwrap_or_else(|| panic!("the bomb never filled its tasks\n{}", bomb.stderr_so_far()));
    assert_eq!(number(&full["limits"]["tasks"]), 128, "{full}");
    // Meanwhile another sandbox starts and ends as usual.
    let started = Instant::now();
    let other = output(
        r.wsbox(&["run", "--display", "none", "--", "true"]),
        RUN_LIMIT,
    );
    let took = started.elapsed();
    assert_eq!(other.code(), Some(0), "{other}");
    assert!(
        took < Duration::from_secs(2),
        "a second sandbox took {took:?} beside the bomb"
    );
    for _ in 0..3 {
        let tasks = number(&r.ps_entry(&name)["use"]["tasks"]);
        assert!(tasks <= 128, "the bomb has {tasks} tasks, over its 128");
    }
    let stop = output(r.wsbox(&["stop", &name]), RUN_LIMIT);
    assert_eq!(stop.code(), Some(0), "{stop}");
    let out = bomb.finish(RUN_LIMIT);
    assert!(
        out.code().is_some(),
        "the bomb's wsbox did not exit on its own\n{out}"
    );
    assert_no_cgroup_left(&name);
}

fn who_name(who: Who) -> &'static str {
    match who {
        Who::Root => "root",
        Who::User => "user",
    }
}

/// The sandbox's cgroup is gone once wsbox has ended.
fn assert_no_cgroup_left(name: &str) {
    for dir in cgroup_dirs() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let middle = entry.path();
            if !entry.file_name().to_string_lossy().starts_with("wsbox-") {
                continue;
            }
            let prefix = format!("{name}-");
            for leaf in std::fs::read_dir(&middle).into_iter().flatten().flatten() {
                assert!(
                    !leaf.file_name().to_string_lossy().starts_with(&prefix),
                    "{} is left behind",
                    leaf.path().display()
                );
            }
        }
    }
}

fn memory_hog_is_killed_in_its_cgroup(who: Who, test: &str) {
    let Some(r) = runner(test, who) else { return };
    if !has_cgroup(test, &r) {
        return;
    }
    let name = format!("hog-{}", who_name(who));
    // Twice the limit, each page touched.
    let out = output(
        r.wsbox(&[
            "run",
            "--display",
            "none",
            "--name",
            &name,
            "--memory",
            "128M",
            "--",
            "python3",
            "-c",
            "b = bytearray(256 << 20)\nfor i in range(0, len(b), 4096): b[i] = 1\nprint('survived')",
        ]),
        RUN_LIMIT,
    );
    assert_eq!(out.code(), Some(137), "the hog was not killed\n{out}");
    assert!(!out.stdout.contains("survived"), "{out}");
    let line = format!("wsbox: sandbox {name}: out of memory, app killed");
    assert_eq!(
        out.stderr.lines().filter(|l| *l == line).count(),
        1,
        "no single report line\n{out}"
    );
    assert_no_cgroup_left(&name);

    // A child killed, the app going on: said so, and the app's status.
    let out = output(
        r.wsbox(&[
            "run",
            "--display",
            "none",
            "--name",
            &name,
            "--memory",
            "128M",
            "--",
            "sh",
            "-c",
            "python3 -c 'b = bytearray(256 << 20)\nfor i in range(0, len(b), 4096): b[i] = 1'; \
             echo after $?",
        ]),
        RUN_LIMIT,
    );
    assert_eq!(out.code(), Some(0), "{out}");
    assert_eq!(out.stdout.trim(), "after 137", "{out}");
    assert!(
        out.stderr.lines().any(|l| l
            == format!(
                "wsbox: sandbox {name}: out of memory; the kernel killed 1 of its processes, \
                 the app went on"
            )),
        "{out}"
    );
}

fn filling_tmp_stops_at_the_tmpfs_cap(who: Who, test: &str) {
    let Some(r) = runner(test, who) else { return };
    if !has_cgroup(test, &r) {
        return;
    }
    let name = format!("fill-{}", who_name(who));
    let full = Running::start(r.wsbox(&[
        "run",
        "--display",
        "none",
        "--name",
        &name,
        "--tmpfs",
        "64M",
        "--timeout",
        "60",
        "--grace",
        "0",
        "--",
        "sh",
        "-c",
        "dd if=/dev/zero of=/tmp/fill bs=1M count=200 2>&1; \
         echo shm: $(dd if=/dev/zero of=/dev/shm/more bs=1M count=1 2>&1 | head -1); \
         echo size: $(stat -c %s /tmp/fill); echo full; sleep 60",
    ]));
    let said = poll(Duration::from_secs(30), || {
        let so_far = full.stdout_so_far();
        so_far.contains("full\n").then_some(so_far)
    })
    .unwrap_or_else(|| panic!("dd never ended\n{}", full.stderr_so_far()));
    assert!(said.contains("No space left on device"), "{said}");
    let size: u64 = said
        .lines()
        .find_map(|l| l.strip_prefix("size: "))
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or_else(|| panic!("no size\n{said}"));
    assert!(
        ((60 << 20)..=(64 << 20)).contains(&size),
        "/tmp took {size} bytes, the cap is 64 MiB\n{said}"
    );
    // /dev/shm is the same space: full too.
    assert!(
        said.lines()
            .any(|l| l.starts_with("shm: ") && l.contains("No space left")),
        "{said}"
    );
    // On the host: the sandbox's memory (its tmpfs pages included) is the
    // cap and little more, and ps says so against its limits.
    let entry = r.ps_entry(&name);
    let memory = number(&entry["use"]["memory"]);
    assert!(
        (size..size + (48 << 20)).contains(&memory),
        "the sandbox uses {memory} bytes with {size} in /tmp\n{entry}"
    );
    assert_eq!(number(&entry["limits"]["tmpfs"]), 64 << 20, "{entry}");
    assert!(number(&entry["limits"]["memory"]) > 64 << 20, "{entry}");
    assert!(number(&entry["limits"]["files"]) > 0, "{entry}");
    let stop = output(r.wsbox(&["stop", &name]), RUN_LIMIT);
    assert_eq!(stop.code(), Some(0), "{stop}");
    full.finish(RUN_LIMIT);
    assert_no_cgroup_left(&name);
}

/// Root may make a cgroup anywhere: only the user's wsbox can lack one.
#[test]
fn without_a_cgroup_what_can_be_set_still_is() {
    let test = "without_a_cgroup_what_can_be_set_still_is";
    let Some(r) = runner(test, Who::User) else {
        return;
    };
    let out = output(
        r.wsbox_undelegated(&[
            "run",
            "--display",
            "none",
            "--tasks",
            "32",
            "--tmpfs",
            "8M",
            "--",
            "sh",
            "-c",
            "ulimit -n; dd if=/dev/zero of=/tmp/f bs=1M count=20 2>&1 | grep -v records; \
             i=0; while [ $i -lt 64 ]; do sleep 5 & i=$((i+1)); done; echo spawned",
        ]),
        RUN_LIMIT,
    );
    let warnings: Vec<&str> = out
        .stderr
        .lines()
        .filter(|l| l.starts_with("wsbox: warning:"))
        .collect();
    assert_eq!(
        warnings,
        [format!(
            "wsbox: warning: the sandbox's memory and cpu_weight are not limited: it can have \
             no cgroup ({}); set limits.required = true to refuse such a start",
            reason(&out)
        )],
        "{out}"
    );
    // Open files and the tmpfs cap hold; the tasks hit RLIMIT_NPROC.
    assert!(out.stdout.starts_with("8192\n"), "{out}");
    assert!(out.stdout.contains("No space left on device"), "{out}");
    assert!(out.stdout.contains("(8.4 MB, 8.0 MiB) copied"), "{out}");
    assert!(!out.stdout.contains("spawned"), "{out}");
    assert!(out.stderr.contains("Cannot fork"), "{out}");

    // required = true refuses to start, with one line.
    let policy = r.dir.join("required.toml");
    std::fs::write(&policy, "[limits]\nrequired = true\n").unwrap();
    if let Some((uid, gid)) = r.user {
        std::os::unix::fs::chown(&policy, Some(uid), Some(gid)).unwrap();
    }
    let out = output(
        r.wsbox_undelegated(&[
            "run",
            "--display",
            "none",
            "--policy",
            policy.to_str().unwrap(),
            "--",
            "true",
        ]),
        RUN_LIMIT,
    );
    assert_eq!(out.code(), Some(125), "{out}");
    assert_eq!(
        out.stderr.trim(),
        format!(
            "wsbox: limits.required: the sandbox can have no cgroup ({}), so its memory and \
             cpu_weight cannot be limited",
            reason(&out)
        ),
        "{out}"
    );
}

/// The reason in wsbox's `(…)` after "no cgroup".
fn reason(out: &Out) -> String {
    let text = &out.stderr;
    let start = text
        .find("no cgroup (")
        .unwrap_or_else(|| panic!("no reason given\n{out}"))
        + "no cgroup (".len();
    let end = text[start..].find(')').unwrap() + start;
    let reason = text[start..end].to_owned();
    assert!(reason.contains("not delegated"), "{out}");
    reason
}

testkit::as_root_and_user!(
    fork_bomb_stays_at_its_limit_and_others_still_start,
    memory_hog_is_killed_in_its_cgroup,
    filling_tmp_stops_at_the_tmpfs_cap,
);
