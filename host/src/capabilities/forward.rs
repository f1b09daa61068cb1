//! An older `plinth:plugin` version, linked beside the newest so components
//! built against it keep loading and working. `forward_version!` generates
//! one: its own `bindgen!` (each version links under its own name), and host
//! traits that delegate every function to the newest implementation on the
//! same view, so grants, limits and storage semantics are exactly the same.
//! The shared `types` are the newest bindings' own (mapped with `with`: the
//! component model checks types by structure, and `types` has not changed);
//! records an interface defines itself are converted. A version that changes
//! a function's meaning implements it in its own module instead.

use super::entities::EntitiesView;
use super::logging::LoggingView;
use super::settings::SettingsView;
use super::storage::StorageView;
use wasmtime::component::HasData;

/// Names a view type for `add_to_linker`, whatever its lifetime.
pub(crate) struct Has<V>(std::marker::PhantomData<V>);

macro_rules! has_view {
    ($($view:ident),*) => {$(
        impl HasData for Has<$view<'static>> {
            type Data<'a> = $view<'a>;
        }
    )*};
}
has_view!(EntitiesView, StorageView, SettingsView, LoggingView);

/// Generates the module of an older version: `path` is its WIT folder,
/// `version` its number, and the storage functions after `storage` are
/// those it has beyond 0.1.0's (`increment`).
macro_rules! forward_version {
    (path: $path:literal, version: $version:literal, storage: [$($extra:ident),*]) => {
        use super::entities::EntitiesView;
        use super::forward::Has;
        use super::logging::LoggingView;
        use super::settings::SettingsView;
        use super::storage::StorageView;
        use crate::GuestError;
        use crate::bindings::latest::plinth::plugin as newest;
        use wasmtime::component::Linker;

        mod wit {
            wasmtime::component::bindgen!({
                path: $path,
                world: "imports",
                imports: { default: async | trappable },
                with: { "plinth:plugin/types": crate::bindings::latest::plinth::plugin::types },
            });
        }

        use wit::plinth::plugin::{entities, logging, settings, storage};

        type Checked<T> = wasmtime::Result<Result<T, GuestError>>;

        /// Links every host interface of this version, each to the view the newest one uses.
        pub(crate) fn add_to_linker<T: Send + 'static>(
            linker: &mut Linker<T>,
            entities_view: fn(&mut T) -> EntitiesView<'_>,
            storage_view: fn(&mut T) -> StorageView<'_>,
            settings_view: fn(&mut T) -> SettingsView<'_>,
            logging_view: fn(&mut T) -> LoggingView<'_>,
        ) -> wasmtime::Result<()> {
            // `types` holds only types: an empty instance satisfies its import.
            linker.instance(concat!("plinth:plugin/types@", $version))?;
            entities::add_to_linker::<T, Has<EntitiesView<'static>>>(linker, entities_view)?;
            storage::add_to_linker::<T, Has<StorageView<'static>>>(linker, storage_view)?;
            settings::add_to_linker::<T, Has<SettingsView<'static>>>(linker, settings_view)?;
            logging::add_to_linker::<T, Has<LoggingView<'static>>>(linker, logging_view)
        }

        fn query(query: entities::EntityQuery) -> newest::entities::EntityQuery {
            newest::entities::EntityQuery {
                entity_type: query.entity_type,
                filters: query
                    .filters
                    .into_iter()
                    .map(|f| newest::entities::FieldFilter { field: f.field, value: f.value })
                    .collect(),
                limit: query.limit,
                offset: query.offset,
            }
        }

        impl entities::Host for EntitiesView<'_> {
            async fn read(&mut self, id: String) -> Checked<newest::types::Entity> {
                newest::entities::Host::read(self, id).await
            }

            async fn find(&mut self, q: entities::EntityQuery) -> Checked<Vec<newest::types::Entity>> {
                newest::entities::Host::find(self, query(q)).await
            }

            async fn count(&mut self, q: entities::EntityQuery) -> Checked<u64> {
                newest::entities::Host::count(self, query(q)).await
            }
        }

        impl storage::Host for StorageView<'_> {
            async fn get(&mut self, key: String) -> Checked<Option<Vec<u8>>> {
                newest::storage::Host::get(self, key).await
            }

            async fn set(&mut self, key: String, value: Vec<u8>) -> Checked<()> {
                newest::storage::Host::set(self, key, value).await
            }

            async fn delete(&mut self, key: String) -> Checked<bool> {
                newest::storage::Host::delete(self, key).await
            }

            async fn list_keys(&mut self, prefix: String) -> Checked<Vec<String>> {
                newest::storage::Host::list_keys(self, prefix).await
            }

            $(super::forward::forward_version!(@storage $extra);)*
        }

        impl settings::Host for SettingsView<'_> {
            async fn get(&mut self, name: String) -> Checked<Option<String>> {
                newest::settings::Host::get(self, name).await
            }

            async fn get_all(&mut self) -> Checked<Vec<(String, String)>> {
                newest::settings::Host::get_all(self).await
            }
        }

        impl logging::Host for LoggingView<'_> {
            async fn log(&mut self, level: logging::Level, message: String) -> Checked<()> {
                use newest::logging::Level as Newest;
                let level = match level {
                    logging::Level::Trace => Newest::Trace,
                    logging::Level::Debug => Newest::Debug,
                    logging::Level::Info => Newest::Info,
                    logging::Level::Warn => Newest::Warn,
                    logging::Level::Error => Newest::Error,
                };
                newest::logging::Host::log(self, level, message).await
            }
        }
    };
    (@storage increment) => {
        async fn increment(&mut self, key: String, delta: i64) -> Checked<i64> {
            newest::storage::Host::increment(self, key, delta).await
        }
    };
}

pub(crate) use forward_version;
