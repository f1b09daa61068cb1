//! Raw bindings generated from the newest WIT, `wit/0.2.0/`, by `wit-bindgen`.
//! Plugin authors use the wrappers in the rest of the crate; these stay hidden.
//!
//! The imports are generated once (world `imports`); each plugin role (world
//! `entity-plugin`, `route-plugin`, `widget-plugin`) is generated separately and
//! reuses them, so that a plugin exports only the roles it names in
//! [`export!`](crate::export) and the host can discover them.

#![allow(missing_docs, unsafe_code, clippy::all)]

wit_bindgen::generate!({
    path: "../wit/0.2.0",
    world: "imports",
    runtime_path: "::plinth_sdk::__private::wit_bindgen::rt",
    additional_derives: [PartialEq, Eq],
});

/// Shared `with` mapping: every role world reuses the import bindings above.
macro_rules! role_world {
    ($module:ident, $world:literal) => {
        pub mod $module {
            wit_bindgen::generate!({
                path: "../wit/0.2.0",
                world: $world,
                runtime_path: "::plinth_sdk::__private::wit_bindgen::rt",
                pub_export_macro: true,
                with: {
                    "plinth:plugin/types@0.2.0": crate::bindings::plinth::plugin::types,
                    "plinth:plugin/entities@0.2.0": crate::bindings::plinth::plugin::entities,
                    "plinth:plugin/storage@0.2.0": crate::bindings::plinth::plugin::storage,
                    "plinth:plugin/settings@0.2.0": crate::bindings::plinth::plugin::settings,
                    "plinth:plugin/logging@0.2.0": crate::bindings::plinth::plugin::logging,
                },
            });
        }
    };
}

role_world!(entity_plugin, "entity-plugin");
role_world!(route_plugin, "route-plugin");
role_world!(widget_plugin, "widget-plugin");
