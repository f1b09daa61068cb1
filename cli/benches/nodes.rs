//! Entity writes with hooks, per second: one `plinth serve` on its embedded
//! SQLite (the baseline), then 1, 2 and 3 nodes sharing one PostgreSQL, all
//! measured in this run with the Rust example plugins (two of them export
//! hooks). A load run, not a timed test:
//! `cargo bench -p plinth --bench nodes` (release build; the PostgreSQL
//! binaries come from `scripts/tools.sh --system`).
//!
//! The clients (24 at once in all, spread evenly over the nodes) create
//! 1,200 entities; a write's answer comes after its hooks ran on the node
//! that took it. "Answered" counts writes per second until the last answer;
//! "settled" until the outbox is empty (hooks put back for a busy plugin
//! delivered too).

#[path = "../tests/common/mod.rs"]
mod common;

use common::Server;
use plinth_tests::postgres::Cluster;
use std::time::Instant;

const WRITES: usize = 1200;
const CLIENTS: usize = 24;
/// Writes per node before measuring: compiled caches, pools, first instances.
const WARM_UP: usize = 48;

/// Writes per second until every answer, and until the outbox was empty.
fn measure(nodes: &[Server]) -> (f64, f64) {
    let bases: Vec<String> = nodes.iter().map(|node| node.base.clone()).collect();
    for base in &bases {
        let (_, failed) = common::create_entities(base, "warm", WARM_UP, 8);
        assert_eq!(failed, 0, "warm-up writes failed");
    }
    common::wait_for_empty_outbox(&nodes[0]);
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
    (WRITES as f64 / answered, WRITES as f64 / settled)
}

fn main() {
    let plugins = plinth_tests::rust_examples();
    let node = |extra: &[&str]| {
        let scratch = tempfile::tempdir().expect("temp dir");
        let data = scratch.path().join("data");
        Server::start_on(plugins.path(), &data, extra, scratch)
    };
    let mut rows = vec![("1 node, SQLite (baseline)".to_string(), measure(&[node(&[])]))];
    for count in 1..=3 {
        let Some(cluster) = Cluster::start() else {
            eprintln!("nodes: no PostgreSQL server binaries; run scripts/tools.sh --system first");
            std::process::exit(1);
        };
        let url = cluster.url();
        let nodes: Vec<Server> = (0..count).map(|_| node(&["--database", &url])).collect();
        rows.push((format!("{count} node{}, PostgreSQL", if count > 1 { "s" } else { "" }), measure(&nodes)));
    }
    let baseline = rows[0].1;
    println!("| nodes | writes/s answered | vs SQLite | writes/s settled | vs SQLite |");
    println!("|---|---|---|---|---|");
    for (name, (answered, settled)) in &rows {
        println!(
            "| {name} | {answered:.0} | {:.2}× | {settled:.0} | {:.2}× |",
            answered / baseline.0,
            settled / baseline.1
        );
    }
}
