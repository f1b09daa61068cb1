//! `/api/entities` and `/api/events`: entity reads and writes (writes fire the
//! plugins' hooks; the response reports the write and every hook's outcome).

use super::AppStateExtractor;
use super::api::{ApiError, blocking, detached, parse_json, read_body};
use axum::Json;
use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use plinth_host::EntityQuery;
use serde::Deserialize;
use serde_json::{Value, json};

/// `entity_type`, `limit` and `offset` are the query's own keys; any other key
/// filters a data field.
fn query_from(raw: Option<&str>) -> Result<EntityQuery, ApiError> {
    let mut query = EntityQuery::default();
    for (key, value) in form_urlencoded::parse(raw.unwrap_or("").as_bytes()) {
        let number = |v: &str| {
            v.parse::<u32>().map_err(|_| ApiError::bad_request(format!("`{key}` must be a whole number")))
        };
        match key.as_ref() {
            "entity_type" => query.entity_type = Some(value.into_owned()),
            "limit" => query.limit = Some(number(&value)?),
            "offset" => query.offset = number(&value)?,
            field => query = query.where_field(field, &value),
        }
    }
    Ok(query)
}

pub async fn list(State(state): AppStateExtractor, RawQuery(raw): RawQuery) -> Result<Json<Value>, ApiError> {
    let query = query_from(raw.as_deref())?;
    let (entities, total) = blocking(&state.host, move |host| {
        Ok::<_, plinth_host::HostError>((host.entities(&query)?, host.count_entities(&query)?))
    })
    .await??;
    Ok(Json(json!({ "entities": entities, "total": total })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewEntity {
    entity_type: String,
    data: Value,
    #[serde(default)]
    id: Option<String>,
}

pub async fn create(
    State(state): AppStateExtractor,
    body: Body,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let new: NewEntity = parse_json(&read_body(body, state.max_request_bytes).await?)?;
    // Hooks run on the server's runtime: a waiting guest holds no thread.
    let host = state.host.clone();
    let write =
        detached(
            async move { host.create_entity_async(new.id.as_deref(), &new.entity_type, new.data).await },
        )
        .await??;
    Ok((StatusCode::CREATED, Json(json!(write))))
}

pub async fn one(State(state): AppStateExtractor, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    let lookup = id.clone();
    match blocking(&state.host, move |host| host.entity(&lookup)).await?? {
        Some(entity) => Ok(Json(json!(entity))),
        None => Err(ApiError::new(404, "entity_not_found", format!("no entity with id `{id}`"))),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EntityUpdate {
    data: Value,
}

pub async fn update(
    State(state): AppStateExtractor,
    Path(id): Path<String>,
    body: Body,
) -> Result<Json<Value>, ApiError> {
    let update: EntityUpdate = parse_json(&read_body(body, state.max_request_bytes).await?)?;
    let host = state.host.clone();
    let write = detached(async move { host.update_entity_async(&id, update.data).await }).await??;
    Ok(Json(json!(write)))
}

pub async fn delete(
    State(state): AppStateExtractor,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let host = state.host.clone();
    let write = detached(async move { host.delete_entity_async(&id).await }).await??;
    Ok(Json(json!(write)))
}

/// Recent hook outcomes, oldest first; `?plugin=` narrows to one plugin and
/// `?failed=true` to the failures.
pub async fn events(
    State(state): AppStateExtractor,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let mut plugin = None;
    let mut failed_only = false;
    for (key, value) in form_urlencoded::parse(raw.unwrap_or_default().as_bytes()) {
        match key.as_ref() {
            "plugin" => plugin = Some(value.into_owned()),
            "failed" => failed_only = value == "true",
            _ => {}
        }
    }
    let hooks: Vec<_> = blocking(&state.host, |host| host.hook_history())
        .await??
        .into_iter()
        .filter(|hook| plugin.as_ref().is_none_or(|p| *p == hook.plugin_id))
        .filter(|hook| !failed_only || hook.error.is_some())
        .collect();
    Ok(Json(json!({ "hooks": hooks })))
}

/// The hook outbox: deliveries still waiting (on every node sharing the
/// database), and this node's name in their leases.
pub async fn outbox(State(state): AppStateExtractor) -> Result<Json<Value>, ApiError> {
    let pending = blocking(&state.host, |host| host.pending_deliveries()).await??;
    Ok(Json(json!({ "pending": pending, "node": state.host.node_id() })))
}

/// Live event streams open at once; one more is refused (503), so idle
/// clients cannot pile up without bound.
const MAX_STREAMS: usize = 64;
static STREAMS: std::sync::LazyLock<std::sync::Arc<tokio::sync::Semaphore>> =
    std::sync::LazyLock::new(|| std::sync::Arc::new(tokio::sync::Semaphore::new(MAX_STREAMS)));

/// `/api/events/stream`: hook outcomes as they happen, as server-sent events
/// (`hook` events carrying the outcome's JSON; `lagged` when this client fell
/// more than 1,024 behind and missed some: `/api/events` still has them).
pub async fn stream(
    State(state): AppStateExtractor,
) -> Result<Sse<impl futures_util::Stream<Item = Result<Event, std::convert::Infallible>>>, ApiError> {
    let permit = STREAMS.clone().try_acquire_owned().map_err(|_| {
        ApiError::new(503, "busy", format!("{MAX_STREAMS} event streams are open already; try again later"))
    })?;
    let feed = state.host.subscribe_hooks();
    // The permit lives as long as the stream.
    let events = futures_util::stream::unfold((feed, permit), |(mut feed, permit)| async move {
        use tokio::sync::broadcast::error::RecvError;
        let event = match feed.recv().await {
            Ok(hook) => Event::default().event("hook").data(json!(hook).to_string()),
            Err(RecvError::Lagged(missed)) => Event::default().event("lagged").data(missed.to_string()),
            Err(RecvError::Closed) => return None,
        };
        Some((Ok(event), (feed, permit)))
    });
    Ok(Sse::new(events).keep_alive(KeepAlive::default()))
}
