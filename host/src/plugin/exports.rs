//! The roles a plugin exports (`events`, `routes`, `field-widget`, `jobs`,
//! `subscriber`), found by
//! name in whichever supported version of `plinth:plugin` it was built
//! against, and called through typed functions.
//!
//! The bindings' own export lookups name one version; these look up any of
//! [`WIT_VERSIONS`](crate::capabilities::WIT_VERSIONS) and call with the
//! newest bindings' types, which the component model checks by structure:
//! the export interfaces are unchanged since 0.1.0. A version that changes
//! one gives it its own types here.

use crate::bindings::exports::plinth::plugin::field_widget::{FieldContext, Widget};
use crate::bindings::exports::plinth::plugin::routes::{Request, Response, Route};
use crate::bindings::plinth::plugin::types::{Entity, Error, Message};
use crate::capabilities::WIT_VERSIONS;
use wasmtime::AsContextMut;
use wasmtime::component::{ComponentExportIndex, Instance, InstancePre, TypedFunc};

/// The indices of `plinth:plugin/{interface}@{version}`'s `functions`, in
/// the first supported version (newest first) the component exports in full.
fn find<const N: usize, T>(
    pre: &InstancePre<T>,
    interface: &str,
    functions: [&str; N],
) -> Option<(&'static str, [ComponentExportIndex; N])> {
    let component = pre.component();
    WIT_VERSIONS.iter().rev().find_map(|version| {
        let instance = component.get_export_index(None, format!("plinth:plugin/{interface}@{version}"))?;
        let mut found = Vec::with_capacity(N);
        for function in functions {
            found.push(component.get_export_index(Some(&instance), function)?);
        }
        Some((*version, found.try_into().ok()?))
    })
}

type Answer<T> = wasmtime::Result<Result<T, Error>>;

/// An export that answers with the WIT `result<R, error>`.
type Fallible<P, R> = TypedFunc<P, (Result<R, Error>,)>;

/// `events`: the entity hooks.
#[derive(Clone)]
pub(crate) struct EventsExport {
    pub version: &'static str,
    functions: [ComponentExportIndex; 3],
}

/// The hooks of one instance, type-checked.
pub(crate) struct EventsGuest<'a> {
    created: Fallible<(&'a Entity,), ()>,
    updated: Fallible<(&'a Entity,), ()>,
    deleted: Fallible<(&'a str, &'a str), ()>,
}

impl EventsExport {
    pub(crate) fn new<T>(pre: &InstancePre<T>) -> Option<Self> {
        let (version, functions) =
            find(pre, "events", ["on-entity-created", "on-entity-updated", "on-entity-deleted"])?;
        Some(EventsExport { version, functions })
    }

    pub(crate) fn load<'a>(
        &self,
        mut store: impl AsContextMut,
        instance: &Instance,
    ) -> wasmtime::Result<EventsGuest<'a>> {
        let [created, updated, deleted] = &self.functions;
        Ok(EventsGuest {
            created: instance.get_typed_func(&mut store, created)?,
            updated: instance.get_typed_func(&mut store, updated)?,
            deleted: instance.get_typed_func(&mut store, deleted)?,
        })
    }
}

impl<'a> EventsGuest<'a> {
    pub(crate) async fn call_on_entity_created<S: AsContextMut<Data: Send>>(
        &self,
        store: S,
        entity: &'a Entity,
    ) -> Answer<()> {
        Ok(self.created.call_async(store, (entity,)).await?.0)
    }

    pub(crate) async fn call_on_entity_updated<S: AsContextMut<Data: Send>>(
        &self,
        store: S,
        entity: &'a Entity,
    ) -> Answer<()> {
        Ok(self.updated.call_async(store, (entity,)).await?.0)
    }

    pub(crate) async fn call_on_entity_deleted<S: AsContextMut<Data: Send>>(
        &self,
        store: S,
        entity_type: &'a str,
        id: &'a str,
    ) -> Answer<()> {
        Ok(self.deleted.call_async(store, (entity_type, id)).await?.0)
    }
}

/// `routes`: the plugin's HTTP routes.
#[derive(Clone)]
pub(crate) struct RoutesExport {
    pub version: &'static str,
    functions: [ComponentExportIndex; 2],
}

/// The routes of one instance, type-checked.
pub(crate) struct RoutesGuest<'a> {
    register_routes: TypedFunc<(), (Vec<Route>,)>,
    handle: Fallible<(&'a Request,), Response>,
}

impl RoutesExport {
    pub(crate) fn new<T>(pre: &InstancePre<T>) -> Option<Self> {
        let (version, functions) = find(pre, "routes", ["register-routes", "handle"])?;
        Some(RoutesExport { version, functions })
    }

    pub(crate) fn load<'a>(
        &self,
        mut store: impl AsContextMut,
        instance: &Instance,
    ) -> wasmtime::Result<RoutesGuest<'a>> {
        let [register_routes, handle] = &self.functions;
        Ok(RoutesGuest {
            register_routes: instance.get_typed_func(&mut store, register_routes)?,
            handle: instance.get_typed_func(&mut store, handle)?,
        })
    }
}

impl<'a> RoutesGuest<'a> {
    pub(crate) async fn call_register_routes<S: AsContextMut<Data: Send>>(
        &self,
        store: S,
    ) -> wasmtime::Result<Vec<Route>> {
        Ok(self.register_routes.call_async(store, ()).await?.0)
    }

    pub(crate) async fn call_handle<S: AsContextMut<Data: Send>>(
        &self,
        store: S,
        request: &'a Request,
    ) -> Answer<Response> {
        Ok(self.handle.call_async(store, (request,)).await?.0)
    }
}

/// `field-widget`: the plugin's field widgets.
#[derive(Clone)]
pub(crate) struct WidgetsExport {
    pub version: &'static str,
    functions: [ComponentExportIndex; 3],
}

/// The widgets of one instance, type-checked.
pub(crate) struct WidgetsGuest<'a> {
    list_widgets: TypedFunc<(), (Vec<Widget>,)>,
    render: Fallible<(&'a str, &'a FieldContext), String>,
    validate: Fallible<(&'a str, &'a str), Vec<String>>,
}

impl WidgetsExport {
    pub(crate) fn new<T>(pre: &InstancePre<T>) -> Option<Self> {
        let (version, functions) = find(pre, "field-widget", ["list-widgets", "render", "validate"])?;
        Some(WidgetsExport { version, functions })
    }

    pub(crate) fn load<'a>(
        &self,
        mut store: impl AsContextMut,
        instance: &Instance,
    ) -> wasmtime::Result<WidgetsGuest<'a>> {
        let [list_widgets, render, validate] = &self.functions;
        Ok(WidgetsGuest {
            list_widgets: instance.get_typed_func(&mut store, list_widgets)?,
            render: instance.get_typed_func(&mut store, render)?,
            validate: instance.get_typed_func(&mut store, validate)?,
        })
    }
}

impl<'a> WidgetsGuest<'a> {
    pub(crate) async fn call_list_widgets<S: AsContextMut<Data: Send>>(
        &self,
        store: S,
    ) -> wasmtime::Result<Vec<Widget>> {
        Ok(self.list_widgets.call_async(store, ()).await?.0)
    }

    pub(crate) async fn call_render<S: AsContextMut<Data: Send>>(
        &self,
        store: S,
        widget_id: &'a str,
        context: &'a FieldContext,
    ) -> Answer<String> {
        Ok(self.render.call_async(store, (widget_id, context)).await?.0)
    }

    pub(crate) async fn call_validate<S: AsContextMut<Data: Send>>(
        &self,
        store: S,
        widget_id: &'a str,
        value: &'a str,
    ) -> Answer<Vec<String>> {
        Ok(self.validate.call_async(store, (widget_id, value)).await?.0)
    }
}

/// `jobs`: the plugin's scheduled jobs (since 0.3.0).
#[derive(Clone)]
pub(crate) struct JobsExport {
    pub version: &'static str,
    function: ComponentExportIndex,
}

impl JobsExport {
    pub(crate) fn new<T>(pre: &InstancePre<T>) -> Option<Self> {
        let (version, [function]) = find(pre, "jobs", ["run-job"])?;
        Some(JobsExport { version, function })
    }

    /// Runs job `job` in `instance`.
    pub(crate) async fn call_run_job<S: AsContextMut<Data: Send>>(
        &self,
        mut store: S,
        instance: &Instance,
        job: &str,
    ) -> Answer<()> {
        let run: Fallible<(&str,), ()> = instance.get_typed_func(&mut store, self.function)?;
        Ok(run.call_async(store, (job,)).await?.0)
    }
}

/// `subscriber`: the plugin's `on-message`, for the topics it subscribes
/// to (since 0.3.0).
#[derive(Clone)]
pub(crate) struct SubscriberExport {
    pub version: &'static str,
    function: ComponentExportIndex,
}

impl SubscriberExport {
    pub(crate) fn new<T>(pre: &InstancePre<T>) -> Option<Self> {
        let (version, [function]) = find(pre, "subscriber", ["on-message"])?;
        Some(SubscriberExport { version, function })
    }

    /// Hands `message` to `instance`'s `on-message`.
    pub(crate) async fn call_on_message<S: AsContextMut<Data: Send>>(
        &self,
        mut store: S,
        instance: &Instance,
        message: &Message,
    ) -> Answer<()> {
        let on_message: Fallible<(&Message,), ()> = instance.get_typed_func(&mut store, self.function)?;
        Ok(on_message.call_async(store, (message,)).await?.0)
    }
}
