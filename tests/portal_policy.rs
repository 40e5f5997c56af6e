//! End-to-end tests of what the policy's `[portal]` section says (issue
//! 17), with tests/portal/client.py as the app: the settings, network and
//! proxy the portal tells it, and the places the portal never grants,
//! whatever the user chooses.
//!
//! Run as root, as CI does. Needs `cargo build --workspace --bins`,
//! dbus-daemon and python3-gi. A test that cannot run here prints
//! `SKIPPED: <test>: <reason>` and passes, unless CI=true or
//! WSBOX_MUST_WORK=1, where it fails instead.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "portal/client.rs"]
mod client;
#[path = "portal/harness.rs"]
mod harness;

use std::fs;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::PathBuf;

use serde_json::json;

use client::*;
use harness::*;

// ---------------------------------------------------------------------------
// What the policy says: settings, places never granted
// ---------------------------------------------------------------------------

/// With `[portal.settings] color_scheme = "prefer-dark"`: ReadOne gives 1,
/// Read the same inside two variants, ReadAll the namespace; an unknown key
/// or namespace is NotFound. ProxyResolver says direct, NetworkMonitor no
/// network (the sandbox has none), and GLib itself chooses the portal's
/// network monitor and proxy resolver.
#[test]
fn settings_network_and_proxy_come_from_the_policy() {
    let test = "settings_network_and_proxy_come_from_the_policy";
    if !ready_for_client(test) {
        return;
    }
    let dir = scratch(test);
    let policy = dir.join("dark.toml");
    fs::write(
        &policy,
        "[portal.settings]\ncolor_scheme = \"prefer-dark\"\n",
    )
    .unwrap();
    let mut c = Client::start(test, &dir, &["--policy", policy.to_str().unwrap()]);
    c.connect("a");
    let scheme = "('org.freedesktop.appearance', 'color-scheme')";
    let answer = c.portal("a", "Settings", "ReadOne", scheme);
    assert_eq!(answer["reply"], "(<uint32 1>,)", "ReadOne: {answer}");
    let answer = c.portal("a", "Settings", "Read", scheme);
    assert_eq!(answer["reply"], "(<<uint32 1>>,)", "Read: {answer}");
    let answer = c.portal(
        "a",
        "Settings",
        "ReadOne",
        "('org.gnome.desktop.interface', 'color-scheme')",
    );
    assert_eq!(answer["reply"], "(<'prefer-dark'>,)", "{answer}");
    let answer = c.portal(
        "a",
        "Settings",
        "ReadAll",
        "(['org.freedesktop.appearance'],)",
    );
    assert_eq!(
        answer["value"],
        json!([{"org.freedesktop.appearance": {"color-scheme": 1}}]),
        "ReadAll: {answer}"
    );
    for unknown in [
        "('org.freedesktop.appearance', 'nope')",
        "('org.gnome.desktop.background', 'picture-uri')",
    ] {
        let answer = c.portal("a", "Settings", "ReadOne", unknown);
        assert_eq!(
            error(&answer),
            "org.freedesktop.portal.Error.NotFound",
            "{unknown}: {answer}"
        );
        let answer = c.portal("a", "Settings", "Read", unknown);
        assert_eq!(
            error(&answer),
            "org.freedesktop.portal.Error.NotFound",
            "{unknown}: {answer}"
        );
    }
    let answer = c.portal("a", "ProxyResolver", "Lookup", "('https://example.org/',)");
    assert_eq!(answer["value"], json!([["direct://"]]), "{answer}");
    let answer = c.portal("a", "NetworkMonitor", "GetAvailable", "()");
    assert_eq!(answer["value"], json!([false]), "{answer}");
    let answer = c.portal("a", "NetworkMonitor", "GetConnectivity", "()");
    assert_eq!(answer["value"], json!([1]), "local only: {answer}");
    for (iface, version) in [("Settings", 2), ("FileChooser", 3), ("NetworkMonitor", 3)] {
        let args = format!("('org.freedesktop.portal.{iface}', 'version')");
        let answer = c.call(
            "a",
            PORTAL,
            PORTAL_PATH,
            "org.freedesktop.DBus.Properties",
            "Get",
            &args,
        );
        assert_eq!(
            answer["reply"],
            format!("(<uint32 {version}>,)"),
            "{iface}: {answer}"
        );
    }
    let glib = c.ask(json!({"op": "glib"}));
    assert_eq!(glib["network_monitor"], "GNetworkMonitorPortal", "{glib}");
    assert_eq!(glib["proxy_resolver"], "GProxyResolverPortal", "{glib}");
    assert_eq!(glib["network_available"], false, "{glib}");
    let out = c.finish();
    assert_eq!(out.code(), Some(0), "{out}");
    assert_quiet(&out, &[]);
}

/// A directory with a secret file in the policy's `[portal] never`, a
/// symlink to the secret beside it, and a plain file.
fn never_setup(test: &str) -> (PathBuf, String) {
    let dir = scratch(test);
    let secret = dir.join("secret");
    testkit::make_dir(&secret, 0o755);
    fs::write(secret.join("key.txt"), "top secret\n").unwrap();
    fs::set_permissions(secret.join("key.txt"), fs::Permissions::from_mode(0o644)).unwrap();
    symlink(secret.join("key.txt"), dir.join("link.txt")).unwrap();
    fs::write(dir.join("plain.txt"), "plain\n").unwrap();
    fs::set_permissions(dir.join("plain.txt"), fs::Permissions::from_mode(0o644)).unwrap();
    let policy = dir.join("never.toml");
    fs::write(
        &policy,
        format!("[portal]\nnever = [\"{}\"]\n", secret.display()),
    )
    .unwrap();
    let policy = policy.to_str().unwrap().to_owned();
    (dir, policy)
}

/// `[portal] never`: the user's choice of a never-listed file, of a
/// symlink to it, of the never-listed directory itself, or of a file under
/// /proc is refused with a line on stderr (wsbox choose's and wsbox's),
/// the app gets response 2 and nothing is granted. A plain file chosen
/// next is granted as usual.
#[test]
fn never_listed_paths_are_refused() {
    let test = "never_listed_paths_are_refused";
    if !ready_for_client(test) {
        return;
    }
    let (dir, policy) = never_setup(test);
    let mut c = Client::start(test, &dir, &["--policy", &policy]);
    let name = c.name.clone();
    c.connect("a");
    let app = app_pid(&name, "python3");
    let at_start = granted(app);
    let secret = dir.join("secret");
    let cases = [
        (secret.join("key.txt"), false, "the secret"),
        (dir.join("link.txt"), false, "a symlink to the secret"),
        (secret.clone(), true, "the secret's directory"),
        ("/proc/version".into(), false, "a file of /proc"),
    ];
    for (i, (path, is_dir, what)) in cases.iter().enumerate() {
        let token = format!("n{i}");
        let options = if *is_dir {
            format!("{{'handle_token': <'{token}'>, 'directory': <true>}}")
        } else {
            format!("{{'handle_token': <'{token}'>}}")
        };
        let handle = c.ask_for_file("a", "OpenFile", &format!("('', '{token}', {options})"));
        let request = wait_for_request(&name, what, |r| r["title"] == token.as_str());
        let mut args = vec![id_of(&request)];
        if *is_dir {
            args.push("--dir".into());
        }
        args.push(path.to_str().unwrap().into());
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = choose(&name, &args);
        assert!(!out.status.success(), "{what} was granted\n{out}");
        assert!(
            out.stderr.contains("is never granted through the portal"),
            "{what}\n{out}"
        );
        let response = c.response_to("a", &handle);
        assert_eq!(response["code"], 2, "{what}: {response}");
        assert_eq!(response["results"]["uris"], json!([]), "{what}: {response}");
        assert_eq!(granted(app), at_start, "{what}: granted");
    }
    // The next choice is granted as usual.
    let handle = c.ask_for_file(
        "a",
        "OpenFile",
        "('', 'plain', {'handle_token': <'plain'>})",
    );
    let request = wait_for_request(&name, "the plain file", |r| r["title"] == "plain");
    let out = choose(
        &name,
        &[&id_of(&request), dir.join("plain.txt").to_str().unwrap()],
    );
    assert!(out.status.success(), "{out}");
    let response = c.response_to("a", &handle);
    assert_eq!(response["code"], 0, "{response}");
    let doc = out.stdout.trim().to_owned();
    assert_eq!(c.read(&doc)["text"], "plain\n");
    let out = c.finish();
    assert_eq!(out.code(), Some(0), "{out}");
    let refusals = out
        .stderr
        .lines()
        .filter(|l| l.starts_with("wsbox: refused to grant"))
        .count();
    assert_eq!(refusals, cases.len(), "{out}");
    assert_quiet(
        &out,
        &[
            "wsbox: refused to grant",
            "a file request of the app failed",
        ],
    );
}

/// A directory chosen for the app that holds a never-listed one would
/// hand the app what the policy never grants: it is refused, as the
/// never-listed directory itself is, and the secret stays out of reach.
#[test]
fn a_folder_holding_a_never_listed_path_is_refused() {
    let test = "a_folder_holding_a_never_listed_path_is_refused";
    if !ready_for_client(test) {
        return;
    }
    let (dir, policy) = never_setup(test);
    let mut c = Client::start(test, &dir, &["--policy", &policy]);
    let name = c.name.clone();
    c.connect("a");
    let app = app_pid(&name, "python3");
    let handle = c.ask_for_file(
        "a",
        "OpenFile",
        "('', 'folder', {'handle_token': <'folder'>, 'directory': <true>})",
    );
    let request = wait_for_request(&name, "the folder request", |r| r["title"] == "folder");
    let out = choose(&name, &[&id_of(&request), "--dir", dir.to_str().unwrap()]);
    let reachable: Vec<String> = granted(app)
        .into_iter()
        .filter(|p| p.ends_with("secret/key.txt"))
        .collect();
    assert!(
        reachable.is_empty(),
        "the app can reach the secret at {reachable:?}\n{out}"
    );
    assert!(!out.status.success(), "the folder was granted\n{out}");
    assert_eq!(c.response_to("a", &handle)["code"], 2);
    let out = c.finish();
    assert_eq!(out.code(), Some(0), "{out}");
}
