//! Switching a plugin off without uninstalling it. While off, its routes and
//! widgets answer `plugin_disabled` (503) naming how to switch it back on,
//! it gets no new event deliveries, and those already queued wait for it;
//! its files, storage and settings stay. The switch lives in the database,
//! so every node sharing it follows: this one at once, the others at their
//! next delivery poll (every second).

use super::Host;
use crate::capabilities::in_place;
use crate::error::HostError;

impl Host {
    /// Switches plugin `plugin_id` on or off, on every node. The plugin need
    /// not be loaded here: a switch made before it loads holds when it does.
    pub fn set_plugin_enabled(&self, plugin_id: &str, enabled: bool) -> Result<(), HostError> {
        if !crate::manifest::is_identifier(plugin_id) {
            return Err(HostError::UnknownPlugin(plugin_id.to_string()));
        }
        in_place(|| self.invoker.backend.switches.set_disabled(plugin_id, !enabled))?;
        self.refresh_switches()
    }

    /// Whether plugin `plugin_id` is switched on (as this node last read it).
    pub fn is_plugin_enabled(&self, plugin_id: &str) -> bool {
        !self.invoker.is_disabled(plugin_id)
    }

    /// Reads the switches again from the database.
    pub(crate) fn refresh_switches(&self) -> Result<(), HostError> {
        let disabled = in_place(|| self.invoker.backend.switches.disabled())?;
        self.registry.set_disabled(disabled);
        Ok(())
    }
}
