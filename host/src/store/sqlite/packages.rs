//! Installed packages in SQLite: one row per plugin and slot, with the
//! package's bytes. A change is checked and written in one immediate
//! transaction, so two processes sharing the file (a server and a `plinth
//! install`) cannot both replace the same approved version.

use super::{Sqlite, fail};
use crate::store::{PackageSlot, PackageStore, StoreError, StoredPackage};
use rusqlite::{OptionalExtension, TransactionBehavior, params};
use std::sync::Arc;

impl PackageStore for Sqlite {
    fn list(&self) -> Result<Vec<StoredPackage>, StoreError> {
        let db = self.lock();
        let rows = || -> rusqlite::Result<Vec<StoredPackage>> {
            db.prepare_cached(
                "SELECT plugin_id, slot, sha256, record FROM plugin_packages ORDER BY plugin_id, slot",
            )?
            .query_map([], |row| {
                Ok(StoredPackage {
                    plugin_id: row.get(0)?,
                    slot: PackageSlot::of(&row.get::<_, String>(1)?),
                    sha256: row.get(2)?,
                    record: row.get(3)?,
                })
            })?
            .collect()
        };
        rows().map_err(fail("listing installed packages"))
    }

    fn bytes(&self, plugin_id: &str, slot: PackageSlot) -> Result<Option<Vec<u8>>, StoreError> {
        self.lock()
            .prepare_cached("SELECT package FROM plugin_packages WHERE plugin_id = ?1 AND slot = ?2")
            .and_then(|mut statement| {
                statement.query_row(params![plugin_id, slot.name()], |row| row.get(0)).optional()
            })
            .map_err(fail("reading an installed package"))
    }

    fn put(
        &self,
        package: &StoredPackage,
        bytes: &[u8],
        approved_now: Option<&str>,
        pending_now: Option<&str>,
    ) -> Result<bool, StoreError> {
        let mut db = self.lock();
        let mut run = || -> rusqlite::Result<bool> {
            let transaction = db.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let approved: Option<String> = transaction
                .prepare_cached(
                    "SELECT sha256 FROM plugin_packages WHERE plugin_id = ?1 AND slot = 'approved'",
                )?
                .query_row([&package.plugin_id], |row| row.get(0))
                .optional()?;
            if approved.as_deref() != approved_now {
                return Ok(false);
            }
            if package.slot == PackageSlot::Approved {
                let removed = transaction
                    .prepare_cached(
                        "DELETE FROM plugin_packages WHERE plugin_id = ?1 AND slot = 'pending' AND (?2 IS NULL OR sha256 = ?2)",
                    )?
                    .execute(params![package.plugin_id, pending_now])?;
                if pending_now.is_some() && removed == 0 {
                    return Ok(false);
                }
            }
            transaction
                .prepare_cached(
                    "INSERT INTO plugin_packages (plugin_id, slot, sha256, record, package) VALUES (?1, ?2, ?3, ?4, ?5)
                     ON CONFLICT (plugin_id, slot) DO UPDATE
                     SET sha256 = excluded.sha256, record = excluded.record, package = excluded.package",
                )?
                .execute(params![package.plugin_id, package.slot.name(), package.sha256, package.record, bytes])?;
            transaction.commit()?;
            Ok(true)
        };
        let stored = run().map_err(fail("storing an installed package"))?;
        if stored {
            self.package_changes.notify_one();
        }
        Ok(stored)
    }

    fn remove(&self, plugin_id: &str, slot: Option<PackageSlot>) -> Result<bool, StoreError> {
        let removed = self
            .lock()
            .prepare_cached("DELETE FROM plugin_packages WHERE plugin_id = ?1 AND (?2 IS NULL OR slot = ?2)")
            .and_then(|mut statement| statement.execute(params![plugin_id, slot.map(PackageSlot::name)]))
            .map_err(fail("removing an installed package"))?;
        if removed > 0 {
            self.package_changes.notify_one();
        }
        Ok(removed > 0)
    }

    fn changes(&self) -> Arc<tokio::sync::Notify> {
        self.package_changes.clone()
    }

    fn adopted(&self, data_dir: &str) -> Result<bool, StoreError> {
        self.lock()
            .prepare_cached("SELECT 1 FROM adopted_data_dirs WHERE id = ?1")
            .and_then(|mut statement| statement.exists([data_dir]))
            .map_err(fail("reading which data directories joined the list of installs"))
    }

    fn mark_adopted(&self, data_dir: &str) -> Result<(), StoreError> {
        self.lock()
            .prepare_cached("INSERT INTO adopted_data_dirs (id) VALUES (?1) ON CONFLICT DO NOTHING")
            .and_then(|mut statement| statement.execute([data_dir]))
            .map(drop)
            .map_err(fail("recording that a data directory joined the list of installs"))
    }
}
