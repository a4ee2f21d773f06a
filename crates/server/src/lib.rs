//! Baton's HTTP API: the router, its shared context, and a server that shuts down gracefully.
//! Each area of the API is a module that owns its routes; [`router`] merges them.

pub mod auth;
mod error;
mod health;
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
}

impl AppState {
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self { store }
    }
}

/// The whole API.
pub fn router(state: AppState) -> Router {
    let routes = Router::new()
        .merge(health::routes())
        .fallback(error::not_found);
    security::with_security_headers(routes)
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}
