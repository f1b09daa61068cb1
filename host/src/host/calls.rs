//! Routes and field widgets as the embedding API offers them: each method
//! hands its call to the `Invoker` (`crate::calls` finds what to call).

use super::Host;
use crate::calls::{FieldContext, RouteRequest, RouteResponse};
use crate::error::CallError;
use crate::plugin::WidgetInfo;
use serde_json::Value;

impl Host {
    /// Calls one of a plugin's routes, from code without an async runtime
    /// (see [`Host::call_route_async`]).
    pub fn call_route(&self, plugin_id: &str, request: RouteRequest) -> Result<RouteResponse, CallError> {
        self.block_on(self.call_route_async(plugin_id, request))
    }

    /// Calls one of a plugin's routes. A plugin's typed error comes back as
    /// [`CallErrorKind::Guest`](crate::CallErrorKind::Guest).
    pub async fn call_route_async(
        &self,
        plugin_id: &str,
        request: RouteRequest,
    ) -> Result<RouteResponse, CallError> {
        self.invoker.call_route(plugin_id, request).await
    }

    /// Every field widget of every loaded plugin.
    pub fn widgets(&self) -> Vec<WidgetInfo> {
        self.loaded_all().iter().flat_map(|plugin| plugin.widget_infos().to_vec()).collect()
    }

    /// Renders widget `widget_id`, from code without an async runtime.
    pub fn render_widget(&self, widget_id: &str, context: &FieldContext) -> Result<String, CallError> {
        self.block_on(self.render_widget_async(widget_id, context))
    }

    /// Renders widget `widget_id` (`plugin:{plugin-id}:{widget-id}`) to HTML,
    /// refused when over the plugin's response limit.
    pub async fn render_widget_async(
        &self,
        widget_id: &str,
        context: &FieldContext,
    ) -> Result<String, CallError> {
        self.invoker.render_widget(widget_id, context).await
    }

    /// Checks `value` with widget `widget_id`, from code without an async runtime.
    pub fn validate_widget(&self, widget_id: &str, value: &Value) -> Result<Vec<String>, CallError> {
        self.block_on(self.validate_widget_async(widget_id, value))
    }

    /// Checks `value` with widget `widget_id`: the problems found, empty when
    /// valid. At most 100 messages of at most 1 KiB each are kept; the rest
    /// is cut with a note.
    pub async fn validate_widget_async(
        &self,
        widget_id: &str,
        value: &Value,
    ) -> Result<Vec<String>, CallError> {
        self.invoker.validate_widget(widget_id, value).await
    }
}

#[cfg(feature = "outbound-http")]
impl Host {
    /// Answers plugins' outbound HTTP requests with `mock` instead of the
    /// network from now on (`None`: the network again): a test's mock
    /// server. The grants and bounds still hold (`crate::outbound`).
    pub fn answer_outbound_with(&self, mock: Option<crate::outbound::OutboundMock>) {
        *crate::sync::writing(&self.invoker.stores.outbound_mock) = mock;
    }
}
