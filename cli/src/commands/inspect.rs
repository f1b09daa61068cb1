//! `plinth inspect PATH`: what a component is, and how its imports compare
//! with the grants in its manifest.

use anyhow::Context;
use plinth_host::manifest::{HostFunction, Manifest};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// A component's interface, read without running it.
pub struct Report {
    pub wit: String,
    /// (name, functions) of each import (types left out).
    pub imports: Vec<(String, Vec<String>)>,
    /// (name, functions) of each export.
    pub exports: Vec<(String, Vec<String>)>,
    /// The componentize tool that built it (`componentize-py`), if one did:
    /// such tools import every function of their WIT world, used or not.
    pub toolchain: Option<&'static str>,
}

impl Report {
    /// The versions of `plinth:plugin` the component was built against, from
    /// the names of its imports and exports (one, for a well-built plugin).
    pub fn plinth_versions(&self) -> BTreeSet<&str> {
        self.imports
            .iter()
            .chain(&self.exports)
            .filter_map(|(name, _)| plinth_host::capabilities::plinth_version(name))
            .collect()
    }

    /// The grants the component's imports need.
    pub fn needed_grants(&self) -> BTreeSet<HostFunction> {
        self.imports
            .iter()
            .flat_map(|(interface, functions)| {
                functions.iter().filter_map(|f| plinth_host::capabilities::grant_for(interface, f))
            })
            .collect()
    }
}

/// Finds the manifest and component of `path` (a plugin folder or a `.wasm`).
pub fn locate(path: &Path) -> anyhow::Result<(Option<Manifest>, PathBuf)> {
    if path.is_dir() {
        let text = std::fs::read_to_string(path.join("plugin.json"))
            .with_context(|| format!("reading {}", path.join("plugin.json").display()))?;
        let manifest = Manifest::parse(&text)
            .with_context(|| format!("{} is invalid", path.join("plugin.json").display()))?;
        let module =
            manifest.wasm_module().context("the plugin has no component (wasm.module) to inspect")?;
        let component = path.join(module);
        Ok((Some(manifest), component))
    } else {
        Ok((None, path.to_path_buf()))
    }
}

/// Reads a component's interface from its embedded WIT, without compiling
/// it (an 18 MB Python component takes many seconds to compile).
pub fn report(component_path: &Path) -> anyhow::Result<Report> {
    let bytes =
        std::fs::read(component_path).with_context(|| format!("reading {}", component_path.display()))?;
    if wasmparser::Parser::is_core_wasm(&bytes) {
        anyhow::bail!("{} is a core WebAssembly module, not a component", component_path.display());
    }
    let (resolve, world) = match wit_component::decode(&bytes).context("decoding the component's WIT")? {
        wit_component::DecodedWasm::Component(resolve, world) => (resolve, world),
        wit_component::DecodedWasm::WitPackage(..) => anyhow::bail!("this is a WIT package, not a component"),
    };
    let package = resolve.worlds[world].package.context("the decoded world has no package")?;
    let mut printer = wit_component::WitPrinter::default();
    printer.print(&resolve, package, &[])?;
    let describe = |items: &wit_parser::IndexMap<wit_parser::WorldKey, wit_parser::WorldItem>| {
        items
            .iter()
            .filter_map(|(key, item)| {
                let functions = match item {
                    wit_parser::WorldItem::Interface { id, .. } => {
                        resolve.interfaces[*id].functions.keys().cloned().collect()
                    }
                    wit_parser::WorldItem::Function(function) => vec![function.name.clone()],
                    wit_parser::WorldItem::Type { .. } => return None,
                };
                Some((resolve.name_world_key(key), functions))
            })
            .collect()
    };
    Ok(Report {
        wit: String::from(printer.output),
        imports: describe(&resolve.worlds[world].imports),
        exports: describe(&resolve.worlds[world].exports),
        toolchain: toolchain(&bytes),
    })
}

/// The componentize tool that made the component, from the producers
/// sections (`processed-by`) of the component and the modules inside it:
/// componentize-js signs as `ComponentizeJS`, componentize-py's last step is
/// `component-init-transform`.
fn toolchain(bytes: &[u8]) -> Option<&'static str> {
    for payload in wasmparser::Parser::new(0).parse_all(bytes).flatten() {
        let wasmparser::Payload::CustomSection(section) = payload else { continue };
        let wasmparser::KnownCustom::Producers(reader) = section.as_known() else { continue };
        for field in reader.into_iter().flatten() {
            for value in field.values.into_iter().flatten() {
                match value.name {
                    "ComponentizeJS" => return Some("componentize-js"),
                    "component-init-transform" => return Some("componentize-py"),
                    _ => {}
                }
            }
        }
    }
    None
}

pub fn run(path: &Path) -> anyhow::Result<()> {
    let (manifest, component_path) = locate(path)?;
    let report = report(&component_path)?;
    println!("component: {}", component_path.display());
    if let Some(tool) = report.toolchain {
        println!("built by: {tool} (it imports every host function, whatever the code calls)");
    }
    if let Some(manifest) = &manifest {
        println!("plugin: {} {} ({})", manifest.id, manifest.version, manifest.name);
    }
    let supported = plinth_host::capabilities::WIT_VERSIONS;
    let named = report.plinth_versions();
    let names = report.imports.iter().chain(&report.exports).map(|(name, _)| name.as_str());
    if let Some(version) = plinth_host::capabilities::built_against(names) {
        println!(
            "built against: plinth:plugin@{version} (supported; this host supports {})",
            supported.join(", ")
        );
    }
    for version in named.iter().filter(|v| !supported.contains(v)) {
        println!(
            "names plinth:plugin@{version}: NOT supported (this host supports {})",
            supported.join(", ")
        );
    }
    println!("\nworld:\n{}", report.wit.trim_end());
    println!("\nimports:");
    for (name, functions) in &report.imports {
        println!("  {name}: {}", functions.join(", "));
    }
    println!("\nexports:");
    for (name, functions) in &report.exports {
        println!("  {name}: {}", functions.join(", "));
    }
    if let Some(manifest) = &manifest {
        let granted = &manifest.capabilities.host_functions;
        let needed = report.needed_grants();
        let names = |set: &mut dyn Iterator<Item = &HostFunction>| {
            let names: Vec<&str> = set.map(|f| f.name()).collect();
            if names.is_empty() { "none".to_string() } else { names.join(", ") }
        };
        println!("\ngrants:");
        println!("  granted and used:     {}", names(&mut granted.intersection(&needed)));
        println!("  granted but unused:   {}", names(&mut granted.difference(&needed)));
        println!(
            "  used but not granted: {} (these calls return `denied`)",
            names(&mut needed.difference(granted))
        );
    }
    Ok(())
}
