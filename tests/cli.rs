//! The generated man pages and completion scripts name every command and
//! option that `wsbox --help` lists, for every command.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use testkit::output;

const LIMIT: Duration = Duration::from_secs(30);

fn wsbox(args: &[&str]) -> String {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_wsbox"));
    cmd.args(args);
    let out = output(cmd, LIMIT);
    assert_eq!(out.status.code(), Some(0), "wsbox {args:?}\n{out}");
    out.stdout
}

/// The subcommands and long options a `--help` text lists.
fn listed(help: &str) -> (Vec<String>, Vec<String>) {
    let mut section = "";
    let (mut commands, mut options) = (Vec::new(), Vec::new());
    for line in help.lines() {
        if line.trim().is_empty() {
            continue;
        }
        if !line.starts_with(' ') {
            section = line.trim_end_matches(':');
            continue;
        }
        // An entry starts within the first few columns; its description
        // (in --help's long form, on the lines below) is indented deeper.
        let indent = line.len() - line.trim_start().len();
        let first = line.split_whitespace().next().unwrap_or("");
        match section {
            "Commands" if indent <= 2 && first != "help" => commands.push(first.to_owned()),
            "Options" if indent <= 6 && first.starts_with('-') => {
                if let Some(long) = line.split_whitespace().find(|w| w.starts_with("--")) {
                    options.push(long.trim_end_matches(',').to_owned());
                }
            }
            _ => {}
        }
    }
    (commands, options)
}

/// roff's spelling of an option: every `-` escaped.
fn roff(option: &str) -> String {
    option.replace('-', "\\-")
}

#[test]
fn man_pages_name_every_command_and_option() {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("man-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    wsbox(&["man", dir.to_str().unwrap()]);
    let mut todo = vec![Vec::<String>::new()];
    let mut pages = 0;
    while let Some(path) = todo.pop() {
        let mut args: Vec<&str> = path.iter().map(String::as_str).collect();
        args.push("--help");
        let (commands, options) = listed(&wsbox(&args));
        let page_name = std::iter::once("wsbox")
            .chain(path.iter().map(String::as_str))
            .collect::<Vec<_>>()
            .join("-");
        let page = std::fs::read_to_string(dir.join(format!("{page_name}.1")))
            .unwrap_or_else(|e| panic!("no man page {page_name}.1: {e}"));
        assert!(
            options.iter().any(|o| o == "--help"),
            "{args:?} lists no options"
        );
        for option in &options {
            assert!(
                page.contains(&roff(option)),
                "{page_name}.1 does not name {option}"
            );
        }
        for command in commands {
            assert!(
                page.contains(&roff(&command)),
                "{page_name}.1 does not name its command {command}"
            );
            let mut sub = path.clone();
            sub.push(command);
            todo.push(sub);
        }
        pages += 1;
    }
    let written = std::fs::read_dir(&dir).unwrap().count();
    assert_eq!(written, pages, "pages written against commands listed");
    assert!(pages > 15, "only {pages} man pages");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn completions_offer_every_option_of_run() {
    let (_, options) = listed(&wsbox(&["run", "--help"]));
    assert!(options.len() > 15, "{options:?}");
    for shell in ["bash", "zsh", "fish"] {
        let script = wsbox(&["completions", shell]);
        for option in &options {
            // fish names long options without their dashes (`-l net-forward`).
            let bare = option.trim_start_matches('-');
            let named = match shell {
                "fish" => script.contains(&format!("-l {bare}")),
                _ => script.contains(option.as_str()),
            };
            assert!(named, "the {shell} completions lack {option}");
        }
    }
}

#[test]
fn man_refuses_a_missing_directory() {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_wsbox"));
    cmd.args(["man", "/nonexistent/wsbox-man"]);
    let out = output(cmd, LIMIT);
    assert_eq!(out.status.code(), Some(125), "{out}");
    assert_eq!(
        out.stderr.trim(),
        "wsbox: /nonexistent/wsbox-man is not a directory",
        "{out}"
    );
}
