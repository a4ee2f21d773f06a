//! Feedback and usage, self-hosted: what people tell the Owners from the app (how likely they
//! are to recommend Baton, a problem with the page and the last error they saw, an idea), and
//! how the organization uses Baton, counted from its own tables. Nothing leaves the server
//! unless the operator names an address for feedback (`BATON_FEEDBACK_EMAIL`).

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use baton_core::policy::Action;
use baton_store::Feedback;
use chrono::Utc;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::AppState;
use crate::auth::guard::Authenticated;
use crate::error::ApiError;
use crate::mail::Mail;
use crate::request::JsonBody;

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/feedback", get(list).post(send))
        .route("/api/v1/insights", get(usage))
}

const MAX_COMMENT: usize = 4000;
const MAX_PAGE: usize = 500;
const MAX_ERROR: usize = 2000;

#[derive(Clone, Copy, Deserialize, schemars::JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub(crate) enum FeedbackKind {
    /// How likely one is to recommend Baton, 0 to 10.
    Nps,
    /// Something that does not work.
    Bug,
    /// Something one would like.
    Idea,
}

impl FeedbackKind {
    fn as_str(self) -> &'static str {
        match self {
            Self::Nps => "nps",
            Self::Bug => "bug",
            Self::Idea => "idea",
        }
    }
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewFeedback {
    kind: FeedbackKind,
    /// 0 to 10; required for `nps`.
    score: Option<u8>,
    /// What happened, or what one would like; required for `bug` and `idea`.
    #[serde(default)]
    comment: String,
    /// The page it was sent from.
    page: Option<String>,
    /// The last error the app showed, for a `bug`.
    last_error: Option<String>,
}

fn too_long(text: &str, most: usize) -> bool {
    text.chars().count() > most
}

async fn send(
    State(state): State<AppState>,
    signed_in: Authenticated,
    JsonBody(body): JsonBody<NewFeedback>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let comment = body.comment.trim().to_owned();
    let problem = match body.kind {
        FeedbackKind::Nps if body.score.is_none_or(|score| score > 10) => {
            Some(("$.score", "give a score from 0 to 10"))
        }
        FeedbackKind::Bug | FeedbackKind::Idea if comment.is_empty() => {
            Some(("$.comment", "say what happened, or what you would like"))
        }
        _ if too_long(&comment, MAX_COMMENT) => {
            Some(("$.comment", "must have at most 4000 characters"))
        }
        _ if body
            .page
            .as_deref()
            .is_some_and(|page| too_long(page, MAX_PAGE)) =>
        {
            Some(("$.page", "must have at most 500 characters"))
        }
        _ if body
            .last_error
            .as_deref()
            .is_some_and(|error| too_long(error, MAX_ERROR)) =>
        {
            Some(("$.last_error", "must have at most 2000 characters"))
        }
        _ => None,
    };
    if let Some((path, message)) = problem {
        return Err(ApiError::invalid(
            "the feedback is not accepted",
            path,
            message,
        ));
    }
    let feedback = Feedback {
        id: uuid::Uuid::now_v7(),
        org_id: signed_in.org,
        user_id: signed_in.user(),
        kind: body.kind.as_str().to_owned(),
        score: (body.kind == FeedbackKind::Nps)
            .then_some(body.score)
            .flatten(),
        comment,
        page: body.page.filter(|page| !page.trim().is_empty()),
        last_error: body
            .last_error
            .filter(|error| !error.trim().is_empty() && body.kind == FeedbackKind::Bug),
        created_at: Utc::now(),
    };
    state.store.add_feedback(&feedback).await?;
    if let Some(to) = &state.config.feedback_email {
        let organization = state
            .store
            .organization(signed_in.org)
            .await?
            .map(|organization| organization.name)
            .unwrap_or_default();
        let mail = Mail {
            to: to.clone(),
            subject: format!(
                "Baton feedback from {organization}: {}",
                headline(&feedback)
            ),
            body: describe(&feedback),
        };
        // The feedback is kept whatever the mail does.
        if let Err(error) = state.config.mailer.send(mail).await {
            tracing::warn!(%error, "feedback could not be mailed to the operator; it is kept");
        }
    }
    Ok((StatusCode::CREATED, Json(json!({"id": feedback.id}))))
}

fn headline(feedback: &Feedback) -> String {
    match feedback.kind.as_str() {
        "nps" => format!("{} out of 10", feedback.score.unwrap_or_default()),
        "bug" => "a problem".into(),
        _ => "an idea".into(),
    }
}

fn describe(feedback: &Feedback) -> String {
    let mut text = format!("{}\n\n{}\n", headline(feedback), feedback.comment);
    if let Some(page) = &feedback.page {
        text.push_str(&format!("\nPage: {page}\n"));
    }
    if let Some(error) = &feedback.last_error {
        text.push_str(&format!("Last error shown: {error}\n"));
    }
    text
}

/// The Net Promoter Score of `scores`: the share of 9s and 10s less the share of 0 to 6s, from
/// -100 to 100; `None` without any.
fn net_promoter_score(scores: &[u8]) -> Option<i64> {
    if scores.is_empty() {
        return None;
    }
    let total = scores.len() as f64;
    let promoters = scores.iter().filter(|score| **score >= 9).count() as f64;
    let detractors = scores.iter().filter(|score| **score <= 6).count() as f64;
    Some(((promoters - detractors) / total * 100.0).round() as i64)
}

async fn list(
    State(state): State<AppState>,
    signed_in: Authenticated,
) -> Result<Json<Value>, ApiError> {
    signed_in.require(Action::ViewInsights)?;
    let items = state.store.list_feedback(signed_in.org, 500).await?;
    let scores: Vec<u8> = items.iter().filter_map(|item| item.score).collect();
    // Each sender's address, looked up once however often they wrote.
    let mut senders: std::collections::HashMap<baton_core::UserId, Option<String>> =
        std::collections::HashMap::new();
    let mut shown = Vec::new();
    for item in &items {
        let from = match item.user_id {
            Some(user) => match senders.get(&user) {
                Some(email) => email.clone(),
                None => {
                    let email = state.store.user(user).await?.map(|user| user.email);
                    senders.insert(user, email.clone());
                    email
                }
            },
            None => None,
        };
        shown.push(json!({
            "id": item.id, "kind": item.kind, "score": item.score, "comment": item.comment,
            "page": item.page, "last_error": item.last_error, "from": from,
            "created_at": item.created_at,
        }));
    }
    Ok(Json(json!({
        "items": shown,
        "nps": {"responses": scores.len(), "score": net_promoter_score(&scores)},
    })))
}

#[derive(Deserialize)]
struct Window {
    days: Option<u32>,
}

async fn usage(
    State(state): State<AppState>,
    signed_in: Authenticated,
    Query(window): Query<Window>,
) -> Result<Json<Value>, ApiError> {
    signed_in.require(Action::ViewInsights)?;
    let days = window.days.unwrap_or(30);
    if !(1..=365).contains(&days) {
        return Err(ApiError::invalid(
            "the window is not accepted",
            "days",
            "must be 1 to 365",
        ));
    }
    let now = Utc::now();
    let since = (now - chrono::Duration::days(i64::from(days) - 1))
        .date_naive()
        .and_hms_opt(0, 0, 0)
        .unwrap_or_default()
        .and_utc();
    let usage = state.store.usage(signed_in.org, since, now).await?;
    let completed: u64 = usage.days.iter().map(|day| day.runs_completed).sum();
    let failed: u64 = usage.days.iter().map(|day| day.runs_failed).sum();
    let success_rate = (completed + failed > 0)
        .then(|| (completed as f64 / (completed + failed) as f64 * 1000.0).round() / 10.0);
    Ok(Json(json!({
        "days": usage.days,
        "totals": {
            "workflows_created": usage.days.iter().map(|day| day.workflows_created).sum::<u64>(),
            "runs_completed": completed,
            "runs_failed": failed,
            "success_rate_percent": success_rate,
        },
        "templates": usage.templates.iter().map(|(id, uses)| json!({"template": id, "uses": uses})).collect::<Vec<_>>(),
        "services": usage.services.iter().map(|(service, connections)| json!({"service": service, "connections": connections})).collect::<Vec<_>>(),
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_net_promoter_score_counts_promoters_less_detractors() {
        assert_eq!(net_promoter_score(&[]), None);
        assert_eq!(net_promoter_score(&[10, 9, 8, 7]), Some(50));
        assert_eq!(net_promoter_score(&[0, 6, 9]), Some(-33));
        assert_eq!(net_promoter_score(&[10]), Some(100));
    }
}
