//! Every host function refuses a plugin without its grant, without a guest:
//! the test walks the table (`table.rs`), so a function added there without
//! a check here, or without a `require` in its capability, fails it.

use super::entities::EntitiesView;
use super::logging::{LoggingCtx, LoggingView};
use super::settings::SettingsView;
use super::storage::{StorageCtx, StorageView};
use super::test_support::{backend, context, run};
use super::{Caller, HostCallObserver, HostFunction, INTERFACES};
use crate::GuestError;
use crate::bindings::plinth::plugin::{entities, logging, settings, storage};
use crate::entity_writes::EntitiesHandle;
use crate::plugin_log::{LogSource, PluginLog};
use crate::store::Backend;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Calls `interface`.`function` with harmless arguments through its view, as
/// the guest would; `None` for a function this test does not know yet.
async fn call(
    backend: &Backend,
    caller: &mut Caller,
    interface: &str,
    function: &str,
) -> Option<Result<(), GuestError>> {
    use entities::Host as _;
    use logging::Host as _;
    use settings::Host as _;
    use storage::Host as _;
    let query = || entities::EntityQuery { entity_type: None, filters: Vec::new(), limit: None, offset: 0 };
    let mut ctx = StorageCtx::default();
    let mut logging_ctx = LoggingCtx::default();
    let outcome = match (interface, function) {
        ("entities", _) => {
            let entities = EntitiesHandle::default();
            let mut view = EntitiesView { caller, store: &backend.entities, entities: &entities };
            match function {
                "read" => view.read("e1".into()).await.map(|r| r.map(drop)),
                "create" => view.create("note".into(), "{}".into()).await.map(|r| r.map(drop)),
                "update" => view.update("e1".into(), "{}".into()).await.map(|r| r.map(drop)),
                "delete" => view.delete("e1".into()).await.map(|r| r.map(drop)),
                "find" => view.find(query()).await.map(|r| r.map(drop)),
                "count" => view.count(query()).await.map(|r| r.map(drop)),
                _ => return None,
            }
        }
        ("storage", _) => {
            let mut view = StorageView { caller, kv: &*backend.kv, ctx: &mut ctx };
            match function {
                "get" => view.get("k".into()).await.map(|r| r.map(drop)),
                "set" => view.set("k".into(), b"v".to_vec()).await,
                "delete" => view.delete("k".into()).await.map(|r| r.map(drop)),
                "list-keys" => view.list_keys(String::new()).await.map(|r| r.map(drop)),
                "increment" => view.increment("k".into(), 1).await.map(|r| r.map(drop)),
                _ => return None,
            }
        }
        ("settings", _) => {
            let mut view = SettingsView { caller, store: &*backend.settings };
            match function {
                "get" => view.get("s".into()).await.map(|r| r.map(drop)),
                "get-all" => view.get_all().await.map(|r| r.map(drop)),
                _ => return None,
            }
        }
        ("messages", "publish") => {
            use crate::bindings::plinth::plugin::messages::Host as _;
            let entities = EntitiesHandle::default();
            let mut view = super::messages::MessagesView { caller, entities: &entities };
            view.publish("news".into(), "{}".into()).await
        }
        ("logging", "log") => {
            let mut view = LoggingView { caller, ctx: &mut logging_ctx };
            view.log(logging::Level::Info, "hello".into()).await
        }
        _ => return None,
    };
    Some(outcome.expect("a denial is the guest's error, not a trap"))
}

#[test]
fn every_host_function_refuses_a_plugin_without_its_grant() {
    let (_data, backend) = backend();
    let observed: Arc<Mutex<Vec<HostFunction>>> = Arc::default();
    let seen = observed.clone();
    let observer =
        HostCallObserver(Arc::new(move |_: &str, function| seen.lock().expect("seen").push(function)));
    let context = context("ungranted", &[], Default::default(), Some(observer));
    let mut checked = 0;
    for interface in INTERFACES {
        for (function, grant) in interface.functions {
            let name = format!("{}.{function}", interface.name);
            let mut caller = Caller::new(context.clone(), Instant::now() + Duration::from_secs(5));
            let outcome = run(call(&backend, &mut caller, interface.name, function));
            let outcome = outcome.unwrap_or_else(|| panic!("no check for {name}: add one to this test"));
            match outcome {
                Err(GuestError::Denied(message)) => {
                    assert!(message.contains(grant.name()), "{name}: {message}")
                }
                other => panic!("{name} without {grant} answered {other:?}"),
            }
            assert_eq!(
                observed.lock().expect("seen").pop(),
                Some(*grant),
                "{name} is reported to the observer"
            );
            let log = PluginLog::default();
            caller.log.publish(&log, "ungranted");
            let records = log.records("ungranted");
            assert!(
                records.iter().any(|r| r.source == LogSource::Host && r.message.contains(grant.name())),
                "{name}: the denial is logged"
            );
            checked += 1;
        }
    }
    assert_eq!(checked, INTERFACES.iter().map(|i| i.functions.len()).sum::<usize>());
    assert_eq!(
        backend.kv.list_keys("ungranted", "").expect("keys"),
        Vec::<String>::new(),
        "nothing was written"
    );
}
