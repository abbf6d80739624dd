//! The board (docs/board.md): a web page for the conductor on shift, served
//! by the binary itself. A transport like `api` and `chat`: it signs a
//! browser in with a bearer token, keeps a cookie session, reads the board
//! from the service and hands conductors' forms to the same service calls the
//! API makes, audited as the token's name.
//!
//! Every form is a POST that must come from this site: the session cookie is
//! `SameSite=Strict` and a request whose `Origin` is another site's (or
//! missing) is refused 403. A viewer's session sees no actions, and a forged
//! action from one is refused 403 as over the API.

mod page;
mod session;

use axum::extract::rejection::FormRejection;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::sse::{KeepAlive, Sse};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use maud::Markup;
use serde::Deserialize;
use signalbox_core::config::Role;

use self::page::Notice;
use self::session::{check_origin, clear_cookie, session_cookie, session_id};
use crate::api::error::ApiError;
use crate::api::exceptions::ExceptionBody;
use crate::api::waiting::{change_stream, STREAM_FOR};
use crate::service::{self, Action, SessionUser};
use crate::state::{AppState, Ctx};

const CSS: &str = include_str!("board.css");
const JS: &str = include_str!("board.js");

/// The board's routes but its event stream, which bounds its own time ([`events_router`]).
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/board", get(board))
        .route("/board/fragment", get(fragment))
        .route("/board/static/board.css", get(|| async { asset("text/css; charset=utf-8", CSS) }))
        .route("/board/static/board.js", get(|| async { asset("text/javascript; charset=utf-8", JS) }))
        .route("/board/signin", post(sign_in))
        .route("/board/signout", post(sign_out))
        .route("/board/trains/{id}/{action}", post(train_action))
        .route("/board/exceptions", post(create_exception))
        .route("/board/exceptions/{id}/delete", post(delete_exception))
}

/// `GET /board/events`: the change stream of `/v1/events`, for a signed-in browser.
pub fn events_router() -> Router<AppState> {
    Router::new().route("/board/events", get(events))
}

/// The signed-in user of a request, and the request's context as that user.
fn signed_in(app: &AppState, headers: &HeaderMap) -> Result<Option<(SessionUser, Ctx)>, ApiError> {
    let mut ctx = app.request("board");
    let Some(id) = session_id(headers) else {
        return Ok(None);
    };
    let Some(user) = service::session_user(app, id, ctx.at)? else {
        return Ok(None);
    };
    ctx.actor = user.actor();
    Ok(Some((user, ctx)))
}

#[derive(Debug, Deserialize)]
struct Done {
    done: Option<String>,
    id: Option<String>,
}

/// What a finished action says at the top of the page; only known actions on plain ids.
fn done_notice(done: &Done) -> Option<Notice> {
    let id =
        done.id.as_deref().filter(|id| id.len() <= 64 && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))?;
    let what = match done.done.as_deref()? {
        "approve" => "approved",
        "reject" => "rejected",
        "hold" => "held",
        "reevaluate" => "re-evaluated",
        "exception" => "created exception",
        "delete" => "deleted exception",
        _ => return None,
    };
    Some(Notice::Done(format!("{what} {id}")))
}

async fn board(State(app): State<AppState>, headers: HeaderMap, Query(done): Query<Done>) -> Response {
    match signed_in(&app, &headers) {
        Ok(Some((user, ctx))) => render_board(&app, &user, &ctx, done_notice(&done).as_ref(), StatusCode::OK),
        Ok(None) => html(StatusCode::OK, page::sign_in(None)),
        Err(e) => error_page(e),
    }
}

async fn fragment(State(app): State<AppState>, headers: HeaderMap) -> Response {
    match signed_in(&app, &headers) {
        Ok(Some((user, ctx))) => match service::board(&app, &ctx) {
            Ok(view) => html(StatusCode::OK, page::content(&user, &view)),
            Err(e) => error_page(e.into()),
        },
        Ok(None) => error_page(ApiError::Unauthorized("sign in again".into())),
        Err(e) => error_page(e),
    }
}

fn render_board(
    app: &AppState,
    user: &SessionUser,
    ctx: &Ctx,
    notice: Option<&Notice>,
    status: StatusCode,
) -> Response {
    match service::board(app, ctx) {
        Ok(view) => html(status, page::board(user, &view, notice)),
        Err(e) => error_page(e.into()),
    }
}

#[derive(Debug, Deserialize)]
struct SignIn {
    token: String,
}

async fn sign_in(
    State(app): State<AppState>,
    headers: HeaderMap,
    form: Result<Form<SignIn>, FormRejection>,
) -> Response {
    if let Err(e) = check_origin(&headers) {
        return error_page(e);
    }
    let Ok(Form(form)) = form else {
        let notice = Notice::Error("the form must have a `token`".into());
        return html(StatusCode::BAD_REQUEST, page::sign_in(Some(&notice)));
    };
    let at = app.request("board").at;
    match service::sign_in(&app, &form.token, at).await {
        Ok(Some((id, user))) => {
            tracing::info!(user = %user.actor(), "board sign-in");
            let mut out = Redirect::to("/board").into_response();
            *out.status_mut() = StatusCode::SEE_OTHER;
            if let Ok(cookie) = HeaderValue::from_str(&session_cookie(&id, &headers)) {
                out.headers_mut().insert(header::SET_COOKIE, cookie);
            }
            out
        }
        Ok(None) => {
            let notice = Notice::Error("unknown token".into());
            html(StatusCode::UNAUTHORIZED, page::sign_in(Some(&notice)))
        }
        Err(e) => error_page(e.into()),
    }
}

async fn sign_out(State(app): State<AppState>, headers: HeaderMap) -> Response {
    if let Err(e) = check_origin(&headers) {
        return error_page(e);
    }
    if let Some(id) = session_id(&headers) {
        if let Err(e) = service::sign_out(&app, id).await {
            return error_page(e.into());
        }
    }
    let mut out = Redirect::to("/board").into_response();
    *out.status_mut() = StatusCode::SEE_OTHER;
    out.headers_mut().insert(header::SET_COOKIE, HeaderValue::from_static(clear_cookie()));
    out
}

#[derive(Debug, Deserialize)]
struct Reason {
    reason: Option<String>,
}

/// A conductor's session for an action: its origin checked, signed in, the role held.
fn conductor(app: &AppState, headers: &HeaderMap, what: &str) -> Result<(SessionUser, Ctx), ApiError> {
    check_origin(headers)?;
    let (user, ctx) = signed_in(app, headers)?
        .ok_or_else(|| ApiError::Unauthorized("your session has ended; sign in again".into()))?;
    if user.role != Role::Conductor {
        return Err(ApiError::Forbidden(format!(
            "{what} needs the role conductor; `{}` has the role `{}`",
            user.name,
            user.role.as_str()
        )));
    }
    Ok((user, ctx))
}

async fn train_action(
    State(app): State<AppState>,
    headers: HeaderMap,
    Path((id, action)): Path<(String, String)>,
    form: Result<Form<Reason>, FormRejection>,
) -> Response {
    let what = format!("`{action}` on a train");
    let (user, ctx) = match conductor(&app, &headers, &what) {
        Ok(found) => found,
        Err(e) => return refused(&app, &headers, e),
    };
    let reason = form.ok().and_then(|Form(f)| f.reason).map(|r| r.trim().to_string()).filter(|r| !r.is_empty());
    let needs_reason = |verb: &str| ApiError::BadRequest(format!("give a reason to {verb} {id}"));
    let done = match action.as_str() {
        "approve" => service::act(&app, &ctx, &id, Action::Approve { reason }).await.map(|_| ()),
        "reject" => match reason {
            Some(reason) => service::act(&app, &ctx, &id, Action::Reject { reason }).await.map(|_| ()),
            None => return answer(&app, &user, &ctx, Err(needs_reason("reject"))),
        },
        "hold" => match reason {
            Some(reason) => service::act(&app, &ctx, &id, Action::Hold { reason }).await.map(|_| ()),
            None => return answer(&app, &user, &ctx, Err(needs_reason("hold"))),
        },
        "reevaluate" => service::reevaluate(&app, &ctx, vec![id.clone()]).await.map(|_| ()),
        other => {
            let e = ApiError::NotFound(format!("no board action `{other}`; approve, reject, hold or reevaluate"));
            return answer(&app, &user, &ctx, Err(e));
        }
    };
    answer(&app, &user, &ctx, done.map(|()| done_url(&action, &id)).map_err(ApiError::from))
}

#[derive(Debug, Deserialize)]
struct NewException {
    result: String,
    policy: String,
    duration: String,
    configuration_item: Option<String>,
    squad: Option<String>,
    service: Option<String>,
    justification: String,
}

async fn create_exception(
    State(app): State<AppState>,
    headers: HeaderMap,
    form: Result<Form<NewException>, FormRejection>,
) -> Response {
    let (user, ctx) = match conductor(&app, &headers, "creating an exception") {
        Ok(found) => found,
        Err(e) => return refused(&app, &headers, e),
    };
    let Ok(Form(form)) = form else {
        let e = ApiError::BadRequest("the form needs result, policy, duration and justification".into());
        return answer(&app, &user, &ctx, Err(e));
    };
    let scope = |part: Option<String>| part.map(|p| p.trim().to_string()).filter(|p| !p.is_empty());
    let body = ExceptionBody {
        result: form.result,
        policy: form.policy.trim().to_string(),
        duration: form.duration.trim().to_string(),
        configuration_item: scope(form.configuration_item),
        squad: scope(form.squad),
        service: scope(form.service),
        justification: form.justification,
    };
    let created = match body.into_request() {
        Ok(request) => service::create_exception(&app, &ctx, request).await.map_err(ApiError::from),
        Err(e) => Err(e),
    };
    answer(&app, &user, &ctx, created.map(|c| done_url("exception", &c.exception.id)))
}

async fn delete_exception(State(app): State<AppState>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    let (user, ctx) = match conductor(&app, &headers, "deleting an exception") {
        Ok(found) => found,
        Err(e) => return refused(&app, &headers, e),
    };
    let deleted = service::delete_exception(&app, &ctx, id).await.map_err(ApiError::from);
    answer(&app, &user, &ctx, deleted.map(|x| done_url("delete", &x.id)))
}

fn done_url(action: &str, id: &str) -> String {
    format!("/board?done={action}&id={id}")
}

/// After an action: back to the board (303) when it was done, else the board
/// with why not, under the error's status.
fn answer(app: &AppState, user: &SessionUser, ctx: &Ctx, done: Result<String, ApiError>) -> Response {
    match done {
        Ok(url) => {
            let mut out = Redirect::to(&url).into_response();
            *out.status_mut() = StatusCode::SEE_OTHER;
            out
        }
        Err(e) => {
            let status = e.status();
            render_board(app, user, ctx, Some(&Notice::Error(e.to_string())), status)
        }
    }
}

/// An action refused before it began: the sign-in page when there is no
/// session, else the board (if it can be shown) with why.
fn refused(app: &AppState, headers: &HeaderMap, e: ApiError) -> Response {
    let status = e.status();
    if status == StatusCode::UNAUTHORIZED {
        return html(status, page::sign_in(Some(&Notice::Error(e.to_string()))));
    }
    if let (StatusCode::FORBIDDEN, Ok(Some((user, ctx)))) = (status, signed_in(app, headers)) {
        if check_origin(headers).is_ok() {
            return render_board(app, &user, &ctx, Some(&Notice::Error(e.to_string())), status);
        }
    }
    error_page(e)
}

async fn events(State(app): State<AppState>, headers: HeaderMap) -> Response {
    match signed_in(&app, &headers) {
        Ok(Some(_)) => {}
        Ok(None) => return error_page(ApiError::Unauthorized("sign in again".into())),
        Err(e) => return error_page(e),
    }
    let Some(permit) = app.stream_permit() else {
        return error_page(ApiError::Unavailable("too many event streams are open; try again later".into()));
    };
    let deadline = tokio::time::Instant::now() + STREAM_FOR;
    let stream = change_stream(app.subscribe(), deadline, permit);
    Sse::new(stream).keep_alive(KeepAlive::default()).into_response()
}

/// A page that says only what went wrong, under its status.
fn error_page(e: ApiError) -> Response {
    let status = e.status();
    if status.is_server_error() {
        tracing::warn!(error = %e, "board request failed");
    }
    let text = if status == StatusCode::INTERNAL_SERVER_ERROR { "internal error".to_string() } else { e.to_string() };
    html(status, page::error(status, &text))
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    let mut out = body.into_response();
    let headers = out.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    out
}

/// An HTML answer with the headers every board page carries: no caching, no
/// framing, scripts and styles from this site only.
fn html(status: StatusCode, markup: Markup) -> Response {
    let mut out = (status, markup.into_string()).into_response();
    let headers = out.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    out
}
