//! An organization's AI spending: the prices it set over the list (which the call is then
//! priced at), and its monthly budget: an `llm` step whose call would take the month's spend
//! past it fails before the provider is called, saying so. The month is the calendar month in
//! UTC; the spend is what the organization's steps have cost since it began.

use std::sync::Arc;

use async_trait::async_trait;
use baton_core::Usd;
use baton_engine::StepError;
use baton_engine::provider::{LlmProvider, LlmRequest, LlmResponse};
use baton_store::Store;
use chrono::{Datelike, TimeZone, Utc};

pub struct Budgeted {
    inner: Arc<dyn LlmProvider>,
    store: Arc<dyn Store>,
}

impl Budgeted {
    pub fn new(inner: Arc<dyn LlmProvider>, store: Arc<dyn Store>) -> Self {
        Self { inner, store }
    }

    async fn check(&self, request: &LlmRequest) -> Result<(), StepError> {
        let unavailable = |error: baton_store::StoreError| {
            StepError::transient(format!("the AI budget could not be read: {error}"))
        };
        let Some(organization) = self
            .store
            .organization(request.org_id)
            .await
            .map_err(unavailable)?
        else {
            return Ok(());
        };
        let Some(budget) = organization.ai_monthly_budget_usd else {
            return Ok(());
        };
        let now = Utc::now();
        let month = Utc
            .with_ymd_and_hms(now.year(), now.month(), 1, 0, 0, 0)
            .single()
            .unwrap_or(now);
        let spent = self
            .store
            .ai_spend_since(request.org_id, month)
            .await
            .map_err(unavailable)?;
        let estimate = self.inner.estimate(request).unwrap_or(Usd::ZERO);
        if spent.micros() + estimate.micros() > budget.micros() {
            return Err(StepError::permanent(format!(
                "the organization's monthly AI budget of ${:.2} would be passed: ${:.4} is spent \
                 since {} and this call may cost up to ${:.4}; an Owner or Admin can raise the \
                 budget (PATCH /api/v1/organization)",
                budget.dollars(),
                spent.dollars(),
                month.format("%Y-%m-%d"),
                estimate.dollars()
            )));
        }
        Ok(())
    }
}

#[async_trait]
impl LlmProvider for Budgeted {
    async fn complete(&self, mut request: LlmRequest) -> Result<LlmResponse, StepError> {
        let prices = self
            .store
            .model_prices(request.org_id)
            .await
            .map_err(|error| {
                StepError::transient(format!("the model prices could not be read: {error}"))
            })?;
        request.price = baton_core::price::best(
            prices
                .iter()
                .filter(|set| set.provider == request.provider)
                .map(|set| (set.model.as_str(), set.price)),
            &request.model,
        );
        self.check(&request).await?;
        self.inner.complete(request).await
    }

    fn estimate(&self, request: &LlmRequest) -> Option<Usd> {
        self.inner.estimate(request)
    }

    fn compatible_servers(&self) -> Vec<String> {
        self.inner.compatible_servers()
    }

    async fn check_key(
        &self,
        provider: &str,
        secret: &baton_engine::connector::Secret,
    ) -> Result<serde_json::Value, StepError> {
        self.inner.check_key(provider, secret).await
    }
}
