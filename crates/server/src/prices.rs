//! `/api/v1/ai/prices`: what AI calls cost the organization. The shipped list prices (US dollars
//! per million tokens, input and output, by model-id prefix) apply unless an Owner or Admin sets
//! the organization's own for a provider's model (a negotiated rate, a model the list lacks, a
//! self-hosted server priced at its running cost). Each `llm` step records its cost at the
//! price in force when it ran.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, put};
use axum::{Json, Router};
use baton_core::policy::Action;
use baton_core::price::{ModelPrice, Price};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::AppState;
use crate::audit::{self, Event};
use crate::auth::guard::Authenticated;
use crate::error::{ApiError, Detail};
use crate::request::{Client, JsonBody};

pub(crate) fn routes() -> Router<AppState> {
    Router::new().route("/api/v1/ai/prices", get(list)).route(
        "/api/v1/ai/prices/{provider}/{model}",
        put(set).delete(remove),
    )
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct PriceBody {
    /// US dollars per million input tokens.
    input_per_million_usd: f64,
    /// US dollars per million output tokens.
    output_per_million_usd: f64,
}

fn shown(price: &ModelPrice) -> Value {
    json!({
        "provider": price.provider,
        "model": price.model,
        "input_per_million_usd": price.price.input,
        "output_per_million_usd": price.price.output,
    })
}

async fn list(
    State(state): State<AppState>,
    signed_in: Authenticated,
) -> Result<Json<Value>, ApiError> {
    signed_in.require(Action::ViewWorkflows)?;
    let own = state.store.model_prices(signed_in.org).await?;
    let listed: Vec<Value> = baton_connectors::llm::prices::shipped()
        .iter()
        .map(shown)
        .collect();
    Ok(Json(json!({
        "organization": own.iter().map(shown).collect::<Vec<_>>(),
        "list": listed,
    })))
}

/// The provider and model a price is for: a provider Baton knows, or an OpenAI-compatible
/// server the operator configured (`BATON_LLM_SERVERS`), whose tokens cost nothing until priced.
fn checked_model(
    state: &AppState,
    provider: &str,
    model: &str,
) -> Result<(String, String), ApiError> {
    let provider = provider.trim().to_ascii_lowercase();
    let servers = state.runtime.engine.compatible_servers();
    let known =
        baton_engine::model::PROVIDERS.contains(&provider.as_str()) || servers.contains(&provider);
    if !known {
        let mut expected: Vec<&str> = baton_engine::model::PROVIDERS.to_vec();
        expected.extend(servers.iter().map(String::as_str));
        return Err(ApiError::Invalid {
            message: "the price is invalid".into(),
            details: vec![Detail {
                path: "provider".into(),
                message: format!(
                    "unknown provider {provider:?} (expected one of {})",
                    expected.join(", ")
                ),
            }],
        });
    }
    let model = model.trim().to_ascii_lowercase();
    if model.is_empty() || model.len() > 200 {
        return Err(ApiError::Invalid {
            message: "the price is invalid".into(),
            details: vec![Detail {
                path: "model".into(),
                message: "must be a model id or prefix of 1 to 200 characters".into(),
            }],
        });
    }
    Ok((provider, model))
}

async fn set(
    State(state): State<AppState>,
    signed_in: Authenticated,
    client: Client,
    Path((provider, model)): Path<(String, String)>,
    JsonBody(body): JsonBody<PriceBody>,
) -> Result<Json<Value>, ApiError> {
    signed_in.require(Action::ManageSettings)?;
    let (provider, model) = checked_model(&state, &provider, &model)?;
    for (path, value) in [
        ("$.input_per_million_usd", body.input_per_million_usd),
        ("$.output_per_million_usd", body.output_per_million_usd),
    ] {
        if !value.is_finite() || !(0.0..=100_000.0).contains(&value) {
            return Err(ApiError::Invalid {
                message: "the price is invalid".into(),
                details: vec![Detail {
                    path: path.into(),
                    message: "must be a number of dollars from 0 to 100000".into(),
                }],
            });
        }
    }
    let price = ModelPrice {
        provider,
        model,
        price: Price {
            input: body.input_per_million_usd,
            output: body.output_per_million_usd,
        },
    };
    state.store.set_model_price(signed_in.org, &price).await?;
    audit::record(
        &state,
        &client,
        Event::by(&signed_in, "ai.price_set")
            .target(format!("model:{}/{}", price.provider, price.model))
            .details(shown(&price)),
    )
    .await;
    Ok(Json(shown(&price)))
}

async fn remove(
    State(state): State<AppState>,
    signed_in: Authenticated,
    client: Client,
    Path((provider, model)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    signed_in.require(Action::ManageSettings)?;
    let (provider, model) = checked_model(&state, &provider, &model)?;
    state
        .store
        .delete_model_price(signed_in.org, &provider, &model)
        .await?;
    audit::record(
        &state,
        &client,
        Event::by(&signed_in, "ai.price_removed").target(format!("model:{provider}/{model}")),
    )
    .await;
    Ok(StatusCode::NO_CONTENT)
}
