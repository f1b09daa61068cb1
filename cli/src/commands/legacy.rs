//! `plinth legacy …`: install, list, remove and call wasip1 stdin/stdout JSON
//! modules, or run a module file once with the request on stdin, as the worker does.

use anyhow::Context;
use clap::Subcommand;
use plinth_host::{Host, HostConfig, LegacyConfig, LegacyError, LegacyReply};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Subcommand)]
pub enum LegacyCommand {
    /// Install a module into DATA_DIR/_external_modules (checked first).
    Add {
        /// The .wasm file (a wasm32-wasip1 command module).
        file: PathBuf,
        #[arg(long, default_value = "plinth-data")]
        data_dir: PathBuf,
    },
    /// List the installed modules.
    List {
        #[arg(long, default_value = "plinth-data")]
        data_dir: PathBuf,
    },
    /// Remove an installed module.
    Remove {
        /// Its file name (`math.wasm`).
        name: String,
        #[arg(long, default_value = "plinth-data")]
        data_dir: PathBuf,
    },
    /// Call an installed module; prints its JSON line; exit 1 when `ok` is false or the job failed.
    Call {
        /// Its file name (`math.wasm`).
        name: String,
        // Help text as an attribute: rustdoc would read `[3,5]` as a link.
        #[arg(help = r#"The request, e.g. '{"fn":"add","args":[3,5]}'"#)]
        request: String,
        #[arg(long, default_value = "plinth-data")]
        data_dir: PathBuf,
        /// Seconds the job may run.
        #[arg(long)]
        timeout: Option<f64>,
    },
    /// Run a module file with the request read from stdin, as the worker does.
    Run {
        /// The .wasm file.
        file: PathBuf,
        /// Seconds the job may run.
        #[arg(long)]
        timeout: Option<f64>,
    },
}

fn open(data_dir: &Path, timeout: Option<f64>) -> anyhow::Result<Host> {
    let mut legacy = LegacyConfig { wipe_sandboxes_on_start: false, ..LegacyConfig::default() };
    if let Some(seconds) = timeout {
        legacy.timeout =
            Duration::try_from_secs_f64(seconds).context("--timeout must be a positive number of seconds")?;
    }
    let mut config = HostConfig { legacy: Some(legacy), ..HostConfig::new(data_dir) };
    super::engine::apply(&mut config);
    Ok(Host::with_config(config)?)
}

/// Prints the module's line; true when `ok` is true.
fn report(result: Result<LegacyReply, LegacyError>) -> bool {
    match result {
        Ok(reply) => {
            println!("{}", reply.line);
            reply.ok
        }
        Err(error) => {
            eprintln!("plinth: {error}");
            false
        }
    }
}

pub fn run(command: LegacyCommand) -> anyhow::Result<bool> {
    match command {
        LegacyCommand::Add { file, data_dir } => {
            let info = open(&data_dir, None)?.legacy()?.add_module(&file)?;
            println!("installed {} ({} bytes)", info.name, info.size);
            Ok(true)
        }
        LegacyCommand::List { data_dir } => {
            for module in open(&data_dir, None)?.legacy()?.modules()? {
                println!("{}\t{} bytes", module.name, module.size);
            }
            Ok(true)
        }
        LegacyCommand::Remove { name, data_dir } => {
            open(&data_dir, None)?.legacy()?.remove_module(&name)?;
            println!("removed {name}");
            Ok(true)
        }
        LegacyCommand::Call { name, request, data_dir, timeout } => {
            let host = open(&data_dir, timeout)?;
            Ok(report(host.legacy().and_then(|legacy| legacy.call(&name, request.as_bytes()))))
        }
        LegacyCommand::Run { file, timeout } => {
            let mut request = Vec::new();
            std::io::stdin().read_to_end(&mut request).context("reading the request from stdin")?;
            let scratch = tempfile::tempdir()?;
            let host = open(scratch.path(), timeout)?;
            Ok(report(host.legacy().and_then(|legacy| legacy.run_file(&file, &request))))
        }
    }
}
