//! `plinth:plugin/messages` (since 0.3.0): a plugin publishes a
//! JSON payload on a topic its manifest lists (`capabilities.publishes`,
//! grant `message_publish`) for the plugins that subscribe to it.
//!
//! A message is a step of the call's chain (`chain.rs`), so publish and
//! subscribe cycles end like chains of entity writes do, and it is
//! committed with the call's storage changes: a failed call publishes
//! nothing. Its deliveries, one per subscriber, go through the hook outbox
//! (`entity_writes::plugin_writes`), after the call. One call publishes at
//! most [`MAX_MESSAGES_PER_CALL`], each at most [`MAX_PAYLOAD_BYTES`].

use super::Caller;
use super::chain::PerCall;
use crate::GuestError;
use crate::bindings::plinth::plugin::messages as wit;
use crate::entity_writes::EntitiesHandle;
use crate::manifest::HostFunction;
use crate::store::ChainLink;
use crate::types::HookEvent;
use wasmtime::component::{HasData, Linker};

/// The most messages one call publishes.
pub(crate) const MAX_MESSAGES_PER_CALL: usize = 100;

/// The largest payload, in bytes of JSON text.
pub(crate) const MAX_PAYLOAD_BYTES: usize = 64 * 1024;

/// What a messages call sees: the caller, and the host's entity part (the
/// outbox's owner, which knows the subscribers).
pub(crate) struct MessagesView<'a> {
    pub caller: &'a mut Caller,
    pub entities: &'a EntitiesHandle,
}

struct HasMessages;

impl HasData for HasMessages {
    type Data<'a> = MessagesView<'a>;
}

pub(crate) fn add_to_linker<T: Send + 'static>(
    linker: &mut Linker<T>,
    get: fn(&mut T) -> MessagesView<'_>,
) -> wasmtime::Result<()> {
    wit::add_to_linker::<T, HasMessages>(linker, get)
}

impl MessagesView<'_> {
    /// Checks a publish (grant, topic, payload, chain) and keeps it for
    /// the call's commit.
    fn publish_checked(&mut self, topic: String, payload: String) -> Result<(), GuestError> {
        self.caller.require(HostFunction::MessagePublish)?;
        let id = self.caller.plugin.id.clone();
        if !self.caller.plugin.publishes.contains(&topic) {
            self.caller.plugin.health.denied();
            let topic = crate::plugin_log::bounded(&topic, 100);
            return Err(self.caller.refuse(GuestError::Denied(format!(
                "plugin `{id}` may publish only the topics in capabilities.publishes, not `{topic}`"
            ))));
        }
        if payload.len() > MAX_PAYLOAD_BYTES {
            return Err(self.caller.refuse(GuestError::InvalidInput(format!(
                "plugin `{id}`'s message on `{topic}` is {} bytes; a payload may be at most {MAX_PAYLOAD_BYTES}",
                payload.len()
            ))));
        }
        if let Err(error) = serde_json::from_str::<serde::de::IgnoredAny>(&payload) {
            let error = GuestError::InvalidInput(format!("the payload on `{topic}` is not JSON: {error}"));
            return Err(self.caller.refuse(error));
        }
        let Some(entities) = self.entities.get() else {
            let error = GuestError::Internal("publish did not run: the host is stopping".into());
            return Err(self.caller.refuse(error));
        };
        if !entities.commits_messages() {
            let message = "this application's database does not commit plugins' messages".to_string();
            return Err(self.caller.refuse(GuestError::Denied(message)));
        }
        let link = ChainLink { plugin: id, write: HookEvent::Message, entity: topic.clone() };
        let taken = self.caller.messages.len();
        let per_call = PerCall { taken, most: MAX_MESSAGES_PER_CALL, verb: "published", noun: "messages" };
        let chain = self.caller.continue_chain(link, per_call)?;
        let message = entities.plan_message(&self.caller.plugin.id, topic, payload, chain);
        self.caller.messages.push(message);
        Ok(())
    }
}

impl wit::Host for MessagesView<'_> {
    async fn publish(&mut self, topic: String, payload: String) -> wasmtime::Result<Result<(), GuestError>> {
        Ok(self.publish_checked(topic, payload))
    }
}
