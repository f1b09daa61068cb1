//! The backend conformance suite on the default backend, SQLite, and the
//! schema migration of a database made before the schema was versioned.

use plinth_host::store::Backend;

#[test]
fn sqlite_passes_the_conformance_suite() {
    let dir = tempfile::tempdir().expect("temp dir");
    let backend = Backend::sqlite(dir.path()).expect("open SQLite");
    plinth_tests::conformance::run_all(&backend);
}

#[test]
fn reopening_a_database_keeps_everything() {
    let dir = tempfile::tempdir().expect("temp dir");
    let backend = Backend::sqlite(dir.path()).expect("open SQLite");
    plinth_tests::conformance::storage_versions_and_listing(&backend);
    drop(backend);
    let again = Backend::sqlite(dir.path()).expect("open SQLite again");
    assert_eq!(again.kv.list_keys("p-ver", "").expect("list"), ["a/1", "b"]);
}
