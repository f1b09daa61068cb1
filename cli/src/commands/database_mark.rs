//! A data directory remembers that its server runs on PostgreSQL. The
//! server's plugins, entities and install list then live in that database,
//! not in the directory's SQLite file, so a command that opens the directory
//! without `--database` (an operator's `plinth install`, a `plinth call`, a
//! server restarted without its flag) would work on data the server never
//! reads. Such a command is refused instead, naming the database to give it.

use anyhow::{Context, bail};
use plinth_host::store::Backend;
use plinth_host::store::postgres::address_without_password;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The mark's file, in the data directory.
pub const MARK_FILE: &str = "database.json";

/// What the mark says: the database's address, never its password.
#[derive(Serialize, Deserialize)]
struct Mark {
    postgresql: String,
}

fn mark_path(data_dir: &Path) -> PathBuf {
    data_dir.join(MARK_FILE)
}

/// The backend for a command on `data_dir`: PostgreSQL at `database`
/// (marking the folder as that database's), else none (the folder's own
/// SQLite file), refused when the folder is marked.
pub fn backend(data_dir: &Path, database: Option<&str>) -> anyhow::Result<Option<Backend>> {
    let Some(url) = database else {
        refuse_without_database(data_dir)?;
        return Ok(None);
    };
    let backend = Backend::postgres(url)
        .map_err(|e| anyhow::anyhow!("connecting to the database given by --database: {e}"))?;
    record(data_dir, url)?;
    Ok(Some(backend))
}

/// Records that the server on `data_dir` uses the PostgreSQL database `url`
/// (a new file renamed into place, and only when the mark changes).
fn record(data_dir: &Path, url: &str) -> anyhow::Result<()> {
    let path = mark_path(data_dir);
    let postgresql = address_without_password(url).map_err(|e| anyhow::anyhow!("--database: {e}"))?;
    let mark = serde_json::to_vec_pretty(&Mark { postgresql })?;
    if std::fs::read(&path).is_ok_and(|kept| kept == mark) {
        return Ok(());
    }
    let marking = || format!("marking {} as served on PostgreSQL", data_dir.display());
    std::fs::create_dir_all(data_dir).with_context(marking)?;
    let fresh = data_dir.join(format!(".{MARK_FILE}.{}", std::process::id()));
    std::fs::write(&fresh, mark).with_context(marking)?;
    std::fs::rename(&fresh, &path).with_context(marking)
}

/// Refuses to open `data_dir` on its own SQLite file when a server on
/// PostgreSQL uses it (a mark that cannot be read refuses too).
pub fn refuse_without_database(data_dir: &Path) -> anyhow::Result<()> {
    let path = mark_path(data_dir);
    let address = match std::fs::read(&path) {
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Ok(bytes) => serde_json::from_slice::<Mark>(&bytes).map(|mark| mark.postgresql).ok(),
        Err(_) => None,
    };
    let address = address.unwrap_or_else(|| "its PostgreSQL database".to_string());
    bail!(
        "{} belongs to a server on PostgreSQL ({address}): its plugins, entities and installs live in \
         that database, not in this folder. Run the command again with --database \"{address}\" (adding \
         `password=…` if it needs one, or with the server's whole URL in PLINTH_DATABASE). If the server has moved \
         to the embedded database, remove {}.",
        data_dir.display(),
        path.display()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_marked_folder_is_refused_with_the_database_to_give() {
        let dir = tempfile::tempdir().expect("temp dir");
        refuse_without_database(dir.path()).expect("an unmarked folder opens");
        record(dir.path(), "postgres://plinth:s3cret@127.0.0.1:5433/plinth").expect("marked");
        let refused = refuse_without_database(dir.path()).expect_err("refused").to_string();
        assert!(
            refused.contains("--database \"host=127.0.0.1 port=5433 user=plinth dbname=plinth\""),
            "{refused}"
        );
        assert!(!refused.contains("s3cret"), "{refused}");
        assert!(refused.contains(MARK_FILE), "{refused}");
        assert!(!std::fs::read_to_string(mark_path(dir.path())).expect("mark").contains("s3cret"));
    }

    #[test]
    fn a_mark_that_cannot_be_read_refuses_too() {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::create_dir(mark_path(dir.path())).expect("a folder where the mark goes");
        let refused = refuse_without_database(dir.path()).expect_err("refused").to_string();
        assert!(refused.contains("its PostgreSQL database"), "{refused}");
    }
}
