//! Plugins' messages as the embedding API offers them: the application
//! publishes to plugins' subscribers itself (`Host::publish_message`), and listens
//! to every message committed here (`Host::subscribe_messages`).

use super::Host;
use crate::capabilities::chain::{TREE_WRITES, share_budget, takes_steps};
use crate::capabilities::in_place;
use crate::capabilities::messages::MAX_PAYLOAD_BYTES;
use crate::error::HostError;
use crate::manifest::topics::is_topic;
use crate::store::{CommitError, KvChanges, Usage, WriteChain};
use crate::types::Message;
use serde_json::Value;

/// How many messages a listener may fall behind before it misses some.
/// At most 256 × 64 KiB (16 MiB) held for the slowest listener.
pub(crate) const MESSAGE_FEED_CAPACITY: usize = 256;

impl Host {
    /// Publishes `payload` on `topic` as the application (`publisher` is
    /// empty): every plugin loaded here that subscribes to the topic gets
    /// it in `on-message` through the outbox, once, from the delivery loop
    /// ([`Host::start_background`], or [`Host::deliver_due`]). Their steps
    /// start a chain of their own, as a route call's do. The message as
    /// published; [`HostError::InvalidMessage`] for a topic that is not a
    /// topic name or a payload over 64 KiB.
    pub fn publish_message(&self, topic: &str, payload: &Value) -> Result<Message, HostError> {
        if !is_topic(topic) {
            return Err(HostError::InvalidMessage(format!(
                "`{}` is not a topic: use 1 to 100 lower-case letters, digits, `.`, `-` and `_`",
                crate::plugin_log::bounded(topic, 100)
            )));
        }
        if !self.entities.commits_messages() {
            return Err(HostError::InvalidMessage(
                "this application's database does not commit messages (PluginKv::commits_messages)".into(),
            ));
        }
        let payload = payload.to_string();
        if payload.len() > MAX_PAYLOAD_BYTES {
            return Err(HostError::InvalidMessage(format!(
                "the payload is {} bytes; it may be at most {MAX_PAYLOAD_BYTES}",
                payload.len()
            )));
        }
        let mut change = self.entities.plan_message("", topic.to_string(), payload, WriteChain::default());
        let can_write = |id: &str| self.registry.get(id).is_some_and(|plugin| takes_steps(&plugin.context));
        share_budget(vec![&mut change.deliveries], TREE_WRITES, can_write);
        let message = change.message.clone();
        let changes = KvChanges { messages: vec![change], ..KvChanges::default() };
        // No storage is touched: the commit only adds the deliveries.
        let unlimited = Usage { bytes: u64::MAX, keys: u64::MAX };
        match in_place(|| self.backend().kv.commit("", &changes, unlimited)) {
            Ok(()) => {}
            Err(CommitError::Store(error)) => return Err(HostError::Store(error)),
            Err(other) => {
                return Err(HostError::InvalidMessage(format!("the message was not committed: {other}")));
            }
        }
        self.backend().outbox.wake_ups().notify_one();
        let _ = self.invoker.message_feed.send(message.clone());
        Ok(message)
    }

    /// Every message committed on this host from now on, plugins' and the
    /// application's, as it is published (each subscriber gets it later,
    /// from the outbox). A listener that falls more than 256 behind gets
    /// `RecvError::Lagged` and goes on from the newest.
    pub fn subscribe_messages(&self) -> tokio::sync::broadcast::Receiver<Message> {
        self.invoker.message_feed.subscribe()
    }
}
