//! The command line: logging, argument parsing, dispatch, and the mapping
//! of errors to exit statuses. `wsbox run` is the sandbox's supervisor
//! itself; every other command is a client of the library's API
//! ([`crate::Sandbox`], [`crate::list`]) or of a local file.

use std::process::ExitCode;

use clap::Parser;
use wsbox_policies::Policy;

use crate::cli::{Cli, Command, DesktopCommand, PolicyCommand};
use crate::{desktop, exit, instance, limits, manual, Sandbox};

/// Runs the `wsbox` command with the process's arguments.
pub fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("WSBOX_LOG")
                // wayland-backend's messages repeat errors wsbox reports
                // itself in one line (a lost host, a client's protocol error);
                // zbus warns of every bus that goes away, as the sandbox's
                // does when the app ends.
                .unwrap_or_else(|_| {
                    tracing_subscriber::EnvFilter::new("warn,wayland_backend=off,zbus=error")
                }),
        )
        .with_writer(std::io::stderr)
        // Colour codes only for a terminal: a log file or a CI log would
        // keep them as `^[[33m`.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .init();

    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => {
            use clap::error::ErrorKind;
            if matches!(
                err.kind(),
                ErrorKind::DisplayHelp
                    | ErrorKind::DisplayVersion
                    | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
            ) {
                let _ = err.print();
                return ExitCode::SUCCESS;
            }
            // clap's message ends at the first blank line; usage and tips follow.
            let text = err.to_string();
            let message: Vec<&str> = text
                .lines()
                .take_while(|l| !l.trim().is_empty())
                .map(str::trim)
                .collect();
            let message = message.join(" ");
            let message = message.strip_prefix("error: ").unwrap_or(&message);
            eprintln!("wsbox: {message} (see wsbox --help)");
            return exit::wsbox_error();
        }
    };

    let result = match cli.command {
        Command::Run(args) => crate::run::run(*args),
        Command::Session => crate::session::serve(),
        Command::Ps { json } => ps(json),
        Command::Windows { name, json } => windows(&name, json),
        Command::Status { name, json } => status(&name, json),
        Command::Screenshot { name, file } => {
            sandbox(&name).and_then(|s| s.screenshot()).and_then(|png| {
                std::fs::write(&file, png)
                    .map_err(|e| anyhow::anyhow!("failed to write {}: {e}", file.display()))?;
                Ok(0)
            })
        }
        Command::Input { name, action } => sandbox(&name).and_then(|s| s.input(action)).map(|()| 0),
        Command::Resize { name, size } => {
            let parsed = size
                .split_once('x')
                .and_then(|(w, h)| Some((w.parse().ok()?, h.parse().ok()?)));
            match parsed {
                Some((width, height)) => sandbox(&name)
                    .and_then(|s| s.resize(width, height))
                    .map(|()| 0),
                None => Err(anyhow::anyhow!(
                    "invalid size {size:?}: expected WxH, e.g. 800x600"
                )),
            }
        }
        // Sandbox::stop checks the grace before it sends it.
        Command::Stop { name, grace, force } => sandbox(&name)
            .and_then(|s| s.stop(grace, force))
            .map(|()| 0),
        // The host path is opened here, as the user: wsbox, confined,
        // only receives the open file (and a read-write file's directory;
        // src/files/broker.rs, src/files/documents.rs).
        Command::AddFile { name, path, rw } => absolute(&path)
            .and_then(|path| sandbox(&name)?.add_file(&path, rw))
            .map(print_path),
        Command::Requests { name, json } => requests(&name, json),
        Command::Notifications { name, json } => notifications(&name, json),
        Command::Prints { name, json } => prints(&name, json),
        Command::Files { name, json } => list_files(&name, json),
        Command::Choose {
            name,
            id,
            paths,
            dir,
            cancel,
        } => choose(&name, id, &paths, dir, cancel),
        Command::RemoveFile { name, path } => absolute(&path)
            .and_then(|path| sandbox(&name)?.remove_file(&path))
            .map(print_path),
        Command::Export {
            name,
            sandbox_path,
            host_dir,
            force,
        } => absolute(&host_dir)
            .and_then(|host_dir| sandbox(&name)?.export(&sandbox_path, &host_dir, force))
            .map(print_path),
        Command::Policy(PolicyCommand::Show { name }) => Policy::builtin(&name)
            .map(|p| {
                print!("{}", p.to_toml());
                0
            })
            .map_err(anyhow::Error::from),
        Command::Man { dir } => manual::write_man_pages(&dir).map(|pages| {
            for page in pages {
                println!("{}", page.display());
            }
            0
        }),
        Command::Completions { shell } => {
            manual::write_completions(shell, &mut std::io::stdout());
            Ok(0)
        }
        Command::Desktop(command) => desktop_command(command),
        Command::Policy(PolicyCommand::Check { file }) => Policy::from_file(&file)
            .map(|_| {
                println!("ok: {}", file.display());
                0
            })
            .map_err(anyhow::Error::from),
    };
    match result {
        Ok(code) => exit::code(code),
        Err(err) => {
            let message = format!("{err:#}").replace('\n', " ");
            eprintln!("wsbox: {message}");
            exit::wsbox_error()
        }
    }
}

fn desktop_command(command: DesktopCommand) -> anyhow::Result<i32> {
    match command {
        DesktopCommand::Install {
            profile,
            program,
            replace,
        } => {
            let Some(program) = program else {
                anyhow::bail!(
                    "the profile {profile} names no program: wsbox desktop install {profile} PROGRAM"
                );
            };
            println!(
                "{}",
                desktop::install(&profile, &program, replace)?.display()
            );
        }
        DesktopCommand::List { json } => {
            let launchers = desktop::list()?;
            if json {
                println!("{}", serde_json::to_string_pretty(&launchers)?);
            } else {
                println!("{:<16} {:<24} FILE", "PROFILE", "PROGRAM");
                for l in launchers {
                    println!("{:<16} {:<24} {}", l.profile, l.program, l.file.display());
                }
            }
        }
        DesktopCommand::Remove { profile, program } => {
            for path in desktop::remove(&profile, program.as_deref())? {
                println!("{}", path.display());
            }
        }
    }
    Ok(0)
}

/// A path from the command line, relative to wsbox's directory when not
/// absolute.
fn absolute(path: &std::path::Path) -> anyhow::Result<std::path::PathBuf> {
    std::path::absolute(path).map_err(|e| anyhow::anyhow!("invalid path {}: {e}", path.display()))
}

/// The running sandbox `name`.
fn sandbox(name: &str) -> anyhow::Result<Sandbox> {
    Sandbox::connect(name)
}

/// Prints the path a file request answered with.
fn print_path(path: std::path::PathBuf) -> i32 {
    println!("{}", path.display());
    0
}

fn list_files(name: &str, json: bool) -> anyhow::Result<i32> {
    let files = sandbox(name)?.files()?;
    if json {
        println!("{}", serde_json::to_string_pretty(&files)?);
        return Ok(0);
    }
    for f in &files {
        println!("{}\t{}\t{}", f.access, f.inside.display(), f.host.display());
    }
    Ok(0)
}

fn requests(name: &str, json: bool) -> anyhow::Result<i32> {
    let requests = sandbox(name)?.requests()?;
    if json {
        println!("{}", serde_json::to_string_pretty(&requests)?);
        return Ok(0);
    }
    for r in &requests {
        let mut line = format!("{}\t{}\t{:?}", r.id, r.kind.name(), r.title);
        if r.directory {
            line.push_str("\tdirectory");
        }
        if r.multiple {
            line.push_str("\tmultiple");
        }
        if let Some(suggested) = &r.current_name {
            line.push_str(&format!("\tname {suggested:?}"));
        }
        for f in &r.filters {
            let rules: Vec<&str> = f
                .patterns
                .iter()
                .chain(&f.mime_types)
                .map(String::as_str)
                .collect();
            line.push_str(&format!("\t{}: {}", f.name, rules.join(" ")));
        }
        println!("{line}");
    }
    Ok(0)
}

fn prints(name: &str, json: bool) -> anyhow::Result<i32> {
    let printed = sandbox(name)?.prints()?;
    if json {
        println!("{}", serde_json::to_string_pretty(&printed)?);
        return Ok(0);
    }
    for p in &printed {
        println!("{}\t{:?}\t{}\t{}", p.id, p.title, p.bytes, p.file.display());
    }
    Ok(0)
}

fn notifications(name: &str, json: bool) -> anyhow::Result<i32> {
    let notices = sandbox(name)?.notifications()?;
    if json {
        println!("{}", serde_json::to_string_pretty(&notices)?);
        return Ok(0);
    }
    for n in &notices.kept {
        println!("{}\t{:?}\t{:?}\t{:?}", n.id, n.app, n.title, n.body);
    }
    if notices.dropped > 0 {
        println!("dropped: {} (too fast)", notices.dropped);
    }
    Ok(0)
}

/// Answers a portal request with what the user chose: the library opens
/// it, as the user, as the request needs it, and passes it to wsbox (which
/// never opens a host path itself).
fn choose(
    name: &str,
    id: u32,
    paths: &[std::path::PathBuf],
    dir: bool,
    cancel: bool,
) -> anyhow::Result<i32> {
    let sandbox = sandbox(name)?;
    if cancel {
        sandbox.cancel(id)?;
        return Ok(0);
    }
    let paths = paths
        .iter()
        .map(|p| absolute(p))
        .collect::<anyhow::Result<Vec<_>>>()?;
    for path in sandbox.choose(id, &paths, dir)? {
        println!("{}", path.display());
    }
    Ok(0)
}

/// A sandbox's memory and task use, read from its cgroup (none without).
fn sandbox_use(info: &instance::Info) -> Option<limits::cgroup::Use> {
    let limits = info.limits.as_ref()?;
    Some(limits::cgroup::read_use(
        limits.cgroup?,
        &limits.cgroup_dirs,
    ))
}

/// Bytes as whole MiB: `123M`.
fn mebibytes(bytes: u64) -> String {
    format!("{}M", bytes >> 20)
}

fn ps(json: bool) -> anyhow::Result<i32> {
    let list = instance::list()?;
    if json {
        let infos: Vec<_> = list
            .iter()
            .map(|(_, info)| {
                let mut value = serde_json::to_value(info).unwrap_or_default();
                if let Some(map) = value.as_object_mut() {
                    if let Some(warning) = info.warning() {
                        map.insert("warning".into(), warning.into());
                    }
                    if let Some(usage) = sandbox_use(info) {
                        map.insert(
                            "use".into(),
                            serde_json::to_value(usage).unwrap_or_default(),
                        );
                    }
                }
                value
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&infos)?);
        return Ok(0);
    }
    println!(
        "{:<24} {:>8} {:<10} {:<8} {:<4} {:<15} {:>15} {:>11} PROGRAM",
        "NAME", "PID", "DISPLAY", "NETWORK", "BUS", "AUDIO", "MEMORY", "TASKS"
    );
    let mut warnings = Vec::new();
    for (_, info) in list {
        let network = match info.warning() {
            Some(warning) => {
                warnings.push(format!("warning: {}: {warning}", info.name));
                format!("{}!", info.network)
            }
            None => info.network.clone(),
        };
        let bus = if info.bus { "yes" } else { "no" };
        let usage = sandbox_use(&info).unwrap_or_default();
        let limits = info.limits.clone().unwrap_or_default();
        let memory = format!(
            "{}/{}",
            usage.memory.map_or("-".into(), mebibytes),
            limits.memory.map_or("none".into(), mebibytes)
        );
        let tasks = format!(
            "{}/{}",
            usage.tasks.map_or("-".into(), |n| n.to_string()),
            limits.tasks.map_or("none".into(), |n| n.to_string())
        );
        println!(
            "{:<24} {:>8} {:<10} {:<8} {:<4} {:<15} {:>15} {:>11} {}",
            info.name,
            info.pid,
            info.display,
            network,
            bus,
            info.audio,
            memory,
            tasks,
            info.program
        );
    }
    for warning in warnings {
        println!("{warning}");
    }
    Ok(0)
}

fn status(name: &str, json: bool) -> anyhow::Result<i32> {
    let status = sandbox(name)?.status()?;
    if json {
        println!("{}", serde_json::to_string_pretty(&status)?);
        return Ok(0);
    }
    let focus = match status.host_focused {
        Some(true) => "yes",
        Some(false) => "no",
        None => "(headless)",
    };
    let clip = &status.stats.clipboard;
    println!("host focus:       {focus}");
    println!(
        "responding:       {}",
        if status.not_responding { "no" } else { "yes" }
    );
    println!("windows shown:    {}", status.windows_shown);
    println!("host key presses: {}", status.stats.host_key_presses);
    println!(
        "clipboard:        {} to the host, {} into the sandbox, {} dropped, {} refused, {} kept inside",
        clip.to_host, clip.to_sandbox, clip.dropped, clip.refused, clip.kept_inside
    );
    println!(
        "clipboard reads:  {} by apps inside, of what was pasted in",
        clip.reads_inside
    );
    Ok(0)
}

fn windows(name: &str, json: bool) -> anyhow::Result<i32> {
    let windows = sandbox(name)?.windows()?;
    if json {
        // Each window says whether its sandbox has a private bus (the
        // portal), as `wsbox ps` does.
        let bus = instance::info(name)?.bus;
        let windows: Vec<serde_json::Value> = windows
            .iter()
            .map(|w| {
                let mut value = serde_json::to_value(w).unwrap_or_default();
                if let Some(map) = value.as_object_mut() {
                    map.insert("bus".into(), bus.into());
                }
                value
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&windows)?);
        return Ok(0);
    }
    println!(
        "{:<32} {:<24} {:>18} FOCUSED",
        "TITLE", "APP_ID", "GEOMETRY"
    );
    for w in windows {
        let geometry = format!("{}x{}+{}+{}", w.width, w.height, w.x, w.y);
        let title: String = w.title.chars().take(32).collect();
        println!(
            "{:<32} {:<24} {:>18} {}",
            title,
            w.app_id,
            geometry,
            if w.focused { "yes" } else { "" }
        );
    }
    Ok(0)
}
