//! `POST /v1/chat`: one chat command in, the reply out, for bridges and `signalbox chat`.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use signalbox_core::config::Role;
use signalbox_core::text;

use super::auth::Principal;
use super::error::ApiError;
use super::json::ApiJson;
use crate::chat::{self, ChatStatus};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route("/v1/chat", post(chat))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ChatBody {
    /// The chat user id, vouched for by the bridge (e.g. `U024BE7LH`).
    user: String,
    /// One command, e.g. `describe CHG7687021`.
    text: String,
}

/// The reply, plain text for chat, and how the command ended.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct ChatAnswer {
    text: String,
    status: ChatStatus,
}

#[utoipa::path(post, path = "/v1/chat", tag = "chat", request_body = ChatBody,
    description = "For two roles. `chat`: a bridge that authenticates its users and vouches for `user`. `conductor`: the token speaks for itself (as `token:<name>`, with conductor rights), whatever `user` says.",
    responses((status = 200, description = "The reply", body = ChatAnswer), (status = 403, description = "A token of another role")),
    security(("bearer" = [])))]
pub(crate) async fn chat(
    State(app): State<AppState>,
    who: Principal,
    body: ApiJson<ChatBody>,
) -> Result<Response, ApiError> {
    let ctx = who.require(&app, &[Role::Chat, Role::Conductor], "the chat bridge")?;
    let body: ChatBody = body.parse()?;
    text::check_name("user", &body.user).map_err(|e| ApiError::BadRequest(e.to_string()))?;
    text::check_chat("text", &body.text).map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let (user, conductor) = match who.role {
        Role::Conductor => (format!("token:{}", who.name), true),
        _ => (body.user.trim().to_string(), false),
    };
    if user.is_empty() {
        return Err(ApiError::BadRequest("`user` must name the chat user".into()));
    }
    let reply = chat::execute_as(&app, ctx.at, &user, &body.text, conductor).await;
    Ok(Json(ChatAnswer { text: reply.text, status: reply.status }).into_response())
}
