//! Chains of plugin writes and messages, bounded. A route's or a job's
//! entity writes and messages start a chain; a hook or `on-message` they
//! cause continues it with its own, and so on. Every step is checked here,
//! for both kinds: a chain ends at [`MAX_CHAIN`] steps; a plugin repeating a
//! step it already took in the chain (the same write of the same entity, or
//! a message on the same topic) is refused, as it would run the same hooks
//! round again (a cycle); and the whole tree of steps that follow from one
//! call makes at most [`TREE_WRITES`] ([`share_budget`]).

use super::{Caller, HostFunction, PluginContext};
use crate::GuestError;
use crate::plugin_log::{LogLevel, LogSource};
use crate::store::{ChainLink, NewDeliveries, WriteChain};
use crate::types::HookEvent;

/// The most steps in one chain: the first (a route's, or a hook's of the
/// application's own write), the step a hook of it takes, and so on.
pub(crate) const MAX_CHAIN: usize = 8;

/// The entity writes and messages a route or job call, or the hooks of one
/// application write (each), may make together with every one that follows
/// from them.
pub(crate) const TREE_WRITES: u32 = 1_000;

/// Gives each of a finished call's steps (`deliveries`, one per entity
/// write or message) its share of what the call may still cause: what is
/// left of the call's budget after its own steps, split evenly over the
/// steps and, within each, over the plugins it reaches that may take steps
/// of their own (`can_write`). So a tree of hooks never makes more steps in
/// all than its first call's budget, however wide it grows.
pub(crate) fn share_budget(
    deliveries: Vec<&mut NewDeliveries>,
    budget: u32,
    can_write: impl Fn(&str) -> bool,
) {
    let steps = u32::try_from(deliveries.len()).unwrap_or(u32::MAX);
    let left = budget.saturating_sub(steps);
    for deliveries in deliveries {
        let writers = deliveries.plugins.iter().filter(|plugin| can_write(plugin)).count();
        let writers = u32::try_from(writers).unwrap_or(u32::MAX).max(1);
        deliveries.chain.budget = Some(left / steps.max(1) / writers);
    }
}

/// Whether a plugin may take steps: it holds an entity write grant, or
/// publishes.
pub(crate) fn takes_steps(plugin: &PluginContext) -> bool {
    [
        HostFunction::EntityCreate,
        HostFunction::EntityUpdate,
        HostFunction::EntityDelete,
        HostFunction::MessagePublish,
    ]
    .iter()
    .any(|grant| plugin.grants.contains(grant))
}

/// A step as refusals name it: `updated entity `p``, `published on `news``.
fn step(link: &ChainLink) -> String {
    match link.write {
        HookEvent::Message => format!("published on `{}`", link.entity),
        write => format!("{} entity `{}`", write.as_str(), link.entity),
    }
}

/// One kind of step's per-call limit, for [`Caller::continue_chain`].
pub(crate) struct PerCall {
    /// How many of this kind the call took already.
    pub taken: usize,
    /// The most it may take.
    pub most: usize,
    /// How a refusal says it (`wrote`, `entities`; `published`, `messages`).
    pub verb: &'static str,
    pub noun: &'static str,
}

impl Caller {
    /// Checks the step `link` this call is about to take: the phase may
    /// take steps, its kind's per-call limit, the tree's budget, and the
    /// chain it continues. The chain its deliveries carry, or the refusal
    /// (logged under the plugin's id).
    pub(crate) fn continue_chain(
        &mut self,
        link: ChainLink,
        per_call: PerCall,
    ) -> Result<WriteChain, GuestError> {
        let id = self.plugin.id.clone();
        let Some(chain) = &self.chain else {
            return Err(self.refuse(GuestError::Denied(format!(
                "plugin `{id}` may write entities and publish messages only from its routes, hooks, jobs and on-message, not while loading or from a widget"
            ))));
        };
        if per_call.taken >= per_call.most {
            let PerCall { taken, verb, noun, .. } = per_call;
            let message =
                format!("plugin `{id}` already {verb} {taken} {noun} in this call, the most one call may");
            return Err(self.refuse(GuestError::InvalidInput(message)));
        }
        let taken = self.entity_changes.len() + self.messages.len();
        let budget = chain.budget.unwrap_or(TREE_WRITES);
        if u32::try_from(taken).unwrap_or(u32::MAX) >= budget {
            let message = format!(
                "plugin `{id}` already made {taken} entity writes and messages in this call, all that this chain of hooks has left of its {TREE_WRITES} writes (entity writes and messages count alike)"
            );
            return Err(self.refuse(GuestError::InvalidInput(message)));
        }
        let path = || {
            let links = chain.links.iter().map(|l| format!("{} {}", l.plugin, step(l)));
            links.collect::<Vec<_>>().join(", then ")
        };
        if chain.links.contains(&link) {
            let message = format!(
                "plugin `{id}` already {} earlier in this chain of hooks ({}): doing it again would run the same hooks round again, so it is refused as a cycle",
                step(&link),
                path()
            );
            return Err(self.refuse(GuestError::InvalidInput(message)));
        }
        if chain.links.len() >= MAX_CHAIN {
            let message = format!(
                "this chain of hooks already made {MAX_CHAIN} entity writes and messages ({}), the most one chain may",
                path()
            );
            return Err(self.refuse(GuestError::InvalidInput(message)));
        }
        let mut continued = WriteChain { links: chain.links.clone(), budget: None };
        continued.links.push(link);
        Ok(continued)
    }

    /// A refused step, logged under the plugin's id.
    pub(crate) fn refuse(&mut self, error: GuestError) -> GuestError {
        self.log.push(LogLevel::Warn, LogSource::Host, error.message().to_string());
        error
    }
}
