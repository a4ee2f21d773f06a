//! Credentials for integration steps: the organization's stored ones, opened with the vault
//! just before the call. The secret goes to the connector and nowhere else: not into the step's
//! stored input, not into a log. Its use is audited (`credential.used`), once an hour per
//! credential, so the log shows what is in use without a row for every call.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use baton_core::{CredentialId, OrgId};
use baton_engine::StepError;
use baton_engine::connector::{CredentialSource, Secret};
use baton_store::Store;
use baton_store::vault::Vault;

/// How often a credential's use is written to the audit log.
const AUDIT_EVERY: Duration = Duration::from_secs(3600);

pub struct StoredCredentials {
    store: Arc<dyn Store>,
    vault: Arc<Vault>,
    last_audited: Mutex<HashMap<CredentialId, Instant>>,
}

impl StoredCredentials {
    pub fn new(store: Arc<dyn Store>, vault: Arc<Vault>) -> Self {
        Self {
            store,
            vault,
            last_audited: Mutex::default(),
        }
    }

    async fn audit_use(&self, org: OrgId, credential: &baton_core::credential::Credential) {
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
        let event = baton_core::audit::NewAuditEvent {
            org_id: Some(org),
            actor: None,
            action: "credential.used".into(),
            target: Some(format!("credential:{}", credential.id)),
            ip: None,
            user_agent: None,
            details: serde_json::json!({"service": credential.service, "name": credential.name}),
        };
        if let Err(error) = self.store.record(event).await {
            tracing::warn!(%error, "auditing a credential's use failed");
        }
    }
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
        let unavailable = |error: &dyn std::fmt::Display| {
            StepError::transient(format!("reading the {service} credential failed: {error}"))
        };
        let mut candidates = self
            .store
            .service_credentials(org, service)
            .await
            .map_err(|error| unavailable(&error))?;
        let chosen = match name {
            Some(name) => match candidates.iter().position(|found| found.name == name) {
                Some(index) => candidates.swap_remove(index),
                None => return Ok(None),
            },
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
        let sealed = self
            .store
            .sealed_secret(org, chosen.id)
            .await
            .map_err(|error| unavailable(&error))?
            .ok_or_else(|| {
                StepError::transient(format!("the {service} credential was just removed"))
            })?;
        let opened = self.vault.open(org, &sealed).await.map_err(|error| {
            StepError::system(format!(
                "the {service} credential {:?} cannot be opened: {error}",
                chosen.name
            ))
        })?;
        let value = serde_json::from_slice(&opened).map_err(|_| {
            StepError::system(format!(
                "the {service} credential {:?} is not JSON once opened",
                chosen.name
            ))
        })?;
        self.audit_use(org, &chosen).await;
        Ok(Some(Secret(value)))
    }
}
