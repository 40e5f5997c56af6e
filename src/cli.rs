//! The command line: clap definitions only, no behaviour.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Run desktop applications confined: namespaces, seccomp, Landlock, no privileges.
#[derive(Debug, Parser)]
#[command(name = "wsbox", version, about, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run PROGRAM in a new sandbox; exits with the program's status.
    Run(RunArgs),
    /// Show or check policies.
    #[command(subcommand)]
    Policy(PolicyCommand),
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// How the app is shown: `none` (no display server at all; the only mode
    /// available until the compositor lands), `window` or `headless`.
    #[arg(long, value_enum, value_name = "MODE")]
    pub display: Option<DisplayMode>,
    /// Same as --display headless.
    #[arg(long, conflicts_with = "display")]
    pub headless: bool,
    /// Stop the sandbox after SECS seconds (SIGTERM, then SIGKILL after 2 s);
    /// wsbox then exits with status 124.
    #[arg(long, value_name = "SECS")]
    pub timeout: Option<f64>,
    /// A built-in profile (see `wsbox policy show NAME`).
    #[arg(long, value_name = "NAME", conflicts_with = "policy")]
    pub profile: Option<String>,
    /// A policy file (TOML); see README.md for the format.
    #[arg(long, value_name = "FILE")]
    pub policy: Option<PathBuf>,
    /// Bind a host path read-only, at SANDBOX_PATH or at the same path. Repeatable.
    #[arg(long = "ro", value_name = "HOST[:SANDBOX_PATH]")]
    pub ro: Vec<String>,
    /// Bind a host path read-write, at SANDBOX_PATH or at the same path. Repeatable.
    #[arg(long = "rw", value_name = "HOST[:SANDBOX_PATH]")]
    pub rw: Vec<String>,
    /// Set an environment variable inside the sandbox. Repeatable.
    #[arg(long = "env", value_name = "NAME=VALUE")]
    pub env: Vec<String>,
    /// The program to run and its arguments, after `--`.
    #[arg(required = true, last = true, value_name = "PROGRAM")]
    pub command: Vec<std::ffi::OsString>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DisplayMode {
    Window,
    Headless,
    None,
}

#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Print a built-in profile with every default spelled out.
    Show {
        /// Profile name, e.g. `default`.
        name: String,
    },
    /// Parse and validate a policy file; prints `ok` or the first error.
    Check {
        /// The TOML file.
        file: PathBuf,
    },
}
