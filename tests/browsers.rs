//! Browsers' own sandboxes inside wsbox: with the policy's `[security]
//! nested_userns`, Chromium starts with its sandbox (no `--no-sandbox`)
//! and Firefox's content processes keep their user namespace; without it
//! neither has one. Real Debian programs: chromium and firefox-esr.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use testkit::{have_programs, output, root_dir, scratch_in, wsbox_command, Out};

const LIMIT: Duration = Duration::from_secs(120);

/// A scratch directory with a local page and the nested-userns policy.
fn setup(test: &str) -> (PathBuf, PathBuf, PathBuf) {
    let dir = scratch_in(root_dir("browsers", true), test, 0o755);
    let page = dir.join("page.html");
    std::fs::write(
        &page,
        "<html><head><title>wsbox page</title></head><body><p id=\"x\">nested ok</p></body></html>\n",
    )
    .unwrap();
    let policy = dir.join("nested.toml");
    std::fs::write(&policy, "[security]\nnested_userns = true\n").unwrap();
    (dir, page, policy)
}

fn runtime(dir: &Path) -> PathBuf {
    let run = dir.join("run");
    std::fs::create_dir_all(&run).unwrap();
    std::fs::set_permissions(&run, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
    run
}

fn run(dir: &Path, args: &[&str]) -> Out {
    output(wsbox_command(&runtime(dir), args), LIMIT)
}

#[test]
fn chromium_keeps_its_sandbox_only_with_nested_user_namespaces() {
    let test = "chromium_keeps_its_sandbox_only_with_nested_user_namespaces";
    if !have_programs(test, &["chromium"]) {
        return;
    }
    let (dir, page, policy) = setup("chromium");
    let page = page.to_str().unwrap();
    let dump = [
        "chromium",
        "--headless",
        "--disable-gpu",
        "--dump-dom",
        page,
    ];

    let mut args = vec!["run", "--display", "none", "--policy"];
    args.push(policy.to_str().unwrap());
    args.push("--");
    args.extend(dump);
    let out = run(&dir, &args);
    assert_eq!(out.code(), Some(0), "{out}");
    assert!(out.stdout.contains("nested ok"), "no DOM dumped\n{out}");
    assert!(!out.stderr.contains("No usable sandbox"), "{out}");

    // The default policy: Chromium finds no sandbox and refuses to start.
    let mut args = vec!["run", "--display", "none", "--"];
    args.extend(dump);
    let out = run(&dir, &args);
    assert_ne!(out.code(), Some(0), "{out}");
    assert!(out.stderr.contains("No usable sandbox"), "{out}");
}

#[test]
fn firefox_s_content_processes_get_user_namespaces_only_with_the_switch() {
    let test = "firefox_s_content_processes_get_user_namespaces_only_with_the_switch";
    if !have_programs(test, &["firefox-esr"]) {
        return;
    }
    let (dir, page, policy) = setup("firefox");
    let page = page.to_str().unwrap();
    // Firefox's sandbox log says when its check of user namespaces fails;
    // the page's window shows that its content process ran.
    let failure = "CanCreateUserNamespace() clone() failure";
    let firefox = |policy: Option<&str>| {
        let mut args = vec!["run", "--headless", "--timeout", "15"];
        if let Some(policy) = policy {
            args.extend(["--policy", policy]);
        }
        args.extend([
            "--env",
            "MOZ_SANDBOX_LOGGING=1",
            "--",
            "firefox-esr",
            "--no-remote",
            page,
        ]);
        run(&dir, &args)
    };
    let out = firefox(Some(policy.to_str().unwrap()));
    assert_eq!(out.code(), Some(124), "{out}");
    assert!(!out.stderr.contains(failure), "{out}");
    assert!(
        out.stderr.contains("Sandbox:"),
        "no sandbox log at all\n{out}"
    );

    let out = firefox(None);
    assert_eq!(out.code(), Some(124), "{out}");
    assert!(out.stderr.contains(failure), "{out}");
}
