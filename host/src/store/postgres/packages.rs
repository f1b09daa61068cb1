//! Installed packages in PostgreSQL: one row per plugin and slot, with the
//! package's bytes. A change takes a transaction-scoped advisory lock on the
//! plugin's id before it checks the approved version, so two nodes approving
//! or updating the same plugin at once cannot both win; `NOTIFY
//! plinth_installs`, sent in the same transaction, reaches the other nodes
//! when it commits.

use super::{Error, Postgres};
use crate::store::{PackageSlot, PackageStore, StoreError, StoredPackage};
use std::sync::Arc;

/// The channel a stored or removed package is announced on.
pub(super) const CHANNEL: &str = "plinth_installs";

impl PackageStore for Postgres {
    fn list(&self) -> Result<Vec<StoredPackage>, StoreError> {
        self.run("listing installed packages", move |pool| async move {
            let client = pool.get().await?;
            let statement = client
                .prepare_cached(
                    "SELECT plugin_id, slot, sha256, record FROM plugin_packages ORDER BY plugin_id, slot",
                )
                .await?;
            client
                .query(&statement, &[])
                .await?
                .iter()
                .map(|row| -> Result<StoredPackage, Error> {
                    Ok(StoredPackage {
                        plugin_id: row.try_get(0)?,
                        slot: PackageSlot::of(row.try_get(1)?),
                        sha256: row.try_get(2)?,
                        record: row.try_get(3)?,
                    })
                })
                .collect()
        })
    }

    fn bytes(&self, plugin_id: &str, slot: PackageSlot) -> Result<Option<Vec<u8>>, StoreError> {
        let plugin_id = plugin_id.to_owned();
        self.run("reading an installed package", move |pool| async move {
            let client = pool.get().await?;
            let statement = client
                .prepare_cached("SELECT package FROM plugin_packages WHERE plugin_id = $1 AND slot = $2")
                .await?;
            let row = client.query_opt(&statement, &[&plugin_id, &slot.name()]).await?;
            Ok(row.map(|row| row.try_get(0)).transpose()?)
        })
    }

    fn put(
        &self,
        package: &StoredPackage,
        bytes: &[u8],
        approved_now: Option<&str>,
        pending_now: Option<&str>,
    ) -> Result<bool, StoreError> {
        let (package, bytes) = (package.clone(), bytes.to_vec());
        let (approved_now, pending_now) = (approved_now.map(str::to_owned), pending_now.map(str::to_owned));
        self.run("storing an installed package", move |pool| async move {
            let mut client = pool.get().await?;
            let transaction = client.transaction().await?;
            let id = &package.plugin_id;
            transaction.execute("SELECT pg_advisory_xact_lock(hashtext('plinth-install:' || $1))", &[id]).await?;
            let approved: Option<String> = transaction
                .query_opt("SELECT sha256 FROM plugin_packages WHERE plugin_id = $1 AND slot = 'approved'", &[id])
                .await?
                .map(|row| row.try_get(0))
                .transpose()?;
            if approved != approved_now {
                return Ok(false);
            }
            if package.slot == PackageSlot::Approved {
                let removed = transaction
                    .execute(
                        "DELETE FROM plugin_packages WHERE plugin_id = $1 AND slot = 'pending'
                         AND ($2::text IS NULL OR sha256 = $2)",
                        &[id, &pending_now],
                    )
                    .await?;
                if pending_now.is_some() && removed == 0 {
                    return Ok(false);
                }
            }
            transaction
                .execute(
                    "INSERT INTO plugin_packages (plugin_id, slot, sha256, record, package) VALUES ($1, $2, $3, $4, $5)
                     ON CONFLICT (plugin_id, slot) DO UPDATE
                     SET sha256 = excluded.sha256, record = excluded.record, package = excluded.package",
                    &[id, &package.slot.name(), &package.sha256, &package.record, &bytes],
                )
                .await?;
            transaction.execute("SELECT pg_notify($1, $2)", &[&CHANNEL, id]).await?;
            transaction.commit().await?;
            Ok(true)
        })
    }

    fn remove(&self, plugin_id: &str, slot: Option<PackageSlot>) -> Result<bool, StoreError> {
        let plugin_id = plugin_id.to_owned();
        self.run("removing an installed package", move |pool| async move {
            let mut client = pool.get().await?;
            let transaction = client.transaction().await?;
            // The same lock as `put`, so an update weighed against a version
            // cannot land after that version was uninstalled.
            transaction
                .execute("SELECT pg_advisory_xact_lock(hashtext('plinth-install:' || $1))", &[&plugin_id])
                .await?;
            let removed = transaction
                .execute(
                    "DELETE FROM plugin_packages WHERE plugin_id = $1 AND ($2::text IS NULL OR slot = $2)",
                    &[&plugin_id, &slot.map(PackageSlot::name)],
                )
                .await?;
            if removed > 0 {
                transaction.execute("SELECT pg_notify($1, $2)", &[&CHANNEL, &plugin_id]).await?;
            }
            transaction.commit().await?;
            Ok(removed > 0)
        })
    }

    fn changes(&self) -> Arc<tokio::sync::Notify> {
        self.package_changes.clone()
    }

    fn adopted(&self, data_dir: &str) -> Result<bool, StoreError> {
        let data_dir = data_dir.to_owned();
        self.run("reading which data directories joined the list of installs", move |pool| async move {
            let client = pool.get().await?;
            Ok(client
                .query_opt("SELECT 1 FROM adopted_data_dirs WHERE id = $1", &[&data_dir])
                .await?
                .is_some())
        })
    }

    fn mark_adopted(&self, data_dir: &str) -> Result<(), StoreError> {
        let data_dir = data_dir.to_owned();
        self.run("recording that a data directory joined the list of installs", move |pool| async move {
            let client = pool.get().await?;
            client
                .execute(
                    "INSERT INTO adopted_data_dirs (id) VALUES ($1) ON CONFLICT DO NOTHING",
                    &[&data_dir],
                )
                .await?;
            Ok(())
        })
    }
}
