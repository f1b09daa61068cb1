//! The Plinth host interfaces, one module each (entities, storage, settings,
//! logging), in the shape of wasmtime's `wasi-config`: a module owns its
//! context, its view type, its grant checks and its
//! `add_to_linker(linker, fn(&mut T) -> View)`, and names no store type.
//! Every view carries the `Caller`: who is calling, what it was granted,
//! and the call's log.
//!
//! `table.rs` is the one declaration of the interfaces, their functions and
//! the grant each needs ([`HostFunction`], [`INTERFACES`]): import checks,
//! grant lookups, error texts and the grant test derive from it.

pub(crate) mod chain;
pub(crate) mod entities;
mod forward;
#[cfg(test)]
mod grant_tests;
pub(crate) mod logging;
pub(crate) mod messages;
mod reads;
pub(crate) mod settings;
pub(crate) mod storage;
#[cfg(test)]
mod storage_tests;
mod table;
#[cfg(test)]
mod test_support;
pub(crate) mod v0_1;
pub(crate) mod v0_2;

pub(crate) use reads::read_in_place;
pub use table::{HostFunction, INTERFACES, Interface};

use crate::GuestError;
use crate::bindings::plinth::plugin::types;
use crate::limits::Limits;
use crate::manifest::SettingSchema;
use crate::plugin::health::Health;
use crate::plugin_log::{CallLog, LogLevel, LogSource};
use crate::store::StoreError;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use wasmtime::component::{HasData, Linker};

/// The newest released version's number, where it is written once: a macro,
/// so `include_str!` paths can use it too.
macro_rules! released_wit {
    () => {
        "0.3.0"
    };
}

/// The newest released version of `plinth:plugin`, frozen: what the SDK,
/// `plinth new` and the examples build against.
pub const WIT_VERSION: &str = released_wit!();

/// The files of the newest released version (`wit/{WIT_VERSION}/`), by
/// name: what `plinth new` vendors into Python and JavaScript projects.
pub const WIT_FILES: [(&str, &str); 12] = {
    macro_rules! file {
        ($name:literal) => {
            ($name, include_str!(concat!("../../../wit/", released_wit!(), "/", $name)))
        };
    }
    [
        file!("types.wit"),
        file!("entities.wit"),
        file!("storage.wit"),
        file!("settings.wit"),
        file!("logging.wit"),
        file!("messages.wit"),
        file!("events.wit"),
        file!("routes.wit"),
        file!("field-widget.wit"),
        file!("jobs.wit"),
        file!("subscriber.wit"),
        file!("worlds.wit"),
    ]
};

/// Every version of `plinth:plugin` the host links at once, oldest first: a
/// component built against any of them loads (see `docs/versioning.md`).
/// The newest is implemented natively (`bindings::latest`); the others
/// forward to it (`v0_1`, `v0_2`).
pub const WIT_VERSIONS: &[&str] = &["0.1.0", "0.2.0", WIT_VERSION];

/// The version of `plinth:plugin` an import or export names
/// (`plinth:plugin/storage@0.1.0` → `0.1.0`, `unversioned` without one);
/// `None` for other packages.
pub fn plinth_version(name: &str) -> Option<&str> {
    let rest = name.strip_prefix("plinth:plugin/")?;
    Some(rest.split_once('@').map_or("unversioned", |(_, version)| version))
}

/// The newest supported version of `plinth:plugin` among `names` (a
/// component's imports and exports): the version it was built against.
pub fn built_against<'a>(names: impl IntoIterator<Item = &'a str>) -> Option<&'static str> {
    let named: Vec<&str> = names.into_iter().filter_map(plinth_version).collect();
    WIT_VERSIONS.iter().rev().find(|known| named.contains(known)).copied()
}

/// Whether the host links `name` (`plinth:plugin/storage@0.1.0`): a host
/// interface in one of [`WIT_VERSIONS`].
pub fn provides(name: &str) -> bool {
    let Some(rest) = name.strip_prefix("plinth:plugin/") else { return false };
    let Some((interface, version)) = rest.split_once('@') else { return false };
    WIT_VERSIONS.contains(&version) && INTERFACES.iter().any(|i| i.name == interface)
}

/// The grant a call to `function` of the imported `interface` needs
/// (`plinth:plugin/storage@0.1.0`, `set` → `storage_set`).
pub fn grant_for(interface: &str, function: &str) -> Option<HostFunction> {
    let name = interface.strip_prefix("plinth:plugin/")?;
    let name = name.split_once('@').map_or(name, |(name, _)| name);
    let interface = INTERFACES.iter().find(|i| i.name == name)?;
    interface.functions.iter().find(|(f, _)| *f == function).map(|(_, grant)| *grant)
}

/// Told of every host function a plugin calls, with the plugin's id, before
/// its grant is checked: how a test harness sees what a plugin did (strict
/// mode). Called on the call's own thread; keep it quick. A call re-run
/// after a storage conflict reports its host calls again: the observer sees
/// attempts, not only the run that committed.
#[derive(Clone)]
pub struct HostCallObserver(pub Arc<ObserveHostCall>);

/// What a [`HostCallObserver`] calls: the plugin's id and the function.
pub type ObserveHostCall = dyn Fn(&str, HostFunction) + Send + Sync;

impl std::fmt::Debug for HostCallObserver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HostCallObserver")
    }
}

/// What a plugin is, as its calls need it.
pub(crate) struct PluginContext {
    pub id: String,
    pub grants: BTreeSet<HostFunction>,
    /// The embedding application's interfaces granted (`crate::embedder`).
    pub embedder_grants: BTreeSet<String>,
    /// Entity write grants narrowed to entity types (`entities`).
    pub entity_types: BTreeMap<HostFunction, BTreeSet<String>>,
    /// The hosts it may send HTTP requests to (`crate::outbound`).
    #[cfg_attr(not(feature = "outbound-http"), allow(dead_code))]
    pub outbound_hosts: Vec<crate::outbound::OutboundGrant>,
    /// The topics it may publish, with `message_publish` (`messages`).
    pub publishes: BTreeSet<String>,
    pub settings: BTreeMap<String, SettingSchema>,
    /// The plugin's effective limits.
    pub limits: Limits,
    pub health: Health,
    /// Held shared by every call but widget calls; a call re-run after a
    /// storage conflict holds it alone, so the re-run cannot conflict again
    /// with the plugin's other calls. One per plugin id,
    /// shared by the versions of a reloaded plugin.
    pub serial: Arc<tokio::sync::RwLock<()>>,
    pub observer: Option<HostCallObserver>,
    /// Which of its reads ran past the quick budget last time (`reads.rs`).
    pub slow_reads: reads::SlowReads,
}

/// The calling plugin, the call's deadline and its log, shared by every
/// capability view.
pub(crate) struct Caller {
    pub plugin: Arc<PluginContext>,
    /// When the call is stopped; host calls that can run long stop by then.
    pub deadline: std::time::Instant,
    pub log: CallLog,
    /// Whether the call may write entities (routes and hooks), and the
    /// chain its writes continue: a hook's event's, or a new one (`entities`).
    pub chain: Option<crate::store::WriteChain>,
    /// The entity writes this call made, committed with its storage.
    pub entity_changes: Vec<crate::store::EntityChange>,
    /// The messages this call published, committed with its storage (`messages`).
    pub messages: Vec<crate::store::MessageChange>,
    /// The version (`updated_at`) of each entity this call read first: its
    /// update or delete applies only to that version (`entities`).
    pub entities_read: std::collections::HashMap<String, u64>,
}

impl Caller {
    pub(crate) fn new(plugin: Arc<PluginContext>, deadline: std::time::Instant) -> Caller {
        Caller {
            plugin,
            deadline,
            log: CallLog::default(),
            chain: None,
            entity_changes: Vec::new(),
            messages: Vec::new(),
            entities_read: Default::default(),
        }
    }

    /// Checks a grant. A missing one is logged under the plugin's id and
    /// becomes the typed `denied` error the guest sees.
    pub(crate) fn require(&mut self, function: HostFunction) -> Result<(), GuestError> {
        if let Some(observer) = &self.plugin.observer {
            (observer.0)(&self.plugin.id, function);
        }
        if self.plugin.grants.contains(&function) {
            return Ok(());
        }
        self.plugin.health.denied();
        let message = format!(
            "plugin `{}` called {function} without the grant: add \"{function}\" to capabilities.host_functions in plugin.json",
            self.plugin.id
        );
        self.log.push(LogLevel::Warn, LogSource::Host, message.clone());
        Err(GuestError::Denied(message))
    }

    /// A backend failure seen by a guest: logged with the plugin id, reported
    /// to the guest as `internal` (the host carries on).
    pub(crate) fn internal(&mut self, operation: &str, error: StoreError) -> GuestError {
        let message = format!("{operation} failed in the host's database: {error}");
        self.log.push(LogLevel::Error, LogSource::Host, message.clone());
        GuestError::Internal(message)
    }
}

/// Runs blocking backend work from async code: on a worker of a
/// multi-threaded tokio runtime its other tasks move to another thread
/// meanwhile (`block_in_place`), so waiting on the database never stalls the
/// runtime; elsewhere (the host's blocking API, a current-thread runtime) it
/// simply runs.
pub(crate) fn in_place<R>(work: impl FnOnce() -> R) -> R {
    let multi_threaded = tokio::runtime::Handle::try_current()
        .is_ok_and(|runtime| runtime.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread);
    if !multi_threaded {
        return work();
    }
    #[cfg(test)]
    HANDED_OFF.set(HANDED_OFF.get() + 1);
    tokio::task::block_in_place(work)
}

#[cfg(test)]
thread_local! {
    /// How often `in_place` handed a worker's tasks off on this thread.
    pub(crate) static HANDED_OFF: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
}

struct HasCaller;

impl HasData for HasCaller {
    type Data<'a> = &'a mut Caller;
}

impl types::Host for &mut Caller {}

/// Links `plinth:plugin/types` (types only, no functions).
pub(crate) fn add_types_to_linker<T: Send + 'static>(
    linker: &mut Linker<T>,
    get: fn(&mut T) -> &mut Caller,
) -> wasmtime::Result<()> {
    types::add_to_linker::<T, HasCaller>(linker, get)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The SHA-256 of every file of a released WIT folder, in name order.
    fn wit_digest(version: &str) -> String {
        use sha2::{Digest, Sha256};
        let dir = format!("{}/../wit/{version}", env!("CARGO_MANIFEST_DIR"));
        let mut files: Vec<_> =
            std::fs::read_dir(&dir).expect("WIT folder").map(|e| e.expect("entry").path()).collect();
        files.sort();
        let mut hasher = Sha256::new();
        for file in files {
            hasher.update(file.file_name().expect("name").as_encoded_bytes());
            hasher.update(std::fs::read(&file).expect("WIT file"));
        }
        hasher.finalize().iter().map(|b| format!("{b:02x}")).collect()
    }

    /// Released versions are frozen (docs/versioning.md): a plugin built
    /// against one must keep loading, so its files never change. A new
    /// version is a new folder, with its hash added here.
    #[test]
    fn frozen_wit_versions_never_change() {
        let frozen = [
            ("0.1.0", "30033e510a6195dbe5ee4a69c3f2b2ce11d982d7fe6a4230b7e69b8662d6156b"),
            ("0.2.0", "759975f3c8dbe94b8ebfe0985d87bc2e9a60e2ac557e1bd83188b39f6a50e9b7"),
            ("0.3.0", "5281adb07d7a380fe153206bd53ec178d74be94456909f30fe56bff62ffbbc4f"),
        ];
        assert_eq!(frozen.map(|(v, _)| v).to_vec(), WIT_VERSIONS, "every supported version is frozen here");
        for (version, digest) in frozen {
            assert_eq!(
                wit_digest(version),
                digest,
                "wit/{version}/ changed; released WIT is frozen: add a new version instead"
            );
        }
    }

    /// What `plinth new` vendors is every file of its version's folder.
    #[test]
    fn the_vendored_wit_files_are_the_whole_folder() {
        let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
        let mut listed: Vec<&str> = WIT_FILES.iter().map(|(name, _)| *name).collect();
        listed.sort_unstable();
        let folder = std::fs::read_dir(format!("{root}/wit/{WIT_VERSION}")).expect("WIT folder");
        let mut present: Vec<String> =
            folder.map(|entry| entry.expect("entry").file_name().to_string_lossy().into_owned()).collect();
        present.sort_unstable();
        assert_eq!(listed, present, "wit/{WIT_VERSION}/");
    }

    /// The table is the one source of truth for the newest version; its WIT
    /// files and the SDK's binding map (macro literals, so they cannot be
    /// generated from it) are checked against it, and every grant is needed
    /// by some function.
    #[test]
    fn the_table_matches_the_wit_and_the_sdk_bindings() {
        let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
        let sdk = std::fs::read_to_string(format!("{root}/guest-sdk/src/bindings.rs")).expect("SDK bindings");
        for interface in INTERFACES {
            let mapped = format!("\"plinth:plugin/{}@{WIT_VERSION}\"", interface.name);
            assert!(sdk.contains(&mapped), "guest-sdk/src/bindings.rs lacks {mapped}");
            let wit = std::fs::read_to_string(format!("{root}/wit/{WIT_VERSION}/{}.wit", interface.name))
                .expect("WIT file");
            assert!(wit.contains(&format!("interface {} {{", interface.name)));
            assert_eq!(
                wit.matches(": func(").count(),
                interface.functions.len(),
                "wit/{}.wit and the table list different functions",
                interface.name
            );
            for (function, _) in interface.functions {
                assert!(
                    wit.contains(&format!("{function}: func(")),
                    "wit/{}.wit has no {function}",
                    interface.name
                );
            }
        }
        for grant in HostFunction::ALL {
            assert!(
                INTERFACES.iter().any(|i| i.functions.iter().any(|(_, g)| g == grant)),
                "{grant} guards no function"
            );
        }
    }

    /// Where a build tool needs the released version as a literal (the SDK's
    /// bindings are checked above), it names `WIT_VERSION`'s: a release
    /// changes them together, or this fails.
    #[test]
    fn every_literal_of_the_released_version_agrees() {
        let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
        let places = [
            ("tests/build.rs", format!("const NEWEST_WIT: &str = \"{WIT_VERSION}\";")),
            ("example-plugins/audit-trail/Cargo.toml", format!("path = \"../../wit/{WIT_VERSION}\"")),
            ("example-plugins/character-stats/Cargo.toml", format!("path = \"../../wit/{WIT_VERSION}\"")),
            ("example-plugins/word-count-widget/Cargo.toml", format!("path = \"../../wit/{WIT_VERSION}\"")),
            ("example-plugins/character-stats-py/plugin.json", format!("-d ../../wit/{WIT_VERSION} ")),
            (
                "example-plugins/word-count-widget-js/app.js",
                format!("'plinth:plugin/settings@{WIT_VERSION}'"),
            ),
        ];
        for (file, expected) in places {
            let text = std::fs::read_to_string(format!("{root}/{file}")).expect("file");
            assert!(text.contains(&expected), "{file} does not name the released version: {expected}");
        }
    }
}
