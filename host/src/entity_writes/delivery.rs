//! Delivering entity events to plugin hooks through the outbox.
//!
//! An entity write puts one delivery per hook in the outbox, in the write's
//! own transaction, leased to the writing node, which then runs the hooks at
//! once (so the writer still sees their outcomes). A hook's storage commit
//! settles its delivery (removes it and records the outcome) in the same
//! transaction, so its writes take effect once however often it runs, and a
//! hook costs one commit; a node that finds the delivery gone drops its own
//! writes. A hook that traps or times out commits nothing: its failure is
//! recorded by `complete`. The node running a delivery holds a short lease
//! on it and renews it while the hook runs ([`LEASE`], `Leases`), so a
//! node that dies loses its deliveries within seconds. A delivery the
//! writer could not finish (the node died, or the plugin was busy) is
//! claimed later by whichever node runs
//! `Host::deliver_due`: the delivery loop (`Host::start_background`)
//! does so every second and whenever the outbox wakes it.
//!
//! The guarantee: every event reaches every hook's plugin storage exactly
//! once (in effect); the hook itself runs at least once, so what it does
//! outside its storage (logs, entity writes) may happen again after a crash.

use super::Entities;
use crate::capabilities::in_place;
use crate::error::{CallErrorKind, HostError};
use crate::plugin::phase::{HookDelivery, Phase};
use crate::plugin::{LoadedPlugin, invoke};
use crate::plugin_log::{LogLevel, LogSource, now_millis};
use crate::store::HookOutbox;
use crate::store::{Carried, Delivery, WriteChain};
use crate::sync::locked;
use crate::types::{EntityEvent, HookOutcome};
use serde::Serialize;
use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Deliveries claimed at a time by `Host::deliver_due`, then run one after
/// the other: each call blocks its task while it waits for the database, so
/// running them together would let one slow commit eat the others' time.
const CLAIM_BATCH: usize = 8;
/// How often the delivery loop looks for due deliveries when nothing wakes it.
pub(crate) const POLL_INTERVAL: Duration = Duration::from_secs(1);
/// A node's lease on a delivery it runs, renewed every [`RENEW_EVERY`]
/// while the hook runs: a node that dies loses its deliveries within this,
/// and another node's delivery loop takes them over.
pub(crate) const LEASE: Duration = Duration::from_secs(6);
/// Three renewals per lease, so one late renewal (a busy database, a
/// starved runtime) loses nothing.
const RENEW_EVERY: Duration = Duration::from_secs(2);

/// Claims of one delivery, after its writer, before it is given up and
/// recorded as failed: its plugin was busy every time.
pub const MAX_ATTEMPTS: u32 = 20;

/// A hook that did not finish on the writing node and stays in the outbox.
#[derive(Debug, Clone, Serialize)]
pub struct PendingHook {
    /// The plugin whose hook it is.
    pub plugin_id: String,
    /// Why it was put back (its plugin was busy, say).
    pub reason: String,
}

/// This node's leases on the deliveries it is running, renewed every
/// [`RENEW_EVERY`] by one task on the host's runtime (stopped when the
/// entity part is dropped).
pub(super) struct Leases {
    held: Arc<Mutex<BTreeSet<u64>>>,
    renewer: tokio::task::AbortHandle,
}

impl Leases {
    pub(super) fn start(
        outbox: Arc<dyn HookOutbox>,
        node: String,
        runtime: &tokio::runtime::Handle,
    ) -> Leases {
        let held: Arc<Mutex<BTreeSet<u64>>> = Arc::default();
        let renewed = held.clone();
        let renewer = runtime.spawn(async move {
            let mut ticks = tokio::time::interval(RENEW_EVERY);
            ticks.tick().await;
            loop {
                ticks.tick().await;
                let ids: Vec<u64> = locked(&renewed).iter().copied().collect();
                if !ids.is_empty() {
                    renew(&*outbox, &ids, &node);
                }
            }
        });
        Leases { held, renewer: renewer.abort_handle() }
    }

    /// Renews `ids` until each is [`finished`](Holding::finished) or the
    /// holding is dropped.
    pub(super) fn hold(&self, ids: &[u64]) -> Holding<'_> {
        locked(&self.held).extend(ids);
        Holding { leases: self, ids: ids.to_vec() }
    }
}

impl Drop for Leases {
    fn drop(&mut self) {
        self.renewer.abort();
    }
}

/// Deliveries one write or one claim is running, renewed meanwhile.
pub(super) struct Holding<'a> {
    leases: &'a Leases,
    ids: Vec<u64>,
}

impl Holding<'_> {
    /// Delivery `id` ended (settled or given back): its lease is left alone.
    pub(super) fn finished(&self, id: u64) {
        locked(&self.leases.held).remove(&id);
    }
}

impl Drop for Holding<'_> {
    fn drop(&mut self) {
        let mut held = locked(&self.leases.held);
        for id in &self.ids {
            held.remove(id);
        }
    }
}

/// One renewal; a failed one is logged, and the next may succeed before the
/// lease runs out.
fn renew(outbox: &dyn HookOutbox, ids: &[u64], node: &str) {
    if let Err(error) = in_place(|| outbox.renew(ids, node, LEASE)) {
        tracing::warn!(deliveries = ids.len(), "hook delivery leases not renewed: {error}");
    }
}

/// How one delivery ended here.
pub(crate) enum Delivered {
    /// The hook ran to an outcome, now recorded.
    Done(HookOutcome),
    /// Put back in the outbox for a later attempt.
    Later(PendingHook),
    /// Another node completed it; it records the outcome.
    Elsewhere,
}

/// The wait before a delivery put back after `attempts` claims is due again:
/// none when its writer puts it back (any node with room may take it at
/// once), then 100 ms, doubling, at most 5 s.
fn backoff(attempts: u32) -> Duration {
    match attempts {
        0 => Duration::ZERO,
        n => Duration::from_millis(100u64 << (n - 1).min(6)).min(Duration::from_secs(5)),
    }
}

/// Whether `kind` says the call could not run now for reasons that are not
/// the hook's (its storage busy with other calls, its slots or the host's
/// pool full, the host's database failing): such a delivery is tried again.
fn busy(kind: &CallErrorKind) -> bool {
    matches!(
        kind,
        CallErrorKind::Conflict { .. }
            | CallErrorKind::Busy { .. }
            | CallErrorKind::HostBusy
            | CallErrorKind::Internal { .. }
    )
}

impl Entities {
    /// Hook deliveries waiting in the outbox (leased or not), on every node
    /// sharing the database.
    pub(crate) fn pending_deliveries(&self) -> Result<u64, HostError> {
        Ok(self.backend().outbox.pending()?)
    }

    /// Runs `plugin`'s hook (or `on-message`) for delivery `id` and settles
    /// it in the outbox. After [`MAX_ATTEMPTS`] claims (`attempts`), a busy
    /// plugin fails the delivery instead of putting it back.
    pub(super) async fn deliver(
        &self,
        plugin: &LoadedPlugin,
        id: u64,
        carried: &Carried,
        attempts: u32,
        chain: WriteChain,
    ) -> Delivered {
        let event = carried.event();
        let delivery = HookDelivery::new(id, carried.subject(), chain);
        let settled = delivery.settled.clone();
        let started = Instant::now();
        let phase = Phase::Hook { event, delivery };
        // What the plugin no longer takes (an update dropped the export or
        // the topic) is settled as failed, never left to be claimed for ever.
        let ran = match carried {
            Carried::Entity { event, entity } => match &plugin.events {
                Some(indices) => {
                    let (event, wit_entity) = (*event, Arc::new(entity.to_wit()));
                    let call = invoke::guest_call(|store, instance| {
                        let (indices, entity) = (indices.clone(), wit_entity.clone());
                        Box::pin(async move {
                            let guest = indices.load(&mut *store, &instance)?;
                            match event {
                                EntityEvent::Created => guest.call_on_entity_created(store, &entity).await,
                                EntityEvent::Updated => guest.call_on_entity_updated(store, &entity).await,
                                EntityEvent::Deleted => {
                                    guest.call_on_entity_deleted(store, &entity.entity_type, &entity.id).await
                                }
                            }
                        })
                    });
                    Ok(self.invoker.run(plugin, phase, &call).await)
                }
                None => Err(format!(
                    "plugin `{}` no longer exports `events`; the event was not delivered to it",
                    plugin.id()
                )),
            },
            Carried::Message(message) => match &plugin.subscriber {
                Some(subscriber) if plugin.subscribes_to(&message.topic) => {
                    let wit_message = Arc::new(message.to_wit());
                    let call = invoke::guest_call(|store, instance| {
                        let (subscriber, message) = (subscriber.clone(), wit_message.clone());
                        Box::pin(async move { subscriber.call_on_message(store, &instance, &message).await })
                    });
                    Ok(self.invoker.run(plugin, phase, &call).await)
                }
                _ => Err(format!(
                    "plugin `{}` no longer subscribes to `{}` (capabilities.subscribes and the `subscriber` export); the message was not delivered to it",
                    plugin.id(),
                    message.topic
                )),
            },
        };
        let result = match ran {
            Ok(result) => result,
            Err(gone) => return self.finish(plugin, id, carried, started, Some(gone)),
        };
        let outbox = &self.backend().outbox;
        // The hook's commit settled it (its outcome recorded with its writes).
        if let Some(outcome) = settled.get() {
            self.log_failure(outcome);
            return self.announce(outcome.clone());
        }
        let error = match result {
            Ok(()) => None,
            Err(error) if matches!(error.kind, CallErrorKind::AlreadyDelivered) => {
                return Delivered::Elsewhere;
            }
            // Switched off while it was claimed: it waits, however often
            // (switched-off plugins' deliveries are not claimed meanwhile).
            Err(error) if matches!(error.kind, CallErrorKind::Disabled) => {
                let reason = error.to_string();
                if let Err(failed) = in_place(|| outbox.retry(id, self.node(), POLL_INTERVAL)) {
                    tracing::warn!(plugin = %plugin.id(), delivery = id, "delivery not put back: {failed}");
                }
                return Delivered::Later(PendingHook { plugin_id: plugin.id().to_string(), reason });
            }
            Err(error) if busy(&error.kind) && attempts < MAX_ATTEMPTS => {
                let reason = error.to_string();
                // Not put back: its lease runs out and it is claimed then.
                if let Err(failed) = in_place(|| outbox.retry(id, self.node(), backoff(attempts))) {
                    tracing::warn!(plugin = %plugin.id(), delivery = id, "delivery not put back: {failed}");
                }
                return Delivered::Later(PendingHook { plugin_id: plugin.id().to_string(), reason });
            }
            Err(error) if busy(&error.kind) => {
                Some(format!("{error} (given up after {} attempts)", attempts + 1))
            }
            Err(error) => Some(error.to_string()),
        };
        self.finish(plugin, id, carried, started, error)
    }

    /// Completes delivery `id`, whose hook did not commit (it failed, or
    /// could not run), recording `error` (`None`: it succeeded).
    fn finish(
        &self,
        plugin: &LoadedPlugin,
        id: u64,
        carried: &Carried,
        started: Instant,
        error: Option<String>,
    ) -> Delivered {
        let outcome = HookOutcome {
            plugin_id: plugin.id().to_string(),
            event: carried.event(),
            entity_id: carried.subject().to_string(),
            at: now_millis(),
            duration_us: u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX),
            error,
        };
        self.log_failure(&outcome);
        match in_place(|| self.backend().outbox.complete(id, self.node(), &outcome)) {
            Ok(true) => self.announce(outcome),
            Ok(false) => Delivered::Elsewhere,
            Err(failed) => {
                // The hook ran; the outbox keeps the delivery until its lease
                // runs out, and a node then claims it again.
                tracing::error!(plugin = %plugin.id(), delivery = id, "hook outcome not recorded: {failed}");
                Delivered::Done(outcome)
            }
        }
    }

    /// A settled hook's outcome, for the live feed.
    fn announce(&self, outcome: HookOutcome) -> Delivered {
        self.announce_to_feed(&outcome);
        Delivered::Done(outcome)
    }

    /// A failed hook's error, in its plugin's log (on the node that ran it).
    fn log_failure(&self, outcome: &HookOutcome) {
        if let Some(message) = &outcome.error {
            self.invoker.log.record(&outcome.plugin_id, LogLevel::Error, LogSource::Host, message);
        }
    }

    /// Claims the due deliveries (left by a node that died, or put back) of
    /// the plugins loaded here, up to 8, and delivers them one after the
    /// other; how many it claimed.
    pub(crate) async fn deliver_due(&self) -> Result<usize, HostError> {
        let plugins = self.invoker.registry.delivery_plugins();
        if plugins.is_empty() {
            return Ok(0);
        }
        let ids: Vec<String> = plugins.iter().map(|plugin| plugin.id().to_string()).collect();
        let claimed: Vec<Delivery> =
            in_place(|| self.backend().outbox.claim_due(self.node(), &ids, LEASE, CLAIM_BATCH))?;
        let count = claimed.len();
        let renewal = self.leases.hold(&claimed.iter().map(|delivery| delivery.id).collect::<Vec<_>>());
        for delivery in claimed {
            // Unloaded since the claim: its lease runs out and a node that runs it takes it.
            let Some(plugin) = plugins.iter().find(|plugin| plugin.id() == delivery.plugin_id) else {
                renewal.finished(delivery.id);
                continue;
            };
            let Delivery { id, carried, attempts, chain, .. } = delivery;
            self.deliver(plugin, id, &carried, attempts, chain).await;
            renewal.finished(id);
        }
        Ok(count)
    }

    /// Delivers due deliveries until fewer than a batch are due (one round
    /// of the delivery loop, `Host::start_background`).
    pub(crate) async fn deliver_all_due(&self) {
        loop {
            match self.deliver_due().await {
                Ok(claimed) if claimed == CLAIM_BATCH => continue,
                Ok(_) => break,
                Err(error) => {
                    tracing::warn!("delivering due hook deliveries failed: {error}");
                    break;
                }
            }
        }
    }
}
