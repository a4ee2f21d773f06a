//! What a model's tokens cost: list prices per million input and output tokens, shipped in
//! `prices.json` and looked up by the longest model-id prefix (`gpt-4o-mini-2024-07-18` is
//! priced as `gpt-4o-mini`).

use std::collections::BTreeMap;
use std::sync::LazyLock;

use serde_json::Value;

pub use baton_core::price::Price;

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
    baton_core::price::best(
        SHIPPED
            .get(provider)?
            .iter()
            .map(|(prefix, price)| (prefix.as_str(), *price)),
        model,
    )
}

/// Every shipped list price, by provider and model prefix.
pub fn shipped() -> Vec<baton_core::price::ModelPrice> {
    SHIPPED
        .iter()
        .flat_map(|(provider, models)| {
            models
                .iter()
                .map(|(model, price)| baton_core::price::ModelPrice {
                    provider: provider.clone(),
                    model: model.clone(),
                    price: *price,
                })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use baton_core::Usd;
    use baton_core::execution::TokenUsage;

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
