//! What a test does to a plugin: entity writes that fire hooks, route calls,
//! widget calls. Each returns the host's own answer (a `Result`, since an
//! error may be what the test expects), and checks strict mode after the
//! plugin ran.

use crate::TestHost;
use plinth_host::{CallError, EntityWrite, FieldContext, HostError, Method, RouteRequest, RouteResponse};
use serde_json::Value;
use std::fmt::Write as _;

/// Log records of a failing plugin shown in a failed hook assertion.
const LOG_SHOWN: usize = 10;

impl TestHost {
    /// Creates an entity with a generated id and fires every loaded plugin's
    /// `on-entity-created`. A failing hook is in the result's `hooks`, not an
    /// `Err` (the write stands, as in a server): see
    /// [`TestHost::assert_hooks_succeeded`].
    #[track_caller]
    pub fn create_entity(&self, entity_type: &str, data: Value) -> Result<EntityWrite, HostError> {
        self.judged(|host| host.create_entity(entity_type, data))
    }

    /// Creates an entity with this id and fires `on-entity-created`.
    #[track_caller]
    pub fn create_entity_with_id(
        &self,
        id: &str,
        entity_type: &str,
        data: Value,
    ) -> Result<EntityWrite, HostError> {
        self.judged(|host| host.create_entity_with_id(id, entity_type, data))
    }

    /// Replaces an entity's data and fires `on-entity-updated`.
    #[track_caller]
    pub fn update_entity(&self, id: &str, data: Value) -> Result<EntityWrite, HostError> {
        self.judged(|host| host.update_entity(id, data))
    }

    /// Deletes an entity and fires `on-entity-deleted`.
    #[track_caller]
    pub fn delete_entity(&self, id: &str) -> Result<EntityWrite, HostError> {
        self.judged(|host| host.delete_entity(id))
    }

    /// Panics unless at least one hook ran for `write` and every one
    /// succeeded. The message names each failed plugin with its error and
    /// the end of its log (where a panic's message or a denied call shows).
    /// A write no hook saw fails too: a test of a hook that never ran would
    /// pass for the wrong reason (the plugin does not export `events`, or is
    /// not loaded).
    #[track_caller]
    pub fn assert_hooks_succeeded(&self, write: &EntityWrite) {
        self.report_violations();
        let entity = &write.entity;
        assert!(
            !write.hooks.is_empty(),
            "no hook ran for {} `{}`: no loaded plugin exports `events`",
            entity.entity_type,
            entity.id
        );
        let mut failures = Vec::new();
        for hook in &write.hooks {
            let Some(error) = &hook.error else { continue };
            let log = self.host.plugin_log(&hook.plugin_id);
            let shown = &log[log.len().saturating_sub(LOG_SHOWN)..];
            let mut failure = format!("  plugin `{}` ({}): {error}", hook.plugin_id, hook.event.hook_name());
            if !shown.is_empty() {
                failure.push_str("\n    its log, newest last:");
                for record in shown {
                    let _ = write!(
                        failure,
                        "\n      [{:?} {:?}] {}",
                        record.level, record.source, record.message
                    );
                }
            }
            failures.push(failure);
        }
        assert!(
            failures.is_empty(),
            "hooks failed for {} `{}`:\n{}",
            entity.entity_type,
            entity.id,
            failures.join("\n")
        );
    }

    /// Calls one of a plugin's routes, as the server would for
    /// `/api/plugins/{plugin}{path}`. A plugin's own typed error comes back
    /// as `Err` with the code `plugin_not_found`, `plugin_invalid_input`, …
    /// (the server turns it into 404, 400, …); a missing route as
    /// `route_not_found`.
    #[track_caller]
    pub fn call_route(&self, plugin: &str, request: RouteRequest) -> Result<RouteResponse, CallError> {
        self.judged(|host| host.call_route(plugin, request))
    }

    /// `GET path` (with its `?query`, if any) on a plugin's routes.
    #[track_caller]
    pub fn get(&self, plugin: &str, path: &str) -> Result<RouteResponse, CallError> {
        self.call_route(plugin, RouteRequest::new(Method::Get, path))
    }

    /// `POST path` with a JSON body (and `content-type: application/json`).
    #[track_caller]
    pub fn post_json(&self, plugin: &str, path: &str, body: &Value) -> Result<RouteResponse, CallError> {
        self.call_route(plugin, RouteRequest::new(Method::Post, path).with_json(body))
    }

    /// Renders a field widget to HTML; `widget_id` is the full id,
    /// `plugin:{plugin-id}:{widget-id}`.
    #[track_caller]
    pub fn render_widget(&self, widget_id: &str, context: &FieldContext) -> Result<String, CallError> {
        self.judged(|host| host.render_widget(widget_id, context))
    }

    /// Checks a value with a field widget: the problems it found, empty when
    /// the value is valid.
    #[track_caller]
    pub fn validate_widget(&self, widget_id: &str, value: &Value) -> Result<Vec<String>, CallError> {
        self.judged(|host| host.validate_widget(widget_id, value))
    }
}
