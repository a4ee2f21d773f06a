//! Data portability and erasure: an Owner downloads the whole organization as a zip of JSON
//! files; a person downloads what Baton holds about them, and deletes their account.
//!
//! The organization's export holds its workflows with every version, its executions with their
//! steps, its members, its audit log, and what its credentials and API keys are, never their
//! secrets (which stay sealed in the database and are not in the export in any form).

use std::io::Write;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use baton_core::audit::AuditFilter;
use baton_core::execution::ExecutionFilter;
use baton_core::policy::Action;
use baton_core::{OrgId, PageRequest, Role};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::AppState;
use crate::audit::{self, Event};
use crate::auth::account::person;
use crate::auth::guard::{Authenticated, SignedIn};
use crate::auth::session;
use crate::error::ApiError;
use crate::pages::all;
use crate::request::{Client, JsonBody};

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/organization/export", get(export_organization))
        .route("/api/v1/me/export", get(export_me))
}

/// `Acme Bakery` → `acme-bakery`, for a file name.
fn slug(name: &str) -> String {
    let slug: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    let slug = slug
        .split('-')
        .filter(|part| !part.is_empty())
        .collect::<Vec<_>>()
        .join("-");
    if slug.is_empty() {
        "organization".into()
    } else {
        slug
    }
}

fn attachment(file: &str, content_type: &'static str, body: Vec<u8>) -> impl IntoResponse + use<> {
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (
                header::CONTENT_DISPOSITION,
                HeaderValue::from_str(&format!("attachment; filename=\"{file}\""))
                    .unwrap_or_else(|_| HeaderValue::from_static("attachment")),
            ),
        ],
        body,
    )
}

const README: &str = "\
This is everything Baton holds for the organization, as JSON:

organization.json   its name and settings
members.json        who belongs to it, with their role
workflows.json      each workflow with every version of its definition
executions.jsonl    every execution kept (one JSON object a line), with its steps' inputs and outputs
audit_log.json      who did what, when
credentials.json    which services are connected, by name (never a secret: those stay sealed)
api_keys.json       the API keys made, by name and prefix (never the key)
templates.json      the organization's own templates
";

async fn export_organization(
    State(state): State<AppState>,
    signed_in: Authenticated,
    client: Client,
) -> Result<impl IntoResponse, ApiError> {
    signed_in.require(Action::ExportOrganization)?;
    let org = signed_in.org;
    let store = &state.store;
    let organization = store.organization(org).await?.ok_or(ApiError::NotFound)?;
    let mut files: Vec<(&str, Vec<u8>)> = vec![("README.txt", README.as_bytes().to_vec())];
    let json_file = |value: &Value| serde_json::to_vec_pretty(value).unwrap_or_default();
    files.push(("organization.json", json_file(&json!(organization))));

    let mut members = Vec::new();
    for membership in all(|page| store.members(org, page)).await? {
        let user = store.user(membership.user_id).await?;
        members.push(json!({
            "user_id": membership.user_id,
            "email": user.as_ref().map(|user| user.email.clone()),
            "name": user.as_ref().map(|user| user.name.clone()),
            "role": membership.role,
            "joined_at": membership.created_at,
        }));
    }
    files.push(("members.json", json_file(&json!(members))));

    let mut workflows = Vec::new();
    for workflow in all(|page| store.list_workflows(org, page)).await? {
        let versions = all(|page| store.list_versions(org, workflow.id, page)).await?;
        workflows.push(json!({
            "key": workflow.key,
            "name": workflow.name,
            "active": workflow.active,
            "current_version": workflow.current_version,
            "created_at": workflow.created_at,
            "updated_at": workflow.updated_at,
            "versions": versions.iter().map(|version| json!({
                "version": version.version,
                "created_at": version.created_at,
                "note": version.note,
                "definition": version.definition,
            })).collect::<Vec<_>>(),
        }));
    }
    files.push(("workflows.json", json_file(&json!(workflows))));

    let filter = ExecutionFilter::default();
    let mut lines = Vec::new();
    let executions = all(|page| store.list_executions(org, &filter, page)).await?;
    for execution in &executions {
        let shown = crate::executions::shown(&state, execution).await?;
        serde_json::to_writer(&mut lines, &shown).unwrap_or_default();
        lines.push(b'\n');
    }
    files.push(("executions.jsonl", lines));

    let everything = AuditFilter::default();
    let events = all(|page| store.audit_events(org, &everything, page)).await?;
    files.push(("audit_log.json", json_file(&json!(events))));

    let credentials = all(|page| store.list_credentials(org, page)).await?;
    files.push(("credentials.json", json_file(&json!(credentials))));

    let keys: Vec<Value> = all(|page| store.list_api_keys(org, page))
        .await?
        .into_iter()
        .map(|key| {
            json!({"name": key.name, "prefix": key.prefix, "role": key.role,
                   "created_at": key.created_at, "last_used_at": key.last_used_at,
                   "revoked_at": key.revoked_at})
        })
        .collect();
    files.push(("api_keys.json", json_file(&json!(keys))));
    files.push((
        "templates.json",
        json_file(&json!(store.org_templates(org).await?)),
    ));

    let zipped = zip_files(&files).map_err(|error| ApiError::Internal(error.to_string()))?;
    audit::record(
        &state,
        &client,
        Event::by(&signed_in, "organization.exported")
            .details(json!({"bytes": zipped.len(), "executions": executions.len()})),
    )
    .await;
    let name = format!(
        "baton-{}-{}.zip",
        slug(&organization.name),
        chrono::Utc::now().format("%Y-%m-%d")
    );
    Ok(attachment(&name, "application/zip", zipped))
}

fn zip_files(files: &[(&str, Vec<u8>)]) -> zip::result::ZipResult<Vec<u8>> {
    let mut writer = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .unix_permissions(0o600);
    for (name, bytes) in files {
        writer.start_file(*name, options)?;
        writer.write_all(bytes)?;
    }
    Ok(writer.finish()?.into_inner())
}

/// What Baton holds about the signed-in person: their account, their memberships, what they
/// made, and what the audit logs say they did.
async fn export_me(
    State(state): State<AppState>,
    SignedIn(signed_in): SignedIn,
) -> Result<impl IntoResponse, ApiError> {
    let id = person(&signed_in)?;
    let store = &state.store;
    let user = store.user(id).await?.ok_or(ApiError::Unauthorized)?;
    let mut organizations = Vec::new();
    for membership in store.memberships_of(id).await? {
        let Some(organization) = store.organization(membership.org_id).await? else {
            continue;
        };
        let made: Vec<Value> = all(|page| store.list_workflows(organization.id, page))
            .await?
            .into_iter()
            .filter(|workflow| workflow.created_by == Some(id))
            .map(|workflow| json!({"key": workflow.key, "name": workflow.name, "created_at": workflow.created_at}))
            .collect();
        let mine = AuditFilter {
            action: None,
            actor: Some(id),
        };
        let events = all(|page| store.audit_events(organization.id, &mine, page)).await?;
        organizations.push(json!({
            "id": organization.id,
            "name": organization.name,
            "role": membership.role,
            "joined_at": membership.created_at,
            "workflows_made": made,
            "audit_log": events,
        }));
    }
    let export = json!({
        "user": {
            "id": user.id,
            "email": user.email,
            "name": user.name,
            "created_at": user.created_at,
            "email_verified_at": user.email_verified_at,
            "notify": store.user_notify(id).await?,
            "two_factor": crate::auth::mfa::is_enabled(&state, id).await?,
        },
        "organizations": organizations,
    });
    Ok(attachment(
        "baton-my-data.json",
        "application/json",
        serde_json::to_vec_pretty(&export).unwrap_or_default(),
    ))
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct AccountDeletion {
    /// The account's password; for an account without one (Google sign-in), its e-mail
    /// address typed again.
    confirm: String,
}

/// Deletes the signed-in person's account. Organizations where they are the only member go
/// with it; an organization they own with others must be handed over first (or deleted).
pub(crate) async fn delete_me(
    State(state): State<AppState>,
    SignedIn(signed_in): SignedIn,
    client: Client,
    JsonBody(body): JsonBody<AccountDeletion>,
) -> Result<impl IntoResponse, ApiError> {
    let id = person(&signed_in)?;
    crate::rate_limit::per_address(&state, &client, "password").await?;
    let store = &state.store;
    let user = store.user(id).await?.ok_or(ApiError::Unauthorized)?;
    let confirmed = match &user.password_hash {
        Some(hash) => crate::auth::password::verify(&body.confirm, hash),
        None => body.confirm.trim().eq_ignore_ascii_case(&user.email),
    };
    if !confirmed {
        return Err(ApiError::invalid(
            "the deletion was not confirmed",
            "$.confirm",
            if user.password_hash.is_some() {
                "must be your password"
            } else {
                "must be your e-mail address"
            },
        ));
    }
    let mut alone: Vec<OrgId> = Vec::new();
    for membership in store.memberships_of(id).await? {
        let members = store
            .members(membership.org_id, PageRequest::first(2))
            .await?;
        if members.items.len() <= 1 {
            alone.push(membership.org_id);
        } else if membership.role == Role::Owner {
            let name = store
                .organization(membership.org_id)
                .await?
                .map(|organization| organization.name)
                .unwrap_or_default();
            return Err(ApiError::Conflict(format!(
                "you own {name:?}, which has other members: make one of them its Owner (Team), or delete the organization, first"
            )));
        }
    }
    for org in &alone {
        store.delete_organization(*org).await?;
    }
    store.delete_user(id).await?;
    audit::record(
        &state,
        &client,
        Event::new(None, None, "account.deleted")
            .target(format!("user:{id}"))
            .details(json!({"organizations_deleted": alone.len()})),
    )
    .await;
    Ok((session::cleared(&state), StatusCode::NO_CONTENT))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_are_plain() {
        assert_eq!(slug("Acme Bakery & Sons!"), "acme-bakery-sons");
        assert_eq!(slug("Ünïcode"), "n-code");
        assert_eq!(slug("***"), "organization");
    }
}
