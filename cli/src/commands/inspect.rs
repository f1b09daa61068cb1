//! `plinth inspect PATH`: what a component is, and how its imports compare
//! with the grants in its manifest.

use anyhow::Context;
use plinth_host::manifest::{HostFunction, Manifest};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use wasmtime::Engine;
use wasmtime::component::Component;
use wasmtime::component::types::{ComponentExtern, ComponentItem};

/// A component's interface, read without running it.
pub struct Report {
    pub wit: String,
    /// (name, functions) of each import (types left out).
    pub imports: Vec<(String, Vec<String>)>,
    /// (name, functions) of each export.
    pub exports: Vec<(String, Vec<String>)>,
}

impl Report {
    /// The grants the component's imports need.
    pub fn needed_grants(&self) -> BTreeSet<HostFunction> {
        self.imports
            .iter()
            .flat_map(|(interface, functions)| {
                functions.iter().filter_map(|f| HostFunction::for_import(interface, f))
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
        let component = path.join(&manifest.wasm.module);
        Ok((Some(manifest), component))
    } else {
        Ok((None, path.to_path_buf()))
    }
}

/// Decodes the component's world with `wit-component` and lists its imports
/// and exports with wasmtime's component types.
pub fn report(component_path: &Path) -> anyhow::Result<Report> {
    let bytes =
        std::fs::read(component_path).with_context(|| format!("reading {}", component_path.display()))?;
    if wasmparser::Parser::is_core_wasm(&bytes) {
        anyhow::bail!("{} is a core WebAssembly module, not a component", component_path.display());
    }
    let wit = match wit_component::decode(&bytes).context("decoding the component's WIT")? {
        wit_component::DecodedWasm::Component(resolve, world) => {
            let package = resolve.worlds[world].package.context("the decoded world has no package")?;
            let mut printer = wit_component::WitPrinter::default();
            printer.print(&resolve, package, &[])?;
            String::from(printer.output)
        }
        wit_component::DecodedWasm::WitPackage(..) => {
            anyhow::bail!("this is a WIT package, not a component")
        }
    };
    let engine = Engine::default();
    let component = Component::from_binary(&engine, &bytes)
        .map_err(|e| anyhow::anyhow!("compiling the component: {e:#}"))?;
    let ty = component.component_type();
    let describe = |(name, item): (&str, ComponentExtern<'_>)| {
        let functions = match item.ty {
            ComponentItem::ComponentInstance(instance) => instance
                .exports(&engine)
                .filter(|(_, item)| matches!(item.ty, ComponentItem::ComponentFunc(_)))
                .map(|(name, _)| name.to_string())
                .collect(),
            ComponentItem::ComponentFunc(_) => vec![name.to_string()],
            _ => Vec::new(),
        };
        (name.to_string(), functions)
    };
    Ok(Report {
        wit,
        imports: ty.imports(&engine).map(describe).collect(),
        exports: ty.exports(&engine).map(describe).collect(),
    })
}

pub fn run(path: &Path) -> anyhow::Result<()> {
    let (manifest, component_path) = locate(path)?;
    let report = report(&component_path)?;
    println!("component: {}", component_path.display());
    if let Some(manifest) = &manifest {
        println!("plugin: {} {} ({})", manifest.id, manifest.version, manifest.name);
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
