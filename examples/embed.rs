//! Embedding wsbox: start a program confined and headless, wait for its
//! first window, save a screenshot, and stop it.
//!
//! Usage: embed OUT.png PROGRAM [ARGS...]
//!
//! `cargo run --example embed -- shot.png gtk3-demo`. It runs `wsbox` from
//! `PATH` (after `cargo build`, put `target/debug` first on it).

use std::time::Duration;

use anyhow::{bail, Context, Result};

fn main() -> Result<()> {
    let mut args = std::env::args_os().skip(1);
    let (Some(out), Some(program)) = (args.next(), args.next()) else {
        bail!("usage: embed OUT.png PROGRAM [ARGS...]");
    };
    let argv = std::iter::once(program).chain(args);

    let mut running = wsbox::RunOptions::new(argv).headless("800x600").start()?;
    let sandbox = running.sandbox();
    let window = sandbox.wait_for_window(Duration::from_secs(30))?;
    println!(
        "{}: {:?} ({}) {}x{}",
        sandbox.name(),
        window.title,
        window.app_id,
        window.width,
        window.height
    );
    let png = sandbox.screenshot()?;
    std::fs::write(&out, png).with_context(|| format!("failed to write {out:?}"))?;
    let status = running.stop()?;
    println!("stopped: {status}");
    Ok(())
}
