//! The people of the active organization and the organization itself: members and their roles,
//! invitations by email, handing over ownership, settings, and deleting the organization.
//!
//! Who may do what is the policy's ([`allows`]); on top of it, nobody acts on someone who
//! outranks them, the Owner's role changes only by handing ownership over, and an invitation
//! never makes an Owner.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, patch, post};
use axum::{Json, Router};
use baton_core::access::NewInvite;
use baton_core::policy::Action;
use baton_core::{InviteId, Membership, OrgId, PageRequest, Role, UserId};
use chrono::{Duration, Utc};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::AppState;
use crate::audit::{self, Event};
use crate::auth::guard::{Actor, Authenticated, SignedIn};
use crate::auth::{password, session};
use crate::error::ApiError;
use crate::mail::Mail;
use crate::request::{Client, JsonBody, email_problem};

/// How long an invitation link works.
pub const INVITE_LIFETIME: Duration = Duration::days(7);

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/members", get(list_members))
        .route(
            "/api/v1/members/{user_id}",
            patch(change_role).delete(remove_member),
        )
        .route("/api/v1/invites", get(list_invites).post(invite))
        .route("/api/v1/invites/{id}", axum::routing::delete(withdraw))
        .route("/api/v1/invites/{id}/resend", post(resend))
        .route("/api/v1/invites/accept", post(accept))
        .route(
            "/api/v1/organization",
            get(organization)
                .patch(change_settings)
                .delete(delete_organization),
        )
        .route("/api/v1/organization/transfer", post(transfer))
}

/// An id in a path; one that does not parse is as absent as one of another organization.
fn path_id<T: std::str::FromStr>(text: &str) -> Result<T, ApiError> {
    text.parse().map_err(|_| ApiError::NotFound)
}

async fn member_of(state: &AppState, org: OrgId, user: UserId) -> Result<Membership, ApiError> {
    state
        .store
        .membership(org, user)
        .await?
        .ok_or(ApiError::NotFound)
}

async fn list_members(
    State(state): State<AppState>,
    signed_in: Authenticated,
) -> Result<Json<Value>, ApiError> {
    signed_in.require(Action::ViewWorkflows)?;
    let mut items = Vec::new();
    for membership in crate::pages::all(|page| state.store.members(signed_in.org, page)).await? {
        if let Some(user) = state.store.user(membership.user_id).await? {
            items.push(json!({
                "user": {"id": user.id, "email": user.email, "name": user.name},
                "role": membership.role,
                "joined_at": membership.created_at,
            }));
        }
    }
    Ok(Json(json!({"items": items})))
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RoleChange {
    role: Role,
}

async fn change_role(
    State(state): State<AppState>,
    signed_in: Authenticated,
    client: Client,
    Path(user_id): Path<String>,
    JsonBody(body): JsonBody<RoleChange>,
) -> Result<Json<Value>, ApiError> {
    signed_in.require(Action::InviteUsers)?;
    let target = member_of(&state, signed_in.org, path_id(&user_id)?).await?;
    if target.role == Role::Owner {
        return Err(ApiError::Conflict(
            "the Owner's role changes only by handing ownership over (POST /api/v1/organization/transfer)".into(),
        ));
    }
    if body.role == Role::Owner {
        return Err(ApiError::invalid(
            "the role is invalid",
            "$.role",
            "to make someone the Owner, hand ownership over (POST /api/v1/organization/transfer)",
        ));
    }
    if !signed_in.role.covers(target.role) || !signed_in.role.covers(body.role) {
        return Err(ApiError::ForbiddenBecause(
            "you cannot change the role of someone who outranks you, or give a role above yours",
        ));
    }
    let changed = state
        .store
        .set_role(signed_in.org, target.user_id, body.role)
        .await?;
    audit::record(
        &state,
        &client,
        Event::by(&signed_in, "member.role_changed")
            .target(format!("user:{}", target.user_id))
            .details(json!({"from": target.role, "to": changed.role})),
    )
    .await;
    Ok(Json(
        json!({"user_id": changed.user_id, "role": changed.role}),
    ))
}

/// Removes a member; anyone but the Owner may also remove themselves (leave).
async fn remove_member(
    State(state): State<AppState>,
    signed_in: Authenticated,
    client: Client,
    Path(user_id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let user: UserId = path_id(&user_id)?;
    let leaving = matches!(signed_in.actor, Actor::User { id, .. } if id == user);
    if !leaving {
        signed_in.require(Action::InviteUsers)?;
    }
    let target = member_of(&state, signed_in.org, user).await?;
    if target.role == Role::Owner {
        return Err(ApiError::Conflict(
            "the Owner cannot be removed; hand ownership over first (POST /api/v1/organization/transfer)".into(),
        ));
    }
    if !leaving && !signed_in.role.covers(target.role) {
        return Err(ApiError::ForbiddenBecause(
            "you cannot remove someone who outranks you",
        ));
    }
    state.store.remove_member(signed_in.org, user).await?;
    audit::record(
        &state,
        &client,
        Event::by(
            &signed_in,
            if leaving {
                "member.left"
            } else {
                "member.removed"
            },
        )
        .target(format!("user:{user}"))
        .details(json!({"role": target.role})),
    )
    .await;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewInvitation {
    email: String,
    role: Role,
}

async fn invite(
    State(state): State<AppState>,
    signed_in: Authenticated,
    client: Client,
    JsonBody(body): JsonBody<NewInvitation>,
) -> Result<impl IntoResponse, ApiError> {
    signed_in.require(Action::InviteUsers)?;
    let email = body.email.trim().to_lowercase();
    if let Some(problem) = email_problem(&email) {
        return Err(ApiError::invalid(
            "the invitation is invalid",
            "$.email",
            problem,
        ));
    }
    if body.role == Role::Owner {
        return Err(ApiError::invalid(
            "the invitation is invalid",
            "$.role",
            "an organization has one Owner; invite with another role and hand ownership over later",
        ));
    }
    if !signed_in.role.covers(body.role) {
        return Err(ApiError::invalid(
            "the invitation is invalid",
            "$.role",
            format!("you cannot give a role above yours ({})", signed_in.role),
        ));
    }
    if let Some(user) = state.store.user_by_email(&email).await?
        && state
            .store
            .membership(signed_in.org, user.id)
            .await?
            .is_some()
    {
        return Err(ApiError::Conflict(
            "this person is already a member of the organization".into(),
        ));
    }
    let organization = state
        .store
        .organization(signed_in.org)
        .await?
        .ok_or(ApiError::NotFound)?;
    // Two links: the mailed one proves the invitee's mailbox (and may make their account with a
    // password); the one shown to the inviter, to pass on by hand, needs the invitee to sign in
    // as the invited email.
    let (token, token_hash) = session::new_token();
    let (mail_token, mail_token_hash) = session::new_token();
    let stored = state
        .store
        .create_invite(NewInvite {
            org_id: signed_in.org,
            email: email.clone(),
            role: body.role,
            invited_by: signed_in.user(),
            token_hash,
            mail_token_hash,
            expires_at: Utc::now() + INVITE_LIFETIME,
        })
        .await?;
    let link = format!("{}/invite?token={token}", state.config.public_url);
    let mailed_link = format!("{}/invite?token={mail_token}", state.config.public_url);
    let mail = Mail {
        to: email,
        subject: format!("You are invited to {} on Baton", organization.name),
        body: format!(
            "You are invited to join {} on Baton as {}.\n\nAccept within 7 days: {mailed_link}\n\nIf you did not expect this, ignore this mail.\n",
            organization.name, body.role
        ),
    };
    let mailed = match state.config.mailer.send(mail).await {
        Ok(()) => true,
        Err(error) => {
            tracing::error!(%error, "the invitation could not be mailed");
            false
        }
    };
    audit::record(
        &state,
        &client,
        Event::by(&signed_in, "invite.created")
            .target(format!("invite:{}", stored.id))
            .details(json!({"role": stored.role})),
    )
    .await;
    // A link goes back to the inviter too, to pass on by hand when no mail server is set up; it
    // lets in only someone signed in as the invited email.
    Ok((
        StatusCode::CREATED,
        Json(json!({"invite": stored, "accept_url": link, "mailed": mailed})),
    ))
}

async fn list_invites(
    State(state): State<AppState>,
    signed_in: Authenticated,
) -> Result<Json<Value>, ApiError> {
    signed_in.require(Action::InviteUsers)?;
    let page = state
        .store
        .open_invites(signed_in.org, PageRequest::first(500))
        .await?;
    Ok(Json(
        json!({"items": page.items, "next_cursor": page.next_cursor}),
    ))
}

async fn withdraw(
    State(state): State<AppState>,
    signed_in: Authenticated,
    client: Client,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    signed_in.require(Action::InviteUsers)?;
    let id: InviteId = path_id(&id)?;
    state.store.revoke_invite(signed_in.org, id).await?;
    audit::record(
        &state,
        &client,
        Event::by(&signed_in, "invite.withdrawn").target(format!("invite:{id}")),
    )
    .await;
    Ok(StatusCode::NO_CONTENT)
}

/// Mails an open invitation again with fresh links and a fresh week; the old links stop
/// working.
async fn resend(
    State(state): State<AppState>,
    signed_in: Authenticated,
    client: Client,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    signed_in.require(Action::InviteUsers)?;
    let id: InviteId = path_id(&id)?;
    let mut page = PageRequest::first(500);
    let old = loop {
        let open = state.store.open_invites(signed_in.org, page).await?;
        if let Some(found) = open.items.into_iter().find(|invite| invite.id == id) {
            break found;
        }
        match open.next_cursor {
            Some(cursor) => page = PageRequest::after(500, cursor),
            None => return Err(ApiError::NotFound),
        }
    };
    let sent = invite(
        State(state.clone()),
        signed_in,
        client,
        JsonBody(NewInvitation {
            email: old.email,
            role: old.role,
        }),
    )
    .await?;
    state.store.revoke_invite(signed_in.org, old.id).await?;
    Ok(sent)
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Acceptance {
    token: String,
    /// For someone without an account: the account to make.
    name: Option<String>,
    password: Option<String>,
}

/// Accepts an invitation: a signed-in person whose email it names joins at once; someone
/// without an account gives a name and a password and gets one. Either way they are signed in
/// to the organization they joined.
async fn accept(
    State(state): State<AppState>,
    client: Client,
    signed_in: Option<SignedIn>,
    JsonBody(body): JsonBody<Acceptance>,
) -> Result<impl IntoResponse, ApiError> {
    crate::rate_limit::per_address(&state, &client, "invite").await?;
    let token_hash = session::hash(body.token.trim());
    // The mailed link proves the mailbox; the inviter's copy does not.
    let (invite, mailed) = match state.store.invite_by_mail_token_hash(&token_hash).await? {
        Some(invite) => (Some(invite), true),
        None => (state.store.invite_by_token_hash(&token_hash).await?, false),
    };
    let invite =
        invite
            .filter(|invite| invite.is_open(Utc::now()))
            .ok_or(ApiError::ForbiddenBecause(
                "this invitation link is not valid: it was used, withdrawn or has expired",
            ))?;
    let user = match signed_in.and_then(|SignedIn(signed_in)| match signed_in.actor {
        Actor::User { id, .. } => Some(id),
        Actor::ApiKey { .. } => None,
    }) {
        Some(id) => {
            let user = state.store.user(id).await?.ok_or(ApiError::Unauthorized)?;
            if user.email != invite.email {
                return Err(ApiError::ForbiddenBecause(
                    "this invitation is for another email address",
                ));
            }
            if mailed {
                state.store.mark_email_verified(user.id).await?;
            } else if user.email_verified_at.is_none() {
                return Err(ApiError::ForbiddenBecause(
                    "confirm your email first (with the link mailed to you, or the invitation's own mail), then accept",
                ));
            }
            user
        }
        None => {
            if state.store.user_by_email(&invite.email).await?.is_some() {
                return Err(ApiError::UnauthorizedBecause(
                    "an account with this email exists: sign in, then accept the invitation",
                ));
            }
            if !mailed {
                return Err(ApiError::ForbiddenBecause(
                    "to make an account, open the link in the invitation mailed to you (this copy needs you to sign in first)",
                ));
            }
            let name = body.name.as_deref().map(str::trim).unwrap_or_default();
            let mut details = Vec::new();
            if name.is_empty() || name.chars().count() > 100 {
                details.push(crate::error::Detail {
                    path: "$.name".into(),
                    message: "must have 1 to 100 characters".into(),
                });
            }
            let secret = body.password.unwrap_or_default();
            if let Err(problem) = password::check_new(&secret, &invite.email) {
                details.push(crate::error::Detail {
                    path: "$.password".into(),
                    message: problem.to_string(),
                });
            }
            if !details.is_empty() {
                return Err(ApiError::Invalid {
                    message: "a name and a password are needed to make the account".into(),
                    details,
                });
            }
            let hash = password::hash_blocking(secret).await?;
            let user = state
                .store
                .create_user(baton_core::organization::NewUser {
                    email: invite.email.clone(),
                    name: name.to_owned(),
                    password_hash: Some(hash),
                })
                .await?;
            // The mailed link proved the address.
            state.store.mark_email_verified(user.id).await?;
            user
        }
    };
    let membership = state.store.accept_invite(invite.id, user.id).await?;
    audit::record(
        &state,
        &client,
        Event::new(Some(invite.org_id), Some(user.id), "invite.accepted")
            .target(format!("invite:{}", invite.id))
            .details(json!({"role": membership.role})),
    )
    .await;
    let issued = session::start(&state, user.id, membership.org_id).await?;
    Ok((
        issued.cookies,
        Json(json!({
            "user": {"id": user.id, "email": user.email, "name": user.name},
            "organization_id": membership.org_id,
            "role": membership.role,
        })),
    ))
}

async fn organization(
    State(state): State<AppState>,
    signed_in: Authenticated,
) -> Result<Json<Value>, ApiError> {
    let organization = state
        .store
        .organization(signed_in.org)
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok(Json(
        json!({"organization": organization, "role": signed_in.role}),
    ))
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Settings {
    /// The organization's name, 1 to 100 characters.
    name: Option<String>,
    require_mfa: Option<bool>,
    /// Dollars the organization's `llm` steps may spend in a calendar month; `null` removes
    /// the limit.
    #[serde(default, deserialize_with = "present")]
    #[schemars(with = "Option<f64>")]
    ai_monthly_budget_usd: Option<Option<f64>>,
    /// Days finished executions (with their steps' inputs and outputs) are kept, 1 to 3650;
    /// `null` goes back to the default of 30.
    #[serde(default, deserialize_with = "present")]
    #[schemars(with = "Option<u32>")]
    retention_days: Option<Option<u32>>,
}

/// A field that may be absent (unchanged), `null` (cleared) or a value.
fn present<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

async fn change_settings(
    State(state): State<AppState>,
    signed_in: Authenticated,
    client: Client,
    JsonBody(body): JsonBody<Settings>,
) -> Result<Json<Value>, ApiError> {
    signed_in.require(Action::ManageSettings)?;
    let mut organization = state
        .store
        .organization(signed_in.org)
        .await?
        .ok_or(ApiError::NotFound)?;
    if let Some(name) = body.name {
        if let Some(problem) = crate::auth::account::name_problem(&name) {
            return Err(ApiError::invalid(
                "the settings are invalid",
                "$.name",
                problem,
            ));
        }
        organization = state
            .store
            .rename_organization(signed_in.org, name.trim())
            .await?;
        audit::record(
            &state,
            &client,
            Event::by(&signed_in, "organization.settings_changed")
                .target(format!("organization:{}", signed_in.org))
                .details(json!({"name": organization.name})),
        )
        .await;
    }
    if let Some(required) = body.require_mfa {
        if required
            && let Some(user) = signed_in.user()
            && !crate::auth::mfa::is_enabled(&state, user).await?
        {
            return Err(ApiError::Conflict(
                "turn on two-factor sign-in for yourself before requiring it of everyone".into(),
            ));
        }
        organization = state.store.set_require_mfa(signed_in.org, required).await?;
        audit::record(
            &state,
            &client,
            Event::by(&signed_in, "organization.settings_changed")
                .target(format!("organization:{}", signed_in.org))
                .details(json!({"require_mfa": required})),
        )
        .await;
    }
    if let Some(budget) = body.ai_monthly_budget_usd {
        if budget.is_some_and(|dollars| !dollars.is_finite() || dollars < 0.0) {
            return Err(ApiError::Invalid {
                message: "the settings are invalid".into(),
                details: vec![crate::error::Detail {
                    path: "$.ai_monthly_budget_usd".into(),
                    message: "must be a number of dollars, 0 or more, or null for no limit".into(),
                }],
            });
        }
        organization = state
            .store
            .set_ai_budget(signed_in.org, budget.map(baton_core::Usd::from_dollars))
            .await?;
        audit::record(
            &state,
            &client,
            Event::by(&signed_in, "organization.settings_changed")
                .target(format!("organization:{}", signed_in.org))
                .details(json!({"ai_monthly_budget_usd": budget})),
        )
        .await;
    }
    if let Some(days) = body.retention_days {
        let max = baton_core::organization::MAX_RETENTION_DAYS;
        if days.is_some_and(|days| !(1..=max).contains(&days)) {
            return Err(ApiError::invalid(
                "the settings are invalid",
                "$.retention_days",
                format!("must be 1 to {max} days, or null for the default of 30"),
            ));
        }
        organization = state.store.set_retention(signed_in.org, days).await?;
        audit::record(
            &state,
            &client,
            Event::by(&signed_in, "organization.settings_changed")
                .target(format!("organization:{}", signed_in.org))
                .details(json!({"retention_days": days})),
        )
        .await;
    }
    Ok(Json(json!({"organization": organization})))
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Transfer {
    user_id: UserId,
}

/// The Owner hands ownership to another member and becomes an Admin.
async fn transfer(
    State(state): State<AppState>,
    signed_in: Authenticated,
    client: Client,
    JsonBody(body): JsonBody<Transfer>,
) -> Result<Json<Value>, ApiError> {
    signed_in.require(Action::TransferOwnership)?;
    let Actor::User { id: me, .. } = signed_in.actor else {
        return Err(ApiError::ForbiddenBecause(
            "ownership is handed over by the Owner in person, not with an API key",
        ));
    };
    if body.user_id == me {
        return Err(ApiError::invalid(
            "the transfer is invalid",
            "$.user_id",
            "you are already the Owner",
        ));
    }
    // Someone outside the organization is, from here, someone who does not exist.
    member_of(&state, signed_in.org, body.user_id).await?;
    state
        .store
        .transfer_ownership(signed_in.org, me, body.user_id)
        .await?;
    audit::record(
        &state,
        &client,
        Event::by(&signed_in, "organization.ownership_transferred")
            .target(format!("user:{}", body.user_id)),
    )
    .await;
    Ok(Json(
        json!({"owner": body.user_id, "your_role": Role::Admin}),
    ))
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Deletion {
    /// The organization's name, typed again.
    confirm: String,
}

/// Deletes the organization and everything in it, its audit log too. The Owner confirms by
/// typing its name.
async fn delete_organization(
    State(state): State<AppState>,
    signed_in: Authenticated,
    client: Client,
    JsonBody(body): JsonBody<Deletion>,
) -> Result<impl IntoResponse, ApiError> {
    signed_in.require(Action::DeleteOrganization)?;
    let organization = state
        .store
        .organization(signed_in.org)
        .await?
        .ok_or(ApiError::NotFound)?;
    if body.confirm.trim() != organization.name {
        return Err(ApiError::invalid(
            "the deletion was not confirmed",
            "$.confirm",
            "must be the organization's name, exactly",
        ));
    }
    state.store.delete_organization(organization.id).await?;
    // Its audit log went with it: the deletion itself is kept as the instance's own event,
    // naming nothing of the organization but its id.
    audit::record(
        &state,
        &client,
        Event::new(None, signed_in.user(), "organization.deleted")
            .target(format!("organization:{}", organization.id)),
    )
    .await;
    Ok((session::cleared(&state), StatusCode::NO_CONTENT))
}
