//! Packages and installs from the command line: `plinth pack`, `keygen`,
//! `install`, `approve`, `reject`, `uninstall`, `installed` and `search`.
//! The checks, consent and atomic swaps are the library's
//! ([`plinth_host::install`]); this module finds packages (a folder, a file,
//! or an id in a registry index, local or over HTTP) and talks to people.

use anyhow::{Context, bail};
use plinth_host::install::index::{Index, IndexEntry, Signature, TrustedKey};
use plinth_host::install::{Install, InstallConfig, InstallState, Package, package};
use plinth_host::{Host, HostConfig};
use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};

/// Where packages come from and which signatures count.
#[derive(clap::Args, Clone, Debug, Default)]
pub struct Trust {
    /// A registry index: a JSON file or an http(s) URL.
    #[arg(long, env = "PLINTH_INDEX")]
    pub index: Option<String>,
    /// Publisher keys to trust: a file of `NAME BASE64-PUBLIC-KEY` lines (`plinth keygen` prints one).
    #[arg(long, env = "PLINTH_TRUSTED_KEYS")]
    pub trusted_keys: Option<PathBuf>,
    /// Install only packages signed by a trusted key.
    #[arg(long)]
    pub require_signatures: bool,
}

/// Where the installs live: the server's data directory and, when the
/// server runs on PostgreSQL, its database, which holds the list of installs
/// every node shares.
#[derive(clap::Args, Clone, Debug)]
pub struct Target {
    /// The server's data directory.
    #[arg(long, default_value = "plinth-data")]
    pub data_dir: PathBuf,
    /// The server's PostgreSQL database (`postgres://…`), when it uses one.
    #[arg(long, env = "PLINTH_DATABASE", hide_env_values = true)]
    pub database: Option<String>,
}

impl Trust {
    /// The library's install rules for these options.
    pub fn config(&self) -> anyhow::Result<InstallConfig> {
        let mut config =
            InstallConfig { require_signatures: self.require_signatures, ..InstallConfig::default() };
        if let Some(path) = &self.trusted_keys {
            let text =
                std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
            config.trusted_keys = TrustedKey::parse_list(&text).map_err(anyhow::Error::msg)?;
        }
        Ok(config)
    }

    /// The largest package these rules accept.
    pub fn max_package_bytes(&self) -> u64 {
        InstallConfig::default().max_package_bytes
    }

    /// The index, read or downloaded.
    pub fn read_index(&self) -> anyhow::Result<(Index, String)> {
        let location =
            self.index.clone().context("no registry index: pass --index FILE|URL (or set PLINTH_INDEX)")?;
        let bytes = fetch(&location, 16 << 20).with_context(|| format!("reading the index {location}"))?;
        let text = String::from_utf8(bytes).context("the index is not UTF-8")?;
        Ok((Index::parse(&text)?, location))
    }
}

/// Reads `location` (a file or an http(s) URL), refusing more than `max` bytes.
pub fn fetch(location: &str, max: u64) -> anyhow::Result<Vec<u8>> {
    if location.starts_with("http://") || location.starts_with("https://") {
        // A registry that stalls must not hold a command or a server thread forever.
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(std::time::Duration::from_secs(120)))
            .build()
            .into();
        let mut response = agent.get(location).call().with_context(|| format!("downloading {location}"))?;
        return response
            .body_mut()
            .with_config()
            .limit(max)
            .read_to_vec()
            .with_context(|| format!("downloading {location} (at most {max} bytes)"));
    }
    let size = std::fs::metadata(location).with_context(|| format!("reading {location}"))?.len();
    if size > max {
        bail!("{location} is {size} bytes, more than the {max} accepted");
    }
    Ok(std::fs::read(location)?)
}

/// Where an index entry's package is: its URL as is when absolute, else
/// beside the index (a URL or a file).
pub fn package_location(index: &str, entry: &IndexEntry) -> String {
    if entry.url.contains("://") {
        return entry.url.clone();
    }
    match index.rsplit_once('/') {
        Some((base, _)) if index.contains("://") => format!("{base}/{}", entry.url),
        _ => Path::new(index).parent().unwrap_or(Path::new(".")).join(&entry.url).display().to_string(),
    }
}

/// The package bytes and what they must match, for a folder, a package
/// file, or an id in the index.
pub fn resolve(source: &str, trust: &Trust, max: u64) -> anyhow::Result<(Vec<u8>, Package<'static>)> {
    let path = Path::new(source);
    let mut package = Package::local(&[], source);
    let bytes = if path.is_dir() {
        package.origin = format!("folder {source}");
        package::pack(path)?
    } else if path.is_file() {
        package.origin = format!("file {source}");
        package.signature = read_signature(&format!("{source}.sig"))?;
        fetch(source, max)?
    } else {
        return from_index(source, trust, max);
    };
    Ok((bytes, package))
}

/// The package of plugin `id` in the registry index, and what it must match.
pub fn from_index(id: &str, trust: &Trust, max: u64) -> anyhow::Result<(Vec<u8>, Package<'static>)> {
    let (index, location) = trust.read_index()?;
    let entry = index.newest(id)?.clone();
    let url = package_location(&location, &entry);
    let package = Package {
        origin: format!("{} {} from {url}", entry.id, entry.version),
        expected_id: Some(entry.id.clone()),
        expected_sha256: Some(entry.sha256.clone()),
        expected_size: Some(entry.size),
        signature: entry.signature.clone(),
        ..Package::local(&[], id)
    };
    // One byte over the listed size is enough to refuse it.
    let bytes = fetch(&url, entry.size.min(max) + 1)?;
    Ok((bytes, package))
}

/// A signature file beside a package (`x.tgz.sig`), if there is one.
fn read_signature(path: &str) -> anyhow::Result<Option<Signature>> {
    match std::fs::read_to_string(path) {
        Ok(text) => {
            Ok(Some(serde_json::from_str(&text).with_context(|| format!("{path} is not a signature"))?))
        }
        Err(_) => Ok(None),
    }
}

fn open_host(target: &Target, trust: &Trust) -> anyhow::Result<Host> {
    let mut config = HostConfig::new(&target.data_dir);
    super::engine::apply(&mut config);
    config.install = trust.config()?;
    config.backend = super::database_mark::backend(&target.data_dir, target.database.as_deref())?;
    if let Some(dir) = HostConfig::user_compile_cache_dir() {
        config.compile_cache_dir = Some(dir);
    }
    config.pooling = None;
    Ok(Host::with_config(config)?)
}

/// Prints what an install asks for, in the words an operator approves.
pub fn describe(install: &Install) {
    let request = &install.request;
    println!(
        "{} {} ({}), built against plinth:plugin@{}",
        request.id, request.version, request.name, request.wit_version
    );
    println!("  package:   sha256 {} from {}", install.sha256, install.origin);
    println!("  signed by: {}", install.signed_by.as_deref().unwrap_or("nobody trusted (unsigned)"));
    let or_none = |items: &[String]| if items.is_empty() { "none".to_string() } else { items.join(", ") };
    println!("  grants:    {}", or_none(&request.host_functions));
    println!("  exports:   {}", or_none(&request.exports));
    println!("  widgets:   {}", or_none(&request.widgets));
    let panels: Vec<String> = request.panels.iter().map(|p| p.id.clone()).collect();
    println!("  panels:    {}", or_none(&panels));
    let limits = &request.limits;
    println!(
        "  limits:    {} MiB memory, {} ms per route, {} ms per hook, {} MiB storage",
        limits.memory_bytes >> 20,
        limits.route_timeout.as_millis(),
        limits.hook_timeout.as_millis(),
        limits.storage_bytes >> 20
    );
    if let Some(old) = &install.replaces {
        println!("  replaces:  version {old}");
    }
    for reason in &install.reasons {
        println!("  consent:   {reason}");
    }
}

/// `plinth install SOURCE`: installs, then approves with `--yes` or when a
/// person at the terminal agrees; otherwise leaves it pending.
pub fn install(source: &str, target: &Target, trust: &Trust, yes: bool) -> anyhow::Result<bool> {
    let host = open_host(target, trust)?;
    let (bytes, package) = resolve(source, trust, trust.max_package_bytes())?;
    let install = host.install(Package { bytes: &bytes, ..package })?;
    describe(&install);
    if install.state == InstallState::Approved {
        println!(
            "installed {} {} (it asks for nothing more than the approved version)",
            install.id, install.version
        );
        return Ok(true);
    }
    if yes || ask(&format!("Approve {} {} with these grants? [y/N] ", install.id, install.version))? {
        // Exactly what was shown: another node may have replaced it since.
        let approved = host.approve_install_as_shown(&install.id, Some(&install.sha256))?;
        println!("installed {} {}", approved.id, approved.version);
        return Ok(true);
    }
    println!(
        "pending: approve with `plinth approve {} --data-dir {}`, in a server's console, or with \
         POST /api/installs/{}/approve; running servers load it within seconds of the approval",
        install.id,
        target.data_dir.display(),
        install.id
    );
    Ok(true)
}

/// Asks a yes/no question on the terminal; no terminal means no.
fn ask(question: &str) -> anyhow::Result<bool> {
    if !std::io::stdin().is_terminal() {
        return Ok(false);
    }
    print!("{question}");
    std::io::stdout().flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes"))
}

/// `plinth approve ID`.
pub fn approve(id: &str, target: &Target) -> anyhow::Result<bool> {
    let install = open_host(target, &Trust::default())?.approve_install(id)?;
    println!("installed {} {}", install.id, install.version);
    Ok(true)
}

/// `plinth reject ID`.
pub fn reject(id: &str, target: &Target) -> anyhow::Result<bool> {
    open_host(target, &Trust::default())?.reject_install(id)?;
    println!("dropped the pending install of {id}");
    Ok(true)
}

/// `plinth uninstall ID [--remove-data]`.
pub fn uninstall(id: &str, target: &Target, remove_data: bool) -> anyhow::Result<bool> {
    let done = open_host(target, &Trust::default())?.uninstall(id, remove_data)?;
    let version = done.version.as_deref().unwrap_or("(pending only)");
    println!("uninstalled {} {version}; its storage and settings were {}", done.id, done.data);
    Ok(true)
}

/// `plinth installed`: one line per install, pending or approved.
pub fn list(target: &Target) -> anyhow::Result<bool> {
    for install in open_host(target, &Trust::default())?.installs()? {
        let state = if install.state == InstallState::Pending { "pending" } else { "installed" };
        println!(
            "{}\t{}\t{state}\t{}",
            install.id,
            install.version,
            install.request.host_functions.join(",")
        );
    }
    Ok(true)
}

/// `plinth pack DIR`: writes the package, prints its SHA-256 and the index
/// entry that lists it (signed with `--sign`).
pub fn pack(
    dir: &Path,
    out: Option<&Path>,
    sign: Option<(&str, &Path)>,
    precompile: &[plinth_host::Target],
) -> anyhow::Result<bool> {
    let scratch = tempfile::tempdir()?;
    let host = super::host_with_compile_cache(scratch.path())?;
    let request = host.vet_plugin(dir)?;
    let bytes = package::pack_precompiled(dir, precompile)?;
    let name = format!("{}-{}.{}", request.id, request.version, package::PACKAGE_EXTENSION);
    let out = out.map_or_else(|| PathBuf::from(&name), Path::to_path_buf);
    std::fs::write(&out, &bytes).with_context(|| format!("writing {}", out.display()))?;
    let signature = match sign {
        Some((key_name, secret)) => {
            let secret =
                std::fs::read_to_string(secret).with_context(|| format!("reading {}", secret.display()))?;
            let signature =
                plinth_host::install::index::sign(&bytes, key_name, &secret).map_err(anyhow::Error::msg)?;
            let sig_path = format!("{}.sig", out.display());
            std::fs::write(&sig_path, serde_json::to_vec(&signature)?)?;
            Some(signature)
        }
        None => None,
    };
    let sha256 = package::sha256_hex(&bytes);
    eprintln!("wrote {} ({} bytes)", out.display(), bytes.len());
    println!("sha256 {sha256}");
    // Minor versions before 1.0 are not compatible with each other: `^0.2` is 0.2.x only.
    let wit = request.wit_version.rsplit_once('.').map(|(major_minor, _)| format!("^{major_minor}"));
    let entry = IndexEntry {
        id: request.id,
        version: request.version,
        description: request.description,
        wit: wit.unwrap_or(request.wit_version),
        url: out.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or(name),
        sha256,
        size: bytes.len() as u64,
        grants: request.host_functions,
        signature,
    };
    println!("{}", serde_json::to_string(&entry)?);
    Ok(true)
}

/// `plinth keygen NAME`: a publisher key pair; the secret goes to
/// `NAME.secret` (readable by its owner only), the public line to stdout.
pub fn keygen(name: &str) -> anyhow::Result<bool> {
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|e| anyhow::anyhow!("no randomness from the system: {e}"))?;
    let (public, secret) = plinth_host::install::index::key_pair(seed);
    let path = format!("{name}.secret");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(&path).with_context(|| format!("creating {path} (it must not exist yet)"))?;
    file.write_all(secret.as_bytes())?;
    eprintln!("wrote the secret key to {path}; give operators this line for their trusted keys:");
    println!("{name} {public}");
    Ok(true)
}

/// `plinth search [TEXT]`: the index's plugins that run here.
pub fn search(text: &str, trust: &Trust) -> anyhow::Result<bool> {
    let (index, _) = trust.read_index()?;
    for entry in index.search(text) {
        let signed =
            entry.signature.as_ref().map_or("unsigned".to_string(), |s| format!("signed by {}", s.key));
        println!(
            "{}\t{}\t{}\t{signed}\t{}",
            entry.id,
            entry.version,
            entry.grants.join(","),
            entry.description.as_deref().unwrap_or("")
        );
    }
    Ok(true)
}
