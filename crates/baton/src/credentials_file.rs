//! `--credentials FILE` for `baton run` and `baton resume`: a JSON object mapping a service id
//! (`"http"`), or a service and a credential name (`"http/crm"`), to that credential, e.g.
//! `{"http/crm": {"bearer": "..."}}`. The secrets stay in memory; steps record only the name.

use std::collections::HashMap;
use std::path::Path;

use async_trait::async_trait;
use baton_core::OrgId;
use baton_engine::StepError;
use baton_engine::connector::{CredentialSource, Secret};
use serde_json::Value;

#[derive(Default)]
pub struct FileCredentials {
    by_key: HashMap<String, Value>,
}

/// The AI providers' usual environment variables, as the credentials of their service.
const ENVIRONMENT_KEYS: [(&str, &str); 4] = [
    ("OPENAI_API_KEY", "openai"),
    ("ANTHROPIC_API_KEY", "anthropic"),
    ("GEMINI_API_KEY", "google"),
    ("COHERE_API_KEY", "cohere"),
];

impl FileCredentials {
    /// Adds `OPENAI_API_KEY` and its kind as `{"api_key": ...}` for their service, unless the
    /// file gave that service a credential.
    pub fn with_environment(mut self) -> Self {
        for (variable, service) in ENVIRONMENT_KEYS {
            if let Ok(key) = std::env::var(variable)
                && !key.trim().is_empty()
            {
                self.by_key
                    .entry(service.to_owned())
                    .or_insert_with(|| serde_json::json!({"api_key": key.trim()}));
            }
        }
        self
    }

    pub fn load(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|error| format!("--credentials: cannot read {}: {error}", path.display()))?;
        let value: Value = serde_json::from_str(&text).map_err(|error| {
            format!("--credentials: invalid JSON in {}: {error}", path.display())
        })?;
        match value {
            Value::Object(entries) => Ok(Self {
                by_key: entries.into_iter().collect(),
            }),
            _ => Err(format!(
                "--credentials: {} must hold a JSON object of service ids to credentials",
                path.display()
            )),
        }
    }
}

#[async_trait]
impl CredentialSource for FileCredentials {
    async fn credential(
        &self,
        _: OrgId,
        service: &str,
        name: Option<&str>,
    ) -> Result<Option<Secret>, StepError> {
        let key = match name {
            Some(name) => format!("{service}/{name}"),
            None => service.to_owned(),
        };
        Ok(self.by_key.get(&key).cloned().map(Secret))
    }
}
