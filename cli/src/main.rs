//! `plinth`: the Plinth command-line tool and server.
//!
//! - `plinth serve`: the host over HTTP, with the plugins of a folder.
//! - `plinth inspect PATH`: a component's world, imports, exports and grants.
//! - `plinth check PLUGIN_DIR`: validate a plugin, listing every problem.
//! - `plinth call PLUGIN_DIR METHOD PATH`: one route call without a server.
//! - `plinth legacy add|list|remove|call|run`: wasip1 stdin/stdout JSON modules.
//! - `plinth demo`: the example plugins at work, printed.
//! - `plinth precompile PATH --target T`: artifacts for hosts without a compiler.
//! - `plinth migrate DIR --lang python|rust`: a plugin of the old Python system as a Plinth project.
//!
//! Everything here uses only `plinth_host`'s public API.

mod commands;
mod server;

use clap::{Parser, Subcommand, ValueEnum};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(name = "plinth", version, about = "A WebAssembly component plugin host")]
struct Cli {
    /// Log format on stderr; the level comes from RUST_LOG (default: info for serve, warn otherwise).
    #[arg(long, value_enum, default_value_t = LogFormat::Text, global = true)]
    log_format: LogFormat,
    /// How plugin code runs: native code, or the Pulley interpreter (no JIT; docs/platforms.md).
    #[arg(long, value_enum, default_value_t = EngineArg::Native, global = true)]
    engine: EngineArg,
    /// Load precompiled artifacts found in plugin folders as this application's
    /// own code (they are machine code or bytecode the sandbox trusts); only for
    /// folders as trusted as the plinth binary itself.
    #[arg(long, global = true)]
    trust_precompiled: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Clone, Copy, ValueEnum)]
enum EngineArg {
    /// Machine code compiled by Cranelift.
    Native,
    /// The Pulley interpreter (pulley64 or pulley32).
    Pulley,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the plugins of a folder (and the installed ones) over HTTP, on an embedded database or PostgreSQL.
    Serve(server::ServeArgs),
    /// Run legacy wasip1 stdin/stdout JSON modules.
    #[command(subcommand)]
    Legacy(commands::legacy::LegacyCommand),
    /// Show a component's world (as WIT), imports, exports, and grants vs imports.
    Inspect {
        /// A plugin folder (with plugin.json) or a .wasm component.
        path: PathBuf,
    },
    /// Validate a plugin folder's (or package's) manifest and component; non-zero exit on any problem.
    Check {
        /// The plugin folder, or a package (.tgz from `plinth pack`).
        plugin_dir: PathBuf,
    },
    /// Call one route, hook or widget of a plugin without a server; the exit
    /// status says whether it succeeded (a 2xx answer, a hook without error,
    /// a value without problems). `call DIR GET /stats/character`,
    /// `call DIR hook created character --body '{"name":"Ada"}'`,
    /// `call DIR widget validate word-count --body '"some text"'`.
    Call {
        /// The plugin folder.
        plugin_dir: PathBuf,
        /// An HTTP method (GET, POST, PUT, PATCH, DELETE, HEAD, OPTIONS), `hook` or `widget`.
        kind: String,
        /// A route path with any query (`/stats/character?x=1`); for a hook
        /// `created`, `updated` or `deleted`; for a widget `render` or `validate`.
        name: String,
        /// For a hook, the entity type; for a widget, its id.
        target: Option<String>,
        /// JSON: a route's request body, a hook's entity data, a widget's value.
        #[arg(long)]
        body: Option<String>,
        /// A request header, `NAME:VALUE` (repeatable; routes).
        #[arg(long = "header")]
        headers: Vec<String>,
        /// The widget configuration a render gets, a JSON object.
        #[arg(long)]
        settings: Option<String>,
        /// The database to use; a throw-away one when omitted.
        #[arg(long)]
        data_dir: Option<PathBuf>,
    },
    /// Run the `build` command of each plugin (a plugin folder, or a folder of them).
    Build {
        /// Plugin folders, or folders of plugin folders.
        #[arg(required = true)]
        dirs: Vec<PathBuf>,
    },
    /// Build, serve and rebuild on change: `serve --reload` for a plugin (or a
    /// folder of plugins) being written; `--plugins` and `--reload` are implied.
    Dev {
        /// A plugin folder, or a folder of plugin folders.
        dir: PathBuf,
        #[command(flatten)]
        serve: server::ServeArgs,
    },
    /// Create a plugin project that builds and passes its own tests with no edit.
    New {
        /// The new folder; its name is the plugin's id.
        dir: PathBuf,
        /// The plugin's language.
        #[arg(long, value_enum)]
        lang: commands::new::Lang,
        /// What it exports: events, routes, widgets (comma-separated).
        #[arg(long, default_value = "events,routes")]
        roles: String,
        /// The plinth-sdk folder a Rust project depends on (default: this Plinth's).
        #[arg(long)]
        sdk: Option<PathBuf>,
    },
    /// Run a plugin's test cases (the JSON files in its tests/ folder) against its built component.
    Test {
        /// The plugin folder.
        dir: PathBuf,
    },
    /// Load every plugin in a folder, write sample entities, and show what the plugins did.
    Demo {
        /// A folder whose sub-folders hold plugins (each with a plugin.json).
        #[arg(long, default_value = "example-plugins")]
        plugins: PathBuf,
        /// Where the database goes; a fresh temporary folder when omitted.
        #[arg(long)]
        data_dir: Option<PathBuf>,
    },
    /// Write a plugin folder as one package (.tgz); prints its SHA-256 and its registry index entry.
    Pack {
        /// The plugin folder.
        dir: PathBuf,
        /// The package file (default: ID-VERSION.tgz here).
        #[arg(long, short)]
        out: Option<PathBuf>,
        /// Sign it with this secret key file (from `plinth keygen`); writes OUT.sig.
        #[arg(long, requires = "key_name")]
        sign: Option<PathBuf>,
        /// The key's name, as operators' trusted keys list it.
        #[arg(long)]
        key_name: Option<String>,
        /// Also put the component precompiled for this target in the package
        /// (pulley64, pulley32, native or a target triple; repeatable).
        #[arg(long = "precompile")]
        precompile: Vec<String>,
    },
    /// Turn a plugin of the old Python system (plugin.json with capabilities.backend,
    /// backend/*.py, frontend/panels/*.html) into a Plinth project (docs/migrating.md).
    Migrate {
        /// The old plugin's folder.
        dir: PathBuf,
        /// The new project's language.
        #[arg(long, value_enum)]
        lang: commands::migrate::MigrateLang,
        /// Where to write it (default: DIR-wasm).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    // Help text as an attribute: rustdoc would read `<name>` as an HTML tag.
    #[command(
        about = "Compile a plugin's component (or a legacy module) ahead of time for hosts without a compiler; writes precompiled/<name>.<target>.cwasm beside it"
    )]
    Precompile {
        /// A plugin folder, a .wasm file, or a package (.tgz; unpacked into --out).
        path: PathBuf,
        /// pulley64, pulley32, native or a target triple (repeatable).
        #[arg(long = "target", required = true)]
        targets: Vec<String>,
        /// With fuel metering, for hosts that meter fuel.
        #[arg(long)]
        fuel: bool,
        /// For a package: the plugin folder to unpack it into.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Make a publisher key pair: NAME.secret, and the public line for operators' trusted keys.
    Keygen {
        /// The key's name.
        name: String,
    },
    /// Install a plugin from a folder, a package file, or an id in a registry index
    /// (`--index`); shows what it asks for and asks for consent (`--yes` for scripts).
    Install {
        /// A plugin folder, a .tgz package, or a plugin id.
        source: String,
        #[command(flatten)]
        target: commands::install::Target,
        /// Approve what it asks for without asking.
        #[arg(long, short)]
        yes: bool,
        #[command(flatten)]
        trust: commands::install::Trust,
    },
    /// Approve a pending install: it replaces the installed version and runs.
    Approve {
        /// The plugin's id.
        id: String,
        #[command(flatten)]
        target: commands::install::Target,
    },
    /// Drop a pending install.
    Reject {
        /// The plugin's id.
        id: String,
        #[command(flatten)]
        target: commands::install::Target,
    },
    /// Uninstall a plugin; its storage and settings are kept unless --remove-data.
    Uninstall {
        /// The plugin's id.
        id: String,
        /// Also delete its storage and settings.
        #[arg(long)]
        remove_data: bool,
        #[command(flatten)]
        target: commands::install::Target,
    },
    /// List installed and pending plugins.
    Installed {
        #[command(flatten)]
        target: commands::install::Target,
    },
    /// List a registry index's plugins that run on this host.
    Search {
        /// Text to look for in ids and descriptions.
        #[arg(default_value = "")]
        text: String,
        #[command(flatten)]
        trust: commands::install::Trust,
    },
}

fn init_logging(format: LogFormat, default_level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_level));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let default_level =
        if matches!(cli.command, Command::Serve(_) | Command::Dev { .. }) { "info" } else { "warn" };
    init_logging(cli.log_format, default_level);
    commands::engine::choose(commands::engine::EngineChoice {
        engine: match cli.engine {
            EngineArg::Native => plinth_host::EngineKind::Native,
            EngineArg::Pulley => plinth_host::EngineKind::Pulley,
        },
        trust_precompiled: cli.trust_precompiled,
    });
    let result = match cli.command {
        Command::Serve(args) => server::run(args).map(|()| true),
        Command::Legacy(command) => commands::legacy::run(command),
        Command::Inspect { path } => commands::inspect::run(&path).map(|()| true),
        Command::Check { plugin_dir } => commands::check::run(&plugin_dir),
        Command::Call { plugin_dir, kind, name, target, body, headers, settings, data_dir } => {
            commands::call::run(commands::call::CallOptions {
                plugin_dir: &plugin_dir,
                kind: &kind,
                name: &name,
                target: target.as_deref(),
                body: body.as_deref(),
                headers: &headers,
                settings: settings.as_deref(),
                data_dir,
            })
        }
        Command::New { dir, lang, roles, sdk } => commands::new::run(&dir, lang, &roles, sdk),
        Command::Test { dir } => commands::test_cases::run(&dir),
        Command::Build { dirs } => commands::build::run(&dirs),
        Command::Dev { dir, serve } => commands::dev::run(dir, serve),
        Command::Demo { plugins, data_dir } => commands::demo::run(&plugins, data_dir).map(|()| true),
        Command::Pack { dir, out, sign, key_name, precompile } => {
            let sign = sign.as_deref().zip(key_name.as_deref()).map(|(secret, name)| (name, secret));
            precompile
                .iter()
                .map(|t| plinth_host::Target::parse(t).map_err(anyhow::Error::msg))
                .collect::<anyhow::Result<Vec<_>>>()
                .and_then(|targets| commands::install::pack(&dir, out.as_deref(), sign, &targets))
        }
        Command::Migrate { dir, lang, out } => commands::migrate::run(&dir, lang, out),
        Command::Precompile { path, targets, fuel, out } => {
            commands::precompile::run(&path, &targets, fuel, out.as_deref())
        }
        Command::Keygen { name } => commands::install::keygen(&name),
        Command::Install { source, target, yes, trust } => {
            commands::install::install(&source, &target, &trust, yes)
        }
        Command::Approve { id, target } => commands::install::approve(&id, &target),
        Command::Reject { id, target } => commands::install::reject(&id, &target),
        Command::Uninstall { id, remove_data, target } => {
            commands::install::uninstall(&id, &target, remove_data)
        }
        Command::Installed { target } => commands::install::list(&target),
        Command::Search { text, trust } => commands::install::search(&text, &trust),
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(error) => {
            eprintln!("plinth: {error:#}");
            ExitCode::FAILURE
        }
    }
}
