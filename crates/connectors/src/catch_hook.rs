//! `zapier` and `make`: hand data to a Zap or a Make scenario through its catch hook (Zapier's
//! "Catch Hook" trigger, Make's "Custom webhook"), a URL the other tool gives. The URL must be
//! that tool's own (`https://hooks.zapier.com/...`, `https://hook.<zone>.make.com/...`), so a
//! workflow cannot turn the step into a way of calling anything else; an operator may point
//! either at another host (`BATON_ZAPIER_BASE_URL`, `BATON_MAKE_BASE_URL`, for a proxy or a
//! test double). Zapier's hooks take no key; a Make hook may require one, sent as
//! `x-make-apikey` from the organization's `make` credential (`{"api_key": ...}`) when there is
//! one. Receiving from either is a Baton webhook trigger (see the README).

use std::sync::LazyLock;
use std::time::Duration;

use async_trait::async_trait;
use baton_engine::StepError;
use baton_engine::connector::ActionCall;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::{ActionDeclaration, AuthKind, Category, Connector, Declaration, inputs, output_schema};

/// What goes to the hook.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Send {
    /// The hook's URL, as the Zap's "Catch Hook" or the scenario's "Custom webhook" shows it.
    pub hook_url: String,
    /// The fields to send, as a JSON object (the other tool sees each as a field).
    pub data: serde_json::Map<String, Value>,
}

fn declaration(
    id: &'static str,
    name: &'static str,
    action: &'static str,
    description: &'static str,
    auth: AuthKind,
    example_url: &str,
) -> Declaration {
    Declaration {
        id,
        name,
        category: Category::Utility,
        auth,
        actions: vec![ActionDeclaration {
            id: action,
            description,
            input_schema: schemars::schema_for!(Send).to_value(),
            output_schema: output_schema(&[
                ("status", json!({"type": "integer"})),
                ("response", json!({})),
            ]),
            example: json!({"hook_url": example_url, "data": {"name": "{{ trigger.name }}", "email": "{{ trigger.email }}", "score": 92}}),
            writes: true,
        }],
        triggers: Vec::new(),
        rate_limit: None,
    }
}

static ZAPIER: LazyLock<Declaration> = LazyLock::new(|| {
    declaration(
        "zapier",
        "Zapier",
        "send_to_zap",
        "Start a Zap: send fields to its Catch Hook URL.",
        AuthKind::None,
        "https://hooks.zapier.com/hooks/catch/123456/abcdef/",
    )
});

static MAKE: LazyLock<Declaration> = LazyLock::new(|| {
    declaration(
        "make",
        "Make",
        "send_to_scenario",
        "Start a Make scenario: send fields to its Custom webhook URL.",
        AuthKind::ApiKey,
        "https://hook.eu1.make.com/abc123def456",
    )
});

/// Which tool's hooks a connector calls.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tool {
    Zapier,
    Make,
}

pub struct CatchHook {
    tool: Tool,
    client: reqwest::Client,
    /// Where hooks are when the operator set it; the tool's own hosts otherwise.
    base_url: Option<String>,
}

impl CatchHook {
    pub fn new(tool: Tool, base_url: Option<&str>) -> Self {
        Self {
            tool,
            // Redirects are not followed: a hook answers at its URL.
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .connect_timeout(Duration::from_secs(10))
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("a client with timeouts builds"),
            base_url: base_url.map(|url| url.trim_end_matches('/').to_owned()),
        }
    }

    /// Why `url` is not this tool's hook, if it is not.
    fn refused(&self, url: &str) -> Option<String> {
        if let Some(base) = &self.base_url {
            return (!url.starts_with(&format!("{base}/")))
                .then(|| format!("the hook URL must start with {base}/ (set for this Baton)"));
        }
        let parsed = url::Url::parse(url).ok()?;
        let host = parsed.host_str().unwrap_or_default();
        let ours = match self.tool {
            Tool::Zapier => host == "hooks.zapier.com",
            // hook.make.com, hook.eu1.make.com, hook.us2.make.com, ... (and Integromat's old name).
            Tool::Make => {
                let zone = host
                    .strip_suffix(".make.com")
                    .or_else(|| host.strip_suffix(".integromat.com"));
                zone.is_some_and(|zone| {
                    zone == "hook"
                        || zone.strip_prefix("hook.").is_some_and(|region| {
                            !region.is_empty() && region.chars().all(|c| c.is_ascii_alphanumeric())
                        })
                })
            }
        };
        let example = match self.tool {
            Tool::Zapier => "https://hooks.zapier.com/hooks/catch/...",
            Tool::Make => "https://hook.eu1.make.com/...",
        };
        (parsed.scheme() != "https" || !ours || parsed.port().is_some()).then(|| {
            format!(
                "{url:?} is not a {} hook URL: copy it from the {} ({example})",
                self.name(),
                self.source()
            )
        })
    }

    fn name(&self) -> &'static str {
        match self.tool {
            Tool::Zapier => "Zapier",
            Tool::Make => "Make",
        }
    }

    fn source(&self) -> &'static str {
        match self.tool {
            Tool::Zapier => "Zap's Catch Hook trigger",
            Tool::Make => "scenario's Custom webhook",
        }
    }
}

#[async_trait]
impl Connector for CatchHook {
    fn declaration(&self) -> &Declaration {
        match self.tool {
            Tool::Zapier => &ZAPIER,
            Tool::Make => &MAKE,
        }
    }

    fn base_url(&self) -> Option<&str> {
        self.base_url.as_deref()
    }

    async fn call(&self, call: &ActionCall) -> Result<Value, StepError> {
        let send: Send = inputs(call)?;
        if let Some(why) = self.refused(&send.hook_url) {
            return Err(StepError::permanent(why));
        }
        let mut request = self.client.post(&send.hook_url).json(&send.data);
        if self.tool == Tool::Make
            && let Some(key) = call
                .secret
                .as_ref()
                .and_then(|secret| secret.text("api_key"))
        {
            request = request.header("x-make-apikey", key);
        }
        let name = self.name();
        let response = request.send().await.map_err(|error| {
            StepError::transient(format!("{name} could not be reached: {error}"))
        })?;
        let status = response.status().as_u16();
        let retry_after = crate::retry_after(response.headers());
        let text = response.text().await.unwrap_or_default();
        let body = serde_json::from_str::<Value>(&text).unwrap_or(Value::String(text));
        if (200..300).contains(&status) {
            return Ok(json!({"status": status, "response": body}));
        }
        let said = body
            .get("message")
            .or_else(|| body.get("error"))
            .and_then(Value::as_str)
            .map(str::to_owned)
            .unwrap_or_else(|| {
                body.as_str()
                    .unwrap_or_default()
                    .chars()
                    .take(200)
                    .collect()
            });
        let message = format!("{name} answered HTTP {status} to the hook: {said}");
        Err(match status {
            429 => {
                let error = StepError::transient(message);
                match retry_after {
                    Some(wait) => error.with_retry_after(wait),
                    None => error,
                }
            }
            500..=599 => StepError::transient(message),
            401 | 403 if self.tool == Tool::Make => StepError::unauthorized(format!(
                "{message} (the hook wants its API key: store it as the make credential)"
            )),
            404 | 410 => StepError::permanent(format!(
                "{message} (the hook is gone: the {} was deleted or turned off; copy its URL again)",
                self.source()
            )),
            _ => StepError::permanent(message),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_tools_own_hook_urls_are_called() {
        let zapier = CatchHook::new(Tool::Zapier, None);
        assert_eq!(
            zapier.refused("https://hooks.zapier.com/hooks/catch/123/abc/"),
            None
        );
        for url in [
            "http://hooks.zapier.com/hooks/catch/123/abc/",
            "https://hooks.zapier.com.evil.test/hooks/catch/1/",
            "https://evil.test/?https://hooks.zapier.com/",
            "https://hooks.zapier.com:8443/hooks/catch/1/",
            "https://169.254.169.254/latest/meta-data",
        ] {
            assert!(zapier.refused(url).is_some(), "{url} was let through");
        }
        let make = CatchHook::new(Tool::Make, None);
        for url in [
            "https://hook.make.com/abc",
            "https://hook.eu1.make.com/abc",
            "https://hook.us2.make.com/abc",
            "https://hook.integromat.com/abc",
        ] {
            assert_eq!(make.refused(url), None, "{url}");
        }
        for url in [
            "https://eu1.make.com/abc",
            "https://hook.eu1.make.com.evil.test/abc",
            "https://hook.e-u.make.com/abc",
            "https://evilmake.com/abc",
        ] {
            assert!(make.refused(url).is_some(), "{url} was let through");
        }
        let local = CatchHook::new(Tool::Make, Some("http://127.0.0.1:9999/"));
        assert_eq!(local.refused("http://127.0.0.1:9999/abc"), None);
        assert!(local.refused("http://127.0.0.1:99990/abc").is_some());
        assert!(local.refused("https://hook.eu1.make.com/abc").is_some());
    }
}
