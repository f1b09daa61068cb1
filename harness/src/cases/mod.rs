//! The declarative test cases of a plugin (`plinth test DIR`): the JSON files
//! in `DIR/tests/`, each run in a throw-away host with only this plugin loaded
//! (the real host: the same grants, limits and errors). Any language: the
//! cases talk to the built component, not to its sources. The caller opens
//! the hosts, so the same cases run on every engine and build.
//!
//! A case (`docs/testing.md` has the full format):
//!
//! ```json
//! { "name": "hello answers",
//!   "settings": { "greeting": "hi" },
//!   "entities": [ { "id": "n1", "entity_type": "note", "data": { "text": "x" } } ],
//!   "request": { "method": "GET", "path": "/hello" },
//!   "expect": { "status": 200, "body": { "message": "hi" } } }
//! ```
//!
//! The action is one of `request`, `event`, `widget`, `job` (a scheduled
//! job run once, now) and `message` (one the application publishes, which
//! the plugin's `on-message` gets through the outbox).

mod mocks;

use anyhow::Context;
use mocks::{MockedExchange, MockedInterface};
use plinth_host::{CallErrorKind, FieldContext, Host, HostConfig, Method, RouteRequest};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use std::path::{Path, PathBuf};

/// One case, as written in a `tests/*.json` file (a case or a list of cases).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    name: String,
    /// Settings set before the action.
    #[serde(default)]
    settings: Map<String, Value>,
    /// Entities stored before the action, without firing hooks.
    #[serde(default)]
    entities: Vec<SeedEntity>,
    /// The action: exactly one of these.
    #[serde(default)]
    request: Option<RequestAction>,
    #[serde(default)]
    event: Option<EventAction>,
    #[serde(default)]
    widget: Option<WidgetAction>,
    /// A scheduled job (WIT 0.3.0) run once, now: its id in `plugin.json`.
    #[serde(default)]
    job: Option<String>,
    /// A message (WIT 0.3.0) the application publishes on a topic the
    /// plugin subscribes to.
    #[serde(default)]
    message: Option<MessageAction>,
    /// The case's mock server: what the plugin's outbound HTTP requests
    /// (to its granted hosts) are answered with, in place of the network.
    #[serde(default)]
    http: Vec<MockedExchange>,
    /// The application's own functions the plugin imports, mocked: what
    /// each answers.
    #[serde(default)]
    application: Vec<MockedInterface>,
    #[serde(default)]
    expect: Expect,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SeedEntity {
    id: String,
    entity_type: String,
    #[serde(default)]
    data: Value,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RequestAction {
    #[serde(default = "get")]
    method: String,
    path: String,
    #[serde(default)]
    body: Option<Value>,
    #[serde(default)]
    headers: Map<String, Value>,
}

pub(super) fn get() -> String {
    "GET".into()
}

/// A message for the plugin's `on-message`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MessageAction {
    topic: String,
    #[serde(default)]
    payload: Value,
}

/// A message the plugin published in the action: its topic, and what its
/// payload contains (objects: these keys, recursively).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PublishedMessage {
    topic: String,
    #[serde(default)]
    payload: Value,
}

/// An entity write that fires the plugin's hook.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
enum EventAction {
    Created {
        entity_type: String,
        data: Value,
        /// The new entity's id (generated when absent).
        #[serde(default)]
        id: Option<String>,
    },
    Updated {
        id: String,
        data: Value,
    },
    Deleted {
        id: String,
    },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WidgetAction {
    /// The widget's id within the plugin.
    id: String,
    /// `render` or `validate`.
    call: String,
    #[serde(default)]
    value: Value,
    #[serde(default = "field")]
    field: String,
}

fn field() -> String {
    "field".into()
}

/// What must hold afterwards; every part is optional.
#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Expect {
    /// The route's status.
    status: Option<u16>,
    /// The route's JSON body contains this (objects: these keys, recursively).
    body: Option<Value>,
    /// The route's body, or a render's HTML, contains this text.
    contains: Option<String>,
    /// A validate's messages, exactly.
    problems: Option<Vec<String>>,
    /// The call fails with this error code (`trap`, `timeout`, `plugin_not_found`, …).
    error: Option<String>,
    /// The hook's error contains this text (`null`: the hook succeeded).
    hook_error: Option<Option<String>>,
    /// The plugin's storage holds these JSON values (`null`: the key is absent).
    storage: Option<Map<String, Value>>,
    /// By entity type: exactly this many entities of it after the action,
    /// oldest first, each one's data containing the one listed (a plugin's
    /// own entity writes, WIT 0.3.0, included).
    entities: Option<std::collections::BTreeMap<String, Vec<Value>>>,
    /// The plugin's log has a record containing each of these.
    log: Option<Vec<String>>,
    /// The plugin sent each of these requests (`"GET https://…"`) to the
    /// case's mock server.
    sent: Option<Vec<String>>,
    /// The plugin published exactly these messages, in order (WIT 0.3.0).
    published: Option<Vec<PublishedMessage>>,
    /// The plugin called each of these of the application's functions
    /// (`application`), with these arguments when given.
    called: Option<Vec<ExpectedCall>>,
}

/// A call of one of the application's functions the plugin made.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ExpectedCall {
    /// `interface#function` (`acme:desktop/notify@1.0.0#show`).
    function: String,
    /// Its arguments, in order (as JSON); any when absent.
    #[serde(default)]
    arguments: Option<Vec<Value>>,
}

impl Expect {
    /// Refuses expectations that the case's action cannot meet, so that no
    /// part of a case is silently ignored.
    fn applies_to(&self, case: &Case) -> anyhow::Result<()> {
        let actions = (&case.request, &case.event, &case.widget, &case.job, &case.message);
        let (action, allowed): (&str, &[&str]) = match actions {
            (Some(_), None, None, None, None) => ("request", &["status", "body", "contains", "error"]),
            (None, Some(_), None, None, None) => ("event", &["hook_error"]),
            (None, None, Some(widget), None, None) if widget.call == "render" => {
                ("render", &["contains", "error"])
            }
            (None, None, Some(_), None, None) => ("validate", &["problems", "error"]),
            (None, None, None, Some(_), None) => ("job", &["error", "contains"]),
            (None, None, None, None, Some(_)) => ("message", &["hook_error"]),
            _ => anyhow::bail!(
                "a case has exactly one action: `request`, `event`, `widget`, `job` or `message`"
            ),
        };
        let set = [
            ("status", self.status.is_some()),
            ("body", self.body.is_some()),
            ("contains", self.contains.is_some()),
            ("problems", self.problems.is_some()),
            ("error", self.error.is_some()),
            ("hook_error", self.hook_error.is_some()),
        ];
        if action == "job" && self.contains.is_some() && self.error.is_none() {
            anyhow::bail!("`expect.contains` applies to a job's error only: give `expect.error` too");
        }
        match set.iter().find(|(key, present)| *present && !allowed.contains(key)) {
            Some((key, _)) => {
                anyhow::bail!("`expect.{key}` does not apply to a {action}; it takes {}", allowed.join(", "))
            }
            None => Ok(()),
        }
    }
}

/// Opens a throw-away host from the case's configuration (its data
/// directory and the application functions it mocks), after the caller's
/// own changes (its engine, its compile cache).
pub type OpenHost<'a> = &'a dyn Fn(HostConfig) -> anyhow::Result<Host>;

/// Runs every case of the plugin in `dir`, each in a host `open_host` makes,
/// printing a line per case and a closing `N passed, N failed`; false if any failed.
pub fn run(dir: &Path, open_host: OpenHost<'_>) -> anyhow::Result<bool> {
    let cases = read_cases(&dir.join("tests"))?;
    if cases.is_empty() {
        anyhow::bail!("{} has no test cases: add JSON files to its tests/ folder", dir.display());
    }
    let (mut passed, mut failed) = (0, 0);
    for (file, case) in &cases {
        match run_case(dir, case, open_host) {
            Ok(()) => {
                passed += 1;
                println!("ok    {}", case.name);
            }
            Err(problem) => {
                failed += 1;
                println!("FAIL  {} ({}): {problem:#}", case.name, file.display());
            }
        }
    }
    println!("{passed} passed, {failed} failed");
    Ok(failed == 0)
}

fn read_cases(folder: &Path) -> anyhow::Result<Vec<(PathBuf, Case)>> {
    let mut files: Vec<PathBuf> = match std::fs::read_dir(folder) {
        Ok(entries) => entries.filter_map(|e| e.ok().map(|e| e.path())).collect(),
        Err(_) => Vec::new(),
    };
    files.retain(|path| path.extension().is_some_and(|e| e == "json"));
    files.sort();
    let mut cases = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).with_context(|| format!("reading {}", file.display()))?;
        let value: Value =
            serde_json::from_str(&text).with_context(|| format!("{} is not JSON", file.display()))?;
        let list = if value.is_array() { value } else { json!([value]) };
        let parsed: Vec<Case> = serde_json::from_value(list)
            .with_context(|| format!("{}: not a test case (see docs/testing.md)", file.display()))?;
        cases.extend(parsed.into_iter().map(|case| (file.clone(), case)));
    }
    Ok(cases)
}

fn run_case(dir: &Path, case: &Case, open_host: OpenHost<'_>) -> anyhow::Result<()> {
    let scratch = tempfile::tempdir()?;
    let mut config = HostConfig::new(scratch.path());
    let (interfaces, called) = mocks::application(&case.application);
    config.embedder_interfaces = interfaces;
    let host = open_host(config)?;
    let id = host.load_plugin(dir)?.id;
    exercise(&host, &id, case, &called).map_err(|problem| {
        // What the plugin itself said (a traceback, a panic message) is for its author.
        let said: Vec<String> = host
            .plugin_log(&id)
            .into_iter()
            .filter(|record| record.level >= plinth_host::LogLevel::Warn)
            .map(|record| format!("\n      {id}: {}", record.message))
            .collect();
        anyhow::anyhow!("{problem:#}{}", said.concat())
    })
}

/// Checks a hook's (or `on-message`'s) outcome against `expect.hook_error`.
fn check_hook_error(expect: &Expect, error: &Option<String>) -> anyhow::Result<()> {
    match (&expect.hook_error, error) {
        (Some(None), Some(error)) | (None, Some(error)) => anyhow::bail!("the hook failed: {error}"),
        (Some(Some(wanted)), None) => anyhow::bail!("the hook succeeded; expected an error with `{wanted}`"),
        (Some(Some(wanted)), Some(error)) if !error.contains(wanted.as_str()) => {
            anyhow::bail!("the hook's error `{error}` does not contain `{wanted}`")
        }
        _ => Ok(()),
    }
}

/// Publishes the case's message as the application and delivers it from
/// the outbox, as the delivery loop would: how the plugin's `on-message`
/// went (its error, if any).
fn deliver_message(host: &Host, id: &str, message: &MessageAction) -> anyhow::Result<Option<String>> {
    let payload = if message.payload.is_null() { json!({}) } else { message.payload.clone() };
    host.publish_message(&message.topic, &payload)?;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    while runtime.block_on(host.deliver_due())? > 0 {}
    let history = host.hook_history()?;
    let ran = history.into_iter().rev().find(|hook| {
        hook.plugin_id == id
            && hook.event == plinth_host::HookEvent::Message
            && hook.entity_id == message.topic
    });
    let ran = ran.ok_or_else(|| {
        anyhow::anyhow!(
            "no on-message ran: the plugin does not list `{}` in capabilities.subscribes, or does not export `subscriber`",
            message.topic
        )
    })?;
    Ok(ran.error)
}

/// The case's seeds, action and checks, on a host with the plugin loaded.
fn exercise(host: &Host, id: &str, case: &Case, called: &mocks::Called) -> anyhow::Result<()> {
    if !case.settings.is_empty() {
        host.set_settings(id, case.settings.clone())?;
    }
    for seed in &case.entities {
        let data = if seed.data.is_null() { json!({}) } else { seed.data.clone() };
        host.import_entity(Some(&seed.id), &seed.entity_type, data)?;
    }
    let expect = &case.expect;
    expect.applies_to(case)?;
    let sent = match case.http.is_empty() && expect.sent.is_none() {
        true => mocks::Sent::default(),
        false => mocks::mock_server(host, &case.http)?,
    };
    let mut published = host.subscribe_messages();
    if let Some(request) = &case.request {
        check_route(host, id, request, expect)?;
    }
    if let Some(event) = &case.event {
        let write = match event {
            EventAction::Created { entity_type, data, id: Some(new_id) } => {
                host.create_entity_with_id(new_id, entity_type, data.clone())?
            }
            EventAction::Created { entity_type, data, id: None } => {
                host.create_entity(entity_type, data.clone())?
            }
            EventAction::Updated { id, data } => host.update_entity(id, data.clone())?,
            EventAction::Deleted { id } => host.delete_entity(id)?,
        };
        let hook = write.hooks.iter().find(|hook| hook.plugin_id == id);
        let hook = hook.ok_or_else(|| anyhow::anyhow!("no hook ran: the plugin does not export `events`"))?;
        check_hook_error(expect, &hook.error)?;
    }
    if let Some(message) = &case.message {
        check_hook_error(expect, &deliver_message(host, id, message)?)?;
    }
    if let Some(widget) = &case.widget {
        check_widget(host, id, widget, expect)?;
    }
    if let Some(job) = &case.job {
        answer_or_expected_error(host.run_job(id, job), expect, &format!("job `{job}`"))?;
    }
    for (entity_type, wanted) in expect.entities.iter().flatten() {
        let query = plinth_host::EntityQuery { entity_type: Some(entity_type.clone()), ..Default::default() };
        let stored: Vec<Value> = host.entities(&query)?.into_iter().map(|entity| entity.data).collect();
        anyhow::ensure!(
            stored.len() == wanted.len()
                && stored.iter().zip(wanted).all(|(data, wanted)| contains(data, wanted)),
            "the `{entity_type}` entities are {stored:?}, expected {} containing {wanted:?}",
            wanted.len()
        );
    }
    for (key, wanted) in expect.storage.iter().flatten() {
        let stored = host.storage_get(id, key)?;
        let stored: Value = match stored {
            None => Value::Null,
            Some(bytes) => serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned())),
        };
        anyhow::ensure!(&stored == wanted, "storage `{key}` holds {stored}, expected {wanted}");
    }
    for wanted in expect.sent.iter().flatten() {
        let sent = sent.lock().map_err(|_| anyhow::anyhow!("the mock server failed"))?;
        anyhow::ensure!(sent.contains(wanted), "the plugin did not send `{wanted}`; it sent {sent:?}");
    }
    let called = called.lock().map_err(|_| anyhow::anyhow!("the application mock failed"))?;
    for wanted in expect.called.iter().flatten() {
        let found = called.iter().any(|(function, arguments)| {
            *function == wanted.function && wanted.arguments.as_ref().is_none_or(|wanted| wanted == arguments)
        });
        anyhow::ensure!(found, "the plugin did not call `{}` so; it called {called:?}", wanted.function);
    }
    if let Some(wanted) = &expect.published {
        let mut own = Vec::new();
        while let Ok(message) = published.try_recv() {
            if message.publisher == id {
                let payload: Value = serde_json::from_str(&message.payload).unwrap_or(Value::Null);
                own.push((message.topic, payload));
            }
        }
        anyhow::ensure!(
            own.len() == wanted.len()
                && own.iter().zip(wanted).all(|((topic, payload), wanted)| {
                    *topic == wanted.topic && (wanted.payload.is_null() || contains(payload, &wanted.payload))
                }),
            "the plugin published {own:?}; expected {} messages, on {:?}",
            wanted.len(),
            wanted.iter().map(|w| w.topic.as_str()).collect::<Vec<_>>()
        );
    }
    let log: Vec<String> = host.plugin_log(id).into_iter().map(|record| record.message).collect();
    for wanted in expect.log.iter().flatten() {
        anyhow::ensure!(
            log.iter().any(|message| message.contains(wanted.as_str())),
            "no log record contains `{wanted}`; the log: {log:?}"
        );
    }
    Ok(())
}

fn check_route(host: &Host, id: &str, request: &RequestAction, expect: &Expect) -> anyhow::Result<()> {
    let method =
        Method::parse(&request.method).with_context(|| format!("`{}` is not a method", request.method))?;
    let mut call = RouteRequest::new(method, &request.path);
    if let Some(body) = &request.body {
        call = call.with_json(body);
    }
    for (name, value) in &request.headers {
        call = call.with_header(name, value.as_str().unwrap_or_default());
    }
    let result = host.call_route(id, call);
    // A plugin's own typed error is an HTTP status too (invalid-input 400,
    // not-found 404, …); a trap or a missing route is not what `status` means.
    if let Err(error) = &result
        && expect.error.is_none()
        && matches!(error.kind, CallErrorKind::Guest(_))
        && expect.status == Some(error.http_status())
    {
        return check_error_text(error, expect);
    }
    let Some(response) = answer_or_expected_error(result, expect, "the route call")? else { return Ok(()) };
    let text = String::from_utf8_lossy(&response.body).into_owned();
    if let Some(status) = expect.status {
        anyhow::ensure!(
            response.status == status,
            "status {}, expected {status}; body: {text}",
            response.status
        );
    }
    if let Some(wanted) = &expect.body {
        let body: Value =
            serde_json::from_str(&text).with_context(|| format!("the body is not JSON: {text}"))?;
        anyhow::ensure!(contains(&body, wanted), "the body {body} does not contain {wanted}");
    }
    if let Some(wanted) = &expect.contains {
        anyhow::ensure!(text.contains(wanted.as_str()), "the body does not contain `{wanted}`: {text}");
    }
    Ok(())
}

fn check_widget(host: &Host, id: &str, widget: &WidgetAction, expect: &Expect) -> anyhow::Result<()> {
    let widget_id = format!("plugin:{id}:{}", widget.id);
    match widget.call.as_str() {
        "render" => {
            let context = FieldContext {
                entity: None,
                field_name: widget.field.clone(),
                value: widget.value.clone(),
                settings: Value::Null,
            };
            let result = host.render_widget(&widget_id, &context);
            if let (Some(html), Some(wanted)) =
                (answer_or_expected_error(result, expect, "render")?, &expect.contains)
            {
                anyhow::ensure!(
                    html.contains(wanted.as_str()),
                    "the render does not contain `{wanted}`: {html}"
                );
            }
        }
        "validate" => {
            let result = host.validate_widget(&widget_id, &widget.value);
            if let (Some(problems), Some(wanted)) =
                (answer_or_expected_error(result, expect, "validate")?, &expect.problems)
            {
                anyhow::ensure!(&problems == wanted, "validate gave {problems:?}, expected {wanted:?}");
            }
        }
        other => anyhow::bail!("widget `call` is `render` or `validate`, not `{other}`"),
    }
    Ok(())
}

/// A call's answer to check (`Some`), or its error when `expect.error` names
/// it (`None`, after checking `body` and `contains` against the error); any
/// other outcome fails the case.
fn answer_or_expected_error<T>(
    result: Result<T, plinth_host::CallError>,
    expect: &Expect,
    call: &str,
) -> anyhow::Result<Option<T>> {
    match (result, &expect.error) {
        (Ok(answer), None) => Ok(Some(answer)),
        (Ok(_), Some(wanted)) => anyhow::bail!("{call} answered; expected the error `{wanted}`"),
        (Err(error), Some(wanted)) if error.code() == wanted => {
            check_error_text(&error, expect).map(|()| None)
        }
        (Err(error), _) => {
            anyhow::bail!("{call} failed: {error} (code `{}`, HTTP {})", error.code(), error.http_status())
        }
    }
}

/// `body` and `contains` against an error answer: the JSON the server sends.
fn check_error_text(error: &plinth_host::CallError, expect: &Expect) -> anyhow::Result<()> {
    let body =
        json!({ "error": { "code": error.code(), "message": error.to_string(), "plugin": error.plugin() } });
    if let Some(wanted) = &expect.body {
        anyhow::ensure!(contains(&body, wanted), "the error body {body} does not contain {wanted}");
    }
    if let Some(wanted) = &expect.contains {
        anyhow::ensure!(
            body.to_string().contains(wanted.as_str()),
            "the error {body} does not contain `{wanted}`"
        );
    }
    Ok(())
}

/// Whether `value` contains `wanted`: equal, or for objects every key of
/// `wanted` present with a value that contains its value.
fn contains(value: &Value, wanted: &Value) -> bool {
    match (value, wanted) {
        (Value::Object(have), Value::Object(want)) => {
            want.iter().all(|(key, inner)| have.get(key).is_some_and(|found| contains(found, inner)))
        }
        _ => value == wanted,
    }
}
