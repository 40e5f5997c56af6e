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

// Parsed once per process: the size of `Run` does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run PROGRAM in a new sandbox; exits with the program's status.
    Run(Box<RunArgs>),
    /// List the running sandboxes.
    Ps {
        /// One JSON object per sandbox, as a JSON array.
        #[arg(long)]
        json: bool,
    },
    /// List the windows of a running sandbox.
    Windows {
        name: String,
        #[arg(long)]
        json: bool,
    },
    /// Write a running sandbox's output to a PNG file.
    Screenshot { name: String, file: PathBuf },
    /// Send input to the focused window of a running sandbox.
    Input {
        name: String,
        #[command(subcommand)]
        action: InputCommand,
    },
    /// Resize a running sandbox's headless output; windows that fill it follow.
    Resize {
        name: String,
        /// The new size, WxH.
        size: String,
    },
    /// Stop a running sandbox (the app gets SIGTERM, then SIGKILL).
    Stop { name: String },
    /// Make a host file or directory appear in a running sandbox under
    /// /run/wsbox/files (read-write ones under /run/wsbox/files/rw).
    AddFile {
        name: String,
        path: PathBuf,
        /// Read-write instead of read-only.
        #[arg(long)]
        rw: bool,
    },
    /// Take a file granted to a running sandbox away again (its host path or
    /// its path inside).
    RemoveFile { name: String, path: PathBuf },
    /// Copy a regular file out of a running sandbox into HOST_DIR.
    Export {
        name: String,
        sandbox_path: PathBuf,
        host_dir: PathBuf,
        /// Replace a file of the same name in HOST_DIR.
        #[arg(long)]
        force: bool,
    },
    /// Show or check policies.
    #[command(subcommand)]
    Policy(PolicyCommand),
}

#[derive(Debug, Subcommand)]
pub enum InputCommand {
    /// Type TEXT (any character the keymap can produce).
    Type { text: String },
    /// Press a key combination, e.g. `ctrl+shift+t` or `Return`.
    Key { combo: String },
    /// Move the pointer to X,Y (output coordinates).
    Move { x: i32, y: i32 },
    /// Click at X,Y with BUTTON (left, right, middle; default left).
    Click {
        x: i32,
        y: i32,
        #[arg(default_value = "left")]
        button: String,
    },
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// How the app is shown: `headless` (a virtual output of wsbox's own
    /// compositor), `none` (no display server at all) or `window` (not
    /// available yet). Default: window if WAYLAND_DISPLAY is set, else headless.
    #[arg(long, value_enum, value_name = "MODE")]
    pub display: Option<DisplayMode>,
    /// Same as --display headless.
    #[arg(long, conflicts_with = "display")]
    pub headless: bool,
    /// Size of the headless output in pixels, with an optional scale.
    #[arg(long, value_name = "WxH[@SCALE]", default_value = "1280x720")]
    pub output: String,
    /// With --timeout: write the output to FILE.png when the time is up.
    #[arg(long, value_name = "FILE.png", requires = "timeout")]
    pub screenshot: Option<PathBuf>,
    /// Stop the sandbox after SECS seconds (SIGTERM, then SIGKILL after 2 s);
    /// wsbox then exits with status 124.
    #[arg(long, value_name = "SECS")]
    pub timeout: Option<f64>,
    /// The sandbox's name for `wsbox ps/windows/screenshot/input/stop`.
    /// Default: the program's name, with -2, -3, … when taken.
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
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
    /// Let --ro/--rw/--file/--file-rw bind devices, sockets and FIFOs
    /// (refused otherwise).
    #[arg(long)]
    pub allow_special: bool,
    /// Grant a file or directory read-only at /run/wsbox/files/NAME. Repeatable.
    #[arg(long = "file", value_name = "PATH")]
    pub file: Vec<PathBuf>,
    /// Grant a file or directory read-write at /run/wsbox/files/rw/NAME. Repeatable.
    #[arg(long = "file-rw", value_name = "PATH")]
    pub file_rw: Vec<PathBuf>,
    /// Do not grant and rewrite the program's arguments that name files.
    #[arg(long)]
    pub no_file_args: bool,
    /// Keep the app's $HOME in DIR across runs (`<name>` is the sandbox's
    /// name); default: an empty tmpfs.
    #[arg(long, value_name = "DIR")]
    pub home: Option<PathBuf>,
    /// Set an environment variable inside the sandbox. Repeatable.
    #[arg(long = "env", value_name = "NAME=VALUE")]
    pub env: Vec<String>,
    /// The network: `none` (own loopback only), `host` (the host's network),
    /// `user` (user-mode networking, no LAN) or `tor[=HOST:PORT]` (only the
    /// host's Tor SOCKS port, default 127.0.0.1:9050, at 127.0.0.1:9050
    /// inside). Overrides the policy's `[network] mode`.
    #[arg(long = "net", value_name = "MODE")]
    pub net: Option<String>,
    /// With --net user: the LAN (RFC 1918, link-local, ULA) is reachable too.
    #[arg(long = "net-allow-lan")]
    pub net_allow_lan: bool,
    /// Make a loopback TCP port of the host reachable at the same address
    /// inside: tcp:127.0.0.1:PORT. Repeatable; added to the policy's.
    #[arg(long = "net-forward", value_name = "tcp:ADDR:PORT")]
    pub net_forward: Vec<String>,
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
