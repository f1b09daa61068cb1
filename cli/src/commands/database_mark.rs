//! A data directory remembers that its server runs on PostgreSQL. The
//! server's plugins, entities and install list then live in that database,
//! not in the directory's SQLite file, so a command that opens the directory
//! without `--database` (an operator's `plinth install`, a server restarted
//! without its flag) would work on a list the server never reads. Such a
//! command is refused instead, naming the database to give it.

use anyhow::bail;
use plinth_host::store::Backend;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The mark's file, in the data directory.
pub const MARK_FILE: &str = "database.json";

/// What the mark says: the database, with any password left out.
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

/// Records that the server on `data_dir` uses the PostgreSQL database `url`.
fn record(data_dir: &Path, url: &str) -> anyhow::Result<()> {
    std::fs::create_dir_all(data_dir)?;
    let mark = Mark { postgresql: without_password(url) };
    std::fs::write(mark_path(data_dir), serde_json::to_vec_pretty(&mark)?)?;
    Ok(())
}

/// Refuses to open `data_dir` on its own SQLite file when a server on
/// PostgreSQL uses it.
fn refuse_without_database(data_dir: &Path) -> anyhow::Result<()> {
    let path = mark_path(data_dir);
    let Ok(text) = std::fs::read_to_string(&path) else { return Ok(()) };
    let url =
        serde_json::from_str::<Mark>(&text).map_or_else(|_| "postgres://…".to_string(), |m| m.postgresql);
    bail!(
        "{} belongs to a server on PostgreSQL ({url}): its plugins and installs live in that database, \
         not in this folder. Run the command again with `--database {url}` (with its password, or set \
         PLINTH_DATABASE). If the server has moved to the embedded database, remove {}.",
        data_dir.display(),
        path.display()
    )
}

/// `url` without its password, in either form PostgreSQL takes
/// (`postgres://user:secret@host/db`, `host=… password=secret`).
fn without_password(url: &str) -> String {
    let userinfo = regex::Regex::new(r"^([a-z]+://[^:/@]*):[^@/]*@").expect("a valid pattern");
    let keyword =
        regex::Regex::new(r"(?i)(^|[\s?&])password=('[^']*'|[^\s&]*)(&|\s+)?").expect("a valid pattern");
    let url = userinfo.replace(url, "$1@");
    keyword.replace_all(&url, "$1").trim().trim_end_matches(['&', '?']).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_left_out() {
        assert_eq!(
            without_password("postgres://plinth:s3cret@10.0.0.5:5432/db"),
            "postgres://plinth@10.0.0.5:5432/db"
        );
        assert_eq!(without_password("postgresql://plinth@host/db"), "postgresql://plinth@host/db");
        assert_eq!(
            without_password("postgres://u@host/db?sslmode=require&password=x"),
            "postgres://u@host/db?sslmode=require"
        );
        assert_eq!(
            without_password("postgres://u@h/db?password=x&sslmode=require"),
            "postgres://u@h/db?sslmode=require"
        );
        assert_eq!(
            without_password("host=db user=plinth password='a b' dbname=x"),
            "host=db user=plinth dbname=x"
        );
    }

    #[test]
    fn a_marked_folder_is_refused_with_the_database_to_give() {
        let dir = tempfile::tempdir().expect("temp dir");
        refuse_without_database(dir.path()).expect("an unmarked folder opens");
        record(dir.path(), "postgres://plinth:s3cret@127.0.0.1:5433/plinth").expect("marked");
        let refused = refuse_without_database(dir.path()).expect_err("refused").to_string();
        assert!(refused.contains("--database postgres://plinth@127.0.0.1:5433/plinth"), "{refused}");
        assert!(!refused.contains("s3cret"), "{refused}");
        assert!(refused.contains(MARK_FILE), "{refused}");
    }
}
