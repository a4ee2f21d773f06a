//! What a model's tokens cost: list prices per million input and output tokens, shipped in
//! `prices.json` and looked up by the longest model-id prefix (`gpt-4o-mini-2024-07-18` is
//! priced as `gpt-4o-mini`).

use std::collections::BTreeMap;
use std::sync::LazyLock;

use baton_core::Usd;
use baton_core::execution::TokenUsage;
use serde_json::Value;

/// US dollars per million tokens, input and output.
#[derive(Clone, Copy, Debug, PartialEq)]
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

static SHIPPED: LazyLock<BTreeMap<String, BTreeMap<String, Price>>> = LazyLock::new(|| {
    let table: Value =
        serde_json::from_str(include_str!("prices.json")).expect("prices.json is JSON");
    let mut providers = BTreeMap::new();
    for (provider, models) in table.as_object().into_iter().flatten() {
        let Some(models) = models.as_object() else {
            continue;
        };
        let prices = models
            .iter()
            .filter_map(|(model, pair)| {
                Some((
                    model.clone(),
                    Price {
                        input: pair.get(0)?.as_f64()?,
                        output: pair.get(1)?.as_f64()?,
                    },
                ))
            })
            .collect();
        providers.insert(provider.clone(), prices);
    }
    providers
});

/// The shipped list price of a provider's model, if it is listed.
pub fn list_price(provider: &str, model: &str) -> Option<Price> {
    let model = model.trim().to_ascii_lowercase();
    SHIPPED
        .get(provider)?
        .iter()
        .filter(|(prefix, _)| {
            model == **prefix
                || model
                    .strip_prefix(prefix.as_str())
                    .is_some_and(|rest| rest.starts_with('-') || rest.starts_with('@'))
        })
        .max_by_key(|(prefix, _)| prefix.len())
        .map(|(_, price)| *price)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_longest_listed_prefix_prices_a_model() {
        assert_eq!(
            list_price("openai", "gpt-4o-mini-2024-07-18"),
            Some(Price {
                input: 0.15,
                output: 0.6
            })
        );
        assert_eq!(
            list_price("openai", "gpt-4o"),
            Some(Price {
                input: 2.5,
                output: 10.0
            })
        );
        assert_eq!(
            list_price("openai", "gpt-4"),
            Some(Price {
                input: 30.0,
                output: 60.0
            })
        );
        assert_eq!(
            list_price("anthropic", "claude-sonnet-4-5"),
            Some(Price {
                input: 3.0,
                output: 15.0
            })
        );
        assert_eq!(
            list_price("openai", "gpt-4oops"),
            None,
            "a prefix ends at a dash"
        );
        assert_eq!(list_price("openai", "llama3"), None);
        assert_eq!(list_price("nobody", "gpt-4o"), None);
    }

    #[test]
    fn a_cost_is_counted_to_the_micro_dollar() {
        let price = list_price("openai", "gpt-4o-mini").unwrap();
        let usage = TokenUsage {
            input_tokens: 1_000,
            output_tokens: 500,
        };
        // 1,000 × $0.15/M + 500 × $0.60/M = $0.00015 + $0.0003
        assert_eq!(price.cost(usage), Usd::from_micros(450));
    }
}
