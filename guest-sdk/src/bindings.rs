//! Raw bindings generated from the WIT by `wit-bindgen`: the newest released
//! version, `wit/0.3.0/`. Plugin authors use the
//! wrappers in the rest of the crate; these stay hidden.
//!
//! The imports are generated once (world `imports`); each plugin role (world
//! `entity-plugin`, `route-plugin`, `widget-plugin`, `job-plugin`,
//! `message-plugin`) is generated separately and
//! reuses them, so that a plugin exports only the roles it names in
//! [`export!`](crate::export) and the host can discover them.

#![allow(missing_docs, unsafe_code, clippy::all)]

/// The bindings of one WIT folder. `wit-bindgen` takes literal strings only,
/// so each version's path and import names are spelled out where it is chosen.
macro_rules! bindings {
    ($path:literal, $types:literal, $entities:literal, $storage:literal, $settings:literal, $logging:literal $(, $messages:literal)?) => {
        wit_bindgen::generate!({
            path: $path,
            world: "imports",
            runtime_path: "::plinth_sdk::__private::wit_bindgen::rt",
            additional_derives: [PartialEq, Eq],
        });

        /// Shared `with` mapping: every role world reuses the import bindings above.
        macro_rules! role_world {
            ($module:ident, $world:literal) => {
                pub mod $module {
                    wit_bindgen::generate!({
                        path: $path,
                        world: $world,
                        runtime_path: "::plinth_sdk::__private::wit_bindgen::rt",
                        pub_export_macro: true,
                        with: {
                            $types: crate::bindings::plinth::plugin::types,
                            $entities: crate::bindings::plinth::plugin::entities,
                            $storage: crate::bindings::plinth::plugin::storage,
                            $settings: crate::bindings::plinth::plugin::settings,
                            $logging: crate::bindings::plinth::plugin::logging,
                            $( $messages: crate::bindings::plinth::plugin::messages, )?
                        },
                    });
                }
            };
        }

        role_world!(entity_plugin, "entity-plugin");
        role_world!(route_plugin, "route-plugin");
        role_world!(widget_plugin, "widget-plugin");
    };
}

bindings!(
    "../wit/0.3.0",
    "plinth:plugin/types@0.3.0",
    "plinth:plugin/entities@0.3.0",
    "plinth:plugin/storage@0.3.0",
    "plinth:plugin/settings@0.3.0",
    "plinth:plugin/logging@0.3.0",
    "plinth:plugin/messages@0.3.0"
);

// The roles 0.3.0 adds: scheduled jobs, and messages from other plugins.
role_world!(job_plugin, "job-plugin");
role_world!(message_plugin, "message-plugin");
