//! The routes that may take their time: `GET /v1/trains/{id}` (which can wait
//! for a pending train to change, `?wait=30s`) and `GET /v1/events` (a stream
//! of committed changes). Each bounds its own time, so they are served outside
//! the request time-out, and each bounds how many may wait at once.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use futures_util::stream::{self, Stream};
use serde::Deserialize;
use signalbox_core::time::parse_duration;
use signalbox_core::TrainState;
use tokio::sync::broadcast::error::RecvError;

use super::auth::{Principal, ANY};
use super::error::ApiError;
use crate::service::{self, TrainView};
use crate::state::{AppState, ChangeEvent, ChangeKind};

/// The longest a request may wait for a train to change.
pub const MAX_WAIT: Duration = Duration::from_secs(60);
/// An event stream ends after this long; clients reconnect (browsers' `EventSource` does by itself).
pub const STREAM_FOR: Duration = Duration::from_secs(60 * 60);
/// A comment line this often keeps idle streams open through proxies.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

pub fn router() -> Router<AppState> {
    Router::new().route("/v1/trains/{id}", get(get_train)).route("/v1/events", get(events))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct WaitQuery {
    /// While the train is pending, wait up to this long (at most 60s, e.g. `30s`)
    /// for its state to change, then answer as usual.
    wait: Option<String>,
}

#[utoipa::path(get, path = "/v1/trains/{id}", tag = "trains",
    params(("id" = String, Path, description = "Train id, case-insensitive", pattern = r"^[A-Za-z]{2,10}[0-9]{1,12}$"), WaitQuery),
    responses((status = 200, description = "The train, its state, latest decision and history", body = TrainView), (status = 400, description = "A `wait` that is not a duration of at most 60s"),
        (status = 404, description = "No such train")),
    security(("bearer" = [])))]
pub(crate) async fn get_train(
    State(app): State<AppState>,
    who: Principal,
    Path(id): Path<String>,
    query: Result<Query<WaitQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    who.require(&app, ANY, "reading a train")?;
    let Query(q) = query.map_err(|e| ApiError::BadRequest(format!("bad query: {}", e.body_text())))?;
    let wait = q.wait.as_deref().map(parse_wait).transpose()?;
    // Listen before reading, so a change between the read and the wait is not missed.
    let mut changes = app.subscribe();
    let view = service::get_train(&app, &id)?;
    let (Some(wait), TrainState::Pending) = (wait, view.state) else {
        return Ok(Json(view).into_response());
    };
    // Too many already wait: answer at once; the caller sees `pending` and asks again.
    let Some(_permit) = app.wait_permit() else {
        return Ok(Json(view).into_response());
    };
    let changed = tokio::time::timeout(wait, async {
        loop {
            match changes.recv().await {
                Ok(event) if event.kind == ChangeKind::Train && event.id == view.train.id => return,
                Ok(_) => {}
                // Missed some events: one of them may have been ours; read again.
                Err(RecvError::Lagged(_)) => return,
                // The server is shutting down: answer with what there is.
                Err(RecvError::Closed) => return,
            }
        }
    })
    .await;
    match changed {
        Ok(()) => Ok(Json(service::get_train(&app, &id)?).into_response()),
        Err(_) => Ok(Json(view).into_response()),
    }
}

fn parse_wait(text: &str) -> Result<Duration, ApiError> {
    let invalid =
        || ApiError::BadRequest(format!("`wait` must be a duration of at most 60s like `30s`, found `{text}`"));
    let wait = parse_duration(text).map_err(|_| invalid())?.to_std().map_err(|_| invalid())?;
    if wait > MAX_WAIT {
        return Err(invalid());
    }
    Ok(wait)
}

#[utoipa::path(get, path = "/v1/events", tag = "events",
    description = "Server-Sent Events: one event per committed change, named `train`, `stop` or `exception`, its data a `ChangeEvent`. A listener too slow to keep up gets a `lagged` event (re-read what it shows). The stream ends after an hour; reconnect.",
    responses((status = 200, description = "`text/event-stream`", body = ChangeEvent, content_type = "text/event-stream"),
        (status = 503, description = "Too many streams are open")),
    security(("bearer" = [])))]
pub(crate) async fn events(State(app): State<AppState>, who: Principal) -> Result<Response, ApiError> {
    who.require(&app, ANY, "listening to events")?;
    let permit = app
        .stream_permit()
        .ok_or_else(|| ApiError::Unavailable("too many event streams are open; try again later".into()))?;
    let changes = app.subscribe();
    let deadline = tokio::time::Instant::now() + STREAM_FOR;
    let stream = change_stream(changes, deadline, permit);
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(KEEP_ALIVE)).into_response())
}

/// The events of `changes` until `deadline`; the permit is held for the stream's life.
pub(crate) fn change_stream(
    changes: tokio::sync::broadcast::Receiver<ChangeEvent>,
    deadline: tokio::time::Instant,
    permit: tokio::sync::OwnedSemaphorePermit,
) -> impl Stream<Item = Result<Event, Infallible>> {
    stream::unfold((changes, permit), move |(mut changes, permit)| async move {
        let next = tokio::time::timeout_at(deadline, changes.recv()).await.ok()?;
        let event = match next {
            Ok(change) => Event::default().event(change.kind.as_str()).json_data(&change).ok()?,
            Err(RecvError::Lagged(missed)) => Event::default().event("lagged").data(format!("{{\"missed\":{missed}}}")),
            Err(RecvError::Closed) => return None,
        };
        Some((Ok(event), (changes, permit)))
    })
}
