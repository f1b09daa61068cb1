//! Plugin packages: one gzip-compressed tar archive holding `plugin.json`
//! (its `wasm.module` set to `plugin.wasm`, its `build` section dropped), the
//! component as `plugin.wasm`, the sub-folders holding its UI pages, and its
//! `README.md` when it has one.
//!
//! Packing is deterministic (sorted names, no times, owners or modes), so
//! the same folder always gives the same SHA-256. Unpacking trusts nothing:
//! only plain files and folders, relative names without `.`/`..`, no name
//! twice, and bounded counts and sizes, checked before a byte is written.

use super::InstallConfig;
use super::error::{InstallError, io};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Component, Path, PathBuf};

/// The package's file name extension.
pub const PACKAGE_EXTENSION: &str = "tgz";

/// Longest name (a path inside the package) accepted, in bytes.
const MAX_NAME_BYTES: usize = 512;

/// Whether `bytes` look like a package (gzip's magic number).
pub fn is_package(bytes: &[u8]) -> bool {
    bytes.starts_with(&[0x1f, 0x8b])
}

/// The SHA-256 digest of `bytes`: what the index lists (as hex) and what
/// publishers sign.
pub fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// A digest as lowercase hex.
pub fn hex(digest: &[u8]) -> String {
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// The lowercase hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&sha256(bytes))
}

/// Packs the plugin folder `dir` into a package (see the module docs).
pub fn pack(dir: &Path) -> Result<Vec<u8>, InstallError> {
    pack_precompiled(dir, &[])
}

/// Packs the plugin folder `dir`, with its component precompiled for each of
/// `targets` (`precompiled/plugin.<target>.cwasm` and its record, see
/// [`crate::artifact`]), for hosts that cannot or should not compile. The
/// folder's own `precompiled` folder is never packed: every artifact in a
/// package is made here, from the component packed beside it.
pub fn pack_precompiled(dir: &Path, targets: &[crate::engine::Target]) -> Result<Vec<u8>, InstallError> {
    let origin = dir.display().to_string();
    let bad = |problem: String| InstallError::BadArchive { origin: origin.clone(), problem };
    let manifest = crate::plugin::read_manifest(dir).map_err(|e| bad(e.to_string()))?;
    let manifest_path = dir.join("plugin.json");
    let text = std::fs::read_to_string(&manifest_path).map_err(io(&manifest_path))?;
    let mut json: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| bad(format!("plugin.json: {e}")))?;
    if let Some(object) = json.as_object_mut() {
        object.remove("build");
    }
    let mut files: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    // A front-end-only plugin has no component to pack.
    let component = match manifest.wasm_module() {
        Some(module) => {
            json["wasm"]["module"] = serde_json::json!("plugin.wasm");
            let component_path = dir.join(module);
            Some(std::fs::read(&component_path).map_err(io(&component_path))?)
        }
        None if !targets.is_empty() => {
            return Err(bad("a plugin without a component has nothing to precompile".into()));
        }
        None => None,
    };
    files.insert("plugin.json".into(), serde_json::to_vec_pretty(&json).expect("JSON value"));
    if let Some(component) = component {
        files.insert("plugin.wasm".into(), component);
    }
    for target in targets {
        let (artifact, record) = precompile(&files["plugin.wasm"], target)
            .map_err(|problem| bad(format!("precompiling for {target}: {problem}")))?;
        let (artifact_path, record_path) =
            crate::artifact::artifact_paths(Path::new(""), Path::new("plugin.wasm"), target);
        for (path, bytes) in [(artifact_path, artifact), (record_path, record.to_json())] {
            files.insert(path.to_string_lossy().replace('\\', "/"), bytes);
        }
    }
    let readme = dir.join("README.md");
    if readme.is_file() {
        files.insert("README.md".into(), std::fs::read(&readme).map_err(io(&readme))?);
    }
    let pages = manifest.field_widgets.iter().filter_map(|w| w.html.as_deref());
    let pages = pages.chain(manifest.panels.iter().map(|p| p.html.as_str()));
    for page in pages {
        // Pages live in a sub-folder (checked when the manifest was read); take all of it.
        let Some(Component::Normal(folder)) = Path::new(page).components().next() else { continue };
        add_folder(&dir.join(folder), Path::new(folder), &mut files, &bad)?;
    }

    let mut builder =
        tar::Builder::new(flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default()));
    for (name, bytes) in &files {
        let mut header = tar::Header::new_gnu();
        header.set_size(bytes.len() as u64);
        header.set_mode(0o644);
        header.set_mtime(0);
        header.set_entry_type(tar::EntryType::Regular);
        builder.append_data(&mut header, name, bytes.as_slice()).map_err(|e| bad(format!("{name}: {e}")))?;
    }
    let encoder = builder.into_inner().map_err(|e| bad(e.to_string()))?;
    encoder.finish().map_err(|e| bad(e.to_string()))
}

#[cfg(feature = "compiler")]
fn precompile(
    component: &[u8],
    target: &crate::engine::Target,
) -> Result<(Vec<u8>, crate::artifact::ArtifactRecord), String> {
    crate::artifact::make(component, target, false)
}

#[cfg(not(feature = "compiler"))]
fn precompile(
    _: &[u8],
    _: &crate::engine::Target,
) -> Result<(Vec<u8>, crate::artifact::ArtifactRecord), String> {
    Err("this build has no compiler (feature `compiler`)".into())
}

/// Adds every file under `folder` (named `name/...` in the package); a link
/// is refused, since installing would refuse it too.
fn add_folder(
    folder: &Path,
    name: &Path,
    files: &mut BTreeMap<String, Vec<u8>>,
    bad: &dyn Fn(String) -> InstallError,
) -> Result<(), InstallError> {
    for entry in std::fs::read_dir(folder).map_err(io(folder))? {
        let entry = entry.map_err(io(folder))?;
        let path = entry.path();
        let kind = entry.file_type().map_err(io(&path))?;
        let inner = name.join(entry.file_name());
        if kind.is_dir() {
            add_folder(&path, &inner, files, bad)?;
        } else if kind.is_file() {
            let key = inner.to_str().ok_or_else(|| bad(format!("{} is not UTF-8", inner.display())))?;
            files.insert(key.replace('\\', "/"), std::fs::read(&path).map_err(io(&path))?);
        } else {
            return Err(bad(format!(
                "{} is a link or a special file; packages hold plain files only",
                path.display()
            )));
        }
    }
    Ok(())
}

/// Unpacks package `bytes` into the new folder `into`, refusing anything
/// but plain files and folders with safe, distinct names, within the
/// configured counts and sizes. On error, `into` may hold part of the
/// package: unpack into a staging folder and remove it.
pub fn unpack(bytes: &[u8], into: &Path, config: &InstallConfig, origin: &str) -> Result<(), InstallError> {
    let bad = |problem: String| InstallError::BadArchive { origin: origin.to_string(), problem };
    // A decompression bomb stops here: headers take 512 bytes per entry at most thrice.
    let stream_limit = config.max_unpacked_bytes + (config.max_files as u64 + 16) * 1536;
    let decoder = flate2::read::GzDecoder::new(bytes).take(stream_limit);
    let mut archive = tar::Archive::new(decoder);
    std::fs::create_dir_all(into).map_err(io(into))?;
    let mut seen: BTreeMap<PathBuf, bool> = BTreeMap::new();
    let (mut total, mut count) = (0u64, 0usize);
    let entries = archive.entries().map_err(|e| bad(format!("not a gzip-compressed tar archive: {e}")))?;
    for entry in entries {
        let mut entry =
            entry.map_err(|e| bad(format!("unreadable archive (not gzip tar, or cut short): {e}")))?;
        let name = entry.path().map_err(|e| bad(format!("a name is not valid: {e}")))?.into_owned();
        let shown = name.display().to_string();
        check_name(&name).map_err(|problem| bad(format!("`{shown}`: {problem}")))?;
        count += 1;
        if count > config.max_files {
            return Err(bad(format!("it holds more than {} entries", config.max_files)));
        }
        let is_dir = match entry.header().entry_type() {
            tar::EntryType::Regular | tar::EntryType::Continuous => false,
            tar::EntryType::Directory => true,
            tar::EntryType::Symlink | tar::EntryType::Link => {
                return Err(bad(format!("`{shown}` is a link; packages hold plain files only")));
            }
            other => {
                return Err(bad(format!("`{shown}` is a {other:?} entry; packages hold plain files only")));
            }
        };
        let name = name.components().collect::<PathBuf>();
        // A name may appear once; a file may not sit where a folder is, or inside a file.
        for parent in name.ancestors().skip(1).filter(|p| !p.as_os_str().is_empty()) {
            if seen.insert(parent.to_path_buf(), true) == Some(false) {
                return Err(bad(format!("`{shown}` is inside `{}`, which is a file", parent.display())));
            }
        }
        // Only a folder may be named again, and only as a folder.
        if let Some(was_dir) = seen.insert(name.clone(), is_dir)
            && !(was_dir && is_dir)
        {
            return Err(bad(format!("`{shown}` appears twice")));
        }
        let target = into.join(&name);
        if is_dir {
            std::fs::create_dir_all(&target).map_err(io(&target))?;
            continue;
        }
        let size = entry.header().size().map_err(|e| bad(format!("`{shown}`: {e}")))?;
        total = total.saturating_add(size);
        if total > config.max_unpacked_bytes {
            return Err(bad(format!("it unpacks to more than {} bytes", config.max_unpacked_bytes)));
        }
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent).map_err(io(parent))?;
        }
        let mut file = std::fs::File::create_new(&target).map_err(io(&target))?;
        let copied = std::io::copy(&mut (&mut entry).take(size), &mut file).map_err(io(&target))?;
        if copied != size {
            return Err(bad(format!("`{shown}` is cut short")));
        }
    }
    if !into.join("plugin.json").is_file() {
        return Err(bad("it has no plugin.json at its top".into()));
    }
    Ok(())
}

/// Whether `path` (a manifest's `wasm.module`) names a file inside the
/// plugin's folder: relative, plain parts only.
pub fn is_inside(path: &str) -> bool {
    check_name(Path::new(path)).is_ok()
}

/// A name inside a package: relative, plain parts only, not too long.
fn check_name(name: &Path) -> Result<(), &'static str> {
    if name.as_os_str().len() > MAX_NAME_BYTES {
        return Err("the name is too long");
    }
    let mut parts = 0;
    for part in name.components() {
        match part {
            Component::Normal(part) if part.to_str().is_some() => parts += 1,
            Component::Normal(_) => return Err("the name is not UTF-8"),
            Component::CurDir => {}
            Component::ParentDir => return Err("`..` would leave the plugin's folder"),
            Component::RootDir | Component::Prefix(_) => {
                return Err("an absolute path would leave the plugin's folder");
            }
        }
    }
    if parts == 0 { Err("an empty name") } else { Ok(()) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> InstallConfig {
        InstallConfig { max_unpacked_bytes: 1 << 20, max_files: 16, ..InstallConfig::default() }
    }

    /// A package with raw tar entries: (name, type, contents). Names are
    /// written into the header as they are, bypassing `tar`'s own checks, as
    /// a hostile packer would.
    fn archive(entries: &[(&str, tar::EntryType, &[u8])]) -> Vec<u8> {
        let mut builder =
            tar::Builder::new(flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast()));
        for (name, kind, data) in entries {
            let mut header = tar::Header::new_old();
            header.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
            header.set_entry_type(*kind);
            header.set_size(data.len() as u64);
            if *kind == tar::EntryType::Symlink {
                header.set_link_name("/etc/passwd").expect("link name");
            }
            header.set_cksum();
            builder.append(&header, *data).expect("append");
        }
        builder.into_inner().expect("tar").finish().expect("gzip")
    }

    fn refused(bytes: &[u8]) -> String {
        let dir = tempfile::tempdir().expect("temp dir");
        match unpack(bytes, &dir.path().join("out"), &config(), "test.tgz") {
            Err(InstallError::BadArchive { problem, .. }) => problem,
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn escaping_linked_duplicate_and_oversized_entries_are_refused() {
        use tar::EntryType::{Directory, Regular, Symlink};
        let manifest: &[u8] = b"{}";
        assert!(refused(&archive(&[("../evil", Regular, b"x")])).contains(".."));
        assert!(refused(&archive(&[("/etc/evil", Regular, b"x")])).contains("absolute"));
        assert!(refused(&archive(&[("ui/../../evil", Regular, b"x")])).contains(".."));
        assert!(
            refused(&archive(&[("plugin.json", Regular, manifest), ("link", Symlink, b"")])).contains("link")
        );
        let twice = archive(&[("plugin.json", Regular, manifest), ("plugin.json", Regular, manifest)]);
        assert!(refused(&twice).contains("twice"));
        let under_file = archive(&[("a", Regular, b"x"), ("a/b", Regular, b"y")]);
        assert!(refused(&under_file).contains("which is a file"));
        let big = vec![0u8; (1 << 20) + 1];
        assert!(refused(&archive(&[("plugin.json", Regular, &big)])).contains("unpacks to more than"));
        let many: Vec<String> = (0..17).map(|i| format!("f{i}")).collect();
        let entries: Vec<_> = many.iter().map(|n| (n.as_str(), Regular, &b"x"[..])).collect();
        assert!(refused(&archive(&entries)).contains("more than 16 entries"));
        assert!(refused(b"not an archive").contains("gzip"));
        assert!(
            refused(&archive(&[("ui", Directory, b""), ("ui/page.html", Regular, b"x")]))
                .contains("no plugin.json")
        );
    }

    #[test]
    fn a_plain_package_unpacks() {
        use tar::EntryType::{Directory, Regular};
        let bytes = archive(&[
            ("plugin.json", Regular, b"{}"),
            ("ui", Directory, b""),
            ("ui/a.html", Regular, b"<p>"),
        ]);
        let dir = tempfile::tempdir().expect("temp dir");
        unpack(&bytes, &dir.path().join("out"), &config(), "test.tgz").expect("unpacks");
        assert_eq!(std::fs::read(dir.path().join("out/ui/a.html")).expect("file"), b"<p>");
    }
}
