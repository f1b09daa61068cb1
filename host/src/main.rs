//! `plinth`: the Plinth command-line tool.
//!
//! `plinth demo` loads a folder of plugins into a data directory, writes a few
//! entities, and prints what the plugins stored and answered. Later commands
//! (`serve`, `inspect`, `check`, `call`) build on the same embedding API.

mod demo;

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "plinth",
    version,
    about = "A WebAssembly component plugin host"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Load every plugin in a folder, write sample entities, and show what the plugins did.
    Demo {
        /// A folder whose sub-folders hold plugins (each with a plugin.json).
        #[arg(long, default_value = "example-plugins")]
        plugins: PathBuf,
        /// Where the database goes; a fresh temporary folder when omitted.
        #[arg(long)]
        data_dir: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Demo { plugins, data_dir } => demo::run(&plugins, data_dir),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("plinth: {error:#}");
            ExitCode::FAILURE
        }
    }
}
