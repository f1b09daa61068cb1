//! Every platform from one build: the examples (Rust, Python, JavaScript,
//! legacy) give the same answers interpreted (Pulley) as natively, from
//! precompiled artifacts, and through the runtime-only build (no compiler
//! linked, `tests/runtime-only`); a stale, changed or mismatched artifact is
//! refused with the command that makes a good one, and nothing is loaded.

use plinth_host::artifact::{self, ArtifactError};
use plinth_host::{EngineKind, Host, HostConfig, LegacyConfig, LoadError, Target};
use plinth_tests::{copy_example, copy_tree, example, guest_built, guests, shared_compile_cache};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// A host of `engine` that trusts artifacts in plugin folders, as an app
/// shipping its plugins does, with the legacy adapter on. The native engine
/// compiles around the folders' Pulley artifacts, once per case: it keeps
/// what it compiled in the tests' shared cache, which makes the Python
/// component's compile (the longest) once per run, not once per case.
fn host(data_dir: &Path, engine: EngineKind) -> anyhow::Result<Host> {
    host_from(HostConfig::new(data_dir), engine)
}

/// A host on `engine` from `config` (a test case's).
fn host_from(config: HostConfig, engine: EngineKind) -> anyhow::Result<Host> {
    let native = engine == EngineKind::Native;
    let config = HostConfig {
        engine,
        trust_precompiled: true,
        compile_cache: native,
        compile_cache_dir: native.then(shared_compile_cache),
        legacy: Some(LegacyConfig::default()),
        ..config
    };
    Ok(Host::with_config(config)?)
}

/// The example plugins that were built (the Python and JavaScript ones need
/// their componentize tools; `.ci/run` requires them).
fn built_examples() -> Vec<&'static str> {
    let mut names = vec!["character-stats", "word-count-widget", "audit-trail", "daily-digest"];
    if guest_built(guests::CHARACTER_STATS_PY) {
        names.push("character-stats-py");
    }
    if guest_built(guests::WORD_COUNT_WIDGET_JS) {
        names.push("word-count-widget-js");
    }
    names
}

/// Copies of the examples (with their test cases) and of the legacy module,
/// each precompiled for Pulley once for every test here.
fn precompiled_examples() -> &'static (tempfile::TempDir, Vec<PathBuf>, PathBuf) {
    static EXAMPLES: OnceLock<(tempfile::TempDir, Vec<PathBuf>, PathBuf)> = OnceLock::new();
    EXAMPLES.get_or_init(|| {
        let root = tempfile::tempdir().expect("temp dir");
        let pulley = Target::pulley();
        let dirs: Vec<PathBuf> = built_examples()
            .into_iter()
            .map(|name| {
                let dir = copy_example(name, root.path());
                copy_tree(&example(name).join("tests"), &dir.join("tests"));
                artifact::precompile(&dir, &dir.join("plugin.wasm"), &pulley, false).expect("precompile");
                dir
            })
            .collect();
        let legacy = root.path().join("legacy");
        std::fs::create_dir_all(&legacy).expect("legacy folder");
        let math = legacy.join("math.wasm");
        std::fs::copy(guests::LEGACY_MATH_WASM, &math).expect("copy the legacy module");
        artifact::precompile(&legacy, &math, &pulley, false).expect("precompile the legacy module");
        (root, dirs, math)
    })
}

const LEGACY_REQUEST: &str = r#"{"fn":"add","args":[3,5]}"#;

#[test]
fn the_examples_pass_their_cases_interpreted_from_artifacts_as_natively() {
    let (_root, dirs, math) = precompiled_examples();
    for engine in [EngineKind::Native, EngineKind::Pulley] {
        for dir in dirs {
            let passed =
                plinth_test::cases::run(dir, &|config| host_from(config, engine)).expect("run the cases");
            assert!(passed, "{} failed its cases on the {engine} engine", dir.display());
        }
        let data = tempfile::tempdir().expect("temp dir");
        let host = host(data.path(), engine).expect("host");
        let reply = host.legacy().expect("legacy").run_file(math, LEGACY_REQUEST.as_bytes()).expect("job");
        assert_eq!(reply.line, r#"{"ok":true,"value":8}"#, "the legacy job on the {engine} engine");
    }
}

/// `cargo build -p plinth-runtime-only` on its own, so no other package's
/// features bring the compiler in; in its own target folder, so it never
/// waits on the build that runs this test.
fn runtime_only_binary() -> &'static Path {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY.get_or_init(|| {
        let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let target_dir = workspace.join("target/runtime-only");
        let status = Command::new(env!("CARGO"))
            .args(["build", "-p", "plinth-runtime-only", "--target-dir"])
            .arg(&target_dir)
            .current_dir(&workspace)
            .status()
            .expect("run cargo");
        assert!(status.success(), "building the runtime-only binary failed");
        target_dir.join("debug/plinth-runtime-only")
    })
}

fn run_runtime_only(args: &[&std::ffi::OsStr]) -> (bool, String) {
    let output = Command::new(runtime_only_binary()).args(args).output().expect("run plinth-runtime-only");
    let text =
        format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    (output.status.success(), text)
}

#[test]
fn a_runtime_only_build_runs_every_example_from_its_artifacts() {
    let (_root, dirs, math) = precompiled_examples();
    let mut args: Vec<&std::ffi::OsStr> = dirs.iter().map(|d| d.as_os_str()).collect();
    args.extend(["--legacy".as_ref(), math.as_os_str(), LEGACY_REQUEST.as_ref()]);
    let (ok, output) = run_runtime_only(&args);
    assert!(ok, "{output}");
    assert!(output.contains("compiler linked: false"), "{output}");
    assert!(output.contains("engine: pulley (pulley64)"), "{output}");
    assert_eq!(output.matches(" passed, 0 failed").count(), dirs.len(), "{output}");
    assert!(output.contains(r#"legacy {"ok":true,"value":8}"#), "{output}");
}

#[test]
fn a_runtime_only_build_names_the_command_that_makes_a_missing_artifact() {
    let root = tempfile::tempdir().expect("temp dir");
    let dir = copy_example("character-stats", root.path());
    copy_tree(&example("character-stats").join("tests"), &dir.join("tests"));
    let (ok, output) = run_runtime_only(&[dir.as_os_str()]);
    assert!(!ok, "{output}");
    assert!(output.contains("this host has no compiler"), "{output}");
    assert!(output.contains(&format!("plinth precompile {} --target pulley64", dir.display())), "{output}");
}

/// A copy of character-stats precompiled for `target` (with fuel or not),
/// and the paths of its Pulley artifact and record.
fn precompiled_copy(target: &str, fuel: bool) -> (tempfile::TempDir, PathBuf, PathBuf, PathBuf) {
    let root = tempfile::tempdir().expect("temp dir");
    let dir = copy_example("character-stats", root.path());
    let wasm = dir.join("plugin.wasm");
    artifact::precompile(&dir, &wasm, &Target::parse(target).expect("target"), fuel).expect("precompile");
    let made = artifact::artifact_paths(&dir, &wasm, &Target::parse(target).expect("target"));
    let (artifact, record) = artifact::artifact_paths(&dir, &wasm, &Target::pulley());
    if made.0 != artifact {
        std::fs::rename(&made.0, &artifact).expect("rename the artifact");
        std::fs::rename(&made.1, &record).expect("rename the record");
    }
    (root, dir, artifact, record)
}

/// Loads `dir` on a Pulley host and expects an artifact error, which it
/// returns after checking that nothing was loaded and that the message names
/// the plugin, the phase and what to do.
fn refused(dir: &Path) -> ArtifactError {
    let data = tempfile::tempdir().expect("temp dir");
    let host = host(data.path(), EngineKind::Pulley).expect("host");
    let error = host.load_plugin(dir).expect_err("the artifact is refused");
    assert!(host.plugins().is_empty(), "nothing is loaded");
    let text = error.to_string();
    assert!(text.starts_with("plugin `character-stats` (load): "), "{text}");
    match error {
        LoadError::Artifact { error, remedy, .. } => {
            if !matches!(error, ArtifactError::Refused { .. }) {
                assert!(
                    remedy.contains(&format!("plinth precompile {} --target pulley64", dir.display())),
                    "{remedy}"
                );
            }
            error
        }
        other => panic!("expected an artifact error, got {other}"),
    }
}

/// Rewrites the record's `artifact_sha256` to match the artifact's bytes, as
/// an honest record of a file made elsewhere would.
fn rehash(artifact_path: &Path, record_path: &Path) {
    let bytes = std::fs::read(artifact_path).expect("artifact");
    let mut record: serde_json::Value =
        serde_json::from_slice(&std::fs::read(record_path).expect("record")).expect("record JSON");
    record["artifact_sha256"] = plinth_host::install::package::sha256_hex(&bytes).into();
    std::fs::write(record_path, record.to_string()).expect("write the record");
}

#[test]
fn an_artifact_with_one_byte_changed_is_refused() {
    let (_root, dir, artifact_path, _) = precompiled_copy("pulley64", false);
    let mut bytes = std::fs::read(&artifact_path).expect("artifact");
    let middle = bytes.len() / 2;
    bytes[middle] ^= 1;
    std::fs::write(&artifact_path, bytes).expect("write");
    assert!(matches!(refused(&dir), ArtifactError::Changed { .. }));
}

#[test]
fn a_stale_artifact_is_refused() {
    let (_root, dir, _, _) = precompiled_copy("pulley64", false);
    std::fs::copy(guests::WORD_COUNT_WIDGET_WASM, dir.join("plugin.wasm")).expect("another build");
    assert!(matches!(refused(&dir), ArtifactError::Stale { .. }));
}

#[test]
fn an_artifact_of_another_wasmtime_is_refused() {
    let (_root, dir, artifact_path, record_path) = precompiled_copy("pulley64", false);
    // The record says so: refused before wasmtime reads a byte.
    let text = std::fs::read_to_string(&record_path).expect("record");
    std::fs::write(&record_path, text.replace(plinth_host::engine::WASMTIME_VERSION, "47.0.0"))
        .expect("write");
    let error = refused(&dir);
    assert!(
        matches!(&error, ArtifactError::Mismatch { problem, .. } if problem.contains("wasmtime 47.0.0")),
        "{error}"
    );
    // The bytes say so, the record does not: wasmtime's own check refuses it.
    // Its engine section holds a format byte (0), the length of the major
    // version and the version ("48"), which wasmtime compares with its own.
    std::fs::write(&record_path, text).expect("restore the record");
    let mut bytes = std::fs::read(&artifact_path).expect("artifact");
    let major = plinth_host::engine::WASMTIME_VERSION.split('.').next().expect("major");
    let section = [&[0u8, 2][..], major.as_bytes()].concat();
    let at = bytes.windows(section.len()).position(|w| w == section).expect("the engine section");
    bytes[at + 2..at + 4].copy_from_slice(b"47");
    std::fs::write(&artifact_path, bytes).expect("write");
    rehash(&artifact_path, &record_path);
    let error = refused(&dir);
    assert!(
        matches!(&error, ArtifactError::Refused { message, .. } if message.contains("incompatible version '47'")),
        "{error}"
    );
}

/// An artifact made for `target` (with fuel or not) is refused by the host's
/// own check, naming `problem`; with its record made to claim what the host
/// runs (`claim` replaced by `as_host`), wasmtime's check refuses it instead.
fn refused_by_both_checks(target: &str, fuel: bool, problem: &str, claim: &str, as_host: &str) {
    let (_root, dir, artifact_path, record_path) = precompiled_copy(target, fuel);
    let error = refused(&dir);
    assert!(matches!(&error, ArtifactError::Mismatch { problem: p, .. } if p.contains(problem)), "{error}");
    let text = std::fs::read_to_string(&record_path).expect("record");
    std::fs::write(&record_path, text.replace(claim, as_host)).expect("write");
    rehash(&artifact_path, &record_path);
    let error = refused(&dir);
    assert!(matches!(error, ArtifactError::Refused { .. }), "{error}");
}

#[test]
fn an_artifact_for_another_target_is_refused() {
    refused_by_both_checks("pulley32", false, "made for pulley32", "pulley32", "pulley64");
}

#[test]
fn an_artifact_made_with_other_engine_settings_is_refused() {
    refused_by_both_checks("pulley64", true, "fuel metering on", "\"fuel\": true", "\"fuel\": false");
}

#[test]
fn an_artifact_in_an_untrusted_folder_is_compiled_around_not_loaded() {
    let (_root, dir, artifact_path, _) = precompiled_copy("pulley64", false);
    std::fs::write(&artifact_path, b"not an artifact at all").expect("write");
    let data = tempfile::tempdir().expect("temp dir");
    let config =
        HostConfig { engine: EngineKind::Pulley, compile_cache: false, ..HostConfig::new(data.path()) };
    let host = Host::with_config(config).expect("host");
    host.load_plugin(&dir).expect("compiled from the component, the artifact never read");
}
