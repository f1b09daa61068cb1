//! Why a call into a plugin failed: the plugin, the phase, and what
//! happened, with a stable code and the HTTP status a server answers with.

use crate::GuestError;

/// Why a call into a plugin failed: the plugin, the phase, and what happened.
#[derive(Debug, thiserror::Error)]
#[error("{}", self.describe())]
pub struct CallError {
    /// The plugin concerned: the id asked for, or the one that ran; `None`
    /// when a widget id names no plugin.
    pub plugin: Option<String>,
    /// What was running: `init`, `on-entity-created`, `route GET /stats/{entity_type}`,
    /// `widget render word-count`; `None` when the call never started (no
    /// such plugin, route or widget).
    pub phase: Option<String>,
    /// What happened.
    pub kind: CallErrorKind,
}

/// What went wrong in a call.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum CallErrorKind {
    /// No plugin with this id is loaded.
    UnknownPlugin,
    /// The plugin does not export the interface the call needs.
    NotExported {
        /// The missing interface.
        interface: &'static str,
    },
    /// No route of the plugin matches the path.
    RouteNotFound {
        /// The method asked for.
        method: &'static str,
        /// The path asked for.
        path: String,
    },
    /// The plugin declares no job with this id (`Host::run_job`).
    JobNotFound {
        /// The job asked for.
        job: String,
    },
    /// A route matches the path, but not with this method.
    MethodNotAllowed {
        /// The method asked for.
        method: &'static str,
        /// The path asked for.
        path: String,
        /// The methods it accepts, comma-separated.
        allowed: String,
    },
    /// The widget id is malformed or names no loaded widget.
    UnknownWidget {
        /// The id asked for.
        widget: String,
    },
    /// The plugin ran past its time limit and was stopped.
    Timeout {
        /// The limit.
        limit_ms: u128,
        /// How long the call ran before it was stopped.
        elapsed_ms: u128,
    },
    /// The plugin trapped (a panic, an out-of-bounds access).
    Trap {
        /// Wasmtime's description.
        message: String,
    },
    /// The call hit a memory, fuel or stack limit.
    LimitExceeded {
        /// Which limit, with its value.
        limit: String,
    },
    /// The plugin has its maximum of calls running already.
    Busy {
        /// Its concurrent-call limit.
        limit: usize,
    },
    /// Every instance of the host's pool is in use (by all plugins together).
    HostBusy,
    /// An operator switched the plugin off (it stays installed).
    Disabled,
    /// The plugin failed repeatedly and is left alone for a while.
    Degraded {
        /// When it is tried again.
        retry_in_ms: u128,
    },
    /// A request body over the plugin's limit.
    RequestTooLarge {
        /// The body's size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// A response body over the plugin's limit.
    ResponseTooLarge {
        /// The body's size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// The plugin's answer is not a valid HTTP response (a status outside
    /// 200–599, a malformed header, too many headers).
    InvalidResponse {
        /// What is wrong.
        problem: String,
    },
    /// Other calls of the plugin kept changing the storage this call read,
    /// through every run of it: nothing of it was committed; try again.
    Conflict {
        /// How many times it ran.
        attempts: usize,
    },
    /// The call was a hook delivery that another node completed while it
    /// ran: its storage writes were dropped, so the event took effect once.
    AlreadyDelivered,
    /// The host failed around the call (its database, say); the plugin is not to blame.
    Internal {
        /// What failed.
        message: String,
    },
    /// A function the embedding application registered
    /// ([`EmbedderInterface`](crate::EmbedderInterface)) returned an error or
    /// panicked; the host carries on, and the plugin is not to blame.
    Embedder {
        /// The function (`acme:desktop/notify@1.0.0#show`).
        function: String,
        /// What it reported, or its panic's message.
        problem: String,
    },
    /// The plugin returned one of the WIT errors.
    Guest(GuestError),
}

impl CallError {
    /// The HTTP status a server answers this error with (one table, shared
    /// by `plinth serve` and the test cases that expect a status).
    pub fn http_status(&self) -> u16 {
        match &self.kind {
            CallErrorKind::UnknownPlugin
            | CallErrorKind::RouteNotFound { .. }
            | CallErrorKind::JobNotFound { .. }
            | CallErrorKind::UnknownWidget { .. }
            | CallErrorKind::NotExported { .. } => 404,
            CallErrorKind::MethodNotAllowed { .. } => 405,
            CallErrorKind::Timeout { .. } => 504,
            CallErrorKind::Trap { .. }
            | CallErrorKind::Internal { .. }
            | CallErrorKind::Embedder { .. }
            | CallErrorKind::ResponseTooLarge { .. } => 500,
            CallErrorKind::LimitExceeded { .. } => 507,
            CallErrorKind::Busy { .. }
            | CallErrorKind::HostBusy
            | CallErrorKind::Degraded { .. }
            | CallErrorKind::Disabled => 503,
            CallErrorKind::RequestTooLarge { .. } => 413,
            CallErrorKind::Conflict { .. } | CallErrorKind::AlreadyDelivered => 409,
            CallErrorKind::Guest(error) => match error {
                GuestError::NotFound(_) => 404,
                GuestError::Denied(_) => 403,
                GuestError::InvalidInput(_) => 400,
                GuestError::QuotaExceeded(_) => 507,
                GuestError::Internal(_) => 500,
            },
            #[allow(unreachable_patterns, reason = "CallErrorKind is non_exhaustive for other crates")]
            _ => 500,
        }
    }

    /// An error of `kind` in the phase labelled `phase` of `plugin`'s call.
    pub(crate) fn new(plugin: &str, phase: &str, kind: CallErrorKind) -> CallError {
        CallError { plugin: Some(plugin.to_string()), phase: Some(phase.to_string()), kind }
    }

    /// An error of `kind` found before any call started.
    pub(crate) fn before_call(plugin: Option<&str>, kind: CallErrorKind) -> CallError {
        CallError { plugin: plugin.map(str::to_string), phase: None, kind }
    }

    fn describe(&self) -> String {
        let plugin = self.plugin.as_deref().unwrap_or_default();
        let phase = self.phase.as_deref().unwrap_or("before the call");
        match &self.kind {
            CallErrorKind::UnknownPlugin => format!("no plugin `{plugin}` is loaded"),
            CallErrorKind::NotExported { interface } => {
                format!("plugin `{plugin}` does not export {interface}")
            }
            CallErrorKind::RouteNotFound { method, path } => {
                format!("plugin `{plugin}` has no route for {method} {path}")
            }
            CallErrorKind::JobNotFound { job } => {
                format!(
                    "plugin `{plugin}` declares no job `{job}` (or does not export `jobs`): see `jobs` in its plugin.json"
                )
            }
            CallErrorKind::MethodNotAllowed { method, path, allowed } => {
                format!("plugin `{plugin}`: {path} does not accept {method} (it accepts {allowed})")
            }
            CallErrorKind::UnknownWidget { widget } => format!(
                "no widget `{widget}`; widget ids look like plugin:{{plugin-id}}:{{widget-id}} (see the widget list)"
            ),
            CallErrorKind::Timeout { limit_ms, elapsed_ms } => format!(
                "plugin `{plugin}` ({phase}): stopped at its {limit_ms} ms time limit, after running {elapsed_ms} ms"
            ),
            CallErrorKind::Trap { message } => format!("plugin `{plugin}` ({phase}): trapped: {message}"),
            CallErrorKind::LimitExceeded { limit } => {
                format!("plugin `{plugin}` ({phase}): stopped at its {limit} limit")
            }
            CallErrorKind::Busy { limit } => {
                format!("plugin `{plugin}` is busy: {limit} calls are running, its limit; try again shortly")
            }
            CallErrorKind::HostBusy => {
                format!(
                    "plugin `{plugin}` ({phase}): every instance of the host's pool is in use; try again shortly"
                )
            }
            CallErrorKind::Disabled => format!(
                "plugin `{plugin}` is switched off by an operator; switch it on in the console's Plugins page or with POST /api/plugins/{plugin}/enable"
            ),
            CallErrorKind::Degraded { retry_in_ms } => format!(
                "plugin `{plugin}` is degraded after repeated failures; it is tried again in {retry_in_ms} ms"
            ),
            CallErrorKind::RequestTooLarge { size, limit } => {
                format!("plugin `{plugin}`: the request body of {size} bytes is over its {limit}-byte limit")
            }
            CallErrorKind::ResponseTooLarge { size, limit } => {
                format!("plugin `{plugin}`: its response of {size} bytes is over its {limit}-byte limit")
            }
            CallErrorKind::InvalidResponse { problem } => {
                format!("plugin `{plugin}` ({phase}): its answer is not a valid HTTP response: {problem}")
            }
            CallErrorKind::Conflict { attempts } => format!(
                "plugin `{plugin}` ({phase}): its storage changed under it in all {attempts} runs (a storage conflict); nothing was committed, try again"
            ),
            CallErrorKind::AlreadyDelivered => format!(
                "plugin `{plugin}` ({phase}): another node delivered this event first; this run's storage writes were dropped"
            ),
            CallErrorKind::Internal { message } => {
                format!("plugin `{plugin}` ({phase}): the host failed: {message}")
            }
            CallErrorKind::Embedder { function, problem } => {
                format!(
                    "plugin `{plugin}` ({phase}): the application's function {function} failed: {problem}"
                )
            }
            CallErrorKind::Guest(error) => {
                format!("plugin `{plugin}` ({phase}): {} error: {}", error.kind(), error.message())
            }
        }
    }

    /// A stable, machine-readable name for the error (`route_not_found`,
    /// `timeout`, `plugin_invalid_input`, ...).
    pub fn code(&self) -> &'static str {
        match &self.kind {
            CallErrorKind::UnknownPlugin => "unknown_plugin",
            CallErrorKind::NotExported { .. } => "not_exported",
            CallErrorKind::RouteNotFound { .. } => "route_not_found",
            CallErrorKind::JobNotFound { .. } => "job_not_found",
            CallErrorKind::MethodNotAllowed { .. } => "method_not_allowed",
            CallErrorKind::UnknownWidget { .. } => "unknown_widget",
            CallErrorKind::Timeout { .. } => "timeout",
            CallErrorKind::Trap { .. } => "trap",
            CallErrorKind::LimitExceeded { .. } => "limit_exceeded",
            CallErrorKind::Busy { .. } => "busy",
            CallErrorKind::HostBusy => "host_busy",
            CallErrorKind::Degraded { .. } => "degraded",
            CallErrorKind::Disabled => "plugin_disabled",
            CallErrorKind::RequestTooLarge { .. } => "payload_too_large",
            CallErrorKind::ResponseTooLarge { .. } => "response_too_large",
            CallErrorKind::InvalidResponse { .. } => "invalid_response",
            CallErrorKind::Conflict { .. } => "conflict",
            CallErrorKind::AlreadyDelivered => "already_delivered",
            CallErrorKind::Internal { .. } => "internal",
            CallErrorKind::Embedder { .. } => "embedder_function",
            CallErrorKind::Guest(error) => match error {
                GuestError::NotFound(_) => "plugin_not_found",
                GuestError::Denied(_) => "plugin_denied",
                GuestError::InvalidInput(_) => "plugin_invalid_input",
                GuestError::QuotaExceeded(_) => "plugin_quota_exceeded",
                GuestError::Internal(_) => "plugin_internal",
            },
        }
    }

    /// The plugin concerned, when there is one.
    pub fn plugin(&self) -> Option<&str> {
        self.plugin.as_deref()
    }
}
