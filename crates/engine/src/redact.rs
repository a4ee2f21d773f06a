//! Keeps a call's secrets out of what it leaves behind. What a service answers may quote the
//! credential it was sent (a header dump, a 401 body naming the key, an error echoing the
//! request); the values of the secret a call used are replaced by `[redacted]` in its output
//! and its error before either is stored, logged or shown.

use base64::Engine as _;
use serde_json::Value;

use crate::connector::Secret;
use crate::error::StepError;

pub const REDACTED: &str = "[redacted]";

/// Fields of a secret that say what it is rather than open anything.
const PUBLIC_FIELDS: [&str; 10] = [
    "hosts",
    "username",
    "name",
    "token_type",
    "scope",
    "scopes",
    "expires_at",
    "expires_in",
    "team",
    "email",
];

/// Shorter values are too common to find reliably and too weak to be worth hiding.
const SHORTEST: usize = 4;

/// The secret texts to hide, longest first (so a value inside another is found in it).
#[derive(Clone, Debug, Default)]
pub struct Redactor {
    values: Vec<String>,
}

impl Redactor {
    pub fn of(secret: Option<&Secret>) -> Self {
        let mut values = Vec::new();
        if let Some(secret) = secret {
            collect(&secret.0, None, &mut values);
            // A basic credential travels as base64 of `username:password`.
            if let Some(basic) = secret.0.get("basic") {
                let username = basic.get("username").and_then(Value::as_str);
                let password = basic.get("password").and_then(Value::as_str);
                if let (Some(username), Some(password)) = (username, password) {
                    values.push(
                        base64::engine::general_purpose::STANDARD
                            .encode(format!("{username}:{password}")),
                    );
                }
            }
        }
        values.retain(|value| value.chars().count() >= SHORTEST);
        values.sort_by_key(|value| std::cmp::Reverse(value.len()));
        values.dedup();
        Self { values }
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    pub fn text(&self, text: &str) -> String {
        let mut text = text.to_owned();
        for value in &self.values {
            if text.contains(value.as_str()) {
                text = text.replace(value.as_str(), REDACTED);
            }
        }
        text
    }

    pub fn value(&self, value: Value) -> Value {
        if self.is_empty() {
            return value;
        }
        match value {
            Value::String(text) => Value::String(self.text(&text)),
            Value::Array(items) => Value::Array(items.into_iter().map(|v| self.value(v)).collect()),
            Value::Object(fields) => Value::Object(
                fields
                    .into_iter()
                    .map(|(key, v)| (self.text(&key), self.value(v)))
                    .collect(),
            ),
            other => other,
        }
    }

    pub fn error(&self, mut error: StepError) -> StepError {
        if !self.is_empty() {
            error.message = self.text(&error.message);
        }
        error
    }

    pub fn result(&self, result: Result<Value, StepError>) -> Result<Value, StepError> {
        result
            .map(|value| self.value(value))
            .map_err(|error| self.error(error))
    }
}

fn collect(value: &Value, key: Option<&str>, values: &mut Vec<String>) {
    if key.is_some_and(|key| PUBLIC_FIELDS.contains(&key)) {
        return;
    }
    match value {
        Value::String(text) => values.push(text.clone()),
        Value::Array(items) => items.iter().for_each(|item| collect(item, key, values)),
        Value::Object(fields) => fields
            .iter()
            .for_each(|(key, item)| collect(item, Some(key), values)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_secret_quoted_back_is_hidden_wherever_it_appears() {
        let secret = Secret(
            json!({"header": {"name": "X-Api-Key", "value": "sk-live-1234"}, "hosts": ["api.example.com"]}),
        );
        let redactor = Redactor::of(Some(&secret));
        let answer = json!({"headers": {"x-api-key": "sk-live-1234"}, "body": "bad key sk-live-1234!", "host": "api.example.com"});
        assert_eq!(
            redactor.value(answer),
            json!({"headers": {"x-api-key": "[redacted]"}, "body": "bad key [redacted]!", "host": "api.example.com"})
        );
        let error = redactor.error(StepError::permanent(
            "HTTP 401: key sk-live-1234 is invalid",
        ));
        assert_eq!(error.message, "HTTP 401: key [redacted] is invalid");
    }

    #[test]
    fn a_basic_credential_is_hidden_in_its_encoded_form_too() {
        let secret = Secret(json!({"basic": {"username": "ann", "password": "hunter22"}}));
        let redactor = Redactor::of(Some(&secret));
        assert_eq!(
            redactor.text("Authorization: Basic YW5uOmh1bnRlcjIy"),
            "Authorization: Basic [redacted]"
        );
        assert_eq!(redactor.text("user ann"), "user ann");
    }
}
