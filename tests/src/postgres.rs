//! A throw-away PostgreSQL cluster for one test: `initdb` into a temporary
//! folder, `pg_ctl start` on 127.0.0.1 and a free port, stopped and removed
//! when dropped. PostgreSQL refuses to run as root, so under root the
//! cluster runs as Debian's `postgres` user (`runuser`).
//!
//! Debian's server binaries live in `/usr/lib/postgresql/<major>/bin`
//! (`scripts/tools.sh --system` installs them); `PLINTH_PG_BIN` names another
//! folder. Without them a test skips with the reason, unless
//! `PLINTH_REQUIRE_ALL_GUESTS=1` (set by `.ci/run`) makes that a failure.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A running cluster; `url()` connects as its superuser `plinth`.
pub struct Cluster {
    bin: PathBuf,
    data: PathBuf,
    port: u16,
    run_as: Option<&'static str>,
    _dir: tempfile::TempDir,
}

/// The folder holding `initdb` and `pg_ctl`, if any.
fn server_binaries() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("PLINTH_PG_BIN") {
        return Some(PathBuf::from(dir));
    }
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .flatten()
        .map(|major| major.path().join("bin"))
        .filter(|bin| bin.join("initdb").is_file() && bin.join("pg_ctl").is_file())
        .collect();
    found.sort_by_key(|bin| bin.parent().and_then(|p| p.file_name()?.to_str()?.parse::<u32>().ok()));
    found.pop()
}

fn is_root() -> bool {
    Command::new("id").arg("-u").output().is_ok_and(|out| out.stdout.starts_with(b"0\n"))
}

impl Cluster {
    /// Starts a cluster, or `None` (with the reason on stderr) when the
    /// server binaries are missing and `PLINTH_REQUIRE_ALL_GUESTS` is not 1.
    pub fn start() -> Option<Cluster> {
        let Some(bin) = server_binaries() else {
            crate::guest_built(Err(
                "PostgreSQL's server binaries are missing (/usr/lib/postgresql/*/bin): run `bash scripts/tools.sh --system`",
            ));
            return None;
        };
        let dir = tempfile::Builder::new().prefix("plinth-pg-").tempdir().expect("temp dir");
        let run_as = is_root().then_some("postgres");
        if run_as.is_some() {
            let status = Command::new("chown").args(["-R", "postgres:postgres"]).arg(dir.path()).status();
            assert!(status.is_ok_and(|s| s.success()), "chown of the cluster folder to postgres failed");
        }
        let data = dir.path().join("data");
        let mut cluster = Cluster { bin, data, port: free_port(), run_as, _dir: dir };
        let init = cluster.run(
            "initdb",
            &[
                "-D",
                path(&cluster.data),
                "-U",
                "plinth",
                "--auth=trust",
                "--no-sync",
                "-E",
                "UTF8",
                "--locale=C",
            ],
        );
        assert!(init.status.success(), "initdb failed: {}", String::from_utf8_lossy(&init.stderr));
        // The free port may be taken by another test's cluster before this one
        // binds it: then try another.
        let mut problem = String::new();
        for _ in 0..5 {
            match cluster.try_start() {
                Ok(()) => return Some(cluster),
                Err(why) => problem = why,
            }
            cluster.port = free_port();
        }
        panic!("PostgreSQL did not start: {problem}");
    }

    /// `postgres://plinth@127.0.0.1:PORT/postgres`.
    pub fn url(&self) -> String {
        format!("postgres://plinth@127.0.0.1:{}/postgres", self.port)
    }

    /// Starts the server again after [`Cluster::stop`], on the same port.
    pub fn start_server(&self) {
        if let Err(problem) = self.try_start() {
            panic!("pg_ctl start failed: {problem}");
        }
    }

    /// Starts the server and waits until it accepts connections, counting
    /// every statement (`pg_stat_statements`, for the tests that count a
    /// write's round trips). `fsync=off`
    /// only risks data if the machine crashes; commits stay synchronous, so a
    /// killed server loses nothing it acknowledged.
    fn try_start(&self) -> Result<(), String> {
        let options = format!(
            "-c listen_addresses=127.0.0.1 -p {} -k {} -c fsync=off -c max_connections=200 \
             -c shared_preload_libraries=pg_stat_statements",
            self.port,
            path(&self.data)
        );
        let log = self.data.join("server.log");
        let started =
            self.run("pg_ctl", &["-D", path(&self.data), "-o", &options, "-l", path(&log), "-w", "start"]);
        if started.status.success() {
            return Ok(());
        }
        Err(format!(
            "{}{}",
            String::from_utf8_lossy(&started.stderr),
            std::fs::read_to_string(&log).unwrap_or_default()
        ))
    }

    /// Serves TLS with the certificate chain `certificate_pem` and its key
    /// `key_pem` and refuses every TCP connection without it (`hostssl`
    /// only), from now on: the files go into the data folder, owned by the
    /// server's user, and the server restarts.
    pub fn require_tls(&self, certificate_pem: &str, key_pem: &str) {
        let (certificate, key) = (self.data.join("server.crt"), self.data.join("server.key"));
        std::fs::write(&certificate, certificate_pem).expect("write server.crt");
        std::fs::write(&key, key_pem).expect("write server.key");
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).expect("chmod server.key");
        if let Some(user) = self.run_as {
            let owner = format!("{user}:{user}");
            let status = Command::new("chown").arg(&owner).arg(&certificate).arg(&key).status();
            assert!(status.is_ok_and(|s| s.success()), "chown of the server's certificate failed");
        }
        let hba = self.data.join("pg_hba.conf");
        let rules = "local all all trust\nhostssl all all 127.0.0.1/32 trust\n";
        std::fs::write(&hba, rules).expect("write pg_hba.conf");
        // psql (which `query` runs) prefers TLS, so it still gets in. A
        // restart, not a reload, so the server serves the new certificate
        // (or fails to start, saying why) before this returns.
        self.query("ALTER SYSTEM SET ssl = on");
        self.stop();
        self.start_server();
    }

    /// The server's main process (the postmaster), whose children are its
    /// connections and background workers: for the load run's CPU counts.
    pub fn server_pid(&self) -> u32 {
        let text = std::fs::read_to_string(self.data.join("postmaster.pid")).expect("postmaster.pid");
        text.lines().next().and_then(|line| line.trim().parse().ok()).expect("a pid in postmaster.pid")
    }

    /// Stops the server at once (`-m immediate`, as a crash would), keeping its data.
    pub fn stop(&self) {
        let stopped = self.run("pg_ctl", &["-D", path(&self.data), "-m", "immediate", "-w", "stop"]);
        assert!(stopped.status.success(), "pg_ctl stop failed: {}", String::from_utf8_lossy(&stopped.stderr));
    }

    /// Starts `psql` running `sql` in its own session (for a test that needs
    /// another client holding a lock); the caller waits for it.
    pub fn psql(&self, sql: &str) -> std::process::Child {
        self.command("psql")
            .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", &self.url(), "-c", sql])
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("start psql")
    }

    /// The statements run since the last call (or since the cluster started),
    /// by the text PostgreSQL normalised them to, with how often each ran and
    /// the time the server spent running them; this call's own statements
    /// are not counted.
    pub fn statements_since_last_asked(&self) -> Vec<Statement> {
        // One statement per psql call: older psql prints only a string's last result.
        self.query("CREATE EXTENSION IF NOT EXISTS pg_stat_statements");
        let listed = self.query(
            "SELECT calls, total_exec_time, toplevel, regexp_replace(query, '\\s+', ' ', 'g') FROM pg_stat_statements
             WHERE query NOT LIKE '%pg_stat_statements%' ORDER BY toplevel DESC, total_exec_time DESC, query",
        );
        self.query("SELECT pg_stat_statements_reset()");
        listed
            .lines()
            .filter_map(|line| {
                let mut columns = line.splitn(4, '|');
                let (calls, ms, toplevel) = (columns.next()?, columns.next()?, columns.next()?);
                Some(Statement {
                    query: columns.next()?.to_string(),
                    calls: calls.parse().ok()?,
                    ms: ms.parse().ok()?,
                    toplevel: toplevel == "t",
                })
            })
            .collect()
    }

    /// Counts the statements run inside functions too (`plinth_commit`'s),
    /// from the next connection on.
    pub fn track_nested_statements(&self) {
        self.query("ALTER SYSTEM SET pg_stat_statements.track = 'all'");
        self.query("SELECT pg_reload_conf()");
    }

    /// Runs `sql` with psql and returns what it printed, unaligned and
    /// without headers (one row a line, columns split by `|`).
    pub fn query(&self, sql: &str) -> String {
        let output = self
            .command("psql")
            .args(["-X", "-q", "-t", "-A", "-v", "ON_ERROR_STOP=1", "-d", &self.url(), "-c", sql])
            .output()
            .expect("run psql");
        assert!(output.status.success(), "psql failed: {}", String::from_utf8_lossy(&output.stderr));
        String::from_utf8_lossy(&output.stdout).trim().to_string()
    }

    fn command(&self, program: &str) -> Command {
        let program = self.bin.join(program);
        let mut command = match self.run_as {
            Some(user) => {
                let mut command = Command::new("runuser");
                command.args(["-u", user, "--"]).arg(&program);
                command
            }
            None => Command::new(&program),
        };
        command.env_remove("PGDATA");
        command
    }

    fn run(&self, program: &str, args: &[&str]) -> Output {
        self.command(program).args(args).output().unwrap_or_else(|e| panic!("running {program}: {e}"))
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = self.run("pg_ctl", &["-D", path(&self.data), "-m", "immediate", "-w", "stop"]);
    }
}

fn path(p: &Path) -> &str {
    p.to_str().expect("UTF-8 path")
}

/// A port nobody listens on now (the kernel's pick, released at once).
fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().expect("address").port()
}

/// One statement as PostgreSQL's `pg_stat_statements` counted it.
pub struct Statement {
    /// Its text, with constants replaced by `$1`, `$2`, ….
    pub query: String,
    /// How often it ran.
    pub calls: u64,
    /// Milliseconds the server spent running it (wall-clock, waits
    /// included), all calls together.
    pub ms: f64,
    /// Sent by a client, not run inside a function (with
    /// `pg_stat_statements.track = all`; see [`Cluster::track_nested_statements`]).
    pub toplevel: bool,
}
