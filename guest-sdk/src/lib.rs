//! # plinth-sdk: write Plinth plugins in Rust
//!
//! A Plinth plugin is a WebAssembly component that the Plinth host runs in a
//! sandbox. It reacts to entity events, serves HTTP routes, renders field
//! widgets, runs scheduled jobs and hears other plugins' messages, and reaches
//! the application only through the [`host`] functions its `plugin.json`
//! grants.
//!
//! ```no_run
//! use plinth_sdk::{export, host, Entity, EntityQuery, Error, Plugin, Request, Response, Router};
//! use serde_json::json;
//!
//! struct CharacterStats;
//!
//! impl Plugin for CharacterStats {
//!     fn on_entity_created(entity: Entity) -> Result<(), Error> {
//!         let characters = host::entity_count("entity_type=character")?;
//!         host::storage_set_json(
//!             &format!("analysis/{}", entity.id()),
//!             &json!({ "related_count": characters }),
//!         )
//!     }
//!
//!     fn router() -> Router {
//!         Router::new().get("/stats/{entity_type}", stats)
//!     }
//! }
//!
//! fn stats(request: Request) -> Result<Response, Error> {
//!     let entity_type = request.param("entity_type");
//!     let count = host::entity_count(EntityQuery::of_type(entity_type))?;
//!     Ok(Response::json(200, &json!({ "entity_type": entity_type, "count": count })))
//! }
//!
//! // Export the roles this plugin implements: any of `events`, `routes`, `widgets`,
//! // `jobs`, `subscriber`.
//! export!(CharacterStats: events, routes);
//! ```
//!
//! Build it with `cargo build --target wasm32-wasip2 --release` from a crate with
//! `crate-type = ["cdylib"]`: the output is a component the host loads.

extern crate self as plinth_sdk;

#[doc(hidden)]
pub mod bindings;
pub mod host;
mod http;
#[cfg(feature = "outbound-http")]
pub mod outbound;
mod plugin;
mod query;
mod router;

pub use bindings::plinth::plugin::entities::{EntityQuery, FieldFilter};
pub use bindings::plinth::plugin::logging::Level;
pub use bindings::plinth::plugin::types::Message;
pub use bindings::plinth::plugin::types::{Entity, Error};
pub use bindings::widget_plugin::exports::plinth::plugin::field_widget::{FieldContext, Widget};
pub use http::{Method, Request, Response};
pub use plugin::Plugin;
pub use query::IntoQuery;
pub use router::Router;

/// Results whose error is the host's typed [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Entity {
    /// The entity's id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The entity's type.
    pub fn entity_type(&self) -> &str {
        &self.entity_type
    }

    /// The entity's fields, parsed from JSON.
    pub fn json<T: serde::de::DeserializeOwned>(&self) -> Result<T> {
        serde_json::from_str(&self.data)
            .map_err(|e| Error::InvalidInput(format!("entity {} data: {e}", self.id)))
    }

    /// One field of the entity's data, if present.
    pub fn field(&self, name: &str) -> Option<serde_json::Value> {
        let data: serde_json::Value = serde_json::from_str(&self.data).ok()?;
        data.get(name).cloned()
    }
}

/// Exports a type implementing [`Plugin`] as this component's plugin.
///
/// `export!(MyPlugin: events, routes, widgets)` exports the roles named (any
/// non-empty subset of these and `jobs`, `subscriber`);
/// `export!(MyPlugin)` exports the first three. Use it once, at the
/// crate root.
#[macro_export]
macro_rules! export {
    ($plugin:ty) => {
        $crate::export!($plugin: events, routes, widgets);
    };
    ($plugin:ty : $($role:ident),+ $(,)?) => {
        #[doc(hidden)]
        type __PlinthExports = $crate::__private::Exports<$plugin>;
        $( $crate::__export_role!($role); )+
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __export_role {
    (events) => {
        $crate::__export_entity_plugin_impl!(
            __PlinthExports with_types_in $crate::__private::bindings::entity_plugin
        );
    };
    (routes) => {
        $crate::__export_route_plugin_impl!(
            __PlinthExports with_types_in $crate::__private::bindings::route_plugin
        );
    };
    (widgets) => {
        $crate::__export_widget_plugin_impl!(
            __PlinthExports with_types_in $crate::__private::bindings::widget_plugin
        );
    };
    (jobs) => {
        $crate::__export_job_plugin_impl!(
            __PlinthExports with_types_in $crate::__private::bindings::job_plugin
        );
    };
    (subscriber) => {
        $crate::__export_message_plugin_impl!(
            __PlinthExports with_types_in $crate::__private::bindings::message_plugin
        );
    };
    ($other:ident) => {
        compile_error!(concat!(
            "unknown plugin role `",
            stringify!($other),
            "`: use events, routes, widgets, jobs or subscriber"
        ));
    };
}

#[doc(hidden)]
pub mod __private {
    pub use crate::bindings;
    pub use crate::plugin::Exports;
    pub use wit_bindgen;
}
