//! Example plugin for `plinth:plugin@0.3.0`: a scheduled
//! job (`digest`, every morning at six, UTC) that counts the notes, fetches
//! a one-line summary from the API its `summary_url` setting names (a host
//! its manifest grants), writes the result as a `digest` entity, and tells
//! other plugins with a `digest.written` message. A `digest.requested`
//! message (from another plugin, or the application) makes one at once: a
//! plugin that acts on a schedule and on request, calls out, writes and
//! talks to other plugins.

use plinth_sdk::{Error, Level, Message, Plugin, export, host, outbound};
use serde_json::{Value, json};

struct DailyDigest;

impl Plugin for DailyDigest {
    fn run_job(job_id: &str) -> Result<(), Error> {
        match job_id {
            "digest" => digest(),
            other => Err(Error::NotFound(format!("no job `{other}`"))),
        }
    }

    fn on_message(message: Message) -> Result<(), Error> {
        match message.topic.as_str() {
            "digest.requested" => digest(),
            _ => Ok(()),
        }
    }
}

fn digest() -> Result<(), Error> {
    let notes = host::entity_count("entity_type=note")?;
    let url: String = serde_json::from_str(&host::setting_get("summary_url")?).unwrap_or_default();
    let summary = if url.is_empty() { Value::Null } else { fetch_summary(&url) };
    let written = host::entity_create("digest", &json!({ "notes": notes, "summary": summary }))?;
    host::publish("digest.written", &json!({ "id": written.id(), "notes": notes }))
}

/// The API's `summary`, or null (and a warning) when it could not be had:
/// a digest without a summary is still worth writing.
fn fetch_summary(url: &str) -> Value {
    let answer = match outbound::get(url) {
        Ok(answer) if answer.status == 200 => answer,
        Ok(answer) => return warn(&format!("{url} answered {}", answer.status)),
        Err(error) => return warn(&format!("{url}: {error}")),
    };
    match serde_json::from_slice::<Value>(&answer.body) {
        Ok(body) if body["summary"].is_string() => body["summary"].clone(),
        _ => warn(&format!("{url} answered no `summary`")),
    }
}

fn warn(problem: &str) -> Value {
    let _ = host::log(Level::Warn, &format!("no summary: {problem}"));
    Value::Null
}

export!(DailyDigest: jobs, subscriber);
