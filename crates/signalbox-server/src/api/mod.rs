//! The HTTP API of DESIGN section 7. `app(state)` builds the whole router, so
//! tests drive it in-process without a socket.

pub mod error;
pub mod json;

use std::path::{Path as FsPath, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arc_swap::{ArcSwap, ArcSwapOption};
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{HeaderName, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use metrics_exporter_prometheus::PrometheusHandle;
use serde::Deserialize;
use serde_json::json;
use signalbox_core::config::Role;
use signalbox_core::{Decision, Exception, Stop, Train, TrainState};
use signalbox_store::{Store, TrainFilter};
use tower::ServiceBuilder;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

use self::error::ApiError;
use self::json::ApiJson;
use crate::auth::{Principal, TokenEntry};
use crate::runtime::Runtime;
use crate::service::{self, Action, AuditPage, ExceptionCreated, ExceptionRequest, ExceptionView, Started, TrainView};

/// Largest request body accepted.
pub const BODY_LIMIT: usize = 1 << 20;
/// A request that takes longer than this is answered 503 (its write may still commit).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Everything a handler can reach. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    inner: Arc<Inner>,
}

struct Inner {
    runtime: ArcSwap<Runtime>,
    config_path: Option<PathBuf>,
    bootstrap: Option<TokenEntry>,
    metrics: Option<PrometheusHandle>,
    /// Tests may pin the clock; the server uses the system clock.
    fixed_now: Option<Mutex<DateTime<Utc>>>,
    /// The Slack transport's secrets and memory; `None` until start-up sets it.
    slack: ArcSwapOption<crate::slack::Slack>,
}

impl AppState {
    pub fn new(
        store: Store,
        runtime: Runtime,
        config_path: Option<PathBuf>,
        bootstrap: Option<TokenEntry>,
        metrics: Option<PrometheusHandle>,
    ) -> AppState {
        AppState {
            store,
            inner: Arc::new(Inner {
                runtime: ArcSwap::from_pointee(runtime),
                config_path,
                bootstrap,
                metrics,
                fixed_now: None,
                slack: ArcSwapOption::empty(),
            }),
        }
    }

    /// A state whose clock stands still at `now` until [`AppState::set_now`] moves it (tests).
    pub fn with_fixed_clock(self, now: DateTime<Utc>) -> AppState {
        let inner = Inner {
            runtime: ArcSwap::new(self.inner.runtime.load_full()),
            config_path: self.inner.config_path.clone(),
            bootstrap: self.inner.bootstrap.clone(),
            metrics: self.inner.metrics.clone(),
            fixed_now: Some(Mutex::new(now)),
            slack: ArcSwapOption::new(self.inner.slack.load_full()),
        };
        AppState { store: self.store, inner: Arc::new(inner) }
    }

    pub fn set_now(&self, now: DateTime<Utc>) {
        if let Some(Ok(mut fixed)) = self.inner.fixed_now.as_ref().map(Mutex::lock) {
            *fixed = now;
        }
    }

    /// The instant handed to the core for this request.
    pub fn now(&self) -> DateTime<Utc> {
        match self.inner.fixed_now.as_ref().map(Mutex::lock) {
            Some(Ok(fixed)) => *fixed,
            _ => Utc::now(),
        }
    }

    pub fn runtime(&self) -> Arc<Runtime> {
        self.inner.runtime.load_full()
    }

    pub fn swap_runtime(&self, runtime: Arc<Runtime>) {
        self.inner.runtime.store(runtime);
    }

    pub fn config_path(&self) -> Option<&FsPath> {
        self.inner.config_path.as_deref()
    }

    pub fn bootstrap_token(&self) -> Option<&TokenEntry> {
        self.inner.bootstrap.as_ref()
    }

    /// Sets (or clears) the Slack transport: its secrets and its memory of recent events.
    pub fn set_slack(&self, slack: Option<crate::slack::Slack>) {
        self.inner.slack.store(slack.map(Arc::new));
    }

    pub fn slack(&self) -> Option<Arc<crate::slack::Slack>> {
        self.inner.slack.load_full()
    }
}

/// The whole router, with limits, request ids and tracing.
pub fn app(state: AppState) -> Router {
    let request_id = HeaderName::from_static("x-request-id");
    Router::new()
        .route("/v1/trains", post(submit).get(list_trains))
        .route("/v1/trains/{id}", get(get_train))
        .route("/v1/trains/{id}/{action}", post(train_action))
        .route("/v1/reevaluate", post(reevaluate))
        .route("/v1/evaluate", post(evaluate))
        .route("/v1/exceptions", get(list_exceptions).post(create_exception))
        .route("/v1/exceptions/{id}", delete(delete_exception))
        .route("/v1/stops", get(list_stops).post(create_stop))
        .route("/v1/stops/start", post(start_trains))
        .route("/v1/audit", get(audit))
        .route("/v1/admin/reload", post(reload))
        .route("/v1/chat", post(chat))
        // Authenticated by Slack's request signature, not by a bearer token.
        .route("/slack/events", post(crate::slack::events))
        .route("/slack/commands", post(crate::slack::commands))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/openapi.json", get(openapi))
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
                        .make_span_with(crate::metrics::request_span)
                        .on_response(tower_http::trace::DefaultOnResponse::new().level(tracing::Level::DEBUG)),
                )
                .layer(PropagateRequestIdLayer::new(request_id))
                .layer(axum::middleware::from_fn(crate::metrics::track))
                .layer(axum::middleware::from_fn(json_errors))
                .layer(TimeoutLayer::with_status_code(StatusCode::SERVICE_UNAVAILABLE, REQUEST_TIMEOUT))
                .layer(DefaultBodyLimit::max(BODY_LIMIT)),
        )
}

async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed("this route does not take that method; see /openapi.json".into())
}

/// Every error leaves in the `{"error": {...}}` shape, including those made
/// below the handlers (a timed-out request, a body over the limit).
async fn json_errors(req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let response = next.run(req).await;
    let status = response.status();
    let is_json = response
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
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
    let mut out = error.into_response();
    *out.status_mut() = status;
    out
}

async fn not_found() -> ApiError {
    ApiError::NotFound("no such route; see /openapi.json".into())
}

const ANY: &[Role] = &[Role::Pipeline, Role::Conductor, Role::Incident, Role::Viewer, Role::Chat];

#[utoipa::path(post, path = "/v1/trains", tag = "trains", request_body = Train,
    responses((status = 200, description = "The train with its decision (new, updated, or unchanged when resubmitted as is)", body = TrainView),
        (status = 400, description = "Invalid train; the message names the field"), (status = 409, description = "Changed body on a train that is not pending")),
    security(("bearer" = [])))]
async fn submit(
    State(app): State<AppState>,
    who: Principal,
    ApiJson(train): ApiJson<Train>,
) -> Result<Response, ApiError> {
    who.require(&[Role::Pipeline, Role::Conductor], "submitting a train")?;
    let view = service::submit(&app, who.actor(), train).await?;
    Ok(Json(view).into_response())
}

#[utoipa::path(get, path = "/v1/trains/{id}", tag = "trains", params(("id" = String, Path, description = "Train id, case-insensitive")),
    responses((status = 200, body = TrainView), (status = 404, description = "No such train")), security(("bearer" = [])))]
async fn get_train(State(app): State<AppState>, who: Principal, Path(id): Path<String>) -> Result<Response, ApiError> {
    who.require(ANY, "reading a train")?;
    Ok(Json(service::get_train(&app, &id)?).into_response())
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    state: Option<String>,
    environment: Option<String>,
    squad: Option<String>,
    limit: Option<usize>,
    offset: Option<usize>,
}

#[utoipa::path(get, path = "/v1/trains", tag = "trains", params(ListQuery),
    responses((status = 200, description = "`{\"trains\": [{train, state, decision, created_at, updated_at}]}`, oldest first", body = Object)), security(("bearer" = [])))]
async fn list_trains(
    State(app): State<AppState>,
    who: Principal,
    query: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    who.require(ANY, "listing trains")?;
    let Query(q) = query.map_err(|e| ApiError::BadRequest(format!("bad query: {}", e.body_text())))?;
    let state = q
        .state
        .map(|s| {
            TrainState::parse(&s).ok_or_else(|| {
                let known: Vec<&str> = TrainState::ALL.iter().map(|s| s.as_str()).collect();
                ApiError::BadRequest(format!("`state` `{s}` is not one of {}", known.join(", ")))
            })
        })
        .transpose()?;
    let filter = TrainFilter {
        state,
        environment: q.environment,
        squad: q.squad,
        limit: Some(q.limit.unwrap_or(100).min(1000)),
        offset: q.offset,
    };
    let trains = service::list_trains(&app, filter)?;
    Ok(Json(json!({ "trains": trains })).into_response())
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct ReasonBody {
    #[serde(default)]
    reason: Option<String>,
}

#[utoipa::path(post, path = "/v1/trains/{id}/{action}", tag = "trains",
    params(("id" = String, Path, description = "Train id"), ("action" = String, Path, description = "approve, reject, hold, release (conductor); start, complete, abort (pipeline)")),
    request_body(content = ReasonBody, description = "`reason` is required for reject and hold"),
    responses((status = 200, body = TrainView), (status = 409, description = "The train is not in a state that allows it, or a stop is in force (start)")),
    security(("bearer" = [])))]
async fn train_action(
    State(app): State<AppState>,
    who: Principal,
    Path((id, action)): Path<(String, String)>,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let roles: &[Role] = match action.as_str() {
        "approve" | "reject" | "hold" | "release" => &[Role::Conductor],
        "start" | "complete" | "abort" => &[Role::Pipeline],
        other => {
            return Err(ApiError::NotFound(format!(
                "no action `{other}`; train actions are approve, reject, hold, release, start, complete, abort"
            )))
        }
    };
    // Who may do it is checked before what was sent.
    who.require(roles, &format!("`{action}`"))?;
    let body: ReasonBody =
        if body.iter().all(u8::is_ascii_whitespace) { ReasonBody::default() } else { json::parse(&body)? };
    let reason = body.reason.map(|r| r.trim().to_string()).filter(|r| !r.is_empty());
    let required = |what: &str| {
        reason.clone().ok_or_else(|| ApiError::BadRequest(format!("`reason` is required to {what} a train")))
    };
    let action = match action.as_str() {
        "approve" => Action::Approve { reason },
        "reject" => Action::Reject { reason: required("reject")? },
        "hold" => Action::Hold { reason: required("hold")? },
        "release" => Action::Release,
        "start" => Action::Start,
        "complete" => Action::Complete,
        _ => Action::Abort { reason },
    };
    Ok(Json(service::act(&app, who.actor(), &id, action).await?).into_response())
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct ReevaluateBody {
    train_ids: Vec<String>,
}

#[utoipa::path(post, path = "/v1/reevaluate", tag = "trains", request_body = ReevaluateBody,
    responses((status = 200, description = "`{\"results\": [...]}`: one per id, its new decision or why it was not re-evaluated", body = Object)), security(("bearer" = [])))]
async fn reevaluate(
    State(app): State<AppState>,
    who: Principal,
    ApiJson(body): ApiJson<ReevaluateBody>,
) -> Result<Response, ApiError> {
    who.require(&[Role::Conductor], "re-evaluating trains")?;
    let results = service::reevaluate(&app, who.actor(), body.train_ids).await?;
    Ok(Json(json!({ "results": results })).into_response())
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct EvaluateBody {
    train: Train,
    #[serde(default)]
    at: Option<DateTime<Utc>>,
}

#[utoipa::path(post, path = "/v1/evaluate", tag = "trains", request_body = EvaluateBody,
    responses((status = 200, description = "What would be decided at `at` (default now) with today's state; nothing is stored", body = Decision)), security(("bearer" = [])))]
async fn evaluate(
    State(app): State<AppState>,
    who: Principal,
    ApiJson(body): ApiJson<EvaluateBody>,
) -> Result<Response, ApiError> {
    who.require(ANY, "a dry run")?;
    Ok(Json(service::dry_run(&app, who.actor(), body.train, body.at)?).into_response())
}

#[utoipa::path(get, path = "/v1/exceptions", tag = "exceptions",
    responses((status = 200, description = "`{\"exceptions\": [ExceptionView]}`: the live ones", body = Object)), security(("bearer" = [])))]
async fn list_exceptions(State(app): State<AppState>, who: Principal) -> Result<Response, ApiError> {
    who.require(ANY, "listing exceptions")?;
    Ok(Json(json!({ "exceptions": service::list_exceptions(&app)? })).into_response())
}

#[utoipa::path(post, path = "/v1/exceptions", tag = "exceptions", request_body = ExceptionRequest,
    responses((status = 201, body = ExceptionCreated), (status = 400, description = "Unknown policy (the known ones are listed), duration over the maximum, no justification")),
    security(("bearer" = [])))]
async fn create_exception(
    State(app): State<AppState>,
    who: Principal,
    ApiJson(body): ApiJson<ExceptionRequest>,
) -> Result<Response, ApiError> {
    who.require(&[Role::Conductor], "creating an exception")?;
    let created = service::create_exception(&app, who.actor(), body).await?;
    Ok((StatusCode::CREATED, Json(created)).into_response())
}

#[utoipa::path(delete, path = "/v1/exceptions/{id}", tag = "exceptions", params(("id" = String, Path, description = "e.g. exc_7")),
    responses((status = 200, body = Exception), (status = 404, description = "No live exception with that id")), security(("bearer" = [])))]
async fn delete_exception(
    State(app): State<AppState>,
    who: Principal,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    who.require(&[Role::Conductor], "deleting an exception")?;
    Ok(Json(service::delete_exception(&app, who.actor(), id).await?).into_response())
}

#[utoipa::path(get, path = "/v1/stops", tag = "stops",
    responses((status = 200, description = "`{\"stops\": [Stop]}`: the active ones", body = Object)), security(("bearer" = [])))]
async fn list_stops(State(app): State<AppState>, who: Principal) -> Result<Response, ApiError> {
    who.require(ANY, "listing stops")?;
    Ok(Json(json!({ "stops": service::list_stops(&app)? })).into_response())
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct StopBody {
    scope: String,
    message: String,
}

#[utoipa::path(post, path = "/v1/stops", tag = "stops", request_body = StopBody,
    responses((status = 201, body = Stop), (status = 400, description = "Unknown scope or no message")), security(("bearer" = [])))]
async fn create_stop(
    State(app): State<AppState>,
    who: Principal,
    ApiJson(body): ApiJson<StopBody>,
) -> Result<Response, ApiError> {
    who.require(&[Role::Incident, Role::Conductor], "stopping trains")?;
    let stop = service::create_stop(&app, who.actor(), body.scope, body.message).await?;
    Ok((StatusCode::CREATED, Json(stop)).into_response())
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct StartBody {
    scope: String,
}

#[utoipa::path(post, path = "/v1/stops/start", tag = "stops", request_body = StartBody,
    responses((status = 200, body = Started)), security(("bearer" = [])))]
async fn start_trains(
    State(app): State<AppState>,
    who: Principal,
    ApiJson(body): ApiJson<StartBody>,
) -> Result<Response, ApiError> {
    who.require(&[Role::Conductor], "starting trains")?;
    Ok(Json(service::start_trains(&app, who.actor(), body.scope).await?).into_response())
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
struct AuditQuery {
    train_id: Option<String>,
    before: Option<i64>,
    limit: Option<usize>,
}

#[utoipa::path(get, path = "/v1/audit", tag = "audit", params(AuditQuery),
    responses((status = 200, body = AuditPage)), security(("bearer" = [])))]
async fn audit(
    State(app): State<AppState>,
    who: Principal,
    query: Result<Query<AuditQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    who.require(ANY, "reading the audit log")?;
    let Query(q) = query.map_err(|e| ApiError::BadRequest(format!("bad query: {}", e.body_text())))?;
    let limit = q.limit.unwrap_or(100).clamp(1, 1000);
    Ok(Json(service::audit_page(&app, q.train_id, q.before, limit)?).into_response())
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct ChatBody {
    /// The chat user id, vouched for by the bridge (e.g. `U024BE7LH`).
    user: String,
    /// One command, e.g. `describe CHG7687021`.
    text: String,
}

#[utoipa::path(post, path = "/v1/chat", tag = "chat", request_body = ChatBody,
    responses((status = 200, description = "`{\"text\": \"<reply>\"}`: the reply, plain text for chat", body = Object)),
    security(("bearer" = [])))]
async fn chat(
    State(app): State<AppState>,
    who: Principal,
    ApiJson(body): ApiJson<ChatBody>,
) -> Result<Response, ApiError> {
    who.require(&[Role::Chat, Role::Conductor], "the chat bridge")?;
    // A bridge (role chat) vouches for its user; a conductor token speaks for
    // itself, whatever `user` says, and is a conductor.
    let (user, conductor) = match who.role {
        Role::Conductor => (format!("token:{}", who.name), true),
        _ => (body.user.trim().to_string(), false),
    };
    if user.is_empty() {
        return Err(ApiError::BadRequest("`user` must name the chat user".into()));
    }
    let text = crate::chat::execute_as(&app, &user, &body.text, conductor).await;
    Ok(Json(json!({ "text": text })).into_response())
}

#[utoipa::path(post, path = "/v1/admin/reload", tag = "admin",
    responses((status = 200, description = "Old and new policy revisions", body = Object), (status = 422, description = "The new set is invalid; the old one keeps serving")),
    security(("bearer" = [])))]
async fn reload(State(app): State<AppState>, who: Principal) -> Result<Response, ApiError> {
    who.require(&[Role::Conductor], "reloading")?;
    Ok(Json(service::reload(&app, who.actor()).await?).into_response())
}

#[utoipa::path(get, path = "/healthz", tag = "health", responses((status = 200, description = "The process is alive")))]
async fn healthz() -> Response {
    Json(json!({ "status": "ok" })).into_response()
}

#[utoipa::path(get, path = "/readyz", tag = "health", responses((status = 200, description = "Policies loaded and the store writable"), (status = 503, description = "Not ready")))]
async fn readyz(State(app): State<AppState>) -> Response {
    let runtime = app.runtime();
    // The probe goes through the writer and may wait; keep it off the async threads.
    let store = app.store.clone();
    let writable = tokio::task::spawn_blocking(move || store.check_writable()).await;
    let writable = writable.map_err(|e| e.to_string()).and_then(|r| r.map_err(|e| e.to_string()));
    match writable {
        Ok(()) => Json(json!({
            "status": "ready",
            "policy_revision": runtime.evaluator.revision(),
            "policies": runtime.evaluator.policies().entries().len(),
        }))
        .into_response(),
        Err(e) => ApiError::Unavailable(format!("the store is not writable: {e}")).into_response(),
    }
}

#[utoipa::path(get, path = "/metrics", tag = "health", responses((status = 200, description = "Prometheus text format")))]
async fn metrics(State(app): State<AppState>) -> Response {
    let stats = app.store.stats();
    metrics::counter!("signalbox_store_commits_total").absolute(stats.commits);
    metrics::counter!("signalbox_store_failed_commits_total").absolute(stats.failed_commits);
    metrics::counter!("signalbox_store_ops_total").absolute(stats.ops);
    match &app.inner.metrics {
        Some(handle) => handle.render().into_response(),
        None => (StatusCode::OK, String::new()).into_response(),
    }
}

#[utoipa::path(get, path = "/openapi.json", tag = "health", responses((status = 200, description = "This document")))]
async fn openapi() -> Response {
    Json(document()).into_response()
}

#[derive(utoipa::OpenApi)]
#[openapi(
    info(title = "Signalbox", description = "Change-train approval policy engine (DESIGN section 7)"),
    paths(submit, list_trains, chat, get_train, train_action, reevaluate, evaluate, list_exceptions, create_exception,
        delete_exception, list_stops, create_stop, start_trains, audit, reload, healthz, readyz, metrics, openapi,
        crate::slack::events, crate::slack::commands),
    components(schemas(Train, TrainState, signalbox_core::Decision, signalbox_core::Finding, signalbox_core::Outcome,
        signalbox_core::Stop, signalbox_core::Exception, TrainView, ExceptionRequest, ExceptionCreated, ExceptionView,
        Started, AuditPage, ChatBody, ReasonBody, ReevaluateBody, EvaluateBody, StopBody, StartBody)),
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

/// The OpenAPI document, generated from the handlers' annotations and the wire types.
pub fn document() -> utoipa::openapi::OpenApi {
    <ApiDoc as utoipa::OpenApi>::openapi()
}
