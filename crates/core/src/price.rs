//! What a model's tokens cost. Prices are per million tokens, input and output, and apply to a
//! model-id prefix: `gpt-4o-mini` prices `gpt-4o-mini-2024-07-18` too (a prefix ends where the
//! id has a `-` or `@`); the longest matching prefix wins.

use serde::{Deserialize, Serialize};

use crate::Usd;
use crate::execution::TokenUsage;

/// US dollars per million tokens, input and output.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Price {
    pub input: f64,
    pub output: f64,
}

impl Price {
    /// The cost of `usage`, to the micro-dollar: a price per million tokens is the price in
    /// micro-dollars of one token.
    pub fn cost(&self, usage: TokenUsage) -> Usd {
        let micros =
            usage.input_tokens as f64 * self.input + usage.output_tokens as f64 * self.output;
        Usd::from_micros(micros.round() as i64)
    }
}

/// A price an organization set for one provider's model prefix, over the shipped list.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelPrice {
    pub provider: String,
    pub model: String,
    #[serde(flatten)]
    pub price: Price,
}

/// One model call made outside a workflow's run (a drafted workflow, a gateway request),
/// counted in the organization's spend like a step's.
#[derive(Clone, Debug, PartialEq)]
pub struct AiCall {
    pub org_id: crate::OrgId,
    /// What made it: `draft` or `gateway`.
    pub source: String,
    /// The API key that asked, for gateway calls.
    pub api_key_id: Option<crate::ApiKeyId>,
    pub provider: String,
    pub model: String,
    pub usage: TokenUsage,
    pub cost: Usd,
}

/// What an API key's calls through the gateway used.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct KeyUsage {
    pub api_key_id: crate::ApiKeyId,
    pub requests: i64,
    pub usage: TokenUsage,
    pub cost: Usd,
}

/// Whether the price for `prefix` applies to `model`.
pub fn covers(prefix: &str, model: &str) -> bool {
    let model = model.trim().to_ascii_lowercase();
    let prefix = prefix.trim().to_ascii_lowercase();
    model == prefix
        || model
            .strip_prefix(prefix.as_str())
            .is_some_and(|rest| rest.starts_with('-') || rest.starts_with('@'))
}

/// The price of the longest prefix among `prices` that covers `model`.
pub fn best<'a, I>(prices: I, model: &str) -> Option<Price>
where
    I: IntoIterator<Item = (&'a str, Price)>,
{
    prices
        .into_iter()
        .filter(|(prefix, _)| covers(prefix, model))
        .max_by_key(|(prefix, _)| prefix.len())
        .map(|(_, price)| price)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_prefix_covers_dated_and_tagged_ids_only() {
        assert!(covers("gpt-4o-mini", "gpt-4o-mini-2024-07-18"));
        assert!(covers("gpt-4o", "GPT-4o"));
        assert!(covers("claude-sonnet-4-5", "claude-sonnet-4-5@20250929"));
        assert!(!covers("gpt-4o", "gpt-4oops"));
        assert!(!covers("gpt-4o-mini", "gpt-4o"));
    }
}
