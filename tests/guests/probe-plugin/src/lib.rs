//! Test guest for the integration tests. Each route makes one host call and
//! answers with its outcome as JSON, so a test can see exactly what the guest
//! saw, including typed errors: `{"ok": …}` or `{"error": {"kind", "message"}}`.

use plinth_sdk::{Entity, Error, Level, Plugin, Request, Response, Router, Widget, export, host};
use serde_json::{Value, json};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

struct Probe;

impl Plugin for Probe {
    /// Stores `seen/{id}`; fails when the entity's data has `"fail": true`.
    fn on_entity_created(entity: Entity) -> Result<(), Error> {
        if let Some(ms) = entity.field("sleep_ms").and_then(|v| v.as_u64()) {
            std::thread::sleep(std::time::Duration::from_millis(ms));
        }
        if entity.field("fail") == Some(Value::Bool(true)) {
            return Err(Error::InvalidInput(format!("refusing entity {}", entity.id())));
        }
        host::storage_set(&format!("seen/{}", entity.id()), entity.entity_type())
    }

    fn on_entity_deleted(_entity_type: String, entity_id: String) -> Result<(), Error> {
        host::storage_set(&format!("deleted/{entity_id}"), "yes")
    }

    fn router() -> Router {
        // A misbehaving initialisation, on request: `init` setting = "loop".
        let init = host::setting::<String>("init");
        if init.as_ref().ok().and_then(|value| value.as_deref()) == Some("loop") {
            spin_forever();
        }
        // Many routes, on request: `routes` setting = N adds `/r/0` … `/r/{N-1}`.
        // (Only asked when settings are granted: a denial would count in the health.)
        let extra: u64 = if init.is_ok() { host::setting("routes").ok().flatten().unwrap_or(0) } else { 0 };
        let mut router = Router::new();
        for i in 0..extra {
            router = router.get(&format!("/r/{i}"), echo_path);
        }
        router
            .get("/storage/{key}", storage_get)
            .put("/storage/{key}", storage_set)
            .delete("/storage/{key}", storage_delete)
            .get("/keys", storage_keys)
            .get("/entity/{id}", entity_read)
            .get("/entities", entity_list)
            .get("/setting/{name}", setting_get)
            .post("/log", log)
            .post("/echo/{name}", echo)
            .get("/trap", trap)
            .get("/loop", spin)
            .get("/print", print)
            .get("/grow", grow)
            .get("/recurse", recurse)
            .get("/huge", huge)
            .get("/log-flood", log_flood)
            .post("/quota-bomb", quota_bomb)
            .post("/partial-trap", partial_trap)
            .post("/partial-error", partial_error)
            .post("/big-value", big_value)
            .post("/big-key", big_key)
            .get("/leftovers", leftovers)
            .post("/counter/{key}", counter)
            .post("/increment/{key}", increment)
            .post("/claim/{key}", claim)
            .get("/status/{code}", status)
            .get("/headers", headers)
            .get("/error", big_error)
            .get("/forge-log", forge_log)
            .get("/print-line", print_line)
            .get("/sleep", sleep)
            .get("/page", page)
            .get("/credentials", credentials)
            .get("/redirect", redirect)
            .get("/dirty", dirty)
    }

    fn widgets() -> Vec<Widget> {
        vec![Widget { id: "shout".into(), label: "Shout".into(), field_types: vec!["text".into()] }]
    }

    /// A field named `huge` renders 100 MiB.
    fn render_widget(_widget_id: &str, context: plinth_sdk::FieldContext) -> Result<String, Error> {
        if context.field_name == "sleep" {
            std::thread::sleep(std::time::Duration::from_secs(3600));
        }
        if context.field_name == "huge" {
            return Ok("x".repeat(100 << 20));
        }
        Ok(format!("<b>{}={}</b>", context.field_name, context.value.to_uppercase()))
    }

    /// A number N as the value gives N messages of 10 KiB each; the text
    /// "sleep" never answers; anything else is `not-found`, as the SDK's
    /// default answers.
    fn validate_widget(widget_id: &str, value: &str) -> Result<Vec<String>, Error> {
        if value == "\"sleep\"" {
            std::thread::sleep(std::time::Duration::from_secs(3600));
        }
        let Ok(count) = value.parse::<usize>() else {
            return Err(Error::NotFound(format!("widget {widget_id} validates numbers only")));
        };
        Ok((0..count).map(|i| format!("{i}:{}", "m".repeat(10 << 10))).collect())
    }
}

/// The WIT case name and message of an error.
fn kind(error: &Error) -> (&'static str, &str) {
    match error {
        Error::NotFound(m) => ("not-found", m),
        Error::Denied(m) => ("denied", m),
        Error::InvalidInput(m) => ("invalid-input", m),
        Error::QuotaExceeded(m) => ("quota-exceeded", m),
        Error::Internal(m) => ("internal", m),
    }
}

fn outcome<T: serde::Serialize>(result: Result<T, Error>) -> Response {
    match result {
        Ok(value) => Response::json(200, &json!({ "ok": value })),
        Err(error) => {
            let (kind, message) = kind(&error);
            Response::json(200, &json!({ "error": { "kind": kind, "message": message } }))
        }
    }
}

fn storage_get(request: Request) -> Response {
    outcome(host::storage_get_str(request.param("key")))
}

fn storage_set(request: Request) -> Response {
    outcome(host::storage_set(request.param("key"), request.body()))
}

fn storage_delete(request: Request) -> Response {
    outcome(host::storage_delete(request.param("key")))
}

fn storage_keys(request: Request) -> Response {
    outcome(host::storage_list(request.query("prefix").unwrap_or("")))
}

fn entity_read(request: Request) -> Response {
    outcome(
        host::entity_read(request.param("id"))
            .map(|e| json!({ "id": e.id, "type": e.entity_type, "data": e.data })),
    )
}

/// Passes `?q=` through as the string form of an entity query.
fn entity_list(request: Request) -> Response {
    let query = request.query("q").unwrap_or("");
    outcome(host::entity_list(query).map(|list| list.into_iter().map(|e| e.id).collect::<Vec<_>>()))
}

fn setting_get(request: Request) -> Response {
    outcome(host::setting_get(request.param("name")))
}

fn log(request: Request) -> Response {
    outcome(host::log(Level::Info, &String::from_utf8_lossy(request.body())))
}

/// Answers 201 with everything it received, and a header of its own.
fn echo(request: Request) -> Result<Response, Error> {
    let body: Value = request.json()?;
    Ok(Response::json(
        201,
        &json!({
            "name": request.param("name"),
            "path": request.path(),
            "tag": request.query("tag"),
            "header": request.header("X-Probe"),
            "body": body,
        }),
    )
    .header("x-probe-reply", "yes"))
}

fn trap(_request: Request) -> Response {
    panic!("the probe was asked to trap")
}

fn spin(_request: Request) -> Response {
    spin_forever()
}

fn spin_forever() -> ! {
    let mut n: u64 = 0;
    loop {
        n = std::hint::black_box(n.wrapping_add(1));
    }
}

/// Allocates until memory runs out.
fn grow(_request: Request) -> Response {
    let mut hoard: Vec<Vec<u8>> = Vec::new();
    loop {
        hoard.push(vec![1; 1 << 20]);
        std::hint::black_box(&hoard);
    }
}

fn depth(n: u64) -> u64 {
    if n == 0 { 0 } else { std::hint::black_box(depth(std::hint::black_box(n - 1))) + 1 }
}

/// Recurses far deeper than any stack allows.
fn recurse(_request: Request) -> Response {
    Response::json(200, &depth(std::hint::black_box(u64::MAX)))
}

/// A 20 MiB response.
fn huge(_request: Request) -> Response {
    Response::new(200).body(vec![b'x'; 20 << 20])
}

fn log_flood(_request: Request) -> Response {
    for i in 0..10_000 {
        let _ = host::log(Level::Info, &format!("flood {i}"));
    }
    Response::text(200, "flooded")
}

/// Stores keys until the quota says no; answers how many fit and the error.
fn quota_bomb(_request: Request) -> Response {
    let mut stored = 0u32;
    let error = loop {
        match host::storage_set(&format!("bomb/{stored:08}"), [7u8; 100]) {
            Ok(()) => stored += 1,
            Err(error) => break error,
        }
        if stored == 1_000_000 {
            return Response::json(200, &json!({ "stored": stored, "error": null }));
        }
    };
    Response::json(200, &json!({ "stored": stored, "error": kind(&error).0 }))
}

/// Writes three keys, then traps.
fn partial_trap(_request: Request) -> Response {
    for key in ["partial/a", "partial/b", "partial/c"] {
        let _ = host::storage_set(key, "written");
    }
    panic!("trapping after partial writes")
}

/// Writes three keys, then returns an error.
fn partial_error(_request: Request) -> Result<Response, Error> {
    for key in ["partial/a", "partial/b", "partial/c"] {
        host::storage_set(key, "written")?;
    }
    Err(Error::Internal("failing after partial writes".into()))
}

/// Stores a value of `?size=` bytes.
fn big_value(request: Request) -> Response {
    let size: usize = request.query("size").and_then(|s| s.parse().ok()).unwrap_or(0);
    outcome(host::storage_set("big", vec![0u8; size]))
}

/// Uses a key of `?size=` bytes.
fn big_key(request: Request) -> Response {
    let size: usize = request.query("size").and_then(|s| s.parse().ok()).unwrap_or(0);
    outcome(host::storage_set(&"k".repeat(size), "v"))
}

/// Calls made by this instance so far, a 2 MiB buffer (more than the pooling
/// allocator keeps resident per slot) and a page that starts non-zero (so it
/// comes from the memory image, not zeroed memory); every call dirties all three.
static CALLS: AtomicU64 = AtomicU64::new(0);
static SCRATCH: Mutex<[u8; 2 << 20]> = Mutex::new([0; 2 << 20]);
static INITIALISED: Mutex<[u8; 4096]> = Mutex::new([0x5A; 4096]);

/// What earlier calls left in this instance's memory: a fresh instance sees
/// no earlier call, an all-zero buffer and its initial page as built.
fn leftovers(_request: Request) -> Response {
    let previous_calls = CALLS.fetch_add(1, Ordering::SeqCst);
    let mut scratch = SCRATCH.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let dirty_bytes = scratch.iter().filter(|&&byte| byte != 0).count();
    scratch.fill(0xAB);
    std::hint::black_box(&mut *scratch);
    let mut initialised = INITIALISED.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let changed_initial_bytes = initialised.iter().filter(|&&byte| byte != 0x5A).count();
    initialised.fill(0);
    std::hint::black_box(&mut *initialised);
    Response::json(
        200,
        &json!({
            "previous_calls": previous_calls,
            "dirty_bytes": dirty_bytes,
            "changed_initial_bytes": changed_initial_bytes,
        }),
    )
}

/// Spins for `?spin_ms=` milliseconds (a window for other calls to commit).
fn spin_for(request: &Request) {
    let ms: u64 = request.query("spin_ms").and_then(|s| s.parse().ok()).unwrap_or(0);
    let start = std::time::Instant::now();
    while start.elapsed() < std::time::Duration::from_millis(ms) {
        std::hint::spin_loop();
    }
}

/// Adds one to the counter under `key` (read, spin, write) and logs the new value.
fn counter(request: Request) -> Result<Response, Error> {
    let key = request.param("key").to_string();
    let count: u64 = host::storage_get_json(&key)?.unwrap_or(0);
    spin_for(&request);
    host::storage_set_json(&key, &(count + 1))?;
    host::log(Level::Info, &format!("counted {key} to {}", count + 1))?;
    Ok(Response::json(200, &json!({ "count": count + 1 })))
}

/// Adds `?by=` (default 1) to the counter `key` with the 0.2.0 `increment`.
fn increment(request: Request) -> Response {
    let by = request.query("by").and_then(|s| s.parse().ok()).unwrap_or(1);
    let result = host::storage_increment(request.param("key"), by);
    spin_for(&request);
    outcome(result)
}

/// Stores `key` (one new key against the quota), then spins before returning.
fn claim(request: Request) -> Response {
    let result = host::storage_set(request.param("key"), "claimed");
    spin_for(&request);
    outcome(result)
}

/// `?n=` number from the query (0 when missing).
fn query_number(request: &Request, name: &str) -> usize {
    request.query(name).and_then(|s| s.parse().ok()).unwrap_or(0)
}

/// Sleeps through WASI for `?ms=` milliseconds, then answers.
fn sleep(request: Request) -> Response {
    std::thread::sleep(std::time::Duration::from_millis(query_number(&request, "ms") as u64));
    Response::text(200, "woke up")
}

fn echo_path(request: Request) -> Response {
    Response::text(200, request.path())
}

/// Answers with the status in the path, whatever it is.
/// `code` as the status, with a body even where HTTP allows none (204, 304):
/// the server must drop it.
fn status(request: Request) -> Response {
    Response::text(request.param("code").parse().unwrap_or(0), "body")
}

/// `?count=` distinct headers, each with a value of `?bytes=` bytes.
fn headers(request: Request) -> Response {
    let value = "v".repeat(query_number(&request, "bytes"));
    let mut response = Response::text(200, "headers");
    for i in 0..query_number(&request, "count") {
        response = response.header(&format!("x-h{i}"), &value);
    }
    response
}

/// A plugin error whose message is `?bytes=` bytes, with a newline inside.
fn big_error(request: Request) -> Result<Response, Error> {
    Err(Error::InvalidInput(format!(
        "first line\nforged line {}",
        "e".repeat(query_number(&request, "bytes"))
    )))
}

/// A log message with a newline that tries to start a forged server log line.
fn forge_log(_request: Request) -> Result<Response, Error> {
    host::log(Level::Info, "honest\n2026-01-01T00:00:00Z ERROR plinth: forged line")?;
    Ok(Response::text(200, "logged"))
}

/// Prints one line of `?bytes=` bytes to stdout.
fn print_line(request: Request) -> Response {
    println!("{}", "p".repeat(query_number(&request, "bytes")));
    Response::text(200, "printed")
}

fn print(_request: Request) -> Response {
    println!("hello from stdout");
    eprintln!("hello from stderr");
    Response::text(200, "printed")
}

export!(Probe);

/// An HTML page whose script tries to read the console's cookies (its title
/// says what it got), then to send requests (`no-cors`, which only a policy
/// stops) to the API, another host and its own routes (`#report` says what
/// happened); a browser that runs no script
/// shows `#noscript`. The answer also tries to set a cookie and clear the
/// site's data.
fn page(_request: Request) -> Response {
    Response::html(
        200,
        "<!doctype html><title>page</title>\
         <noscript><p id=\"noscript\">scripts are off</p></noscript><pre id=\"report\"></pre><script>\
         try { document.title = 'cookie:' + document.cookie; } \
         catch (e) { document.title = 'blocked:' + e.name; }\
         function tryFetch(url) { return fetch(url, { mode: 'no-cors' }).then(function () { return 'sent'; }, \
           function (e) { return 'blocked'; }); }\
         var elsewhere = 'http://localhost:' + location.port + '/healthz';\
         Promise.all([tryFetch('/api/entities'), tryFetch(elsewhere), tryFetch('status/203')])\
           .then(function (r) { document.getElementById('report').textContent = \
             JSON.stringify({ api: r[0], other_host: r[1], own_route: r[2] }); });\
         </script>",
    )
    .header("set-cookie", "plugin=planted; Path=/")
    .header("clear-site-data", "\"*\"")
}

/// An answer with everything HTTP keeps for the server: hop-by-hop headers,
/// a second `Content-Type`, framing of its own.
fn dirty(_request: Request) -> Response {
    Response::text(200, "dirty")
        .header("content-type", "text/html")
        .header("connection", "x-secret, close")
        .header("x-secret", "1")
        .header("keep-alive", "timeout=5")
        .header("upgrade", "websocket")
        .header("te", "trailers")
        .header("trailer", "x-late")
        .header("proxy-authenticate", "Basic realm=\"plugin\"")
        .header("transfer-encoding", "chunked")
        .header("x-kept", "yes")
}

/// The credentials the plugin was sent, if any.
fn credentials(request: Request) -> Response {
    Response::json(
        200,
        &json!({
            "cookie": request.header("cookie"),
            "authorization": request.header("authorization"),
            "x_probe": request.header("x-probe"),
        }),
    )
}

/// A 307 to `?to=`: a route may redirect, but a frame's `invoke` must not follow.
fn redirect(request: Request) -> Response {
    Response::new(307).header("location", request.query("to").unwrap_or("/"))
}
