//! The loaded plugins and which of them an operator switched off: what the
//! host, its invoker and the capabilities that write entities read to find a
//! plugin, or the plugins whose hooks an entity write must reach. One part,
//! shared (`Arc`), so each of them sees the same registry.

use crate::plugin::LoadedPlugin;
use crate::sync::{reading, writing};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, RwLock};

#[derive(Default)]
pub(crate) struct Registry {
    plugins: RwLock<BTreeMap<String, Arc<LoadedPlugin>>>,
    /// The plugins switched off, as this node last read them (`switches.rs`).
    disabled: RwLock<BTreeSet<String>>,
}

/// Why a plugin was not registered.
pub(crate) enum Refused {
    /// Another folder's plugin has the id (its folder).
    Taken(std::path::PathBuf),
    /// It was unloaded meanwhile (a reload does not bring it back).
    Gone,
}

impl Registry {
    /// A registry with nothing loaded, and `disabled` switched off.
    pub(crate) fn new(disabled: BTreeSet<String>) -> Registry {
        Registry { plugins: RwLock::default(), disabled: RwLock::new(disabled) }
    }

    /// Plugin `id`, if loaded.
    pub(crate) fn get(&self, id: &str) -> Option<Arc<LoadedPlugin>> {
        reading(&self.plugins).get(id).cloned()
    }

    /// Every loaded plugin, in id order.
    pub(crate) fn all(&self) -> Vec<Arc<LoadedPlugin>> {
        reading(&self.plugins).values().cloned().collect()
    }

    /// Registers a newly loaded plugin, unless its id is taken.
    pub(crate) fn add(&self, plugin: Arc<LoadedPlugin>) -> Result<(), Refused> {
        let mut plugins = writing(&self.plugins);
        if let Some(existing) = plugins.get(plugin.id()) {
            return Err(Refused::Taken(existing.dir.clone()));
        }
        plugins.insert(plugin.id().to_string(), plugin);
        Ok(())
    }

    /// Swaps a reloaded plugin in for the version of the same id, unless that
    /// was unloaded meanwhile.
    pub(crate) fn replace(&self, plugin: Arc<LoadedPlugin>) -> Result<(), Refused> {
        let mut plugins = writing(&self.plugins);
        let slot = plugins.get_mut(plugin.id()).ok_or(Refused::Gone)?;
        *slot = plugin;
        Ok(())
    }

    /// Unregisters plugin `id`; whether it was loaded.
    pub(crate) fn remove(&self, id: &str) -> bool {
        writing(&self.plugins).remove(id).is_some()
    }

    /// Whether plugin `id` is switched off.
    pub(crate) fn is_disabled(&self, id: &str) -> bool {
        reading(&self.disabled).contains(id)
    }

    /// The plugins switched off, as read again from the database.
    pub(crate) fn set_disabled(&self, disabled: BTreeSet<String>) {
        *writing(&self.disabled) = disabled;
    }

    /// The loaded plugins, switched on, that declare jobs and export `jobs`.
    pub(crate) fn job_plugins(&self) -> Vec<Arc<LoadedPlugin>> {
        self.all()
            .into_iter()
            .filter(|plugin| {
                plugin.jobs.is_some() && !plugin.manifest.jobs.is_empty() && !self.is_disabled(plugin.id())
            })
            .collect()
    }

    /// The loaded plugins that export `events` and are switched on, in id
    /// order: those an entity write delivers its event to. (A switched-off
    /// plugin gets no new deliveries, and its queued ones wait.)
    pub(crate) fn hook_plugins(&self) -> Vec<Arc<LoadedPlugin>> {
        self.all()
            .into_iter()
            .filter(|plugin| plugin.events.is_some() && !self.is_disabled(plugin.id()))
            .collect()
    }

    /// The loaded plugins, switched on, that subscribe to `topic` and export
    /// `subscriber`, in id order: those a message on it is delivered to.
    pub(crate) fn subscribers(&self, topic: &str) -> Vec<Arc<LoadedPlugin>> {
        self.all()
            .into_iter()
            .filter(|plugin| plugin.subscribes_to(topic) && !self.is_disabled(plugin.id()))
            .collect()
    }

    /// The loaded plugins, switched on, that the outbox delivers to: those
    /// with hooks, and those with `on-message`.
    pub(crate) fn delivery_plugins(&self) -> Vec<Arc<LoadedPlugin>> {
        self.all()
            .into_iter()
            .filter(|plugin| {
                (plugin.events.is_some() || plugin.subscriber.is_some()) && !self.is_disabled(plugin.id())
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::Registry;

    #[test]
    fn switches_read_again_replace_the_ones_before() {
        let registry = Registry::new(["audit".to_string()].into());
        assert!(registry.is_disabled("audit") && !registry.is_disabled("stats"));
        registry.set_disabled(["stats".to_string()].into());
        assert!(!registry.is_disabled("audit") && registry.is_disabled("stats"));
        assert!(registry.all().is_empty() && registry.hook_plugins().is_empty());
        assert!(registry.get("stats").is_none() && !registry.remove("stats"), "switched off is not loaded");
    }
}
