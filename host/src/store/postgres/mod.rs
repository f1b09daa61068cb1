//! The PostgreSQL backend, for several Plinth nodes sharing one database
//! (feature `postgres`). Connections come from a `deadpool-postgres` pool.
//!
//! The backend traits are synchronous, and the host calls them from plain
//! threads, from inside `Handle::block_on` of its own runtime and from
//! multi-thread workers inside `block_in_place`. Blocking on a runtime there
//! would panic (runtimes do not nest), so the backend owns a small runtime of
//! its own: every call spawns its work there and waits for the answer on a
//! channel (`Postgres::run`), which works from any thread.
//!
//! The schema is versioned in `plinth_schema`; opening a database runs the
//! migrations it has not seen in one transaction holding an advisory lock, so
//! nodes starting together migrate once and the others then see it done.

mod address;
mod entities;
mod field_configs;
mod hooks;
mod jobs;
mod kv;
mod nodes;
mod outbox;
mod packages;
mod settings;
mod switches;
mod tls;

pub use address::address_without_password;
pub use tls::ROOT_CERTIFICATES_VARIABLE;

use super::StoreError;
use deadpool_postgres::{Manager, ManagerConfig, Pool, PoolError, RecyclingMethod};
use std::future::Future;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;
use tokio::runtime::{Handle, Runtime};
use tokio::sync::Notify;
use tokio_postgres::AsyncMessage;
use tokio_postgres::error::SqlState;
use tokio_postgres_rustls::MakeRustlsConnect;

/// Connections kept at most, per node.
const POOL_SIZE: usize = 16;
/// How long opening a connection may take, so a stopped database answers
/// `Unavailable` within seconds instead of hanging the caller.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// How long a call waits for a free connection when all are in use.
const WAIT_TIMEOUT: Duration = Duration::from_secs(5);
/// The longest any one backend call may take, waiting for locks included:
/// after it the caller gets `Unavailable` and the server rolls back.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a storage commit waits for another commit of the same plugin
/// (another node's, or one stuck on a dead connection) before it reports a
/// conflict, which the host answers by running the call again.
const LOCK_TIMEOUT: Duration = Duration::from_secs(5);
/// The advisory lock held while migrating: "plinth" in ASCII.
const MIGRATION_LOCK: i64 = 0x706c_696e_7468;

/// Schema changes, in order; `plinth_schema.version` counts those applied.
/// Never edit a released step: add one.
const MIGRATIONS: &[&str] = &[
    // 1: the schema of SQLite's three migrations. `seq` orders entities (and
    // hook records) by insertion; keys sort by bytes (`COLLATE "C"`), as
    // SQLite and Rust's `String` do.
    r#"CREATE TABLE entities (
        id          text PRIMARY KEY,
        entity_type text NOT NULL,
        data        jsonb NOT NULL,
        created_at  bigint NOT NULL,
        updated_at  bigint NOT NULL,
        seq         bigserial NOT NULL
    );
    CREATE INDEX entities_by_type ON entities (entity_type, created_at, seq);
    CREATE INDEX entities_by_age ON entities (created_at, seq);
    CREATE TABLE plugin_storage (
        plugin_id text NOT NULL,
        key       text COLLATE "C" NOT NULL,
        value     bytea NOT NULL,
        version   bigint NOT NULL,
        PRIMARY KEY (plugin_id, key)
    );
    CREATE TABLE plugin_usage (
        plugin_id  text PRIMARY KEY,
        bytes      bigint NOT NULL,
        keys       bigint NOT NULL,
        generation bigint NOT NULL
    );
    CREATE TABLE plugin_settings (
        plugin_id text NOT NULL,
        name      text NOT NULL,
        value     jsonb NOT NULL,
        PRIMARY KEY (plugin_id, name)
    );
    CREATE TABLE hook_records (
        seq         bigserial PRIMARY KEY,
        plugin_id   text NOT NULL,
        event       text NOT NULL,
        entity_id   text NOT NULL,
        "at"        bigint NOT NULL,
        duration_us bigint NOT NULL,
        error       text
    );
    CREATE TABLE field_configs (
        entity_type text PRIMARY KEY,
        config      jsonb NOT NULL
    );"#,
    // 2: the hook outbox (see `outbox.rs`). Lease times are the database's
    // clock in milliseconds, so nodes' clocks need not agree.
    r#"CREATE TABLE hook_deliveries (
        id          bigserial PRIMARY KEY,
        plugin_id   text NOT NULL,
        event       text NOT NULL,
        entity      jsonb NOT NULL,
        lease_owner text NOT NULL,
        lease_until bigint NOT NULL,
        attempts    integer NOT NULL DEFAULT 0,
        done        boolean NOT NULL DEFAULT false
    );
    CREATE INDEX hook_deliveries_due ON hook_deliveries (lease_until);"#,
    // 3: installed packages, pending and approved (see `packages.rs`).
    r#"CREATE TABLE plugin_packages (
        plugin_id text NOT NULL,
        slot      text NOT NULL,
        sha256    text NOT NULL,
        record    text NOT NULL,
        package   bytea NOT NULL,
        PRIMARY KEY (plugin_id, slot)
    );"#,
    // 4: what each node last reported of itself (see `nodes.rs`), at the
    // database's clock; data directories whose older installs joined the list
    // (see `packages.rs`).
    r#"CREATE TABLE node_reports (
        node        text PRIMARY KEY,
        reported_at bigint NOT NULL,
        report      jsonb NOT NULL
    );
    CREATE TABLE adopted_data_dirs (id text PRIMARY KEY);"#,
    // 5: plugins an operator switched off (see `switches.rs`).
    r#"CREATE TABLE disabled_plugins (plugin_id text PRIMARY KEY);"#,
    // 6: a storage commit in one statement (see `kv.rs`).
    kv::COMMIT_FUNCTION,
    // 7: a storage commit locks only the keys it touches, and moves the usage
    // row by a delta checked in the same statement (see `kv.rs`).
    kv::COMMIT_LOCKS_WHAT_IT_TOUCHES,
    // 8: the plugin writes that led to each hook delivery (`WriteChain`).
    r#"ALTER TABLE hook_deliveries ADD COLUMN chain jsonb NOT NULL DEFAULT '{}';"#,
    // 9: scheduled jobs, when each is next due and how it last ran (`jobs.rs`).
    r#"CREATE TABLE plugin_jobs (
        plugin_id        text NOT NULL,
        job_id           text NOT NULL,
        schedule         text NOT NULL,
        next_due         bigint,
        lease_owner      text NOT NULL DEFAULT '',
        lease_until      bigint NOT NULL DEFAULT 0,
        runs             bigint NOT NULL DEFAULT 0,
        last_at          bigint,
        last_duration_us bigint,
        last_error       text,
        PRIMARY KEY (plugin_id, job_id)
    );"#,
    // 10: outbox rows may carry plugins' messages (`event` `message`, the
    // message in `entity`). A Plinth before it cannot read them, so it
    // refuses the database from here on rather than stall on them.
    r#"ALTER TABLE hook_deliveries ADD CONSTRAINT hook_deliveries_event
        CHECK (event IN ('created', 'updated', 'deleted', 'message'));"#,
];

/// The PostgreSQL backend; implements every backend trait. Open it with
/// [`Backend::postgres`](crate::store::Backend::postgres).
pub struct Postgres {
    pool: Pool,
    /// How connections (and cancel requests) are made: TLS or not (`tls.rs`).
    tls: MakeRustlsConnect,
    /// Each plugin's storage usage after this node's last commit for it, for
    /// calls' early quota checks (see `kv.rs`).
    usage_hints: Arc<std::sync::Mutex<std::collections::HashMap<String, kv::Hint>>>,
    /// The field configurations this node read (see `field_configs.rs`).
    field_config_copies: field_configs::Copies,
    /// A few storage commits per plugin at a time on this node (see `kv.rs`).
    commit_slots: std::sync::Mutex<std::collections::HashMap<String, std::sync::Arc<tokio::sync::Semaphore>>>,
    /// Woken by `NOTIFY` from any node (see `outbox.rs`).
    wake_ups: std::sync::Arc<tokio::sync::Notify>,
    /// Woken when any node stores or removes a package (see `packages.rs`).
    package_changes: std::sync::Arc<tokio::sync::Notify>,
    /// Where calls run: the handle of `runtime`.
    handle: Handle,
    /// Owned so it lives as long as the backend; `None` only while dropping.
    runtime: Option<Runtime>,
}

impl Postgres {
    /// Connects to the database at `url` (`postgres://user:password@host:port/db`
    /// or `host=… user=…`) and brings its schema up to date. A database that
    /// cannot be reached is [`StoreError::Unavailable`]. With
    /// `sslmode=require`, over verified TLS (`tls.rs`), trusting the roots
    /// in the file `PGSSLROOTCERT` names, or else the Mozilla roots.
    pub fn connect(url: &str) -> Result<Postgres, StoreError> {
        let roots = std::env::var_os(ROOT_CERTIFICATES_VARIABLE).map(std::path::PathBuf::from);
        Postgres::connect_trusting(url, roots.as_deref())
    }

    /// Like [`Postgres::connect`], trusting the root certificates in the PEM
    /// file `roots` (`None`: the Mozilla roots) when the URL asks for TLS.
    pub fn connect_trusting(url: &str, roots: Option<&std::path::Path>) -> Result<Postgres, StoreError> {
        const OPENING: &str = "opening the database";
        let failed = |message: String| StoreError::Failed { operation: OPENING, message };
        let mut config = tokio_postgres::Config::from_str(url).map_err(|e| {
            let hint = if url.contains("verify-") || url.contains("sslrootcert") {
                ": Plinth's sslmode=require already verifies the server's certificate and host name, \
                 as libpq's verify-full does; name a private CA's certificate file in PGSSLROOTCERT"
            } else {
                ""
            };
            failed(format!("{e}{hint}"))
        })?;
        let tls = tls::connector(&mut config, roots).map_err(failed)?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        if config.get_application_name().is_none() {
            config.application_name("plinth");
        }
        // A node that dies or loses its network mid-transaction must not hold
        // a plugin's locks for the two hours of TCP's default keepalive:
        // the server notices within about a minute and rolls it back.
        config.keepalives(true).keepalives_idle(Duration::from_secs(15)).tcp_user_timeout(ANSWER_TIMEOUT);
        // A storage commit's locks need read committed, whatever the
        // database's or the role's default (`kv.rs`).
        let read_committed = "-c default_transaction_isolation=read\\ committed";
        let options = match config.get_options() {
            Some(theirs) => format!("{theirs} {read_committed}"),
            None => format!(
                "-c idle_in_transaction_session_timeout={} {read_committed}",
                ANSWER_TIMEOUT.as_millis()
            ),
        };
        config.options(options);
        // Fast: a pooled connection is only checked for being closed; a dead
        // one fails its next query (Unavailable) and is replaced.
        let manager = Manager::from_config(
            config.clone(),
            tls.clone(),
            ManagerConfig { recycling_method: RecyclingMethod::Fast },
        );
        let pool = Pool::builder(manager)
            .max_size(POOL_SIZE)
            .wait_timeout(Some(WAIT_TIMEOUT))
            .create_timeout(Some(CONNECT_TIMEOUT))
            .recycle_timeout(Some(CONNECT_TIMEOUT))
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .build()
            .map_err(|e| failed(e.to_string()))?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("plinth-postgres")
            .enable_all()
            .build()
            .map_err(|e| failed(format!("starting the database runtime: {e}")))?;
        let db = Postgres {
            pool,
            tls: tls.clone(),
            usage_hints: Default::default(),
            field_config_copies: Default::default(),
            commit_slots: Default::default(),
            wake_ups: Default::default(),
            package_changes: Default::default(),
            handle: runtime.handle().clone(),
            runtime: Some(runtime),
        };
        db.run("migrating the database", migrate)?;
        let config_saved = Arc::new(Notify::new());
        let channels = [
            (outbox::CHANNEL, db.wake_ups.clone()),
            (packages::CHANNEL, db.package_changes.clone()),
            (field_configs::CHANNEL, config_saved.clone()),
        ];
        db.handle.spawn(listen(config, tls, channels));
        // A save on any node (or a listener that reconnected, which may have
        // missed one) drops this node's copies of the field configurations.
        let copies = db.field_config_copies.clone();
        db.handle.spawn(async move {
            loop {
                config_saved.notified().await;
                crate::sync::locked(&copies).drop_all();
            }
        });
        Ok(db)
    }

    /// Runs `work` on the backend's runtime and waits for its answer, from
    /// whatever thread calls (never blocking on a runtime, so never nesting
    /// one). `work` gets the pool and owns everything it uses.
    fn run<T, F, Fut>(&self, operation: &'static str, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(Pool) -> Fut,
        Fut: Future<Output = Result<T, Error>> + Send + 'static,
    {
        let (answer, answered) = std::sync::mpsc::sync_channel(1);
        let future = work(self.pool.clone());
        drop(self.handle.spawn(async move {
            // The caller waits for this; it is gone only if it panicked.
            let _ = answer.send(future.await);
        }));
        match answered.recv_timeout(ANSWER_TIMEOUT) {
            Ok(result) => result.map_err(fail(operation)),
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => Err(StoreError::Unavailable {
                operation,
                message: format!("the database did not answer within {} s", ANSWER_TIMEOUT.as_secs()),
            }),
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => Err(StoreError::Failed {
                operation,
                message: "the database task ended without an answer (it panicked)".into(),
            }),
        }
    }
}

impl Drop for Postgres {
    /// Stops the runtime without waiting: dropping it the ordinary way panics
    /// when the last reference goes inside some async context.
    fn drop(&mut self) {
        self.pool.close();
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// Listens on each channel on a connection of its own and wakes its
/// `Notify` at each notification; reconnects a second after losing it, until
/// the backend's runtime stops. Notifications only wake nodes up: each also
/// polls, so one lost while the connection was down delays work, never loses it.
async fn listen<const N: usize>(
    config: tokio_postgres::Config,
    tls: MakeRustlsConnect,
    channels: [(&'static str, Arc<Notify>); N],
) {
    loop {
        if let Ok((client, mut connection)) = config.connect(tls.clone()).await {
            let wakers = channels.clone();
            let messages = tokio::spawn(async move {
                while let Some(Ok(message)) = std::future::poll_fn(|cx| connection.poll_message(cx)).await {
                    if let AsyncMessage::Notification(note) = message
                        && let Some((_, woken)) = wakers.iter().find(|(name, _)| *name == note.channel())
                    {
                        woken.notify_one();
                    }
                }
            });
            let statements: String = channels.iter().map(|(name, _)| format!("LISTEN {name};")).collect();
            if client.batch_execute(&statements).await.is_ok() {
                // Whatever happened while nobody listened is found by a poll now.
                channels.iter().for_each(|(_, woken)| woken.notify_one());
                let _ = messages.await;
            } else {
                messages.abort();
            }
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// Applies the migrations the database has not seen, inside one transaction
/// holding [`MIGRATION_LOCK`]: a node starting at the same time waits for the
/// lock, then finds the version already current.
async fn migrate(pool: Pool) -> Result<(), Error> {
    let mut client = pool.get().await?;
    let transaction = client.transaction().await?;
    transaction
        .batch_execute(&format!(
            "SELECT pg_advisory_xact_lock({MIGRATION_LOCK});
             CREATE TABLE IF NOT EXISTS plinth_schema (
                 id      smallint PRIMARY KEY CHECK (id = 1),
                 version integer NOT NULL
             );"
        ))
        .await?;
    let applied = match transaction.query_opt("SELECT version FROM plinth_schema WHERE id = 1", &[]).await? {
        Some(row) => row.try_get::<_, i32>(0)?,
        None => 0,
    };
    let known = MIGRATIONS.len();
    let applied = usize::try_from(applied).map_err(|_| {
        Error::Invalid(format!("the database has schema version {applied}, which is impossible"))
    })?;
    if applied > known {
        // A newer Plinth wrote this database; this one must not touch it.
        return Err(Error::Invalid(format!(
            "the database has schema version {applied}, newer than this Plinth's {known}; use a newer Plinth"
        )));
    }
    for step in MIGRATIONS.iter().skip(applied) {
        transaction.batch_execute(step).await?;
    }
    let version = i32::try_from(known).map_err(|_| Error::Invalid("too many migrations".into()))?;
    transaction
        .execute(
            "INSERT INTO plinth_schema (id, version) VALUES (1, $1)
             ON CONFLICT (id) DO UPDATE SET version = excluded.version",
            &[&version],
        )
        .await?;
    transaction.commit().await?;
    Ok(())
}

/// Why an operation failed, before it becomes a [`StoreError`].
#[derive(Debug)]
enum Error {
    /// No connection: the pool timed out, was closed, or could not connect.
    Pool(PoolError),
    /// The driver or the database failed.
    Db(tokio_postgres::Error),
    /// The caller's deadline passed before the query answered (it was cancelled).
    Deadline,
    /// A value the backend cannot store or read back, or a refused schema.
    Invalid(String),
}

impl From<PoolError> for Error {
    fn from(error: PoolError) -> Self {
        Error::Pool(error)
    }
}

impl From<tokio_postgres::Error> for Error {
    fn from(error: tokio_postgres::Error) -> Self {
        Error::Db(error)
    }
}

/// Whether a driver error means the database cannot be reached for now: a
/// broken or refused connection, a server shutting down or starting, too
/// many connections, a read-only standby after a failover.
fn is_unavailable(error: &tokio_postgres::Error) -> bool {
    match error.code().map(SqlState::code) {
        Some(code) => {
            code.starts_with("08")
                || code.starts_with("53")
                || matches!(code, "57P01" | "57P02" | "57P03" | "57P04" | "25006")
        }
        // A socket that failed is the network's or the server's state for
        // now; a certificate TLS refused is the configuration's, and stays.
        None => {
            let io =
                std::error::Error::source(error).and_then(|cause| cause.downcast_ref::<std::io::Error>());
            let refused_certificate =
                |io: &std::io::Error| io.get_ref().is_some_and(|inner| inner.is::<rustls::Error>());
            error.is_closed() || io.is_some_and(|io| !refused_certificate(io))
        }
    }
}

/// The driver's reason and its causes, with the database's own message and
/// SQLSTATE when it sent one; a statement timeout says it was the call's
/// deadline.
fn describe(error: &tokio_postgres::Error) -> String {
    match error.as_db_error() {
        Some(db) if db.code().code() == "57014" => {
            format!("the query was stopped at the call's deadline ({})", db.message())
        }
        Some(db) => match db.detail() {
            Some(detail) => format!("{} ({detail}; SQLSTATE {})", db.message(), db.code().code()),
            None => format!("{} (SQLSTATE {})", db.message(), db.code().code()),
        },
        // The driver's own message leaves out its cause (what a refused TLS
        // certificate or a refused connection says): add the chain.
        None => {
            let mut message = error.to_string();
            let mut cause = std::error::Error::source(error);
            while let Some(reason) = cause {
                message.push_str(&format!(": {reason}"));
                cause = reason.source();
            }
            message
        }
    }
}

/// `error` as a [`StoreError`] of `operation`: no connection is unavailable
/// for now; anything else failed.
fn error(operation: &'static str, error: Error) -> StoreError {
    let (unavailable, message) = match error {
        Error::Pool(PoolError::Backend(e)) => (is_unavailable(&e), describe(&e)),
        Error::Pool(e @ (PoolError::Timeout(_) | PoolError::Closed)) => (true, e.to_string()),
        Error::Pool(e) => (false, e.to_string()),
        Error::Db(e) => (is_unavailable(&e), describe(&e)),
        Error::Deadline => (false, "the call's deadline passed before the query answered".to_string()),
        Error::Invalid(message) => (false, message),
    };
    if unavailable {
        StoreError::Unavailable { operation, message }
    } else {
        StoreError::Failed { operation, message }
    }
}

/// `error` for `operation`, for `map_err`.
fn fail(operation: &'static str) -> impl Fn(Error) -> StoreError {
    move |e| error(operation, e)
}

/// A stored `bigint` that must not be negative (a time, size, count or version).
fn to_u64(value: i64) -> Result<u64, Error> {
    u64::try_from(value)
        .map_err(|_| Error::Invalid(format!("the database holds {value} where no negative number belongs")))
}

/// A number for a `bigint` column.
fn to_i64(value: u64) -> Result<i64, Error> {
    i64::try_from(value)
        .map_err(|_| Error::Invalid(format!("{value} is too large for the database (at most {})", i64::MAX)))
}

/// The database's clock, in milliseconds since the Unix epoch.
const NOW_MS: &str = "(extract(epoch from clock_timestamp()) * 1000)::bigint";

/// A duration for a `bigint` column of milliseconds.
fn millis(duration: Duration) -> Result<i64, Error> {
    to_i64(u64::try_from(duration.as_millis()).unwrap_or(u64::MAX))
}
