//! Credentials for integration steps: the organization's stored ones, opened with the vault
//! just before the call. The secret goes to the connector and nowhere else: not into the step's
//! stored input, not into a log. Its use is audited (`credential.used`), once an hour per
//! credential, so the log shows what is in use without a row for every call.
//!
//! An OAuth token is refreshed a minute before it expires, and again when the provider refuses
//! it; the refreshed secret is sealed and stored in place. A grant the provider no longer
//! honours marks the credential "reconnect needed" (audited as `credential.reconnect_needed`):
//! from then on its steps fail at once, saying so, without calling the provider, until
//! someone connects the service again. So does a grant the provider says is gone during a
//! call (Slack's `token_revoked` when the app is removed), and an OAuth token it refuses that
//! has no refresh token; an API key it refuses is left alone.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use baton_core::credential::Credential;
use baton_core::{CredentialId, OrgId};
use baton_engine::StepError;
use baton_engine::connector::{Connectors, CredentialSource, Secret};
use baton_engine::error::AuthProblem;
use baton_store::Store;
use baton_store::vault::Vault;

/// How often a credential's use is written to the audit log.
const AUDIT_EVERY: Duration = Duration::from_secs(3600);
/// How long before its expiry a token is refreshed.
const REFRESH_AHEAD: Duration = Duration::from_secs(60);
/// How long a process holds a credential's refresh turn when it does not finish (it died).
const REFRESH_TURN: Duration = Duration::from_secs(30);
/// How often a process waiting for another's refresh looks for the new token.
const REFRESH_LOOK: Duration = Duration::from_millis(100);

pub struct StoredCredentials {
    store: Arc<dyn Store>,
    vault: Arc<Vault>,
    connectors: Arc<dyn Connectors>,
    last_audited: Mutex<HashMap<CredentialId, Instant>>,
    /// One refresh of a credential at a time in this process, so that runs that find the same
    /// token expired refresh it once; across processes the store's refresh turn does the same.
    refreshing: Mutex<HashMap<CredentialId, Arc<tokio::sync::Mutex<()>>>>,
}

impl StoredCredentials {
    pub fn new(store: Arc<dyn Store>, vault: Arc<Vault>, connectors: Arc<dyn Connectors>) -> Self {
        Self {
            store,
            vault,
            connectors,
            last_audited: Mutex::default(),
            refreshing: Mutex::default(),
        }
    }

    async fn audit(&self, org: OrgId, credential: &Credential, action: &str) {
        let event = baton_core::audit::NewAuditEvent {
            org_id: Some(org),
            actor: None,
            action: action.into(),
            target: Some(format!("credential:{}", credential.id)),
            ip: None,
            user_agent: None,
            details: serde_json::json!({"service": credential.service, "name": credential.name}),
        };
        if let Err(error) = self.store.record(event).await {
            tracing::warn!(%error, action, "auditing a credential failed");
        }
    }

    /// The credential a step means: the one it names, or the service's only one (for services
    /// whose connector takes one implicitly: never for `http`).
    async fn chosen(
        &self,
        org: OrgId,
        service: &str,
        name: Option<&str>,
    ) -> Result<Option<Credential>, StepError> {
        let mut candidates = self
            .store
            .service_credentials(org, service)
            .await
            .map_err(|error| unavailable(service, &error))?;
        let chosen = match name {
            Some(name) => match candidates.iter().position(|found| found.name == name) {
                Some(index) => candidates.swap_remove(index),
                None => return Ok(None),
            },
            None if !self.connectors.implicit_credential(service) => return Ok(None),
            None if candidates.len() > 1 => {
                let names: Vec<String> = candidates
                    .iter()
                    .map(|found| format!("{:?}", found.name))
                    .collect();
                return Err(StepError::permanent(format!(
                    "the organization has several {service} credentials ({}); name one in the step's `credential`",
                    names.join(", ")
                )));
            }
            None => match candidates.pop() {
                Some(only) => only,
                None => return Ok(None),
            },
        };
        Ok(Some(chosen))
    }

    /// The credential's secret, ready to use: its token refreshed when it is about to expire.
    /// An error when it needs connecting again.
    pub async fn secret(&self, org: OrgId, chosen: &Credential) -> Result<Secret, StepError> {
        if let Some(reason) = &chosen.reconnect_reason {
            return Err(StepError::revoked(format!(
                "the {} credential {:?} needs to be connected again ({reason})",
                chosen.service, chosen.name
            )));
        }
        let secret = self.opened(org, chosen).await?;
        if secret.expires_within(chrono::Utc::now(), REFRESH_AHEAD) {
            return self.refresh(org, chosen, &secret).await;
        }
        Ok(secret)
    }

    async fn opened(&self, org: OrgId, chosen: &Credential) -> Result<Secret, StepError> {
        let service = &chosen.service;
        let sealed = self
            .store
            .sealed_secret(org, chosen.id)
            .await
            .map_err(|error| unavailable(service, &error))?
            .ok_or_else(|| {
                StepError::transient(format!("the {service} credential was just removed"))
            })?;
        let opened = self.vault.open(org, &sealed).await.map_err(|error| {
            StepError::system(format!(
                "the {service} credential {:?} cannot be opened: {error}",
                chosen.name
            ))
        })?;
        serde_json::from_slice(&opened).map(Secret).map_err(|_| {
            StepError::system(format!(
                "the {service} credential {:?} is not JSON once opened",
                chosen.name
            ))
        })
    }

    /// A fresh token for `chosen`, whose secret was `stale`: refreshed with the provider and
    /// stored, unless another run, here or in another process, refreshed it meanwhile.
    async fn refresh(
        &self,
        org: OrgId,
        chosen: &Credential,
        stale: &Secret,
    ) -> Result<Secret, StepError> {
        let turn = {
            let mut turns = self
                .refreshing
                .lock()
                .map_err(|_| StepError::system("the refresh lock is poisoned"))?;
            if turns.len() > 10_000 {
                turns.retain(|_, turn| Arc::strong_count(turn) > 1);
            }
            turns.entry(chosen.id).or_default().clone()
        };
        let _one_at_a_time_here = turn.lock().await;
        let service = &chosen.service;
        let give_up = Instant::now() + REFRESH_TURN;
        let current = loop {
            let current = self.opened(org, chosen).await?;
            if current != *stale {
                return Ok(current);
            }
            let now = chrono::Utc::now();
            let until = now + chrono::Duration::from_std(REFRESH_TURN).unwrap_or_default();
            let ours = self
                .store
                .claim_refresh(org, chosen.id, now, until)
                .await
                .map_err(|error| unavailable(service, &error))?;
            if ours {
                // Another process may have refreshed and ended its turn between our read and
                // our claim: read again under the turn, and use its token if so.
                let now_held = self.opened(org, chosen).await?;
                if now_held != *stale {
                    if let Err(release) = self.store.release_refresh(org, chosen.id).await {
                        tracing::warn!(error = %release, "ending a refresh turn failed");
                    }
                    return Ok(now_held);
                }
                break now_held;
            }
            if Instant::now() >= give_up {
                return Err(StepError::transient(format!(
                    "another process has been refreshing the {service} token for too long"
                )));
            }
            tokio::time::sleep(REFRESH_LOOK).await;
        };
        match self.connectors.refresh(service, &current).await {
            Ok(fresh) => {
                let bytes = serde_json::to_vec(&fresh.0)
                    .map_err(|error| StepError::system(error.to_string()))?;
                let sealed = self.vault.seal(org, &bytes).await.map_err(|error| {
                    StepError::system(format!("sealing a refreshed token failed: {error}"))
                })?;
                self.store
                    .update_secret(org, chosen.id, sealed)
                    .await
                    .map_err(|error| unavailable(&chosen.service, &error))?;
                Ok(fresh)
            }
            Err(error) => {
                if let Err(release) = self.store.release_refresh(org, chosen.id).await {
                    tracing::warn!(error = %release, "ending a refresh turn failed");
                }
                if error.auth == Some(AuthProblem::Revoked) {
                    self.mark_reconnect(org, chosen, &error.message).await;
                }
                Err(error)
            }
        }
    }

    async fn mark_reconnect(&self, org: OrgId, chosen: &Credential, reason: &str) {
        match self.store.needs_reconnect(org, chosen.id, reason).await {
            Ok(()) => self.audit(org, chosen, "credential.reconnect_needed").await,
            Err(error) => tracing::warn!(%error, "marking a credential for reconnection failed"),
        }
    }

    async fn audit_use(&self, org: OrgId, credential: &Credential) {
        let now = Instant::now();
        {
            let Ok(mut last) = self.last_audited.lock() else {
                return;
            };
            if last
                .get(&credential.id)
                .is_some_and(|at| now.duration_since(*at) < AUDIT_EVERY)
            {
                return;
            }
            if last.len() > 10_000 {
                last.clear();
            }
            last.insert(credential.id, now);
        }
        self.audit(org, credential, "credential.used").await;
    }
}

fn unavailable(service: &str, error: &dyn std::fmt::Display) -> StepError {
    StepError::transient(format!("reading the {service} credential failed: {error}"))
}

#[async_trait]
impl CredentialSource for StoredCredentials {
    /// The credential the step names, or the service's only one when it names none.
    async fn credential(
        &self,
        org: OrgId,
        service: &str,
        name: Option<&str>,
    ) -> Result<Option<Secret>, StepError> {
        let Some(chosen) = self.chosen(org, service, name).await? else {
            return Ok(None);
        };
        let secret = self.secret(org, &chosen).await?;
        self.audit_use(org, &chosen).await;
        Ok(Some(secret))
    }

    /// After the provider refused the token: a refreshed one when the credential has a refresh
    /// token, `None` when it has none (a pasted token: the refusal stands).
    async fn refreshed(
        &self,
        org: OrgId,
        service: &str,
        name: Option<&str>,
    ) -> Result<Option<Secret>, StepError> {
        let Some(chosen) = self.chosen(org, service, name).await? else {
            return Ok(None);
        };
        if chosen.reconnect_reason.is_some() {
            return Ok(None);
        }
        let secret = self.opened(org, &chosen).await?;
        if secret.text("refresh_token").is_none() {
            return Ok(None);
        }
        self.refresh(org, &chosen, &secret).await.map(Some)
    }

    /// A grant the provider says is gone, or an OAuth token it refused that cannot be
    /// refreshed (Slack's bot tokens have no refresh token): reconnect needed. An API key it
    /// refused is left as it is; the step's error says so.
    async fn lost(&self, org: OrgId, service: &str, name: Option<&str>, why: &StepError) {
        let Ok(Some(chosen)) = self.chosen(org, service, name).await else {
            return;
        };
        if chosen.reconnect_reason.is_some() {
            return;
        }
        let mark = match why.auth {
            Some(AuthProblem::Revoked) => true,
            Some(AuthProblem::Refused) => self.opened(org, &chosen).await.is_ok_and(|secret| {
                secret.text("access_token").is_some() && secret.text("refresh_token").is_none()
            }),
            None => false,
        };
        if mark {
            self.mark_reconnect(org, &chosen, &why.message).await;
        }
    }
}
