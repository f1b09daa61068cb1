//! The message topics a manifest grants (`capabilities.publishes`,
//! `capabilities.subscribes`): names checked once here, so every topic the
//! host stores, delivers or logs is short and plain.

use super::{Capabilities, HostFunction, ManifestError};

/// The most topics one list may name.
pub(crate) const MAX_TOPICS: usize = 32;

/// Whether `topic` is a topic name: 1 to 100 lower-case letters, digits,
/// `.`, `-` and `_`, starting with a letter or digit (`digest.written`).
pub(crate) fn is_topic(topic: &str) -> bool {
    let mut chars = topic.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_lowercase() || c.is_ascii_digit())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '-' | '_'))
        && topic.len() <= 100
}

/// Checks both lists, and that publishing is granted exactly when topics
/// to publish are listed.
pub(super) fn check_topics(capabilities: &Capabilities) -> Result<(), ManifestError> {
    for (list, topics) in [("publishes", &capabilities.publishes), ("subscribes", &capabilities.subscribes)] {
        if topics.len() > MAX_TOPICS {
            return Err(ManifestError::at(
                format!("capabilities.{list}"),
                format!("at most {MAX_TOPICS} topics"),
            ));
        }
        if let Some((index, topic)) = topics.iter().enumerate().find(|(_, topic)| !is_topic(topic)) {
            return Err(ManifestError::at(
                format!("capabilities.{list}[{index}]"),
                format!(
                    "`{}` is not a topic: use 1 to 100 lower-case letters, digits, `.`, `-` and `_`, starting with a letter or digit",
                    crate::plugin_log::bounded(topic, 100)
                ),
            ));
        }
    }
    let granted = capabilities.host_functions.contains(&HostFunction::MessagePublish);
    match (granted, capabilities.publishes.is_empty()) {
        (true, true) => Err(ManifestError::at(
            "capabilities.publishes",
            "missing: list the topics the plugin publishes (message_publish is granted per topic)",
        )),
        (false, false) => Err(ManifestError::at(
            "capabilities.publishes",
            "lists topics without the grant: add \"message_publish\" to capabilities.host_functions",
        )),
        _ => Ok(()),
    }
}
