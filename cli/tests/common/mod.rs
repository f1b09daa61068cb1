//! Runs the real `plinth` binary (wasmtime's CLI-test pattern) and talks to it
//! over HTTP on 127.0.0.1.

#![allow(dead_code, missing_docs)]

pub mod browser;

use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Output, Stdio};

pub const PLINTH: &str = env!("CARGO_BIN_EXE_plinth");

/// Runs `plinth ARGS` to completion.
pub fn plinth(args: &[&str]) -> Output {
    Command::new(PLINTH).args(args).env("RUST_LOG", "warn").output().expect("run plinth")
}

/// A running `plinth serve`, stopped when dropped.
pub struct Server {
    pub child: Child,
    pub base: String,
    pub data_dir: PathBuf,
    pub log_file: PathBuf,
    stdout: BufReader<ChildStdout>,
    _scratch: tempfile::TempDir,
}

impl Server {
    /// Starts `plinth serve --plugins PLUGINS --addr 127.0.0.1:0` with `extra` arguments.
    pub fn start(plugins: &Path, extra: &[&str]) -> Server {
        let scratch = tempfile::tempdir().expect("temp dir");
        Server::start_on(plugins, &scratch.path().join("data"), extra, scratch)
    }

    /// Like [`Server::start`] on a given data directory; returns once the
    /// plugins have loaded (`/healthz` 200).
    pub fn start_on(plugins: &Path, data_dir: &Path, extra: &[&str], scratch: tempfile::TempDir) -> Server {
        let server = Server::listening(plugins, data_dir, extra, scratch);
        server.wait_until_loaded();
        server
    }

    /// Starts the server and returns as soon as it listens (plugins may still be loading).
    pub fn listening(plugins: &Path, data_dir: &Path, extra: &[&str], scratch: tempfile::TempDir) -> Server {
        let mut args = vec!["serve".into(), "--plugins".into(), plugins.as_os_str().to_owned()];
        args.extend(extra.iter().map(std::ffi::OsString::from));
        Server::launch(&args, data_dir, scratch)
    }

    /// `plinth dev DIR` (build, serve, rebuild on change); returns once the
    /// plugins have loaded.
    pub fn dev(dir: &Path) -> Server {
        let scratch = tempfile::tempdir().expect("temp dir");
        let args = ["dev".into(), dir.as_os_str().to_owned()];
        let server = Server::launch(&args, &scratch.path().join("data"), scratch);
        server.wait_until_loaded();
        server
    }

    fn wait_until_loaded(&self) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(300);
        while self.get("/healthz").0 != 200 {
            assert!(
                std::time::Instant::now() < deadline,
                "plugins still loading after 5 minutes: {}",
                self.log()
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }

    /// Runs `plinth ARGS --data-dir DATA --addr 127.0.0.1:0` and reads the address it listens on.
    fn launch(args: &[std::ffi::OsString], data_dir: &Path, scratch: tempfile::TempDir) -> Server {
        let log_file = scratch.path().join(format!("server-{}.log", std::process::id()));
        let log = std::fs::File::create(&log_file).expect("log file");
        let mut child = Command::new(PLINTH)
            .args(args)
            .arg("--data-dir")
            .arg(data_dir)
            .args(["--addr", "127.0.0.1:0"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .expect("spawn plinth serve");
        let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
        let mut line = String::new();
        let base = loop {
            line.clear();
            let read = stdout.read_line(&mut line).expect("read server stdout");
            if read == 0 {
                let _ = child.wait();
                panic!(
                    "plinth serve exited before listening; its log:\n{}",
                    std::fs::read_to_string(&log_file).unwrap_or_default()
                );
            }
            if let Some(address) = line.trim().strip_prefix("plinth listening on ") {
                break address.to_string();
            }
        };
        Server { child, base, data_dir: data_dir.to_path_buf(), log_file, stdout, _scratch: scratch }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Sends a request; returns the status, the headers and the JSON body (Null when not JSON).
    pub fn send(&self, method: &str, path: &str, body: Option<&str>) -> (u16, Vec<(String, String)>, Value) {
        send(&self.url(path), method, body)
    }

    pub fn get(&self, path: &str) -> (u16, Value) {
        let (status, _, body) = self.send("GET", path, None);
        (status, body)
    }

    /// Whether the server answers `path` with `status` within 30 s (it
    /// follows a change made elsewhere: another node, a `plinth` command).
    pub fn answers(&self, path: &str, status: u16) -> bool {
        for _ in 0..300 {
            if self.get(path).0 == status {
                return true;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        false
    }

    /// Uploads a package to `/api/installs`, as the console's "Install Local" does.
    pub fn upload(&self, package: &[u8]) -> (u16, Value) {
        let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
        let mut response = agent
            .post(self.url("/api/installs"))
            .header("content-type", "application/gzip")
            .send(package)
            .expect("upload");
        (response.status().as_u16(), response.body_mut().read_json().unwrap_or(Value::Null))
    }

    /// Sends SIGTERM and waits; returns whether it exited successfully, and what it printed.
    pub fn terminate(&mut self) -> (bool, String) {
        let pid = self.child.id().to_string();
        let status = Command::new("kill").args(["-TERM", &pid]).status().expect("run kill");
        assert!(status.success(), "kill -TERM failed");
        let exit = self.child.wait().expect("wait for plinth");
        let mut rest = String::new();
        let _ = std::io::Read::read_to_string(&mut self.stdout, &mut rest);
        (exit.success(), rest)
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_file).unwrap_or_default()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Creates `count` entities of `entity_type` through `node`, from `clients`
/// threads at once; the ids acknowledged (201) and how many requests failed.
pub fn create_entities(node: &str, entity_type: &str, count: usize, clients: usize) -> (Vec<String>, usize) {
    let next = std::sync::atomic::AtomicUsize::new(0);
    let results: Vec<(Vec<String>, usize)> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..clients)
            .map(|_| {
                scope.spawn(|| {
                    let (mut created, mut failed) = (Vec::new(), 0);
                    loop {
                        let n = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        if n >= count {
                            return (created, failed);
                        }
                        let body =
                            serde_json::json!({ "entity_type": entity_type, "data": { "n": n } }).to_string();
                        match try_send(&format!("{node}/api/entities"), "POST", Some(&body)) {
                            Ok((201, answer)) if answer["entity"]["id"].is_string() => {
                                created.push(answer["entity"]["id"].as_str().unwrap_or_default().to_string())
                            }
                            _ => failed += 1,
                        }
                    }
                })
            })
            .collect();
        workers.into_iter().map(|worker| worker.join().expect("client thread")).collect()
    });
    results.into_iter().fold((Vec::new(), 0), |(mut ids, failed), (more, also)| {
        ids.extend(more);
        (ids, failed + also)
    })
}

/// Waits (bounded) until the hook outbox is empty, as `node` sees it.
pub fn wait_for_empty_outbox(node: &Server) {
    let mut pending = serde_json::json!(null);
    for _ in 0..600 {
        pending = node.get("/api/outbox").1["pending"].clone();
        if pending == 0 {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    panic!("hook deliveries still pending after 2 minutes: {pending}; log:\n{}", node.log());
}

/// One HTTP request with a real client; non-2xx statuses are answers, not errors.
pub fn send(url: &str, method: &str, body: Option<&str>) -> (u16, Vec<(String, String)>, Value) {
    send_with(url, method, body, &[])
}

/// Like [`send`], with extra request headers.
pub fn send_with(
    url: &str,
    method: &str,
    body: Option<&str>,
    headers: &[(&str, &str)],
) -> (u16, Vec<(String, String)>, Value) {
    try_send_with(url, method, body, headers).unwrap_or_else(|e| panic!("{method} {url}: {e}"))
}

/// Like [`send`], with a failed connection (a server being killed) as an
/// error instead of a panic.
pub fn try_send(url: &str, method: &str, body: Option<&str>) -> Result<(u16, Value), String> {
    try_send_with(url, method, body, &[]).map(|(status, _, body)| (status, body))
}

/// A status, the headers and the JSON body (Null when not JSON).
type Answer = (u16, Vec<(String, String)>, Value);

/// One request, given up after 2 minutes so no test waits forever.
fn try_send_with(
    url: &str,
    method: &str,
    body: Option<&str>,
    headers: &[(&str, &str)],
) -> Result<Answer, String> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(std::time::Duration::from_secs(120)))
        .build()
        .into();
    let mut request =
        ureq::http::Request::builder().method(method).uri(url).header("content-type", "application/json");
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let mut response = agent
        .run(request.body(body.unwrap_or("").as_bytes().to_vec()).map_err(|e| e.to_string())?)
        .map_err(|e| e.to_string())?;
    let headers = response
        .headers()
        .iter()
        .map(|(name, value)| (name.to_string(), String::from_utf8_lossy(value.as_bytes()).into_owned()))
        .collect();
    let text = response.body_mut().read_to_string().unwrap_or_default();
    Ok((response.status().as_u16(), headers, serde_json::from_str(&text).unwrap_or(Value::Null)))
}
