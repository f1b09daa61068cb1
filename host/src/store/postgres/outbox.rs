//! The hook outbox in PostgreSQL: one row per (event, plugin) in
//! `hook_deliveries`, written in the entity write's transaction and removed
//! when the delivery completes. Nodes claim due rows with
//! `FOR UPDATE SKIP LOCKED`, so two nodes never claim the same one and none
//! waits for another's claim. Leases are the database's clock in
//! milliseconds. `NOTIFY plinth_hooks` (sent when a delivery is retried)
//! only wakes nodes up: each also polls, so a lost notification (a dropped
//! listening connection) delays a delivery, never loses it.

use super::{Error, NOW_MS, Postgres, millis, to_i64, to_u64};
use crate::store::{Carried, Delivery, HookOutbox, NewDeliveries, StoreError, WriteChain, event_name};
use crate::types::{Entity, EntityEvent, HookEvent, HookOutcome};
use deadpool_postgres::GenericClient;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;
use tokio_postgres::types::ToSql;

/// The channel a retried delivery is announced on.
pub(super) const CHANNEL: &str = "plinth_hooks";

/// Adds `event`'s deliveries of `entity` inside the caller's transaction;
/// their ids in the order of `deliveries.plugins`.
pub(super) async fn add(
    transaction: &impl GenericClient,
    event: EntityEvent,
    entity: &Entity,
    deliveries: &NewDeliveries,
) -> Result<Vec<u64>, Error> {
    let snapshot = serde_json::to_value(entity).map_err(|e| Error::Invalid(e.to_string()))?;
    add_row(transaction, event.into(), &snapshot, deliveries).await
}

/// Adds a published message's deliveries inside the caller's transaction.
pub(super) async fn add_message(
    transaction: &impl GenericClient,
    change: &crate::store::MessageChange,
) -> Result<Vec<u64>, Error> {
    let message = serde_json::to_value(&change.message).map_err(|e| Error::Invalid(e.to_string()))?;
    add_row(transaction, HookEvent::Message, &message, &change.deliveries).await
}

/// One outbox row per plugin of `deliveries`, carrying `snapshot`.
async fn add_row(
    transaction: &impl GenericClient,
    event: HookEvent,
    snapshot: &serde_json::Value,
    deliveries: &NewDeliveries,
) -> Result<Vec<u64>, Error> {
    if deliveries.plugins.is_empty() {
        return Ok(Vec::new());
    }
    let chain = serde_json::to_value(&deliveries.chain).map_err(|e| Error::Invalid(e.to_string()))?;
    let insert = transaction
        .prepare_cached(&format!(
            "INSERT INTO hook_deliveries (plugin_id, event, entity, lease_owner, lease_until, chain)
             SELECT plugin, $2, $3, $4, {NOW_MS} + $5, $6 FROM unnest($1::text[]) AS plugin
             RETURNING plugin_id, id"
        ))
        .await?;
    let rows = transaction
        .query(
            &insert,
            &[
                &deliveries.plugins,
                &event_name(event),
                snapshot,
                &deliveries.node,
                &millis(deliveries.lease)?,
                &chain,
            ],
        )
        .await?;
    let mut ids = std::collections::HashMap::new();
    for row in rows {
        ids.insert(row.try_get::<_, String>(0)?, to_u64(row.try_get(1)?)?);
    }
    in_order(&ids, deliveries)
}

/// Runs `written` (one entity's INSERT or UPDATE `… RETURNING id`, whose
/// parameters are `params`) and adds `event`'s deliveries of `entity` in
/// the same statement: the write and its outbox rows commit together in one
/// round trip. `None` when `written` wrote no row. The ids follow the order
/// of `deliveries.plugins`.
pub(super) async fn write_with_deliveries(
    client: &impl GenericClient,
    written: &str,
    params: &[&(dyn ToSql + Sync)],
    event: EntityEvent,
    entity: &Entity,
    deliveries: &NewDeliveries,
) -> Result<Option<Vec<u64>>, Error> {
    let snapshot = serde_json::to_value(entity).map_err(|e| Error::Invalid(e.to_string()))?;
    let chain = serde_json::to_value(&deliveries.chain).map_err(|e| Error::Invalid(e.to_string()))?;
    let n = params.len();
    // A first row (no plugin) says the entity was written; then one row per delivery.
    let statement = client
        .prepare_cached(&format!(
            "WITH written AS ({written}),
             added AS (
                INSERT INTO hook_deliveries (plugin_id, event, entity, lease_owner, lease_until, chain)
                SELECT plugin, ${}, ${}, ${}, {NOW_MS} + ${}, ${} FROM unnest(${}::text[]) AS plugin
                WHERE EXISTS (SELECT 1 FROM written)
                RETURNING plugin_id, id)
             SELECT NULL::text, NULL::bigint FROM written
             UNION ALL SELECT plugin_id, id FROM added",
            n + 2,
            n + 3,
            n + 4,
            n + 5,
            n + 6,
            n + 1
        ))
        .await?;
    let (event, lease) = (event_name(event), millis(deliveries.lease)?);
    let mut all: Vec<&(dyn ToSql + Sync)> = params.to_vec();
    all.extend([
        &deliveries.plugins as &(dyn ToSql + Sync),
        &event,
        &snapshot,
        &deliveries.node,
        &lease,
        &chain,
    ]);
    let rows = client.query(&statement, &all).await?;
    if rows.is_empty() {
        return Ok(None);
    }
    let mut ids = std::collections::HashMap::new();
    for row in &rows {
        if let Some(plugin) = row.try_get::<_, Option<String>>(0)? {
            ids.insert(plugin, to_u64(row.try_get(1)?)?);
        }
    }
    in_order(&ids, deliveries).map(Some)
}

/// The delivery ids of `deliveries.plugins`, in that order.
fn in_order(
    ids: &std::collections::HashMap<String, u64>,
    deliveries: &NewDeliveries,
) -> Result<Vec<u64>, Error> {
    deliveries
        .plugins
        .iter()
        .map(|plugin| {
            ids.get(plugin).copied().ok_or_else(|| Error::Invalid(format!("no delivery for `{plugin}`")))
        })
        .collect()
}

impl HookOutbox for Postgres {
    fn claim_due(
        &self,
        node: &str,
        plugins: &[String],
        lease: Duration,
        limit: usize,
    ) -> Result<Vec<Delivery>, StoreError> {
        let (node, plugins) = (node.to_owned(), plugins.to_vec());
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.run("claiming hook deliveries", move |pool| async move {
            let lease = millis(lease)?;
            let client = pool.get().await?;
            // Deliveries an older Plinth marked done (it settled them in two
            // steps) go once their grace has passed.
            let forget = client
                .prepare_cached(&format!(
                    "DELETE FROM hook_deliveries WHERE id IN (
                        SELECT id FROM hook_deliveries WHERE done AND lease_until < {NOW_MS}
                        FOR UPDATE SKIP LOCKED)"
                ))
                .await?;
            client.execute(&forget, &[]).await?;
            let claim = client
                .prepare_cached(&format!(
                    "WITH due AS (
                        SELECT id FROM hook_deliveries
                        WHERE NOT done AND lease_until <= {NOW_MS} AND plugin_id = ANY($2::text[])
                        ORDER BY id LIMIT $3 FOR UPDATE SKIP LOCKED)
                     UPDATE hook_deliveries AS d
                     SET lease_owner = $1, lease_until = {NOW_MS} + $4, attempts = d.attempts + 1
                     FROM due WHERE d.id = due.id
                     RETURNING d.id, d.plugin_id, d.event, d.entity, d.attempts, d.chain"
                ))
                .await?;
            let mut claimed = Vec::new();
            for row in client.query(&claim, &[&node, &plugins, &limit, &lease]).await? {
                let (id, carried): (u64, serde_json::Value) = (to_u64(row.try_get(0)?)?, row.try_get(3)?);
                let chain: serde_json::Value = row.try_get(5)?;
                let carried = Carried::from_row(row.try_get(2)?, carried);
                let Ok(carried) = carried.inspect_err(|error| crate::store::unreadable_delivery(id, error))
                else {
                    continue;
                };
                claimed.push(Delivery {
                    id,
                    plugin_id: row.try_get(1)?,
                    carried,
                    attempts: u32::try_from(row.try_get::<_, i32>(4)?).unwrap_or(0),
                    chain: serde_json::from_value(chain).unwrap_or_else(|_| WriteChain::unreadable()),
                });
            }
            claimed.sort_by_key(|delivery| delivery.id);
            Ok(claimed)
        })
    }

    fn retry(&self, id: u64, node: &str, after: Duration) -> Result<(), StoreError> {
        let node = node.to_owned();
        self.run("retrying a hook delivery", move |pool| async move {
            let client = pool.get().await?;
            let due = client
                .prepare_cached(&format!(
                    "UPDATE hook_deliveries SET lease_until = {NOW_MS} + $3, lease_owner = ''
                     WHERE id = $1 AND lease_owner = $2 AND NOT done"
                ))
                .await?;
            let given_back = client.execute(&due, &[&to_i64(id)?, &node, &millis(after)?]).await? == 1;
            if given_back && after.is_zero() {
                client.execute("SELECT pg_notify($1, '')", &[&CHANNEL]).await?;
            }
            Ok(())
        })
    }

    fn renew(&self, ids: &[u64], node: &str, lease: Duration) -> Result<(), StoreError> {
        let (ids, node) = (ids.to_vec(), node.to_owned());
        self.run("renewing hook delivery leases", move |pool| async move {
            let ids: Vec<i64> = ids.into_iter().map(to_i64).collect::<Result<_, _>>()?;
            let client = pool.get().await?;
            let renew = client
                .prepare_cached(&format!(
                    "UPDATE hook_deliveries SET lease_until = GREATEST(lease_until, {NOW_MS} + $3)
                     WHERE id = ANY($1::bigint[]) AND lease_owner = $2 AND NOT done"
                ))
                .await?;
            client.execute(&renew, &[&ids, &node, &millis(lease)?]).await?;
            Ok(())
        })
    }

    fn complete(&self, id: u64, node: &str, outcome: &HookOutcome) -> Result<bool, StoreError> {
        let (node, outcome) = (node.to_owned(), outcome.clone());
        self.run("completing a hook delivery", move |pool| async move {
            // One statement: the removal and its record commit together.
            let client = pool.get().await?;
            let removal = "DELETE FROM hook_deliveries WHERE id = $1 AND lease_owner = $2 RETURNING id";
            let Some(seq) =
                super::hooks::record_if_removed(&client, removal, &[&to_i64(id)?, &node], &outcome).await?
            else {
                return Ok(false);
            };
            // Done and recorded: a failed trim leaves old records for the next one.
            if let Err(error) = super::hooks::trim_if_due(&client, seq).await {
                tracing::warn!("trimming old hook records failed: {error:?}");
            }
            Ok(true)
        })
    }

    fn pending(&self) -> Result<u64, StoreError> {
        self.run("counting hook deliveries", move |pool| async move {
            let client = pool.get().await?;
            to_u64(
                client
                    .query_one("SELECT COUNT(*) FROM hook_deliveries WHERE NOT done", &[])
                    .await?
                    .try_get(0)?,
            )
        })
    }

    fn wake_ups(&self) -> Arc<Notify> {
        self.wake_ups.clone()
    }
}
