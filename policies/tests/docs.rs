//! Docs that cannot rot: every TOML block in README.md and docs/*.md is a
//! valid policy, and docs/ has at least one.

use std::path::{Path, PathBuf};

use wsbox_policies::Policy;

/// The ```toml blocks of `text`.
fn toml_blocks(text: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        match (&mut current, line.trim_end()) {
            (None, "```toml") => current = Some(String::new()),
            (Some(block), "```") => {
                blocks.push(std::mem::take(block));
                current = None;
            }
            (Some(block), text) => {
                block.push_str(text);
                block.push('\n');
            }
            (None, _) => {}
        }
    }
    assert!(current.is_none(), "a ```toml block is not closed");
    blocks
}

/// Parses every block of `file`; returns how many there were.
fn check(file: &Path) -> usize {
    let text = std::fs::read_to_string(file)
        .unwrap_or_else(|e| panic!("failed to read {}: {e}", file.display()));
    let blocks = toml_blocks(&text);
    for (i, block) in blocks.iter().enumerate() {
        let origin = format!("{} toml block {i}", file.display());
        if let Err(err) = Policy::from_toml(block, &origin) {
            panic!("{err}\n{block}");
        }
    }
    blocks.len()
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

#[test]
fn readme_policy_examples_parse() {
    check(&root().join("README.md"));
}

#[test]
fn docs_policy_examples_parse() {
    let dir = root().join("docs");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("failed to read {}: {e}", dir.display()))
        .map(|entry| entry.expect("a readable docs/ entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "docs/ holds no .md file");
    let blocks: usize = files.iter().map(|file| check(file)).sum();
    assert!(
        blocks > 0,
        "no ```toml policy example in docs/*.md: {files:?}"
    );
}

#[test]
fn toml_blocks_are_found() {
    let text = "a\n```toml\n[network]\nmode = \"tor\"\n```\n```sh\nwsbox ps\n```\n```toml\n```\n";
    assert_eq!(
        toml_blocks(text),
        ["[network]\nmode = \"tor\"\n".to_owned(), String::new()]
    );
}

/// The repository paths a text names in backticks: words with a `/` that
/// end in `.rs`, `.toml`, `.md` or `/` (and start with no `$`, `~` or `<`).
fn named_paths(text: &str) -> Vec<String> {
    text.split('`')
        .skip(1)
        .step_by(2)
        .filter(|w| !w.contains(' ') && w.contains('/'))
        .filter(|w| !w.starts_with(['$', '~', '<', '/']))
        .filter(|w| {
            [".rs", ".toml", ".md", "/"]
                .iter()
                .any(|end| w.ends_with(end))
        })
        .map(str::to_owned)
        .collect()
}

#[test]
fn every_file_and_folder_the_architecture_names_exists() {
    let text =
        std::fs::read_to_string(root().join("docs/architecture.md")).expect("docs/architecture.md");
    let named = named_paths(&text);
    assert!(
        named.len() > 30,
        "only {} paths named: {named:?}",
        named.len()
    );
    let missing: Vec<&String> = named.iter().filter(|p| !root().join(p).exists()).collect();
    assert!(
        missing.is_empty(),
        "docs/architecture.md names what does not exist: {missing:?}"
    );
    // And every crate of the workspace is there.
    for krate in [
        "policies/",
        "sandbox-runtime/",
        "compositor/",
        "src/",
        "testkit/",
    ] {
        assert!(named.iter().any(|p| p == krate), "{krate} is not named");
    }
}

#[test]
fn named_paths_are_found() {
    assert_eq!(
        named_paths("a `src/run/` b `x y/z.rs` `$XDG/x/` `compositor/src/lib.rs` `make test`"),
        ["src/run/", "compositor/src/lib.rs"]
    );
}
