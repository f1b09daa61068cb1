//! Calling a plugin's routes and field widgets: each method finds what to
//! call, describes it as a `Phase`, and has the `Invoker`
//! (`plugin/invoke.rs`) run it. `Host` answers its callers through these.

use crate::Method;
use crate::bindings::exports::plinth::plugin::routes as wit;
use crate::error::{CallError, CallErrorKind};
use crate::plugin::LoadedPlugin;
use crate::plugin::exports::WidgetsExport;
use crate::plugin::invoke;
use crate::plugin::invoke::Invoker;
use crate::plugin::phase::Phase;
use crate::plugin::routes::RouteMatch;
use crate::plugin_log::{bounded, escaped};
use crate::types::Entity;
use serde_json::Value;
use std::sync::Arc;

/// A request for a plugin route.
#[derive(Debug, Clone)]
pub struct RouteRequest {
    /// The HTTP method.
    pub method: Method,
    /// The path relative to `/api/plugins/{plugin-id}`, percent-encoded as received.
    pub path: String,
    /// Decoded query pairs, in order.
    pub query: Vec<(String, String)>,
    /// Headers; names are lower-cased before the plugin sees them.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl RouteRequest {
    /// A request for `path`, whose query (after `?`) is decoded into
    /// [`RouteRequest::query`]; no headers or body.
    pub fn new(method: Method, path: &str) -> Self {
        let (path, query) = path.split_once('?').unwrap_or((path, ""));
        RouteRequest {
            method,
            path: path.to_string(),
            query: Vec::new(),
            headers: Vec::new(),
            body: Vec::new(),
        }
        .with_query_string(query)
    }

    /// Adds the pairs of a raw query string (`a=1&b=two%20words`).
    pub fn with_query_string(mut self, raw: &str) -> Self {
        self.query.extend(form_urlencoded::parse(raw.as_bytes()).into_owned());
        self
    }

    /// Adds a header.
    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    /// Sets the body.
    pub fn with_body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }

    /// Sets a JSON body and its content type.
    pub fn with_json(self, value: &Value) -> Self {
        self.with_header("content-type", "application/json").with_body(value.to_string())
    }
}

/// A plugin route's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteResponse {
    /// The HTTP status.
    pub status: u16,
    /// Headers, as the plugin set them.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl RouteResponse {
    /// The first value of a header (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// The body parsed as JSON.
    pub fn json(&self) -> serde_json::Result<Value> {
        serde_json::from_slice(&self.body)
    }
}

/// What a page-only widget lacks, as the missing interface of its error.
const PAGE_ONLY: &str = "plinth:plugin/field-widget (a page-only widget: its plugin has no component, so it has no WASM render or validate)";

/// Most validation messages a widget's answer keeps.
pub const MAX_VALIDATION_MESSAGES: usize = 100;

/// Most headers a route's response may carry.
pub const MAX_RESPONSE_HEADERS: usize = 100;

/// Checks a route's answer before anything is committed or forwarded: a
/// status in 200–599, at most [`MAX_RESPONSE_HEADERS`] headers with valid
/// names and values, and body plus headers within `limit` bytes.
fn check_response(response: &wit::Response, limit: usize) -> Result<(), CallErrorKind> {
    let invalid = |problem: String| Err(CallErrorKind::InvalidResponse { problem });
    if !(200..=599).contains(&response.status) {
        return invalid(format!("status {} is outside 200-599", response.status));
    }
    if response.headers.len() > MAX_RESPONSE_HEADERS {
        return invalid(format!(
            "{} headers, over the limit of {MAX_RESPONSE_HEADERS}",
            response.headers.len()
        ));
    }
    let mut size = response.body.len();
    for (name, value) in &response.headers {
        let token = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
        if name.is_empty() || !name.bytes().all(token) {
            return invalid(format!("header name {:?} is not a valid token", bounded(name, 64)));
        }
        if value.bytes().any(|b| (b < 0x20 && b != b'\t') || b == 0x7f) {
            return invalid(format!("the value of header `{}` holds control characters", bounded(name, 64)));
        }
        size = size.saturating_add(name.len() + value.len());
    }
    if size > limit {
        return Err(CallErrorKind::ResponseTooLarge { size, limit });
    }
    Ok(())
}

/// What a widget renders.
#[derive(Debug, Clone, Default)]
pub struct FieldContext {
    /// The entity being edited, if it exists yet.
    pub entity: Option<Entity>,
    /// The field's name.
    pub field_name: String,
    /// The field's value.
    pub value: Value,
    /// The field's widget configuration from the application (a JSON object, or null).
    pub settings: Value,
}

impl Invoker {
    /// Calls one of a plugin's routes. A plugin's typed error comes back as
    /// [`CallErrorKind::Guest`](crate::CallErrorKind::Guest).
    pub(crate) async fn call_route(
        &self,
        plugin_id: &str,
        request: RouteRequest,
    ) -> Result<RouteResponse, CallError> {
        let error = |kind| CallError::before_call(Some(plugin_id), kind);
        let plugin = self.registry.get(plugin_id).ok_or_else(|| error(CallErrorKind::UnknownPlugin))?;
        let (indices, table) = plugin
            .routes
            .as_ref()
            .ok_or_else(|| error(CallErrorKind::NotExported { interface: "plinth:plugin/routes" }))?;
        let (handler, params) = match table.find(request.method, &request.path) {
            RouteMatch::Found { handler, params } => (handler, params),
            RouteMatch::MethodNotAllowed { allowed } => {
                return Err(error(CallErrorKind::MethodNotAllowed {
                    method: request.method.as_str(),
                    path: request.path,
                    allowed: allowed.join(", "),
                }));
            }
            RouteMatch::NotFound => {
                return Err(error(CallErrorKind::RouteNotFound {
                    method: request.method.as_str(),
                    path: request.path,
                }));
            }
        };
        let limits = &plugin.context.limits;
        if request.body.len() > limits.request_bytes {
            return Err(error(CallErrorKind::RequestTooLarge {
                size: request.body.len(),
                limit: limits.request_bytes,
            }));
        }
        let phase = Phase::Route { method: request.method, path: request.path.clone() };
        let wit_request = Arc::new(wit::Request {
            method: request.method,
            path: request.path,
            handler: handler.to_string(),
            params,
            query: request.query,
            headers: request.headers.into_iter().map(|(n, v)| (n.to_ascii_lowercase(), v)).collect(),
            body: request.body,
        });
        let response_limit = limits.response_bytes;
        let call = invoke::guest_call(|store, instance| {
            let (indices, request) = (indices.clone(), wit_request.clone());
            Box::pin(async move { indices.load(&mut *store, &instance)?.call_handle(store, &request).await })
        });
        let accept = |response: &wit::Response| check_response(response, response_limit);
        let response = self.run_accepting(&plugin, phase, &call, &accept).await?;
        Ok(RouteResponse { status: response.status, headers: response.headers, body: response.body })
    }

    /// Whether `widget_id` is a page-only widget (no WASM render or validate).
    pub(crate) fn is_page_only_widget(&self, widget_id: &str) -> bool {
        let Some((plugin_id, local_id)) = crate::field_config::parse_widget_id(widget_id) else {
            return false;
        };
        self.registry
            .get(plugin_id)
            .is_some_and(|plugin| plugin.page_widgets.iter().any(|w| w.widget_id == local_id))
    }

    /// Renders widget `widget_id` (`plugin:{plugin-id}:{widget-id}`) to HTML,
    /// refused when over the plugin's response limit.
    pub(crate) async fn render_widget(
        &self,
        widget_id: &str,
        context: &FieldContext,
    ) -> Result<String, CallError> {
        let (plugin, indices, local_id) = self.widget(widget_id)?;
        let wit_context = Arc::new(crate::bindings::exports::plinth::plugin::field_widget::FieldContext {
            entity: context.entity.as_ref().map(Entity::to_wit),
            field_name: context.field_name.clone(),
            value: context.value.to_string(),
            settings: context.settings.to_string(),
        });
        let call = invoke::guest_call(|store, instance| {
            let (indices, context, id) = (indices.clone(), wit_context.clone(), local_id.clone());
            Box::pin(
                async move { indices.load(&mut *store, &instance)?.call_render(store, &id, &context).await },
            )
        });
        let phase = Phase::Render { widget: local_id.clone() };
        let limit = plugin.context.limits.response_bytes;
        let accept = |html: &String| match html.len() {
            size if size > limit => Err(CallErrorKind::ResponseTooLarge { size, limit }),
            _ => Ok(()),
        };
        self.run_accepting(&plugin, phase, &call, &accept).await
    }

    /// Checks `value` with widget `widget_id`: the problems found, empty when
    /// valid. At most `MAX_VALIDATION_MESSAGES` (100) messages of at most 1 KiB
    /// each are kept; the rest is cut with a note.
    pub(crate) async fn validate_widget(
        &self,
        widget_id: &str,
        value: &Value,
    ) -> Result<Vec<String>, CallError> {
        let (plugin, indices, local_id) = self.widget(widget_id)?;
        let value = Arc::new(value.to_string());
        let call = invoke::guest_call(|store, instance| {
            let (indices, value, id) = (indices.clone(), value.clone(), local_id.clone());
            Box::pin(
                async move { indices.load(&mut *store, &instance)?.call_validate(store, &id, &value).await },
            )
        });
        let phase = Phase::Validate { widget: local_id.clone() };
        let mut messages = self.run(&plugin, phase, &call).await?;
        let more = messages.len().saturating_sub(MAX_VALIDATION_MESSAGES);
        messages.truncate(MAX_VALIDATION_MESSAGES);
        let mut messages: Vec<String> =
            messages.iter().map(|m| escaped(&bounded(m, 1024)).into_owned()).collect();
        if more > 0 {
            messages.push(format!("… and {more} more messages"));
        }
        Ok(messages)
    }

    /// The plugin of widget `plugin:{plugin-id}:{widget-id}`, its widget
    /// export, and the widget's local id.
    fn widget(&self, widget_id: &str) -> Result<(Arc<LoadedPlugin>, WidgetsExport, String), CallError> {
        let unknown =
            || CallError::before_call(None, CallErrorKind::UnknownWidget { widget: widget_id.to_string() });
        let (plugin_id, local_id) =
            widget_id.strip_prefix("plugin:").and_then(|rest| rest.split_once(':')).ok_or_else(unknown)?;
        let plugin = self.registry.get(plugin_id).ok_or_else(unknown)?;
        let indices = match plugin.widgets.as_ref() {
            Some((indices, widgets)) if widgets.iter().any(|w| w.widget_id == local_id) => indices.clone(),
            _ if plugin.page_widgets.iter().any(|w| w.widget_id == local_id) => {
                return Err(CallError::before_call(
                    Some(plugin_id),
                    CallErrorKind::NotExported { interface: PAGE_ONLY },
                ));
            }
            _ => return Err(unknown()),
        };
        Ok((plugin, indices, local_id.to_string()))
    }
}
