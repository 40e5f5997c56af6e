//! Docs that cannot rot: every TOML block in README.md is a valid policy.

use wsbox_policies::Policy;

#[test]
fn readme_policy_examples_parse() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md"))
        .expect("README.md next to the workspace root");
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in readme.lines() {
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
    assert!(
        !blocks.is_empty(),
        "README.md has no ```toml policy example"
    );
    for (i, block) in blocks.iter().enumerate() {
        if let Err(err) = Policy::from_toml(block, &format!("README.md toml block {i}")) {
            panic!("{err}\n{block}");
        }
    }
}
