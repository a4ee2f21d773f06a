//! Baton's HTTP API: the router, its shared context, and a server that shuts down gracefully.
//! Each area of the API is a module that owns its routes; [`router`] merges them.

mod api_keys;
mod audit;
pub mod auth;
mod error;
mod health;
mod organizations;
mod request;
mod security;
mod shutdown;

use std::sync::Arc;

use axum::Router;
use baton_store::Store;
use tower_http::trace::TraceLayer;

pub use error::{ApiError, Detail};
pub use shutdown::serve;

/// What every handler may use: one cloneable context.
#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    /// The keys that sign and verify access tokens.
    pub keys: Arc<auth::token::Keyring>,
    /// Failed sign-ins, per account and per address (in this process).
    pub sign_in_failures: Arc<auth::throttle::Throttle>,
}

impl AppState {
    pub fn new(store: Arc<dyn Store>, keys: Arc<auth::token::Keyring>) -> Self {
        Self {
            store,
            keys,
            sign_in_failures: Arc::default(),
        }
    }
}

/// The whole API.
pub fn router(state: AppState) -> Router {
    let api = auth::routes::routes()
        .merge(audit::routes())
        .merge(api_keys::routes())
        .merge(organizations::routes())
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::guard::refuse_cross_site,
        ));
    let routes = Router::new()
        .merge(health::routes())
        .merge(api)
        .fallback(error::not_found);
    security::with_security_headers(routes)
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}
