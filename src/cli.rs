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

/// What `wsbox run --help` and its man page say after the options.
const RUN_EXIT_STATUS: &str = "\
Exit status: the program's; 128+N when it was killed by signal N; 124 after --timeout; \
125 for wsbox's own errors (bad option, bad policy, missing kernel feature), with one line \
on stderr starting with `wsbox:`; 126 when the program cannot be executed; 127 when it is \
not found.";

// Parsed once per process: the size of `Run` does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run PROGRAM in a new sandbox; exits with the program's status.
    #[command(after_long_help = RUN_EXIT_STATUS)]
    Run(Box<RunArgs>),
    /// List the running sandboxes.
    Ps {
        /// One JSON object per sandbox, as a JSON array.
        #[arg(long)]
        json: bool,
    },
    /// Show a running sandbox's state: the host window's focus, whether the
    /// app responds, and counters of host keys, clipboard decisions and
    /// reads inside of what was pasted in.
    Status {
        /// The sandbox's name.
        name: String,
        /// One JSON object.
        #[arg(long)]
        json: bool,
    },
    /// List the windows of a running sandbox.
    Windows {
        /// The sandbox's name (see `wsbox ps`).
        name: String,
        /// A JSON array of the windows.
        #[arg(long)]
        json: bool,
    },
    /// Write a running sandbox's output to a PNG file.
    Screenshot {
        /// The sandbox's name.
        name: String,
        /// The PNG file to write.
        file: PathBuf,
    },
    /// Send input to the focused window of a running sandbox.
    Input {
        /// The sandbox's name.
        name: String,
        #[command(subcommand)]
        action: crate::control::InputAction,
    },
    /// Resize a running sandbox's headless output; windows that fill it follow.
    Resize {
        /// The sandbox's name.
        name: String,
        /// The new size, WxH.
        size: String,
    },
    /// Stop a running sandbox: its windows are asked to close and the app
    /// has the sandbox's grace period to exit (10 s by default), then it
    /// gets SIGTERM, and SIGKILL 2 s later.
    Stop {
        /// The sandbox's name.
        name: String,
        /// Seconds the app has to exit before SIGTERM, instead of the
        /// sandbox's own grace period.
        #[arg(long, value_name = "SECS", conflicts_with = "force")]
        grace: Option<f64>,
        /// No grace period: SIGTERM at once, SIGKILL 2 s later.
        #[arg(long)]
        force: bool,
    },
    /// Make a host file or directory appear in a running sandbox under
    /// /run/wsbox/files; read-write, a directory appears under
    /// /run/wsbox/files/rw and a file as a document, /run/wsbox/docs/N/NAME.
    AddFile {
        /// The sandbox's name.
        name: String,
        /// The host file or directory.
        path: PathBuf,
        /// Read-write instead of read-only.
        #[arg(long)]
        rw: bool,
    },
    /// List every file granted to a running sandbox, by any route (the
    /// command line, add-file, the portal): host path, path inside, access.
    Files {
        /// The sandbox's name.
        name: String,
        /// One JSON array.
        #[arg(long)]
        json: bool,
    },
    /// List the app's requests for files that wait for the user (the
    /// portal's Open and Save dialogs in headless mode): id, kind, title,
    /// filters, suggested name.
    Requests {
        /// The sandbox's name.
        name: String,
        /// One JSON array.
        #[arg(long)]
        json: bool,
    },
    /// List the app's notifications (the newest 32, cleaned as they were
    /// passed on) and how many were dropped for coming too fast.
    Notifications {
        /// The sandbox's name.
        name: String,
        /// One JSON object: `kept` and `dropped`.
        #[arg(long)]
        json: bool,
    },
    /// List the documents the app printed: written into the policy's
    /// `portal.print_to` directory.
    Prints {
        /// The sandbox's name.
        name: String,
        /// One JSON array.
        #[arg(long)]
        json: bool,
    },
    /// Answer a request of `wsbox requests` with host paths: files to open,
    /// the path to save to, or with --dir a directory; or --cancel it. What
    /// is chosen is granted to the app, and nothing else.
    Choose {
        /// The sandbox's name.
        name: String,
        /// The request's id.
        id: u32,
        /// The host paths chosen (a request for one path takes one).
        #[arg(required_unless_present = "cancel")]
        paths: Vec<PathBuf>,
        /// The path is a directory (a request for a folder, or SaveFiles).
        #[arg(long, conflicts_with = "cancel")]
        dir: bool,
        /// Cancel the request: the app's dialog closes, nothing is granted.
        #[arg(long)]
        cancel: bool,
    },
    /// Take a file granted to a running sandbox away again (its host path or
    /// its path inside).
    RemoveFile {
        /// The sandbox's name.
        name: String,
        /// The granted file's host path or its path inside.
        path: PathBuf,
    },
    /// Copy a regular file out of a running sandbox into HOST_DIR.
    Export {
        /// The sandbox's name.
        name: String,
        /// The regular file inside the sandbox.
        sandbox_path: PathBuf,
        /// The host directory to copy it into, under its own name.
        host_dir: PathBuf,
        /// Replace a file of the same name in HOST_DIR.
        #[arg(long)]
        force: bool,
    },
    /// Show or check policies.
    #[command(subcommand)]
    Policy(PolicyCommand),
    /// Menu launchers that start programs confined.
    #[command(subcommand)]
    Desktop(DesktopCommand),
    /// Write the man pages (wsbox.1 and one page per command, e.g.
    /// wsbox-run.1) into DIR, which must exist.
    Man {
        /// The directory for the pages, e.g. /usr/local/share/man/man1.
        dir: PathBuf,
    },
    /// Serve the D-Bus API org.wsbox.Manager1 on the session bus, for the
    /// desktop session that embeds wsbox: run, list and stop sandboxes,
    /// grant them files passed open, and signal their changes. Started
    /// on demand by D-Bus activation (`make install` installs the file).
    Session,
    /// Print a completion script for SHELL to stdout.
    Completions {
        /// The shell the script is for.
        #[arg(value_enum)]
        shell: CompletionShell,
    },
}

/// The shells `wsbox completions` writes scripts for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CompletionShell {
    Bash,
    Zsh,
    Fish,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// How the app is shown: `window` (wsbox's own compositor, shown as one
    /// marked window of your Wayland session), `headless` (a virtual output of
    /// wsbox's own compositor) or `none` (no display server at all).
    /// Default: window if WAYLAND_DISPLAY is set, else headless.
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
    /// Stop the sandbox after SECS seconds: its windows are asked to close,
    /// the app has --timeout-grace seconds to exit, then gets SIGTERM and
    /// SIGKILL 2 s later; wsbox then exits with status 124.
    #[arg(long, value_name = "SECS")]
    pub timeout: Option<f64>,
    /// Seconds the app has to exit after `wsbox stop` asked its windows to
    /// close, before it gets SIGTERM. Overrides the policy's
    /// `[lifecycle] grace` (default 10).
    #[arg(long, value_name = "SECS")]
    pub grace: Option<f64>,
    /// The same after --timeout. Overrides the policy's `[lifecycle]
    /// timeout_grace` (default 2).
    #[arg(long, value_name = "SECS")]
    pub timeout_grace: Option<f64>,
    /// Memory of everything in the sandbox, tmpfs pages included, with no
    /// swap beyond it: a size (512M, 4G) or a share of the host's memory
    /// (25%). Overrides the policy's `[limits] memory` (default 50%).
    /// Needs a cgroup.
    #[arg(long, value_name = "SIZE")]
    pub memory: Option<String>,
    /// Processes and threads the sandbox may have at once. Overrides the
    /// policy's `[limits] tasks` (default 1024).
    #[arg(long, value_name = "N")]
    pub tasks: Option<u32>,
    /// The space of all the sandbox's writable tmpfs places together
    /// (/tmp, /var/tmp, /dev/shm, the home, the runtime directory, the
    /// documents). Overrides the policy's `[limits] tmpfs` (default 1G).
    #[arg(long, value_name = "SIZE")]
    pub tmpfs: Option<String>,
    /// The sandbox's name for `wsbox ps/windows/screenshot/input/stop`.
    /// Default: the program's name, with -2, -3, … when taken.
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
    /// A built-in profile (see `wsbox policy show NAME`).
    #[arg(long, value_name = "NAME", conflicts_with = "policy")]
    pub profile: Option<String>,
    /// A policy file (TOML); its format is in docs/policy.md.
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
    /// Grant a file read-write as a document at /run/wsbox/docs/N/NAME (a
    /// directory of its own, written back when saved), or a directory at
    /// /run/wsbox/files/rw/NAME. Repeatable.
    #[arg(long = "file-rw", value_name = "PATH")]
    pub file_rw: Vec<PathBuf>,
    /// Do not grant and rewrite the program's arguments that name files.
    #[arg(long)]
    pub no_file_args: bool,
    /// No private session bus and no portal: the app cannot ask for the
    /// user's files (default: a bus with wsbox's portal in the display
    /// modes, unless the policy's `[portal] enabled` says otherwise).
    #[arg(long)]
    pub no_portal: bool,
    /// Sound: none (no sound server inside), playback, record or
    /// playback+record, through wsbox's own PulseAudio endpoint; never the
    /// host's server or devices. Default: the policy's `[audio] allow`
    /// (none unless a profile grants it).
    #[arg(long, value_name = "GRANT", value_parser = parse_audio)]
    pub audio: Option<wsbox_policies::AudioGrant>,
    /// Run X11 programs: start a rootless Xwayland of the sandbox's own
    /// inside it, on its Wayland socket (DISPLAY=:0, no TCP, an X authority
    /// only the sandbox has). Same as the policy's `[display] x11 = true`.
    #[arg(long)]
    pub x11: bool,
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
pub enum DesktopCommand {
    /// Write a launcher for PROGRAM into your applications directory
    /// ($XDG_DATA_HOME/applications, default ~/.local/share/applications):
    /// it runs `wsbox run --profile PROFILE -- PROGRAM` with the files it
    /// is opened with, under the program's name with "(sandboxed)", its
    /// icon and MIME types (from its installed .desktop file).
    Install {
        /// The built-in profile it runs with, e.g. `default`.
        profile: String,
        /// The program, as its installed .desktop file runs it, e.g.
        /// `evince`. Required: no built-in profile names a program yet.
        program: Option<String>,
        /// Write it under the program's own desktop file name, so that it
        /// takes the program's place in the menu and in "Open with".
        #[arg(long)]
        replace: bool,
    },
    /// List wsbox's launchers.
    List {
        /// Print JSON: an array of {profile, program, file}.
        #[arg(long)]
        json: bool,
    },
    /// Remove wsbox's launchers for PROFILE (only PROGRAM's, if given).
    Remove {
        profile: String,
        program: Option<String>,
    },
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

fn parse_audio(value: &str) -> Result<wsbox_policies::AudioGrant, String> {
    value.parse()
}

#[cfg(test)]
mod tests {
    //! Docs that cannot rot: every `wsbox` command line in a shell block of
    //! README.md or docs/*.md is one these definitions accept.
    use super::*;

    /// The `wsbox …` lines of the ```sh blocks in `text`, continuation
    /// lines joined.
    fn command_lines(text: &str) -> Vec<String> {
        let mut found = Vec::new();
        let mut in_sh = false;
        let mut pending: Option<String> = None;
        for line in text.lines() {
            let trimmed = line.trim();
            if !in_sh {
                in_sh = trimmed == "```sh";
                continue;
            }
            if trimmed == "```" {
                in_sh = false;
                continue;
            }
            let joined = match pending.take() {
                Some(mut before) => {
                    before.push(' ');
                    before.push_str(trimmed);
                    before
                }
                None if trimmed.starts_with("wsbox ") => trimmed.to_owned(),
                None => continue,
            };
            match joined.strip_suffix('\\') {
                Some(head) => pending = Some(head.trim_end().to_owned()),
                None => found.push(joined),
            }
        }
        found
    }

    /// Splits a command line as sh would for plain words, quotes and
    /// backslashes; stops at an unquoted `#` comment or `&`.
    fn words(line: &str) -> Result<Vec<String>, String> {
        let mut out = Vec::new();
        let mut word: Option<String> = None;
        let mut chars = line.chars();
        while let Some(c) = chars.next() {
            match c {
                ' ' | '\t' => out.extend(word.take()),
                '#' if word.is_none() => break,
                '&' | ';' | '|' if word.is_none() => break,
                '\'' => {
                    let w = word.get_or_insert_with(String::new);
                    loop {
                        match chars.next() {
                            Some('\'') => break,
                            Some(c) => w.push(c),
                            None => return Err(format!("unclosed ' in {line}")),
                        }
                    }
                }
                '"' => {
                    let w = word.get_or_insert_with(String::new);
                    loop {
                        match chars.next() {
                            Some('"') => break,
                            Some('\\') => w.extend(chars.next()),
                            Some(c) => w.push(c),
                            None => return Err(format!("unclosed \" in {line}")),
                        }
                    }
                }
                '\\' => word.get_or_insert_with(String::new).extend(chars.next()),
                c => word.get_or_insert_with(String::new).push(c),
            }
        }
        out.extend(word);
        Ok(out)
    }

    #[test]
    fn words_split_as_sh_does() {
        assert_eq!(
            words(r#"wsbox run --env 'A=b c' -- sh -c "echo \"hi\"" # note"#).unwrap(),
            [
                "wsbox",
                "run",
                "--env",
                "A=b c",
                "--",
                "sh",
                "-c",
                "echo \"hi\""
            ]
        );
        assert_eq!(words("wsbox ps &").unwrap(), ["wsbox", "ps"]);
    }

    #[test]
    fn command_lines_in_the_docs_parse() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut files = vec![root.join("README.md")];
        let docs = std::fs::read_dir(root.join("docs")).expect("docs/ next to README.md");
        files.extend(
            docs.flatten()
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|e| e == "md")),
        );
        files.sort();
        let mut checked = 0;
        for file in &files {
            let text = std::fs::read_to_string(file).expect("readable docs");
            for line in command_lines(&text) {
                let words = words(&line).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
                if let Err(err) = Cli::try_parse_from(&words) {
                    panic!("{}: `{line}` does not parse:\n{err}", file.display());
                }
                checked += 1;
            }
        }
        assert!(
            checked >= 10,
            "only {checked} wsbox command lines in {files:?}"
        );
    }
}
