//! The whole HTTP service: the API and Slack routes, the layers every request
//! passes (request ids, tracing, metrics, JSON errors, time-out, body limit)
//! and the OpenAPI document. `app(state)` builds it, so tests drive it
//! in-process without a socket.

use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request};
use axum::http::{HeaderName, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use tower::ServiceBuilder;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

use crate::api::error::ApiError;
use crate::api::{admin, audit, chat, exceptions, stops, trains, waiting};
use crate::state::AppState;

/// Largest request body accepted.
pub const BODY_LIMIT: usize = 1 << 20;
/// A request that takes longer than this is answered 503 (its write may still commit).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Longest request target (path and query) accepted; longer is 414.
pub const MAX_URI: usize = 8 * 1024;
/// Most header bytes (names and values) and headers accepted; more is 431.
/// Both are well under what the HTTP parser itself takes (`conn.rs`), so the
/// answer is ours, in the JSON shape.
pub const MAX_HEADER_BYTES: usize = 32 * 1024;
pub const MAX_HEADERS: usize = 100;

/// The whole router, with limits, request ids and tracing.
pub fn app(state: AppState) -> Router {
    let request_id = HeaderName::from_static("x-request-id");
    crate::api::router()
        .merge(crate::slack::router())
        .merge(crate::board::router())
        .route("/openapi.json", get(openapi))
        // Everything above is cut off after REQUEST_TIMEOUT; the waiting routes bound their own time.
        .layer(TimeoutLayer::with_status_code(StatusCode::SERVICE_UNAVAILABLE, REQUEST_TIMEOUT))
        .merge(waiting::router())
        .merge(crate::board::events_router())
        .fallback(not_found)
        .with_state(state)
        .method_not_allowed_fallback(method_not_allowed)
        // One `layer` call: each call boxes every route again, and a request
        // then clones and polls every box on its way in.
        .layer(
            ServiceBuilder::new()
                .layer(SetRequestIdLayer::new(request_id.clone(), MakeRequestUuid))
                .layer(
                    TraceLayer::new_for_http()
                        .make_span_with(request_span)
                        .on_response(tower_http::trace::DefaultOnResponse::new().level(tracing::Level::DEBUG)),
                )
                .layer(PropagateRequestIdLayer::new(request_id))
                .layer(axum::middleware::from_fn(track))
                .layer(axum::middleware::from_fn(json_errors))
                .layer(axum::middleware::from_fn(limit_head))
                .layer(DefaultBodyLimit::max(BODY_LIMIT)),
        )
}

async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed("this route does not take that method; see /openapi.json".into())
}

async fn not_found() -> ApiError {
    ApiError::NotFound("no such route; see /openapi.json".into())
}

/// Every error leaves in the `{"error": {...}}` shape (the board's pages in
/// their own HTML), including those made below the handlers (a timed-out request, a body over the limit).
async fn json_errors(req: Request, next: Next) -> Response {
    let response = next.run(req).await;
    let status = response.status();
    let is_json = response
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json") || v.as_bytes().starts_with(b"text/html"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response;
    }
    let error = match status {
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::TooLarge("request body is over the 1 MiB limit".into()),
        StatusCode::SERVICE_UNAVAILABLE => {
            ApiError::Unavailable(format!("the request took longer than {} s", REQUEST_TIMEOUT.as_secs()))
        }
        StatusCode::METHOD_NOT_ALLOWED => ApiError::MethodNotAllowed("this route does not take that method".into()),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => ApiError::BadRequest("the body must be JSON".into()),
        other if other.is_client_error() => {
            ApiError::BadRequest(other.canonical_reason().unwrap_or("bad request").to_string())
        }
        other => ApiError::Internal(format!("{other} from a layer below the handlers")),
    };
    with_status(error, status)
}

/// 414 for a request target over [`MAX_URI`], 431 for headers over
/// [`MAX_HEADER_BYTES`] or [`MAX_HEADERS`], before any route reads them.
async fn limit_head(req: Request, next: Next) -> Response {
    let uri = req.uri().path_and_query().map_or(0, |p| p.as_str().len());
    if uri > MAX_URI {
        let error = ApiError::TooLarge(format!("the request target is {uri} bytes; at most {MAX_URI} are accepted"));
        return with_status(error, StatusCode::URI_TOO_LONG);
    }
    let headers = req.headers();
    let bytes: usize = headers.iter().map(|(name, value)| name.as_str().len() + value.len()).sum();
    if headers.len() > MAX_HEADERS || bytes > MAX_HEADER_BYTES {
        let error = ApiError::TooLarge(format!(
            "the request has {} headers of {bytes} bytes; at most {MAX_HEADERS} headers of {MAX_HEADER_BYTES} bytes are accepted",
            headers.len()
        ));
        return with_status(error, StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
    }
    next.run(req).await
}

/// An error in the JSON shape under another status than its own.
fn with_status(error: ApiError, status: StatusCode) -> Response {
    let mut out = error.into_response();
    *out.status_mut() = status;
    out
}

/// Request count and latency by route template (never by raw path).
async fn track(req: Request, next: Next) -> Response {
    let start = Instant::now();
    let method = req.method().to_string();
    let route =
        req.extensions().get::<MatchedPath>().map_or_else(|| "unmatched".to_string(), |p| p.as_str().to_string());
    let response = next.run(req).await;
    let status = response.status().as_u16().to_string();
    metrics::counter!("signalbox_http_requests_total", "method" => method.clone(), "route" => route.clone(), "status" => status).increment(1);
    metrics::histogram!("signalbox_http_request_duration_seconds", "method" => method, "route" => route)
        .record(start.elapsed().as_secs_f64());
    response
}

/// The span each request is logged in: method, path and request id; never headers (tokens).
fn request_span(req: &axum::http::Request<Body>) -> tracing::Span {
    let request_id = req.headers().get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
    tracing::info_span!("request", method = %req.method(), path = %req.uri().path(), request_id = %request_id)
}

#[utoipa::path(get, path = "/openapi.json", tag = "health", responses((status = 200, description = "This document (OpenAPI 3.1, JSON)")))]
async fn openapi() -> Response {
    Json(document()).into_response()
}

#[derive(utoipa::OpenApi)]
#[openapi(
    info(title = "Signalbox", description = "Change-train approval policy engine (docs/api.md)"),
    paths(trains::submit, trains::list_trains, waiting::get_train, waiting::events, trains::train_action, trains::reevaluate,
        trains::evaluate, exceptions::list_exceptions, exceptions::create_exception, exceptions::delete_exception,
        stops::list_stops, stops::create_stop, stops::start_trains, audit::audit, chat::chat, admin::reload,
        admin::healthz, admin::readyz, admin::metrics, openapi, crate::slack::events, crate::slack::commands),
    components(schemas(signalbox_core::Train, signalbox_core::TrainState, signalbox_core::Decision,
        signalbox_core::Finding, signalbox_core::Window, signalbox_core::Outcome, signalbox_core::Stop, signalbox_core::Exception,
        crate::service::TrainView, crate::service::ExceptionCreated, crate::service::ExceptionView,
        crate::service::StartTrainsReport, crate::service::AuditPage, crate::service::Reloaded,
        crate::service::Reevaluated, crate::chat::ChatStatus, crate::state::ChangeEvent, crate::state::ChangeKind, trains::TrainList, trains::ReasonBody,
        trains::ReevaluateBody, trains::ReevaluateResults, trains::EvaluateBody, exceptions::ExceptionBody,
        exceptions::ExceptionList, stops::StopList, stops::StopBody, stops::StartBody, chat::ChatBody,
        chat::ChatAnswer, crate::schema::Error, crate::schema::ErrorDetail, crate::schema::TrainRecord,
        crate::schema::AuditRecord, crate::schema::Health, crate::schema::Ready,
        crate::schema::SlackEvent, crate::schema::SlackAck, crate::schema::SlashCommand,
        crate::schema::SlashReply, crate::schema::TrainAction)),
    modifiers(&BearerAuth)
)]
struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The OpenAPI document, generated from the handlers' annotations and the
/// wire types, completed with the answers every route shares.
pub fn document() -> serde_json::Value {
    let mut doc = serde_json::to_value(<ApiDoc as utoipa::OpenApi>::openapi()).unwrap_or_default();
    complete(&mut doc);
    doc
}

/// The error answers that come from the layers and extractors rather than
/// from a handler, on every route they can reach, each a `{"error": ...}`.
const SHARED_ERRORS: [(&str, &str); 5] = [
    ("401", "No `Authorization: Bearer <token>` header, or a token that is not configured"),
    ("403", "The token's role may not do this; checked before the body is read"),
    ("400", "A malformed request: the message names the field"),
    ("413", "The body is over 1 MiB"),
    ("503", "The store is unavailable just now, or the request took longer than 30 s: retry"),
];

/// Adds the shared error answers, makes every error answer the `Error`
/// schema, and loosens `additionalProperties: false` on schemas used as a
/// part of an `allOf` (a part cannot refuse the other parts' fields).
fn complete(doc: &mut serde_json::Value) {
    use serde_json::{json, Value};
    let error = json!({ "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } });
    let mut parts = Vec::new();
    if let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) {
        for (path, item) in paths.iter_mut() {
            let Some(item) = item.as_object_mut() else { continue };
            for op in item.values_mut().filter_map(Value::as_object_mut) {
                let secured = op.get("security").and_then(Value::as_array).is_some_and(|s| !s.is_empty());
                let has_body = op.contains_key("requestBody");
                let has_query = op
                    .get("parameters")
                    .and_then(Value::as_array)
                    .is_some_and(|ps| ps.iter().any(|p| p.get("in").and_then(Value::as_str) == Some("query")));
                let Some(responses) = op.get_mut("responses").and_then(Value::as_object_mut) else { continue };
                for (status, description) in SHARED_ERRORS {
                    let applies = match status {
                        "401" | "403" => secured,
                        "400" => has_body || has_query,
                        "413" => has_body,
                        _ => path.starts_with("/v1/"),
                    };
                    if applies && !responses.contains_key(status) {
                        responses.insert(status.to_string(), json!({ "description": description }));
                    }
                }
                for (status, response) in responses.iter_mut() {
                    if status.starts_with('4') || status.starts_with('5') {
                        response["content"] = error.clone();
                    }
                }
            }
        }
    }
    collect_all_of_parts(doc, &mut parts);
    if let Some(schemas) = doc.pointer_mut("/components/schemas").and_then(Value::as_object_mut) {
        for name in parts {
            if let Some(schema) = schemas.get_mut(&name).and_then(Value::as_object_mut) {
                schema.remove("additionalProperties");
            }
        }
    }
}

/// The component names referenced directly inside an `allOf`.
fn collect_all_of_parts(value: &serde_json::Value, out: &mut Vec<String>) {
    use serde_json::Value;
    match value {
        Value::Object(map) => {
            if let Some(Value::Array(parts)) = map.get("allOf") {
                for part in parts {
                    if let Some(name) =
                        part.get("$ref").and_then(Value::as_str).and_then(|r| r.strip_prefix("#/components/schemas/"))
                    {
                        out.push(name.to_string());
                    }
                }
            }
            map.values().for_each(|v| collect_all_of_parts(v, out));
        }
        Value::Array(items) => items.iter().for_each(|v| collect_all_of_parts(v, out)),
        _ => {}
    }
}
