//! The hook outbox in SQLite: one row per (event, plugin) in
//! `hook_deliveries`, written in the entity write's transaction and removed
//! when the delivery completes. One process owns the file, so a claim needs
//! no row locks; a delivery left by a crash is claimed again once its lease
//! (a time in milliseconds since the Unix epoch) has passed.

use super::{Sqlite, fail};
use crate::plugin_log::now_millis;
use crate::store::{
    Carried, Delivery, DeliveryMark, HookOutbox, MessageChange, NewDeliveries, StoreError, WriteChain,
    event_name,
};
use crate::types::{Entity, EntityEvent, HookEvent, HookOutcome};
use rusqlite::{Connection, params};
use std::sync::Arc;
use std::time::Duration;

/// `now` plus `lease`, in milliseconds.
fn millis_after(now: u64, lease: Duration) -> u64 {
    now.saturating_add(u64::try_from(lease.as_millis()).unwrap_or(u64::MAX))
}

/// A value the row cannot hold, as SQLite's error.
fn unstorable(error: serde_json::Error) -> rusqlite::Error {
    rusqlite::Error::ToSqlConversionFailure(Box::new(error))
}

/// Adds `event`'s deliveries of `entity`, inside the caller's transaction;
/// their ids in the order of `deliveries.plugins`.
pub(super) fn add(
    db: &Connection,
    event: EntityEvent,
    entity: &Entity,
    deliveries: &NewDeliveries,
) -> rusqlite::Result<Vec<u64>> {
    if deliveries.plugins.is_empty() {
        return Ok(Vec::new());
    }
    let entity = serde_json::to_string(entity).map_err(unstorable)?;
    add_row(db, event.into(), &entity, deliveries)
}

/// Adds a published message's deliveries, inside the caller's transaction.
pub(super) fn add_message(db: &Connection, change: &MessageChange) -> rusqlite::Result<Vec<u64>> {
    if change.deliveries.plugins.is_empty() {
        return Ok(Vec::new());
    }
    let message = serde_json::to_string(&change.message).map_err(unstorable)?;
    add_row(db, HookEvent::Message, &message, &change.deliveries)
}

/// One outbox row per plugin of `deliveries`, carrying `carried` (JSON).
fn add_row(
    db: &Connection,
    event: HookEvent,
    carried: &str,
    deliveries: &NewDeliveries,
) -> rusqlite::Result<Vec<u64>> {
    let chain = serde_json::to_string(&deliveries.chain).map_err(unstorable)?;
    let lease_until = millis_after(now_millis(), deliveries.lease);
    let mut insert = db.prepare_cached(
        "INSERT INTO hook_deliveries (plugin_id, event, entity, lease_owner, lease_until, chain)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6) RETURNING id",
    )?;
    deliveries
        .plugins
        .iter()
        .map(|plugin| {
            insert.query_row(
                params![plugin, event_name(event), carried, deliveries.node, lease_until, chain],
                |row| row.get(0),
            )
        })
        .collect()
}

/// Settles `mark`'s delivery inside a storage commit's transaction: removes
/// it and records its outcome; `false` (nothing done) when it is gone or an
/// older node marked it done.
pub(super) fn settle(db: &Connection, mark: &DeliveryMark) -> rusqlite::Result<bool> {
    let removed =
        db.prepare_cached("DELETE FROM hook_deliveries WHERE id = ?1 AND done = 0")?.execute([mark.id])?;
    if removed == 1 {
        super::hooks::append(db, std::slice::from_ref(&mark.outcome))?;
    }
    Ok(removed == 1)
}

impl HookOutbox for Sqlite {
    fn claim_due(
        &self,
        node: &str,
        plugins: &[String],
        lease: Duration,
        limit: usize,
    ) -> Result<Vec<Delivery>, StoreError> {
        let plugins = serde_json::to_string(plugins).map_err(|e| StoreError::Failed {
            operation: "claiming hook deliveries",
            message: e.to_string(),
        })?;
        let mut db = self.lock();
        let mut run = || -> rusqlite::Result<Vec<Delivery>> {
            let transaction = db.transaction()?;
            let now = now_millis();
            // Deliveries an older Plinth marked done (it settled them in two
            // steps) go once their grace has passed.
            transaction
                .prepare_cached("DELETE FROM hook_deliveries WHERE done = 1 AND lease_until < ?1")?
                .execute([now])?;
            let due: Vec<(u64, String, String, String, u32, String)> = transaction
                .prepare_cached(
                    "SELECT id, plugin_id, event, entity, attempts, chain FROM hook_deliveries
                     WHERE done = 0 AND lease_until <= ?1
                       AND plugin_id IN (SELECT value FROM json_each(?2))
                     ORDER BY id LIMIT ?3",
                )?
                .query_map(params![now, plugins, i64::try_from(limit).unwrap_or(i64::MAX)], |row| {
                    Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?, row.get(4)?, row.get(5)?))
                })?
                .collect::<rusqlite::Result<_>>()?;
            let mut claimed = Vec::with_capacity(due.len());
            for (id, plugin_id, event, entity, attempts, chain) in due {
                transaction
                    .prepare_cached(
                        "UPDATE hook_deliveries SET lease_owner = ?2, lease_until = ?3, attempts = attempts + 1
                         WHERE id = ?1",
                    )?
                    .execute(params![id, node, millis_after(now, lease)])?;
                let carried = serde_json::from_str(&entity).and_then(|json| Carried::from_row(&event, json));
                let Ok(carried) = carried.inspect_err(|error| crate::store::unreadable_delivery(id, error))
                else {
                    continue;
                };
                let chain = serde_json::from_str(&chain).unwrap_or_else(|_| WriteChain::unreadable());
                claimed.push(Delivery { id, plugin_id, carried, attempts: attempts + 1, chain });
            }
            transaction.commit()?;
            Ok(claimed)
        };
        run().map_err(fail("claiming hook deliveries"))
    }

    fn retry(&self, id: u64, node: &str, after: Duration) -> Result<(), StoreError> {
        self.lock()
            .prepare_cached(
                "UPDATE hook_deliveries SET lease_until = ?3, lease_owner = ''
                 WHERE id = ?1 AND lease_owner = ?2 AND done = 0",
            )
            .and_then(|mut statement| statement.execute(params![id, node, millis_after(now_millis(), after)]))
            .map_err(fail("retrying a hook delivery"))?;
        if after.is_zero() {
            self.wake_ups.notify_one();
        }
        Ok(())
    }

    fn renew(&self, ids: &[u64], node: &str, lease: Duration) -> Result<(), StoreError> {
        let until = millis_after(now_millis(), lease);
        let mut db = self.lock();
        let mut run = || -> rusqlite::Result<()> {
            let transaction = db.transaction()?;
            {
                let mut renew = transaction.prepare_cached(
                    "UPDATE hook_deliveries SET lease_until = max(lease_until, ?3)
                     WHERE id = ?1 AND lease_owner = ?2 AND done = 0",
                )?;
                for id in ids {
                    renew.execute(params![id, node, until])?;
                }
            }
            transaction.commit()
        };
        run().map_err(fail("renewing hook delivery leases"))
    }

    fn complete(&self, id: u64, node: &str, outcome: &HookOutcome) -> Result<bool, StoreError> {
        let mut db = self.lock();
        let mut run = || -> rusqlite::Result<bool> {
            let transaction = db.transaction()?;
            let removed = transaction
                .prepare_cached("DELETE FROM hook_deliveries WHERE id = ?1 AND lease_owner = ?2")?
                .execute(params![id, node])?;
            if removed == 1 {
                super::hooks::append(&transaction, std::slice::from_ref(outcome))?;
            }
            transaction.commit()?;
            Ok(removed == 1)
        };
        run().map_err(fail("completing a hook delivery"))
    }

    fn pending(&self) -> Result<u64, StoreError> {
        self.lock()
            .query_row("SELECT COUNT(*) FROM hook_deliveries WHERE done = 0", [], |row| row.get(0))
            .map_err(fail("counting hook deliveries"))
    }

    fn wake_ups(&self) -> Arc<tokio::sync::Notify> {
        self.wake_ups.clone()
    }
}
