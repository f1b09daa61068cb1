//! Entity writes with hooks, per second, and the CPU each write costs: one
//! `plinth serve` on its embedded SQLite (the baseline), then 1, 2 and 3
//! nodes sharing one PostgreSQL, all measured in this run. A load run, not a
//! timed test: `cargo bench -p plinth --bench nodes` (release build; the
//! PostgreSQL binaries come from `scripts/tools.sh --system`).
//!
//! Two workloads, each with the Rust examples:
//! - **per-entity keys**: character-stats, whose hook stores
//!   `analysis/{entity id}`, so no two writes' hooks touch the same key;
//! - **hot key**: audit-trail too, whose hook increments one counter that
//!   every write's hook on every node changes.
//!
//! The clients (24 at once in all, spread evenly over the nodes) create
//! 1,200 entities; a write's answer comes after its hooks ran on the node
//! that took it. "Answered" counts writes per second until the last answer;
//! "settled" until the outbox is empty. The CPU time each process used
//! (`/proc/PID/stat`; PostgreSQL's connections and workers included) is
//! divided by the writes. Where the machine has a core for each node and one
//! for PostgreSQL, a pinned row (`taskset`) repeats the run with each on its
//! own core. From the one-node PostgreSQL row of each workload it prints a
//! capacity model (the writes/s N nodes would reach, each on a machine of
//! its own, against one database on a machine like them) and where the
//! database's time went, statement by statement (`pg_stat_statements`).

#[path = "../tests/common/mod.rs"]
mod common;

use common::Server;
use plinth_tests::postgres::{Cluster, Statement};
use std::path::Path;
use std::process::Command;
use std::time::Instant;

const WRITES: usize = 1200;
const CLIENTS: usize = 24;
/// Writes per node before measuring: compiled caches, pools, first instances.
const WARM_UP: usize = 48;

/// One run's figures.
struct Run {
    answered: f64,
    settled: f64,
    /// CPU milliseconds per write: all the nodes together, and the database.
    node_ms: f64,
    database_ms: Option<f64>,
    /// What the database ran during the load (`pg_stat_statements`).
    statements: Vec<Statement>,
}

fn main() {
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    for (workload, plugins) in
        [("per-entity keys", &["character-stats"][..]), ("hot key", &["audit-trail", "character-stats"])]
    {
        let folder = tempfile::tempdir().expect("temp dir");
        for plugin in plugins {
            plinth_tests::copy_example(plugin, folder.path());
        }
        println!("\n## {workload} ({}), {cores} cores\n", plugins.join(" + "));
        println!(
            "| nodes | writes/s answered | vs SQLite | writes/s settled | vs SQLite | node CPU/write | database CPU/write |"
        );
        println!("|---|---|---|---|---|---|---|");
        let baseline = measure(&[node(folder.path(), &[])], None);
        print_row("1 node, SQLite (baseline)", &baseline, &baseline);
        let mut one_node = None;
        for count in 1..=3 {
            let run = on_postgres(folder.path(), count, false, false).expect("an unpinned run");
            print_row(&format!("{count} node{}, PostgreSQL", plural(count)), &run, &baseline);
            one_node.get_or_insert(run);
        }
        for count in (1..=3).filter(|count| *count < cores) {
            match on_postgres(folder.path(), count, true, false) {
                Some(run) => {
                    let name = format!("{count} node{}, PostgreSQL, each on its own core", plural(count));
                    print_row(&name, &run, &baseline);
                }
                None => println!("\n(taskset could not pin to cores 0-{count} here: no pinned row)"),
            }
        }
        if cores < 4 {
            println!(
                "\nWith {cores} cores, at most {} node(s) and PostgreSQL can each have a core of their own \
                 (the clients share them); pinned rows for more nodes need more cores.",
                cores.saturating_sub(1)
            );
        }
        let one_node = one_node.expect("a one-node run");
        capacity_model(&one_node, cores);
        statement_profile(&on_postgres(folder.path(), 1, false, true).expect("a profiled run"));
    }
}

fn plural(count: usize) -> &'static str {
    if count > 1 { "s" } else { "" }
}

/// A node serving `plugins` with its own data folder and `extra` arguments.
fn node(plugins: &Path, extra: &[&str]) -> Server {
    let scratch = tempfile::tempdir().expect("temp dir");
    let data = scratch.path().join("data");
    Server::start_on(plugins, &data, extra, scratch)
}

/// `count` nodes on a fresh cluster; `pinned`: PostgreSQL on core 0 and
/// node N on core N, or `None` when those cores cannot be had; `profiled`:
/// the statements inside functions counted too (which costs the database a
/// little, so not in the runs the model uses).
fn on_postgres(plugins: &Path, count: usize, pinned: bool, profiled: bool) -> Option<Run> {
    let Some(cluster) = Cluster::start() else {
        eprintln!("nodes: no PostgreSQL server binaries; run scripts/tools.sh --system first");
        std::process::exit(1);
    };
    let database = cluster.server_pid();
    // Its connections are forked from it later and keep its core.
    if pinned && !std::iter::once(database).chain(children(database)).all(|pid| pin(pid, 0)) {
        return None;
    }
    if profiled {
        cluster.track_nested_statements();
    }
    let url = cluster.url();
    let nodes: Vec<Server> = (0..count).map(|_| node(plugins, &["--database", &url])).collect();
    if pinned && !nodes.iter().enumerate().all(|(core, node)| pin(node.child.id(), core + 1)) {
        return None;
    }
    Some(measure(&nodes, Some(&cluster)))
}

/// Runs the load on `nodes`, counting their CPU and the database's, and what
/// the database ran.
fn measure(nodes: &[Server], cluster: Option<&Cluster>) -> Run {
    let database = cluster.map(Cluster::server_pid);
    let bases: Vec<String> = nodes.iter().map(|node| node.base.clone()).collect();
    for base in &bases {
        let (_, failed) = common::create_entities(base, "warm", WARM_UP, 8);
        assert_eq!(failed, 0, "warm-up writes failed");
    }
    common::wait_for_empty_outbox(&nodes[0]);
    if let Some(cluster) = cluster {
        cluster.statements_since_last_asked();
    }
    let node_cpu = || nodes.iter().map(|node| cpu_ticks(node.child.id(), false)).sum::<u64>();
    let database_cpu =
        || database.map(|pid| cpu_ticks(pid, true) + children(pid).map(|c| cpu_ticks(c, false)).sum::<u64>());
    let (nodes_before, database_before) = (node_cpu(), database_cpu());
    let (share, clients) = (WRITES / bases.len(), CLIENTS / bases.len());
    let started = Instant::now();
    let failed: usize = std::thread::scope(|scope| {
        let runs: Vec<_> = bases
            .iter()
            .map(|base| scope.spawn(move || common::create_entities(base, "load", share, clients).1))
            .collect();
        runs.into_iter().map(|run| run.join().expect("clients")).sum()
    });
    assert_eq!(failed, 0, "writes failed under load");
    let answered = started.elapsed().as_secs_f64();
    common::wait_for_empty_outbox(&nodes[0]);
    let settled = started.elapsed().as_secs_f64();
    let per_write = |ticks: u64| ticks as f64 * 1000.0 / ticks_per_second() / WRITES as f64;
    let (nodes_after, database_after) = (node_cpu(), database_cpu());
    Run {
        answered: WRITES as f64 / answered,
        settled: WRITES as f64 / settled,
        node_ms: per_write(nodes_after - nodes_before),
        database_ms: database_after.zip(database_before).map(|(after, before)| per_write(after - before)),
        statements: cluster.map(Cluster::statements_since_last_asked).unwrap_or_default(),
    }
}

/// Where the database's time per write went, by statement (one more
/// one-node run): the server's time running each, waits for a core
/// included, so shares rather than CPU. The statements run inside
/// `plinth_commit` come after the top-level ones, marked `↳`; their time is
/// also inside its own.
fn statement_profile(one_node: &Run) {
    let per_write = |value: f64| value / WRITES as f64;
    println!(
        "\nThe database's statements per write (another one-node run; wall-clock time in the server, waits \
         included; ↳ marks a statement run inside another, whose time includes it):\n"
    );
    println!("| statement | calls/write | µs/call | µs/write |");
    println!("|---|---|---|---|");
    for statement in one_node.statements.iter().filter(|s| per_write(s.ms) >= 0.001) {
        let query: String = statement.query.chars().take(100).collect();
        println!(
            "| {}`{}` | {:.2} | {:.0} | {:.0} |",
            if statement.toplevel { "" } else { "↳ " },
            query.replace('|', "\\|"),
            per_write(statement.calls as f64),
            statement.ms * 1000.0 / statement.calls.max(1) as f64,
            per_write(statement.ms) * 1000.0
        );
    }
}

fn print_row(name: &str, run: &Run, baseline: &Run) {
    let database = run.database_ms.map_or("-".to_string(), |ms| format!("{ms:.2} ms"));
    println!(
        "| {name} | {:.0} | {:.2}× | {:.0} | {:.2}× | {:.2} ms | {database} |",
        run.answered,
        run.answered / baseline.answered,
        run.settled,
        run.settled / baseline.settled,
        run.node_ms,
    );
}

/// The writes/s N nodes would settle, each on a machine with `cores` cores
/// of its own, against one database on a machine like them: each side
/// serves `cores` CPU-seconds a second, so the slower side bounds it.
fn capacity_model(one_node: &Run, cores: usize) {
    let Some(database_ms) = one_node.database_ms else { return };
    let cores = cores as f64;
    let nodes_can = |n: f64| n * cores * 1000.0 / one_node.node_ms;
    let database_can = cores * 1000.0 / database_ms;
    println!(
        "\nCapacity model (from the one-node PostgreSQL row: {:.2} ms of node CPU and {database_ms:.2} ms of database CPU per write; machines of {cores} cores; \
         optimistic where more nodes cost the database more per write, as the rows above show):\n",
        one_node.node_ms
    );
    println!("| nodes | nodes can settle | the database can settle | predicted writes/s | vs one node |");
    println!("|---|---|---|---|---|");
    let predicted = |n: f64| nodes_can(n).min(database_can);
    for n in [1.0, 2.0, 3.0, 5.0, 10.0] {
        println!(
            "| {n} | {:.0} | {database_can:.0} | {:.0} | {:.2}× |",
            nodes_can(n),
            predicted(n),
            predicted(n) / predicted(1.0)
        );
    }
}

/// The CPU time process `pid` used, in clock ticks (`utime + stime`, and
/// with `reaped` also its waited-for children's: connections that ended).
fn cpu_ticks(pid: u32, reaped: bool) -> u64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { return 0 };
    // The fields after the command name, which is in parentheses and may hold spaces.
    let fields: Vec<u64> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().skip(11).take(4).filter_map(|f| f.parse().ok()).collect())
        .unwrap_or_default();
    let own = fields.iter().take(2).sum::<u64>();
    if reaped { own + fields.iter().skip(2).sum::<u64>() } else { own }
}

/// The processes whose parent is `pid`.
fn children(pid: u32) -> impl Iterator<Item = u32> {
    let entries = std::fs::read_dir("/proc").map(|dir| dir.flatten().collect::<Vec<_>>()).unwrap_or_default();
    entries.into_iter().filter_map(move |entry| {
        let child: u32 = entry.file_name().to_str()?.parse().ok()?;
        let stat = std::fs::read_to_string(entry.path().join("stat")).ok()?;
        let parent: u32 = stat.rsplit_once(')')?.1.split_whitespace().nth(1)?.parse().ok()?;
        (parent == pid).then_some(child)
    })
}

/// Clock ticks a second (`getconf CLK_TCK`, 100 on Linux).
fn ticks_per_second() -> f64 {
    let output = Command::new("getconf").arg("CLK_TCK").output();
    output.ok().and_then(|out| String::from_utf8_lossy(&out.stdout).trim().parse().ok()).unwrap_or(100.0)
}

/// Keeps process `pid` and all its threads on `core`: whether it could.
fn pin(pid: u32, core: usize) -> bool {
    let status =
        Command::new("taskset").args(["-a", "-p", "-c", &core.to_string(), &pid.to_string()]).output();
    status.is_ok_and(|out| out.status.success())
}
