//! wsbox: run desktop applications confined. Thin: logging, argument parsing,
//! dispatch, and the mapping of errors to exit statuses.

mod cli;
mod run;

use std::process::ExitCode;

use clap::Parser;
use wsbox_policies::Policy;

use crate::cli::{Cli, Command, PolicyCommand};

/// Exit status for wsbox's own errors.
const EXIT_WSBOX_ERROR: u8 = 125;

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("WSBOX_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
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
            return ExitCode::from(EXIT_WSBOX_ERROR);
        }
    };

    let result = match cli.command {
        Command::Run(args) => run::run(args),
        Command::Policy(PolicyCommand::Show { name }) => Policy::builtin(&name)
            .map(|p| {
                print!("{}", p.to_toml());
                0
            })
            .map_err(anyhow::Error::from),
        Command::Policy(PolicyCommand::Check { file }) => Policy::from_file(&file)
            .map(|_| {
                println!("ok: {}", file.display());
                0
            })
            .map_err(anyhow::Error::from),
    };
    match result {
        Ok(code) => ExitCode::from(u8::try_from(code).unwrap_or(EXIT_WSBOX_ERROR)),
        Err(err) => {
            let message = format!("{err:#}").replace('\n', " ");
            eprintln!("wsbox: {message}");
            ExitCode::from(EXIT_WSBOX_ERROR)
        }
    }
}
