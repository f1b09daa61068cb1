//! The one declaration of the host functions: every grant a manifest can
//! name, and every function of every host interface with the grant it needs.
//! [`HostFunction`] (its variants, `name()` and `ALL`) and [`INTERFACES`]
//! are generated from it, so adding a function is one row here (and its
//! check in the capability, which the grant test asks for by this table).

use serde::Deserialize;
use std::fmt;

/// A host interface of `plinth:plugin` and the grant each of its functions needs.
#[derive(Debug)]
pub struct Interface {
    /// The interface's name in the package (`storage`).
    pub name: &'static str,
    /// Its functions, by WIT name, with the grant each needs.
    pub functions: &'static [(&'static str, HostFunction)],
}

macro_rules! host_functions {
    (
        grants { $( $(#[$doc:meta])* $grant:ident = $name:literal, )* }
        interfaces { $( $interface:literal => [ $( $function:literal => $needs:ident ),* ], )* }
    ) => {
        /// A host function a manifest can grant. Unknown names are refused at load.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize, serde::Serialize)]
        pub enum HostFunction {
            $( $(#[$doc])* #[serde(rename = $name)] $grant, )*
        }

        impl HostFunction {
            /// Every host function.
            pub const ALL: &'static [HostFunction] = &[ $( HostFunction::$grant, )* ];

            /// The name used in `plugin.json`.
            pub fn name(self) -> &'static str {
                match self { $( HostFunction::$grant => $name, )* }
            }
        }

        /// Every host interface a plugin may import (`types` holds only types).
        pub const INTERFACES: &[Interface] = &[
            $( Interface { name: $interface, functions: &[ $( ($function, HostFunction::$needs), )* ] }, )*
        ];
    };
}

host_functions! {
    grants {
        /// `entities.read`
        EntityRead = "entity_read",
        /// `entities.find` and `entities.count`
        EntityList = "entity_list",
        /// `entities.create` (since 0.3.0)
        EntityCreate = "entity_create",
        /// `entities.update` (since 0.3.0)
        EntityUpdate = "entity_update",
        /// `entities.delete` (since 0.3.0)
        EntityDelete = "entity_delete",
        /// `storage.get`
        StorageGet = "storage_get",
        /// `storage.set`
        StorageSet = "storage_set",
        /// `storage.delete`
        StorageDelete = "storage_delete",
        /// `storage.list-keys`
        StorageList = "storage_list",
        /// `storage.increment` (since 0.2.0)
        StorageIncrement = "storage_increment",
        /// `settings.get` and `settings.get-all`
        SettingGet = "setting_get",
        /// `logging.log`
        Log = "log",
        /// `messages.publish`, on the topics in `capabilities.publishes`
        /// (since 0.3.0)
        MessagePublish = "message_publish",
    }
    interfaces {
        "types" => [],
        "entities" => [
            "read" => EntityRead,
            "find" => EntityList,
            "count" => EntityList,
            "create" => EntityCreate,
            "update" => EntityUpdate,
            "delete" => EntityDelete
        ],
        "storage" => [
            "get" => StorageGet,
            "set" => StorageSet,
            "delete" => StorageDelete,
            "list-keys" => StorageList,
            "increment" => StorageIncrement
        ],
        "settings" => ["get" => SettingGet, "get-all" => SettingGet],
        "logging" => ["log" => Log],
        "messages" => ["publish" => MessagePublish],
    }
}

impl fmt::Display for HostFunction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifests_name_each_grant_as_the_table_does() {
        for grant in HostFunction::ALL {
            let parsed: HostFunction =
                serde_json::from_value(serde_json::json!(grant.name())).expect("parses");
            assert_eq!(parsed, *grant);
        }
    }
}
